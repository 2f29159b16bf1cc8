// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bounce_layer.c - the bounce mode.
 *
 * A bounce pool (bounce.c) in front of a fallback mode (strict or deferred) that shares the
 * domain's IOMMU domain and IOVA space. A map shorter than the crossover takes a slot; a
 * longer one, or one the pool cannot serve (-ENOSPC, -ERANGE, or the pool above a lowered
 * DMA mask), goes to the fallback: a map never fails because the pool is empty. Unmap and
 * sync route by address: the pool's IOVA range is its own (iovx_bounce_owns), the
 * fallback's ranges are allocated elsewhere in the same IOVA space. An sg list is bounced
 * whole (one slot per segment) or not at all, so one address (sg[0]) routes its unmap.
 * The copies happen in bounce.c's map and unmap (map_syncs), the fallback's fences here.
 * A map routes by the crossover of its direction (TO_DEVICE copies once, FROM_DEVICE and
 * BIDIRECTIONAL twice); unless the config gives one, both are calibrated at create by
 * timing this domain's fallback against its pool (bounce_calibrate, docs/bounce.md).
 */
#include "dma_internal.h"
#include <iovx/bounce.h>

/*
 * Calibration's side IOVX_BOUNCE_CAL_MAP: n map + unmap pairs through the fallback, as
 * bounce_map_single/bounce_unmap_single run them for a length at or above the crossover
 * (with the coherent fences; the deferred fallback's drain once per batch, as the benchmark
 * pays it). Side IOVX_BOUNCE_CAL_BOUNCE: n pairs through the pool. Both sides then pass the
 * same facade work (argument checks, the mapping table's insert and remove, the counters),
 * which cancels out of the comparison and is left out of both.
 */
static int bounce_cal_pair(void *arg, unsigned int side, void *buf, uint64_t len,
			   enum iovx_dma_dir dir, unsigned int n)
{
	struct iovx_dma_domain *dom = arg;
	uint64_t phys = (uint64_t)(uintptr_t)buf, dma;
	unsigned int i;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		if (side == IOVX_BOUNCE_CAL_BOUNCE) {
			err = iovx_bounce_map(dom->bpool, phys, (size_t)len, dir, &dma);
			if (!err)
				err = iovx_bounce_unmap(dom->bpool, dma, (size_t)len, dir);
			continue;
		}
		err = dom->fallback->map_single(dom, phys, len, dir, 0, &dma);
		if (err)
			break;
		iovx_dma_coherent_for_device(dom, dma, len, dir);
		iovx_dma_coherent_for_cpu(dom, dma, len, dir);
		err = dom->fallback->unmap_single(dom, dma, len, dir, 0);
	}
	if (!err && side == IOVX_BOUNCE_CAL_MAP && dom->fallback->flush)
		err = dom->fallback->flush(dom);
	return err;
}

/*
 * Both crossovers, timed on this domain: the pool already holds its IOVA range, so the
 * fallback's ranges come from the rest of the space as they will in use. Afterwards the
 * counters the timing moved are reset (the pool's, the domain's invalidation figures, the
 * deferred fallback's context by re-creating it), so the domain starts from zero.
 */
static int bounce_calibrate(struct iovx_dma_domain *dom, uint64_t largest)
{
	struct iovx_bounce_calib_in in;
	struct iovx_bounce_calib *cal;
	int err;

	cal = iovx_zalloc(sizeof(*cal), IOVX_GFP_KERNEL);
	if (!cal)
		return -ENOMEM;
	iovx_memset(&in, 0, sizeof(in));
	in.max_len = largest;
	in.pair = bounce_cal_pair;
	in.arg = dom;
	err = iovx_bounce_calibrate(&in, cal);
	if (!err)
		err = iovx_bounce_set_crossover_dir(dom->bpool, IOVX_DMA_TO_DEVICE,
						    cal->crossover_to_device);
	if (!err)
		err = iovx_bounce_set_crossover_dir(dom->bpool, IOVX_DMA_BIDIRECTIONAL,
						    cal->crossover);
	iovx_free(cal);
	if (!err)
		err = iovx_bounce_reset_stats(dom->bpool);
	if (err)
		return err;
	iovx_store_relaxed(&dom->inv_ranges, 0);
	iovx_store_relaxed(&dom->syncs, 0);
	if (dom->fallback->fini) {
		dom->fallback->fini(dom);
		err = dom->fallback->init ? dom->fallback->init(dom) : 0;
	}
	return err;
}

static int bounce_init(struct iovx_dma_domain *dom)
{
	const struct iovx_dma_config *cfg = dom->create_cfg;
	struct iovx_bounce_config bc;
	struct iovx_bounce_stats bs;
	uint64_t crossover = cfg->bounce_crossover, largest, limit = dma_mask_limit_pfn(dom);
	bool fallback_up = false;
	int err;

	/*
	 * REUSE: the facade's reuse table (src/reuse) serves tagged buffers over a strict
	 * fallback, which also takes the untagged buffers the pool does not.
	 */
	if (cfg->fallback != IOVX_DMA_MODE_STRICT && cfg->fallback != IOVX_DMA_MODE_DEFERRED &&
	    cfg->fallback != IOVX_DMA_MODE_REUSE)
		return -EINVAL;
	dom->fallback = iovx_dma_modes[cfg->fallback == IOVX_DMA_MODE_REUSE ?
				       IOVX_DMA_MODE_STRICT : cfg->fallback];
	if (cfg->bounce)
		bc = *cfg->bounce;
	else
		iovx_bounce_config_init(&bc);
	if (!bc.nr_classes || bc.nr_classes > IOVX_BOUNCE_MAX_CLASSES)
		return -EINVAL;
	largest = bc.class_size[bc.nr_classes - 1];
	if (crossover > largest)
		return -EINVAL;
	/* The pool lies below the DMA mask the domain starts with. */
	if (bc.limit_pfn > limit)
		bc.limit_pfn = limit;
	err = iovx_bounce_create(&bc, dom->iommu, dom->iovad, &dom->bpool);
	if (err)
		return err;
	if (dom->fallback->init) {
		err = dom->fallback->init(dom);
		fallback_up = !err;
	}
	/* Not through bc.crossover, where 0 means "the largest class". */
	if (!err)
		err = crossover ? iovx_bounce_set_crossover(dom->bpool, crossover) :
				  bounce_calibrate(dom, largest);
	if (!err)
		err = iovx_bounce_get_stats(dom->bpool, &bs);
	if (err) {
		/* A failed re-init in bounce_calibrate leaves mode_priv NULL: nothing to fini. */
		if (fallback_up && dom->fallback->fini && dom->mode_priv)
			dom->fallback->fini(dom);
		(void)iovx_bounce_destroy(dom->bpool);
		dom->bpool = NULL;
		return err;
	}
	dom->bpool_last = bs.iova_base + bs.pool_bytes - 1;
	return 0;
}

static void bounce_fini(struct iovx_dma_domain *dom)
{
	if (dom->bpool)
		(void)iovx_bounce_destroy_live(dom->bpool);
	dom->bpool = NULL;
	if (dom->fallback->fini)
		dom->fallback->fini(dom);
}

/* Bounce a buffer of len bytes at phys, mapped in direction dir? */
static inline bool bounce_wanted(struct iovx_dma_domain *dom, uint64_t phys, uint64_t len,
				 unsigned int dir)
{
	return phys && len < iovx_bounce_crossover_dir(dom->bpool, (enum iovx_dma_dir)dir) &&
	       dom->bpool_last <= iovx_load_relaxed(&dom->mask);
}

static int bounce_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			     unsigned int dir, unsigned int attrs, uint64_t *dma)
{
	int err;

	/* Any pool error (-ENOSPC, -ERANGE) sends the buffer to the fallback. */
	if (bounce_wanted(dom, phys, size, dir) &&
	    !iovx_bounce_map(dom->bpool, phys, (size_t)size, (enum iovx_dma_dir)dir, dma)) {
		DMA_STAT_ADD(dom, bounced, 1);
		return 0;
	}
	err = dom->fallback->map_single(dom, phys, size, dir, attrs, dma);
	if (err)
		return err;
	DMA_STAT_ADD(dom, bounce_fallbacks, 1);
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC))
		iovx_dma_coherent_for_device(dom, *dma, size, dir);
	return 0;
}

static int bounce_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			       unsigned int dir, unsigned int attrs)
{
	if (iovx_bounce_owns(dom->bpool, dma))
		return iovx_bounce_unmap(dom->bpool, dma, (size_t)size, (enum iovx_dma_dir)dir);
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC))
		iovx_dma_coherent_for_cpu(dom, dma, size, dir);
	return dom->fallback->unmap_single(dom, dma, size, dir, attrs);
}

static int bounce_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
			 const struct dma_seg *segs, unsigned int n, unsigned int dir,
			 unsigned int attrs)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < n; i++)
		if (!bounce_wanted(dom, segs[i].addr, segs[i].len, dir))
			break;
	if (i == n) {
		/* Each segment its own slot, each DMA segment one input segment. */
		for (i = 0; i < n; i++) {
			ret = iovx_bounce_map(dom->bpool, segs[i].addr, (size_t)segs[i].len,
					      (enum iovx_dma_dir)dir, &sg[i].dma_address);
			if (ret)
				break;
			sg[i].dma_length = (uint32_t)segs[i].len;
		}
		if (!ret) {
			DMA_STAT_ADD(dom, bounced, 1);
			return (int)n;
		}
		/* The pool ran out midway: give the slots back (the data is unchanged). */
		while (i--)
			(void)iovx_bounce_unmap(dom->bpool, sg[i].dma_address, (size_t)segs[i].len,
						(enum iovx_dma_dir)dir);
	}
	ret = dom->fallback->map_sg(dom, sg, segs, n, dir, attrs);
	if (ret < 0)
		return ret;
	DMA_STAT_ADD(dom, bounce_fallbacks, 1);
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC))
		iovx_dma_coherent_for_device(dom, sg[0].dma_address, sg[0].dma_length, dir);
	return ret;
}

static int bounce_unmap_sg(struct iovx_dma_domain *dom, const struct dma_map *m, unsigned int dir,
			   unsigned int attrs)
{
	unsigned int i;
	int err = 0;

	if (!iovx_bounce_owns(dom->bpool, m->out[0].addr)) {
		if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC))
			iovx_dma_coherent_for_cpu(dom, m->out[0].addr, m->out[0].len, dir);
		return dom->fallback->unmap_sg(dom, m, dir, attrs);
	}
	/* A bounced list: one slot per input, each DMA segment one slot (never merged). */
	for (i = 0; i < m->nout; i++) {
		int e = iovx_bounce_unmap(dom->bpool, m->out[i].addr, (size_t)m->out[i].len,
					  (enum iovx_dma_dir)dir);

		if (e && !err)
			err = e;
	}
	return err;
}

static void bounce_sync_for_cpu(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
				unsigned int dir)
{
	if (iovx_bounce_owns(dom->bpool, dma))
		(void)iovx_bounce_sync_for_cpu(dom->bpool, dma, (size_t)size,
					       (enum iovx_dma_dir)dir);
	else
		iovx_dma_coherent_for_cpu(dom, dma, size, dir);
}

static void bounce_sync_for_device(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
				   unsigned int dir)
{
	if (iovx_bounce_owns(dom->bpool, dma))
		(void)iovx_bounce_sync_for_device(dom->bpool, dma, (size_t)size,
						  (enum iovx_dma_dir)dir);
	else
		iovx_dma_coherent_for_device(dom, dma, size, dir);
}

static void bounce_unmap_all(struct iovx_dma_domain *dom)
{
	/* The pool first: the fallback's unmap_all clears the whole IOVA space. */
	if (dom->bpool)
		(void)iovx_bounce_destroy_live(dom->bpool);
	dom->bpool = NULL;
	if (dom->fallback->unmap_all)
		dom->fallback->unmap_all(dom);
}

static void bounce_stats(struct iovx_dma_domain *dom, struct iovx_dma_stats *st)
{
	struct iovx_bounce_stats bs;

	st->bounced = iovx_load_relaxed(&dom->bounced);
	st->bounce_fallbacks = iovx_load_relaxed(&dom->bounce_fallbacks);
	if (!iovx_bounce_get_stats(dom->bpool, &bs)) {
		st->bounce_bytes = bs.bytes_in + bs.bytes_out;
		st->bounce_crossover = bs.crossover;
		st->bounce_crossover_to_device = bs.crossover_to_device;
		st->bounce_pool_bytes = bs.pool_bytes;
	}
	if (dom->fallback->stats)
		dom->fallback->stats(dom, st);
}

static int bounce_flush(struct iovx_dma_domain *dom)
{
	return dom->fallback->flush ? dom->fallback->flush(dom) : -EOPNOTSUPP;
}

const struct iovx_dma_mode_ops iovx_dma_mode_bounce = {
	.name = "bounce",
	.needs_iommu = true,
	.map_syncs = true,
	.init = bounce_init,
	.fini = bounce_fini,
	.map_single = bounce_map_single,
	.unmap_single = bounce_unmap_single,
	.map_sg = bounce_map_sg,
	.unmap_sg = bounce_unmap_sg,
	.sync_for_cpu = bounce_sync_for_cpu,
	.sync_for_device = bounce_sync_for_device,
	.unmap_all = bounce_unmap_all,
	.stats = bounce_stats,
	.flush = bounce_flush,
};
// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bounce_layer.c - the bounce layer: a bounce.c pool in front of the base mode (strict or
 * deferred) that shares the domain's IOMMU domain and IOVA space (dma_layer.h).
 *
 * A map shorter than the crossover takes a slot; a longer one, or one the pool cannot serve
 * (-ENOSPC, -ERANGE, or the pool above a lowered DMA mask), passes to the base mode: a map
 * never fails because the pool is empty. The facade records the pool's mappings as the base
 * mode's, so unmaps and syncs reach the layer only after the record checked out; they route
 * by address: the pool's IOVA range is its own (iovx_bounce_owns), the base mode's ranges
 * are allocated elsewhere in the same IOVA space. An sg list is bounced whole (one slot per
 * segment) or not at all, so one address (the first DMA segment) routes its unmap. The
 * copies happen in bounce.c's map and unmap (map_syncs); the base mode's mappings get the
 * facade's usual syncs. A map routes by the crossover of its direction (TO_DEVICE copies
 * once, FROM_DEVICE and BIDIRECTIONAL twice); unless the config gives one, both are
 * calibrated at create by timing this domain's base mode against its pool (bounce_calib.c,
 * docs/bounce.md).
 */
#include "dma_internal.h"
#include <iovx/bounce.h>

static inline struct dma_bounce *bounce_of(struct iovx_dma_domain *dom)
{
	return dom->layer_priv[IOVX_DMA_LAYER_BOUNCE];
}

/*
 * IOVX_DMA_MODE_BOUNCE over cfg->fallback: STRICT, DEFERRED, or REUSE (the reuse layer
 * above this one, over strict).
 */
static int bounce_wanted_by(const struct iovx_dma_config *cfg, unsigned int base)
{
	if (cfg->mode != IOVX_DMA_MODE_BOUNCE)
		return 0;
	if (cfg->fallback != IOVX_DMA_MODE_STRICT && cfg->fallback != IOVX_DMA_MODE_DEFERRED &&
	    cfg->fallback != IOVX_DMA_MODE_REUSE)
		return -EINVAL;
	return 1;
}

static int bounce_init(struct iovx_dma_domain *dom, const struct iovx_dma_config *cfg)
{
	struct iovx_bounce_config bc;
	struct iovx_bounce_stats bs;
	uint64_t crossover = cfg->bounce_crossover, largest, limit = dma_mask_limit_pfn(dom);
	struct dma_bounce *b;
	int err;

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
	b = iovx_zalloc(sizeof(*b), IOVX_GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	err = iovx_bounce_create(&bc, dom->iommu, dom->iovad, &b->pool);
	if (err) {
		iovx_free(b);
		return err;
	}
	/* Not through bc.crossover, where 0 means "the largest class". */
	err = crossover ? iovx_bounce_set_crossover(b->pool, crossover) :
			  iovx_dma_bounce_calibrate(dom, b->pool, largest);
	if (!err)
		err = iovx_bounce_get_stats(b->pool, &bs);
	if (err) {
		(void)iovx_bounce_destroy(b->pool);
		iovx_free(b);
		return err;
	}
	b->last = bs.iova_base + bs.pool_bytes - 1;
	dom->layer_priv[IOVX_DMA_LAYER_BOUNCE] = b;
	return 0;
}

/* Before the base mode's unmap_all, which clears the whole IOVA space. */
static uint64_t bounce_fini(struct iovx_dma_domain *dom)
{
	struct dma_bounce *b = bounce_of(dom);

	(void)iovx_bounce_destroy_live(b->pool);
	iovx_free(b);
	dom->layer_priv[IOVX_DMA_LAYER_BOUNCE] = NULL;
	return 0;
}

/* Bounce a buffer of len bytes at phys, mapped in direction dir? */
static inline bool bounce_wanted(struct iovx_dma_domain *dom, struct dma_bounce *b,
				 uint64_t phys, uint64_t len, unsigned int dir)
{
	return phys && len < iovx_bounce_crossover_dir(b->pool, (enum iovx_dma_dir)dir) &&
	       b->last <= iovx_load_relaxed(&dom->mask);
}

static int bounce_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			     unsigned int dir, unsigned int attrs, uint64_t *dma)
{
	struct dma_bounce *b = bounce_of(dom);

	/* Any pool error (-ENOSPC, -ERANGE) passes the buffer to the base mode. */
	if (!bounce_wanted(dom, b, phys, size, dir) ||
	    iovx_bounce_map(b->pool, phys, (size_t)size, (enum iovx_dma_dir)dir, dma))
		return DMA_PASS;
	IOVX_STAT_ADD(&b->bounced, 1);
	return 0;
}

static int bounce_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			       unsigned int dir, unsigned int attrs)
{
	struct dma_bounce *b = bounce_of(dom);

	if (!iovx_bounce_owns(b->pool, dma))
		return DMA_PASS;
	return iovx_bounce_unmap(b->pool, dma, (size_t)size, (enum iovx_dma_dir)dir);
}

static int bounce_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
			 const struct dma_seg *segs, unsigned int n, unsigned int dir,
			 unsigned int attrs)
{
	struct dma_bounce *b = bounce_of(dom);
	unsigned int i;
	int ret = 0;

	for (i = 0; i < n; i++)
		if (!bounce_wanted(dom, b, segs[i].addr, segs[i].len, dir))
			return DMA_PASS;
	/* Each segment its own slot, each DMA segment one input segment. */
	for (i = 0; i < n; i++) {
		ret = iovx_bounce_map(b->pool, segs[i].addr, (size_t)segs[i].len,
				      (enum iovx_dma_dir)dir, &sg[i].dma_address);
		if (ret)
			break;
		sg[i].dma_length = (uint32_t)segs[i].len;
	}
	if (!ret) {
		IOVX_STAT_ADD(&b->bounced, 1);
		return (int)n;
	}
	/* The pool ran out midway: give the slots back (the data is unchanged). */
	while (i--)
		(void)iovx_bounce_unmap(b->pool, sg[i].dma_address, (size_t)segs[i].len,
					(enum iovx_dma_dir)dir);
	return DMA_PASS;
}

static int bounce_unmap_sg(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
			   const struct dma_map *m, unsigned int dir, unsigned int attrs)
{
	struct dma_bounce *b = bounce_of(dom);
	unsigned int i;
	int err = 0;

	if (!iovx_bounce_owns(b->pool, m->out[0].addr))
		return DMA_PASS;
	/* A bounced list: one slot per input, each DMA segment one slot (never merged). */
	for (i = 0; i < m->nout; i++) {
		int e = iovx_bounce_unmap(b->pool, m->out[i].addr, (size_t)m->out[i].len,
					  (enum iovx_dma_dir)dir);

		if (e && !err)
			err = e;
	}
	return err;
}

static int bounce_sync(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
		       unsigned int dir, bool for_cpu)
{
	struct dma_bounce *b = bounce_of(dom);

	if (!iovx_bounce_owns(b->pool, dma))
		return DMA_PASS;
	if (for_cpu)
		(void)iovx_bounce_sync_for_cpu(b->pool, dma, (size_t)size, (enum iovx_dma_dir)dir);
	else
		(void)iovx_bounce_sync_for_device(b->pool, dma, (size_t)size,
						  (enum iovx_dma_dir)dir);
	return 0;
}

static void bounce_stats(struct iovx_dma_domain *dom, struct iovx_dma_stats *st)
{
	struct dma_bounce *b = bounce_of(dom);
	struct iovx_bounce_stats bs;

	st->bounced = iovx_load_relaxed(&b->bounced);
	/* every map the pool passed reached the base mode (reuse's own maps pass no layer) */
	st->bounce_fallbacks = iovx_load_relaxed(&dom->passes);
	if (!iovx_bounce_get_stats(b->pool, &bs)) {
		st->bounce_bytes = bs.bytes_in + bs.bytes_out;
		st->bounce_crossover = bs.crossover;
		st->bounce_crossover_to_device = bs.crossover_to_device;
		st->bounce_pool_bytes = bs.pool_bytes;
	}
}

const struct iovx_dma_layer_ops iovx_dma_layer_bounce = {
	.name = "bounce",
	.own_records = false,
	.map_syncs = true,
	.wanted = bounce_wanted_by,
	.init = bounce_init,
	.fini = bounce_fini,
	.map_single = bounce_map_single,
	.map_sg = bounce_map_sg,
	.unmap_single = bounce_unmap_single,
	.unmap_sg = bounce_unmap_sg,
	.sync_single = bounce_sync,
	.stats = bounce_stats,
};

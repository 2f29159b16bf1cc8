// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * modes.c - what each DMA mode does behind the facade's checks (dma.c): passthrough,
 * strict, deferred and bounce; reuse plugs into iovx_dma_modes[] later.
 *
 * Deferred maps exactly as strict; its unmap clears the page tables with one IOMMU call and
 * hands the whole IOVA range and the emptied table pages to the domain's invalidation
 * context (src/inval, iovx/inval.h), which releases both only after a flush that began
 * after the unmap has completed (I2) and within the configured bound (I4).
 *
 * Strict follows dma-iommu: one IOVA range per call (iovx_iova_alloc below the DMA mask),
 * sg segments padded to the granule and laid out back to back, physically contiguous
 * neighbours mapped by one IOMMU call, output DMA segments merged where the IOVA is
 * contiguous. Unmap clears the whole range with one IOMMU call, then gathers: one range
 * invalidation per coalesced range and exactly one sync per call (docs/inval.md), then the
 * page-table pages and the IOVA range are freed - in that order, so neither is reused
 * before the invalidation covering its unmap completed (I2) and the device reaches nothing
 * of the buffer once unmap returns (I3). If the sync fails, both are leaked, never reused.
 *
 * Invariants: I1 (IOVA ranges come from the allocator, freed once, after the sync), I2, I3
 * as above; a failed map leaves no page mapped and frees its IOVA (after inval + sync,
 * since a hostile device may have cached a translation of the part that was mapped).
 *
 * Progress and synchronization: no lock of its own; as the IOVA allocator (lock-free) and
 * the IOMMU ops (thread-safe on disjoint ranges) are.
 *
 * Ordering edges: none of its own; the leaked-table stack uses E-D1: push with a
 * release CAS, popped only at destroy (quiescent).
 */
#include "dma_internal.h"
#include <iovx/bounce.h>
#include <iovx/inval.h>

/* ------------------------------------------------------------------ passthrough */

static int pt_check_mask(struct iovx_dma_domain *dom, uint64_t addr, uint64_t len)
{
	return addr + len - 1 > iovx_load_relaxed(&dom->mask) ? -ERANGE : 0;
}

static int pt_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			 unsigned int dir, unsigned int attrs, uint64_t *dma)
{
	int err = pt_check_mask(dom, phys, size);

	if (!err)
		*dma = phys;
	return err;
}

static int pt_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			   unsigned int dir, unsigned int attrs)
{
	return 0;
}

static int pt_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
		     const struct dma_seg *segs, unsigned int n, unsigned int dir,
		     unsigned int attrs)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (pt_check_mask(dom, segs[i].addr, segs[i].len))
			return -ERANGE;
	for (i = 0; i < n; i++) {
		sg[i].dma_address = segs[i].addr;
		sg[i].dma_length = (uint32_t)segs[i].len;
	}
	return (int)n;
}

static int pt_unmap_sg(struct iovx_dma_domain *dom, const struct dma_map *m, unsigned int dir,
		       unsigned int attrs)
{
	return 0;
}

/* Coherent device model: ownership transfers only order memory. */
static void coherent_for_cpu(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			     unsigned int dir)
{
	iovx_fence_acquire();
}

static void coherent_for_device(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
				unsigned int dir)
{
	iovx_fence_release();
}

static const struct iovx_dma_mode_ops passthrough_ops = {
	.name = "passthrough",
	.needs_iommu = false,
	.map_single = pt_map_single,
	.unmap_single = pt_unmap_single,
	.map_sg = pt_map_sg,
	.unmap_sg = pt_unmap_sg,
	.sync_for_cpu = coherent_for_cpu,
	.sync_for_device = coherent_for_device,
};

/* ------------------------------------------------------------------ strict */

/* Issues what the gather holds, counts it, and syncs once (strict stays strict, batched). */
static int gather_sync(struct iovx_dma_domain *dom, struct iovx_inval_gather *g)
{
	iovx_inval_gather_issue(dom->iommu, g);
	DMA_STAT_ADD(dom, inv_ranges, g->issued);
	g->issued = 0;			/* counted: a later sync on the same gather counts anew */
	DMA_STAT_ADD(dom, syncs, 1);
	return dom->iommu->ops->sync(dom->iommu);
}

static uint64_t mask_limit_pfn(struct iovx_dma_domain *dom)
{
	uint64_t m = iovx_load_relaxed(&dom->mask);

	return (m >> dom->shift) + 1;
}

static int64_t strict_alloc(struct iovx_dma_domain *dom, uint64_t len)
{
	int64_t pfn = iovx_iova_alloc(dom->iovad, len >> dom->shift, mask_limit_pfn(dom));

	return pfn == -EINVAL ? -ENOMEM : pfn;
}

/*
 * Frees an IOVA range and the table pages after a sync; when the sync failed, keeps both
 * out of use for good (docs/inval.md).
 */
static void strict_release(struct iovx_dma_domain *dom, uint64_t iova, uint64_t len,
			   struct iovx_iommu_freelist *fl, int sync_err)
{
	if (!sync_err) {
		int e;

		if (fl->head)
			dom->iommu->ops->free_pages(dom->iommu, fl);
		/* I1, I2: freed once, after the sync that covered its unmap */
		e = iovx_iova_free(dom->iovad, iova >> dom->shift, len >> dom->shift);
		iovx_assert(!e);
		(void)e;
		return;
	}
	DMA_STAT_ADD(dom, leaked_pages, len >> dom->shift);
	while (fl->head) {
		struct iovx_iommu_freed_page *p = fl->head, *old;

		fl->head = p->next;
		old = iovx_load_relaxed(&dom->leaked_tables);
		do {
			p->next = old;
		} while (!iovx_cmpxchg_acq_rel(&dom->leaked_tables, &old, p));	/* E-D1 */
		DMA_STAT_ADD(dom, nr_leaked_tables, 1);
	}
	iovx_iommu_freelist_init(fl);
}

/* Undoes the mapped prefix [iova, iova + mapped) of a failed map and frees the range. */
static void strict_undo(struct iovx_dma_domain *dom, uint64_t iova, uint64_t mapped,
			uint64_t len)
{
	struct iovx_iommu_freelist fl;
	struct iovx_inval_gather g = { 0, 0, 0 };
	int err = 0;

	iovx_iommu_freelist_init(&fl);
	if (mapped) {
		(void)dom->iommu->ops->unmap(dom->iommu, iova, mapped, &fl);
		iovx_inval_gather_add(dom->iommu, &g, iova, iova + mapped);
		err = gather_sync(dom, &g);
	}
	strict_release(dom, iova, len, &fl, err);
}

static int strict_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			     unsigned int dir, unsigned int attrs, uint64_t *dma)
{
	uint64_t off = phys & dom->gmask, len = (off + size + dom->gmask) & ~dom->gmask, iova;
	unsigned int prot = dma_dir_prot(dir);
	int64_t pfn;
	int err;

	if (len < size)
		return -EOVERFLOW;
	pfn = strict_alloc(dom, len);
	if (pfn < 0)
		return (int)pfn;
	iova = (uint64_t)pfn << dom->shift;
	err = dom->iommu->ops->map(dom->iommu, iova, phys - off, len, prot, IOVX_GFP_ATOMIC);
	if (err) {
		strict_undo(dom, iova, 0, len);
		return err;
	}
	*dma = iova + off;
	return 0;
}

static int strict_unmap_range(struct iovx_dma_domain *dom, uint64_t iova, uint64_t len)
{
	struct iovx_iommu_freelist fl;
	struct iovx_inval_gather g = { 0, 0, 0 };
	int err;

	iovx_iommu_freelist_init(&fl);
	(void)dom->iommu->ops->unmap(dom->iommu, iova, len, &fl);
	iovx_inval_gather_add(dom->iommu, &g, iova, iova + len);
	err = gather_sync(dom, &g);
	strict_release(dom, iova, len, &fl, err);
	return err;
}

static int strict_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			       unsigned int dir, unsigned int attrs)
{
	uint64_t off = dma & dom->gmask, len = (off + size + dom->gmask) & ~dom->gmask;

	return strict_unmap_range(dom, dma - off, len);
}

/* The padded IOVA extent of one segment. */
static inline uint64_t seg_span(struct iovx_dma_domain *dom, const struct dma_seg *s)
{
	return ((s->addr & dom->gmask) + s->len + dom->gmask) & ~dom->gmask;
}

static int strict_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
			 const struct dma_seg *segs, unsigned int n, unsigned int dir,
			 unsigned int attrs)
{
	uint64_t total = 0, iova, pos, run_pos, run_pa, run_len;
	unsigned int i, out, prot = dma_dir_prot(dir);
	int64_t pfn;
	int err = 0;

	for (i = 0; i < n; i++) {
		uint64_t span = seg_span(dom, &segs[i]);

		if (total + span < total)
			return -EOVERFLOW;
		total += span;
	}
	pfn = strict_alloc(dom, total);
	if (pfn < 0)
		return (int)pfn;
	iova = (uint64_t)pfn << dom->shift;
	/* inside the domain's space (the mask may have moved since the allocation) */
	iovx_assert(iova + total - 1 <= dom->dma_last);

	/* Map: one IOMMU call per physically contiguous run of padded segments. */
	run_pos = 0;
	run_pa = segs[0].addr & ~dom->gmask;
	run_len = 0;
	for (i = 0, pos = 0; i < n; i++) {
		uint64_t pa = segs[i].addr & ~dom->gmask, span = seg_span(dom, &segs[i]);

		if (run_len && pa != run_pa + run_len) {
			err = dom->iommu->ops->map(dom->iommu, iova + run_pos, run_pa, run_len,
						   prot, IOVX_GFP_ATOMIC);
			if (err)
				break;
			run_pos = pos;
			run_pa = pa;
			run_len = 0;
		}
		run_len += span;
		pos += span;
	}
	if (!err)
		err = dom->iommu->ops->map(dom->iommu, iova + run_pos, run_pa, run_len, prot,
					   IOVX_GFP_ATOMIC);
	if (err) {
		strict_undo(dom, iova, run_pos, total);
		return err;
	}

	/* Output: merge segments whose IOVA is contiguous, as __finalise_sg does. */
	out = 0;
	for (i = 0, pos = 0; i < n; i++) {
		uint64_t off = segs[i].addr & dom->gmask, dma = iova + pos + off;
		bool merge = i > 0 && off == 0 &&
			     !((sg[out].dma_address + sg[out].dma_length) & dom->gmask) &&
			     sg[out].dma_address + sg[out].dma_length == dma &&
			     (uint64_t)sg[out].dma_length + segs[i].len <= UINT32_MAX;

		if (merge) {
			sg[out].dma_length += (uint32_t)segs[i].len;
		} else {
			if (i > 0)
				out++;
			sg[out].dma_address = dma;
			sg[out].dma_length = (uint32_t)segs[i].len;
		}
		pos += seg_span(dom, &segs[i]);
	}
	for (i = out + 1; i < n; i++)
		sg[i].dma_length = 0;
	return (int)out + 1;
}

/* The IOVA range a mapping of an sg list occupies: its padded inputs back to back. */
static uint64_t map_span(struct iovx_dma_domain *dom, const struct dma_map *m)
{
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < m->n; i++)
		total += seg_span(dom, &m->in[i]);
	return total;
}

static int strict_unmap_sg(struct iovx_dma_domain *dom, const struct dma_map *m, unsigned int dir,
			   unsigned int attrs)
{
	uint64_t iova = m->out[0].addr & ~dom->gmask, total = map_span(dom, m), pos, run_pos;
	uint64_t run_pa, run_len;
	const struct dma_seg *segs = m->in;
	struct iovx_iommu_freelist fl;
	struct iovx_inval_gather g = { 0, 0, 0 };
	unsigned int i, n = m->n;
	int err = 0;

	if (!(dom->flags & IOVX_DMA_F_NO_GATHER))
		return strict_unmap_range(dom, iova, total);

	/* The non-gathered baseline: unmap, invalidate and sync each mapped run alone. */
	iovx_iommu_freelist_init(&fl);
	run_pos = 0;
	run_pa = segs[0].addr & ~dom->gmask;
	run_len = 0;
	for (i = 0, pos = 0; i <= n; i++) {
		uint64_t pa = i < n ? segs[i].addr & ~dom->gmask : 0;
		uint64_t span = i < n ? seg_span(dom, &segs[i]) : 0;

		if (i == n || (run_len && pa != run_pa + run_len)) {
			int e;

			(void)dom->iommu->ops->unmap(dom->iommu, iova + run_pos, run_len, &fl);
			iovx_inval_gather_add(dom->iommu, &g, iova + run_pos,
					      iova + run_pos + run_len);
			e = gather_sync(dom, &g);
			if (e && !err)
				err = e;
			run_pos = pos;
			run_pa = pa;
			run_len = 0;
		}
		run_len += span;
		pos += span;
	}
	strict_release(dom, iova, total, &fl, err);
	return err;
}

static void strict_unmap_all(struct iovx_dma_domain *dom)
{
	struct iovx_iommu_freelist fl;

	/*
	 * Everything still mapped, and every page-table page (an unmap of the whole space
	 * covers every table's span), goes at once; the IOVA domain dies with the DMA domain.
	 */
	iovx_iommu_freelist_init(&fl);
	(void)dom->iommu->ops->unmap(dom->iommu, 0, 1ull << dom->iommu->ias_bits, &fl);
	(void)dom->iommu->ops->inv_all(dom->iommu);
	DMA_STAT_ADD(dom, syncs, 1);
	if (!dom->iommu->ops->sync(dom->iommu))
		dom->iommu->ops->free_pages(dom->iommu, &fl);
	else
		strict_release(dom, 0, 0, &fl, -EIO);
}

static const struct iovx_dma_mode_ops strict_ops = {
	.name = "strict",
	.needs_iommu = true,
	.map_single = strict_map_single,
	.unmap_single = strict_unmap_single,
	.map_sg = strict_map_sg,
	.unmap_sg = strict_unmap_sg,
	.sync_for_cpu = coherent_for_cpu,
	.sync_for_device = coherent_for_device,
	.unmap_all = strict_unmap_all,
};

/* ------------------------------------------------------------------ deferred */

static int deferred_init(struct iovx_dma_domain *dom)
{
	struct iovx_inval *ctx;
	int err = iovx_inval_create(dom->iommu, dom->iovad, dom->inval_cfg, &ctx);

	if (!err)
		dom->mode_priv = ctx;
	return err;
}

static void deferred_fini(struct iovx_dma_domain *dom)
{
	(void)iovx_inval_destroy(dom->mode_priv);
	dom->mode_priv = NULL;
}

static int deferred_unmap_range(struct iovx_dma_domain *dom, uint64_t iova, uint64_t len)
{
	struct iovx_iommu_freelist fl;

	iovx_iommu_freelist_init(&fl);
	(void)dom->iommu->ops->unmap(dom->iommu, iova, len, &fl);
	return iovx_inval_queue(dom->mode_priv, iova >> dom->shift, len >> dom->shift, &fl);
}

static int deferred_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
				 unsigned int dir, unsigned int attrs)
{
	uint64_t off = dma & dom->gmask, len = (off + size + dom->gmask) & ~dom->gmask;

	return deferred_unmap_range(dom, dma - off, len);
}

static int deferred_unmap_sg(struct iovx_dma_domain *dom, const struct dma_map *m,
			     unsigned int dir, unsigned int attrs)
{
	return deferred_unmap_range(dom, m->out[0].addr & ~dom->gmask, map_span(dom, m));
}

static int deferred_flush(struct iovx_dma_domain *dom)
{
	return iovx_inval_flush(dom->mode_priv);
}

static void deferred_unmap_all(struct iovx_dma_domain *dom)
{
	(void)iovx_inval_flush(dom->mode_priv);
	strict_unmap_all(dom);
}

static void deferred_stats(struct iovx_dma_domain *dom, struct iovx_dma_stats *st)
{
	struct iovx_inval_stats is;

	if (iovx_inval_get_stats(dom->mode_priv, &is))
		return;
	st->inv_ranges += is.inv_ranges;
	st->syncs += is.syncs;
	st->leaked_pages += is.quarantined_pages;
	st->leaked_tables += is.quarantined_tables;
}

static const struct iovx_dma_mode_ops deferred_ops = {
	.name = "deferred",
	.needs_iommu = true,
	.init = deferred_init,
	.fini = deferred_fini,
	.map_single = strict_map_single,
	.unmap_single = deferred_unmap_single,
	.map_sg = strict_map_sg,
	.unmap_sg = deferred_unmap_sg,
	.sync_for_cpu = coherent_for_cpu,
	.sync_for_device = coherent_for_device,
	.unmap_all = deferred_unmap_all,
	.stats = deferred_stats,
	.flush = deferred_flush,
};

/* ------------------------------------------------------------------ bounce */
/*
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
#ifdef iovx_virt_to_phys
	uint64_t phys = (uint64_t)iovx_virt_to_phys(buf), dma;	/* the kernel */
#else
	uint64_t phys = (uint64_t)(uintptr_t)buf, dma;		/* the simulator's host address */
#endif
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
		coherent_for_device(dom, dma, len, dir);
		coherent_for_cpu(dom, dma, len, dir);
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
	uint64_t crossover = cfg->bounce_crossover, largest, limit = mask_limit_pfn(dom);
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
		coherent_for_device(dom, *dma, size, dir);
	return 0;
}

static int bounce_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			       unsigned int dir, unsigned int attrs)
{
	if (iovx_bounce_owns(dom->bpool, dma))
		return iovx_bounce_unmap(dom->bpool, dma, (size_t)size, (enum iovx_dma_dir)dir);
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC))
		coherent_for_cpu(dom, dma, size, dir);
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
		coherent_for_device(dom, sg[0].dma_address, sg[0].dma_length, dir);
	return ret;
}

static int bounce_unmap_sg(struct iovx_dma_domain *dom, const struct dma_map *m, unsigned int dir,
			   unsigned int attrs)
{
	unsigned int i;
	int err = 0;

	if (!iovx_bounce_owns(dom->bpool, m->out[0].addr)) {
		if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC))
			coherent_for_cpu(dom, m->out[0].addr, m->out[0].len, dir);
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
		coherent_for_cpu(dom, dma, size, dir);
}

static void bounce_sync_for_device(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
				   unsigned int dir)
{
	if (iovx_bounce_owns(dom->bpool, dma))
		(void)iovx_bounce_sync_for_device(dom->bpool, dma, (size_t)size,
						  (enum iovx_dma_dir)dir);
	else
		coherent_for_device(dom, dma, size, dir);
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

static const struct iovx_dma_mode_ops bounce_ops = {
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

const struct iovx_dma_mode_ops *const iovx_dma_modes[IOVX_DMA_NR_MODES] = {
	[IOVX_DMA_MODE_PASSTHROUGH] = &passthrough_ops,
	[IOVX_DMA_MODE_STRICT] = &strict_ops,
	[IOVX_DMA_MODE_DEFERRED] = &deferred_ops,
	[IOVX_DMA_MODE_BOUNCE] = &bounce_ops,
};

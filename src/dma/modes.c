// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * modes.c - what each DMA mode does behind the facade's checks (dma.c): passthrough,
 * strict and deferred; reuse and bounce plug into iovx_dma_modes[] later.
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
 * invalidation per coalesced range and exactly one sync per call (DESIGN.md §5), then the
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
#include <iovx/inval.h>

/* ------------------------------------------------------------------ passthrough */

static int pt_check_mask(struct iovx_dma_domain *dom, uint64_t addr, uint64_t len)
{
	return addr + len - 1 > iovx_load_relaxed(&dom->mask) ? -ERANGE : 0;
}

static int pt_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			 unsigned int prot, unsigned int attrs, uint64_t *dma)
{
	int err = pt_check_mask(dom, phys, size);

	if (!err)
		*dma = phys;
	return err;
}

static int pt_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			   unsigned int attrs)
{
	return 0;
}

static int pt_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
		     const struct dma_seg *segs, unsigned int n, unsigned int prot,
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

static int pt_unmap_sg(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
		       const struct dma_seg *segs, unsigned int n, unsigned int attrs)
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

/* The gather: coalesces unmapped ranges into as few range invalidations as possible. */
struct dma_gather {
	uint64_t start, end;		/* pending range; end 0: none */
	unsigned int nr_inv;
};

static void gather_flush_range(struct iovx_dma_domain *dom, struct dma_gather *g)
{
	if (!g->end)
		return;
	(void)dom->iommu->ops->inv_range(dom->iommu, g->start, g->end - g->start);
	DMA_STAT_ADD(dom, inv_ranges, 1);
	g->nr_inv++;
	g->end = 0;
}

static void gather_add(struct iovx_dma_domain *dom, struct dma_gather *g, uint64_t start,
		       uint64_t end)
{
	if (g->end && start <= g->end && end >= g->start) {
		if (start < g->start)
			g->start = start;
		if (end > g->end)
			g->end = end;
		return;
	}
	gather_flush_range(dom, g);
	g->start = start;
	g->end = end;
}

static int gather_sync(struct iovx_dma_domain *dom, struct dma_gather *g)
{
	gather_flush_range(dom, g);
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
 * out of use for good (DESIGN.md §5).
 */
static void strict_release(struct iovx_dma_domain *dom, uint64_t iova, uint64_t len,
			   struct iovx_iommu_freelist *fl, int sync_err)
{
	if (!sync_err) {
		if (fl->head)
			dom->iommu->ops->free_pages(dom->iommu, fl);
		(void)iovx_iova_free(dom->iovad, iova >> dom->shift, len >> dom->shift);
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
	struct dma_gather g = { 0, 0, 0 };
	int err = 0;

	iovx_iommu_freelist_init(&fl);
	if (mapped) {
		(void)dom->iommu->ops->unmap(dom->iommu, iova, mapped, &fl);
		gather_add(dom, &g, iova, iova + mapped);
		err = gather_sync(dom, &g);
	}
	strict_release(dom, iova, len, &fl, err);
}

static int strict_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			     unsigned int prot, unsigned int attrs, uint64_t *dma)
{
	uint64_t off = phys & dom->gmask, len = (off + size + dom->gmask) & ~dom->gmask, iova;
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
	struct dma_gather g = { 0, 0, 0 };
	int err;

	iovx_iommu_freelist_init(&fl);
	(void)dom->iommu->ops->unmap(dom->iommu, iova, len, &fl);
	gather_add(dom, &g, iova, iova + len);
	err = gather_sync(dom, &g);
	strict_release(dom, iova, len, &fl, err);
	return err;
}

static int strict_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			       unsigned int attrs)
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
			 const struct dma_seg *segs, unsigned int n, unsigned int prot,
			 unsigned int attrs)
{
	uint64_t total = 0, iova, pos, run_pos, run_pa, run_len;
	unsigned int i, out;
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

static int strict_unmap_sg(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
			   const struct dma_seg *segs, unsigned int n, unsigned int attrs)
{
	uint64_t iova = sg[0].dma_address & ~dom->gmask, total = 0, pos, run_pos, run_pa, run_len;
	struct iovx_iommu_freelist fl;
	struct dma_gather g = { 0, 0, 0 };
	unsigned int i;
	int err = 0;

	for (i = 0; i < n; i++)
		total += seg_span(dom, &segs[i]);
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
			gather_add(dom, &g, iova + run_pos, iova + run_pos + run_len);
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
				 unsigned int attrs)
{
	uint64_t off = dma & dom->gmask, len = (off + size + dom->gmask) & ~dom->gmask;

	return deferred_unmap_range(dom, dma - off, len);
}

static int deferred_unmap_sg(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
			     const struct dma_seg *segs, unsigned int n, unsigned int attrs)
{
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		total += seg_span(dom, &segs[i]);
	return deferred_unmap_range(dom, sg[0].dma_address & ~dom->gmask, total);
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

const struct iovx_dma_mode_ops *const iovx_dma_modes[IOVX_DMA_NR_MODES] = {
	[IOVX_DMA_MODE_PASSTHROUGH] = &passthrough_ops,
	[IOVX_DMA_MODE_STRICT] = &strict_ops,
	[IOVX_DMA_MODE_DEFERRED] = &deferred_ops,
};

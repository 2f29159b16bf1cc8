// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * strict.c - the strict mode: every unmap invalidates and syncs before it returns.
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
#include <iovx/inval.h>

/* Issues what the gather holds, counts it, and syncs once (strict stays strict, batched). */
static int gather_sync(struct iovx_dma_domain *dom, struct iovx_inval_gather *g)
{
	iovx_inval_gather_issue(dom->iommu, g);
	IOVX_STAT_ADD(&dom->inv_ranges, g->issued);
	g->issued = 0;			/* counted: a later sync on the same gather counts anew */
	IOVX_STAT_ADD(&dom->syncs, 1);
	return dom->iommu->ops->sync(dom->iommu);
}

static int64_t strict_alloc(struct iovx_dma_domain *dom, uint64_t len)
{
	int64_t pfn = iovx_iova_alloc(dom->iovad, len >> dom->shift, dma_mask_limit_pfn(dom));

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
	IOVX_STAT_ADD(&dom->leaked_pages, len >> dom->shift);
	while (fl->head) {
		struct iovx_iommu_freed_page *p = fl->head, *old;

		fl->head = p->next;
		old = iovx_load_relaxed(&dom->leaked_tables);
		do {
			p->next = old;
		} while (!iovx_cmpxchg_acq_rel(&dom->leaked_tables, &old, p));	/* E-D1 */
		IOVX_STAT_ADD(&dom->nr_leaked_tables, 1);
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

int iovx_dma_strict_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
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

int iovx_dma_strict_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
			   const struct dma_seg *segs, unsigned int n, unsigned int dir,
			   unsigned int attrs)
{
	uint64_t total = 0, iova, pos, run_pos, run_pa, run_len;
	unsigned int i, out, prot = dma_dir_prot(dir);
	int64_t pfn;
	int err = 0;

	for (i = 0; i < n; i++) {
		uint64_t span = dma_seg_span(dom, &segs[i]);

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
		uint64_t pa = segs[i].addr & ~dom->gmask, span = dma_seg_span(dom, &segs[i]);

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
		pos += dma_seg_span(dom, &segs[i]);
	}
	for (i = out + 1; i < n; i++)
		sg[i].dma_length = 0;
	return (int)out + 1;
}

static int strict_unmap_sg(struct iovx_dma_domain *dom, const struct dma_map *m, unsigned int dir,
			   unsigned int attrs)
{
	uint64_t iova = m->out[0].addr & ~dom->gmask, total = dma_map_span(dom, m);
	uint64_t pos, run_pos, run_pa, run_len;
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
		uint64_t span = i < n ? dma_seg_span(dom, &segs[i]) : 0;

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

void iovx_dma_strict_unmap_all(struct iovx_dma_domain *dom)
{
	struct iovx_iommu_freelist fl;

	/*
	 * Everything still mapped, and every page-table page (an unmap of the whole space
	 * covers every table's span), goes at once; the IOVA domain dies with the DMA domain.
	 */
	iovx_iommu_freelist_init(&fl);
	(void)dom->iommu->ops->unmap(dom->iommu, 0, 1ull << dom->iommu->ias_bits, &fl);
	(void)dom->iommu->ops->inv_all(dom->iommu);
	IOVX_STAT_ADD(&dom->syncs, 1);
	if (!dom->iommu->ops->sync(dom->iommu))
		dom->iommu->ops->free_pages(dom->iommu, &fl);
	else
		strict_release(dom, 0, 0, &fl, -EIO);
}

const struct iovx_dma_mode_ops iovx_dma_mode_strict = {
	.name = "strict",
	.needs_iommu = true,
	.map_single = iovx_dma_strict_map_single,
	.unmap_single = strict_unmap_single,
	.map_sg = iovx_dma_strict_map_sg,
	.unmap_sg = strict_unmap_sg,
	.sync_for_cpu = iovx_dma_coherent_for_cpu,
	.sync_for_device = iovx_dma_coherent_for_device,
	.unmap_all = iovx_dma_strict_unmap_all,
};
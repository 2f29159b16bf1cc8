// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * kiommu.c - the iovx IOMMU ops (include/iovx/iommu.h) over a kernel iommu_domain
 * (kiommu.h), for the module's driver-facing domains and the dma-iommu series.
 *
 * Ops -> kernel calls:
 *   map        iommu_map (gfp since 6.3; iommu_map / iommu_map_atomic before: compat.h)
 *   unmap      iommu_unmap_fast into the domain's pending iommu_iotlb_gather; a range
 *              with holes only run by run of present pages (see kio_unmap)
 *   inv_range  widens the pending gather to cover the range (iommu_iotlb_gather_add_range)
 *   inv_all    marks the pending work as a whole-domain flush
 *   sync       iommu_flush_iotlb_all if marked, iommu_iotlb_sync of a non-empty gather
 *              (which also frees the page-table pages the unmaps detached), then a fresh
 *              gather
 * One gather per domain, under a spinlock (irqsave: the deferred modes' timers unmap from
 * softirq context): whatever any thread unmapped or invalidated before a sync is covered
 * by it, as the contract asks. A driver whose gather becomes disjoint syncs it inside
 * iommu_unmap_fast (iommu_iotlb_gather_add_page), which only invalidates earlier. The
 * domain's driver owns its page-table pages (the gather's freelist), so the freelists
 * unmap hands back stay empty.
 */
#include <linux/bug.h>
#include <linux/err.h>
#include <linux/iommu.h>
#include <linux/spinlock.h>

#include "platform.h"
#include "kiommu.h"

static inline struct iovx_kiommu *to_kio(struct iovx_iommu *iommu)
{
	return container_of(iommu, struct iovx_kiommu, iommu);
}

/* Widens the extent of IOVAs ever mapped to cover [iova, end). */
static void kio_extend(struct iovx_kiommu *kio, u64 iova, u64 end)
{
	u64 v = READ_ONCE(kio->lo);

	while (iova < v && !try_cmpxchg(&kio->lo, &v, iova))
		;
	v = READ_ONCE(kio->hi);
	while (end > v && !try_cmpxchg(&kio->hi, &v, end))
		;
}

static int kio_map(struct iovx_iommu *iommu, u64 iova, u64 paddr, u64 size, unsigned int prot,
		   unsigned int gfp)
{
	struct iovx_kiommu *kio = to_kio(iommu);
	u64 gmask = (1ull << iommu->granule_shift) - 1;
	int kprot = kio->kprot;

	if (!size || ((iova | paddr | size) & gmask) || !prot || (prot & ~IOVX_IOMMU_PROT_MASK))
		return -EINVAL;
	if (iova + size - 1 < iova || iova < kio->domain->geometry.aperture_start ||
	    iova + size - 1 > kio->domain->geometry.aperture_end ||
	    (iommu->oas_bits < 64 && (paddr + size - 1) >> iommu->oas_bits))
		return -ERANGE;
	if (prot & IOVX_IOMMU_READ)
		kprot |= IOMMU_READ;
	if (prot & IOVX_IOMMU_WRITE)
		kprot |= IOMMU_WRITE;
	kio_extend(kio, iova, iova + size);
	return iovx_compat_iommu_map(kio->domain, (unsigned long)iova, (phys_addr_t)paddr,
				     (size_t)size, kprot, (__force gfp_t)gfp);
}

static bool kio_present(struct iovx_kiommu *kio, u64 iova)
{
	return iommu_iova_to_phys(kio->domain, (dma_addr_t)iova) != 0;
}

static size_t kio_unmap_run(struct iovx_kiommu *kio, u64 iova, u64 size)
{
	unsigned long flags;
	size_t n;

	spin_lock_irqsave(&kio->lock, flags);
	n = iommu_unmap_fast(kio->domain, (unsigned long)iova, (size_t)size, &kio->gather);
	spin_unlock_irqrestore(&kio->lock, flags);
	return n;
}

static u64 kio_unmap(struct iovx_iommu *iommu, u64 iova, u64 size,
		     struct iovx_iommu_freelist *freed)
{
	struct iovx_kiommu *kio = to_kio(iommu);
	u64 gran = 1ull << iommu->granule_shift, end, a, run, n = 0;

	(void)freed;	/* the domain's driver frees its table pages at sync */
	if (!size || iova + size - 1 < iova)
		return 0;
	end = iova + size;
	/* A mapping the facade made: both ends present, no hole between. */
	if (kio_present(kio, iova) && kio_present(kio, end - gran))
		return kio_unmap_run(kio, iova, size);
	/*
	 * A range with holes (a whole-space unmap at destroy). The kernel's unmap does not
	 * skip holes: io-pgtable stops at the first, and VT-d widens an unmap that starts in
	 * an empty table to that table's span, which past the top of the space frees the
	 * domain's top-level table (6.1: a BUG, 6.12: a WARN). So only runs of present pages
	 * are unmapped, found page by page inside the extent ever mapped.
	 */
	iova = max(iova, READ_ONCE(kio->lo));
	end = min(end, READ_ONCE(kio->hi));
	for (a = iova; a < end; a += run) {
		run = gran;
		if (!kio_present(kio, a))
			continue;
		while (a + run < end && kio_present(kio, a + run))
			run += gran;
		n += kio_unmap_run(kio, a, run);
	}
	return n;
}

static int kio_inv_range(struct iovx_iommu *iommu, u64 iova, u64 size)
{
	struct iovx_kiommu *kio = to_kio(iommu);
	unsigned long flags;

	if (!size || iova + size - 1 < iova)
		return -EINVAL;
	spin_lock_irqsave(&kio->lock, flags);
	iommu_iotlb_gather_add_range(&kio->gather, (unsigned long)iova, (size_t)size);
	spin_unlock_irqrestore(&kio->lock, flags);
	return 0;
}

static int kio_inv_all(struct iovx_iommu *iommu)
{
	struct iovx_kiommu *kio = to_kio(iommu);
	unsigned long flags;

	spin_lock_irqsave(&kio->lock, flags);
	kio->flush_all = true;
	spin_unlock_irqrestore(&kio->lock, flags);
	return 0;
}

static int kio_sync(struct iovx_iommu *iommu)
{
	struct iovx_kiommu *kio = to_kio(iommu);
	unsigned long flags;

	spin_lock_irqsave(&kio->lock, flags);
	if (kio->flush_all) {
		iommu_flush_iotlb_all(kio->domain);
		kio->flush_all = false;
	}
	/* An empty gather (end 0) has no range; the drivers' iotlb_sync assume one. */
	if (kio->gather.end)
		iommu_iotlb_sync(kio->domain, &kio->gather);	/* re-initializes the gather */
	spin_unlock_irqrestore(&kio->lock, flags);
	return 0;
}

static void kio_free_pages(struct iovx_iommu *iommu, struct iovx_iommu_freelist *pages)
{
	/* unmap never hands pages back (see the top of the file) */
	WARN_ON_ONCE(pages->head);
	iovx_iommu_freelist_init(pages);
}

static const struct iovx_iommu_ops kio_ops = {
	.map = kio_map,
	.unmap = kio_unmap,
	.inv_range = kio_inv_range,
	.inv_all = kio_inv_all,
	.sync = kio_sync,
	.free_pages = kio_free_pages,
};

int iovx_kiommu_init(struct iovx_kiommu *kio, struct iommu_domain *domain, int kprot)
{
	const struct iommu_domain_geometry *g = &domain->geometry;
	unsigned long pgsizes = domain->pgsize_bitmap;

	if (!(domain->type & __IOMMU_DOMAIN_PAGING) || !pgsizes)
		return -EINVAL;
	if (__ffs(pgsizes) < 12 || __ffs(pgsizes) > 16 || g->aperture_end < (1ull << 32) - 1 ||
	    g->aperture_start >= g->aperture_end)
		return -EINVAL;
	kio->iommu.ops = &kio_ops;
	kio->iommu.granule_shift = __ffs(pgsizes);
	/* IOVAs up to aperture_end: the allocator's space is [0, 2^ias); beyond is reserved. */
	kio->iommu.ias_bits = fls64(g->aperture_end);
	kio->iommu.oas_bits = 52;
	kio->domain = domain;
	spin_lock_init(&kio->lock);
	iommu_iotlb_gather_init(&kio->gather);
	kio->flush_all = false;
	kio->lo = ~0ull;
	kio->hi = 0;
	kio->kprot = kprot;
	return 0;
}

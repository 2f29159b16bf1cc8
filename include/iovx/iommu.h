/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/iommu.h - what an IOMMU driver provides to iovx: page-table updates and the
 * invalidation commands that make them visible to the device.
 *
 * The DMA facade (iovx/dma.h) drives an IOMMU only through struct iovx_iommu_ops. Two
 * implementations exist: the software IOMMU (iovx/sim.h, userspace) and the kernel glue,
 * which implements these ops over an iommu_domain (iommu_map / iommu_unmap_fast with an
 * iommu_iotlb_gather, iommu_flush_iotlb_all, iommu_iotlb_sync).
 *
 * Model (SMMUv3-like). map/unmap write page tables in memory; nothing reaches the device's
 * TLB until an invalidation is issued AND a later sync has completed:
 *   unmap(range) -> inv_range(range) -> sync() -> only now may the range's IOVAs and the
 *   page-table pages unmap emptied be reused or freed (invariant I2).
 * inv_range and inv_all queue a command and may return before the hardware processed it;
 * sync waits until every command queued before it (by any thread) has been processed.
 *
 * Concurrency: all ops may be called from any number of threads at once, provided that
 * map and unmap calls running at the same time touch disjoint IOVA ranges (the IOVA
 * allocator guarantees it). free_pages may run concurrently with everything.
 *
 * Context (kernel): map with IOVX_GFP_ATOMIC and unmap, inv_*, sync never sleep; map with
 * IOVX_GFP_KERNEL may sleep.
 */
#ifndef IOVX_IOMMU_H
#define IOVX_IOMMU_H

#include <iovx/api.h>


#ifdef __cplusplus
extern "C" {
#endif

/* Permissions of a mapping, as the device sees them. */
#define IOVX_IOMMU_READ		(1u << 0)	/* the device may read (DMA_TO_DEVICE) */
#define IOVX_IOMMU_WRITE	(1u << 1)	/* the device may write (DMA_FROM_DEVICE) */
#define IOVX_IOMMU_PROT_MASK	(IOVX_IOMMU_READ | IOVX_IOMMU_WRITE)

/*
 * A page-table page that unmap emptied and detached. The driver embeds the node in its own
 * per-page metadata (never in the page itself, which the hardware walker may still read
 * until the invalidation completes).
 */
struct iovx_iommu_freed_page {
	struct iovx_iommu_freed_page *next;
};

/* A list of emptied page-table pages; {NULL, &head, 0} is empty (see ..._init). */
struct iovx_iommu_freelist {
	struct iovx_iommu_freed_page *head;
	struct iovx_iommu_freed_page **tail;	/* &last->next, or &head when empty */
	uint64_t nr_pages;
};

static inline void iovx_iommu_freelist_init(struct iovx_iommu_freelist *l)
{
	l->head = NULL;
	l->tail = &l->head;
	l->nr_pages = 0;
}

static inline void iovx_iommu_freelist_add(struct iovx_iommu_freelist *l,
					   struct iovx_iommu_freed_page *p)
{
	p->next = NULL;
	*l->tail = p;
	l->tail = &p->next;
	l->nr_pages++;
}

/* Moves every page of src to the end of dst (O(1)); src becomes empty. */
static inline void iovx_iommu_freelist_splice(struct iovx_iommu_freelist *dst,
					      struct iovx_iommu_freelist *src)
{
	if (!src->head)
		return;
	*dst->tail = src->head;
	dst->tail = src->tail;
	dst->nr_pages += src->nr_pages;
	iovx_iommu_freelist_init(src);
}

struct iovx_iommu;

struct iovx_iommu_ops {
	/*
	 * Maps [iova, iova + size) to [paddr, paddr + size) with prot (IOVX_IOMMU_*). iova,
	 * paddr and size are multiples of the granule. Either the whole range is mapped and 0
	 * is returned, or nothing is (whatever was written is undone) and:
	 *   -EINVAL  size 0, misaligned arguments, prot 0 or unknown bits
	 *   -ERANGE  iova range beyond the input address size, paddr beyond the output size
	 *   -EEXIST  part of the range is already mapped
	 *   -ENOMEM  no memory for a page-table page
	 */
	int (*map)(struct iovx_iommu *iommu, uint64_t iova, uint64_t paddr, uint64_t size,
		   unsigned int prot, unsigned int gfp);
	/*
	 * Clears every mapped page of [iova, iova + size) (granule-aligned) and returns the
	 * number of bytes that were mapped (holes are skipped, 0 if none was). Page-table
	 * pages the call detaches are appended to freed; the caller passes them to free_pages
	 * only after an invalidation covering the range has completed (sync). Which empty
	 * tables are detached is the driver's policy: io-pgtable-arm (and the simulator by
	 * default) detaches a table only when the unmap covers its whole span and keeps the
	 * others while the domain lives, so an unmap of the whole space releases them all.
	 * Never fails; the device may keep using cached translations until that sync.
	 */
	uint64_t (*unmap)(struct iovx_iommu *iommu, uint64_t iova, uint64_t size,
			  struct iovx_iommu_freelist *freed);
	/*
	 * Queues an invalidation of the cached translations (and walk caches) of
	 * [iova, iova + size). 0, or -EINVAL for a zero size or an overflowing range.
	 */
	int (*inv_range)(struct iovx_iommu *iommu, uint64_t iova, uint64_t size);
	/* Queues an invalidation of every cached translation of the domain. Returns 0. */
	int (*inv_all)(struct iovx_iommu *iommu);
	/*
	 * Waits until every command queued before this call, by any thread, was processed.
	 * 0, or -EIO (the hardware reported an error) or -ETIMEDOUT (no completion in time):
	 * then nothing may be assumed invalidated, and whatever waited on this sync (IOVAs,
	 * page-table pages) must never be reused.
	 */
	int (*sync)(struct iovx_iommu *iommu);
	/* Frees page-table pages returned by unmap; the list becomes empty. */
	void (*free_pages)(struct iovx_iommu *iommu, struct iovx_iommu_freelist *pages);
};

/* An IOMMU domain as iovx sees it; a driver embeds it in its own structure. */
struct iovx_iommu {
	const struct iovx_iommu_ops *ops;
	unsigned int granule_shift;	/* smallest page size: 12 (4 KiB) .. 16 */
	unsigned int ias_bits;		/* input (IOVA) address bits, e.g. 48 */
	unsigned int oas_bits;		/* output (physical) address bits, e.g. 52 */
};

#ifdef __cplusplus
}
#endif

#endif /* IOVX_IOMMU_H */

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * dma_iommu.c - <linux/iommu-iovx.h> in a patched kernel: dma-iommu's IOVA allocation and
 * free over an iovx_iova_domain (one per DMA domain cookie).
 *
 * dma-iommu speaks inclusive pfn limits and inclusive reserved ranges; iovx takes an
 * exclusive limit and (pfn, npages). A struct iommu_iovx is the iovx domain itself: the
 * type only keeps iovx's headers out of dma-iommu.c.
 *
 * The flush queue of a lazy (DMA-FQ) domain is an iovx invalidation context whose IOMMU ops
 * are the domain's: invalidations are batched into one flush_iotlb_all (synchronous, as the
 * kernel's own flush queue does), and ranges go back to the domain's iovx allocator and
 * page-table pages to iommu_put_pages_list() only after a flush that covers them completed.
 */
#include <linux/err.h>
#include <linux/iommu.h>
#include <linux/iommu-iovx.h>
#include <linux/log2.h>
#include <linux/mm_types.h>
#include <linux/printk.h>
#include <linux/slab.h>

#include "platform.h"
#include <iovx/inval.h>
#include <iovx/iova.h>

#include "../../../iommu-pages.h"

/* iovx domains end at or below 2^52 granules (iovx/iova.h). */
#define IOVX_INTREE_END_PFN	(1ULL << 52)

static struct iovx_iova_domain *iovx_intree_dom(struct iommu_iovx *iovx)
{
	return (struct iovx_iova_domain *)iovx;
}

struct iommu_iovx *iommu_iovx_create(unsigned long granule, unsigned long start_pfn,
				     unsigned long end_pfn)
{
	struct iovx_iova_config cfg;
	struct iovx_iova_domain *dom;
	int ret;

	if (!is_power_of_2(granule) || ilog2(granule) < 12 || ilog2(granule) > 16)
		return ERR_PTR(-EINVAL);
	if (!end_pfn || end_pfn > IOVX_INTREE_END_PFN)
		end_pfn = IOVX_INTREE_END_PFN;
	if (!start_pfn)
		start_pfn = 1;
	if (start_pfn >= end_pfn)
		return ERR_PTR(-EINVAL);
	iovx_iova_config_init(&cfg, start_pfn, end_pfn);
	cfg.granule_shift = ilog2(granule);
	ret = iovx_iova_domain_create(&cfg, &dom);
	if (ret)
		return ERR_PTR(ret);
	pr_info_once("iovx: dma-iommu allocates IOVAs with iovx\n");
	return (struct iommu_iovx *)dom;
}

void iommu_iovx_destroy(struct iommu_iovx *iovx)
{
	iovx_iova_domain_destroy(iovx_intree_dom(iovx));
}

unsigned long iommu_iovx_alloc(struct iommu_iovx *iovx, unsigned long pages,
			       unsigned long limit_pfn)
{
	u64 limit = limit_pfn == ULONG_MAX ? IOVX_IOVA_NO_LIMIT : (u64)limit_pfn + 1;
	s64 pfn = iovx_iova_alloc(iovx_intree_dom(iovx), pages, limit);

	return pfn > 0 ? (unsigned long)pfn : 0;
}

void iommu_iovx_free(struct iommu_iovx *iovx, unsigned long pfn, unsigned long pages)
{
	int ret = iovx_iova_free(iovx_intree_dom(iovx), pfn, pages);

	WARN_ONCE(ret, "iovx: free of pfn %#lx, %lu pages: %d\n", pfn, pages, ret);
}

int iommu_iovx_reserve(struct iommu_iovx *iovx, unsigned long lo, unsigned long hi)
{
	int ret;

	if (hi >= IOVX_INTREE_END_PFN)
		hi = IOVX_INTREE_END_PFN - 1;
	if (lo > hi)
		return 0;
	ret = iovx_iova_reserve(iovx_intree_dom(iovx), lo, hi - lo + 1);
	if (ret)
		pr_warn("iovx: reserving pfns %#lx-%#lx: %d\n", lo, hi, ret);
	return ret;
}

/* A lazy domain's flush queue: an iovx invalidation context over the iommu_domain. */
struct iommu_iovx_fq {
	struct iovx_iommu iommu;	/* ops over domain */
	struct iommu_domain *domain;
	struct iommu_iovx *iovx;	/* where released ranges go */
	struct iovx_inval *ctx;
};

/*
 * Page-table pages travel from the gather's freelist to iovx's through page->lru: the node
 * is the list_head's first word (next), in the page's metadata, never in the page itself.
 */
static_assert(offsetof(struct list_head, next) == 0);

static int iovx_intree_inv_noop(struct iovx_iommu *iommu, u64 iova, u64 size)
{
	return 0;
}

static int iovx_intree_inv_all_noop(struct iovx_iommu *iommu)
{
	return 0;
}

/* The flush: every invalidation queued so far, and its completion (flush_iotlb_all waits). */
static int iovx_intree_sync(struct iovx_iommu *iommu)
{
	struct iommu_iovx_fq *fq = container_of(iommu, struct iommu_iovx_fq, iommu);

	fq->domain->ops->flush_iotlb_all(fq->domain);
	return 0;
}

static void iovx_intree_free_pages(struct iovx_iommu *iommu, struct iovx_iommu_freelist *pages)
{
	struct iovx_iommu_freed_page *p = pages->head, *next;
	LIST_HEAD(list);

	while (p) {
		next = p->next;
		list_add_tail(&container_of((struct list_head *)p, struct page, lru)->lru, &list);
		p = next;
	}
	iovx_iommu_freelist_init(pages);
	iommu_put_pages_list(&list);
}

static const struct iovx_iommu_ops iovx_intree_fq_ops = {
	.inv_range = iovx_intree_inv_noop,
	.inv_all = iovx_intree_inv_all_noop,
	.sync = iovx_intree_sync,
	.free_pages = iovx_intree_free_pages,
};

struct iommu_iovx_fq *iommu_iovx_fq_create(struct iommu_iovx *iovx, struct iommu_domain *domain,
					   unsigned int size, unsigned int timeout_ms)
{
	struct iovx_inval_config cfg;
	struct iommu_iovx_fq *fq;
	int ret;

	if (!iovx || !domain || !domain->ops->flush_iotlb_all || !size)
		return ERR_PTR(-EINVAL);
	fq = kzalloc(sizeof(*fq), GFP_KERNEL);
	if (!fq)
		return ERR_PTR(-ENOMEM);
	fq->domain = domain;
	fq->iovx = iovx;
	fq->iommu.ops = &iovx_intree_fq_ops;
	fq->iommu.granule_shift = __ffs(domain->pgsize_bitmap);
	fq->iommu.ias_bits = domain->geometry.aperture_end ?
			     fls64(domain->geometry.aperture_end) : 64;
	fq->iommu.oas_bits = 64;
	iovx_inval_config_init(&cfg);
	/*
	 * The rings are per CPU even where dma-iommu would use one big queue (IOMMUs that
	 * shadow their page tables on flush): such a queue of 32768 entries becomes rings of
	 * 1024 per CPU, which still batch far more than a flush costs.
	 */
	cfg.ring_order = clamp_t(unsigned int, ilog2(size), IOVX_INVAL_MIN_RING_ORDER, 10);
	cfg.max_age_ns = clamp_t(u64, (u64)timeout_ms * NSEC_PER_MSEC, IOVX_INVAL_MIN_MAX_AGE_NS,
				 IOVX_INVAL_MAX_MAX_AGE_NS);
	cfg.flush_all_threshold = 0;	/* every flush is one flush_iotlb_all */
	ret = iovx_inval_create(&fq->iommu, iovx_intree_dom(iovx), &cfg, &fq->ctx);
	if (ret) {
		kfree(fq);
		return ERR_PTR(ret);
	}
	pr_info_once("iovx: lazy domains defer invalidations through iovx\n");
	return fq;
}

void iommu_iovx_fq_destroy(struct iommu_iovx_fq *fq)
{
	int ret;

	if (!fq)
		return;
	ret = iovx_inval_destroy(fq->ctx);
	WARN_ONCE(ret, "iovx: flush queue quarantined %d ranges\n", ret);
	kfree(fq);
}

void iommu_iovx_fq_queue(struct iommu_iovx_fq *fq, unsigned long pfn, unsigned long pages,
			 struct list_head *freelist)
{
	struct iovx_iommu_freelist fl;
	struct page *page, *tmp;
	LIST_HEAD(keep);

	iovx_iommu_freelist_init(&fl);
	list_for_each_entry_safe(page, tmp, freelist, lru)
		iovx_iommu_freelist_add(&fl, (struct iovx_iommu_freed_page *)&page->lru);
	INIT_LIST_HEAD(freelist);
	if (likely(!iovx_inval_queue(fq->ctx, pfn, pages, &fl)))
		return;
	/* Not queueable (a range beyond the aperture): flush now, then release. */
	fq->domain->ops->flush_iotlb_all(fq->domain);
	iovx_intree_free_pages(&fq->iommu, &fl);
	iommu_iovx_free(fq->iovx, pfn, pages);
}

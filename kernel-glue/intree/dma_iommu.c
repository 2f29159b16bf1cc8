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
 *
 * Reuse: each DMA domain's cookie has a facade domain in reuse mode (iovx/dma.h, strict
 * base) over the cookie's iommu_domain, allocating from the cookie's iovx domain (a
 * borrowed IOVA space: cfg->iova_domain), made eagerly at domain init (process context,
 * table order IOMMU_IOVX_REUSE_ORDER; overflow entries beyond it never fail a map). dma-iommu
 * hands it the maps and unmaps of tagged buffers only. Its IOMMU ops: iommu_map (gfp as
 * the facade asks), iommu_unmap_fast into one gather per domain, invalidations widen the
 * gather, a sync is iommu_iotlb_sync (which also frees the page-table pages the unmaps
 * detached) or flush_iotlb_all: a torn-down entry is unreachable when the sync returns.
 */
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/export.h>
#include <linux/iommu.h>
#include <linux/iommu-iovx.h>
#include <linux/log2.h>
#include <linux/memremap.h>
#include <linux/mm_types.h>
#include <linux/printk.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "platform.h"
#include "kiommu.h"
#include <iovx/dma.h>
#include <iovx/inval.h>
#include <iovx/iova.h>
#include <iovx/reuse.h>

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

/* ------------------------------------------------------------------ reuse */

/* Patch 3 of the series; a tree with patches 1-2 only has no reuse interface. */
#ifdef DMA_ATTR_IOVX_REUSE

/* 64 entries per DMA domain; tagged maps beyond them get overflow entries (iovx/reuse.h). */
#define IOMMU_IOVX_REUSE_ORDER	6
/* sg lists up to this many entries are converted on the stack, longer ones in kmalloc */
#define IOMMU_IOVX_REUSE_STACK	8

struct iommu_iovx_reuse {
	struct iovx_kiommu kio;		/* the ops over the DMA domain (kernel-glue/kiommu.c) */
	struct iovx_dma_domain *dom;
};

struct iommu_iovx_reuse *iommu_iovx_reuse_create(struct iommu_iovx *iovx,
						 struct iommu_domain *domain)
{
	struct iovx_dma_config cfg;
	struct iommu_iovx_reuse *r;
	int ret;

	if (!iovx || !domain || !domain->pgsize_bitmap || !domain->geometry.aperture_end)
		return ERR_PTR(-EINVAL);
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return ERR_PTR(-ENOMEM);
	/* coherent devices only (iommu_iovx_reuse_usable): cacheable mappings */
	ret = iovx_kiommu_init(&r->kio, domain, IOMMU_CACHE);
	if (ret) {
		kfree(r);
		return ERR_PTR(ret);
	}
	iovx_dma_config_init(&cfg, &r->kio.iommu, IOVX_DMA_MODE_REUSE);
	cfg.fallback = IOVX_DMA_MODE_STRICT;
	/*
	 * One mask for every device of the domain: table IOVAs stay below 4 GiB, where
	 * dma-iommu puts a PCI device's IOVAs first too; devices with a smaller limit never
	 * take the table (iommu_iovx_reuse_usable).
	 */
	cfg.dma_mask = DMA_BIT_MASK(32);
	cfg.map_table_order = 4;	/* the base mode maps nothing of its own here */
	cfg.reuse_table_order = IOMMU_IOVX_REUSE_ORDER;
	cfg.iova_domain = iovx_intree_dom(iovx);
	ret = iovx_dma_domain_create(&cfg, &r->dom);
	if (ret) {
		kfree(r);
		return ERR_PTR(ret);
	}
	pr_info_once("iovx: DMA domains serve reuse-tagged buffers from iovx reuse tables\n");
	return r;
}

void iommu_iovx_reuse_destroy(struct iommu_iovx_reuse *r)
{
	int ret;

	if (!r)
		return;
	ret = iovx_dma_domain_destroy(r->dom);
	WARN_ONCE(ret, "iovx: reuse table destroyed with %d mappings in use\n", ret);
	kfree(r);
}

/* May dev map through the table? Coherent, not bounced, a DMA limit of 32 bits or more. */
static bool iommu_iovx_reuse_usable(struct device *dev)
{
	u64 limit = dma_get_mask(dev);

	if (dev->bus_dma_limit)
		limit = min_t(u64, limit, dev->bus_dma_limit);
	return dev_is_dma_coherent(dev) && limit >= DMA_BIT_MASK(32);
}

/* The attrs the facade knows: the kernel's values (iovx/dma.h) */
static unsigned int iovx_reuse_attrs(unsigned long attrs)
{
	return attrs & (DMA_ATTR_WEAK_ORDERING | DMA_ATTR_SKIP_CPU_SYNC | DMA_ATTR_PRIVILEGED);
}

/* A kernel list as the facade's: inputs, DMA fields, the tag. */
static struct iovx_dma_sg *iovx_reuse_sg_get(struct scatterlist *sg, int nents,
					     struct iovx_dma_sg *stack)
{
	struct iovx_dma_sg *v = stack;
	struct scatterlist *s;
	int i;

	if (nents <= 0 || nents > IOVX_DMA_MAX_SEGS)
		return NULL;
	if (nents > IOMMU_IOVX_REUSE_STACK) {
		v = kmalloc_array(nents, sizeof(*v), GFP_ATOMIC | __GFP_NOWARN);
		if (!v)
			return NULL;
	}
	for_each_sg(sg, s, nents, i) {
		v[i].phys = page_to_phys(sg_page(s));
		v[i].offset = s->offset;
		v[i].length = s->length;
		v[i].dma_address = sg_dma_address(s);
		v[i].dma_length = sg_dma_len(s);
		v[i].flags = IOVX_SG_REUSE;
	}
	return v;
}

static void iovx_reuse_sg_put(struct iovx_dma_sg *v, struct iovx_dma_sg *stack)
{
	if (v != stack)
		kfree(v);
}

int iommu_iovx_reuse_map_sg(struct iommu_iovx_reuse *r, struct device *dev,
			    struct scatterlist *sg, int nents, int dir, unsigned long attrs)
{
	struct iovx_dma_sg stack[IOMMU_IOVX_REUSE_STACK], *v;
	struct scatterlist *s;
	int i, n;

	if (!iommu_iovx_reuse_usable(dev))
		return -EOPNOTSUPP;
	for_each_sg(sg, s, nents, i)
		if (is_pci_p2pdma_page(sg_page(s)))
			return -EOPNOTSUPP;
	v = iovx_reuse_sg_get(sg, nents, stack);
	if (!v)
		return -ENOMEM;
	n = iovx_dma_map_sg(r->dom, v, nents, dir, iovx_reuse_attrs(attrs));
	if (n > 0) {
		for_each_sg(sg, s, nents, i) {
			sg_dma_address(s) = i < n ? v[i].dma_address : DMA_MAPPING_ERROR;
			sg_dma_len(s) = i < n ? v[i].dma_length : 0;
		}
	}
	iovx_reuse_sg_put(v, stack);
	return n;
}

int iommu_iovx_reuse_unmap_sg(struct iommu_iovx_reuse *r, struct scatterlist *sg, int nents,
			      int dir, unsigned long attrs)
{
	struct iovx_dma_sg stack[IOMMU_IOVX_REUSE_STACK], *v;
	int ret;

	v = iovx_reuse_sg_get(sg, nents, stack);
	if (!v)
		return -ENOMEM;
	ret = iovx_dma_unmap_sg(r->dom, v, nents, dir, iovx_reuse_attrs(attrs));
	iovx_reuse_sg_put(v, stack);
	return ret;
}

int iommu_iovx_reuse_map_phys(struct iommu_iovx_reuse *r, struct device *dev, phys_addr_t phys,
			      size_t size, int dir, unsigned long attrs, dma_addr_t *dma)
{
	u64 d;
	int ret;

	if (!iommu_iovx_reuse_usable(dev))
		return -EOPNOTSUPP;
	ret = iovx_dma_map_single(r->dom, phys, size, dir,
				  iovx_reuse_attrs(attrs) | IOVX_DMA_ATTR_REUSE, &d);
	if (!ret)
		*dma = d;
	return ret;
}

int iommu_iovx_reuse_unmap_phys(struct iommu_iovx_reuse *r, dma_addr_t dma, size_t size,
				int dir, unsigned long attrs)
{
	return iovx_dma_unmap_single(r->dom, dma, size, dir,
				     iovx_reuse_attrs(attrs) | IOVX_DMA_ATTR_REUSE);
}

int iommu_iovx_reuse_stats(struct iommu_iovx_reuse *r, struct dma_reuse_stats *st)
{
	struct iovx_reuse_stats rs;
	int ret;

	ret = iovx_dma_get_reuse_stats(r->dom, &rs);
	if (ret)
		return ret;
	st->hits = rs.hits;
	st->misses = rs.misses;
	st->stops = rs.stops;
	st->evictions = rs.evictions;
	st->entries = rs.entries;
	st->refs = rs.refs;
	return 0;
}

/**
 * sg_mark_reusable - Tag a scatterlist for reuse in every DMA domain
 * @sgl: the list
 * @nents: its entries, as later passed to dma_map_sg()
 *
 * Sets SG_DMA_IOVX_REUSE in the dma_flags of the first @nents entries: from the next
 * dma_map_sg() on, each DMA domain maps the list once and serves every later map of it
 * from its reuse table, until sg_mark_stop_reuse().
 *
 * Return: 0, -EINVAL (NULL, @nents out of range, an entry of length 0).
 */
int sg_mark_reusable(struct scatterlist *sgl, int nents)
{
	struct scatterlist *s;
	int i;

	if (!sgl || nents <= 0 || nents > IOVX_DMA_MAX_SEGS)
		return -EINVAL;
	for_each_sg(sgl, s, nents, i)
		if (!s->length)
			return -EINVAL;
	for_each_sg(sgl, s, nents, i)
		s->dma_flags |= SG_DMA_IOVX_REUSE;
	return 0;
}
EXPORT_SYMBOL_GPL(sg_mark_reusable);

/**
 * sg_mark_stop_reuse - Stop reuse of a tagged scatterlist in every DMA domain
 * @sgl: the list, not mapped by the caller any more
 * @nents: its entries
 *
 * Tears down every reuse-table entry of any DMA domain that overlaps the bytes of a
 * tagged entry, waiting for maps in flight to be unmapped, and clears the tag. When it
 * returns, no device reaches those bytes through a reuse table. May sleep.
 *
 * Return: the number of table entries torn down, -EINVAL (NULL, @nents out of range, no
 * entry tagged), or the first error of a teardown.
 */
int sg_mark_stop_reuse(struct scatterlist *sgl, int nents)
{
	struct scatterlist *s;
	int i, ret, n = 0, err = 0;
	bool any = false;

	might_sleep();
	if (!sgl || nents <= 0 || nents > IOVX_DMA_MAX_SEGS)
		return -EINVAL;
	for_each_sg(sgl, s, nents, i)
		any |= !!(s->dma_flags & SG_DMA_IOVX_REUSE);
	if (!any)
		return -EINVAL;
	for_each_sg(sgl, s, nents, i) {
		if (!(s->dma_flags & SG_DMA_IOVX_REUSE) || !s->length)
			continue;
		ret = iovx_buf_stop_reuse(sg_phys(s), s->length);
		if (ret < 0 && !err)
			err = ret;
		else if (ret > 0)
			n += ret;
		s->dma_flags &= ~SG_DMA_IOVX_REUSE;
	}
	return err ? err : n;
}
EXPORT_SYMBOL_GPL(sg_mark_stop_reuse);

/**
 * dma_buf_stop_reuse - Stop reuse of a buffer mapped with DMA_ATTR_IOVX_REUSE
 * @phys: its first byte
 * @size: its length
 *
 * As sg_mark_stop_reuse() for [@phys, @phys + @size), whichever devices mapped it. May
 * sleep.
 *
 * Return: the number of table entries torn down, -EINVAL (@size 0), -EOVERFLOW.
 */
int dma_buf_stop_reuse(phys_addr_t phys, size_t size)
{
	might_sleep();
	return iovx_buf_stop_reuse(phys, size);
}
EXPORT_SYMBOL_GPL(dma_buf_stop_reuse);

#endif /* DMA_ATTR_IOVX_REUSE */

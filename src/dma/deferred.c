// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * deferred.c - the deferred mode: maps exactly as strict; its unmap clears the page tables
 * with one IOMMU call and hands the whole IOVA range and the emptied table pages to the
 * domain's invalidation context (src/inval, iovx/inval.h), which releases both only after a
 * flush that began after the unmap has completed (I2) and within the configured bound (I4).
 * The context lives in dom->mode_priv.
 */
#include "dma_internal.h"
#include <iovx/inval.h>

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
	return deferred_unmap_range(dom, m->out[0].addr & ~dom->gmask, dma_map_span(dom, m));
}

static int deferred_flush(struct iovx_dma_domain *dom)
{
	return iovx_inval_flush(dom->mode_priv);
}

static void deferred_unmap_all(struct iovx_dma_domain *dom)
{
	(void)iovx_inval_flush(dom->mode_priv);
	iovx_dma_strict_unmap_all(dom);
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

const struct iovx_dma_mode_ops iovx_dma_mode_deferred = {
	.name = "deferred",
	.needs_iommu = true,
	.init = deferred_init,
	.fini = deferred_fini,
	.map_single = iovx_dma_strict_map_single,
	.unmap_single = deferred_unmap_single,
	.map_sg = iovx_dma_strict_map_sg,
	.unmap_sg = deferred_unmap_sg,
	.sync_for_cpu = iovx_dma_coherent_for_cpu,
	.sync_for_device = iovx_dma_coherent_for_device,
	.unmap_all = deferred_unmap_all,
	.stats = deferred_stats,
	.flush = deferred_flush,
};
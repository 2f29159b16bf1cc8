// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * iommu_domain.c - the driver-facing DMA domain (iovx_kdomain_*, include/iovx/kernel.h)
 * over a kernel iommu_domain, through the ops of kiommu.c.
 *
 * The IOVA space: the aperture's end gives ias_bits, the space below its start and the
 * group's reserved regions (iommu_get_group_resv_regions: the MSI window on x86) and a PCI
 * device's host-bridge memory windows (as dma-iommu does: peer-to-peer addresses) are
 * reserved in the allocator before anything is mapped.
 */
#include <linux/device.h>
#include <linux/err.h>
#include <linux/iommu.h>
#include <linux/dma-mapping.h>
#include <linux/list.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "platform.h"
#include "kglue.h"
#include "kiommu.h"

#include <iovx/dma.h>
#include <iovx/iommu.h>
#include <iovx/kernel.h>

struct iovx_kdomain {
	struct iovx_kiommu kio;
	struct iovx_dma_domain *dom;
	struct iovx_debugfs *dfs;
	struct device *dev;
};

/* Adds [start, end] to r (at most max entries); -E2BIG when full. */
static int resv_add(struct iovx_dma_range *r, unsigned int *n, unsigned int max, u64 start,
		    u64 end)
{
	if (end < start)
		return 0;
	if (*n >= max)
		return -E2BIG;
	r[*n].start = start;
	r[*n].size = end - start + 1;
	(*n)++;
	return 0;
}

/*
 * The ranges no IOVA may take: below the aperture, above it up to 2^ias, the group's
 * reserved regions, a PCI device's host-bridge memory windows, then the caller's own.
 */
static int collect_reserved(struct device *dev, struct iovx_kiommu *kio,
			    const struct iovx_dma_config *cfg, struct iovx_dma_range *r,
			    unsigned int *n)
{
	const struct iommu_domain_geometry *g = &kio->domain->geometry;
	struct iommu_resv_region *region;
	struct iommu_group *group;
	unsigned int i;
	LIST_HEAD(resv);
	u64 top;
	int ret = 0;

	*n = 0;
	if (g->aperture_start)
		ret = resv_add(r, n, IOVX_DMA_MAX_RESERVED, 0, g->aperture_start - 1);
	top = kio->iommu.ias_bits >= 64 ? ~0ull : (1ull << kio->iommu.ias_bits) - 1;
	if (!ret && g->aperture_end < top)
		ret = resv_add(r, n, IOVX_DMA_MAX_RESERVED, g->aperture_end + 1, top);
	group = iommu_group_get(dev);
	if (group) {
		ret = ret ? ret : iommu_get_group_resv_regions(group, &resv);
		list_for_each_entry(region, &resv, list)
			if (!ret)
				ret = resv_add(r, n, IOVX_DMA_MAX_RESERVED, region->start,
					       region->start + region->length - 1);
		iommu_put_resv_regions(dev, &resv);
		iommu_group_put(group);
	}
	if (!ret && dev_is_pci(dev)) {
		struct pci_host_bridge *bridge = pci_find_host_bridge(to_pci_dev(dev)->bus);
		struct resource_entry *w;

		resource_list_for_each_entry(w, &bridge->windows) {
			if (resource_type(w->res) != IORESOURCE_MEM || ret)
				continue;
			ret = resv_add(r, n, IOVX_DMA_MAX_RESERVED, w->res->start - w->offset,
				       w->res->end - w->offset);
		}
	}
	for (i = 0; !ret && cfg && i < cfg->nr_reserved; i++)
		ret = resv_add(r, n, IOVX_DMA_MAX_RESERVED, cfg->reserved[i].start,
			       cfg->reserved[i].start + cfg->reserved[i].size - 1);
	return ret;
}

int iovx_kdomain_create(struct device *dev, struct iommu_domain *domain,
			const struct iovx_dma_config *cfg, const char *name,
			struct iovx_kdomain **out)
{
	struct iovx_inval_config icfg;
	struct iovx_dma_config c;
	struct iovx_dma_range *resv;
	struct iovx_kdomain *kd;
	unsigned int nr;
	int ret;

	if (!dev || !domain || !out)
		return -EINVAL;
	if (cfg && cfg->nr_reserved && (!cfg->reserved || cfg->nr_reserved > IOVX_DMA_MAX_RESERVED))
		return -EINVAL;
	/* The caller attached the domain to dev: otherwise the device cannot use it. */
	if (iommu_get_domain_for_dev(dev) != domain)
		return -EINVAL;
	kd = kzalloc(sizeof(*kd), GFP_KERNEL);
	resv = kcalloc(IOVX_DMA_MAX_RESERVED, sizeof(*resv), GFP_KERNEL);
	ret = -ENOMEM;
	if (!kd || !resv)
		goto fail;
	ret = iovx_kiommu_init(&kd->kio, domain, 0);
	if (ret)
		goto fail;
	if (cfg) {
		c = *cfg;
		c.iommu = &kd->kio.iommu;
	} else {
		iovx_kernel_dma_config_init(&c, &icfg, &kd->kio.iommu);
	}
	if (c.mode == IOVX_DMA_MODE_PASSTHROUGH) {
		ret = -EINVAL;		/* a domain is attached: physical addresses do not work */
		goto fail;
	}
	if (!c.dma_mask)
		c.dma_mask = dma_get_mask(dev);
	ret = collect_reserved(dev, &kd->kio, cfg, resv, &nr);
	if (ret) {
		ret = ret == -E2BIG ? -EINVAL : ret;
		goto fail;
	}
	c.reserved = resv;
	c.nr_reserved = nr;
	ret = iovx_dma_domain_create(&c, &kd->dom);
	if (ret)
		goto fail;
	kfree(resv);
	kd->dev = dev;
	/* Statistics are optional: a domain works without its directory. */
	if (iovx_debugfs_add(kd->dom, name ? name : dev_name(dev), &kd->dfs))
		kd->dfs = NULL;
	*out = kd;
	return 0;
fail:
	kfree(resv);
	kfree(kd);
	return ret;
}

int iovx_kdomain_destroy(struct iovx_kdomain *kd)
{
	int ret;

	if (!kd)
		return -EINVAL;
	iovx_debugfs_remove(kd->dfs);
	ret = iovx_dma_domain_destroy(kd->dom);
	kfree(kd);
	return ret;
}

struct iovx_dma_domain *iovx_kdomain_dma(struct iovx_kdomain *kd)
{
	return kd ? kd->dom : NULL;
}

struct iovx_iommu *iovx_kdomain_iommu(struct iovx_kdomain *kd)
{
	return kd ? &kd->kio.iommu : NULL;
}

struct iommu_domain *iovx_kernel_paging_domain_alloc(struct device *dev)
{
	if (!dev)
		return ERR_PTR(-EINVAL);
	return iovx_compat_paging_domain_alloc(dev);
}

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/kernel.h - what iovx.ko adds for kernel drivers on top of the portable API
 * (iovx/iova.h, inval.h, dma.h, reuse.h, bounce.h, all exported EXPORT_SYMBOL_GPL).
 * Kernel only. A module builds against it with -I to this include/ directory and nothing
 * else; docs/kernel.md describes loading, parameters and debugfs.
 *
 * Lifetime: every live DMA domain, IOVA domain, invalidation context and bounce pool holds
 * a reference on iovx.ko; unloading it fails with -EBUSY until the last is destroyed.
 */
#ifndef IOVX_KERNEL_H
#define IOVX_KERNEL_H

#ifndef __KERNEL__
#error "iovx/kernel.h is for kernel modules"
#endif

#include <iovx/api.h>
#include <iovx/dma.h>
#include <iovx/inval.h>

/*
 * Fills cfg (as iovx_dma_config_init does) with the module parameters' defaults:
 * iovx.default_mode (strict, deferred, revive = deferred + IOVX_DMA_F_REVIVE, reuse,
 * bounce, passthrough), iovx.deferred_bound_us into *icfg (cfg->inval points to it),
 * iovx.reuse_table_order and iovx.bounce_crossover. icfg must outlive the create call.
 * NULL arguments are ignored.
 */
IOVX_API void iovx_kernel_dma_config_init(struct iovx_dma_config *cfg,
					  struct iovx_inval_config *icfg,
					  struct iovx_iommu *iommu);

/*
 * A debugfs directory for a DMA domain: /sys/kernel/debug/iovx/<name>/ with the files
 * mode, dma, iova (statistics, then an audit), inval, reuse and bounce (docs/kernel.md).
 * The domain must outlive the directory: remove it before destroying the domain.
 *   0        *out is the directory's handle
 *   -EINVAL  NULL arguments, an empty name or one with '/'
 *   -EEXIST  a directory of that name exists
 *   -ENOMEM  no memory
 *   -ENODEV  debugfs is not available (the domain works without it)
 */
struct iovx_debugfs;
IOVX_API int iovx_debugfs_add(struct iovx_dma_domain *dom, const char *name,
			      struct iovx_debugfs **out);
/* Removes the directory; waits for readers in progress. NULL is ignored. */
IOVX_API void iovx_debugfs_remove(struct iovx_debugfs *d);

/*
 * A DMA domain over a kernel iommu_domain (iommu_map / iommu_unmap_fast with a gather /
 * iommu_iotlb_sync / iommu_flush_iotlb_all), for a driver that owns its device's
 * translation: pci_driver.driver_managed_dma set, a paging domain allocated (e.g. with
 * iovx_kernel_paging_domain_alloc) and attached with iommu_attach_device. The domain must
 * stay attached until iovx_kdomain_destroy returns.
 *   cfg   NULL: the module parameters' defaults (iovx_kernel_dma_config_init); else
 *         copied, with cfg->iommu replaced by the domain's ops. A dma_mask of 0 takes the
 *         device's (dma_get_mask). cfg->reserved is kept and extended by what the IOMMU
 *         forbids: the space outside the aperture, the group's reserved regions (the MSI
 *         window), a PCI device's host-bridge windows. Passthrough is refused.
 *   name  the debugfs directory (iovx_debugfs_add); NULL: dev_name(dev). A name already
 *         taken leaves the domain without statistics, nothing else.
 * Returns 0, -EINVAL (NULL dev/domain/out, the domain not attached to dev or not a paging
 * domain, a granule outside 4..64 KiB, an aperture below 4 GiB, more than
 * IOVX_DMA_MAX_RESERVED ranges in all, passthrough, or any iovx_dma_domain_create
 * -EINVAL), -ENOMEM, or iovx_dma_domain_create's other errors.
 */
struct iommu_domain;
struct device;
struct iovx_kdomain;
IOVX_API int iovx_kdomain_create(struct device *dev, struct iommu_domain *domain,
				 const struct iovx_dma_config *cfg, const char *name,
				 struct iovx_kdomain **out);
/* Removes the debugfs directory, then as iovx_dma_domain_destroy (its return value). */
IOVX_API int iovx_kdomain_destroy(struct iovx_kdomain *kd);
/* The DMA domain to map through (iovx/dma.h), its IOMMU ops; NULL for NULL. */
IOVX_API struct iovx_dma_domain *iovx_kdomain_dma(struct iovx_kdomain *kd);
IOVX_API struct iovx_iommu *iovx_kdomain_iommu(struct iovx_kdomain *kd);

/*
 * A paging domain for dev, whatever the kernel version: iommu_paging_domain_alloc (6.11+)
 * or iommu_domain_alloc(dev->bus). An ERR_PTR on failure; free with iommu_domain_free.
 */
IOVX_API struct iommu_domain *iovx_kernel_paging_domain_alloc(struct device *dev);

#endif /* IOVX_KERNEL_H */

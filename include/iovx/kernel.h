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

#endif /* IOVX_KERNEL_H */

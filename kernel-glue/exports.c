// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * exports.c - the public API of iovx.ko for other modules: every function declared with
 * IOVX_API in include/iovx/ (but iovx/sim.h, the userspace simulator), GPL-only as the
 * kernel's own IOMMU and IOVA exports are. kernel-glue/build.sh checks after each build
 * that the module's Module.symvers holds exactly that set, so a new IOVX_API function
 * without its line here (or a line without a declaration) fails the build.
 */
#include <linux/export.h>

#include "platform.h"

#include <iovx/bounce.h>
#include <iovx/dma.h>
#include <iovx/inval.h>
#include <iovx/iova.h>
#include <iovx/kernel.h>
#include <iovx/reuse.h>

/* iovx/bounce.h */
EXPORT_SYMBOL_GPL(iovx_bounce_config_init);
EXPORT_SYMBOL_GPL(iovx_bounce_create);
EXPORT_SYMBOL_GPL(iovx_bounce_destroy);
EXPORT_SYMBOL_GPL(iovx_bounce_map);
EXPORT_SYMBOL_GPL(iovx_bounce_unmap);
EXPORT_SYMBOL_GPL(iovx_bounce_sync_for_cpu);
EXPORT_SYMBOL_GPL(iovx_bounce_sync_for_device);
EXPORT_SYMBOL_GPL(iovx_bounce_owns);
EXPORT_SYMBOL_GPL(iovx_bounce_crossover);
EXPORT_SYMBOL_GPL(iovx_bounce_crossover_dir);
EXPORT_SYMBOL_GPL(iovx_bounce_set_crossover);
EXPORT_SYMBOL_GPL(iovx_bounce_set_crossover_dir);
EXPORT_SYMBOL_GPL(iovx_bounce_get_stats);
EXPORT_SYMBOL_GPL(iovx_bounce_reset_stats);
EXPORT_SYMBOL_GPL(iovx_bounce_format_stats);
EXPORT_SYMBOL_GPL(iovx_bounce_calibrate);

/* iovx/dma.h */
EXPORT_SYMBOL_GPL(iovx_dma_config_init);
EXPORT_SYMBOL_GPL(iovx_dma_domain_create);
EXPORT_SYMBOL_GPL(iovx_dma_domain_destroy);
EXPORT_SYMBOL_GPL(iovx_dma_set_mask);
EXPORT_SYMBOL_GPL(iovx_dma_map_single);
EXPORT_SYMBOL_GPL(iovx_dma_unmap_single);
EXPORT_SYMBOL_GPL(iovx_dma_map_sg);
EXPORT_SYMBOL_GPL(iovx_dma_unmap_sg);
EXPORT_SYMBOL_GPL(iovx_dma_sync_single_for_cpu);
EXPORT_SYMBOL_GPL(iovx_dma_sync_single_for_device);
EXPORT_SYMBOL_GPL(iovx_dma_sync_sg_for_cpu);
EXPORT_SYMBOL_GPL(iovx_dma_sync_sg_for_device);
EXPORT_SYMBOL_GPL(iovx_dma_get_stats);
EXPORT_SYMBOL_GPL(iovx_dma_flush_deferred);
EXPORT_SYMBOL_GPL(iovx_dma_get_inval_stats);

/* iovx/inval.h */
EXPORT_SYMBOL_GPL(iovx_inval_config_init);
EXPORT_SYMBOL_GPL(iovx_inval_create);
EXPORT_SYMBOL_GPL(iovx_inval_destroy);
EXPORT_SYMBOL_GPL(iovx_inval_queue);
EXPORT_SYMBOL_GPL(iovx_inval_flush);
EXPORT_SYMBOL_GPL(iovx_inval_kick);
EXPORT_SYMBOL_GPL(iovx_inval_poll);
EXPORT_SYMBOL_GPL(iovx_inval_get_stats);
EXPORT_SYMBOL_GPL(iovx_inval_gather_add);
EXPORT_SYMBOL_GPL(iovx_inval_gather_issue);

/* iovx/iova.h */
EXPORT_SYMBOL_GPL(iovx_iova_config_init);
EXPORT_SYMBOL_GPL(iovx_iova_domain_create);
EXPORT_SYMBOL_GPL(iovx_iova_domain_destroy);
EXPORT_SYMBOL_GPL(iovx_iova_alloc);
EXPORT_SYMBOL_GPL(iovx_iova_free);
EXPORT_SYMBOL_GPL(iovx_iova_reserve);
EXPORT_SYMBOL_GPL(iovx_iova_reclaim);
EXPORT_SYMBOL_GPL(iovx_iova_get_stats);
EXPORT_SYMBOL_GPL(iovx_iova_audit);

/* iovx/kernel.h */
EXPORT_SYMBOL_GPL(iovx_kernel_dma_config_init);
EXPORT_SYMBOL_GPL(iovx_debugfs_add);
EXPORT_SYMBOL_GPL(iovx_debugfs_remove);
EXPORT_SYMBOL_GPL(iovx_kdomain_create);
EXPORT_SYMBOL_GPL(iovx_kdomain_destroy);
EXPORT_SYMBOL_GPL(iovx_kdomain_dma);
EXPORT_SYMBOL_GPL(iovx_kdomain_iommu);
EXPORT_SYMBOL_GPL(iovx_kernel_paging_domain_alloc);

/* iovx/reuse.h */
EXPORT_SYMBOL_GPL(iovx_sg_mark_reusable);
EXPORT_SYMBOL_GPL(iovx_sg_mark_stop_reuse);
EXPORT_SYMBOL_GPL(iovx_buf_stop_reuse);
EXPORT_SYMBOL_GPL(iovx_dma_stop_reuse);
EXPORT_SYMBOL_GPL(iovx_dma_reuse_evict);
EXPORT_SYMBOL_GPL(iovx_dma_get_reuse_stats);

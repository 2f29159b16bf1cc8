/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * kiommu.h - the iovx IOMMU ops (include/iovx/iommu.h) over a kernel iommu_domain
 * (kernel-glue/kiommu.c): what the module's driver-facing domains (iommu_domain.c) and the
 * dma-iommu series' reuse tables (intree/dma_iommu.c) both map, unmap and invalidate
 * through.
 */
#ifndef IOVX_KGLUE_KIOMMU_H
#define IOVX_KGLUE_KIOMMU_H

#include <linux/iommu.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include <iovx/iommu.h>

struct iovx_kiommu {
	struct iovx_iommu iommu;
	struct iommu_domain *domain;
	spinlock_t lock;			/* gather and flush_all */
	struct iommu_iotlb_gather gather;	/* unmapped/invalidated, not yet synced */
	bool flush_all;
	u64 lo, hi;				/* extent of every IOVA ever mapped */
	int kprot;				/* IOMMU_* added to every map (IOMMU_CACHE) */
};


/*
 * Makes kio the ops over domain, a paging domain with a 4 KiB..64 KiB granule and an
 * aperture reaching 4 GiB: the IOVA space is [0, 2^ias) with ias from the aperture's end.
 * kprot: IOMMU_* flags every map adds (IOMMU_CACHE for a coherent device). 0 or -EINVAL.
 */
int iovx_kiommu_init(struct iovx_kiommu *kio, struct iommu_domain *domain, int kprot);

#endif /* IOVX_KGLUE_KIOMMU_H */

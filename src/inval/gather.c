// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * gather.c - coalesces the unmapped ranges of one operation into as few IOTLB range
 * invalidations as possible (docs/inval.md), shared by strict unmap (src/dma) and
 * the deferred flush (inval.c). A gather is private to its caller (on the stack): no
 * concurrency, no ordering edges; the caller's single sync afterwards completes every
 * invalidation it issued.
 */
#include "platform.h"
#include <iovx/inval.h>

void iovx_inval_gather_issue(struct iovx_iommu *iommu, struct iovx_inval_gather *g)
{
	if (!g->end)
		return;
	(void)iommu->ops->inv_range(iommu, g->start, g->end - g->start);
	g->issued++;
	g->end = 0;
}

void iovx_inval_gather_add(struct iovx_iommu *iommu, struct iovx_inval_gather *g,
			   uint64_t start, uint64_t end)
{
	if (g->end && start <= g->end && end >= g->start) {
		if (start < g->start)
			g->start = start;
		if (end > g->end)
			g->end = end;
		return;
	}
	iovx_inval_gather_issue(iommu, g);
	g->start = start;
	g->end = end;
}

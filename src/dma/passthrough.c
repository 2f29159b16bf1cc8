// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * passthrough.c - the passthrough mode: no IOMMU, the DMA address is the physical address
 * (checked against the DMA mask); the coherent device model's ownership fences, which the
 * other modes share.
 */
#include "dma_internal.h"

static int pt_check_mask(struct iovx_dma_domain *dom, uint64_t addr, uint64_t len)
{
	return addr + len - 1 > iovx_load_relaxed(&dom->mask) ? -ERANGE : 0;
}

static int pt_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			 unsigned int dir, unsigned int attrs, uint64_t *dma)
{
	int err = pt_check_mask(dom, phys, size);

	if (!err)
		*dma = phys;
	return err;
}

static int pt_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			   unsigned int dir, unsigned int attrs)
{
	return 0;
}

static int pt_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
		     const struct dma_seg *segs, unsigned int n, unsigned int dir,
		     unsigned int attrs)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (pt_check_mask(dom, segs[i].addr, segs[i].len))
			return -ERANGE;
	for (i = 0; i < n; i++) {
		sg[i].dma_address = segs[i].addr;
		sg[i].dma_length = (uint32_t)segs[i].len;
	}
	return (int)n;
}

static int pt_unmap_sg(struct iovx_dma_domain *dom, const struct dma_map *m, unsigned int dir,
		       unsigned int attrs)
{
	return 0;
}

/* Coherent device model: ownership transfers only order memory (every mode's syncs). */
void iovx_dma_coherent_for_cpu(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			       unsigned int dir)
{
	iovx_fence_acquire();
}

void iovx_dma_coherent_for_device(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
				  unsigned int dir)
{
	iovx_fence_release();
}

const struct iovx_dma_mode_ops iovx_dma_mode_passthrough = {
	.name = "passthrough",
	.needs_iommu = false,
	.map_single = pt_map_single,
	.unmap_single = pt_unmap_single,
	.map_sg = pt_map_sg,
	.unmap_sg = pt_unmap_sg,
	.sync_for_cpu = iovx_dma_coherent_for_cpu,
	.sync_for_device = iovx_dma_coherent_for_device,
};
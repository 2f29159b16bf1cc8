// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * sim.c - the software IOMMU's life cycle, configuration and statistics (iovx/sim.h).
 * The parts and their locks are described in sim_internal.h.
 */
#include "sim_internal.h"

#include <stdio.h>

void iovx_sim_cost_default(struct iovx_sim_cost *c)
{
	if (!c)
		return;
	c->walk_ns = 1800;
	c->pte_ns = 500;
	c->cmd_ns = 500;
	c->sync_ns = 2500;
}

void iovx_sim_config_init(struct iovx_sim_config *cfg)
{
	if (!cfg)
		return;
	cfg->iotlb_sets = 64;
	cfg->iotlb_ways = 4;
	cfg->cmdq_entries = 256;
	cfg->charge_time = false;
	cfg->eager_table_free = false;
	iovx_sim_cost_default(&cfg->cost);
}

static bool pow2_in(unsigned int x, unsigned int lo, unsigned int hi)
{
	return x >= lo && x <= hi && !(x & (x - 1));
}

int iovx_sim_create(const struct iovx_sim_config *cfg, struct iovx_sim **out)
{
	struct iovx_sim *sim;

	if (!cfg || !out || !pow2_in(cfg->iotlb_sets, 1, 65536) || !cfg->iotlb_ways ||
	    cfg->iotlb_ways > 16 || !pow2_in(cfg->cmdq_entries, 2, 65536))
		return -EINVAL;
	sim = iovx_zalloc(sizeof(*sim), IOVX_GFP_KERNEL);
	if (!sim)
		return -ENOMEM;
	sim->cfg = *cfg;
	sim->iommu.ops = &iovx_sim_ops;
	sim->iommu.granule_shift = SIM_GRANULE_SHIFT;
	sim->iommu.ias_bits = SIM_IAS_BITS;
	sim->iommu.oas_bits = SIM_OAS_BITS;
	iovx_iommu_freelist_init(&sim->leaked);
	pthread_mutex_init(&sim->pt_lock, NULL);
	sim->root = iovx_sim_table_alloc(sim, 0);
	if (!sim->root || iovx_sim_iotlb_init(&sim->tlb, cfg->iotlb_sets, cfg->iotlb_ways) ||
	    iovx_sim_cmdq_init(&sim->cmdq, cfg->cmdq_entries)) {
		iovx_sim_destroy(sim);
		return -ENOMEM;
	}
	*out = sim;
	return 0;
}

void iovx_sim_destroy(struct iovx_sim *sim)
{
	if (!sim)
		return;
	iovx_sim_tables_destroy(sim);
	iovx_sim_iotlb_destroy(&sim->tlb);
	iovx_sim_cmdq_destroy(&sim->cmdq);
	pthread_mutex_destroy(&sim->pt_lock);
	iovx_free(sim);
}

struct iovx_iommu *iovx_sim_iommu(struct iovx_sim *sim)
{
	return sim ? &sim->iommu : NULL;
}

struct iovx_sim *iovx_sim_from_iommu(struct iovx_iommu *iommu)
{
	return iommu && iommu->ops == &iovx_sim_ops ? (struct iovx_sim *)iommu : NULL;
}

int iovx_sim_iova_to_phys(struct iovx_sim *sim, uint64_t iova, uint64_t *phys,
			  unsigned int *prot)
{
	uint64_t pte;

	if (!sim)
		return -EINVAL;
	pte = iovx_sim_walk(sim, iova);
	if (!(pte & SIM_PTE_VALID))
		return -ENOENT;
	if (phys)
		*phys = (pte & SIM_PTE_ADDR) | (iova & (SIM_GRANULE - 1));
	if (prot)
		*prot = (pte & SIM_PTE_R ? IOVX_IOMMU_READ : 0) |
			(pte & SIM_PTE_W ? IOVX_IOMMU_WRITE : 0);
	return 0;
}

int iovx_sim_get_stats(struct iovx_sim *sim, struct iovx_sim_stats *st)
{
	if (!sim || !st)
		return -EINVAL;
#define IOVX_SIM_STAT_COPY(name, doc) st->name = iovx_load_relaxed(&sim->st.name);
	IOVX_SIM_STATS(IOVX_SIM_STAT_COPY)
#undef IOVX_SIM_STAT_COPY
	st->last_fault_iova = iovx_load_relaxed(&sim->st.last_fault_iova);
	st->tables_live = iovx_load_relaxed(&sim->st.tables_live);
	return 0;
}

int iovx_sim_cost_format(const struct iovx_sim_cost *c, const char *prefix, char *buf,
			 size_t len)
{
	int n;

	if (!c || !buf)
		return -EINVAL;
	if (!prefix)
		prefix = "";
	n = snprintf(buf, len,
		     "%swalk_ns  %llu  (per page-table descent: arm_lpae_map/unmap levels)\n"
		     "%spte_ns   %llu  (per PTE store incl. cache clean for the walker)\n"
		     "%scmd_ns   %llu  (queue occupancy per command: TLBI, CMD_SYNC)\n"
		     "%ssync_ns  %llu  (CMD_SYNC completion after the queue drained)\n",
		     prefix, (unsigned long long)c->walk_ns, prefix,
		     (unsigned long long)c->pte_ns, prefix, (unsigned long long)c->cmd_ns,
		     prefix, (unsigned long long)c->sync_ns);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

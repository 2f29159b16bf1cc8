// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * pgtable.c - the simulator's page tables: a 4-level radix tree of real 4 KiB pages (512
 * 64-bit PTEs each) translating a 48-bit IOVA at a 4 KiB granule, as an SMMUv3 stage-1
 * table with 4 KiB pages does (io-pgtable-arm, without block mappings).
 *
 * Table lifetime, as io-pgtable-arm's (drivers/iommu/io-pgtable-arm.c, __arm_lpae_unmap):
 * a table page is created by the first map below it and stays while the domain lives, even
 * when a partial unmap leaves it empty; it is detached only by an unmap that covers the whole
 * span of the entry pointing to it (2 MiB for a leaf table, 1 GiB, 512 GiB), which is when
 * __arm_lpae_unmap frees a table (the unmap's page size equals the level's block size).
 * So in steady state a map writes only leaf PTEs, as on the hardware the cost model is
 * calibrated against (docs/architecture.md §1); memory is bounded by the IOVA space in use,
 * as in Linux.
 * With iovx_sim_config.eager_table_free an unmap detaches every table it leaves empty: more
 * tables go through the I2 path (tests and fuzzing use it), at a cost no real driver pays.
 *
 * Invariants:
 *   P1 nvalid of a table counts its valid entries; a table whose count drops to 0 on an unmap
 *      that covers its whole span (or any unmap, eager_table_free) is detached from its
 *      parent (the parent's entry cleared first, E-PT1) and handed to the caller, who frees
 *      it only after an invalidation and a sync (I2; the checker in free_pages counts early
 *      frees as violations).
 *   P2 a map either maps the whole range or nothing: on -EEXIST/-ENOMEM what it wrote is
 *      cleared, invalidated and synced, as Linux's iommu_map undoes a partial map.
 *   P3 map checks (under tlb.lock) that the IOTLB holds no translation of a page it maps:
 *      a hit is a reuse before invalidation (I2), counted, never refused.
 *
 * Progress: blocking (pt_lock serializes updates); device walks never take pt_lock.
 *
 * Synchronization: map, unmap and free_pages may run concurrently from many threads
 * (updates serialize on pt_lock); device walks (iotlb.c, under tlb.lock) run concurrently
 * with updates.
 *
 * Ordering edges:
 *   E-PT1 a PTE is published with a release store (a new table's zeroed contents, the
 *         page address) and read by the walker with an acquire load.
 *   E-PT2 unmap clears entries before the caller issues the invalidation; the sync that
 *         processes it takes tlb.lock, so walks that could reach a detached table finished
 *         before it, and later walks see the cleared parent entry (lock order, cmdq.c).
 */
#include "sim_internal.h"

uint64_t *iovx_sim_table_alloc(struct iovx_sim *sim, unsigned int level)
{
	uint64_t *t = iovx_zalloc_aligned(SIM_TABLE_BYTES, SIM_GRANULE, IOVX_GFP_ATOMIC);

	if (!t)
		return NULL;
	sim_meta(t)->level = level;
	SIM_STAT_INC(sim, tables_alloc);
	SIM_STAT_INC(sim, tables_live);
	return t;
}

static inline uint64_t *pte_table(uint64_t pte)
{
	return (uint64_t *)(uintptr_t)(pte & SIM_PTE_ADDR);
}

uint64_t iovx_sim_walk(struct iovx_sim *sim, uint64_t iova)
{
	uint64_t *t = sim->root;
	unsigned int l;

	if (iova >> SIM_IAS_BITS)
		return 0;
	for (l = 0; l < SIM_LEVELS - 1; l++) {
		uint64_t pte = iovx_load_acquire(&t[sim_idx(l, iova)]);	/* E-PT1 */

		if (!(pte & SIM_PTE_VALID))
			return 0;
		t = pte_table(pte);
	}
	return iovx_load_acquire(&t[sim_idx(SIM_LEVELS - 1, iova)]);	/* E-PT1 */
}

/*
 * P1: detaches path[from], then the tables above it, while each is empty and its whole span
 * lies in [iova, end) (or is merely empty, eager_table_free). va lies in path[from]'s span.
 * pt_lock held. The root stays.
 */
static void detach_empty_locked(struct iovx_sim *sim, uint64_t *const *path, unsigned int from,
				uint64_t va, uint64_t iova, uint64_t end,
				struct iovx_iommu_freelist *freed, uint64_t *writes)
{
	unsigned int l;

	for (l = from; l > 0; l--) {
		struct sim_table_meta *m = sim_meta(path[l]);
		uint64_t *parent_pte = &path[l - 1][sim_idx(l - 1, va)];
		uint64_t span = 1ull << (SIM_IAS_BITS - 9 * l);
		uint64_t base = va & ~(span - 1);

		if (m->nvalid)
			return;
		/* Not covered: kept, and so is every table above it (larger spans). */
		if (!sim->cfg.eager_table_free && (base < iova || base + span > end))
			return;
		iovx_store_release(parent_pte, 0ull);				/* E-PT2 */
		iovx_assert(sim_meta(path[l - 1])->nvalid > 0);			/* P1 */
		sim_meta(path[l - 1])->nvalid--;
		(*writes)++;
		m->emptied_at = iovx_load_acquire(&sim->cmdq.issued_inval);
		iovx_iommu_freelist_add(freed, &m->node);
		SIM_STAT_INC(sim, tables_emptied);
	}
}

/*
 * Clears the valid leaves of [iova, iova + size) (pt_lock held); tables it empties whose span
 * it covers (any it empties, eager_table_free) go to freed (P1). Returns bytes cleared. One
 * descent per leaf table touched, or per table whose empty entries it skips.
 */
static uint64_t unmap_locked(struct iovx_sim *sim, uint64_t iova, uint64_t size,
			     struct iovx_iommu_freelist *freed, uint64_t *writes, uint64_t *walks)
{
	uint64_t end = iova + size, va = iova, cleared = 0;

	while (va < end) {
		uint64_t *path[SIM_LEVELS];
		uint64_t chunk_end;
		unsigned int l, lvl_missing = SIM_LEVELS;

		path[0] = sim->root;
		for (l = 0; l < SIM_LEVELS - 1; l++) {
			uint64_t pte = path[l][sim_idx(l, va)];

			if (!(pte & SIM_PTE_VALID)) {
				lvl_missing = l;
				break;
			}
			path[l + 1] = pte_table(pte);
		}
		(*walks)++;
		if (lvl_missing < SIM_LEVELS) {
			/*
			 * Nothing is mapped in this entry's span, nor in the invalid entries after
			 * it in the same table: skip them all. The table may be empty and kept
			 * (P1): detach it if this unmap covers it.
			 */
			unsigned int sh = 39 - 9 * lvl_missing, i = sim_idx(lvl_missing, va);
			uint64_t *t = path[lvl_missing];
			uint64_t tbase = va & ~((1ull << (sh + 9)) - 1);

			while (i < SIM_PTES && !(t[i] & SIM_PTE_VALID))
				i++;
			/* > va, since the entry of va itself is invalid */
			chunk_end = tbase + ((uint64_t)i << sh);
			detach_empty_locked(sim, path, lvl_missing, va, iova, end, freed, writes);
			va = chunk_end < end ? chunk_end : end;
			continue;
		}
		chunk_end = (va & ~(SIM_LEAF_SPAN - 1)) + SIM_LEAF_SPAN;
		if (chunk_end > end || chunk_end < va)
			chunk_end = end;
		for (; va < chunk_end; va += SIM_GRANULE) {
			uint64_t *pte = &path[SIM_LEVELS - 1][sim_idx(SIM_LEVELS - 1, va)];

			if (!(*pte & SIM_PTE_VALID))
				continue;
			iovx_store_release(pte, 0ull);				/* E-PT1 */
			iovx_assert(sim_meta(path[SIM_LEVELS - 1])->nvalid > 0);	/* P1 */
			sim_meta(path[SIM_LEVELS - 1])->nvalid--;
			cleared += SIM_GRANULE;
			(*writes)++;
		}
		detach_empty_locked(sim, path, SIM_LEVELS - 1, va - 1, iova, end, freed, writes);
	}
	return cleared;
}

static int sim_map(struct iovx_iommu *iommu, uint64_t iova, uint64_t paddr, uint64_t size,
		   unsigned int prot, unsigned int gfp)
{
	struct iovx_sim *sim = (struct iovx_sim *)iommu;
	uint64_t gmask = SIM_GRANULE - 1, va, writes = 0, walks = 0, leafbits, written = 0;
	struct iovx_iommu_freelist undo;
	int err = 0;

	(void)gfp;
	if (!size || (iova | paddr | size) & gmask || !prot || prot & ~IOVX_IOMMU_PROT_MASK) {
		SIM_STAT_INC(sim, map_errors);
		return -EINVAL;
	}
	if (iova + size < iova || (iova + size - 1) >> SIM_IAS_BITS ||
	    paddr + size < paddr || (paddr + size - 1) >> SIM_OAS_BITS) {
		SIM_STAT_INC(sim, map_errors);
		return -ERANGE;
	}
	leafbits = SIM_PTE_VALID | SIM_PTE_TYPE | (prot & IOVX_IOMMU_READ ? SIM_PTE_R : 0) |
		   (prot & IOVX_IOMMU_WRITE ? SIM_PTE_W : 0);

	pthread_mutex_lock(&sim->pt_lock);
	/* P3: the checker. */
	pthread_mutex_lock(&sim->tlb.lock);
	for (va = iova; va < iova + size; va += SIM_GRANULE)
		if (iovx_sim_iotlb_holds_locked(&sim->tlb, va >> SIM_GRANULE_SHIFT))
			SIM_STAT_INC(sim, i2_map_violations);
	pthread_mutex_unlock(&sim->tlb.lock);

	for (va = iova; va < iova + size && !err;) {
		uint64_t *t = sim->root, chunk_end;
		unsigned int l;

		walks++;
		for (l = 0; l < SIM_LEVELS - 1; l++) {
			uint64_t *slot = &t[sim_idx(l, va)];

			if (!(*slot & SIM_PTE_VALID)) {
				uint64_t *nt = iovx_sim_table_alloc(sim, l + 1);

				if (!nt) {
					err = -ENOMEM;
					break;
				}
				sim_meta(t)->nvalid++;
				iovx_store_release(slot, (uint64_t)(uintptr_t)nt |	/* E-PT1 */
						   SIM_PTE_VALID | SIM_PTE_TYPE);
				writes++;
			}
			t = pte_table(*slot);
		}
		if (err)
			break;
		chunk_end = (va & ~(SIM_LEAF_SPAN - 1)) + SIM_LEAF_SPAN;
		if (chunk_end > iova + size)
			chunk_end = iova + size;
		for (; va < chunk_end; va += SIM_GRANULE) {
			uint64_t *pte = &t[sim_idx(SIM_LEVELS - 1, va)];

			if (*pte & SIM_PTE_VALID) {
				err = -EEXIST;
				break;
			}
			iovx_store_release(pte, ((paddr + (va - iova)) & SIM_PTE_ADDR) |
					   leafbits);				/* E-PT1 */
			sim_meta(t)->nvalid++;
			writes++;
			written += SIM_GRANULE;
		}
	}
	if (err) {
		uint64_t cleared;

		/* P2: undo [iova, va) and any table this call created and left empty. */
		iovx_iommu_freelist_init(&undo);
		cleared = unmap_locked(sim, iova, va - iova, &undo, &writes, &walks);
		/* P2: pt_lock held throughout, so the undo clears exactly the leaves written. */
		iovx_assert(cleared == written && written == va - iova);
		(void)cleared;
		/* A table created for a page that then failed is empty but attached: keep it. */
	}
	pthread_mutex_unlock(&sim->pt_lock);

	IOVX_STAT_ADD(&sim->st.walks, walks);
	IOVX_STAT_ADD(&sim->st.pte_writes, writes);
	iovx_sim_charge(sim, walks * sim->cfg.cost.walk_ns + writes * sim->cfg.cost.pte_ns);
	if (err) {
		/* As iommu_map's failure path (iommu_unmap) does: invalidate, sync, free. */
		SIM_STAT_INC(sim, map_errors);
		if (va > iova)
			(void)iovx_sim_inv_range(iommu, iova, va - iova);
		if ((va > iova || undo.head) && iovx_sim_sync(iommu) && undo.head) {
			/* The sync failed: the pages are never reused; destroy frees them. */
			pthread_mutex_lock(&sim->pt_lock);
			iovx_iommu_freelist_splice(&sim->leaked, &undo);
			pthread_mutex_unlock(&sim->pt_lock);
		}
		if (undo.head)
			iommu->ops->free_pages(iommu, &undo);
		return err;
	}
	SIM_STAT_INC(sim, maps);
	return 0;
}

static uint64_t sim_unmap(struct iovx_iommu *iommu, uint64_t iova, uint64_t size,
			  struct iovx_iommu_freelist *freed)
{
	struct iovx_sim *sim = (struct iovx_sim *)iommu;
	uint64_t gmask = SIM_GRANULE - 1, writes = 0, walks = 0, cleared, end;

	SIM_STAT_INC(sim, unmaps);
	if (!size || !freed)
		return 0;
	/* Clamp to the input address space, rounding outward to the granule. */
	end = iova + size < iova ? UINT64_MAX : iova + size;
	if (end > (1ull << SIM_IAS_BITS))
		end = 1ull << SIM_IAS_BITS;
	iova &= ~gmask;
	if (iova >= end)
		return 0;
	end = (end + gmask) & ~gmask;
	pthread_mutex_lock(&sim->pt_lock);
	cleared = unmap_locked(sim, iova, end - iova, freed, &writes, &walks);
	pthread_mutex_unlock(&sim->pt_lock);
	IOVX_STAT_ADD(&sim->st.walks, walks);
	IOVX_STAT_ADD(&sim->st.pte_writes, writes);
	iovx_sim_charge(sim, walks * sim->cfg.cost.walk_ns + writes * sim->cfg.cost.pte_ns);
	return cleared;
}

static void sim_free_pages(struct iovx_iommu *iommu, struct iovx_iommu_freelist *pages)
{
	struct iovx_sim *sim = (struct iovx_sim *)iommu;
	struct iovx_iommu_freed_page *p = pages->head, *next;
	uint64_t synced = iovx_load_acquire(&sim->cmdq.synced_inval);

	for (; p; p = next) {
		struct sim_table_meta *m = (struct sim_table_meta *)p;	/* node is first */
		uint64_t *t = (uint64_t *)((char *)m - SIM_GRANULE);

		next = p->next;
		/* I2: an invalidation issued after the detach must have been synced. */
		if (synced <= m->emptied_at)
			SIM_STAT_INC(sim, i2_table_violations);
		iovx_free(t);
		SIM_STAT_INC(sim, tables_freed);
		IOVX_STAT_ADD(&sim->st.tables_live, (uint64_t)-1);
	}
	iovx_iommu_freelist_init(pages);
}

void iovx_sim_tables_destroy(struct iovx_sim *sim)
{
	uint64_t *r = sim->root;
	unsigned int i, j, k;

	if (!r)
		return;
	/* Three fixed levels of loops instead of recursion. */
	for (i = 0; i < SIM_PTES; i++) {
		uint64_t *t1;

		if (!(r[i] & SIM_PTE_VALID))
			continue;
		t1 = pte_table(r[i]);
		for (j = 0; j < SIM_PTES; j++) {
			uint64_t *t2;

			if (!(t1[j] & SIM_PTE_VALID))
				continue;
			t2 = pte_table(t1[j]);
			for (k = 0; k < SIM_PTES; k++)
				if (t2[k] & SIM_PTE_VALID)
					iovx_free(pte_table(t2[k]));
			iovx_free(t2);
		}
		iovx_free(t1);
	}
	iovx_free(r);
	sim->root = NULL;
	while (sim->leaked.head) {
		struct iovx_iommu_freed_page *p = sim->leaked.head;

		sim->leaked.head = p->next;
		iovx_free((char *)p - SIM_GRANULE);
	}
}

const struct iovx_iommu_ops iovx_sim_ops = {
	.map = sim_map,
	.unmap = sim_unmap,
	.inv_range = iovx_sim_inv_range,
	.inv_all = iovx_sim_inv_all,
	.sync = iovx_sim_sync,
	.free_pages = sim_free_pages,
};

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * iotlb.c - the simulator's IOTLB, its DMA device and the checker of device accesses.
 *
 * The IOTLB is set-associative (sets x ways, round-robin replacement), indexed by the low
 * bits of the IOVA page number, like an SMMU TLB. It is filled only by device translations
 * that missed and walked the page tables, and entries leave it only when the command queue
 * processes an invalidation (cmdq.c) or a fill evicts them. A hit is used as the hardware
 * would use it, even when the PTE behind it changed: that is what makes invalidation
 * necessary, and the checker counts such stale hits.
 *
 * Invariants:
 *   T1 an entry is removed only by a processed invalidation or by eviction (never by map
 *      or unmap), so a map that finds its IOVA cached is an I2 violation (pgtable.c, P3);
 *   T2 a device access (translation and data transfer) runs entirely under tlb.lock, so a
 *      sync that processed an invalidation has waited for every access that used the old
 *      translation: after a strict unmap returns, the device cannot reach the buffer (I3).
 *
 * Progress: blocking (tlb.lock). Synchronization: device accesses, invalidation processing
 * (cmdq.c) and the map checker serialize on tlb.lock; page-table updates run concurrently
 * with device walks (edges E-PT1/E-PT2 in pgtable.c).
 */
#include "sim_internal.h"

int iovx_sim_iotlb_init(struct sim_iotlb *t, unsigned int sets, unsigned int ways)
{
	t->sets = sets;
	t->ways = ways;
	t->e = iovx_zalloc((size_t)sets * ways * sizeof(*t->e), IOVX_GFP_KERNEL);
	t->victim = iovx_zalloc(sets, IOVX_GFP_KERNEL);
	if (!t->e || !t->victim) {
		iovx_free(t->e);
		iovx_free(t->victim);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void iovx_sim_iotlb_destroy(struct sim_iotlb *t)
{
	if (!t->e)
		return;
	pthread_mutex_destroy(&t->lock);
	iovx_free(t->e);
	iovx_free(t->victim);
	t->e = NULL;
}

static inline struct sim_tlbe *set_of(struct sim_iotlb *t, uint64_t pfn)
{
	return &t->e[(pfn & (t->sets - 1)) * t->ways];
}

static struct sim_tlbe *lookup_locked(struct sim_iotlb *t, uint64_t pfn)
{
	struct sim_tlbe *s = set_of(t, pfn);
	unsigned int w;

	for (w = 0; w < t->ways; w++)
		if (s[w].tag == pfn + 1)
			return &s[w];
	return NULL;
}

bool iovx_sim_iotlb_holds_locked(struct sim_iotlb *t, uint64_t pfn)
{
	iovx_assert(sim_locked(&t->lock));		/* P3: the map checker reads under tlb.lock */
	return lookup_locked(t, pfn) != NULL;
}

void iovx_sim_iotlb_inval_locked(struct iovx_sim *sim, uint64_t start, uint64_t end)
{
	struct sim_iotlb *t = &sim->tlb;
	uint64_t first = start >> SIM_GRANULE_SHIFT;
	uint64_t last = (end - 1) >> SIM_GRANULE_SHIFT, n = 0, pfn;
	size_t i, total = (size_t)t->sets * t->ways;

	/* T1: entries leave only as the queue (cmdq.lock) processes an invalidation. */
	iovx_assert(sim_locked(&sim->cmdq.lock) && sim_locked(&t->lock));
	if (last - first < (uint64_t)t->sets) {
		for (pfn = first; pfn <= last; pfn++) {
			struct sim_tlbe *e = lookup_locked(t, pfn);

			if (e) {
				e->tag = 0;
				n++;
			}
		}
	} else {
		for (i = 0; i < total; i++) {
			if (t->e[i].tag && t->e[i].tag - 1 >= first && t->e[i].tag - 1 <= last) {
				t->e[i].tag = 0;
				n++;
			}
		}
	}
	IOVX_STAT_ADD(&sim->st.iotlb_invalidated, n);
}

void iovx_sim_iotlb_inval_all_locked(struct iovx_sim *sim)
{
	struct sim_iotlb *t = &sim->tlb;
	size_t i, total = (size_t)t->sets * t->ways;
	uint64_t n = 0;

	iovx_assert(sim_locked(&sim->cmdq.lock) && sim_locked(&t->lock));	/* T1 */
	for (i = 0; i < total; i++) {
		n += t->e[i].tag != 0;
		t->e[i].tag = 0;
	}
	IOVX_STAT_ADD(&sim->st.iotlb_invalidated, n);
}

bool iovx_sim_iotlb_holds(struct iovx_sim *sim, uint64_t iova)
{
	bool r;

	if (!sim)
		return false;
	pthread_mutex_lock(&sim->tlb.lock);
	r = iovx_sim_iotlb_holds_locked(&sim->tlb, iova >> SIM_GRANULE_SHIFT);
	pthread_mutex_unlock(&sim->tlb.lock);
	return r;
}

static inline uint32_t pte_prot(uint64_t pte)
{
	return (pte & SIM_PTE_R ? IOVX_IOMMU_READ : 0) | (pte & SIM_PTE_W ? IOVX_IOMMU_WRITE : 0);
}

/* Translates one page for the device (tlb.lock held): the physical page, or 0 on a fault. */
static uint64_t translate_locked(struct iovx_sim *sim, uint64_t pfn, unsigned int need,
				 unsigned int *info)
{
	struct sim_iotlb *t = &sim->tlb;
	struct sim_tlbe *e;
	uint64_t pte;

	iovx_assert(sim_locked(&t->lock));	/* T2: a device access runs under tlb.lock */
	e = lookup_locked(t, pfn);
	if (e) {
		SIM_STAT_INC(sim, iotlb_hits);
		*info |= IOVX_SIM_ACC_IOTLB_HIT;
		/* The checker's shadow walk: does the PTE still say what the entry says? */
		pte = iovx_sim_walk(sim, pfn << SIM_GRANULE_SHIFT);
		if (!(pte & SIM_PTE_VALID) || (pte & SIM_PTE_ADDR) >> SIM_GRANULE_SHIFT != e->ppfn ||
		    pte_prot(pte) != e->prot) {
			SIM_STAT_INC(sim, stale_hits);
			*info |= IOVX_SIM_ACC_STALE;
		}
		if ((e->prot & need) != need)
			return 0;
		return e->ppfn << SIM_GRANULE_SHIFT;
	}
	SIM_STAT_INC(sim, iotlb_misses);
	pte = iovx_sim_walk(sim, pfn << SIM_GRANULE_SHIFT);
	if (!(pte & SIM_PTE_VALID) || (pte_prot(pte) & need) != need)
		return 0;
	{
		struct sim_tlbe *s = set_of(t, pfn);
		size_t set = (size_t)(pfn & (t->sets - 1));
		unsigned int w = t->victim[set], i;

		for (i = 0; i < t->ways; i++) {
			if (!s[i].tag) {
				w = i;
				break;
			}
		}
		if (i == t->ways) {
			SIM_STAT_INC(sim, iotlb_evictions);
			t->victim[set] = (uint8_t)((w + 1) % t->ways);
		}
		s[w].tag = pfn + 1;
		s[w].ppfn = (pte & SIM_PTE_ADDR) >> SIM_GRANULE_SHIFT;
		s[w].prot = pte_prot(pte);
	}
	return pte & SIM_PTE_ADDR;
}

static int dev_access(struct iovx_sim *sim, uint64_t iova, void *rbuf, const void *wbuf,
		      size_t len, unsigned int *info)
{
	unsigned int need = wbuf ? IOVX_IOMMU_WRITE : IOVX_IOMMU_READ, flags = 0;
	size_t done = 0;
	int err = 0;

	if (info)
		*info = 0;
	if (!sim || (!rbuf && !wbuf) || !len || iova + len < iova)
		return -EINVAL;
	if (wbuf)
		SIM_STAT_INC(sim, dev_writes);
	else
		SIM_STAT_INC(sim, dev_reads);
	while (done < len) {
		uint64_t va = iova + done, pa;
		size_t off = (size_t)(va & (SIM_GRANULE - 1)), n = SIM_GRANULE - off;

		if (n > len - done)
			n = len - done;
		pthread_mutex_lock(&sim->tlb.lock);				/* T2 */
		pa = (va >> SIM_IAS_BITS) ? 0 :
			translate_locked(sim, va >> SIM_GRANULE_SHIFT, need, &flags);
		if (pa) {
			void *host = (void *)(uintptr_t)(pa + off);

			sim_dma_copy_begin();		/* hardware access: sim_internal.h */
			if (wbuf)
				iovx_memcpy(host, (const char *)wbuf + done, n);
			else
				iovx_memcpy((char *)rbuf + done, host, n);
			sim_dma_copy_end();
		}
		pthread_mutex_unlock(&sim->tlb.lock);
		if (!pa) {
			SIM_STAT_INC(sim, faults);
			iovx_store_relaxed(&sim->st.last_fault_iova, va);
			err = -EFAULT;
			break;
		}
		done += n;
	}
	IOVX_STAT_ADD(&sim->st.dev_bytes, done);
	if (info)
		*info = flags;
	return err;
}

int iovx_sim_dev_read(struct iovx_sim *sim, uint64_t iova, void *buf, size_t len,
		      unsigned int *info)
{
	if (!buf) {
		if (info)
			*info = 0;
		return -EINVAL;
	}
	return dev_access(sim, iova, buf, NULL, len, info);
}

int iovx_sim_dev_write(struct iovx_sim *sim, uint64_t iova, const void *buf, size_t len,
		       unsigned int *info)
{
	if (!buf) {
		if (info)
			*info = 0;
		return -EINVAL;
	}
	return dev_access(sim, iova, NULL, buf, len, info);
}

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * sim_internal.h - structures shared by the software IOMMU's files (userspace only).
 *
 *   pgtable.c  4-level radix page tables in real memory, map/unmap/free_pages ops
 *   iotlb.c    the set-associative IOTLB, the device (DMA through IOTLB + tables), checker
 *   cmdq.c     the command queue (TLBI range/all, SYNC) and the cost model
 *   sim.c      create/destroy, the ops table, statistics
 *
 * Locks (the simulator models hardware; it is not a fast path): pt_lock serializes
 * page-table updates, cmdq.lock the queue, tlb.lock the IOTLB and every device access.
 * Order: pt_lock -> tlb.lock, cmdq.lock -> tlb.lock; pt_lock is never held while taking
 * cmdq.lock. The device walks the tables under tlb.lock only, with acquire loads of PTEs
 * written by release stores (edge E-PT1), so a sync (which takes tlb.lock after the PTEs
 * were cleared) waits for every walk that may still see a detached table (edge E-PT2).
 */
#ifndef IOVX_SIM_INTERNAL_H
#define IOVX_SIM_INTERNAL_H

#include "platform.h"
#include <iovx/sim.h>

#include <pthread.h>

#define SIM_GRANULE_SHIFT	12
#define SIM_GRANULE		(1ull << SIM_GRANULE_SHIFT)
#define SIM_IAS_BITS		48
#define SIM_OAS_BITS		52
#define SIM_LEVELS		4
#define SIM_PTES		512
#define SIM_LEAF_SPAN		(SIM_GRANULE * SIM_PTES)	/* 2 MiB per leaf table */

/* PTE format: address bits [51:12], VALID, TABLE (levels 0-2) or PAGE (level 3), R, W. */
#define SIM_PTE_VALID		(1ull << 0)
#define SIM_PTE_TYPE		(1ull << 1)
#define SIM_PTE_R		(1ull << 2)
#define SIM_PTE_W		(1ull << 3)
#define SIM_PTE_ADDR		0x000ffffffffff000ull

/* Metadata of a table page, right after its 4 KiB of PTEs (never read by the walker). */
struct sim_table_meta {
	struct iovx_iommu_freed_page node;
	uint32_t nvalid;		/* valid entries; under pt_lock */
	uint32_t level;
	uint64_t emptied_at;		/* cmdq.issued_inval when detached */
};

#define SIM_TABLE_BYTES		(SIM_GRANULE + sizeof(struct sim_table_meta))

static inline struct sim_table_meta *sim_meta(uint64_t *table)
{
	return (struct sim_table_meta *)((char *)table + SIM_GRANULE);
}

static inline unsigned int sim_idx(unsigned int level, uint64_t iova)
{
	return (unsigned int)(iova >> (39 - 9 * level)) & (SIM_PTES - 1);
}

struct sim_tlbe {
	uint64_t tag;			/* iova pfn + 1; 0: invalid */
	uint64_t ppfn;
	uint32_t prot;
};

struct sim_iotlb {
	pthread_mutex_t lock;
	unsigned int sets, ways;
	struct sim_tlbe *e;		/* sets * ways */
	uint8_t *victim;		/* per set: next way to replace (round robin) */
};

enum { SIM_CMD_TLBI_RANGE = 1, SIM_CMD_TLBI_ALL = 2 };

struct sim_cmd {
	uint32_t op;
	uint64_t start, end;		/* [start, end) in bytes */
	uint64_t seq;			/* invalidation number */
};

struct sim_cmdq {
	pthread_mutex_t lock;
	struct sim_cmd *ring;
	uint64_t mask;
	uint64_t prod, cons;		/* under lock */
	uint64_t busy_until;		/* modelled: the queue is busy until this time (ns) */
	uint64_t issued_inval;		/* atomic: invalidations issued so far */
	uint64_t done_inval;		/* under lock: seq of the last one processed */
	uint64_t synced_inval;		/* atomic: done_inval as of the last completed sync */
	unsigned int fail_n;		/* under lock: syncs left to fail */
	int fail_err;
};

struct iovx_sim {
	struct iovx_iommu iommu;	/* first: iovx_sim_iommu/iovx_sim_from_iommu */
	struct iovx_sim_config cfg;
	pthread_mutex_t pt_lock;
	uint64_t *root;
	struct iovx_iommu_freelist leaked;	/* under pt_lock: pages whose sync failed */
	struct sim_iotlb tlb;
	struct sim_cmdq cmdq;
	struct iovx_sim_stats st;	/* every field updated with relaxed atomics */
};

/*
 * The device's data transfers are hardware accesses, outside the C memory model: a hostile
 * device reading a buffer while its owner's CPU writes it is what the simulator exists to
 * exercise, not a race of the program. ThreadSanitizer is told to ignore them (as
 * user_rcu.c does for liburcu's internals); their ordering with the CPU is the DMA API's
 * contract, which the checker (faults, stale hits, I2) and the data-integrity tests check.
 * Everything else the device does (IOTLB, page-table walks, statistics) stays visible.
 */
#if defined(__SANITIZE_THREAD__)
#define SIM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SIM_TSAN 1
#endif
#endif
#ifdef SIM_TSAN
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define sim_dma_copy_begin()	__tsan_ignore_thread_begin()
#define sim_dma_copy_end()	__tsan_ignore_thread_end()
#else
#define sim_dma_copy_begin()	do { } while (0)
#define sim_dma_copy_end()	do { } while (0)
#endif

#define SIM_STAT_INC(sim, f)	IOVX_STAT_ADD(&sim->st.f, 1)

/*
 * For iovx_assert only: m is locked (by the caller, when the caller is meant to hold it).
 * A lock the caller holds always fails trylock; one nobody holds is taken and given back.
 */
static inline bool sim_locked(pthread_mutex_t *m)
{
	if (pthread_mutex_trylock(m))
		return true;
	pthread_mutex_unlock(m);
	return false;
}

/* pgtable.c */
extern const struct iovx_iommu_ops iovx_sim_ops;
uint64_t *iovx_sim_table_alloc(struct iovx_sim *sim, unsigned int level);
void iovx_sim_tables_destroy(struct iovx_sim *sim);
/* Walk for the device or the CPU: the leaf PTE of iova, 0 when unmapped. */
uint64_t iovx_sim_walk(struct iovx_sim *sim, uint64_t iova);

/* iotlb.c */
int iovx_sim_iotlb_init(struct sim_iotlb *t, unsigned int sets, unsigned int ways);
void iovx_sim_iotlb_destroy(struct sim_iotlb *t);
/* tlb.lock held. */
bool iovx_sim_iotlb_holds_locked(struct sim_iotlb *t, uint64_t pfn);
void iovx_sim_iotlb_inval_locked(struct iovx_sim *sim, uint64_t start, uint64_t end);
void iovx_sim_iotlb_inval_all_locked(struct iovx_sim *sim);

/* cmdq.c */
int iovx_sim_cmdq_init(struct sim_cmdq *q, unsigned int entries);
void iovx_sim_cmdq_destroy(struct sim_cmdq *q);
int iovx_sim_inv_range(struct iovx_iommu *iommu, uint64_t iova, uint64_t size);
int iovx_sim_inv_all(struct iovx_iommu *iommu);
int iovx_sim_sync(struct iovx_iommu *iommu);
/* Charges ns to the calling thread: accounted, and waited when charge_time is set. */
void iovx_sim_charge(struct iovx_sim *sim, uint64_t ns);
void iovx_sim_wait_until(struct iovx_sim *sim, uint64_t t_ns);

#endif /* IOVX_SIM_INTERNAL_H */

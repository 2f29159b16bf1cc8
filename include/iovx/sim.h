/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/sim.h - a software IOMMU for userspace (not part of the kernel build).
 *
 * One simulated IOMMU translating for one DMA device:
 *   - page tables: 4-level radix, 4 KiB granule, 48-bit IOVA, R/W permissions, real memory
 *     (one 4 KiB page per table, one 64-bit store per PTE); tables live as long as
 *     io-pgtable-arm keeps them: unmap detaches (and returns) a table only when it clears
 *     the table's whole span, or every table it empties with eager_table_free;
 *   - an IOTLB: set-associative, filled only by device translations, changed only when the
 *     command queue processes an invalidation;
 *   - a command queue (TLBI range, TLBI all, SYNC) shared by all threads, with a cost model;
 *   - the device: DMA reads and writes through IOTLB and page tables, faults recorded;
 *   - the checker: a map while the IOTLB still holds a translation of the IOVA is an I2
 *     violation; a page-table page freed before an invalidation and a sync completed after
 *     its unmap is one too; an access through an IOTLB entry whose PTE no longer matches is
 *     counted as a stale hit.
 * Physical addresses are host virtual addresses: the device reads and writes the process's
 * memory at the translated address. iovx_sim_iommu() gives the iovx/iommu.h ops.
 *
 * Cost model. Every page-table walk, PTE write, queued command and sync is charged a
 * modelled time (struct iovx_sim_cost). With charge_time the calling thread busy-waits for
 * it, so wall-clock latencies show the model; without, it is only accounted (tests). The
 * queue is one resource: a command is processed no earlier than the queue is free
 * (busy-until time), so many CPUs invalidating at once wait for each other.
 *
 * Concurrency: every call except create/destroy may run from many threads at once (map and
 * unmap on disjoint ranges, as iovx/iommu.h requires).
 */
#ifndef IOVX_SIM_H
#define IOVX_SIM_H

#include <iovx/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iovx/iommu.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Modelled costs in nanoseconds. Defaults (iovx_sim_cost_default) reproduce the SMMUv3
 * figures of docs/architecture.md §1 for the zswap pattern (1-page and 2-page map_sg and
 * unmap_sg); the sources and the calibration run are in docs/sim.md:
 *   walk_ns  1800  one descent from the root per leaf table touched by a map/unmap call
 *                  (arm_lpae_map/unmap walk "several levels each", plus the iommu_map entry
 *                  and page-size split)
 *   pte_ns    500  one PTE store made visible to a non-coherent walker (the cache clean
 *                  __arm_lpae_sync_pte issues); a table entry costs the same, but tables
 *                  persist (see above), so the steady state writes leaves only
 *   cmd_ns    500  queue occupancy of one command (TLBI or CMD_SYNC) consumed by the SMMU
 *   sync_ns  2500  CMD_SYNC round trip after the queue drained (completion signal, poll)
 * strict map_sg: walk + n*pte = 2.3 us (1 page), 2.8 us (2 pages): the seed's 2-4 us band;
 * strict unmap_sg: walk + n*pte + cmd + cmd + sync = 5.8 / 6.3 us: the seed's 4-8 us band.
 */
struct iovx_sim_cost {
	uint64_t walk_ns;
	uint64_t pte_ns;
	uint64_t cmd_ns;
	uint64_t sync_ns;
};

IOVX_API void iovx_sim_cost_default(struct iovx_sim_cost *c);

struct iovx_sim_config {
	unsigned int iotlb_sets;	/* power of two, 1..65536 (default 64) */
	unsigned int iotlb_ways;	/* 1..16 (default 4) */
	unsigned int cmdq_entries;	/* power of two, 2..65536 (default 256) */
	bool charge_time;		/* busy-wait the modelled cost (benchmarks) */
	/*
	 * Detach a table as soon as an unmap leaves it empty (default false: only when the
	 * unmap covers its whole span, as io-pgtable-arm). Tests use it so that table pages
	 * go through the I2 path (free only after inval + sync) on every unmap.
	 */
	bool eager_table_free;
	struct iovx_sim_cost cost;
};

/* Defaults as documented above; charge_time and eager_table_free false. */
IOVX_API void iovx_sim_config_init(struct iovx_sim_config *cfg);

struct iovx_sim;

/* -EINVAL bad configuration or NULL; -ENOMEM. */
IOVX_API int iovx_sim_create(const struct iovx_sim_config *cfg, struct iovx_sim **out);

/* Frees everything, including page tables still mapped and pages never freed. NULL ok. */
IOVX_API void iovx_sim_destroy(struct iovx_sim *sim);

/* The IOMMU ops of this simulator (granule 12, ias 48, oas 52). */
IOVX_API struct iovx_iommu *iovx_sim_iommu(struct iovx_sim *sim);

/* Inverse of iovx_sim_iommu: the simulator behind ops it returned, else NULL. */
IOVX_API struct iovx_sim *iovx_sim_from_iommu(struct iovx_iommu *iommu);

/* Outcome flags of a device access (optional out parameter). */
#define IOVX_SIM_ACC_IOTLB_HIT	(1u << 0)	/* at least one page hit the IOTLB */
#define IOVX_SIM_ACC_STALE	(1u << 1)	/* a hit whose PTE no longer matches */

/*
 * The device reads len bytes at iova into buf (dev_read) or writes buf at iova (dev_write),
 * translating page by page. Returns 0, or
 *   -EFAULT  a page is unmapped or lacks the permission (a fault is recorded; pages before
 *            it were transferred, as a real device's would be)
 *   -EINVAL  sim or buf NULL, len 0, or iova + len overflows
 * info (may be NULL) receives IOVX_SIM_ACC_* flags.
 */
IOVX_API int iovx_sim_dev_read(struct iovx_sim *sim, uint64_t iova, void *buf, size_t len,
		      unsigned int *info);
IOVX_API int iovx_sim_dev_write(struct iovx_sim *sim, uint64_t iova, const void *buf, size_t len,
		       unsigned int *info);

/*
 * CPU-side walk (no IOTLB, no statistics): 0 and the physical address and prot of iova,
 * or -ENOENT when unmapped, -EINVAL for NULL sim.
 */
IOVX_API int iovx_sim_iova_to_phys(struct iovx_sim *sim, uint64_t iova, uint64_t *phys,
			  unsigned int *prot);

/* Does the IOTLB hold a translation of the page containing iova? */
IOVX_API bool iovx_sim_iotlb_holds(struct iovx_sim *sim, uint64_t iova);

/* The next n syncs (n > 0) fail with err (-EIO or -ETIMEDOUT); for tests. */
IOVX_API void iovx_sim_fail_syncs(struct iovx_sim *sim, unsigned int n, int err);

/* Statistics: one X-macro list generates the struct and the printer. */
#define IOVX_SIM_STATS(X)						\
	X(maps, "map calls that succeeded")				\
	X(map_errors, "map calls that failed")				\
	X(unmaps, "unmap calls")					\
	X(walks, "page-table descents from the root (charged walk_ns)")	\
	X(pte_writes, "PTE stores, leaf and table (charged pte_ns)")	\
	X(tables_alloc, "page-table pages allocated")			\
	X(tables_emptied, "page-table pages detached by unmap")		\
	X(tables_freed, "page-table pages freed by free_pages")		\
	X(tlbi_range, "TLBI range commands queued")			\
	X(tlbi_all, "TLBI all commands queued")				\
	X(syncs, "CMD_SYNC commands")					\
	X(sync_errors, "syncs that failed (injected)")			\
	X(cmdq_full, "issues that found the queue full")		\
	X(iotlb_hits, "device translations served by the IOTLB")	\
	X(iotlb_misses, "device translations that walked the tables")	\
	X(iotlb_evictions, "IOTLB entries replaced by a fill")		\
	X(iotlb_invalidated, "IOTLB entries removed by invalidations")	\
	X(dev_reads, "device read accesses")				\
	X(dev_writes, "device write accesses")				\
	X(dev_bytes, "bytes transferred by the device")			\
	X(faults, "device accesses that faulted")			\
	X(stale_hits, "IOTLB hits whose PTE no longer matched")		\
	X(i2_map_violations, "maps while the IOTLB held the IOVA (I2)")	\
	X(i2_table_violations, "table pages freed before inval+sync (I2)") \
	X(model_ns, "modelled time charged, all threads")		\
	X(cmdq_wait_ns, "modelled time waiting for a busy queue")

struct iovx_sim_stats {
#define IOVX_SIM_STAT_FIELD(name, doc) uint64_t name;
	IOVX_SIM_STATS(IOVX_SIM_STAT_FIELD)
#undef IOVX_SIM_STAT_FIELD
	uint64_t last_fault_iova;	/* IOVA of the most recent fault */
	uint64_t tables_live;		/* page-table pages allocated and not freed */
};

/* Snapshot (counters are exact when no call is in flight). -EINVAL for NULL. */
IOVX_API int iovx_sim_get_stats(struct iovx_sim *sim, struct iovx_sim_stats *st);

/* Writes the cost model, one "name value" line per parameter, each prefixed by prefix. */
IOVX_API int iovx_sim_cost_format(const struct iovx_sim_cost *c, const char *prefix, char *buf,
			 size_t len);

#ifdef __cplusplus
}
#endif

#endif /* IOVX_SIM_H */

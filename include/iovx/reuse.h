/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/reuse.h - reuse-tagged DMA mappings (docs/reuse.md).
 *
 * An upper layer that maps the same buffer again and again (zswap's two destination pages,
 * a NIC's RX ring, pre-registered block buffers) tags it; a DMA domain in
 * IOVX_DMA_MODE_REUSE then maps a tagged buffer once and serves every later map of it from a
 * table: no IOVA allocation, no page-table write, no invalidation. Unmap only drops a
 * reference; the translation stays until the upper layer stops reuse (or the table evicts
 * the idle entry), which is a real unmap with a synchronous invalidation. Untagged buffers
 * take the domain's base mode (cfg->fallback: STRICT, the default, or DEFERRED) exactly as
 * in that mode.
 *
 * Tagging:
 *   sg lists      iovx_sg_mark_reusable() sets IOVX_SG_REUSE on every entry; map_sg and
 *                 unmap_sg of a list whose first entry carries it go through the table.
 *   single maps   the attribute IOVX_DMA_ATTR_REUSE (iovx/dma.h) on map_single and on the
 *                 matching unmap_single (an unmap_single of a table mapping without it, or
 *                 with another size or direction, is -EINVAL; syncs need no attribute).
 * A hit whose IOVA lies above a DMA mask lowered since the entry was made is not used: that
 * map is a miss and gets a new entry of the same key below the mask, found first from then
 * on; the old entry stays until a stop or an eviction.
 *
 * The table is keyed by (domain, kind single/sg, every segment's address and length,
 * direction, attrs other than SKIP_CPU_SYNC and REUSE) -> {IOVA, DMA segments, refcount,
 * state}. A map of the same buffer with another direction, other attrs, or a range that only
 * overlaps a tagged one is another key: it gets its own entry and its own IOVA, never a
 * wrong one (the DMA API allows overlapping mappings). Two maps of one tagged buffer in
 * flight at once share the IOVA and hold two references; each unmap drops one.
 *
 * Stopping: stop tears down every entry of the domain that overlaps the given bytes, in any
 * direction: it marks them DYING (no new map uses them), waits for their references to
 * drain (the unmaps of maps in flight), unmaps them, invalidates and syncs (deferred base:
 * a synchronous flush), frees the IOVAs, and only then returns: after a stop returns 0 or a
 * count, the device can reach no byte of the range through the domain (I3). A map racing a
 * stop of the same buffer (a caller bug) gets a fresh mapping, never one from a dying
 * entry. Stop must not be called by a thread that holds an unmapped-later mapping of the
 * buffer (it would wait for itself); it may sleep (kernel: process context).
 *
 * Eviction: the table holds at most 2^cfg->reuse_table_order entries; a miss that finds it
 * full, and any map whose IOVA allocation fails, first evicts idle entries (no reference),
 * oldest use first; eviction is a real unmap plus invalidation. A tagged map that still
 * finds no room (every entry referenced) gets an overflow entry beyond the capacity: it
 * serves maps of its key like any entry, a stop reaches it (waits for its references, tears
 * it down), and the unmap that drops its last reference tears it down with a strict
 * invalidation. Every tagged mapping is therefore the table's, whatever the pressure, and
 * no tagged map fails for lack of table room; only when not even an overflow entry can be
 * allocated does it fail, with -ENOMEM, mapping nothing. A revivable (untagged) map in a
 * full table is made outside it by the base mode (untagged_fallbacks).
 *
 * Errors (nothing changes on error):
 *   -EINVAL    NULL, nents <= 0 or above IOVX_DMA_MAX_SEGS, an entry of length 0;
 *              stop of a list no entry of which is tagged (never marked)
 *   -EALREADY  stop of a list already stopped (every entry stopped, none re-tagged)
 *   -EOVERFLOW address + length wraps
 *   -EOPNOTSUPP the domain is not in reuse mode (iovx_dma_* calls below)
 *
 * Concurrency: map, unmap and sync of tagged buffers are lock-free (an RCU read section over
 * the table, one CAS on the entry's reference word); stop, evict and the stats may run
 * concurrently with all of them and with each other. Marks touch only the caller's list.
 */
#ifndef IOVX_REUSE_H
#define IOVX_REUSE_H

#include <iovx/api.h>


#include <iovx/dma.h>

#ifdef __cplusplus
extern "C" {
#endif

/* struct iovx_dma_sg.flags */
#define IOVX_SG_REUSE		(1u << 0)	/* tagged: mapped through the reuse table */
#define IOVX_SG_REUSE_STOPPED	(1u << 1)	/* a stop tore it down (cleared by a mark) */
/*
 * Bits 8..31 of sg[0].flags are the table's own: map_sg stores a hint there (where the
 * entry is) that makes the next map and unmap of the list cheaper. A hint is always checked;
 * leave those bits as map_sg wrote them (the marks clear them).
 */
#define IOVX_SG_REUSE_PRIVATE	0xffffff00u

#define IOVX_REUSE_DEFAULT_TABLE_ORDER	10	/* 1024 entries per domain (~200 KiB) */
#define IOVX_REUSE_MIN_TABLE_ORDER	2
#define IOVX_REUSE_MAX_TABLE_ORDER	20

/*
 * Tags the first nents entries of sg as reusable: their flags become IOVX_SG_REUSE (no
 * STOPPED, no hint). Touches nothing else. 0, -EINVAL (NULL, nents out of range, an
 * entry of length 0), -EOVERFLOW (phys + offset + length wraps).
 */
IOVX_API int iovx_sg_mark_reusable(struct iovx_dma_sg *sg, int nents);

/*
 * Stops reuse of the list's buffers in every reuse-mode domain of the process (the upper
 * layer does not know which devices mapped them): for each entry, the bytes
 * [phys + offset, + length) are stopped as iovx_dma_stop_reuse does, then the entry's
 * flags become IOVX_SG_REUSE_STOPPED. Returns the number of table entries torn down (>= 0)
 * or -EINVAL (NULL, nents out of range, no entry tagged), -EALREADY (already stopped).
 * May sleep.
 */
IOVX_API int iovx_sg_mark_stop_reuse(struct iovx_dma_sg *sg, int nents);

/*
 * Buffer level: stops reuse of every entry overlapping [phys, phys + size) in every reuse
 * domain (iovx_sg_mark_stop_reuse without a list). Returns the number torn down, or -EINVAL
 * (size 0), -EOVERFLOW. May sleep.
 */
IOVX_API int iovx_buf_stop_reuse(uint64_t phys, size_t size);

/*
 * One domain: tears down every entry of dom overlapping [phys, phys + size), waiting for
 * their references to drain. Returns the number torn down (0: none overlapped), -EINVAL
 * (NULL, size 0), -EOVERFLOW, -EOPNOTSUPP (not reuse mode), or the sync error (-EIO,
 * -ETIMEDOUT: the entries are gone and their IOVAs leaked, never reused). May sleep.
 */
IOVX_API int iovx_dma_stop_reuse(struct iovx_dma_domain *dom, uint64_t phys, size_t size);

/*
 * Evicts up to max idle entries (no reference), least recently used first; max 0: all idle
 * entries. Returns the number evicted, -EINVAL (NULL), -EOPNOTSUPP (not reuse mode).
 */
IOVX_API int iovx_dma_reuse_evict(struct iovx_dma_domain *dom, unsigned int max);

#define IOVX_REUSE_STATS(X)						\
	X(hits, "tagged maps served by a table entry")			\
	X(misses, "tagged maps that created an entry")			\
	X(untagged_fallbacks, "revive mode: untagged maps kept outside the table (full)") \
	X(overflows, "tagged maps given an entry beyond the capacity (full, or above the mask)") \
	X(evictions, "idle entries evicted (unmapped + invalidated)")	\
	X(stops, "entries torn down by a stop")				\
	X(revivals, "revive mode: maps that found their mapping idle in its window") \
	X(expired, "revive mode: idle mappings torn down at the end of their window") \
	X(entries, "entries in the table now (snapshot)")		\
	X(active, "entries with a reference now (snapshot)")		\
	X(refs, "references held now (snapshot)")			\
	X(capacity, "most entries the table holds")			\
	X(mem_bytes, "memory of the table and its entries (snapshot)")

struct iovx_reuse_stats {
#define IOVX_REUSE_STAT_FIELD(name, doc) uint64_t name;
	IOVX_REUSE_STATS(IOVX_REUSE_STAT_FIELD)
#undef IOVX_REUSE_STAT_FIELD
};

/* Snapshot of dom's reuse table. 0, -EINVAL (NULL), -EOPNOTSUPP (not reuse mode). */
IOVX_API int iovx_dma_get_reuse_stats(struct iovx_dma_domain *dom,
				      struct iovx_reuse_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* IOVX_REUSE_H */

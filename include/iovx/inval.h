/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/inval.h - deferred, batched IOTLB invalidation for one IOMMU domain (docs/inval.md).
 *
 * An unmapped IOVA range and the page-table pages its unmap emptied may be reused only after
 * an invalidation covering the unmap has completed (I2). Strict mode pays one invalidation
 * and one sync per unmap; an invalidation context instead queues {range, table pages,
 * generation} on a per-CPU lock-free ring and releases the entries (IOVA range back to the
 * IOVA allocator, pages to ops->free_pages) in batches, after one flush serving every CPU,
 * each ring by its own CPU.
 *
 * Generations: start_gen counts flushes that began, finish_gen the last one that completed.
 * An entry records start_gen at enqueue and is released only once a flush F that collected
 * it with F > recorded start has completed its sync (so finish_gen >= F > start). See
 * docs/inval.md for why this is safe (I2) and how staleness is bounded (I4).
 *
 * Release: a flush only invalidates and syncs; the completed entries of a ring are released
 * by whoever next touches that ring from its own CPU slot (queue or poll there), so IOVAs go
 * back to the cache of the CPU that unmapped them; rings idle for max_age_ns are drained by
 * the timer (or any poll), and iovx_inval_flush/destroy drain everything.
 *
 * Flush triggers: 3/4 of a ring's size pending (or a full ring), age, and iovx_inval_flush
 * (synchronous). Age (max_age_ns, default 1 ms) is enforced by every enqueue and poll: each
 * compares the oldest uncovered entry's age with 3/4 of the bound and flushes itself; a
 * one-shot timer (armed by the first enqueue into idle queues) does the same when no thread
 * touches the context.
 *
 * Staleness (an entry's publication to the completion of the flush covering it) is bounded
 *   by count  always: at most 2^ring_order entries per ring (an enqueue that finds every
 *             ring full flushes, or invalidates its own range, before returning), and the
 *             enqueue that leaves 3/4 of a ring's size unflushed over all rings starts a
 *             flush (or joins one running on time);
 *   by time   when some thread enters the context (enqueue, poll, kick, flush) or the timer
 *             fires on time: at most 3/4 of max_age_ns + the longest gap between those
 *             entries + the flush itself (+ 1/8 of max_age_ns and one gap for each flusher
 *             preempted before its sync returned);
 * and NOT bounded in time when no thread enters the context and the timer is late (a
 * starved userspace timer thread, softirq latency): the entry then waits for the timer or
 * the next caller (measured: several ms against 1 ms on a loaded 2-CPU machine;
 * max_stale_ns records it). iovx_inval_flush ends it synchronously.
 *
 * Concurrent triggers collapse: a trigger that finds a flush running on time returns (ring,
 * age) or waits for its entries to complete (explicit flush) instead of issuing its own; but
 * a flush that has run for 1/8 of the bound (its thread preempted) is late, and the next
 * trigger begins a flush of its own that takes over the late one's entries (invalidation is
 * idempotent). A flush with more than flush_all_threshold entries issues one invalidate-all
 * instead.
 *
 * Faults: when the sync of a flush fails (-EIO, -ETIMEDOUT), the entries it collected are
 * quarantined: their IOVAs never go back to the allocator and their table pages are never
 * freed (both counted); the error is returned by iovx_inval_flush and kept in the stats.
 *
 * Concurrency: iovx_inval_queue, _flush, _kick, _poll and _get_stats may run concurrently
 * with each other from any thread; create and destroy must not race with anything on the
 * context. iovx_inval_queue never waits for another thread (lock-free), neither for a
 * flush nor for another thread's release; when its ring is full and a flush is running on
 * time elsewhere it invalidates and syncs its own range directly. _flush may wait (for the
 * hardware, for a flush running on time on another thread, for another thread's release):
 * it is a _sync call.
 */
#ifndef IOVX_INVAL_H
#define IOVX_INVAL_H

#include <iovx/api.h>


#include <iovx/iommu.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iovx_iova_domain;
struct iovx_inval;

#define IOVX_INVAL_DEFAULT_RING_ORDER	8		/* 256 entries per CPU slot */
#define IOVX_INVAL_MIN_RING_ORDER	2
#define IOVX_INVAL_MAX_RING_ORDER	16
#define IOVX_INVAL_DEFAULT_MAX_AGE_NS	1000000ull	/* 1 ms */
#define IOVX_INVAL_MIN_MAX_AGE_NS	10000ull	/* 10 us */
#define IOVX_INVAL_MAX_MAX_AGE_NS	10000000000ull	/* 10 s */
#define IOVX_INVAL_DEFAULT_FLUSH_ALL	32		/* ranges per flush before inv_all */

/* Flags. */
#define IOVX_INVAL_F_NO_TIMER	(1u << 0)	/* no age timer: the caller polls */

struct iovx_inval_config {
	unsigned int ring_order;	/* entries per CPU ring: 2^order, 2..16 */
	uint64_t max_age_ns;		/* age bound (see above), 10 us .. 10 s */
	unsigned int flush_all_threshold;	/* > this many ranges: one inv_all; 0: always */
	unsigned int flags;		/* IOVX_INVAL_F_* */
};

/* Fills cfg with the defaults above (no flags). NULL is ignored. */
IOVX_API void iovx_inval_config_init(struct iovx_inval_config *cfg);

/*
 * Creates a context over iommu's ops releasing IOVAs into iovad (whose pfns are in units of
 * iommu->granule_shift). cfg NULL: defaults. -EINVAL: iommu, its ops or iovad NULL, or cfg
 * out of range or with unknown flags; -ENOMEM.
 */
IOVX_API int iovx_inval_create(struct iovx_iommu *iommu, struct iovx_iova_domain *iovad,
			       const struct iovx_inval_config *cfg, struct iovx_inval **out);

/*
 * Flushes and releases everything still queued, stops the timer, frees the context; page-
 * table pages quarantined earlier are freed if one more invalidate-all + sync succeeds,
 * else left to the IOMMU. Returns the number of ranges quarantined over the context's
 * life (>= 0, capped at INT32_MAX), or -EINVAL for NULL.
 */
IOVX_API int iovx_inval_destroy(struct iovx_inval *ctx);

/*
 * Queues [pfn, pfn + npages) (granules; what iovx_iova_alloc returned, with the same
 * npages), whose page tables the caller has already cleared, with the table pages that
 * unmap emptied (pages may be NULL; the list is taken and left empty). The range may be
 * released from any thread later. Returns 0, or -EINVAL (ctx NULL, npages 0, the range
 * beyond the IOMMU's input address size); nothing changes on error.
 */
IOVX_API int iovx_inval_queue(struct iovx_inval *ctx, uint64_t pfn, uint64_t npages,
			      struct iovx_iommu_freelist *pages);

/*
 * Synchronous drain: returns once every entry queued before the call was released or
 * quarantined, releasing every ring's completed entries itself (so, unlike the triggers and
 * iovx_inval_kick, it funnels them into the caller's CPU cache; for teardown and
 * exhaustion, not a periodic flusher). Collapses with concurrent flushes that run on time.
 * 0, -EINVAL (NULL), or the sync error (-EIO, -ETIMEDOUT) of a flush that began after the
 * call (its entries are quarantined).
 */
IOVX_API int iovx_inval_flush(struct iovx_inval *ctx);

/*
 * One flush now, without the drain: invalidates and syncs everything queued so far (or
 * collapses into a flush running on time, never waiting for it; a late one it helps) and
 * releases only the caller's own
 * ring; every other ring's completed entries are released by its own CPU slot (its next
 * queue or poll), or by the timer/a poll once that slot has been idle for max_age_ns. For a
 * dedicated flushing thread. Returns 1 if it flushed, 0 if it collapsed, -EINVAL (NULL), or
 * the sync error (the entries are quarantined).
 */
IOVX_API int iovx_inval_kick(struct iovx_inval *ctx);

/*
 * The age trigger without the timer: flushes when some queue holds an entry older than
 * 3/4 of the bound or a running flush is late (never waits for a flush running elsewhere).
 * Also the release hook: releases the completed entries of the caller's CPU ring, and of
 * rings idle for the bound. Returns 1 if it flushed, 0 if not, -EINVAL for NULL, or a sync
 * error.
 */
IOVX_API int iovx_inval_poll(struct iovx_inval *ctx);

#define IOVX_INVAL_STATS(X)						\
	X(queued, "entries queued")					\
	X(released, "entries released after a covering flush")		\
	X(released_remote, "of those, released off their ring's CPU slot (idle/drain)") \
	X(pending, "entries queued and not yet released (snapshot)")	\
	X(unflushed, "entries queued, not yet collected by a flush (snapshot)") \
	X(flushes, "flushes performed")					\
	X(flushes_ring, "flushes triggered by a (nearly) full ring")	\
	X(flushes_age, "flushes triggered by age (timer or poll)")	\
	X(flushes_explicit, "flushes triggered by iovx_inval_flush")	\
	X(collapsed, "triggers served by a flush of another thread")	\
	X(flushes_late, "flushes begun while another ran (late, or an old entry seen)") \
	X(stolen, "entries taken over from an older running flush")	\
	X(direct, "entries invalidated alone (full ring, flush busy)")	\
	X(inv_ranges, "range invalidations issued")			\
	X(inv_alls, "invalidate-all commands issued")			\
	X(syncs, "syncs issued")					\
	X(sync_errors, "syncs that failed")				\
	X(quarantined_ranges, "ranges kept out for good after a failed sync") \
	X(quarantined_pages, "IOVA granules kept out for good")	\
	X(quarantined_tables, "page-table pages kept out")		\
	X(max_stale_ns, "longest enqueue-to-completed-flush time seen")

struct iovx_inval_stats {
#define IOVX_INVAL_STAT_FIELD(name, doc) uint64_t name;
	IOVX_INVAL_STATS(IOVX_INVAL_STAT_FIELD)
#undef IOVX_INVAL_STAT_FIELD
	int last_error;			/* last sync error (0: none) */
};

/* Snapshot of the counters. -EINVAL for NULL. */
IOVX_API int iovx_inval_get_stats(struct iovx_inval *ctx, struct iovx_inval_stats *st);

/*
 * The gather: the unmapped ranges of one operation (an sg unmap, a flush) coalesced into
 * as few range invalidations as possible. Overlapping or adjacent ranges merge; a range
 * that does not touch the pending one issues the pending one first. Strict unmap and the
 * deferred flush both use it, each followed by exactly one sync. Not thread-safe: a
 * gather belongs to one caller for one operation (on the stack).
 */
struct iovx_inval_gather {
	uint64_t start, end;		/* pending range (bytes of IOVA); end 0: none */
	unsigned int issued;		/* range invalidations issued so far */
};

static inline void iovx_inval_gather_init(struct iovx_inval_gather *g)
{
	g->start = 0;
	g->end = 0;
	g->issued = 0;
}

/* Adds [start, end) (start < end). iommu and g must be valid (not checked: hot path). */
IOVX_API void iovx_inval_gather_add(struct iovx_iommu *iommu, struct iovx_inval_gather *g,
				    uint64_t start, uint64_t end);
/* Issues the pending range, if any. */
IOVX_API void iovx_inval_gather_issue(struct iovx_iommu *iommu, struct iovx_inval_gather *g);

#ifdef __cplusplus
}
#endif

#endif /* IOVX_INVAL_H */

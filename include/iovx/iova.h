/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/iova.h - lock-free IOVA allocator with the kernel's allocation semantics.
 *
 * A domain hands out ranges of I/O virtual page frames ("pfns", in units of the domain's
 * granule) inside [start_pfn, end_pfn). An allocation of n granules is aligned to
 * roundup_pow_of_two(n) and lies wholly below the caller's limit, as drivers/iommu/iova.c
 * does for dma-iommu; pfn 0 is never returned. Every path is lock-free: per-CPU magazine
 * caches in front of a lock-free depot and a lock-free buddy backend.
 *
 * Concurrency: every call except create/destroy may run concurrently with every other on
 * the same domain, from any thread (kernel: any context that may take GFP_ATOMIC memory).
 * destroy must not race with anything on the domain. audit() is exact only when no other
 * call on the domain is in flight; concurrently it stays safe but its sums may not close.
 *
 * Errors are negative errno values; a call that fails changes nothing.
 */
#ifndef IOVX_IOVA_H
#define IOVX_IOVA_H

#include <iovx/api.h>


#ifdef __cplusplus
extern "C" {
#endif

/* Largest cacheable order: classes 0..IOVX_IOVA_MAX_CACHED_ORDER (1 .. 1024 granules). */
#define IOVX_IOVA_MAX_CACHED_ORDER	10
/*
 * Default cached orders 0..10: 1 .. 1024 granules (4 MiB at a 4 KiB granule). Magazines of
 * 1 and 2 granules hold 255 entries, then 127 up to 64 granules, then halving, at least 7,
 * so the granules a cache can hoard stay bounded (see hoard_bound in the statistics).
 */
#define IOVX_IOVA_DEFAULT_CACHED_ORDER	10
/* No per-call limit: the domain's end. */
#define IOVX_IOVA_NO_LIMIT		(~(uint64_t)0)

/* Domain flags. */
#define IOVX_IOVA_CHECKED	(1u << 0)	/* detect double and wild frees (costs an atomic) */
#define IOVX_IOVA_NO_CACHE	(1u << 1)	/* every call goes to the backend (for tests) */

struct iovx_iova_domain;

struct iovx_iova_config {
	unsigned int granule_shift;	/* 12..16 (4 KiB .. 64 KiB); informational for callers */
	uint64_t start_pfn;		/* first usable pfn; pfn 0 is never used in any case */
	uint64_t end_pfn;		/* one past the last usable pfn; at most 2^52 */
	unsigned int max_cached_order;	/* cached classes 0..this; <= IOVX_IOVA_MAX_CACHED_ORDER */
	/*
	 * Depot bound in full magazines of the two smallest classes (halved every second
	 * class, at least 4); 0: the default, 4 per CPU within 32..512, of which the two
	 * smallest classes (whose magazines are twice as big) keep half.
	 */
	unsigned int depot_max;
	unsigned int flags;		/* IOVX_IOVA_* */
	/*
	 * Idle trimming: a per-CPU cache or a class of the depot that shows no change for this
	 * long gives its ranges back to the backend, and a trimmed cache its magazines to the
	 * depot, from the platform's timer (nothing on the cached path). 0: never (default).
	 */
	uint64_t trim_idle_ns;
};

/* Fills cfg with defaults: 4 KiB granule, classes 0..8, depot default, no flags, no trim. */
IOVX_API void iovx_iova_config_init(struct iovx_iova_config *cfg, uint64_t start_pfn, uint64_t end_pfn);

/*
 * Creates a domain. -EINVAL: cfg or out NULL, granule_shift outside 12..16, start >= end,
 * end_pfn > 2^52, max_cached_order too large, unknown flags. -ENOMEM: no memory.
 */
IOVX_API int iovx_iova_domain_create(const struct iovx_iova_config *cfg, struct iovx_iova_domain **out);

/* Destroys a domain and everything it holds. NULL is accepted. */
IOVX_API void iovx_iova_domain_destroy(struct iovx_iova_domain *dom);

/*
 * Allocates npages granules aligned to roundup_pow_of_two(npages). Sizes of the cached
 * classes occupy the whole power-of-two block (dma-iommu rounds them up for its caches
 * too); larger sizes occupy exactly npages granules. The whole aligned block lies below
 * limit_pfn: pfn + roundup_pow_of_two(npages) <= limit_pfn (exclusive: pass the kernel's
 * inclusive dma_limit >> shift plus one, or IOVX_IOVA_NO_LIMIT). Returns the first pfn
 * (> 0), or
 *   -EINVAL  dom NULL, npages 0, roundup_pow_of_two(npages) larger than the domain, or a
 *            limit that leaves no room above start_pfn for such a block
 *   -ENOMEM  no such range is free, even after pulling back every cache (reclaim). In
 *            the kernel, a caller with interrupts disabled does not wait for other CPUs to
 *            drain their caches (it only asks them to): it may get -ENOMEM while another
 *            CPU's cache holds a suitable range, which that CPU gives back as soon as it
 *            takes the interrupt. Atomic callers with interrupts enabled wait for the
 *            other CPUs at most 100 ms (one may be spinning on a lock the caller holds);
 *            callers that could sleep get the full promise.
 */
IOVX_API int64_t iovx_iova_alloc(struct iovx_iova_domain *dom, uint64_t npages, uint64_t limit_pfn);

/*
 * Frees a range returned by iovx_iova_alloc with the same npages.
 *   -EINVAL  dom NULL, npages 0, pfn not aligned to roundup_pow_of_two(npages), or the
 *            block outside [start_pfn, end_pfn)
 *   -EFAULT  checked domains only: the block is not currently allocated with that size
 *            (double free, never allocated, or another size); nothing changes
 * Unchecked domains trust the caller, as the kernel does.
 */
IOVX_API int iovx_iova_free(struct iovx_iova_domain *dom, uint64_t pfn, uint64_t npages);

/*
 * Takes [pfn, pfn + npages) out of the allocator for good (MSI windows, reserved regions).
 * Any alignment and length. Parts outside the domain are ignored, as the kernel does.
 *   -EINVAL  dom NULL or npages 0 or pfn + npages overflows
 *   -EBUSY   part of the range is allocated (live); nothing changes. Ranges sitting in
 *            caches are pulled back (reclaim) and do not cause -EBUSY.
 *   -ENOMEM  no memory for bookkeeping; nothing changes
 */
IOVX_API int iovx_iova_reserve(struct iovx_iova_domain *dom, uint64_t pfn, uint64_t npages);

/*
 * Returns every range held by per-CPU caches (including those of idle CPUs and threads)
 * and by the depot to the backend. Returns the number of granules returned (>= 0), or
 * -EINVAL for a NULL domain. In the kernel each CPU drains its own cache when asked (an
 * IPI); a caller with interrupts disabled asks and does not wait, so the other CPUs'
 * ranges arrive after the call returns and are not counted.
 */
IOVX_API int64_t iovx_iova_reclaim(struct iovx_iova_domain *dom);

/*
 * Statistics. total = reserved + live + cached + depot + backend_free (invariant I6);
 * audit checks it and more. The cached fast path keeps no counters (it has no atomic and
 * no shared write), so per-call counts exist only for the backend.
 */
struct iovx_iova_stats {
	uint64_t total;		/* granules in [start_pfn, end_pfn) */
	uint64_t reserved;	/* taken out by iovx_iova_reserve (and pfn 0) */
	uint64_t live;		/* allocated to callers */
	uint64_t cached;	/* held by per-CPU magazines */
	uint64_t depot;		/* held by full magazines in the depot */
	uint64_t backend_free;	/* free in the buddy backend */
	uint64_t alloc_failures;	/* -ENOMEM returns */
	uint64_t reclaims;	/* reclaim passes (explicit or under pressure) */
	uint64_t cache_bypass;	/* calls that found their CPU slot busy and went around it */
	uint64_t backend_allocs;	/* blocks taken from the backend */
	uint64_t backend_frees;	/* blocks given back to the backend */
	uint64_t hoard_bound;	/* most granules caches + depot can ever hold */
	uint64_t mem_bytes;	/* memory the domain's metadata uses now */
	uint64_t nr_cpu_slots;	/* per-CPU caches */
	uint64_t mag_size;	/* entries per magazine of the smallest classes */
	uint64_t percpu_mode;	/* 0: CAS-claimed slots, 1: restartable sequences, 2: kernel */
	uint64_t trims;		/* idle caches and depot classes trimmed (trim_idle_ns) */
};

/*
 * Cheap snapshot: live is derived (total minus the others) and may be off while calls are
 * in flight. -EINVAL: dom or st NULL.
 */
IOVX_API int iovx_iova_get_stats(struct iovx_iova_domain *dom, struct iovx_iova_stats *st);

/*
 * Exact accounting for a quiescent domain: walks caches, depot and backend, checks that
 * every held block is aligned, inside the domain and held exactly once (no overlap between
 * caches, depot, backend and reserved ranges), and fills st with the counted figures.
 *   0        consistent
 *   -EINVAL  dom or st NULL
 *   -EFAULT  inconsistent: an overlap, a misaligned block, or sums that do not close
 *            (live is then what remains, for a caller's own count to compare against)
 *   -ENOMEM  no memory for the walk
 */
IOVX_API int iovx_iova_audit(struct iovx_iova_domain *dom, struct iovx_iova_stats *st);

#ifdef __cplusplus
}
#endif

/*
 * Optional inline cached paths (x86-64 + glibc rseq): define IOVX_INLINE_FASTPATH before
 * including this header. See iovx/static/iova.h.
 */
#if defined(IOVX_INLINE_FASTPATH) && !defined(IOVX_STATIC_IOVA_H)
#include <iovx/static/iova.h>
#define iovx_iova_alloc(dom, npages, limit_pfn) iovx_iova_alloc_inline(dom, npages, limit_pfn)
#define iovx_iova_free(dom, pfn, npages) iovx_iova_free_inline(dom, pfn, npages)
#endif

#endif /* IOVX_IOVA_H */

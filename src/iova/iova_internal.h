/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iova_internal.h - structures shared by the allocator's files (not part of the API).
 *
 *   shb (buddy.c)   sparse hierarchical bitmap: one bit per block of one order, 64-ary
 *                   summaries so "highest set bit below x" costs O(depth), nodes allocated
 *                   on first use and kept until the domain dies (so lock-free readers never
 *                   meet freed memory)
 *   buddy (buddy.c) the lock-free backend: one shb per order; free merges buddies with a
 *                   single-word CAS (a buddy pair shares one 64-bit word)
 *   depot (depot.c) magazines in one array; Treiber stacks of index+tag words
 *   iova.c          per-CPU caches (loaded/previous magazine per class), the public API
 */
#ifndef IOVX_IOVA_INTERNAL_H
#define IOVX_IOVA_INTERNAL_H

#include "platform.h"
#include <iovx/iova.h>
#include <iovx/static/iova_layout.h>

/* ------------------------------------------------------------------ shb */
#define SHB_FANOUT_SHIFT	6
#define SHB_FANOUT		64
#define SHB_LEAF_SHIFT		12	/* a leaf holds 64 words = 4096 bits */

/*
 * A root node holds only the words or children its bitmap's size reaches (a bitmap of one
 * order of a 2^20-granule domain above order 8 fits in a few words); other nodes are whole.
 */
struct shb_leaf {
	uint64_t summary;		/* bit i: w[i] may be non-zero */
	uint64_t base;			/* idx >> SHB_LEAF_SHIFT of w[0]; set before publication */
	uint64_t w[SHB_FANOUT];
};

struct shb_inner {
	uint64_t summary;		/* bit i: child[i] may hold a set bit */
	void *child[SHB_FANOUT];
};

struct shb {
	unsigned int levels;		/* inner levels above the leaves; 0: root is a leaf */
	uint64_t nbits;			/* valid indices are [0, nbits) */
	void *root;
	uint64_t *mem_bytes;		/* the domain's metadata counter */
	struct shb_leaf *hint;		/* the leaf the last hinted lookup used (or NULL) */
};

int iovx_shb_init(struct shb *s, uint64_t nbits, uint64_t *mem_bytes);
void iovx_shb_destroy(struct shb *s);
/* The word holding bit idx, allocating the path when gfp allows; NULL if absent/ENOMEM. */
uint64_t *iovx_shb_word(struct shb *s, uint64_t idx, bool create, unsigned int gfp);
/* After a word went from 0 to non-zero: mark it in every summary above it. */
void iovx_shb_mark(struct shb *s, uint64_t idx);
/* Sets bit idx; its word must exist. Returns the word's previous value. */
uint64_t iovx_shb_set(struct shb *s, uint64_t idx);
/* Clears bit idx if set; true when this call cleared it. */
bool iovx_shb_test_and_clear(struct shb *s, uint64_t idx);
bool iovx_shb_test(struct shb *s, uint64_t idx);
/*
 * iovx_shb_word and iovx_shb_test_and_clear for lookups with locality (checked mode's
 * allocated bitmaps): first the leaf of the previous lookup, else the walk from the root.
 */
uint64_t *iovx_shb_word_hint(struct shb *s, uint64_t idx, bool create, unsigned int gfp);
bool iovx_shb_test_and_clear_hint(struct shb *s, uint64_t idx);
/* Highest set index < lim, or -1. Clears stale summary bits it meets. */
int64_t iovx_shb_find_last_below(struct shb *s, uint64_t lim);

/* ------------------------------------------------------------------ buddy */
#define IOVX_BUDDY_MAX_ORDER	52

/*
 * Backend counters, one cache line per CPU slot (updated with relaxed atomics, since a slot
 * is only a hint of the CPU): a shared counter would bounce between CPUs on every backend
 * call. Sums are exact when the domain is quiescent.
 */
struct buddy_pcpu {
	int64_t free_delta;		/* granules freed minus granules taken */
	uint64_t allocs, frees;
} IOVX_ALIGNED(IOVX_CACHELINE);

struct buddy {
	unsigned int max_order;		/* largest block order kept */
	unsigned int nr_pc;
	uint64_t start_pfn, end_pfn;
	struct buddy_pcpu *pc;
	struct shb bm[IOVX_BUDDY_MAX_ORDER + 1];
};

uint64_t iovx_buddy_free_granules(struct buddy *b);
uint64_t iovx_buddy_allocs(struct buddy *b);
uint64_t iovx_buddy_frees(struct buddy *b);

int iovx_buddy_init(struct buddy *b, uint64_t start_pfn, uint64_t end_pfn, uint64_t *mem);
void iovx_buddy_destroy(struct buddy *b);
/*
 * A free block of 2^order granules whose first 'need' granules end at or below lim_pfn
 * (need <= 2^order): its pfn, or -ENOMEM.
 */
int64_t iovx_buddy_alloc(struct buddy *b, unsigned int order, uint64_t lim_pfn, uint64_t need);
/*
 * Before a block of 'order' is split at an arbitrary boundary (exact-size allocations),
 * creates the bitmap words that its pieces and their merges will use, so that freeing
 * them later never needs memory. 0 or -ENOMEM.
 */
int iovx_buddy_prepare_boundary(struct buddy *b, uint64_t boundary, unsigned int order);
/* Returns a block taken by iovx_buddy_alloc or iovx_buddy_carve. Never fails. */
void iovx_buddy_free(struct buddy *b, uint64_t pfn, unsigned int order);
/*
 * Takes exactly the block (pfn, order) out of the free space if it is wholly free.
 * 0, -EBUSY (some of it is not free), -ENOMEM (no memory to split).
 */
int iovx_buddy_carve(struct buddy *b, uint64_t pfn, unsigned int order);
/* Calls fn for every free block (quiescent domains only). */
int iovx_buddy_walk(struct buddy *b, int (*fn)(void *arg, uint64_t pfn, unsigned int order),
		    void *arg);

/* ------------------------------------------------------------------ magazines */
/*
 * Two kinds of magazines: big ones (IOVX_MAG_BIG_SIZE entries, 2 KiB) for the classes below
 * IOVX_MAG_BIG_CLASSES, where one-way streams (a TX ring completed on another CPU) move
 * magazines between CPUs most often, and normal ones (IOVX_MAG_SIZE entries, 1 KiB) for the
 * rest. See docs/allocator.md ("Magazine sizes").
 */
#ifndef IOVX_MAG_SIZE
#define IOVX_MAG_SIZE 127	/* a normal magazine is 1 KiB */
#endif
#define IOVX_MAG_BIG_SIZE	(2 * IOVX_MAG_SIZE + 1)
#define IOVX_MAG_BIG_CLASSES	2u
#define IOVX_NR_CLASSES (IOVX_IOVA_MAX_CACHED_ORDER + 1)

struct iovx_mag {
	uint32_t n;			/* entries in pfn[]; layout fixed by the rseq fast path */
	uint32_t next;			/* on a depot stack: the link (index + 1, 0 = none);
					 * elsewhere: this magazine's own index + 1 */
	uint64_t pfn[];			/* IOVX_MAG_BIG_SIZE or IOVX_MAG_SIZE, by kind */
};

/* The kind of magazine a class uses: 0 big, 1 normal. */
static inline unsigned int iovx_mag_kind(unsigned int cls)
{
	return cls < IOVX_MAG_BIG_CLASSES ? 0 : 1;
}

#define DEPOT_NONE 0u

/*
 * Exchange slot of a class, one cache line each (DEPOT_XS_STRIDE words apart): vacant (0)
 * or one magazine, empty or full (DEPOT_XS_FULL). See depot.c.
 */
#define DEPOT_XS_FULL		(1ull << 32)
#define DEPOT_XS_STRIDE		(IOVX_CACHELINE / sizeof(uint64_t))

/* Magazines per chunk: the unit in which a domain's magazines are created on first use. */
#define DEPOT_CHUNK		4
#define DEPOT_SINGLES		16	/* the first magazines of a kind come one at a time */

struct depot {
	char **chunks[2];		/* per kind: chunk_first(i).., or NULL (depot.c) */
	uint32_t hw[2];			/* per kind: magazines created so far (atomic) */
	uint64_t *mem;			/* the domain's metadata counter */
	uint32_t nr[2];
	uint32_t stride[2];
	uint64_t *xslot;		/* [cls * DEPOT_XS_STRIDE]: index + 1 | DEPOT_XS_FULL */
	uint32_t nr_mags;		/* nr[0] + nr[1]; indices 1..nr[0] are big, the rest normal */
	uint32_t full_max[IOVX_NR_CLASSES];	/* full magazines per class */
	uint64_t empty_top[2];		/* per kind: index+1 in the low half, ABA tag in the high half */
	uint64_t full_top[IOVX_NR_CLASSES];
	uint32_t full_count[IOVX_NR_CLASSES];
};

/* nr_mags[kind]: magazines of each kind to create (either may be 0). */
int iovx_depot_init(struct depot *d, const uint32_t nr_mags[2], const uint32_t *full_max,
		    uint64_t *mem);
void iovx_depot_destroy(struct depot *d);
struct iovx_mag *iovx_depot_pop_empty(struct depot *d, unsigned int kind);
void iovx_depot_push_empty(struct depot *d, struct iovx_mag *m);
struct iovx_mag *iovx_depot_pop_full(struct depot *d, unsigned int cls);
/* false when the class already holds full_max[cls] magazines */
bool iovx_depot_push_full(struct depot *d, unsigned int cls, struct iovx_mag *m);
/*
 * The exchange slot in front of the stacks: take_full/take_empty return a magazine from the
 * slot, else from the stacks, else NULL; give_full puts a full magazine (exactly mag_cap
 * entries) in the slot if vacant, else on the bounded full stack, false when both are out
 * of room; give_empty never fails.
 */
struct iovx_mag *iovx_depot_take_full(struct depot *d, unsigned int cls);
struct iovx_mag *iovx_depot_take_empty(struct depot *d, unsigned int cls);
bool iovx_depot_give_full(struct depot *d, unsigned int cls, struct iovx_mag *m);
void iovx_depot_give_empty(struct depot *d, unsigned int cls, struct iovx_mag *m);
/* The full magazine the slot holds now, or NULL (a racy snapshot: statistics, audit). */
struct iovx_mag *iovx_depot_xslot_full(struct depot *d, unsigned int cls);
/* Walks the full stack of a class (quiescent only). */
int iovx_depot_walk_full(struct depot *d, unsigned int cls,
			 int (*fn)(void *arg, struct iovx_mag *m), void *arg);

/* ------------------------------------------------------------------ domain */
/*
 * One per CPU slot, 256 bytes apart (the rseq fast path indexes them with a shift). The
 * claim word comes first: 0 = attached (usable by the fast path), otherwise detached and
 * owned by exactly one thread. Private mode (IOVX_PCPU_PRIVATE) never claims: the claim
 * word stays 0 and only the slot's own CPU touches the cache.
 */
#define IOVX_PCPU_STRIDE_SHIFT 8

struct iovx_pcpu_cache {
	uint64_t claim;
	struct iovx_mag *loaded[IOVX_NR_CLASSES];
	struct iovx_mag *prev[IOVX_NR_CLASSES];
	unsigned int home;
} IOVX_ALIGNED(1 << IOVX_PCPU_STRIDE_SHIFT);

#ifdef IOVX_PCPU_PRIVATE
/*
 * Private per-CPU caches (kernel): what another CPU needs to make a cache's owner drain it.
 * req is bumped (atomically) by every CPU that asks; the owner's kicked callback drains its
 * own cache and then publishes the req value it read in ack. One cache line per CPU.
 */
struct pcpu_drain {
	struct iovx_pcpu_kick kick;
	struct iovx_iova_domain *dom;
	unsigned int cpu;
	uint32_t req;			/* atomic; drain requests so far */
	uint32_t trim;			/* atomic; 1: the next kick also returns the magazines */
	/*
	 * atomic; 1 from a kicker's claim until the kick's callback starts: the kernel requires
	 * the IPIs sent with one csd to be serialized by the caller (two CPUs that pass
	 * smp_call_function_single_async's unlocked busy test at once queue the csd twice)
	 */
	uint32_t kicking;
	uint32_t ack;			/* store-release by the owner: requests up to here met */
} IOVX_ALIGNED(IOVX_CACHELINE);

/*
 * The cached alloc and free of the private scheme: with interrupts off, this CPU's cache,
 * plain stores. Out of line and global so the CI can disassemble them by name and check
 * that no locked instruction is in them; misses call out to the magazine exchange.
 */
uint64_t iovx_iova_pcpu_alloc(struct iovx_iova_domain *dom, unsigned int cls,
			      uint64_t max_start);
bool iovx_iova_pcpu_free(struct iovx_iova_domain *dom, unsigned int cls, uint64_t pfn);
#endif

/* Idle trimming: what the timer saw of one per-CPU cache (or depot class) and since when. */
struct trim_seen {
	uint64_t sig;
	uint64_t since_ns;
};

struct reserved_range {
	uint64_t pfn, npages;
	struct reserved_range *next;
};

struct iovx_iova_domain {
	/* read-mostly; first, and laid out as iovx/static/iova.h's inline fast path reads it */
	struct iovx_iova_fast fast;
	unsigned int nr_cpus;
	unsigned int flags;
	int percpu_mode;		/* 0 CAS, 1 rseq, 2 kernel */
	unsigned int granule_shift;

	struct depot depot;
	struct buddy buddy;
	struct shb *allocated;		/* checked mode: one shb per order */
	struct shb *ends;		/* checked mode: last granules of exact-size blocks */
	unsigned int nr_allocated;
	struct reserved_range *reserved_list;
	uint64_t reserved;		/* atomic */
	uint64_t mem_bytes;		/* atomic */
	uint64_t alloc_failures, reclaims, cache_bypass;	/* atomic */
	/* idle trimming (trim_ns != 0): the timer, its state per CPU then per class */
	uint64_t trim_ns;
	struct iovx_timer trim_timer;
	struct trim_seen *trim_seen;	/* [nr_cpus + IOVX_NR_CLASSES]; the timer's alone */
	uint32_t trim_armed;		/* atomic: the timer is armed or running */
	uint64_t trims;			/* atomic: caches and depot classes trimmed */
#ifdef IOVX_PCPU_PRIVATE
	struct pcpu_drain *drains;	/* [nr_cpus] */
	struct iovx_pcpu_dead dead;	/* CPU hotplug: a dead CPU's cache is drained */
	uint64_t kick_drained;		/* atomic: granules kicked owners gave back */
	int64_t kicks_in_flight;	/* atomic: kicks queued and not yet finished */
#endif
};

#endif /* IOVX_IOVA_INTERNAL_H */

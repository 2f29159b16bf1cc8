// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * reuse.c - the reuse layer of a DMA domain (src/dma/dma_layer.h): the reuse-tagged mapping
 * table in front of the base mode; IOVX_DMA_MODE_REUSE, bounce over REUSE, IOVX_DMA_F_REVIVE
 * (iovx/reuse.h, docs/reuse.md).
 *
 * What: a tagged buffer's mapping, made once by the domain's base mode (strict or deferred),
 * lives in an entry {key, IOVA range, DMA segments, reference word}. A map of the same key
 * takes a reference on the entry (no IOVA, no page table, no invalidation); an unmap drops
 * it. Entries with no reference stay mapped (idle) until a stop or an eviction tears them
 * down with the base mode's real unmap.
 *
 * Two indices over the same entries, both chained hash tables of 2^order buckets:
 *   key index  hash(kind, dir, attrs, segments) -> entries; what map and unmap_sg look up
 *   dma index  hash(first DMA address) -> entries; what unmap_single and syncs look up
 *
 * Entry life cycle (the reference word: bit 62 DYING, low 32 bits the count):
 *   insert (count 1, published in both indices) -> count 0..n (ACTIVE/idle) -> DYING, set
 *   by the one thread that wins the CAS (a stop: any count; an eviction: count 0 only) ->
 *   the owner waits for the count to drain -> base unmap -> unlinked from both indices ->
 *   freed after an RCU grace period; a stop then flushes a deferred base once.
 *
 * Invariants:
 *   R1 a map hands out an entry's DMA addresses only after a CAS that incremented the count
 *      of a word without DYING: no mapping ever comes from a dying entry;
 *   R2 DYING is set once and never cleared; the IOVA range is unmapped only after DYING is
 *      set and the count is 0, so no reference outlives the translation;
 *   R3 an entry is freed only after it is unlinked from both indices and a grace period
 *      has passed: readers (RCU read sections) never touch freed memory;
 *   R4 an unmap decrements only a count > 0 (CAS loop), so a stray unmap cannot take a
 *      reference another user holds below zero; with a count of 0 it is -ENOENT;
 *   R5 a stop returns only after every entry overlapping its range that existed when it
 *      began is unlinked, i.e. after its unmap (and, in deferred mode, the flush) returned:
 *      the device cannot reach those bytes through them (I3).
 *
 * Progress: lookups (map hits, unmaps, syncs) are lock-free: an RCU read section and a CAS
 * on the entry's word. Writers of a bucket chain (insert on a miss, unlink after a
 * teardown) take that bucket's bit lock for a few instructions, never across IOMMU work
 * (kernel: with interrupts off, so never preempted inside). A stop waits (it may sleep) for
 * the references to drain.
 *
 * Ordering edges:
 *   E-R1 the release store that links an entry into a chain (bucket unlock / next pointer)
 *        pairs with the acquire loads of the readers' walk: a reader that sees the entry
 *        sees its key, DMA segments and initial reference word.
 *   E-R2 the acq_rel CAS that takes a reference pairs with the acq_rel CAS that sets DYING:
 *        either the map's reference is counted before DYING (and the stop waits for it) or
 *        the map sees DYING and does not use the entry.
 *   E-R3 the release decrement of an unmap pairs with the acquire load of the stop's drain
 *        loop: the device work done under the reference happens before the teardown.
 *   E-R4 a bucket's bit lock: the acquiring CAS pairs with the unlocking store-release of
 *        the previous writer (chain writes are ordered writer to writer).
 *   E-R5 the free slot stack (index + tag word): a push's release CAS publishes the slot's
 *        next link and its released state to the pop's acquire.
 *   E-R6 the linger list: a push's release CAS publishes lnext; the reaper's exchange takes
 *        the whole list with acquire.
 *   E-R7 the reaping flag: one reaper at a time; its release store orders the list it put
 *        back before the next reaper.
 *   E-R8 the registry and users: a registered domain (release CAS) is seen by a stop's
 *        RCU-protected acquire read; a stop counts itself in users (acq_rel) before using
 *        the domain and leaves after; destroy unregisters, waits a grace period, then waits
 *        (acquire) for users to reach 0.
 *   E-R9 pending call_rcu callbacks: each callback's final acq_rel decrement is its last
 *        touch of the table; destroy's acquire read decides whether to wait (rcu_barrier).
 */
#include "dma/dma_layer.h"
#include <iovx/inval.h>
#include <iovx/reuse.h>

#define R_DYING		(1ull << 62)
#define R_LINGER	(1ull << 61)	/* on the linger list (revive mode, idle) */
#define R_COUNT		0xffffffffull

#define RKIND_SINGLE	0u
#define RKIND_SG	1u
#define KDA_OPP		(1u << 30)	/* a revivable (untagged) mapping: revive mode */
/* attrs that change the mapping itself (the others are per call) */
#define RATTR_KEY	(IOVX_DMA_ATTR_WEAK_ORDERING | IOVX_DMA_ATTR_PRIVILEGED)

#define RT_MAX_DOMAINS	256
#define RT_EVICT_BATCH	8

#define R_INLINE_SEGS	4		/* nin + nout up to this: no separate allocation */

/*
 * One slot of the table's slab: entries live in one array for the table's life (type-stable
 * memory), so the hint path (below) may look at a slot without an RCU read section; a slot
 * returns to the free stack only after an RCU grace period (R3).
 */
struct rentry {
	/* first cache line: what a hit touches */
	uint64_t ref;			/* atomic: R_DYING | count; a free slot is R_DYING */
	uint64_t hash;			/* key hash */
	uint32_t kda;			/* kind | dir << 1 | key attrs << 4 */
	uint32_t nin, nout;
	uint32_t ovf;			/* an overflow entry (beyond the capacity) */
	uint64_t stamp;			/* relaxed: the table epoch of its last use (LRU) */
	uint64_t hits;			/* relaxed; exact when one thread uses the entry at a time */
	uint64_t dma;			/* first DMA address (dma index key) */
	uint64_t idle_since;		/* revive mode: when the count last fell to 0 */
	struct dma_seg *seg;		/* nin inputs, then nout DMA segments */
	struct rentry *knext;		/* key chain; RCU-published */
	/* then the rest */
	struct rentry *dnext;		/* dma chain; RCU-published */
	uint64_t base, span;		/* the IOVA range the base mode mapped */
	uint64_t last;			/* last byte of its DMA segments (mask check of a hit) */
	struct rentry *tnext;		/* a teardown owner's private list */
	struct rentry *lnext;		/* the linger list (R_LINGER) */
	uint64_t revives;		/* relaxed: maps that found it idle in its window */
	struct iovx_rtab *tab;
	uint32_t idx;			/* slot index */
	struct iovx_rcu_head rcu;
	struct dma_seg iseg[R_INLINE_SEGS];
} IOVX_ALIGNED(64);

struct iovx_rtab {
	uintptr_t *kb, *db;		/* bucket heads; bit 0: the bucket's writer lock */
	uint64_t bmask;
	uint64_t cap;			/* live entries at most */
	uint64_t nslots;		/* 2 * cap: room for slots waiting for a grace period */
	struct rentry *slab;		/* nslots slots */
	uint64_t free_top;		/* atomic: free slot stack, tag << 32 | (index + 1) */
	uint32_t *free_next;		/* per slot: next free index + 1 */
	uint64_t nentries;		/* atomic: live entries (reserved by a miss) */
	uint64_t novf;			/* atomic: live overflow entries (not in nentries) */
	uint64_t users;			/* atomic: global stops working on this domain */
	/* the mode that makes and tears down the table's mappings (strict or deferred) */
	const struct iovx_dma_mode_ops *base;
	/* revive mode (docs/reuse.md, "Revive mode") */
	struct iovx_dma_domain *dom;
	bool revive;
	bool timer_ok;
	uint64_t linger_ns;		/* an idle revivable mapping lives this long at most */
	struct rentry *linger;		/* atomic: Treiber stack of R_LINGER entries */
	uint32_t reaping;		/* atomic: one reaper at a time */
	uint64_t last_reap;		/* relaxed */
	/*
	 * relaxed: a clock reading at most a reaper period old while entries wait (reap and
	 * the unmap poll refresh it); an unmap that finds no entry waiting (no reaper has run
	 * lately) reads the clock itself. Idle times start from it, so an age is never
	 * underestimated: a mapping may expire early, never late.
	 */
	uint64_t coarse_now;
	struct iovx_timer timer;
	uint64_t expired, dead_revives;
	uint64_t pending;		/* atomic: call_rcu callbacks not yet run */
	/* atomic, read by every hit: on its own line (LRU stamps, see rtouch) */
	uint64_t epoch IOVX_ALIGNED(64);
	uint64_t epoch_pad_[7];
	int reg_slot;
	/* statistics, relaxed atomics (slow paths only) */
	uint64_t misses, fallbacks, overflows, evictions, stops, dead_hits;
};

static struct iovx_dma_domain *rt_registry[RT_MAX_DOMAINS];

/* The domain's table, NULL without a reuse layer. */
static inline struct iovx_rtab *rtab_of(struct iovx_dma_domain *dom)
{
	return dom->layer_priv[IOVX_DMA_LAYER_REUSE];
}

/* What a table call does to a mapping it finds. */
enum { RTAB_UNMAP, RTAB_SYNC_CPU, RTAB_SYNC_DEV };

/* ------------------------------------------------------------------ hashing */

static inline uint64_t rmix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

/* kind and direction only: a sync (no attrs) finds what a map with attrs made */
#define KDA_KD		7u
#define KDA_ALL		(~0u)

static inline uint64_t rhash(unsigned int kda, const struct dma_seg *segs, unsigned int n)
{
	uint64_t h = rmix(0x6a09e667f3bcc909ull, (uint64_t)(kda & KDA_KD) << 32 | n);
	unsigned int i;

	for (i = 0; i < n; i++)
		h = rmix(rmix(h, segs[i].addr), segs[i].len);
	return h;
}

static inline uint64_t dhash(uint64_t dma)
{
	return rmix(0xbb67ae8584caa73bull, dma);
}

static inline unsigned int rkda(unsigned int kind, unsigned int dir, unsigned int attrs)
{
	return kind | dir << 1 | (attrs & RATTR_KEY) << 4;
}

static inline bool rkey_eq(const struct rentry *e, uint64_t h, unsigned int kda,
			   unsigned int kmask, const struct dma_seg *segs, unsigned int n)
{
	unsigned int i;

	if (e->hash != h || ((e->kda ^ kda) & kmask) || e->nin != n)
		return false;
	for (i = 0; i < n; i++)
		if (e->seg[i].addr != segs[i].addr || e->seg[i].len != segs[i].len)
			return false;
	return true;
}

/* ------------------------------------------------------------------ buckets */

static inline struct rentry *bucket_first(uintptr_t *b)
{
	return (struct rentry *)(iovx_load_acquire(b) & ~(uintptr_t)1);		/* E-R1 */
}

static uintptr_t bucket_lock(uintptr_t *b, iovx_irqflags_t *f)
{
	for (;;) {
		uintptr_t v = iovx_load_relaxed(b);

		iovx_local_irq_save(*f);
		if (!(v & 1) && iovx_cmpxchg_acq_rel(b, &v, v | 1))	/* E-R4 */
			return v;
		iovx_local_irq_restore(*f);
		iovx_cpu_relax();
	}
}

static inline void bucket_unlock(uintptr_t *b, uintptr_t head, iovx_irqflags_t f)
{
	iovx_store_release(b, head & ~(uintptr_t)1);				/* E-R1 */
	iovx_local_irq_restore(f);
}

static void link_entry(struct iovx_rtab *t, struct rentry *e)
{
	iovx_irqflags_t f;
	uintptr_t *b, head;

	b = &t->db[dhash(e->dma) & t->bmask];
	head = bucket_lock(b, &f);
	iovx_store_relaxed(&e->dnext, (struct rentry *)head);
	bucket_unlock(b, (uintptr_t)e, f);

	b = &t->kb[e->hash & t->bmask];
	head = bucket_lock(b, &f);
	iovx_store_relaxed(&e->knext, (struct rentry *)head);
	bucket_unlock(b, (uintptr_t)e, f);
}

/*
 * Unlinks e from one chain (dchain: the dma index). Link fields are only read and written
 * with atomics: the two chains' links of one entry sit side by side and are written under
 * different bucket locks.
 */
static void unlink_chain(uintptr_t *b, struct rentry *e, bool dchain)
{
	iovx_irqflags_t f;
	uintptr_t head = bucket_lock(b, &f);
	struct rentry *p = (struct rentry *)head, *prev = NULL, *next;

	while (p && p != e) {
		prev = p;
		p = dchain ? iovx_load_relaxed(&p->dnext) : iovx_load_relaxed(&p->knext);
	}
	if (!p) {			/* not linked: cannot happen (R3), keep the chain */
		IOVX_WARN_ON(true);
		bucket_unlock(b, head, f);
		return;
	}
	next = dchain ? iovx_load_relaxed(&e->dnext) : iovx_load_relaxed(&e->knext);
	if (!prev) {
		bucket_unlock(b, (uintptr_t)next, f);
		return;
	}
	/* Readers on e keep walking through e's own next pointer, which stays valid (R3). */
	if (dchain)
		iovx_store_release(&prev->dnext, next);	/* E-R1 */
	else
		iovx_store_release(&prev->knext, next);	/* E-R1 */
	bucket_unlock(b, head, f);
}

/* ------------------------------------------------------------------ slots */

/* Pushes slot idx on the free stack (its ref word already R_DYING). */
static void slot_push(struct iovx_rtab *t, uint32_t idx)
{
	uint64_t top = iovx_load_relaxed(&t->free_top), nt;

	do {
		iovx_store_relaxed(&t->free_next[idx], (uint32_t)top);
		nt = ((top >> 32) + 1) << 32 | (idx + 1);
	} while (!iovx_cmpxchg_acq_rel(&t->free_top, &top, nt));	/* E-R5 */
}

/* Pops a free slot, or NULL. The tag in the top word defeats ABA. */
static struct rentry *slot_pop(struct iovx_rtab *t)
{
	uint64_t top = iovx_load_acquire(&t->free_top), nt;	/* E-R5 */

	for (;;) {
		uint32_t i = (uint32_t)top;

		if (!i)
			return NULL;
		nt = ((top >> 32) + 1) << 32 | iovx_load_relaxed(&t->free_next[i - 1]);
		if (iovx_cmpxchg_acq_rel(&t->free_top, &top, nt))	/* E-R5 */
			break;
	}
	return &t->slab[(uint32_t)top - 1];
}

#define R_HEAP_IDX	0xffffffffu	/* an entry allocated on its own (no slot, no hint) */

static void rentry_release(struct iovx_rtab *t, struct rentry *e)
{
	if (e->seg != e->iseg)
		iovx_free(e->seg);
	e->seg = e->iseg;
	if (e->idx == R_HEAP_IDX)
		iovx_free(e);
	else
		slot_push(t, e->idx);	/* slab slots are never overflow entries */
}

static void rentry_free_rcu(struct iovx_rcu_head *head)
{
	struct rentry *e = (struct rentry *)((char *)head - offsetof(struct rentry, rcu));
	struct iovx_rtab *t = e->tab;

	/* R3: a slot is free only as R_DYING, so a hint reader never takes a reference on it */
	iovx_assert(iovx_load_relaxed(&e->ref) & R_DYING);
	rentry_release(t, e);
	iovx_fetch_add_acq_rel(&t->pending, (uint64_t)-1);	/* E-R9; last touch of t */
}

/* ------------------------------------------------------------------ references */

/* Takes a reference unless DYING (R1, E-R2); *prev: the word before. */
static inline bool rget(struct rentry *e, uint64_t *prev)
{
	uint64_t r = iovx_load_relaxed(&e->ref);

	while (!(r & R_DYING) && (r & R_COUNT) != R_COUNT)
		if (iovx_cmpxchg_acq_rel(&e->ref, &r, r + 1)) {	/* E-R2 */
			/* R1: the word installed has no DYING and a count that did not wrap. */
			iovx_assert(!((r + 1) & R_DYING) && ((r + 1) & R_COUNT));
			*prev = r;
			return true;
		}
	return false;
}

/* Drops a reference if there is one (R4, E-R3). */
static inline bool rput(struct rentry *e)
{
	uint64_t r = iovx_load_relaxed(&e->ref);

	while (r & R_COUNT)
		if (iovx_cmpxchg_acq_rel(&e->ref, &r, r - 1)) {	/* E-R3 */
			/* R4: the count installed is one less; the flags are untouched. */
			iovx_assert(((r - 1) & ~R_COUNT) == (r & ~R_COUNT));
			return true;
		}
	return false;
}

static int teardown(struct iovx_dma_domain *dom, struct rentry *e);

/*
 * Drops a reference of an overflow entry: the last one (no stop owns the entry) tears the
 * mapping down at once, so the entry never sits idle beyond the capacity. A stop that set
 * DYING first owns the teardown and waits for this drop.
 */
static bool rput_ovf(struct iovx_dma_domain *dom, struct rentry *e)
{
	uint64_t r = iovx_load_relaxed(&e->ref);

	while (r & R_COUNT) {
		if (r == 1) {
			if (!iovx_cmpxchg_acq_rel(&e->ref, &r, R_DYING))	/* E-R2 */
				continue;
			(void)teardown(dom, e);
			return true;
		}
		if (iovx_cmpxchg_acq_rel(&e->ref, &r, r - 1)) {		/* E-R3 */
			iovx_assert(((r - 1) & ~R_COUNT) == (r & ~R_COUNT));	/* R4 */
			return true;
		}
	}
	return false;
}

/*
 * A use: the entry's stamp becomes the table's epoch (a read-mostly word that misses and
 * evictions advance), written only when it changed, so a thread reusing its own entry
 * writes nothing shared.
 */
static inline void rtouch(struct iovx_rtab *t, struct rentry *e, uint64_t prev)
{
	uint64_t ep = iovx_load_relaxed(&t->epoch);

	if (iovx_load_relaxed(&e->stamp) != ep)
		iovx_store_relaxed(&e->stamp, ep);
	iovx_store_relaxed(&e->hits, iovx_load_relaxed(&e->hits) + 1);
	if ((e->kda & KDA_OPP) && !(prev & R_COUNT))		/* revived in its window */
		iovx_store_relaxed(&e->revives, iovx_load_relaxed(&e->revives) + 1);
}

static void reap(struct iovx_dma_domain *dom, bool force);

/* Pushes e (R_LINGER just set by us) on the linger list; the first one arms the timer. */
static void linger_push(struct iovx_rtab *t, struct rentry *e)
{
	struct rentry *old = iovx_load_relaxed(&t->linger);

	do {
		e->lnext = old;
	} while (!iovx_cmpxchg_acq_rel(&t->linger, &old, e));	/* E-R6 */
	if (!old && t->timer_ok)
		iovx_timer_arm(&t->timer, t->linger_ns / 2);
}

/*
 * Revive mode: drops a reference of a revivable entry. The last one leaves the mapping in
 * place (idle, R_LINGER, on the linger list) for at most linger_ns, when the reaper tears
 * it down unless a map revived it meanwhile. Also a reaper's poll: a caller that sees the
 * reaper late (its timer starved) reaps itself.
 */
static bool rput_opp(struct iovx_dma_domain *dom, struct rentry *e, bool user)
{
	struct iovx_rtab *t = rtab_of(dom);
	uint64_t r = iovx_load_relaxed(&e->ref), now = iovx_load_relaxed(&t->coarse_now);
	bool fresh = false;

	while (r & R_COUNT) {
		uint64_t nr = r - 1;

		if ((r & R_COUNT) == 1) {
			/*
			 * A user's unmap starts the window; a transient reference (a hint
			 * that did not match) keeps the window of the last real unmap. With
			 * no entry waiting, no reaper has refreshed the coarse clock lately:
			 * a window started from it would be over at the first reap.
			 */
			if (user && !fresh && !iovx_load_relaxed(&t->linger)) {
				now = iovx_now_ns();
				iovx_store_relaxed(&t->coarse_now, now);
				fresh = true;
			}
			if (user)
				iovx_store_relaxed(&e->idle_since, now);
			if (!(r & (R_LINGER | R_DYING)))
				nr |= R_LINGER;
		}
		if (iovx_cmpxchg_acq_rel(&e->ref, &r, nr)) {	/* E-R3 */
			/* R4: one less, DYING kept; only LINGER may be added. */
			iovx_assert((nr & R_COUNT) + 1 == (r & R_COUNT) &&
				    (nr & ~(R_COUNT | R_LINGER)) == (r & ~(R_COUNT | R_LINGER)) &&
				    (nr & R_LINGER) >= (r & R_LINGER));
			if ((nr ^ r) & R_LINGER)
				linger_push(t, e);
			/*
			 * The poll for a starved reaper timer, on one unmap in 16 of an entry
			 * (a clock read costs about what the rest of a revival does).
			 */
			if (!(iovx_load_relaxed(&e->hits) & 15)) {
				now = iovx_now_ns();
				iovx_store_relaxed(&t->coarse_now, now);
				if (now - iovx_load_relaxed(&t->last_reap) > t->linger_ns &&
				    iovx_load_relaxed(&t->linger))
					reap(dom, false);
			}
			return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------------ teardown */

/*
 * The owner of a DYING entry (it won the CAS) tears it down: waits for the references to
 * drain (stop only; an eviction claimed a count of 0), unmaps through the base mode,
 * unlinks, frees after a grace period. Returns the unmap's error (a stop flushes a
 * deferred base once, after all its teardowns).
 */
static int teardown(struct iovx_dma_domain *dom, struct rentry *e)
{
	struct iovx_rtab *t = rtab_of(dom);
	const struct iovx_dma_mode_ops *m = t->base;
	uint64_t was;
	int err;

	while (iovx_load_acquire(&e->ref) & R_COUNT)				/* E-R3 */
		iovx_cond_resched();
	/* R2: DYING for good and no reference: nobody can use the translation any more */
	iovx_assert(iovx_load_relaxed(&e->ref) & R_DYING);
	/*
	 * A revivable mapping was unmapped by its user up to linger_ns ago: invalidate now
	 * (strict), so the device reaches it for at most the deferred bound in all. An
	 * overflow entry goes with its last unmap: strict too, so the device cannot reach a
	 * tagged buffer beyond the table once nobody maps it.
	 */
	if (e->kda & KDA_OPP || e->ovf) {
		m = iovx_dma_modes[IOVX_DMA_MODE_STRICT];
		iovx_fetch_add_relaxed(&t->dead_revives, iovx_load_relaxed(&e->revives));
	}
	err = m->unmap_single(dom, e->base, e->span, e->kda >> 1 & 3, 0);
	unlink_chain(&t->kb[e->hash & t->bmask], e, false);
	unlink_chain(&t->db[dhash(e->dma) & t->bmask], e, true);
	iovx_fetch_add_relaxed(&t->dead_hits, iovx_load_relaxed(&e->hits));
	was = iovx_fetch_add_relaxed(e->ovf ? &t->novf : &t->nentries, (uint64_t)-1);
	iovx_assert(was > 0);		/* I6: each entry counted once, torn down once */
	(void)was;
	iovx_fetch_add_relaxed(&t->pending, 1);
	iovx_call_rcu(&e->rcu, rentry_free_rcu);				/* R3 */
	return err;
}

/*
 * The reaper (revive mode): takes the whole linger list; revived entries leave it, DYING
 * ones (a stop claimed them and waits) are torn down once their count is 0, idle ones
 * whose window is over (force: every idle one) are torn down, the rest go back. One
 * reaper at a time; a caller that finds one running returns (it will be seen next time).
 */
static void reap(struct iovx_dma_domain *dom, bool force)
{
	struct iovx_rtab *t = rtab_of(dom);
	struct rentry *list, *keep = NULL, *last = NULL, *e;
	uint32_t idle = 0;
	uint64_t now, n = 0;

	if (!iovx_cmpxchg_acq_rel(&t->reaping, &idle, 1u)) {	/* E-R7 */
		/*
		 * Another reaper runs (an unmap's poll, perhaps preempted): this call may be the
		 * timer the last push armed, so the timer comes back rather than leave the list
		 * to a reaper that may already have looked at it.
		 */
		if (t->timer_ok && iovx_load_acquire(&t->linger))		/* E-R6 */
			iovx_timer_arm(&t->timer, t->linger_ns / 2);
		return;
	}
	now = iovx_now_ns();
	iovx_store_relaxed(&t->last_reap, now);
	iovx_store_relaxed(&t->coarse_now, now);
	list = iovx_xchg_acq_rel(&t->linger, (struct rentry *)NULL);	/* E-R6 */
	while (list) {
		uint64_t r, since;

		e = list;
		list = e->lnext;
		r = iovx_load_acquire(&e->ref);	/* E-R3 */
		for (;;) {
			if (r & R_DYING) {
				if (r & R_COUNT)
					goto keep_it;		/* its stop still waits */
				(void)teardown(dom, e);
				n++;
				break;
			}
			if (r & R_COUNT) {			/* revived: off the list */
				if (iovx_cmpxchg_acq_rel(&e->ref, &r, r & ~R_LINGER))	/* E-R2 */
					break;
				continue;
			}
			since = iovx_load_relaxed(&e->idle_since);
			if (force || (now > since && now - since >= t->linger_ns)) {
				/* E-R2 */
				if (iovx_cmpxchg_acq_rel(&e->ref, &r, R_DYING | R_LINGER)) {
					(void)teardown(dom, e);
					n++;
					break;
				}
				continue;
			}
keep_it:
			e->lnext = keep;
			if (!keep)
				last = e;
			keep = e;
			break;
		}
	}
	if (keep) {
		struct rentry *old = iovx_load_relaxed(&t->linger);

		do {
			last->lnext = old;
		} while (!iovx_cmpxchg_acq_rel(&t->linger, &old, keep));	/* E-R6 */
	}
	iovx_fetch_add_relaxed(&t->expired, n);
	iovx_store_release(&t->reaping, 0u);	/* E-R7 */
	/*
	 * After the flag: entries pushed while this reaper ran (their push may have armed the
	 * timer, which then fired into this run) wait for the timer, which comes back for
	 * whatever is on the list now.
	 */
	iovx_fence_seq_cst();
	if (t->timer_ok && iovx_load_acquire(&t->linger))			/* E-R6 */
		iovx_timer_arm(&t->timer, t->linger_ns / 2);
}

/* Drops a reference: user is false for a transient one (a hint check). */
static inline bool rdrop(struct iovx_dma_domain *dom, struct rentry *e, bool user)
{
	if (iovx_unlikely(e->ovf))
		return rput_ovf(dom, e);
	return (e->kda & KDA_OPP) ? rput_opp(dom, e, user) : rput(e);
}

static void reap_timer(void *arg)
{
	reap(arg, false);
}

#define EVICT_PICK	16

/*
 * Claims up to max idle entries, least recently used first (smallest stamp: uses within
 * one epoch are not ordered), or every idle one (max 0), and tears them down. Returns the
 * number evicted. Lingering entries (revive mode) are the reaper's (max 0 reaps them all).
 */
static int evict(struct iovx_dma_domain *dom, unsigned int max)
{
	struct iovx_rtab *t = rtab_of(dom);
	struct rentry *list = NULL, *e;
	unsigned int got = 0, rounds = 0;
	int n = 0;

	if (!iovx_load_relaxed(&t->nentries))
		return 0;
	if (!max && t->revive)
		reap(dom, true);
	(void)iovx_fetch_add_relaxed(&t->epoch, 1);	/* later uses are newer than all */
	iovx_rcu_read_lock();
	for (;;) {
		struct rentry *pick[EVICT_PICK];
		uint64_t i, ps[EVICT_PICK];
		unsigned int np = 0, want = max ? max - got : EVICT_PICK, k, c;

		if (want > EVICT_PICK)
			want = EVICT_PICK;
		/* the want idle entries with the smallest stamps, in one pass */
		for (i = 0; i <= t->bmask; i++) {
			/* E-R1 */
			for (e = bucket_first(&t->kb[i]); e; e = iovx_load_acquire(&e->knext)) {
				uint64_t st;

				if (iovx_load_relaxed(&e->ref) != 0)
					continue;
				st = iovx_load_relaxed(&e->stamp);
				if (np == want && st >= ps[np - 1])
					continue;
				k = np < want ? np++ : np - 1;
				while (k > 0 && ps[k - 1] > st) {
					ps[k] = ps[k - 1];
					pick[k] = pick[k - 1];
					k--;
				}
				ps[k] = st;
				pick[k] = e;
			}
		}
		for (c = 0, k = 0; k < np; k++) {
			uint64_t r = 0;

			if (!iovx_cmpxchg_acq_rel(&pick[k]->ref, &r, R_DYING))	/* E-R2 */
				continue;		/* taken meanwhile: no longer idle */
			pick[k]->tnext = list;
			list = pick[k];
			got++;
			c++;
		}
		/* done, nothing idle left, or (bounded) every pick taken meanwhile */
		if (!np || (max && got >= max) || (!c && np < want) || ++rounds >= 64)
			break;
	}
	iovx_rcu_read_unlock();
	while (list) {
		e = list;
		list = e->tnext;
		(void)teardown(dom, e);
		n++;
	}
	iovx_fetch_add_relaxed(&t->evictions, (uint64_t)n);
	return n;
}

/*
 * A hit must lie below the DMA mask of now (iovx_dma_set_mask may have lowered it since
 * the entry was made). If not, the transient reference goes and the map is a miss: a new
 * entry of the same key, mapped by the base mode, which honours the mask, and found first
 * from then on (chains are pushed at the head); the old entry stays for its stop or
 * eviction.
 */
static inline bool above_mask(struct iovx_dma_domain *dom, struct rentry *e)
{
	if (iovx_likely(e->last <= iovx_load_relaxed(&dom->mask)))
		return false;
	(void)rdrop(dom, e, false);
	return true;
}

/* ------------------------------------------------------------------ hints */
/*
 * The hint: map_sg stores the entry's slot index + 1 in the upper bits of sg[0].flags, and
 * the next map or unmap of that list looks at that slot first, with no RCU read section and
 * no hash. Safe because slots are type-stable and the hint is only a guess, checked:
 *   map    takes a reference first (rget: never on a DYING or free slot), then compares
 *          the key; a mismatch drops the reference and takes the indexed path;
 *   unmap  the caller holds a reference (a correct caller), so the entry cannot change
 *          under it; the key and address are compared with relaxed loads (a stale or
 *          forged hint only leads to the indexed path), then the reference is dropped.
 * Only entries whose segments are inline (nin <= R_INLINE_SEGS / 2) are used this way, so
 * nothing the hint path reads is ever freed.
 */
#define RHINT_SHIFT	8

static inline void set_hint(struct iovx_dma_sg *sg, const struct rentry *e)
{
	uint32_t h = e->idx == R_HEAP_IDX ? 0 : (e->idx + 1) << RHINT_SHIFT;

	sg[0].flags = (sg[0].flags & ((1u << RHINT_SHIFT) - 1)) | h;
}

static inline struct rentry *hint_entry(struct iovx_rtab *t, const struct iovx_dma_sg *sg,
					unsigned int n)
{
	uint32_t i = sg[0].flags >> RHINT_SHIFT;

	if (!i || i > t->nslots || 2 * n > R_INLINE_SEGS)
		return NULL;
	return &t->slab[i - 1];
}

static inline bool hint_match(struct rentry *e, unsigned int kda, unsigned int kmask,
			      const struct dma_seg *segs, unsigned int n)
{
	unsigned int i;

	if ((iovx_load_relaxed(&e->kda) ^ kda) & kmask || iovx_load_relaxed(&e->nin) != n)
		return false;
	for (i = 0; i < n; i++)
		if (iovx_load_relaxed(&e->iseg[i].addr) != segs[i].addr ||
		    iovx_load_relaxed(&e->iseg[i].len) != segs[i].len)
			return false;
	return true;
}

static inline int fill_sg(struct iovx_dma_sg *sg, const struct rentry *e, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < e->nout; i++) {
		sg[i].dma_address = e->seg[n + i].addr;
		sg[i].dma_length = (uint32_t)e->seg[n + i].len;
	}
	for (; i < n; i++)
		sg[i].dma_length = 0;
	return (int)e->nout;
}

/* ------------------------------------------------------------------ map */

/* Are the list's first nout DMA entries the entry's DMA segments? */
static inline bool outs_match(const struct rentry *e, const struct iovx_dma_sg *sg)
{
	unsigned int i, nout = iovx_load_relaxed(&e->nout), nin = iovx_load_relaxed(&e->nin);

	for (i = 0; i < nout; i++)
		if (sg[i].dma_address != iovx_load_relaxed(&e->seg[nin + i].addr) ||
		    sg[i].dma_length != iovx_load_relaxed(&e->seg[nin + i].len))
			return false;
	return true;
}

/*
 * The entry of a key; sg (unmap, sync): also the DMA address of sg[0] and the list's DMA
 * entries must be the entry's.
 */
static struct rentry *find_key(struct iovx_rtab *t, uint64_t h, unsigned int kda,
			       unsigned int kmask, const struct dma_seg *segs, unsigned int n,
			       const struct iovx_dma_sg *sg, bool get, uint64_t *prev)
{
	struct rentry *e;

	/* E-R1 */
	for (e = bucket_first(&t->kb[h & t->bmask]); e; e = iovx_load_acquire(&e->knext)) {
		if (!rkey_eq(e, h, kda, kmask, segs, n) ||
		    (sg && (e->dma != sg[0].dma_address || !outs_match(e, sg))))
			continue;
		if (get ? rget(e, prev) : (iovx_load_relaxed(&e->ref) & R_COUNT) != 0)
			return e;
	}
	return NULL;
}

/*
 * Fills a popped slot for a new key. Its ref word stays R_DYING (no hint reader takes it)
 * until publish().
 */
static int rentry_fill(struct rentry *e, uint64_t h, unsigned int kda,
		       const struct dma_seg *segs, unsigned int n)
{
	unsigned int i;

	e->seg = e->iseg;
	if (2 * n > R_INLINE_SEGS) {
		e->seg = iovx_zalloc(2 * (size_t)n * sizeof(struct dma_seg), IOVX_GFP_ATOMIC);
		if (!e->seg) {
			e->seg = e->iseg;
			return -ENOMEM;
		}
	}
	iovx_store_relaxed(&e->hits, 0ull);
	iovx_store_relaxed(&e->revives, 0ull);
	e->hash = h;
	/* relaxed atomics: the hint path of an unmap reads them without a reference */
	iovx_store_relaxed(&e->kda, kda);
	iovx_store_relaxed(&e->nin, n);
	iovx_store_relaxed(&e->nout, 0u);
	for (i = 0; i < n; i++) {
		iovx_store_relaxed(&e->seg[i].addr, segs[i].addr);
		iovx_store_relaxed(&e->seg[i].len, segs[i].len);
	}
	return 0;
}

/* A miss that could not complete: the entry goes back (never published, no grace period). */
static void rentry_drop(struct iovx_rtab *t, struct rentry *e)
{
	iovx_fetch_add_relaxed(e->ovf ? &t->novf : &t->nentries, (uint64_t)-1);
	rentry_release(t, e);
}

/* Publishes a filled entry with one reference: hint readers may take it from here (E-R1). */
static void publish(struct iovx_rtab *t, struct rentry *e)
{
	iovx_store_relaxed(&e->stamp, iovx_fetch_add_relaxed(&t->epoch, 1));
	/*
	 * Both indices first, then the reference word: whoever can take a reference (a hit
	 * through the key index or the hint) finds the entry in the dma index too, so its
	 * unmap_single and syncs see it. Until then the word is R_DYING: a concurrent stop
	 * waits for it (an "other owner"), an eviction skips it, a lookup misses.
	 */
	/* nobody could take it yet (a reused slot may still carry the reaper's R_LINGER) */
	iovx_assert((iovx_load_relaxed(&e->ref) & (R_DYING | R_COUNT)) == R_DYING);
	link_entry(t, e);
	iovx_store_release(&e->ref, 1ull);				/* E-R1 */
}

/* Counts a live entry against the capacity. */
static bool reserve(struct iovx_rtab *t)
{
	if (iovx_fetch_add_relaxed(&t->nentries, 1) < t->cap)
		return true;
	iovx_fetch_add_relaxed(&t->nentries, (uint64_t)-1);
	return false;
}

/* An entry of its own on the heap (no slot, no hint), its ref word R_DYING until publish. */
static struct rentry *heap_entry(struct iovx_rtab *t)
{
	struct rentry *e = iovx_zalloc(sizeof(*e), IOVX_GFP_ATOMIC);

	if (e) {
		e->ref = R_DYING;
		e->tab = t;
		e->idx = R_HEAP_IDX;
		e->seg = e->iseg;
	}
	return e;
}

/*
 * A slot for a miss, evicting when none is free, filled with the key. NULL with *err:
 * -ENOSPC (a revivable map: map it outside the table), -ENOMEM (a tagged map: every tagged
 * mapping lives in the table, so a stop reaches it; without room, an overflow entry, and
 * without memory for one, no mapping).
 * Slots of entries evicted here come back after a grace period: when none is free yet, an
 * entry of its own.
 */
static struct rentry *new_entry(struct iovx_dma_domain *dom, uint64_t h, unsigned int kda,
				const struct dma_seg *segs, unsigned int n, int *err)
{
	struct iovx_rtab *t = rtab_of(dom);
	struct rentry *e = NULL;

	*err = -ENOMEM;
	if (reserve(t) || (evict(dom, t->cap >= 64 ? RT_EVICT_BATCH : 1) && reserve(t)) ||
	    (evict(dom, 0) && reserve(t))) {
		e = slot_pop(t);
		/* Every spare slot still waits for its grace period (a burst of evictions). */
		if (!e)
			e = heap_entry(t);
		if (!e)
			iovx_fetch_add_relaxed(&t->nentries, (uint64_t)-1);
	} else if (kda & KDA_OPP) {
		*err = -ENOSPC;
	} else {
		e = heap_entry(t);
		if (e) {
			e->ovf = 1;
			iovx_fetch_add_relaxed(&t->novf, 1);
			iovx_fetch_add_relaxed(&t->overflows, 1);
		}
	}
	if (e && rentry_fill(e, h, kda, segs, n)) {
		rentry_drop(t, e);
		e = NULL;
	}
	if (!e && *err == -ENOSPC)
		iovx_fetch_add_relaxed(&t->fallbacks, 1);
	return e;
}

/*
 * A miss whose base map filled the DMA segments (seg[nin..nin + nout)): the rest follows
 * from them and the inputs — the first DMA address, the IOVA range the base mode laid the
 * padded segments out in (the in-granule offset survives the mapping), the last byte for
 * the mask check. Then the entry is published.
 */
static void complete_miss(struct iovx_dma_domain *dom, struct rentry *e)
{
	uint64_t span = 0, last = 0;
	unsigned int i;

	for (i = 0; i < e->nin; i++)
		span += dma_seg_span(dom, &e->seg[i]);
	for (i = 0; i < e->nout; i++) {
		const struct dma_seg *o = &e->seg[e->nin + i];

		if (o->addr + o->len - 1 > last)
			last = o->addr + o->len - 1;
	}
	iovx_store_relaxed(&e->dma, e->seg[e->nin].addr);
	e->base = e->seg[e->nin].addr & ~dom->gmask;
	e->span = span;
	e->last = last;
	publish(rtab_of(dom), e);
	iovx_fetch_add_relaxed(&rtab_of(dom)->misses, 1);
}

static int rtab_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
		       const struct dma_seg *segs, unsigned int n, unsigned int dir,
		       unsigned int attrs, bool opp)
{
	struct iovx_rtab *t = rtab_of(dom);
	unsigned int kda = rkda(RKIND_SG, dir, attrs) | (opp ? KDA_OPP : 0), i;
	uint64_t h, prev;
	struct rentry *e = hint_entry(t, sg, n);
	bool above;
	int ret;

	if (e && rget(e, &prev)) {
		if (iovx_likely(hint_match(e, kda, KDA_ALL, segs, n))) {
			/* above the mask: a newer entry of the key may serve (indexed path) */
			if (!above_mask(dom, e)) {
				rtouch(t, e, prev);
				return fill_sg(sg, e, n);
			}
		} else {
			(void)rdrop(dom, e, false);
		}
	}
	h = rhash(kda, segs, n);
	iovx_rcu_read_lock();
	e = find_key(t, h, kda, KDA_ALL, segs, n, NULL, true, &prev);
	if (e) {
		above = above_mask(dom, e);
		if (!above) {
			rtouch(t, e, prev);
			ret = fill_sg(sg, e, n);
			if (2 * n <= R_INLINE_SEGS)
				set_hint(sg, e);
		}
		iovx_rcu_read_unlock();
		if (!above)
			return ret;
	} else {
		iovx_rcu_read_unlock();
	}

	/* Miss: the base mode maps, the entry is published with one reference. */
	e = new_entry(dom, h, kda, segs, n, &ret);
	if (!e)
		return ret;
	ret = t->base->map_sg(dom, sg, segs, n, dir, attrs & ~IOVX_DMA_ATTR_REUSE);
	if (ret == -ENOMEM && evict(dom, 0))
		ret = t->base->map_sg(dom, sg, segs, n, dir, attrs & ~IOVX_DMA_ATTR_REUSE);
	if (ret < 0) {
		rentry_drop(t, e);
		return ret;
	}
	e->nout = (unsigned int)ret;
	for (i = 0; i < e->nout; i++) {
		e->seg[n + i].addr = sg[i].dma_address;
		e->seg[n + i].len = sg[i].dma_length;
	}
	complete_miss(dom, e);
	if (2 * n <= R_INLINE_SEGS)
		set_hint(sg, e);
	return ret;
}

static int rtab_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			   unsigned int dir, unsigned int attrs, bool opp, uint64_t *dma)
{
	struct iovx_rtab *t = rtab_of(dom);
	unsigned int kda = rkda(RKIND_SINGLE, dir, attrs) | (opp ? KDA_OPP : 0);
	struct dma_seg seg = { phys, size };
	uint64_t h = rhash(kda, &seg, 1), addr, prev;
	struct rentry *e;
	int err;

	bool above;

	iovx_rcu_read_lock();
	e = find_key(t, h, kda, KDA_ALL, &seg, 1, NULL, true, &prev);
	if (e) {
		above = above_mask(dom, e);
		if (!above) {
			*dma = e->dma;
			rtouch(t, e, prev);
		}
		iovx_rcu_read_unlock();
		if (!above)
			return 0;
	} else {
		iovx_rcu_read_unlock();
	}

	e = new_entry(dom, h, kda, &seg, 1, &err);
	if (!e)
		return err;
	err = t->base->map_single(dom, phys, size, dir, attrs & ~IOVX_DMA_ATTR_REUSE, &addr);
	if (err == -ENOMEM && evict(dom, 0))
		err = t->base->map_single(dom, phys, size, dir, attrs & ~IOVX_DMA_ATTR_REUSE,
					    &addr);
	if (err) {
		rentry_drop(t, e);
		return err;
	}
	e->nout = 1;
	e->seg[1].addr = addr;
	e->seg[1].len = size;
	complete_miss(dom, e);
	*dma = addr;
	return 0;
}

/* ------------------------------------------------------------------ unmap, sync */

static void rsync(struct iovx_dma_domain *dom, struct rentry *e, bool for_cpu)
{
	void (*fn)(struct iovx_dma_domain *, uint64_t, uint64_t, unsigned int) =
		for_cpu ? rtab_of(dom)->base->sync_for_cpu : rtab_of(dom)->base->sync_for_device;
	unsigned int i, dir = e->kda >> 1 & 3;

	for (i = 0; fn && i < e->nout; i++)
		fn(dom, e->seg[e->nin + i].addr, e->seg[e->nin + i].len, dir);
}

/* Inlined into its two hooks: the unmap of a hit is the table's hot path. */
IOVX_INLINE int rtab_sg_op(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
			   const struct dma_seg *segs, unsigned int n, unsigned int dir,
			   unsigned int attrs, bool opp, int op)
{
	struct iovx_rtab *t = rtab_of(dom);
	unsigned int kda = rkda(RKIND_SG, dir, attrs) | (opp ? KDA_OPP : 0);
	uint64_t h;
	struct rentry *e = hint_entry(t, sg, n);
	int ret = 0;

	if (op == RTAB_UNMAP && e && (iovx_load_relaxed(&e->ref) & R_COUNT) &&
	    hint_match(e, kda, KDA_ALL, segs, n) &&
	    iovx_load_relaxed(&e->dma) == sg[0].dma_address && outs_match(e, sg)) {
		if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC))
			rsync(dom, e, true);
		if (rdrop(dom, e, true))
			return 0;
	}
	h = rhash(kda, segs, n);
	iovx_rcu_read_lock();
	e = find_key(t, h, kda, op == RTAB_UNMAP ? KDA_ALL : KDA_KD, segs, n, sg, false, NULL);
	if (!e) {
		ret = -ENOENT;
	} else {
		if (op == RTAB_SYNC_CPU || (op == RTAB_UNMAP && !(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC)))
			rsync(dom, e, true);
		else if (op == RTAB_SYNC_DEV)
			rsync(dom, e, false);
		if (op == RTAB_UNMAP && !rdrop(dom, e, true))
			ret = -ENOENT;
	}
	iovx_rcu_read_unlock();
	return ret;
}

static int rtab_single_op(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			  unsigned int dir, unsigned int attrs, bool opp, int op)
{
	struct iovx_rtab *t = rtab_of(dom);
	unsigned int kda = rkda(RKIND_SINGLE, dir, attrs) | (opp ? KDA_OPP : 0);
	struct rentry *e;
	int ret = -ENOENT;

	iovx_rcu_read_lock();
	/* E-R1 */
	for (e = bucket_first(&t->db[dhash(dma) & t->bmask]); e; e = iovx_load_acquire(&e->dnext)) {
		if (e->dma != dma || (e->kda & RKIND_SG) || (e->kda >> 1 & 3) != dir)
			continue;
		if (!(iovx_load_relaxed(&e->ref) & R_COUNT))
			continue;
		if (op == RTAB_UNMAP) {
			/* The whole mapping with its attrs, as the map made it. */
			if (e->seg[0].len != size || e->kda != kda)
				continue;
			if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC))
				rsync(dom, e, true);
			if (rdrop(dom, e, true))
				ret = 0;
			break;
		}
		/* A sync may cover a prefix of the mapping. */
		if (size > e->seg[0].len)
			continue;
		if (op == RTAB_SYNC_CPU && t->base->sync_for_cpu)
			t->base->sync_for_cpu(dom, dma, size, dir);
		else if (op == RTAB_SYNC_DEV && t->base->sync_for_device)
			t->base->sync_for_device(dom, dma, size, dir);
		ret = 0;
		break;
	}
	iovx_rcu_read_unlock();
	return ret;
}

/*
 * Is dma the first address of a table mapping with a reference, made for a buffer starting
 * at first (DMA_ANY_FIRST: any)? Then a call that named it with other arguments gets -EINVAL.
 */
static bool rtab_owns(struct iovx_dma_domain *dom, uint64_t dma, uint64_t first)
{
	struct iovx_rtab *t = rtab_of(dom);
	struct rentry *e;
	bool owns = false;

	iovx_rcu_read_lock();
	/* E-R1 */
	for (e = bucket_first(&t->db[dhash(dma) & t->bmask]); e; e = iovx_load_acquire(&e->dnext))
		if (e->dma == dma && (iovx_load_relaxed(&e->ref) & R_COUNT) &&
		    (first == DMA_ANY_FIRST || e->seg[0].addr == first)) {
			owns = true;
			break;
		}
	iovx_rcu_read_unlock();
	return owns;
}

/* ------------------------------------------------------------------ stop */

static bool roverlaps(const struct rentry *e, uint64_t lo, uint64_t hi)
{
	unsigned int i;

	for (i = 0; i < e->nin; i++)
		if (e->seg[i].addr < hi && lo < e->seg[i].addr + e->seg[i].len)
			return true;
	return false;
}

static int stop_range(struct iovx_dma_domain *dom, uint64_t lo, uint64_t hi)
{
	struct iovx_rtab *t = rtab_of(dom);
	int n = 0, err = 0;

	for (;;) {
		struct rentry *list = NULL, *e;
		bool others = false, need_reap = false;
		uint64_t i;

		iovx_rcu_read_lock();
		for (i = 0; i <= t->bmask && (iovx_load_relaxed(&t->nentries) ||
					      iovx_load_relaxed(&t->novf)); i++) {
			/* E-R1 */
			for (e = bucket_first(&t->kb[i]); e; e = iovx_load_acquire(&e->knext)) {
				uint64_t r;

				if (!roverlaps(e, lo, hi))
					continue;
				r = iovx_load_relaxed(&e->ref);
				if (r & R_DYING) {
					others = true;		/* torn down by its owner */
					need_reap |= !!(r & R_LINGER);
					continue;
				}
				if (!iovx_cmpxchg_acq_rel(&e->ref, &r, r | R_DYING)) {	/* E-R2 */
					others = true;		/* changed: look again */
					continue;
				}
				if (r & R_LINGER) {
					/* on the linger list: the reaper owns its teardown */
					others = need_reap = true;
					n++;
					continue;
				}
				e->tnext = list;
				list = e;
			}
		}
		iovx_rcu_read_unlock();
		while (list) {
			int e2;

			e = list;
			list = e->tnext;
			e2 = teardown(dom, e);
			if (e2 && !err)
				err = e2;
			n++;
		}
		if (!others)
			break;
		if (need_reap)
			reap(dom, false);	/* tears down DYING lingering entries */
		iovx_cond_resched();	/* R5: wait until the other owners unlinked theirs */
	}
	/*
	 * Deferred base: whatever else of these bytes was unmapped and still waits for its
	 * invalidation (an eviction, an untagged mapping of the same buffer) is flushed too —
	 * the caller is about to free the pages (I3).
	 */
	if (t->base->flush) {
		int e2 = t->base->flush(dom);

		if (e2 && !err)
			err = e2;
	}
	iovx_fetch_add_relaxed(&t->stops, (uint64_t)n);
	return err ? err : n;
}

static int check_range(uint64_t phys, uint64_t size, uint64_t *hi)
{
	if (!size)
		return -EINVAL;
	if (phys + size < phys)
		return -EOVERFLOW;
	*hi = phys + size;
	return 0;
}

int iovx_dma_stop_reuse(struct iovx_dma_domain *dom, uint64_t phys, size_t size)
{
	uint64_t hi;
	int err;

	if (!dom)
		return -EINVAL;
	err = check_range(phys, size, &hi);
	if (err)
		return err;
	if (!rtab_of(dom))
		return -EOPNOTSUPP;
	return stop_range(dom, phys, hi);
}

/* Every registered reuse domain; a domain being destroyed waits for us (users). */
static int stop_all(uint64_t lo, uint64_t hi)
{
	int i, n = 0, err = 0;

	for (i = 0; i < RT_MAX_DOMAINS; i++) {
		struct iovx_dma_domain *d;
		int r;

		iovx_rcu_read_lock();
		d = iovx_rcu_dereference(rt_registry[i]);
		if (d)
			iovx_fetch_add_acq_rel(&rtab_of(d)->users, 1);	/* E-R8 */
		iovx_rcu_read_unlock();
		if (!d)
			continue;
		r = stop_range(d, lo, hi);
		iovx_fetch_add_acq_rel(&rtab_of(d)->users, (uint64_t)-1);	/* E-R8 */
		if (r < 0 && !err)
			err = r;
		else if (r > 0)
			n += r;
	}
	return err ? err : n;
}

int iovx_buf_stop_reuse(uint64_t phys, size_t size)
{
	uint64_t hi;
	int err = check_range(phys, size, &hi);

	return err ? err : stop_all(phys, hi);
}

static int check_list(const struct iovx_dma_sg *sg, int nents)
{
	int i;

	if (!sg || nents <= 0 || nents > IOVX_DMA_MAX_SEGS)
		return -EINVAL;
	for (i = 0; i < nents; i++) {
		uint64_t a = sg[i].phys + sg[i].offset;

		if (!sg[i].length)
			return -EINVAL;
		if (a < sg[i].phys || a + sg[i].length < a)
			return -EOVERFLOW;
	}
	return 0;
}

int iovx_sg_mark_reusable(struct iovx_dma_sg *sg, int nents)
{
	int i, err = check_list(sg, nents);

	if (err)
		return err;
	for (i = 0; i < nents; i++)
		sg[i].flags = IOVX_SG_REUSE;	/* and no hint (RHINT_SHIFT) yet */
	return 0;
}

int iovx_sg_mark_stop_reuse(struct iovx_dma_sg *sg, int nents)
{
	int i, n = 0, err = check_list(sg, nents);
	bool tagged = false, stopped = false;

	if (err)
		return err;
	for (i = 0; i < nents; i++) {
		tagged |= !!(sg[i].flags & IOVX_SG_REUSE);
		stopped |= !!(sg[i].flags & IOVX_SG_REUSE_STOPPED);
	}
	if (!tagged)
		return stopped ? -EALREADY : -EINVAL;
	for (i = 0; i < nents; i++) {
		uint64_t a = sg[i].phys + sg[i].offset;
		int r = stop_all(a, a + sg[i].length);

		if (r < 0 && !err)
			err = r;
		else if (r > 0)
			n += r;
	}
	for (i = 0; i < nents; i++)
		sg[i].flags = IOVX_SG_REUSE_STOPPED;
	return err ? err : n;
}

int iovx_dma_reuse_evict(struct iovx_dma_domain *dom, unsigned int max)
{
	if (!dom)
		return -EINVAL;
	if (!rtab_of(dom))
		return -EOPNOTSUPP;
	return evict(dom, max);
}

/* ------------------------------------------------------------------ stats */

int iovx_dma_get_reuse_stats(struct iovx_dma_domain *dom, struct iovx_reuse_stats *st)
{
	struct iovx_rtab *t;
	uint64_t i, hits, revives = 0;
	struct rentry *e;

	if (!dom || !st)
		return -EINVAL;
	t = rtab_of(dom);
	if (!t)
		return -EOPNOTSUPP;
	iovx_memset(st, 0, sizeof(*st));
	hits = iovx_load_relaxed(&t->dead_hits);
	iovx_rcu_read_lock();
	for (i = 0; i <= t->bmask; i++) {
		/* E-R1 */
		for (e = bucket_first(&t->kb[i]); e; e = iovx_load_acquire(&e->knext)) {
			uint64_t r = iovx_load_relaxed(&e->ref);

			hits += iovx_load_relaxed(&e->hits);
			revives += iovx_load_relaxed(&e->revives);
			if (r & R_DYING)
				continue;
			st->entries++;
			st->refs += r & R_COUNT;
			st->active += (r & R_COUNT) != 0;
			if (e->seg != e->iseg)
				st->mem_bytes += 2 * (uint64_t)e->nin * sizeof(struct dma_seg);
		}
	}
	iovx_rcu_read_unlock();
	st->hits = hits;
	st->misses = iovx_load_relaxed(&t->misses);
	st->untagged_fallbacks = iovx_load_relaxed(&t->fallbacks);
	st->overflows = iovx_load_relaxed(&t->overflows);
	st->evictions = iovx_load_relaxed(&t->evictions);
	st->stops = iovx_load_relaxed(&t->stops);
	st->revivals = iovx_load_relaxed(&t->dead_revives) + revives;
	st->expired = iovx_load_relaxed(&t->expired);
	st->capacity = t->cap;
	st->mem_bytes += sizeof(*t) + t->cap * 2 * sizeof(uintptr_t) +
			 t->nslots * (sizeof(uint32_t) + sizeof(struct rentry));
	return 0;
}

/* ------------------------------------------------------------------ life cycle */

static int rtab_init(struct iovx_dma_domain *dom, unsigned int order, bool revive,
		     uint64_t linger_ns)
{
	struct iovx_rtab *t;
	uint64_t i;
	int r;

	IOVX_BUILD_BUG_ON(IOVX_REUSE_MAX_TABLE_ORDER + 1 > 32 - RHINT_SHIFT);
	t = iovx_zalloc(sizeof(*t), IOVX_GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t->cap = 1ull << order;
	t->nslots = 2 * t->cap;
	t->bmask = t->cap - 1;
	t->kb = iovx_zalloc(sizeof(uintptr_t) << order, IOVX_GFP_KERNEL);
	t->db = iovx_zalloc(sizeof(uintptr_t) << order, IOVX_GFP_KERNEL);
	t->free_next = iovx_zalloc(sizeof(uint32_t) * t->nslots, IOVX_GFP_KERNEL);
	t->slab = iovx_zalloc_aligned(sizeof(struct rentry) * t->nslots, 64, IOVX_GFP_KERNEL);
	if (!t->kb || !t->db || !t->free_next || !t->slab) {
		r = -ENOMEM;
		goto fail;
	}
	/* Every slot free (R_DYING: no hint reader takes it), stacked in index order. */
	for (i = 0; i < t->nslots; i++) {
		struct rentry *e = &t->slab[i];

		e->ref = R_DYING;
		e->tab = t;
		e->idx = (uint32_t)i;
		e->seg = e->iseg;
		t->free_next[i] = i + 1 < t->nslots ? (uint32_t)(i + 2) : 0;
	}
	t->free_top = 1;
	t->reg_slot = -1;
	for (r = 0; r < RT_MAX_DOMAINS; r++) {
		struct iovx_dma_domain *none = NULL;

		if (iovx_cmpxchg_acq_rel(&rt_registry[r], &none, dom)) {	/* E-R8 */
			t->reg_slot = r;
			break;
		}
	}
	if (t->reg_slot < 0) {
		r = -ENOSPC;
		goto fail;
	}
	t->dom = dom;
	/* also under a bounce layer: tagged buffers are never bounced (a hit needs no copy) */
	t->base = dom->mode;
	t->revive = revive;
	t->coarse_now = iovx_now_ns();
	t->linger_ns = linger_ns;
	if (revive) {
		r = iovx_timer_init(&t->timer, reap_timer, dom);
		if (r) {
			/* E-R8 */
			iovx_store_release(&rt_registry[t->reg_slot], (struct iovx_dma_domain *)NULL);
			goto fail;
		}
		t->timer_ok = true;
	}
	dom->layer_priv[IOVX_DMA_LAYER_REUSE] = t;
	return 0;
fail:
	iovx_free(t->kb);
	iovx_free(t->db);
	iovx_free(t->free_next);
	iovx_free(t->slab);
	iovx_free(t);
	return r;
}

/*
 * Domain destroy, before the base mode's unmap_all (which unmaps the whole IOVA space; in
 * a borrowed IOVA space each entry is unmapped here instead, its IOVA freed):
 * unregisters (no global stop reaches the domain any more), waits for global stops in
 * flight and for the grace periods of entries torn down earlier, frees everything.
 * Returns the references still held (mappings the caller leaked).
 */
static uint64_t rtab_fini(struct iovx_dma_domain *dom)
{
	struct iovx_rtab *t = rtab_of(dom);
	uint64_t i, refs = 0;

	if (!t)
		return 0;
	if (t->timer_ok) {
		iovx_timer_cancel_sync(&t->timer);
		iovx_timer_destroy(&t->timer);
		t->timer_ok = false;
	}
	iovx_store_release(&rt_registry[t->reg_slot], (struct iovx_dma_domain *)NULL);	/* E-R8 */
	iovx_synchronize_rcu();		/* a stop that saw us has counted itself in users */
	while (iovx_load_acquire(&t->users))	/* E-R8 */
		iovx_cond_resched();
	if (iovx_load_acquire(&t->pending))	/* E-R9 */
		iovx_rcu_barrier();	/* entries torn down earlier are released */
	for (i = 0; i <= t->bmask; i++) {
		struct rentry *e = bucket_first(&t->kb[i]), *next;

		for (; e; e = next) {
			next = iovx_load_relaxed(&e->knext);
			refs += e->ref & R_COUNT;
			/* a borrowed IOVA space is not cleared as a whole: each entry goes */
			if (dom->iova_borrowed)
				(void)t->base->unmap_single(dom, e->base, e->span, e->kda >> 1 & 3, 0);
			if (e->idx == R_HEAP_IDX)
				rentry_release(t, e);
		}
	}
	for (i = 0; i < t->nslots; i++) {
		struct rentry *e = &t->slab[i];

		if (e->seg != e->iseg)
			iovx_free(e->seg);
	}
	iovx_free(t->kb);
	iovx_free(t->db);
	iovx_free(t->free_next);
	iovx_free(t->slab);
	iovx_free(t);
	dom->layer_priv[IOVX_DMA_LAYER_REUSE] = NULL;
	return refs;
}

/* ------------------------------------------------------------------ the layer */

/* The table order a config asks for (0: the default). */
static unsigned int cfg_order(const struct iovx_dma_config *cfg)
{
	return cfg->reuse_table_order ? cfg->reuse_table_order : IOVX_REUSE_DEFAULT_TABLE_ORDER;
}

/*
 * IOVX_DMA_MODE_REUSE over cfg->fallback (STRICT or DEFERRED), IOVX_DMA_MODE_BOUNCE over
 * REUSE (this layer above bounce, over strict), and IOVX_DMA_F_REVIVE (a deferred base, no
 * bounce layer: revivable mappings live inside the deferred window).
 */
static int reuse_wanted(const struct iovx_dma_config *cfg, unsigned int base)
{
	bool revive = cfg->flags & IOVX_DMA_F_REVIVE;

	if (cfg->mode == IOVX_DMA_MODE_REUSE) {
		if (cfg->fallback != IOVX_DMA_MODE_STRICT &&
		    cfg->fallback != IOVX_DMA_MODE_DEFERRED)
			return -EINVAL;
	} else if (!(cfg->mode == IOVX_DMA_MODE_BOUNCE &&
		     cfg->fallback == IOVX_DMA_MODE_REUSE) && !revive) {
		return 0;
	}
	if (revive && (base != IOVX_DMA_MODE_DEFERRED || cfg->mode == IOVX_DMA_MODE_BOUNCE))
		return -EINVAL;
	if (cfg_order(cfg) < IOVX_REUSE_MIN_TABLE_ORDER ||
	    cfg_order(cfg) > IOVX_REUSE_MAX_TABLE_ORDER)
		return -EINVAL;
	if (revive && cfg->inval && (cfg->inval->max_age_ns < IOVX_INVAL_MIN_MAX_AGE_NS ||
				     cfg->inval->max_age_ns > IOVX_INVAL_MAX_MAX_AGE_NS))
		return -EINVAL;
	return 1;
}

static int reuse_init(struct iovx_dma_domain *dom, const struct iovx_dma_config *cfg)
{
	uint64_t bound = cfg->inval ? cfg->inval->max_age_ns : IOVX_INVAL_DEFAULT_MAX_AGE_NS;

	/*
	 * An idle revivable mapping lingers half the bound; the reaper runs every quarter,
	 * tears it down with a strict invalidation: reachable < the bound.
	 */
	return rtab_init(dom, cfg_order(cfg), cfg->flags & IOVX_DMA_F_REVIVE, bound / 2);
}

/* A call the table takes: a tagged buffer's, or any in revive mode (a revivable entry). */
static inline bool takes(struct iovx_dma_domain *dom, bool tagged)
{
	return tagged || rtab_of(dom)->revive;
}

static int reuse_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			    unsigned int dir, unsigned int attrs, uint64_t *dma)
{
	bool tagged = attrs & IOVX_DMA_ATTR_REUSE;
	int err;

	if (!takes(dom, tagged))
		return DMA_PASS;
	err = rtab_map_single(dom, phys, size, dir, attrs, !tagged, dma);
	return err == -ENOSPC ? DMA_PASS : err;		/* no room: mapped untagged below */
}

static int reuse_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
			const struct dma_seg *segs, unsigned int n, unsigned int dir,
			unsigned int attrs)
{
	bool tagged = sg[0].flags & IOVX_SG_REUSE;
	int ret;

	if (!takes(dom, tagged))
		return DMA_PASS;
	ret = rtab_map_sg(dom, sg, segs, n, dir, attrs, !tagged);
	return ret == -ENOSPC ? DMA_PASS : ret;		/* no room: mapped untagged below */
}

static int reuse_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			      unsigned int dir, unsigned int attrs)
{
	bool tagged = attrs & IOVX_DMA_ATTR_REUSE;

	if (!takes(dom, tagged) || rtab_single_op(dom, dma, size, dir, attrs, !tagged, RTAB_UNMAP))
		return DMA_PASS;
	return 0;
}

static int reuse_unmap_sg(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
			  const struct dma_map *m, unsigned int dir, unsigned int attrs)
{
	bool tagged = sg[0].flags & IOVX_SG_REUSE;

	if (!takes(dom, tagged) ||
	    rtab_sg_op(dom, sg, m->in, m->n, dir, attrs, !tagged, RTAB_UNMAP))
		return DMA_PASS;
	return 0;
}

/* A single buffer's sync names no tag: any table mapping starting at dma. */
static int reuse_sync_single(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			     unsigned int dir, bool for_cpu)
{
	if (rtab_single_op(dom, dma, size, dir, 0, false, for_cpu ? RTAB_SYNC_CPU : RTAB_SYNC_DEV))
		return DMA_PASS;
	return 0;
}

static int reuse_sync_sg(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
			 const struct dma_map *m, unsigned int dir, bool for_cpu)
{
	bool tagged = sg[0].flags & IOVX_SG_REUSE;

	if (!takes(dom, tagged) || rtab_sg_op(dom, sg, m->in, m->n, dir, 0, !tagged,
					      for_cpu ? RTAB_SYNC_CPU : RTAB_SYNC_DEV))
		return DMA_PASS;
	return 0;
}

/* The base mode ran out of IOVA: every idle entry goes. */
static int reuse_reclaim(struct iovx_dma_domain *dom)
{
	return evict(dom, 0);
}

const struct iovx_dma_layer_ops iovx_dma_layer_reuse = {
	.name = "reuse",
	.own_records = true,
	.map_syncs = false,
	.wanted = reuse_wanted,
	.init = reuse_init,
	.fini = rtab_fini,
	.map_single = reuse_map_single,
	.map_sg = reuse_map_sg,
	.unmap_single = reuse_unmap_single,
	.unmap_sg = reuse_unmap_sg,
	.sync_single = reuse_sync_single,
	.sync_sg = reuse_sync_sg,
	.reclaim = reuse_reclaim,
	.owns = rtab_owns,
};

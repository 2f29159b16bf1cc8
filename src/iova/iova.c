// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * iova.c - the IOVA allocator's entry points and its per-CPU magazine caches.
 *
 * What and why. Bonwick & Adams' magazines (as in drivers/iommu/iova.c's rcaches) in front
 * of a lock-free depot (depot.c) and a lock-free buddy backend (buddy.c). Each CPU slot
 * holds a cache with a loaded and a previous magazine per size class. Where Linux takes a
 * spinlock around every cached alloc and free, here:
 *   - userspace x86-64 with rseq: pop and push are restartable sequences with no atomic
 *     read-modify-write at all (iovx/static/rseq.h); a pop or push falls back from the
 *     loaded to the previous magazine inside the same sequence. When both are empty (alloc)
 *     or full (free), rseq_refill/rseq_drain take a magazine from the depot and swap it in
 *     for the loaded one with a restartable store: the cache stays attached, so a thread
 *     preempted there does not shut its CPU's fast path for the others. Only the rare rest
 *     (an allocation below a limit the top entries do not suit) detaches the whole cache
 *     from its slot (a restartable cmpxchg), works on it privately, and re-attaches it;
 *   - the kernel (IOVX_PCPU_PRIVATE): a cache is private to its CPU, changed only by that
 *     CPU with interrupts off and plain stores (SLUB's scheme); no other CPU ever writes
 *     it: reclaim asks each CPU to drain its own cache with an IPI (a kick);
 *   - elsewhere (TSan builds, no rseq): every operation detaches the cache with one
 *     exchange and re-attaches it with a store.
 * A caller that finds its slot detached (the owner was preempted, migrated, or a reclaimer
 * holds it) never waits: it goes around the cache to the depot/backend.
 *
 * Invariants:
 *   I1 every pfn is in exactly one place: a caller's hands, one magazine, a depot stack or
 *      exchange slot, or the backend; moves between places are single-owner hand-overs
 *      (C1, B1, depot).
 *   C1 a cache is touched only by (a) restartable sequences running on its CPU while it is
 *      attached, or (b) the one thread whose exchange/cmpxchg detached it; a magazine a
 *      sequence swapped out of an attached cache belongs to that sequence's thread alone;
 *   C2 a remote detach in rseq mode is followed by a membarrier fence on that CPU before
 *      the cache is touched, so no sequence that saw it attached can still commit;
 *   C3 private mode: a cache is read and written only by its own CPU with interrupts off
 *      (the cached paths, and the kick callback, which runs in that CPU's interrupt context
 *      and so never inside one of its interrupt-off sections), or, while that CPU is
 *      offline and held so (iovx_pcpu_hold_online), by the one reclaimer that claimed its
 *      claim word (otherwise 0 in this mode);
 *   C5 a class's loaded and previous magazine are one magazine, or two distinct ones; one
 *      only from its population until its first exchange with the depot, which only an
 *      owner of the cache (C1 (b), C3) makes (the restartable swap misses on it), and which
 *      keeps that magazine on as the previous one; whatever walks a cache's magazines
 *      (flush, depopulate, stats, audit) takes it once; before its population both are
 *      MAG_NONE, which no path writes and every walk skips;
 *   I6 total = reserved + live + cached + depot + backend_free, checked by audit().
 *
 * Progress: alloc and free are lock-free: the fast paths never wait, a detached slot is
 * bypassed, and depot/backend are lock-free. reclaim is lock-free too (it skips detached
 * slots). A thread stopped anywhere holds at most one detached cache (bypassed by others),
 * or one magazine it is moving between its cache and the depot, and the blocks it is
 * moving.
 *
 * Synchronization: alloc, free, reserve, reclaim and get_stats may all run concurrently;
 * domain_create/destroy may not run concurrently with anything on the domain; audit is
 * exact only on a quiescent domain.
 *
 * Ordering edges:
 *   E-C1 detach (exchange/cmpxchg, acquire) pairs with attach (store-release): the next
 *        owner of a cache sees everything the previous owner wrote.
 *   E-C2 rseq mode: pop/push/swap commit with plain stores on the CPU that owns the slot;
 *        a remote owner orders them by the membarrier fence (C2). A magazine swapped in
 *        was acquired from the depot (E-D1/E-D3) by the thread that commits it.
 *   E-C3 private mode: a requester's increment of req (a full barrier) happens before its
 *        kick reads the kick's pending flag; the owner's callback runs after the flag is
 *        cleared and, after a full fence, reads req (Dekker: a requester that found the
 *        flag set is covered by a run that sees its req); after draining the callback
 *        stores req to ack (release); a requester that reads ack >= its req (acquire)
 *        sees the drained blocks in the backend (their buddy_free CASes come first).
 *   E-C4 a cache's magazine pointers are stored with release and read by get_stats and
 *        audit with acquire, so a magazine created (zeroed) by another thread is seen whole.
 */
#include "iova_internal.h"

enum { MODE_CAS = 0, MODE_RSEQ = 1, MODE_KERNEL = 2 };

#define IOVX_IOVA_KNOWN_FLAGS (IOVX_IOVA_CHECKED | IOVX_IOVA_NO_CACHE)

#if defined(IOVX_HAVE_RSEQ) || defined(IOVX_PCPU_PRIVATE)
/* npages >= 1: ceil(log2(npages)) without a branch ("clz ^ 63" is one bsr) */
static inline uint64_t order_fast(uint64_t npages)
{
	return (uint64_t)(unsigned int)(__builtin_clzll(2 * npages - 1) ^ 63);
}

static inline uint64_t iova_ror64(uint64_t x, uint64_t k)
{
	return (x >> k) | (x << ((64 - k) & 63));	/* one ror */
}
#endif

void iovx_iova_config_init(struct iovx_iova_config *cfg, uint64_t start_pfn, uint64_t end_pfn)
{
	if (!cfg)
		return;
	cfg->granule_shift = 12;
	cfg->start_pfn = start_pfn;
	cfg->end_pfn = end_pfn;
	cfg->max_cached_order = IOVX_IOVA_DEFAULT_CACHED_ORDER;
	cfg->depot_max = 0;
	cfg->trim_idle_ns = 0;
	cfg->flags = 0;
}

/* ------------------------------------------------------------------ per-CPU slots */

#ifdef IOVX_HAVE_RSEQ
IOVX_BUILD_BUG_ON(IOVX_PCPU_STRIDE_SHIFT != IOVX_RSEQ_SLOT_SHIFT);
#endif
IOVX_BUILD_BUG_ON(sizeof(struct iovx_pcpu_cache) != (1 << IOVX_PCPU_STRIDE_SHIFT));
/* the inline fast path of iovx/static/iova.h relies on these */
IOVX_BUILD_BUG_ON(offsetof(struct iovx_iova_domain, fast) != 0);
IOVX_BUILD_BUG_ON(offsetof(struct iovx_pcpu_cache, loaded) != IOVX_IOVA_LOADED_OFF(0));
IOVX_BUILD_BUG_ON(offsetof(struct iovx_pcpu_cache, prev) != IOVX_IOVA_PREV_OFF(0));
IOVX_BUILD_BUG_ON(IOVX_IOVA_NR_CLASSES != IOVX_NR_CLASSES);

/*
 * Memory follows use. A class's magazines come from the depot (which creates them on first
 * use) when a CPU first needs that class. Until then its loaded and previous magazine are
 * MAG_NONE: in userspace a shared read-only stack whose count is ~0u, on which every cached
 * operation misses at no cost (the restartable pop reads the count as signed and misses on
 * n <= 0, the push reads it unsigned and misses on n >= cap, the swap misses because loaded
 * and previous are one; see iovx/static/rseq.h), and the slow path, which owns the cache,
 * populates that class alone; in the kernel MAG_NONE is NULL, one test of the pointer the
 * cached path loads anyway. A population that cannot get its magazine (no memory, even
 * GFP_ATOMIC) leaves the cache as it was and the operation goes to the backend, never to
 * failure. Nothing ever writes MAG_NONE's stack (it is const: a write would fault).
 */
#ifdef IOVX_PCPU_PRIVATE
#define MAG_NONE	((struct iovx_mag *)NULL)
#else
static const struct iovx_mag mag_none_stack = { .n = UINT32_MAX };
#define MAG_NONE	((struct iovx_mag *)&mag_none_stack)
#endif

static void trim_kick(struct iovx_iova_domain *dom);
static void trim_timer_fn(void *arg);

/*
 * An empty magazine for class cls of an owned cache that has none (MAG_NONE); false when
 * the depot cannot create one, and the cache stays as it was. The magazine is both the
 * loaded and the previous one (C5): the cached pop and push test both, find the same count
 * and miss where one magazine would; the class gets its second magazine on its first
 * exchange with the depot (cache_get, cache_put), so a class that never fills or empties a
 * magazine costs one.
 */
static bool cache_populate(struct iovx_iova_domain *dom, struct iovx_pcpu_cache *c,
			   unsigned int cls)
{
	struct iovx_mag *a = iovx_depot_take_empty(&dom->depot, cls);

	if (!a)
		return false;
	iovx_store_release(&c->prev[cls], a);				/* E-C4 */
	iovx_store_release(&c->loaded[cls], a);
	trim_kick(dom);
	return true;
}

#ifndef IOVX_PCPU_PRIVATE
/* Remote claim (reclaim): a populated, attached cache only. */
static inline bool cache_claim(struct iovx_pcpu_cache *c)
{
	uint64_t attached = 0;

	return iovx_cmpxchg_acq_rel(&c->claim, &attached, 1);		/* E-C1 */
}

/* Detaches the caller's CPU's cache; NULL when someone else holds it. */
static struct iovx_pcpu_cache *cache_detach(struct iovx_iova_domain *dom)
{
	struct iovx_pcpu_cache *c;

#ifdef IOVX_HAVE_RSEQ
	if (dom->percpu_mode == MODE_RSEQ)
		return iovx_rseq_slot_detach(dom->fast.caches, 1);	/* E-C1 */
#endif
	c = &dom->fast.caches[iovx_cpu_hint()];
	/* 1: someone else owns it (and this exchange wrote the 1 it held) */
	return iovx_xchg_acq_rel(&c->claim, 1) ? NULL : c;		/* E-C1 */
}

static inline void cache_attach(struct iovx_pcpu_cache *c)
{
	iovx_store_release(&c->claim, 0);				/* E-C1 */
}
#endif

/* C1: userspace touches a cache's magazines only through the claim that detached it. */
static inline void cache_owned(const struct iovx_pcpu_cache *c)
{
#ifndef IOVX_PCPU_PRIVATE
	iovx_assert(iovx_load_relaxed(&c->claim));
#endif
}

/* Swaps an owned cache's loaded and previous magazines of a class; returns the new loaded. */
static struct iovx_mag *cache_swap(struct iovx_pcpu_cache *c, unsigned int cls)
{
	struct iovx_mag *m = c->loaded[cls], *p = c->prev[cls];

	iovx_store_release(&c->prev[cls], m);
	iovx_store_release(&c->loaded[cls], p);
	return p;
}

/* Pops an entry <= max_start from an owned cache; 0 when none is at hand. */
static uint64_t cache_get(struct iovx_iova_domain *dom, struct iovx_pcpu_cache *c,
			  unsigned int cls, uint64_t max_start)
{
	struct iovx_mag *m = c->loaded[cls];

	cache_owned(c);
	if (m == MAG_NONE) {
		if (!cache_populate(dom, c, cls))
			return 0;	/* the backend serves */
		m = c->loaded[cls];
	}
	if (!m->n) {
		if (c->prev[cls]->n) {
			m = cache_swap(c, cls);
		} else {
			struct iovx_mag *full = iovx_depot_take_full(&dom->depot, cls);

			if (!full)
				return 0;
			if (c->prev[cls] != m)	/* else it stays on as the previous one (C5) */
				iovx_depot_give_empty(&dom->depot, cls, m);
			iovx_store_release(&c->loaded[cls], full);
			m = full;
		}
	}
	if (iovx_likely(m->pfn[m->n - 1] <= max_start)) {
		iovx_store_relaxed(&m->n, m->n - 1);	/* get_stats reads counts concurrently */
		return m->pfn[m->n];
	}
	/* A lower limit than the cached entries suit (a 32-bit device): look deeper. */
	for (unsigned int k = 0; k < 2; k++) {
		m = k ? c->prev[cls] : c->loaded[cls];
		for (uint32_t i = m->n; i-- > 0;) {
			uint64_t v = m->pfn[i];

			if (v <= max_start) {
				iovx_store_relaxed(&m->pfn[i], m->pfn[m->n - 1]);
				iovx_store_relaxed(&m->n, m->n - 1);
				return v;
			}
		}
	}
	return 0;
}

/* Pushes pfn into an owned cache; false when the cache and the depot are full. */
static bool cache_put(struct iovx_iova_domain *dom, struct iovx_pcpu_cache *c,
		      unsigned int cls, uint64_t pfn)
{
	struct iovx_mag *m = c->loaded[cls];
	uint32_t cap = dom->fast.mag_cap[cls];

	cache_owned(c);
	if (m == MAG_NONE) {
		if (!cache_populate(dom, c, cls))
			return false;	/* the backend takes it */
		m = c->loaded[cls];
	}
	if (m->n >= cap) {
		if (c->prev[cls]->n < cap) {
			m = cache_swap(c, cls);
		} else {
			struct iovx_mag *e = iovx_depot_take_empty(&dom->depot, cls);

			if (!e)
				return false;
			/* a first magazine (C5) stays on, full, as the previous one */
			if (c->prev[cls] != m && !iovx_depot_give_full(&dom->depot, cls, m)) {
				iovx_depot_give_empty(&dom->depot, cls, e);
				return false;
			}
			iovx_store_release(&c->loaded[cls], e);
			m = e;
		}
	}
	iovx_store_relaxed(&m->pfn[m->n], pfn);
	iovx_store_relaxed(&m->n, m->n + 1);
	return true;
}

#ifdef IOVX_HAVE_RSEQ
/*
 * rseq mode: the magazine exchange with the depot without detaching the cache. A thread
 * preempted while it holds a detached cache shuts its CPU's fast path for everyone until it
 * runs again (a whole time slice when threads outnumber CPUs); these paths hold nothing
 * but the magazine in their hands, so other threads of the CPU keep their fast path.
 * refill: the loaded and previous magazines are empty (the fast pop missed): take a full
 * magazine from the depot, swap it in for the empty loaded one with one restartable store,
 * give the empty one back. drain: the mirror for frees. Both return true when the caller
 * should retry the restartable pop/push (the cache may have changed meanwhile), false when
 * the depot had nothing to give or the cache is detached (then the detaching slow path).
 */
static struct iovx_pcpu_cache *rseq_cache_hint(struct iovx_iova_domain *dom)
{
	unsigned int cpu = iovx_rseq_cpu_id();

	return cpu < dom->nr_cpus ? &dom->fast.caches[cpu] : NULL;
}

/* A full magazine in hand back to the depot, or its entries to the backend if no room. */
static void give_full_or_flush(struct iovx_iova_domain *dom, unsigned int cls,
			       struct iovx_mag *m)
{
	uint64_t n = m->n;

	if (iovx_depot_give_full(&dom->depot, cls, m))
		return;
	for (uint64_t i = 0; i < n; i++)
		iovx_buddy_free(&dom->buddy, m->pfn[i], cls);
	iovx_depot_give_empty(&dom->depot, cls, m);
}

static IOVX_NOINLINE bool rseq_refill(struct iovx_iova_domain *dom, unsigned int cls)
{
	struct iovx_pcpu_cache *c = rseq_cache_hint(dom);
	struct iovx_mag *f, *e;

	/*
	 * a racy look first: worth a depot round trip only if both are empty and distinct (a
	 * first magazine, C5, grows its second under the claim; the swap checks it again)
	 */
	if (!c || iovx_load_relaxed(&c->claim) ||
	    iovx_load_relaxed(&c->loaded[cls]) == iovx_load_relaxed(&c->prev[cls]) ||
	    iovx_load_relaxed(&iovx_load_relaxed(&c->loaded[cls])->n) ||
	    iovx_load_relaxed(&iovx_load_relaxed(&c->prev[cls])->n))
		return false;
	f = iovx_depot_take_full(&dom->depot, cls);
	if (!f)
		return false;
	IOVX_PARK_POINT("iova.alloc.refill");
	e = iovx_rseq_cls_swap_empty_at(iovx_rseq_off, dom->fast.caches, cls, f);
	if (e)
		iovx_depot_give_empty(&dom->depot, cls, e);
	else
		give_full_or_flush(dom, cls, f);	/* the cache changed: f is not needed */
	return true;
}

static IOVX_NOINLINE bool rseq_drain(struct iovx_iova_domain *dom, unsigned int cls)
{
	struct iovx_pcpu_cache *c = rseq_cache_hint(dom);
	uint32_t cap = dom->fast.mag_cap[cls];
	struct iovx_mag *e, *m;

	if (!c || iovx_load_relaxed(&c->claim) ||
	    iovx_load_relaxed(&c->loaded[cls]) == iovx_load_relaxed(&c->prev[cls]) ||
	    iovx_load_relaxed(&iovx_load_relaxed(&c->loaded[cls])->n) < cap ||
	    iovx_load_relaxed(&iovx_load_relaxed(&c->prev[cls])->n) < cap)
		return false;
	e = iovx_depot_take_empty(&dom->depot, cls);
	if (!e)
		return false;
	IOVX_PARK_POINT("iova.free.drain");
	m = iovx_rseq_cls_swap_full_at(iovx_rseq_off, dom->fast.caches, cls, cap, e);
	if (m)
		give_full_or_flush(dom, cls, m);
	else
		iovx_depot_give_empty(&dom->depot, cls, e);
	return true;
}
#endif

#ifdef IOVX_PCPU_PRIVATE
/*
 * Private mode (C3). The magazine exchange is out of line: it uses the depot's CASes, and
 * the two functions below must stay free of locked instructions (scripts check it).
 */
static IOVX_NOINLINE uint64_t pcpu_get_slow(struct iovx_iova_domain *dom,
					    struct iovx_pcpu_cache *c, unsigned int cls,
					    uint64_t max_start)
{
	return cache_get(dom, c, cls, max_start);	/* populates the class if needed */
}

static IOVX_NOINLINE bool pcpu_put_slow(struct iovx_iova_domain *dom, struct iovx_pcpu_cache *c,
					unsigned int cls, uint64_t pfn)
{
	return cache_put(dom, c, cls, pfn);
}

/*
 * This CPU's cache with interrupts off: nothing else on this CPU can run in between (no
 * interrupt, softirq or preemption), and no other CPU touches the cache (C3), so the pop is
 * a load of the count, a load of the entry and a plain store of the count.
 */
uint64_t iovx_iova_pcpu_alloc(struct iovx_iova_domain *dom, unsigned int cls, uint64_t max_start)
{
	struct iovx_pcpu_cache *c;
	iovx_irqflags_t flags;
	struct iovx_mag *m;
	uint64_t v;
	uint32_t n;

	iovx_local_irq_save(flags);
	c = &dom->fast.caches[iovx_pcpu_this_cpu()];
	m = c->loaded[cls];
	if (iovx_likely(m && (n = m->n) && m->pfn[n - 1] <= max_start)) {
		v = m->pfn[n - 1];
		iovx_store_relaxed(&m->n, n - 1);	/* get_stats reads counts concurrently */
	} else {
		v = pcpu_get_slow(dom, c, cls, max_start);
	}
	iovx_local_irq_restore(flags);
	return v;
}

bool iovx_iova_pcpu_free(struct iovx_iova_domain *dom, unsigned int cls, uint64_t pfn)
{
	struct iovx_pcpu_cache *c;
	iovx_irqflags_t flags;
	struct iovx_mag *m;
	uint32_t n;
	bool ok = true;

	iovx_local_irq_save(flags);
	c = &dom->fast.caches[iovx_pcpu_this_cpu()];
	m = c->loaded[cls];
	if (iovx_likely(m && (n = m->n) < dom->fast.mag_cap[cls])) {
		iovx_store_relaxed(&m->pfn[n], pfn);
		iovx_store_relaxed(&m->n, n + 1);
	} else {
		ok = pcpu_put_slow(dom, c, cls, pfn);
	}
	iovx_local_irq_restore(flags);
	return ok;
}
#else
/*
 * The slow paths through this CPU's cache, one pass for both directions: a get (put false)
 * returns a cached pfn at or below arg or 0; a put returns 1 when the cache took pfn arg.
 * The cache is detached for the call; when another thread holds it the call bypasses it
 * (returns 0).
 */
static IOVX_NOINLINE uint64_t cached_slow(struct iovx_iova_domain *dom, unsigned int cls,
					  uint64_t arg, bool put)
{
	struct iovx_pcpu_cache *c;
	iovx_irqflags_t flags;
	uint64_t v;

	iovx_local_irq_save(flags);
	c = cache_detach(dom);
	if (!c) {
		iovx_local_irq_restore(flags);
		iovx_fetch_add_relaxed(&dom->cache_bypass, 1);
		return 0;
	}
	IOVX_PARK_POINT(put ? "iova.free.pcpu" : "iova.alloc.pcpu");
	v = put ? cache_put(dom, c, cls, arg) : cache_get(dom, c, cls, arg);
	cache_attach(c);
	iovx_local_irq_restore(flags);
	return v;
}
#endif

/* ------------------------------------------------------------------ create / destroy */

#ifdef IOVX_PCPU_PRIVATE
static void pcpu_kicked(void *arg);
static void pcpu_dead(void *arg, unsigned int cpu);
#endif

static void domain_free(struct iovx_iova_domain *dom)
{
#ifdef IOVX_PCPU_PRIVATE
	iovx_pcpu_dead_remove(&dom->dead);	/* waits for a running callback */
#endif
	if (dom->trim_seen) {
		iovx_timer_cancel_sync(&dom->trim_timer);
		iovx_timer_destroy(&dom->trim_timer);
		iovx_free(dom->trim_seen);
	}
#ifdef IOVX_PCPU_PRIVATE
	if (dom->drains) {
		/* a queued kick still references its csd and the domain: let every one finish */
		while (iovx_load_acquire(&dom->kicks_in_flight) != 0)
			iovx_cpu_relax();
		iovx_free(dom->drains);
	}
#endif
	if (dom->allocated) {
		for (unsigned int k = 0; k < dom->nr_allocated; k++) {
			iovx_shb_destroy(&dom->allocated[k]);
			iovx_shb_destroy(&dom->ends[k]);
		}
		iovx_free(dom->allocated);
	}
	while (dom->reserved_list) {
		struct reserved_range *r = dom->reserved_list;

		dom->reserved_list = r->next;
		iovx_free(r);
	}
	iovx_free(dom->fast.caches);
	iovx_depot_destroy(&dom->depot);	/* frees what init allocated; NULLs are fine */
	if (dom->buddy.pc)
		iovx_buddy_destroy(&dom->buddy);
	iovx_free(dom);
}

/* The cached classes: those whose smallest aligned block fits the space. */
static void classes_init(struct iovx_iova_domain *dom, const struct iovx_iova_config *cfg,
			 uint64_t start)
{
	unsigned int cls;

	dom->fast.ncls = (cfg->flags & IOVX_IOVA_NO_CACHE) ? 0 : cfg->max_cached_order + 1;
	if (dom->fast.ncls > dom->buddy.max_order + 1)
		dom->fast.ncls = dom->buddy.max_order + 1;
	for (cls = 0; cls < dom->fast.ncls; cls++) {
		uint64_t size = 1ull << cls;
		uint64_t first = (start + size - 1) & ~(size - 1);

		if (first + size > dom->fast.end_pfn || first < start) {
			dom->fast.ncls = cls;	/* no room for this class, nor for larger ones */
			break;
		}
		dom->fast.blk_lo[cls] = first >> cls;
		dom->fast.blk_span[cls] = ((dom->fast.end_pfn - size) >> cls) - (first >> cls);
	}
}

/*
 * Depot bound per class: 'base' magazines for the two smallest classes, halving every
 * second class (a TX ring of a few thousand 1-granule IOVAs in flight fits; a class of 256
 * granules still keeps a few magazines), at least 4. The two smallest classes use big
 * magazines (255 entries) and, by default, half as many of them: the same entries. Also
 * counts the magazines of each kind the depot may hand out.
 */
static void depot_bounds(const struct iovx_iova_domain *dom, const struct iovx_iova_config *cfg,
			 uint32_t *full_max, uint32_t *nr_mags)
{
	unsigned int ncpu = dom->nr_cpus, base, cls;

	base = cfg->depot_max ? cfg->depot_max :
	       (ncpu * 4 < 32 ? 32 : ncpu * 4 > 512 ? 512 : ncpu * 4);
	for (cls = 0; cls < dom->fast.ncls; cls++) {
		unsigned int k = iovx_mag_kind(cls);
		uint32_t b = k || cfg->depot_max ? base >> (cls / 2) : base / 2;

		full_max[cls] = b < 4 ? 4 : b;
		/* two per CPU cache, the bound, the exchange slot's; spares for each kind in use */
		if (!nr_mags[k])
			nr_mags[k] = ncpu * 2;
		nr_mags[k] += ncpu * 2 + full_max[cls] + 1;
	}
}

/*
 * The per-CPU caches, without magazines (each gets them on its first use: cache_populate),
 * and in the kernel each CPU's drain request and the hotplug callback.
 */
static int caches_init(struct iovx_iova_domain *dom)
{
	unsigned int ncpu = dom->nr_cpus, cpu;

	dom->fast.caches = iovx_zalloc_aligned(ncpu * sizeof(*dom->fast.caches),
					       sizeof(*dom->fast.caches), IOVX_GFP_KERNEL);
	if (!dom->fast.caches)
		return -ENOMEM;
	dom->mem_bytes += ncpu * sizeof(*dom->fast.caches);
	for (cpu = 0; cpu < ncpu; cpu++) {
		struct iovx_pcpu_cache *c = &dom->fast.caches[cpu];

		c->home = cpu;
#ifndef IOVX_PCPU_PRIVATE
		for (unsigned int cls = 0; cls < IOVX_NR_CLASSES; cls++) {
			c->loaded[cls] = MAG_NONE;
			c->prev[cls] = MAG_NONE;
		}
#endif
	}
#ifdef IOVX_PCPU_PRIVATE
	dom->drains = iovx_zalloc_aligned(ncpu * sizeof(*dom->drains), IOVX_CACHELINE,
					  IOVX_GFP_KERNEL);
	if (!dom->drains)
		return -ENOMEM;
	dom->mem_bytes += ncpu * sizeof(*dom->drains);
	for (cpu = 0; cpu < ncpu; cpu++) {
		struct pcpu_drain *d = &dom->drains[cpu];

		d->dom = dom;
		d->cpu = cpu;
		iovx_pcpu_kick_init(&d->kick, pcpu_kicked, d);
	}
	return iovx_pcpu_dead_add(&dom->dead, pcpu_dead, dom);
#else
	return 0;
#endif
}

/* Idle trimming (cfg->trim_idle_ns): what each CPU and class was seen using, and the timer. */
static int trim_init(struct iovx_iova_domain *dom, uint64_t trim_idle_ns)
{
	size_t sz = (dom->nr_cpus + IOVX_NR_CLASSES) * sizeof(*dom->trim_seen);
	int ret;

	dom->trim_seen = iovx_zalloc(sz, IOVX_GFP_KERNEL);
	if (!dom->trim_seen)
		return -ENOMEM;
	ret = iovx_timer_init(&dom->trim_timer, trim_timer_fn, dom);
	if (ret) {
		iovx_free(dom->trim_seen);
		dom->trim_seen = NULL;
		return ret;
	}
	dom->mem_bytes += sz;
	dom->trim_ns = trim_idle_ns;
	return 0;
}

/* IOVX_IOVA_CHECKED: the shadow bitmaps of what is allocated (and of block ends). */
static int checked_init(struct iovx_iova_domain *dom, uint64_t end_pfn)
{
	int ret;

	dom->nr_allocated = dom->buddy.max_order + 1;
	dom->allocated = iovx_zalloc(2 * dom->nr_allocated * sizeof(struct shb), IOVX_GFP_KERNEL);
	if (!dom->allocated)
		return -ENOMEM;
	dom->ends = dom->allocated + dom->nr_allocated;
	for (unsigned int k = 0; k < dom->nr_allocated; k++) {
		ret = iovx_shb_init(&dom->allocated[k], ((end_pfn - 1) >> k) + 1, &dom->mem_bytes);
		if (!ret && k >= dom->fast.ncls)
			ret = iovx_shb_init(&dom->ends[k], end_pfn, &dom->mem_bytes);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Magazine capacity per class: big magazines (the smallest classes) IOVX_MAG_BIG_SIZE
 * entries; normal ones 127 up to 64 granules, then halving per class, at least 7.
 */
static void mag_caps_init(struct iovx_iova_domain *dom)
{
	for (unsigned int cls = 0; cls < IOVX_NR_CLASSES; cls++) {
		uint32_t cap = cls <= 6 ? IOVX_MAG_SIZE : IOVX_MAG_SIZE >> (cls - 6);

		cap = cap < 7 ? 7 : cap;
		cap = cap < IOVX_MAG_SIZE ? cap : IOVX_MAG_SIZE;
		dom->fast.mag_cap[cls] = iovx_mag_kind(cls) ? cap : IOVX_MAG_BIG_SIZE;
	}
}

int iovx_iova_domain_create(const struct iovx_iova_config *cfg, struct iovx_iova_domain **out)
{
	struct iovx_iova_domain *dom;
	uint32_t full_max[IOVX_NR_CLASSES] = { 0 }, nr_mags[2] = { 0, 0 };
	uint64_t start;
	int ret;

	if (!cfg || !out)
		return -EINVAL;
	start = cfg->start_pfn ? cfg->start_pfn : 1;
	if (cfg->granule_shift < 12 || cfg->granule_shift > 16 || start >= cfg->end_pfn ||
	    cfg->end_pfn > (1ull << IOVX_BUDDY_MAX_ORDER) ||
	    cfg->max_cached_order > IOVX_IOVA_MAX_CACHED_ORDER ||
	    (cfg->flags & ~IOVX_IOVA_KNOWN_FLAGS))
		return -EINVAL;

	dom = iovx_zalloc(sizeof(*dom), IOVX_GFP_KERNEL);
	if (!dom)
		return -ENOMEM;
	dom->fast.start_pfn = start;
	dom->fast.end_pfn = cfg->end_pfn;
	dom->flags = cfg->flags;
	dom->granule_shift = cfg->granule_shift;
	dom->mem_bytes = sizeof(*dom);
	dom->nr_cpus = iovx_nr_cpu_ids();
	ret = iovx_buddy_init(&dom->buddy, start, cfg->end_pfn, &dom->mem_bytes);
	if (ret)
		goto fail;
	classes_init(dom, cfg, start);
	if (dom->fast.ncls) {
		depot_bounds(dom, cfg, full_max, nr_mags);
		ret = iovx_depot_init(&dom->depot, nr_mags, full_max, &dom->mem_bytes);
		if (!ret)
			ret = caches_init(dom);
		if (!ret && cfg->trim_idle_ns)
			ret = trim_init(dom, cfg->trim_idle_ns);
		if (ret)
			goto fail;
	}
	if (cfg->flags & IOVX_IOVA_CHECKED) {
		ret = checked_init(dom, cfg->end_pfn);
		if (ret)
			goto fail;
	}
#if defined(IOVX_PCPU_PRIVATE)
	dom->percpu_mode = MODE_KERNEL;
#elif defined(IOVX_HAVE_RSEQ)
	dom->percpu_mode = iovx_rseq_usable ? MODE_RSEQ : MODE_CAS;
#else
	dom->percpu_mode = MODE_CAS;
#endif
	mag_caps_init(dom);
	/* the cached hit in iovx_iova_alloc/free: rseq or private mode, not checked */
	if ((dom->percpu_mode == MODE_RSEQ || dom->percpu_mode == MODE_KERNEL) &&
	    !dom->allocated && dom->fast.ncls)
		dom->fast.inline_np = 1ull << (dom->fast.ncls - 1);
	iovx_pin_get();
	*out = dom;
	return 0;
fail:
	domain_free(dom);
	return ret;
}

void iovx_iova_domain_destroy(struct iovx_iova_domain *dom)
{
	if (!dom)
		return;
	domain_free(dom);
	iovx_pin_put();
}

/* ------------------------------------------------------------------ alloc / free */

/*
 * Checked mode. allocated[order] has a bit per allocated block; for the exact-size orders
 * (>= ncls) ends[order] also marks the last granule, so a free must name the exact size.
 * Blocks of one order never overlap, so an end bit in ends[order] inside a block can only
 * be that block's. Returns -ENOMEM if a bitmap cannot grow.
 */
static int checked_mark(struct iovx_iova_domain *dom, uint64_t pfn, unsigned int order,
			uint64_t npages)
{
	uint64_t *w = iovx_shb_word_hint(&dom->allocated[order], pfn >> order, true,
					 IOVX_GFP_ATOMIC);
	uint64_t bit = 1ull << ((pfn >> order) & 63), last = pfn + npages - 1;

	if (!w)
		return -ENOMEM;
	if (order >= dom->fast.ncls) {
		uint64_t *e = iovx_shb_word(&dom->ends[order], last, true, IOVX_GFP_ATOMIC);

		if (!e)
			return -ENOMEM;
		iovx_fetch_or_acq_rel(e, 1ull << (last & 63));
	}
	/* I1: a block being handed out cannot already be someone's */
	IOVX_WARN_ON(iovx_fetch_or_acq_rel(w, bit) & bit);
	return 0;
}

static int checked_unmark(struct iovx_iova_domain *dom, uint64_t pfn, unsigned int order,
			  uint64_t npages)
{
	if (!iovx_shb_test_and_clear_hint(&dom->allocated[order], pfn >> order))
		return -EFAULT;
	if (order >= dom->fast.ncls && !iovx_shb_test_and_clear(&dom->ends[order], pfn + npages - 1)) {
		iovx_shb_set(&dom->allocated[order], pfn >> order);	/* wrong size: undo */
		return -EFAULT;
	}
	return 0;
}

/* Largest aligned block starting at pfn that fits below end. */
static unsigned int fit_order(uint64_t pfn, uint64_t end, unsigned int max_order)
{
	unsigned int o = pfn ? iovx_ctz64(pfn) : 63;
	unsigned int fit = iovx_fls64(end - pfn) - 1;

	if (o > fit)
		o = fit;
	return o > max_order ? max_order : o;
}

/* Returns [pfn, pfn + n) to the backend as aligned blocks; they merge with free buddies. */
static void backend_free_range(struct iovx_iova_domain *dom, uint64_t pfn, uint64_t n)
{
	for (uint64_t end = pfn + n; pfn < end;) {
		unsigned int o = fit_order(pfn, end, dom->buddy.max_order);

		iovx_buddy_free(&dom->buddy, pfn, o);
		pfn += 1ull << o;
	}
}

/*
 * Cached classes are whole blocks (dma-iommu rounds those sizes up to a power of two for
 * the same reason); larger allocations use exactly npages granules, as the kernel's rbtree
 * does, and their tail goes back to the backend at allocation.
 */
/* try_push: the restartable push was not tried yet (false after a fast-path miss) */
static IOVX_NOINLINE void give_back(struct iovx_iova_domain *dom, uint64_t pfn,
				   unsigned int order, uint64_t npages, bool try_push)
{
	if (order >= dom->fast.ncls) {
		IOVX_PARK_POINT("iova.free.backend");
		backend_free_range(dom, pfn, npages);
		return;
	}
#ifdef IOVX_HAVE_RSEQ
	if (dom->percpu_mode == MODE_RSEQ) {
		if (try_push && iovx_rseq_cls_push_at(iovx_rseq_off, dom->fast.caches, order,
						      dom->fast.mag_cap[order], pfn))
			return;
		if (rseq_drain(dom, order) &&
		    iovx_rseq_cls_push_at(iovx_rseq_off, dom->fast.caches, order,
					  dom->fast.mag_cap[order], pfn))
			return;
	}
#endif
#ifdef IOVX_PCPU_PRIVATE
	if (try_push && iovx_iova_pcpu_free(dom, order, pfn))
		return;
#else
	if (cached_slow(dom, order, pfn, true))
		return;
#endif
	IOVX_PARK_POINT("iova.free.backend");
	iovx_buddy_free(&dom->buddy, pfn, order);
}

static IOVX_NOINLINE int64_t alloc_backend(struct iovx_iova_domain *dom, unsigned int order,
					   uint64_t lim, uint64_t npages, uint64_t need)
{
	int64_t v;

	IOVX_PARK_POINT("iova.alloc.backend");
	v = iovx_buddy_alloc(&dom->buddy, order, lim, need);
	if (v == -ENOMEM) {
		/*
		 * pressure: pull back what every cache and the depot hold, then retry once (in
		 * private mode always: kicked CPUs may have drained even if this caller could
		 * not wait for them)
		 */
		if (iovx_iova_reclaim(dom) > 0 || dom->percpu_mode == MODE_KERNEL)
			v = iovx_buddy_alloc(&dom->buddy, order, lim, need);
		if (v < 0)
			iovx_fetch_add_relaxed(&dom->alloc_failures, 1);
	}
	if (v > 0 && need < (1ull << order)) {
		/* exact size: the words its pieces need exist before the tail goes back */
		if (iovx_buddy_prepare_boundary(&dom->buddy, (uint64_t)v + npages, order)) {
			iovx_buddy_free(&dom->buddy, (uint64_t)v, order);
			return -ENOMEM;
		}
		backend_free_range(dom, (uint64_t)v + npages, (1ull << order) - npages);
	}
	return v;
}

/*
 * The order of a request of npages (its block size in *size), or -EINVAL: no domain, no
 * pages, or above the top order.
 */
static int req_order(const struct iovx_iova_domain *dom, uint64_t npages, uint64_t *size)
{
	unsigned int order;

	if (!dom || !npages)
		return -EINVAL;
	order = iovx_order_base2(npages);
	if (order > dom->buddy.max_order)
		return -EINVAL;
	*size = 1ull << order;
	return (int)order;
}

/* Everything but the cached hit: validation in full, cache slow path, backend, checks. */
/* try_pop: the restartable pop was not tried yet (false after a fast-path miss) */
static IOVX_NOINLINE int64_t alloc_slow(struct iovx_iova_domain *dom, uint64_t npages,
					uint64_t limit_pfn, bool try_pop)
{
	uint64_t lim, size, need, max_start;
	int o = req_order(dom, npages, &size);
	unsigned int order = (unsigned int)o;
	int64_t v = 0;

	if (o < 0)
		return o;
	/* cached classes occupy the whole block; larger sizes exactly npages */
	need = order < dom->fast.ncls ? size : npages;
	lim = limit_pfn < dom->fast.end_pfn ? limit_pfn : dom->fast.end_pfn;
	if (lim < need)
		return -EINVAL;
	max_start = lim - need;
	/* some aligned block must start at or above start_pfn and at or below max_start */
	if (((dom->fast.start_pfn + size - 1) & ~(size - 1)) > max_start ||
	    dom->fast.start_pfn + size - 1 < dom->fast.start_pfn)
		return -EINVAL;
	if (order < dom->fast.ncls) {
#ifdef IOVX_HAVE_RSEQ
		if (dom->percpu_mode == MODE_RSEQ) {
			/* v + size <= lim: max_start = lim - size for cached classes */
			if (try_pop)
				v = (int64_t)iovx_rseq_cls_pop_at(iovx_rseq_off, dom->fast.caches,
								  order, lim, size);
			if (!v && rseq_refill(dom, order))
				v = (int64_t)iovx_rseq_cls_pop_at(iovx_rseq_off, dom->fast.caches,
								  order, lim, size);
		}
#endif
#ifdef IOVX_PCPU_PRIVATE
		if (try_pop)
			v = (int64_t)iovx_iova_pcpu_alloc(dom, order, max_start);
#else
		if (!v)
			v = (int64_t)cached_slow(dom, order, max_start, false);
#endif
	}
	if (!v) {
		v = alloc_backend(dom, order, lim, npages, need);
		if (v < 0)
			return v;
	}
	if (dom->allocated && checked_mark(dom, (uint64_t)v, order, npages)) {
		give_back(dom, (uint64_t)v, order, npages, true);
		return -ENOMEM;
	}
	/* the semantics every path keeps: aligned to the size, inside the domain, below the limit */
	iovx_assert((uint64_t)v >= dom->fast.start_pfn && !((uint64_t)v & (size - 1)) &&
		    (uint64_t)v + need <= lim);
	return v;
}

/*
 * The cached path fits here: one compare validates npages and the mode, one restartable
 * pop that also checks the limit (v + size <= limit_pfn; see iovx/static/iova.h for why no
 * clamp to end_pfn is needed), return. Any other case (a miss, CAS mode, checked mode, bad
 * input) is one call to alloc_slow.
 */
int64_t iovx_iova_alloc(struct iovx_iova_domain *dom, uint64_t npages, uint64_t limit_pfn)
{
#ifdef IOVX_HAVE_RSEQ
	if (iovx_likely(dom && npages - 1 < dom->fast.inline_np)) {
		uint64_t order = order_fast(npages);
		uint64_t v = iovx_rseq_cls_pop_at(iovx_rseq_off, dom->fast.caches, order,
						  limit_pfn, 1ull << order);

		if (iovx_likely(v))
			return (int64_t)v;
		return alloc_slow(dom, npages, limit_pfn, false);
	}
#endif
#ifdef IOVX_PCPU_PRIVATE
	/* the same shape: v + size <= limit_pfn is v <= limit_pfn - size */
	if (iovx_likely(dom && npages - 1 < dom->fast.inline_np)) {
		uint64_t order = order_fast(npages);
		uint64_t size = 1ull << order;

		if (iovx_likely(limit_pfn >= size)) {
			uint64_t v = iovx_iova_pcpu_alloc(dom, (unsigned int)order,
							  limit_pfn - size);

			if (iovx_likely(v))
				return (int64_t)v;
			return alloc_slow(dom, npages, limit_pfn, false);
		}
	}
#endif
	return alloc_slow(dom, npages, limit_pfn, true);
}

static IOVX_NOINLINE int free_slow(struct iovx_iova_domain *dom, uint64_t pfn, uint64_t npages,
				   bool try_push)
{
	uint64_t size;
	int o = req_order(dom, npages, &size);
	unsigned int order = (unsigned int)o;

	if (o < 0)
		return o;
	if ((pfn & (size - 1)) || pfn < dom->fast.start_pfn || size > dom->fast.end_pfn ||
	    pfn > dom->fast.end_pfn - size)
		return -EINVAL;
	if (dom->allocated && checked_unmark(dom, pfn, order, npages))
		return -EFAULT;
	give_back(dom, pfn, order, npages, try_push);
	return 0;
}

/* Mirror of iovx_iova_alloc: the cached push inline, anything else in free_slow. */
int iovx_iova_free(struct iovx_iova_domain *dom, uint64_t pfn, uint64_t npages)
{
#ifdef IOVX_HAVE_RSEQ
	if (iovx_likely(dom && npages - 1 < dom->fast.inline_np)) {
		uint64_t order = order_fast(npages);

		/* aligned and inside the domain: see blk_lo in iovx/static/iova_layout.h */
		if (iovx_likely(iova_ror64(pfn, order) - dom->fast.blk_lo[order] <=
				dom->fast.blk_span[order])) {
			if (iovx_likely(iovx_rseq_cls_push_at(iovx_rseq_off, dom->fast.caches,
							      order, dom->fast.mag_cap[order],
							      pfn)))
				return 0;
			return free_slow(dom, pfn, npages, false);
		}
	}
#endif
#ifdef IOVX_PCPU_PRIVATE
	if (iovx_likely(dom && npages - 1 < dom->fast.inline_np)) {
		uint64_t order = order_fast(npages);

		if (iovx_likely(iova_ror64(pfn, order) - dom->fast.blk_lo[order] <=
				dom->fast.blk_span[order])) {
			if (iovx_likely(iovx_iova_pcpu_free(dom, (unsigned int)order, pfn)))
				return 0;
			return free_slow(dom, pfn, npages, false);
		}
	}
#endif
	return free_slow(dom, pfn, npages, true);
}

/* ------------------------------------------------------------------ reclaim */

static uint64_t mag_flush(struct iovx_iova_domain *dom, struct iovx_mag *m, unsigned int cls)
{
	uint64_t n;

	if (m == MAG_NONE)
		return 0;	/* a class this CPU never used */
	n = m->n;

	for (uint32_t i = 0; i < m->n; i++)
		iovx_buddy_free(&dom->buddy, m->pfn[i], cls);
	iovx_store_relaxed(&m->n, 0);
	return n << cls;
}

/*
 * An owned cache (claimed, or this CPU's with interrupts off in private mode) gives its
 * ranges to the backend and its magazines to the depot: back to its state before first use.
 */
static uint64_t cache_depopulate(struct iovx_iova_domain *dom, struct iovx_pcpu_cache *c)
{
	uint64_t total = 0;

	for (unsigned int cls = 0; cls < dom->fast.ncls; cls++) {
		struct iovx_mag *l = c->loaded[cls], *p = c->prev[cls];

		if (l == MAG_NONE)
			continue;
		total += mag_flush(dom, l, cls) + mag_flush(dom, p, cls);
		iovx_store_release(&c->loaded[cls], MAG_NONE);			/* E-C4 */
		iovx_store_release(&c->prev[cls], MAG_NONE);
		iovx_depot_give_empty(&dom->depot, cls, l);
		if (p != l)	/* C5: a first magazine is both */
			iovx_depot_give_empty(&dom->depot, cls, p);
	}
	return total;
}

#ifdef IOVX_PCPU_PRIVATE
static uint64_t pcpu_flush(struct iovx_iova_domain *dom, struct iovx_pcpu_cache *c)
{
	uint64_t total = 0;

	for (unsigned int cls = 0; cls < dom->fast.ncls; cls++) {
		total += mag_flush(dom, c->loaded[cls], cls);
		total += mag_flush(dom, c->prev[cls], cls);
	}
	return total;
}

/* The kick: runs on d->cpu in interrupt context, so never inside that CPU's cached ops. */
static void pcpu_kicked(void *arg)
{
	struct pcpu_drain *d = arg;
	struct iovx_iova_domain *dom = d->dom;
	uint32_t req;
	uint64_t n;

	/*
	 * E-C3: the kick's "pending" flag was cleared (a store) just before this runs; a
	 * requester whose kick saw it still set counts on this run to read its req. Without a
	 * full fence the load below could pass that store (store->load reordering) and read
	 * the old req while the requester reads the flag still set: both sides would miss.
	 */
	iovx_store_release(&d->kicking, 0);	/* the csd is free again: others may kick */
	iovx_fence_seq_cst();
	req = iovx_load_acquire(&d->req);
	IOVX_WARN_ON(iovx_pcpu_this_cpu() != d->cpu);
	n = pcpu_flush(dom, &dom->fast.caches[d->cpu]);
	/* an idle-trim request also returns the magazines (the locked exchange is fine here) */
	if (iovx_load_relaxed(&d->trim) && iovx_xchg_acq_rel(&d->trim, 0))
		cache_depopulate(dom, &dom->fast.caches[d->cpu]);
	if (n)
		iovx_fetch_add_relaxed(&dom->kick_drained, n);
	iovx_store_release(&d->ack, req);				/* E-C3 */
	/* the last touch of the domain: destroy waits for this count to reach 0 */
	iovx_fetch_add_acq_rel(&dom->kicks_in_flight, -1);
}

/*
 * CPU hotplug: after 'cpu' went offline (it runs nothing until it comes back), its cache
 * gives its ranges to the backend and its magazines to the depot, as Linux's
 * iova_cpuhp_dead does with its rcaches. A reclaimer draining offline caches claims the
 * word the same way, so the two never drain one cache at once.
 */
static void pcpu_dead(void *arg, unsigned int cpu)
{
	struct iovx_iova_domain *dom = arg;
	struct iovx_pcpu_cache *c;
	uint64_t attached = 0;

	if (cpu >= dom->nr_cpus || !dom->fast.ncls)
		return;
	c = &dom->fast.caches[cpu];
	if (!iovx_cmpxchg_acq_rel(&c->claim, &attached, 1))
		return;
	cache_depopulate(dom, c);
	iovx_store_release(&c->claim, 0);
}

/*
 * A drain request to 'cpu' and, unless a kick is queued there and not yet started (it reads
 * req after it starts: E-C3, with the kicking flag in the role of the pending flag), a kick.
 * Kicks of one CPU are serialized by the kicking flag, as smp_call_function_single_async
 * requires of its callers.
 */
static void pcpu_kick_cpu(struct iovx_iova_domain *dom, unsigned int cpu)
{
	struct pcpu_drain *d = &dom->drains[cpu];

	iovx_fetch_add_acq_rel(&d->req, 1);				/* E-C3 */
	if (iovx_xchg_acq_rel(&d->kicking, 1))
		return;
	iovx_fetch_add_acq_rel(&dom->kicks_in_flight, 1);
	if (iovx_pcpu_kick(&d->kick, cpu) <= 0) {
		/* not queued (an offline CPU): nothing will run and clear the flag */
		iovx_store_release(&d->kicking, 0);
		iovx_fetch_add_acq_rel(&dom->kicks_in_flight, -1);
	}
}

/*
 * How long an atomic caller with interrupts on waits for the kicked CPUs before it gives
 * up: a CPU that does not answer may be spinning, interrupts off, on a lock the caller
 * holds. An answering CPU takes microseconds; this is far beyond that even under
 * emulation, and is spent only when the domain is out of space.
 */
#define PCPU_KICK_WAIT_NS	(100ull * 1000 * 1000)

/*
 * Every CPU drains its own cache: this one directly, the others when kicked. A caller that
 * may wait (iovx_pcpu_wait_ok) waits until every online CPU has acknowledged a request made
 * after its own, so everything cached when it started is back in the backend when it
 * returns; an atomic caller gives up after PCPU_KICK_WAIT_NS. With interrupts off it must
 * not wait at all: the kicks are queued and the caller goes on with what is in the backend
 * already. See docs/allocator.md, "Kernel per-CPU caches".
 */
static uint64_t pcpu_reclaim(struct iovx_iova_domain *dom)
{
	uint64_t total, deadline, before = iovx_load_acquire(&dom->kick_drained);
	int mode = iovx_pcpu_wait_ok();
	bool wait = mode != IOVX_PCPU_WAIT_NONE;
	iovx_irqflags_t flags;
	unsigned int me;

	iovx_local_irq_save(flags);
	me = iovx_pcpu_this_cpu();
	total = pcpu_flush(dom, &dom->fast.caches[me]);
	iovx_local_irq_restore(flags);
	/*
	 * An offline CPU takes no kick: with hotplug held off, drain its cache from here. Other
	 * reclaimers may hold it off too, so the claim word (unused otherwise in this mode)
	 * picks one of them per cache.
	 */
	if (mode == IOVX_PCPU_WAIT_ANY && iovx_pcpu_hold_online()) {
		for (unsigned int cpu = 0; cpu < dom->nr_cpus; cpu++) {
			struct iovx_pcpu_cache *c = &dom->fast.caches[cpu];
			uint64_t free_word = 0;

			if (iovx_pcpu_online(cpu) ||
			    !iovx_cmpxchg_acq_rel(&c->claim, &free_word, 1))
				continue;
			total += pcpu_flush(dom, c);
			iovx_store_release(&c->claim, 0);
		}
		iovx_pcpu_release_online();
	}
	for (unsigned int cpu = 0; cpu < dom->nr_cpus; cpu++) {
		if (cpu == me && !wait)
			continue;	/* drained above; with interrupts on, 'me' may be stale */
		pcpu_kick_cpu(dom, cpu);
	}
	if (!wait)
		return total;
	deadline = mode == IOVX_PCPU_WAIT_ANY ? UINT64_MAX : iovx_now_ns() + PCPU_KICK_WAIT_NS;
	for (unsigned int cpu = 0; cpu < dom->nr_cpus; cpu++) {
		struct pcpu_drain *d = &dom->drains[cpu];
		uint32_t want = iovx_load_acquire(&d->req);

		/* an offline CPU runs no kick (nor any cached op) */
		while ((int32_t)(iovx_load_acquire(&d->ack) - want) < 0 &&	/* E-C3 */
		       iovx_pcpu_online(cpu)) {
			if (mode == IOVX_PCPU_WAIT_ANY) {
				iovx_cond_resched();
			} else if (iovx_now_ns() > deadline) {
				goto out;	/* the allocation may fail: see above */
			}
			iovx_cpu_relax();
		}
	}
out:
	return total + (iovx_load_acquire(&dom->kick_drained) - before);
}
#endif

int64_t iovx_iova_reclaim(struct iovx_iova_domain *dom)
{
	uint64_t total = 0;

	if (!dom)
		return -EINVAL;
#ifdef IOVX_PCPU_PRIVATE
	if (dom->fast.ncls)
		total = pcpu_reclaim(dom);
#else
	for (unsigned int cpu = 0; cpu < dom->nr_cpus && dom->fast.ncls; cpu++) {
		/* remote detach (C1); a busy slot's owner will bring its cache back itself */
		struct iovx_pcpu_cache *c = &dom->fast.caches[cpu];

		if (!cache_claim(c))
			continue;
#ifdef IOVX_HAVE_RSEQ
		if (dom->percpu_mode == MODE_RSEQ)
			iovx_rseq_fence_cpu(cpu);	/* C2, E-C2 */
#endif
		IOVX_PARK_POINT("iova.reclaim.detached");
		for (unsigned int cls = 0; cls < dom->fast.ncls; cls++) {
			total += mag_flush(dom, c->loaded[cls], cls);
			total += mag_flush(dom, c->prev[cls], cls);
		}
		cache_attach(c);
	}
#endif
	for (unsigned int cls = 0; cls < dom->fast.ncls; cls++) {
		struct iovx_mag *m;

		/* the exchange slot's full magazine, then the stack's */
		while ((m = iovx_depot_take_full(&dom->depot, cls))) {
			total += mag_flush(dom, m, cls);
			iovx_depot_push_empty(&dom->depot, m);
		}
	}
	iovx_fetch_add_relaxed(&dom->reclaims, 1);
	return (int64_t)total;
}

/* ------------------------------------------------------------------ idle trimming */

/*
 * With trim_idle_ns set, a timer looks at every populated per-CPU cache and at every
 * class of the depot. The cached path records nothing: the timer compares what it sees
 * (magazine pointers and counts, the depot's stack tags) with what it saw before, and a
 * cache or class unchanged for trim_idle_ns is trimmed: a cache gives its ranges to the
 * backend and its magazines to the depot and becomes unpopulated again (in userspace the
 * timer claims it as a remote reclaim does; in the kernel it asks the owner CPU with a
 * kick), a depot class gives its full magazines' ranges to the backend. A cache that was
 * used and came back to the same state looks idle and is trimmed early: a cost, never an
 * error. The timer runs while anything is populated or held by the depot and stops
 * otherwise; the next population starts it again (trim_kick, on the slow path).
 */
static uint64_t trim_mix(uint64_t s, uint64_t v)
{
	return (s ^ v) * 0x9e3779b97f4a7c15ull;
}

static uint32_t mag_count(struct iovx_mag *m);

/* What the timer sees of a cache; 0 when it is unpopulated. */
static uint64_t trim_cache_sig(struct iovx_iova_domain *dom, struct iovx_pcpu_cache *c)
{
	uint64_t s = 0;
	bool any = false;

#ifndef IOVX_PCPU_PRIVATE
	s = trim_mix(s, iovx_load_relaxed(&c->claim));
#endif
	for (unsigned int cls = 0; cls < dom->fast.ncls; cls++) {
		struct iovx_mag *l = iovx_load_acquire(&c->loaded[cls]);		/* E-C4 */
		struct iovx_mag *p = iovx_load_acquire(&c->prev[cls]);

		any |= l != MAG_NONE;
		s = trim_mix(s, (uintptr_t)l + mag_count(l));
		s = trim_mix(s, (uintptr_t)p + ((uint64_t)mag_count(p) << 32));
	}
	return any ? s | 1 : 0;
}

/* Trims the cache of 'cpu'; false when that cannot be done now. */
static bool trim_cache(struct iovx_iova_domain *dom, unsigned int cpu)
{
#ifdef IOVX_PCPU_PRIVATE
	struct pcpu_drain *d = &dom->drains[cpu];

	iovx_store_release(&d->trim, 1);
	pcpu_kick_cpu(dom, cpu);
	return true;
#else
	struct iovx_pcpu_cache *c = &dom->fast.caches[cpu];

	if (!cache_claim(c))
		return false;	/* in use */
#ifdef IOVX_HAVE_RSEQ
	if (dom->percpu_mode == MODE_RSEQ)
		iovx_rseq_fence_cpu(cpu);	/* C2, E-C2 */
#endif
	IOVX_PARK_POINT("iova.trim.detached");
	cache_depopulate(dom, c);
	cache_attach(c);						/* E-C1 */
	return true;
#endif
}

static void trim_timer_fn(void *arg)
{
	struct iovx_iova_domain *dom = arg;
	struct trim_seen *seen = dom->trim_seen;
	uint64_t now = iovx_now_ns();
	bool busy = false;

	for (unsigned int cpu = 0; cpu < dom->nr_cpus; cpu++) {
		uint64_t sig = trim_cache_sig(dom, &dom->fast.caches[cpu]);

		if (!sig)
			continue;
		busy = true;
		if (sig != seen[cpu].sig) {
			seen[cpu].sig = sig;
			seen[cpu].since_ns = now;
		} else if (now - seen[cpu].since_ns >= dom->trim_ns && trim_cache(dom, cpu)) {
			seen[cpu].sig = 0;
			iovx_fetch_add_relaxed(&dom->trims, 1);
		}
	}
	for (unsigned int cls = 0; cls < dom->fast.ncls; cls++) {
		struct trim_seen *t = &seen[dom->nr_cpus + cls];
		struct iovx_mag *m;
		uint64_t sig;

		if (!iovx_load_relaxed(&dom->depot.full_count[cls]) &&
		    !iovx_depot_xslot_full(&dom->depot, cls))
			continue;
		busy = true;
		sig = trim_mix(iovx_load_acquire(&dom->depot.full_top[cls]),
			       iovx_load_acquire(&dom->depot.xslot[cls * DEPOT_XS_STRIDE]));
		if (sig != t->sig) {
			t->sig = sig;
			t->since_ns = now;
			continue;
		}
		if (now - t->since_ns < dom->trim_ns)
			continue;
		while ((m = iovx_depot_take_full(&dom->depot, cls))) {
			mag_flush(dom, m, cls);
			iovx_depot_push_empty(&dom->depot, m);
		}
		t->sig = 0;
		iovx_fetch_add_relaxed(&dom->trims, 1);
	}
	if (busy) {
		iovx_timer_arm(&dom->trim_timer, dom->trim_ns / 2 + 1);
		return;
	}
	/* nothing to watch: stop; a population that raced with this scan re-arms */
	iovx_store_release(&dom->trim_armed, 0);
	for (unsigned int cpu = 0; cpu < dom->nr_cpus; cpu++) {
		if (trim_cache_sig(dom, &dom->fast.caches[cpu])) {
			trim_kick(dom);
			break;
		}
	}
}

/* Starts the trim timer if it is stopped (slow paths only: a cache was populated). */
static void trim_kick(struct iovx_iova_domain *dom)
{
	if (!dom->trim_ns || iovx_load_relaxed(&dom->trim_armed) ||
	    iovx_xchg_acq_rel(&dom->trim_armed, 1))
		return;
	iovx_timer_arm(&dom->trim_timer, dom->trim_ns / 2 + 1);
}

/* ------------------------------------------------------------------ reserve */

struct blk {
	uint64_t pfn;
	unsigned int order;
};

struct blkvec {
	struct blk *v;
	size_t n, cap;
};

/*
 * Makes room for one more element in the array *v of n elements (capacity *cap, elem bytes
 * each): doubles it (first: the first capacity) when full. 0 or -ENOMEM (*v unchanged).
 */
static int grow_array(void **v, size_t n, size_t *cap, size_t elem, size_t first,
		      unsigned int gfp)
{
	size_t nc;
	void *nv;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : first;
	nv = iovx_zalloc(nc * elem, gfp);
	if (!nv)
		return -ENOMEM;
	if (n)
		iovx_memcpy(nv, *v, n * elem);
	iovx_free(*v);
	*v = nv;
	*cap = nc;
	return 0;
}

static int blkvec_push(struct blkvec *bv, uint64_t pfn, unsigned int order)
{
	void *v = bv->v;

	if (grow_array(&v, bv->n, &bv->cap, sizeof(*bv->v), 64, IOVX_GFP_ATOMIC))
		return -ENOMEM;
	bv->v = v;
	bv->v[bv->n].pfn = pfn;
	bv->v[bv->n].order = order;
	bv->n++;
	return 0;
}

static bool already_reserved(struct iovx_iova_domain *dom, uint64_t pfn, uint64_t n)
{
	for (struct reserved_range *r = iovx_load_acquire(&dom->reserved_list); r;
	     r = iovx_load_acquire(&r->next))
		if (pfn >= r->pfn && pfn + n <= r->pfn + r->npages)
			return true;
	return false;
}

static int reserve_once(struct iovx_iova_domain *dom, uint64_t pfn, uint64_t npages)
{
	struct blkvec carved = { 0 }, todo = { 0 };
	struct reserved_range *r;
	uint64_t a, b, p, got = 0;
	int ret = 0;

	if (!dom || !npages || pfn + npages < pfn)
		return -EINVAL;
	a = pfn > dom->fast.start_pfn ? pfn : dom->fast.start_pfn;
	b = pfn + npages < dom->fast.end_pfn ? pfn + npages : dom->fast.end_pfn;
	if (a >= b)
		return 0;
	r = iovx_zalloc(sizeof(*r), IOVX_GFP_ATOMIC);
	if (!r)
		return -ENOMEM;
	r->pfn = a;
	r->npages = b - a;

	for (p = a; p < b && !ret; p += 1ull << fit_order(p, b, dom->buddy.max_order)) {
		ret = blkvec_push(&todo, p, fit_order(p, b, dom->buddy.max_order));
		while (!ret && todo.n) {
			struct blk k = todo.v[--todo.n];

			if (already_reserved(dom, k.pfn, 1ull << k.order))
				continue;
			ret = iovx_buddy_carve(&dom->buddy, k.pfn, k.order);
			if (!ret) {
				ret = blkvec_push(&carved, k.pfn, k.order);
				if (ret)
					iovx_buddy_free(&dom->buddy, k.pfn, k.order);
				continue;
			}
			if (ret != -EBUSY || !k.order)
				break;
			/* partly free: look at both halves */
			ret = blkvec_push(&todo, k.pfn + (1ull << (k.order - 1)), k.order - 1);
			if (!ret)
				ret = blkvec_push(&todo, k.pfn, k.order - 1);
		}
	}
	if (ret) {
		for (size_t i = 0; i < carved.n; i++)
			iovx_buddy_free(&dom->buddy, carved.v[i].pfn, carved.v[i].order);
		iovx_free(r);
	} else {
		for (size_t i = 0; i < carved.n; i++)
			got += 1ull << carved.v[i].order;
		iovx_fetch_add_acq_rel(&dom->reserved, got);
		r->next = iovx_load_relaxed(&dom->reserved_list);
		while (!iovx_cmpxchg_acq_rel(&dom->reserved_list, &r->next, r))
			;
	}
	iovx_free(carved.v);
	iovx_free(todo.v);
	return ret;
}

int iovx_iova_reserve(struct iovx_iova_domain *dom, uint64_t pfn, uint64_t npages)
{
	int ret = reserve_once(dom, pfn, npages);

	/* cached ranges are free to the caller: pull them back and look again */
	if (ret == -EBUSY && iovx_iova_reclaim(dom) > 0)
		ret = reserve_once(dom, pfn, npages);
	return ret;
}

/* ------------------------------------------------------------------ statistics */

static uint64_t hoard_bound(const struct iovx_iova_domain *dom)
{
	uint64_t bound = 0;

	for (unsigned int cls = 0; cls < dom->fast.ncls && cls < IOVX_NR_CLASSES; cls++)
		bound += ((uint64_t)dom->fast.mag_cap[cls] *
			  (2ull * dom->nr_cpus + dom->depot.full_max[cls] + 1)) << cls;
	return bound;
}

static uint32_t mag_count(struct iovx_mag *m)
{
	return m && m != MAG_NONE ? iovx_load_relaxed(&m->n) : 0;
}

static void fill_common(struct iovx_iova_domain *dom, struct iovx_iova_stats *st)
{
	iovx_memset(st, 0, sizeof(*st));
	st->total = dom->fast.end_pfn - dom->fast.start_pfn;
	st->reserved = iovx_load_acquire(&dom->reserved);
	st->alloc_failures = iovx_load_relaxed(&dom->alloc_failures);
	st->reclaims = iovx_load_relaxed(&dom->reclaims);
	st->cache_bypass = iovx_load_relaxed(&dom->cache_bypass);
	st->trims = iovx_load_relaxed(&dom->trims);
	st->backend_allocs = iovx_buddy_allocs(&dom->buddy);
	st->backend_frees = iovx_buddy_frees(&dom->buddy);
	st->hoard_bound = hoard_bound(dom);
	st->mem_bytes = iovx_load_relaxed(&dom->mem_bytes);
	st->nr_cpu_slots = dom->nr_cpus;
	st->mag_size = IOVX_MAG_BIG_SIZE;
	st->percpu_mode = (uint64_t)dom->percpu_mode;
}

static void close_sums(struct iovx_iova_stats *st)
{
	uint64_t held = st->reserved + st->cached + st->depot + st->backend_free;

	st->live = held <= st->total ? st->total - held : 0;
}

int iovx_iova_get_stats(struct iovx_iova_domain *dom, struct iovx_iova_stats *st)
{
	if (!dom || !st)
		return -EINVAL;
	fill_common(dom, st);
	st->backend_free = iovx_buddy_free_granules(&dom->buddy);
	for (unsigned int cpu = 0; cpu < dom->nr_cpus && dom->fast.ncls; cpu++) {
		struct iovx_pcpu_cache *c = &dom->fast.caches[cpu];

		for (unsigned int cls = 0; cls < dom->fast.ncls; cls++) {
			struct iovx_mag *l = iovx_load_acquire(&c->loaded[cls]);
			struct iovx_mag *p = iovx_load_acquire(&c->prev[cls]);

			/* C5: a first magazine is both; a racy read may count one twice */
			st->cached += ((uint64_t)mag_count(l) + (p != l ? mag_count(p) : 0)) << cls;
		}
	}
	for (unsigned int cls = 0; cls < dom->fast.ncls && cls < IOVX_NR_CLASSES; cls++) {
		struct iovx_mag *x = iovx_depot_xslot_full(&dom->depot, cls);

		st->depot += ((uint64_t)iovx_load_relaxed(&dom->depot.full_count[cls]) *
			      dom->fast.mag_cap[cls] + (x ? mag_count(x) : 0)) << cls;
	}
	close_sums(st);
	return 0;
}

/* audit: every held block as an interval, sorted, checked for overlap */
struct ivl {
	uint64_t start, len;
};

struct audit_ctx {
	struct iovx_iova_domain *dom;
	struct ivl *v;
	size_t n, cap;
	uint64_t sum;
	unsigned int cls;
	int err;
};

static int audit_add_ivl(struct audit_ctx *a, uint64_t start, uint64_t len, bool block)
{
	void *v = a->v;

	if (grow_array(&v, a->n, &a->cap, sizeof(*a->v), 1024, IOVX_GFP_KERNEL))
		return -ENOMEM;
	a->v = v;
	if (start < a->dom->fast.start_pfn || start + len > a->dom->fast.end_pfn ||
	    (block && (start & (len - 1))))
		a->err = -EFAULT;	/* outside the domain, or a misaligned block */
	a->v[a->n].start = start;
	a->v[a->n].len = len;
	a->n++;
	a->sum += len;
	return 0;
}

/* a power-of-two block: must be aligned to its size */
static int audit_add(struct audit_ctx *a, uint64_t start, uint64_t len)
{
	return audit_add_ivl(a, start, len, true);
}

static int audit_buddy_cb(void *arg, uint64_t pfn, unsigned int order)
{
	return audit_add(arg, pfn, 1ull << order);
}

/*
 * audit and get_stats may run while owners change magazines: every read of shared magazine
 * state is a relaxed atomic (the owners write with relaxed stores), so a concurrent audit
 * is a race-free snapshot that may not close, never undefined behaviour.
 */
static int audit_mag(struct audit_ctx *a, struct iovx_mag *m)
{
	uint32_t n;

	if (!m || m == MAG_NONE)
		return 0;	/* a class this CPU never used */
	n = iovx_load_relaxed(&m->n);

	if (n > a->dom->fast.mag_cap[a->cls])
		return -EFAULT;
	for (uint32_t i = 0; i < n; i++) {
		int ret = audit_add(a, iovx_load_relaxed(&m->pfn[i]), 1ull << a->cls);

		if (ret)
			return ret;
	}
	return 0;
}

static int audit_mag_cb(void *arg, struct iovx_mag *m)
{
	return audit_mag(arg, m);
}

/* Moves v[root] down the heap v[0..n) until both children start no later. */
static void ivl_sift(struct ivl *v, size_t root, size_t n)
{
	for (;;) {
		size_t c = 2 * root + 1;
		struct ivl t;

		if (c >= n)
			return;
		if (c + 1 < n && v[c + 1].start > v[c].start)
			c++;
		if (v[root].start >= v[c].start)
			return;
		t = v[root];
		v[root] = v[c];
		v[c] = t;
		root = c;
	}
}

/* heapsort by start: no recursion, no extra memory */
static void ivl_sort(struct ivl *v, size_t n)
{
	size_t i, end;

	for (i = n / 2; i-- > 0;)
		ivl_sift(v, i, n);
	for (end = n; end-- > 1;) {
		struct ivl t = v[0];

		v[0] = v[end];
		v[end] = t;
		ivl_sift(v, 0, end);
	}
}

static int audit_walk(struct audit_ctx *a, struct iovx_iova_stats *st)
{
	struct iovx_iova_domain *dom = a->dom;
	uint64_t mark;
	int ret;

	ret = iovx_buddy_walk(&dom->buddy, audit_buddy_cb, a);
	if (ret)
		return ret;
	st->backend_free = a->sum;
	if (a->sum != iovx_buddy_free_granules(&dom->buddy))
		a->err = -EFAULT;
	mark = a->sum;
	for (unsigned int cpu = 0; cpu < dom->nr_cpus && dom->fast.ncls; cpu++) {
		struct iovx_pcpu_cache *c = &dom->fast.caches[cpu];

		for (a->cls = 0; a->cls < dom->fast.ncls; a->cls++) {
			struct iovx_mag *l = iovx_load_acquire(&c->loaded[a->cls]);
			struct iovx_mag *p = iovx_load_acquire(&c->prev[a->cls]);

			ret = audit_mag(a, l);
			if (!ret && p != l)	/* C5: a first magazine is both */
				ret = audit_mag(a, p);
			if (ret)
				return ret;
		}
	}
	st->cached = a->sum - mark;
	mark = a->sum;
	for (a->cls = 0; a->cls < dom->fast.ncls; a->cls++) {
		struct iovx_mag *x = iovx_depot_xslot_full(&dom->depot, a->cls);

		ret = x ? audit_mag(a, x) : 0;
		if (!ret)
			ret = iovx_depot_walk_full(&dom->depot, a->cls, audit_mag_cb, a);
		if (ret)
			return ret;
	}
	st->depot = a->sum - mark;
	return 0;
}

int iovx_iova_audit(struct iovx_iova_domain *dom, struct iovx_iova_stats *st)
{
	struct audit_ctx a = { .dom = dom };
	struct audit_ctx res = { .dom = dom };
	uint64_t rsum = 0;
	int ret;

	if (!dom || !st)
		return -EINVAL;
	fill_common(dom, st);
	ret = audit_walk(&a, st);
	if (ret)
		goto out;
	/* reserved ranges may overlap each other: merge them, then they join the rest */
	for (struct reserved_range *r = iovx_load_acquire(&dom->reserved_list); r;
	     r = iovx_load_acquire(&r->next)) {
		ret = audit_add_ivl(&res, r->pfn, r->npages, false);
		if (ret)
			goto out;
	}
	ivl_sort(res.v, res.n);
	for (size_t i = 0; i < res.n;) {
		uint64_t s0 = res.v[i].start, e0 = s0 + res.v[i].len;

		for (i++; i < res.n && res.v[i].start <= e0; i++)
			if (res.v[i].start + res.v[i].len > e0)
				e0 = res.v[i].start + res.v[i].len;
		ret = audit_add_ivl(&a, s0, e0 - s0, false);
		if (ret)
			goto out;
		rsum += e0 - s0;
	}
	if (rsum != st->reserved)
		a.err = -EFAULT;
	ivl_sort(a.v, a.n);
	for (size_t i = 1; i < a.n; i++)
		if (a.v[i - 1].start + a.v[i - 1].len > a.v[i].start)
			a.err = -EFAULT;	/* one granule held twice (I1) */
	if (st->reserved + st->cached + st->depot + st->backend_free > st->total)
		a.err = -EFAULT;
	close_sums(st);
	ret = a.err;
out:
	iovx_free(a.v);
	iovx_free(res.v);
	return ret;
}

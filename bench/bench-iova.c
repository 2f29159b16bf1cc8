// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-iova.c - "iovx-bench iova": iovx's IOVA allocator against Linux's own
 * drivers/iommu/iova.c (built in userspace from the distribution's kernel source, see
 * linux-compat/), side by side in one process.
 *
 * Both sides see the same calls: iovx_iova_alloc(n, limit) / iovx_iova_free(pfn, n) against
 * alloc_iova_fast(n, limit - 1, flush_rcache = true) / free_iova_fast(pfn, n), on a domain
 * [1, 2^36) of 4 KiB granules (Linux: init_iova_domain(4096, 1) + rcaches; its top is the
 * per-call limit). Each body is written once and instantiated per side with the side a
 * compile-time constant, so neither pays an indirect call; random sizes and free orders are
 * drawn before the clock starts and are the same for both sides.
 *
 * A third side, the floor, runs every case in the same loop: the cheapest cached allocator
 * there could be (a thread-local LIFO of 128 entries per power-of-two size class, refilled
 * 32 at a time by one atomic add on a per-class bump counter, frees pushed on the freeing
 * thread's LIFO or dropped when it is full; no validation, no reclaim, address ranges reused
 * by wrapping). No real allocator can be cheaper on the same calls, so iovx / floor is
 * iovx's distance to what the machine allows, independent of how slow Linux is on it.
 *
 * --side S --ops N runs one side of one case for a fixed amount of work and exits (no
 * table): whole processes of each side, timed from outside (hyperfine), cross-check the
 * in-process ratios.
 *
 * Workloads:
 *   a  one thread, alloc + free of 1 granule (ns per pair)
 *   b  per thread, batches of 64 random power-of-two sizes 1..32, freed in random order
 *   c  producer thread allocates 1 granule, consumer thread frees it (SPSC ring): a TX
 *      completion on another CPU (ns per pair, throughput of the pair of threads)
 *   d  as b with 16 sizes of 64..1024 granules (Linux caches only up to 32: rbtree path)
 *   e  one thread, random sizes 1..32 below a 65 536-granule limit, held at 90 % occupancy
 *      (alloc while below 90 %, else free a random live range); failures and ns per op
 *   f  per thread, zswap's pattern: map a 1-granule source and the 2-granule destination,
 *      unmap both (ns per iteration of 4 calls)
 * Rows are rated by the process's CPU time per unit (see bench.h), c by wall time per pair
 * (its two threads wait for each other). Mops/s is total allocator calls per wall second.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "lx_iova.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * iovx's side uses the inline cached path of <iovx/static/iova.h> (what a caller that
 * defines IOVX_INLINE_FASTPATH gets); row "a0" measures the exported calls as well.
 */
#define IOVX_INLINE_FASTPATH
#include <iovx/iova.h>

#define SPACE_END	(1ull << 36)	/* iovx end_pfn, and the limit of a, b, c, d, f */
#define WINDOW_END	65536ull	/* e: the 32-bit-style limit */
#define GRANULE		4096ul

#define PAIR_CHUNK	64		/* calls between two looks at the stop flag */
#define MAX_BATCH	64
#define NR_BATCHES	64		/* distinct pre-drawn batches per thread, cycled */
#define RING_SIZE	4096u		/* c: a deep TX ring (mlx5, ice: up to 8192) */
#define RING_BATCH	64u		/* c: a burst (xmit_more) and a NAPI budget */
#define OCC_PERMILLE	900u		/* e: target occupancy */

#define always_inline	inline __attribute__((__always_inline__))

/* ---- the two sides, selected by a compile-time constant ------------------------------ */
/*
 * A third pseudo-side for c's floor: no allocator at all ("alloc" returns the next value of
 * a counter that dom points to, "free" discards), so the same loop measures what the ring,
 * the threads and their waiting cost by themselves.
 */
#define SIDE_NULL ((enum iovx_bench_side)IOVX_BENCH_NR_SIDES)

/* ---- the floor ------------------------------------------------------------------------ */
#define FLOOR_CLASSES	11		/* orders 0..10: 1..1024 granules */
#define FLOOR_CAP	128		/* LIFO entries per class and thread */
#define FLOOR_REFILL	32		/* blocks per bump */

struct floor_dom {
	struct {
		uint64_t next __attribute__((aligned(128)));	/* bump counter, in blocks */
		uint64_t base, nblocks;
	} cls[FLOOR_CLASSES];
	uint64_t gen;
	unsigned int nclasses;		/* larger sizes fail */
};

struct floor_tls {
	uint64_t gen;			/* the domain the entries belong to */
	unsigned int n[FLOOR_CLASSES];
	uint64_t e[FLOOR_CLASSES][FLOOR_CAP];
};

static __thread struct floor_tls floor_tls;
static uint64_t floor_gen;

static always_inline unsigned int floor_order(uint64_t n)
{
	return n <= 1 ? 0 : 64 - (unsigned int)__builtin_clzll(n - 1);
}

static always_inline struct floor_tls *floor_cache(struct floor_dom *d)
{
	struct floor_tls *t = &floor_tls;

	if (iovx_bench_unlikely(t->gen != d->gen)) {
		memset(t->n, 0, sizeof(t->n));
		t->gen = d->gen;
	}
	return t;
}

static always_inline int64_t floor_alloc(struct floor_dom *d, uint64_t n)
{
	unsigned int o = floor_order(n), i;
	struct floor_tls *t;
	uint64_t idx, pfn;

	if (iovx_bench_unlikely(o >= d->nclasses))
		return 0;
	t = floor_cache(d);
	if (iovx_bench_likely(t->n[o]))
		return (int64_t)t->e[o][--t->n[o]];
	/* nblocks is a multiple of FLOOR_REFILL: a refill never straddles the wrap */
	idx = __atomic_fetch_add(&d->cls[o].next, FLOOR_REFILL, __ATOMIC_RELAXED) %
	      d->cls[o].nblocks;
	pfn = d->cls[o].base + (idx << o);
	for (i = FLOOR_REFILL - 1; i > 0; i--)
		t->e[o][t->n[o]++] = pfn + ((uint64_t)i << o);
	return (int64_t)pfn;
}

static always_inline void floor_free(struct floor_dom *d, uint64_t pfn, uint64_t n)
{
	unsigned int o = floor_order(n);
	struct floor_tls *t = floor_cache(d);

	if (iovx_bench_likely(o < d->nclasses && t->n[o] < FLOOR_CAP))
		t->e[o][t->n[o]++] = pfn;
}

/*
 * [1, end): one equal region for each of the classes 0..nclasses-1, aligned to the largest
 * block of a refill, so that every class's nblocks is a multiple of FLOOR_REFILL.
 */
static struct floor_dom *floor_create(uint64_t end, unsigned int nclasses)
{
	struct floor_dom *d = aligned_alloc(128, sizeof(*d));
	uint64_t align = (uint64_t)FLOOR_REFILL << (nclasses - 1);
	uint64_t span = end > align ? ((end - align) / nclasses) & ~(align - 1) : 0;
	unsigned int o;

	if (!d || !span) {
		free(d);
		return NULL;
	}
	memset(d, 0, sizeof(*d));
	for (o = 0; o < nclasses; o++) {
		d->cls[o].base = align + o * span;
		d->cls[o].nblocks = span >> o;
	}
	d->nclasses = nclasses;
	d->gen = __atomic_add_fetch(&floor_gen, 1, __ATOMIC_RELAXED);
	return d;
}

static always_inline int64_t side_alloc(enum iovx_bench_side side, void *dom, uint64_t n,
					uint64_t limit)
{
	if (side == IOVX_BENCH_IOVX)
		return iovx_iova_alloc(dom, n, limit);
	if (side == SIDE_NULL)
		return (int64_t)++*(uint64_t *)dom;
	if (side == IOVX_BENCH_FLOOR)
		return floor_alloc(dom, n);
	return (int64_t)iovx_lx_alloc(dom, n, limit);	/* 0 on failure */
}

/* Returns 1 when the allocator rejected the free (a benchmark bug), else 0. */
static always_inline unsigned int side_free(enum iovx_bench_side side, void *dom, uint64_t pfn,
					    uint64_t n)
{
	if (side == IOVX_BENCH_IOVX)
		return iovx_iova_free(dom, pfn, n) != 0;
	if (side == SIDE_NULL) {
		__asm__ __volatile__("" : : "r"(pfn));	/* consume the value */
		return 0;
	}
	if (side == IOVX_BENCH_FLOOR) {
		floor_free(dom, pfn, n);
		return 0;
	}
	iovx_lx_free(dom, pfn, n);
	return 0;
}

/* the same through the exported functions (a real call into libiovx) */
static always_inline int64_t side_alloc_call(enum iovx_bench_side side, void *dom, uint64_t n,
					     uint64_t limit)
{
	if (side == IOVX_BENCH_IOVX)
		return (iovx_iova_alloc)(dom, n, limit);
	if (side == IOVX_BENCH_FLOOR)
		return floor_alloc(dom, n);
	return (int64_t)iovx_lx_alloc(dom, n, limit);
}

static always_inline unsigned int side_free_call(enum iovx_bench_side side, void *dom,
						 uint64_t pfn, uint64_t n)
{
	if (side == IOVX_BENCH_IOVX)
		return (iovx_iova_free)(dom, pfn, n) != 0;
	if (side == IOVX_BENCH_FLOOR) {
		floor_free(dom, pfn, n);
		return 0;
	}
	iovx_lx_free(dom, pfn, n);
	return 0;
}

#define SIDES(body)								\
static void body##_iovx(void *ctx, unsigned int tid, struct iovx_bench_count *out)	\
{										\
	body(ctx, tid, out, IOVX_BENCH_IOVX);					\
}										\
static void body##_base(void *ctx, unsigned int tid, struct iovx_bench_count *out)	\
{										\
	body(ctx, tid, out, IOVX_BENCH_BASE);					\
}										\
static void body##_floor(void *ctx, unsigned int tid, struct iovx_bench_count *out)	\
{										\
	body(ctx, tid, out, IOVX_BENCH_FLOOR);					\
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint64_t roundup_pow2(uint64_t n)
{
	return n <= 1 ? 1 : 1ull << (64 - __builtin_clzll(n - 1));
}

/* ---- per-case state ------------------------------------------------------------------ */
struct spsc_ring {
	uint64_t head __attribute__((aligned(128)));	/* published by the producer */
	uint64_t tail __attribute__((aligned(128)));	/* published by the consumer */
	uint64_t p_head __attribute__((aligned(128)));	/* producer's private copies */
	uint64_t tail_seen;
	uint64_t c_tail __attribute__((aligned(128)));	/* consumer's private copy */
	int done __attribute__((aligned(128)));	/* producer finished */
	uint64_t slot[RING_SIZE] __attribute__((aligned(128)));
};

struct occupancy {
	uint64_t *pfn;
	uint8_t *npages;
	unsigned int nlive;
	uint64_t used;		/* granules held by the benchmark (rounded up, as both allocate) */
	uint64_t target;
	uint64_t rng;
};

struct ctx {
	enum iovx_bench_side side;
	void *dom;
	uint64_t limit;
	unsigned int batch_len;
	const uint16_t *sizes;	/* [thread][NR_BATCHES][batch_len]: granules, powers of 2 */
	const uint8_t *perm;	/* same shape: free order inside each batch */
	struct spsc_ring *ring;
	struct occupancy occ;
	struct iovx_iova_stats snap;	/* iovx side: stats after the previous run */
	struct iovx_iova_stats delta;	/* iovx side: summed over the timed runs */
};

/* ---- a: 1-granule pairs -------------------------------------------------------------- */
static always_inline void pair_loop(void *p, struct iovx_bench_count *out,
				    enum iovx_bench_side side, bool call)
{
	struct ctx *c = p;
	void *dom = c->dom;
	uint64_t limit = c->limit, n = 0, fail = 0, err = 0;
	unsigned int i;

	while (!iovx_bench_stopped()) {
		for (i = 0; i < PAIR_CHUNK; i++) {
			int64_t pfn = call ? side_alloc_call(side, dom, 1, limit) :
					     side_alloc(side, dom, 1, limit);

			if (iovx_bench_likely(pfn > 0))
				err += call ? side_free_call(side, dom, (uint64_t)pfn, 1) :
					      side_free(side, dom, (uint64_t)pfn, 1);
			else
				fail++;
		}
		n += PAIR_CHUNK;
	}
	out->units = n;
	out->ops = 2 * n;
	out->attempts = n;
	out->failures = fail;
	out->errors = err;
}

static always_inline void body_pair(void *p, unsigned int tid, struct iovx_bench_count *out,
				    enum iovx_bench_side side)
{
	pair_loop(p, out, side, false);
}
SIDES(body_pair)

static always_inline void body_pair_call(void *p, unsigned int tid,
					 struct iovx_bench_count *out, enum iovx_bench_side side)
{
	pair_loop(p, out, side, true);
}
SIDES(body_pair_call)

/* ---- b, d: batches allocated, then freed in random order ----------------------------- */
static always_inline void body_batch(void *p, unsigned int tid, struct iovx_bench_count *out,
				     enum iovx_bench_side side)
{
	struct ctx *c = p;
	void *dom = c->dom;
	unsigned int len = c->batch_len, b = 0, i;
	const uint16_t *sz = c->sizes + (size_t)tid * NR_BATCHES * len;
	const uint8_t *perm = c->perm + (size_t)tid * NR_BATCHES * len;
	uint64_t limit = c->limit, n = 0, fail = 0, err = 0;
	int64_t pfn[MAX_BATCH];

	while (!iovx_bench_stopped()) {
		const uint16_t *np = sz + (size_t)b * len;
		const uint8_t *q = perm + (size_t)b * len;

		for (i = 0; i < len; i++)
			pfn[i] = side_alloc(side, dom, np[i], limit);
		for (i = 0; i < len; i++) {
			unsigned int k = q[i];

			if (iovx_bench_unlikely(pfn[k] <= 0))
				fail++;
			else if (iovx_bench_unlikely(side_free(side, dom, (uint64_t)pfn[k], np[k])))
				err++;
		}
		n += len;
		if (++b == NR_BATCHES)
			b = 0;
	}
	out->units = 2 * n;
	out->ops = 2 * n;
	out->attempts = n;
	out->failures = fail;
	out->errors = err;
}
SIDES(body_batch)

/*
 * ---- c: producer allocates, consumer frees (single-producer single-consumer ring) ----
 * The ring works as a NIC's TX path does: the producer (xmit) fills a burst of RING_BATCH
 * slots and rings the doorbell once (xmit_more), the consumer (TX completion, NAPI) reads
 * the producer index once and completes everything published since, then moves its own
 * index once. Each side touches the other's index once per burst, and the per-entry work
 * is one slot store and one slot load: what is left per pair is the allocators' work
 * (both allocators see the same calls in the same order: every free is still of one
 * IOVA, on the other thread).
 * Ordering edges: R1 the producer's store-release of head (after writing the burst) pairs
 * with the consumer's load-acquire of head (before reading it); R2 the consumer's
 * store-release of tail (after reading the slots) pairs with the producer's load-acquire of
 * tail (before reusing them); R3 "done" is released after the last burst's head and
 * acquired before the consumer's last look at head, so it completes every slot.
 */
static always_inline void body_cross(void *p, unsigned int tid, struct iovx_bench_count *out,
				     enum iovx_bench_side side)
{
	struct ctx *c = p;
	struct spsc_ring *r = c->ring;
	void *dom = c->dom;
	uint64_t limit = c->limit, n = 0, fail = 0, err = 0;
	unsigned int i, spins = 0;

	if (tid == 0) {
		uint64_t head = r->p_head, tail_seen = r->tail_seen, first = r->p_head;

		while (!iovx_bench_stopped()) {
			if (head - tail_seen > RING_SIZE - RING_BATCH) {
				tail_seen = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);	/* R2 */
				if (head - tail_seen > RING_SIZE - RING_BATCH) {
					iovx_bench_relax(&spins);
					continue;
				}
			}
			for (i = 0; i < RING_BATCH; i++) {
				int64_t pfn = side_alloc(side, dom, 1, limit);

				if (iovx_bench_unlikely(pfn <= 0)) {
					fail++;
					continue;
				}
				r->slot[head++ & (RING_SIZE - 1)] = (uint64_t)pfn;
			}
			__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);		/* R1 */
		}
		r->p_head = head;
		r->tail_seen = tail_seen;
		__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);	/* R3 */
		out->ops = n = head - first;
		out->attempts = n + fail;
		out->failures = fail;
		return;
	}
	for (;;) {
		uint64_t tail = r->c_tail;
		uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);		/* R1 */

		if (head == tail) {
			if (__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) &&		/* R3 */
			    __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == tail)
				break;
			iovx_bench_relax(&spins);
			continue;
		}
		for (; tail != head; tail++)
			if (iovx_bench_unlikely(side_free(side, dom, r->slot[tail & (RING_SIZE - 1)], 1)))
				err++;
		n += head - r->c_tail;
		r->c_tail = tail;
		__atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);			/* R2 */
	}
	out->units = n;
	out->ops = n;
	out->errors = err;
}
SIDES(body_cross)

static void body_cross_null(void *ctx, unsigned int tid, struct iovx_bench_count *out)
{
	body_cross(ctx, tid, out, SIDE_NULL);
}

static void after_run_null(void *p, enum iovx_bench_side side, bool timed)
{
	((struct ctx *)p)->ring->done = 0;
}

/*
 * c's floor: the same producer/consumer loop and ring with no allocator, measured like c
 * (both pseudo-sides are the null one). Returns the median wall ns per pair, or 0.
 */
static double cross_floor(const struct iovx_bench_opts *o)
{
	struct iovx_bench_case c = {
		.id = "c", .name = "ring alone", .unit = "ns/pair", .nthreads = 2,
		.ns_scale = 1, .wall_clock = true,
		.body = { body_cross_null, body_cross_null }, .after_run = after_run_null,
	};
	struct iovx_bench_row *row = calloc(1, sizeof(*row));
	struct ctx *x[2] = { NULL, NULL };
	uint64_t counter[2] = { 0, 0 };
	double ns = 0;
	unsigned int s;

	for (s = 0; s < 2; s++) {
		x[s] = aligned_alloc(128, (sizeof(struct ctx) + 127) & ~(size_t)127);
		if (!x[s])
			goto out;
		memset(x[s], 0, sizeof(struct ctx));
		x[s]->dom = &counter[s];
		x[s]->ring = aligned_alloc(128, (sizeof(struct spsc_ring) + 127) & ~(size_t)127);
		if (!x[s]->ring)
			goto out;
		memset(x[s]->ring, 0, sizeof(struct spsc_ring));
		c.ctx[s] = x[s];
	}
	if (!row)
		goto out;
	iovx_bench_measure(o, &c, row);
	ns = (row->side[0].median_ns + row->side[1].median_ns) / 2;
out:
	for (s = 0; s < 2; s++) {
		if (x[s])
			free(x[s]->ring);
		free(x[s]);
	}
	free(row);
	return ns;
}

static void after_run(void *p, enum iovx_bench_side side, bool timed)
{
	struct ctx *c = p;
	struct iovx_iova_stats st;

	if (c->ring)
		c->ring->done = 0;
	if (side != IOVX_BENCH_IOVX || iovx_iova_get_stats(c->dom, &st))
		return;
	if (timed) {
		c->delta.cache_bypass += st.cache_bypass - c->snap.cache_bypass;
		c->delta.backend_allocs += st.backend_allocs - c->snap.backend_allocs;
		c->delta.backend_frees += st.backend_frees - c->snap.backend_frees;
		c->delta.reclaims += st.reclaims - c->snap.reclaims;
		c->delta.alloc_failures += st.alloc_failures - c->snap.alloc_failures;
	}
	c->snap = st;
}

/* ---- e: a small window held at 90 % ------------------------------------------------- */
static always_inline void body_occ(void *p, unsigned int tid, struct iovx_bench_count *out,
				   enum iovx_bench_side side)
{
	struct ctx *c = p;
	struct occupancy *o = &c->occ;
	void *dom = c->dom;
	uint64_t limit = c->limit, n = 0, att = 0, fail = 0, err = 0;
	unsigned int i;

	while (!iovx_bench_stopped()) {
		for (i = 0; i < PAIR_CHUNK; i++) {
			uint64_t r = rng_next(&o->rng);

			if (o->used < o->target || !o->nlive) {
				uint64_t np = 1 + (r >> 32) % 32;
				int64_t pfn = side_alloc(side, dom, np, limit);

				att++;
				if (pfn > 0) {
					o->pfn[o->nlive] = (uint64_t)pfn;
					o->npages[o->nlive++] = (uint8_t)np;
					o->used += roundup_pow2(np);
				} else {
					fail++;
				}
			} else {
				unsigned int k = (unsigned int)((r >> 32) % o->nlive);
				uint64_t np = o->npages[k];

				if (iovx_bench_unlikely(side_free(side, dom, o->pfn[k], np)))
					err++;
				o->used -= roundup_pow2(np);
				o->nlive--;
				o->pfn[k] = o->pfn[o->nlive];
				o->npages[k] = o->npages[o->nlive];
			}
		}
		n += PAIR_CHUNK;
	}
	out->units = n;
	out->ops = n;
	out->attempts = att;
	out->failures = fail;
	out->errors = err;
}
SIDES(body_occ)

/* ---- f: zswap's pattern ---------------------------------------------------------------- */
static always_inline void body_zswap(void *p, unsigned int tid, struct iovx_bench_count *out,
				     enum iovx_bench_side side)
{
	struct ctx *c = p;
	void *dom = c->dom;
	uint64_t limit = c->limit, n = 0, fail = 0, err = 0;
	unsigned int i;

	while (!iovx_bench_stopped()) {
		for (i = 0; i < PAIR_CHUNK / 4; i++) {
			int64_t src = side_alloc(side, dom, 1, limit);
			int64_t dst = side_alloc(side, dom, 2, limit);

			if (iovx_bench_likely(dst > 0))
				err += side_free(side, dom, (uint64_t)dst, 2);
			else
				fail++;
			if (iovx_bench_likely(src > 0))
				err += side_free(side, dom, (uint64_t)src, 1);
			else
				fail++;
		}
		n += PAIR_CHUNK / 4;
	}
	out->units = n;
	out->ops = 4 * n;
	out->attempts = 2 * n;
	out->failures = fail;
	out->errors = err;
}
SIDES(body_zswap)

/* ---- domains ---------------------------------------------------------------------------- */
static void *dom_create(enum iovx_bench_side side, unsigned int iovx_flags, uint64_t limit)
{
	if (side == IOVX_BENCH_FLOOR)
		return floor_create(limit, limit == WINDOW_END ? 6 : FLOOR_CLASSES);
	if (side == IOVX_BENCH_IOVX) {
		struct iovx_iova_config cfg;
		struct iovx_iova_domain *d;
		int ret;

		iovx_iova_config_init(&cfg, 1, SPACE_END);
		cfg.flags = iovx_flags;
		ret = iovx_iova_domain_create(&cfg, &d);
		if (ret) {
			fprintf(stderr, "iovx-bench: iovx_iova_domain_create: %s\n",
				strerror(-ret));
			return NULL;
		}
		return d;
	} else {
		struct iovx_lx_domain *d;

		if (iovx_lx_domain_create(GRANULE, 1, &d))
			return NULL;
		return d;
	}
}

static void dom_destroy(enum iovx_bench_side side, void *dom)
{
	if (!dom)
		return;
	if (side == IOVX_BENCH_IOVX)
		iovx_iova_domain_destroy(dom);
	else if (side == IOVX_BENCH_FLOOR)
		free(dom);
	else
		iovx_lx_domain_destroy(dom);
}

static void occ_fill(struct ctx *c, uint64_t seed)
{
	struct occupancy *o = &c->occ;
	unsigned int tries = 0;

	o->pfn = calloc(WINDOW_END, sizeof(*o->pfn));
	o->npages = calloc(WINDOW_END, sizeof(*o->npages));
	if (!o->pfn || !o->npages) {
		fprintf(stderr, "iovx-bench: out of memory\n");
		exit(1);
	}
	o->rng = seed | 1;
	o->target = (WINDOW_END - 1) * OCC_PERMILLE / 1000;
	while (o->used < o->target && tries++ < 1000000) {
		uint64_t np = 1 + (rng_next(&o->rng) >> 32) % 32;
		int64_t pfn = c->side == IOVX_BENCH_IOVX ?
			side_alloc(IOVX_BENCH_IOVX, c->dom, np, c->limit) :
			c->side == IOVX_BENCH_FLOOR ?
			side_alloc(IOVX_BENCH_FLOOR, c->dom, np, c->limit) :
			side_alloc(IOVX_BENCH_BASE, c->dom, np, c->limit);

		if (pfn > 0) {
			o->pfn[o->nlive] = (uint64_t)pfn;
			o->npages[o->nlive++] = (uint8_t)np;
			o->used += roundup_pow2(np);
		}
	}
}

struct range {
	uint64_t pfn, npages;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/*
 * Checks what a side handed out in e: aligned to roundup_pow_of_two(n), inside [1, limit),
 * no two ranges overlapping. Guards the compat layer as much as the allocators. Returns the
 * number of violations.
 */
static unsigned int occ_check(const struct ctx *c)
{
	const struct occupancy *o = &c->occ;
	struct range *r = calloc(o->nlive + 1, sizeof(*r));
	unsigned int i, bad = 0;

	if (!r)
		return 0;
	for (i = 0; i < o->nlive; i++) {
		r[i].pfn = o->pfn[i];
		r[i].npages = o->npages[i];
		if (r[i].pfn < 1 || r[i].pfn + r[i].npages > c->limit ||
		    r[i].pfn & (roundup_pow2(r[i].npages) - 1))
			bad++;
	}
	qsort(r, o->nlive, sizeof(*r), cmp_range);
	for (i = 1; i < o->nlive; i++)
		if (r[i - 1].pfn + r[i - 1].npages > r[i].pfn)
			bad++;
	free(r);
	return bad;
}

static void occ_release(struct ctx *c)
{
	struct occupancy *o = &c->occ;
	unsigned int i;

	for (i = 0; i < o->nlive; i++) {
		if (c->side == IOVX_BENCH_IOVX)
			side_free(IOVX_BENCH_IOVX, c->dom, o->pfn[i], o->npages[i]);
		else if (c->side == IOVX_BENCH_BASE)
			side_free(IOVX_BENCH_BASE, c->dom, o->pfn[i], o->npages[i]);
	}
	free(o->pfn);
	free(o->npages);
	memset(o, 0, sizeof(*o));
}

/* ---- cases ------------------------------------------------------------------------------ */
enum kind { K_PAIR, K_PAIR_CALL, K_PAIR_CHECKED, K_BATCH_SMALL, K_CROSS, K_BATCH_LARGE, K_OCC, K_ZSWAP };

static const struct {
	const char *id, *name, *unit;
	iovx_bench_body_fn *body[IOVX_BENCH_NR_SIDES];
	bool scales;		/* run at each --threads count */
	unsigned int calls_per_poll;	/* allocator calls per thread between two polls */
} kinds[] = {
#define BODIES(b)	{ b##_iovx, b##_base, b##_floor }
	[K_PAIR] = { "a", "alloc+free pair, 1 granule", "ns/pair", BODIES(body_pair), false, 128 },
	[K_PAIR_CALL] = { "a0", "as a, iovx through the exported call", "ns/pair",
			  BODIES(body_pair_call), false, 128 },
	[K_PAIR_CHECKED] = { "a1", "as a0, iovx domain in checked mode", "ns/pair",
			     BODIES(body_pair_call), false, 128 },
	[K_BATCH_SMALL] = { "b", "batch of 64, pow2 1..32, random free order", "ns/op",
			    BODIES(body_batch), true, 128 },
	[K_CROSS] = { "c", "cross-thread free, SPSC ring, 1 granule", "ns/pair",
		      BODIES(body_cross), false, 128 },
	[K_BATCH_LARGE] = { "d", "batch of 16, pow2 64..1024, random free", "ns/op",
			    BODIES(body_batch), true, 32 },
	[K_OCC] = { "e", "90% of a 65536-granule window, sizes 1..32", "ns/op",
		    BODIES(body_occ), false, 64 },
	[K_ZSWAP] = { "f", "zswap: 1-granule src + 2-granule dst", "ns/iter",
		      BODIES(body_zswap), true, 64 },
#undef BODIES
};

static void draw_batches(uint16_t *sizes, uint8_t *perm, unsigned int nthreads,
			 unsigned int len, unsigned int min_order, unsigned int nr_orders,
			 uint64_t seed)
{
	uint64_t s = seed | 1;
	size_t b, nb = (size_t)nthreads * NR_BATCHES;
	unsigned int i;

	for (b = 0; b < nb; b++) {
		uint16_t *o = sizes + b * len;
		uint8_t *q = perm + b * len;

		for (i = 0; i < len; i++) {
			o[i] = (uint16_t)(1u << (min_order + (rng_next(&s) >> 32) % nr_orders));
			q[i] = (uint8_t)i;
		}
		for (i = len - 1; i > 0; i--) {	/* Fisher-Yates */
			unsigned int k = (unsigned int)((rng_next(&s) >> 32) % (i + 1));
			uint8_t t = q[i];

			q[i] = q[k];
			q[k] = t;
		}
	}
}

static const char *const side_names[IOVX_BENCH_NR_SIDES] = { "iovx", "linux", "floor" };

/* A case's contexts (one per side in want), set up for nthreads; false if iovx has none. */
struct setup {
	struct iovx_bench_case c;
	struct ctx *ctx[IOVX_BENCH_NR_SIDES];
	uint16_t *sizes;
	uint8_t *perm;
};

static void case_setup(const struct iovx_bench_opts *o, enum kind k, unsigned int nthreads,
		       unsigned int want, struct setup *su)
{
	struct iovx_bench_case *c = &su->c;
	unsigned int s;

	memset(su, 0, sizeof(*su));
	c->id = kinds[k].id;
	c->name = kinds[k].name;
	c->unit = kinds[k].unit;
	c->nthreads = nthreads;
	c->ns_scale = nthreads;
	c->after_run = after_run;
	for (s = 0; s < IOVX_BENCH_NR_SIDES; s++)
		c->body[s] = kinds[k].body[s];
	if (k == K_BATCH_SMALL || k == K_BATCH_LARGE) {
		unsigned int len = k == K_BATCH_SMALL ? 64 : 16;
		size_t sz = (size_t)nthreads * NR_BATCHES * len;

		su->sizes = malloc(sz * sizeof(*su->sizes));
		su->perm = malloc(sz);
		if (!su->sizes || !su->perm)
			exit(1);
		if (k == K_BATCH_SMALL)
			draw_batches(su->sizes, su->perm, nthreads, len, 0, 6, o->seed); /* 1..32 */
		else
			draw_batches(su->sizes, su->perm, nthreads, len, 6, 5, o->seed); /* 64..1024 */
	}
	if (k == K_CROSS) {
		c->nthreads = 2;
		c->ns_scale = 1;
		c->wall_clock = true;
	}
	if (k == K_OCC)
		c->report_failures = true;

	for (s = 0; s < IOVX_BENCH_NR_SIDES; s++) {
		uint64_t limit = k == K_OCC ? WINDOW_END : SPACE_END;
		void *dom;

		if (!(want & (1u << s)))
			continue;
		dom = dom_create(s, k == K_PAIR_CHECKED ? IOVX_IOVA_CHECKED : 0, limit);
		if (!dom)
			continue;
		su->ctx[s] = aligned_alloc(128, (sizeof(struct ctx) + 127) & ~(size_t)127);
		if (!su->ctx[s])
			exit(1);
		memset(su->ctx[s], 0, sizeof(struct ctx));
		su->ctx[s]->side = s;
		su->ctx[s]->dom = dom;
		su->ctx[s]->limit = limit;
		su->ctx[s]->batch_len = k == K_BATCH_LARGE ? 16 : 64;
		su->ctx[s]->sizes = su->sizes;
		su->ctx[s]->perm = su->perm;
		if (k == K_CROSS) {
			su->ctx[s]->ring = aligned_alloc(128, (sizeof(struct spsc_ring) + 127) &
							      ~(size_t)127);
			if (!su->ctx[s]->ring)
				exit(1);
			memset(su->ctx[s]->ring, 0, sizeof(struct spsc_ring));
		}
		if (k == K_OCC)
			occ_fill(su->ctx[s], o->seed);
		c->ctx[s] = su->ctx[s];
	}
	if (su->ctx[IOVX_BENCH_IOVX])
		iovx_iova_get_stats(su->ctx[IOVX_BENCH_IOVX]->dom, &su->ctx[IOVX_BENCH_IOVX]->snap);
}

static void case_teardown(enum kind k, struct setup *su, bool report)
{
	unsigned int s;

	for (s = 0; s < IOVX_BENCH_NR_SIDES; s++) {
		struct ctx *c = su->ctx[s];

		if (!c)
			continue;
		if (k == K_OCC && s != IOVX_BENCH_FLOOR && report) {
			unsigned int bad = occ_check(c);

			if (bad)
				printf("   WARNING: %s handed out %u misaligned, out-of-limit or "
				       "overlapping ranges\n", side_names[s], bad);
			else
				printf("   checked: %s's %u live ranges aligned, below the limit, "
				       "disjoint (%.1f%% occupancy)\n", side_names[s], c->occ.nlive,
				       100.0 * c->occ.used / (WINDOW_END - 1));
		}
		if (k == K_OCC)
			occ_release(c);
		free(c->ring);
		dom_destroy(s, c->dom);
		free(c);
	}
	free(su->sizes);
	free(su->perm);
}

/* What the rows measured, for the claim printed under the table. */
struct claim {
	unsigned int rows, faster, slower, overlap;
	double min_ratio, max_ratio, max_floor, min_floor;
	const char *min_id, *max_floor_id;
	unsigned int min_thr, max_floor_thr;
};

static struct claim claim;

static void claim_add(const struct iovx_bench_row *row)
{
	const struct iovx_bench_case *c = row->c;

	/* a1 checks every free, which Linux never does: not the same work, not in the claim */
	if (row->ratio > 0 && strcmp(c->id, "a1")) {
		claim.rows++;
		if (row->ratio_lo > 1)
			claim.faster++;
		else if (row->ratio_hi < 1)
			claim.slower++;
		else
			claim.overlap++;
		if (!claim.min_id || row->ratio < claim.min_ratio) {
			claim.min_ratio = row->ratio;
			claim.min_id = c->id;
			claim.min_thr = c->nthreads;
		}
		if (row->ratio > claim.max_ratio)
			claim.max_ratio = row->ratio;
	}
	if (row->floor_ratio > 0) {
		if (!claim.max_floor_id || row->floor_ratio > claim.max_floor) {
			claim.max_floor = row->floor_ratio;
			claim.max_floor_id = c->id;
			claim.max_floor_thr = c->nthreads;
		}
		if (!claim.min_floor || row->floor_ratio < claim.min_floor)
			claim.min_floor = row->floor_ratio;
	}
}

static void claim_print(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	if (!claim.rows)
		return;
	printf("\nclaim \"iovx is never slower than Linux\" (every row but a1, whose checks "
	       "Linux lacks): %s:\n  faster in %u of %u rows even comparing iovx's slowest run "
	       "with linux's fastest; %u row%s within\n  each other's spread, %u slower (lowest "
	       "median ratio %.2fx, row %s at %u thread%s; highest %.2fx)%s\n",
	       claim.slower ? "FAIL" : "holds", claim.faster, claim.rows, claim.overlap,
	       claim.overlap == 1 ? "" : "s", claim.slower, claim.min_ratio, claim.min_id, claim.min_thr,
	       claim.min_thr > 1 ? "s" : "", claim.max_ratio,
	       o->quick ? " [--quick: too few samples for a verdict]" : "");
	if (claim.max_floor_id)
		printf("distance to the floor: iovx / floor from %.2fx to %.2fx (row %s at %u "
		       "thread%s)\n", claim.min_floor, claim.max_floor, claim.max_floor_id,
		       claim.max_floor_thr, claim.max_floor_thr > 1 ? "s" : "");
	iovx_bench_json_obj_begin(j, "claim");
	iovx_bench_json_u64(j, "rows", claim.rows);
	iovx_bench_json_u64(j, "faster_beyond_spread", claim.faster);
	iovx_bench_json_u64(j, "within_spread", claim.overlap);
	iovx_bench_json_u64(j, "slower_beyond_spread", claim.slower);
	iovx_bench_json_num(j, "min_ratio", claim.min_ratio);
	iovx_bench_json_num(j, "max_ratio", claim.max_ratio);
	iovx_bench_json_num(j, "min_iovx_to_floor", claim.min_floor);
	iovx_bench_json_num(j, "max_iovx_to_floor", claim.max_floor);
	iovx_bench_json_obj_end(j);
}

static void run_case(const struct iovx_bench_opts *o, struct iovx_bench_json *j, enum kind k,
		     unsigned int nthreads)
{
	struct setup su;
	struct iovx_bench_case *c = &su.c;
	struct iovx_iova_stats *d;
	struct iovx_bench_row *row = calloc(1, sizeof(*row));	/* large: not on the stack */
	double floor_ns = 0;

	if (!row)
		exit(1);
	case_setup(o, k, nthreads, 7, &su);
	iovx_bench_progress(o, "iova: case %s, %u thread%s\n", c->id, c->nthreads,
			    c->nthreads > 1 ? "s" : "");
	if (!c->ctx[IOVX_BENCH_IOVX]) {
		printf("%-2s %-40s    skipped: no iovx domain\n", c->id, c->name);
		goto out;
	}

	iovx_bench_measure(o, c, row);
	iovx_bench_table_row(row);
	claim_add(row);
	d = &su.ctx[IOVX_BENCH_IOVX]->delta;
	if (row->side[IOVX_BENCH_IOVX].total.ops &&
	    d->cache_bypass * 1000 > row->side[IOVX_BENCH_IOVX].total.ops)
		printf("   iovx: %.1f%% of calls went around a busy CPU slot\n",
		       100.0 * d->cache_bypass / row->side[IOVX_BENCH_IOVX].total.ops);
	if (k == K_CROSS && row->side[IOVX_BENCH_BASE].have) {
		/* what the ring and the waiting cost alone: both sides pay it in full */
		double io = row->side[IOVX_BENCH_IOVX].median_ns;
		double lx = row->side[IOVX_BENCH_BASE].median_ns;

		floor_ns = cross_floor(o);
		if (floor_ns > 0)
			printf("   ring alone (same loop, no allocator): %.2f ns/pair; above it: "
			       "iovx %.2f, linux %.2f%s\n", floor_ns, io - floor_ns, lx - floor_ns,
			       io > floor_ns ? "" : " (iovx within the floor's noise)");
	}
	iovx_bench_json_row(j, row, "linux");
	if (floor_ns > 0)
		iovx_bench_json_num(j, "ring_floor_ns", floor_ns);
	iovx_bench_json_obj_begin(j, "iovx_stats");	/* summed over the timed runs */
	iovx_bench_json_u64(j, "cache_bypass", d->cache_bypass);
	iovx_bench_json_u64(j, "backend_allocs", d->backend_allocs);
	iovx_bench_json_u64(j, "backend_frees", d->backend_frees);
	iovx_bench_json_u64(j, "reclaims", d->reclaims);
	iovx_bench_json_u64(j, "alloc_failures", d->alloc_failures);
	iovx_bench_json_u64(j, "mem_bytes", su.ctx[IOVX_BENCH_IOVX]->snap.mem_bytes);
	iovx_bench_json_obj_end(j);
	iovx_bench_json_obj_end(j);

out:
	case_teardown(k, &su, true);
	free(row);
}

/*
 * --side S --ops N: one side of one case (the first of --only, default a; scaling cases at
 * the first --threads count), about N allocator calls per thread, then exit. Setup (domain
 * creation, e's fill) is part of the process either way; it is the same for every N.
 */
static int run_fixed(const struct iovx_bench_opts *o)
{
	enum kind k = K_PAIR, i;
	struct iovx_bench_count cnt;
	struct setup su;
	uint64_t ns, polls;
	char id[8] = "a";

	if (o->only) {
		size_t n = strcspn(o->only, ",");

		if (n >= sizeof(id))
			n = sizeof(id) - 1;
		memcpy(id, o->only, n);
		id[n] = 0;
	}
	for (i = K_PAIR; i <= K_ZSWAP; i++)
		if (!strcmp(kinds[i].id, id))
			break;
	if (i > K_ZSWAP) {
		fprintf(stderr, "iovx-bench: unknown iova case '%s'\n", id);
		return 1;
	}
	k = i;
	if (o->side == IOVX_BENCH_BASE && !iovx_lx_available()) {
		fprintf(stderr, "iovx-bench: linux baseline unavailable\n");
		return 1;
	}
	case_setup(o, k, kinds[k].scales ? o->threads[0] : 1, 1u << o->side, &su);
	if (!su.c.ctx[o->side]) {
		fprintf(stderr, "iovx-bench: cannot create the %s side\n", side_names[o->side]);
		case_teardown(k, &su, false);
		return 1;
	}
	polls = (o->ops + kinds[k].calls_per_poll - 1) / kinds[k].calls_per_poll;
	ns = iovx_bench_run_fixed(&su.c, o->side, polls, &cnt);
	printf("iova %s %s: %u thread%s, %llu allocator calls in %.3f ms (%.2f ns per call)%s\n",
	       kinds[k].id, side_names[o->side], su.c.nthreads, su.c.nthreads > 1 ? "s" : "",
	       (unsigned long long)cnt.ops, ns / 1e6, cnt.ops ? (double)ns / cnt.ops : 0,
	       cnt.errors ? "  WARNING: frees rejected" : "");
	case_teardown(k, &su, false);
	return cnt.errors ? 1 : 0;
}

static const char *percpu_mode_name(uint64_t mode)
{
	switch (mode) {
	case 0: return "CAS-claimed slots";
	case 1: return "restartable sequences (rseq)";
	case 2: return "kernel";
	default: return "unknown";
	}
}

static void print_config(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	struct iovx_iova_stats st = { 0 };
	void *dom = dom_create(IOVX_BENCH_IOVX, 0, SPACE_END);

	if (dom) {
		iovx_iova_get_stats(dom, &st);
		dom_destroy(IOVX_BENCH_IOVX, dom);
	}
	printf("iovx:     percpu_mode %llu (%s), %llu CPU slots, %llu entries/magazine,\n"
	       "          cached orders 0..%d (1..%d granules), hoard bound %llu granules,"
	       " %llu KiB metadata\n",
	       (unsigned long long)st.percpu_mode, percpu_mode_name(st.percpu_mode),
	       (unsigned long long)st.nr_cpu_slots, (unsigned long long)st.mag_size,
	       IOVX_IOVA_DEFAULT_CACHED_ORDER, 1 << IOVX_IOVA_DEFAULT_CACHED_ORDER,
	       (unsigned long long)st.hoard_bound, (unsigned long long)st.mem_bytes / 1024);
	if (iovx_lx_available())
		printf("linux:    %s drivers/iommu/iova.c + lib/rbtree.c, userspace build: "
		       "rcaches of 127-entry\n          magazines for 1..32 granules, per-CPU "
		       "spinlock (locked cmpxchg, pause, yield),\n          %u per-CPU slots "
		       "indexed by %s, kmem_cache = malloc\n",
		       iovx_lx_source(), iovx_lx_nr_cpus(), iovx_lx_cpu_source());
	else
		printf("linux:    linux baseline unavailable (no linux-source tarball at build "
		       "time)\n");
	printf("domains:  [1, 2^36) of 4 KiB granules; e: limit %llu (exclusive) on the same "
	       "domain\n", WINDOW_END);
	printf("method:   per row: warm-up of each side, then %u runs of %.3g s per side, "
	       "alternating\n          which side goes first; median reported; ratio = "
	       "linux/iovx (> 1: iovx faster).\n"
	       "          ns = process CPU time per unit (time other load takes is not "
	       "counted; lock\n          spinning, cache-line bouncing and yields are), except "
	       "c: wall time per pair.\n          Mops/s = allocator calls per wall second. "
	       "spread = (max - min) / median.\n          CPUs used = process CPU time / wall "
	       "time (below the thread count: other load\n          took CPUs away)\n",
	       o->reps, o->seconds);

	iovx_bench_json_obj_begin(j, "iovx");
	iovx_bench_json_u64(j, "percpu_mode", st.percpu_mode);
	iovx_bench_json_str(j, "percpu_mode_name", percpu_mode_name(st.percpu_mode));
	iovx_bench_json_u64(j, "nr_cpu_slots", st.nr_cpu_slots);
	iovx_bench_json_u64(j, "mag_size", st.mag_size);
	iovx_bench_json_u64(j, "max_cached_order", IOVX_IOVA_DEFAULT_CACHED_ORDER);
	iovx_bench_json_u64(j, "hoard_bound", st.hoard_bound);
	iovx_bench_json_u64(j, "mem_bytes", st.mem_bytes);
	iovx_bench_json_obj_end(j);
	iovx_bench_json_obj_begin(j, "linux");
	iovx_bench_json_bool(j, "available", iovx_lx_available());
	iovx_bench_json_str(j, "source", iovx_lx_source());
	iovx_bench_json_u64(j, "nr_cpu_slots", iovx_lx_nr_cpus());
	iovx_bench_json_str(j, "cpu_source", iovx_lx_cpu_source());
	iovx_bench_json_obj_end(j);
	iovx_bench_json_u64(j, "space_end_pfn", SPACE_END);
	iovx_bench_json_u64(j, "window_limit_pfn", WINDOW_END);
}

int iovx_bench_iova(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	enum kind k;
	unsigned int t;

	if (o->side >= 0)
		return run_fixed(o);
	print_config(o, j);
	iovx_bench_table_header("linux", true);
	iovx_bench_json_arr_begin(j, "results");
	for (k = K_PAIR; k <= K_ZSWAP; k++) {
		if (!iovx_bench_selected(o, kinds[k].id))
			continue;
		if (!kinds[k].scales) {
			run_case(o, j, k, 1);
			continue;
		}
		for (t = 0; t < o->nr_threads; t++)
			run_case(o, j, k, o->threads[t]);
	}
	iovx_bench_json_arr_end(j);
	claim_print(o, j);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * depot.c - the magazine depot: lock-free stacks of full magazines per size class and one
 * stack of empty magazines (Bonwick & Adams' magazine layer, with Treiber stacks).
 *
 * What and why. Every magazine of a domain has an index, fixed at creation, in one index
 * space over two kinds (big magazines for the smallest classes, normal ones for the rest),
 * so a stack's top is a single 64-bit word holding (index + 1) and a tag incremented by
 * every successful CAS: ABA-safe with single-word CAS on every architecture. The magazines
 * themselves are created on first use, in chunks (mag_create), so memory follows use; a
 * magazine is never freed while the domain lives, so reading a stale 'next' link is
 * harmless (the CAS then fails on the tag). Empty magazines wait on one stack per kind;
 * when it is empty, a new magazine is created, until the kind's index space is used up.
 *
 * In front of the stacks, one exchange slot per class holds at most one magazine, empty
 * or full, on a cache line of its own: take_full/take_empty look there before the stacks
 * and give_full/give_empty fill it when it is vacant. In a one-way stream (one CPU
 * allocates, another frees) the two CPUs hand magazines to each other through the slot with
 * one CAS per move, where the stacks take a pop, a counted push and a second push.
 *
 * Invariants: a magazine is in exactly one place: attached to a per-CPU cache, on one
 * stack, in one exchange slot, or held by the one thread that popped or swapped it (I1/I6
 * for the entries it carries). The full stack of class c holds at most full_max[c]
 * magazines, its slot at most one more (bounded hoarding). A full magazine in a slot holds
 * exactly mag_cap[c] entries, an empty one none.
 *
 * Progress: push and pop are lock-free (a CAS fails only when another push or pop
 * succeeded). A thread stopped after popping holds that one magazine; others proceed.
 *
 * Synchronization: every operation may run concurrently with every other; walk needs a
 * quiescent domain.
 *
 * Ordering edges:
 *   E-D1 push's CAS (release) publishes the magazine's contents and link; pop's acquire
 *        load of the top / successful CAS (acquire) pairs with it.
 *   E-D2 the link of a magazine is written and read with relaxed atomics: its value only
 *        matters when the tagged CAS that follows succeeds (then E-D1 orders it).
 *   E-D3 a give's CAS (release) publishes the magazine's contents; a take's CAS (acquire)
 *        pairs with it. A slot word names the magazine and its state, so ABA is harmless:
 *        if the word matches, the slot holds that magazine in that state.
 */
#include "iova_internal.h"

#define TOP_IDX(t)	((uint32_t)(t))
#define TOP_TAG(t)	((t) >> 32)
#define MKTOP(i, tag)	((uint64_t)(i) | ((uint64_t)(tag) << 32))

/*
 * Magazines are created on first use, per kind: the first DEPOT_SINGLES one at a time (a
 * domain that few CPUs use pays for no magazine it does not use), the rest DEPOT_CHUNK at a
 * time (fewer allocations and a smaller chunk table on many CPUs). An index i below
 * hw[kind] has its chunk installed (a pointer CAS'd from NULL, never freed while the domain
 * lives), an index at or above it has never been handed out. A magazine off every stack
 * keeps its own index in 'next' (a stack overwrites it with the link, and pop restores it),
 * so its index needs no search; a stale popper that reads it meets a changed tag.
 */
static inline uint32_t chunk_of(uint32_t i)
{
	return i < DEPOT_SINGLES ? i : DEPOT_SINGLES + (i - DEPOT_SINGLES) / DEPOT_CHUNK;
}

static inline uint32_t chunk_first(uint32_t ci)
{
	return ci < DEPOT_SINGLES ? ci : DEPOT_SINGLES + (ci - DEPOT_SINGLES) * DEPOT_CHUNK;
}

/* Magazines in chunk ci of a kind of nr magazines (ci < chunk_of(nr - 1) + 1). */
static inline uint32_t chunk_len(uint32_t ci, uint32_t nr)
{
	uint32_t len = ci < DEPOT_SINGLES ? 1 : DEPOT_CHUNK, left = nr - chunk_first(ci);

	return left < len ? left : len;
}

static inline unsigned int kind_of_idx(const struct depot *d, uint32_t idx)
{
	return idx - 1 < d->nr[0] ? 0 : 1;
}

/* Magazine of 1-based index idx (1..nr[0] big, then normal); its chunk exists. */
static inline struct iovx_mag *mag_at(const struct depot *d, uint32_t idx)
{
	unsigned int k = kind_of_idx(d, idx);
	uint32_t i = idx - 1 - (k ? d->nr[0] : 0), ci = chunk_of(i);
	char *chunk = iovx_load_acquire(&d->chunks[k][ci]);

	return (struct iovx_mag *)(chunk + (size_t)(i - chunk_first(ci)) * d->stride[k]);
}

/* The index of a magazine that is on no stack (in a cache, a slot or a thread's hands). */
static inline uint32_t mag_idx(const struct iovx_mag *m)
{
	return iovx_load_relaxed(&m->next);
}

/*
 * A magazine never handed out before, or NULL when every index of the kind is in use or
 * a chunk cannot be allocated (the caller then goes to the backend). Lock-free: the index
 * is claimed by a CAS on hw after its chunk is in place; racing creators of one chunk keep
 * the first and free the others.
 */
static struct iovx_mag *mag_create(struct depot *d, unsigned int k)
{
	uint32_t h = iovx_load_acquire(&d->hw[k]);

	for (;;) {
		uint32_t ci = chunk_of(h), idx;
		char *chunk, *expect = NULL;
		struct iovx_mag *m;
		size_t sz;

		if (h >= d->nr[k])
			return NULL;
		chunk = iovx_load_acquire(&d->chunks[k][ci]);
		if (!chunk) {
			sz = (size_t)chunk_len(ci, d->nr[k]) * d->stride[k];
			chunk = iovx_zalloc_aligned(sz, IOVX_CACHELINE, IOVX_GFP_ATOMIC);
			if (!chunk)
				return NULL;
			if (iovx_cmpxchg_acq_rel(&d->chunks[k][ci], &expect, chunk)) {
				iovx_fetch_add_relaxed(d->mem, sz);
			} else {
				iovx_free(chunk);
				chunk = expect;
			}
		}
		if (!iovx_cmpxchg_acq_rel(&d->hw[k], &h, h + 1))
			continue;
		idx = h + 1 + (k ? d->nr[0] : 0);
		m = (struct iovx_mag *)(chunk + (size_t)(h - chunk_first(ci)) * d->stride[k]);
		iovx_store_relaxed(&m->n, 0);
		iovx_store_relaxed(&m->next, idx);
		return m;
	}
}

static void stack_push(struct depot *d, uint64_t *top, struct iovx_mag *m)
{
	uint32_t idx = mag_idx(m);
	uint64_t old = iovx_load_acquire(top);

	IOVX_PARK_POINT("depot.push");
	for (;;) {
		iovx_store_relaxed(&m->next, TOP_IDX(old));			/* E-D2 */
		if (iovx_cmpxchg_acq_rel(top, &old, MKTOP(idx, TOP_TAG(old) + 1)))	/* E-D1 */
			return;
	}
}

static struct iovx_mag *stack_pop(struct depot *d, uint64_t *top)
{
	uint64_t old = iovx_load_acquire(top);					/* E-D1 */

	IOVX_PARK_POINT("depot.pop");
	for (;;) {
		uint32_t idx = TOP_IDX(old);
		uint32_t next;

		if (idx == DEPOT_NONE)
			return NULL;
		next = iovx_load_relaxed(&mag_at(d, idx)->next);		/* E-D2 */
		if (iovx_cmpxchg_acq_rel(top, &old, MKTOP(next, TOP_TAG(old) + 1))) {	/* E-D1 */
			struct iovx_mag *m = mag_at(d, idx);

			iovx_store_relaxed(&m->next, idx);	/* off the stack: its own index */
			return m;
		}
	}
}

int iovx_depot_init(struct depot *d, const uint32_t nr_mags[2], const uint32_t *full_max,
		    uint64_t *mem)
{
	static const uint32_t entries[2] = { IOVX_MAG_BIG_SIZE, IOVX_MAG_SIZE };
	size_t sz;

	d->chunks[0] = d->chunks[1] = NULL;
	d->xslot = NULL;
	d->mem = mem;
	for (unsigned int k = 0; k < 2; k++) {
		d->nr[k] = nr_mags[k];
		d->hw[k] = 0;
		/* a whole number of cache lines, so no two magazines share one */
		d->stride[k] = (uint32_t)((sizeof(struct iovx_mag) + entries[k] * sizeof(uint64_t) +
					   IOVX_CACHELINE - 1) & ~(size_t)(IOVX_CACHELINE - 1));
		d->empty_top[k] = 0;
		if (!nr_mags[k])
			continue;
		/* the chunk table only: magazines come on first use (mag_create) */
		sz = (size_t)(chunk_of(nr_mags[k] - 1) + 1) * sizeof(char *);
		d->chunks[k] = iovx_zalloc(sz, IOVX_GFP_KERNEL);
		if (!d->chunks[k]) {
			iovx_depot_destroy(d);
			return -ENOMEM;
		}
		iovx_fetch_add_relaxed(mem, sz);
	}
	d->nr_mags = nr_mags[0] + nr_mags[1];
	for (unsigned int c = 0; c < IOVX_NR_CLASSES; c++) {
		d->full_top[c] = 0;
		d->full_count[c] = 0;
		d->full_max[c] = full_max[c];
	}
	/* every exchange slot starts vacant */
	sz = IOVX_NR_CLASSES * DEPOT_XS_STRIDE * sizeof(uint64_t);
	d->xslot = iovx_zalloc_aligned(sz, IOVX_CACHELINE, IOVX_GFP_KERNEL);
	if (!d->xslot) {
		iovx_depot_destroy(d);
		return -ENOMEM;
	}
	iovx_fetch_add_relaxed(mem, sz);
	return 0;
}

void iovx_depot_destroy(struct depot *d)
{
	iovx_free(d->xslot);
	d->xslot = NULL;
	for (unsigned int k = 0; k < 2; k++) {
		if (!d->chunks[k])
			continue;
		for (uint32_t ci = 0; chunk_first(ci) < d->nr[k]; ci++)
			iovx_free(d->chunks[k][ci]);
		iovx_free(d->chunks[k]);
		d->chunks[k] = NULL;
	}
}

/* Takes the slot's magazine if it is in 'state' (full or empty), leaving the slot vacant. */
static struct iovx_mag *xslot_take(struct depot *d, unsigned int cls, uint64_t state)
{
	uint64_t *slot = &d->xslot[cls * DEPOT_XS_STRIDE];
	uint64_t old = iovx_load_acquire(slot);

	do {
		if (!TOP_IDX(old) || (old & DEPOT_XS_FULL) != state)
			return NULL;
	} while (!iovx_cmpxchg_acq_rel(slot, &old, 0));				/* E-D3 */
	return mag_at(d, TOP_IDX(old));
}

/* Puts m (in 'state') into the slot if it is vacant. */
static bool xslot_give(struct depot *d, unsigned int cls, struct iovx_mag *m, uint64_t state)
{
	uint64_t *slot = &d->xslot[cls * DEPOT_XS_STRIDE];
	uint64_t old = 0;

	/* a plain look first: a CAS that is bound to fail still takes the line exclusive */
	if (iovx_load_relaxed(slot))
		return false;
	return iovx_cmpxchg_acq_rel(slot, &old, (uint64_t)mag_idx(m) + state);	/* E-D3 */
}

struct iovx_mag *iovx_depot_take_full(struct depot *d, unsigned int cls)
{
	struct iovx_mag *m = xslot_take(d, cls, DEPOT_XS_FULL);

	return m ? m : iovx_depot_pop_full(d, cls);
}

struct iovx_mag *iovx_depot_take_empty(struct depot *d, unsigned int cls)
{
	struct iovx_mag *m = xslot_take(d, cls, 0);

	return m ? m : iovx_depot_pop_empty(d, iovx_mag_kind(cls));
}


bool iovx_depot_give_full(struct depot *d, unsigned int cls, struct iovx_mag *m)
{
	IOVX_PARK_POINT("depot.give");
	return xslot_give(d, cls, m, DEPOT_XS_FULL) || iovx_depot_push_full(d, cls, m);
}

void iovx_depot_give_empty(struct depot *d, unsigned int cls, struct iovx_mag *m)
{
	iovx_store_relaxed(&m->n, 0);
	if (!xslot_give(d, cls, m, 0))
		stack_push(d, &d->empty_top[kind_of_idx(d, mag_idx(m))], m);
}

struct iovx_mag *iovx_depot_xslot_full(struct depot *d, unsigned int cls)
{
	uint64_t w = iovx_load_acquire(&d->xslot[cls * DEPOT_XS_STRIDE]);

	return TOP_IDX(w) && (w & DEPOT_XS_FULL) ? mag_at(d, TOP_IDX(w)) : NULL;
}

struct iovx_mag *iovx_depot_pop_empty(struct depot *d, unsigned int kind)
{
	struct iovx_mag *m = stack_pop(d, &d->empty_top[kind]);

	return m ? m : mag_create(d, kind);
}

void iovx_depot_push_empty(struct depot *d, struct iovx_mag *m)
{
	iovx_store_relaxed(&m->n, 0);
	stack_push(d, &d->empty_top[kind_of_idx(d, mag_idx(m))], m);
}

struct iovx_mag *iovx_depot_pop_full(struct depot *d, unsigned int cls)
{
	struct iovx_mag *m = stack_pop(d, &d->full_top[cls]);
	uint32_t was;

	if (m) {
		was = iovx_fetch_add_relaxed(&d->full_count[cls], -1u);
		/* the bound's count covers every full magazine on the stack */
		iovx_assert(was > 0 && was <= d->full_max[cls]);
		(void)was;
	}
	return m;
}

bool iovx_depot_push_full(struct depot *d, unsigned int cls, struct iovx_mag *m)
{
	uint32_t cnt = iovx_load_relaxed(&d->full_count[cls]);

	/* reserve a place first, so the bound holds even with racing pushers */
	do {
		if (cnt >= d->full_max[cls])
			return false;
	} while (!iovx_cmpxchg_relaxed(&d->full_count[cls], &cnt, cnt + 1));
	stack_push(d, &d->full_top[cls], m);
	return true;
}

int iovx_depot_walk_full(struct depot *d, unsigned int cls,
			 int (*fn)(void *arg, struct iovx_mag *m), void *arg)
{
	uint32_t idx = TOP_IDX(iovx_load_acquire(&d->full_top[cls]));
	uint32_t guard = d->nr_mags + 1;

	while (idx != DEPOT_NONE && guard--) {
		struct iovx_mag *m = mag_at(d, idx);
		int ret = fn(arg, m);

		if (ret)
			return ret;
		idx = iovx_load_relaxed(&m->next);
	}
	return guard == (uint32_t)-1 ? -EFAULT : 0;
}

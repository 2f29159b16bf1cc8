// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * maptab.c - the record of every live DMA mapping outside the reuse table, which lets the
 * facade reject an unmap or sync of something it never mapped, or named with other fields
 * than the map made (I5), and unmap exactly what was mapped. The kernel's DMA API leaves
 * this to CONFIG_DMA_API_DEBUG, which only warns.
 *
 * What: a fixed-size open-addressing hash table (linear probing) of {dma + 3, meta, aux}
 * slots. Slots go EMPTY -> BUSY -> key -> BUSY -> TOMB -> BUSY -> key ...; never back to
 * EMPTY, so a probe that meets EMPTY knows the key is absent (a key is always placed before
 * the first EMPTY slot of its probe sequence). Passthrough may map one buffer twice: equal
 * keys are allowed and a remove takes any one entry that matches. A DMA address above
 * MT_MAX_DMA has no key: dma + 3 would wrap into the markers.
 *
 * The record: meta holds kind, direction, the mapping attrs, nents and total length; aux
 * holds the rest of an sg list's mapping: for one entry its input address (its one DMA
 * segment is {dma, length}: the modes never split or shift a single segment), for more a
 * struct mt_rec with every input and every DMA segment, allocated at map and freed by the
 * unmap that removed the slot.
 *
 * Invariants:
 *   M1 one thread at a time owns a BUSY slot (it won the CAS that made it BUSY), and only
 *      the owner reads a slot's record pointer: a record is never read after it is freed;
 *   M2 an entry is published (key stored with release) only after its meta and aux are
 *      written;
 *   M3 a mapping's entry exists from the return of its map to the start of its unmap, so
 *      (with I1 from the IOVA allocator) strict keys are unique while live;
 *   M4 no key equals a marker (MT_MAX_DMA).
 *
 * Progress: insert is lock-free (it skips BUSY slots). remove, and find of an sg list of
 * more than one entry, claim the slot they compare (BUSY) for the compare only; a lookup
 * that met a BUSY slot and found no match waits for it (kernel: the claimer runs with
 * interrupts off, so the wait is a few hundred instructions at most; userspace: the wait
 * yields the CPU while a preempted claimer holds it). find of a single buffer or a
 * one-entry list is lock-free (value compare, key re-checked).
 *
 * Synchronization: insert, remove and find may run concurrently from any threads; destroy
 * only on a quiescent table.
 *
 * Ordering edges:
 *   E-M1 the store-release of a key (insert; restore after a compare) pairs with the acquire
 *        load of a probe: a reader that sees the key sees its meta and aux.
 *   E-M2 the CAS that claims a slot (acq_rel) pairs with the release that published it.
 */
#include "dma_internal.h"

static inline uint64_t mt_hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}

int iovx_dma_maptab_init(struct maptab *t, unsigned int order)
{
	t->slots = iovx_zalloc(sizeof(*t->slots) << order, IOVX_GFP_KERNEL);
	if (!t->slots)
		return -ENOMEM;
	t->mask = (1ull << order) - 1;
	t->live = 0;
	return 0;
}

static inline bool has_rec(uint64_t meta)
{
	return (meta & MT_KIND_SG) && mt_meta_nents(meta) > 1;
}

void iovx_dma_maptab_destroy(struct maptab *t)
{
	uint64_t i;

	for (i = 0; t->slots && i <= t->mask; i++)
		if (t->slots[i].key >= MT_KEY_BIAS && has_rec(t->slots[i].meta))
			iovx_free((void *)(uintptr_t)t->slots[i].aux);
	iovx_free(t->slots);
	t->slots = NULL;
}

int iovx_dma_maptab_insert(struct maptab *t, uint64_t dma, uint64_t meta, uint64_t aux)
{
	uint64_t key = dma + MT_KEY_BIAS, h = mt_hash(key), i;

	if (IOVX_WARN_ON(dma > MT_MAX_DMA))					/* M4 */
		return -EINVAL;
	for (i = 0; i <= t->mask; i++) {
		struct mt_slot *s = &t->slots[(h + i) & t->mask];
		uint64_t k = iovx_load_acquire(&s->key);
		iovx_irqflags_t f;

		if (k != MT_EMPTY && k != MT_TOMB)
			continue;
		iovx_local_irq_save(f);		/* kernel: a claim is never preempted */
		if (!iovx_cmpxchg_acq_rel(&s->key, &k, MT_BUSY)) {		/* E-M2, M1 */
			iovx_local_irq_restore(f);
			continue;
		}
		/* M2: what a reader needs is written first; a multi-entry list has its record */
		iovx_assert(mt_meta_nents(meta) >= 1 && (!has_rec(meta) || aux));
		iovx_store_relaxed(&s->meta, meta);
		iovx_store_relaxed(&s->aux, aux);
		iovx_store_release(&s->key, key);				/* E-M1, M2 */
		iovx_local_irq_restore(f);
		iovx_fetch_add_relaxed(&t->live, 1);
		return 0;
	}
	return -ENOMEM;
}

/* Does the record {meta, aux} of an sg list match what w names? (aux read by its owner) */
static bool sg_matches(uint64_t meta, uint64_t aux, uint64_t dma, const struct mt_want *w)
{
	unsigned int i, n = mt_meta_nents(meta);
	const struct mt_rec *r;

	if (n == 1)
		return aux == w->segs[0].addr && w->sg[0].dma_length == mt_meta_len(meta);
	r = (const struct mt_rec *)(uintptr_t)aux;
	for (i = 0; i < n; i++)
		if (r->seg[i].addr != w->segs[i].addr || r->seg[i].len != w->segs[i].len)
			return false;
	for (i = 0; i < r->nout; i++)
		if (w->sg[i].dma_address != r->seg[n + i].addr ||
		    w->sg[i].dma_length != r->seg[n + i].len)
			return false;
	return true;
}

/* The value part of a match: meta (and a one-entry list's aux); no record read. */
static bool meta_matches(uint64_t meta, uint64_t aux, uint64_t dma, const struct mt_want *w)
{
	if (w->prefix)
		return !(meta & MT_KIND_SG) && (meta & 7) == (w->meta & 7) &&
		       mt_meta_len(meta) >= mt_meta_len(w->meta);
	if ((meta ^ w->meta) & w->meta_mask)
		return false;
	return !w->sg || mt_meta_nents(meta) > 1 || sg_matches(meta, aux, dma, w);
}

enum { MT_FIND, MT_REMOVE };

/*
 * One probe pass. *busy: a BUSY slot was met (the entry sought may be in it). On a match,
 * MT_REMOVE leaves the slot a tombstone and hands its aux to *aux.
 */
static int probe(struct maptab *t, uint64_t dma, const struct mt_want *w, int op,
		 uint64_t *aux, bool *busy)
{
	uint64_t key = dma + MT_KEY_BIAS, h = mt_hash(key), i;
	int ret = -ENOENT;

	for (i = 0; i <= t->mask; i++) {
		struct mt_slot *s = &t->slots[(h + i) & t->mask];
		uint64_t k = iovx_load_acquire(&s->key), meta, a, was;		/* E-M1 */
		iovx_irqflags_t f;
		bool ok, claim;

		if (k == MT_EMPTY)
			break;
		if (k == MT_BUSY) {
			*busy = true;
			continue;
		}
		if (k != key)
			continue;
		meta = iovx_load_relaxed(&s->meta);
		a = iovx_load_relaxed(&s->aux);
		if (!meta_matches(meta, a, dma, w)) {
			ret = -EINVAL;
			continue;
		}
		claim = op == MT_REMOVE || (w->sg && has_rec(meta));
		if (!claim) {
			/* Re-check: the slot must still hold this key (not recycled meanwhile). */
			if (iovx_load_acquire(&s->key) == key) {
				*aux = 1;
				return 0;
			}
			*busy = true;
			continue;
		}
		iovx_local_irq_save(f);		/* kernel: a claim is never preempted */
		if (!iovx_cmpxchg_acq_rel(&s->key, &k, MT_BUSY)) {		/* E-M2, M1 */
			iovx_local_irq_restore(f);
			*busy = true;
			continue;
		}
		/* Ours now (M1): read again what may have changed between our reads and the claim. */
		iovx_assert(iovx_load_relaxed(&s->key) == MT_BUSY);
		meta = iovx_load_relaxed(&s->meta);
		a = iovx_load_relaxed(&s->aux);
		ok = meta_matches(meta, a, dma, w) &&
		     (!w->sg || !has_rec(meta) || sg_matches(meta, a, dma, w));
		if (!ok || op == MT_FIND) {
			if (ok && has_rec(meta))
				*aux = ((const struct mt_rec *)(uintptr_t)a)->nout;
			iovx_store_release(&s->key, key);			/* E-M1 */
			iovx_local_irq_restore(f);
			if (ok)
				return 0;
			ret = -EINVAL;
			continue;
		}
		iovx_store_release(&s->key, MT_TOMB);
		iovx_local_irq_restore(f);
		/* I6: a mapping is removed once, so the live count never goes below zero */
		was = iovx_fetch_add_relaxed(&t->live, (uint64_t)-1);
		iovx_assert(was > 0);
		(void)was;
		*aux = a;
		return 0;
	}
	return ret;
}

static int lookup(struct maptab *t, uint64_t dma, const struct mt_want *w, int op,
		  uint64_t *aux)
{
	unsigned int spins = 0;
	int ret;

	if (dma > MT_MAX_DMA)							/* M4 */
		return -ENOENT;
	/* A BUSY slot is one thread's compare or insert: a miss past one waits for it. */
	for (;;) {
		bool busy = false;

		ret = probe(t, dma, w, op, aux, &busy);
		if (!ret || !busy)
			return ret;
		iovx_spin_wait(&spins);
	}
}

int iovx_dma_maptab_remove(struct maptab *t, uint64_t dma, const struct mt_want *w,
			   uint64_t *aux)
{
	return lookup(t, dma, w, MT_REMOVE, aux);
}

int iovx_dma_maptab_find(struct maptab *t, uint64_t dma, const struct mt_want *w,
			 uint64_t *nout)
{
	return lookup(t, dma, w, MT_FIND, nout);
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * maptab.c - the table of live DMA mappings that lets the facade reject an unmap or sync of
 * something it never mapped, or with another size or direction (I5), which the kernel's
 * DMA API leaves to CONFIG_DMA_API_DEBUG.
 *
 * What: a fixed-size open-addressing hash table (linear probing) of {dma + 3, meta} slots.
 * Slots go EMPTY -> BUSY -> key -> BUSY -> TOMB -> BUSY -> key ...; never back to EMPTY, so
 * a probe that meets EMPTY knows the key is absent (a key is always placed before the first
 * EMPTY slot of its probe sequence). Passthrough may map one buffer twice: equal keys are
 * allowed and a remove takes any one entry with the same meta.
 *
 * Invariants:
 *   M1 one thread at a time owns a BUSY slot (it won the CAS that made it BUSY);
 *   M2 an entry is published (key stored with release) only after its meta is written;
 *   M3 a mapping's entry exists from the return of its map to the start of its unmap, so
 *      (with I1 from the IOVA allocator) strict keys are unique while live.
 *
 * Progress: insert is lock-free (it skips BUSY slots). remove/find are lock-free unless the
 * entry they look for is BUSY: a remover checking another meta holds it for a few
 * instructions, and remove/find retry while any BUSY slot was seen on a failed probe.
 *
 * Synchronization: insert, remove and find may run concurrently from any threads; walk
 * only on a quiescent table.
 *
 * Ordering edges:
 *   E-M1 the store-release of a key (insert; restore after a mismatch) pairs with the
 *        acquire load of a probe: a reader that sees the key sees its meta.
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

void iovx_dma_maptab_destroy(struct maptab *t)
{
	iovx_free(t->slots);
	t->slots = NULL;
}

int iovx_dma_maptab_insert(struct maptab *t, uint64_t dma, uint64_t meta)
{
	uint64_t key = dma + MT_KEY_BIAS, h = mt_hash(key), i;

	for (i = 0; i <= t->mask; i++) {
		struct mt_slot *s = &t->slots[(h + i) & t->mask];
		uint64_t k = iovx_load_acquire(&s->key);

		if (k != MT_EMPTY && k != MT_TOMB)
			continue;
		if (!iovx_cmpxchg_acq_rel(&s->key, &k, MT_BUSY))		/* E-M2, M1 */
			continue;
		iovx_store_relaxed(&s->meta, meta);
		iovx_store_release(&s->key, key);				/* E-M1, M2 */
		iovx_fetch_add_relaxed(&t->live, 1);
		return 0;
	}
	return -ENOMEM;
}

/* One probe pass. *busy: a BUSY slot was met. Removes when remove is set. */
static int probe(struct maptab *t, uint64_t dma, uint64_t want, bool prefix, bool remove,
		 bool *busy)
{
	uint64_t key = dma + MT_KEY_BIAS, h = mt_hash(key), i;
	int ret = -ENOENT;

	for (i = 0; i <= t->mask; i++) {
		struct mt_slot *s = &t->slots[(h + i) & t->mask];
		uint64_t k = iovx_load_acquire(&s->key), meta;			/* E-M1 */
		bool ok;

		if (k == MT_EMPTY)
			break;
		if (k == MT_BUSY) {
			*busy = true;
			continue;
		}
		if (k != key)
			continue;
		meta = iovx_load_relaxed(&s->meta);
		if (prefix)
			ok = (meta & 0xf) == (want & 0xf) && mt_meta_len(meta) >= mt_meta_len(want);
		else
			ok = meta == want;
		if (!ok) {
			ret = -EINVAL;
			continue;
		}
		if (!remove) {
			/* Re-check: the slot must still hold this key (not recycled meanwhile). */
			if (iovx_load_acquire(&s->key) == key)
				return 0;
			*busy = true;
			continue;
		}
		if (!iovx_cmpxchg_acq_rel(&s->key, &k, MT_BUSY)) {		/* E-M2 */
			*busy = true;
			continue;
		}
		if (iovx_load_relaxed(&s->meta) != want) {
			/* Changed between our read and the claim: put it back. */
			iovx_store_release(&s->key, key);			/* E-M1 */
			ret = -EINVAL;
			continue;
		}
		iovx_store_release(&s->key, MT_TOMB);
		iovx_fetch_add_relaxed(&t->live, (uint64_t)-1);
		return 0;
	}
	return ret;
}

static int lookup(struct maptab *t, uint64_t dma, uint64_t want, bool prefix, bool remove)
{
	unsigned int tries;
	int ret = -ENOENT;

	/* BUSY slots are transient (one thread's few instructions): a miss past one retries. */
	for (tries = 0; tries < 1000; tries++) {
		bool busy = false;

		ret = probe(t, dma, want, prefix, remove, &busy);
		if (!ret || !busy)
			return ret;
		iovx_cpu_relax();
	}
	return ret;
}

int iovx_dma_maptab_remove(struct maptab *t, uint64_t dma, uint64_t meta)
{
	return lookup(t, dma, meta, false, true);
}

int iovx_dma_maptab_find(struct maptab *t, uint64_t dma, uint64_t want, bool prefix)
{
	return lookup(t, dma, want, prefix, false);
}

void iovx_dma_maptab_walk(struct maptab *t, void (*fn)(void *arg, uint64_t dma, uint64_t meta),
			  void *arg)
{
	uint64_t i;

	for (i = 0; i <= t->mask; i++) {
		uint64_t k = t->slots[i].key;

		if (k >= MT_KEY_BIAS)
			fn(arg, k - MT_KEY_BIAS, t->slots[i].meta);
	}
}

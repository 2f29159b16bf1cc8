/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * dma_internal.h - the DMA facade's parts (portable: kernel and userspace); what modes and
 * layers see of a domain is dma_layer.h.
 *
 *   dma.c          domain life cycle, argument checks, the live-mapping bookkeeping, sync,
 *                  the dispatch through the layers to the base mode (dma_layer.h)
 *   maptab.c       the lock-free table of live mappings (what unmap/sync are checked against)
 *   passthrough.c  the passthrough mode and the coherent ownership fences every mode uses
 *   strict.c       the strict mode (with the gather that turns an unmap into one
 *                  invalidation per coalesced range)
 *   deferred.c     the deferred mode (unmaps queued on an invalidation context)
 *   bounce_layer.c the bounce layer (a bounce.c pool in front of the base mode)
 *   bounce_calib.c the bounce crossover's calibration (iovx_bounce_calibrate, and the
 *                  domain's own pair for it)
 *   bounce.c       the bounce pool itself (iovx/bounce.h)
 *
 * The reuse layer is src/reuse/reuse.c.
 */
#ifndef IOVX_DMA_INTERNAL_H
#define IOVX_DMA_INTERNAL_H

#include "dma_layer.h"

/* ------------------------------------------------------------------ maptab */
/*
 * Open addressing, linear probing; a slot is {key, meta, aux}. key: 0 empty (never again
 * once used), 1 tombstone, 2 busy (being filled or checked by one thread), else dma + 3;
 * a DMA address above MT_MAX_DMA is never a key (iovx_dma_maptab_* answer -ENOENT).
 */
#define MT_EMPTY	0ull
#define MT_TOMB		1ull
#define MT_BUSY		2ull
#define MT_KEY_BIAS	3ull
#define MT_MAX_DMA	(UINT64_MAX - MT_KEY_BIAS)

struct mt_slot {
	uint64_t key;
	uint64_t meta;
	/*
	 * sg list of one entry: the input's effective address (its DMA segment is {key, len});
	 * of more: a struct mt_rec *, owned by the slot; single buffer: 0.
	 */
	uint64_t aux;
};

/* What a mapping of an sg list of n > 1 entries was made of: n inputs, then nout outputs. */
struct mt_rec {
	uint32_t n, nout;
	struct dma_seg seg[];
};

/*
 * What a mapping was made with, in one word: kind, direction, the attrs that shape the
 * mapping (sg only), nents and the total length.
 */
#define MT_KIND_SINGLE	0ull
#define MT_KIND_SG	1ull
#define MT_ATTR_WEAK	(1ull << 3)
#define MT_ATTR_PRIV	(1ull << 4)
#define MT_NENTS_SHIFT	5
#define MT_LEN_SHIFT	18
#define MT_MAX_LEN	(1ull << (64 - MT_LEN_SHIFT))
/* meta bits a sync compares (no attrs: a sync names none) */
#define MT_META_NOATTR	(~(MT_ATTR_WEAK | MT_ATTR_PRIV))

static inline uint64_t mt_meta(uint64_t kind, unsigned int dir, unsigned int nents,
			       uint64_t len)
{
	return kind | (uint64_t)dir << 1 | (uint64_t)nents << MT_NENTS_SHIFT | len << MT_LEN_SHIFT;
}

static inline uint64_t mt_meta_len(uint64_t meta)
{
	return meta >> MT_LEN_SHIFT;
}

static inline unsigned int mt_meta_nents(uint64_t meta)
{
	return (unsigned int)(meta >> MT_NENTS_SHIFT) & ((1u << (MT_LEN_SHIFT - MT_NENTS_SHIFT)) - 1);
}

/*
 * What an unmap or sync names, checked against a slot's record:
 *   single  meta equal (prefix: same kind and direction, length at most the mapping's);
 *   sg      meta equal under meta_mask, then every input (segs, validated effective
 *           addresses and lengths) and the first nout DMA entries of sg equal the record's.
 */
struct mt_want {
	uint64_t meta;
	uint64_t meta_mask;
	bool prefix;
	const struct iovx_dma_sg *sg;
	const struct dma_seg *segs;
};

int iovx_dma_maptab_init(struct maptab *t, unsigned int order);
/* Frees the table and the records of mappings still in it (domain destroy: quiescent). */
void iovx_dma_maptab_destroy(struct maptab *t);
/* 0, or -ENOMEM when full; -EINVAL for a DMA address above MT_MAX_DMA (never a key). */
int iovx_dma_maptab_insert(struct maptab *t, uint64_t dma, uint64_t meta, uint64_t aux);
/*
 * Removes one entry at dma that matches w: 0 (*aux: its aux; a record is the caller's now),
 * -EINVAL (dma live, none matching), -ENOENT (not live). Waits for a thread checking the
 * same slot (a few instructions).
 */
int iovx_dma_maptab_remove(struct maptab *t, uint64_t dma, const struct mt_want *w,
			   uint64_t *aux);
/*
 * Is there a live entry at dma that matches w? 0 (*nout: the DMA segments an sg mapping
 * has, 1 for a single buffer), -EINVAL, -ENOENT.
 */
int iovx_dma_maptab_find(struct maptab *t, uint64_t dma, const struct mt_want *w,
			 uint64_t *nout);

/* ------------------------------------------------------------------ modes */

extern const struct iovx_dma_mode_ops iovx_dma_mode_passthrough;	/* passthrough.c */
extern const struct iovx_dma_mode_ops iovx_dma_mode_strict;		/* strict.c */
extern const struct iovx_dma_mode_ops iovx_dma_mode_deferred;		/* deferred.c */

/* strict.c: what deferred maps and tears down as strict does */
int iovx_dma_strict_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			       unsigned int dir, unsigned int attrs, uint64_t *dma);
int iovx_dma_strict_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
			   const struct dma_seg *segs, unsigned int n, unsigned int dir,
			   unsigned int attrs);
void iovx_dma_strict_unmap_all(struct iovx_dma_domain *dom);
/* The IOVA range a mapping of an sg list occupies: its padded inputs back to back. */
static inline uint64_t dma_map_span(const struct iovx_dma_domain *dom, const struct dma_map *m)
{
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < m->n; i++)
		total += dma_seg_span(dom, &m->in[i]);
	return total;
}

/* ------------------------------------------------------------------ bounce */

struct iovx_bounce_pool;

/*
 * The address the IOMMU maps for pool memory. Userspace (the simulator): the host pointer.
 * A backend whose CPU addresses are not the IOMMU's output addresses defines
 * iovx_virt_to_phys in its platform header (the kernel: virt_to_phys).
 */
#ifdef iovx_virt_to_phys
#define bounce_phys_of(p)	((uint64_t)iovx_virt_to_phys(p))
#else
#define bounce_phys_of(p)	((uint64_t)(uintptr_t)(p))
#endif
/* The page size physical contiguity is checked in (the pool, calibration's buffers). */
#define BOUNCE_PAGE	4096ull

/*
 * bounce.c, for the facade only: destroys a pool even with slots still mapped (domain
 * destroy; nothing is copied back). Returns iovx_bounce_destroy's errors but -EBUSY.
 */
int iovx_bounce_destroy_live(struct iovx_bounce_pool *pool);

/* The bounce layer's state (dom->layer_priv[IOVX_DMA_LAYER_BOUNCE]). */
struct dma_bounce {
	struct iovx_bounce_pool *pool;
	uint64_t last;			/* last IOVA byte of the pool (DMA mask check) */
	uint64_t bounced;		/* maps the pool took; relaxed atomic */
};

/* The domain's bounce pool, NULL without a bounce layer. */
static inline struct iovx_bounce_pool *dma_bounce_pool(struct iovx_dma_domain *dom)
{
	struct dma_bounce *b = dom->layer_priv[IOVX_DMA_LAYER_BOUNCE];

	return b ? b->pool : NULL;
}

/*
 * bounce_calib.c: both crossovers of the domain's pool, timed against the base mode (the
 * pool already holds its IOVA range); resets the figures the timing moved.
 */
int iovx_dma_bounce_calibrate(struct iovx_dma_domain *dom, struct iovx_bounce_pool *pool,
			      uint64_t largest);

#endif /* IOVX_DMA_INTERNAL_H */

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * dma_internal.h - the DMA facade's parts (portable: kernel and userspace).
 *
 *   dma.c          domain life cycle, argument checks, the live-mapping bookkeeping, sync
 *   maptab.c       the lock-free table of live mappings (what unmap/sync are checked against)
 *   passthrough.c  the passthrough mode and the coherent ownership fences every mode uses
 *   strict.c       the strict mode (with the gather that turns an unmap into one
 *                  invalidation per coalesced range)
 *   deferred.c     the deferred mode (unmaps queued on an invalidation context)
 *   bounce_layer.c the bounce mode (a bounce.c pool in front of strict or deferred)
 *   bounce.c       the bounce pool itself (iovx/bounce.h)
 *
 * A mode is a struct iovx_dma_mode_ops in iovx_dma_modes[] (dma.c) and may keep private
 * state in dom->mode_priv (deferred keeps its invalidation context there, also when it is
 * bounce's fallback). Reuse is the table of src/reuse/reuse.c in front of the base mode.
 */
#ifndef IOVX_DMA_INTERNAL_H
#define IOVX_DMA_INTERNAL_H

#include "platform.h"
#include <iovx/dma.h>
#include <iovx/iova.h>

/* One segment after validation: effective address and length. */
struct dma_seg {
	uint64_t addr;
	uint64_t len;
};

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

struct maptab {
	struct mt_slot *slots;
	uint64_t mask;
	uint64_t live;			/* atomic */
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

/* ------------------------------------------------------------------ domain */
struct iovx_dma_domain;

static inline unsigned int dma_dir_prot(unsigned int dir)
{
	switch (dir) {
	case IOVX_DMA_TO_DEVICE:
		return IOVX_IOMMU_READ;
	case IOVX_DMA_FROM_DEVICE:
		return IOVX_IOMMU_WRITE;
	default:
		return IOVX_IOMMU_READ | IOVX_IOMMU_WRITE;
	}
}

/* A mapping of an sg list as map_sg made it: n inputs, nout DMA segments. */
struct dma_map {
	const struct dma_seg *in;
	const struct dma_seg *out;
	unsigned int n, nout;
};

/* dir: the validated enum iovx_dma_dir of the call (unmaps: the map's). */
struct iovx_dma_mode_ops {
	const char *name;
	bool needs_iommu;
	/*
	 * map and unmap do the CPU-side transfers themselves (bounce: the copies): the
	 * facade does not call sync_for_device after a map nor sync_for_cpu before an unmap.
	 */
	bool map_syncs;
	int (*init)(struct iovx_dma_domain *dom);
	void (*fini)(struct iovx_dma_domain *dom);
	int (*map_single)(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			  unsigned int dir, unsigned int attrs, uint64_t *dma);
	int (*unmap_single)(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			    unsigned int dir, unsigned int attrs);
	/* Fills sg[].dma_*; returns the DMA segment count. segs: the validated inputs. */
	int (*map_sg)(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
		      const struct dma_seg *segs, unsigned int n, unsigned int dir,
		      unsigned int attrs);
	/* Unmaps exactly what a map_sg made (the facade's record, never the caller's list). */
	int (*unmap_sg)(struct iovx_dma_domain *dom, const struct dma_map *m, unsigned int dir,
			unsigned int attrs);
	/* Ownership transfer of [dma, dma + size) of a live mapping (bounce copies here). */
	void (*sync_for_cpu)(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			     unsigned int dir);
	void (*sync_for_device)(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
				unsigned int dir);
	/* Tears down every mapping still live (domain destroy). */
	void (*unmap_all)(struct iovx_dma_domain *dom);
	/* Adds the mode's own figures to st (deferred: the invalidation context's). */
	void (*stats)(struct iovx_dma_domain *dom, struct iovx_dma_stats *st);
	/* Drains deferred work synchronously (iovx_dma_flush_deferred). */
	int (*flush)(struct iovx_dma_domain *dom);
};

extern const struct iovx_dma_mode_ops *const iovx_dma_modes[IOVX_DMA_NR_MODES];
extern const struct iovx_dma_mode_ops iovx_dma_mode_passthrough;	/* passthrough.c */
extern const struct iovx_dma_mode_ops iovx_dma_mode_strict;		/* strict.c */
extern const struct iovx_dma_mode_ops iovx_dma_mode_deferred;		/* deferred.c */
extern const struct iovx_dma_mode_ops iovx_dma_mode_bounce;		/* bounce_layer.c */

/* passthrough.c: the coherent device model's ownership fences (every mode's syncs) */
void iovx_dma_coherent_for_cpu(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			       unsigned int dir);
void iovx_dma_coherent_for_device(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
				  unsigned int dir);
/* strict.c: what deferred maps and tears down as strict does */
int iovx_dma_strict_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			       unsigned int dir, unsigned int attrs, uint64_t *dma);
int iovx_dma_strict_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
			   const struct dma_seg *segs, unsigned int n, unsigned int dir,
			   unsigned int attrs);
void iovx_dma_strict_unmap_all(struct iovx_dma_domain *dom);
/* The IOVA range a mapping of an sg list occupies: its padded inputs back to back. */
uint64_t iovx_dma_map_span(struct iovx_dma_domain *dom, const struct dma_map *m);

struct iovx_dma_domain {
	const struct iovx_dma_mode_ops *mode;
	struct iovx_iommu *iommu;
	struct iovx_iova_domain *iovad;
	unsigned int shift;		/* granule shift */
	uint64_t gmask;			/* granule - 1 */
	uint64_t mask;			/* DMA mask; atomic (set_mask) */
	uint64_t dma_last;		/* highest DMA address a mapping can reach */
	unsigned int flags;
	struct maptab mt;
	void *mode_priv;
	const struct iovx_inval_config *inval_cfg;	/* valid during create only */
	const struct iovx_dma_config *create_cfg;	/* valid during create only */
	/* bounce mode: the pool, the mode of the rest, the pool's end (DMA mask check) */
	struct iovx_bounce_pool *bpool;
	const struct iovx_dma_mode_ops *fallback;
	uint64_t bpool_last;		/* last IOVA byte of the pool */
	struct iovx_iommu_freed_page *leaked_tables;	/* Treiber stack (never reused) */
	struct iovx_rtab *rtab;		/* reuse mode: the reuse table (src/reuse/reuse.c) */
	bool revive;			/* IOVX_DMA_F_REVIVE: untagged maps use the table too */
	/* statistics: relaxed atomics */
	uint64_t maps, unmaps, errors, inv_ranges, syncs, leaked_pages, nr_leaked_tables;
	uint64_t bounced, bounce_fallbacks;
};

/* The padded IOVA extent of one segment. */
static inline uint64_t dma_seg_span(const struct iovx_dma_domain *dom, const struct dma_seg *s)
{
	return ((s->addr & dom->gmask) + s->len + dom->gmask) & ~dom->gmask;
}

/* The first page frame above the DMA mask (the IOVA allocator's limit). */
static inline uint64_t dma_mask_limit_pfn(struct iovx_dma_domain *dom)
{
	uint64_t m = iovx_load_relaxed(&dom->mask);

	return (m >> dom->shift) + 1;
}

/*
 * bounce.c, for the facade only: destroys a pool even with slots still mapped (domain
 * destroy; nothing is copied back). Returns iovx_bounce_destroy's errors but -EBUSY.
 */
int iovx_bounce_destroy_live(struct iovx_bounce_pool *pool);

/* ------------------------------------------------------------------ reuse */
/*
 * src/reuse/reuse.c, for the facade: the reuse table of a reuse-mode domain. The base mode
 * (strict or deferred) is dom->mode; the table sits in front of it for tagged buffers.
 */
struct iovx_rtab;
enum { RTAB_UNMAP, RTAB_SYNC_CPU, RTAB_SYNC_DEV, RTAB_FIND };
/* revive: untagged maps get revivable entries that linger up to linger_ns when idle. */
int iovx_rtab_init(struct iovx_dma_domain *dom, unsigned int order, bool revive,
		   uint64_t linger_ns);
/* Frees the table (domain destroy); returns the references callers still held. */
uint64_t iovx_rtab_fini(struct iovx_dma_domain *dom);
/*
 * A table map: > 0 / 0 served (hit or new entry); -ENOSPC: map it outside the table;
 * -errno. opp: an untagged map of a revive-mode domain (a revivable entry).
 */
int iovx_rtab_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
		     const struct dma_seg *segs, unsigned int n, unsigned int dir,
		     unsigned int attrs, bool opp);
int iovx_rtab_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			 unsigned int dir, unsigned int attrs, bool opp, uint64_t *dma);
/* Unmap (drops a reference) / syncs / find of a table mapping: 0 or -ENOENT (not ours). */
int iovx_rtab_sg_op(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
		    const struct dma_seg *segs, unsigned int n, unsigned int dir,
		    unsigned int attrs, bool opp, int op);
int iovx_rtab_single_op(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			unsigned int dir, unsigned int attrs, bool opp, int op);
/* A live table mapping starts at dma: another size/direction/nents is -EINVAL, not -ENOENT. */
#define RTAB_ANY	UINT64_MAX
bool iovx_rtab_owns(struct iovx_dma_domain *dom, uint64_t dma, uint64_t first);
/* Evicts every idle entry (IOVA pressure); returns how many. */
int iovx_rtab_evict_idle(struct iovx_dma_domain *dom);

#define DMA_STAT_ADD(d, f, v)	((void)iovx_fetch_add_relaxed(&(d)->f, (uint64_t)(v)))

#endif /* IOVX_DMA_INTERNAL_H */

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * dma_internal.h - the DMA facade's parts (portable: kernel and userspace).
 *
 *   dma.c     domain life cycle, argument checks, the live-mapping bookkeeping, sync
 *   maptab.c  the lock-free table of live mappings (what unmap/sync are checked against)
 *   modes.c   the per-mode work behind one ops table: passthrough and strict (with the
 *             gather that turns an unmap into one invalidation per coalesced range),
 *             deferred, and bounce (a bounce.c pool in front of strict or deferred)
 *   bounce.c  the bounce pool itself (iovx/bounce.h)
 *
 * A mode is a struct iovx_dma_mode_ops; reuse adds its own to iovx_dma_modes[] (modes.c)
 * and may keep private state in dom->mode_priv (deferred keeps its invalidation context
 * there, also when it is bounce's fallback).
 */
#ifndef IOVX_DMA_INTERNAL_H
#define IOVX_DMA_INTERNAL_H

#include "platform.h"
#include <iovx/dma.h>
#include <iovx/iova.h>

/* ------------------------------------------------------------------ maptab */
/*
 * Open addressing, linear probing; a slot is {key, meta}. key: 0 empty (never again once
 * used), 1 tombstone, 2 busy (being filled or checked by one thread), else dma + 3.
 */
#define MT_EMPTY	0ull
#define MT_TOMB		1ull
#define MT_BUSY		2ull
#define MT_KEY_BIAS	3ull

struct mt_slot {
	uint64_t key;
	uint64_t meta;
};

struct maptab {
	struct mt_slot *slots;
	uint64_t mask;
	uint64_t live;			/* atomic */
};

/* What a mapping was made with: kind, direction, nents and length, in one word. */
#define MT_KIND_SINGLE	0ull
#define MT_KIND_SG	1ull
#define MT_LEN_SHIFT	18
#define MT_MAX_LEN	(1ull << (64 - MT_LEN_SHIFT))

static inline uint64_t mt_meta(uint64_t kind, unsigned int dir, unsigned int nents,
			       uint64_t len)
{
	return kind | (uint64_t)dir << 1 | (uint64_t)nents << 4 | len << MT_LEN_SHIFT;
}

static inline uint64_t mt_meta_len(uint64_t meta)
{
	return meta >> MT_LEN_SHIFT;
}

int iovx_dma_maptab_init(struct maptab *t, unsigned int order);
void iovx_dma_maptab_destroy(struct maptab *t);
/* 0, or -ENOMEM when full. */
int iovx_dma_maptab_insert(struct maptab *t, uint64_t dma, uint64_t meta);
/* Removes one entry (dma, meta): 0, -EINVAL (dma live with another meta), -ENOENT. */
int iovx_dma_maptab_remove(struct maptab *t, uint64_t dma, uint64_t meta);
/*
 * Is there a live entry for dma whose meta equals want, or (single kind, prefix true) has
 * the same kind and direction and a length >= that of want? 0, -EINVAL, -ENOENT.
 */
int iovx_dma_maptab_find(struct maptab *t, uint64_t dma, uint64_t want, bool prefix);
/* Quiescent walk: calls fn for every live entry. */
void iovx_dma_maptab_walk(struct maptab *t, void (*fn)(void *arg, uint64_t dma, uint64_t meta),
			  void *arg);

/* ------------------------------------------------------------------ domain */
struct iovx_dma_domain;

/* One segment after validation: effective address and length. */
struct dma_seg {
	uint64_t addr;
	uint64_t len;
};

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
	int (*unmap_sg)(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
			const struct dma_seg *segs, unsigned int n, unsigned int dir,
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

struct iovx_dma_domain {
	const struct iovx_dma_mode_ops *mode;
	struct iovx_iommu *iommu;
	struct iovx_iova_domain *iovad;
	unsigned int shift;		/* granule shift */
	uint64_t gmask;			/* granule - 1 */
	uint64_t mask;			/* DMA mask; atomic (set_mask) */
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

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * dma_layer.h - what a DMA mode and a DMA layer see of a domain (portable: kernel and
 * userspace). The facade (dma.c) includes it through dma_internal.h; a layer that lives
 * outside src/dma (reuse, src/reuse/reuse.c) includes only this.
 *
 * A domain is a base mode plus up to IOVX_DMA_NR_LAYERS layers:
 *
 *   base mode  a struct iovx_dma_mode_ops of iovx_dma_modes[]: passthrough (passthrough.c),
 *              strict (strict.c), deferred (deferred.c). It maps and unmaps every call no
 *              layer takes; its private state lives in dom->mode_priv.
 *   layer      a struct iovx_dma_layer_ops of iovx_dma_layers[], in the order they see a
 *              call: reuse (src/reuse/reuse.c), then bounce (bounce_layer.c). A layer's
 *              hook either takes the call (returns its result) or answers DMA_PASS, and the
 *              next layer, then the base mode, sees it. Its private state lives in
 *              dom->layer_priv[its index].
 *
 * Which layers a domain has follows from its config (each layer's wanted()); the base mode
 * is cfg->mode when that names a base mode, else cfg->fallback (strict when that names a
 * layer): IOVX_DMA_MODE_REUSE is [reuse] over cfg->fallback, IOVX_DMA_MODE_BOUNCE is
 * [bounce] over cfg->fallback or, with fallback REUSE, [reuse, bounce] over strict, and
 * IOVX_DMA_F_REVIVE on deferred is [reuse] over deferred.
 *
 * Records. A layer with own_records keeps its own record of what it maps (reuse's table):
 * the facade records none of its mappings, offers it an unmap (single or sg) and an sg sync
 * before looking at its own table, and a single sync after its table has none. Any other
 * layer's mappings are recorded in the facade's table like the base mode's: the facade
 * offers it an unmap or sync only after the record checked out, with the record.
 *
 * Syncs. Unless a layer has map_syncs (its map and unmap do the CPU-side transfers, as
 * bounce's copies), the facade runs the base mode's sync_for_device after a map and its
 * sync_for_cpu before an unmap (unless IOVX_DMA_ATTR_SKIP_CPU_SYNC).
 */
#ifndef IOVX_DMA_LAYER_H
#define IOVX_DMA_LAYER_H

#include "platform.h"
#include <iovx/dma.h>
#include <iovx/iova.h>

/* One segment after validation: effective address and length. */
struct dma_seg {
	uint64_t addr;
	uint64_t len;
};

/* A mapping of an sg list as map_sg made it: n inputs, nout DMA segments. */
struct dma_map {
	const struct dma_seg *in;
	const struct dma_seg *out;
	unsigned int n, nout;
};

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

/* ------------------------------------------------------------------ base modes */

/* dir: the validated enum iovx_dma_dir of the call (unmaps: the map's). */
struct iovx_dma_mode_ops {
	const char *name;
	bool needs_iommu;
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
	/* Ownership transfer of [dma, dma + size) of a live mapping. */
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

/* By enum iovx_dma_mode; NULL for the modes that name layers (REUSE, BOUNCE). */
extern const struct iovx_dma_mode_ops *const iovx_dma_modes[IOVX_DMA_NR_MODES];

/* ------------------------------------------------------------------ layers */

/* A layer hook's "not mine": the next layer, the facade's table or the base mode goes on. */
#define DMA_PASS	(-4096)
/* owns(): a call that names no input address (single buffers) */
#define DMA_ANY_FIRST	UINT64_MAX

enum { IOVX_DMA_LAYER_REUSE, IOVX_DMA_LAYER_BOUNCE, IOVX_DMA_NR_LAYERS };

/*
 * Every hook but wanted, init and fini is optional. Map hooks return what the base mode's
 * would (0 / a DMA segment count, or -errno) or DMA_PASS; unmap and sync hooks 0 or DMA_PASS
 * (own records), or the unmap's result or DMA_PASS (recorded layers).
 */
struct iovx_dma_layer_ops {
	const char *name;
	bool own_records;
	bool map_syncs;
	/* Does cfg ask for this layer over base (enum iovx_dma_mode)? 1, 0, or -EINVAL. */
	int (*wanted)(const struct iovx_dma_config *cfg, unsigned int base);
	/* After the base mode's init and the init of the layers below; 0 or -errno. */
	int (*init)(struct iovx_dma_domain *dom, const struct iovx_dma_config *cfg);
	/*
	 * Domain destroy (before the base mode's unmap_all) or a failed create: frees the
	 * layer; returns the references callers still held on its mappings.
	 */
	uint64_t (*fini)(struct iovx_dma_domain *dom);
	int (*map_single)(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			  unsigned int dir, unsigned int attrs, uint64_t *dma);
	int (*map_sg)(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
		      const struct dma_seg *segs, unsigned int n, unsigned int dir,
		      unsigned int attrs);
	int (*unmap_single)(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			    unsigned int dir, unsigned int attrs);
	/* m: the record (recorded layers); the caller's inputs, nout 0 (own records). */
	int (*unmap_sg)(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
			const struct dma_map *m, unsigned int dir, unsigned int attrs);
	/* A single buffer's sync; for recorded layers also each DMA segment of an sg sync. */
	int (*sync_single)(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			   unsigned int dir, bool for_cpu);
	/* An sg list's sync (own records only); m as for unmap_sg. */
	int (*sync_sg)(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg,
		       const struct dma_map *m, unsigned int dir, bool for_cpu);
	/* The base mode ran out of IOVA: frees what it can; returns how many mappings. */
	int (*reclaim)(struct iovx_dma_domain *dom);
	/*
	 * Does a live mapping of this layer start at dma (made of a buffer starting at first,
	 * or DMA_ANY_FIRST)? Then a call naming it with other arguments is -EINVAL, not -ENOENT.
	 */
	bool (*owns)(struct iovx_dma_domain *dom, uint64_t dma, uint64_t first);
	/* Adds the layer's figures to st. */
	void (*stats)(struct iovx_dma_domain *dom, struct iovx_dma_stats *st);
};

/* In the order they see a call; the layers that keep their own records come first. */
extern const struct iovx_dma_layer_ops *const iovx_dma_layers[IOVX_DMA_NR_LAYERS];
extern const struct iovx_dma_layer_ops iovx_dma_layer_reuse;	/* src/reuse/reuse.c */
extern const struct iovx_dma_layer_ops iovx_dma_layer_bounce;	/* bounce_layer.c */

/* ------------------------------------------------------------------ domain */

struct mt_slot;

/* The facade's table of live mappings (maptab.c, dma_internal.h). */
struct maptab {
	struct mt_slot *slots;
	uint64_t mask;
	uint64_t live;			/* atomic */
};

struct iovx_dma_domain {
	const struct iovx_dma_mode_ops *mode;	/* the base mode */
	struct iovx_iommu *iommu;
	struct iovx_iova_domain *iovad;
	bool iova_borrowed;		/* iovad is cfg->iova_domain: never destroyed here */
	unsigned int shift;		/* granule shift */
	uint64_t gmask;			/* granule - 1 */
	uint64_t mask;			/* DMA mask; atomic (set_mask) */
	uint64_t dma_last;		/* highest DMA address a mapping can reach */
	unsigned int flags;
	unsigned int nr_layers;
	unsigned int nr_own;		/* layers[0 .. nr_own - 1] keep their own records */
	const struct iovx_dma_layer_ops *layers[IOVX_DMA_NR_LAYERS];	/* in call order */
	struct maptab mt;
	void *mode_priv;
	void *layer_priv[IOVX_DMA_NR_LAYERS];	/* by index in iovx_dma_layers[] */
	const struct iovx_inval_config *inval_cfg;	/* valid during create only */
	struct iovx_iommu_freed_page *leaked_tables;	/* Treiber stack (never reused) */
	/* statistics: relaxed atomics; passes: maps every layer passed (domains with layers) */
	uint64_t maps, unmaps, errors, inv_ranges, syncs, leaked_pages, nr_leaked_tables;
	uint64_t passes;
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

/* passthrough.c: the coherent device model's ownership fences (every mode's syncs) */
void iovx_dma_coherent_for_cpu(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
			       unsigned int dir);
void iovx_dma_coherent_for_device(struct iovx_dma_domain *dom, uint64_t dma, uint64_t size,
				  unsigned int dir);

#endif /* IOVX_DMA_LAYER_H */

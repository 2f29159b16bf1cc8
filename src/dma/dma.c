// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * dma.c - the DMA-API facade's entry points: argument checks (I5), the live-mapping
 * bookkeeping (maptab.c) and the dispatch of each call through the domain's layers to its
 * base mode (dma_layer.h: a layer takes a call or passes it on).
 *
 * Every entry point validates everything it can before anything changes, so a rejected
 * call leaves the domain, the IOMMU and the caller's sg list as they were (I5). The order
 * of a map is: validate -> the first layer that takes it, else the base mode, maps (IOVA,
 * page tables, a pool slot) -> record the mapping (unless the layer keeps its own records);
 * of an unmap: validate -> the layers with their own records -> remove the record (this is
 * what rejects a never-mapped address or a size/direction/nents mismatch) -> the layer
 * that owns the mapping, else the base mode, unmaps. A mapping is recorded only while it
 * can be used by the device, so an unmap that passed the check owns the mapping (M3).
 *
 * Concurrency: see iovx/dma.h; nothing here blocks, the table is lock-free (maptab.c) and
 * the modes and layers call the IOVA allocator (lock-free), the IOMMU ops and their own
 * lock-free structures.
 */
#include "dma_internal.h"

#define DMA_KNOWN_FLAGS		(IOVX_DMA_F_NO_GATHER | IOVX_DMA_F_REVIVE)

const struct iovx_dma_mode_ops *const iovx_dma_modes[IOVX_DMA_NR_MODES] = {
	[IOVX_DMA_MODE_PASSTHROUGH] = &iovx_dma_mode_passthrough,
	[IOVX_DMA_MODE_STRICT] = &iovx_dma_mode_strict,
	[IOVX_DMA_MODE_DEFERRED] = &iovx_dma_mode_deferred,
};

const struct iovx_dma_layer_ops *const iovx_dma_layers[IOVX_DMA_NR_LAYERS] = {
	[IOVX_DMA_LAYER_REUSE] = &iovx_dma_layer_reuse,
	[IOVX_DMA_LAYER_BOUNCE] = &iovx_dma_layer_bounce,
};

void iovx_dma_config_init(struct iovx_dma_config *cfg, struct iovx_iommu *iommu,
			  enum iovx_dma_mode mode)
{
	if (!cfg)
		return;
	cfg->iommu = iommu;
	cfg->mode = mode;
	cfg->dma_mask = 0;
	cfg->flags = 0;
	cfg->map_table_order = 16;
	cfg->iova_flags = 0;
	cfg->inval = NULL;
	cfg->fallback = IOVX_DMA_MODE_STRICT;
	cfg->bounce = NULL;
	cfg->bounce_crossover = 0;
	cfg->reuse_table_order = 0;
	cfg->reserved = NULL;
	cfg->nr_reserved = 0;
	cfg->iova_domain = NULL;
}

/* Takes cfg's reserved ranges out of the new domain's allocator (granule-widened). */
static int reserve_ranges(struct iovx_dma_domain *dom, const struct iovx_dma_config *cfg)
{
	unsigned int i;
	int err;

	for (i = 0; i < cfg->nr_reserved; i++) {
		const struct iovx_dma_range *r = &cfg->reserved[i];
		uint64_t first = r->start >> dom->shift;
		uint64_t last = (r->start + r->size - 1) >> dom->shift;

		err = iovx_iova_reserve(dom->iovad, first, last - first + 1);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The base mode of a config: cfg->mode when it names one; for a mode that names layers,
 * cfg->fallback (strict when that names a layer too: bounce over reuse).
 */
static unsigned int base_of(const struct iovx_dma_config *cfg)
{
	if (iovx_dma_modes[cfg->mode])
		return cfg->mode;
	if ((unsigned int)cfg->fallback < IOVX_DMA_NR_MODES && iovx_dma_modes[cfg->fallback])
		return cfg->fallback;
	return IOVX_DMA_MODE_STRICT;
}

/* Tears down the layers from index 'from' on (they are up) and the base mode. */
static uint64_t layers_fini(struct iovx_dma_domain *dom, unsigned int from)
{
	uint64_t refs = 0;
	unsigned int i;

	for (i = from; i < dom->nr_layers; i++)
		refs += dom->layers[i]->fini(dom);
	return refs;
}

/* The base mode's init, then the layers' from the bottom up; on failure nothing is left up. */
static int domain_init(struct iovx_dma_domain *dom, const struct iovx_dma_config *cfg)
{
	unsigned int i;
	int err = dom->mode->init ? dom->mode->init(dom) : 0;

	if (err)
		return err;
	for (i = dom->nr_layers; !err && i > 0; i--)
		err = dom->layers[i - 1]->init(dom, cfg);
	if (!err)
		return 0;
	(void)layers_fini(dom, i + 1);	/* the layers below the one that failed */
	if (dom->mode->fini)
		dom->mode->fini(dom);
	return err;
}

int iovx_dma_domain_create(const struct iovx_dma_config *cfg, struct iovx_dma_domain **out)
{
	const struct iovx_dma_layer_ops *layers[IOVX_DMA_NR_LAYERS];
	const struct iovx_dma_mode_ops *mode;
	struct iovx_dma_domain *dom;
	unsigned int i, n = 0, base;
	int err = 0;

	if (!cfg || !out || (unsigned int)cfg->mode >= IOVX_DMA_NR_MODES ||
	    cfg->flags & ~DMA_KNOWN_FLAGS || cfg->map_table_order < 4 ||
	    cfg->map_table_order > 24)
		return -EINVAL;
	if (cfg->nr_reserved > IOVX_DMA_MAX_RESERVED || (cfg->nr_reserved && !cfg->reserved))
		return -EINVAL;
	for (i = 0; i < cfg->nr_reserved; i++) {
		const struct iovx_dma_range *r = &cfg->reserved[i];

		if (!r->size || r->start + r->size - 1 < r->start)
			return -EINVAL;
	}
	/* A borrowed IOVA space: the owner reserves; no pool or passthrough in it. */
	if (cfg->iova_domain && (cfg->mode == IOVX_DMA_MODE_PASSTHROUGH ||
				 cfg->mode == IOVX_DMA_MODE_BOUNCE || cfg->nr_reserved))
		return -EINVAL;
	base = base_of(cfg);
	for (i = 0; i < IOVX_DMA_NR_LAYERS; i++) {
		int want = iovx_dma_layers[i]->wanted(cfg, base);

		if (want < 0)
			return want;
		if (want)
			layers[n++] = iovx_dma_layers[i];
	}
	mode = iovx_dma_modes[base];
	if (!mode)
		return -EOPNOTSUPP;
	if (mode->needs_iommu && (!cfg->iommu || !cfg->iommu->ops ||
				  cfg->iommu->granule_shift < 12 ||
				  cfg->iommu->granule_shift > 16 || cfg->iommu->ias_bits < 32 ||
				  cfg->iommu->ias_bits > 64 - 1))
		return -EINVAL;
	dom = iovx_zalloc(sizeof(*dom), IOVX_GFP_KERNEL);
	if (!dom)
		return -ENOMEM;
	dom->mode = mode;
	for (i = 0; i < n; i++)
		dom->layers[i] = layers[i];
	dom->nr_layers = n;
	/* iovx_dma_layers[] lists the layers that keep their own records first */
	while (dom->nr_own < n && layers[dom->nr_own]->own_records)
		dom->nr_own++;
	for (i = dom->nr_own; i < n; i++)
		iovx_assert(!layers[i]->own_records);
	dom->iommu = cfg->iommu;
	dom->shift = cfg->iommu ? cfg->iommu->granule_shift : 12;
	dom->gmask = (1ull << dom->shift) - 1;
	dom->mask = cfg->dma_mask ? cfg->dma_mask : UINT64_MAX;
	dom->flags = cfg->flags;
	/* The highest byte a mapping's DMA address can reach (unmap and sync check it). */
	if (mode->needs_iommu)
		dom->dma_last = (1ull << cfg->iommu->ias_bits) - 1;
	else if (cfg->iommu && cfg->iommu->oas_bits < 64)
		dom->dma_last = (1ull << cfg->iommu->oas_bits) - 1;
	else
		dom->dma_last = MT_MAX_DMA - 1;
	err = iovx_dma_maptab_init(&dom->mt, cfg->map_table_order);
	if (err) {
		iovx_free(dom);
		return err;
	}
	if (mode->needs_iommu && cfg->iova_domain) {
		dom->iovad = cfg->iova_domain;
		dom->iova_borrowed = true;
	} else if (mode->needs_iommu) {
		struct iovx_iova_config ic;
		uint64_t end = 1ull << (cfg->iommu->ias_bits - dom->shift);

		iovx_iova_config_init(&ic, 1, end);
		ic.granule_shift = dom->shift;
		ic.flags = cfg->iova_flags;
		err = iovx_iova_domain_create(&ic, &dom->iovad);
		if (!err)
			err = reserve_ranges(dom, cfg);
	}
	dom->inval_cfg = cfg->inval;
	if (!err)
		err = domain_init(dom, cfg);
	dom->inval_cfg = NULL;
	if (err) {
		if (!dom->iova_borrowed)
			iovx_iova_domain_destroy(dom->iovad);
		iovx_dma_maptab_destroy(&dom->mt);
		iovx_free(dom);
		return err;
	}
	iovx_pin_get();
	*out = dom;
	return 0;
}

/*
 * Destroy in a borrowed IOVA space: the base mode's mappings still live, torn down one by
 * one from their records (the space is shared: no whole-space unmap). A record names its
 * first DMA address; the IOVA range starts at its granule and spans the padded inputs.
 */
static void unmap_records(struct iovx_dma_domain *dom)
{
	uint64_t i;

	for (i = 0; i <= dom->mt.mask; i++) {
		const struct mt_slot *s = &dom->mt.slots[i];
		uint64_t dma, span = 0;
		unsigned int dir, k;

		if (s->key < MT_KEY_BIAS)
			continue;
		dma = s->key - MT_KEY_BIAS;
		dir = (unsigned int)(s->meta >> 1) & 3;
		if ((s->meta & MT_KIND_SG) && mt_meta_nents(s->meta) > 1) {
			const struct mt_rec *r = (const struct mt_rec *)(uintptr_t)s->aux;

			for (k = 0; k < r->n; k++)
				span += dma_seg_span(dom, &r->seg[k]);
		} else {
			span = ((dma & dom->gmask) + mt_meta_len(s->meta) + dom->gmask) &
			       ~dom->gmask;
		}
		(void)dom->mode->unmap_single(dom, dma & ~dom->gmask, span, dir, 0);
	}
}

int iovx_dma_domain_destroy(struct iovx_dma_domain *dom)
{
	uint64_t live;

	if (!dom)
		return -EINVAL;
	live = iovx_load_relaxed(&dom->mt.live);
	/* The layers first: their mappings go with the base mode's unmap_all below. */
	live += layers_fini(dom, 0);
	/*
	 * Even with nothing live: the IOMMU keeps page-table pages while the domain lives (as
	 * io-pgtable does), and they go with it.
	 */
	if (dom->iova_borrowed)
		unmap_records(dom);
	else if (dom->mode->unmap_all)
		dom->mode->unmap_all(dom);
	if (dom->mode->fini)
		dom->mode->fini(dom);
	/*
	 * Table pages kept after a failed sync: freed only if a sync now succeeds, else
	 * leaked for good (docs/inval.md).
	 */
	if (dom->leaked_tables && (dom->iommu->ops->inv_all(dom->iommu) ||
				   dom->iommu->ops->sync(dom->iommu)))
		dom->leaked_tables = NULL;
	while (dom->leaked_tables) {
		struct iovx_iommu_freelist l;
		struct iovx_iommu_freed_page *p = dom->leaked_tables;

		dom->leaked_tables = p->next;
		iovx_iommu_freelist_init(&l);
		iovx_iommu_freelist_add(&l, p);
		dom->iommu->ops->free_pages(dom->iommu, &l);
	}
	if (!dom->iova_borrowed)
		iovx_iova_domain_destroy(dom->iovad);
	iovx_dma_maptab_destroy(&dom->mt);
	iovx_free(dom);
	iovx_pin_put();
	return (int)(live > 0x7fffffff ? 0x7fffffff : live);
}

int iovx_dma_set_mask(struct iovx_dma_domain *dom, uint64_t mask)
{
	if (!dom)
		return -EINVAL;
	iovx_store_relaxed(&dom->mask, mask ? mask : UINT64_MAX);
	return 0;
}

/* The layers of dom that keep their own records / whose mappings the facade records. */
#define for_each_own_layer(dom, i, l)						\
	for ((i) = 0; (i) < (dom)->nr_own && ((l) = (dom)->layers[i]); (i)++)
#define for_each_recorded_layer(dom, i, l)					\
	for ((i) = (dom)->nr_own; (i) < (dom)->nr_layers && ((l) = (dom)->layers[i]); (i)++)

/*
 * -ENOENT from the live-mapping table for an address where a layer's own mapping of the
 * same buffer lives (sg: the same first segment): the call named that mapping with another
 * size, direction, nents or attrs (-EINVAL). Another buffer carrying such a mapping's DMA
 * fields stays -ENOENT.
 */
static int table_errno(struct iovx_dma_domain *dom, int err, uint64_t dma, uint64_t first)
{
	unsigned int i;

	for (i = 0; err == -ENOENT && i < dom->nr_layers; i++)
		if (dom->layers[i]->owns && dom->layers[i]->owns(dom, dma, first))
			return -EINVAL;
	return err;
}

/* The base mode ran out of IOVA: did a layer give some back? */
static bool layers_reclaim(struct iovx_dma_domain *dom)
{
	bool any = false;
	unsigned int i;

	for (i = 0; i < dom->nr_layers; i++)
		if (dom->layers[i]->reclaim && dom->layers[i]->reclaim(dom) > 0)
			any = true;
	return any;
}

/* Ownership transfer of one DMA segment of a recorded mapping: a layer's, else the base's. */
static void sync_seg(struct iovx_dma_domain *dom, uint64_t dma, uint64_t len, unsigned int dir,
		     bool for_cpu)
{
	const struct iovx_dma_mode_ops *b = dom->mode;
	const struct iovx_dma_layer_ops *l;
	unsigned int i;

	for_each_recorded_layer(dom, i, l)
		if (l->sync_single && l->sync_single(dom, dma, len, dir, for_cpu) != DMA_PASS)
			return;
	if (for_cpu && b->sync_for_cpu)
		b->sync_for_cpu(dom, dma, len, dir);
	else if (!for_cpu && b->sync_for_device)
		b->sync_for_device(dom, dma, len, dir);
}

static inline bool dir_ok(enum iovx_dma_dir dir)
{
	return (unsigned int)dir <= IOVX_DMA_FROM_DEVICE;
}

static inline int fail(struct iovx_dma_domain *dom, int err)
{
	if (dom)
		IOVX_STAT_ADD(&dom->errors, 1);
	return err;
}

/* Common checks of one buffer: 0 or the errno of iovx/dma.h. */
static int check_buf(struct iovx_dma_domain *dom, uint64_t addr, uint64_t size)
{
	if (!size || size >= MT_MAX_LEN)
		return -EINVAL;
	/* The table stores dma + 3: keep the last 4 bytes of the space out. */
	if (addr + size < addr || addr + size > UINT64_MAX - MT_KEY_BIAS)
		return -EOVERFLOW;
	if (dom->iommu && dom->iommu->oas_bits < 64 &&
	    (addr + size - 1) >> dom->iommu->oas_bits)
		return -ERANGE;
	return 0;
}

/*
 * The DMA range an unmap or sync names: -EOVERFLOW when it wraps, -ENOENT when no mapping of
 * this domain can lie there (beyond its IOVA space or output range, or so high that the
 * live-mapping table could not key it), else 0.
 */
static int check_dma(struct iovx_dma_domain *dom, uint64_t dma, uint64_t len)
{
	if (dma + len < dma)
		return -EOVERFLOW;
	if (dma > dom->dma_last || len - 1 > dom->dma_last - dma)
		return -ENOENT;
	return 0;
}

/* The record's bits for the attrs that shape a mapping (sg lists). */
static inline uint64_t mt_attrs(unsigned int attrs)
{
	return (attrs & IOVX_DMA_ATTR_WEAK_ORDERING ? MT_ATTR_WEAK : 0) |
	       (attrs & IOVX_DMA_ATTR_PRIVILEGED ? MT_ATTR_PRIV : 0);
}

/*
 * A map offered to the layers in call order, then to the base mode, which is tried once
 * more (with the recorded layers before it) when it ran out of IOVA and a layer gave some
 * back. *taker: the layer that took it, NULL for the base mode.
 */
static int layers_map_single(struct iovx_dma_domain *dom, uint64_t phys, uint64_t size,
			     unsigned int dir, unsigned int attrs, uint64_t *addr,
			     const struct iovx_dma_layer_ops **taker)
{
	unsigned int i = 0;
	bool retried = false;
	int err;

again:
	for (; i < dom->nr_layers; i++) {
		*taker = dom->layers[i];
		err = (*taker)->map_single(dom, phys, size, dir, attrs, addr);
		if (err != DMA_PASS)
			return err;
	}
	*taker = NULL;
	err = dom->mode->map_single(dom, phys, size, dir, attrs, addr);
	if (err == -ENOMEM && !retried && layers_reclaim(dom)) {
		retried = true;
		i = dom->nr_own;
		goto again;
	}
	if (!err)
		IOVX_STAT_ADD(&dom->passes, 1);
	return err;
}

int iovx_dma_map_single(struct iovx_dma_domain *dom, uint64_t phys, size_t size,
			enum iovx_dma_dir dir, unsigned int attrs, uint64_t *dma)
{
	const struct iovx_dma_layer_ops *l = NULL;
	uint64_t addr;
	int err;

	if (!dom || !dma)
		return fail(dom, -EINVAL);
	if (!dir_ok(dir) || attrs & ~IOVX_DMA_ATTR_MASK)
		return fail(dom, -EINVAL);
	err = check_buf(dom, phys, size);
	if (err)
		return fail(dom, err);
	if (dom->nr_layers)
		err = layers_map_single(dom, phys, size, dir, attrs, &addr, &l);
	else
		err = dom->mode->map_single(dom, phys, size, dir, attrs, &addr);
	if (err)
		return fail(dom, err);
	if (!l || !l->own_records) {
		err = iovx_dma_maptab_insert(&dom->mt, addr, mt_meta(MT_KIND_SINGLE, dir, 1, size),
					     0);
		if (err) {
			if (l)
				(void)l->unmap_single(dom, addr, size, dir, attrs);
			else
				(void)dom->mode->unmap_single(dom, addr, size, dir, attrs);
			return fail(dom, err);
		}
	}
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC) && !(l && l->map_syncs) &&
	    dom->mode->sync_for_device)
		dom->mode->sync_for_device(dom, addr, size, dir);
	IOVX_STAT_ADD(&dom->maps, 1);
	*dma = addr;
	return 0;
}

int iovx_dma_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, size_t size,
			  enum iovx_dma_dir dir, unsigned int attrs)
{
	struct mt_want w = { mt_meta(MT_KIND_SINGLE, dir, 1, size), ~0ull, false, NULL, NULL };
	const struct iovx_dma_layer_ops *l;
	unsigned int i;
	uint64_t aux;
	int err;

	if (!dom)
		return -EINVAL;
	if (!dir_ok(dir) || attrs & ~IOVX_DMA_ATTR_MASK || !size || size >= MT_MAX_LEN)
		return fail(dom, -EINVAL);
	err = check_dma(dom, dma, size);
	if (err)
		return fail(dom, err);
	for_each_own_layer(dom, i, l)
		if (l->unmap_single(dom, dma, size, dir, attrs) != DMA_PASS)
			goto done;
	/* The record goes first: from here the mapping is this call's alone (M3). */
	err = iovx_dma_maptab_remove(&dom->mt, dma, &w, &aux);
	if (err)
		return fail(dom, table_errno(dom, err, dma, DMA_ANY_FIRST));
	for_each_recorded_layer(dom, i, l) {
		err = l->unmap_single(dom, dma, size, dir, attrs);
		if (err != DMA_PASS)
			goto unmapped;
	}
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC) && dom->mode->sync_for_cpu)
		dom->mode->sync_for_cpu(dom, dma, size, dir);
	err = dom->mode->unmap_single(dom, dma, size, dir, attrs);
unmapped:
	if (err)
		return fail(dom, err);
done:
	IOVX_STAT_ADD(&dom->unmaps, 1);
	return 0;
}

/*
 * Checks an sg list and fills segs (effective address, length) and the sum of lengths.
 * segs is caller-provided scratch of n entries.
 */
static int check_sg(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg, int nents,
		    enum iovx_dma_dir dir, unsigned int attrs, struct dma_seg *segs,
		    uint64_t *total)
{
	uint64_t sum = 0;
	int i, err;

	if (!sg || nents <= 0 || nents > IOVX_DMA_MAX_SEGS || !dir_ok(dir) ||
	    attrs & ~IOVX_DMA_ATTR_MASK)
		return -EINVAL;
	for (i = 0; i < nents; i++) {
		uint64_t a = sg[i].phys + sg[i].offset;

		if (a < sg[i].phys)
			return -EOVERFLOW;
		err = check_buf(dom, a, sg[i].length);
		if (err)
			return err;
		segs[i].addr = a;
		segs[i].len = sg[i].length;
		sum += sg[i].length;
	}
	if (sum >= MT_MAX_LEN)
		return -EOVERFLOW;
	*total = sum;
	return 0;
}

/* Scratch for up to IOVX_DMA_MAX_SEGS segments: on the heap, not the stack. */
static struct dma_seg *segs_alloc(int nents)
{
	if (nents <= 0 || nents > IOVX_DMA_MAX_SEGS)
		return NULL;
	return iovx_zalloc((size_t)nents * sizeof(struct dma_seg), IOVX_GFP_ATOMIC);
}

/*
 * 16 segments (256 bytes) on the stack: a 64 KiB list of pages, and the common block and
 * network lists, need no scratch allocation on map nor on unmap, which pays for the
 * record a list of more than one entry allocates.
 */
#define SEGS_ONSTACK 16

/*
 * Common start of the sg calls: scratch for the segments (on the stack up to
 * SEGS_ONSTACK, else on the heap) and the argument checks. The caller frees *segs when it
 * is not 'stack', whatever this returns.
 */
static int sg_begin(struct iovx_dma_domain *dom, const struct iovx_dma_sg *sg, int nents,
		    enum iovx_dma_dir dir, unsigned int attrs, struct dma_seg *stack,
		    struct dma_seg **segs, uint64_t *total)
{
	*segs = stack;
	if (nents > SEGS_ONSTACK) {
		*segs = segs_alloc(nents);
		if (!*segs) {
			*segs = stack;
			return nents > IOVX_DMA_MAX_SEGS ? -EINVAL : -ENOMEM;
		}
	}
	return check_sg(dom, sg, nents, dir, attrs, *segs, total);
}

/*
 * An unmap's or sync's list, read as it is: its arguments are checked (-EINVAL), its inputs
 * are not — an entry that would not map is only one that matches no record (-EINVAL later).
 */
static int sg_read(const struct iovx_dma_sg *sg, int nents, enum iovx_dma_dir dir,
		   unsigned int attrs, struct dma_seg *stack, struct dma_seg **segs,
		   uint64_t *total)
{
	uint64_t sum = 0;
	int i;

	*segs = stack;
	if (!sg || nents <= 0 || nents > IOVX_DMA_MAX_SEGS || !dir_ok(dir) ||
	    attrs & ~IOVX_DMA_ATTR_MASK)
		return -EINVAL;
	if (nents > SEGS_ONSTACK) {
		*segs = segs_alloc(nents);
		if (!*segs) {
			*segs = stack;
			return -ENOMEM;
		}
	}
	for (i = 0; i < nents; i++) {
		(*segs)[i].addr = sg[i].phys + sg[i].offset;
		(*segs)[i].len = sg[i].length;
		sum += sg[i].length;
	}
	*total = sum;
	return 0;
}

/*
 * The record of an sg mapping of more than one entry: its inputs and its nout DMA segments.
 * One entry needs none (the slot holds its input address).
 */
static struct mt_rec *rec_make(const struct iovx_dma_sg *sg, const struct dma_seg *segs,
			       unsigned int n, unsigned int nout)
{
	struct mt_rec *r = iovx_zalloc(sizeof(*r) + (size_t)(n + nout) * sizeof(struct dma_seg),
				       IOVX_GFP_ATOMIC);
	unsigned int i;

	if (!r)
		return NULL;
	r->n = n;
	r->nout = nout;
	for (i = 0; i < n; i++)
		r->seg[i] = segs[i];
	for (i = 0; i < nout; i++) {
		r->seg[n + i].addr = sg[i].dma_address;
		r->seg[n + i].len = sg[i].dma_length;
	}
	return r;
}

/* The mapping a record describes (one, two: the one-entry form kept in the slot). */
static void rec_map(struct dma_map *m, struct dma_seg *one, uint64_t dma, uint64_t meta,
		    uint64_t aux)
{
	const struct mt_rec *r = (const struct mt_rec *)(uintptr_t)aux;

	if (mt_meta_nents(meta) == 1) {
		one[0].addr = aux;
		one[0].len = mt_meta_len(meta);
		one[1].addr = dma;
		one[1].len = mt_meta_len(meta);
		m->in = &one[0];
		m->out = &one[1];
		m->n = m->nout = 1;
		return;
	}
	m->in = r->seg;
	m->out = r->seg + r->n;
	m->n = r->n;
	m->nout = r->nout;
}

/* Undoes a map_sg whose record could not be made; the output list is the caller's sg. */
static void map_sg_undo(struct iovx_dma_domain *dom, const struct iovx_dma_layer_ops *l,
			struct iovx_dma_sg *sg, const struct dma_seg *segs, unsigned int n,
			int nout, unsigned int dir, unsigned int attrs)
{
	struct dma_map m = { segs, NULL, n, (unsigned int)nout };
	struct dma_seg *out = segs_alloc(nout);
	int i;

	for (i = 0; out && i < nout; i++) {
		out[i].addr = sg[i].dma_address;
		out[i].len = sg[i].dma_length;
	}
	m.out = out;
	if (out && l)
		(void)l->unmap_sg(dom, sg, &m, dir, attrs);
	else if (out)
		(void)dom->mode->unmap_sg(dom, &m, dir, attrs);
	iovx_free(out);
}

/* layers_map_single for an sg list: the DMA segment count or -errno. */
static int layers_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
			 const struct dma_seg *segs, unsigned int n, unsigned int dir,
			 unsigned int attrs, const struct iovx_dma_layer_ops **taker)
{
	unsigned int i = 0;
	bool retried = false;
	int ret;

again:
	for (; i < dom->nr_layers; i++) {
		*taker = dom->layers[i];
		ret = (*taker)->map_sg(dom, sg, segs, n, dir, attrs);
		if (ret != DMA_PASS)
			return ret;
	}
	*taker = NULL;
	ret = dom->mode->map_sg(dom, sg, segs, n, dir, attrs);
	if (ret == -ENOMEM && !retried && layers_reclaim(dom)) {
		retried = true;
		i = dom->nr_own;
		goto again;
	}
	if (ret >= 0)
		IOVX_STAT_ADD(&dom->passes, 1);
	return ret;
}

int iovx_dma_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg, int nents,
		    enum iovx_dma_dir dir, unsigned int attrs)
{
	struct dma_seg stack[SEGS_ONSTACK], *segs = stack;
	const struct iovx_dma_layer_ops *l = NULL;
	unsigned int i, n = (unsigned int)nents;
	struct mt_rec *rec = NULL;
	uint64_t total, aux;
	int ret, err;

	if (!dom)
		return -EINVAL;
	ret = sg_begin(dom, sg, nents, dir, attrs, stack, &segs, &total);
	if (ret)
		goto out;
	if (dom->nr_layers)
		ret = layers_map_sg(dom, sg, segs, n, dir, attrs, &l);
	else
		ret = dom->mode->map_sg(dom, sg, segs, n, dir, attrs);
	if (ret < 0 || (l && l->own_records))
		goto mapped;
	if (nents == 1) {
		aux = segs[0].addr;
	} else {
		rec = rec_make(sg, segs, n, (unsigned int)ret);
		aux = (uintptr_t)rec;
	}
	err = rec || nents == 1 ?
	      iovx_dma_maptab_insert(&dom->mt, sg[0].dma_address,
				     mt_meta(MT_KIND_SG, dir, n, total) | mt_attrs(attrs), aux) :
	      -ENOMEM;
	if (err) {
		map_sg_undo(dom, l, sg, segs, n, ret, dir, attrs);
		iovx_free(rec);
		ret = err;
	}
mapped:
	if (ret < 0)
		goto out;
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC) && !(l && l->map_syncs) &&
	    dom->mode->sync_for_device) {
		void (*fn)(struct iovx_dma_domain *, uint64_t, uint64_t, unsigned int) =
			dom->mode->sync_for_device;

		for (i = 0; i < (unsigned int)ret; i++)
			fn(dom, sg[i].dma_address, sg[i].dma_length, dir);
	}
	IOVX_STAT_ADD(&dom->maps, 1);
out:
	if (segs != stack)
		iovx_free(segs);
	return ret < 0 ? fail(dom, ret) : ret;
}

/* An unmap or sync of an sg list offered to the layers that keep their own records. */
static int own_sg_op(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
		     const struct dma_seg *segs, unsigned int n, unsigned int dir,
		     bool for_cpu, bool remove, unsigned int attrs)
{
	const struct iovx_dma_layer_ops *l;
	unsigned int i;
	int ret;

	for_each_own_layer(dom, i, l) {
		struct dma_map in = { segs, NULL, n, 0 };

		ret = remove ? l->unmap_sg(dom, sg, &in, dir, attrs) :
			       l->sync_sg(dom, sg, &in, dir, for_cpu);
		if (ret != DMA_PASS)
			return ret;
	}
	return DMA_PASS;
}

/* Tears down the mapping an sg unmap's record describes: a layer's, else the base mode's. */
static int unmap_rec(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
		     const struct dma_map *m, unsigned int dir, unsigned int attrs)
{
	const struct iovx_dma_layer_ops *l;
	unsigned int i;
	int ret;

	for_each_recorded_layer(dom, i, l) {
		ret = l->unmap_sg(dom, sg, m, dir, attrs);
		if (ret != DMA_PASS)
			return ret;
	}
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC) && dom->mode->sync_for_cpu) {
		void (*fn)(struct iovx_dma_domain *, uint64_t, uint64_t, unsigned int) =
			dom->mode->sync_for_cpu;

		for (i = 0; i < m->nout; i++)
			fn(dom, m->out[i].addr, m->out[i].len, dir);
	}
	return dom->mode->unmap_sg(dom, m, dir, attrs);
}

static int sync_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg, int nents,
		   enum iovx_dma_dir dir, bool for_cpu, bool remove, unsigned int attrs)
{
	struct dma_seg stack[SEGS_ONSTACK], *segs = stack, one[2];
	struct mt_want w;
	struct dma_map m;
	uint64_t total, aux;
	unsigned int i;
	int ret;

	if (!dom)
		return -EINVAL;
	ret = sg_read(sg, nents, dir, attrs, stack, &segs, &total);
	if (ret)
		goto out;
	/* A layer's own mapping: the syncs and the reference drop happen in the layer. */
	ret = own_sg_op(dom, sg, segs, (unsigned int)nents, dir, for_cpu, remove, attrs);
	if (ret != DMA_PASS) {
		if (!ret && remove)
			IOVX_STAT_ADD(&dom->unmaps, 1);
		goto out;
	}
	ret = -ENOENT;
	if (sg[0].dma_address > dom->dma_last)
		goto out;
	w.meta = mt_meta(MT_KIND_SG, dir, (unsigned int)nents, total) | mt_attrs(attrs);
	w.meta_mask = remove ? ~0ull : MT_META_NOATTR;
	w.prefix = false;
	w.sg = sg;
	w.segs = segs;
	/*
	 * An unmap removes the record first: from here the mapping is this call's alone (M3),
	 * and what it tears down is what the record says the map made. A sync checks the list
	 * against the record and learns how many DMA segments the map made (the list's first
	 * nout entries, now known to be the record's).
	 */
	if (remove)
		ret = iovx_dma_maptab_remove(&dom->mt, sg[0].dma_address, &w, &aux);
	else
		ret = iovx_dma_maptab_find(&dom->mt, sg[0].dma_address, &w, &aux);
	if (ret) {
		ret = table_errno(dom, ret, sg[0].dma_address, segs[0].addr);
		goto out;
	}
	if (!remove) {
		for (i = 0; i < (unsigned int)aux; i++)
			sync_seg(dom, sg[i].dma_address, sg[i].dma_length, dir, for_cpu);
		goto out;
	}
	rec_map(&m, one, sg[0].dma_address, w.meta, aux);
	ret = unmap_rec(dom, sg, &m, dir, attrs);
	if (!ret)
		IOVX_STAT_ADD(&dom->unmaps, 1);
	if (nents > 1)
		iovx_free((void *)(uintptr_t)aux);
out:
	if (segs != stack)
		iovx_free(segs);
	return ret < 0 ? fail(dom, ret) : ret;
}

int iovx_dma_unmap_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg, int nents,
		      enum iovx_dma_dir dir, unsigned int attrs)
{
	return sync_sg(dom, sg, nents, dir, true, true, attrs);
}

int iovx_dma_sync_sg_for_cpu(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg, int nents,
			     enum iovx_dma_dir dir)
{
	return sync_sg(dom, sg, nents, dir, true, false, 0);
}

int iovx_dma_sync_sg_for_device(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
				int nents, enum iovx_dma_dir dir)
{
	return sync_sg(dom, sg, nents, dir, false, false, 0);
}

static int sync_single(struct iovx_dma_domain *dom, uint64_t dma, size_t size,
		       enum iovx_dma_dir dir, bool for_cpu)
{
	struct mt_want w = { mt_meta(MT_KIND_SINGLE, dir, 1, size), ~0ull, true, NULL, NULL };
	const struct iovx_dma_layer_ops *l;
	uint64_t nout;
	unsigned int i;
	int err;

	if (!dom)
		return -EINVAL;
	if (!dir_ok(dir) || !size || size >= MT_MAX_LEN)
		return fail(dom, -EINVAL);
	err = check_dma(dom, dma, size);
	if (err)
		return fail(dom, err);
	err = iovx_dma_maptab_find(&dom->mt, dma, &w, &nout);
	if (!err) {
		sync_seg(dom, dma, size, dir, for_cpu);
		return 0;
	}
	/* Not in the facade's table: a layer's own mapping? */
	if (err == -ENOENT) {
		for_each_own_layer(dom, i, l)
			if (l->sync_single(dom, dma, size, dir, for_cpu) != DMA_PASS)
				return 0;
	}
	return fail(dom, table_errno(dom, err, dma, DMA_ANY_FIRST));
}

int iovx_dma_sync_single_for_cpu(struct iovx_dma_domain *dom, uint64_t dma, size_t size,
				 enum iovx_dma_dir dir)
{
	return sync_single(dom, dma, size, dir, true);
}

int iovx_dma_sync_single_for_device(struct iovx_dma_domain *dom, uint64_t dma, size_t size,
				    enum iovx_dma_dir dir)
{
	return sync_single(dom, dma, size, dir, false);
}

int iovx_dma_get_stats(struct iovx_dma_domain *dom, struct iovx_dma_stats *st)
{
	unsigned int i;

	if (!dom || !st)
		return -EINVAL;
	st->live = iovx_load_relaxed(&dom->mt.live);
	st->maps = iovx_load_relaxed(&dom->maps);
	st->unmaps = iovx_load_relaxed(&dom->unmaps);
	st->errors = iovx_load_relaxed(&dom->errors);
	st->inv_ranges = iovx_load_relaxed(&dom->inv_ranges);
	st->syncs = iovx_load_relaxed(&dom->syncs);
	st->leaked_pages = iovx_load_relaxed(&dom->leaked_pages);
	st->leaked_tables = iovx_load_relaxed(&dom->nr_leaked_tables);
	st->bounced = 0;
	st->bounce_fallbacks = 0;
	st->bounce_bytes = 0;
	st->bounce_crossover = 0;
	st->bounce_crossover_to_device = 0;
	st->bounce_pool_bytes = 0;
	if (dom->mode->stats)
		dom->mode->stats(dom, st);
	for (i = 0; i < dom->nr_layers; i++)
		if (dom->layers[i]->stats)
			dom->layers[i]->stats(dom, st);
	return 0;
}

int iovx_dma_flush_deferred(struct iovx_dma_domain *dom)
{
	if (!dom)
		return -EINVAL;
	if (!dom->mode->flush)
		return -EOPNOTSUPP;
	return dom->mode->flush(dom);
}

int iovx_dma_get_inval_stats(struct iovx_dma_domain *dom, struct iovx_inval_stats *st)
{
	if (!dom || !st)
		return -EINVAL;
	if (dom->mode != iovx_dma_modes[IOVX_DMA_MODE_DEFERRED])
		return -EOPNOTSUPP;
	return iovx_inval_get_stats(dom->mode_priv, st);
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * dma.c - the DMA-API facade's entry points: argument checks (I5), the live-mapping
 * bookkeeping (maptab.c) and dispatch to the domain's mode
 * (passthrough.c, strict.c, deferred.c, bounce_layer.c).
 *
 * Every entry point validates everything it can before anything changes, so a rejected
 * call leaves the domain, the IOMMU and the caller's sg list as they were (I5). The order
 * of a map is: validate -> mode maps (IOVA, page tables) -> record the mapping; of an
 * unmap: validate -> remove the record (this is what rejects a never-mapped address or a
 * size/direction/nents mismatch) -> mode unmaps. A mapping is recorded only while it can
 * be used by the device, so an unmap that passed the check owns the mapping (M3).
 *
 * Concurrency: see iovx/dma.h; nothing here blocks, the table is lock-free (maptab.c) and
 * the mode calls the IOVA allocator (lock-free) and the IOMMU ops.
 */
#include "dma_internal.h"
#include <iovx/reuse.h>

#define DMA_KNOWN_FLAGS		(IOVX_DMA_F_NO_GATHER | IOVX_DMA_F_REVIVE)

const struct iovx_dma_mode_ops *const iovx_dma_modes[IOVX_DMA_NR_MODES] = {
	[IOVX_DMA_MODE_PASSTHROUGH] = &iovx_dma_mode_passthrough,
	[IOVX_DMA_MODE_STRICT] = &iovx_dma_mode_strict,
	[IOVX_DMA_MODE_DEFERRED] = &iovx_dma_mode_deferred,
	[IOVX_DMA_MODE_BOUNCE] = &iovx_dma_mode_bounce,
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
}

int iovx_dma_domain_create(const struct iovx_dma_config *cfg, struct iovx_dma_domain **out)
{
	const struct iovx_dma_mode_ops *mode;
	struct iovx_dma_domain *dom;
	unsigned int rorder = 0;
	int err;

	if (!cfg || !out || (unsigned int)cfg->mode >= IOVX_DMA_NR_MODES ||
	    cfg->flags & ~DMA_KNOWN_FLAGS || cfg->map_table_order < 4 ||
	    cfg->map_table_order > 24)
		return -EINVAL;
	if (cfg->mode == IOVX_DMA_MODE_REUSE) {
		/* The table in front of a base mode: strict or deferred (iovx/reuse.h). */
		rorder = cfg->reuse_table_order ? cfg->reuse_table_order :
			 IOVX_REUSE_DEFAULT_TABLE_ORDER;
		if ((cfg->fallback != IOVX_DMA_MODE_STRICT &&
		     cfg->fallback != IOVX_DMA_MODE_DEFERRED) ||
		    rorder < IOVX_REUSE_MIN_TABLE_ORDER || rorder > IOVX_REUSE_MAX_TABLE_ORDER)
			return -EINVAL;
		mode = iovx_dma_modes[cfg->fallback];
	} else {
		mode = iovx_dma_modes[cfg->mode];
		/* Bounce over reuse: tagged buffers in the table, the rest bounce or go strict. */
		if (cfg->mode == IOVX_DMA_MODE_BOUNCE && cfg->fallback == IOVX_DMA_MODE_REUSE) {
			rorder = cfg->reuse_table_order ? cfg->reuse_table_order :
				 IOVX_REUSE_DEFAULT_TABLE_ORDER;
			if (rorder < IOVX_REUSE_MIN_TABLE_ORDER ||
			    rorder > IOVX_REUSE_MAX_TABLE_ORDER)
				return -EINVAL;
		}
	}
	if (cfg->flags & IOVX_DMA_F_REVIVE) {
		/* Revivable mappings live inside the deferred window: deferred base only. */
		if (mode != iovx_dma_modes[IOVX_DMA_MODE_DEFERRED])
			return -EINVAL;
		if (!rorder) {
			rorder = cfg->reuse_table_order ? cfg->reuse_table_order :
				 IOVX_REUSE_DEFAULT_TABLE_ORDER;
			if (rorder < IOVX_REUSE_MIN_TABLE_ORDER ||
			    rorder > IOVX_REUSE_MAX_TABLE_ORDER)
				return -EINVAL;
		}
		if (cfg->inval && (cfg->inval->max_age_ns < IOVX_INVAL_MIN_MAX_AGE_NS ||
				   cfg->inval->max_age_ns > IOVX_INVAL_MAX_MAX_AGE_NS))
			return -EINVAL;
	}
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
	if (mode->needs_iommu) {
		struct iovx_iova_config ic;
		uint64_t end = 1ull << (cfg->iommu->ias_bits - dom->shift);

		iovx_iova_config_init(&ic, 1, end);
		ic.granule_shift = dom->shift;
		ic.flags = cfg->iova_flags;
		err = iovx_iova_domain_create(&ic, &dom->iovad);
	}
	dom->inval_cfg = cfg->inval;
	dom->create_cfg = cfg;
	if (!err && mode->init)
		err = mode->init(dom);
	if (!err && rorder) {
		uint64_t bound = cfg->inval ? cfg->inval->max_age_ns :
				 IOVX_INVAL_DEFAULT_MAX_AGE_NS;

		/*
		 * An idle revivable mapping lingers half the bound; the reaper runs every
		 * quarter, tears it down with a strict invalidation: reachable < the bound.
		 */
		dom->revive = !!(cfg->flags & IOVX_DMA_F_REVIVE);
		err = iovx_rtab_init(dom, rorder, dom->revive, bound / 2);
		if (err && mode->fini)
			mode->fini(dom);
	}
	dom->inval_cfg = NULL;
	dom->create_cfg = NULL;
	if (err) {
		iovx_iova_domain_destroy(dom->iovad);
		iovx_dma_maptab_destroy(&dom->mt);
		iovx_free(dom);
		return err;
	}
	*out = dom;
	return 0;
}

int iovx_dma_domain_destroy(struct iovx_dma_domain *dom)
{
	uint64_t live;

	if (!dom)
		return -EINVAL;
	live = iovx_load_relaxed(&dom->mt.live);
	/* Reuse entries first: their mappings go with the base mode's unmap_all below. */
	live += iovx_rtab_fini(dom);
	/*
	 * Even with nothing live: the IOMMU keeps page-table pages while the domain lives (as
	 * io-pgtable does), and they go with it.
	 */
	if (dom->mode->unmap_all)
		dom->mode->unmap_all(dom);
	if (dom->mode->fini)
		dom->mode->fini(dom);
	/*
	 * Table pages kept after a failed sync: freed only if a sync now succeeds, else
	 * leaked for good (DESIGN.md §5).
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
	iovx_iova_domain_destroy(dom->iovad);
	iovx_dma_maptab_destroy(&dom->mt);
	iovx_free(dom);
	return (int)(live > 0x7fffffff ? 0x7fffffff : live);
}

int iovx_dma_set_mask(struct iovx_dma_domain *dom, uint64_t mask)
{
	if (!dom)
		return -EINVAL;
	iovx_store_relaxed(&dom->mask, mask ? mask : UINT64_MAX);
	return 0;
}

/* The mode behind the reuse table's mappings: bounce hands tagged buffers to its fallback. */
static inline const struct iovx_dma_mode_ops *table_ops(struct iovx_dma_domain *dom)
{
	return dom->bpool ? dom->fallback : dom->mode;
}

/*
 * -ENOENT from the live-mapping table for an address where a reuse-table mapping of the
 * same buffer lives (sg: the same first segment): the call named a table mapping with
 * another size, direction, nents or attrs (-EINVAL). Another buffer carrying a table
 * mapping's DMA fields stays -ENOENT.
 */
static int table_errno(struct iovx_dma_domain *dom, int err, uint64_t dma, uint64_t first)
{
	if (err == -ENOENT && dom->rtab && iovx_rtab_owns(dom, dma, first))
		return -EINVAL;
	return err;
}

static inline bool dir_ok(enum iovx_dma_dir dir)
{
	return (unsigned int)dir <= IOVX_DMA_FROM_DEVICE;
}

static inline int fail(struct iovx_dma_domain *dom, int err)
{
	if (dom)
		DMA_STAT_ADD(dom, errors, 1);
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

int iovx_dma_map_single(struct iovx_dma_domain *dom, uint64_t phys, size_t size,
			enum iovx_dma_dir dir, unsigned int attrs, uint64_t *dma)
{
	const struct iovx_dma_mode_ops *sm;
	uint64_t addr;
	int err;

	if (!dom || !dma)
		return fail(dom, -EINVAL);
	sm = dom->mode;
	if (!dir_ok(dir) || attrs & ~IOVX_DMA_ATTR_MASK)
		return fail(dom, -EINVAL);
	err = check_buf(dom, phys, size);
	if (err)
		return fail(dom, err);
	if (dom->rtab && ((attrs & IOVX_DMA_ATTR_REUSE) || dom->revive)) {
		err = iovx_rtab_map_single(dom, phys, size, dir, attrs,
					   !(attrs & IOVX_DMA_ATTR_REUSE), &addr);
		if (!err) {
			sm = table_ops(dom);
			goto mapped;
		}
		if (err != -ENOSPC)
			return fail(dom, err);
		/* no room in the table: mapped untagged below */
	}
	err = dom->mode->map_single(dom, phys, size, dir, attrs, &addr);
	if (err == -ENOMEM && dom->rtab && iovx_rtab_evict_idle(dom))
		err = dom->mode->map_single(dom, phys, size, dir, attrs, &addr);
	if (err)
		return fail(dom, err);
	err = iovx_dma_maptab_insert(&dom->mt, addr, mt_meta(MT_KIND_SINGLE, dir, 1, size), 0);
	if (err) {
		(void)dom->mode->unmap_single(dom, addr, size, dir, attrs);
		return fail(dom, err);
	}
mapped:
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC) && !sm->map_syncs && sm->sync_for_device)
		sm->sync_for_device(dom, addr, size, dir);
	DMA_STAT_ADD(dom, maps, 1);
	*dma = addr;
	return 0;
}

int iovx_dma_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, size_t size,
			  enum iovx_dma_dir dir, unsigned int attrs)
{
	struct mt_want w = { mt_meta(MT_KIND_SINGLE, dir, 1, size), ~0ull, false, NULL, NULL };
	uint64_t aux;
	int err;

	if (!dom)
		return -EINVAL;
	if (!dir_ok(dir) || attrs & ~IOVX_DMA_ATTR_MASK || !size || size >= MT_MAX_LEN)
		return fail(dom, -EINVAL);
	err = check_dma(dom, dma, size);
	if (err)
		return fail(dom, err);
	if (dom->rtab && ((attrs & IOVX_DMA_ATTR_REUSE) || dom->revive) &&
	    !iovx_rtab_single_op(dom, dma, size, dir, attrs, !(attrs & IOVX_DMA_ATTR_REUSE),
				 RTAB_UNMAP)) {
		DMA_STAT_ADD(dom, unmaps, 1);
		return 0;
	}
	/* The record goes first: from here the mapping is this call's alone (M3). */
	err = iovx_dma_maptab_remove(&dom->mt, dma, &w, &aux);
	if (err)
		return fail(dom, table_errno(dom, err, dma, RTAB_ANY));
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC) && !dom->mode->map_syncs &&
	    dom->mode->sync_for_cpu)
		dom->mode->sync_for_cpu(dom, dma, size, dir);
	err = dom->mode->unmap_single(dom, dma, size, dir, attrs);
	if (err)
		return fail(dom, err);
	DMA_STAT_ADD(dom, unmaps, 1);
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

#define SEGS_ONSTACK 8

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

int iovx_dma_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg, int nents,
		    enum iovx_dma_dir dir, unsigned int attrs)
{
	struct dma_seg stack[SEGS_ONSTACK], *segs = stack;
	const struct iovx_dma_mode_ops *sm;
	struct mt_rec *rec = NULL;
	uint64_t total, aux;
	int ret, err;

	if (!dom)
		return -EINVAL;
	sm = dom->mode;
	ret = sg_begin(dom, sg, nents, dir, attrs, stack, &segs, &total);
	if (ret)
		goto out;
	if (dom->rtab && ((sg[0].flags & IOVX_SG_REUSE) || dom->revive)) {
		ret = iovx_rtab_map_sg(dom, sg, segs, (unsigned int)nents, dir, attrs,
				       !(sg[0].flags & IOVX_SG_REUSE));
		if (ret > 0) {
			sm = table_ops(dom);
			goto mapped;
		}
		if (ret != -ENOSPC)
			goto out;
		/* no room in the table: mapped untagged below */
	}
	ret = dom->mode->map_sg(dom, sg, segs, (unsigned int)nents, dir, attrs);
	if (ret == -ENOMEM && dom->rtab && iovx_rtab_evict_idle(dom))
		ret = dom->mode->map_sg(dom, sg, segs, (unsigned int)nents, dir, attrs);
	if (ret < 0)
		goto out;
	if (nents == 1) {
		aux = segs[0].addr;
	} else {
		rec = rec_make(sg, segs, (unsigned int)nents, (unsigned int)ret);
		aux = (uintptr_t)rec;
	}
	err = rec || nents == 1 ?
	      iovx_dma_maptab_insert(&dom->mt, sg[0].dma_address,
				     mt_meta(MT_KIND_SG, dir, (unsigned int)nents, total) |
				     mt_attrs(attrs), aux) : -ENOMEM;
	if (err) {
		struct dma_map m = { segs, NULL, (unsigned int)nents, (unsigned int)ret };
		struct dma_seg *out = segs_alloc(ret);
		int i;

		/* The mapping as map_sg made it; the output list is the caller's sg. */
		for (i = 0; out && i < ret; i++) {
			out[i].addr = sg[i].dma_address;
			out[i].len = sg[i].dma_length;
		}
		m.out = out;
		if (out)
			(void)dom->mode->unmap_sg(dom, &m, dir, attrs);
		iovx_free(out);
		iovx_free(rec);
		ret = err;
		goto out;
	}
mapped:
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC) && !sm->map_syncs && sm->sync_for_device) {
		int i;

		for (i = 0; i < ret; i++)
			sm->sync_for_device(dom, sg[i].dma_address, sg[i].dma_length, dir);
	}
	DMA_STAT_ADD(dom, maps, 1);
out:
	if (segs != stack)
		iovx_free(segs);
	return ret < 0 ? fail(dom, ret) : ret;
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
	if (dom->rtab && ((sg[0].flags & IOVX_SG_REUSE) || dom->revive)) {
		/* A table mapping: the syncs and the reference drop happen in the table. */
		ret = iovx_rtab_sg_op(dom, sg, segs, (unsigned int)nents, dir, attrs,
				      !(sg[0].flags & IOVX_SG_REUSE),
				      remove ? RTAB_UNMAP : for_cpu ? RTAB_SYNC_CPU : RTAB_SYNC_DEV);
		if (!ret) {
			if (remove)
				DMA_STAT_ADD(dom, unmaps, 1);
			goto out;
		}
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
	if (remove) {
		rec_map(&m, one, sg[0].dma_address, w.meta, aux);
	} else {
		m.out = NULL;
		m.nout = (unsigned int)aux;
	}
	if (!(attrs & IOVX_DMA_ATTR_SKIP_CPU_SYNC) && !(remove && dom->mode->map_syncs)) {
		void (*fn)(struct iovx_dma_domain *, uint64_t, uint64_t, unsigned int) =
			for_cpu ? dom->mode->sync_for_cpu : dom->mode->sync_for_device;

		for (i = 0; fn && i < m.nout; i++) {
			if (m.out)
				fn(dom, m.out[i].addr, m.out[i].len, dir);
			else
				fn(dom, sg[i].dma_address, sg[i].dma_length, dir);
		}
	}
	if (remove) {
		ret = dom->mode->unmap_sg(dom, &m, dir, attrs);
		if (!ret)
			DMA_STAT_ADD(dom, unmaps, 1);
		if (nents > 1)
			iovx_free((void *)(uintptr_t)aux);
	}
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
	uint64_t nout;
	int err;

	if (!dom)
		return -EINVAL;
	if (!dir_ok(dir) || !size || size >= MT_MAX_LEN)
		return fail(dom, -EINVAL);
	err = check_dma(dom, dma, size);
	if (err)
		return fail(dom, err);
	err = iovx_dma_maptab_find(&dom->mt, dma, &w, &nout);
	if (err == -ENOENT && dom->rtab &&
	    !iovx_rtab_single_op(dom, dma, size, dir, 0, false,
				 for_cpu ? RTAB_SYNC_CPU : RTAB_SYNC_DEV))
		return 0;
	if (err)
		return fail(dom, table_errno(dom, err, dma, RTAB_ANY));
	if (for_cpu && dom->mode->sync_for_cpu)
		dom->mode->sync_for_cpu(dom, dma, size, dir);
	else if (!for_cpu && dom->mode->sync_for_device)
		dom->mode->sync_for_device(dom, dma, size, dir);
	return 0;
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
	if (dom->mode != iovx_dma_modes[IOVX_DMA_MODE_DEFERRED] &&
	    dom->fallback != iovx_dma_modes[IOVX_DMA_MODE_DEFERRED])
		return -EOPNOTSUPP;
	return iovx_inval_get_stats(dom->mode_priv, st);
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * selftest_kapi.c - what iovx.ko adds for drivers (include/iovx/kernel.h), tested inside the
 * module:
 *   kapi-pin         every domain, context and pool holds a module reference while it
 *                    lives (rmmod gets -EBUSY), none is left after destroy
 *   kapi-config      iovx_kernel_dma_config_init gives the module parameters' values
 *   kapi-debugfs     a domain's directory: made, refused twice or with a bad name, removed
 *   kapi-phys        iovx_virt_to_phys of kmalloc'd and vmalloc'd memory names the pages
 *                    the CPU writes (read back through the direct map, page by page)
 *   kapi-bounce-phys a bounce-mode domain over a recording IOMMU (an xarray of IOVA page ->
 *                    physical page) with a pool too big for kmalloc (vmalloc'd, mapped in
 *                    runs), 112 maps live at once (every slot of the largest class, at
 *                    the pool's end, and 40 in three small classes): the translation of
 *                    the bytes checked holds the caller's byte after map, bytes the
 *                    "device" writes there reach the caller at unmap, and no translation
 *                    leads into the caller's pages
 */
#include <linux/kernel.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>

#include "platform.h"
#include "kglue.h"

#if defined(IOVX_KMOD_HAVE_DMA) && defined(IOVX_KMOD_HAVE_IOVA) && \
	defined(IOVX_KMOD_HAVE_INVAL) && defined(IOVX_KMOD_HAVE_REUSE)
#include <iovx/bounce.h>
#include <iovx/dma.h>
#include <iovx/inval.h>
#include <iovx/iova.h>
#include <iovx/kernel.h>

/* ------------------------------------------------------------ a recording IOMMU */

struct rec_iommu {
	struct iovx_iommu iommu;
	struct xarray pt;	/* IOVA pfn -> xa_mk_value(physical pfn | prot << 52) */
	unsigned long maps;	/* map calls */
};

static int rec_map(struct iovx_iommu *iommu, u64 iova, u64 paddr, u64 size, unsigned int prot,
		   unsigned int gfp)
{
	struct rec_iommu *r = container_of(iommu, struct rec_iommu, iommu);
	u64 off;
	int ret;

	if (!size || ((iova | paddr | size) & (PAGE_SIZE - 1)) || !prot ||
	    (prot & ~IOVX_IOMMU_PROT_MASK))
		return -EINVAL;
	r->maps++;
	for (off = 0; off < size; off += PAGE_SIZE) {
		ret = xa_insert(&r->pt, (iova + off) >> PAGE_SHIFT,
				xa_mk_value(((paddr + off) >> PAGE_SHIFT) | ((u64)prot << 52)),
				(__force gfp_t)gfp);
		if (ret) {
			while (off) {
				off -= PAGE_SIZE;
				xa_erase(&r->pt, (iova + off) >> PAGE_SHIFT);
			}
			return ret == -EBUSY ? -EEXIST : ret;
		}
	}
	return 0;
}

static u64 rec_unmap(struct iovx_iommu *iommu, u64 iova, u64 size,
		     struct iovx_iommu_freelist *freed)
{
	struct rec_iommu *r = container_of(iommu, struct rec_iommu, iommu);
	u64 off, n = 0;

	for (off = 0; off < size; off += PAGE_SIZE)
		if (xa_erase(&r->pt, (iova + off) >> PAGE_SHIFT))
			n += PAGE_SIZE;
	return n;
}

static int rec_inv_range(struct iovx_iommu *iommu, u64 iova, u64 size)
{
	return size ? 0 : -EINVAL;
}

static int rec_nop(struct iovx_iommu *iommu)
{
	return 0;
}

static void rec_free_pages(struct iovx_iommu *iommu, struct iovx_iommu_freelist *pages)
{
	iovx_iommu_freelist_init(pages);
}

static const struct iovx_iommu_ops rec_ops = {
	.map = rec_map, .unmap = rec_unmap, .inv_range = rec_inv_range, .inv_all = rec_nop,
	.sync = rec_nop, .free_pages = rec_free_pages,
};

static void rec_init(struct rec_iommu *r)
{
	r->iommu.ops = &rec_ops;
	r->iommu.granule_shift = PAGE_SHIFT;
	r->iommu.ias_bits = 32;
	r->iommu.oas_bits = 46;
	r->maps = 0;
	xa_init(&r->pt);
}

/* The physical address a mapped IOVA translates to, or ~0 when unmapped. */
static u64 rec_translate(struct rec_iommu *r, u64 iova)
{
	void *e = xa_load(&r->pt, iova >> PAGE_SHIFT);

	if (!e)
		return ~0ull;
	return ((xa_to_value(e) & ((1ull << 52) - 1)) << PAGE_SHIFT) | (iova & (PAGE_SIZE - 1));
}

/* ------------------------------------------------------------ cases */

static int st_kapi_pin(struct iovx_st *st)
{
	struct iovx_dma_domain *dom = NULL;
	struct iovx_iova_domain *iovad = NULL;
	struct iovx_iova_config ic;
	struct iovx_dma_config cfg;
	struct rec_iommu rec;
	int r0 = module_refcount(THIS_MODULE);

	rec_init(&rec);
	iovx_iova_config_init(&ic, 1, 1ull << 20);
	IOVX_ST_CHECK(st, iovx_iova_domain_create(&ic, &iovad) == 0);
	IOVX_ST_CHECK(st, module_refcount(THIS_MODULE) == r0 + 1);
	iovx_dma_config_init(&cfg, &rec.iommu, IOVX_DMA_MODE_DEFERRED);
	IOVX_ST_CHECK(st, iovx_dma_domain_create(&cfg, &dom) == 0);
	/* the DMA domain, its IOVA domain and its invalidation context */
	IOVX_ST_CHECK(st, module_refcount(THIS_MODULE) == r0 + 4);
	IOVX_ST_CHECK(st, iovx_dma_domain_destroy(dom) == 0);
	IOVX_ST_CHECK(st, module_refcount(THIS_MODULE) == r0 + 1);
	iovx_iova_domain_destroy(iovad);
	IOVX_ST_CHECK(st, module_refcount(THIS_MODULE) == r0);
	/* a failed create takes nothing */
	cfg.map_table_order = 3;
	IOVX_ST_CHECK(st, iovx_dma_domain_create(&cfg, &dom) == -EINVAL);
	IOVX_ST_CHECK(st, module_refcount(THIS_MODULE) == r0);
	xa_destroy(&rec.pt);
	return 0;
}

static int st_kapi_config(struct iovx_st *st)
{
	struct iovx_dma_config cfg;
	struct iovx_inval_config icfg;
	struct rec_iommu rec;
	const char *mode;

	rec_init(&rec);
	iovx_kernel_dma_config_init(&cfg, &icfg, &rec.iommu);
	IOVX_ST_CHECK(st, cfg.iommu == &rec.iommu && cfg.inval == &icfg);
	IOVX_ST_CHECK(st, cfg.reuse_table_order >= 2 && cfg.reuse_table_order <= 20);
	IOVX_ST_CHECK(st, icfg.max_age_ns >= IOVX_INVAL_MIN_MAX_AGE_NS &&
			  icfg.max_age_ns <= IOVX_INVAL_MAX_MAX_AGE_NS);
	IOVX_ST_CHECK(st, cfg.bounce_crossover <= IOVX_KPARAM_MAX_CROSSOVER);
	mode = cfg.mode == IOVX_DMA_MODE_STRICT ? "strict" :
	       cfg.mode == IOVX_DMA_MODE_REUSE ? "reuse" :
	       cfg.mode == IOVX_DMA_MODE_BOUNCE ? "bounce" :
	       cfg.mode == IOVX_DMA_MODE_PASSTHROUGH ? "passthrough" :
	       cfg.flags & IOVX_DMA_F_REVIVE ? "revive" : "deferred";
	iovx_st_info("kapi-config mode=%s bound_us=%llu reuse_order=%u crossover=%llu", mode,
		     icfg.max_age_ns / 1000, cfg.reuse_table_order, cfg.bounce_crossover);
	iovx_kernel_dma_config_init(NULL, &icfg, NULL);	/* ignored */
	return 0;
}

static int st_kapi_debugfs(struct iovx_st *st)
{
	struct iovx_dma_domain *dom = NULL;
	struct iovx_debugfs *d = NULL, *d2 = NULL;
	struct iovx_dma_config cfg;
	struct rec_iommu rec;
	int ret;

	rec_init(&rec);
	iovx_dma_config_init(&cfg, &rec.iommu, IOVX_DMA_MODE_STRICT);
	IOVX_ST_CHECK(st, iovx_dma_domain_create(&cfg, &dom) == 0);
	ret = iovx_debugfs_add(dom, "selftest", &d);
	if (ret == -ENODEV) {
		iovx_dma_domain_destroy(dom);
		st->skipped = 1;
		snprintf(st->reason, sizeof(st->reason), "no debugfs");
		return 0;
	}
	IOVX_ST_CHECK(st, ret == 0 && d);
	IOVX_ST_CHECK(st, iovx_debugfs_add(dom, "selftest", &d2) == -EEXIST && !d2);
	IOVX_ST_CHECK(st, iovx_debugfs_add(dom, "a/b", &d2) == -EINVAL);
	IOVX_ST_CHECK(st, iovx_debugfs_add(dom, "", &d2) == -EINVAL);
	IOVX_ST_CHECK(st, iovx_debugfs_add(NULL, "x", &d2) == -EINVAL);
	iovx_debugfs_remove(d);
	IOVX_ST_CHECK(st, iovx_debugfs_add(dom, "selftest", &d) == 0);	/* name free again */
	iovx_debugfs_remove(d);
	iovx_debugfs_remove(NULL);
	IOVX_ST_CHECK(st, iovx_dma_domain_destroy(dom) == 0);
	xa_destroy(&rec.pt);
	return 0;
}

/* Writes a pattern through p and reads every byte back through phys_to_virt(phys(p)). */
static int st_phys_roundtrip(struct iovx_st *st, u8 *p, size_t len, u8 salt)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (u8)(i * 7 + salt + (i >> PAGE_SHIFT));
	for (i = 0; i < len; i += 61) {
		u8 *q = phys_to_virt(iovx_virt_to_phys(p + i));

		if (*q != p[i])
			return IOVX_ST_FAIL(st, "byte %zu: %u through phys, %u through virt", i,
					    *q, p[i]);
	}
	return 0;
}

static int st_kapi_phys(struct iovx_st *st)
{
	size_t len = 8 * PAGE_SIZE;
	u8 *k = kmalloc(len, GFP_KERNEL), *v = vmalloc(len);
	int ret = -ENOMEM;

	if (k && v) {
		ret = st_phys_roundtrip(st, k, len, 3);
		if (!ret)
			ret = st_phys_roundtrip(st, v, len, 11);
	}
	kfree(k);
	vfree(v);
	return ret;
}

#define ST_BP_SMALL	40		/* 64 .. 1499 bytes, bidirectional */
#define ST_BP_BIG_N	72		/* every 64 KiB slot: 20000 bytes, to the device */
#define ST_BP_MAPS	(ST_BP_SMALL + ST_BP_BIG_N)
#define ST_BP_STRIDE	1500
#define ST_BP_BIG	20000

/*
 * Map k of the caller's buffer: [st_bp_off(k), + st_bp_len(k)). The small ones each have
 * their own bytes; the big ones all map one region (to the device only), to fill every
 * slot of the largest class, which spans the end of the pool.
 */
static size_t st_bp_len(unsigned int k)
{
	return k < ST_BP_SMALL ? 64 + (k * 151u) % (ST_BP_STRIDE - 64) : ST_BP_BIG;
}

static size_t st_bp_off(unsigned int k)
{
	return k < ST_BP_SMALL ? k * ST_BP_STRIDE : ST_BP_SMALL * ST_BP_STRIDE;
}

static enum iovx_dma_dir st_bp_dir(unsigned int k)
{
	return k < ST_BP_SMALL ? IOVX_DMA_BIDIRECTIONAL : IOVX_DMA_TO_DEVICE;
}

static int st_kapi_bounce_phys(struct iovx_st *st)
{
	struct iovx_dma_domain *dom = NULL;
	struct iovx_dma_config cfg;
	struct rec_iommu rec;
	unsigned long idx;
	void *e;
	size_t buf_len = ST_BP_SMALL * ST_BP_STRIDE + ST_BP_BIG, i, len;
	struct iovx_bounce_config bc;
	struct iovx_dma_stats ds;
	u8 *buf = kmalloc(buf_len, GFP_KERNEL), *slot;
	u64 dma[ST_BP_MAPS], tr, pfn, first_pfn, last_pfn;
	unsigned int k, mapped = 0;
	int ret;

	if (!buf)
		return IOVX_ST_FAIL(st, "no memory");
	rec_init(&rec);
	iovx_dma_config_init(&cfg, &rec.iommu, IOVX_DMA_MODE_BOUNCE);
	/*
	 * A pool above KMALLOC_MAX_SIZE: kvzalloc takes it from vmalloc, page by page, so it
	 * is mapped in many runs and every slot's pages must still be the right ones.
	 */
	iovx_bounce_config_init(&bc);
	bc.nr_cpus = 1;
	bc.slots_per_cpu[bc.nr_classes - 1] = 72;	/* 64 KiB x 72: 4.5 MiB */
	cfg.bounce = &bc;
	cfg.bounce_crossover = 65536;
	ret = iovx_dma_domain_create(&cfg, &dom);
	if (ret) {
		kfree(buf);
		return IOVX_ST_FAIL(st, "create: %d", ret);
	}
	iovx_dma_get_stats(dom, &ds);
	if (ds.bounce_pool_bytes <= KMALLOC_MAX_SIZE) {
		ret = IOVX_ST_FAIL(st, "pool of %llu bytes: kmalloc may serve it",
				   ds.bounce_pool_bytes);
		goto out;
	}
	/* How many physically contiguous runs vmalloc gave the pool (one map call each). */
	iovx_st_info("kapi-bounce-phys info pool_bytes=%llu pool_runs=%lu", ds.bounce_pool_bytes,
		     rec.maps);
	for (i = 0; i < buf_len; i++)
		buf[i] = (u8)(i ^ (i >> 8) ^ 0x5a);
	first_pfn = virt_to_phys(buf) >> PAGE_SHIFT;
	last_pfn = virt_to_phys(buf + buf_len - 1) >> PAGE_SHIFT;
	/* All live at once, each in its own slot: the pool's first and last pages are in use. */
	for (k = 0; k < ST_BP_MAPS; k++, mapped++) {
		ret = iovx_dma_map_single(dom, virt_to_phys(buf + st_bp_off(k)), st_bp_len(k),
					  st_bp_dir(k), 0, &dma[k]);
		if (ret) {
			ret = IOVX_ST_FAIL(st, "map %u: %d", k, ret);
			goto out;
		}
	}
	/*
	 * The "device": reads the caller's bytes at each slot's translation (every byte of the
	 * small maps, every 61st and the last of the big ones), writes others (small maps).
	 */
	for (k = 0; k < ST_BP_MAPS; k++) {
		len = st_bp_len(k);
		for (i = 0; i < len; i = k < ST_BP_SMALL || i + 61 >= len ? i + 1 : i + 61) {
			tr = rec_translate(&rec, dma[k] + i);
			if (tr == ~0ull) {
				ret = IOVX_ST_FAIL(st, "map %u byte %zu: IOVA %llx unmapped", k, i,
						   dma[k] + i);
				goto out;
			}
			slot = phys_to_virt(tr);
			if (*slot != buf[st_bp_off(k) + i]) {
				ret = IOVX_ST_FAIL(st, "map %u byte %zu: the slot's page %llx does not hold the caller's byte",
						   k, i, tr >> PAGE_SHIFT);
				goto out;
			}
			if (k < ST_BP_SMALL)
				*slot = (u8)(k + i * 3);
		}
	}
	/* The device reaches pool pages only: no translation leads into the caller's buffer. */
	xa_for_each(&rec.pt, idx, e) {
		pfn = xa_to_value(e) & ((1ull << 52) - 1);
		if (pfn >= first_pfn && pfn <= last_pfn) {
			ret = IOVX_ST_FAIL(st, "caller page %llx mapped at IOVA page %lx", pfn, idx);
			goto out;
		}
	}
	for (; mapped; mapped--) {
		k = mapped - 1;
		ret = iovx_dma_unmap_single(dom, dma[k], st_bp_len(k), st_bp_dir(k), 0);
		if (ret) {
			ret = IOVX_ST_FAIL(st, "unmap %u: %d", k, ret);
			goto out;
		}
	}
	for (k = 0; k < ST_BP_SMALL; k++)
		for (i = 0; i < st_bp_len(k); i++)
			if (buf[st_bp_off(k) + i] != (u8)(k + i * 3)) {
				ret = IOVX_ST_FAIL(st, "map %u byte %zu: the device's write did not reach the caller",
						   k, i);
				goto out;
			}
	ret = 0;
out:
	while (mapped--)
		iovx_dma_unmap_single(dom, dma[mapped], st_bp_len(mapped), st_bp_dir(mapped), 0);
	iovx_dma_domain_destroy(dom);
	if (!ret && !xa_empty(&rec.pt))
		ret = IOVX_ST_FAIL(st, "pool still mapped after destroy");
	xa_destroy(&rec.pt);
	kfree(buf);
	return ret;
}

const struct iovx_st_case iovx_st_kapi_cases[] = {
	{ "kapi-pin", st_kapi_pin },
	{ "kapi-config", st_kapi_config },
	{ "kapi-debugfs", st_kapi_debugfs },
	{ "kapi-phys", st_kapi_phys },
	{ "kapi-bounce-phys", st_kapi_bounce_phys },
	{ NULL, NULL }
};

#else /* a part is missing */

static int st_kapi_skip(struct iovx_st *st)
{
	st->skipped = 1;
	snprintf(st->reason, sizeof(st->reason), "dma, iova, inval or reuse not built in");
	return 0;
}

const struct iovx_st_case iovx_st_kapi_cases[] = {
	{ "kapi", st_kapi_skip },
	{ NULL, NULL }
};
#endif

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * test_reuse.c - the reuse-tagged mapping table (include/iovx/reuse.h, docs/reuse.md) through
 * the DMA facade on the software IOMMU:
 *   - the mark calls: every documented errno with nothing changed, flags on success;
 *   - hits: a tagged buffer mapped again gets the same DMA address with no IOVA allocation,
 *     no IOMMU map and no invalidation (counted by the simulator and the IOVA audit); unmap
 *     drops one reference and keeps the translation;
 *   - keys: another direction, other attrs, another kind or a partial overlap is a separate
 *     entry with its own IOVA, never a wrong one;
 *   - stop (dma, sg-mark and buffer level): when it returns, the device reaches no byte of
 *     the buffer through the old address, even with the IOTLB primed (I3), the invalidation
 *     was issued and synced, the IOVA went back; it waits for references to drain;
 *   - eviction: idle entries only, least recently used first, a real unmap + invalidation;
 *     table pressure (order 2) and IOVA pressure (a 3-page DMA mask);
 *   - untagged buffers in reuse mode behave as the base mode (strict or deferred);
 *   - the table's hint in sg[0].flags: forged, stale or garbage, never another IOVA;
 *   - a hit honours the DMA mask of the map; deferred base: I3 also for what a stop no
 *     longer finds in the table (an evicted entry, an untagged fallback of a tagged map);
 *   - IOVX_DMA_F_REVIVE: revival within the window, teardown after it (I4);
 *   - fail-Nth over create, miss, hit, sg miss, unmaps and stop;
 *   - syncs, unmap errors, statistics sanity, destroy with live and idle entries.
 * The I2 checker must stay clean in every test (teardown).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <iovx/dma.h>
#include <iovx/iova.h>
#include <iovx/reuse.h>
#include <iovx/sim.h>

/*
 * Test-only: the domain's IOVA allocator, for iovx_iova_audit (the facade exposes no
 * accessor). The only use of the facade's internals in this file.
 */
#include "dma/dma_internal.h"
#include "test_hooks.h"

#define PG	4096ull
#define NPAGES	64u
#define BUFMAX	(4 * PG)		/* longest range a reach check covers */

struct fx {
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
	uint8_t *mem;			/* NPAGES pages */
	int expect_destroy;		/* what destroy returns in teardown (live mappings) */
};

static struct iovx_iova_domain *dom_iovad(struct iovx_dma_domain *d)
{
	return d->iovad;
}

/* A fixture without a domain: the simulator and the zeroed pages. */
static void fx_sim(struct fx *f)
{
	struct iovx_sim_config sc;

	memset(f, 0, sizeof(*f));
	iovx_sim_config_init(&sc);
	sc.eager_table_free = true;	/* table pages take the I2 path on every unmap */
	assert_int_equal(iovx_sim_create(&sc, &f->sim), 0);
	f->mem = aligned_alloc(PG, NPAGES * PG);
	assert_non_null(f->mem);
	memset(f->mem, 0, NPAGES * PG);
}

static void fx_open(struct fx *f, enum iovx_dma_mode mode, enum iovx_dma_mode base,
		    unsigned int order, uint64_t mask)
{
	struct iovx_dma_config dc;
	struct iovx_inval_config ic;

	fx_sim(f);
	/* Deferred base: a 10 s bound, so that no timer flush hides what a call left queued. */
	iovx_inval_config_init(&ic);
	ic.max_age_ns = 10000000000ull;
	iovx_dma_config_init(&dc, iovx_sim_iommu(f->sim), mode);
	dc.fallback = base;
	dc.reuse_table_order = order;
	dc.dma_mask = mask;
	if (base == IOVX_DMA_MODE_DEFERRED)
		dc.inval = &ic;
	assert_int_equal(iovx_dma_domain_create(&dc, &f->dom), 0);
}

static int setup_with(void **state, enum iovx_dma_mode mode, enum iovx_dma_mode base,
		      unsigned int order, uint64_t mask)
{
	struct fx *f = calloc(1, sizeof(*f));

	fx_open(f, mode, base, order, mask);
	*state = f;
	return 0;
}

static int setup_reuse(void **state)
{
	return setup_with(state, IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_STRICT, 0, 0);
}

static int setup_reuse_deferred(void **state)
{
	return setup_with(state, IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_DEFERRED, 0, 0);
}

static int setup_reuse_small(void **state)
{
	return setup_with(state, IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_STRICT, 2, 0);
}

/* IOVA space below the mask: pfns 1, 2, 3 (pfn 0 is never handed out). */
static int setup_reuse_tiny_mask(void **state)
{
	return setup_with(state, IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_STRICT, 0, 4 * PG - 1);
}

static int setup_strict(void **state)
{
	return setup_with(state, IOVX_DMA_MODE_STRICT, IOVX_DMA_MODE_STRICT, 0, 0);
}

/* Frees everything first, then checks (a failed check leaks nothing). */
static void fx_close(struct fx *f)
{
	struct iovx_sim_stats st;
	int live = iovx_dma_domain_destroy(f->dom), r = iovx_sim_get_stats(f->sim, &st);

	iovx_sim_destroy(f->sim);
	free(f->mem);
	assert_int_equal(live, f->expect_destroy);
	assert_int_equal(r, 0);
	assert_int_equal(st.i2_map_violations, 0);
	assert_int_equal(st.i2_table_violations, 0);
	assert_int_equal(st.tables_live, 1);
}

static int teardown(void **state)
{
	struct fx f = *(struct fx *)*state;

	free(*state);
	fx_close(&f);
	return 0;
}

/* ---------------------------------------------------------------- helpers */

static uint64_t pa(struct fx *f, unsigned int page, unsigned int off)
{
	return (uintptr_t)f->mem + page * PG + off;
}

static void sst(struct fx *f, struct iovx_sim_stats *st)
{
	assert_int_equal(iovx_sim_get_stats(f->sim, st), 0);
}

static void rs_sane(const struct iovx_reuse_stats *st)
{
	assert_true(st->entries <= st->capacity + st->overflows);
	assert_true(st->active <= st->entries);
	assert_true(st->refs >= st->active);
	assert_true((st->active == 0) == (st->refs == 0));
}

/* A snapshot in static storage (small test frames, also under ASan). */
static const struct iovx_reuse_stats *rst_of(struct iovx_dma_domain *d)
{
	static struct iovx_reuse_stats st;

	memset(&st, 0xa5, sizeof(st));
	assert_int_equal(iovx_dma_get_reuse_stats(d, &st), 0);
	rs_sane(&st);
	return &st;
}

static const struct iovx_reuse_stats *rst(struct fx *f)
{
	return rst_of(f->dom);
}

/* Granules allocated to callers now, counted by the exact audit (quiescent). */
static uint64_t iova_live(struct fx *f)
{
	struct iovx_iova_stats st;

	assert_int_equal(iovx_iova_audit(dom_iovad(f->dom), &st), 0);
	return st.live;
}

static uint64_t dst_live(struct fx *f)
{
	struct iovx_dma_stats st;

	assert_int_equal(iovx_dma_get_stats(f->dom, &st), 0);
	return st.live;
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 8));
}

/*
 * The device reaches exactly cpu[0, len) through [dma, dma + len) with the permissions of
 * dir: reads see the CPU's bytes, writes land in the CPU's buffer (and nowhere else: the
 * byte after the buffer is kept when it is in the arena), the other access faults.
 */
static int check_line;	/* the caller's line, printed when a reach check fails */

static void sim_reaches(struct iovx_sim *sim, uint64_t dma, uint8_t *cpu, size_t len,
			enum iovx_dma_dir dir)
{
	static uint8_t in[BUFMAX], out[BUFMAX];
	static uint8_t seed = 1;

	assert_true(len <= BUFMAX);
	seed += 37;
	if (dir != IOVX_DMA_FROM_DEVICE) {
		fill(cpu, len, seed);
		assert_int_equal(iovx_sim_dev_read(sim, dma, out, len, NULL), 0);
		assert_memory_equal(out, cpu, len);
	} else {
		assert_int_equal(iovx_sim_dev_read(sim, dma, out, 1, NULL), -EFAULT);
	}
	if (dir != IOVX_DMA_TO_DEVICE) {
		fill(in, len, (uint8_t)(seed + 101));
		assert_int_equal(iovx_sim_dev_write(sim, dma, in, len, NULL), 0);
		assert_memory_equal(cpu, in, len);
	} else {
		uint8_t b = 0x5a, keep = cpu[0];

		assert_int_equal(iovx_sim_dev_write(sim, dma, &b, 1, NULL), -EFAULT);
		assert_int_equal(cpu[0], keep);
	}
}

static void reaches(struct fx *f, uint64_t dma, uint8_t *cpu, size_t len, enum iovx_dma_dir dir)
{
	sim_reaches(f->sim, dma, cpu, len, dir);
}
#define sim_reaches(...) (check_line = __LINE__, sim_reaches(__VA_ARGS__))
#define reaches(...) (check_line = __LINE__, reaches(__VA_ARGS__))

/*
 * I3: nothing of [dma, dma + len) is reachable: every page faults for reads and writes (first
 * and last byte of each page), nothing is left in the IOTLB or the page tables, and the CPU
 * bytes did not change.
 */
static void sim_unreachable(struct iovx_sim *sim, uint64_t dma, uint8_t *cpu, size_t len)
{
	static uint8_t snap[BUFMAX];
	uint64_t p, end = dma + len;

	assert_true(len <= BUFMAX);
	memcpy(snap, cpu, len);
	for (p = dma & ~(PG - 1); p < end; p += PG) {
		uint64_t first = p < dma ? dma : p;
		uint64_t last = (p + PG < end ? p + PG : end) - 1;
		uint8_t b = 0xee;
		int rf = iovx_sim_dev_read(sim, first, &b, 1, NULL);
		int rl = iovx_sim_dev_read(sim, last, &b, 1, NULL);
		int wf = iovx_sim_dev_write(sim, first, &b, 1, NULL);
		int wl = iovx_sim_dev_write(sim, last, &b, 1, NULL);
		bool held = iovx_sim_iotlb_holds(sim, p);
		int pt = iovx_sim_iova_to_phys(sim, p, NULL, NULL);

		if (rf != -EFAULT || rl != -EFAULT || wf != -EFAULT || wl != -EFAULT || held ||
		    pt != -ENOENT)
			print_error("unreachable() at line %d: page %#llx: device read %d/%d, write "
				    "%d/%d (want -EFAULT), IOTLB %s, page table %s\n", check_line,
				    (unsigned long long)p, rf, rl, wf, wl, held ? "holds it" : "clean",
				    pt ? "clean" : "maps it");
		assert_int_equal(rf, -EFAULT);
		assert_int_equal(rl, -EFAULT);
		assert_int_equal(wf, -EFAULT);
		assert_int_equal(wl, -EFAULT);
		assert_false(held);
		assert_int_equal(pt, -ENOENT);
	}
	assert_memory_equal(snap, cpu, len);
}

static void unreachable(struct fx *f, uint64_t dma, uint8_t *cpu, size_t len)
{
	sim_unreachable(f->sim, dma, cpu, len);
}
#define sim_unreachable(...) (check_line = __LINE__, sim_unreachable(__VA_ARGS__))
#define unreachable(...) (check_line = __LINE__, unreachable(__VA_ARGS__))

/* Puts translations of every page of [dma, dma + len) in the IOTLB (a device read). */
static void prime(struct fx *f, uint64_t dma, size_t len)
{
	uint64_t p;
	uint8_t b;

	for (p = dma & ~(PG - 1); p < dma + len; p += PG)
		iovx_sim_dev_read(f->sim, p < dma ? dma : p, &b, 1, NULL);
}

/* The public part of an sg entry's flags (bits 8..31 of sg[0] are the table's hint). */
static uint32_t pub(uint32_t flags)
{
	return flags & ~IOVX_SG_REUSE_PRIVATE;
}

/* What map_sg returned: the same DMA segments and the same public flags. */
static void sg_same_dma(const struct iovx_dma_sg *a, const struct iovx_dma_sg *b, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		assert_int_equal(a[i].phys, b[i].phys);
		assert_int_equal(a[i].offset, b[i].offset);
		assert_int_equal(a[i].length, b[i].length);
		assert_int_equal(a[i].dma_address, b[i].dma_address);
		assert_int_equal(a[i].dma_length, b[i].dma_length);
		assert_int_equal(pub(a[i].flags), pub(b[i].flags));
	}
}

/* n full pages starting at page first (step pages apart), tagged when tag. */
static void sg_pages(struct fx *f, struct iovx_dma_sg *sg, int n, unsigned int first,
		     unsigned int step, bool tag)
{
	int i;

	memset(sg, 0, (size_t)n * sizeof(*sg));
	for (i = 0; i < n; i++) {
		sg[i].phys = pa(f, first + (unsigned int)i * step, 0);
		sg[i].length = PG;
	}
	if (tag)
		assert_int_equal(iovx_sg_mark_reusable(sg, n), 0);
}

/* A list of full pages, mapped as one DMA segment: entry k is at dma + k pages. */
static void sg_reaches(struct fx *f, const struct iovx_dma_sg *sg, int n, enum iovx_dma_dir dir)
{
	int i;

	assert_int_equal(sg[0].dma_length, (uint64_t)n * PG);
	for (i = 0; i < n; i++)
		reaches(f, sg[0].dma_address + (uint64_t)i * PG, (uint8_t *)(uintptr_t)sg[i].phys,
			PG, dir);
}

static void sg_unreachable(struct fx *f, const struct iovx_dma_sg *sg, int n)
{
	int i;

	for (i = 0; i < n; i++)
		unreachable(f, sg[0].dma_address + (uint64_t)i * PG,
			    (uint8_t *)(uintptr_t)sg[i].phys, PG);
}

static uint64_t map1(struct fx *f, unsigned int page, unsigned int off, size_t len,
		     enum iovx_dma_dir dir, unsigned int attrs)
{
	uint64_t dma = 0;

	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, page, off), len, dir, attrs, &dma), 0);
	return dma;
}

/* ---------------------------------------------------------------- create and config */

static void test_create_config(void **state)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_sim *sim;
	struct iovx_dma_domain *d = NULL;
	struct iovx_reuse_stats st;

	(void)state;
	iovx_sim_config_init(&sc);
	assert_int_equal(iovx_sim_create(&sc, &sim), 0);
	/* config_init leaves no field to chance: a poisoned config works after it. */
	memset(&dc, 0xff, sizeof(dc));
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_REUSE);
	assert_true(dc.reuse_table_order == 0 ||
		    dc.reuse_table_order == IOVX_REUSE_DEFAULT_TABLE_ORDER);
	assert_int_equal(dc.fallback, IOVX_DMA_MODE_STRICT);
	assert_int_equal(iovx_dma_domain_create(&dc, &d), 0);
	assert_int_equal(iovx_dma_get_reuse_stats(d, &st), 0);
	assert_int_equal(st.capacity, 1ull << IOVX_REUSE_DEFAULT_TABLE_ORDER);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.refs, 0);
	assert_int_equal(st.hits + st.misses + st.evictions + st.stops + st.untagged_fallbacks, 0);
	assert_int_equal(iovx_dma_domain_destroy(d), 0);

	/* The table order's bounds. */
	dc.reuse_table_order = IOVX_REUSE_MIN_TABLE_ORDER - 1;
	d = NULL;
	assert_int_equal(iovx_dma_domain_create(&dc, &d), -EINVAL);
	assert_null(d);
	dc.reuse_table_order = IOVX_REUSE_MAX_TABLE_ORDER + 1;
	assert_int_equal(iovx_dma_domain_create(&dc, &d), -EINVAL);
	dc.reuse_table_order = IOVX_REUSE_MIN_TABLE_ORDER;
	assert_int_equal(iovx_dma_domain_create(&dc, &d), 0);
	assert_int_equal(iovx_dma_get_reuse_stats(d, &st), 0);
	assert_int_equal(st.capacity, 1ull << IOVX_REUSE_MIN_TABLE_ORDER);
	assert_int_equal(iovx_dma_domain_destroy(d), 0);

	/* The base mode: strict or deferred only. */
	dc.reuse_table_order = 0;
	dc.fallback = IOVX_DMA_MODE_PASSTHROUGH;
	assert_int_equal(iovx_dma_domain_create(&dc, &d), -EINVAL);
	dc.fallback = IOVX_DMA_MODE_REUSE;
	assert_int_equal(iovx_dma_domain_create(&dc, &d), -EINVAL);
	dc.fallback = IOVX_DMA_MODE_BOUNCE;
	assert_int_equal(iovx_dma_domain_create(&dc, &d), -EINVAL);
	dc.fallback = IOVX_DMA_MODE_DEFERRED;
	assert_int_equal(iovx_dma_domain_create(&dc, &d), 0);
	assert_int_equal(iovx_dma_flush_deferred(d), 0);	/* the base's context */
	assert_int_equal(iovx_dma_domain_destroy(d), 0);
	/* Reuse needs an IOMMU. */
	iovx_dma_config_init(&dc, NULL, IOVX_DMA_MODE_REUSE);
	assert_int_equal(iovx_dma_domain_create(&dc, &d), -EINVAL);
	iovx_sim_destroy(sim);
}

/* Reuse calls on a domain of another mode, and NULL arguments. */
static void test_not_reuse_mode(void **state)
{
	struct fx *f = *state;
	struct iovx_reuse_stats st;

	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 0, 0), PG), -EOPNOTSUPP);
	assert_int_equal(iovx_dma_reuse_evict(f->dom, 0), -EOPNOTSUPP);
	assert_int_equal(iovx_dma_get_reuse_stats(f->dom, &st), -EOPNOTSUPP);
	assert_int_equal(iovx_dma_stop_reuse(NULL, pa(f, 0, 0), PG), -EINVAL);
	assert_int_equal(iovx_dma_reuse_evict(NULL, 0), -EINVAL);
	assert_int_equal(iovx_dma_get_reuse_stats(NULL, &st), -EINVAL);
}

/*
 * Pages 0 and 1 as a list (tagged or not), mapped BIDIRECTIONAL twice without ATTR_REUSE:
 * sg, then its copy sg2. Each map makes a mapping of its own; the device reaches the first.
 */
static void map_twice(struct fx *f, struct iovx_dma_sg sg[2], struct iovx_dma_sg sg2[2],
		      bool tagged)
{
	sg_pages(f, sg, 2, 0, 1, tagged);
	memcpy(sg2, sg, 2 * sizeof(*sg));
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg2, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_not_equal(sg[0].dma_address, sg2[0].dma_address);
	sg_reaches(f, sg, 2, IOVX_DMA_BIDIRECTIONAL);
}

/* A tagged list or ATTR_REUSE in a strict domain: the tag is ignored, strict as ever. */
static void test_tag_in_strict_domain(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[2], sg2[2];
	uint64_t d1, d2;

	map_twice(f, sg, sg2, true);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	sg_unreachable(f, sg, 2);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg2, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	d1 = map1(f, 4, 0, PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	d2 = map1(f, 4, 0, PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	assert_int_not_equal(d1, d2);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d1, PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d2, PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	unreachable(f, d1, f->mem + 4 * PG, PG);
	/* Nothing reuse-mapped anywhere: the sg-level stop tears nothing down. */
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 2), 0);
	assert_int_equal(pub(sg[0].flags), IOVX_SG_REUSE_STOPPED);
	assert_int_equal(iova_live(f), 0);
}

/* ---------------------------------------------------------------- marks */

static void test_mark_errors(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[4], copy[4];

	sg_pages(f, sg, 4, 0, 2, false);
	memcpy(copy, sg, sizeof(sg));
	assert_int_equal(iovx_sg_mark_reusable(NULL, 1), -EINVAL);
	assert_int_equal(iovx_sg_mark_reusable(sg, 0), -EINVAL);
	assert_int_equal(iovx_sg_mark_reusable(sg, -1), -EINVAL);
	assert_int_equal(iovx_sg_mark_reusable(sg, IOVX_DMA_MAX_SEGS + 1), -EINVAL);
	/* A zero-length entry after valid ones: nothing tagged, not even those before it. */
	sg[2].length = 0;
	assert_int_equal(iovx_sg_mark_reusable(sg, 4), -EINVAL);
	sg[2].length = PG;
	assert_memory_equal(sg, copy, sizeof(sg));
	sg[1].phys = UINT64_MAX - 100;
	sg[1].offset = 200;
	assert_int_equal(iovx_sg_mark_reusable(sg, 4), -EOVERFLOW);
	sg[1].offset = 0;
	sg[1].length = 200;
	assert_int_equal(iovx_sg_mark_reusable(sg, 4), -EOVERFLOW);
	sg[1].phys = copy[1].phys;
	sg[1].length = copy[1].length;
	assert_memory_equal(sg, copy, sizeof(sg));

	/* Stop errors on this untagged list; the flags stay as they were. */
	assert_int_equal(iovx_sg_mark_stop_reuse(NULL, 1), -EINVAL);
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 0), -EINVAL);
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, -3), -EINVAL);
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, IOVX_DMA_MAX_SEGS + 1), -EINVAL);
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 4), -EINVAL);	/* never marked */
	assert_memory_equal(sg, copy, sizeof(sg));

	/* Buffer and domain level. */
	assert_int_equal(iovx_buf_stop_reuse(pa(f, 0, 0), 0), -EINVAL);
	assert_int_equal(iovx_buf_stop_reuse(UINT64_MAX - 10, 100), -EOVERFLOW);
	assert_int_equal(iovx_buf_stop_reuse(pa(f, 0, 0), PG), 0);	/* nothing mapped */
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 0, 0), 0), -EINVAL);
	assert_int_equal(iovx_dma_stop_reuse(f->dom, UINT64_MAX - 10, 100), -EOVERFLOW);
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 0, 0), PG), 0);
	assert_int_equal(iovx_dma_reuse_evict(f->dom, 0), 0);
	{
		struct iovx_reuse_stats st;

		assert_int_equal(iovx_dma_get_reuse_stats(f->dom, NULL), -EINVAL);
		st = *rst(f);
		assert_int_equal(st.stops + st.evictions + st.entries, 0);
	}
}

static void test_mark_flags(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[4], copy[4];
	int i;

	sg_pages(f, sg, 4, 0, 2, false);
	sg[0].flags = 0xabcd00;		/* a stale table hint: the mark clears it */
	sg[2].flags = IOVX_SG_REUSE_STOPPED;
	sg[3].dma_address = 0x1234;
	sg[3].dma_length = 77;
	memcpy(copy, sg, sizeof(sg));
	/* Only the first three: the fourth is untouched, every other field too. */
	assert_int_equal(iovx_sg_mark_reusable(sg, 3), 0);
	assert_int_equal(sg[0].flags, IOVX_SG_REUSE);
	assert_int_equal(sg[1].flags, IOVX_SG_REUSE);
	assert_int_equal(sg[2].flags, IOVX_SG_REUSE);	/* STOPPED cleared by the mark */
	assert_int_equal(sg[3].flags, 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(sg[i].phys, copy[i].phys);
		assert_int_equal(sg[i].offset, copy[i].offset);
		assert_int_equal(sg[i].length, copy[i].length);
		assert_int_equal(sg[i].dma_address, copy[i].dma_address);
		assert_int_equal(sg[i].dma_length, copy[i].dma_length);
	}
	/* Marking twice is fine. */
	assert_int_equal(iovx_sg_mark_reusable(sg, 3), 0);
	assert_int_equal(sg[0].flags, IOVX_SG_REUSE);

	/* Marked, never mapped: stop tears nothing down and marks the list stopped. */
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 3), 0);
	assert_int_equal(pub(sg[0].flags), IOVX_SG_REUSE_STOPPED);
	assert_int_equal(pub(sg[1].flags), IOVX_SG_REUSE_STOPPED);
	assert_int_equal(pub(sg[2].flags), IOVX_SG_REUSE_STOPPED);
	assert_int_equal(sg[3].flags, 0);
	memcpy(copy, sg, sizeof(sg));
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 3), -EALREADY);
	assert_memory_equal(sg, copy, sizeof(sg));
	/* A re-mark clears STOPPED: the list can be stopped again. */
	assert_int_equal(iovx_sg_mark_reusable(sg, 3), 0);
	assert_int_equal(sg[0].flags, IOVX_SG_REUSE);
	assert_int_equal(sg[2].flags, IOVX_SG_REUSE);
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 3), 0);
}

/* ---------------------------------------------------------------- hits and references */

static void test_sg_hit(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[3], first[3];
	struct iovx_sim_stats a, b;
	struct iovx_reuse_stats r;
	uint64_t live;

	sg_pages(f, sg, 3, 2, 2, true);	/* pages 2, 4, 6: one IOVA range, one DMA segment */
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 3, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	memcpy(first, sg, sizeof(sg));
	r = *rst(f);
	assert_int_equal(r.misses, 1);
	assert_int_equal(r.hits, 0);
	assert_int_equal(r.entries, 1);
	assert_int_equal(r.active, 1);
	assert_int_equal(r.refs, 1);
	sg_reaches(f, sg, 3, IOVX_DMA_BIDIRECTIONAL);
	live = iova_live(f);
	assert_true(live >= 3);

	/* The second map: a lookup. Same addresses, no IOVA, no IOMMU work at all. */
	sst(f, &a);
	memset(sg, 0, sizeof(sg));
	sg_pages(f, sg, 3, 2, 2, true);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 3, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	sst(f, &b);
	sg_same_dma(sg, first, 3);
	assert_int_equal(b.maps, a.maps);
	assert_int_equal(b.map_errors, a.map_errors);
	assert_int_equal(b.pte_writes, a.pte_writes);
	assert_int_equal(b.walks, a.walks);
	assert_int_equal(b.tlbi_range + b.tlbi_all, a.tlbi_range + a.tlbi_all);
	assert_int_equal(b.syncs, a.syncs);
	assert_int_equal(iova_live(f), live);
	r = *rst(f);
	assert_int_equal(r.misses, 1);
	assert_int_equal(r.hits, 1);
	assert_int_equal(r.entries, 1);
	assert_int_equal(r.active, 1);
	assert_int_equal(r.refs, 2);
	sg_reaches(f, sg, 3, IOVX_DMA_BIDIRECTIONAL);

	/* Each unmap drops one reference: no unmap, no invalidation, the translation stays. */
	sst(f, &a);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 3, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	r = *rst(f);
	assert_int_equal(r.refs, 1);
	assert_int_equal(r.active, 1);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 3, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	sst(f, &b);
	assert_int_equal(b.unmaps, a.unmaps);
	assert_int_equal(b.tlbi_range + b.tlbi_all, a.tlbi_range + a.tlbi_all);
	assert_int_equal(b.syncs, a.syncs);
	r = *rst(f);
	assert_int_equal(r.refs, 0);
	assert_int_equal(r.active, 0);
	assert_int_equal(r.entries, 1);
	assert_int_equal(iova_live(f), live);
	sg_reaches(f, sg, 3, IOVX_DMA_BIDIRECTIONAL);	/* idle, still mapped */
	/* The reference count does not go below zero: an unmap of an idle entry is refused. */
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 3, IOVX_DMA_BIDIRECTIONAL, 0), -ENOENT);
	r = *rst(f);
	assert_int_equal(r.refs, 0);
	assert_int_equal(r.entries, 1);

	/* A third map after the references drained: still a hit on the idle entry. */
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 3, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	sg_same_dma(sg, first, 3);
	r = *rst(f);
	assert_int_equal(r.hits, 2);
	assert_int_equal(r.refs, 1);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 3, IOVX_DMA_BIDIRECTIONAL, 0), 0);
}

/* Several DMA segments (sub-page pieces): the hit rewrites every dma field identically. */
static void test_sg_hit_multiseg(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[3], first[3];
	int n, i;

	memset(sg, 0, sizeof(sg));
	sg[0].phys = pa(f, 8, 0);
	sg[0].offset = 100;
	sg[0].length = 50;
	sg[1].phys = pa(f, 9, 0);
	sg[1].offset = 7;
	sg[1].length = 300;
	sg[2].phys = pa(f, 12, 0);
	sg[2].length = 2 * PG;
	assert_int_equal(iovx_sg_mark_reusable(sg, 3), 0);
	n = iovx_dma_map_sg(f->dom, sg, 3, IOVX_DMA_FROM_DEVICE, 0);
	assert_true(n >= 2);
	memcpy(first, sg, sizeof(sg));
	for (i = 0; i < 3; i++) {
		sg[i].dma_address = 0xdead;
		sg[i].dma_length = 0xbeef;
	}
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 3, IOVX_DMA_FROM_DEVICE, 0), n);
	sg_same_dma(sg, first, 3);
	/* n == 3 here: each piece is its own DMA segment. */
	assert_int_equal(n, 3);
	reaches(f, sg[0].dma_address, f->mem + 8 * PG + 100, 50, IOVX_DMA_FROM_DEVICE);
	reaches(f, sg[1].dma_address, f->mem + 9 * PG + 7, 300, IOVX_DMA_FROM_DEVICE);
	reaches(f, sg[2].dma_address, f->mem + 12 * PG, 2 * PG, IOVX_DMA_FROM_DEVICE);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 3, IOVX_DMA_FROM_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 3, IOVX_DMA_FROM_DEVICE, 0), 0);
	assert_int_equal(rst(f)->refs, 0);
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 8, 0), 6 * PG), 1);
	unreachable(f, first[0].dma_address, f->mem + 8 * PG + 100, 50);
	unreachable(f, first[1].dma_address, f->mem + 9 * PG + 7, 300);
	unreachable(f, first[2].dma_address, f->mem + 12 * PG, 2 * PG);
	assert_int_equal(iova_live(f), 0);
}

static void test_single_hit(void **state)
{
	struct fx *f = *state;
	struct iovx_sim_stats a, b;
	struct iovx_reuse_stats r;
	uint64_t d1, d2, live;

	d1 = map1(f, 3, 100, 2 * PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	reaches(f, d1, f->mem + 3 * PG + 100, 2 * PG, IOVX_DMA_TO_DEVICE);
	live = iova_live(f);
	sst(f, &a);
	d2 = map1(f, 3, 100, 2 * PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	sst(f, &b);
	assert_int_equal(d2, d1);
	assert_int_equal(b.maps, a.maps);
	assert_int_equal(b.pte_writes, a.pte_writes);
	assert_int_equal(iova_live(f), live);
	r = *rst(f);
	assert_int_equal(r.misses, 1);
	assert_int_equal(r.hits, 1);
	assert_int_equal(r.refs, 2);
	assert_int_equal(r.entries, 1);
	/* SKIP_CPU_SYNC is not part of the key: a hit too. */
	assert_int_equal(map1(f, 3, 100, 2 * PG, IOVX_DMA_TO_DEVICE,
			      IOVX_DMA_ATTR_REUSE | IOVX_DMA_ATTR_SKIP_CPU_SYNC), d1);
	assert_int_equal(rst(f)->refs, 3);
	assert_int_equal(rst(f)->hits, 2);
	/* Syncs on the shared mapping. */
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, d1, 2 * PG, IOVX_DMA_TO_DEVICE), 0);
	assert_int_equal(iovx_dma_sync_single_for_device(f->dom, d1, PG, IOVX_DMA_TO_DEVICE), 0);
	sst(f, &a);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d1, 2 * PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d1, 2 * PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE | IOVX_DMA_ATTR_SKIP_CPU_SYNC),
			 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d1, 2 * PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	sst(f, &b);
	assert_int_equal(b.unmaps, a.unmaps);
	assert_int_equal(b.syncs, a.syncs);
	assert_int_equal(rst(f)->refs, 0);
	reaches(f, d1, f->mem + 3 * PG + 100, 2 * PG, IOVX_DMA_TO_DEVICE);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d1, 2 * PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE), -ENOENT);
	assert_int_equal(rst(f)->refs, 0);
}

/* Untagged buffers in a reuse domain: strict, exactly (one invalidation and sync per unmap). */
static void test_untagged_is_strict(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[2], sg2[2];
	struct iovx_sim_stats a, b;
	struct iovx_reuse_stats r;
	uint64_t d1, d2;

	map_twice(f, sg, sg2, false);
	sg_reaches(f, sg2, 2, IOVX_DMA_BIDIRECTIONAL);
	prime(f, sg[0].dma_address, 2 * PG);
	sst(f, &a);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	sst(f, &b);
	assert_int_equal(b.tlbi_range - a.tlbi_range, 1);
	assert_int_equal(b.syncs - a.syncs, 1);
	sg_unreachable(f, sg, 2);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), -ENOENT);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg2, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	sg_unreachable(f, sg2, 2);

	d1 = map1(f, 5, 10, 100, IOVX_DMA_FROM_DEVICE, 0);
	d2 = map1(f, 5, 10, 100, IOVX_DMA_FROM_DEVICE, 0);
	assert_int_not_equal(d1, d2);
	reaches(f, d1, f->mem + 5 * PG + 10, 100, IOVX_DMA_FROM_DEVICE);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d1, 100, IOVX_DMA_FROM_DEVICE, 0), 0);
	unreachable(f, d1, f->mem + 5 * PG + 10, 100);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d2, 100, IOVX_DMA_FROM_DEVICE, 0), 0);
	r = *rst(f);
	assert_int_equal(r.hits + r.misses + r.entries + r.untagged_fallbacks, 0);
	assert_int_equal(iova_live(f), 0);
	/* Stopping an untagged buffer's range: nothing to tear down. */
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 0, 0), 8 * PG), 0);
}

/* ---------------------------------------------------------------- keys */

static void test_direction_is_another_key(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg to[1], from[1];
	struct iovx_reuse_stats r;
	uint64_t d;

	sg_pages(f, to, 1, 7, 1, true);
	sg_pages(f, from, 1, 7, 1, true);
	assert_int_equal(iovx_dma_map_sg(f->dom, to, 1, IOVX_DMA_TO_DEVICE, 0), 1);
	assert_int_equal(iovx_dma_map_sg(f->dom, from, 1, IOVX_DMA_FROM_DEVICE, 0), 1);
	assert_int_not_equal(to[0].dma_address, from[0].dma_address);
	r = *rst(f);
	assert_int_equal(r.misses, 2);
	assert_int_equal(r.hits, 0);
	assert_int_equal(r.entries, 2);
	/* Each address has its own direction's permissions. */
	reaches(f, to[0].dma_address, f->mem + 7 * PG, PG, IOVX_DMA_TO_DEVICE);
	reaches(f, from[0].dma_address, f->mem + 7 * PG, PG, IOVX_DMA_FROM_DEVICE);
	/* The same buffer as a single map (another kind) and with other attrs: other keys. */
	d = map1(f, 7, 0, PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	assert_int_not_equal(d, to[0].dma_address);
	assert_int_equal(rst(f)->entries, 3);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	{
		struct iovx_dma_sg w[1];

		sg_pages(f, w, 1, 7, 1, true);
		assert_int_equal(iovx_dma_map_sg(f->dom, w, 1, IOVX_DMA_TO_DEVICE,
						 IOVX_DMA_ATTR_WEAK_ORDERING), 1);
		assert_int_not_equal(w[0].dma_address, to[0].dma_address);
		assert_int_equal(rst(f)->entries, 4);
		reaches(f, w[0].dma_address, f->mem + 7 * PG, PG, IOVX_DMA_TO_DEVICE);
		assert_int_equal(iovx_dma_unmap_sg(f->dom, w, 1, IOVX_DMA_TO_DEVICE,
						   IOVX_DMA_ATTR_WEAK_ORDERING), 0);
	}
	/* Unmap with the other direction than the map: refused, the references stay. */
	{
		int e = iovx_dma_unmap_sg(f->dom, to, 1, IOVX_DMA_BIDIRECTIONAL, 0);

		assert_true(e == -EINVAL || e == -ENOENT);
	}
	assert_int_equal(rst(f)->refs, 2);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, to, 1, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, from, 1, IOVX_DMA_FROM_DEVICE, 0), 0);
	prime(f, to[0].dma_address, PG);
	prime(f, d, PG);
	/* A stop tears down every direction, kind and attrs of the range. */
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 7, 0), PG), 4);
	unreachable(f, to[0].dma_address, f->mem + 7 * PG, PG);
	unreachable(f, from[0].dma_address, f->mem + 7 * PG, PG);
	unreachable(f, d, f->mem + 7 * PG, PG);
	r = *rst(f);
	assert_int_equal(r.entries, 0);
	assert_int_equal(r.stops, 4);
	assert_int_equal(iova_live(f), 0);
}

static void test_partial_overlap(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg big[1], small[1], split[2];
	struct iovx_reuse_stats r;

	memset(big, 0, sizeof(big));
	big[0].phys = pa(f, 10, 0);
	big[0].length = 2 * PG;			/* pages 10-11 as one entry */
	assert_int_equal(iovx_sg_mark_reusable(big, 1), 0);
	sg_pages(f, small, 1, 11, 1, true);	/* page 11 only */
	sg_pages(f, split, 2, 10, 1, true);	/* pages 10, 11 as two entries */
	assert_int_equal(iovx_dma_map_sg(f->dom, big, 1, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(iovx_dma_map_sg(f->dom, small, 1, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(iovx_dma_map_sg(f->dom, split, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	r = *rst(f);
	assert_int_equal(r.misses, 3);
	assert_int_equal(r.entries, 3);
	/* Three IOVA ranges; each reaches its own bytes. */
	assert_int_not_equal(small[0].dma_address, big[0].dma_address + PG);
	assert_int_not_equal(small[0].dma_address, big[0].dma_address);
	assert_int_not_equal(split[0].dma_address, big[0].dma_address);
	assert_int_equal(big[0].dma_length, 2 * PG);
	reaches(f, big[0].dma_address, f->mem + 10 * PG, 2 * PG, IOVX_DMA_BIDIRECTIONAL);
	reaches(f, small[0].dma_address, f->mem + 11 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	sg_reaches(f, split, 2, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, big, 1, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, small, 1, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, split, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	/* Hits are per key. */
	assert_int_equal(iovx_dma_map_sg(f->dom, small, 1, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(rst(f)->hits, 1);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, small, 1, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	/* A stop of a neighbour touches nothing; of the overlap, everything overlapping. */
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 12, 0), PG), 0);
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 9, 0), PG), 0);
	assert_int_equal(rst(f)->entries, 3);
	prime(f, big[0].dma_address, 2 * PG);
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 10, PG - 1), 1), 2);	/* big, split */
	unreachable(f, big[0].dma_address, f->mem + 10 * PG, 2 * PG);
	sg_unreachable(f, split, 2);
	reaches(f, small[0].dma_address, f->mem + 11 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 11, PG - 1), 1), 1);
	unreachable(f, small[0].dma_address, f->mem + 11 * PG, PG);
	assert_int_equal(rst(f)->entries, 0);
	assert_int_equal(iova_live(f), 0);
}

/* ---------------------------------------------------------------- stop */

/*
 * Pages first .. first + n - 1 as a tagged list, mapped (the device reaches them) and
 * unmapped: an idle entry whose translations the IOTLB holds. Returns its DMA address.
 */
static uint64_t map_idle(struct fx *f, struct iovx_dma_sg *sg, int n, unsigned int first,
			 enum iovx_dma_dir dir)
{
	sg_pages(f, sg, n, first, 1, true);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, n, dir, 0), 1);
	sg_reaches(f, sg, n, dir);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, n, dir, 0), 0);
	prime(f, sg[0].dma_address, (uint64_t)n * PG);
	return sg[0].dma_address;
}

static void test_stop_dma_i3(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[2];
	struct iovx_sim_stats a, b;
	struct iovx_reuse_stats r;
	uint64_t old;

	old = map_idle(f, sg, 2, 20, IOVX_DMA_BIDIRECTIONAL);
	assert_true(iovx_sim_iotlb_holds(f->sim, old));
	assert_true(iova_live(f) >= 2);
	sst(f, &a);
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 20, 0), 2 * PG), 1);
	sst(f, &b);
	/* A real unmap, an invalidation, a sync; then nothing of the buffer is reachable. */
	assert_true(b.unmaps > a.unmaps);
	assert_true(b.tlbi_range + b.tlbi_all > a.tlbi_range + a.tlbi_all);
	assert_true(b.syncs > a.syncs);
	sg_unreachable(f, sg, 2);
	assert_int_equal(iova_live(f), 0);
	r = *rst(f);
	assert_int_equal(r.stops, 1);
	assert_int_equal(r.entries, 0);
	assert_int_equal(r.refs, 0);
	/* The list was not stopped by the sg call: still tagged; a new map is a miss. */
	assert_int_equal(pub(sg[0].flags), IOVX_SG_REUSE);
	/* Its hint (if any) names a dead entry: checked, a miss, a fresh working mapping. */
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(rst(f)->misses, 2);
	sg_reaches(f, sg, 2, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	/* A second stop of the same range: nothing left to tear down. */
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 20, 0), 2 * PG), 1);
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 20, 0), 2 * PG), 0);
	assert_int_equal(iova_live(f), 0);
}

static void test_stop_sg_mark(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[3], copy[3];
	struct iovx_sim_stats a, b;

	(void)map_idle(f, sg, 3, 30, IOVX_DMA_TO_DEVICE);
	sst(f, &a);
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 3), 1);
	sst(f, &b);
	assert_true(b.tlbi_range + b.tlbi_all > a.tlbi_range + a.tlbi_all);
	assert_true(b.syncs > a.syncs);
	sg_unreachable(f, sg, 3);
	assert_int_equal(pub(sg[0].flags), IOVX_SG_REUSE_STOPPED);
	assert_int_equal(pub(sg[1].flags), IOVX_SG_REUSE_STOPPED);
	assert_int_equal(pub(sg[2].flags), IOVX_SG_REUSE_STOPPED);
	assert_int_equal(rst(f)->entries, 0);
	assert_int_equal(iova_live(f), 0);
	memcpy(copy, sg, sizeof(sg));
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 3), -EALREADY);
	assert_memory_equal(sg, copy, sizeof(sg));
	/* Stopped, not re-marked: the list is untagged now (strict: distinct IOVAs). */
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 3, IOVX_DMA_TO_DEVICE, 0), 1);
	memcpy(copy, sg, sizeof(sg));
	assert_int_equal(iovx_dma_map_sg(f->dom, copy, 3, IOVX_DMA_TO_DEVICE, 0), 1);
	assert_int_not_equal(copy[0].dma_address, sg[0].dma_address);
	assert_int_equal(rst(f)->entries, 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 3, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, copy, 3, IOVX_DMA_TO_DEVICE, 0), 0);
	sg_unreachable(f, sg, 3);
	/* Re-marked: through the table again, and stoppable again. */
	assert_int_equal(iovx_sg_mark_reusable(sg, 3), 0);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 3, IOVX_DMA_TO_DEVICE, 0), 1);
	assert_int_equal(rst(f)->entries, 1);
	sg_reaches(f, sg, 3, IOVX_DMA_TO_DEVICE);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 3, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 3), 1);
	sg_unreachable(f, sg, 3);
	assert_int_equal(iova_live(f), 0);
}

static void test_stop_buf(void **state)
{
	struct fx *f = *state;
	uint64_t d1, d2;

	d1 = map1(f, 40, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	d2 = map1(f, 41, 8, 100, IOVX_DMA_FROM_DEVICE, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d1, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d2, 100, IOVX_DMA_FROM_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	prime(f, d1, PG);
	/* A range covering both buffers (and a byte of the second only). */
	assert_int_equal(iovx_buf_stop_reuse(pa(f, 40, PG - 1), 10), 2);
	unreachable(f, d1, f->mem + 40 * PG, PG);
	unreachable(f, d2, f->mem + 41 * PG + 8, 100);
	assert_int_equal(rst(f)->entries, 0);
	assert_int_equal(iovx_buf_stop_reuse(pa(f, 40, 0), 2 * PG), 0);
	assert_int_equal(iova_live(f), 0);
}

/* Stop in every reuse domain of the process; other domains' entries of other buffers stay. */
static void test_stop_all_domains(void **state)
{
	struct fx *f = *state, g;
	struct iovx_dma_sg sg[1], sg2[1], other[1];
	uint64_t d, gphys;

	memset(&g, 0, sizeof(g));
	fx_open(&g, IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_DEFERRED, 0, 0);
	sg_pages(f, sg, 1, 50, 1, true);
	memcpy(sg2, sg, sizeof(sg));
	sg_pages(f, other, 1, 51, 1, true);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 1, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(iovx_dma_map_sg(g.dom, sg2, 1, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(iovx_dma_map_sg(g.dom, other, 1, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	reaches(f, sg[0].dma_address, f->mem + 50 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	sim_reaches(g.sim, sg2[0].dma_address, f->mem + 50 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 1, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(g.dom, sg2, 1, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(g.dom, other, 1, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 1), 2);
	unreachable(f, sg[0].dma_address, f->mem + 50 * PG, PG);
	sim_unreachable(g.sim, sg2[0].dma_address, f->mem + 50 * PG, PG);	/* deferred base */
	sim_reaches(g.sim, other[0].dma_address, f->mem + 51 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(rst_of(g.dom)->entries, 1);
	/* Buffer level, also in both. */
	d = map1(f, 52, 0, PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(iovx_buf_stop_reuse(pa(f, 51, 0), 2 * PG), 2);
	unreachable(f, d, f->mem + 52 * PG, PG);
	sim_unreachable(g.sim, other[0].dma_address, f->mem + 51 * PG, PG);
	assert_int_equal(rst_of(g.dom)->entries, 0);
	/* A destroyed domain is no longer stopped (no use after free: ASan). */
	gphys = pa(&g, 53, 0);
	d = map1(&g, 53, 0, PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(iovx_dma_unmap_single(g.dom, d, PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	fx_close(&g);	/* with an idle entry of gphys */
	assert_int_equal(iovx_buf_stop_reuse(gphys, PG), 0);
	assert_int_equal(iova_live(f), 0);
}

struct stopper {
	struct iovx_dma_domain *dom;
	uint64_t phys;
	size_t size;
	int rc;
	int done;
};

static void *stop_thread(void *p)
{
	struct stopper *s = p;

	s->rc = iovx_dma_stop_reuse(s->dom, s->phys, s->size);
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Stop waits for the references to drain; meanwhile the mapping works, and a map of the
 * buffer (a caller bug) gets a fresh mapping, never the dying one.
 */
static void test_stop_waits_for_refs(void **state)
{
	struct fx *f = *state;
	struct stopper s = { f->dom, pa(f, 60, 0), PG, 0, 0 };
	pthread_t t;
	uint64_t d1, d2;
	int i;

	d1 = map1(f, 60, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(pthread_create(&t, NULL, stop_thread, &s), 0);
	for (i = 0; i < 20; i++) {
		sleep_ms(10);
		assert_int_equal(__atomic_load_n(&s.done, __ATOMIC_ACQUIRE), 0);
	}
	reaches(f, d1, f->mem + 60 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	d2 = map1(f, 60, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	assert_int_not_equal(d2, d1);
	reaches(f, d2, f->mem + 60 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(__atomic_load_n(&s.done, __ATOMIC_ACQUIRE), 0);
	/*
	 * Both references go before the join: whether the stop also waits for the fresh
	 * mapping (made while it ran) is not part of the contract.
	 */
	assert_int_equal(iovx_dma_unmap_single(f->dom, d1, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d2, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(s.rc >= 1);
	unreachable(f, d1, f->mem + 60 * PG, PG);
	assert_true(iovx_dma_stop_reuse(f->dom, pa(f, 60, 0), PG) >= 0);
	unreachable(f, d2, f->mem + 60 * PG, PG);
	assert_int_equal(rst(f)->entries, 0);
	assert_int_equal(iova_live(f), 0);
}

/* ---------------------------------------------------------------- eviction */

static void test_evict_idle_only(void **state)
{
	struct fx *f = *state;
	struct iovx_sim_stats a, b;
	struct iovx_reuse_stats r;
	uint64_t da, db, dc, dd;

	da = map1(f, 0, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(iovx_dma_unmap_single(f->dom, da, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	db = map1(f, 1, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(iovx_dma_unmap_single(f->dom, db, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	dc = map1(f, 2, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dc, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	dd = map1(f, 3, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);	/* held */
	/* A used again: B is now the least recently used. */
	assert_int_equal(map1(f, 0, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE), da);
	assert_int_equal(iovx_dma_unmap_single(f->dom, da, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	prime(f, db, PG);
	prime(f, da, PG);
	prime(f, dc, PG);
	/* Evict all idle: A, B and C go, D (a reference) survives and still works. */
	sst(f, &a);
	assert_int_equal(iovx_dma_reuse_evict(f->dom, 0), 3);
	sst(f, &b);
	assert_true(b.tlbi_range + b.tlbi_all > a.tlbi_range + a.tlbi_all);
	assert_true(b.syncs > a.syncs);
	unreachable(f, da, f->mem, PG);
	unreachable(f, db, f->mem + 1 * PG, PG);
	unreachable(f, dc, f->mem + 2 * PG, PG);
	reaches(f, dd, f->mem + 3 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	r = *rst(f);
	assert_int_equal(r.evictions, 3);
	assert_int_equal(r.entries, 1);
	assert_int_equal(r.active, 1);
	assert_int_equal(r.refs, 1);
	reaches(f, dd, f->mem + 3 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(iovx_dma_reuse_evict(f->dom, 0), 0);
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, dd, PG, IOVX_DMA_BIDIRECTIONAL), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dd, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	prime(f, dd, PG);
	assert_int_equal(iovx_dma_reuse_evict(f->dom, 5), 1);
	unreachable(f, dd, f->mem + 3 * PG, PG);
	assert_int_equal(rst(f)->entries, 0);
	assert_int_equal(iova_live(f), 0);
	/* An evicted buffer maps again: a miss, a working mapping. */
	da = map1(f, 0, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	reaches(f, da, f->mem, PG, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(rst(f)->misses, 5);
	assert_int_equal(iovx_dma_unmap_single(f->dom, da, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
}

/*
 * iovx_dma_reuse_evict(dom, 1) takes the least recently used idle entry: with A, B, C used
 * in that order and then A again, B goes first, then C. Eight placements of the buffers (the
 * table's hashing must not decide the order).
 */
static void test_evict_lru_order(void **state)
{
	struct fx *f = *state;
	unsigned int t;

	for (t = 0; t < 8; t++) {
		unsigned int pg[3] = { 3 * t, 3 * t + 1, 3 * t + 2 };
		uint64_t d[3];
		unsigned int i;

		for (i = 0; i < 3; i++) {
			d[i] = map1(f, pg[i], 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
			assert_int_equal(iovx_dma_unmap_single(f->dom, d[i], PG,
							       IOVX_DMA_BIDIRECTIONAL,
							       IOVX_DMA_ATTR_REUSE), 0);
		}
		assert_int_equal(map1(f, pg[0], 0, PG, IOVX_DMA_BIDIRECTIONAL,
				      IOVX_DMA_ATTR_REUSE), d[0]);
		assert_int_equal(iovx_dma_unmap_single(f->dom, d[0], PG, IOVX_DMA_BIDIRECTIONAL,
						       IOVX_DMA_ATTR_REUSE), 0);
		assert_int_equal(iovx_dma_reuse_evict(f->dom, 1), 1);
		if (!iovx_sim_iova_to_phys(f->sim, d[1], NULL, NULL))
			print_error("placement %u: evict(1) kept B (the least recently used); "
				    "A %s, C %s\n", t,
				    iovx_sim_iova_to_phys(f->sim, d[0], NULL, NULL) ? "evicted" :
				    "kept",
				    iovx_sim_iova_to_phys(f->sim, d[2], NULL, NULL) ? "evicted" :
				    "kept");
		assert_int_equal(iovx_sim_iova_to_phys(f->sim, d[1], NULL, NULL), -ENOENT);
		assert_int_equal(iovx_dma_reuse_evict(f->dom, 1), 1);
		assert_int_equal(iovx_sim_iova_to_phys(f->sim, d[2], NULL, NULL), -ENOENT);
		assert_int_equal(iovx_sim_iova_to_phys(f->sim, d[0], NULL, NULL), 0);
		assert_int_equal(iovx_dma_reuse_evict(f->dom, 0), 1);
		assert_int_equal(rst(f)->entries, 0);
	}
	assert_int_equal(iova_live(f), 0);
}

/* Order 2: four entries; ten buffers in turn, three rounds. */
static void test_table_pressure(void **state)
{
	struct fx *f = *state;
	struct iovx_reuse_stats r;
	unsigned int round, i, maps = 0;
	uint64_t last[10];

	assert_int_equal(rst(f)->capacity, 4);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 10; i++) {
			struct iovx_dma_sg sg[2];

			if (i & 1) {
				last[i] = map1(f, 4 * i, 0, 2 * PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE);
				reaches(f, last[i], f->mem + 4 * i * PG, 2 * PG,
					IOVX_DMA_BIDIRECTIONAL);
				assert_int_equal(iovx_dma_unmap_single(f->dom, last[i], 2 * PG,
								       IOVX_DMA_BIDIRECTIONAL,
								       IOVX_DMA_ATTR_REUSE), 0);
			} else {
				sg_pages(f, sg, 2, 4 * i, 1, true);
				assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2,
								 IOVX_DMA_BIDIRECTIONAL, 0), 1);
				sg_reaches(f, sg, 2, IOVX_DMA_BIDIRECTIONAL);
				last[i] = sg[0].dma_address;
				assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2,
								   IOVX_DMA_BIDIRECTIONAL, 0), 0);
			}
			maps++;
			r = *rst(f);
			assert_true(r.entries <= 4);
			assert_int_equal(r.refs, 0);
		}
	}
	r = *rst(f);
	assert_int_equal(r.hits + r.misses, maps);
	/* Cycling through ten keys with room for four: mostly misses, each past 4 evicting. */
	assert_true(r.misses >= 20);
	assert_int_equal(r.misses, r.evictions + r.entries);
	assert_int_equal(r.untagged_fallbacks, 0);
	/* At most four old addresses still translate, each to its own buffer. */
	{
		unsigned int reach = 0;

		for (i = 0; i < 10; i++) {
			uint64_t phys;
			unsigned int j;

			/* An evicted buffer's IOVA may be a later buffer's now. */
			for (j = i + 1; j < 10 && last[j] != last[i]; j++)
				;
			if (j < 10)
				continue;
			if (iovx_sim_iova_to_phys(f->sim, last[i], &phys, NULL) == 0) {
				assert_int_equal(phys, pa(f, 4 * i, 0));
				reach++;
			}
		}
		assert_true(reach <= 4);
		assert_int_equal(reach, r.entries);
	}
	assert_int_equal(iovx_buf_stop_reuse(pa(f, 0, 0), 40 * PG), (int)r.entries);
	for (i = 0; i < 10; i++)
		assert_int_equal(iovx_sim_iova_to_phys(f->sim, last[i], NULL, NULL), -ENOENT);
	assert_int_equal(iova_live(f), 0);
}

/* Order 2 with four references held: the fifth tagged map is mapped untagged. */
/*
 * A table full of referenced entries: a tagged map gets an overflow entry, which a stop
 * reaches (it waits for the holder's unmap, then tears it down) and which goes, strictly,
 * with its last unmap.
 */
static void test_table_full_of_active(void **state)
{
	struct fx *f = *state;
	struct stopper s = { f->dom, pa(f, 10, 0), PG, 0, 0 };
	struct iovx_dma_sg sg[1];
	struct iovx_reuse_stats r;
	uint64_t d[4];
	unsigned int i;
	pthread_t t;

	for (i = 0; i < 4; i++)
		d[i] = map1(f, i, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	sg_pages(f, sg, 1, 10, 1, true);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 1, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	r = *rst(f);
	assert_int_equal(r.overflows, 1);
	assert_int_equal(r.untagged_fallbacks, 0);
	assert_int_equal(r.entries, 5);
	assert_int_equal(r.active, 5);
	assert_int_equal(r.evictions, 0);
	assert_int_equal(dst_live(f), 0);		/* the table's, not the base mode's */
	reaches(f, sg[0].dma_address, f->mem + 10 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	for (i = 0; i < 4; i++)
		reaches(f, d[i], f->mem + i * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	/* A stop from another thread waits for the holder, then the device reaches nothing. */
	assert_int_equal(pthread_create(&t, NULL, stop_thread, &s), 0);
	for (i = 0; i < 10; i++) {
		sleep_ms(10);
		assert_int_equal(__atomic_load_n(&s.done, __ATOMIC_ACQUIRE), 0);
	}
	reaches(f, sg[0].dma_address, f->mem + 10 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	prime(f, sg[0].dma_address, PG);
	assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, sg, 1, IOVX_DMA_BIDIRECTIONAL), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 1, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.rc, 1);
	unreachable(f, sg[0].dma_address, f->mem + 10 * PG, PG);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 1, IOVX_DMA_BIDIRECTIONAL, 0), -ENOENT);
	assert_int_equal(rst(f)->entries, 4);
	/* With no stop, the last unmap of an overflow entry tears it down at once. */
	{
		uint64_t e = map1(f, 11, 0, PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);

		assert_int_equal(rst(f)->overflows, 2);
		reaches(f, e, f->mem + 11 * PG, PG, IOVX_DMA_TO_DEVICE);
		prime(f, e, PG);
		assert_int_equal(iovx_dma_unmap_single(f->dom, e, PG, IOVX_DMA_TO_DEVICE,
						       IOVX_DMA_ATTR_REUSE), 0);
		unreachable(f, e, f->mem + 11 * PG, PG);
		assert_int_equal(rst(f)->entries, 4);
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(iovx_dma_unmap_single(f->dom, d[i], PG, IOVX_DMA_BIDIRECTIONAL,
						       IOVX_DMA_ATTR_REUSE), 0);
	/* Idle now: a new tagged buffer evicts one and gets an entry. */
	sg_pages(f, sg, 1, 10, 1, true);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 1, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	r = *rst(f);
	assert_int_equal(r.overflows, 2);
	assert_int_equal(r.evictions, 1);
	assert_int_equal(r.entries, 4);
	assert_int_equal(r.active, 1);
	reaches(f, sg[0].dma_address, f->mem + 10 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 1, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_buf_stop_reuse(pa(f, 0, 0), NPAGES * PG), 4);
	assert_int_equal(iova_live(f), 0);
}

/* A DMA mask leaving three IOVA pages: idle entries give their IOVA to a new map. */
static void test_iova_pressure(void **state)
{
	struct fx *f = *state;
	struct iovx_reuse_stats r;
	uint64_t d[5], e;
	unsigned int i;

	for (i = 0; i < 3; i++) {
		d[i] = map1(f, i, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
		assert_true(d[i] < 4 * PG);
		assert_int_equal(iovx_dma_unmap_single(f->dom, d[i], PG, IOVX_DMA_BIDIRECTIONAL,
						       IOVX_DMA_ATTR_REUSE), 0);
	}
	assert_int_equal(rst(f)->entries, 3);
	/* A fourth tagged buffer: the IOVA allocation fails, the oldest idle entry goes. */
	prime(f, d[0], PG);
	d[3] = map1(f, 3, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	assert_true(d[3] < 4 * PG);
	r = *rst(f);
	assert_true(r.evictions >= 1);
	assert_int_equal(r.untagged_fallbacks, 0);
	reaches(f, d[3], f->mem + 3 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	/* The old translation of A is gone (its IOVA may be D's now). */
	{
		uint64_t phys;
		int e2 = iovx_sim_iova_to_phys(f->sim, d[0], &phys, NULL);

		assert_true(e2 == -ENOENT || phys != pa(f, 0, 0));
	}
	/* An untagged map under pressure evicts idle entries too. */
	e = map1(f, 20, 0, PG, IOVX_DMA_BIDIRECTIONAL, 0);
	reaches(f, e, f->mem + 20 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	d[4] = map1(f, 21, 0, PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	reaches(f, d[4], f->mem + 21 * PG, PG, IOVX_DMA_TO_DEVICE);
	reaches(f, d[3], f->mem + 3 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	r = *rst(f);
	assert_int_equal(r.active, 2);
	assert_true(r.entries <= 3);
	/* All three IOVA pages held by references: no room anywhere, nothing changes. */
	{
		uint64_t x = 0x77;

		assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 30, 0), PG,
						     IOVX_DMA_BIDIRECTIONAL,
						     IOVX_DMA_ATTR_REUSE, &x), -ENOMEM);
		assert_int_equal(x, 0x77);
		assert_int_equal(rst(f)->refs, 2);
	}
	assert_int_equal(iovx_dma_unmap_single(f->dom, e, PG, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d[3], PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d[4], PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_true(iovx_buf_stop_reuse(pa(f, 0, 0), NPAGES * PG) >= 2);
	assert_int_equal(rst(f)->entries, 0);
	assert_int_equal(iova_live(f), 0);
}

/* A hit must respect the mask of the map, not the one the entry was created under. */
static void test_mask_change_hit(void **state)
{
	struct fx *f = *state;
	uint64_t u[8], d1, d2, mask;
	unsigned int i;

	/* Something below A, so that A's IOVA is not the lowest one. */
	for (i = 0; i < 8; i++)
		u[i] = map1(f, 10 + i, 0, PG, IOVX_DMA_BIDIRECTIONAL, 0);
	d1 = map1(f, 5, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	for (i = 0; i < 8; i++)
		assert_int_equal(iovx_dma_unmap_single(f->dom, u[i], PG, IOVX_DMA_BIDIRECTIONAL,
						       0), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d1, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_true(d1 >= 2 * PG);
	/* A mask the idle entry's IOVA is above of (room for a page below it). */
	mask = (d1 & ~(PG - 1)) - 1;
	assert_int_equal(iovx_dma_set_mask(f->dom, mask), 0);
	d2 = map1(f, 5, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	if (d2 + PG - 1 > mask)
		print_error("map under mask %#llx returned %#llx (the idle entry's: %#llx)\n",
			    (unsigned long long)mask, (unsigned long long)d2,
			    (unsigned long long)d1);
	assert_true(d2 + PG - 1 <= mask);
	reaches(f, d2, f->mem + 5 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d2, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(iovx_dma_set_mask(f->dom, 0), 0);
	assert_true(iovx_buf_stop_reuse(pa(f, 5, 0), PG) >= 1);
	assert_int_equal(iova_live(f), 0);
}

/*
 * The table's hint in sg[0].flags is only a hint: copied onto another list, left stale by a
 * stop or an eviction, or garbage, it never yields another buffer's IOVA.
 */
static void test_hint_forgery(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg a[2], b[2], g[2];
	uint32_t hint;

	sg_pages(f, a, 2, 0, 1, true);
	assert_int_equal(iovx_dma_map_sg(f->dom, a, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	hint = a[0].flags & IOVX_SG_REUSE_PRIVATE;
	/* Another buffer carrying A's hint, mapped while A is held. */
	sg_pages(f, b, 2, 4, 1, true);
	b[0].flags |= hint;
	assert_int_equal(iovx_dma_map_sg(f->dom, b, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_not_equal(b[0].dma_address, a[0].dma_address);
	sg_reaches(f, b, 2, IOVX_DMA_BIDIRECTIONAL);
	sg_reaches(f, a, 2, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(rst(f)->entries, 2);
	/* Unmap of B with A's hint and A's DMA fields: not A's reference. */
	memcpy(g, b, sizeof(g));
	g[0].flags = pub(g[0].flags) | hint;
	g[0].dma_address = a[0].dma_address;
	g[0].dma_length = a[0].dma_length;
	assert_int_equal(iovx_dma_unmap_sg(f->dom, g, 2, IOVX_DMA_BIDIRECTIONAL, 0), -ENOENT);
	assert_int_equal(rst(f)->refs, 2);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, a, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, b, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(rst(f)->refs, 0);
	/* A stale hint after A's entry was evicted and its slot reused by C. */
	assert_int_equal(iovx_dma_stop_reuse(f->dom, pa(f, 0, 0), 2 * PG), 1);
	sg_pages(f, g, 2, 8, 1, true);
	assert_int_equal(iovx_dma_map_sg(f->dom, g, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(iovx_dma_map_sg(f->dom, a, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_not_equal(a[0].dma_address, g[0].dma_address);
	sg_reaches(f, a, 2, IOVX_DMA_BIDIRECTIONAL);
	sg_reaches(f, g, 2, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, a, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, g, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	/* Garbage hints. */
	b[0].flags = IOVX_SG_REUSE | IOVX_SG_REUSE_PRIVATE;
	assert_int_equal(iovx_dma_map_sg(f->dom, b, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	sg_reaches(f, b, 2, IOVX_DMA_BIDIRECTIONAL);
	b[0].flags = IOVX_SG_REUSE | 0x100;
	assert_int_equal(iovx_dma_unmap_sg(f->dom, b, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(rst(f)->refs, 0);
	assert_true(iovx_buf_stop_reuse(pa(f, 0, 0), 16 * PG) == 3);
	assert_int_equal(iova_live(f), 0);
}

/* ---------------------------------------------------------------- syncs and errors */

static void test_sync_and_unmap_errors(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[2], bad[2], never[2];
	struct iovx_reuse_stats r;
	uint64_t d;

	sg_pages(f, sg, 2, 14, 1, true);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL), 0);
	assert_int_equal(iovx_dma_sync_sg_for_device(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL), 0);
	/* A wrong DMA address: -ENOENT for sync and unmap, the references stay. */
	memcpy(bad, sg, sizeof(sg));
	bad[0].dma_address += 1ull << 32;
	assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, bad, 2, IOVX_DMA_BIDIRECTIONAL),
			 -ENOENT);
	assert_int_equal(iovx_dma_sync_sg_for_device(f->dom, bad, 2, IOVX_DMA_BIDIRECTIONAL),
			 -ENOENT);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, bad, 2, IOVX_DMA_BIDIRECTIONAL, 0), -ENOENT);
	/* Other nents than the map: another key or a mismatch, refused either way. */
	{
		int e = iovx_dma_unmap_sg(f->dom, sg, 1, IOVX_DMA_BIDIRECTIONAL, 0);

		assert_true(e == -EINVAL || e == -ENOENT);
	}
	r = *rst(f);
	assert_int_equal(r.refs, 2);
	/* A tagged list never mapped: -ENOENT, nothing changes. */
	sg_pages(f, never, 2, 16, 1, true);
	never[0].dma_address = sg[0].dma_address;
	never[0].dma_length = sg[0].dma_length;
	/* ... even with the DMA fields of a live reused mapping copied in. */
	assert_int_equal(iovx_dma_unmap_sg(f->dom, never, 2, IOVX_DMA_BIDIRECTIONAL, 0), -ENOENT);
	sg_pages(f, never, 2, 16, 1, true);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, never, 2, IOVX_DMA_BIDIRECTIONAL, 0), -ENOENT);
	r = *rst(f);
	assert_int_equal(r.refs, 2);
	assert_int_equal(r.entries, 1);
	sg_reaches(f, sg, 2, IOVX_DMA_BIDIRECTIONAL);

	/* Single maps. */
	d = map1(f, 18, 0, 300, IOVX_DMA_FROM_DEVICE, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(map1(f, 18, 0, 300, IOVX_DMA_FROM_DEVICE, IOVX_DMA_ATTR_REUSE), d);
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, d, 300, IOVX_DMA_FROM_DEVICE), 0);
	assert_int_equal(iovx_dma_sync_single_for_device(f->dom, d, 10, IOVX_DMA_FROM_DEVICE), 0);
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, d + (1ull << 32), 300,
						      IOVX_DMA_FROM_DEVICE), -ENOENT);
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, d, 301, IOVX_DMA_FROM_DEVICE),
			 -EINVAL);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d + (1ull << 32), 300,
					       IOVX_DMA_FROM_DEVICE, IOVX_DMA_ATTR_REUSE),
			 -ENOENT);
	{
		int e = iovx_dma_unmap_single(f->dom, d, 299, IOVX_DMA_FROM_DEVICE,
					      IOVX_DMA_ATTR_REUSE);

		assert_true(e == -EINVAL || e == -ENOENT);
	}
	assert_int_equal(rst(f)->refs, 4);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, 300, IOVX_DMA_FROM_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, 300, IOVX_DMA_FROM_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	/* Idle: no mapping of the caller's to sync. */
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, d, 300, IOVX_DMA_FROM_DEVICE),
			 -ENOENT);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL),
			 -ENOENT);
	assert_int_equal(rst(f)->refs, 0);
}

/* ---------------------------------------------------------------- deferred base */

static void test_deferred_base(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[2];
	struct iovx_sim_stats a, b;
	uint64_t u, d;

	/* Untagged: deferred (no sync at unmap). */
	u = map1(f, 0, 0, PG, IOVX_DMA_BIDIRECTIONAL, 0);
	reaches(f, u, f->mem, PG, IOVX_DMA_BIDIRECTIONAL);
	sst(f, &a);
	assert_int_equal(iovx_dma_unmap_single(f->dom, u, PG, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	sst(f, &b);
	assert_int_equal(b.syncs, a.syncs);
	assert_int_equal(iovx_dma_flush_deferred(f->dom), 0);
	unreachable(f, u, f->mem, PG);

	/* Tagged: hits, then a stop that is synchronous although the base is deferred. */
	sg_pages(f, sg, 2, 4, 1, true);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	d = sg[0].dma_address;
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 1);
	assert_int_equal(sg[0].dma_address, d);
	assert_int_equal(rst(f)->hits, 1);
	sg_reaches(f, sg, 2, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	sg_reaches(f, sg, 2, IOVX_DMA_BIDIRECTIONAL);	/* primes the IOTLB */
	sst(f, &a);
	assert_int_equal(iovx_sg_mark_stop_reuse(sg, 2), 1);
	sst(f, &b);
	assert_true(b.syncs > a.syncs);
	sg_unreachable(f, sg, 2);
	/* Eviction: a base-mode (deferred) unmap; gone after the flush. */
	d = map1(f, 8, 0, PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, PG, IOVX_DMA_TO_DEVICE,
					       IOVX_DMA_ATTR_REUSE), 0);
	reaches(f, d, f->mem + 8 * PG, PG, IOVX_DMA_TO_DEVICE);
	assert_int_equal(iovx_dma_reuse_evict(f->dom, 0), 1);
	assert_int_equal(iovx_sim_iova_to_phys(f->sim, d, NULL, NULL), -ENOENT);
	assert_int_equal(iovx_dma_flush_deferred(f->dom), 0);
	unreachable(f, d, f->mem + 8 * PG, PG);
	assert_int_equal(rst(f)->entries, 0);
	assert_int_equal(iova_live(f), 0);
}

/*
 * Deferred base, I3 for what a stop no longer finds in the table: a tagged buffer whose
 * entry was evicted (its deferred unmap not yet flushed) and one mapped untagged because the
 * table was full. After a stop of the buffer returns, the device reaches none of it, even
 * through a cached translation.
 */
static void test_deferred_stop_after_evict(void **state)
{
	struct fx f;
	uint64_t d;

	(void)state;
	memset(&f, 0, sizeof(f));
	fx_open(&f, IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_DEFERRED, 2, 0);
	d = map1(&f, 8, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(iovx_dma_unmap_single(f.dom, d, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	reaches(&f, d, f.mem + 8 * PG, PG, IOVX_DMA_BIDIRECTIONAL);	/* in the IOTLB */
	assert_int_equal(iovx_dma_reuse_evict(f.dom, 0), 1);
	assert_true(iovx_dma_stop_reuse(f.dom, pa(&f, 8, 0), PG) >= 0);
	unreachable(&f, d, f.mem + 8 * PG, PG);
	assert_int_equal(iovx_dma_flush_deferred(f.dom), 0);
	assert_int_equal(iova_live(&f), 0);
	fx_close(&f);
}

static void test_deferred_stop_after_fallback(void **state)
{
	struct fx f;
	uint64_t e, held[4];
	unsigned int i;

	(void)state;
	memset(&f, 0, sizeof(f));
	fx_open(&f, IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_DEFERRED, 2, 0);
	/*
	 * The overflow entry of a tagged map (table full of references) over a deferred
	 * base: its last unmap invalidates at once, no flush needed.
	 */
	for (i = 0; i < 4; i++)
		held[i] = map1(&f, i, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	e = map1(&f, 10, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
	assert_int_equal(rst_of(f.dom)->overflows, 1);
	reaches(&f, e, f.mem + 10 * PG, PG, IOVX_DMA_BIDIRECTIONAL);
	prime(&f, e, PG);
	assert_int_equal(iovx_dma_unmap_single(f.dom, e, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	unreachable(&f, e, f.mem + 10 * PG, PG);
	assert_true(iovx_buf_stop_reuse(pa(&f, 10, 0), PG) >= 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(iovx_dma_unmap_single(f.dom, held[i], PG,
						       IOVX_DMA_BIDIRECTIONAL,
						       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(iovx_buf_stop_reuse(pa(&f, 0, 0), 4 * PG), 4);
	assert_int_equal(iovx_dma_flush_deferred(f.dom), 0);
	assert_int_equal(iova_live(&f), 0);
	fx_close(&f);
}

/*
 * At most 256 reuse tables live at once (the process-wide stop calls walk them): the next
 * create is -ENOSPC and changes nothing; a destroyed domain's place is free again.
 */
static void test_many_domains(void **state)
{
	enum { N = 257 };
	struct iovx_dma_domain **d = calloc(N, sizeof(*d));
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_sim *sim;
	int i, ret = 0, made = 0;

	(void)state;
	assert_non_null(d);
	iovx_sim_config_init(&sc);
	assert_int_equal(iovx_sim_create(&sc, &sim), 0);
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_REUSE);
	dc.map_table_order = 4;
	dc.reuse_table_order = IOVX_REUSE_MIN_TABLE_ORDER;
	for (i = 0; i < N; i++) {
		ret = iovx_dma_domain_create(&dc, &d[i]);
		if (ret)
			break;
		made++;
	}
	assert_int_equal(made, 256);
	assert_int_equal(ret, -ENOSPC);
	assert_int_equal(iovx_dma_domain_destroy(d[100]), 0);
	assert_int_equal(iovx_dma_domain_create(&dc, &d[100]), 0);
	for (i = 0; i < made; i++)
		assert_int_equal(iovx_dma_domain_destroy(d[i]), 0);
	/* All gone: a process-wide stop walks nothing freed (ASan). */
	assert_int_equal(iovx_buf_stop_reuse(0x100000, PG), 0);
	iovx_sim_destroy(sim);
	free(d);
}

/* ---------------------------------------------------------------- revive */

/* A deferred domain with IOVX_DMA_F_REVIVE, bound 200 ms: a 100 ms window. */
static void fx_revive(struct fx *f)
{
	struct iovx_dma_config dc;
	struct iovx_inval_config ic;

	iovx_inval_config_init(&ic);
	ic.max_age_ns = 200000000ull;
	iovx_dma_config_init(&dc, iovx_sim_iommu(f->sim), IOVX_DMA_MODE_DEFERRED);
	dc.flags = IOVX_DMA_F_REVIVE;
	dc.inval = &ic;
	assert_int_equal(iovx_dma_domain_create(&dc, &f->dom), 0);
}

/*
 * IOVX_DMA_F_REVIVE (deferred, or reuse over deferred): an untagged buffer mapped again
 * within half the bound gets its idle mapping back (no IOMMU work); after the window the
 * mapping is torn down with a strict invalidation, so the device reaches the unmapped buffer
 * for less than the bound (I4).
 */
static void test_revive(void **state)
{
	struct iovx_dma_config dc;
	struct iovx_sim_stats a, b;
	struct iovx_dma_domain *d = NULL;
	struct fx f;
	uint64_t d1, d2, d3;
	const struct iovx_reuse_stats *r;
	int i;

	(void)state;
	fx_sim(&f);
	/* Only over a deferred base. */
	iovx_dma_config_init(&dc, iovx_sim_iommu(f.sim), IOVX_DMA_MODE_STRICT);
	dc.flags = IOVX_DMA_F_REVIVE;
	assert_int_equal(iovx_dma_domain_create(&dc, &d), -EINVAL);
	iovx_dma_config_init(&dc, iovx_sim_iommu(f.sim), IOVX_DMA_MODE_REUSE);
	dc.flags = IOVX_DMA_F_REVIVE;
	assert_int_equal(iovx_dma_domain_create(&dc, &d), -EINVAL);
	assert_null(d);

	fx_revive(&f);
	d1 = map1(&f, 2, 16, 100, IOVX_DMA_BIDIRECTIONAL, 0);
	reaches(&f, d1, f.mem + 2 * PG + 16, 100, IOVX_DMA_BIDIRECTIONAL);
	assert_int_equal(iovx_dma_unmap_single(f.dom, d1, 100, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	sst(&f, &a);
	d2 = map1(&f, 2, 16, 100, IOVX_DMA_BIDIRECTIONAL, 0);
	sst(&f, &b);
	assert_int_equal(d2, d1);
	assert_int_equal(b.maps, a.maps);
	assert_int_equal(b.pte_writes, a.pte_writes);
	r = rst(&f);
	assert_int_equal(r->revivals, 1);
	reaches(&f, d2, f.mem + 2 * PG + 16, 100, IOVX_DMA_BIDIRECTIONAL);
	/* Another direction is another mapping. */
	d3 = map1(&f, 2, 16, 100, IOVX_DMA_TO_DEVICE, 0);
	assert_int_not_equal(d3, d1);
	assert_int_equal(iovx_dma_unmap_single(f.dom, d3, 100, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_single(f.dom, d2, 100, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_dma_unmap_single(f.dom, d2, 100, IOVX_DMA_BIDIRECTIONAL, 0),
			 -ENOENT);
	prime(&f, d1, 100);
	/* After the bound (with slack), nothing of it is reachable any more. */
	for (i = 0; i < 40; i++)
		sleep_ms(10);
	unreachable(&f, d1, f.mem + 2 * PG + 16, 100);
	r = rst(&f);
	assert_true(r->expired >= 1);
	assert_int_equal(r->refs, 0);
	assert_int_equal(iovx_dma_flush_deferred(f.dom), 0);
	f.expect_destroy = 0;
	fx_close(&f);
}

/*
 * A revivable mapping unmapped after the domain sat idle longer than the window: the
 * window starts at the unmap, not at the last clock reading a reaper left behind (no
 * reaper runs while nothing lingers), so a map right after the unmap revives it.
 */
static void test_revive_after_idle(void **state)
{
	struct iovx_sim_stats a, b;
	struct fx f;
	uint64_t d1, d2;
	int round, i;

	(void)state;
	fx_sim(&f);
	fx_revive(&f);
	/* idle after create, then idle again after the first mapping expired */
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 25; i++)
			sleep_ms(10);		/* 250 ms: longer than the window */
		assert_int_equal(rst(&f)->refs, 0);
		d1 = map1(&f, 3, 0, PG, IOVX_DMA_FROM_DEVICE, 0);
		assert_int_equal(iovx_dma_unmap_single(f.dom, d1, PG, IOVX_DMA_FROM_DEVICE, 0), 0);
		sst(&f, &a);
		d2 = map1(&f, 3, 0, PG, IOVX_DMA_FROM_DEVICE, 0);
		sst(&f, &b);
		assert_int_equal(d2, d1);
		assert_int_equal(b.maps, a.maps);	/* revived: no IOMMU work */
		assert_int_equal(rst(&f)->revivals, (uint64_t)round + 1);
		assert_int_equal(iovx_dma_unmap_single(f.dom, d2, PG, IOVX_DMA_FROM_DEVICE, 0), 0);
		for (i = 0; i < 40 && rst(&f)->expired < (uint64_t)round + 1; i++)
			sleep_ms(10);
		assert_int_equal(rst(&f)->expired, (uint64_t)round + 1);
	}
	assert_int_equal(iovx_dma_flush_deferred(f.dom), 0);
	f.expect_destroy = 0;
	fx_close(&f);
}

/* ---------------------------------------------------------------- fail-Nth */

/*
 * Every allocation of create, a miss, a hit, a three-segment sg miss (its own segment
 * array), the unmaps and the stops fails in turn: each call either works (and the device
 * reaches the buffer) or returns -ENOMEM with nothing changed; in the end nothing leaks,
 * nothing stays mapped (ASan checks the memory).
 */
static void test_fail_nth(void **state)
{
	unsigned long n;

	(void)state;
	for (n = 1; n < 400; n++) {
		struct iovx_dma_config dc;
		struct iovx_sim_stats ss;
		struct iovx_iova_stats is;
		struct iovx_dma_sg sg[3];
		struct fx f;
		uint64_t a1 = 0, a2 = 0;
		int r1, r2, rs = 0, ret;
		unsigned long seen;

		fx_sim(&f);
		memset(sg, 0, sizeof(sg));
		sg[0].phys = pa(&f, 4, 0);
		sg[0].length = 100;
		sg[1].phys = pa(&f, 6, 0);
		sg[1].offset = 8;
		sg[1].length = 200;
		sg[2].phys = pa(&f, 8, 0);
		sg[2].length = PG;
		assert_int_equal(iovx_sg_mark_reusable(sg, 3), 0);
		iovx_dma_config_init(&dc, iovx_sim_iommu(f.sim), IOVX_DMA_MODE_REUSE);
		dc.reuse_table_order = 2;

		iovx_fail_nth_arm(n);
		ret = iovx_dma_domain_create(&dc, &f.dom);
		if (ret) {
			seen = iovx_fail_nth_seen();
			iovx_fail_nth_disarm();
			assert_int_equal(ret, -ENOMEM);
			assert_true(seen >= n);
			iovx_sim_destroy(f.sim);
			free(f.mem);
			continue;
		}
		r1 = iovx_dma_map_single(f.dom, pa(&f, 1, 0), PG, IOVX_DMA_BIDIRECTIONAL,
					 IOVX_DMA_ATTR_REUSE, &a1);
		r2 = iovx_dma_map_single(f.dom, pa(&f, 1, 0), PG, IOVX_DMA_BIDIRECTIONAL,
					 IOVX_DMA_ATTR_REUSE, &a2);
		ret = iovx_dma_map_sg(f.dom, sg, 3, IOVX_DMA_TO_DEVICE, 0);
		if (!r1)
			assert_int_equal(iovx_dma_unmap_single(f.dom, a1, PG,
							       IOVX_DMA_BIDIRECTIONAL,
							       IOVX_DMA_ATTR_REUSE), 0);
		if (!r2)
			assert_int_equal(iovx_dma_unmap_single(f.dom, a2, PG,
							       IOVX_DMA_BIDIRECTIONAL,
							       IOVX_DMA_ATTR_REUSE), 0);
		if (ret > 0)
			assert_int_equal(iovx_dma_unmap_sg(f.dom, sg, 3, IOVX_DMA_TO_DEVICE, 0), 0);
		rs = iovx_buf_stop_reuse(pa(&f, 0, 0), 16 * PG);
		seen = iovx_fail_nth_seen();
		iovx_fail_nth_disarm();

		assert_true(r1 == 0 || r1 == -ENOMEM);
		assert_true(r2 == 0 || r2 == -ENOMEM);
		assert_true(ret > 0 || ret == -ENOMEM);
		assert_true(rs >= 0);
		if (!r1) {
			assert_true(a1 != 0);
			unreachable(&f, a1, f.mem + PG, PG);
		}
		{
			const struct iovx_reuse_stats *r = rst(&f);

			assert_int_equal(r->entries, 0);
			assert_int_equal(r->refs, 0);
		}
		assert_int_equal(iovx_iova_audit(dom_iovad(f.dom), &is), 0);
		assert_int_equal(is.live, 0);
		assert_int_equal(iovx_dma_domain_destroy(f.dom), 0);
		assert_int_equal(iovx_sim_get_stats(f.sim, &ss), 0);
		assert_int_equal(ss.i2_map_violations + ss.i2_table_violations, 0);
		assert_int_equal(ss.tables_live, 1);
		iovx_sim_destroy(f.sim);
		free(f.mem);
		if (seen < n) {
			/* no allocation failed: everything worked */
			assert_int_equal(r1, 0);
			assert_int_equal(r2, 0);
			assert_int_equal(a1, a2);
			assert_true(ret > 0);
			break;
		}
	}
	assert_true(n > 3 && n < 400);
}

/* ---------------------------------------------------------------- destroy */

static void test_destroy_with_entries(void **state)
{
	static const enum iovx_dma_mode bases[2] = { IOVX_DMA_MODE_STRICT,
						     IOVX_DMA_MODE_DEFERRED };
	unsigned int k;

	(void)state;
	for (k = 0; k < 2; k++) {
		struct fx f;
		struct iovx_dma_sg sg[2];
		uint64_t held, idle, plain;

		memset(&f, 0, sizeof(f));
		fx_open(&f, IOVX_DMA_MODE_REUSE, bases[k], 0, 0);
		held = map1(&f, 0, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
		idle = map1(&f, 1, 0, PG, IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE);
		assert_int_equal(iovx_dma_unmap_single(f.dom, idle, PG, IOVX_DMA_BIDIRECTIONAL,
						       IOVX_DMA_ATTR_REUSE), 0);
		sg_pages(&f, sg, 2, 4, 1, true);
		assert_int_equal(iovx_dma_map_sg(f.dom, sg, 2, IOVX_DMA_TO_DEVICE, 0), 1);
		assert_int_equal(iovx_dma_map_sg(f.dom, sg, 2, IOVX_DMA_TO_DEVICE, 0), 1);
		plain = map1(&f, 8, 0, PG, IOVX_DMA_BIDIRECTIONAL, 0);
		/* Live: held, the sg list twice, plain; the idle entry is no live mapping. */
		f.expect_destroy = 4;
		fx_close(&f);
		(void)held;
		(void)plain;
		/* No domain left: a process-wide stop must not touch the freed one. */
		assert_int_equal(iovx_buf_stop_reuse(0x10000, PG), 0);
	}
}

/* Destroy leaves nothing mapped in the IOMMU (checked before the simulator goes). */
static void test_destroy_unmaps(void **state)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
	struct iovx_sim_stats st;
	uint8_t *mem = aligned_alloc(PG, 4 * PG);
	uint64_t held, idle;

	(void)state;
	iovx_sim_config_init(&sc);
	assert_int_equal(iovx_sim_create(&sc, &sim), 0);
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_REUSE);
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), 0);
	assert_int_equal(iovx_dma_map_single(dom, (uintptr_t)mem, PG, IOVX_DMA_BIDIRECTIONAL,
					     IOVX_DMA_ATTR_REUSE, &held), 0);
	assert_int_equal(iovx_dma_map_single(dom, (uintptr_t)mem + PG, PG,
					     IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_ATTR_REUSE, &idle),
			 0);
	assert_int_equal(iovx_dma_unmap_single(dom, idle, PG, IOVX_DMA_BIDIRECTIONAL,
					       IOVX_DMA_ATTR_REUSE), 0);
	assert_int_equal(iovx_dma_domain_destroy(dom), 1);
	assert_int_equal(iovx_sim_iova_to_phys(sim, held, NULL, NULL), -ENOENT);
	assert_int_equal(iovx_sim_iova_to_phys(sim, idle, NULL, NULL), -ENOENT);
	assert_false(iovx_sim_iotlb_holds(sim, held));
	assert_int_equal(iovx_sim_get_stats(sim, &st), 0);
	assert_int_equal(st.tables_live, 1);
	assert_int_equal(st.i2_map_violations + st.i2_table_violations, 0);
	assert_int_equal(iovx_buf_stop_reuse((uintptr_t)mem, 2 * PG), 0);
	iovx_sim_destroy(sim);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_domains),	/* first: failed tests may leave domains */
		cmocka_unit_test(test_create_config),
		cmocka_unit_test_setup_teardown(test_not_reuse_mode, setup_strict, teardown),
		cmocka_unit_test_setup_teardown(test_tag_in_strict_domain, setup_strict, teardown),
		cmocka_unit_test_setup_teardown(test_mark_errors, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_mark_flags, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_sg_hit, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_sg_hit_multiseg, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_single_hit, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_untagged_is_strict, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_direction_is_another_key, setup_reuse,
						teardown),
		cmocka_unit_test_setup_teardown(test_partial_overlap, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_stop_dma_i3, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_stop_sg_mark, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_stop_buf, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_stop_all_domains, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_stop_waits_for_refs, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_evict_idle_only, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_evict_lru_order, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_table_pressure, setup_reuse_small, teardown),
		cmocka_unit_test_setup_teardown(test_table_full_of_active, setup_reuse_small,
						teardown),
		cmocka_unit_test_setup_teardown(test_iova_pressure, setup_reuse_tiny_mask,
						teardown),
		cmocka_unit_test_setup_teardown(test_mask_change_hit, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_hint_forgery, setup_reuse, teardown),
		cmocka_unit_test_setup_teardown(test_sync_and_unmap_errors, setup_reuse,
						teardown),
		cmocka_unit_test_setup_teardown(test_deferred_base, setup_reuse_deferred,
						teardown),
		cmocka_unit_test(test_deferred_stop_after_evict),
		cmocka_unit_test(test_deferred_stop_after_fallback),
		cmocka_unit_test(test_revive),
		cmocka_unit_test(test_revive_after_idle),
		cmocka_unit_test(test_fail_nth),
		cmocka_unit_test(test_destroy_with_entries),
		cmocka_unit_test(test_destroy_unmaps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

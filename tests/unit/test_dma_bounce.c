// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_dma_bounce.c - the DMA facade's bounce mode (include/iovx/dma.h, docs/bounce.md) on
 * the software IOMMU: data integrity in every direction through map, sync and unmap (sub-
 * page offsets), the device reaching only pool memory for bounced mappings (byte-granular:
 * the caller's bytes around a mapping survive a device that writes the whole slot page),
 * fallback above the crossover and on pool exhaustion (never a failure), unmap routing of
 * bounced vs fallback mappings (the fallback's unmap invalidates, a bounced one does not),
 * sg lists bounced per segment, the statistics, errors, and destroy with live mappings.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <iovx/bounce.h>
#include <iovx/dma.h>
#include <iovx/inval.h>
#include <iovx/reuse.h>
#include <iovx/sim.h>

#include "dma_fx.h"

#define PG	FX_PG
#define XOVER	2048u		/* the crossover the fixtures set */

static int setup_with(void **state, const struct iovx_bounce_config *bc, uint64_t crossover,
		      enum iovx_dma_mode fallback)
{
	struct iovx_dma_config dc;

	iovx_dma_config_init(&dc, NULL, IOVX_DMA_MODE_BOUNCE);
	dc.bounce = bc;
	dc.bounce_crossover = crossover;
	dc.fallback = fallback;
	return fx_open(state, NULL, &dc);
}

static int setup_default(void **state)
{
	return setup_with(state, NULL, XOVER, IOVX_DMA_MODE_STRICT);
}

static int setup_deferred(void **state)
{
	return setup_with(state, NULL, XOVER, IOVX_DMA_MODE_DEFERRED);
}

/* A tiny pool: one CPU slot, two 256-byte slots, so exhaustion takes three maps. */
static int setup_tiny(void **state)
{
	struct iovx_bounce_config bc;

	iovx_bounce_config_init(&bc);
	bc.nr_classes = 1;
	bc.class_size[0] = 256;
	bc.slots_per_cpu[0] = 2;
	bc.nr_cpus = 1;
	return setup_with(state, &bc, 256, IOVX_DMA_MODE_STRICT);
}

static int setup_reuse(void **state)
{
	return setup_with(state, NULL, XOVER, IOVX_DMA_MODE_REUSE);
}

static int teardown(void **state)
{
	return fx_close(state);
}

/* Every byte of [dma, dma + len) translates outside the caller's memory (into the pool). */
static void assert_in_pool(struct fx *f, uint64_t dma, uint64_t len)
{
	uint64_t a, phys;
	unsigned int prot;

	for (a = dma & ~(PG - 1); a < dma + len; a += PG) {
		assert_int_equal(iovx_sim_iova_to_phys(f->sim, a, &phys, &prot), 0);
		assert_true(phys + PG <= (uintptr_t)f->mem || phys >= (uintptr_t)f->mem + 64 * PG);
	}
}

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 13 + seed);
}

static void test_create(void **state)
{
	struct iovx_sim *sim;
	struct iovx_sim_config sc;
	struct iovx_dma_config c;
	struct iovx_dma_domain *d = NULL;
	struct iovx_bounce_config bc;
	struct iovx_dma_stats st;
	struct iovx_inval_stats is;

	iovx_sim_config_init(&sc);
	assert_int_equal(iovx_sim_create(&sc, &sim), 0);
	iovx_dma_config_init(&c, iovx_sim_iommu(sim), IOVX_DMA_MODE_BOUNCE);
	assert_int_equal(c.fallback, IOVX_DMA_MODE_STRICT);	/* the default */

	/* Calibrated crossover: reported, within the classes. */
	assert_int_equal(iovx_dma_domain_create(&c, &d), 0);
	assert_int_equal(iovx_dma_get_stats(d, &st), 0);
	assert_true(st.bounce_crossover <= 65536);
	assert_int_equal(st.bounce_crossover % 64, 0);
	assert_true(st.bounce_pool_bytes > 0);
	assert_int_equal(iovx_dma_flush_deferred(d), -EOPNOTSUPP);
	assert_int_equal(iovx_dma_get_inval_stats(d, &is), -EOPNOTSUPP);
	assert_int_equal(iovx_dma_domain_destroy(d), 0);

	/* Overridden crossover and the deferred fallback. */
	c.bounce_crossover = 512;
	c.fallback = IOVX_DMA_MODE_DEFERRED;
	assert_int_equal(iovx_dma_domain_create(&c, &d), 0);
	assert_int_equal(iovx_dma_get_stats(d, &st), 0);
	assert_int_equal(st.bounce_crossover, 512);
	assert_int_equal(iovx_dma_flush_deferred(d), 0);
	assert_int_equal(iovx_dma_get_inval_stats(d, &is), 0);
	assert_int_equal(iovx_dma_domain_destroy(d), 0);

	/* Errors. */
	d = NULL;
	c.fallback = IOVX_DMA_MODE_PASSTHROUGH;
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);
	c.fallback = IOVX_DMA_MODE_BOUNCE;
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);
	c.fallback = IOVX_DMA_MODE_REUSE;
	c.reuse_table_order = 1;			/* below IOVX_REUSE_MIN_TABLE_ORDER */
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);
	c.reuse_table_order = 0;
	c.fallback = IOVX_DMA_MODE_STRICT;
	c.bounce_crossover = 65537;			/* above the largest class */
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);
	c.bounce_crossover = 0;
	iovx_bounce_config_init(&bc);
	bc.nr_classes = 0;
	c.bounce = &bc;
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);
	iovx_bounce_config_init(&bc);
	bc.max_bytes = 4096;				/* the pool is larger */
	c.bounce_crossover = 256;
	assert_int_equal(iovx_dma_domain_create(&c, &d), -ERANGE);
	c.bounce = NULL;
	c.iommu = NULL;
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);
	assert_null(d);
	iovx_sim_destroy(sim);
}

/*
 * A calibrated domain (bounce_crossover 0) of either fallback: the calibration's own maps
 * leave no trace in the statistics, and maps route by the crossover it reports (the
 * FROM_DEVICE/BIDIRECTIONAL one) - whatever value the timing gave.
 */
struct cal_scratch {		/* on the heap: sanitizer builds inflate stack frames */
	struct iovx_sim_config sc;
	struct iovx_sim_stats ss;
	struct iovx_dma_config c;
	struct iovx_dma_stats st;
	struct iovx_inval_stats is;
};

static void calibrated_check(enum iovx_dma_mode fallback)
{
	struct cal_scratch *x = calloc(1, sizeof(*x));
	struct iovx_sim *sim;
	struct iovx_dma_domain *d = NULL;
	uint64_t xo, dma;
	uint8_t *buf = aligned_alloc(PG, 65536);

	memset(buf, 7, 65536);
	iovx_sim_config_init(&x->sc);
	assert_int_equal(iovx_sim_create(&x->sc, &sim), 0);
	iovx_dma_config_init(&x->c, iovx_sim_iommu(sim), IOVX_DMA_MODE_BOUNCE);
	x->c.fallback = fallback;
	assert_int_equal(iovx_dma_domain_create(&x->c, &d), 0);
	assert_int_equal(iovx_dma_get_stats(d, &x->st), 0);
	xo = x->st.bounce_crossover;
	assert_true(xo <= 65536);
	assert_int_equal(xo % 64, 0);
	assert_int_equal(x->st.maps, 0);
	assert_int_equal(x->st.bounced, 0);
	assert_int_equal(x->st.bounce_fallbacks, 0);
	assert_int_equal(x->st.bounce_bytes, 0);
	assert_int_equal(x->st.inv_ranges, 0);
	assert_int_equal(x->st.syncs, 0);
	assert_int_equal(x->st.leaked_pages, 0);
	if (fallback == IOVX_DMA_MODE_DEFERRED) {
		assert_int_equal(iovx_dma_get_inval_stats(d, &x->is), 0);
		assert_int_equal(x->is.queued, 0);
		assert_int_equal(x->is.flushes, 0);
	}
	/* the calibration did map through the IOMMU, and left nothing mapped but the pool */
	assert_int_equal(iovx_sim_get_stats(sim, &x->ss), 0);
	assert_true(x->ss.maps > 1);
	assert_int_equal(x->ss.i2_map_violations, 0);

	/* routing follows the reported crossover, BIDIRECTIONAL and FROM_DEVICE alike */
	if (xo > 0) {
		assert_int_equal(iovx_dma_map_single(d, (uintptr_t)buf, xo - 1,
						     IOVX_DMA_BIDIRECTIONAL, 0, &dma), 0);
		assert_int_equal(iovx_dma_unmap_single(d, dma, xo - 1, IOVX_DMA_BIDIRECTIONAL, 0),
				 0);
		assert_int_equal(iovx_dma_get_stats(d, &x->st), 0);
		assert_int_equal(x->st.bounced, 1);
	}
	if (xo < 65536) {
		assert_int_equal(iovx_dma_map_single(d, (uintptr_t)buf, xo ? xo : 1,
						     IOVX_DMA_FROM_DEVICE, 0, &dma), 0);
		assert_int_equal(iovx_dma_unmap_single(d, dma, xo ? xo : 1, IOVX_DMA_FROM_DEVICE,
						       0), 0);
		assert_int_equal(iovx_dma_get_stats(d, &x->st), 0);
		assert_int_equal(x->st.bounce_fallbacks, 1);
	}
	printf("calibrated (%s fallback, sim not charged): crossover %llu\n",
	       fallback == IOVX_DMA_MODE_STRICT ? "strict" : "deferred", (unsigned long long)xo);
	assert_int_equal(iovx_dma_domain_destroy(d), 0);
	assert_int_equal(iovx_sim_get_stats(sim, &x->ss), 0);
	assert_int_equal(x->ss.i2_map_violations, 0);
	assert_int_equal(x->ss.i2_table_violations, 0);
	iovx_sim_destroy(sim);
	free(buf);
	free(x);
}

static void test_calibrated(void **state)
{
	(void)state;
	calibrated_check(IOVX_DMA_MODE_STRICT);
	calibrated_check(IOVX_DMA_MODE_DEFERRED);
}

static void test_single_integrity(void **state)
{
	struct fx *f = *state;
	uint8_t in[300], out[300], in2[300];
	uint64_t dto, dfrom, dbi;
	struct iovx_sim_stats a, b;

	fill(in, sizeof(in), 1);
	fill(in2, sizeof(in2), 77);
	a = sst(f);

	/* TO_DEVICE: the device reads the copy; later CPU writes reach it by sync only. */
	memcpy(f->mem + 100, in, sizeof(in));
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 100), sizeof(in),
					     IOVX_DMA_TO_DEVICE, 0, &dto), 0);
	assert_int_not_equal(dto, pa(f, 0, 100));
	assert_in_pool(f, dto, sizeof(in));
	assert_int_equal(iovx_sim_dev_read(f->sim, dto, out, sizeof(out), NULL), 0);
	assert_memory_equal(in, out, sizeof(in));
	memcpy(f->mem + 100, in2, sizeof(in2));
	assert_int_equal(iovx_sim_dev_read(f->sim, dto, out, sizeof(out), NULL), 0);
	assert_memory_equal(in, out, sizeof(in));	/* not synced yet */
	assert_int_equal(iovx_dma_sync_single_for_device(f->dom, dto, sizeof(in),
							 IOVX_DMA_TO_DEVICE), 0);
	assert_int_equal(iovx_sim_dev_read(f->sim, dto, out, sizeof(out), NULL), 0);
	assert_memory_equal(in2, out, sizeof(in2));

	/* FROM_DEVICE across a page boundary: the caller sees the data at sync / unmap only. */
	memset(f->mem + 3 * PG - 100, 0xee, sizeof(in));
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 2, PG - 100), sizeof(in),
					     IOVX_DMA_FROM_DEVICE, 0, &dfrom), 0);
	assert_in_pool(f, dfrom, sizeof(in));
	assert_int_equal(iovx_sim_dev_write(f->sim, dfrom, in, sizeof(in), NULL), 0);
	assert_int_equal(f->mem[3 * PG - 100], 0xee);	/* the device wrote the pool */
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, dfrom, sizeof(in),
						      IOVX_DMA_FROM_DEVICE), 0);
	assert_memory_equal(f->mem + 3 * PG - 100, in, sizeof(in));
	assert_int_equal(iovx_dma_sync_single_for_device(f->dom, dfrom, 10,
							 IOVX_DMA_FROM_DEVICE), 0);
	assert_int_equal(iovx_sim_dev_write(f->sim, dfrom + 50, in2, 100, NULL), 0);

	/* BIDIRECTIONAL: in and out. */
	memcpy(f->mem + 5 * PG + 7, in, sizeof(in));
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 5, 7), sizeof(in),
					     IOVX_DMA_BIDIRECTIONAL, 0, &dbi), 0);
	assert_in_pool(f, dbi, sizeof(in));
	assert_int_equal(iovx_sim_dev_read(f->sim, dbi, out, sizeof(out), NULL), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(iovx_sim_dev_write(f->sim, dbi, in2, sizeof(in2), NULL), 0);
	assert_int_equal(dst(f).live, 3);
	assert_int_equal(dst(f).bounced, 3);
	assert_int_equal(dst(f).bounce_fallbacks, 0);

	/* Unmaps copy out (FROM, BIDI) and do no IOMMU work. */
	assert_int_equal(iovx_dma_unmap_single(f->dom, dfrom, sizeof(in), IOVX_DMA_FROM_DEVICE,
					       0), 0);
	assert_memory_equal(f->mem + 3 * PG - 100, in, 50);
	assert_memory_equal(f->mem + 3 * PG - 50, in2, 100);
	assert_memory_equal(f->mem + 3 * PG + 50, in + 150, 150);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dbi, sizeof(in), IOVX_DMA_BIDIRECTIONAL,
					       0), 0);
	assert_memory_equal(f->mem + 5 * PG + 7, in2, sizeof(in2));
	memcpy(f->mem + 100, in, sizeof(in));
	assert_int_equal(iovx_dma_unmap_single(f->dom, dto, sizeof(in), IOVX_DMA_TO_DEVICE, 0),
			 0);
	assert_memory_equal(f->mem + 100, in, sizeof(in));	/* TO_DEVICE: no copy out */
	b = sst(f);
	assert_int_equal(b.tlbi_range, a.tlbi_range);
	assert_int_equal(b.syncs, a.syncs);
	assert_int_equal(dst(f).live, 0);
	assert_int_equal(dst(f).maps, 3);
	assert_int_equal(dst(f).unmaps, 3);
	/* in: 300 x 3 at map + 300 + 10 by sync_for_device; out: 300 by sync + 300 + 300. */
	assert_int_equal(dst(f).bounce_bytes, 3 * 300 + 310 + 3 * 300);
	assert_int_equal(dst(f).bounce_crossover, XOVER);
}

/* Byte-granular protection: the bytes around a bounced mapping are out of the device's reach. */
static void test_device_reaches_pool_only(void **state)
{
	struct fx *f = *state;
	uint8_t *junk = f->mem + 32 * PG;
	uint64_t d;
	unsigned int i;

	memset(f->mem, 0xaa, PG);
	memset(junk, 0x55, PG);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 100), 300, IOVX_DMA_FROM_DEVICE,
					     0, &d), 0);
	/* The device scribbles over the whole granule its IOVA lies in: pool memory only. */
	assert_int_equal(iovx_sim_dev_write(f->sim, d & ~(PG - 1), junk, PG, NULL), 0);
	for (i = 0; i < PG; i++)
		assert_int_equal(f->mem[i], 0xaa);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, 300, IOVX_DMA_FROM_DEVICE, 0), 0);
	for (i = 0; i < PG; i++)
		assert_int_equal(f->mem[i], i >= 100 && i < 400 ? 0x55 : 0xaa);
}

static void test_fallback_above_crossover(void **state)
{
	struct fx *f = *state;
	struct iovx_sim_stats a, b;
	uint8_t out[64];
	uint64_t dbig, dsmall, phys;
	unsigned int prot;

	fill(f->mem, 2 * PG, 3);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 0), XOVER, IOVX_DMA_TO_DEVICE, 0,
					     &dbig), 0);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 1, 0), XOVER - 1, IOVX_DMA_TO_DEVICE,
					     0, &dsmall), 0);
	/* At the crossover: strict, the device reaches the caller's page. */
	assert_int_equal(iovx_sim_iova_to_phys(f->sim, dbig, &phys, &prot), 0);
	assert_int_equal(phys, pa(f, 0, 0));
	assert_in_pool(f, dsmall, XOVER - 1);
	assert_int_equal(iovx_sim_dev_read(f->sim, dbig, out, sizeof(out), NULL), 0);
	assert_memory_equal(out, f->mem, sizeof(out));
	assert_int_equal(dst(f).bounced, 1);
	assert_int_equal(dst(f).bounce_fallbacks, 1);

	/* Routing: the bounced unmap touches no IOMMU, the fallback's invalidates + syncs. */
	a = sst(f);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dsmall, XOVER - 1, IOVX_DMA_TO_DEVICE,
					       0), 0);
	b = sst(f);
	assert_int_equal(b.tlbi_range, a.tlbi_range);
	assert_int_equal(b.syncs, a.syncs);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dbig, XOVER, IOVX_DMA_TO_DEVICE, 0), 0);
	a = sst(f);
	assert_int_equal(a.tlbi_range - b.tlbi_range, 1);
	assert_int_equal(a.syncs - b.syncs, 1);
	assert_int_equal(iovx_sim_dev_read(f->sim, dbig, out, 1, NULL), -EFAULT);
	assert_int_equal(dst(f).live, 0);
}

/* A full pool never fails a map: the fallback takes it. */
static void test_exhaustion(void **state)
{
	struct fx *f = *state;
	uint64_t d[4], phys;
	unsigned int i, prot;
	uint8_t out[100];

	fill(f->mem, PG, 9);
	for (i = 0; i < 4; i++)
		assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, i * 100), 100,
						     IOVX_DMA_BIDIRECTIONAL, 0, &d[i]), 0);
	assert_in_pool(f, d[0], 100);
	assert_in_pool(f, d[1], 100);
	for (i = 2; i < 4; i++) {
		assert_int_equal(iovx_sim_iova_to_phys(f->sim, d[i] & ~(PG - 1), &phys, &prot),
				 0);
		assert_int_equal(phys, pa(f, 0, 0));	/* strict: the caller's page */
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(iovx_sim_dev_read(f->sim, d[i], out, 100, NULL), 0);
		assert_memory_equal(out, f->mem + i * 100, 100);
	}
	assert_int_equal(dst(f).bounced, 2);
	assert_int_equal(dst(f).bounce_fallbacks, 2);
	/* Above the only class is above the crossover: the fallback, too. */
	assert_int_equal(dst(f).bounce_crossover, 256);
	for (i = 0; i < 4; i++)
		assert_int_equal(iovx_dma_unmap_single(f->dom, d[i], 100, IOVX_DMA_BIDIRECTIONAL,
						       0), 0);
	/* The slots came back. */
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 1, 0), 255, IOVX_DMA_TO_DEVICE, 0,
					     &d[0]), 0);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 1, 300), 10, IOVX_DMA_TO_DEVICE, 0,
					     &d[1]), 0);
	assert_in_pool(f, d[0], 255);
	assert_in_pool(f, d[1], 10);
	assert_int_equal(dst(f).bounced, 4);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d[0], 255, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d[1], 10, IOVX_DMA_TO_DEVICE, 0), 0);
}

/* An sg list that does not fit the tiny pool whole goes to the fallback whole. */
static void test_sg_exhaustion(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[3];
	uint64_t d;
	unsigned int i;
	int n;

	memset(sg, 0, sizeof(sg));
	for (i = 0; i < 3; i++) {
		sg[i].phys = pa(f, i * 2, 0);
		sg[i].offset = 40;
		sg[i].length = 100;
	}
	n = iovx_dma_map_sg(f->dom, sg, 3, IOVX_DMA_TO_DEVICE, 0);
	assert_true(n > 0);
	assert_int_equal(sg[0].dma_address & (PG - 1), 40);
	assert_int_equal(dst(f).bounced, 0);
	assert_int_equal(dst(f).bounce_fallbacks, 1);
	/* The two slots taken before the pool ran out were given back. */
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 10, 0), 200, IOVX_DMA_TO_DEVICE, 0,
					     &d), 0);
	assert_in_pool(f, d, 200);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, 200, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 3, IOVX_DMA_TO_DEVICE, 0), 0);
	/* Two segments fit: bounced. */
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2, IOVX_DMA_TO_DEVICE, 0), 2);
	assert_in_pool(f, sg[0].dma_address, 100);
	assert_in_pool(f, sg[1].dma_address, 100);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(dst(f).live, 0);
}

static void test_sg_integrity(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[4];
	uint8_t out[500], w[500];
	unsigned int i;
	int n;

	memset(sg, 0, sizeof(sg));
	for (i = 0; i < 4; i++) {
		sg[i].phys = pa(f, i * 3, 0);
		sg[i].offset = 10 + i * 100;
		sg[i].length = 200 + i * 100;
		fill(f->mem + i * 3 * PG + sg[i].offset, sg[i].length, i);
	}
	n = iovx_dma_map_sg(f->dom, sg, 4, IOVX_DMA_BIDIRECTIONAL, 0);
	assert_int_equal(n, 4);		/* one DMA segment per input segment, not merged */
	for (i = 0; i < 4; i++) {
		assert_int_equal(sg[i].dma_length, sg[i].length);
		assert_in_pool(f, sg[i].dma_address, sg[i].length);
		assert_int_equal(iovx_sim_dev_read(f->sim, sg[i].dma_address, out, sg[i].length,
						   NULL), 0);
		assert_memory_equal(out, f->mem + i * 3 * PG + sg[i].offset, sg[i].length);
		fill(w, sg[i].length, 100 + i);
		assert_int_equal(iovx_sim_dev_write(f->sim, sg[i].dma_address, w, sg[i].length,
						    NULL), 0);
	}
	assert_int_equal(dst(f).bounced, 1);
	/* sync_sg_for_cpu: every segment copied out. */
	assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, sg, 4, IOVX_DMA_BIDIRECTIONAL), 0);
	for (i = 0; i < 4; i++) {
		fill(w, sg[i].length, 100 + i);
		assert_memory_equal(f->mem + i * 3 * PG + sg[i].offset, w, sg[i].length);
	}
	/* sync_sg_for_device: CPU changes reach the device. */
	memset(f->mem + sg[2].offset + 6 * PG, 0x3c, sg[2].length);
	assert_int_equal(iovx_dma_sync_sg_for_device(f->dom, sg, 4, IOVX_DMA_BIDIRECTIONAL), 0);
	assert_int_equal(iovx_sim_dev_read(f->sim, sg[2].dma_address, out, sg[2].length, NULL),
			 0);
	memset(w, 0x3c, sg[2].length);
	assert_memory_equal(out, w, sg[2].length);
	/* The device writes again; unmap copies out. */
	assert_int_equal(iovx_sim_dev_write(f->sim, sg[3].dma_address, "\x11\x22", 2, NULL), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 4, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(f->mem[9 * PG + sg[3].offset], 0x11);
	assert_int_equal(f->mem[9 * PG + sg[3].offset + 1], 0x22);

	/* One segment at the crossover: the whole list takes the fallback (strict). */
	sg[1].length = XOVER;
	n = iovx_dma_map_sg(f->dom, sg, 4, IOVX_DMA_FROM_DEVICE, 0);
	assert_true(n > 0);
	assert_int_equal(dst(f).bounce_fallbacks, 1);
	{
		uint64_t phys;
		unsigned int prot;

		assert_int_equal(iovx_sim_iova_to_phys(f->sim, sg[0].dma_address, &phys, &prot),
				 0);
		assert_int_equal(phys, pa(f, 0, sg[0].offset));
	}
	assert_int_equal(iovx_sim_dev_write(f->sim, sg[0].dma_address, "\x5a", 1, NULL), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 4, IOVX_DMA_FROM_DEVICE, 0), 0);
	assert_int_equal(f->mem[sg[0].offset], 0x5a);
	assert_int_equal(dst(f).live, 0);
}

/* Bad input: its errno, and nothing changes (the mapping stays usable). */
static void test_errors(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[2];
	uint64_t d, dbig;
	uint8_t out[8];

	fill(f->mem, 8 * PG, 5);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 8), 100, 3, 0, &d), -EINVAL);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 8), 0, IOVX_DMA_TO_DEVICE, 0, &d),
			 -EINVAL);
	assert_int_equal(iovx_dma_map_single(f->dom, UINT64_MAX - 10, 100, IOVX_DMA_TO_DEVICE,
					     0, &d), -EOVERFLOW);
	assert_int_equal(dst(f).maps, 0);
	assert_int_equal(dst(f).bounced, 0);

	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 8), 100, IOVX_DMA_FROM_DEVICE, 0,
					     &d), 0);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 2, 0), 2 * PG, IOVX_DMA_FROM_DEVICE,
					     0, &dbig), 0);
	/* Wrong size, direction; unknown address; a sync beyond the mapping. */
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, 99, IOVX_DMA_FROM_DEVICE, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, 100, IOVX_DMA_TO_DEVICE, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d + 1, 100, IOVX_DMA_FROM_DEVICE, 0),
			 -ENOENT);
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, d, 101, IOVX_DMA_FROM_DEVICE),
			 -EINVAL);
	assert_int_equal(iovx_dma_sync_single_for_device(f->dom, d, 10, IOVX_DMA_TO_DEVICE),
			 -EINVAL);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dbig, PG, IOVX_DMA_FROM_DEVICE, 0),
			 -EINVAL);
	assert_int_equal(dst(f).live, 2);
	assert_int_equal(iovx_sim_dev_read(f->sim, d, out, sizeof(out), NULL), 0);
	assert_memory_equal(out, f->mem + 8, sizeof(out));	/* copied in for FROM too */
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, 100, IOVX_DMA_FROM_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, d, 100, IOVX_DMA_FROM_DEVICE, 0),
			 -ENOENT);			/* double unmap */
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, d, 10, IOVX_DMA_FROM_DEVICE),
			 -ENOENT);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dbig, 2 * PG, IOVX_DMA_FROM_DEVICE, 0),
			 0);

	/* sg: nents mismatch, wrong direction. */
	memset(sg, 0, sizeof(sg));
	sg[0].phys = pa(f, 4, 0);
	sg[0].length = 64;
	sg[1].phys = pa(f, 5, 0);
	sg[1].length = 64;
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2, IOVX_DMA_NONE, 0), -EINVAL);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2, IOVX_DMA_TO_DEVICE, 0), 2);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 1, IOVX_DMA_TO_DEVICE, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_FROM_DEVICE, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_TO_DEVICE, 0), -ENOENT);
	assert_int_equal(dst(f).live, 0);
	assert_true(dst(f).errors >= 14);
}

/*
 * A bounced sg list named with its segment lengths swapped: -EINVAL and nothing changes —
 * the record stays, the slots stay mapped — so the true list unmaps and its slots are free
 * again (the tiny pool has two: a leak shows as the next list not bouncing).
 */
static void test_misuse_bounce_lengths(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[2], x[2];
	int round;

	for (round = 0; round < 3; round++) {
		memset(sg, 0, sizeof(sg));
		sg[0].phys = pa(f, 0, 0);
		sg[0].length = 100;
		sg[1].phys = pa(f, 1, 0);
		sg[1].length = 200;
		assert_int_equal(iovx_dma_map_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 2);
		assert_int_equal(dst(f).bounced, (uint64_t)round + 1);
		assert_in_pool(f, sg[0].dma_address, 100);
		memcpy(x, sg, sizeof(sg));
		x[0].length = x[0].dma_length = 200;
		x[1].length = x[1].dma_length = 100;
		assert_int_equal(iovx_dma_unmap_sg(f->dom, x, 2, IOVX_DMA_BIDIRECTIONAL, 0),
				 -EINVAL);
		assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, x, 2, IOVX_DMA_BIDIRECTIONAL),
				 -EINVAL);
		assert_int_equal(dst(f).live, 1);
		assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	}
	assert_int_equal(dst(f).bounce_fallbacks, 0);
}

/*
 * A bounced list whose second segment names another caller's live slot: -EINVAL; the other
 * caller's slot stays mapped and its data comes back to its buffer at its own unmap.
 */
static void test_misuse_bounce_other_slot(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg a[2], c[1], x[2];
	uint8_t w[300];

	memset(a, 0, sizeof(a));
	memset(c, 0, sizeof(c));
	a[0].phys = pa(f, 0, 0);
	a[0].length = 300;
	a[1].phys = pa(f, 1, 0);
	a[1].length = 300;
	c[0].phys = pa(f, 8, 0);
	c[0].length = 300;
	assert_int_equal(iovx_dma_map_sg(f->dom, a, 2, IOVX_DMA_FROM_DEVICE, 0), 2);
	assert_int_equal(iovx_dma_map_sg(f->dom, c, 1, IOVX_DMA_FROM_DEVICE, 0), 1);
	fill(w, sizeof(w), 77);
	assert_int_equal(iovx_sim_dev_write(f->sim, c[0].dma_address, w, sizeof(w), NULL), 0);
	memcpy(x, a, sizeof(a));
	x[1].dma_address = c[0].dma_address;
	assert_int_equal(iovx_dma_unmap_sg(f->dom, x, 2, IOVX_DMA_FROM_DEVICE, 0), -EINVAL);
	assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, x, 2, IOVX_DMA_FROM_DEVICE), -EINVAL);
	memcpy(x, c, sizeof(c));
	x[0].dma_address = a[1].dma_address;
	assert_int_equal(iovx_dma_unmap_sg(f->dom, x, 1, IOVX_DMA_FROM_DEVICE, 0), -ENOENT);
	assert_int_equal(dst(f).live, 2);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, c, 1, IOVX_DMA_FROM_DEVICE, 0), 0);
	assert_memory_equal(f->mem + 8 * PG, w, sizeof(w));
	assert_int_equal(iovx_dma_unmap_sg(f->dom, a, 2, IOVX_DMA_FROM_DEVICE, 0), 0);
	assert_int_equal(dst(f).live, 0);
}

/* The deferred fallback: its unmap queues, flush_deferred drains, data as before. */
static void test_deferred_fallback(void **state)
{
	struct fx *f = *state;
	uint64_t ds, db;
	uint8_t out[16];

	fill(f->mem, 4 * PG, 11);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 16), 64, IOVX_DMA_TO_DEVICE, 0,
					     &ds), 0);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 1, 0), PG, IOVX_DMA_TO_DEVICE, 0,
					     &db), 0);
	assert_in_pool(f, ds, 64);
	assert_int_equal(iovx_sim_dev_read(f->sim, db, out, sizeof(out), NULL), 0);
	assert_memory_equal(out, f->mem + PG, sizeof(out));
	assert_int_equal(iovx_dma_unmap_single(f->dom, ds, 64, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, db, PG, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_flush_deferred(f->dom), 0);
	assert_int_equal(dst(f).bounced, 1);
	assert_int_equal(dst(f).bounce_fallbacks, 1);
}

/* Destroy with bounced singles, a bounced sg list and a fallback mapping still live. */
static void test_destroy_with_live(void **state)
{
	struct iovx_sim *sim;
	struct iovx_sim_config sc;
	struct iovx_sim_stats st;
	struct iovx_dma_config c;
	struct iovx_dma_domain *d;
	struct iovx_dma_sg sg[2];
	uint8_t *mem = aligned_alloc(PG, 4 * PG);
	uint64_t a;

	iovx_sim_config_init(&sc);
	assert_int_equal(iovx_sim_create(&sc, &sim), 0);
	iovx_dma_config_init(&c, iovx_sim_iommu(sim), IOVX_DMA_MODE_BOUNCE);
	c.bounce_crossover = XOVER;
	assert_int_equal(iovx_dma_domain_create(&c, &d), 0);
	memset(mem, 0, 4 * PG);
	memset(sg, 0, sizeof(sg));
	sg[0].phys = (uintptr_t)mem;
	sg[0].length = 100;
	sg[1].phys = (uintptr_t)mem + PG;
	sg[1].length = 100;
	assert_int_equal(iovx_dma_map_single(d, (uintptr_t)mem + 2 * PG, 10,
					     IOVX_DMA_TO_DEVICE, 0, &a), 0);
	assert_int_equal(iovx_dma_map_sg(d, sg, 2, IOVX_DMA_FROM_DEVICE, 0), 2);
	assert_int_equal(iovx_dma_map_single(d, (uintptr_t)mem + 3 * PG, PG,
					     IOVX_DMA_TO_DEVICE, 0, &a), 0);
	assert_int_equal(iovx_dma_domain_destroy(d), 3);
	assert_int_equal(iovx_sim_get_stats(sim, &st), 0);
	assert_int_equal(st.i2_map_violations, 0);
	assert_int_equal(st.i2_table_violations, 0);
	assert_int_equal(st.tables_live, 1);
	iovx_sim_destroy(sim);
	free(mem);
}

/*
 * Bounce over reuse: a tagged buffer is served by the reuse table (mapped once by the strict
 * fallback, outside the pool, the same address every time, no copy), whatever its length;
 * untagged buffers bounce below the crossover and go strict above it; stop unmaps.
 */
static void test_reuse_fallback(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg t = { 0 }, u = { 0 };
	struct iovx_reuse_stats rs;
	struct iovx_dma_stats ds;
	uint64_t first = 0, inv0;
	uint8_t b[4];
	int i;

	t.phys = (uintptr_t)f->mem;
	t.length = 512;				/* would bounce if untagged */
	assert_int_equal(iovx_sg_mark_reusable(&t, 1), 0);
	for (i = 0; i < 8; i++) {
		assert_int_equal(iovx_dma_map_sg(f->dom, &t, 1, IOVX_DMA_TO_DEVICE, 0), 1);
		if (!i)
			first = t.dma_address;
		assert_int_equal(t.dma_address, first);
		f->mem[0] = (uint8_t)i;
		assert_int_equal(iovx_sim_dev_read(f->sim, t.dma_address, b, 1, NULL), 0);
		assert_int_equal(b[0], (uint8_t)i);	/* the buffer itself: no copy */
		assert_int_equal(iovx_dma_unmap_sg(f->dom, &t, 1, IOVX_DMA_TO_DEVICE, 0), 0);
	}
	assert_int_equal(iovx_dma_get_reuse_stats(f->dom, &rs), 0);
	assert_int_equal(rs.misses, 1);
	assert_int_equal(rs.hits, 7);
	assert_int_equal(iovx_dma_get_stats(f->dom, &ds), 0);
	assert_int_equal(ds.bounced, 0);

	/* untagged and short: bounced (a pool address, not the table's) */
	u.phys = (uintptr_t)f->mem + 4 * PG;
	u.length = 512;
	assert_int_equal(iovx_dma_map_sg(f->dom, &u, 1, IOVX_DMA_TO_DEVICE, 0), 1);
	assert_int_not_equal(u.dma_address, first);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, &u, 1, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_get_stats(f->dom, &ds), 0);
	assert_int_equal(ds.bounced, 1);

	/* stop: the strict fallback unmaps and invalidates; the device is shut out */
	inv0 = ds.syncs;
	assert_int_equal(iovx_sg_mark_stop_reuse(&t, 1), 1);
	assert_int_not_equal(iovx_sim_dev_read(f->sim, first, b, 1, NULL), 0);
	assert_int_equal(iovx_dma_get_stats(f->dom, &ds), 0);
	assert_true(ds.syncs > inv0);
	assert_int_equal(iovx_dma_get_reuse_stats(f->dom, &rs), 0);
	assert_int_equal(rs.entries, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_calibrated),
		cmocka_unit_test_setup_teardown(test_single_integrity, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_device_reaches_pool_only, setup_default,
						teardown),
		cmocka_unit_test_setup_teardown(test_fallback_above_crossover, setup_default,
						teardown),
		cmocka_unit_test_setup_teardown(test_exhaustion, setup_tiny, teardown),
		cmocka_unit_test_setup_teardown(test_sg_exhaustion, setup_tiny, teardown),
		cmocka_unit_test_setup_teardown(test_sg_integrity, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_misuse_bounce_lengths, setup_tiny, teardown),
		cmocka_unit_test_setup_teardown(test_misuse_bounce_other_slot, setup_default,
						teardown),
		cmocka_unit_test_setup_teardown(test_deferred_fallback, setup_deferred, teardown),
		cmocka_unit_test(test_destroy_with_live),
		cmocka_unit_test_setup_teardown(test_reuse_fallback, setup_reuse, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

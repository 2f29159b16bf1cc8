// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_dma.c - unit tests of the DMA facade (include/iovx/dma.h) on the software IOMMU:
 * every call and every documented errno (with "nothing changed" checked through the
 * facade's and the simulator's counters), data integrity in both directions through the
 * simulated device, sg merging, and the gather: exactly one range invalidation and one
 * sync per strict unmap_sg, counted by the simulator.
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

#include <iovx/dma.h>
#include <iovx/iova.h>
#include <iovx/reuse.h>
#include <iovx/sim.h>

#include "dma_fx.h"

#define PG FX_PG

static int setup_sim_order(void **state, enum iovx_dma_mode mode, unsigned int flags,
			   bool eager, unsigned int order)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;

	iovx_sim_config_init(&sc);
	sc.eager_table_free = eager;
	iovx_dma_config_init(&dc, NULL, mode);
	dc.flags = flags;
	if (order)
		dc.map_table_order = order;
	return fx_open(state, &sc, &dc);
}

static int setup_sim(void **state, enum iovx_dma_mode mode, unsigned int flags, bool eager)
{
	return setup_sim_order(state, mode, flags, eager, 0);
}

static int setup_mode(void **state, enum iovx_dma_mode mode, unsigned int flags)
{
	return setup_sim(state, mode, flags, false);
}

/* A 16-slot live-mapping table: every slot soon holds a tombstone. */
static int setup_strict_small(void **state)
{
	return setup_sim_order(state, IOVX_DMA_MODE_STRICT, 0, false, 4);
}

static int setup_strict(void **state)
{
	return setup_mode(state, IOVX_DMA_MODE_STRICT, 0);
}

/* Every unmap detaches the tables it empties: table pages take the I2 path each time. */
static int setup_strict_eager(void **state)
{
	return setup_sim(state, IOVX_DMA_MODE_STRICT, 0, true);
}

static int setup_nogather(void **state)
{
	return setup_mode(state, IOVX_DMA_MODE_STRICT, IOVX_DMA_F_NO_GATHER);
}

static int setup_pt(void **state)
{
	return setup_mode(state, IOVX_DMA_MODE_PASSTHROUGH, 0);
}

static int teardown(void **state)
{
	return fx_close(state);
}

static void test_create_errors(void **state)
{
	struct iovx_dma_config c;
	struct iovx_dma_domain *d = NULL;

	iovx_dma_config_init(&c, NULL, IOVX_DMA_MODE_STRICT);
	assert_int_equal(iovx_dma_domain_create(NULL, &d), -EINVAL);
	assert_int_equal(iovx_dma_domain_create(&c, NULL), -EINVAL);
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);	/* strict needs an IOMMU */
	c.mode = IOVX_DMA_MODE_REUSE;
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);	/* its strict base needs one */
	c.mode = IOVX_DMA_NR_MODES;
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);
	iovx_dma_config_init(&c, NULL, IOVX_DMA_MODE_PASSTHROUGH);
	c.flags = 0x80;
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);
	c.flags = 0;
	c.map_table_order = 3;
	assert_int_equal(iovx_dma_domain_create(&c, &d), -EINVAL);
	assert_null(d);
	c.map_table_order = 4;
	assert_int_equal(iovx_dma_domain_create(&c, &d), 0);
	assert_int_equal(iovx_dma_set_mask(NULL, 0), -EINVAL);
	assert_int_equal(iovx_dma_get_stats(d, NULL), -EINVAL);
	assert_int_equal(iovx_dma_domain_destroy(d), 0);
	assert_int_equal(iovx_dma_domain_destroy(NULL), -EINVAL);
}

static void test_strict_single_integrity(void **state)
{
	struct fx *f = *state;
	uint64_t dto, dfrom;
	uint8_t in[300], out[300];
	unsigned int i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 1);
	/* TO_DEVICE: the device reads what the CPU wrote; it may not write. */
	memcpy(f->mem + 100, in, sizeof(in));
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 100), sizeof(in),
					     IOVX_DMA_TO_DEVICE, 0, &dto), 0);
	assert_int_equal(dto & (PG - 1), 100);
	assert_int_not_equal(dto, pa(f, 0, 100));
	assert_int_equal(iovx_sim_dev_read(f->sim, dto, out, sizeof(out), NULL), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(iovx_sim_dev_write(f->sim, dto, out, 1, NULL), -EFAULT);
	/* FROM_DEVICE across a page boundary: the CPU sees what the device wrote. */
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 2, PG - 100), sizeof(in),
					     IOVX_DMA_FROM_DEVICE, 0, &dfrom), 0);
	assert_int_equal(iovx_sim_dev_write(f->sim, dfrom, in, sizeof(in), NULL), 0);
	assert_int_equal(iovx_sim_dev_read(f->sim, dfrom, out, 1, NULL), -EFAULT);
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, dfrom, sizeof(in),
						      IOVX_DMA_FROM_DEVICE), 0);
	assert_memory_equal(f->mem + 3 * PG - 100, in, sizeof(in));
	assert_int_equal(iovx_dma_sync_single_for_device(f->dom, dfrom, 10,
							 IOVX_DMA_FROM_DEVICE), 0);
	assert_int_equal(dst(f).live, 2);

	/* Strict unmap: one range invalidation, one sync; the device can reach nothing. */
	{
		struct iovx_sim_stats a = sst(f), b;

		assert_int_equal(iovx_dma_unmap_single(f->dom, dfrom, sizeof(in),
						       IOVX_DMA_FROM_DEVICE, 0), 0);
		b = sst(f);
		assert_int_equal(b.tlbi_range - a.tlbi_range, 1);
		assert_int_equal(b.syncs - a.syncs, 1);
	}
	assert_int_equal(iovx_sim_dev_write(f->sim, dfrom, in, 1, NULL), -EFAULT);
	assert_false(iovx_sim_iotlb_holds(f->sim, dfrom));
	assert_int_equal(iovx_dma_unmap_single(f->dom, dto, sizeof(in), IOVX_DMA_TO_DEVICE, 0),
			 0);
	assert_int_equal(iovx_sim_dev_read(f->sim, dto, out, 1, NULL), -EFAULT);
	assert_int_equal(dst(f).live, 0);
	assert_int_equal(dst(f).maps, 2);
	assert_int_equal(dst(f).unmaps, 2);
	/* The tables stay while the domain lives (io-pgtable-arm); teardown checks they go. */
	{
		struct iovx_sim_stats st = sst(f);

		assert_int_equal(st.tables_emptied, 0);
		assert_true(st.tables_live > 1);
	}
}

/* Every bad input: its errno, and nothing changes (facade, IOMMU, sg list). */
static void test_single_errors(void **state)
{
	struct fx *f = *state;
	struct iovx_sim_stats s0, s1;
	uint64_t dma = 0x1234, good;

	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 1, 0), 64, IOVX_DMA_BIDIRECTIONAL, 0,
					     &good), 0);
	s0 = sst(f);
	assert_int_equal(iovx_dma_map_single(NULL, pa(f, 0, 0), 1, 0, 0, &dma), -EINVAL);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 0), 1, 0, 0, NULL), -EINVAL);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 0), 0, 0, 0, &dma), -EINVAL);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 0), 1, IOVX_DMA_NONE, 0, &dma),
			 -EINVAL);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 0), 1, (enum iovx_dma_dir)7, 0,
					     &dma), -EINVAL);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 0), 1, 0, 1u << 20, &dma),
			 -EINVAL);
	assert_int_equal(iovx_dma_map_single(f->dom, UINT64_MAX - 10, 100, 0, 0, &dma),
			 -EOVERFLOW);
	assert_int_equal(iovx_dma_map_single(f->dom, 1ull << 60, 100, 0, 0, &dma), -ERANGE);
	assert_int_equal(dma, 0x1234);
	/* Unmap errors. */
	assert_int_equal(iovx_dma_unmap_single(f->dom, good + PG, 64, 0, 0), -ENOENT);
	assert_int_equal(iovx_dma_unmap_single(f->dom, good, 65, 0, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_single(f->dom, good, 64, IOVX_DMA_TO_DEVICE, 0),
			 -EINVAL);
	assert_int_equal(iovx_dma_unmap_single(f->dom, good, 0, 0, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_single(f->dom, good, 64, 3, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_single(f->dom, UINT64_MAX - 1, 64, 0, 0), -EOVERFLOW);
	assert_int_equal(iovx_dma_unmap_single(NULL, good, 64, 0, 0), -EINVAL);
	/* Sync errors. */
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, good, 65, 0), -EINVAL);
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, good, 64, 1), -EINVAL);
	assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, good + 1, 8, 0), -ENOENT);
	assert_int_equal(iovx_dma_sync_single_for_device(f->dom, good, 0, 0), -EINVAL);
	assert_int_equal(iovx_dma_sync_single_for_device(NULL, good, 1, 0), -EINVAL);
	s1 = sst(f);
	assert_int_equal(s1.maps, s0.maps);
	assert_int_equal(s1.map_errors, s0.map_errors);
	assert_int_equal(s1.unmaps, s0.unmaps);
	assert_int_equal(s1.syncs, s0.syncs);
	assert_int_equal(dst(f).live, 1);
	assert_int_equal(dst(f).errors, 17);	/* NULL domains are not counted */
	assert_int_equal(iovx_sim_dev_read(f->sim, good, &dma, 8, NULL), 0);	/* still live */
	assert_int_equal(iovx_dma_unmap_single(f->dom, good, 64, 0, 0), 0);
	/* An unmapped address stays unmappable only once. */
	assert_int_equal(iovx_dma_unmap_single(f->dom, good, 64, 0, 0), -ENOENT);
}

static void test_mask(void **state)
{
	struct fx *f = *state;
	uint64_t dma;

	assert_int_equal(iovx_dma_set_mask(f->dom, (1ull << 32) - 1), 0);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 0), 8 * PG, 0, 0, &dma), 0);
	assert_true(dma + 8 * PG - 1 <= 0xffffffffull);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dma, 8 * PG, 0, 0), 0);
	/* A mask too small for the buffer: no IOVA space. */
	assert_int_equal(iovx_dma_set_mask(f->dom, 0xfff), 0);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 0), 2 * PG, 0, 0, &dma), -ENOMEM);
	assert_int_equal(iovx_dma_set_mask(f->dom, 0), 0);
}

static void fill_sg16(struct fx *f, struct iovx_dma_sg *sg)
{
	unsigned int i;

	/* 16 segments on every other page: no two physically contiguous. */
	memset(sg, 0, 16 * sizeof(*sg));
	for (i = 0; i < 16; i++) {
		sg[i].phys = pa(f, 2 * i, 0);
		sg[i].offset = 0;
		sg[i].length = PG;
	}
}

static void test_strict_sg_gather(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[16];
	struct iovx_sim_stats a, b;
	uint8_t buf[64];
	int n, i;

	fill_sg16(f, sg);
	for (i = 0; i < 16; i++)
		memset(f->mem + 2 * i * PG, i + 1, PG);
	a = sst(f);
	n = iovx_dma_map_sg(f->dom, sg, 16, IOVX_DMA_BIDIRECTIONAL, 0);
	b = sst(f);
	/* One IOVA range: all segments merge into one DMA segment of 64 KiB. */
	assert_int_equal(n, 1);
	assert_int_equal(sg[0].dma_length, 16 * PG);
	assert_int_equal(sg[1].dma_length, 0);
	assert_int_equal(b.maps - a.maps, 16);	/* no physically contiguous runs */
	/* The device sees the segments back to back. */
	assert_int_equal(iovx_sim_dev_read(f->sim, sg[0].dma_address + PG - 8, buf, 16, NULL), 0);
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[8], 2);
	assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, sg, 16, IOVX_DMA_BIDIRECTIONAL), 0);
	assert_int_equal(iovx_dma_sync_sg_for_device(f->dom, sg, 16, IOVX_DMA_BIDIRECTIONAL), 0);
	a = sst(f);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 16, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	b = sst(f);
	/* The target: exactly one sync (and one range invalidation) per strict unmap_sg. */
	assert_int_equal(b.syncs - a.syncs, 1);
	assert_int_equal(b.tlbi_range - a.tlbi_range, 1);
	assert_int_equal(b.unmaps - a.unmaps, 1);
	assert_int_equal(iovx_sim_dev_read(f->sim, sg[0].dma_address, buf, 1, NULL), -EFAULT);
	assert_int_equal(dst(f).syncs, 1);
}

static void test_nogather_baseline(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[16];
	struct iovx_sim_stats a, b;

	fill_sg16(f, sg);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 16, IOVX_DMA_TO_DEVICE, 0), 1);
	a = sst(f);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 16, IOVX_DMA_TO_DEVICE, 0), 0);
	b = sst(f);
	assert_int_equal(b.syncs - a.syncs, 16);
	assert_int_equal(b.tlbi_range - a.tlbi_range, 16);
	/* The modelled cost: gathered 1 walk+16 PTE+2 cmd+sync vs 16 x (walk+PTE+2 cmd+sync). */
	assert_true(b.model_ns - a.model_ns >= 16 * (1800 + 500 + 500 + 2500));
}

static void test_sg_merge_and_integrity(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[4];
	struct iovx_sim_stats a, b;
	uint8_t in[256], out[64];
	unsigned int i;
	int n;

	memset(sg, 0, sizeof(sg));
	/* pages 4,5 contiguous (one IOMMU call), a sub-page piece, then a page at offset 0. */
	sg[0].phys = pa(f, 4, 0);
	sg[0].length = PG;
	sg[1].phys = pa(f, 5, 0);
	sg[1].length = PG;
	sg[2].phys = pa(f, 9, 0);
	sg[2].offset = 100;
	sg[2].length = 50;
	sg[3].phys = pa(f, 11, 0);
	sg[3].length = 200;
	a = sst(f);
	n = iovx_dma_map_sg(f->dom, sg, 4, IOVX_DMA_FROM_DEVICE, 0);
	b = sst(f);
	assert_int_equal(b.maps - a.maps, 3);
	/* [0,1] merge; [2] starts at offset 100: new; [3] follows a piece not ending on a page. */
	assert_int_equal(n, 3);
	assert_int_equal(sg[0].dma_length, 2 * PG);
	assert_int_equal(sg[1].dma_length, 50);
	assert_int_equal(sg[1].dma_address & (PG - 1), 100);
	assert_int_equal(sg[2].dma_length, 200);
	assert_int_equal(sg[3].dma_length, 0);
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i ^ 0x5c);
	assert_int_equal(iovx_sim_dev_write(f->sim, sg[0].dma_address + PG - 100, in, 200, NULL),
			 0);
	assert_memory_equal(f->mem + 5 * PG - 100, in, 200);
	assert_int_equal(iovx_sim_dev_write(f->sim, sg[1].dma_address, in, 50, NULL), 0);
	assert_memory_equal(f->mem + 9 * PG + 100, in, 50);
	assert_int_equal(iovx_sim_dev_write(f->sim, sg[2].dma_address, in, 200, NULL), 0);
	assert_memory_equal(f->mem + 11 * PG, in, 200);
	assert_int_equal(iovx_sim_dev_read(f->sim, sg[2].dma_address, out, 1, NULL), -EFAULT);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 4, IOVX_DMA_FROM_DEVICE, 0), 0);
}

static void test_sg_errors(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[16], copy[16];
	struct iovx_sim_stats s0, s1;

	fill_sg16(f, sg);
	memcpy(copy, sg, sizeof(sg));
	s0 = sst(f);
	assert_int_equal(iovx_dma_map_sg(NULL, sg, 16, 0, 0), -EINVAL);
	assert_int_equal(iovx_dma_map_sg(f->dom, NULL, 16, 0, 0), -EINVAL);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 0, 0, 0), -EINVAL);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, -1, 0, 0), -EINVAL);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, IOVX_DMA_MAX_SEGS + 1, 0, 0), -EINVAL);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 16, 3, 0), -EINVAL);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 16, 0, 1u << 30), -EINVAL);
	sg[7].length = 0;
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 16, 0, 0), -EINVAL);
	sg[7].length = PG;
	sg[9].phys = UINT64_MAX - 100;
	sg[9].offset = 200;
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 16, 0, 0), -EOVERFLOW);
	sg[9].offset = 0;
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 16, 0, 0), -EOVERFLOW);
	sg[9].phys = 1ull << 55;
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 16, 0, 0), -ERANGE);
	sg[9].phys = copy[9].phys;
	assert_memory_equal(sg, copy, sizeof(sg));	/* dma fields untouched */
	s1 = sst(f);
	assert_int_equal(s1.maps, s0.maps);
	assert_int_equal(s1.map_errors, s0.map_errors);

	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 16, IOVX_DMA_TO_DEVICE, 0), 1);
	s0 = sst(f);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 15, IOVX_DMA_TO_DEVICE, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 16, IOVX_DMA_FROM_DEVICE, 0), -EINVAL);
	sg[3].length = 100;
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 16, IOVX_DMA_TO_DEVICE, 0), -EINVAL);
	assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, sg, 16, IOVX_DMA_TO_DEVICE), -EINVAL);
	sg[3].length = PG;
	sg[0].dma_address += PG;
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 16, IOVX_DMA_TO_DEVICE, 0), -ENOENT);
	assert_int_equal(iovx_dma_sync_sg_for_device(f->dom, sg, 16, IOVX_DMA_TO_DEVICE),
			 -ENOENT);
	sg[0].dma_address -= PG;
	s1 = sst(f);
	assert_int_equal(s1.unmaps, s0.unmaps);
	assert_int_equal(s1.syncs, s0.syncs);
	assert_int_equal(dst(f).live, 1);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 16, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 16, IOVX_DMA_TO_DEVICE, 0), -ENOENT);
}

/* ---------------------------------------------------------------- misuse */

/* The device reads the len bytes at dma and finds cpu's. */
static void dev_sees(struct fx *f, uint64_t dma, const uint8_t *cpu, size_t len)
{
	static uint8_t buf[2 * 4096];	/* off the stack (-Wframe-larger-than) */

	assert_true(len <= sizeof(buf));
	assert_int_equal(iovx_sim_dev_read(f->sim, dma, buf, len, NULL), 0);
	assert_memory_equal(buf, cpu, len);
}

/*
 * An unmap or sync naming a DMA address near 2^64 (where the live-mapping table's key would
 * wrap into its markers), near 0, or beyond the IOVA space: -ENOENT (or -EOVERFLOW when
 * address + length wraps for a single buffer), and nothing changes, also with every slot of
 * a small table a tombstone whose old record matches the call.
 */
static void test_misuse_dma_range(void **state)
{
	static const uint64_t bad[] = { UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 2,
					UINT64_MAX - 3, UINT64_MAX - 4096, 1ull << 63,
					1ull << 48, 0, 1 };
	struct fx *f = *state;
	struct iovx_dma_sg sg[1], live[1], x[1];
	struct iovx_sim_stats s0, s1;
	struct iovx_dma_stats d0, d1;
	uint64_t dma;
	unsigned int i;

	/* Tombstones with this very record everywhere in the 16-slot table. */
	for (i = 0; i < 40; i++) {
		memset(sg, 0, sizeof(sg));
		sg[0].phys = pa(f, i % 8, 0);
		sg[0].length = PG;
		assert_int_equal(iovx_dma_map_sg(f->dom, sg, 1, IOVX_DMA_TO_DEVICE, 0), 1);
		assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 1, IOVX_DMA_TO_DEVICE, 0), 0);
	}
	memset(live, 0, sizeof(live));
	live[0].phys = pa(f, 9, 0);
	live[0].length = PG;
	assert_int_equal(iovx_dma_map_sg(f->dom, live, 1, IOVX_DMA_TO_DEVICE, 0), 1);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 10, 0), PG, IOVX_DMA_TO_DEVICE, 0,
					     &dma), 0);
	s0 = sst(f);
	d0 = dst(f);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int single = bad[i] + PG < bad[i] ? -EOVERFLOW : -ENOENT;

		x[0] = live[0];
		x[0].dma_address = bad[i];
		assert_int_equal(iovx_dma_unmap_sg(f->dom, x, 1, IOVX_DMA_TO_DEVICE, 0), -ENOENT);
		assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, x, 1, IOVX_DMA_TO_DEVICE),
				 -ENOENT);
		assert_int_equal(iovx_dma_sync_sg_for_device(f->dom, x, 1, IOVX_DMA_TO_DEVICE),
				 -ENOENT);
		assert_int_equal(iovx_dma_unmap_single(f->dom, bad[i], PG, IOVX_DMA_TO_DEVICE, 0),
				 single);
		assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, bad[i], PG,
							      IOVX_DMA_TO_DEVICE), single);
		assert_int_equal(iovx_dma_sync_single_for_cpu(f->dom, bad[i], 1,
							      IOVX_DMA_TO_DEVICE),
				 bad[i] == UINT64_MAX ? -EOVERFLOW : -ENOENT);
	}
	s1 = sst(f);
	d1 = dst(f);
	assert_int_equal(d1.live, d0.live);
	assert_int_equal(d1.unmaps, d0.unmaps);
	assert_int_equal(s1.unmaps, s0.unmaps);		/* no IOMMU command on nothing */
	assert_int_equal(s1.syncs, s0.syncs);
	assert_int_equal(s1.tlbi_range, s0.tlbi_range);
	dev_sees(f, live[0].dma_address, f->mem + 9 * PG, PG);
	dev_sees(f, dma, f->mem + 10 * PG, PG);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, live, 1, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dma, PG, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(dst(f).live, 0);
}

/*
 * An sg unmap whose list keeps nents, direction, total length and the first DMA address,
 * but moves a segment's in-page offset (which would widen the IOVA span into a neighbour),
 * or names other DMA entries or attrs: -EINVAL, nothing changes, and the neighbour's
 * translation and IOVA stay; the true list then unmaps.
 */
static void test_misuse_sg_fields(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg a[2], x[2];
	struct iovx_sim_stats s0, s1;
	uint64_t b, b2, nb[16];
	unsigned int i;

	memset(a, 0, sizeof(a));
	a[0].phys = pa(f, 0, 0);
	a[0].length = 2048;
	a[1].phys = pa(f, 2, 0);
	a[1].length = PG;
	assert_int_equal(iovx_dma_map_sg(f->dom, a, 2, IOVX_DMA_TO_DEVICE,
					 IOVX_DMA_ATTR_WEAK_ORDERING), 2);
	/* The neighbour: a 2-granule mapping right after a's 2-granule IOVA range. */
	for (i = 0; i < 16; i++) {
		assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 20, 0), 2 * PG,
						     IOVX_DMA_TO_DEVICE, 0, &nb[i]), 0);
		if (nb[i] == (a[0].dma_address & ~(PG - 1)) + 2 * PG)
			break;
	}
	assert_true(i < 16);
	b = nb[i];
	while (i--)
		assert_int_equal(iovx_dma_unmap_single(f->dom, nb[i], 2 * PG,
						       IOVX_DMA_TO_DEVICE, 0), 0);
	s0 = sst(f);
	for (i = 0; i < 7; i++) {
		memcpy(x, a, sizeof(a));
		switch (i) {
		case 0:			/* span 3 granules: would reach b's first page */
			x[0].offset = 3072;
			break;
		case 1:			/* same total, lengths moved between entries */
			x[0].length = PG;
			x[1].length = 2048;
			break;
		case 2:
			x[1].dma_address += PG;
			break;
		case 3:
			x[1].dma_length = 2048;
			break;
		case 4:
			x[1].phys = pa(f, 3, 0);
			break;
		case 5:			/* a zero-length entry: an unmap reads, never maps */
			x[1].length = 0;
			break;
		default:
			x[1].phys = UINT64_MAX - 10;
			x[1].offset = 100;
			break;
		}
		assert_int_equal(iovx_dma_unmap_sg(f->dom, x, 2, IOVX_DMA_TO_DEVICE,
						   IOVX_DMA_ATTR_WEAK_ORDERING), -EINVAL);
		assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, x, 2, IOVX_DMA_TO_DEVICE),
				 -EINVAL);
	}
	/* Other mapping attrs: -EINVAL; SKIP_CPU_SYNC is per call. */
	assert_int_equal(iovx_dma_unmap_sg(f->dom, a, 2, IOVX_DMA_TO_DEVICE, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, a, 2, IOVX_DMA_TO_DEVICE,
					   IOVX_DMA_ATTR_PRIVILEGED |
					   IOVX_DMA_ATTR_WEAK_ORDERING), -EINVAL);
	s1 = sst(f);
	assert_int_equal(s1.unmaps, s0.unmaps);
	assert_int_equal(s1.syncs, s0.syncs);
	assert_int_equal(dst(f).live, 2);
	dev_sees(f, b, f->mem + 20 * PG, 2 * PG);
	dev_sees(f, a[0].dma_address, f->mem, 2048);
	dev_sees(f, a[1].dma_address, f->mem + 2 * PG, PG);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, a, 2, IOVX_DMA_TO_DEVICE,
					   IOVX_DMA_ATTR_WEAK_ORDERING |
					   IOVX_DMA_ATTR_SKIP_CPU_SYNC), 0);
	/* b's IOVA was never freed: a new map does not alias it, and b still works. */
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 30, 0), PG, IOVX_DMA_TO_DEVICE, 0,
					     &b2), 0);
	assert_true(b2 + PG <= b || b2 >= b + 2 * PG);
	dev_sees(f, b, f->mem + 20 * PG, 2 * PG);
	assert_int_equal(iovx_dma_unmap_single(f->dom, b2, PG, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, b, 2 * PG, IOVX_DMA_TO_DEVICE, 0), 0);
}

/* Passthrough keeps the same record: a list that disagrees with it is -EINVAL. */
static void test_misuse_sg_passthrough(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg a[3], x[3];

	memset(a, 0, sizeof(a));
	a[0].phys = pa(f, 0, 0);
	a[0].length = 100;
	a[1].phys = pa(f, 4, 0);
	a[1].length = 200;
	a[2].phys = pa(f, 8, 0);
	a[2].length = 300;
	assert_int_equal(iovx_dma_map_sg(f->dom, a, 3, IOVX_DMA_FROM_DEVICE, 0), 3);
	memcpy(x, a, sizeof(a));
	x[2].dma_address = x[2].phys = pa(f, 9, 0);	/* consistent with itself, not the map */
	assert_int_equal(iovx_dma_unmap_sg(f->dom, x, 3, IOVX_DMA_FROM_DEVICE, 0), -EINVAL);
	memcpy(x, a, sizeof(a));
	x[1].length = x[1].dma_length = 201;
	assert_int_equal(iovx_dma_sync_sg_for_device(f->dom, x, 3, IOVX_DMA_FROM_DEVICE),
			 -EINVAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, x, 2, IOVX_DMA_FROM_DEVICE, 0), -EINVAL);
	assert_int_equal(dst(f).live, 1);
	assert_int_equal(iovx_dma_sync_sg_for_device(f->dom, a, 3, IOVX_DMA_FROM_DEVICE), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, a, 3, IOVX_DMA_FROM_DEVICE, 0), 0);
	assert_int_equal(dst(f).live, 0);
}

static void test_sync_failure_leaks(void **state)
{
	struct fx *f = *state;
	uint64_t dma, dma2;

	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 0), 3 * PG, 0, 0, &dma), 0);
	iovx_sim_fail_syncs(f->sim, 1, -EIO);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dma, 3 * PG, 0, 0), -EIO);
	assert_int_equal(dst(f).live, 0);
	assert_int_equal(dst(f).leaked_pages, 3);
	assert_int_equal(dst(f).leaked_tables, 3);
	/* The leaked range is never handed out again. */
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 0, 0), 3 * PG, 0, 0, &dma2), 0);
	assert_int_not_equal(dma2 & ~(PG - 1), dma & ~(PG - 1));
	assert_int_equal(iovx_dma_unmap_single(f->dom, dma2, 3 * PG, 0, 0), 0);
}

static void test_passthrough(void **state)
{
	struct fx *f = *state;
	struct iovx_dma_sg sg[3];
	struct iovx_sim_stats a = sst(f), b;
	uint64_t dma, dma2;

	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 1, 5), 100, 1, 0, &dma), 0);
	assert_int_equal(dma, pa(f, 1, 5));
	/* The same buffer twice: both live, each unmapped once. */
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 1, 5), 100, 1, 0, &dma2), 0);
	assert_int_equal(dst(f).live, 2);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dma, 50, 1, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dma, 100, 1, 0), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dma2, 100, 1, 0), 0);
	assert_int_equal(iovx_dma_unmap_single(f->dom, dma2, 100, 1, 0), -ENOENT);
	/* Beyond the mask: -ERANGE; the same buffer fits a 64-bit mask. */
	assert_int_equal(iovx_dma_set_mask(f->dom, 0xffff), 0);
	assert_int_equal(iovx_dma_map_single(f->dom, pa(f, 1, 5), 100, 1, 0, &dma), -ERANGE);
	memset(sg, 0, sizeof(sg));
	sg[0].phys = pa(f, 0, 0);
	sg[0].length = 10;
	sg[1].phys = pa(f, 3, 0);
	sg[1].offset = 7;
	sg[1].length = 20;
	sg[2].phys = pa(f, 4, 0);
	sg[2].length = PG;
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 3, 0, 0), -ERANGE);
	assert_int_equal(sg[0].dma_address, 0);
	assert_int_equal(iovx_dma_set_mask(f->dom, 0), 0);
	assert_int_equal(iovx_dma_map_sg(f->dom, sg, 3, 0, 0), 3);
	assert_int_equal(sg[1].dma_address, pa(f, 3, 7));
	assert_int_equal(sg[1].dma_length, 20);
	assert_int_equal(iovx_dma_sync_sg_for_cpu(f->dom, sg, 3, 0), 0);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 2, 0, 0), -EINVAL);
	assert_int_equal(iovx_dma_unmap_sg(f->dom, sg, 3, 0, 0), 0);
	b = sst(f);
	/* Passthrough does no IOMMU work at all. */
	assert_int_equal(b.maps, a.maps);
	assert_int_equal(b.syncs, a.syncs);
	assert_int_equal(dst(f).live, 0);
}

static void test_destroy_with_live(void **state)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
	uint8_t *mem = aligned_alloc(PG, 4 * PG);
	struct iovx_sim_stats st;
	uint64_t dma;

	iovx_sim_config_init(&sc);
	assert_int_equal(iovx_sim_create(&sc, &sim), 0);
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_STRICT);
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), 0);
	assert_int_equal(iovx_dma_map_single(dom, (uintptr_t)mem, 4 * PG, 0, 0, &dma), 0);
	assert_int_equal(iovx_dma_map_single(dom, (uintptr_t)mem, 8, 0, 0, &dma), 0);
	assert_int_equal(iovx_dma_domain_destroy(dom), 2);
	assert_int_equal(iovx_sim_get_stats(sim, &st), 0);
	assert_int_equal(st.tables_live, 1);
	assert_int_equal(iovx_sim_iova_to_phys(sim, dma, NULL, NULL), -ENOENT);
	iovx_sim_destroy(sim);
	free(mem);
}

/*
 * Reserved ranges (an MSI window, the space below an aperture): never handed out, however
 * full the space gets; bad ranges are rejected before anything is created.
 */
static void test_reserved_ranges(void **state)
{
	const uint64_t lo = 0x100000, hi = 0xf00000;	/* reserved: [lo, hi) of 16 MiB */
	struct iovx_dma_range r[2] = { { lo, hi - lo - 0x800 }, { hi - 0x1000, 0x10 } };
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom = NULL;
	uint8_t *mem = aligned_alloc(PG, 4 * PG);
	uint64_t dma, pages = 0;
	int ret;

	(void)state;
	iovx_sim_config_init(&sc);
	assert_int_equal(iovx_sim_create(&sc, &sim), 0);
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_STRICT);
	dc.dma_mask = (1ull << 24) - 1;
	dc.nr_reserved = 1;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), -EINVAL);	/* NULL ranges */
	dc.reserved = r;
	dc.nr_reserved = IOVX_DMA_MAX_RESERVED + 1;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), -EINVAL);
	dc.nr_reserved = 2;
	r[1].size = 0;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), -EINVAL);
	r[1].size = UINT64_MAX;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), -EINVAL);	/* wraps */
	assert_null(dom);
	/* Unaligned ends widen to whole granules: [lo, hi) in all. */
	r[1].size = 0x10;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), 0);
	for (;;) {
		ret = iovx_dma_map_single(dom, (uintptr_t)mem, 4 * PG, IOVX_DMA_TO_DEVICE, 0,
					  &dma);
		if (ret)
			break;
		assert_true(dma + 4 * PG <= lo || dma >= hi);
		assert_true(dma + 4 * PG - 1 <= dc.dma_mask);
		pages += 4;
	}
	assert_int_equal(ret, -ENOMEM);
	/* What is left outside [lo, hi) below the mask (less pfn 0) was handed out. */
	assert_true(pages > ((1ull << 24) - (hi - lo)) / PG / 2);
	assert_true(pages <= ((1ull << 24) - (hi - lo)) / PG);
	assert_int_equal(iovx_dma_domain_destroy(dom), (int)(pages / 4));
	iovx_sim_destroy(sim);
	free(mem);
}

/*
 * A borrowed IOVA domain (cfg->iova_domain): the facade allocates beside the space's owner,
 * never over the owner's ranges; destroy gives back exactly what the facade held (live
 * single and sg mappings, a reuse table's entries, a deferred base's queue) and unmaps it,
 * and leaves the owner's ranges and the IOVA domain alive.
 */
static void test_borrowed_iova(void **state)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_iova_config ic;
	struct iovx_iova_domain *iovad;
	struct iovx_iova_stats is;
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom = NULL, *rdom = NULL;
	struct iovx_dma_range r = { 0x100000, 0x1000 };
	struct iovx_dma_sg sg[3], tg[2];
	uint8_t *mem = aligned_alloc(PG, 8 * PG);
	uint64_t dma, d1, d2, phys, live;
	int64_t owner;
	int n, i;

	(void)state;
	iovx_sim_config_init(&sc);
	assert_int_equal(iovx_sim_create(&sc, &sim), 0);
	iovx_iova_config_init(&ic, 1, 1ull << (48 - 12));
	assert_int_equal(iovx_iova_domain_create(&ic, &iovad), 0);
	owner = iovx_iova_alloc(iovad, 16, IOVX_IOVA_NO_LIMIT);	/* the owner's own range */
	assert_true(owner > 0);

	/* What a borrowed space cannot do; nothing is created. */
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_PASSTHROUGH);
	dc.iova_domain = iovad;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), -EINVAL);
	dc.mode = IOVX_DMA_MODE_BOUNCE;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), -EINVAL);
	dc.mode = IOVX_DMA_MODE_STRICT;
	dc.reserved = &r;
	dc.nr_reserved = 1;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), -EINVAL);
	assert_null(dom);
	assert_int_equal(iovx_iova_get_stats(iovad, &is), 0);
	assert_int_equal(is.live, 16);
	dc.reserved = NULL;
	dc.nr_reserved = 0;

	/* Strict in the borrowed space: its ranges come from iovad, beside the owner's. */
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), 0);
	assert_int_equal(iovx_dma_map_single(dom, (uintptr_t)mem + 8, 2 * PG, IOVX_DMA_TO_DEVICE,
					     0, &dma), 0);
	assert_true((dma >> 12) + 3 <= (uint64_t)owner || (dma >> 12) >= (uint64_t)owner + 16);
	assert_int_equal(iovx_sim_iova_to_phys(sim, dma, &phys, NULL), 0);
	assert_int_equal(phys, (uintptr_t)mem + 8);
	memset(sg, 0, sizeof(sg));
	for (i = 0; i < 3; i++) {
		sg[i].phys = (uintptr_t)mem + (uint64_t)(2 * i + 1) * PG;
		sg[i].offset = 16;
		sg[i].length = 100;
	}
	n = iovx_dma_map_sg(dom, sg, 3, IOVX_DMA_BIDIRECTIONAL, 0);
	assert_true(n > 0);
	assert_int_equal(iovx_iova_get_stats(iovad, &is), 0);
	assert_true(is.live >= 16 + 3 + 3);	/* ranges round up to a power of two */
	live = is.live;

	/* A reuse domain in the same space: a tagged list is mapped once, then hits. */
	dc.mode = IOVX_DMA_MODE_REUSE;
	dc.reuse_table_order = 2;
	assert_int_equal(iovx_dma_domain_create(&dc, &rdom), 0);
	memset(tg, 0, sizeof(tg));
	tg[0].phys = (uintptr_t)mem;
	tg[0].length = PG;
	tg[1].phys = (uintptr_t)mem + 4 * PG;
	tg[1].length = PG;
	assert_int_equal(iovx_sg_mark_reusable(tg, 2), 0);
	assert_true(iovx_dma_map_sg(rdom, tg, 2, IOVX_DMA_TO_DEVICE, 0) > 0);
	d1 = tg[0].dma_address;
	assert_int_equal(iovx_dma_unmap_sg(rdom, tg, 2, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_true(iovx_dma_map_sg(rdom, tg, 2, IOVX_DMA_TO_DEVICE, 0) > 0);
	d2 = tg[0].dma_address;
	assert_int_equal(d1, d2);
	assert_int_equal(iovx_dma_unmap_sg(rdom, tg, 2, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_iova_get_stats(iovad, &is), 0);
	assert_int_equal(is.live, live + 2);	/* one entry, held after its unmap */

	/*
	 * Destroy: the live mappings (strict: 2; reuse: an idle entry, no reference) are
	 * unmapped and their IOVAs come back; the owner's range and iovad stay.
	 */
	assert_int_equal(iovx_dma_domain_destroy(rdom), 0);
	assert_int_equal(iovx_sim_iova_to_phys(sim, d1, NULL, NULL), -ENOENT);
	assert_int_equal(iovx_dma_domain_destroy(dom), 2);
	assert_int_equal(iovx_sim_iova_to_phys(sim, dma, NULL, NULL), -ENOENT);
	assert_int_equal(iovx_sim_iova_to_phys(sim, sg[0].dma_address, NULL, NULL), -ENOENT);
	assert_int_equal(iovx_iova_audit(iovad, &is), 0);
	assert_int_equal(is.live, 16);

	/* Deferred base: a live mapping at destroy is queued, flushed, and its IOVA back. */
	dc.mode = IOVX_DMA_MODE_DEFERRED;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), 0);
	assert_int_equal(iovx_dma_map_single(dom, (uintptr_t)mem, PG, IOVX_DMA_TO_DEVICE, 0,
					     &dma), 0);
	assert_int_equal(iovx_dma_map_single(dom, (uintptr_t)mem + PG, PG, IOVX_DMA_TO_DEVICE, 0,
					     &d1), 0);
	assert_int_equal(iovx_dma_unmap_single(dom, d1, PG, IOVX_DMA_TO_DEVICE, 0), 0);
	assert_int_equal(iovx_dma_domain_destroy(dom), 1);
	assert_int_equal(iovx_sim_iova_to_phys(sim, dma, NULL, NULL), -ENOENT);
	assert_int_equal(iovx_sim_iova_to_phys(sim, d1, NULL, NULL), -ENOENT);
	assert_int_equal(iovx_iova_audit(iovad, &is), 0);
	assert_int_equal(is.live, 16);
	assert_int_equal(iovx_iova_free(iovad, (uint64_t)owner, 16), 0);
	iovx_iova_domain_destroy(iovad);
	iovx_sim_destroy(sim);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_destroy_with_live),
		cmocka_unit_test(test_reserved_ranges),
		cmocka_unit_test(test_borrowed_iova),
		cmocka_unit_test_setup_teardown(test_strict_single_integrity, setup_strict,
						teardown),
		cmocka_unit_test_setup_teardown(test_single_errors, setup_strict, teardown),
		cmocka_unit_test_setup_teardown(test_mask, setup_strict, teardown),
		cmocka_unit_test_setup_teardown(test_strict_sg_gather, setup_strict, teardown),
		cmocka_unit_test_setup_teardown(test_nogather_baseline, setup_nogather, teardown),
		cmocka_unit_test_setup_teardown(test_sg_merge_and_integrity, setup_strict,
						teardown),
		cmocka_unit_test_setup_teardown(test_sg_errors, setup_strict, teardown),
		cmocka_unit_test_setup_teardown(test_sync_failure_leaks, setup_strict_eager,
						teardown),
		cmocka_unit_test_setup_teardown(test_passthrough, setup_pt, teardown),
		cmocka_unit_test_setup_teardown(test_misuse_dma_range, setup_strict_small,
						teardown),
		cmocka_unit_test_setup_teardown(test_misuse_sg_fields, setup_strict, teardown),
		cmocka_unit_test_setup_teardown(test_misuse_sg_passthrough, setup_pt, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

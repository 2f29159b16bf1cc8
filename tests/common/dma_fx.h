/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * dma_fx.h - the DMA facade tests' fixture (CMocka unit tests only: its checks are CMocka
 * asserts): a software IOMMU, one DMA domain over it, 64 pages of host memory, and the
 * closing checks every such test ends with — nothing leaked, no I2 violation, every
 * page-table page but the root released.
 */
#ifndef IOVX_TESTS_DMA_FX_H
#define IOVX_TESTS_DMA_FX_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <iovx/dma.h>
#include <iovx/sim.h>

#define FX_PG		4096ull
#define FX_PAGES	64

struct fx {
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
	uint8_t *mem;			/* FX_PAGES pages, zeroed */
};

/*
 * A fixture for *state: sc (NULL: defaults) for the simulator, dc for the domain (its iommu
 * is filled in here). Always returns 0 (a failed step fails the test).
 */
static inline int fx_open(void **state, const struct iovx_sim_config *sc,
			  struct iovx_dma_config *dc)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct iovx_sim_config def;

	assert_non_null(f);
	if (!sc) {
		iovx_sim_config_init(&def);
		sc = &def;
	}
	assert_int_equal(iovx_sim_create(sc, &f->sim), 0);
	dc->iommu = iovx_sim_iommu(f->sim);
	assert_int_equal(iovx_dma_domain_create(dc, &f->dom), 0);
	f->mem = aligned_alloc(FX_PG, FX_PAGES * FX_PG);
	assert_non_null(f->mem);
	memset(f->mem, 0, FX_PAGES * FX_PG);
	*state = f;
	return 0;
}

/* Destroys the fixture, requiring nothing leaked and the simulator's checker clean. */
static inline int fx_close(void **state)
{
	struct fx *f = *state;
	struct iovx_sim_stats st;

	assert_int_equal(iovx_dma_domain_destroy(f->dom), 0);	/* nothing leaked */
	assert_int_equal(iovx_sim_get_stats(f->sim, &st), 0);
	assert_int_equal(st.i2_map_violations, 0);
	assert_int_equal(st.i2_table_violations, 0);
	/* Destroy released every page-table page but the root, after inval + sync. */
	assert_int_equal(st.tables_live, 1);
	assert_int_equal(st.tables_freed + 1, st.tables_alloc);
	iovx_sim_destroy(f->sim);
	free(f->mem);
	free(f);
	return 0;
}

static inline struct iovx_sim_stats sst(struct fx *f)
{
	struct iovx_sim_stats st;

	assert_int_equal(iovx_sim_get_stats(f->sim, &st), 0);
	return st;
}

static inline struct iovx_dma_stats dst(struct fx *f)
{
	struct iovx_dma_stats st;

	assert_int_equal(iovx_dma_get_stats(f->dom, &st), 0);
	return st;
}

/* The host address of byte off of page page of the fixture's memory. */
static inline uint64_t pa(struct fx *f, unsigned int page, unsigned int off)
{
	return (uintptr_t)f->mem + page * FX_PG + off;
}

#endif /* IOVX_TESTS_DMA_FX_H */

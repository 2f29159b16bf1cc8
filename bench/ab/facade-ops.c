// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * facade-ops.c - the cost of one map + unmap pair through the DMA facade, per mode and
 * list shape, as a program linked against any revision's libiovx.a, so scripts/ab-facade.sh
 * can run two revisions side by side (alternating runs) and report the difference.
 *
 * Cases (ns per map + unmap pair; the software IOMMU's modelled costs are not charged, so
 * the strict rows are the facade's and the simulator's own work; "strict-model" charges the
 * SMMUv3 model and is the pair a caller would see):
 *   pt-sg1      passthrough map_sg + unmap_sg, one 8 KiB entry (zswap's destination)
 *   pt-sg16     passthrough, 16 one-page entries
 *   pt-single   passthrough map_single + unmap_single, 4 KiB
 *   strict-sg1  strict, one 8 KiB entry
 *   strict-sg16 strict, 16 one-page entries
 *   reuse-hit   a tagged 8 KiB list in reuse mode: every map a table hit
 *   strict-model strict, one 8 KiB entry, modelled costs charged
 * Output: one "case ns" line per case. With a second argument N every case runs exactly N
 * pairs instead of for a time (for instruction counts under valgrind; the ns are then
 * meaningless); FACADE_OPS_CASE=name runs one case alone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iovx/dma.h>
#include <iovx/reuse.h>
#include <iovx/sim.h>

#define PG	4096u

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint8_t *mem;
static uint64_t fixed_pairs;	/* 0: run for a time */
static const char *only;	/* FACADE_OPS_CASE: run this case alone */

static bool want(const char *name)
{
	return !only || !strcmp(only, name);
}

static struct iovx_dma_domain *domain(struct iovx_sim **sim, enum iovx_dma_mode mode,
				      bool charge)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_dma_domain *d;

	iovx_sim_config_init(&sc);
	sc.charge_time = charge;
	if (iovx_sim_create(&sc, sim))
		exit(2);
	iovx_dma_config_init(&dc, iovx_sim_iommu(*sim), mode);
	if (iovx_dma_domain_create(&dc, &d))
		exit(2);
	return d;
}

/* ns per pair over about secs seconds; single: map_single of sg[0] instead of a list. */
static double run(struct iovx_dma_domain *d, struct iovx_dma_sg *sg, int n, bool single,
		  double secs)
{
	uint64_t t0 = now_ns(), t1, pairs = 0, dma;
	uint64_t budget = (uint64_t)(secs * 1e9);

	do {
		for (int k = 0; k < 256; k++) {
			if (single) {
				if (iovx_dma_map_single(d, sg[0].phys, sg[0].length,
							IOVX_DMA_TO_DEVICE, 0, &dma) ||
				    iovx_dma_unmap_single(d, dma, sg[0].length,
							  IOVX_DMA_TO_DEVICE, 0))
					exit(3);
			} else if (iovx_dma_map_sg(d, sg, n, IOVX_DMA_TO_DEVICE, 0) < 1 ||
				   iovx_dma_unmap_sg(d, sg, n, IOVX_DMA_TO_DEVICE, 0)) {
				exit(3);
			}
		}
		pairs += 256;
		t1 = now_ns();
	} while (fixed_pairs ? pairs < fixed_pairs : t1 - t0 < budget);
	return (double)(t1 - t0) / (double)pairs;
}

static void list(struct iovx_dma_sg *sg, int n, unsigned int len)
{
	memset(sg, 0, sizeof(*sg) * (size_t)n);
	for (int i = 0; i < n; i++) {
		sg[i].phys = (uintptr_t)mem + (uint64_t)i * 2 * PG;
		sg[i].length = len;
	}
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.2;
	struct iovx_dma_sg sg[16];
	struct iovx_sim *sim;
	struct iovx_dma_domain *d;

	if (argc > 2)
		fixed_pairs = strtoull(argv[2], NULL, 0);
	only = getenv("FACADE_OPS_CASE");
	mem = aligned_alloc(PG, 64 * PG);
	if (!mem)
		return 2;
	memset(mem, 1, 64 * PG);

	d = domain(&sim, IOVX_DMA_MODE_PASSTHROUGH, false);
	list(sg, 1, 2 * PG);
	if (want("pt-sg1"))
		printf("pt-sg1 %.1f\n", run(d, sg, 1, false, secs));
	list(sg, 16, PG);
	if (want("pt-sg16"))
		printf("pt-sg16 %.1f\n", run(d, sg, 16, false, secs));
	list(sg, 1, PG);
	if (want("pt-single"))
		printf("pt-single %.1f\n", run(d, sg, 1, true, secs));
	iovx_dma_domain_destroy(d);
	iovx_sim_destroy(sim);

	d = domain(&sim, IOVX_DMA_MODE_STRICT, false);
	list(sg, 1, 2 * PG);
	if (want("strict-sg1"))
		printf("strict-sg1 %.1f\n", run(d, sg, 1, false, secs));
	list(sg, 16, PG);
	if (want("strict-sg16"))
		printf("strict-sg16 %.1f\n", run(d, sg, 16, false, secs));
	iovx_dma_domain_destroy(d);
	iovx_sim_destroy(sim);

	d = domain(&sim, IOVX_DMA_MODE_REUSE, false);
	list(sg, 1, 2 * PG);
	if (iovx_sg_mark_reusable(sg, 1))
		return 2;
	if (want("reuse-hit"))
		printf("reuse-hit %.1f\n", run(d, sg, 1, false, secs));
	iovx_dma_domain_destroy(d);
	iovx_sim_destroy(sim);

	d = domain(&sim, IOVX_DMA_MODE_STRICT, true);
	list(sg, 1, 2 * PG);
	if (want("strict-model"))
		printf("strict-model %.1f\n", run(d, sg, 1, false, secs));
	iovx_dma_domain_destroy(d);
	iovx_sim_destroy(sim);
	free(mem);
	return 0;
}

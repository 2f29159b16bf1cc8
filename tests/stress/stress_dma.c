// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * stress_dma.c - strict mode under many threads, with a hostile device.
 *
 * Workers map (single or sg, bidirectional) a few pages of their own, check data integrity
 * both ways through the simulated device, and unmap. For every IOVA page they keep a marker
 * word: (gen << 1) | 1 stored after map returns, turned into (gen << 1) after unmap returns
 * if still theirs (each map draws a fresh gen). A hostile
 * thread reads through the device at random IOVAs below the 32-bit DMA mask and at IOVAs
 * just unmapped. An access that succeeds through a stale IOTLB entry while the page's
 * marker said "unmapped" before and after the access (same value) is a success outside
 * every live mapping after its strict unmap returned: a violation of I3 (the argument:
 * a stale entry needs a cleared PTE whose unmap has not returned, and
 * whoever cleared it published an odd marker first). The checker's I2 counters must stay
 * zero, the IOVA allocator's audit must close, and nothing may stay mapped.
 * It runs in two phases of half the duration each: with the simulator's default table
 * lifetime (tables kept, as io-pgtable-arm) and with eager_table_free (every unmap detaches
 * the tables it empties, so table pages take the free-after-sync path all the time).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iovx/dma.h>
#include <iovx/iova.h>
#include <iovx/sim.h>
#include "stress.h"

#define PG		4096ull
#define PAGES_PER_T	8
#define MASK32		0xffffffffull
#define NPFN		(1ull << 20)
#define RECENT		256

static struct iovx_sim *sim;
static struct iovx_dma_domain *dom;
static uint64_t *marker;		/* per IOVA pfn below 2^32 */
static uint64_t seq;
static uint64_t recent[RECENT];
static uint64_t recent_pos;
static uint64_t hostile_ok, hostile_stale, hostile_violations, hostile_faults;
static uint8_t *arena;

/* After map returns: every page is live under a fresh generation, which is returned. */
static uint64_t mark_live(uint64_t dma, uint64_t len)
{
	uint64_t p, g = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);

	for (p = dma / PG; p <= (dma + len - 1) / PG; p++)
		__atomic_store_n(&marker[p], g << 1 | 1, __ATOMIC_RELEASE);
	return g;
}

/*
 * After unmap returns: live -> dead under the same generation, only where the marker is
 * still ours. The IOVA was freed inside unmap, so another thread may already have mapped
 * the page again and published its own generation: a plain store would overwrite it.
 */
static void mark_dead(uint64_t dma, uint64_t len, uint64_t g)
{
	uint64_t p;

	for (p = dma / PG; p <= (dma + len - 1) / PG; p++) {
		uint64_t old = g << 1 | 1;

		__atomic_compare_exchange_n(&marker[p], &old, g << 1, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
	}
}

static int check_io(struct iovx_stress_thread *th, uint64_t dma, uint8_t *cpu, uint32_t len)
{
	uint8_t pat[256] = { 0 }, back[256];
	unsigned int i, n = len < sizeof(pat) ? len : sizeof(pat);
	uint8_t b = (uint8_t)iovx_stress_rand(th);

	for (i = 0; i < n; i++)
		pat[i] = (uint8_t)(b + i);
	if (iovx_sim_dev_write(sim, dma, pat, n, NULL)) {
		iovx_stress_fail(th, "device write to live %#llx failed", (unsigned long long)dma);
		return -1;
	}
	if (memcmp(cpu, pat, n)) {
		iovx_stress_fail(th, "device write did not arrive at %#llx", (unsigned long long)dma);
		return -1;
	}
	for (i = 0; i < n; i++)
		cpu[i] = (uint8_t)~pat[i];
	if (iovx_sim_dev_read(sim, dma, back, n, NULL) || memcmp(back, cpu, n)) {
		iovx_stress_fail(th, "device read of %#llx is wrong", (unsigned long long)dma);
		return -1;
	}
	return 0;
}

static void publish_recent(uint64_t dma)
{
	uint64_t i = __atomic_fetch_add(&recent_pos, 1, __ATOMIC_RELAXED);

	__atomic_store_n(&recent[i % RECENT], dma, __ATOMIC_RELAXED);
}

static int worker(struct iovx_stress_thread *th)
{
	uint8_t *mine = arena + (uint64_t)th->id * PAGES_PER_T * PG;

	while (iovx_stress_continue(th)) {
		uint32_t off = (uint32_t)iovx_stress_below(th, PG);
		uint32_t len = 1 + (uint32_t)iovx_stress_below(th, 2 * PG);
		uint64_t dma, gen;

		if (iovx_stress_below(th, 2)) {
			if (iovx_dma_map_single(dom, (uintptr_t)mine + off, len,
						IOVX_DMA_BIDIRECTIONAL, 0, &dma)) {
				iovx_stress_fail(th, "map_single failed");
				return -1;
			}
			gen = mark_live(dma, len);
			if (check_io(th, dma, mine + off, len))
				return -1;
			if (iovx_dma_unmap_single(dom, dma, len, IOVX_DMA_BIDIRECTIONAL, 0)) {
				iovx_stress_fail(th, "unmap_single failed");
				return -1;
			}
			mark_dead(dma, len, gen);
			publish_recent(dma);
		} else {
			struct iovx_dma_sg sg[3];
			uint64_t first, total = 0;
			int n, i;

			memset(sg, 0, sizeof(sg));
			for (i = 0; i < 3; i++) {
				sg[i].phys = (uintptr_t)mine + (uint64_t)(2 * i + 1) * PG;
				sg[i].offset = i ? 0 : off;
				sg[i].length = (uint32_t)(i ? PG : PG - off);
			}
			n = iovx_dma_map_sg(dom, sg, 3, IOVX_DMA_BIDIRECTIONAL, 0);
			if (n <= 0) {
				iovx_stress_fail(th, "map_sg failed: %d", n);
				return -1;
			}
			first = sg[0].dma_address;
			for (i = 0; i < n; i++)
				total += sg[i].dma_length;
			gen = mark_live(first, total);
			/* Merged into one DMA segment: the last page is at first + 2 pages. */
			if (check_io(th, first, (uint8_t *)(uintptr_t)sg[0].phys + off, PG - off) ||
			    (n == 1 && check_io(th, (first & ~(PG - 1)) + 2 * PG,
						(uint8_t *)(uintptr_t)sg[2].phys, PG)))
				return -1;
			if (iovx_dma_unmap_sg(dom, sg, 3, IOVX_DMA_BIDIRECTIONAL, 0)) {
				iovx_stress_fail(th, "unmap_sg failed");
				return -1;
			}
			mark_dead(first, total, gen);
			publish_recent(first);
		}
	}
	return 0;
}

static int hostile(struct iovx_stress_thread *th)
{
	while (iovx_stress_continue(th)) {
		uint64_t iova, pfn, v1, v2;
		unsigned int info = 0;
		uint8_t b[8];
		int r;

		if (iovx_stress_below(th, 2))
			iova = __atomic_load_n(&recent[iovx_stress_below(th, RECENT)],
					       __ATOMIC_RELAXED);
		else
			iova = iovx_stress_below(th, NPFN) * PG;
		pfn = iova / PG;
		if (pfn >= NPFN)
			continue;
		v1 = __atomic_load_n(&marker[pfn], __ATOMIC_ACQUIRE);
		r = iovx_sim_dev_read(sim, iova & ~7ull, b, sizeof(b), &info);
		v2 = __atomic_load_n(&marker[pfn], __ATOMIC_ACQUIRE);
		if (r) {
			hostile_faults++;
			continue;
		}
		hostile_ok++;
		if (info & IOVX_SIM_ACC_STALE) {
			hostile_stale++;
			if (!(v1 & 1) && v1 == v2) {
				hostile_violations++;
				iovx_stress_fail(th, "stale access to %#llx after its unmap returned",
						 (unsigned long long)iova);
				return -1;
			}
		}
	}
	return 0;
}

static int body(struct iovx_stress_thread *th)
{
	return th->id == 0 ? hostile(th) : worker(th);
}

/*
 * One phase: a fresh simulator and domain. eager: every unmap detaches the tables it empties,
 * so page-table pages go through the free-after-sync path (I2) all the time; otherwise tables
 * live as io-pgtable-arm keeps them and only the domain's destroy releases them.
 */
static int phase(bool eager, uint64_t duration_ns)
{
	struct iovx_stress_opts o = IOVX_STRESS_OPTS_INIT;
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_sim_stats st;
	struct iovx_dma_stats ds;
	int rc;

	o.name = eager ? "dma-strict+hostile, eager table free" : "dma-strict+hostile";
	o.nthreads = iovx_stress_default_threads() + 1;
	o.duration_ns = duration_ns;
	iovx_sim_config_init(&sc);
	sc.iotlb_sets = 16;	/* small: hits and evictions both happen */
	sc.eager_table_free = eager;
	if (iovx_sim_create(&sc, &sim))
		return 1;
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_STRICT);
	dc.dma_mask = MASK32;
	if (iovx_dma_domain_create(&dc, &dom))
		return 1;
	marker = calloc(NPFN, sizeof(*marker));
	arena = aligned_alloc(PG, o.nthreads * PAGES_PER_T * PG);
	if (!marker || !arena)
		return 1;
	memset(arena, 0, o.nthreads * PAGES_PER_T * PG);
	memset(recent, 0, sizeof(recent));
	hostile_ok = hostile_stale = hostile_violations = hostile_faults = 0;
	rc = iovx_stress_run(&o, body);

	iovx_sim_get_stats(sim, &st);
	iovx_dma_get_stats(dom, &ds);
	printf("dma: maps %llu unmaps %llu live %llu syncs %llu inv %llu errors %llu\n",
	       (unsigned long long)ds.maps, (unsigned long long)ds.unmaps,
	       (unsigned long long)ds.live, (unsigned long long)ds.syncs,
	       (unsigned long long)ds.inv_ranges, (unsigned long long)ds.errors);
	printf("sim: iotlb hits %llu misses %llu evictions %llu, faults %llu, stale hits %llu, "
	       "tables emptied %llu freed %llu, I2 map %llu table %llu\n",
	       (unsigned long long)st.iotlb_hits, (unsigned long long)st.iotlb_misses,
	       (unsigned long long)st.iotlb_evictions, (unsigned long long)st.faults,
	       (unsigned long long)st.stale_hits, (unsigned long long)st.tables_emptied,
	       (unsigned long long)st.tables_freed, (unsigned long long)st.i2_map_violations,
	       (unsigned long long)st.i2_table_violations);
	printf("hostile: ok %llu (stale %llu) faults %llu violations %llu\n",
	       (unsigned long long)hostile_ok, (unsigned long long)hostile_stale,
	       (unsigned long long)hostile_faults, (unsigned long long)hostile_violations);
	if (st.i2_map_violations || st.i2_table_violations || hostile_violations || ds.live ||
	    ds.errors || ds.syncs != ds.unmaps) {
		fprintf(stderr, "FAIL: invariant counters not clean\n");
		rc = 1;
	}
	if (eager && !st.tables_emptied) {
		fprintf(stderr, "FAIL: eager phase detached no table\n");
		rc = 1;
	}
	if (iovx_dma_domain_destroy(dom) != 0) {
		fprintf(stderr, "FAIL: mappings leaked\n");
		rc = 1;
	}
	iovx_sim_get_stats(sim, &st);
	if (st.tables_live != 1 || st.i2_table_violations) {
		fprintf(stderr, "FAIL: %llu table pages live after destroy, %llu I2 violations\n",
			(unsigned long long)st.tables_live,
			(unsigned long long)st.i2_table_violations);
		rc = 1;
	}
	iovx_sim_destroy(sim);
	free(marker);
	free(arena);
	sim = NULL;
	dom = NULL;
	marker = NULL;
	arena = NULL;
	return rc ? 1 : 0;
}

int main(void)
{
	uint64_t half = iovx_stress_duration_ns() / 2;
	int rc;

	rc = phase(false, half ? half : 1);
	rc |= phase(true, half ? half : 1);
	return rc;
}

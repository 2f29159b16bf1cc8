// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * stress_inval.c - deferred mode under many threads, with a hostile device (I2, I4).
 *
 * Workers map (single, TO_DEVICE) 1..3 pages of their own stamped buffer, check through the
 * simulated device that they read their stamp, and unmap (the unmap only queues the range).
 * For every IOVA page a record word says which buffer page was mapped there last and when
 * it was unmapped: stamp << 52 | (map sequence % 4096) << 40 | t_unmap_us (the sequence
 * tells two mappings of one buffer page at one IOVA apart), t_unmap_us 0 while mapped, 1
 * while its unmap
 * runs (the PTE may be clear before unmap returns). A hostile thread
 * reads through the device at just-unmapped IOVAs. An access served by a stale IOTLB entry
 * (IOVX_SIM_ACC_STALE) while the record stayed the same across the access must:
 *   - find the stamp of the buffer page that was mapped there (never another buffer);
 *   - have a record saying "unmapped" (a stale hit on a page mapped again is a reuse before
 *     invalidation: I2).
 * The simulator's checker counts maps over IOTLB-held IOVAs and table pages freed before
 * inval+sync (both must stay 0), queues left idle at the end must be released by the timer
 * alone, and the IOVA audit must close. Syncs per unmap, staleness (the context's and the
 * device's view) and the longest time no worker began an unmap are printed.
 *
 * Staleness is printed, not asserted, in the busy phases: how far beyond the bound an entry
 * gets there depends on the scheduler (every thread that could enforce the bound may be off
 * its CPU at once on a shared 2-CPU machine), and a timing assertion would flake. The bound's
 * logic is asserted instead, end to end through the simulated IOTLB, in the probe phase:
 * without the timer, a device that read through a translation, whose unmap was then queued
 * and left alone for longer than the bound, can no longer read through it once ONE more
 * unmap (by any thread) has returned: that enqueue saw the old entry and flushed it before
 * returning. The same read before that unmap may be stale (it is, at least once: the probe
 * would see the bound fail). Nothing in the probe depends on how long a sleep lasts beyond
 * its minimum.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iovx/dma.h>
#include <iovx/inval.h>
#include <iovx/iova.h>
#include <iovx/sim.h>
#include "stress.h"

#define PG		4096ull
#define PAGES_PER_T	16
#define MAXT		64
#define NPFN		(1ull << 20)	/* 32-bit DMA mask: IOVA pfns below this */
#define RECENT		1024
#define BOUND_NS	1000000ull	/* the default 1 ms */
#define PROBES		64

static struct iovx_sim *sim;
static struct iovx_dma_domain *dom;
static uint64_t *rec;			/* per IOVA pfn */
static uint64_t recent[RECENT];
static uint64_t recent_pos;
static uint8_t *arena;
static uint64_t h_reads, h_ok, h_stale, h_faults, h_max_stale_us;
static uint64_t w_last_touch, w_max_gap;	/* longest time no worker began an unmap */

#define REC(stamp, seq, t)	((uint64_t)(stamp) << 52 | ((seq) & 0xfffull) << 40 | (t))

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void note_touch(void)
{
	uint64_t now = now_ns(), last = __atomic_exchange_n(&w_last_touch, now, __ATOMIC_RELAXED);
	uint64_t m = __atomic_load_n(&w_max_gap, __ATOMIC_RELAXED);

	while (last && now > last && now - last > m &&
	       !__atomic_compare_exchange_n(&w_max_gap, &m, now - last, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* The stamp word of buffer page id (id = thread * PAGES_PER_T + page + 1). */
static uint64_t stamp_word(uint64_t id)
{
	return 0x5a5a000000000000ull | id;
}

static int worker(struct iovx_stress_thread *th)
{
	unsigned int tid = th->id;
	uint64_t mseq = 0;

	while (iovx_stress_continue(th)) {
		uint64_t first = iovx_stress_below(th, PAGES_PER_T - 2);
		uint64_t n = 1 + iovx_stress_below(th, 3), dma, p, w, t;
		uint64_t phys = (uint64_t)(uintptr_t)(arena + (tid * PAGES_PER_T + first) * PG);
		int err;

		err = iovx_dma_map_single(dom, phys, n * PG, IOVX_DMA_TO_DEVICE, 0, &dma);
		if (err) {
			iovx_stress_fail(th, "map: %d", err);
			return 1;
		}
		mseq++;
		for (p = 0; p < n; p++)
			__atomic_store_n(&rec[dma / PG + p], REC(tid * PAGES_PER_T + first + p + 1,
								  mseq, 0), __ATOMIC_RELEASE);
		for (p = 0; p < n; p++) {
			err = iovx_sim_dev_read(sim, dma + p * PG + 8 * iovx_stress_below(th, 512),
						&w, 8, NULL);
			if (err || w != stamp_word(tid * PAGES_PER_T + first + p + 1)) {
				iovx_stress_fail(th, "device read of a live mapping: %d %#llx", err,
						 (unsigned long long)w);
				return 1;
			}
		}
		for (p = 0; p < n; p++)
			__atomic_store_n(&rec[dma / PG + p], REC(tid * PAGES_PER_T + first + p + 1,
								  mseq, 1), __ATOMIC_RELEASE);
		note_touch();
		err = iovx_dma_unmap_single(dom, dma, n * PG, IOVX_DMA_TO_DEVICE, 0);
		if (err) {
			iovx_stress_fail(th, "unmap: %d", err);
			return 1;
		}
		t = now_ns() / 1000;
		for (p = 0; p < n; p++) {
			uint64_t pfn = dma / PG + p;
			uint64_t old = __atomic_load_n(&rec[pfn], __ATOMIC_RELAXED);

			/* still ours? (the range cannot be reused before a flush, so it is) */
			if (old >> 40 == REC(tid * PAGES_PER_T + first + p + 1, mseq, 0) >> 40)
				__atomic_compare_exchange_n(&rec[pfn], &old, (old >> 40) << 40 | t,
							    false, __ATOMIC_RELEASE,
							    __ATOMIC_RELAXED);
			__atomic_store_n(&recent[__atomic_fetch_add(&recent_pos, 1,
						 __ATOMIC_RELAXED) % RECENT], pfn,
					 __ATOMIC_RELAXED);
		}
	}
	return 0;
}

static int hostile(struct iovx_stress_thread *th)
{
	while (iovx_stress_continue(th)) {
		uint64_t pfn = __atomic_load_n(&recent[iovx_stress_below(th, RECENT)],
					       __ATOMIC_RELAXED);
		uint64_t w1, w2, data = 0;
		unsigned int info = 0;
		int err;

		if (!pfn)
			continue;
		w1 = __atomic_load_n(&rec[pfn], __ATOMIC_ACQUIRE);
		err = iovx_sim_dev_read(sim, pfn * PG + 8 * iovx_stress_below(th, 512), &data, 8,
					&info);
		w2 = __atomic_load_n(&rec[pfn], __ATOMIC_ACQUIRE);
		__atomic_fetch_add(&h_reads, 1, __ATOMIC_RELAXED);
		if (err) {
			__atomic_fetch_add(&h_faults, 1, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_fetch_add(&h_ok, 1, __ATOMIC_RELAXED);
		if (!(info & IOVX_SIM_ACC_STALE) || w1 != w2)
			continue;
		__atomic_fetch_add(&h_stale, 1, __ATOMIC_RELAXED);
		if ((w1 & ((1ull << 40) - 1)) == 0) {
			uint64_t ph = 0;
			unsigned int pr = 0;
			int e2 = iovx_sim_iova_to_phys(sim, pfn * PG, &ph, &pr);

			iovx_stress_fail(th, "stale hit on pfn %#llx while mapped again (I2): "
					 "read %#llx, mapped stamp %#llx, pte %d -> page %lld",
					 (unsigned long long)pfn, (unsigned long long)data,
					 (unsigned long long)stamp_word(w1 >> 52), e2,
					 (long long)((ph - (uint64_t)(uintptr_t)arena) / PG));
			return 1;
		}
		if (data != stamp_word(w1 >> 52)) {
			iovx_stress_fail(th, "stale hit on pfn %#llx read %#llx, not the buffer "
					 "mapped there (%#llx)", (unsigned long long)pfn,
					 (unsigned long long)data,
					 (unsigned long long)stamp_word(w1 >> 52));
			return 1;
		} else {
			uint64_t t = w1 & ((1ull << 40) - 1), m;
			uint64_t age_us = t > 1 ? now_ns() / 1000 - t : 0;

			m = __atomic_load_n(&h_max_stale_us, __ATOMIC_RELAXED);
			while (age_us > m && !__atomic_compare_exchange_n(&h_max_stale_us, &m,
							age_us, false, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				;
		}
	}
	return 0;
}

static int body(struct iovx_stress_thread *th)
{
	return th->id == th->nthreads - 1 ? hostile(th) : worker(th);
}

static int run_phase(bool eager)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_stress_opts o = IOVX_STRESS_OPTS_INIT;
	struct iovx_sim_stats ss;
	struct iovx_dma_stats st;
	struct iovx_inval_stats is;
	uint64_t t0;
	int rc, i;

	iovx_sim_config_init(&sc);
	sc.eager_table_free = eager;
	if (iovx_sim_create(&sc, &sim))
		return 1;
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_DEFERRED);
	dc.dma_mask = NPFN * PG - 1;
	if (iovx_dma_domain_create(&dc, &dom))
		return 1;
	memset(rec, 0, NPFN * sizeof(*rec));
	memset(recent, 0, sizeof(recent));
	h_reads = h_ok = h_stale = h_faults = h_max_stale_us = 0;
	w_last_touch = w_max_gap = 0;

	o.name = eager ? "inval-eager" : "inval";
	o.nthreads = iovx_stress_default_threads() + 1;
	if (o.nthreads > MAXT)
		o.nthreads = MAXT;
	o.duration_ns = iovx_stress_duration_ns() / 2;
	rc = iovx_stress_run(&o, body);

	/* Idle queues: the timer alone must release everything (waits up to 0.4 s for it). */
	t0 = now_ns();
	for (i = 0; i < 4000; i++) {
		if (iovx_dma_get_stats(dom, &st) || iovx_sim_get_stats(sim, &ss) ||
		    iovx_dma_get_inval_stats(dom, &is))
			return 1;
		if (st.live == 0 && is.pending == 0)
			break;
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	iovx_dma_get_stats(dom, &st);
	iovx_sim_get_stats(sim, &ss);
	iovx_dma_get_inval_stats(dom, &is);
	printf("%s: unmaps %llu syncs %llu (1 per %.0f unmaps) inv_ranges %llu inv_alls %llu "
	       "flushes ring %llu age %llu explicit %llu late %llu (stolen %llu) direct %llu "
	       "max_stale %.3f ms (hostile: %llu reads, %llu ok, %llu stale, %llu faults, oldest "
	       "stale hit %.3f ms; no unmap begun for %.3f ms at most) idle drain %.3f ms\n",
	       o.name,
	       (unsigned long long)st.unmaps, (unsigned long long)st.syncs,
	       st.syncs ? (double)st.unmaps / (double)st.syncs : 0.0,
	       (unsigned long long)st.inv_ranges, (unsigned long long)is.inv_alls,
	       (unsigned long long)is.flushes_ring, (unsigned long long)is.flushes_age,
	       (unsigned long long)is.flushes_explicit, (unsigned long long)is.flushes_late,
	       (unsigned long long)is.stolen, (unsigned long long)is.direct,
	       is.max_stale_ns / 1e6, (unsigned long long)h_reads, (unsigned long long)h_ok,
	       (unsigned long long)h_stale, (unsigned long long)h_faults,
	       h_max_stale_us / 1e3, w_max_gap / 1e6, (now_ns() - t0) / 1e6);
	if (is.pending || ss.tables_emptied != ss.tables_freed) {
		fprintf(stderr, "FAIL: idle queues not drained by the timer: %llu pending, %llu "
			"of %llu table pages freed\n", (unsigned long long)is.pending,
			(unsigned long long)ss.tables_freed,
			(unsigned long long)ss.tables_emptied);
		rc = 1;
	}
	if (ss.i2_map_violations || ss.i2_table_violations) {
		fprintf(stderr, "FAIL: I2 violations: map %llu table %llu\n",
			(unsigned long long)ss.i2_map_violations,
			(unsigned long long)ss.i2_table_violations);
		rc = 1;
	}
	/* never worse than strict (figures are printed above; benchmarks judge them) */
	if (st.syncs > st.unmaps) {
		fprintf(stderr, "FAIL: %llu syncs for %llu unmaps\n",
			(unsigned long long)st.syncs, (unsigned long long)st.unmaps);
		rc = 1;
	}
	if (st.leaked_pages || is.quarantined_ranges) {
		fprintf(stderr, "FAIL: quarantine without a fault\n");
		rc = 1;
	}
	if (iovx_dma_domain_destroy(dom) != 0) {
		fprintf(stderr, "FAIL: mappings left live\n");
		rc = 1;
	}
	iovx_sim_destroy(sim);
	return rc;
}

/*
 * The probe (I4, logical): no timer, one thread. Map X, read it through the device (the
 * IOTLB now holds it), unmap X (queued); wait past the bound; one more map + unmap (Y) of
 * another page; then the device must fault on X: Y's enqueue saw X older than 3/4 of the
 * bound and flushed before returning. Before Y, the device may still hit X (stale).
 */
static int run_probe(void)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_inval_config ic;
	struct iovx_sim_stats ss;
	struct iovx_inval_stats is;
	uint64_t stale_before = 0, i, w;
	int rc = 0;

	iovx_sim_config_init(&sc);
	if (iovx_sim_create(&sc, &sim))
		return 1;
	iovx_inval_config_init(&ic);
	ic.flags = IOVX_INVAL_F_NO_TIMER;
	ic.max_age_ns = BOUND_NS;
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_DEFERRED);
	dc.dma_mask = NPFN * PG - 1;
	dc.inval = &ic;
	if (iovx_dma_domain_create(&dc, &dom))
		return 1;
	for (i = 0; i < PROBES && !rc; i++) {
		uint64_t x, y, px = (uint64_t)(uintptr_t)(arena + (i % 8) * PG);
		uint64_t py = (uint64_t)(uintptr_t)(arena + (8 + i % 8) * PG);
		unsigned int info = 0;
		int err;

		if (iovx_dma_map_single(dom, px, PG, IOVX_DMA_TO_DEVICE, 0, &x) ||
		    iovx_sim_dev_read(sim, x, &w, 8, NULL) || w != stamp_word(i % 8 + 1) ||
		    iovx_dma_unmap_single(dom, x, PG, IOVX_DMA_TO_DEVICE, 0)) {
			fprintf(stderr, "FAIL: probe %llu: map/read/unmap X\n",
				(unsigned long long)i);
			rc = 1;
			break;
		}
		if (!iovx_sim_dev_read(sim, x, &w, 8, &info) && (info & IOVX_SIM_ACC_STALE))
			stale_before++;
		nanosleep(&(struct timespec){ 0, (long)(BOUND_NS + BOUND_NS / 10) }, NULL);
		if (iovx_dma_map_single(dom, py, PG, IOVX_DMA_TO_DEVICE, 0, &y) ||
		    iovx_dma_unmap_single(dom, y, PG, IOVX_DMA_TO_DEVICE, 0)) {
			fprintf(stderr, "FAIL: probe %llu: map/unmap Y\n", (unsigned long long)i);
			rc = 1;
			break;
		}
		info = 0;
		err = iovx_sim_dev_read(sim, x, &w, 8, &info);
		if (!err) {
			fprintf(stderr, "FAIL: probe %llu: the device read X's IOVA %#llx (%s) after "
				"an enqueue that saw X older than the bound returned (I4)\n",
				(unsigned long long)i, (unsigned long long)x,
				info & IOVX_SIM_ACC_STALE ? "stale" : "mapped");
			rc = 1;
		}
	}
	if (!rc && !stale_before) {
		fprintf(stderr, "FAIL: probe: no stale read before the flush: the probe tests "
			"nothing\n");
		rc = 1;
	}
	iovx_sim_get_stats(sim, &ss);
	iovx_dma_get_inval_stats(dom, &is);
	printf("probe: %d rounds, %llu stale reads before the enqueue that saw X old, none "
	       "after; flushes age %llu ring %llu, max_stale %.3f ms\n", PROBES,
	       (unsigned long long)stale_before, (unsigned long long)is.flushes_age,
	       (unsigned long long)is.flushes_ring, is.max_stale_ns / 1e6);
	if (ss.i2_map_violations || ss.i2_table_violations) {
		fprintf(stderr, "FAIL: probe: I2 violations\n");
		rc = 1;
	}
	if (iovx_dma_domain_destroy(dom) != 0)
		rc = 1;
	iovx_sim_destroy(sim);
	return rc;
}

int main(void)
{
	int rc;

	arena = aligned_alloc(PG, MAXT * PAGES_PER_T * PG);
	rec = calloc(NPFN, sizeof(*rec));
	if (!arena || !rec)
		return 1;
	for (uint64_t id = 0; id < MAXT * PAGES_PER_T; id++) {
		uint64_t *w = (uint64_t *)(arena + id * PG);

		for (unsigned int k = 0; k < PG / 8; k++)
			w[k] = stamp_word(id + 1);
	}
	rc = run_probe();
	if (!rc)
		rc = run_phase(false);
	if (!rc)
		rc = run_phase(true);
	free(rec);
	free(arena);
	printf("%s\n", rc ? "FAIL" : "PASS");
	return rc;
}

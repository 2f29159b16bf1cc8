// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-zswap.c - "iovx-bench zswap" and "iovx-bench dmamap": the seed's measurement
 * (docs/architecture.md §1: zswap compressing through a ZIP engine behind an SMMUv3, bcc
 * funclatency of dma_map_sg / dma_unmap_sg) reproduced on the software IOMMU, with its cost model.
 *
 * zswap: each thread repeatedly
 *     map_sg(1-page source, TO_DEVICE)  map_sg(the same 2-page destination, FROM_DEVICE)
 *     device: reads the source, writes both destination pages (through the simulated IOMMU)
 *     unmap_sg(source)  unmap_sg(destination)
 * as zswap + a hardware compressor do (zswap hands the driver one source page and its
 * per-CPU 2-page destination buffer, one sg entry each). Every map_sg and unmap_sg call is
 * timed alone; the log2 histograms are printed in the style of bcc funclatency, then a
 * summary per mode ("mainly 2048-4095 ns (NN%)") next to the seed's bands. Modes run side
 * by side in one process, alternating, repetition after repetition. After every unmap the
 * CPU checks that the device's write arrived (data check).
 *
 * Cases (--only): z the histograms above, at each --threads count (1..8); g the 16-segment
 * strict unmap_sg, gathered (one TLBI range + one sync per call) against the per-segment
 * baseline (IOVX_DMA_F_NO_GATHER: TLBI + sync per physically contiguous run), side by side,
 * with the ratio.
 *
 * dmamap: the kernel's dma_map_benchmark (kernel/dma/map_benchmark.c, driven by
 * tools/testing/selftests/dma/dma_map_benchmark.c): threads map_single / unmap_single a
 * buffer of `granule` pages in a loop with an optional busy "transfer" delay between, and
 * the same three output lines (averages and standard deviations in 100 ns units, computed
 * the way the kernel computes them). Parameters come from --param (bench.h):
 *   t|threads  s|seconds  n|node  b|bits  d|dir  x|delay (ns)  g|granule  mode
 *
 * The simulator busy-waits its modelled costs (charge_time), so wall-clock latencies show
 * the model plus what iovx really costs (IOVA allocation, the mapping table, page-table
 * stores, the IOTLB). The parameters are printed, labelled as a model. Nothing here asserts
 * a time; the only checks are of data and counters (a benchmark bug if they fail).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iovx/dma.h>
#include <iovx/reuse.h>
#include <iovx/sim.h>

#define PG		4096ull
#define NSRC		16		/* source pages per thread, used in turn */
#define ZSWAP_MAX_T	8
#define HIST_SLOTS	64
#define GATHER_SEGS	16
#define DMAMAP_MAX_DELAY 10000000u	/* the kernel's DMA_MAP_MAX_TRANS_DELAY: 10 ms */
#define LH_FINE		4096		/* destination map+unmap: 1 ns buckets below 4096 ns, */
#define LH_COARSE_NS	64		/* then 64 ns buckets up to 266 us */
#define LH_SLOTS	(2 * LH_FINE)
#define REUSE_TARGET	1.10		/* a hit's map+unmap within 1.1x passthrough */

/* ---- modes: one slot per iovx DMA mode --------------------------------------------------- */
static const struct zmode {
	const char *name;
	enum iovx_dma_mode mode;
	enum iovx_dma_mode fallback;	/* reuse and bounce: the mode of what they do not serve */
	const char *what;	/* named when the domain cannot be created */
	unsigned int flags;	/* IOVX_DMA_F_* of the domain */
} zmodes[] = {
	{ "passthrough", IOVX_DMA_MODE_PASSTHROUGH, IOVX_DMA_MODE_STRICT, NULL, 0 },
	{ "strict", IOVX_DMA_MODE_STRICT, IOVX_DMA_MODE_STRICT, NULL, 0 },
	/* src/inval, docs/inval.md */
	{ "deferred", IOVX_DMA_MODE_DEFERRED, IOVX_DMA_MODE_STRICT, NULL, 0 },
	/*
	 * Deferred with opportunistic reuse (IOVX_DMA_F_REVIVE, docs/reuse.md): nothing is
	 * tagged; an unmapped buffer's mapping lingers for half the deferred bound and a map
	 * of the same buffer revives it. zswap's 16 source pages and its destination come back
	 * well inside the window.
	 */
	{ "deferred+rev", IOVX_DMA_MODE_DEFERRED, IOVX_DMA_MODE_STRICT, NULL,
	  IOVX_DMA_F_REVIVE },
	/*
	 * Reuse (docs/reuse.md): each thread marks its destination reusable once (zswap_thread)
	 * and stops its reuse when it exits; the source page stays untagged and takes the base
	 * mode, strict or deferred.
	 */
	{ "reuse", IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_STRICT,
	  "reuse-tagged mappings (docs/reuse.md)", 0 },
	{ "reuse+deferred", IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_DEFERRED,
	  "reuse-tagged mappings (docs/reuse.md)", 0 },
	/* strict fallback, docs/bounce.md */
	{ "bounce", IOVX_DMA_MODE_BOUNCE, IOVX_DMA_MODE_STRICT, NULL, 0 },
};

#define NR_ZMODES (sizeof(zmodes) / sizeof(zmodes[0]))

/* The seed's figures (docs/architecture.md §1), as funclatency buckets: [lo, hi] ns. */
struct band {
	uint64_t lo, hi;
	const char *text;
};

static const struct band seed_pt = { 1024, 2047, "mostly 1-2 us" };
static const struct band seed_map = { 2048, 4095, "mostly 2-4 us" };
static const struct band seed_unmap = { 4096, 8191, "mostly 4-8 us" };

/* ---- log2 histograms (bcc's slots: slot i >= 1 holds [2^(i-1), 2^i - 1]) ----------------- */
struct hist {
	uint64_t slot[HIST_SLOTS];
	uint64_t n, sum;
};

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->slot[v ? 64 - __builtin_clzll(v) : 0]++;
	h->n++;
	h->sum += v;
}

static void hist_merge(struct hist *d, const struct hist *s)
{
	unsigned int i;

	for (i = 0; i < HIST_SLOTS; i++)
		d->slot[i] += s->slot[i];
	d->n += s->n;
	d->sum += s->sum;
}

static uint64_t slot_lo(unsigned int i)
{
	return i ? 1ull << (i - 1) : 0;
}

static uint64_t slot_hi(unsigned int i)
{
	return i ? (i == 64 ? UINT64_MAX : (1ull << i) - 1) : 0;
}

/* The fullest slot ("mainly"); its share in *pct. */
static unsigned int hist_mode(const struct hist *h, double *pct)
{
	unsigned int i, best = 0;

	for (i = 1; i < HIST_SLOTS; i++)
		if (h->slot[i] > h->slot[best])
			best = i;
	*pct = h->n ? 100.0 * h->slot[best] / h->n : 0;
	return best;
}

/* Share of samples in the slots that make up [lo, hi] (a band of whole slots). */
static double hist_band(const struct hist *h, const struct band *b)
{
	uint64_t in = 0;
	unsigned int i;

	for (i = 1; i < HIST_SLOTS; i++)
		if (slot_lo(i) >= b->lo && slot_hi(i) <= b->hi)
			in += h->slot[i];
	return h->n ? 100.0 * in / h->n : 0;
}

/*
 * bcc's print_log2_hist (tools' funclatency): "nsecs : count distribution", 40-star bars
 * (20 beyond slot 32), leading empty slots stripped, then funclatency's avg/total/count line.
 */
static void hist_print(const struct hist *h)
{
	int idx_max = -1, i, first = -1;
	uint64_t vmax = 0;
	unsigned int width;
	char bar[41];

	for (i = 1; i < HIST_SLOTS; i++) {
		if (h->slot[i]) {
			idx_max = i;
			if (first < 0)
				first = i;
		}
		if (h->slot[i] > vmax)
			vmax = h->slot[i];
	}
	if (idx_max < 0) {
		printf("     (no samples)\n");
		return;
	}
	width = idx_max <= 32 ? 40 : 20;
	if (idx_max <= 32)
		printf("     %-19s : count     distribution\n", "nsecs");
	else
		printf("               %-29s : count     distribution\n", "nsecs");
	for (i = first; i <= idx_max; i++) {
		uint64_t lo = slot_lo((unsigned int)i), hi = slot_hi((unsigned int)i);
		unsigned int n = (unsigned int)(width * h->slot[i] / vmax);

		if (lo == hi)
			lo--;
		memset(bar, '*', n);
		bar[n] = 0;
		if (idx_max <= 32)
			printf("%10llu -> %-10llu : %-8llu |%-40s|\n", (unsigned long long)lo,
			       (unsigned long long)hi, (unsigned long long)h->slot[i], bar);
		else
			printf("%20llu -> %-20llu : %-8llu |%-20s|\n", (unsigned long long)lo,
			       (unsigned long long)hi, (unsigned long long)h->slot[i], bar);
	}
	printf("\navg = %llu nsecs, total: %llu nsecs, count: %llu\n",
	       (unsigned long long)(h->n ? h->sum / h->n : 0), (unsigned long long)h->sum,
	       (unsigned long long)h->n);
}

static void hist_json(struct iovx_bench_json *j, const char *key, const struct hist *h,
		      const struct band *seed)
{
	unsigned int i, m;
	double pct;

	if (!j)
		return;
	m = hist_mode(h, &pct);
	iovx_bench_json_obj_begin(j, key);
	iovx_bench_json_u64(j, "count", h->n);
	iovx_bench_json_num(j, "mean_ns", h->n ? (double)h->sum / h->n : 0);
	iovx_bench_json_u64(j, "mainly_lo_ns", slot_lo(m));
	iovx_bench_json_u64(j, "mainly_hi_ns", slot_hi(m));
	iovx_bench_json_num(j, "mainly_pct", pct);
	iovx_bench_json_u64(j, "seed_lo_ns", seed->lo);
	iovx_bench_json_u64(j, "seed_hi_ns", seed->hi);
	iovx_bench_json_num(j, "in_seed_band_pct", hist_band(h, seed));
	/* [lo, hi, count] of the non-empty slots */
	iovx_bench_json_arr_begin(j, "log2_buckets");
	for (i = 1; i < HIST_SLOTS; i++) {
		if (!h->slot[i])
			continue;
		iovx_bench_json_arr_begin(j, NULL);
		iovx_bench_json_u64(j, NULL, slot_lo(i));
		iovx_bench_json_u64(j, NULL, slot_hi(i));
		iovx_bench_json_u64(j, NULL, h->slot[i]);
		iovx_bench_json_arr_end(j);
	}
	iovx_bench_json_arr_end(j);
	iovx_bench_json_obj_end(j);
}

/*
 * The destination's map_sg + unmap_sg, summed per iteration, in 1 ns buckets below 4 us
 * (the reuse target is a ratio of a few tens of ns: log2 slots are too coarse for it) and
 * 64 ns buckets above; the last slot holds everything longer.
 */
struct lhist {
	uint64_t slot[LH_SLOTS];
	uint64_t n, sum;
};

static inline void lhist_add(struct lhist *h, uint64_t v)
{
	uint64_t i = v < LH_FINE ? v : LH_FINE + (v - LH_FINE) / LH_COARSE_NS;

	h->slot[i < LH_SLOTS ? i : LH_SLOTS - 1]++;
	h->n++;
	h->sum += v;
}

static double lhist_value(unsigned int i)
{
	return i < LH_FINE ? i : LH_FINE + (double)(i - LH_FINE) * LH_COARSE_NS +
				 LH_COARSE_NS / 2;
}

static void lhist_merge(struct lhist *d, const struct lhist *s)
{
	unsigned int i;

	for (i = 0; i < LH_SLOTS; i++)
		d->slot[i] += s->slot[i];
	d->n += s->n;
	d->sum += s->sum;
}

/* The q-quantile (0..1) in ns (the last slot: "that long or longer"). */
static double lhist_q(const struct lhist *h, double q)
{
	uint64_t want = (uint64_t)(q * (double)(h->n ? h->n - 1 : 0)), seen = 0;
	unsigned int i;

	for (i = 0; i < LH_SLOTS; i++) {
		seen += h->slot[i];
		if (seen > want)
			return lhist_value(i);
	}
	return 0;
}

static double lhist_mean(const struct lhist *h)
{
	return h->n ? (double)h->sum / h->n : 0;
}

/* ---- threads ---------------------------------------------------------------------------- */
static int zstop;
static struct iovx_bench_gate zgate;

static inline bool zstopped(void)
{
	return __atomic_load_n(&zstop, __ATOMIC_RELAXED);
}

static void busy_ns(uint64_t ns)
{
	uint64_t end = iovx_bench_now_ns() + ns;

	while (iovx_bench_now_ns() < end)
		__builtin_ia32_pause();
}

struct zctx;

struct zthread {
	pthread_t th;
	unsigned int tid;
	struct zctx *c;
	/* this thread's buffers */
	uint8_t *src;			/* NSRC pages */
	uint8_t *dst;			/* 2 pages, 8 KiB aligned (zswap's kmalloc buffer) */
	uint8_t *scratch;		/* the device's internal buffer */
	/* results of one run */
	struct hist map, unmap;
	struct lhist dpair;		/* destination map_sg + unmap_sg */
	uint64_t iters, map_errors, data_errors;
	uint64_t stopped;		/* reuse: entries torn down by the stop at thread exit */
	/* dmamap: the kernel's sums, in 100 ns units */
	uint64_t sum_map, sum_unmap, sq_map, sq_unmap;
} __attribute__((aligned(128)));

/* One mode's domain and what its timed runs measured. */
struct zctx {
	const struct zmode *m;
	bool have;
	int create_err;
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
	/* dmamap */
	size_t size;
	enum iovx_dma_dir dir;
	uint64_t delay_ns;
	/* summed over timed runs */
	struct hist map, unmap;
	struct lhist dpair;
	uint64_t iters, map_errors, data_errors, stopped;
	uint64_t sum_map, sum_unmap, sq_map, sq_unmap;
	struct iovx_sim_stats d;	/* simulator counters, timed runs only */
	struct iovx_reuse_stats r;	/* reuse: table counters, timed runs only */
	double wall_s;
	/* per timed run, for the targets' spread: run i of every mode pairs with run i of
	 * passthrough (the modes alternate, so they ran close in time) */
	unsigned int nruns;
	double run_dmed[IOVX_BENCH_MAX_REPS];	/* median dst map_sg + unmap_sg */
	double run_pair[IOVX_BENCH_MAX_REPS];	/* mean map_sg + mean unmap_sg */
};

static void *thread_main(void *arg, void (*body)(struct zthread *))
{
	struct zthread *w = arg;

	iovx_bench_gate_enter(&zgate);
	body(w);
	return NULL;
}

static void zswap_thread(struct zthread *w);
static void dmamap_thread(struct zthread *w);

static void *zswap_main(void *arg)
{
	return thread_main(arg, zswap_thread);
}

static void *dmamap_main(void *arg)
{
	return thread_main(arg, dmamap_thread);
}

static void stats_delta(struct iovx_sim_stats *acc, const struct iovx_sim_stats *a,
			const struct iovx_sim_stats *b)
{
#define ZS_DELTA(name, doc) acc->name += b->name - a->name;
	IOVX_SIM_STATS(ZS_DELTA)
#undef ZS_DELTA
}

/* Counters add up over the timed runs; snapshots (entries, refs, ...) keep the last one. */
static void reuse_delta(struct iovx_reuse_stats *acc, const struct iovx_reuse_stats *a,
			const struct iovx_reuse_stats *b)
{
	acc->hits += b->hits - a->hits;
	acc->misses += b->misses - a->misses;
	acc->untagged_fallbacks += b->untagged_fallbacks - a->untagged_fallbacks;
	acc->evictions += b->evictions - a->evictions;
	acc->stops += b->stops - a->stops;
	acc->revivals += b->revivals - a->revivals;
	acc->entries = b->entries;
	acc->active = b->active;
	acc->refs = b->refs;
	acc->capacity = b->capacity;
	acc->mem_bytes = b->mem_bytes;
}

/* One run of n threads on c for s seconds; timed: add the results to c. */
static void run(struct zctx *c, struct zthread *w, unsigned int n, double s, bool timed,
		void *(*fn)(void *))
{
	struct iovx_sim_stats a, b;
	struct iovx_reuse_stats ra, rb;
	/* every mode with a reuse table: tagged reuse, and deferred with revivals */
	bool reuse = c->m->mode == IOVX_DMA_MODE_REUSE || (c->m->flags & IOVX_DMA_F_REVIVE);
	unsigned int i;
	uint64_t t0, t1;

	__atomic_store_n(&zstop, 0, __ATOMIC_RELAXED);
	iovx_bench_gate_close(&zgate);
	for (i = 0; i < n; i++) {
		memset(&w[i].map, 0, sizeof(w[i].map));
		memset(&w[i].unmap, 0, sizeof(w[i].unmap));
		memset(&w[i].dpair, 0, sizeof(w[i].dpair));
		w[i].iters = w[i].map_errors = w[i].data_errors = w[i].stopped = 0;
		w[i].sum_map = w[i].sum_unmap = w[i].sq_map = w[i].sq_unmap = 0;
		w[i].c = c;
		iovx_bench_spawn(&w[i].th, fn, &w[i]);
	}
	iovx_bench_gate_wait(&zgate, n);
	if (c->sim)
		iovx_sim_get_stats(c->sim, &a);
	if (reuse && iovx_dma_get_reuse_stats(c->dom, &ra))
		reuse = false;
	t0 = iovx_bench_now_ns();
	iovx_bench_gate_open(&zgate);
	iovx_bench_sleep(s);
	__atomic_store_n(&zstop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++)
		pthread_join(w[i].th, NULL);
	t1 = iovx_bench_now_ns();
	if (!timed)
		return;
	if (c->sim) {
		iovx_sim_get_stats(c->sim, &b);
		stats_delta(&c->d, &a, &b);
	}
	if (reuse && !iovx_dma_get_reuse_stats(c->dom, &rb))
		reuse_delta(&c->r, &ra, &rb);
	c->wall_s += (double)(t1 - t0) / 1e9;
	if (c->nruns < IOVX_BENCH_MAX_REPS) {
		static struct lhist one;	/* this run's threads, merged */
		uint64_t ms = 0, mn = 0, us = 0, un = 0;

		memset(&one, 0, sizeof(one));
		for (i = 0; i < n; i++) {
			lhist_merge(&one, &w[i].dpair);
			ms += w[i].map.sum;
			mn += w[i].map.n;
			us += w[i].unmap.sum;
			un += w[i].unmap.n;
		}
		c->run_dmed[c->nruns] = lhist_q(&one, 0.5);
		c->run_pair[c->nruns] = (mn ? (double)ms / mn : 0) + (un ? (double)us / un : 0);
		c->nruns++;
	}
	for (i = 0; i < n; i++) {
		hist_merge(&c->map, &w[i].map);
		hist_merge(&c->unmap, &w[i].unmap);
		lhist_merge(&c->dpair, &w[i].dpair);
		c->iters += w[i].iters;
		c->stopped += w[i].stopped;
		c->map_errors += w[i].map_errors;
		c->data_errors += w[i].data_errors;
		c->sum_map += w[i].sum_map;
		c->sum_unmap += w[i].sum_unmap;
		c->sq_map += w[i].sq_map;
		c->sq_unmap += w[i].sq_unmap;
	}
}

/* ---- domains ------------------------------------------------------------------------------ */
static int ctx_create(struct zctx *c, const struct zmode *m, unsigned int flags, uint64_t mask)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	int err;

	memset(c, 0, sizeof(*c));
	c->m = m;
	iovx_sim_config_init(&sc);
	sc.charge_time = true;		/* wall-clock latencies show the model */
	err = iovx_sim_create(&sc, &c->sim);
	if (err) {
		c->create_err = err;
		return err;
	}
	iovx_dma_config_init(&dc, m->mode == IOVX_DMA_MODE_PASSTHROUGH ? NULL :
			     iovx_sim_iommu(c->sim), m->mode);
	dc.flags = flags | m->flags;
	dc.dma_mask = mask;
	dc.fallback = m->fallback;
	dc.reuse_table_order = 0;	/* default */
	err = iovx_dma_domain_create(&dc, &c->dom);
	if (err) {
		iovx_sim_destroy(c->sim);
		c->sim = NULL;
		c->create_err = err;
		return err;
	}
	c->have = true;
	return 0;
}

static void ctx_destroy(struct zctx *c)
{
	if (c->dom && iovx_dma_domain_destroy(c->dom) > 0)
		printf("   WARNING: %s: mappings left live (benchmark bug)\n", c->m->name);
	iovx_sim_destroy(c->sim);
	c->dom = NULL;
	c->sim = NULL;
}

static void print_cost(const char *indent, struct iovx_bench_json *j)
{
	struct iovx_sim_config sc;
	const struct iovx_sim_cost *k = &sc.cost;
	char txt[1024];

	iovx_sim_config_init(&sc);
	printf("cost model: a MODEL of an SMMUv3 (docs/architecture.md §1 figures), not a measurement;\n"
	       "            parameters and sources in docs/sim.md; busy-waited "
	       "(charge_time)\n");
	if (iovx_sim_cost_format(k, indent, txt, sizeof(txt)) > 0)
		fputs(txt, stdout);
	printf("%smodelled strict zswap calls: map_sg 1 page %llu ns, 2 pages %llu ns; "
	       "unmap_sg %llu / %llu ns\n", indent,
	       (unsigned long long)(k->walk_ns + k->pte_ns),
	       (unsigned long long)(k->walk_ns + 2 * k->pte_ns),
	       (unsigned long long)(k->walk_ns + k->pte_ns + 2 * k->cmd_ns + k->sync_ns),
	       (unsigned long long)(k->walk_ns + 2 * k->pte_ns + 2 * k->cmd_ns + k->sync_ns));
	printf("%s(+ what iovx really costs; tables kept as io-pgtable-arm keeps them; IOTLB "
	       "%ux%u, cmdq %u)\n", indent, sc.iotlb_sets, sc.iotlb_ways, sc.cmdq_entries);

	iovx_bench_json_obj_begin(j, "cost_model");
	iovx_bench_json_bool(j, "is_model", true);
	iovx_bench_json_u64(j, "walk_ns", k->walk_ns);
	iovx_bench_json_u64(j, "pte_ns", k->pte_ns);
	iovx_bench_json_u64(j, "cmd_ns", k->cmd_ns);
	iovx_bench_json_u64(j, "sync_ns", k->sync_ns);
	iovx_bench_json_u64(j, "iotlb_sets", sc.iotlb_sets);
	iovx_bench_json_u64(j, "iotlb_ways", sc.iotlb_ways);
	iovx_bench_json_u64(j, "cmdq_entries", sc.cmdq_entries);
	iovx_bench_json_bool(j, "eager_table_free", sc.eager_table_free);
	iovx_bench_json_str(j, "sources", "docs/sim.md");
	iovx_bench_json_obj_end(j);
}

/* ---- zswap --------------------------------------------------------------------------------- */
static inline uint64_t stamp(const struct zthread *w, uint64_t it)
{
	return (uint64_t)(w->tid + 1) << 48 | it;
}

/* The device: reads the source page, writes both destination pages (passthrough: directly). */
static int device_transfer(struct zctx *c, struct zthread *w, const struct iovx_dma_sg *s,
			   const struct iovx_dma_sg *d)
{
	if (c->m->mode == IOVX_DMA_MODE_PASSTHROUGH) {
		memcpy(w->scratch, (const void *)(uintptr_t)s->dma_address, PG);
		memcpy((void *)(uintptr_t)d->dma_address, w->scratch, PG);
		memcpy((void *)(uintptr_t)(d->dma_address + PG), w->scratch, PG);
		return 0;
	}
	if (iovx_sim_dev_read(c->sim, s->dma_address, w->scratch, PG, NULL) ||
	    iovx_sim_dev_write(c->sim, d->dma_address, w->scratch, PG, NULL) ||
	    iovx_sim_dev_write(c->sim, d->dma_address + PG, w->scratch, PG, NULL))
		return -1;
	return 0;
}

static void zswap_thread(struct zthread *w)
{
	struct zctx *c = w->c;
	struct iovx_dma_domain *dom = c->dom;
	bool reuse = c->m->mode == IOVX_DMA_MODE_REUSE;
	struct iovx_dma_sg d = { 0 };
	uint64_t it = 0;

	/*
	 * zswap's per-CPU destination: one sg entry, the same for the thread's whole life. The
	 * reuse mode tags it once; every later map_sg of it is a table hit.
	 */
	d.phys = (uintptr_t)w->dst;
	d.length = (uint32_t)(2 * PG);
	if (reuse && iovx_sg_mark_reusable(&d, 1))
		w->map_errors++;

	while (!zstopped()) {
		struct iovx_dma_sg s = { 0 };
		uint8_t *page = w->src + (it % NSRC) * PG;
		uint64_t t0, t1, t2, t3, t4, t5, v = stamp(w, it), got[2];
		int rs, rd;

		memcpy(page, &v, sizeof(v));		/* what zswap is about to compress */
		memset(w->dst, 0, sizeof(v));
		memset(w->dst + PG, 0, sizeof(v));
		s.phys = (uintptr_t)page;
		s.length = (uint32_t)PG;

		t0 = iovx_bench_now_ns();
		rs = iovx_dma_map_sg(dom, &s, 1, IOVX_DMA_TO_DEVICE, 0);
		t1 = iovx_bench_now_ns();
		rd = iovx_dma_map_sg(dom, &d, 1, IOVX_DMA_FROM_DEVICE, 0);
		t2 = iovx_bench_now_ns();
		if (iovx_bench_unlikely(rs != 1 || rd != 1)) {
			w->map_errors++;
			if (rs == 1)
				iovx_dma_unmap_sg(dom, &s, 1, IOVX_DMA_TO_DEVICE, 0);
			if (rd == 1)
				iovx_dma_unmap_sg(dom, &d, 1, IOVX_DMA_FROM_DEVICE, 0);
			continue;
		}
		hist_add(&w->map, t1 - t0);
		hist_add(&w->map, t2 - t1);

		if (device_transfer(c, w, &s, &d))
			w->data_errors++;

		t3 = iovx_bench_now_ns();
		rs = iovx_dma_unmap_sg(dom, &s, 1, IOVX_DMA_TO_DEVICE, 0);
		t4 = iovx_bench_now_ns();
		rd = iovx_dma_unmap_sg(dom, &d, 1, IOVX_DMA_FROM_DEVICE, 0);
		t5 = iovx_bench_now_ns();
		hist_add(&w->unmap, t4 - t3);
		hist_add(&w->unmap, t5 - t4);
		lhist_add(&w->dpair, (t2 - t1) + (t5 - t4));
		if (rs || rd)
			w->map_errors++;

		/* The CPU owns the destination again: the device's output must be there. */
		memcpy(&got[0], w->dst, sizeof(v));
		memcpy(&got[1], w->dst + PG, sizeof(v));
		if (got[0] != v || got[1] != v)
			w->data_errors++;
		it++;
	}
	w->iters = it;
	/*
	 * The buffer goes back to the allocator (zthreads_free) only after its reuse stopped:
	 * from here on no device can reach it through any reuse domain (I3).
	 */
	if (reuse) {
		int r = iovx_sg_mark_stop_reuse(&d, 1);

		if (r < 0)
			w->map_errors++;
		else
			w->stopped += (uint64_t)r;
	}
}

static void zthreads_alloc(struct zthread *w, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].tid = i;
		w[i].src = aligned_alloc(PG, NSRC * PG);
		w[i].dst = aligned_alloc(2 * PG, 2 * PG);
		w[i].scratch = aligned_alloc(PG, PG);
		if (!w[i].src || !w[i].dst || !w[i].scratch) {
			fprintf(stderr, "iovx-bench: out of memory\n");
			exit(1);
		}
		memset(w[i].src, 0x5a, NSRC * PG);
		memset(w[i].dst, 0, 2 * PG);
	}
}

static void zthreads_free(struct zthread *w, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		free(w[i].src);
		free(w[i].dst);
		free(w[i].scratch);
	}
}

static void print_summary_line(const char *mode, const char *op, const struct hist *h,
			       const struct band *seed)
{
	double pct;
	unsigned int m = hist_mode(h, &pct);

	printf("  %-14s %-9s mainly %llu-%llu ns (%.1f%%), avg %.2f us; in the seed's band "
	       "%llu-%llu ns: %.1f%% (seed: %s)\n", mode, op,
	       (unsigned long long)slot_lo(m), (unsigned long long)slot_hi(m), pct,
	       h->n ? (double)h->sum / h->n / 1000.0 : 0, (unsigned long long)seed->lo,
	       (unsigned long long)seed->hi, hist_band(h, seed), seed->text);
}

/*
 * The reuse target: the destination's map_sg + unmap_sg (in reuse mode a table
 * hit) against passthrough's, side by side in one run, rated by the median (robust against
 * the preemptions of a shared machine; the mean is printed and in the JSON too).
 */
struct zres {
	unsigned int threads;
	bool have[NR_ZMODES];
	double median[NR_ZMODES], mean[NR_ZMODES];
	const char *verdict[NR_ZMODES];
};

static struct zres zres[IOVX_BENCH_MAX_TLIST];
static unsigned int nr_zres;

#define DEFERRED_TARGET	1.20	/* deferred within 1.2x of passthrough end to end */

/* Issue 6's figure: mean map_sg + mean unmap_sg over every call (source and destination). */
struct dres {
	unsigned int threads;
	bool have[NR_ZMODES];
	double pair[NR_ZMODES];
	const char *verdict[NR_ZMODES];
};
static struct dres dres[IOVX_BENCH_MAX_TLIST];
static unsigned int nr_dres;
static double clock_ns;		/* one iovx_bench_now_ns(): in every timed call alike */

static double dpair_ratio(const struct zctx *c, const struct zctx *pt)
{
	double base = lhist_q(&pt->dpair, 0.5);

	return pt->have && c->have && base > 0 ? lhist_q(&c->dpair, 0.5) / base : 0;
}

static void dpair_json(struct iovx_bench_json *j, const struct zctx *c, const struct zctx *pt)
{
	iovx_bench_json_obj_begin(j, "dst_map_unmap");
	iovx_bench_json_u64(j, "count", c->dpair.n);
	iovx_bench_json_num(j, "median_ns", lhist_q(&c->dpair, 0.5));
	iovx_bench_json_num(j, "mean_ns", lhist_mean(&c->dpair));
	iovx_bench_json_num(j, "p10_ns", lhist_q(&c->dpair, 0.1));
	iovx_bench_json_num(j, "p90_ns", lhist_q(&c->dpair, 0.9));
	iovx_bench_json_num(j, "p99_ns", lhist_q(&c->dpair, 0.99));
	iovx_bench_json_num(j, "ratio_vs_passthrough", dpair_ratio(c, pt));
	iovx_bench_json_obj_end(j);
}

/*
 * The ratio of run i of c to run i of passthrough, for every timed run: its range in
 * *lo..*hi. Returns the verdict against target: PASS when every run is within it, FAIL
 * when none is, "noisy" when the runs straddle it (the machine decided, not the code).
 */
static const char *spread_verdict(const double *cv, const double *pv, unsigned int n,
				  double target, double *lo, double *hi)
{
	unsigned int i, k = 0;

	*lo = *hi = 0;
	for (i = 0; i < n; i++) {
		double r;

		if (pv[i] <= 0)
			continue;
		r = cv[i] / pv[i];
		if (!k++ || r < *lo)
			*lo = r;
		if (r > *hi)
			*hi = r;
	}
	if (!k)
		return "n/a";
	return *hi <= target ? "PASS" : *lo > target ? "FAIL" : "noisy";
}

static const char *reuse_verdict(const struct zctx *c, const struct zctx *pt, double *lo,
				 double *hi)
{
	return spread_verdict(c->run_dmed, pt->run_dmed, c->nruns < pt->nruns ? c->nruns :
			      pt->nruns, REUSE_TARGET, lo, hi);
}

static void reuse_target(struct zctx *ctx, unsigned int nthreads, struct iovx_bench_json *j)
{
	struct zres *r = nr_zres < IOVX_BENCH_MAX_TLIST ? &zres[nr_zres++] : NULL;
	const struct zctx *pt = &ctx[0];
	unsigned int k;

	printf("\nreuse target (a tagged buffer's map+unmap near passthrough), %u thread%s:\n"
	       "the 2-page destination's map_sg + "
	       "unmap_sg per iteration\n(reuse: a table hit), median (1 ns buckets below 4 us); "
	       "target: reuse within %.2fx of passthrough\n", nthreads, nthreads > 1 ? "s" : "",
	       REUSE_TARGET);
	if (r)
		r->threads = nthreads;
	iovx_bench_json_obj_begin(j, NULL);
	iovx_bench_json_str(j, "case", "zswap-reuse-target");
	iovx_bench_json_u64(j, "threads", nthreads);
	iovx_bench_json_num(j, "target_ratio", REUSE_TARGET);
	iovx_bench_json_str(j, "rated_by", "median of dst map_sg + unmap_sg");
	iovx_bench_json_num(j, "clock_read_ns", clock_ns);
	iovx_bench_json_num(j, "passthrough_median_ns", pt->have ? lhist_q(&pt->dpair, 0.5) : 0);
	for (k = 0; k < NR_ZMODES; k++) {
		const struct zctx *c = &ctx[k];
		bool reuse = c->m->mode == IOVX_DMA_MODE_REUSE;
		double ratio = dpair_ratio(c, pt), lo, hi;
		const char *v = reuse_verdict(c, pt, &lo, &hi);

		if (!c->have) {
			printf("  %-14s not available\n", c->m->name);
			continue;
		}
		printf("  %-14s median %6.0f ns, mean %8.1f ns, p90 %6.0f ns", c->m->name,
		       lhist_q(&c->dpair, 0.5), lhist_mean(&c->dpair), lhist_q(&c->dpair, 0.9));
		if (k)
			printf(", %6.2fx passthrough", ratio);
		if (reuse)
			printf("  runs %.2f-%.2fx %s%s", lo, hi, v,
			       c->r.hits + c->r.misses && c->r.hits * 100 < 99 * (c->r.hits +
										   c->r.misses) ?
			       " (WARNING: under 99% hits)" : "");
		printf("\n");
		if (r) {
			r->have[k] = true;
			r->median[k] = lhist_q(&c->dpair, 0.5);
			r->mean[k] = lhist_mean(&c->dpair);
			r->verdict[k] = v;
		}
		if (reuse) {
			iovx_bench_json_obj_begin(j, c->m->name);
			iovx_bench_json_num(j, "median_ns", lhist_q(&c->dpair, 0.5));
			iovx_bench_json_num(j, "mean_ns", lhist_mean(&c->dpair));
			iovx_bench_json_num(j, "ratio", ratio);
			iovx_bench_json_num(j, "ratio_mean", lhist_mean(&pt->dpair) > 0 ?
					    lhist_mean(&c->dpair) / lhist_mean(&pt->dpair) : 0);
			iovx_bench_json_num(j, "ratio_min", lo);
			iovx_bench_json_num(j, "ratio_max", hi);
			iovx_bench_json_str(j, "verdict", v);
			iovx_bench_json_bool(j, "pass", !strcmp(v, "PASS"));
			iovx_bench_json_u64(j, "hits", c->r.hits);
			iovx_bench_json_u64(j, "misses", c->r.misses);
			iovx_bench_json_obj_end(j);
		}
	}
	iovx_bench_json_obj_end(j);
	printf("  (each timed call includes one clock read, ~%.0f ns, in every mode alike; the "
	       "source page is\n   untagged and is not in these figures)\n", clock_ns);
}

static double pair_mean(const struct zctx *c)
{
	return (c->map.n ? (double)c->map.sum / c->map.n : 0) +
	       (c->unmap.n ? (double)c->unmap.sum / c->unmap.n : 0);
}

/*
 * Issue 6's target: the seed's zswap pattern in deferred mode within 1.2x of passthrough
 * per map+unmap, end to end (the untagged source and the destination alike), in one run.
 */
static void deferred_target(struct zctx *ctx, unsigned int nthreads, struct iovx_bench_json *j)
{
	struct dres *r = nr_dres < IOVX_BENCH_MAX_TLIST ? &dres[nr_dres++] : NULL;
	const struct zctx *pt = &ctx[0];
	double base = pt->have ? pair_mean(pt) : 0;
	unsigned int k;

	printf("\ndeferred target (deferred mode's map+unmap near passthrough), %u thread%s:\n"
	       "mean map_sg + mean unmap_sg over every "
	       "call, end to end;\ntarget: deferred within %.2fx of passthrough\n", nthreads,
	       nthreads > 1 ? "s" : "", DEFERRED_TARGET);
	if (r)
		r->threads = nthreads;
	iovx_bench_json_obj_begin(j, NULL);
	iovx_bench_json_str(j, "case", "zswap-deferred-target");
	iovx_bench_json_u64(j, "threads", nthreads);
	iovx_bench_json_num(j, "target_ratio", DEFERRED_TARGET);
	iovx_bench_json_str(j, "rated_by", "mean map_sg + mean unmap_sg, every call");
	iovx_bench_json_num(j, "passthrough_ns", base);
	for (k = 0; k < NR_ZMODES; k++) {
		const struct zctx *c = &ctx[k];
		double v, ratio, lo, hi;
		bool deferred = c->m->mode == IOVX_DMA_MODE_DEFERRED;
		const char *vd;

		if (!c->have)
			continue;
		v = pair_mean(c);
		ratio = base > 0 ? v / base : 0;
		vd = spread_verdict(c->run_pair, pt->run_pair, c->nruns < pt->nruns ? c->nruns :
				    pt->nruns, DEFERRED_TARGET, &lo, &hi);
		printf("  %-14s %9.1f ns per map+unmap, %7.2fx passthrough", c->m->name, v, ratio);
		if (deferred)
			printf("  runs %.2f-%.2fx %s", lo, hi, vd);
		printf("\n");
		if (r) {
			r->have[k] = true;
			r->pair[k] = v;
			r->verdict[k] = vd;
		}
		iovx_bench_json_obj_begin(j, c->m->name);
		iovx_bench_json_num(j, "map_unmap_ns", v);
		iovx_bench_json_num(j, "ratio", ratio);
		if (deferred) {
			iovx_bench_json_num(j, "ratio_min", lo);
			iovx_bench_json_num(j, "ratio_max", hi);
			iovx_bench_json_str(j, "verdict", vd);
			iovx_bench_json_bool(j, "pass", !strcmp(vd, "PASS"));
		}
		iovx_bench_json_obj_end(j);
	}
	iovx_bench_json_obj_end(j);
}

static void deferred_target_table(const struct iovx_bench_opts *o)
{
	unsigned int i, k;

	if (!nr_dres)
		return;
	printf("\n=== deferred target, deferred within 1.2x of passthrough: map_sg + unmap_sg, "
	       "mean ns over every call, "
	       "ratio to passthrough ===\n%-7s %12s", "threads", "passthrough");
	for (k = 1; k < NR_ZMODES; k++)
		printf(" %17s", zmodes[k].name);
	printf("\n");
	for (i = 0; i < nr_dres; i++) {
		const struct dres *r = &dres[i];

		printf("%-7u %9.1f ns", r->threads, r->have[0] ? r->pair[0] : 0);
		for (k = 1; k < NR_ZMODES; k++) {
			char cell[64];
			double ratio = r->have[0] && r->have[k] && r->pair[0] > 0 ?
				       r->pair[k] / r->pair[0] : 0;

			if (!r->have[k])
				snprintf(cell, sizeof(cell), "n/a");
			else if (zmodes[k].mode == IOVX_DMA_MODE_DEFERRED)
				snprintf(cell, sizeof(cell), "%.0f %.2fx %s", r->pair[k], ratio,
					 r->verdict[k]);
			else
				snprintf(cell, sizeof(cell), "%.0f %.2fx", r->pair[k], ratio);
			printf(" %17s", cell);
		}
		printf("\n");
	}
	printf("(deferred+rev is deferred mode with IOVX_DMA_F_REVIVE; the ratio is of the "
	       "means over every run;\n PASS: within %.2fx of passthrough in every run (run i "
	       "against passthrough's run i),\n FAIL: in none, noisy: some runs within%s)\n",
	       DEFERRED_TARGET,
	       o->quick ? "; --quick: too few samples for a verdict" : "");
}

/* The reuse target at every thread count of the run, one line each. */
static void reuse_target_table(const struct iovx_bench_opts *o)
{
	unsigned int i, k;

	if (!nr_zres)
		return;
	printf("\n=== reuse target, a reuse hit within 1.1x of passthrough: destination map_sg + "
	       "unmap_sg, median ns, ratio "
	       "to passthrough ===\n%-7s %12s", "threads", "passthrough");
	for (k = 1; k < NR_ZMODES; k++)
		printf(" %15s", zmodes[k].name);
	printf("\n");
	for (i = 0; i < nr_zres; i++) {
		const struct zres *r = &zres[i];

		printf("%-7u %9.0f ns", r->threads, r->have[0] ? r->median[0] : 0);
		for (k = 1; k < NR_ZMODES; k++) {
			char cell[64];
			double ratio = r->have[0] && r->have[k] && r->median[0] > 0 ?
				       r->median[k] / r->median[0] : 0;

			if (!r->have[k])
				snprintf(cell, sizeof(cell), "n/a");
			else if (zmodes[k].mode == IOVX_DMA_MODE_REUSE)
				snprintf(cell, sizeof(cell), "%.0f %.2fx %s", r->median[k],
					 ratio, r->verdict[k]);
			else
				snprintf(cell, sizeof(cell), "%.0f %.2fx", r->median[k], ratio);
			printf(" %15s", cell);
		}
		printf("\n");
	}
	printf("(PASS: reuse's median within %.2fx of passthrough's in every run, side by side "
	       "with strict,\n deferred and passthrough (run i against passthrough's run i); "
	       "FAIL: in none; noisy: some%s)\n", REUSE_TARGET,
	       o->quick ? "; --quick: too few samples for a verdict" : "");
}

static void zswap_threads(const struct iovx_bench_opts *o, struct iovx_bench_json *j,
			  unsigned int nthreads)
{
	static struct zthread w[ZSWAP_MAX_T];
	struct zctx *ctx = calloc(NR_ZMODES, sizeof(*ctx));
	unsigned int k, rep, i;

	if (!ctx)
		exit(1);
	zthreads_alloc(w, nthreads);
	for (k = 0; k < NR_ZMODES; k++)
		(void)ctx_create(&ctx[k], &zmodes[k], 0, 0);

	/* Warm-up (page tables, IOVA caches), then alternating timed runs. */
	for (k = 0; k < NR_ZMODES; k++)
		if (ctx[k].have)
			run(&ctx[k], w, nthreads, o->seconds / 2, false, zswap_main);
	for (rep = 0; rep < o->reps; rep++) {
		for (i = 0; i < NR_ZMODES; i++) {
			k = rep & 1 ? NR_ZMODES - 1 - i : i;
			if (ctx[k].have)
				run(&ctx[k], w, nthreads, o->seconds, true, zswap_main);
		}
	}

	printf("\n=== zswap pattern, %u thread%s: %u runs of %.3g s per mode, alternating ===\n",
	       nthreads, nthreads > 1 ? "s" : "", o->reps, o->seconds);
	for (k = 0; k < NR_ZMODES; k++) {
		struct zctx *c = &ctx[k];

		if (!c->have) {
			printf("\n--- %s: not available (%s; domain create: %s)\n", c->m->name,
			       c->m->what ? c->m->what : "?", strerror(-c->create_err));
			continue;
		}
		printf("\n--- %s, %u thread%s: dma_map_sg (1-page source + 2-page destination), "
		       "%llu calls\n", c->m->name, nthreads, nthreads > 1 ? "s" : "",
		       (unsigned long long)c->map.n);
		hist_print(&c->map);
		printf("\n--- %s, %u thread%s: dma_unmap_sg, %llu calls\n", c->m->name, nthreads,
		       nthreads > 1 ? "s" : "", (unsigned long long)c->unmap.n);
		hist_print(&c->unmap);
		if (c->m->mode != IOVX_DMA_MODE_PASSTHROUGH && c->iters) {
			uint64_t n = c->unmap.n;

			printf("\nsim: %.2f syncs and %.2f TLBI per unmap_sg, %llu tables "
			       "allocated, queue wait %.0f ns per unmap_sg\n     (its own TLBI and "
			       "other CPUs' commands), faults %llu, I2 violations %llu/%llu, "
			       "modelled %.2f us per iteration\n",
			       (double)c->d.syncs / n, (double)c->d.tlbi_range / n,
			       (unsigned long long)c->d.tables_alloc,
			       (double)c->d.cmdq_wait_ns / n,
			       (unsigned long long)c->d.faults,
			       (unsigned long long)c->d.i2_map_violations,
			       (unsigned long long)c->d.i2_table_violations,
			       (double)c->d.model_ns / c->iters / 1000.0);
		}
		if (c->m->mode == IOVX_DMA_MODE_DEFERRED ||
		    c->m->fallback == IOVX_DMA_MODE_DEFERRED) {
			struct iovx_inval_stats is;

			if (!iovx_dma_get_inval_stats(c->dom, &is))
				printf("deferred: %llu flushes (ring %llu, age %llu, explicit %llu), "
				       "%llu inv_all, %llu direct, %llu collapsed, max staleness "
				       "%.3f ms, quarantined %llu\n",
				       (unsigned long long)is.flushes,
				       (unsigned long long)is.flushes_ring,
				       (unsigned long long)is.flushes_age,
				       (unsigned long long)is.flushes_explicit,
				       (unsigned long long)is.inv_alls,
				       (unsigned long long)is.direct,
				       (unsigned long long)is.collapsed, is.max_stale_ns / 1e6,
				       (unsigned long long)is.quarantined_ranges);
		}
		if (c->m->flags & IOVX_DMA_F_REVIVE)
			printf("revive: %llu revivals, %llu misses, %llu expired, %llu evictions, "
			       "%llu maps outside the table; table now %llu entries of %llu\n",
			       (unsigned long long)c->r.revivals, (unsigned long long)c->r.misses,
			       (unsigned long long)c->r.expired,
			       (unsigned long long)c->r.evictions,
			       (unsigned long long)c->r.untagged_fallbacks,
			       (unsigned long long)c->r.entries, (unsigned long long)c->r.capacity);
		if (c->m->mode == IOVX_DMA_MODE_REUSE)
			printf("reuse: %llu hits, %llu misses, %llu untagged fallbacks, %llu "
			       "evictions; %llu entries stopped at thread exit (stops %llu);\n"
			       "       table now %llu entries of %llu, %llu bytes\n",
			       (unsigned long long)c->r.hits, (unsigned long long)c->r.misses,
			       (unsigned long long)c->r.untagged_fallbacks,
			       (unsigned long long)c->r.evictions, (unsigned long long)c->stopped,
			       (unsigned long long)c->r.stops, (unsigned long long)c->r.entries,
			       (unsigned long long)c->r.capacity,
			       (unsigned long long)c->r.mem_bytes);
		printf("data check: %llu transfers, %llu wrong, %llu failed calls%s\n",
		       (unsigned long long)c->iters, (unsigned long long)c->data_errors,
		       (unsigned long long)c->map_errors,
		       c->data_errors || c->map_errors ? "  WARNING: benchmark bug" : "");
	}

	printf("\nsummary, %u thread%s (seed: SMMUv3, zswap + ZIP engine, May 2020):\n", nthreads,
	       nthreads > 1 ? "s" : "");
	for (k = 0; k < NR_ZMODES; k++) {
		struct zctx *c = &ctx[k];
		bool pt = c->m->mode == IOVX_DMA_MODE_PASSTHROUGH;

		if (!c->have) {
			printf("  %-14s (not available: %s)\n", c->m->name, c->m->what);
			continue;
		}
		print_summary_line(c->m->name, "map_sg:", &c->map, pt ? &seed_pt : &seed_map);
		print_summary_line(c->m->name, "unmap_sg:", &c->unmap, pt ? &seed_pt : &seed_unmap);
	}
	printf("  (passthrough is the lower bound: no IOMMU work and no modelled cost; the "
	       "seed's 1-2 us there is\n   the kernel's dma-direct path and driver, which the "
	       "model does not include)\n");
	reuse_target(ctx, nthreads, j);
	deferred_target(ctx, nthreads, j);

	for (k = 0; k < NR_ZMODES; k++) {
		struct zctx *c = &ctx[k];
		bool pt = c->m->mode == IOVX_DMA_MODE_PASSTHROUGH;

		iovx_bench_json_obj_begin(j, NULL);
		iovx_bench_json_str(j, "case", "zswap");
		iovx_bench_json_str(j, "mode", c->m->name);
		iovx_bench_json_u64(j, "threads", nthreads);
		iovx_bench_json_bool(j, "available", c->have);
		if (c->have) {
			iovx_bench_json_u64(j, "iterations", c->iters);
			iovx_bench_json_num(j, "seconds", c->wall_s);
			iovx_bench_json_u64(j, "data_errors", c->data_errors);
			iovx_bench_json_u64(j, "call_errors", c->map_errors);
			hist_json(j, "map_sg", &c->map, pt ? &seed_pt : &seed_map);
			hist_json(j, "unmap_sg", &c->unmap, pt ? &seed_pt : &seed_unmap);
			dpair_json(j, c, &ctx[0]);
			if (c->m->mode == IOVX_DMA_MODE_REUSE) {
				iovx_bench_json_str(j, "fallback", c->m->fallback ==
						    IOVX_DMA_MODE_DEFERRED ? "deferred" : "strict");
				iovx_bench_json_obj_begin(j, "reuse");
#define ZR_JSON(name, doc) iovx_bench_json_u64(j, #name, c->r.name);
				IOVX_REUSE_STATS(ZR_JSON)
#undef ZR_JSON
				iovx_bench_json_u64(j, "stopped_at_thread_exit", c->stopped);
				iovx_bench_json_obj_end(j);
			}
			if (c->sim && !pt) {
				iovx_bench_json_obj_begin(j, "sim");
#define ZS_JSON(name, doc) iovx_bench_json_u64(j, #name, c->d.name);
				IOVX_SIM_STATS(ZS_JSON)
#undef ZS_JSON
				iovx_bench_json_obj_end(j);
			}
		}
		iovx_bench_json_obj_end(j);
		if (c->have)
			ctx_destroy(c);
	}
	zthreads_free(w, nthreads);
	free(ctx);
}

/* ---- gather: 16-segment strict unmap_sg, gathered vs per segment ---------------------------- */
struct gres {
	struct hist h;
	uint64_t model_ns, syncs, tlbis, calls, errors;
};

static void gather_run(struct zctx *c, uint8_t *mem, double s, bool timed, struct gres *r)
{
	struct iovx_dma_sg sg[GATHER_SEGS];
	uint64_t end = iovx_bench_now_ns() + (uint64_t)(s * 1e9);
	unsigned int i;

	do {
		struct iovx_sim_stats a, b;
		uint64_t t0, t1;
		int n;

		memset(sg, 0, sizeof(sg));
		for (i = 0; i < GATHER_SEGS; i++) {
			sg[i].phys = (uintptr_t)mem + 2 * i * PG;	/* apart: 16 runs */
			sg[i].length = (uint32_t)PG;
		}
		n = iovx_dma_map_sg(c->dom, sg, GATHER_SEGS, IOVX_DMA_TO_DEVICE, 0);
		if (n <= 0) {
			r->errors++;
			continue;
		}
		iovx_sim_get_stats(c->sim, &a);
		t0 = iovx_bench_now_ns();
		n = iovx_dma_unmap_sg(c->dom, sg, GATHER_SEGS, IOVX_DMA_TO_DEVICE, 0);
		t1 = iovx_bench_now_ns();
		iovx_sim_get_stats(c->sim, &b);
		if (n)
			r->errors++;
		if (!timed)
			continue;
		hist_add(&r->h, t1 - t0);
		r->model_ns += b.model_ns - a.model_ns;
		r->syncs += b.syncs - a.syncs;
		r->tlbis += b.tlbi_range - a.tlbi_range;
		r->calls++;
	} while (iovx_bench_now_ns() < end);
}

static void gather_case(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	static const char *const name[2] = { "gathered", "per-segment" };
	struct zctx *c = calloc(2, sizeof(*c));		/* not on the stack */
	struct gres *r = calloc(2, sizeof(*r));
	uint8_t *mem = aligned_alloc(PG, 2 * GATHER_SEGS * PG);
	unsigned int rep, k;
	double mean[2], ratio, mratio;

	if (!mem || !c || !r)
		exit(1);
	memset(mem, 0x11, 2 * GATHER_SEGS * PG);
	for (k = 0; k < 2; k++) {
		if (ctx_create(&c[k], &zmodes[1], k ? IOVX_DMA_F_NO_GATHER : 0, 0)) {
			fprintf(stderr, "iovx-bench: strict domain: %s\n",
				strerror(-c[k].create_err));
			exit(1);
		}
		gather_run(&c[k], mem, o->seconds / 2, false, &r[k]);
	}
	for (rep = 0; rep < o->reps; rep++)
		for (k = 0; k < 2; k++)
			gather_run(&c[(rep & 1) ^ k], mem, o->seconds, true, &r[(rep & 1) ^ k]);

	printf("\n=== gather: strict unmap_sg of %u one-page segments, physically apart "
	       "(%u runs), 1 thread ===\n", GATHER_SEGS, GATHER_SEGS);
	for (k = 0; k < 2; k++) {
		double pct;
		unsigned int m = hist_mode(&r[k].h, &pct);

		mean[k] = r[k].h.n ? (double)r[k].h.sum / r[k].h.n : 0;
		printf("  %-11s %s: mean %.2f us, mainly %llu-%llu ns (%.0f%%); modelled %.2f us; "
		       "%.2f syncs, %.2f TLBI per call (%llu calls)%s\n", name[k],
		       k ? "(IOVX_DMA_F_NO_GATHER: unmap + TLBI + sync per run)" :
			   "(one unmap, one TLBI range, one sync per call)     ",
		       mean[k] / 1000.0, (unsigned long long)slot_lo(m),
		       (unsigned long long)slot_hi(m), pct,
		       r[k].calls ? (double)r[k].model_ns / r[k].calls / 1000.0 : 0,
		       r[k].calls ? (double)r[k].syncs / r[k].calls : 0,
		       r[k].calls ? (double)r[k].tlbis / r[k].calls : 0,
		       (unsigned long long)r[k].calls,
		       r[k].errors ? "  WARNING: failed calls (benchmark bug)" : "");
	}
	ratio = mean[0] > 0 ? mean[1] / mean[0] : 0;
	mratio = r[0].model_ns && r[1].calls ?
		 ((double)r[1].model_ns / r[1].calls) / ((double)r[0].model_ns / r[0].calls) : 0;
	printf("  ratio per-segment / gathered: %.2fx measured, %.2fx modelled (target: >= 2x)\n",
	       ratio, mratio);

	iovx_bench_json_obj_begin(j, NULL);
	iovx_bench_json_str(j, "case", "gather");
	iovx_bench_json_u64(j, "segments", GATHER_SEGS);
	for (k = 0; k < 2; k++) {
		iovx_bench_json_obj_begin(j, name[k]);
		iovx_bench_json_u64(j, "calls", r[k].calls);
		iovx_bench_json_num(j, "mean_ns", mean[k]);
		iovx_bench_json_num(j, "modelled_ns", r[k].calls ?
				    (double)r[k].model_ns / r[k].calls : 0);
		iovx_bench_json_num(j, "syncs_per_call", r[k].calls ?
				    (double)r[k].syncs / r[k].calls : 0);
		iovx_bench_json_num(j, "tlbi_per_call", r[k].calls ?
				    (double)r[k].tlbis / r[k].calls : 0);
		iovx_bench_json_u64(j, "errors", r[k].errors);
		iovx_bench_json_obj_end(j);
	}
	iovx_bench_json_num(j, "ratio", ratio);
	iovx_bench_json_num(j, "ratio_modelled", mratio);
	iovx_bench_json_obj_end(j);
	for (k = 0; k < 2; k++)
		ctx_destroy(&c[k]);
	free(mem);
	free(c);
	free(r);
}

/* Median cost of one iovx_bench_now_ns(), from back-to-back reads. */
static double clock_read_ns(void)
{
	static struct lhist h;
	unsigned int i;

	memset(&h, 0, sizeof(h));
	for (i = 0; i < 20000; i++) {
		uint64_t a = iovx_bench_now_ns(), b = iovx_bench_now_ns();

		lhist_add(&h, b - a);
	}
	return lhist_q(&h, 0.5);
}

int iovx_bench_zswap(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	unsigned int t;

	for (t = 0; t < o->nr_threads; t++) {
		if (o->threads[t] > ZSWAP_MAX_T) {
			fprintf(stderr, "iovx-bench zswap: --threads must be 1..%d\n", ZSWAP_MAX_T);
			return -EINVAL;
		}
	}
	printf("zswap:    per iteration: map_sg(1-page source, TO_DEVICE), map_sg(same 2-page "
	       "destination,\n          FROM_DEVICE), device reads source + writes destination "
	       "(through the sim),\n          unmap_sg both; each call timed alone "
	       "(CLOCK_MONOTONIC); %u source pages per thread\n", NSRC);
	print_cost("  ", j);
	clock_ns = clock_read_ns();
	printf("clock:    one CLOCK_MONOTONIC read ~%.0f ns (included once in every timed call)\n",
	       clock_ns);
	iovx_bench_json_num(j, "clock_read_ns", clock_ns);
	iovx_bench_json_arr_begin(j, "results");
	nr_zres = 0;
	for (t = 0; iovx_bench_selected(o, "z") && t < o->nr_threads; t++)
		zswap_threads(o, j, o->threads[t]);
	reuse_target_table(o);
	deferred_target_table(o);
	if (iovx_bench_selected(o, "g"))
		gather_case(o, j);
	iovx_bench_json_arr_end(j);
	return 0;
}

/* ---- dmamap: the kernel's dma_map_benchmark ------------------------------------------------ */
static void dmamap_thread(struct zthread *w)
{
	struct zctx *c = w->c;
	uint8_t *buf = aligned_alloc(PG, c->size);

	if (!buf) {
		w->map_errors++;
		return;
	}
	while (!zstopped()) {
		uint64_t t0, t1, t2, t3, m, u, dma;

		if (c->dir != IOVX_DMA_FROM_DEVICE)
			memset(buf, 0x66, c->size);
		t0 = iovx_bench_now_ns();
		if (iovx_bench_unlikely(iovx_dma_map_single(c->dom, (uintptr_t)buf, c->size,
							    c->dir, 0, &dma))) {
			w->map_errors++;
			break;
		}
		t1 = iovx_bench_now_ns();
		if (c->delay_ns)
			busy_ns(c->delay_ns);		/* "Pretend DMA is transmitting" */
		t2 = iovx_bench_now_ns();
		if (iovx_dma_unmap_single(c->dom, dma, c->size, c->dir, 0))
			w->map_errors++;
		t3 = iovx_bench_now_ns();
		m = (t1 - t0) / 100;
		u = (t3 - t2) / 100;
		w->sum_map += m;
		w->sum_unmap += u;
		w->sq_map += m * m;
		w->sq_unmap += u * u;
		hist_add(&w->map, t1 - t0);
		hist_add(&w->unmap, t3 - t2);
		w->iters++;
	}
	free(buf);
}

/* The kernel's int_sqrt64 (the result is the same). */
static uint64_t isqrt64(uint64_t x)
{
	uint64_t r = (uint64_t)sqrt((double)x);

	while (r * r > x)
		r--;
	while ((r + 1) * (r + 1) <= x)
		r++;
	return r;
}

struct dmamap_params {
	long threads, node, bits, dir, delay, granule;
	double seconds;
	const char *mode;
};

static int parse_params(const char *p, struct dmamap_params *dp)
{
	char buf[512], *save = NULL, *kv;

	if (!p)
		return 0;
	if ((size_t)snprintf(buf, sizeof(buf), "%s", p) >= sizeof(buf))
		return -EINVAL;
	for (kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '='), *end;
		long v;

		if (!eq)
			return -EINVAL;
		*eq++ = 0;
		if (!strcmp(kv, "mode")) {
			if (!strcmp(eq, "strict"))
				dp->mode = "strict";
			else if (!strcmp(eq, "passthrough"))
				dp->mode = "passthrough";
			else
				return -EINVAL;
			continue;
		}
		if (!strcmp(kv, "s") || !strcmp(kv, "seconds")) {
			dp->seconds = strtod(eq, &end);
			if (*end || !(dp->seconds > 0 && dp->seconds <= 300))
				return -EINVAL;
			continue;
		}
		v = strtol(eq, &end, 0);
		if (*end || end == eq)
			return -EINVAL;
		if (!strcmp(kv, "t") || !strcmp(kv, "threads"))
			dp->threads = v;
		else if (!strcmp(kv, "n") || !strcmp(kv, "node"))
			dp->node = v;
		else if (!strcmp(kv, "b") || !strcmp(kv, "bits"))
			dp->bits = v;
		else if (!strcmp(kv, "d") || !strcmp(kv, "dir"))
			dp->dir = v;
		else if (!strcmp(kv, "x") || !strcmp(kv, "delay"))
			dp->delay = v;
		else if (!strcmp(kv, "g") || !strcmp(kv, "granule"))
			dp->granule = v;
		else
			return -EINVAL;
	}
	return 0;
}

int iovx_bench_dmamap(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	static const char *const directions[] = { "BIDIRECTIONAL", "TO_DEVICE", "FROM_DEVICE" };
	/* The kernel tool's defaults, except threads and seconds (--threads, --seconds). */
	struct dmamap_params dp = {
		.threads = o->threads[0], .seconds = o->seconds, .node = -1, .bits = 32,
		.dir = 0, .delay = 0, .granule = 1, .mode = "strict",
	};
	struct zthread *w;
	struct zctx *c = calloc(1, sizeof(*c));	/* 4 KiB: not on the stack */
	uint64_t loops, avg_map, avg_unmap, var_map, var_unmap, sd_map, sd_unmap;
	unsigned int i;
	int ret;

	if (!c)
		exit(1);
	if (parse_params(o->params, &dp)) {
		fprintf(stderr, "iovx-bench dmamap: bad --param '%s' (keys: t s n b d x g mode)\n",
			o->params);
		return -EINVAL;
	}
	/* The kernel tool's checks. */
	if (dp.threads <= 0 || dp.threads > IOVX_BENCH_MAX_THREADS) {
		fprintf(stderr, "invalid number of threads, must be in 1-%d\n",
			IOVX_BENCH_MAX_THREADS);
		return -EINVAL;
	}
	if (dp.delay < 0 || dp.delay > DMAMAP_MAX_DELAY) {
		fprintf(stderr, "invalid transmit delay, must be in 0-%u\n", DMAMAP_MAX_DELAY);
		return -EINVAL;
	}
	if (dp.bits < 20 || dp.bits > 64) {
		fprintf(stderr, "invalid dma mask bit, must be in 20-64\n");
		return -EINVAL;
	}
	if (dp.dir < 0 || dp.dir > 2) {
		fprintf(stderr, "invalid dma direction\n");
		return -EINVAL;
	}
	if (dp.granule < 1 || dp.granule > 1024) {
		fprintf(stderr, "invalid granule size\n");
		return -EINVAL;
	}

	printf("dmamap:   the kernel's dma_map_benchmark on iovx %s + the sim: map_single / "
	       "unmap_single of\n          %ld page(s), dma mask %ld bits, %ld ns transfer "
	       "delay, %ld thread(s), %.3g s\n", dp.mode, dp.granule, dp.bits, dp.delay,
	       dp.threads, dp.seconds);
	print_cost("  ", j);
	printf("\n");
	if (ctx_create(c, &zmodes[strcmp(dp.mode, "strict") ? 0 : 1], 0,
		       dp.bits == 64 ? 0 : (1ull << dp.bits) - 1)) {
		fprintf(stderr, "iovx-bench dmamap: domain: %s\n", strerror(-c->create_err));
		return -EINVAL;
	}
	c->size = (size_t)dp.granule * PG;
	c->dir = (enum iovx_dma_dir)dp.dir;
	c->delay_ns = (uint64_t)dp.delay;
	w = aligned_alloc(128, sizeof(*w) * (size_t)dp.threads);
	if (!w)
		exit(1);
	memset(w, 0, sizeof(*w) * (size_t)dp.threads);
	for (i = 0; i < dp.threads; i++)
		w[i].tid = i;
	run(c, w, (unsigned int)dp.threads, dp.seconds, true, dmamap_main);

	loops = c->iters;
	avg_map = avg_unmap = sd_map = sd_unmap = 0;
	if (loops) {
		avg_map = c->sum_map / loops;
		avg_unmap = c->sum_unmap / loops;
		var_map = c->sq_map / loops - avg_map * avg_map;
		var_unmap = c->sq_unmap / loops - avg_unmap * avg_unmap;
		sd_map = isqrt64(var_map);
		sd_unmap = isqrt64(var_unmap);
	}
	if (c->map_errors)
		fprintf(stderr, "iovx-bench dmamap: %llu map/unmap calls failed%s\n",
			(unsigned long long)c->map_errors,
			strcmp(dp.mode, "passthrough") ? "" :
			" (passthrough: the buffer lies above the DMA mask and the sim has no "
			"swiotlb; try --param b=64)");
	printf("dma mapping benchmark: threads:%ld seconds:%ld node:%ld dir:%s granule: %ld\n",
	       dp.threads, (long)(dp.seconds + 0.5), dp.node, directions[dp.dir], dp.granule);
	printf("average map latency(us):%.1f standard deviation:%.1f\n", avg_map / 10.0,
	       sd_map / 10.0);
	printf("average unmap latency(us):%.1f standard deviation:%.1f\n", avg_unmap / 10.0,
	       sd_unmap / 10.0);

	iovx_bench_json_arr_begin(j, "results");
	iovx_bench_json_obj_begin(j, NULL);
	iovx_bench_json_str(j, "case", "dmamap");
	iovx_bench_json_str(j, "mode", dp.mode);
	iovx_bench_json_u64(j, "threads", (uint64_t)dp.threads);
	iovx_bench_json_num(j, "seconds", dp.seconds);
	iovx_bench_json_num(j, "node", (double)dp.node);
	iovx_bench_json_u64(j, "dma_bits", (uint64_t)dp.bits);
	iovx_bench_json_str(j, "dir", directions[dp.dir]);
	iovx_bench_json_u64(j, "dma_trans_ns", (uint64_t)dp.delay);
	iovx_bench_json_u64(j, "granule", (uint64_t)dp.granule);
	iovx_bench_json_u64(j, "loops", loops);
	iovx_bench_json_u64(j, "errors", c->map_errors);
	iovx_bench_json_u64(j, "avg_map_100ns", avg_map);
	iovx_bench_json_u64(j, "map_stddev", sd_map);
	iovx_bench_json_u64(j, "avg_unmap_100ns", avg_unmap);
	iovx_bench_json_u64(j, "unmap_stddev", sd_unmap);
	hist_json(j, "map", &c->map, &seed_map);
	hist_json(j, "unmap", &c->unmap, &seed_unmap);
	iovx_bench_json_obj_end(j);
	iovx_bench_json_arr_end(j);
	ctx_destroy(c);
	free(w);
	ret = c->map_errors ? -EIO : 0;
	free(c);
	return ret;
}

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * bench-sweep.c - "iovx-bench sweep": map_single + unmap_single cost by size, for the
 * passthrough, strict, deferred and bounce modes side by side (docs/bounce.md),
 * and the check of the bounce crossover the calibration picks against the measured
 * break-even.
 *
 * Sizes 64 B .. 256 KiB (powers of two), one page-aligned cache-hot buffer. Columns:
 * passthrough, strict, deferred and bounce mapping TO_DEVICE (bounce copies in once), and
 * strict and bounce mapping BIDIRECTIONAL (bounce copies in and out; FROM_DEVICE costs the
 * same, swiotlb's copy-in at map included). For every size, each column runs one batch of
 * pairs (map + unmap, timed over the batch; the deferred batch ends with
 * iovx_dma_flush_deferred, inside the timing, so its drain is paid for), the column order
 * rotated each repetition; the figure is the median ns per pair over 21 batches of 0.5 ms
 * (--reps, --seconds / 500).
 *
 * The measured bounce domain has bounce_crossover forced to the largest class (64 KiB), so
 * it bounces every length below it; a size the pool did not serve (its stats say so: 64 KiB
 * and above fall back to strict) is reported n/a.
 *
 * Two situations, as the calibration distinguishes them:
 *   charged    the simulator busy-waits its default SMMUv3 cost model (charge_time)
 *   uncharged  the model is only accounted: the IOMMU work is iovx's own software cost
 * For each, and for each direction (TO_DEVICE; BIDIRECTIONAL):
 *   break-even  the length above which bouncing is no longer cheaper: the smallest power
 *               of two from which on bounce >= strict brackets it with the one below; 1/8
 *               steps between them are measured, and the break-even is the linear
 *               interpolation of strict - bounce across the change point of its sign;
 *               each figure the lower of two medians taken apart (see sw_breakeven)
 *   calibrated  what a default bounce domain, created in this run on a fresh simulator,
 *               routes: the smallest length its map sends to the fallback (found by
 *               bisection on its stats.bounced), i.e. the crossover of that direction;
 *               the median of three such domains, created before the sweep, between its
 *               table and its refinement, and after (the machine drifts)
 *   verdict     PASS when |calibrated - break-even| <= 25 % of the break-even;
 *               with no break-even below 64 KiB, PASS when the calibration picked the cap
 * Also the 512 B strict/bounce ratio (at least 3 when charged).
 *
 * --param plot=FILE.png: where the log-log plot goes (default: sweep.png next to the
 * iovx-bench executable, i.e. in the build directory); the gnuplot script and the data go
 * next to it (.gp, .dat). Without gnuplot the plot is skipped. Nothing here asserts a time.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iovx/dma.h>
#include <iovx/sim.h>

#define SW_MIN_SHIFT	6		/* 64 B */
#define SW_MAX_SHIFT	18		/* 256 KiB */
#define SW_NR_SIZES	(SW_MAX_SHIFT - SW_MIN_SHIFT + 1)
#define SW_MAX_LEN	(1ull << SW_MAX_SHIFT)
#define SW_BOUNCE_MAX	65536ull	/* the default pool's largest class */
#define SW_REFINE	8		/* refinement steps between two powers of two */
#define SW_MAX_REPS	32
#define SW_REPS		21		/* default timed batches per figure */
#define SW_CLOCK_EVERY	8		/* pairs between two clock reads */
#define SW_TOLERANCE	0.25		/* calibrated within 25 % of break-even */
#define SW_NR_CAL	3		/* calibrated domains: before, amid and after the sweep */

enum sw_dom_kind { SW_D_PT, SW_D_STRICT, SW_D_DEFERRED, SW_D_BOUNCE, SW_NR_DOMS };

enum sw_col {
	SW_PT, SW_STRICT, SW_DEFERRED, SW_BOUNCE, SW_STRICT_BIDI, SW_BOUNCE_BIDI, SW_NR_COLS
};

static const char *const sw_names[SW_NR_COLS] = {
	"passthrough", "strict", "deferred", "bounce", "strict-bidi", "bounce-bidi",
};

static const enum sw_dom_kind sw_col_dom[SW_NR_COLS] = {
	SW_D_PT, SW_D_STRICT, SW_D_DEFERRED, SW_D_BOUNCE, SW_D_STRICT, SW_D_BOUNCE,
};

static const enum iovx_dma_dir sw_col_dir[SW_NR_COLS] = {
	IOVX_DMA_TO_DEVICE, IOVX_DMA_TO_DEVICE, IOVX_DMA_TO_DEVICE, IOVX_DMA_TO_DEVICE,
	IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_BIDIRECTIONAL,
};

static const enum iovx_dma_mode sw_dma_mode[SW_NR_DOMS] = {
	IOVX_DMA_MODE_PASSTHROUGH, IOVX_DMA_MODE_STRICT, IOVX_DMA_MODE_DEFERRED,
	IOVX_DMA_MODE_BOUNCE,
};

/* The two crossovers: the strict and bounce columns of each direction. */
#define SW_NR_DIRS	2
static const char *const sw_dir_names[SW_NR_DIRS] = { "TO_DEVICE", "BIDIRECTIONAL" };
static const enum sw_col sw_dir_strict[SW_NR_DIRS] = { SW_STRICT, SW_STRICT_BIDI };
static const enum sw_col sw_dir_bounce[SW_NR_DIRS] = { SW_BOUNCE, SW_BOUNCE_BIDI };
static const enum iovx_dma_dir sw_dir_dir[SW_NR_DIRS] = {
	IOVX_DMA_TO_DEVICE, IOVX_DMA_BIDIRECTIONAL,
};

struct sw_dom {
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
};

struct sw_xover {
	bool have_be;			/* a break-even below SW_BOUNCE_MAX */
	double breakeven;		/* bytes, interpolated */
	size_t bracket_lo, bracket_hi;	/* the measured step bracketing it */
	uint64_t cal[SW_NR_CAL];	/* what each calibrated domain routes */
	uint64_t calibrated;		/* their median */
	double err_pct;			/* (calibrated - break-even) / break-even */
	bool pass;
};

struct sw_run {
	bool charged;
	struct sw_dom d[SW_NR_DOMS];
	double ns[SW_NR_SIZES][SW_NR_COLS];	/* median ns per pair; < 0: n/a */
	int cal_err;
	uint64_t reported;			/* 1st calibrated domain's bounce_crossover */
	bool report_mismatch;			/* a domain's stats and routing disagree */
	struct sw_xover x[SW_NR_DIRS];
};

struct sw_ctx {
	unsigned int reps;
	uint64_t batch_ns;			/* one timed batch of one column */
	uint8_t *buf;
};

static int sw_dom_create(struct sw_dom *d, enum sw_dom_kind m, bool charged, uint64_t crossover)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	int err;

	memset(d, 0, sizeof(*d));
	iovx_sim_config_init(&sc);
	sc.charge_time = charged;
	err = iovx_sim_create(&sc, &d->sim);
	if (err)
		return err;
	iovx_dma_config_init(&dc, m == SW_D_PT ? NULL : iovx_sim_iommu(d->sim), sw_dma_mode[m]);
	if (m == SW_D_BOUNCE)
		dc.bounce_crossover = crossover;
	err = iovx_dma_domain_create(&dc, &d->dom);
	if (err) {
		iovx_sim_destroy(d->sim);
		d->sim = NULL;
	}
	return err;
}

static void sw_dom_destroy(struct sw_dom *d)
{
	if (d->dom && iovx_dma_domain_destroy(d->dom) > 0)
		printf("   WARNING: mappings left live (benchmark bug)\n");
	iovx_sim_destroy(d->sim);
	d->dom = NULL;
	d->sim = NULL;
}

/*
 * One timed batch: pairs until batch_ns has passed (at least SW_CLOCK_EVERY). Returns ns per
 * pair, or a negative value when a call failed or (bounce) the pool did not serve the maps.
 */
static double sw_batch(const struct sw_ctx *c, struct sw_run *r, enum sw_col col, size_t len)
{
	struct sw_dom *d = &r->d[sw_col_dom[col]];
	enum iovx_dma_dir dir = sw_col_dir[col];
	uint64_t phys = (uint64_t)(uintptr_t)c->buf, dma, n = 0, t0, t1, bounced0 = 0;
	bool bounce = sw_col_dom[col] == SW_D_BOUNCE;
	struct iovx_dma_stats st;

	if (bounce) {
		if (iovx_dma_get_stats(d->dom, &st))
			return -1;
		bounced0 = st.bounced;
	}
	t0 = iovx_bench_now_ns();
	do {
		unsigned int i;

		/* the clock is read every SW_CLOCK_EVERY pairs, not charged to each */
		for (i = 0; i < SW_CLOCK_EVERY; i++) {
			if (iovx_dma_map_single(d->dom, phys, len, dir, 0, &dma))
				return -1;
			if (iovx_dma_unmap_single(d->dom, dma, len, dir, 0))
				return -1;
		}
		n += SW_CLOCK_EVERY;
		t1 = iovx_bench_now_ns();
	} while (t1 - t0 < c->batch_ns);
	if (sw_col_dom[col] == SW_D_DEFERRED) {
		if (iovx_dma_flush_deferred(d->dom))
			return -1;
		t1 = iovx_bench_now_ns();
	}
	if (bounce) {
		if (iovx_dma_get_stats(d->dom, &st) || st.bounced - bounced0 != n)
			return -1;
	}
	return (double)(t1 - t0) / (double)n;
}

static int sw_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double sw_median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), sw_cmp);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Medians of the wanted columns at one length; columns alternate, the order rotating. */
static void sw_measure(const struct sw_ctx *c, struct sw_run *r, size_t len, const bool *want,
		       double *out)
{
	double v[SW_NR_COLS][SW_MAX_REPS];
	bool bad[SW_NR_COLS] = { false };
	unsigned int rep, k;

	/* warm-up: one short batch each */
	for (k = 0; k < SW_NR_COLS; k++)
		if (want[k] && sw_batch(c, r, k, len) < 0)
			bad[k] = true;
	for (rep = 0; rep < c->reps; rep++) {
		for (k = 0; k < SW_NR_COLS; k++) {
			unsigned int m = (k + rep) % SW_NR_COLS;

			if (!want[m] || bad[m])
				continue;
			v[m][rep] = sw_batch(c, r, m, len);
			if (v[m][rep] < 0)
				bad[m] = true;
		}
	}
	for (k = 0; k < SW_NR_COLS; k++)
		out[k] = (!want[k] || bad[k]) ? -1 : sw_median(v[k], c->reps);
}

static void sw_print_table(const struct sw_run *r)
{
	unsigned int i, k, x;

	printf("\n%s: median ns per map_single + unmap_single\n",
	       r->charged ? "charged (default cost model busy-waited)" :
			    "uncharged (cost model accounted only)");
	printf("  %8s", "size");
	for (k = 0; k < SW_NR_COLS; k++)
		printf(" %12s", sw_names[k]);
	printf(" %10s %10s\n", "s/b TO", "s/b BIDI");
	for (i = 0; i < SW_NR_SIZES; i++) {
		const double *ns = r->ns[i];

		printf("  %8llu", 1ull << (SW_MIN_SHIFT + i));
		for (k = 0; k < SW_NR_COLS; k++) {
			if (ns[k] < 0)
				printf(" %12s", "n/a");
			else
				printf(" %12.1f", ns[k]);
		}
		for (x = 0; x < SW_NR_DIRS; x++) {
			double b = ns[sw_dir_bounce[x]], st = ns[sw_dir_strict[x]];

			if (b > 0 && st > 0)
				printf(" %9.2fx", st / b);
			else
				printf(" %10s", "n/a");
		}
		printf("\n");
	}
}

/*
 * The break-even of direction x: the length above which bouncing is no longer cheaper, i.e.
 * what a "bounce below it" policy should use. The smallest power of two from which on
 * bounce >= strict at every size the pool serves brackets it with the one below (a noisy
 * point further down, where the curves are far apart, cannot move it); SW_REFINE - 1 steps
 * between the two are measured, and the break-even is the linear interpolation of
 * strict - bounce across the change point of its sign (the boundary the fewest steps
 * contradict, so one noisy step cannot move it). Every
 * figure it uses is the lower of two medians taken apart in time (the table's and a second
 * look; two looks at the steps): contention on a shared machine only adds time.
 */
/* The lower of the two figures (a second look): contention on a shared machine only adds time. */
static double sw_lower(double a, double b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/*
 * strict - bounce of direction x at len, each the lower of one more median and st / b (an
 * earlier median at that length, or < 0: none, then two are measured).
 */
static double sw_diff(const struct sw_ctx *c, struct sw_run *r, unsigned int x, size_t len,
		      double st, double b)
{
	enum sw_col cs = sw_dir_strict[x], cb = sw_dir_bounce[x];
	bool want[SW_NR_COLS] = { false };
	double out[SW_NR_COLS];
	unsigned int k;

	want[cs] = want[cb] = true;
	for (k = 0; k < (st < 0 || b < 0 ? 2u : 1u); k++) {
		sw_measure(c, r, len, want, out);
		st = sw_lower(st, out[cs]);
		b = sw_lower(b, out[cb]);
	}
	return (st < 0 || b < 0) ? 0 : st - b;
}

static void sw_breakeven(const struct sw_ctx *c, struct sw_run *r, unsigned int x)
{
	enum sw_col cs = sw_dir_strict[x], cb = sw_dir_bounce[x];
	double d[SW_REFINE + 1], dp[SW_NR_SIZES];
	struct sw_xover *xo = &r->x[x];
	size_t lo, len[SW_REFINE + 1];
	unsigned int i, top, s, k, last = 0, best;

	xo->have_be = false;
	/* top: one past the last size the pool serves */
	for (top = 0; top < SW_NR_SIZES && r->ns[top][cb] >= 0 && r->ns[top][cs] >= 0; top++)
		;
	/* a second look at every served size: strict - bounce from the lower figures */
	for (i = 0; i < top; i++)
		dp[i] = sw_diff(c, r, x, (size_t)1 << (SW_MIN_SHIFT + i), r->ns[i][cs],
				r->ns[i][cb]);
	for (i = top; i > 0 && dp[i - 1] <= 0; i--)
		;
	if (i == top)
		return;		/* bounce cheaper at the largest size it serves */
	xo->have_be = true;
	if (i == 0) {
		xo->breakeven = (double)(1u << SW_MIN_SHIFT);
		xo->bracket_lo = xo->bracket_hi = 1u << SW_MIN_SHIFT;
		return;
	}
	/* bounce cheaper at size i - 1, not from size i on */
	lo = (size_t)1 << (SW_MIN_SHIFT + i - 1);
	len[0] = lo;
	d[0] = dp[i - 1];
	len[SW_REFINE] = 2 * lo;
	d[SW_REFINE] = dp[i];
	for (s = 1; s < SW_REFINE; s++) {
		len[s] = lo + lo * s / SW_REFINE;
		d[s] = sw_diff(c, r, x, len[s], -1, -1);
	}
	/*
	 * The change point: the boundary between steps k - 1 and k that the fewest steps
	 * contradict (bouncing not cheaper below it, or cheaper above it), so one noisy step
	 * cannot move it; then the interpolation between the two steps, or their midpoint
	 * when one of them is itself a contradicted one.
	 */
	best = SW_REFINE + 1;
	for (k = 1; k <= SW_REFINE; k++) {
		unsigned int wrong = 0;

		for (s = 0; s <= SW_REFINE; s++)
			wrong += s < k ? d[s] <= 0 : d[s] > 0;
		if (wrong < best) {
			best = wrong;
			last = k - 1;
		}
	}
	xo->bracket_lo = len[last];
	xo->bracket_hi = len[last + 1];
	if (d[last] > 0 && d[last + 1] <= 0)
		xo->breakeven = (double)len[last] + (double)(len[last + 1] - len[last]) *
						    d[last] / (d[last] - d[last + 1]);
	else
		xo->breakeven = ((double)len[last] + (double)len[last + 1]) / 2;
}

/* Does the domain bounce a map of len bytes in direction dir? (-1: a call failed) */
static int sw_bounces(const struct sw_ctx *c, struct sw_dom *d, size_t len, enum iovx_dma_dir dir)
{
	struct iovx_dma_stats s0, s1;
	uint64_t dma;

	if (iovx_dma_get_stats(d->dom, &s0) ||
	    iovx_dma_map_single(d->dom, (uint64_t)(uintptr_t)c->buf, len, dir, 0, &dma) ||
	    iovx_dma_unmap_single(d->dom, dma, len, dir, 0) || iovx_dma_get_stats(d->dom, &s1))
		return -1;
	return s1.bounced != s0.bounced;
}

/* The crossover the domain routes dir with: the smallest length it does not bounce. */
static int sw_probe(const struct sw_ctx *c, struct sw_dom *d, enum iovx_dma_dir dir,
		    uint64_t *xover)
{
	size_t lo = 0, hi = SW_BOUNCE_MAX;	/* lo bounces (or is 0), hi does not */

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		int b = sw_bounces(c, d, mid, dir);

		if (b < 0)
			return -EIO;
		if (b)
			lo = mid;
		else
			hi = mid;
	}
	*xover = hi == 1 ? 0 : hi;
	return 0;
}

/*
 * The crossovers a default bounce domain, calibrated on a fresh simulator, routes with
 * (the k-th of SW_NR_CAL such domains).
 */
static int sw_calibrated(const struct sw_ctx *c, struct sw_run *r, unsigned int k)
{
	struct iovx_dma_stats st;
	struct sw_dom cal;
	unsigned int x;
	int err;

	err = sw_dom_create(&cal, SW_D_BOUNCE, r->charged, 0);
	if (err)
		return err;
	err = iovx_dma_get_stats(cal.dom, &st);
	if (!err && !k)
		r->reported = st.bounce_crossover;
	for (x = 0; x < SW_NR_DIRS && !err; x++)
		err = sw_probe(c, &cal, sw_dir_dir[x], &r->x[x].cal[k]);
	/* the stats report the FROM_DEVICE/BIDIRECTIONAL crossover: is it the routed one? */
	if (!err && st.bounce_crossover != r->x[1].cal[k])
		r->report_mismatch = true;
	sw_dom_destroy(&cal);
	return err;
}

static int sw_run_one(const struct sw_ctx *c, struct sw_run *r, bool charged)
{
	bool want[SW_NR_COLS];
	unsigned int i, k, x;
	int err;

	memset(r, 0, sizeof(*r));
	r->charged = charged;
	/*
	 * The machine drifts (other tenants, their cache use): calibrate before the sweep,
	 * between the table and the refinement, and after, and keep the median.
	 */
	r->cal_err = sw_calibrated(c, r, 0);
	for (k = 0; k < SW_NR_DOMS; k++) {
		err = sw_dom_create(&r->d[k], k, charged, SW_BOUNCE_MAX);
		if (err) {
			fprintf(stderr, "sweep: %s domain: %s\n", sw_names[k], strerror(-err));
			while (k--)
				sw_dom_destroy(&r->d[k]);
			return err;
		}
	}
	for (i = 0; i < SW_NR_SIZES; i++) {
		size_t len = (size_t)1 << (SW_MIN_SHIFT + i);

		for (k = 0; k < SW_NR_COLS; k++)
			want[k] = sw_col_dom[k] != SW_D_BOUNCE || len < SW_BOUNCE_MAX;
		sw_measure(c, r, len, want, r->ns[i]);
	}
	if (!r->cal_err)
		r->cal_err = sw_calibrated(c, r, 1);
	for (x = 0; x < SW_NR_DIRS; x++)
		sw_breakeven(c, r, x);
	for (k = 0; k < SW_NR_DOMS; k++)
		sw_dom_destroy(&r->d[k]);
	if (!r->cal_err)
		r->cal_err = sw_calibrated(c, r, 2);

	for (x = 0; x < SW_NR_DIRS && !r->cal_err; x++) {
		struct sw_xover *xo = &r->x[x];
		double v[SW_NR_CAL];

		for (k = 0; k < SW_NR_CAL; k++)
			v[k] = (double)xo->cal[k];
		xo->calibrated = (uint64_t)sw_median(v, SW_NR_CAL);

		if (xo->have_be) {
			xo->err_pct = 100.0 * ((double)xo->calibrated - xo->breakeven) /
				      xo->breakeven;
			xo->pass = fabs(xo->err_pct) <= 100.0 * SW_TOLERANCE;
		} else {
			/* bounce cheaper wherever it can: the calibration must pick the cap */
			xo->pass = xo->calibrated >= SW_BOUNCE_MAX;
		}
	}
	return 0;
}

/* One line per setting and direction; returns how many passed. */
static unsigned int sw_print_summary(const struct sw_run *runs, unsigned int nr, bool quick)
{
	unsigned int r, x, pass = 0;

	printf("\ncrossover check: calibrated (what a default bounce domain routes; median of %u "
	       "domains created before, amid and after the sweep) vs measured break-even, PASS "
	       "within %.0f %%;\n  no break-even below %llu B: PASS when the calibration picked "
	       "that cap\n", SW_NR_CAL, 100.0 * SW_TOLERANCE, SW_BOUNCE_MAX);
	printf("  %-9s %-13s %11s %13s %10s %8s  %-4s  %s\n", "setting", "direction",
	       "break-even", "step bracket", "calibrated", "error", "", "3 calibrations");
	for (r = 0; r < nr; r++) {
		const struct sw_run *run = &runs[r];
		const char *tag = run->charged ? "charged" : "uncharged";

		for (x = 0; x < SW_NR_DIRS; x++) {
			const struct sw_xover *xo = &run->x[x];
			char be[32], br[32], cal[32], err[16], all[64] = "-";

			if (xo->have_be) {
				snprintf(be, sizeof(be), "%.0f B", xo->breakeven);
				snprintf(br, sizeof(br), "%zu..%zu", xo->bracket_lo,
					 xo->bracket_hi);
			} else {
				snprintf(be, sizeof(be), ">= %llu B", SW_BOUNCE_MAX);
				snprintf(br, sizeof(br), "none");
			}
			if (run->cal_err) {
				snprintf(cal, sizeof(cal), "error");
				snprintf(err, sizeof(err), "-");
			} else {
				snprintf(cal, sizeof(cal), "%llu B",
					 (unsigned long long)xo->calibrated);
				snprintf(all, sizeof(all), "%llu/%llu/%llu",
					 (unsigned long long)xo->cal[0],
					 (unsigned long long)xo->cal[1],
					 (unsigned long long)xo->cal[2]);
				if (xo->have_be)
					snprintf(err, sizeof(err), "%+.1f %%", xo->err_pct);
				else
					snprintf(err, sizeof(err), "-");
			}
			printf("  %-9s %-13s %11s %13s %10s %8s  %-4s  %s\n", tag,
			       sw_dir_names[x], be, br, cal, err, xo->pass ? "PASS" : "FAIL", all);
			pass += xo->pass;
		}
		if (run->cal_err)
			printf("  %s: calibrated domain: %s\n", tag, strerror(-run->cal_err));
		else if (run->report_mismatch)
			printf("  %s: WARNING: a calibrated domain's stats.bounce_crossover "
			       "differs from its routed BIDIRECTIONAL crossover\n", tag);
	}
	printf("crossover check: %s (%u of %u)%s\n", pass == nr * SW_NR_DIRS ? "PASS" : "FAIL",
	       pass, nr * SW_NR_DIRS,
	       quick ? " -- --quick: batches too short for a meaningful verdict" : "");
	return pass;
}

static void sw_json(struct iovx_bench_json *j, const struct sw_run *r)
{
	unsigned int i, k, x;

	if (!j)
		return;
	iovx_bench_json_obj_begin(j, r->charged ? "charged" : "uncharged");
	iovx_bench_json_arr_begin(j, "rows");
	for (i = 0; i < SW_NR_SIZES; i++) {
		iovx_bench_json_obj_begin(j, NULL);
		iovx_bench_json_u64(j, "size", 1ull << (SW_MIN_SHIFT + i));
		for (k = 0; k < SW_NR_COLS; k++) {
			if (r->ns[i][k] < 0)
				iovx_bench_json_null(j, sw_names[k]);
			else
				iovx_bench_json_num(j, sw_names[k], r->ns[i][k]);
		}
		iovx_bench_json_obj_end(j);
	}
	iovx_bench_json_arr_end(j);
	if (!r->cal_err)
		iovx_bench_json_u64(j, "reported_crossover", r->reported);
	for (x = 0; x < SW_NR_DIRS; x++) {
		const struct sw_xover *xo = &r->x[x];

		iovx_bench_json_obj_begin(j, x ? "bidirectional" : "to_device");
		if (xo->have_be) {
			iovx_bench_json_num(j, "breakeven_bytes", xo->breakeven);
			iovx_bench_json_u64(j, "bracket_lo", xo->bracket_lo);
			iovx_bench_json_u64(j, "bracket_hi", xo->bracket_hi);
		} else {
			iovx_bench_json_null(j, "breakeven_bytes");
		}
		if (r->cal_err) {
			iovx_bench_json_null(j, "calibrated_crossover");
		} else {
			unsigned int k;

			iovx_bench_json_u64(j, "calibrated_crossover", xo->calibrated);
			iovx_bench_json_arr_begin(j, "calibrations");
			for (k = 0; k < SW_NR_CAL; k++)
				iovx_bench_json_u64(j, NULL, xo->cal[k]);
			iovx_bench_json_arr_end(j);
			if (xo->have_be)
				iovx_bench_json_num(j, "error_pct", xo->err_pct);
		}
		iovx_bench_json_bool(j, "pass", xo->pass);
		iovx_bench_json_obj_end(j);
	}
	iovx_bench_json_obj_end(j);
}

/* --param plot=FILE.png, else sweep.png next to the executable (the build directory). */
#define SW_PATH	1024

struct sw_paths {
	char exe[SW_PATH / 2], png[SW_PATH / 2], base[SW_PATH / 2], dat[SW_PATH], gp[SW_PATH];
	char cmd[2 * SW_PATH];
};

static void sw_plot_path(const struct iovx_bench_opts *o, char *exe, char *out, size_t len)
{
	const char *p = o->params ? strstr(o->params, "plot=") : NULL;
	ssize_t n;
	char *slash;

	if (p) {
		p += 5;
		snprintf(out, len, "%.*s", (int)strcspn(p, ","), p);
		return;
	}
	n = readlink("/proc/self/exe", exe, SW_PATH / 2 - 16);
	if (n <= 0) {
		snprintf(out, len, "sweep.png");
		return;
	}
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	memcpy(exe + strlen(exe), "/sweep.png", 11);
	snprintf(out, len, "%s", exe);
}

static void sw_plot_files(const struct iovx_bench_opts *o, const struct sw_run *runs,
			  unsigned int nr, struct iovx_bench_json *j, struct sw_paths *p);

static void sw_plot(const struct iovx_bench_opts *o, const struct sw_run *runs,
		    unsigned int nr, struct iovx_bench_json *j)
{
	struct sw_paths *p = calloc(1, sizeof(*p));

	if (!p) {
		printf("plot: no memory (skipped)\n");
		return;
	}
	sw_plot_files(o, runs, nr, j, p);
	free(p);
}

static void sw_plot_files(const struct iovx_bench_opts *o, const struct sw_run *runs,
			  unsigned int nr, struct iovx_bench_json *j, struct sw_paths *p)
{
	char *png = p->png, *base = p->base, *dat = p->dat, *gp = p->gp, *cmd = p->cmd;
	unsigned int r, i, k;
	size_t bl;
	FILE *f;

	sw_plot_path(o, p->exe, png, sizeof(p->png));
	snprintf(base, sizeof(p->base), "%s", png);
	bl = strlen(base);
	if (bl > 4 && !strcmp(base + bl - 4, ".png"))
		base[bl - 4] = 0;
	snprintf(dat, SW_PATH, "%s.dat", base);
	snprintf(gp, SW_PATH, "%s.gp", base);

	f = fopen(dat, "w");
	if (!f) {
		printf("plot: cannot write %s: %s (skipped)\n", dat, strerror(errno));
		return;
	}
	for (r = 0; r < nr; r++) {
		fprintf(f, "# %s: size passthrough strict deferred bounce strict-bidi bounce-bidi "
			"(ns/pair, NaN: n/a)\n",
			runs[r].charged ? "charged" : "uncharged");
		for (i = 0; i < SW_NR_SIZES; i++) {
			fprintf(f, "%llu", 1ull << (SW_MIN_SHIFT + i));
			for (k = 0; k < SW_NR_COLS; k++) {
				if (runs[r].ns[i][k] > 0)
					fprintf(f, " %.2f", runs[r].ns[i][k]);
				else
					fprintf(f, " NaN");
			}
			fprintf(f, "\n");
		}
		fprintf(f, "\n\n");
	}
	if (fclose(f)) {
		printf("plot: error writing %s (skipped)\n", dat);
		return;
	}

	f = fopen(gp, "w");
	if (!f) {
		printf("plot: cannot write %s: %s (skipped)\n", gp, strerror(errno));
		return;
	}
	fprintf(f, "# generated by iovx-bench sweep\n"
		"set terminal pngcairo size 1100,%u\n"
		"set output '%s'\n"
		"set logscale xy\n"
		"set grid\n"
		"set key left top\n"
		"set xlabel 'buffer size (bytes)'\n"
		"set ylabel 'ns per map\\_single + unmap\\_single'\n"
		"set xtics ('64' 64, '256' 256, '1K' 1024, '4K' 4096, '16K' 16384, "
		"'64K' 65536, '256K' 262144)\n"
		"set datafile missing 'NaN'\n", nr > 1 ? 900u : 500u, png);
	if (nr > 1)
		fprintf(f, "set multiplot layout 2,1\n");
	for (r = 0; r < nr; r++) {
		fprintf(f, "set title 'iovx DMA modes on the simulator, %s'\n",
			runs[r].charged ? "default cost model charged (busy-waited)" :
					  "cost model not charged");
		fprintf(f, "plot ");
		for (k = 0; k < SW_NR_COLS; k++)
			fprintf(f, "%s'%s' index %u using 1:%u with linespoints title '%s'",
				k ? ", " : "", dat, r, k + 2, sw_names[k]);
		fprintf(f, "\n");
	}
	if (nr > 1)
		fprintf(f, "unset multiplot\n");
	if (fclose(f)) {
		printf("plot: error writing %s (skipped)\n", gp);
		return;
	}
	if (system("command -v gnuplot >/dev/null 2>&1")) {
		printf("plot: gnuplot not found, skipped (script %s, data %s)\n", gp, dat);
		return;
	}
	snprintf(cmd, 2 * SW_PATH, "gnuplot '%s'", gp);
	if (system(cmd)) {
		printf("plot: gnuplot failed (script %s)\n", gp);
		return;
	}
	printf("plot: %s (script %s, data %s)\n", png, gp, dat);
	if (j)
		iovx_bench_json_str(j, "plot", png);
}

int iovx_bench_sweep(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	struct sw_run *runs;
	struct sw_ctx c;
	unsigned int r, pass;
	int err = 0;

	/*
	 * Many short batches: on a shared machine a batch that is preempted is an outlier the
	 * median drops, and the shorter the batch the fewer of them are hit.
	 */
	c.reps = o->quick ? 3 : (o->reps < SW_REPS ? SW_REPS : o->reps);
	if (c.reps > SW_MAX_REPS)
		c.reps = SW_MAX_REPS;
	/* default --seconds 0.25 -> 0.5 ms batches; --quick -> 0.05 ms */
	c.batch_ns = (uint64_t)(o->seconds * 1e9 / 500);
	if (c.batch_ns < 50000)
		c.batch_ns = 50000;
	if (posix_memalign((void **)&c.buf, 4096, SW_MAX_LEN))
		return -ENOMEM;
	memset(c.buf, 0x5a, SW_MAX_LEN);
	runs = calloc(2, sizeof(*runs));
	if (!runs) {
		free(c.buf);
		return -ENOMEM;
	}
	printf("sweep: map_single + unmap_single, sizes 64 B .. 256 KiB; %u reps, %.2f ms "
	       "batches, columns rotated; measured bounce domain's crossover forced to %llu "
	       "(n/a where the pool does not serve)\n", c.reps, (double)c.batch_ns / 1e6,
	       SW_BOUNCE_MAX);

	for (r = 0; r < 2 && !err; r++) {
		err = sw_run_one(&c, &runs[r], r == 0);
		if (err)
			break;
		sw_print_table(&runs[r]);
	}
	if (!err) {
		const double *ns = runs[0].ns[9 - SW_MIN_SHIFT];	/* 512 B, charged */

		pass = sw_print_summary(runs, 2, o->quick);
		if (ns[SW_BOUNCE] > 0 && ns[SW_STRICT] > 0)
			printf("charged: 512 B strict/bounce = %.1fx (target >= 3x)\n",
			       ns[SW_STRICT] / ns[SW_BOUNCE]);
		if (j) {
			iovx_bench_json_obj_begin(j, "sweep");
			for (r = 0; r < 2; r++)
				sw_json(j, &runs[r]);
			iovx_bench_json_bool(j, "crossover_check_pass", pass == 2 * SW_NR_DIRS);
			if (ns[SW_BOUNCE] > 0 && ns[SW_STRICT] > 0)
				iovx_bench_json_num(j, "ratio_512_strict_over_bounce",
						    ns[SW_STRICT] / ns[SW_BOUNCE]);
		}
		sw_plot(o, runs, 2, j);
		if (j)
			iovx_bench_json_obj_end(j);
	}
	free(runs);
	free(c.buf);
	return err;
}

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * bench-sweep.c - "iovx-bench sweep": map_single + unmap_single cost by size, for the
 * passthrough, strict, deferred and bounce modes side by side (issue 8, docs/bounce.md).
 *
 * Sizes 64 B .. 256 KiB (powers of two), TO_DEVICE, one page-aligned cache-hot buffer. For
 * every size, each mode runs one batch of pairs (map + unmap, timed over the batch; the
 * deferred batch ends with iovx_dma_flush_deferred, inside the timing, so its drain is paid
 * for), the mode order rotated each repetition; the figure is the median ns per pair.
 *
 * The bounce domain has bounce_crossover forced to the largest class (64 KiB), so it
 * bounces every length below it; a size the pool did not serve (its stats say so: 64 KiB
 * and above fall back to strict) is reported n/a.
 *
 * Two situations, as the calibration (iovx_bounce_calibrate) distinguishes them:
 *   charged    the simulator busy-waits its default SMMUv3 cost model (charge_time)
 *   uncharged  the model is only accounted: the IOMMU work is iovx's own software cost
 * For each: the measured break-even (bounce and strict curves crossing; log-log
 * interpolation between the bracketing powers of two, then refined in 1/8 steps), the
 * crossover a default bounce domain calibrates to (stats.bounce_crossover), and whether
 * it lies within 25 % of the break-even. Also the 512 B strict/bounce ratio (issue target:
 * at least 3 when charged).
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
#define SW_CLOCK_EVERY	8		/* pairs between two clock reads */

enum sw_mode { SW_PT, SW_STRICT, SW_DEFERRED, SW_BOUNCE, SW_NR_MODES };

static const char *const sw_names[SW_NR_MODES] = {
	"passthrough", "strict", "deferred", "bounce",
};

static const enum iovx_dma_mode sw_dma_mode[SW_NR_MODES] = {
	IOVX_DMA_MODE_PASSTHROUGH, IOVX_DMA_MODE_STRICT, IOVX_DMA_MODE_DEFERRED,
	IOVX_DMA_MODE_BOUNCE,
};

struct sw_dom {
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
};

struct sw_run {
	bool charged;
	struct sw_dom d[SW_NR_MODES];
	double ns[SW_NR_SIZES][SW_NR_MODES];	/* median ns per pair; < 0: n/a */
	uint64_t calibrated;			/* a default bounce domain's crossover */
	int cal_err;
	double breakeven;			/* bytes; 0: none inside the sweep */
	double breakeven_interp;		/* log-log interpolation only */
	bool cal_ok;				/* within 25 % */
};

struct sw_ctx {
	unsigned int reps;
	uint64_t batch_ns;			/* one timed batch of one mode */
	uint8_t *buf;
};

static int sw_dom_create(struct sw_dom *d, enum sw_mode m, bool charged, uint64_t crossover)
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
	iovx_dma_config_init(&dc, m == SW_PT ? NULL : iovx_sim_iommu(d->sim), sw_dma_mode[m]);
	if (m == SW_BOUNCE)
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
 * One timed batch: pairs until batch_ns has passed (at least SW_CLOCK_EVERY). Returns ns per pair, or a
 * negative value when a call failed or (bounce) the pool did not serve the maps.
 */
static double sw_batch(const struct sw_ctx *c, struct sw_dom *d, enum sw_mode m, size_t len)
{
	uint64_t phys = (uint64_t)(uintptr_t)c->buf, dma, n = 0, t0, t1, bounced0 = 0;
	struct iovx_dma_stats st;

	if (m == SW_BOUNCE) {
		if (iovx_dma_get_stats(d->dom, &st))
			return -1;
		bounced0 = st.bounced;
	}
	t0 = iovx_bench_now_ns();
	do {
		unsigned int i;

		/* the clock is read every SW_CLOCK_EVERY pairs, not charged to each */
		for (i = 0; i < SW_CLOCK_EVERY; i++) {
			if (iovx_dma_map_single(d->dom, phys, len, IOVX_DMA_TO_DEVICE, 0, &dma))
				return -1;
			if (iovx_dma_unmap_single(d->dom, dma, len, IOVX_DMA_TO_DEVICE, 0))
				return -1;
		}
		n += SW_CLOCK_EVERY;
		t1 = iovx_bench_now_ns();
	} while (t1 - t0 < c->batch_ns);
	if (m == SW_DEFERRED) {
		if (iovx_dma_flush_deferred(d->dom))
			return -1;
		t1 = iovx_bench_now_ns();
	}
	if (m == SW_BOUNCE) {
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

/* Medians of the given modes at one length; modes alternate, the order rotating. */
static void sw_measure(const struct sw_ctx *c, struct sw_run *r, size_t len,
		       const bool *want, double *out)
{
	double v[SW_NR_MODES][SW_MAX_REPS];
	bool bad[SW_NR_MODES] = { false };
	unsigned int rep, k;

	/* warm-up: one short batch each */
	for (k = 0; k < SW_NR_MODES; k++)
		if (want[k] && sw_batch(c, &r->d[k], k, len) < 0)
			bad[k] = true;
	for (rep = 0; rep < c->reps; rep++) {
		for (k = 0; k < SW_NR_MODES; k++) {
			unsigned int m = (k + rep) % SW_NR_MODES;

			if (!want[m] || bad[m])
				continue;
			v[m][rep] = sw_batch(c, &r->d[m], m, len);
			if (v[m][rep] < 0)
				bad[m] = true;
		}
	}
	for (k = 0; k < SW_NR_MODES; k++)
		out[k] = (!want[k] || bad[k]) ? -1 : sw_median(v[k], c->reps);
}

static void sw_print_table(const struct sw_run *r)
{
	unsigned int i, k;

	printf("\n%s: median ns per map_single + unmap_single (TO_DEVICE)\n",
	       r->charged ? "charged (default cost model busy-waited)" :
			    "uncharged (cost model accounted only)");
	printf("  %8s", "size");
	for (k = 0; k < SW_NR_MODES; k++)
		printf(" %12s", sw_names[k]);
	printf(" %14s\n", "strict/bounce");
	for (i = 0; i < SW_NR_SIZES; i++) {
		const double *ns = r->ns[i];

		printf("  %8llu", 1ull << (SW_MIN_SHIFT + i));
		for (k = 0; k < SW_NR_MODES; k++) {
			if (ns[k] < 0)
				printf(" %12s", "n/a");
			else
				printf(" %12.1f", ns[k]);
		}
		if (ns[SW_BOUNCE] > 0 && ns[SW_STRICT] > 0)
			printf(" %13.2fx\n", ns[SW_STRICT] / ns[SW_BOUNCE]);
		else
			printf(" %14s\n", "n/a");
	}
}

/*
 * The break-even: the first power of two where bounce >= strict, interpolated in log-log
 * between it and the one below, then refined by measuring SW_REFINE steps between them.
 */
static void sw_breakeven(const struct sw_ctx *c, struct sw_run *r)
{
	bool want[SW_NR_MODES] = { false };
	double out[SW_NR_MODES];
	unsigned int i, s;

	r->breakeven = 0;
	r->breakeven_interp = 0;
	for (i = 0; i < SW_NR_SIZES; i++) {
		double b = r->ns[i][SW_BOUNCE], st = r->ns[i][SW_STRICT];

		if (b < 0 || st < 0)
			break;
		if (b >= st)
			break;
	}
	if (i == SW_NR_SIZES || r->ns[i][SW_BOUNCE] < 0 || r->ns[i][SW_STRICT] < 0)
		return;		/* bounce cheaper at every size it serves */
	if (i == 0) {
		r->breakeven = r->breakeven_interp = 1u << SW_MIN_SHIFT;
		return;
	}
	{
		double d0 = log(r->ns[i - 1][SW_BOUNCE] / r->ns[i - 1][SW_STRICT]);
		double d1 = log(r->ns[i][SW_BOUNCE] / r->ns[i][SW_STRICT]);
		double x0 = (double)(SW_MIN_SHIFT + i - 1), f = d0 / (d0 - d1);

		r->breakeven_interp = exp2(x0 + f);
	}
	r->breakeven = (double)(1u << (SW_MIN_SHIFT + i));
	want[SW_STRICT] = want[SW_BOUNCE] = true;
	for (s = 1; s < SW_REFINE; s++) {
		size_t lo = (size_t)1 << (SW_MIN_SHIFT + i - 1);
		size_t len = lo + lo * s / SW_REFINE;

		sw_measure(c, r, len, want, out);
		if (out[SW_BOUNCE] < 0 || out[SW_STRICT] < 0)
			break;
		if (out[SW_BOUNCE] >= out[SW_STRICT]) {
			r->breakeven = (double)len;
			break;
		}
	}
}

static int sw_run_one(const struct sw_ctx *c, struct sw_run *r, bool charged)
{
	bool want[SW_NR_MODES] = { true, true, true, true };
	struct iovx_dma_stats st;
	struct sw_dom cal;
	unsigned int i, k;
	int err;

	memset(r, 0, sizeof(*r));
	r->charged = charged;
	/* the crossover a default bounce domain calibrates to on this simulator */
	r->cal_err = sw_dom_create(&cal, SW_BOUNCE, charged, 0);
	if (!r->cal_err) {
		r->cal_err = iovx_dma_get_stats(cal.dom, &st);
		r->calibrated = st.bounce_crossover;
		sw_dom_destroy(&cal);
	}
	for (k = 0; k < SW_NR_MODES; k++) {
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

		want[SW_BOUNCE] = len < SW_BOUNCE_MAX;
		sw_measure(c, r, len, want, r->ns[i]);
	}
	sw_breakeven(c, r);
	for (k = 0; k < SW_NR_MODES; k++)
		sw_dom_destroy(&r->d[k]);

	if (r->breakeven > 0 && !r->cal_err)
		r->cal_ok = fabs((double)r->calibrated - r->breakeven) <= 0.25 * r->breakeven;
	else if (!r->cal_err)
		/* bounce cheaper everywhere it can bounce: the calibration must pick the cap */
		r->cal_ok = r->calibrated >= SW_BOUNCE_MAX;
	return 0;
}

static void sw_print_summary(const struct sw_run *r)
{
	const char *tag = r->charged ? "charged" : "uncharged";

	if (r->breakeven > 0)
		printf("%s: measured break-even %.0f B (1/8-step refinement; log-log "
		       "interpolation %.0f B)\n", tag, r->breakeven, r->breakeven_interp);
	else
		printf("%s: measured break-even: none, bounce cheaper than strict at every size "
		       "it serves (< %llu B)\n", tag, SW_BOUNCE_MAX);
	if (r->cal_err) {
		printf("%s: calibrated crossover: unavailable (%s)\n", tag, strerror(-r->cal_err));
		return;
	}
	if (r->breakeven > 0)
		printf("%s: calibrated crossover %llu B, %+.1f %% of the break-even: %s 25 %%\n",
		       tag, (unsigned long long)r->calibrated,
		       100.0 * ((double)r->calibrated - r->breakeven) / r->breakeven,
		       r->cal_ok ? "within" : "NOT within");
	else
		printf("%s: calibrated crossover %llu B (cap %llu): %s\n", tag,
		       (unsigned long long)r->calibrated, SW_BOUNCE_MAX,
		       r->cal_ok ? "consistent (the cap)" : "NOT consistent (below the cap)");
}

static void sw_json(struct iovx_bench_json *j, const struct sw_run *r)
{
	unsigned int i, k;

	if (!j)
		return;
	iovx_bench_json_obj_begin(j, r->charged ? "charged" : "uncharged");
	iovx_bench_json_arr_begin(j, "rows");
	for (i = 0; i < SW_NR_SIZES; i++) {
		iovx_bench_json_obj_begin(j, NULL);
		iovx_bench_json_u64(j, "size", 1ull << (SW_MIN_SHIFT + i));
		for (k = 0; k < SW_NR_MODES; k++) {
			if (r->ns[i][k] < 0)
				iovx_bench_json_null(j, sw_names[k]);
			else
				iovx_bench_json_num(j, sw_names[k], r->ns[i][k]);
		}
		iovx_bench_json_obj_end(j);
	}
	iovx_bench_json_arr_end(j);
	if (r->breakeven > 0) {
		iovx_bench_json_num(j, "breakeven_bytes", r->breakeven);
		iovx_bench_json_num(j, "breakeven_interp_bytes", r->breakeven_interp);
	} else {
		iovx_bench_json_null(j, "breakeven_bytes");
		iovx_bench_json_null(j, "breakeven_interp_bytes");
	}
	if (r->cal_err)
		iovx_bench_json_null(j, "calibrated_crossover");
	else
		iovx_bench_json_u64(j, "calibrated_crossover", r->calibrated);
	iovx_bench_json_bool(j, "crossover_within_25pct", r->cal_ok);
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
		fprintf(f, "# %s: size passthrough strict deferred bounce (ns/pair, NaN: n/a)\n",
			runs[r].charged ? "charged" : "uncharged");
		for (i = 0; i < SW_NR_SIZES; i++) {
			fprintf(f, "%llu", 1ull << (SW_MIN_SHIFT + i));
			for (k = 0; k < SW_NR_MODES; k++) {
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
		for (k = 0; k < SW_NR_MODES; k++)
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
	unsigned int r;
	int err = 0;

	c.reps = o->quick ? 3 : (o->reps < 9 ? 9 : o->reps);
	if (c.reps > SW_MAX_REPS)
		c.reps = SW_MAX_REPS;
	/* default --seconds 0.25 -> 2.5 ms batches; --quick -> 0.1 ms */
	c.batch_ns = (uint64_t)(o->seconds * 1e9 / 100);
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
	printf("sweep: map_single + unmap_single (TO_DEVICE), sizes 64 B .. 256 KiB; "
	       "%u reps, %.2f ms batches, modes rotated; bounce domain crossover forced to "
	       "%llu (n/a where the pool does not serve)\n", c.reps, (double)c.batch_ns / 1e6,
	       SW_BOUNCE_MAX);

	for (r = 0; r < 2 && !err; r++) {
		err = sw_run_one(&c, &runs[r], r == 0);
		if (err)
			break;
		sw_print_table(&runs[r]);
	}
	if (!err) {
		const double *ns = runs[0].ns[9 - SW_MIN_SHIFT];	/* 512 B, charged */

		printf("\n");
		for (r = 0; r < 2; r++)
			sw_print_summary(&runs[r]);
		if (ns[SW_BOUNCE] > 0 && ns[SW_STRICT] > 0)
			printf("charged: 512 B strict/bounce = %.1fx (target >= 3x)\n",
			       ns[SW_STRICT] / ns[SW_BOUNCE]);
		if (j) {
			iovx_bench_json_obj_begin(j, "sweep");
			for (r = 0; r < 2; r++)
				sw_json(j, &runs[r]);
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

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * harness.c - timed runs, medians, the side-by-side table and a small JSON writer for
 * iovx-bench (see bench.h).
 *
 * A run: the worker threads are created first and park on a start flag; the clock starts
 * when the flag is raised, the main thread sleeps for the run's duration, raises the stop
 * flag, joins the workers and stops the clock; the process's CPU time is read around the same
 * interval. Bodies poll the stop flag every few dozen operations, so the overshoot is well
 * under a microsecond per thread and is inside the measured interval on both sides alike. Nothing is pinned: the machine is shared, so each
 * case is warmed up, then both sides run alternately (iovx first on even repetitions, the
 * baseline first on odd ones) and the median of the repetitions is reported with the spread.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int iovx_bench_stop_flag;
__thread int64_t iovx_bench_polls_left = INT64_MAX;
static struct iovx_bench_gate gate;
static uint64_t fixed_polls;		/* a fixed-work run: polls per thread, else 0 */

void iovx_bench_progress(const struct iovx_bench_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

uint64_t iovx_bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void iovx_bench_relax(unsigned int *spins)
{
	if (++*spins < 64) {
		__builtin_ia32_pause();
	} else {
		*spins = 0;
		sched_yield();
	}
}

bool iovx_bench_selected(const struct iovx_bench_opts *o, const char *id)
{
	const char *p = o->only;
	size_t n = strlen(id);

	if (!p)
		return true;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && !strncmp(p, id, n))
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

/* ---- one timed run ------------------------------------------------------------------ */
struct worker {
	pthread_t thread;
	unsigned int tid;
	iovx_bench_body_fn *fn;
	void *ctx;
	struct iovx_bench_count cnt;
} __attribute__((aligned(128)));

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	iovx_bench_polls_left = fixed_polls ? (int64_t)fixed_polls : INT64_MAX;
	iovx_bench_gate_enter(&gate);
	w->fn(w->ctx, w->tid, &w->cnt);
	return NULL;
}

void iovx_bench_sleep(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void iovx_bench_gate_close(struct iovx_bench_gate *g)
{
	__atomic_store_n(&g->open, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&g->ready, 0, __ATOMIC_RELAXED);
}

void iovx_bench_gate_enter(struct iovx_bench_gate *g)
{
	unsigned int spins = 0;

	__atomic_fetch_add(&g->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&g->open, __ATOMIC_ACQUIRE))
		iovx_bench_relax(&spins);
}

void iovx_bench_gate_wait(struct iovx_bench_gate *g, unsigned int n)
{
	unsigned int spins = 0;

	while (__atomic_load_n(&g->ready, __ATOMIC_ACQUIRE) < n)
		iovx_bench_relax(&spins);
}

void iovx_bench_gate_open(struct iovx_bench_gate *g)
{
	__atomic_store_n(&g->open, 1, __ATOMIC_RELEASE);
}

void iovx_bench_spawn(pthread_t *th, void *(*fn)(void *), void *arg)
{
	if (pthread_create(th, NULL, fn, arg)) {
		fprintf(stderr, "iovx-bench: pthread_create failed\n");
		exit(1);
	}
}

static uint64_t cpu_time_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Returns the wall time of the run; *cpu_ns is the CPU time the process used meanwhile
 * (all threads): cpu / wall below the thread count means other load took CPUs away.
 */
static uint64_t run_once(iovx_bench_body_fn *fn, void *ctx, unsigned int nthreads,
			 double seconds, struct iovx_bench_count *sum, uint64_t *cpu_ns)
{
	static struct worker w[IOVX_BENCH_MAX_THREADS];
	unsigned int i;
	uint64_t t0, t1, c0;

	__atomic_store_n(&iovx_bench_stop_flag, 0, __ATOMIC_RELAXED);
	iovx_bench_gate_close(&gate);
	for (i = 0; i < nthreads; i++) {
		memset(&w[i].cnt, 0, sizeof(w[i].cnt));
		w[i].tid = i;
		w[i].fn = fn;
		w[i].ctx = ctx;
		iovx_bench_spawn(&w[i].thread, worker_main, &w[i]);
	}
	iovx_bench_gate_wait(&gate, nthreads);
	c0 = cpu_time_ns();
	t0 = iovx_bench_now_ns();
	iovx_bench_gate_open(&gate);
	if (seconds > 0) {
		iovx_bench_sleep(seconds);
		__atomic_store_n(&iovx_bench_stop_flag, 1, __ATOMIC_RELAXED);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(w[i].thread, NULL);
	t1 = iovx_bench_now_ns();
	*cpu_ns = cpu_time_ns() - c0;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < nthreads; i++) {
		sum->units += w[i].cnt.units;
		sum->ops += w[i].cnt.ops;
		sum->attempts += w[i].cnt.attempts;
		sum->failures += w[i].cnt.failures;
		sum->errors += w[i].cnt.errors;
	}
	return t1 - t0;
}

/* ---- a case: warm-up, alternating repetitions, medians ------------------------------ */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double iovx_bench_median(const double *v, unsigned int n)
{
	double tmp[IOVX_BENCH_MAX_REPS];

	if (!n)
		return 0;
	if (n > IOVX_BENCH_MAX_REPS)
		n = IOVX_BENCH_MAX_REPS;
	memcpy(tmp, v, n * sizeof(*v));
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	return n & 1 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

#define median iovx_bench_median

uint64_t iovx_bench_run_fixed(const struct iovx_bench_case *c, enum iovx_bench_side s,
			      uint64_t polls, struct iovx_bench_count *cnt)
{
	uint64_t cpu_ns, ns;

	fixed_polls = polls ? polls : 1;
	ns = run_once(c->body[s], c->ctx[s], c->nthreads, 0, cnt, &cpu_ns);
	fixed_polls = 0;
	if (c->after_run)
		c->after_run(c->ctx[s], s, false);
	return ns;
}

static void one_sample(const struct iovx_bench_case *c, enum iovx_bench_side s, double seconds,
		       struct iovx_bench_side_result *r)
{
	struct iovx_bench_count cnt;
	uint64_t cpu_ns, ns = run_once(c->body[s], c->ctx[s], c->nthreads, seconds, &cnt, &cpu_ns);

	if (c->after_run)
		c->after_run(c->ctx[s], s, r != NULL);
	if (!r)
		return;
	r->wall_ns[r->n] = cnt.units ? (double)ns * c->ns_scale / (double)cnt.units : 0;
	r->cpu_ns[r->n] = cnt.units ? (double)cpu_ns / (double)cnt.units : 0;
	r->ns[r->n] = c->wall_clock ? r->wall_ns[r->n] : r->cpu_ns[r->n];
	r->mops[r->n] = ns ? (double)cnt.ops * 1e3 / (double)ns : 0;
	r->cpus[r->n] = ns ? (double)cpu_ns / (double)ns : 0;
	r->n++;
	r->total.units += cnt.units;
	r->total.ops += cnt.ops;
	r->total.attempts += cnt.attempts;
	r->total.failures += cnt.failures;
	r->total.errors += cnt.errors;
}

void iovx_bench_measure(const struct iovx_bench_opts *o, const struct iovx_bench_case *c,
			struct iovx_bench_row *row)
{
	unsigned int rep, k, s;
	double warm = o->seconds / 2;

	memset(row, 0, sizeof(*row));
	row->c = c;
	for (s = 0; s < IOVX_BENCH_NR_SIDES; s++)
		row->side[s].have = c->ctx[s] != NULL;

	for (s = 0; s < IOVX_BENCH_NR_SIDES; s++)
		if (row->side[s].have)
			one_sample(c, s, warm, NULL);
	for (rep = 0; rep < o->reps && rep < IOVX_BENCH_MAX_REPS; rep++) {
		for (k = 0; k < IOVX_BENCH_NR_SIDES; k++) {
			s = (rep & 1) ? IOVX_BENCH_NR_SIDES - 1 - k : k;
			if (row->side[s].have)
				one_sample(c, s, o->seconds, &row->side[s]);
		}
	}
	for (s = 0; s < IOVX_BENCH_NR_SIDES; s++) {
		struct iovx_bench_side_result *r = &row->side[s];
		unsigned int i;

		if (!r->have || !r->n)
			continue;
		r->median_ns = median(r->ns, r->n);
		r->median_mops = median(r->mops, r->n);
		r->median_cpus = median(r->cpus, r->n);
		r->median_cpu_ns = median(r->cpu_ns, r->n);
		r->median_wall_ns = median(r->wall_ns, r->n);
		r->min_ns = r->max_ns = r->ns[0];
		for (i = 1; i < r->n; i++) {
			if (r->ns[i] < r->min_ns)
				r->min_ns = r->ns[i];
			if (r->ns[i] > r->max_ns)
				r->max_ns = r->ns[i];
		}
	}
	if (row->side[IOVX_BENCH_IOVX].median_ns > 0 && row->side[IOVX_BENCH_BASE].median_ns > 0) {
		const struct iovx_bench_side_result *x = &row->side[IOVX_BENCH_IOVX];
		const struct iovx_bench_side_result *b = &row->side[IOVX_BENCH_BASE];

		row->ratio = b->median_ns / x->median_ns;
		row->ratio_lo = x->max_ns > 0 ? b->min_ns / x->max_ns : 0;
		row->ratio_hi = x->min_ns > 0 ? b->max_ns / x->min_ns : 0;
	}
	if (row->side[IOVX_BENCH_IOVX].median_ns > 0 && row->side[IOVX_BENCH_FLOOR].median_ns > 0)
		row->floor_ratio = row->side[IOVX_BENCH_IOVX].median_ns /
				   row->side[IOVX_BENCH_FLOOR].median_ns;
}

/* ---- the table ---------------------------------------------------------------------- */
static const char *table_base = "base";
static bool table_floor;

void iovx_bench_table_header(const char *base_name, bool floor)
{
	char r[32], sp[32];

	table_base = base_name;
	table_floor = floor;
	snprintf(r, sizeof(r), "%s/iovx", base_name);
	snprintf(sp, sizeof(sp), "iovx/%s%s", base_name, floor ? "/floor" : "");
	printf("\n%-2s %-40s %3s %-8s %8s %8s", "id", "workload", "thr", "unit", "iovx",
	       base_name);
	if (floor)
		printf(" %8s", "floor");
	printf(" %10s", "ratio");
	if (floor)
		printf(" %10s", "to floor");
	printf(" %8s %8s %15s %5s\n", "iovx", base_name, "spread", "CPUs");
	printf("%-2s %-40s %3s %-8s %8s %8s", "", "", "", "", "median", "median");
	if (floor)
		printf(" %8s", "median");
	printf(" %10s", r);
	if (floor)
		printf(" %10s", "iovx/floor");
	printf(" %8s %8s %15s %5s\n", "Mops/s", "Mops/s", sp, "used");
}

static double spread_pct(const struct iovx_bench_side_result *r)
{
	return r->median_ns > 0 ? 100.0 * (r->max_ns - r->min_ns) / r->median_ns : 0;
}

void iovx_bench_table_row(const struct iovx_bench_row *row)
{
	const struct iovx_bench_case *c = row->c;
	const struct iovx_bench_side_result *x = &row->side[IOVX_BENCH_IOVX];
	const struct iovx_bench_side_result *b = &row->side[IOVX_BENCH_BASE];
	const struct iovx_bench_side_result *f = &row->side[IOVX_BENCH_FLOOR];
	char bns[16] = "n/a", fns[16] = "n/a", rat[16] = "n/a", frat[16] = "n/a";
	char bmops[16] = "n/a", spr[32], *p = spr;
	double cpus = x->median_cpus;
	unsigned int nsides = 1;

	p += snprintf(p, 12, "%.0f%%", spread_pct(x));
	if (b->have) {
		snprintf(bns, sizeof(bns), "%8.2f", b->median_ns);
		snprintf(bmops, sizeof(bmops), "%8.2f", b->median_mops);
		p += snprintf(p, 12, "/%.0f%%", spread_pct(b));
		cpus += b->median_cpus;
		nsides++;
	}
	if (f->have) {
		snprintf(fns, sizeof(fns), "%8.2f", f->median_ns);
		p += snprintf(p, 12, "/%.0f%%", spread_pct(f));
		cpus += f->median_cpus;
		nsides++;
	}
	cpus /= nsides;
	if (row->ratio > 0)
		snprintf(rat, sizeof(rat), "%7.2fx", row->ratio);
	if (row->floor_ratio > 0)
		snprintf(frat, sizeof(frat), "%7.2fx", row->floor_ratio);
	printf("%-2s %-40.40s %3u %-8s %8.2f %8s", c->id, c->name, c->nthreads, c->unit,
	       x->median_ns, bns);
	if (table_floor)
		printf(" %8s", fns);
	printf(" %10s", rat);
	if (table_floor)
		printf(" %10s", frat);
	printf(" %8.2f %8s %15s %5.2f\n", x->median_mops, bmops, spr, cpus);
	if (c->report_failures || x->total.failures || b->total.failures) {
		printf("   failures: iovx %llu of %llu allocs (%.3f%%)",
		       (unsigned long long)x->total.failures, (unsigned long long)x->total.attempts,
		       x->total.attempts ? 100.0 * x->total.failures / x->total.attempts : 0);
		if (b->have)
			printf(", %s %llu of %llu allocs (%.3f%%)", table_base,
			       (unsigned long long)b->total.failures,
			       (unsigned long long)b->total.attempts,
			       b->total.attempts ?
			       100.0 * b->total.failures / b->total.attempts : 0);
		printf("\n");
	}
	if (x->total.errors || b->total.errors)
		printf("   WARNING: frees rejected: iovx %llu, %s %llu (benchmark bug)\n",
		       (unsigned long long)x->total.errors, table_base,
		       (unsigned long long)b->total.errors);
	fflush(stdout);
}

/* ---- JSON --------------------------------------------------------------------------- */
struct iovx_bench_json {
	FILE *f;
	unsigned int depth;
	bool first[32];
	bool error;
};

struct iovx_bench_json *iovx_bench_json_open(const char *path)
{
	struct iovx_bench_json *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->f = fopen(path, "w");
	if (!j->f) {
		free(j);
		return NULL;
	}
	j->first[0] = true;
	return j;
}

int iovx_bench_json_close(struct iovx_bench_json *j)
{
	int ret;

	if (!j)
		return 0;
	fputc('\n', j->f);
	ret = j->error || ferror(j->f) ? -EIO : 0;
	if (fclose(j->f))
		ret = -errno;
	free(j);
	return ret;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Separator, indentation and key of the next member. */
static void json_member(struct iovx_bench_json *j, const char *key)
{
	unsigned int i;

	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (j->depth) {
		fputc('\n', j->f);
		for (i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	if (key) {
		json_string(j->f, key);
		fputs(": ", j->f);
	}
}

static void json_open(struct iovx_bench_json *j, const char *key, char ch)
{
	json_member(j, key);
	fputc(ch, j->f);
	if (j->depth + 1 >= sizeof(j->first) / sizeof(j->first[0])) {
		j->error = true;
		return;
	}
	j->first[++j->depth] = true;
}

static void json_close(struct iovx_bench_json *j, char ch)
{
	unsigned int i;
	bool empty = j->first[j->depth];

	if (j->depth)
		j->depth--;
	if (!empty) {
		fputc('\n', j->f);
		for (i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	fputc(ch, j->f);
}

void iovx_bench_json_obj_begin(struct iovx_bench_json *j, const char *key)
{
	if (j)
		json_open(j, key, '{');
}

void iovx_bench_json_obj_end(struct iovx_bench_json *j)
{
	if (j)
		json_close(j, '}');
}

void iovx_bench_json_arr_begin(struct iovx_bench_json *j, const char *key)
{
	if (j)
		json_open(j, key, '[');
}

void iovx_bench_json_arr_end(struct iovx_bench_json *j)
{
	if (j)
		json_close(j, ']');
}

void iovx_bench_json_str(struct iovx_bench_json *j, const char *key, const char *val)
{
	if (!j)
		return;
	json_member(j, key);
	json_string(j->f, val ? val : "");
}

void iovx_bench_json_num(struct iovx_bench_json *j, const char *key, double val)
{
	if (!j)
		return;
	json_member(j, key);
	if (isfinite(val))
		fprintf(j->f, "%.6g", val);
	else
		fputs("null", j->f);
}

void iovx_bench_json_u64(struct iovx_bench_json *j, const char *key, uint64_t val)
{
	if (!j)
		return;
	json_member(j, key);
	fprintf(j->f, "%llu", (unsigned long long)val);
}

void iovx_bench_json_bool(struct iovx_bench_json *j, const char *key, bool val)
{
	if (!j)
		return;
	json_member(j, key);
	fputs(val ? "true" : "false", j->f);
}

void iovx_bench_json_null(struct iovx_bench_json *j, const char *key)
{
	if (!j)
		return;
	json_member(j, key);
	fputs("null", j->f);
}

static void json_side(struct iovx_bench_json *j, const char *key,
		      const struct iovx_bench_side_result *r)
{
	unsigned int i;

	if (!r->have) {
		iovx_bench_json_null(j, key);
		return;
	}
	iovx_bench_json_obj_begin(j, key);
	iovx_bench_json_num(j, "median_ns", r->median_ns);
	iovx_bench_json_num(j, "min_ns", r->min_ns);
	iovx_bench_json_num(j, "max_ns", r->max_ns);
	iovx_bench_json_num(j, "median_cpu_ns", r->median_cpu_ns);
	iovx_bench_json_num(j, "median_wall_ns", r->median_wall_ns);
	iovx_bench_json_num(j, "median_mops", r->median_mops);
	iovx_bench_json_num(j, "median_cpus_used", r->median_cpus);
	iovx_bench_json_arr_begin(j, "samples_ns");
	for (i = 0; i < r->n; i++)
		iovx_bench_json_num(j, NULL, r->ns[i]);
	iovx_bench_json_arr_end(j);
	iovx_bench_json_u64(j, "units", r->total.units);
	iovx_bench_json_u64(j, "ops", r->total.ops);
	iovx_bench_json_u64(j, "alloc_attempts", r->total.attempts);
	iovx_bench_json_u64(j, "alloc_failures", r->total.failures);
	iovx_bench_json_u64(j, "free_errors", r->total.errors);
	iovx_bench_json_obj_end(j);
}

void iovx_bench_json_row(struct iovx_bench_json *j, const struct iovx_bench_row *row,
			 const char *base_name)
{
	const struct iovx_bench_case *c = row->c;

	if (!j)
		return;
	iovx_bench_json_obj_begin(j, NULL);
	iovx_bench_json_str(j, "id", c->id);
	iovx_bench_json_str(j, "workload", c->name);
	iovx_bench_json_u64(j, "threads", c->nthreads);
	iovx_bench_json_str(j, "unit", c->unit);
	iovx_bench_json_str(j, "rated_by", c->wall_clock ? "wall time" : "process CPU time");
	iovx_bench_json_u64(j, "reps", row->side[IOVX_BENCH_IOVX].n);
	json_side(j, "iovx", &row->side[IOVX_BENCH_IOVX]);
	json_side(j, base_name, &row->side[IOVX_BENCH_BASE]);
	json_side(j, "floor", &row->side[IOVX_BENCH_FLOOR]);
	if (row->ratio > 0) {
		iovx_bench_json_num(j, "ratio", row->ratio);
		iovx_bench_json_num(j, "ratio_min", row->ratio_lo);
		iovx_bench_json_num(j, "ratio_max", row->ratio_hi);
	} else {
		iovx_bench_json_null(j, "ratio");
	}
	if (row->floor_ratio > 0)
		iovx_bench_json_num(j, "iovx_to_floor", row->floor_ratio);
	else
		iovx_bench_json_null(j, "iovx_to_floor");
}

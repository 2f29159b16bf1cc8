/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * bench.h - the iovx-bench harness: options, timed thread runs, side-by-side rows with
 * medians, the printed table and the JSON report.
 *
 * A subcommand (bench-<name>.c) measures "cases". A case has one context and one body per
 * side (iovx, the baseline it is compared with, and optionally a floor: the cheapest code
 * that could do the same job); iovx_bench_measure() warms every side up, then runs them
 * alternately, reps times each, for opts->seconds per run, and reports the medians and the
 * ratios (baseline / iovx: above 1 means iovx is faster; iovx / floor: iovx's distance to
 * the floor). Bodies loop until iovx_bench_stopped() and count what they did. Nothing here
 * ever asserts a time.
 *
 * The figure a row is rated by is the process's CPU time per unit: on a shared machine,
 * time another process takes from us inflates wall time but not CPU time, while everything
 * the allocator itself costs (spinning on a lock, bouncing cache lines, yielding) is CPU
 * time. A case whose threads wait for each other (a producer and a consumer) sets
 * wall_clock and is rated by wall time instead. Both figures are in the JSON.
 *
 * To add a subcommand: write bench-<name>.c with an int iovx_bench_<name>(...) and add one
 * line to the table in iovx-bench.c.
 */
#ifndef IOVX_BENCH_H
#define IOVX_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define IOVX_BENCH_MAX_THREADS	64
#define IOVX_BENCH_MAX_TLIST	16
#define IOVX_BENCH_MAX_REPS	64

#define iovx_bench_likely(x)	__builtin_expect(!!(x), 1)
#define iovx_bench_unlikely(x)	__builtin_expect(!!(x), 0)

struct iovx_bench_opts {
	unsigned int threads[IOVX_BENCH_MAX_TLIST];	/* thread counts for scaling cases */
	unsigned int nr_threads;
	double seconds;			/* one timed run of one side */
	unsigned int reps;		/* timed runs per side (median of these) */
	bool quick;			/* CI smoke: tiny durations */
	uint64_t seed;
	const char *only;		/* comma-separated case ids, or NULL for all */
	const char *params;		/* --param: KEY=VALUE,... for one subcommand, or NULL */
	int side;			/* --side: fixed-work run of one side, or -1 */
	uint64_t ops;			/* --ops: allocator calls of a fixed-work run */
	bool quiet;			/* --quiet: no progress on stderr */
};

/* Progress of a long run on stderr (nothing with --quiet). */
void iovx_bench_progress(const struct iovx_bench_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- JSON writer (hand-written; enough for flat reports) ---------------------------- */
struct iovx_bench_json;

struct iovx_bench_json *iovx_bench_json_open(const char *path);
int iovx_bench_json_close(struct iovx_bench_json *j);	/* 0, or -errno on a write error */
void iovx_bench_json_obj_begin(struct iovx_bench_json *j, const char *key);
void iovx_bench_json_obj_end(struct iovx_bench_json *j);
void iovx_bench_json_arr_begin(struct iovx_bench_json *j, const char *key);
void iovx_bench_json_arr_end(struct iovx_bench_json *j);
void iovx_bench_json_str(struct iovx_bench_json *j, const char *key, const char *val);
void iovx_bench_json_num(struct iovx_bench_json *j, const char *key, double val);
void iovx_bench_json_u64(struct iovx_bench_json *j, const char *key, uint64_t val);
void iovx_bench_json_bool(struct iovx_bench_json *j, const char *key, bool val);
void iovx_bench_json_null(struct iovx_bench_json *j, const char *key);

/* ---- timed runs -------------------------------------------------------------------- */
enum iovx_bench_side {
	IOVX_BENCH_IOVX,
	IOVX_BENCH_BASE,	/* the baseline (Linux's allocator for "iova") */
	IOVX_BENCH_FLOOR,	/* the floor: the cheapest code doing the same job (optional) */
	IOVX_BENCH_NR_SIDES,
};

/* What one thread did in one run. */
struct iovx_bench_count {
	uint64_t units;		/* what the row's unit counts (pairs, ops, iterations) */
	uint64_t ops;		/* allocator calls (alloc + free) */
	uint64_t attempts;	/* allocation attempts */
	uint64_t failures;	/* allocations that failed */
	uint64_t errors;	/* frees the allocator rejected (a benchmark bug if non-zero) */
};

typedef void iovx_bench_body_fn(void *ctx, unsigned int tid, struct iovx_bench_count *out);

extern int iovx_bench_stop_flag;
/* Looks at the stop flag a fixed-work run still allows this thread (else INT64_MAX). */
extern __thread int64_t iovx_bench_polls_left;

/*
 * A body's poll, once per fixed chunk of work: true when the timed run is over, or, in a
 * fixed-work run (iovx_bench_run_fixed), when this thread has done its chunks.
 */
static inline bool iovx_bench_stopped(void)
{
	return __atomic_load_n(&iovx_bench_stop_flag, __ATOMIC_RELAXED) ||
	       --iovx_bench_polls_left < 0;
}

/* Spins politely: pause, then yield now and then (2 shared cores: never starve a peer). */
void iovx_bench_relax(unsigned int *spins);

uint64_t iovx_bench_now_ns(void);

/* Sleeps s seconds (resumed across signals). */
void iovx_bench_sleep(double s);

/*
 * The start of a timed run: each thread checks in (iovx_bench_gate_enter) and waits; the
 * runner waits for all of them (iovx_bench_gate_wait), takes its start figures, then opens
 * the gate, so no thread runs while the others are still being created.
 */
struct iovx_bench_gate {
	unsigned int ready;
	int open;
};

void iovx_bench_gate_close(struct iovx_bench_gate *g);	/* before the threads are created */
void iovx_bench_gate_enter(struct iovx_bench_gate *g);	/* thread: check in, wait for open */
void iovx_bench_gate_wait(struct iovx_bench_gate *g, unsigned int n);	/* n checked in */
void iovx_bench_gate_open(struct iovx_bench_gate *g);

/* Creates a thread running fn(arg) into *th; exits the program when it cannot. */
void iovx_bench_spawn(pthread_t *th, void *(*fn)(void *), void *arg);

/* A case: one body and context per side; ns_scale: nthreads for per-thread units, else 1. */
struct iovx_bench_case {
	const char *id;			/* short id: "a", "b", ... */
	const char *name;		/* one line */
	const char *unit;		/* "ns/pair", "ns/op", ... */
	unsigned int nthreads;
	unsigned int ns_scale;
	bool report_failures;		/* print the failure line even when both are zero */
	bool wall_clock;		/* rate by wall time (threads wait for each other) */
	iovx_bench_body_fn *body[IOVX_BENCH_NR_SIDES];
	void *ctx[IOVX_BENCH_NR_SIDES];	/* NULL: that side is unavailable */
	/* optional: called after every run of a side, warm-up (timed false) or timed */
	void (*after_run)(void *ctx, enum iovx_bench_side side, bool timed);
};

struct iovx_bench_side_result {
	bool have;
	unsigned int n;
	double ns[IOVX_BENCH_MAX_REPS];		/* per unit, each timed run: cpu_ns or wall_ns */
	double cpu_ns[IOVX_BENCH_MAX_REPS];	/* process CPU time / units */
	double wall_ns[IOVX_BENCH_MAX_REPS];	/* wall time x ns_scale / units */
	double mops[IOVX_BENCH_MAX_REPS];	/* total allocator calls per microsecond (wall) */
	double cpus[IOVX_BENCH_MAX_REPS];	/* CPU time of the process / wall time */
	double median_ns, min_ns, max_ns, median_mops, median_cpus;
	double median_cpu_ns, median_wall_ns;
	struct iovx_bench_count total;		/* summed over the timed runs */
};

struct iovx_bench_row {
	const struct iovx_bench_case *c;
	struct iovx_bench_side_result side[IOVX_BENCH_NR_SIDES];
	double ratio;				/* base median ns / iovx median ns, or 0 */
	double ratio_lo, ratio_hi;		/* base min / iovx max, base max / iovx min */
	double floor_ratio;			/* iovx median ns / floor median ns, or 0 */
};

/* Runs one case (warm-up, then alternating timed runs) and fills row. */
void iovx_bench_measure(const struct iovx_bench_opts *o, const struct iovx_bench_case *c,
			struct iovx_bench_row *row);

/*
 * Fixed work: runs side s of case c once, each thread stopping after polls looks at the
 * stop flag (no timer). Returns the wall ns; *cnt is what the threads did.
 */
uint64_t iovx_bench_run_fixed(const struct iovx_bench_case *c, enum iovx_bench_side s,
			      uint64_t polls, struct iovx_bench_count *cnt);

/* Is case id selected by --only? */
bool iovx_bench_selected(const struct iovx_bench_opts *o, const char *id);

/* ---- statistics: the median of a sample (0 for none) -------------------------------- */
double iovx_bench_median(const double *v, unsigned int n);

/* ---- report: the printed table and the JSON results -------------------------------- */
/* The table has a floor column when floor is true (rows without one print n/a there). */
void iovx_bench_table_header(const char *base_name, bool floor);
void iovx_bench_table_row(const struct iovx_bench_row *row);
/*
 * Opens a JSON object for one row in the current array and writes its figures; the caller
 * may add members of its own, then closes it with iovx_bench_json_obj_end().
 */
void iovx_bench_json_row(struct iovx_bench_json *j, const struct iovx_bench_row *row,
			 const char *base_name);

/* ---- subcommands ------------------------------------------------------------------- */
int iovx_bench_iova(const struct iovx_bench_opts *o, struct iovx_bench_json *j);
int iovx_bench_iova_scale(const struct iovx_bench_opts *o, struct iovx_bench_json *j);
int iovx_bench_zswap(const struct iovx_bench_opts *o, struct iovx_bench_json *j);
int iovx_bench_dmamap(const struct iovx_bench_opts *o, struct iovx_bench_json *j);
int iovx_bench_inval(const struct iovx_bench_opts *o, struct iovx_bench_json *j);
int iovx_bench_sweep(const struct iovx_bench_opts *o, struct iovx_bench_json *j);
int iovx_bench_net(const struct iovx_bench_opts *o, struct iovx_bench_json *j);
int iovx_bench_storage(const struct iovx_bench_opts *o, struct iovx_bench_json *j);

#endif /* IOVX_BENCH_H */

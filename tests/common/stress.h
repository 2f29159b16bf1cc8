/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * stress.h - helpers for tests/stress/ (and any multithreaded unit test): timed thread
 * groups with a barrier start, per-thread xorshift RNGs, and ownership stamps.
 *
 * Running threads
 *   struct iovx_stress_opts o = IOVX_STRESS_OPTS_INIT;   (defaults: see below)
 *   o.nthreads = 4; o.arg = &my_shared_state;
 *   rc = iovx_stress_run(&o, body);
 *
 *   body(th) runs once on each of o.nthreads threads. All threads are released together
 *   from a barrier; the body loops while iovx_stress_continue(th) is true, which turns
 *   false at the deadline or as soon as any thread failed (iovx_stress_fail()). A body
 *   returns 0 for success. iovx_stress_run returns 0 when every body returned 0 and nothing
 *   called iovx_stress_fail, and prints one line per run: threads, seconds, iterations, seed.
 *
 * Duration: environment IOVX_STRESS_SECONDS (default 2; fractions allowed), divided by
 * IOVX_STRESS_TSAN_DIVISOR under ThreadSanitizer, which runs code 5-15x slower: stress tests
 * are scaled down there, never skipped. iovx_stress_scale(n) scales an iteration count the
 * same way (never below 1).
 *
 * Threads: o.nthreads = 0 picks iovx_stress_default_threads(): IOVX_STRESS_THREADS if set,
 * else 2 per online CPU clamped to [2, 16] (at most 4 under TSan). More threads than CPUs
 * is the point: it makes preemption inside critical windows likely.
 *
 * Randomness: seed from IOVX_STRESS_SEED (decimal or 0x hex) or the clock; the seed is
 * printed so a failure can be replayed. Thread i gets its own xorshift64* state derived from
 * (seed, i): iovx_stress_rand(th), iovx_stress_below(th, n).
 *
 * Ownership stamps (catch I1: an IOVA handed out twice while live; and I2-style generation
 * checks). A stamp table covers pfns [base, base + n) densely (8 bytes per pfn, at most
 * 2^28 pfns): each pfn holds (owner, generation). iovx_stamp_claim(t, pfn, n, owner) marks
 * every pfn of the range owned by 'owner' (a thread id < 65535) and bumps its generation;
 * if any pfn is already owned it FAILS LOUDLY: prints both owners, the pfn and generation,
 * and aborts (or, with iovx_stamp_set_fatal(t, false), quietly counts a violation and
 * returns -EEXIST, for tests of the table itself and for fuzz oracles). iovx_stamp_release requires
 * the same owner on every pfn (else: the same loud failure, or -EPERM when not fatal).
 * Claim and release are atomic per pfn (__atomic CAS, visible to TSan); a race between two
 * claimants of one pfn is always detected by one of them.
 */
#ifndef IOVX_TESTS_STRESS_H
#define IOVX_TESTS_STRESS_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__SANITIZE_THREAD__)
#define IOVX_STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IOVX_STRESS_TSAN 1
#endif
#endif
#ifdef IOVX_STRESS_TSAN
#define IOVX_STRESS_UNDER_TSAN true
#else
#define IOVX_STRESS_UNDER_TSAN false
#endif

#define IOVX_STRESS_TSAN_DIVISOR	4

struct iovx_stress_run_state;

struct iovx_stress_thread {
	unsigned int id;		/* 0 .. nthreads - 1 */
	unsigned int nthreads;
	void *arg;			/* iovx_stress_opts.arg */
	uint64_t rng;			/* xorshift64* state; never 0 */
	uint64_t iterations;		/* bumped by iovx_stress_continue(); summed in the report */
	uint64_t deadline_ns;		/* iovx_now_ns() clock */
	void *user;			/* free for the body */
	struct iovx_stress_run_state *run;
};

typedef int (*iovx_stress_fn)(struct iovx_stress_thread *th);

struct iovx_stress_opts {
	const char *name;		/* printed in the report; NULL: "stress" */
	unsigned int nthreads;		/* 0: iovx_stress_default_threads() */
	uint64_t duration_ns;		/* 0: iovx_stress_duration_ns() */
	void *arg;
};
#define IOVX_STRESS_OPTS_INIT { NULL, 0, 0, NULL }

bool iovx_stress_under_tsan(void);
uint64_t iovx_stress_duration_ns(void);
uint64_t iovx_stress_scale(uint64_t n);
unsigned int iovx_stress_default_threads(void);
uint64_t iovx_stress_seed(void);	/* the process-wide seed (fixed on first call) */

/* Runs body on o->nthreads threads; 0 when all succeeded. */
int iovx_stress_run(const struct iovx_stress_opts *o, iovx_stress_fn body);

/* True while the deadline is ahead and no thread has failed; counts an iteration. */
bool iovx_stress_continue(struct iovx_stress_thread *th);

/* Records a failure with a printf-style message and stops every thread of the run. */
void iovx_stress_fail(struct iovx_stress_thread *th, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A body by role: thread id i runs roles[i]; ids past the table run its last role. */
static inline int iovx_stress_role(struct iovx_stress_thread *th, const iovx_stress_fn *roles,
				   unsigned int n)
{
	return roles[th->id < n ? th->id : n - 1](th);
}

/* Per-thread xorshift64* (Vigna); any state but 0 works. */
static inline uint64_t iovx_stress_rand(struct iovx_stress_thread *th)
{
	uint64_t x = th->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	th->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform-enough value in [0, n); n > 0. */
static inline uint64_t iovx_stress_below(struct iovx_stress_thread *th, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)iovx_stress_rand(th) * n) >> 64);
}

/* ---- ownership stamps ------------------------------------------------------------------ */
struct iovx_stamp_table;

#define IOVX_STAMP_NO_OWNER	0xffffu

/* NULL on bad arguments (n 0 or > 2^28) or no memory. */
struct iovx_stamp_table *iovx_stamp_create(uint64_t base_pfn, uint64_t npfns);
void iovx_stamp_destroy(struct iovx_stamp_table *t);
void iovx_stamp_set_fatal(struct iovx_stamp_table *t, bool fatal);

/*
 * Claims [pfn, pfn + n) for owner. 0, or (non-fatal tables) -ERANGE outside the table,
 * -EEXIST when a pfn was owned already (pfns claimed before it stay claimed).
 */
int iovx_stamp_claim(struct iovx_stamp_table *t, uint64_t pfn, uint64_t n, unsigned int owner);

/* Releases a range owner claimed. 0, or (non-fatal) -ERANGE, -EPERM for a wrong owner. */
int iovx_stamp_release(struct iovx_stamp_table *t, uint64_t pfn, uint64_t n, unsigned int owner);

/* Owner of pfn (IOVX_STAMP_NO_OWNER when free) and its generation (claims so far). */
unsigned int iovx_stamp_owner(struct iovx_stamp_table *t, uint64_t pfn);
uint64_t iovx_stamp_generation(struct iovx_stamp_table *t, uint64_t pfn);

/* Number of pfns owned now (a walk; exact when quiescent) and violations counted so far. */
uint64_t iovx_stamp_owned(struct iovx_stamp_table *t);
uint64_t iovx_stamp_violations(struct iovx_stamp_table *t);

#endif /* IOVX_TESTS_STRESS_H */

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * stress.c - timed thread groups, seeds and ownership stamps for the stress tests.
 * See stress.h for the API. Shared state is touched only with __atomic builtins so that
 * ThreadSanitizer sees every edge the helpers create.
 */
#define _GNU_SOURCE
#include "stress.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool iovx_stress_under_tsan(void)
{
	return IOVX_STRESS_UNDER_TSAN;
}

uint64_t iovx_stress_duration_ns(void)
{
	const char *env = getenv("IOVX_STRESS_SECONDS");
	double s = 2.0;
	uint64_t ns;

	if (env && *env) {
		char *end;
		double v = strtod(env, &end);

		if (end != env && v >= 0)
			s = v;
	}
	ns = (uint64_t)(s * 1e9);
	if (iovx_stress_under_tsan())
		ns /= IOVX_STRESS_TSAN_DIVISOR;
	return ns ? ns : 1000000;	/* at least 1 ms: every body runs at least a little */
}

uint64_t iovx_stress_scale(uint64_t n)
{
	if (iovx_stress_under_tsan())
		n /= IOVX_STRESS_TSAN_DIVISOR;
	return n ? n : 1;
}

unsigned int iovx_stress_default_threads(void)
{
	const char *env = getenv("IOVX_STRESS_THREADS");
	long n;

	if (env && *env && atoi(env) > 0)
		return (unsigned int)atoi(env);
	n = sysconf(_SC_NPROCESSORS_ONLN) * 2;
	if (n < 2)
		n = 2;
	if (n > 16)
		n = 16;
	if (iovx_stress_under_tsan() && n > 4)
		n = 4;
	return (unsigned int)n;
}

/* splitmix64: spreads a seed over the per-thread xorshift states. */
static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t seed_value;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
	const char *env = getenv("IOVX_STRESS_SEED");

	if (env && *env)
		seed_value = strtoull(env, NULL, 0);
	else
		seed_value = now_ns() ^ ((uint64_t)getpid() << 32);
}

uint64_t iovx_stress_seed(void)
{
	pthread_once(&seed_once, seed_init);
	return seed_value;
}

struct iovx_stress_run_state {
	pthread_barrier_t barrier;
	iovx_stress_fn body;
	int stop;		/* __atomic: set on the first failure */
	int failures;		/* __atomic */
};

bool iovx_stress_continue(struct iovx_stress_thread *th)
{
	th->iterations++;
	if (__atomic_load_n(&th->run->stop, __ATOMIC_RELAXED))
		return false;
	/* The clock costs ~20 ns: read it every 16 iterations only. */
	if ((th->iterations & 15) == 0 || th->iterations == 1)
		return now_ns() < th->deadline_ns;
	return true;
}

void iovx_stress_fail(struct iovx_stress_thread *th, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "stress: FAIL (thread %u, seed %#" PRIx64 "): %s\n",
		th ? th->id : 0u, iovx_stress_seed(), buf);
	fflush(stderr);
	if (th) {
		__atomic_fetch_add(&th->run->failures, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&th->run->stop, 1, __ATOMIC_RELAXED);
	}
}

static void *stress_thread(void *p)
{
	struct iovx_stress_thread *th = p;
	int rc;

	pthread_barrier_wait(&th->run->barrier);
	rc = th->run->body(th);
	if (rc) {
		__atomic_fetch_add(&th->run->failures, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&th->run->stop, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int iovx_stress_run(const struct iovx_stress_opts *o, iovx_stress_fn body)
{
	struct iovx_stress_run_state run;
	struct iovx_stress_thread *th;
	pthread_t *tids;
	unsigned int n = o->nthreads ? o->nthreads : iovx_stress_default_threads();
	uint64_t dur = o->duration_ns ? o->duration_ns : iovx_stress_duration_ns();
	uint64_t seed = iovx_stress_seed(), iters = 0, t0;
	unsigned int i, started = 0;
	int err;

	memset(&run, 0, sizeof(run));
	run.body = body;
	th = calloc(n, sizeof(*th));
	tids = calloc(n, sizeof(*tids));
	if (!th || !tids || pthread_barrier_init(&run.barrier, NULL, n + 1)) {
		fprintf(stderr, "stress: cannot set up %u threads\n", n);
		free(th);
		free(tids);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		th[i].id = i;
		th[i].nthreads = n;
		th[i].arg = o->arg;
		th[i].rng = splitmix64(seed + i) | 1;
		th[i].run = &run;
	}
	t0 = now_ns();
	for (i = 0; i < n; i++)
		th[i].deadline_ns = t0 + dur;
	for (i = 0; i < n; i++) {
		err = pthread_create(&tids[i], NULL, stress_thread, &th[i]);
		if (err) {
			fprintf(stderr, "stress: pthread_create: %s\n", strerror(err));
			abort();	/* the barrier would never open */
		}
		started++;
	}
	pthread_barrier_wait(&run.barrier);
	for (i = 0; i < started; i++) {
		pthread_join(tids[i], NULL);
		iters += th[i].iterations;
	}
	pthread_barrier_destroy(&run.barrier);
	printf("%s: %u threads, %.2f s%s, %" PRIu64 " iterations, seed %#" PRIx64 ": %s\n",
	       o->name ? o->name : "stress", n, (double)(now_ns() - t0) / 1e9,
	       iovx_stress_under_tsan() ? " (TSan-scaled)" : "", iters, seed,
	       run.failures ? "FAILED" : "ok");
	fflush(stdout);
	free(th);
	free(tids);
	return run.failures ? -EIO : 0;
}

/* ---- ownership stamps ------------------------------------------------------------------ */
/* A word per pfn: bits 0..15 owner (IOVX_STAMP_NO_OWNER when free), bits 16..63 generation. */
#define STAMP_OWNER(w)	((unsigned int)((w) & 0xffffu))
#define STAMP_GEN(w)	((w) >> 16)
#define STAMP(o, g)	(((uint64_t)(g) << 16) | (uint64_t)(o))

struct iovx_stamp_table {
	uint64_t base;
	uint64_t n;
	bool fatal;
	uint64_t violations;	/* __atomic */
	uint64_t *w;
};

struct iovx_stamp_table *iovx_stamp_create(uint64_t base_pfn, uint64_t npfns)
{
	struct iovx_stamp_table *t;
	uint64_t i;

	if (!npfns || npfns > (1ull << 28) || base_pfn + npfns < base_pfn)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->w = malloc(npfns * sizeof(*t->w));
	if (!t->w) {
		free(t);
		return NULL;
	}
	for (i = 0; i < npfns; i++)
		t->w[i] = STAMP(IOVX_STAMP_NO_OWNER, 0);
	t->base = base_pfn;
	t->n = npfns;
	t->fatal = true;
	return t;
}

void iovx_stamp_destroy(struct iovx_stamp_table *t)
{
	if (!t)
		return;
	free(t->w);
	free(t);
}

void iovx_stamp_set_fatal(struct iovx_stamp_table *t, bool fatal)
{
	t->fatal = fatal;
}

static int stamp_violation(struct iovx_stamp_table *t, int err, const char *what, uint64_t pfn,
			   uint64_t n, unsigned int owner, uint64_t w)
{
	__atomic_fetch_add(&t->violations, 1, __ATOMIC_RELAXED);
	if (!t->fatal)
		return err;	/* counted quietly: the caller (a fuzz oracle, a test) decides */
	fprintf(stderr,
		"stamp: %s: range [%#" PRIx64 ", +%" PRIu64 ") by thread %u: pfn %#" PRIx64
		" has owner %u, generation %" PRIu64 "\n",
		what, pfn, n, owner, pfn, STAMP_OWNER(w), STAMP_GEN(w));
	fflush(stderr);
	abort();
}

static bool stamp_in_range(struct iovx_stamp_table *t, uint64_t pfn, uint64_t n)
{
	return n && pfn >= t->base && pfn - t->base <= t->n && n <= t->n - (pfn - t->base);
}

int iovx_stamp_claim(struct iovx_stamp_table *t, uint64_t pfn, uint64_t n, unsigned int owner)
{
	uint64_t i;

	if (!stamp_in_range(t, pfn, n) || owner >= IOVX_STAMP_NO_OWNER)
		return stamp_violation(t, -ERANGE, "claim outside the table", pfn, n, owner,
				       STAMP(IOVX_STAMP_NO_OWNER, 0));
	for (i = 0; i < n; i++) {
		uint64_t *p = &t->w[pfn - t->base + i];
		uint64_t w = __atomic_load_n(p, __ATOMIC_RELAXED);

		do {
			if (STAMP_OWNER(w) != IOVX_STAMP_NO_OWNER)
				return stamp_violation(t, -EEXIST,
						       "I1 VIOLATION: claimed while owned",
						       pfn + i, n - i, owner, w);
		} while (!__atomic_compare_exchange_n(p, &w, STAMP(owner, STAMP_GEN(w) + 1), false,
						      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	}
	return 0;
}

int iovx_stamp_release(struct iovx_stamp_table *t, uint64_t pfn, uint64_t n, unsigned int owner)
{
	uint64_t i;

	if (!stamp_in_range(t, pfn, n))
		return stamp_violation(t, -ERANGE, "release outside the table", pfn, n, owner,
				       STAMP(IOVX_STAMP_NO_OWNER, 0));
	for (i = 0; i < n; i++) {
		uint64_t *p = &t->w[pfn - t->base + i];
		uint64_t w = __atomic_load_n(p, __ATOMIC_RELAXED);

		do {
			if (STAMP_OWNER(w) != owner)
				return stamp_violation(t, -EPERM,
						       "released by a thread that does not own it",
						       pfn + i, n - i, owner, w);
		} while (!__atomic_compare_exchange_n(p, &w,
						      STAMP(IOVX_STAMP_NO_OWNER, STAMP_GEN(w)),
						      false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	}
	return 0;
}

unsigned int iovx_stamp_owner(struct iovx_stamp_table *t, uint64_t pfn)
{
	if (!stamp_in_range(t, pfn, 1))
		return IOVX_STAMP_NO_OWNER;
	return STAMP_OWNER(__atomic_load_n(&t->w[pfn - t->base], __ATOMIC_ACQUIRE));
}

uint64_t iovx_stamp_generation(struct iovx_stamp_table *t, uint64_t pfn)
{
	if (!stamp_in_range(t, pfn, 1))
		return 0;
	return STAMP_GEN(__atomic_load_n(&t->w[pfn - t->base], __ATOMIC_ACQUIRE));
}

uint64_t iovx_stamp_owned(struct iovx_stamp_table *t)
{
	uint64_t i, c = 0;

	for (i = 0; i < t->n; i++)
		c += STAMP_OWNER(__atomic_load_n(&t->w[i], __ATOMIC_RELAXED)) !=
		     IOVX_STAMP_NO_OWNER;
	return c;
}

uint64_t iovx_stamp_violations(struct iovx_stamp_table *t)
{
	return __atomic_load_n(&t->violations, __ATOMIC_RELAXED);
}

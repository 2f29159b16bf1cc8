// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * stress_iova_park.c - lock-freedom shown, not claimed.
 *
 * 1. Discovery: a park hook records every park-point name the allocator passes during a
 *    warm-up workload (every size 1..1100, cache misses, depot overflow and refill, backend
 *    split and merge, reclaim), first on one thread, then on three at once.
 * 2. For each name: on a fresh domain, worker threads run alloc/free traffic; a victim
 *    thread runs the warm-up workload until it reaches that name and blocks there inside
 *    the hook. While it is stopped, the workers must complete PARK_TARGET alloc+free pairs
 *    on the same domain (100 000, or fewer under TSan), and the victim must not have moved.
 *    A watchdog fails the test if they cannot (a lock, or a wait on the stopped thread).
 *    Then the victim is released, everyone frees what it holds, and audit() must close
 *    with live == 0.
 * Fewer than 6 distinct names, or a name reached alone that the victim cannot reach again,
 * fail the test.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iovx/iova.h>
#include "stress.h"
#include "test_hooks.h"

#define MAX_NAMES	64
#define DOM_START	1
#define DOM_END		(1ull << 22)
#define NR_WORKERS	2
#define MIN_NAMES	6

static uint64_t park_target(void)
{
	return IOVX_STRESS_UNDER_TSAN ? 5000 : 100000;
}

static uint64_t watchdog_ns(void)
{
	return (IOVX_STRESS_UNDER_TSAN ? 300ull : 60ull) * 1000000000ull;
}

enum hook_mode { MODE_OFF, MODE_RECORD, MODE_PARK };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int mode;			/* __atomic */
static const char *names[MAX_NAMES];
static bool solo_seen[MAX_NAMES];	/* reached by the single-threaded warm-up */
static unsigned int nnames;
static bool recording_solo;

static const char *target;		/* MODE_PARK: the name to stop at */
static bool parked, released;		/* under lock */
static __thread bool is_victim, victim_done;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void hook(const char *name)
{
	int m = __atomic_load_n(&mode, __ATOMIC_ACQUIRE);

	if (m == MODE_RECORD) {
		unsigned int i;

		pthread_mutex_lock(&lock);
		for (i = 0; i < nnames; i++)
			if (!strcmp(names[i], name))
				break;
		if (i == nnames && nnames < MAX_NAMES)
			names[nnames++] = name;
		if (i < MAX_NAMES && recording_solo)
			solo_seen[i] = true;
		pthread_mutex_unlock(&lock);
		return;
	}
	if (m != MODE_PARK || !is_victim || victim_done || strcmp(name, target))
		return;
	/* the victim stops here, mid-operation, until main releases it */
	victim_done = true;
	pthread_mutex_lock(&lock);
	parked = true;
	pthread_cond_broadcast(&cond);
	while (!released)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void die(const char *what, int64_t v)
{
	fprintf(stderr, "stress_iova_park: %s (%" PRId64 ")\n", what, v);
	abort();
}

/* One round of the warm-up workload; *ops counts completed calls (read by others). */
static void workload_round(struct iovx_iova_domain *dom, uint64_t *rng, uint64_t *ops)
{
	static const uint64_t bulk_sizes[] = { 1, 8, 100 };
	uint64_t mag = 63;
	struct iovx_iova_stats st;
	int64_t *held;
	unsigned int nb;

	if (!iovx_iova_get_stats(dom, &st) && st.mag_size)
		mag = st.mag_size;
	nb = (unsigned int)(3 * mag + 5);
	held = calloc(nb, sizeof(*held));
	if (!held)
		die("calloc", 0);
	/* every size: cached classes and beyond, hits and misses */
	for (uint64_t n = 1; n <= 1100; n += 1 + (rng_next(rng) % 3)) {
		int64_t p = iovx_iova_alloc(dom, n, (n & 1) ? IOVX_IOVA_NO_LIMIT : 1ull << 20);

		if (p <= 0)
			die("warm-up alloc", p);
		if (iovx_iova_free(dom, (uint64_t)p, n))
			die("warm-up free", p);
		__atomic_fetch_add(ops, 2, __ATOMIC_RELAXED);
	}
	/* magazine overflow into the depot, then refill from it */
	for (unsigned int s = 0; s < sizeof(bulk_sizes) / sizeof(bulk_sizes[0]); s++) {
		uint64_t n = bulk_sizes[s];

		for (int rep = 0; rep < 2; rep++) {
			for (unsigned int i = 0; i < nb; i++) {
				held[i] = iovx_iova_alloc(dom, n, IOVX_IOVA_NO_LIMIT);
				if (held[i] <= 0)
					die("bulk alloc", held[i]);
			}
			for (unsigned int i = 0; i < nb; i++)
				if (iovx_iova_free(dom, (uint64_t)held[i], n))
					die("bulk free", held[i]);
			__atomic_fetch_add(ops, 2 * nb, __ATOMIC_RELAXED);
		}
	}
	/* backend split and merge: large blocks and their pieces */
	for (int i = 0; i < 4; i++) {
		uint64_t big = 1ull << (12 + i), n = 1 + rng_next(rng) % 700;
		int64_t a = iovx_iova_alloc(dom, big, IOVX_IOVA_NO_LIMIT);
		int64_t b = iovx_iova_alloc(dom, n, IOVX_IOVA_NO_LIMIT);

		if (a <= 0 || b <= 0)
			die("big alloc", a <= 0 ? a : b);
		if (iovx_iova_free(dom, (uint64_t)a, big) || iovx_iova_free(dom, (uint64_t)b, n))
			die("big free", a);
		__atomic_fetch_add(ops, 4, __ATOMIC_RELAXED);
	}
	if (iovx_iova_reclaim(dom) < 0)
		die("reclaim", -1);
	__atomic_fetch_add(ops, 1, __ATOMIC_RELAXED);
	free(held);
}

struct ctx {
	struct iovx_iova_domain *dom;
	int stop;		/* __atomic */
	int counting;		/* __atomic: workers count pairs only while the victim is parked */
	uint64_t pairs;		/* __atomic */
	uint64_t victim_ops;	/* __atomic */
	unsigned int id;
};

struct worker_arg {
	struct ctx *c;
	unsigned int id;
};

static void *worker(void *p)
{
	struct worker_arg *wa = p;
	struct ctx *c = wa->c;
	uint64_t rng = 0x9e3779b97f4a7c15ull * (wa->id + 1), k = 0;
	int64_t held[16];
	uint64_t held_n[16];
	unsigned int nh = 0;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		uint64_t r = rng_next(&rng), n;
		int64_t v;

		n = (r & 7) == 0 ? 1 + (r >> 8) % 1100 : 1 + (r >> 8) % 64;
		v = iovx_iova_alloc(c->dom, n, (r & 0x30) ? IOVX_IOVA_NO_LIMIT : 1ull << 20);
		if (v == -ENOMEM)
			continue;
		if (v <= 0)
			die("worker alloc", v);
		if (nh < 16 && (r & 0x100)) {
			held[nh] = v;
			held_n[nh++] = n;
			continue;
		}
		if (iovx_iova_free(c->dom, (uint64_t)v, n))
			die("worker free", v);
		if (nh && (r & 0x200)) {
			nh--;
			if (iovx_iova_free(c->dom, (uint64_t)held[nh], held_n[nh]))
				die("worker free held", held[nh]);
		}
		if (__atomic_load_n(&c->counting, __ATOMIC_RELAXED))
			__atomic_fetch_add(&c->pairs, 1, __ATOMIC_RELAXED);
		if (++k % 4096 == 0 && iovx_iova_reclaim(c->dom) < 0)
			die("worker reclaim", -1);
	}
	while (nh) {
		nh--;
		if (iovx_iova_free(c->dom, (uint64_t)held[nh], held_n[nh]))
			die("worker final free", held[nh]);
	}
	return NULL;
}

static void *victim(void *p)
{
	struct ctx *c = p;
	uint64_t rng = 12345;

	is_victim = true;
	victim_done = false;
	/* after parking once, the victim finishes its round and leaves */
	while (!victim_done && !__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE))
		workload_round(c->dom, &rng, &c->victim_ops);
	return NULL;
}

static struct iovx_iova_domain *new_domain(void)
{
	struct iovx_iova_config cfg;
	struct iovx_iova_domain *dom = NULL;

	iovx_iova_config_init(&cfg, DOM_START, DOM_END);
	cfg.depot_max = 2;	/* overflow the depot too */
	if (iovx_iova_domain_create(&cfg, &dom))
		die("create", -1);
	return dom;
}

static int check_quiescent(struct iovx_iova_domain *dom, const char *when)
{
	struct iovx_iova_stats st;
	int r = iovx_iova_audit(dom, &st);

	if (r || st.live || st.total != st.reserved + st.cached + st.depot + st.backend_free) {
		fprintf(stderr, "stress_iova_park: %s: audit %d, live %" PRIu64 " (want 0)\n",
			when, r, st.live);
		return 1;
	}
	return 0;
}

static void *warm_thread(void *p)
{
	struct iovx_iova_domain *dom = p;
	uint64_t rng = (uint64_t)(uintptr_t)&rng | 1, ops = 0;

	for (int i = 0; i < 3; i++)
		workload_round(dom, &rng, &ops);
	return NULL;
}

static void discover(void)
{
	struct iovx_iova_domain *dom = new_domain();
	pthread_t t[3];

	__atomic_store_n(&mode, MODE_RECORD, __ATOMIC_RELEASE);
	recording_solo = true;
	warm_thread(dom);
	pthread_mutex_lock(&lock);
	recording_solo = false;
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, warm_thread, dom);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&mode, MODE_OFF, __ATOMIC_RELEASE);
	if (check_quiescent(dom, "after discovery"))
		abort();
	iovx_iova_domain_destroy(dom);
}

/* 0 ok, 1 failure, 2 not reached (only acceptable for names seen under concurrency) */
static int park_at(unsigned int idx)
{
	struct ctx c;
	struct worker_arg wa[NR_WORKERS];
	pthread_t w[NR_WORKERS], v;
	uint64_t t0, t_park, vops, pairs;
	int ret = 0;
	bool reached;

	memset(&c, 0, sizeof(c));
	c.dom = new_domain();
	target = names[idx];
	parked = released = false;
	__atomic_store_n(&mode, MODE_PARK, __ATOMIC_RELEASE);
	for (unsigned int i = 0; i < NR_WORKERS; i++) {
		wa[i].c = &c;
		wa[i].id = i;
		pthread_create(&w[i], NULL, worker, &wa[i]);
	}
	pthread_create(&v, NULL, victim, &c);

	/* wait for the victim to stop at the name */
	t0 = now_ns();
	pthread_mutex_lock(&lock);
	while (!parked && now_ns() - t0 < watchdog_ns() / 4) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&cond, &lock, &ts);
	}
	reached = parked;
	pthread_mutex_unlock(&lock);

	if (reached) {
		/* the others must get on with it */
		vops = __atomic_load_n(&c.victim_ops, __ATOMIC_ACQUIRE);
		__atomic_store_n(&c.counting, 1, __ATOMIC_RELEASE);
		t_park = now_ns();
		while ((pairs = __atomic_load_n(&c.pairs, __ATOMIC_RELAXED)) < park_target()) {
			if (now_ns() - t_park > watchdog_ns()) {
				fprintf(stderr, "stress_iova_park: LOCK-FREEDOM VIOLATED: victim stopped "
					"at \"%s\", the others completed only %" PRIu64 " pairs in %"
					PRIu64 " s\n", target, pairs, watchdog_ns() / UINT64_C(1000000000));
				fflush(stderr);
				_exit(1);	/* threads are stuck: no orderly teardown */
			}
			struct timespec ts = { 0, 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
		if (__atomic_load_n(&c.victim_ops, __ATOMIC_ACQUIRE) != vops) {
			fprintf(stderr, "stress_iova_park: the victim moved while parked at %s\n",
				target);
			ret = 1;
		}
		printf("  parked at %-26s: others completed %" PRIu64 " alloc+free pairs in %.1f ms"
		       "\n", target, pairs, (double)(now_ns() - t_park) / 1e6);
	}
	/* release and wind down */
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&lock);
	released = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	if (!reached) {
		/* the victim loops until it parks; let it finish its round without parking */
		__atomic_store_n(&mode, MODE_OFF, __ATOMIC_RELEASE);
	}
	pthread_join(v, NULL);
	for (unsigned int i = 0; i < NR_WORKERS; i++)
		pthread_join(w[i], NULL);
	__atomic_store_n(&mode, MODE_OFF, __ATOMIC_RELEASE);
	ret |= check_quiescent(c.dom, target);
	iovx_iova_domain_destroy(c.dom);
	if (!reached)
		return ret ? 1 : 2;
	return ret;
}

int main(void)
{
	unsigned int bad = 0, tested = 0;

	iovx_park_set_hook(hook);
	discover();
	printf("stress_iova_park: %u park points found:", nnames);
	for (unsigned int i = 0; i < nnames; i++)
		printf(" %s%s", names[i], solo_seen[i] ? "" : "(concurrent only)");
	printf("\n");
	if (nnames < MIN_NAMES) {
		fprintf(stderr, "stress_iova_park: fewer than %d park points\n", MIN_NAMES);
		return 1;
	}
	for (unsigned int i = 0; i < nnames; i++) {
		int r = park_at(i);

		if (r == 2) {
			printf("  %s: not reached again by the victim%s\n", names[i],
			       solo_seen[i] ? " (FAIL: the warm-up reached it alone)" :
			       " (seen only under concurrency: skipped)");
			bad += solo_seen[i];
			continue;
		}
		bad += r;
		tested++;
	}
	iovx_park_set_hook(NULL);
	printf("stress_iova_park: %u of %u park points shown non-blocking (target %" PRIu64
	       " pairs each): %s\n", tested, nnames, park_target(), bad ? "FAILED" : "ok");
	return bad ? 1 : 0;
}

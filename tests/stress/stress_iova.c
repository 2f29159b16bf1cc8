// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * stress_iova.c - I1 and I6 of the IOVA allocator under concurrency.
 *
 * Worker threads (IOVX_STRESS_THREADS, default from tests/common/stress.h: 4 here)
 * allocate random sizes (1..64 mostly, up to 1100, so beyond every cached class) under
 * random limits (a 32-bit-style 2^16 window among them), stamp every granule they get in an
 * ownership table (a claim that finds an owner is an I1 violation and aborts), and free
 * either themselves or by handing the range to another thread through a mailbox, which
 * frees it there (the TX-completion pattern). One more thread runs a reclaim storm:
 * iovx_iova_reclaim() every few hundred microseconds, plus concurrent get_stats, audit (must
 * stay safe) and reserves of fresh ranges (stamped as reserved once they succeed).
 * At the end: audit() == 0 with live == 0, the sums close (I6), and after a reclaim all
 * that is not reserved is back in the backend.
 *
 * Three phases: the default configuration, then checked mode with every class cached and a
 * one-magazine depot (more depot overflow and backend traffic), then caches trimmed after
 * 1 ms idle (classes keep restarting from their first magazine).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iovx/iova.h>
#include "stress.h"

#define DOM_END		(1ull << 20)
#define WIN32_LIMIT	(1ull << 16)	/* the "32-bit" window, scaled to the domain */
#define HOLD		48		/* ranges a worker holds at most */
#define MB_CAP		512		/* mailbox capacity */
#define RESERVED_OWNER	60000u
#define NR_LATE_RESERVES 24

struct item {
	uint64_t pfn, n;
	unsigned int owner;
};

struct mailbox {
	pthread_mutex_t lock;
	unsigned int head, count;
	struct item q[MB_CAP];
};

struct shared {
	struct iovx_iova_domain *dom;
	struct iovx_stamp_table *stamps;
	unsigned int nworkers;
	struct mailbox *mb;
	uint64_t reserved_expect;	/* only the storm thread adds, under the run */
	/* __atomic counters */
	uint64_t allocs, frees, xfrees, enomem, einval, reclaims, reclaimed, audits,
		 audit_unclosed, reserves_ok, reserves_busy;
};

static uint64_t rp2(uint64_t n)
{
	return n <= 1 ? 1 : 1ull << (64 - __builtin_clzll(n - 1));
}

static void add(uint64_t *c, uint64_t v)
{
	__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static bool mb_push(struct mailbox *m, const struct item *it)
{
	bool ok = false;

	pthread_mutex_lock(&m->lock);
	if (m->count < MB_CAP) {
		m->q[(m->head + m->count) % MB_CAP] = *it;
		m->count++;
		ok = true;
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

static bool mb_pop(struct mailbox *m, struct item *it)
{
	bool ok = false;

	pthread_mutex_lock(&m->lock);
	if (m->count) {
		*it = m->q[m->head];
		m->head = (m->head + 1) % MB_CAP;
		m->count--;
		ok = true;
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

/* Releases the stamps of a range (whoever claimed it), then frees it. */
static int release_and_free(struct shared *sh, const struct item *it, bool remote)
{
	int ret;

	iovx_stamp_release(sh->stamps, it->pfn, it->n, it->owner);
	ret = iovx_iova_free(sh->dom, it->pfn, it->n);
	if (ret)
		return ret;
	add(remote ? &sh->xfrees : &sh->frees, 1);
	return 0;
}

static uint64_t pick_size(struct iovx_stress_thread *th)
{
	uint64_t k = iovx_stress_below(th, 100);

	if (k < 55)
		return 1 + iovx_stress_below(th, 64);
	if (k < 70)
		return 1 + iovx_stress_below(th, 4);
	if (k < 82)
		return 1ull << iovx_stress_below(th, 10);	/* 1 .. 512 */
	if (k < 94)
		return 65 + iovx_stress_below(th, 192);
	return 257 + iovx_stress_below(th, 844);		/* up to 1100 */
}

static uint64_t pick_limit(struct iovx_stress_thread *th)
{
	uint64_t k = iovx_stress_below(th, 100);

	if (k < 55)
		return IOVX_IOVA_NO_LIMIT;
	if (k < 80)
		return WIN32_LIMIT;
	if (k < 88)
		return DOM_END;
	return 2048 + iovx_stress_below(th, DOM_END);
}

static int do_alloc(struct iovx_stress_thread *th, struct shared *sh, struct item *out)
{
	uint64_t n = pick_size(th), lim = pick_limit(th), p = rp2(n);
	uint64_t top = lim < DOM_END ? lim : DOM_END;
	int64_t r = iovx_iova_alloc(sh->dom, n, lim);

	if (r == -ENOMEM) {
		add(&sh->enomem, 1);
		return 0;
	}
	if (r == -EINVAL) {
		/* only when no aligned block can lie below the limit at all */
		if (p + p <= top) {
			iovx_stress_fail(th, "alloc(%" PRIu64 ", limit %#" PRIx64 ") = -EINVAL",
					 n, lim);
			return -1;
		}
		add(&sh->einval, 1);
		return 0;
	}
	if (r <= 0 || ((uint64_t)r & (p - 1)) || (uint64_t)r + n > top) {
		iovx_stress_fail(th, "alloc(%" PRIu64 ", limit %#" PRIx64 ") = %" PRId64
				 ": zero, misaligned, or beyond the limit", n, lim, r);
		return -1;
	}
	/* I1: aborts loudly if any granule is owned already */
	iovx_stamp_claim(sh->stamps, (uint64_t)r, n, th->id);
	out->pfn = (uint64_t)r;
	out->n = n;
	out->owner = th->id;
	add(&sh->allocs, 1);
	return 1;
}

static int worker(struct iovx_stress_thread *th, struct shared *sh)
{
	struct item held[HOLD], it;
	unsigned int nheld = 0;
	int ret = 0;

	while (!ret && iovx_stress_continue(th)) {
		/* frees handed over by other threads */
		for (int i = 0; i < 8 && mb_pop(&sh->mb[th->id], &it); i++) {
			if (release_and_free(sh, &it, true)) {
				iovx_stress_fail(th, "remote free(%#" PRIx64 ", %" PRIu64 ") failed",
						 it.pfn, it.n);
				return -1;
			}
		}
		if (nheld == 0 || (nheld < HOLD && iovx_stress_below(th, 100) < 55)) {
			int r = do_alloc(th, sh, &held[nheld]);

			if (r < 0)
				return -1;
			nheld += r;
			continue;
		}
		unsigned int i = (unsigned int)iovx_stress_below(th, nheld);

		it = held[i];
		held[i] = held[--nheld];
		if (sh->nworkers > 1 && iovx_stress_below(th, 2)) {
			unsigned int to = (th->id + 1 +
					   (unsigned int)iovx_stress_below(th, sh->nworkers - 1)) %
					  sh->nworkers;

			if (mb_push(&sh->mb[to], &it))
				continue;
		}
		if (release_and_free(sh, &it, false)) {
			iovx_stress_fail(th, "free(%#" PRIx64 ", %" PRIu64 ") failed", it.pfn, it.n);
			return -1;
		}
	}
	while (nheld) {
		nheld--;
		if (release_and_free(sh, &held[nheld], false)) {
			iovx_stress_fail(th, "final free failed");
			return -1;
		}
	}
	return 0;
}

static void short_sleep(long ns)
{
	struct timespec ts = { 0, ns };

	nanosleep(&ts, NULL);
}

/* The reclaim storm, with concurrent stats, audits and reserves. */
static int storm(struct iovx_stress_thread *th, struct shared *sh)
{
	struct iovx_iova_stats st;
	unsigned int late = 0;
	uint64_t k = 0;

	while (iovx_stress_continue(th)) {
		int64_t got = iovx_iova_reclaim(sh->dom);

		if (got < 0) {
			iovx_stress_fail(th, "reclaim = %" PRId64, got);
			return -1;
		}
		add(&sh->reclaims, 1);
		add(&sh->reclaimed, (uint64_t)got);
		k++;
		if (k % 8 == 0 && iovx_iova_get_stats(sh->dom, &st)) {
			iovx_stress_fail(th, "get_stats failed");
			return -1;
		}
		if (k % 32 == 0) {
			int r = iovx_iova_audit(sh->dom, &st);

			/* concurrently: safe, but the sums may not close */
			if (r != 0 && r != -EFAULT && r != -ENOMEM) {
				iovx_stress_fail(th, "concurrent audit = %d", r);
				return -1;
			}
			add(&sh->audits, 1);
			add(&sh->audit_unclosed, r != 0);
		}
		if (k % 16 == 0 && late < NR_LATE_RESERVES) {
			/* distinct spots spread over the domain, one of them inside the window */
			uint64_t pfn = 3001 + (uint64_t)late * 43691;
			uint64_t n = 1 + late % 7;
			int r = iovx_iova_reserve(sh->dom, pfn, n);

			if (r == 0) {
				/* reserved now: nobody may hold or ever get it */
				iovx_stamp_claim(sh->stamps, pfn, n, RESERVED_OWNER);
				sh->reserved_expect += n;
				add(&sh->reserves_ok, 1);
				late++;
			} else if (r == -EBUSY) {
				add(&sh->reserves_busy, 1);
				late++;	/* move on: the spot was live */
			} else {
				iovx_stress_fail(th, "reserve(%#" PRIx64 ", %" PRIu64 ") = %d", pfn, n,
						 r);
				return -1;
			}
		}
		short_sleep(200 * 1000);
	}
	return 0;
}

static int body(struct iovx_stress_thread *th)
{
	struct shared *sh = th->arg;

	if (th->id == sh->nworkers)
		return storm(th, sh);
	return worker(th, sh);
}

static int phase(const char *name, const struct iovx_iova_config *cfg, unsigned int nworkers,
		 uint64_t dur_ns)
{
	struct iovx_stress_opts o = IOVX_STRESS_OPTS_INIT;
	struct iovx_iova_stats st;
	struct shared sh;
	struct item it;
	int rc, bad = 0;
	uint64_t held;
	int64_t got;

	memset(&sh, 0, sizeof(sh));
	sh.nworkers = nworkers;
	if (iovx_iova_domain_create(cfg, &sh.dom)) {
		fprintf(stderr, "%s: create failed\n", name);
		return 1;
	}
	sh.stamps = iovx_stamp_create(0, DOM_END);
	sh.mb = calloc(nworkers, sizeof(*sh.mb));
	if (!sh.stamps || !sh.mb)
		abort();
	for (unsigned int i = 0; i < nworkers; i++)
		pthread_mutex_init(&sh.mb[i].lock, NULL);
	/* an MSI-like window, misaligned, below the 32-bit limit */
	if (iovx_iova_reserve(sh.dom, 0x9003, 0x3fd)) {
		fprintf(stderr, "%s: reserve failed\n", name);
		return 1;
	}
	iovx_stamp_claim(sh.stamps, 0x9003, 0x3fd, RESERVED_OWNER);
	sh.reserved_expect = 0x3fd;

	o.name = name;
	o.nthreads = nworkers + 1;
	o.duration_ns = dur_ns;
	o.arg = &sh;
	rc = iovx_stress_run(&o, body);

	/* what is still in flight between threads */
	for (unsigned int i = 0; i < nworkers; i++) {
		while (mb_pop(&sh.mb[i], &it)) {
			if (release_and_free(&sh, &it, true)) {
				fprintf(stderr, "%s: drain free failed\n", name);
				bad = 1;
			}
		}
	}
	printf("%s: %" PRIu64 " allocs, %" PRIu64 " local frees, %" PRIu64 " cross-thread frees, "
	       "%" PRIu64 " -ENOMEM, %" PRIu64 " -EINVAL (no room below limit), %" PRIu64
	       " reclaims returning %" PRIu64 " granules, %" PRIu64 " concurrent audits (%" PRIu64
	       " not closing), reserves %" PRIu64 " ok / %" PRIu64 " busy\n", name, sh.allocs,
	       sh.frees, sh.xfrees, sh.enomem, sh.einval, sh.reclaims, sh.reclaimed, sh.audits,
	       sh.audit_unclosed, sh.reserves_ok, sh.reserves_busy);

	/*
	 * With trimming, the domain is quiescent once the timer has given everything back
	 * (caches and depot empty; 20 s is only a hang guard, no time bound of interest)
	 */
	for (unsigned int waited = 0; cfg->trim_idle_ns && waited < 20000; waited++) {
		if (iovx_iova_get_stats(sh.dom, &st) || (!st.cached && !st.depot))
			break;
		short_sleep(1000 * 1000);
	}
	/* I6 on the quiescent domain */
	rc |= iovx_iova_audit(sh.dom, &st);
	printf("%s: audit: total %" PRIu64 " reserved %" PRIu64 " live %" PRIu64 " cached %"
	       PRIu64 " depot %" PRIu64 " backend_free %" PRIu64 " bypass %" PRIu64
	       " failures %" PRIu64 " reclaims %" PRIu64 " trims %" PRIu64 " mem %" PRIu64
	       " B, percpu mode %" PRIu64 "\n", name, st.total, st.reserved, st.live, st.cached,
	       st.depot, st.backend_free, st.cache_bypass, st.alloc_failures, st.reclaims,
	       st.trims, st.mem_bytes, st.percpu_mode);
	if (st.live != 0 || st.total != st.reserved + st.cached + st.depot + st.backend_free ||
	    st.total - st.reserved != DOM_END - 1 - sh.reserved_expect ||
	    st.cached + st.depot > st.hoard_bound) {
		fprintf(stderr, "%s: I6 violated (expected live 0, reserved %" PRIu64 " + pfn 0)\n",
			name, sh.reserved_expect);
		bad = 1;
	}
	if (iovx_stamp_owned(sh.stamps) != sh.reserved_expect) {
		fprintf(stderr, "%s: stamps still owned: %" PRIu64 "\n", name,
			iovx_stamp_owned(sh.stamps));
		bad = 1;
	}
	if (st.alloc_failures != sh.enomem) {
		fprintf(stderr, "%s: alloc_failures %" PRIu64 " != -ENOMEM seen %" PRIu64 "\n",
			name, st.alloc_failures, sh.enomem);
		bad = 1;
	}
	held = st.cached + st.depot;
	got = iovx_iova_reclaim(sh.dom);
	rc |= iovx_iova_audit(sh.dom, &st);
	/* a trim timer still running may give some of it back to the backend in between */
	if (got > (int64_t)held || (!cfg->trim_idle_ns && got != (int64_t)held) ||
	    st.cached || st.depot ||
	    st.backend_free != st.total - st.reserved) {
		fprintf(stderr, "%s: after reclaim (%" PRId64 "): cached %" PRIu64 " depot %"
			PRIu64 " backend_free %" PRIu64 "\n", name, got, st.cached, st.depot,
			st.backend_free);
		bad = 1;
	}
	for (unsigned int i = 0; i < nworkers; i++)
		pthread_mutex_destroy(&sh.mb[i].lock);
	free(sh.mb);
	iovx_stamp_destroy(sh.stamps);
	iovx_iova_domain_destroy(sh.dom);
	if (rc || bad) {
		fprintf(stderr, "%s: FAILED (rc %d)\n", name, rc);
		return 1;
	}
	return 0;
}

int main(void)
{
	struct iovx_iova_config cfg;
	unsigned int nworkers = iovx_stress_default_threads();
	uint64_t dur = iovx_stress_duration_ns();
	int bad = 0;

	iovx_iova_config_init(&cfg, 1, DOM_END);
	bad |= phase("iova default", &cfg, nworkers, dur * 2 / 5);

	iovx_iova_config_init(&cfg, 1, DOM_END);
	cfg.flags = IOVX_IOVA_CHECKED;
	cfg.max_cached_order = IOVX_IOVA_MAX_CACHED_ORDER;
	cfg.depot_max = 1;
	bad |= phase("iova checked, all classes, depot 1", &cfg, nworkers, dur * 2 / 5);

	/*
	 * caches trimmed back to unpopulated every millisecond they look idle: classes keep
	 * starting over with one magazine in both roles (C5) and growing their second while
	 * workers, the reclaim storm and the trim timer race
	 */
	iovx_iova_config_init(&cfg, 1, DOM_END);
	cfg.trim_idle_ns = 1000 * 1000;
	bad |= phase("iova trimmed every 1 ms idle", &cfg, nworkers, dur / 5);

	printf("stress_iova: %s\n", bad ? "FAILED" : "ok");
	return bad;
}

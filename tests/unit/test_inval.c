// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_inval.c - unit tests of the deferred invalidation context (include/iovx/inval.h)
 * over stub IOMMU ops that count every command exactly and check, for every table page and
 * IOVA range released, that a sync began after its enqueue and completed before the release
 * (the generation rule, I2); plus the facade's deferred mode on the software IOMMU.
 *
 * Covered: every documented errno with "nothing changed"; release only after a covering
 * flush (including an entry queued while a flush is in its sync: that flush must not release
 * it); the ring trigger; the age trigger by poll and by timer; explicit flush; collapse of
 * four concurrent explicit flushes into two (counted); the flush-all threshold; sync failure
 * -> quarantine (IOVAs stay allocated, pages never freed, error reported, destroy count).
 * The hard staleness bound (I4), as logical properties, never as timings: an enqueue that
 * observes an entry older than 3/4 of the bound flushes it before returning; a flush stuck
 * in its sync for longer than 1/8 of the bound does not block others: the next enqueue,
 * kick or explicit flush begins a flush of its own that takes over the stuck one's entries
 * (released once, by the helper's sync; the stuck flush then marks nothing), and the
 * generation rule holds for the helper too. Sleeps only ever make an entry or a flush
 * older, so a slow machine cannot turn these assertions false.
 * The test thread is pinned to one CPU so that all its entries land on one ring.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <iovx/dma.h>
#include <iovx/inval.h>
#include <iovx/iova.h>
#include <iovx/sim.h>

#define PG 4096ull

/* ------------------------------------------------------------------ stub IOMMU */

struct stub_page {
	struct iovx_iommu_freed_page node;	/* first: the list links this */
	uint64_t syncs_at_queue;		/* syncs completed when it was queued */
	bool freed;
};

struct stub {
	struct iovx_iommu iommu;
	uint64_t inv_range, inv_all, syncs_started, syncs_done, pages_freed;
	uint64_t bad_frees;			/* a page freed with no sync after its queue */
	unsigned int fail_next;			/* the next n syncs fail with -EIO */
	/* gate: while closed, sync blocks (collapse test) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool gate_closed;		/* the first sync to arrive waits for it to open */
	bool gate_taken;
	bool in_sync;
	/* called once inside the next sync (generation test) */
	void (*in_sync_hook)(struct stub *s);
};

static struct stub *stub_of(struct iovx_iommu *i)
{
	return (struct stub *)i;
}

static int stub_map(struct iovx_iommu *i, uint64_t iova, uint64_t pa, uint64_t size,
		    unsigned int prot, unsigned int gfp)
{
	return -EOPNOTSUPP;
}

static uint64_t stub_unmap(struct iovx_iommu *i, uint64_t iova, uint64_t size,
			   struct iovx_iommu_freelist *f)
{
	return 0;
}

static int stub_inv_range(struct iovx_iommu *i, uint64_t iova, uint64_t size)
{
	__atomic_fetch_add(&stub_of(i)->inv_range, 1, __ATOMIC_RELAXED);
	return 0;
}

static int stub_inv_all(struct iovx_iommu *i)
{
	__atomic_fetch_add(&stub_of(i)->inv_all, 1, __ATOMIC_RELAXED);
	return 0;
}

static int stub_sync(struct iovx_iommu *i)
{
	struct stub *s = stub_of(i);
	void (*hook)(struct stub *s);
	int err = 0;

	__atomic_fetch_add(&s->syncs_started, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&s->lock);
	if (s->gate_closed && !s->gate_taken) {
		s->gate_taken = true;
		s->in_sync = true;
		pthread_cond_broadcast(&s->cond);
		while (s->gate_closed)
			pthread_cond_wait(&s->cond, &s->lock);
		s->in_sync = false;
	}
	hook = s->in_sync_hook;
	s->in_sync_hook = NULL;
	if (s->fail_next) {
		s->fail_next--;
		err = -EIO;
	}
	pthread_mutex_unlock(&s->lock);
	if (hook)
		hook(s);
	if (!err)
		__atomic_fetch_add(&s->syncs_done, 1, __ATOMIC_SEQ_CST);
	return err;
}

static void stub_free_pages(struct iovx_iommu *i, struct iovx_iommu_freelist *l)
{
	struct stub *s = stub_of(i);
	struct iovx_iommu_freed_page *p = l->head;

	while (p) {
		struct stub_page *sp = (struct stub_page *)p;

		p = p->next;
		if (sp->freed || __atomic_load_n(&s->syncs_done, __ATOMIC_SEQ_CST) <=
				 sp->syncs_at_queue)
			s->bad_frees++;
		sp->freed = true;
		s->pages_freed++;
	}
	iovx_iommu_freelist_init(l);
}

static const struct iovx_iommu_ops stub_ops = {
	.map = stub_map,
	.unmap = stub_unmap,
	.inv_range = stub_inv_range,
	.inv_all = stub_inv_all,
	.sync = stub_sync,
	.free_pages = stub_free_pages,
};

struct fx {
	struct stub s;
	struct iovx_iova_domain *iovad;
	struct iovx_inval *ctx;
	struct stub_page pages[64];
	unsigned int next_page;
};

static void pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static struct fx *fx_new(unsigned int ring_order, uint64_t max_age, unsigned int flush_all,
			 unsigned int flags)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct iovx_iova_config ic;
	struct iovx_inval_config c;

	pin_cpu0();
	f->s.iommu.ops = &stub_ops;
	f->s.iommu.granule_shift = 12;
	f->s.iommu.ias_bits = 48;
	f->s.iommu.oas_bits = 52;
	pthread_mutex_init(&f->s.lock, NULL);
	pthread_cond_init(&f->s.cond, NULL);
	iovx_iova_config_init(&ic, 1, 1ull << 20);
	ic.flags = IOVX_IOVA_CHECKED | IOVX_IOVA_NO_CACHE;
	assert_int_equal(iovx_iova_domain_create(&ic, &f->iovad), 0);
	iovx_inval_config_init(&c);
	c.ring_order = ring_order;
	c.max_age_ns = max_age;
	c.flush_all_threshold = flush_all;
	c.flags = flags;
	assert_int_equal(iovx_inval_create(&f->s.iommu, f->iovad, &c, &f->ctx), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	if (f->ctx)
		assert_true(iovx_inval_destroy(f->ctx) >= 0);
	iovx_iova_domain_destroy(f->iovad);
	pthread_mutex_destroy(&f->s.lock);
	pthread_cond_destroy(&f->s.cond);
	free(f);
}

static uint64_t iova_live(struct fx *f)
{
	struct iovx_iova_stats st;

	assert_int_equal(iovx_iova_audit(f->iovad, &st), 0);
	return st.live;
}

static struct iovx_inval_stats stats(struct fx *f)
{
	struct iovx_inval_stats st;

	assert_int_equal(iovx_inval_get_stats(f->ctx, &st), 0);
	return st;
}

/* Allocates npages, "unmaps" them with npg table pages and queues them. Returns the pfn. */
static uint64_t queue_one(struct fx *f, uint64_t npages, unsigned int npg)
{
	struct iovx_iommu_freelist l;
	int64_t pfn = iovx_iova_alloc(f->iovad, npages, IOVX_IOVA_NO_LIMIT);
	unsigned int i;

	assert_true(pfn > 0);
	iovx_iommu_freelist_init(&l);
	for (i = 0; i < npg; i++) {
		struct stub_page *p = &f->pages[f->next_page++];

		p->syncs_at_queue = __atomic_load_n(&f->s.syncs_done, __ATOMIC_SEQ_CST);
		iovx_iommu_freelist_add(&l, &p->node);
	}
	assert_int_equal(iovx_inval_queue(f->ctx, (uint64_t)pfn, npages, &l), 0);
	assert_null(l.head);		/* taken */
	return (uint64_t)pfn;
}

/* ------------------------------------------------------------------ tests */

static void test_errors(void **state)
{
	struct fx *f = fx_new(4, 1000000, 8, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_config c;
	struct iovx_inval *ctx = NULL;
	struct iovx_inval_stats st;
	struct iovx_iommu bad = f->s.iommu;

	iovx_inval_config_init(NULL);
	iovx_inval_config_init(&c);
	assert_int_equal(c.ring_order, IOVX_INVAL_DEFAULT_RING_ORDER);
	assert_int_equal(c.max_age_ns, IOVX_INVAL_DEFAULT_MAX_AGE_NS);
	assert_int_equal(iovx_inval_create(NULL, f->iovad, &c, &ctx), -EINVAL);
	assert_int_equal(iovx_inval_create(&f->s.iommu, NULL, &c, &ctx), -EINVAL);
	assert_int_equal(iovx_inval_create(&f->s.iommu, f->iovad, &c, NULL), -EINVAL);
	bad.ops = NULL;
	assert_int_equal(iovx_inval_create(&bad, f->iovad, &c, &ctx), -EINVAL);
	c.ring_order = 1;
	assert_int_equal(iovx_inval_create(&f->s.iommu, f->iovad, &c, &ctx), -EINVAL);
	c.ring_order = 17;
	assert_int_equal(iovx_inval_create(&f->s.iommu, f->iovad, &c, &ctx), -EINVAL);
	iovx_inval_config_init(&c);
	c.max_age_ns = 9999;
	assert_int_equal(iovx_inval_create(&f->s.iommu, f->iovad, &c, &ctx), -EINVAL);
	c.max_age_ns = IOVX_INVAL_MAX_MAX_AGE_NS + 1;
	assert_int_equal(iovx_inval_create(&f->s.iommu, f->iovad, &c, &ctx), -EINVAL);
	iovx_inval_config_init(&c);
	c.flags = 0x10;
	assert_int_equal(iovx_inval_create(&f->s.iommu, f->iovad, &c, &ctx), -EINVAL);
	assert_null(ctx);
	/* defaults with cfg NULL */
	assert_int_equal(iovx_inval_create(&f->s.iommu, f->iovad, NULL, &ctx), 0);
	assert_int_equal(iovx_inval_destroy(ctx), 0);

	assert_int_equal(iovx_inval_destroy(NULL), -EINVAL);
	assert_int_equal(iovx_inval_flush(NULL), -EINVAL);
	assert_int_equal(iovx_inval_poll(NULL), -EINVAL);
	assert_int_equal(iovx_inval_kick(NULL), -EINVAL);
	assert_int_equal(iovx_inval_get_stats(NULL, &st), -EINVAL);
	assert_int_equal(iovx_inval_get_stats(f->ctx, NULL), -EINVAL);
	assert_int_equal(iovx_inval_queue(NULL, 1, 1, NULL), -EINVAL);
	assert_int_equal(iovx_inval_queue(f->ctx, 1, 0, NULL), -EINVAL);
	assert_int_equal(iovx_inval_queue(f->ctx, 1ull << 36, 1, NULL), -EINVAL);
	assert_int_equal(iovx_inval_queue(f->ctx, (1ull << 36) - 1, 2, NULL), -EINVAL);
	assert_int_equal(iovx_inval_queue(f->ctx, 1, UINT64_MAX, NULL), -EINVAL);
	st = stats(f);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(f->s.syncs_started, 0);
	/* a flush with nothing queued issues nothing */
	assert_int_equal(iovx_inval_flush(f->ctx), 0);
	assert_int_equal(f->s.syncs_started + f->s.inv_range + f->s.inv_all, 0);
	fx_free(f);
}

static struct fx *gen_fx;
static uint64_t gen_late_pfn;

static void queue_during_sync(struct stub *s)
{
	gen_late_pfn = queue_one(gen_fx, 1, 1);
}

static void test_generation_rule(void **state)
{
	struct fx *f = fx_new(6, 1000000000, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	unsigned int i;

	for (i = 0; i < 5; i++)
		queue_one(f, 1, 2);
	/* queued, not released: IOVAs live, no page freed, no command issued */
	assert_int_equal(iova_live(f), 5);
	assert_int_equal(f->s.pages_freed, 0);
	assert_int_equal(f->s.syncs_started, 0);
	st = stats(f);
	assert_int_equal(st.pending, 5);
	assert_int_equal(st.released, 0);

	/* An entry queued while flush F is in its sync records gen F: F must not release it. */
	gen_fx = f;
	f->s.in_sync_hook = queue_during_sync;
	assert_int_equal(iovx_inval_flush(f->ctx), 0);
	st = stats(f);
	assert_int_equal(st.released, 5);
	assert_int_equal(st.pending, 1);
	assert_int_equal(f->s.pages_freed, 10);
	assert_int_equal(iova_live(f), 1);
	assert_int_equal(f->s.syncs_started, 1);
	assert_false(f->pages[10].freed);
	/* the next flush began after it: releases it */
	assert_int_equal(iovx_inval_flush(f->ctx), 0);
	assert_int_equal(iova_live(f), 0);
	assert_true(f->pages[10].freed);
	assert_int_equal(f->s.pages_freed, 11);
	assert_int_equal(f->s.bad_frees, 0);
	st = stats(f);
	assert_int_equal(st.released, 6);
	assert_int_equal(st.flushes_explicit, 2);
	assert_int_equal(st.syncs, 2);
	assert_int_equal(st.pending, 0);
	fx_free(f);
}

static void test_ring_trigger(void **state)
{
	/* ring of 4: the 3rd entry (3/4) triggers one flush serving the ring */
	struct fx *f = fx_new(2, 1000000000, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	unsigned int i;

	queue_one(f, 1, 0);
	queue_one(f, 2, 1);
	assert_int_equal(f->s.syncs_started, 0);
	queue_one(f, 1, 0);
	st = stats(f);
	assert_int_equal(st.flushes_ring, 1);
	assert_int_equal(st.released, 3);
	assert_int_equal(f->s.syncs_started, 1);
	assert_int_equal(iova_live(f), 0);
	for (i = 0; i < 30; i++)
		queue_one(f, 1, 0);
	st = stats(f);
	assert_int_equal(st.flushes_ring, 11);		/* every 3 entries */
	assert_int_equal(st.direct, 0);
	assert_int_equal(st.flushes, st.syncs);
	assert_int_equal(f->s.bad_frees, 0);
	fx_free(f);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

	nanosleep(&ts, NULL);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_age_trigger_poll(void **state)
{
	struct fx *f = fx_new(8, 1000000, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	uint64_t t0;
	int ret;

	assert_int_equal(iovx_inval_poll(f->ctx), 0);	/* nothing queued */
	t0 = mono_ns();
	queue_one(f, 1, 1);
	ret = iovx_inval_poll(f->ctx);
	if (mono_ns() - t0 < 700000) {			/* not descheduled meanwhile */
		assert_int_equal(ret, 0);		/* young: nothing flushed */
		assert_int_equal(iova_live(f), 1);
	}
	sleep_ns(800000);				/* past 3/4 of the 1 ms bound */
	ret = iovx_inval_poll(f->ctx);
	st = stats(f);
	assert_int_equal(ret, st.flushes_age == 1 ? 1 : 0);
	assert_int_equal(st.flushes_age, 1);		/* this poll's, or the one above */
	assert_int_equal(st.released, 1);
	assert_true(st.max_stale_ns >= 750000 || ret == 0);
	assert_int_equal(iova_live(f), 0);
	/* an old entry is also flushed by the next queue (active CPUs need no timer) */
	queue_one(f, 1, 0);
	sleep_ns(800000);
	queue_one(f, 1, 0);
	st = stats(f);
	assert_int_equal(st.flushes_age, 2);
	assert_int_equal(st.released, 3);
	fx_free(f);
}

static void test_age_trigger_timer(void **state)
{
	struct fx *f = fx_new(8, 2000000, 64, 0);
	struct iovx_inval_stats st, st0;
	int i;

	queue_one(f, 1, 1);
	queue_one(f, 4, 1);
	st0 = stats(f);		/* a slow machine: the 2nd enqueue may have seen the 1st aged */
	/* idle queue: the timer releases it; wait up to 2 s for a slow (sanitized) timer */
	for (i = 0; i < 2000; i++) {
		st = stats(f);
		if (st.released == 2)
			break;
		sleep_ns(1000000);
	}
	assert_int_equal(st.released, 2);
	/* idle ring: drained by the timer (unless the 2nd enqueue already flushed, slow machine) */
	if (!st0.flushes)
		assert_int_equal(st.released_remote, 2);
	assert_true(st.flushes_age >= 1);
	assert_int_equal(st.flushes_explicit + st.flushes_ring, 0);
	/* the timer thread freed the pages; an explicit flush orders us after it (E-G3) */
	assert_int_equal(iovx_inval_flush(f->ctx), 0);
	assert_int_equal(f->s.pages_freed, 2);
	assert_int_equal(f->s.bad_frees, 0);
	assert_int_equal(iova_live(f), 0);
	fx_free(f);
}

/* ------------------------------------------------------------------ per-CPU release */

struct on_cpu1 {
	struct fx *f;
	int op;				/* 0: queue_one, 1: iovx_inval_poll, 2: nothing */
	int ran_on;			/* sched_getcpu() inside, -1: could not pin */
};

static void *cpu1_fn(void *arg)
{
	struct on_cpu1 *a = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(1, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
		a->ran_on = -1;
		return NULL;
	}
	a->ran_on = sched_getcpu();
	if (a->ran_on != 1)
		return NULL;
	if (a->op == 0)
		(void)queue_one(a->f, 1, 1);
	else if (a->op == 1)
		(void)iovx_inval_poll(a->f->ctx);
	return NULL;
}

/* Runs op on CPU 1 (the "CPU A" of the test); false when the machine has no CPU 1. */
static bool run_on_cpu1(struct fx *f, int op)
{
	struct on_cpu1 a = { f, op, -1 };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, cpu1_fn, &a), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	return a.ran_on == 1;
}

static void test_release_by_own_cpu(void **state)
{
	/* ring of 8 per CPU slot: 6 collected entries (over all rings) trigger a flush */
	struct fx *f = fx_new(3, 1000000000, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	unsigned int i;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || !run_on_cpu1(f, 0)) {
		fx_free(f);
		skip();
	}
	assert_true(run_on_cpu1(f, 0));		/* CPU A (1): pages[0], pages[1] */
	for (i = 0; i < 4; i++)			/* CPU 0: the 6th entry flushes */
		queue_one(f, 1, 1);
	st = stats(f);
	assert_int_equal(st.flushes_ring, 1);
	assert_int_equal(st.syncs, 1);
	assert_int_equal(st.unflushed, 0);
	/* the flusher (CPU 0) released its own ring only: A's entries wait for A */
	assert_int_equal(st.released, 4);
	assert_int_equal(st.released_remote, 0);
	assert_int_equal(st.pending, 2);
	assert_int_equal(iova_live(f), 2);
	assert_false(f->pages[0].freed);
	assert_false(f->pages[1].freed);
	assert_true(f->pages[2].freed);

	/* A's next enqueue releases A's completed entries, into A's cache */
	assert_true(run_on_cpu1(f, 0));		/* pages[6] */
	st = stats(f);
	assert_int_equal(st.released, 6);
	assert_int_equal(st.released_remote, 0);
	assert_int_equal(st.pending, 1);
	assert_true(f->pages[0].freed);
	assert_true(f->pages[1].freed);
	assert_false(f->pages[6].freed);
	assert_int_equal(iova_live(f), 1);

	/* the same through A's poll: CPU 0 flushes again, A polls */
	for (i = 0; i < 5; i++)
		queue_one(f, 1, 1);
	st = stats(f);
	assert_int_equal(st.flushes_ring, 2);
	assert_int_equal(st.released, 11);
	assert_false(f->pages[6].freed);
	assert_true(run_on_cpu1(f, 1));
	st = stats(f);
	assert_int_equal(st.released, 12);
	assert_int_equal(st.released_remote, 0);
	assert_true(f->pages[6].freed);
	assert_int_equal(st.pending, 0);
	assert_int_equal(iova_live(f), 0);

	/* a dedicated flusher's kick (CPU 0) invalidates A's entry but leaves it to A */
	assert_true(run_on_cpu1(f, 0));			/* pages[12] */
	assert_int_equal(iovx_inval_kick(f->ctx), 1);
	st = stats(f);
	assert_int_equal(st.unflushed, 0);
	assert_int_equal(st.released, 12);
	assert_false(f->pages[12].freed);
	assert_true(run_on_cpu1(f, 0));			/* releases pages[12] */
	st = stats(f);
	assert_int_equal(st.released, 13);
	assert_int_equal(st.released_remote, 0);
	assert_true(f->pages[12].freed);

	/* an explicit flush drains every ring: A's entry released remotely, counted */
	assert_int_equal(iovx_inval_flush(f->ctx), 0);
	st = stats(f);
	assert_int_equal(st.released, 14);
	assert_int_equal(st.released_remote, 1);
	assert_int_equal(iova_live(f), 0);
	assert_int_equal(f->s.bad_frees, 0);
	fx_free(f);
}

static void test_idle_ring_released_by_timer(void **state)
{
	/* CPU A queues and goes idle: the timer flushes and, past the bound, releases A's ring */
	struct fx *f = fx_new(8, 2000000, 64, 0);
	struct iovx_inval_stats st;
	int i;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || !run_on_cpu1(f, 2)) {
		fx_free(f);
		skip();
	}
	assert_true(run_on_cpu1(f, 0));
	for (i = 0; i < 2000; i++) {
		st = stats(f);
		if (st.released == 1)
			break;
		sleep_ns(1000000);
	}
	assert_int_equal(st.released, 1);
	assert_int_equal(st.released_remote, 1);	/* by the timer thread, A being idle */
	assert_true(st.flushes_age >= 1);
	assert_int_equal(st.flushes_explicit + st.flushes_ring, 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(iovx_inval_flush(f->ctx), 0);	/* orders us after the timer (E-G3) */
	assert_int_equal(f->s.pages_freed, 1);
	assert_int_equal(f->s.bad_frees, 0);
	assert_int_equal(iova_live(f), 0);
	fx_free(f);
}

static void test_explicit_flush_coalesce(void **state)
{
	struct fx *f = fx_new(8, 1000000000, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	uint64_t pfn[8], g_start = 0, g_end = 0, runs = 0;
	unsigned int i;

	/* 8 granules queued as 8 entries: the flush coalesces what is adjacent in order */
	for (i = 0; i < 8; i++) {
		pfn[i] = (uint64_t)iovx_iova_alloc(f->iovad, 1, IOVX_IOVA_NO_LIMIT);
		assert_int_equal(iovx_inval_queue(f->ctx, pfn[i], 1, NULL), 0);
		if (!i || !(pfn[i] <= g_end && pfn[i] + 1 >= g_start)) {
			runs++;
			g_start = pfn[i];
			g_end = pfn[i] + 1;
		} else {
			g_start = pfn[i] < g_start ? pfn[i] : g_start;
			g_end = pfn[i] + 1 > g_end ? pfn[i] + 1 : g_end;
		}
	}
	assert_int_equal(iovx_inval_flush(f->ctx), 0);
	st = stats(f);
	assert_int_equal(st.released, 8);
	assert_int_equal(st.syncs, 1);
	assert_int_equal(st.inv_ranges, runs);
	assert_int_equal(f->s.inv_range, runs);
	assert_true(runs < 8);		/* the allocator hands out neighbours */
	assert_int_equal(f->s.inv_all, 0);
	assert_int_equal(iova_live(f), 0);
	fx_free(f);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_flush_all_threshold(void **state)
{
	unsigned int thr;

	for (thr = 4; thr <= 8; thr += 4) {
		struct fx *f = fx_new(8, 1000000000, thr, IOVX_INVAL_F_NO_TIMER);
		struct iovx_inval_stats st;
		uint64_t pfns[10];
		unsigned int i;

		for (i = 0; i < 10; i++)
			pfns[i] = (uint64_t)iovx_iova_alloc(f->iovad, 1, IOVX_IOVA_NO_LIMIT);
		qsort(pfns, 10, sizeof(pfns[0]), cmp_u64);
		/* every other of the sorted pfns: 5 ranges with holes between them */
		for (i = 0; i < 10; i++) {
			if (i % 2)
				assert_int_equal(iovx_iova_free(f->iovad, pfns[i], 1), 0);
		}
		for (i = 0; i < 10; i += 2)
			assert_int_equal(iovx_inval_queue(f->ctx, pfns[i], 1, NULL), 0);
		assert_int_equal(iovx_inval_flush(f->ctx), 0);
		st = stats(f);
		if (thr == 4) {
			assert_int_equal(f->s.inv_all, 1);
			assert_int_equal(f->s.inv_range, 0);
			assert_int_equal(st.inv_alls, 1);
		} else {
			assert_int_equal(f->s.inv_all, 0);
			assert_int_equal(f->s.inv_range, 5);
			assert_int_equal(st.inv_ranges, 5);
		}
		assert_int_equal(f->s.syncs_started, 1);
		assert_int_equal(iova_live(f), 0);
		fx_free(f);
	}
}

static void wait_in_sync(struct fx *f)
{
	pthread_mutex_lock(&f->s.lock);
	while (!f->s.in_sync)
		pthread_cond_wait(&f->s.cond, &f->s.lock);
	pthread_mutex_unlock(&f->s.lock);
}

static void open_gate(struct fx *f)
{
	pthread_mutex_lock(&f->s.lock);
	f->s.gate_closed = false;
	pthread_cond_broadcast(&f->s.cond);
	pthread_mutex_unlock(&f->s.lock);
}

static int collapse_entered;

static void *flush_thread(void *arg)
{
	struct fx *f = arg;

	__atomic_fetch_add(&collapse_entered, 1, __ATOMIC_SEQ_CST);
	return (void *)(intptr_t)iovx_inval_flush(f->ctx);
}

static void test_collapse(void **state)
{
	/*
	 * The longest bound (10 s): A's flush becomes late only after 1.25 s, so the triggers
	 * below wait for it however long this host stalls the gate's opening (with 1 s, a
	 * 150 ms stall let a trigger take A's entries over, a third flush).
	 */
	struct fx *f = fx_new(8, 10000000000ull, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	pthread_t a, b[3];
	void *ret;
	int i;

	queue_one(f, 1, 1);
	f->s.gate_closed = true;
	collapse_entered = 0;
	assert_int_equal(pthread_create(&a, NULL, flush_thread, f), 0);
	wait_in_sync(f);
	/* A's flush is in its sync: queue more, then three more explicit triggers */
	queue_one(f, 1, 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&b[i], NULL, flush_thread, f), 0);
	while (__atomic_load_n(&collapse_entered, __ATOMIC_SEQ_CST) < 4)
		sleep_ns(1000000);
	sleep_ns(200000000);		/* let them read start_gen and find A's flush */
	open_gate(f);
	assert_int_equal(pthread_join(a, &ret), 0);
	assert_null(ret);
	for (i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(b[i], &ret), 0);
		assert_null(ret);
	}
	st = stats(f);
	/* four triggers, two flushes: A's, and one that began after B, C, D called */
	assert_int_equal(st.flushes_explicit, 2);
	assert_int_equal(st.syncs, 2);
	assert_int_equal(f->s.syncs_started, 2);
	assert_true(st.collapsed >= 2);
	assert_int_equal(st.released, 2);
	assert_int_equal(iova_live(f), 0);
	assert_int_equal(f->s.bad_frees, 0);
	fx_free(f);
}

static void test_sync_failure_quarantine(void **state)
{
	struct fx *f = fx_new(8, 1000000000, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	unsigned int i;

	for (i = 0; i < 3; i++)
		queue_one(f, 2, 2);
	f->s.fail_next = 1;
	assert_int_equal(iovx_inval_flush(f->ctx), -EIO);
	st = stats(f);
	assert_int_equal(st.quarantined_ranges, 3);
	assert_int_equal(st.quarantined_pages, 6);
	assert_int_equal(st.quarantined_tables, 6);
	assert_int_equal(st.released, 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.sync_errors, 1);
	assert_int_equal(st.last_error, -EIO);
	assert_int_equal(f->s.pages_freed, 0);		/* never freed */
	assert_int_equal(iova_live(f), 6);		/* never back in the allocator */
	/* later work is unaffected, and its flush reports success */
	queue_one(f, 1, 1);
	assert_int_equal(iovx_inval_flush(f->ctx), 0);
	st = stats(f);
	assert_int_equal(st.released, 1);
	assert_int_equal(f->s.pages_freed, 1);
	assert_int_equal(iova_live(f), 6);
	/* destroy: one more inv_all+sync succeeds, so the quarantined tables are freed */
	assert_int_equal(iovx_inval_destroy(f->ctx), 3);
	f->ctx = NULL;
	assert_int_equal(f->s.pages_freed, 7);
	assert_int_equal(f->s.bad_frees, 0);
	fx_free(f);
}

static void test_ring_full_direct(void **state)
{
	/* a full ring while another thread owns the flush: the entry is invalidated alone */
	struct fx *f = fx_new(2, 1000000000, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	pthread_t a;
	int i;

	queue_one(f, 1, 0);
	queue_one(f, 1, 0);
	f->s.gate_closed = true;
	assert_int_equal(pthread_create(&a, NULL, flush_thread, f), 0);
	wait_in_sync(f);
	/*
	 * The flush collected 2 but has not consumed them: this ring fills, then the other
	 * CPUs' rings (4 cells each), then entries go direct.
	 */
	for (i = 0; i < 4096; i++) {
		queue_one(f, 1, 0);
		st = stats(f);
		if (st.direct)
			break;
	}
	assert_int_equal(st.direct, 1);
	assert_true(st.queued >= 4);
	assert_true(st.collapsed >= 1);
	open_gate(f);
	assert_int_equal(pthread_join(a, NULL), 0);
	assert_int_equal(iovx_inval_flush(f->ctx), 0);
	assert_int_equal(iova_live(f), 0);
	st = stats(f);
	assert_int_equal(st.released, st.queued);
	assert_int_equal(f->s.bad_frees, 0);
	fx_free(f);
}


/* ------------------------------------------------------------------ hard bound (I4) */

static void test_age_enqueue_flushes_before_return(void **state)
{
	/* no timer: only the enqueue itself can see that the first entry is old */
	struct fx *f = fx_new(8, 2000000, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	uint64_t syncs;

	queue_one(f, 1, 1);
	sleep_ns(2000000);			/* older than the bound, not only 3/4 of it */
	syncs = __atomic_load_n(&f->s.syncs_done, __ATOMIC_SEQ_CST);
	queue_one(f, 1, 1);			/* observes it: flushes before returning */
	st = stats(f);
	assert_true(f->s.syncs_done > syncs);
	assert_int_equal(st.flushes_age, 1);
	assert_int_equal(st.unflushed, 0);	/* both: the flush began after the 2nd's enqueue */
	assert_int_equal(st.released, 2);	/* and its own ring was released by the call */
	assert_true(f->pages[0].freed);
	assert_int_equal(iova_live(f), 0);
	assert_true(st.max_stale_ns >= 2000000);
	assert_int_equal(f->s.bad_frees, 0);
	fx_free(f);
}

#define LATE_BOUND	80000000ull	/* max_age: late after 10 ms, aged after 60 ms */
#define LATE_SLEEP	12000000ull	/* past late_ns */

/*
 * A's explicit flush covers W and sticks in its sync (its thread "preempted"); X is queued
 * after it began. op 0: a kick, 1: an enqueue (Y), 2: an explicit flush, each after A is
 * late: none waits for A, each takes W over and completes W and X before returning.
 */
static void late_flush_case(int op)
{
	struct fx *f = fx_new(8, LATE_BOUND, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	pthread_t a;
	void *ret;

	queue_one(f, 1, 1);				/* W: pages[0] */
	f->s.gate_closed = true;
	assert_int_equal(pthread_create(&a, NULL, flush_thread, f), 0);
	wait_in_sync(f);
	queue_one(f, 1, 1);				/* X: pages[1], after A began */
	st = stats(f);
	if (!st.flushes_late)			/* A still on time: X's enqueue left it to A */
		assert_int_equal(st.unflushed, 2);
	else					/* this thread was slow: X's enqueue helped */
		assert_int_equal(st.unflushed, 0);
	sleep_ns(LATE_SLEEP);				/* A is late now */
	gen_fx = f;
	f->s.in_sync_hook = queue_during_sync;		/* Z: queued inside the helper's sync */
	if (op == 0) {
		assert_int_equal(iovx_inval_kick(f->ctx), 1);	/* flushed, did not collapse */
	} else if (op == 1) {
		queue_one(f, 1, 1);			/* Y: pages[2]; Z: pages[3] */
	} else {
		assert_int_equal(iovx_inval_flush(f->ctx), 0);
		assert_true(f->s.in_sync);		/* returned while A is still stuck */
	}
	st = stats(f);
	assert_true(st.flushes_late >= 1);
	assert_true(st.stolen >= 1);			/* W, taken over from A */
	/* W and X (and Y) were invalidated and synced by the helper, released by this CPU */
	assert_true(f->pages[0].freed);
	assert_true(f->pages[1].freed);
	if (op == 1)
		assert_true(f->pages[2].freed);
	/* Z's enqueue came after the helper began: that helper may not release it */
	if (st.flushes == 1 && op != 2) {
		assert_false(f->pages[op == 1 ? 3 : 2].freed);
		assert_int_equal(st.unflushed, 1);
	}
	assert_int_equal(f->s.bad_frees, 0);
	open_gate(f);
	assert_int_equal(pthread_join(a, &ret), 0);
	assert_null(ret);				/* A's flush returns success */
	assert_int_equal(iovx_inval_flush(f->ctx), 0);
	st = stats(f);
	assert_int_equal(st.queued, op == 1 ? 4 : 3);
	assert_int_equal(st.released, st.queued);	/* each exactly once */
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.unflushed, 0);
	assert_int_equal(st.quarantined_ranges, 0);
	assert_int_equal(f->s.pages_freed, st.queued);
	assert_int_equal(f->s.bad_frees, 0);		/* none freed twice or before a sync */
	assert_int_equal(iova_live(f), 0);
	fx_free(f);
}

static void test_late_flush_kick_helps(void **state)
{
	late_flush_case(0);
}

static void test_late_flush_enqueue_helps(void **state)
{
	late_flush_case(1);
}

static void test_late_flush_explicit_helps(void **state)
{
	late_flush_case(2);
}

static void test_on_time_flush_collapses(void **state)
{
	/* a flush in its sync for less than 1/8 of the bound: triggers collapse into it */
	struct fx *f = fx_new(2, IOVX_INVAL_MAX_MAX_AGE_NS, 64, IOVX_INVAL_F_NO_TIMER);
	struct iovx_inval_stats st;
	uint64_t t0 = mono_ns();
	int i, r[3];
	pthread_t a;

	queue_one(f, 1, 0);
	f->s.gate_closed = true;
	assert_int_equal(pthread_create(&a, NULL, flush_thread, f), 0);
	wait_in_sync(f);
	for (i = 0; i < 3; i++)
		r[i] = iovx_inval_kick(f->ctx);
	/* on time (1.25 s, unless this machine stalled that long): the kicks collapsed */
	if (mono_ns() - t0 < IOVX_INVAL_MAX_MAX_AGE_NS / 8) {
		for (i = 0; i < 3; i++)
			assert_int_equal(r[i], 0);
		st = stats(f);
		assert_int_equal(st.flushes_late, 0);
		assert_int_equal(st.stolen, 0);
		assert_true(st.collapsed >= 3);
	}
	open_gate(f);
	assert_int_equal(pthread_join(a, NULL), 0);
	st = stats(f);
	assert_int_equal(st.flushes, 1 + st.flushes_late);
	assert_int_equal(st.syncs, st.flushes);
	assert_int_equal(st.released, 1);
	assert_int_equal(iova_live(f), 0);
	assert_int_equal(f->s.bad_frees, 0);
	fx_free(f);
}

/* ------------------------------------------------------------------ facade, deferred */

static void test_dma_deferred(void **state)
{
	struct iovx_sim_config sc;
	struct iovx_sim *sim;
	struct iovx_sim_stats ss;
	struct iovx_dma_config dc;
	struct iovx_inval_config ic;
	struct iovx_dma_domain *dom, *strict;
	struct iovx_dma_stats st;
	struct iovx_inval_stats is;
	uint8_t *mem = aligned_alloc(PG, 8 * PG), buf[64];
	uint64_t dma;
	int i;

	pin_cpu0();
	iovx_sim_config_init(&sc);
	sc.eager_table_free = true;
	assert_int_equal(iovx_sim_create(&sc, &sim), 0);
	iovx_inval_config_init(&ic);
	ic.flags = IOVX_INVAL_F_NO_TIMER;
	ic.max_age_ns = IOVX_INVAL_MAX_MAX_AGE_NS;
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_DEFERRED);
	dc.inval = &ic;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), 0);
	memset(mem, 0x5a, 8 * PG);
	for (i = 0; i < 1024; i++) {
		assert_int_equal(iovx_dma_map_single(dom, (uint64_t)(uintptr_t)mem + 100, 64,
						     IOVX_DMA_TO_DEVICE, 0, &dma), 0);
		assert_int_equal(iovx_sim_dev_read(sim, dma, buf, 64, NULL), 0);
		assert_int_equal(buf[0], 0x5a);
		assert_int_equal(iovx_dma_unmap_single(dom, dma, 64, IOVX_DMA_TO_DEVICE, 0), 0);
	}
	assert_int_equal(iovx_dma_get_stats(dom, &st), 0);
	assert_int_equal(iovx_dma_get_inval_stats(dom, &is), 0);
	/* the ring trigger only: ~one sync per 192 unmaps on one CPU (at most 1/64) */
	assert_true(st.syncs * 64 <= st.unmaps);
	assert_int_equal(st.syncs, is.syncs);
	assert_true(is.flushes_ring >= 1);
	assert_int_equal(is.queued, 1024);
	assert_int_equal(is.released + is.pending, 1024);
	assert_int_equal(iovx_dma_flush_deferred(dom), 0);
	assert_int_equal(iovx_sim_get_stats(sim, &ss), 0);
	assert_int_equal(ss.i2_map_violations, 0);
	assert_int_equal(ss.i2_table_violations, 0);
	assert_int_equal(iovx_dma_flush_deferred(NULL), -EINVAL);
	assert_int_equal(iovx_dma_domain_destroy(dom), 0);

	/* other modes: no deferred work */
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_STRICT);
	assert_int_equal(iovx_dma_domain_create(&dc, &strict), 0);
	assert_int_equal(iovx_dma_flush_deferred(strict), -EOPNOTSUPP);
	assert_int_equal(iovx_dma_get_inval_stats(strict, &is), -EOPNOTSUPP);
	assert_int_equal(iovx_dma_get_inval_stats(NULL, &is), -EINVAL);
	assert_int_equal(iovx_dma_domain_destroy(strict), 0);
	/* a bad inval config is refused at create */
	ic.ring_order = 99;
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_DEFERRED);
	dc.inval = &ic;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), -EINVAL);
	iovx_sim_destroy(sim);
	free(mem);
}

static void test_dma_deferred_sync_failure(void **state)
{
	struct iovx_sim_config sc;
	struct iovx_sim *sim;
	struct iovx_dma_config dc;
	struct iovx_inval_config ic;
	struct iovx_dma_domain *dom;
	struct iovx_dma_stats st;
	struct iovx_inval_stats is;
	uint8_t *mem = aligned_alloc(PG, 8 * PG);
	uint64_t dma[4];
	int i;

	iovx_sim_config_init(&sc);
	sc.eager_table_free = true;
	assert_int_equal(iovx_sim_create(&sc, &sim), 0);
	iovx_inval_config_init(&ic);
	ic.flags = IOVX_INVAL_F_NO_TIMER;
	ic.max_age_ns = IOVX_INVAL_MAX_MAX_AGE_NS;	/* no age flush before the failing one */
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_DEFERRED);
	dc.inval = &ic;
	assert_int_equal(iovx_dma_domain_create(&dc, &dom), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(iovx_dma_map_single(dom, (uint64_t)(uintptr_t)mem + i * PG, PG,
						     IOVX_DMA_FROM_DEVICE, 0, &dma[i]), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(iovx_dma_unmap_single(dom, dma[i], PG, IOVX_DMA_FROM_DEVICE, 0),
				 0);
	iovx_sim_fail_syncs(sim, 1, -ETIMEDOUT);
	assert_int_equal(iovx_dma_flush_deferred(dom), -ETIMEDOUT);
	assert_int_equal(iovx_dma_get_stats(dom, &st), 0);
	assert_int_equal(iovx_dma_get_inval_stats(dom, &is), 0);
	assert_int_equal(is.quarantined_ranges, 4);
	assert_int_equal(st.leaked_pages, 4);
	/* the quarantined IOVAs are never handed out again */
	for (i = 0; i < 64; i++) {
		uint64_t d;
		int j;

		assert_int_equal(iovx_dma_map_single(dom, (uint64_t)(uintptr_t)mem, PG,
						     IOVX_DMA_TO_DEVICE, 0, &d), 0);
		for (j = 0; j < 4; j++)
			assert_true(d != dma[j]);
		assert_int_equal(iovx_dma_unmap_single(dom, d, PG, IOVX_DMA_TO_DEVICE, 0), 0);
		assert_int_equal(iovx_dma_flush_deferred(dom), 0);
	}
	assert_int_equal(iovx_dma_domain_destroy(dom), 0);
	iovx_sim_destroy(sim);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_generation_rule),
		cmocka_unit_test(test_ring_trigger),
		cmocka_unit_test(test_age_trigger_poll),
		cmocka_unit_test(test_age_trigger_timer),
		cmocka_unit_test(test_release_by_own_cpu),
		cmocka_unit_test(test_idle_ring_released_by_timer),
		cmocka_unit_test(test_explicit_flush_coalesce),
		cmocka_unit_test(test_flush_all_threshold),
		cmocka_unit_test(test_collapse),
		cmocka_unit_test(test_sync_failure_quarantine),
		cmocka_unit_test(test_ring_full_direct),
		cmocka_unit_test(test_age_enqueue_flushes_before_return),
		cmocka_unit_test(test_late_flush_kick_helps),
		cmocka_unit_test(test_late_flush_enqueue_helps),
		cmocka_unit_test(test_late_flush_explicit_helps),
		cmocka_unit_test(test_on_time_flush_collapses),
		cmocka_unit_test(test_dma_deferred),
		cmocka_unit_test(test_dma_deferred_sync_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

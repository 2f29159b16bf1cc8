// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_platform.c - the userspace shim, primitive by primitive (src/platform/).
 *
 * Atomics (values and the cmpxchg failure contract), per-CPU hints, the rseq per-CPU stack
 * operations (edge cases on a pinned thread, then a 2-thread hammer with local and remote
 * detach), RCU (publication, synchronize waiting for readers, call_rcu and rcu_barrier; under
 * TSan these also check the annotations in user_rcu.c), the timer, memory, the fail-Nth
 * injector, park points, and the debug assertion (a double free stops at the buddy's B1). Runs in the release, ASan+UBSan and TSan builds.
 * Threads never call CMocka asserts (they longjmp): they count errors for the main thread.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <iovx/iova.h>
#include "platform.h"
#include "stress.h"

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

/* Polls cond for up to ms milliseconds. */
#define wait_until(cond, ms) ({						\
	uint64_t wu_end_ = iovx_now_ns() + (uint64_t)(ms) * 1000000ull;	\
	while (!(cond) && iovx_now_ns() < wu_end_)			\
		sleep_ms(1);						\
	!!(cond);							\
})

/* ------------------------------------------------------------------ compiler helpers */
static void test_bitops(void **state)
{
	(void)state;
	assert_int_equal(iovx_clz64(1), 63);
	assert_int_equal(iovx_clz64(1ull << 63), 0);
	assert_int_equal(iovx_ctz64(1ull << 40), 40);
	assert_int_equal(iovx_fls64(0), 0);
	assert_int_equal(iovx_fls64(1), 1);
	assert_int_equal(iovx_fls64(~0ull), 64);
	assert_int_equal(iovx_order_base2(1), 0);
	assert_int_equal(iovx_order_base2(2), 1);
	assert_int_equal(iovx_order_base2(3), 2);
	assert_int_equal(iovx_order_base2(1024), 10);
	assert_int_equal(iovx_order_base2(1025), 11);
	assert_true(iovx_is_pow2_u64(1));
	assert_true(iovx_is_pow2_u64(1ull << 63));
	assert_false(iovx_is_pow2_u64(0));
	assert_false(iovx_is_pow2_u64(6));
	assert_true(iovx_likely(1));
	assert_false(iovx_unlikely(0));
	assert_false(IOVX_WARN_ON(0));
	assert_true(IOVX_WARN_ON(1 + 1 == 2));	/* prints one warning: expected */
	iovx_assert(1);
}

/* ------------------------------------------------------------------ atomics */
static void test_atomics_u64(void **state)
{
	uint64_t v = 5, old;

	(void)state;
	assert_int_equal(iovx_load_relaxed(&v), 5);
	iovx_store_relaxed(&v, 6);
	assert_int_equal(iovx_load_acquire(&v), 6);
	iovx_store_release(&v, 7);
	assert_int_equal(v, 7);

	old = 7;
	assert_true(iovx_cmpxchg_acq_rel(&v, &old, 8));
	assert_int_equal(old, 7);
	assert_int_equal(v, 8);
	old = 1;
	assert_false(iovx_cmpxchg_acq_rel(&v, &old, 9));
	assert_int_equal(old, 8);	/* failure reports the current value */
	assert_int_equal(v, 8);		/* and stores nothing */
	old = 2;
	assert_false(iovx_cmpxchg_relaxed(&v, &old, 9));
	assert_int_equal(old, 8);
	assert_true(iovx_cmpxchg_relaxed(&v, &old, 9));
	assert_int_equal(v, 9);

	assert_int_equal(iovx_xchg_acq_rel(&v, 10), 9);
	assert_int_equal(iovx_fetch_add_relaxed(&v, 5), 10);
	assert_int_equal(iovx_fetch_add_acq_rel(&v, (uint64_t)-3), 15);
	assert_int_equal(v, 12);
	assert_int_equal(iovx_fetch_or_acq_rel(&v, 0x100), 12);
	assert_int_equal(iovx_fetch_and_acq_rel(&v, 0x10c), 0x10c);
	assert_int_equal(v, 0x10c);
	v = ~0ull;
	assert_int_equal(iovx_fetch_add_relaxed(&v, 1), ~0ull);	/* wraps */
	assert_int_equal(v, 0);
	iovx_fence_acquire();
	iovx_fence_release();
	iovx_fence_seq_cst();
	iovx_compiler_barrier();
	iovx_cpu_relax();
}

static void test_atomics_u32_ptr(void **state)
{
	uint32_t w = 0xfffffffe, o32;
	int a, b;
	int *p = &a, *op;

	(void)state;
	assert_int_equal(iovx_fetch_add_relaxed(&w, 1), 0xfffffffe);
	assert_int_equal(iovx_fetch_add_relaxed(&w, 1), 0xffffffff);
	assert_int_equal(w, 0);
	o32 = 3;
	assert_false(iovx_cmpxchg_acq_rel(&w, &o32, 4));
	assert_int_equal(o32, 0);
	assert_true(iovx_cmpxchg_acq_rel(&w, &o32, 4));
	assert_int_equal(iovx_xchg_acq_rel(&w, 1), 4);

	op = &b;
	assert_false(iovx_cmpxchg_acq_rel(&p, &op, NULL));
	assert_ptr_equal(op, &a);
	assert_true(iovx_cmpxchg_acq_rel(&p, &op, &b));
	assert_ptr_equal(iovx_load_acquire(&p), &b);
	assert_ptr_equal(iovx_xchg_acq_rel(&p, NULL), &b);
	assert_null(p);
}

struct counter_arg {
	uint64_t counter;
	uint64_t cas_counter;
	unsigned int iters;
};

static void *counter_thread(void *p)
{
	struct counter_arg *a = p;
	unsigned int i;

	for (i = 0; i < a->iters; i++) {
		uint64_t old = iovx_load_relaxed(&a->cas_counter);

		iovx_fetch_add_acq_rel(&a->counter, 1);
		while (!iovx_cmpxchg_acq_rel(&a->cas_counter, &old, old + 1))
			iovx_cpu_relax();	/* old was refreshed by the failure */
	}
	return NULL;
}

static void test_atomics_threads(void **state)
{
	struct counter_arg a = { 0, 0, (unsigned int)iovx_stress_scale(200000) };
	pthread_t t[4];
	int i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, counter_thread, &a), 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(a.counter, 4ull * a.iters);
	assert_int_equal(a.cas_counter, 4ull * a.iters);
}

/* ------------------------------------------------------------------ per-CPU */
static unsigned int bad_hints;

static void *hint_thread(void *p)
{
	int i;

	(void)p;
	for (i = 0; i < 100000; i++) {
		if (iovx_cpu_hint() >= iovx_nr_cpu_ids())
			iovx_fetch_add_relaxed(&bad_hints, 1);
		if (!(i & 1023))
			sched_yield();
	}
	return NULL;
}

static void test_percpu(void **state)
{
	iovx_irqflags_t flags;
	pthread_t t[3];
	unsigned int n = iovx_nr_cpu_ids();
	int i;

	(void)state;
	assert_true(n >= 1);
	assert_int_equal(iovx_nr_cpu_ids(), n);	/* fixed after start-up */
	assert_true(iovx_cpu_hint() < n);
	iovx_local_irq_save(flags);
	assert_true(iovx_cpu_hint() < n);
	iovx_local_irq_restore(flags);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hint_thread, NULL), 0);
	hint_thread(NULL);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(bad_hints, 0);
#ifdef IOVX_HAVE_RSEQ
	print_message("rseq compiled in, usable=%d, %u cpu slots\n", iovx_rseq_usable, n);
#else
	print_message("rseq not compiled in, %u cpu slots\n", n);
#endif
}

/* ------------------------------------------------------------------ rseq per-CPU stacks */
#ifdef IOVX_HAVE_RSEQ
/* Layout of platform_user_rseq.h: caches inline, 1 << IOVX_RSEQ_SLOT_SHIFT bytes apart. */
#define RS_CAP 8

struct rs_stack {
	uint32_t n;
	uint32_t pad;
	uint64_t v[];
};

struct rs_cache {
	uint64_t claim;			/* 0: attached; else the detaching owner */
	struct rs_stack *stk;		/* at RS_OFF */
	unsigned int cpu;
};
#define RS_OFF offsetof(struct rs_cache, stk)
IOVX_BUILD_BUG_ON(sizeof(struct rs_cache) > (1u << IOVX_RSEQ_SLOT_SHIFT));

struct rs_world {
	void *slots;
	unsigned int nr;
	uint32_t cap;
};

static struct rs_cache *rs_cache(struct rs_world *w, unsigned int cpu)
{
	return (struct rs_cache *)((char *)w->slots + ((size_t)cpu << IOVX_RSEQ_SLOT_SHIFT));
}

static void rs_world_init(struct rs_world *w, uint32_t cap)
{
	unsigned int c;

	w->nr = iovx_nr_cpu_ids();
	w->cap = cap;
	w->slots = iovx_zalloc_aligned((size_t)w->nr << IOVX_RSEQ_SLOT_SHIFT, IOVX_CACHELINE,
				       IOVX_GFP_KERNEL);
	assert_non_null(w->slots);
	for (c = 0; c < w->nr; c++) {
		rs_cache(w, c)->cpu = c;
		rs_cache(w, c)->stk = calloc(1, sizeof(struct rs_stack) + cap * sizeof(uint64_t));
		assert_non_null(rs_cache(w, c)->stk);
	}
}

static void rs_world_free(struct rs_world *w)
{
	unsigned int c;

	for (c = 0; c < w->nr; c++)
		free(rs_cache(w, c)->stk);
	iovx_free(w->slots);
}

static int rs_skip_unless_usable(void)
{
	if (!iovx_rseq_usable) {
		print_message("rseq not usable on this kernel/libc: skipped\n");
		return 1;
	}
	return 0;
}

static void test_rseq_edges(void **state)
{
	struct rs_world w;
	cpu_set_t old, one;
	struct rs_cache *mine, *det;
	unsigned int cpu, i;

	(void)state;
	if (rs_skip_unless_usable()) {
		skip();
		return;
	}
	rs_world_init(&w, RS_CAP);
	/* Pin, so that every operation below sees the same CPU's stack. */
	assert_int_equal(sched_getaffinity(0, sizeof(old), &old), 0);
	cpu = (unsigned int)sched_getcpu();
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(iovx_rseq_cpu_id(), cpu);
	assert_int_equal(iovx_cpu_hint(), cpu);
	mine = rs_cache(&w, cpu);

	assert_int_equal(iovx_rseq_stack_pop(w.slots, RS_OFF, UINT64_MAX), 0);	/* empty */
	for (i = 1; i <= RS_CAP; i++)
		assert_int_equal(iovx_rseq_stack_push(w.slots, RS_OFF, RS_CAP, 100 + i), 1);
	assert_int_equal(mine->stk->n, RS_CAP);
	assert_int_equal(iovx_rseq_stack_push(w.slots, RS_OFF, RS_CAP, 999), 0);	/* full */
	assert_int_equal(mine->stk->n, RS_CAP);
	/* A smaller cap than the current depth also refuses. */
	assert_int_equal(iovx_rseq_stack_push(w.slots, RS_OFF, 2, 999), 0);
	/* max: the top (108) is above 107, so nothing is popped. */
	assert_int_equal(iovx_rseq_stack_pop(w.slots, RS_OFF, 107), 0);
	assert_int_equal(mine->stk->n, RS_CAP);
	assert_int_equal(iovx_rseq_stack_pop(w.slots, RS_OFF, 108), 108);	/* max inclusive */
	for (i = RS_CAP - 1; i >= 1; i--)
		assert_int_equal(iovx_rseq_stack_pop(w.slots, RS_OFF, UINT64_MAX), 100 + i);
	assert_int_equal(mine->stk->n, 0);
	assert_int_equal(iovx_rseq_stack_pop(w.slots, RS_OFF, UINT64_MAX), 0);
	/* Other CPUs' stacks were never touched. */
	for (i = 0; i < w.nr; i++)
		if (i != cpu)
			assert_int_equal(rs_cache(&w, i)->stk->n, 0);

	/* Detach: the caller owns the cache; the fast path bypasses a detached slot. */
	assert_int_equal(iovx_rseq_stack_push(w.slots, RS_OFF, RS_CAP, 7), 1);
	det = iovx_rseq_slot_detach(w.slots, 42);
	assert_ptr_equal(det, mine);
	assert_int_equal(mine->claim, 42);
	assert_null(iovx_rseq_slot_detach(w.slots, 43));
	assert_int_equal(mine->claim, 42);
	assert_int_equal(iovx_rseq_stack_push(w.slots, RS_OFF, RS_CAP, 8), 0);
	assert_int_equal(iovx_rseq_stack_pop(w.slots, RS_OFF, UINT64_MAX), 0);
	assert_int_equal(det->stk->n, 1);
	iovx_store_release(&det->claim, 0);	/* re-attach */
	assert_int_equal(iovx_rseq_stack_pop(w.slots, RS_OFF, UINT64_MAX), 7);
	/* Remote fence of our own CPU is allowed and harmless. */
	assert_int_equal(iovx_rseq_fence_cpu(cpu), 0);

	assert_int_equal(sched_setaffinity(0, sizeof(old), &old), 0);
	rs_world_free(&w);
}

/* Hammer: tokens move between threads through per-CPU stacks; each is in exactly one place. */
#define RS_TOKENS 256
#define RS_IN_STACK 0xffffffffu

struct rs_hammer {
	struct rs_world w;
	uint32_t where[RS_TOKENS];	/* RS_IN_STACK or the owning thread's id */
	uint64_t errors;
};

static int rs_take(struct rs_hammer *h, uint64_t v, unsigned int me, uint32_t *owned,
		   unsigned int *nowned)
{
	uint32_t exp = RS_IN_STACK;

	if (v == 0 || v > RS_TOKENS ||
	    !iovx_cmpxchg_acq_rel(&h->where[v - 1], &exp, me)) {
		fprintf(stderr, "rseq hammer: token %llu taken twice or bogus (where %#x)\n",
			(unsigned long long)v, v && v <= RS_TOKENS ? exp : 0);
		iovx_fetch_add_relaxed(&h->errors, 1);
		return -1;
	}
	owned[(*nowned)++] = (uint32_t)v;
	return 0;
}

/* Empties a cache the caller owns exclusively (detached). */
static void rs_drain(struct rs_hammer *h, struct rs_cache *c, unsigned int me, uint32_t *owned,
		     unsigned int *nowned)
{
	while (c->stk->n) {
		rs_take(h, c->stk->v[c->stk->n - 1], me, owned, nowned);
		c->stk->n--;
	}
}

static int rs_hammer_body(struct iovx_stress_thread *th)
{
	struct rs_hammer *h = th->arg;
	unsigned int me = th->id, nowned = 0, i;
	uint32_t owned[RS_TOKENS];

	for (i = me; i < RS_TOKENS; i += th->nthreads)
		owned[nowned++] = i + 1;
	while (iovx_stress_continue(th) && !iovx_load_relaxed(&h->errors)) {
		uint64_t r = iovx_stress_below(th, 10000), v;

		if (r < 5200 && nowned) {
			uint32_t k = (uint32_t)iovx_stress_below(th, nowned), tok = owned[k];

			iovx_store_release(&h->where[tok - 1], RS_IN_STACK);
			if (iovx_rseq_stack_push(h->w.slots, RS_OFF, h->w.cap, tok)) {
				owned[k] = owned[--nowned];
			} else {
				iovx_store_release(&h->where[tok - 1], me);
			}
		} else if (r < 9990) {
			v = iovx_rseq_stack_pop(h->w.slots, RS_OFF, UINT64_MAX);
			if (v)
				rs_take(h, v, me, owned, &nowned);
		} else if (r < 9995) {
			struct rs_cache *c = iovx_rseq_slot_detach(h->w.slots, me + 1);

			if (c) {
				rs_drain(h, c, me, owned, &nowned);
				iovx_store_release(&c->claim, 0);
			}
		} else {
			unsigned int cpu = (unsigned int)iovx_stress_below(th, h->w.nr);
			struct rs_cache *c = rs_cache(&h->w, cpu);
			uint64_t exp = 0;

			if (iovx_cmpxchg_acq_rel(&c->claim, &exp, me + 1)) {
				/* E-RS2: after the fence no sequence that saw it attached commits. */
				int err = iovx_rseq_fence_cpu(cpu);

				if (err && err != -EINVAL) {	/* -EINVAL: CPU offline */
					fprintf(stderr, "rseq fence cpu %u: %d\n", cpu, err);
					iovx_fetch_add_relaxed(&h->errors, 1);
				}
				rs_drain(h, c, me, owned, &nowned);
				iovx_store_release(&c->claim, 0);
			}
		}
	}
	return iovx_load_relaxed(&h->errors) ? -1 : 0;
}

static void test_rseq_hammer(void **state)
{
	struct iovx_stress_opts o = IOVX_STRESS_OPTS_INIT;
	struct rs_hammer *h;
	unsigned int c, i, instack = 0;

	(void)state;
	if (rs_skip_unless_usable()) {
		skip();
		return;
	}
	h = calloc(1, sizeof(*h));
	assert_non_null(h);
	rs_world_init(&h->w, 16);
	for (i = 0; i < RS_TOKENS; i++)
		h->where[i] = i % 2;
	o.name = "rseq hammer";
	o.nthreads = 2;
	o.duration_ns = iovx_stress_duration_ns() / 4;
	o.arg = h;
	assert_int_equal(iovx_stress_run(&o, rs_hammer_body), 0);
	assert_int_equal(h->errors, 0);
	/* Quiescent: every slot attached; each token in a stack appears once and says so. */
	for (c = 0; c < h->w.nr; c++) {
		struct rs_stack *s = rs_cache(&h->w, c)->stk;

		assert_int_equal(rs_cache(&h->w, c)->claim, 0);
		assert_true(s->n <= h->w.cap);
		for (i = 0; i < s->n; i++) {
			uint64_t v = s->v[i];

			assert_true(v >= 1 && v <= RS_TOKENS);
			assert_int_equal(h->where[v - 1], RS_IN_STACK);
			h->where[v - 1] = 0x5eed;	/* seen: a duplicate fails the check above */
		}
		instack += s->n;
	}
	for (i = 0; i < RS_TOKENS; i++)
		assert_true(h->where[i] == 0x5eed || h->where[i] < 2);
	print_message("rseq hammer: %u tokens left in per-CPU stacks\n", instack);
	rs_world_free(&h->w);
	free(h);
}
#endif /* IOVX_HAVE_RSEQ */

/* ------------------------------------------------------------------ RCU */
#define OBJ_LIVE 0x11feull
#define OBJ_DEAD 0xdeadull

struct rcu_obj {
	uint64_t magic;
	uint64_t val;
	struct iovx_rcu_head rh;
};

static struct rcu_obj *rcu_gp;
static uint64_t rcu_stop, rcu_errors, rcu_reads, rcu_freed;

static void *rcu_reader(void *p)
{
	uint64_t last = 0;

	(void)p;
	while (!iovx_load_acquire(&rcu_stop)) {
		struct rcu_obj *o;

		iovx_rcu_read_lock();
		iovx_rcu_read_lock();			/* nesting */
		o = iovx_rcu_dereference(rcu_gp);
		iovx_rcu_read_unlock();
		if (o) {
			/* Plain reads: ASan/TSan catch a free that did not wait for us. */
			if (o->magic != OBJ_LIVE || o->val < last)
				iovx_fetch_add_relaxed(&rcu_errors, 1);
			last = o->val;
		}
		iovx_rcu_read_unlock();
		iovx_fetch_add_relaxed(&rcu_reads, 1);
	}
	return NULL;
}

static void rcu_free_cb(struct iovx_rcu_head *head)
{
	struct rcu_obj *o = (struct rcu_obj *)((char *)head - offsetof(struct rcu_obj, rh));

	o->magic = OBJ_DEAD;
	free(o);
	iovx_fetch_add_relaxed(&rcu_freed, 1);
}

static void rcu_replace_loop(bool use_call_rcu, unsigned int rounds)
{
	pthread_t t[2];
	unsigned int i;
	struct rcu_obj *o;

	rcu_stop = 0;
	rcu_errors = 0;
	rcu_reads = 0;
	rcu_freed = 0;
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, rcu_reader, NULL), 0);
	/* Readers first, or on a loaded machine the writer may finish before they start. */
	assert_true(wait_until(iovx_load_relaxed(&rcu_reads) >= 2, 10000));
	for (i = 1; i <= rounds; i++) {
		struct rcu_obj *n = malloc(sizeof(*n));

		assert_non_null(n);
		n->magic = OBJ_LIVE;
		n->val = i;
		o = rcu_gp;
		iovx_rcu_assign_pointer(rcu_gp, n);	/* E-RCU1 */
		if (!o)
			continue;
		if (use_call_rcu) {
			iovx_call_rcu(&o->rh, rcu_free_cb);
		} else {
			iovx_synchronize_rcu();
			o->magic = OBJ_DEAD;
			free(o);
		}
	}
	iovx_store_release(&rcu_stop, 1);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	o = rcu_gp;
	iovx_rcu_assign_pointer(rcu_gp, NULL);
	iovx_synchronize_rcu();
	free(o);
	if (use_call_rcu) {
		iovx_rcu_barrier();
		assert_int_equal(iovx_load_relaxed(&rcu_freed), rounds - 1);
	}
	assert_int_equal(rcu_errors, 0);
	assert_true(rcu_reads > 0);
}

static void test_rcu_synchronize(void **state)
{
	(void)state;
	rcu_replace_loop(false, (unsigned int)iovx_stress_scale(400));
}

static void test_rcu_call_rcu(void **state)
{
	(void)state;
	rcu_replace_loop(true, (unsigned int)iovx_stress_scale(20000));
}

static uint64_t gp_reader_in, gp_reader_go, gp_writer_done;

static void *gp_reader(void *p)
{
	(void)p;
	iovx_rcu_read_lock();
	iovx_store_release(&gp_reader_in, 1);
	while (!iovx_load_acquire(&gp_reader_go))
		sleep_ms(1);
	iovx_rcu_read_unlock();
	return NULL;
}

static void *gp_writer(void *p)
{
	(void)p;
	iovx_synchronize_rcu();
	iovx_store_release(&gp_writer_done, 1);
	return NULL;
}

/* synchronize must wait for a read section that began before it. */
static void test_rcu_waits_for_reader(void **state)
{
	pthread_t r, w;

	(void)state;
	assert_int_equal(pthread_create(&r, NULL, gp_reader, NULL), 0);
	assert_true(wait_until(iovx_load_acquire(&gp_reader_in), 5000));
	assert_int_equal(pthread_create(&w, NULL, gp_writer, NULL), 0);
	sleep_ms(100);
	assert_int_equal(iovx_load_acquire(&gp_writer_done), 0);
	iovx_store_release(&gp_reader_go, 1);
	pthread_join(w, NULL);
	pthread_join(r, NULL);
	assert_int_equal(gp_writer_done, 1);
}

static uint64_t cb_count, cb_order_errors;
static uint64_t cb_payload[64];

struct cb_item {
	struct iovx_rcu_head rh;
	unsigned int idx;
};

static void cb_fn(struct iovx_rcu_head *head)
{
	struct cb_item *it = (struct cb_item *)head;

	/* Plain read of what the queueing thread wrote before call_rcu (E-RCU3). */
	if (cb_payload[it->idx] != it->idx + 1)
		iovx_fetch_add_relaxed(&cb_order_errors, 1);
	cb_payload[it->idx] = 0;	/* read by the main thread after rcu_barrier (E-RCU4) */
	iovx_fetch_add_relaxed(&cb_count, 1);
}

static void test_rcu_barrier(void **state)
{
	static struct cb_item items[64];
	unsigned int i, round;

	(void)state;
	for (round = 0; round < 3; round++) {
		cb_count = 0;
		for (i = 0; i < 64; i++) {
			cb_payload[i] = i + 1;
			items[i].idx = i;
			iovx_call_rcu(&items[i].rh, cb_fn);
		}
		iovx_rcu_barrier();	/* items are reused next round: all callbacks must be done */
		assert_int_equal(iovx_load_relaxed(&cb_count), 64);
		for (i = 0; i < 64; i++)
			assert_int_equal(cb_payload[i], 0);
	}
	assert_int_equal(cb_order_errors, 0);
	iovx_rcu_barrier();	/* nothing queued: returns */
	iovx_synchronize_rcu();
}

/* ------------------------------------------------------------------ timer */
struct tstate {
	struct iovx_timer t;
	uint64_t fired;
	uint64_t in_fn;
	uint64_t fn_done;
	unsigned int sleep_in_fn_ms;
	unsigned int rearm_times;
	uint64_t armed_at, fired_at;
	bool self_cancel;
};

static void timer_fn(void *arg)
{
	struct tstate *s = arg;

	iovx_store_release(&s->in_fn, 1);
	s->fired_at = iovx_now_ns();
	if (s->sleep_in_fn_ms)
		sleep_ms(s->sleep_in_fn_ms);
	if (s->self_cancel)
		iovx_timer_cancel_sync(&s->t);	/* must not deadlock */
	if (s->rearm_times) {
		s->rearm_times--;
		iovx_timer_arm(&s->t, 1000000);
	}
	iovx_store_release(&s->fn_done, 1);
	iovx_fetch_add_acq_rel(&s->fired, 1);
}

static void test_timer_fire(void **state)
{
	struct tstate s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(iovx_timer_init(&s.t, timer_fn, &s), 0);
	s.armed_at = iovx_now_ns();
	iovx_timer_arm(&s.t, 20 * 1000000ull);
	assert_true(wait_until(iovx_load_acquire(&s.fired) == 1, 5000));
	assert_true(s.fired_at - s.armed_at >= 20 * 1000000ull);	/* not early */
	sleep_ms(30);
	assert_int_equal(iovx_load_acquire(&s.fired), 1);	/* one-shot */

	/* Re-arming an armed timer moves its deadline: a 10 s timer re-armed to 1 ms. */
	iovx_timer_arm(&s.t, 10ull * 1000000000ull);
	iovx_timer_arm(&s.t, 1000000);
	assert_true(wait_until(iovx_load_acquire(&s.fired) == 2, 5000));

	/* fn re-arming itself: periodic until it stops. */
	s.rearm_times = 3;
	iovx_timer_arm(&s.t, 0);
	assert_true(wait_until(iovx_load_acquire(&s.fired) == 6, 5000));
	iovx_timer_cancel_sync(&s.t);
	iovx_timer_destroy(&s.t);
	assert_null(s.t.impl);
}

static void test_timer_cancel(void **state)
{
	struct tstate s;
	uint64_t f;
	int i;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(iovx_timer_init(&s.t, timer_fn, &s), 0);

	/* Cancel a pending timer: it never fires. */
	iovx_timer_arm(&s.t, 30 * 1000000ull);
	iovx_timer_cancel_sync(&s.t);
	sleep_ms(60);
	assert_int_equal(iovx_load_acquire(&s.fired), 0);
	iovx_timer_cancel_sync(&s.t);		/* idle: returns at once */

	/* Cancel while fn runs: returns only after fn returned. */
	s.sleep_in_fn_ms = 50;
	iovx_timer_arm(&s.t, 0);
	assert_true(wait_until(iovx_load_acquire(&s.in_fn), 5000));
	iovx_timer_cancel_sync(&s.t);
	assert_int_equal(iovx_load_acquire(&s.fn_done), 1);
	assert_int_equal(iovx_load_acquire(&s.fired), 1);
	s.sleep_in_fn_ms = 0;

	/* Arm-then-cancel races: after cancel_sync, the count never moves again. */
	for (i = 0; i < 200; i++) {
		iovx_timer_arm(&s.t, (uint64_t)(i % 3) * 1000);
		if (i & 1)
			sched_yield();
		iovx_timer_cancel_sync(&s.t);
		f = iovx_load_acquire(&s.fired);
		if (!(i % 50)) {
			sleep_ms(5);
			assert_int_equal(iovx_load_acquire(&s.fired), f);
		}
	}

	/* fn cancelling its own timer neither deadlocks nor leaves it armed. */
	s.self_cancel = true;
	f = iovx_load_acquire(&s.fired);
	iovx_timer_arm(&s.t, 0);
	assert_true(wait_until(iovx_load_acquire(&s.fired) == f + 1, 5000));
	iovx_timer_destroy(&s.t);
	iovx_timer_destroy(&s.t);		/* second destroy: no-op */
}

static void test_timer_init_errors(void **state)
{
	struct tstate s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(iovx_timer_init(&s.t, NULL, &s), -EINVAL);
	iovx_fail_nth_arm(1);
	assert_int_equal(iovx_timer_init(&s.t, timer_fn, &s), -ENOMEM);
	iovx_fail_nth_disarm();
	assert_null(s.t.impl);
	iovx_timer_destroy(&s.t);		/* never initialised: no-op */
	/* Destroy an armed timer: fn does not run afterwards. */
	assert_int_equal(iovx_timer_init(&s.t, timer_fn, &s), 0);
	iovx_timer_arm(&s.t, 20 * 1000000ull);
	iovx_timer_destroy(&s.t);
	sleep_ms(40);
	assert_int_equal(s.fired, 0);
}

/* ------------------------------------------------------------------ memory + fail-Nth */
static void test_memory(void **state)
{
	size_t align, i;
	unsigned char *p;

	(void)state;
	p = iovx_zalloc(100, IOVX_GFP_KERNEL);
	assert_non_null(p);
	for (i = 0; i < 100; i++)
		assert_int_equal(p[i], 0);
	iovx_memset(p, 0xab, 100);
	assert_int_equal(p[99], 0xab);
	iovx_free(p);
	p = iovx_zalloc(0, IOVX_GFP_ATOMIC);	/* a unique pointer, freeable */
	assert_non_null(p);
	iovx_free(p);
	iovx_free(NULL);
	for (align = 1; align <= 4096; align <<= 1) {
		unsigned char src[300];

		p = iovx_zalloc_aligned(300, align, IOVX_GFP_KERNEL);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % align, 0);
		for (i = 0; i < 300; i++)
			assert_int_equal(p[i], 0);
		memset(src, (int)align, sizeof(src));
		iovx_memcpy(p, src, sizeof(src));
		assert_memory_equal(p, src, sizeof(src));
		iovx_free(p);
	}
}

/* A function with 4 allocation sites that cleans up on any failure. */
static int four_allocs(void)
{
	void *p[4] = { NULL, NULL, NULL, NULL };
	int i, rc = 0;

	for (i = 0; i < 4; i++) {
		p[i] = i & 1 ? iovx_zalloc_aligned(64, 64, IOVX_GFP_ATOMIC) :
			       iovx_zalloc(32, IOVX_GFP_KERNEL);
		if (!p[i]) {
			rc = -ENOMEM;
			break;
		}
	}
	for (i = 0; i < 4; i++)
		iovx_free(p[i]);
	return rc;
}

static int other_thread_alloc_ok;

static void *alloc_in_other_thread(void *arg)
{
	void *p = iovx_zalloc(8, IOVX_GFP_KERNEL);

	(void)arg;
	other_thread_alloc_ok = p != NULL;
	iovx_free(p);
	return NULL;
}

static void test_fail_nth(void **state)
{
	unsigned long n, failures = 0;
	pthread_t t;
	void *p;

	(void)state;
	/* Disarmed: nothing fails, and nothing is counted as a hit. */
	assert_false(iovx_fail_nth_hit());
	assert_int_equal(four_allocs(), 0);

	/* The n-th allocation fails, once; the count goes on; then disarmed by itself. */
	iovx_fail_nth_arm(2);
	p = iovx_zalloc(8, IOVX_GFP_KERNEL);
	assert_non_null(p);
	iovx_free(p);
	assert_null(iovx_zalloc(8, IOVX_GFP_KERNEL));
	assert_int_equal(iovx_fail_nth_seen(), 2);
	p = iovx_zalloc_aligned(8, 16, IOVX_GFP_KERNEL);
	assert_non_null(p);
	iovx_free(p);

	/* Per thread: arming here does not fail another thread's allocations. */
	iovx_fail_nth_arm(1);
	assert_int_equal(pthread_create(&t, NULL, alloc_in_other_thread, NULL), 0);
	pthread_join(t, NULL);
	assert_true(other_thread_alloc_ok);
	assert_null(iovx_zalloc(8, IOVX_GFP_KERNEL));	/* ours still fails */

	/* The sweep idiom: fail each site in turn until n passes the last one. */
	for (n = 1;; n++) {
		int rc;

		iovx_fail_nth_arm(n);
		rc = four_allocs();
		if (n > iovx_fail_nth_seen()) {
			iovx_fail_nth_disarm();
			assert_int_equal(rc, 0);
			break;
		}
		iovx_fail_nth_disarm();
		assert_int_equal(rc, -ENOMEM);
		failures++;
		assert_true(n < 100);
	}
	assert_int_equal(failures, 4);

	/* Disarm before the hit: nothing fails. */
	iovx_fail_nth_arm(1);
	iovx_fail_nth_disarm();
	p = iovx_zalloc(8, IOVX_GFP_KERNEL);
	assert_non_null(p);
	iovx_free(p);
}

/* ------------------------------------------------------------------ park points */
static uint64_t park_calls, park_blocked, park_release;
static const char *park_last;

static void park_hook(const char *name)
{
	iovx_store_release(&park_last, name);
	iovx_fetch_add_acq_rel(&park_calls, 1);
	if (!strcmp(name, "test.block")) {
		iovx_store_release(&park_blocked, 1);
		while (!iovx_load_acquire(&park_release))
			sleep_ms(1);
	}
}

static void *park_thread(void *arg)
{
	uint64_t *done = arg;

	IOVX_PARK_POINT("test.block");
	iovx_store_release(done, 1);
	return NULL;
}

static void test_park(void **state)
{
	uint64_t done = 0;
	pthread_t t;

	(void)state;
	IOVX_PARK_POINT("test.nohook");		/* no hook: nothing happens */
	iovx_park_set_hook(park_hook);
	IOVX_PARK_POINT("test.one");
	assert_int_equal(park_calls, 1);
	assert_string_equal(park_last, "test.one");

	/* A hook may stop a thread at the point; the rest of the process goes on. */
	assert_int_equal(pthread_create(&t, NULL, park_thread, &done), 0);
	assert_true(wait_until(iovx_load_acquire(&park_blocked), 5000));
	sleep_ms(20);
	assert_int_equal(iovx_load_acquire(&done), 0);
	IOVX_PARK_POINT("test.two");		/* this thread is not stopped */
	iovx_store_release(&park_release, 1);
	pthread_join(t, NULL);
	assert_int_equal(done, 1);

	iovx_park_set_hook(NULL);
	IOVX_PARK_POINT("test.three");
	assert_int_equal(iovx_load_acquire(&park_calls), 3);
}

/* ------------------------------------------------------------------ time */
static void test_time(void **state)
{
	uint64_t a, b, prev;
	int i;

	(void)state;
	a = iovx_now_ns();
	sleep_ms(10);
	b = iovx_now_ns();
	assert_true(b - a >= 10 * 1000000ull);
	assert_true(b - a < 10ull * 1000000000ull);
	prev = iovx_now_ns();
	for (i = 0; i < 100000; i++) {
		uint64_t t = iovx_now_ns();

		assert_true(t >= prev);
		prev = t;
	}
}

/* ---------------------------------------------------------------- assertions */

/*
 * Runs fn in a child with stderr into a pipe: true when the child died of SIGABRT and
 * wrote "assertion failed at <file>" naming file.
 */
static bool child_asserts_in(void (*fn)(void), const char *file)
{
	char out[512] = "", *at;
	int pipefd[2], status;
	ssize_t len = 0, r;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		fn();
		_exit(0);
	}
	close(pipefd[1]);
	while (len < (ssize_t)sizeof(out) - 1 &&
	       (r = read(pipefd[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
		len += r;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	at = strstr(out, "assertion failed at ");
	if (!at)
		fprintf(stderr, "child wrote: %s\n", out);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && at && strstr(at, file);
}

static void assert_false_here(void)
{
	volatile int zero = 0;

	iovx_assert(zero);
}

/*
 * An unchecked domain trusts its caller (as the kernel does), so a double free of a block
 * above the cached sizes whose buddy is still allocated reaches the backend, where setting
 * an already set bit breaks B1.
 */
static void double_free_backend(void)
{
	struct iovx_iova_config cfg;
	struct iovx_iova_domain *dom;
	int64_t v[4];
	int i, j;

	iovx_iova_config_init(&cfg, 1, 1ull << 20);
	if (iovx_iova_domain_create(&cfg, &dom))
		_exit(2);
	for (i = 0; i < 4; i++) {
		v[i] = iovx_iova_alloc(dom, 2048, 1ull << 20);
		if (v[i] <= 0)
			_exit(2);
	}
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			if ((v[i] ^ v[j]) == 2048) {	/* buddies; v[j] stays allocated */
				iovx_iova_free(dom, (uint64_t)v[i], 2048);
				iovx_iova_free(dom, (uint64_t)v[i], 2048);
				return;
			}
	_exit(3);		/* no buddy pair among the four: the premise failed */
}

static void test_assert(void **state)
{
	(void)state;
	assert_true(child_asserts_in(assert_false_here, "test_platform.c"));
	assert_true(child_asserts_in(double_free_backend, "buddy.c"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bitops),
		cmocka_unit_test(test_atomics_u64),
		cmocka_unit_test(test_atomics_u32_ptr),
		cmocka_unit_test(test_atomics_threads),
		cmocka_unit_test(test_percpu),
#ifdef IOVX_HAVE_RSEQ
		cmocka_unit_test(test_rseq_edges),
		cmocka_unit_test(test_rseq_hammer),
#endif
		cmocka_unit_test(test_rcu_synchronize),
		cmocka_unit_test(test_rcu_call_rcu),
		cmocka_unit_test(test_rcu_waits_for_reader),
		cmocka_unit_test(test_rcu_barrier),
		cmocka_unit_test(test_timer_fire),
		cmocka_unit_test(test_timer_cancel),
		cmocka_unit_test(test_timer_init_errors),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_fail_nth),
		cmocka_unit_test(test_park),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_assert),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

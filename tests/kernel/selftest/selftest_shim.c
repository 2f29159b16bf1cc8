// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * selftest_shim.c - self-tests of the kernel backend of the seam (platform_kernel.h): the
 * contract of every primitive, checked through the iovx_ names exactly as portable code
 * uses them, in process context, in softirq (timer) context and on every CPU at once.
 */
#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/smp.h>
#include <linux/sort.h>
#include <linux/string.h>

#include "platform.h"
#include "kglue.h"

/* Under TCG a loop without a reschedule point for seconds trips the soft-lockup watchdog. */
#define ST_RESCHED_MASK	255u

/* ------------------------------------------------------------ atomics, one thread */

struct st_guarded32 {
	u32 lo;
	u32 v;
	u32 hi;
};

static int st_atomics_basic(struct iovx_st *st)
{
	struct st_guarded32 g = { .lo = 0xa5a5a5a5, .v = 0, .hi = 0x5a5a5a5a };
	u64 v64 = 0, o64;
	u32 o32;
	s32 s32v = -5;
	s64 s64v = -5;
	int a = 1, b = 2;
	int *ptr = &a, *optr;

	iovx_store_relaxed(&g.v, 7u);
	IOVX_ST_CHECK(st, iovx_load_relaxed(&g.v) == 7);
	iovx_store_release(&v64, 1ULL << 40);
	IOVX_ST_CHECK(st, iovx_load_acquire(&v64) == 1ULL << 40);
	iovx_store_release(&ptr, &b);
	IOVX_ST_CHECK(st, iovx_load_acquire(&ptr) == &b);

	/* cmpxchg: success stores, failure reports the current value and stores nothing */
	o32 = 7;
	IOVX_ST_CHECK(st, iovx_cmpxchg_acq_rel(&g.v, &o32, 9u));
	IOVX_ST_CHECK(st, g.v == 9 && o32 == 7);
	o32 = 7;
	IOVX_ST_CHECK(st, !iovx_cmpxchg_acq_rel(&g.v, &o32, 11u));
	IOVX_ST_CHECK(st, g.v == 9 && o32 == 9);
	o64 = 1ULL << 40;
	IOVX_ST_CHECK(st, iovx_cmpxchg_relaxed(&v64, &o64, (1ULL << 40) | 3));
	o64 = 1ULL << 40;
	IOVX_ST_CHECK(st, !iovx_cmpxchg_relaxed(&v64, &o64, 0));
	IOVX_ST_CHECK(st, o64 == ((1ULL << 40) | 3) && v64 == o64);
	optr = &a;
	IOVX_ST_CHECK(st, !iovx_cmpxchg_acq_rel(&ptr, &optr, NULL));
	IOVX_ST_CHECK(st, optr == &b && ptr == &b);
	IOVX_ST_CHECK(st, iovx_cmpxchg_acq_rel(&ptr, &optr, &a));
	IOVX_ST_CHECK(st, ptr == &a);

	/* xchg returns the previous value, full width */
	IOVX_ST_CHECK(st, iovx_xchg_acq_rel(&g.v, 0xffffffffu) == 9);
	IOVX_ST_CHECK(st, iovx_xchg_acq_rel(&v64, ~0ULL) == ((1ULL << 40) | 3));
	IOVX_ST_CHECK(st, iovx_xchg_acq_rel(&ptr, &b) == &a && ptr == &b);

	/* fetch ops: previous value, 32-bit wrap stays inside its 4 bytes */
	IOVX_ST_CHECK(st, iovx_fetch_add_relaxed(&g.v, 1u) == 0xffffffffu);
	IOVX_ST_CHECK(st, g.v == 0 && g.lo == 0xa5a5a5a5 && g.hi == 0x5a5a5a5a);
	IOVX_ST_CHECK(st, iovx_fetch_add_acq_rel(&v64, 2) == ~0ULL && v64 == 1);
	IOVX_ST_CHECK(st, iovx_fetch_add_acq_rel(&v64, 1ULL << 40) == 1);
	IOVX_ST_CHECK(st, v64 == (1ULL << 40) + 1);
	IOVX_ST_CHECK(st, iovx_fetch_add_relaxed(&v64, (u64)-2) == (1ULL << 40) + 1);
	IOVX_ST_CHECK(st, v64 == (1ULL << 40) - 1);
	IOVX_ST_CHECK(st, iovx_fetch_or_acq_rel(&v64, 1ULL << 63) == (1ULL << 40) - 1);
	IOVX_ST_CHECK(st, v64 == ((1ULL << 63) | ((1ULL << 40) - 1)));
	IOVX_ST_CHECK(st, iovx_fetch_and_acq_rel(&v64, 1ULL << 63) ==
		      ((1ULL << 63) | ((1ULL << 40) - 1)));
	IOVX_ST_CHECK(st, v64 == 1ULL << 63);
	g.v = 0xf0;
	IOVX_ST_CHECK(st, iovx_fetch_or_acq_rel(&g.v, 0x0fu) == 0xf0 && g.v == 0xff);
	IOVX_ST_CHECK(st, iovx_fetch_and_acq_rel(&g.v, 0x3cu) == 0xff && g.v == 0x3c);
	IOVX_ST_CHECK(st, g.lo == 0xa5a5a5a5 && g.hi == 0x5a5a5a5a);
	IOVX_ST_CHECK(st, iovx_fetch_add_acq_rel(&s32v, 3) == -5 && s32v == -2);
	IOVX_ST_CHECK(st, iovx_fetch_add_relaxed(&s64v, -3) == -5 && s64v == -8);

	iovx_fence_acquire();
	iovx_fence_release();
	iovx_fence_seq_cst();
	iovx_compiler_barrier();
	iovx_cpu_relax();

	/* bit helpers */
	IOVX_ST_CHECK(st, iovx_clz64(1) == 63 && iovx_clz64(1ULL << 63) == 0);
	IOVX_ST_CHECK(st, iovx_ctz64(1ULL << 40) == 40 && iovx_ctz64(~0ULL) == 0);
	IOVX_ST_CHECK(st, iovx_fls64(0) == 0 && iovx_fls64(1) == 1 && iovx_fls64(~0ULL) == 64);
	IOVX_ST_CHECK(st, iovx_order_base2(1) == 0 && iovx_order_base2(2) == 1);
	IOVX_ST_CHECK(st, iovx_order_base2(3) == 2 && iovx_order_base2(1ULL << 40) == 40);
	IOVX_ST_CHECK(st, iovx_order_base2((1ULL << 40) + 1) == 41);
	IOVX_ST_CHECK(st, iovx_is_pow2_u64(1) && iovx_is_pow2_u64(1ULL << 63));
	IOVX_ST_CHECK(st, !iovx_is_pow2_u64(0) && !iovx_is_pow2_u64(6));
	IOVX_ST_CHECK(st, iovx_likely(1) && !iovx_unlikely(0));
	IOVX_ST_CHECK(st, !IOVX_WARN_ON(0));
	iovx_assert(1);
	IOVX_ST_CHECK(st, IOVX_CACHELINE >= 32 && iovx_is_pow2_u64(IOVX_CACHELINE));
	return 0;
}

/* ------------------------------------------------------------ atomics, every CPU */

#define ST_SMP_ITERS	20000u

struct st_smp {
	u64 add64;
	u32 add32;
	u64 cas64;
	u32 tas_lock;
	u64 plain;		/* only under tas_lock */
	u64 bits;		/* bit idx owned by thread idx */
	atomic_t bit_errors;
};

static int st_smp_worker(void *arg, unsigned int idx)
{
	struct st_smp *s = arg;
	u64 bit = 1ULL << (idx % 64), old, prev;
	unsigned int i, spins;

	for (i = 0; i < ST_SMP_ITERS; i++) {
		iovx_fetch_add_relaxed(&s->add64, 1);
		iovx_fetch_add_acq_rel(&s->add32, 3u);

		old = iovx_load_relaxed(&s->cas64);
		while (!iovx_cmpxchg_relaxed(&s->cas64, &old, old + 1))
			iovx_cpu_relax();

		/* test-and-set lock: xchg acquires, store_release releases */
		preempt_disable();
		spins = 0;
		while (iovx_xchg_acq_rel(&s->tas_lock, 1u)) {
			iovx_cpu_relax();
			spins++;
		}
		WRITE_ONCE(s->plain, READ_ONCE(s->plain) + 1);
		iovx_store_release(&s->tas_lock, 0u);
		preempt_enable();

		prev = iovx_fetch_or_acq_rel(&s->bits, bit);
		if (prev & bit)
			atomic_inc(&s->bit_errors);
		prev = iovx_fetch_and_acq_rel(&s->bits, ~bit);
		if (!(prev & bit))
			atomic_inc(&s->bit_errors);

		if ((i & ST_RESCHED_MASK) == 0)
			cond_resched();
	}
	return 0;
}

static int st_atomics_smp(struct iovx_st *st)
{
	struct st_smp *s;
	unsigned int n;
	u64 want;
	int ret;

	if (iovx_st_nr_threads(1) > 64) {
		st->skipped = 1;
		snprintf(st->reason, sizeof(st->reason), "more than 64 threads");
		return 0;
	}
	s = iovx_zalloc(sizeof(*s), IOVX_GFP_KERNEL);
	if (!s)
		return IOVX_ST_FAIL(st, "no memory");
	ret = iovx_st_run_threads(st_smp_worker, s, 1, &n);
	want = (u64)n * ST_SMP_ITERS;
	if (ret)
		ret = IOVX_ST_FAIL(st, "threads: %d", ret);
	else if (s->add64 != want || s->add32 != (u32)(3 * want) || s->cas64 != want)
		ret = IOVX_ST_FAIL(st, "counts add64=%llu add32=%u cas64=%llu want %llu",
				   s->add64, s->add32, s->cas64, want);
	else if (s->plain != want)
		ret = IOVX_ST_FAIL(st, "xchg lock lost updates: %llu of %llu", s->plain, want);
	else if (atomic_read(&s->bit_errors) || s->bits)
		ret = IOVX_ST_FAIL(st, "fetch_or/and: %d errors, bits %llx",
				   atomic_read(&s->bit_errors), s->bits);
	iovx_free(s);
	return ret;
}

/* ------------------------------------------------------------ per-CPU slots */

#define ST_PCPU_ITERS	20000u

struct st_pcpu_slot {
	unsigned long owner;
	u64 count;
} ____cacheline_aligned;

struct st_pcpu_timer {
	struct iovx_timer t;
	struct st_pcpu *s;
	unsigned int cpu;
};

struct st_pcpu {
	struct st_pcpu_slot *slots;
	struct st_pcpu_timer *timers;	/* one per thread */
	bool stop;
	atomic_t collisions;
	atomic_t bad_hint;
	atomic_t wrong_context;
	atomic64_t proc_ops;
	atomic64_t timer_ops;
	atomic_t timers_armed;
};

/* The slot pattern the allocator's cached path uses: irqs off, own slot, plain RMW. */
static void st_pcpu_op(struct st_pcpu *s, unsigned long token)
{
	struct st_pcpu_slot *slot;
	iovx_irqflags_t f;
	unsigned int cpu;
	u64 c;

	iovx_local_irq_save(f);
	cpu = iovx_cpu_hint();
	if (cpu >= iovx_nr_cpu_ids()) {
		atomic_inc(&s->bad_hint);
		iovx_local_irq_restore(f);
		return;
	}
	slot = &s->slots[cpu];
	if (READ_ONCE(slot->owner))
		atomic_inc(&s->collisions);
	WRITE_ONCE(slot->owner, token);
	c = READ_ONCE(slot->count);
	barrier();
	WRITE_ONCE(slot->count, c + 1);
	if (READ_ONCE(slot->owner) != token)
		atomic_inc(&s->collisions);
	WRITE_ONCE(slot->owner, 0);
	iovx_local_irq_restore(f);
}

static void st_pcpu_timer_fn(void *arg)
{
	struct st_pcpu_timer *pt = arg;
	struct st_pcpu *s = pt->s;

	if (!in_serving_softirq() || in_hardirq())
		atomic_inc(&s->wrong_context);
	st_pcpu_op(s, 0x10000ul + pt->cpu);
	atomic64_inc(&s->timer_ops);
	if (!READ_ONCE(s->stop))
		iovx_timer_arm(&pt->t, 20 * NSEC_PER_USEC);
}

/*
 * Runs at least ST_PCPU_ITERS slot operations and keeps going (up to 2 s) until the timers
 * have made ST_PCPU_MIN_SOFTIRQ of their own, so both contexts really interleave.
 */
#define ST_PCPU_MIN_SOFTIRQ	2000

static int st_pcpu_worker(void *arg, unsigned int idx)
{
	struct st_pcpu *s = arg;
	struct st_pcpu_timer *pt = &s->timers[idx];
	u64 deadline = iovx_now_ns() + 2 * NSEC_PER_SEC;
	unsigned int i;

	/* armed from this thread, so (barring timer migration) it fires on this CPU */
	iovx_timer_arm(&pt->t, 10 * NSEC_PER_USEC);
	for (i = 0;; i++) {
		st_pcpu_op(s, idx + 1);
		if ((i & ST_RESCHED_MASK) == 0) {
			cond_resched();
			if (i >= ST_PCPU_ITERS &&
			    (atomic64_read(&s->timer_ops) >= ST_PCPU_MIN_SOFTIRQ ||
			     iovx_now_ns() > deadline))
				break;
		}
	}
	atomic64_add(i + 1, &s->proc_ops);
	return 0;
}

static int st_percpu(struct iovx_st *st)
{
	unsigned int nthreads = iovx_st_nr_threads(1), i, n;
	struct st_pcpu *s;
	u64 sum = 0, want;
	int ret;

	s = iovx_zalloc(sizeof(*s), IOVX_GFP_KERNEL);
	if (!s)
		return IOVX_ST_FAIL(st, "no memory");
	s->slots = iovx_zalloc_aligned(iovx_nr_cpu_ids() * sizeof(*s->slots), IOVX_CACHELINE,
				       IOVX_GFP_KERNEL);
	s->timers = iovx_zalloc(nthreads * sizeof(*s->timers), IOVX_GFP_KERNEL);
	if (!s->slots || !s->timers) {
		ret = IOVX_ST_FAIL(st, "no memory");
		goto out;
	}
	for (i = 0; i < nthreads; i++) {
		s->timers[i].s = s;
		s->timers[i].cpu = i;
		ret = iovx_timer_init(&s->timers[i].t, st_pcpu_timer_fn, &s->timers[i]);
		if (ret) {
			ret = IOVX_ST_FAIL(st, "timer_init %d", ret);
			goto out;
		}
	}
	ret = iovx_st_run_threads(st_pcpu_worker, s, 1, &n);
	WRITE_ONCE(s->stop, true);
	for (i = 0; i < nthreads; i++) {
		iovx_timer_cancel_sync(&s->timers[i].t);
		iovx_timer_destroy(&s->timers[i].t);
	}
	if (ret) {
		ret = IOVX_ST_FAIL(st, "threads: %d", ret);
		goto out;
	}
	for (i = 0; i < iovx_nr_cpu_ids(); i++)
		sum += s->slots[i].count;
	want = atomic64_read(&s->proc_ops) + atomic64_read(&s->timer_ops);
	if (atomic_read(&s->collisions) || atomic_read(&s->bad_hint))
		ret = IOVX_ST_FAIL(st, "slot collisions %d, bad cpu hints %d",
				   atomic_read(&s->collisions), atomic_read(&s->bad_hint));
	else if (sum != want)
		ret = IOVX_ST_FAIL(st, "lost slot updates: %llu of %llu", sum, want);
	else if (atomic_read(&s->wrong_context))
		ret = IOVX_ST_FAIL(st, "timer callback outside softirq %d times",
				   atomic_read(&s->wrong_context));
	else if (!atomic64_read(&s->timer_ops))
		ret = IOVX_ST_FAIL(st, "no timer-context operation ran");
	else
		iovx_st_info("percpu info process_ops=%lld softirq_ops=%lld",
			     atomic64_read(&s->proc_ops), atomic64_read(&s->timer_ops));
out:
	if (s->slots)
		iovx_free(s->slots);
	iovx_free(s->timers);
	iovx_free(s);
	return ret;
}

/* ------------------------------------------------------------ RCU */

#define ST_RCU_UPDATES	48u
#define ST_RCU_POISON	0xdeadbeefdeadbeefULL

struct st_rcu_obj {
	u64 a;
	u64 b;
	struct iovx_rcu_head rh;
};

struct st_rcu {
	struct st_rcu_obj *gp;
	bool stop;
	atomic_t bad_reads;
	atomic64_t reads;
	atomic_t callbacks;
	atomic_t queued;
};

static struct st_rcu *st_rcu_ctx;	/* for the callbacks; one RCU test at a time */

static void st_rcu_free_cb(struct iovx_rcu_head *head)
{
	struct st_rcu_obj *o = container_of(head, struct st_rcu_obj, rh);

	WRITE_ONCE(o->a, ST_RCU_POISON);
	WRITE_ONCE(o->b, ST_RCU_POISON);
	iovx_free(o);
	atomic_inc(&st_rcu_ctx->callbacks);
}

static int st_rcu_worker(void *arg, unsigned int idx)
{
	struct st_rcu *s = arg;
	struct st_rcu_obj *o, *old;
	unsigned int i;
	u64 a, b;

	if (idx == 0) {		/* the updater */
		for (i = 1; i <= ST_RCU_UPDATES; i++) {
			o = iovx_zalloc(sizeof(*o), IOVX_GFP_KERNEL);
			if (!o)
				break;
			o->a = i;
			o->b = i;
			old = s->gp;
			iovx_rcu_assign_pointer(s->gp, o);
			if (!old)
				continue;
			if (i & 1) {
				iovx_synchronize_rcu();
				WRITE_ONCE(old->a, ST_RCU_POISON);
				WRITE_ONCE(old->b, ST_RCU_POISON);
				iovx_free(old);
			} else {
				atomic_inc(&s->queued);
				iovx_call_rcu(&old->rh, st_rcu_free_cb);
			}
			msleep(1);
		}
		WRITE_ONCE(s->stop, true);
		return 0;
	}
	for (i = 0; !READ_ONCE(s->stop); i++) {
		iovx_rcu_read_lock();
		o = iovx_rcu_dereference(s->gp);
		if (o) {
			a = READ_ONCE(o->a);
			udelay(2);
			b = READ_ONCE(o->b);
			if (a != b || a == ST_RCU_POISON || !a)
				atomic_inc(&s->bad_reads);
		}
		iovx_rcu_read_unlock();
		atomic64_inc(&s->reads);
		if ((i & 15) == 0)
			cond_resched();
	}
	return 0;
}

static int st_rcu(struct iovx_st *st)
{
	struct st_rcu *s;
	int ret, queued;

	s = iovx_zalloc(sizeof(*s), IOVX_GFP_KERNEL);
	if (!s)
		return IOVX_ST_FAIL(st, "no memory");
	st_rcu_ctx = s;
	ret = iovx_st_run_threads(st_rcu_worker, s, 1, NULL);
	if (s->gp) {
		struct st_rcu_obj *last = s->gp;

		iovx_rcu_assign_pointer(s->gp, NULL);
		iovx_synchronize_rcu();
		iovx_free(last);
	}
	iovx_rcu_barrier();	/* every queued callback has run after this */
	queued = atomic_read(&s->queued);
	if (ret)
		ret = IOVX_ST_FAIL(st, "threads: %d", ret);
	else if (atomic_read(&s->bad_reads))
		ret = IOVX_ST_FAIL(st, "%d reads saw a freed or torn object",
				   atomic_read(&s->bad_reads));
	else if (atomic_read(&s->callbacks) != queued || !queued)
		ret = IOVX_ST_FAIL(st, "call_rcu callbacks ran %d of %d after rcu_barrier",
				   atomic_read(&s->callbacks), queued);
	else if (!atomic64_read(&s->reads))
		ret = IOVX_ST_FAIL(st, "no reads");
	iovx_free(s);
	return ret;
}

/* ------------------------------------------------------------ timers */

struct st_timer {
	struct iovx_timer t;
	atomic_t fired;
	atomic_t running;
	atomic_t wrong_context;
	unsigned int hold_us;	/* callback busy time */
	u64 rearm_ns;		/* 0: fire once */
	bool stop;
};

static void st_timer_fn(void *arg)
{
	struct st_timer *s = arg;

	if (!in_serving_softirq() || in_hardirq())
		atomic_inc(&s->wrong_context);
	atomic_set(&s->running, 1);
	if (s->hold_us)
		udelay(s->hold_us);
	atomic_inc(&s->fired);
	atomic_set(&s->running, 0);
	if (s->rearm_ns && !READ_ONCE(s->stop))
		iovx_timer_arm(&s->t, s->rearm_ns);
}

/* Runs on the target CPU (IPI): the soft hrtimer then expires there. */
static void st_timer_arm_here(void *arg)
{
	struct st_timer *s = arg;

	iovx_timer_arm(&s->t, 0);
}

/* Waits up to ms for the timer to have fired at least n times. */
static bool st_timer_wait(struct st_timer *s, int n, unsigned int ms)
{
	while (atomic_read(&s->fired) < n && ms--)
		msleep(1);
	return atomic_read(&s->fired) >= n;
}

static int st_timers(struct iovx_st *st)
{
	struct st_timer *s;
	u64 t0;
	int ret = 0, f;

	s = iovx_zalloc(sizeof(*s), IOVX_GFP_KERNEL);
	if (!s)
		return IOVX_ST_FAIL(st, "no memory");
	if (iovx_timer_init(&s->t, st_timer_fn, s)) {
		iovx_free(s);
		return IOVX_ST_FAIL(st, "timer_init");
	}

	/* arm / fire once */
	iovx_timer_arm(&s->t, NSEC_PER_MSEC);
	if (!st_timer_wait(s, 1, 2000)) {
		ret = IOVX_ST_FAIL(st, "1 ms timer did not fire within 2 s");
		goto out;
	}
	msleep(20);
	if (atomic_read(&s->fired) != 1) {
		ret = IOVX_ST_FAIL(st, "one-shot fired %d times", atomic_read(&s->fired));
		goto out;
	}

	/* cancel before expiry: never fires */
	atomic_set(&s->fired, 0);
	iovx_timer_arm(&s->t, 200 * NSEC_PER_MSEC);
	iovx_timer_cancel_sync(&s->t);
	msleep(300);
	if (atomic_read(&s->fired)) {
		ret = IOVX_ST_FAIL(st, "cancelled timer fired");
		goto out;
	}

	/* re-arm moves the expiry; still one firing */
	t0 = iovx_now_ns();
	iovx_timer_arm(&s->t, 5 * NSEC_PER_SEC);
	iovx_timer_arm(&s->t, NSEC_PER_MSEC);
	if (!st_timer_wait(s, 1, 2000) || iovx_now_ns() - t0 > 3 * NSEC_PER_SEC) {
		ret = IOVX_ST_FAIL(st, "re-armed timer did not fire early");
		goto out;
	}
	msleep(20);
	if (atomic_read(&s->fired) != 1) {
		ret = IOVX_ST_FAIL(st, "re-armed timer fired %d times", atomic_read(&s->fired));
		goto out;
	}

	/* cancel_sync while the callback runs on another CPU: waits for it */
	if (num_online_cpus() > 1) {
		int cpu = get_cpu();
		int target = cpumask_any_but(cpu_online_mask, cpu);
		int was_running;

		atomic_set(&s->fired, 0);
		s->hold_us = 20000;
		smp_call_function_single(target, st_timer_arm_here, s, 1);
		for (f = 0; !atomic_read(&s->running) && !atomic_read(&s->fired) &&
			    f < 20000000; f++)
			cpu_relax();
		put_cpu();
		was_running = atomic_read(&s->running);
		iovx_timer_cancel_sync(&s->t);
		if (atomic_read(&s->running) || atomic_read(&s->fired) != 1) {
			ret = IOVX_ST_FAIL(st, "cancel_sync returned with callback running=%d fired=%d",
					   atomic_read(&s->running), atomic_read(&s->fired));
			goto out;
		}
		s->hold_us = 0;
		iovx_st_info("timer info cancel_sync_waited_for_running_callback=%d", was_running);
	}

	/* a self re-arming timer: cancel_sync stops it for good */
	atomic_set(&s->fired, 0);
	s->rearm_ns = 50 * NSEC_PER_USEC;
	iovx_timer_arm(&s->t, 50 * NSEC_PER_USEC);
	if (!st_timer_wait(s, 5, 2000)) {
		ret = IOVX_ST_FAIL(st, "self re-arming timer fired %d times",
				   atomic_read(&s->fired));
		goto out;
	}
	iovx_timer_cancel_sync(&s->t);
	f = atomic_read(&s->fired);
	msleep(20);
	if (atomic_read(&s->fired) != f || atomic_read(&s->running)) {
		ret = IOVX_ST_FAIL(st, "self re-arming timer ran after cancel_sync");
		goto out;
	}
	if (atomic_read(&s->wrong_context))
		ret = IOVX_ST_FAIL(st, "callback outside softirq context %d times",
				   atomic_read(&s->wrong_context));
out:
	WRITE_ONCE(s->stop, true);
	iovx_timer_cancel_sync(&s->t);
	iovx_timer_destroy(&s->t);
	iovx_free(s);
	return ret;
}

/* ------------------------------------------------------------ test hooks */

#ifdef IOVX_TEST_HOOKS
static atomic_t st_park_calls;
static const char *st_park_last;

static void st_park_hook(const char *name)
{
	WRITE_ONCE(st_park_last, name);
	atomic_inc(&st_park_calls);
}

struct st_failnth {
	atomic_t nulls;
	atomic_t allocs;
};

static int st_failnth_worker(void *arg, unsigned int idx)
{
	struct st_failnth *s = arg;
	unsigned int i;
	void *p;

	for (i = 0; i < 400; i++) {
		p = iovx_zalloc(32, IOVX_GFP_KERNEL);
		atomic_inc(&s->allocs);
		if (!p)
			atomic_inc(&s->nulls);
		iovx_free(p);
		if ((i & 63) == 0)
			cond_resched();
	}
	return 0;
}

static int st_hooks(struct iovx_st *st)
{
	struct st_failnth s = { };
	void *p[5];
	int i, nulls = 0, ret;

	iovx_fail_nth_arm(3);
	for (i = 0; i < 5; i++) {
		p[i] = i == 4 ? iovx_zalloc_aligned(64, 64, IOVX_GFP_KERNEL)
			      : iovx_zalloc(16, IOVX_GFP_KERNEL);
		nulls += !p[i];
	}
	ret = 0;
	if (nulls != 1 || p[2])
		ret = IOVX_ST_FAIL(st, "fail-Nth(3): %d NULLs, third=%p", nulls, p[2]);
	else if (iovx_fail_nth_seen() != 3)
		ret = IOVX_ST_FAIL(st, "fail-Nth seen %lu, want 3", iovx_fail_nth_seen());
	for (i = 0; i < 5; i++)
		iovx_free(p[i]);
	if (ret)
		return ret;

	/* the aligned path counts too; disarm stops it */
	iovx_fail_nth_arm(1);
	p[0] = iovx_zalloc_aligned(128, 64, IOVX_GFP_ATOMIC);
	IOVX_ST_CHECK(st, !p[0]);
	iovx_fail_nth_arm(2);
	iovx_fail_nth_disarm();
	for (i = 0; i < 3; i++) {
		p[i] = iovx_zalloc(8, IOVX_GFP_KERNEL);
		nulls = !p[i];
		iovx_free(p[i]);
		IOVX_ST_CHECK(st, !nulls);
	}

	/* global in the kernel: exactly one failure among all CPUs' allocations */
	iovx_fail_nth_arm(500);
	ret = iovx_st_run_threads(st_failnth_worker, &s, 1, NULL);
	iovx_fail_nth_disarm();
	if (ret)
		return IOVX_ST_FAIL(st, "threads: %d", ret);
	if (atomic_read(&s.nulls) != 1)
		return IOVX_ST_FAIL(st, "concurrent fail-Nth(500): %d failures in %d allocations",
				    atomic_read(&s.nulls), atomic_read(&s.allocs));

	/* park points call the installed hook, and nothing once it is removed */
	atomic_set(&st_park_calls, 0);
	iovx_park_set_hook(st_park_hook);
	IOVX_PARK_POINT("selftest-park");
	iovx_park_set_hook(NULL);
	IOVX_PARK_POINT("selftest-park");
	IOVX_ST_CHECK(st, atomic_read(&st_park_calls) == 1);
	IOVX_ST_CHECK(st, st_park_last && !strcmp(st_park_last, "selftest-park"));
	return 0;
}
#else
static int st_hooks(struct iovx_st *st)
{
	IOVX_ST_CHECK(st, !iovx_fail_nth_hit());
	IOVX_PARK_POINT("selftest-park");
	st->skipped = 1;
	snprintf(st->reason, sizeof(st->reason), "built without IOVX_TEST_HOOKS");
	return 0;
}
#endif

/* ------------------------------------------------------------ memory */

static int st_memory(struct iovx_st *st)
{
	static const size_t sizes[] = {
		1, 24, 64, 100, 192, 4096, 5000, 70000, 1u << 20, (4u << 20) + 1, 9u << 20
	};
	iovx_irqflags_t f;
	unsigned long off;
	unsigned int i;
	size_t align;
	void *p;

	iovx_free(NULL);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		p = iovx_zalloc(sizes[i], IOVX_GFP_KERNEL);
		if (!p)
			return IOVX_ST_FAIL(st, "zalloc(%zu) failed", sizes[i]);
		if (memchr_inv(p, 0, sizes[i])) {
			iovx_free(p);
			return IOVX_ST_FAIL(st, "zalloc(%zu) not zeroed", sizes[i]);
		}
		memset(p, 0x5a, sizes[i]);
		iovx_free(p);
		for (align = 8; align <= 4096; align <<= 1) {
			p = iovx_zalloc_aligned(sizes[i], align, IOVX_GFP_KERNEL);
			if (!p)
				return IOVX_ST_FAIL(st, "zalloc_aligned(%zu, %zu) failed",
						    sizes[i], align);
			off = (uintptr_t)p & (align - 1);
			if (off || memchr_inv(p, 0, sizes[i])) {
				iovx_free(p);
				return IOVX_ST_FAIL(st, "zalloc_aligned(%zu, %zu): misaligned by %lu or not zeroed",
						    sizes[i], align, off);
			}
			memset(p, 0xa5, sizes[i]);
			iovx_free(p);
		}
	}
	/* atomic allocations with interrupts off, as a cached path may make them */
	for (i = 0; i < ARRAY_SIZE(sizes) && sizes[i] <= 4096; i++) {
		iovx_local_irq_save(f);
		p = iovx_zalloc_aligned(sizes[i], IOVX_CACHELINE, IOVX_GFP_ATOMIC);
		if (p && (((uintptr_t)p & (IOVX_CACHELINE - 1)) || memchr_inv(p, 0, sizes[i]))) {
			iovx_free(p);
			iovx_local_irq_restore(f);
			return IOVX_ST_FAIL(st, "atomic zalloc_aligned(%zu) bad", sizes[i]);
		}
		iovx_free(p);
		p = iovx_zalloc(sizes[i], IOVX_GFP_ATOMIC);
		iovx_free(p);
		iovx_local_irq_restore(f);
	}
	p = iovx_zalloc(64, IOVX_GFP_KERNEL);
	IOVX_ST_CHECK(st, p);
	iovx_memset(p, 0x11, 32);
	iovx_memcpy((char *)p + 32, p, 32);
	IOVX_ST_CHECK(st, !memchr_inv(p, 0x11, 64));
	iovx_free(p);
	return 0;
}

/* ------------------------------------------------------------ time */

static int st_time(struct iovx_st *st)
{
	u64 t0 = iovx_now_ns(), t1;

	msleep(10);
	t1 = iovx_now_ns();
	/*
	 * The clock advances across a sleep and never by an absurd amount. Not "by at least
	 * 10 ms": an emulated guest on a loaded host may switch clocksources (an unstable TSC)
	 * and then measures jiffies-based sleeps short (seen: 0.93 ms for msleep(10) under TCG).
	 */
	if (t1 <= t0 || t1 > t0 + 10 * NSEC_PER_SEC)
		return IOVX_ST_FAIL(st, "10 ms sleep measured %llu ns", t1 - t0);
	if (t1 < t0 + 9 * NSEC_PER_MSEC)
		iovx_st_info("time info 10 ms sleep measured %llu ns (clocksource change?)",
			     t1 - t0);
	return 0;
}

/*
 * The timer's slack: how late a soft hrtimer armed for the deferred-invalidation delays
 * (3/4 and 1/4 of the default 1 ms bound) fires, with the CPUs idle and with every CPU busy
 * in a kthread. It never fires early and always in softirq context; the lateness
 * distribution is printed (under TCG an emulation figure: compare within one boot).
 */
#define ST_SLACK_N	64

struct st_slack {
	struct iovx_timer t;
	u64 armed, delay, late[ST_SLACK_N];
	atomic_t n;
	atomic_t early, wrong_context;
};

static void st_slack_fn(void *arg)
{
	struct st_slack *s = arg;
	u64 now = iovx_now_ns();
	int i = atomic_read(&s->n);

	if (!in_serving_softirq() || in_hardirq())
		atomic_inc(&s->wrong_context);
	if (now < s->armed + s->delay)
		atomic_inc(&s->early);
	else if (i < ST_SLACK_N)
		s->late[i] = now - s->armed - s->delay;
	atomic_inc(&s->n);
	if (i + 1 < ST_SLACK_N) {
		s->armed = iovx_now_ns();
		iovx_timer_arm(&s->t, s->delay);
	}
}

static int st_busy_fn(void *arg)
{
	while (!kthread_should_stop())
		cond_resched();
	return 0;
}

static int st_u64_cmp(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static int st_slack_run(struct iovx_st *st, struct st_slack *s, u64 delay, const char *load)
{
	unsigned int ms = 5000;

	atomic_set(&s->n, 0);
	s->delay = delay;
	s->armed = iovx_now_ns();
	iovx_timer_arm(&s->t, delay);
	while (atomic_read(&s->n) < ST_SLACK_N && ms--)
		msleep(1);
	iovx_timer_cancel_sync(&s->t);
	if (atomic_read(&s->n) < ST_SLACK_N)
		return IOVX_ST_FAIL(st, "%s: %d of %d firings in 5 s", load, atomic_read(&s->n),
				    ST_SLACK_N);
	if (atomic_read(&s->early) || atomic_read(&s->wrong_context))
		return IOVX_ST_FAIL(st, "%s: %d early, %d outside softirq", load,
				    atomic_read(&s->early), atomic_read(&s->wrong_context));
	sort(s->late, ST_SLACK_N, sizeof(u64), st_u64_cmp, NULL);
	iovx_st_info("timer-slack delay=%lluus %s n=%d late p50=%lluus p99=%lluus max=%lluus",
		     delay / NSEC_PER_USEC, load, ST_SLACK_N, s->late[ST_SLACK_N / 2] / NSEC_PER_USEC,
		     s->late[ST_SLACK_N * 99 / 100] / NSEC_PER_USEC,
		     s->late[ST_SLACK_N - 1] / NSEC_PER_USEC);
	return 0;
}

static int st_timer_slack(struct iovx_st *st)
{
	static const u64 delays[] = { 750 * NSEC_PER_USEC, 250 * NSEC_PER_USEC };
	struct task_struct *busy[8] = { NULL };
	struct st_slack *s;
	int ret = 0, cpu, nb = 0;
	unsigned int i;

	s = iovx_zalloc(sizeof(*s), IOVX_GFP_KERNEL);
	if (!s)
		return IOVX_ST_FAIL(st, "no memory");
	if (iovx_timer_init(&s->t, st_slack_fn, s)) {
		iovx_free(s);
		return IOVX_ST_FAIL(st, "timer_init");
	}
	for (i = 0; !ret && i < ARRAY_SIZE(delays); i++)
		ret = st_slack_run(st, s, delays[i], "idle");
	for_each_online_cpu(cpu) {
		if (nb == ARRAY_SIZE(busy))
			break;
		busy[nb] = kthread_create(st_busy_fn, NULL, "iovx-busy/%d", cpu);
		if (IS_ERR(busy[nb])) {
			busy[nb] = NULL;
			break;
		}
		kthread_bind(busy[nb], cpu);
		wake_up_process(busy[nb]);
		nb++;
	}
	for (i = 0; !ret && i < ARRAY_SIZE(delays); i++)
		ret = st_slack_run(st, s, delays[i], "busy");
	while (nb--)
		kthread_stop(busy[nb]);	/* it exits only when told to */
	iovx_timer_destroy(&s->t);
	iovx_free(s);
	return ret;
}

const struct iovx_st_case iovx_st_shim_cases[] = {
	{ "shim-atomics", st_atomics_basic },
	{ "shim-atomics-smp", st_atomics_smp },
	{ "shim-percpu", st_percpu },
	{ "shim-rcu", st_rcu },
	{ "shim-timer", st_timers },
	{ "shim-timer-slack", st_timer_slack },
	{ "shim-hooks", st_hooks },
	{ "shim-memory", st_memory },
	{ "shim-time", st_time },
	{ NULL, NULL }
};

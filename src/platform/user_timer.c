// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * user_timer.c - the seam's one-shot timer in userspace: one helper thread per timer.
 *
 * What and why: the kernel runs deferred-flush work from a timer; userspace has no softirq,
 * so each iovx_timer owns a thread that sleeps on a condition variable until its
 * CLOCK_MONOTONIC deadline and then calls fn(arg). Timers are few (one per invalidation
 * domain), so a thread each is simpler and more predictable than a shared timer wheel.
 *
 * Invariants (all under ut->lock):
 *   T1 armed  => the thread will call fn once, at or after deadline, unless cancelled/re-armed
 *   T2 running => the thread is inside fn (lock dropped); it clears running and broadcasts
 *      idle before it looks at armed again
 *   T3 cancel_sync returns only with !armed && !running (except when fn cancels its own
 *      timer: it cannot wait for itself; it returns with !armed)
 *
 * Progress: blocking (mutex + condition variables). fn runs without the lock held, so fn
 * may arm or cancel its own timer.
 *
 * Synchronization table: arm, cancel_sync may run concurrently with each other and with
 * fn; init and destroy must not race with any other call on the same timer; destroy must
 * not be called from fn.
 *
 * Ordering edges: all state is under ut->lock (pthread mutex: acquire/release). E-T1 the
 * arming thread's writes before arm happen before fn (arm unlocks, the thread locks before
 * calling fn). E-T2 fn's writes happen before cancel_sync's return (the thread locks after
 * fn, cancel_sync locks to observe !running).
 */
#define _GNU_SOURCE
#include "platform.h"

#include <pthread.h>
#include <time.h>

struct user_timer {
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* the helper thread waits here */
	pthread_cond_t idle;	/* cancel_sync waits here for fn to return */
	pthread_t thread;
	struct iovx_timer *t;
	uint64_t deadline;	/* CLOCK_MONOTONIC ns; valid while armed */
	bool armed;
	bool running;
	bool stop;
};

static void ns_to_timespec(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

static void *timer_thread(void *p)
{
	struct user_timer *ut = p;
	struct iovx_timer *t = ut->t;

	pthread_mutex_lock(&ut->lock);
	while (!ut->stop) {
		uint64_t now;

		if (!ut->armed) {
			pthread_cond_wait(&ut->wake, &ut->lock);
			continue;
		}
		now = iovx_now_ns();
		if (now < ut->deadline) {
			struct timespec ts;

			ns_to_timespec(ut->deadline, &ts);
			pthread_cond_timedwait(&ut->wake, &ut->lock, &ts);
			continue;	/* re-check: a re-arm or cancel may have come */
		}
		ut->armed = false;
		ut->running = true;
		pthread_mutex_unlock(&ut->lock);
		t->fn(t->arg);				/* E-T1 */
		pthread_mutex_lock(&ut->lock);
		ut->running = false;
		pthread_cond_broadcast(&ut->idle);	/* E-T2 */
	}
	pthread_mutex_unlock(&ut->lock);
	return NULL;
}

int iovx_timer_init(struct iovx_timer *t, void (*fn)(void *arg), void *arg)
{
	struct user_timer *ut;
	pthread_condattr_t ca;
	int err;

	if (!t || !fn)
		return -EINVAL;
	t->fn = fn;
	t->arg = arg;
	t->impl = NULL;
	ut = iovx_zalloc(sizeof(*ut), IOVX_GFP_KERNEL);
	if (!ut)
		return -ENOMEM;
	ut->t = t;
	err = pthread_condattr_init(&ca);
	if (err)
		goto out_free;
	err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(&ut->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (err)
		goto out_free;
	err = pthread_cond_init(&ut->idle, NULL);
	if (err)
		goto out_wake;
	err = pthread_mutex_init(&ut->lock, NULL);
	if (err)
		goto out_idle;
	err = pthread_create(&ut->thread, NULL, timer_thread, ut);
	if (err)
		goto out_lock;
	t->impl = ut;
	return 0;

out_lock:
	pthread_mutex_destroy(&ut->lock);
out_idle:
	pthread_cond_destroy(&ut->idle);
out_wake:
	pthread_cond_destroy(&ut->wake);
out_free:
	iovx_free(ut);
	return -err;
}

void iovx_timer_arm(struct iovx_timer *t, uint64_t delay_ns)
{
	struct user_timer *ut = t->impl;
	uint64_t now = iovx_now_ns();

	pthread_mutex_lock(&ut->lock);
	ut->deadline = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
	ut->armed = true;
	pthread_cond_signal(&ut->wake);
	pthread_mutex_unlock(&ut->lock);
}

void iovx_timer_cancel_sync(struct iovx_timer *t)
{
	struct user_timer *ut = t->impl;

	pthread_mutex_lock(&ut->lock);
	ut->armed = false;
	/* From fn itself: waiting for our own return would deadlock (T3's exception). */
	if (!pthread_equal(pthread_self(), ut->thread)) {
		while (ut->running)
			pthread_cond_wait(&ut->idle, &ut->lock);	/* E-T2 */
		iovx_assert(!ut->armed && !ut->running);		/* T3 */
	}
	pthread_mutex_unlock(&ut->lock);
}

void iovx_timer_destroy(struct iovx_timer *t)
{
	struct user_timer *ut;

	if (!t || !t->impl)
		return;
	ut = t->impl;
	pthread_mutex_lock(&ut->lock);
	ut->armed = false;
	ut->stop = true;
	pthread_cond_signal(&ut->wake);
	pthread_mutex_unlock(&ut->lock);
	pthread_join(ut->thread, NULL);
	pthread_cond_destroy(&ut->idle);
	pthread_cond_destroy(&ut->wake);
	pthread_mutex_destroy(&ut->lock);
	iovx_free(ut);
	t->impl = NULL;
}

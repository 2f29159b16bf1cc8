// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * user_rcu.c - the RCU names of the seam over liburcu's "bulletproof" flavour (urcu-bp).
 *
 * What and why: urcu-bp registers a reader thread on its first read-side section, so a
 * library can use RCU from threads it never saw created, as the kernel's RCU can. Read
 * sections nest and never block; synchronize waits for every section open when it began;
 * call_rcu runs callbacks on liburcu's default call_rcu thread after a grace period.
 * The library wrappers (not the _LGPL_SOURCE inlines) are called, keeping this file free
 * of LGPL inline code.
 *
 * Invariants: a callback queued by iovx_call_rcu() runs once, after a grace period that
 * began after the call; iovx_rcu_barrier() returns after every callback queued before it
 * has returned. These give the reclamation rules the invariants of docs/architecture.md §3
 * need (I2 for RCU-freed table entries).
 *
 * Progress: read lock/unlock are wait-free; synchronize, barrier block (never call them in
 * a read section or from a callback); call_rcu is lock-free (a wait-free queue append in
 * liburcu).
 *
 * Synchronization table: read_lock/unlock may run concurrently with everything; synchronize
 * and call_rcu with everything except from inside a read section (synchronize) or a
 * callback (synchronize, barrier).
 *
 * Ordering edges. liburcu's barriers are inline assembly and its library is not
 * instrumented, so ThreadSanitizer sees none of them. Under TSan we state them with
 * __tsan_release/__tsan_acquire on per-process sync objects, so no suppression file is needed:
 *   E-RCU1 publication: iovx_rcu_assign_pointer (release) / iovx_rcu_dereference (acquire),
 *          both plain __atomic builtins in platform_user.h, seen by TSan directly.
 *   E-RCU2 grace period: every read-unlock releases rcu_gp_sync; synchronize's return
 *          acquires it, so a reader's accesses happen before the updater frees.
 *   E-RCU3 call_rcu: the caller releases the head before queueing; the trampoline acquires
 *          the head (caller's writes) and rcu_gp_sync (the readers', as E-RCU2).
 *   E-RCU4 barrier: each callback releases rcu_barrier_sync when it returns; rcu_barrier's
 *          return acquires it, so callbacks' effects are visible to the caller. liburcu's
 *          barrier allocates bookkeeping that its call_rcu thread frees, ordered only by
 *          its own queue: the calling thread's accesses inside urcu_bp_barrier() are
 *          ignored by TSan (__tsan_ignore_thread_begin/end), not suppressed by a file.
 */
#include "platform.h"

#include <urcu/urcu-bp.h>

IOVX_BUILD_BUG_ON(sizeof(struct rcu_head) > sizeof(((struct iovx_rcu_head *)0)->urcu_));
IOVX_BUILD_BUG_ON(offsetof(struct iovx_rcu_head, urcu_) != 0);

#if defined(__SANITIZE_THREAD__)
#define IOVX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IOVX_TSAN 1
#endif
#endif

/* TSan sync objects: only their addresses matter. */
static char rcu_gp_sync;
static char rcu_barrier_sync;

#ifdef IOVX_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define tsan_acquire(a)	__tsan_acquire(a)
#define tsan_release(a)	__tsan_release(a)
#define tsan_ignore_begin()	__tsan_ignore_thread_begin()
#define tsan_ignore_end()	__tsan_ignore_thread_end()
#else
#define tsan_acquire(a)	do { (void)(a); } while (0)
#define tsan_release(a)	do { (void)(a); } while (0)
#define tsan_ignore_begin()	do { } while (0)
#define tsan_ignore_end()	do { } while (0)
#endif

void iovx_rcu_read_lock(void)
{
	urcu_bp_read_lock();
}

void iovx_rcu_read_unlock(void)
{
	tsan_release(&rcu_gp_sync);		/* E-RCU2: pairs with synchronize's acquire */
	urcu_bp_read_unlock();
}

void iovx_synchronize_rcu(void)
{
	urcu_bp_synchronize_rcu();
	tsan_acquire(&rcu_gp_sync);		/* E-RCU2: pairs with every read-unlock */
}

static void iovx_rcu_trampoline(struct rcu_head *rh)
{
	struct iovx_rcu_head *head = (struct iovx_rcu_head *)(void *)rh;
	void (*fn)(struct iovx_rcu_head *);

	tsan_acquire(head);			/* E-RCU3: pairs with iovx_call_rcu's release */
	tsan_acquire(&rcu_gp_sync);		/* E-RCU3/E-RCU2: readers before the grace period */
	fn = head->fn_;
	fn(head);
	tsan_release(&rcu_barrier_sync);	/* E-RCU4: pairs with rcu_barrier's acquire */
}

void iovx_call_rcu(struct iovx_rcu_head *head, void (*fn)(struct iovx_rcu_head *head))
{
	head->fn_ = fn;
	tsan_release(head);			/* E-RCU3: pairs with the trampoline's acquire */
	urcu_bp_call_rcu((struct rcu_head *)(void *)head, iovx_rcu_trampoline);
}

void iovx_rcu_barrier(void)
{
	/*
	 * liburcu allocates its barrier bookkeeping here and frees it on its call_rcu thread,
	 * ordered by its own (invisible) queue: keep TSan from recording this thread's side.
	 */
	tsan_ignore_begin();
	urcu_bp_barrier();
	tsan_ignore_end();
	tsan_acquire(&rcu_barrier_sync);	/* E-RCU4: pairs with each callback's release */
}

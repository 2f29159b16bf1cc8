/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * platform_user.h - the userspace backend of the seam (see platform.h for the contract).
 *
 * Atomics are the compiler's __atomic builtins so ThreadSanitizer sees every edge (ck_pr is
 * inline assembly and invisible to it). RCU is liburcu's "bulletproof" flavour, which
 * registers reader threads on first use, as a library must; publication and grace periods
 * are made visible to TSan by annotations in user_rcu.c. Concurrency Kit provides the pause
 * instruction and backoff for retry loops.
 */
#ifndef IOVX_PLATFORM_USER_H
#define IOVX_PLATFORM_USER_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ compiler */
#define iovx_likely(x)		__builtin_expect(!!(x), 1)
#define iovx_unlikely(x)	__builtin_expect(!!(x), 0)
#define IOVX_NOINLINE		__attribute__((noinline))
#define IOVX_INLINE		static inline __attribute__((always_inline))
#define IOVX_ALIGNED(n)		__attribute__((aligned(n)))
#define IOVX_CACHELINE		64
#define IOVX_BUILD_BUG_ON(c)	_Static_assert(!(c), #c)
#define iovx_compiler_barrier()	__asm__ __volatile__("" ::: "memory")

void iovx_user_warn(const char *file, int line, const char *cond);
#define IOVX_WARN_ON(c) ({						\
	bool iovx_w_ = !!(c);						\
	if (iovx_unlikely(iovx_w_))					\
		iovx_user_warn(__FILE__, __LINE__, #c);			\
	iovx_w_;							\
})

#ifdef IOVX_DEBUG
void iovx_user_assert_fail(const char *file, int line, const char *cond);
#define iovx_assert(c) do {						\
	if (iovx_unlikely(!(c)))					\
		iovx_user_assert_fail(__FILE__, __LINE__, #c);		\
} while (0)
#else
#define iovx_assert(c) do { (void)sizeof(c); } while (0)
#endif

static inline unsigned int iovx_clz64(uint64_t x) { return (unsigned int)__builtin_clzll(x); }
static inline unsigned int iovx_ctz64(uint64_t x) { return (unsigned int)__builtin_ctzll(x); }
static inline unsigned int iovx_fls64(uint64_t x) { return x ? 64 - iovx_clz64(x) : 0; }

/* ------------------------------------------------------------------ atomics */
#define iovx_load_relaxed(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define iovx_load_acquire(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define iovx_store_relaxed(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define iovx_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define iovx_cmpxchg_acq_rel(p, o, v) \
	__atomic_compare_exchange_n((p), (o), (v), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define iovx_cmpxchg_relaxed(p, o, v) \
	__atomic_compare_exchange_n((p), (o), (v), false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
#define iovx_xchg_acq_rel(p, v)		__atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#define iovx_fetch_add_relaxed(p, v)	__atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define iovx_fetch_add_acq_rel(p, v)	__atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)
#define iovx_fetch_or_acq_rel(p, v)	__atomic_fetch_or((p), (v), __ATOMIC_ACQ_REL)
#define iovx_fetch_and_acq_rel(p, v)	__atomic_fetch_and((p), (v), __ATOMIC_ACQ_REL)
#define iovx_fence_acquire()		__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define iovx_fence_release()		__atomic_thread_fence(__ATOMIC_RELEASE)
#define iovx_fence_seq_cst()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

#include <ck_pr.h>
#define iovx_cpu_relax()		ck_pr_stall()

/* ------------------------------------------------------------------ per-CPU */
extern unsigned int iovx_user_nr_cpus;
extern unsigned int iovx_user_hint_lim;
unsigned int iovx_user_cpu_slow(void);
/* IOVX_CPU_SLOTS simulation (benches, tests): this thread's CPU slot, -1 for the real one */
void iovx_user_force_cpu_slot(int slot);

#include <iovx/static/config.h>
#if defined(__x86_64__) && !defined(IOVX_NO_RSEQ) && !IOVX_UNDER_TSAN
#include "platform_user_rseq.h"
#endif

static inline unsigned int iovx_nr_cpu_ids(void)
{
	return iovx_user_nr_cpus;
}

static inline unsigned int iovx_cpu_hint(void)
{
#ifdef IOVX_HAVE_RSEQ
	unsigned int cpu = iovx_rseq_cpu_id();

	if (iovx_likely(cpu < iovx_user_hint_lim))
		return cpu;
#endif
	return iovx_user_cpu_slow();
}

typedef unsigned long iovx_irqflags_t;
#define iovx_local_irq_save(f)		do { (f) = 0; } while (0)
#define iovx_local_irq_restore(f)	do { (void)(f); } while (0)

/* ------------------------------------------------------------------ RCU */
/*
 * urcu_ holds liburcu's struct rcu_head (a queue link and its callback: the trampoline in
 * user_rcu.c); fn_ is the caller's callback. user_rcu.c checks the sizes at build time.
 */
struct iovx_rcu_head {
	void *urcu_[2];
	void (*fn_)(struct iovx_rcu_head *head);
};

void iovx_rcu_read_lock(void);
void iovx_rcu_read_unlock(void);
void iovx_synchronize_rcu(void);
void iovx_call_rcu(struct iovx_rcu_head *head, void (*fn)(struct iovx_rcu_head *head));
void iovx_rcu_barrier(void);
/* E-RCU1: acquire pairs with the release in iovx_rcu_assign_pointer (publication). */
#define iovx_rcu_dereference(p)		__atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define iovx_rcu_assign_pointer(p, v)	__atomic_store_n(&(p), (v), __ATOMIC_RELEASE)

/* ------------------------------------------------------------------ time */
uint64_t iovx_now_ns(void);
void iovx_cond_resched(void);

/* ------------------------------------------------------------------ pinning */
/* A library cannot be unloaded under its callers' objects by anything iovx controls. */
#define iovx_pin_get()	do { } while (0)
#define iovx_pin_put()	do { } while (0)

/* ------------------------------------------------------------------ memory */
#define IOVX_GFP_KERNEL 0u
#define IOVX_GFP_ATOMIC 1u
void *iovx_zalloc(size_t size, unsigned int gfp);
void *iovx_zalloc_aligned(size_t size, size_t align, unsigned int gfp);
void iovx_free(void *p);
void iovx_memcpy(void *dst, const void *src, size_t n);
void iovx_memset(void *dst, int c, size_t n);

/* ------------------------------------------------------------------ timer */
struct iovx_timer {
	void (*fn)(void *arg);
	void *arg;
	void *impl;	/* struct user_timer in user_timer.c */
};
int iovx_timer_init(struct iovx_timer *t, void (*fn)(void *arg), void *arg);
void iovx_timer_arm(struct iovx_timer *t, uint64_t delay_ns);
void iovx_timer_cancel_sync(struct iovx_timer *t);
void iovx_timer_destroy(struct iovx_timer *t);

#endif /* IOVX_PLATFORM_USER_H */

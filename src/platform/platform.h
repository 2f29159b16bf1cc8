/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * platform.h - THE seam between iovx's portable code and the world it runs in.
 *
 * Every file under src/{iova,inval,reuse,dma,sim} includes this header and nothing else from
 * libc or the kernel. It picks one backend:
 *   - userspace: src/platform/platform_user.h (compiler __atomic builtins, liburcu-bp, ck)
 *   - kernel:    kernel-glue/platform_kernel.h (READ_ONCE/smp_*, kernel RCU, kmalloc)
 * and both backends provide exactly the names documented below. A backend may implement a
 * name as a macro or a static inline; callers must not take its address.
 *
 * Types and constants
 *   uint8_t..uint64_t, int32_t, int64_t, bool, size_t, uintptr_t, NULL, true, false
 *   EINVAL ENOMEM EFAULT EBUSY EAGAIN EEXIST ENOENT ENOSPC ERANGE EIO ETIMEDOUT EOVERFLOW
 *   EOPNOTSUPP EALREADY
 *   (iovx returns them negated, kernel style)
 *
 * Compiler
 *   iovx_likely(x) iovx_unlikely(x) IOVX_NOINLINE IOVX_INLINE IOVX_ALIGNED(n)
 *   IOVX_CACHELINE (bytes) IOVX_BUILD_BUG_ON(cond) iovx_compiler_barrier()
 *   IOVX_WARN_ON(cond) -> cond (logs once per site in debug builds)
 *   iovx_assert(cond)  -> checked only in debug builds (IOVX_DEBUG)
 *   iovx_clz64(x) iovx_ctz64(x) (x != 0), iovx_fls64(x) (1-based, 0 for 0)
 *
 * Atomics. The memory order is part of the name, never a parameter. They apply to naturally
 * aligned 32- and 64-bit integers and pointers (type-generic macros):
 *   iovx_load_relaxed(p)            iovx_load_acquire(p)
 *   iovx_store_relaxed(p, v)        iovx_store_release(p, v)
 *   iovx_cmpxchg_acq_rel(p, oldp, v)  bool; on failure *oldp = current value
 *   iovx_cmpxchg_relaxed(p, oldp, v)  same, no ordering
 *   iovx_xchg_acq_rel(p, v)         returns the previous value
 *   iovx_fetch_add_relaxed(p, v)    iovx_fetch_add_acq_rel(p, v)    return the previous value
 *   iovx_fetch_or_acq_rel(p, v)     iovx_fetch_and_acq_rel(p, v)    return the previous value
 *   iovx_fence_acquire() iovx_fence_release() iovx_fence_seq_cst()
 *   iovx_cpu_relax()                one pause in a retry loop
 *   IOVX_STAT_ADD(p, v)             adds v to the statistic counter *p (a relaxed atomic;
 *                                   statistics are read as snapshots, never ordered by)
 * On x86-64 the read-modify-writes are full barriers in both backends; the names say the
 * minimum the algorithms rely on.
 *
 * Per-CPU
 *   iovx_nr_cpu_ids()      number of CPU slots a per-CPU array needs (fixed after start-up)
 *   iovx_cpu_hint()        the CPU the caller runs on now; may be stale at once, always valid
 *                          as an index (< iovx_nr_cpu_ids())
 *   iovx_irqflags_t, iovx_local_irq_save(f), iovx_local_irq_restore(f)
 *                          kernel: local_irq_save (no migration, no softirq on this CPU
 *                          inside); userspace: nothing (exclusivity there comes from the
 *                          algorithm: CAS-claimed slots or restartable sequences)
 *
 * Per-CPU scheme. Portable code asks which one it runs on with these macros, never by
 * testing the build environment:
 *   IOVX_PCPU_PRIVATE      defined by the kernel backend: a CPU's per-CPU data is changed
 *                          only by that CPU, with interrupts off, by plain stores (no
 *                          atomic, no lock prefix); no other CPU ever writes it. A CPU that
 *                          needs another one's per-CPU data changed sends it a kick:
 *     iovx_pcpu_this_cpu()      the CPU the caller runs on; only with interrupts off
 *     iovx_pcpu_wait_ok()       whether the caller may wait for a kick's callback to run
 *                               on another CPU: IOVX_PCPU_WAIT_NONE with interrupts off (that
 *                               CPU may be waiting for this one), IOVX_PCPU_WAIT_BOUNDED when
 *                               atomic with interrupts on (it holds no CPU, but may hold a
 *                               lock that CPU spins on with interrupts off: give up after a
 *                               bound), IOVX_PCPU_WAIT_ANY when it could be preempted (it
 *                               holds nothing another CPU can spin on with interrupts off)
 *     iovx_pcpu_online(cpu)     the CPU is online now (may change at once; a hint)
 *     struct iovx_pcpu_dead, iovx_pcpu_dead_add(d, fn, arg) -> 0 / -errno,
 *     iovx_pcpu_dead_remove(d)  fn(arg, cpu) runs in process context after 'cpu' went
 *                               offline, until removed (both may sleep)
 *     iovx_pcpu_hold_online()   tries to freeze every CPU's online state; only where
 *                               iovx_pcpu_wait_ok() says IOVX_PCPU_WAIT_ANY. True when it
 *                               holds: an offline CPU then runs nothing until released, so
 *                               the holder may change that CPU's per-CPU data itself
 *     iovx_pcpu_release_online()
 *     struct iovx_pcpu_kick, iovx_pcpu_kick_init(k, fn, arg)
 *     iovx_pcpu_kick(k, cpu)    asynchronously runs fn(arg) on that CPU in interrupt
 *                               context (interrupts off there, so it never runs inside one
 *                               of that CPU's interrupt-off sections); callable from any
 *                               context, interrupts off included. Returns 1 queued, 0 a run
 *                               of k is queued and not started yet (it will see everything
 *                               the caller wrote before), negative: the CPU is offline (no
 *                               run). One k per target CPU; k must stay valid until its run
 *                               has started fn.
 *   IOVX_HAVE_RSEQ         defined when platform_user_rseq.h provides restartable-sequence
 *                          per-CPU magazine operations (userspace x86-64)
 *   neither                per-CPU slots are claimed with an atomic exchange (any CPU may
 *                          claim any slot; TSan builds and userspace without rseq)
 *
 * RCU (kernel RCU / liburcu-bp; read sections may nest; readers never block)
 *   iovx_rcu_read_lock() iovx_rcu_read_unlock()
 *   iovx_rcu_dereference(p)         acquire load of an RCU-protected pointer
 *   iovx_rcu_assign_pointer(p, v)   release store publishing v
 *   iovx_synchronize_rcu()          waits for a grace period; may sleep; not in a read section
 *   struct iovx_rcu_head, iovx_call_rcu(head, fn)  fn(head) after a grace period
 *   iovx_rcu_barrier()              waits for all call_rcu callbacks queued so far
 *
 * Time
 *   iovx_now_ns()                   monotonic clock in nanoseconds
 *   iovx_cond_resched()             lets others run in a wait loop of a call that may sleep
 *                                   (kernel: cond_resched(); userspace: sched_yield())
 *   iovx_spin_wait(&n)              one step of a wait, in any context, for another thread's
 *                                   short critical section (n: the caller's step count,
 *                                   starting at 0). Kernel: a pause (such sections run with
 *                                   interrupts off); userspace: a pause, and every 64th step
 *                                   a yield (the other thread may have been preempted)
 *
 * Pinning (the code must outlive every object it made)
 *   iovx_pin_get() / iovx_pin_put() one per live domain, context or pool, taken when its
 *                                   create succeeds and dropped when its destroy ends
 *                                   (kernel: the module reference count, so the module
 *                                   cannot unload under a live object; userspace: nothing)
 *
 * Memory (every allocation site may be failed by the fail-Nth injector in test builds)
 *   IOVX_GFP_KERNEL (may sleep) IOVX_GFP_ATOMIC (never sleeps)
 *   iovx_zalloc(size, gfp)          zeroed; NULL on failure
 *   iovx_zalloc_aligned(size, align, gfp)  align a power of two <= 4096; zeroed
 *   iovx_free(p)                    frees either kind; NULL is fine
 *
 * Timer / poll hook (deferred work; callback runs in timer/softirq context in the kernel,
 * on a helper thread in userspace; it must not sleep)
 *   struct iovx_timer; iovx_timer_init(t, fn, arg) -> 0 / -errno
 *   iovx_timer_arm(t, delay_ns)     (re)arms; an armed timer fires once
 *   iovx_timer_cancel_sync(t)       after return fn is not running and will not run
 *   iovx_timer_destroy(t)
 *
 * Test hooks (compiled to nothing unless IOVX_TEST_HOOKS is defined)
 *   IOVX_PARK_POINT(name)           a named place where a test may stop the calling thread
 *   iovx_fail_nth_hit()             true when the fail-Nth injector fails this allocation
 */
#ifndef IOVX_PLATFORM_H
#define IOVX_PLATFORM_H

#ifdef __KERNEL__
#include "platform_kernel.h"
#else
#include "platform_user.h"
#endif

#ifdef IOVX_TEST_HOOKS
#include "test_hooks.h"
#else
#define IOVX_PARK_POINT(name) do { } while (0)
#define iovx_fail_nth_hit() false
#endif

#ifdef __KERNEL__
static inline void iovx_spin_wait(unsigned int *n)
{
	(*n)++;
	iovx_cpu_relax();
}
#else
static inline void iovx_spin_wait(unsigned int *n)
{
	if (++*n % 64)
		iovx_cpu_relax();
	else
		iovx_cond_resched();
}
#endif

#define IOVX_STAT_ADD(p, v)	((void)iovx_fetch_add_relaxed((p), (uint64_t)(v)))

static inline bool iovx_is_pow2_u64(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Smallest k with (1 << k) >= x; x >= 1. */
static inline unsigned int iovx_order_base2(uint64_t x)
{
	return x <= 1 ? 0 : (unsigned int)iovx_fls64(x - 1);
}

#endif /* IOVX_PLATFORM_H */

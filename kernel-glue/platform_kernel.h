/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * platform_kernel.h - the Linux kernel backend of the seam (see src/platform/platform.h for
 * the contract; every name listed there is defined here, nowhere else in the kernel build).
 *
 * Atomics map onto the kernel's own primitives so that LKMM reasoning and the kernel's tools
 * (KCSAN, lockdep) apply unchanged: READ_ONCE/WRITE_ONCE, smp_load_acquire/smp_store_release,
 * try_cmpxchg, xchg, and atomic_fetch_* / atomic64_fetch_* on plain integers through a cast
 * (atomic_t and atomic64_t are a bare int / s64 with the same size and alignment). Per-CPU
 * data is private to its CPU (IOVX_PCPU_PRIVATE: local_irq_save and plain stores, IPIs for
 * the rest); RCU is the kernel's; memory is kvzalloc/kvfree; the timer is a soft hrtimer, so
 * callbacks run in softirq context.
 *
 * Version differences (6.1 vs 6.12 and later) are confined to compat.h.
 */
#ifndef IOVX_PLATFORM_KERNEL_H
#define IOVX_PLATFORM_KERNEL_H

#ifndef __KERNEL__
#error "platform_kernel.h is the kernel backend; userspace uses platform_user.h"
#endif

#include <linux/types.h>
#include <linux/stddef.h>
#include <linux/limits.h>
#include <linux/errno.h>
#include <linux/compiler.h>
#include <linux/build_bug.h>
#include <linux/bitops.h>
#include <linux/bug.h>
#include <linux/atomic.h>
#include <linux/cache.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/smp.h>
#include <linux/irqflags.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/ktime.h>
#include <linux/timekeeping.h>
#include <linux/hrtimer.h>
#include <linux/string.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <asm/barrier.h>
#include <asm/processor.h>

#include "compat.h"
/* kernel-glue/stdinc/stdint.h: the <stdint.h> limits (UINT64_MAX...) portable code uses. */
#include <stdint.h>

/* ------------------------------------------------------------------ compiler */
#define iovx_likely(x)		likely(x)
#define iovx_unlikely(x)	unlikely(x)
#define IOVX_NOINLINE		noinline
#define IOVX_INLINE		static __always_inline
#define IOVX_ALIGNED(n)		__aligned(n)
#define IOVX_CACHELINE		L1_CACHE_BYTES
/* A declaration, as in userspace: usable at file scope too (BUILD_BUG_ON is a statement). */
#define IOVX_BUILD_BUG_ON(c)	_Static_assert(!(c), #c)
#define iovx_compiler_barrier()	barrier()

/*
 * Both count into iovx_kernel_warnings / iovx_kernel_asserts (platform_kernel.c) so the
 * self-test fails when the portable code complained, even though WARN_ON_ONCE logs only once.
 */
void iovx_kernel_warned(void);
#define IOVX_WARN_ON(c) ({						\
	bool iovx_w_ = !!(c);						\
	if (unlikely(iovx_w_))						\
		iovx_kernel_warned();					\
	WARN_ON_ONCE(iovx_w_);						\
})

#ifdef IOVX_DEBUG
void iovx_kernel_assert_fail(const char *file, int line, const char *cond);
/* A WARN, not a BUG: a failed assertion must not take the machine down with it. */
#define iovx_assert(c) do {						\
	if (unlikely(!(c)))						\
		iovx_kernel_assert_fail(__FILE__, __LINE__, #c);	\
} while (0)
#else
#define iovx_assert(c) do { (void)sizeof(c); } while (0)
#endif

static __always_inline unsigned int iovx_clz64(u64 x)
{
	return (unsigned int)__builtin_clzll(x);
}

static __always_inline unsigned int iovx_ctz64(u64 x)
{
	return (unsigned int)__builtin_ctzll(x);
}

static __always_inline unsigned int iovx_fls64(u64 x)
{
	return (unsigned int)fls64(x);
}

/* ------------------------------------------------------------------ atomics */
#define IOVX_ATOMIC_SIZE_CHECK(p)					\
	compiletime_assert(sizeof(*(p)) == 4 || sizeof(*(p)) == 8,	\
			   "iovx atomics apply to 32- and 64-bit objects only")

#define iovx_load_relaxed(p)		READ_ONCE(*(p))
#define iovx_load_acquire(p)		smp_load_acquire(p)
#define iovx_store_relaxed(p, v)	WRITE_ONCE(*(p), (v))
#define iovx_store_release(p, v)	smp_store_release((p), (v))

/* try_cmpxchg writes the current value to *oldp on failure, as the contract requires. */
#define iovx_cmpxchg_acq_rel(p, oldp, v) ({				\
	IOVX_ATOMIC_SIZE_CHECK(p);					\
	try_cmpxchg((p), (oldp), (v));					\
})
#define iovx_cmpxchg_relaxed(p, oldp, v) ({				\
	IOVX_ATOMIC_SIZE_CHECK(p);					\
	try_cmpxchg_relaxed((p), (oldp), (v));				\
})
#define iovx_xchg_acq_rel(p, v) ({					\
	IOVX_ATOMIC_SIZE_CHECK(p);					\
	xchg((p), (v));							\
})

/*
 * fetch-ops on plain integers: dispatch on size to atomic_t / atomic64_t, which the kernel
 * defines as a lone int / s64 (same size, same alignment), so the cast is layout-exact. The
 * arithmetic is two's complement in both widths, so signedness of *p does not matter.
 */
#define IOVX_FETCH_OP(op, p, v) ({					\
	__unqual_scalar_typeof(*(p)) iovx_r_;				\
	IOVX_ATOMIC_SIZE_CHECK(p);					\
	if (sizeof(*(p)) == 4)						\
		iovx_r_ = (__unqual_scalar_typeof(*(p)))(u32)		\
			atomic_##op((int)(v), (atomic_t *)(p));		\
	else								\
		iovx_r_ = (__unqual_scalar_typeof(*(p)))(u64)		\
			atomic64_##op((s64)(v), (atomic64_t *)(p));	\
	iovx_r_;							\
})

#define iovx_fetch_add_relaxed(p, v)	IOVX_FETCH_OP(fetch_add_relaxed, p, v)
#define iovx_fetch_add_acq_rel(p, v)	IOVX_FETCH_OP(fetch_add, p, v)
#define iovx_fetch_or_acq_rel(p, v)	IOVX_FETCH_OP(fetch_or, p, v)
#define iovx_fetch_and_acq_rel(p, v)	IOVX_FETCH_OP(fetch_and, p, v)

/*
 * A C11 acquire fence orders earlier loads before later loads AND stores; a release fence
 * orders earlier loads and stores before later stores. The LKMM gives load->store order only
 * through smp_mb(). On x86 (TSO) the hardware only ever reorders store->load, so smp_rmb()
 * and smp_wmb() (compiler barriers there) are exact; elsewhere pay for smp_mb().
 */
#ifdef CONFIG_X86
#define iovx_fence_acquire()		smp_rmb()
#define iovx_fence_release()		smp_wmb()
#else
#define iovx_fence_acquire()		smp_mb()
#define iovx_fence_release()		smp_mb()
#endif
#define iovx_fence_seq_cst()		smp_mb()
#define iovx_cpu_relax()		cpu_relax()

/* ------------------------------------------------------------------ per-CPU */
static __always_inline unsigned int iovx_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

/* raw_: the hint may be stale at once by contract, so no preemption check is wanted. */
static __always_inline unsigned int iovx_cpu_hint(void)
{
	return raw_smp_processor_id();
}

typedef unsigned long iovx_irqflags_t;
#define iovx_local_irq_save(f)		local_irq_save(f)
#define iovx_local_irq_restore(f)	local_irq_restore(f)

/*
 * The kernel's per-CPU scheme, SLUB's: a CPU changes its own per-CPU data with interrupts
 * off and plain stores, and asks other CPUs to change theirs with an IPI (as flush_all and
 * on_each_cpu do) instead of writing it. The kick is smp_call_function_single_async: legal
 * with interrupts off, never waits; its csd is unlocked before the callback runs, so a kick
 * refused with -EBUSY is covered by the pending run, which has not started yet.
 */
#define IOVX_PCPU_PRIVATE 1

static __always_inline unsigned int iovx_pcpu_this_cpu(void)
{
	return raw_smp_processor_id();	/* interrupts are off: no migration */
}

#define IOVX_PCPU_WAIT_NONE	0
#define IOVX_PCPU_WAIT_BOUNDED	1
#define IOVX_PCPU_WAIT_ANY	2

/* preemptible(): preempt_count 0 and interrupts on (Debian: CONFIG_PREEMPT_COUNT=y) */
static __always_inline int iovx_pcpu_wait_ok(void)
{
	if (irqs_disabled())
		return IOVX_PCPU_WAIT_NONE;
	return preemptible() ? IOVX_PCPU_WAIT_ANY : IOVX_PCPU_WAIT_BOUNDED;
}

static __always_inline bool iovx_pcpu_online(unsigned int cpu)
{
	return cpu_online(cpu);
}

/*
 * The hotplug read lock, tried: a caller inside CPU hotplug (a cpuhp callback that maps
 * DMA) already holds the write side, and must not block on the read side.
 */
static inline bool iovx_pcpu_hold_online(void)
{
	return cpus_read_trylock();
}

static inline void iovx_pcpu_release_online(void)
{
	cpus_read_unlock();
}

/*
 * CPU hotplug: fn(arg, cpu) runs in process context on a control CPU after 'cpu' went
 * offline (a multi-instance dynamic state in the PREPARE section, as drivers/iommu/iova.c's
 * CPUHP_IOMMU_IOVA_DEAD); add and remove may sleep.
 */
struct iovx_pcpu_dead {
	struct hlist_node node;
	void (*fn)(void *arg, unsigned int cpu);
	void *arg;
	bool added;
};

int iovx_pcpu_dead_add(struct iovx_pcpu_dead *d, void (*fn)(void *arg, unsigned int cpu),
		       void *arg);
void iovx_pcpu_dead_remove(struct iovx_pcpu_dead *d);
/* module exit: the dynamic state goes away */
void iovx_pcpu_dead_exit(void);

struct iovx_pcpu_kick {
	call_single_data_t csd;
};

static inline void iovx_pcpu_kick_init(struct iovx_pcpu_kick *k, void (*fn)(void *arg),
				       void *arg)
{
	INIT_CSD(&k->csd, fn, arg);
}

static inline int iovx_pcpu_kick(struct iovx_pcpu_kick *k, unsigned int cpu)
{
	int ret = smp_call_function_single_async((int)cpu, &k->csd);

	return ret == -EBUSY ? 0 : ret ? ret : 1;
}

/* ------------------------------------------------------------------ RCU */
/*
 * struct iovx_rcu_head IS struct rcu_head (token substitution), so iovx_call_rcu passes the
 * caller's callback to call_rcu with no cast of the function pointer (kCFI-safe) and no
 * trampoline. Portable code must not use iovx_rcu_head as any other identifier.
 */
#define iovx_rcu_head			rcu_head
#define iovx_rcu_read_lock()		rcu_read_lock()
#define iovx_rcu_read_unlock()		rcu_read_unlock()
/*
 * The contract promises an acquire load (stronger than rcu_dereference's dependency order),
 * so portable code may rely on it for fields not reached through the pointer. Same cost as
 * rcu_dereference on x86.
 */
#define iovx_rcu_dereference(p)		smp_load_acquire(&(p))
#define iovx_rcu_assign_pointer(p, v)	rcu_assign_pointer(p, v)
#define iovx_synchronize_rcu()		synchronize_rcu()
#define iovx_call_rcu(head, fn)		iovx_compat_call_rcu((head), (fn))
#define iovx_rcu_barrier()		rcu_barrier()

/* ------------------------------------------------------------------ time */
#define iovx_cond_resched()		cond_resched()

static __always_inline u64 iovx_now_ns(void)
{
	return ktime_get_ns();
}

/* ------------------------------------------------------------------ memory */
/*
 * The shim's gfp argument is an unsigned int in both backends; it carries the kernel's gfp
 * bits unchanged.
 */
#define IOVX_GFP_KERNEL			((__force unsigned int)GFP_KERNEL)
#define IOVX_GFP_ATOMIC			((__force unsigned int)GFP_ATOMIC)

/*
 * Out of line in platform_kernel.c (they consult the fail-Nth injector, declared after this
 * header). iovx_zalloc uses kvzalloc: large metadata (bitmaps of a big aperture) may come
 * from vmalloc when GFP_KERNEL allows it. iovx_zalloc_aligned relies on kmalloc's natural
 * alignment of power-of-two sizes (and vmalloc's page alignment): it rounds the size up to a
 * power of two >= align, so at most 2x memory for odd sizes. iovx_free is kvfree and takes
 * both kinds. Freeing a vmalloc'ed block (only blocks > PAGE_SIZE allocated with
 * IOVX_GFP_KERNEL can be one) may sleep unless called from interrupt context.
 */
void *iovx_zalloc(size_t size, unsigned int gfp);
void *iovx_zalloc_aligned(size_t size, size_t align, unsigned int gfp);
void iovx_free(void *p);

static __always_inline void iovx_memcpy(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

static __always_inline void iovx_memset(void *dst, int c, size_t n)
{
	memset(dst, c, n);
}

/* ------------------------------------------------------------------ pinning */
/*
 * Every live domain, invalidation context and bounce pool holds a reference on iovx.ko
 * (platform_kernel.c), so the module cannot be unloaded under one: rmmod gets -EBUSY
 * until the last is destroyed.
 */
void iovx_pin_get(void);
void iovx_pin_put(void);

/*
 * Addresses (src/dma/bounce.c). iovx_virt_to_phys: the physical address of memory from
 * iovx_zalloc*, kmalloc'd (direct map) or vmalloc'd (each page on its own: callers map
 * page by page where the memory may be discontiguous). iovx_phys_to_virt: the CPU address
 * of a caller's buffer, given as the physical address of RAM (the DMA API's phys: on the
 * direct map, as swiotlb copies it; highmem does not exist on 64-bit).
 */
u64 iovx_kernel_virt_to_phys(const void *p);
#define iovx_virt_to_phys(p)		iovx_kernel_virt_to_phys(p)
#define iovx_phys_to_virt(pa)		phys_to_virt((phys_addr_t)(pa))

/* ------------------------------------------------------------------ timer */
/*
 * A soft hrtimer: the callback runs in softirq context (HRTIMER_SOFTIRQ), never in hard irq,
 * and hrtimer_cancel() waits for a running callback and cancels a re-arm it made.
 */
struct iovx_timer {
	struct hrtimer hrt;
	void (*fn)(void *arg);
	void *arg;
};

int iovx_timer_init(struct iovx_timer *t, void (*fn)(void *arg), void *arg);

static inline void iovx_timer_arm(struct iovx_timer *t, u64 delay_ns)
{
	hrtimer_start(&t->hrt, ns_to_ktime(delay_ns), HRTIMER_MODE_REL_SOFT);
}

static inline void iovx_timer_cancel_sync(struct iovx_timer *t)
{
	hrtimer_cancel(&t->hrt);
}

static inline void iovx_timer_destroy(struct iovx_timer *t)
{
	hrtimer_cancel(&t->hrt);
}

#endif /* IOVX_PLATFORM_KERNEL_H */

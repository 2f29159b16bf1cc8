// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * lx_iova.c - Linux's drivers/iommu/iova.c (extracted into the build directory at build
 * time) compiled in this translation unit against linux_compat.h, plus the small C API of
 * lx_iova.h and the compat layer's out-of-line helpers.
 *
 * The wrappers live in the same unit as alloc_iova_fast()/free_iova_fast() so the compiler
 * may fold the wrapper into the kernel function: the benchmark then pays one call per
 * operation on each side, as iovx_iova_alloc() costs one call into the library.
 */
#include "lx_status.h"
#include "lx_iova.h"

#if IOVX_LX_AVAILABLE

#include "drivers/iommu/iova.c"

struct iovx_lx_domain {
	struct iova_domain iovad;
};

unsigned int iovx_lx_nr_cpu_ids;
static pthread_once_t iovx_lx_once = PTHREAD_ONCE_INIT;
static int iovx_lx_rseq_ok;

static void iovx_lx_init_once(void)
{
	int conf = get_nprocs_conf(), onln = get_nprocs();
	int cpu = __atomic_load_n((int *)((char *)__builtin_thread_pointer() + __rseq_offset + 4),
				  __ATOMIC_RELAXED);

	iovx_lx_nr_cpu_ids = (unsigned int)(conf > onln ? conf : onln);
	if (iovx_lx_nr_cpu_ids == 0)
		iovx_lx_nr_cpu_ids = 1;
	/* as libiovx: IOVX_CPU_SLOTS sizes the per-CPU arrays for a bigger machine */
	if (getenv("IOVX_CPU_SLOTS")) {
		unsigned long v = strtoul(getenv("IOVX_CPU_SLOTS"), NULL, 10);

		if (v > iovx_lx_nr_cpu_ids && v <= 65536)
			iovx_lx_nr_cpu_ids = (unsigned int)v;
	}
	iovx_lx_rseq_ok = cpu >= 0;
}

unsigned int iovx_lx_cpu_slow(void)
{
	int cpu;

	pthread_once(&iovx_lx_once, iovx_lx_init_once);
	cpu = sched_getcpu();
	if (cpu < 0)
		cpu = 0;
	return (unsigned int)cpu % iovx_lx_nr_cpu_ids;
}

/* preempt_count: the kernel keeps it per CPU (%gs); a thread-local counter here */
static __thread int iovx_lx_preempt_count;

noinline unsigned long iovx_lx_spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;

	__asm__ __volatile__("pushfq\n\tpopq %0" : "=r"(flags) : : "memory");	/* save_fl */
	iovx_lx_preempt_count++;
	__asm__ __volatile__("" ::: "memory");
	spin_lock(lock);
	return flags;
}

noinline void iovx_lx_spin_unlock_irqrestore(spinlock_t *lock,
					      unsigned long flags)
{
	spin_unlock(lock);
	__asm__ __volatile__("" : : "r"(flags) : "memory");
	iovx_lx_preempt_count--;
}

void iovx_lx_spin_lock_slow(spinlock_t *lock)
{
	unsigned int spins = 0;

	for (;;) {
		int unlocked = 0;

		while (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED)) {
			/*
			 * The holder may have been preempted, which the kernel's irqsave
			 * rules out: after a bounded spin, give it the CPU.
			 */
			if (++spins < 128) {
				__builtin_ia32_pause();
			} else {
				sched_yield();
				spins = 0;
			}
		}
		if (__atomic_compare_exchange_n(&lock->locked, &unlocked, 1, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
	}
}

void *iovx_lx_alloc_percpu(size_t size)
{
	size_t stride = IOVX_LX_PCPU_STRIDE(size);
	void *p;

	pthread_once(&iovx_lx_once, iovx_lx_init_once);
	p = aligned_alloc(128, stride * iovx_lx_nr_cpu_ids);
	if (p)
		memset(p, 0, stride * iovx_lx_nr_cpu_ids);
	return p;
}

void iovx_lx_warn(const char *file, int line)
{
	fprintf(stderr, "linux-compat: WARN_ON at %s:%d\n", file, line);
}

void iovx_lx_printk(const char *fmt, ...)
{
	/* the kernel's own format extensions (%pe) are not printf's: print the format only */
	fprintf(stderr, "linux-compat: %s", fmt);
}

int iovx_lx_available(void)
{
	return 1;
}

const char *iovx_lx_source(void)
{
	return IOVX_LX_SOURCE;
}

unsigned int iovx_lx_nr_cpus(void)
{
	pthread_once(&iovx_lx_once, iovx_lx_init_once);
	return iovx_lx_nr_cpu_ids;
}

const char *iovx_lx_cpu_source(void)
{
	pthread_once(&iovx_lx_once, iovx_lx_init_once);
	return iovx_lx_rseq_ok ? "rseq cpu_id" : "sched_getcpu()";
}

int iovx_lx_domain_create(unsigned long granule, unsigned long start_pfn,
			  struct iovx_lx_domain **out)
{
	struct iovx_lx_domain *dom;
	int ret;

	if (!out || granule > PAGE_SIZE || !is_power_of_2(granule))
		return -EINVAL;
	pthread_once(&iovx_lx_once, iovx_lx_init_once);
	dom = calloc(1, sizeof(*dom));
	if (!dom)
		return -ENOMEM;
	ret = iova_cache_get();
	if (ret) {
		free(dom);
		return ret;
	}
	init_iova_domain(&dom->iovad, granule, start_pfn);
	ret = iova_domain_init_rcaches(&dom->iovad);
	if (ret) {
		put_iova_domain(&dom->iovad);
		iova_cache_put();
		free(dom);
		return ret;
	}
	*out = dom;
	return 0;
}

void iovx_lx_domain_destroy(struct iovx_lx_domain *dom)
{
	if (!dom)
		return;
	put_iova_domain(&dom->iovad);
	iova_cache_put();
	free(dom);
}

uint64_t iovx_lx_alloc(struct iovx_lx_domain *dom, uint64_t size, uint64_t limit_pfn)
{
	return alloc_iova_fast(&dom->iovad, size, limit_pfn - 1, true);
}

void iovx_lx_free(struct iovx_lx_domain *dom, uint64_t pfn, uint64_t size)
{
	free_iova_fast(&dom->iovad, pfn, size);
}

int iovx_lx_reserve(struct iovx_lx_domain *dom, uint64_t lo, uint64_t hi)
{
	return reserve_iova(&dom->iovad, lo, hi - 1) ? 0 : -ENOMEM;
}

#else /* !IOVX_LX_AVAILABLE */

#include <errno.h>
#include <stddef.h>

int iovx_lx_available(void)
{
	return 0;
}

const char *iovx_lx_source(void)
{
	return "";
}

unsigned int iovx_lx_nr_cpus(void)
{
	return 0;
}

const char *iovx_lx_cpu_source(void)
{
	return "";
}

int iovx_lx_domain_create(unsigned long granule, unsigned long start_pfn,
			  struct iovx_lx_domain **out)
{
	return -ENOSYS;
}

void iovx_lx_domain_destroy(struct iovx_lx_domain *dom)
{
}

int iovx_lx_reserve(struct iovx_lx_domain *dom, uint64_t lo, uint64_t hi)
{
	return -ENOSYS;
}

uint64_t iovx_lx_alloc(struct iovx_lx_domain *dom, uint64_t size, uint64_t limit_pfn)
{
	return 0;
}

void iovx_lx_free(struct iovx_lx_domain *dom, uint64_t pfn, uint64_t size)
{
}

#endif /* IOVX_LX_AVAILABLE */

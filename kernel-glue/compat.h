/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * compat.h - every kernel-version difference the kernel glue cares about, and nothing else.
 * Supported and tested: Debian's 6.1 and 6.12 series. Each block says what changed when.
 *
 * Checked and found identical between 6.1.0-56 and 6.12.117 (so no wrapper): the IOVA API
 * (init_iova_domain / iova_domain_init_rcaches / alloc_iova_fast / free_iova_fast /
 * put_iova_domain / iova_cache_get / iova_cache_put, all built in and exported GPL in both
 * Debian configs), kthread_create + kthread_bind, hrtimer_init, get_random_u32_below.
 */
#ifndef IOVX_COMPAT_H
#define IOVX_COMPAT_H

#include <linux/version.h>
#include <linux/hrtimer.h>
#include <linux/rcupdate.h>
#include <linux/err.h>
#include <linux/gfp.h>
#include <linux/iommu.h>

/*
 * hrtimer_setup() (callback given at init) arrived in 6.13; hrtimer_init() followed by a
 * store to ->function is the only way on 6.1 and 6.12 and was removed in 6.15.
 */
static inline void iovx_compat_hrtimer_setup(struct hrtimer *t,
					     enum hrtimer_restart (*fn)(struct hrtimer *),
					     clockid_t clock, enum hrtimer_mode mode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	hrtimer_setup(t, fn, clock, mode);
#else
	hrtimer_init(t, clock, mode);
	t->function = fn;
#endif
}

/*
 * Lazy RCU (CONFIG_RCU_LAZY, 6.2+; on in Debian's 6.12, absent in 6.1) may hold call_rcu()
 * callbacks back for up to ~10 s to batch them. That is what deferred frees want, so iovx
 * keeps plain call_rcu(); rcu_barrier() flushes lazy callbacks too. The self-test's timing
 * of callbacks must use rcu_barrier(), never a fixed sleep. call_rcu_hurry() exists from
 * 6.2 should a caller ever need the old latency.
 */
#define iovx_compat_call_rcu(head, fn)	call_rcu((head), (fn))

/*
 * Before the rcache split (v5.18) init_iova_domain() set up the per-CPU rcaches itself and
 * iova_domain_init_rcaches() did not exist. Older kernels are untested.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 18, 0)
#define iovx_compat_iova_init_rcaches(iovad)	({ (void)(iovad); 0; })
#else
#define iovx_compat_iova_init_rcaches(iovad)	iova_domain_init_rcaches(iovad)
#endif

/*
 * iommu_map() took no gfp_t before 6.3 (v6.3: "iommu: Add a gfp parameter to iommu_map()"):
 * GFP_KERNEL was implied and iommu_map_atomic() (removed in 6.3) was the atomic form.
 */
static inline int iovx_compat_iommu_map(struct iommu_domain *d, unsigned long iova,
					phys_addr_t pa, size_t size, int prot, gfp_t gfp)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	return iommu_map(d, iova, pa, size, prot, gfp);
#else
	if (gfpflags_allow_blocking(gfp))
		return iommu_map(d, iova, pa, size, prot);
	return iommu_map_atomic(d, iova, pa, size, prot);
#endif
}

/*
 * A paging domain for a device: iommu_paging_domain_alloc() (6.11+, ERR_PTR on failure);
 * before, iommu_domain_alloc(bus) (NULL on failure; removed in 6.13). Returns an ERR_PTR.
 */
static inline struct iommu_domain *iovx_compat_paging_domain_alloc(struct device *dev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
	return iommu_paging_domain_alloc(dev);
#else
	struct iommu_domain *d = iommu_domain_alloc(dev->bus);

	return d ? d : ERR_PTR(-ENOMEM);
#endif
}

#endif /* IOVX_COMPAT_H */

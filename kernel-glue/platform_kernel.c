// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * platform_kernel.c - the out-of-line part of the kernel backend: memory (every site passes
 * the fail-Nth injector in test builds), the timer trampoline, and the counters behind
 * IOVX_WARN_ON / iovx_assert that let the self-test see a complaint from the portable code.
 */
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/io.h>
#include <linux/vmalloc.h>
#include <linux/slab.h>
#include <linux/cpuhotplug.h>
#include <linux/mutex.h>

#include "platform.h"
#include "kglue.h"

atomic_t iovx_kernel_warnings = ATOMIC_INIT(0);
atomic_t iovx_kernel_asserts = ATOMIC_INIT(0);

void iovx_kernel_warned(void)
{
	atomic_inc(&iovx_kernel_warnings);
}

#ifdef IOVX_DEBUG
void iovx_kernel_assert_fail(const char *file, int line, const char *cond)
{
	atomic_inc(&iovx_kernel_asserts);
	pr_err("iovx: assertion failed at %s:%d: %s\n", file, line, cond);
	WARN_ON_ONCE(1);
}
#endif

void *iovx_zalloc(size_t size, unsigned int gfp)
{
	if (iovx_fail_nth_hit())
		return NULL;
	return kvzalloc(size ? size : 1, (__force gfp_t)gfp);
}

void *iovx_zalloc_aligned(size_t size, size_t align, unsigned int gfp)
{
	if (WARN_ON_ONCE(!is_power_of_2(align) || align > PAGE_SIZE))
		return NULL;
	if (iovx_fail_nth_hit())
		return NULL;
	/*
	 * kmalloc aligns power-of-two sizes naturally (guaranteed since v5.4) and vmalloc to a
	 * page, so a power-of-two size >= align is aligned whichever kvzalloc picks.
	 */
	if (size < align)
		size = align;
	if (size > KMALLOC_MAX_SIZE)
		size = PAGE_ALIGN(size);	/* vmalloc only: page-aligned anyway */
	else if (!is_power_of_2(size))
		size = roundup_pow_of_two(size);
	return kvzalloc(size, (__force gfp_t)gfp);
}

void iovx_free(void *p)
{
	kvfree(p);
}

u64 iovx_kernel_virt_to_phys(const void *p)
{
	if (is_vmalloc_addr(p))
		return page_to_phys(vmalloc_to_page(p)) + offset_in_page(p);
	return virt_to_phys((void *)p);
}

void iovx_pin_get(void)
{
	__module_get(THIS_MODULE);
}

void iovx_pin_put(void)
{
	module_put(THIS_MODULE);
}

static enum hrtimer_restart iovx_timer_tramp(struct hrtimer *hrt)
{
	struct iovx_timer *t = container_of(hrt, struct iovx_timer, hrt);

	t->fn(t->arg);
	return HRTIMER_NORESTART;
}

int iovx_timer_init(struct iovx_timer *t, void (*fn)(void *arg), void *arg)
{
	if (!t || !fn)
		return -EINVAL;
	t->fn = fn;
	t->arg = arg;
	iovx_compat_hrtimer_setup(&t->hrt, iovx_timer_tramp, CLOCK_MONOTONIC,
				  HRTIMER_MODE_REL_SOFT);
	return 0;
}

/* ------------------------------------------------------------------ CPU hotplug */

static DEFINE_MUTEX(iovx_dead_lock);
static int iovx_dead_state = -1;

static int iovx_dead_cb(unsigned int cpu, struct hlist_node *node)
{
	struct iovx_pcpu_dead *d = hlist_entry(node, struct iovx_pcpu_dead, node);

	d->fn(d->arg, cpu);
	return 0;
}

int iovx_pcpu_dead_add(struct iovx_pcpu_dead *d, void (*fn)(void *arg, unsigned int cpu),
		       void *arg)
{
	int ret = 0;

	d->fn = fn;
	d->arg = arg;
	d->added = false;
	mutex_lock(&iovx_dead_lock);
	if (iovx_dead_state < 0) {
		ret = cpuhp_setup_state_multi(CPUHP_BP_PREPARE_DYN, "iovx/iova:dead", NULL,
					      iovx_dead_cb);
		if (ret >= 0) {
			iovx_dead_state = ret;
			ret = 0;
		}
	}
	mutex_unlock(&iovx_dead_lock);
	if (ret)
		return ret;
	ret = cpuhp_state_add_instance_nocalls(iovx_dead_state, &d->node);
	d->added = !ret;
	return ret;
}

void iovx_pcpu_dead_remove(struct iovx_pcpu_dead *d)
{
	if (d->added)
		cpuhp_state_remove_instance_nocalls(iovx_dead_state, &d->node);
	d->added = false;
}

void iovx_pcpu_dead_exit(void)
{
	if (iovx_dead_state >= 0)
		cpuhp_remove_multi_state(iovx_dead_state);
	iovx_dead_state = -1;
}

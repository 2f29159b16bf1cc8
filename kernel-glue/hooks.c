// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * hooks.c - the kernel side of src/platform/test_hooks.h (test builds only).
 *
 * fail-Nth is global in the kernel (there is no "arming thread" across contexts): the n-th
 * shim allocation made anywhere after iovx_fail_nth_arm(n) fails, exactly once even when
 * many CPUs allocate at the same time, because the atomic increment hands out each count
 * once. Counting stops when the injector fires or is disarmed.
 *
 * Ordering: arm() resets the count before publishing the target (release, E-H1), so a
 * concurrent hit() that sees the new target (acquire, E-H1) counts from zero.
 */
#include <linux/atomic.h>
#include <linux/compiler.h>

#include "platform.h"

#ifdef IOVX_TEST_HOOKS
static unsigned long fail_target;	/* 0: disarmed */
static atomic_long_t fail_seen = ATOMIC_LONG_INIT(0);
static iovx_park_hook_t park_hook;

void iovx_fail_nth_arm(unsigned long n)
{
	WRITE_ONCE(fail_target, 0);
	atomic_long_set(&fail_seen, 0);
	smp_store_release(&fail_target, n);	/* E-H1: pairs with the acquire in hit() */
}

void iovx_fail_nth_disarm(void)
{
	WRITE_ONCE(fail_target, 0);
}

unsigned long iovx_fail_nth_seen(void)
{
	return (unsigned long)atomic_long_read(&fail_seen);
}

bool iovx_fail_nth_hit(void)
{
	unsigned long target = smp_load_acquire(&fail_target);	/* E-H1 */

	if (likely(!target))
		return false;
	if ((unsigned long)atomic_long_inc_return(&fail_seen) != target)
		return false;
	/* Only the one caller that drew the target count gets here; disarm unless re-armed. */
	cmpxchg(&fail_target, target, 0);
	return true;
}

void iovx_park_set_hook(iovx_park_hook_t hook)
{
	smp_store_release(&park_hook, hook);	/* E-H2: publish the hook's own set-up */
}

void iovx_park_point(const char *name)
{
	iovx_park_hook_t hook = smp_load_acquire(&park_hook);	/* E-H2 */

	if (hook)
		hook(name);
}
#endif

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * user_hooks.c - userspace fail-Nth injector and park points (test builds only).
 * The injector is per thread: a sweep in one test thread never fails another thread's
 * allocation, so sweeps stay deterministic under stress helpers.
 */
#include "platform.h"

#ifdef IOVX_TEST_HOOKS
static __thread unsigned long fail_target;	/* 0: disarmed */
static __thread unsigned long fail_seen;
static iovx_park_hook_t park_hook;

void iovx_fail_nth_arm(unsigned long n)
{
	fail_target = n;
	fail_seen = 0;
}

void iovx_fail_nth_disarm(void)
{
	fail_target = 0;
}

unsigned long iovx_fail_nth_seen(void)
{
	return fail_seen;
}

bool iovx_fail_nth_hit(void)
{
	if (!fail_target)
		return false;
	if (++fail_seen == fail_target) {
		fail_target = 0;
		return true;
	}
	return false;
}

void iovx_park_set_hook(iovx_park_hook_t hook)
{
	__atomic_store_n(&park_hook, hook, __ATOMIC_RELEASE);
}

void iovx_park_point(const char *name)
{
	iovx_park_hook_t hook = __atomic_load_n(&park_hook, __ATOMIC_ACQUIRE);

	if (hook)
		hook(name);
}
#endif

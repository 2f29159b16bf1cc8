/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * test_hooks.h - fault injection and park points, compiled only into test builds
 * (IOVX_TEST_HOOKS). Both backends implement these names: src/platform/user_hooks.c in
 * userspace, kernel-glue/hooks.c in the kernel.
 *
 * fail-Nth: after iovx_fail_nth_arm(n), the n-th allocation made through the shim by the
 * arming thread (userspace) or anywhere (kernel) fails, once; iovx_fail_nth_seen() tells how
 * many allocations were counted, so a sweep knows when n passed the last site.
 *
 * Park points: IOVX_PARK_POINT("name") calls the installed hook with the name; a test's hook
 * may block the calling thread there to show that the others still complete (lock-freedom).
 */
#ifndef IOVX_TEST_HOOKS_H
#define IOVX_TEST_HOOKS_H

void iovx_fail_nth_arm(unsigned long n);
void iovx_fail_nth_disarm(void);
unsigned long iovx_fail_nth_seen(void);
bool iovx_fail_nth_hit(void);

typedef void (*iovx_park_hook_t)(const char *name);
void iovx_park_set_hook(iovx_park_hook_t hook);
void iovx_park_point(const char *name);
#define IOVX_PARK_POINT(name) iovx_park_point(name)

#endif /* IOVX_TEST_HOOKS_H */

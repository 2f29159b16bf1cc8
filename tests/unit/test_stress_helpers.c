// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_stress_helpers.c - the helpers of tests/common/stress.h: thread groups (barrier start,
 * deadline, failure propagation, per-thread RNG) and the ownership stamp table, including
 * that a double claim really kills the process (that is what catches I1 in stress tests).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* First test, while the process has one thread: fork is then safe under every sanitizer. */
static void test_stamp_double_claim_aborts(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct iovx_stamp_table *t = iovx_stamp_create(100, 10);
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 2);	/* the loud message is expected: keep the log clean */
		iovx_stamp_claim(t, 102, 4, 1);
		iovx_stamp_claim(t, 105, 1, 2);	/* overlaps pfn 105: must abort */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

static void test_stamp_table(void **state)
{
	struct iovx_stamp_table *t;

	(void)state;
	assert_null(iovx_stamp_create(0, 0));
	assert_null(iovx_stamp_create(0, (1ull << 28) + 1));
	assert_null(iovx_stamp_create(UINT64_MAX - 2, 10));
	t = iovx_stamp_create(1000, 64);
	assert_non_null(t);
	iovx_stamp_set_fatal(t, false);

	assert_int_equal(iovx_stamp_owner(t, 1000), IOVX_STAMP_NO_OWNER);
	assert_int_equal(iovx_stamp_claim(t, 1000, 8, 3), 0);
	assert_int_equal(iovx_stamp_owner(t, 1007), 3);
	assert_int_equal(iovx_stamp_owner(t, 1008), IOVX_STAMP_NO_OWNER);
	assert_int_equal(iovx_stamp_generation(t, 1000), 1);
	assert_int_equal(iovx_stamp_owned(t), 8);

	/* I1 double handout, detected whoever the second claimant is. */
	assert_int_equal(iovx_stamp_claim(t, 1004, 1, 5), -EEXIST);
	assert_int_equal(iovx_stamp_claim(t, 1007, 2, 3), -EEXIST);
	assert_int_equal(iovx_stamp_violations(t), 2);
	assert_int_equal(iovx_stamp_owner(t, 1004), 3);

	/* Release by a thread that does not own it; partial and outside ranges. */
	assert_int_equal(iovx_stamp_release(t, 1000, 8, 4), -EPERM);
	assert_int_equal(iovx_stamp_release(t, 1000, 9, 3), -EPERM);	/* pfn 1008 free */
	assert_int_equal(iovx_stamp_release(t, 999, 1, 3), -ERANGE);
	assert_int_equal(iovx_stamp_claim(t, 1060, 5, 3), -ERANGE);
	assert_int_equal(iovx_stamp_claim(t, 1000, 0, 3), -ERANGE);
	assert_int_equal(iovx_stamp_claim(t, 1010, 1, IOVX_STAMP_NO_OWNER), -ERANGE);
	assert_int_equal(iovx_stamp_violations(t), 8);

	/* Release works pfn by pfn: the failed one above freed 1000..1007 before 1008. */
	assert_int_equal(iovx_stamp_owned(t), 0);
	assert_int_equal(iovx_stamp_claim(t, 1000, 64, 9), 0);
	assert_int_equal(iovx_stamp_generation(t, 1000), 2);
	assert_int_equal(iovx_stamp_generation(t, 1063), 1);
	assert_int_equal(iovx_stamp_release(t, 1000, 64, 9), 0);
	assert_int_equal(iovx_stamp_owned(t), 0);
	assert_int_equal(iovx_stamp_owner(t, 5), IOVX_STAMP_NO_OWNER);	/* outside */
	iovx_stamp_destroy(t);
	iovx_stamp_destroy(NULL);
}

/* Threads hand pfns around through the table; no claim may ever collide. */
struct claim_arg {
	struct iovx_stamp_table *t;
};

static int claim_body(struct iovx_stress_thread *th)
{
	struct claim_arg *a = th->arg;

	while (iovx_stress_continue(th)) {
		/* Each thread owns the pfns congruent to its id: claims never collide. */
		uint64_t pfn = th->id + th->nthreads * iovx_stress_below(th, 1024 / th->nthreads);

		if (iovx_stamp_claim(a->t, pfn, 1, th->id))
			return -1;
		if (iovx_stamp_release(a->t, pfn, 1, th->id))
			return -1;
	}
	return 0;
}

static void test_stamp_threads(void **state)
{
	struct iovx_stress_opts o = IOVX_STRESS_OPTS_INIT;
	struct claim_arg a = { 0 };

	(void)state;
	a.t = iovx_stamp_create(0, 1024);
	assert_non_null(a.t);
	o.name = "stamp threads";
	o.nthreads = 4;
	o.duration_ns = 100 * 1000000ull;
	o.arg = &a;
	assert_int_equal(iovx_stress_run(&o, claim_body), 0);
	assert_int_equal(iovx_stamp_violations(a.t), 0);
	assert_int_equal(iovx_stamp_owned(a.t), 0);
	iovx_stamp_destroy(a.t);
}

struct run_arg {
	uint64_t started;
	uint64_t first_rand[16];
	unsigned int ids;
};

static int count_body(struct iovx_stress_thread *th)
{
	struct run_arg *a = th->arg;

	__atomic_fetch_add(&a->started, 1, __ATOMIC_RELAXED);
	__atomic_fetch_or(&a->ids, 1u << th->id, __ATOMIC_RELAXED);
	a->first_rand[th->id] = iovx_stress_rand(th);
	while (iovx_stress_continue(th))
		if (iovx_stress_below(th, 10) >= 10)
			return -1;
	return 0;
}

static int fail_body(struct iovx_stress_thread *th)
{
	if (th->id == 1) {
		iovx_stress_fail(th, "expected failure (test of the helper)");
		return 0;
	}
	while (iovx_stress_continue(th))
		;
	return 0;
}

static void test_stress_run(void **state)
{
	struct iovx_stress_opts o = IOVX_STRESS_OPTS_INIT;
	struct run_arg a = { 0 };
	uint64_t t0;
	unsigned int i, j;

	(void)state;
	assert_true(iovx_stress_default_threads() >= 2);
	assert_true(iovx_stress_duration_ns() > 0);
	assert_true(iovx_stress_scale(0) == 1);
	assert_int_equal(iovx_stress_under_tsan(), IOVX_STRESS_UNDER_TSAN);

	o.nthreads = 8;
	o.duration_ns = 50 * 1000000ull;
	o.arg = &a;
	t0 = mono_ns();
	assert_int_equal(iovx_stress_run(&o, count_body), 0);
	assert_true(mono_ns() - t0 >= o.duration_ns);
	assert_int_equal(a.started, 8);
	assert_int_equal(a.ids, 0xff);
	for (i = 0; i < 8; i++)
		for (j = i + 1; j < 8; j++)
			assert_true(a.first_rand[i] != a.first_rand[j]);

	/* One failing thread stops the others long before a 60 s deadline. */
	o.nthreads = 3;
	o.duration_ns = 60ull * 1000000000ull;
	t0 = mono_ns();
	assert_int_not_equal(iovx_stress_run(&o, fail_body), 0);
	assert_true(mono_ns() - t0 < 30ull * 1000000000ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stamp_double_claim_aborts),
		cmocka_unit_test(test_stamp_table),
		cmocka_unit_test(test_stamp_threads),
		cmocka_unit_test(test_stress_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_bench_stats.c - iovx-bench's own arithmetic, never its timings: the log-linear
 * histogram's bucket edges (every value in its bucket, buckets contiguous, at most 1/32 of
 * their value wide), quantiles of empty, one-sample and known inputs, merging, the median
 * of a run's samples, and the JSON writer's exact output (nesting, escapes, non-finite
 * numbers, the histogram's members).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "stats.h"

static void check_value(uint64_t v)
{
	unsigned int b = iovx_bench_hist_bucket(v);

	assert_true(b < IOVX_BENCH_HIST_BUCKETS);
	assert_true(iovx_bench_hist_lo(b) <= v);
	assert_true(v <= iovx_bench_hist_hi(b));
}

static void test_bucket_edges(void **state)
{
	uint64_t v, x = 0x9e3779b97f4a7c15ull;
	unsigned int b, i;

	(void)state;
	for (v = 0; v < 100000; v++)
		check_value(v);
	for (i = 0; i < 64; i++) {		/* around every power of two */
		uint64_t p = 1ull << i;

		check_value(p);
		check_value(p - 1);
		check_value(p + 1);
	}
	check_value(UINT64_MAX);
	for (i = 0; i < 100000; i++) {		/* random values of every magnitude */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		check_value(x >> (x % 64));
	}
	assert_int_equal(iovx_bench_hist_lo(0), 0);
	assert_true(iovx_bench_hist_hi(IOVX_BENCH_HIST_BUCKETS - 1) == UINT64_MAX);
	for (b = 0; b + 1 < IOVX_BENCH_HIST_BUCKETS; b++) {
		uint64_t lo = iovx_bench_hist_lo(b), hi = iovx_bench_hist_hi(b);

		assert_true(hi >= lo);
		assert_true(hi + 1 == iovx_bench_hist_lo(b + 1));	/* contiguous */
		assert_int_equal(iovx_bench_hist_bucket(lo), b);
		assert_int_equal(iovx_bench_hist_bucket(hi), b);
		if (lo < 64)
			assert_true(hi == lo);			/* exact below 64 */
		else
			assert_true(hi - lo + 1 <= lo / IOVX_BENCH_HIST_SUB);
	}
}

static struct iovx_bench_hist *hist_new(void)
{
	struct iovx_bench_hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	iovx_bench_hist_reset(h);
	return h;
}

static void test_empty(void **state)
{
	struct iovx_bench_hist *h = hist_new();

	(void)state;
	assert_int_equal(iovx_bench_hist_quantile(h, 0), 0);
	assert_int_equal(iovx_bench_hist_quantile(h, 0.5), 0);
	assert_int_equal(iovx_bench_hist_quantile(h, 1), 0);
	assert_true(iovx_bench_hist_mean(h) == 0);
	free(h);
}

static void test_one_sample(void **state)
{
	static const double qs[] = { 0, 0.001, 0.5, 0.99, 0.999, 1 };
	static const uint64_t vs[] = { 0, 1, 31, 32, 12345, 1ull << 40, UINT64_MAX };
	unsigned int i, k;

	(void)state;
	for (k = 0; k < sizeof(vs) / sizeof(vs[0]); k++) {
		struct iovx_bench_hist *h = hist_new();

		iovx_bench_hist_add(h, vs[k]);
		assert_int_equal(h->count, 1);
		assert_true(h->min == vs[k] && h->max == vs[k]);
		for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
			assert_true(iovx_bench_hist_quantile(h, qs[i]) == vs[k]);
		free(h);
	}
}

static void test_known_quantiles(void **state)
{
	struct iovx_bench_hist *h = hist_new();
	uint64_t v, p50, p99, p999;

	(void)state;
	for (v = 1; v <= 1000; v++)
		iovx_bench_hist_add(h, v);
	assert_true(iovx_bench_hist_mean(h) == 500.5);
	p50 = iovx_bench_hist_quantile(h, 0.5);		/* the 500th smallest: 500 */
	p99 = iovx_bench_hist_quantile(h, 0.99);	/* 990 */
	p999 = iovx_bench_hist_quantile(h, 0.999);	/* 999 */
	assert_true(p50 >= 500 && p50 <= 500 + 500 / IOVX_BENCH_HIST_SUB);
	assert_true(p99 >= 990 && p99 <= 1000);
	assert_true(p999 >= 999 && p999 <= 1000);
	assert_int_equal(iovx_bench_hist_quantile(h, 0), 1);
	assert_int_equal(iovx_bench_hist_quantile(h, 1), 1000);
	/* a quantile never decreases with q */
	for (v = 1; v < 1000; v++)
		assert_true(iovx_bench_hist_quantile(h, v / 1000.0) <=
			    iovx_bench_hist_quantile(h, (v + 1) / 1000.0));
	/* exact below 64: the 10th smallest of 1..1000 is 10 */
	assert_int_equal(iovx_bench_hist_quantile(h, 0.01), 10);
	free(h);
}

static void test_merge(void **state)
{
	struct iovx_bench_hist *a = hist_new(), *b = hist_new(), *all = hist_new();
	struct iovx_bench_hist *e = hist_new();
	uint64_t v;

	(void)state;
	for (v = 5; v < 5000; v += 7) {
		iovx_bench_hist_add(v & 1 ? a : b, v * 3);
		iovx_bench_hist_add(all, v * 3);
	}
	iovx_bench_hist_merge(a, e);		/* merging nothing changes nothing */
	iovx_bench_hist_merge(e, b);		/* into an empty one: a copy */
	assert_memory_equal(e, b, sizeof(*b));
	iovx_bench_hist_merge(a, b);
	assert_memory_equal(a, all, sizeof(*a));
	free(a);
	free(b);
	free(all);
	free(e);
}

static void test_median(void **state)
{
	const double one[] = { 7.5 }, odd[] = { 3, 1, 2 }, even[] = { 4, 1, 3, 2 };

	(void)state;
	assert_true(iovx_bench_median(NULL, 0) == 0);
	assert_true(iovx_bench_median(one, 1) == 7.5);
	assert_true(iovx_bench_median(odd, 3) == 2);
	assert_true(iovx_bench_median(even, 4) == 2.5);
	assert_true(odd[0] == 3 && even[0] == 4);	/* the input is left alone */
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_json(void **state)
{
	char path[] = "/tmp/iovx-test-bench-json-XXXXXX";
	int fd = mkstemp(path);
	struct iovx_bench_json *j;
	struct iovx_bench_hist *h = hist_new();
	char *text;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	j = iovx_bench_json_open(path);
	assert_non_null(j);
	iovx_bench_json_obj_begin(j, NULL);
	iovx_bench_json_str(j, "s", "a\"b\\c\nd\te\x01");
	iovx_bench_json_num(j, "n", 1.5);
	iovx_bench_json_num(j, "nan", NAN);
	iovx_bench_json_num(j, "inf", INFINITY);
	iovx_bench_json_u64(j, "u", UINT64_MAX);
	iovx_bench_json_bool(j, "t", true);
	iovx_bench_json_null(j, "z");
	iovx_bench_json_arr_begin(j, "empty");
	iovx_bench_json_arr_end(j);
	iovx_bench_json_arr_begin(j, "a");
	iovx_bench_json_u64(j, NULL, 1);
	iovx_bench_json_obj_begin(j, NULL);
	iovx_bench_json_obj_end(j);
	iovx_bench_json_arr_end(j);
	iovx_bench_hist_add(h, 100);
	iovx_bench_hist_add(h, 3);
	iovx_bench_hist_json(j, "h", h);
	iovx_bench_json_obj_end(j);
	assert_int_equal(iovx_bench_json_close(j), 0);
	text = slurp(path);
	unlink(path);
	assert_string_equal(text,
		"{\n"
		"  \"s\": \"a\\\"b\\\\c\\nd\\te\\u0001\",\n"
		"  \"n\": 1.5,\n"
		"  \"nan\": null,\n"
		"  \"inf\": null,\n"
		"  \"u\": 18446744073709551615,\n"
		"  \"t\": true,\n"
		"  \"z\": null,\n"
		"  \"empty\": [],\n"
		"  \"a\": [\n"
		"    1,\n"
		"    {}\n"
		"  ],\n"
		"  \"h\": {\n"
		"    \"count\": 2,\n"
		"    \"mean_ns\": 51.5,\n"
		"    \"min_ns\": 3,\n"
		"    \"p50_ns\": 3,\n"
		"    \"p99_ns\": 100,\n"
		"    \"p999_ns\": 100,\n"
		"    \"max_ns\": 100,\n"
		"    \"buckets\": [\n"
		"      [\n"
		"        3,\n"
		"        3,\n"
		"        1\n"
		"      ],\n"
		"      [\n"
		"        100,\n"
		"        101,\n"
		"        1\n"
		"      ]\n"
		"    ]\n"
		"  }\n"
		"}\n");
	/* a NULL writer (no --json) is accepted everywhere and writes nothing */
	iovx_bench_json_obj_begin(NULL, "x");
	iovx_bench_json_num(NULL, "x", 1);
	iovx_bench_hist_json(NULL, "x", h);
	assert_int_equal(iovx_bench_json_close(NULL), 0);
	free(text);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_edges),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_one_sample),
		cmocka_unit_test(test_known_quantiles),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_median),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * stats.c - iovx-bench's latency histograms (see stats.h).
 */
#include "stats.h"
#include "bench.h"

#include <string.h>

uint64_t iovx_bench_hist_lo(unsigned int b)
{
	unsigned int e;

	if (b < IOVX_BENCH_HIST_SUB)
		return b;
	e = b / IOVX_BENCH_HIST_SUB + IOVX_BENCH_HIST_SUB_BITS - 1;
	return (uint64_t)(IOVX_BENCH_HIST_SUB + b % IOVX_BENCH_HIST_SUB) <<
	       (e - IOVX_BENCH_HIST_SUB_BITS);
}

uint64_t iovx_bench_hist_hi(unsigned int b)
{
	if (b + 1 >= IOVX_BENCH_HIST_BUCKETS)
		return UINT64_MAX;
	return iovx_bench_hist_lo(b + 1) - 1;
}

void iovx_bench_hist_reset(struct iovx_bench_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void iovx_bench_hist_merge(struct iovx_bench_hist *dst, const struct iovx_bench_hist *src)
{
	unsigned int i;

	if (!src->count)
		return;
	for (i = 0; i < IOVX_BENCH_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	if (!dst->count || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
}

uint64_t iovx_bench_hist_quantile(const struct iovx_bench_hist *h, double q)
{
	uint64_t want, seen = 0, v;
	unsigned int i;

	if (!h->count)
		return 0;
	if (!(q > 0))
		return h->min;
	if (q >= 1)
		return h->max;
	want = (uint64_t)(q * (double)h->count);
	if ((double)want < q * (double)h->count)
		want++;				/* ceil */
	for (i = 0; i < IOVX_BENCH_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			break;
	}
	v = i < IOVX_BENCH_HIST_BUCKETS ? iovx_bench_hist_hi(i) : h->max;
	if (v > h->max)
		v = h->max;
	if (v < h->min)
		v = h->min;
	return v;
}

double iovx_bench_hist_mean(const struct iovx_bench_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0;
}

void iovx_bench_hist_json(struct iovx_bench_json *j, const char *key,
			  const struct iovx_bench_hist *h)
{
	unsigned int i;

	if (!j)
		return;
	iovx_bench_json_obj_begin(j, key);
	iovx_bench_json_u64(j, "count", h->count);
	iovx_bench_json_num(j, "mean_ns", iovx_bench_hist_mean(h));
	iovx_bench_json_u64(j, "min_ns", h->min);
	iovx_bench_json_u64(j, "p50_ns", iovx_bench_hist_quantile(h, 0.5));
	iovx_bench_json_u64(j, "p99_ns", iovx_bench_hist_quantile(h, 0.99));
	iovx_bench_json_u64(j, "p999_ns", iovx_bench_hist_quantile(h, 0.999));
	iovx_bench_json_u64(j, "max_ns", h->max);
	iovx_bench_json_arr_begin(j, "buckets");
	for (i = 0; i < IOVX_BENCH_HIST_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		iovx_bench_json_arr_begin(j, NULL);
		iovx_bench_json_u64(j, NULL, iovx_bench_hist_lo(i));
		iovx_bench_json_u64(j, NULL, iovx_bench_hist_hi(i));
		iovx_bench_json_u64(j, NULL, h->b[i]);
		iovx_bench_json_arr_end(j);
	}
	iovx_bench_json_arr_end(j);
	iovx_bench_json_obj_end(j);
}

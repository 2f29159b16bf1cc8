/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * stats.h - latency histograms for iovx-bench: log-linear buckets (exact below 32 ns, then
 * 32 buckets per power of two, so a bucket is at most 1/32 of its value wide), quantiles,
 * the mean, and their JSON form. Single-threaded: each thread fills its own and the owner
 * merges them after the run.
 */
#ifndef IOVX_BENCH_STATS_H
#define IOVX_BENCH_STATS_H

#include <stdint.h>

#define IOVX_BENCH_HIST_SUB_BITS	5
#define IOVX_BENCH_HIST_SUB		(1u << IOVX_BENCH_HIST_SUB_BITS)
#define IOVX_BENCH_HIST_BUCKETS		((64 - IOVX_BENCH_HIST_SUB_BITS + 1) * IOVX_BENCH_HIST_SUB)

struct iovx_bench_hist {
	uint64_t count, sum, min, max;
	uint64_t b[IOVX_BENCH_HIST_BUCKETS];
};

struct iovx_bench_json;

/* The bucket v falls in, and the smallest and largest value of bucket b. */
static inline unsigned int iovx_bench_hist_bucket(uint64_t v)
{
	unsigned int e;

	if (v < IOVX_BENCH_HIST_SUB)
		return (unsigned int)v;
	e = 63 - (unsigned int)__builtin_clzll(v);	/* >= SUB_BITS */
	return (e - IOVX_BENCH_HIST_SUB_BITS + 1) * IOVX_BENCH_HIST_SUB +
	       (unsigned int)((v >> (e - IOVX_BENCH_HIST_SUB_BITS)) & (IOVX_BENCH_HIST_SUB - 1));
}

uint64_t iovx_bench_hist_lo(unsigned int b);
uint64_t iovx_bench_hist_hi(unsigned int b);

void iovx_bench_hist_reset(struct iovx_bench_hist *h);

static inline void iovx_bench_hist_add(struct iovx_bench_hist *h, uint64_t v)
{
	h->b[iovx_bench_hist_bucket(v)]++;
	if (!h->count++ || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->sum += v;
}

void iovx_bench_hist_merge(struct iovx_bench_hist *dst, const struct iovx_bench_hist *src);

/*
 * The q-quantile (0 <= q <= 1): the upper edge of the bucket holding the ceil(q * count)-th
 * smallest sample, clamped to [min, max] (so q = 0 gives min, q = 1 max, and one sample
 * gives itself at every q). 0 when empty.
 */
uint64_t iovx_bench_hist_quantile(const struct iovx_bench_hist *h, double q);

double iovx_bench_hist_mean(const struct iovx_bench_hist *h);	/* 0 when empty */

/*
 * Writes {count, mean_ns, min_ns, p50_ns, p99_ns, p999_ns, max_ns, buckets: [[lo, hi,
 * count], ...]} (the non-empty buckets, ascending) as member key of the current object.
 */
void iovx_bench_hist_json(struct iovx_bench_json *j, const char *key,
			  const struct iovx_bench_hist *h);

#endif /* IOVX_BENCH_STATS_H */

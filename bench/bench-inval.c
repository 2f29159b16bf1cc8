// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-inval.c - "iovx-bench inval": the kernel's bad case for deferred invalidation, one
 * CPU doing all the flushing while N threads unmap (issue 6, "no slowdown cliff").
 *
 * In Linux's lazy mode the 10 ms timer (fq_flush_timeout) flushes and then frees every
 * CPU's ring into the timer CPU's IOVA cache: its magazines overflow into the depot, the
 * unmapping CPUs' caches run dry, and the cost of a flush grows with what it releases.
 * Here N threads allocate one granule and queue it (a deferred unmap: iovx_iova_alloc +
 * iovx_inval_queue) as fast as they can, and ONE extra thread flushes each time K entries
 * are waiting, for K = 256 .. 32768. Two release policies, side by side:
 *
 *   local  the flusher calls iovx_inval_kick: invalidate + sync only; each unmapping thread
 *          releases its own ring's completed entries on its next queue (the iovx rule);
 *   drain  the flusher calls iovx_inval_flush: it releases every ring itself (the kernel's
 *          funnel, kept as the explicit drain).
 *
 * Reported per K: flush call time (mean, max, per entry), unmap (queue) latency (mean,
 * p99 upper bound, max), alloc latency (mean), and throughput. The IOMMU is a stub whose
 * invalidations and sync cost nothing, so the figures are the queues' and the allocator's
 * own. No cliff: per-entry flush cost and unmap p99 flat in K.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <iovx/inval.h>
#include <iovx/iommu.h>
#include <iovx/iova.h>

static int nop_map(struct iovx_iommu *i, uint64_t iova, uint64_t pa, uint64_t size,
		   unsigned int prot, unsigned int gfp)
{
	return -EOPNOTSUPP;
}

static uint64_t nop_unmap(struct iovx_iommu *i, uint64_t iova, uint64_t size,
			  struct iovx_iommu_freelist *freed)
{
	return 0;
}

static int nop_inv_range(struct iovx_iommu *i, uint64_t iova, uint64_t size)
{
	return 0;
}

static int nop_inv_all(struct iovx_iommu *i)
{
	return 0;
}

static int nop_sync(struct iovx_iommu *i)
{
	return 0;
}

static void nop_free_pages(struct iovx_iommu *i, struct iovx_iommu_freelist *l)
{
	iovx_iommu_freelist_init(l);
}

static const struct iovx_iommu_ops nop_ops = {
	.map = nop_map,
	.unmap = nop_unmap,
	.inv_range = nop_inv_range,
	.inv_all = nop_inv_all,
	.sync = nop_sync,
	.free_pages = nop_free_pages,
};

#define HBUCKETS 40

struct iw {
	pthread_t th;
	struct irun *run;
	uint64_t ops, q_ns, a_ns, q_max, fails;
	uint64_t hist[HBUCKETS];	/* log2 buckets of the queue latency (ns) */
};

struct irun {
	struct iovx_inval *ctx;
	struct iovx_iova_domain *iovad;
	int stop;
};

static unsigned int log2_bucket(uint64_t ns)
{
	unsigned int b = ns ? 64 - (unsigned int)__builtin_clzll(ns) : 0;

	return b < HBUCKETS ? b : HBUCKETS - 1;
}

static void *unmapper(void *arg)
{
	struct iw *w = arg;
	struct irun *r = w->run;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		uint64_t t0 = iovx_bench_now_ns(), t1, t2;
		int64_t pfn = iovx_iova_alloc(r->iovad, 1, IOVX_IOVA_NO_LIMIT);

		t1 = iovx_bench_now_ns();
		if (pfn < 0) {
			w->fails++;
			continue;
		}
		(void)iovx_inval_queue(r->ctx, (uint64_t)pfn, 1, NULL);
		t2 = iovx_bench_now_ns();
		w->a_ns += t1 - t0;
		w->q_ns += t2 - t1;
		if (t2 - t1 > w->q_max)
			w->q_max = t2 - t1;
		w->hist[log2_bucket(t2 - t1)]++;
		w->ops++;
	}
	return NULL;
}

struct iresult {
	uint64_t flushes, flush_ns, flush_max, entries;
	uint64_t ops, q_ns, a_ns, q_max, q_p99, fails;
	uint64_t released, remote, ring_flushes;
	double wall_s;
};

static int run_one(unsigned int nthreads, uint64_t k, bool drain, double seconds,
		   struct iresult *res)
{
	struct iovx_iommu iommu = { &nop_ops, 12, 48, 52 };
	struct iovx_inval_config ic;
	struct iovx_iova_config vc;
	struct iovx_inval_stats st;
	struct iw *w = calloc(nthreads, sizeof(*w));
	uint64_t hist[HBUCKETS] = { 0 }, t0, tend, n, acc;
	struct irun r = { 0 };
	unsigned int i, spins = 0;
	int err = -ENOMEM;

	memset(res, 0, sizeof(*res));
	if (!w)
		return err;
	iovx_iova_config_init(&vc, 1, 1ull << 30);
	err = iovx_iova_domain_create(&vc, &r.iovad);
	if (err)
		goto out_w;
	iovx_inval_config_init(&ic);
	ic.ring_order = 16;			/* the count trigger stays out of the way */
	ic.max_age_ns = IOVX_INVAL_MAX_MAX_AGE_NS;
	ic.flush_all_threshold = 0;		/* one inv_all per flush */
	ic.flags = IOVX_INVAL_F_NO_TIMER;	/* the flusher below is the only flusher */
	err = iovx_inval_create(&iommu, r.iovad, &ic, &r.ctx);
	if (err)
		goto out_dom;
	for (i = 0; i < nthreads; i++) {
		w[i].run = &r;
		if (pthread_create(&w[i].th, NULL, unmapper, &w[i])) {
			__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
			nthreads = i;
			err = -EAGAIN;
			break;
		}
	}
	t0 = iovx_bench_now_ns();
	tend = t0 + (uint64_t)(seconds * 1e9);
	while (!err && iovx_bench_now_ns() < tend) {
		uint64_t f0, f1;

		(void)iovx_inval_get_stats(r.ctx, &st);
		if (st.unflushed < k) {
			iovx_bench_relax(&spins);
			continue;
		}
		spins = 0;
		f0 = iovx_bench_now_ns();
		if (drain)
			(void)iovx_inval_flush(r.ctx);
		else if (iovx_inval_kick(r.ctx) != 1)
			continue;	/* collapsed into an unmapper's count-triggered flush */
		f1 = iovx_bench_now_ns();
		res->flushes++;
		res->entries += st.unflushed;
		res->flush_ns += f1 - f0;
		if (f1 - f0 > res->flush_max)
			res->flush_max = f1 - f0;
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < nthreads; i++) {
		pthread_join(w[i].th, NULL);
		res->ops += w[i].ops;
		res->q_ns += w[i].q_ns;
		res->a_ns += w[i].a_ns;
		res->fails += w[i].fails;
		if (w[i].q_max > res->q_max)
			res->q_max = w[i].q_max;
		for (n = 0; n < HBUCKETS; n++)
			hist[n] += w[i].hist[n];
	}
	res->wall_s = (double)(iovx_bench_now_ns() - t0) / 1e9;
	for (n = 0, acc = 0; n < HBUCKETS; n++) {
		acc += hist[n];
		if (acc * 100 >= res->ops * 99) {
			res->q_p99 = 1ull << n;		/* upper bound of the bucket */
			break;
		}
	}
	(void)iovx_inval_get_stats(r.ctx, &st);
	res->released = st.released;
	res->remote = st.released_remote;
	res->ring_flushes = st.flushes_ring;
	(void)iovx_inval_destroy(r.ctx);
out_dom:
	iovx_iova_domain_destroy(r.iovad);
out_w:
	free(w);
	return err;
}

static double div0(double a, double b)
{
	return b ? a / b : 0;
}

int iovx_bench_inval(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	static const uint64_t ks[] = { 256, 1024, 4096, 16384, 32768 };
	double secs = o->quick ? 0.05 : o->seconds;
	unsigned int ti, nt = o->nr_threads ? o->nr_threads : 1;
	int err = 0;

	printf("inval: N unmapping threads (alloc 1 granule + iovx_inval_queue), ONE thread\n"
	       "flushing whenever K entries wait; local = iovx_inval_kick (each ring released by\n"
	       "its own CPU), drain = iovx_inval_flush (the flusher releases every ring)\n\n");
	printf("%-6s %3s %6s %7s %9s %9s %8s %8s %8s %8s %9s %8s %7s\n", "policy", "N", "K",
	       "flushes", "flush_us", "fmax_us", "ns/ent", "q_ns", "q_p99", "q_max_us", "alloc_ns",
	       "Mops/s", "remote%");
	iovx_bench_json_arr_begin(j, "inval");
	for (ti = 0; ti < nt && !err; ti++) {
		unsigned int n = o->nr_threads ? o->threads[ti] : 2, ki, d;

		for (ki = 0; ki < sizeof(ks) / sizeof(ks[0]) && !err; ki++) {
			for (d = 0; d < 2 && !err; d++) {
				struct iresult r;
				const char *pol = d ? "drain" : "local";

				if (!iovx_bench_selected(o, pol))
					continue;
				err = run_one(n, ks[ki], d, secs, &r);
				if (err)
					break;
				printf("%-6s %3u %6llu %7llu %9.1f %9.1f %8.1f %8.1f %8llu %8.1f "
				       "%9.1f %8.2f %7.1f\n", pol, n, (unsigned long long)ks[ki],
				       (unsigned long long)r.flushes,
				       div0((double)r.flush_ns, (double)r.flushes) / 1e3,
				       (double)r.flush_max / 1e3,
				       div0((double)r.flush_ns, (double)r.entries),
				       div0((double)r.q_ns, (double)r.ops),
				       (unsigned long long)r.q_p99, (double)r.q_max / 1e3,
				       div0((double)r.a_ns, (double)r.ops),
				       (double)r.ops / r.wall_s / 1e6,
				       100.0 * div0((double)r.remote, (double)r.released));
				iovx_bench_json_obj_begin(j, NULL);
				iovx_bench_json_str(j, "policy", pol);
				iovx_bench_json_u64(j, "threads", n);
				iovx_bench_json_u64(j, "k", ks[ki]);
				iovx_bench_json_u64(j, "flushes", r.flushes);
				iovx_bench_json_u64(j, "ring_flushes", r.ring_flushes);
				iovx_bench_json_num(j, "flush_mean_ns",
						    div0((double)r.flush_ns, (double)r.flushes));
				iovx_bench_json_u64(j, "flush_max_ns", r.flush_max);
				iovx_bench_json_num(j, "flush_ns_per_entry",
						    div0((double)r.flush_ns, (double)r.entries));
				iovx_bench_json_num(j, "queue_mean_ns",
						    div0((double)r.q_ns, (double)r.ops));
				iovx_bench_json_u64(j, "queue_p99_ns_bound", r.q_p99);
				iovx_bench_json_u64(j, "queue_max_ns", r.q_max);
				iovx_bench_json_num(j, "alloc_mean_ns",
						    div0((double)r.a_ns, (double)r.ops));
				iovx_bench_json_u64(j, "ops", r.ops);
				iovx_bench_json_u64(j, "alloc_failures", r.fails);
				iovx_bench_json_u64(j, "released", r.released);
				iovx_bench_json_u64(j, "released_remote", r.remote);
				iovx_bench_json_obj_end(j);
			}
		}
	}
	iovx_bench_json_arr_end(j);
	if (err)
		fprintf(stderr, "iovx-bench inval: setup failed (%d)\n", err);
	return err ? 1 : 0;
}

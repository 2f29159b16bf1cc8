// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-inval.c - "iovx-bench inval": the kernel's bad case for deferred invalidation, one
 * CPU doing all the flushing while N threads unmap (the kernel's "one flusher" cliff).
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
 *
 * Case "stale" (I4, the staleness bound): N threads (--threads) each loop {allocate one
 * granule, work W ns, note t_enq[pfn] = now, iovx_inval_queue} under the DEFAULT
 * configuration (ring of 256 per CPU slot, max_age 1 ms, the timer on), no dedicated
 * flusher: every trigger is the library's own. The stub IOMMU measures staleness from the
 * device's side: inv_range notes the pfns a thread invalidated, and when that thread's sync
 * returns (after S ns) every noted pfn still unflushed gets staleness = now - t_enq (the
 * first sync after an invalidation issued after the enqueue: where the translation is
 * really gone; never an invalidate-all: flush_all_threshold is maximal). Reported, in µs,
 * from before the queue call ("pre") and from its return ("post"): p50, p99, p99.9 (pre),
 * max (log-linear histograms of every entry, 1.6% resolution, kept by the bench's stub
 * IOMMU: the library keeps only the maximum); the context's own max_stale_ns (measured
 * from publication, inside the queue call), flushes by trigger, helpers, stolen entries,
 * direct entries, and the longest interval in which no worker began a queue call
 * ("untouched": the domain had nobody to enforce the bound but the timer thread).
 * --param work_ns=W (default 2000), sync_ns=S (default 1000), max_age_ns=B (default 1 ms),
 * idle_ns=I (default 0): each worker sleeps I ns after each queue call; with I above the
 * bound nobody touches the domain while entries wait, so only the timer flushes them (the
 * case the bound does not cover when the timer thread is late).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* ------------------------------------------------------------------ case "stale" */

#define SNPFN		(1ull << 20)	/* granules of the stale case's IOVA space */
#define SSUB		64		/* log-linear histogram: sub-buckets per power of two */
#define SHB		(44 * SSUB)
#define SMAXR		4096		/* pfn runs noted per thread between syncs */

static uint64_t *s_tenq;		/* per pfn: time before the queue call, 0 when covered */
static uint64_t *s_tret;		/* per pfn: time the queue call returned, 0: not yet */
static uint64_t s_hist[SHB], s_max, s_count, s_sync_ns;
static uint64_t s_hist_post[SHB], s_max_post, s_count_post;

struct snote {
	uint64_t start[SMAXR], end[SMAXR];
	unsigned int n;
	bool overflow;			/* more runs than noted: scan all pending */
};
static __thread struct snote s_note;

static unsigned int s_bucket(uint64_t v)
{
	unsigned int e, b;

	if (v < SSUB)
		return (unsigned int)v;
	e = 63 - (unsigned int)__builtin_clzll(v);		/* >= 6 */
	b = (e - 5) * SSUB + (unsigned int)((v >> (e - 6)) & (SSUB - 1));
	return b < SHB ? b : SHB - 1;
}

static uint64_t s_bucket_hi(unsigned int b)		/* upper bound of bucket b */
{
	unsigned int e;

	if (b < SSUB)
		return b;
	e = b / SSUB + 5;
	return ((uint64_t)(SSUB + b % SSUB + 1) << (e - 6)) - 1;
}

static void s_hist_add(uint64_t *hist, uint64_t *count, uint64_t *max, uint64_t t)
{
	uint64_t m;

	__atomic_fetch_add(&hist[s_bucket(t)], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(count, 1, __ATOMIC_RELAXED);
	m = __atomic_load_n(max, __ATOMIC_RELAXED);
	while (t > m && !__atomic_compare_exchange_n(max, &m, t, false, __ATOMIC_RELAXED,
						     __ATOMIC_RELAXED))
		;
}

/*
 * pfn's translation is gone now: staleness from before its queue call ("pre"), and from the
 * call's return ("post"; 0 when the call's own flush covered it before returning).
 */
static void s_record(uint64_t pfn, uint64_t now)
{
	uint64_t t = __atomic_exchange_n(&s_tenq[pfn], 0, __ATOMIC_SEQ_CST), r;

	if (!t)
		return;
	r = __atomic_exchange_n(&s_tret[pfn], 0, __ATOMIC_SEQ_CST);
	s_hist_add(s_hist, &s_count, &s_max, now > t ? now - t : 0);
	s_hist_add(s_hist_post, &s_count_post, &s_max_post, r >= t && now > r ? now - r : 0);
}

static int s_inv_range(struct iovx_iommu *i, uint64_t iova, uint64_t size)
{
	struct snote *n = &s_note;

	if (n->n == SMAXR) {
		n->overflow = true;
		return 0;
	}
	n->start[n->n] = iova >> 12;
	n->end[n->n++] = (iova + size) >> 12;
	return 0;
}

static int s_inv_all(struct iovx_iommu *i)
{
	s_note.overflow = true;
	return 0;
}

static int s_sync(struct iovx_iommu *i)
{
	struct snote *n = &s_note;
	uint64_t t0 = iovx_bench_now_ns(), now, p;
	unsigned int k;

	while ((now = iovx_bench_now_ns()) - t0 < s_sync_ns)
		;
	if (n->overflow) {
		for (p = 0; p < SNPFN; p++)
			if (__atomic_load_n(&s_tenq[p], __ATOMIC_RELAXED))
				s_record(p, now);
	} else {
		for (k = 0; k < n->n; k++)
			for (p = n->start[k]; p < n->end[k] && p < SNPFN; p++)
				s_record(p, now);
	}
	n->n = 0;
	n->overflow = false;
	return 0;
}

static const struct iovx_iommu_ops s_ops = {
	.map = nop_map,
	.unmap = nop_unmap,
	.inv_range = s_inv_range,
	.inv_all = s_inv_all,
	.sync = s_sync,
	.free_pages = nop_free_pages,
};

struct srun {
	struct iovx_inval *ctx;
	struct iovx_iova_domain *iovad;
	uint64_t work_ns;
	uint64_t idle_ns;		/* sleep after each queue call (0: none) */
	uint64_t last_touch, max_gap;
	int stop;
};

struct sw {
	pthread_t th;
	struct srun *run;
	uint64_t ops, fails;
};

static void *s_worker(void *arg)
{
	struct sw *w = arg;
	struct srun *r = w->run;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		int64_t pfn = iovx_iova_alloc(r->iovad, 1, IOVX_IOVA_NO_LIMIT);
		uint64_t t0 = iovx_bench_now_ns(), now, last, m;

		if (pfn < 0 || (uint64_t)pfn >= SNPFN) {
			if (pfn >= 0)
				(void)iovx_iova_free(r->iovad, (uint64_t)pfn, 1);
			w->fails++;
			continue;
		}
		while ((now = iovx_bench_now_ns()) - t0 < r->work_ns)
			;
		/* the longest interval in which no worker began a queue call */
		last = __atomic_exchange_n(&r->last_touch, now, __ATOMIC_RELAXED);
		m = __atomic_load_n(&r->max_gap, __ATOMIC_RELAXED);
		while (last && now > last && now - last > m &&
		       !__atomic_compare_exchange_n(&r->max_gap, &m, now - last, false,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
		__atomic_store_n(&s_tret[pfn], 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&s_tenq[pfn], now, __ATOMIC_SEQ_CST);
		(void)iovx_inval_queue(r->ctx, (uint64_t)pfn, 1, NULL);
		/* still unflushed: note the return (a race with the sync only loses this note) */
		if (__atomic_load_n(&s_tenq[pfn], __ATOMIC_SEQ_CST) == now)
			__atomic_store_n(&s_tret[pfn], iovx_bench_now_ns(), __ATOMIC_SEQ_CST);
		w->ops++;
		if (r->idle_ns) {
			struct timespec ts = { (time_t)(r->idle_ns / 1000000000ull),
					       (long)(r->idle_ns % 1000000000ull) };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static uint64_t s_param(const struct iovx_bench_opts *o, const char *key, uint64_t def)
{
	const char *p = o->params ? strstr(o->params, key) : NULL;

	return p ? strtoull(p + strlen(key), NULL, 10) : def;
}

/* percentile p (units of 0.01%) of hist: the upper bound of its bucket */
static uint64_t s_pct_of(const uint64_t *hist, uint64_t count, uint64_t max, uint64_t p)
{
	uint64_t acc = 0, want = (count * p + 9999) / 10000;
	unsigned int b;

	for (b = 0; b < SHB; b++) {
		acc += hist[b];
		if (acc >= want && acc)
			return s_bucket_hi(b) < max ? s_bucket_hi(b) : max;
	}
	return max;
}

static uint64_t s_pct(uint64_t p)
{
	return s_pct_of(s_hist, s_count, s_max, p);
}

static uint64_t s_pct_post(uint64_t p)
{
	return s_pct_of(s_hist_post, s_count_post, s_max_post, p);
}

/* The distribution for plots: [lo_ns, hi_ns, count] of every non-empty bucket. */
static void s_hist_json(struct iovx_bench_json *j, const char *key, const uint64_t *hist)
{
	unsigned int b;

	iovx_bench_json_arr_begin(j, key);
	for (b = 0; b < SHB; b++) {
		if (!hist[b])
			continue;
		iovx_bench_json_arr_begin(j, NULL);
		iovx_bench_json_u64(j, NULL, b ? s_bucket_hi(b - 1) + 1 : 0);
		iovx_bench_json_u64(j, NULL, s_bucket_hi(b));
		iovx_bench_json_u64(j, NULL, hist[b]);
		iovx_bench_json_arr_end(j);
	}
	iovx_bench_json_arr_end(j);
}

static int run_stale(const struct iovx_bench_opts *o, struct iovx_bench_json *j, unsigned int n,
		     double secs)
{
	struct iovx_iommu iommu = { &s_ops, 12, 48, 52 };
	struct iovx_inval_config ic;
	struct iovx_iova_config vc;
	struct iovx_inval_stats st;
	struct srun r = { 0 };
	struct sw *w = calloc(n, sizeof(*w));
	uint64_t ops = 0, t0;
	unsigned int i;
	int err = -ENOMEM;

	if (!w)
		return err;
	memset(s_tenq, 0, SNPFN * sizeof(*s_tenq));
	memset(s_tret, 0, SNPFN * sizeof(*s_tret));
	memset(s_hist, 0, sizeof(s_hist));
	memset(s_hist_post, 0, sizeof(s_hist_post));
	s_max = s_count = s_max_post = s_count_post = 0;
	s_sync_ns = s_param(o, "sync_ns=", 1000);
	r.work_ns = s_param(o, "work_ns=", 2000);
	r.idle_ns = s_param(o, "idle_ns=", 0);
	iovx_iova_config_init(&vc, 1, SNPFN - 1);
	err = iovx_iova_domain_create(&vc, &r.iovad);
	if (err)
		goto out_w;
	iovx_inval_config_init(&ic);
	ic.max_age_ns = s_param(o, "max_age_ns=", IOVX_INVAL_DEFAULT_MAX_AGE_NS);
	ic.flush_all_threshold = ~0u;		/* never inv_all: staleness per range */
	err = iovx_inval_create(&iommu, r.iovad, &ic, &r.ctx);
	if (err)
		goto out_dom;
	t0 = iovx_bench_now_ns();
	for (i = 0; i < n; i++) {
		w[i].run = &r;
		if (pthread_create(&w[i].th, NULL, s_worker, &w[i])) {
			n = i;
			err = -EAGAIN;
			break;
		}
	}
	while (!err && iovx_bench_now_ns() - t0 < (uint64_t)(secs * 1e9))
		usleep(10000);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++) {
		pthread_join(w[i].th, NULL);
		ops += w[i].ops;
	}
	(void)iovx_inval_get_stats(r.ctx, &st);
	printf("%-6s %3u %8llu %6llu %5llu %5llu %6llu %6llu %7.1f %7.1f %7.1f %8.1f | %7.1f %7.1f "
	       "%8.1f | %8.1f %9.1f\n", "stale", n, (unsigned long long)ops,
	       (unsigned long long)st.flushes_ring, (unsigned long long)st.flushes_age,
	       (unsigned long long)st.flushes_late, (unsigned long long)st.stolen,
	       (unsigned long long)st.direct, s_pct(5000) / 1e3, s_pct(9900) / 1e3,
	       s_pct(9990) / 1e3, s_max / 1e3, s_pct_post(5000) / 1e3, s_pct_post(9900) / 1e3,
	       s_max_post / 1e3, st.max_stale_ns / 1e3, r.max_gap / 1e3);
	iovx_bench_json_obj_begin(j, NULL);
	iovx_bench_json_str(j, "policy", "stale");
	iovx_bench_json_u64(j, "threads", n);
	iovx_bench_json_u64(j, "ops", ops);
	iovx_bench_json_u64(j, "max_age_ns", ic.max_age_ns);
	iovx_bench_json_u64(j, "work_ns", r.work_ns);
	iovx_bench_json_u64(j, "sync_ns", s_sync_ns);
	iovx_bench_json_u64(j, "idle_ns", r.idle_ns);
	iovx_bench_json_u64(j, "flushes_ring", st.flushes_ring);
	iovx_bench_json_u64(j, "flushes_age", st.flushes_age);
	iovx_bench_json_u64(j, "flushes_late", st.flushes_late);
	iovx_bench_json_u64(j, "stolen", st.stolen);
	iovx_bench_json_u64(j, "direct", st.direct);
	iovx_bench_json_u64(j, "collapsed", st.collapsed);
	iovx_bench_json_u64(j, "stale_p50_ns", s_pct(5000));
	iovx_bench_json_u64(j, "stale_p99_ns", s_pct(9900));
	iovx_bench_json_u64(j, "stale_p999_ns", s_pct(9990));
	iovx_bench_json_u64(j, "stale_max_ns", s_max);
	iovx_bench_json_u64(j, "stale_post_p50_ns", s_pct_post(5000));
	iovx_bench_json_u64(j, "stale_post_p99_ns", s_pct_post(9900));
	iovx_bench_json_u64(j, "stale_post_p999_ns", s_pct_post(9990));
	iovx_bench_json_u64(j, "stale_post_max_ns", s_max_post);
	iovx_bench_json_u64(j, "stale_entries", s_count);
	iovx_bench_json_u64(j, "ctx_max_stale_ns", st.max_stale_ns);
	iovx_bench_json_u64(j, "untouched_max_ns", r.max_gap);
	/* the same distribution in µs, as printed */
	iovx_bench_json_obj_begin(j, "staleness_us");
	iovx_bench_json_obj_begin(j, "pre");
	iovx_bench_json_num(j, "p50", s_pct(5000) / 1e3);
	iovx_bench_json_num(j, "p99", s_pct(9900) / 1e3);
	iovx_bench_json_num(j, "p999", s_pct(9990) / 1e3);
	iovx_bench_json_num(j, "max", s_max / 1e3);
	iovx_bench_json_obj_end(j);
	iovx_bench_json_obj_begin(j, "post");
	iovx_bench_json_num(j, "p50", s_pct_post(5000) / 1e3);
	iovx_bench_json_num(j, "p99", s_pct_post(9900) / 1e3);
	iovx_bench_json_num(j, "p999", s_pct_post(9990) / 1e3);
	iovx_bench_json_num(j, "max", s_max_post / 1e3);
	iovx_bench_json_obj_end(j);
	iovx_bench_json_num(j, "ctx_max", st.max_stale_ns / 1e3);
	iovx_bench_json_obj_end(j);
	s_hist_json(j, "stale_buckets", s_hist);
	s_hist_json(j, "stale_post_buckets", s_hist_post);
	iovx_bench_json_obj_end(j);
	(void)iovx_inval_destroy(r.ctx);
out_dom:
	iovx_iova_domain_destroy(r.iovad);
out_w:
	free(w);
	return err;
}

static int bench_stale(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	static const unsigned int def[] = { 1, 2, 4, 8 };
	unsigned int ti, nt = o->nr_threads ? o->nr_threads : 4;
	double secs = o->quick ? 0.05 : (o->seconds < 1 ? 1 : o->seconds);
	int err = 0;

	s_tenq = calloc(SNPFN, sizeof(*s_tenq));
	s_tret = calloc(SNPFN, sizeof(*s_tret));
	if (!s_tenq || !s_tret) {
		free(s_tenq);
		free(s_tret);
		return -ENOMEM;
	}
	printf("\nstale: N threads {alloc, work, iovx_inval_queue%s}, default config, no flusher.\n"
	       "Staleness in us, the device's view of every entry: from before the queue call\n"
	       "(pre) or from its return (post) to the return of the first sync after an\n"
	       "invalidation of the entry; ctx = the context's max_stale_ns (from publication);\n"
	       "untouched = longest time no worker began a queue call. %ld CPUs online.\n\n",
	       s_param(o, "idle_ns=", 0) ? ", sleep idle_ns" : "", sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-6s %3s %8s %6s %5s %5s %6s %6s %7s %7s %7s %8s | %7s %7s %8s | %8s %9s\n", "case",
	       "N", "ops", "ring", "age", "late", "stolen", "direct", "p50", "p99", "p99.9", "max",
	       "p50po", "p99po", "max_post", "ctx_max", "untouched");
	for (ti = 0; ti < nt && !err; ti++)
		err = run_stale(o, j, o->nr_threads ? o->threads[ti] : def[ti], secs);
	free(s_tenq);
	free(s_tret);
	s_tenq = s_tret = NULL;
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
	if (!err && iovx_bench_selected(o, "stale"))
		err = bench_stale(o, j);
	iovx_bench_json_arr_end(j);
	if (err)
		fprintf(stderr, "iovx-bench inval: setup failed (%d)\n", err);
	return err ? 1 : 0;
}

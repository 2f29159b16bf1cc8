// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-iova-scale.c - the allocator at scale: metadata memory per domain against the CPU
 * slots a machine has and the CPUs and size classes that actually use the domain.
 *
 * Case m (memory). For each CPU-slot count S (2, 64, 256 by default) the program runs
 * itself again with IOVX_CPU_SLOTS=S, which sizes every per-CPU array of libiovx and of
 * the Linux baseline for S CPUs on this machine (libiovx then runs its caches in CAS mode
 * and takes the slot from iovx_user_force_cpu_slot()). In that child, for each pattern
 * (k CPUs, c classes), it creates N domains of a 32-bit window and, in every domain, from
 * each of k slots spread over the S, allocates and frees one range of each of the c
 * smallest classes (1, 2, 4, ... granules). It reports the heap bytes per domain that the
 * creation and the pattern cost (mallinfo2: in-use arena bytes plus mmapped bytes, the same
 * measure on both sides), and iovx's own mem_bytes counter. Linux's per-CPU caches do not
 * depend on which CPU touches them (iova_domain_init_rcaches allocates two magazines per
 * class per possible CPU up front), so its touches run on the real CPUs.
 *
 * --param n=DOMAINS (default 16),slots=S (one slot count instead of the list)
 *
 * Case v (curves): see curve_case below. --param steps=N,check=1; --threads T,...
 * Case g (big spaces): see big_case below. --param regions=N
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iovx/iova.h>

#include "bench.h"
#include "lx_iova.h"

/* libiovx's userspace backend (static library): the slot count and the simulated slot */
extern unsigned int iovx_user_nr_cpus;
void iovx_user_force_cpu_slot(int slot);

#define SCALE_END_PFN	(1ull << 20)	/* a 32-bit window of 4 KiB granules */

static unsigned long param_ul(const struct iovx_bench_opts *o, const char *key,
			      unsigned long dflt)
{
	const char *p = o->params;
	size_t kl = strlen(key);

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == '=')
			return strtoul(p + kl + 1, NULL, 10);
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return dflt;
}

static uint64_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

struct mem_figs {
	double heap;		/* heap bytes per domain */
	double counter;		/* iovx: the domain's mem_bytes */
	int err;
};

static struct mem_figs iovx_pattern(unsigned int n, unsigned int slots, unsigned int k,
				    unsigned int c)
{
	struct iovx_iova_domain **d = calloc(n, sizeof(*d));
	struct mem_figs f = { 0, 0, 0 };
	struct iovx_iova_config cfg;
	uint64_t before, sum = 0;

	if (!d) {
		f.err = -ENOMEM;
		return f;
	}
	iovx_iova_config_init(&cfg, 1, SCALE_END_PFN);
	before = heap_bytes();
	for (unsigned int i = 0; i < n && !f.err; i++) {
		f.err = iovx_iova_domain_create(&cfg, &d[i]);
		for (unsigned int t = 0; t < k && !f.err; t++) {
			iovx_user_force_cpu_slot((int)((uint64_t)t * slots / k));
			for (unsigned int cls = 0; cls < c && !f.err; cls++) {
				int64_t pfn = iovx_iova_alloc(d[i], 1ull << cls, SCALE_END_PFN);

				if (pfn < 0)
					f.err = (int)pfn;
				else
					f.err = iovx_iova_free(d[i], (uint64_t)pfn, 1ull << cls);
			}
		}
	}
	iovx_user_force_cpu_slot(-1);
	f.heap = (double)(heap_bytes() - before) / n;
	for (unsigned int i = 0; i < n; i++) {
		struct iovx_iova_stats st;

		if (d[i] && !iovx_iova_get_stats(d[i], &st))
			sum += st.mem_bytes;
		iovx_iova_domain_destroy(d[i]);
	}
	f.counter = (double)sum / n;
	free(d);
	return f;
}

static struct mem_figs lx_pattern(unsigned int n, unsigned int k, unsigned int c)
{
	struct iovx_lx_domain **d = calloc(n, sizeof(*d));
	struct mem_figs f = { 0, 0, 0 };
	uint64_t before;

	if (!d) {
		f.err = -ENOMEM;
		return f;
	}
	before = heap_bytes();
	for (unsigned int i = 0; i < n && !f.err; i++) {
		f.err = iovx_lx_domain_create(4096, 1, &d[i]);
		for (unsigned int t = 0; t < k && !f.err; t++) {
			for (unsigned int cls = 0; cls < c && !f.err; cls++) {
				uint64_t pfn = iovx_lx_alloc(d[i], 1ull << cls, SCALE_END_PFN);

				if (!pfn)
					f.err = -ENOMEM;
				else
					iovx_lx_free(d[i], pfn, 1ull << cls);
			}
		}
	}
	f.heap = (double)(heap_bytes() - before) / n;
	for (unsigned int i = 0; i < n; i++)
		iovx_lx_domain_destroy(d[i]);
	free(d);
	return f;
}

static void kib(char *buf, size_t len, double bytes)
{
	snprintf(buf, len, "%.1f", bytes / 1024.0);
}

/* One slot count, in a process whose arrays were sized for it. */
static int memory_child(const struct iovx_bench_opts *o, struct iovx_bench_json *j,
			unsigned int slots)
{
	unsigned int n = (unsigned int)param_ul(o, "n", 16);
	const unsigned int ks[] = { 1, 2, 4, 16, 0 };	/* 0: every slot */
	const unsigned int cs[] = { 1, 3, 6, 11 };
	bool lx = iovx_lx_available();
	FILE *rows = NULL;	/* the parent's pipe: one line per row, for its JSON */
	int ret = 0;

	if (n == 0)
		n = 1;
	if (iovx_user_nr_cpus != slots) {
		fprintf(stderr, "iova-scale: %u CPU slots asked, libiovx has %u\n", slots,
			iovx_user_nr_cpus);
		return -EINVAL;
	}
	if (lx)
		lx = iovx_lx_nr_cpus() == slots;
	if (param_ul(o, "fd", 0))
		rows = fdopen((int)param_ul(o, "fd", 0), "w");
	iovx_bench_json_arr_begin(j, "memory");
	for (unsigned int ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
		unsigned int k = ks[ki] ? ks[ki] : slots;

		if (k > slots || (ks[ki] && ks[ki] == slots && ki + 1 < sizeof(ks) / sizeof(ks[0])))
			continue;	/* printed as "every slot" */
		for (unsigned int ci = 0; ci < sizeof(cs) / sizeof(cs[0]); ci++) {
			unsigned int c = cs[ci];
			struct mem_figs a = iovx_pattern(n, slots, k, c);
			struct mem_figs b = { 0, 0, -ENOSYS };
			char s1[32], s2[32], s3[32];

			if (lx && c <= 6)
				b = lx_pattern(n, k, c);
			if (a.err) {
				fprintf(stderr, "iova-scale: iovx pattern failed: %d\n", a.err);
				ret = a.err;
			}
			kib(s1, sizeof(s1), a.heap);
			kib(s2, sizeof(s2), a.counter);
			if (b.err)
				snprintf(s3, sizeof(s3), "-");
			else
				kib(s3, sizeof(s3), b.heap);
			printf("  %5u %5u%s %3u %12s %12s %12s", slots, k, k == slots ? "*" : " ", c,
			       s1, s2, s3);
			if (!b.err && a.heap > 0)
				printf(" %7.2f", a.heap / b.heap);
			printf("\n");
			if (rows)
				fprintf(rows, "%u %u %u %u %.1f %.1f %.1f\n", slots, k, c, n, a.heap,
					a.counter, b.err ? -1.0 : b.heap);
			iovx_bench_json_obj_begin(j, NULL);
			iovx_bench_json_u64(j, "slots", slots);
			iovx_bench_json_u64(j, "cpus", k);
			iovx_bench_json_u64(j, "classes", c);
			iovx_bench_json_u64(j, "domains", n);
			iovx_bench_json_num(j, "iovx_heap_bytes", a.heap);
			iovx_bench_json_num(j, "iovx_mem_bytes", a.counter);
			if (b.err)
				iovx_bench_json_null(j, "linux_heap_bytes");
			else
				iovx_bench_json_num(j, "linux_heap_bytes", b.heap);
			iovx_bench_json_obj_end(j);
		}
	}
	iovx_bench_json_arr_end(j);
	if (rows)
		fclose(rows);
	fflush(stdout);
	return ret;
}

/* Runs one slot count in a child; its rows come back through a pipe into the JSON. */
static int run_child(const struct iovx_bench_opts *o, struct iovx_bench_json *j,
		     unsigned int slots)
{
	char slots_s[16], param[256], line[256];
	int status, fd[2];
	FILE *in;
	pid_t pid;

	if (pipe(fd))
		return -errno;
	snprintf(slots_s, sizeof(slots_s), "%u", slots);
	snprintf(param, sizeof(param), "child=%u,n=%lu,fd=%d", slots,
		 param_ul(o, "n", o->quick ? 2 : 16), fd[1]);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		return -errno;
	}
	if (pid == 0) {
		close(fd[0]);
		setenv("IOVX_CPU_SLOTS", slots_s, 1);
		execl("/proc/self/exe", "iovx-bench", "iova-scale", "--only", "m", "--param",
		      param, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	in = fdopen(fd[0], "r");
	while (in && fgets(line, sizeof(line), in)) {
		unsigned int s, k, c, n;
		double heap, cnt, lxh;

		if (sscanf(line, "%u %u %u %u %lf %lf %lf", &s, &k, &c, &n, &heap, &cnt, &lxh) != 7)
			continue;
		iovx_bench_json_obj_begin(j, NULL);
		iovx_bench_json_u64(j, "slots", s);
		iovx_bench_json_u64(j, "cpus", k);
		iovx_bench_json_u64(j, "classes", c);
		iovx_bench_json_u64(j, "domains", n);
		iovx_bench_json_num(j, "iovx_heap_bytes", heap);
		iovx_bench_json_num(j, "iovx_mem_bytes", cnt);
		if (lxh < 0)
			iovx_bench_json_null(j, "linux_heap_bytes");
		else
			iovx_bench_json_num(j, "linux_heap_bytes", lxh);
		iovx_bench_json_obj_end(j);
	}
	if (in)
		fclose(in);
	else
		close(fd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* ------------------------------------------------------------------ case v: curves */

/*
 * Cost and failures against occupancy and fragmentation. A region of R = min(W, 2^20)
 * granules at the top of a window of W granules (below it, [1, W - R) is reserved on both
 * sides, so the 2^36 window has the depth of a 2^36 space with a fillable part of 2^20) is
 * filled to occupancy p with sizes 1..1024 (the order uniform in 0..10, the size uniform
 * within the order) and then churned: every step frees a random live range and allocates
 * a new random size (random lifetimes). Reported: ns per step (one free + one alloc) and
 * the share of allocations that failed. The check (--param check=1) keeps a shadow bitmap
 * of what each side really occupies (iovx: whole power-of-two blocks up to 2^10 granules;
 * Linux: sizes below 32 rounded up, others exact) and, at every failure, looks for a free
 * block of the size aligned as the allocator must align it (to roundup_pow_of_two(n));
 * "unjust" counts failures for which one existed. Every point runs once per --threads
 * count T: T threads share the domain (Linux's under its own locks), each holding 1/T of
 * the target and churning its own ranges (see struct curve_point for the check with
 * threads). After the point iovx's audit must be exact with nothing live.
 */
#define CURVE_REGION_MAX	(1ull << 20)

struct curve_side {
	uint64_t (*alloc)(void *d, uint64_t n, uint64_t lim);
	void (*free)(void *d, uint64_t pfn, uint64_t n);
	uint64_t (*footprint)(uint64_t n);
};

static uint64_t pow2_up(uint64_t n)
{
	return n <= 1 ? 1 : 1ull << (64 - __builtin_clzll(n - 1));
}

static uint64_t iovx_fp(uint64_t n)
{
	return n <= (1ull << IOVX_IOVA_DEFAULT_CACHED_ORDER) ? pow2_up(n) : n;
}

static uint64_t lx_fp(uint64_t n)
{
	return n < 32 ? pow2_up(n) : n;
}

static uint64_t c_iovx_alloc(void *d, uint64_t n, uint64_t lim)
{
	int64_t v = iovx_iova_alloc(d, n, lim);

	return v > 0 ? (uint64_t)v : 0;
}

static void c_iovx_free(void *d, uint64_t pfn, uint64_t n)
{
	if (iovx_iova_free(d, pfn, n))
		abort();	/* a benchmark bug */
}

static uint64_t c_lx_alloc(void *d, uint64_t n, uint64_t lim)
{
	return iovx_lx_alloc(d, n, lim);
}

static void c_lx_free(void *d, uint64_t pfn, uint64_t n)
{
	iovx_lx_free(d, pfn, n);
}

static uint64_t curve_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t curve_size(uint64_t *s)
{
	uint64_t r = curve_rand(s), k = r % 11;

	if (!k)
		return 1;
	return (1ull << (k - 1)) + 1 + (r >> 8) % (1ull << (k - 1));
}

static void shadow_set(uint64_t *sh, uint64_t base, uint64_t pfn, uint64_t n, bool on,
		       uint64_t *overlaps)
{
	for (uint64_t i = pfn - base; i < pfn - base + n;) {
		unsigned int b = (unsigned int)(i % 64);
		uint64_t len = n - (i - (pfn - base)), m, old;

		if (len > 64 - b)
			len = 64 - b;
		m = (len == 64 ? ~0ull : ((1ull << len) - 1)) << b;
		if (on) {
			old = __atomic_fetch_or(&sh[i / 64], m, __ATOMIC_SEQ_CST);
			if (old & m)
				(*overlaps)++;	/* a granule handed out twice */
		} else {
			old = __atomic_fetch_and(&sh[i / 64], ~m, __ATOMIC_SEQ_CST);
			if ((old & m) != m)
				(*overlaps)++;	/* a granule freed that was not held */
		}
		i += len;
	}
}

/* Is there a free block of fp granules at a multiple of align in [lo, hi)? */
static bool shadow_fits(const uint64_t *sh, uint64_t base, uint64_t lo, uint64_t hi,
			uint64_t fp, uint64_t align)
{
	for (uint64_t p = (lo + align - 1) / align * align; p + fp <= hi; p += align) {
		uint64_t i;

		for (i = p - base; i < p - base + fp; i++)
			if (__atomic_load_n(&sh[i / 64], __ATOMIC_RELAXED) >> (i % 64) & 1)
				break;
		if (i == p - base + fp)
			return true;
	}
	return false;
}

struct curve_res {
	double ns;		/* per step, as each thread sees it (mean over the threads) */
	double fail;		/* share of allocations that failed */
	uint64_t unjust;	/* failures while a suitable block was free (check mode) */
	uint64_t judged;	/* failures the check could judge (no other thread in between) */
	uint64_t overlaps;	/* check mode: granules handed out twice or freed unheld */
	double occ;		/* occupancy reached after the fill */
};

/* One side's fields of a curve point: <side>_ns, _fail, _filled, _unjust, _judged, _bad. */
static void curve_json(struct iovx_bench_json *j, const char *side, const struct curve_res *r)
{
	static const char *const names[] = { "ns", "fail", "filled", "unjust", "judged", "bad" };
	const double nums[] = { r->ns, r->fail, r->occ };
	const uint64_t counts[] = { r->unjust, r->judged, r->overlaps };
	char key[32];

	for (unsigned int i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "%s_%s", side, names[i]);
		if (i < 3)
			iovx_bench_json_num(j, key, nums[i]);
		else
			iovx_bench_json_u64(j, key, counts[i - 3]);
	}
}

/*
 * One point, shared by nthr threads. Each thread fills its share of the target and churns
 * its own ranges. In check mode the shadow bitmap is shared and updated atomically: a
 * thread clears a range's bits before it frees the range and sets them after its
 * allocation returns, so the shadow never shows a granule as held by two callers unless
 * the allocator handed it out twice (counted as an overlap). A failure is judged only if
 * no other thread was inside an allocation, a free or its shadow update from before the
 * failing call to the end of the search (a global enter counter unchanged and nobody else
 * active): then the shadow is exactly what the allocator had. With one thread every
 * failure is judged.
 */
struct curve_point {
	const struct curve_side *cs;
	void *d;
	uint64_t lo, hi, want;		/* want: granules to hold, per thread */
	unsigned int steps, nthr;
	uint64_t *sh;			/* shared shadow, or NULL */
	uint64_t gen, active;		/* check mode: enter counter, callers inside */
	uint64_t held;			/* summed after the fill */
	pthread_barrier_t bar;
};

struct curve_thread {
	struct curve_point *pt;
	pthread_t tid;
	uint64_t seed;
	uint64_t ns, fails, unjust, judged, overlaps, held;
	int err;
};

static uint64_t curve_enter(struct curve_point *pt)
{
	__atomic_fetch_add(&pt->active, 1, __ATOMIC_SEQ_CST);
	return __atomic_add_fetch(&pt->gen, 1, __ATOMIC_SEQ_CST);
}

static void curve_exit(struct curve_point *pt)
{
	__atomic_fetch_add(&pt->gen, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&pt->active, 1, __ATOMIC_SEQ_CST);
}

/* Allocates one range of n granules; on failure in check mode, judges the failure. */
static uint64_t curve_alloc(struct curve_thread *t, uint64_t n)
{
	struct curve_point *pt = t->pt;
	const struct curve_side *cs = pt->cs;
	uint64_t g0 = 0, v;
	bool alone = false;

	if (pt->sh) {
		g0 = curve_enter(pt);
		alone = __atomic_load_n(&pt->active, __ATOMIC_SEQ_CST) == 1;
	}
	v = cs->alloc(pt->d, n, pt->hi);
	if (pt->sh) {
		if (v) {
			shadow_set(pt->sh, pt->lo, v, cs->footprint(n), true, &t->overlaps);
		} else if (alone) {
			bool fits = shadow_fits(pt->sh, pt->lo, pt->lo, pt->hi, cs->footprint(n),
						pow2_up(n));

			if (__atomic_load_n(&pt->gen, __ATOMIC_SEQ_CST) == g0) {
				t->judged++;
				t->unjust += fits;
			}
		}
		curve_exit(pt);
	}
	return v;
}

static void curve_free(struct curve_thread *t, uint64_t pfn, uint64_t n)
{
	struct curve_point *pt = t->pt;

	if (pt->sh) {
		curve_enter(pt);
		shadow_set(pt->sh, pt->lo, pfn, pt->cs->footprint(n), false, &t->overlaps);
	}
	pt->cs->free(pt->d, pfn, n);
	if (pt->sh)
		curve_exit(pt);
}

static void *curve_thread_fn(void *arg)
{
	struct curve_thread *t = arg;
	struct curve_point *pt = t->pt;
	const struct curve_side *cs = pt->cs;
	size_t cap = pt->want + 2, nlive = 0;
	uint64_t (*live)[2] = malloc(cap * sizeof(*live));
	uint64_t s = t->seed | 1, held = 0, t0;

	if (!live)
		t->err = -ENOMEM;
	/* fill */
	for (unsigned int miss = 0; live && held < pt->want && miss < 64;) {
		uint64_t n = curve_size(&s), v = cs->alloc(pt->d, n, pt->hi);

		if (!v) {
			miss++;
			continue;
		}
		if (pt->sh)
			shadow_set(pt->sh, pt->lo, v, cs->footprint(n), true, &t->overlaps);
		live[nlive][0] = v;
		live[nlive][1] = n;
		nlive++;
		held += cs->footprint(n);
	}
	__atomic_fetch_add(&pt->held, held, __ATOMIC_SEQ_CST);
	pthread_barrier_wait(&pt->bar);
	t0 = iovx_bench_now_ns();
	for (unsigned int i = 0; live && i < pt->steps; i++) {
		uint64_t n = curve_size(&s), v;

		if (nlive) {
			size_t k = curve_rand(&s) % nlive;

			curve_free(t, live[k][0], live[k][1]);
			held -= cs->footprint(live[k][1]);
			live[k][0] = live[nlive - 1][0];
			live[k][1] = live[nlive - 1][1];
			nlive--;
		}
		v = curve_alloc(t, n);
		if (!v) {
			t->fails++;
			continue;
		}
		live[nlive][0] = v;
		live[nlive][1] = n;
		nlive++;
		held += cs->footprint(n);
		/* refill toward the target after failures */
		while (held < pt->want && nlive < cap) {
			uint64_t m = curve_size(&s), w = curve_alloc(t, m);

			if (!w)
				break;
			live[nlive][0] = w;
			live[nlive][1] = m;
			nlive++;
			held += cs->footprint(m);
		}
	}
	t->ns = iovx_bench_now_ns() - t0;
	pthread_barrier_wait(&pt->bar);	/* everyone done: the shadow is quiescent */
	t->held = held;
	if (live) {
		/* every range this thread holds must be marked in the shadow */
		for (size_t k = 0; pt->sh && k < nlive; k++)
			for (uint64_t i = live[k][0] - pt->lo;
			     i < live[k][0] - pt->lo + cs->footprint(live[k][1]); i++)
				if (!(pt->sh[i / 64] >> (i % 64) & 1)) {
					t->overlaps++;
					break;
				}
	}
	pthread_barrier_wait(&pt->bar);
	while (live && nlive--)
		curve_free(t, live[nlive][0], live[nlive][1]);
	free(live);
	return NULL;
}

static struct curve_res curve_run(const struct curve_side *cs, void *d, uint64_t lo, uint64_t hi,
				  double p, unsigned int steps, bool check, uint64_t seed,
				  unsigned int nthr)
{
	uint64_t region = hi - lo;
	struct curve_res r = { 0, 0, 0, 0, 0, 0 };
	struct curve_point pt = {
		.cs = cs, .d = d, .lo = lo, .hi = hi, .steps = steps, .nthr = nthr,
		.want = (uint64_t)(p * (double)region) / nthr,
	};
	struct curve_thread *t = calloc(nthr, sizeof(*t));
	uint64_t fails = 0;
	unsigned int started = 0;

	if (check)
		pt.sh = calloc(region / 64 + 2, 8);
	if (!t || (check && !pt.sh) || pthread_barrier_init(&pt.bar, NULL, nthr)) {
		free(t);
		free(pt.sh);
		r.ns = -1;
		return r;
	}
	for (unsigned int i = 0; i < nthr; i++) {
		t[i].pt = &pt;
		t[i].seed = seed * 0x9e3779b97f4a7c15ull + i + 1;
	}
	/* thread 0 runs here; a thread that cannot start means no figure */
	for (started = 1; started < nthr; started++)
		if (pthread_create(&t[started].tid, NULL, curve_thread_fn, &t[started]))
			break;
	if (started < nthr) {
		fprintf(stderr, "iova-scale: cannot start %u threads\n", nthr);
		abort();	/* the others wait at the barrier: no way back */
	}
	curve_thread_fn(&t[0]);
	for (unsigned int i = 1; i < nthr; i++)
		pthread_join(t[i].tid, NULL);
	pthread_barrier_destroy(&pt.bar);
	r.occ = (double)pt.held / (double)region;
	for (unsigned int i = 0; i < nthr; i++) {
		if (t[i].err)
			r.ns = -1;
		if (r.ns >= 0)
			r.ns += (double)t[i].ns / steps / nthr;
		fails += t[i].fails;
		r.unjust += t[i].unjust;
		r.judged += t[i].judged;
		r.overlaps += t[i].overlaps;
	}
	r.fail = (double)fails / ((double)steps * nthr);
	/* everything freed: the shadow must be empty */
	for (uint64_t i = 0; pt.sh && i < region / 64 + 2; i++)
		if (pt.sh[i])
			r.overlaps++;
	free(pt.sh);
	free(t);
	return r;
}

static int curve_case(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	static const unsigned int wbits[] = { 16, 20, 36 };
	static const double occ[] = { 0.10, 0.50, 0.75, 0.90, 0.95, 0.99 };
	static const struct curve_side sides[2] = {
		{ c_iovx_alloc, c_iovx_free, iovx_fp },
		{ c_lx_alloc, c_lx_free, lx_fp },
	};
	unsigned int steps = (unsigned int)param_ul(o, "steps", o->quick ? 2000 : 20000);
	bool check = param_ul(o, "check", 0) != 0;
	bool lx = iovx_lx_available();
	int ret = 0;

	printf("\nv  alloc+free cost and failures against occupancy, sizes 1..1024, random\n"
	       "   lifetimes; T threads share one domain; W = window, region = the fillable\n"
	       "   top min(W, 2^20); %u steps per thread and point; ns per step as a thread\n"
	       "   sees it%s\n", steps,
	       check ? "; shadow-bitmap check on: unjust/judged = failures with a suitable\n"
		       "   block free / failures judged (no other thread in between); bad = granules\n"
		       "   handed out twice, freed unheld or left marked" : "");
	printf("  %5s %2s %5s | %8s %8s %7s %13s %4s | %8s %8s %7s %13s %4s\n", "W", "T", "occ",
	       "iovx ns", "fail%", "filled", "unjust/judged", "bad", "linux ns", "fail%", "filled",
	       "unjust/judged", "bad");
	iovx_bench_json_arr_begin(j, "curve");
	for (unsigned int ti = 0; ti < o->nr_threads; ti++)
	for (unsigned int wi = 0; wi < 3; wi++) {
		unsigned int nthr = o->threads[ti];
		uint64_t w = 1ull << wbits[wi];
		uint64_t region = w < CURVE_REGION_MAX ? w - 1 : CURVE_REGION_MAX;
		uint64_t lo = w - region, hi = w;

		for (unsigned int oi = 0; oi < sizeof(occ) / sizeof(occ[0]); oi++) {
			struct curve_res res[2] = { { .ns = -1 }, { .ns = -1 } };

			for (unsigned int side = 0; side < 2; side++) {
				void *d = NULL;

				if (side == 0) {
					struct iovx_iova_config cfg;
					struct iovx_iova_domain *dom;

					iovx_iova_config_init(&cfg, 1, w);
					if (iovx_iova_domain_create(&cfg, &dom))
						continue;
					if (lo > 1 && iovx_iova_reserve(dom, 1, lo - 1)) {
						iovx_iova_domain_destroy(dom);
						continue;
					}
					d = dom;
				} else {
					struct iovx_lx_domain *dom;

					if (!lx || iovx_lx_domain_create(4096, 1, &dom))
						continue;
					if (lo > 1 && iovx_lx_reserve(dom, 1, lo)) {
						iovx_lx_domain_destroy(dom);
						continue;
					}
					d = dom;
				}
				res[side] = curve_run(&sides[side], d, lo, hi, occ[oi], steps, check,
						      o->seed + wi * 100 + oi, nthr);
				if (side == 0) {
					struct iovx_iova_stats st;

					/* every range is back: the audit must be exact, nothing live */
					if (iovx_iova_audit(d, &st) || st.live)
						res[0].overlaps++;
					iovx_iova_domain_destroy(d);
				} else {
					iovx_lx_domain_destroy(d);
				}
				if (res[side].overlaps)
					ret = -EFAULT;
			}
			printf("  2^%-3u %2u %4.0f%% | %8.1f %7.2f%% %6.1f%% %6llu/%-6llu %4llu | ",
			       wbits[wi], nthr, occ[oi] * 100, res[0].ns, res[0].fail * 100,
			       res[0].occ * 100, (unsigned long long)res[0].unjust,
			       (unsigned long long)res[0].judged,
			       (unsigned long long)res[0].overlaps);
			if (res[1].ns < 0)
				printf("%8s\n", "-");
			else
				printf("%8.1f %7.2f%% %6.1f%% %6llu/%-6llu %4llu\n", res[1].ns,
				       res[1].fail * 100, res[1].occ * 100,
				       (unsigned long long)res[1].unjust,
				       (unsigned long long)res[1].judged,
				       (unsigned long long)res[1].overlaps);
			fflush(stdout);
			iovx_bench_json_obj_begin(j, NULL);
			iovx_bench_json_u64(j, "window_log2", wbits[wi]);
			iovx_bench_json_u64(j, "threads", nthr);
			iovx_bench_json_num(j, "occupancy", occ[oi]);
			curve_json(j, "iovx", &res[0]);
			if (res[1].ns < 0)
				iovx_bench_json_null(j, "linux_ns");
			else
				curve_json(j, "linux", &res[1]);
			iovx_bench_json_obj_end(j);
		}
	}
	iovx_bench_json_arr_end(j);
	return ret;
}

/* ------------------------------------------------------------------ case g: big spaces */

/*
 * A 48-bit window with 4 KiB granules (2^36) and with 64 KiB granules (2^32), and a
 * realistic reserved list: the x86 MSI window (0xfee00000, 1 MiB), PCI holes (a 512 MiB
 * window below 4 GiB and 64 MiB windows above), and RMRR-like regions (16 KiB..1 MiB at
 * random 4 KiB-aligned addresses), nr regions in all. Reported per side: creation time,
 * the time to reserve them all, metadata after (heap bytes; iovx also its counter), and
 * for iovx the audit: its time, and whether it is exact (0, the reserved count equal to
 * the union of the regions, live 0) with 1 000 ranges allocated and freed afterwards.
 */
struct big_region {
	uint64_t lo, hi;	/* byte addresses, [lo, hi) */
};

static int big_cmp(const void *a, const void *b)
{
	const struct big_region *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static size_t big_regions(struct big_region *r, size_t nr, uint64_t seed)
{
	uint64_t s = seed | 1;
	size_t n = 0;

	r[n++] = (struct big_region){ 0xfee00000ull, 0xfef00000ull };
	r[n++] = (struct big_region){ 0xe0000000ull, 0xfee00000ull };
	for (unsigned int i = 0; i < 8 && n < nr; i++)	/* 64 MiB windows above 4 GiB */
		r[n++] = (struct big_region){ (1ull << 40) + i * (1ull << 30),
					      (1ull << 40) + i * (1ull << 30) + (64ull << 20) };
	while (n < nr) {
		uint64_t len = (16ull << 10) << (curve_rand(&s) % 7);
		uint64_t lo = (curve_rand(&s) % (1ull << 47)) & ~0xfffull;

		r[n++] = (struct big_region){ lo, lo + len };
	}
	return n;
}

/* Granules covered by the union of the regions, at granule size 2^shift. */
static uint64_t big_union(struct big_region *r, size_t n, unsigned int shift)
{
	uint64_t total = 0, cur_lo = 0, cur_hi = 0;

	qsort(r, n, sizeof(*r), big_cmp);
	for (size_t i = 0; i < n; i++) {
		uint64_t lo = r[i].lo >> shift, hi = (r[i].hi + (1ull << shift) - 1) >> shift;

		if (lo < 1)
			lo = 1;
		if (lo >= cur_hi) {
			total += cur_hi - cur_lo;
			cur_lo = lo;
			cur_hi = hi;
		} else if (hi > cur_hi) {
			cur_hi = hi;
		}
	}
	return total + cur_hi - cur_lo;
}

static int big_case(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	static const unsigned int shifts[] = { 12, 16 };
	size_t nr = (size_t)param_ul(o, "regions", 2000);
	struct big_region *r = calloc(nr + 16, sizeof(*r));
	bool lx = iovx_lx_available();
	int ret = 0;

	if (!r)
		return -ENOMEM;
	nr = big_regions(r, nr, o->seed);
	printf("\ng  48-bit window, %zu reserved regions (MSI window, PCI holes, RMRR-like)\n", nr);
	printf("  %7s %4s | %9s %10s %9s %9s %9s %5s | %9s %10s %9s\n", "granule", "W",
	       "create us", "reserve us", "heap KiB", "cnt KiB", "audit us", "exact",
	       "lx create", "lx reserve", "lx KiB");
	iovx_bench_json_arr_begin(j, "big");
	for (unsigned int si = 0; si < 2; si++) {
		unsigned int sh = shifts[si];
		uint64_t end = 1ull << (48 - sh), want = big_union(r, nr, sh);
		struct iovx_iova_config cfg;
		struct iovx_iova_domain *dom;
		struct iovx_iova_stats st;
		uint64_t h0 = heap_bytes(), t0, t1, t2, t3, t4, lxh = 0;
		double lxc = -1, lxr = -1;
		bool exact = false;
		int err;

		iovx_iova_config_init(&cfg, 1, end);
		cfg.granule_shift = sh;
		t0 = iovx_bench_now_ns();
		err = iovx_iova_domain_create(&cfg, &dom);
		t1 = iovx_bench_now_ns();
		for (size_t i = 0; i < nr && !err; i++) {
			uint64_t lo = r[i].lo >> sh, hi = (r[i].hi + (1ull << sh) - 1) >> sh;

			lo = lo ? lo : 1;
			err = iovx_iova_reserve(dom, lo, hi - lo);
		}
		t2 = iovx_bench_now_ns();
		if (err) {
			fprintf(stderr, "iova-scale: big space set-up failed: %d\n", err);
			ret = err;
			if (!t1 || !dom)
				continue;
		}
		for (unsigned int k = 0; k < 1000 && !err; k++) {
			int64_t v = iovx_iova_alloc(dom, 1 + k % 300, end);

			if (v <= 0 || iovx_iova_free(dom, (uint64_t)v, 1 + k % 300))
				err = -EFAULT;
		}
		t3 = iovx_bench_now_ns();
		err = err ? err : iovx_iova_audit(dom, &st);
		t4 = iovx_bench_now_ns();
		exact = !err && st.live == 0 && st.reserved == want + 0 &&
			st.reserved + st.cached + st.depot + st.backend_free == st.total;
		if (!exact && !err && st.reserved == want + 1)	/* pfn 0, counted as reserved */
			exact = st.live == 0;
		printf("  %4u KiB 2^%-2u | %9.1f %10.1f %9.1f %9.1f %9.1f %5s |", 1u << (sh - 10),
		       48 - sh, (t1 - t0) / 1e3, (t2 - t1) / 1e3, (heap_bytes() - h0) / 1024.0,
		       err ? 0.0 : st.mem_bytes / 1024.0, (t4 - t3) / 1e3, exact ? "yes" : "NO");
		iovx_iova_domain_destroy(dom);
		if (lx && sh == 12) {	/* the baseline's granule is the page */
			struct iovx_lx_domain *ld;
			uint64_t l0 = heap_bytes(), a = iovx_bench_now_ns(), b, c;

			if (!iovx_lx_domain_create(4096, 1, &ld)) {
				b = iovx_bench_now_ns();
				for (size_t i = 0; i < nr; i++) {
					uint64_t lo = r[i].lo >> sh;
					uint64_t hi = (r[i].hi + (1ull << sh) - 1) >> sh;

					iovx_lx_reserve(ld, lo ? lo : 1, hi);
				}
				c = iovx_bench_now_ns();
				lxc = (b - a) / 1e3;
				lxr = (c - b) / 1e3;
				lxh = heap_bytes() - l0;
				iovx_lx_domain_destroy(ld);
			}
		}
		if (lxc >= 0)
			printf(" %9.1f %10.1f %9.1f\n", lxc, lxr, lxh / 1024.0);
		else
			printf(" %9s\n", "-");
		iovx_bench_json_obj_begin(j, NULL);
		iovx_bench_json_u64(j, "granule_shift", sh);
		iovx_bench_json_u64(j, "regions", nr);
		iovx_bench_json_num(j, "create_us", (t1 - t0) / 1e3);
		iovx_bench_json_num(j, "reserve_us", (t2 - t1) / 1e3);
		iovx_bench_json_num(j, "audit_us", (t4 - t3) / 1e3);
		iovx_bench_json_bool(j, "audit_exact", exact);
		iovx_bench_json_obj_end(j);
		if (!exact)
			ret = -EFAULT;
	}
	iovx_bench_json_arr_end(j);
	free(r);
	return ret;
}

int iovx_bench_iova_scale(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	unsigned int child = (unsigned int)param_ul(o, "child", 0);
	unsigned int one = (unsigned int)param_ul(o, "slots", 0);
	const unsigned int slot_list[] = { 2, 64, 256 };
	int ret = 0;

	bool run_m = !o->only || strchr(o->only, 'm'), run_v = !o->only || strchr(o->only, 'v');
	bool run_g = !o->only || strchr(o->only, 'g');

	if (!run_m && !run_v && !run_g) {
		fprintf(stderr, "iova-scale: no such case '%s' (cases: m, v, g)\n", o->only);
		return -EINVAL;
	}
	if (child)
		return memory_child(o, j, child);
	if (run_v)
		ret = curve_case(o, j);
	if (run_g) {
		int r = big_case(o, j);

		ret = ret ? ret : r;
	}
	if (!run_m)
		return ret;
	printf("\nm  metadata memory per domain (KiB): N domains of 2^20 granules; in each, k CPU\n"
	       "   slots (spread over S) allocate and free one range of each of c classes\n"
	       "   heap = malloc'd bytes (mallinfo2) per domain, counter = iovx's mem_bytes;\n"
	       "   * = every slot; Linux caches 6 classes, so its column stops at c = 6\n");
	printf("  %5s %6s %3s %12s %12s %12s %7s\n", "S", "k", "c", "iovx heap", "iovx counter",
	       "linux heap", "ratio");
	iovx_bench_json_arr_begin(j, "memory");
	for (unsigned int i = 0; i < sizeof(slot_list) / sizeof(slot_list[0]); i++) {
		unsigned int s = one ? one : slot_list[i];
		int r = run_child(o, j, s);

		if (r)
			ret = r;
		if (one)
			break;
	}
	iovx_bench_json_arr_end(j);
	return ret;
}

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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
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
	fflush(stdout);
	return ret;
}

static int run_child(const struct iovx_bench_opts *o, unsigned int slots)
{
	char slots_s[16], param[256];
	pid_t pid;
	int status;

	snprintf(slots_s, sizeof(slots_s), "%u", slots);
	snprintf(param, sizeof(param), "child=%u,n=%lu", slots, param_ul(o, "n", 16));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setenv("IOVX_CPU_SLOTS", slots_s, 1);
		execl("/proc/self/exe", "iovx-bench", "iova-scale", "--only", "m", "--param",
		      param, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int iovx_bench_iova_scale(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	unsigned int child = (unsigned int)param_ul(o, "child", 0);
	unsigned int one = (unsigned int)param_ul(o, "slots", 0);
	const unsigned int slot_list[] = { 2, 64, 256 };
	int ret = 0;

	if (o->only && !strchr(o->only, 'm')) {
		fprintf(stderr, "iova-scale: no such case '%s' (cases: m)\n", o->only);
		return -EINVAL;
	}
	if (child)
		return memory_child(o, j, child);
	printf("\nm  metadata memory per domain (KiB): N domains of 2^20 granules; in each, k CPU\n"
	       "   slots (spread over S) allocate and free one range of each of c classes\n"
	       "   heap = malloc'd bytes (mallinfo2) per domain, counter = iovx's mem_bytes;\n"
	       "   * = every slot; Linux caches 6 classes, so its column stops at c = 6\n");
	printf("  %5s %6s %3s %12s %12s %12s %7s\n", "S", "k", "c", "iovx heap", "iovx counter",
	       "linux heap", "ratio");
	for (unsigned int i = 0; i < sizeof(slot_list) / sizeof(slot_list[0]); i++) {
		unsigned int s = one ? one : slot_list[i];
		int r = run_child(o, s);

		if (r)
			ret = r;
		if (one)
			break;
	}
	return ret;
}

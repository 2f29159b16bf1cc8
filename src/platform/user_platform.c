// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * user_platform.c - userspace backend: CPU slots, time, memory, diagnostics, rseq set-up.
 */
#define _GNU_SOURCE
#include "platform.h"
#include <iovx/static/iova_layout.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>
#include <linux/membarrier.h>

unsigned int iovx_user_nr_cpus = 1;
/* CPU ids below this come from rseq; 0 when IOVX_CPU_SLOTS simulates slots (see below) */
unsigned int iovx_user_hint_lim;
/* the simulated CPU slot of this thread (>= 0), or -1 */
static __thread int iovx_user_cpu_force = -1;

/*
 * IOVX_CPU_SLOTS=N in the environment sizes every per-CPU array for max(N, the CPUs
 * present): a many-CPU machine's memory footprint, measured on a small one. The slots are
 * then chosen by iovx_user_force_cpu_slot() (or sched_getcpu()) and every domain runs its
 * per-CPU caches in CAS mode, since the restartable fast path indexes by the real CPU.
 */
void iovx_user_force_cpu_slot(int slot)
{
	iovx_user_cpu_force = slot;
}

/*
 * Runs before main() and before any constructor that could create a domain: the slot count
 * must never change afterwards, since per-CPU arrays are sized by it.
 */
/*
 * Highest possible CPU + 1 from /sys/devices/system/cpu/possible ("0-127", "0,2-5"): the
 * kernel never reports a cpu_id outside it, even after hot-plug, and the restartable
 * sequences index per-CPU arrays by cpu_id without a bounds check.
 */
static int possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	int max = -1, a, b;
	char sep;

	if (!f)
		return 0;
	while (fscanf(f, "%d", &a) == 1) {
		b = a;
		if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
			if (fscanf(f, "%d", &b) != 1)
				break;
			if (fscanf(f, "%c", &sep) != 1)
				sep = 0;
		}
		if (b > max)
			max = b;
		if (sep != ',')
			break;
	}
	fclose(f);
	return max + 1;
}

__attribute__((constructor(101))) static void iovx_user_platform_init(void)
{
	int n = get_nprocs_conf();
	long m = sysconf(_SC_NPROCESSORS_CONF);
	int p = possible_cpus();
	const char *env;

	if (m > n)
		n = (int)m;
	if (p > n)
		n = p;
	iovx_user_nr_cpus = n > 0 ? (unsigned int)n : 1;
	iovx_user_hint_lim = iovx_user_nr_cpus;
	env = getenv("IOVX_CPU_SLOTS");
	if (env && *env) {
		unsigned long v = strtoul(env, NULL, 10);

		if (v > iovx_user_nr_cpus && v <= 65536)
			iovx_user_nr_cpus = (unsigned int)v;
		iovx_user_hint_lim = 0;
	}
#ifdef IOVX_HAVE_RSEQ
	iovx_rseq_init();
#endif
}

unsigned int iovx_user_cpu_slow(void)
{
	int cpu = iovx_user_cpu_force >= 0 ? iovx_user_cpu_force : sched_getcpu();

	if (cpu < 0)
		cpu = 0;
	return (unsigned int)cpu % iovx_user_nr_cpus;
}

void iovx_user_warn(const char *file, int line, const char *cond)
{
	fprintf(stderr, "iovx: WARNING at %s:%d: %s\n", file, line, cond);
}

#ifdef IOVX_DEBUG
void iovx_user_assert_fail(const char *file, int line, const char *cond)
{
	fprintf(stderr, "iovx: assertion failed at %s:%d: %s\n", file, line, cond);
	abort();
}
#endif

void iovx_cond_resched(void)
{
	sched_yield();
}

uint64_t iovx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void *iovx_zalloc(size_t size, unsigned int gfp)
{
	(void)gfp;
	if (iovx_fail_nth_hit())
		return NULL;
	return calloc(1, size ? size : 1);
}

void *iovx_zalloc_aligned(size_t size, size_t align, unsigned int gfp)
{
	void *p = NULL;

	(void)gfp;
	if (iovx_fail_nth_hit())
		return NULL;
	if (align < sizeof(void *))
		align = sizeof(void *);
	if (posix_memalign(&p, align, size ? size : 1))
		return NULL;
	memset(p, 0, size);
	return p;
}

void iovx_free(void *p)
{
	free(p);
}

void iovx_memcpy(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

void iovx_memset(void *dst, int c, size_t n)
{
	memset(dst, c, n);
}

#ifdef IOVX_HAVE_RSEQ
#include <sys/rseq.h>

int iovx_rseq_usable;
ptrdiff_t iovx_rseq_off;

/*
 * The fast path needs glibc's registration (a usable cpu_id) and, for remote reclaim, the
 * membarrier command that aborts rseq critical sections on one CPU. Without both, every
 * per-CPU cache runs in CAS mode; IOVX_RSEQ=0 in the environment forces that too.
 */
int iovx_rseq_init(void)
{
	const char *env = getenv("IOVX_RSEQ");
	long mask;

	if ((env && env[0] == '0') || !iovx_user_hint_lim)
		return -ENOTSUP;
	if (__rseq_size < 20)
		return -ENOTSUP;
	iovx_rseq_off = __rseq_offset;
	if (iovx_rseq_area()->cpu_id >= iovx_user_nr_cpus)
		return -ENOTSUP;
	mask = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (mask < 0 || !(mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ))
		return -ENOTSUP;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0))
		return -ENOTSUP;
	iovx_rseq_usable = 1;
	return 0;
}

int iovx_rseq_fence_cpu(unsigned int cpu)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
		    MEMBARRIER_CMD_FLAG_CPU, (int)cpu))
		return -errno;
	return 0;
}
#endif

/*
 * The IOVA domain layout this library was built with (iovx/static/iova_layout.h): what a
 * program built with the inline fast path links against.
 */
IOVX_API const int IOVX_IOVA_LAYOUT_SYM(IOVX_IOVA_LAYOUT_VERSION) = IOVX_IOVA_LAYOUT_VERSION;

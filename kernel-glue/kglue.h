/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * kglue.h - declarations shared by the kernel glue's own files (module, self-tests); not
 * part of the seam and never included by portable code.
 */
#ifndef IOVX_KGLUE_H
#define IOVX_KGLUE_H

#include <linux/atomic.h>
#include <linux/kernel.h>
#include <linux/printk.h>

#define IOVX_ST_PREFIX	"iovx-selftest: "

/* Complaints from portable code (IOVX_WARN_ON, iovx_assert); platform_kernel.c. */
extern atomic_t iovx_kernel_warnings;
extern atomic_t iovx_kernel_asserts;

/* One self-test: returns 0, or -errno with a one-line reason written into st->reason. */
struct iovx_st {
	char reason[160];
	unsigned int skipped;	/* set to 1 with a reason to report SKIP instead of PASS */
};

#define IOVX_ST_FAIL(st, fmt, ...) ({					\
	snprintf((st)->reason, sizeof((st)->reason), "line %d: " fmt,	\
		 __LINE__, ##__VA_ARGS__);				\
	-EINVAL;							\
})

#define IOVX_ST_CHECK(st, cond) do {					\
	if (!(cond))							\
		return IOVX_ST_FAIL(st, "%s", #cond);			\
} while (0)

struct iovx_st_case {
	const char *name;
	int (*fn)(struct iovx_st *st);
};

/* params.c: the module parameters (iovx_kernel_dma_config_init reads them). */
#define IOVX_KPARAM_MAX_CROSSOVER	65536u	/* the default bounce pool's largest class */
int iovx_mode_parse(const char *s);		/* index of a default_mode name, or -EINVAL */
const char *iovx_mode_name(unsigned int idx);

/* debugfs.c: the /sys/kernel/debug/iovx root, made at load, removed at unload. */
void iovx_debugfs_init(void);
void iovx_debugfs_exit(void);

/* Runs every case and prints the result line; 0 when all passed. */
int iovx_selftest_run_all(void);

/* Tables of cases, each ended by a { NULL, NULL } entry. */
extern const struct iovx_st_case iovx_st_shim_cases[];
extern const struct iovx_st_case iovx_st_iova_cases[];
extern const struct iovx_st_case iovx_st_dma_cases[];		/* selftest_dma.c */
extern const struct iovx_st_case iovx_st_kapi_cases[];		/* selftest_kapi.c */

/* Prints "iovx-selftest: <tag> <text>" as a single log line. */
#define iovx_st_info(fmt, ...)	pr_info(IOVX_ST_PREFIX fmt "\n", ##__VA_ARGS__)

/*
 * Runs fn(arg, idx) in one kthread bound to each online CPU (idx 0..n-1) plus nr_unbound
 * kthreads free to migrate, released together; waits for all. Returns the first non-zero
 * return value (or a creation error); *nr_threads gets the thread count if not NULL.
 */
int iovx_st_run_threads(int (*fn)(void *arg, unsigned int idx), void *arg,
			unsigned int nr_unbound, unsigned int *nr_threads);
unsigned int iovx_st_nr_threads(unsigned int nr_unbound);

/* xorshift64*: deterministic per-thread streams, so two allocators see the same workload. */
static inline u64 iovx_st_rand(u64 *s)
{
	u64 x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static inline u64 iovx_st_seed(unsigned int idx, u64 salt)
{
	return (0x9e3779b97f4a7c15ULL * (idx + 1)) ^ salt ^ 0xd1b54a32d192ed03ULL;
}

#endif /* IOVX_KGLUE_H */

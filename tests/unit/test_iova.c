// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_iova.c - unit tests of the IOVA allocator, written against include/iovx/iova.h.
 *
 * Black-box: every property checked here is stated by the header (errno per bad input, a
 * failing call changes nothing, alignment, limit, pfn 0, exhaustion after reclaim, the I6
 * sums of audit). Only the fail-Nth sweeps use the test hooks of the iovx_test library.
 *
 * The header's rule for sizes that are not a power of two: a size in a cached class (order
 * <= max_cached_order, unless IOVX_IOVA_NO_CACHE) occupies its whole aligned block and the
 * whole block must lie below the limit; a larger size occupies exactly n granules and only
 * those must lie below the limit. probe_accounting() asserts that rule, per order, on a
 * twin of every domain a test makes, and every "live" and limit check uses it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* pthread_setaffinity_np, sched_getcpu */
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <iovx/iova.h>
#include <iovx/static/iova.h>	/* the inline cached paths, tested side by side */
#include "test_hooks.h"

#define NO_LIMIT IOVX_IOVA_NO_LIMIT

/*
 * Per order of the current domain (set by mkdom_cfg, probed on a twin domain): true when
 * an allocation of a size that is not a power of two counts (and occupies) its whole
 * aligned block, false when it counts exactly n granules and the tail stays free.
 */
static bool block_acct[64];
static int limit_by_block = -1;		/* 1: pfn + rp2(n) <= limit; 0: pfn + n <= limit */

static uint64_t rp2(uint64_t n)
{
	return n <= 1 ? 1 : 1ull << (64 - __builtin_clzll(n - 1));
}

static unsigned int order_of(uint64_t n)
{
	return n <= 1 ? 0 : 64 - __builtin_clzll(n - 1);
}

static uint64_t acct(uint64_t n)
{
	return block_acct[order_of(n)] ? rp2(n) : n;
}

/* Observes, on a twin of the domain about to be made, how each order is accounted. */
static void probe_accounting(const struct iovx_iova_config *cfg)
{
	struct iovx_iova_domain *twin = NULL;
	struct iovx_iova_stats st;

	for (unsigned int k = 0; k < 64; k++)
		block_acct[k] = !(cfg->flags & IOVX_IOVA_NO_CACHE) && k <= cfg->max_cached_order;
	if (iovx_iova_domain_create(cfg, &twin))
		return;
	for (unsigned int k = 2; k <= 12; k++) {
		uint64_t n = (1ull << (k - 1)) + 1;
		int64_t p = iovx_iova_alloc(twin, n, IOVX_IOVA_NO_LIMIT);

		if (p < 0)
			break;
		/* get_stats, not audit: the probe must not depend on what the tests check */
		assert_int_equal(iovx_iova_get_stats(twin, &st), 0);
		assert_int_equal(st.live, block_acct[k] ? rp2(n) : n);
		assert_int_equal(iovx_iova_free(twin, p, n), 0);
	}
	iovx_iova_domain_destroy(twin);
}

/* The extent that must lie below the limit and the domain's end: what the size occupies. */
static uint64_t lfoot(uint64_t n)
{
	return acct(n);
}

static struct iovx_iova_domain *mkdom_cfg(const struct iovx_iova_config *cfg)
{
	struct iovx_iova_domain *dom = NULL;

	probe_accounting(cfg);
	assert_int_equal(iovx_iova_domain_create(cfg, &dom), 0);
	assert_non_null(dom);
	return dom;
}

static struct iovx_iova_domain *mkdom(uint64_t start, uint64_t end, unsigned int flags)
{
	struct iovx_iova_config cfg;

	iovx_iova_config_init(&cfg, start, end);
	cfg.flags = flags;
	return mkdom_cfg(&cfg);
}

/* Audits a quiescent domain, asserts the sums close, returns the figures. */
static void audit_ok(struct iovx_iova_domain *dom, struct iovx_iova_stats *st)
{
	struct iovx_iova_stats s;

	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(iovx_iova_audit(dom, &s), 0);
	assert_int_equal(s.total, s.reserved + s.live + s.cached + s.depot + s.backend_free);
	if (st)
		*st = s;
}

/* The figures a failing call must leave untouched. */
#define SAME_FIELD(a, b, f) do {						\
		if ((a)->f != (b)->f) {						\
			print_error("stats." #f " changed: %llu -> %llu\n",	\
				    (unsigned long long)(a)->f,			\
				    (unsigned long long)(b)->f);		\
			fail();							\
		}								\
	} while (0)

/* Where every granule is: what any failing call must leave as it was. */
static void assert_same_place(const struct iovx_iova_stats *a, const struct iovx_iova_stats *b)
{
	SAME_FIELD(a, b, total);
	SAME_FIELD(a, b, reserved);
	SAME_FIELD(a, b, live);
	SAME_FIELD(a, b, cached);
	SAME_FIELD(a, b, depot);
	SAME_FIELD(a, b, backend_free);
}

/* ...and for calls rejected by validation, the backend was not even touched. */
static void assert_same_state(const struct iovx_iova_stats *a, const struct iovx_iova_stats *b)
{
	assert_same_place(a, b);
	SAME_FIELD(a, b, backend_allocs);
	SAME_FIELD(a, b, backend_frees);
}

/*
 * A byte per pfn of [base, base + len): 0 free, 1 live, 2 reserved (test's own model).
 * A live allocation occupies acct(n) granules: its aligned block under block accounting.
 */
struct shadow {
	uint64_t base, len;
	uint8_t *m;
};

static void shadow_init(struct shadow *s, uint64_t base, uint64_t len)
{
	s->base = base;
	s->len = len;
	s->m = calloc(len, 1);
	assert_non_null(s->m);
}

static void shadow_fini(struct shadow *s)
{
	free(s->m);
	s->m = NULL;
}

/* Claims [pfn, pfn + n): fails the test if any granule is already live or reserved (I1). */
static void shadow_claim(struct shadow *s, uint64_t pfn, uint64_t n)
{
	assert_true(pfn >= s->base && pfn + n <= s->base + s->len);
	for (uint64_t i = 0; i < n; i++) {
		if (s->m[pfn - s->base + i]) {
			print_error("pfn %#llx (of %#llx+%llu) already %s\n",
				    (unsigned long long)(pfn + i), (unsigned long long)pfn,
				    (unsigned long long)n,
				    s->m[pfn - s->base + i] == 1 ? "live" : "reserved");
			fail();
		}
		s->m[pfn - s->base + i] = 1;
	}
}

static void shadow_release(struct shadow *s, uint64_t pfn, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(s->m[pfn - s->base + i], 1);
		s->m[pfn - s->base + i] = 0;
	}
}

/* Checks a successful allocation against the header's promises and claims it. */
static uint64_t check_alloc(struct shadow *s, int64_t r, uint64_t n, uint64_t start,
			    uint64_t end, uint64_t limit)
{
	uint64_t pfn;

	if (r < 0) {
		print_error("alloc(%llu, limit %#llx) in [%#llx, %#llx) = %lld\n",
			    (unsigned long long)n, (unsigned long long)limit,
			    (unsigned long long)start, (unsigned long long)end, (long long)r);
		fail();
	}
	pfn = (uint64_t)r;
	assert_true(pfn > 0);
	assert_true(pfn >= start);
	assert_int_equal(pfn & (rp2(n) - 1), 0);
	assert_true(pfn + lfoot(n) <= end);
	assert_true(pfn + lfoot(n) <= limit);
	if (s)
		shadow_claim(s, pfn, acct(n));
	return pfn;
}

static int group_setup(void **state)
{
	struct iovx_iova_domain *dom = mkdom(1, 1 << 12, 0);
	int64_t p;

	(void)state;
	print_message("[ info ] default domain: sizes that are not a power of two count as");
	for (unsigned int k = 2; k <= 12; k++)
		print_message(" %s", block_acct[k] ? "B" : "n");
	print_message(" for orders 2..12 (B: the aligned block, n: exactly n)\n");
	/* 4 is the only 4-aligned pfn in [1, 7): fits if the limit bounds pfn + 3 only. */
	p = iovx_iova_alloc(dom, 3, 7);
	if (p == 4)
		limit_by_block = 0;
	else if (p == -EINVAL)
		limit_by_block = 1;
	else
		return -1;
	iovx_iova_domain_destroy(dom);
	print_message("[ info ] the limit bounds %s\n",
		      limit_by_block ? "pfn + roundup_pow_of_two(n)" : "pfn + n");
	/* a cached size (3 granules, order 2) must be bounded by its whole block */
	assert_int_equal(limit_by_block, 1);
	return 0;
}

/* ------------------------------------------------------------------ config */

static void test_config_init_defaults(void **state)
{
	struct iovx_iova_config cfg;

	(void)state;
	memset(&cfg, 0x5a, sizeof(cfg));
	iovx_iova_config_init(&cfg, 7, 9000);
	assert_int_equal(cfg.granule_shift, 12);
	assert_int_equal(cfg.start_pfn, 7);
	assert_int_equal(cfg.end_pfn, 9000);
	assert_int_equal(cfg.max_cached_order, IOVX_IOVA_DEFAULT_CACHED_ORDER);
	assert_int_equal(cfg.depot_max, 0);
	assert_int_equal(cfg.flags, 0);
}

static void expect_create(const struct iovx_iova_config *cfg, int err)
{
	struct iovx_iova_domain *dom = NULL;
	int ret = iovx_iova_domain_create(cfg, &dom);

	if (ret != err) {
		print_error("create(shift %u, [%#llx, %#llx), order %u, depot %u, flags %#x) = %d,"
			    " want %d\n", cfg->granule_shift, (unsigned long long)cfg->start_pfn,
			    (unsigned long long)cfg->end_pfn, cfg->max_cached_order,
			    cfg->depot_max, cfg->flags, ret, err);
		fail();
	}
	if (!ret)
		iovx_iova_domain_destroy(dom);
}

static void test_create_einval(void **state)
{
	struct iovx_iova_config cfg;
	struct iovx_iova_domain *dom = NULL;
	int ret;

	(void)state;
	iovx_iova_config_init(&cfg, 1, 1 << 20);
	assert_int_equal(iovx_iova_domain_create(NULL, &dom), -EINVAL);
	assert_int_equal(iovx_iova_domain_create(&cfg, NULL), -EINVAL);

#define BAD(field, value) do {						\
		iovx_iova_config_init(&cfg, 1, 1 << 20);		\
		cfg.field = (value);					\
		expect_create(&cfg, -EINVAL);				\
	} while (0)
#define GOOD(field, value) do {						\
		iovx_iova_config_init(&cfg, 1, 1 << 20);		\
		cfg.field = (value);					\
		expect_create(&cfg, 0);					\
	} while (0)
	BAD(granule_shift, 0);
	BAD(granule_shift, 11);
	BAD(granule_shift, 17);
	BAD(granule_shift, 64);
	GOOD(granule_shift, 12);
	GOOD(granule_shift, 14);
	GOOD(granule_shift, 16);
	BAD(start_pfn, 1 << 20);		/* start == end */
	BAD(start_pfn, (1 << 20) + 1);		/* start > end */
	BAD(start_pfn, UINT64_MAX);
	BAD(end_pfn, 0);
	BAD(end_pfn, 1);			/* start 1 == end 1 */
	BAD(end_pfn, (1ull << 52) + 1);
	BAD(end_pfn, UINT64_MAX);
	GOOD(end_pfn, 1ull << 52);
	GOOD(end_pfn, 2);			/* one granule */
	BAD(max_cached_order, IOVX_IOVA_MAX_CACHED_ORDER + 1);
	BAD(max_cached_order, 64);
	BAD(max_cached_order, ~0u);
	GOOD(max_cached_order, 0);
	GOOD(max_cached_order, IOVX_IOVA_MAX_CACHED_ORDER);
	BAD(flags, 1u << 2);
	BAD(flags, 1u << 31);
	BAD(flags, IOVX_IOVA_CHECKED | (1u << 5));
	GOOD(flags, IOVX_IOVA_CHECKED | IOVX_IOVA_NO_CACHE);
	GOOD(depot_max, 1);
	GOOD(depot_max, 1000);
#undef BAD
#undef GOOD

	/* Only pfn 0: the header allows it (start < end), but nothing can be handed out. */
	iovx_iova_config_init(&cfg, 0, 1);
	dom = NULL;
	ret = iovx_iova_domain_create(&cfg, &dom);
	assert_true(ret == 0 || ret == -EINVAL);
	if (!ret)
		assert_true(iovx_iova_alloc(dom, 1, NO_LIMIT) < 0);
	iovx_iova_domain_destroy(dom);
	iovx_iova_domain_destroy(NULL);
}

static void test_null_domain(void **state)
{
	struct iovx_iova_stats st;
	struct iovx_iova_domain *dom = mkdom(1, 1024, 0);

	(void)state;
	assert_int_equal(iovx_iova_alloc(NULL, 1, NO_LIMIT), -EINVAL);
	assert_int_equal(iovx_iova_free(NULL, 1, 1), -EINVAL);
	assert_int_equal(iovx_iova_reserve(NULL, 1, 1), -EINVAL);
	assert_int_equal(iovx_iova_reclaim(NULL), -EINVAL);
	assert_int_equal(iovx_iova_get_stats(NULL, &st), -EINVAL);
	assert_int_equal(iovx_iova_get_stats(dom, NULL), -EINVAL);
	assert_int_equal(iovx_iova_audit(NULL, &st), -EINVAL);
	assert_int_equal(iovx_iova_audit(dom, NULL), -EINVAL);
	iovx_iova_domain_destroy(dom);
}

/* A fresh domain: everything but pfn 0 is free, and get_stats agrees with audit. */
static void test_fresh_stats(void **state)
{
	static const uint64_t geo[][2] = {
		{ 0, 1024 }, { 1, 1024 }, { 5, 1000 }, { 1ull << 40, (1ull << 40) + 777 },
		{ 1, 1ull << 52 }, { 0, 1ull << 32 },
	};
	struct iovx_iova_stats a, s;

	(void)state;
	for (size_t i = 0; i < sizeof(geo) / sizeof(geo[0]); i++) {
		struct iovx_iova_domain *dom = mkdom(geo[i][0], geo[i][1], 0);
		uint64_t total = geo[i][1] - geo[i][0];
		uint64_t res = geo[i][0] == 0;

		/*
		 * The header counts pfn 0 in total and in reserved; counting it in neither
		 * closes the sums too. What must hold: total - reserved is the usable space.
		 */
		audit_ok(dom, &a);
		assert_true(a.total == total || (res && a.total == total - 1));
		assert_int_equal(a.total - a.reserved, total - res);
		assert_int_equal(a.live, 0);
		assert_int_equal(a.cached + a.depot, 0);
		assert_int_equal(a.backend_free, total - res);
		assert_int_equal(iovx_iova_get_stats(dom, &s), 0);
		assert_int_equal(s.total, a.total);
		assert_int_equal(s.reserved, a.reserved);
		assert_int_equal(s.live, 0);
		assert_int_equal(s.backend_free, total - res);
		assert_true(s.mag_size > 0);
		assert_true(s.nr_cpu_slots > 0);
		assert_true(s.percpu_mode <= 2);
		iovx_iova_domain_destroy(dom);
	}
}

/* ------------------------------------------------------------------ alignment */

static void alignment_pass(struct iovx_iova_config *cfg)
{
	enum { MAXN = 1100 };
	uint64_t start = cfg->start_pfn, end = cfg->end_pfn;
	struct iovx_iova_domain *dom = mkdom_cfg(cfg);
	static uint64_t pfns[MAXN + 1];
	struct iovx_iova_stats st;
	struct shadow sh;
	uint64_t live = 0;

	shadow_init(&sh, start, end - start);
	for (uint64_t n = 1; n <= MAXN; n++) {
		pfns[n] = check_alloc(&sh, iovx_iova_alloc(dom, n, NO_LIMIT), n, start, end,
				      NO_LIMIT);
		live += acct(n);
	}
	audit_ok(dom, &st);
	assert_int_equal(st.live, live);

	/* Free the odd sizes, then take them again largest first: reuse keeps alignment. */
	for (uint64_t n = 1; n <= MAXN; n += 2) {
		assert_int_equal(iovx_iova_free(dom, pfns[n], n), 0);
		shadow_release(&sh, pfns[n], acct(n));
		live -= acct(n);
	}
	audit_ok(dom, &st);
	assert_int_equal(st.live, live);
	for (uint64_t n = MAXN - (MAXN % 2 == 0); n >= 1; n -= 2) {
		pfns[n] = check_alloc(&sh, iovx_iova_alloc(dom, n, NO_LIMIT), n, start, end,
				      NO_LIMIT);
		live += acct(n);
		if (n < 2)
			break;
	}
	/* Cross-size reuse: a freed 3 (4-aligned) may come back for a 4, still aligned. */
	for (uint64_t n = 1; n <= MAXN; n++) {
		assert_int_equal(iovx_iova_free(dom, pfns[n], n), 0);
		shadow_release(&sh, pfns[n], acct(n));
		live -= acct(n);
		if (n % 3 == 0) {
			uint64_t m = rp2(n);

			if (m <= MAXN) {
				uint64_t p = check_alloc(&sh, iovx_iova_alloc(dom, m, NO_LIMIT), m,
							 start, end, NO_LIMIT);
				assert_int_equal(iovx_iova_free(dom, p, m), 0);
				shadow_release(&sh, p, acct(m));
			}
		}
	}
	audit_ok(dom, &st);
	assert_int_equal(st.live, 0);
	assert_int_equal(live, 0);
	shadow_fini(&sh);
	iovx_iova_domain_destroy(dom);
}

static void test_alignment(void **state)
{
	struct iovx_iova_config cfg;

	(void)state;
	iovx_iova_config_init(&cfg, 1, 1 << 22);
	alignment_pass(&cfg);
	iovx_iova_config_init(&cfg, 3, (1 << 22) + 5);	/* odd start and end */
	cfg.max_cached_order = IOVX_IOVA_MAX_CACHED_ORDER;
	alignment_pass(&cfg);
	iovx_iova_config_init(&cfg, 0, 1 << 22);
	cfg.flags = IOVX_IOVA_NO_CACHE | IOVX_IOVA_CHECKED;
	alignment_pass(&cfg);
	iovx_iova_config_init(&cfg, (1ull << 44) + 1, (1ull << 44) + (1 << 22));
	cfg.max_cached_order = 0;
	cfg.depot_max = 1;
	alignment_pass(&cfg);
}

/* ------------------------------------------------------------------ limits */

static void test_limit_32bit(void **state)
{
	const uint64_t lim = 1ull << 20;	/* a 32-bit DMA mask at 4 KiB granules */
	const uint64_t end = 1ull << 24;
	struct iovx_iova_domain *dom = mkdom(1, end, 0);
	struct iovx_iova_stats st;
	struct shadow sh;
	uint64_t below = 0, n, count = 0;
	int64_t r;

	(void)state;
	shadow_init(&sh, 0, end);
	/* Fill everything below the limit with 256-granule blocks (plus smaller ones)... */
	for (;;) {
		n = (count % 7 == 3) ? 5 : 256;
		r = iovx_iova_alloc(dom, n, lim);
		if (r == -ENOMEM)
			break;
		check_alloc(&sh, r, n, 1, end, lim);
		below += acct(n);
		count++;
		assert_true(below <= lim);
	}
	/* ...then single granules: every pfn of [1, lim) ends up live, none above. */
	while ((r = iovx_iova_alloc(dom, 1, lim)) != -ENOMEM) {
		check_alloc(&sh, r, 1, 1, end, lim);
		below++;
		assert_true(below <= lim);
	}
	assert_int_equal(below, lim - 1);
	/* The space above the limit stays usable. */
	r = iovx_iova_alloc(dom, 256, NO_LIMIT);
	check_alloc(&sh, r, 256, 1, end, NO_LIMIT);
	assert_true((uint64_t)r >= lim);
	r = iovx_iova_alloc(dom, 1ull << 20, NO_LIMIT);
	check_alloc(&sh, r, 1ull << 20, 1, end, NO_LIMIT);
	/* A limit beyond the domain's end is the end. */
	r = iovx_iova_alloc(dom, 1000, end + 12345);
	check_alloc(&sh, r, 1000, 1, end, end);
	audit_ok(dom, &st);
	assert_int_equal(st.live, below + acct(256) + acct(1ull << 20) + acct(1000));
	shadow_fini(&sh);
	iovx_iova_domain_destroy(dom);
}

static void test_limit_exact_and_einval(void **state)
{
	struct iovx_iova_domain *dom = mkdom(100, 1000, IOVX_IOVA_CHECKED);
	struct iovx_iova_stats a, b;
	int64_t r;

	(void)state;
	audit_ok(dom, &a);
	/* Limits that leave no room above start_pfn. */
	assert_int_equal(iovx_iova_alloc(dom, 1, 0), -EINVAL);
	assert_int_equal(iovx_iova_alloc(dom, 1, 50), -EINVAL);
	assert_int_equal(iovx_iova_alloc(dom, 1, 100), -EINVAL);
	assert_int_equal(iovx_iova_alloc(dom, 8, 107), -EINVAL);
	/* Sizes: zero, larger than the domain, and values whose roundup overflows. */
	assert_int_equal(iovx_iova_alloc(dom, 0, NO_LIMIT), -EINVAL);
	assert_int_equal(iovx_iova_alloc(dom, 1024, NO_LIMIT), -EINVAL);
	assert_int_equal(iovx_iova_alloc(dom, 1ull << 40, NO_LIMIT), -EINVAL);
	assert_int_equal(iovx_iova_alloc(dom, (1ull << 63) + 1, NO_LIMIT), -EINVAL);
	assert_int_equal(iovx_iova_alloc(dom, UINT64_MAX, NO_LIMIT), -EINVAL);
	audit_ok(dom, &b);
	assert_same_state(&a, &b);
	assert_int_equal(b.alloc_failures, a.alloc_failures);

	/* The tightest limits that work: pfn + n <= limit, exclusive. */
	r = iovx_iova_alloc(dom, 1, 101);
	assert_int_equal(r, 100);
	r = iovx_iova_alloc(dom, 1, 102);
	assert_int_equal(r, 101);
	assert_int_equal(iovx_iova_alloc(dom, 2, 102), -ENOMEM);	/* [100,102) is taken */
	r = iovx_iova_alloc(dom, 16, 128);
	assert_int_equal(r, 112);
	r = iovx_iova_alloc(dom, 3, 107);	/* 4-aligned, pfn + 3 <= 107: only 104 */
	if (limit_by_block) {
		/* pfn + 4 <= 107: only 100, taken. */
		assert_int_equal(r, -ENOMEM);
		r = iovx_iova_alloc(dom, 3, 108);
	}
	assert_int_equal(r, 104);
	assert_int_equal(iovx_iova_alloc(dom, 16, 128), -ENOMEM);
	/* 256-blocks that fit in [100, 1000): 256 and 512 only. */
	r = iovx_iova_alloc(dom, 256, NO_LIMIT);
	assert_true(r == 256 || r == 512);
	r = iovx_iova_alloc(dom, 200, NO_LIMIT);
	assert_true(r == 256 || r == 512);
	assert_int_equal(iovx_iova_alloc(dom, 129, NO_LIMIT), -ENOMEM);
	audit_ok(dom, &b);
	assert_int_equal(b.live, acct(1) * 2 + acct(16) + acct(3) + acct(256) + acct(200));
	assert_int_equal(b.alloc_failures, a.alloc_failures + 3 + limit_by_block);
	iovx_iova_domain_destroy(dom);
}

/* A limit near 2^52 and a domain at the top of the range. */
static void test_limit_high(void **state)
{
	const uint64_t top = 1ull << 52;
	struct iovx_iova_domain *dom = mkdom(top - (1 << 16), top, 0);
	int64_t r;

	(void)state;
	r = iovx_iova_alloc(dom, 1 << 15, NO_LIMIT);
	check_alloc(NULL, r, 1 << 15, top - (1 << 16), top, top);
	r = iovx_iova_alloc(dom, 1, top - (1 << 15));
	check_alloc(NULL, r, 1, top - (1 << 16), top, top - (1 << 15));
	assert_int_equal(iovx_iova_alloc(dom, 1, top - (1 << 16)), -EINVAL);
	assert_int_equal(iovx_iova_free(dom, top, 1), -EINVAL);
	assert_int_equal(iovx_iova_free(dom, top - 1, 2), -EINVAL);
	iovx_iova_domain_destroy(dom);
}

/* ------------------------------------------------------------------ pfn 0 */

static void test_pfn0_never(void **state)
{
	(void)state;
	for (uint64_t start = 0; start <= 1; start++) {
		for (unsigned int flags = 0; flags <= IOVX_IOVA_NO_CACHE; flags += 2) {
			struct iovx_iova_domain *dom = mkdom(start, 16, flags);
			struct iovx_iova_stats st;
			unsigned int count = 0;
			int64_t r;

			while ((r = iovx_iova_alloc(dom, 1, NO_LIMIT)) > 0)
				count++;
			assert_int_equal(r, -ENOMEM);
			assert_int_equal(count, 15);
			audit_ok(dom, &st);
			assert_int_equal(st.total - st.reserved, 15);
			assert_int_equal(st.live, 15);
			assert_int_equal(st.backend_free + st.cached + st.depot, 0);
			assert_int_equal(iovx_iova_free(dom, 1, 1), 0);
			assert_int_equal(iovx_iova_alloc(dom, 1, NO_LIMIT), 1);
			iovx_iova_domain_destroy(dom);
		}
	}
	{
		struct iovx_iova_domain *dom = mkdom(0, 4, 0);
		int64_t r;

		assert_int_equal(iovx_iova_alloc(dom, 2, NO_LIMIT), 2);
		assert_int_equal(iovx_iova_alloc(dom, 2, NO_LIMIT), -ENOMEM);
		r = iovx_iova_alloc(dom, 4, NO_LIMIT);	/* its only block holds pfn 0 */
		assert_true(r == -ENOMEM || r == -EINVAL);
		r = iovx_iova_alloc(dom, 1, 1);		/* only pfn 0 below the limit */
		assert_true(r == -ENOMEM || r == -EINVAL);
		assert_int_equal(iovx_iova_alloc(dom, 1, 2), 1);
		iovx_iova_domain_destroy(dom);
	}
}

/* ------------------------------------------------------------------ exhaustion */

/* [1024, 2048): exactly one aligned 1024 block, so a 1024 alloc needs every granule back. */
#define EX_START 1024
#define EX_END 2048

static void fill_ones(struct iovx_iova_domain *dom, int64_t *pfns)
{
	int64_t r;
	unsigned int i = 0;

	while ((r = iovx_iova_alloc(dom, 1, NO_LIMIT)) > 0) {
		assert_true(i < EX_END - EX_START);
		assert_true(r >= EX_START && r < EX_END);
		pfns[i++] = r;
	}
	assert_int_equal(r, -ENOMEM);
	assert_int_equal(i, EX_END - EX_START);
}

static void test_exhaustion_reclaims_own_cache(void **state)
{
	static int64_t pfns[EX_END - EX_START];
	struct iovx_iova_domain *dom = mkdom(EX_START, EX_END, 0);
	struct iovx_iova_stats st;
	int64_t r;

	(void)state;
	for (int round = 0; round < 3; round++) {
		fill_ones(dom, pfns);
		assert_int_equal(iovx_iova_alloc(dom, 2, NO_LIMIT), -ENOMEM);
		audit_ok(dom, &st);
		assert_int_equal(st.live, EX_END - EX_START);
		for (unsigned int i = 0; i < EX_END - EX_START; i++)
			assert_int_equal(iovx_iova_free(dom, pfns[i], 1), 0);
		audit_ok(dom, &st);
		assert_int_equal(st.live, 0);
		/* Design §4: frees of cached classes go to magazines first. */
		assert_true(st.cached + st.depot > 0);
		r = iovx_iova_alloc(dom, 1024, NO_LIMIT);
		assert_int_equal(r, EX_START);
		audit_ok(dom, &st);
		assert_int_equal(st.live, 1024);
		assert_true(st.reclaims >= 1);
		assert_int_equal(iovx_iova_free(dom, r, 1024), 0);
	}
	iovx_iova_domain_destroy(dom);
}

struct helper {
	struct iovx_iova_domain *dom;
	int64_t *pfns;
	unsigned int from, to;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int phase;		/* 1: frees done; 2: main says exit */
};

static void *helper_free(void *arg)
{
	struct helper *h = arg;

	for (unsigned int i = h->from; i < h->to; i++)
		if (iovx_iova_free(h->dom, h->pfns[i], 1))
			abort();
	pthread_mutex_lock(&h->lock);
	h->phase = 1;
	pthread_cond_broadcast(&h->cond);
	while (h->phase != 2)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/*
 * Ranges freed by other threads sit in their caches: one thread stays alive and idle, one
 * has exited. A 1024 alloc from the main thread still succeeds: the allocator reclaims.
 */
static void test_exhaustion_reclaims_other_threads(void **state)
{
	static int64_t pfns[EX_END - EX_START];
	struct iovx_iova_domain *dom = mkdom(EX_START, EX_END, 0);
	struct helper h[2];
	pthread_t t[2];
	struct iovx_iova_stats st;

	(void)state;
	fill_ones(dom, pfns);
	for (int i = 0; i < 2; i++) {
		memset(&h[i], 0, sizeof(h[i]));
		h[i].dom = dom;
		h[i].pfns = pfns;
		h[i].from = i * 512;
		h[i].to = i * 512 + 512;
		pthread_mutex_init(&h[i].lock, NULL);
		pthread_cond_init(&h[i].cond, NULL);
		assert_int_equal(pthread_create(&t[i], NULL, helper_free, &h[i]), 0);
		pthread_mutex_lock(&h[i].lock);
		while (h[i].phase != 1)
			pthread_cond_wait(&h[i].cond, &h[i].lock);
		pthread_mutex_unlock(&h[i].lock);
	}
	/* helper 1 exits; helper 0 stays idle until the end. */
	pthread_mutex_lock(&h[1].lock);
	h[1].phase = 2;
	pthread_cond_broadcast(&h[1].cond);
	pthread_mutex_unlock(&h[1].lock);
	pthread_join(t[1], NULL);

	audit_ok(dom, &st);
	assert_int_equal(st.live, 0);
	assert_true(st.cached + st.depot > 0);
	assert_int_equal(iovx_iova_alloc(dom, 1024, NO_LIMIT), EX_START);
	assert_int_equal(iovx_iova_free(dom, EX_START, 1024), 0);
	fill_ones(dom, pfns);

	pthread_mutex_lock(&h[0].lock);
	h[0].phase = 2;
	pthread_cond_broadcast(&h[0].cond);
	pthread_mutex_unlock(&h[0].lock);
	pthread_join(t[0], NULL);
	for (int i = 0; i < 2; i++) {
		pthread_mutex_destroy(&h[i].lock);
		pthread_cond_destroy(&h[i].cond);
	}
	iovx_iova_domain_destroy(dom);	/* with everything live: no leak under ASan */
}

/* Mixed sizes: -ENOMEM only when no aligned block is free in the test's own model. */
static void test_exhaustion_mixed(void **state)
{
	const uint64_t start = 5, end = 4096 + 5;
	struct iovx_iova_domain *dom = mkdom(start, end, 0);
	static struct { uint64_t pfn, n; } blk[4096];
	unsigned int nblk = 0;
	struct shadow sh;
	struct iovx_iova_stats st;
	uint64_t seed = 12345, live = 0;

	(void)state;
	shadow_init(&sh, 0, end);
	for (int step = 0; step < 20000; step++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t x = seed >> 33;

		if (nblk && (x % 5 < 2 || nblk == 4096)) {
			unsigned int i = (x >> 8) % nblk;

			assert_int_equal(iovx_iova_free(dom, blk[i].pfn, blk[i].n), 0);
			shadow_release(&sh, blk[i].pfn, acct(blk[i].n));
			live -= acct(blk[i].n);
			blk[i] = blk[--nblk];
		} else {
			uint64_t n = 1 + (x >> 8) % ((x & 0x80) ? 9 : 300);
			uint64_t p = rp2(n);
			int64_t r = iovx_iova_alloc(dom, n, NO_LIMIT);

			if (r == -ENOMEM) {
				/* No aligned p-block may be wholly free. */
				for (uint64_t b = (start + p - 1) & ~(p - 1); b + p <= end; b += p) {
					uint64_t i;

					for (i = 0; i < p && !sh.m[b + i]; i++)
						;
					if (i == p) {
						print_error("alloc(%llu) -ENOMEM but [%llu,+%llu) free\n",
							    (unsigned long long)n,
							    (unsigned long long)b,
							    (unsigned long long)p);
						fail();
					}
				}
				continue;
			}
			check_alloc(&sh, r, n, start, end, NO_LIMIT);
			blk[nblk].pfn = r;
			blk[nblk++].n = n;
			live += acct(n);
		}
		if (step % 1000 == 0) {
			audit_ok(dom, &st);
			assert_int_equal(st.live, live);
		}
	}
	shadow_fini(&sh);
	iovx_iova_domain_destroy(dom);
}

/* ------------------------------------------------------------------ reserve */

static void test_reserve(void **state)
{
	const uint64_t start = 1, end = 4096;
	struct iovx_iova_domain *dom = mkdom(start, end, 0);
	struct iovx_iova_stats a, b;
	struct shadow sh;
	uint64_t res = 0, got = 0;
	int64_t r;

	(void)state;
	shadow_init(&sh, 0, end);
	assert_int_equal(iovx_iova_reserve(dom, 100, 37), 0);		/* odd, misaligned */
	res += 37;
	assert_int_equal(iovx_iova_reserve(dom, 1000, 1), 0);
	res += 1;
	assert_int_equal(iovx_iova_reserve(dom, 4000, 1000), 0);	/* tail outside */
	res += end - 4000;
	assert_int_equal(iovx_iova_reserve(dom, 0, 10), 0);		/* head outside */
	res += 9;
	assert_int_equal(iovx_iova_reserve(dom, 1ull << 40, 5), 0);	/* wholly outside */
	audit_ok(dom, &a);
	assert_int_equal(a.reserved, res);
	for (uint64_t p = 100; p < 137; p++)
		sh.m[p] = 2;
	sh.m[1000] = 2;
	for (uint64_t p = 4000; p < end; p++)
		sh.m[p] = 2;
	for (uint64_t p = 1; p < 10; p++)
		sh.m[p] = 2;

	/* Errors change nothing. */
	assert_int_equal(iovx_iova_reserve(dom, 200, 0), -EINVAL);
	assert_int_equal(iovx_iova_reserve(dom, UINT64_MAX - 5, 10), -EINVAL);
	assert_int_equal(iovx_iova_reserve(dom, 1, UINT64_MAX), -EINVAL);
	audit_ok(dom, &b);
	assert_same_state(&a, &b);

	/* Everything else can be allocated, nothing reserved ever is. */
	for (;;) {
		r = iovx_iova_alloc(dom, 1, NO_LIMIT);
		if (r == -ENOMEM)
			break;
		check_alloc(&sh, r, 1, start, end, NO_LIMIT);
		got++;
	}
	assert_int_equal(got, end - start - res);
	iovx_iova_domain_destroy(dom);
	shadow_fini(&sh);

	/* Mixed sizes around an MSI-like window. */
	dom = mkdom(1, 1 << 16, 0);
	shadow_init(&sh, 0, 1 << 16);
	assert_int_equal(iovx_iova_reserve(dom, 0x3003, 0x1ff1), 0);
	for (uint64_t p = 0x3003; p < 0x3003 + 0x1ff1; p++)
		sh.m[p] = 2;
	for (uint64_t n = 1;; n = n % 700 + 1) {
		r = iovx_iova_alloc(dom, n, NO_LIMIT);
		if (r == -ENOMEM)
			break;
		check_alloc(&sh, r, n, 1, 1 << 16, NO_LIMIT);
	}
	shadow_fini(&sh);
	iovx_iova_domain_destroy(dom);
}

/* Every small (pfn, n) on fresh small domains: bookkeeping exact, nothing reserved handed out. */
static void test_reserve_sweep(void **state)
{
	(void)state;
	for (uint64_t start = 0; start <= 5; start += 5) {
		const uint64_t end = 64 + start;

		for (uint64_t pfn = 0; pfn < end + 4; pfn++) {
			for (uint64_t n = 1; n <= 9; n++) {
				struct iovx_iova_domain *dom = mkdom(start, end, 0);
				uint64_t lo = start ? start : 1, inside = 0, got = 0;
				struct iovx_iova_stats st;
				int64_t r;

				for (uint64_t q = pfn; q < pfn + n; q++)
					inside += q >= lo && q < end;
				assert_int_equal(iovx_iova_reserve(dom, pfn, n), 0);
				if (iovx_iova_audit(dom, &st)) {
					print_error("[%llu, %llu): reserve(%llu, %llu) then audit fails\n",
						    (unsigned long long)start, (unsigned long long)end,
						    (unsigned long long)pfn, (unsigned long long)n);
					fail();
				}
				assert_int_equal(st.total - st.reserved, end - lo - inside);
				while ((r = iovx_iova_alloc(dom, 1, NO_LIMIT)) > 0) {
					assert_true((uint64_t)r < pfn || (uint64_t)r >= pfn + n);
					got++;
				}
				assert_int_equal(r, -ENOMEM);
				assert_int_equal(got, end - lo - inside);
				iovx_iova_domain_destroy(dom);
			}
		}
	}
}

static void test_reserve_busy(void **state)
{
	(void)state;
	for (unsigned int flags = 0; flags <= IOVX_IOVA_NO_CACHE; flags += IOVX_IOVA_NO_CACHE) {
		struct iovx_iova_domain *dom = mkdom(1, 1 << 12, flags | IOVX_IOVA_CHECKED);
		struct iovx_iova_stats a, b;
		int64_t p = iovx_iova_alloc(dom, 8, NO_LIMIT);
		int64_t q = iovx_iova_alloc(dom, 1, NO_LIMIT);

		assert_true(p > 0 && q > 0);
		audit_ok(dom, &a);
		/* Overlapping a live allocation, by its first, last or one inner granule. */
		assert_int_equal(iovx_iova_reserve(dom, p - 3, 4), -EBUSY);
		assert_int_equal(iovx_iova_reserve(dom, p + 7, 100), -EBUSY);
		assert_int_equal(iovx_iova_reserve(dom, p + 3, 1), -EBUSY);
		assert_int_equal(iovx_iova_reserve(dom, q, 1), -EBUSY);
		assert_int_equal(iovx_iova_reserve(dom, 0, 1 << 20), -EBUSY);
		audit_ok(dom, &b);
		assert_same_place(&a, &b);
		/* The allocation is intact and can be freed with its size. */
		assert_int_equal(iovx_iova_free(dom, p, 8), 0);
		if (!(flags & IOVX_IOVA_NO_CACHE)) {
			audit_ok(dom, &a);
			assert_true(a.cached + a.depot >= 8);
		}
		/* Freed, even if cached: reserve pulls it back instead of -EBUSY. */
		assert_int_equal(iovx_iova_reserve(dom, p, 8), 0);
		/* A reserved range can no longer be freed, nor allocated. */
		assert_int_equal(iovx_iova_free(dom, p, 8), -EFAULT);
		audit_ok(dom, &b);
		assert_int_equal(b.reserved, 8);
		assert_int_equal(b.live, acct(1));
		/* Re-reserving a reserved range is not -EBUSY (neither allocated nor cached). */
		assert_int_equal(iovx_iova_reserve(dom, p, 8), 0);
		audit_ok(dom, &a);
		assert_int_equal(a.reserved, 8);
		iovx_iova_domain_destroy(dom);
	}
}

/* ------------------------------------------------------------------ free errors */

static void test_free_errors(void **state)
{
	(void)state;
	for (unsigned int flags = 0; flags <= 3; flags++) {
		const uint64_t start = 16, end = 1024;
		struct iovx_iova_domain *dom = mkdom(start, end, flags);
		struct iovx_iova_stats a, b;
		int64_t p4 = iovx_iova_alloc(dom, 4, NO_LIMIT);
		int64_t p1 = iovx_iova_alloc(dom, 1, NO_LIMIT);
		int64_t p5 = iovx_iova_alloc(dom, 5, NO_LIMIT);
		int64_t c = iovx_iova_alloc(dom, 2, NO_LIMIT);

		assert_true(p4 > 0 && p1 > 0 && p5 > 0 && c > 0);
		assert_int_equal(iovx_iova_free(dom, c, 2), 0);	/* something cached too */
		audit_ok(dom, &a);

		assert_int_equal(iovx_iova_free(dom, p4, 0), -EINVAL);
		assert_int_equal(iovx_iova_free(dom, p4 + 1, 4), -EINVAL);
		assert_int_equal(iovx_iova_free(dom, p4 + 2, 4), -EINVAL);
		assert_int_equal(iovx_iova_free(dom, p5 + 4, 5), -EINVAL);	/* 8-aligned */
		assert_int_equal(iovx_iova_free(dom, p5, 1ull << 40), -EINVAL);
		assert_int_equal(iovx_iova_free(dom, 8, 1), -EINVAL);		/* below start */
		assert_int_equal(iovx_iova_free(dom, 0, 1), -EINVAL);
		assert_int_equal(iovx_iova_free(dom, 8, 8), -EINVAL);
		assert_int_equal(iovx_iova_free(dom, end, 1), -EINVAL);	/* at end */
		assert_int_equal(iovx_iova_free(dom, end - 8, 16), -EINVAL);	/* straddles */
		assert_int_equal(iovx_iova_free(dom, 1ull << 52, 1), -EINVAL);
		assert_int_equal(iovx_iova_free(dom, UINT64_MAX, 1), -EINVAL);
		assert_int_equal(iovx_iova_free(dom, 1ull << 63, 1ull << 63), -EINVAL);
		assert_int_equal(iovx_iova_free(dom, 0, UINT64_MAX), -EINVAL);
		assert_int_equal(iovx_iova_free(dom, p1, (1ull << 63) + 1), -EINVAL);
		audit_ok(dom, &b);
		assert_same_state(&a, &b);
		assert_int_equal(iovx_iova_get_stats(dom, &b), 0);
		assert_int_equal(b.live, a.live);

		/* The real frees still work afterwards. */
		assert_int_equal(iovx_iova_free(dom, p4, 4), 0);
		assert_int_equal(iovx_iova_free(dom, p1, 1), 0);
		assert_int_equal(iovx_iova_free(dom, p5, 5), 0);
		audit_ok(dom, &b);
		assert_int_equal(b.live, 0);
		iovx_iova_domain_destroy(dom);
	}
}

/* ------------------------------------------------------------------ checked mode */

static void expect_efault_unchanged(struct iovx_iova_domain *dom, uint64_t pfn, uint64_t n)
{
	struct iovx_iova_stats a, b;
	int ret;

	audit_ok(dom, &a);
	ret = iovx_iova_free(dom, pfn, n);
	if (ret != -EFAULT) {
		print_error("checked free(%#llx, %llu) = %d, want -EFAULT\n",
			    (unsigned long long)pfn, (unsigned long long)n, ret);
		fail();
	}
	audit_ok(dom, &b);
	assert_same_state(&a, &b);
}

static void test_checked(void **state)
{
	(void)state;
	for (unsigned int nc = 0; nc <= IOVX_IOVA_NO_CACHE; nc += IOVX_IOVA_NO_CACHE) {
		const uint64_t start = 0, end = 1 << 12;
		struct iovx_iova_domain *dom = mkdom(start, end, IOVX_IOVA_CHECKED | nc);
		int64_t a = iovx_iova_alloc(dom, 1, NO_LIMIT);
		int64_t b = iovx_iova_alloc(dom, 4, NO_LIMIT);
		int64_t c = iovx_iova_alloc(dom, 3, NO_LIMIT);
		int64_t d = iovx_iova_alloc(dom, 64, NO_LIMIT);
		int64_t e = iovx_iova_alloc(dom, 512, NO_LIMIT);
		int64_t x = iovx_iova_alloc(dom, 16, NO_LIMIT);
		struct iovx_iova_stats st;

		assert_true(a > 0 && b > 0 && c > 0 && d > 0 && e > 0 && x > 0);
		/* x is a never-again-allocated hole: free it, then reclaim it to the backend. */
		assert_int_equal(iovx_iova_free(dom, x, 16), 0);
		expect_efault_unchanged(dom, x, 16);		/* double free, cached */
		iovx_iova_reclaim(dom);
		expect_efault_unchanged(dom, x, 16);		/* double free, in backend */
		expect_efault_unchanged(dom, x, 1);		/* never allocated */
		expect_efault_unchanged(dom, x + 8, 8);
		{
			/* pfn 0 is inside [0, end) but never allocatable: -EFAULT or -EINVAL. */
			struct iovx_iova_stats s0, s1;
			int r0;

			audit_ok(dom, &s0);
			r0 = iovx_iova_free(dom, 0, 1);
			assert_true(r0 == -EFAULT || r0 == -EINVAL);
			audit_ok(dom, &s1);
			assert_same_state(&s0, &s1);
		}

		/* Wrong sizes of live blocks. */
		expect_efault_unchanged(dom, b, 1);
		expect_efault_unchanged(dom, b, 2);
		expect_efault_unchanged(dom, b + 2, 2);
		expect_efault_unchanged(dom, d, 32);
		expect_efault_unchanged(dom, d + 32, 32);
		expect_efault_unchanged(dom, d, 1);
		expect_efault_unchanged(dom, e, 256);
		expect_efault_unchanged(dom, e, 1);
		if ((d & 127) == 0)
			expect_efault_unchanged(dom, d, 128);	/* a larger block around it */
		if ((e & 1023) == 0)
			expect_efault_unchanged(dom, e, 1024);
		if ((a & 1) == 0)
			expect_efault_unchanged(dom, a, 2);

		/* Double frees of every size, in cache and after reclaim. */
		assert_int_equal(iovx_iova_free(dom, a, 1), 0);
		expect_efault_unchanged(dom, a, 1);
		assert_int_equal(iovx_iova_free(dom, c, 3), 0);
		expect_efault_unchanged(dom, c, 3);
		expect_efault_unchanged(dom, c, 4);
		assert_int_equal(iovx_iova_free(dom, e, 512), 0);
		expect_efault_unchanged(dom, e, 512);
		iovx_iova_reclaim(dom);
		expect_efault_unchanged(dom, a, 1);
		expect_efault_unchanged(dom, c, 3);
		expect_efault_unchanged(dom, e, 512);

		/*
		 * Another npages of the same order. Where that order is accounted exactly (the
		 * tail is free space), accepting it would free granules others may hold.
		 */
		{
			int64_t f = iovx_iova_alloc(dom, 300, NO_LIMIT);

			assert_true(f > 0);
			if (!block_acct[order_of(300)]) {
				expect_efault_unchanged(dom, f, 500);
				expect_efault_unchanged(dom, f, 299);
			}
			assert_int_equal(iovx_iova_free(dom, f, 300), 0);
		}

		/* A free of a range that came back from the cache to someone else of another size. */
		assert_int_equal(iovx_iova_free(dom, b, 4), 0);
		int64_t b2 = iovx_iova_alloc(dom, 2, NO_LIMIT);
		assert_true(b2 > 0);
		if (b2 == b || b2 == b + 2)
			expect_efault_unchanged(dom, b, 4);

		audit_ok(dom, &st);
		assert_int_equal(st.live, acct(64) + acct(2));
		assert_int_equal(iovx_iova_free(dom, d, 64), 0);
		assert_int_equal(iovx_iova_free(dom, b2, 2), 0);
		audit_ok(dom, &st);
		assert_int_equal(st.live, 0);
		iovx_iova_domain_destroy(dom);
	}
}

/* ------------------------------------------------------------------ NO_CACHE, classes */

static void test_no_cache(void **state)
{
	struct iovx_iova_domain *dom = mkdom(1, 1 << 16, IOVX_IOVA_NO_CACHE);
	struct iovx_iova_stats a, b;
	static int64_t p[300];

	(void)state;
	audit_ok(dom, &a);
	for (int i = 0; i < 300; i++) {
		p[i] = iovx_iova_alloc(dom, 1 + i % 17, NO_LIMIT);
		assert_true(p[i] > 0);
	}
	for (int i = 0; i < 300; i++) {
		assert_int_equal(iovx_iova_free(dom, p[i], 1 + i % 17), 0);
		audit_ok(dom, &b);
		assert_int_equal(b.cached, 0);
		assert_int_equal(b.depot, 0);
	}
	assert_true(b.backend_allocs - a.backend_allocs >= 300);
	assert_true(b.backend_frees - a.backend_frees >= 300);
	assert_int_equal(b.backend_free, a.backend_free);
	assert_int_equal(iovx_iova_reclaim(dom), 0);
	/* Without caches, a freed range can be reserved at once. */
	assert_int_equal(iovx_iova_reserve(dom, p[0], 1), 0);
	iovx_iova_domain_destroy(dom);
}

static void test_cached_classes(void **state)
{
	struct iovx_iova_config cfg;
	struct iovx_iova_domain *dom;
	struct iovx_iova_stats a, b;
	int64_t p;

	(void)state;
	/* Default: up to IOVX_IOVA_DEFAULT_CACHED_ORDER is cached, the next goes back. */
	dom = mkdom(1, 1 << 16, 0);
	p = iovx_iova_alloc(dom, 1u << IOVX_IOVA_DEFAULT_CACHED_ORDER, NO_LIMIT);
	assert_int_equal(iovx_iova_free(dom, p, 1u << IOVX_IOVA_DEFAULT_CACHED_ORDER), 0);
	audit_ok(dom, &a);
	assert_int_equal(a.cached + a.depot, 1u << IOVX_IOVA_DEFAULT_CACHED_ORDER);
	p = iovx_iova_alloc(dom, 2u << IOVX_IOVA_DEFAULT_CACHED_ORDER, NO_LIMIT);
	assert_int_equal(iovx_iova_free(dom, p, 2u << IOVX_IOVA_DEFAULT_CACHED_ORDER), 0);
	audit_ok(dom, &b);
	assert_int_equal(b.cached + b.depot, 1u << IOVX_IOVA_DEFAULT_CACHED_ORDER);
	assert_true(b.hoard_bound >= 1u << IOVX_IOVA_DEFAULT_CACHED_ORDER);
	iovx_iova_domain_destroy(dom);

	/* max_cached_order 0: only single granules are cached. */
	iovx_iova_config_init(&cfg, 1, 1 << 16);
	cfg.max_cached_order = 0;
	dom = mkdom_cfg(&cfg);
	p = iovx_iova_alloc(dom, 2, NO_LIMIT);
	assert_int_equal(iovx_iova_free(dom, p, 2), 0);
	audit_ok(dom, &a);
	assert_int_equal(a.cached + a.depot, 0);
	p = iovx_iova_alloc(dom, 1, NO_LIMIT);
	assert_int_equal(iovx_iova_free(dom, p, 1), 0);
	audit_ok(dom, &a);
	assert_int_equal(a.cached + a.depot, 1);
	iovx_iova_domain_destroy(dom);

	/* Max order 10: 1024 granules is cached. */
	iovx_iova_config_init(&cfg, 1, 1 << 16);
	cfg.max_cached_order = IOVX_IOVA_MAX_CACHED_ORDER;
	dom = mkdom_cfg(&cfg);
	p = iovx_iova_alloc(dom, 1000, NO_LIMIT);
	assert_int_equal(iovx_iova_free(dom, p, 1000), 0);
	audit_ok(dom, &a);
	assert_int_equal(a.cached + a.depot, acct(1000));
	iovx_iova_domain_destroy(dom);
}

/* ------------------------------------------------------------------ audit, reclaim */

static void test_audit_random(void **state)
{
	const uint64_t start = 7, end = 1 << 15;
	struct iovx_iova_domain *dom = mkdom(start, end, IOVX_IOVA_CHECKED);
	static struct { uint64_t pfn, n; } blk[2048];
	unsigned int nblk = 0;
	uint64_t seed = 99, live = 0, fails = 0;
	struct iovx_iova_stats st, gs;
	struct shadow sh;

	(void)state;
	shadow_init(&sh, 0, end);
	for (int step = 1; step <= 30000; step++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t x = seed >> 29;

		if (nblk && (x % 2 || nblk == 2048)) {
			unsigned int i = (x >> 4) % nblk;

			assert_int_equal(iovx_iova_free(dom, blk[i].pfn, blk[i].n), 0);
			shadow_release(&sh, blk[i].pfn, acct(blk[i].n));
			live -= acct(blk[i].n);
			blk[i] = blk[--nblk];
		} else {
			uint64_t n = 1 + (x >> 4) % ((x & 4) ? 40 : 600);
			uint64_t lim = (x & 8) ? NO_LIMIT : 64 + ((x >> 20) % end);
			int64_t r = iovx_iova_alloc(dom, n, lim);

			if (r == -ENOMEM || r == -EINVAL) {
				if (r == -EINVAL &&
				    ((start + rp2(n) - 1) & ~(rp2(n) - 1)) + lfoot(n) <= lim) {
					print_error("alloc(%llu, limit %llu) = -EINVAL in [%llu, %llu)\n",
						    (unsigned long long)n, (unsigned long long)lim,
						    (unsigned long long)start, (unsigned long long)end);
					fail();
				}
				if (r == -ENOMEM)
					fails++;
				continue;
			}
			check_alloc(&sh, r, n, start, end, lim);
			blk[nblk].pfn = r;
			blk[nblk++].n = n;
			live += acct(n);
		}
		if (step % 500 == 0) {
			audit_ok(dom, &st);
			assert_int_equal(st.live, live);
			assert_int_equal(st.alloc_failures, fails);
			assert_int_equal(st.total, end - start);
			assert_int_equal(iovx_iova_get_stats(dom, &gs), 0);
			assert_int_equal(gs.total, gs.reserved + gs.live + gs.cached + gs.depot +
				       gs.backend_free);
			assert_int_equal(gs.live, live);
			assert_int_equal(gs.cached, st.cached);
			assert_int_equal(gs.depot, st.depot);
			assert_int_equal(gs.backend_free, st.backend_free);
			assert_true(st.cached + st.depot <= st.hoard_bound);
			assert_true(st.mem_bytes > 0);
		}
	}
	shadow_fini(&sh);
	iovx_iova_domain_destroy(dom);
}

static void test_reclaim(void **state)
{
	struct iovx_iova_domain *dom = mkdom(1, 1 << 16, 0);
	struct iovx_iova_stats a, b;
	static int64_t p[500];
	int64_t got;

	(void)state;
	assert_int_equal(iovx_iova_reclaim(dom), 0);
	for (int i = 0; i < 500; i++)
		p[i] = iovx_iova_alloc(dom, 1 << (i % 9), NO_LIMIT);
	for (int i = 0; i < 500; i++)
		assert_int_equal(iovx_iova_free(dom, p[i], 1 << (i % 9)), 0);
	audit_ok(dom, &a);
	assert_true(a.cached + a.depot > 0);
	got = iovx_iova_reclaim(dom);
	assert_int_equal(got, a.cached + a.depot);
	audit_ok(dom, &b);
	assert_int_equal(b.cached, 0);
	assert_int_equal(b.depot, 0);
	assert_int_equal(b.backend_free, a.backend_free + a.cached + a.depot);
	assert_int_equal(b.backend_free, b.total - b.reserved);
	assert_true(b.reclaims > a.reclaims);
	assert_int_equal(iovx_iova_reclaim(dom), 0);
	/* After a reclaim the whole space is one block again (the backend merged). */
	assert_int_equal(iovx_iova_alloc(dom, 1 << 15, NO_LIMIT), 1 << 15);
	iovx_iova_domain_destroy(dom);
}

/*
 * One-way streams: one thread allocates, another frees (a TX completion on another CPU),
 * in rounds; magazines travel between the two CPUs' caches through the depot's exchange
 * slot and stacks. After every round: the audit closes, get_stats agrees with it, nothing
 * is live, the caches and the depot stay within the hoard bound. Then a round of frees
 * far beyond what the caches may hold, and reclaim takes back everything.
 */
#define XT_N 10000

struct xt_arg {
	struct iovx_iova_domain *dom;
	int64_t *pfn;
	unsigned int n, order;
	int err;
};

static void *xt_alloc(void *p)
{
	struct xt_arg *a = p;

	for (unsigned int i = 0; i < a->n; i++) {
		a->pfn[i] = iovx_iova_alloc(a->dom, 1ull << a->order, NO_LIMIT);
		if (a->pfn[i] <= 0)
			a->err = 1;
	}
	return NULL;
}

static void *xt_free(void *p)
{
	struct xt_arg *a = p;

	for (unsigned int i = 0; i < a->n; i++)
		if (a->pfn[i] > 0 && iovx_iova_free(a->dom, a->pfn[i], 1ull << a->order))
			a->err = 1;
	return NULL;
}

static void test_cross_thread_stream(void **state)
{
	struct iovx_iova_domain *dom = mkdom(1, 1 << 20, 0);
	static int64_t pfn[XT_N];
	struct iovx_iova_stats st, gs;
	struct xt_arg a = { .dom = dom, .pfn = pfn };
	pthread_t t;

	(void)state;
	for (unsigned int round = 0; round < 40; round++) {
		a.order = round % 3;
		a.n = 100 + (round * 211) % XT_N;
		assert_int_equal(pthread_create(&t, NULL, xt_alloc, &a), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(pthread_create(&t, NULL, xt_free, &a), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(a.err, 0);
		audit_ok(dom, &st);
		assert_int_equal(st.live, 0);
		assert_true(st.cached + st.depot <= st.hoard_bound);
		assert_int_equal(iovx_iova_get_stats(dom, &gs), 0);
		assert_int_equal(gs.cached, st.cached);
		assert_int_equal(gs.depot, st.depot);
		assert_int_equal(gs.live, 0);
	}
	/* everything allocated by one thread, freed by this one: overflows the caches */
	a.order = 0;
	a.n = XT_N;
	assert_int_equal(pthread_create(&t, NULL, xt_alloc, &a), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	xt_free(&a);
	assert_int_equal(a.err, 0);
	audit_ok(dom, &st);
	assert_int_equal(st.live, 0);
	assert_true(st.cached + st.depot <= st.hoard_bound);
	assert_int_equal(iovx_iova_reclaim(dom), (int64_t)(st.cached + st.depot));
	audit_ok(dom, &st);
	assert_int_equal(st.cached + st.depot, 0);
	assert_int_equal(st.backend_free, st.total);
	iovx_iova_domain_destroy(dom);
}

/*
 * The inline cached paths of iovx/static/iova.h validate with fewer compares than the
 * exported calls (the pop checks v + size <= limit, the free one rotated compare): they must
 * accept and refuse exactly what the exported calls do.
 */
static void test_inline_paths(void **state)
{
	const uint64_t start = 7, end = 1 << 15;
	struct iovx_iova_domain *dom = mkdom(start, end, 0);
	struct iovx_iova_stats a, b;
	static int64_t p[600];

	(void)state;
	/* the order the inline paths compute (a bsr on x86-64 for run-time values) */
	for (uint64_t n = 1; n <= 5000; n++) {
		volatile uint64_t x = n;	/* a run-time value, not a folded constant */
		uint64_t order = 0;

		while ((1ull << order) < n)
			order++;
		assert_int_equal(iovx_iova_order_inline(x), order);
	}
	assert_int_equal(iovx_iova_order_inline(*(volatile uint64_t *)&(uint64_t){ 1ull << 40 }),
			 40);
	/* fill the caches of every small class, so the inline pops hit */
	for (int i = 0; i < 600; i++) {
		p[i] = iovx_iova_alloc_inline(dom, 1 + i % 32, NO_LIMIT);
		assert_true(p[i] > 0);
	}
	for (int i = 0; i < 600; i++)
		assert_int_equal(iovx_iova_free_inline(dom, p[i], 1 + i % 32), 0);
	audit_ok(dom, &a);
	for (uint64_t n = 1; n <= 32; n++) {
		uint64_t sz = rp2(n), first = (start + sz - 1) & ~(sz - 1);
		int64_t v;

		/* limits: below the first block's end, below the size, exact */
		assert_int_equal(iovx_iova_alloc_inline(dom, n, first + sz - 1), -EINVAL);
		assert_int_equal(iovx_iova_alloc_inline(dom, n, sz - 1), -EINVAL);
		assert_int_equal(iovx_iova_alloc_inline(dom, n, 0), -EINVAL);
		assert_int_equal(iovx_iova_alloc_inline(dom, 0, NO_LIMIT), -EINVAL);
		v = iovx_iova_alloc_inline(dom, n, first + sz);
		assert_int_equal(v, (int64_t)first);
		/* frees: misaligned, below start, past the end, wrong size, then right */
		if (sz > 1)
			assert_int_equal(iovx_iova_free_inline(dom, first + 1, n), -EINVAL);
		assert_int_equal(iovx_iova_free_inline(dom, first - sz, n), -EINVAL);
		assert_int_equal(iovx_iova_free_inline(dom, end, n), -EINVAL);
		assert_int_equal(iovx_iova_free_inline(dom, end - sz + 1, n), -EINVAL);
		assert_int_equal(iovx_iova_free_inline(dom, (end & ~(sz - 1)) + sz, n), -EINVAL);
		assert_int_equal(iovx_iova_free_inline(dom, UINT64_MAX & ~(sz - 1), n), -EINVAL);
		assert_int_equal(iovx_iova_free_inline(dom, 0, n), -EINVAL);
		assert_int_equal(iovx_iova_free_inline(dom, first, 0), -EINVAL);
		assert_int_equal(iovx_iova_free_inline(NULL, first, n), -EINVAL);
		assert_int_equal(iovx_iova_free_inline(dom, v, n), 0);
	}
	audit_ok(dom, &b);
	assert_int_equal(b.live, a.live);
	iovx_iova_domain_destroy(dom);
}

/* ------------------------------------------------------------------ fail-Nth */

#define SWEEP_MAX 2000

static void test_fail_nth_create(void **state)
{
	static const uint64_t geo[][2] = { { 1, 1 << 20 }, { 0, 1ull << 52 }, { 3, 5 } };
	struct iovx_iova_config cfg;
	unsigned long n;

	(void)state;
	for (size_t g = 0; g < 3; g++) {
		for (unsigned int flags = 0; flags <= 3; flags++) {
			iovx_iova_config_init(&cfg, geo[g][0], geo[g][1]);
			cfg.flags = flags;
			for (n = 1; n < SWEEP_MAX; n++) {
				struct iovx_iova_domain *dom = NULL;
				unsigned long seen;
				int ret;

				iovx_fail_nth_arm(n);
				ret = iovx_iova_domain_create(&cfg, &dom);
				seen = iovx_fail_nth_seen();
				iovx_fail_nth_disarm();
				if (seen < n) {
					assert_int_equal(ret, 0);
					assert_int_equal(iovx_iova_alloc(dom, 1, NO_LIMIT) > 0, 1);
					iovx_iova_domain_destroy(dom);
					break;
				}
				assert_int_equal(ret, -ENOMEM);
			}
			assert_true(n > 1);	/* create allocates something */
			assert_true(n < SWEEP_MAX);
		}
	}
}

/*
 * Memory follows use: a new domain's per-CPU caches have no magazines; the first cached
 * alloc and free on a CPU create them. Every allocation that first use makes fails in
 * turn: the alloc still succeeds (from the backend), the free still takes the range, the
 * audit stays exact, and the cache is populated by a later use.
 */
static void test_fail_nth_first_use(void **state)
{
	struct iovx_iova_config cfg;
	unsigned long n;

	(void)state;
	iovx_iova_config_init(&cfg, 1, 1 << 20);
	for (n = 1; n < SWEEP_MAX; n++) {
		struct iovx_iova_domain *dom = NULL;
		struct iovx_iova_stats st, st2;
		int64_t pfn[IOVX_IOVA_MAX_CACHED_ORDER + 1];
		unsigned long seen;

		assert_int_equal(iovx_iova_domain_create(&cfg, &dom), 0);
		assert_int_equal(iovx_iova_get_stats(dom, &st), 0);
		iovx_fail_nth_arm(n);
		for (unsigned int o = 0; o <= IOVX_IOVA_MAX_CACHED_ORDER; o++) {
			pfn[o] = iovx_iova_alloc(dom, 1ull << o, NO_LIMIT);
			assert_true(pfn[o] > 0);
		}
		for (unsigned int o = 0; o <= IOVX_IOVA_MAX_CACHED_ORDER; o++)
			assert_int_equal(iovx_iova_free(dom, (uint64_t)pfn[o], 1ull << o), 0);
		seen = iovx_fail_nth_seen();
		iovx_fail_nth_disarm();
		assert_int_equal(iovx_iova_audit(dom, &st2), 0);
		assert_int_equal(st2.live, 0);
		if (seen < n) {
			/* nothing failed: first use created magazines */
			assert_true(st2.mem_bytes > st.mem_bytes);
			assert_true(st2.cached > 0);
			iovx_iova_domain_destroy(dom);
			break;
		}
		/* a later use populates the cache */
		for (unsigned int i = 0; i < 4; i++) {
			int64_t p = iovx_iova_alloc(dom, 1, NO_LIMIT);

			assert_true(p > 0);
			assert_int_equal(iovx_iova_free(dom, (uint64_t)p, 1), 0);
		}
		assert_int_equal(iovx_iova_audit(dom, &st2), 0);
		assert_int_equal(st2.live, 0);
		assert_true(st2.cached > 0);
		iovx_iova_domain_destroy(dom);
	}
	assert_true(n > 1);	/* first use allocates */
	assert_true(n < SWEEP_MAX);
}

/*
 * A class's first magazine serves as both its loaded and its previous magazine until the
 * class first exchanges one with the depot. One range in a fresh domain is counted once by
 * the statistics and the audit; 600 one-granule ranges (more than two magazines of 255)
 * freed and taken again make the class grow its second magazine and use the depot, with
 * every range handed out once and the audit exact; and with each allocation of 1 500 such
 * ranges (new magazines, bitmap nodes) failed in turn (fail-Nth), every alloc and free
 * still succeeds and the audit stays exact.
 */
static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Takes nr one-granule ranges, gives them back, takes nr again: all distinct, held. */
static void first_mag_churn(struct iovx_iova_domain *dom, int64_t *pfn, unsigned int nr)
{
	for (unsigned int i = 0; i < nr; i++) {
		pfn[i] = iovx_iova_alloc(dom, 1, NO_LIMIT);
		assert_true(pfn[i] > 0);
	}
	for (unsigned int i = 0; i < nr; i++)
		assert_int_equal(iovx_iova_free(dom, (uint64_t)pfn[i], 1), 0);
	for (unsigned int i = 0; i < nr; i++) {
		pfn[i] = iovx_iova_alloc(dom, 1, NO_LIMIT);
		assert_true(pfn[i] > 0);
	}
	qsort(pfn, nr, sizeof(*pfn), cmp_i64);
	for (unsigned int i = 1; i < nr; i++)
		assert_true(pfn[i] != pfn[i - 1]);	/* every range handed out once */
}

/* The nr ranges of first_mag_churn are live; the audit is exact before and after freeing. */
static void first_mag_check(struct iovx_iova_domain *dom, int64_t *pfn, unsigned int nr)
{
	struct iovx_iova_stats st, st2;

	assert_int_equal(iovx_iova_audit(dom, &st), 0);
	assert_int_equal(st.live, nr);
	for (unsigned int i = 0; i < nr; i++)
		assert_int_equal(iovx_iova_free(dom, (uint64_t)pfn[i], 1), 0);
	assert_int_equal(iovx_iova_audit(dom, &st), 0);
	assert_int_equal(st.live, 0);
	assert_int_equal(iovx_iova_get_stats(dom, &st2), 0);
	assert_int_equal(st2.cached, st.cached);
	assert_int_equal(st2.depot, st.depot);
}

static void test_first_magazine(void **state)
{
	struct iovx_iova_config cfg;
	struct iovx_iova_domain *dom;
	struct iovx_iova_stats st;
	static int64_t pfn[1500];
	unsigned long n;
	int64_t p;

	(void)state;
	iovx_iova_config_init(&cfg, 1, 1 << 20);
	assert_int_equal(iovx_iova_domain_create(&cfg, &dom), 0);
	p = iovx_iova_alloc(dom, 1, NO_LIMIT);
	assert_true(p > 0);
	assert_int_equal(iovx_iova_free(dom, (uint64_t)p, 1), 0);
	assert_int_equal(iovx_iova_get_stats(dom, &st), 0);
	assert_int_equal(st.cached, 1);		/* one magazine in two roles, counted once */
	assert_int_equal(iovx_iova_audit(dom, &st), 0);
	assert_int_equal(st.cached, 1);
	assert_int_equal(st.live, 0);
	first_mag_churn(dom, pfn, 600);
	first_mag_check(dom, pfn, 600);
	iovx_iova_domain_destroy(dom);

	for (n = 1; n < SWEEP_MAX; n++) {
		unsigned long seen;

		assert_int_equal(iovx_iova_domain_create(&cfg, &dom), 0);
		p = iovx_iova_alloc(dom, 1, NO_LIMIT);
		assert_true(p > 0);
		assert_int_equal(iovx_iova_free(dom, (uint64_t)p, 1), 0);
		iovx_fail_nth_arm(n);
		first_mag_churn(dom, pfn, 1500);
		seen = iovx_fail_nth_seen();
		iovx_fail_nth_disarm();
		first_mag_check(dom, pfn, 1500);
		iovx_iova_domain_destroy(dom);
		if (seen < n)
			break;	/* nothing failed: every growth allocation was covered */
	}
	assert_true(n > 1);	/* the growth allocates */
	assert_true(n < SWEEP_MAX);
}

/* One alloc+free of 2^o granules; the domain's metadata bytes after it. */
static uint64_t use_class(struct iovx_iova_domain *dom, unsigned int o)
{
	struct iovx_iova_stats st;
	int64_t p = iovx_iova_alloc(dom, 1ull << o, NO_LIMIT);

	assert_true(p > 0);
	assert_int_equal(iovx_iova_free(dom, (uint64_t)p, 1ull << o), 0);
	assert_int_equal(iovx_iova_get_stats(dom, &st), 0);
	return st.mem_bytes;
}

/*
 * Memory follows use class by class: on a CPU (the thread is pinned), the first use of a
 * class creates that class's magazine and nothing for the classes it does not use, a
 * second use creates nothing, and the freed range waits in that class's cache. A domain
 * that uses 3 classes costs less than one that uses all of them.
 */
static void test_class_by_class(void **state)
{
	static const unsigned int used[] = { 0, 3, 5 };
	uint64_t before, after, grew[3], sum = 0, cached = 0, all;
	struct iovx_iova_config cfg;
	struct iovx_iova_domain *dom;
	struct iovx_iova_stats st;
	cpu_set_t set, old;
	int cpu = sched_getcpu();

	(void)state;
	assert_true(cpu >= 0);
	assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(old), &old), 0);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	assert_int_equal(pthread_setaffinity_np(pthread_self(), sizeof(set), &set), 0);

	iovx_iova_config_init(&cfg, 1, 1 << 20);
	assert_int_equal(iovx_iova_domain_create(&cfg, &dom), 0);
	assert_int_equal(iovx_iova_get_stats(dom, &st), 0);
	before = st.mem_bytes;
	for (unsigned int i = 0; i < 3; i++) {
		after = use_class(dom, used[i]);
		grew[i] = after - before;
		assert_true(grew[i] > 0);			/* this class's magazine */
		assert_int_equal(use_class(dom, used[i]), after);	/* nothing more */
		before = after;
		sum += grew[i];
		cached += 1ull << used[i];
		assert_int_equal(iovx_iova_get_stats(dom, &st), 0);
		assert_int_equal(st.cached, cached);	/* one range per class used */
	}
	assert_int_equal(grew[1], grew[2]);		/* two magazines of one kind */
	assert_true(grew[0] >= grew[1]);		/* class 0 has the big kind */
	assert_int_equal(iovx_iova_audit(dom, &st), 0);
	assert_int_equal(st.live, 0);
	assert_int_equal(st.cached, cached);
	iovx_iova_domain_destroy(dom);

	assert_int_equal(iovx_iova_domain_create(&cfg, &dom), 0);
	assert_int_equal(iovx_iova_get_stats(dom, &st), 0);
	before = st.mem_bytes;
	all = before;
	for (unsigned int o = 0; o <= IOVX_IOVA_DEFAULT_CACHED_ORDER; o++)
		all = use_class(dom, o);
	assert_true(all - before > sum);
	iovx_iova_domain_destroy(dom);
	assert_int_equal(pthread_setaffinity_np(pthread_self(), sizeof(old), &old), 0);
}

/* ------------------------------------------------------------------ idle trimming */

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * A domain with trim_idle_ns: once nothing uses it, caches and depot give every range back
 * to the backend (the timer; polled here without a time bound of interest: 20 s is only a
 * hang guard), the audit stays exact, and the next use repopulates a cache.
 */
static void test_trim_idle(void **state)
{
	struct iovx_iova_config cfg;
	struct iovx_iova_domain *dom;
	struct iovx_iova_stats st;
	static int64_t pfn[600];
	unsigned int i, waited;

	(void)state;
	iovx_iova_config_init(&cfg, 1, 1 << 20);
	cfg.trim_idle_ns = 5 * 1000 * 1000;
	assert_int_equal(iovx_iova_domain_create(&cfg, &dom), 0);
	for (unsigned int round = 0; round < 2; round++) {
		for (i = 0; i < 600; i++) {
			pfn[i] = iovx_iova_alloc(dom, 1ull << (i % 4), NO_LIMIT);
			assert_true(pfn[i] > 0);
		}
		for (i = 0; i < 600; i++)
			assert_int_equal(iovx_iova_free(dom, (uint64_t)pfn[i], 1ull << (i % 4)), 0);
		assert_int_equal(iovx_iova_get_stats(dom, &st), 0);
		assert_true(st.cached + st.depot > 0);
		for (waited = 0; waited < 20000; waited += 5) {
			assert_int_equal(iovx_iova_get_stats(dom, &st), 0);
			if (st.cached == 0 && st.depot == 0)
				break;
			sleep_ms(5);
		}
		assert_int_equal(st.cached, 0);
		assert_int_equal(st.depot, 0);
		assert_int_equal(iovx_iova_audit(dom, &st), 0);
		assert_int_equal(st.live, 0);
		assert_int_equal(st.backend_free, st.total);
		assert_true(st.trims > 0);
	}
	iovx_iova_domain_destroy(dom);
}

/* Trimming racing allocation: threads use the domain in bursts while the timer trims. */
struct trim_race {
	struct iovx_iova_domain *dom;
	uint8_t *owner;		/* one byte per granule: 1 while some thread holds it */
	unsigned int seed;
	unsigned int errors;
};

static void *trim_racer(void *arg)
{
	struct trim_race *r = arg;
	int64_t held[64];
	unsigned int sz[64];

	for (unsigned int burst = 0; burst < 60; burst++) {
		unsigned int n = 1 + (r->seed = r->seed * 1103515245u + 12345u) % 64;

		for (unsigned int i = 0; i < n; i++) {
			sz[i] = 1u << ((r->seed = r->seed * 1103515245u + 12345u) % 3);
			held[i] = iovx_iova_alloc(r->dom, sz[i], NO_LIMIT);
			if (held[i] <= 0) {
				r->errors++;
				n = i;
				break;
			}
			for (unsigned int g = 0; g < sz[i]; g++)
				if (__atomic_exchange_n(&r->owner[held[i] + g], 1, __ATOMIC_RELAXED))
					r->errors++;	/* handed out twice */
		}
		for (unsigned int i = 0; i < n; i++) {
			for (unsigned int g = 0; g < sz[i]; g++)
				__atomic_store_n(&r->owner[held[i] + g], 0, __ATOMIC_RELAXED);
			if (iovx_iova_free(r->dom, (uint64_t)held[i], sz[i]))
				r->errors++;
		}
		sleep_ms(burst % 3);	/* idle gaps for the trimmer */
	}
	return NULL;
}

static void test_trim_race(void **state)
{
	enum { NT = 4, END = 1 << 14 };
	struct iovx_iova_config cfg;
	struct iovx_iova_stats st;
	struct trim_race r[NT];
	pthread_t t[NT];
	uint8_t *owner = calloc(END, 1);

	(void)state;
	assert_non_null(owner);
	iovx_iova_config_init(&cfg, 1, END);
	cfg.trim_idle_ns = 500 * 1000;
	for (unsigned int i = 0; i < NT; i++) {
		r[i] = (struct trim_race){ .owner = owner, .seed = 7 + i };
		if (!i)
			assert_int_equal(iovx_iova_domain_create(&cfg, &r[0].dom), 0);
		r[i].dom = r[0].dom;
		assert_int_equal(pthread_create(&t[i], NULL, trim_racer, &r[i]), 0);
	}
	for (unsigned int i = 0; i < NT; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].errors, 0);
	}
	assert_int_equal(iovx_iova_audit(r[0].dom, &st), 0);
	assert_int_equal(st.live, 0);
	print_message("[ info ] trims during the race: %llu\n", (unsigned long long)st.trims);
	iovx_iova_domain_destroy(r[0].dom);
	free(owner);
}

enum sweep_op { OP_ALLOC1, OP_ALLOC_BIG, OP_ALLOC_LIMIT, OP_ALLOC_MANY, OP_RESERVE, OP_RESERVE2,
	OP_FREE,
	OP_FREE_MANY, OP_RECLAIM, OP_AUDIT, OP_NR };

struct sweep_ctx {
	int64_t held[256];
	uint64_t held_n[256];
	unsigned int nheld;
};

/* Builds some state (unarmed) so the armed step meets splits, magazines, depot. */
static void sweep_prepare(struct iovx_iova_domain *dom, struct sweep_ctx *c, enum sweep_op op)
{
	c->nheld = 0;
	/* Allocations are swept on a fresh domain: first touches allocate metadata. */
	if (op <= OP_ALLOC_MANY)
		return;
	for (unsigned int i = 0; i < 200; i++) {
		uint64_t n = (op == OP_FREE_MANY) ? 1 : 1 + i % 13;
		int64_t r = iovx_iova_alloc(dom, n, NO_LIMIT);

		assert_true(r > 0);
		c->held[c->nheld] = r;
		c->held_n[c->nheld++] = n;
	}
	if (op == OP_RESERVE2)
		assert_int_equal(iovx_iova_reserve(dom, (1 << 18) + 3, 5), 0);
	if (op == OP_RECLAIM)
		for (unsigned int i = 0; i < 100; i++)
		{
			c->nheld--;
			assert_int_equal(iovx_iova_free(dom, c->held[c->nheld],
							c->held_n[c->nheld]), 0);
		}
}

/* Runs the armed step; returns the live delta it reports, asserts documented results. */
static void sweep_step(struct iovx_iova_domain *dom, struct sweep_ctx *c, enum sweep_op op,
		       int64_t *live_delta, bool *failed)
{
	int64_t r;

	*live_delta = 0;
	*failed = false;
	switch (op) {
	case OP_ALLOC1:
	case OP_ALLOC_BIG:
	case OP_ALLOC_LIMIT: {
		uint64_t n = op == OP_ALLOC1 ? 1 : op == OP_ALLOC_BIG ? 700 : 33;
		uint64_t lim = op == OP_ALLOC_LIMIT ? 1 << 14 : NO_LIMIT;

		r = iovx_iova_alloc(dom, n, lim);
		if (r == -ENOMEM) {
			*failed = true;
			return;
		}
		check_alloc(NULL, r, n, 1, 1 << 20, lim);
		*live_delta = acct(n);
		break;
	}
	case OP_ALLOC_MANY:
		for (unsigned int i = 0; i < 120; i++) {
			uint64_t n = 1 + (i * 37) % 1100;
			uint64_t lim = i % 3 ? NO_LIMIT : 1ull << (17 + i % 4);

			r = iovx_iova_alloc(dom, n, lim);
			if (r == -ENOMEM) {
				*failed = true;
				continue;
			}
			check_alloc(NULL, r, n, 1, 1 << 20, lim);
			*live_delta += acct(n);
			c->held[c->nheld] = r;
			c->held_n[c->nheld++] = n;
			if (i % 2) {
				/* and some frees, which must not fail */
				c->nheld--;
				assert_int_equal(iovx_iova_free(dom, c->held[c->nheld],
								c->held_n[c->nheld]), 0);
				*live_delta -= acct(c->held_n[c->nheld]);
			}
		}
		break;
	case OP_RESERVE:
		r = iovx_iova_reserve(dom, 1 << 19, 12345);
		if (r == -ENOMEM) {
			*failed = true;
			return;
		}
		assert_int_equal(r, 0);
		break;
	case OP_RESERVE2:
		r = iovx_iova_reserve(dom, (1 << 18) + 1, 100);	/* over the reserved 5 */
		if (r == -ENOMEM) {
			*failed = true;
			return;
		}
		assert_int_equal(r, 0);
		break;
	case OP_FREE:
		/* free documents no -ENOMEM: it must succeed whatever allocation fails. */
		for (unsigned int i = 0; i < 10; i++) {
			c->nheld--;
			assert_int_equal(iovx_iova_free(dom, c->held[c->nheld],
							c->held_n[c->nheld]), 0);
			*live_delta -= acct(c->held_n[c->nheld]);
		}
		break;
	case OP_FREE_MANY:
		while (c->nheld) {
			c->nheld--;
			assert_int_equal(iovx_iova_free(dom, c->held[c->nheld],
							c->held_n[c->nheld]), 0);
			*live_delta -= acct(c->held_n[c->nheld]);
		}
		break;
	case OP_RECLAIM:
		assert_true(iovx_iova_reclaim(dom) >= 0);
		break;
	case OP_AUDIT: {
		struct iovx_iova_stats st;

		r = iovx_iova_audit(dom, &st);
		if (r == -ENOMEM) {
			*failed = true;
			return;
		}
		assert_int_equal(r, 0);
		break;
	}
	default:
		fail();
	}
}

static void test_fail_nth_paths(void **state)
{
	static const char *const names[OP_NR] = {
		"alloc 1", "alloc 700", "alloc 33 below a limit", "alloc/free 120 sizes", "reserve", "reserve over reserved",
		"free", "free many", "reclaim", "audit",
	};

	(void)state;
	for (unsigned int flags = 0; flags <= 3; flags++) {
		for (int op = 0; op < OP_NR; op++) {
			unsigned long n, injected_enomem = 0;

			for (n = 1; n < SWEEP_MAX; n++) {
				struct iovx_iova_domain *dom = mkdom(1, 1 << 20, flags);
				struct iovx_iova_stats a, b;
				static struct sweep_ctx c;
				unsigned long seen;
				int64_t delta;
				bool failed;

				sweep_prepare(dom, &c, op);
				audit_ok(dom, &a);
				iovx_fail_nth_arm(n);
				sweep_step(dom, &c, op, &delta, &failed);
				seen = iovx_fail_nth_seen();
				iovx_fail_nth_disarm();
				if (seen < n)
					assert_false(failed);
				audit_ok(dom, &b);
				assert_int_equal(b.live, a.live + delta);
				if (failed) {
					/* -ENOMEM changed nothing but the caches' placement. */
					injected_enomem++;
					assert_int_equal(b.reserved, a.reserved);
				}
				/* The domain still works after the injected failure. */
				int64_t r = iovx_iova_alloc(dom, 2, NO_LIMIT);

				assert_true(r > 0);
				assert_int_equal(iovx_iova_free(dom, r, 2), 0);
				while (c.nheld) {
					c.nheld--;
					assert_int_equal(iovx_iova_free(dom, c.held[c.nheld],
									c.held_n[c.nheld]), 0);
				}
				audit_ok(dom, &b);
				assert_int_equal(b.live, op == OP_ALLOC1 || op == OP_ALLOC_BIG ||
						 op == OP_ALLOC_LIMIT ? (uint64_t)delta : 0);
				if (op == OP_ALLOC_MANY && failed)
					assert_true(seen >= n);
				iovx_iova_domain_destroy(dom);
				if (seen < n)
					break;
			}
			assert_true(n < SWEEP_MAX);
			print_message("[ info ] fail-Nth flags %u %-22s: %lu allocation sites, "
				      "%lu injected -ENOMEM\n", flags, names[op], n - 1,
				      injected_enomem);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_init_defaults),
		cmocka_unit_test(test_create_einval),
		cmocka_unit_test(test_null_domain),
		cmocka_unit_test(test_fresh_stats),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_limit_32bit),
		cmocka_unit_test(test_limit_exact_and_einval),
		cmocka_unit_test(test_limit_high),
		cmocka_unit_test(test_pfn0_never),
		cmocka_unit_test(test_exhaustion_reclaims_own_cache),
		cmocka_unit_test(test_exhaustion_reclaims_other_threads),
		cmocka_unit_test(test_exhaustion_mixed),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_reserve_sweep),
		cmocka_unit_test(test_reserve_busy),
		cmocka_unit_test(test_free_errors),
		cmocka_unit_test(test_checked),
		cmocka_unit_test(test_no_cache),
		cmocka_unit_test(test_cached_classes),
		cmocka_unit_test(test_audit_random),
		cmocka_unit_test(test_reclaim),
		cmocka_unit_test(test_cross_thread_stream),
		cmocka_unit_test(test_inline_paths),
		cmocka_unit_test(test_fail_nth_create),
		cmocka_unit_test(test_fail_nth_first_use),
		cmocka_unit_test(test_first_magazine),
		cmocka_unit_test(test_class_by_class),
		cmocka_unit_test(test_trim_idle),
		cmocka_unit_test(test_trim_race),
		cmocka_unit_test(test_fail_nth_paths),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}

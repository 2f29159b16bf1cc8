// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * kunit.c - the KUnit suite "iovx" of a patched kernel (CONFIG_IOMMU_IOVX_KUNIT_TEST): every
 * self-test case of iovx.ko (tests/kernel/selftest/selftest_*.c: the shim, the IOVA allocator,
 * the DMA facade with deferred invalidation and the reuse table) as one parameter of three
 * parameterised KUnit cases, so KTAP names each of them.
 *
 * A case passes when it returns 0 and the portable code neither warned (IOVX_WARN_ON) nor
 * asserted while it ran; a case that reports itself skipped is a KUnit skip.
 */
#include <kunit/test.h>
#include <linux/string.h>

#include "platform.h"
#include "kglue.h"

/*
 * The self-tests of iovx.ko's exported API (selftest_kapi.c) test the module, not a built-in
 * iovx: the runner's table of them is empty here.
 */
const struct iovx_st_case iovx_st_kapi_cases[] = {
	{ NULL, NULL }
};

static const void *iovx_kunit_next(const struct iovx_st_case *table, const void *prev,
				   char *desc)
{
	const struct iovx_st_case *c = prev ? (const struct iovx_st_case *)prev + 1 : table;

	if (!c->name)
		return NULL;
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
	return c;
}

static const void *iovx_kunit_shim_gen(const void *prev, char *desc)
{
	return iovx_kunit_next(iovx_st_shim_cases, prev, desc);
}

static const void *iovx_kunit_iova_gen(const void *prev, char *desc)
{
	return iovx_kunit_next(iovx_st_iova_cases, prev, desc);
}

static const void *iovx_kunit_dma_gen(const void *prev, char *desc)
{
	return iovx_kunit_next(iovx_st_dma_cases, prev, desc);
}

static void iovx_kunit_run(struct kunit *test)
{
	const struct iovx_st_case *c = test->param_value;
	int warn0, assert0, err;
	struct iovx_st *st;

	st = kunit_kzalloc(test, sizeof(*st), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, st);
	warn0 = atomic_read(&iovx_kernel_warnings);
	assert0 = atomic_read(&iovx_kernel_asserts);
	err = c->fn(st);
	KUNIT_EXPECT_EQ_MSG(test, err, 0, "%s: %s", c->name, st->reason);
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&iovx_kernel_warnings) - warn0, 0,
			    "%s: portable code warned", c->name);
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&iovx_kernel_asserts) - assert0, 0,
			    "%s: portable code asserted", c->name);
	if (!err && st->skipped)
		kunit_skip(test, "%s", st->reason);
}

static void iovx_shim(struct kunit *test)
{
	iovx_kunit_run(test);
}

static void iovx_iova(struct kunit *test)
{
	iovx_kunit_run(test);
}

static void iovx_dma(struct kunit *test)
{
	iovx_kunit_run(test);
}

static struct kunit_case iovx_kunit_cases[] = {
	KUNIT_CASE_PARAM(iovx_shim, iovx_kunit_shim_gen),
	KUNIT_CASE_PARAM(iovx_iova, iovx_kunit_iova_gen),
	KUNIT_CASE_PARAM(iovx_dma, iovx_kunit_dma_gen),
	{}
};

static struct kunit_suite iovx_kunit_suite = {
	.name = "iovx",
	.test_cases = iovx_kunit_cases,
};
kunit_test_suite(iovx_kunit_suite);

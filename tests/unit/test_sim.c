// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_sim.c - unit tests of the software IOMMU (include/iovx/sim.h, iovx/iommu.h ops):
 * page tables in real memory, emptied tables returned by unmap, the IOTLB that only the
 * command queue invalidates, device faults, the I2 checker and the cost model.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <iovx/sim.h>

#define PG 4096ull

static struct iovx_sim *mksim_cfg(unsigned int sets, unsigned int ways, unsigned int q,
				  bool eager)
{
	struct iovx_sim_config c;
	struct iovx_sim *s = NULL;

	iovx_sim_config_init(&c);
	assert_false(c.eager_table_free);
	c.eager_table_free = eager;
	if (sets)
		c.iotlb_sets = sets;
	if (ways)
		c.iotlb_ways = ways;
	if (q)
		c.cmdq_entries = q;
	assert_int_equal(iovx_sim_create(&c, &s), 0);
	return s;
}

/* The default: tables live as long as io-pgtable-arm keeps them. */
static struct iovx_sim *mksim(unsigned int sets, unsigned int ways, unsigned int q)
{
	return mksim_cfg(sets, ways, q, false);
}

/* Every table an unmap empties is detached: the I2 path for table pages on every unmap. */
static struct iovx_sim *mksim_eager(void)
{
	return mksim_cfg(0, 0, 0, true);
}

static struct iovx_sim_stats stats(struct iovx_sim *s)
{
	struct iovx_sim_stats st;

	assert_int_equal(iovx_sim_get_stats(s, &st), 0);
	return st;
}

static void *pages(unsigned int n)
{
	void *p = aligned_alloc(PG, n * PG);

	assert_non_null(p);
	memset(p, 0, n * PG);
	return p;
}

static void test_config_errors(void **state)
{
	struct iovx_sim_config c;
	struct iovx_sim *s = NULL;

	iovx_sim_config_init(&c);
	assert_int_equal(iovx_sim_create(NULL, &s), -EINVAL);
	assert_int_equal(iovx_sim_create(&c, NULL), -EINVAL);
	c.iotlb_sets = 3;
	assert_int_equal(iovx_sim_create(&c, &s), -EINVAL);
	iovx_sim_config_init(&c);
	c.iotlb_ways = 0;
	assert_int_equal(iovx_sim_create(&c, &s), -EINVAL);
	iovx_sim_config_init(&c);
	c.cmdq_entries = 1;
	assert_int_equal(iovx_sim_create(&c, &s), -EINVAL);
	assert_null(s);
	assert_int_equal(iovx_sim_get_stats(NULL, NULL), -EINVAL);
	assert_null(iovx_sim_iommu(NULL));
	assert_null(iovx_sim_from_iommu(NULL));
	iovx_sim_destroy(NULL);
}

static void test_map_walk_data(void **state)
{
	struct iovx_sim *s = mksim(0, 0, 0);
	struct iovx_iommu *io = iovx_sim_iommu(s);
	uint8_t *buf = pages(3), out[100];
	uint64_t iova = 0x7f1234560000ull, phys;
	unsigned int prot, info;

	assert_ptr_equal(iovx_sim_from_iommu(io), s);
	assert_int_equal(io->granule_shift, 12);
	assert_int_equal(io->ias_bits, 48);
	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, 3 * PG, IOVX_IOMMU_READ |
				      IOVX_IOMMU_WRITE, 0), 0);
	assert_int_equal(iovx_sim_iova_to_phys(s, iova + PG + 5, &phys, &prot), 0);
	assert_int_equal(phys, (uintptr_t)buf + PG + 5);
	assert_int_equal(prot, IOVX_IOMMU_READ | IOVX_IOMMU_WRITE);
	assert_int_equal(iovx_sim_iova_to_phys(s, iova + 3 * PG, &phys, &prot), -ENOENT);

	/* Device writes land in host memory, across a page boundary. */
	memset(out, 0xab, sizeof(out));
	assert_int_equal(iovx_sim_dev_write(s, iova + PG - 50, out, 100, &info), 0);
	assert_int_equal(info, 0);	/* misses: filled, not hit */
	assert_int_equal(buf[PG - 50], 0xab);
	assert_int_equal(buf[PG + 49], 0xab);
	assert_int_equal(buf[PG + 50], 0);
	/* Device reads see what the CPU wrote; this time through the IOTLB. */
	buf[2 * PG + 7] = 0x5a;
	assert_int_equal(iovx_sim_dev_read(s, iova + 2 * PG + 7, out, 1, &info), 0);
	assert_int_equal(out[0], 0x5a);
	assert_int_equal(iovx_sim_dev_read(s, iova + PG - 50, out, 100, &info), 0);
	assert_true(info & IOVX_SIM_ACC_IOTLB_HIT);
	assert_false(info & IOVX_SIM_ACC_STALE);
	assert_true(iovx_sim_iotlb_holds(s, iova));
	assert_true(stats(s).iotlb_hits >= 2);
	/* Real memory per PTE: 3 new tables + 3 leaves. */
	assert_int_equal(stats(s).tables_alloc, 4);	/* root + 3 */
	assert_int_equal(stats(s).pte_writes, 6);
	iovx_sim_destroy(s);
	free(buf);
}

static void test_unmap_stale_until_sync(void **state)
{
	struct iovx_sim *s = mksim_eager();
	struct iovx_iommu *io = iovx_sim_iommu(s);
	struct iovx_iommu_freelist fl;
	uint8_t *buf = pages(2), b;
	uint64_t iova = 0x100000;
	unsigned int info;

	iovx_iommu_freelist_init(&fl);
	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, 2 * PG, IOVX_IOMMU_READ, 0), 0);
	assert_int_equal(iovx_sim_dev_read(s, iova, &b, 1, NULL), 0);
	assert_int_equal(io->ops->unmap(io, iova, 2 * PG, &fl), 2 * PG);
	/* Leaf, level-2 and level-1 tables emptied; the root stays. */
	assert_int_equal(fl.nr_pages, 3);
	assert_int_equal(stats(s).tables_emptied, 3);
	/* Not yet invalidated: the cached page still translates (stale), the other faults. */
	assert_int_equal(iovx_sim_dev_read(s, iova, &b, 1, &info), 0);
	assert_true(info & IOVX_SIM_ACC_STALE);
	assert_int_equal(iovx_sim_dev_read(s, iova + PG, &b, 1, NULL), -EFAULT);
	assert_int_equal(stats(s).last_fault_iova, iova + PG);
	/* Issued but not synced: the queue has not processed it yet. */
	assert_int_equal(io->ops->inv_range(io, iova, 2 * PG), 0);
	assert_true(iovx_sim_iotlb_holds(s, iova));
	assert_int_equal(io->ops->sync(io), 0);
	assert_false(iovx_sim_iotlb_holds(s, iova));
	assert_int_equal(iovx_sim_dev_read(s, iova, &b, 1, NULL), -EFAULT);
	io->ops->free_pages(io, &fl);
	assert_null(fl.head);
	assert_int_equal(stats(s).i2_table_violations, 0);
	assert_int_equal(stats(s).tables_freed, 3);
	assert_int_equal(stats(s).stale_hits, 1);
	assert_int_equal(stats(s).faults, 2);
	/* Unmapping nothing returns 0 and frees nothing. */
	assert_int_equal(io->ops->unmap(io, iova, 2 * PG, &fl), 0);
	assert_int_equal(fl.nr_pages, 0);
	iovx_sim_destroy(s);
	free(buf);
}

/*
 * Default table lifetime (io-pgtable-arm): a partial unmap keeps the tables, even empty; the
 * next map below them writes leaves only; an unmap covering a table's whole span detaches
 * it, and it may be freed only after inval + sync, as any detached table.
 */
static void test_tables_kept(void **state)
{
	struct iovx_sim *s = mksim(0, 0, 0);
	struct iovx_iommu *io = iovx_sim_iommu(s);
	struct iovx_iommu_freelist fl;
	uint8_t *buf = pages(2), b;
	uint64_t iova = 0x40000000ull;	/* 1 GiB: a fresh level-2 table */
	uint64_t m0, w0, a0;
	struct iovx_sim_stats st;

	iovx_iommu_freelist_init(&fl);
	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, 2 * PG, IOVX_IOMMU_READ, 0), 0);
	st = stats(s);
	assert_int_equal(st.tables_live, 4);
	assert_int_equal(io->ops->unmap(io, iova, 2 * PG, &fl), 2 * PG);
	assert_int_equal(fl.nr_pages, 0);		/* empty, but not covered: kept */
	st = stats(s);
	assert_int_equal(st.tables_emptied, 0);
	assert_int_equal(st.tables_live, 4);
	assert_int_equal(io->ops->inv_range(io, iova, 2 * PG), 0);
	assert_int_equal(io->ops->sync(io), 0);
	assert_int_equal(iovx_sim_dev_read(s, iova, &b, 1, NULL), -EFAULT);

	/* Steady state: one walk and the leaf PTEs, no table write. */
	st = stats(s);
	m0 = st.model_ns;
	w0 = st.pte_writes;
	a0 = st.tables_alloc;
	assert_int_equal(io->ops->map(io, iova + 4 * PG, (uintptr_t)buf, PG, IOVX_IOMMU_READ, 0),
			 0);
	st = stats(s);
	assert_int_equal(st.pte_writes - w0, 1);
	assert_int_equal(st.tables_alloc, a0);
	assert_int_equal(st.model_ns - m0, 1800 + 500);
	assert_int_equal(iovx_sim_dev_read(s, iova + 4 * PG, &b, 1, NULL), 0);

	/* An unmap of the leaf table's whole 2 MiB detaches it, not the 1 GiB table above. */
	assert_int_equal(io->ops->unmap(io, iova, 1ull << 21, &fl), PG);
	assert_int_equal(fl.nr_pages, 1);
	st = stats(s);
	assert_int_equal(st.tables_emptied, 1);
	assert_int_equal(iovx_sim_iova_to_phys(s, iova + 4 * PG, NULL, NULL), -ENOENT);
	/* Still cached by the device until the sync; freeing before it is a violation. */
	assert_true(iovx_sim_iotlb_holds(s, iova + 4 * PG));
	assert_int_equal(io->ops->inv_range(io, iova, 1ull << 21), 0);
	assert_int_equal(io->ops->sync(io), 0);
	assert_false(iovx_sim_iotlb_holds(s, iova + 4 * PG));
	io->ops->free_pages(io, &fl);
	st = stats(s);
	assert_int_equal(st.i2_table_violations, 0);
	assert_int_equal(st.tables_live, 3);

	/* Empty tables left attached go with an unmap of the whole space. */
	assert_int_equal(io->ops->unmap(io, 0, 1ull << 48, &fl), 0);
	assert_int_equal(fl.nr_pages, 2);
	assert_int_equal(io->ops->inv_all(io), 0);
	assert_int_equal(io->ops->sync(io), 0);
	io->ops->free_pages(io, &fl);
	st = stats(s);
	assert_int_equal(st.tables_live, 1);
	assert_int_equal(st.i2_table_violations, 0);
	assert_int_equal(st.i2_map_violations, 0);
	iovx_sim_destroy(s);
	free(buf);
}

static void test_checker_i2(void **state)
{
	struct iovx_sim *s = mksim_eager();
	struct iovx_iommu *io = iovx_sim_iommu(s);
	struct iovx_iommu_freelist fl;
	uint8_t *buf = pages(1), b;
	uint64_t iova = 0x200000;

	iovx_iommu_freelist_init(&fl);
	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, PG, IOVX_IOMMU_READ, 0), 0);
	assert_int_equal(iovx_sim_dev_read(s, iova, &b, 1, NULL), 0);
	(void)io->ops->unmap(io, iova, PG, &fl);
	/* Reuse before invalidation: counted. */
	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, PG, IOVX_IOMMU_READ, 0), 0);
	assert_int_equal(stats(s).i2_map_violations, 1);
	/* Table pages freed before any invalidation completed: counted too. */
	io->ops->free_pages(io, &fl);
	assert_int_equal(stats(s).i2_table_violations, 3);
	/* Proper order: no new violation. */
	(void)io->ops->unmap(io, iova, PG, &fl);
	assert_int_equal(io->ops->inv_all(io), 0);
	assert_int_equal(io->ops->sync(io), 0);
	io->ops->free_pages(io, &fl);
	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, PG, IOVX_IOMMU_READ, 0), 0);
	assert_int_equal(stats(s).i2_map_violations, 1);
	assert_int_equal(stats(s).i2_table_violations, 3);
	assert_int_equal(stats(s).tlbi_all, 1);
	iovx_sim_destroy(s);
	free(buf);
}

static void test_map_errors(void **state)
{
	struct iovx_sim *s = mksim(0, 0, 0);
	struct iovx_iommu *io = iovx_sim_iommu(s);
	uint8_t *buf = pages(4), b = 0;
	uint64_t iova = 0x400000, phys;

	assert_int_equal(io->ops->map(io, iova + 1, (uintptr_t)buf, PG, IOVX_IOMMU_READ, 0),
			 -EINVAL);
	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, 0, IOVX_IOMMU_READ, 0), -EINVAL);
	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, PG, 0, 0), -EINVAL);
	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, PG, 8, 0), -EINVAL);
	assert_int_equal(io->ops->map(io, 1ull << 48, (uintptr_t)buf, PG, IOVX_IOMMU_READ, 0),
			 -ERANGE);
	assert_int_equal(io->ops->map(io, iova, 1ull << 52, PG, IOVX_IOMMU_READ, 0), -ERANGE);
	/* -EEXIST in the middle: the pages before it are undone. */
	assert_int_equal(io->ops->map(io, iova + 2 * PG, (uintptr_t)buf, PG, IOVX_IOMMU_READ, 0),
			 0);
	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, 4 * PG, IOVX_IOMMU_WRITE, 0),
			 -EEXIST);
	assert_int_equal(iovx_sim_iova_to_phys(s, iova, &phys, NULL), -ENOENT);
	assert_int_equal(iovx_sim_iova_to_phys(s, iova + PG, &phys, NULL), -ENOENT);
	assert_int_equal(iovx_sim_iova_to_phys(s, iova + 2 * PG, &phys, NULL), 0);
	assert_int_equal(iovx_sim_iova_to_phys(s, iova + 3 * PG, &phys, NULL), -ENOENT);
	assert_int_equal(stats(s).map_errors, 7);
	/* Permissions: a read-only page refuses writes. */
	assert_int_equal(iovx_sim_dev_write(s, iova + 2 * PG, &b, 1, NULL), -EFAULT);
	assert_int_equal(iovx_sim_dev_read(s, iova + 2 * PG, &b, 1, NULL), 0);
	assert_int_equal(iovx_sim_dev_read(s, iova, NULL, 1, NULL), -EINVAL);
	assert_int_equal(iovx_sim_dev_read(s, iova, &b, 0, NULL), -EINVAL);
	assert_int_equal(iovx_sim_dev_read(s, UINT64_MAX, &b, 2, NULL), -EINVAL);
	assert_int_equal(iovx_sim_dev_read(s, 1ull << 50, &b, 1, NULL), -EFAULT);
	assert_int_equal(io->ops->inv_range(io, 0, 0), -EINVAL);
	iovx_sim_destroy(s);
	free(buf);
}

static void test_iotlb_eviction_and_queue(void **state)
{
	struct iovx_sim *s = mksim(1, 1, 2);
	struct iovx_iommu *io = iovx_sim_iommu(s);
	uint8_t *buf = pages(2), b;
	uint64_t iova = 0x600000;

	assert_int_equal(io->ops->map(io, iova, (uintptr_t)buf, 2 * PG, IOVX_IOMMU_READ, 0), 0);
	assert_int_equal(iovx_sim_dev_read(s, iova, &b, 1, NULL), 0);
	assert_int_equal(iovx_sim_dev_read(s, iova + PG, &b, 1, NULL), 0);
	assert_int_equal(stats(s).iotlb_evictions, 1);
	assert_false(iovx_sim_iotlb_holds(s, iova));
	assert_true(iovx_sim_iotlb_holds(s, iova + PG));
	/* A full queue is drained by the issuer. */
	assert_int_equal(io->ops->inv_range(io, 0x10000, PG), 0);
	assert_int_equal(io->ops->inv_range(io, 0x20000, PG), 0);
	assert_int_equal(io->ops->inv_range(io, iova + PG, PG), 0);
	assert_int_equal(stats(s).cmdq_full, 1);
	/* Failed syncs process nothing. */
	iovx_sim_fail_syncs(s, 1, -ETIMEDOUT);
	assert_int_equal(io->ops->sync(io), -ETIMEDOUT);
	assert_true(iovx_sim_iotlb_holds(s, iova + PG));
	assert_int_equal(io->ops->sync(io), 0);
	assert_false(iovx_sim_iotlb_holds(s, iova + PG));
	assert_int_equal(stats(s).sync_errors, 1);
	assert_int_equal(stats(s).syncs, 2);
	iovx_sim_destroy(s);
	free(buf);
}

static void test_cost_model(void **state)
{
	struct iovx_sim_config c;
	struct iovx_sim *s = NULL;
	struct iovx_iommu *io;
	struct iovx_iommu_freelist fl;
	uint8_t *buf = pages(2);
	uint64_t m0, t0, t1;
	char txt[512];
	struct timespec ts;

	iovx_sim_config_init(&c);
	assert_int_equal(c.cost.walk_ns, 1800);
	assert_int_equal(c.cost.pte_ns, 500);
	assert_int_equal(c.cost.cmd_ns, 500);
	assert_int_equal(c.cost.sync_ns, 2500);
	assert_true(iovx_sim_cost_format(&c.cost, "# ", txt, sizeof(txt)) > 0);
	assert_non_null(strstr(txt, "# sync_ns  2500"));
	assert_int_equal(iovx_sim_cost_format(&c.cost, "", txt, 10), -ENOSPC);
	c.charge_time = true;
	assert_int_equal(iovx_sim_create(&c, &s), 0);
	io = iovx_sim_iommu(s);
	iovx_iommu_freelist_init(&fl);
	/* Warm the tables, then one 2-page map costs one walk + 2 PTE writes. */
	assert_int_equal(io->ops->map(io, 0x800000, (uintptr_t)buf, PG, IOVX_IOMMU_READ, 0), 0);
	m0 = stats(s).model_ns;
	assert_int_equal(io->ops->map(io, 0x802000, (uintptr_t)buf, 2 * PG, IOVX_IOMMU_READ, 0),
			 0);
	assert_int_equal(stats(s).model_ns - m0, 1800 + 2 * 500);
	/* A sync waits (busy) at least cmd_ns + sync_ns of wall time. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	assert_int_equal(io->ops->inv_range(io, 0x802000, 2 * PG), 0);
	assert_int_equal(io->ops->sync(io), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t1 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	assert_true(t1 - t0 >= 2500 + 500);
	iovx_sim_destroy(s);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_map_walk_data),
		cmocka_unit_test(test_unmap_stale_until_sync),
		cmocka_unit_test(test_tables_kept),
		cmocka_unit_test(test_checker_i2),
		cmocka_unit_test(test_map_errors),
		cmocka_unit_test(test_iotlb_eviction_and_queue),
		cmocka_unit_test(test_cost_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_bounce.c - unit tests of the bounce pools (include/iovx/bounce.h, src/dma/bounce.c),
 * against the software IOMMU: data integrity in every direction and through the sync calls
 * (sub-page offsets and lengths), no device access outside pool memory (fault counters, the
 * caller's buffer untouched by device writes until unmap), no IOMMU work per I/O, cross-CPU
 * release, exhaustion, every error (and that it changes nothing), fail-Nth on create,
 * destroy after a failed sync, calibration (both forms; the measured form through a pair
 * callback: what it is called with, the bracket its crossovers lie in, its errors), the
 * per-direction crossovers and the counters' reset. No test asserts a time.
 */
#define _GNU_SOURCE
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
#include <unistd.h>
#include <cmocka.h>

#include <iovx/bounce.h>
#include <iovx/iova.h>
#include <iovx/sim.h>
#include "bounce_cfg.h"
#include "test_hooks.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define PG 4096u

struct fx {
	struct iovx_sim *sim;
	struct iovx_iova_domain *iovad;
	struct iovx_bounce_pool *pool;
};

static void fx_env(struct fx *f)
{
	struct iovx_sim_config sc;
	struct iovx_iova_config ic;

	iovx_sim_config_init(&sc);
	sc.eager_table_free = true;
	assert_int_equal(iovx_sim_create(&sc, &f->sim), 0);
	iovx_iova_config_init(&ic, 1, 1ull << 24);
	ic.flags = IOVX_IOVA_CHECKED;
	assert_int_equal(iovx_iova_domain_create(&ic, &f->iovad), 0);
}

static void fx_pool(struct fx *f, const struct iovx_bounce_config *cfg)
{
	struct iovx_bounce_config def;

	if (!cfg) {
		iovx_bounce_config_init(&def);
		cfg = &def;
	}
	assert_int_equal(iovx_bounce_create(cfg, iovx_sim_iommu(f->sim), f->iovad, &f->pool), 0);
}

static void fx_done(struct fx *f)
{
	struct iovx_iova_stats is;

	if (f->pool)
		assert_int_equal(iovx_bounce_destroy(f->pool), 0);
	assert_int_equal(iovx_iova_audit(f->iovad, &is), 0);
	assert_int_equal(is.live, 0);
	iovx_iova_domain_destroy(f->iovad);
	iovx_sim_destroy(f->sim);
	memset(f, 0, sizeof(*f));
}

static uint64_t faults(struct fx *f)
{
	struct iovx_sim_stats st;

	assert_int_equal(iovx_sim_get_stats(f->sim, &st), 0);
	return st.faults;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static uint64_t hp(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static const enum iovx_dma_dir dirs[] = { IOVX_DMA_TO_DEVICE, IOVX_DMA_FROM_DEVICE,
					 IOVX_DMA_BIDIRECTIONAL };

/*
 * Every direction, offsets and lengths around sub-page and class edges: the device reads
 * what the CPU wrote, the device's writes land in the pool only (the caller's buffer is
 * untouched until unmap), and unmap copies back exactly for FROM_DEVICE/BIDIRECTIONAL.
 */
static void test_integrity(void **state)
{
	static const size_t offs[] = { 0, 1, 63, 100, 2049, 4095 };
	static const size_t lens[] = { 1, 7, 64, 255, 256, 257, 1000, 4096, 5000, 65536 - 4095 };
	uint8_t *buf = aligned_alloc(PG, 20 * PG), *ref = malloc(20 * PG);
	uint8_t *dev = malloc(65536), *back = malloc(65536);
	struct fx f = { 0 };

	(void)state;
	fx_env(&f);
	fx_pool(&f, NULL);
	for (size_t d = 0; d < 3; d++) {
		for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++) {
			for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
				size_t off = offs[o], len = lens[l];
				uint64_t dma;

				fill(buf, 20 * PG, (uint8_t)(d * 31 + o * 5 + l));
				memcpy(ref, buf, 20 * PG);
				assert_int_equal(iovx_bounce_map(f.pool, hp(buf + off), len,
								 dirs[d], &dma), 0);
				assert_true(iovx_bounce_owns(f.pool, dma));
				/* the device sees the caller's data (every direction copies in) */
				assert_int_equal(iovx_sim_dev_read(f.sim, dma, back, len, NULL), 0);
				assert_memory_equal(back, buf + off, len);
				/* the device writes: only the pool changes */
				fill(dev, len, (uint8_t)(0xa5 ^ l));
				assert_int_equal(iovx_sim_dev_write(f.sim, dma, dev, len, NULL), 0);
				assert_memory_equal(buf, ref, 20 * PG);
				assert_int_equal(iovx_bounce_unmap(f.pool, dma, len, dirs[d]), 0);
				if (dirs[d] == IOVX_DMA_TO_DEVICE) {
					assert_memory_equal(buf, ref, 20 * PG);
				} else {
					assert_memory_equal(buf + off, dev, len);
					/* not one byte around it */
					assert_memory_equal(buf, ref, off);
					assert_memory_equal(buf + off + len, ref + off + len,
							    20 * PG - off - len);
				}
			}
		}
	}
	assert_int_equal(faults(&f), 0);
	fx_done(&f);
	free(buf);
	free(ref);
	free(dev);
	free(back);
}

/* A FROM_DEVICE mapping the device writes only partly returns the caller's other bytes. */
static void test_from_device_partial_write_no_leak(void **state)
{
	static uint8_t buf[512], secret[512], ref[512];
	struct fx f = { 0 };
	uint64_t dma;

	(void)state;
	fx_env(&f);
	fx_pool(&f, NULL);
	/* a previous user leaves a secret in the slot */
	memset(secret, 0x5e, sizeof(secret));
	assert_int_equal(iovx_bounce_map(f.pool, hp(secret), 200, IOVX_DMA_TO_DEVICE, &dma), 0);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 200, IOVX_DMA_TO_DEVICE), 0);
	fill(buf, sizeof(buf), 3);
	memcpy(ref, buf, sizeof(buf));
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf), 200, IOVX_DMA_FROM_DEVICE, &dma), 0);
	assert_int_equal(iovx_sim_dev_write(f.sim, dma + 10, "xy", 2, NULL), 0);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 200, IOVX_DMA_FROM_DEVICE), 0);
	ref[10] = 'x';
	ref[11] = 'y';
	assert_memory_equal(buf, ref, sizeof(buf));
	fx_done(&f);
}

/* Sync calls: partial ranges at sub-page offsets, each direction's copies. */
static void test_sync(void **state)
{
	static uint8_t ref[6000], dev[6000], back[6000];
	uint8_t *buf = aligned_alloc(PG, 4 * PG);
	const size_t off = 77, len = 5000;
	struct iovx_bounce_stats st0, st1;
	struct fx f = { 0 };
	uint64_t dma;

	(void)state;
	fx_env(&f);
	fx_pool(&f, NULL);

	/* BIDIRECTIONAL: device writes, sync_for_cpu of a part, then CPU writes, for_device */
	fill(buf, 4 * PG, 9);
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf + off), len, IOVX_DMA_BIDIRECTIONAL,
					 &dma), 0);
	memcpy(ref, buf + off, len);
	fill(dev, len, 0x40);
	assert_int_equal(iovx_sim_dev_write(f.sim, dma, dev, len, NULL), 0);
	assert_int_equal(iovx_bounce_sync_for_cpu(f.pool, dma + 1000, 333,
						  IOVX_DMA_BIDIRECTIONAL), 0);
	memcpy(ref + 1000, dev + 1000, 333);
	assert_memory_equal(buf + off, ref, len);
	/* the CPU updates bytes 3000..3099 and hands them back to the device */
	memset(buf + off + 3000, 0xee, 100);
	assert_int_equal(iovx_bounce_sync_for_device(f.pool, dma + 3000, 100,
						     IOVX_DMA_BIDIRECTIONAL), 0);
	assert_int_equal(iovx_sim_dev_read(f.sim, dma + 2990, back, 120, NULL), 0);
	assert_memory_equal(back, dev + 2990, 10);
	for (int i = 10; i < 110; i++)
		assert_int_equal(back[i], 0xee);
	assert_memory_equal(back + 110, dev + 3100, 10);
	/* whole-range sync_for_cpu, then unmap copies the final state */
	assert_int_equal(iovx_bounce_sync_for_cpu(f.pool, dma, len, IOVX_DMA_BIDIRECTIONAL), 0);
	memcpy(ref, dev, len);
	memset(ref + 3000, 0xee, 100);
	assert_memory_equal(buf + off, ref, len);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, len, IOVX_DMA_BIDIRECTIONAL), 0);
	assert_memory_equal(buf + off, ref, len);

	/* TO_DEVICE: sync_for_cpu copies nothing back, sync_for_device copies in */
	fill(buf, 4 * PG, 1);
	memcpy(ref, buf + off, len);
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf + off), len, IOVX_DMA_TO_DEVICE, &dma), 0);
	assert_int_equal(iovx_sim_dev_write(f.sim, dma, dev, len, NULL), 0);
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st0), 0);
	assert_int_equal(iovx_bounce_sync_for_cpu(f.pool, dma, len, IOVX_DMA_TO_DEVICE), 0);
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st1), 0);
	assert_int_equal(st1.bytes_out, st0.bytes_out);
	assert_memory_equal(buf + off, ref, len);
	buf[off + 5] ^= 0xff;
	assert_int_equal(iovx_bounce_sync_for_device(f.pool, dma + 5, 1, IOVX_DMA_TO_DEVICE), 0);
	assert_int_equal(iovx_sim_dev_read(f.sim, dma + 5, back, 1, NULL), 0);
	assert_int_equal(back[0], buf[off + 5]);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, len, IOVX_DMA_TO_DEVICE), 0);

	/* FROM_DEVICE: sync_for_cpu shows the device's bytes, the rest stays */
	fill(buf, 4 * PG, 2);
	memcpy(ref, buf + off, len);
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf + off), len, IOVX_DMA_FROM_DEVICE,
					 &dma), 0);
	assert_int_equal(iovx_sim_dev_write(f.sim, dma + 17, dev, 3, NULL), 0);
	assert_memory_equal(buf + off, ref, len);
	assert_int_equal(iovx_bounce_sync_for_cpu(f.pool, dma + 16, 5, IOVX_DMA_FROM_DEVICE), 0);
	memcpy(ref + 17, dev, 3);
	assert_memory_equal(buf + off, ref, len);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, len, IOVX_DMA_FROM_DEVICE), 0);
	assert_memory_equal(buf + off, ref, len);

	assert_int_equal(iovx_bounce_get_stats(f.pool, &st1), 0);
	assert_true(st1.syncs_cpu >= 4 && st1.syncs_device >= 2);
	assert_int_equal(faults(&f), 0);
	fx_done(&f);
	free(buf);
}

/*
 * The device reaches pool memory only: every page of the pool's IOVA range translates into
 * the pool (never into the caller's buffer), an access past the pool faults and changes
 * nothing, and map/unmap do no IOMMU work.
 */
static void test_device_reaches_pool_only(void **state)
{
	static uint8_t ref[2 * PG];
	uint8_t *buf = aligned_alloc(PG, 2 * PG), junk[64];
	struct iovx_sim_stats s0, s1;
	struct iovx_bounce_stats bs;
	uint64_t dma, phys, base, poolmem = 0;
	unsigned int prot;
	struct fx f = { 0 };

	(void)state;
	fx_env(&f);
	fx_pool(&f, NULL);
	assert_int_equal(iovx_bounce_get_stats(f.pool, &bs), 0);
	base = bs.iova_base;
	assert_int_equal(bs.pool_bytes % PG, 0);
	assert_true(bs.pool_bytes <= bs.max_bytes);
	fill(buf, 2 * PG, 4);
	memcpy(ref, buf, 2 * PG);
	assert_int_equal(iovx_sim_get_stats(f.sim, &s0), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(iovx_bounce_map(f.pool, hp(buf + i), 300 + i,
						 IOVX_DMA_BIDIRECTIONAL, &dma), 0);
		assert_int_equal(iovx_bounce_unmap(f.pool, dma, 300 + i, IOVX_DMA_BIDIRECTIONAL),
				 0);
	}
	assert_int_equal(iovx_sim_get_stats(f.sim, &s1), 0);
	assert_int_equal(s1.maps, s0.maps);
	assert_int_equal(s1.unmaps, s0.unmaps);
	assert_int_equal(s1.syncs, s0.syncs);
	assert_int_equal(s1.tlbi_range + s1.tlbi_all, s0.tlbi_range + s0.tlbi_all);

	assert_int_equal(iovx_bounce_map(f.pool, hp(buf + 10), 2000, IOVX_DMA_FROM_DEVICE, &dma),
			 0);
	for (uint64_t a = base; a < base + bs.pool_bytes; a += PG) {
		assert_int_equal(iovx_sim_iova_to_phys(f.sim, a, &phys, &prot), 0);
		if (a == base)
			poolmem = phys;
		assert_int_equal(phys, poolmem + (a - base));
		assert_false(phys + PG > hp(buf) && phys < hp(buf) + 2 * PG);
	}
	/* one byte past the pool: unmapped */
	assert_int_equal(iovx_sim_iova_to_phys(f.sim, base + bs.pool_bytes, &phys, &prot),
			 -ENOENT);
	memset(junk, 0x77, sizeof(junk));
	uint64_t f0 = faults(&f);

	assert_int_equal(iovx_sim_dev_write(f.sim, base + bs.pool_bytes, junk, 1, NULL), -EFAULT);
	assert_int_equal(iovx_sim_dev_write(f.sim, base - 1, junk, 1, NULL), -EFAULT);
	assert_int_equal(faults(&f), f0 + 2);
	assert_memory_equal(buf, ref, 2 * PG);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 2000, IOVX_DMA_FROM_DEVICE), 0);
	assert_memory_equal(buf, ref, 2 * PG);
	fx_done(&f);
	free(buf);
}

static struct iovx_bounce_config small_cfg(void)
{
	struct iovx_bounce_config c;

	iovx_test_bounce_classes(&c, 2, (const uint32_t[]){ 256, 4096 },
				 (const uint32_t[]){ 2, 1 });
	return c;
}

/* Exhaustion: -ENOSPC once every fitting slot is taken (larger classes, other CPUs too). */
static void test_exhaustion(void **state)
{
	struct iovx_bounce_config c = small_cfg();
	struct iovx_bounce_stats st;
	static uint8_t buf[8192];
	uint64_t dma[64];
	unsigned int n = 0, ncpu;
	struct fx f = { 0 };

	(void)state;
	fx_env(&f);
	fx_pool(&f, &c);
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st), 0);
	ncpu = (unsigned int)st.nr_cpus;
	assert_int_equal(st.nr_slots, 3 * ncpu);
	while (n < 64 && iovx_bounce_map(f.pool, hp(buf), 100, IOVX_DMA_TO_DEVICE, &dma[n]) == 0)
		n++;
	/* this CPU's 2 small + 1 large, then the other CPUs' small slots */
	assert_true(n >= 3 && n <= 3 * ncpu);
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf), 100, IOVX_DMA_TO_DEVICE, &dma[n]),
			 -ENOSPC);
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st), 0);
	assert_true(st.exhausted >= 1);
	assert_true(st.upsized >= 1);
	assert_int_equal(st.live, n);
	/* a larger request fits nowhere but the big class */
	assert_int_equal(iovx_bounce_unmap(f.pool, dma[0], 100, IOVX_DMA_TO_DEVICE), 0);
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf), 100, IOVX_DMA_TO_DEVICE, &dma[0]), 0);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(iovx_bounce_unmap(f.pool, dma[i], 100, IOVX_DMA_TO_DEVICE), 0);
	/* all back: the same count again */
	unsigned int m = 0;

	while (m < 64 && iovx_bounce_map(f.pool, hp(buf), 100, IOVX_DMA_TO_DEVICE, &dma[m]) == 0)
		m++;
	assert_true(m >= 3);
	for (unsigned int i = 0; i < m; i++)
		assert_int_equal(iovx_bounce_unmap(f.pool, dma[i], 100, IOVX_DMA_TO_DEVICE), 0);
	fx_done(&f);
}

/* ---- cross-CPU release ---------------------------------------------------------------- */

struct xcpu {
	struct fx *f;
	int cpu;
	uint64_t dma[64];
	unsigned int n;
	uint8_t *buf;
};

static bool pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0;
}

static void *xcpu_mapper(void *arg)
{
	struct xcpu *x = arg;

	pin(x->cpu);
	while (x->n < 64 && iovx_bounce_map(x->f->pool, hp(x->buf + x->n * 64), 64,
					    IOVX_DMA_BIDIRECTIONAL, &x->dma[x->n]) == 0)
		x->n++;
	return NULL;
}

static void *xcpu_unmapper(void *arg)
{
	struct xcpu *x = arg;
	uint8_t v;

	pin(x->cpu);
	for (unsigned int i = 0; i < x->n; i++) {
		v = (uint8_t)(0x80 + i);
		assert_int_equal(iovx_sim_dev_write(x->f->sim, x->dma[i], &v, 1, NULL), 0);
		assert_int_equal(iovx_bounce_unmap(x->f->pool, x->dma[i], 64,
						   IOVX_DMA_BIDIRECTIONAL), 0);
	}
	return NULL;
}

static void test_cross_cpu_release(void **state)
{
	struct iovx_bounce_config c = small_cfg();
	struct iovx_bounce_stats st;
	static uint8_t buf[64 * 64];
	struct fx f = { 0 };
	struct xcpu x = { .f = &f, .cpu = 0, .buf = buf };
	unsigned int first;
	pthread_t t;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	fx_env(&f);
	fx_pool(&f, &c);
	for (int round = 0; round < 3; round++) {
		x.n = 0;
		x.cpu = 0;
		assert_int_equal(pthread_create(&t, NULL, xcpu_mapper, &x), 0);
		pthread_join(t, NULL);
		if (!round)
			first = x.n;
		/* every slot came back to where it belongs: the same number fits each round */
		assert_int_equal(x.n, first);
		x.cpu = ncpu > 1 ? 1 : 0;
		assert_int_equal(pthread_create(&t, NULL, xcpu_unmapper, &x), 0);
		pthread_join(t, NULL);
		for (unsigned int i = 0; i < x.n; i++)
			assert_int_equal(buf[i * 64], (uint8_t)(0x80 + i));
	}
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st), 0);
	assert_int_equal(st.live, 0);
	if (ncpu > 1 && st.nr_cpus > 1)
		assert_true(st.remote_frees > 0);
	fx_done(&f);
}

/* ---- errors: each documented errno, and nothing changes ------------------------------- */

static void snap(struct fx *f, struct iovx_bounce_stats *st)
{
	assert_int_equal(iovx_bounce_get_stats(f->pool, st), 0);
}

static void assert_same(const struct iovx_bounce_stats *a, const struct iovx_bounce_stats *b)
{
	assert_int_equal(a->live, b->live);
	assert_int_equal(a->maps, b->maps);
	assert_int_equal(a->unmaps, b->unmaps);
	assert_int_equal(a->bytes_in, b->bytes_in);
	assert_int_equal(a->bytes_out, b->bytes_out);
}

static void test_errors(void **state)
{
	struct iovx_bounce_stats s0, s1;
	struct iovx_bounce_config c;
	struct iovx_bounce_pool *p = (void *)1;
	static uint8_t buf[512], ref[512];
	struct fx f = { 0 };
	uint64_t dma, d2 = 0xdead;
	char out[64];

	(void)state;
	fx_env(&f);
	fx_pool(&f, NULL);
	fill(buf, sizeof(buf), 5);
	memcpy(ref, buf, sizeof(buf));
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf), 300, IOVX_DMA_FROM_DEVICE, &dma), 0);
	assert_int_equal(iovx_sim_dev_write(f.sim, dma, "zz", 2, NULL), 0);
	snap(&f, &s0);

	/* map */
	assert_int_equal(iovx_bounce_map(NULL, hp(buf), 1, IOVX_DMA_TO_DEVICE, &d2), -EINVAL);
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf), 1, IOVX_DMA_TO_DEVICE, NULL), -EINVAL);
	assert_int_equal(iovx_bounce_map(f.pool, 0, 1, IOVX_DMA_TO_DEVICE, &d2), -EINVAL);
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf), 0, IOVX_DMA_TO_DEVICE, &d2), -EINVAL);
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf), 1, IOVX_DMA_NONE, &d2), -EINVAL);
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf), 1, (enum iovx_dma_dir)7, &d2), -EINVAL);
	assert_int_equal(iovx_bounce_map(f.pool, UINT64_MAX - 3, 8, IOVX_DMA_TO_DEVICE, &d2),
			 -EINVAL);
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf), 65537, IOVX_DMA_TO_DEVICE, &d2),
			 -ERANGE);
	assert_int_equal(d2, 0xdead);

	/* unmap */
	assert_int_equal(iovx_bounce_unmap(NULL, dma, 300, IOVX_DMA_FROM_DEVICE), -EINVAL);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 299, IOVX_DMA_FROM_DEVICE), -EINVAL);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 300, IOVX_DMA_TO_DEVICE), -EINVAL);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 300, IOVX_DMA_NONE), -EINVAL);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma + 1, 300, IOVX_DMA_FROM_DEVICE), -EINVAL);
	/* the slot before it (free): nothing is live there */
	assert_int_equal(iovx_bounce_unmap(f.pool, dma - 1, 300, IOVX_DMA_FROM_DEVICE), -ENOENT);
	assert_int_equal(iovx_bounce_unmap(f.pool, 0, 300, IOVX_DMA_FROM_DEVICE), -EINVAL);
	assert_int_equal(iovx_bounce_unmap(f.pool, s0.iova_base + s0.pool_bytes, 300,
					   IOVX_DMA_FROM_DEVICE), -EINVAL);
	assert_int_equal(iovx_bounce_unmap(f.pool, UINT64_MAX, 300, IOVX_DMA_FROM_DEVICE),
			 -EINVAL);
	/* a free slot: never mapped */
	assert_int_equal(iovx_bounce_unmap(f.pool, dma + 4096, 300, IOVX_DMA_FROM_DEVICE),
			 -ENOENT);

	/* sync */
	for (int fc = 0; fc < 2; fc++) {
		int (*fn)(struct iovx_bounce_pool *, uint64_t, size_t, enum iovx_dma_dir) =
			fc ? iovx_bounce_sync_for_cpu : iovx_bounce_sync_for_device;

		assert_int_equal(fn(NULL, dma, 1, IOVX_DMA_FROM_DEVICE), -EINVAL);
		assert_int_equal(fn(f.pool, dma, 0, IOVX_DMA_FROM_DEVICE), -EINVAL);
		assert_int_equal(fn(f.pool, dma, 1, IOVX_DMA_TO_DEVICE), -EINVAL);
		assert_int_equal(fn(f.pool, dma, 1, IOVX_DMA_NONE), -EINVAL);
		assert_int_equal(fn(f.pool, dma, 301, IOVX_DMA_FROM_DEVICE), -EINVAL);
		assert_int_equal(fn(f.pool, dma + 299, 2, IOVX_DMA_FROM_DEVICE), -EINVAL);
		assert_int_equal(fn(f.pool, dma - 1, 1, IOVX_DMA_FROM_DEVICE), -ENOENT);
		assert_int_equal(fn(f.pool, UINT64_MAX, 1, IOVX_DMA_FROM_DEVICE), -EINVAL);
		assert_int_equal(fn(f.pool, dma + 4096, 1, IOVX_DMA_FROM_DEVICE), -ENOENT);
	}
	snap(&f, &s1);
	assert_same(&s0, &s1);
	assert_true(s1.errors > s0.errors);
	assert_true(s1.too_big == s0.too_big + 1);
	/* the mapping is intact: the device's bytes still arrive, nothing else moved */
	assert_memory_equal(buf, ref, sizeof(buf));
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 300, IOVX_DMA_FROM_DEVICE), 0);
	assert_int_equal(buf[0], 'z');
	assert_int_equal(buf[1], 'z');
	assert_memory_equal(buf + 2, ref + 2, sizeof(buf) - 2);
	/* double unmap */
	snap(&f, &s0);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 300, IOVX_DMA_FROM_DEVICE), -ENOENT);
	snap(&f, &s1);
	assert_same(&s0, &s1);

	/* destroy with a live mapping: -EBUSY, pool intact */
	assert_int_equal(iovx_bounce_map(f.pool, hp(buf), 10, IOVX_DMA_TO_DEVICE, &dma), 0);
	assert_int_equal(iovx_bounce_destroy(f.pool), -EBUSY);
	assert_int_equal(iovx_sim_dev_read(f.sim, dma, out, 10, NULL), 0);
	assert_memory_equal(out, buf, 10);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 10, IOVX_DMA_TO_DEVICE), 0);
	assert_int_equal(iovx_bounce_destroy(NULL), -EINVAL);

	/* crossover, stats, owns */
	assert_int_equal(iovx_bounce_set_crossover(NULL, 10), -EINVAL);
	assert_int_equal(iovx_bounce_set_crossover(f.pool, 65537), -EINVAL);
	assert_int_equal(iovx_bounce_crossover(f.pool), 65536);
	assert_int_equal(iovx_bounce_set_crossover(f.pool, 2048), 0);
	assert_int_equal(iovx_bounce_crossover(f.pool), 2048);
	assert_int_equal(iovx_bounce_crossover(NULL), 0);
	assert_int_equal(iovx_bounce_get_stats(NULL, &s0), -EINVAL);
	assert_int_equal(iovx_bounce_get_stats(f.pool, NULL), -EINVAL);
	assert_false(iovx_bounce_owns(NULL, dma));
	assert_false(iovx_bounce_owns(f.pool, s0.iova_base + s0.pool_bytes));
	snap(&f, &s0);
	assert_int_equal(iovx_bounce_format_stats(&s0, "b.", out, sizeof(out)), -ENOSPC);
	assert_int_equal(iovx_bounce_format_stats(NULL, "", out, sizeof(out)), -EINVAL);
	assert_int_equal(iovx_bounce_format_stats(&s0, "", NULL, 10), -EINVAL);
	assert_int_equal(iovx_bounce_format_stats(&s0, "", out, 0), -EINVAL);

	/* create */
	struct iovx_iommu *io = iovx_sim_iommu(f.sim);

	iovx_bounce_config_init(&c);
	assert_int_equal(iovx_bounce_create(NULL, io, f.iovad, &p), -EINVAL);
	assert_int_equal(iovx_bounce_create(&c, NULL, f.iovad, &p), -EINVAL);
	assert_int_equal(iovx_bounce_create(&c, io, NULL, &p), -EINVAL);
	assert_int_equal(iovx_bounce_create(&c, io, f.iovad, NULL), -EINVAL);
#define BAD_CFG(stmt, err)                                                        \
	do {                                                                      \
		iovx_bounce_config_init(&c);                                      \
		stmt;                                                             \
		assert_int_equal(iovx_bounce_create(&c, io, f.iovad, &p), err);  \
	} while (0)
	BAD_CFG(c.nr_classes = 0, -EINVAL);
	BAD_CFG(c.nr_classes = IOVX_BOUNCE_MAX_CLASSES + 1, -EINVAL);
	BAD_CFG(c.class_size[1] = 1000, -EINVAL);
	BAD_CFG(c.class_size[0] = 32, -EINVAL);
	BAD_CFG(c.class_size[4] = 2u << 20, -EINVAL);
	BAD_CFG(c.class_size[1] = 256, -EINVAL);
	BAD_CFG(c.slots_per_cpu[2] = 0, -EINVAL);
	BAD_CFG(c.slots_per_cpu[2] = IOVX_BOUNCE_MAX_SLOTS + 1, -EINVAL);
	BAD_CFG(c.min_align_mask = 5, -EINVAL);
	BAD_CFG(c.min_align_mask = 511, -EINVAL);
	BAD_CFG(c.crossover = 65537, -EINVAL);
	BAD_CFG(c.limit_pfn = 0, -EINVAL);
	BAD_CFG(c.max_bytes = 4096, -ERANGE);
	/* no IOVA room below the limit */
	BAD_CFG(c.limit_pfn = 2, -EINVAL);
	assert_ptr_equal(p, (void *)1);

	/* calibrate */
	struct iovx_bounce_calib_in ci = { .iommu_fixed_ns = 1000, .copy_ps_per_byte = 1,
					   .copy_fixed_ns = 1 };
	struct iovx_bounce_calib co;

	assert_int_equal(iovx_bounce_calibrate(NULL, &co), -EINVAL);
	assert_int_equal(iovx_bounce_calibrate(&ci, NULL), -EINVAL);
	ci.max_len = 63;
	assert_int_equal(iovx_bounce_calibrate(&ci, &co), -EINVAL);
	ci.max_len = IOVX_BOUNCE_MAX_CLASS + 1;
	assert_int_equal(iovx_bounce_calibrate(&ci, &co), -EINVAL);
	ci.max_len = 0;
	ci.iommu_fixed_ns = 0;	/* must be measured, but no iommu */
	assert_int_equal(iovx_bounce_calibrate(&ci, &co), -EINVAL);
	fx_done(&f);
}

/* min_align_mask keeps the low bits of phys in the DMA address. */
static void test_align_mask(void **state)
{
	struct iovx_bounce_config c;
	uint8_t buf[300], back[200];
	struct fx f = { 0 };
	uint64_t dma;

	(void)state;
	iovx_bounce_config_init(&c);
	c.min_align_mask = 63;
	fx_env(&f);
	fx_pool(&f, &c);
	fill(buf, sizeof(buf), 8);
	for (size_t off = 0; off < 64; off += 9) {
		assert_int_equal(iovx_bounce_map(f.pool, hp(buf + off), 200, IOVX_DMA_TO_DEVICE,
						 &dma), 0);
		assert_int_equal(dma & 63, hp(buf + off) & 63);
		assert_int_equal(iovx_sim_dev_read(f.sim, dma, back, 200, NULL), 0);
		assert_memory_equal(back, buf + off, 200);
		assert_int_equal(iovx_bounce_sync_for_device(f.pool, dma + 3, 5,
							     IOVX_DMA_TO_DEVICE), 0);
		assert_int_equal(iovx_bounce_unmap(f.pool, dma, 200, IOVX_DMA_TO_DEVICE), 0);
	}
	fx_done(&f);
}

/* Fail-Nth: every allocation of create fails in turn; nothing leaks, nothing stays mapped. */
static void test_fail_nth_create(void **state)
{
	struct iovx_bounce_config c;
	struct fx f = { 0 };
	unsigned long n;

	(void)state;
	iovx_bounce_config_init(&c);
	fx_env(&f);
	/*
	 * The IOVA domain's per-CPU caches get their magazines on first use, and a failure
	 * there falls back to the backend instead of failing: with no caches, every counted
	 * allocation is one that create needs.
	 */
	{
		struct iovx_iova_config ic;

		iovx_iova_domain_destroy(f.iovad);
		iovx_iova_config_init(&ic, 1, 1ull << 24);
		ic.flags = IOVX_IOVA_CHECKED | IOVX_IOVA_NO_CACHE;
		assert_int_equal(iovx_iova_domain_create(&ic, &f.iovad), 0);
	}
	for (n = 1; n < 64; n++) {
		struct iovx_bounce_pool *p = NULL;
		struct iovx_iova_stats is;
		unsigned long seen;
		int ret;

		iovx_fail_nth_arm(n);
		ret = iovx_bounce_create(&c, iovx_sim_iommu(f.sim), f.iovad, &p);
		seen = iovx_fail_nth_seen();
		iovx_fail_nth_disarm();
		if (seen < n) {
			assert_int_equal(ret, 0);
			f.pool = p;
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(p);
		assert_int_equal(iovx_iova_audit(f.iovad, &is), 0);
		assert_int_equal(is.live, 0);
	}
	assert_true(n > 4 && n < 64);
	fx_done(&f);
}

/* destroy after a failed sync: the pool memory and IOVA are never reused (leaked). */
static void test_destroy_sync_fails(void **state)
{
	struct iovx_bounce_stats st;
	struct iovx_iova_stats is;
	struct fx f = { 0 };
	uint64_t phys;
	unsigned int prot;

	(void)state;
	fx_env(&f);
	/* what a failed destroy leaks on purpose (pool memory, detached table pages) */
#ifdef HAVE_LSAN
	__lsan_disable();
#endif
	fx_pool(&f, NULL);
#ifdef HAVE_LSAN
	__lsan_enable();
#endif
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st), 0);
	assert_int_equal(iovx_sim_iova_to_phys(f.sim, st.iova_base, &phys, &prot), 0);
	iovx_sim_fail_syncs(f.sim, 1, -EIO);
	assert_int_equal(iovx_bounce_destroy(f.pool), -EIO);
	f.pool = NULL;
	assert_int_equal(iovx_iova_audit(f.iovad, &is), 0);
	assert_true(is.live * PG >= st.pool_bytes);	/* the pool's range stays taken */
	iovx_iova_domain_destroy(f.iovad);
	iovx_sim_destroy(f.sim);
}

/* Calibration: given figures give the documented arithmetic; measured ones are sane. */
static void test_calibrate(void **state)
{
	struct iovx_bounce_calib_in in = { 0 };
	struct iovx_bounce_calib out;
	struct iovx_sim_stats s0, s1;
	struct iovx_iova_stats is;
	struct fx f = { 0 };

	(void)state;
	/* bounce = 2 * 20 + 2 * len * 1 ns; iommu = 8000 ns up to a page: crossover 4032 */
	in.copy_ps_per_byte = 1000;
	in.copy_fixed_ns = 20;
	in.iommu_fixed_ns = 8000;
	in.iommu_page_ns = 500;
	assert_int_equal(iovx_bounce_calibrate(&in, &out), 0);
	assert_int_equal(out.crossover, 4032);
	/* one copy: 40 + len >= 8000 + 500 * (pages - 1) first at 8960 (3 pages, 9000 ns) */
	assert_int_equal(out.crossover_to_device, 8960);
	assert_int_equal(out.measured, 0);
	/* copies always cheaper: the cap */
	in.copy_ps_per_byte = 10;
	in.max_len = 16384;
	assert_int_equal(iovx_bounce_calibrate(&in, &out), 0);
	assert_int_equal(out.crossover, 16384);
	/* copies never cheaper */
	in.copy_fixed_ns = 5000;
	assert_int_equal(iovx_bounce_calibrate(&in, &out), 0);
	assert_int_equal(out.crossover, 0);

	/* measured on the simulator (cost accounted, not charged) */
	fx_env(&f);
	memset(&in, 0, sizeof(in));
	in.iommu = iovx_sim_iommu(f.sim);
	in.iovad = f.iovad;
	in.iterations = 8;
	assert_int_equal(iovx_sim_get_stats(f.sim, &s0), 0);
	assert_int_equal(iovx_bounce_calibrate(&in, &out), 0);
	assert_int_equal(iovx_sim_get_stats(f.sim, &s1), 0);
	assert_int_equal(out.measured, IOVX_BOUNCE_CAL_COPY | IOVX_BOUNCE_CAL_IOMMU);
	/* 1 page and 16 pages, IOVX_BOUNCE_CAL_REPS batches of 8 each */
	assert_int_equal(s1.maps - s0.maps, 2 * 8 * IOVX_BOUNCE_CAL_REPS);
	assert_int_equal(s1.syncs - s0.syncs, 2 * 8 * IOVX_BOUNCE_CAL_REPS);
	assert_true(out.iommu_fixed_ns > 0);
	assert_true(out.crossover <= 65536);
	assert_int_equal(iovx_iova_audit(f.iovad, &is), 0);
	assert_int_equal(is.live, 0);
	printf("calibrate (sim, not charged): copy %llu ps/B + %llu ns, iommu %llu ns + %llu "
	       "ns/page, crossover %llu\n", (unsigned long long)out.copy_ps_per_byte,
	       (unsigned long long)out.copy_fixed_ns, (unsigned long long)out.iommu_fixed_ns,
	       (unsigned long long)out.iommu_page_ns, (unsigned long long)out.crossover);
	fx_done(&f);
}

static void test_format_stats(void **state)
{
	struct iovx_bounce_stats st;
	struct fx f = { 0 };
	static char buf[2048];
	uint8_t b[10] = { 0 };
	uint64_t dma;

	(void)state;
	fx_env(&f);
	fx_pool(&f, NULL);
	assert_int_equal(iovx_bounce_map(f.pool, hp(b), 10, IOVX_DMA_BIDIRECTIONAL, &dma), 0);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 10, IOVX_DMA_BIDIRECTIONAL), 0);
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st), 0);
	assert_int_equal(st.bytes_in, 10);
	assert_int_equal(st.bytes_out, 10);
	assert_int_equal(iovx_bounce_format_stats(&st, "bounce.", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "bounce.maps 1\n"));
	assert_non_null(strstr(buf, "bounce.bytes_out 10\n"));
	assert_non_null(strstr(buf, "bounce.crossover 65536\n"));
	assert_non_null(strstr(buf, "bounce.crossover_to_device 65536\n"));
	fx_done(&f);
}

/* Per-direction crossovers: set together or one at a time; bad input changes nothing. */
static void test_crossover_dir(void **state)
{
	struct iovx_bounce_config c;
	struct iovx_bounce_stats st;
	struct fx f = { 0 };

	(void)state;
	fx_env(&f);
	iovx_bounce_config_init(&c);
	c.crossover = 4096;
	fx_pool(&f, &c);
	/* the configured crossover applies to every direction */
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(iovx_bounce_crossover_dir(f.pool, dirs[i]), 4096);
	assert_int_equal(iovx_bounce_set_crossover_dir(f.pool, IOVX_DMA_TO_DEVICE, 16384), 0);
	assert_int_equal(iovx_bounce_set_crossover_dir(f.pool, IOVX_DMA_FROM_DEVICE, 1024), 0);
	assert_int_equal(iovx_bounce_crossover_dir(f.pool, IOVX_DMA_TO_DEVICE), 16384);
	/* FROM_DEVICE and BIDIRECTIONAL share one (two copies each) */
	assert_int_equal(iovx_bounce_crossover_dir(f.pool, IOVX_DMA_FROM_DEVICE), 1024);
	assert_int_equal(iovx_bounce_crossover_dir(f.pool, IOVX_DMA_BIDIRECTIONAL), 1024);
	assert_int_equal(iovx_bounce_crossover(f.pool), 1024);
	assert_int_equal(iovx_bounce_set_crossover_dir(f.pool, IOVX_DMA_BIDIRECTIONAL, 0), 0);
	assert_int_equal(iovx_bounce_crossover_dir(f.pool, IOVX_DMA_FROM_DEVICE), 0);
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st), 0);
	assert_int_equal(st.crossover, 0);
	assert_int_equal(st.crossover_to_device, 16384);

	/* errors: nothing changes */
	assert_int_equal(iovx_bounce_set_crossover_dir(NULL, IOVX_DMA_TO_DEVICE, 64), -EINVAL);
	assert_int_equal(iovx_bounce_set_crossover_dir(f.pool, IOVX_DMA_TO_DEVICE, 65537),
			 -EINVAL);
	assert_int_equal(iovx_bounce_set_crossover_dir(f.pool, (enum iovx_dma_dir)3, 64),
			 -EINVAL);
	assert_int_equal(iovx_bounce_set_crossover_dir(f.pool, (enum iovx_dma_dir)-1, 64),
			 -EINVAL);
	assert_int_equal(iovx_bounce_crossover_dir(f.pool, IOVX_DMA_TO_DEVICE), 16384);
	assert_int_equal(iovx_bounce_crossover_dir(f.pool, IOVX_DMA_BIDIRECTIONAL), 0);
	assert_int_equal(iovx_bounce_crossover_dir(NULL, IOVX_DMA_TO_DEVICE), 0);
	assert_int_equal(iovx_bounce_crossover_dir(f.pool, (enum iovx_dma_dir)3), 0);

	/* set_crossover sets both */
	assert_int_equal(iovx_bounce_set_crossover(f.pool, 512), 0);
	assert_int_equal(iovx_bounce_crossover_dir(f.pool, IOVX_DMA_TO_DEVICE), 512);
	assert_int_equal(iovx_bounce_crossover_dir(f.pool, IOVX_DMA_FROM_DEVICE), 512);
	fx_done(&f);
}

/* reset_stats zeroes the counters, refuses while a slot is live, and then changes nothing. */
static void test_reset_stats(void **state)
{
	struct iovx_bounce_stats st;
	struct fx f = { 0 };
	uint8_t b[100] = { 0 };
	uint64_t dma, d2;

	(void)state;
	fx_env(&f);
	fx_pool(&f, NULL);
	assert_int_equal(iovx_bounce_reset_stats(NULL), -EINVAL);
	assert_int_equal(iovx_bounce_map(f.pool, hp(b), 100, IOVX_DMA_BIDIRECTIONAL, &dma), 0);
	assert_int_equal(iovx_bounce_map(f.pool, hp(b), 10, IOVX_DMA_TO_DEVICE, &d2), 0);
	assert_int_equal(iovx_bounce_unmap(f.pool, d2, 10, IOVX_DMA_TO_DEVICE), 0);
	assert_int_equal(iovx_bounce_unmap(f.pool, d2, 10, IOVX_DMA_TO_DEVICE), -ENOENT);
	assert_int_equal(iovx_bounce_reset_stats(f.pool), -EBUSY);
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st), 0);
	assert_int_equal(st.maps, 2);
	assert_int_equal(st.unmaps, 1);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.bytes_in, 110);
	assert_int_equal(st.live, 1);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 100, IOVX_DMA_BIDIRECTIONAL), 0);
	assert_int_equal(iovx_bounce_reset_stats(f.pool), 0);
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st), 0);
#define CHECK_ZERO(name, doc) assert_int_equal(st.name, 0);
	IOVX_BOUNCE_STATS(CHECK_ZERO)
#undef CHECK_ZERO
	assert_int_equal(st.live, 0);
	assert_true(st.nr_slots > 0);
	assert_true(st.pool_bytes > 0);
	assert_int_equal(st.crossover, 65536);
	/* the pool still works and counts from zero */
	assert_int_equal(iovx_bounce_map(f.pool, hp(b), 100, IOVX_DMA_TO_DEVICE, &dma), 0);
	assert_int_equal(iovx_bounce_unmap(f.pool, dma, 100, IOVX_DMA_TO_DEVICE), 0);
	assert_int_equal(iovx_bounce_get_stats(f.pool, &st), 0);
	assert_int_equal(st.maps, 1);
	assert_int_equal(st.bytes_in, 100);
	fx_done(&f);
}

/* The measured form's pair callback: checks its arguments, counts, fails on request. */
struct pair_probe {
	struct iovx_bounce_pool *pool;	/* the bounce side runs here when set */
	uint64_t max_len;
	unsigned int n;			/* expected batch */
	unsigned int calls, calls_map, calls_bounce, bad_args;
	unsigned int fail_at;		/* 1-based call that fails; 0: none */
	int fail_err;
	void *buf;
};

static int probe_pair(void *arg, unsigned int side, void *buf, uint64_t len,
		      enum iovx_dma_dir dir, unsigned int n)
{
	struct pair_probe *p = arg;
	volatile uint8_t sink = 0;
	uint64_t dma;

	p->calls++;
	if (side > IOVX_BOUNCE_CAL_BOUNCE || !buf || ((uintptr_t)buf & (PG - 1)) || len < 64 ||
	    len % 64 || len > p->max_len || n != p->n ||
	    (dir != IOVX_DMA_TO_DEVICE && dir != IOVX_DMA_BIDIRECTIONAL) ||
	    (p->buf && p->buf != buf))
		p->bad_args++;
	p->buf = buf;
	if (side == IOVX_BOUNCE_CAL_MAP)
		p->calls_map++;
	else
		p->calls_bounce++;
	if (p->fail_at && p->calls == p->fail_at)
		return p->fail_err;
	for (unsigned int i = 0; i < n; i++) {
		if (side == IOVX_BOUNCE_CAL_BOUNCE && p->pool) {
			if (iovx_bounce_map(p->pool, hp(buf), len, dir, &dma) ||
			    iovx_bounce_unmap(p->pool, dma, len, dir))
				return -EIO;
		} else {
			/* a fixed cost and some that grows with len (no time is asserted) */
			for (unsigned int k = 0; k < 1000; k++)
				sink = (uint8_t)(sink + 1);
			for (uint64_t k = 0; k < len; k += 64)
				sink = (uint8_t)(sink + ((volatile uint8_t *)buf)[k]);
		}
	}
	(void)sink;
	return 0;
}

/*
 * Where a measured crossover may lie: 0, max_len, or inside the bracket of the reported
 * grid: above the last point where bouncing was cheaper, at most the next point.
 */
static void assert_bracketed(const struct iovx_bounce_calib *o, const uint64_t *bounce_ns,
			     uint64_t xover, uint64_t max_len)
{
	unsigned int i;

	assert_int_equal(xover % 64, 0);
	assert_true(xover <= max_len);
	/* i: the smallest index from which on bouncing is never cheaper */
	for (i = o->nr_points; i > 0; i--)
		if (bounce_ns[i - 1] < o->map_ns[i - 1])
			break;
	if (i == o->nr_points) {
		assert_int_equal(xover, max_len);
	} else if (i == 0) {
		assert_int_equal(xover, 0);
	} else {
		assert_true(xover > o->point_len[i - 1]);
		assert_true(xover <= o->point_len[i]);
	}
}

static void test_calibrate_pairs(void **state)
{
	/* on the heap: sanitizer builds inflate stack frames */
	struct iovx_bounce_calib *o = malloc(2 * sizeof(*o)), *keep = o + 1;
	struct iovx_bounce_calib_in in;
	struct pair_probe p;
	struct fx f = { 0 };
	unsigned int i;

	(void)state;
	assert_non_null(o);
	fx_env(&f);
	fx_pool(&f, NULL);

	/* the real pool on the bounce side, a memory walk on the map side */
	memset(&in, 0, sizeof(in));
	memset(&p, 0, sizeof(p));
	p.pool = f.pool;
	p.max_len = 65536;
	p.n = 4;
	in.pair = probe_pair;
	in.arg = &p;
	in.iterations = 4;		/* no iommu or iovad needed in this form */
	assert_int_equal(iovx_bounce_calibrate(&in, o), 0);
	assert_int_equal(p.bad_args, 0);
	assert_true(p.calls_map > 0 && p.calls_bounce > 0);
	assert_int_equal(o->measured, IOVX_BOUNCE_CAL_PAIRS);
	assert_int_equal(o->nr_points, 11);	/* the whole grid, 64 B .. 64 KiB */
	for (i = 0; i < o->nr_points; i++)
		assert_int_equal(o->point_len[i], 64ull << i);
	assert_bracketed(o, o->bounce_to_device_ns, o->crossover_to_device, 65536);
	assert_bracketed(o, o->bounce_bidi_ns, o->crossover, 65536);
	printf("calibrate (pairs, memory walk vs pool): to_device %llu, bidi %llu, %u points\n",
	       (unsigned long long)o->crossover_to_device, (unsigned long long)o->crossover,
	       o->nr_points);

	/* max_len no power of two: the grid ends at max_len rounded down to 64 bytes */
	memset(&p, 0, sizeof(p));
	p.max_len = 3000;
	p.n = 2;
	in.iterations = 2;
	in.max_len = 3000;
	assert_int_equal(iovx_bounce_calibrate(&in, o), 0);
	assert_int_equal(p.bad_args, 0);
	assert_int_equal(o->nr_points, 7);	/* 64 .. 2048, then 3000 down to 64 bytes */
	assert_int_equal(o->point_len[6], 2944);
	assert_true(o->crossover <= 3000);
	assert_true(o->crossover_to_device <= 3000);

	/* errors: an error of pair stops the calibration and *o is unchanged */
	in.max_len = 0;
	for (unsigned int at = 1; at <= 6; at++) {
		memset(&p, 0, sizeof(p));
		p.pool = f.pool;
		p.max_len = 65536;
		p.n = 2;
		p.fail_at = at;
		p.fail_err = -EIO;
		memset(o, 0xa5, sizeof(*o));
		*keep = *o;
		assert_int_equal(iovx_bounce_calibrate(&in, o), -EIO);
		assert_int_equal(p.calls, at);
		assert_memory_equal(o, keep, sizeof(*o));
	}
	in.max_len = 32;
	assert_int_equal(iovx_bounce_calibrate(&in, o), -EINVAL);
	in.max_len = IOVX_BOUNCE_MAX_CLASS + 1;
	assert_int_equal(iovx_bounce_calibrate(&in, o), -EINVAL);
	/* the pool is as it was: nothing live, counters balanced */
	{
		struct iovx_bounce_stats st;

		assert_int_equal(iovx_bounce_get_stats(f.pool, &st), 0);
		assert_int_equal(st.live, 0);
		assert_int_equal(st.maps, st.unmaps);
	}
	free(o);
	fx_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integrity),
		cmocka_unit_test(test_from_device_partial_write_no_leak),
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_device_reaches_pool_only),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_cross_cpu_release),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_align_mask),
		cmocka_unit_test(test_fail_nth_create),
		cmocka_unit_test(test_destroy_sync_fails),
		cmocka_unit_test(test_calibrate),
		cmocka_unit_test(test_format_stats),
		cmocka_unit_test(test_crossover_dir),
		cmocka_unit_test(test_reset_stats),
		cmocka_unit_test(test_calibrate_pairs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

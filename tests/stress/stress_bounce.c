// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * stress_bounce.c - threads map and unmap random sizes, offsets and directions through one
 * bounce pool (include/iovx/bounce.h) on the software IOMMU; half of the mappings are handed
 * to another thread through a mailbox and unmapped there (cross-thread / cross-CPU frees).
 *
 * Checks on every mapping:
 *   - ownership stamp per slot (I1 for slots): map claims the slot's unit with a CAS, unmap
 *     releases it; a slot handed out twice while live fails loudly;
 *   - data stamps: the device reads the caller's stamp through the slot's IOVA; for
 *     FROM_DEVICE/BIDIRECTIONAL it writes a second stamp, which must not reach the caller's
 *     buffer before unmap and must be there, whole, after it (on whichever thread unmaps);
 *   - no device fault, the pool drains to zero live slots, destroy succeeds.
 * Pool sized small so that exhaustion (-ENOSPC) and stealing from other CPUs happen; lengths
 * above the largest class (16 KiB here) must get -ERANGE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iovx/bounce.h>
#include <iovx/iova.h>
#include <iovx/sim.h>
#include "bounce_cfg.h"
#include "stress.h"

#define MAILBOXES	8
#define UNIT_SHIFT	6	/* 64 B: the smallest class is larger, so one unit per slot */

struct mapping {
	uint64_t dma;
	uint8_t *alloc;
	uint8_t *buf;
	size_t len;
	enum iovx_dma_dir dir;
	uint32_t stamp_cpu;	/* what the CPU wrote */
	uint32_t stamp_dev;	/* what the device wrote (FROM/BIDIR) */
	unsigned int owner;
};

static struct iovx_sim *sim;
static struct iovx_iova_domain *iovad;
static struct iovx_bounce_pool *pool;
static uint64_t pool_base, pool_bytes;
static uint32_t *unit_owner;		/* mapper's thread id + 1 per live slot, 0: free */
static struct mapping *mailbox[MAILBOXES];
static uint64_t n_enospc, n_handoffs;

static uint8_t pat(uint32_t stamp, size_t i)
{
	return (uint8_t)((stamp * 2654435761u) >> 24) ^ (uint8_t)(i * 13 + (i >> 7));
}

static void stamp_fill(uint8_t *p, size_t len, uint32_t stamp)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pat(stamp, i);
}

static bool stamp_check(const uint8_t *p, size_t len, uint32_t stamp, size_t *bad)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != pat(stamp, i)) {
			*bad = i;
			return false;
		}
	}
	return true;
}

static size_t rand_len(struct iovx_stress_thread *th)
{
	switch (iovx_stress_below(th, 4)) {
	case 0:
		return 1 + iovx_stress_below(th, 255);
	case 1:
		return 1 + iovx_stress_below(th, 1024);
	case 2:
		return 1 + iovx_stress_below(th, 4096);
	default:
		return 1 + iovx_stress_below(th, 20000);
	}
}

/* Unmaps m (on whichever thread), checks the data that comes back, frees it. */
#define FAIL(th, ...)							\
	do {								\
		if (th)							\
			iovx_stress_fail(th, __VA_ARGS__);		\
		else							\
			fprintf(stderr, __VA_ARGS__);			\
	} while (0)

static int finish(struct iovx_stress_thread *th, struct mapping *m)
{
	uint64_t unit = (m->dma - pool_base) >> UNIT_SHIFT;
	uint32_t want = m->owner + 1;
	size_t bad;
	int ret;

	/* the device's stamp has not reached the caller's buffer yet */
	if (!stamp_check(m->buf, m->len, m->stamp_cpu, &bad)) {
		FAIL(th, "buffer changed before unmap at %zu (len %zu dir %d)", bad,
				 m->len, m->dir);
		return -1;
	}
	if (!__atomic_compare_exchange_n(&unit_owner[unit], &want, 0, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		FAIL(th, "slot %#llx owner %u, expected %u",
				 (unsigned long long)m->dma, want, m->owner + 1);
		return -1;
	}
	ret = iovx_bounce_unmap(pool, m->dma, m->len, m->dir);
	if (ret) {
		FAIL(th, "unmap %#llx len %zu: %d", (unsigned long long)m->dma, m->len,
				 ret);
		return -1;
	}
	if (!stamp_check(m->buf, m->len,
			 m->dir == IOVX_DMA_TO_DEVICE ? m->stamp_cpu : m->stamp_dev, &bad)) {
		FAIL(th, "data after unmap wrong at %zu (len %zu dir %d)", bad, m->len,
				 m->dir);
		return -1;
	}
	free(m->alloc);
	free(m);
	return 0;
}

static int body(struct iovx_stress_thread *th)
{
	static const enum iovx_dma_dir dirs[] = { IOVX_DMA_TO_DEVICE, IOVX_DMA_FROM_DEVICE,
						 IOVX_DMA_BIDIRECTIONAL };
	uint8_t *dev = malloc(20000 + 64);
	uint32_t seq = 0;

	if (!dev)
		return -1;
	while (iovx_stress_continue(th)) {
		struct mapping *m = calloc(1, sizeof(*m)), *got;
		size_t off = iovx_stress_below(th, 64), bad;
		uint32_t zero = 0;
		int ret;

		if (!m)
			break;
		m->len = rand_len(th);
		m->dir = dirs[iovx_stress_below(th, 3)];
		m->owner = th->id;
		m->stamp_cpu = (th->id << 24) | (seq++ & 0xffffff);
		m->stamp_dev = m->stamp_cpu ^ 0x80000000u;
		m->alloc = malloc(m->len + 64);
		if (!m->alloc) {
			free(m);
			break;
		}
		m->buf = m->alloc + off;
		stamp_fill(m->buf, m->len, m->stamp_cpu);
		ret = iovx_bounce_map(pool, (uint64_t)(uintptr_t)m->buf, m->len, m->dir, &m->dma);
		if (ret == -ENOSPC || (ret == -ERANGE && m->len > 16384)) {
			free(m->alloc);
			free(m);
			if (ret == -ERANGE)
				continue;
			/* the slots may all sit in mailboxes: empty one */
			__atomic_fetch_add(&n_enospc, 1, __ATOMIC_RELAXED);
			got = __atomic_exchange_n(&mailbox[iovx_stress_below(th, MAILBOXES)], NULL,
						  __ATOMIC_ACQ_REL);
			if (got && finish(th, got))
				break;
			continue;
		}
		if (ret) {
			iovx_stress_fail(th, "map len %zu: %d", m->len, ret);
			break;
		}
		if (m->dma < pool_base || m->dma + m->len > pool_base + pool_bytes) {
			iovx_stress_fail(th, "dma %#llx outside the pool",
					 (unsigned long long)m->dma);
			break;
		}
		if (!__atomic_compare_exchange_n(&unit_owner[(m->dma - pool_base) >> UNIT_SHIFT],
						 &zero, th->id + 1, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			iovx_stress_fail(th, "I1: slot %#llx handed out while owned by %u",
					 (unsigned long long)m->dma, zero);
			break;
		}
		/* the device sees the CPU's stamp (every direction copies in) */
		if (iovx_sim_dev_read(sim, m->dma, dev, m->len, NULL) ||
		    !stamp_check(dev, m->len, m->stamp_cpu, &bad)) {
			iovx_stress_fail(th, "device read wrong (len %zu)", m->len);
			break;
		}
		if (m->dir != IOVX_DMA_TO_DEVICE) {
			stamp_fill(dev, m->len, m->stamp_dev);
			if (iovx_sim_dev_write(sim, m->dma, dev, m->len, NULL)) {
				iovx_stress_fail(th, "device write faulted");
				break;
			}
		}
		if (iovx_stress_below(th, 2)) {
			if (finish(th, m))
				break;
			continue;
		}
		/* hand it to whichever thread comes next; unmap what we find there */
		got = __atomic_exchange_n(&mailbox[iovx_stress_below(th, MAILBOXES)], m,
					  __ATOMIC_ACQ_REL);
		if (got) {
			__atomic_fetch_add(&n_handoffs, got->owner != th->id, __ATOMIC_RELAXED);
			if (finish(th, got))
				break;
		}
	}
	free(dev);
	return 0;
}

int main(void)
{
	struct iovx_stress_opts o = IOVX_STRESS_OPTS_INIT;
	struct iovx_bounce_config bc;
	struct iovx_sim_config sc;
	struct iovx_iova_config ic;
	struct iovx_bounce_stats st;
	struct iovx_sim_stats ss;
	static char text[4096];
	int ret, rc = 0;

	iovx_sim_config_init(&sc);
	iovx_iova_config_init(&ic, 1, 1ull << 24);
	if (iovx_sim_create(&sc, &sim) || iovx_iova_domain_create(&ic, &iovad))
		return 1;
	iovx_test_bounce_classes(&bc, 4, NULL, (const uint32_t[]){ 8, 4, 4, 2 });
	ret = iovx_bounce_create(&bc, iovx_sim_iommu(sim), iovad, &pool);
	if (ret) {
		fprintf(stderr, "create: %d\n", ret);
		return 1;
	}
	iovx_bounce_get_stats(pool, &st);
	pool_base = st.iova_base;
	pool_bytes = st.pool_bytes;
	unit_owner = calloc(pool_bytes >> UNIT_SHIFT, sizeof(*unit_owner));
	if (!unit_owner)
		return 1;

	o.name = "bounce";
	ret = iovx_stress_run(&o, body);
	for (int i = 0; i < MAILBOXES; i++) {
		struct mapping *m = __atomic_exchange_n(&mailbox[i], NULL, __ATOMIC_ACQ_REL);
		if (m && finish(NULL, m))
			ret = -1;
	}
	iovx_bounce_get_stats(pool, &st);
	iovx_sim_get_stats(sim, &ss);
	iovx_bounce_format_stats(&st, "  bounce.", text, sizeof(text));
	printf("%s  enospc %llu, handoffs to another thread %llu, device faults %llu\n", text,
	       (unsigned long long)n_enospc, (unsigned long long)n_handoffs,
	       (unsigned long long)ss.faults);
	if (ret || st.live || ss.faults || st.maps == 0) {
		fprintf(stderr, "FAIL: ret %d live %llu faults %llu\n", ret,
			(unsigned long long)st.live, (unsigned long long)ss.faults);
		rc = 1;
	}
	if (iovx_bounce_destroy(pool)) {
		fprintf(stderr, "FAIL: destroy\n");
		rc = 1;
	}
	free(unit_owner);
	iovx_iova_domain_destroy(iovad);
	iovx_sim_destroy(sim);
	return rc;
}

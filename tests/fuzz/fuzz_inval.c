// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fuzz_inval.c - libFuzzer target over invalidation-context operation sequences (queue,
 * flush, poll, kick, injected sync failures, bad input) against a shadow model.
 *
 * Input: byte 0 picks the configuration (ring order 2..5, flush-all threshold 0..7); then
 * opcodes with arguments. The context runs over stub IOMMU ops that record, for every
 * table page queued, whether an invalidation covering its entry's range (or all) was issued
 * after the queue and a sync succeeded after that invalidation. After every step:
 *   I2  a table page is freed only after such an invalidation and sync; a page whose
 *       covering sync failed is never freed (until destroy's own successful inv_all+sync);
 *   I6  queued = pending + released + quarantined (from the context's stats), and the IOVA
 *       allocator's audit closes with live = pages of the model's pending and quarantined
 *       entries (single-threaded, a flush resolves every pending entry in queue order,
 *       except one queued after it began; quarantined ones first);
 *   I5  bad queue arguments return -EINVAL and change no counter;
 *       an explicit flush leaves nothing pending and returns the injected error, if any.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iovx/inval.h>
#include <iovx/iova.h>
#include "fuzz_input.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_inval: %s failed at line %d\n", #c, \
					      __LINE__); abort(); } } while (0)

#define MAXE	256
#define MAXP	512
#define SHIFT	12

enum { E_PENDING, E_RELEASED, E_QUAR };

struct page {
	struct iovx_iommu_freed_page node;
	uint64_t start, end;		/* the entry's IOVA range */
	bool queued, inv, synced, freed, failed;
};

struct model {
	struct iovx_iommu iommu;
	struct page pages[MAXP];
	unsigned int npages_used;
	unsigned int fail_next;
	int fail_err;
	uint64_t syncs_failed;
	bool destroying;
	struct {
		uint64_t pfn, n;
		int state;
	} e[MAXE];
	unsigned int ne;
};

static struct model *M;

static int s_map(struct iovx_iommu *i, uint64_t a, uint64_t p, uint64_t s, unsigned int pr,
		 unsigned int g)
{
	return -EOPNOTSUPP;
}

static uint64_t s_unmap(struct iovx_iommu *i, uint64_t a, uint64_t s,
			struct iovx_iommu_freelist *f)
{
	return 0;
}

static int s_inv_range(struct iovx_iommu *i, uint64_t iova, uint64_t size)
{
	unsigned int k;

	CHECK(size && iova + size > iova);
	for (k = 0; k < M->npages_used; k++) {
		struct page *p = &M->pages[k];

		if (p->queued && !p->freed && iova <= p->start && iova + size >= p->end)
			p->inv = true;
	}
	return 0;
}

static int s_inv_all(struct iovx_iommu *i)
{
	unsigned int k;

	for (k = 0; k < M->npages_used; k++)
		if (M->pages[k].queued && !M->pages[k].freed)
			M->pages[k].inv = true;
	return 0;
}

static int s_sync(struct iovx_iommu *i)
{
	unsigned int k;

	if (M->fail_next) {
		M->fail_next--;
		M->syncs_failed++;
		/* whatever waited on this sync must never be freed */
		for (k = 0; k < M->npages_used; k++)
			if (M->pages[k].inv && !M->pages[k].synced)
				M->pages[k].failed = true;
		return M->fail_err;
	}
	for (k = 0; k < M->npages_used; k++) {
		struct page *p = &M->pages[k];

		if (p->inv) {
			p->synced = true;
			if (M->destroying)
				p->failed = false;
		}
	}
	return 0;
}

static void s_free_pages(struct iovx_iommu *i, struct iovx_iommu_freelist *l)
{
	struct iovx_iommu_freed_page *n = l->head;

	while (n) {
		struct page *p = (struct page *)n;

		n = n->next;
		CHECK(p->queued && p->inv && p->synced && !p->freed);	/* I2 */
		CHECK(!p->failed);
		p->freed = true;
	}
	iovx_iommu_freelist_init(l);
}

static const struct iovx_iommu_ops s_ops = {
	.map = s_map, .unmap = s_unmap, .inv_range = s_inv_range, .inv_all = s_inv_all,
	.sync = s_sync, .free_pages = s_free_pages,
};

static uint64_t model_live(void)
{
	uint64_t live = 0;
	unsigned int k;

	for (k = 0; k < M->ne; k++)
		if (M->e[k].state != E_RELEASED)
			live += M->e[k].n;
	return live;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Completed entries are released by their ring's CPU slot (docs/inval.md): the model's
 * "this thread's ring" holds only if the thread stays on one CPU, so pin it once.
 */
static void pin_here(void)
{
	static int pinned;
	cpu_set_t set;
	int cpu;

	if (pinned)
		return;
	pinned = 1;
	cpu = sched_getcpu();
	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct iovx_iova_domain *iovad;
	struct iovx_iova_config ic;
	struct iovx_inval_config cfg;
	struct iovx_inval *ctx;
	struct iovx_inval_stats a, b;
	struct iovx_iova_stats is;
	uint64_t c0, q_total;
	int steps = 0;

	pin_here();
	M = calloc(1, sizeof(*M));
	CHECK(M);
	M->iommu.ops = &s_ops;
	M->iommu.granule_shift = SHIFT;
	M->iommu.ias_bits = 32;
	M->iommu.oas_bits = 48;
	c0 = get(&in, 1);
	iovx_inval_config_init(&cfg);
	cfg.ring_order = 2 + (unsigned int)(c0 & 3);
	cfg.flush_all_threshold = (unsigned int)(c0 >> 2) & 7;
	cfg.flags = IOVX_INVAL_F_NO_TIMER;
	cfg.max_age_ns = IOVX_INVAL_MAX_MAX_AGE_NS;	/* poll flushes only when told (below) */
	if (c0 & 0x80)
		cfg.max_age_ns = IOVX_INVAL_MIN_MAX_AGE_NS;
	iovx_iova_config_init(&ic, 1, 1ull << 20);
	ic.flags = IOVX_IOVA_CHECKED | IOVX_IOVA_NO_CACHE;
	CHECK(iovx_iova_domain_create(&ic, &iovad) == 0);
	CHECK(iovx_inval_create(&M->iommu, iovad, &cfg, &ctx) == 0);

	while (in.n && steps++ < 400) {
		unsigned int op = (unsigned int)get(&in, 1) % 6, k;
		uint64_t arg = get(&in, 1), resolved, q, r;
		int ret = 0;

		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		CHECK(iovx_inval_get_stats(ctx, &a) == 0);
		switch (op) {
		case 0:
		case 1: {	/* alloc + queue with 0..2 table pages */
			uint64_t n = 1ull << (arg & 3);
			unsigned int np = (unsigned int)(arg >> 2) % 3;
			struct iovx_iommu_freelist l;
			int64_t pfn;

			if (M->ne == MAXE || M->npages_used + np > MAXP)
				break;
			pfn = iovx_iova_alloc(iovad, n, IOVX_IOVA_NO_LIMIT);
			CHECK(pfn > 0);
			iovx_iommu_freelist_init(&l);
			for (k = 0; k < np; k++) {
				struct page *p = &M->pages[M->npages_used++];

				p->start = (uint64_t)pfn << SHIFT;
				p->end = ((uint64_t)pfn + n) << SHIFT;
				p->queued = true;
				iovx_iommu_freelist_add(&l, &p->node);
			}
			M->e[M->ne].pfn = (uint64_t)pfn;
			M->e[M->ne].n = n;
			M->e[M->ne].state = E_PENDING;
			M->ne++;
			ret = iovx_inval_queue(ctx, (uint64_t)pfn, n, &l);
			CHECK(!l.head);
			break;
		}
		case 2:		/* explicit flush */
			ret = iovx_inval_flush(ctx);
			break;
		case 3:		/* poll, or a kick (flush + release of this CPU's ring) */
			if (arg & 8) {
				ret = iovx_inval_kick(ctx);
				CHECK(ret == 1 || ret == -EIO || ret == -ETIMEDOUT);
			} else {
				ret = iovx_inval_poll(ctx);
				CHECK(ret >= 0 || ret == -EIO || ret == -ETIMEDOUT);
			}
			break;
		case 4:		/* the next 1..2 syncs fail */
			M->fail_next = 1 + (unsigned int)(arg & 1);
			M->fail_err = arg & 2 ? -ETIMEDOUT : -EIO;
			break;
		case 5: {	/* bad input changes nothing */
			static const uint64_t bad[][2] = {
				{ 1, 0 }, { 1ull << 20, 1 }, { (1ull << 20) - 1, 2 },
				{ 1, UINT64_MAX }, { UINT64_MAX, 1 },
			};
			const uint64_t *bd = bad[arg % 5];

			CHECK(iovx_inval_queue(ctx, bd[0], bd[1], NULL) == -EINVAL);
			CHECK(iovx_inval_queue(NULL, 1, 1, NULL) == -EINVAL);
			CHECK(iovx_inval_get_stats(ctx, &b) == 0);
			CHECK(!memcmp(&a, &b, sizeof(a)));
			break;
		}
		}
		CHECK(iovx_inval_get_stats(ctx, &b) == 0);
		/* I6 */
		CHECK(b.queued == b.pending + b.released + b.quarantined_ranges);
		CHECK(b.direct == 0);	/* single thread: the flush is never busy */
		/* shadow: resolve the oldest pending entries, quarantined first */
		q = b.quarantined_ranges - a.quarantined_ranges;
		r = b.released - a.released;
		resolved = 0;
		for (k = 0; k < M->ne && resolved < q + r; k++) {
			if (M->e[k].state != E_PENDING)
				continue;
			M->e[k].state = resolved < q ? E_QUAR : E_RELEASED;
			resolved++;
		}
		CHECK(resolved == q + r);
		if (op == 3 && (arg & 8))	/* one thread, one ring: the kick released it */
			CHECK(b.pending == 0 && b.unflushed == 0);
		if (op == 2) {
			CHECK(b.pending == 0);
			if (b.sync_errors > a.sync_errors)
				CHECK(ret == -EIO || ret == -ETIMEDOUT);
			else
				CHECK(ret == 0);
		} else if (op <= 1) {
			CHECK(ret == 0);
		}
		CHECK(b.sync_errors == M->syncs_failed);
		CHECK(iovx_iova_audit(iovad, &is) == 0);
		CHECK(is.live == model_live());
	}
	CHECK(iovx_inval_get_stats(ctx, &a) == 0);
	q_total = a.quarantined_ranges;
	M->fail_next = 0;
	M->destroying = true;
	CHECK(iovx_inval_destroy(ctx) == (int)q_total);
	{
		uint64_t live = 0;
		unsigned int k;

		/* what was pending at destroy was released; quarantined IOVAs stay out */
		for (k = 0; k < M->ne; k++)
			if (M->e[k].state == E_QUAR)
				live += M->e[k].n;
		CHECK(iovx_iova_audit(iovad, &is) == 0);
		CHECK(is.live == live);
		/* every page was freed: normally, or after destroy's inv_all + sync */
		for (k = 0; k < M->npages_used; k++)
			CHECK(M->pages[k].freed);
	}
	iovx_iova_domain_destroy(iovad);
	free(M);
	return 0;
}

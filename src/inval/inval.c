// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * inval.c - deferred, batched IOTLB invalidation: per-CPU flush queues (fq.c), flush
 * generations, triggers, release and quarantine (DESIGN.md §5).
 *
 * What and why: the kernel's lazy mode (iommu-dma flush queues) keeps per-CPU rings under a
 * spinlock, flushes the whole domain from whichever CPU fills its ring and from a 10 ms
 * timer, and lets every trigger issue its own flush. Here the rings are lock-free (fq.c),
 * exactly one flush runs at a time and serves every ring, triggers that find one running
 * collapse into it, and the flush only invalidates and syncs: the completed entries of a
 * ring are released (iovx_iova_free + free_pages) by whoever next touches that ring from its
 * own CPU slot (its next enqueue, or iovx_inval_poll there), as the kernel's per-CPU
 * fq_ring_free does for its own ring, so IOVAs go back to the cache of the CPU that
 * unmapped them. Only a ring idle for the age bound is drained by the timer (or a poll
 * elsewhere), and iovx_inval_flush / destroy drain every ring (explicit, rare).
 *
 * Generation scheme. start_gen counts flushes that began (a flush takes F = ++start_gen
 * before it looks at any ring); finish_gen is the number of the last flush that completed
 * (its sync returned). An entry records gen = start_gen as read before it is published.
 * Flush F collects, ring by ring, the published entries with gen < F, issues
 * one range invalidation per coalesced collected range (or one invalidate-all past
 * flush_all_threshold ranges), one sync, marks the collected cells bad if the sync failed,
 * and sets finish_gen = F. A releaser consumes a cell only when taken != 0 and taken <=
 * finish_gen (read with acquire): so an entry is released only when finish_gen >= F > gen,
 * after a flush that began after the entry's enqueue has completed.
 *
 * Invariants:
 *   I2  an entry's IOVA range and table pages are released only after a sync that followed
 *       an invalidation covering the range (its own range or all) issued after the owner saw
 *       the entry published, hence after the page-table clears (E-F1); a failed sync
 *       releases nothing: the entries are quarantined (counted, never reused).
 *   I4  staleness (enqueue to completed flush) is bounded: 3/4 of a ring's size queued
 *       and not yet collected (unflushed, over all rings) flushes (count);
 *       an enqueue, a poll or the timer flushes once the oldest pending entry is 3/4 of the
 *       bound old (time); see docs/inval.md for the slack.
 *   I6  every queued entry is pending, released, or quarantined: queued = pending +
 *       released + quarantined (from the rings); direct entries never enter a ring.
 *   L1  at most one flush runs (ctx->flushing); only it writes taken (0 -> F) and bad.
 *   L2  a flush that begins after an enqueue returned collects that entry (E-G1), so
 *       iovx_inval_flush only waits for finish_gen > the start_gen it read.
 *   L3  a ring is consumed only by the holder of its release flag (fq.c _sc); a thread that
 *       finds the flag taken skips the ring (its holder is releasing it): nobody waits for
 *       another thread's release except iovx_inval_flush and destroy (drains, _sync).
 *   L4  a cell with taken == 0 is never consumed, so the flush may read it once it has
 *       checked (E-G6) that the taken == 0 it saw belongs to the lap it peeked.
 *
 * Progress: iovx_inval_queue is lock-free: it never waits for the flush owner nor for a
 * releaser (L3); with its ring full and the flush busy it invalidates and syncs its own
 * range (direct path). iovx_inval_kick and _poll never wait either. A flush is
 * blocking by nature (it waits for the hardware); iovx_inval_flush waits for the flush owner,
 * so an owner stopped forever stops explicit flushes (not queues, polls or the timer, which
 * return when the owner flag is taken).
 *
 * Synchronization table (same context):
 *              queue  flush  kick  poll  timer  stats  create/destroy
 *   queue        y      y     y     y      y      y        n
 *   flush        y      y     y     y      y      y        n
 *   kick         y      y     y     y      y      y        n
 *   poll         y      y     y     y      y      y        n
 *   stats        y      y     y     y      y      y        n
 *
 * Ordering edges:
 *   E-G1 queue: fence_seq_cst after publishing (E-F1) and before reading timer_pending;
 *        flush: fence_seq_cst after ++start_gen and before scanning rings; flush(): fence
 *        before reading start_gen. Store-buffering pairs: an enqueue that read a start_gen
 *        below F (or completed before the caller of iovx_inval_flush read it) is visible to
 *        F's scan; an enqueue that saw timer_pending set is visible to the timer's flush.
 *   E-G2 finish_gen: store-release after the release of the flush's entries; pairs with the
 *        acquire loads in iovx_inval_flush (a waiter sees the flush's results).
 *   E-G3 flushing: acquire CAS to take ownership, store-release to give it up; pairs
 *        between consecutive owners (ring heads, cut, max_stale).
 *   E-G4 quarantine stack: release CAS on push; popped only at destroy (quiescent).
 *   E-G5 ring release flag: acquire CAS to take it, store-release to drop it; pairs between
 *        consecutive releasers of a ring (head, consumed cells, the pages freed under it: a
 *        drain that took the flag after a releaser sees that releaser's frees). The
 *        releaser's acquire load of finish_gen (E-G2) orders its reads of taken, bad and
 *        the cell after the writes of the flush that took it.
 *   E-G6 taken: the producer resets it with a store-release after claiming (after the
 *        acquire of E-F2); the flush loads it with acquire and then re-reads seq: if it read
 *        a next lap's 0, the seq re-read sees the next lap (read-read coherence) and skips.
 */
#include "inval_internal.h"

enum inval_trigger { TRIG_RING, TRIG_AGE, TRIG_EXPLICIT };

struct iovx_inval {
	struct iovx_iommu *iommu;
	struct iovx_iova_domain *iovad;
	struct fq_ring *rings;
	unsigned int nr_rings;
	unsigned int shift;
	uint64_t ring_size;
	uint64_t high_water;		/* pending entries that trigger a flush */
	uint64_t max_pfn;		/* first pfn beyond the IOMMU's input size */
	uint64_t trig_age;		/* age trigger: 3/4 of the bound */
	unsigned int flush_all;
	unsigned int flags;
	bool has_timer;
	struct iovx_timer timer;
	uint64_t idle_ns;		/* a ring untouched this long is drained remotely */

	uint64_t start_gen IOVX_ALIGNED(IOVX_CACHELINE);
	uint64_t finish_gen IOVX_ALIGNED(IOVX_CACHELINE);
	uint64_t flushing;		/* L1: 1 while a flush runs */
	uint64_t failed_gen;		/* number of the last flush whose sync failed */
	/* enqueue time of the oldest pending entry; 0: none since the last flush */
	uint64_t oldest_t IOVX_ALIGNED(IOVX_CACHELINE);
	uint64_t timer_pending;
	uint64_t last_err;		/* -errno of the last failed sync */
	struct iovx_iommu_freed_page *quarantine;	/* E-G4 */
	struct iovx_inval_stats st IOVX_ALIGNED(IOVX_CACHELINE);	/* relaxed atomics */
};

#define ST_ADD(ctx, f, v)	((void)iovx_fetch_add_relaxed(&(ctx)->st.f, (uint64_t)(v)))

void iovx_inval_config_init(struct iovx_inval_config *cfg)
{
	if (!cfg)
		return;
	cfg->ring_order = IOVX_INVAL_DEFAULT_RING_ORDER;
	cfg->max_age_ns = IOVX_INVAL_DEFAULT_MAX_AGE_NS;
	cfg->flush_all_threshold = IOVX_INVAL_DEFAULT_FLUSH_ALL;
	cfg->flags = 0;
}

/* ------------------------------------------------------------------ release */

static void quarantine_pages(struct iovx_inval *ctx, struct iovx_iommu_freed_page *p)
{
	while (p) {
		struct iovx_iommu_freed_page *next = p->next, *old;

		old = iovx_load_relaxed(&ctx->quarantine);
		do {
			p->next = old;
		} while (!iovx_cmpxchg_acq_rel(&ctx->quarantine, &old, p));	/* E-G4 */
		ST_ADD(ctx, quarantined_tables, 1);
		p = next;
	}
}

static void quarantine_range(struct iovx_inval *ctx, uint64_t npages,
			     struct iovx_iommu_freed_page *pages)
{
	ST_ADD(ctx, quarantined_ranges, 1);
	ST_ADD(ctx, quarantined_pages, npages);
	quarantine_pages(ctx, pages);
}

static void note_error(struct iovx_inval *ctx, int err)
{
	ST_ADD(ctx, sync_errors, 1);
	iovx_store_relaxed(&ctx->last_err, (uint64_t)-err);
}

static int do_sync(struct iovx_inval *ctx)
{
	int err = ctx->iommu->ops->sync(ctx->iommu);

	ST_ADD(ctx, syncs, 1);
	if (err)
		note_error(ctx, err);
	return err;
}

/* Full ring and a flush running elsewhere: this entry alone, now, as strict mode would. */
static int queue_direct(struct iovx_inval *ctx, uint64_t pfn, uint64_t npages,
			struct iovx_iommu_freelist *pages)
{
	int err;

	ST_ADD(ctx, direct, 1);
	(void)ctx->iommu->ops->inv_range(ctx->iommu, pfn << ctx->shift, npages << ctx->shift);
	ST_ADD(ctx, inv_ranges, 1);
	err = do_sync(ctx);
	if (err) {
		quarantine_range(ctx, npages, pages ? pages->head : NULL);
	} else {
		if (pages && pages->head)
			ctx->iommu->ops->free_pages(ctx->iommu, pages);
		(void)iovx_iova_free(ctx->iovad, pfn, npages);
	}
	if (pages)
		iovx_iommu_freelist_init(pages);
	return err;
}

/*
 * Releases (or quarantines) the completed cells of r: taken != 0 && taken <= finish_gen,
 * from head up to the first published cell that is not complete (a flush collects a ring
 * in position order, so what follows is younger; a cell skipped as young or a gap is taken
 * by the next flush, which then lets the scan past it): O(1) when nothing completed, as on
 * most enqueues.
 * Takes r's release flag; -EBUSY when another thread holds it (it is releasing r), else the
 * number of cells consumed. remote: the caller is not on r's CPU slot (counted).
 */
static int ring_release(struct iovx_inval *ctx, struct fq_ring *r, bool remote)
{
	struct iovx_iommu_freelist freed;
	uint64_t pos, tail, fin, zero = 0, n = 0, nrel = 0;

	if (iovx_load_relaxed(&r->releasing) ||
	    !iovx_cmpxchg_acq_rel(&r->releasing, &zero, 1))	/* E-G5 */
		return -EBUSY;
	fin = iovx_load_acquire(&ctx->finish_gen);		/* E-G2 */
	tail = iovx_load_relaxed(&r->tail);
	iovx_iommu_freelist_init(&freed);
	for (pos = iovx_load_relaxed(&r->head); pos < tail; pos++) {
		struct fq_cell *c = iovx_inval_fq_peek_sc(r, pos);
		uint64_t t;

		if (!c)
			continue;	/* a gap (or consumed past a gap): skip it */
		t = iovx_load_relaxed(&c->taken);
		if (!t || t > fin)
			break;	/* flushes take a ring in order: the rest is younger */
		if (c->bad) {
			quarantine_range(ctx, c->npages, c->pg_head);
		} else {
			if (c->pg_head) {
				struct iovx_iommu_freelist l = { c->pg_head, c->pg_tail, c->pg_nr };

				iovx_iommu_freelist_splice(&freed, &l);
			}
			(void)iovx_iova_free(ctx->iovad, c->pfn, c->npages);
			nrel++;
		}
		iovx_inval_fq_consume_sc(r, pos);			/* E-F2 */
		n++;
	}
	if (n)
		iovx_inval_fq_advance_sc(r);
	/* under the flag: a later holder (a drain) is ordered after the frees */
	if (freed.head)
		ctx->iommu->ops->free_pages(ctx->iommu, &freed);
	iovx_store_release(&r->releasing, 0);			/* E-G5 */
	if (n) {
		ST_ADD(ctx, released, nrel);
		if (remote)
			ST_ADD(ctx, released_remote, nrel);
		ST_ADD(ctx, pending, -n);
	}
	return (int)n;
}

static struct fq_ring *home_ring(struct iovx_inval *ctx)
{
	return &ctx->rings[iovx_cpu_hint() % ctx->nr_rings];
}

/* The caller's own ring: release what completed, note the slot is active. */
static void release_local(struct iovx_inval *ctx, struct fq_ring *r, uint64_t now)
{
	iovx_store_relaxed(&r->touched, now);
	(void)ring_release(ctx, r, false);
}

/* Rings not touched by their slot for idle_ns (or all: drain): released by the caller. */
static void release_idle(struct iovx_inval *ctx, struct fq_ring *self, uint64_t now, bool all)
{
	unsigned int i;

	for (i = 0; i < ctx->nr_rings; i++) {
		struct fq_ring *r = &ctx->rings[i];
		uint64_t t = iovx_load_relaxed(&r->touched);

		if (r == self || (!all && (now <= t || now - t < ctx->idle_ns)))
			continue;
		if (all) {
			while (ring_release(ctx, r, true) == -EBUSY)
				iovx_cpu_relax();	/* drain: _sync, waits for that releaser */
		} else {
			(void)ring_release(ctx, r, true);
		}
	}
}

/* ------------------------------------------------------------------ the flush */

static void max_stale(struct iovx_inval *ctx, uint64_t now, uint64_t t_enq)
{
	uint64_t age = now > t_enq ? now - t_enq : 0;

	if (age > iovx_load_relaxed(&ctx->st.max_stale_ns))	/* owner-only writer (E-G3) */
		iovx_store_relaxed(&ctx->st.max_stale_ns, age);
}

/* A cell that pass 1 of flush F collected (published, not consumed, taken == F). */
static struct fq_cell *taken_cell(struct fq_ring *r, uint64_t pos, uint64_t F)
{
	struct fq_cell *c = iovx_inval_fq_peek_sc(r, pos);

	/* a next lap's taken is 0 or > F: never F (L1) */
	return c && iovx_load_relaxed(&c->taken) == F ? c : NULL;
}

/* The flush proper; the caller owns ctx->flushing (L1). Returns the sync's result. */
static int flush_owned(struct iovx_inval *ctx, enum inval_trigger trig)
{
	struct iovx_inval_gather g = { 0, 0, 0 };
	uint64_t F, n = 0, now;
	unsigned int i;
	int err = 0;

	F = iovx_fetch_add_acq_rel(&ctx->start_gen, 1) + 1;
	now = iovx_now_ns();
	iovx_store_relaxed(&ctx->oldest_t, 0);
	iovx_fence_seq_cst();	/* E-G1: pairs with the enqueue's and flush()'s fences */

	/*
	 * Pass 1: what this flush collects: every published cell with gen < F, ring by ring;
	 * gaps (claimed, unpublished) and younger cells stay for a later flush.
	 */
	for (i = 0; i < ctx->nr_rings; i++) {
		struct fq_ring *r = &ctx->rings[i];
		uint64_t pos;

		r->cut = iovx_load_relaxed(&r->tail);
		for (pos = iovx_load_relaxed(&r->head); pos < r->cut; pos++) {
			struct fq_cell *c = iovx_inval_fq_peek_sc(r, pos);

			if (!c || iovx_load_acquire(&c->taken) ||		/* E-G6 */
			    iovx_load_relaxed(&c->seq) != pos + 1)		/* L4 */
				continue;
			if (c->gen < F) {
				iovx_store_relaxed(&c->taken, F);
				n++;
			}
		}
	}
	if (n) {
		/* Pass 2: invalidate what was collected, then one sync. */
		if (n > ctx->flush_all) {
			(void)ctx->iommu->ops->inv_all(ctx->iommu);
			ST_ADD(ctx, inv_alls, 1);
		} else {
			for (i = 0; i < ctx->nr_rings; i++) {
				struct fq_ring *r = &ctx->rings[i];
				uint64_t pos;

				for (pos = iovx_load_relaxed(&r->head); pos < r->cut;
				     pos++) {
					struct fq_cell *c = taken_cell(r, pos, F);

					if (c)
						iovx_inval_gather_add(ctx->iommu, &g,
							c->pfn << ctx->shift,
							(c->pfn + c->npages) << ctx->shift);
				}
			}
			iovx_inval_gather_issue(ctx->iommu, &g);
			ST_ADD(ctx, inv_ranges, g.issued);
		}
		err = do_sync(ctx);
		now = iovx_now_ns();
	}

	/*
	 * Pass 3: mark the batch bad on a failed sync (quarantined by its releaser) and note
	 * the staleness; the cells stay on their rings for their own CPU slots to release.
	 */
	for (i = 0; n && i < ctx->nr_rings; i++) {
		struct fq_ring *r = &ctx->rings[i];
		uint64_t pos;

		for (pos = iovx_load_relaxed(&r->head); pos < r->cut; pos++) {
			struct fq_cell *c = taken_cell(r, pos, F);

			if (!c)
				continue;
			if (err)
				c->bad = 1;
			else
				max_stale(ctx, now, c->t_enq);
		}
	}
	ST_ADD(ctx, unflushed, -n);
	ST_ADD(ctx, flushes, 1);
	if (trig == TRIG_RING)
		ST_ADD(ctx, flushes_ring, 1);
	else if (trig == TRIG_AGE)
		ST_ADD(ctx, flushes_age, 1);
	else
		ST_ADD(ctx, flushes_explicit, 1);
	if (err)
		iovx_store_relaxed(&ctx->failed_gen, F);
	/* Left over (published late or gen >= F): their age counts from this flush at most. */
	if (iovx_load_relaxed(&ctx->st.unflushed)) {
		uint64_t zero = 0;

		(void)iovx_cmpxchg_relaxed(&ctx->oldest_t, &zero, now);
	}
	iovx_store_release(&ctx->finish_gen, F);	/* E-G2 */
	return err;
}

/*
 * One flush if nobody runs one: 0 or the sync error; -EBUSY when another owns the flush;
 * 1 when, once owner, it found finish_gen >= target already (a flush that served the
 * caller completed between its check and its CAS; finish_gen only moves under the flag, so
 * this re-check is exact). target 0: always flush.
 */
static int try_flush(struct iovx_inval *ctx, enum inval_trigger trig, uint64_t target)
{
	uint64_t zero = 0;
	int err;

	if (iovx_load_relaxed(&ctx->flushing) ||
	    !iovx_cmpxchg_acq_rel(&ctx->flushing, &zero, 1))	/* E-G3 */
		return -EBUSY;
	if (target && iovx_load_acquire(&ctx->finish_gen) >= target)	/* E-G2 */
		err = 1;
	else
		err = flush_owned(ctx, trig);
	iovx_store_release(&ctx->flushing, 0);		/* E-G3 */
	return err;
}

static bool aged(struct iovx_inval *ctx, uint64_t now)
{
	uint64_t t = iovx_load_relaxed(&ctx->oldest_t);

	return t && now > t && now - t >= ctx->trig_age && iovx_load_relaxed(&ctx->st.unflushed);
}

static void arm_timer(struct iovx_inval *ctx, uint64_t delay)
{
	if (!ctx->has_timer || iovx_load_relaxed(&ctx->timer_pending) ||
	    iovx_xchg_acq_rel(&ctx->timer_pending, 1))
		return;
	iovx_timer_arm(&ctx->timer, delay);
}

static void timer_fn(void *arg)
{
	struct iovx_inval *ctx = arg;
	int err;

	iovx_store_relaxed(&ctx->timer_pending, 0);
	iovx_fence_seq_cst();	/* E-G1: pairs with the enqueue's fence */
	if (!iovx_load_relaxed(&ctx->st.pending))
		return;
	if (iovx_load_relaxed(&ctx->st.unflushed)) {
		err = try_flush(ctx, TRIG_AGE, 0);
		if (err == -EBUSY) {
			ST_ADD(ctx, collapsed, 1);
			arm_timer(ctx, ctx->trig_age / 4);
			return;
		}
	}
	/* Completed entries of rings whose slot went idle: nobody else would release them. */
	release_idle(ctx, NULL, iovx_now_ns(), false);
	if (iovx_load_relaxed(&ctx->st.pending))
		arm_timer(ctx, ctx->trig_age);
}

/* ------------------------------------------------------------------ API */

int iovx_inval_create(struct iovx_iommu *iommu, struct iovx_iova_domain *iovad,
		      const struct iovx_inval_config *cfg, struct iovx_inval **out)
{
	struct iovx_inval_config def;
	struct iovx_inval *ctx;
	unsigned int i;
	int err;

	if (!cfg) {
		iovx_inval_config_init(&def);
		cfg = &def;
	}
	if (!iommu || !iommu->ops || !iovad || !out ||
	    cfg->ring_order < IOVX_INVAL_MIN_RING_ORDER ||
	    cfg->ring_order > IOVX_INVAL_MAX_RING_ORDER ||
	    cfg->max_age_ns < IOVX_INVAL_MIN_MAX_AGE_NS ||
	    cfg->max_age_ns > IOVX_INVAL_MAX_MAX_AGE_NS || cfg->flags & ~IOVX_INVAL_F_NO_TIMER ||
	    iommu->granule_shift < 12 || iommu->granule_shift > 16 || iommu->ias_bits > 63 ||
	    iommu->ias_bits <= iommu->granule_shift)
		return -EINVAL;
	ctx = iovx_zalloc_aligned(sizeof(*ctx), IOVX_CACHELINE, IOVX_GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->iommu = iommu;
	ctx->iovad = iovad;
	ctx->shift = iommu->granule_shift;
	ctx->max_pfn = 1ull << (iommu->ias_bits - iommu->granule_shift);
	ctx->ring_size = 1ull << cfg->ring_order;
	ctx->high_water = ctx->ring_size - ctx->ring_size / 4;
	ctx->trig_age = cfg->max_age_ns - cfg->max_age_ns / 4;
	ctx->idle_ns = cfg->max_age_ns;
	ctx->flush_all = cfg->flush_all_threshold;
	ctx->flags = cfg->flags;
	ctx->nr_rings = iovx_nr_cpu_ids();
	ctx->rings = iovx_zalloc_aligned(ctx->nr_rings * sizeof(*ctx->rings), IOVX_CACHELINE,
					 IOVX_GFP_KERNEL);
	if (!ctx->rings) {
		iovx_free(ctx);
		return -ENOMEM;
	}
	for (i = 0; i < ctx->nr_rings; i++) {
		err = iovx_inval_fq_init(&ctx->rings[i], cfg->ring_order);
		if (err)
			goto fail;
	}
	if (!(cfg->flags & IOVX_INVAL_F_NO_TIMER)) {
		err = iovx_timer_init(&ctx->timer, timer_fn, ctx);
		if (err)
			goto fail;
		ctx->has_timer = true;
	}
	*out = ctx;
	return 0;
fail:
	while (i--)
		iovx_inval_fq_destroy(&ctx->rings[i]);
	iovx_free(ctx->rings);
	iovx_free(ctx);
	return err;
}

int iovx_inval_destroy(struct iovx_inval *ctx)
{
	uint64_t q;
	unsigned int i;

	if (!ctx)
		return -EINVAL;
	if (ctx->has_timer)
		iovx_timer_cancel_sync(&ctx->timer);
	/* Quiescent: every entry is published; at most two flushes take them all (gen < F). */
	for (i = 0; i < 3 && iovx_load_relaxed(&ctx->st.unflushed); i++)
		(void)try_flush(ctx, TRIG_EXPLICIT, 0);
	release_idle(ctx, NULL, 0, true);
	if (ctx->has_timer)
		iovx_timer_destroy(&ctx->timer);
	if (ctx->quarantine && !ctx->iommu->ops->inv_all(ctx->iommu) &&
	    !ctx->iommu->ops->sync(ctx->iommu)) {
		struct iovx_iommu_freelist l;

		iovx_iommu_freelist_init(&l);
		while (ctx->quarantine) {
			struct iovx_iommu_freed_page *p = ctx->quarantine;

			ctx->quarantine = p->next;
			iovx_iommu_freelist_add(&l, p);
		}
		ctx->iommu->ops->free_pages(ctx->iommu, &l);
	}
	for (i = 0; i < ctx->nr_rings; i++)
		iovx_inval_fq_destroy(&ctx->rings[i]);
	q = ctx->st.quarantined_ranges;
	iovx_free(ctx->rings);
	iovx_free(ctx);
	return (int)(q > 0x7fffffff ? 0x7fffffff : q);
}

int iovx_inval_queue(struct iovx_inval *ctx, uint64_t pfn, uint64_t npages,
		     struct iovx_iommu_freelist *pages)
{
	struct fq_ring *r;
	struct fq_cell *c;
	uint64_t pos, now, zero = 0;
	unsigned int home;
	int tries;

	if (!ctx || !npages || pfn >= ctx->max_pfn || npages > ctx->max_pfn - pfn)
		return -EINVAL;
	home = iovx_cpu_hint() % ctx->nr_rings;
	r = &ctx->rings[home];
	now = iovx_now_ns();
	/* This slot's completed entries go back to this CPU's IOVA cache (and free cells). */
	release_local(ctx, r, now);
	for (tries = 0;; tries++) {
		unsigned int i;

		c = iovx_inval_fq_claim_mpsc(r, &pos);
		if (c)
			break;
		/*
		 * Full. One flush serves every ring, so another CPU's ring is as good as ours
		 * (MPSC-safe); then flush ourselves; if another thread owns the flush, do not
		 * wait for it.
		 */
		for (i = 1; i < ctx->nr_rings && !c; i++) {
			r = &ctx->rings[(home + i) % ctx->nr_rings];
			c = iovx_inval_fq_claim_mpsc(r, &pos);
		}
		if (c)
			break;
		r = &ctx->rings[home];
		if (tries >= 2 || try_flush(ctx, TRIG_RING, 0) == -EBUSY)
			return queue_direct(ctx, pfn, npages, pages);
		(void)ring_release(ctx, r, false);	/* full of completed entries: free them */
	}
	iovx_store_release(&c->taken, 0);		/* E-G6 */
	c->bad = 0;
	c->pfn = pfn;
	c->npages = npages;
	c->t_enq = now;
	if (pages && pages->head) {
		c->pg_head = pages->head;
		c->pg_tail = pages->tail;
		c->pg_nr = pages->nr_pages;
		iovx_iommu_freelist_init(pages);
	} else {
		c->pg_head = NULL;
		c->pg_tail = NULL;
		c->pg_nr = 0;
	}
	c->gen = iovx_load_acquire(&ctx->start_gen);
	ST_ADD(ctx, pending, 1);
	ST_ADD(ctx, unflushed, 1);
	ST_ADD(ctx, queued, 1);
	iovx_inval_fq_publish_mpsc(r, c, pos);		/* E-F1 */
	(void)iovx_cmpxchg_relaxed(&ctx->oldest_t, &zero, now);
	iovx_fence_seq_cst();	/* E-G1: pairs with the flush's and the timer's fences */
	arm_timer(ctx, ctx->trig_age);

	if (iovx_load_relaxed(&ctx->st.unflushed) >= ctx->high_water) {
		if (try_flush(ctx, TRIG_RING, 0) == -EBUSY)
			ST_ADD(ctx, collapsed, 1);
		else
			(void)ring_release(ctx, &ctx->rings[home], false);
	} else if (aged(ctx, now)) {
		if (try_flush(ctx, TRIG_AGE, 0) == -EBUSY)
			ST_ADD(ctx, collapsed, 1);
		else
			(void)ring_release(ctx, &ctx->rings[home], false);
	}
	/* A failed sync of a triggered flush quarantined its entries; flush() reports it. */
	return 0;
}

int iovx_inval_flush(struct iovx_inval *ctx)
{
	uint64_t target, fin, failed;
	bool mine = false;
	int err;

	if (!ctx)
		return -EINVAL;
	iovx_fence_seq_cst();	/* E-G1: everything queued before this call is visible */
	target = iovx_load_acquire(&ctx->start_gen) + 1;
	for (;;) {
		fin = iovx_load_acquire(&ctx->finish_gen);	/* E-G2 */
		if (fin >= target)
			break;
		err = try_flush(ctx, TRIG_EXPLICIT, target);
		if (err == -EBUSY)
			iovx_cpu_relax();
		else if (err != 1)
			mine = true;
	}
	if (!mine)
		ST_ADD(ctx, collapsed, 1);
	/* Drain: everything queued before the call completed; release it now, every ring. */
	{
		struct fq_ring *self = home_ring(ctx);

		release_local(ctx, self, iovx_now_ns());
		release_idle(ctx, self, 0, true);
	}
	/* The flushes numbered target..fin served this call: did one of them fail? */
	failed = iovx_load_relaxed(&ctx->failed_gen);
	if (failed >= target && failed <= fin)
		return -(int)iovx_load_relaxed(&ctx->last_err);
	return 0;
}

int iovx_inval_kick(struct iovx_inval *ctx)
{
	int err;

	if (!ctx)
		return -EINVAL;
	err = try_flush(ctx, TRIG_EXPLICIT, 0);
	if (err == -EBUSY) {
		ST_ADD(ctx, collapsed, 1);
		return 0;
	}
	release_local(ctx, home_ring(ctx), iovx_now_ns());
	return err ? err : 1;
}

int iovx_inval_poll(struct iovx_inval *ctx)
{
	int err;

	struct fq_ring *self;
	uint64_t now;

	if (!ctx)
		return -EINVAL;
	self = home_ring(ctx);
	now = iovx_now_ns();
	release_local(ctx, self, now);
	if (!aged(ctx, now)) {
		release_idle(ctx, self, now, false);
		return 0;
	}
	err = try_flush(ctx, TRIG_AGE, 0);
	if (err == -EBUSY) {
		ST_ADD(ctx, collapsed, 1);
		return 0;
	}
	(void)ring_release(ctx, self, false);
	release_idle(ctx, self, iovx_now_ns(), false);
	return err ? err : 1;
}

int iovx_inval_get_stats(struct iovx_inval *ctx, struct iovx_inval_stats *st)
{
	if (!ctx || !st)
		return -EINVAL;
#define INVAL_STAT_COPY(name, doc) st->name = iovx_load_relaxed(&ctx->st.name);
	IOVX_INVAL_STATS(INVAL_STAT_COPY)
#undef INVAL_STAT_COPY
	st->last_error = -(int)iovx_load_relaxed(&ctx->last_err);
	return 0;
}

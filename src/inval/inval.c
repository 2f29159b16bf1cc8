// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * inval.c - deferred, batched IOTLB invalidation: per-CPU flush queues (fq.c), flush
 * generations, triggers, release and quarantine (docs/inval.md).
 *
 * What and why: the kernel's lazy mode (iommu-dma flush queues) keeps per-CPU rings under a
 * spinlock, flushes the whole domain from whichever CPU fills its ring and from a 10 ms
 * timer, and lets every trigger issue its own flush. Here the rings are lock-free (fq.c),
 * one flush normally runs at a time and serves every ring, triggers that find one running
 * on time collapse into it, and the flush only invalidates and syncs: the completed entries
 * of a ring are released (iovx_iova_free + free_pages) by whoever next touches that ring
 * from its own CPU slot (its next enqueue, or iovx_inval_poll there), as the kernel's
 * per-CPU fq_ring_free does for its own ring, so IOVAs go back to the cache of the CPU that
 * unmapped them. Only a ring idle for the age bound is drained by the timer (or a poll
 * elsewhere), and iovx_inval_flush / destroy drain every ring (explicit, rare).
 *
 * Staleness bound: the bound is enforced by every thread that touches the context, not
 * only by the timer. An enqueue or poll compares the age of the oldest uncovered entry
 * (oldest_t, a lower bound kept exact enough by E-G7) with 3/4 of the bound and flushes
 * itself; and a flush that has been running for late_ns (1/8 of the bound: its thread was
 * preempted) no longer makes the others collapse: the next trigger begins a flush of its own
 * (a helper) that steals the late flush's entries and invalidates them again (invalidation
 * is idempotent). So the bound holds as long as SOME thread runs in the context; the timer is
 * needed only when none does, and when none does and the timer runs late nothing bounds the
 * time (the count bound still holds; iovx/inval.h).
 *
 * Generation scheme. start_gen counts flushes that began (a flush takes F = ++start_gen
 * before it looks at any ring). An entry records gen = start_gen as read before it is
 * published. Flush F covers, ring by ring, the published entries with gen < F that no flush
 * covers yet or that an older flush covers (stealing them: that flush ran late), issues one
 * range invalidation per coalesced covered range (or one invalidate-all past
 * flush_all_threshold entries), one sync, and then marks every entry it still covers DONE
 * (BAD if the sync failed). A releaser consumes a cell only when it is DONE (read with
 * acquire): so an entry is released only when a flush F > gen, which began after the
 * entry's enqueue and saw it published, has completed a good sync after invalidating it.
 *
 * Invariants:
 *   I2  an entry's IOVA range and table pages are released only after a sync that followed
 *       an invalidation covering the range (its own range or all) issued by a flush that saw
 *       the entry published, hence after the page-table clears (E-F1); a failed sync
 *       releases nothing: the entries are quarantined (counted, never reused).
 *   I4  staleness (publication to completed covering flush) is bounded: 3/4 of a ring's size
 *       queued and not yet DONE (unflushed, over all rings) flushes (count); an enqueue, a
 *       poll or the timer flushes once oldest_t is 3/4 of the bound old, or once the
 *       youngest running flush has run late_ns (time); see docs/inval.md for what remains.
 *   I6  every queued entry is pending, released, or quarantined: queued = pending +
 *       released + quarantined (from the rings); direct entries never enter a ring.
 *   L1  taken moves FREE|pos -> F -> (F' > F ->)* F|DONE[|BAD], each step a CAS; a cell is
 *       covered by at most one flush at a time, and only that flush marks it DONE.
 *   L2  after flush F's reset of oldest_t, every published entry not DONE is covered by a
 *       running flush or is represented in oldest_t (E-G1, E-G7): the age check sees it.
 *   L3  a ring is consumed only by the holder of its release flag (fq.c _sc); a thread that
 *       finds the flag taken skips the ring (its holder is releasing it): nobody waits for
 *       another thread's release except iovx_inval_flush and destroy (drains, _sync).
 *   L4  a cell that is not DONE is never consumed, so its fields are stable while a flush
 *       covers it; a flush that lost it (stolen) detects that by re-reading taken.
 *
 * Progress: iovx_inval_queue is lock-free: it never waits for a flush nor for a releaser
 * (L3); with its ring full and a flush running on time it invalidates and syncs its own
 * range (direct path). iovx_inval_kick and _poll never wait either. A flush is blocking by
 * nature (it waits for the hardware), but no flush waits for another: a late one is helped,
 * never waited for. iovx_inval_flush waits until the entries queued before it are DONE
 * (helping a late flush rather than waiting for it) and for other threads' releases (drain).
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
 *   E-G1 queue: fence_seq_cst after publishing (E-F1) and before reading oldest_t and
 *        timer_pending; flush: fence_seq_cst after resetting oldest_t and ++start_gen and
 *        before scanning rings; iovx_inval_flush: fence before reading start_gen.
 *        Store-buffering pairs: an enqueue whose publication a flush's scan missed sees
 *        that flush's reset of oldest_t (and records itself after it, E-G7); an enqueue that
 *        completed before iovx_inval_flush read start_gen is visible to its scans; an
 *        enqueue that saw timer_pending set is visible to the timer's flush.
 *   E-G2 taken DONE: release CAS by the flush after its sync returned; pairs with the
 *        releaser's acquire load of taken (it sees the sync's completion and, for BAD, the
 *        failure) and with iovx_inval_flush's scan.
 *   E-G3 fl (running flushes + start time of the youngest): acquire CAS to begin, release
 *        decrement to end; orders consecutive flushers (stats, last error).
 *   E-G4 quarantine stack: release CAS on push; popped only at destroy (quiescent).
 *   E-G5 ring release flag: acquire CAS to take it, store-release to drop it; pairs between
 *        consecutive releasers of a ring (head, consumed cells, the pages freed under it: a
 *        drain that took the flag after a releaser sees that releaser's frees).
 *   E-G6 taken and the cell's next lap: the producer stores FREE|pos after claiming (after
 *        the acquire of E-F2), then a release fence, then the fields; a flush reads fields,
 *        an acquire fence, then taken: if it read a next lap's field it sees the next lap's
 *        taken (message passing through the fences) and drops what it read. A flush's CAS
 *        on taken expects a value that names one lap (FREE|pos) or one flush (F), so it can
 *        never succeed on a later lap.
 *   E-G7 oldest_t: the flush resets it with an acq_rel exchange before ++start_gen; an
 *        enqueue lowers it (CAS-min, acq_rel) after its E-G1 fence. An entry the flush's
 *        scan missed has its CAS-min after the reset (E-G1); an entry with gen >= F read
 *        start_gen after the reset (acquire): either way the reset cannot erase it (L2).
 */
#include "inval_internal.h"

enum inval_trigger { TRIG_RING, TRIG_AGE, TRIG_EXPLICIT };

/* ctx->fl: running flushes in the low bits, the youngest's start (ns >> 10) above. */
#define FL_NRUN		0xffull
#define FL_NRUN_MAX	64ull
#define FL_SHIFT	8
#define FL_TIME_SHIFT	10

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
	uint64_t late_ns;		/* a flush running this long is helped: 1/8 of the bound */
	unsigned int flush_all;
	unsigned int flags;
	bool has_timer;
	struct iovx_timer timer;
	uint64_t idle_ns;		/* a ring untouched this long is drained remotely */

	uint64_t start_gen IOVX_ALIGNED(IOVX_CACHELINE);
	uint64_t fl;			/* E-G3: running flushes | youngest start */
	uint64_t failed_gen;		/* number of the last flush whose sync failed */
	/* lower bound of the publication time of the entries no running flush covers; 0: none */
	uint64_t oldest_t IOVX_ALIGNED(IOVX_CACHELINE);
	uint64_t timer_pending;
	uint64_t last_err;		/* -errno of the last failed sync */
	struct iovx_iommu_freed_page *quarantine;	/* E-G4 */
	struct iovx_inval_stats st IOVX_ALIGNED(IOVX_CACHELINE);	/* relaxed atomics */
};


void iovx_inval_config_init(struct iovx_inval_config *cfg)
{
	if (!cfg)
		return;
	cfg->ring_order = IOVX_INVAL_DEFAULT_RING_ORDER;
	cfg->max_age_ns = IOVX_INVAL_DEFAULT_MAX_AGE_NS;
	cfg->flush_all_threshold = IOVX_INVAL_DEFAULT_FLUSH_ALL;
	cfg->flags = 0;
}

/* taken: covered by a flush, not completed yet */
static inline bool tk_covered(uint64_t v)
{
	return !(v & (FQ_TK_FREE | FQ_TK_DONE));
}

static inline bool tk_done(uint64_t v)
{
	return !(v & FQ_TK_FREE) && (v & FQ_TK_DONE);
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
		IOVX_STAT_ADD(&ctx->st.quarantined_tables, 1);
		p = next;
	}
}

static void quarantine_range(struct iovx_inval *ctx, uint64_t npages,
			     struct iovx_iommu_freed_page *pages)
{
	IOVX_STAT_ADD(&ctx->st.quarantined_ranges, 1);
	IOVX_STAT_ADD(&ctx->st.quarantined_pages, npages);
	quarantine_pages(ctx, pages);
}

static void note_error(struct iovx_inval *ctx, int err)
{
	IOVX_STAT_ADD(&ctx->st.sync_errors, 1);
	iovx_store_relaxed(&ctx->last_err, (uint64_t)-err);
}

static int do_sync(struct iovx_inval *ctx)
{
	int err = ctx->iommu->ops->sync(ctx->iommu);

	IOVX_STAT_ADD(&ctx->st.syncs, 1);
	if (err)
		note_error(ctx, err);
	return err;
}

/* Full ring and a flush running on time elsewhere: this entry alone, now, as strict mode. */
static int queue_direct(struct iovx_inval *ctx, uint64_t pfn, uint64_t npages,
			struct iovx_iommu_freelist *pages)
{
	int err;

	IOVX_STAT_ADD(&ctx->st.direct, 1);
	(void)ctx->iommu->ops->inv_range(ctx->iommu, pfn << ctx->shift, npages << ctx->shift);
	IOVX_STAT_ADD(&ctx->st.inv_ranges, 1);
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
 * Releases (or quarantines) the DONE cells of r, from head up to the first published cell
 * that is not DONE (flushes cover a ring mostly in order, so what follows is younger; a cell
 * left behind is taken by a later flush, which then lets the release past it): O(1) when
 * nothing completed, as on most enqueues. all (drains): every DONE cell, skipping the
 * others. Takes r's release flag; -EBUSY when another thread holds it (it is releasing r),
 * else the number of cells consumed. remote: the caller is not on r's CPU slot (counted).
 */
static int ring_release(struct iovx_inval *ctx, struct fq_ring *r, bool remote, bool all)
{
	struct iovx_iommu_freelist freed;
	uint64_t pos, tail, zero = 0, n = 0, nrel = 0;

	if (iovx_load_relaxed(&r->releasing) ||
	    !iovx_cmpxchg_acq_rel(&r->releasing, &zero, 1))	/* E-G5 */
		return -EBUSY;
	tail = iovx_load_relaxed(&r->tail);
	iovx_iommu_freelist_init(&freed);
	for (pos = iovx_load_relaxed(&r->head); pos < tail; pos++) {
		struct fq_cell *c = iovx_inval_fq_peek_sc(r, pos);
		uint64_t t;

		if (!c)
			continue;	/* a gap (or consumed past a gap): skip it */
		t = iovx_load_acquire(&c->taken);			/* E-G2 */
		if (!tk_done(t)) {
			if (all)
				continue;
			break;
		}
		/* I2: the flush that made it DONE began after the entry was published */
		iovx_assert((t >> 2) > iovx_load_relaxed(&c->gen));
		if (t & FQ_TK_BAD) {
			quarantine_range(ctx, c->npages, c->pg_head);
		} else {
			int e;

			if (c->pg_head) {
				struct iovx_iommu_freelist l = { c->pg_head, c->pg_tail, c->pg_nr };

				iovx_iommu_freelist_splice(&freed, &l);
			}
			/* I1/I6: the range was allocated and is freed once, here */
			e = iovx_iova_free(ctx->iovad, c->pfn, c->npages);
			iovx_assert(!e);
			(void)e;
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
		IOVX_STAT_ADD(&ctx->st.released, nrel);
		if (remote)
			IOVX_STAT_ADD(&ctx->st.released_remote, nrel);
		IOVX_STAT_ADD(&ctx->st.pending, -n);
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
	(void)ring_release(ctx, r, false, false);
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
			while (ring_release(ctx, r, true, true) == -EBUSY)
				iovx_cpu_relax();	/* drain: _sync, waits for that releaser */
		} else {
			(void)ring_release(ctx, r, true, false);
		}
	}
}

/* ------------------------------------------------------------------ the flush */

static void max_stale(struct iovx_inval *ctx, uint64_t age)
{
	uint64_t m = iovx_load_relaxed(&ctx->st.max_stale_ns);

	while (age > m && !iovx_cmpxchg_relaxed(&ctx->st.max_stale_ns, &m, age))
		;
}

/* Lowers oldest_t to t (E-G7): the age check then sees an entry published at t. */
static void oldest_min(struct iovx_inval *ctx, uint64_t t)
{
	uint64_t o = iovx_load_relaxed(&ctx->oldest_t);

	while ((!o || t < o) && !iovx_cmpxchg_acq_rel(&ctx->oldest_t, &o, t))
		;
}

static bool fl_late(struct iovx_inval *ctx, uint64_t w, uint64_t now)
{
	uint64_t t = (w >> FL_SHIFT) << FL_TIME_SHIFT;	/* rounded down: late a little early */

	return now > t && now - t >= ctx->late_ns;
}

/*
 * Takes flush F's cover of the published cell at pos of r, if F may: not covered yet with
 * gen < F, or covered by an older flush (running late: stolen). Returns 1 if taken, 2 if
 * stolen, 0 if not.
 */
static int cover_cell(struct fq_ring *r, uint64_t pos, uint64_t F)
{
	struct fq_cell *c = iovx_inval_fq_peek_sc(r, pos);
	uint64_t v;

	if (!c)
		return 0;	/* a gap: its producer publishes later, and records its age (E-G7) */
	v = iovx_load_acquire(&c->taken);
	if (iovx_load_relaxed(&c->seq) != pos + 1)		/* E-G6: a later lap: not ours */
		return 0;
	if (v == (FQ_TK_FREE | pos)) {
		if (iovx_load_relaxed(&c->gen) >= F)
			return 0;	/* enqueued after F began: its age is in oldest_t */
	} else if (!tk_covered(v) || (v >> 2) >= F) {
		return 0;	/* DONE, or covered by a younger flush */
	}
	/* a failed CAS: another flush covered it meanwhile (it answers for it now) */
	if (!iovx_cmpxchg_acq_rel(&c->taken, &v, F << 2))	/* L1 */
		return 0;
	return v & FQ_TK_FREE ? 1 : 2;
}

/* The covered cell of flush F at pos, its range read and validated (E-G6); NULL if lost. */
static struct fq_cell *covered_cell(struct fq_ring *r, uint64_t pos, uint64_t F,
				    uint64_t *pfn, uint64_t *npages, uint64_t *t_enq)
{
	struct fq_cell *c = iovx_inval_fq_peek_sc(r, pos);
	uint64_t gen;

	if (!c || iovx_load_acquire(&c->taken) != F << 2)
		return NULL;
	*pfn = iovx_load_relaxed(&c->pfn);
	*npages = iovx_load_relaxed(&c->npages);
	*t_enq = iovx_load_relaxed(&c->t_enq);
	gen = iovx_load_relaxed(&c->gen);
	iovx_fence_acquire();					/* E-G6 */
	if (iovx_load_relaxed(&c->taken) != F << 2)
		return NULL;
	/* L1: F covers only what was published before it began (read while F covered it) */
	iovx_assert(F > gen);
	(void)gen;
	return c;
}

/*
 * Flush F proper; the caller began it (fl). Covers, invalidates, syncs, marks DONE (or BAD).
 * Returns the sync's result.
 */
static int flush_run(struct iovx_inval *ctx, enum inval_trigger trig, bool helper)
{
	struct iovx_inval_gather g = { 0, 0, 0 };
	uint64_t F, n = 0, stolen = 0, done = 0, now = 0;
	unsigned int i;
	int err = 0;

	(void)iovx_xchg_acq_rel(&ctx->oldest_t, 0);		/* E-G7 */
	F = iovx_fetch_add_acq_rel(&ctx->start_gen, 1) + 1;
	iovx_fence_seq_cst();	/* E-G1: pairs with the enqueue's and flush()'s fences */

	/* Pass 1: cover every published cell with gen < F that no running flush answers for. */
	for (i = 0; i < ctx->nr_rings; i++) {
		struct fq_ring *r = &ctx->rings[i];
		uint64_t pos, tail = iovx_load_relaxed(&r->tail);

		for (pos = iovx_load_relaxed(&r->head); pos < tail; pos++) {
			int k = cover_cell(r, pos, F);

			n += k != 0;
			stolen += k == 2;
		}
	}
	if (n) {
		/* Pass 2: invalidate what F covers, then one sync. */
		if (n > ctx->flush_all) {
			(void)ctx->iommu->ops->inv_all(ctx->iommu);
			IOVX_STAT_ADD(&ctx->st.inv_alls, 1);
		} else {
			for (i = 0; i < ctx->nr_rings; i++) {
				struct fq_ring *r = &ctx->rings[i];
				uint64_t pos, tail = iovx_load_relaxed(&r->tail);

				for (pos = iovx_load_relaxed(&r->head); pos < tail; pos++) {
					uint64_t pfn, np, t;

					if (covered_cell(r, pos, F, &pfn, &np, &t))
						iovx_inval_gather_add(ctx->iommu, &g,
							pfn << ctx->shift,
							(pfn + np) << ctx->shift);
				}
			}
			iovx_inval_gather_issue(ctx->iommu, &g);
			IOVX_STAT_ADD(&ctx->st.inv_ranges, g.issued);
		}
		err = do_sync(ctx);
		now = iovx_now_ns();
	}

	/*
	 * Pass 3: mark DONE (BAD on a failed sync) every cell F still covers: a cell covered
	 * in pass 3 was covered in pass 2 (L1: a flush never gets a cell back), so it was
	 * invalidated; the cells stay on their rings for their own CPU slots to release.
	 */
	for (i = 0; n && i < ctx->nr_rings; i++) {
		struct fq_ring *r = &ctx->rings[i];
		uint64_t pos, tail = iovx_load_relaxed(&r->tail);

		for (pos = iovx_load_relaxed(&r->head); pos < tail; pos++) {
			uint64_t pfn, np, t, v = F << 2;
			struct fq_cell *c = covered_cell(r, pos, F, &pfn, &np, &t);

			if (!c || !iovx_cmpxchg_acq_rel(&c->taken, &v, v | FQ_TK_DONE |
							(err ? FQ_TK_BAD : 0)))	/* E-G2 */
				continue;	/* stolen by a helper meanwhile */
			done++;
			if (!err)
				max_stale(ctx, now > t ? now - t : 0);
		}
	}
	IOVX_STAT_ADD(&ctx->st.unflushed, -done);
	IOVX_STAT_ADD(&ctx->st.stolen, stolen);
	IOVX_STAT_ADD(&ctx->st.flushes, 1);
	if (helper)
		IOVX_STAT_ADD(&ctx->st.flushes_late, 1);
	if (trig == TRIG_RING)
		IOVX_STAT_ADD(&ctx->st.flushes_ring, 1);
	else if (trig == TRIG_AGE)
		IOVX_STAT_ADD(&ctx->st.flushes_age, 1);
	else
		IOVX_STAT_ADD(&ctx->st.flushes_explicit, 1);
	if (err) {
		uint64_t f = iovx_load_relaxed(&ctx->failed_gen);

		while (f < F && !iovx_cmpxchg_relaxed(&ctx->failed_gen, &f, F))
			;
	}
	return err;
}

/* oldest_t 3/4 of the bound old: an entry that no running flush covers is that old (L2) */
static bool oldest_aged(struct iovx_inval *ctx, uint64_t now)
{
	uint64_t t = iovx_load_acquire(&ctx->oldest_t);		/* E-G7 */

	return t && now > t && now - t >= ctx->trig_age;
}

/*
 * Begins and runs a flush unless one runs on time: -EBUSY when the youngest running flush
 * began less than late_ns ago (it serves the caller: collapse), else 0 or the sync error.
 * age: the caller saw oldest_t aged; then an entry that no running flush covers is old, and
 * the caller flushes even while a flush runs on time (the age check's promise, I4). A flush
 * begun while others run takes over the entries they cover (cover_cell): they are late, or
 * they missed an old entry. upto (an explicit flush): the generation whose entries the
 * caller waits for; when the flush that just ended completed them all, the claim is given
 * back and the call is -EBUSY (collapse) rather than a flush and a sync of nothing.
 */
static bool pending_upto(struct iovx_inval *ctx, uint64_t s);

static int try_flush(struct iovx_inval *ctx, enum inval_trigger trig, bool age,
		     const uint64_t *upto)
{
	uint64_t w = iovx_load_relaxed(&ctx->fl), now = 0, nw;
	int err;

	for (;;) {
		uint64_t nrun = w & FL_NRUN;

		if (!now)
			now = iovx_now_ns();
		if (nrun && (nrun >= FL_NRUN_MAX ||
			     (!fl_late(ctx, w, now) && !(age && oldest_aged(ctx, now)))))
			return -EBUSY;
		nw = (now >> FL_TIME_SHIFT) << FL_SHIFT | (nrun + 1);
		if (iovx_cmpxchg_acq_rel(&ctx->fl, &w, nw))		/* E-G3 */
			break;
	}
	/* E-G3: no flush ran at the claim, so the last one's DONE marks are visible here */
	if (upto && !(w & FL_NRUN) && !pending_upto(ctx, *upto)) {
		(void)iovx_fetch_add_acq_rel(&ctx->fl, (uint64_t)-1);	/* E-G3 */
		return -EBUSY;
	}
	err = flush_run(ctx, trig, (w & FL_NRUN) != 0);
	(void)iovx_fetch_add_acq_rel(&ctx->fl, (uint64_t)-1);	/* E-G3 */
	return err;
}

/*
 * The age check of every enqueue and poll (I4): something is unflushed and either oldest_t
 * is 3/4 of the bound old, or the youngest running flush is late (the entries it covers
 * are not in oldest_t: a helper must take them over).
 */
static bool aged(struct iovx_inval *ctx, uint64_t now)
{
	uint64_t w;

	if (!iovx_load_relaxed(&ctx->st.unflushed))
		return false;
	if (oldest_aged(ctx, now))
		return true;
	w = iovx_load_relaxed(&ctx->fl);
	return (w & FL_NRUN) && fl_late(ctx, w, now);
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
		err = try_flush(ctx, TRIG_AGE, true, NULL);
		if (err == -EBUSY) {
			/* a flush runs on time; come back when it would be late */
			IOVX_STAT_ADD(&ctx->st.collapsed, 1);
			arm_timer(ctx, ctx->late_ns);
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
	ctx->late_ns = cfg->max_age_ns / 8;
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
	iovx_pin_get();
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
	/* Quiescent: every entry is published and no flush runs: one flush covers them all. */
	for (i = 0; i < 3 && iovx_load_relaxed(&ctx->st.unflushed); i++)
		(void)try_flush(ctx, TRIG_EXPLICIT, false, NULL);
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
	iovx_pin_put();
	return (int)(q > 0x7fffffff ? 0x7fffffff : q);
}

int iovx_inval_queue(struct iovx_inval *ctx, uint64_t pfn, uint64_t npages,
		     struct iovx_iommu_freelist *pages)
{
	struct fq_ring *r;
	struct fq_cell *c;
	uint64_t pos, now;
	unsigned int home;
	int tries, err;

	if (!ctx || !npages || pfn >= ctx->max_pfn || npages > ctx->max_pfn - pfn)
		return -EINVAL;
	home = iovx_cpu_hint() % ctx->nr_rings;
	r = &ctx->rings[home];
	/* This slot's completed entries go back to this CPU's IOVA cache (and free cells). */
	(void)ring_release(ctx, r, false, false);
	for (tries = 0;; tries++) {
		unsigned int i;

		c = iovx_inval_fq_claim_mpsc(r, &pos);
		if (c)
			break;
		/*
		 * Full. One flush serves every ring, so another CPU's ring is as good as ours
		 * (MPSC-safe); then flush ourselves; if a flush runs on time elsewhere, do not
		 * wait for it.
		 */
		for (i = 1; i < ctx->nr_rings && !c; i++) {
			r = &ctx->rings[(home + i) % ctx->nr_rings];
			c = iovx_inval_fq_claim_mpsc(r, &pos);
		}
		if (c)
			break;
		r = &ctx->rings[home];
		if (tries >= 2 || try_flush(ctx, TRIG_RING, false, NULL) == -EBUSY)
			return queue_direct(ctx, pfn, npages, pages);
		(void)ring_release(ctx, r, false, false);	/* full of completed entries */
	}
	iovx_store_relaxed(&c->taken, FQ_TK_FREE | pos);
	iovx_fence_release();				/* E-G6 */
	iovx_store_relaxed(&c->pfn, pfn);
	iovx_store_relaxed(&c->npages, npages);
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
	IOVX_STAT_ADD(&ctx->st.pending, 1);
	IOVX_STAT_ADD(&ctx->st.unflushed, 1);
	IOVX_STAT_ADD(&ctx->st.queued, 1);
	iovx_store_relaxed(&c->gen, iovx_load_acquire(&ctx->start_gen));	/* E-G7 */
	/*
	 * The entry's age counts from here, after gen (gen >= F implies now >= F's reset) and
	 * as close to the publication as can be: a producer preempted before this point holds
	 * back its own unmap only (as strict mode preempted before its sync would), and the
	 * few stores between here and the publication are the only window in which its own
	 * preemption counts as staleness that nobody else can see (docs/inval.md).
	 */
	now = iovx_now_ns();
	iovx_store_relaxed(&c->t_enq, now);
	iovx_inval_fq_publish_mpsc(r, c, pos);		/* E-F1 */
	iovx_fence_seq_cst();	/* E-G1: pairs with the flush's and the timer's fences */
	oldest_min(ctx, now);				/* E-G7 */
	iovx_store_relaxed(&ctx->rings[home].touched, now);
	arm_timer(ctx, ctx->trig_age);

	/* The triggers: any enqueue enforces the bound, not only the timer (I4). */
	if (aged(ctx, now))
		err = try_flush(ctx, TRIG_AGE, true, NULL);
	else if (iovx_load_relaxed(&ctx->st.unflushed) >= ctx->high_water)
		err = try_flush(ctx, TRIG_RING, false, NULL);
	else
		return 0;
	if (err == -EBUSY)
		IOVX_STAT_ADD(&ctx->st.collapsed, 1);
	else
		(void)ring_release(ctx, &ctx->rings[home], false, false);
	/* A failed sync of a triggered flush quarantined its entries; flush() reports it. */
	return 0;
}

/* A published entry with gen <= s that is not DONE yet (it was queued before the call). */
static bool pending_upto(struct iovx_inval *ctx, uint64_t s)
{
	unsigned int i;

	for (i = 0; i < ctx->nr_rings; i++) {
		struct fq_ring *r = &ctx->rings[i];
		uint64_t pos, tail = iovx_load_relaxed(&r->tail);

		for (pos = iovx_load_relaxed(&r->head); pos < tail; pos++) {
			struct fq_cell *c = iovx_inval_fq_peek_sc(r, pos);
			uint64_t v;

			if (!c)
				continue;
			v = iovx_load_acquire(&c->taken);		/* E-G2 */
			if (tk_done(v) || ((v & FQ_TK_FREE) && v != (FQ_TK_FREE | pos)))
				continue;
			/* a stale read (the cell moved on meanwhile) only costs one more round */
			if (iovx_load_relaxed(&c->gen) <= s)
				return true;
		}
	}
	return false;
}

int iovx_inval_flush(struct iovx_inval *ctx)
{
	uint64_t s, failed;
	bool mine = false;
	int err;

	if (!ctx)
		return -EINVAL;
	iovx_fence_seq_cst();	/* E-G1: everything queued before this call is visible */
	s = iovx_load_acquire(&ctx->start_gen);
	/*
	 * Until every entry queued before the call is DONE: a flush that runs on time serves
	 * us (collapse); otherwise we flush, helping a late flush rather than waiting for it.
	 */
	while (pending_upto(ctx, s)) {
		err = try_flush(ctx, TRIG_EXPLICIT, false, &s);
		if (err == -EBUSY)
			iovx_cpu_relax();
		else
			mine = true;
	}
	if (!mine)
		IOVX_STAT_ADD(&ctx->st.collapsed, 1);
	/* Drain: everything queued before the call completed; release it now, every ring. */
	{
		struct fq_ring *self = home_ring(ctx);

		iovx_store_relaxed(&self->touched, iovx_now_ns());
		while (ring_release(ctx, self, false, true) == -EBUSY)
			iovx_cpu_relax();
		release_idle(ctx, self, 0, true);
	}
	/* A flush that began after the call failed: its entries (ours among them) are out. */
	failed = iovx_load_relaxed(&ctx->failed_gen);
	if (failed > s)
		return -(int)iovx_load_relaxed(&ctx->last_err);
	return 0;
}

int iovx_inval_kick(struct iovx_inval *ctx)
{
	int err;

	if (!ctx)
		return -EINVAL;
	err = try_flush(ctx, TRIG_EXPLICIT, false, NULL);
	if (err == -EBUSY) {
		IOVX_STAT_ADD(&ctx->st.collapsed, 1);
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
	err = try_flush(ctx, TRIG_AGE, true, NULL);
	if (err == -EBUSY) {
		IOVX_STAT_ADD(&ctx->st.collapsed, 1);
		return 0;
	}
	(void)ring_release(ctx, self, false, false);
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

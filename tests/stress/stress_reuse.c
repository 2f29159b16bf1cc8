/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * stress_reuse.c - the reuse-tagged mapping table (include/iovx/reuse.h) under many threads:
 * maps and unmaps of a few shared tagged buffers racing stops, re-marks and evictions.
 *
 * Roles (thread ids):
 *   0        the stopper: picks a buffer, closes it to new maps, waits until every map in
 *            flight has returned, stops it (iovx_dma_stop_reuse, iovx_sg_mark_stop_reuse +
 *            re-mark, or iovx_buf_stop_reuse of one byte of it, in turn) while mappings of
 *            it are still held, waits until their holders left, and then, in a window where
 *            nothing can map the buffer, checks I3 exactly: no DMA address ever handed out
 *            for the buffer lets the device read it (a fresh random canary) or write it
 *            (the canary area no one else touches);
 *   1        the evictor: iovx_dma_reuse_evict with small random budgets, stats snapshots;
 *   2..n-1   workers: map a random buffer (sg list of two one-page entries or a two-page
 *            single map, BIDIRECTIONAL or TO_DEVICE, sometimes SKIP_CPU_SYNC), then check
 *            that each page's DMA address translates to exactly that page and that the
 *            device reads what the CPU wrote and its writes land in the buffer (each worker
 *            owns a 128-byte region of every page, so the checks are exact with sharing),
 *            sync, check again after a yield, unmap.
 * A buffer's gate word (enter/leave counts and a closed bit) orders the stopper against the
 * workers: the stop never races a map (a caller bug by the contract), but always races the
 * references held and their unmaps.
 *
 * At the end: everything is stopped, the table is empty, the IOVA audit closes with nothing
 * live, the simulator's I2 checker counted nothing, destroy finds nothing live. Three phases
 * with a table of 8 entries for 16 keys: strict base; deferred base; deferred base with
 * IOVX_DMA_F_REVIVE and a 200 us bound, where half the maps are untagged (revivable) and idle
 * mappings expire all the time. Five more phases of a second driver (below: a table of 4
 * entries full of held ones, evictions, two domains, a tiny IOVA space and a lowered mask)
 * probe every stopped buffer at the moment its stop returns. Every phase gets an equal share
 * of the duration; IOVX_REUSE_STRESS_PHASES=name,... runs only the named ones.
 * A watchdog fails the run when a phase hangs (a stop waiting for a reference that leaked).
 * IOVX_REUSE_STRESS_FLUSH=1 flushes the deferred queue before the stopper's checks, to look
 * past a stop that leaves deferred unmaps of the buffer reachable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iovx/dma.h>
#include <iovx/iova.h>
#include <iovx/reuse.h>
#include <iovx/sim.h>
#include "stress.h"

/* Test-only: the domain's IOVA allocator for the final audit. */
#include "dma/dma_internal.h"

#define PG		4096ull
#define NBUF		4
#define BUF_PAGES	2
#define REGION		128u			/* bytes of a page per worker */
#define CANARY_OFF	(PG - 64)		/* the stopper's probe area of each page */
#define CANARY_LEN	64u
#define SEEN		32			/* DMA page addresses remembered per buffer */
#define TABLE_ORDER	3

#define GATE_CLOSED	(1ull << 63)
#define GATE_IN		1ull			/* entered, not left */
#define GATE_PREMAP	(1ull << 32)		/* entered, map not returned */
#define GATE_IN_MASK	0xffffffffull

struct buf {
	uint8_t *mem;
	struct iovx_dma_sg tmpl[BUF_PAGES];	/* tagged; written by the stopper when closed */
	uint64_t gate;				/* __atomic */
	uint64_t seen[SEEN];			/* __atomic; 0: none */
	uint64_t seen_pos;			/* __atomic */
	uint64_t stops;				/* stopper only */
};

static struct iovx_sim *sim;
static struct iovx_dma_domain *dom;
static bool deferred_base;
static bool revive_mode;		/* IOVX_DMA_F_REVIVE: untagged maps revive too */
static bool flush_before_probe;
static struct buf bufs[NBUF];
static uint8_t *arena;
static uint64_t nr_maps, nr_sg, nr_checks, nr_stops, nr_stopped_entries, nr_evicted;
static uint64_t nr_probes;
static uint64_t max_entries_seen;	/* evictor only */

static void count(uint64_t *c, uint64_t v)
{
	__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static bool gate_enter(struct buf *b)
{
	uint64_t g = __atomic_load_n(&b->gate, __ATOMIC_RELAXED);

	do {
		if (g & GATE_CLOSED)
			return false;
	} while (!__atomic_compare_exchange_n(&b->gate, &g, g + GATE_IN + GATE_PREMAP, true,
					      __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
	return true;
}

static void gate_mapped(struct buf *b)
{
	__atomic_fetch_sub(&b->gate, GATE_PREMAP, __ATOMIC_RELEASE);
}

static void gate_leave(struct buf *b)
{
	__atomic_fetch_sub(&b->gate, GATE_IN, __ATOMIC_RELEASE);
}

static void remember(struct buf *b, uint64_t dma_page)
{
	uint64_t i = __atomic_fetch_add(&b->seen_pos, 1, __ATOMIC_RELAXED);

	__atomic_store_n(&b->seen[i % SEEN], dma_page, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- workers */

/*
 * The page at mem, mapped at dma on sim, through this thread's region of it: translation,
 * device read, device write (BIDI; a TO_DEVICE write must fault), all exact. where names
 * the page in a failure.
 */
static int check_dev(struct iovx_stress_thread *th, struct iovx_sim *s_sim, uint8_t *mem,
		     uint64_t dma, enum iovx_dma_dir dir, const char *what, const char *where)
{
	uint64_t off = (uint64_t)(th->id - 2) * REGION, phys = 0;
	uint8_t *cpu = mem + off;
	uint8_t pat[REGION], back[REGION];
	uint8_t s = (uint8_t)iovx_stress_rand(th);
	unsigned int i, prot = 0;
	int r;

	r = iovx_sim_iova_to_phys(s_sim, dma, &phys, &prot);
	if (r || phys != (uintptr_t)mem) {
		iovx_stress_fail(th, "%s: %s: dma %#" PRIx64 " translates to %#" PRIx64
				 " (r %d), expected %p", what, where, dma, phys, r, (void *)mem);
		return -1;
	}
	for (i = 0; i < REGION; i++)
		cpu[i] = (uint8_t)(s + i * 7 + th->id);
	r = iovx_sim_dev_read(s_sim, dma + off, back, REGION, NULL);
	if (r || memcmp(back, cpu, REGION)) {
		iovx_stress_fail(th, "%s: %s: device read via %#" PRIx64 " wrong (r %d)",
				 what, where, dma, r);
		return -1;
	}
	if (dir == IOVX_DMA_TO_DEVICE) {
		uint8_t keep = cpu[0], x = (uint8_t)~keep;

		if (iovx_sim_dev_write(s_sim, dma + off, &x, 1, NULL) != -EFAULT ||
		    cpu[0] != keep) {
			iovx_stress_fail(th, "%s: device wrote a TO_DEVICE mapping", what);
			return -1;
		}
		return 0;
	}
	for (i = 0; i < REGION; i++)
		pat[i] = (uint8_t)~(s + i * 3 + th->id);
	r = iovx_sim_dev_write(s_sim, dma + off, pat, REGION, NULL);
	if (r || memcmp(cpu, pat, REGION)) {
		iovx_stress_fail(th, "%s: %s: device write via %#" PRIx64 " did not land (r %d)",
				 what, where, dma, r);
		return -1;
	}
	return 0;
}

/* Page k of the mapping: check_dev. */
static int check_page(struct iovx_stress_thread *th, struct buf *b, unsigned int k,
		      uint64_t dma, enum iovx_dma_dir dir, const char *what)
{
	char where[48];

	snprintf(where, sizeof(where), "buffer %td page %u", b - bufs, k);
	return check_dev(th, sim, b->mem + k * PG, dma, dir, what, where);
}

static int worker(struct iovx_stress_thread *th)
{
	while (iovx_stress_continue(th)) {
		struct buf *b = &bufs[iovx_stress_below(th, NBUF)];
		enum iovx_dma_dir dir = iovx_stress_below(th, 4) ? IOVX_DMA_BIDIRECTIONAL :
								   IOVX_DMA_TO_DEVICE;
		unsigned int attrs = iovx_stress_below(th, 4) ? 0 : IOVX_DMA_ATTR_SKIP_CPU_SYNC;
		bool use_sg = iovx_stress_below(th, 2);
		bool tagged = !revive_mode || iovx_stress_below(th, 2);
		unsigned int rattr = tagged ? IOVX_DMA_ATTR_REUSE : 0;
		struct iovx_dma_sg sg[BUF_PAGES];
		uint64_t dma[BUF_PAGES], d = 0;
		unsigned int k;
		int n, r, pass;
		bool failed;

		if (!gate_enter(b)) {
			sched_yield();
			continue;
		}
		if (use_sg) {
			memcpy(sg, b->tmpl, sizeof(sg));
			if (!tagged)
				for (k = 0; k < BUF_PAGES; k++)
					sg[k].flags = 0;
			n = iovx_dma_map_sg(dom, sg, BUF_PAGES, dir, attrs);
			gate_mapped(b);
			if (n <= 0) {
				iovx_stress_fail(th, "map_sg of buffer %td: %d", b - bufs, n);
				gate_leave(b);
				return -1;
			}
			/* Full pages: one merged segment, or one per page. */
			dma[0] = sg[0].dma_address;
			dma[1] = n == 1 ? sg[0].dma_address + PG : sg[1].dma_address;
			count(&nr_sg, 1);
		} else {
			r = iovx_dma_map_single(dom, (uintptr_t)b->mem, BUF_PAGES * PG, dir,
						attrs | rattr, &d);
			gate_mapped(b);
			if (r) {
				iovx_stress_fail(th, "map_single of buffer %td: %d", b - bufs, r);
				gate_leave(b);
				return -1;
			}
			dma[0] = d;
			dma[1] = d + PG;
		}
		count(&nr_maps, 1);
		for (k = 0; k < BUF_PAGES; k++)
			remember(b, dma[k]);
		/* On a failed check, still unmap: a leaked reference would hang every stop. */
		failed = false;
		for (pass = 0; pass < 2 && !failed; pass++) {
			for (k = 0; k < BUF_PAGES && !failed; k++)
				failed = check_page(th, b, k, dma[k], dir,
						    pass ? "after yield" : "map") != 0;
			if (failed)
				break;
			if (use_sg)
				r = iovx_dma_sync_sg_for_cpu(dom, sg, BUF_PAGES, dir);
			else
				r = iovx_dma_sync_single_for_device(dom, d, PG, dir);
			if (r) {
				iovx_stress_fail(th, "sync of a held mapping: %d (%s %s of buffer %td,"
						 " dir %d, attrs %#x, dma %#" PRIx64 ")", r,
						 tagged ? "tagged" : "untagged",
						 use_sg ? "sg" : "single", b - bufs, dir, attrs,
						 dma[0]);
				failed = true;
			}
			if (!pass && iovx_stress_below(th, 4) == 0)
				sched_yield();
		}
		count(&nr_checks, 1);
		if (use_sg)
			r = iovx_dma_unmap_sg(dom, sg, BUF_PAGES, dir, attrs);
		else
			r = iovx_dma_unmap_single(dom, d, BUF_PAGES * PG, dir, attrs | rattr);
		gate_leave(b);
		if (r) {
			iovx_stress_fail(th, "unmap of buffer %td: %d (%s %s, dir %d, attrs %#x, "
					 "dma %#" PRIx64 ")", b - bufs, r,
					 tagged ? "tagged" : "untagged", use_sg ? "sg" : "single",
					 dir, attrs, dma[0]);
			return -1;
		}
		if (failed)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- stopper */

static void wait_gate(struct buf *b, uint64_t mask)
{
	while (__atomic_load_n(&b->gate, __ATOMIC_ACQUIRE) & mask)
		sched_yield();
}

/*
 * The exclusive window: nothing maps b and nothing of it is mapped. Every DMA page address
 * ever handed out for b must neither translate into b nor let a device write reach it.
 */
static int probe_closed(struct iovx_stress_thread *th, struct buf *b, const char *how)
{
	uint8_t canary[BUF_PAGES][CANARY_LEN];
	unsigned int i, k;

	/* A fresh random canary: a device read that returns it came from b. */
	for (k = 0; k < BUF_PAGES; k++) {
		for (i = 0; i < CANARY_LEN; i++)
			canary[k][i] = (uint8_t)iovx_stress_rand(th);
		memcpy(b->mem + k * PG + CANARY_OFF, canary[k], CANARY_LEN);
	}
	for (i = 0; i < SEEN; i++) {
		uint64_t dma = __atomic_load_n(&b->seen[i], __ATOMIC_RELAXED);
		uint8_t junk[CANARY_LEN], back[CANARY_LEN];

		if (!dma)
			continue;
		/*
		 * Device accesses only: the simulator's CPU-side walk (iova_to_phys) is not
		 * safe against table pages freed by concurrent unmaps.
		 */
		dma = (dma & ~(PG - 1)) + CANARY_OFF;
		if (!iovx_sim_dev_read(sim, dma, back, CANARY_LEN, NULL)) {
			for (k = 0; k < BUF_PAGES; k++) {
				if (!memcmp(back, canary[k], CANARY_LEN)) {
					iovx_stress_fail(th, "I3: after %s returned, the device "
							 "read buffer %td page %u through %#" PRIx64,
							 how, b - bufs, k, dma);
					return -1;
				}
			}
		}
		memset(junk, 0x3c, sizeof(junk));
		(void)iovx_sim_dev_write(sim, dma, junk, CANARY_LEN, NULL);
		count(&nr_probes, 1);
	}
	for (k = 0; k < BUF_PAGES; k++) {
		if (memcmp(canary[k], b->mem + k * PG + CANARY_OFF, CANARY_LEN)) {
			iovx_stress_fail(th, "I3: after %s returned, a device write through an old "
					 "DMA address reached buffer %td page %u", how, b - bufs,
					 k);
			return -1;
		}
	}
	return 0;
}

/*
 * A stop of a buffer's bytes in one of three ways: kind 0 through one domain, 1 the sg-list
 * mark (every domain), 2 the buffer-level call on one byte inside it (every domain).
 */
static int stop_by(unsigned int kind, struct iovx_dma_domain *dom, uint8_t *mem,
		   struct iovx_dma_sg *tmpl, const char **how)
{
	switch (kind) {
	case 0:
		*how = "iovx_dma_stop_reuse";
		return iovx_dma_stop_reuse(dom, (uintptr_t)mem, BUF_PAGES * PG);
	case 1:
		*how = "iovx_sg_mark_stop_reuse";
		return iovx_sg_mark_stop_reuse(tmpl, BUF_PAGES);
	default:
		*how = "iovx_buf_stop_reuse";
		return iovx_buf_stop_reuse((uintptr_t)mem + PG + 5, 1);
	}
}

static int stopper(struct iovx_stress_thread *th)
{
	unsigned int turn = 0;

	while (iovx_stress_continue(th)) {
		struct buf *b = &bufs[iovx_stress_below(th, NBUF)];
		const char *how;
		bool holders;
		int r;

		__atomic_fetch_or(&b->gate, GATE_CLOSED, __ATOMIC_ACQ_REL);
		/* No map of b in flight; references may be held, and are dropped meanwhile. */
		wait_gate(b, ~GATE_CLOSED & ~GATE_IN_MASK);
		holders = (__atomic_load_n(&b->gate, __ATOMIC_ACQUIRE) & GATE_IN_MASK) != 0;
		r = stop_by(turn++ % 3, dom, b->mem, b->tmpl, &how);
		if (r < 0) {
			iovx_stress_fail(th, "%s of buffer %td: %d", how, b - bufs, r);
			return -1;
		}
		count(&nr_stops, 1);
		count(&nr_stopped_entries, (uint64_t)r);
		/* The holders' unmaps returned (stop waited for them); let them leave. */
		wait_gate(b, GATE_IN_MASK);
		/*
		 * No flush when nothing of b was held as the stop began: by the contract,
		 * after the stop returned nothing of b is reachable, also through the deferred
		 * base's not yet flushed unmaps (evicted entries, untagged fallbacks of tagged
		 * maps). A mapping held across the stop may be one made outside the table (a
		 * fallback, or untagged in revive mode): the stop cannot wait for it, and its
		 * deferred unmap came after the stop; flush those. IOVX_REUSE_STRESS_FLUSH=1
		 * always flushes.
		 */
		if (deferred_base && (flush_before_probe || holders) &&
		    iovx_dma_flush_deferred(dom)) {
			iovx_stress_fail(th, "flush_deferred failed");
			return -1;
		}
		if (probe_closed(th, b, how))
			return -1;
		if (turn % 3 == 2) {
			unsigned int k;

			for (k = 0; k < BUF_PAGES; k++) {
				if (b->tmpl[k].flags != IOVX_SG_REUSE_STOPPED) {
					iovx_stress_fail(th, "sg stop left flags %#x",
							 b->tmpl[k].flags);
					return -1;
				}
			}
			if (iovx_sg_mark_stop_reuse(b->tmpl, BUF_PAGES) != -EALREADY) {
				iovx_stress_fail(th, "second sg stop not -EALREADY");
				return -1;
			}
			if (iovx_sg_mark_reusable(b->tmpl, BUF_PAGES)) {
				iovx_stress_fail(th, "re-mark failed");
				return -1;
			}
		}
		b->stops++;
		__atomic_fetch_and(&b->gate, ~GATE_CLOSED, __ATOMIC_RELEASE);
		sched_yield();
	}
	return 0;
}

/* ---------------------------------------------------------------- evictor */

static int evictor(struct iovx_stress_thread *th)
{
	while (iovx_stress_continue(th)) {
		struct iovx_reuse_stats st;
		int r = iovx_dma_reuse_evict(dom, (unsigned int)iovx_stress_below(th, 3));

		if (r < 0) {
			iovx_stress_fail(th, "evict: %d", r);
			return -1;
		}
		count(&nr_evicted, (uint64_t)r);
		if (iovx_dma_get_reuse_stats(dom, &st)) {
			iovx_stress_fail(th, "get_reuse_stats failed");
			return -1;
		}
		/*
		 * A snapshot taken while entries come and go is a walk, not an atomic count:
		 * it may see one torn down and its replacement. Bounded by the slots (2x).
		 */
		if (st.entries > max_entries_seen)
			max_entries_seen = st.entries;
		if (st.entries > 2 * st.capacity || st.capacity != 1u << TABLE_ORDER) {
			iovx_stress_fail(th, "stats: %" PRIu64 " entries, capacity %" PRIu64,
					 st.entries, st.capacity);
			return -1;
		}
		sched_yield();
	}
	return 0;
}

static int body(struct iovx_stress_thread *th)
{
	static const iovx_stress_fn roles[] = { stopper, evictor, worker };

	return iovx_stress_role(th, roles, 3);
}

/* ---------------------------------------------------------------- watchdog */

/*
 * A stop waits for references to drain: one that leaked (an unmap that failed) makes it wait
 * forever, and the run with it. The watchdog turns that into a failure with a message.
 */
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond = PTHREAD_COND_INITIALIZER;
static bool wd_done;
static uint64_t wd_seconds;

static void *watchdog(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)wd_seconds;
	pthread_mutex_lock(&wd_lock);
	while (!wd_done) {
		if (pthread_cond_timedwait(&wd_cond, &wd_lock, &ts)) {
			if (wd_done)
				break;
			fprintf(stderr, "FAIL: hang: the phase did not end %llu s after its start "
				"(a stop waiting for a reference that leaked?): maps %llu, stops %llu\n",
				(unsigned long long)wd_seconds,
				(unsigned long long)__atomic_load_n(&nr_maps, __ATOMIC_RELAXED),
				(unsigned long long)__atomic_load_n(&nr_stops, __ATOMIC_RELAXED));
			fflush(stderr);
			_exit(3);
		}
	}
	pthread_mutex_unlock(&wd_lock);
	return NULL;
}

/* iovx_stress_run under the watchdog: the run's result, or 1 when no watchdog started. */
static int run_watched(const struct iovx_stress_opts *o, iovx_stress_fn body,
		       uint64_t duration_ns)
{
	pthread_t wd;
	int rc;

	wd_done = false;
	wd_seconds = duration_ns / 1000000000ull + 60;
	if (pthread_create(&wd, NULL, watchdog, NULL))
		return 1;
	rc = iovx_stress_run(o, body);
	pthread_mutex_lock(&wd_lock);
	wd_done = true;
	pthread_cond_signal(&wd_cond);
	pthread_mutex_unlock(&wd_lock);
	pthread_join(wd, NULL);
	return rc;
}

/* ---------------------------------------------------------------- phases */

static int phase(enum iovx_dma_mode base, bool revive, uint64_t duration_ns)
{
	struct iovx_stress_opts o = IOVX_STRESS_OPTS_INIT;
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_sim_stats ss;
	struct iovx_dma_stats ds;
	struct iovx_reuse_stats rs;
	struct iovx_iova_stats is;
	struct iovx_inval_config ic;
	unsigned int i, k, workers;
	int rc, r;

	workers = iovx_stress_default_threads();
	if (workers < 2)
		workers = 2;
	if (workers > (CANARY_OFF / REGION))
		workers = CANARY_OFF / REGION;
	o.name = revive ? "reuse (deferred base, revive, 200 us bound): map/stop/evict" :
		 base == IOVX_DMA_MODE_DEFERRED ? "reuse (deferred base): map/stop/evict" :
		 "reuse (strict base): map/stop/evict";
	revive_mode = revive;
	o.nthreads = workers + 2;
	o.duration_ns = duration_ns;
	deferred_base = base == IOVX_DMA_MODE_DEFERRED;
	iovx_sim_config_init(&sc);
	sc.iotlb_sets = 16;
	sc.eager_table_free = true;
	if (iovx_sim_create(&sc, &sim))
		return 1;
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_REUSE);
	dc.fallback = base;
	dc.reuse_table_order = TABLE_ORDER;
	dc.dma_mask = 0xffffffffull;
	if (revive) {
		iovx_inval_config_init(&ic);
		ic.max_age_ns = 200000;		/* revive window 100 us: many expiries */
		dc.inval = &ic;
		dc.flags |= IOVX_DMA_F_REVIVE;
	}
	if (iovx_dma_domain_create(&dc, &dom)) {
		fprintf(stderr, "FAIL: reuse domain create\n");
		return 1;
	}
	arena = aligned_alloc(PG, NBUF * BUF_PAGES * PG);
	if (!arena)
		return 1;
	memset(arena, 0, NBUF * BUF_PAGES * PG);
	memset(bufs, 0, sizeof(bufs));
	for (i = 0; i < NBUF; i++) {
		bufs[i].mem = arena + (uint64_t)i * BUF_PAGES * PG;
		for (k = 0; k < BUF_PAGES; k++) {
			bufs[i].tmpl[k].phys = (uintptr_t)bufs[i].mem + k * PG;
			bufs[i].tmpl[k].length = PG;
		}
		if (iovx_sg_mark_reusable(bufs[i].tmpl, BUF_PAGES))
			return 1;
	}
	nr_maps = nr_sg = nr_checks = nr_stops = nr_stopped_entries = nr_evicted = 0;
	nr_probes = 0;
	max_entries_seen = 0;

	rc = run_watched(&o, body, duration_ns);

	/* Stop everything: nothing may be left, anywhere (a leaked reference would hang it). */
	iovx_dma_get_reuse_stats(dom, &rs);
	if (rs.refs) {
		fprintf(stderr, "FAIL: %" PRIu64 " references held after every unmap returned\n",
			rs.refs);
		rc = 1;
		r = 0;
	} else {
		r = iovx_buf_stop_reuse((uintptr_t)arena, NBUF * BUF_PAGES * PG);
	}
	if (r < 0) {
		fprintf(stderr, "FAIL: final stop: %d\n", r);
		rc = 1;
	}
	if (deferred_base && iovx_dma_flush_deferred(dom)) {
		fprintf(stderr, "FAIL: final flush\n");
		rc = 1;
	}
	iovx_dma_get_reuse_stats(dom, &rs);
	iovx_dma_get_stats(dom, &ds);
	iovx_sim_get_stats(sim, &ss);
	printf("workers: maps %" PRIu64 " (sg %" PRIu64 ") checked %" PRIu64 "; stopper: stops %"
	       PRIu64 " tearing down %" PRIu64 " entries, %" PRIu64 " probes; evictor: %" PRIu64
	       " evicted (largest snapshot: %" PRIu64 " entries)\n", nr_maps, nr_sg, nr_checks,
	       nr_stops, nr_stopped_entries, nr_probes, nr_evicted, max_entries_seen);
	printf("reuse: hits %" PRIu64 " misses %" PRIu64 " untagged %" PRIu64 " evictions %"
	       PRIu64 " stops %" PRIu64 " revivals %" PRIu64 " expired %" PRIu64 " entries %"
	       PRIu64 " active %" PRIu64 " refs %" PRIu64 " mem %" PRIu64 "\n", rs.hits,
	       rs.misses, rs.untagged_fallbacks, rs.evictions, rs.stops, rs.revivals, rs.expired,
	       rs.entries, rs.active, rs.refs, rs.mem_bytes);
	printf("dma: maps %" PRIu64 " unmaps %" PRIu64 " live %" PRIu64 " errors %" PRIu64
	       " syncs %" PRIu64 "; sim: faults %" PRIu64 " stale %" PRIu64 " I2 map %" PRIu64
	       " table %" PRIu64 "\n", ds.maps, ds.unmaps, ds.live, ds.errors, ds.syncs,
	       ss.faults, ss.stale_hits, ss.i2_map_violations, ss.i2_table_violations);
	if (rs.entries || rs.active || rs.refs) {
		fprintf(stderr, "FAIL: the table is not empty after stopping everything\n");
		rc = 1;
	}
	if (!rc && (!rs.hits || !rs.misses || !nr_stops)) {
		fprintf(stderr, "FAIL: the run exercised nothing (hits %" PRIu64 ", misses %" PRIu64
			", stops %" PRIu64 ")\n", rs.hits, rs.misses, nr_stops);
		rc = 1;
	}
	if (rs.misses != rs.evictions + rs.stops + rs.entries)
		printf("note: misses %" PRIu64 " != evictions + stops + entries %" PRIu64 "\n",
		       rs.misses, rs.evictions + rs.stops + rs.entries);
	if (ss.i2_map_violations || ss.i2_table_violations || ds.live || ds.errors) {
		fprintf(stderr, "FAIL: invariant counters not clean\n");
		rc = 1;
	}
	r = iovx_iova_audit(dom->iovad, &is);
	if (r || is.live) {
		fprintf(stderr, "FAIL: IOVA audit %d, %" PRIu64 " granules live\n", r, is.live);
		rc = 1;
	}
	r = iovx_dma_domain_destroy(dom);
	if (r) {
		fprintf(stderr, "FAIL: destroy found %d live mappings\n", r);
		rc = 1;
	}
	iovx_sim_get_stats(sim, &ss);
	if (ss.tables_live != 1 || ss.i2_table_violations) {
		fprintf(stderr, "FAIL: %" PRIu64 " table pages live after destroy\n",
			ss.tables_live);
		rc = 1;
	}
	iovx_sim_destroy(sim);
	free(arena);
	sim = NULL;
	dom = NULL;
	arena = NULL;
	return rc ? 1 : 0;
}

/* ================================================================ pressure phases */

/*
 * The second driver: a tagged map must stay reachable by a stop whatever path mapped it.
 * Every map here is tagged (I3 is exact: nothing of a stopped buffer may be reachable the
 * moment the stop returns). Roles:
 *   0        the stopper: closes a buffer's gate (on every domain, or all but one, see
 *            "domains"), preferably while a mapping of it is held (evict: half of the
 *            time; the other half the buffer may be idle and evictable), waits for the maps in
 *            flight, takes a ticket, stops, and probes AT ONCE, before any holder left:
 *            every DMA page of a map that returned before the ticket must neither read the
 *            buffer (fresh canary) nor write it;
 *   1        the evictor: iovx_dma_reuse_evict with small budgets, on a random domain, and
 *            of every idle entry as soon as it sees a stop begin (racing its teardowns);
 *            squeeze: also lowers the DMA mask and raises it again;
 *   2..      holders (pressure phases): map their own tagged buffers and keep them mapped
 *            (the table, 2^P_ORDER entries, is full of held entries), checking the device
 *            path, unmapping and re-mapping now and then; a holder unmaps as soon as it sees
 *            its buffer's gate closed, so the stopper's stop of a held buffer (1 in 4)
 *            races that unmap and never waits for itself;
 *   rest     mappers: map a random target buffer on a random domain (sg or single, BIDI or
 *            TO_DEVICE), check translation, device read and write, sync, hold over a few
 *            yields, unmap.
 * Phases (IOVX_REUSE_STRESS_PHASES selects by name, comma-separated):
 *   pressure-strict, pressure-deferred  table full of held entries: the mappers' maps find
 *            no room in the table;
 *   evict    no holders, 8 targets for 4 entries: misses evict, the evictor evicts the
 *            buffer being stopped (deferred base: the eviction's invalidation is queued);
 *   domains  two reuse domains over two simulated IOMMUs; the stop leaves one domain's gate
 *            open, so maps of the buffer on it race the stop; maps that returned before the
 *            stop's ticket must be unreachable (a map completing after it may stay);
 *            buffer-level, list-level and single-domain stops in turn;
 *   squeeze  a 31-granule IOVA space (tagged maps fail with -ENOMEM, never map anything
 *            then) and a DMA mask lowered to 15 granules and raised again (hits above it).
 */
#define P_ORDER		2
#define P_MAXDOM	2
#define P_NT		8		/* target buffers */
#define P_NH		4		/* holder buffers: the table's capacity */
#define P_SEEN		128		/* map records per buffer and domain */
#define P_PFN_BITS	20		/* record: (ticket << 20) | DMA pfn; masks are <= 32 bits */

struct pcfg {
	const char *key;
	const char *name;
	enum iovx_dma_mode base;
	unsigned int ndom;
	unsigned int nholders;		/* holder threads (0: none) */
	unsigned int ntargets;
	bool race;			/* leave one domain's gate open during the stop */
	bool squeeze;
};

struct pbuf {
	uint8_t *mem;
	struct iovx_dma_sg tmpl[BUF_PAGES];	/* tagged; the stopper's list for sg stops */
	uint64_t gate[P_MAXDOM];		/* __atomic; as struct buf's, per domain */
	uint64_t rec[P_MAXDOM][P_SEEN];		/* __atomic; 0: none */
	uint64_t rec_pos[P_MAXDOM];		/* __atomic */
};

static struct {
	const struct pcfg *cfg;
	struct iovx_sim *sim[P_MAXDOM];
	struct iovx_dma_domain *dom[P_MAXDOM];
	struct pbuf tb[P_NT];
	struct pbuf hb[P_NH];
	uint8_t *arena;
	uint64_t tick;					/* __atomic: map returns and stop starts */
	uint64_t maps, enomem[P_MAXDOM], holds, stops, stopped, held_at_stop, probes, skipped;
	uint64_t evicted, mask_flips, lowered;		/* lowered: __atomic bool */
	uint64_t stop_seq;				/* __atomic: stops begun */
} P;

static bool gw_enter(uint64_t *g)
{
	uint64_t v = __atomic_load_n(g, __ATOMIC_RELAXED);

	do {
		if (v & GATE_CLOSED)
			return false;
	} while (!__atomic_compare_exchange_n(g, &v, v + GATE_IN + GATE_PREMAP, true,
					      __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
	return true;
}

static void gw_wait(uint64_t *g, uint64_t mask)
{
	while (__atomic_load_n(g, __ATOMIC_ACQUIRE) & mask)
		sched_yield();
}

/* Closes g; want_held: preferably while some thread holds a mapping (map returned). */
static void gw_close_held(uint64_t *g, bool want_held)
{
	uint64_t v = __atomic_load_n(g, __ATOMIC_RELAXED);
	unsigned int tries = want_held ? 200 : 0;

	for (;;) {
		uint64_t in = v & GATE_IN_MASK, pre = (v & ~GATE_CLOSED) >> 32;

		if (in <= pre && tries) {
			tries--;
			sched_yield();
			v = __atomic_load_n(g, __ATOMIC_RELAXED);
			continue;
		}
		if (__atomic_compare_exchange_n(g, &v, v | GATE_CLOSED, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return;
	}
}

static uint64_t gw_held(uint64_t *g)
{
	uint64_t v = __atomic_load_n(g, __ATOMIC_ACQUIRE);

	return (v & GATE_IN_MASK) - ((v & ~GATE_CLOSED) >> 32);
}

static void precord(struct pbuf *b, unsigned int d, uint64_t dma_page, uint64_t ticket)
{
	uint64_t i = __atomic_fetch_add(&b->rec_pos[d], 1, __ATOMIC_RELAXED);

	__atomic_store_n(&b->rec[d][i % P_SEEN], ticket << P_PFN_BITS | dma_page >> 12,
			 __ATOMIC_RELAXED);
}

/* Page k of a held mapping on domain d: check_dev. */
static int pcheck(struct iovx_stress_thread *th, unsigned int d, uint8_t *mem, unsigned int k,
		  uint64_t dma, enum iovx_dma_dir dir, const char *what)
{
	char where[48];

	snprintf(where, sizeof(where), "domain %u page %u", d, k);
	return check_dev(th, P.sim[d], mem + k * PG, dma, dir, what, where);
}

/* A tagged map of b on domain d: 0 and dma[], -ENOMEM (squeeze: nothing mapped), or -1. */
static int pmap(struct iovx_stress_thread *th, struct pbuf *b, unsigned int d, bool use_sg,
		enum iovx_dma_dir dir, unsigned int attrs, struct iovx_dma_sg *sg, uint64_t *dma)
{
	unsigned int k;
	int n;

	if (use_sg) {
		/* The list is the caller's own: the stopper's template is its sg stop's. */
		for (k = 0; k < BUF_PAGES; k++) {
			memset(&sg[k], 0, sizeof(sg[k]));
			sg[k].phys = (uintptr_t)b->mem + k * PG;
			sg[k].length = PG;
		}
		if (iovx_sg_mark_reusable(sg, BUF_PAGES)) {
			iovx_stress_fail(th, "mark failed");
			return -1;
		}
		n = iovx_dma_map_sg(P.dom[d], sg, BUF_PAGES, dir, attrs);
		if (n > 0) {
			dma[0] = sg[0].dma_address;
			dma[1] = n == 1 ? sg[0].dma_address + PG : sg[1].dma_address;
			return 0;
		}
	} else {
		n = iovx_dma_map_single(P.dom[d], (uintptr_t)b->mem, BUF_PAGES * PG, dir,
					attrs | IOVX_DMA_ATTR_REUSE, &dma[0]);
		if (!n) {
			dma[1] = dma[0] + PG;
			return 0;
		}
	}
	if (n == -ENOMEM && P.cfg->squeeze) {
		count(&P.enomem[d], 1);
		return -ENOMEM;
	}
	iovx_stress_fail(th, "tagged %s map on domain %u: %d", use_sg ? "sg" : "single", d, n);
	return -1;
}

static int punmap(struct iovx_stress_thread *th, unsigned int d, bool use_sg,
		  enum iovx_dma_dir dir, unsigned int attrs, struct iovx_dma_sg *sg, uint64_t dma)
{
	int r = use_sg ? iovx_dma_unmap_sg(P.dom[d], sg, BUF_PAGES, dir, attrs) :
		iovx_dma_unmap_single(P.dom[d], dma, BUF_PAGES * PG, dir,
				      attrs | IOVX_DMA_ATTR_REUSE);

	if (r)
		iovx_stress_fail(th, "tagged %s unmap on domain %u: %d", use_sg ? "sg" : "single",
				 d, r);
	return r;
}

static int pmapper(struct iovx_stress_thread *th)
{
	while (iovx_stress_continue(th)) {
		struct pbuf *b = &P.tb[iovx_stress_below(th, P.cfg->ntargets)];
		unsigned int d = (unsigned int)iovx_stress_below(th, P.cfg->ndom);
		enum iovx_dma_dir dir = iovx_stress_below(th, 4) ? IOVX_DMA_BIDIRECTIONAL :
								   IOVX_DMA_TO_DEVICE;
		unsigned int attrs = iovx_stress_below(th, 4) ? 0 : IOVX_DMA_ATTR_SKIP_CPU_SYNC;
		bool use_sg = iovx_stress_below(th, 2);
		unsigned int k, pass, passes = 1 + (unsigned int)iovx_stress_below(th, 4);
		struct iovx_dma_sg sg[BUF_PAGES];
		uint64_t dma[BUF_PAGES], ticket;
		bool failed = false;
		int r;

		if (!gw_enter(&b->gate[d])) {
			sched_yield();
			continue;
		}
		r = pmap(th, b, d, use_sg, dir, attrs, sg, dma);
		if (r) {
			__atomic_fetch_sub(&b->gate[d], GATE_PREMAP + GATE_IN, __ATOMIC_RELEASE);
			if (r == -ENOMEM) {
				sched_yield();
				continue;
			}
			return -1;
		}
		/* The ticket orders this map's return against a stop's start. */
		ticket = __atomic_fetch_add(&P.tick, 1, __ATOMIC_SEQ_CST);
		for (k = 0; k < BUF_PAGES; k++)
			precord(b, d, dma[k], ticket);
		__atomic_fetch_sub(&b->gate[d], GATE_PREMAP, __ATOMIC_RELEASE);
		count(&P.maps, 1);
		for (pass = 0; pass < passes && !failed; pass++) {
			for (k = 0; k < BUF_PAGES && !failed; k++)
				failed = pcheck(th, d, b->mem, k, dma[k], dir, "mapper") != 0;
			if (failed)
				break;
			r = use_sg ? iovx_dma_sync_sg_for_cpu(P.dom[d], sg, BUF_PAGES, dir) :
				     iovx_dma_sync_single_for_device(P.dom[d], dma[0], PG, dir);
			if (r) {
				iovx_stress_fail(th, "sync of a held tagged mapping: %d", r);
				failed = true;
			}
			sched_yield();
		}
		r = punmap(th, d, use_sg, dir, attrs, sg, dma[0]);
		__atomic_fetch_sub(&b->gate[d], GATE_IN, __ATOMIC_RELEASE);
		if (r || failed)
			return -1;
	}
	return 0;
}

/* Holder h keeps holder buffers h, h + nholders, ... mapped (BIDI single maps). */
static int pholder(struct iovx_stress_thread *th)
{
	unsigned int h = th->id - 2, nh = P.cfg->nholders;

	while (iovx_stress_continue(th)) {
		bool held[P_NH] = { false };
		uint64_t dma[P_NH][BUF_PAGES], ticket;
		unsigned int j, spin, spins = 8 + (unsigned int)iovx_stress_below(th, 64);
		bool failed = false, any = false;
		int r;

		for (j = h; j < P_NH; j += nh) {
			struct pbuf *b = &P.hb[j];
			unsigned int d = j % P.cfg->ndom;

			if (!gw_enter(&b->gate[d]))
				continue;
			r = pmap(th, b, d, false, IOVX_DMA_BIDIRECTIONAL, 0, NULL, dma[j]);
			if (r) {
				__atomic_fetch_sub(&b->gate[d], GATE_PREMAP + GATE_IN,
						   __ATOMIC_RELEASE);
				if (r == -ENOMEM)
					continue;
				failed = true;
				break;
			}
			ticket = __atomic_fetch_add(&P.tick, 1, __ATOMIC_SEQ_CST);
			precord(b, d, dma[j][0], ticket);
			precord(b, d, dma[j][1], ticket);
			__atomic_fetch_sub(&b->gate[d], GATE_PREMAP, __ATOMIC_RELEASE);
			held[j] = any = true;
			count(&P.holds, 1);
		}
		/* Hold; a closed gate (a stop waits) makes the holder let go of that buffer. */
		for (spin = 0; any && !failed && spin < spins; spin++) {
			any = false;
			for (j = h; j < P_NH && !failed; j += nh) {
				struct pbuf *b = &P.hb[j];
				unsigned int d = j % P.cfg->ndom;

				if (!held[j])
					continue;
				if (__atomic_load_n(&b->gate[d], __ATOMIC_RELAXED) & GATE_CLOSED) {
					held[j] = false;
					r = punmap(th, d, false, IOVX_DMA_BIDIRECTIONAL, 0, NULL,
						   dma[j][0]);
					__atomic_fetch_sub(&b->gate[d], GATE_IN, __ATOMIC_RELEASE);
					failed = r != 0;
					continue;
				}
				any = true;
				failed = pcheck(th, d, b->mem, spin & 1, dma[j][spin & 1],
						IOVX_DMA_BIDIRECTIONAL, "holder") != 0;
			}
			sched_yield();
		}
		for (j = h; j < P_NH; j += nh) {
			unsigned int d = j % P.cfg->ndom;

			if (!held[j])
				continue;
			if (punmap(th, d, false, IOVX_DMA_BIDIRECTIONAL, 0, NULL, dma[j][0]))
				failed = true;
			__atomic_fetch_sub(&P.hb[j].gate[d], GATE_IN, __ATOMIC_RELEASE);
		}
		if (failed)
			return -1;
	}
	return 0;
}

/* What domain d holds now, for a failure message: where a reachable mapping may come from. */
static const char *pdiag(unsigned int d, char *buf, size_t len)
{
	struct iovx_reuse_stats rs;
	struct iovx_dma_stats ds;

	iovx_dma_get_reuse_stats(P.dom[d], &rs);
	iovx_dma_get_stats(P.dom[d], &ds);
	snprintf(buf, len, "now: %" PRIu64 " mappings live outside the table, %" PRIu64
		 " entries, %" PRIu64 " refs; so far %" PRIu64 " tagged maps untagged, %" PRIu64
		 " evictions", ds.live, rs.entries, rs.refs, rs.untagged_fallbacks, rs.evictions);
	return buf;
}

/*
 * Right after a stop whose ticket is begin returned: on every domain of dmask, no DMA page of
 * a map of b that returned before begin may reach b, unless a map returned after begin
 * handed out the same page (it may be live: a map racing the stop on an open domain).
 * p0: each domain's record count when the stop began (a ring overwritten since: no probe).
 */
static int pprobe(struct iovx_stress_thread *th, struct pbuf *b, unsigned int dmask,
		  uint64_t begin, const uint64_t *p0, const char *how)
{
	uint8_t canary[BUF_PAGES][CANARY_LEN];
	unsigned int i, j, k, d;

	for (k = 0; k < BUF_PAGES; k++) {
		for (i = 0; i < CANARY_LEN; i++)
			canary[k][i] = (uint8_t)iovx_stress_rand(th);
		memcpy(b->mem + k * PG + CANARY_OFF, canary[k], CANARY_LEN);
	}
	for (d = 0; d < P.cfg->ndom; d++) {
		const uint64_t *rec = b->rec[d];	/* stable: every gate of b is closed */
		uint64_t pos;

		if (!(dmask & 1u << d))
			continue;
		pos = __atomic_load_n(&b->rec_pos[d], __ATOMIC_ACQUIRE);
		if (pos - p0[d] + 32 >= P_SEEN) {
			count(&P.skipped, 1);
			continue;
		}
		for (i = 0; i < P_SEEN; i++) {
			uint64_t pfn = rec[i] & ((1ull << P_PFN_BITS) - 1), dma;
			uint8_t junk[CANARY_LEN], back[CANARY_LEN];
			bool later = false;

			if (!rec[i] || rec[i] >> P_PFN_BITS >= begin)
				continue;
			for (j = 0; j < P_SEEN && !later; j++)
				later = rec[j] >> P_PFN_BITS >= begin &&
					(rec[j] & ((1ull << P_PFN_BITS) - 1)) == pfn;
			if (later)
				continue;
			dma = (pfn << 12) + CANARY_OFF;
			if (!iovx_sim_dev_read(P.sim[d], dma, back, CANARY_LEN, NULL)) {
				for (k = 0; k < BUF_PAGES; k++) {
					char why[200];

					if (memcmp(back, canary[k], CANARY_LEN))
						continue;
					iovx_stress_fail(th, "I3: after %s returned, the device "
							 "read page %u of the stopped buffer "
							 "through %#" PRIx64 " (domain %u, mapped "
							 "%" PRIu64 " tickets before the stop; "
							 "%s)", how, k, dma, d,
							 begin - (rec[i] >> P_PFN_BITS),
							 pdiag(d, why, sizeof(why)));
					return -1;
				}
			}
			memset(junk, 0x5a, sizeof(junk));
			(void)iovx_sim_dev_write(P.sim[d], dma, junk, CANARY_LEN, NULL);
			count(&P.probes, 1);
		}
	}
	for (k = 0; k < BUF_PAGES; k++) {
		char why[200];

		if (!memcmp(canary[k], b->mem + k * PG + CANARY_OFF, CANARY_LEN))
			continue;
		iovx_stress_fail(th, "I3: after %s returned, a device write through a DMA "
				 "address of an earlier map reached page %u of the stopped buffer "
				 "(domain 0 %s)", how, k, pdiag(0, why, sizeof(why)));
		return -1;
	}
	return 0;
}

static int pstopper(struct iovx_stress_thread *th)
{
	const struct pcfg *c = P.cfg;
	unsigned int turn = 0;

	while (iovx_stress_continue(th)) {
		bool holder = c->nholders && iovx_stress_below(th, 4) == 0;
		struct pbuf *b = holder ? &P.hb[iovx_stress_below(th, P_NH)] :
					  &P.tb[iovx_stress_below(th, c->ntargets)];
		unsigned int open = c->race ? (unsigned int)iovx_stress_below(th, c->ndom) : ~0u;
		unsigned int d, dmask = (1u << c->ndom) - 1, kind = turn++ % 3;
		uint64_t begin, p0[P_MAXDOM], held = 0;
		bool want_held;
		const char *how;
		int r;

		/* evict: an idle buffer half of the time, so that evictions race the stop */
		want_held = c->nholders || iovx_stress_below(th, 2);
		for (d = 0; d < c->ndom; d++)
			if (d != open)
				gw_close_held(&b->gate[d], want_held);
		for (d = 0; d < c->ndom; d++) {
			if (d == open)
				continue;
			gw_wait(&b->gate[d], ~GATE_CLOSED & ~GATE_IN_MASK);
			held += gw_held(&b->gate[d]);
		}
		for (d = 0; d < c->ndom; d++)
			p0[d] = __atomic_load_n(&b->rec_pos[d], __ATOMIC_ACQUIRE);
		begin = __atomic_fetch_add(&P.tick, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&P.stop_seq, 1, __ATOMIC_RELAXED);
		d = 0;
		if (kind == 0) {
			/* one domain: the open one's maps may stay; probe the others */
			d = c->ndom == 1 ? 0 : (open + 1) % c->ndom;
			if (c->race)
				dmask = 1u << d;
		}
		r = stop_by(kind, P.dom[d], b->mem, b->tmpl, &how);
		if (r < 0) {
			iovx_stress_fail(th, "%s: %d", how, r);
			return -1;
		}
		count(&P.stops, 1);
		count(&P.stopped, (uint64_t)r);
		count(&P.held_at_stop, held ? 1 : 0);
		/* The open domain: no map of b from here on; the racing ones have returned. */
		if (open != ~0u) {
			gw_close_held(&b->gate[open], false);
			gw_wait(&b->gate[open], ~GATE_CLOSED & ~GATE_IN_MASK);
		}
		/* Probe before anyone leaves: a holder may still think it holds b. */
		if (pprobe(th, b, dmask, begin, p0, how))
			return -1;
		if (kind == 1 && iovx_sg_mark_reusable(b->tmpl, BUF_PAGES)) {
			iovx_stress_fail(th, "re-mark failed");
			return -1;
		}
		for (d = 0; d < c->ndom; d++)
			gw_wait(&b->gate[d], GATE_IN_MASK);
		for (d = 0; d < c->ndom; d++)
			__atomic_fetch_and(&b->gate[d], ~GATE_CLOSED, __ATOMIC_RELEASE);
		sched_yield();
	}
	return 0;
}

static int pevictor(struct iovx_stress_thread *th)
{
	const struct pcfg *c = P.cfg;
	uint64_t it = 0, seen_stop = 0;

	while (iovx_stress_continue(th)) {
		unsigned int d = (unsigned int)iovx_stress_below(th, c->ndom);
		uint64_t s = __atomic_load_n(&P.stop_seq, __ATOMIC_RELAXED);
		/* a stop has begun: evict every idle entry now, racing its teardowns */
		unsigned int max = s != seen_stop ? 0 : (unsigned int)iovx_stress_below(th, 3);
		struct iovx_reuse_stats st;
		int r = iovx_dma_reuse_evict(P.dom[d], max);

		seen_stop = s;

		if (r < 0) {
			iovx_stress_fail(th, "evict: %d", r);
			return -1;
		}
		count(&P.evicted, (uint64_t)r);
		if (iovx_dma_get_reuse_stats(P.dom[d], &st) || st.capacity != 1u << P_ORDER) {
			iovx_stress_fail(th, "reuse stats: capacity %" PRIu64, st.capacity);
			return -1;
		}
		/* squeeze: a mask of 15 granules for a while, then 31 again */
		if (c->squeeze && ++it % 8 == 0) {
			bool low = !__atomic_load_n(&P.lowered, __ATOMIC_RELAXED);

			for (d = 0; d < c->ndom; d++)
				iovx_dma_set_mask(P.dom[d], low ? 0xffffull : 0x1ffffull);
			__atomic_store_n(&P.lowered, low, __ATOMIC_RELAXED);
			count(&P.mask_flips, 1);
		}
		/* evict: no yield, the evictor races the stopper as hard as it can */
		if (c->nholders || iovx_stress_below(th, 4) == 0)
			sched_yield();
	}
	return 0;
}

static int pbody(struct iovx_stress_thread *th)
{
	static const iovx_stress_fn roles[] = { pstopper, pevictor, pmapper };

	if (th->id >= 2 && th->id - 2 < P.cfg->nholders)
		return pholder(th);
	return iovx_stress_role(th, roles, 3);
}

static int pphase(const struct pcfg *c, uint64_t duration_ns)
{
	struct iovx_stress_opts o = IOVX_STRESS_OPTS_INIT;
	unsigned int i, k, d, mappers;
	uint64_t nbuf = P_NT + P_NH, overflows = 0;
	int rc, r;

	memset(&P, 0, sizeof(P));
	P.cfg = c;
	mappers = iovx_stress_default_threads();
	mappers = mappers > 4 ? mappers - 2 : 2;
	o.name = c->name;
	o.nthreads = 2 + c->nholders + mappers;
	if (o.nthreads - 2 > CANARY_OFF / REGION)
		o.nthreads = 2 + CANARY_OFF / REGION;
	o.duration_ns = duration_ns;
	for (d = 0; d < c->ndom; d++) {
		struct iovx_sim_config sc;
		struct iovx_dma_config dc;

		iovx_sim_config_init(&sc);
		sc.iotlb_sets = 16;
		sc.eager_table_free = true;
		if (iovx_sim_create(&sc, &P.sim[d]))
			return 1;
		iovx_dma_config_init(&dc, iovx_sim_iommu(P.sim[d]), IOVX_DMA_MODE_REUSE);
		dc.fallback = c->base;
		dc.reuse_table_order = P_ORDER;
		dc.dma_mask = c->squeeze ? 0x1ffffull : 0xffffffffull;
		if (iovx_dma_domain_create(&dc, &P.dom[d])) {
			fprintf(stderr, "FAIL: reuse domain create\n");
			return 1;
		}
	}
	P.arena = aligned_alloc(PG, nbuf * BUF_PAGES * PG);
	if (!P.arena)
		return 1;
	memset(P.arena, 0, nbuf * BUF_PAGES * PG);
	for (i = 0; i < nbuf; i++) {
		struct pbuf *b = i < P_NT ? &P.tb[i] : &P.hb[i - P_NT];

		b->mem = P.arena + (uint64_t)i * BUF_PAGES * PG;
		for (k = 0; k < BUF_PAGES; k++) {
			b->tmpl[k].phys = (uintptr_t)b->mem + k * PG;
			b->tmpl[k].length = PG;
		}
		if (iovx_sg_mark_reusable(b->tmpl, BUF_PAGES))
			return 1;
	}

	rc = run_watched(&o, pbody, duration_ns);

	printf("maps %" PRIu64 ", holds %" PRIu64 ", -ENOMEM %" PRIu64 "; stops %" PRIu64
	       " (%" PRIu64 " with a mapping held) tearing down %" PRIu64 " entries, %" PRIu64
	       " probes (%" PRIu64 " skipped); evicted %" PRIu64 ", mask flips %" PRIu64 "\n",
	       P.maps, P.holds, P.enomem[0] + P.enomem[1], P.stops, P.held_at_stop, P.stopped,
	       P.probes, P.skipped, P.evicted, P.mask_flips);
	/* Stop everything: nothing may be left on any domain. */
	r = iovx_buf_stop_reuse((uintptr_t)P.arena, nbuf * BUF_PAGES * PG);
	if (r < 0) {
		fprintf(stderr, "FAIL: final stop: %d\n", r);
		rc = 1;
	}
	for (d = 0; d < c->ndom; d++) {
		struct iovx_reuse_stats rs;
		struct iovx_dma_stats ds;
		struct iovx_sim_stats ss;
		struct iovx_iova_stats is;

		if (c->base == IOVX_DMA_MODE_DEFERRED && iovx_dma_flush_deferred(P.dom[d])) {
			fprintf(stderr, "FAIL: final flush\n");
			rc = 1;
		}
		iovx_dma_get_reuse_stats(P.dom[d], &rs);
		iovx_dma_get_stats(P.dom[d], &ds);
		iovx_sim_get_stats(P.sim[d], &ss);
		printf("domain %u: reuse hits %" PRIu64 " misses %" PRIu64 " overflows %" PRIu64
		       " untagged %" PRIu64 " evictions %" PRIu64 " stops %" PRIu64 "; dma maps %"
		       PRIu64 " errors %" PRIu64 "; sim faults %" PRIu64 " stale %" PRIu64 "\n", d,
		       rs.hits, rs.misses, rs.overflows, rs.untagged_fallbacks, rs.evictions,
		       rs.stops, ds.maps, ds.errors, ss.faults, ss.stale_hits);
		overflows += rs.overflows;
		if (rs.entries || rs.active || rs.refs) {
			fprintf(stderr, "FAIL: domain %u: %" PRIu64 " entries, %" PRIu64 " refs left "
				"after stopping everything\n", d, rs.entries, rs.refs);
			rc = 1;
		}
		if (ss.i2_map_violations || ss.i2_table_violations || ds.live ||
		    ds.errors != P.enomem[d]) {
			fprintf(stderr, "FAIL: domain %u: I2 %" PRIu64 "/%" PRIu64 ", live %" PRIu64
				", errors %" PRIu64 " (-ENOMEM %" PRIu64 ")\n", d,
				ss.i2_map_violations, ss.i2_table_violations, ds.live, ds.errors,
				P.enomem[d]);
			rc = 1;
		}
		r = iovx_iova_audit(P.dom[d]->iovad, &is);
		if (r || is.live) {
			fprintf(stderr, "FAIL: domain %u: IOVA audit %d, %" PRIu64 " live\n", d, r,
				is.live);
			rc = 1;
		}
		r = iovx_dma_domain_destroy(P.dom[d]);
		if (r) {
			fprintf(stderr, "FAIL: domain %u: destroy found %d live\n", d, r);
			rc = 1;
		}
		iovx_sim_get_stats(P.sim[d], &ss);
		if (ss.tables_live != 1 || ss.i2_table_violations) {
			fprintf(stderr, "FAIL: %" PRIu64 " table pages live after destroy\n",
				ss.tables_live);
			rc = 1;
		}
		iovx_sim_destroy(P.sim[d]);
	}
	if (!rc && (!P.maps || !P.stops || !P.probes)) {
		fprintf(stderr, "FAIL: the run exercised nothing (maps %" PRIu64 ", stops %" PRIu64
			", probes %" PRIu64 ")\n", P.maps, P.stops, P.probes);
		rc = 1;
	}
	/* Holders on one domain keep the table full: some tagged map must have overflowed. */
	if (!rc && c->nholders && c->ndom == 1 && !overflows) {
		fprintf(stderr, "FAIL: a table full of held entries, but no tagged map overflowed\n");
		rc = 1;
	}
	free(P.arena);
	memset(&P, 0, sizeof(P));
	return rc ? 1 : 0;
}

static const struct pcfg pphases[] = {
	{ "pressure-strict", "reuse pressure (strict base): full table of held entries, "
	  "map/stop/probe", IOVX_DMA_MODE_STRICT, 1, 2, 4, false, false },
	{ "pressure-deferred", "reuse pressure (deferred base): full table of held entries, "
	  "map/stop/probe", IOVX_DMA_MODE_DEFERRED, 1, 2, 4, false, false },
	{ "evict", "reuse pressure (deferred base): evictions racing stops, map/stop/probe",
	  IOVX_DMA_MODE_DEFERRED, 1, 0, P_NT, false, false },
	{ "domains", "reuse pressure (strict base, two domains): a stop racing maps on one",
	  IOVX_DMA_MODE_STRICT, 2, 2, 4, true, false },
	{ "squeeze", "reuse pressure (deferred base): 31-granule IOVA space, mask lowered and "
	  "raised, map/stop/probe", IOVX_DMA_MODE_DEFERRED, 1, 2, 4, false, true },
};

/* Is key one of the comma-separated names of sel (NULL or empty: every phase)? */
static bool selected(const char *sel, const char *key)
{
	size_t n = strlen(key);
	const char *p = sel;

	if (!sel || !*sel)
		return true;
	while ((p = strstr(p, key))) {
		if ((p == sel || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
		p += n;
	}
	return false;
}

int main(void)
{
	static const struct {
		const char *key;
		enum iovx_dma_mode base;
		bool revive;
	} gphases[] = {
		{ "strict", IOVX_DMA_MODE_STRICT, false },
		{ "deferred", IOVX_DMA_MODE_DEFERRED, false },
		{ "revive", IOVX_DMA_MODE_DEFERRED, true },
	};
	const char *env = getenv("IOVX_REUSE_STRESS_FLUSH");
	const char *sel = getenv("IOVX_REUSE_STRESS_PHASES");
	unsigned int i, n = 0;
	uint64_t slice;
	int rc = 0;

	flush_before_probe = env && *env == '1';
	for (i = 0; i < sizeof(gphases) / sizeof(gphases[0]); i++)
		n += selected(sel, gphases[i].key);
	for (i = 0; i < sizeof(pphases) / sizeof(pphases[0]); i++)
		n += selected(sel, pphases[i].key);
	if (!n) {
		fprintf(stderr, "FAIL: IOVX_REUSE_STRESS_PHASES=%s selects no phase\n", sel);
		return 1;
	}
	slice = iovx_stress_duration_ns() / n;
	if (!slice)
		slice = 1;
	for (i = 0; i < sizeof(gphases) / sizeof(gphases[0]); i++)
		if (selected(sel, gphases[i].key))
			rc |= phase(gphases[i].base, gphases[i].revive, slice);
	for (i = 0; i < sizeof(pphases) / sizeof(pphases[0]); i++)
		if (selected(sel, pphases[i].key))
			rc |= pphase(&pphases[i], slice);
	return rc;
}

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * misuse.h - one libFuzzer target (and ctest replay) body built three times: misuse of the
 * DMA facade's unmap and sync calls. fuzz_misuse_dma.c, fuzz_misuse_bounce.c and
 * fuzz_misuse_reuse.c define MISUSE_TARGET and include this file:
 *   MISUSE_DMA     a strict domain
 *   MISUSE_BOUNCE  a bounce domain (strict fallback, a small pool of 256 B, 1 KiB and 4 KiB
 *                  slots, fixed crossover) so that sg lists and buffers bounce or fall back
 *   MISUSE_REUSE   a reuse domain over strict with a 4- or 8-entry table; lists and buffers
 *                  are tagged or not, and a map may repeat an earlier buffer (a table hit)
 *
 * Input: a header byte (bit 0: the simulator's eager_table_free; bit 1: reuse table order 3
 * instead of 2; bit 2: a live-mapping table of 16 slots instead of 64) then records
 * { op, args }. op % 8 (slot: (op >> 3) % NSLOT):
 *   0-1  map the slot: an sg list or a single buffer, new (op 0) or the slot's previous
 *        buffer again (op 1); a new one takes an attrs byte (bit 0 weak ordering,
 *        1 privileged, 2 skip CPU sync) and its segments
 *   2    unmap it, as mapped;  3  sync it, as mapped
 *   4-5  misuse it: copy the mapped sg list (or single dma/size/dir/attrs), apply 1-3
 *        mutations (offsets, lengths, phys, DMA addresses, dma_lengths, nents, direction,
 *        attrs; values near 0, near 2^64, beyond the IOVA space, another live mapping's DMA
 *        address or bounce slot, two entries' fields swapped) and unmap or sync the copy
 *   6    the device reaches every live mapping (reuse: stop reuse of the slot's buffer
 *        when nothing live overlaps it)
 *   7    reuse: evict every idle entry
 *
 * The shadow model knows every live mapping as map_sg/map_single recorded it and predicts
 * each misuse call's result from the errnos of include/iovx/dma.h (docs/facade.md, "The
 * record of every live mapping"): argument errors (-EINVAL; single: -EOVERFLOW when dma +
 * size wraps), then sg[0].dma_address (or dma) selects a live mapping (-ENOENT if none
 * starts there, near 0, near 2^64 or beyond the IOVA space alike), then any difference
 * from the record is -EINVAL (an sg entry no map could take is a difference too). Where
 * the order of two checks is not part of the contract either errno is accepted (an sg
 * call with a bad entry naming no mapping; a tagged list, which the reuse table finds by
 * its buffer, naming another mapping: -EINVAL or -ENOENT). A call the model finds
 * well-formed (a mutation that changed nothing the facade compares) is expected to
 * succeed (an unmap then really unmaps). A rejected call must change nothing:
 * the facade's counters (live, maps, unmaps, invalidations, leaks, bounce counts), the
 * simulator's (map/unmap/PTE/TLBI/sync counters, table pages), the IOVA allocator's audit,
 * the bounce pool's slots in use and the reuse table's statistics; and every live mapping
 * still translates to its own bytes (bounce: a pool slot holding the same data) and the
 * device reads that data (or writes, in its direction) at both ends of every DMA segment. After every step:
 *   I1  live mappings never share an IOVA page (bounce slots: a byte), but for two maps
 *       of one tagged buffer (one table entry);
 *   I2  the checker counted no map over a cached translation, no early table free, no
 *       stale IOTLB hit;
 *   I3  every IOVA page a strict unmap, an evicted or stopped entry gave back faults for
 *       the device until a later map hands it out again;
 *   reuse: a tagged map lands in the reuse table (its references grow by one, the
 *       facade's live count does not), also when the table is full of held entries.
 * At the end everything is unmapped (reuse: stopped and evicted), every IOVA page ever
 * handed out faults, the live counts are 0, destroy reports no leak, no table page is left.
 * A failed check prints what was called, what the model expected and what happened.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_cfg.h"

#include <iovx/bounce.h>
#include <iovx/dma.h>
#include <iovx/iova.h>
#include <iovx/reuse.h>
#include <iovx/sim.h>

/* Test-only: the domain's IOVA allocator and bounce pool (the facade has no accessor). */
#include "dma/dma_internal.h"

#include "fuzz_input.h"

#define MISUSE_DMA	0
#define MISUSE_BOUNCE	1
#define MISUSE_REUSE	2

#ifndef MISUSE_TARGET
#error "define MISUSE_TARGET before including misuse.h"
#endif

#if MISUSE_TARGET == MISUSE_DMA
#define MU_NAME "fuzz_misuse_dma"
#elif MISUSE_TARGET == MISUSE_BOUNCE
#define MU_NAME "fuzz_misuse_bounce"
#else
#define MU_NAME "fuzz_misuse_reuse"
#endif

#define PG		4096ull
#define ARENA_PAGES	24
#define NSLOT		16
#define MAXSG		4
#define MAXSTEPS	160
#define RING		256		/* IOVA pages given back, checked to fault */
#define EVER		1024		/* IOVA pages ever handed out (final check) */
#define OAS_BITS	52		/* the simulator's output address size */
#define MAP_ATTRS	(IOVX_DMA_ATTR_WEAK_ORDERING | IOVX_DMA_ATTR_PRIVILEGED)

/* ------------------------------------------------------------------ reporting */
static char mu_what[512];		/* the call in progress, for a failed check */

#define CHECK(c) do { if (!(c)) mu_fail(__LINE__, #c); } while (0)

static void mu_fail(int line, const char *cond)
{
	fprintf(stderr, "%s: check failed at misuse.h:%d: %s\n  during: %s\n", MU_NAME, line,
		cond, mu_what[0] ? mu_what : "(setup)");
	abort();
}

static void mu_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void mu_note(const char *fmt, ...)
{
	size_t n = strlen(mu_what);
	va_list ap;

	if (n + 1 >= sizeof(mu_what))
		return;
	va_start(ap, fmt);
	vsnprintf(mu_what + n, sizeof(mu_what) - n, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ model */
struct slot {
	bool described, live, sg, tagged;
	bool overflow;			/* reuse: mapped by an entry beyond the capacity */
	int nents, nout;
	unsigned int dir, attrs;
	struct iovx_dma_sg s[MAXSG];	/* as map_sg left it */
	uint64_t addr[MAXSG], len[MAXSG];
	uint64_t phys, size, dma;	/* single */
};

struct mu {
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
	struct slot sl[NSLOT];
	uint64_t ring[RING];		/* IOVA page numbers that must fault */
	unsigned int nring;
	uint64_t ever[EVER];
	unsigned int never;
	uint64_t base_iova_live;	/* the IOVA audit's live granules with nothing mapped */
	/* reuse: DMA segments of tagged entries that may still be in the table, idle */
	struct { bool used; uint64_t lo, hi, blo[MAXSG], bhi[MAXSG]; int nb; } idle[NSLOT * 2];
};

static uint8_t *arena;

static uint64_t seg_dma(const struct slot *l, int i)
{
	return l->sg ? l->s[i].dma_address : l->dma;
}

static uint64_t seg_dlen(const struct slot *l, int i)
{
	return l->sg ? l->s[i].dma_length : l->size;
}

static int nseg(const struct slot *l)
{
	return l->sg ? l->nout : 1;
}

static bool pool_owns(struct mu *m, uint64_t dma)
{
	struct iovx_bounce_pool *pool = dma_bounce_pool(m->dom);

	return pool && iovx_bounce_owns(pool, dma);
}

/* Two live slots that are two references of one table entry (same tagged buffer). */
static bool same_entry(const struct slot *a, const struct slot *b)
{
	int i;

	if (!a->tagged || !b->tagged || a->sg != b->sg || a->dir != b->dir ||
	    (a->attrs & MAP_ATTRS) != (b->attrs & MAP_ATTRS))
		return false;
	if (!a->sg)
		return a->phys == b->phys && a->size == b->size && a->dma == b->dma;
	if (a->nents != b->nents || a->nout != b->nout)
		return false;
	for (i = 0; i < a->nents; i++)
		if (a->addr[i] != b->addr[i] || a->len[i] != b->len[i])
			return false;
	for (i = 0; i < a->nout; i++)
		if (a->s[i].dma_address != b->s[i].dma_address ||
		    a->s[i].dma_length != b->s[i].dma_length)
			return false;
	return true;
}

static bool page_live(struct mu *m, uint64_t pfn)
{
	int k, i;

	for (k = 0; k < NSLOT; k++) {
		const struct slot *l = &m->sl[k];

		for (i = 0; l->live && i < nseg(l); i++)
			if (pfn >= seg_dma(l, i) / PG &&
			    pfn <= (seg_dma(l, i) + seg_dlen(l, i) - 1) / PG)
				return true;
	}
	return false;
}

static void ring_drop_range(struct mu *m, uint64_t lo, uint64_t hi)
{
	unsigned int i = 0;

	while (i < m->nring) {
		if (m->ring[i] >= lo && m->ring[i] <= hi)
			m->ring[i] = m->ring[--m->nring];
		else
			i++;
	}
}

static void ring_add(struct mu *m, uint64_t pfn)
{
	unsigned int i;

	for (i = 0; i < m->nring; i++)
		if (m->ring[i] == pfn)
			return;
	if (m->nring < RING)
		m->ring[m->nring++] = pfn;
}

static void ever_add(struct mu *m, uint64_t pfn)
{
	unsigned int i;

	for (i = 0; i < m->never; i++)
		if (m->ever[i] == pfn)
			return;
	if (m->never < EVER)
		m->ever[m->never++] = pfn;
}

/* A map handed out these DMA segments: their pages are in use again. */
static void note_mapped(struct mu *m, const struct slot *l)
{
	int i, k;

	for (i = 0; i < nseg(l); i++) {
		uint64_t lo = seg_dma(l, i) / PG, hi = (seg_dma(l, i) + seg_dlen(l, i) - 1) / PG;
		uint64_t p;

		if (pool_owns(m, seg_dma(l, i)))
			continue;
		ring_drop_range(m, lo, hi);
		for (p = lo; p <= hi; p++)
			ever_add(m, p);
		/* An idle entry whose IOVA is handed out again was evicted (or is this one). */
		for (k = 0; k < NSLOT * 2; k++)
			if (m->idle[k].used && !(hi < m->idle[k].lo || lo > m->idle[k].hi))
				m->idle[k].used = false;
	}
}

/* The slot's mapping is gone from the IOMMU: its pages must fault from now on. */
static void note_torn_down(struct mu *m, const struct slot *l)
{
	int i;
	uint64_t p;

	for (i = 0; i < nseg(l); i++) {
		if (pool_owns(m, seg_dma(l, i)))
			continue;
		for (p = seg_dma(l, i) / PG; p <= (seg_dma(l, i) + seg_dlen(l, i) - 1) / PG; p++)
			ring_add(m, p);
	}
}

/* Reuse: an unmapped tagged mapping whose entry stays, idle, until a stop or an eviction. */
static void note_idle(struct mu *m, const struct slot *l)
{
	int k, i;

	for (k = 0; k < NSLOT * 2; k++) {
		if (m->idle[k].used)
			continue;
		m->idle[k].used = true;
		m->idle[k].lo = UINT64_MAX;
		m->idle[k].hi = 0;
		for (i = 0; i < nseg(l); i++) {
			uint64_t lo = seg_dma(l, i) / PG;
			uint64_t hi = (seg_dma(l, i) + seg_dlen(l, i) - 1) / PG;

			m->idle[k].lo = lo < m->idle[k].lo ? lo : m->idle[k].lo;
			m->idle[k].hi = hi > m->idle[k].hi ? hi : m->idle[k].hi;
		}
		m->idle[k].nb = l->sg ? l->nents : 1;
		for (i = 0; i < m->idle[k].nb; i++) {
			m->idle[k].blo[i] = l->sg ? l->addr[i] : l->phys;
			m->idle[k].bhi[i] = m->idle[k].blo[i] + (l->sg ? l->len[i] : l->size) - 1;
		}
		return;
	}
}

/* ------------------------------------------------------------------ state snapshot */
#define MU_STATE(X)							\
	X(live) X(maps) X(unmaps) X(inv_ranges) X(syncs) X(leaked_pages)	\
	X(leaked_tables) X(bounced) X(bounce_fallbacks)			\
	X(sim_maps) X(sim_map_errors) X(sim_unmaps) X(sim_pte_writes)	\
	X(sim_tables_alloc) X(sim_tables_emptied) X(sim_tables_freed)	\
	X(sim_tlbi_range) X(sim_tlbi_all) X(sim_syncs) X(sim_tables_live)	\
	X(iova_live) X(iova_audit) X(pool_live)				\
	X(r_hits) X(r_misses) X(r_untagged_fallbacks) X(r_overflows) X(r_evictions) \
	X(r_stops) X(r_entries) X(r_active) X(r_refs)

struct state {
#define MU_FIELD(f) uint64_t f;
	MU_STATE(MU_FIELD)
#undef MU_FIELD
};

static void snap(struct mu *m, struct state *s)
{
	struct iovx_dma_stats ds;
	struct iovx_sim_stats ss;
	struct iovx_iova_stats is;
	struct iovx_bounce_stats bs;
	struct iovx_reuse_stats rs;

	memset(s, 0, sizeof(*s));
	CHECK(iovx_dma_get_stats(m->dom, &ds) == 0);
	CHECK(iovx_sim_get_stats(m->sim, &ss) == 0);
	s->live = ds.live;
	s->maps = ds.maps;
	s->unmaps = ds.unmaps;
	s->inv_ranges = ds.inv_ranges;
	s->syncs = ds.syncs;
	s->leaked_pages = ds.leaked_pages;
	s->leaked_tables = ds.leaked_tables;
	s->bounced = ds.bounced;
	s->bounce_fallbacks = ds.bounce_fallbacks;
	s->sim_maps = ss.maps;
	s->sim_map_errors = ss.map_errors;
	s->sim_unmaps = ss.unmaps;
	s->sim_pte_writes = ss.pte_writes;
	s->sim_tables_alloc = ss.tables_alloc;
	s->sim_tables_emptied = ss.tables_emptied;
	s->sim_tables_freed = ss.tables_freed;
	s->sim_tlbi_range = ss.tlbi_range;
	s->sim_tlbi_all = ss.tlbi_all;
	s->sim_syncs = ss.syncs;
	s->sim_tables_live = ss.tables_live;
	s->iova_audit = (uint64_t)(int64_t)iovx_iova_audit(m->dom->iovad, &is);
	s->iova_live = is.live;
	if (dma_bounce_pool(m->dom)) {
		CHECK(iovx_bounce_get_stats(dma_bounce_pool(m->dom), &bs) == 0);
		s->pool_live = bs.live;
	}
	if (MISUSE_TARGET == MISUSE_REUSE) {
		CHECK(iovx_dma_get_reuse_stats(m->dom, &rs) == 0);
		s->r_hits = rs.hits;
		s->r_misses = rs.misses;
		s->r_untagged_fallbacks = rs.untagged_fallbacks;
		s->r_overflows = rs.overflows;
		s->r_evictions = rs.evictions;
		s->r_stops = rs.stops;
		s->r_entries = rs.entries;
		s->r_active = rs.active;
		s->r_refs = rs.refs;
	}
}

/* A rejected call changed nothing: report every field that moved. */
static void same_state(const struct state *a, const struct state *b)
{
	bool ok = true;

#define MU_CMP(f)							\
	if (a->f != b->f) {						\
		fprintf(stderr, "%s: state changed by a rejected call: %s %llu -> %llu\n", \
			MU_NAME, #f, (unsigned long long)a->f, (unsigned long long)b->f); \
		ok = false;						\
	}
	MU_STATE(MU_CMP)
#undef MU_CMP
	CHECK(ok && "a rejected call changed nothing");
	CHECK(b->iova_audit == 0);
}

/* ------------------------------------------------------------------ device checks */
static bool in_buffer(const struct slot *l, uint64_t phys)
{
	int i;

	if (!l->sg)
		return phys >= l->phys && phys < l->phys + l->size;
	for (i = 0; i < l->nents; i++)
		if (phys >= l->addr[i] && phys < l->addr[i] + l->len[i])
			return true;
	return false;
}

/*
 * The caller's bytes DMA segment k stands for: its first and last. A strict DMA segment
 * is one input entry or several merged back to back (no gap), a bounced one is one entry.
 */
static bool seg_cpu(const struct slot *l, int k, uint64_t *first, uint64_t *last)
{
	int e = 0, g, start;
	uint64_t sum;

	if (!l->sg) {
		*first = l->phys;
		*last = l->phys + l->size - 1;
		return true;
	}
	for (g = 0; g <= k; g++) {
		start = e;
		sum = 0;
		while (e < l->nents && sum < l->s[g].dma_length)
			sum += l->len[e++];
		if (sum != l->s[g].dma_length)
			return false;
	}
	*first = l->addr[start];
	*last = l->addr[e - 1] + l->len[e - 1] - 1;
	return true;
}

/*
 * One byte at iova stands for the caller's byte at cpu (0: somewhere in the buffer). It
 * translates there (bounce: into the pool, holding the same data), and the device reads
 * that data or, FROM_DEVICE, writes it (the byte it already holds: every copy of a
 * caller's byte stays equal, so the data checks hold for the whole run).
 */
static void probe_byte(struct mu *m, const struct slot *l, uint64_t iova, uint64_t cpu)
{
	uint64_t phys;
	unsigned int prot;
	uint8_t b, want;

	CHECK(iovx_sim_iova_to_phys(m->sim, iova, &phys, &prot) == 0);
	if (!pool_owns(m, iova))
		CHECK(cpu ? phys == cpu : in_buffer(l, phys));
	want = *(const uint8_t *)(uintptr_t)phys;
	if (cpu)
		CHECK(want == *(const uint8_t *)(uintptr_t)cpu);
	if (l->dir != IOVX_DMA_FROM_DEVICE) {
		CHECK(iovx_sim_dev_read(m->sim, iova, &b, 1, NULL) == 0);
		CHECK(b == want);
	} else {
		CHECK(iovx_sim_dev_write(m->sim, iova, &want, 1, NULL) == 0);
	}
}

/* Every live mapping still translates to its buffer, with its data, at both ends. */
static void probe_live(struct mu *m)
{
	uint64_t first, last;
	int k, i;

	for (k = 0; k < NSLOT; k++) {
		const struct slot *l = &m->sl[k];

		for (i = 0; l->live && i < nseg(l); i++) {
			if (!seg_cpu(l, i, &first, &last))
				first = last = 0;
			probe_byte(m, l, seg_dma(l, i), first);
			probe_byte(m, l, seg_dma(l, i) + seg_dlen(l, i) - 1, last);
		}
	}
}

/* I1, I2 and I3 after every step. */
static void invariants(struct mu *m)
{
	struct iovx_sim_stats ss;
	unsigned int r;
	int a, b, i, j;

	for (a = 0; a < NSLOT; a++) {
		for (b = a + 1; m->sl[a].live && b < NSLOT; b++) {
			const struct slot *x = &m->sl[a], *y = &m->sl[b];

			if (!y->live || same_entry(x, y))
				continue;
			for (i = 0; i < nseg(x); i++) {
				for (j = 0; j < nseg(y); j++) {
					bool pool = pool_owns(m, seg_dma(x, i));
					uint64_t g = pool ? 1 : PG;
					uint64_t xl = seg_dma(x, i) / g;
					uint64_t xh = (seg_dma(x, i) + seg_dlen(x, i) - 1) / g;
					uint64_t yl = seg_dma(y, j) / g;
					uint64_t yh = (seg_dma(y, j) + seg_dlen(y, j) - 1) / g;

					if (pool != pool_owns(m, seg_dma(y, j)))
						continue;
					CHECK(xh < yl || yh < xl);		/* I1 */
				}
			}
		}
	}
	CHECK(iovx_sim_get_stats(m->sim, &ss) == 0);
	CHECK(ss.i2_map_violations == 0 && ss.i2_table_violations == 0);	/* I2 */
	CHECK(ss.stale_hits == 0);
	for (r = 0; r < m->nring; r++) {
		uint64_t phys;
		unsigned int prot;
		uint8_t x;

		if (page_live(m, m->ring[r]))
			continue;
		CHECK(iovx_sim_iova_to_phys(m->sim, m->ring[r] * PG, &phys, &prot) == -ENOENT);
		CHECK(iovx_sim_dev_read(m->sim, m->ring[r] * PG, &x, 1, NULL) == -EFAULT); /* I3 */
	}
}

/* ------------------------------------------------------------------ maps */
static void reuse_stats(struct mu *m, struct iovx_reuse_stats *rs)
{
	memset(rs, 0, sizeof(*rs));
	if (MISUSE_TARGET == MISUSE_REUSE)
		CHECK(iovx_dma_get_reuse_stats(m->dom, rs) == 0);
}

static void do_map(struct mu *m, int k, struct in *in, unsigned int op)
{
	struct slot *l = &m->sl[k];
	unsigned int ctl = (unsigned int)get(in, 1), a;
	struct iovx_reuse_stats r0, r1;
	struct iovx_dma_stats d0, d1;
	int r, i;

	if (l->live)
		return;
	if (!(op & 1) || !l->described) {	/* a new buffer; else the slot's previous one */
		unsigned int maxlen = ctl & 0x40 ? 2 * (unsigned int)PG : 1536;

		memset(l, 0, sizeof(*l));
		l->described = true;
		l->sg = ctl & 1;
		l->tagged = MISUSE_TARGET == MISUSE_REUSE && (ctl & 2);
		l->dir = (ctl >> 2 & 3) % 3;
		a = (unsigned int)get(in, 1);
		l->attrs = (a & 1 ? IOVX_DMA_ATTR_WEAK_ORDERING : 0) |
			   (a & 2 ? IOVX_DMA_ATTR_PRIVILEGED : 0) |
			   (a & 4 ? IOVX_DMA_ATTR_SKIP_CPU_SYNC : 0);
		l->nents = l->sg ? 1 + (int)(ctl >> 4 & 3) : 1;
		for (i = 0; i < l->nents; i++) {
			uint64_t pg = get(in, 1) % ARENA_PAGES;
			uint32_t off = (uint32_t)(get(in, 2) % PG);
			uint32_t len = 1 + (uint32_t)(get(in, 2) % maxlen);

			if (pg * PG + off + len > ARENA_PAGES * PG)
				len = (uint32_t)(ARENA_PAGES * PG - pg * PG - off);
			l->s[i].phys = (uintptr_t)arena + pg * PG;
			l->s[i].offset = off;
			l->s[i].length = len;
			l->addr[i] = l->s[i].phys + off;
			l->len[i] = len;
		}
		l->phys = l->addr[0];
		l->size = l->len[0];
	}
	snprintf(mu_what, sizeof(mu_what), "slot %d: map_%s%s nents %d dir %u attrs %#x", k,
		 l->sg ? "sg" : "single", l->tagged ? " (tagged)" : "", l->nents, l->dir,
		 l->attrs);
	reuse_stats(m, &r0);
	CHECK(iovx_dma_get_stats(m->dom, &d0) == 0);
	if (l->sg) {
		for (i = 0; i < l->nents; i++) {
			l->s[i].dma_address = 0;
			l->s[i].dma_length = 0;
			l->s[i].flags = 0;
		}
		if (l->tagged)
			CHECK(iovx_sg_mark_reusable(l->s, l->nents) == 0);
		r = iovx_dma_map_sg(m->dom, l->s, l->nents, l->dir, l->attrs);
		if (r == -ENOMEM)
			return;
		CHECK(r >= 1 && r <= l->nents);
		l->nout = r;
		for (i = 0; i < l->nout; i++)
			CHECK(l->s[i].dma_length > 0);
	} else {
		r = iovx_dma_map_single(m->dom, l->phys, l->size, l->dir,
					l->attrs | (l->tagged ? IOVX_DMA_ATTR_REUSE : 0), &l->dma);
		if (r == -ENOMEM)
			return;
		CHECK(r == 0);
		l->nout = 1;
	}
	l->live = true;
	reuse_stats(m, &r1);
	CHECK(iovx_dma_get_stats(m->dom, &d1) == 0);
	if (l->tagged) {
		/*
		 * Every tagged mapping lives in the reuse table, also when the table is full
		 * of held entries (an overflow entry), so that a stop reaches it.
		 */
		if (!(r1.refs == r0.refs + 1 && d1.live == d0.live)) {
			fprintf(stderr, "%s: tagged map outside the reuse table: refs %llu -> %llu,"
				" facade live %llu -> %llu, entries %llu/%llu, untagged_fallbacks"
				" %llu -> %llu\n", MU_NAME, (unsigned long long)r0.refs,
				(unsigned long long)r1.refs, (unsigned long long)d0.live,
				(unsigned long long)d1.live, (unsigned long long)r1.entries,
				(unsigned long long)r1.capacity,
				(unsigned long long)r0.untagged_fallbacks,
				(unsigned long long)r1.untagged_fallbacks);
			CHECK(!"a tagged map is a reuse-table mapping");
		}
		l->overflow = r1.overflows > r0.overflows;
	} else {
		CHECK(d1.live == d0.live + 1);
	}
	note_mapped(m, l);
}

/* After an unmap of l succeeded: what went away from the IOMMU. */
static void after_unmap(struct mu *m, struct slot *l, const struct state *s0)
{
	struct state s1;
	bool last = true;
	int k;

	snap(m, &s1);
	l->live = false;
	for (k = 0; k < NSLOT; k++)
		last &= !m->sl[k].live || !same_entry(l, &m->sl[k]);
	/* The last unmap of an overflow entry tears it down (strictly, at once). */
	if (l->tagged && l->overflow && last)
		CHECK(s1.r_entries + 1 == s0->r_entries);
	if (!l->tagged) {
		CHECK(s1.live + 1 == s0->live);
		note_torn_down(m, l);
	} else if (s1.r_entries < s0->r_entries || s1.live < s0->live) {
		note_torn_down(m, l);		/* its last reference: an overflow entry */
	} else {
		CHECK(s1.r_refs + 1 == s0->r_refs);
		note_idle(m, l);
	}
	CHECK(s1.iova_audit == 0);
}

static int unmap_slot(struct mu *m, struct slot *l)
{
	if (l->sg)
		return iovx_dma_unmap_sg(m->dom, l->s, l->nents, l->dir, l->attrs);
	return iovx_dma_unmap_single(m->dom, l->dma, l->size, l->dir,
				     l->attrs | (l->tagged ? IOVX_DMA_ATTR_REUSE : 0));
}

static void do_unmap(struct mu *m, int k)
{
	struct slot *l = &m->sl[k];
	struct state s0;

	if (!l->live)
		return;
	snprintf(mu_what, sizeof(mu_what), "slot %d: unmap_%s, as mapped", k,
		 l->sg ? "sg" : "single");
	snap(m, &s0);
	CHECK(unmap_slot(m, l) == 0);
	after_unmap(m, l, &s0);
}

static void do_sync(struct mu *m, int k, unsigned int how)
{
	struct slot *l = &m->sl[k];

	if (!l->live)
		return;
	snprintf(mu_what, sizeof(mu_what), "slot %d: sync_%s_for_%s, as mapped", k,
		 l->sg ? "sg" : "single", how & 1 ? "cpu" : "device");
	if (l->sg)
		CHECK((how & 1 ? iovx_dma_sync_sg_for_cpu : iovx_dma_sync_sg_for_device)
		      (m->dom, l->s, l->nents, l->dir) == 0);
	else
		CHECK((how & 1 ? iovx_dma_sync_single_for_cpu : iovx_dma_sync_single_for_device)
		      (m->dom, l->dma, l->size, l->dir) == 0);
}

/* ------------------------------------------------------------------ mutations */
static struct iovx_dma_sg scratch[IOVX_DMA_MAX_SEGS + 1];

/* Another live mapping's DMA address (a bounce slot, a segment), or 0 when none. */
static uint64_t other_dma(struct mu *m, int self, unsigned int pick)
{
	uint64_t c[NSLOT * MAXSG];
	unsigned int n = 0;
	int k, i;

	for (k = 0; k < NSLOT; k++)
		for (i = 0; k != self && m->sl[k].live && i < nseg(&m->sl[k]); i++)
			c[n++] = seg_dma(&m->sl[k], i);
	return n ? c[pick % n] : 0;
}

/* A hostile 64-bit value derived from base. */
static uint64_t val64(struct mu *m, int self, struct in *in, uint64_t base)
{
	unsigned int sel = (unsigned int)get(in, 1);
	uint64_t a = get(in, 2);

	switch (sel % 8) {
	case 0: return base + (uint64_t)(int64_t)(int16_t)a;
	case 1: return base + (uint64_t)(int64_t)(int8_t)a * PG;
	case 2: return a % 8;					/* near 0 */
	case 3: return UINT64_MAX - a % 8;			/* near 2^64 */
	case 4: return UINT64_MAX - (a % 4) * PG - (a >> 2) % 64;
	case 5: return (1ull << (48 + (sel >> 3) % 16)) + (a % 16) * PG;	/* beyond IOVAs */
	case 6: return other_dma(m, self, (unsigned int)a);
	default: return base ^ (a << ((sel >> 3) % 48));
	}
}

static uint32_t val32(struct in *in, uint32_t base, uint32_t other)
{
	unsigned int sel = (unsigned int)get(in, 1);
	uint32_t a = (uint32_t)get(in, 2);

	switch (sel % 6) {
	case 0: return base + (uint32_t)(int32_t)(int16_t)a;
	case 1: return 0;
	case 2: return UINT32_MAX - a % 8;
	case 3: return other;
	case 4: return base + (uint32_t)PG * (a % 3 + 1);
	default: return base ^ (a << ((sel >> 3) % 16));
	}
}

/* One mutation of an sg call; nents, dir and attrs are the call's. */
static void mutate_sg(struct mu *m, int self, struct in *in, int *nents, unsigned int *dir,
		      unsigned int *attrs)
{
	unsigned int kind = (unsigned int)get(in, 1);
	int span = *nents >= 1 && *nents <= MAXSG + 2 ? *nents : MAXSG;
	int i = (int)(get(in, 1) % (unsigned int)span), j = (i + 1) % span;
	struct iovx_dma_sg *e = &scratch[i], t;

	switch (kind % 11) {
	case 0:
		e->offset = val32(in, e->offset, scratch[j].offset);
		mu_note(" [%d].offset=%#x", i, e->offset);
		break;
	case 1:
		e->length = val32(in, e->length, scratch[j].length);
		mu_note(" [%d].length=%#x", i, e->length);
		break;
	case 2:
		e->phys = val64(m, self, in, e->phys);
		mu_note(" [%d].phys=%#llx", i, (unsigned long long)e->phys);
		break;
	case 3: case 4:
		e->dma_address = val64(m, self, in, e->dma_address);
		mu_note(" [%d].dma_address=%#llx", i, (unsigned long long)e->dma_address);
		break;
	case 5:
		e->dma_length = val32(in, e->dma_length, scratch[j].dma_length);
		mu_note(" [%d].dma_length=%#x", i, e->dma_length);
		break;
	case 6: {
		static const int nv[] = { 0, -1, INT_MIN, INT_MAX, IOVX_DMA_MAX_SEGS,
					  IOVX_DMA_MAX_SEGS + 1 };
		unsigned int a = (unsigned int)get(in, 1);

		*nents = a & 0x80 ? nv[a % 6] :	/* one or two more or fewer, wrapping */
			 (int)((unsigned int)*nents + (a & 1 ? 1u : -1u) * (1 + (a >> 1) % 2));
		mu_note(" nents=%d", *nents);
		break;
	}
	case 7:
		*dir = (unsigned int)get(in, 1) % 5;
		if (*dir == 4)
			*dir = 0xff;
		mu_note(" dir=%u", *dir);
		break;
	case 8: {
		static const unsigned int av[] = { IOVX_DMA_ATTR_WEAK_ORDERING,
			IOVX_DMA_ATTR_PRIVILEGED, IOVX_DMA_ATTR_SKIP_CPU_SYNC, 1u << 3, 1u << 31 };

		*attrs ^= av[get(in, 1) % 5];
		mu_note(" attrs=%#x", *attrs);
		break;
	}
	case 9: {		/* swap one field of two entries */
		unsigned int f = (unsigned int)get(in, 1) % 6;

		j = (int)(get(in, 1) % (unsigned int)span);
		t = scratch[i];
		switch (f) {
		case 0: scratch[i].offset = scratch[j].offset; scratch[j].offset = t.offset; break;
		case 1: scratch[i].length = scratch[j].length; scratch[j].length = t.length; break;
		case 2: scratch[i].phys = scratch[j].phys; scratch[j].phys = t.phys; break;
		case 3:
			scratch[i].dma_address = scratch[j].dma_address;
			scratch[j].dma_address = t.dma_address;
			break;
		case 4:
			scratch[i].dma_length = scratch[j].dma_length;
			scratch[j].dma_length = t.dma_length;
			break;
		default:
			scratch[i] = scratch[j];
			scratch[j] = t;
			break;
		}
		mu_note(" swap(%d,%d).%s", i, j, (const char *[]){ "offset", "length", "phys",
			"dma_address", "dma_length", "all" }[f]);
		break;
	}
	default: {		/* move a segment's in-page offset, keeping the total length */
		uint32_t d = 1 + (uint32_t)get(in, 2) % (uint32_t)PG;

		e->offset += d;
		if (e->length > d)
			e->length -= d;
		scratch[j].length += j != i ? d : 0;
		mu_note(" [%d].offset+=%#x (total kept)", i, d);
		break;
	}
	}
}

/* ------------------------------------------------------------------ expectations */
struct expect {
	bool valid;			/* the call is well-formed for live slot 'who' */
	int who;
	unsigned int ok;		/* else: the errnos accepted, bit per errno below */
};

#define E_INVAL		(1u << 0)
#define E_OVERFLOW	(1u << 1)
#define E_RANGE		(1u << 2)
#define E_NOENT		(1u << 3)

static unsigned int ebit(int r)
{
	switch (r) {
	case -EINVAL: return E_INVAL;
	case -EOVERFLOW: return E_OVERFLOW;
	case -ERANGE: return E_RANGE;
	case -ENOENT: return E_NOENT;
	default: return 1u << 31;
	}
}

static void print_expect(const struct expect *x, char *buf, size_t n)
{
	if (x->valid) {
		snprintf(buf, n, "0 (well-formed for slot %d)", x->who);
		return;
	}
	snprintf(buf, n, "%s%s%s%s", x->ok & E_INVAL ? "-EINVAL " : "",
		 x->ok & E_OVERFLOW ? "-EOVERFLOW " : "", x->ok & E_RANGE ? "-ERANGE " : "",
		 x->ok & E_NOENT ? "-ENOENT " : "");
}

/* Could a map have taken this buffer? (zero length, wrapping, beyond the output range) */
static bool buf_errs(uint64_t a, uint64_t len)
{
	return !len || a + len < a || ((a + len - 1) >> OAS_BITS);
}

/* The misuse contract for an sg call (op 0 unmap, 1 sync for cpu, 2 for device). */
static struct expect expect_sg(struct mu *m, int self, int nents, unsigned int dir,
			       unsigned int attrs, int op)
{
	struct expect x = { .who = -1 };
	unsigned int args = 0;
	int k, i;

	if (nents <= 0 || nents > IOVX_DMA_MAX_SEGS || dir > 2 ||
	    (op == 0 && (attrs & ~IOVX_DMA_ATTR_MASK))) {
		x.ok = E_INVAL;
		return x;
	}
	/* An entry no map could have taken (wraps, zero length, beyond the IOMMU) disagrees. */
	for (i = 0; i < nents; i++) {
		uint64_t a = scratch[i].phys + scratch[i].offset;

		if (a < scratch[i].phys || buf_errs(a, scratch[i].length))
			args = E_INVAL;
	}
	/* A live mapping that starts at sg[0].dma_address, itself first. */
	for (k = -1; k < NSLOT; k++) {
		const struct slot *l = &m->sl[k < 0 ? self : k];
		bool same = l->nents == nents && l->dir == dir &&
			    (op || (attrs & MAP_ATTRS) == (l->attrs & MAP_ATTRS));

		if (!l->live || !l->sg || l->s[0].dma_address != scratch[0].dma_address)
			continue;
		for (i = 0; same && i < nents; i++)
			same = scratch[i].phys + scratch[i].offset == l->addr[i] &&
			       scratch[i].length == l->len[i];
		for (i = 0; same && i < l->nout; i++)
			same = scratch[i].dma_address == l->s[i].dma_address &&
			       scratch[i].dma_length == l->s[i].dma_length;
		if (same && !args) {
			x.valid = true;
			x.who = k < 0 ? self : k;
			return x;
		}
		x.ok = args | E_INVAL;
		/* The reuse table finds tagged mappings by buffer: another one is "absent". */
		if (MISUSE_TARGET == MISUSE_REUSE)
			x.ok |= E_NOENT;
		return x;
	}
	x.ok = args | E_NOENT;
	for (k = 0; k < NSLOT; k++)	/* a single mapping starts there: either answer */
		if (m->sl[k].live && !m->sl[k].sg && m->sl[k].dma == scratch[0].dma_address)
			x.ok |= E_INVAL;
	return x;
}

static struct expect expect_single(struct mu *m, int self, uint64_t dma, uint64_t size,
				   unsigned int dir, unsigned int attrs, int op)
{
	struct expect x = { .who = -1 };
	unsigned int args = 0;
	int k;

	if (dir > 2 || !size || size >= (1ull << 46) ||
	    (op == 0 && (attrs & ~IOVX_DMA_ATTR_MASK))) {
		x.ok = E_INVAL;
		return x;
	}
	if (dma + size < dma)
		args |= E_OVERFLOW;
	for (k = -1; k < NSLOT; k++) {
		const struct slot *l = &m->sl[k < 0 ? self : k];
		bool same;

		if (!l->live || l->sg || l->dma != dma)
			continue;
		if (op == 0)
			same = l->size == size && l->dir == dir &&
			       (!l->tagged || ((attrs & IOVX_DMA_ATTR_REUSE) &&
					       (attrs & MAP_ATTRS) == (l->attrs & MAP_ATTRS)));
		else
			same = size <= l->size && l->dir == dir;
		if (same && !args) {
			x.valid = true;
			x.who = k < 0 ? self : k;
			return x;
		}
		x.ok = args | E_INVAL;
		return x;
	}
	x.ok = args | E_NOENT;
	for (k = 0; k < NSLOT; k++)
		if (m->sl[k].live && m->sl[k].sg && m->sl[k].s[0].dma_address == dma)
			x.ok |= E_INVAL;
	return x;
}

/* ------------------------------------------------------------------ misuse */
static const char *const op_name[] = { "unmap", "sync_for_cpu", "sync_for_device" };

static void do_misuse(struct mu *m, int k, struct in *in)
{
	struct slot *l = &m->sl[k];
	unsigned int ctl = (unsigned int)get(in, 1), dir = l->dir, n, t;
	unsigned int attrs = l->attrs | (l->tagged && !l->sg ? IOVX_DMA_ATTR_REUSE : 0);
	int op = (int)(ctl % 3), nents = l->nents, r, i;
	uint64_t dma = l->dma, size = l->size;
	struct state s0, s1;
	struct expect x;
	char want[96];

	if (!l->live)
		return;
	snprintf(mu_what, sizeof(mu_what), "slot %d: %s_%s misuse:", k, op_name[op],
		 l->sg ? "sg" : "single");
	n = 1 + ctl / 3 % 3;
	if (l->sg) {
		/* The list as mapped, repeated past its end (a larger nents reads real entries). */
		for (i = 0; i < MAXSG + 2; i++)
			scratch[i] = l->s[i % l->nents];
		for (t = 0; t < n; t++)
			mutate_sg(m, k, in, &nents, &dir, &attrs);
		for (i = MAXSG + 2; i < nents && i <= IOVX_DMA_MAX_SEGS; i++)
			scratch[i] = l->s[i % l->nents];
		x = expect_sg(m, k, nents, dir, attrs, op);
	} else {
		for (t = 0; t < n; t++) {
			unsigned int f = (unsigned int)get(in, 1) % 4;

			if (f == 0) {
				dma = val64(m, k, in, dma);
				mu_note(" dma=%#llx", (unsigned long long)dma);
			} else if (f == 1) {
				size = val64(m, k, in, size) & ((1ull << 47) - 1);
				mu_note(" size=%#llx", (unsigned long long)size);
			} else if (f == 2) {
				dir = (unsigned int)get(in, 1) % 4;
				mu_note(" dir=%u", dir);
			} else {
				static const unsigned int av[] = { IOVX_DMA_ATTR_WEAK_ORDERING,
					IOVX_DMA_ATTR_PRIVILEGED, IOVX_DMA_ATTR_REUSE, 1u << 30 };

				attrs ^= av[get(in, 1) % 4];
				mu_note(" attrs=%#x", attrs);
			}
		}
		/* Untagged buffers: an unmap with REUSE is not a table call; keep it out. */
		if (!l->tagged)
			attrs &= ~IOVX_DMA_ATTR_REUSE;
		x = expect_single(m, k, dma, size, dir, attrs, op);
	}
	print_expect(&x, want, sizeof(want));
	mu_note(" (expect %s)", want);
	snap(m, &s0);
	if (l->sg) {
		if (op == 0)
			r = iovx_dma_unmap_sg(m->dom, scratch, nents, dir, attrs);
		else
			r = (op == 1 ? iovx_dma_sync_sg_for_cpu : iovx_dma_sync_sg_for_device)
			    (m->dom, scratch, nents, dir);
	} else {
		if (op == 0)
			r = iovx_dma_unmap_single(m->dom, dma, size, dir, attrs);
		else
			r = (op == 1 ? iovx_dma_sync_single_for_cpu :
			     iovx_dma_sync_single_for_device)(m->dom, dma, size, dir);
	}
	mu_note(" -> %d", r);
	if (x.valid) {
		CHECK(r == 0);
		if (op == 0)
			after_unmap(m, &m->sl[x.who], &s0);
		return;
	}
	if (r >= 0 || !(ebit(r) & x.ok)) {
		fprintf(stderr, "%s: misuse not rejected as the contract says: %s\n", MU_NAME,
			mu_what);
		CHECK(!"misuse returns the contract's errno");
	}
	snap(m, &s1);
	same_state(&s0, &s1);
	probe_live(m);
	/* The call as mapped still works: sync it (the unmap comes with the slot's turn). */
	do_sync(m, k, ctl >> 7);
}

/* ------------------------------------------------------------------ reuse: stop, evict */
static bool tagged_live_overlaps(struct mu *m, uint64_t lo, uint64_t hi)
{
	int k, i;

	for (k = 0; k < NSLOT; k++) {
		const struct slot *l = &m->sl[k];

		for (i = 0; l->live && l->tagged && i < l->nents; i++)
			if (!(l->addr[i] + l->len[i] - 1 < lo || l->addr[i] > hi))
				return true;
	}
	return false;
}

/* Stop reuse of a slot's buffer bytes (each segment) when no live tagged mapping has them. */
static void do_stop(struct mu *m, int k, unsigned int how)
{
	const struct slot *l = &m->sl[k];
	int i, j, r;

	if (!l->described)
		return;
	for (i = 0; i < l->nents; i++)
		if (tagged_live_overlaps(m, l->addr[i], l->addr[i] + l->len[i] - 1))
			return;
	snprintf(mu_what, sizeof(mu_what), "slot %d: stop reuse of its buffer (%s)", k,
		 how & 1 ? "buffer level" : "domain");
	for (i = 0; i < l->nents; i++) {
		uint64_t lo = l->addr[i], hi = l->addr[i] + l->len[i] - 1;

		r = how & 1 ? iovx_buf_stop_reuse(lo, hi - lo + 1) :
			      iovx_dma_stop_reuse(m->dom, lo, hi - lo + 1);
		CHECK(r >= 0);
		/* Every idle entry overlapping these bytes is gone from the IOMMU now. */
		for (j = 0; j < NSLOT * 2; j++) {
			int b;
			bool hit = false;

			for (b = 0; m->idle[j].used && b < m->idle[j].nb; b++)
				hit |= !(m->idle[j].bhi[b] < lo || m->idle[j].blo[b] > hi);
			if (!hit)
				continue;
			for (uint64_t p = m->idle[j].lo; p <= m->idle[j].hi; p++)
				ring_add(m, p);
			m->idle[j].used = false;
		}
	}
}

static void do_evict(struct mu *m)
{
	int j;

	snprintf(mu_what, sizeof(mu_what), "evict every idle entry");
	CHECK(iovx_dma_reuse_evict(m->dom, 0) >= 0);
	for (j = 0; j < NSLOT * 2; j++) {
		uint64_t p;
		bool held = false;

		if (!m->idle[j].used)
			continue;
		for (p = m->idle[j].lo; p <= m->idle[j].hi; p++)
			held |= page_live(m, p);	/* another map still holds that entry */
		if (held)
			continue;
		for (p = m->idle[j].lo; p <= m->idle[j].hi; p++)
			ring_add(m, p);
		m->idle[j].used = false;
	}
}

/* ------------------------------------------------------------------ the run */
static void setup(struct mu *m, unsigned int hdr)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct state s;
#if MISUSE_TARGET == MISUSE_BOUNCE
	struct iovx_bounce_config bc;
#endif

	iovx_sim_config_init(&sc);
	sc.iotlb_sets = 4;
	sc.eager_table_free = hdr & 1;
	CHECK(iovx_sim_create(&sc, &m->sim) == 0);
	iovx_dma_config_init(&dc, iovx_sim_iommu(m->sim), IOVX_DMA_MODE_STRICT);
	dc.map_table_order = hdr & 4 ? 4 : 6;	/* 16 slots: tombstones on every probe */
#if MISUSE_TARGET == MISUSE_BOUNCE
	iovx_test_bounce_classes(&bc, 3, (const uint32_t[]){ 256, 1024, 4096 },
				 (const uint32_t[]){ 3, 3, 2 });
	bc.nr_cpus = 1;
	dc.mode = IOVX_DMA_MODE_BOUNCE;
	dc.bounce = &bc;
	dc.bounce_crossover = 2048;
#elif MISUSE_TARGET == MISUSE_REUSE
	dc.mode = IOVX_DMA_MODE_REUSE;
	dc.reuse_table_order = hdr & 2 ? 3 : 2;
#endif
	CHECK(iovx_dma_domain_create(&dc, &m->dom) == 0);
	snap(m, &s);
	CHECK(s.iova_audit == 0);
	m->base_iova_live = s.iova_live;
}

static void teardown(struct mu *m)
{
	struct iovx_sim_stats ss;
	struct state s;
	unsigned int i;
	int k;

	for (k = 0; k < NSLOT; k++)
		do_unmap(m, k);
	snprintf(mu_what, sizeof(mu_what), "end of run: everything unmapped");
	if (MISUSE_TARGET == MISUSE_REUSE) {
		for (k = 0; k < NSLOT; k++)
			do_stop(m, k, (unsigned int)k);
		do_evict(m);
		snprintf(mu_what, sizeof(mu_what), "end of run: stopped and evicted");
	}
	invariants(m);
	snap(m, &s);
	CHECK(s.live == 0 && s.pool_live == 0 && s.r_entries == 0 && s.r_refs == 0);
	CHECK(s.iova_audit == 0 && s.iova_live == m->base_iova_live);
	for (i = 0; i < m->never; i++) {	/* I3: the device reaches nothing it was given */
		uint64_t phys;
		unsigned int prot;

		CHECK(iovx_sim_iova_to_phys(m->sim, m->ever[i] * PG, &phys, &prot) == -ENOENT);
	}
	CHECK(iovx_dma_domain_destroy(m->dom) == 0);
	CHECK(iovx_sim_get_stats(m->sim, &ss) == 0);
	CHECK(ss.tables_live == 1 && ss.i2_map_violations == 0 && ss.i2_table_violations == 0);
	iovx_sim_destroy(m->sim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct mu *m = calloc(1, sizeof(*m));
	int steps = 0;

	CHECK(m);
	if (!arena) {
		arena = aligned_alloc(PG, ARENA_PAGES * PG);
		CHECK(arena);
		for (size_t i = 0; i < ARENA_PAGES * PG; i++)
			arena[i] = (uint8_t)(i * 131 + 17);
	}
	mu_what[0] = 0;
	setup(m, (unsigned int)get(&in, 1));
	while (in.n && steps++ < MAXSTEPS) {
		unsigned int op = (unsigned int)get(&in, 1);
		int k = (int)(op >> 3) % NSLOT;	/* 32 values: two names per slot */

		switch (op & 7) {
		case 0: case 1:
			do_map(m, k, &in, op);
			break;
		case 2:
			do_unmap(m, k);
			break;
		case 3:
			do_sync(m, k, (unsigned int)get(&in, 1));
			break;
		case 4: case 5:
			do_misuse(m, k, &in);
			break;
		case 6:
			if (MISUSE_TARGET == MISUSE_REUSE)
				do_stop(m, k, (unsigned int)get(&in, 1));
			else
				probe_live(m);
			break;
		default:
			if (MISUSE_TARGET == MISUSE_REUSE)
				do_evict(m);
			break;
		}
		invariants(m);
	}
	teardown(m);
	free(m);
	return 0;
}

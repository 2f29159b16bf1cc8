// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fuzz_reuse.c - libFuzzer target (and ctest replay) for reuse-tagged mappings
 * (include/iovx/reuse.h) in an IOVX_DMA_MODE_REUSE domain on the software IOMMU.
 *
 * Input: a header { mode, geometry of buffers B6 and B7 and of single range R5 } then
 * records { op, a, args }. The mode byte: bit 0 the base mode (strict, deferred), bits 1-2
 * the table order (2..4: 4 to 16 entries, so a full table and eviction come within a few
 * calls), bit 3 eager table freeing in the simulator, bits 4-5 how the run ends, bit 6 the
 * bad-create and not-reuse-mode checks. Ops (op % 16): 0 mark a list (or a prefix),
 * 1-2 map_sg, 3 unmap_sg (maybe with a wrong direction or nents), 4 map_single (tagged with
 * IOVX_DMA_ATTR_REUSE or not), 5 unmap_single, 6 a device read or write through a live
 * mapping, 7 syncs, 8 stop a list, 9 stop bytes (buffer level), 10 stop bytes (domain),
 * 11 evict, 12 bad input, 13 unmap through a stale address, 14 flush or a new DMA mask,
 * 15 a stop whose sync fails (strict). Lists: two instances of each of 8 buffers (some
 * overlapping, one with a page twice; the second instance folds the offset into phys).
 *
 * The model: the arena's bytes, every live mapping (which table entry backs it, or the base
 * mode), and the table itself (key, IOVA, DMA segments, references). After every step:
 *   - the reuse statistics equal the model's (hits, misses, overflows, evictions, stops,
 *     entries, active, refs, capacity) and the facade's live count is the number of live
 *     base-mode mappings (table references are the table's refs);
 *   - a tagged map of a present key is a hit with the entry's DMA segments (the newest
 *     entry of the key; one above a lowered mask is a miss); a miss creates an entry, an
 *     overflow entry when the table is full of referenced entries, torn down (strictly) by
 *     its last unmap: every tagged mapping is the table's, so stops reach it;
 *     an eviction takes only idle entries (found by their translation being gone);
 *   - every DMA address a map returns lies below the DMA mask of the time;
 *   - I1: present entries and live base mappings never share an IOVA page;
 *   - every list's IOVX_SG_* flags are what the mark/stop calls made them;
 *   - device accesses through a live mapping reach exactly the mapped bytes, with the
 *     direction's permission; the rest of the arena never changes (model copy); an unmap
 *     of a table mapping leaves the translation in place;
 *   - I3: after a stop (and an evict: strict at once, deferred after a flush) the device
 *     faults on every IOVA page of the torn-down entries that no present mapping owns; after
 *     a strict untagged unmap likewise;
 *   - I5: bad input returns the documented errno and changes nothing.
 * At the end: stop everything (domain or buffer level), or destroy with idle entries, or
 * with live mappings (destroy returns their number); the checker saw no I2 violation, no
 * table page is left, nothing leaked, and a buffer-level stop no longer reaches the domain.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iovx/dma.h>
#include <iovx/reuse.h>
#include <iovx/sim.h>

#include "fuzz_input.h"

#define PG		4096ull
#define ARENA_PAGES	16
#define ARENA		(ARENA_PAGES * PG)
#define MAXSEG		3
#define NBUF		8		/* sg buffer geometries */
#define NLIST		(2 * NBUF)	/* two list instances of each */
#define NRANGE		6		/* single-map ranges */
#define NSLOT		6		/* live single maps */
/* largest table of the run (order 4), plus an overflow entry for every live map */
#define MAXENT		(16 + NLIST + NSLOT)
#define MAXSTEPS	200
#define SG_FLAGS	(IOVX_SG_REUSE | IOVX_SG_REUSE_STOPPED)
#define SMALL_MASK	(1ull << 20)	/* below: maps may run out of IOVA space */
#define NOWHERE		(0x7ff000ull << 12)	/* an IOVA no run maps (checked) */

#define CHECK(c)							\
	do {								\
		if (!(c)) {						\
			fprintf(stderr, "fuzz_reuse: %s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();					\
		}							\
	} while (0)

/*
 * An unmap or sync of a live mapping with another direction, nents or a longer size:
 * -EINVAL (iovx/dma.h). FUZZ_REUSE_LAX_WRONG_ARGS also takes -ENOENT from a table mapping
 * (to fuzz on past that one finding; never in the committed build).
 */
#ifdef FUZZ_REUSE_LAX_WRONG_ARGS
#define CHECK_WRONG_ARGS(r, m)	CHECK((r) == -EINVAL || ((m)->ent >= 0 && (r) == -ENOENT))
#else
#define CHECK_WRONG_ARGS(r, m)	CHECK_EQ(r, -EINVAL)
#endif


/* got == want, and both in the report when not */
#define CHECK_EQ(got, want)						\
	do {								\
		long long g_ = (long long)(got), w_ = (long long)(want);	\
		if (g_ != w_) {						\
			fprintf(stderr, "fuzz_reuse: %s:%d: %s == %s: got %lld, want %lld\n", \
				__FILE__, __LINE__, #got, #want, g_, w_);	\
			abort();					\
		}							\
	} while (0)

struct geo {
	int n;
	uint32_t page[MAXSEG], off[MAXSEG], len[MAXSEG];
};

/* Fixed buffers (B6 and B7 come from the input): overlapping on purpose. */
static const struct geo fixed_geo[NBUF - 2] = {
	{ 1, { 0 }, { 0 }, { 4096 } },				/* B0 page 0 */
	{ 1, { 0 }, { 0 }, { 8192 } },				/* B1 pages 0-1 (zswap dst) */
	{ 2, { 1, 4 }, { 512, 0 }, { 1000, 4096 } },		/* B2 overlaps B1, B3 */
	{ 2, { 4, 5 }, { 0, 0 }, { 4096, 4096 } },		/* B3 merges into one DMA seg */
	{ 3, { 8, 8, 9 }, { 100, 2048, 0 }, { 200, 100, 4096 } },	/* B4 page 8 twice */
	{ 1, { 8 }, { 100 }, { 200 } },				/* B5 = B4's first seg */
};

/* Single ranges: arena offset and length (R5 from the input). */
static const uint32_t fixed_range[NRANGE - 1][2] = {
	{ 0, 4096 },			/* R0 the bytes of B0 (another kind: another key) */
	{ 4096 + 512, 1000 },		/* R1 B2's first segment */
	{ 2 * 4096, 3 * 4096 },		/* R2 pages 2-4 */
	{ 8 * 4096 + 100, 200 },	/* R3 B5's bytes */
	{ 15 * 4096 + 4095, 1 },	/* R4 the arena's last byte */
};

/* A live mapping (of a list or a single map). */
struct map {
	bool used;
	int ent;			/* the table entry behind it, or -1: the base mode */
	unsigned int dir, attrs;
	int nout;
	uint64_t dma[MAXSEG], dlen[MAXSEG];
};

struct list {
	struct iovx_dma_sg sg[MAXSEG];
	uint32_t mflags[MAXSEG];	/* what the flags must be */
	int buf;
	bool ever;			/* mapped once: sg[0].dma_address is a stale address */
	struct map m;
};

struct slot {
	int range;
	uint64_t stale;			/* last DMA address, once unmapped */
	struct map m;
};

struct ent {
	bool present;
	bool sg;
	int nseg;
	uint64_t addr[MAXSEG], len[MAXSEG];
	unsigned int dir, akey;
	int nout;
	uint64_t dma[MAXSEG], dlen[MAXSEG];
	unsigned int refs;
	bool ovf;			/* beyond the capacity: goes with its last unmap */
	uint64_t born;			/* maps find the newest entry of a key */
};

struct st {
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
	bool deferred;
	unsigned int cap;
	struct geo geo[NBUF];
	uint32_t range[NRANGE][2];
	struct list l[NLIST];
	struct slot s[NSLOT];
	struct ent e[MAXENT];
	uint64_t mask;			/* the DMA mask (set_mask) */
	/* expected cumulative statistics */
	uint64_t hits, misses, overflows, evictions, stops;
	uint64_t born;
	uint64_t injected;		/* stops whose sync we made fail */
};

static uint8_t *arena;
static uint8_t model[ARENA];
static uint8_t buf[3 * ARENA];


static uint64_t arena_pa(uint64_t off)
{
	return (uint64_t)(uintptr_t)arena + off;
}

/* ---- the model's view of buffers and mappings ----------------------------------------- */
static int list_segs(const struct st *z, const struct list *l, uint64_t *addr, uint64_t *len)
{
	const struct geo *g = &z->geo[l->buf];
	int i;

	for (i = 0; i < g->n; i++) {
		addr[i] = l->sg[i].phys + l->sg[i].offset;
		len[i] = l->sg[i].length;
	}
	return g->n;
}

static bool key_eq(const struct ent *e, bool sg, int n, const uint64_t *addr,
		   const uint64_t *len, unsigned int dir, unsigned int akey)
{
	int i;

	if (!e->present || e->sg != sg || e->nseg != n || e->dir != dir || e->akey != akey)
		return false;
	for (i = 0; i < n; i++)
		if (e->addr[i] != addr[i] || e->len[i] != len[i])
			return false;
	return true;
}

/* The newest present entry of a key (the table's chains are pushed at the head). */
static int find_ent(const struct st *z, bool sg, int n, const uint64_t *addr,
		    const uint64_t *len, unsigned int dir, unsigned int akey)
{
	int i, best = -1;

	for (i = 0; i < MAXENT; i++)
		if (key_eq(&z->e[i], sg, n, addr, len, dir, akey) &&
		    (best < 0 || z->e[i].born > z->e[best].born))
			best = i;
	return best;
}

static unsigned int akey_of(unsigned int attrs)
{
	return attrs & ~(IOVX_DMA_ATTR_SKIP_CPU_SYNC | IOVX_DMA_ATTR_REUSE);
}

static unsigned int nr_present(const struct st *z, bool idle_only)
{
	unsigned int i, n = 0;

	for (i = 0; i < MAXENT; i++)
		n += z->e[i].present && !z->e[i].ovf && (!idle_only || !z->e[i].refs);
	return n;
}

static unsigned int nr_ovf(const struct st *z)
{
	unsigned int i, n = 0;

	for (i = 0; i < MAXENT; i++)
		n += z->e[i].present && z->e[i].ovf;
	return n;
}

static uint64_t first_pfn(const uint64_t *dma)
{
	return dma[0] / PG;
}

static uint64_t last_pfn(const uint64_t *dma, const uint64_t *dlen, int nout)
{
	return (dma[nout - 1] + dlen[nout - 1] - 1) / PG;
}

/* Is IOVA page pfn owned by a present entry or a live base mapping? */
static bool owned(const struct st *z, uint64_t pfn)
{
	int i;

	for (i = 0; i < MAXENT; i++) {
		const struct ent *e = &z->e[i];

		if (e->present && pfn >= first_pfn(e->dma) &&
		    pfn <= last_pfn(e->dma, e->dlen, e->nout))
			return true;
	}
	for (i = 0; i < NLIST + NSLOT; i++) {
		const struct map *m = i < NLIST ? &z->l[i].m : &z->s[i - NLIST].m;

		if (m->used && m->ent < 0 && pfn >= first_pfn(m->dma) &&
		    pfn <= last_pfn(m->dma, m->dlen, m->nout))
			return true;
	}
	return false;
}

/* I3: the device reaches none of these IOVA pages, unless a present mapping owns one. */
static void i3_gone(const struct st *z, const uint64_t *dma, const uint64_t *dlen, int nout)
{
	uint64_t p;
	uint8_t x = 0;

	for (p = first_pfn(dma); p <= last_pfn(dma, dlen, nout); p++) {
		if (owned(z, p))
			continue;
		CHECK_EQ(iovx_sim_dev_read(z->sim, p * PG, &x, 1, NULL), -EFAULT);
		CHECK_EQ(iovx_sim_dev_write(z->sim, p * PG, &x, 1, NULL), -EFAULT);
	}
}

/* Is the entry's first IOVA byte still translated to its first buffer byte? */
static bool ent_mapped(const struct st *z, const struct ent *e)
{
	uint64_t phys = 0;
	unsigned int prot = 0;

	return iovx_sim_iova_to_phys(z->sim, e->dma[0], &phys, &prot) == 0 && phys == e->addr[0];
}

static bool pfn_overlap(const uint64_t *d1, const uint64_t *l1, int n1, const uint64_t *d2,
			const uint64_t *l2, int n2)
{
	return !(last_pfn(d1, l1, n1) < first_pfn(d2) || last_pfn(d2, l2, n2) < first_pfn(d1));
}

/* Byte ranges [a, a + al) and [b, b + bl) intersect. */
static bool overlap(uint64_t a, uint64_t al, uint64_t b, uint64_t bl)
{
	return a < b + bl && b < a + al;
}

static bool ent_overlaps(const struct ent *e, uint64_t a, uint64_t len)
{
	int i;

	for (i = 0; i < e->nseg; i++)
		if (overlap(e->addr[i], e->len[i], a, len))
			return true;
	return false;
}

static struct iovx_reuse_stats rstats(const struct st *z)
{
	struct iovx_reuse_stats rs;

	memset(&rs, 0xff, sizeof(rs));
	CHECK_EQ(iovx_dma_get_reuse_stats(z->dom, &rs), 0);
	return rs;
}

/*
 * Some present idle entries were evicted (the table's figure went up by n): find which (a
 * map whose IOVA took one of their pages, new_* if not NULL, or no translation any more),
 * check that exactly n went, drop them. I3 for them: strict at once, deferred after a flush.
 */
static void account_evictions(struct st *z, uint64_t n, const uint64_t *nd, const uint64_t *nl,
			      int nn, bool probe)
{
	static struct ent gone[MAXENT];		/* off the stack (-Wframe-larger-than) */
	int i, found = 0;

	for (i = 0; i < MAXENT; i++) {
		struct ent *e = &z->e[i];

		if (!e->present || e->refs)
			continue;
		if ((nd && pfn_overlap(e->dma, e->dlen, e->nout, nd, nl, nn)) ||
		    !ent_mapped(z, e)) {
			gone[found++] = *e;
			e->present = false;
		}
	}
	CHECK_EQ((uint64_t)found, n);
	z->evictions += n;
	if (!probe || !found)
		return;
	if (z->deferred)
		CHECK_EQ(iovx_dma_flush_deferred(z->dom), 0);
	for (i = 0; i < found; i++)
		i3_gone(z, gone[i].dma, gone[i].dlen, gone[i].nout);
}

/* Everything the model says about the table, the lists and the facade. */
static void check_all(const struct st *z)
{
	struct iovx_reuse_stats rs = rstats(z);
	struct iovx_dma_stats ds;
	uint64_t refs = 0, active = 0, live = 0;
	int i, j;

	for (i = 0; i < MAXENT; i++) {
		refs += z->e[i].present ? z->e[i].refs : 0;
		active += z->e[i].present && z->e[i].refs;
	}
	CHECK_EQ(rs.hits, z->hits);
	CHECK_EQ(rs.misses, z->misses);
	CHECK_EQ(rs.untagged_fallbacks, 0);
	CHECK_EQ(rs.overflows, z->overflows);
	CHECK_EQ(rs.evictions, z->evictions);
	CHECK_EQ(rs.stops, z->stops);
	CHECK_EQ(rs.entries, nr_present(z, false) + nr_ovf(z));
	CHECK_EQ(rs.active, active);
	CHECK_EQ(rs.refs, refs);
	CHECK_EQ(rs.capacity, z->cap);
	CHECK(rs.entries <= rs.capacity + nr_ovf(z));

	/* The facade's live count is the base mode's; table references are the table's refs. */
	for (i = 0; i < NLIST; i++) {
		live += z->l[i].m.used && z->l[i].m.ent < 0;
		for (j = 0; j < MAXSEG; j++)	/* the bits above them are the table's hint */
			CHECK_EQ((z->l[i].sg[j].flags & SG_FLAGS), z->l[i].mflags[j]);
	}
	for (i = 0; i < NSLOT; i++)
		live += z->s[i].m.used && z->s[i].m.ent < 0;
	CHECK_EQ(iovx_dma_get_stats(z->dom, &ds), 0);
	CHECK_EQ(ds.live, live);

	/* I1: present entries and live base mappings are disjoint in IOVA pages. */
	for (i = 0; i < MAXENT + NLIST + NSLOT; i++) {
		const uint64_t *d1, *l1;
		int n1;

		if (i < MAXENT) {
			if (!z->e[i].present)
				continue;
			d1 = z->e[i].dma, l1 = z->e[i].dlen, n1 = z->e[i].nout;
		} else {
			const struct map *m = i < MAXENT + NLIST ? &z->l[i - MAXENT].m :
						&z->s[i - MAXENT - NLIST].m;

			if (!m->used || m->ent >= 0)
				continue;
			d1 = m->dma, l1 = m->dlen, n1 = m->nout;
		}
		for (j = i + 1; j < MAXENT + NLIST + NSLOT; j++) {
			const struct map *m;

			if (j < MAXENT) {
				if (z->e[j].present)
					CHECK(!pfn_overlap(d1, l1, n1, z->e[j].dma, z->e[j].dlen,
							   z->e[j].nout));
				continue;
			}
			m = j < MAXENT + NLIST ? &z->l[j - MAXENT].m : &z->s[j - MAXENT - NLIST].m;
			if (m->used && m->ent < 0)
				CHECK(!pfn_overlap(d1, l1, n1, m->dma, m->dlen, m->nout));
		}
	}
}

/* ---- device access ----------------------------------------------------------------------- */
/* Arena offset of byte pos of the concatenated input segments. */
static uint64_t stream_off(int n, const uint64_t *addr, const uint64_t *len, uint64_t pos)
{
	int i;

	for (i = 0; i < n; i++) {
		if (pos < len[i])
			return addr[i] + pos - arena_pa(0);
		pos -= len[i];
	}
	CHECK(0);
	return 0;
}

/* arg: { sel (DMA segment, 0x80: write), offset (2), count (2), pattern } */
static void device_access(struct st *z, const struct map *m, int n, const uint64_t *addr,
			  const uint64_t *len, const uint8_t *arg)
{
	unsigned int sel = arg[0], j = sel % (unsigned int)m->nout;
	uint64_t o = ((uint64_t)arg[1] << 8 | arg[2]) % m->dlen[j];
	uint64_t cnt = 1 + ((uint64_t)arg[3] << 8 | arg[4]) % (m->dlen[j] - o);
	uint64_t pos = o, k;
	uint8_t pat = arg[5];
	bool wr = sel & 0x80;
	int r;

	for (k = 0; k < j; k++)
		pos += m->dlen[k];
	if (wr) {
		for (k = 0; k < cnt; k++)
			buf[k] = (uint8_t)(pat + k * 7);
		r = iovx_sim_dev_write(z->sim, m->dma[j] + o, buf, cnt, NULL);
		if (m->dir == IOVX_DMA_TO_DEVICE) {
			CHECK(r == -EFAULT);		/* read-only for the device */
		} else {
			CHECK_EQ(r, 0);
			for (k = 0; k < cnt; k++)
				model[stream_off(n, addr, len, pos + k)] = buf[k];
		}
		CHECK(memcmp(arena, model, ARENA) == 0);	/* exactly the right bytes */
	} else {
		r = iovx_sim_dev_read(z->sim, m->dma[j] + o, buf, cnt, NULL);
		if (m->dir == IOVX_DMA_FROM_DEVICE) {
			CHECK_EQ(r, -EFAULT);
		} else {
			CHECK_EQ(r, 0);
			for (k = 0; k < cnt; k++)
				CHECK_EQ(buf[k], model[stream_off(n, addr, len, pos + k)]);
		}
	}
}

/* ---- map / unmap, shared by lists and single maps ----------------------------------------- */
static const unsigned int attr_pick[4] = {
	0, IOVX_DMA_ATTR_SKIP_CPU_SYNC, IOVX_DMA_ATTR_WEAK_ORDERING, IOVX_DMA_ATTR_PRIVILEGED,
};

/*
 * After a successful map with result (dma, dlen, nout): which entry (or none) it came from,
 * and the statistics it moved. Checks a hit returns the entry's segments.
 */
static int after_map(struct st *z, bool tagged, bool sg, int n, const uint64_t *addr,
		     const uint64_t *len, unsigned int dir, unsigned int attrs,
		     const uint64_t *dma, const uint64_t *dlen, int nout,
		     const struct iovx_reuse_stats *before)
{
	struct iovx_reuse_stats rs = rstats(z);
	unsigned int akey = akey_of(attrs);
	int e = tagged ? find_ent(z, sg, n, addr, len, dir, akey) : -1, i;
	uint64_t ev = rs.evictions - before->evictions;
	bool ovf;

	/* Every DMA address a map hands out is below the mask of the time (a hit too). */
	for (i = 0; i < nout; i++)
		CHECK(dma[i] + dlen[i] - 1 <= z->mask);

	if (!tagged) {
		CHECK(rs.hits == before->hits && rs.misses == before->misses &&
		      rs.overflows == before->overflows);
		if (ev)		/* IOVA pressure may evict; not with our 48-bit space */
			account_evictions(z, ev, dma, dlen, nout, false);
		return -1;
	}
	if (e >= 0) {
		struct ent *x = &z->e[e];
		bool above = false;

		/*
		 * Present but above a mask lowered since: a miss, a new entry of the key
		 * below the mask (found first from now on); the old one stays.
		 */
		for (i = 0; i < x->nout; i++)
			above |= x->dma[i] + x->dlen[i] - 1 > z->mask;
		if (above)
			e = -1;
	}
	if (e >= 0) {				/* present: a hit, the entry's IOVA */
		struct ent *x = &z->e[e];

		CHECK(rs.hits == before->hits + 1 && ev == 0);
		CHECK_EQ(nout, x->nout);
		for (i = 0; i < nout; i++)
			CHECK(dma[i] == x->dma[i] && dlen[i] == x->dlen[i]);
		x->refs++;
		z->hits++;
		return e;
	}
	CHECK_EQ(rs.misses, before->misses + 1);
	/*
	 * The miss may evict idle entries first (a full table; or IOVA pressure under a
	 * lowered mask, the old entry of the key too); full of referenced ones, it gets an
	 * overflow entry.
	 */
	if (ev)
		account_evictions(z, ev, dma, dlen, nout, false);
	ovf = rs.overflows != before->overflows;
	if (ovf)
		CHECK(rs.overflows == before->overflows + 1 && nr_present(z, false) == z->cap &&
		      !nr_present(z, true));
	else
		CHECK(nr_present(z, false) < z->cap);
	z->overflows += ovf;
	for (e = 0; z->e[e].present; e++)
		;
	z->e[e] = (struct ent){ .present = true, .sg = sg, .nseg = n, .dir = dir, .akey = akey,
				.nout = nout, .refs = 1, .ovf = ovf, .born = ++z->born };
	for (i = 0; i < n; i++) {
		z->e[e].addr[i] = addr[i];
		z->e[e].len[i] = len[i];
	}
	for (i = 0; i < nout; i++) {
		z->e[e].dma[i] = dma[i];
		z->e[e].dlen[i] = dlen[i];
	}
	z->misses++;
	return e;
}

/*
 * A map failed with -ENOMEM: only a small DMA mask explains it. Nothing is mapped; the
 * table may have evicted idle entries trying, and counted a tagged map that found it full
 * of referenced entries as an untagged fallback before the base mode failed too.
 */
static void map_nomem(struct st *z, const struct iovx_reuse_stats *before)
{
	struct iovx_reuse_stats rs = rstats(z);

	CHECK(z->mask < SMALL_MASK);
	CHECK_EQ(rs.hits, before->hits);
	CHECK_EQ(rs.misses, before->misses);
	CHECK(rs.overflows - before->overflows <= 1);
	z->overflows = rs.overflows;
	if (rs.evictions != before->evictions)
		account_evictions(z, rs.evictions - before->evictions, NULL, NULL, 0, false);
}

/* The model's side of an unmap that succeeded: drop the reference or check I3 (strict). */
static void after_unmap(struct st *z, struct map *m)
{
	m->used = false;
	if (m->ent >= 0) {
		struct ent *e = &z->e[m->ent];

		CHECK(e->present && e->refs);
		e->refs--;
		if (e->ovf && !e->refs) {
			/* the last reference of an overflow entry: torn down, strictly */
			e->present = false;
			i3_gone(z, e->dma, e->dlen, e->nout);
			return;
		}
		CHECK(ent_mapped(z, e));	/* unmap only drops a reference */
		return;
	}
	if (!z->deferred)
		i3_gone(z, m->dma, m->dlen, m->nout);
}

static void map_list(struct st *z, struct list *l, struct in *in)
{
	unsigned int dir = (unsigned int)get(in, 1), attrs = attr_pick[dir >> 4 & 3];
	uint64_t addr[MAXSEG], len[MAXSEG], dma[MAXSEG], dlen[MAXSEG];
	struct iovx_reuse_stats before = rstats(z);
	int n = list_segs(z, l, addr, len), r, i;
	bool tagged = l->sg[0].flags & IOVX_SG_REUSE, bad = (dir & 0x0f) == 3;

	dir = bad ? IOVX_DMA_NONE : (dir & 0x0f) % 3;
	if (l->m.used)
		return;
	for (i = 0; i < n; i++)
		l->sg[i].dma_address = l->sg[i].dma_length = 0x5a5a;
	r = iovx_dma_map_sg(z->dom, l->sg, n, dir, attrs);
	if (bad) {
		CHECK_EQ(r, -EINVAL);
		for (i = 0; i < n; i++)		/* I5: the caller's list as it was */
			CHECK(l->sg[i].dma_address == 0x5a5a && l->sg[i].dma_length == 0x5a5a);
		return;
	}
	if (r == -ENOMEM) {
		map_nomem(z, &before);
		return;
	}
	CHECK(r >= 1 && r <= n);
	for (i = 0; i < r; i++) {
		dma[i] = l->sg[i].dma_address;
		dlen[i] = l->sg[i].dma_length;
		CHECK(dlen[i]);
	}
	for (i = r; i < n; i++)
		CHECK_EQ(l->sg[i].dma_length, 0);
	l->m = (struct map){ .used = true, .dir = dir, .attrs = attrs, .nout = r };
	memcpy(l->m.dma, dma, sizeof(dma));
	memcpy(l->m.dlen, dlen, sizeof(dlen));
	l->m.ent = after_map(z, tagged, true, n, addr, len, dir, attrs, dma, dlen, r, &before);
	l->ever = true;
}

static void unmap_list(struct st *z, struct list *l, unsigned int how)
{
	int n = z->geo[l->buf].n, r;
	struct iovx_reuse_stats before = rstats(z), after;
	unsigned int attrs = l->m.attrs ^ (how & 4 ? IOVX_DMA_ATTR_SKIP_CPU_SYNC : 0);

	if (!l->m.used)
		return;
	how &= 3;
	if (how == 1) {				/* another direction: rejected */
		r = iovx_dma_unmap_sg(z->dom, l->sg, n, (l->m.dir + 1) % 3, attrs);
		CHECK_WRONG_ARGS(r, &l->m);
	} else if (how == 2 && n > 1) {		/* another nents: rejected */
		r = iovx_dma_unmap_sg(z->dom, l->sg, n - 1, l->m.dir, attrs);
		CHECK_WRONG_ARGS(r, &l->m);
	} else {
		CHECK_EQ(iovx_dma_unmap_sg(z->dom, l->sg, n, l->m.dir, attrs), 0);
		after = rstats(z);
		CHECK_EQ(after.evictions, before.evictions);
		after_unmap(z, &l->m);
	}
}

static void map_slot(struct st *z, struct slot *s, struct in *in)
{
	unsigned int r = (unsigned int)get(in, 1), x = (unsigned int)get(in, 1);
	unsigned int dir = x & 3, attrs = attr_pick[x >> 2 & 3];
	bool tagged = x & 0x10;
	struct iovx_reuse_stats before = rstats(z);
	uint64_t addr, len, dma = 0x5a5a, dl;
	int ret;

	if (s->m.used)
		return;
	s->range = (int)(r % NRANGE);
	addr = arena_pa(z->range[s->range][0]);
	len = z->range[s->range][1];
	if (tagged)
		attrs |= IOVX_DMA_ATTR_REUSE;
	if (dir == 3) {				/* bad direction */
		CHECK(iovx_dma_map_single(z->dom, addr, len, IOVX_DMA_NONE, attrs, &dma) ==
		      -EINVAL && dma == 0x5a5a);
		return;
	}
	ret = iovx_dma_map_single(z->dom, addr, len, dir, attrs, &dma);
	if (ret == -ENOMEM) {
		map_nomem(z, &before);
		return;
	}
	CHECK_EQ(ret, 0);
	dl = len;
	s->m = (struct map){ .used = true, .dir = dir, .attrs = attrs, .nout = 1,
			     .dma = { dma }, .dlen = { len } };
	s->m.ent = after_map(z, tagged, false, 1, &addr, &dl, dir, attrs, &dma, &dl, 1, &before);
}

static void unmap_slot(struct st *z, struct slot *s, unsigned int how)
{
	uint64_t len = z->range[s->range][1];
	int r;
	unsigned int attrs = s->m.attrs ^ (how & 4 ? IOVX_DMA_ATTR_SKIP_CPU_SYNC : 0);

	if (!s->m.used)
		return;
	how &= 3;
	if (how == 1) {
		r = iovx_dma_unmap_single(z->dom, s->m.dma[0], len, (s->m.dir + 1) % 3, attrs);
		CHECK_WRONG_ARGS(r, &s->m);
	} else if (how == 2) {
		r = iovx_dma_unmap_single(z->dom, s->m.dma[0], len + 1, s->m.dir, attrs);
		CHECK_WRONG_ARGS(r, &s->m);
	} else {
		CHECK_EQ(iovx_dma_unmap_single(z->dom, s->m.dma[0], len, s->m.dir, attrs), 0);
		s->stale = s->m.dma[0];
		after_unmap(z, &s->m);
	}
}

/* ---- stop ------------------------------------------------------------------------------- */
/* The caller unmaps its own mappings of the bytes before a stop (it would wait for itself). */
static void unmap_overlapping(struct st *z, int nr, const uint64_t *a, const uint64_t *len)
{
	int i, k;

	for (i = 0; i < NLIST + NSLOT; i++) {
		struct map *m = i < NLIST ? &z->l[i].m : &z->s[i - NLIST].m;
		bool hit = false;

		if (!m->used || m->ent < 0)
			continue;
		for (k = 0; k < nr; k++)
			hit |= ent_overlaps(&z->e[m->ent], a[k], len[k]);
		if (!hit)
			continue;
		if (i < NLIST)
			unmap_list(z, &z->l[i], 0);
		else
			unmap_slot(z, &z->s[i - NLIST], 0);
	}
}

/*
 * A stop of the byte ranges returned ret: every present entry overlapping one is gone
 * (ret: how many, or the sync error we injected) and the device reaches none of them.
 */
static void after_stop(struct st *z, int nr, const uint64_t *a, const uint64_t *len, int ret,
		       int err)
{
	static struct ent gone[MAXENT];
	int i, k, n = 0;

	for (i = 0; i < MAXENT; i++) {
		bool hit = false;

		for (k = 0; k < nr; k++)
			hit |= z->e[i].present && ent_overlaps(&z->e[i], a[k], len[k]);
		if (!hit)
			continue;
		CHECK(!z->e[i].refs);
		gone[n++] = z->e[i];
		z->e[i].present = false;
	}
	z->stops += (uint64_t)n;
	if (err) {
		CHECK_EQ(ret, err);
		for (i = 0; i < n; i++)		/* gone from the tables, IOVA leaked */
			CHECK(!ent_mapped(z, &gone[i]));
		return;
	}
	CHECK_EQ(ret, n);
	for (i = 0; i < n; i++) {
		CHECK(!ent_mapped(z, &gone[i]));
		i3_gone(z, gone[i].dma, gone[i].dlen, gone[i].nout);
	}
}

static void stop_list(struct st *z, struct list *l, int nents)
{
	uint64_t addr[MAXSEG], len[MAXSEG];
	bool any = false, all = true;
	int i, r;

	list_segs(z, l, addr, len);
	for (i = 0; i < nents; i++) {
		any |= l->mflags[i] & IOVX_SG_REUSE;
		all &= l->mflags[i] == IOVX_SG_REUSE_STOPPED;
	}
	if (any)
		unmap_overlapping(z, nents, addr, len);
	r = iovx_sg_mark_stop_reuse(l->sg, nents);
	if (!any) {
		/* all stopped: -EALREADY; never tagged: -EINVAL; a mix: either */
		if (all)
			CHECK_EQ(r, -EALREADY);
		else if (l->mflags[0] == 0 && (nents < 2 || !l->mflags[1]) &&
			 (nents < 3 || !l->mflags[2]))
			CHECK_EQ(r, -EINVAL);
		else
			CHECK(r == -EINVAL || r == -EALREADY);
		return;
	}
	for (i = 0; i < nents; i++)
		l->mflags[i] = IOVX_SG_REUSE_STOPPED;
	after_stop(z, nents, addr, len, r, 0);
}

static void stop_bytes(struct st *z, uint64_t a, uint64_t len, bool buf_level, int inject)
{
	int r;

	unmap_overlapping(z, 1, &a, &len);
	if (inject) {
		int n = 0, i;

		for (i = 0; i < MAXENT; i++)
			n += z->e[i].present && ent_overlaps(&z->e[i], a, len);
		if (!n)
			inject = 0;	/* no sync would consume it */
		else
			iovx_sim_fail_syncs(z->sim, 1, inject);
		z->injected += !!inject;
	}
	r = buf_level ? iovx_buf_stop_reuse(a, len) : iovx_dma_stop_reuse(z->dom, a, len);
	after_stop(z, 1, &a, &len, r, inject);
}

/* Is a live mapping at this DMA address? */
static bool dma_live(const struct st *z, uint64_t dma)
{
	int i;

	for (i = 0; i < NLIST + NSLOT; i++) {
		const struct map *m = i < NLIST ? &z->l[i].m : &z->s[i - NLIST].m;

		if (m->used && m->dma[0] == dma)
			return true;
	}
	return false;
}

/* ---- bad input: the documented errno, and nothing changes (check_all after) -------------- */
static void bad_input(struct st *z, struct in *in)
{
	unsigned int v = (unsigned int)get(in, 1);
	struct iovx_dma_sg t[MAXSEG];
	struct iovx_reuse_stats rs;
	uint64_t dma = 0;
	int i;

	memset(t, 0, sizeof(t));
	for (i = 0; i < MAXSEG; i++) {
		t[i].phys = arena_pa((uint64_t)i * PG);
		t[i].length = (uint32_t)PG;
		t[i].flags = 0;
	}
	switch (v % 12) {
	case 0:
		CHECK_EQ(iovx_sg_mark_reusable(NULL, 1), -EINVAL);
		CHECK_EQ(iovx_sg_mark_reusable(t, 0), -EINVAL);
		CHECK_EQ(iovx_sg_mark_reusable(t, -1), -EINVAL);
		CHECK_EQ(iovx_sg_mark_reusable(t, IOVX_DMA_MAX_SEGS + 1), -EINVAL);
		break;
	case 1:				/* a zero-length entry: nothing marked */
		t[v >> 4 & 1 ? 2 : 0].length = 0;
		CHECK_EQ(iovx_sg_mark_reusable(t, MAXSEG), -EINVAL);
		for (i = 0; i < MAXSEG; i++)
			CHECK_EQ(t[i].flags, 0);
		break;
	case 2:				/* wraps: nothing marked */
		t[2].phys = UINT64_MAX - 100;
		CHECK_EQ(iovx_sg_mark_reusable(t, MAXSEG), -EOVERFLOW);
		t[2].phys = arena_pa(0);
		t[2].offset = 100;
		t[1].phys = UINT64_MAX - PG + 1;
		t[1].offset = (uint32_t)PG - 1;
		CHECK_EQ(iovx_sg_mark_reusable(t, MAXSEG), -EOVERFLOW);
		for (i = 0; i < MAXSEG; i++)
			CHECK_EQ(t[i].flags, 0);
		break;
	case 3:
		CHECK_EQ(iovx_sg_mark_stop_reuse(NULL, 1), -EINVAL);
		CHECK_EQ(iovx_sg_mark_stop_reuse(t, 0), -EINVAL);
		CHECK_EQ(iovx_sg_mark_stop_reuse(t, IOVX_DMA_MAX_SEGS + 1), -EINVAL);
		CHECK(iovx_sg_mark_stop_reuse(t, MAXSEG) == -EINVAL);	/* never marked */
		for (i = 0; i < MAXSEG; i++)
			CHECK_EQ(t[i].flags, 0);
		break;
	case 4:
		CHECK_EQ(iovx_buf_stop_reuse(arena_pa(0), 0), -EINVAL);
		CHECK_EQ(iovx_buf_stop_reuse(UINT64_MAX - 10, 100), -EOVERFLOW);
		break;
	case 5:
		CHECK_EQ(iovx_dma_stop_reuse(NULL, arena_pa(0), PG), -EINVAL);
		CHECK_EQ(iovx_dma_stop_reuse(z->dom, arena_pa(0), 0), -EINVAL);
		CHECK_EQ(iovx_dma_stop_reuse(z->dom, UINT64_MAX - 10, 100), -EOVERFLOW);
		break;
	case 6:
		CHECK_EQ(iovx_dma_reuse_evict(NULL, 0), -EINVAL);
		CHECK_EQ(iovx_dma_get_reuse_stats(NULL, &rs), -EINVAL);
		CHECK_EQ(iovx_dma_get_reuse_stats(z->dom, NULL), -EINVAL);
		break;
	case 7:				/* tagged single maps with bad arguments */
		CHECK(iovx_dma_map_single(z->dom, arena_pa(0), 0, IOVX_DMA_TO_DEVICE,
					  IOVX_DMA_ATTR_REUSE, &dma) == -EINVAL);
		CHECK(iovx_dma_map_single(z->dom, arena_pa(0), PG, IOVX_DMA_NONE,
					  IOVX_DMA_ATTR_REUSE, &dma) == -EINVAL);
		CHECK(iovx_dma_map_single(z->dom, arena_pa(0), PG, IOVX_DMA_TO_DEVICE,
					  IOVX_DMA_ATTR_REUSE | (1u << 3), &dma) == -EINVAL);
		CHECK(iovx_dma_map_single(z->dom, UINT64_MAX - 10, 100, IOVX_DMA_TO_DEVICE,
					  IOVX_DMA_ATTR_REUSE, &dma) == -EOVERFLOW);
		CHECK(iovx_dma_map_single(z->dom, arena_pa(0), PG, IOVX_DMA_TO_DEVICE,
					  IOVX_DMA_ATTR_REUSE, NULL) == -EINVAL);
		CHECK_EQ(dma, 0);
		break;
	case 8:				/* tagged lists with bad arguments */
		CHECK_EQ(iovx_sg_mark_reusable(t, MAXSEG), 0);
		for (i = 0; i < MAXSEG; i++)
			CHECK_EQ(t[i].flags, IOVX_SG_REUSE);
		CHECK_EQ(iovx_dma_map_sg(z->dom, t, MAXSEG, 3, 0), -EINVAL);
		CHECK_EQ(iovx_dma_map_sg(z->dom, t, 0, IOVX_DMA_TO_DEVICE, 0), -EINVAL);
		CHECK_EQ(iovx_dma_map_sg(z->dom, t, MAXSEG, IOVX_DMA_TO_DEVICE, 1u << 3), -EINVAL);
		t[1].length = 0;
		CHECK_EQ(iovx_dma_map_sg(z->dom, t, MAXSEG, IOVX_DMA_TO_DEVICE, 0), -EINVAL);
		for (i = 0; i < MAXSEG; i++)
			CHECK(t[i].dma_address == 0 && t[i].dma_length == 0);
		/* never mapped: nothing to unmap or sync */
		t[1].length = (uint32_t)PG;
		t[0].dma_address = NOWHERE;
		if (dma_live(z, NOWHERE))
			break;
		CHECK_EQ(iovx_dma_unmap_sg(z->dom, t, MAXSEG, IOVX_DMA_TO_DEVICE, 0), -ENOENT);
		CHECK_EQ(iovx_dma_sync_sg_for_cpu(z->dom, t, MAXSEG, IOVX_DMA_TO_DEVICE), -ENOENT);
		break;
	case 9:				/* a never-mapped address */
		if (dma_live(z, NOWHERE))
			break;
		CHECK(iovx_dma_unmap_single(z->dom, NOWHERE, PG, IOVX_DMA_TO_DEVICE,
					    IOVX_DMA_ATTR_REUSE) == -ENOENT);
		CHECK(iovx_dma_sync_single_for_cpu(z->dom, NOWHERE, PG,
						   IOVX_DMA_TO_DEVICE) == -ENOENT);
		break;
	case 10:			/* a stop of bytes nothing maps: 0, nothing changes */
		CHECK_EQ(iovx_dma_stop_reuse(z->dom, (uint64_t)(uintptr_t)buf, 64), 0);
		CHECK_EQ(iovx_buf_stop_reuse((uint64_t)(uintptr_t)buf, 64), 0);
		break;
	case 11:			/* evict with nothing idle */
		if (!nr_present(z, true))
			CHECK_EQ(iovx_dma_reuse_evict(z->dom, v >> 4), 0);
		break;
	}
}

/* ---- stale addresses: unmap of something no longer mapped --------------------------------- */
static void stale_unmap(struct st *z, unsigned int v)
{
	if (v & 1) {
		struct list *l = &z->l[(v >> 1) % NLIST];

		if (l->m.used || !l->ever || dma_live(z, l->sg[0].dma_address))
			return;
		/* A double unmap: an idle entry keeps its translation and nothing changes. */
		CHECK(iovx_dma_unmap_sg(z->dom, l->sg, z->geo[l->buf].n, l->m.dir,
					l->m.attrs) == -ENOENT);
		CHECK(iovx_dma_sync_sg_for_device(z->dom, l->sg, z->geo[l->buf].n,
						  l->m.dir) == -ENOENT);
	} else {
		struct slot *s = &z->s[(v >> 1) % NSLOT];

		if (s->m.used || !s->stale || dma_live(z, s->stale))
			return;
		CHECK(iovx_dma_unmap_single(z->dom, s->stale, z->range[s->range][1], s->m.dir,
					    s->m.attrs) == -ENOENT);
	}
}

/* ---- syncs -------------------------------------------------------------------------------- */
static void do_sync(struct st *z, unsigned int v)
{
	bool cpu = v & 1, bad = v & 2;

	if (v & 4) {
		struct list *l = &z->l[(v >> 3) % NLIST];
		int n = z->geo[l->buf].n, r;

		if (!l->m.used)
			return;
		r = (cpu ? iovx_dma_sync_sg_for_cpu : iovx_dma_sync_sg_for_device)
			(z->dom, l->sg, n, bad ? (l->m.dir + 1) % 3 : l->m.dir);
		if (bad)
			CHECK_WRONG_ARGS(r, &l->m);
		else
			CHECK_EQ(r, 0);
	} else {
		struct slot *s = &z->s[(v >> 3) % NSLOT];
		uint64_t len = z->range[s->range][1];
		int r;

		if (!s->m.used)
			return;
		r = (cpu ? iovx_dma_sync_single_for_cpu : iovx_dma_sync_single_for_device)
			(z->dom, s->m.dma[0], bad ? len + 1 : 1 + (v >> 6) % len, s->m.dir);
		if (bad)
			CHECK_WRONG_ARGS(r, &s->m);
		else
			CHECK_EQ(r, 0);
	}
}

/* ---- evict -------------------------------------------------------------------------------- */
static void evict(struct st *z, unsigned int max)
{
	unsigned int idle = nr_present(z, true);
	int r = iovx_dma_reuse_evict(z->dom, max);

	CHECK(r == (int)(max && max < idle ? max : idle));
	account_evictions(z, (uint64_t)r, NULL, NULL, 0, true);
}

/* ---- a domain not in reuse mode ------------------------------------------------------------ */
static void not_reuse_mode(void)
{
	struct iovx_dma_config dc;
	struct iovx_dma_domain *pt;
	struct iovx_reuse_stats rs;
	uint64_t dma = 0;

	iovx_dma_config_init(&dc, NULL, IOVX_DMA_MODE_PASSTHROUGH);
	dc.map_table_order = 4;
	dc.reuse_table_order = 0;
	CHECK_EQ(iovx_dma_domain_create(&dc, &pt), 0);
	CHECK_EQ(iovx_dma_get_reuse_stats(pt, &rs), -EOPNOTSUPP);
	CHECK_EQ(iovx_dma_reuse_evict(pt, 0), -EOPNOTSUPP);
	CHECK_EQ(iovx_dma_stop_reuse(pt, arena_pa(0), PG), -EOPNOTSUPP);
	/* The tag means nothing outside reuse mode. */
	CHECK(iovx_dma_map_single(pt, arena_pa(0), PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE,
				  &dma) == 0 && dma == arena_pa(0));
	CHECK_EQ(iovx_dma_unmap_single(pt, dma, PG, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE), 0);
	CHECK_EQ(iovx_dma_domain_destroy(pt), 0);
}

static void bad_create(struct iovx_sim *sim)
{
	static const unsigned int orders[] = { 1, IOVX_REUSE_MAX_TABLE_ORDER + 1, 64 };
	static const enum iovx_dma_mode fb[] = { IOVX_DMA_MODE_PASSTHROUGH, IOVX_DMA_MODE_REUSE,
						 IOVX_DMA_MODE_BOUNCE };
	struct iovx_dma_config dc;
	struct iovx_dma_domain *d = NULL;
	unsigned int i;

	for (i = 0; i < 3; i++) {
		iovx_dma_config_init(&dc, iovx_sim_iommu(sim), IOVX_DMA_MODE_REUSE);
		dc.map_table_order = 4;
		dc.reuse_table_order = orders[i];
		CHECK_EQ(iovx_dma_domain_create(&dc, &d), -EINVAL);
		dc.reuse_table_order = 2;
		dc.fallback = fb[i];
		CHECK_EQ(iovx_dma_domain_create(&dc, &d), -EINVAL);
	}
}

/* ---- the run -------------------------------------------------------------------------------- */
static void setup_buffers(struct st *z, struct in *in)
{
	int b, i;

	memcpy(z->geo, fixed_geo, sizeof(fixed_geo));
	for (b = NBUF - 2; b < NBUF; b++) {		/* B6, B7 from the input */
		struct geo *g = &z->geo[b];

		g->n = 1 + (int)(get(in, 1) % MAXSEG);
		for (i = 0; i < g->n; i++) {
			uint32_t page = (uint32_t)get(in, 1) % ARENA_PAGES;
			uint32_t off = (uint32_t)(get(in, 1) * 16 % PG);
			uint32_t len = 1 + (uint32_t)(get(in, 2) % (2 * PG));

			if ((uint64_t)page * PG + off + len > ARENA)
				len = (uint32_t)(ARENA - page * PG - off);
			g->page[i] = page;
			g->off[i] = off;
			g->len[i] = len;
		}
	}
	memcpy(z->range, fixed_range, sizeof(fixed_range));
	z->range[NRANGE - 1][0] = (uint32_t)(get(in, 2) % ARENA);
	z->range[NRANGE - 1][1] = 1 + (uint32_t)(get(in, 2) % (3 * PG));
	if (z->range[NRANGE - 1][0] + z->range[NRANGE - 1][1] > ARENA)
		z->range[NRANGE - 1][1] = (uint32_t)(ARENA - z->range[NRANGE - 1][0]);

	for (i = 0; i < NLIST; i++) {
		struct list *l = &z->l[i];
		const struct geo *g = &z->geo[i % NBUF];
		int k;

		l->buf = i % NBUF;
		for (k = 0; k < g->n; k++) {
			/* half the lists say page + offset, the others the address alone */
			l->sg[k].phys = arena_pa((uint64_t)g->page[k] * PG +
						 (i < NBUF ? 0 : g->off[k]));
			l->sg[k].offset = i < NBUF ? g->off[k] : 0;
			l->sg[k].length = g->len[k];
		}
	}
}

static void teardown(struct st *z, unsigned int how)
{
	struct iovx_dma_stats ds;
	struct iovx_sim_stats ss;
	int live = 0, i, r;

	if (how != 3) {			/* unmap everything still live */
		for (i = 0; i < NLIST; i++)
			unmap_list(z, &z->l[i], 0);
		for (i = 0; i < NSLOT; i++)
			unmap_slot(z, &z->s[i], 0);
		check_all(z);
	}
	if (how == 0)
		stop_bytes(z, arena_pa(0), ARENA, false, 0);
	else if (how == 1)
		stop_bytes(z, arena_pa(0), ARENA, true, 0);
	if (how < 2) {
		struct iovx_reuse_stats rs;

		check_all(z);
		rs = rstats(z);
		CHECK(rs.entries == 0 && rs.active == 0 && rs.refs == 0);
	}
	for (i = 0; i < NLIST; i++)
		live += z->l[i].m.used;
	for (i = 0; i < NSLOT; i++)
		live += z->s[i].m.used;
	CHECK_EQ(iovx_dma_get_stats(z->dom, &ds), 0);
	if (!z->injected)
		CHECK(ds.leaked_pages == 0 && ds.leaked_tables == 0);
	CHECK_EQ(iovx_sim_get_stats(z->sim, &ss), 0);
	CHECK(ss.i2_map_violations == 0 && ss.i2_table_violations == 0);	/* I2 */
	CHECK(ss.stale_hits == 0 || z->deferred);
	r = iovx_dma_domain_destroy(z->dom);
	CHECK_EQ(r, live);
	/* The buffer-level stop walks every reuse domain: this one must be gone from it. */
	CHECK_EQ(iovx_buf_stop_reuse(arena_pa(0), ARENA), 0);
	CHECK_EQ(iovx_sim_get_stats(z->sim, &ss), 0);
	CHECK(ss.i2_map_violations == 0 && ss.i2_table_violations == 0);
	CHECK(ss.tables_live == 1);				/* nothing leaked */
	iovx_sim_destroy(z->sim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct st *z = calloc(1, sizeof(*z));
	unsigned int mode, order, steps = 0, i;

	CHECK(z);
	if (!arena) {
		arena = aligned_alloc(PG, ARENA);
		CHECK(arena);
	}
	for (i = 0; i < ARENA; i++)
		arena[i] = (uint8_t)(i * 131 + (i >> 12));
	memcpy(model, arena, ARENA);

	mode = (unsigned int)get(&in, 1);
	z->deferred = mode & 1;
	order = IOVX_REUSE_MIN_TABLE_ORDER + (mode >> 1 & 3) % 3;
	z->cap = 1u << order;
	z->mask = UINT64_MAX;
	setup_buffers(z, &in);

	iovx_sim_config_init(&sc);
	sc.iotlb_sets = 4;
	sc.eager_table_free = mode & 8;
	CHECK_EQ(iovx_sim_create(&sc, &z->sim), 0);
	if (mode & 0x40) {
		bad_create(z->sim);
		not_reuse_mode();
	}
	iovx_dma_config_init(&dc, iovx_sim_iommu(z->sim), IOVX_DMA_MODE_REUSE);
	dc.map_table_order = 6;
	dc.fallback = z->deferred ? IOVX_DMA_MODE_DEFERRED : IOVX_DMA_MODE_STRICT;
	dc.reuse_table_order = order;
	CHECK_EQ(iovx_dma_domain_create(&dc, &z->dom), 0);
	check_all(z);

	while (in.n && steps++ < MAXSTEPS) {
		unsigned int op = (unsigned int)get(&in, 1), a = (unsigned int)get(&in, 1);
		struct list *l = &z->l[a % NLIST];
		struct slot *s = &z->s[a % NSLOT];
		uint64_t sa, sl;

		switch (op % 16) {
		case 0: {	/* mark a list (or a prefix of it) reusable */
			int n = z->geo[l->buf].n, k = a & 0x80 ? 1 + (int)(a >> 4 & 3) % n : n;

			CHECK_EQ(iovx_sg_mark_reusable(l->sg, k), 0);
			for (i = 0; i < (unsigned int)k; i++)
				l->mflags[i] = IOVX_SG_REUSE;
			break;
		}
		case 1: case 2:
			map_list(z, l, &in);
			break;
		case 3:
			unmap_list(z, l, (unsigned int)get(&in, 1));
			break;
		case 4:
			map_slot(z, s, &in);
			break;
		case 5:
			unmap_slot(z, s, (unsigned int)get(&in, 1));
			break;
		case 6: {	/* the device through a live mapping: a list (0x80) or a slot */
			uint64_t addr[MAXSEG], len[MAXSEG];
			uint8_t arg[6];

			for (i = 0; i < sizeof(arg); i++)
				arg[i] = (uint8_t)get(&in, 1);
			if (a & 0x80 && l->m.used) {
				int n = list_segs(z, l, addr, len);

				device_access(z, &l->m, n, addr, len, arg);
			} else if (!(a & 0x80) && s->m.used) {
				addr[0] = arena_pa(z->range[s->range][0]);
				len[0] = z->range[s->range][1];
				device_access(z, &s->m, 1, addr, len, arg);
			}
			break;
		}
		case 7:
			do_sync(z, a);
			break;
		case 8: {	/* stop a list (or a prefix) */
			int n = z->geo[l->buf].n;

			stop_list(z, l, a & 0x80 ? 1 + (int)(a >> 4 & 3) % n : n);
			break;
		}
		case 9: case 10:	/* stop bytes: a buffer's segment, or any range */
			if (a & 0x80) {
				const struct geo *g = &z->geo[a % NBUF];
				int k = (int)(a >> 3 & 3) % g->n;

				sa = arena_pa((uint64_t)g->page[k] * PG + g->off[k]);
				sl = g->len[k];
			} else {
				sa = arena_pa(get(&in, 2) % ARENA);
				sl = 1 + get(&in, 2) % (ARENA + PG);
			}
			stop_bytes(z, sa, sl, op % 16 == 9, 0);
			break;
		case 11:
			evict(z, a % 5);
			break;
		case 12:
			bad_input(z, &in);
			break;
		case 13:
			stale_unmap(z, a);
			break;
		case 14:	/* flush (deferred base), or a new DMA mask for later maps */
			if (a & 1) {
				if (z->deferred)
					CHECK_EQ(iovx_dma_flush_deferred(z->dom), 0);
				break;
			}
			z->mask = (a >> 1) % 4 ? (1ull << (15 + (a >> 1) % 4)) - 1 : UINT64_MAX;
			CHECK_EQ(iovx_dma_set_mask(z->dom, z->mask == UINT64_MAX ? 0 : z->mask), 0);
			break;
		case 15:	/* a stop whose sync fails (strict base: no background flush) */
			if (z->deferred)
				break;
			sa = arena_pa((uint64_t)(a % ARENA_PAGES) * PG);
			stop_bytes(z, sa, PG, false, a & 0x40 ? -ETIMEDOUT : -EIO);
			break;
		}
		check_all(z);
	}
	teardown(z, mode >> 4 & 3);
	free(z);
	return 0;
}

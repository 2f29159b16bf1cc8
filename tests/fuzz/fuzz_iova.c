// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fuzz_iova.c - libFuzzer target for the IOVA allocator against a trivially-correct model.
 *
 * Input: a 5-byte header, then opcodes with their argument bytes (missing bytes read as 0).
 *   header  b0: bit 0 NO_CACHE, bits 1..4 max_cached_order (clamped to 10), bits 5..6
 *               depot_max, bit 7 start above 2^40; b1..b2 start (mod 4096); b3..b4 length
 *               (mod 8192) + 1.  CHECKED is always on.
 *   ops (byte % 10): 0,1 alloc(size byte, limit byte [+2]); 2 free a live range; 3 free a
 *   recently freed range again; 4 free a random (pfn, n); 5 free a live range with another
 *   size; 6 reserve(pfn, n); 7 reclaim; 8 audit; 9 a burst of allocs until -ENOMEM.
 *
 * Model: a byte per granule (free / live / reserved) and the list of live ranges. A live
 * range occupies its aligned block when its order is a cached class, else exactly n
 * granules (the header's rule); a twin domain asserts that rule before the run.
 * Checked on every call:
 *   I1  a returned range is aligned, > 0, inside the domain, below the limit, and overlaps
 *       nothing live or reserved; -ENOMEM only if no aligned block is free below the limit
 *   I5  bad input gets the documented errno and the figures do not move
 *   I6  audit closes, and its live and reserved match the model
 * A violation prints what happened and aborts, which libFuzzer and the replay binary catch.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iovx/iova.h>
#include "fuzz_input.h"

#define MAX_LEN		8192
#define MAX_LIVE	MAX_LEN
#define FREED_RING	64

enum { G_FREE, G_LIVE, G_RES };

struct range {
	uint64_t pfn, n;
};

struct model {
	struct iovx_iova_domain *dom;
	uint64_t start, end, lo;	/* lo: first usable pfn (pfn 0 excluded) */
	bool block_acct[64];
	uint8_t g[MAX_LEN];
	struct range live[MAX_LIVE];
	unsigned int nlive;
	struct range freed[FREED_RING];
	unsigned int nfreed;
	uint64_t live_granules, reserved_granules;	/* reserved: excluding pfn 0 */
	struct in rd;			/* the input (tests/common/fuzz_input.h) */
	unsigned long op;
};

static struct model M;

#define CHECK(cond, ...) do {							\
		if (!(cond)) {							\
			fprintf(stderr, "fuzz_iova: op %lu: ", M.op);		\
			fprintf(stderr, __VA_ARGS__);				\
			fprintf(stderr, "  [domain [%#" PRIx64 ", %#" PRIx64 ")]\n",	\
				M.start, M.end);				\
			abort();						\
		}								\
	} while (0)

static uint64_t rp2(uint64_t n)
{
	return n <= 1 ? 1 : 1ull << (64 - __builtin_clzll(n - 1));
}

static unsigned int order_of(uint64_t n)
{
	return n <= 1 ? 0 : 64 - __builtin_clzll(n - 1);
}

static uint64_t foot(uint64_t n)
{
	return M.block_acct[order_of(n)] ? rp2(n) : n;
}

static uint8_t get8(void)
{
	return (uint8_t)get(&M.rd, 1);
}

static uint16_t get16(void)
{
	uint16_t v = get8();

	return (uint16_t)(v | (uint16_t)get8() << 8);
}

static uint8_t *gran(uint64_t pfn)
{
	return &M.g[pfn - M.start];
}

/* [pfn, pfn + n) lies in the domain and every granule is in state s */
static bool all(uint64_t pfn, uint64_t n, int s)
{
	if (pfn < M.start || pfn + n > M.end || pfn + n < pfn)
		return false;
	for (uint64_t i = 0; i < n; i++)
		if (*gran(pfn + i) != s)
			return false;
	return true;
}

static bool any_live(uint64_t pfn, uint64_t n)
{
	uint64_t a = pfn > M.start ? pfn : M.start;
	uint64_t b = pfn + n < M.end ? pfn + n : M.end;

	for (uint64_t p = a; p < b; p++)
		if (*gran(p) == G_LIVE)
			return true;
	return false;
}

static void snap(struct iovx_iova_stats *st)
{
	CHECK(iovx_iova_get_stats(M.dom, st) == 0, "get_stats failed\n");
	CHECK(st->total == st->reserved + st->live + st->cached + st->depot + st->backend_free,
	      "get_stats does not close\n");
}

/* I5: a rejected call moved nothing (placement too, unless it may reclaim) */
static void unchanged(const struct iovx_iova_stats *a, bool placement, const char *what)
{
	struct iovx_iova_stats b;

	snap(&b);
	CHECK(a->live == b.live && a->reserved == b.reserved, "%s changed live/reserved: "
	      "%" PRIu64 "/%" PRIu64 " -> %" PRIu64 "/%" PRIu64 "\n", what, a->live,
	      a->reserved, b.live, b.reserved);
	if (placement)
		CHECK(a->cached == b.cached && a->depot == b.depot &&
		      a->backend_free == b.backend_free, "%s moved granules\n", what);
}

static void audit_check(void)
{
	struct iovx_iova_stats st;
	int r = iovx_iova_audit(M.dom, &st);

	CHECK(r == 0, "audit = %d (live %" PRIu64 ", model %" PRIu64 ")\n", r, st.live,
	      M.live_granules);
	CHECK(st.total == st.reserved + st.live + st.cached + st.depot + st.backend_free,
	      "audit sums do not close\n");
	CHECK(st.live == M.live_granules, "audit live %" PRIu64 " != model %" PRIu64 "\n",
	      st.live, M.live_granules);
	CHECK(st.total - st.reserved == M.end - M.lo - M.reserved_granules,
	      "usable %" PRIu64 " != model %" PRIu64 "\n", st.total - st.reserved,
	      M.end - M.lo - M.reserved_granules);
	CHECK(st.cached + st.depot <= st.hoard_bound, "hoard bound exceeded\n");
}

static void model_take(uint64_t pfn, uint64_t n)
{
	uint64_t f = foot(n);

	for (uint64_t i = 0; i < f; i++) {
		CHECK(*gran(pfn + i) == G_FREE, "I1: alloc(%" PRIu64 ") = %#" PRIx64 " overlaps a %s"
		      " granule at %#" PRIx64 "\n", n, pfn,
		      *gran(pfn + i) == G_LIVE ? "live" : "reserved", pfn + i);
		*gran(pfn + i) = G_LIVE;
	}
	M.live[M.nlive].pfn = pfn;
	M.live[M.nlive++].n = n;
	M.live_granules += f;
}

static void model_drop(unsigned int i)
{
	struct range r = M.live[i];
	uint64_t f = foot(r.n);

	for (uint64_t k = 0; k < f; k++)
		*gran(r.pfn + k) = G_FREE;
	M.live_granules -= f;
	M.live[i] = M.live[--M.nlive];
	M.freed[M.nfreed++ % FREED_RING] = r;
}

/* Is there an aligned block of p granules, wholly free, in [lo, top)? */
static bool free_block_exists(uint64_t p, uint64_t top)
{
	for (uint64_t b = (M.lo + p - 1) & ~(p - 1); b >= M.lo && b + p <= top; b += p) {
		if (all(b, p, G_FREE))
			return true;
	}
	return false;
}

static void op_alloc(uint64_t n, uint64_t limit)
{
	struct iovx_iova_stats a;
	uint64_t p = n <= (1ull << 63) ? rp2(n) : 0, top = limit < M.end ? limit : M.end;
	uint64_t first = p ? (M.lo + p - 1) & ~(p - 1) : 0;
	bool room = n && p && first >= M.lo && first + foot(n) <= top;
	int64_t r;

	snap(&a);
	r = iovx_iova_alloc(M.dom, n, limit);
	if (r == -EINVAL) {
		CHECK(!room, "alloc(%" PRIu64 ", limit %#" PRIx64 ") = -EINVAL with room\n", n,
		      limit);
		unchanged(&a, true, "alloc -EINVAL");
		return;
	}
	CHECK(n != 0, "alloc(0) = %" PRId64 "\n", r);
	if (r == -ENOMEM) {
		CHECK(!room || !free_block_exists(p, top), "alloc(%" PRIu64 ", limit %#" PRIx64
		      ") = -ENOMEM but an aligned block is free\n", n, limit);
		unchanged(&a, false, "alloc -ENOMEM");
		return;
	}
	CHECK(r > 0, "alloc(%" PRIu64 ", limit %#" PRIx64 ") = %" PRId64 "\n", n, limit, r);
	CHECK(((uint64_t)r & (p - 1)) == 0, "alloc(%" PRIu64 ") = %#" PRIx64 " misaligned\n", n,
	      (uint64_t)r);
	CHECK((uint64_t)r >= M.lo && (uint64_t)r + foot(n) <= M.end,
	      "alloc(%" PRIu64 ") = %#" PRIx64 " outside the domain\n", n, (uint64_t)r);
	CHECK((uint64_t)r + foot(n) <= limit, "alloc(%" PRIu64 ") = %#" PRIx64 " beyond limit %#"
	      PRIx64 "\n", n, (uint64_t)r, limit);
	CHECK(M.nlive < MAX_LIVE, "more live ranges than granules\n");
	model_take((uint64_t)r, n);
}

#define OK_0		(1u << 0)
#define OK_EINVAL	(1u << 1)
#define OK_EFAULT	(1u << 2)

static unsigned int bit_of(int r)
{
	return r == 0 ? OK_0 : r == -EINVAL ? OK_EINVAL : r == -EFAULT ? OK_EFAULT : 1u << 31;
}

/* The results the header allows for free(pfn, n) given the model; *match: the live range. */
static unsigned int expect_free(uint64_t pfn, uint64_t n, int *match)
{
	uint64_t p;

	*match = -1;
	if (!n || n > (1ull << 63))
		return OK_EINVAL;
	p = rp2(n);
	if (pfn & (p - 1))
		return OK_EINVAL;
	if (pfn < M.start || pfn >= M.end || pfn + n > M.end || pfn + n < pfn)
		return OK_EINVAL;
	if (pfn + p > M.end || pfn == 0)
		return OK_EINVAL | OK_EFAULT;	/* n inside but not its block; pfn 0 */
	for (unsigned int i = 0; i < M.nlive; i++) {
		if (M.live[i].pfn != pfn || order_of(M.live[i].n) != order_of(n))
			continue;
		*match = (int)i;
		if (M.live[i].n == n)
			return OK_0;
		/* the same block with another n: harmless only where the block is accounted */
		return M.block_acct[order_of(n)] ? OK_0 | OK_EFAULT : OK_EFAULT;
	}
	return OK_EFAULT;
}

static void op_free(uint64_t pfn, uint64_t n)
{
	struct iovx_iova_stats a;
	int match;
	unsigned int ok = expect_free(pfn, n, &match);
	int r;

	snap(&a);
	r = iovx_iova_free(M.dom, pfn, n);
	CHECK(bit_of(r) & ok, "free(%#" PRIx64 ", %" PRIu64 ") = %d, allowed mask %#x (0: 1, "
	      "-EINVAL: 2, -EFAULT: 4)%s\n", pfn, n, r, ok,
	      match >= 0 ? " [a live range starts there with another size]" : "");
	if (r == 0) {
		model_drop((unsigned int)match);
		return;
	}
	unchanged(&a, true, "rejected free");
}

static void op_reserve(uint64_t pfn, uint64_t n)
{
	struct iovx_iova_stats a;
	bool busy, bad = !n || pfn + n < pfn;
	uint64_t lo, hi;
	int r;

	snap(&a);
	r = iovx_iova_reserve(M.dom, pfn, n);
	if (bad) {
		CHECK(r == -EINVAL, "reserve(%#" PRIx64 ", %" PRIu64 ") = %d, want -EINVAL\n", pfn, n,
		      r);
		unchanged(&a, true, "reserve -EINVAL");
		return;
	}
	busy = any_live(pfn, n);
	if (r == -ENOMEM) {
		unchanged(&a, false, "reserve -ENOMEM");
		return;
	}
	CHECK(r == (busy ? -EBUSY : 0), "reserve(%#" PRIx64 ", %" PRIu64 ") = %d, want %d\n", pfn,
	      n, r, busy ? -EBUSY : 0);
	if (r) {
		unchanged(&a, false, "reserve -EBUSY");
		return;
	}
	lo = pfn > M.lo ? pfn : M.lo;
	hi = pfn + n < M.end ? pfn + n : M.end;
	for (uint64_t q = lo; q < hi; q++) {
		if (*gran(q) == G_FREE) {
			*gran(q) = G_RES;
			M.reserved_granules++;
		}
	}
}

static void op_reclaim(void)
{
	struct iovx_iova_stats a, b;
	int64_t got;

	snap(&a);
	got = iovx_iova_reclaim(M.dom);
	snap(&b);
	CHECK(got >= 0 && (uint64_t)got == a.cached + a.depot, "reclaim = %" PRId64 ", held %"
	      PRIu64 "\n", got, a.cached + a.depot);
	CHECK(b.cached == 0 && b.depot == 0 && b.live == a.live, "reclaim left %" PRIu64
	      " cached, %" PRIu64 " depot\n", b.cached, b.depot);
}

static uint64_t pick_size(uint8_t b)
{
	if (b < 120)
		return 1 + b % 16;
	if (b < 200)
		return 1 + (uint64_t)(b - 120) * 13;
	if (b < 250)
		return 1ull << ((b - 200) % 14);
	return b == 250 ? 0 : (b == 251 ? UINT64_MAX : (uint64_t)1 << (40 + b % 24));
}

static uint64_t pick_limit(void)
{
	uint8_t b = get8();

	if (b < 96)
		return IOVX_IOVA_NO_LIMIT;
	if (b < 192)
		return M.start + get16() % (M.end - M.start + 64);
	if (b < 224)
		return get16();
	return 1ull << (b % 64);
}

/* The header's accounting rule, asserted per order on a twin domain of the configuration. */
static void probe(const struct iovx_iova_config *cfg)
{
	struct iovx_iova_domain *twin;
	struct iovx_iova_stats st;

	for (unsigned int k = 0; k < 64; k++)
		M.block_acct[k] = !(cfg->flags & IOVX_IOVA_NO_CACHE) && k <= cfg->max_cached_order;
	if (iovx_iova_domain_create(cfg, &twin))
		return;
	for (unsigned int k = 2; k <= 14; k++) {
		uint64_t n = (1ull << (k - 1)) + 1;
		int64_t p = iovx_iova_alloc(twin, n, IOVX_IOVA_NO_LIMIT);

		if (p <= 0)
			continue;
		if (iovx_iova_get_stats(twin, &st) ||
		    st.live != (M.block_acct[k] ? rp2(n) : n))
			abort();
		iovx_iova_free(twin, (uint64_t)p, n);
	}
	iovx_iova_domain_destroy(twin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iovx_iova_config cfg;
	uint8_t h;
	uint64_t len;

	if (size < 5)
		return 0;
	memset(&M, 0, sizeof(M));
	M.rd.p = data;
	M.rd.n = size;
	h = get8();
	M.start = get16() % 4096 + ((h & 0x80) ? 1ull << 40 : 0);
	len = get16() % MAX_LEN + 1;
	M.end = M.start + len;
	M.lo = M.start ? M.start : 1;
	iovx_iova_config_init(&cfg, M.start, M.end);
	cfg.flags = IOVX_IOVA_CHECKED | ((h & 1) ? IOVX_IOVA_NO_CACHE : 0);
	cfg.max_cached_order = (h >> 1) & 15;
	if (cfg.max_cached_order > IOVX_IOVA_MAX_CACHED_ORDER)
		cfg.max_cached_order = IOVX_IOVA_MAX_CACHED_ORDER;
	cfg.depot_max = (h >> 5) & 3;
	if (iovx_iova_domain_create(&cfg, &M.dom)) {
		/* only pfn 0 in the domain is the one valid configuration a domain may refuse */
		CHECK(M.start == 0 && M.end == 1, "create failed\n");
		return 0;
	}
	probe(&cfg);
	audit_check();

	while (M.rd.n) {
		uint8_t op = get8() % 10;

		M.op++;
		switch (op) {
		case 0:
		case 1: {
			uint64_t n = pick_size(get8());

			op_alloc(n, pick_limit());
			break;
		}
		case 2:
			if (M.nlive) {
				struct range r = M.live[get8() % M.nlive];

				op_free(r.pfn, r.n);
			}
			break;
		case 3:
			if (M.nfreed) {
				unsigned int k = M.nfreed < FREED_RING ? M.nfreed : FREED_RING;
				struct range r = M.freed[get8() % k];

				op_free(r.pfn, r.n);
			}
			break;
		case 4: {
			uint64_t pfn = M.start + get16() % (len + 128);
			uint8_t b = get8();

			op_free(pfn >= 64 ? pfn - 64 : pfn, pick_size(b));
			break;
		}
		case 5:
			if (M.nlive) {
				struct range r = M.live[get8() % M.nlive];
				uint8_t b = get8();
				uint64_t n = (b & 1) ? r.n + 1 + b / 2 : (r.n > 1 ? r.n - 1 - b / 2 % (r.n - 1) : 2);

				op_free(r.pfn, n ? n : 1);
			}
			break;
		case 6: {
			uint64_t pfn = M.start + get16() % (len + 64);
			uint8_t b = get8();

			pfn = pfn >= 32 ? pfn - 32 : pfn;
			op_reserve(b == 255 ? UINT64_MAX - 3 : pfn, b == 254 ? 0 : 1 + b % 48);
			break;
		}
		case 7:
			op_reclaim();
			break;
		case 8:
			audit_check();
			break;
		case 9: {
			uint64_t n = 1 + get8() % 9;

			for (int i = 0; i < 64; i++) {
				unsigned int before = M.nlive;

				op_alloc(n, IOVX_IOVA_NO_LIMIT);
				if (M.nlive == before)
					break;
			}
			break;
		}
		}
	}
	audit_check();
	while (M.nlive) {
		struct range r = M.live[M.nlive - 1];

		CHECK(iovx_iova_free(M.dom, r.pfn, r.n) == 0, "final free failed\n");
		model_drop(M.nlive - 1);
	}
	audit_check();
	op_reclaim();
	{
		struct iovx_iova_stats st;

		snap(&st);
		CHECK(st.backend_free == st.total - st.reserved, "after the final reclaim, "
		      "backend_free %" PRIu64 " != usable %" PRIu64 "\n", st.backend_free,
		      st.total - st.reserved);
	}
	iovx_iova_domain_destroy(M.dom);
	return 0;
}

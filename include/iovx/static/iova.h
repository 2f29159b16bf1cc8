/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/static/iova.h - inline cached paths of iovx_iova_alloc and iovx_iova_free.
 *
 * Opt-in, like liburcu's _LGPL_SOURCE: define IOVX_INLINE_FASTPATH before including
 * <iovx/iova.h> and calls to iovx_iova_alloc/iovx_iova_free compile to these bodies. The
 * cached hit (x86-64, glibc >= 2.35, the domain in rseq mode, not checked) is a few
 * instructions in the caller, with no call and no atomic; every other case is one call to
 * the exported function, which does everything again from the start. Semantics are those
 * of the exported functions. The caller must link the libiovx these headers came with
 * (the domain layout, IOVX_IOVA_LAYOUT_VERSION, is part of the build).
 */
#ifndef IOVX_STATIC_IOVA_H
#define IOVX_STATIC_IOVA_H

#include <iovx/iova.h>
#include <iovx/static/iova_layout.h>

#include <iovx/static/config.h>
#if defined(__x86_64__) && defined(__GLIBC__) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && \
	!IOVX_UNDER_TSAN && !defined(IOVX_NO_RSEQ)
#include <iovx/static/rseq.h>
#define IOVX_INLINE_HAVE_RSEQ 1
extern const ptrdiff_t __rseq_offset;
#endif

/* The layout check: an object built from these headers needs the library of their layout. */
__attribute__((used)) static const int *const iovx_iova_layout_ref =
	&IOVX_IOVA_LAYOUT_SYM(IOVX_IOVA_LAYOUT_VERSION);

static inline uint64_t iovx_iova_order_inline(uint64_t npages)
{
	/*
	 * npages >= 1: ceil(log2(npages)) = the top bit of 2n - 1. gcc compiles the builtin to
	 * bsr plus a sign extension of its int result; the 64-bit bsr here is one instruction
	 * less on every call (constants still fold through the builtin).
	 */
#if defined(__x86_64__)
	if (!__builtin_constant_p(npages)) {
		uint64_t order;

		__asm__("bsrq %1, %0" : "=r"(order) : "rm"(2 * npages - 1) : "cc");
		return order;
	}
#endif
	return (uint64_t)(unsigned int)(__builtin_clzll(2 * npages - 1) ^ 63);
}

static inline uint64_t iovx_iova_ror_inline(uint64_t x, uint64_t k)
{
	return (x >> k) | (x << ((64 - k) & 63));	/* compiles to one ror */
}

/*
 * Validation on the cached path: npages - 1 < inline_np (a cached class, the domain in
 * rseq mode, not checked); alloc: the pop takes only an entry v with v + size <= limit_pfn
 * (every cached entry is a valid block of its class, so a limit above end_pfn needs no
 * clamp, and one below the first block's end finds nothing and goes to the exported call,
 * which returns -EINVAL); free: aligned and inside the domain, one compare (blk_lo).
 */
static inline int64_t iovx_iova_alloc_inline(struct iovx_iova_domain *dom, uint64_t npages,
					     uint64_t limit_pfn)
{
#ifdef IOVX_INLINE_HAVE_RSEQ
	const struct iovx_iova_fast *f = (const struct iovx_iova_fast *)dom;

	if (__builtin_expect(dom && npages - 1 < f->inline_np, 1)) {
		uint64_t order = iovx_iova_order_inline(npages);
		uint64_t v;

		if (order >= IOVX_IOVA_NR_CLASSES)	/* as in the free below */
			__builtin_unreachable();
		v = iovx_rseq_cls_pop_at(__rseq_offset, f->caches, order, limit_pfn,
						  1ull << order);

		if (__builtin_expect(v != 0, 1))
			return (int64_t)v;
	}
#endif
	return (iovx_iova_alloc)(dom, npages, limit_pfn);
}

static inline int iovx_iova_free_inline(struct iovx_iova_domain *dom, uint64_t pfn,
					uint64_t npages)
{
#ifdef IOVX_INLINE_HAVE_RSEQ
	const struct iovx_iova_fast *f = (const struct iovx_iova_fast *)dom;

	if (__builtin_expect(dom && npages - 1 < f->inline_np, 1)) {
		uint64_t order = iovx_iova_order_inline(npages);

		/* inline_np <= 2^(NR_CLASSES - 1): no cost, tells the compiler what holds */
		if (order >= IOVX_IOVA_NR_CLASSES)
			__builtin_unreachable();
		if (__builtin_expect(iovx_iova_ror_inline(pfn, order) - f->blk_lo[order] <=
				     f->blk_span[order], 1) &&
		    __builtin_expect(iovx_rseq_cls_push_at(__rseq_offset, f->caches, order,
							   f->mag_cap[order], pfn), 1))
			return 0;
	}
#endif
	return (iovx_iova_free)(dom, pfn, npages);
}

#endif /* IOVX_STATIC_IOVA_H */

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

static inline unsigned int iovx_iova_order_inline(uint64_t npages)
{
	/* npages >= 1: ceil(log2(npages)) without a branch */
	return 63u - (unsigned int)__builtin_clzll(2 * npages - 1);
}

static inline int64_t iovx_iova_alloc_inline(struct iovx_iova_domain *dom, uint64_t npages,
					     uint64_t limit_pfn)
{
#ifdef IOVX_INLINE_HAVE_RSEQ
	const struct iovx_iova_fast *f = (const struct iovx_iova_fast *)dom;

	if (__builtin_expect(dom && npages - 1 < (1ull << 62) && f->inline_ok, 1)) {
		unsigned int order = iovx_iova_order_inline(npages);
		uint64_t lim = limit_pfn < f->end_pfn ? limit_pfn : f->end_pfn;

		if (__builtin_expect(order < f->ncls && lim >= f->min_lim[order], 1)) {
			uint64_t v = iovx_rseq_stack_pop_at(__rseq_offset, f->caches,
							    IOVX_IOVA_LOADED_OFF(order),
							    lim - (1ull << order));
			if (__builtin_expect(v != 0, 1))
				return (int64_t)v;
		}
	}
#endif
	return (iovx_iova_alloc)(dom, npages, limit_pfn);
}

static inline int iovx_iova_free_inline(struct iovx_iova_domain *dom, uint64_t pfn,
					uint64_t npages)
{
#ifdef IOVX_INLINE_HAVE_RSEQ
	const struct iovx_iova_fast *f = (const struct iovx_iova_fast *)dom;

	if (__builtin_expect(dom && npages - 1 < (1ull << 62) && f->inline_ok, 1)) {
		unsigned int order = iovx_iova_order_inline(npages);

		if (__builtin_expect(order < f->ncls && !(pfn & ((1ull << order) - 1)) &&
				     pfn - f->start_pfn <= f->span[order], 1) &&
		    __builtin_expect(iovx_rseq_stack_push_at(__rseq_offset, f->caches,
							     IOVX_IOVA_LOADED_OFF(order),
							     f->mag_cap[order], pfn), 1))
			return 0;
	}
#endif
	return (iovx_iova_free)(dom, pfn, npages);
}

#endif /* IOVX_STATIC_IOVA_H */

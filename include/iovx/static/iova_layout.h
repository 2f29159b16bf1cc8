/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/static/iova_layout.h - the part of an IOVA domain that the inline fast path reads.
 *
 * Not an API: the first member of every struct iovx_iova_domain, exposed only so that
 * iovx/static/iova.h can inline the cached alloc and free (liburcu's static/ headers and
 * mimalloc's inline fast paths do the same). Its layout is tied to the library build it
 * came with; IOVX_IOVA_LAYOUT_VERSION changes whenever it changes.
 */
/*
 * Before the guard: with IOVX_INLINE_FASTPATH, iovx/iova.h includes iovx/static/iova.h,
 * which comes back here and must find the layout whole; when this header is included
 * first, that inner inclusion defines it and the outer one is then skipped.
 */
#include <iovx/iova.h>

#ifndef IOVX_STATIC_IOVA_LAYOUT_H
#define IOVX_STATIC_IOVA_LAYOUT_H

#include <stdint.h>

#define IOVX_IOVA_LAYOUT_VERSION 3
/*
 * The library defines iovx_iova_layout_v<IOVX_IOVA_LAYOUT_VERSION>; every file built with
 * the inline path refers to the one of its headers (iovx/static/iova.h), so a program
 * whose headers and library disagree on the layout fails to link, naming the symbol.
 */
#define IOVX_IOVA_LAYOUT_SYM2(v) iovx_iova_layout_v##v
#define IOVX_IOVA_LAYOUT_SYM(v) IOVX_IOVA_LAYOUT_SYM2(v)
extern const int IOVX_IOVA_LAYOUT_SYM(IOVX_IOVA_LAYOUT_VERSION);
#define IOVX_IOVA_NR_CLASSES (IOVX_IOVA_MAX_CACHED_ORDER + 1)
/* byte offset, inside a per-CPU cache, of the pointer to class c's loaded magazine */
#define IOVX_IOVA_LOADED_OFF(c) (8u + 8u * (unsigned int)(c))
/* ... and of the pointer to its previous magazine */
#define IOVX_IOVA_PREV_OFF(c) (8u + 8u * IOVX_IOVA_NR_CLASSES + 8u * (unsigned int)(c))

struct iovx_pcpu_cache;

struct iovx_iova_fast {
	struct iovx_pcpu_cache *caches;	/* per-CPU caches, 256 bytes apart */
	/*
	 * npages - 1 < inline_np: a cached class the restartable path may serve (npages 0
	 * wraps and fails the test). 2^(ncls - 1) in rseq mode without checked mode, else 0,
	 * so one compare covers "rseq usable", "not checked", npages >= 1 and the class range.
	 */
	uint64_t inline_np;
	uint64_t start_pfn, end_pfn;
	uint32_t ncls;			/* cached classes: orders 0 .. ncls-1 */
	uint32_t pad;
	uint32_t mag_cap[IOVX_IOVA_NR_CLASSES];	/* entries a magazine of the class holds */
	uint32_t pad2;
	/*
	 * Per cached class, the valid blocks as indices (pfn >> order): blk_lo is the first
	 * (at or above start_pfn), blk_lo + blk_span the last (ending at or below end_pfn).
	 * A free checks ror(pfn, order) - blk_lo <= blk_span: a misaligned pfn rotates its low
	 * bits to the top and fails the same compare as an out-of-range one.
	 */
	uint64_t blk_lo[IOVX_IOVA_NR_CLASSES];
	uint64_t blk_span[IOVX_IOVA_NR_CLASSES];
};

#endif /* IOVX_STATIC_IOVA_LAYOUT_H */

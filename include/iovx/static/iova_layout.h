/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/static/iova_layout.h - the part of an IOVA domain that the inline fast path reads.
 *
 * Not an API: the first member of every struct iovx_iova_domain, exposed only so that
 * iovx/static/iova.h can inline the cached alloc and free (liburcu's static/ headers and
 * mimalloc's inline fast paths do the same). Its layout is tied to the library build it
 * came with; IOVX_IOVA_LAYOUT_VERSION changes whenever it changes.
 */
#ifndef IOVX_STATIC_IOVA_LAYOUT_H
#define IOVX_STATIC_IOVA_LAYOUT_H

#include <stdint.h>
#include <iovx/iova.h>

#define IOVX_IOVA_LAYOUT_VERSION 2
#define IOVX_IOVA_NR_CLASSES (IOVX_IOVA_MAX_CACHED_ORDER + 1)
/* byte offset, inside a per-CPU cache, of the pointer to class c's loaded magazine */
#define IOVX_IOVA_LOADED_OFF(c) (8u + 8u * (unsigned int)(c))

struct iovx_pcpu_cache;

struct iovx_iova_fast {
	struct iovx_pcpu_cache *caches;	/* per-CPU caches, 256 bytes apart */
	uint64_t start_pfn, end_pfn;
	uint32_t ncls;			/* cached classes: orders 0 .. ncls-1 */
	uint32_t inline_ok;		/* 1: rseq mode and no checked mode */
	uint32_t mag_cap[IOVX_IOVA_NR_CLASSES];	/* entries a magazine of the class holds */
	uint32_t pad;
	/*
	 * Per cached class, precomputed so the fast path validates with two compares:
	 * min_lim: the lowest limit that still admits an aligned block above start_pfn;
	 * span:    end_pfn - size - start_pfn, the largest valid pfn - start_pfn of a block.
	 */
	uint64_t min_lim[IOVX_IOVA_NR_CLASSES];
	uint64_t span[IOVX_IOVA_NR_CLASSES];
};

#endif /* IOVX_STATIC_IOVA_LAYOUT_H */

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * lx_iova.h - the benchmark's window onto Linux's own drivers/iommu/iova.c, compiled in
 * userspace (lx_iova.c). Plain C: no kernel type leaks out, so the benchmark's own code never
 * sees linux_compat.h.
 *
 * Limits are exclusive here, as in iovx_iova_alloc(); the wrapper passes limit - 1 to
 * alloc_iova_fast(), whose limit_pfn is inclusive.
 */
#ifndef IOVX_BENCH_LX_IOVA_H
#define IOVX_BENCH_LX_IOVA_H

#include <stdint.h>

struct iovx_lx_domain;

/* 1 when the kernel sources were extracted and compiled in, else 0. */
int iovx_lx_available(void);
/* The kernel source the baseline was built from ("linux-source-6.12"), or "". */
const char *iovx_lx_source(void);

/*
 * iova_cache_get() + init_iova_domain(granule, start_pfn) + iova_domain_init_rcaches().
 * 0, -ENOSYS (baseline not built in), -EINVAL, -ENOMEM.
 */
int iovx_lx_domain_create(unsigned long granule, unsigned long start_pfn,
			  struct iovx_lx_domain **out);
/* put_iova_domain() + iova_cache_put(). NULL is accepted. */
void iovx_lx_domain_destroy(struct iovx_lx_domain *dom);

/* alloc_iova_fast(size, limit_pfn - 1, flush_rcache = true): first pfn, or 0 on failure. */
uint64_t iovx_lx_alloc(struct iovx_lx_domain *dom, uint64_t size, uint64_t limit_pfn);
/* free_iova_fast(pfn, size). */
void iovx_lx_free(struct iovx_lx_domain *dom, uint64_t pfn, uint64_t size);
/* reserve_iova(lo, hi - 1): pfns [lo, hi) taken out. 0 or -ENOMEM (-ENOSYS: no baseline). */
int iovx_lx_reserve(struct iovx_lx_domain *dom, uint64_t lo, uint64_t hi);

/* The number of per-CPU slots the compat layer uses, and its CPU-number source. */
unsigned int iovx_lx_nr_cpus(void);
const char *iovx_lx_cpu_source(void);

#endif /* IOVX_BENCH_LX_IOVA_H */

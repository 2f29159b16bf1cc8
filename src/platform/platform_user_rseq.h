/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * platform_user_rseq.h - restartable-sequence per-CPU operations for libiovx (x86-64,
 * glibc >= 2.35). The sequences themselves live in iovx/static/rseq.h, which the optional
 * inline fast path of the public headers shares; this header binds them to the library's
 * private copy of __rseq_offset and declares the set-up and the remote fence.
 */
#ifndef IOVX_PLATFORM_USER_RSEQ_H
#define IOVX_PLATFORM_USER_RSEQ_H

#include <stddef.h>
#include <stdint.h>
#include <iovx/static/rseq.h>

#define IOVX_HAVE_RSEQ 1

extern const ptrdiff_t __rseq_offset;	/* glibc */
extern int iovx_rseq_usable;		/* set once by iovx_rseq_init() */
/* a private copy of __rseq_offset: one RIP-relative load instead of a GOT walk */
extern ptrdiff_t iovx_rseq_off __attribute__((visibility("hidden")));

int iovx_rseq_init(void);		/* 0 when rseq and the membarrier fence work */
int iovx_rseq_fence_cpu(unsigned int cpu);

struct iovx_rseq_area {
	uint32_t cpu_id_start;
	uint32_t cpu_id;
	uint64_t rseq_cs;
	uint32_t flags;
};

static inline struct iovx_rseq_area *iovx_rseq_area(void)
{
	return (struct iovx_rseq_area *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

static inline unsigned int iovx_rseq_cpu_id(void)
{
	unsigned int cpu;

	if (!iovx_rseq_usable)
		return ~0u;
	__asm__ __volatile__("movl %%fs:4(%1), %0" : "=r"(cpu) : "r"(iovx_rseq_off));
	return cpu;
}

static inline uint64_t iovx_rseq_stack_pop(void *slots, size_t off, uint64_t max)
{
	return iovx_rseq_stack_pop_at(iovx_rseq_off, slots, off, max);
}

static inline int iovx_rseq_stack_push(void *slots, size_t off, uint32_t cap, uint64_t v)
{
	return iovx_rseq_stack_push_at(iovx_rseq_off, slots, off, cap, v);
}

static inline void *iovx_rseq_slot_detach(void *slots, uint64_t owner)
{
	return iovx_rseq_slot_detach_at(iovx_rseq_off, slots, owner);
}

#endif /* IOVX_PLATFORM_USER_RSEQ_H */

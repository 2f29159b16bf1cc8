/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/static/rseq.h - restartable-sequence per-CPU stack operations (x86-64, glibc >= 2.35).
 *
 * Inline bodies shared by libiovx (src/platform/platform_user_rseq.h) and by the optional
 * inline fast path of iovx/static/iova.h. Not an API of its own: the layout below is the
 * allocator's, and the functions are only valid on caches a domain set up.
 *
 * What and why: a per-CPU cache whose fast path has no atomic read-modify-write. glibc
 * registers a struct rseq for every thread (at __rseq_offset from the thread pointer); a
 * critical section described by a struct rseq_cs is aborted by the kernel if the thread is
 * preempted, migrated or signalled before its single commit instruction, and resumes at the
 * abort handler, which here restarts the whole sequence. The idea is the one of tcmalloc's
 * per-CPU caches and librseq's percpu operations; the code is ours.
 *
 * Data shape (passed as parameters):
 *   rs:      the thread pointer offset of struct rseq (glibc's __rseq_offset)
 *   slots:   array of per-CPU caches, 1 << IOVX_RSEQ_SLOT_SHIFT bytes apart; the first word
 *            of a cache is its claim word: 0 = attached (the fast path may use it),
 *            non-zero = detached (owned by one thread; the fast path must bypass)
 *   off:     byte offset inside the cache of a pointer to a stack
 *   stack:   { uint32_t n; uint32_t pad; uint64_t v[cap]; }
 *            a stack whose n is ~0u (the allocator's shared "no magazine yet" stack) makes
 *            every operation miss: a pop tests n as signed (n <= 0 misses), a push tests it
 *            unsigned (n >= cap misses), at no cost over the plain tests. Capacities stay
 *            below 2^31.
 *
 * Invariants: only a thread running on CPU c, inside one of these sequences, or the thread
 * that detached cache c, modifies it. Two sequences on one CPU never interleave (the kernel
 * aborts the preempted one). A remote detach is a CAS on the claim word followed by a
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) fence on that CPU, after which no
 * sequence that saw the cache attached can still commit.
 *
 * Progress: each operation is lock-free: it restarts only when its own thread was preempted,
 * migrated or signalled; no other thread's state can make it wait.
 *
 * Ordering edges:
 *   E-RS1 the commit store of pop/push is plain: the data is per-CPU and only the same CPU
 *         (program order) or a fenced remote owner (membarrier, a full barrier on the target
 *         CPU) reads it.
 *   E-RS2 detach's commit is a locked cmpxchg (full barrier) pairing with the owner's
 *         store-release on re-attach and with a remote detacher's CAS.
 */
/*
 * Before the guard: included first, this header needs the layout, and the layout header
 * (through iovx/iova.h with IOVX_INLINE_FASTPATH) comes back here, fully, once the layout
 * is known.
 */
#include <iovx/static/iova_layout.h>

#ifndef IOVX_STATIC_RSEQ_H
#define IOVX_STATIC_RSEQ_H

#include <stddef.h>
#include <stdint.h>

#define IOVX_RSEQ_SLOT_SHIFT 8

/*
 * Descriptor and abort handler. The abort handler is preceded by glibc's signature
 * (0x53053053, encoded as the operand of a ud1 so the bytes disassemble), and restarts the
 * sequence from the descriptor store (label 6).
 */
#define IOVX_RSEQ_CS(start, post, abort_lbl)					\
	".pushsection __rseq_cs, \"aw\"\n\t"					\
	".balign 32\n\t"							\
	"3:\n\t"								\
	".long 0x0, 0x0\n\t"							\
	".quad " #start "f, (" #post "f - " #start "f), " #abort_lbl "f\n\t"	\
	".popsection\n\t"

#define IOVX_RSEQ_ABORT(abort_lbl, restart)					\
	".pushsection __rseq_failure, \"ax\"\n\t"				\
	".byte 0x0f, 0xb9, 0x3d\n\t"						\
	".long 0x53053053\n\t"							\
	#abort_lbl ":\n\t"							\
	"jmp " #restart "b\n\t"							\
	".popsection\n\t"

/*
 * End of a sequence that returns a value in [ret]: a miss (label 5) returns 0, a commit
 * (label 2, followed by whatever sets [ret]) jumps over it to label 7.
 */
#define IOVX_RSEQ_MISS_RETURNS_ZERO						\
	"jmp 7f\n\t"								\
	"5:\n\t"								\
	"xorl %k[ret], %k[ret]\n\t"						\
	"7:\n\t"								\
	IOVX_RSEQ_ABORT(4, 6)

/*
 * Start of every sequence: publish the descriptor (label 6, where an abort restarts), enter
 * the critical section (label 1) and find this CPU's cache: %r<reg> = slots + (cpu << 8),
 * with reg "ax" or "cx" (%rax carries the descriptor's address first).
 */
#define IOVX_RSEQ_FIND_CACHE(reg)						\
	"6:\n\t"								\
	"leaq 3b(%%rip), %%rax\n\t"						\
	"movq %%rax, %%fs:8(%[rs])\n\t"					\
	"1:\n\t"								\
	"movl %%fs:4(%[rs]), %%e" reg "\n\t"					\
	"shlq $8, %%r" reg "\n\t"						\
	"addq %[slots], %%r" reg "\n\t"

/* The cache (%rax) is detached: leave through 'exit' (a local label or an asm goto's). */
#define IOVX_RSEQ_IF_DETACHED(exit)						\
	"cmpq $0, (%%rax)\n\t"						\
	"jnz " exit "\n\t"

/*
 * Start of a stack sequence: find this CPU's cache (%rax), bail out to label 5 if it is
 * detached, load the stack pointer (%rdx) and its count (%ecx).
 */
#define IOVX_RSEQ_STACK_ENTER							\
	IOVX_RSEQ_FIND_CACHE("ax")						\
	IOVX_RSEQ_IF_DETACHED("5f")						\
	"movq (%%rax, %[off]), %%rdx\n\t"					\
	"movl (%%rdx), %%ecx\n\t"

/*
 * Pop the top value of this CPU's stack at byte offset 'off' if it is <= max.
 * Returns the value, or 0 when the slot is detached, the stack empty or the top above max
 * (the caller's slow path then decides). 0 is never a stored value.
 */
static inline uint64_t iovx_rseq_stack_pop_at(ptrdiff_t rs, void *slots, size_t off,
					       uint64_t max)
{
	uint64_t ret;

	__asm__ __volatile__(
		IOVX_RSEQ_CS(1, 2, 4)
		IOVX_RSEQ_STACK_ENTER
		"testl %%ecx, %%ecx\n\t"
		"jle 5f\n\t"				/* empty, or unpopulated (n = ~0) */
		"movq (%%rdx, %%rcx, 8), %[ret]\n\t"	/* v[n-1] sits at 8 * n */
		"cmpq %[max], %[ret]\n\t"
		"ja 5f\n\t"
		"decl %%ecx\n\t"
		"movl %%ecx, (%%rdx)\n\t"		/* commit (E-RS1) */
		"2:\n\t"
		IOVX_RSEQ_MISS_RETURNS_ZERO
		: [ret] "=&r"(ret)
		: [rs] "r"(rs), [slots] "r"(slots), [off] "r"(off), [max] "r"(max)
		: "rax", "rcx", "rdx", "memory", "cc");
	return ret;
}

/* Push v onto this CPU's stack at 'off' if it holds fewer than cap. Returns 1 or 0. */
static inline int iovx_rseq_stack_push_at(ptrdiff_t rs, void *slots, size_t off, uint32_t cap,
					  uint64_t v)
{
	int ret;

	__asm__ __volatile__(
		IOVX_RSEQ_CS(1, 2, 4)
		IOVX_RSEQ_STACK_ENTER
		"cmpl %[cap], %%ecx\n\t"
		"jae 5f\n\t"
		"incl %%ecx\n\t"
		"movq %[v], (%%rdx, %%rcx, 8)\n\t"	/* v[n] sits at 8 * (n + 1); unpublished */
		"movl %%ecx, (%%rdx)\n\t"		/* commit (E-RS1) */
		"2:\n\t"
		"movl $1, %[ret]\n\t"
		IOVX_RSEQ_MISS_RETURNS_ZERO
		: [ret] "=&r"(ret)
		: [rs] "r"(rs), [slots] "r"(slots), [off] "r"(off), [cap] "r"(cap),
		  [v] "r"(v)
		: "rax", "rcx", "rdx", "memory", "cc");
	return ret;
}

/*
 * The allocator's own cached paths, for its layout: a cache holds per class a loaded and a
 * previous stack pointer, at byte IOVX_IOVA_LOADED_OFF(cls) and IOVX_IOVA_PREV_OFF(cls).
 * Pop takes from the loaded stack, or from the previous one when the loaded one is empty;
 * push puts on the loaded stack, or on the previous one when the loaded one is full; both
 * inside one sequence, so the pair acts as one cache of twice the size and a CPU needs the
 * depot only when both are empty (alloc) or both full (free). A miss is a jump (asm goto)
 * rather than a flag the caller tests again. asm goto with outputs needs gcc >= 11 or
 * clang >= 11; older compilers get the flag form on the loaded stack only.
 */
#if (defined(__clang__) && __clang_major__ >= 11) || \
	(!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#define IOVX_RSEQ_ASM_GOTO_OUTPUT 1
#endif

/*
 * Pops the top v of class cls's stacks if v + size <= lim (the block ends at or below the
 * limit; v + size cannot wrap: v < 2^52, size <= 2^IOVX_IOVA_MAX_CACHED_ORDER); 0 (never a
 * stored value) on a miss.
 */
static inline uint64_t iovx_rseq_cls_pop_at(ptrdiff_t rs, void *slots, uint64_t cls,
					    uint64_t lim, uint64_t size)
{
#ifdef IOVX_RSEQ_ASM_GOTO_OUTPUT
	uint64_t ret;

	__asm__ goto(
		IOVX_RSEQ_CS(1, 2, 4)
		IOVX_RSEQ_FIND_CACHE("ax")
		IOVX_RSEQ_IF_DETACHED("%l[miss]")
		"movq %c[lo](%%rax, %[cls], 8), %%rdx\n\t"
		"movl (%%rdx), %%ecx\n\t"
		"testl %%ecx, %%ecx\n\t"
		"jg 8f\n\t"				/* signed: n = ~0 is "none" */
		"movq %c[po](%%rax, %[cls], 8), %%rdx\n\t"	/* loaded empty: previous */
		"movl (%%rdx), %%ecx\n\t"
		"testl %%ecx, %%ecx\n\t"
		"jle %l[miss]\n\t"
		"8:\n\t"
		"movq (%%rdx, %%rcx, 8), %[ret]\n\t"	/* v[n-1] sits at 8 * n */
		"leaq (%[ret], %[size]), %%rax\n\t"
		"cmpq %[lim], %%rax\n\t"
		"ja %l[miss]\n\t"
		"decl %%ecx\n\t"
		"movl %%ecx, (%%rdx)\n\t"		/* commit (E-RS1) */
		"2:\n\t"
		IOVX_RSEQ_ABORT(4, 6)
		: [ret] "=&r"(ret)
		: [rs] "r"(rs), [slots] "r"(slots), [cls] "r"(cls), [lim] "r"(lim),
		  [size] "r"(size), [lo] "i"(IOVX_IOVA_LOADED_OFF(0)),
		  [po] "i"(IOVX_IOVA_PREV_OFF(0))
		: "rax", "rcx", "rdx", "memory", "cc"
		: miss);
	if (ret == 0)
		__builtin_unreachable();	/* 0 is never stored: lets callers drop a test */
	return ret;
miss:
	return 0;
#else
	return lim < size ? 0 : iovx_rseq_stack_pop_at(rs, slots, IOVX_IOVA_LOADED_OFF(cls),
						       lim - size);
#endif
}

/* Pushes v onto class cls's stacks if one holds fewer than cap entries: 1, or 0 on a miss. */
static inline int iovx_rseq_cls_push_at(ptrdiff_t rs, void *slots, uint64_t cls, uint32_t cap,
					uint64_t v)
{
#ifdef IOVX_RSEQ_ASM_GOTO_OUTPUT
	__asm__ goto(
		IOVX_RSEQ_CS(1, 2, 4)
		IOVX_RSEQ_FIND_CACHE("ax")
		IOVX_RSEQ_IF_DETACHED("%l[miss]")
		"movq %c[lo](%%rax, %[cls], 8), %%rdx\n\t"
		"movl (%%rdx), %%ecx\n\t"
		"cmpl %[cap], %%ecx\n\t"
		"jb 8f\n\t"
		"movq %c[po](%%rax, %[cls], 8), %%rdx\n\t"	/* loaded full: previous */
		"movl (%%rdx), %%ecx\n\t"
		"cmpl %[cap], %%ecx\n\t"
		"jae %l[miss]\n\t"
		"8:\n\t"
		"incl %%ecx\n\t"
		"movq %[v], (%%rdx, %%rcx, 8)\n\t"	/* v[n] sits at 8 * (n + 1); unpublished */
		"movl %%ecx, (%%rdx)\n\t"		/* commit (E-RS1) */
		"2:\n\t"
		IOVX_RSEQ_ABORT(4, 6)
		:
		: [rs] "r"(rs), [slots] "r"(slots), [cls] "r"(cls), [cap] "r"(cap),
		  [v] "r"(v), [lo] "i"(IOVX_IOVA_LOADED_OFF(0)), [po] "i"(IOVX_IOVA_PREV_OFF(0))
		: "rax", "rcx", "rdx", "memory", "cc"
		: miss);
	return 1;
miss:
	return 0;
#else
	return iovx_rseq_stack_push_at(rs, slots, IOVX_IOVA_LOADED_OFF(cls), cap, v);
#endif
}

/*
 * Replaces this CPU's loaded magazine of class cls by m, if the cache is attached and the
 * loaded magazine holds no entry (swap_empty) or at least cap entries (swap_full), both a
 * count in [lo, lo + span] (swap_at, unsigned: n - lo <= span), and is not also the
 * previous magazine (a cache's first magazine of a class serves as both until its first
 * exchange). The commit is the store of m; the magazine it replaced is returned, now owned
 * by the caller alone (no sequence holds a reference across its commit, and a detacher
 * either aborted it or sees it committed). NULL when the condition does not hold.
 */
static inline void *iovx_rseq_cls_swap_at(ptrdiff_t rs, void *slots, uint64_t cls,
					  uint32_t lo, uint32_t span, void *m)
{
	void *ret;

	__asm__ __volatile__(
		IOVX_RSEQ_CS(1, 2, 4)
		IOVX_RSEQ_FIND_CACHE("ax")
		IOVX_RSEQ_IF_DETACHED("5f")
		"movq %c[lo](%%rax, %[cls], 8), %[ret]\n\t"
		"cmpq %c[po](%%rax, %[cls], 8), %[ret]\n\t"	/* loaded is also previous */
		"je 5f\n\t"
		"movl (%[ret]), %%ecx\n\t"
		"subl %[n_lo], %%ecx\n\t"
		"cmpl %[span], %%ecx\n\t"		/* n outside [n_lo, n_lo + span] */
		"ja 5f\n\t"
		"movq %[m], %c[lo](%%rax, %[cls], 8)\n\t"	/* commit (E-RS1) */
		"2:\n\t"
		IOVX_RSEQ_MISS_RETURNS_ZERO
		: [ret] "=&r"(ret)
		: [rs] "r"(rs), [slots] "r"(slots), [cls] "r"(cls), [n_lo] "r"(lo),
		  [span] "r"(span), [m] "r"(m), [lo] "i"(IOVX_IOVA_LOADED_OFF(0)),
		  [po] "i"(IOVX_IOVA_PREV_OFF(0))
		: "rax", "rcx", "memory", "cc");
	return ret;
}

static inline void *iovx_rseq_cls_swap_empty_at(ptrdiff_t rs, void *slots, uint64_t cls,
						void *m)
{
	return iovx_rseq_cls_swap_at(rs, slots, cls, 0, 0, m);
}

static inline void *iovx_rseq_cls_swap_full_at(ptrdiff_t rs, void *slots, uint64_t cls,
					       uint32_t cap, void *m)
{
	return iovx_rseq_cls_swap_at(rs, slots, cls, cap, UINT32_MAX - cap, m);
}

/*
 * Detach this CPU's cache: its claim word goes from 0 to 'owner' (non-zero) with a locked
 * cmpxchg as the commit. Returns the cache, now owned exclusively by the caller, or NULL
 * when it was already detached (by another thread of this CPU, or by a remote reclaimer).
 */
static inline void *iovx_rseq_slot_detach_at(ptrdiff_t rs, void *slots, uint64_t owner)
{
	void *ret;

	__asm__ __volatile__(
		IOVX_RSEQ_CS(1, 2, 4)
		IOVX_RSEQ_FIND_CACHE("cx")
		"xorl %%eax, %%eax\n\t"
		"lock cmpxchgq %[owner], (%%rcx)\n\t"	/* commit (E-RS2) */
		"2:\n\t"
		"jnz 5f\n\t"
		"movq %%rcx, %[ret]\n\t"
		IOVX_RSEQ_MISS_RETURNS_ZERO
		: [ret] "=&r"(ret)
		: [rs] "r"(rs), [slots] "r"(slots), [owner] "r"(owner)
		: "rax", "rcx", "memory", "cc");
	return ret;
}

#endif /* IOVX_STATIC_RSEQ_H */

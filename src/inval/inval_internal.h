/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * inval_internal.h - the parts of the invalidation context (portable: kernel and userspace).
 *
 *   fq.c     the per-CPU flush-queue ring: bounded, multi-producer (threads sharing a CPU
 *            slot), single-consumer (whoever holds the ring's release flag: normally a
 *            thread of the ring's own CPU slot, for an idle ring the timer/poll/flush);
 *            flushes read and mark cells (taken) without consuming them
 *   inval.c  the context: generations, triggers, the flush, release and quarantine, API
 *
 * Contract suffixes: _mpsc may be called by any number of producers at once; _sc only by
 * the current holder of the ring's release flag (fq_ring.releasing).
 */
#ifndef IOVX_INVAL_INTERNAL_H
#define IOVX_INVAL_INTERNAL_H

#include "platform.h"
#include <iovx/inval.h>
#include <iovx/iova.h>

/* ------------------------------------------------------------------ fq.c */

/*
 * One queued entry. seq is the cell's sequence word (Vyukov's bounded queue): pos when the
 * cell is free for the producer that claims position pos, pos + 1 once that producer has
 * published it, pos + size once the consumer released it for the next lap.
 *
 * taken is the entry's flush state (inval.c, E-G6): FQ_TK_FREE | pos while no flush covers
 * it (the lap's position tags it, so a flush cannot mistake a next lap for this one);
 * F << 2 while flush F covers it (F took it, or stole it from an older flush that ran late);
 * F << 2 | FQ_TK_DONE once a flush that covered it completed its sync; | FQ_TK_BAD if that
 * sync failed (quarantine). Only a DONE cell may be consumed.
 *
 * pfn, npages, gen and t_enq are read by flushes that may race with the cell's next lap
 * (a flush whose cell was stolen and released meanwhile): they are relaxed atomics, and a
 * flush validates what it read by re-reading taken (E-G6). The page list is read only by
 * the consumer.
 */
#define FQ_TK_FREE	(1ull << 63)
#define FQ_TK_DONE	1ull
#define FQ_TK_BAD	2ull

struct fq_cell {
	uint64_t seq;
	uint64_t taken;			/* flush state, see above; atomic */
	uint64_t pfn;			/* atomic (relaxed) */
	uint64_t npages;		/* atomic (relaxed) */
	uint64_t gen;			/* start_gen read before publishing; atomic (relaxed) */
	uint64_t t_enq;			/* iovx_now_ns() at publication; atomic (relaxed) */
	struct iovx_iommu_freed_page *pg_head;
	struct iovx_iommu_freed_page **pg_tail;
	uint64_t pg_nr;
};

struct fq_ring {
	uint64_t tail IOVX_ALIGNED(IOVX_CACHELINE);	/* next position to claim (producers) */
	uint64_t head IOVX_ALIGNED(IOVX_CACHELINE);	/* next position to consume (releaser) */
	uint64_t releasing;		/* 1 while a thread releases the ring (E-G5) */
	uint64_t touched;		/* iovx_now_ns() of the slot's last enqueue or poll */
	uint64_t mask;
	struct fq_cell *cells;
};

int iovx_inval_fq_init(struct fq_ring *r, unsigned int order);
void iovx_inval_fq_destroy(struct fq_ring *r);
/* Claims the next cell for filling: the cell, or NULL when the ring is full. */
struct fq_cell *iovx_inval_fq_claim_mpsc(struct fq_ring *r, uint64_t *pos);
/* Publishes a claimed and filled cell. */
void iovx_inval_fq_publish_mpsc(struct fq_ring *r, struct fq_cell *c, uint64_t pos);
/*
 * The published, not yet consumed cell at pos (head <= pos < tail), or NULL: not published
 * yet (a gap: its producer is between claim and publish) or consumed already.
 */
struct fq_cell *iovx_inval_fq_peek_sc(struct fq_ring *r, uint64_t pos);
/* Frees the published cell at pos for the next lap (cells may be consumed out of order). */
void iovx_inval_fq_consume_sc(struct fq_ring *r, uint64_t pos);
/* Moves head past the consumed cells at its front. */
void iovx_inval_fq_advance_sc(struct fq_ring *r);

#endif /* IOVX_INVAL_INTERNAL_H */

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * inval_internal.h - the parts of the invalidation context (portable: kernel and userspace).
 *
 *   fq.c     the per-CPU flush-queue ring: bounded, multi-producer (threads sharing a CPU
 *            slot), single-consumer (whoever holds the ring's release flag: normally a
 *            thread of the ring's own CPU slot, for an idle ring the timer/poll/flush)
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
 */
struct fq_cell {
	uint64_t seq;
	uint64_t pfn;
	uint64_t npages;
	uint64_t gen;			/* start_gen read before publishing */
	uint64_t taken;			/* flush that collected it (0: none); atomic, see inval.c */
	uint64_t bad;			/* 1: that flush's sync failed: quarantine, never release */
	uint64_t t_enq;			/* iovx_now_ns() at enqueue */
	struct iovx_iommu_freed_page *pg_head;
	struct iovx_iommu_freed_page **pg_tail;
	uint64_t pg_nr;
};

struct fq_ring {
	uint64_t tail IOVX_ALIGNED(IOVX_CACHELINE);	/* next position to claim (producers) */
	uint64_t head IOVX_ALIGNED(IOVX_CACHELINE);	/* next position to consume (releaser) */
	uint64_t releasing;		/* 1 while a thread releases the ring (E-G5) */
	uint64_t touched;		/* iovx_now_ns() of the slot's last enqueue or poll */
	uint64_t cut;			/* flush owner's scratch: end of the scan */
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

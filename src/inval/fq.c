// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fq.c - one flush-queue ring: a bounded MPSC queue of invalidation entries per CPU slot.
 *
 * What and why: iovx_cpu_hint() slots may be shared by several threads (userspace threads
 * outnumber CPUs, and a hint is stale at once), so producers claim cells with a CAS on tail;
 * each cell carries a sequence word (D. Vyukov's bounded MPMC queue, as DPDK's rte_ring and
 * ck_ring use per-slot state) so the consumer sees a cell only once its producer filled it.
 * The consumer is single: only the holder of the ring's release flag (inval.c; normally a
 * thread of the ring's own CPU slot) consumes, so head is written by one thread at a time.
 * Flushes read published cells without consuming them (they mark them taken, inval.c).
 * The consumer may skip a cell whose producer has claimed but not yet published it
 * (a gap) and consume the published cells after it: a preempted producer then holds back
 * only its own cell, and head (the oldest unconsumed position) waits at the gap.
 *
 * Invariants: R1 a cell is written only by the producer whose CAS moved tail past its
 * position, and only while seq == pos; R2 the consumer reads a cell only while seq == pos + 1
 * and head <= pos < tail, and nobody writes it until consume stores pos + size; R3 tail -
 * head <= size, because the cell of head is unconsumed, so a producer at head + size finds
 * seq < head + size and reports full; R4 head advances only over cells with seq >= pos +
 * size (consumed; the next lap may have begun). R1-R3 give: every published entry is seen
 * exactly once by the consumers (I6: nothing queued is lost) and no entry is read while being
 * written.
 *
 * Progress: claim is lock-free (a failed CAS means another producer claimed); publish, peek,
 * consume are wait-free. A producer stopped between claim and publish holds back its own
 * cell and, one lap later, the ring (full at the gap); producers then use other rings or
 * inval.c's direct path: no thread is ever blocked by it.
 *
 * Synchronization table: claim/publish (_mpsc) with each other and with peek/consume;
 * consume/advance (_sc) only by one thread at a time (the holder of r->releasing, E-G5 in
 * inval.c); peek also by flushes (any number at once), which only read and mark cells.
 *
 * Ordering edges:
 *   E-F1 publish: store-release of seq = pos + 1 after the cell's fields (and, before it,
 *        the caller's page-table clears); pairs with the acquire load of seq in peek.
 *   E-F2 consume: store-release of seq = pos + size after the owner read the cell; pairs
 *        with the acquire load of seq in claim, so the next producer's writes come after.
 */
#include "inval_internal.h"

int iovx_inval_fq_init(struct fq_ring *r, unsigned int order)
{
	uint64_t i, n = 1ull << order;

	r->cells = iovx_zalloc_aligned(n * sizeof(*r->cells), IOVX_CACHELINE, IOVX_GFP_KERNEL);
	if (!r->cells)
		return -ENOMEM;
	r->mask = n - 1;
	r->head = 0;
	r->tail = 0;
	r->releasing = 0;
	r->touched = 0;
	for (i = 0; i < n; i++)
		r->cells[i].seq = i;
	return 0;
}

void iovx_inval_fq_destroy(struct fq_ring *r)
{
	iovx_free(r->cells);
	r->cells = NULL;
}

struct fq_cell *iovx_inval_fq_claim_mpsc(struct fq_ring *r, uint64_t *pos)
{
	uint64_t p = iovx_load_relaxed(&r->tail);

	for (;;) {
		struct fq_cell *c = &r->cells[p & r->mask];
		uint64_t seq = iovx_load_acquire(&c->seq);	/* E-F2 */

		if (seq == p) {
			if (iovx_cmpxchg_relaxed(&r->tail, &p, p + 1)) {
				*pos = p;
				return c;
			}
			/* another producer claimed p; p now holds the current tail */
		} else if (seq < p) {
			return NULL;	/* the cell of the previous lap is not consumed: full */
		} else {
			p = iovx_load_relaxed(&r->tail);	/* we were behind */
		}
	}
}

void iovx_inval_fq_publish_mpsc(struct fq_ring *r, struct fq_cell *c, uint64_t pos)
{
	(void)r;
	iovx_assert(iovx_load_relaxed(&c->seq) == pos);	/* R1: written while seq == pos */
	iovx_store_release(&c->seq, pos + 1);	/* E-F1 */
}

struct fq_cell *iovx_inval_fq_peek_sc(struct fq_ring *r, uint64_t pos)
{
	struct fq_cell *c = &r->cells[pos & r->mask];

	return iovx_load_acquire(&c->seq) == pos + 1 ? c : NULL;	/* E-F1 */
}

void iovx_inval_fq_consume_sc(struct fq_ring *r, uint64_t pos)
{
	/* R2: the consumer held it published, inside [head, tail) */
	iovx_assert(iovx_load_relaxed(&r->cells[pos & r->mask].seq) == pos + 1 &&
		    pos >= iovx_load_relaxed(&r->head) && pos < iovx_load_relaxed(&r->tail));
	/* E-F2 */
	iovx_store_release(&r->cells[pos & r->mask].seq, pos + r->mask + 1);
}

void iovx_inval_fq_advance_sc(struct fq_ring *r)
{
	uint64_t h = iovx_load_relaxed(&r->head), t = iovx_load_relaxed(&r->tail);

	/* R4: a consumed cell has seq >= pos + size (the next lap may have claimed it) */
	while (h < t && iovx_load_relaxed(&r->cells[h & r->mask].seq) >= h + r->mask + 1)
		h++;
	iovx_store_relaxed(&r->head, h);
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * cmdq.c - the simulator's command queue (TLBI range, TLBI all, CMD_SYNC) and cost model.
 *
 * As on an SMMUv3, CPUs append commands to one shared queue and the hardware consumes them
 * in order; a CMD_SYNC completes when every command before it was consumed. Here the
 * consumer is whichever thread syncs (or finds the ring full): it processes the pending
 * commands against the IOTLB, so an invalidation takes effect no earlier than it was
 * issued and no later than the first sync after it, from any CPU.
 *
 * Cost model (struct iovx_sim_cost, defaults and sources in iovx/sim.h and docs/sim.md):
 * the queue is one resource with a modelled busy-until time. Each command occupies it for
 * cmd_ns from max(now, busy_until); a sync then waits sync_ns more for its completion
 * signal. Many CPUs invalidating at once thus queue behind each other (cmdq_wait_ns), as
 * they contend for the SMMU's queue. The waiting is a busy-wait when charge_time is set.
 *
 * Invariants:
 *   Q1 commands are processed in issue order, each once (cons < prod under lock);
 *   Q2 synced_inval only grows, and only after every invalidation numbered up to it was
 *      processed (pgtable.c's free_pages checker relies on it, I2);
 *   Q3 a failed sync (injected -EIO/-ETIMEDOUT) processes nothing and advances nothing.
 *
 * Progress: blocking (cmdq.lock, then tlb.lock while processing). Synchronization: issue
 * and sync may run from any number of threads at once.
 *
 * Ordering edges:
 *   E-Q1 synced_inval is stored with release after processing and loaded with acquire by
 *        free_pages: a free that sees it sees the IOTLB without the invalidated entries.
 */
#include "sim_internal.h"

int iovx_sim_cmdq_init(struct sim_cmdq *q, unsigned int entries)
{
	q->ring = iovx_zalloc((size_t)entries * sizeof(*q->ring), IOVX_GFP_KERNEL);
	if (!q->ring)
		return -ENOMEM;
	q->mask = entries - 1;
	pthread_mutex_init(&q->lock, NULL);
	return 0;
}

void iovx_sim_cmdq_destroy(struct sim_cmdq *q)
{
	if (!q->ring)
		return;
	pthread_mutex_destroy(&q->lock);
	iovx_free(q->ring);
	q->ring = NULL;
}

void iovx_sim_wait_until(struct iovx_sim *sim, uint64_t t_ns)
{
	if (!sim->cfg.charge_time)
		return;
	while (iovx_now_ns() < t_ns)
		iovx_cpu_relax();
}

void iovx_sim_charge(struct iovx_sim *sim, uint64_t ns)
{
	if (!ns)
		return;
	IOVX_STAT_ADD(&sim->st.model_ns, ns);
	if (sim->cfg.charge_time)
		iovx_sim_wait_until(sim, iovx_now_ns() + ns);
}

/* The hardware consumes every pending command (cmdq.lock held). */
static void process_locked(struct iovx_sim *sim)
{
	struct sim_cmdq *q = &sim->cmdq;

	if (q->cons == q->prod)
		return;
	pthread_mutex_lock(&sim->tlb.lock);
	for (; q->cons != q->prod; q->cons++) {					/* Q1 */
		struct sim_cmd *c = &q->ring[q->cons & q->mask];

		if (c->op == SIM_CMD_TLBI_ALL)
			iovx_sim_iotlb_inval_all_locked(sim);
		else
			iovx_sim_iotlb_inval_locked(sim, c->start, c->end);
		iovx_assert(c->seq == q->done_inval + 1);			/* Q1: in order, once */
		q->done_inval = c->seq;
	}
	pthread_mutex_unlock(&sim->tlb.lock);
}

/* Occupies the queue for one command: returns when it will have been consumed. */
static uint64_t occupy_locked(struct iovx_sim *sim, uint64_t now)
{
	struct sim_cmdq *q = &sim->cmdq;
	uint64_t start = q->busy_until > now ? q->busy_until : now;

	IOVX_STAT_ADD(&sim->st.cmdq_wait_ns, start - now);
	q->busy_until = start + sim->cfg.cost.cmd_ns;
	return q->busy_until;
}

static void issue(struct iovx_sim *sim, uint32_t op, uint64_t start, uint64_t end)
{
	struct sim_cmdq *q = &sim->cmdq;
	struct sim_cmd *c;
	uint64_t now = iovx_now_ns();

	pthread_mutex_lock(&q->lock);
	if (q->prod - q->cons > q->mask) {
		/* Full: as a CPU waiting for space, let the hardware drain it. */
		SIM_STAT_INC(sim, cmdq_full);
		process_locked(sim);
	}
	c = &q->ring[q->prod & q->mask];
	c->op = op;
	c->start = start;
	c->end = end;
	c->seq = iovx_load_relaxed(&q->issued_inval) + 1;
	iovx_store_release(&q->issued_inval, c->seq);
	q->prod++;
	(void)occupy_locked(sim, now);
	pthread_mutex_unlock(&q->lock);
}

int iovx_sim_inv_range(struct iovx_iommu *iommu, uint64_t iova, uint64_t size)
{
	struct iovx_sim *sim = (struct iovx_sim *)iommu;

	if (!size || iova + size < iova)
		return -EINVAL;
	SIM_STAT_INC(sim, tlbi_range);
	issue(sim, SIM_CMD_TLBI_RANGE, iova, iova + size);
	return 0;
}

int iovx_sim_inv_all(struct iovx_iommu *iommu)
{
	struct iovx_sim *sim = (struct iovx_sim *)iommu;

	SIM_STAT_INC(sim, tlbi_all);
	issue(sim, SIM_CMD_TLBI_ALL, 0, UINT64_MAX);
	return 0;
}

int iovx_sim_sync(struct iovx_iommu *iommu)
{
	struct iovx_sim *sim = (struct iovx_sim *)iommu;
	struct sim_cmdq *q = &sim->cmdq;
	uint64_t now = iovx_now_ns(), done;

	SIM_STAT_INC(sim, syncs);
	pthread_mutex_lock(&q->lock);
	if (q->fail_n) {						/* Q3 */
		int err = q->fail_err;

		q->fail_n--;
		pthread_mutex_unlock(&q->lock);
		SIM_STAT_INC(sim, sync_errors);
		return err;
	}
	process_locked(sim);
	iovx_assert(q->done_inval >= iovx_load_relaxed(&q->synced_inval));	/* Q2: only grows */
	iovx_store_release(&q->synced_inval, q->done_inval);		/* E-Q1, Q2 */
	done = occupy_locked(sim, now) + sim->cfg.cost.sync_ns;
	pthread_mutex_unlock(&q->lock);
	IOVX_STAT_ADD(&sim->st.model_ns, done - now);
	iovx_sim_wait_until(sim, done);
	return 0;
}

void iovx_sim_fail_syncs(struct iovx_sim *sim, unsigned int n, int err)
{
	if (!sim)
		return;
	pthread_mutex_lock(&sim->cmdq.lock);
	sim->cmdq.fail_n = n;
	sim->cmdq.fail_err = err;
	pthread_mutex_unlock(&sim->cmdq.lock);
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bench-io.c - "iovx-bench net" and "iovx-bench storage": the DMA facade under a NIC's and
 * a block device's patterns, every mode side by side on the software IOMMU (its cost model
 * busy-waited, as in the zswap bench: docs/sim.md). Every call is timed alone
 * into a log-linear histogram (stats.h); the modes run alternately, repetition after
 * repetition, and the figures are over all timed runs.
 *
 * net: two threads, as a NIC driver's xmit path and its NAPI poll on another CPU.
 *   TX (thread 0)  per packet: map_single(frame, TO_DEVICE) of a frame of 64..9000 bytes
 *                  (a pre-drawn mix: 64, 128, 256, 512, 1024, 1500, 4096, 9000), posted on
 *                  a 1024-entry TX ring (a burst of 32 per doorbell)
 *   completion     (thread 1) unmap_single of every completed TX frame, then for as many
 *                  RX packets: unmap_single of the received RX buffer and map_single
 *                  (FROM_DEVICE) of a refill from a 512-page page pool. In reuse modes the
 *                  pool's pages are reuse-tagged (IOVX_DMA_ATTR_REUSE), as a page pool keeps
 *                  its pages mapped: a refill is a table hit.
 *   Figures: TX packets per second (wall), p50/p99/p99.9 of each of the four calls.
 *
 * storage: T threads (up to 2, one per CPU here) keep Q requests in flight between them
 *   (queue depth Q: Q/T each); a request is an sg list of S bytes (128 KiB .. 1 MiB) in
 *   16 KiB segments at scattered addresses (a bio of folios), mapped FROM_DEVICE (reads). Each thread submits (map_sg) into its oldest slot once that
 *   request completed (unmap_sg), so Q lists are mapped at any time. Above 128 KiB Linux's
 *   IOVA caches (up to 32 granules) do not apply: it allocates from its rbtree under a lock.
 *   The lists are not reuse-tagged (a block request's pages change): reuse mode serves
 *   them with its base, strict, after one flag test. Besides the facade's modes, two
 *   bench-local strict paths (shim below) do what strict does (one IOVA range per list,
 *   map each segment; unmap, one range invalidation, one sync, free) through the same
 *   software IOMMU, with either allocator:
 *     strict-lx    Linux's drivers/iommu/iova.c (alloc_iova_fast / free_iova_fast)
 *     strict-shim  iovx's allocator (iovx_iova_alloc / iovx_iova_free)
 *   Their difference is the allocator's share of an end-to-end map+unmap; strict-shim
 *   against the facade's strict is the facade's own bookkeeping (records, checks).
 *   Figures: IO/s, p50/p99/p99.9 of map_sg and unmap_sg, mean map+unmap.
 *   --param qd=Q[:Q...] (default 1:8:32), sizes=KIB[:KIB...] (default 128:256:1024),
 *   t=T (threads, default 2), charge=0 (the cost model accounted, not busy-waited).
 *
 * A sparse data check guards the mappings (every 64th packet the device reads the frame's
 * first bytes through the IOMMU; every 64th request it writes a stamp the CPU finds after
 * the unmap); nothing asserts a time.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "lx_iova.h"
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iovx/dma.h>
#include <iovx/iommu.h>
#include <iovx/iova.h>
#include <iovx/reuse.h>
#include <iovx/sim.h>

#define PG		4096ull
#define IO_GFP_ATOMIC	1u		/* the platform's IOVX_GFP_ATOMIC */
#define IO_MAX_T	8
#define CHECK_EVERY	64

/* ---- modes ---------------------------------------------------------------------------- */
enum io_kind { IO_FACADE, IO_SHIM_LX, IO_SHIM_IOVX };

struct io_mode {
	const char *name;
	enum io_kind kind;
	enum iovx_dma_mode mode;
	enum iovx_dma_mode fallback;
	bool net, storage;
};

static const struct io_mode io_modes[] = {
	{ "passthrough", IO_FACADE, IOVX_DMA_MODE_PASSTHROUGH, IOVX_DMA_MODE_STRICT, true, true },
	{ "strict", IO_FACADE, IOVX_DMA_MODE_STRICT, IOVX_DMA_MODE_STRICT, true, true },
	{ "deferred", IO_FACADE, IOVX_DMA_MODE_DEFERRED, IOVX_DMA_MODE_STRICT, true, true },
	{ "reuse", IO_FACADE, IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_STRICT, true, true },
	{ "reuse+deferred", IO_FACADE, IOVX_DMA_MODE_REUSE, IOVX_DMA_MODE_DEFERRED, true, false },
	{ "bounce", IO_FACADE, IOVX_DMA_MODE_BOUNCE, IOVX_DMA_MODE_STRICT, true, true },
	{ "strict-shim", IO_SHIM_IOVX, IOVX_DMA_MODE_STRICT, IOVX_DMA_MODE_STRICT, false, true },
	{ "strict-lx", IO_SHIM_LX, IOVX_DMA_MODE_STRICT, IOVX_DMA_MODE_STRICT, false, true },
};

#define NR_IO_MODES (sizeof(io_modes) / sizeof(io_modes[0]))

/* ---- the bench-local strict path: one allocator or the other, the same IOMMU ---------- */
struct shim {
	struct iovx_iommu *iommu;
	enum io_kind kind;
	void *iovad;			/* struct iovx_iova_domain or struct iovx_lx_domain */
	uint64_t limit;			/* exclusive, in granules */
};

static uint64_t shim_len(const struct iovx_dma_sg *sg, int nents)
{
	uint64_t total = 0;
	int i;

	for (i = 0; i < nents; i++) {
		uint64_t a = sg[i].phys + sg[i].offset;

		total += ((a & (PG - 1)) + sg[i].length + PG - 1) & ~(PG - 1);
	}
	return total;
}

static int64_t shim_alloc(struct shim *s, uint64_t n)
{
	if (s->kind == IO_SHIM_LX) {
		uint64_t pfn = iovx_lx_alloc(s->iovad, n, s->limit);

		return pfn ? (int64_t)pfn : -ENOSPC;
	}
	return iovx_iova_alloc(s->iovad, n, s->limit);
}

static void shim_free(struct shim *s, uint64_t pfn, uint64_t n)
{
	if (s->kind == IO_SHIM_LX)
		iovx_lx_free(s->iovad, pfn, n);
	else
		(void)iovx_iova_free(s->iovad, pfn, n);
}

static unsigned int shim_prot(enum iovx_dma_dir dir)
{
	return dir == IOVX_DMA_TO_DEVICE ? IOVX_IOMMU_READ :
	       dir == IOVX_DMA_FROM_DEVICE ? IOVX_IOMMU_WRITE :
	       IOVX_IOMMU_READ | IOVX_IOMMU_WRITE;
}

/* What dma-iommu's strict map_sg does: one IOVA range, every segment mapped in turn. */
/* The allocator's calls are timed alone into h[0] (alloc) and h[1] (free) when h is set. */
static int shim_map_sg(struct shim *s, struct iovx_dma_sg *sg, int nents, enum iovx_dma_dir dir,
		       struct iovx_bench_hist *h)
{
	uint64_t total = shim_len(sg, nents), iova, off = 0, t0 = h ? iovx_bench_now_ns() : 0;
	int64_t pfn = shim_alloc(s, total / PG);
	int i;

	if (h)
		iovx_bench_hist_add(&h[0], iovx_bench_now_ns() - t0);

	if (pfn < 0)
		return (int)pfn;
	iova = (uint64_t)pfn * PG;
	for (i = 0; i < nents; i++) {
		uint64_t a = sg[i].phys + sg[i].offset, in = a & (PG - 1);
		uint64_t len = (in + sg[i].length + PG - 1) & ~(PG - 1);
		int err = s->iommu->ops->map(s->iommu, iova + off, a - in, len, shim_prot(dir),
					     IO_GFP_ATOMIC);

		if (err) {
			struct iovx_iommu_freelist fl;

			iovx_iommu_freelist_init(&fl);
			if (off) {
				s->iommu->ops->unmap(s->iommu, iova, off, &fl);
				s->iommu->ops->inv_range(s->iommu, iova, off);
				if (s->iommu->ops->sync(s->iommu))
					return err;	/* leak the range: never reuse it */
				s->iommu->ops->free_pages(s->iommu, &fl);
			}
			shim_free(s, (uint64_t)pfn, total / PG);
			return err;
		}
		sg[i].dma_address = iova + off + in;
		sg[i].dma_length = sg[i].length;
		off += len;
	}
	return nents;
}

/* ... and its strict unmap_sg: clear, one range invalidation, one sync, then free. */
static int shim_unmap_sg(struct shim *s, struct iovx_dma_sg *sg, int nents,
			 struct iovx_bench_hist *h)
{
	uint64_t t0;
	uint64_t total = shim_len(sg, nents), iova = sg[0].dma_address & ~(PG - 1);
	struct iovx_iommu_freelist fl;
	int err;

	iovx_iommu_freelist_init(&fl);
	s->iommu->ops->unmap(s->iommu, iova, total, &fl);
	s->iommu->ops->inv_range(s->iommu, iova, total);
	err = s->iommu->ops->sync(s->iommu);
	if (err)
		return err;			/* leak: never reuse */
	s->iommu->ops->free_pages(s->iommu, &fl);
	t0 = h ? iovx_bench_now_ns() : 0;
	shim_free(s, iova / PG, total / PG);
	if (h)
		iovx_bench_hist_add(&h[1], iovx_bench_now_ns() - t0);
	return 0;
}

/* ---- one mode's domain ------------------------------------------------------------------ */
struct io_ctx {
	const struct io_mode *m;
	bool have;
	int err;
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
	struct shim shim;
	/* summed over the timed runs */
	struct iovx_bench_hist h[4];
	uint64_t units, errors, data_errors;
	double wall_s;
};

static int io_ctx_create(struct io_ctx *c, const struct io_mode *m, bool charge)
{
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	int err;

	memset(c, 0, sizeof(*c));
	c->m = m;
	iovx_sim_config_init(&sc);
	sc.charge_time = charge;
	err = iovx_sim_create(&sc, &c->sim);
	if (err)
		goto fail;
	if (m->kind == IO_FACADE) {
		iovx_dma_config_init(&dc, m->mode == IOVX_DMA_MODE_PASSTHROUGH ? NULL :
				     iovx_sim_iommu(c->sim), m->mode);
		dc.fallback = m->fallback;
		err = iovx_dma_domain_create(&dc, &c->dom);
		if (err)
			goto fail_sim;
	} else {
		struct iovx_iova_config vc;

		c->shim.iommu = iovx_sim_iommu(c->sim);
		c->shim.kind = m->kind;
		c->shim.limit = 1ull << 36;	/* 48-bit IOVAs of 4 KiB granules */
		if (m->kind == IO_SHIM_LX) {
			err = iovx_lx_available() ?
			      iovx_lx_domain_create(PG, 1, (struct iovx_lx_domain **)&c->shim.iovad) :
			      -EOPNOTSUPP;
		} else {
			iovx_iova_config_init(&vc, 1, c->shim.limit);
			err = iovx_iova_domain_create(&vc,
						      (struct iovx_iova_domain **)&c->shim.iovad);
		}
		if (err)
			goto fail_sim;
	}
	c->have = true;
	return 0;
fail_sim:
	iovx_sim_destroy(c->sim);
	c->sim = NULL;
fail:
	c->err = err;
	return err;
}

static void io_ctx_destroy(struct io_ctx *c)
{
	if (c->dom && iovx_dma_domain_destroy(c->dom) > 0)
		printf("   WARNING: %s: mappings left live (benchmark bug)\n", c->m->name);
	if (c->shim.iovad) {
		if (c->m->kind == IO_SHIM_LX)
			iovx_lx_domain_destroy(c->shim.iovad);
		else
			iovx_iova_domain_destroy(c->shim.iovad);
	}
	iovx_sim_destroy(c->sim);
	memset(c, 0, sizeof(*c));
}

/* h: where the shims time their allocator calls (NULL: not timed) */
static int io_map_sg(struct io_ctx *c, struct iovx_dma_sg *sg, int n, enum iovx_dma_dir dir,
		     struct iovx_bench_hist *h)
{
	return c->dom ? iovx_dma_map_sg(c->dom, sg, n, dir, 0) :
			shim_map_sg(&c->shim, sg, n, dir, h);
}

static int io_unmap_sg(struct io_ctx *c, struct iovx_dma_sg *sg, int n, enum iovx_dma_dir dir,
		       struct iovx_bench_hist *h)
{
	return c->dom ? iovx_dma_unmap_sg(c->dom, sg, n, dir, 0) :
			shim_unmap_sg(&c->shim, sg, n, h);
}

/* The device reads 8 bytes at dma: what the CPU wrote at cpu must be there. */
static bool io_check(struct io_ctx *c, uint64_t dma, const void *cpu)
{
	uint64_t got;

	if (c->m->mode == IOVX_DMA_MODE_PASSTHROUGH && c->m->kind == IO_FACADE)
		memcpy(&got, (const void *)(uintptr_t)dma, sizeof(got));
	else if (iovx_sim_dev_read(c->sim, dma, &got, sizeof(got), NULL))
		return false;
	return !memcmp(&got, cpu, sizeof(got));
}

/* The device writes 8 bytes at dma (a read's data arriving). */
static int io_dev_write(struct io_ctx *c, uint64_t dma, const uint64_t *v)
{
	if (c->m->mode == IOVX_DMA_MODE_PASSTHROUGH && c->m->kind == IO_FACADE) {
		memcpy((void *)(uintptr_t)dma, v, sizeof(*v));
		return 0;
	}
	return iovx_sim_dev_write(c->sim, dma, v, sizeof(*v), NULL);
}

/* ---- threads ------------------------------------------------------------------------------ */
static int io_stop;
static struct iovx_bench_gate io_gate;

static inline bool io_stopped(void)
{
	return __atomic_load_n(&io_stop, __ATOMIC_RELAXED);
}

struct io_thread {
	pthread_t th;
	unsigned int tid, nthreads;
	struct io_ctx *c;
	void *work;			/* the workload's shared state */
	void (*body)(struct io_thread *w);
	struct iovx_bench_hist h[4];
	uint64_t units, errors, data_errors;
} __attribute__((aligned(128)));

static void *io_thread_main(void *arg)
{
	struct io_thread *w = arg;

	iovx_bench_gate_enter(&io_gate);
	w->body(w);
	return NULL;
}

/* One run of n threads on c for s seconds; timed: add the results to c. */
static void io_run(struct io_ctx *c, struct io_thread *w, unsigned int n, void *work,
		   void (*body)(struct io_thread *w), double s, bool timed)
{
	unsigned int i, k;
	uint64_t t0;

	__atomic_store_n(&io_stop, 0, __ATOMIC_RELAXED);
	iovx_bench_gate_close(&io_gate);
	for (i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].tid = i;
		w[i].nthreads = n;
		w[i].c = c;
		w[i].work = work;
		w[i].body = body;
		iovx_bench_spawn(&w[i].th, io_thread_main, &w[i]);
	}
	iovx_bench_gate_wait(&io_gate, n);
	t0 = iovx_bench_now_ns();
	iovx_bench_gate_open(&io_gate);
	iovx_bench_sleep(s);
	__atomic_store_n(&io_stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++)
		pthread_join(w[i].th, NULL);
	if (!timed)
		return;
	c->wall_s += (double)(iovx_bench_now_ns() - t0) / 1e9;
	for (i = 0; i < n; i++) {
		for (k = 0; k < 4; k++)
			iovx_bench_hist_merge(&c->h[k], &w[i].h[k]);
		c->units += w[i].units;
		c->errors += w[i].errors;
		c->data_errors += w[i].data_errors;
	}
}

static void io_time(struct io_thread *w, unsigned int k, uint64_t t0, uint64_t t1)
{
	iovx_bench_hist_add(&w->h[k], t1 - t0);
}

/* ---- net ---------------------------------------------------------------------------------- */
#define TX_RING		1024u
#define TX_BURST	32u
#define RX_POOL		512u
#define FRAME_MAX	9000u
#define NR_FRAME_SIZES	8

static const uint32_t frame_sizes[NR_FRAME_SIZES] = { 64, 128, 256, 512, 1024, 1500, 4096, 9000 };

enum { H_TX_MAP, H_TX_UNMAP, H_RX_UNMAP, H_RX_MAP };
static const char *const net_ops[4] = { "tx_map", "tx_unmap", "rx_unmap", "rx_map" };

struct net_work {
	uint8_t *tx;			/* TX_RING frames of 16 KiB (a frame may cross pages) */
	uint8_t *rx;			/* RX_POOL pages */
	uint16_t *len_idx;		/* TX_RING pre-drawn frame sizes */
	uint64_t dma[TX_RING];		/* TX ring: the frames' DMA addresses */
	uint64_t rx_dma[RX_POOL];	/* RX ring: the posted buffers' DMA addresses */
	uint64_t head __attribute__((aligned(128)));	/* TX published by xmit */
	uint64_t tail __attribute__((aligned(128)));	/* TX completed by NAPI */
	int done __attribute__((aligned(128)));
	unsigned int rx_next;
	bool reuse;
};

static unsigned int net_attrs(const struct net_work *nw)
{
	return nw->reuse ? IOVX_DMA_ATTR_REUSE : 0;
}

/* Posts every RX buffer (outside any timing): the ring a NIC starts with. */
static int net_rx_post(struct io_ctx *c, struct net_work *nw)
{
	unsigned int i;

	for (i = 0; i < RX_POOL; i++)
		if (iovx_dma_map_single(c->dom, (uintptr_t)(nw->rx + i * PG), PG,
					IOVX_DMA_FROM_DEVICE, net_attrs(nw), &nw->rx_dma[i]))
			return -EIO;
	nw->rx_next = 0;
	return 0;
}

static void net_rx_unpost(struct io_ctx *c, struct net_work *nw)
{
	unsigned int i;

	for (i = 0; i < RX_POOL; i++)
		(void)iovx_dma_unmap_single(c->dom, nw->rx_dma[i], PG, IOVX_DMA_FROM_DEVICE,
					    net_attrs(nw));
	if (nw->reuse)
		(void)iovx_dma_stop_reuse(c->dom, (uintptr_t)nw->rx, RX_POOL * PG);
}

static void net_tx(struct io_thread *w, struct net_work *nw)
{
	struct io_ctx *c = w->c;
	uint64_t head = nw->head, tail = nw->tail, t0, t1;
	unsigned int i, spins = 0;

	while (!io_stopped()) {
		if (head - tail > TX_RING - TX_BURST) {
			tail = __atomic_load_n(&nw->tail, __ATOMIC_ACQUIRE);
			if (head - tail > TX_RING - TX_BURST) {
				iovx_bench_relax(&spins);
				continue;
			}
		}
		for (i = 0; i < TX_BURST; i++, head++) {
			unsigned int slot = head & (TX_RING - 1);
			uint8_t *frame = nw->tx + (size_t)slot * 16384 + (head * 64) % 4096;
			uint32_t len = frame_sizes[nw->len_idx[slot]];

			memcpy(frame, &head, sizeof(head));
			t0 = iovx_bench_now_ns();
			if (iovx_dma_map_single(c->dom, (uintptr_t)frame, len, IOVX_DMA_TO_DEVICE,
						0, &nw->dma[slot])) {
				w->errors++;
				nw->dma[slot] = 0;
				continue;
			}
			t1 = iovx_bench_now_ns();
			io_time(w, H_TX_MAP, t0, t1);
			if (!(head % CHECK_EVERY) && !io_check(c, nw->dma[slot], frame))
				w->data_errors++;
		}
		__atomic_store_n(&nw->head, head, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&nw->done, 1, __ATOMIC_RELEASE);
}

static void net_completion(struct io_thread *w, struct net_work *nw)
{
	struct io_ctx *c = w->c;
	uint64_t tail = nw->tail, n = 0, t0, t1, t2;
	unsigned int spins = 0;

	for (;;) {
		uint64_t head = __atomic_load_n(&nw->head, __ATOMIC_ACQUIRE);

		if (head == tail) {
			if (__atomic_load_n(&nw->done, __ATOMIC_ACQUIRE) &&
			    __atomic_load_n(&nw->head, __ATOMIC_ACQUIRE) == tail)
				break;
			iovx_bench_relax(&spins);
			continue;
		}
		for (; tail != head; tail++) {
			unsigned int slot = tail & (TX_RING - 1), r = nw->rx_next;
			uint32_t len = frame_sizes[nw->len_idx[slot]];
			uint64_t phys = (uintptr_t)(nw->rx + (size_t)r * PG);

			if (nw->dma[slot]) {
				t0 = iovx_bench_now_ns();
				if (iovx_dma_unmap_single(c->dom, nw->dma[slot], len,
							  IOVX_DMA_TO_DEVICE, 0))
					w->errors++;
				io_time(w, H_TX_UNMAP, t0, iovx_bench_now_ns());
			}
			/* one RX packet per TX completion: the buffer comes back, a refill goes */
			t0 = iovx_bench_now_ns();
			if (iovx_dma_unmap_single(c->dom, nw->rx_dma[r], PG, IOVX_DMA_FROM_DEVICE,
						  net_attrs(nw)))
				w->errors++;
			t1 = iovx_bench_now_ns();
			if (iovx_dma_map_single(c->dom, phys, PG, IOVX_DMA_FROM_DEVICE,
						net_attrs(nw), &nw->rx_dma[r]))
				w->errors++;
			t2 = iovx_bench_now_ns();
			io_time(w, H_RX_UNMAP, t0, t1);
			io_time(w, H_RX_MAP, t1, t2);
			nw->rx_next = (r + 1) % RX_POOL;
			n++;
		}
		__atomic_store_n(&nw->tail, tail, __ATOMIC_RELEASE);
	}
	w->units = n;
}

static void net_body(struct io_thread *w)
{
	struct net_work *nw = w->work;

	if (w->tid == 0)
		net_tx(w, nw);
	else
		net_completion(w, nw);
}

static void print_q(const struct iovx_bench_hist *h)
{
	if (!h->count) {
		printf(" %23s", "-");
		return;
	}
	printf(" %7llu %7llu %7llu", (unsigned long long)iovx_bench_hist_quantile(h, 0.5),
	       (unsigned long long)iovx_bench_hist_quantile(h, 0.99),
	       (unsigned long long)iovx_bench_hist_quantile(h, 0.999));
}

/* Bounce mode: what share of the maps the pool served (warm-up included). */
static void bounce_line(struct iovx_bench_json *j, const struct io_ctx *c)
{
	struct iovx_dma_stats st;
	uint64_t n;

	if (!c->dom || c->m->mode != IOVX_DMA_MODE_BOUNCE || iovx_dma_get_stats(c->dom, &st))
		return;
	n = st.bounced + st.bounce_fallbacks;
	printf("   bounce: the pool served %.1f%% of %llu maps (crossover %llu B to the device, "
	       "%llu B from it), the rest went strict\n", n ? 100.0 * st.bounced / n : 0,
	       (unsigned long long)n, (unsigned long long)st.bounce_crossover_to_device,
	       (unsigned long long)st.bounce_crossover);
	iovx_bench_json_u64(j, "bounced", st.bounced);
	iovx_bench_json_u64(j, "bounce_fallbacks", st.bounce_fallbacks);
}

static void mode_json_head(struct iovx_bench_json *j, const struct io_ctx *c)
{
	iovx_bench_json_str(j, "mode", c->m->name);
	iovx_bench_json_str(j, "path", c->m->kind == IO_FACADE ? "facade" :
			    c->m->kind == IO_SHIM_LX ? "shim, linux iova.c" : "shim, iovx iova");
	iovx_bench_json_bool(j, "available", c->have);
}

static void print_setup(const struct iovx_bench_opts *o, bool charge)
{
	printf("method:   modes alternate (order flipped every repetition), %u runs of %.3g s "
	       "each after a warm-up;\n          every call timed alone (clock_gettime), "
	       "figures over all timed runs; ns\n", o->reps, o->seconds);
	printf("iommu:    software IOMMU, cost model %s (docs/sim.md)\n",
	       charge ? "busy-waited (charge_time)" : "accounted only: iovx's own cost");
}

static bool param_charge(const struct iovx_bench_opts *o)
{
	const char *p = o->params ? strstr(o->params, "charge=") : NULL;

	return !p || p[7] != '0';
}

int iovx_bench_net(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	static struct io_thread w[2];
	struct io_ctx *ctx = calloc(NR_IO_MODES, sizeof(*ctx));
	struct net_work *nw = aligned_alloc(128, (sizeof(*nw) + 127) & ~(size_t)127);
	bool charge = param_charge(o);
	uint64_t rng = o->seed | 1;
	unsigned int k, i, rep;

	if (!ctx || !nw)
		exit(1);
	memset(nw, 0, sizeof(*nw));
	nw->tx = aligned_alloc(PG, (size_t)TX_RING * 16384);
	nw->rx = aligned_alloc(PG, (size_t)RX_POOL * PG);
	nw->len_idx = calloc(TX_RING, sizeof(*nw->len_idx));
	if (!nw->tx || !nw->rx || !nw->len_idx)
		exit(1);
	memset(nw->tx, 0x5a, (size_t)TX_RING * 16384);
	memset(nw->rx, 0, (size_t)RX_POOL * PG);
	for (i = 0; i < TX_RING; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		nw->len_idx[i] = (uint16_t)(rng % NR_FRAME_SIZES);
	}
	print_setup(o, charge);
	printf("net:      TX map_single of 64..9000 B frames (mix of 8 sizes), unmap on the "
	       "completion thread;\n          one RX unmap + refill map per TX completion "
	       "from a %u-page pool (reuse modes: tagged)\n", RX_POOL);
	for (k = 0; k < NR_IO_MODES; k++)
		if (io_modes[k].net)
			(void)io_ctx_create(&ctx[k], &io_modes[k], charge);

	for (rep = 0; rep <= o->reps; rep++) {
		for (i = 0; i < NR_IO_MODES; i++) {
			struct io_ctx *c;

			k = rep & 1 ? NR_IO_MODES - 1 - i : i;
			c = &ctx[k];
			if (!c->have)
				continue;
			iovx_bench_progress(o, "net: %s, run %u of %u\n", c->m->name, rep, o->reps);
			nw->reuse = c->m->mode == IOVX_DMA_MODE_REUSE;
			nw->head = nw->tail = 0;
			nw->done = 0;
			if (net_rx_post(c, nw)) {
				printf("   WARNING: %s: posting the RX ring failed\n", c->m->name);
				c->errors++;
				net_rx_unpost(c, nw);
				continue;
			}
			/* repetition 0 is the warm-up */
			io_run(c, w, 2, nw, net_body, rep ? o->seconds : o->seconds / 2, rep > 0);
			net_rx_unpost(c, nw);
		}
	}

	printf("\n%-15s %10s | %-23s | %-23s | %-23s | %-23s\n", "mode", "packets/s",
	       "   TX map p50/p99/p99.9", " TX unmap p50/p99/p99.9", " RX unmap p50/p99/p99.9",
	       "   RX map p50/p99/p99.9");
	iovx_bench_json_u64(j, "tx_ring", TX_RING);
	iovx_bench_json_u64(j, "rx_pool_pages", RX_POOL);
	iovx_bench_json_bool(j, "cost_model_charged", charge);
	iovx_bench_json_arr_begin(j, "results");
	for (k = 0; k < NR_IO_MODES; k++) {
		struct io_ctx *c = &ctx[k];

		if (!io_modes[k].net)
			continue;
		iovx_bench_json_obj_begin(j, NULL);
		mode_json_head(j, c);
		if (!c->have) {
			printf("%-15s n/a (domain create: %s)\n", io_modes[k].name,
			       strerror(-c->err));
			iovx_bench_json_obj_end(j);
			continue;
		}
		/* packets: what the completion thread completed */
		printf("%-15s %10.0f |", c->m->name, c->wall_s > 0 ? c->h[H_TX_UNMAP].count /
		       c->wall_s : 0);
		for (i = 0; i < 4; i++) {
			print_q(&c->h[i]);
			printf(" |");
		}
		printf("%s\n", c->errors || c->data_errors ? "  WARNING: errors" : "");
		bounce_line(j, c);
		iovx_bench_json_num(j, "packets_per_s", c->wall_s > 0 ?
				    c->h[H_TX_UNMAP].count / c->wall_s : 0);
		iovx_bench_json_num(j, "seconds", c->wall_s);
		iovx_bench_json_u64(j, "call_errors", c->errors);
		iovx_bench_json_u64(j, "data_errors", c->data_errors);
		for (i = 0; i < 4; i++)
			iovx_bench_hist_json(j, net_ops[i], &c->h[i]);
		iovx_bench_json_obj_end(j);
	}
	iovx_bench_json_arr_end(j);
	for (k = 0; k < NR_IO_MODES; k++)
		if (ctx[k].have)
			io_ctx_destroy(&ctx[k]);
	free(nw->tx);
	free(nw->rx);
	free(nw->len_idx);
	free(nw);
	free(ctx);
	return 0;
}

/* ---- storage ------------------------------------------------------------------------------ */
#define SEG		16384u		/* a folio of 4 pages */
#define MAX_REQ_BYTES	(1u << 20)
#define MAX_SEGS_REQ	(MAX_REQ_BYTES / SEG)
#define MAX_QD		32

enum { H_MAP, H_UNMAP, H_ALLOC, H_FREE };

struct st_req {
	struct iovx_dma_sg sg[MAX_SEGS_REQ];
	bool mapped;
	uint64_t stamp;			/* written by the device, checked after unmap; 0: none */
};

struct st_work {
	uint8_t *mem;			/* MAX_QD x 2 MiB: segments at scattered addresses */
	struct st_req *req;		/* MAX_QD */
	unsigned int qd, nsegs;
	uint32_t bytes;
};

/* Request r's segment i: every other 16 KiB of the request's 2 MiB area, in a shuffled order */
static uint8_t *st_seg(struct st_work *sw, unsigned int r, unsigned int i)
{
	unsigned int slot = (i * 37u + 11u) % (2 * MAX_SEGS_REQ);

	return sw->mem + (size_t)r * 2 * MAX_REQ_BYTES + (size_t)slot * SEG;
}

static void st_body(struct io_thread *w)
{
	struct st_work *sw = w->work;
	struct io_ctx *c = w->c;
	unsigned int per = sw->qd / w->nthreads + (w->tid < sw->qd % w->nthreads);
	unsigned int first = w->tid * (sw->qd / w->nthreads) +
			     (w->tid < sw->qd % w->nthreads ? w->tid : sw->qd % w->nthreads);
	unsigned int i = 0, n = sw->nsegs;
	uint64_t it = 0, t0, t1;

	if (!per)
		return;
	while (!io_stopped()) {
		struct st_req *q = &sw->req[first + i];

		if (q->mapped) {		/* the oldest request completes */
			t0 = iovx_bench_now_ns();
			if (io_unmap_sg(c, q->sg, (int)n, IOVX_DMA_FROM_DEVICE, &w->h[H_ALLOC]))
				w->errors++;
			t1 = iovx_bench_now_ns();
			io_time(w, H_UNMAP, t0, t1);
			q->mapped = false;
			w->units++;
			/* the CPU owns the buffer again: the device's write must be there */
			if (q->stamp && memcmp((const void *)(uintptr_t)q->sg[0].phys, &q->stamp,
					       sizeof(q->stamp)))
				w->data_errors++;
			q->stamp = 0;
		}
		t0 = iovx_bench_now_ns();
		if (io_map_sg(c, q->sg, (int)n, IOVX_DMA_FROM_DEVICE, &w->h[H_ALLOC]) > 0) {
			t1 = iovx_bench_now_ns();
			io_time(w, H_MAP, t0, t1);
			q->mapped = true;
			if (!(it % CHECK_EVERY)) {
				q->stamp = (uint64_t)(w->tid + 1) << 48 | (it + 1);
				if (io_dev_write(c, q->sg[0].dma_address, &q->stamp))
					w->data_errors++;
			}
		} else {
			w->errors++;
		}
		it++;
		if (++i == per)
			i = 0;
	}
	for (i = 0; i < per; i++) {		/* drain: every request completes */
		struct st_req *q = &sw->req[first + i];

		if (q->mapped && io_unmap_sg(c, q->sg, (int)n, IOVX_DMA_FROM_DEVICE, NULL))
			w->errors++;
		q->mapped = false;
	}
}

static void st_setup(struct st_work *sw, unsigned int qd, uint32_t bytes)
{
	unsigned int r, i;

	sw->qd = qd;
	sw->bytes = bytes;
	sw->nsegs = bytes / SEG;
	for (r = 0; r < qd; r++) {
		memset(sw->req[r].sg, 0, sizeof(sw->req[r].sg));
		sw->req[r].mapped = false;
		for (i = 0; i < sw->nsegs; i++) {
			uint8_t *p = st_seg(sw, r, i);

			sw->req[r].sg[i].phys = (uintptr_t)p;
			sw->req[r].sg[i].length = SEG;
			memset(p, 0, 8);
		}
	}
}

static unsigned int parse_list(const char *params, const char *key, unsigned int *v,
			       unsigned int max, unsigned int cap)
{
	const char *p = params ? strstr(params, key) : NULL;
	unsigned int n = 0;
	char *end;

	if (!p)
		return 0;
	p += strlen(key);
	while (n < max) {
		unsigned long x = strtoul(p, &end, 10);

		if (end == p || !x || x > cap)
			break;
		v[n++] = (unsigned int)x;
		if (*end != ':')
			break;
		p = end + 1;
	}
	return n;
}

int iovx_bench_storage(const struct iovx_bench_opts *o, struct iovx_bench_json *j)
{
	static struct io_thread w[IO_MAX_T];
	static const unsigned int def_qd[] = { 1, 8, 32 };
	static const unsigned int def_kib[] = { 128, 256, 1024 };
	struct io_ctx *ctx = calloc(NR_IO_MODES, sizeof(*ctx));
	struct st_work *sw = calloc(1, sizeof(*sw));
	unsigned int qd[8], kib[8], nqd, nkib, a, b, k, i, rep, maxt = 2;
	bool charge = param_charge(o);

	if (!ctx || !sw)
		exit(1);
	nqd = parse_list(o->params, "qd=", qd, 8, MAX_QD);
	nkib = parse_list(o->params, "sizes=", kib, 8, MAX_REQ_BYTES / 1024);
	if (!nqd) {
		nqd = o->quick ? 2 : 3;
		memcpy(qd, def_qd, sizeof(def_qd));
		if (o->quick)
			qd[1] = 8;
	}
	if (!nkib) {
		nkib = o->quick ? 2 : 3;
		memcpy(kib, def_kib, sizeof(def_kib));
		if (o->quick)
			kib[1] = 1024;
	}
	for (i = 0; i < nkib; i++)
		kib[i] = kib[i] < SEG / 1024 ? SEG / 1024 : kib[i] / (SEG / 1024) * (SEG / 1024);
	if (o->nr_threads)
		maxt = o->threads[o->nr_threads - 1] < IO_MAX_T ?
		       o->threads[o->nr_threads - 1] : IO_MAX_T;
	if (maxt > 2 && !strstr(o->params ? o->params : "", "t="))
		maxt = 2;	/* one thread per CPU of this machine; --param t=N for more */
	if (o->params && strstr(o->params, "t=")) {
		unsigned long t = strtoul(strstr(o->params, "t=") + 2, NULL, 10);

		if (t >= 1 && t <= IO_MAX_T)
			maxt = (unsigned int)t;
	}
	sw->mem = aligned_alloc(PG, (size_t)MAX_QD * 2 * MAX_REQ_BYTES);
	sw->req = calloc(MAX_QD, sizeof(*sw->req));
	if (!sw->mem || !sw->req) {
		fprintf(stderr, "iovx-bench: out of memory\n");
		exit(1);
	}
	print_setup(o, charge);
	printf("storage:  sg lists of %u KiB segments at scattered addresses, FROM_DEVICE; "
	       "Q requests in flight\n          across min(Q, %u) threads; strict-lx / "
	       "strict-shim: the bench's own strict path with\n          Linux's iova.c / "
	       "iovx's allocator; their gap is the allocator's share\n", SEG / 1024, maxt);
	if (!iovx_lx_available())
		printf("linux:    baseline unavailable (no linux-source tarball at build time)\n");
	iovx_bench_json_u64(j, "segment_bytes", SEG);
	iovx_bench_json_bool(j, "cost_model_charged", charge);
	iovx_bench_json_arr_begin(j, "results");
	for (a = 0; a < nkib; a++) {
		for (b = 0; b < nqd; b++) {
			unsigned int nt = qd[b] < maxt ? qd[b] : maxt;
			double lx_pair = 0, shim_pair = 0, lx_alloc = 0, shim_alloc_ns = 0;

			for (k = 0; k < NR_IO_MODES; k++)
				if (io_modes[k].storage)
					(void)io_ctx_create(&ctx[k], &io_modes[k], charge);
			st_setup(sw, qd[b], kib[a] * 1024);
			for (rep = 0; rep <= o->reps; rep++) {
				for (i = 0; i < NR_IO_MODES; i++) {
					k = rep & 1 ? NR_IO_MODES - 1 - i : i;
					if (!ctx[k].have)
						continue;
					iovx_bench_progress(o, "storage: %u KiB, QD %u, %s, run %u "
							    "of %u\n", kib[a], qd[b],
							    ctx[k].m->name, rep, o->reps);
					io_run(&ctx[k], w, nt, sw, st_body,
					       rep ? o->seconds : o->seconds / 2, rep > 0);
				}
			}
			printf("\n=== %u KiB sg lists (%u segments), queue depth %u, %u thread%s ===\n"
			       "%-12s %9s | %-23s | %-23s | %9s\n", kib[a], sw->nsegs, qd[b], nt,
			       nt > 1 ? "s" : "", "mode", "IO/s", "  map_sg p50/p99/p99.9",
			       "unmap_sg p50/p99/p99.9", "p50 sum");
			for (k = 0; k < NR_IO_MODES; k++) {
				struct io_ctx *c = &ctx[k];
				double pair = (double)iovx_bench_hist_quantile(&c->h[H_MAP], 0.5) +
					      (double)iovx_bench_hist_quantile(&c->h[H_UNMAP], 0.5);
				double alloc = (double)iovx_bench_hist_quantile(&c->h[H_ALLOC], 0.5) +
					       (double)iovx_bench_hist_quantile(&c->h[H_FREE], 0.5);

				if (!io_modes[k].storage)
					continue;
				iovx_bench_json_obj_begin(j, NULL);
				mode_json_head(j, c);
				iovx_bench_json_u64(j, "request_bytes", kib[a] * 1024ull);
				iovx_bench_json_u64(j, "segments", sw->nsegs);
				iovx_bench_json_u64(j, "queue_depth", qd[b]);
				iovx_bench_json_u64(j, "threads", nt);
				if (!c->have) {
					printf("%-12s n/a (%s)\n", io_modes[k].name,
					       strerror(-c->err));
					iovx_bench_json_obj_end(j);
					continue;
				}
				if (c->m->kind == IO_SHIM_LX) {
					lx_pair = pair;
					lx_alloc = alloc;
				}
				if (c->m->kind == IO_SHIM_IOVX) {
					shim_pair = pair;
					shim_alloc_ns = alloc;
				}
				printf("%-12s %9.0f |", c->m->name,
				       c->wall_s > 0 ? c->units / c->wall_s : 0);
				print_q(&c->h[H_MAP]);
				printf(" |");
				print_q(&c->h[H_UNMAP]);
				printf(" | %9.0f%s\n", pair,
				       c->errors || c->data_errors ? "  WARNING: errors" : "");
				bounce_line(j, c);
				iovx_bench_json_num(j, "ios_per_s",
						    c->wall_s > 0 ? c->units / c->wall_s : 0);
				iovx_bench_json_num(j, "p50_map_unmap_ns", pair);
				iovx_bench_json_num(j, "mean_map_unmap_ns",
						    iovx_bench_hist_mean(&c->h[H_MAP]) +
						    iovx_bench_hist_mean(&c->h[H_UNMAP]));
				iovx_bench_json_num(j, "seconds", c->wall_s);
				iovx_bench_json_u64(j, "call_errors", c->errors);
				iovx_bench_json_u64(j, "data_errors", c->data_errors);
				iovx_bench_hist_json(j, "map_sg", &c->h[H_MAP]);
				iovx_bench_hist_json(j, "unmap_sg", &c->h[H_UNMAP]);
				if (c->m->kind != IO_FACADE) {
					iovx_bench_json_num(j, "p50_alloc_free_ns", alloc);
					iovx_bench_hist_json(j, "iova_alloc", &c->h[H_ALLOC]);
					iovx_bench_hist_json(j, "iova_free", &c->h[H_FREE]);
				}
				iovx_bench_json_obj_end(j);
			}
			if (lx_pair > 0 && shim_pair > 0)
				printf("allocator: alloc + free p50 %.0f ns (linux iova.c) and %.0f ns "
				       "(iovx) = %.2f%% and %.2f%% of map+unmap p50\n  (%.0f and %.0f "
				       "ns); linux/iovx: allocator %.2fx, end to end %.3fx\n",
				       lx_alloc, shim_alloc_ns, 100.0 * lx_alloc / lx_pair,
				       100.0 * shim_alloc_ns / shim_pair, lx_pair, shim_pair,
				       shim_alloc_ns > 0 ? lx_alloc / shim_alloc_ns : 0,
				       lx_pair / shim_pair);
			for (k = 0; k < NR_IO_MODES; k++)
				if (ctx[k].have)
					io_ctx_destroy(&ctx[k]);
		}
	}
	iovx_bench_json_arr_end(j);
	free(sw->mem);
	free(sw->req);
	free(sw);
	free(ctx);
	return 0;
}

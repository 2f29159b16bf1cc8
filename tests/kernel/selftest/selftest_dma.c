// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * selftest_dma.c - the DMA facade (include/iovx/dma.h) and the reuse table (iovx/reuse.h,
 * src/reuse/reuse.c) inside the kernel, over a software IOMMU kept in this file.
 *
 * The IOMMU ("st_iommu") implements struct iovx_iommu_ops over a flat page table: one u64
 * per IOVA page of a 32-bit input space (paddr | VALID | prot), written with cmpxchg/xchg
 * so a map over a live IOVA is caught (I1). A device model sits in front of it: a "TLB" of
 * the same shape that translate() fills on a miss, inv_range/inv_all only queue a command,
 * and sync processes every command queued before it. So a translation the device used stays
 * reachable until an invalidation AND a later sync reached it: an unmap that forgets either
 * leaves the device a stale translation that st_translate() still returns (I3). No page-table pages are
 * ever detached (a flat table), so the freelists unmap fills stay empty, as the contract
 * allows; free_pages of a non-empty list is a violation.
 *
 * Cases (each prints RUN, then PASS/FAIL through selftest.c):
 *   dma-strict     map_sg/unmap_sg and map_single of kmalloc'd pages: present with the
 *                  direction's permission while mapped, absent (TLB included) after unmap,
 *                  exactly one sync per unmap, the IOVA back in the allocator
 *   dma-reuse      a tagged list: one miss, then hits with the same DMA address and no IOMMU
 *                  call at all; mark_stop_reuse: absent, IOVA freed; tagged map_single and
 *                  buf_stop_reuse; untagged lists take the strict base
 *   dma-revive     deferred + IOVX_DMA_F_REVIVE: a remap within the window revives the
 *                  mapping; after msleep(5) (> the 1 ms bound) the reaper timer (softirq)
 *                  has torn it down
 *   dma-reuse-smp  a kthread per CPU maps/unmaps tagged and untagged buffers and checks
 *                  every translation it is handed (and, strict base, that an untagged
 *                  unmap left no path to its pages); an unbound kthread stops, re-marks and
 *                  evicts them meanwhile; then everything is stopped and the domain
 *                  destroyed: no entry, no PTE, no IOVA, no facade mapping left
 *   dma-revive-smp the same over reuse + deferred base + IOVX_DMA_F_REVIVE: untagged maps
 *                  revive lingering mappings while the reaper timer expires others
 * Only translations of mappings the checking thread holds are filled into the TLB (a fill
 * of an IOVA someone else may unmap could cache a translation after its invalidation).
 * Building with -DST_MUTATE_NO_SYNC (sync processes nothing) checks the checker: every
 * case must then FAIL with an I3 line.
 */
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include "platform.h"
#include "kglue.h"

#if defined(IOVX_KMOD_HAVE_DMA) && defined(IOVX_KMOD_HAVE_REUSE) && \
	defined(IOVX_KMOD_HAVE_IOVA) && defined(IOVX_KMOD_HAVE_INVAL)
#include <iovx/dma.h>
#include <iovx/iommu.h>
#include <iovx/iova.h>
#include <iovx/reuse.h>
/* White box: the domain's IOVA allocator, to audit that unmapped ranges went back. */
#include "dma/dma_internal.h"

#define ST_SHIFT	12
#define ST_G		(1ull << ST_SHIFT)
#define ST_GMASK	(ST_G - 1)
#define ST_IAS_BITS	32
#define ST_OAS_BITS	46
#define ST_PTE_VALID	(1ull << 2)
#define ST_PTE_FLAGS	(ST_G - 1)
#define ST_EPOCH_SHIFT	ST_OAS_BITS
#define ST_EPOCH_MAX	((1ull << (64 - ST_EPOCH_SHIFT)) - 1)
#define ST_PTE_MASK	((1ull << ST_EPOCH_SHIFT) - 1)
#define ST_INVQ		64		/* queued range commands before "invalidate all" */
#define ST_INV_BIG	4096		/* pages: a range this large invalidates all */

/* ------------------------------------------------------------ the software IOMMU */

struct st_inv_cmd {
	u64 pfn;
	u64 n;
};

struct st_iommu {
	struct iovx_iommu base;
	u64 *pte;			/* per IOVA page: paddr | ST_PTE_VALID | prot, or 0 */
	/*
	 * The device's cached translations: the PTE value with the TLB epoch in bits
	 * ST_EPOCH_SHIFT.. (above every paddr); an entry of another epoch is not cached. An
	 * invalidate-all is a new epoch, so it costs O(1), not a walk of 1M entries.
	 */
	u64 *tlb;
	u64 epoch;			/* 1..ST_EPOCH_MAX; written under qlock */
	u64 npfn;
	spinlock_t qlock;		/* the command queue; taken from softirq too */
	unsigned int nq;
	bool q_all;
	struct st_inv_cmd q[ST_INVQ];
	atomic64_t map_calls, unmap_calls, inv_ranges, inv_alls, syncs, free_calls;
	atomic64_t live_pages;		/* valid PTEs now */
	atomic64_t softirq_unmaps;	/* unmap calls made in softirq context (the reaper) */
	atomic_t violations;
	atomic_t msg_taken;
	char msg[140];
};

static __printf(2, 3) void st_violation(struct st_iommu *m, const char *fmt, ...)
{
	va_list ap;

	atomic_inc(&m->violations);
	if (atomic_cmpxchg(&m->msg_taken, 0, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(m->msg, sizeof(m->msg), fmt, ap);
	va_end(ap);
}

static inline struct st_iommu *to_st(struct iovx_iommu *io)
{
	return container_of(io, struct st_iommu, base);
}

static int st_op_map(struct iovx_iommu *io, uint64_t iova, uint64_t paddr, uint64_t size,
		     unsigned int prot, unsigned int gfp)
{
	struct st_iommu *m = to_st(io);
	u64 i, n, pfn, old;

	atomic64_inc(&m->map_calls);
	if (!size || ((iova | paddr | size) & ST_GMASK) || !prot ||
	    (prot & ~IOVX_IOMMU_PROT_MASK)) {
		st_violation(m, "map: bad args iova %llx pa %llx size %llx prot %x",
			     iova, paddr, size, prot);
		return -EINVAL;
	}
	if (iova + size < iova || ((iova + size - 1) >> ST_IAS_BITS) ||
	    ((paddr + size - 1) >> ST_OAS_BITS)) {
		st_violation(m, "map: out of range iova %llx pa %llx size %llx", iova, paddr, size);
		return -ERANGE;
	}
	pfn = iova >> ST_SHIFT;
	n = size >> ST_SHIFT;
	for (i = 0; i < n; i++) {
		old = 0;
		if (!try_cmpxchg(&m->pte[pfn + i], &old, (paddr + (i << ST_SHIFT)) |
				 ST_PTE_VALID | prot)) {
			st_violation(m, "I1: map over live IOVA %llx (pte %llx)",
				     (pfn + i) << ST_SHIFT, old);
			while (i--)
				WRITE_ONCE(m->pte[pfn + i], 0);
			return -EEXIST;
		}
	}
	atomic64_add(n, &m->live_pages);
	return 0;
}

static uint64_t st_op_unmap(struct iovx_iommu *io, uint64_t iova, uint64_t size,
			    struct iovx_iommu_freelist *freed)
{
	struct st_iommu *m = to_st(io);
	u64 pfn = iova >> ST_SHIFT, end, cnt = 0;

	atomic64_inc(&m->unmap_calls);
	if ((iova | size) & ST_GMASK)
		st_violation(m, "unmap: misaligned %llx+%llx", iova, size);
	if (in_hardirq())
		st_violation(m, "unmap in hard irq context");
	if (in_serving_softirq())
		atomic64_inc(&m->softirq_unmaps);
	end = pfn + min(size >> ST_SHIFT, m->npfn);
	if (end > m->npfn)
		end = m->npfn;
	for (; pfn < end; pfn++) {
		/* a plain read first: unmapping the whole space must not dirty every line */
		if (READ_ONCE(m->pte[pfn]) && xchg(&m->pte[pfn], 0))
			cnt++;
	}
	atomic64_sub(cnt, &m->live_pages);
	return cnt << ST_SHIFT;
}

static int st_op_inv_range(struct iovx_iommu *io, uint64_t iova, uint64_t size)
{
	struct st_iommu *m = to_st(io);
	unsigned long f;
	u64 n;

	if (!size || iova + size < iova)
		return -EINVAL;
	atomic64_inc(&m->inv_ranges);
	n = ((iova & ST_GMASK) + size + ST_GMASK) >> ST_SHIFT;
	spin_lock_irqsave(&m->qlock, f);
	if (m->nq == ST_INVQ || n > ST_INV_BIG) {
		m->q_all = true;
	} else {
		m->q[m->nq].pfn = iova >> ST_SHIFT;
		m->q[m->nq].n = n;
		m->nq++;
	}
	spin_unlock_irqrestore(&m->qlock, f);
	return 0;
}

static int st_op_inv_all(struct iovx_iommu *io)
{
	struct st_iommu *m = to_st(io);
	unsigned long f;

	atomic64_inc(&m->inv_alls);
	spin_lock_irqsave(&m->qlock, f);
	m->q_all = true;
	spin_unlock_irqrestore(&m->qlock, f);
	return 0;
}

/* Processes every command queued so far (by any thread): the TLB forgets their ranges. */
static int st_op_sync(struct iovx_iommu *io)
{
	struct st_iommu *m = to_st(io);
	unsigned long f;
	unsigned int i;
	u64 p, end;

	atomic64_inc(&m->syncs);
#ifdef ST_MUTATE_NO_SYNC
	return 0;	/* checks the checker: with this, every case must FAIL with an I3 line */
#endif
	spin_lock_irqsave(&m->qlock, f);
	if (m->q_all) {
		if (m->epoch == ST_EPOCH_MAX) {	/* wrapped: forget for real, once */
			for (p = 0; p < m->npfn; p++)
				WRITE_ONCE(m->tlb[p], 0);
			WRITE_ONCE(m->epoch, 1);
		} else {
			WRITE_ONCE(m->epoch, m->epoch + 1);
		}
	} else {
		for (i = 0; i < m->nq; i++) {
			end = min(m->q[i].pfn + m->q[i].n, m->npfn);
			for (p = m->q[i].pfn; p < end; p++)
				WRITE_ONCE(m->tlb[p], 0);
		}
	}
	m->nq = 0;
	m->q_all = false;
	spin_unlock_irqrestore(&m->qlock, f);
	return 0;
}

static void st_op_free_pages(struct iovx_iommu *io, struct iovx_iommu_freelist *pages)
{
	struct st_iommu *m = to_st(io);

	atomic64_inc(&m->free_calls);
	if (pages->nr_pages || pages->head)
		st_violation(m, "free_pages of %llu pages this IOMMU never detached",
			     pages->nr_pages);
	iovx_iommu_freelist_init(pages);
}

static const struct iovx_iommu_ops st_iommu_ops = {
	.map = st_op_map,
	.unmap = st_op_unmap,
	.inv_range = st_op_inv_range,
	.inv_all = st_op_inv_all,
	.sync = st_op_sync,
	.free_pages = st_op_free_pages,
};

/*
 * The device's view: does iova translate now, and to what? A TLB hit wins; a miss walks
 * the table and, with fill, caches the result as hardware does. Fill only IOVAs whose
 * mapping the caller holds.
 */
static bool st_translate(struct st_iommu *m, u64 iova, bool fill, u64 *pa, unsigned int *prot)
{
	u64 pfn = iova >> ST_SHIFT, t, ep;

	if (pfn >= m->npfn)
		return false;
	/* an entry filled in an old epoch (before an inv_all's sync) is not a hit */
	ep = READ_ONCE(m->epoch);
	t = READ_ONCE(m->tlb[pfn]);
	if (t >> ST_EPOCH_SHIFT != ep)
		t = 0;
	t &= ST_PTE_MASK;
	if (!t) {
		t = READ_ONCE(m->pte[pfn]);
		if (!t)
			return false;
		if (fill)
			WRITE_ONCE(m->tlb[pfn], t | ep << ST_EPOCH_SHIFT);
	}
	*pa = (t & ~ST_PTE_FLAGS) | (iova & ST_GMASK);
	*prot = t & IOVX_IOMMU_PROT_MASK;
	return true;
}

static struct st_iommu *st_iommu_create(void)
{
	struct st_iommu *m = kzalloc(sizeof(*m), GFP_KERNEL);

	if (!m)
		return NULL;
	m->npfn = 1ull << (ST_IAS_BITS - ST_SHIFT);
	m->pte = kvcalloc(m->npfn, sizeof(u64), GFP_KERNEL);
	m->tlb = kvcalloc(m->npfn, sizeof(u64), GFP_KERNEL);
	if (!m->pte || !m->tlb) {
		kvfree(m->pte);
		kvfree(m->tlb);
		kfree(m);
		return NULL;
	}
	spin_lock_init(&m->qlock);
	m->epoch = 1;
	m->base.ops = &st_iommu_ops;
	m->base.granule_shift = ST_SHIFT;
	m->base.ias_bits = ST_IAS_BITS;
	m->base.oas_bits = ST_OAS_BITS;
	return m;
}

static void st_iommu_destroy(struct st_iommu *m)
{
	if (!m)
		return;
	kvfree(m->pte);
	kvfree(m->tlb);
	kfree(m);
}

/* Translations the device still has cached (current epoch): 0 once all is unmapped. */
static u64 st_tlb_scan(struct st_iommu *m)
{
	u64 p, n = 0, ep = READ_ONCE(m->epoch), t;

	for (p = 0; p < m->npfn; p++) {
		t = READ_ONCE(m->tlb[p]);
		if (t && t >> ST_EPOCH_SHIFT == ep)
			n++;
		if ((p & 0xffff) == 0)
			cond_resched();
	}
	return n;
}

/* Valid PTEs counted in the table itself (not the counter). */
static u64 st_iommu_scan(struct st_iommu *m)
{
	u64 p, n = 0;

	for (p = 0; p < m->npfn; p++) {
		if (READ_ONCE(m->pte[p]))
			n++;
		if ((p & 0xffff) == 0)
			cond_resched();
	}
	return n;
}

/* ------------------------------------------------------------ checks */

static inline unsigned int st_prot(enum iovx_dma_dir dir)
{
	return dir == IOVX_DMA_TO_DEVICE ? IOVX_IOMMU_READ :
	       dir == IOVX_DMA_FROM_DEVICE ? IOVX_IOMMU_WRITE :
	       IOVX_IOMMU_READ | IOVX_IOMMU_WRITE;
}

/* Every page of [dma, dma + len) translates to the same page of pa, with exactly prot. */
static bool st_check_mapped(struct st_iommu *m, u64 dma, u64 pa, u64 len, unsigned int prot,
			    const char *what)
{
	u64 first = dma & ~ST_GMASK, last = (dma + len - 1) & ~ST_GMASK, v, got;
	unsigned int gp;

	if ((dma & ST_GMASK) != (pa & ST_GMASK)) {
		st_violation(m, "%s: dma %llx and pa %llx differ in page offset", what, dma, pa);
		return false;
	}
	for (v = first; v <= last; v += ST_G) {
		u64 want = (pa & ~ST_GMASK) + (v - first);

		if (!st_translate(m, v, true, &got, &gp)) {
			st_violation(m, "%s: iova %llx of a live mapping does not translate",
				     what, v);
			return false;
		}
		if (got != want || gp != prot) {
			st_violation(m, "%s: iova %llx -> pa %llx prot %x, want %llx prot %x",
				     what, v, got, gp, want, prot);
			return false;
		}
	}
	return true;
}

/*
 * After an unmap: no page of [iova, iova + len) reaches pa's pages any more (TLB included).
 * exclusive: nobody else maps in this IOMMU now, so the range must not translate at all.
 */
static bool st_check_gone(struct st_iommu *m, u64 iova, u64 pa, u64 len, bool exclusive,
			  const char *what)
{
	u64 first = iova & ~ST_GMASK, last = (iova + len - 1) & ~ST_GMASK, v, got;
	unsigned int gp;

	for (v = first; v <= last; v += ST_G) {
		if (!st_translate(m, v, false, &got, &gp))
			continue;
		if (exclusive || (got & ~ST_GMASK) == (pa & ~ST_GMASK) + (v - first)) {
			st_violation(m, "%s (I3): iova %llx still reaches pa %llx after unmap",
				     what, v, got);
			return false;
		}
	}
	return true;
}

static inline u64 st_seg_span(const struct iovx_dma_sg *s)
{
	return (((s->phys + s->offset) & ST_GMASK) + s->length + ST_GMASK) & ~ST_GMASK;
}

static u64 st_sg_span(const struct iovx_dma_sg *sg, int nents)
{
	u64 span = 0;
	int i;

	for (i = 0; i < nents; i++)
		span += st_seg_span(&sg[i]);
	return span;
}

/*
 * A mapped list, by dma.h's layout: one IOVA range, each segment padded to the granule and
 * laid out back to back from sg[0]'s page; the DMA segments cover the same bytes.
 */
static bool st_check_sg(struct st_iommu *m, const struct iovx_dma_sg *sg, int nents, int nout,
			enum iovx_dma_dir dir, const char *what)
{
	u64 base = sg[0].dma_address & ~ST_GMASK, pos = 0, in = 0, out = 0;
	int i;

	if (nout <= 0 || nout > nents) {
		st_violation(m, "%s: map_sg returned %d for %d entries", what, nout, nents);
		return false;
	}
	for (i = 0; i < nents; i++) {
		u64 a = sg[i].phys + sg[i].offset;

		if (!st_check_mapped(m, base + pos + (a & ST_GMASK), a, sg[i].length,
				     st_prot(dir), what))
			return false;
		pos += st_seg_span(&sg[i]);
		in += sg[i].length;
		if (i < nout)
			out += sg[i].dma_length;
		else if (sg[i].dma_length) {
			st_violation(m, "%s: dma_length %u past the %d DMA segments", what,
				     sg[i].dma_length, nout);
			return false;
		}
	}
	if (in != out || sg[0].dma_address != base + ((sg[0].phys + sg[0].offset) & ST_GMASK)) {
		st_violation(m, "%s: DMA segments cover %llu of %llu bytes, dma0 %llx", what,
			     out, in, sg[0].dma_address);
		return false;
	}
	return true;
}

static int st_iova_live(struct iovx_dma_domain *dom, u64 *live)
{
	struct iovx_iova_stats a;
	int ret = iovx_iova_audit(dom->iovad, &a);

	*live = a.live;
	return ret;
}

/* Common ending: the sink's first violation, else 0. */
static int st_verdict(struct iovx_st *st, struct st_iommu *m)
{
	if (atomic_read(&m->violations))
		return IOVX_ST_FAIL(st, "%d violation(s), first: %s",
				    atomic_read(&m->violations), m->msg);
	return 0;
}

#define ST_FAILF(fmt, ...) do {						\
	ret = IOVX_ST_FAIL(st, fmt, ##__VA_ARGS__);			\
	goto out;							\
} while (0)
#define ST_REQUIRE(cond) do {						\
	if (!(cond))							\
		ST_FAILF("%s", #cond);					\
} while (0)
/* A check that recorded its own violation: report that. */
#define ST_REQUIRE_V(cond) do {						\
	if (!(cond))							\
		ST_FAILF("%s (%d violation(s))", m->msg,		\
			 atomic_read(&m->violations));			\
} while (0)

static void *st_pages[8];

static int st_alloc_pages(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		/* kmalloc of a page is page-aligned (power-of-two sizes are naturally aligned) */
		st_pages[i] = kmalloc(PAGE_SIZE, GFP_KERNEL);
		if (!st_pages[i])
			return -ENOMEM;
	}
	return 0;
}

static void st_free_pages(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(st_pages); i++) {
		kfree(st_pages[i]);
		st_pages[i] = NULL;
	}
}

static inline u64 st_pa(unsigned int i)
{
	return virt_to_phys(st_pages[i]);
}

/* A single-domain test's cleanup: the domain (if any), the IOMMU, the pages. */
static void st_dma_free(struct st_iommu *m, struct iovx_dma_domain *dom)
{
	if (dom)
		iovx_dma_domain_destroy(dom);
	st_iommu_destroy(m);
	st_free_pages();
}

/*
 * A single-domain test's end once its own checks passed: no IOVA live, nothing cached for
 * the device, the domain destroyed with nothing leaked, every IOMMU page unmapped; then the verdict.
 * Frees everything either way.
 */
static int st_dma_close(struct iovx_st *st, struct st_iommu *m, struct iovx_dma_domain *dom)
{
	u64 live;
	int ret;

	ret = st_iova_live(dom, &live);
	if (ret || live)
		ST_FAILF("IOVA audit at the end: %d live=%llu", ret, live);
	ST_REQUIRE(st_tlb_scan(m) == 0);	/* nothing left cached for the device */
	ret = iovx_dma_domain_destroy(dom);
	dom = NULL;
	if (ret)
		ST_FAILF("domain_destroy: %d leaked", ret);
	ST_REQUIRE(atomic64_read(&m->live_pages) == 0 && st_iommu_scan(m) == 0);
	ret = st_verdict(st, m);
out:
	st_dma_free(m, dom);
	return ret;
}

/* ------------------------------------------------------------ strict */

static int st_dma_strict(struct iovx_st *st)
{
	struct iovx_dma_sg sg[3];
	struct iovx_dma_config cfg;
	struct iovx_dma_domain *dom = NULL;
	struct iovx_dma_stats ds;
	struct st_iommu *m;
	u64 base, span, syncs0, inv0, dma;
	int ret = 0, n;

	m = st_iommu_create();
	if (!m || st_alloc_pages(3))
		ST_FAILF("no memory");
	iovx_dma_config_init(&cfg, &m->base, IOVX_DMA_MODE_STRICT);
	ret = iovx_dma_domain_create(&cfg, &dom);
	if (ret) {
		dom = NULL;
		ST_FAILF("domain_create: %d", ret);
	}
	memset(sg, 0, sizeof(sg));
	sg[0] = (struct iovx_dma_sg){ .phys = st_pa(0), .offset = 0, .length = PAGE_SIZE };
	sg[1] = (struct iovx_dma_sg){ .phys = st_pa(1), .offset = 256, .length = 1000 };
	sg[2] = (struct iovx_dma_sg){ .phys = st_pa(2), .offset = 0, .length = PAGE_SIZE };

	n = iovx_dma_map_sg(dom, sg, 3, IOVX_DMA_TO_DEVICE, 0);
	ST_REQUIRE_V(st_check_sg(m, sg, 3, n, IOVX_DMA_TO_DEVICE, "strict map_sg"));
	ST_REQUIRE(atomic64_read(&m->live_pages) == 3);
	base = sg[0].dma_address & ~ST_GMASK;
	span = st_sg_span(sg, 3);
	syncs0 = atomic64_read(&m->syncs);
	inv0 = atomic64_read(&m->inv_ranges);
	ret = iovx_dma_unmap_sg(dom, sg, 3, IOVX_DMA_TO_DEVICE, 0);
	if (ret)
		ST_FAILF("unmap_sg: %d", ret);
	ST_REQUIRE_V(st_check_gone(m, base, 0, span, true, "strict unmap_sg"));
	ST_REQUIRE(atomic64_read(&m->live_pages) == 0);
	if (atomic64_read(&m->syncs) - syncs0 != 1 || atomic64_read(&m->inv_ranges) == inv0)
		ST_FAILF("unmap_sg issued %lld syncs and %lld range invalidations, want 1 and >= 1",
			 atomic64_read(&m->syncs) - syncs0, atomic64_read(&m->inv_ranges) - inv0);
	ret = iovx_dma_unmap_sg(dom, sg, 3, IOVX_DMA_TO_DEVICE, 0);
	if (ret != -ENOENT)
		ST_FAILF("second unmap_sg: %d, want -ENOENT", ret);
	ret = 0;

	ret = iovx_dma_map_single(dom, st_pa(1) + 256, 1000, IOVX_DMA_FROM_DEVICE, 0, &dma);
	if (ret)
		ST_FAILF("map_single: %d", ret);
	ST_REQUIRE_V(st_check_mapped(m, dma, st_pa(1) + 256, 1000, IOVX_IOMMU_WRITE,
				     "strict map_single"));
	ret = iovx_dma_unmap_single(dom, dma, 1000, IOVX_DMA_FROM_DEVICE, 0);
	if (ret)
		ST_FAILF("unmap_single: %d", ret);
	ST_REQUIRE_V(st_check_gone(m, dma, 0, 1000, true, "strict unmap_single"));
	iovx_dma_get_stats(dom, &ds);
	ST_REQUIRE(ds.live == 0 && ds.maps == 2 && ds.unmaps == 2);
	iovx_st_info("dma-strict info map_calls=%lld unmap_calls=%lld inv_ranges=%lld syncs=%lld dma0=%llx",
		     atomic64_read(&m->map_calls), atomic64_read(&m->unmap_calls),
		     atomic64_read(&m->inv_ranges), atomic64_read(&m->syncs), base);
	return st_dma_close(st, m, dom);
out:
	st_dma_free(m, dom);
	return ret;
}

/* ------------------------------------------------------------ reuse */

#define ST_REUSE_ROUNDS	100

static int st_dma_reuse(struct iovx_st *st)
{
	struct iovx_dma_sg sg[2], usg[1];
	struct iovx_dma_config cfg;
	struct iovx_dma_domain *dom = NULL;
	struct iovx_reuse_stats rs;
	struct st_iommu *m;
	u64 dma0, dma1, base, span, live, mc, uc, ic, sc, d1, d2;
	int ret = 0, n, i;

	m = st_iommu_create();
	if (!m || st_alloc_pages(3))
		ST_FAILF("no memory");
	iovx_dma_config_init(&cfg, &m->base, IOVX_DMA_MODE_REUSE);	/* base: strict */
	ret = iovx_dma_domain_create(&cfg, &dom);
	if (ret) {
		dom = NULL;
		ST_FAILF("domain_create: %d", ret);
	}
	memset(sg, 0, sizeof(sg));
	sg[0] = (struct iovx_dma_sg){ .phys = st_pa(0), .offset = 0, .length = PAGE_SIZE };
	sg[1] = (struct iovx_dma_sg){ .phys = st_pa(1), .offset = 512, .length = 2048 };
	ret = iovx_sg_mark_reusable(sg, 2);
	if (ret)
		ST_FAILF("mark_reusable: %d", ret);

	n = iovx_dma_map_sg(dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0);
	ST_REQUIRE_V(st_check_sg(m, sg, 2, n, IOVX_DMA_BIDIRECTIONAL, "reuse first map"));
	dma0 = sg[0].dma_address;
	dma1 = sg[1].dma_address;
	base = dma0 & ~ST_GMASK;
	span = st_sg_span(sg, 2);
	ret = iovx_dma_unmap_sg(dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0);
	if (ret)
		ST_FAILF("first unmap_sg: %d", ret);
	/* from here on no IOMMU call at all: every map is a hit, every unmap a reference drop */
	mc = atomic64_read(&m->map_calls);
	uc = atomic64_read(&m->unmap_calls);
	ic = atomic64_read(&m->inv_ranges) + atomic64_read(&m->inv_alls);
	sc = atomic64_read(&m->syncs);
	for (i = 1; i < ST_REUSE_ROUNDS; i++) {
		n = iovx_dma_map_sg(dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0);
		if (sg[0].dma_address != dma0 || sg[1].dma_address != dma1)
			ST_FAILF("round %d: dma %llx/%llx, first map gave %llx/%llx", i,
				 sg[0].dma_address, sg[1].dma_address, dma0, dma1);
		ST_REQUIRE_V(st_check_sg(m, sg, 2, n, IOVX_DMA_BIDIRECTIONAL, "reuse hit"));
		ret = iovx_dma_unmap_sg(dom, sg, 2, IOVX_DMA_BIDIRECTIONAL, 0);
		if (ret)
			ST_FAILF("round %d: unmap_sg %d", i, ret);
	}
	if (atomic64_read(&m->map_calls) != mc || atomic64_read(&m->unmap_calls) != uc ||
	    atomic64_read(&m->inv_ranges) + atomic64_read(&m->inv_alls) != ic ||
	    atomic64_read(&m->syncs) != sc)
		ST_FAILF("hits made IOMMU calls: map %lld unmap %lld inv %lld sync %lld",
			 atomic64_read(&m->map_calls) - mc, atomic64_read(&m->unmap_calls) - uc,
			 atomic64_read(&m->inv_ranges) + atomic64_read(&m->inv_alls) - ic,
			 atomic64_read(&m->syncs) - sc);
	iovx_dma_get_reuse_stats(dom, &rs);
	if (rs.misses != 1 || rs.hits != ST_REUSE_ROUNDS - 1 || rs.entries != 1 || rs.refs)
		ST_FAILF("stats misses=%llu hits=%llu entries=%llu refs=%llu, want 1 %u 1 0",
			 rs.misses, rs.hits, rs.entries, rs.refs, ST_REUSE_ROUNDS - 1);
	/* idle, still mapped: that is the point of reuse */
	ST_REQUIRE_V(st_check_sg(m, sg, 2, n, IOVX_DMA_BIDIRECTIONAL, "reuse idle entry"));

	ret = iovx_sg_mark_stop_reuse(sg, 2);
	if (ret != 1)
		ST_FAILF("mark_stop_reuse: %d, want 1 entry torn down", ret);
	ret = 0;
	ST_REQUIRE_V(st_check_gone(m, base, 0, span, true, "after mark_stop_reuse"));
	ST_REQUIRE(atomic64_read(&m->live_pages) == 0);
	ret = st_iova_live(dom, &live);
	if (ret || live)
		ST_FAILF("IOVA not freed by the stop: audit %d live=%llu", ret, live);
	iovx_dma_get_reuse_stats(dom, &rs);
	ST_REQUIRE(rs.stops == 1 && rs.entries == 0);
	ST_REQUIRE(sg[0].flags == IOVX_SG_REUSE_STOPPED && sg[1].flags == IOVX_SG_REUSE_STOPPED);
	ret = iovx_sg_mark_stop_reuse(sg, 2);
	if (ret != -EALREADY)
		ST_FAILF("second stop: %d, want -EALREADY", ret);
	ret = 0;

	/* a tagged single buffer: two maps share the entry, buf_stop_reuse tears it down */
	ret = iovx_dma_map_single(dom, st_pa(2) + 100, 3000, IOVX_DMA_TO_DEVICE,
				  IOVX_DMA_ATTR_REUSE, &d1);
	if (!ret)
		ret = iovx_dma_map_single(dom, st_pa(2) + 100, 3000, IOVX_DMA_TO_DEVICE,
					  IOVX_DMA_ATTR_REUSE, &d2);
	if (ret || d1 != d2)
		ST_FAILF("tagged map_single: %d, dma %llx and %llx", ret, d1, d2);
	ST_REQUIRE_V(st_check_mapped(m, d1, st_pa(2) + 100, 3000, IOVX_IOMMU_READ,
				     "tagged map_single"));
	ret = iovx_dma_unmap_single(dom, d1, 3000, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	if (!ret)
		ret = iovx_dma_unmap_single(dom, d2, 3000, IOVX_DMA_TO_DEVICE,
					    IOVX_DMA_ATTR_REUSE);
	if (ret)
		ST_FAILF("tagged unmap_single: %d", ret);
	ret = iovx_dma_unmap_single(dom, d1, 3000, IOVX_DMA_TO_DEVICE, IOVX_DMA_ATTR_REUSE);
	if (ret != -ENOENT)
		ST_FAILF("third unmap_single of two maps: %d, want -ENOENT", ret);
	ret = iovx_buf_stop_reuse(st_pa(2), PAGE_SIZE);
	if (ret != 1)
		ST_FAILF("buf_stop_reuse: %d, want 1", ret);
	ret = 0;
	ST_REQUIRE_V(st_check_gone(m, d1, 0, 3000, true, "after buf_stop_reuse"));

	/* untagged in a reuse domain: the strict base, gone at unmap */
	mc = atomic64_read(&m->map_calls);
	memset(usg, 0, sizeof(usg));
	usg[0] = (struct iovx_dma_sg){ .phys = st_pa(0), .offset = 0, .length = PAGE_SIZE };
	n = iovx_dma_map_sg(dom, usg, 1, IOVX_DMA_FROM_DEVICE, 0);
	ST_REQUIRE_V(st_check_sg(m, usg, 1, n, IOVX_DMA_FROM_DEVICE, "untagged in reuse"));
	ST_REQUIRE(atomic64_read(&m->map_calls) == mc + 1);
	base = usg[0].dma_address;
	ret = iovx_dma_unmap_sg(dom, usg, 1, IOVX_DMA_FROM_DEVICE, 0);
	if (ret)
		ST_FAILF("untagged unmap_sg: %d", ret);
	ST_REQUIRE_V(st_check_gone(m, base, 0, PAGE_SIZE, true, "untagged unmap in reuse"));
	iovx_dma_get_reuse_stats(dom, &rs);
	iovx_st_info("dma-reuse info dma=%llx rounds=%u hits=%llu misses=%llu stops=%llu map_calls=%lld syncs=%lld",
		     dma0, ST_REUSE_ROUNDS, rs.hits, rs.misses, rs.stops,
		     atomic64_read(&m->map_calls), atomic64_read(&m->syncs));
	return st_dma_close(st, m, dom);
out:
	st_dma_free(m, dom);
	return ret;
}

/* ------------------------------------------------------------ revive */

#define ST_REVIVE_TRIES	5

static int st_dma_revive(struct iovx_st *st)
{
	struct iovx_dma_sg sg[1];
	struct iovx_dma_config cfg;
	struct iovx_dma_domain *dom = NULL;
	struct iovx_reuse_stats rs;
	struct st_iommu *m;
	u64 a, b, mc, t0, waited_ms = 0, soft0 = 0, exp0 = 0;
	int ret = 0, n, try;
	bool revived = false;

	m = st_iommu_create();
	if (!m || st_alloc_pages(1))
		ST_FAILF("no memory");
	iovx_dma_config_init(&cfg, &m->base, IOVX_DMA_MODE_DEFERRED);
	cfg.flags = IOVX_DMA_F_REVIVE;		/* default bound: 1 ms, linger 0.5 ms */
	ret = iovx_dma_domain_create(&cfg, &dom);
	if (ret) {
		dom = NULL;
		ST_FAILF("domain_create: %d", ret);
	}
	memset(sg, 0, sizeof(sg));
	sg[0] = (struct iovx_dma_sg){ .phys = st_pa(0), .offset = 0, .length = PAGE_SIZE };

	/*
	 * The window is 0.5 ms of guest time: a vCPU descheduled by the host between the
	 * unmap and the map may miss it, so a few tries are allowed (each one reported).
	 */
	for (try = 1; try <= ST_REVIVE_TRIES && !revived; try++) {
		n = iovx_dma_map_sg(dom, sg, 1, IOVX_DMA_TO_DEVICE, 0);
		ST_REQUIRE_V(st_check_sg(m, sg, 1, n, IOVX_DMA_TO_DEVICE, "revive first map"));
		a = sg[0].dma_address;
		ret = iovx_dma_unmap_sg(dom, sg, 1, IOVX_DMA_TO_DEVICE, 0);
		if (ret)
			ST_FAILF("unmap_sg: %d", ret);
		mc = atomic64_read(&m->map_calls);
		n = iovx_dma_map_sg(dom, sg, 1, IOVX_DMA_TO_DEVICE, 0);
		ST_REQUIRE_V(st_check_sg(m, sg, 1, n, IOVX_DMA_TO_DEVICE, "revive remap"));
		b = sg[0].dma_address;
		revived = a == b && atomic64_read(&m->map_calls) == mc;
		/*
		 * The reference point of the expiry checks, taken before the unmap: the
		 * reaper timer may fire as soon as the unmap returns (TCG can deschedule
		 * this vCPU for milliseconds between any two lines below).
		 */
		soft0 = atomic64_read(&m->softirq_unmaps);
		iovx_dma_get_reuse_stats(dom, &rs);
		exp0 = rs.expired;
		ret = iovx_dma_unmap_sg(dom, sg, 1, IOVX_DMA_TO_DEVICE, 0);
		if (ret)
			ST_FAILF("unmap_sg after remap: %d", ret);
		if (!revived)
			iovx_st_info("dma-revive info try %d missed the window (dma %llx then %llx)",
				     try, a, b);
	}
	if (!revived)
		ST_FAILF("no remap within the window revived in %d tries", ST_REVIVE_TRIES);
	iovx_dma_get_reuse_stats(dom, &rs);
	if (rs.revivals < 1)
		ST_FAILF("revived (same dma %llx, no map call) but stats revivals=%llu", b,
			 rs.revivals);
	/*
	 * The last unmap left the mapping lingering, still translated, unless the reaper timer
	 * has expired it already (the unmap of a revived entry does not poll the reaper, so
	 * nothing else than the timer tears it down).
	 */
	ST_REQUIRE(atomic64_read(&m->live_pages) == 1 ||
		   atomic64_read(&m->softirq_unmaps) != soft0);

	t0 = iovx_now_ns();
	msleep(5);				/* > the 1 ms bound */
	iovx_dma_get_reuse_stats(dom, &rs);
	if (rs.expired == exp0 || atomic64_read(&m->live_pages)) {
		/* how late is it? report, then fail */
		while (waited_ms < 200 &&
		       (atomic64_read(&m->live_pages) || rs.expired == exp0)) {
			msleep(1);
			waited_ms++;
			iovx_dma_get_reuse_stats(dom, &rs);
		}
		ST_FAILF("after msleep(5): not expired (%llu ms more: expired %llu->%llu live_pages=%lld)",
			 waited_ms, exp0, rs.expired, atomic64_read(&m->live_pages));
	}
	ST_REQUIRE_V(st_check_gone(m, b, 0, PAGE_SIZE, true, "revive after the window"));
	/* every expiry since the reference point (a missed try's too) ran in the timer */
	if (atomic64_read(&m->softirq_unmaps) - soft0 < rs.expired - exp0)
		ST_FAILF("an expiry's unmap did not run in softirq (the reaper timer): %llu softirq unmaps, %llu expiries",
			 atomic64_read(&m->softirq_unmaps) - soft0, rs.expired - exp0);
	iovx_st_info("dma-revive info dma=%llx tries=%d revivals=%llu expired=%llu softirq_unmaps=%lld slept_ns=%llu",
		     b, try - 1, rs.revivals, rs.expired,
		     atomic64_read(&m->softirq_unmaps) - soft0, iovx_now_ns() - t0);
	return st_dma_close(st, m, dom);
out:
	st_dma_free(m, dom);
	return ret;
}

/* ------------------------------------------------------------ concurrency */

#define ST_SMP_BUFS		4
#define ST_SMP_ITERS		40000u
#define ST_SMP_TABLE_ORDER	4	/* 16 entries: full tables and evictions happen */
#define ST_SMP_RESCHED		15u

struct st_sbuf {
	void *page[2];
	struct iovx_dma_sg sg[2];	/* the worker's tagged list */
	struct iovx_dma_sg usg[2];	/* the worker's untagged list, same bytes */
	struct iovx_dma_sg ssg[2];	/* the stopper's own tagged list, same bytes */
};

struct st_smp {
	struct st_iommu *m;
	struct iovx_dma_domain *dom;
	struct st_sbuf *bufs;		/* nworkers * ST_SMP_BUFS */
	unsigned int nworkers;
	bool revive;			/* reuse over deferred + IOVX_DMA_F_REVIVE */
	atomic_t workers_done;
	atomic64_t tagged, singles, untagged, doubles, fresh_on_race;
	atomic64_t stops, stopped_entries, evict_calls, evicted;
	u64 stop_ns, stop_ns_max;	/* the stopper's own */
	u64 worker_ns_max;
};

static void st_sbuf_init(struct st_sbuf *b, unsigned int k)
{
	u64 pa0 = virt_to_phys(b->page[0]), pa1 = virt_to_phys(b->page[1]);

	memset(b->sg, 0, sizeof(b->sg));
	b->sg[0] = (struct iovx_dma_sg){ .phys = pa0, .offset = 64 * k,
					 .length = PAGE_SIZE - 64 * k };
	b->sg[1] = (struct iovx_dma_sg){ .phys = pa1, .offset = 0, .length = 1024 * (k + 1) };
	memcpy(b->usg, b->sg, sizeof(b->sg));
	memcpy(b->ssg, b->sg, sizeof(b->sg));
	iovx_sg_mark_reusable(b->sg, 2);
	iovx_sg_mark_reusable(b->ssg, 2);
}

static const enum iovx_dma_dir st_dirs[3] = {
	IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_TO_DEVICE, IOVX_DMA_FROM_DEVICE
};

static void st_smp_sg_round(struct st_smp *s, struct st_sbuf *b, enum iovx_dma_dir dir,
			    bool twice)
{
	struct st_iommu *m = s->m;
	u64 a0[2], l0[2];
	int n, n2, ret;

	n = iovx_dma_map_sg(s->dom, b->sg, 2, dir, 0);
	if (!st_check_sg(m, b->sg, 2, n, dir, "smp tagged map"))
		return;
	if (twice) {
		/*
		 * A second reference in flight. It gets another IOVA when a stop raced us (a
		 * fresh entry) or the table was full (an untagged fallback): fresh_on_race.
		 */
		a0[0] = b->sg[0].dma_address;
		a0[1] = b->sg[1].dma_address;
		l0[0] = b->sg[0].dma_length;
		l0[1] = b->sg[1].dma_length;
		n2 = iovx_dma_map_sg(s->dom, b->sg, 2, dir, 0);
		if (!st_check_sg(m, b->sg, 2, n2, dir, "smp tagged second map"))
			return;
		if (b->sg[0].dma_address != a0[0])
			atomic64_inc(&s->fresh_on_race);
		ret = iovx_dma_unmap_sg(s->dom, b->sg, 2, dir, 0);
		if (ret) {
			st_violation(m, "smp second unmap_sg: %d", ret);
			return;
		}
		b->sg[0].dma_address = a0[0];
		b->sg[1].dma_address = a0[1];
		b->sg[0].dma_length = (u32)l0[0];
		b->sg[1].dma_length = (u32)l0[1];
		atomic64_inc(&s->doubles);
		/* the first mapping must still be intact after dropping the second */
		if (!st_check_sg(m, b->sg, 2, n, dir, "smp tagged first map after second unmap"))
			return;
	}
	ret = iovx_dma_unmap_sg(s->dom, b->sg, 2, dir, 0);
	if (ret)
		st_violation(m, "smp tagged unmap_sg: %d", ret);
	atomic64_inc(&s->tagged);
}

static void st_smp_single_round(struct st_smp *s, struct st_sbuf *b, enum iovx_dma_dir dir)
{
	u64 pa = b->sg[0].phys + b->sg[0].offset, dma;
	int ret;

	ret = iovx_dma_map_single(s->dom, pa, b->sg[0].length, dir, IOVX_DMA_ATTR_REUSE, &dma);
	if (ret) {
		st_violation(s->m, "smp tagged map_single: %d", ret);
		return;
	}
	if (!st_check_mapped(s->m, dma, pa, b->sg[0].length, st_prot(dir), "smp map_single"))
		return;
	ret = iovx_dma_unmap_single(s->dom, dma, b->sg[0].length, dir, IOVX_DMA_ATTR_REUSE);
	if (ret)
		st_violation(s->m, "smp tagged unmap_single: %d", ret);
	atomic64_inc(&s->singles);
}

static void st_smp_untagged_round(struct st_smp *s, struct st_sbuf *b, enum iovx_dma_dir dir)
{
	u64 base;
	int n, ret, i;

	n = iovx_dma_map_sg(s->dom, b->usg, 2, dir, 0);
	if (!st_check_sg(s->m, b->usg, 2, n, dir, "smp untagged map"))
		return;
	base = b->usg[0].dma_address & ~ST_GMASK;
	ret = iovx_dma_unmap_sg(s->dom, b->usg, 2, dir, 0);
	if (ret) {
		st_violation(s->m, "smp untagged unmap_sg: %d", ret);
		return;
	}
	atomic64_inc(&s->untagged);
	if (s->revive)
		return;		/* deferred: reachable up to the bound, by contract */
	/* others may map the freed IOVA at once, but never to our pages */
	for (i = 0; i < 2; i++) {
		u64 pos = i ? st_seg_span(&b->usg[0]) : 0;
		u64 a = b->usg[i].phys + b->usg[i].offset;

		if (!st_check_gone(s->m, base + pos + (a & ST_GMASK), a, b->usg[i].length,
				   false, "smp untagged unmap"))
			return;
	}
}

static int st_smp_worker(struct st_smp *s, unsigned int idx)
{
	u64 seed = iovx_st_seed(idx, 0xd3a5eed), t0 = iovx_now_ns(), dt, old;
	unsigned int i;

	for (i = 0; i < ST_SMP_ITERS && !atomic_read(&s->m->violations); i++) {
		struct st_sbuf *b = &s->bufs[idx * ST_SMP_BUFS +
					     iovx_st_rand(&seed) % ST_SMP_BUFS];
		enum iovx_dma_dir dir = st_dirs[iovx_st_rand(&seed) % 3];
		unsigned int r = iovx_st_rand(&seed) % 100;

		if (r < 60)
			st_smp_sg_round(s, b, dir, false);
		else if (r < 70)
			st_smp_sg_round(s, b, dir, true);
		else if (r < 85)
			st_smp_single_round(s, b, dir);
		else
			st_smp_untagged_round(s, b, dir);
		if ((i & ST_SMP_RESCHED) == 0)
			cond_resched();
	}
	dt = iovx_now_ns() - t0;
	old = READ_ONCE(s->worker_ns_max);
	while (dt > old && !try_cmpxchg(&s->worker_ns_max, &old, dt))
		;
	atomic_inc(&s->workers_done);
	return 0;
}

static int st_smp_stopper(struct st_smp *s, unsigned int idx)
{
	u64 seed = iovx_st_seed(idx, 0x5709);
	unsigned int i;
	int ret;

	for (i = 0; atomic_read(&s->workers_done) < s->nworkers; i++) {
		struct st_sbuf *b = &s->bufs[iovx_st_rand(&seed) %
					     (s->nworkers * ST_SMP_BUFS)];

		unsigned int r = iovx_st_rand(&seed) % 8;

		if (r < 2) {
			ret = iovx_dma_reuse_evict(s->dom, r ? 0 : 2);
			if (ret < 0)
				st_violation(s->m, "smp reuse_evict: %d", ret);
			else
				atomic64_add(ret, &s->evicted);
			atomic64_inc(&s->evict_calls);
		} else if (r == 2) {
			/* one domain, by bytes: the second page of the buffer */
			ret = iovx_dma_stop_reuse(s->dom, b->ssg[1].phys, PAGE_SIZE);
			if (ret < 0)
				st_violation(s->m, "smp dma_stop_reuse: %d", ret);
			else
				atomic64_add(ret, &s->stopped_entries);
			atomic64_inc(&s->stops);
		} else {
			u64 t0 = iovx_now_ns(), dt;

			ret = iovx_sg_mark_stop_reuse(b->ssg, 2);
			dt = iovx_now_ns() - t0;
			s->stop_ns += dt;
			if (dt > s->stop_ns_max)
				s->stop_ns_max = dt;
			if (ret < 0)
				st_violation(s->m, "smp mark_stop_reuse: %d", ret);
			else
				atomic64_add(ret, &s->stopped_entries);
			ret = iovx_sg_mark_reusable(b->ssg, 2);
			if (ret)
				st_violation(s->m, "smp re-mark: %d", ret);
			atomic64_inc(&s->stops);
		}
		cond_resched();
		if ((i & 7) == 7)
			usleep_range(50, 100);
	}
	return 0;
}

static int st_smp_thread(void *arg, unsigned int idx)
{
	struct st_smp *s = arg;

	return idx < s->nworkers ? st_smp_worker(s, idx) : st_smp_stopper(s, idx);
}

static int st_dma_smp(struct iovx_st *st, bool revive)
{
	struct iovx_dma_config cfg;
	struct iovx_reuse_stats rs;
	struct iovx_dma_stats ds;
	struct st_smp *s;
	struct st_iommu *m;
	unsigned int nthreads = iovx_st_nr_threads(1), nb, i, k, ran = 0;
	u64 live, t0;
	int ret = 0, r;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	m = st_iommu_create();
	if (!s || !m) {
		kfree(s);
		st_iommu_destroy(m);
		return IOVX_ST_FAIL(st, "no memory");
	}
	s->m = m;
	s->revive = revive;
	s->nworkers = nthreads - 1;
	nb = s->nworkers * ST_SMP_BUFS;
	s->bufs = kcalloc(nb, sizeof(*s->bufs), GFP_KERNEL);
	if (!s->bufs)
		ST_FAILF("no memory");
	for (i = 0; i < nb; i++) {
		for (k = 0; k < 2; k++) {
			s->bufs[i].page[k] = kmalloc(PAGE_SIZE, GFP_KERNEL);
			if (!s->bufs[i].page[k])
				ST_FAILF("no memory");
		}
		st_sbuf_init(&s->bufs[i], i % ST_SMP_BUFS);
	}
	iovx_dma_config_init(&cfg, &m->base, IOVX_DMA_MODE_REUSE);
	cfg.reuse_table_order = ST_SMP_TABLE_ORDER;
	if (revive) {
		cfg.fallback = IOVX_DMA_MODE_DEFERRED;
		cfg.flags = IOVX_DMA_F_REVIVE;
	}
	ret = iovx_dma_domain_create(&cfg, &s->dom);
	if (ret) {
		s->dom = NULL;
		ST_FAILF("domain_create: %d", ret);
	}
	t0 = iovx_now_ns();
	ret = iovx_st_run_threads(st_smp_thread, s, 1, &ran);
	if (ret)
		ST_FAILF("threads: %d", ret);
	if (ran != nthreads)
		ST_FAILF("ran %u threads, expected %u", ran, nthreads);
	ret = st_verdict(st, m);
	if (ret)
		goto out;

	/* quiescent: stop every buffer, then nothing may be left anywhere */
	for (i = 0; i < nb; i++) {
		r = iovx_sg_mark_stop_reuse(s->bufs[i].ssg, 2);
		if (r < 0)
			ST_FAILF("final stop of buffer %u: %d", i, r);
	}
	if (revive) {
		/* what deferred mode still holds back goes now */
		r = iovx_dma_flush_deferred(s->dom);
		if (r)
			ST_FAILF("flush_deferred: %d", r);
	}
	iovx_dma_get_reuse_stats(s->dom, &rs);
	if (rs.entries || rs.refs || rs.active)
		ST_FAILF("after the final stops: entries=%llu refs=%llu active=%llu",
			 rs.entries, rs.refs, rs.active);
	if (atomic64_read(&m->live_pages) || st_iommu_scan(m))
		ST_FAILF("after the final stops: %lld pages still mapped (scan %llu)",
			 atomic64_read(&m->live_pages), st_iommu_scan(m));
	/* every unmap was invalidated and synced: the device has nothing cached (I3) */
	if (st_tlb_scan(m))
		ST_FAILF("I3: after the final stops the device TLB still holds %llu translations",
			 st_tlb_scan(m));
	r = st_iova_live(s->dom, &live);
	if (r || live)
		ST_FAILF("IOVA audit after the final stops: %d live=%llu", r, live);
	iovx_dma_get_stats(s->dom, &ds);
	if (ds.live || ds.maps != ds.unmaps)
		ST_FAILF("facade: live=%llu maps=%llu unmaps=%llu", ds.live, ds.maps, ds.unmaps);
	if (!rs.hits || !rs.misses || !rs.stops)
		ST_FAILF("workload did not exercise the table: hits=%llu misses=%llu stops=%llu",
			 rs.hits, rs.misses, rs.stops);
	iovx_st_info("%s info threads=%u ms=%llu tagged=%lld doubles=%lld singles=%lld untagged=%lld hits=%llu misses=%llu fallbacks=%llu evictions=%llu stops=%llu stop_calls=%lld evict_calls=%lld fresh_on_race=%lld map_calls=%lld syncs=%lld",
		     revive ? "dma-revive-smp" : "dma-reuse-smp", nthreads,
		     div_u64(iovx_now_ns() - t0, NSEC_PER_MSEC),
		     atomic64_read(&s->tagged), atomic64_read(&s->doubles),
		     atomic64_read(&s->singles), atomic64_read(&s->untagged), rs.hits, rs.misses,
		     rs.untagged_fallbacks, rs.evictions, rs.stops, atomic64_read(&s->stops),
		     atomic64_read(&s->evict_calls), atomic64_read(&s->fresh_on_race),
		     atomic64_read(&m->map_calls), atomic64_read(&m->syncs));
	iovx_st_info("%s info worker_ms_max=%llu stop_ms_total=%llu stop_us_max=%llu revivals=%llu expired=%llu softirq_unmaps=%lld inv_alls=%lld",
		     revive ? "dma-revive-smp" : "dma-reuse-smp",
		     div_u64(s->worker_ns_max, NSEC_PER_MSEC), div_u64(s->stop_ns, NSEC_PER_MSEC),
		     div_u64(s->stop_ns_max, NSEC_PER_USEC), rs.revivals, rs.expired,
		     atomic64_read(&m->softirq_unmaps), atomic64_read(&m->inv_alls));
	ret = iovx_dma_domain_destroy(s->dom);
	s->dom = NULL;
	if (ret)
		ST_FAILF("domain_destroy: %d leaked", ret);
	ST_REQUIRE(atomic64_read(&m->live_pages) == 0 && st_iommu_scan(m) == 0);
	ret = st_verdict(st, m);
out:
	if (s->dom)
		iovx_dma_domain_destroy(s->dom);
	for (i = 0; s->bufs && i < nb; i++) {
		kfree(s->bufs[i].page[0]);
		kfree(s->bufs[i].page[1]);
	}
	kfree(s->bufs);
	kfree(s);
	st_iommu_destroy(m);
	return ret;
}

static int st_dma_reuse_smp(struct iovx_st *st)
{
	return st_dma_smp(st, false);
}

static int st_dma_revive_smp(struct iovx_st *st)
{
	return st_dma_smp(st, true);
}

const struct iovx_st_case iovx_st_dma_cases[] = {
	{ "dma-strict", st_dma_strict },
	{ "dma-reuse", st_dma_reuse },
	{ "dma-revive", st_dma_revive },
	{ "dma-reuse-smp", st_dma_reuse_smp },
	{ "dma-revive-smp", st_dma_revive_smp },
	{ NULL, NULL }
};

#else /* a part missing */

static int st_dma_missing(struct iovx_st *st)
{
	st->skipped = 1;
	snprintf(st->reason, sizeof(st->reason),
		 "src/dma, src/reuse, src/iova or src/inval not built into this module");
	return 0;
}

const struct iovx_st_case iovx_st_dma_cases[] = {
	{ "dma", st_dma_missing },
	{ NULL, NULL }
};
#endif

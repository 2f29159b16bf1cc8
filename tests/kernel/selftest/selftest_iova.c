// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * selftest_iova.c - the IOVA allocator (include/iovx/iova.h) inside the kernel: a torture
 * test with ownership stamps on every granule, run by kthreads on every CPU plus one that
 * migrates, with part of the frees done in softirq (timer) and hard-irq (irq_work) context;
 * a test of reclaim across CPUs from atomic context (the private per-CPU scheme); then the
 * same workloads
 * through the kernel's own allocator (alloc_iova_fast / free_iova_fast) for a side-by-side
 * timing. Under TCG the timings are emulation timings: compare the two, never with hardware.
 *
 * Stamps (after ztest and DPDK's ring tests): stamp[pfn] holds the owner id of the
 * allocation covering pfn, 0 when free, ST_STAMP_RESERVED inside reserved ranges. An
 * allocation claims every granule with cmpxchg(0 -> owner) and a free releases with
 * cmpxchg(owner -> 0): any failure is two live owners of one granule (I1) or a wrong free.
 * After the storm every stamp must be back to 0 and iovx_iova_audit() must close with
 * live == 0 (I6).
 */
#include <linux/bottom_half.h>
#include <linux/cpu.h>
#include <linux/delay.h>
#include <linux/irq_work.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/llist.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/iova.h>

#include "platform.h"
#include "kglue.h"

#ifdef IOVX_KMOD_HAVE_IOVA
#include "iovx/iova.h"

#define ST_STAMP_RESERVED	0xffffffffu
#define ST_RESCHED_MASK		63u

/* ------------------------------------------------------------ allocator ops */

struct st_alloc_ops {
	const char *name;
	int64_t (*alloc)(void *dom, u64 n, u64 limit);	/* pfn, or -errno */
	int (*free)(void *dom, u64 pfn, u64 n);
	int (*reserve)(void *dom, u64 pfn, u64 n);
	void *dom;
	u64 start_pfn;
	u64 end_pfn;
};

static int64_t st_iovx_alloc(void *dom, u64 n, u64 limit)
{
	return iovx_iova_alloc(dom, n, limit);
}

static int st_iovx_free(void *dom, u64 pfn, u64 n)
{
	return iovx_iova_free(dom, pfn, n);
}

static int st_iovx_reserve(void *dom, u64 pfn, u64 n)
{
	return iovx_iova_reserve(dom, pfn, n);
}

struct st_linux_dom {
	struct iova_domain iovad;
	u64 end_pfn;
};

/* The kernel's limit is inclusive; iovx's is exclusive. Both stay inside [start, end). */
static int64_t st_linux_alloc(void *dom, u64 n, u64 limit)
{
	struct st_linux_dom *d = dom;
	unsigned long pfn;

	if (limit > d->end_pfn)
		limit = d->end_pfn;
	pfn = alloc_iova_fast(&d->iovad, n, limit - 1, true);
	return pfn ? (int64_t)pfn : -ENOMEM;
}

static int st_linux_free(void *dom, u64 pfn, u64 n)
{
	struct st_linux_dom *d = dom;

	free_iova_fast(&d->iovad, pfn, n);
	return 0;
}

static int st_linux_reserve(void *dom, u64 pfn, u64 n)
{
	struct st_linux_dom *d = dom;

	return reserve_iova(&d->iovad, pfn, pfn + n - 1) ? 0 : -ENOMEM;
}

static int st_iovx_open(struct st_alloc_ops *ops, u64 end_pfn, unsigned int flags)
{
	struct iovx_iova_config cfg;
	struct iovx_iova_domain *dom;
	int ret;

	iovx_iova_config_init(&cfg, 1, end_pfn);
	cfg.flags = flags;
	ret = iovx_iova_domain_create(&cfg, &dom);
	if (ret)
		return ret;
	*ops = (struct st_alloc_ops){
		.name = "iovx", .alloc = st_iovx_alloc, .free = st_iovx_free,
		.reserve = st_iovx_reserve, .dom = dom, .start_pfn = 1, .end_pfn = end_pfn,
	};
	return 0;
}

static void st_iovx_close(struct st_alloc_ops *ops)
{
	iovx_iova_domain_destroy(ops->dom);
}

static int st_linux_open(struct st_alloc_ops *ops, u64 end_pfn)
{
	struct st_linux_dom *d;
	int ret;

	ret = iova_cache_get();
	if (ret)
		return ret;
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d) {
		iova_cache_put();
		return -ENOMEM;
	}
	init_iova_domain(&d->iovad, PAGE_SIZE, 1);
	ret = iovx_compat_iova_init_rcaches(&d->iovad);
	if (ret) {
		put_iova_domain(&d->iovad);
		kfree(d);
		iova_cache_put();
		return ret;
	}
	d->end_pfn = end_pfn;
	*ops = (struct st_alloc_ops){
		.name = "linux", .alloc = st_linux_alloc, .free = st_linux_free,
		.reserve = st_linux_reserve, .dom = d, .start_pfn = 1, .end_pfn = end_pfn,
	};
	return 0;
}

static void st_linux_close(struct st_alloc_ops *ops)
{
	struct st_linux_dom *d = ops->dom;

	put_iova_domain(&d->iovad);
	kfree(d);
	iova_cache_put();
}

/* ------------------------------------------------------------ stress with stamps */

#define ST_STRESS_END_PFN	(1u << 18)
#define ST_STRESS_OPS		12000u
#define ST_STRESS_LIVE		64u
#define ST_RESV_PFN		(ST_STRESS_END_PFN / 2 + 3)
#define ST_RESV_LEN		37u

struct st_rec {
	struct llist_node node;
	u64 pfn;
	u64 n;
	u32 owner;
};

struct st_stress {
	struct st_alloc_ops *ops;
	u32 *stamp;			/* per pfn; NULL: no stamping (benchmark) */
	bool timer_frees;
	unsigned int ops_per_thread;
	struct llist_head to_free;	/* drained by the timer, in softirq context */
	struct llist_head to_free_hard;	/* drained by the irq_work, in hard-irq context */
	struct irq_work hard_work;
	struct iovx_timer timer;
	bool stop;
	atomic_t violations;
	atomic_t msg_taken;
	char msg[120];
	atomic64_t allocs;
	atomic64_t frees;
	atomic64_t softirq_frees;
	atomic64_t hardirq_frees;
	atomic64_t enomem;
	atomic64_t pairs;
	atomic64_t thread_ns;
};

static void st_violation(struct st_stress *s, const char *what, u64 pfn, u64 n, u32 owner,
			 u32 seen)
{
	atomic_inc(&s->violations);
	if (atomic_cmpxchg(&s->msg_taken, 0, 1) == 0)
		snprintf(s->msg, sizeof(s->msg), "%s: [%llu,+%llu) owner %x found %x",
			 what, pfn, n, owner, seen);
}

static void st_claim(struct st_stress *s, u64 pfn, u64 n, u32 owner, u64 limit)
{
	u64 i, align = roundup_pow_of_two(n);
	u32 old;

	if (pfn < s->ops->start_pfn || pfn + n > s->ops->end_pfn || pfn + n > limit ||
	    (pfn & (align - 1))) {
		st_violation(s, "bad range (limit/alignment/domain)", pfn, n, owner, 0);
		return;
	}
	if (!s->stamp)
		return;
	for (i = 0; i < n; i++) {
		old = 0;
		if (!try_cmpxchg(&s->stamp[pfn + i], &old, owner)) {
			st_violation(s, "I1 granule already owned", pfn + i, n, owner, old);
			return;
		}
	}
}

static void st_release(struct st_stress *s, u64 pfn, u64 n, u32 owner)
{
	u64 i;
	u32 old;

	if (!s->stamp)
		return;
	for (i = 0; i < n; i++) {
		old = owner;
		if (!try_cmpxchg(&s->stamp[pfn + i], &old, 0)) {
			st_violation(s, "free of a granule not owned", pfn + i, n, owner, old);
			return;
		}
	}
}

static void st_do_free(struct st_stress *s, u64 pfn, u64 n, u32 owner)
{
	int ret;

	/* release before the free: after the free another owner may claim at once */
	st_release(s, pfn, n, owner);
	ret = s->ops->free(s->ops->dom, pfn, n);
	if (ret)
		st_violation(s, "free returned an error", pfn, n, owner, (u32)-ret);
	atomic64_inc(&s->frees);
}

static void st_drain_list(struct st_stress *s, struct llist_head *head)
{
	struct llist_node *list = llist_del_all(head);
	struct st_rec *r, *tmp;

	llist_for_each_entry_safe(r, tmp, list, node) {
		st_do_free(s, r->pfn, r->n, r->owner);
		kfree(r);
		if (in_hardirq())
			atomic64_inc(&s->hardirq_frees);
		else if (in_serving_softirq())
			atomic64_inc(&s->softirq_frees);
	}
}

static void st_drain(struct st_stress *s)
{
	st_drain_list(s, &s->to_free);
	st_drain_list(s, &s->to_free_hard);
}

/* Frees in hard-irq context, on the CPU that queued them (a self-IPI on x86). */
static void st_hard_fn(struct irq_work *w)
{
	struct st_stress *s = container_of(w, struct st_stress, hard_work);

	st_drain_list(s, &s->to_free_hard);
}

static void st_timer_fn(void *arg)
{
	struct st_stress *s = arg;

	st_drain(s);
	if (!READ_ONCE(s->stop))
		iovx_timer_arm(&s->timer, 100 * NSEC_PER_USEC);
}

/* Mostly small sizes (the cached path), some mid, a few beyond every cache. */
static u64 st_pick_size(u64 *seed)
{
	u64 r = iovx_st_rand(seed) % 100;

	if (r < 70)
		return 1 + iovx_st_rand(seed) % 4;
	if (r < 90)
		return 5 + iovx_st_rand(seed) % 60;
	if (r < 98)
		return 65 + iovx_st_rand(seed) % 236;
	return 301 + iovx_st_rand(seed) % 724;
}

struct st_live {
	u64 pfn;
	u64 n;
	u32 owner;
};

static int st_stress_worker(void *arg, unsigned int idx)
{
	struct st_stress *s = arg;
	u64 seed = iovx_st_seed(idx, 0x10ba5eed);
	struct st_live *live;
	unsigned int nlive = 0, i, k, seq = 0;
	u64 n, limit, t0, pairs = 0;
	struct st_rec *r;
	int64_t pfn;
	u32 owner;

	live = kcalloc(ST_STRESS_LIVE, sizeof(*live), GFP_KERNEL);
	if (!live)
		return -ENOMEM;
	t0 = iovx_now_ns();
	for (i = 0; i < s->ops_per_thread; i++) {
		if (nlive < ST_STRESS_LIVE && (nlive == 0 || iovx_st_rand(&seed) % 2)) {
			n = st_pick_size(&seed);
			/* one in eight asks for a low limit, as a 32-bit DMA mask does */
			limit = iovx_st_rand(&seed) % 8 ? IOVX_IOVA_NO_LIMIT
							 : s->ops->end_pfn / 4;
			pfn = s->ops->alloc(s->ops->dom, n, limit);
			if (pfn == -ENOMEM) {
				atomic64_inc(&s->enomem);
				continue;
			}
			if (pfn <= 0) {
				st_violation(s, "alloc error", 0, n, 0, (u32)-pfn);
				continue;
			}
			owner = ((idx + 1) << 24) | (++seq & 0xffffff);
			if (!(owner & 0xffffff))
				owner = ((idx + 1) << 24) | (++seq & 0xffffff);
			st_claim(s, pfn, n, owner, limit);
			atomic64_inc(&s->allocs);
			live[nlive++] = (struct st_live){ .pfn = pfn, .n = n, .owner = owner };
		} else {
			k = iovx_st_rand(&seed) % nlive;
			r = NULL;
			if (s->timer_frees && iovx_st_rand(&seed) % 8 == 0)
				r = kmalloc(sizeof(*r), GFP_KERNEL);
			if (r) {
				r->pfn = live[k].pfn;
				r->n = live[k].n;
				r->owner = live[k].owner;
				/* half to the timer (softirq), half to an irq_work (hard irq) */
				if (iovx_st_rand(&seed) % 2) {
					llist_add(&r->node, &s->to_free);
				} else {
					llist_add(&r->node, &s->to_free_hard);
					irq_work_queue(&s->hard_work);
				}
			} else {
				st_do_free(s, live[k].pfn, live[k].n, live[k].owner);
			}
			live[k] = live[--nlive];
			pairs++;
		}
		if ((i & ST_RESCHED_MASK) == 0)
			cond_resched();
	}
	while (nlive) {
		nlive--;
		st_do_free(s, live[nlive].pfn, live[nlive].n, live[nlive].owner);
		pairs++;
	}
	atomic64_add(iovx_now_ns() - t0, &s->thread_ns);
	atomic64_add(pairs, &s->pairs);
	kfree(live);
	return 0;
}

/*
 * Runs the stress workload on ops. Returns 0 or a failure in st. *ns_per_pair gets the
 * mean thread time per alloc+free pair (stamping included when stamps is set).
 */
static int st_stress_run(struct iovx_st *st, struct st_alloc_ops *ops, bool stamps,
			 bool timer_frees, u64 *ns_per_pair)
{
	struct st_stress *s;
	u64 i, pairs;
	int ret;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return IOVX_ST_FAIL(st, "no memory");
	s->ops = ops;
	s->timer_frees = timer_frees;
	s->ops_per_thread = ST_STRESS_OPS;
	init_llist_head(&s->to_free);
	init_llist_head(&s->to_free_hard);
	init_irq_work(&s->hard_work, st_hard_fn);
	if (stamps) {
		s->stamp = kvcalloc(ops->end_pfn, sizeof(*s->stamp), GFP_KERNEL);
		if (!s->stamp) {
			kfree(s);
			return IOVX_ST_FAIL(st, "no memory for stamps");
		}
	}
	ret = ops->reserve(ops->dom, ST_RESV_PFN, ST_RESV_LEN);
	if (ret) {
		ret = IOVX_ST_FAIL(st, "%s: reserve %d", ops->name, ret);
		goto out;
	}
	for (i = 0; s->stamp && i < ST_RESV_LEN; i++)
		s->stamp[ST_RESV_PFN + i] = ST_STAMP_RESERVED;
	iovx_timer_init(&s->timer, st_timer_fn, s);
	if (timer_frees)
		iovx_timer_arm(&s->timer, 100 * NSEC_PER_USEC);
	ret = iovx_st_run_threads(st_stress_worker, s, 1, NULL);
	WRITE_ONCE(s->stop, true);
	iovx_timer_cancel_sync(&s->timer);
	iovx_timer_destroy(&s->timer);
	irq_work_sync(&s->hard_work);
	st_drain(s);	/* what the timer and the irq_work had not reached yet */
	if (ret) {
		ret = IOVX_ST_FAIL(st, "%s: threads: %d", ops->name, ret);
		goto out;
	}
	if (atomic_read(&s->violations)) {
		ret = IOVX_ST_FAIL(st, "%s: %d violations, first: %s", ops->name,
				   atomic_read(&s->violations), s->msg);
		goto out;
	}
	for (i = 0; s->stamp && i < ops->end_pfn; i++) {
		if (s->stamp[i] && s->stamp[i] != ST_STAMP_RESERVED) {
			ret = IOVX_ST_FAIL(st, "%s: pfn %llu still stamped %x after all frees",
					   ops->name, i, s->stamp[i]);
			goto out;
		}
	}
	if (atomic64_read(&s->allocs) != atomic64_read(&s->frees)) {
		ret = IOVX_ST_FAIL(st, "%s: %lld allocs but %lld frees", ops->name,
				   atomic64_read(&s->allocs), atomic64_read(&s->frees));
		goto out;
	}
	if (timer_frees && !atomic64_read(&s->softirq_frees)) {
		ret = IOVX_ST_FAIL(st, "%s: no free ran in softirq context", ops->name);
		goto out;
	}
	if (timer_frees && !atomic64_read(&s->hardirq_frees)) {
		ret = IOVX_ST_FAIL(st, "%s: no free ran in hard-irq context", ops->name);
		goto out;
	}
	pairs = atomic64_read(&s->pairs);
	*ns_per_pair = pairs ? div64_u64(atomic64_read(&s->thread_ns), pairs) : 0;
	iovx_st_info("stress info alloc=%s stamps=%d allocs=%lld softirq_frees=%lld hardirq_frees=%lld enomem=%lld ns_per_pair=%llu",
		     ops->name, stamps, atomic64_read(&s->allocs),
		     atomic64_read(&s->softirq_frees), atomic64_read(&s->hardirq_frees),
		     atomic64_read(&s->enomem), *ns_per_pair);
out:
	kvfree(s->stamp);
	kfree(s);
	return ret;
}

static int st_audit_empty(struct iovx_st *st, struct st_alloc_ops *ops, const char *when,
			  u64 min_reserved)
{
	struct iovx_iova_stats a;
	int ret;

	ret = iovx_iova_audit(ops->dom, &a);
	if (ret)
		return IOVX_ST_FAIL(st, "audit %s: %d (live=%llu)", when, ret, a.live);
	if (a.live)
		return IOVX_ST_FAIL(st, "audit %s: live=%llu, want 0", when, a.live);
	if (a.total != a.reserved + a.live + a.cached + a.depot + a.backend_free)
		return IOVX_ST_FAIL(st, "audit %s: I6 sums: total %llu != %llu+%llu+%llu+%llu+%llu",
				    when, a.total, a.reserved, a.live, a.cached, a.depot,
				    a.backend_free);
	if (a.reserved < min_reserved)
		return IOVX_ST_FAIL(st, "audit %s: reserved %llu < %llu", when, a.reserved,
				    min_reserved);
	iovx_st_info("audit info %s total=%llu reserved=%llu cached=%llu depot=%llu free=%llu backend_allocs=%llu bypass=%llu percpu_mode=%llu",
		     when, a.total, a.reserved, a.cached, a.depot, a.backend_free, a.backend_allocs,
		     a.cache_bypass, a.percpu_mode);
	return 0;
}

static int st_iova_stress(struct iovx_st *st)
{
	struct st_alloc_ops ops;
	struct iovx_iova_stats a;
	int64_t got;
	u64 ns;
	int ret;

	ret = st_iovx_open(&ops, ST_STRESS_END_PFN, 0);
	if (ret)
		return IOVX_ST_FAIL(st, "domain_create: %d", ret);
	ret = st_stress_run(st, &ops, true, true, &ns);
	if (!ret)
		ret = st_audit_empty(st, &ops, "after-stress", ST_RESV_LEN);
	if (!ret) {
		got = iovx_iova_reclaim(ops.dom);
		if (got < 0)
			ret = IOVX_ST_FAIL(st, "reclaim: %lld", got);
	}
	if (!ret)
		ret = st_audit_empty(st, &ops, "after-reclaim", ST_RESV_LEN);
	if (!ret && (iovx_iova_audit(ops.dom, &a) || a.cached || a.depot))
		ret = IOVX_ST_FAIL(st, "reclaim left cached=%llu depot=%llu", a.cached, a.depot);
	st_iovx_close(&ops);
	return ret;
}

/* The same storm through the kernel's allocator: validates the harness, and times it. */
static int st_linux_stress(struct iovx_st *st)
{
	struct st_alloc_ops ops;
	u64 ns;
	int ret;

	ret = st_linux_open(&ops, ST_STRESS_END_PFN);
	if (ret)
		return IOVX_ST_FAIL(st, "linux iova domain: %d", ret);
	ret = st_stress_run(st, &ops, true, true, &ns);
	st_linux_close(&ops);
	return ret;
}

/* ------------------------------------------------------------ basics and pressure */

static int st_iova_basic(struct iovx_st *st)
{
	struct iovx_iova_domain *dom;
	struct iovx_iova_config cfg;
	int64_t a, b;
	int ret;

	iovx_iova_config_init(&cfg, 1, 1u << 16);
	cfg.flags = IOVX_IOVA_CHECKED;
	ret = iovx_iova_domain_create(&cfg, &dom);
	if (ret)
		return IOVX_ST_FAIL(st, "domain_create: %d", ret);
	a = iovx_iova_alloc(dom, 1, IOVX_IOVA_NO_LIMIT);
	b = iovx_iova_alloc(dom, 3, 1u << 12);
	ret = 0;
	if (a <= 0 || b <= 0 || a == b || (b & 3) || b + 3 > (1 << 12))
		ret = IOVX_ST_FAIL(st, "alloc gave %lld and %lld", a, b);
	else if (iovx_iova_alloc(dom, 0, IOVX_IOVA_NO_LIMIT) != -EINVAL)
		ret = IOVX_ST_FAIL(st, "alloc of 0 granules not -EINVAL");
	else if (iovx_iova_free(dom, b, 3) || iovx_iova_free(dom, a, 1))
		ret = IOVX_ST_FAIL(st, "free failed");
	else if (iovx_iova_free(dom, a, 1) != -EFAULT)
		ret = IOVX_ST_FAIL(st, "checked domain: double free not -EFAULT");
	iovx_iova_domain_destroy(dom);
	return ret;
}

#define ST_PRESS_END_PFN	2048u

struct st_press {
	struct iovx_iova_domain *dom;
	u64 *pfns;		/* every granule handed out, shared */
	atomic_t n;
	atomic_t errors;
};

static int st_press_worker(void *arg, unsigned int idx)
{
	struct st_press *p = arg;
	unsigned int i;
	int64_t pfn;
	int slot;

	for (i = 0;; i++) {
		if ((i & ST_RESCHED_MASK) == 0)
			cond_resched();
		pfn = iovx_iova_alloc(p->dom, 1, IOVX_IOVA_NO_LIMIT);
		if (pfn == -ENOMEM)
			return 0;
		if (pfn <= 0 || pfn >= ST_PRESS_END_PFN) {
			atomic_inc(&p->errors);
			return 0;
		}
		/* give some back at once, so caches hold granules that reclaim must find */
		if (i % 7 == 3) {
			iovx_iova_free(p->dom, pfn, 1);
			continue;
		}
		slot = atomic_inc_return(&p->n) - 1;
		if (slot >= ST_PRESS_END_PFN) {	/* more granules than exist: I1 broken */
			atomic_inc(&p->errors);
			return 0;
		}
		p->pfns[slot] = pfn;
	}
}

/*
 * Fill a small domain with single granules from every CPU until -ENOMEM, then check that
 * every usable granule was handed out (reclaim returns cached granules before failing),
 * none twice, and that the domain audits clean after freeing them all.
 */
static int st_iova_pressure(struct iovx_st *st)
{
	struct iovx_iova_config cfg;
	struct st_press *p;
	unsigned long *seen = NULL;
	struct iovx_iova_stats a;
	int64_t pfn;
	int ret, i, n, extra = 0;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return IOVX_ST_FAIL(st, "no memory");
	p->pfns = kcalloc(ST_PRESS_END_PFN, sizeof(*p->pfns), GFP_KERNEL);
	seen = bitmap_zalloc(ST_PRESS_END_PFN, GFP_KERNEL);
	iovx_iova_config_init(&cfg, 1, ST_PRESS_END_PFN);
	ret = -ENOMEM;
	if (p->pfns && seen)
		ret = iovx_iova_domain_create(&cfg, &p->dom);
	if (ret) {
		ret = IOVX_ST_FAIL(st, "set-up: %d", ret);
		goto out;
	}
	ret = iovx_st_run_threads(st_press_worker, p, 1, NULL);
	/*
	 * A thread may fail while another CPU still holds a claimed slot; whatever is left
	 * must come out now, from this one caller, and then the domain must be full.
	 */
	while (atomic_read(&p->n) < ST_PRESS_END_PFN &&
	       (pfn = iovx_iova_alloc(p->dom, 1, IOVX_IOVA_NO_LIMIT)) > 0) {
		p->pfns[atomic_inc_return(&p->n) - 1] = pfn;
		extra++;
	}
	n = atomic_read(&p->n);
	if (ret || atomic_read(&p->errors)) {
		ret = IOVX_ST_FAIL(st, "threads %d, bad pfns %d", ret, atomic_read(&p->errors));
		goto out_free;
	}
	for (i = 0; i < n; i++) {
		if (test_and_set_bit(p->pfns[i], seen)) {
			ret = IOVX_ST_FAIL(st, "I1: pfn %llu handed out twice", p->pfns[i]);
			goto out_free;
		}
	}
	if (n != ST_PRESS_END_PFN - 1) {
		ret = IOVX_ST_FAIL(st, "domain full at %d of %u granules", n,
				   ST_PRESS_END_PFN - 1);
		goto out_free;
	}
	iovx_st_info("pressure info granules=%d leftover_after_threads=%d", n, extra);
out_free:
	n = min_t(int, atomic_read(&p->n), ST_PRESS_END_PFN);
	for (i = 0; i < n; i++)
		iovx_iova_free(p->dom, p->pfns[i], 1);
	if (!ret) {
		ret = iovx_iova_audit(p->dom, &a);
		if (ret || a.live)
			ret = IOVX_ST_FAIL(st, "audit after pressure: %d live=%llu", ret, a.live);
	}
	iovx_iova_domain_destroy(p->dom);
out:
	bitmap_free(seen);
	kfree(p->pfns);
	kfree(p);
	return ret;
}

/* ------------------------------------------------------------ idle trimming */

struct st_trim {
	struct iovx_iova_domain *dom;
	atomic_t errors;
};

/* On every CPU: rounds of 64 ranges of 1..8 granules, allocated and then freed. */
static int st_trim_worker(void *arg, unsigned int idx)
{
	struct st_trim *t = arg;
	int64_t pfn[64];
	unsigned int r, i;

	for (r = 0; r < 8; r++) {
		for (i = 0; i < 64; i++) {
			pfn[i] = iovx_iova_alloc(t->dom, 1u << (i % 4), IOVX_IOVA_NO_LIMIT);
			if (pfn[i] <= 0) {
				atomic_inc(&t->errors);
				break;
			}
		}
		while (i--)
			if (iovx_iova_free(t->dom, pfn[i], 1u << (i % 4)))
				atomic_inc(&t->errors);
		cond_resched();
	}
	return 0;
}

/*
 * A domain with trim_idle_ns: every CPU uses it, then nobody does; the trim timer (a soft
 * hrtimer) must see every cache and depot class idle and kick each CPU to give its ranges
 * back, so caches and depot end empty (5 s is only a hang guard), the audit exact.
 */
static int st_iova_trim(struct iovx_st *st)
{
	struct iovx_iova_config cfg;
	struct iovx_iova_stats a;
	struct st_trim t = { 0 };
	unsigned int waited;
	int ret;

	atomic_set(&t.errors, 0);
	iovx_iova_config_init(&cfg, 1, 1u << 16);
	cfg.trim_idle_ns = 10 * NSEC_PER_MSEC;
	ret = iovx_iova_domain_create(&cfg, &t.dom);
	if (ret)
		return IOVX_ST_FAIL(st, "domain_create: %d", ret);
	ret = iovx_st_run_threads(st_trim_worker, &t, 0, NULL);
	if (ret || atomic_read(&t.errors)) {
		ret = IOVX_ST_FAIL(st, "threads %d, errors %d", ret, atomic_read(&t.errors));
		goto out;
	}
	for (waited = 0; waited < 5000; waited += 10) {
		ret = iovx_iova_get_stats(t.dom, &a);
		if (ret || (a.cached == 0 && a.depot == 0))
			break;
		msleep(10);
	}
	if (ret || a.cached || a.depot) {
		ret = IOVX_ST_FAIL(st, "not trimmed: %d cached=%llu depot=%llu", ret, a.cached,
				   a.depot);
		goto out;
	}
	ret = iovx_iova_audit(t.dom, &a);
	if (ret || a.live || a.backend_free != a.total || !a.trims)
		ret = IOVX_ST_FAIL(st, "audit after trim: %d live=%llu free=%llu trims=%llu", ret,
				   a.live, a.backend_free, a.trims);
	else
		iovx_st_info("trim info waited_ms=%u trims=%llu", waited, a.trims);
out:
	iovx_iova_domain_destroy(t.dom);
	return ret;
}

/* ------------------------------------------------------------ reclaim across CPUs */

/*
 * The promise of reclaim under the private per-CPU scheme (docs/allocator.md, "Kernel
 * per-CPU caches"): CPU B takes every granule of a small domain, then frees a few, which sit
 * in B's own cache (no other CPU may touch it). CPU A then allocates from atomic context:
 *   - interrupts on (bottom halves and preemption off, as in softirq): A asks B to drain
 *     and waits for it, so the allocation must succeed with one of B's granules;
 *   - interrupts off: A must not wait for B; it kicks B and goes on. It must not hang, and
 *     what it returns is one of B's granules or -ENOMEM; B's cache is drained by the kick
 *     soon after A's interrupts are back on;
 *   - A holds a spinlock (atomic, interrupts on) that B spins on with interrupts off, so B
 *     can never answer: A must give up waiting and return -ENOMEM instead of deadlocking;
 *     once A drops the lock, B takes the kick and A's next allocation gets B's granule.
 */
#define ST_STEAL_END_PFN	513u	/* granules 1..512 */
#define ST_STEAL_CACHED		8u

struct st_steal {
	struct iovx_iova_domain *dom;
	u64 pfns[ST_STEAL_END_PFN];
	unsigned int n;
	u64 cached[ST_STEAL_CACHED];
	int64_t got;
	bool atomic_ctx;
	bool irqs_were_off;
	unsigned int cpu;
};

/* On B: every granule, then ST_STEAL_CACHED of them back into B's cache. */
static int st_steal_fill(void *arg)
{
	struct st_steal *s = arg;
	unsigned int i;
	int64_t pfn;

	s->n = 0;
	while ((pfn = iovx_iova_alloc(s->dom, 1, IOVX_IOVA_NO_LIMIT)) > 0) {
		if (s->n >= ST_STEAL_END_PFN - 1)
			return -EFAULT;		/* more granules than the domain has */
		s->pfns[s->n++] = (u64)pfn;
	}
	if (pfn != -ENOMEM)
		return (int)pfn;
	if (s->n != ST_STEAL_END_PFN - 1)
		return -ENOSPC;
	for (i = 0; i < ST_STEAL_CACHED; i++) {
		s->cached[i] = s->pfns[--s->n];
		if (iovx_iova_free(s->dom, s->cached[i], 1))
			return -EFAULT;
	}
	return 0;
}

/* On A, bottom halves and preemption off: atomic, interrupts on. */
static int st_steal_take_bh(void *arg)
{
	struct st_steal *s = arg;

	local_bh_disable();
	preempt_disable();
	s->atomic_ctx = in_atomic();
	s->cpu = smp_processor_id();
	s->got = iovx_iova_alloc(s->dom, 1, IOVX_IOVA_NO_LIMIT);
	preempt_enable();
	local_bh_enable();
	return 0;
}

/* On A, interrupts off. */
static int st_steal_take_irqoff(void *arg)
{
	struct st_steal *s = arg;
	unsigned long flags;

	local_irq_save(flags);
	s->irqs_were_off = irqs_disabled();
	s->cpu = smp_processor_id();
	s->got = iovx_iova_alloc(s->dom, 1, IOVX_IOVA_NO_LIMIT);
	local_irq_restore(flags);
	return 0;
}

/* B spins, interrupts off, on a lock A holds while A allocates. */
struct st_steal_lock {
	struct st_steal *s;
	spinlock_t lock;
	struct task_struct *spinner;
	atomic_t b_state;	/* 1: B has interrupts off and is about to spin; 2: B done */
	int a_err;
};

static int st_steal_spinner(void *arg)
{
	struct st_steal_lock *l = arg;
	unsigned long flags;

	local_irq_save(flags);
	atomic_set(&l->b_state, 1);
	spin_lock(&l->lock);
	spin_unlock(&l->lock);
	local_irq_restore(flags);
	atomic_set(&l->b_state, 2);
	while (!kthread_should_stop())
		schedule_timeout_interruptible(1);
	return 0;
}

/* On A: take the lock, start B's spinner, allocate, drop the lock. */
static int st_steal_take_locked(void *arg)
{
	struct st_steal_lock *l = arg;
	u64 t0;

	spin_lock(&l->lock);
	wake_up_process(l->spinner);
	for (t0 = ktime_get_ns(); atomic_read(&l->b_state) != 1;) {
		/* B never ran: not the case under test */
		if (ktime_get_ns() - t0 > 10 * NSEC_PER_SEC) {
			spin_unlock(&l->lock);
			l->a_err = -ETIMEDOUT;
			return 0;
		}
		cpu_relax();
	}
	l->s->atomic_ctx = in_atomic() && !irqs_disabled();
	l->s->cpu = smp_processor_id();
	l->s->got = iovx_iova_alloc(l->s->dom, 1, IOVX_IOVA_NO_LIMIT);
	spin_unlock(&l->lock);
	return 0;
}

static bool st_steal_was_cached(struct st_steal *s, int64_t pfn)
{
	unsigned int i;

	for (i = 0; i < ST_STEAL_CACHED; i++)
		if (s->cached[i] == (u64)pfn)
			return true;
	return false;
}

/*
 * The start of a steal test: two online CPUs (else the test is skipped: 0), and a fresh
 * domain in *s whose CPU B cache st_steal_fill filled. 1 when set up, or the failure's
 * return value (< 0) with nothing left allocated.
 */
static int st_steal_open(struct iovx_st *st, struct st_steal **s, unsigned int *cpu_a,
			 unsigned int *cpu_b)
{
	struct iovx_iova_config cfg;
	int ret;

	if (num_online_cpus() < 2) {
		st->skipped = 1;
		snprintf(st->reason, sizeof(st->reason), "needs two online CPUs");
		return 0;
	}
	*cpu_a = cpumask_first(cpu_online_mask);
	*cpu_b = cpumask_next(*cpu_a, cpu_online_mask);
	*s = kzalloc(sizeof(**s), GFP_KERNEL);
	if (!*s)
		return IOVX_ST_FAIL(st, "no memory");
	iovx_iova_config_init(&cfg, 1, ST_STEAL_END_PFN);
	ret = iovx_iova_domain_create(&cfg, &(*s)->dom);
	if (ret) {
		kfree(*s);
		return IOVX_ST_FAIL(st, "domain_create: %d", ret);
	}
	ret = smp_call_on_cpu(*cpu_b, st_steal_fill, *s, false);
	if (ret) {
		iovx_iova_domain_destroy((*s)->dom);
		kfree(*s);
		return IOVX_ST_FAIL(st, "fill on cpu %u: %d", *cpu_b, ret);
	}
	return 1;
}

/* Frees everything s holds (the fill minus the cached ones) plus extra, then audits. */
static int st_steal_release(struct iovx_st *st, struct st_steal *s, const int64_t *extra,
			    unsigned int nextra)
{
	struct iovx_iova_stats a;
	unsigned int i;
	int ret;

	for (i = 0; i < s->n; i++)
		if (iovx_iova_free(s->dom, s->pfns[i], 1))
			return IOVX_ST_FAIL(st, "free of %llu failed", s->pfns[i]);
	for (i = 0; i < nextra; i++)
		if (extra[i] > 0 && iovx_iova_free(s->dom, extra[i], 1))
			return IOVX_ST_FAIL(st, "free of %lld failed", extra[i]);
	s->n = 0;
	ret = iovx_iova_audit(s->dom, &a);
	if (ret || a.live)
		return IOVX_ST_FAIL(st, "audit: %d live=%llu", ret, a.live);
	return 0;
}

static int st_iova_steal(struct iovx_st *st)
{
	struct iovx_iova_stats a;
	unsigned int cpu_a, cpu_b, waited;
	struct st_steal_lock *l = NULL;
	struct st_steal *s;
	int64_t extra[2] = { 0, 0 };
	int ret;

	ret = st_steal_open(st, &s, &cpu_a, &cpu_b);
	if (ret <= 0)
		return ret;

	/* 1. interrupts on, atomic: must succeed with one of B's cached granules */
	if (iovx_iova_get_stats(s->dom, &a) || a.cached != ST_STEAL_CACHED || a.backend_free ||
	    a.depot) {
		ret = IOVX_ST_FAIL(st, "after fill: cached=%llu depot=%llu free=%llu, want %u/0/0",
				   a.cached, a.depot, a.backend_free, ST_STEAL_CACHED);
		goto out;
	}
	smp_call_on_cpu(cpu_a, st_steal_take_bh, s, false);
	extra[0] = s->got;
	if (s->cpu != cpu_a || !s->atomic_ctx) {
		ret = IOVX_ST_FAIL(st, "bh case ran on cpu %u atomic=%d", s->cpu, s->atomic_ctx);
		goto out;
	}
	if (s->got <= 0 || !st_steal_was_cached(s, s->got)) {
		ret = IOVX_ST_FAIL(st, "atomic alloc on cpu %u with cpu %u's cache full: %lld",
				   cpu_a, cpu_b, s->got);
		goto out;
	}
	iovx_st_info("steal info bh cpu=%u got=%lld from cpu=%u's cache", cpu_a, s->got, cpu_b);
	ret = st_steal_release(st, s, extra, 1);
	extra[0] = 0;
	if (ret)
		goto out;

	/* 2. interrupts off: no wait, no hang; B drained by the kick afterwards */
	ret = smp_call_on_cpu(cpu_b, st_steal_fill, s, false);
	if (ret) {
		ret = IOVX_ST_FAIL(st, "second fill on cpu %u: %d", cpu_b, ret);
		goto out;
	}
	smp_call_on_cpu(cpu_a, st_steal_take_irqoff, s, false);
	extra[0] = s->got;
	if (s->cpu != cpu_a || !s->irqs_were_off) {
		ret = IOVX_ST_FAIL(st, "irq-off case ran on cpu %u irqs_off=%d", s->cpu,
				   s->irqs_were_off);
		goto out;
	}
	if (s->got != -ENOMEM && (s->got <= 0 || !st_steal_was_cached(s, s->got))) {
		ret = IOVX_ST_FAIL(st, "irq-off alloc returned %lld", s->got);
		goto out;
	}
	/* the kick is asynchronous: B's cache empties once B takes the IPI */
	for (waited = 0; waited < 5000; waited++) {
		if (!iovx_iova_get_stats(s->dom, &a) && !a.cached)
			break;
		msleep(1);
	}
	if (a.cached) {
		ret = IOVX_ST_FAIL(st, "cpu %u still caches %llu granules 5 s after the kick",
				   cpu_b, a.cached);
		goto out;
	}
	/* and A, interrupts off again, now finds them in the backend without any wait */
	smp_call_on_cpu(cpu_a, st_steal_take_irqoff, s, false);
	extra[1] = s->got;
	if (s->got <= 0 || !st_steal_was_cached(s, s->got)) {
		ret = IOVX_ST_FAIL(st, "irq-off alloc after the drain: %lld", s->got);
		goto out;
	}
	iovx_st_info("steal info irqoff cpu=%u first=%lld then=%lld (kick drained cpu %u after %u ms)",
		     cpu_a, extra[0], extra[1], cpu_b, waited);
	ret = st_steal_release(st, s, extra, 2);
	extra[0] = extra[1] = 0;
	if (ret)
		goto out;

	/* 3. B spins, interrupts off, on a lock A holds: A gives up instead of deadlocking */
	ret = smp_call_on_cpu(cpu_b, st_steal_fill, s, false);
	if (ret) {
		ret = IOVX_ST_FAIL(st, "third fill on cpu %u: %d", cpu_b, ret);
		goto out;
	}
	l = kzalloc(sizeof(*l), GFP_KERNEL);
	if (!l) {
		ret = IOVX_ST_FAIL(st, "no memory");
		goto out;
	}
	l->s = s;
	spin_lock_init(&l->lock);
	l->spinner = kthread_create(st_steal_spinner, l, "iovx-st-spin");
	if (IS_ERR(l->spinner)) {
		ret = IOVX_ST_FAIL(st, "kthread_create: %ld", PTR_ERR(l->spinner));
		l->spinner = NULL;
		goto out;
	}
	get_task_struct(l->spinner);
	kthread_bind(l->spinner, cpu_b);
	smp_call_on_cpu(cpu_a, st_steal_take_locked, l, false);
	extra[0] = s->got;
	while (atomic_read(&l->b_state) != 2)
		msleep(1);
	if (l->a_err) {
		ret = IOVX_ST_FAIL(st, "cpu %u's spinner never started", cpu_b);
		goto out;
	}
	if (s->cpu != cpu_a || !s->atomic_ctx) {
		ret = IOVX_ST_FAIL(st, "locked case ran on cpu %u atomic=%d", s->cpu,
				   s->atomic_ctx);
		goto out;
	}
	if (s->got != -ENOMEM) {
		ret = IOVX_ST_FAIL(st, "alloc while cpu %u cannot answer: %lld, want -ENOMEM",
				   cpu_b, s->got);
		goto out;
	}
	/* B took the kick once its interrupts came back: the next allocation finds it */
	for (waited = 0; waited < 5000; waited++) {
		if (!iovx_iova_get_stats(s->dom, &a) && !a.cached)
			break;
		msleep(1);
	}
	smp_call_on_cpu(cpu_a, st_steal_take_irqoff, s, false);
	extra[0] = s->got;
	if (s->got <= 0 || !st_steal_was_cached(s, s->got)) {
		ret = IOVX_ST_FAIL(st, "alloc after the lock was dropped: %lld (cached=%llu)",
				   s->got, a.cached);
		goto out;
	}
	iovx_st_info("steal info locked cpu=%u gave up with -ENOMEM, then got=%lld", cpu_a,
		     s->got);
	ret = st_steal_release(st, s, extra, 1);
	extra[0] = 0;
out:
	if (l && l->spinner) {
		kthread_stop(l->spinner);
		put_task_struct(l->spinner);
	}
	kfree(l);
	if (ret && extra[0] > 0)
		iovx_iova_free(s->dom, extra[0], 1);
	iovx_iova_domain_destroy(s->dom);
	kfree(s);
	return ret;
}

/*
 * An offline CPU takes no kick. B caches 8 granules of a full domain and goes offline; an
 * allocation from process context must still get one of them (the reclaimer holds hotplug
 * off and drains the offline CPU's cache itself). B comes back online afterwards.
 */
static int st_iova_offline(struct iovx_st *st)
{
	unsigned int cpu_a, cpu_b;
	struct st_steal *s;
	int64_t extra[1] = { 0 };
	int ret, err;

	ret = st_steal_open(st, &s, &cpu_a, &cpu_b);
	if (ret <= 0)
		return ret;
	err = remove_cpu(cpu_b);
	if (err) {
		st->skipped = 1;
		snprintf(st->reason, sizeof(st->reason), "cpu %u cannot go offline: %d",
			 cpu_b, err);
		ret = st_steal_release(st, s, extra, 0);	/* B's 8 come back by kick */
		goto out;
	}
	{
		struct iovx_iova_stats a;

		/* the hotplug callback drained B's cache when B died: nothing is cached */
		err = iovx_iova_get_stats(s->dom, &a);
		if (err || a.cached) {
			add_cpu(cpu_b);
			ret = IOVX_ST_FAIL(st, "cpu %u offline: %d, %llu granules still cached",
					   cpu_b, err, a.cached);
			goto out;
		}
	}
	extra[0] = iovx_iova_alloc(s->dom, 1, IOVX_IOVA_NO_LIMIT);
	err = add_cpu(cpu_b);
	if (err) {
		ret = IOVX_ST_FAIL(st, "cpu %u did not come back online: %d", cpu_b, err);
		goto out;
	}
	if (extra[0] <= 0 || !st_steal_was_cached(s, extra[0])) {
		ret = IOVX_ST_FAIL(st, "alloc with cpu %u offline holding 8 granules: %lld",
				   cpu_b, extra[0]);
		goto out;
	}
	iovx_st_info("offline info cpu=%u offline, its cache gave got=%lld", cpu_b, extra[0]);
	ret = st_steal_release(st, s, extra, 1);
	extra[0] = 0;
out:
	if (ret && extra[0] > 0)
		iovx_iova_free(s->dom, extra[0], 1);
	iovx_iova_domain_destroy(s->dom);
	kfree(s);
	return ret;
}

/* ------------------------------------------------------------ benchmarks */

#define ST_BENCH_PAIRS		200000u
#define ST_BENCH_END_PFN	(1u << 20)
#define ST_BENCH_MT_OPS		60000u

static u64 st_bench_pair1(struct st_alloc_ops *ops, int *err)
{
	u64 t0, t1, i;
	int64_t pfn;

	for (i = 0; i < 1000; i++) {	/* warm the caches */
		pfn = ops->alloc(ops->dom, 1, IOVX_IOVA_NO_LIMIT);
		if (pfn <= 0)
			goto fail;
		ops->free(ops->dom, pfn, 1);
	}
	t0 = iovx_now_ns();
	for (i = 0; i < ST_BENCH_PAIRS; i++) {
		pfn = ops->alloc(ops->dom, 1, IOVX_IOVA_NO_LIMIT);
		if (unlikely(pfn <= 0))
			goto fail;
		ops->free(ops->dom, pfn, 1);
		if ((i & 4095) == 0)
			cond_resched();
	}
	t1 = iovx_now_ns();
	return div64_u64(t1 - t0, ST_BENCH_PAIRS);
fail:
	*err = (int)pfn;
	return 0;
}

/* Per CPU: a window of 32 live ranges of 1..8 granules, oldest-random freed, same seeds. */
struct st_bench_mt {
	struct st_alloc_ops *ops;
	atomic64_t ns;
	atomic64_t pairs;
	atomic_t err;
};

static int st_bench_mt_worker(void *arg, unsigned int idx)
{
	struct st_bench_mt *b = arg;
	u64 seed = iovx_st_seed(idx, 0xbe7c4), t0, pairs = 0;
	struct st_live win[32];
	unsigned int i, nwin = 0, k;
	int64_t pfn;
	u64 n;

	t0 = iovx_now_ns();
	for (i = 0; i < ST_BENCH_MT_OPS; i++) {
		if (nwin == ARRAY_SIZE(win)) {
			k = iovx_st_rand(&seed) % nwin;
			b->ops->free(b->ops->dom, win[k].pfn, win[k].n);
			win[k] = win[--nwin];
			pairs++;
		}
		n = 1 + iovx_st_rand(&seed) % 8;
		pfn = b->ops->alloc(b->ops->dom, n, IOVX_IOVA_NO_LIMIT);
		if (unlikely(pfn <= 0)) {
			atomic_set(&b->err, (int)pfn);
			break;
		}
		win[nwin].pfn = pfn;
		win[nwin].n = n;
		nwin++;
		if ((i & 1023) == 0)
			cond_resched();
	}
	while (nwin) {
		nwin--;
		b->ops->free(b->ops->dom, win[nwin].pfn, win[nwin].n);
		pairs++;
	}
	atomic64_add(iovx_now_ns() - t0, &b->ns);
	atomic64_add(pairs, &b->pairs);
	return 0;
}

static u64 st_bench_mt(struct st_alloc_ops *ops, int *err)
{
	struct st_bench_mt b = { .ops = ops };
	u64 pairs;
	int ret;

	ret = iovx_st_run_threads(st_bench_mt_worker, &b, 0, NULL);
	if (ret || atomic_read(&b.err)) {
		*err = ret ? ret : atomic_read(&b.err);
		return 0;
	}
	pairs = atomic64_read(&b.pairs);
	return pairs ? div64_u64(atomic64_read(&b.ns), pairs) : 0;
}

static void st_print_ratio(const char *what, u64 iovx_ns, u64 linux_ns)
{
	u64 r = iovx_ns ? div64_u64(linux_ns * 100, iovx_ns) : 0;

	iovx_st_info("bench %s iovx_ns_per_pair=%llu linux_ns_per_pair=%llu speedup=%llu.%02llu (TCG emulation: ratios only, not hardware timings)",
		     what, iovx_ns, linux_ns, r / 100, r % 100);
}

static int st_bench(struct iovx_st *st)
{
	struct st_alloc_ops xo, lo;
	u64 x1, l1, xm, lm;
	int err = 0, ret;

	ret = st_iovx_open(&xo, ST_BENCH_END_PFN, 0);
	if (ret)
		return IOVX_ST_FAIL(st, "iovx domain: %d", ret);
	ret = st_linux_open(&lo, ST_BENCH_END_PFN);
	if (ret) {
		st_iovx_close(&xo);
		return IOVX_ST_FAIL(st, "linux domain: %d", ret);
	}
	/* interleaved, each measured twice, the second kept: both warm, same conditions */
	x1 = st_bench_pair1(&xo, &err);
	l1 = st_bench_pair1(&lo, &err);
	x1 = st_bench_pair1(&xo, &err);
	l1 = st_bench_pair1(&lo, &err);
	xm = st_bench_mt(&xo, &err);
	lm = st_bench_mt(&lo, &err);
	st_linux_close(&lo);
	if (!err)
		err = st_audit_empty(st, &xo, "after-bench", 0) ? -EFAULT : 0;
	st_iovx_close(&xo);
	if (err)
		return st->reason[0] ? err : IOVX_ST_FAIL(st, "allocation failed: %d", err);
	st_print_ratio("pair1-single-thread", x1, l1);
	st_print_ratio("window32-every-cpu", xm, lm);
	return 0;
}

const struct iovx_st_case iovx_st_iova_cases[] = {
	{ "iova-basic", st_iova_basic },
	{ "iova-stress", st_iova_stress },
	{ "iova-pressure", st_iova_pressure },
	{ "iova-steal", st_iova_steal },
	{ "iova-trim", st_iova_trim },
	{ "iova-linux-stress", st_linux_stress },
	{ "iova-bench", st_bench },
	{ "iova-offline", st_iova_offline },	/* after the timings: it takes a CPU down */
	{ NULL, NULL }
};

#else /* !IOVX_KMOD_HAVE_IOVA */

static int st_iova_missing(struct iovx_st *st)
{
	st->skipped = 1;
	snprintf(st->reason, sizeof(st->reason),
		 "src/iova not built into this module (sources missing at generation time)");
	return 0;
}

const struct iovx_st_case iovx_st_iova_cases[] = {
	{ "iova", st_iova_missing },
	{ NULL, NULL }
};
#endif

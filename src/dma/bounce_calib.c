// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bounce_calib.c - the bounce crossover: the length below which copying through a pool slot
 * costs less than mapping through the IOMMU (iovx_bounce_calibrate, iovx/bounce.h,
 * docs/bounce.md), and the bounce layer's use of it: both crossovers of a domain's pool,
 * timed against the domain's own base mode at create.
 */
#include "dma_internal.h"
#include <iovx/bounce.h>

/*
 * Both forms keep the median of IOVX_BOUNCE_CAL_REPS timed batches per figure: on a shared
 * machine a batch that was preempted or shared its core is an outlier on the slow side,
 * which a mean would absorb and a median ignores.
 */

#define CAL_STEP	64u
#define CAL_PAGES	16u
#define CAL_REPS	IOVX_BOUNCE_CAL_REPS

static uint64_t median_u64(uint64_t *v, unsigned int n)
{
	unsigned int i, j;

	for (i = 1; i < n; i++) {
		uint64_t x = v[i];

		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	return v[n / 2];
}

static uint64_t time_copies(uint8_t *dst, const uint8_t *src, uint64_t len, unsigned int iters)
{
	uint64_t v[CAL_REPS], t0;
	unsigned int i, r;

	iovx_memcpy(dst, src, len);	/* warm */
	for (r = 0; r < CAL_REPS; r++) {
		t0 = iovx_now_ns();
		for (i = 0; i < iters; i++)
			iovx_memcpy(dst, src, len);
		v[r] = iovx_now_ns() - t0;
	}
	return median_u64(v, CAL_REPS) / iters;
}

/* One map + unmap + inv_range + sync (+ free_pages) of npages: median of batches of iters. */
static int time_iommu(struct iovx_iommu *iommu, uint64_t iova, uint64_t phys, uint64_t npages,
		      unsigned int iters, uint64_t *ns)
{
	const struct iovx_iommu_ops *ops = iommu->ops;
	uint64_t size = npages << iommu->granule_shift, v[CAL_REPS], t0;
	struct iovx_iommu_freelist freed;
	unsigned int i, r;
	int ret = 0;

	iovx_iommu_freelist_init(&freed);
	for (r = 0; r < CAL_REPS && !ret; r++) {
		t0 = iovx_now_ns();
		for (i = 0; i < iters && !ret; i++) {
			ret = ops->map(iommu, iova, phys, size,
				       IOVX_IOMMU_READ | IOVX_IOMMU_WRITE, IOVX_GFP_ATOMIC);
			if (ret)
				break;
			ops->unmap(iommu, iova, size, &freed);
			ret = ops->inv_range(iommu, iova, size);
			if (!ret)
				ret = ops->sync(iommu);
			if (!ret && ops->free_pages)
				ops->free_pages(iommu, &freed);
		}
		v[r] = iovx_now_ns() - t0;
	}
	/* After a failed sync the table pages must never be reused: they stay leaked. */
	*ns = median_u64(v, CAL_REPS) / iters;
	return ret;
}

/* copies: 1 (TO_DEVICE) or 2 (copy in + copy out: FROM_DEVICE, BIDIRECTIONAL) */
static uint64_t bounce_cost(const struct iovx_bounce_calib *r, uint64_t len, unsigned int copies)
{
	return 2 * r->copy_fixed_ns + (copies * len * r->copy_ps_per_byte) / 1000;
}

static uint64_t iommu_cost(const struct iovx_bounce_calib *r, uint64_t len, unsigned int shift)
{
	uint64_t pages = len ? ((len - 1) >> shift) + 1 : 1;

	return r->iommu_fixed_ns + (pages - 1) * r->iommu_page_ns;
}

static uint64_t model_crossover(const struct iovx_bounce_calib *r, uint64_t max_len,
				unsigned int shift, unsigned int copies)
{
	uint64_t len;

	for (len = 0; len <= max_len; len += CAL_STEP)
		if (bounce_cost(r, len, copies) >= iommu_cost(r, len, shift))
			return len;
	return max_len;
}

/* ---- the measured form */

enum { CAL_MAP, CAL_B_TO, CAL_B_BIDI, CAL_NR };

struct cal_ctx {
	const struct iovx_bounce_calib_in *in;
	void *buf;
	unsigned int batch;
};

/*
 * Median ns per pair at len of the sides in want (bits 1 << CAL_*): one warm-up batch each,
 * then CAL_REPS timed batches each, the sides alternating, their order rotating per rep.
 */
static int cal_point(const struct cal_ctx *cx, uint64_t len, unsigned int want,
		     uint64_t ns[CAL_NR])
{
	static const unsigned int side[CAL_NR] = {
		IOVX_BOUNCE_CAL_MAP, IOVX_BOUNCE_CAL_BOUNCE, IOVX_BOUNCE_CAL_BOUNCE,
	};
	static const enum iovx_dma_dir dir[CAL_NR] = {
		IOVX_DMA_TO_DEVICE, IOVX_DMA_TO_DEVICE, IOVX_DMA_BIDIRECTIONAL,
	};
	uint64_t v[CAL_NR][CAL_REPS], t0;
	unsigned int r, k, m;
	int ret;

	for (m = 0; m < CAL_NR; m++) {
		if (!(want & (1u << m)))
			continue;
		ret = cx->in->pair(cx->in->arg, side[m], cx->buf, len, dir[m], cx->batch);
		if (ret)
			return ret;
	}
	for (r = 0; r < CAL_REPS; r++) {
		for (k = 0; k < CAL_NR; k++) {
			m = (k + r) % CAL_NR;
			if (!(want & (1u << m)))
				continue;
			t0 = iovx_now_ns();
			ret = cx->in->pair(cx->in->arg, side[m], cx->buf, len, dir[m], cx->batch);
			v[m][r] = iovx_now_ns() - t0;
			if (ret)
				return ret;
		}
	}
	for (m = 0; m < CAL_NR; m++)
		if (want & (1u << m))
			ns[m] = (median_u64(v[m], CAL_REPS) + cx->batch / 2) / cx->batch;
	return 0;
}

/* Another look at len: each side's figure becomes the lower of the two (noise only adds). */
static int cal_look(const struct cal_ctx *cx, uint64_t len, unsigned int m, uint64_t *map_ns,
		    uint64_t *bounce_ns)
{
	uint64_t ns[CAL_NR];
	int ret = cal_point(cx, len, (1u << CAL_MAP) | (1u << m), ns);

	if (ret)
		return ret;
	if (ns[CAL_MAP] < *map_ns)
		*map_ns = ns[CAL_MAP];
	if (ns[m] < *bounce_ns)
		*bounce_ns = ns[m];
	return 0;
}

/* The smallest grid index from which on bouncing is never cheaper (nr_points: none). */
static unsigned int cal_from(const struct iovx_bounce_calib *r, const uint64_t *bounce_ns)
{
	unsigned int i = r->nr_points;

	while (i > 0 && bounce_ns[i - 1] >= r->map_ns[i - 1])
		i--;
	return i;
}

/*
 * The crossover of bounce side m (CAL_B_TO or CAL_B_BIDI). The grid index i from which on
 * bouncing is never cheaper, and the one below, bracket it: a point further down that only
 * looked dearer (a preempted or cache-starved batch) cannot move it. The two points that
 * decide the bracket get a second look, and the bracket is re-derived until both have had
 * one; then bisection (two looks per step) narrows it.
 */
static int cal_crossover(const struct cal_ctx *cx, struct iovx_bounce_calib *r,
			 uint64_t *bounce_ns, unsigned int m, uint64_t max_len, uint64_t *out)
{
	uint64_t lo, hi, dlo, dhi, mid, x, mns, bns;
	bool looked[IOVX_BOUNCE_CAL_POINTS] = { false };
	unsigned int i, j, step, k;
	int ret;

	for (;;) {
		i = cal_from(r, bounce_ns);
		if (i > 0 && !looked[i - 1])
			j = i - 1;
		else if (i < r->nr_points && !looked[i])
			j = i;
		else
			break;
		ret = cal_look(cx, r->point_len[j], m, &r->map_ns[j], &bounce_ns[j]);
		if (ret)
			return ret;
		looked[j] = true;
	}
	if (i == r->nr_points) {
		*out = max_len;		/* bouncing cheaper at every length up to the cap */
		return 0;
	}
	if (i == 0) {
		*out = 0;		/* not even 64 bytes are cheaper to bounce */
		return 0;
	}
	lo = r->point_len[i - 1];
	hi = r->point_len[i];
	dlo = r->map_ns[i - 1] - bounce_ns[i - 1];	/* > 0: bouncing cheaper at lo */
	dhi = bounce_ns[i] - r->map_ns[i];		/* >= 0: not at hi */
	for (step = 0; step < IOVX_BOUNCE_CAL_REFINE; step++) {
		mid = ((lo + hi) / 2) & ~(uint64_t)(CAL_STEP - 1);
		if (mid <= lo || mid >= hi)
			break;
		mns = UINT64_MAX;
		bns = UINT64_MAX;
		for (k = 0; k < 2; k++) {
			ret = cal_look(cx, mid, m, &mns, &bns);
			if (ret)
				return ret;
		}
		if (bns < mns) {
			lo = mid;
			dlo = mns - bns;
		} else {
			hi = mid;
			dhi = bns - mns;
		}
	}
	/* Where the two costs meet, linearly between lo and hi; then up to 64 bytes. */
	x = lo + (hi - lo) * dlo / (dlo + dhi);
	x = (x + CAL_STEP - 1) & ~(uint64_t)(CAL_STEP - 1);
	*out = x < lo + CAL_STEP ? lo + CAL_STEP : (x > hi ? hi : x);
	return 0;
}

static void cal_clamp(const struct iovx_bounce_calib *r, const uint64_t *bounce_ns,
		      uint64_t max_len, uint64_t *x)
{
	unsigned int i = cal_from(r, bounce_ns);

	if (i == r->nr_points)
		*x = max_len;
	else if (i == 0)
		*x = 0;
	else if (*x < r->point_len[i - 1] + CAL_STEP)
		*x = r->point_len[i - 1] + CAL_STEP;
	else if (*x > r->point_len[i])
		*x = r->point_len[i];
}

static int calibrate_pairs(const struct iovx_bounce_calib_in *in, uint64_t max_len,
			   struct iovx_bounce_calib *r)
{
	/* The grid's lengths are multiples of 64 (the pair contract); the cap stays max_len. */
	uint64_t top = max_len & ~(uint64_t)(CAL_STEP - 1), len, ns[CAL_NR];
	struct cal_ctx cx;
	int ret = 0;

	cx.in = in;
	cx.batch = in->iterations ? in->iterations : 16;
	cx.buf = iovx_zalloc_aligned(max_len, 4096, IOVX_GFP_KERNEL);
	if (!cx.buf)
		return -ENOMEM;
	/* The pair maps it by physical address: it must be one run (not vmalloc'd pieces). */
	for (len = BOUNCE_PAGE; len < max_len; len += BOUNCE_PAGE)
		if (bounce_phys_of((uint8_t *)cx.buf + len) != bounce_phys_of(cx.buf) + len) {
			iovx_free(cx.buf);
			return -ENOMEM;
		}
	/* The whole grid, so that one point that merely looked dearer cannot end it early. */
	for (len = CAL_STEP; r->nr_points < IOVX_BOUNCE_CAL_POINTS; len *= 2) {
		unsigned int i = r->nr_points;

		if (len > top)
			len = top;
		ret = cal_point(&cx, len, (1u << CAL_MAP) | (1u << CAL_B_TO) | (1u << CAL_B_BIDI),
				ns);
		if (ret)
			goto out;
		r->point_len[i] = len;
		r->map_ns[i] = ns[CAL_MAP];
		r->bounce_to_device_ns[i] = ns[CAL_B_TO];
		r->bounce_bidi_ns[i] = ns[CAL_B_BIDI];
		r->nr_points++;
		if (len == top)
			break;
	}
	ret = cal_crossover(&cx, r, r->bounce_to_device_ns, CAL_B_TO, max_len,
			    &r->crossover_to_device);
	if (!ret)
		ret = cal_crossover(&cx, r, r->bounce_bidi_ns, CAL_B_BIDI, max_len,
				    &r->crossover);
	/*
	 * The second crossover's looks also refresh the shared map_ns points: keep each
	 * crossover inside the bracket the reported points give, so a result never
	 * contradicts the figures reported with it.
	 */
	if (!ret) {
		cal_clamp(r, r->bounce_to_device_ns, max_len, &r->crossover_to_device);
		cal_clamp(r, r->bounce_bidi_ns, max_len, &r->crossover);
	}
	r->measured |= IOVX_BOUNCE_CAL_PAIRS;
out:
	iovx_free(cx.buf);
	return ret;
}

/* ---- the model form */

static int calibrate_model(const struct iovx_bounce_calib_in *in, uint64_t max_len,
			   struct iovx_bounce_calib *r)
{
	unsigned int iters = in->iterations ? in->iterations : 64, shift = 12, c;
	bool need_iommu = !in->iommu_fixed_ns;
	struct iovx_bounce_config dc;
	int ret = 0;

	if (need_iommu && (!in->iommu || !in->iommu->ops || !in->iovad ||
			   in->iommu->granule_shift < 12 || in->iommu->granule_shift > 16))
		return -EINVAL;
	if (in->iommu && in->iommu->granule_shift >= 12 && in->iommu->granule_shift <= 16)
		shift = in->iommu->granule_shift;

	if (!in->copy_ps_per_byte || !in->copy_fixed_ns) {
		uint8_t *a = iovx_zalloc(max_len, IOVX_GFP_KERNEL);
		uint8_t *b = iovx_zalloc(max_len, IOVX_GFP_KERNEL);

		if (!a || !b) {
			iovx_free(a);
			iovx_free(b);
			return -ENOMEM;
		}
		iovx_bounce_config_init(&dc);
		for (c = 0; c < dc.nr_classes; c++)
			if (dc.class_size[c] <= max_len)
				r->copy_ns[c] = time_copies(b, a, dc.class_size[c], iters);
		r->copy_fixed_ns = time_copies(b, a, CAL_STEP, iters);
		r->copy_ps_per_byte = time_copies(b, a, max_len, iters) * 1000 / max_len;
		iovx_free(a);
		iovx_free(b);
		r->measured |= IOVX_BOUNCE_CAL_COPY;
	}
	if (in->copy_ps_per_byte)
		r->copy_ps_per_byte = in->copy_ps_per_byte;
	if (in->copy_fixed_ns)
		r->copy_fixed_ns = in->copy_fixed_ns;

	if (need_iommu) {
		uint64_t t1 = 0, tn = 0, phys;
		uint8_t *mem = iovx_zalloc_aligned((uint64_t)CAL_PAGES << shift, 4096,
						   IOVX_GFP_KERNEL);
		int64_t pfn;

		if (!mem)
			return -ENOMEM;
		pfn = iovx_iova_alloc(in->iovad, CAL_PAGES, IOVX_IOVA_NO_LIMIT);
		if (pfn < 0) {
			iovx_free(mem);
			return (int)pfn == -ENOMEM ? -ENOMEM : -EINVAL;
		}
		phys = bounce_phys_of(mem);
		if (bounce_phys_of(mem + ((uint64_t)(CAL_PAGES - 1) << shift)) !=
		    phys + ((uint64_t)(CAL_PAGES - 1) << shift)) {
			/* Not physically contiguous (vmalloc): time_iommu maps one run. */
			iovx_iova_free(in->iovad, (uint64_t)pfn, CAL_PAGES);
			iovx_free(mem);
			return -ENOMEM;
		}
		ret = time_iommu(in->iommu, (uint64_t)pfn << shift, phys, 1, iters, &t1);
		if (!ret)
			ret = time_iommu(in->iommu, (uint64_t)pfn << shift, phys, CAL_PAGES, iters,
					 &tn);
		if (ret) {
			/* The IOVA and the memory may still be reachable: leak both. */
			return ret;
		}
		iovx_iova_free(in->iovad, (uint64_t)pfn, CAL_PAGES);
		iovx_free(mem);
		r->iommu_fixed_ns = t1;
		r->iommu_page_ns = tn > t1 ? (tn - t1) / (CAL_PAGES - 1) : 0;
		r->measured |= IOVX_BOUNCE_CAL_IOMMU;
	} else {
		r->iommu_fixed_ns = in->iommu_fixed_ns;
		r->iommu_page_ns = in->iommu_page_ns;
	}
	r->crossover = model_crossover(r, max_len, shift, 2);
	r->crossover_to_device = model_crossover(r, max_len, shift, 1);
	return 0;
}

int iovx_bounce_calibrate(const struct iovx_bounce_calib_in *in, struct iovx_bounce_calib *out)
{
	struct iovx_bounce_calib *r;
	uint64_t max_len;
	int ret;

	if (!in || !out)
		return -EINVAL;
	max_len = in->max_len ? in->max_len : 65536;
	if (max_len < CAL_STEP || max_len > IOVX_BOUNCE_MAX_CLASS)
		return -EINVAL;
	/* On the heap: with the measured points it is larger than a kernel frame should be. */
	r = iovx_zalloc(sizeof(*r), IOVX_GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	ret = in->pair ? calibrate_pairs(in, max_len, r) : calibrate_model(in, max_len, r);
	if (!ret)
		*out = *r;
	iovx_free(r);
	return ret;
}

/* ------------------------------------------------------------------ the bounce layer's pair */

/*
 * Calibration's side IOVX_BOUNCE_CAL_MAP: n map + unmap pairs through the base mode, as
 * the facade runs them for a length at or above the crossover
 * (with the coherent fences; the deferred base's drain once per batch, as the benchmark
 * pays it). Side IOVX_BOUNCE_CAL_BOUNCE: n pairs through the pool. Both sides then pass the
 * same facade work (argument checks, the mapping table's insert and remove, the counters),
 * which cancels out of the comparison and is left out of both.
 */
struct cal_arg {
	struct iovx_dma_domain *dom;
	struct iovx_bounce_pool *pool;
};

static int bounce_cal_pair(void *arg, unsigned int side, void *buf, uint64_t len,
			   enum iovx_dma_dir dir, unsigned int n)
{
	struct iovx_dma_domain *dom = ((struct cal_arg *)arg)->dom;
	struct iovx_bounce_pool *pool = ((struct cal_arg *)arg)->pool;
	uint64_t phys = bounce_phys_of(buf), dma;	/* the kernel: virt_to_phys */
	unsigned int i;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		if (side == IOVX_BOUNCE_CAL_BOUNCE) {
			err = iovx_bounce_map(pool, phys, (size_t)len, dir, &dma);
			if (!err)
				err = iovx_bounce_unmap(pool, dma, (size_t)len, dir);
			continue;
		}
		err = dom->mode->map_single(dom, phys, len, dir, 0, &dma);
		if (err)
			break;
		iovx_dma_coherent_for_device(dom, dma, len, dir);
		iovx_dma_coherent_for_cpu(dom, dma, len, dir);
		err = dom->mode->unmap_single(dom, dma, len, dir, 0);
	}
	if (!err && side == IOVX_BOUNCE_CAL_MAP && dom->mode->flush)
		err = dom->mode->flush(dom);
	return err;
}

/*
 * Both crossovers, timed on this domain: the pool already holds its IOVA range, so the
 * base mode's ranges come from the rest of the space as they will in use. Afterwards the
 * counters the timing moved are reset (the pool's, the domain's invalidation figures, the
 * deferred base's context by re-creating it), so the domain starts from zero.
 */
int iovx_dma_bounce_calibrate(struct iovx_dma_domain *dom, struct iovx_bounce_pool *pool,
			      uint64_t largest)
{
	struct cal_arg arg = { dom, pool };
	struct iovx_bounce_calib_in in;
	struct iovx_bounce_calib *cal;
	int err;

	cal = iovx_zalloc(sizeof(*cal), IOVX_GFP_KERNEL);
	if (!cal)
		return -ENOMEM;
	iovx_memset(&in, 0, sizeof(in));
	in.max_len = largest;
	in.pair = bounce_cal_pair;
	in.arg = &arg;
	err = iovx_bounce_calibrate(&in, cal);
	if (!err)
		err = iovx_bounce_set_crossover_dir(pool, IOVX_DMA_TO_DEVICE,
						    cal->crossover_to_device);
	if (!err)
		err = iovx_bounce_set_crossover_dir(pool, IOVX_DMA_BIDIRECTIONAL,
						    cal->crossover);
	iovx_free(cal);
	if (!err)
		err = iovx_bounce_reset_stats(pool);
	if (err)
		return err;
	iovx_store_relaxed(&dom->inv_ranges, 0);
	iovx_store_relaxed(&dom->syncs, 0);
	if (dom->mode->fini) {
		dom->mode->fini(dom);
		err = dom->mode->init ? dom->mode->init(dom) : 0;
	}
	return err;
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bounce.c - persistently mapped per-CPU bounce pools (include/iovx/bounce.h, docs/bounce.md).
 *
 * What and why. Streaming DMA of small buffers through an IOMMU pays map + unmap +
 * invalidation + sync per I/O (several microseconds on SMMUv3); copying a few hundred bytes
 * costs tens of nanoseconds. Following swiotlb's restricted pools and the pooled bounce
 * buffers of virtio-iommu and "shadow DMA buffers" (Markuze et al., ASPLOS'16), the pool is
 * mapped once and I/O copies through its slots, so no IOMMU work happens per I/O and the
 * device only ever reaches pool memory (byte-granular protection of the caller's buffer).
 *
 * Layout. One block of memory: for each class c, for each CPU slot k, slots_per_cpu[c] slots
 * of class_size[c] bytes. A global slot index g = class.first + k * nslots + i names both
 * the slot's bookkeeping (slot[g], next[g]) and its memory; dma -> (c, g) is arithmetic.
 * Every (CPU, class) pair has a free list: a Treiber stack over next[] whose head is one
 * 64-bit word (tag << 32 | g + 1), the tag defeating ABA without a 128-bit CAS.
 *
 * Invariants
 *   B1 a slot is on at most one free list, and is on one iff slot[g].state == 0 and no map
 *      or unmap call holds it. (pop and push are the only list operations; map owns a
 *      popped slot exclusively until it publishes the live state; unmap owns it from its
 *      winning CAS live -> FREEING until its push.) => I1 for slots: no slot is handed out
 *      twice while live.
 *   B2 a slot returns to the list of the CPU slot that owns it by layout (k above), whatever
 *      CPU frees it; so a (CPU, class) list never holds more than nslots entries.
 *   B3 the pool is mapped exactly once, from create to destroy; destroy refuses while any
 *      slot is live and releases memory and IOVA only after inv_all + a successful sync
 *      (I2); a failed sync leaks them for good.
 *   B4 bad input changes nothing (I5): every check precedes the first store.
 *   B5 live = sum(maps) - sum(unmaps) over the per-CPU counters (I6); destroy uses it.
 *
 * Progress. map, unmap, sync_* are lock-free: the only retry loops are CAS loops on a list
 * head (or on a slot state in unmap), and a failed CAS means another call progressed. A
 * thread stopped at any instruction holds at most one slot out of the lists, which only
 * lowers capacity: other threads then see -ENOSPC, never a hang. create/destroy: blocking
 * (they allocate, map and sync).
 *
 * Synchronization table (one pool)
 *                map      unmap    sync_*   get_stats  set_crossover  create/destroy
 *   map          yes      yes      yes      yes        yes            no
 *   unmap        yes      yes(*)   yes(**)  yes        yes            no
 *   sync_*       yes      yes(**)  yes(**)  yes        yes            no
 *   (*) of one mapping: one wins, the others get -ENOENT.
 *   (**) on different mappings; on one mapping the caller orders them (DMA-API rule).
 *
 * Ordering edges
 *   E1 push (release CAS of the list head) -> pop (acquire load/CAS of the head): the
 *      popper sees the pusher's writes to the slot (state = 0, next[g], slot memory).
 *   E2 map's release store of the live state -> unmap's/sync's acquire load or CAS of it:
 *      the unmapper (maybe on another CPU) sees host, the copied-in data and the state.
 *   E3 unmap's acquire CAS live -> FREEING pairs with E2 and orders its copy-out after it;
 *      its relaxed store state = 0 is published by its push's release (E1).
 */
#include "platform.h"

#include <iovx/bounce.h>
#include "dma_internal.h"

/*
 * The CPU address of a caller's buffer, given by its physical address (the DMA API's
 * phys). Userspace: the same value. The kernel: phys_to_virt.
 */
#ifdef iovx_phys_to_virt
#define bounce_virt_of(pa)	((void *)iovx_phys_to_virt(pa))
#else
#define bounce_virt_of(pa)	((void *)(uintptr_t)(pa))
#endif

/*
 * Maps [iova, iova + bytes) (bytes a multiple of the granule) onto the CPU memory at mem,
 * in runs of physically contiguous memory, checked 4 KiB page by page (one run in
 * userspace and for kmalloc'd memory; vmalloc'd memory may need many). A granule that is
 * not physically contiguous cannot be mapped: -EINVAL. On failure the runs already mapped
 * are unmapped again and the error is returned.
 */
static int map_cpu_memory(struct iovx_iommu *iommu, uint64_t iova, uint8_t *mem, uint64_t bytes)
{
	uint64_t gran = 1ull << iommu->granule_shift, done = 0, run, pa;
	struct iovx_iommu_freelist freed;
	int ret = 0;

	while (done < bytes) {
		pa = bounce_phys_of(mem + done);
		for (run = BOUNCE_PAGE;
		     done + run < bytes && bounce_phys_of(mem + done + run) == pa + run;)
			run += BOUNCE_PAGE;
		run &= ~(gran - 1);
		if (!run || (pa & (gran - 1))) {
			ret = -EINVAL;
			break;
		}
		ret = iommu->ops->map(iommu, iova + done, pa, run,
				      IOVX_IOMMU_READ | IOVX_IOMMU_WRITE, IOVX_GFP_KERNEL);
		if (ret)
			break;
		done += run;
	}
	if (ret && done) {
		/* Never reached by a device yet (no address was handed out): no sync needed. */
		iovx_iommu_freelist_init(&freed);
		iommu->ops->unmap(iommu, iova, done, &freed);
		if (iommu->ops->free_pages)
			iommu->ops->free_pages(iommu, &freed);
	}
	return ret;
}

#define BOUNCE_NR(a)	(sizeof(a) / sizeof((a)[0]))

#define SLOT_FREE		0ull
#define SLOT_FREEING	2ull
/* Live state: len << 32 | off << 3 | dir << 1 | 1 (off < 2^20, len <= 2^20). */
#define SLOT_LIVE(len, off, dir) (((uint64_t)(len) << 32) | ((uint64_t)(off) << 3) | \
				((uint64_t)(dir) << 1) | 1ull)
#define SLOT_IS_LIVE(s)	((s) & 1ull)
#define SLOT_LEN(s)	((uint64_t)((s) >> 32))
#define SLOT_OFF(s)	((uint64_t)(((s) >> 3) & 0x1fffffffull))
#define SLOT_DIR(s)	((unsigned int)(((s) >> 1) & 3u))

enum bounce_stat_idx {
#define IOVX_BOUNCE_STAT_ENUM(name, doc) BS_##name,
	IOVX_BOUNCE_STATS(IOVX_BOUNCE_STAT_ENUM)
#undef IOVX_BOUNCE_STAT_ENUM
	BS_NR
};

struct bounce_class {
	uint32_t size;
	uint32_t shift;
	uint32_t nslots;	/* per CPU slot */
	uint32_t first;		/* global index of the class's first slot */
	uint64_t off;		/* byte offset of the class's region in the pool */
};

struct bounce_slot {
	uint64_t state;		/* ST_* */
	uint64_t host;		/* caller's address; written by map before E2 */
};

struct bounce_cpu {
	uint64_t head[IOVX_BOUNCE_MAX_CLASSES];	/* tag << 32 | g + 1; 0 low word: empty */
	uint64_t stat[BS_NR];
} IOVX_ALIGNED(IOVX_CACHELINE);

struct iovx_bounce_pool {
	struct iovx_iommu *iommu;
	struct iovx_iova_domain *iovad;
	unsigned int nr_classes;
	unsigned int nr_cpus;
	unsigned int granule_shift;
	uint32_t align_mask;
	uint64_t pool_bytes;
	uint64_t meta_bytes;
	uint64_t max_bytes;
	uint64_t iova_base;
	uint64_t iova_pfn;
	uint64_t iova_npages;
	uint64_t nr_slots;
	uint64_t crossover;	/* FROM_DEVICE/BIDIRECTIONAL; relaxed atomic */
	uint64_t crossover_to_device;	/* relaxed atomic */
	uint8_t *mem;
	struct bounce_slot *slot;
	uint32_t *next;		/* g + 1 of the next free slot, 0 = end; relaxed atomics */
	struct bounce_cpu *cpu;
	struct bounce_class cls[IOVX_BOUNCE_MAX_CLASSES];
};

static const uint32_t default_sizes[] = { 256, 1024, 4096, 16384, 65536 };
static const uint32_t default_slots[] = { 64, 32, 16, 8, 4 };

void iovx_bounce_config_init(struct iovx_bounce_config *cfg)
{
	unsigned int i;

	if (!cfg)
		return;
	iovx_memset(cfg, 0, sizeof(*cfg));
	cfg->nr_classes = BOUNCE_NR(default_sizes);
	for (i = 0; i < cfg->nr_classes; i++) {
		cfg->class_size[i] = default_sizes[i];
		cfg->slots_per_cpu[i] = default_slots[i];
	}
	cfg->max_bytes = IOVX_BOUNCE_DEFAULT_MAX_BYTES;
	cfg->limit_pfn = IOVX_IOVA_NO_LIMIT;
}

static inline unsigned int this_cpu(const struct iovx_bounce_pool *pool)
{
	return iovx_cpu_hint() % pool->nr_cpus;
}

static int check_config(const struct iovx_bounce_config *cfg, unsigned int ncpus,
			uint64_t *bytes, uint64_t *nslots)
{
	uint64_t total = 0, n = 0, max = cfg->max_bytes ? cfg->max_bytes :
					IOVX_BOUNCE_DEFAULT_MAX_BYTES;
	unsigned int c;

	if (cfg->nr_classes < 1 || cfg->nr_classes > IOVX_BOUNCE_MAX_CLASSES)
		return -EINVAL;
	for (c = 0; c < cfg->nr_classes; c++) {
		uint32_t s = cfg->class_size[c];

		if (!iovx_is_pow2_u64(s) || s < IOVX_BOUNCE_MIN_CLASS || s > IOVX_BOUNCE_MAX_CLASS)
			return -EINVAL;
		if (c && s <= cfg->class_size[c - 1])
			return -EINVAL;
		if (cfg->slots_per_cpu[c] < 1 || cfg->slots_per_cpu[c] > IOVX_BOUNCE_MAX_SLOTS)
			return -EINVAL;
		/* No overflow: 2^20 * 2^16 * 2^12 CPUs * 8 classes < 2^64. */
		total += (uint64_t)s * cfg->slots_per_cpu[c] * ncpus;
		n += (uint64_t)cfg->slots_per_cpu[c] * ncpus;
	}
	if (cfg->min_align_mask && (!iovx_is_pow2_u64((uint64_t)cfg->min_align_mask + 1) ||
				    cfg->min_align_mask >= cfg->class_size[0]))
		return -EINVAL;
	if (cfg->crossover > cfg->class_size[cfg->nr_classes - 1])
		return -EINVAL;
	if (!cfg->limit_pfn)
		return -EINVAL;
	if (n >= UINT32_MAX)
		return -ERANGE;
	if (total > max)
		return -ERANGE;
	*bytes = total;
	*nslots = n;
	return 0;
}

static void push(struct iovx_bounce_pool *pool, unsigned int cpu, unsigned int c, uint32_t g)
{
	uint64_t *head = &pool->cpu[cpu].head[c];
	uint64_t old = iovx_load_relaxed(head), new;

	iovx_assert(iovx_load_relaxed(&pool->slot[g].state) == SLOT_FREE);	/* B1 */
	/* B2: the slot goes to the list of its own class and of the CPU slot owning it. */
	iovx_assert(g >= pool->cls[c].first &&
		    (g - pool->cls[c].first) / pool->cls[c].nslots == cpu);
	do {
		iovx_store_relaxed(&pool->next[g], (uint32_t)old);
		new = (((old >> 32) + 1) << 32) | ((uint64_t)g + 1);
		/* E1: release publishes next[g], the slot's state and memory to the popper. */
	} while (!iovx_cmpxchg_acq_rel(head, &old, new));
}

/* Returns g + 1, or 0 when the list is empty. */
static uint32_t pop(struct iovx_bounce_pool *pool, unsigned int cpu, unsigned int c)
{
	uint64_t *head = &pool->cpu[cpu].head[c];
	/* E1: acquire pairs with push's release CAS. */
	uint64_t old = iovx_load_acquire(head), new;
	uint32_t top;

	do {
		top = (uint32_t)old;
		if (!top)
			return 0;
		/*
		 * next[top - 1] may be changing if another thread popped and pushed it since we
		 * read head; the tag then changed too and the CAS below fails.
		 */
		new = (((old >> 32) + 1) << 32) | iovx_load_relaxed(&pool->next[top - 1]);
		/* E1: acquire on success (the pusher's writes to the slot). */
	} while (!iovx_cmpxchg_acq_rel(head, &old, new));
	return top;
}

int iovx_bounce_create(const struct iovx_bounce_config *cfg, struct iovx_iommu *iommu,
		       struct iovx_iova_domain *iovad, struct iovx_bounce_pool **out)
{
	struct iovx_bounce_pool *pool;
	uint64_t bytes, nslots, off = 0, gran, npages;
	unsigned int ncpus, c, k, i;
	uint32_t g = 0;
	int64_t pfn;
	int ret;

	if (!cfg || !iommu || !iommu->ops || !iommu->ops->map || !iovad || !out)
		return -EINVAL;
	if (iommu->granule_shift < 12 || iommu->granule_shift > 16)
		return -EINVAL;
	ncpus = iovx_nr_cpu_ids();
	if (cfg->nr_cpus && cfg->nr_cpus < ncpus)
		ncpus = cfg->nr_cpus;
	ret = check_config(cfg, ncpus, &bytes, &nslots);
	if (ret)
		return ret;
	/* The iova domain must use the iommu's granule (informational field there). */
	gran = 1ull << iommu->granule_shift;
	npages = (bytes + gran - 1) >> iommu->granule_shift;

	pool = iovx_zalloc(sizeof(*pool), IOVX_GFP_KERNEL);
	if (!pool)
		return -ENOMEM;
	pool->iommu = iommu;
	pool->iovad = iovad;
	pool->nr_classes = cfg->nr_classes;
	pool->nr_cpus = ncpus;
	pool->granule_shift = iommu->granule_shift;
	pool->align_mask = cfg->min_align_mask;
	pool->pool_bytes = npages << iommu->granule_shift;
	pool->max_bytes = cfg->max_bytes ? cfg->max_bytes : IOVX_BOUNCE_DEFAULT_MAX_BYTES;
	pool->nr_slots = nslots;
	pool->crossover = cfg->crossover ? cfg->crossover :
				cfg->class_size[cfg->nr_classes - 1];
	pool->crossover_to_device = pool->crossover;
	pool->iova_npages = npages;
	for (c = 0; c < cfg->nr_classes; c++) {
		pool->cls[c].size = cfg->class_size[c];
		pool->cls[c].shift = iovx_order_base2(cfg->class_size[c]);
		pool->cls[c].nslots = cfg->slots_per_cpu[c];
		pool->cls[c].first = g;
		pool->cls[c].off = off;
		g += cfg->slots_per_cpu[c] * ncpus;
		off += (uint64_t)cfg->class_size[c] * cfg->slots_per_cpu[c] * ncpus;
	}

	ret = -ENOMEM;
	pool->mem = iovx_zalloc_aligned(pool->pool_bytes, 4096, IOVX_GFP_KERNEL);
	pool->slot = iovx_zalloc(nslots * sizeof(*pool->slot), IOVX_GFP_KERNEL);
	pool->next = iovx_zalloc(nslots * sizeof(*pool->next), IOVX_GFP_KERNEL);
	pool->cpu = iovx_zalloc_aligned(ncpus * sizeof(*pool->cpu), IOVX_CACHELINE,
					IOVX_GFP_KERNEL);
	if (!pool->mem || !pool->slot || !pool->next || !pool->cpu)
		goto err_free;
	ret = -EINVAL;
	if (bounce_phys_of(pool->mem) & (gran - 1))
		goto err_free;
	pool->meta_bytes = sizeof(*pool) + nslots * (sizeof(*pool->slot) + sizeof(*pool->next)) +
			   ncpus * sizeof(*pool->cpu);

	pfn = iovx_iova_alloc(iovad, npages, cfg->limit_pfn);
	if (pfn < 0) {
		ret = (int)pfn == -ENOMEM ? -ENOMEM : -EINVAL;
		goto err_free;
	}
	pool->iova_pfn = (uint64_t)pfn;
	pool->iova_base = (uint64_t)pfn << iommu->granule_shift;
	ret = map_cpu_memory(iommu, pool->iova_base, pool->mem, pool->pool_bytes);
	if (ret)
		goto err_iova;

	/* Fill the lists in reverse so that pops hand out the lowest slots first. */
	for (c = 0; c < pool->nr_classes; c++)
		for (k = 0; k < ncpus; k++)
			for (i = pool->cls[c].nslots; i-- > 0;)
				push(pool, k, c, pool->cls[c].first + k * pool->cls[c].nslots + i);
	iovx_pin_get();
	*out = pool;
	return 0;

err_iova:
	iovx_iova_free(iovad, pool->iova_pfn, npages);
err_free:
	iovx_free(pool->cpu);
	iovx_free(pool->next);
	iovx_free(pool->slot);
	iovx_free(pool->mem);
	iovx_free(pool);
	return ret;
}

static uint64_t sum_stat(struct iovx_bounce_pool *pool, unsigned int i)
{
	uint64_t s = 0;
	unsigned int k;

	for (k = 0; k < pool->nr_cpus; k++)
		s += iovx_load_relaxed(&pool->cpu[k].stat[i]);
	return s;
}

/*
 * The check of a quiescent pool that destroy found without live mappings (debug builds,
 * inside iovx_assert): every slot is free (B5: the counters agreed, so none is live), and
 * the free lists hold every slot once, each on its own (CPU, class) list (B1, B2). destroy
 * runs alone (synchronization table), so nothing changes under the walk.
 */
static inline bool quiescent_ok(struct iovx_bounce_pool *pool)
{
	uint64_t listed = 0, g;
	unsigned int c, k;

	for (g = 0; g < pool->nr_slots; g++)
		if (iovx_load_relaxed(&pool->slot[g].state) != SLOT_FREE)
			return false;
	for (c = 0; c < pool->nr_classes; c++) {
		const struct bounce_class *cl = &pool->cls[c];

		for (k = 0; k < pool->nr_cpus; k++) {
			uint32_t top = (uint32_t)iovx_load_relaxed(&pool->cpu[k].head[c]);
			uint64_t n = 0;

			for (; top; top = iovx_load_relaxed(&pool->next[top - 1])) {
				if (top - 1 < cl->first || (top - 1 - cl->first) / cl->nslots != k ||
				    ++n > cl->nslots)
					return false;
			}
			if (n != cl->nslots)
				return false;
			listed += n;
		}
	}
	return listed == pool->nr_slots;
}

static int bounce_destroy(struct iovx_bounce_pool *pool, bool live_ok)
{
	struct iovx_iommu *iommu;
	struct iovx_iommu_freelist freed;
	int ret;

	if (!pool)
		return -EINVAL;
	if (!live_ok && sum_stat(pool, BS_maps) != sum_stat(pool, BS_unmaps))
		return -EBUSY;
	iovx_assert(live_ok || quiescent_ok(pool));			/* B1, B2, B5 */
	iommu = pool->iommu;
	iovx_iommu_freelist_init(&freed);
	iommu->ops->unmap(iommu, pool->iova_base, pool->pool_bytes, &freed);
	ret = iommu->ops->inv_all(iommu);
	if (!ret)
		ret = iommu->ops->sync(iommu);
	if (ret) {
		/* B3: the device may still translate into the pool: leak it all, for good. */
		iovx_free(pool->cpu);
		iovx_free(pool->next);
		iovx_free(pool->slot);
		iovx_free(pool);
		iovx_pin_put();
		return ret;
	}
	if (iommu->ops->free_pages)
		iommu->ops->free_pages(iommu, &freed);
	iovx_iova_free(pool->iovad, pool->iova_pfn, pool->iova_npages);
	iovx_free(pool->cpu);
	iovx_free(pool->next);
	iovx_free(pool->slot);
	iovx_free(pool->mem);
	iovx_free(pool);
	iovx_pin_put();
	return 0;
}

int iovx_bounce_destroy(struct iovx_bounce_pool *pool)
{
	return bounce_destroy(pool, false);
}

/* The DMA facade's domain destroy: the slots still mapped die with the domain. */
int iovx_bounce_destroy_live(struct iovx_bounce_pool *pool)
{
	return bounce_destroy(pool, true);
}

static inline bool dir_ok(unsigned int dir)
{
	return dir == IOVX_DMA_BIDIRECTIONAL || dir == IOVX_DMA_TO_DEVICE ||
	       dir == IOVX_DMA_FROM_DEVICE;
}

static inline uint8_t *slot_mem(struct iovx_bounce_pool *pool, unsigned int c, uint32_t g)
{
	const struct bounce_class *cl = &pool->cls[c];

	return pool->mem + cl->off + ((uint64_t)(g - cl->first) << cl->shift);
}

static inline uint64_t slot_iova(struct iovx_bounce_pool *pool, unsigned int c, uint32_t g)
{
	return pool->iova_base + (uint64_t)(slot_mem(pool, c, g) - pool->mem);
}

int iovx_bounce_map(struct iovx_bounce_pool *pool, uint64_t phys, size_t len,
		    enum iovx_dma_dir dir, uint64_t *dma)
{
	unsigned int cpu, c, c0, k, from_cpu, from_c;
	uint64_t need, off;
	uint32_t top = 0, g;
	uint8_t *mem;

	if (!pool || !dma || !phys || !len || !dir_ok((unsigned int)dir) ||
	    phys + len < phys) {
		if (pool)
			IOVX_STAT_ADD(&pool->cpu[this_cpu(pool)].stat[BS_errors], 1);
		return -EINVAL;
	}
	cpu = this_cpu(pool);
	off = phys & pool->align_mask;
	need = off + len;
	if (need > pool->cls[pool->nr_classes - 1].size) {
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_too_big], 1);
		return -ERANGE;
	}
	for (c0 = 0; pool->cls[c0].size < need; c0++)
		;
	from_cpu = cpu;
	from_c = c0;
	for (c = c0; c < pool->nr_classes && !top; c++) {
		top = pop(pool, cpu, c);
		from_c = c;
	}
	for (k = 1; k < pool->nr_cpus && !top; k++) {
		from_cpu = (cpu + k) % pool->nr_cpus;
		from_c = c0;
		top = pop(pool, from_cpu, c0);
	}
	if (!top) {
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_exhausted], 1);
		return -ENOSPC;
	}
	g = top - 1;
	/* B1, B2: a popped slot is free and came from its own list; this call owns it. */
	iovx_assert(iovx_load_relaxed(&pool->slot[g].state) == SLOT_FREE &&
		    g >= pool->cls[from_c].first &&
		    (g - pool->cls[from_c].first) / pool->cls[from_c].nslots == from_cpu);
	mem = slot_mem(pool, from_c, g);
	/* Copy for every direction: bytes the device leaves alone come back unchanged. */
	iovx_memcpy(mem + off, bounce_virt_of(phys), len);
	pool->slot[g].host = phys;
	/* E2: publishes host and the copied data with the live state. */
	iovx_store_release(&pool->slot[g].state, SLOT_LIVE(len, off, (unsigned int)dir));
	if (from_cpu != cpu)
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_steals], 1);
	if (from_c != c0)
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_upsized], 1);
	IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_maps], 1);
	IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_bytes_in], len);
	*dma = slot_iova(pool, from_c, g) + off;
	return 0;
}

/* dma -> class and global slot index; false when dma lies outside the pool's slots. */
static bool locate(struct iovx_bounce_pool *pool, uint64_t dma, unsigned int *cp, uint32_t *gp,
		   uint64_t *in_slot)
{
	uint64_t off;
	unsigned int c;

	if (dma < pool->iova_base)
		return false;
	off = dma - pool->iova_base;
	c = pool->nr_classes;
	while (c-- > 0)
		if (off >= pool->cls[c].off)
			break;
	/* Past the last class: the tail of the last mapped page. */
	if ((off - pool->cls[c].off) >> pool->cls[c].shift >=
	    (uint64_t)pool->cls[c].nslots * pool->nr_cpus)
		return false;
	*cp = c;
	*gp = pool->cls[c].first + (uint32_t)((off - pool->cls[c].off) >> pool->cls[c].shift);
	*in_slot = (off - pool->cls[c].off) & (pool->cls[c].size - 1);
	return true;
}

static inline unsigned int home_cpu(const struct iovx_bounce_pool *pool, unsigned int c,
				    uint32_t g)
{
	return (g - pool->cls[c].first) / pool->cls[c].nslots;
}

int iovx_bounce_unmap(struct iovx_bounce_pool *pool, uint64_t dma, size_t len,
		      enum iovx_dma_dir dir)
{
	unsigned int c, cpu;
	uint64_t in_slot, st;
	uint32_t g;

	if (!pool)
		return -EINVAL;
	cpu = this_cpu(pool);
	if (!locate(pool, dma, &c, &g, &in_slot))
		goto einval;
	/* E2: acquire pairs with map's release store. */
	st = iovx_load_acquire(&pool->slot[g].state);
	for (;;) {
		if (!SLOT_IS_LIVE(st)) {
			IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_errors], 1);
			return -ENOENT;
		}
		if (SLOT_OFF(st) != in_slot || SLOT_LEN(st) != len || SLOT_DIR(st) != (unsigned int)dir)
			goto einval;
		/* E3: the winner owns the slot; losers re-check and see it not live. */
		if (iovx_cmpxchg_acq_rel(&pool->slot[g].state, &st, SLOT_FREEING))
			break;
	}
	if (dir == IOVX_DMA_FROM_DEVICE || dir == IOVX_DMA_BIDIRECTIONAL) {
		iovx_memcpy(bounce_virt_of(pool->slot[g].host),
			    slot_mem(pool, c, g) + in_slot, len);
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_bytes_out], len);
	}
	/* Published by push's release (E1). */
	iovx_store_relaxed(&pool->slot[g].state, SLOT_FREE);
	if (home_cpu(pool, c, g) != cpu)
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_remote_frees], 1);
	push(pool, home_cpu(pool, c, g), c, g);
	IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_unmaps], 1);
	return 0;
einval:
	IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_errors], 1);
	return -EINVAL;
}

static int sync_common(struct iovx_bounce_pool *pool, uint64_t dma, size_t len,
		       enum iovx_dma_dir dir, bool for_cpu)
{
	unsigned int c, cpu;
	uint64_t in_slot, st, start, host;
	uint32_t g;
	uint8_t *mem;

	if (!pool)
		return -EINVAL;
	cpu = this_cpu(pool);
	if (!len || !dir_ok((unsigned int)dir) || dma + len < dma ||
	    !locate(pool, dma, &c, &g, &in_slot))
		goto einval;
	/* E2: acquire pairs with map's release store. */
	st = iovx_load_acquire(&pool->slot[g].state);
	if (!SLOT_IS_LIVE(st)) {
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_errors], 1);
		return -ENOENT;
	}
	start = SLOT_OFF(st);
	if (SLOT_DIR(st) != (unsigned int)dir || in_slot < start ||
	    in_slot + len > start + SLOT_LEN(st))
		goto einval;
	host = pool->slot[g].host + (in_slot - start);
	mem = slot_mem(pool, c, g) + in_slot;
	if (for_cpu) {
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_syncs_cpu], 1);
		if (dir == IOVX_DMA_TO_DEVICE)
			return 0;
		iovx_memcpy(bounce_virt_of(host), mem, len);
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_bytes_out], len);
	} else {
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_syncs_device], 1);
		iovx_memcpy(mem, bounce_virt_of(host), len);
		IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_bytes_in], len);
	}
	return 0;
einval:
	IOVX_STAT_ADD(&pool->cpu[cpu].stat[BS_errors], 1);
	return -EINVAL;
}

int iovx_bounce_sync_for_cpu(struct iovx_bounce_pool *pool, uint64_t dma, size_t len,
			     enum iovx_dma_dir dir)
{
	return sync_common(pool, dma, len, dir, true);
}

int iovx_bounce_sync_for_device(struct iovx_bounce_pool *pool, uint64_t dma, size_t len,
				enum iovx_dma_dir dir)
{
	return sync_common(pool, dma, len, dir, false);
}

bool iovx_bounce_owns(const struct iovx_bounce_pool *pool, uint64_t dma)
{
	return pool && dma >= pool->iova_base && dma - pool->iova_base < pool->pool_bytes;
}

uint64_t iovx_bounce_crossover(const struct iovx_bounce_pool *pool)
{
	return pool ? iovx_load_relaxed(&pool->crossover) : 0;
}

uint64_t iovx_bounce_crossover_dir(const struct iovx_bounce_pool *pool, enum iovx_dma_dir dir)
{
	if (!pool || !dir_ok((unsigned int)dir))
		return 0;
	return dir == IOVX_DMA_TO_DEVICE ? iovx_load_relaxed(&pool->crossover_to_device) :
					   iovx_load_relaxed(&pool->crossover);
}

int iovx_bounce_set_crossover(struct iovx_bounce_pool *pool, uint64_t bytes)
{
	if (!pool || bytes > pool->cls[pool->nr_classes - 1].size)
		return -EINVAL;
	iovx_store_relaxed(&pool->crossover, bytes);
	iovx_store_relaxed(&pool->crossover_to_device, bytes);
	return 0;
}

int iovx_bounce_set_crossover_dir(struct iovx_bounce_pool *pool, enum iovx_dma_dir dir,
				  uint64_t bytes)
{
	if (!pool || !dir_ok((unsigned int)dir) || bytes > pool->cls[pool->nr_classes - 1].size)
		return -EINVAL;
	if (dir == IOVX_DMA_TO_DEVICE)
		iovx_store_relaxed(&pool->crossover_to_device, bytes);
	else
		iovx_store_relaxed(&pool->crossover, bytes);
	return 0;
}

int iovx_bounce_get_stats(struct iovx_bounce_pool *pool, struct iovx_bounce_stats *st)
{
	if (!pool || !st)
		return -EINVAL;
	iovx_memset(st, 0, sizeof(*st));
#define IOVX_BOUNCE_STAT_SUM(name, doc) st->name = sum_stat(pool, BS_##name);
	IOVX_BOUNCE_STATS(IOVX_BOUNCE_STAT_SUM)
#undef IOVX_BOUNCE_STAT_SUM
	st->live = st->maps >= st->unmaps ? st->maps - st->unmaps : 0;
	st->nr_slots = pool->nr_slots;
	st->pool_bytes = pool->pool_bytes;
	st->meta_bytes = pool->meta_bytes;
	st->max_bytes = pool->max_bytes;
	st->iova_base = pool->iova_base;
	st->nr_cpus = pool->nr_cpus;
	st->crossover = iovx_load_relaxed(&pool->crossover);
	st->crossover_to_device = iovx_load_relaxed(&pool->crossover_to_device);
	return 0;
}

int iovx_bounce_reset_stats(struct iovx_bounce_pool *pool)
{
	unsigned int k, i;

	if (!pool)
		return -EINVAL;
	if (sum_stat(pool, BS_maps) != sum_stat(pool, BS_unmaps))
		return -EBUSY;
	for (k = 0; k < pool->nr_cpus; k++)
		for (i = 0; i < BS_NR; i++)
			iovx_store_relaxed(&pool->cpu[k].stat[i], 0);
	return 0;
}

/* Appends s to buf at *pos; false when it does not fit (then buf ends at the cut). */
static bool put_str(char *buf, size_t len, size_t *pos, const char *s)
{
	while (*s) {
		if (*pos + 1 >= len)
			return false;
		buf[(*pos)++] = *s++;
	}
	buf[*pos] = '\0';
	return true;
}

static bool put_u64(char *buf, size_t len, size_t *pos, uint64_t v)
{
	char tmp[24];
	int i = 23;

	tmp[i] = '\0';
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return put_str(buf, len, pos, &tmp[i]);
}

static bool put_line(char *buf, size_t len, size_t *pos, const char *prefix, const char *name,
		     uint64_t v)
{
	return put_str(buf, len, pos, prefix) && put_str(buf, len, pos, name) &&
	       put_str(buf, len, pos, " ") && put_u64(buf, len, pos, v) &&
	       put_str(buf, len, pos, "\n");
}

int iovx_bounce_format_stats(const struct iovx_bounce_stats *st, const char *prefix, char *buf,
			     size_t len)
{
	size_t pos = 0;

	if (!st || !buf || !len)
		return -EINVAL;
	if (!prefix)
		prefix = "";
	buf[0] = '\0';
#define IOVX_BOUNCE_STAT_PUT(name, doc) \
	if (!put_line(buf, len, &pos, prefix, #name, st->name)) \
		return -ENOSPC;
	IOVX_BOUNCE_STATS(IOVX_BOUNCE_STAT_PUT)
	IOVX_BOUNCE_STAT_PUT(live, "")
	IOVX_BOUNCE_STAT_PUT(nr_slots, "")
	IOVX_BOUNCE_STAT_PUT(pool_bytes, "")
	IOVX_BOUNCE_STAT_PUT(meta_bytes, "")
	IOVX_BOUNCE_STAT_PUT(max_bytes, "")
	IOVX_BOUNCE_STAT_PUT(nr_cpus, "")
	IOVX_BOUNCE_STAT_PUT(crossover, "")
	IOVX_BOUNCE_STAT_PUT(crossover_to_device, "")
#undef IOVX_BOUNCE_STAT_PUT
	return 0;
}

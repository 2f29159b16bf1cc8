/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/bounce.h - persistently mapped per-CPU bounce pools (docs/bounce.md).
 *
 * A pool is one block of memory, allocated and mapped through the IOMMU ops ONCE (at
 * create) into one IOVA range of an iovx_iova domain, and unmapped, invalidated (inv_all)
 * and synced ONCE (at destroy). It is cut into slots of a few power-of-two size classes
 * (default 256 B, 1 KiB, 4 KiB, 16 KiB, 64 KiB), each CPU slot (iovx_cpu_hint()) owning
 * its own slots. A streaming mapping takes a slot and copies the caller's buffer into it;
 * the device sees only the slot's IOVA, so it can reach pool memory and never the caller's
 * buffer (byte-granular protection, where IOMMU mappings protect whole pages). Map and
 * unmap do no IOMMU work at all: below a crossover length the copies are cheaper than
 * map + unmap + invalidation + sync (see iovx_bounce_calibrate and docs/bounce.md). There
 * are two crossovers, because the copies differ by direction: TO_DEVICE copies once (in at
 * map), FROM_DEVICE and BIDIRECTIONAL copy twice (in at map, out at unmap).
 *
 * Copies (swiotlb's rules, including its info-leak fix): map and sync_for_device copy the
 * caller's buffer into the slot for EVERY direction (for FROM_DEVICE too, so that bytes the
 * device does not write come back unchanged at unmap instead of a previous user's data);
 * unmap and sync_for_cpu copy the slot back for FROM_DEVICE and BIDIRECTIONAL only.
 *
 * "phys" is the address the CPU copies from and to. In userspace it is a host pointer (the
 * simulator's convention: the device reads and writes host memory at the translated
 * address); the kernel glue passes a kernel virtual address of the buffer.
 *
 * Concurrency: map, unmap, sync_* and get_stats may run concurrently from any threads; a
 * slot may be unmapped on any thread or CPU, whichever took it (it returns to the free list
 * of the CPU that owns it). Calls on ONE mapping must be ordered by the caller (as with the
 * DMA API); two concurrent unmaps of one mapping are detected: one succeeds, the other gets
 * -ENOENT. create and destroy must not race with anything on the pool.
 *
 * Errors are negative errno values; a call that fails changes nothing.
 */
#ifndef IOVX_BOUNCE_H
#define IOVX_BOUNCE_H

#include <iovx/api.h>


#include <iovx/dma.h>
#include <iovx/iommu.h>
#include <iovx/iova.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOVX_BOUNCE_MAX_CLASSES		8
#define IOVX_BOUNCE_MIN_CLASS		64u		/* smallest class size, bytes */
#define IOVX_BOUNCE_MAX_CLASS		(1u << 20)	/* largest class size, bytes */
#define IOVX_BOUNCE_MAX_SLOTS		65536u		/* slots per CPU per class */
/* Default bound on the pool memory (all CPUs, all classes). */
#define IOVX_BOUNCE_DEFAULT_MAX_BYTES	(64ull << 20)

struct iovx_bounce_config {
	unsigned int nr_classes;	/* 1 .. IOVX_BOUNCE_MAX_CLASSES */
	/* Ascending powers of two in [IOVX_BOUNCE_MIN_CLASS, IOVX_BOUNCE_MAX_CLASS]. */
	uint32_t class_size[IOVX_BOUNCE_MAX_CLASSES];
	/* Slots of each class per CPU slot: 1 .. IOVX_BOUNCE_MAX_SLOTS. */
	uint32_t slots_per_cpu[IOVX_BOUNCE_MAX_CLASSES];
	/* CPU slots (pools); 0: iovx_nr_cpu_ids(). At most iovx_nr_cpu_ids() are used. */
	unsigned int nr_cpus;
	/* Bound on the pool memory; 0: IOVX_BOUNCE_DEFAULT_MAX_BYTES. */
	uint64_t max_bytes;
	/*
	 * Low bits of phys the DMA address keeps (swiotlb's min_align_mask): 0, or 2^k - 1
	 * smaller than the smallest class. The data then starts at slot + (phys & mask).
	 */
	uint32_t min_align_mask;
	/*
	 * Crossover length (bytes) reported to the facade, for every direction; 0: the largest
	 * class size. iovx_bounce_set_crossover_dir sets one direction's later.
	 */
	uint64_t crossover;
	/* The pool's IOVA range lies below this pfn (IOVX_IOVA_NO_LIMIT: anywhere). */
	uint64_t limit_pfn;
};

/*
 * Defaults: classes 256 B, 1 KiB, 4 KiB, 16 KiB, 64 KiB with 64, 32, 16, 8, 4 slots per
 * CPU (496 KiB per CPU), every CPU slot, 64 MiB bound, no alignment kept, crossover 0.
 */
IOVX_API void iovx_bounce_config_init(struct iovx_bounce_config *cfg);

struct iovx_bounce_pool;

/*
 * Allocates the pool memory, takes one IOVA range for it from iovad and maps it
 * read-write with iommu->ops->map (GFP_KERNEL).
 *   -EINVAL  a NULL argument, a bad configuration (see the fields), a granule outside
 *            12..16 or larger than the pool memory's alignment (4 KiB)
 *   -ERANGE  the pool would exceed max_bytes
 *   -ENOMEM  no memory, or no IOVA range of that size below limit_pfn
 *   other    the error of iommu->ops->map
 * On failure nothing is left allocated or mapped.
 */
IOVX_API int iovx_bounce_create(const struct iovx_bounce_config *cfg, struct iovx_iommu *iommu,
				struct iovx_iova_domain *iovad, struct iovx_bounce_pool **out);

/*
 * Unmaps the pool, queues inv_all, syncs, frees the page-table pages, the IOVA range and
 * the memory.
 *   0        done
 *   -EINVAL  pool NULL
 *   -EBUSY   mappings are live; nothing changes
 *   -EIO, -ETIMEDOUT  the sync failed: the device may still reach the pool through stale
 *            translations, so the pool memory, the IOVA range and the page-table pages are
 *            deliberately leaked (never reused); the pool itself is gone
 */
IOVX_API int iovx_bounce_destroy(struct iovx_bounce_pool *pool);

/*
 * Takes a slot of the smallest class that holds len bytes (plus the kept low bits of phys)
 * from this CPU's pool (then from larger classes of this CPU, then from other CPUs' pools
 * of that class), copies [phys, phys + len) into it, and sets *dma to the slot's IOVA
 * (+ phys & min_align_mask).
 *   -EINVAL  pool or dma NULL, phys 0, len 0, dir not TO_DEVICE/FROM_DEVICE/BIDIRECTIONAL,
 *            phys + len overflows
 *   -ERANGE  len (+ kept bits) larger than the largest class: the caller maps it otherwise
 *   -ENOSPC  no free slot that fits: the caller falls back to another mode
 */
IOVX_API int iovx_bounce_map(struct iovx_bounce_pool *pool, uint64_t phys, size_t len,
			     enum iovx_dma_dir dir, uint64_t *dma);

/*
 * Copies the slot back to phys for FROM_DEVICE and BIDIRECTIONAL and frees the slot. dma,
 * len and dir must be those of the map.
 *   -EINVAL  pool NULL, dma outside the pool, len or dir not those of the map (dma-debug's
 *            checks), or dma not the address map returned
 *   -ENOENT  no mapping is live in that slot (double unmap, never mapped)
 */
IOVX_API int iovx_bounce_unmap(struct iovx_bounce_pool *pool, uint64_t dma, size_t len,
			       enum iovx_dma_dir dir);

/*
 * Ownership transfers of [dma, dma + len), a part of a live mapping, dir the map's:
 * for_cpu copies slot -> caller for FROM_DEVICE and BIDIRECTIONAL (nothing for TO_DEVICE);
 * for_device copies caller -> slot for every direction.
 *   -EINVAL  pool NULL, len 0, dir not the map's, range not inside the mapping or the pool
 *   -ENOENT  no mapping is live there
 */
IOVX_API int iovx_bounce_sync_for_cpu(struct iovx_bounce_pool *pool, uint64_t dma, size_t len,
				      enum iovx_dma_dir dir);
IOVX_API int iovx_bounce_sync_for_device(struct iovx_bounce_pool *pool, uint64_t dma, size_t len,
					 enum iovx_dma_dir dir);

/* Is dma inside the pool's IOVA range? (The facade routes unmaps with it.) */
IOVX_API bool iovx_bounce_owns(const struct iovx_bounce_pool *pool, uint64_t dma);

/*
 * Crossover lengths: the facade bounces a map of dir shorter than the crossover of dir.
 * TO_DEVICE has its own (one copy); FROM_DEVICE and BIDIRECTIONAL share one (two copies).
 *
 * iovx_bounce_crossover: the FROM_DEVICE/BIDIRECTIONAL crossover (the one reported as
 * "crossover" in the stats and as bounce_crossover by the facade). 0 for NULL.
 * iovx_bounce_crossover_dir: the crossover of dir; 0 for NULL or a dir that is not
 * TO_DEVICE, FROM_DEVICE or BIDIRECTIONAL.
 * iovx_bounce_set_crossover: sets both. iovx_bounce_set_crossover_dir: sets the one of dir
 * (FROM_DEVICE and BIDIRECTIONAL set the shared one).
 *   -EINVAL  pool NULL, bytes larger than the largest class, or (_dir) a bad dir; nothing
 *            changes
 * Relaxed stores: maps running concurrently see the old or the new value.
 */
IOVX_API uint64_t iovx_bounce_crossover(const struct iovx_bounce_pool *pool);
IOVX_API uint64_t iovx_bounce_crossover_dir(const struct iovx_bounce_pool *pool,
					    enum iovx_dma_dir dir);
IOVX_API int iovx_bounce_set_crossover(struct iovx_bounce_pool *pool, uint64_t bytes);
IOVX_API int iovx_bounce_set_crossover_dir(struct iovx_bounce_pool *pool, enum iovx_dma_dir dir,
					   uint64_t bytes);

/* Statistics: one X-macro list generates the struct fields and the printer. */
#define IOVX_BOUNCE_STATS(X)						\
	X(maps, "maps that took a slot (hits)")				\
	X(unmaps, "unmaps that freed a slot")				\
	X(exhausted, "maps that found no slot (-ENOSPC)")		\
	X(too_big, "maps larger than the largest class (-ERANGE)")	\
	X(errors, "calls rejected with -EINVAL or -ENOENT")		\
	X(steals, "maps served by another CPU's pool")			\
	X(upsized, "maps served by a larger class")			\
	X(remote_frees, "unmaps on a CPU other than the slot's")	\
	X(syncs_cpu, "sync_for_cpu calls")				\
	X(syncs_device, "sync_for_device calls")			\
	X(bytes_in, "bytes copied caller -> pool")			\
	X(bytes_out, "bytes copied pool -> caller")

struct iovx_bounce_stats {
#define IOVX_BOUNCE_STAT_FIELD(name, doc) uint64_t name;
	IOVX_BOUNCE_STATS(IOVX_BOUNCE_STAT_FIELD)
#undef IOVX_BOUNCE_STAT_FIELD
	uint64_t live;			/* slots mapped now */
	uint64_t nr_slots;		/* slots in the pool */
	uint64_t pool_bytes;		/* pool memory (all slots), mapped once */
	uint64_t meta_bytes;		/* bookkeeping memory */
	uint64_t max_bytes;		/* the configured bound */
	uint64_t iova_base;		/* first IOVA of the pool */
	uint64_t nr_cpus;		/* CPU slots */
	uint64_t crossover;		/* FROM_DEVICE/BIDIRECTIONAL crossover length */
	uint64_t crossover_to_device;	/* TO_DEVICE crossover length */
};

/* Snapshot (exact when no call is in flight). -EINVAL: pool or st NULL. */
IOVX_API int iovx_bounce_get_stats(struct iovx_bounce_pool *pool, struct iovx_bounce_stats *st);

/*
 * Zeroes the counters of IOVX_BOUNCE_STATS (the facade does it after calibrating on the
 * pool). The pool must be quiescent: no call on it may run concurrently.
 *   -EINVAL  pool NULL
 *   -EBUSY   mappings are live (live is maps - unmaps); nothing changes
 */
IOVX_API int iovx_bounce_reset_stats(struct iovx_bounce_pool *pool);

/* Writes "prefix name value" lines (stats and configuration). -EINVAL, or -ENOSPC (cut). */
IOVX_API int iovx_bounce_format_stats(const struct iovx_bounce_stats *st, const char *prefix,
				      char *buf, size_t len);

/*
 * Crossover calibration, in one of two forms.
 *
 * Measured form (pair set; what the facade's bounce mode uses): the calibration times both
 * sides on the real code at lengths 64 B, 128 B, 256 B ... (powers of two, the last one
 * max_len rounded down to 64 bytes): side
 * IOVX_BOUNCE_CAL_MAP is a map + unmap through the mode that serves lengths above the
 * crossover (the facade: its fallback, on the domain's own IOMMU and IOVA space), side
 * IOVX_BOUNCE_CAL_BOUNCE a map + unmap through the pool (TO_DEVICE: one copy; BIDIRECTIONAL:
 * copy in + copy out). Each figure is the median of IOVX_BOUNCE_CAL_REPS timed batches of
 * `iterations` pairs, the sides alternating, the order rotating. For each crossover, the
 * smallest grid length from which on bouncing is never cheaper brackets the break-even with
 * the one below (a lower point that merely looked dearer cannot move it); the two bracket
 * points get a second look (each side keeps the lower figure: noise only adds time) until
 * the bracket is stable; IOVX_BOUNCE_CAL_REFINE bisection steps (64-byte multiples, two
 * looks each) narrow it, and the crossover is the linear interpolation of the cost
 * difference inside it, rounded up to 64 bytes. Bouncing cheaper up to max_len: max_len;
 * not even at 64 B: 0.
 *
 * Model form (pair NULL): the cost of bouncing len bytes is one copy (TO_DEVICE) or two
 * (in at map, out at unmap: FROM_DEVICE/BIDIRECTIONAL) plus a fixed slot cost of two 64-byte
 * copies; the cost of mapping it, map + unmap + inv_range + sync of its pages on the IOMMU
 * ops, fixed + per page. Every figure is measured (the median of IOVX_BOUNCE_CAL_REPS timed
 * batches of `iterations`) unless the caller gives it; the crossover is the smallest
 * multiple of 64 bytes at which bouncing stops being cheaper, capped at max_len. This form
 * leaves out what a DMA facade adds around the IOMMU ops (IOVA allocation, the
 * invalidation gather, frees), so it puts the crossover too low for a facade's fallback.
 */
#define IOVX_BOUNCE_CAL_MAP	0u	/* pair side: the mode above the crossover */
#define IOVX_BOUNCE_CAL_BOUNCE	1u	/* pair side: the pool */
#define IOVX_BOUNCE_CAL_REPS	7u	/* timed batches per figure; the median is kept */
#define IOVX_BOUNCE_CAL_REFINE	4u	/* bisection steps inside the bracket */
#define IOVX_BOUNCE_CAL_POINTS	16u	/* powers of two from 64 B to 1 MiB, and max_len */

struct iovx_bounce_calib_in {
	/* Model form: measure map cost here (one IOVA range taken from iovad, given back). */
	struct iovx_iommu *iommu;
	struct iovx_iova_domain *iovad;
	uint64_t max_len;		/* cap; 0: 64 KiB */
	/* Operations per timed batch; 0: 64 (model form), 16 (measured form). */
	unsigned int iterations;
	/* Model form overrides (0: measure). Copy cost is in picoseconds per byte. */
	uint64_t copy_ps_per_byte;
	uint64_t copy_fixed_ns;
	uint64_t iommu_fixed_ns;	/* map + unmap + inv_range + sync of one page */
	uint64_t iommu_page_ns;		/* each further page */
	/*
	 * Measured form: does n map + unmap pairs of [buf, buf + len) in direction dir
	 * through side (IOVX_BOUNCE_CAL_MAP or _BOUNCE), every mapping undone before it
	 * returns (work a mode defers may be drained at the end of the batch, inside the
	 * timing). buf is a 4 KiB-aligned, physically contiguous scratch buffer of max_len
	 * bytes the calibration owns (its physical address: iovx_virt_to_phys in the kernel); len is a multiple of 64 in [64, max_len]; dir TO_DEVICE or BIDIRECTIONAL.
	 * Returns 0 or a negative errno, which stops the calibration and is returned.
	 */
	int (*pair)(void *arg, unsigned int side, void *buf, uint64_t len, enum iovx_dma_dir dir,
		    unsigned int n);
	void *arg;
};

struct iovx_bounce_calib {
	/* Model form (0 in the measured form unless given) */
	uint64_t copy_ps_per_byte;	/* measured on the largest class copy */
	uint64_t copy_fixed_ns;		/* copy of 64 bytes, per copy */
	uint64_t copy_ns[IOVX_BOUNCE_MAX_CLASSES];	/* one copy of each default class size */
	uint64_t iommu_fixed_ns;
	uint64_t iommu_page_ns;
	/* bytes: FROM_DEVICE/BIDIRECTIONAL (two copies) bounce when len < crossover */
	uint64_t crossover;
	unsigned int measured;		/* IOVX_BOUNCE_CAL_* bits of what was measured */
	/* bytes: TO_DEVICE (one copy) bounces when len < crossover_to_device */
	uint64_t crossover_to_device;
	/*
	 * Measured form: the grid (nr_points lengths from 64 B), median ns per pair on each
	 * side (the lower of two looks at the points that decided a bracket).
	 */
	unsigned int nr_points;
	uint64_t point_len[IOVX_BOUNCE_CAL_POINTS];
	uint64_t map_ns[IOVX_BOUNCE_CAL_POINTS];
	uint64_t bounce_to_device_ns[IOVX_BOUNCE_CAL_POINTS];
	uint64_t bounce_bidi_ns[IOVX_BOUNCE_CAL_POINTS];
};

#define IOVX_BOUNCE_CAL_COPY	(1u << 0)
#define IOVX_BOUNCE_CAL_IOMMU	(1u << 1)
#define IOVX_BOUNCE_CAL_PAIRS	(1u << 2)	/* the measured form ran */

/*
 * Measures what in does not give and computes both crossovers.
 *   -EINVAL  in or out NULL, max_len not in [64, IOVX_BOUNCE_MAX_CLASS], or (model form)
 *            the IOMMU figures neither given nor measurable (iommu or iovad NULL)
 *   -ENOMEM  no memory for the scratch buffers, or no IOVA range
 *   other    an error of the IOMMU ops (the scratch mapping is undone) or of pair
 * On error *out is unchanged.
 */
IOVX_API int iovx_bounce_calibrate(const struct iovx_bounce_calib_in *in,
				   struct iovx_bounce_calib *out);

#ifdef __cplusplus
}
#endif

#endif /* IOVX_BOUNCE_H */

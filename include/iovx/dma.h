/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/dma.h - the streaming DMA API (dma_map_single/_sg, dma_unmap_*, dma_sync_*) over an
 * IOMMU driven through iovx/iommu.h, with the IOVA allocator of iovx/iova.h.
 *
 * A DMA domain is what one device (or group) maps through: one IOMMU domain, one IOVA
 * space, one mode, one DMA mask. Modes:
 *   IOVX_DMA_MODE_PASSTHROUGH  DMA address = physical address; no IOMMU work (the bound)
 *   IOVX_DMA_MODE_STRICT       allocate an IOVA range, map it; unmap clears the tables,
 *                              issues one range invalidation per coalesced range and exactly
 *                              one sync per call, then frees the IOVA and table pages
 *   IOVX_DMA_MODE_DEFERRED     as strict, but unmap clears the tables and queues the range
 *                              and the emptied table pages on an invalidation context
 *                              (iovx/inval.h): they return to the allocator and the IOMMU
 *                              only after a flush that began after the unmap completed;
 *                              the device may use the old translation until then. Bounded
 *                              by count (a flush once 3/4 of a ring is queued) and by time
 *                              (3/4 of the configured bound, default 1 ms, plus the gap to
 *                              the next unmap, poll or timer expiry, plus the flush)
 *                              whenever a thread touches the domain or the timer fires on
 *                              time; with neither (no caller, a late timer) an unmapped
 *                              buffer stays reachable until one of them runs
 *                              (iovx/inval.h); iovx_dma_flush_deferred ends it at once
 *   IOVX_DMA_MODE_BOUNCE       a bounce pool (iovx/bounce.h) mapped once at create over the
 *                              domain's IOMMU and IOVA space: a buffer shorter than the
 *                              crossover is copied into a pool slot and the device gets the
 *                              slot's IOVA (no IOMMU work per call); longer buffers, and
 *                              every map the pool cannot serve (no free slot, too big), go
 *                              to the base mode (cfg->fallback), never to failure.
 *                              An sg list is bounced when every segment is below the
 *                              crossover and the pool has a slot for each (one slot per
 *                              segment, one DMA segment per input segment, never merged),
 *                              else the whole list takes the fallback. Map copies the
 *                              buffer in for every direction; unmap copies it out for
 *                              FROM_DEVICE and BIDIRECTIONAL (SKIP_CPU_SYNC does not skip
 *                              these copies, as swiotlb's map); sync_for_cpu copies out
 *                              (FROM/BIDI), sync_for_device copies in. docs/bounce.md
 *   IOVX_DMA_MODE_REUSE        reuse-tagged buffers (iovx/reuse.h: sg lists marked with
 *                              iovx_sg_mark_reusable, single maps with IOVX_DMA_ATTR_REUSE)
 *                              are mapped once and every later map of the same buffer is a
 *                              table lookup until a stop or an eviction; everything else
 *                              goes to cfg->fallback (STRICT, the default, or DEFERRED)
 *                              exactly as in that mode. docs/reuse.md
 * An sg list gets ONE IOVA range, as dma-iommu does: each segment is padded to the granule,
 * the segments are mapped back to back, and DMA segments are merged where the IOVA is
 * contiguous (a segment ending on a granule boundary followed by one starting on one).
 *
 * The facade keeps a record of every live mapping — for an sg list: nents, direction, the
 * mapping attrs (WEAK_ORDERING, PRIVILEGED), every entry's effective address (phys +
 * offset) and length, and the DMA segments the map returned — so unlike the kernel it
 * rejects an unmap or sync of something it did not map, or of a list that changed since,
 * and an unmap tears down exactly what the record says was mapped. Every bad input returns
 * a negative errno and changes nothing:
 *   -EINVAL     NULL arguments, zero length, nents 0 or above IOVX_DMA_MAX_SEGS, a
 *               direction other than TO/FROM/BIDIRECTIONAL, unknown attrs; an unmap or sync
 *               that disagrees with the record: another size or direction, another nents,
 *               any entry's phys + offset or length, any of the first n DMA entries'
 *               dma_address or dma_length (n: what map_sg returned; the entries after them
 *               carry no mapping and are not compared), an unmap with other mapping attrs
 *               (SKIP_CPU_SYNC is per call), a sync range beyond a single mapping. An sg
 *               unmap or sync reads its entries as they are: an entry that could not be
 *               mapped (zero length, wrapping, beyond the output range) is a disagreement
 *               (-EINVAL), never -EOVERFLOW or -ERANGE
 *   -EOVERFLOW  map: address + length wraps, or the sg list's total length does; single
 *               unmap or sync: dma + size wraps
 *   -ERANGE     map: passthrough, a segment beyond the DMA mask; any mode, a physical
 *               address beyond the IOMMU's output range
 *   -ENOENT     unmap or sync naming a DMA address (sg: sg[0].dma_address) at which no live
 *               mapping starts, including addresses no mapping of the domain can have
 *               (beyond its IOVA space or output range, near 2^64)
 *   -ENOMEM     no IOVA space below the mask, no memory, or the mapping table is full
 * Hardware errors: when the sync of a strict unmap fails (-EIO, -ETIMEDOUT), the mapping is
 * gone but its IOVA range and page-table pages are never reused (counted as leaked); the
 * error is returned.
 *
 * Concurrency: every call except domain create/destroy may run concurrently with every
 * other on the same domain, from any thread; unmapping or syncing a mapping concurrently
 * with its own map or unmap is a caller bug (it may see -ENOENT). Calls never sleep when
 * the IOMMU's ops do not (kernel: atomic context allowed).
 */
#ifndef IOVX_DMA_H
#define IOVX_DMA_H

#include <iovx/api.h>


#include <iovx/iommu.h>
#include <iovx/inval.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iovx_bounce_config;
struct iovx_iova_domain;

enum iovx_dma_mode {
	IOVX_DMA_MODE_PASSTHROUGH = 0,
	IOVX_DMA_MODE_STRICT = 1,
	IOVX_DMA_MODE_DEFERRED = 2,	/* docs/inval.md, iovx/inval.h */
	IOVX_DMA_MODE_REUSE = 3,	/* docs/reuse.md, iovx/reuse.h */
	IOVX_DMA_MODE_BOUNCE = 4,	/* docs/bounce.md, iovx/bounce.h */
	IOVX_DMA_NR_MODES
};

/* The kernel's enum dma_data_direction values. */
enum iovx_dma_dir {
	IOVX_DMA_BIDIRECTIONAL = 0,
	IOVX_DMA_TO_DEVICE = 1,
	IOVX_DMA_FROM_DEVICE = 2,
	IOVX_DMA_NONE = 3,		/* never valid for a mapping */
};

/* Attributes (the kernel's DMA_ATTR_* meanings). */
#define IOVX_DMA_ATTR_WEAK_ORDERING	(1u << 1)
#define IOVX_DMA_ATTR_SKIP_CPU_SYNC	(1u << 5)
#define IOVX_DMA_ATTR_PRIVILEGED	(1u << 9)
/* iovx's own: map_single of a reuse-tagged buffer (reuse mode; iovx/reuse.h) */
#define IOVX_DMA_ATTR_REUSE		(1u << 16)
#define IOVX_DMA_ATTR_MASK \
	(IOVX_DMA_ATTR_WEAK_ORDERING | IOVX_DMA_ATTR_SKIP_CPU_SYNC | IOVX_DMA_ATTR_PRIVILEGED | \
	 IOVX_DMA_ATTR_REUSE)

/* Domain flags. */
#define IOVX_DMA_F_NO_GATHER	(1u << 0)	/* strict baseline: inval+sync per mapped run */
/*
 * Deferred mode, or reuse mode over deferred: opportunistic reuse of untagged buffers. An
 * unmapped buffer's mapping stays in place, idle, for half the deferred bound (the
 * invalidation context's max_age_ns); a map of the same buffer (same segments, direction
 * and attrs) in that window revives it: no IOVA, no page-table write. When the window
 * ends the mapping is torn down with a strict invalidation, so the device reaches an
 * unmapped buffer for less than the bound while the reaper's timer fires on time or
 * revive-mode unmaps keep coming (deferred mode's condition); with neither, until one of
 * them runs. Entries live
 * in the reuse table (reuse_table_order; iovx_dma_get_reuse_stats: revivals, expired).
 * -EINVAL in any other mode.
 */
#define IOVX_DMA_F_REVIVE	(1u << 1)

#define IOVX_DMA_MAX_SEGS	4096		/* largest nents of one sg list */

/*
 * A scatterlist entry, modelled on the kernel's: the input is phys (the page's physical
 * address; userspace: host virtual address), offset and length; map_sg writes dma_address
 * and dma_length of the first n entries (n its return value) and sets dma_length 0 on the
 * entries after them. flags: IOVX_SG_* of iovx/reuse.h (0 for an untagged list), written
 * by the mark calls; map_sg of a reuse-table mapping also keeps a hint in the bits of
 * IOVX_SG_REUSE_PRIVATE of sg[0].
 */
struct iovx_dma_sg {
	uint64_t phys;
	uint32_t offset;
	uint32_t length;
	uint64_t dma_address;
	uint32_t dma_length;
	uint32_t flags;
};

/* A range of IOVA space in bytes: [start, start + size). */
struct iovx_dma_range {
	uint64_t start;
	uint64_t size;
};

#define IOVX_DMA_MAX_RESERVED	64		/* largest nr_reserved */

struct iovx_dma_config {
	struct iovx_iommu *iommu;	/* required in every mode but passthrough */
	enum iovx_dma_mode mode;
	uint64_t dma_mask;		/* device's DMA mask, e.g. (1 << 32) - 1; 0: 64 bits */
	unsigned int flags;		/* IOVX_DMA_F_* */
	unsigned int map_table_order;	/* live mappings tracked: 2^order (default 16) */
	unsigned int iova_flags;	/* IOVX_IOVA_* flags of the IOVA domain created */
	/* deferred mode: the invalidation context's configuration; NULL: defaults */
	const struct iovx_inval_config *inval;
	/*
	 * reuse and bounce modes: the base mode under the reuse table or the bounce pool, which
	 * maps what they do not take: STRICT (default) or DEFERRED. Bounce mode also takes
	 * REUSE: reuse-tagged buffers (iovx/reuse.h) are served by a reuse table at any length
	 * (a hit needs no copy), the rest bounce or go to a strict base.
	 */
	enum iovx_dma_mode fallback;
	/* bounce mode: the pool's configuration (iovx/bounce.h); NULL: defaults */
	const struct iovx_bounce_config *bounce;
	/*
	 * bounce mode: lengths below this are bounced, in every direction; 0: calibrated at
	 * create, per direction (TO_DEVICE copies once, the others twice), by timing this
	 * domain's own fallback map+unmap against the pool's (iovx_bounce_calibrate's pair
	 * form; docs/bounce.md), capped at the largest class. At most the largest class size.
	 */
	uint64_t bounce_crossover;
	/* reuse mode: the table holds at most 2^order entries (2..20; 0: default 10) */
	unsigned int reuse_table_order;
	/*
	 * IOVA ranges never handed out (an IOMMU group's reserved regions such as the MSI
	 * window, the space below an aperture's start), taken out of the domain's allocator
	 * before anything is mapped. Parts beyond the IOVA space are ignored. NULL: none;
	 * at most IOVX_DMA_MAX_RESERVED; a zero-size or wrapping range is -EINVAL.
	 */
	const struct iovx_dma_range *reserved;
	unsigned int nr_reserved;
	/*
	 * A borrowed IOVA domain (iovx/iova.h) instead of one of the domain's own: the
	 * domain allocates and frees its IOVAs there, side by side with the domain's owner
	 * (dma-iommu's cookie in a patched kernel, whose own mappings share the space), and
	 * never destroys it. Its granule must be the IOMMU's (granule_shift: the caller's
	 * promise, not checked); the owner reserves what must stay out (reserved ranges are
	 * -EINVAL here) and must keep it alive until iovx_dma_domain_destroy returns. As the
	 * space is shared, destroy does not clear the whole of it: mappings still live are
	 * torn down one by one from the domain's records (a reuse table's entries too), each
	 * as its base mode unmaps (strict: invalidated and synced at once; deferred: flushed
	 * before destroy returns), and their IOVAs go back to the borrowed domain.
	 * Strict, deferred and reuse modes only (passthrough and bounce: -EINVAL). NULL: the
	 * domain creates its own IOVA domain (iova_flags).
	 */
	struct iovx_iova_domain *iova_domain;
};

IOVX_API void iovx_dma_config_init(struct iovx_dma_config *cfg, struct iovx_iommu *iommu,
			  enum iovx_dma_mode mode);

struct iovx_dma_domain;

/*
 * -EINVAL: NULL, unknown flags, no iommu where one is needed, map_table_order outside
 * 4..24, deferred mode with an invalid cfg->inval (see iovx_inval_create); bounce mode with
 * a fallback other than STRICT/DEFERRED/REUSE, an invalid cfg->bounce (iovx_bounce_create)
 * or a crossover above the largest class; reuse mode with a base other than
 * STRICT/DEFERRED; reuse_table_order outside 2..20 where a reuse table is made;
 * IOVX_DMA_F_REVIVE where the base is not deferred; an iova_domain with passthrough or
 * bounce mode or with reserved ranges. -ERANGE: the bounce pool above its
 * max_bytes; -ENOSPC: 256 reuse tables live already; -ENOMEM.
 */
IOVX_API int iovx_dma_domain_create(const struct iovx_dma_config *cfg, struct iovx_dma_domain **out);

/*
 * Destroys the domain. Mappings still live are unmapped and counted in the returned number
 * (0 when none leaked), or -EINVAL. Strict: the whole IOVA space is unmapped, which also
 * releases the page-table pages the IOMMU kept (io-pgtable keeps them while a domain lives),
 * with one invalidate-all and one sync, even when nothing was live.
 */
IOVX_API int iovx_dma_domain_destroy(struct iovx_dma_domain *dom);

/* Changes the DMA mask for later maps (0: 64 bits). -EINVAL for NULL. */
IOVX_API int iovx_dma_set_mask(struct iovx_dma_domain *dom, uint64_t mask);

/* Maps [phys, phys + size) for the device; *dma receives the DMA address. */
IOVX_API int iovx_dma_map_single(struct iovx_dma_domain *dom, uint64_t phys, size_t size,
			enum iovx_dma_dir dir, unsigned int attrs, uint64_t *dma);

/* Unmaps what map_single returned; size and dir must be those of the map. */
IOVX_API int iovx_dma_unmap_single(struct iovx_dma_domain *dom, uint64_t dma, size_t size,
			  enum iovx_dma_dir dir, unsigned int attrs);

/* Maps an sg list; returns the number of DMA segments (> 0) or a negative errno. */
IOVX_API int iovx_dma_map_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg, int nents,
		    enum iovx_dma_dir dir, unsigned int attrs);

/* Unmaps an sg list with the nents passed to map_sg (not its return value). */
IOVX_API int iovx_dma_unmap_sg(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg, int nents,
		      enum iovx_dma_dir dir, unsigned int attrs);

/*
 * Ownership transfers of a live mapping ("map once, sync many"): dma must be the address
 * map_single returned, size at most the mapped size, dir the map's direction.
 */
IOVX_API int iovx_dma_sync_single_for_cpu(struct iovx_dma_domain *dom, uint64_t dma, size_t size,
				 enum iovx_dma_dir dir);
IOVX_API int iovx_dma_sync_single_for_device(struct iovx_dma_domain *dom, uint64_t dma, size_t size,
				    enum iovx_dma_dir dir);
/* The same for an sg list mapped by map_sg (nents as passed to map_sg). */
IOVX_API int iovx_dma_sync_sg_for_cpu(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg, int nents,
			     enum iovx_dma_dir dir);
IOVX_API int iovx_dma_sync_sg_for_device(struct iovx_dma_domain *dom, struct iovx_dma_sg *sg,
				int nents, enum iovx_dma_dir dir);

struct iovx_dma_stats {
	uint64_t live;			/* mappings live now, outside the reuse table (its
					 * references: iovx_reuse_stats.refs) */
	uint64_t maps, unmaps;		/* successful calls (single + sg) */
	uint64_t errors;		/* calls rejected with an errno */
	uint64_t inv_ranges, syncs;	/* invalidation commands this domain issued */
	uint64_t leaked_pages;		/* IOVA granules kept out after a failed sync */
	uint64_t leaked_tables;		/* page-table pages kept after a failed sync */
	/* bounce mode (0 in the others) */
	uint64_t bounced;		/* maps served by the pool (sg: one per list) */
	uint64_t bounce_fallbacks;	/* maps given to the fallback mode */
	uint64_t bounce_bytes;		/* bytes copied, both ways */
	uint64_t bounce_crossover;	/* bytes: shorter FROM_DEVICE/BIDIRECTIONAL maps bounce */
	uint64_t bounce_crossover_to_device;	/* bytes: shorter TO_DEVICE maps bounce */
	uint64_t bounce_pool_bytes;	/* pool memory, mapped once */
};
/*
 * Bounce mode with the deferred fallback: as deferred; flush_deferred and
 * get_inval_stats work on the fallback's invalidation context.
 * Deferred mode: inv_ranges and syncs include the flushes, leaked_pages and leaked_tables
 * the quarantined ranges and table pages; iovx_dma_get_inval_stats gives the rest.
 */

IOVX_API int iovx_dma_get_stats(struct iovx_dma_domain *dom, struct iovx_dma_stats *st);

/*
 * Deferred mode: returns once everything unmapped before the call has been invalidated and
 * released (iovx_inval_flush). 0; -EINVAL for NULL; -EOPNOTSUPP in another mode; -EIO or
 * -ETIMEDOUT when the sync failed (the ranges are quarantined).
 */
IOVX_API int iovx_dma_flush_deferred(struct iovx_dma_domain *dom);

/*
 * Deferred mode: the invalidation context's statistics (iovx/inval.h): flushes by trigger,
 * invalidate-alls, pending entries, maximum staleness, quarantined ranges. 0; -EINVAL for
 * NULL; -EOPNOTSUPP in another mode.
 */
IOVX_API int iovx_dma_get_inval_stats(struct iovx_dma_domain *dom,
				      struct iovx_inval_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* IOVX_DMA_H */

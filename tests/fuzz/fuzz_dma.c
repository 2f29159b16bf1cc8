// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fuzz_dma.c - libFuzzer target over DMA facade operation sequences on the software IOMMU.
 *
 * Input: a stream of opcodes with arguments (hostile lengths, offsets, masks, directions,
 * attrs, nents), run against a strict or passthrough domain (first byte, bit 0; bit 1: the
 * simulator detaches every table an unmap empties, eager_table_free) and a model of the
 * live mappings. After every step:
 *   I1  live strict mappings never share an IOVA page;
 *   I2  the simulator's checker counted no reuse before invalidation;
 *   I3  a strict unmap that returned leaves its IOVA pages faulting (unless remapped);
 *   I5  a call the model calls invalid returns an errno, and a rejected unmap leaves its
 *       mapping live and usable by the device;
 * and device accesses within a live mapping with the right direction succeed with data.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iovx/dma.h>
#include <iovx/sim.h>

#include "fuzz_input.h"

#define PG		4096ull
#define ARENA_PAGES	32
#define SLOTS		8
#define MAXSG		6

struct live {
	bool used, sg;
	uint64_t phys;
	int nents, nout;
	unsigned int dir;
	uint64_t dma, size;
	struct iovx_dma_sg s[MAXSG];
};

static uint8_t *arena;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_dma: %s failed at line %d\n", #c, \
					      __LINE__); abort(); } } while (0)


static uint64_t first_page(const struct live *l)
{
	return (l->sg ? l->s[0].dma_address : l->dma) / PG;
}

static uint64_t last_page(const struct live *l)
{
	if (!l->sg)
		return (l->dma + l->size - 1) / PG;
	return (l->s[l->nout - 1].dma_address + l->s[l->nout - 1].dma_length - 1) / PG;
}

static bool page_live(const struct live *lv, uint64_t pfn)
{
	int i;

	for (i = 0; i < SLOTS; i++)
		if (lv[i].used && pfn >= first_page(&lv[i]) && pfn <= last_page(&lv[i]))
			return true;
	return false;
}

/*
 * Does an unmap naming list s (n entries) match the facade's record of sg mapping o? Every
 * entry's effective address and length, and o's DMA segments (the first o->nout entries).
 */
static bool sg_same_record(const struct live *o, const struct iovx_dma_sg *s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (o->s[i].phys + o->s[i].offset != s[i].phys + s[i].offset ||
		    o->s[i].length != s[i].length)
			return false;
	for (i = 0; i < o->nout; i++)
		if (o->s[i].dma_address != s[i].dma_address ||
		    o->s[i].dma_length != s[i].dma_length)
			return false;
	return true;
}

/*
 * The facade takes any live entry whose record matches, so a "wrong" unmap or sync of
 * one mapping can be a right one of another: passthrough maps a buffer to its own address
 * (two live mappings may share it), and in strict mode dma + PG may be where another
 * mapping of the same size and direction lives. The other live slot the call matches
 * (min_size: a sync of a single mapping matches any at least that long), or -1.
 */
static int twin_of(const struct live *lv, const struct live *self, bool sg, uint64_t dma,
		   uint64_t size, bool min_size, int nents, unsigned int dir)
{
	int j;

	for (j = 0; j < SLOTS; j++) {
		const struct live *o = &lv[j];

		if (o == self || !o->used || o->sg != sg || o->dir != dir)
			continue;
		if (!sg && o->dma == dma && (min_size ? o->size >= size : o->size == size))
			return j;
		if (sg && o->nents == nents && sg_same_record(o, self->s, nents))
			return j;
	}
	return -1;
}

/* The device may reach the mapping's first DMA segment in its direction. */
static bool strict;
static bool mask32;	/* passthrough: the arena lies above 4 GiB, so maps get -ERANGE */

/* Offset in the arena of a single mapping's first byte (strict: from the IOMMU). */
static uint64_t arena_off(const struct live *l)
{
	return l->phys - (uintptr_t)arena;
}

static void probe_live(struct iovx_sim *sim, const struct live *l)
{
	uint64_t dma = l->sg ? l->s[0].dma_address : l->dma;
	uint8_t b = 0x3c;

	if (!strict)
		return;		/* passthrough: the device does not go through the IOMMU */

	if (l->dir != IOVX_DMA_FROM_DEVICE)
		CHECK(iovx_sim_dev_read(sim, dma, &b, 1, NULL) == 0);
	if (l->dir != IOVX_DMA_TO_DEVICE) {
		b = 0x3c;
		CHECK(iovx_sim_dev_write(sim, dma, &b, 1, NULL) == 0);
		if (!l->sg)
			CHECK(arena[arena_off(l)] == 0x3c);	/* the write landed in place */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct iovx_sim_config sc;
	struct iovx_dma_config dc;
	struct iovx_sim *sim;
	struct iovx_dma_domain *dom;
	struct iovx_sim_stats st;
	struct live *lv = calloc(SLOTS, sizeof(*lv));
	int steps = 0, i;
	unsigned int mode;

	CHECK(lv);
	mode = (unsigned int)get(&in, 1);
	strict = !(mode & 1);
	mask32 = false;

	if (!arena) {
		arena = aligned_alloc(PG, ARENA_PAGES * PG);
		CHECK(arena);
	}
	iovx_sim_config_init(&sc);
	sc.iotlb_sets = 4;
	sc.eager_table_free = mode & 2;
	CHECK(iovx_sim_create(&sc, &sim) == 0);
	iovx_dma_config_init(&dc, iovx_sim_iommu(sim),
			     strict ? IOVX_DMA_MODE_STRICT : IOVX_DMA_MODE_PASSTHROUGH);
	dc.map_table_order = 4;
	CHECK(iovx_dma_domain_create(&dc, &dom) == 0);

	while (in.n && steps++ < 256) {
		unsigned int op = (unsigned int)get(&in, 1), slot = op >> 5 & (SLOTS - 1);
		struct live *l = &lv[slot];

		switch (op & 7) {
		case 0: case 1: {	/* map_single */
			uint64_t off = get(&in, 2) % (ARENA_PAGES * PG), len = get(&in, 2);
			unsigned int dir = (unsigned int)get(&in, 1) % 5, attrs = (unsigned int)get(&in, 1);
			uint64_t dma = 0;
			bool valid;
			int r;

			if (l->used)
				break;
			if (!(attrs & 0x80))
				attrs &= IOVX_DMA_ATTR_MASK;	/* mostly valid attrs */
			valid = len && off + len <= ARENA_PAGES * PG && dir <= 2 &&
				!(attrs & ~IOVX_DMA_ATTR_MASK);
			if (valid && mask32 && !strict && (uintptr_t)arena + off + len > (1ull << 32)) {
				CHECK(iovx_dma_map_single(dom, (uintptr_t)arena + off, len, dir, attrs,
							  &dma) == -ERANGE);
				break;
			}
			if (off + len > ARENA_PAGES * PG)
				len = 0;	/* stay inside our memory: a hostile zero instead */
			r = iovx_dma_map_single(dom, (uintptr_t)arena + off, len, dir, attrs, &dma);
			valid = valid && len;
			if (!valid) {
				CHECK(r < 0);
				break;
			}
			CHECK(r == 0);
			*l = (struct live){ .used = true, .dir = dir, .dma = dma, .size = len,
					    .phys = (uintptr_t)arena + off };
			if (!strict)
				CHECK(dma == (uintptr_t)arena + off);
			break;
		}
		case 2: {		/* map_sg */
			int n = 1 + (int)(get(&in, 1) % MAXSG), r, k;
			unsigned int dir = (unsigned int)get(&in, 1) % 4;
			bool valid = dir <= 2;

			if (l->used)
				break;
			memset(l->s, 0, sizeof(l->s));
			for (k = 0; k < n; k++) {
				uint64_t pg = get(&in, 1) % ARENA_PAGES;
				uint32_t off = (uint32_t)get(&in, 2) % (uint32_t)PG;
				uint32_t len = (uint32_t)get(&in, 2) % (uint32_t)(2 * PG + 1);

				if (pg * PG + off + len > ARENA_PAGES * PG)
					len = (uint32_t)(ARENA_PAGES * PG - pg * PG - off);
				l->s[k].phys = (uintptr_t)arena + pg * PG;
				l->s[k].offset = off;
				l->s[k].length = len;
				valid = valid && len;
			}
			r = iovx_dma_map_sg(dom, l->s, n, dir, 0);
			if (valid && mask32 && !strict && (uintptr_t)arena > (1ull << 32)) {
				CHECK(r == -ERANGE);
				break;
			}
			if (!valid) {
				CHECK(r < 0);
				break;
			}
			CHECK(r >= 1 && r <= n);
			l->used = true;
			l->sg = true;
			l->nents = n;
			l->nout = r;
			l->dir = dir;
			break;
		}
		case 3: case 4: {	/* unmap, maybe with hostile arguments */
			unsigned int how = (unsigned int)get(&in, 1) % 4;
			int r, twin = -1;

			if (!l->used)
				break;
			if (how == 3 && !strict)
				how = 2;	/* passthrough: dma + PG may be another live mapping */
			if (l->sg) {
				int n = how == 1 ? l->nents - 1 : l->nents;
				unsigned int dir = how == 2 ? (l->dir + 1) % 3 : l->dir;

				if (!strict && how && n > 0)	/* strict: IOVAs unique */
					twin = twin_of(lv, l, true, 0, 0, false, n, dir);
				r = iovx_dma_unmap_sg(dom, l->s, n, dir, 0);
			} else {
				uint64_t sz = how == 1 ? l->size + 1 : l->size;
				unsigned int dir = how == 2 ? (l->dir + 1) % 3 : l->dir;
				uint64_t dma = how == 3 ? l->dma + PG : l->dma;

				if (how)
					twin = twin_of(lv, l, false, dma, sz, false, 1, dir);
				r = iovx_dma_unmap_single(dom, dma, sz, dir, 0);
			}
			if (twin >= 0 || how == 0 || (l->sg && how == 3)) {
				/* It unmapped l, or that other mapping (then l stays live). */
				struct live *u = twin >= 0 ? &lv[twin] : l;
				uint64_t a = first_page(u), b = last_page(u), p;

				CHECK(r == 0);
				u->used = false;
				if (u != l)
					probe_live(sim, l);
				for (p = a; strict && p <= b; p++) {
					uint8_t x;

					if (!page_live(lv, p))
						CHECK(iovx_sim_dev_read(sim, p * PG, &x, 1, NULL) ==
						      -EFAULT);				/* I3 */
				}
			} else {
				CHECK(r < 0);					/* I5 */
				probe_live(sim, l);
			}
			break;
		}
		case 5: {		/* sync */
			unsigned int bad = (unsigned int)get(&in, 1) & 1;
			int r;

			if (!l->used)
				break;
			if (l->sg)
				r = iovx_dma_sync_sg_for_cpu(dom, l->s, l->nents,
							     bad ? 3 : l->dir);
			else
				r = iovx_dma_sync_single_for_device(dom, l->dma, l->size + bad,
								    l->dir);
			/* A longer live mapping at the same address makes it valid (twin_of). */
			if (bad && !l->sg &&
			    twin_of(lv, l, false, l->dma, l->size + 1, true, 1, l->dir) >= 0)
				bad = 0;
			CHECK(bad ? r < 0 : r == 0);
			break;
		}
		case 6:			/* device access to a live mapping */
			if (l->used)
				probe_live(sim, l);
			break;
		case 7:			/* DMA mask */
			mask32 = get(&in, 1) & 1;
			CHECK(iovx_dma_set_mask(dom, mask32 ? 0xffffffffull : 0) == 0);
			break;
		}
		/* I1: live strict mappings are disjoint in IOVA pages. */
		for (i = 0; strict && i < SLOTS; i++) {
			int j;

			for (j = i + 1; lv[i].used && j < SLOTS; j++)
				if (lv[j].used)
					CHECK(last_page(&lv[i]) < first_page(&lv[j]) ||
					      last_page(&lv[j]) < first_page(&lv[i]));
		}
	}
	CHECK(iovx_sim_get_stats(sim, &st) == 0);
	CHECK(st.i2_map_violations == 0 && st.i2_table_violations == 0);		/* I2 */
	for (i = 0; i < SLOTS; i++) {
		if (!lv[i].used)
			continue;
		if (lv[i].sg)
			CHECK(iovx_dma_unmap_sg(dom, lv[i].s, lv[i].nents, lv[i].dir, 0) == 0);
		else
			CHECK(iovx_dma_unmap_single(dom, lv[i].dma, lv[i].size, lv[i].dir, 0) == 0);
	}
	CHECK(iovx_dma_domain_destroy(dom) == 0);
	CHECK(iovx_sim_get_stats(sim, &st) == 0);
	CHECK(st.tables_live == 1);
	iovx_sim_destroy(sim);
	free(lv);
	return 0;
}

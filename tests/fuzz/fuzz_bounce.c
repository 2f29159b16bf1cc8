// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fuzz_bounce.c - libFuzzer target (and ctest replay) for the bounce pools
 * (include/iovx/bounce.h): mixed-size, mixed-direction sequences of map, unmap, device
 * reads and writes through the software IOMMU, sync_for_cpu/for_device, CPU writes and
 * bogus unmaps/syncs, run against a trivially-correct model:
 *   - the model keeps a copy of the caller's arena and, per live mapping, a shadow of what
 *     the device may see; after EVERY operation the real arena must equal the model's (the
 *     device never reaches the caller's memory, copies go exactly where the API says);
 *   - device reads return the shadow; live mappings never overlap in IOVA space (I1);
 *   - rejected calls return the documented errno and change nothing (I5);
 *   - at the end everything unmaps, no device access faulted, destroy succeeds.
 *
 * Input: a sequence of 8-byte records { op, a, b, c, d, e, f, g }.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iovx/bounce.h>
#include <iovx/iova.h>
#include <iovx/sim.h>
#include "bounce_cfg.h"

#define ARENA	16384u
#define MAXLIVE	64
#define BIG	4096u	/* largest class of the fuzzed pool */

struct live {
	uint64_t dma;
	uint32_t off, len;
	enum iovx_dma_dir dir;
	uint8_t *shadow;
};

static uint8_t arena[ARENA] __attribute__((aligned(4096)));
static uint8_t model[ARENA];
static uint8_t tmp[BIG];
static struct live lv[MAXLIVE];
static unsigned int nlive;

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fuzz_bounce: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();					\
		}							\
	} while (0)

static void drop(unsigned int i)
{
	free(lv[i].shadow);
	lv[i] = lv[--nlive];
}

static void do_unmap(struct iovx_bounce_pool *pool, unsigned int i)
{
	CHECK(iovx_bounce_unmap(pool, lv[i].dma, lv[i].len, lv[i].dir) == 0);
	if (lv[i].dir != IOVX_DMA_TO_DEVICE)
		memcpy(model + lv[i].off, lv[i].shadow, lv[i].len);
	drop(i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum iovx_dma_dir dirs[] = { IOVX_DMA_TO_DEVICE, IOVX_DMA_FROM_DEVICE,
						 IOVX_DMA_BIDIRECTIONAL, IOVX_DMA_NONE };
	struct iovx_bounce_config bc;
	struct iovx_sim_config sc;
	struct iovx_iova_config ic;
	struct iovx_bounce_stats st;
	struct iovx_sim_stats ss;
	struct iovx_bounce_pool *pool;
	struct iovx_iova_domain *iovad;
	struct iovx_sim *sim;

	iovx_sim_config_init(&sc);
	iovx_iova_config_init(&ic, 1, 1ull << 20);
	CHECK(iovx_sim_create(&sc, &sim) == 0);
	CHECK(iovx_iova_domain_create(&ic, &iovad) == 0);
	iovx_test_bounce_classes(&bc, 3, (const uint32_t[]){ 64, 512, BIG },
				 (const uint32_t[]){ 3, 2, 2 });
	bc.nr_cpus = 2;
	CHECK(iovx_bounce_create(&bc, iovx_sim_iommu(sim), iovad, &pool) == 0);
	CHECK(iovx_bounce_get_stats(pool, &st) == 0);
	for (uint32_t i = 0; i < ARENA; i++)
		arena[i] = (uint8_t)(i * 31 + 7);
	memcpy(model, arena, ARENA);
	nlive = 0;

	for (size_t p = 0; p + 8 <= size; p += 8) {
		const uint8_t *r = data + p;
		uint32_t a = (uint32_t)r[1] | (uint32_t)r[2] << 8;
		uint32_t b = (uint32_t)r[3] | (uint32_t)r[4] << 8;
		unsigned int i = nlive ? r[5] % nlive : 0;
		uint32_t so, sl;
		uint64_t dma;
		int ret;

		switch (r[0] % 8) {
		case 0: {	/* map */
			uint32_t off = a % ARENA, len = 1 + b % (BIG + 64);
			enum iovx_dma_dir dir = dirs[r[6] % 4];

			if (off + len > ARENA)
				len = ARENA - off;
			ret = iovx_bounce_map(pool, (uint64_t)(uintptr_t)(arena + off), len, dir,
					      &dma);
			if (dir == IOVX_DMA_NONE) {
				CHECK(ret == -EINVAL);
				break;
			}
			if (len > BIG) {
				CHECK(ret == -ERANGE);
				break;
			}
			if (ret == -ENOSPC) {
				CHECK(nlive > 0);
				break;
			}
			CHECK(ret == 0 && nlive < MAXLIVE);
			CHECK(dma >= st.iova_base && dma + len <= st.iova_base + st.pool_bytes);
			for (unsigned int j = 0; j < nlive; j++)
				CHECK(dma + len <= lv[j].dma || lv[j].dma + lv[j].len <= dma);
			lv[nlive].dma = dma;
			lv[nlive].off = off;
			lv[nlive].len = len;
			lv[nlive].dir = dir;
			lv[nlive].shadow = malloc(len);
			CHECK(lv[nlive].shadow);
			memcpy(lv[nlive].shadow, model + off, len);
			nlive++;
			break;
		}
		case 1:		/* unmap, sometimes with the wrong len or dir first */
			if (!nlive)
				break;
			if (r[6] & 1)
				CHECK(iovx_bounce_unmap(pool, lv[i].dma, lv[i].len + 1 + r[7],
							lv[i].dir) == -EINVAL);
			if (r[6] & 2)
				CHECK(iovx_bounce_unmap(pool, lv[i].dma, lv[i].len,
							(enum iovx_dma_dir)((lv[i].dir + 1 +
									     r[7] % 3) % 4))
				      == -EINVAL);
			do_unmap(pool, i);
			break;
		case 2:		/* device write */
		case 3:		/* device read */
			if (!nlive)
				break;
			so = a % lv[i].len;
			sl = 1 + b % (lv[i].len - so);
			if (r[0] % 8 == 2) {
				memset(tmp, r[7], sl);
				CHECK(iovx_sim_dev_write(sim, lv[i].dma + so, tmp, sl, NULL) == 0);
				memcpy(lv[i].shadow + so, tmp, sl);
			} else {
				CHECK(iovx_sim_dev_read(sim, lv[i].dma + so, tmp, sl, NULL) == 0);
				CHECK(memcmp(tmp, lv[i].shadow + so, sl) == 0);
			}
			break;
		case 4:		/* sync_for_cpu */
		case 5:		/* sync_for_device */
			if (!nlive)
				break;
			so = a % lv[i].len;
			sl = 1 + b % (lv[i].len - so);
			if (r[6] & 1) {	/* too long: rejected */
				CHECK((r[0] % 8 == 4 ? iovx_bounce_sync_for_cpu :
				       iovx_bounce_sync_for_device)(pool, lv[i].dma + so,
								    lv[i].len - so + 1,
								    lv[i].dir) == -EINVAL);
				break;
			}
			if (r[0] % 8 == 4) {
				CHECK(iovx_bounce_sync_for_cpu(pool, lv[i].dma + so, sl,
							       lv[i].dir) == 0);
				if (lv[i].dir != IOVX_DMA_TO_DEVICE)
					memcpy(model + lv[i].off + so, lv[i].shadow + so, sl);
			} else {
				CHECK(iovx_bounce_sync_for_device(pool, lv[i].dma + so, sl,
								  lv[i].dir) == 0);
				memcpy(lv[i].shadow + so, model + lv[i].off + so, sl);
			}
			break;
		case 6: {	/* the CPU writes its buffers */
			uint32_t off = a % ARENA, n = 1 + b % 512;

			if (off + n > ARENA)
				n = ARENA - off;
			memset(arena + off, r[7], n);
			memset(model + off, r[7], n);
			break;
		}
		case 7: {	/* bogus unmap / sync at an address no live mapping starts at */
			bool hit = false;

			dma = st.iova_base - 64 + (a | (uint64_t)b << 16) % (st.pool_bytes + 128);
			for (unsigned int j = 0; j < nlive; j++)
				hit |= dma >= lv[j].dma && dma < lv[j].dma + lv[j].len;
			if (hit)
				break;
			ret = iovx_bounce_unmap(pool, dma, 1 + r[6], dirs[r[7] % 3]);
			CHECK(ret == -EINVAL || ret == -ENOENT);
			ret = iovx_bounce_sync_for_cpu(pool, dma, 1 + r[6], dirs[r[7] % 3]);
			CHECK(ret == -EINVAL || ret == -ENOENT);
			break;
		}
		}
		CHECK(memcmp(arena, model, ARENA) == 0);
	}
	while (nlive)
		do_unmap(pool, nlive - 1);
	CHECK(memcmp(arena, model, ARENA) == 0);
	CHECK(iovx_bounce_get_stats(pool, &st) == 0 && st.live == 0);
	CHECK(iovx_sim_get_stats(sim, &ss) == 0 && ss.faults == 0);
	CHECK(iovx_bounce_destroy(pool) == 0);
	iovx_iova_domain_destroy(iovad);
	iovx_sim_destroy(sim);
	return 0;
}

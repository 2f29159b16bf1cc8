// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * A program outside the tree that uses only the installed headers and library: built by
 * scripts/test.sh with `pkg-config --cflags --libs iovx` and with CMake's find_package(iovx).
 */
#include <iovx/iova.h>

#include <stdio.h>

int main(void)
{
	struct iovx_iova_config cfg;
	struct iovx_iova_domain *dom;
	struct iovx_iova_stats st;
	int64_t pfn[16];
	int i, rc;

	iovx_iova_config_init(&cfg, 1, 1u << 20);
	rc = iovx_iova_domain_create(&cfg, &dom);
	if (rc) {
		fprintf(stderr, "consumer: domain_create: %d\n", rc);
		return 1;
	}
	for (i = 0; i < 16; i++) {
		pfn[i] = iovx_iova_alloc(dom, (uint64_t)i + 1, IOVX_IOVA_NO_LIMIT);
		if (pfn[i] <= 0) {
			fprintf(stderr, "consumer: alloc %d: %lld\n", i + 1, (long long)pfn[i]);
			return 1;
		}
	}
	for (i = 0; i < 16; i++) {
		rc = iovx_iova_free(dom, (uint64_t)pfn[i], (uint64_t)i + 1);
		if (rc) {
			fprintf(stderr, "consumer: free: %d\n", rc);
			return 1;
		}
	}
	if (iovx_iova_get_stats(dom, &st)) {
		fprintf(stderr, "consumer: get_stats failed\n");
		return 1;
	}
	iovx_iova_domain_destroy(dom);
	printf("consumer ok: %llu granules, percpu mode %llu\n", (unsigned long long)st.total,
	       (unsigned long long)st.percpu_mode);
	return 0;
}

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * bounce_cfg.h - a bounce pool's classes from two tables, for the tests, stress runs and
 * fuzz targets that each want a small pool of their own shape.
 */
#ifndef IOVX_TEST_BOUNCE_CFG_H
#define IOVX_TEST_BOUNCE_CFG_H

#include <stdint.h>
#include <iovx/bounce.h>

/*
 * A default config (iovx_bounce_config_init) with n classes: class i of size[i] bytes
 * (size NULL or size[i] 0: the default size of class i) and slots[i] slots per CPU.
 */
static inline void iovx_test_bounce_classes(struct iovx_bounce_config *c, unsigned int n,
					    const uint32_t *size, const uint32_t *slots)
{
	iovx_bounce_config_init(c);
	c->nr_classes = n;
	for (unsigned int i = 0; i < n; i++) {
		if (size && size[i])
			c->class_size[i] = size[i];
		c->slots_per_cpu[i] = slots[i];
	}
}

#endif /* IOVX_TEST_BOUNCE_CFG_H */

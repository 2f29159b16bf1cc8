// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * params.c - iovx.ko's module parameters: the defaults iovx_kernel_dma_config_init() gives
 * a new DMA domain. Each is validated by its set op: a bad value at load time makes the
 * load fail with -EINVAL and a line saying why; at run time (sysfs, 0644) the write fails
 * and the old value stays. Changes apply to domains created afterwards.
 *
 *   default_mode        strict | deferred | revive | reuse | bounce | passthrough (strict)
 *   deferred_bound_us   the deferred modes' staleness bound, 10 .. 10000000 us (1000)
 *   reuse_table_order   reuse table of 2^order entries, 2 .. 20 (10)
 *   bounce_crossover    bytes below which bounce mode copies: 0 (calibrate per domain at
 *                       create) or 1 .. 65536, the default pool's largest class (0)
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

#include "platform.h"
#include "kglue.h"

#include <iovx/kernel.h>
#include <iovx/reuse.h>

#define IOVX_PFX	"iovx: "

struct iovx_mode_name {
	const char *name;
	enum iovx_dma_mode mode;
	unsigned int flags;
};

static const struct iovx_mode_name iovx_mode_names[] = {
	{ "strict", IOVX_DMA_MODE_STRICT, 0 },
	{ "deferred", IOVX_DMA_MODE_DEFERRED, 0 },
	{ "revive", IOVX_DMA_MODE_DEFERRED, IOVX_DMA_F_REVIVE },
	{ "reuse", IOVX_DMA_MODE_REUSE, 0 },
	{ "bounce", IOVX_DMA_MODE_BOUNCE, 0 },
	{ "passthrough", IOVX_DMA_MODE_PASSTHROUGH, 0 },
};

static unsigned int param_mode;		/* index into iovx_mode_names */
static unsigned int param_bound_us = IOVX_INVAL_DEFAULT_MAX_AGE_NS / 1000;
static unsigned int param_reuse_order = IOVX_REUSE_DEFAULT_TABLE_ORDER;
static unsigned int param_crossover;

int iovx_mode_parse(const char *s)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(iovx_mode_names); i++)
		if (sysfs_streq(s, iovx_mode_names[i].name))
			return (int)i;
	return -EINVAL;
}

static int mode_set(const char *val, const struct kernel_param *kp)
{
	int i = iovx_mode_parse(val);

	if (i < 0) {
		pr_err(IOVX_PFX "default_mode=%s: not one of %s\n", val,
		       "strict, deferred, revive, reuse, bounce, passthrough");
		return -EINVAL;
	}
	WRITE_ONCE(*(unsigned int *)kp->arg, (unsigned int)i);
	return 0;
}

static int mode_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", iovx_mode_names[READ_ONCE(*(unsigned int *)kp->arg)].name);
}

static const struct kernel_param_ops mode_ops = { .set = mode_set, .get = mode_get };

/* An unsigned int parameter in [min, max]; the name and range go into the complaint. */
static int range_set(const char *val, const struct kernel_param *kp, unsigned int min,
		     unsigned int max, bool zero_ok)
{
	unsigned int v;
	int ret = kstrtouint(val, 0, &v);

	if (ret || ((v < min || v > max) && !(zero_ok && v == 0))) {
		pr_err(IOVX_PFX "%s=%s: %s%u .. %u\n", kp->name, val,
		       ret ? "not a number; want " : "out of range; want ", min, max);
		return -EINVAL;
	}
	WRITE_ONCE(*(unsigned int *)kp->arg, v);
	return 0;
}

static int bound_set(const char *val, const struct kernel_param *kp)
{
	return range_set(val, kp, IOVX_INVAL_MIN_MAX_AGE_NS / 1000,
			 IOVX_INVAL_MAX_MAX_AGE_NS / 1000, false);
}

static int order_set(const char *val, const struct kernel_param *kp)
{
	return range_set(val, kp, IOVX_REUSE_MIN_TABLE_ORDER, IOVX_REUSE_MAX_TABLE_ORDER, false);
}

static int crossover_set(const char *val, const struct kernel_param *kp)
{
	return range_set(val, kp, 1, IOVX_KPARAM_MAX_CROSSOVER, true);
}

static const struct kernel_param_ops bound_ops = { .set = bound_set, .get = param_get_uint };
static const struct kernel_param_ops order_ops = { .set = order_set, .get = param_get_uint };
static const struct kernel_param_ops crossover_ops = {
	.set = crossover_set, .get = param_get_uint
};

module_param_cb(default_mode, &mode_ops, &param_mode, 0644);
MODULE_PARM_DESC(default_mode,
		 "mode of new domains: strict (default), deferred, revive, reuse, bounce, passthrough");
module_param_cb(deferred_bound_us, &bound_ops, &param_bound_us, 0644);
MODULE_PARM_DESC(deferred_bound_us, "deferred modes: staleness bound, 10 .. 10000000 us (1000)");
module_param_cb(reuse_table_order, &order_ops, &param_reuse_order, 0644);
MODULE_PARM_DESC(reuse_table_order, "reuse mode: table of 2^order entries, 2 .. 20 (10)");
module_param_cb(bounce_crossover, &crossover_ops, &param_crossover, 0644);
MODULE_PARM_DESC(bounce_crossover,
		 "bounce mode: bytes below which maps are copied; 0 calibrates (default), else 1 .. 65536");

const char *iovx_mode_name(unsigned int idx)
{
	return idx < ARRAY_SIZE(iovx_mode_names) ? iovx_mode_names[idx].name : "?";
}

void iovx_kernel_dma_config_init(struct iovx_dma_config *cfg, struct iovx_inval_config *icfg,
				 struct iovx_iommu *iommu)
{
	const struct iovx_mode_name *m = &iovx_mode_names[READ_ONCE(param_mode)];

	if (!cfg || !icfg)
		return;
	iovx_dma_config_init(cfg, iommu, m->mode);
	cfg->flags = m->flags;
	iovx_inval_config_init(icfg);
	icfg->max_age_ns = (u64)READ_ONCE(param_bound_us) * 1000;
	cfg->inval = icfg;
	cfg->reuse_table_order = READ_ONCE(param_reuse_order);
	cfg->bounce_crossover = READ_ONCE(param_crossover);
}

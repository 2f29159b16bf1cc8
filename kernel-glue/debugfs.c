// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * debugfs.c - /sys/kernel/debug/iovx/<domain>/ (docs/kernel.md lists the files).
 *
 * Each file is a seq_file that formats one snapshot per read. debugfs_create_file's proxy
 * fops make debugfs_remove_recursive wait for reads in progress, so after
 * iovx_debugfs_remove returns no reader touches the domain.
 */
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "platform.h"
#include "kglue.h"

#include <iovx/bounce.h>
#include <iovx/dma.h>
#include <iovx/inval.h>
#include <iovx/iova.h>
#include <iovx/kernel.h>
#include <iovx/reuse.h>
/* White box: the domain's IOVA allocator and bounce pool (the glue is part of iovx). */
#include "dma/dma_internal.h"

struct iovx_debugfs {
	struct dentry *dir;
	struct iovx_dma_domain *dom;
};

static struct dentry *iovx_debugfs_root;

#define SHOW(m, st, f)	seq_printf(m, "%-20s %llu\n", #f, (unsigned long long)(st).f)

static const char *const mode_names[] = {
	[IOVX_DMA_MODE_PASSTHROUGH] = "passthrough", [IOVX_DMA_MODE_STRICT] = "strict",
	[IOVX_DMA_MODE_DEFERRED] = "deferred", [IOVX_DMA_MODE_REUSE] = "reuse",
	[IOVX_DMA_MODE_BOUNCE] = "bounce",
};

static int mode_show(struct seq_file *m, void *unused)
{
	struct iovx_dma_domain *dom = m->private;
	struct iovx_reuse_stats rs;
	struct iovx_inval_stats is;
	const char *name = "strict";

	if (dma_bounce_pool(dom))
		name = mode_names[IOVX_DMA_MODE_BOUNCE];
	else if (!iovx_dma_get_reuse_stats(dom, &rs))
		name = dom->flags & IOVX_DMA_F_REVIVE ? "revive" : mode_names[IOVX_DMA_MODE_REUSE];
	else if (!iovx_dma_get_inval_stats(dom, &is))
		name = mode_names[IOVX_DMA_MODE_DEFERRED];
	else if (!dom->iovad)
		name = mode_names[IOVX_DMA_MODE_PASSTHROUGH];
	seq_printf(m, "%s\n", name);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mode);

static int dma_show(struct seq_file *m, void *unused)
{
	struct iovx_dma_stats st;
	int ret = iovx_dma_get_stats(m->private, &st);

	if (ret)
		return ret;
	SHOW(m, st, live);
	SHOW(m, st, maps);
	SHOW(m, st, unmaps);
	SHOW(m, st, errors);
	SHOW(m, st, inv_ranges);
	SHOW(m, st, syncs);
	SHOW(m, st, leaked_pages);
	SHOW(m, st, leaked_tables);
	SHOW(m, st, bounced);
	SHOW(m, st, bounce_fallbacks);
	SHOW(m, st, bounce_bytes);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(dma);

/* The cheap snapshot, then an audit: exact when no map or unmap runs meanwhile. */
static int iova_show(struct seq_file *m, void *unused)
{
	struct iovx_dma_domain *dom = m->private;
	struct iovx_iova_stats st;
	int ret;

	if (!dom->iovad) {
		seq_puts(m, "none (passthrough)\n");
		return 0;
	}
	ret = iovx_iova_get_stats(dom->iovad, &st);
	if (ret)
		return ret;
	SHOW(m, st, total);
	SHOW(m, st, reserved);
	SHOW(m, st, live);
	SHOW(m, st, cached);
	SHOW(m, st, depot);
	SHOW(m, st, backend_free);
	SHOW(m, st, alloc_failures);
	SHOW(m, st, reclaims);
	SHOW(m, st, cache_bypass);
	SHOW(m, st, backend_allocs);
	SHOW(m, st, backend_frees);
	SHOW(m, st, hoard_bound);
	SHOW(m, st, mem_bytes);
	ret = iovx_iova_audit(dom->iovad, &st);
	seq_printf(m, "%-20s %s (%d)\n", "audit", ret == 0 ? "consistent" :
		   ret == -EFAULT ? "INCONSISTENT or in flight" : "not run", ret);
	if (ret == 0 || ret == -EFAULT) {
		seq_printf(m, "%-20s %llu\n", "audit_live", (unsigned long long)st.live);
		seq_printf(m, "%-20s %llu\n", "audit_cached",
			   (unsigned long long)(st.cached + st.depot));
		seq_printf(m, "%-20s %llu\n", "audit_backend_free",
			   (unsigned long long)st.backend_free);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(iova);

static int inval_show(struct seq_file *m, void *unused)
{
	struct iovx_inval_stats st;
	int ret = iovx_dma_get_inval_stats(m->private, &st);

	if (ret == -EOPNOTSUPP) {
		seq_puts(m, "none (no deferred invalidation in this mode)\n");
		return 0;
	}
	if (ret)
		return ret;
#define IOVX_DFS_INVAL(name, doc) SHOW(m, st, name);
	IOVX_INVAL_STATS(IOVX_DFS_INVAL)
#undef IOVX_DFS_INVAL
	seq_printf(m, "%-20s %d\n", "last_error", st.last_error);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(inval);

static int reuse_show(struct seq_file *m, void *unused)
{
	struct iovx_reuse_stats st;
	int ret = iovx_dma_get_reuse_stats(m->private, &st);

	if (ret == -EOPNOTSUPP) {
		seq_puts(m, "none (no reuse table in this mode)\n");
		return 0;
	}
	if (ret)
		return ret;
#define IOVX_DFS_REUSE(name, doc) SHOW(m, st, name);
	IOVX_REUSE_STATS(IOVX_DFS_REUSE)
#undef IOVX_DFS_REUSE
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(reuse);

static int bounce_show(struct seq_file *m, void *unused)
{
	struct iovx_dma_domain *dom = m->private;
	struct iovx_bounce_stats st;
	int ret;

	if (!dma_bounce_pool(dom)) {
		seq_puts(m, "none (no bounce pool in this mode)\n");
		return 0;
	}
	ret = iovx_bounce_get_stats(dma_bounce_pool(dom), &st);
	if (ret)
		return ret;
#define IOVX_DFS_BOUNCE(name, doc) SHOW(m, st, name);
	IOVX_BOUNCE_STATS(IOVX_DFS_BOUNCE)
#undef IOVX_DFS_BOUNCE
	SHOW(m, st, live);
	SHOW(m, st, nr_slots);
	SHOW(m, st, pool_bytes);
	SHOW(m, st, meta_bytes);
	SHOW(m, st, iova_base);
	SHOW(m, st, crossover);
	SHOW(m, st, crossover_to_device);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bounce);

int iovx_debugfs_add(struct iovx_dma_domain *dom, const char *name, struct iovx_debugfs **out)
{
	struct iovx_debugfs *d;
	struct dentry *dir;

	if (!dom || !name || !out || !*name || strchr(name, '/'))
		return -EINVAL;
	if (IS_ERR_OR_NULL(iovx_debugfs_root))
		return -ENODEV;
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	dir = debugfs_lookup(name, iovx_debugfs_root);
	if (dir) {
		dput(dir);
		kfree(d);
		return -EEXIST;
	}
	dir = debugfs_create_dir(name, iovx_debugfs_root);
	if (IS_ERR(dir)) {
		kfree(d);
		return PTR_ERR(dir) == -EEXIST ? -EEXIST : -ENOMEM;
	}
	d->dir = dir;
	d->dom = dom;
	debugfs_create_file("mode", 0444, dir, dom, &mode_fops);
	debugfs_create_file("dma", 0444, dir, dom, &dma_fops);
	debugfs_create_file("iova", 0444, dir, dom, &iova_fops);
	debugfs_create_file("inval", 0444, dir, dom, &inval_fops);
	debugfs_create_file("reuse", 0444, dir, dom, &reuse_fops);
	debugfs_create_file("bounce", 0444, dir, dom, &bounce_fops);
	*out = d;
	return 0;
}

void iovx_debugfs_remove(struct iovx_debugfs *d)
{
	if (!d)
		return;
	debugfs_remove_recursive(d->dir);
	kfree(d);
}

void iovx_debugfs_init(void)
{
	iovx_debugfs_root = debugfs_create_dir("iovx", NULL);
}

void iovx_debugfs_exit(void)
{
	debugfs_remove_recursive(iovx_debugfs_root);
	iovx_debugfs_root = NULL;
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * module.c - iovx.ko: the portable iovx sources built for the kernel and exported to other
 * modules (exports.c, include/iovx/kernel.h), the debugfs root, plus self-tests that run at
 * load time when selftest=1 (Debian's kernels have no KUnit). A bad module parameter
 * refuses the load (params.c); otherwise loading succeeds so the log can be read, and the
 * self-tests' verdict is the "iovx-selftest: result" line.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "platform.h"
#include "kglue.h"

static bool selftest = true;
module_param(selftest, bool, 0444);
MODULE_PARM_DESC(selftest, "run the self-tests at load time (default: yes)");

static int __init iovx_module_init(void)
{
	iovx_debugfs_init();
	if (selftest)
		iovx_selftest_run_all();
	return 0;
}

/* Runs only when no domain, context or pool is left: each holds a module reference. */
static void __exit iovx_module_exit(void)
{
	iovx_debugfs_exit();
	iovx_pcpu_dead_exit();
}

module_init(iovx_module_init);
module_exit(iovx_module_exit);

MODULE_LICENSE("Dual BSD/GPL");
MODULE_DESCRIPTION("iovx: lock-free IOVA allocation and DMA mapping for drivers (with self-tests)");
MODULE_AUTHOR("The iovx authors");

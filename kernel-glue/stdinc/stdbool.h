/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* stdbool.h for the kernel build only (see stdint.h here): bool, true, false. */
#ifndef IOVX_STDINC_STDBOOL_H
#define IOVX_STDINC_STDBOOL_H

#ifndef __KERNEL__
#error "kernel-glue/stdinc is for the kernel build only"
#endif

#include <linux/types.h>
#include <linux/stddef.h>

#endif /* IOVX_STDINC_STDBOOL_H */

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * lx_rbtree.c - compiles the kernel's lib/rbtree.c, extracted into the build directory, as
 * its own translation unit (rb_next/rb_prev/rb_insert_color/rb_erase stay out-of-line calls,
 * as in the kernel). Nothing when the baseline is unavailable.
 */
#include "lx_status.h"

#if IOVX_LX_AVAILABLE
#include "lib/rbtree.c"
#endif

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * stdint.h for the kernel build only: public headers (include/iovx/) include <stdint.h>
 * so that they serve userspace callers unchanged; the kernel compiles with -nostdinc, and
 * kernel-glue/stdinc is on the module's include path to answer that include from
 * <linux/types.h>, which already defines the fixed-width types.
 */
#ifndef IOVX_STDINC_STDINT_H
#define IOVX_STDINC_STDINT_H

#ifndef __KERNEL__
#error "kernel-glue/stdinc is for the kernel build only"
#endif

#include <linux/types.h>
#include <linux/limits.h>

#define INT8_MIN	S8_MIN
#define INT8_MAX	S8_MAX
#define UINT8_MAX	U8_MAX
#define INT16_MIN	S16_MIN
#define INT16_MAX	S16_MAX
#define UINT16_MAX	U16_MAX
#define INT32_MIN	S32_MIN
#define INT32_MAX	S32_MAX
#define UINT32_MAX	U32_MAX
#define INT64_MIN	S64_MIN
#define INT64_MAX	S64_MAX
#define UINT64_MAX	U64_MAX
#ifndef SIZE_MAX
#define SIZE_MAX	(~(size_t)0)
#endif
#define UINTPTR_MAX	ULONG_MAX

#define UINT64_C(c)	c ## ULL
#define INT64_C(c)	c ## LL
#define UINT32_C(c)	c ## U
#define INT32_C(c)	c

#endif /* IOVX_STDINC_STDINT_H */

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/api.h - marks the public entry points and brings in the basic types every public
 * header uses (bool, size_t, uint*_t, NULL).
 *
 * Userspace: libiovx.so is built with hidden visibility by default, so only what carries
 * IOVX_API is exported; internal cross-file functions stay inside the library whatever
 * their names. The types come from <stdbool.h>, <stddef.h> and <stdint.h>.
 *
 * Kernel (__KERNEL__): iovx.ko exports the IOVX_API functions with EXPORT_SYMBOL_GPL
 * (kernel-glue/exports.c); the types come from <linux/types.h> and <linux/stddef.h>, so a
 * module needs nothing but -I to this include/ directory.
 */
#ifndef IOVX_API_H
#define IOVX_API_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/stddef.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#endif

#if defined(__GNUC__) && !defined(__KERNEL__)
#define IOVX_API __attribute__((visibility("default")))
#else
#define IOVX_API
#endif

#endif /* IOVX_API_H */

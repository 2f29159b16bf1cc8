/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/api.h - marks the public entry points. libiovx.so is built with hidden visibility
 * by default, so only what carries IOVX_API is exported; internal cross-file functions
 * stay inside the library whatever their names.
 */
#ifndef IOVX_API_H
#define IOVX_API_H

#if defined(__GNUC__) && !defined(__KERNEL__)
#define IOVX_API __attribute__((visibility("default")))
#else
#define IOVX_API
#endif

#endif /* IOVX_API_H */

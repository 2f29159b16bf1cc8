/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * iovx/static/config.h - build facts the inline headers and the library agree on.
 *
 * IOVX_UNDER_TSAN: 1 when compiled with ThreadSanitizer (gcc's __SANITIZE_THREAD__ or
 * clang's __has_feature). TSan cannot see restartable sequences (inline assembly), so such
 * builds use the CAS-claimed per-CPU caches instead.
 */
#ifndef IOVX_STATIC_CONFIG_H
#define IOVX_STATIC_CONFIG_H

#if defined(__SANITIZE_THREAD__)
#define IOVX_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IOVX_UNDER_TSAN 1
#endif
#endif
#ifndef IOVX_UNDER_TSAN
#define IOVX_UNDER_TSAN 0
#endif

#endif /* IOVX_STATIC_CONFIG_H */

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* fuzz_misuse_reuse.c - the misuse target of misuse.h over a reuse domain (strict base). */
#define MISUSE_TARGET MISUSE_REUSE
#include "misuse.h"

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* fuzz_misuse_bounce.c - the misuse target of misuse.h over a bounce domain (strict fallback). */
#define MISUSE_TARGET MISUSE_BOUNCE
#include "misuse.h"

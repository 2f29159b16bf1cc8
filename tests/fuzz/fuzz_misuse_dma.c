// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* fuzz_misuse_dma.c - the misuse target of misuse.h over a strict domain. */
#define MISUSE_TARGET MISUSE_DMA
#include "misuse.h"

/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * fuzz_input.h - the byte reader the fuzz targets parse their input with (fuzz_bounce alone
 * decodes fixed 8-byte records in place): get(in, k) takes the next k bytes big-endian;
 * past the end of the input it reads zeros, so every input, however short, is a complete
 * (if dull) run.
 */
#ifndef IOVX_FUZZ_INPUT_H
#define IOVX_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct in {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t get(struct in *in, unsigned int bytes)
{
	uint64_t v = 0;

	while (bytes--) {
		v = v << 8 | (in->n ? *in->p : 0);
		if (in->n) {
			in->p++;
			in->n--;
		}
	}
	return v;
}

#endif /* IOVX_FUZZ_INPUT_H */

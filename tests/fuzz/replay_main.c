// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * replay_main.c - runs a libFuzzer target without libFuzzer, for ctest in every build.
 *
 * Usage: replay_<x> [DIR-or-FILE ...]  (ctest passes tests/fuzz/corpus/<x>/)
 * Calls LLVMFuzzerInitialize (if the target defines it) and then LLVMFuzzerTestOneInput on
 * every regular file of each directory (sorted by name, so runs are reproducible) or on each
 * file named. Then it feeds IOVX_REPLAY_RANDOM (default 64) pseudo-random inputs from a fixed
 * seed, so a target with no corpus yet still gets a smoke run. A crash or a sanitizer
 * report fails the test; a missing corpus directory is reported but is not an error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned long replayed;

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		fclose(f);
		return -1;
	}
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "%s: read failed\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	replayed++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int rc = 0;

	if (!d) {
		printf("replay: no corpus at %s (only random inputs run)\n", dir);
		return 0;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? 2 * cap : 64;
			nn = realloc(names, cap * sizeof(*names));
			if (!nn) {
				rc = -1;
				break;
			}
			names = nn;
		}
		if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		struct stat st;

		if (!rc && !stat(names[i], &st) && S_ISREG(st.st_mode))
			rc = replay_file(names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int replay_random(void)
{
	const char *env = getenv("IOVX_REPLAY_RANDOM");
	unsigned long count = env ? strtoul(env, NULL, 0) : 64, i;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	static uint8_t buf[4096];

	for (i = 0; i < count; i++) {
		size_t len, j;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = (size_t)(x % sizeof(buf));
		for (j = 0; j < len; j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[j] = (uint8_t)x;
		}
		LLVMFuzzerTestOneInput(buf, len);
		replayed++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int i, rc = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	for (i = 1; i < argc && !rc; i++) {
		struct stat st;

		if (!stat(argv[i], &st) && S_ISREG(st.st_mode))
			rc = replay_file(argv[i]);
		else
			rc = replay_dir(argv[i]);
	}
	if (!rc)
		rc = replay_random();
	printf("replay: %lu inputs, %s\n", replayed, rc ? "FAILED" : "ok");
	return rc ? 1 : 0;
}

// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * iovx-bench.c - the benchmark program: one binary, one subcommand per experiment.
 *
 *   iovx-bench [options] <subcommand> [options]
 *
 * It prints the machine and build it runs on, then each subcommand's side-by-side table;
 * --json FILE writes the same figures for plots. It never asserts a time: a benchmark is not
 * a test. To add a subcommand, add a line to cmds[] below (and its bench-<name>.c).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <gnu/libc-version.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef IOVX_BENCH_BUILD_TYPE
#define IOVX_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef IOVX_BENCH_C_FLAGS
#define IOVX_BENCH_C_FLAGS ""
#endif

extern const unsigned int __rseq_size;	/* glibc >= 2.35; 0 when rseq is not registered */

struct iovx_bench_cmd {
	const char *name;
	const char *help;
	const char *cases;	/* one line per case, for --help */
	int (*run)(const struct iovx_bench_opts *o, struct iovx_bench_json *j);
};

static const struct iovx_bench_cmd cmds[] = {
	{ "iova", "IOVA allocator: iovx vs Linux's drivers/iommu/iova.c",
	  "a  1 thread: alloc+free of 1 granule (ns per pair); iovx inline cached path\n"
	  "a0 as a, iovx through the exported calls\n"
	  "a1 as a0, iovx domain in checked mode (double/wild free detection)\n"
	  "b  per thread: 64 random pow2 sizes 1..32, freed in random order (--threads)\n"
	  "c  producer allocates, consumer thread frees through an SPSC ring\n"
	  "d  as b with 16 sizes of 64..1024 granules (--threads)\n"
	  "e  1 thread: sizes 1..32 under a 65536-granule limit held at 90% occupancy\n"
	  "f  zswap: 1-granule source + 2-granule destination per iteration (--threads)\n"
	  "every case also runs the floor: a thread-local LIFO per size class refilled by an\n"
	  "   atomic bump, no validation (the cheapest cached allocator; distance = iovx/floor)\n"
	  "--side linux|iovx|floor --ops N: fixed work instead (for hyperfine): one side of the\n"
	  "   first --only case (default a), about N allocator calls per thread, no table\n",
	  iovx_bench_iova },
	{ "iova-scale", "IOVA allocator at scale: memory per domain against CPU slots and use",
	  "m  metadata bytes per domain, iovx and Linux, for S = 2, 64, 256 CPU slots\n"
	  "   (IOVX_CPU_SLOTS), k CPUs and c classes in use (--param n=DOMAINS,slots=S)\n"
	  "v  alloc+free cost and failure rate against occupancy (10..99%), sizes 1..1024,\n"
	  "   random lifetimes, windows 2^16, 2^20, 2^36; each --threads count shares one\n"
	  "   domain (--param steps=N, check=1: a shadow bitmap counts failures while a\n"
	  "   suitable block was free, and granules handed out twice)\n"
	  "g  48-bit windows (4 KiB and 64 KiB granules) with thousands of reserved regions:\n"
	  "   create and reserve time, memory, audit time and exactness (--param regions=N)\n",
	  iovx_bench_iova_scale },
	{ "zswap", "the seed's zswap map_sg/unmap_sg latency histograms on the software IOMMU",
	  "z  map_sg/unmap_sg histograms, modes side by side (passthrough, strict; later\n"
	  "   deferred, reuse, bounce), at each --threads count (1..8)\n"
	  "g  16-segment strict unmap_sg: gathered vs per segment (IOVX_DMA_F_NO_GATHER)\n",
	  iovx_bench_zswap },
	{ "dmamap", "the kernel's dma_map_benchmark on the software IOMMU (three-line output)",
	  "--param t=THREADS,s=SECONDS,n=NODE,b=DMA_BITS,d=DIR(0-2),x=DELAY_NS,g=PAGES,\n"
	  "        mode=strict|passthrough\n"
	  "        (defaults: --threads, --seconds, -1, 32, 0, 0, 1, strict)\n",
	  iovx_bench_dmamap },
	{ "inval", "deferred invalidation, the kernel's bad case: 1 flusher for N unmappers",
	  "local  flusher: iovx_inval_kick, rings released by their own CPUs (--threads = N)\n"
	  "drain  flusher: iovx_inval_flush, releases every ring (the kernel's funnel)\n"
	  "stale  N unmappers, no flusher: staleness seen by the device (p50, p99, max in\n"
	  "       us), from the unmap's call and return, against the longest time no thread\n"
	  "       touched the domain (--only stale; --param idle_ns=I: sleep I ns after each\n"
	  "       unmap, leaving the timer alone to flush)\n",
	  iovx_bench_inval },
	{ "net", "NIC pattern: TX map_single, completion unmap on another thread, RX page pool",
	  "tx  frames 64..9000 B mapped per packet, unmapped by the completion thread (ring)\n"
	  "rx  RX buffers refilled from a page pool (reuse-tagged in reuse modes)\n"
	  "    every mode side by side: packets/s, p50/p99/p99.9 ns per map and per unmap\n"
	  "--param charge=0: the cost model accounted, not busy-waited\n",
	  iovx_bench_net },
	{ "storage", "block I/O: sg lists of 128 KiB..1 MiB, queue depth 1..32 across threads",
	  "every mode, plus strict-lx / strict-shim: a bench-local strict path over the same\n"
	  "IOMMU with Linux's iova.c / iovx's allocator, its allocator calls timed (their\n"
	  "share of map+unmap); IO/s, p50/p99/p99.9 of map_sg and unmap_sg\n"
	  "--param qd=Q[:Q...] queue depths (default 1:8:32), sizes=K[:K...] KiB (default\n"
	  "        128:256:1024), t=THREADS (default 2), charge=0 (model not busy-waited)\n",
	  iovx_bench_storage },
	{ "sweep", "map+unmap cost by size (64 B..256 KiB): passthrough, strict, deferred, bounce",
	  "--param plot=FILE.png (default: sweep.png next to the executable)\n", iovx_bench_sweep },
};

#define NR_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f,
		"usage: iovx-bench [options] <subcommand> [options]\n"
		"\n"
		"subcommands:\n");
	for (i = 0; i < NR_CMDS; i++) {
		const char *p = cmds[i].cases;

		fprintf(f, "  %-10s %s; cases:\n", cmds[i].name, cmds[i].help);
		while (p && *p) {
			size_t n = strcspn(p, "\n");

			fprintf(f, "               %.*s\n", (int)n, p);
			p += n + (p[n] == '\n');
		}
	}
	fprintf(f,
		"\n"
		"options:\n"
		"  --threads N[,N...]  thread counts for the scaling cases (default 1,2,4,8)\n"
		"  --seconds S         length of one timed run of one side (default 0.25)\n"
		"  --reps R            timed runs per side; the median is reported (default 5)\n"
		"  --json FILE         also write every figure as JSON to FILE\n"
		"  --only ID[,ID...]   run only these cases (e.g. a,a0,c)\n"
		"  --seed N            seed of the pre-drawn random sizes and orders (default 1)\n"
		"  --param K=V[,K=V]   parameters of one subcommand (see its cases above)\n"
		"  --quick             CI smoke test: tiny runs (0.01 s, 3 reps, threads 1,2)\n"
		"  --quiet             no progress lines on stderr\n"
		"  --side S --ops N    iova: fixed-work run of one side (linux, iovx, floor)\n"
		"  -h, --help          this text\n"
		"\n"
		"Each case warms both sides up, then runs them alternately in this process\n"
		"(R runs each, the order flipped every repetition) and prints the medians side by\n"
		"side with ratio = baseline/iovx (above 1: iovx is faster). Nothing is pinned.\n"
		"Times are printed, never checked: this is not a test.\n");
}

static int parse_threads(const char *s, struct iovx_bench_opts *o)
{
	char *end;

	o->nr_threads = 0;
	while (*s) {
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || v == 0 || v > IOVX_BENCH_MAX_THREADS ||
		    o->nr_threads == IOVX_BENCH_MAX_TLIST)
			return -EINVAL;
		o->threads[o->nr_threads++] = (unsigned int)v;
		if (*end == ',')
			end++;
		else if (*end)
			return -EINVAL;
		s = end;
	}
	return o->nr_threads ? 0 : -EINVAL;
}

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = 0;
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

static void loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static void print_machine(const char *cmd, const struct iovx_bench_opts *o,
			  struct iovx_bench_json *j)
{
	char model[256], load[128], when[64];
	struct utsname u;
	time_t now = time(NULL);
	unsigned int i;

	cpu_model(model, sizeof(model));
	loadavg(load, sizeof(load));
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));

	printf("iovx-bench %s  (%s)\n", cmd, when);
	printf("cpu:      %s, %ld online / %ld configured\n", model, sysconf(_SC_NPROCESSORS_ONLN),
	       sysconf(_SC_NPROCESSORS_CONF));
	printf("kernel:   %s %s %s\n", u.sysname, u.release, u.machine);
	printf("load:     %s (the machine is shared; see the spread column)\n", load);
	printf("compiler: gcc %s, %s build, flags '%s'\n", __VERSION__, IOVX_BENCH_BUILD_TYPE,
	       IOVX_BENCH_C_FLAGS);
	printf("libc:     glibc %s, rseq %s\n", gnu_get_libc_version(),
	       __rseq_size ? "registered" : "not registered");
	printf("threads:  ");
	for (i = 0; i < o->nr_threads; i++)
		printf("%s%u", i ? "," : "", o->threads[i]);
	printf(" (scaling cases)%s\n", o->quick ? ", --quick" : "");

	iovx_bench_json_str(j, "subcommand", cmd);
	iovx_bench_json_str(j, "date", when);
	iovx_bench_json_obj_begin(j, "machine");
	iovx_bench_json_str(j, "cpu_model", model);
	iovx_bench_json_u64(j, "cpus_online", (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
	iovx_bench_json_u64(j, "cpus_configured", (uint64_t)sysconf(_SC_NPROCESSORS_CONF));
	iovx_bench_json_str(j, "kernel", u.release);
	iovx_bench_json_str(j, "kernel_version", u.version);
	iovx_bench_json_str(j, "loadavg", load);
	iovx_bench_json_str(j, "compiler", "gcc " __VERSION__);
	iovx_bench_json_str(j, "build_type", IOVX_BENCH_BUILD_TYPE);
	iovx_bench_json_str(j, "c_flags", IOVX_BENCH_C_FLAGS);
	iovx_bench_json_str(j, "glibc", gnu_get_libc_version());
	iovx_bench_json_bool(j, "rseq_registered", __rseq_size != 0);
	iovx_bench_json_obj_end(j);
	iovx_bench_json_obj_begin(j, "options");
	iovx_bench_json_arr_begin(j, "threads");
	for (i = 0; i < o->nr_threads; i++)
		iovx_bench_json_u64(j, NULL, o->threads[i]);
	iovx_bench_json_arr_end(j);
	iovx_bench_json_num(j, "seconds", o->seconds);
	iovx_bench_json_u64(j, "reps", o->reps);
	iovx_bench_json_u64(j, "seed", o->seed);
	iovx_bench_json_bool(j, "quick", o->quick);
	iovx_bench_json_str(j, "only", o->only ? o->only : "");
	iovx_bench_json_obj_end(j);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "only", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 'S' },
		{ "param", required_argument, NULL, 'P' },
		{ "quick", no_argument, NULL, 'q' },
		{ "quiet", no_argument, NULL, 'Q' },
		{ "side", required_argument, NULL, 'D' },
		{ "ops", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct iovx_bench_opts o = {
		.threads = { 1, 2, 4, 8 }, .nr_threads = 4, .seconds = 0.25, .reps = 5, .seed = 1,
		.side = -1,
	};
	bool threads_set = false, seconds_set = false, reps_set = false;
	const struct iovx_bench_cmd *cmd = NULL;
	struct iovx_bench_json *j = NULL;
	const char *json_path = NULL;
	int ch, ret;
	unsigned int i;
	char *end;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (parse_threads(optarg, &o)) {
				fprintf(stderr, "iovx-bench: bad --threads '%s' (1..%d, up to %d "
					"counts)\n", optarg, IOVX_BENCH_MAX_THREADS,
					IOVX_BENCH_MAX_TLIST);
				return 2;
			}
			threads_set = true;
			break;
		case 's':
			o.seconds = strtod(optarg, &end);
			if (*end || !(o.seconds > 0 && o.seconds <= 3600)) {
				fprintf(stderr, "iovx-bench: bad --seconds '%s'\n", optarg);
				return 2;
			}
			seconds_set = true;
			break;
		case 'r':
			o.reps = (unsigned int)strtoul(optarg, &end, 10);
			if (*end || o.reps < 1 || o.reps > IOVX_BENCH_MAX_REPS) {
				fprintf(stderr, "iovx-bench: bad --reps '%s' (1..%d)\n", optarg,
					IOVX_BENCH_MAX_REPS);
				return 2;
			}
			reps_set = true;
			break;
		case 'j':
			json_path = optarg;
			break;
		case 'o':
			o.only = optarg;
			break;
		case 'S':
			o.seed = strtoull(optarg, &end, 0);
			if (*end) {
				fprintf(stderr, "iovx-bench: bad --seed '%s'\n", optarg);
				return 2;
			}
			break;
		case 'P':
			o.params = optarg;
			break;
		case 'q':
			o.quick = true;
			break;
		case 'Q':
			o.quiet = true;
			break;
		case 'D':
			if (!strcmp(optarg, "iovx"))
				o.side = IOVX_BENCH_IOVX;
			else if (!strcmp(optarg, "linux"))
				o.side = IOVX_BENCH_BASE;
			else if (!strcmp(optarg, "floor"))
				o.side = IOVX_BENCH_FLOOR;
			else {
				fprintf(stderr, "iovx-bench: bad --side '%s' (linux, iovx, floor)\n",
					optarg);
				return 2;
			}
			break;
		case 'O':
			o.ops = strtoull(optarg, &end, 0);
			if (*end || !o.ops) {
				fprintf(stderr, "iovx-bench: bad --ops '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.quick) {
		if (!seconds_set)
			o.seconds = 0.01;
		if (!reps_set)
			o.reps = 3;
		if (!threads_set) {
			o.threads[0] = 1;
			o.threads[1] = 2;
			o.nr_threads = 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "iovx-bench: one subcommand at a time ('%s' is extra)\n",
			argv[optind + 1]);
		return 2;
	}
	for (i = 0; i < NR_CMDS; i++)
		if (!strcmp(argv[optind], cmds[i].name))
			cmd = &cmds[i];
	if (!cmd) {
		fprintf(stderr, "iovx-bench: unknown subcommand '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if ((o.side >= 0) != (o.ops != 0) || (o.side >= 0 && strcmp(cmd->name, "iova"))) {
		fprintf(stderr, "iovx-bench: --side and --ops go together, with iova only\n");
		return 2;
	}
	if (json_path) {
		j = iovx_bench_json_open(json_path);
		if (!j) {
			fprintf(stderr, "iovx-bench: cannot write %s: %s\n", json_path,
				strerror(errno));
			return 1;
		}
		iovx_bench_json_obj_begin(j, NULL);
	}

	if (o.side < 0)
		print_machine(cmd->name, &o, j);
	ret = cmd->run(&o, j);

	if (j) {
		iovx_bench_json_obj_end(j);
		if (iovx_bench_json_close(j)) {
			fprintf(stderr, "iovx-bench: error writing %s\n", json_path);
			return 1;
		}
		printf("\njson: %s\n", json_path);
	}
	return ret ? 1 : 0;
}

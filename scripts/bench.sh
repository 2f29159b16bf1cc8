#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# scripts/bench.sh - installs what is missing, builds the release preset and runs the
# headline benchmarks through bench/report.sh: the IOVA allocator against Linux's own iova.c
# and the floor, the allocator at scale (short form), the net and storage workloads, the
# hyperfine cross-check, then the seed's zswap measurement (its tables end the output); the plots go to docs/img/ (PNG + SVG) and
# the JSON to build/report/. As root, or through sudo:
#     bash scripts/bench.sh [bench/report.sh arguments: --quick, --quiet, ...]
# Environment: IOVX_JOBS (default 2) bounds build parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${IOVX_JOBS:-2}
bash scripts/deps.sh

if [ ! -f bench/CMakeLists.txt ]; then
	echo "bench.sh: bench/CMakeLists.txt is missing: the benchmark is not written yet" >&2
	exit 1
fi
echo "bench.sh: building the release preset (log: build/logs/bench.build.log)"
mkdir -p build/logs
if ! { cmake --preset release -DIOVX_BENCH=ON && cmake --build build/release -j "$JOBS"; } \
	>build/logs/bench.build.log 2>&1; then
	tail -n 80 build/logs/bench.build.log
	exit 1
fi
BENCH=build/release/bench/iovx-bench
if [ ! -x "$BENCH" ]; then
	echo "bench.sh: $BENCH was not built (does bench/CMakeLists.txt define iovx-bench?)" >&2
	exit 1
fi
# The headline benchmarks, the cross-check and the plots; zswap's tables come last.
exec bash bench/report.sh "$@"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# scripts/ab-facade.sh REV [RUNS|icount] - the facade's map + unmap cost
# (bench/ab/facade-ops.c) of this tree against git revision REV, side by side: both
# libraries built in release mode, the same program linked to each, runs alternating A, B,
# A, B ... (default 7 each); prints each case's median and spread for both and the
# difference. With "icount" instead of RUNS: instructions per pair under valgrind's
# callgrind (the difference of a 2 560-pair and a 12 800-pair run of each case alone), a
# figure the machine's load does not move. Needs the release build's dependencies
# (scripts/deps.sh), and valgrind for icount.
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:?usage: $0 REV [RUNS]}
RUNS=${2:-7}
TMP=$(mktemp -d)
trap 'git worktree remove --force "$TMP/old" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT

build() {	# build SRC_DIR BUILD_DIR OUT
	cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DIOVX_TESTS=OFF \
		-DIOVX_BENCH=OFF >/dev/null
	cmake --build "$2" --target iovx_static >/dev/null
	cc -O2 -std=gnu11 -I"$1/include" bench/ab/facade-ops.c "$(find "$2" -name libiovx.a)" \
		$(pkg-config --libs liburcu-bp) -lpthread -o "$3"
}
git worktree add -q --detach "$TMP/old" "$REV"
build "$TMP/old" "$TMP/build-old" "$TMP/a"
build . "$TMP/build-new" "$TMP/b"
if [ "$RUNS" = icount ] && ! command -v valgrind >/dev/null; then
	echo "ab-facade: icount needs valgrind (apt-get install valgrind)" >&2
	exit 2
fi
if [ "$RUNS" = icount ]; then
	count() {	# count BIN CASE PAIRS -> instructions of the whole run
		local out
		out=$(mktemp)
		FACADE_OPS_CASE=$2 valgrind --tool=callgrind --callgrind-out-file="$out" "$1" 0 "$3" \
			>/dev/null 2>&1
		awk '/^(summary|totals):/ {print $2; exit}' "$out"
		rm -f "$out"
	}
	echo "facade map + unmap, instructions per pair (callgrind): A = $REV, B = this tree"
	printf '%-14s %10s %10s %10s\n' case A B "B - A"
	for c in pt-sg1 pt-sg16 pt-single strict-sg1 strict-sg16 reuse-hit; do
		for side in a b; do
			lo=$(count "$TMP/$side" "$c" 2560)
			hi=$(count "$TMP/$side" "$c" 12800)
			eval "n_$side=$(((hi - lo) / 10240))"
		done
		printf '%-14s %10d %10d %+10d\n' "$c" "$n_a" "$n_b" $((n_b - n_a))
	done
	exit 0
fi
for i in $(seq "$RUNS"); do
	"$TMP/a" >>"$TMP/a.out"
	"$TMP/b" >>"$TMP/b.out"
done
echo "facade map + unmap, ns per pair: A = $REV, B = this tree ($RUNS alternating runs each)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
awk '
function med(v, n,   i, j, t) {
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
FNR == 1 { side++ }
{ k = $1; if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
  n[side, k]++; x[side, k, n[side, k]] = $2 }
END {
	printf "%-14s %22s %22s %10s\n", "case", "A median [min..max]", "B median [min..max]", "B - A"
	for (i = 1; i <= nk; i++) {
		k = order[i]
		for (s = 1; s <= 2; s++) {
			m = n[s, k]; lo = 1e18; hi = 0
			for (j = 1; j <= m; j++) { v[j] = x[s, k, j]; if (v[j] < lo) lo = v[j]; if (v[j] > hi) hi = v[j] }
			md[s] = med(v, m); l[s] = lo; h[s] = hi
		}
		printf "%-14s %8.1f [%5.1f..%6.1f] %8.1f [%5.1f..%6.1f] %+9.1f\n", k, md[1], l[1], h[1], md[2], l[2], h[2], md[2] - md[1]
	}
}' "$TMP/a.out" "$TMP/b.out"

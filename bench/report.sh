#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# bench/report.sh - runs the headline benchmarks once (each writes JSON), times every side of
# the allocator as a whole process with hyperfine (the cross-check of the in-process ratios),
# and draws the plots with gnuplot, PNG and SVG.
#
#     bash bench/report.sh [--quick] [--quiet] [--plot-only] [--json-dir DIR] [--img-dir DIR]
#                          [--bench EXE]
#
#   --quick      tiny runs (CI smoke: the figures mean nothing)
#   --plot-only  run nothing: draw the plots from the JSON already in the JSON directory
#                (a published run, e.g. docs/results/<machine>/ unpacked, with one part
#                measured again by hand: iovx-bench <cmd> --json DIR/<name>.json)
#   --quiet      no progress on stderr
#   --json-dir   where the JSON, the raw outputs and the plot data go (default build/report)
#   --img-dir    where the plots go (default build/report/img; the README shows the ones
#                in docs/img, written with --img-dir docs/img)
#   --bench      the iovx-bench executable (default build/release/bench/iovx-bench)
#
# stdout: the allocator table (iovx, Linux, floor), the allocator at scale (memory per
# domain, cost curves at 1 and 2 threads, big spaces), the net and storage tables, the hyperfine
# cross-check, then the zswap output, ending in its tables. The JSON schema is in
# docs/bench-json.md. Nothing here judges a time.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
QUIET=0
PLOT_ONLY=0
JDIR=build/report
IMG=build/report/img
BENCH=build/release/bench/iovx-bench

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--quiet) QUIET=1 ;;
	--plot-only) PLOT_ONLY=1 ;;
	--json-dir) JDIR=$2; shift ;;
	--img-dir) IMG=$2; shift ;;
	--bench) BENCH=$2; shift ;;
	-h|--help) sed -n '4,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "report.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

progress() { [ "$QUIET" = 1 ] || echo "report: $*" >&2; }

need() {	# need TOOL PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	echo "report.sh: '$1' is missing: install the package $2 (bash scripts/deps.sh does)" >&2
	exit 1
}
need gnuplot gnuplot-nox
need jq jq
[ "$PLOT_ONLY" = 1 ] || need hyperfine hyperfine
if [ "$PLOT_ONLY" = 1 ]; then
	for j in iova zswap sweep stale net storage storage-sw scale; do
		[ -s "$JDIR/$j.json" ] && continue
		echo "report.sh: --plot-only needs $JDIR/$j.json" >&2
		exit 1
	done
elif [ ! -x "$BENCH" ]; then
	echo "report.sh: $BENCH is not built: cmake --preset release -DIOVX_BENCH=ON &&" \
		"cmake --build build/release (or bash scripts/bench.sh)" >&2
	exit 1
fi
mkdir -p "$JDIR" "$IMG"

FLAGS=()
[ "$QUICK" = 1 ] && FLAGS+=(--quick)
[ "$QUIET" = 1 ] && FLAGS+=(--quiet)

# bench NAME ARGS...: one subcommand, its JSON in $JDIR/NAME.json and its output in NAME.txt
bench() {
	local name=$1
	shift
	progress "iovx-bench $* (output: $JDIR/$name.txt)"
	if ! "$BENCH" "${FLAGS[@]}" "$@" --json "$JDIR/$name.json" >"$JDIR/$name.txt"; then
		tail -n 40 "$JDIR/$name.txt"
		echo "report.sh: iovx-bench $* failed" >&2
		exit 1
	fi
}

if [ "$PLOT_ONLY" = 0 ]; then
# ---------------------------------------------------------------- runs
bench iova iova
sed -n '/^cpu:/,$p' "$JDIR/iova.txt" | grep -v '^json:'

bench sweep sweep --param "plot=$JDIR/sweep-own.png"

# The allocator at scale (short form): memory per domain against CPU slots, the cost
# curves at 1 and 2 threads, big spaces.
if [ "$QUICK" = 1 ]; then SCALE=n=2,steps=500,regions=200; else SCALE=n=4,steps=2000; fi
bench scale iova-scale --threads 1,2 --param "$SCALE"
echo
echo "=== the allocator at scale (iovx-bench iova-scale --threads 1,2 --param $SCALE) ==="
grep -v '^json:' "$JDIR/scale.txt" | sed -n '/^v  /,$p'
bench stale inval --only stale --threads 1,2,4

bench net net
echo
echo "=== net (packets: TX map, completion unmap, RX unmap + refill; ns per call) ==="
sed -n '/^mode /,$p' "$JDIR/net.txt" | grep -v '^json:'

bench storage storage
echo
echo "=== storage (sg lists, queue depth across threads; ns per call; cost model busy-waited) ==="
sed -n '/^=== /,$p' "$JDIR/storage.txt" | grep -v '^json:'
# the same with the model only accounted: what is left is iovx's (and Linux's) software cost
bench storage-sw storage --param charge=0,sizes=128:1024,qd=1:32
echo
echo "=== storage, cost model accounted only (software cost alone) ==="
sed -n '/^=== /,$p' "$JDIR/storage-sw.txt" | grep -v '^json:'

# ---------------------------------------------------------------- hyperfine cross-check
# Each side of a case as a whole process doing a fixed amount of work (N allocator calls),
# and again with almost none (the process and its setup alone): the difference, per call,
# is compared with the in-process figure of the same case.
if [ "$QUICK" = 1 ]; then OPS=200000 RUNS=3 WARM=1; else OPS=20000000 RUNS=10 WARM=2; fi
HF_CASES="a f"
for c in $HF_CASES; do
	cmds=()
	for s in linux iovx floor; do
		cmds+=("$BENCH iova --side $s --ops $OPS --only $c"
		       "$BENCH iova --side $s --ops 1 --only $c")
	done
	progress "hyperfine: case $c, $RUNS runs of each side ($OPS calls and 1)"
	hyperfine --shell=none --warmup "$WARM" --runs "$RUNS" --style none \
		--export-json "$JDIR/hyperfine-$c.json" "${cmds[@]}" >"$JDIR/hyperfine-$c.txt" 2>&1 || {
		tail -n 20 "$JDIR/hyperfine-$c.txt"
		echo "report.sh: hyperfine failed" >&2
		exit 1
	}
done

# The cross-check as JSON: per case and side, the whole process's median wall time and mean
# CPU time (user + system) with and without the work, the net ns per call, and the ratios
# next to the in-process ones (iova.json, the same case at 1 thread).
jq -n --argjson ops "$OPS" --slurpfile iova "$JDIR/iova.json" \
	--slurpfile a "$JDIR/hyperfine-a.json" --slurpfile f "$JDIR/hyperfine-f.json" '
	def side($r; $s): [$r[] | select(.command | test("--side " + $s + " "))] as $x |
		($x[] | select(.command | test("--ops 1 ") | not)) as $w |
		($x[] | select(.command | test("--ops 1 "))) as $z |
		{ wall_ms: ($w.median * 1e3), wall_sd_ms: ($w.stddev * 1e3),
		  setup_ms: ($z.median * 1e3),
		  ns_per_call_wall: (($w.median - $z.median) * 1e9 / $ops),
		  ns_per_call_cpu: ((($w.user + $w.system) - ($z.user + $z.system)) * 1e9 / $ops) };
	def inproc($id): [$iova[0].results[] | select(.id == $id and .threads == 1)][0];
	def one($id; $r): { linux: side($r; "linux"), iovx: side($r; "iovx"),
		floor: side($r; "floor") } as $s |
		inproc($id) as $i |
		{ case: $id, ops: $ops, runs: ($r | length),
		  sides: $s,
		  whole_process_ratio_wall: ($s.linux.ns_per_call_wall / $s.iovx.ns_per_call_wall),
		  whole_process_ratio_cpu: ($s.linux.ns_per_call_cpu / $s.iovx.ns_per_call_cpu),
		  whole_process_to_floor_wall: ($s.iovx.ns_per_call_wall / $s.floor.ns_per_call_wall),
		  in_process_ratio: $i.ratio, in_process_ratio_min: $i.ratio_min,
		  in_process_ratio_max: $i.ratio_max, in_process_to_floor: $i.iovx_to_floor };
	{ tool: "hyperfine", cases: [one("a"; $a[0].results), one("f"; $f[0].results)] }
	' >"$JDIR/crosscheck.json"

echo
echo "=== hyperfine cross-check: whole processes, $OPS allocator calls, $RUNS runs per side ==="
jq -r '.cases[] |
	"case \(.case): ns per call net of setup (wall; CPU):  " +
	([("linux", "iovx", "floor") as $s | "\($s) \(.sides[$s].ns_per_call_wall * 100 | round / 100);" +
	  " \(.sides[$s].ns_per_call_cpu * 100 | round / 100)"] | join("   ")) + "\n" +
	"  linux/iovx whole-process \(.whole_process_ratio_wall * 100 | round / 100)x wall," +
	" \(.whole_process_ratio_cpu * 100 | round / 100)x CPU; in-process" +
	" \(.in_process_ratio * 100 | round / 100)x (run spread" +
	" \(.in_process_ratio_min * 100 | round / 100)-\(.in_process_ratio_max * 100 | round / 100)x)" +
	"\n  iovx/floor whole-process \(.whole_process_to_floor_wall * 100 | round / 100)x," +
	" in-process \(.in_process_to_floor * 100 | round / 100)x"' "$JDIR/crosscheck.json"
echo "(raw: $JDIR/hyperfine-{a,f}.json; setup = the same command with --ops 1)"

# The zswap measurement runs last: its tables end the output.
bench zswap zswap
fi

# ---------------------------------------------------------------- plots
progress "plots into $IMG"
D=$JDIR/plot
mkdir -p "$D"
# stamp JSON: the machine, its load and the date of the run that wrote JSON
stamp() {
	jq -r '.machine.cpu_model + ", " + (.machine.cpus_online | tostring) + " CPUs; load " +
		(.machine.loadavg | split(" ")[0:3] | join(" ")) + "; " + .date' "$1"
}
STAMP=$(stamp "$JDIR/iova.json")

# plot NAME SCRIPT: the same gnuplot script, once for PNG and once for SVG
plot() {
	local name=$1 script=$2
	gnuplot -e "set terminal pngcairo size 960,600 font 'sans,10'; \
set output '$IMG/$name.png'" -e "$script" 2>>"$D/gnuplot.log"
	gnuplot -e "set terminal svg size 960,600 font 'sans,10' dynamic; \
set output '$IMG/$name.svg'" -e "$script" 2>>"$D/gnuplot.log"
}
COMMON="set grid; set key outside right top; set datafile missing '?'; \
set label 99 \"$STAMP\" at screen 0.01, screen 0.015 font ',8'; set bmargin 5"
# the allocator-at-scale plots carry their own run's stamp (--plot-only may mix runs)
SCOMMON=${COMMON/"$STAMP"/"$(stamp "$JDIR/scale.json")"}

# zswap: latency histograms per mode (threads: the first count of the run)
T1=$(jq '[.results[] | select(.case == "zswap") | .threads] | min' "$JDIR/zswap.json")
# distinct values in order of appearance
ORDERED='reduce .[] as $m ([]; if any(.[]; . == $m) then . else . + [$m] end) | .[]'
MODES=$(jq -r "[.results[] | select(.case == \"zswap\" and .available) | .mode] | $ORDERED" \
	"$JDIR/zswap.json")
for op in map_sg unmap_sg; do
	for m in $MODES; do
		jq -r --arg m "$m" --argjson t "$T1" --arg op "$op" '.results[] |
			select(.case == "zswap" and .mode == $m and .threads == $t) | .[$op] as $h |
			$h.log2_buckets[] | "\(.[0]) \(.[1]) \(.[2] * 100 / $h.count)"' \
			"$JDIR/zswap.json" >"$D/zswap-$op-$m.dat"
	done
done
p=""
for m in $MODES; do
	p+="'$D/zswap-OP-$m.dat' using (sqrt(\$1*(\$2+1))):3 with linespoints title '$m', "
done
plot zswap-latency "$COMMON; set multiplot layout 2,1 title \
'zswap pattern on the software IOMMU (cost model busy-waited), $T1 thread: share of calls per log2 latency bucket'; \
set logscale x 2; set format x '%.0s%c'; set ylabel '% of calls'; set xlabel ''; \
set title 'dma\\_map\\_sg'; plot ${p//OP/map_sg}; \
set title 'dma\\_unmap\\_sg'; set xlabel 'latency (ns)'; plot ${p//OP/unmap_sg}; unset multiplot"

# zswap: thread scaling per mode (mean map_sg + mean unmap_sg, ns per call pair)
for m in $MODES; do
	jq -r --arg m "$m" '.results[] | select(.case == "zswap" and .mode == $m and .available) |
		"\(.threads) \(.map_sg.mean_ns + .unmap_sg.mean_ns)"' "$JDIR/zswap.json" \
		>"$D/zswap-threads-$m.dat"
done
p=""
for m in $MODES; do
	p+="'$D/zswap-threads-$m.dat' using 1:2 with linespoints title '$m', "
done
plot zswap-threads "$COMMON; set title 'zswap pattern: mean dma\\_map\\_sg + dma\\_unmap\\_sg per call pair, by thread count'; \
set logscale y; set logscale x 2; set xlabel 'threads'; set ylabel 'ns (log)'; plot $p"

# sweep: map+unmap by size, charged and uncharged
for k in charged uncharged; do
	jq -r --arg k "$k" '.sweep[$k].rows[] |
		"\(.size) \(.passthrough // "?") \(.strict // "?") \(.deferred // "?") \(.bounce // "?")"' \
		"$JDIR/sweep.json" >"$D/sweep-$k.dat"
done
p2() { echo "'$D/sweep-$1.dat' using 1:2 w lp t 'passthrough', '' using 1:3 w lp t 'strict', \
'' using 1:4 w lp t 'deferred', '' using 1:5 w lp t 'bounce'"; }
plot sweep "$COMMON; set multiplot layout 1,2 title 'map\\_single + unmap\\_single (TO\\_DEVICE) by size: median ns per pair'; \
set logscale xy 2; set format x '%.0b%B'; set xlabel 'bytes'; set ylabel 'ns (log)'; \
set title 'cost model busy-waited'; plot $(p2 charged); \
set title 'model accounted only (iovx software cost)'; plot $(p2 uncharged); unset multiplot"

# allocator rows: Linux, iovx, floor
jq -r '.results[] | "\(.id)/\(.threads)t \(.linux.median_ns // "?") \(.iovx.median_ns) \(.floor.median_ns // "?")"' \
	"$JDIR/iova.json" >"$D/iova.dat"
plot allocator "$COMMON; set title 'IOVA allocator: median ns per unit, one run, sides alternating (case/threads; units in the table)'; \
set style data histogram; set style histogram cluster gap 1; set style fill solid 0.8 border -1; \
set logscale y; set ylabel 'ns per unit (log)'; set xtics rotate by -45; set yrange [0.5:*]; \
plot '$D/iova.dat' using 2:xtic(1) title 'Linux iova.c', '' using 3 title 'iovx', '' using 4 title 'floor'"

# deferred staleness: cumulative distribution per thread count
NS=$(jq -r '.inval[] | select(.policy == "stale") | .threads' "$JDIR/stale.json")
p=""
for n in $NS; do
	jq -r --argjson n "$n" '.inval[] | select(.policy == "stale" and .threads == $n) |
		.stale_entries as $c | foreach .stale_buckets[] as $b (0; . + $b[2];
		"\($b[1] / 1000) \(. * 100 / $c)")' "$JDIR/stale.json" >"$D/stale-$n.dat"
	p+="'$D/stale-$n.dat' using 1:2 with steps lw 2 title '$n thread(s)', "
done
AGE=$(jq '[.inval[] | select(.policy == "stale") | .max_age_ns][0] / 1000' "$JDIR/stale.json")
plot staleness "$COMMON; set title 'deferred invalidation: how long an unmapped range stays reachable by the device (no flusher thread)'; \
set xlabel 'staleness (us, log)'; set ylabel 'cumulative % of unmapped ranges'; set logscale x; \
set yrange [0:100]; set arrow from $AGE, graph 0 to $AGE, graph 1 nohead dt 2; \
set label 'configured bound' at $AGE, graph 0.5 offset 1,0; plot $p"

# net: packets/s and per-call p50/p99 per mode
jq -r '.results[] | select(.available) | [.mode, .packets_per_s, .tx_map.p50_ns,
	.tx_map.p99_ns, .tx_unmap.p50_ns, .tx_unmap.p99_ns, .rx_map.p50_ns, .rx_map.p99_ns] |
	map(tostring) | join(" ")' "$JDIR/net.json" >"$D/net.dat"
plot net "$COMMON; set multiplot layout 1,2 title 'net: TX map per packet, completion unmap on another thread, RX page-pool refill'; \
set style data histogram; set style histogram cluster gap 1; set style fill solid 0.8 border -1; \
set xtics rotate by -45; set logscale y; set title 'packets per second'; set ylabel 'packets/s (log)'; \
plot '$D/net.dat' using 2:xtic(1) notitle; \
set title 'p50 / p99 ns per call'; set ylabel 'ns (log)'; \
plot '$D/net.dat' using 3:xtic(1) t 'TX map p50', '' using 4 t 'TX map p99', '' using 5 t 'TX unmap p50', \
'' using 6 t 'TX unmap p99', '' using 7 t 'RX map p50', '' using 8 t 'RX map p99'; unset multiplot"

# storage: IO/s per mode for every size and queue depth, charged and software-only
storage_dat() {	# storage_dat JSON DAT
	local modes
	modes=$(jq -r "[.results[] | .mode] | $ORDERED" "$1")
	{
		printf 'config'
		for m in $modes; do printf ' %s' "$m"; done
		printf '\n'
		jq -r '[.results[] | [.request_bytes, .queue_depth]] | unique | .[] |
			"\(.[0]) \(.[1])"' "$1" | while read -r bytes qd; do
			printf '%sK-QD%s' "$((bytes / 1024))" "$qd"
			for m in $modes; do
				printf ' %s' "$(jq -r --arg m "$m" --argjson b "$bytes" \
					--argjson q "$qd" '[.results[] | select(.mode == $m and
					.request_bytes == $b and .queue_depth == $q) |
					(.ios_per_s // "?")][0] // "?"' "$1")"
			done
			printf '\n'
		done
	} >"$2"
}
storage_dat "$JDIR/storage.json" "$D/storage.dat"
storage_dat "$JDIR/storage-sw.json" "$D/storage-sw.dat"
NCOL=$(head -1 "$D/storage.dat" | wc -w)
NCOL2=$(head -1 "$D/storage-sw.dat" | wc -w)
plot storage "$COMMON; set multiplot layout 2,1 title 'storage: sg lists of SIZE at queue depth QD across min(QD, 2) threads: IO/s per mode (log)'; \
set style data histogram; set style histogram cluster gap 1; set style fill solid 0.8 border -1; \
set logscale y; set ylabel 'IO/s (log)'; set key outside right top; \
set title 'cost model busy-waited'; \
plot for [i=2:$NCOL] '$D/storage.dat' using i:xtic(1) title columnheader(i); \
set title 'cost model accounted only (software cost alone)'; \
plot for [i=2:$NCOL2] '$D/storage-sw.dat' using i:xtic(1) title columnheader(i); unset multiplot"

# allocator at scale: KiB per domain against the CPUs that use it (c = 6 classes)
SLOTS=$(jq -r '[.memory[].slots] | unique | .[]' "$JDIR/scale.json")
p=""
for sl in $SLOTS; do
	jq -r --argjson s "$sl" '.memory[] | select(.slots == $s and .classes == 6) |
		"\(.cpus) \(.iovx_heap_bytes / 1024) \(if .linux_heap_bytes == null then "?"
		else .linux_heap_bytes / 1024 end)"' "$JDIR/scale.json" >"$D/mem-$sl.dat"
	p+="'$D/mem-$sl.dat' using 1:2 w lp lw 2 t 'iovx, $sl slots', "
	p+="'' using 1:3 w lp dt 2 t 'Linux, $sl slots', "
done
plot iova-memory "$SCOMMON; set title 'IOVA allocator: metadata per domain (2^{20} granules) against the CPUs that use it, 6 classes each'; \
set logscale xy 2; set xlabel 'CPUs using the domain (k; the last point of a line: every slot)'; \
set ylabel 'KiB per domain (heap, log)'; plot $p"

# allocator at scale: ns per free+alloc step and failure share against occupancy
THR=$(jq -r '[.curve[].threads] | unique | .[]' "$JDIR/scale.json")
WIN=$(jq -r '[.curve[].window_log2] | unique | .[]' "$JDIR/scale.json")
for w in $WIN; do
	for t in $THR; do
		jq -r --argjson w "$w" --argjson t "$t" '.curve[] |
			select(.window_log2 == $w and .threads == $t) |
			"\(.occupancy * 100) \(.iovx_ns) \(.iovx_fail * 100) \(.linux_ns // "?")" +
			" \(if .linux_fail == null then "?" else .linux_fail * 100 end)"' \
			"$JDIR/scale.json" >"$D/curve-$w-$t.dat"
	done
done
cplot() {	# cplot COLUMN_IOVX COLUMN_LINUX WINDOW
	local p="" t
	for t in $THR; do
		p+="'$D/curve-$3-$t.dat' using 1:$1 w lp lw 2 t 'iovx, $t thr', "
		p+="'' using 1:$2 w lp dt 2 t 'Linux, $t thr', "
	done
	echo "$p"
}
ms="set xrange [0:100]; set xtics 25; set key inside top left font ',8'; "
for w in $WIN; do
	ms+="set title 'window 2^{$w}: ns per free+alloc'; set logscale y; set ylabel 'ns (log)'; \
set xlabel ''; plot $(cplot 2 4 "$w"); set key off; "
done
for w in $WIN; do
	ms+="set title 'window 2^{$w}: failed allocations'; unset logscale y; set ylabel '%'; \
set xlabel 'occupancy (%)'; set yrange [0:*]; plot $(cplot 3 5 "$w"); "
done
NW=$(echo "$WIN" | wc -w)
plot iova-curve "$SCOMMON; unset key; set multiplot layout 2,$NW title 'IOVA allocator: cost and failures against occupancy (sizes 1..1024 granules, random lifetimes; T threads share one domain)'; \
$ms unset multiplot"

progress "plots: $(cd "$IMG" && ls ./*.png | tr '\n' ' ')"
echo
echo "plots: $IMG/{zswap-latency,zswap-threads,sweep,allocator,staleness,net,storage,iova-memory,iova-curve}.{png,svg}"
echo "json:  $JDIR/{iova,zswap,sweep,stale,net,storage,storage-sw,scale,crosscheck}.json (docs/bench-json.md)"
[ "$PLOT_ONLY" = 1 ] && exit 0
echo
# The zswap measurement's own output, ending in its tables.
sed -n '/^=== zswap pattern/,$p' "$JDIR/zswap.txt" | grep -v '^json:'

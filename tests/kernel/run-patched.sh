#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# run-patched.sh [KERNEL...] - boots the kernels of kernel-glue/mkpatched.sh (KERNEL: base,
# patched, patched-rel; default base and patched) under QEMU TCG with VT-d and a virtio-blk
# disk whose every DMA goes through dma-iommu, once with iommu.strict=1 and once with
# iommu.strict=0, and judges each serial log. The kernels must have been built (mkpatched.sh build); nothing is built here.
#
# Machine: q35 with kernel-irqchip=split, intel-iommu with interrupt remapping, intel_iommu=on,
# a 128 MiB virtio-blk disk with iommu_platform=on,disable-legacy=on holding random data.
#
# In the guest (busybox /init): the disk's first 64 MiB are copied onto its second 64 MiB by
# two concurrent O_DIRECT jobs, one per vCPU (4 KiB blocks for the first 32 MiB, 64 KiB for
# the rest), then both halves are read back with O_DIRECT (16 KiB and 512 KiB blocks) and
# their MD5s compared with the host's MD5 of the first half; the host checks the image's
# second half again after the boot. The IOMMU group type of the disk is printed (DMA for
# strict, DMA-FQ for lazy). In a strict boot the group is then switched to DMA-FQ through
# sysfs (/sys/kernel/iommu_groups/N/type, the live upgrade that brings up a flush queue
# under a bound driver), and the first half is copied onto the second and read back again,
# now through the flush queue. The log must show:
#   - "iovx-kp: disk PASS" and "iovx-kp: group-type <DMA|DMA-FQ>" as the mode asks,
#   - strict: "iovx-kp: type-switch DMA to DMA-FQ rc=0 now DMA-FQ" and
#     "iovx-kp: after-switch disk PASS",
#   - patched: the allocator line "iovx: dma-iommu allocates IOVAs with iovx", and the
#     flush-queue line "iovx: lazy domains defer invalidations through iovx" in a lazy boot,
#     in a strict boot only after "iovx-kp: type-switch begin"; base: neither,
#   - a KUnit suite "iovx" with "ok" and no failed case, when the kernel's .config has
#     CONFIG_IOMMU_IOVX_KUNIT_TEST=y (each case's KTAP line is parsed; a missing or failed
#     case fails the boot),
#   - the end marker "iovx-init: end",
# and no "Kernel panic", "Oops", "BUG:" or "WARNING:" line.
#
# The DMA API on a real DMA engine: every boot has an edu device (slot 0x10, 64-bit DMA mask)
# in its default DMA domain and loads tests/kernel/kpatched/iovx_kpt.ko, built here out of
# tree against that kernel's kbuild-out. Its "iovx-kpt: <check> PASS|FAIL" lines are copied
# to the log; every kernel must show "iovx-kpt: result PASS" and plain-dma (the edu test
# through the plain DMA API); a kernel with the reuse patch (CONFIG_IOMMU_IOVX) also each
# reuse check (tagged list mapped and unmapped 64 times on one IOVA, a table hit per round,
# DMA through it while tagged, stopped, then unreachable by a device write and read; the
# single-buffer form; the untagged path), and the base kernel none of them.
#
# With IOVX_KP_BENCH=N (seconds per run), the guest also has an edu device (slot 0x11) bound to the
# kernel's dma_map_benchmark driver (driver_override), and runs the kernel's own user tool
# (tools/testing/selftests/dma/dma_map_benchmark.c of the tree, built static) at 1 and 2
# threads and granules of 1, 4, 16 and 64 pages: lines "iovx-kpb: threads=T granule=G
# map_us=M unmap_us=U". TCG timings: compare kernels only within one run of this script.
#
# Environment: IOVX_QEMU_TIMEOUT (seconds per boot, default 300), IOVX_KP_MODES (default
# "strict lazy"), IOVX_KP_BENCH (default: no benchmark), IOVX_KP_ROUNDS (default 1: boots of
# every kernel and mode, alternating kernels). Logs: build/kpatched/<kernel>-<mode>[-<round>].log
# (\r stripped).
# Last line: "N passed, N failed" over the boots.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
timeout_s=${IOVX_QEMU_TIMEOUT:-300}
modes=${IOVX_KP_MODES:-strict lazy}
outdir=$root/build/kpatched
mkdir -p "$outdir"

for tool in qemu-system-x86_64 cpio gzip timeout flock md5sum; do
	command -v "$tool" >/dev/null || { echo "run-patched: missing $tool" >&2; exit 2; }
done
[ -x /bin/busybox ] || { echo "run-patched: missing /bin/busybox (busybox-static)" >&2; exit 2; }

bench_seconds=${IOVX_KP_BENCH:-}
rounds=${IOVX_KP_ROUNDS:-1}
bench=""
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(base patched)

declare -A image
while read -r k path; do
	image[$k]=$path
done < <("$root/kernel-glue/mkpatched.sh" paths)

# The initramfs: busybox and /init. The expected MD5 of the disk's first half is a file.
make_initramfs() {
	local dir=$outdir/initramfs img=$outdir/initramfs.cpio.gz
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,dev,proc,sys,etc,tmp,kpt}
	cp /bin/busybox "$dir/bin/busybox"
	for k in "${kernels[@]}"; do
		[ ! -f "$outdir/kpt-$k/iovx_kpt.ko" ] || cp "$outdir/kpt-$k/iovx_kpt.ko" "$dir/kpt/$k.ko"
	done
	echo "$1" > "$dir/etc/expected-md5"
	if [ -n "$bench" ]; then
		cp "$bench" "$dir/bin/dma_map_benchmark"
		echo "$bench_seconds" > "$dir/etc/bench-seconds"
	fi
	cat > "$dir/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "iovx-init: start $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) cmdline: $(cat /proc/cmdline)"
dev=""
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat $d/vendor)" = 0x1af4 ] && [ "$(cat $d/device)" = 0x1042 ]; then
		dev=$d
	fi
done
if [ -n "$dev" ] && [ -e "$dev/iommu_group/type" ]; then
	echo "iovx-kp: group-type $(cat $dev/iommu_group/type) ($(basename $dev))"
else
	echo "iovx-kp: group-type none"
fi
want=$(cat /etc/expected-md5)
if [ -b /dev/vda ]; then
	t0=$(cut -d' ' -f1 /proc/uptime)
	taskset 1 dd if=/dev/vda of=/dev/vda bs=4k count=8192 skip=0 seek=16384 \
		iflag=direct oflag=direct conv=notrunc 2>/tmp/dd1 &
	p1=$!
	taskset 2 dd if=/dev/vda of=/dev/vda bs=64k count=512 skip=512 seek=1536 \
		iflag=direct oflag=direct conv=notrunc 2>/tmp/dd2 &
	p2=$!
	wait $p1; r1=$?
	wait $p2; r2=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	(taskset 1 dd if=/dev/vda bs=16k count=4096 iflag=direct 2>/dev/null | md5sum > /tmp/a) &
	(taskset 2 dd if=/dev/vda bs=512k skip=128 count=128 iflag=direct 2>/dev/null | md5sum > /tmp/b) &
	wait
	a=$(cut -d' ' -f1 /tmp/a)
	b=$(cut -d' ' -f1 /tmp/b)
	t2=$(cut -d' ' -f1 /proc/uptime)
	echo "iovx-kp: disk copy 64 MiB (2 jobs, 4k+64k O_DIRECT) rc=$r1/$r2 in $t0..$t1 s; read-back 128 MiB by $t2 s (guest clock, TCG)"
	if [ "$r1" = 0 ] && [ "$r2" = 0 ] && [ "$a" = "$want" ] && [ "$b" = "$want" ]; then
		echo "iovx-kp: disk PASS md5 $want"
	else
		echo "iovx-kp: disk FAIL first-half $a second-half $b want $want"
	fi
else
	echo "iovx-kp: disk FAIL no /dev/vda"
fi
# strict: the live upgrade to a flush queue through sysfs, then the disk again through it
if [ -n "$dev" ] && [ "$(cat $dev/iommu_group/type 2>/dev/null)" = DMA ] && [ -b /dev/vda ]; then
	echo "iovx-kp: type-switch begin"
	if echo DMA-FQ > $dev/iommu_group/type 2>/tmp/ts; then rc=0; else rc=1; fi
	echo "iovx-kp: type-switch DMA to DMA-FQ rc=$rc now $(cat $dev/iommu_group/type) $(cat /tmp/ts)"
	taskset 2 dd if=/dev/vda of=/dev/vda bs=64k count=1024 skip=0 seek=1024 \
		iflag=direct oflag=direct conv=notrunc 2>/dev/null
	r=$?
	c=$(taskset 1 dd if=/dev/vda bs=16k skip=4096 count=4096 iflag=direct 2>/dev/null |
		md5sum | cut -d' ' -f1)
	if [ "$r" = 0 ] && [ "$c" = "$want" ]; then
		echo "iovx-kp: after-switch disk PASS md5 $c"
	else
		echo "iovx-kp: after-switch disk FAIL rc=$r md5 $c want $want"
	fi
fi
kpt=$(sed -n 's/.*iovx_kp_kernel=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -f "/kpt/$kpt.ko" ]; then
	insmod "/kpt/$kpt.ko" || echo "iovx-kpt: insmod FAIL"
	dmesg | grep 'iovx-kpt: ' | sed 's/^\[[ 0-9.]*\] //'
else
	echo "iovx-kpt: module FAIL none for '$kpt'"
fi
if [ -x /bin/dma_map_benchmark ]; then
	mount -t debugfs debugfs /sys/kernel/debug
	edu=""
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat $d/vendor)" = 0x1234 ] && [ "$(cat $d/device)" = 0x11e8 ] &&
		   [ "$(basename $d)" = 0000:00:11.0 ]; then
			edu=$(basename $d)
		fi
	done
	if [ -n "$edu" ]; then
		echo dma_map_benchmark > /sys/bus/pci/devices/$edu/driver_override
		echo $edu > /sys/bus/pci/drivers_probe
	fi
	for t in 1 2; do
		for g in 1 4 16 64; do
			out=$(dma_map_benchmark -t $t -s $(cat /etc/bench-seconds) -g $g -b 32 -d 0 2>&1)
			map=$(echo "$out" | sed -n 's/^average map latency(us):\([0-9.]*\).*/\1/p')
			unmap=$(echo "$out" | sed -n 's/^average unmap latency(us):\([0-9.]*\).*/\1/p')
			echo "iovx-kpb: threads=$t granule=$g map_us=${map:-?} unmap_us=${unmap:-?}"
			[ -n "$map" ] || echo "iovx-kpb: error: $out"
		done
	done
fi
sync
dmesg > /tmp/dmesg
echo "iovx-init: dmesg begin"
cat /tmp/dmesg
echo "iovx-init: dmesg end"
echo "iovx-init: end"
poweroff -f
INIT
	chmod +x "$dir/init"
	(cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) > "$img"
	echo "$img"
}

# The case names of the KUnit suite, from the first table of each self-test source installed
# into the patched tree (from tests/kernel/selftest/, as kernel-glue/selftest_{shim,iova,dma}.c):
# "<case> <name>" lines.
kunit_expected() {
	local tree=$1 part
	for part in shim iova dma; do
		awk -v p="$part" '
			$0 ~ "^const struct iovx_st_case iovx_st_" p "_cases\\[\\] = \\{" { on = 1; next }
			on && /^};/ { exit }
			on && match($0, /^\t\{ "[^"]+"/) {
				n = substr($0, RSTART + 4, RLENGTH - 5); print "iovx_" p, n
			}' "$tree/drivers/iommu/iovx/kernel-glue/selftest_$part.c"
	done
}

# KTAP of the suite "iovx" in the dmesg part of log $1 (tree $2): the suite's result line, its
# three parameterised cases, and every expected parameter "ok N <name>" (a "# SKIP" counts as
# ok); any "not ok" inside the suite, a missing case or a missing parameter fails.
judge_kunit() {
	local log=$1 tree=$2 body suite nok=0 nskip=0 missing="" c n block line
	body=$(sed -n '/iovx-init: dmesg begin/,/iovx-init: dmesg end/p' "$log" |
		sed -e 's/^\[[ 0-9.]*\] //' | sed -n '/^    # Subtest: iovx$/,/^\(not \)\?ok [0-9]* iovx$/p')
	suite=$(echo "$body" | grep -E '^(not )?ok [0-9]+ iovx$' || true)
	if [ -z "$suite" ]; then
		echo "no KTAP result for suite iovx"
		return 1
	fi
	if echo "$body" | grep -q -E '^ *not ok '; then
		echo "KUnit failed: $(echo "$body" | grep -E '^ *not ok ' | head -n3 | tr '\n' ';')"
		return 1
	fi
	while read -r c n; do
		block=$(echo "$body" | sed -n "/^        # Subtest: $c\$/,/^    \(not \)\?ok [0-9]* $c\$/p")
		line=$(echo "$block" | grep -E "^        ok [0-9]+ $n( |\$)" || true)
		if [ -z "$line" ]; then
			missing+=" $c/$n"
		elif [[ $line == *"# SKIP"* ]]; then
			nskip=$((nskip + 1))
		else
			nok=$((nok + 1))
		fi
	done < <(kunit_expected "$tree")
	if [ -n "$missing" ] || [ $((nok + nskip)) -eq 0 ]; then
		echo "KUnit: missing cases:${missing:- all}"
		return 1
	fi
	if [[ $suite == not* ]]; then
		echo "KUnit suite line: $suite"
		return 1
	fi
	echo "KUnit iovx: $nok ok, $nskip skipped of $((nok + nskip))"
}

# The checks of iovx_kpt.ko (tests/kernel/kpatched/iovx_kpt.c) a kernel must pass: plain-dma
# on every kernel; the reuse checks exactly on a kernel built with the reuse patch.
kpt_reuse_checks="reuse-mark reuse-dma-mapped reuse-same-iova reuse-dma-tagged reuse-stop
	reuse-stopped-write reuse-stopped-read reuse-single-same-iova reuse-single-stopped
	untagged-normal"

# judge_kpt LOG KCONFIG: prints why the module's checks fail (nothing when they pass).
judge_kpt() {
	local log=$1 kcfg=$2 c missing=""
	if grep -a -q '^iovx-kpt: .* FAIL' "$log"; then
		echo "iovx_kpt: $(grep -a -m1 '^iovx-kpt: .* FAIL' "$log")"
		return
	fi
	grep -a -q '^iovx-kpt: result PASS' "$log" || { echo "iovx_kpt: no result line"; return; }
	grep -a -q '^iovx-kpt: plain-dma PASS' "$log" || missing+=" plain-dma"
	if grep -q '^CONFIG_IOMMU_IOVX=y' "$kcfg" 2>/dev/null &&
	   grep -q '^0003-' "$root/kernel-glue/patches/series"; then
		for c in $kpt_reuse_checks; do
			grep -a -q "^iovx-kpt: $c PASS" "$log" || missing+=" $c"
		done
	elif grep -a -q '^iovx-kpt: reuse-' "$log"; then
		echo "iovx_kpt: reuse checks on a kernel without the reuse patch"
		return
	fi
	[ -z "$missing" ] || echo "iovx_kpt: missing checks:$missing"
}

# The test module for each kernel, against its kbuild-out (modules_prepare is idempotent and
# builds nothing of the kernel itself; vmlinux.symvers names the series' exports).
build_kpt() {
	local k=$1 out tree dir=$outdir/kpt-$1
	out=$(dirname "$(dirname "$(dirname "$(dirname "${image[$k]}")")")")
	tree=$(dirname "$out")
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$root/tests/kernel/kpatched/Kbuild" "$root/tests/kernel/kpatched/iovx_kpt.c" \
	   "$root/tests/kernel/edu/edu_dev.h" "$dir/"
	make -s -C "$tree" O="$out" modules_prepare > "$dir/build.log" 2>&1 &&
	make -s -C "$out" M="$dir" KBUILD_EXTRA_SYMBOLS="$out/vmlinux.symvers" W=1 modules \
		>> "$dir/build.log" 2>&1 || {
		tail -n 20 "$dir/build.log"
		echo "run-patched: cannot build iovx_kpt.ko for $k"
		return 1
	}
	if grep -v -e 'Module.symvers is missing' -e 'Modules may not' -e 'You may get' \
		-e 'KBUILD_MODPOST_WARN' -e 'if you want to proceed' "$dir/build.log" |
	   grep -q -i 'warning\|error'; then
		cat "$dir/build.log"
		echo "run-patched: iovx_kpt.ko for $k builds with warnings"
		return 1
	fi
}

# qemu_run KERNEL STRICT DISK INITRAMFS LOG [QEMU-ARGS...]: one boot, serial log to LOG. No
# `quiet`: the console shows the boot and the KUnit suite as they run.
qemu_run() {
	local k=$1 strict=$2 disk=$3 img=$4 log=$5
	shift 5
	timeout "$timeout_s" qemu-system-x86_64 -accel tcg -m 1G -smp 2 -nographic -no-reboot \
		-nic none -machine q35,kernel-irqchip=split -device intel-iommu,intremap=on \
		-drive file="$disk",if=none,id=d0,format=raw,cache=unsafe \
		-device virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on \
		-device edu,dma_mask=0xffffffffffffffff,addr=0x10 "$@" \
		-kernel "${image[$k]}" -initrd "$img" \
		-append "console=ttyS0 panic=-1 intel_iommu=on iommu.strict=$strict iovx_kp_kernel=$k" \
		< /dev/null 2>&1 | tr -d '\r' > "$log" || true
}

# boot_one KERNEL MODE DISK-TEMPLATE MD5 INITRAMFS ROUND
boot_one() {
	local k=$1 mode=$2 tmpl=$3 want=$4 img=$5 round=$6 disk log strict expect_type reason=""
	local kver kcfg ku="" got t0 t1 extra=()
	log=$outdir/$k-$mode.log
	[ "$rounds" -gt 1 ] && log=$outdir/$k-$mode-$round.log
	[ -n "$bench" ] && extra=(-device edu,dma_mask=0xffffffffffffffff,addr=0x11)
	disk=$outdir/disk-$k-$mode.img
	if [ ! -f "${image[$k]:-}" ]; then
		echo "run-patched: $k $mode FAIL no kernel (run kernel-glue/mkpatched.sh build)"
		return 1
	fi
	cp "$tmpl" "$disk"
	if [ "$mode" = strict ]; then strict=1; expect_type=DMA; else strict=0; expect_type=DMA-FQ; fi
	t0=$(date +%s.%N)
	qemu_run "$k" "$strict" "$disk" "$img" "$log" "${extra[@]}"
	# A guest that never reached /init is booted once more, and the run says so with the
	# last kernel line of the first log (where it stopped: a hang in the KUnit suite shows).
	if ! grep -a -q 'iovx-init: start' "$log"; then
		mv "$log" "$log.first"
		echo "  [$k $mode] never reached /init (last line: $(grep -a . "$log.first" |
			tail -n1 | cut -c1-120)); booting once more"
		cp "$tmpl" "$disk"
		qemu_run "$k" "$strict" "$disk" "$img" "$log" "${extra[@]}"
	fi
	t1=$(date +%s.%N)
	kcfg=$(dirname "${image[$k]}")/../../../.config
	grep -a -E '^iovx-kp[bt]?: |^iovx-init: start' "$log" | sed "s/^/  [$k $mode] /" || true
	if grep -a -q -E 'Kernel panic|Oops|BUG:|WARNING:' "$log"; then
		reason="log shows: $(grep -a -m1 -E 'Kernel panic|Oops|BUG:|WARNING:' "$log")"
	elif ! grep -a -q 'iovx-init: end' "$log"; then
		reason="no end marker (hang, crash or timeout after ${timeout_s}s?)"
	elif ! grep -a -q '^iovx-kp: disk PASS' "$log"; then
		reason="disk check: $(grep -a -m1 '^iovx-kp: disk' "$log" || echo 'no result line')"
	elif ! grep -a -q "^iovx-kp: group-type $expect_type " "$log"; then
		reason="group type: $(grep -a -m1 '^iovx-kp: group-type' "$log"), want $expect_type"
	elif [ "$mode" = strict ] &&
	     ! grep -a -q '^iovx-kp: type-switch DMA to DMA-FQ rc=0 now DMA-FQ' "$log"; then
		reason="sysfs type switch: $(grep -a -m1 '^iovx-kp: type-switch DMA' "$log" ||
			echo 'no result line')"
	elif [ "$mode" = strict ] && ! grep -a -q '^iovx-kp: after-switch disk PASS' "$log"; then
		reason="after the switch: $(grep -a -m1 '^iovx-kp: after-switch' "$log" ||
			echo 'no result line')"
	fi
	if [ -z "$reason" ]; then
		got=$(dd if="$disk" bs=1M skip=64 count=64 status=none | md5sum | cut -d' ' -f1)
		[ "$got" = "$want" ] || reason="host: second half of the disk has md5 $got, want $want"
	fi
	if [ -z "$reason" ]; then
		if [ "$k" != base ]; then
			grep -a -q 'iovx: dma-iommu allocates IOVAs with iovx' "$log" ||
				reason="no iovx allocator line"
			# strict: the flush queue comes with the sysfs switch, never before it
			fq=$(grep -a -n -m1 'iovx: lazy domains defer invalidations through iovx' \
				"$log" | cut -d: -f1)
			sw=$(grep -a -n -m1 '^iovx-kp: type-switch begin' "$log" | cut -d: -f1)
			if [ -n "$fq" ]; then
				[ "$mode" = lazy ] || [ "$fq" -gt "${sw:-$fq}" ] ||
					reason="an iovx flush queue in strict mode before the switch"
			elif grep -q '^0002-' "$root/kernel-glue/patches/series"; then
				reason="no iovx flush queue line ($mode mode)"
			fi
		elif grep -a -q 'iovx: dma-iommu allocates' "$log"; then
			reason="the baseline reports iovx"
		fi
	fi
	[ -z "$reason" ] && reason=$(judge_kpt "$log" "$kcfg")
	if [ -z "$reason" ] && [ -n "$bench" ] &&
	   [ "$(grep -a -c -E '^iovx-kpb: threads=.* map_us=[0-9.]+ unmap_us=[0-9.]+$' "$log")" -ne 8 ]; then
		reason="dma_map_benchmark: $(grep -a -m1 '^iovx-kpb: error' "$log" || echo 'missing runs')"
	fi
	if [ -z "$reason" ] && grep -q '^CONFIG_IOMMU_IOVX_KUNIT_TEST=y' "$kcfg" 2>/dev/null; then
		ku=$(judge_kunit "$log" "$(dirname "$kcfg")/..") || reason=$ku
	fi
	rm -f "$disk"
	kver=$(grep -a -m1 -o 'iovx-init: start [^ ]*' "$log" | cut -d' ' -f3 || true)
	if [ -n "$reason" ]; then
		echo "run-patched: $k $mode FAIL $reason (log: $log)"
		return 1
	fi
	echo "run-patched: $k $mode PASS $kver ${ku:+$ku, }boot $(echo "$t1 - $t0" | bc | cut -c1-5) s (log: $log)"
}

if [ -n "$bench_seconds" ]; then
	tree=$(dirname "$(dirname "$(dirname "$(dirname "$(dirname "${image[base]}")")")")")
	mkdir -p "$outdir/bench-inc/linux"
	cp "$tree/include/linux/map_benchmark.h" "$outdir/bench-inc/linux/"
	gcc -O2 -static -I"$outdir/bench-inc" -o "$outdir/dma_map_benchmark" \
		"$tree/tools/testing/selftests/dma/dma_map_benchmark.c" ||
		{ echo "run-patched: cannot build dma_map_benchmark"; exit 1; }
	bench=$outdir/dma_map_benchmark
fi

for k in "${kernels[@]}"; do
	[ -f "${image[$k]:-}" ] || continue
	build_kpt "$k" || exit 1
done

tmpl=$outdir/disk-template.img
head -c $((64 << 20)) /dev/urandom > "$tmpl"
want=$(md5sum "$tmpl" | cut -d' ' -f1)
head -c $((64 << 20)) /dev/zero >> "$tmpl"
img=$(make_initramfs "$want")

exec 9> "$outdir/qemu.lock"
flock 9

pass=0
failed=0
for r in $(seq 1 "$rounds"); do
	for m in $modes; do
		for k in "${kernels[@]}"; do
			if boot_one "$k" "$m" "$tmpl" "$want" "$img" "$r"; then
				pass=$((pass + 1))
			else
				failed=$((failed + 1))
			fi
		done
	done
done
rm -f "$tmpl"

# The benchmark table: per mode, threads and granule, the median over the rounds of each
# kernel's map and unmap time (us per call, as the kernel's tool prints them), and the ratio
# of every other kernel to the first one named.
if [ -n "$bench" ]; then
	echo "dma_map_benchmark (us per call; median of $rounds boot(s) each, kernels alternating;"
	echo "QEMU TCG on a shared host: ratios within this run only)"
	hdr="| mode | threads | granule |"
	sep="|---|---|---|"
	for k in "${kernels[@]}"; do
		hdr+=" $k map | $k unmap |"
		sep+="---|---|"
	done
	for k in "${kernels[@]:1}"; do
		hdr+=" $k/${kernels[0]} map | unmap |"
		sep+="---|---|"
	done
	echo "$hdr"
	echo "$sep"
	median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
	for m in $modes; do
		for t in 1 2; do
			for g in 1 4 16 64; do
				row="| $m | $t | $g |"
				declare -A mm=() um=()
				for k in "${kernels[@]}"; do
					files=("$outdir/$k-$m.log")
					[ "$rounds" -gt 1 ] && files=("$outdir/$k-$m-"*.log)
					vals=$(grep -a -h "^iovx-kpb: threads=$t granule=$g " "${files[@]}" || true)
					mm[$k]=$(echo "$vals" | sed -n 's/.* map_us=\([0-9.]*\).*/\1/p' | median)
					um[$k]=$(echo "$vals" | sed -n 's/.* unmap_us=\([0-9.]*\).*/\1/p' | median)
					row+=" ${mm[$k]:-?} | ${um[$k]:-?} |"
				done
				k0=${kernels[0]}
				for k in "${kernels[@]:1}"; do
					row+=" $(awk -v a="${mm[$k]:-0}" -v b="${mm[$k0]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "?" }') |"
					row+=" $(awk -v a="${um[$k]:-0}" -v b="${um[$k0]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "?" }') |"
				done
				echo "$row"
			done
		done
	done
	# Disk throughput from the guest's own clock (iovx-kp: disk copy ... in T0..T1 s;
	# read-back 128 MiB by T2 s): the 64 MiB copy and the 128 MiB read-back, MiB/s.
	echo "virtio-blk O_DIRECT throughput (MiB/s, guest clock; median of $rounds boot(s))"
	echo "| mode | kernel | copy 64 MiB (2 jobs) | read-back 128 MiB (2 jobs) |"
	echo "|---|---|---|---|"
	for m in $modes; do
		for k in "${kernels[@]}"; do
			files=("$outdir/$k-$m.log")
			[ "$rounds" -gt 1 ] && files=("$outdir/$k-$m-"*.log)
			tp=$(grep -a -h '^iovx-kp: disk copy' "${files[@]}" |
				sed -n 's/.* in \([0-9.]*\)\.\.\([0-9.]*\) s; read-back 128 MiB by \([0-9.]*\) s.*/\1 \2 \3/p')
			cp_mbs=$(echo "$tp" | awk 'NF == 3 && $2 > $1 { print 64 / ($2 - $1) }' | median)
			rd_mbs=$(echo "$tp" | awk 'NF == 3 && $3 > $2 { print 128 / ($3 - $2) }' | median)
			printf '| %s | %s | %.1f | %.1f |\n' "$m" "$k" "${cp_mbs:-0}" "${rd_mbs:-0}"
		done
	done
	echo "host load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]

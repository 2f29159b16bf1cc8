#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# run-qemu.sh [VERSION...] - build iovx.ko and iovx_edu.ko, boot Debian's own kernel under
# QEMU (TCG) with emulated VT-d and two edu DMA devices, a busybox initramfs that loads
# them, and judge the serial log.
#
#   VERSION  e.g. 6.1.0-56-amd64 or 6.12.117+deb12-amd64; without one, every version of the
#            6.1.x and 6.12.x series that has both headers in /usr/src and a
#            /boot/vmlinuz-VERSION (picked by name, never `uname -r`).
#
# Two boots per version, both with -machine q35,kernel-irqchip=split -device
# intel-iommu,intremap=on and intel_iommu=on, edu devices in slots 0x10 (iovx's own domain)
# and 0x11 (the kernel's DMA API, the baseline):
#   strict  iommu.strict=1: bad module parameters refused (at load and at run time),
#           parameters applied, the self-tests, debugfs, rmmod refused while a domain
#           lives, the edu tests
#   lazy    iommu.strict=0 (the baseline device's domain is DMA-FQ): the edu tests; the
#           edu module then unloads leaving a domain alive, and rmmod iovx must fail
#
# Environment: IOVX_KMOD_FLAVOUR (test|release, passed to kernel-glue/build.sh),
#              IOVX_QEMU_TIMEOUT (seconds a boot, default 300), IOVX_QEMU_SMP (default 2).
#
# Needs: qemu-system-x86 (qemu-system-x86_64), busybox-static (/bin/busybox), cpio, gzip.
# Logs: build/qemu/<VERSION>[-release]-<boot>.log (serial console, \r stripped).
#
# A boot passes when the log has every "iovx-check: <name> PASS" line its kind expects
# (/init's checks), "iovx-edu: <name> PASS" for every edu check and "iovx-edu: result
# PASS", for the strict boot "iovx-selftest: result PASS", and the init's end marker; and
# has no "Kernel panic", "Oops", "BUG:" or "WARNING:" line and no FAIL line of ours. QEMU's
# exit code is not used (it is 0 after a guest panic too). Boots never overlap: a lock in
# build/ serializes concurrent runs of this script.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
flavour=${IOVX_KMOD_FLAVOUR:-test}
timeout_s=${IOVX_QEMU_TIMEOUT:-300}
smp=${IOVX_QEMU_SMP:-2}
suffix=""
[ "$flavour" = release ] && suffix="-release"
outdir=$root/build/qemu
# The lines each boot must show as PASS.
checks_strict="param:default_mode=bogus param:deferred_bound_us=5 param:deferred_bound_us=abc
	param:reuse_table_order=21 param:bounce_crossover=70000 params-applied debugfs-root
	param-runtime rmmod-idle edu-loaded debugfs-edu rmmod-busy rmmod-edu rmmod-after-edu"
checks_lazy="edu-loaded debugfs-edu rmmod-busy rmmod-edu rmmod-pinned-by-leak"
edu_checks="kdomain-bad-args edu-ops-create ops-bad-args edu-ops-destroy edu-strict-create strict-data strict-fault-after-unmap edu-strict-destroy
	edu-deferred-create deferred-data deferred-flushed-by-bound deferred-fault-after-flush
	edu-deferred-destroy edu-revive-create revive-data revive-same-iova revive-serves-dma
	revive-expired revive-fault-after-expiry edu-revive-destroy edu-reuse-create reuse-data
	reuse-serves-after-unmap reuse-hit-same-iova reuse-hit-serves-dma reuse-stop
	reuse-fault-after-stop edu-reuse-destroy edu-bounce-create bounce-pool-only
	bounce-dst-untouched-before-unmap bounce-data edu-bounce-destroy bounce-calibrated
	edu-bounce-cal-destroy kernel-dma-api-data
	edu-create keep-map"
mkdir -p "$outdir"

# tool:package (scripts/deps.sh installs them all)
for tp in qemu-system-x86_64:qemu-system-x86 cpio:cpio gzip:gzip timeout:coreutils \
	  flock:util-linux file:file; do
	command -v "${tp%%:*}" >/dev/null ||
		{ echo "run-qemu: missing ${tp%%:*} (install ${tp#*:})" >&2; exit 2; }
done
[ -x /bin/busybox ] || { echo "run-qemu: missing /bin/busybox (busybox-static)" >&2; exit 2; }
if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
	echo "run-qemu: /bin/busybox is not static; install busybox-static" >&2
	exit 2
fi

pick_versions() {
	local d v
	for d in /usr/src/linux-headers-*-amd64; do
		[ -f "$d/Makefile" ] || continue
		v=${d#/usr/src/linux-headers-}
		if [[ $v =~ ^6\.1\.[0-9] || $v =~ ^6\.12\.[0-9] ]] && [ -f "/boot/vmlinuz-$v" ]; then
			echo "$v"
		fi
	done
}

# Builds build/qemu/initramfs-<ver>.cpio.gz holding busybox, /init and the modules.
make_initramfs() {
	local ver=$1 ko=$2 edu=$3 dir=$outdir/initramfs-$ver$suffix img cfg mod
	img=$dir.cpio.gz
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,sbin,dev,proc,sys,lib/modules}
	cp /bin/busybox "$dir/bin/busybox"
	cp "$ko" "$dir/lib/modules/iovx.ko"
	cp "$edu" "$dir/lib/modules/iovx_edu.ko"
	: > "$dir/lib/modules/preload"
	# The kernel's IOVA code is built in on Debian (CONFIG_IOMMU_IOVA=y); should a config
	# make it a module, load it first (decompressed: busybox insmod takes plain .ko).
	cfg=/boot/config-$ver
	if [ -f "$cfg" ] && grep -q '^CONFIG_IOMMU_IOVA=m' "$cfg"; then
		mod=$(find "/lib/modules/$ver" -name 'iova.ko*' | head -n1)
		if [ -z "$mod" ]; then
			echo "run-qemu: CONFIG_IOMMU_IOVA=m but no iova.ko in /lib/modules/$ver" >&2
			return 1
		fi
		case $mod in
		*.xz)	xz -dc "$mod" > "$dir/lib/modules/iova.ko" ;;
		*.zst)	zstd -dc "$mod" > "$dir/lib/modules/iova.ko" ;;
		*)	cp "$mod" "$dir/lib/modules/iova.ko" ;;
		esac
		echo iova.ko >> "$dir/lib/modules/preload"
	fi
	cat > "$dir/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "iovx-init: start $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
# Kernel messages reach the console as they happen, so a hang still shows how far it got.
echo 7 > /proc/sys/kernel/printk
for m in $(cat /lib/modules/preload); do
	insmod /lib/modules/$m || echo "iovx-init: insmod $m failed"
done
pass() { echo "iovx-check: $1 PASS${2:+ $2}"; }
fail() { echo "iovx-check: $1 FAIL${2:+ $2}"; }
boot=${iovxboot:-strict}
echo "iovx-init: boot $boot: $(cat /proc/cmdline)"
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
if [ "$boot" = strict ]; then
	# Bad parameters refuse the load, each with a line naming the parameter (params.c).
	for bad in default_mode=bogus deferred_bound_us=5 deferred_bound_us=abc \
		   reuse_table_order=21 bounce_crossover=70000; do
		if insmod /lib/modules/iovx.ko selftest=0 $bad 2>/dev/null; then
			fail "param:$bad" "loaded"
			rmmod iovx
		elif dmesg | grep -q "iovx: $bad:"; then
			pass "param:$bad" "refused"
		else
			fail "param:$bad" "refused without its message"
		fi
	done
	insmod /lib/modules/iovx.ko default_mode=revive deferred_bound_us=2000
	echo "iovx-init: insmod iovx.ko rc=$?"
	if dmesg | grep -q 'kapi-config mode=revive bound_us=2000 reuse_order=10 crossover=0'
	then pass params-applied; else fail params-applied; fi
	if [ -d /sys/kernel/debug/iovx ]; then pass debugfs-root; else fail debugfs-root; fi
	# At run time a bad write fails and the old value stays; a good one is taken.
	p=/sys/module/iovx/parameters
	if ! echo bogus > $p/default_mode 2>/dev/null && [ "$(cat $p/default_mode)" = revive ] &&
	   ! echo 21 > $p/reuse_table_order 2>/dev/null && echo 12 > $p/reuse_table_order &&
	   [ "$(cat $p/reuse_table_order)" = 12 ]; then
		pass param-runtime
	else
		fail param-runtime
	fi
	# Every self-test domain is gone: nothing pins the module.
	if rmmod iovx; then pass rmmod-idle; else fail rmmod-idle; fi
fi
insmod /lib/modules/iovx.ko selftest=0
# The lazy boot's edu module leaves its last domain alive at unload: iovx must stay pinned.
leak=0
[ "$boot" = lazy ] && leak=1
if insmod /lib/modules/iovx_edu.ko leak_on_exit=$leak; then pass edu-loaded
else fail edu-loaded; fi
d=/sys/kernel/debug/iovx/edu
for f in mode dma iova inval reuse bounce; do
	sed "s|^|iovx-debugfs: edu/$f: |" $d/$f 2>&1
done
# One live mapping; the MSI window (256 pages) at least reserved; the audit closes.
if grep -q '^live  *1$' $d/dma && grep -q '^strict$' $d/mode &&
   awk '$1 == "reserved" && $2 >= 256 { ok = 1 } END { exit !ok }' $d/iova &&
   grep -q '^audit  *consistent' $d/iova; then
	pass debugfs-edu
else
	fail debugfs-edu
fi
# iovx_edu holds a domain (and uses iovx's symbols): iovx cannot go first.
if rmmod iovx 2>/dev/null; then fail rmmod-busy; else pass rmmod-busy; fi
if rmmod iovx_edu; then pass rmmod-edu; else fail rmmod-edu; fi
if [ $leak = 1 ]; then
	if rmmod iovx 2>/dev/null; then fail rmmod-pinned-by-leak
	else pass rmmod-pinned-by-leak "a domain outlived its module"; fi
elif rmmod iovx; then pass rmmod-after-edu; else fail rmmod-after-edu; fi
dmesg
echo "iovx-init: end"
poweroff -f
INIT
	chmod +x "$dir/init"
	(cd "$dir" && find . | cpio -o -H newc --quiet | gzip -9) > "$img"
	echo "$img"
}

# One QEMU run; the serial log goes to $3 with \r stripped. Judged by the log, never by
# QEMU's exit status.
qemu_boot() {
	local strict=1
	[ "$4" = lazy ] && strict=0
	# no_timer_check: under TCG on a loaded host the IO-APIC timer check can miss its ticks
	# and panic the boot before anything of iovx runs.
	timeout "$timeout_s" qemu-system-x86_64 -accel tcg -m 1G -smp "$smp" -nographic \
		-no-reboot -machine q35,kernel-irqchip=split -device intel-iommu,intremap=on \
		-device edu,addr=0x10,dma_mask=0xffffffffffffffff \
		-device edu,addr=0x11,dma_mask=0xffffffffffffffff \
		-kernel "/boot/vmlinuz-$1" -initrd "$2" \
		-append "console=ttyS0 panic=-1 quiet no_timer_check intel_iommu=on iommu.strict=$strict iovxboot=$4" \
		< /dev/null 2>&1 | tr -d '\r' > "$3" || true
}

# Boots one kernel in one kind (strict|lazy); prints the summary line; non-zero on failure.
boot_one() {
	local ver=$1 kind=$2 ko edu img log reason="" t0 t1 result="" edu_result name want
	ko=$root/build/kmod-$ver$suffix/iovx.ko
	edu=$root/build/kmod-edu-$ver$suffix/iovx_edu.ko
	log=$outdir/$ver$suffix-$kind.log
	if [ ! -f "/boot/vmlinuz-$ver" ]; then
		echo "run-qemu: $ver $kind FAIL no /boot/vmlinuz-$ver"
		return 1
	fi
	img=$(make_initramfs "$ver" "$ko" "$edu") ||
		{ echo "run-qemu: $ver $kind FAIL initramfs"; return 1; }
	t0=$(date +%s)
	qemu_boot "$ver" "$img" "$log" "$kind"
	# A guest that died before /init ran never saw our module: TCG occasionally trips
	# over the kernel's own boot-time code patching (int3 Oops in the idle task). Boot
	# once more, say so, and judge only the second log.
	if ! grep -a -q 'iovx-init: start' "$log"; then
		mv "$log" "$log.early-failure"
		echo "  [$ver $kind] early boot failure before /init (not iovx): $(grep -a -m1 -E \
			'Kernel panic|Oops|BUG:' "$log.early-failure" || echo 'no init'); retrying once"
		qemu_boot "$ver" "$img" "$log" "$kind"
	fi
	t1=$(date +%s)

	# Each kernel line appears twice (console, then dmesg): print it once.
	grep -a -E 'iovx-(check|selftest|edu|debugfs): ' "$log" | sed 's/^\[[ 0-9.]*\] //' |
		awk '!seen[$0]++' | sed "s/^/  [$ver $kind] /" || true
	[ "$kind" = strict ] && want=$checks_strict || want=$checks_lazy
	if [ "$kind" = strict ]; then
		result=$(grep -a -o 'iovx-selftest: result .*' "$log" | tail -n1 || true)
	fi
	edu_result=$(grep -a -o 'iovx-edu: result .*' "$log" | tail -n1 || true)
	if grep -a -q -E 'Kernel panic|Oops|BUG:|WARNING:' "$log"; then
		reason="log shows: $(grep -a -m1 -E 'Kernel panic|Oops|BUG:|WARNING:' "$log")"
	elif ! grep -a -q 'iovx-init: start' "$log"; then
		reason="the initramfs never started (see log)"
	elif [ "$kind" = strict ] && [[ $result != *"result PASS"* ]]; then
		reason="self-tests: ${result:-no result line (hang, crash or timeout?)}"
	elif [[ $edu_result != *"result PASS"* ]]; then
		reason="edu: ${edu_result:-no result line (hang, crash or timeout?)}"
	elif ! grep -a -q 'iovx-init: end' "$log"; then
		reason="no end marker after the results"
	elif grep -a -q -E 'iovx-(check|edu): .* FAIL' "$log"; then
		reason="$(grep -a -m1 -E 'iovx-(check|edu): .* FAIL' "$log")"
	else
		for name in $want; do
			grep -a -q -F "iovx-check: $name PASS" "$log" ||
				{ reason="no 'iovx-check: $name PASS'"; break; }
		done
		for name in $edu_checks; do
			[ -n "$reason" ] && break
			grep -a -q -E "iovx-edu: $name PASS( |\$)" "$log" ||
				{ reason="no 'iovx-edu: $name PASS'"; break; }
		done
	fi
	if [ -n "$reason" ]; then
		echo "run-qemu: $ver $kind FAIL $reason (log: $log, $((t1 - t0)) s)"
		return 1
	fi
	echo "run-qemu: $ver $kind PASS ${result#iovx-selftest: result PASS }" \
		"edu ${edu_result#iovx-edu: result PASS } (log: $log, $((t1 - t0)) s)"
}

if [ $# -gt 0 ]; then
	versions=("$@")
else
	mapfile -t versions < <(pick_versions)
	if [ ${#versions[@]} -eq 0 ]; then
		echo "run-qemu: no 6.1.x/6.12.x kernel with both headers and /boot/vmlinuz" >&2
		exit 1
	fi
fi

# All builds first, then the boots, one at a time (a boot uses both host cores).
IOVX_KMOD_FLAVOUR=$flavour "$root/kernel-glue/build.sh" "${versions[@]}" > "$outdir/build.log" 2>&1 ||
	true
grep -E '^iovx-build:|warning: skipping' "$outdir/build.log" || true

exec 9> "$root/build/qemu.lock"
flock 9

rc=0
summary=()
for v in "${versions[@]}"; do
	if ! grep -q "^iovx-build: $v OK" "$outdir/build.log" ||
	   ! grep -q "^iovx-build: $v edu OK" "$outdir/build.log"; then
		summary+=("run-qemu: $v FAIL module build (see $outdir/build.log)")
		rc=1
		continue
	fi
	for kind in strict lazy; do
		line=$(boot_one "$v" "$kind") || rc=1
		echo "$line" | grep -v '^run-qemu: ' || true
		summary+=("$(echo "$line" | grep '^run-qemu: ')")
	done
done
printf '%s\n' "${summary[@]}"
exit $rc

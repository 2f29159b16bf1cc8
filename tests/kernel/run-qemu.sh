#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# run-qemu.sh [VERSION...] - build iovx.ko, boot Debian's own kernel under QEMU (TCG) with
# a busybox initramfs that loads it, and judge the self-tests by the serial log.
#
#   VERSION  e.g. 6.1.0-56-amd64 or 6.12.117+deb12-amd64; without one, every version of the
#            6.1.x and 6.12.x series that has both headers in /usr/src and a
#            /boot/vmlinuz-VERSION (picked by name, never `uname -r`).
#
# Environment: IOVX_KMOD_FLAVOUR (test|release, passed to kernel-glue/build.sh),
#              IOVX_QEMU_TIMEOUT (seconds, default 300), IOVX_QEMU_SMP (default 2).
#
# Needs: qemu-system-x86 (qemu-system-x86_64), busybox-static (/bin/busybox), cpio, gzip.
# Logs: build/qemu/<VERSION>[-release].log (serial console, \r stripped).
#
# A boot passes when the log has "iovx-selftest: result PASS", every "iovx-check: ... PASS"
# line /init prints (bad module parameters refused with their message, parameters applied,
# the debugfs root, rmmod once no domain is left) and the init's end marker, and has no
# "Kernel panic", "Oops", "BUG:" or "WARNING:" line or "iovx-check: ... FAIL". QEMU's exit
# code is not used (it is 0 after a guest panic too). Boots never overlap: a lock in build/
# serializes concurrent runs of this script.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
flavour=${IOVX_KMOD_FLAVOUR:-test}
timeout_s=${IOVX_QEMU_TIMEOUT:-300}
smp=${IOVX_QEMU_SMP:-2}
suffix=""
[ "$flavour" = release ] && suffix="-release"
outdir=$root/build/qemu
nr_checks=8	# the iovx-check lines /init prints: 5 bad parameters, 3 more
mkdir -p "$outdir"

for tool in qemu-system-x86_64 cpio gzip timeout flock; do
	command -v "$tool" >/dev/null || { echo "run-qemu: missing $tool" >&2; exit 2; }
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
	local ver=$1 ko=$2 dir=$outdir/initramfs-$ver$suffix img cfg mod
	img=$dir.cpio.gz
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,sbin,dev,proc,sys,lib/modules}
	cp /bin/busybox "$dir/bin/busybox"
	cp "$ko" "$dir/lib/modules/iovx.ko"
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
# Bad parameters refuse the load, each with a line naming the parameter (params.c).
for bad in default_mode=bogus deferred_bound_us=5 deferred_bound_us=abc reuse_table_order=21 \
	   bounce_crossover=70000; do
	if insmod /lib/modules/iovx.ko selftest=0 $bad 2>/dev/null; then
		echo "iovx-check: param $bad FAIL loaded"
		rmmod iovx
	elif dmesg | grep -q "iovx: $bad:"; then
		echo "iovx-check: param $bad PASS refused"
	else
		echo "iovx-check: param $bad FAIL refused without its message"
	fi
done
insmod /lib/modules/iovx.ko default_mode=revive deferred_bound_us=2000
echo "iovx-init: insmod iovx.ko rc=$?"
if dmesg | grep -q 'kapi-config mode=revive bound_us=2000 reuse_order=10 crossover=0'; then
	echo "iovx-check: params-applied PASS"
else
	echo "iovx-check: params-applied FAIL"
fi
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
if [ -d /sys/kernel/debug/iovx ]; then
	echo "iovx-check: debugfs-root PASS"
else
	echo "iovx-check: debugfs-root FAIL"
fi
# Every self-test domain is gone: nothing pins the module.
if rmmod iovx; then
	echo "iovx-check: rmmod-idle PASS"
else
	echo "iovx-check: rmmod-idle FAIL"
fi
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
	timeout "$timeout_s" qemu-system-x86_64 -accel tcg -m 1G -smp "$smp" -nographic \
		-no-reboot -kernel "/boot/vmlinuz-$1" -initrd "$2" \
		-append 'console=ttyS0 panic=-1 quiet' < /dev/null 2>&1 |
		tr -d '\r' > "$3" || true
}

# Boots one kernel; prints the summary line; returns non-zero on failure.
boot_one() {
	local ver=$1 ko img log reason="" t0 t1 result
	ko=$root/build/kmod-$ver$suffix/iovx.ko
	log=$outdir/$ver$suffix.log
	if [ ! -f "/boot/vmlinuz-$ver" ]; then
		echo "run-qemu: $ver FAIL no /boot/vmlinuz-$ver"
		return 1
	fi
	img=$(make_initramfs "$ver" "$ko") || { echo "run-qemu: $ver FAIL initramfs"; return 1; }
	t0=$(date +%s)
	qemu_boot "$ver" "$img" "$log"
	# A guest that died before /init ran never saw our module: TCG occasionally trips
	# over the kernel's own boot-time code patching (int3 Oops in the idle task). Boot
	# once more, say so, and judge only the second log.
	if ! grep -a -q 'iovx-init: start' "$log"; then
		mv "$log" "$log.early-failure"
		echo "  [$ver] early boot failure before /init (not iovx): $(grep -a -m1 -E \
			'Kernel panic|Oops|BUG:' "$log.early-failure" || echo 'no init'); retrying once"
		qemu_boot "$ver" "$img" "$log"
	fi
	t1=$(date +%s)

	# Each line appears twice (console, then dmesg): print it once.
	grep -a 'iovx-check: ' "$log" | sed "s/^/  [$ver] /" || true
	grep -a 'iovx-selftest: ' "$log" | sed 's/^\[[ 0-9.]*\] //' | awk '!seen[$0]++' |
		sed "s/^/  [$ver] /" || true
	result=$(grep -a -o 'iovx-selftest: result .*' "$log" | tail -n1 || true)
	if grep -a -q -E 'Kernel panic|Oops|BUG:|WARNING:' "$log"; then
		reason="log shows: $(grep -a -m1 -E 'Kernel panic|Oops|BUG:|WARNING:' "$log")"
	elif [ -z "$result" ]; then
		if grep -a -q 'iovx-init: start' "$log"; then
			reason="no result line (hang, crash or timeout after ${timeout_s}s?)"
		else
			reason="the initramfs never started (see log)"
		fi
	elif [[ $result != *"result PASS"* ]]; then
		reason="$result"
	elif ! grep -a -q 'iovx-init: end' "$log"; then
		reason="no end marker after the result"
	elif grep -a -q 'iovx-check: .* FAIL' "$log"; then
		reason="$(grep -a -m1 'iovx-check: .* FAIL' "$log")"
	elif [ "$(grep -a -c 'iovx-check: .* PASS' "$log")" -lt "$nr_checks" ]; then
		reason="$(grep -a -c 'iovx-check: .* PASS' "$log") of $nr_checks checks passed"
	fi
	if [ -n "$reason" ]; then
		echo "run-qemu: $ver FAIL $reason (log: $log, $((t1 - t0)) s)"
		return 1
	fi
	echo "run-qemu: $ver PASS ${result#iovx-selftest: result PASS } (log: $log, $((t1 - t0)) s)"
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
	if ! grep -q "^iovx-build: $v OK" "$outdir/build.log"; then
		summary+=("run-qemu: $v FAIL module build (see $outdir/build.log)")
		rc=1
		continue
	fi
	line=$(boot_one "$v") || rc=1
	echo "$line" | grep -v '^run-qemu: ' || true
	summary+=("$(echo "$line" | grep '^run-qemu: ')")
done
printf '%s\n' "${summary[@]}"
exit $rc

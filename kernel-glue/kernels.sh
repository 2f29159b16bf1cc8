# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# kernel-glue/kernels.sh - sourced by the kernel scripts: which Debian kernels to build for.
#
# pick_versions [--with-image]: prints the version of every /usr/src/linux-headers-*-amd64
# tree of the 6.1.x and 6.12.x series (never `uname -r`: the running kernel need not be
# Debian's); --with-image: only those whose /boot/vmlinuz is installed too (QEMU boots it).
pick_versions() {
	local d v
	for d in /usr/src/linux-headers-*-amd64; do
		[ -f "$d/Makefile" ] || continue
		v=${d#/usr/src/linux-headers-}
		[[ $v =~ ^6\.1\.[0-9] || $v =~ ^6\.12\.[0-9] ]] || continue
		[ "${1:-}" = --with-image ] && [ ! -f "/boot/vmlinuz-$v" ] && continue
		echo "$v"
	done
}

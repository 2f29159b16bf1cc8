#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# scripts/deps.sh - installs everything iovx needs to build, test, fuzz, benchmark and boot its
# kernel module in QEMU, on Debian 12. Idempotent: when everything is already installed it
# does not touch apt at all (a re-run takes well under a second).
#
# Kernel packages are chosen from the archive, never from `uname -r` (the running kernel
# need not be Debian's):
#   - the newest linux-headers-6.12.*+deb12-amd64 (bookworm-backports style 6.12 ABI) and the
#     linux-image of the same version;
#   - linux-headers-amd64 (6.1, Debian 12's own kernel) and the linux-image its headers match;
#   - linux-source-6.12 (the Linux iova.c baseline for bench/).
# Images are installed with INITRD=No (no initramfs: QEMU boots them with our own initramfs).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

PKGS=(
	build-essential cmake ninja-build pkg-config
	liburcu-dev libck-dev libcmocka-dev
	clang libclang-rt-14-dev llvm
	hyperfine gnuplot-nox jq
	linux-headers-amd64 linux-source-6.12
	qemu-system-x86 busybox-static cpio xz-utils kmod file
)

log() { echo "deps: $*"; }

installed() {	# installed PKG... -> 0 when every package is installed
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || return 1
		[ "$st" = installed ] || return 1
	done
}

# The 6.1 ABI package linux-headers-amd64 points at, e.g. linux-headers-6.1.0-56-amd64.
# $1: "installed" (dpkg's view) or "candidate" (apt's).
headers61_of_meta() {
	if [ "$1" = installed ]; then
		dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
			tr ',' '\n' | grep -oE 'linux-headers-6\.1\.[0-9]+-[0-9]+-amd64' | head -n1
	else
		apt-cache depends linux-headers-amd64 2>/dev/null |
			grep -oE 'linux-headers-6\.1\.[0-9]+-[0-9]+-amd64' | head -n1
	fi
}

# Newest installed 6.12 headers whose image is installed too (fast path).
installed_612_pair() {
	local h
	for h in $(dpkg-query -W -f='${Package}\n' 'linux-headers-6.12.*+deb12-amd64' 2>/dev/null |
		   sort -rV); do
		if installed "$h" "${h/linux-headers-/linux-image-}"; then
			echo "$h"
			return 0
		fi
	done
	return 1
}

fast_path_ok() {
	local h61 h612
	installed "${PKGS[@]}" || return 1
	h61=$(headers61_of_meta installed) || return 1
	[ -n "$h61" ] || return 1
	installed "$h61" "${h61/linux-headers-/linux-image-}" || return 1
	h612=$(installed_612_pair) || return 1
	log "all installed (kernels: ${h61#linux-headers-}, ${h612#linux-headers-}); apt skipped"
}

if [ "${IOVX_DEPS_FORCE:-0}" != 1 ] && fast_path_ok; then	# IOVX_DEPS_FORCE=1: always ask apt
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: packages are missing and this is not root: run 'sudo bash scripts/deps.sh'" >&2
	exit 1
fi

APT_OPTS=(-o DPkg::Lock::Timeout=600 -o APT::Install-Recommends=false)
log "apt-get update"
apt-get "${APT_OPTS[@]}" update -qq

H612=$(apt-cache pkgnames linux-headers-6.12. 2>/dev/null |
       grep -E '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' | sort -V | tail -n1 || true)
if [ -z "$H612" ]; then
	echo "deps: no linux-headers-6.12.*+deb12-amd64 in the archive (is bookworm's security/updates suite enabled?)" >&2
	exit 1
fi
IMG612=${H612/linux-headers-/linux-image-}
H61=$(headers61_of_meta candidate || true)
if [ -z "$H61" ]; then
	echo "deps: cannot tell which 6.1 kernel linux-headers-amd64 depends on" >&2
	exit 1
fi
IMG61=${H61/linux-headers-/linux-image-}
log "kernels: ${H61#linux-headers-} and ${H612#linux-headers-}"

log "apt-get install ${#PKGS[@]} packages + $H612 $IMG612 $H61 $IMG61"
INITRD=No apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends \
	"${PKGS[@]}" "$H612" "$IMG612" "$H61" "$IMG61"
log "done"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# build.sh [VERSION...] - build iovx.ko for Debian kernel header trees in /usr/src.
#
#   VERSION  e.g. 6.1.0-56-amd64 or 6.12.117+deb12-amd64. Without one, every installed
#            /usr/src/linux-headers-*-amd64 of the 6.1.x and 6.12.x series is built, each
#            picked by name (never `uname -r`: the running kernel is not Debian's).
#
# Environment:
#   IOVX_KMOD_FLAVOUR  test (default: -DIOVX_TEST_HOOKS -DIOVX_DEBUG, what the self-tests
#                      need) or release (neither; the hook tests then report SKIP)
#   IOVX_JOBS          make -j (default 2; the machine is shared)
#
# Output: build/kmod-<VERSION>[-release]/iovx.ko; the last line per version is
#   "iovx-build: <VERSION> OK <path>" or "iovx-build: <VERSION> FAIL <reason>".
#
# The Kbuild is generated from kernel-glue/Kbuild.in and src/sources.list (the one list
# of portable sources, shared with CMake). A part (src/<part>/) of that list is built in
# only when all of its listed files exist; otherwise it is skipped with a warning and the
# module is built without it (its self-tests report SKIP).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${IOVX_KMOD_FLAVOUR:-test}
jobs=${IOVX_JOBS:-2}

case $flavour in
test)	defs="-DIOVX_TEST_HOOKS -DIOVX_DEBUG"; suffix="" ;;
release) defs=""; suffix="-release" ;;
*)	echo "build.sh: IOVX_KMOD_FLAVOUR must be test or release" >&2; exit 2 ;;
esac

# pick_versions: the Debian kernels to build for (and boot)
. "$root/kernel-glue/kernels.sh"
# Reads src/sources.list into portable_objs (objects to build) and part_defs
# (-DIOVX_KMOD_HAVE_<PART> per part built in). A part whose files are not all present is
# skipped with a warning on stderr.
scan_sources() {
	local line part
	local -a parts=()
	local -A files=() absent=()
	portable_objs=()
	part_defs=""
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%%#*}
		line=${line//[[:space:]]/}
		[ -n "$line" ] || continue
		if [[ $line != *.c ]]; then
			echo "build.sh: warning: ignoring non-C entry '$line' in src/sources.list" >&2
			continue
		fi
		part=$(dirname "$line")
		if [ -z "${files[$part]+x}" ]; then
			parts+=("$part")
			files[$part]=""
			absent[$part]=""
		fi
		files[$part]+=" $line"
		[ -f "$root/$line" ] || absent[$part]+=" $line"
	done < "$root/src/sources.list"
	for part in "${parts[@]}"; do
		if [ -n "${absent[$part]}" ]; then
			echo "build.sh: warning: skipping $part: missing${absent[$part]}" >&2
			continue
		fi
		for line in ${files[$part]}; do
			portable_objs+=("${line%.c}.o")
		done
		part_defs+=" -DIOVX_KMOD_HAVE_$(basename "$part" | tr 'a-z-' 'A-Z_')"
	done
}

# Mirror the sources into the build directory as symlinks: every .c to build, every .h
# under src/ and kernel-glue/ (so quoted includes resolve as in the tree).
mirror() {
	local bdir=$1 f
	shift
	mkdir -p "$bdir"
	find "$bdir" -type l -delete
	for f in "$@"; do
		mkdir -p "$bdir/$(dirname "$f")"
		ln -s "$root/$f" "$bdir/$f"
	done
	(cd "$root" && find src kernel-glue -name '*.h' -type f) | while read -r f; do
		mkdir -p "$bdir/$(dirname "$f")"
		ln -sf "$root/$f" "$bdir/$f"
	done
}

build_one() {
	local ver=$1 kdir bdir objs f o
	local -a srcs=()
	kdir=/usr/src/linux-headers-$ver
	bdir=$root/build/kmod-$ver$suffix
	if [ ! -f "$kdir/Makefile" ]; then
		echo "iovx-build: $ver FAIL no headers at $kdir"
		return 1
	fi
	scan_sources
	objs="${portable_objs[*]}"
	for f in "$root"/kernel-glue/*.c; do
		objs+=" kernel-glue/$(basename "${f%.c}").o"
	done
	# The self-tests that module load runs (selftest=1) live with the other tests.
	for f in "$root"/tests/kernel/selftest/*.c; do
		objs+=" tests/kernel/selftest/$(basename "${f%.c}").o"
	done
	for o in $objs; do
		srcs+=("${o%.o}.c")
	done
	mirror "$bdir" "${srcs[@]}"
	sed -e "s|@IOVX_ROOT@|$root|g" -e "s|@IOVX_OBJS@|$objs|" \
	    -e "s|@IOVX_DEFS@|$defs$part_defs|" "$root/kernel-glue/Kbuild.in" > "$bdir/Kbuild"
	echo "build.sh: $ver ($flavour) in $bdir"
	if ! make -C "$kdir" M="$bdir" -j"$jobs" modules; then
		echo "iovx-build: $ver FAIL make"
		return 1
	fi
	if [ ! -f "$bdir/iovx.ko" ]; then
		echo "iovx-build: $ver FAIL no iovx.ko produced"
		return 1
	fi
	if ! check_exports "$bdir/Module.symvers"; then
		echo "iovx-build: $ver FAIL exports differ from the IOVX_API declarations"
		return 1
	fi
	echo "iovx-build: $ver OK $bdir/iovx.ko"
	build_edu "$ver" "$kdir" "$bdir"
}

# The second module, tests/kernel/edu (iovx_edu.ko): a driver built the way an out-of-tree
# module would be, with -I include/ and nothing else, against iovx.ko's Module.symvers.
# Each public header but sim.h is also compiled alone in it (hdr_<name>.c), so a header
# that pulls in a userspace header or misses an include fails the kernel build.
build_edu() {
	local ver=$1 kdir=$2 ibdir=$3 edir h n objs="edu.o"
	edir=$root/build/kmod-edu-$ver$suffix
	mkdir -p "$edir"
	find "$edir" -maxdepth 1 \( -type l -o -name 'hdr_*.c' \) -delete
	ln -s "$root/tests/kernel/edu/edu.c" "$edir/edu.c"
	ln -s "$root/tests/kernel/edu/edu_dev.h" "$edir/edu_dev.h"
	for h in "$root"/include/iovx/*.h; do
		n=$(basename "$h" .h)
		[ "$n" = sim ] && continue
		printf '// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause\n#include <iovx/%s.h>\n' \
			"$n" > "$edir/hdr_$n.c"
		objs+=" hdr_$n.o"
	done
	cat > "$edir/Kbuild" <<KBUILD
# Generated by kernel-glue/build.sh: the edu test driver plus one object per public header.
obj-m := iovx_edu.o
iovx_edu-y := $objs
ccflags-y += -Werror -I$root/include
KBUILD
	if ! make -C "$kdir" M="$edir" KBUILD_EXTRA_SYMBOLS="$ibdir/Module.symvers" \
	     -j"$jobs" modules; then
		echo "iovx-build: $ver FAIL make of tests/kernel/edu"
		return 1
	fi
	echo "iovx-build: $ver edu OK $edir/iovx_edu.ko"
}

# The API a module can call: every function declared IOVX_API in include/iovx/*.h but
# iovx/sim.h (userspace only). It must equal the EXPORT_SYMBOL_GPL set of Module.symvers.
api_names() {
	local h
	for h in "$root"/include/iovx/*.h; do
		[ "$(basename "$h")" = sim.h ] && continue
		grep -oP 'IOVX_API[^(;]*\b\Kiovx_\w+(?=\s*\()' "$h" || true
	done | sort -u
}

check_exports() {
	local symvers=$1 want have
	want=$(api_names)
	have=$(awk '$3 ~ /iovx$/ && $4 == "EXPORT_SYMBOL_GPL" { print $2 }' "$symvers" | sort -u)
	if [ "$want" != "$have" ]; then
		echo "build.sh: declared IOVX_API (<) vs exported by iovx.ko (>):"
		diff <(echo "$want") <(echo "$have") | grep '^[<>]' || true
		return 1
	fi
	echo "build.sh: exports: $(echo "$have" | wc -l) IOVX_API functions, all EXPORT_SYMBOL_GPL"
}

if [ $# -gt 0 ]; then
	versions=("$@")
else
	mapfile -t versions < <(pick_versions)
	if [ ${#versions[@]} -eq 0 ]; then
		echo "build.sh: no 6.1.x or 6.12.x headers in /usr/src" >&2
		exit 1
	fi
fi

rc=0
for v in "${versions[@]}"; do
	build_one "$v" || rc=1
done
exit $rc

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# mkpatched.sh [build|base|patched|check|paths] - Linux 6.12 with dma-iommu on iovx, and the
# same kernel unpatched, built from Debian's linux-source-6.12 tarball outside the clone.
#
#   build    (default) both kernels, the baseline first (the patched tree starts from its
#            objects, so only what the series and iovx touch is compiled again)
#   base     the unpatched baseline only
#   patched  the patched kernel only (builds the baseline first when it is missing)
#   release  the patched kernel without IOMMU_IOVX_KUNIT_TEST (iovx without its test hooks
#            and assertions: the one to measure), tree patched-rel/
#   check    the series against a fresh extraction: `git apply --check`, the tree's own
#            scripts/checkpatch.pl --strict (no errors), and a W=1 build of the files the
#            series touches (no warning the unpatched files do not have)
#   paths    prints "base <bzImage>", "patched <bzImage>" and "patched-rel <bzImage>"
#            (nothing is built)
#
# Layout under ${IOVX_KCACHE:-/var/cache/iovx}/linux-6.12-<tarball hash>/:
#   base/                  the extracted tarball, never modified; objects in base/kbuild-out/
#   patched/               base's sources hard-linked, files the series touches copied and
#                          patched, drivers/iommu/iovx/ generated; objects in kbuild-out/
#   <tree>/kbuild-out/.iovx-key   the key the objects were built for
# A kernel is rebuilt only when its key changes: the baseline's is the tarball and
# kernel-glue/patches/kernel.config; the patched kernel's adds the series, iovx.config and
# the generated drivers/iommu/iovx/ (the portable sources of src/sources.list, the headers,
# the in-tree glue). kbuild-out is a direct subdirectory of its tree, so kbuild names the
# sources by relative paths and a copy of the baseline's objects is valid in the patched tree.
#
# Environment: IOVX_KCACHE (cache root), IOVX_JOBS (make -j, default 2),
#              IOVX_KSRC (tarball, default /usr/src/linux-source-6.12.tar.xz).
# Last line: "mkpatched: OK ..." or "mkpatched: FAIL <reason>" (exit 1).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pdir=$root/kernel-glue/patches
tarball=${IOVX_KSRC:-/usr/src/linux-source-6.12.tar.xz}
jobs=${IOVX_JOBS:-2}
kcache=${IOVX_KCACHE:-/var/cache/iovx}
layout=1	# bump when the layout or the way a tree is made changes

fail() {
	echo "mkpatched: FAIL $*"
	exit 1
}

log() { echo "mkpatched: $*" >&2; }

[ -f "$tarball" ] || fail "no $tarball (apt-get install linux-source-6.12)"
for t in flex bison bc make gcc perl git; do
	command -v "$t" >/dev/null || fail "$t missing (scripts/deps.sh installs it)"
done

# The tarball's identity: size and mtime name it cheaply; the hash is computed once per
# identity and remembered.
mkdir -p "$kcache"
ident=$(stat -c '%s-%Y' "$tarball")
idfile=$kcache/linux-6.12-ident-$ident
if [ ! -s "$idfile" ]; then
	sha256sum "$tarball" | cut -c1-16 > "$idfile.tmp"
	mv "$idfile.tmp" "$idfile"
fi
srcid=$(cat "$idfile")
top=$kcache/linux-6.12-$srcid
base=$top/base
patched=$top/patched
patched_rel=$top/patched-rel

mapfile -t series < <(grep -v -e '^#' -e '^[[:space:]]*$' "$pdir/series")

# The tarball extracted into base/ once (its top directory stripped).
extract_base() {
	[ -f "$base/.iovx-extracted" ] && return 0
	log "extracting $tarball into $base"
	rm -rf "$base"
	mkdir -p "$base"
	tar -xf "$tarball" -C "$base" --strip-components=1
	[ -f "$base/Makefile" ] || fail "extraction of $tarball produced no Makefile"
	touch "$base/.iovx-extracted"
}

# Options a fragment sets: "NAME=value" lines, "# NAME is not set" as NAME=n.
frag_opts() {
	sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=\(.*\)$/\1=\2/p' \
	       -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1=n/p' "$@"
}

# configure TREE FRAGMENT... : tinyconfig + the fragments, then checks every option.
configure() {
	local tree=$1 out=$1/kbuild-out opt val got bad=""
	shift
	mkdir -p "$out"
	make -s -C "$tree" O="$out" tinyconfig >/dev/null
	"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$@" >/dev/null
	make -s -C "$tree" O="$out" olddefconfig >/dev/null
	while IFS== read -r opt val; do
		got=$(sed -n -e "s/^$opt=\(.*\)$/\1/p" -e "s/^# $opt is not set$/n/p" "$out/.config")
		[ -n "$got" ] || got=n
		[ "$got" = "$val" ] || bad+=" $opt=$val(got $got)"
	done < <(frag_opts "$@")
	[ -z "$bad" ] || fail "config of $tree lacks:$bad"
}

# build_tree TREE KEY FRAGMENT...
build_tree() {
	local tree=$1 key=$2 out=$1/kbuild-out t0 t1
	shift 2
	if [ -f "$out/arch/x86/boot/bzImage" ] && [ "$(cat "$out/.iovx-key" 2>/dev/null)" = "$key" ]; then
		log "$(basename "$tree"): up to date (key ${key:0:12})"
		return 0
	fi
	rm -f "$out/.iovx-key"
	t0=$(date +%s)
	configure "$tree" "$@"
	log "$(basename "$tree"): make -j$jobs bzImage"
	make -s -C "$tree" O="$out" -j"$jobs" bzImage >"$out/.iovx-make.log" 2>&1 || {
		tail -n 40 "$out/.iovx-make.log" >&2
		fail "make bzImage in $tree"
	}
	t1=$(date +%s)
	echo "$key" > "$out/.iovx-key"
	log "$(basename "$tree"): built in $((t1 - t0)) s"
}

base_key() {
	{ echo "layout $layout src $srcid"; cat "$pdir/kernel.config"; } | sha256sum | cut -c1-40
}

build_base() {
	extract_base
	build_tree "$base" "$(base_key)" "$pdir/kernel.config"
}

# Portable sources of src/sources.list (every part whose files all exist, as build.sh does).
portable_sources() {
	local line
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%%#*}
		line=${line//[[:space:]]/}
		[[ $line == *.c ]] || continue
		[ -f "$root/$line" ] && echo "$line"
	done < "$root/src/sources.list"
}

# Writes drivers/iommu/iovx/ of the patched tree into $1: the portable sources, every header
# under src/ and include/iovx/, the kernel shim (kernel-glue/*.h, stdinc/, platform_kernel.c,
# hooks.c), the IOMMU ops over an iommu_domain (kiommu.c), the in-tree glue and KUnit suite
# (kernel-glue/intree/), the self-tests the suite
# runs (tests/kernel/selftest/, into kernel-glue/) and a Makefile. The Kconfig
# options (IOMMU_IOVX, IOMMU_IOVX_KUNIT_TEST) come with the series, in drivers/iommu/Kconfig.
stage_iovx() {
	local dst=$1 f objs="" kobjs=""
	rm -rf "$dst"
	mkdir -p "$dst"
	(cd "$root" && { portable_sources; find src include/iovx kernel-glue -name '*.h'; \
		echo kernel-glue/platform_kernel.c; echo kernel-glue/hooks.c; \
		echo kernel-glue/kiommu.c; \
		find kernel-glue/intree -name '*.c'; } | sort -u) |
	while read -r f; do
		mkdir -p "$dst/$(dirname "$f")"
		cp -p "$root/$f" "$dst/$f"
	done
	# The module's self-tests (tests/kernel/selftest/) run in the KUnit suite; those of the
	# module's exported API (selftest_kapi.c) do not apply to a built-in iovx.
	for f in selftest selftest_shim selftest_iova selftest_dma; do
		cp -p "$root/tests/kernel/selftest/$f.c" "$dst/kernel-glue/$f.c"
	done
	for f in $(portable_sources); do
		objs+=" ${f%.c}.o"
	done
	{
		echo "# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause"
		echo "# Generated by kernel-glue/mkpatched.sh from src/sources.list."
		echo "obj-\$(CONFIG_IOMMU_IOVX) += iovx.o"
		echo "iovx-y := kernel-glue/platform_kernel.o kernel-glue/hooks.o"
		echo "iovx-y += kernel-glue/kiommu.o kernel-glue/intree/dma_iommu.o"
		echo "iovx-y +=$objs"
		echo "iovx-\$(CONFIG_IOMMU_IOVX_KUNIT_TEST) += kernel-glue/intree/kunit.o"
		echo "iovx-\$(CONFIG_IOMMU_IOVX_KUNIT_TEST) += kernel-glue/selftest.o kernel-glue/selftest_shim.o"
		echo "iovx-\$(CONFIG_IOMMU_IOVX_KUNIT_TEST) += kernel-glue/selftest_iova.o"
		echo "iovx-\$(CONFIG_IOMMU_IOVX_KUNIT_TEST) += kernel-glue/selftest_dma.o"
		echo "ccflags-y += -I\$(src)/kernel-glue -I\$(src)/src/platform -I\$(src)/src"
		echo "ccflags-y += -I\$(src)/include -I\$(src)/kernel-glue/stdinc"
		echo "ccflags-y += -DIOVX_KMOD_HAVE_IOVA -DIOVX_KMOD_HAVE_DMA -DIOVX_KMOD_HAVE_INVAL"
		echo "ccflags-y += -DIOVX_KMOD_HAVE_REUSE -DIOVX_INTREE"
		echo "ccflags-\$(CONFIG_IOMMU_IOVX_KUNIT_TEST) += -DIOVX_TEST_HOOKS -DIOVX_DEBUG"
	} > "$dst/Makefile"
}

patched_key() {
	local stage=$1 frag=$2
	{
		echo "layout $layout src $srcid"
		cat "$pdir/kernel.config" "$frag"
		for p in "${series[@]}"; do cat "$pdir/$p"; done
		(cd "$stage" && find . -type f | sort | xargs sha256sum)
	} | sha256sum | cut -c1-40
}

# Files a patch touches (its "+++ b/..." lines), for breaking hard links before patching.
patch_files() {
	sed -n -e 's|^+++ b/\(.*\)$|\1|p' "$@" | sort -u
}

# build_patched [TREE FRAGMENT]: the patched kernel in TREE (default patched/) configured with
# kernel.config and FRAGMENT (default iovx.config).
build_patched() {
	local patched=${1:-$patched} frag=${2:-$pdir/iovx.config} stage key f e
	build_base
	stage=$top/stage-iovx
	stage_iovx "$stage"
	key=$(patched_key "$stage" "$frag")
	if [ -f "$patched/kbuild-out/arch/x86/boot/bzImage" ] &&
	   [ "$(cat "$patched/kbuild-out/.iovx-key" 2>/dev/null)" = "$key" ]; then
		log "$(basename "$patched"): up to date (key ${key:0:12})"
		return 0
	fi
	log "$(basename "$patched"): new tree from base (hard links) and base's objects"
	rm -rf "$patched"
	mkdir -p "$patched"
	for e in "$base"/* "$base"/.[!.]*; do
		[ -e "$e" ] || continue
		[ "$(basename "$e")" = kbuild-out ] && continue
		cp -al "$e" "$patched/"
	done
	cp -a "$base/kbuild-out" "$patched/kbuild-out"
	rm -f "$patched/kbuild-out/.iovx-key"
	for f in $(cd "$pdir" && patch_files "${series[@]}"); do
		if [ -f "$patched/$f" ]; then
			cp "$patched/$f" "$patched/$f.iovx-tmp"
			mv "$patched/$f.iovx-tmp" "$patched/$f"
		fi
	done
	for f in "${series[@]}"; do
		(cd "$patched" && git apply --whitespace=nowarn "$pdir/$f") || fail "series: $f does not apply"
	done
	cp -a "$stage" "$patched/drivers/iommu/iovx"
	build_tree "$patched" "$key" "$pdir/kernel.config" "$frag"
}

check_series() {
	local fresh=$top/check p log out rc=0 wb wp
	fresh=$top/check
	rm -rf "$fresh"
	mkdir -p "$fresh"
	log "check: fresh extraction"
	tar -xf "$tarball" -C "$fresh" --strip-components=1
	for p in "${series[@]}"; do
		(cd "$fresh" && git apply --check "$pdir/$p") ||
			{ echo "check: $p: git apply --check FAILED"; rc=1; }
		(cd "$fresh" && git apply "$pdir/$p") || true
	done
	out=$(cd "$fresh" && perl scripts/checkpatch.pl --strict --terse \
		"${series[@]/#/$pdir/}" 2>&1) || true
	echo "$out" | sed 's/^/check: checkpatch: /'
	if echo "$out" | grep -q ': ERROR:'; then
		echo "check: checkpatch --strict: ERRORS"
		rc=1
	else
		echo "check: checkpatch --strict: no errors"
	fi
	rm -rf "$fresh"
	# W=1: the files the series touches, compiled in the patched tree and in the baseline
	# (no new warning allowed), then iovx's own objects (none allowed outside the tests;
	# the self-test sources' warnings are counted and shown, not judged).
	build_patched >/dev/null
	wb=$top/w1-base.log
	wp=$top/w1-patched.log
	local objs iobjs tobjs nb np ni nt
	objs=$(cd "$pdir" && patch_files "${series[@]}" | sed -n 's/\.c$/.o/p' | tr '\n' ' ')
	iobjs=$(sed -n -e 's/^iovx-y := //p' -e 's/^iovx-y += //p' \
		"$patched/drivers/iommu/iovx/Makefile" | tr ' ' '\n' | grep . |
		sed 's|^|drivers/iommu/iovx/|' | tr '\n' ' ')
	tobjs=$(sed -n 's/^iovx-\$(CONFIG_IOMMU_IOVX_KUNIT_TEST) += //p' \
		"$patched/drivers/iommu/iovx/Makefile" | tr ' ' '\n' | grep . |
		sed 's|^|drivers/iommu/iovx/|' | tr '\n' ' ')
	# shellcheck disable=SC2086
	make -C "$base" O="$base/kbuild-out" W=1 -j"$jobs" $objs > "$wb" 2>&1 || true
	# shellcheck disable=SC2086
	make -C "$patched" O="$patched/kbuild-out" W=1 -j"$jobs" $objs > "$wp" 2>&1 ||
		{ echo "check: W=1 build FAILED"; rc=1; }
	# shellcheck disable=SC2086
	make -C "$patched" O="$patched/kbuild-out" W=1 -j"$jobs" $iobjs > "$wp.iovx" 2>&1 ||
		{ echo "check: W=1 build of iovx FAILED"; rc=1; }
	# shellcheck disable=SC2086
	make -C "$patched" O="$patched/kbuild-out" W=1 -j"$jobs" $tobjs > "$wp.tests" 2>&1 ||
		{ echo "check: W=1 build of the tests FAILED"; rc=1; }
	nb=$(grep -c 'warning:' "$wb" || true)
	np=$(grep -c 'warning:' "$wp" || true)
	ni=$(grep -c 'warning:' "$wp.iovx" || true)
	nt=$(grep -c 'warning:' "$wp.tests" || true)
	echo "check: W=1 warnings in the files the series touches ($objs): unpatched $nb, patched $np"
	echo "check: W=1 warnings in iovx's objects ($(echo $iobjs | wc -w) files): $ni"
	echo "check: W=1 warnings in the KUnit/self-test objects (not judged): $nt"
	if [ "$np" -gt "$nb" ] || [ "$ni" -gt 0 ]; then
		grep 'warning:' "$wp" "$wp.iovx" | sed 's/^/check: /'
		rc=1
	fi
	# Back to the normal flags for the next build.
	make -s -C "$base" O="$base/kbuild-out" -j"$jobs" bzImage >/dev/null 2>&1 || true
	make -s -C "$patched" O="$patched/kbuild-out" -j"$jobs" bzImage >/dev/null 2>&1 || true
	[ $rc -eq 0 ] || fail "check"
	echo "mkpatched: OK check"
}

case ${1:-build} in
build)	build_patched
	echo "mkpatched: OK base $base/kbuild-out/arch/x86/boot/bzImage" \
		"patched $patched/kbuild-out/arch/x86/boot/bzImage" ;;
base)	build_base
	echo "mkpatched: OK base $base/kbuild-out/arch/x86/boot/bzImage" ;;
patched) build_patched
	echo "mkpatched: OK patched $patched/kbuild-out/arch/x86/boot/bzImage" ;;
check)	check_series ;;
release) grep -v '_KUNIT_TEST=' "$pdir/iovx.config" > "$top/iovx-rel.config"
	build_patched "$patched_rel" "$top/iovx-rel.config"
	echo "mkpatched: OK patched-rel $patched_rel/kbuild-out/arch/x86/boot/bzImage" ;;
paths)	echo "base $base/kbuild-out/arch/x86/boot/bzImage"
	echo "patched $patched/kbuild-out/arch/x86/boot/bzImage"
	echo "patched-rel $patched_rel/kbuild-out/arch/x86/boot/bzImage" ;;
*)	echo "usage: $0 [build|base|patched|release|check|paths]" >&2; exit 2 ;;
esac

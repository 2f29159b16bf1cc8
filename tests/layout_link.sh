#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# layout_link.sh CC INCLUDE STALE LIB OUT - a program built with the inline fast path links
# against the library of its headers' layout, and fails to link, naming the layout symbol,
# when its iovx/static/iova_layout.h (from STALE) says another layout.
set -eu
cc=$1 inc=$2 stale=$3 lib=$4 out=$5
mkdir -p "$out"
cat >"$out/prog.c" <<'C'
#define IOVX_INLINE_FASTPATH
#include <iovx/iova.h>

int main(void)
{
	return iovx_iova_alloc(0, 0, 0) == 0;	/* never run */
}
C
"$cc" -O2 -I"$inc" "$out/prog.c" "$lib" -o "$out/good"
echo "layout_link: the headers' own layout links"
if "$cc" -O2 -I"$stale" -I"$inc" "$out/prog.c" "$lib" -o "$out/bad" 2>"$out/bad.log"; then
	echo "layout_link: FAIL: headers of layout 999 linked against the library" >&2
	exit 1
fi
if ! grep -q 'iovx_iova_layout_v999' "$out/bad.log"; then
	echo "layout_link: FAIL: the link failed for another reason:" >&2
	cat "$out/bad.log" >&2
	exit 1
fi
echo "layout_link: headers of another layout fail to link: $(grep -m1 -o "undefined reference to .iovx_iova_layout_v999." "$out/bad.log")"

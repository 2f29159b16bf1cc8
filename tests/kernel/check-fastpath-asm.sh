#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# check-fastpath-asm.sh [VERSION...] - the kernel module's cached IOVA paths hold no locked
# instruction: disassembles them in iovx.ko and fails on any lock-prefixed instruction or
# xchg with a memory operand (an implicitly locked exchange).
#
#   VERSION  as for kernel-glue/build.sh (default: every installed 6.1.x / 6.12.x header
#            tree). Both flavours are checked: test (what the self-tests boot) and release
#            (what a driver loads); a missing module is built first.
#
# The functions checked (src/iova/iova.c, private per-CPU scheme):
#   iovx_iova_pcpu_alloc  the cached alloc: this CPU's cache, interrupts off, plain stores
#   iovx_iova_pcpu_free   the cached free
#   iovx_iova_alloc       the exported entry: validation, then iovx_iova_pcpu_alloc
#   iovx_iova_free        the exported entry: validation, then iovx_iova_pcpu_free
# Calls out of them (the magazine exchange with the depot on a miss, paravirt irq ops) are
# not followed: the check is about the instructions of the cached hit and its entry.
#
# The checker proves it can fail: iovx_depot_pop_full (a Treiber-stack pop, a lock cmpxchg)
# must be flagged, or the check itself is reported broken.
#
# Output: one line per function, "fastpath-asm: <version> <flavour> <function> OK|FAIL ...",
# and a last line "fastpath-asm: PASS|FAIL"; the exit status is non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
funcs=(iovx_iova_pcpu_alloc iovx_iova_pcpu_free iovx_iova_alloc iovx_iova_free)
canary=iovx_depot_pop_full

command -v objdump >/dev/null || { echo "fastpath-asm: objdump missing" >&2; exit 2; }

pick_versions() {
	local d v
	for d in /usr/src/linux-headers-*-amd64; do
		[ -f "$d/Makefile" ] || continue
		v=${d#/usr/src/linux-headers-}
		if [[ $v =~ ^6\.1\.[0-9] || $v =~ ^6\.12\.[0-9] ]]; then
			echo "$v"
		fi
	done
}

# Prints the instructions of one function (address, mnemonic, operands), nothing if absent.
disasm() {
	objdump -d --no-show-raw-insn --disassemble="$2" "$1" 2>/dev/null |
		awk -v f="$2" '
			$0 ~ "^[0-9a-f]+ <" f ">:$" { on = 1; next }
			on && /^[0-9a-f]+ </ { on = 0 }
			on && /^Disassembly of section/ { on = 0 }
			on && /^ *[0-9a-f]+:\t/ { print }'
}

# Reads disassembly on stdin; prints the offending instructions.
locked_insns() {
	awk -F'\t' '
	{
		insn = $2
		sub(/^[ ]+/, "", insn)
		if (insn ~ /^lock([ ]|$)/) { print; next }
		if (insn ~ /^xchg/) {
			ops = insn
			sub(/^[a-z]+[ ]+/, "", ops)
			n = split(ops, o, ",")
			for (i = 1; i <= n; i++)
				if (o[i] !~ /^%[a-z0-9]+$/) { print; next }
		}
	}'
}

if [ $# -gt 0 ]; then
	versions=("$@")
else
	mapfile -t versions < <(pick_versions)
	if [ ${#versions[@]} -eq 0 ]; then
		echo "fastpath-asm: no 6.1.x or 6.12.x headers in /usr/src" >&2
		exit 1
	fi
fi

rc=0
for v in "${versions[@]}"; do
	for flavour in test release; do
		suffix=""
		[ "$flavour" = release ] && suffix="-release"
		ko=$root/build/kmod-$v$suffix/iovx.ko
		if [ ! -f "$ko" ]; then
			IOVX_KMOD_FLAVOUR=$flavour "$root/kernel-glue/build.sh" "$v" \
				> "$root/build/fastpath-asm-build-$v$suffix.log" 2>&1 || true
		fi
		if [ ! -f "$ko" ]; then
			echo "fastpath-asm: $v $flavour FAIL no module (see build/fastpath-asm-build-$v$suffix.log)"
			rc=1
			continue
		fi
		for f in "${funcs[@]}"; do
			body=$(disasm "$ko" "$f")
			if [ -z "$body" ]; then
				echo "fastpath-asm: $v $flavour $f FAIL not found in $ko"
				rc=1
				continue
			fi
			bad=$(locked_insns <<< "$body")
			n=$(wc -l <<< "$body")
			if [ -n "$bad" ]; then
				echo "fastpath-asm: $v $flavour $f FAIL locked instruction(s):"
				sed 's/^/    /' <<< "$bad"
				rc=1
			else
				echo "fastpath-asm: $v $flavour $f OK ($n instructions, none locked)"
			fi
		done
		body=$(disasm "$ko" "$canary")
		if [ -z "$body" ] || [ -z "$(locked_insns <<< "$body")" ]; then
			echo "fastpath-asm: $v $flavour FAIL the checker did not flag $canary (check broken)"
			rc=1
		fi
	done
done
if [ $rc -eq 0 ]; then
	echo "fastpath-asm: PASS"
else
	echo "fastpath-asm: FAIL"
fi
exit $rc

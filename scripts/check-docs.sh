#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#
# scripts/check-docs.sh - the repository describes itself: every docs/<file>.md that code,
# scripts or docs cite exists, every "docs/<file>.md §N" names a section "## N." of that
# file, nothing cites a file outside the repository (a design brief, a shared folder), and
# every file in docs/ opens with a contents line. Prints each problem; exits 1 if any.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

bad=0
problem() {
	echo "check-docs: $*"
	bad=1
}

files=$(git ls-files -- ':!tests/fuzz/corpus' ':!*.png' ':!*.svg' ':!*.json' 2>/dev/null)

# Every cited docs file exists; every cited section exists.
while IFS= read -r hit; do
	file=${hit%%:*}
	rest=${hit#*:}
	line=${rest%%:*}
	ref=${rest#*:}
	doc=$(printf '%s' "$ref" | grep -oE 'docs/[A-Za-z0-9_.-]+\.md')
	[ -f "$doc" ] || { problem "$file:$line cites $doc, which does not exist"; continue; }
	sec=$(printf '%s' "$ref" | grep -oE '§[0-9]+' | head -n1 | tr -d '§')
	if [ -n "$sec" ] && ! grep -qE "^## $sec\. " "$doc"; then
		problem "$file:$line cites $doc §$sec, which has no section '## $sec.'"
	fi
done < <(echo "$files" | xargs grep -noE 'docs/[A-Za-z0-9_.-]+\.md( §[0-9]+)?' 2>/dev/null)

# Nothing outside the repository.
ext=$(echo "$files" | xargs grep -nE 'DESIGN\.md|\.\./shared/|shared/(STYLE|KERNEL-NOTES)\.md' \
	2>/dev/null | grep -v '^scripts/check-docs.sh:' || true)
[ -n "$ext" ] && problem "cites a file outside the repository:"$'\n'"$ext"

# Every docs file says what it contains.
for d in docs/*.md; do
	head -n 12 "$d" | grep -qi 'contents' || problem "$d has no contents line at its top"
done

[ $bad -eq 0 ] && echo "check-docs: every cited docs file and section exists; docs/ has contents lines"
exit $bad

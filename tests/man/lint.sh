#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lint.sh - the manual pages are clean: `mandoc -Tlint` reports nothing
# (style included), `groff -man -ww -z` warns about nothing, and each page
# renders to text at 80 columns with its NAME, SYNOPSIS or equivalent,
# DESCRIPTION and SEE ALSO.
set -uo pipefail
top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
name=lint
failed=0
bad() {
	echo "$name: FAIL: $*" >&2
	failed=1
}
for c in mandoc groff; do
	command -v $c >/dev/null || {
		echo "$name: FAIL: $c is not installed (tools/install-deps)" >&2
		exit 1
	}
done

for page in zpoold.8 zpoolctl.8 zpoold.conf.5; do
	f=$top_srcdir/man/$page
	[ -s "$f" ] || { bad "no $f"; continue; }
	out=$(mandoc -Tlint -W style "$f" 2>&1)
	[ -z "$out" ] || bad "mandoc -Tlint $page:"$'\n'"$out"
	out=$(groff -man -ww -z "$f" 2>&1)
	[ -z "$out" ] || bad "groff -ww $page:"$'\n'"$out"
	text=$(MANWIDTH=80 man -l "$f" 2>&1) || bad "man -l $page failed: $text"
	for h in NAME DESCRIPTION "SEE ALSO"; do
		grep -q "^$h\$" <<<"$text" || bad "$page has no $h section"
	done
	# A wrong font escape or a stray request shows up as text.
	grep -nE '\\f[BIRP]|^\.|\\-' <<<"$text" | head -n 5 | grep -q . &&
		bad "$page renders roff as text: $(grep -nE '\\f[BIRP]|^\.|\\-' <<<"$text" | head -n 3)"
	echo "$name: $page: clean ($(wc -l <<<"$text") lines at 80 columns)"
done
exit $failed

# shellcheck shell=sh disable=SC2034 # out and fail are for the sourcing script
# SPDX-License-Identifier: GPL-2.0-or-later
#
# smoke-lib.sh - what the benchmark smoke tests share, sourced by them:
#   . "${top_srcdir:-$(dirname "$0")/..}/tests/smoke-lib.sh"
#
# run_quick BENCH      run bench/BENCH --quick with its output in a temporary
#                      file, $out, removed on exit; show the output, and
#                      exit 1 when the program is missing or fails
# run_script_quick SCRIPT
#                      the same for a script of the source tree,
#                      bench/SCRIPT --quick --build $top_builddir; exit 77
#                      when it skips (77)
# expect WHAT COUNT PATTERN
#                      at least COUNT lines of $out match the extended
#                      regular expression PATTERN; if not, say that WHAT is
#                      missing and set fail=1, so that every missing line is
#                      reported before the script ends with `exit $fail`
#
# Messages start with the script's name ($0 without .sh), as they did when
# each script carried its own copy.

top_builddir=${top_builddir:-.}
prog=$(basename "$0" .sh)
out=
fail=0

run_quick() {
	bench=$top_builddir/bench/$1

	if [ ! -x "$bench" ]; then
		echo "$prog: cannot find '$bench': build it first" >&2
		exit 1
	fi

	out=$(mktemp "${TMPDIR:-/tmp}/$prog.XXXXXX") || exit 1
	trap 'rm -f "$out"' EXIT

	"$bench" --quick >"$out"
	rc=$?
	cat "$out"
	if [ "$rc" -ne 0 ]; then
		echo "$prog: $1 --quick exited with status $rc" >&2
		exit 1
	fi
}

run_script_quick() {
	top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
	out=$(mktemp "${TMPDIR:-/tmp}/$prog.XXXXXX") || exit 1
	trap 'rm -f "$out"' EXIT
	"$top_srcdir/bench/$1" --quick --build "$top_builddir" >"$out"
	rc=$?
	cat "$out"
	if [ "$rc" -eq 77 ]; then
		exit 77
	elif [ "$rc" -ne 0 ]; then
		echo "$prog: $1 --quick exited with status $rc" >&2
		exit 1
	fi
}

expect() {
	n=$(grep -cE "$3" "$out")
	if [ "$n" -lt "$2" ]; then
		echo "$prog: missing $1 (expected $2 lines matching '$3', got $n)" >&2
		fail=1
	fi
}

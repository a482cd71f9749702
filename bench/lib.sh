# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lib.sh - what the script benchmarks share. Source it first, then call
# bench_dirs, then source tests/daemon/lib.sh:
#   . "$(dirname "$0")/lib.sh"
#   bench_dirs NAME "$build"
#   . "$top_srcdir/tests/daemon/lib.sh"
#
# bench_dirs NAME BUILD    set top_srcdir (this tree) and top_builddir: BUILD
#                          (--build DIR) if given, else $top_builddir, else
#                          the current directory if it is a build, else the
#                          source tree; exit 2 naming NAME if BUILD is no
#                          directory
# bench_start_daemon ARGS  start_daemon, keeping the previous run's log as
#                          zpoold.log.N, and register the script's
#                          undo_devices hook after lib.sh's daemon hook, so
#                          that devices over a volume go before the daemon
# calc EXPR                EXPR evaluated by awk
# now                      the time in seconds, with nanoseconds
# ratio A B                A/B with two decimals; "-" if either is missing
#                          or B is 0
# best KEY VALUE [lower]   keep in R[KEY] the highest (with "lower": the
#                          lowest) VALUE of the rounds, a slower run only
#                          saying that something else ran too; 0 if VALUE
#                          was kept

bench_dirs() {
	top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	if [ -n "$2" ]; then
		top_builddir=$(cd "$2" 2>/dev/null && pwd) || {
			echo "$1: no build directory '$2'" >&2
			exit 2
		}
	elif [ -n "${top_builddir:-}" ]; then
		top_builddir=$(cd "$top_builddir" && pwd) || exit 2
	elif [ -x daemon/zpoold ]; then
		top_builddir=$PWD
	else
		top_builddir=$top_srcdir
	fi
}

bench_nr_starts=0
bench_start_daemon() {
	if [ -f "$ZT_TMP/zpoold.log" ]; then
		mv "$ZT_TMP/zpoold.log" "$ZT_TMP/zpoold.log.$((++bench_nr_starts))"
	fi
	start_daemon "$@"
	on_exit undo_devices
}

calc() {
	awk "BEGIN { print $* }"
}

now() {
	date +%s.%N
}

ratio() {
	if [ -z "${1:-}" ] || [ -z "${2:-}" ]; then
		echo "-"
	else
		awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
	fi
}

declare -A R
best() {
	local cmp='>'
	[ "${3:-}" = lower ] && cmp='<'
	if [ -z "${R[$1]:-}" ] ||
		awk -v a="$2" -v b="${R[$1]}" "BEGIN { exit !(a $cmp b) }"; then
		R[$1]=$2
		return 0
	fi
	return 1
}

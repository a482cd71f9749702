#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench-smoke.sh - run the pool benchmark briefly and check that it completes
# and prints every section. Its figures are shown, never compared against a
# target: timings depend on the machine, and density has tests of its own.

. "${top_srcdir:-$(dirname "$0")/..}/tests/smoke-lib.sh"

run_quick pool-bench

num='[0-9]+(\.[0-9]+)?'
# One overhead line per max_zspage_pages setting (4, 8, 16).
expect "overhead lines" 3 "^ *overhead \(pool memory / object bytes\): +$num"
expect "bit-exact read-back lines" 3 "^ *read back bit-exact: +[0-9]+ of [0-9]+ objects"
# Steady, batch and batch with immediate release: three of each.
expect "1-thread throughput lines" 3 "^ *1 thread: +pool +$num Mops/s +glibc +$num Mops/s +pool/glibc +$num"
expect "2-thread throughput lines" 3 "^ *2 threads: +pool +$num Mops/s +glibc +$num Mops/s +pool/glibc +$num"
# Two mixes, each with a stored and a churned-and-compacted ratio.
expect "strict/preferred lines (stored)" 2 "^ *strict/preferred pages, stored: +$num"
expect "strict/preferred lines (compacted)" 2 "^ *strict/preferred pages, churned and compacted: +$num"

exit $fail

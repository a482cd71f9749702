#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# writeback-bench-smoke.sh - run the writeback benchmark briefly
# (bench/writeback-bench.sh --quick: writeback against the raw disk, the two
# kinds of victims, zpoold with a pool limit against kernel zswap on the
# swap workload) and check that it completes and prints every figure and
# the target lines. The figures are shown, never compared against a
# target: they depend on the machine and on what else uses its disk, and
# swapper checks the data. Needs root, as the daemon's integration tests
# do; the benchmark skips (77) without it.

. "${top_srcdir:-$(dirname "$0")/..}/tests/smoke-lib.sh"

run_script_quick writeback-bench.sh

num='[0-9]+(\.[0-9]+)?'
r='([0-9]+\.[0-9]+|-)'
expect "raw disk figure" 2 "^  raw disk: .* +$num MiB/s\$"
for m in limit zspage idle; do
	expect "$m: writeback rate" 1 \
		"^  zpoold +$m: writeback \(written_back_pages\) +$num MiB/s \($num pages/s"
done
expect "summary rows" 3 "^  zpoold (writeback|backing file writes|writeback drain).* +$num MiB/s +$num pages/s\$"
expect "victims rows" 2 \
	"^  (limit +lru|zspage +zspage) +written back +[0-9]+ pages, pool pages freed +[0-9]+ \(compaction +[0-9]+\): $r freed per page written\$"
expect "swap rows" 2 "^  (zswap|zpoold) +$num""s +[0-9]+ +[0-9]+ "
expect "swapper verification" 2 "verified [0-9]+ pages x [0-9]+ passes"
expect "writeback target line" 1 "^writeback zpoold/dd: $r \(target >= 0\.8\); the idle drain"
expect "swap ratio line" 1 "^swap workload wall time zpoold/zswap: $r\$"

exit $fail

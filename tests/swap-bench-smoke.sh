#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# swap-bench-smoke.sh - run the swap benchmark briefly (bench/swap-bench.sh
# --quick: zram, zpoold and the null volume on loop devices, fio and the swap
# workload) and check that it completes and prints every row and the target
# lines. Its figures are shown, never compared against a target: they depend
# on the machine and the build (sanitizers), and swapper checks the data.
# Needs root, fio and the kernel's zram and loop drivers, as the daemon's
# integration tests do; the benchmark skips (77) without them.

. "${top_srcdir:-$(dirname "$0")/..}/tests/smoke-lib.sh"

run_script_quick swap-bench.sh

num='[0-9]+(\.[0-9]+)?'
r='([0-9]+\.[0-9]+|-)'
for t in 'seq write 1M +fio 55%' 'seq write 1M +corpus/dd' \
	'seq read 1M +corpus' '4k randread 1 job +corpus' \
	'4k randread 2 jobs +corpus' '4k randwrite 1 job +fio 55%' \
	'4k randwrite 2 jobs +fio 55%'; do
	# The main table (zram, zpoold, its loop mode, null, two quotients)
	# and the loop mode table (four figures).
	expect "row '$t'" 1 "^$t +(MiB/s|IOPS) +$num +$num +(on|off) +$num +$r +$r\$"
	expect "loop mode row '$t'" 1 "^$t +(MiB/s|IOPS) +$num +$num +$num +$num\$"
done
for t in '4k randread 1 job +corpus' '4k randread 2 jobs +corpus' \
	'4k randwrite 1 job +fio 55%' '4k randwrite 2 jobs +fio 55%'; do
	# zpoold and null in alternation: medians, their quotient, its range.
	expect "alternating row '$t'" 1 \
		"^$t +IOPS +$num +$num +$num +$num\\.\\.$num\$"
done
expect "swap workload row" 1 "^swap workload +corpus +s +$num +$num +(on|off) +- +$r +-\$"
expect "swapper verification" 3 "verified [0-9]+ pages x [0-9]+ passes"
expect "swap target line" 1 \
	"^swap workload wall time zpoold/zram: $r \(target <= 1\.5\)\$"
expect "sequential target line" 1 \
	"^sequential 1M zpoold/zram: write $r, read $r \(target >= 0\.8\)\$"
expect "4k random target line" 1 \
	"^4k random zpoold/null \(median of 1 alternating pairs\): read $r \(1 job\), $r \(2 jobs\); write $r \(1 job\), $r \(2 jobs\) \(target >= 0\.9\)\$"

exit $fail

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# comp-bench-smoke.sh - run the compressor benchmark briefly and check that it
# completes and prints every row: ours, the library's and their quotient for
# each quick spec, and the two target lines. Its figures are shown, never
# compared against a target: timings depend on the machine (and on the
# sanitizers), and the compressors have tests of their own.

. "${top_srcdir:-$(dirname "$0")/..}/tests/smoke-lib.sh"

run_quick comp-bench

num='[0-9]+\.[0-9]+'
int='[0-9]+'
reps="($int|1s)/$int"

# The quick specs; zstd only when this build has it (the header lists the
# backends).
specs="lz4:1 lz4hc:9"
if grep -qE '^ *backends: .*zstd' "$out"; then
	specs="$specs zstd:3"
fi

for s in $specs; do
	expect "$s row (ours)" 1 \
		"^$s +ours +$num +$num +$int +$int +$num +$num +$reps\$"
	expect "$s row (lib)" 1 \
		"^$s +lib +$num +$num +- +$int +$num +$num +$reps\$"
	expect "$s row (ours/lib)" 1 \
		"^$s +ours/lib +$num +$num +- +- +$num +$num\$"
done

expect "compression target line" 1 \
	"^lz4 path / raw liblz4 compression throughput: $num% \(target >= 90%\)\$"
expect "decompression target line" 1 \
	"^lz4 path / raw liblz4 decompression throughput: $num% \(target >= 90%\)\$"

# Every page of the corpus shrinks on average: a ratio of 1 or less means
# the accounting broke, not that the machine is slow.
bad=$(awk '$2 == "ours" && $3 + 0 <= 1 { print $1 }' "$out")
if [ -n "$bad" ]; then
	echo "comp-bench-smoke: ratio of 1 or less for:" $bad >&2
	fail=1
fi

exit $fail

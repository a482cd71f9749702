#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# swap-writeback.sh - zpoold as swap with a pool far smaller than what is
# swapped: most pages go on to the backing file and come back from it, and
# every one of them is intact.
#
# As swap.sh (loop device, swapon --discard at the highest priority,
# swapper filling 512 MiB of corpus pages in a memory cgroup limited to
# 128 MiB, then reading every page back three times in random order), but
# the pool is limited to 16 MiB (max_pool_size) and backed by a 1 GiB file
# in the test's directory: of the 384 MiB or more that go to swap (about
# 170 MiB compressed) at most a tenth fits in the pool. Asserted:
#  - swapper exits 0: every page read back as written on every pass;
#  - it ran in the limited cgroup, which hit its limit; pswpout grew by at
#    least the 384 MiB that cannot fit and at least that much swap was in
#    use on the loop device: swap was used;
#  - written_back_pages and wb_reads are above 0: pages went to the
#    backing file and were read back from it; no read of it failed
#    (wb_read_errors 0);
#  - pool_pages, sampled every 0.5 s (SIGUSR1), and the pool's high-water
#    mark pool.pages_max never went above pool_limit_pages + batch_pages
#    + slack (as in writeback.sh);
#  - the daemon's VmSwap stayed 0, it logged no error, and swapoff (which
#    reads back from the file what is still there) and stop_daemon succeed.
# A run that does not end in SWAPPER_TIMEOUT seconds (default 900: swap-ins
# from the file are slower than from memory) is taken for a deadlock and
# reported as swap.sh does.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires mkswap swapon swapoff losetup zstd
lock_swap

MIB=512
LIMIT_MIB=128
PASSES=3
# Swap-ins from the backing file take longer: run_swapper waits this long.
SWAPPER_TIMEOUT=${SWAPPER_TIMEOUT:-900}
VOL=$ZT_MNT/swap0
POOL_LIMIT=$((16 << 20))
BATCH=64
THREADS=4
CHAIN=8

write_config "$ZT_TMP/zpoold.conf" <<EOF
threads = $THREADS

[pool]
max_pool_size = $POOL_LIMIT
max_zspage_pages = $CHAIN

[writeback]
file = $ZT_TMP/backing
size = 1G
batch_pages = $BATCH

[volume swap0]
size = 1G
EOF
start_daemon "$ZT_TMP/zpoold.conf"
limit_pages=$(daemon_stat pool_limit_pages)
[ "$limit_pages" -eq $((POOL_LIMIT / 4096)) ] ||
	fail "pool_limit_pages is $limit_pages, expected $((POOL_LIMIT / 4096))"
# writeback.sh explains it: one batch on its way out, and per worker a new
# zspage and a one-page raw object.
BOUND=$((limit_pages + BATCH + THREADS * (CHAIN + 1)))

swap_setup "$VOL" $LIMIT_MIB
swap_sample "$VOL" "daemon_stat pool_pages"

run_swapper $MIB $PASSES $LIMIT_MIB ", pool limit $((POOL_LIMIT >> 20)) MiB"
swap_check_samples $MIB $LIMIT_MIB
maxpool=$MAX_EXTRA
wb=$(daemon_stat written_back_pages)
wbr=$(daemon_stat wb_reads)
pool_max=$(daemon_stat pool.pages_max)
note "pool_pages at most $maxpool (limit $limit_pages, bound $BOUND)," \
	"pool.pages_max $pool_max"
note "written_back_pages $wb ($((wb / 256)) MiB), wb_reads $wbr" \
	"($((wbr / 256)) MiB), slots_used $(daemon_stat slots_used)," \
	"volume.swap0.blocks_disk $(daemon_stat volume.swap0.blocks_disk)," \
	"bypassed_stores $(daemon_stat bypassed_stores)," \
	"writeback_batches $(daemon_stat writeback_batches)," \
	"psi_events $(daemon_stat psi_events)"
[ "$maxpool" -le "$BOUND" ] ||
	fail "pool_pages reached $maxpool, above $BOUND = limit $limit_pages" \
		"+ batch $BATCH + slack $((BOUND - limit_pages - BATCH))"
[ "$pool_max" -le "$BOUND" ] ||
	fail "pool.pages_max is $pool_max, above $BOUND"
[ "$wb" -gt 0 ] || fail "written_back_pages is 0: nothing went to the backing file"
[ "$wbr" -gt 0 ] || fail "wb_reads is 0: nothing was swapped in from the backing file"
[ "$(daemon_stat wb_read_errors)" -eq 0 ] ||
	fail "wb_read_errors is $(daemon_stat wb_read_errors)"
[ "$(daemon_stat writeback_failures)" -eq 0 ] ||
	fail "writeback_failures is $(daemon_stat writeback_failures)"

swap_end
note "ok"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# swap.sh - zpoold as real swap: a process under a memory limit swaps
# through loop -> FUSE -> zpoold and gets every page back.
#
# One 1 GiB volume with the stock settings (4 threads, lz4) is attached to a
# loop device and used as swap (swapon --discard, at the highest priority,
# so that other swap the machine may have stays unused). swapper fills
# 512 MiB with corpus pages inside a memory cgroup limited to 128 MiB,
# then reads every page back three times in random order, checking each
# against its checksum. Asserted:
#  - swapper exits 0: every page read back as written on every pass;
#  - it ran in the limited cgroup, which hit its limit, and the daemon did
#    not run there;
#  - /proc/vmstat pswpout grew by at least the 384 MiB that cannot fit
#    under the limit, and at least that much swap was in use on the loop
#    device (/proc/swaps, sampled every 0.5 s);
#  - the volume's st_blocks (its stored bytes / 512) was above 0 while
#    swapper held its pages: the pages went to this volume;
#  - the daemon's VmSwap, sampled every 0.5 s, stayed 0 (its memory is
#    locked: a swap daemon that swaps waits on itself);
#  - the daemon logged no error, and swapoff then stop_daemon succeed.
# The wall time of the swapper run is printed, never compared. A run that
# does not end in SWAPPER_TIMEOUT seconds (default 600) is taken for a
# deadlock: the kernel stacks of the daemon's threads and of swapper and
# the end of dmesg are printed, the FUSE connection is aborted and the
# daemon killed so that everything waiting on it fails, and the test fails.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires mkswap swapon swapoff losetup zstd
lock_swap

MIB=512
LIMIT_MIB=128
PASSES=3
VOL=$ZT_MNT/swap0

write_config "$ZT_TMP/zpoold.conf" <<EOF
[volume swap0]
size = 1G
EOF
start_daemon "$ZT_TMP/zpoold.conf"
swap_setup "$VOL" $LIMIT_MIB
swap_sample "$VOL"

run_swapper $MIB $PASSES $LIMIT_MIB
swap_check_samples $MIB $LIMIT_MIB
swap_end
note "ok"

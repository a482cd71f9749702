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
attach_loop "$VOL"
swap_on_first "$ZT_LOOP"
others=$(awk -v d="$ZT_LOOP" 'NR > 1 && $1 != d { print $1 }' /proc/swaps)
[ -z "$others" ] || note "warning: other swap is active too: $others"

memcg_create "zpoold-test-$$" "${LIMIT_MIB}M"
in_memcg "$ZT_PID" "$ZT_MEMCG" && fail "zpoold runs in the test cgroup"

# shellcheck disable=SC2016 # expanded by the sampler
# time, the daemon's VmSwap and VmRSS (kB), the volume's st_blocks,
# pswpout, kB of swap used on the loop device
sample_every 0.5 "$ZT_TMP/samples" '
	s=$(proc_field "$ZT_PID" VmSwap) r=$(proc_field "$ZT_PID" VmRSS)
	echo "$(date +%s.%N) ${s:-NA} ${r:-NA} $(stat -c %b "$VOL") \
$(vm_stat pswpout) $(swap_used "$ZT_LOOP")"'
sampler=$ZT_SAMPLER

run_swapper $MIB $PASSES $LIMIT_MIB
stop_sampler "$sampler"

nsamples=$(wc -l <"$ZT_TMP/samples")
[ "$nsamples" -ge 2 ] || fail "only $nsamples samples taken"
grep -q ' NA ' "$ZT_TMP/samples" && fail "zpoold went away during the run"
maxswap=$(column_max "$ZT_TMP/samples" 2)
maxrss=$(column_max "$ZT_TMP/samples" 3)
maxblocks=$(column_max "$ZT_TMP/samples" 4)
maxused=$(column_max "$ZT_TMP/samples" 6)
note "$nsamples samples: daemon VmSwap max $maxswap kB, VmRSS max" \
	"$((maxrss / 1024)) MiB; $ZT_LOOP had up to $((maxused / 1024)) MiB" \
	"of swap in use, the volume held up to $((maxblocks / 2048)) MiB"
[ "$maxswap" -eq 0 ] || fail "zpoold's own memory was swapped: VmSwap reached $maxswap kB"
[ "$maxblocks" -gt 0 ] || fail "the volume's st_blocks stayed 0: nothing was stored in it"
[ "$maxused" -ge $(((MIB - LIMIT_MIB) * 1024)) ] ||
	fail "at most $maxused kB of swap was in use on $ZT_LOOP, expected >= $(((MIB - LIMIT_MIB) * 1024))"

if grep -Eq '^(zpoold: (error|critical|alert|emergency): |<[0-3]>)' \
	"$ZT_TMP/zpoold.log"; then
	cat "$ZT_TMP/zpoold.log"
	fail "zpoold logged errors"
fi

swapoff "$ZT_LOOP" || fail "swapoff $ZT_LOOP failed"
grep -q "^$ZT_LOOP " /proc/swaps && fail "$ZT_LOOP is still swap"
stop_daemon
note "ok"

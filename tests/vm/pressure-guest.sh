#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pressure-guest.sh - zpoold as the only swap of a machine short of
# memory, run inside the machine of tests/vm/pressure.sh.
#
#   pressure-guest.sh RAM-MIB RUNS PERCENT COMPRESSOR [DISK]
#
# A volume on a loop device is the machine's only swap (with discard, as
# zpoold-swap@.service sets it up). RUNS times in a row, the swap workload
# (tests/daemon/swapper) fills PERCENT % of the machine's RAM (RAM-MIB, as
# the machine was given it) with corpus pages and reads every page back in
# a random order, checking each one; it must verify every page within
# RUN_SECS. Pool memory comes from the request's node (preferred);
# compressed with COMPRESSOR; the pool may take 80 % of RAM, so what
# leaves RAM must shrink by more than PERCENT/20 to fit: lz4 (2.2:1 on
# the corpus) does not fit 150 %, zstd (3.7:1) does.
# With DISK (a virtio disk with an ext4 file system) one more run follows
# with a backing file there and a pool limit of a fifth of RAM, far below
# the working set, so the shrinker writes blocks back while the machine
# swaps; it must write some back and read some in again.
#
# Each run checks the daemon's own memory: VmSwap 0 (its pages never go to
# the swap it serves), and prints its figures: wall time, pages swapped
# out and in (/proc/vmstat), pages written back, the pool's peak pages per
# node, the daemon's peak RSS (VmHWM).
. /bin/guest-lib.sh

RAM_MIB=${1:-512} RUNS=${2:-5} PERCENT=${3:-150} COMPRESSOR=${4:-zstd} DISK=${5:-}
RUN_SECS=420
mem_kb=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
mib=$((RAM_MIB * PERCENT / 100))
nodes=$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)

# As zpoold(8) advises for a machine where it is the only swap: kswapd
# starts early and keeps a wide margin (10 % of memory) between the low and
# high watermarks, so that direct reclaim, which waits on the daemon, stays
# rare; no watermark boost (a boost raises the min watermark too, and the
# loop worker that hands swap-outs to the daemon allocates against it
# without I/O: below a boosted min it would wait for reclaim, which waits for
# it); and no swap readahead (the pool reads a block as fast as a
# neighbour, and a random access pattern has no use for neighbours).
echo 1000 >/proc/sys/vm/watermark_scale_factor
echo 0 >/proc/sys/vm/watermark_boost_factor
echo 0 >/proc/sys/vm/page-cluster
say "RAM $RAM_MIB MiB ($((mem_kb / 1024)) MiB for the kernel to manage) on $nodes nodes; the workload: $mib MiB ($PERCENT %), $RUNS runs, $COMPRESSOR"

conf() { # conf POOL-LINES [WRITEBACK-LINES]
	cat >/run/zpoold.conf <<-EOF
	[daemon]
	mountpoint = $ZMNT
	control_socket = $ZSOCK
	[pool]
	compressor = $COMPRESSOR
	policy = preferred
	$1
	${2:+[writeback]}
	${2:-}
	[volume swap0]
	size = 2G
	EOF
}

# One run of the workload, checked and measured. Samples the pool's pages
# per node each second and keeps the peak.
run() { # run LABEL
	local label=$1 sw rc peak0=0 peak1=0 n0 n1 secs st
	mark
	swapper --mib "$mib" --passes 1 --seed "$RANDOM" >/run/swapper.out 2>&1 &
	sw=$!
	while kill -0 $sw 2>/dev/null; do
		st=$(timeout 10 zpoolctl -s "$ZSOCK" stats 2>/dev/null)
		n0=$(awk '$1 == "node0.pages" { print $2 }' <<<"$st")
		n1=$(awk '$1 == "node1.pages" { print $2 }' <<<"$st")
		[ "${n0:-0}" -gt $peak0 ] && peak0=$n0
		[ "${n1:-0}" -gt $peak1 ] && peak1=$n1
		if [ $(($(date +%s) - M_T0)) -gt $RUN_SECS ]; then
			bad "$label: the workload did not end within $RUN_SECS s"
			dump_tasks
			kill -KILL $sw
			break
		fi
		sleep 1
	done
	wait $sw
	rc=$?
	secs=$(($(date +%s) - M_T0))
	indent cat /run/swapper.out
	check "$label: every page of $mib MiB verified in $secs s (swapper exit $rc)" \
		grep -q "^swapper: verified" /run/swapper.out
	check "$label: the machine swapped ($(($(vmstat pswpout) - M_OUT)) pages out, $(($(vmstat pswpin) - M_IN)) in)" \
		test $(($(vmstat pswpout) - M_OUT)) -gt $((mib * 256 / 4))
	measure "$label" "peak_pool_pages_node0=$peak0 peak_pool_pages_node1=$peak1" \
		"refill_timeouts=$(($(zstat node0.refill_timeouts) + $(zstat node1.refill_timeouts)))" \
		"table_waits=$(zstat pool.table_waits) malloc_fail=$(zstat pool.malloc_fail)"
}

# The swap, as an operator sets it up: the volume made swap by the daemon.
swap_on() {
	indent zctl swapon swap0 --discard
	check "the volume is the machine's only swap" \
		test "$(awk 'NR > 1' /proc/swaps | wc -l)" = 1 -a -n "$(awk 'NR > 1 && $1 ~ /loop/' /proc/swaps)"
}
swap_off() {
	indent zctl swapoff swap0
	check "swap is off again" test "$(awk 'NR > 1' /proc/swaps | wc -l)" = 0
}

conf "max_pool_percent = 80"
daemon_start /run/zpoold.conf || finish
swap_on
for ((r = 1; r <= RUNS; r++)); do
	run "run $r"
done
indent zctl status
swap_off
daemon_stop

if [ -n "$DISK" ]; then
	mkdir -p /mnt/disk
	if check "the disk mounts ($DISK, ext4)" mount -t ext4 "$DISK" /mnt/disk; then
		conf "max_pool_percent = 20" "file = /mnt/disk/zpoold.backing
size = 2G"
		daemon_start /run/zpoold.conf || finish
		swap_on
		run "writeback"
		check "writeback: the shrinker wrote blocks back ($(zstat written_back_pages))" \
			test "$(zstat written_back_pages)" -gt 0
		check "writeback: blocks were read back from the disk ($(zstat wb_reads))" \
			test "$(zstat wb_reads)" -gt 0
		check "writeback: no write to the disk failed" test "$(zstat writeback_failures)" = 0
		indent zctl status
		swap_off
		daemon_stop
		umount /mnt/disk
	fi
fi
check "nothing was killed for memory" bash -c '! dmesg | grep -q "Out of memory\|oom-kill"'
finish

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# loop.sh - the request loop (daemon/loop.c): its workers, polling and end.
#
# - Large requests from two writers at once are served by more than one
#   worker thread (the leader hands the device on before a large request);
#   small ones from two readers by one worker on two CPUs (by several on
#   more).
# - An idle daemon sleeps: after traffic, with the longest poll_us, its
#   threads use (almost) no CPU time; so does a daemon that never polls.
# - Data goes through the same with poll_us = 0 and with polling.
# - Unmounting the file system from outside ends the daemon cleanly.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires zstd

MiB=$((1 << 20))
corpus=$(corpus_file) || exit 1
hz=$(getconf CLK_TCK)

# worker_ticks: "TID TICKS" (user + system time in clock ticks) of every
# worker thread of the daemon.
worker_ticks() {
	local t comm
	for t in /proc/"$ZT_PID"/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue
		[ "$comm" = zpoold-io ] || continue
		# Fields after the ")" that ends the name: utime is the 12th.
		awk -v tid="${t##*/}" '{ sub(/^.*\) /, ""); print tid, $12 + $13 }' "$t/stat"
	done
}

# ticks_mark, then ticks_used: the ticks each worker used in between, one
# line per worker; busy_workers MIN counts the lines of MIN or more.
ticks_mark() {
	worker_ticks | sort >"$ZT_TMP/ticks-mark"
}
ticks_used() {
	worker_ticks | sort | join "$ZT_TMP/ticks-mark" - | awk '{ print $3 - $2 }'
}
busy_workers() {
	awk -v min="$1" '$1 >= min { n++ } END { print n + 0 }'
}

# two_readers BS COUNT: two readers of COUNT blocks of BS each (the first
# and the second COUNT blocks of vol0), with direct I/O, in the background.
two_readers() {
	local i
	for i in 0 1; do
		run_bg dd if="$ZT_MNT/vol0" of=/dev/null bs="$1" count="$2" \
			skip=$((i * $2)) iflag=direct status=none
	done
}

# daemon_ticks: user + system ticks of the whole daemon.
daemon_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$ZT_PID/stat"
}

# idle_ticks SECONDS: ticks the daemon used while nobody sent it anything.
idle_ticks() {
	local a b
	a=$(daemon_ticks)
	sleep "$1"
	b=$(daemon_ticks)
	echo $((b - a))
}

# check_volume: write a corpus slice at an odd offset, read it back.
check_volume() {
	dd if="$corpus" of="$ZT_MNT/vol0" bs=64k count=$((16 * MiB)) \
		iflag=count_bytes oflag=seek_bytes seek=4097 conv=notrunc \
		status=none || fail "$1: writing failed"
	cmp -s -i 4097:0 -n $((16 * MiB)) "$ZT_MNT/vol0" "$corpus" ||
		fail "$1: the volume does not read back what was written"
}

# --- poll_us = 10000 (the longest), four workers -------------------------------
write_config "$ZT_TMP/zpoold.conf" <<EOF
threads = 4
poll_us = 10000

[volume vol0]
size = 256M
EOF
start_daemon "$ZT_TMP/zpoold.conf"
n=$(worker_ticks | wc -l)
[ "$n" -eq 4 ] || fail "expected 4 worker threads named zpoold-io, found $n"
check_volume "poll_us = 10000"

# Two writers of 1 MiB blocks: each request is large, so the leader hands
# the device on before it compresses, and a second worker takes the next.
ticks_mark
for i in 0 1; do
	run_bg dd if="$corpus" of="$ZT_MNT/vol0" bs=1M count=96 \
		skip=$((i * 96)) seek=$((i * 96)) conv=notrunc oflag=direct status=none
done
two_readers 1M 96
wait_bg 120
used=$(ticks_used)
busy=$(busy_workers $((hz / 50)) <<<"$used")
note "workers that served large requests (20 ms of CPU or more): $busy of 4" \
	"($(echo $used) ticks)"
[ "$busy" -ge 2 ] ||
	fail "large requests from two writers were served by $busy worker(s); expected at least 2"

# Two readers of single 4 KiB blocks: small requests are handed on only
# while fewer threads serve them than the machine has CPUs minus one, so
# on two CPUs a single worker serves them all.
cpus=$(nproc)
ticks_mark
two_readers 4k 30000
wait_bg 120
used=$(ticks_used)
busy=$(busy_workers 2 <<<"$used")
note "workers that served two readers of 4 KiB blocks on $cpus CPUs: $busy ($(echo $used) ticks)"
if [ "$cpus" -le 2 ]; then
	[ "$busy" -eq 1 ] ||
		fail "small requests were served by $busy workers on $cpus CPUs; expected 1"
else
	[ "$busy" -ge 2 ] ||
		fail "small requests from two readers were served by $busy worker(s) on $cpus CPUs; expected at least 2"
fi

# Idle after the traffic: the poller gives up after 10 ms and sleeps.
sleep 0.5
t=$(idle_ticks 2)
note "idle for 2 s after traffic with poll_us = 10000: $t ticks of CPU ($hz per second)"
[ "$t" -le $((hz / 10)) ] ||
	fail "an idle daemon used $t ticks in 2 s (poll_us = 10000): it keeps polling"
stop_daemon

# --- poll_us = 0 -----------------------------------------------------------------
mv "$ZT_TMP/zpoold.log" "$ZT_TMP/zpoold-1.log"
start_daemon "$ZT_TMP/zpoold.conf" -o daemon.poll_us=0 -t 2
check_volume "poll_us = 0"
t=$(idle_ticks 2)
note "idle for 2 s with poll_us = 0: $t ticks"
[ "$t" -le $((hz / 10)) ] || fail "an idle daemon used $t ticks in 2 s (poll_us = 0)"

# --- unmounted from outside --------------------------------------------------------
umount "$ZT_MNT" || fail "umount '$ZT_MNT' failed"
wait_pid "$ZT_PID" 10
rc=$?
[ $rc -ne 124 ] || fail "zpoold did not exit within 10 s of being unmounted"
ZT_PID=
[ $rc -eq 0 ] || fail "zpoold exited with status $rc after being unmounted"
grep -q "stopped" "$ZT_TMP/zpoold.log" || fail "the log does not say 'stopped'"
grep -q " $ZT_MNT " /proc/mounts && fail "$ZT_MNT is still mounted"
note "unmounted from outside: zpoold stopped by itself"
exit 0

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# stop-swap.sh - SIGTERM while a volume is active swap must not lose the
# pages that live only in the daemon.
#
# In both parts swapper --hold fills 512 MiB inside a memory cgroup limited
# to 128 MiB, so that most of its pages are in swap on a zpoold volume
# (swap at the highest priority; checked: pswpout grew by the 384 MiB that
# cannot fit, at least that much swap is in use on the loop device, the
# volume's st_blocks > 0), and waits for SIGUSR1 before it checks every
# page.
#
# 1. Default settings: SIGTERM is refused. Asserted: zpoold still runs 3 s
#    later, its log says "refusing to stop" and names the loop device, the
#    mount and the swap are still there; then swapper verifies every page
#    (exit 0), served by the daemon that was asked to stop; then swapoff,
#    after which the daemon stops by itself, the stop it put off (exit 0,
#    mount gone, logged).
# 2. With -o daemon.swapoff_on_stop=yes: the cgroup's limit is raised to
#    1 GiB so that the pages can come back into memory, and SIGTERM makes
#    the daemon run swapoff and exit 0. Asserted: it logged that it ran
#    swapoff on the loop device, the device is no longer swap, pswpin grew
#    by at least the pages that were out, and swapper, whose pages are all
#    in memory now and the daemon gone, verifies every page (exit 0).
# A step that does not finish in time is taken for a hang: the kernel
# stacks of the daemon and swapper and the end of dmesg are printed and the
# FUSE connection is aborted and the daemon killed before the test fails.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires mkswap swapon swapoff losetup zstd
lock_swap

SWAPPER=$top_builddir/tests/daemon/swapper
[ -x "$SWAPPER" ] || fail "cannot find '$SWAPPER': build it first"
MIB=512
LIMIT_MIB=128
TIMEOUT=${SWAPPER_TIMEOUT:-600}
VOL=$ZT_MNT/swap0
spid=

write_config "$ZT_TMP/zpoold.conf" <<EOF
[volume swap0]
size = 1G
EOF
memcg_create "zpoold-test-$$" "${LIMIT_MIB}M"

# Print diagnostics, abort the FUSE connection and kill the daemon so that
# nothing waits on them any longer, and fail with MSG.
hung() {
	note "$1: what everything waits on"
	dump_stuck "$ZT_PID" ${spid:+"$spid"}
	fuse_abort || note "could not abort the FUSE connection"
	kill -KILL "$ZT_PID" 2>/dev/null
	fail "$1"
}

# Start swapper --hold in the cgroup and wait until its pages are out on
# the volume.
start_swapper() {
	local out=$1 before blocks grew used others
	others=$(awk -v d="$ZT_LOOP" 'NR > 1 && $1 != d { print $1 }' /proc/swaps)
	[ -z "$others" ] || note "warning: other swap is active too: $others"
	before=$(vm_stat pswpout)
	memcg_run "$ZT_MEMCG" "$SWAPPER" --mib $MIB --passes 1 --hold \
		--seed "$2" >"$out" 2>&1 &
	spid=$!
	on_exit "kill_child KILL $spid"
	if ! wait_for_line "$out" '^swapper: filled$' "$TIMEOUT"; then
		sed 's/^/  /' "$out"
		_zt_running "$spid" || fail "swapper failed before it filled its memory"
		hung "swapper did not fill $MIB MiB in $TIMEOUT s"
	fi
	in_memcg "$spid" "$ZT_MEMCG" || fail "swapper is not in $ZT_MEMCG"
	in_memcg "$ZT_PID" "$ZT_MEMCG" && fail "zpoold runs in the test cgroup"
	grew=$(($(vm_stat pswpout) - before))
	blocks=$(stat -c %b "$VOL") || fail "cannot stat '$VOL'"
	used=$(swap_used "$ZT_LOOP")
	note "swapper filled: pswpout grew by $((grew / 256)) MiB, $ZT_LOOP" \
		"has $((used / 1024)) MiB of swap in use, the volume holds" \
		"$((blocks / 2048)) MiB"
	[ $grew -ge $(((MIB - LIMIT_MIB) * 256)) ] ||
		fail "pswpout grew by $grew pages, expected >= $(((MIB - LIMIT_MIB) * 256))"
	[ "$used" -ge $(((MIB - LIMIT_MIB) * 1024)) ] ||
		fail "$used kB of swap in use on $ZT_LOOP, expected >= $(((MIB - LIMIT_MIB) * 1024))"
	[ "$blocks" -gt 0 ] || fail "the volume's st_blocks is 0: nothing is in it"
}

# Let swapper verify its pages; it must report every one intact.
finish_swapper() {
	local out=$1 rc=0
	kill -USR1 "$spid"
	wait_pid "$spid" "$TIMEOUT" || rc=$?
	sed 's/^/  /' "$out"
	[ $rc -eq 124 ] && hung "swapper did not verify its pages in $TIMEOUT s"
	spid=
	[ $rc -eq 0 ] ||
		fail "swapper failed: $(swapper_status $rc)"
	grep -q "^swapper: verified $((MIB * 256)) pages x 1 passes\$" "$out" ||
		fail "swapper did not report every page verified"
}

# --- 1. SIGTERM is refused while the volume is swap
note "part 1: SIGTERM with swapoff_on_stop = no"
start_daemon "$ZT_TMP/zpoold.conf"
attach_loop "$VOL"
swap_on_first "$ZT_LOOP"
start_swapper "$ZT_TMP/swapper1.out" 1

kill -TERM "$ZT_PID"
sleep 3
daemon_alive || fail "zpoold stopped on SIGTERM although $ZT_LOOP was active swap"
grep -q "refusing to stop: .* on ${ZT_LOOP}[,;: ]" "$ZT_TMP/zpoold.log" ||
	fail "the log does not say that zpoold refuses to stop because of $ZT_LOOP"
grep "refusing to stop" "$ZT_TMP/zpoold.log" | sed 's/^/  log: /'
grep -q "^zpoold $ZT_MNT fuse.zpoold " /proc/mounts ||
	fail "the mount went away after the refused SIGTERM"
grep -q "^$ZT_LOOP " /proc/swaps || fail "$ZT_LOOP is no longer swap"

finish_swapper "$ZT_TMP/swapper1.out"
daemon_alive || fail "zpoold went away while swapper verified its pages"
t0=$(date +%s.%N)
swapoff "$ZT_LOOP" || fail "swapoff $ZT_LOOP failed"
note "swapoff took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
daemon_exits 10
grep -q "no volume is active swap any more: stopping" "$ZT_TMP/zpoold.log" ||
	fail "the log does not say why zpoold stopped after swapoff"
note "part 1: ok"

# --- 2. swapoff_on_stop = yes: SIGTERM swaps off first
note "part 2: SIGTERM with swapoff_on_stop = yes"
echo "${LIMIT_MIB}M" >"$ZT_MEMCG/memory.limit_in_bytes" ||
	fail "cannot reset the cgroup's limit"
logstart=$(($(wc -l <"$ZT_TMP/zpoold.log") + 1))
start_daemon "$ZT_TMP/zpoold.conf" -o daemon.swapoff_on_stop=yes
attach_loop "$VOL"
swap_on_first "$ZT_LOOP"
start_swapper "$ZT_TMP/swapper2.out" 2

# Room for every page, so that swapoff can bring them all in.
echo 1G >"$ZT_MEMCG/memory.limit_in_bytes" ||
	fail "cannot raise the cgroup's limit"
pswpin0=$(vm_stat pswpin)
used=$(swap_used "$ZT_LOOP")
t0=$(date +%s.%N)
kill -TERM "$ZT_PID"
rc=0
wait_pid "$ZT_PID" "$TIMEOUT" || rc=$?
[ $rc -eq 124 ] && hung "zpoold did not swapoff and stop in $TIMEOUT s"
ZT_PID=
note "SIGTERM to exit: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" \
	"($((used / 1024)) MiB of swap brought back in)"
tail -n "+$logstart" "$ZT_TMP/zpoold.log" | grep -E 'swapoff|received|stop' |
	sed 's/^/  log: /'
[ $rc -eq 0 ] || fail "zpoold exited with status $rc"
tail -n "+$logstart" "$ZT_TMP/zpoold.log" |
	grep -q "swap on $ZT_LOOP: running swapoff" ||
	fail "the log does not say that zpoold ran swapoff on $ZT_LOOP"
grep -q "^$ZT_LOOP " /proc/swaps && fail "$ZT_LOOP is still swap after zpoold stopped"
grep -q " $ZT_MNT " /proc/mounts && fail "zpoold exited but left its mount"
# Pages still in the swap cache (at most the limit's worth) need no read.
pswpin=$(($(vm_stat pswpin) - pswpin0))
note "pswpin grew by $((pswpin / 256)) MiB"
[ $pswpin -ge $((used / 4 - LIMIT_MIB * 256)) ] ||
	fail "pswpin grew by $pswpin pages; $((used / 4)) were in swap"

finish_swapper "$ZT_TMP/swapper2.out"
note "part 2: ok"

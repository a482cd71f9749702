#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# control-swap.sh - zpoolctl swapon and swapoff end to end. `zpoolctl
# swapon swap0 --priority 32767 --discard` makes the volume swap by itself
# (a fresh swap area, a free loop device with direct I/O, swapon): it is
# in /proc/swaps at that priority, and status shows it. While it is swap,
# volume remove and a second swapon are refused. The swap workload of swap.sh runs on it (every page verified, the
# cgroup swapping, the daemon's VmSwap 0). Then `zpoolctl swapoff swap0`
# turns swap off and detaches the loop device, after which the volume can
# be removed. Swap, loop device and cgroup are undone at exit also on
# failure.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires_root
requires losetup zstd jq blkid
lock_swap

[ -x "$ZPOOLCTL" ] || fail "cannot find '$ZPOOLCTL': build it first"
MIB=384
LIMIT_MIB=96
PASSES=2
VOL=$ZT_MNT/swap0

write_config "$ZT_TMP/zpoold.conf" <<EOF
[volume swap0]
size = 1G
EOF
start_daemon "$ZT_TMP/zpoold.conf"

out=$(ctl_ok swapon swap0 --priority 32767 --discard)
ZT_LOOP=$(losetup -j "$VOL" -O NAME -n | head -n 1)
[ -n "$ZT_LOOP" ] || fail "swapon attached no loop device: $out"
on_exit "swapoff $ZT_LOOP; losetup -d $ZT_LOOP"
grep -q "$ZT_LOOP" <<<"$out" || fail "swapon does not name $ZT_LOOP: $out"
awk -v d="$ZT_LOOP" '$1 == d { print $5 }' /proc/swaps | grep -qx 32767 ||
	fail "$ZT_LOOP is not swap at priority 32767: $(cat /proc/swaps)"
[ "$(cat "/sys/block/${ZT_LOOP#/dev/}/loop/dio")" = 1 ] ||
	fail "the loop device does not use direct I/O"
blkid -p -o value -s TYPE "$ZT_LOOP" | grep -qx swap ||
	fail "no swap signature on $ZT_LOOP"
[ "$(ctl_ok status --json | jq -r .volume.swap0.swap)" = 1 ] ||
	fail "status does not show swap0 as swap"
[ "$(ctl_ok status --json | jq -r .volume.swap0.loop)" = "$ZT_LOOP" ] ||
	fail "status does not show swap0's loop device"
ctl_ok status | grep "^swap0 " | grep -q "$ZT_LOOP" ||
	fail "the status table does not show $ZT_LOOP"

expect_fail "attached" ctl volume remove swap0
expect_fail "attached" ctl swapon swap0

swap_memcg $LIMIT_MIB
swap_sample "$VOL"
run_swapper $MIB $PASSES $LIMIT_MIB
swap_check_samples $MIB $LIMIT_MIB
[ "$(ctl_ok stats --json | jq -r .volume.swap0.reads)" -gt 0 ] ||
	fail "no swap-in reached swap0"

out=$(ctl_ok swapoff swap0)
grep -q "$ZT_LOOP" <<<"$out" || fail "swapoff does not name $ZT_LOOP: $out"
grep -q "^$ZT_LOOP " /proc/swaps && fail "$ZT_LOOP is still swap"
losetup -j "$VOL" | grep -q . &&
	fail "swap0 is still attached: $(losetup -j "$VOL")"
[ "$(ctl_ok status --json | jq -r .volume.swap0.loop)" = - ] ||
	fail "status still shows a loop device"
expect_fail "not attached" ctl swapoff swap0

# A swapoff of it already under way (systemd's own at shutdown): `zpoolctl
# swapoff` waits for that one, then detaches, and every page comes back.
ctl_ok swapon swap0 --priority 32767 >/dev/null
ZT_LOOP=$(losetup -j "$VOL" -O NAME -n | head -n 1)
[ -n "$ZT_LOOP" ] || fail "the second swapon attached no loop device"
memcg_run "$ZT_MEMCG" "$top_builddir/tests/daemon/swapper" --mib $MIB \
	--passes 1 --hold --seed 7 >"$ZT_TMP/held.out" 2>&1 &
spid=$!
on_exit "kill_child KILL $spid"
wait_for_line "$ZT_TMP/held.out" '^swapper: filled$' 120 ||
	fail "swapper did not fill its memory: $(cat "$ZT_TMP/held.out")"
used=$(swap_used "$ZT_LOOP")
[ "${used:-0}" -gt $(((MIB - LIMIT_MIB) * 512)) ] ||
	fail "too little in swap for a slow swapoff: ${used:-0} kB"
# Room for every page again, then the kernel's swapoff, and ours once that
# one is inside the kernel (its syscall number, 168, in /proc/PID/syscall).
echo $((4 * MIB))M >"$ZT_MEMCG/memory.limit_in_bytes"
swapoff "$ZT_LOOP" &
opid=$!
in_swapoff() { [ "$(cut -d ' ' -f 1 "/proc/$opid/syscall" 2>/dev/null)" = 168 ]; }
wait_until 10 in_swapoff || fail "swapoff $ZT_LOOP did not start"
ctl_ok swapoff swap0 >/dev/null
in_swapoff && fail "zpoolctl swapoff returned before the other swapoff ended"
wait "$opid" || fail "the kernel's swapoff of $ZT_LOOP failed"
grep -q "$ZT_LOOP is being swapped off already: waiting" "$ZT_TMP/zpoold.log" ||
	fail "zpoold did not notice the other swapoff"
losetup -j "$VOL" | grep -q . && fail "swap0 is still attached after swapoff"
kill -USR1 "$spid"
wait "$spid" || fail "swapper lost pages: $(tail -n 5 "$ZT_TMP/held.out")"
note "a swapoff under way: zpoolctl swapoff waited for it and detached; every page back"

ctl_ok volume remove swap0 >/dev/null
swap_end true
note "ok: swapon, the swap workload on it, swapoff"

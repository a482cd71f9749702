#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# systemd-guest.sh - runs inside the virtual machine of tests/vm/systemd.sh
# as a service once the machine has booted, with zpoold.service and
# zpoold-swap@swap0.service enabled by `make install` files and symlinks
# as an operator would. Each check prints "VMTEST: ok ..." or
# "VMTEST: FAIL ..." on the console; the last line is "VMTEST: done N
# failed"; then the machine powers off (which the host watches too).
set -uo pipefail

# say, ok, bad, check, wait_for: installed next to this script.
. "$(dirname "$0")/guest-lib.sh"
prop() { systemctl show -P "$2" "$1"; }
swap_loop() { awk '$1 ~ /^\/dev\/loop/ { print $1 }' /proc/swaps; }
ctl=${ZPOOLCTL:-/usr/local/sbin/zpoolctl}
dir=/usr/local/libexec/zpoold-test

say "start: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print $2 / 1024 " MiB" }' /proc/meminfo), systemd $(systemctl --version | head -n 1 | awk '{ print $2 }')"

# 1. At boot: both units active, the volume swap before swap.target.
check "zpoold.service is active after boot" test "$(prop zpoold.service ActiveState)" = active
check "zpoold-swap@swap0.service is active after boot" \
	test "$(prop zpoold-swap@swap0.service ActiveState)" = active
loop=$(swap_loop)
check "a loop device is swap at boot ($loop)" test -n "$loop"
check "zpoolctl status shows swap0 as swap" grep -q "swap0 .*$loop (swap)" <<<"$($ctl status)"
t_swap=$(prop zpoold-swap@swap0.service ActiveEnterTimestampMonotonic)
t_target=$(prop swap.target ActiveEnterTimestampMonotonic)
check "swap0 was swap before swap.target ($t_swap <= $t_target)" test "$t_swap" -le "$t_target"
pid=$(prop zpoold.service MainPID)
check "the service's status line is the daemon's STATUS= ($(prop zpoold.service StatusText))" \
	grep -q 'volume' <<<"$(prop zpoold.service StatusText)"
check "the watchdog is 30 s" test "$(prop zpoold.service WatchdogUSec)" = 30s
check "oom_score_adj is -1000" test "$(cat /proc/"$pid"/oom_score_adj)" = -1000
check "the daemon's memory is locked (VmLck $(awk '/VmLck/ { print $2 }' /proc/"$pid"/status) kB)" \
	test "$(awk '/VmLck/ { print $2 }' /proc/"$pid"/status)" -gt 1024
caps=$(awk '/CapEff/ { print $2 }' /proc/"$pid"/status)
check "the daemon keeps CAP_SYS_ADMIN, CAP_SYS_RESOURCE and CAP_CHOWN only ($caps)" \
	test "$caps" = 0000000001200001
check "the daemon is an I/O flusher (no warning in the journal)" \
	bash -c '! journalctl -b -u zpoold.service | grep -q "I/O flusher"'
check "the journal has the daemon's ready line" \
	bash -c 'journalctl -b -u zpoold.service | grep -q "ready:"'

t0=$(prop zpoold.service ExecMainStartTimestampMonotonic)
t1=$(prop zpoold.service ActiveEnterTimestampMonotonic)
say "zpoold took $(((t1 - t0) / 1000)) ms from exec to READY=1"

# 2. Memory pressure: a process in a 32 MiB memory cgroup holds 64 MiB
# (small: under emulation, swap moves about 1 MiB/s).
# This service has its cgroup delegated (Delegate=yes): the script moves
# itself into a leaf, and the workload gets one of its own.
cg=/sys/fs/cgroup$(awk -F: '$1 == 0 { print $3 }' /proc/self/cgroup)
mkdir -p "$cg/self" "$cg/work"
echo $$ >"$cg/self/cgroup.procs"
echo +memory >"$cg/cgroup.subtree_control"
echo 32M >"$cg/work/memory.max"
( timeout -s KILL 300 bash -c 'echo $$ >"$1/cgroup.procs" && exec "$2/swapper" --mib 64 --passes 1' \
	_ "$cg/work" "$dir" 2>&1; echo "exit $?" ) | sed "s/^/VMTEST:   /" | tee /run/zpoold-workload.out &
wpid=$!
# What everything waits on, should the workload hang.
( sleep 200
  say "the workload still runs after 200 s: what the tasks wait on"
  for t in /proc/[0-9]*; do
	st=$(awk '/^State/ { print $2 }' "$t/status" 2>/dev/null)
	case $st in D|S) ;; *) continue ;; esac
	comm=$(cat "$t/comm" 2>/dev/null)
	case $comm in swapper|zpoold*|loop*|kworker*) ;; *) [ "$st" = D ] || continue ;; esac
	for th in "$t"/task/*; do
		echo "VMTEST:   $comm/${th##*/} $(awk '/^State/ { print $2 }' "$th/status") $(cat "$th/wchan" 2>/dev/null)"
		sed 's/^/VMTEST:     /' "$th/stack" 2>/dev/null | head -n 12
	done
  done
  grep -H . /proc/pressure/memory /sys/fs/cgroup/system.slice/zpoold.service/memory.current "$cg/work/memory.current" "$cg/work/memory.events" 2>/dev/null | sed 's/^/VMTEST:   /'
  sed 's/^/VMTEST:   /' /proc/swaps
  dmesg | tail -n 30 | sed 's/^/VMTEST:   /' ) &
dumper=$!
wait $wpid
rc=$(sed -n 's/^VMTEST:   exit //p' /run/zpoold-workload.out)
kill $dumper 2>/dev/null
check "the swap workload verified every page (exit $rc)" test "$rc" = 0
swapped=$(awk '/^pswpout/ { print $2 }' /proc/vmstat)
check "the machine swapped out ($swapped pages)" test "$swapped" -gt 4096
check "the daemon's VmSwap is 0" test "$(awk '/VmSwap/ { print $2 }' /proc/"$pid"/status)" = 0
$ctl status | sed "s/^/VMTEST:   /"

# 3. Stopping zpoold swaps off first, then the daemon stops cleanly.
systemctl stop zpoold.service
check "zpoold.service stopped cleanly ($(prop zpoold.service Result))" \
	test "$(prop zpoold.service Result)" = success
check "zpoold-swap@swap0.service stopped with it" \
	test "$(prop zpoold-swap@swap0.service ActiveState)" = inactive
check "no swap is left" test -z "$(swap_loop)"
check "the daemon never refused to stop" \
	bash -c '! journalctl -b -u zpoold.service | grep -q "refus"'
t_off=$(prop zpoold-swap@swap0.service InactiveEnterTimestampMonotonic)
t_stop=$(prop zpoold.service InactiveEnterTimestampMonotonic)
check "swap0 was off before zpoold stopped ($t_off < $t_stop)" test "$t_off" -lt "$t_stop"

# 4. Starting the swap unit brings zpoold back.
systemctl start zpoold-swap@swap0.service
check "starting zpoold-swap@swap0 starts zpoold" test "$(prop zpoold.service ActiveState)" = active
check "and makes swap0 swap again" test -n "$(swap_loop)"

# 5. A daemon that stops answering its watchdog is killed and restarted.
systemctl stop zpoold-swap@swap0.service
mkdir -p /run/systemd/system/zpoold.service.d
# Long enough for a start under emulation, which is slow.
printf '[Service]\nWatchdogSec=20s\nTimeoutAbortSec=5s\n' >/run/systemd/system/zpoold.service.d/watchdog.conf
systemctl daemon-reload
systemctl restart zpoold.service
old=$(prop zpoold.service MainPID)
kill -STOP "$old"
wait_for 90 test "$(prop zpoold.service NRestarts)" -ge 1
check "a hung daemon was restarted by the watchdog ($(prop zpoold.service NRestarts) restart)" \
	test "$(prop zpoold.service NRestarts)" -ge 1
wait_for 60 test "$(prop zpoold.service ActiveState)" = active
new=$(prop zpoold.service MainPID)
check "the new daemon ($new, was $old) is active" \
	test "$(prop zpoold.service ActiveState)" = active -a "$new" != "$old"
check "the journal names the watchdog" \
	bash -c 'journalctl -b -u zpoold.service | grep -qi "watchdog timeout"'
rm -r /run/systemd/system/zpoold.service.d
systemctl daemon-reload
systemctl restart zpoold.service
check "zpoold runs again with the unit's own watchdog" \
	test "$(prop zpoold.service WatchdogUSec)" = 30s -a "$(prop zpoold.service ActiveState)" = active

# 6. Swap on again; the host checks that powering off swaps off first.
systemctl start zpoold-swap@swap0.service
check "swap0 is swap for the power-off" test -n "$(swap_loop)"
say "done $failed failed"
systemctl --no-block poweroff

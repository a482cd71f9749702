#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# notify.sh - what zpoold tells systemd, with a stand-in for systemd's
# notification socket (tests/systemd/notify-listen) as NOTIFY_SOCKET and a
# watchdog of 0.4 s: the first message is READY=1 with a STATUS= line, sent
# once the mount is usable; WATCHDOG=1 follows at about half the interval;
# a stop refused while a volume is active swap sends a STATUS= saying so
# and no STOPPING=1; once swapoff is done the daemon stops by itself, and
# STOPPING=1 comes last.
# Every message comes from the daemon's main pid (NotifyAccess=main).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires_root
requires losetup
lock_swap
listen=$top_builddir/tests/systemd/notify-listen
[ -x "$listen" ] || fail "cannot find '$listen': build it first"
[ -x "$ZPOOLCTL" ] || fail "cannot find '$ZPOOLCTL': build it first"
out=$ZT_TMP/notify.out

"$listen" "$ZT_TMP/notify" >"$out" 2>&1 &
lpid=$!
on_exit "kill $lpid"
wait_for_line "$out" '^listening$' 10 || fail "the listener did not start"

printf '[volume swap0]\nsize = 64M\n' | write_config "$ZT_TMP/zpoold.conf"
export NOTIFY_SOCKET=$ZT_TMP/notify WATCHDOG_USEC=400000
start_daemon "$ZT_TMP/zpoold.conf"
unset NOTIFY_SOCKET WATCHDOG_USEC
pid=$ZT_PID
pings() { [ "$(grep -c ' WATCHDOG=1$' "$out")" -ge "$1" ]; }
wait_until 5 pings 5 ||
	fail "fewer than 5 watchdog pings in 5 s: $(cat "$out")"

# A refused stop: a volume is active swap.
ctl_ok swapon swap0 >/dev/null
loop=$(losetup -j "$ZT_MNT/swap0" -O NAME -n | head -n 1)
[ -n "$loop" ] || fail "swapon attached no loop device"
on_exit "swapoff $loop; losetup -d $loop"
kill -TERM "$ZT_PID"
wait_for_line "$out" 'STATUS=refusing to stop' 5 ||
	fail "no STATUS= for the refused stop: $(cat "$out")"
sleep 0.5
daemon_alive || fail "zpoold stopped while a volume was active swap"
ctl_ok swapoff swap0 >/dev/null
daemon_exits 10
sleep 0.2

note "messages (pid, text):"
sed 's/^/  /' "$out"
msgs=$(grep -v '^listening$' "$out")
[ -n "$msgs" ] || fail "no message arrived"
senders=$(awk '{ print $1 }' <<<"$msgs" | sort -u | tr '\n' ' ')
[ "$senders" = "$pid " ] ||
	fail "messages from pids $senders, not only from the daemon ($pid)"
first=$(head -n 1 <<<"$msgs")
last=$(tail -n 1 <<<"$msgs")
case $first in
*" READY=1|STATUS="?*) ;;
*) fail "the first message is not READY=1 with STATUS=: $first" ;;
esac
case $last in
*" STOPPING=1"*) ;;
*) fail "the last message is not STOPPING=1: $last" ;;
esac
[ "$(grep -c 'READY=1' <<<"$msgs")" -eq 1 ] || fail "READY=1 sent more than once"
[ "$(grep -c 'STOPPING=1' <<<"$msgs")" -eq 1 ] ||
	fail "STOPPING=1 sent more than once (or for the refused stop)"
# The order: READY first, pings after it, the refusal, STOPPING last.
order=$(awk '/READY=1/ { r = NR } / WATCHDOG=1$/ { if (!w) w = NR }
	/STATUS=refusing/ { f = NR } /STOPPING=1/ { s = NR }
	END { print (r < w && w < f && f < s) ? "ok" : r " " w " " f " " s }' <<<"$msgs")
[ "$order" = ok ] ||
	fail "out of order (READY, first WATCHDOG, refusal, STOPPING at lines $order)"
note "READY=1 and STATUS=, WATCHDOG=1, the refusal's STATUS= and STOPPING=1 arrived in that order"

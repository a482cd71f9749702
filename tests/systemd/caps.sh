#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# caps.sh - zpoold works with exactly the capabilities zpoold.service
# leaves it, and needs each of them. The daemon runs as root under setpriv
# with the unit's CapabilityBoundingSet, no new privileges and an unlimited
# RLIMIT_MEMLOCK (LimitMEMLOCK=infinity), as systemd would start it: it
# mounts, gives its control socket the group of control_group, writes back
# to a file, and makes a volume swap and takes it off again. Then, one at a
# time, without CAP_SYS_ADMIN it cannot mount, without CAP_CHOWN it cannot
# give the socket its group, without LimitMEMLOCK=infinity it cannot lock
# its memory (it has no CAP_IPC_LOCK), and without CAP_SYS_RESOURCE it
# warns that it is no I/O flusher; each start fails or warns with a message
# that says so. A capability the machine itself lacks is reported.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires_root
requires setpriv losetup
lock_swap
unit=$top_srcdir/systemd/zpoold.service.in
[ -f "$unit" ] || fail "cannot find '$unit'"
[ -x "$ZPOOLCTL" ] || fail "cannot find '$ZPOOLCTL': build it first"
real=$ZPOOLD

# The capabilities the unit keeps, as setpriv names them.
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[ -n "$unit_caps" ] || fail "the unit has no CapabilityBoundingSet="
grep -q '^NoNewPrivileges=yes$' "$unit" || fail "the unit lacks NoNewPrivileges=yes"
grep -q '^LimitMEMLOCK=infinity$' "$unit" || fail "the unit lacks LimitMEMLOCK=infinity"
declare -A bit=([CAP_CHOWN]=0 [CAP_IPC_LOCK]=14 [CAP_SYS_ADMIN]=21 [CAP_SYS_RESOURCE]=24)
for c in $unit_caps; do
	[ -n "${bit[$c]+x}" ] || fail "the unit keeps $c, which this test does not know"
done
note "the unit keeps: $unit_caps"
machine=$((16#$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)))
has() { (((machine >> bit[$1]) & 1)); }
for c in $unit_caps; do
	has "$c" || note "this machine's bounding set lacks $c itself"
done

# run_as CAPS MEMLOCK: make $ZPOOLD a wrapper that starts the daemon with
# those capabilities (space-separated CAP_ names) and that memlock limit.
run_as() {
	local list=-all c
	for c in $1; do
		c=${c#CAP_}
		list+=",+${c,,}"
	done
	cat >"$ZT_TMP/zpoold-caps" <<EOF
#!/bin/bash
ulimit -l $2 || exit 1
exec setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set=$list -- "$real" "\$@"
EOF
	chmod +x "$ZT_TMP/zpoold-caps"
	ZPOOLD=$ZT_TMP/zpoold-caps
}

# start_fails CAPS MEMLOCK ERE WHAT: the daemon exits 1 at start, with a
# message matching ERE.
start_fails() {
	run_as "$1" "$2"
	: >"$ZT_TMP/fail.log"
	timeout 20 "$ZPOOLD" -c "$ZT_TMP/zpoold.conf" >"$ZT_TMP/fail.log" 2>&1
	rc=$?
	[ $rc -eq 1 ] || fail "with '$1', memlock $2: exit $rc, not 1: $(cat "$ZT_TMP/fail.log")"
	grep -Eq -- "$3" "$ZT_TMP/fail.log" ||
		fail "with '$1', memlock $2: no '$3' in: $(cat "$ZT_TMP/fail.log")"
	grep -q " $ZT_MNT " /proc/mounts && fail "a failed start left its mount"
	note "without ${4}: $(grep -Em1 -- "$3" "$ZT_TMP/fail.log")"
}

write_config "$ZT_TMP/zpoold.conf" <<EOF
[daemon]
control_group = daemon
[writeback]
file = $ZT_TMP/backing
size = 64M
[volume swap0]
size = 64M
EOF

# With the unit's capabilities. Raising RLIMIT_MEMLOCK takes
# CAP_SYS_RESOURCE, which systemd has; where this test has not, and the hard
# limit is lower, CAP_IPC_LOCK stands in for LimitMEMLOCK=infinity.
memlock=unlimited
start_caps=$unit_caps
if [ "$(ulimit -Hl)" != unlimited ] && ! has CAP_SYS_RESOURCE; then
	memlock=$(ulimit -Hl)
	start_caps+=" CAP_IPC_LOCK"
	note "RLIMIT_MEMLOCK cannot be raised here (hard limit $memlock KiB): CAP_IPC_LOCK stands in for LimitMEMLOCK=infinity"
fi
run_as "$start_caps" "$memlock"
start_daemon "$ZT_TMP/zpoold.conf"
eff=$((16#$(awk '/^CapEff:/ { print $2 }' "/proc/$ZT_PID/status")))
want=0
for c in $start_caps; do
	has "$c" && want=$((want | 1 << bit[$c]))
done
[ "$eff" -eq "$want" ] ||
	fail "the daemon's capabilities are $(printf %x $eff), not $(printf %x $want)"
[ "$(stat -c %G "$ZT_SOCK")" = daemon ] ||
	fail "the control socket's group is $(stat -c %G "$ZT_SOCK"), not daemon"
if has CAP_SYS_RESOURCE; then
	grep -q 'I/O flusher' "$ZT_TMP/zpoold.log" &&
		fail "not an I/O flusher with CAP_SYS_RESOURCE: $(cat "$ZT_TMP/zpoold.log")"
fi
grep -q 'cannot lock' "$ZT_TMP/zpoold.log" && fail "memory not locked"
head -c 16M /dev/urandom >"$ZT_TMP/data"
dd if="$ZT_TMP/data" of="$ZT_MNT/swap0" bs=1M conv=notrunc status=none ||
	fail "cannot write to the volume"
ctl_ok writeback >/dev/null
[ "$(daemon_stat written_back_pages)" -gt 0 ] || fail "nothing written back"
cmp -n 16777216 "$ZT_TMP/data" "$ZT_MNT/swap0" || fail "the volume reads back wrong"
ctl_ok swapon swap0 --discard >/dev/null
loop=$(losetup -j "$ZT_MNT/swap0" -O NAME -n | head -n 1)
[ -n "$loop" ] || fail "swapon attached no loop device"
on_exit "swapoff $loop; losetup -d $loop"
grep -q "^$loop " /proc/swaps || fail "$loop is not swap"
ctl_ok swapoff swap0 >/dev/null
grep -q "^$loop " /proc/swaps && fail "$loop is still swap"
stop_daemon
note "with $start_caps and a memlock limit of $memlock: mount, socket group, writeback, swapon and swapoff work"

# Each one is needed.
others() { local c; for c in $start_caps; do [ "$c" = "$1" ] || echo -n "$c "; done; }
start_fails "$(others CAP_SYS_ADMIN)" "$memlock" "cannot mount volumes" CAP_SYS_ADMIN
start_fails "$(others CAP_CHOWN)" "$memlock" "control socket.*Operation not permitted" CAP_CHOWN
# (The sanitizers make mlockall() a no-op: there the pool's own locked
# memory is what fails.)
start_fails "$unit_caps" 64 "cannot lock the daemon's memory|cannot create the pool: Cannot allocate memory" "LimitMEMLOCK=infinity"
run_as "$(others CAP_SYS_RESOURCE)" "$memlock"
start_daemon "$ZT_TMP/zpoold.conf"
grep -q 'cannot mark the daemon an I/O flusher' "$ZT_TMP/zpoold.log" ||
	fail "no warning without CAP_SYS_RESOURCE: $(cat "$ZT_TMP/zpoold.log")"
stop_daemon
note "without CAP_SYS_RESOURCE: $(grep -m1 'I/O flusher' "$ZT_TMP/zpoold.log")"

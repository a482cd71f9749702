#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# control-access.sh - who may use the control socket. The socket is mode
# 0660 in its group (control_group = nogroup here); as users other than
# root (setpriv, no account needed):
#   - outside the group: the socket refuses the connection (exit 3,
#     "permission denied");
#   - in the group, as primary or supplementary group: read-only commands
#     work, every command that changes state gets "permission denied"
#     (exit 1) and changes nothing;
#   - with CAP_SYS_ADMIN (ambient): every command works.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires_root
requires setpriv jq

[ -x "$ZPOOLCTL" ] || fail "cannot find '$ZPOOLCTL': build it first"
group=nogroup
gid=$(getent group "$group" | cut -d: -f3) || fail "no group $group"

write_config "$ZT_TMP/zpoold.conf" <<EOF
control_group = $group
[volume vol0]
size = 16M
EOF
start_daemon "$ZT_TMP/zpoold.conf"
# The users below must reach the socket through its directory.
chmod 0755 "$ZT_TMP"

[ "$(stat -c %a "$ZT_SOCK")" = 660 ] ||
	fail "socket mode $(stat -c %a "$ZT_SOCK"), not 660"
[ "$(stat -c %g "$ZT_SOCK")" = "$gid" ] ||
	fail "socket group $(stat -c %g "$ZT_SOCK"), not $gid ($group)"

# as UID GID [SUPPLEMENTARY] -- CMD...: run CMD as that user.
as() {
	local uid=$1 gid=$2 groups=$3
	shift 4
	if [ -n "$groups" ]; then
		setpriv --reuid="$uid" --regid="$gid" --groups="$groups" "$@"
	else
		setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
	fi
}

# Outside the group: no connection.
as 4242 4242 "" -- "$ZPOOLCTL" -s "$ZT_SOCK" status >/dev/null \
	2>"$ZT_TMP/err"
rc=$?
[ $rc -eq 3 ] || fail "a stranger's status exited $rc, not 3"
grep -qi "permission denied" "$ZT_TMP/err" ||
	fail "a stranger is not told permission denied: $(cat "$ZT_TMP/err")"

admin_cmds=(
	"volume create new 4M"
	"volume remove vol0"
	"swapon vol0"
	"swapoff vol0"
	"set max_pool_percent=30"
	"compact"
	"writeback"
	"reset-stats"
)
check_member() { # check_member WHAT GID GROUPS
	local what=$1 g=$2 groups=$3 c rc
	for c in status stats "volume list" get version; do
		# shellcheck disable=SC2086
		as 4242 "$g" "$groups" -- "$ZPOOLCTL" -s "$ZT_SOCK" $c \
			>/dev/null 2>"$ZT_TMP/err" ||
			fail "$what: '$c' refused: $(cat "$ZT_TMP/err")"
	done
	for c in "${admin_cmds[@]}"; do
		# shellcheck disable=SC2086
		as 4242 "$g" "$groups" -- "$ZPOOLCTL" -s "$ZT_SOCK" $c \
			>/dev/null 2>"$ZT_TMP/err"
		rc=$?
		[ $rc -eq 1 ] || fail "$what: '$c' exited $rc, not 1"
		grep -q "permission denied" "$ZT_TMP/err" ||
			fail "$what: '$c' not denied: $(cat "$ZT_TMP/err")"
	done
}
check_member "primary group" "$gid" ""
check_member "supplementary group" 4242 "$gid"

# Nothing changed.
[ "$(ctl_ok get max_pool_percent --json | jq -r .max_pool_percent)" = 20 ] ||
	fail "a denied set changed max_pool_percent"
ctl_ok volume list | grep -q "^vol0 " || fail "a denied remove removed vol0"
[ ! -e "$ZT_MNT/new" ] || fail "a denied create made a volume"
grep -q "^/dev/loop" /proc/swaps && grep -q "$ZT_MNT" /proc/swaps &&
	fail "a denied swapon made swap"

# CAP_SYS_ADMIN without root: everything.
setpriv --reuid=4242 --regid="$gid" --clear-groups --inh-caps=+sys_admin \
	--ambient-caps=+sys_admin \
	"$ZPOOLCTL" -s "$ZT_SOCK" volume create capvol 4M >/dev/null \
	2>"$ZT_TMP/err" ||
	fail "CAP_SYS_ADMIN may not create a volume: $(cat "$ZT_TMP/err")"
[ -e "$ZT_MNT/capvol" ] || fail "the volume CAP_SYS_ADMIN made is missing"
ctl_ok volume remove capvol >/dev/null

stop_daemon
note "ok: strangers refused, group members read only, admins everything"

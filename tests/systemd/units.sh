#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# units.sh - the systemd units as `make install` writes them: they name
# the installed programs and configuration; `systemd-analyze verify`
# (which also finds ordering cycles with the system's own targets, missing
# programs and manual pages) says nothing about them, and says something
# about a broken copy; the settings the service depends on are there; and
# `systemd-analyze security --offline=yes` rates each no worse than the
# figure recorded in zpoold(8) and the README.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires systemd-analyze
# The exposure levels recorded in the documentation.
MAX_ZPOOLD=2.2
MAX_SWAP=0.5

root=$ZT_TMP/root
make -s -C "$top_builddir" install DESTDIR="$root" >"$ZT_TMP/install.log" 2>&1 ||
	fail "make install failed: $(tail -n 20 "$ZT_TMP/install.log")"
svc=$(find "$root" -name zpoold.service -type f)
tpl=$(find "$root" -name 'zpoold-swap@.service' -type f)
[ -f "$svc" ] && [ -f "$tpl" ] || fail "make install installed no units: $(find "$root" -type f)"
unitdir=${svc%/*}
zpoold_bin=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$svc")
conf=$(sed -n 's/^ExecStart=.* --config \([^ ]*\)$/\1/p' "$svc")
ctl_bin=$(sed -n 's/^ExecStart=\([^ ]*\) swapon %i.*/\1/p' "$tpl")
[ -x "$root$zpoold_bin" ] || fail "zpoold.service runs $zpoold_bin, which is not installed"
[ -f "$root$conf" ] || fail "zpoold.service reads $conf, which is not installed"
[ -x "$root$ctl_bin" ] || fail "zpoold-swap@.service runs $ctl_bin, which is not installed"
grep -q '@[a-z]*@' "$svc" "$tpl" && fail "a unit keeps a @placeholder@: $(grep '@[a-z]*@' "$svc" "$tpl")"
note "installed: $svc runs $zpoold_bin --config $conf"

# What the service must have.
want() { # want FILE LINE...
	local f=$1 l
	shift
	for l in "$@"; do
		grep -qxF -- "$l" "$f" || fail "${f##*/} lacks '$l'"
	done
}
want "$svc" Type=notify NotifyAccess=main WatchdogSec=30s Restart=on-failure \
	OOMScoreAdjust=-1000 MemorySwapMax=0 LimitMEMLOCK=infinity \
	ProtectHome=yes PrivateTmp=yes ProtectKernelTunables=yes \
	RestrictAddressFamilies=AF_UNIX SystemCallArchitectures=native \
	NoNewPrivileges=yes DefaultDependencies=no Conflicts=shutdown.target
want "$tpl" BindsTo=zpoold.service After=zpoold.service \
	"Before=swap.target shutdown.target" Type=oneshot RemainAfterExit=yes \
	"ExecStop=$ctl_bin swapoff %i" WantedBy=swap.target DefaultDependencies=no
grep -q '^CapabilityBoundingSet=CAP_' "$svc" || fail "zpoold.service keeps every capability"

# verify against the system's own units (swap.target, shutdown.target,
# ...), with the programs and manual pages of the installation: copies of
# the units with the installed paths under $root.
mkdir -p "$ZT_TMP/units"
for f in "$svc" "$tpl"; do
	sed -e "s|=$zpoold_bin |=$root$zpoold_bin |; s|=$ctl_bin |=$root$ctl_bin |" \
		-e "s| $conf\$| $root$conf|" "$f" >"$ZT_TMP/units/${f##*/}"
done
manpath=$(dirname "$(find "$root" -name zpoold.8 -type f | head -n 1)")
manpath=${manpath%/man8}
verify() {
	SYSTEMD_UNIT_PATH=$ZT_TMP/units: MANPATH=$manpath \
		systemd-analyze verify --man=yes "$@" 2>&1
}
out=$(verify zpoold.service zpoold-swap@swap0.service)
[ -z "$out" ] || fail "systemd-analyze verify: $out"
note "systemd-analyze verify: clean (zpoold.service, zpoold-swap@swap0.service)"
# It notices what is wrong: an ordering cycle, an unknown key.
sed -i '/^DefaultDependencies=no$/d; s/^Type=oneshot$/Type=oneshot\nSwapOnBoot=yes/' \
	"$ZT_TMP/units/zpoold-swap@.service"
out=$(verify zpoold-swap@swap0.service)
grep -q 'ordering cycle' <<<"$out" && grep -q "Unknown key 'SwapOnBoot'" <<<"$out" ||
	fail "systemd-analyze verify did not notice a broken unit: $out"

# The exposure levels.
score() {
	systemd-analyze security --offline=yes "$1" 2>&1 |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p'
}
s1=$(score "$svc")
s2=$(score "$tpl")
[ -n "$s1" ] && [ -n "$s2" ] || fail "systemd-analyze security printed no level"
note "systemd-analyze security --offline=yes: zpoold.service $s1, zpoold-swap@.service $s2"
awk -v a="$s1" -v b="$MAX_ZPOOLD" 'BEGIN { exit !(a <= b) }' ||
	fail "zpoold.service is exposed at $s1, more than $MAX_ZPOOLD"
awk -v a="$s2" -v b="$MAX_SWAP" 'BEGIN { exit !(a <= b) }' ||
	fail "zpoold-swap@.service is exposed at $s2, more than $MAX_SWAP"

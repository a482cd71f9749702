#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# systemd.sh - the units under a real systemd: a Debian 12 virtual machine
# (tests/vm/rootfs.sh, booted by tests/vm/boot.sh under qemu) with the
# project installed by `make install DESTDIR=...`, zpoold.service enabled
# for multi-user.target and zpoold-swap@swap0.service for swap.target, the
# installed /etc configuration (a 4 GiB volume swap0). Inside,
# tests/vm/systemd-guest.sh checks that both units came up at boot and the
# volume was swap before swap.target, the service's status line, watchdog,
# capabilities, locked memory and oom_score_adj, a swap workload in a
# 32 MiB memory cgroup, that stopping zpoold swaps off first and stops
# cleanly, that starting the swap unit brings zpoold back, and that a
# daemon that stops answering its watchdog is restarted. Here, every check
# must have passed, and the power-off must have stopped the swap unit
# before zpoold, without a failure. A machine that does not power off
# within the timeout is a hang.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires_root
requires qemu-system-x86_64 debootstrap mke2fs zstd
swapper=$top_builddir/tests/daemon/swapper
[ -x "$swapper" ] || fail "cannot find '$swapper': build it first"

tree=$("$top_srcdir/tests/vm/rootfs.sh") || fail "no root file system for the VM"
note "root file system: $tree"

# The overlay: the installation, the units enabled, the guest's test.
ov=$ZT_TMP/overlay
# Under /usr/local whatever the build's prefix (distcheck's is in the build
# tree, which may be under /root, hidden from the service by ProtectHome).
make -s -C "$top_builddir" install DESTDIR="$ov" prefix=/usr/local \
	>"$ZT_TMP/install.log" 2>&1 ||
	fail "make install failed: $(tail -n 20 "$ZT_TMP/install.log")"
unitdir=$(dirname "$(find "$ov" -name zpoold.service -type f)")
[ -d "$unitdir" ] || fail "make install installed no units"
# Where the installation put them may be outside systemd's search path
# (make distcheck installs under a prefix of its own): a copy goes in
# /etc/systemd/system, as `systemctl link` would make it.
sys=$ov/etc/systemd/system
mkdir -p "$sys/multi-user.target.wants" "$sys/swap.target.wants"
cp "$unitdir/zpoold.service" "$unitdir/zpoold-swap@.service" "$sys/"
ln -s /etc/systemd/system/zpoold.service "$sys/multi-user.target.wants/"
ln -s /etc/systemd/system/zpoold-swap@.service \
	"$sys/swap.target.wants/zpoold-swap@swap0.service"
ctl_bin=$(sed -n 's/^ExecStart=\([^ ]*\) swapon .*/\1/p' "$unitdir/zpoold-swap@.service")
[ -x "$ov$ctl_bin" ] || fail "the swap unit runs $ctl_bin, which is not installed"
t=$ov/usr/local/libexec/zpoold-test
mkdir -p "$t"
cp "$swapper" "$t/swapper"
cp "$(corpus_file)" "$t/corpus.bin"
install -m 755 "$top_srcdir/tests/vm/systemd-guest.sh" "$t/guest.sh"
install -m 644 "$top_srcdir/tests/vm/guest-lib.sh" "$t/guest-lib.sh"
cat >"$ov/etc/systemd/system/zpoold-vmtest.service" <<EOF
[Unit]
Description=zpoold test inside the VM
After=multi-user.target zpoold-swap@swap0.service
[Service]
Type=oneshot
Delegate=yes
Environment=ZPOOLD_CORPUS=/usr/local/libexec/zpoold-test/corpus.bin
Environment=ZPOOLCTL=$ctl_bin
ExecStart=/usr/local/libexec/zpoold-test/guest.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
[Install]
WantedBy=default.target
EOF
# The console is the test's: no login prompt (whose vhangup would cut the
# test's output off).
ln -s /dev/null "$ov/etc/systemd/system/serial-getty@ttyS0.service"
mkdir -p "$ov/etc/systemd/system/default.target.wants"
ln -s /etc/systemd/system/zpoold-vmtest.service "$ov/etc/systemd/system/default.target.wants/"

log=$ZT_TMP/console.log
"$top_srcdir/tests/vm/boot.sh" "$tree" "$ov" "$log" --mem 1024 --cpus 1 --timeout 900 \
	--append systemd.status_unit_format=name
rc=$?
note "console (VMTEST lines and zpoold's units):"
grep -aE 'VMTEST|zpoold|[Ss]wap' "$log" | sed 's/\x1b\[[0-9;]*m//g; s/^/  /'
if ! grep -aq 'VMTEST: done' "$log"; then
	note "the end of the console:"
	tail -n 80 "$log" | sed 's/\x1b\[[0-9;]*m//g; s/^/  /'
fi
[ $rc -ne 124 ] || fail "the VM hung: no power-off within 900 s"
[ $rc -eq 0 ] || fail "qemu exited $rc"
grep -aq 'VMTEST: done 0 failed' "$log" ||
	fail "checks failed inside the VM: $(grep -a 'VMTEST: FAIL\|VMTEST: done' "$log")"
grep -a 'VMTEST: ok' "$log" | wc -l | grep -qx '[2-9][0-9]' ||
	fail "too few checks ran inside the VM"
# The power-off: swap0's unit stopped, then zpoold, with no failure.
clean=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | tr -d '\r')
l_swap=$(grep -an 'Stopped zpoold-swap@swap0\.service' <<<"$clean" | tail -n 1 | cut -d: -f1)
l_zpoold=$(grep -an 'Stopped zpoold\.service' <<<"$clean" | tail -n 1 | cut -d: -f1)
[ -n "$l_swap" ] && [ -n "$l_zpoold" ] ||
	fail "the power-off did not stop both units: $(grep -a 'Stop' <<<"$clean" | tail -n 20)"
[ "$l_swap" -lt "$l_zpoold" ] || fail "zpoold stopped before swap0's unit at power-off"
grep -aE 'FAILED.*(zpoold|swap)' <<<"$clean" && fail "a unit failed"
grep -aq 'reboot: Power down' <<<"$clean" || fail "the VM did not power down"
note "under systemd: boot, swap, pressure, stop order, restart by the watchdog and power-off all as they should"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# rootfs.sh - a Debian 12 tree with systemd, udev, a kernel and initrd
# (linux-image-amd64) and the libraries zpoold links with, for the tests
# that boot a virtual machine. It is made once with debootstrap from the
# machine's own Debian mirror, trimmed (documentation, kernel modules of
# hardware a VM does not have), and kept under $ZPOOLD_VM_CACHE (default
# /var/cache/zpoold-test) under a name that changes with what goes in;
# later runs reuse it. Runs that need it at once wait for each other.
# Usage: tests/vm/rootfs.sh    prints the tree's directory
set -euo pipefail

cache=${ZPOOLD_VM_CACHE:-/var/cache/zpoold-test}
suite=bookworm
pkgs=systemd,systemd-sysv,udev,kmod,util-linux,procps,e2fsprogs
pkgs+=,linux-image-amd64
pkgs+=,libfuse3-3,fuse3,libnuma1,liblz4-1,libzstd1,libsystemd0,libev4
key=$(printf '%s %s 1\n' "$suite" "$pkgs" | sha256sum | cut -c 1-12)
tree=$cache/root-$suite-$key

say() { echo "rootfs: $*" >&2; }

mkdir -p "$cache"
exec {lock}>"$cache/.lock"
flock "$lock"
if [ -f "$tree/.complete" ]; then
	echo "$tree"
	exit 0
fi

for c in debootstrap chroot; do
	command -v $c >/dev/null || { say "$c is not installed (tools/install-deps)"; exit 1; }
done
# The mirror apt uses here.
mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] ||
	mirror=$(sed -n 's/^deb \(http[^ ]*\/debian\)\/* .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}

tmp=$tree.tmp
rm -rf "$tmp"
say "debootstrap $suite from $mirror into $tmp (once; a few minutes)"
if ! debootstrap --variant=minbase --include="$pkgs" "$suite" "$tmp" "$mirror" \
	>"$cache/debootstrap.log" 2>&1; then
	tail -n 20 "$cache/debootstrap.log" >&2
	say "debootstrap failed (the whole log: $cache/debootstrap.log)"
	rm -rf "$tmp"
	exit 1
fi

# What a VM without hardware does not need.
rm -rf "$tmp"/usr/share/doc/* "$tmp"/usr/share/man/* "$tmp"/usr/share/locale/* \
	"$tmp"/usr/share/info/* "$tmp"/var/cache/apt/archives/*.deb
for d in "$tmp"/lib/modules/*/kernel; do
	rm -rf "$d"/sound "$d"/net/wireless "$d"/net/bluetooth "$d"/net/mac80211
	for sub in gpu net media staging infiniband usb bluetooth iio hid isdn \
		comedi mtd thunderbolt video input scsi ata md target mmc misc; do
		rm -rf "${d:?}/drivers/$sub"
	done
done

# A machine that boots to multi-user on /dev/vda with its console on the
# serial port, and root without a password there.
echo zpoold-vm >"$tmp/etc/hostname"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$tmp/etc/fstab"
chroot "$tmp" passwd -d root >/dev/null
ln -sf /lib/systemd/system/multi-user.target "$tmp/etc/systemd/system/default.target"
: >"$tmp/etc/machine-id"
touch "$tmp/.complete"
mv "$tmp" "$tree"
say "made $tree ($(du -sh "$tree" | cut -f 1))"
echo "$tree"

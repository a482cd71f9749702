#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# kernel.sh - Debian's kernel (the package linux-image-amd64 depends on)
# and busybox-static, unpacked with dpkg -x, for the virtual machines of
# tests/vm/. The packages come from the machine's own apt sources (apt-get
# download) and are kept, with what they unpack to, under $ZPOOLD_VM_CACHE
# (default /var/cache/zpoold-test), so later runs reuse them; a newer
# kernel package makes a new directory. Runs that need it at once wait for
# each other.
# Usage: tests/vm/kernel.sh    prints the directory: boot/vmlinuz-*,
#                              lib/modules/*/ and bin/busybox under it
set -euo pipefail

cache=${ZPOOLD_VM_CACHE:-/var/cache/zpoold-test}
say() { echo "kernel: $*" >&2; }

mkdir -p "$cache/debs"
exec {lock}>"$cache/.lock-kernel"
flock "$lock"

# The versioned image package linux-image-amd64 stands for.
image_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1
}
pkg=$(image_pkg)
if [ -z "$pkg" ]; then
	say "apt knows no linux-image-amd64: apt-get update"
	apt-get update -qq >&2 || true
	pkg=$(image_pkg)
fi
if [ -z "$pkg" ]; then
	# No package lists at all: the newest kernel already unpacked will do.
	dir=$(ls -d "$cache"/kernel-*/ 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$dir" ] && [ -f "$dir/.complete" ]; then
		say "no package lists; using ${dir%/}"
		echo "${dir%/}"
		exit 0
	fi
	say "cannot tell which kernel package linux-image-amd64 depends on"
	exit 1
fi
ver=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: *//p')
dir=$cache/kernel-$pkg-$ver
if [ -f "$dir/.complete" ]; then
	echo "$dir"
	exit 0
fi

fetch() { # fetch PACKAGE -> the path of its .deb in the cache
	local deb
	deb=$(ls "$cache/debs/${1}_"*.deb 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$deb" ] || { [ -n "${2:-}" ] && [[ $deb != *"_${2/:/%3a}_"* ]]; }; then
		(cd "$cache/debs" && apt-get download "$1${2:+=$2}" >/dev/null 2>&1) ||
			(apt-get update -qq && cd "$cache/debs" && apt-get download "$1${2:+=$2}" >/dev/null) ||
			{ say "cannot download $1"; return 1; }
		deb=$(ls "$cache/debs/${1}_"*.deb | sort -V | tail -n 1)
	fi
	echo "$deb"
}

say "unpacking $pkg $ver and busybox-static into $dir (once)"
kdeb=$(fetch "$pkg" "$ver")
bdeb=$(fetch busybox-static)
tmp=$dir.tmp
rm -rf "$tmp"
mkdir -p "$tmp/bin"
dpkg-deb -x "$kdeb" "$tmp/k"
mv "$tmp/k/boot" "$tmp/boot"
mkdir -p "$tmp/lib"
mv "$tmp/k/lib/modules" "$tmp/lib/modules"
rm -rf "$tmp/k"
# The package leaves modules.dep to its postinst.
kver=$(ls "$tmp/lib/modules" | sort -V | tail -n 1)
depmod -b "$tmp" -F "$tmp/boot/System.map-$kver" "$kver" ||
	{ say "depmod failed"; exit 1; }
dpkg-deb -x "$bdeb" "$tmp/b"
mv "$tmp/b/bin/busybox" "$tmp/bin/busybox"
rm -rf "$tmp/b"
# Older kernels' packages of this name are no longer needed.
for old in "$cache"/kernel-*; do
	[ "$old" = "$dir" ] || [ "$old" = "$tmp" ] || rm -rf "$old"
done
touch "$tmp/.complete"
mv "$tmp" "$dir"
echo "$dir"

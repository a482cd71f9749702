#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# boot.sh - boot a virtual machine (qemu, software emulation) from a tree
# made by rootfs.sh with more files laid over it, and bring back what its
# serial console printed. The tree and the overlay become one ext4 image
# (the tree is never changed; the overlay's directories that are links in
# the tree move to where the links point); the kernel and initrd are the
# tree's.
#
# Usage: tests/vm/boot.sh TREE OVERLAY LOG [options]
#   --mem MIB        memory (default 1024)
#   --cpus N         CPUs (default 2)
#   --timeout SECS   power off by force after SECS (default 900); then the
#                    exit status is 124, a hang
#   --append ARGS    more kernel command line
# The console goes to LOG; tests/vm/run.sh runs the machine. Exit status:
# 0 the machine powered off by itself, 124 it hung and was stopped, else
# qemu's.
set -euo pipefail

tree=$1 overlay=$2 log=$3
shift 3
mem=1024 cpus=2 timeout=900 append=
while [ $# -gt 0 ]; do
	case $1 in
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	*) echo "boot: unknown option '$1'" >&2; exit 2 ;;
	esac
done
say() { echo "boot: $*" >&2; }

kernel=$(ls "$tree"/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$tree"/boot/initrd.img-* | sort -V | tail -n 1)
[ -f "$kernel" ] && [ -f "$initrd" ] || { say "no kernel or initrd in $tree/boot"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/zpoold-vm.XXXXXX")
merged=$work/merged
cleanup() {
	umount "$merged" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$merged"
# The tree has a merged /usr (/lib is a link to usr/lib, ...): what the
# overlay has under such a directory goes where the link points, or it
# would hide the tree's.
for d in "$overlay"/*/; do
	d=${d%/}
	if [ -L "$tree/${d##*/}" ]; then
		target=$(readlink "$tree/${d##*/}")
		mkdir -p "$overlay/$target"
		cp -a "$d/." "$overlay/$target/"
		rm -rf "$d"
	fi
done
# A read-only overlay: the overlay's files over the tree's.
mount -t overlay overlay -o "lowerdir=$overlay:$tree" "$merged"
size=$(($(du -sm "$merged" | cut -f 1) * 5 / 4 + 256))
mke2fs -q -t ext4 -L zpoold-vm -E root_owner=0:0 -d "$merged" \
	"$work/root.img" "${size}M" >"$work/mke2fs.log" 2>&1 || {
	cat "$work/mke2fs.log" >&2
	say "cannot make the image"
	exit 1
}
umount "$merged"

"$(dirname "$0")/run.sh" --kernel "$kernel" --initrd "$initrd" --disk "$work/root.img" \
	--log "$log" --mem "$mem" --cpus "$cpus" --timeout "$timeout" \
	--append "root=/dev/vda rw systemd.show_status=1 $append"

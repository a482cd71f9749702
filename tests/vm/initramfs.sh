#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# initramfs.sh - the whole root file system of a small test machine, as one
# uncompressed cpio archive the kernel unpacks into memory (nothing to
# decompress under emulation): busybox-static for the commands, bash, the
# kernel modules asked for with what they depend on (modules.dep), the
# programs given with the shared libraries they load (ldd), debug
# information stripped, and tests/vm/init.sh as /init, which loads the
# modules and runs /scenario.
#
# Usage: tests/vm/initramfs.sh KERNELDIR OUT [options]
#   KERNELDIR       what tests/vm/kernel.sh printed
#   --scenario F    the script /init runs (as /scenario)
#   --bin F[:DEST]  a program (default DEST /bin/NAME) and its libraries
#   --file F:DEST   a file as it is
#   --module NAME   a kernel module (fuse, loop, virtio_blk, ...)
set -euo pipefail

kdir=$1 out=$2
shift 2
scenario= bins=() files=() modules=()
while [ $# -gt 0 ]; do
	case $1 in
	--scenario) scenario=$2; shift 2 ;;
	--bin) bins+=("$2"); shift 2 ;;
	--file) files+=("$2"); shift 2 ;;
	--module) modules+=("$2"); shift 2 ;;
	*) echo "initramfs: unknown option '$1'" >&2; exit 2 ;;
	esac
done
say() { echo "initramfs: $*" >&2; }
here=$(cd "$(dirname "$0")" && pwd)
[ -n "$scenario" ] || { say "no --scenario"; exit 2; }
command -v cpio >/dev/null || { say "cpio is not installed (tools/install-deps)"; exit 1; }

root=$(mktemp -d "${TMPDIR:-/tmp}/zpoold-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,mnt,lib64,lib/x86_64-linux-gnu}
ln -s bin "$root/usr"

# busybox for every command it has; what comes later (bash, real
# programs) replaces its links.
install -m 755 "$kdir/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# A program and every library it loads, at the paths ldd names.
add_elf() { # add_elf SRC DEST
	local lib
	rm -f "$root$2"
	mkdir -p "$root$(dirname "$2")"
	cp -L "$1" "$root$2"
	strip --strip-debug "$root$2" 2>/dev/null || true
	for lib in $(ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^[ \t]*\// { print $1 }'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
		strip --strip-debug "$root$lib" 2>/dev/null || true
	done
}
add_elf /bin/bash /bin/bash
ln -sf bash "$root/bin/sh"
for b in "${bins[@]+"${bins[@]}"}"; do
	src=${b%%:*} dest=${b#*:}
	[ "$dest" != "$b" ] || dest=/bin/$(basename "$src")
	[ -x "$src" ] || { say "no program '$src'"; exit 1; }
	add_elf "$src" "$dest"
done
for f in "${files[@]+"${files[@]}"}"; do
	mkdir -p "$root$(dirname "${f#*:}")"
	cp -L "${f%%:*}" "$root${f#*:}"
done

# Modules, each after the ones it needs.
kver=$(ls "$kdir/lib/modules" | sort -V | tail -n 1)
mdir=$kdir/lib/modules/$kver
declare -A seen=()
order=()
add_module() { # add_module PATH-IN-modules.dep
	local dep
	[ -n "${seen[$1]+x}" ] && return 0
	seen[$1]=1
	for dep in $(awk -v m="$1:" '$1 == m { for (i = 2; i <= NF; i++) print $i }' "$mdir/modules.dep"); do
		add_module "$dep"
	done
	order+=("$1")
}
for m in "${modules[@]+"${modules[@]}"}"; do
	path=$(awk -F: -v m="/$m.ko" 'substr($1, length($1) - length(m) + 1) == m { print $1; exit }' \
		"$mdir/modules.dep")
	[ -n "$path" ] || { say "kernel $kver has no module '$m'"; exit 1; }
	add_module "$path"
done
: >"$root/etc/modules"
for p in "${order[@]+"${order[@]}"}"; do
	mkdir -p "$root/lib/modules/$(dirname "$p")"
	cp "$mdir/$p" "$root/lib/modules/$p"
	echo "/lib/modules/$p" >>"$root/etc/modules"
done

install -m 755 "$here/init.sh" "$root/init"
install -m 755 "$here/guest-lib.sh" "$root/bin/guest-lib.sh"
install -m 755 "$scenario" "$root/scenario"
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out"
say "$(du -m "$out" | cut -f 1) MiB, kernel $kver, ${#order[@]} modules"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# numa.sh - NUMA placement on a real two-node machine: a virtual machine
# (qemu, 2 CPUs, 2 x 256 MiB, CPU i on node i) booted from an initramfs
# with Debian's kernel (tests/vm/lib.sh), running tests/vm/numa-guest.sh:
# each policy's placement of a node-0 and a node-1 writer's blocks, checked
# against the kernel's numa_maps and move_pages, and a node short of
# memory (preferred falls back, strict refuses).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"
. "$top_srcdir/tests/vm/lib.sh"

requires_root
requires qemu-system-x86_64 cpio zstd
vm_boot numa "$top_srcdir/tests/vm/numa-guest.sh" --mem 512 --cpus 2 --nodes 2 \
	--timeout 600 --min-ok 40

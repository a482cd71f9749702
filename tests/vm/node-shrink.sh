#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# node-shrink.sh - writeback aimed at one NUMA node on a real two-node
# machine: a virtual machine (qemu, 2 CPUs, 2 x 256 MiB, CPU i on node i)
# booted from an initramfs with Debian's kernel (tests/vm/lib.sh), running
# tests/vm/node-shrink-guest.sh: a node's share of the pool filled past
# max_node_size makes the shrinker write back that node's blocks and leave
# the other node's alone.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"
. "$top_srcdir/tests/vm/lib.sh"

requires_root
requires qemu-system-x86_64 cpio zstd
vm_boot node-shrink "$top_srcdir/tests/vm/node-shrink-guest.sh" --mem 512 --cpus 2 \
	--nodes 2 --timeout 600 --min-ok 15

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pressure.sh - zpoold as the only swap of a whole machine short of
# memory: a virtual machine (qemu, 512 MiB on two NUMA nodes, 2 CPUs)
# booted from an initramfs with Debian's kernel (tests/vm/lib.sh), running
# tests/vm/pressure-guest.sh: five runs in a row of a workload of 150 % of
# the machine's RAM that checks every page, then one with a backing file
# on a virtio disk (ext4) and a pool limit well below the working set.
# A hang is a failure (the machine's hard timeout), and so is any page
# that comes back wrong.
#   ZPOOLD_PRESSURE_RUNS   runs without a backing file (default 5)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"
. "$top_srcdir/tests/vm/lib.sh"

requires_root
requires qemu-system-x86_64 cpio zstd mkfs.ext4
disk=$ZT_TMP/disk.img
truncate -s 3G "$disk"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$disk" ||
	fail "cannot make the test disk's file system"
vm_boot pressure "$top_srcdir/tests/vm/pressure-guest.sh" --mem 512 --cpus 2 \
	--nodes 2 --timeout 2400 --disk "$disk" \
	--module virtio_pci --module virtio_blk --module ext4 --module crc32c_generic \
	--args "512 ${ZPOOLD_PRESSURE_RUNS:-5} 150 zstd /dev/vda" --min-ok 20

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# init.sh - /init of the test machines that tests/vm/initramfs.sh builds:
# the file systems a daemon needs, the modules of /etc/modules in order,
# then /scenario with init's arguments (the words after "--" on the kernel
# command line), its output on the serial console. The scenario prints "VMTEST: ..." lines
# (guest-lib.sh); this prints the last one, "VMTEST: done N failed", and
# powers the machine off. Whatever happens, the machine powers off: a
# scenario that never ends is the host's to stop (a hang).
export PATH=/bin:/sbin HOME=/ TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd
exec </dev/console >/dev/console 2>&1

failed=0
while read -r m; do
	insmod "$m" || { echo "VMTEST: FAIL cannot load module $m"; failed=$((failed + 1)); }
done </etc/modules
# The kernel's messages above warnings only, so the console stays readable;
# a task blocked for 60 s says where; the host may ask for SysRq reports.
echo 4 >/proc/sys/kernel/printk
echo 60 >/proc/sys/kernel/hung_task_timeout_secs
echo 1 >/proc/sys/kernel/sysrq

if [ $failed -eq 0 ]; then
	/scenario "$@"
	rc=$?
	[ $rc -eq 0 ] || failed=$rc
fi
sync
echo "VMTEST: done $failed failed"
poweroff -f

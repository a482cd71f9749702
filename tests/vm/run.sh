#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run.sh - run a virtual machine under qemu's software emulation (TCG) until
# it powers itself off, with a hard timeout, its serial console in a file.
#
# Usage: tests/vm/run.sh --kernel F --log F [options]
#   --initrd F       an initramfs
#   --disk F         a raw disk image, virtio (/dev/vda, /dev/vdb, ...);
#                    may be given more than once
#   --mem MIB        memory (default 1024)
#   --cpus N         CPUs (default 2)
#   --nodes N        NUMA nodes (default 1): the memory split evenly, CPU i
#                    on node i mod N, each node's memory its own backend
#   --timeout SECS   power off by force after SECS (default 900)
#   --append ARGS    the kernel command line (console=ttyS0 and panic=-1
#                    are always there)
# A machine still running at the timeout is asked for its blocked tasks
# and memory (SysRq w and m, on the console) and stopped.
# Exit status: 0 the machine powered off by itself, 124 it hung and was
# stopped, else qemu's.
set -euo pipefail

kernel= initrd= log= mem=1024 cpus=2 nodes=1 timeout=900 append= disks=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	--initrd) initrd=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--disk) disks+=("$2"); shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--nodes) nodes=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	*) echo "run: unknown option '$1'" >&2; exit 2 ;;
	esac
done
say() { echo "run: $*" >&2; }
[ -f "$kernel" ] && [ -n "$log" ] || { say "usage: run.sh --kernel F --log F [options]"; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/zpoold-run.XXXXXX")
qemu=
cleanup() {
	[ -z "$qemu" ] || kill -KILL "$qemu" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The monitor on two FIFOs, so that a hung machine can be asked what its
# tasks wait on (magic SysRq keys; the guest must allow them).
mkfifo "$work/mon.in" "$work/mon.out"
args=(-machine q35 -accel tcg,thread=multi -cpu max -m "${mem}M" -smp "$cpus"
	-kernel "$kernel" -nic none -display none -monitor "pipe:$work/mon"
	-serial "file:$log" -no-reboot)
[ -z "$initrd" ] || args+=(-initrd "$initrd")
for d in "${disks[@]+"${disks[@]}"}"; do
	args+=(-drive "file=$d,format=raw,if=virtio,cache=unsafe")
done
if [ "$nodes" -gt 1 ]; then
	[ $((mem % nodes)) -eq 0 ] || { say "--mem $mem does not split into $nodes nodes"; exit 2; }
	for ((n = 0; n < nodes; n++)); do
		c=
		for ((i = n; i < cpus; i += nodes)); do c+=${c:+,cpus=}$i; done
		args+=(-object "memory-backend-ram,id=m$n,size=$((mem / nodes))M"
			-numa "node,nodeid=$n,memdev=m$n${c:+,cpus=$c}")
	done
fi
args+=(-append "console=ttyS0 panic=-1 $append")

say "booting ($mem MiB, $cpus CPUs, $nodes node(s), at most $timeout s)"
start=$(date +%s)
qemu-system-x86_64 "${args[@]}" </dev/null &
qemu=$!
cat "$work/mon.out" >/dev/null &
exec {mon}<>"$work/mon.in"
while kill -0 "$qemu" 2>/dev/null && [ $(($(date +%s) - start)) -lt "$timeout" ]; do
	sleep 1
done
if kill -0 "$qemu" 2>/dev/null; then
	say "no power-off after $timeout s: blocked tasks and memory (SysRq ${ZPOOLD_VM_SYSRQ:-9 w m l}), then stop"
	for key in ${ZPOOLD_VM_SYSRQ:-9 w m l}; do
		echo "sendkey alt-sysrq-$key" >&$mon
		sleep 5
	done
	echo quit >&$mon
	sleep 2
	rc=124
else
	set +e
	wait "$qemu"
	rc=$?
	set -e
fi
qemu=
say "qemu exited $rc after $(($(date +%s) - start)) s"
exit $rc

# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lib.sh - what the host side of the tests that boot a test machine share.
# Source it after tests/daemon/lib.sh.
#
# vm_boot NAME GUEST [options]
#     build an initramfs (tests/vm/initramfs.sh) with Debian's kernel
#     (tests/vm/kernel.sh), zpoold, zpoolctl, the swap workload
#     (swapper), tests/vm/nodefill, dd, zstd, the corpus and the modules
#     fuse and loop, with GUEST as its scenario; boot it (tests/vm/run.sh)
#     and judge what came back (vm_verdict). The console is in
#     $ZT_TMP/NAME.log. Options:
#       --mem MIB --cpus N --nodes N --timeout SECS --disk IMG
#                      as tests/vm/run.sh takes them
#       --args WORDS   the scenario's arguments (the kernel command line
#                      after "--")
#       --module NAME  one more kernel module
#       --min-ok N     at least N checks must have passed (default 1)
# vm_verdict NAME LOG RC TIMEOUT MIN_OK
#     what a machine brought back: fails if it hung (RC 124), if qemu
#     failed, if a check failed or fewer than MIN_OK passed, or if the
#     last line "VMTEST: done 0 failed" is missing; prints every VMTEST
#     line and, at the end, the figures ("VMTEST: figure ...").
# vm_console LOG
#     the console without colours and carriage returns

vm_console() { sed 's/\x1b\[[0-9;]*m//g' "$1" | tr -d '\r'; }

vm_verdict() {
	local name=$1 log=$2 rc=$3 timeout=$4 min_ok=$5 clean n
	clean=$(vm_console "$log")
	grep -a '^VMTEST: ' <<<"$clean" | grep -av '^VMTEST: figure ' | sed "s/^VMTEST: /  $name: /"
	if [ "$rc" -eq 124 ]; then
		note "the end of the console:"
		tail -n 60 <<<"$clean" | sed 's/^/  /'
		fail "$name: the machine hung: no power-off within $timeout s"
	fi
	if ! grep -aq '^VMTEST: done ' <<<"$clean"; then
		note "the end of the console:"
		tail -n 60 <<<"$clean" | sed 's/^/  /'
		fail "$name: the machine stopped (qemu exit $rc) before its scenario ended"
	fi
	[ "$rc" -eq 0 ] || fail "$name: qemu exited $rc"
	n=$(grep -ac '^VMTEST: ok ' <<<"$clean")
	if grep -aq '^VMTEST: FAIL\|^VMTEST: done [1-9]' <<<"$clean"; then
		fail "$name: $(grep -a '^VMTEST: FAIL' <<<"$clean" | sed 's/^VMTEST: //' | paste -sd ';' -)"
	fi
	grep -aq '^VMTEST: done 0 failed' <<<"$clean" || fail "$name: no verdict"
	[ "$n" -ge "$min_ok" ] || fail "$name: only $n checks passed (at least $min_ok expected)"
	grep -a '^VMTEST: figure ' <<<"$clean" | sed "s/^VMTEST: figure /  figure: /"
	note "$name: $n checks passed"
}

vm_boot() {
	local name=$1 guest=$2 kdir initrd log rc src
	local mem=512 cpus=2 nodes=1 timeout=600 args= min_ok=1 disks=() extra=()
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--mem) mem=$2 ;;
		--cpus) cpus=$2 ;;
		--nodes) nodes=$2 ;;
		--timeout) timeout=$2 ;;
		--disk) disks+=(--disk "$2") ;;
		--args) args=$2 ;;
		--module) extra+=(--module "$2") ;;
		--min-ok) min_ok=$2 ;;
		*) fail "vm_boot: unknown option '$1'" ;;
		esac
		shift 2
	done
	kdir=$("$top_srcdir/tests/vm/kernel.sh") || fail "no kernel for the machine"
	src=$(corpus_source) || exit 1
	initrd=$ZT_TMP/$name.cpio
	log=$ZT_TMP/$name.log
	"$top_srcdir/tests/vm/initramfs.sh" "$kdir" "$initrd" --scenario "$guest" \
		--bin "$ZPOOLD" --bin "$ZPOOLCTL" \
		--bin "$top_builddir/tests/daemon/swapper" \
		--bin "$top_builddir/tests/vm/nodefill" \
		--bin "$(command -v dd)" --bin "$(command -v zstd)" \
		--file "$src:/corpus.zst" \
		--module fuse --module loop "${extra[@]+"${extra[@]}"}" ||
		fail "cannot build the initramfs"
	rc=0
	"$top_srcdir/tests/vm/run.sh" --kernel "$(ls "$kdir"/boot/vmlinuz-* | sort -V | tail -n 1)" \
		--initrd "$initrd" --log "$log" --mem "$mem" --cpus "$cpus" --nodes "$nodes" \
		--timeout "$timeout" "${disks[@]+"${disks[@]}"}" \
		--append "quiet init=/init ZPOOLD_CORPUS=/corpus.zst -- $args" || rc=$?
	rm -f "$initrd"
	vm_verdict "$name" "$log" "$rc" "$timeout" "$min_ok"
}

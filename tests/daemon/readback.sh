#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# readback.sh - what is written through a volume reads back the same.
#
# The 96 MiB corpus goes through a 256 MiB volume with dd at several block
# sizes, aligned and not, each pass on an emptied volume and compared with
# cmp (read back with a block size of its own); the volume's st_blocks
# (stored bytes / 512) must show the data compressed. Then fio writes
# random 4 KiB blocks and sequential 1 MiB ones, two jobs on disjoint
# halves, and verifies them by their crc32c; and the daemon stops cleanly.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires fio zstd fallocate

VOL_SIZE=$((256 << 20))
vol=$ZT_MNT/vol0

corpus=$(corpus_file) || exit 1
n=$(stat -c %s "$corpus")
[ "$n" -gt $((64 << 20)) ] && [ "$n" -lt $((VOL_SIZE - (1 << 20))) ] ||
	fail "corpus '$corpus' has $n bytes; expected 96 MiB"

write_config "$ZT_TMP/zpoold.conf" <<EOF
[volume vol0]
size = 256M
EOF
start_daemon "$ZT_TMP/zpoold.conf"

# The volume's st_blocks in bytes: what its blocks take in the pool.
stored_bytes() {
	echo $(($(stat -c %b "$vol") * 512))
}

# Empty the whole volume, so that a pass cannot pass on an earlier one's
# data.
punch_all() {
	fallocate -p -o 0 -l $VOL_SIZE "$vol" ||
		fail "punching the whole of '$vol' failed"
	[ "$(stored_bytes)" -eq 0 ] ||
		fail "'$vol' still stores $(stored_bytes) bytes after punching all of it"
}

# write_pass WBS RBS SEEK: write the corpus at byte SEEK with dd bs=WBS,
# then read it back with dd bs=RBS and compare; the bytes just before and
# after it must still be zeros.
write_pass() {
	local wbs=$1 rbs=$2 seek=$3 t0=$SECONDS
	punch_all
	dd if="$corpus" of="$vol" bs="$wbs" seek="$seek" oflag=seek_bytes \
		conv=notrunc status=none ||
		fail "dd bs=$wbs seek=$seek of the corpus to '$vol' failed"
	dd if="$vol" bs="$rbs" skip="$seek" count="$n" \
		iflag=skip_bytes,count_bytes status=none |
		cmp -s - "$corpus" ||
		fail "written with bs=$wbs at byte $seek, read with bs=$rbs:" \
			"$(dd if="$vol" bs="$rbs" skip="$seek" count="$n" \
				iflag=skip_bytes,count_bytes status=none |
				cmp - "$corpus" 2>&1)"
	# cmp reads with its own buffer size: a third read pattern.
	cmp -s -i "$seek:0" -n "$n" "$vol" "$corpus" ||
		fail "written with bs=$wbs at byte $seek: cmp of the volume" \
			"differs: $(cmp -i "$seek:0" -n "$n" "$vol" "$corpus" 2>&1)"
	if [ "$seek" -gt 0 ]; then
		cmp -s -n "$seek" "$vol" /dev/zero ||
			fail "bs=$wbs seek=$seek: the $seek bytes before the data" \
				"are not zeros"
	fi
	cmp -s -i "$((seek + n)):0" -n 12288 "$vol" /dev/zero ||
		fail "bs=$wbs seek=$seek: the 12 KiB after the data are not zeros"
	note "dd bs=$wbs at byte $seek, read back with bs=$rbs: ok" \
		"($((SECONDS - t0)) s)"
}

write_pass 4k 1M 0
stored=$(stored_bytes)
note "$n bytes of corpus stored in $stored bytes" \
	"(st_blocks $((stored / 512)), ratio $((n * 100 / (stored ? stored : 1))) %)"
# The corpus compresses about 2.3x; st_blocks must show it (and not 0).
[ "$stored" -gt $((n / 10)) ] ||
	fail "st_blocks says $stored bytes stored for $n bytes of corpus"
[ "$stored" -lt $((n * 6 / 10)) ] ||
	fail "st_blocks says $stored bytes stored for $n bytes of corpus," \
		"which compresses about 2.3x"
write_pass 1M 4k 0
write_pass 64k 12345 0
write_pass 12345 64k 0
write_pass 1M 1M 777
write_pass 12345 4k 777
punch_all

# run_fio NAME ARGS...: two jobs on disjoint halves of the volume, written
# then verified by crc32c; fio must succeed and report no error.
run_fio() {
	local name=$1 out=$ZT_TMP/fio-$1.txt t0=$SECONDS
	shift
	timeout 120 fio --name="$name" --filename="$vol" --numjobs=2 --direct=1 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
		--output="$out" "$@" ||
		fail "fio $name failed: $(grep -iE 'err|verify|bad' "$out" | head -n 20)"
	[ "$(grep -c 'err= 0:' "$out")" -eq 2 ] ||
		fail "fio $name: not every job reports err= 0: $(grep 'err=' "$out")"
	! grep -qiE 'verify: |bad magic|crc32c.*(fail|mismatch)|verify fail' "$out" ||
		fail "fio $name reports verify errors: $(grep -iE 'verify|bad' "$out" | head)"
	# The verify phase must have read back everything written.
	grep -qE "READ: .*io=$((VOL_SIZE >> 20))MiB" "$out" ||
		fail "fio $name did not read back $((VOL_SIZE >> 20)) MiB: $(grep -E 'READ:|WRITE:' "$out")"
	note "fio $name: ok ($((SECONDS - t0)) s)"
}

run_fio randwrite-4k --rw=randwrite --bs=4k --ioengine=libaio --iodepth=16 \
	--size=$((VOL_SIZE / 2)) --offset_increment=$((VOL_SIZE / 2))
punch_all
run_fio write-1m --rw=write --bs=1M --ioengine=psync \
	--size=$((VOL_SIZE / 2)) --offset_increment=$((VOL_SIZE / 2))

stop_daemon
note "ok"

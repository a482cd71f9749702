#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# concurrent.sh - parallel writers and readers on two volumes, and stopping.
#
# Four dd writers put different parts of the corpus into different regions
# of two volumes at once (block sizes 4k, 1M, 64k and 12345; two regions
# start at an odd byte), while fio writes and verifies a region of each
# volume, readers compare a region written before (which nobody touches)
# again and again, and one reader scans a whole volume. Afterwards every
# region must read back as written. Then SIGTERM stops the daemon within the
# timeout (no volume is swap), also while a reader keeps it busy, and
# SIGINT does too.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires fio zstd

MiB=$((1 << 20))
SLICE=$((24 * MiB))
corpus=$(corpus_file) || exit 1

write_config "$ZT_TMP/zpoold.conf" <<EOF
[volume vol0]
size = 256M

[volume vol1]
size = 256M
EOF
start_daemon "$ZT_TMP/zpoold.conf"

# Writer i: corpus slice i (24 MiB) into volume VOL at byte OFF with bs BS.
vols=(vol0 vol1 vol0 vol1)
offs=(0 0 $((128 * MiB + 777)) $((128 * MiB + 777)))
bss=(4k 1M 64k 12345)
# A region nobody writes during the test, read and compared throughout.
STABLE_OFF=$((200 * MiB))
STABLE_LEN=$((16 * MiB))
# fio's region on each volume.
FIO_OFF=$((224 * MiB))
FIO_LEN=$((32 * MiB))

dd if="$corpus" of="$ZT_TMP/stable" bs=1M skip=80 count=16 status=none
for v in vol0 vol1; do
	dd if="$ZT_TMP/stable" of="$ZT_MNT/$v" bs=1M seek=200 conv=notrunc \
		status=none || fail "writing the stable region of $v failed"
done

# reader_loop VOL: compare the stable region of VOL until $ZT_TMP/stop
# exists; the number of passes goes to $ZT_TMP/passes-VOL.
reader_loop() {
	local n=0
	trap - EXIT
	while [ $n -eq 0 ] || [ ! -e "$ZT_TMP/stop" ]; do
		cmp -s -i $STABLE_OFF:0 -n $STABLE_LEN "$ZT_MNT/$1" "$ZT_TMP/stable" ||
			{ echo "$1: the stable region changed while others wrote" >&2; exit 1; }
		n=$((n + 1))
	done
	echo $n >"$ZT_TMP/passes-$1"
}

# scan_loop VOL: read all of VOL with 1 MiB reads until $ZT_TMP/stop.
scan_loop() {
	local n=0
	trap - EXIT
	while [ $n -eq 0 ] || [ ! -e "$ZT_TMP/stop" ]; do
		dd if="$ZT_MNT/$1" of=/dev/null bs=1M status=none ||
			{ echo "$1: scanning failed" >&2; exit 1; }
		n=$((n + 1))
	done
	echo $n >"$ZT_TMP/passes-scan"
}

t0=$SECONDS
run_bg reader_loop vol0
run_bg reader_loop vol1
run_bg scan_loop vol0
readers=${#ZT_BG[@]}
writers=()
for i in 0 1 2 3; do
	run_bg dd if="$corpus" of="$ZT_MNT/${vols[$i]}" bs="${bss[$i]}" \
		skip=$((i * SLICE)) count=$SLICE seek="${offs[$i]}" \
		iflag=skip_bytes,count_bytes oflag=seek_bytes conv=notrunc status=none
	writers+=("${ZT_BG[-1]}")
done
for v in vol0 vol1; do
	run_bg timeout 120 fio --name="fio-$v" --filename="$ZT_MNT/$v" --rw=randwrite \
		--bs=4k --ioengine=libaio --iodepth=8 --direct=1 \
		--offset=$FIO_OFF --size=$FIO_LEN --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --verify_state_save=0 --output="$ZT_TMP/fio-$v.txt"
	writers+=("${ZT_BG[-1]}")
done
# The writers first, while the readers go on.
for ((i = 0; i < ${#writers[@]}; i++)); do
	wait_pid "${writers[$i]}" 60
	rc=$?
	[ $rc -eq 0 ] || fail "writer $i (pid ${writers[$i]}) ended with status $rc" \
		"$([ -f "$ZT_TMP/fio-vol$((i - 4)).txt" ] &&
			grep -iE 'err|verify' "$ZT_TMP/fio-vol$((i - 4)).txt" 2>/dev/null)"
done
touch "$ZT_TMP/stop"
wait_bg 60
note "4 dd writers, 2 fio jobs and $readers readers: done in $((SECONDS - t0)) s" \
	"(stable region compared $(cat "$ZT_TMP/passes-vol0") and" \
	"$(cat "$ZT_TMP/passes-vol1") times, vol0 scanned $(cat "$ZT_TMP/passes-scan"))"
for v in vol0 vol1; do
	[ "$(grep -c 'err= 0:' "$ZT_TMP/fio-$v.txt")" -eq 1 ] ||
		fail "fio on $v: $(grep -E 'err=|verify' "$ZT_TMP/fio-$v.txt")"
done

# Every region as written.
for i in 0 1 2 3; do
	cmp -s -i "${offs[$i]}:$((i * SLICE))" -n $SLICE \
		"$ZT_MNT/${vols[$i]}" "$corpus" ||
		fail "region $i (${vols[$i]} at byte ${offs[$i]}, bs ${bss[$i]}):" \
			"$(cmp -i "${offs[$i]}:$((i * SLICE))" -n $SLICE \
				"$ZT_MNT/${vols[$i]}" "$corpus" 2>&1)"
done
for v in vol0 vol1; do
	cmp -s -i $STABLE_OFF:0 -n $STABLE_LEN "$ZT_MNT/$v" "$ZT_TMP/stable" ||
		fail "the stable region of $v changed"
	# Around the regions: untouched blocks still read as zeros.
	cmp -s -i $SLICE -n $((128 * MiB - SLICE)) "$ZT_MNT/$v" /dev/zero ||
		fail "$v: bytes between the first region and the second are not zeros"
	cmp -s -n 777 -i $((128 * MiB)) "$ZT_MNT/$v" /dev/zero ||
		fail "$v: the 777 bytes before the second region are not zeros"
done
note "all regions read back"

# --- stopping ------------------------------------------------------------------

# SIGTERM with no swap: stops within the timeout, unmounts, exits 0.
t0=$(date +%s%N)
stop_daemon 10
note "SIGTERM: stopped in $((($(date +%s%N) - t0) / 1000000)) ms"
grep -q "stopped" "$ZT_TMP/zpoold.log" || fail "the log does not say 'stopped'"

# The same while a reader keeps every worker busy.
mv "$ZT_TMP/zpoold.log" "$ZT_TMP/zpoold-1.log"
start_daemon "$ZT_TMP/zpoold.conf"
busy_loop() {
	trap - EXIT
	while dd if="$ZT_MNT/vol0" of=/dev/null bs=1M status=none 2>/dev/null; do :; done
}
run_bg busy_loop
run_bg busy_loop
sleep 0.5
t0=$(date +%s%N)
stop_daemon 10
note "SIGTERM during reads: stopped in $((($(date +%s%N) - t0) / 1000000)) ms"
# The readers end on their own (their volume is gone) or are ended here.
for pid in "${ZT_BG[@]}"; do
	wait_pid "$pid" 5 >/dev/null 2>&1
	[ $? -ne 124 ] || note "a reader still runs after the stop (pid $pid)"
done
_zt_kill_bg

# SIGINT stops it as well.
mv "$ZT_TMP/zpoold.log" "$ZT_TMP/zpoold-2.log"
start_daemon "$ZT_TMP/zpoold.conf"
kill -INT "$ZT_PID"
wait_pid "$ZT_PID" 10
rc=$?
[ $rc -ne 124 ] || fail "zpoold did not stop within 10 s of SIGINT"
[ $rc -eq 0 ] || fail "zpoold exited with status $rc on SIGINT"
ZT_PID=
! grep -q " $ZT_MNT " /proc/mounts || fail "zpoold left its mount after SIGINT"
grep -q "Interrupt received" "$ZT_TMP/zpoold.log" ||
	fail "the log does not say SIGINT was received"
note "ok"

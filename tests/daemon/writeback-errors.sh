#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# writeback-errors.sh - what goes wrong with the backing file is reported
# or survived, and no block is lost to it.
#
# 1. Start-up: a backing file that cannot be had stops zpoold before it
#    mounts anything, with a message naming the file and saying why: on a
#    read-only file system (an existing file and a missing one, on a
#    read-only tmpfs), in a directory that does not exist, and larger than
#    its file system has room for (an 8 MiB tmpfs: the message gives the
#    free bytes, and no file is left behind).
# 2. A full backing file: 256 KiB (64 slots) behind a 4 MiB pool. dd bs=4k
#    writes much more than both hold: it must end with "No space left on
#    device", the daemon keeps running, nospc_stores is above 0, and every
#    byte dd reported as written reads back as written; the same with a
#    bs=1M writer. Then most of the data is discarded, after which writes
#    succeed again.
# 3. Injected errors (tests/shrinker/fault-shim.c, preloaded into zpoold
#    only; built here with cc):
#    - "write EIO": 32 MiB written behind a 4 MiB pool all succeed and read
#      back, writeback_failures is above 0, written_back_pages and
#      slots_used do not move (a failed write puts nothing on disk), and
#      the log reports the errors once for the burst, not once per
#      failed write;
#    - "off": writeback resumes (written_back_pages grows) and the pool
#      comes back within its bound;
#    - "read EIO": a direct read of a block that is on disk fails with EIO,
#      and stays failing while the fault lasts; wb_read_errors and the
#      volume's read_errors count it; with "read EIO 1" (one failed read)
#      a read of the whole volume fails for exactly one block and returns
#      every other one intact; after "off" every block, the failed ones
#      included, reads back as written.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires zstd fallocate cmp cc

MiB=$((1 << 20))
EIO_MSG="Input/output error"
ENOSPC_MSG="No space left on device"
corpus=$(corpus_file) || exit 1

# mount_tmpfs DIR SIZE: a tmpfs of SIZE at DIR, unmounted at exit.
mount_tmpfs() {
	mkdir -p "$1" || fail "cannot make '$1'"
	mount -t tmpfs -o size="$2",mode=0700 zpoold-test "$1" ||
		fail "cannot mount a tmpfs at '$1'"
	on_exit "umount -l $1"
}

# refused WHAT MSG CONF: zpoold -c CONF fails, its message contains MSG and
# the path of the backing file, and nothing was mounted.
refused() {
	local what=$1 msg=$2 conf=$3 path
	path=$(sed -n 's/^file = //p' "$conf")
	expect_fail "$path" timeout 10 "$ZPOOLD" -c "$conf"
	[ "$ZT_RC" -ne 124 ] ||
		fail "$what: zpoold started instead of refusing: $ZT_ERR"
	case $ZT_ERR in
	*"$msg"*) ;;
	*) fail "$what: the message lacks '$msg': $ZT_ERR" ;;
	esac
	! grep -q " $ZT_MNT " /proc/mounts ||
		fail "$what: something is mounted at '$ZT_MNT'"
	note "$what: refused (status $ZT_RC): $(grep -v '^$' <<<"$ZT_ERR" | tail -n 1)"
}

# wb_config FILE SIZE [LINES...]: a configuration with a 64 MiB volume and
# the backing file FILE of SIZE; LINES go to its [pool] section.
wb_config() {
	local file=$1 size=$2
	shift 2
	write_config "$ZT_TMP/zpoold.conf" <<EOF
[pool]
$(printf '%s\n' "$@")

[writeback]
file = $file
size = $size

[volume vol0]
size = 128M
EOF
}

# --- 1. start-up errors ------------------------------------------------------------
ro=$ZT_TMP/ro
mount_tmpfs "$ro" 8M
touch "$ro/backing" || fail "cannot make '$ro/backing'"
mount -o remount,ro "$ro" || fail "cannot remount '$ro' read-only"
wb_config "$ro/backing" 1M
refused "an existing file on a read-only file system" \
	"Read-only file system" "$ZT_TMP/zpoold.conf"
wb_config "$ro/new" 1M
refused "a new file on a read-only file system" \
	"Read-only file system" "$ZT_TMP/zpoold.conf"

wb_config "$ZT_TMP/nonexistent/backing" 1M
refused "a missing directory" "No such file or directory" "$ZT_TMP/zpoold.conf"

small=$ZT_TMP/small
mount_tmpfs "$small" 8M
wb_config "$small/backing" 64M
refused "64 MiB on an 8 MiB file system" "bytes free" "$ZT_TMP/zpoold.conf"
case $ZT_ERR in
*"$ENOSPC_MSG"*) ;;
*) fail "too large a file: the message lacks '$ENOSPC_MSG': $ZT_ERR" ;;
esac
[ ! -e "$small/backing" ] || fail "the refused backing file was left behind"
[ "$(df --output=used -B1 "$small" | tail -n 1)" -lt $((MiB)) ] ||
	fail "the refused backing file left $(df --output=used -B1 "$small" |
		tail -n 1) bytes used on '$small'"

# --- 2. a full backing file ---------------------------------------------------------
# dd_written FILE: the bytes a dd whose stderr is in FILE reported copied.
dd_written() {
	sed -n 's/^\([0-9][0-9]*\) bytes.* copied.*/\1/p' "$1" | tail -n 1
}

# fill_until_full BS OFF LEN WHAT: write LEN bytes of the corpus at OFF
# (also the corpus's offset) with dd bs=BS; it must fail with ENOSPC, and
# what it reported written must read back. Sets written.
fill_until_full() {
	local bs=$1 off=$2 len=$3 what=$4 rc=0 err=$ZT_TMP/dd.err
	dd if="$corpus" of="$ZT_MNT/vol0" bs="$bs" skip="$off" seek="$off" \
		count="$len" iflag=skip_bytes,count_bytes oflag=seek_bytes \
		conv=notrunc 2>"$err" || rc=$?
	written=$(dd_written "$err")
	[ $rc -ne 0 ] ||
		fail "$what: dd wrote all $len bytes although the pool and the" \
			"backing file hold far less"
	grep -q "$ENOSPC_MSG" "$err" ||
		fail "$what: dd failed without '$ENOSPC_MSG': $(cat "$err")"
	[ -n "$written" ] || fail "$what: no byte count from dd: $(cat "$err")"
	daemon_alive || fail "$what: zpoold died"
	note "$what: dd wrote $written of $len bytes, then: $(grep -m1 "$ENOSPC_MSG" "$err")"
	if [ "$written" -gt 0 ]; then
		cmp -s <(dd if="$ZT_MNT/vol0" bs=64k skip="$off" count="$written" \
			iflag=direct,skip_bytes,count_bytes status=none) \
			<(dd if="$corpus" bs=64k skip="$off" count="$written" \
				iflag=skip_bytes,count_bytes status=none) ||
			fail "$what: the $written bytes dd wrote do not read back"
	fi
}

wb_config "$ZT_TMP/backing-small" 256K "max_pool_size = 4M"
start_daemon "$ZT_TMP/zpoold.conf"
slots_total=$(daemon_stat slots_total)
[ "$slots_total" -eq 64 ] || fail "slots_total is $slots_total for 256K, expected 64"
fill_until_full 4k 0 $((48 * MiB)) "bs=4k into a full backing file"
w1=$written
[ "$w1" -gt 0 ] || fail "bs=4k: nothing at all could be written"
fill_until_full 1M $((64 * MiB)) $((32 * MiB)) "bs=1M into a full backing file"
w2=$written
nospc=$(daemon_stat nospc_stores)
note "nospc_stores $nospc, slots_used $(daemon_stat slots_used) of" \
	"$slots_total, pool_pages $(daemon_stat pool_pages) (limit" \
	"$(daemon_stat pool_limit_pages)), written_back_pages" \
	"$(daemon_stat written_back_pages)"
[ "$nospc" -gt 0 ] || fail "nospc_stores is 0 after writes failed with ENOSPC"
# The file is full: by writeback, or by stores that bypassed the full pool
# straight to disk (which of the two depends on how fast the shrinker ran).
[ "$(daemon_stat slots_used)" -eq "$slots_total" ] ||
	fail "ENOSPC with the 256K file not full ($(daemon_stat slots_used) of $slots_total slots)"
[ $(($(daemon_stat written_back_pages) + $(daemon_stat bypassed_stores))) -gt 0 ] ||
	fail "nothing reached the 256K file"
# Both pieces once more, after everything else happened.
cmp -s -n "$w1" "$ZT_MNT/vol0" "$corpus" ||
	fail "the first $w1 bytes do not read back any more"
if [ "$w2" -gt 0 ]; then
	cmp -s -n "$w2" -i $((64 * MiB)):$((64 * MiB)) "$ZT_MNT/vol0" "$corpus" ||
		fail "the $w2 bytes at 64 MiB do not read back any more"
fi

# Space comes back: with most blocks discarded, a write succeeds again.
fallocate --punch-hole --keep-size -o 0 -l $((64 * MiB)) "$ZT_MNT/vol0" ||
	fail "discarding 64 MiB failed"
fallocate --punch-hole --keep-size -o $((64 * MiB)) -l $((32 * MiB)) \
	"$ZT_MNT/vol0" || fail "discarding 32 MiB failed"
write_again() {
	dd if="$corpus" of="$ZT_MNT/vol0" bs=64k skip=$((96 * MiB - 4 * MiB)) \
		seek=$((100 * MiB)) count=$((1 * MiB)) \
		iflag=skip_bytes,count_bytes oflag=seek_bytes conv=notrunc \
		status=none 2>/dev/null
}
wait_until 10 write_again ||
	fail "1 MiB still cannot be written 10 s after everything was discarded"
cmp -s -n $((1 * MiB)) -i $((100 * MiB)):$((92 * MiB)) "$ZT_MNT/vol0" \
	"$corpus" || fail "the 1 MiB written after the discard does not read back"
note "after discarding everything, 1 MiB could be written again"
stop_daemon

# --- 3. injected errors -----------------------------------------------------------
shim=$ZT_TMP/fault-shim.so
cc -shared -fPIC -O2 -o "$shim" "$top_srcdir/tests/shrinker/fault-shim.c" \
	-ldl || fail "cannot build the fault shim"
backing=$ZT_TMP/backing
ctl=$ZT_TMP/fault-ctl
count=$ZT_TMP/fault-count
# The shim goes into zpoold only (it also takes LD_PRELOAD out of its
# environment, for what zpoold runs); an AddressSanitizer build must be told
# that its runtime need not come first.
cat >"$ZT_TMP/zpoold-shim" <<EOF
#!/bin/sh
exec env LD_PRELOAD='$shim' ZT_FAULT_PATH='$backing' ZT_FAULT_CTL='$ctl' \
	ZT_FAULT_COUNT='$count' \
	ASAN_OPTIONS='${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0' \
	'$ZPOOLD' "\$@"
EOF
chmod +x "$ZT_TMP/zpoold-shim"

# set_fault ORDER: a new control file (a new inode, so the shim sees the
# change even within one timestamp tick).
set_fault() {
	echo "$1" >"$ctl.new" && mv "$ctl.new" "$ctl" ||
		fail "cannot write '$ctl'"
}
faults() {
	awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' \
		"$count" 2>/dev/null
}
# Log lines that report a failed transfer (not the statistics).
eio_lines() {
	grep -v 'stats: ' "$ZT_TMP/zpoold.log" | grep -c "$EIO_MSG"
}

LIMIT=$((4 * MiB))
BATCH=64
THREADS=4
CHAIN=8
LEN=$((32 * MiB))
set_fault off
write_config "$ZT_TMP/zpoold.conf" <<EOF
threads = $THREADS

[pool]
max_pool_size = $LIMIT
max_zspage_pages = $CHAIN

[writeback]
file = $backing
size = 64M
batch_pages = $BATCH
# No writeback on memory pressure, which other tests on the machine may
# cause at any time: the counts compared here must not move on their own.
psi_stall_ms = 0

[volume vol0]
size = 128M
EOF
real_zpoold=$ZPOOLD
ZPOOLD=$ZT_TMP/zpoold-shim
start_daemon "$ZT_TMP/zpoold.conf"
ZPOOLD=$real_zpoold
[ -f "$count" ] || fail "the fault shim was not loaded into zpoold"
grep -q "fault-shim.so" "/proc/$ZT_PID/maps" ||
	fail "the fault shim is not mapped in zpoold"
limit_pages=$(daemon_stat pool_limit_pages)
# The bound of writeback.sh: the limit, one batch on its way to disk, and
# per worker a new zspage and a one-page raw object.
BOUND=$((limit_pages + BATCH + THREADS * (CHAIN + 1)))

# write EIO: nothing reaches the disk, nothing is lost.
set_fault "write EIO"
wb0=$(daemon_stat written_back_pages)
slots0=$(daemon_stat slots_used)
lines0=$(eio_lines)
dd if="$corpus" of="$ZT_MNT/vol0" bs=1M count=$((LEN / MiB)) conv=notrunc \
	status=none || fail "writing $LEN bytes failed while writeback failed"
# The pool is over its limit: give the shrinker time to try again.
sleep 3
failures=$(daemon_stat writeback_failures)
wb1=$(daemon_stat written_back_pages)
slots1=$(daemon_stat slots_used)
wfaults=$(faults writes)
lines=$(($(eio_lines) - lines0))
note "write EIO: $wfaults writes failed, writeback_failures $failures," \
	"written_back_pages $wb0 -> $wb1, slots_used $slots0 -> $slots1," \
	"pool_pages $(daemon_stat pool_pages) (limit $limit_pages);" \
	"$lines log line(s) say '$EIO_MSG'"
grep -v 'stats: ' "$ZT_TMP/zpoold.log" | grep "$EIO_MSG" | head -n 3 |
	sed 's/^/  log: /'
[ "${wfaults:-0}" -gt 0 ] || fail "the shim made no write fail"
[ "$failures" -gt 0 ] || fail "writeback_failures is 0 after $wfaults failed writes"
[ "$wb1" -eq "$wb0" ] ||
	fail "written_back_pages went from $wb0 to $wb1 although every write failed"
[ "$slots1" -eq "$slots0" ] ||
	fail "slots_used went from $slots0 to $slots1 although every write failed"
[ "$lines" -ge 1 ] || fail "the log does not report the failed writeback"
# One burst of failures: at most a line when it starts and one more (the
# same error again, or its end); never one per failed write.
[ "$lines" -le 2 ] ||
	fail "$lines log lines for one burst of $wfaults failed writes"
[ "$wfaults" -gt 2 ] ||
	note "warning: only $wfaults writes were tried: too few to tell one" \
		"line per burst from one per failure"
cmp -s -n $LEN "$ZT_MNT/vol0" "$corpus" ||
	fail "the $LEN bytes written while writeback failed do not read back"

# off: writeback resumes, the pool comes back within its bound.
set_fault off
wb_grew() { [ "$(daemon_stat written_back_pages)" -gt "$wb1" ]; }
resumed=
for ((i = 0; i < 20; i++)); do
	wb_grew && resumed="by itself" && break
	sleep 0.5
done
if [ -z "$resumed" ]; then
	# The shrinker may wait for the next store to try again.
	dd if="$corpus" of="$ZT_MNT/vol0" bs=1M skip=$((LEN / MiB)) \
		seek=$((LEN / MiB)) count=1 conv=notrunc status=none ||
		fail "writing 1 MiB more failed"
	for ((i = 0; i < 20; i++)); do
		wb_grew && resumed="after 1 MiB more was written" && break
		sleep 0.5
	done
	LEN=$((LEN + MiB))
fi
[ -n "$resumed" ] ||
	fail "written_back_pages stayed $wb1 for 20 s after the errors stopped"
pool_within() { [ "$(daemon_stat pool_pages)" -le "$BOUND" ]; }
for ((i = 0; i < 20; i++)); do
	pool_within && break
	sleep 0.5
done
pool_within ||
	fail "pool_pages is $(daemon_stat pool_pages), above $BOUND, 10 s after" \
		"writeback resumed"
wb2=$(daemon_stat written_back_pages)
note "off: writeback resumed $resumed: written_back_pages $wb2," \
	"slots_used $(daemon_stat slots_used), pool_pages" \
	"$(daemon_stat pool_pages) (bound $BOUND); $(($(eio_lines) - lines0))" \
	"log line(s) say '$EIO_MSG' in all"
cmp -s -n $LEN "$ZT_MNT/vol0" "$corpus" ||
	fail "the $LEN bytes do not read back after writeback resumed"

# read EIO: the reads of on-disk blocks fail, only those, and only while
# the fault lasts.
disk=$(daemon_stat volume.vol0.blocks_disk)
[ "$disk" -gt 0 ] || fail "volume.vol0.blocks_disk is 0: no block to fail reading"
set_fault "read EIO"
rerr0=$(daemon_stat wb_read_errors)
verr0=$(daemon_stat volume.vol0.read_errors)
rfaults0=$(faults reads)
read_block() {
	dd if="$ZT_MNT/vol0" of="$ZT_TMP/block" bs=4k skip="$1" count=1 \
		iflag=direct status=none 2>"$ZT_TMP/read.err"
}
bad=
for ((b = 0; b < LEN / 4096; b++)); do
	if ! read_block $b; then
		bad=$b
		break
	fi
	cmp -s -n 4096 -i 0:$((b * 4096)) "$ZT_TMP/block" "$corpus" ||
		fail "block $b reads back wrong with reads of the backing file failing"
done
[ -n "$bad" ] ||
	fail "no block of $((LEN / 4096)) failed to read with reads of the" \
		"backing file failing ($disk blocks on disk)"
grep -q "$EIO_MSG" "$ZT_TMP/read.err" ||
	fail "block $bad failed to read without '$EIO_MSG': $(cat "$ZT_TMP/read.err")"
read_block "$bad" && fail "block $bad read fine the second time, still failing"
rerr=$(daemon_stat wb_read_errors)
verr=$(daemon_stat volume.vol0.read_errors)
note "read EIO: block $bad (the first $bad read fine) fails:" \
	"$(head -n 1 "$ZT_TMP/read.err"); $(($(faults reads) - rfaults0)) reads" \
	"failed, wb_read_errors $rerr0 -> $rerr, volume.vol0.read_errors $verr0 -> $verr"
[ "$rerr" -gt "$rerr0" ] || fail "wb_read_errors stayed $rerr0"
[ "$verr" -gt "$verr0" ] || fail "volume.vol0.read_errors stayed $verr0"
daemon_alive || fail "zpoold died on a failed read"

# One failed read in a read of everything: one block missing, every other
# one intact.
set_fault "read EIO 1"
dd if="$ZT_MNT/vol0" of="$ZT_TMP/all" bs=4k count=$((LEN / 4096)) \
	iflag=direct conv=noerror,sync 2>"$ZT_TMP/all.err"
nerr=$(grep -c "$EIO_MSG" "$ZT_TMP/all.err")
[ "$nerr" -eq 1 ] ||
	fail "reading everything with one read of the backing file failing:" \
		"$nerr errors: $(head -n 5 "$ZT_TMP/all.err")"
# The blocks that differ from the corpus (dd fills the failed one with
# zeros).
cmp -l "$ZT_TMP/all" <(head -c $LEN "$corpus") |
	awk '{ print int(($1 - 1) / 4096), $2 }' >"$ZT_TMP/diff"
ndiff=$(cut -d' ' -f1 "$ZT_TMP/diff" | uniq | wc -l)
[ "$ndiff" -le 1 ] ||
	fail "$ndiff blocks differ from the corpus after one failed read:" \
		"$(cut -d' ' -f1 "$ZT_TMP/diff" | uniq | head -n 5 | tr '\n' ' ')"
awk '$2 != 0 { bad = 1 } END { exit bad }' "$ZT_TMP/diff" ||
	fail "the block that failed to read holds data that is not the corpus's"
note "read EIO 1: one read of $((LEN / 4096)) blocks failed," \
	"$ndiff block(s) missing, every other one intact"

# off: the blocks whose reads failed were not lost.
set_fault off
read_block "$bad" || fail "block $bad still fails with the fault gone: $(cat "$ZT_TMP/read.err")"
cmp -s -n 4096 -i 0:$((bad * 4096)) "$ZT_TMP/block" "$corpus" ||
	fail "block $bad reads back wrong after its failed reads"
dd if="$ZT_MNT/vol0" bs=1M count=$LEN iflag=direct,count_bytes status=none |
	cmp -s - <(head -c $LEN "$corpus") ||
	fail "the $LEN bytes do not read back after the failed reads"
note "off: block $bad and everything else read back as written"

if grep -q 'Sanitizer\|runtime error:' "$ZT_TMP/zpoold.log"; then
	grep -m 5 'Sanitizer\|runtime error:' "$ZT_TMP/zpoold.log"
	fail "a sanitizer reported an error"
fi
stop_daemon
note "ok"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ops.sh - what may and may not be done at the mount point.
#
# The mount is a fixed set of fixed-size files: creating, removing,
# renaming, linking, changing modes or owners and resizing fail with EPERM;
# "resizing" to the same size succeeds. I/O stops at the end of a volume:
# a write there fails with ENOSPC, one across it is cut short, reads there
# return nothing. fsync, sync and statfs work. Punching holes and zeroing
# ranges read back as zeros, give the pool memory back, and touch only the
# bytes asked for.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires zstd fallocate truncate

SMALL=$((64 << 20))
BIG=$((1 << 30))
small=$ZT_MNT/small
big=$ZT_MNT/big
EPERM="Operation not permitted"
ENOSPC="No space left on device"

corpus=$(corpus_file) || exit 1

write_config "$ZT_TMP/zpoold.conf" <<EOF
[pool]
# Free pool pages go back to the system at once, for the statfs checks.
release_delay_ms = 0

[volume small]
size = 64M

[volume big]
size = 1G
EOF
start_daemon "$ZT_TMP/zpoold.conf"

stored_bytes() {
	echo $(($(stat -c %b "$1") * 512))
}

# Free blocks of the pool as statfs reports them.
free_blocks() {
	stat -f -c %f "$ZT_MNT"
}

# --- the directory -----------------------------------------------------------

listing=$(ls -1 "$ZT_MNT" | tr '\n' ' ')
[ "$listing" = "big small " ] ||
	fail "ls of the mount lists '$listing'; expected 'big small '"
[ "$(stat -c %s "$small")" -eq $SMALL ] ||
	fail "'$small' is $(stat -c %s "$small") bytes; expected $SMALL"
[ "$(stat -c %s "$big")" -eq $BIG ] ||
	fail "'$big' is $(stat -c %s "$big") bytes; expected $BIG"
[ "$(stat -c '%F %a %u %g' "$small")" = "regular file 600 0 0" ] ||
	fail "'$small' is '$(stat -c '%F %a %u %g' "$small")';" \
		"expected a regular file, mode 600, owned by root"
expect_fail "No such file or directory" stat "$ZT_MNT/nothing"

# --- what may not change -----------------------------------------------------

expect_fail "$EPERM" touch "$ZT_MNT/new"
expect_fail "$EPERM" mknod "$ZT_MNT/fifo" p
expect_fail "$EPERM" mkdir "$ZT_MNT/dir"
expect_fail "$EPERM" rm -f "$small"
expect_fail "$EPERM" mv "$small" "$ZT_MNT/moved"
expect_fail "$EPERM" mv "$small" "$big"
expect_fail "$EPERM" ln "$small" "$ZT_MNT/hard"
expect_fail "$EPERM" ln -s small "$ZT_MNT/soft"
expect_fail "$EPERM" chmod 644 "$small"
expect_fail "$EPERM" chown nobody "$small"
expect_fail "$EPERM" chgrp nogroup "$small"
expect_fail "$EPERM" truncate -s 1M "$small"
expect_fail "$EPERM" truncate -s 128M "$small"
expect_fail "$EPERM" truncate -s 0 "$small"
truncate -s $SMALL "$small" || fail "truncating '$small' to its own size failed"
touch "$small" || fail "touch (setting times) of '$small' failed"
# Growing with fallocate is resizing too; allocating inside is a no-op.
expect_fail "File too large" fallocate -o $((SMALL - 4096)) -l 8192 "$small"
# Zeroing past the end would grow the file too; with KEEP_SIZE it is
# clipped at the end.
expect_fail "File too large" fallocate -z -o $((SMALL - 4096)) -l 8192 "$small"
fallocate -z -n -o $((SMALL - 4096)) -l 8192 "$small" ||
	fail "fallocate -z -n across the end of '$small' failed"
fallocate -o 0 -l 1M "$small" || fail "fallocate inside '$small' failed"

listing=$(ls -1 "$ZT_MNT" | tr '\n' ' ')
[ "$listing" = "big small " ] ||
	fail "after the refused operations ls lists '$listing'"
[ "$(stat -c '%s %a %u' "$small")" = "$SMALL 600 0" ] ||
	fail "after the refused operations '$small' is" \
		"'$(stat -c '%s %a %u' "$small")'"

# open(O_TRUNC) fails with EPERM and loses no data (libfuse's atomic
# O_TRUNC brings the flag to open rather than as a resize).
dd if="$corpus" of="$small" bs=64k count=1 conv=notrunc status=none ||
	fail "writing 64 KiB to '$small' failed"
if (: >"$small") 2>"$ZT_TMP/trunc.err"; then
	fail "open(O_TRUNC) of a volume succeeded"
fi
grep -q "$EPERM" "$ZT_TMP/trunc.err" ||
	fail "open(O_TRUNC) failed with: $(cat "$ZT_TMP/trunc.err")"
[ "$(stat -c %s "$small")" -eq $SMALL ] ||
	fail "open(O_TRUNC) left '$small' at $(stat -c %s "$small") bytes"
cmp -s -n 65536 "$small" "$corpus" ||
	fail "open(O_TRUNC) changed the data of '$small'"

# --- the end of a volume -----------------------------------------------------

dd if=/dev/urandom of="$ZT_TMP/rand" bs=64k count=1 status=none

# A write that starts at the end.
expect_fail "$ENOSPC" dd if="$ZT_TMP/rand" of="$small" bs=4k count=1 \
	seek=$SMALL oflag=seek_bytes conv=notrunc
# A write that crosses it: the 4 KiB before the end are written, dd then
# fails on the rest.
expect_fail "$ENOSPC" dd if="$ZT_TMP/rand" of="$small" bs=12k count=1 \
	seek=$((SMALL - 4096)) oflag=seek_bytes conv=notrunc
case $ZT_ERR in
*"4096 bytes"*) ;;
*) fail "a 12 KiB write 4 KiB before the end: dd says '$ZT_ERR';" \
	"expected 4096 bytes written" ;;
esac
cmp -s -i $((SMALL - 4096)):0 -n 4096 "$small" "$ZT_TMP/rand" ||
	fail "the 4 KiB before the end of '$small' are not what was written"
# The same, unaligned: 1000 bytes fit.
expect_fail "$ENOSPC" dd if="$ZT_TMP/rand" of="$small" bs=5000 count=1 \
	seek=$((SMALL - 1000)) oflag=seek_bytes conv=notrunc
case $ZT_ERR in
*"1000 bytes"*) ;;
*) fail "a 5000-byte write 1000 bytes before the end: dd says '$ZT_ERR'" ;;
esac
cmp -s -i $((SMALL - 1000)):0 -n 1000 "$small" "$ZT_TMP/rand" ||
	fail "the 1000 bytes before the end of '$small' are not what was written"
cmp -s -i $((SMALL - 4096)):0 -n 3096 "$small" "$ZT_TMP/rand" ||
	fail "the unaligned write at the end changed the bytes before it"
[ "$(stat -c %s "$small")" -eq $SMALL ] ||
	fail "writes at the end changed the size of '$small' to $(stat -c %s "$small")"
# Nothing went beyond: the end block is one raw block (random data) and
# the 64 KiB at the start (corpus), no more.
[ "$(stored_bytes "$small")" -le $((65536 + 8192)) ] ||
	fail "'$small' stores $(stored_bytes "$small") bytes after writing" \
		"64 KiB and 4 KiB"
[ "$(stored_bytes "$big")" -eq 0 ] ||
	fail "'$big' stores $(stored_bytes "$big") bytes; nothing was written to it"

# Reads: nothing at the end, a short count across it.
out=$(dd if="$small" bs=4k count=1 skip=$SMALL iflag=skip_bytes 2>&1 \
	of="$ZT_TMP/read-end") || fail "reading at the end of '$small' failed: $out"
[ "$(stat -c %s "$ZT_TMP/read-end")" -eq 0 ] ||
	fail "reading at the end of '$small' returned" \
		"$(stat -c %s "$ZT_TMP/read-end") bytes"
# After it: nothing either (dd warns that it cannot skip there, and reads 0).
dd if="$small" bs=4k count=1 skip=$((SMALL + 8192)) iflag=skip_bytes \
	of="$ZT_TMP/read-after" 2>/dev/null
[ "$(stat -c %s "$ZT_TMP/read-after")" -eq 0 ] ||
	fail "reading after the end of '$small' returned" \
		"$(stat -c %s "$ZT_TMP/read-after") bytes"
out=$(dd if="$small" bs=64k count=1 skip=$((SMALL - 3000)) iflag=skip_bytes \
	of="$ZT_TMP/read-cross" 2>&1) || fail "reading across the end failed: $out"
[ "$(stat -c %s "$ZT_TMP/read-cross")" -eq 3000 ] ||
	fail "a 64 KiB read 3000 bytes before the end returned" \
		"$(stat -c %s "$ZT_TMP/read-cross") bytes"
case $out in
*"0+1 records in"*) ;;
*) fail "a read across the end: dd says '$out'; expected a short record" ;;
esac
cmp -s "$ZT_TMP/read-cross" <(tail -c 3000 "$small") ||
	fail "the read across the end returned other bytes than tail"
[ "$(tail -c 1000 "$small" | cmp -n 1000 - "$ZT_TMP/rand" 2>&1)" = "" ] ||
	fail "tail of '$small' is not the last write"

# --- statfs, fsync, sync ------------------------------------------------------

[ "$(stat -f -c '%S %s' "$ZT_MNT")" = "4096 4096" ] ||
	fail "statfs reports block sizes '$(stat -f -c '%S %s' "$ZT_MNT")';" \
		"expected '4096 4096'"
[ "$(stat -f -c %b "$ZT_MNT")" -gt 0 ] ||
	fail "statfs reports no blocks"
dd if="$corpus" of="$big" bs=1M count=4 seek=100 conv=notrunc,fsync status=none ||
	fail "dd conv=fsync to '$big' failed"
dd if="$corpus" of="$big" bs=1M count=4 seek=200 conv=notrunc,fdatasync \
	status=none || fail "dd conv=fdatasync to '$big' failed"
sync "$big" || fail "sync (fsync) of '$big' failed"
sync -f "$big" || fail "sync -f (syncfs) of '$big' failed"
sync || fail "sync failed"
cmp -s -i $((100 << 20)):0 -n $((4 << 20)) "$big" "$corpus" ||
	fail "the data written with conv=fsync does not read back"
cmp -s -i $((200 << 20)):0 -n $((4 << 20)) "$big" "$corpus" ||
	fail "the data written with conv=fdatasync does not read back"
fallocate -p -o $((100 << 20)) -l $((104 << 20)) "$big" ||
	fail "punching the fsync test data failed"

# --- punching holes, zeroing ranges ------------------------------------------

# Whole blocks: 64 MiB of corpus into big, punched again; the pool's memory
# comes back.
stores_nothing() { [ "$(stored_bytes "$1")" -eq 0 ]; }
free_at_least() { [ "$(free_blocks)" -ge "$1" ]; }
wait_until 5 stores_nothing "$big" ||
	fail "'$big' stores $(stored_bytes "$big") bytes after punching all of it"
free0=$(free_blocks)
dd if="$corpus" of="$big" bs=1M count=64 seek=512 conv=notrunc status=none ||
	fail "writing 64 MiB to '$big' failed"
stored=$(stored_bytes "$big")
free1=$(free_blocks)
note "64 MiB of corpus: $stored bytes stored; statfs free $free0 -> $free1 blocks"
[ "$stored" -gt $((8 << 20)) ] && [ "$stored" -lt $((48 << 20)) ] ||
	fail "'$big' stores $stored bytes for 64 MiB of corpus"
[ $((free0 - free1)) -ge $((stored / 4096 / 2)) ] ||
	fail "statfs free blocks went from $free0 to $free1 for $stored bytes stored"
fallocate -p -o $((512 << 20)) -l $((64 << 20)) "$big" ||
	fail "fallocate -p of '$big' failed"
cmp -s -i $((512 << 20)):0 -n $((64 << 20)) "$big" /dev/zero ||
	fail "the punched 64 MiB of '$big' do not read as zeros"
[ "$(stored_bytes "$big")" -eq 0 ] ||
	fail "'$big' stores $(stored_bytes "$big") bytes after punching" \
		"everything written"
# Within 1 MiB of where it was: the pool keeps a little for itself.
wait_until 5 free_at_least $((free0 - 256)) ||
	fail "statfs free blocks stay at $(free_blocks) after punching" \
		"(were $free0 before the write, $free1 after it)"
note "punched: statfs free back to $(free_blocks) blocks"

# The same with zero range.
dd if="$corpus" of="$big" bs=1M count=16 seek=300 skip=16 conv=notrunc \
	status=none || fail "writing 16 MiB to '$big' failed"
[ "$(stored_bytes "$big")" -gt 0 ] || fail "'$big' stores nothing after a write"
fallocate -z -o $((300 << 20)) -l $((16 << 20)) "$big" ||
	fail "fallocate -z of '$big' failed"
cmp -s -i $((300 << 20)):0 -n $((16 << 20)) "$big" /dev/zero ||
	fail "the zeroed 16 MiB of '$big' do not read as zeros"
[ "$(stored_bytes "$big")" -eq 0 ] ||
	fail "'$big' stores $(stored_bytes "$big") bytes after zeroing" \
		"everything written"
wait_until 5 free_at_least $((free0 - 256)) ||
	fail "statfs free blocks stay at $(free_blocks) after zeroing"

# Parts of blocks: exactly the bytes asked for become zeros. The reference
# is built with dd on an ordinary file.
head -c 131072 "$corpus" >"$ZT_TMP/ref"
dd if="$ZT_TMP/ref" of="$big" bs=64k conv=notrunc status=none ||
	fail "writing 128 KiB to '$big' failed"
# punch(OFF, LEN, MODE): on the volume and, as zeros, on the reference.
punch() {
	fallocate "$3" -o "$1" -l "$2" "$big" ||
		fail "fallocate $3 -o $1 -l $2 of '$big' failed"
	dd if=/dev/zero of="$ZT_TMP/ref" bs=1 seek="$1" count="$2" \
		conv=notrunc status=none
	cmp -s -n 131072 "$big" "$ZT_TMP/ref" ||
		fail "after fallocate $3 -o $1 -l $2: $(cmp -n 131072 "$big" \
			"$ZT_TMP/ref" 2>&1)"
}
punch 1000 5000 -p       # inside blocks 0 and 1
punch 9000 3000 -z       # inside block 2
punch 16383 2 -p         # the last byte of block 3, the first of 4
punch 24576 8192 -p      # blocks 6 and 7 whole
punch 40000 20000 -z     # part, whole, part
[ "$(stat -c %s "$ZT_TMP/ref")" -eq 131072 ] || fail "the reference grew"
stored=$(stored_bytes "$big")
[ "$stored" -gt 0 ] ||
	fail "'$big' stores nothing after partial punches kept data"
fallocate -p -o 0 -l 128k "$big" || fail "punching the first 128 KiB failed"
[ "$(stored_bytes "$big")" -eq 0 ] ||
	fail "'$big' stores $(stored_bytes "$big") bytes after punching all"

# Punching past the end punches up to it.
fallocate -p -o $((SMALL - 8192)) -l 65536 "$small" ||
	fail "punching across the end of '$small' failed"
cmp -s -i $((SMALL - 8192)):0 -n 8192 "$small" /dev/zero ||
	fail "punching across the end left data before it"

stop_daemon
note "ok"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# writeback.sh - a volume whose data is many times the pool's limit: the
# least recently used blocks go to the backing file, the pool stays within
# its limit, and everything reads back as written, also after overwrites
# and discards.
#
# The pool is limited to 4 MiB (max_pool_size; 1024 pages) with a 128 MiB
# backing file in the test's directory; the 96 MiB corpus (about 42 MiB
# compressed, ten times the limit) is written to a 128 MiB volume in
# 4 MiB pieces, alternately with dd bs=4k (the early-answered one-block
# writes) and bs=1M, while a sampler asks the daemon for pool_pages every
# 0.2 s (SIGUSR1, daemon_stat). Asserted:
#  - the backing file was made at its configured size;
#  - pool_pages never went above pool_limit_pages + batch_pages + slack
#    (the slack is explained where it is computed): not in any sample, not
#    at the end, and not in the pool's own high-water mark pool.pages_max;
#  - written_back_pages, slots_used and the volume's blocks_disk are above
#    0, slots_used equals blocks_disk (a slot per block), and blocks_disk
#    counts at least half of the corpus's blocks: the limit holds about a
#    tenth of them;
#  - everything reads back (dd iflag=direct, compared with cmp) as written,
#    and wb_reads is above 0 after it: the reads came from the file.
# Then 8 MiB at the start are overwritten with other corpus data and
# 32 MiB further on discarded (fallocate --punch-hole), the same done to a
# copy of what the volume should hold, and asserted:
#  - the volume reads back equal to that copy, the discarded range as
#    zeros;
#  - slots_used and blocks_disk went down with the discard (it freed disk
#    blocks, not only pool ones);
#  - the pool is still within its bound, the daemon logged no error, and it
#    stops cleanly.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires zstd fallocate cmp

MiB=$((1 << 20))
VOL_SIZE=$((128 * MiB))
WB_SIZE=$((128 * MiB))
LIMIT=$((4 * MiB))
BATCH=64
THREADS=4
CHAIN=8
vol=$ZT_MNT/vol0
backing=$ZT_TMP/backing

corpus=$(corpus_file) || exit 1
n=$(stat -c %s "$corpus")
# The corpus compresses about 2.3:1; uncompressed it must be at least 16
# times the limit so that its compressed form is several times it.
[ "$n" -ge $((16 * LIMIT)) ] && [ "$n" -le "$VOL_SIZE" ] ||
	fail "corpus '$corpus' has $n bytes; expected 96 MiB"
nblocks=$((n / 4096))

write_config "$ZT_TMP/zpoold.conf" <<EOF
threads = $THREADS

[pool]
max_pool_size = $LIMIT
max_zspage_pages = $CHAIN

[writeback]
file = $backing
size = $WB_SIZE
batch_pages = $BATCH
# No writeback on memory pressure, which other tests on the machine may
# cause at any time: the counts compared here must not move on their own.
psi_stall_ms = 0

[volume vol0]
size = $VOL_SIZE
EOF
start_daemon "$ZT_TMP/zpoold.conf"

[ -f "$backing" ] || fail "zpoold did not make the backing file '$backing'"
[ "$(stat -c %s "$backing")" -eq "$WB_SIZE" ] ||
	fail "backing file '$backing' has $(stat -c %s "$backing") bytes," \
		"expected $WB_SIZE"

limit_pages=$(daemon_stat pool_limit_pages)
[ "$limit_pages" -eq $((LIMIT / 4096)) ] ||
	fail "pool_limit_pages is $limit_pages, expected $((LIMIT / 4096))" \
		"for max_pool_size = $LIMIT"
slots_total=$(daemon_stat slots_total)
[ "$slots_total" -eq $((WB_SIZE / 4096)) ] ||
	fail "slots_total is $slots_total, expected $((WB_SIZE / 4096))"

# How far above its limit the pool may go. Writeback takes batch_pages
# victims at a time and frees them once their write is done, so the pool
# may run one batch over the limit before that batch has left
# (batch_pages). Stores check the limit before they allocate, so each of
# the THREADS workers may have passed the check with an allocation still
# to make, which can open a new zspage of up to max_zspage_pages pages,
# plus, for an early-answered one-block write, the one-page raw object
# that holds the block until it is compressed: THREADS * (CHAIN + 1).
SLACK=$((THREADS * (CHAIN + 1)))
BOUND=$((limit_pages + BATCH + SLACK))

# shellcheck disable=SC2016 # expanded by the sampler
sample_every 0.2 "$ZT_TMP/pool-samples" \
	'p=$(daemon_stat pool_pages 2>/dev/null); echo "$(date +%s.%N) ${p:-NA}"'
sampler=$ZT_SAMPLER

t0=$SECONDS
for ((off = 0; off < n; off += 4 * MiB)); do
	if [ $(((off / (4 * MiB)) % 2)) -eq 0 ]; then
		bs=4k
	else
		bs=1M
	fi
	dd if="$corpus" of="$vol" bs=$bs skip="$off" seek="$off" \
		count=$((4 * MiB)) iflag=skip_bytes,count_bytes \
		oflag=seek_bytes conv=notrunc status=none ||
		fail "dd bs=$bs of the corpus at byte $off to '$vol' failed"
done
# A few more samples with the writes done, while writeback finishes.
sleep 1
stop_sampler "$sampler"
note "corpus written in $((SECONDS - t0)) s"

nsamples=$(grep -c '[0-9]$' "$ZT_TMP/pool-samples")
grep -q ' NA$' "$ZT_TMP/pool-samples" &&
	fail "the daemon did not answer every SIGUSR1 while it was written" \
		"to: $(grep -c ' NA$' "$ZT_TMP/pool-samples") of" \
		"$(wc -l <"$ZT_TMP/pool-samples") samples missing"
[ "$nsamples" -ge 3 ] || fail "only $nsamples samples of pool_pages taken"
maxpool=$(column_max "$ZT_TMP/pool-samples" 2)
pool=$(daemon_stat pool_pages)
# The pool's own high-water mark: what the samples may have missed.
pool_max=$(daemon_stat pool.pages_max)
wb=$(daemon_stat written_back_pages)
slots=$(daemon_stat slots_used)
disk=$(daemon_stat volume.vol0.blocks_disk)
note "pool_pages: limit $limit_pages, bound $BOUND (+$BATCH batch," \
	"+$SLACK slack); at most $maxpool in $nsamples samples, $pool now," \
	"pool.pages_max $pool_max"
note "written_back_pages $wb, slots_used $slots of $slots_total," \
	"volume.vol0.blocks_disk $disk of $nblocks blocks," \
	"bypassed_stores $(daemon_stat bypassed_stores)," \
	"writeback_batches $(daemon_stat writeback_batches)," \
	"compacted_pages $(daemon_stat compacted_pages)"
[ "$maxpool" -le "$BOUND" ] ||
	fail "pool_pages reached $maxpool while written to, above" \
		"$BOUND = limit $limit_pages + batch $BATCH + slack $SLACK:" \
		"$(sort -k2 -n "$ZT_TMP/pool-samples" | tail -n 3 | tr '\n' ' ')"
[ "$pool_max" -le "$BOUND" ] ||
	fail "pool.pages_max is $pool_max, above $BOUND = limit $limit_pages +" \
		"batch $BATCH + slack $SLACK"
[ "$pool" -le "$BOUND" ] ||
	fail "pool_pages is $pool after the writes, above $BOUND"
[ "$wb" -gt 0 ] || fail "written_back_pages is 0: nothing was written back"
[ "$slots" -gt 0 ] || fail "slots_used is 0 with $wb pages written back"
# One block to a slot: with nothing in flight the two counts agree.
[ "$slots" -eq "$disk" ] ||
	fail "slots_used is $slots but $disk blocks are on disk"
# The limit holds about 1024 pages * 2.3 blocks a page of the corpus's
# 24576: most of it must be in the file.
[ "$disk" -ge $((nblocks / 2)) ] ||
	fail "only $disk of $nblocks blocks are on disk with the pool" \
		"limited to $limit_pages pages"

# check_volume FILE WHAT: the volume holds what FILE holds, read with
# O_DIRECT (the volume has no page cache anyway: direct_io).
check_volume() {
	local t0=$SECONDS
	dd if="$vol" bs=1M count="$n" iflag=direct,count_bytes status=none |
		cmp -s - "$1" ||
		fail "$2: the volume does not read back as written:" \
			"$(dd if="$vol" bs=1M count="$n" iflag=direct,count_bytes \
				status=none | cmp - "$1" 2>&1)"
	note "$2: read back and compared in $((SECONDS - t0)) s"
}

wbr0=$(daemon_stat wb_reads)
check_volume "$corpus" "the corpus"
wbr=$(daemon_stat wb_reads)
note "wb_reads $wbr0 before reading back, $wbr after;" \
	"wb_read_errors $(daemon_stat wb_read_errors)"
[ "$wbr" -gt "$wbr0" ] ||
	fail "wb_reads stayed $wbr while $disk blocks were read back from disk"
[ "$(daemon_stat wb_read_errors)" -eq 0 ] || fail "wb_read_errors above 0"
[ "$(daemon_stat volume.vol0.read_errors)" -eq 0 ] || fail "volume.vol0.read_errors above 0"

# --- overwrite and discard, done alike to the volume and to a copy
expect=$ZT_TMP/expect.bin
cp "$corpus" "$expect" || fail "cannot copy the corpus"
# 8 MiB at the start (written first: on disk) get the corpus's data from
# 48 MiB on, with bs=4k so that each block is replaced on its own.
for f in "$vol" "$expect"; do
	dd if="$corpus" of="$f" bs=4k skip=$((48 * 256)) count=$((8 * 256)) \
		conv=notrunc status=none || fail "overwriting '$f' failed"
done
check_volume "$expect" "8 MiB overwritten"
pool=$(daemon_stat pool_pages)
[ "$pool" -le "$BOUND" ] || fail "pool_pages is $pool after the overwrite"

slots1=$(daemon_stat slots_used)
disk1=$(daemon_stat volume.vol0.blocks_disk)
fallocate --punch-hole --keep-size -o $((16 * MiB)) -l $((32 * MiB)) "$vol" ||
	fail "punching 32 MiB of '$vol' failed"
dd if=/dev/zero of="$expect" bs=1M seek=16 count=32 conv=notrunc \
	status=none || fail "zeroing 32 MiB of '$expect' failed"
slots2=$(daemon_stat slots_used)
disk2=$(daemon_stat volume.vol0.blocks_disk)
note "discarding 32 MiB: slots_used $slots1 -> $slots2," \
	"volume.vol0.blocks_disk $disk1 -> $disk2"
[ "$slots2" -lt "$slots1" ] ||
	fail "slots_used went from $slots1 to $slots2 when 32 MiB of blocks," \
		"mostly on disk, were discarded"
[ "$disk2" -lt "$disk1" ] ||
	fail "volume.vol0.blocks_disk went from $disk1 to $disk2 with the discard"
[ "$slots2" -eq "$disk2" ] ||
	fail "after the discard slots_used is $slots2 but $disk2 blocks are on disk"
cmp -s -n $((32 * MiB)) <(dd if="$vol" bs=1M skip=16 count=32 iflag=direct \
	status=none) /dev/zero || fail "the discarded 32 MiB do not read as zeros"
check_volume "$expect" "32 MiB discarded"

pool=$(daemon_stat pool_pages)
[ "$pool" -le "$BOUND" ] || fail "pool_pages is $pool at the end, above $BOUND"
if grep -Eq '^(zpoold: (error|critical|alert|emergency): |<[0-3]>)' \
	"$ZT_TMP/zpoold.log"; then
	grep -E '^(zpoold: (error|critical|alert|emergency): |<[0-3]>)' \
		"$ZT_TMP/zpoold.log" | head -n 20
	fail "zpoold logged errors"
fi
stop_daemon
note "ok"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# writeback-blockdev.sh - a block device as the backing store: a loop
# device over a 64 MiB file in the test's directory.
#  - size = 0 takes the whole device: slots_total is its size in slots;
#  - a size above the device's is refused at start with both sizes named;
#  - 32 MiB of corpus through a volume whose pool is limited to 4 MiB goes
#    to the device (written_back_pages, slots_used, blocks_disk above 0)
#    and reads back exactly, also after the volume's blocks are discarded
#    and written again (slots freed and reused).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires zstd losetup cmp fallocate

MiB=$((1 << 20))
DEV_MIB=64
DATA_MIB=32
vol=$ZT_MNT/vol0

corpus=$(corpus_file) || exit 1
head -c $((DATA_MIB * MiB)) "$corpus" >"$ZT_TMP/data" ||
	fail "cannot cut $DATA_MIB MiB of the corpus"
truncate -s $((DEV_MIB * MiB)) "$ZT_TMP/dev.img" ||
	fail "cannot make the device's file"
attach_loop "$ZT_TMP/dev.img"
dev=$ZT_LOOP

config() {
	write_config "$ZT_TMP/zpoold.conf" <<EOF
[pool]
max_pool_size = 4M

[writeback]
file = $dev
size = $1
psi_stall_ms = 0

[volume vol0]
size = 64M
EOF
}

# More than the device holds: refused, both sizes named.
config 128M
expect_fail "holds $((DEV_MIB * MiB)) bytes, fewer than the $((128 * MiB)) configured" \
	"$ZPOOLD" -c "$ZT_TMP/zpoold.conf"
grep -q "$dev" <<<"$ZT_ERR" || fail "the refusal does not name '$dev': $ZT_ERR"
grep -q " $ZT_MNT " /proc/mounts && fail "zpoold mounted although it refused to start"
note "128M on a ${DEV_MIB}M device: $ZT_ERR"

# The whole device.
config 0
start_daemon "$ZT_TMP/zpoold.conf"
total=$(daemon_stat slots_total)
[ "$total" -eq $((DEV_MIB * MiB / 4096)) ] ||
	fail "slots_total is $total for a $DEV_MIB MiB device"

dd if="$ZT_TMP/data" of="$vol" bs=1M oflag=direct conv=notrunc status=none ||
	fail "writing $DATA_MIB MiB to '$vol' failed"
wb=$(daemon_stat written_back_pages)
used=$(daemon_stat slots_used)
ondisk=$(daemon_stat volume.vol0.blocks_disk)
[ "$wb" -gt 0 ] && [ "$used" -gt 0 ] && [ "$ondisk" -eq "$used" ] ||
	fail "after $DATA_MIB MiB: written_back_pages $wb, slots_used $used," \
		"blocks_disk $ondisk"
cmp -n $((DATA_MIB * MiB)) <(dd if="$vol" bs=1M iflag=direct status=none) \
	"$ZT_TMP/data" || fail "'$vol' does not read back as written"
[ "$(daemon_stat wb_reads)" -gt 0 ] || fail "nothing was read from '$dev'"
note "$DATA_MIB MiB with a 4 MiB pool: written_back_pages $wb, slots_used $used of $total on $dev"

# Discarded and written again: the slots are freed and used anew.
fallocate -p -o 0 -l $((DATA_MIB * MiB)) "$vol" || fail "fallocate -p failed"
[ "$(daemon_stat slots_used)" -eq 0 ] ||
	fail "slots_used is $(daemon_stat slots_used) after discarding everything"
dd if="$ZT_TMP/data" of="$vol" bs=1M oflag=direct conv=notrunc status=none ||
	fail "writing $DATA_MIB MiB to '$vol' again failed"
cmp -n $((DATA_MIB * MiB)) <(dd if="$vol" bs=1M iflag=direct status=none) \
	"$ZT_TMP/data" || fail "'$vol' does not read back after being rewritten"
[ "$(daemon_stat slots_used)" -gt 0 ] || fail "the rewrite used no slots"
[ "$(daemon_stat wb_read_errors)" -eq 0 ] && [ "$(daemon_stat writeback_failures)" -eq 0 ] ||
	fail "disk errors on '$dev'"
stop_daemon
note ok

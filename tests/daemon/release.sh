#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# release.sh - memory freed by discards goes back to the system without
# further traffic: the daemon's housekeeping timer returns free pool pages
# after release_delay_ms, and compacts the pool when discards leave its
# zspages partly empty.
#
# A 256M volume (default settings: release_delay_ms 1000, reserve 16M)
# takes 192 MiB of corpus; the daemon's RSS grows by the compressed size.
# Punching every block must bring RSS back near where it started within a
# few seconds, with no I/O in between. Then the corpus is written again and
# every other 64 KiB punched: half the objects, scattered over all
# zspages, go away, and compaction must give about half the memory back.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires zstd fallocate

MiB=$((1 << 20))
conf=$ZT_TMP/zpoold.conf
write_config "$conf" <<EOF
[volume vol0]
size = 256M
EOF
start_daemon "$conf"
vol=$ZT_MNT/vol0
corpus=$(corpus_file)

rss() { proc_field "$ZT_PID" VmRSS; }
rss_at_most() { [ "$(rss)" -le "$1" ]; }
stored_kib() { echo $(($(stat -c %b "$vol") / 2)); }

write_corpus() {
	dd if="$corpus" of="$vol" bs=1M count=96 conv=notrunc status=none &&
		dd if="$corpus" of="$vol" bs=1M count=96 seek=96 conv=notrunc \
			status=none ||
		fail "writing the corpus to '$vol' failed"
}

base=$(rss)
write_corpus
full=$(rss)
stored=$(stored_kib)
note "RSS ${base} kB empty, ${full} kB holding ${stored} kB of objects"
[ $((full - base)) -ge $((stored / 2)) ] ||
	fail "RSS grew by $((full - base)) kB for $stored kB stored"

# Everything punched: no further I/O, RSS must come back.
fallocate -p -o 0 -l $((192 * MiB)) "$vol" || fail "fallocate -p failed"
[ "$(stored_kib)" -eq 0 ] || fail "'$vol' still stores $(stored_kib) kB"
# The written part of the block index stays resident: 32 bytes a block.
index_kib=$((192 * MiB / 4096 * 32 / 1024))
if ! wait_until 10 rss_at_most $((base + index_kib + 8192)); then
	fail "RSS still $(rss) kB 10 s after punching everything" \
		"(empty: $base kB, index $index_kib kB)"
fi
note "after punching everything: RSS $(rss) kB"

# Every other 64 KiB punched: only compaction frees whole zspages.
write_corpus
full=$(rss)
for ((off = 0; off < 192 * MiB; off += 128 * 1024)); do
	fallocate -p -o $off -l 65536 "$vol" || fail "fallocate -p at $off failed"
done
half=$(stored_kib)
note "half punched: $half kB of objects left, RSS $full kB before"
target=$((base + index_kib + half + (full - base - half) / 4 + 8192))
if ! wait_until 15 rss_at_most $target; then
	fail "RSS still $(rss) kB 15 s after punching half the blocks" \
		"(objects $half kB, empty $base kB, expected <= $target kB)"
fi
note "after compaction: RSS $(rss) kB"

# What is left still reads back.
for ((off = 65536; off < 96 * MiB; off += 8 * MiB)); do
	cmp -s -i $off:$off -n 65536 "$vol" "$corpus" ||
		fail "block at $off does not read back after compaction"
done
stop_daemon

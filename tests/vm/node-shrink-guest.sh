#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# node-shrink-guest.sh - writeback aimed at one NUMA node, run inside the
# machine of tests/vm/node-shrink.sh (two nodes, CPU i on node i).
#
# A daemon with a backing file, the preferred policy, node_hint=requester
# and a per-node target (max_node_size = 12 MiB) far below its pool
# limit. A writer on CPU 0 puts 16 MiB of corpus into volume a: about
# 8 MiB of pool on node 0, under the target. Then a writer on CPU 1 puts
# 64 MiB into volume b: node 1's share passes the target, and the shrinker
# must write back node 1's least recently used blocks and leave node 0's
# alone: nothing is written back from node 0's list, node 0's pages do not
# change, node 1 ends near its target. Both volumes then read back as
# written. Writeback on memory pressure (PSI), which takes the oldest
# blocks of every node, is off: only the node target acts.
#
# A block's node is where its object is, not where its writer ran: when
# the refill of node 0's page cache falls behind (a host short of CPU
# time slows the machine's refill thread), some of volume a's new zspages
# go to node 1 as the preferred policy's fallback. Those blocks are node
# 1's, the oldest there, and the first the shrinker takes: volume a may
# lose to disk as many blocks as it has on node 1, and not one more.
. /bin/guest-lib.sh

TARGET_MIB=12
cat >/run/zpoold.conf <<EOF
[daemon]
mountpoint = $ZMNT
control_socket = $ZSOCK
node_hint = requester
threads = 2
reserve = 1M
[pool]
policy = preferred
max_pool_size = 256M
max_node_size = ${TARGET_MIB}M
[writeback]
file = /run/zpoold.backing
size = 128M
psi_stall_ms = 0
[volume a]
size = 64M
[volume b]
size = 128M
EOF
daemon_start /run/zpoold.conf taskset -c 0 || finish
pages_of() { zstat "node$1.pages"; }
disk_of() { zstat "volume.$1.blocks_disk"; }

mark
check "a writer on CPU 0 wrote 16 MiB to volume a" write_corpus 0 "$ZMNT/a" 16
before0=$(pages_of 0) lru0=$(zstat node0.lru_length)
# Only volume a is in the pool yet: its blocks not on node 0's list are
# on node 1's.
a_pool=$(($(zstat volume.a.blocks_compressed) + $(zstat volume.a.blocks_raw)))
a_node1=$((a_pool - lru0))
fallback1=$(zstat node1.fallback_zspages)
check "node 0 holds volume a, under the target ($before0 pages < $((TARGET_MIB * 256)))" \
	test "$before0" -gt 1000 -a "$before0" -lt $((TARGET_MIB * 256))
check "volume a's blocks are on node 0's list or node 1's ($lru0 + $a_node1 = $a_pool)" \
	test "$a_node1" -ge 0 -a "$(zstat node1.lru_length)" = "$a_node1"
check "a writer on CPU 1 wrote 64 MiB to volume b" write_corpus 1 "$ZMNT/b" 64
# The shrinker brings node 1 down to the target (and the pool lets new
# blocks bypass to disk meanwhile).
target=$((TARGET_MIB * 256))
wait_for 60 test "$(pages_of 1)" -le $((target + target / 10))
after0=$(pages_of 0) after1=$(pages_of 1)
wb=$(zstat written_back_pages)
measure node-shrink "volume_a_disk_blocks=$(disk_of a) volume_b_disk_blocks=$(disk_of b) target_pages=$target" \
	"written_back_node0=$(zstat node0.written_back) written_back_node1=$(zstat node1.written_back)" \
	"volume_a_blocks_node1=$a_node1 node1_fallback_zspages_a=$fallback1" \
	"node0_fallback_zspages=$(zstat node0.fallback_zspages) node0_refill_timeouts=$(zstat node0.refill_timeouts) node1_refill_timeouts=$(zstat node1.refill_timeouts)" \
	"node0_lru=$(zstat node0.lru_length) psi_events=$(zstat psi_events) idle_written_back=$(zstat idle_written_back)"
check "blocks were written back ($wb)" test "$wb" -gt 1000
check "node 1 came down to its target ($after1 pages, target $target)" \
	test "$after1" -le $((target + target / 10))
check "they were all node 1's ($(zstat node1.written_back) of $wb)" \
	test "$(zstat node1.written_back)" = "$wb"
check "none was node 0's ($(zstat node0.written_back))" \
	test "$(zstat node0.written_back)" = 0
check "volume b's blocks went to disk ($(disk_of b) blocks)" test "$(disk_of b)" -gt 1000
check "volume a lost to disk only blocks on node 1 ($(disk_of a) <= $a_node1)" \
	test "$(disk_of a)" -le "$a_node1"
check "node 0's pool pages did not change ($before0 -> $after0)" test "$after0" = "$before0"
# (A node-1 writer's objects may take free slots of node 0's partly used
# zspages before a new zspage is made on node 1: node 0's LRU may grow,
# its pages may not.)
check "node 0's LRU lost nothing ($lru0 -> $(zstat node0.lru_length) blocks)" \
	test "$(zstat node0.lru_length)" -ge "$lru0"
# Everything reads back as written, from memory and from disk.
reads_back() { # reads_back VOLUME MIB
	dd if="$ZMNT/$1" of=/run/readback bs=1M count="$2" iflag=direct status=none &&
		zstd -qdc "$ZPOOLD_CORPUS" | cmp -n $(($2 << 20)) - /run/readback
}
check "volume a reads back as written" reads_back a 16
check "volume b reads back as written, from memory and from disk" \
	reads_back b 64
check "volume b's blocks on disk were read from there ($(zstat wb_reads) blocks)" \
	test "$(zstat wb_reads)" -gt 1000
rm -f /run/readback
check "zpoold's own memory is never swapped (VmSwap $(status_kb "$ZPID" VmSwap) kB)" \
	test "$(status_kb "$ZPID" VmSwap)" = 0
daemon_stop
finish

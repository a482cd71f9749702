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
# must write back node 1's least recently used blocks (volume b's) and
# leave node 0's alone: volume a keeps every block in memory, node 0's
# pages do not change, node 1 ends near its target. Both volumes then
# read back as written. Writeback on memory pressure (PSI), which takes
# the oldest blocks of every node, is off: only the node target acts.
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
check "node 0 holds volume a, under the target ($before0 pages < $((TARGET_MIB * 256)))" \
	test "$before0" -gt 1000 -a "$before0" -lt $((TARGET_MIB * 256))
check "a writer on CPU 1 wrote 64 MiB to volume b" write_corpus 1 "$ZMNT/b" 64
# The shrinker brings node 1 down to the target (and the pool lets new
# blocks bypass to disk meanwhile).
target=$((TARGET_MIB * 256))
wait_for 60 test "$(pages_of 1)" -le $((target + target / 10))
after0=$(pages_of 0) after1=$(pages_of 1)
wb=$(zstat written_back_pages)
measure node-shrink "volume_a_disk_blocks=$(disk_of a) volume_b_disk_blocks=$(disk_of b) target_pages=$target" \
	"node0_fallback_zspages=$(zstat node0.fallback_zspages) node1_refill_waits=$(zstat node1.refill_waits) node1_refill_timeouts=$(zstat node1.refill_timeouts)" \
	"node0_lru=$(zstat node0.lru_length) psi_events=$(zstat psi_events) idle_written_back=$(zstat idle_written_back)"
check "blocks were written back ($wb)" test "$wb" -gt 1000
check "node 1 came down to its target ($after1 pages, target $target)" \
	test "$after1" -le $((target + target / 10))
check "volume b's blocks went to disk ($(disk_of b) blocks)" test "$(disk_of b)" -gt 1000
check "node 0's blocks stayed in memory: volume a has nothing on disk ($(disk_of a))" \
	test "$(disk_of a)" = 0
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

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# numa-guest.sh - where the pool puts its memory on a machine with two
# NUMA nodes (CPU 0 on node 0, CPU 1 on node 1), run inside the machine of
# tests/vm/numa.sh. zpoold runs on CPU 0 only, so that its own threads are
# never on node 1; writers pinned to one CPU write corpus data through a
# volume (node_hint = requester: the node of the writing task).
#
# For each policy a new daemon takes 32 MiB from a writer on CPU 1, then
# 32 MiB from one on CPU 0, and after each the pool's per-node pages
# (zpoolctl stats) are checked against what the policy promises and
# against the kernel: the pages the daemon's mappings with a node policy
# hold per node (/proc/PID/numa_maps) and the daemon's own move_pages view
# (stats --resident).
#   preferred, strict   the writer's node, nothing on the other
#   local               the daemon's node (0) whoever writes
#   interleave          both nodes, neither with less than a quarter
# Then node 1 is made short of memory (tests/vm/nodefill holds all but a
# little of it, with node_reserve above what is left): preferred puts a
# node-1 writer's blocks on node 0, strict refuses them (the write fails
# with ENOSPC), and nothing is killed.
. /bin/guest-lib.sh

MIB=32
CPUS_OF_NODE1=$(cat /sys/devices/system/node/node1/cpulist 2>/dev/null)
check "the machine has two nodes, CPU 1 on node 1 (node 1: CPUs $CPUS_OF_NODE1)" \
	test "$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)" = 2 -a "$CPUS_OF_NODE1" = 1

conf() { # conf POLICY [MORE-POOL-LINES [MORE-DAEMON-LINES]]
	cat >/run/zpoold.conf <<-EOF
	[daemon]
	${3:-}
	mountpoint = $ZMNT
	control_socket = $ZSOCK
	node_hint = requester
	threads = 2
	[pool]
	policy = $1
	max_pool_percent = 60
	${2:-}
	[volume a]
	size = 256M
	[volume b]
	size = 256M
	EOF
}
# write_from CPU VOLUME: $MIB MiB of the corpus, written by a dd on CPU.
write_from() { write_corpus "$1" "$ZMNT/$2" $MIB; }
# The pool's and the kernel's view, as shell variables: p0 p1 (zspage
# pages per node), c0 c1 (cached pages), r0 r1 (resident, move_pages),
# k0 k1 (numa_maps), and the stats in $ST.
# The pool refills its cache in the background, so the kernel's view is
# read before and after the stats, until both readings agree.
views() {
	local before i
	for ((i = 0; i < 20; i++)); do
		before=$(numa_pages "$ZPID")
		ST=$(zctl stats --resident)
		[ "$(numa_pages "$ZPID")" = "$before" ] && break
		sleep 0.2
	done
	p0=$(awk '$1 == "node0.pages" { print $2 }' <<<"$ST")
	p1=$(awk '$1 == "node1.pages" { print $2 }' <<<"$ST")
	c0=$(awk '$1 == "node0.cached_pages" { print $2 }' <<<"$ST")
	c1=$(awk '$1 == "node1.cached_pages" { print $2 }' <<<"$ST")
	m0=$(awk '$1 == "node0.table_pages" { print $2 }' <<<"$ST")
	m1=$(awk '$1 == "node1.table_pages" { print $2 }' <<<"$ST")
	r0=$(awk '$1 == "node0.resident_pages" { print $2 }' <<<"$ST")
	r1=$(awk '$1 == "node1.resident_pages" { print $2 }' <<<"$ST")
	read -r k0 k1 <<<"$before"
}
st() { awk -v k="$1" '$1 == k { print $2 }' <<<"$ST"; }
# The kernel agrees with the pool: the pages the daemon's bound mappings
# hold on each node are its zspage, cached and table pages there, and move_pages
# finds each zspage page where the pool put it.
kernel_agrees() { # kernel_agrees LABEL
	check "$1: the kernel holds the pool's pages where the pool says (numa_maps $k0/$k1 = pages+cache+tables $((p0 + c0 + m0))/$((p1 + c1 + m1)))" \
		test "$k0" = $((p0 + c0 + m0)) -a "$k1" = $((p1 + c1 + m1))
	check "$1: move_pages finds every zspage page on its node (resident $r0/$r1, pages $p0/$p1)" \
		test "$r0" = "$p0" -a "$r1" = "$p1"
}
# At least 3/4 of what 32 MiB of corpus takes in the pool: about 3,700
# pages at lz4's 2.2:1.
FULL=2800

placement() { # placement POLICY
	local policy=$1
	conf "$policy"
	daemon_start /run/zpoold.conf taskset -c 0 || return
	mark
	check "$policy: a writer on CPU 1 wrote $MIB MiB" write_from 1 a
	views
	measure "placement-$policy-writer1" "numa_maps_node0=$k0 numa_maps_node1=$k1"
	case $policy in
	preferred | strict)
		check "$policy: a node-1 writer's blocks are on node 1 ($p1 pages) and none on node 0 ($p0)" \
			test "$p1" -ge $FULL -a "$p0" = 0
		check "$policy: every new zspage was on the preferred node ($(st node1.preferred_zspages), fallbacks $(st node0.fallback_zspages))" \
			test "$(st node1.preferred_zspages)" -gt 0 -a "$(st node0.fallback_zspages)" = 0 ;;
	local)
		check "local: a node-1 writer's blocks are on the daemon's node 0 ($p0 pages, node 1 $p1)" \
			test "$p0" -ge $FULL -a "$p1" = 0 ;;
	interleave)
		check "interleave: a node-1 writer's blocks are on both nodes ($p0 and $p1 pages)" \
			test $((p0 * 4)) -ge $((p0 + p1)) -a $((p1 * 4)) -ge $((p0 + p1)) -a $((p0 + p1)) -ge $FULL ;;
	esac
	kernel_agrees "$policy, writer on CPU 1"
	local q0=$p0 q1=$p1
	mark
	check "$policy: a writer on CPU 0 wrote $MIB MiB" write_from 0 b
	views
	measure "placement-$policy-writer0" "numa_maps_node0=$k0 numa_maps_node1=$k1"
	case $policy in
	preferred | strict | local)
		check "$policy: a node-0 writer's blocks went to node 0 (+$((p0 - q0)) pages), node 1 unchanged ($q1 -> $p1)" \
			test $((p0 - q0)) -ge $FULL -a "$p1" = "$q1" ;;
	interleave)
		check "interleave: the second writer's blocks are on both nodes too (+$((p0 - q0)) and +$((p1 - q1)))" \
			test $(((p0 - q0) * 4)) -ge $((p0 - q0 + p1 - q1)) -a $(((p1 - q1) * 4)) -ge $((p0 - q0 + p1 - q1)) ;;
	esac
	kernel_agrees "$policy, writer on CPU 0"
	daemon_stop
}

for policy in preferred strict local interleave; do
	placement "$policy"
done

# Node 1 short of memory: all but 16 MiB above its low watermark taken,
# and the pool told to keep 32 MiB above it; its cache of free pages (the
# reserve, 1 MiB = 256 pages per node here) is all node 1 may still give.
low_kb=$(awk '/^Node/ { n = $2 } n == "1," && $1 == "low" { s += $2 } END { print s * 4 }' /proc/zoneinfo)
short() { # short POLICY
	local policy=$1 fill out rc
	conf "$policy" "node_reserve = 32M" "reserve = 1M"
	daemon_start /run/zpoold.conf taskset -c 0 || return
	mark
	nodefill --node 1 --leave $((low_kb + 16384)) >/run/nodefill.out 2>&1 &
	fill=$!
	if ! wait_for 60 grep -q '^nodefill: node' /run/nodefill.out; then
		bad "$policy: node 1 could not be filled: $(cat /run/nodefill.out)"
		kill $fill 2>/dev/null
		daemon_stop
		return
	fi
	say "$policy: $(cat /run/nodefill.out), low watermark $low_kb kB"
	out=$(write_from 1 a 2>&1)
	rc=$?
	views
	measure "short-$policy" "numa_maps_node0=$k0 numa_maps_node1=$k1 node1_free_kb=$(node_free_kb 1) low_refusals=$(st node1.low_refusals)"
	check "$policy: node 1 refused new zspages as short ($(st node1.low_refusals) times)" \
		test "$(st node1.low_refusals)" -gt 0
	check "$policy: node 1 took no more than its cache ($p1 pages, cache floor 256)" \
		test "$p1" -le 272
	case $policy in
	preferred)
		check "preferred: the write succeeded ($out)" test $rc = 0
		check "preferred: its blocks fell back to node 0 ($p0 pages, $(st node0.fallback_zspages) fallback zspages)" \
			test "$p0" -ge $((FULL - 272)) -a "$(st node0.fallback_zspages)" -gt 0 ;;
	strict)
		check "strict: the write was refused ($out)" \
			grep -q 'No space left on device' <<<"$out"
		check "strict: nothing went to node 0 ($p0 pages)" test "$p0" = 0
		check "strict: what was stored still reads back" \
			dd if="$ZMNT/a" of=/dev/null bs=1M count=1 iflag=direct status=none ;;
	esac
	kernel_agrees "$policy, node 1 short"
	check "$policy: node 1 kept its free memory above the low watermark ($(node_free_kb 1) kB > $low_kb kB)" \
		test "$(node_free_kb 1)" -gt "$low_kb"
	check "$policy: nodefill still holds node 1" kill -0 $fill
	kill $fill
	wait $fill
	daemon_stop
}
short preferred
short strict
check "nothing was killed for memory" bash -c '! dmesg | grep -q "Out of memory\|oom-kill"'
finish

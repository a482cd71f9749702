#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# swap-bench.sh - zpoold as a swap device against kernel zram, on the same
# machine and the same data, side by side. Three block devices:
#   zram    kernel zram (lz4), zram0 or, when that one is in use, a device
#           made with /sys/class/zram-control/hot_add
#   zpoold  a zpoold volume (lz4, the default configuration) attached to a
#           loop device, once with loop direct I/O on and once off; the
#           faster of the two is the reported figure, both are printed
#   null    a volume with store = null (stores nothing, reads zeros)
#           attached the same way: what FUSE and the loop driver cost alone
#
# On each device, with fio (direct I/O): 1M sequential write and read, 4k
# random read and write with one and two jobs. What the data is matters
# (both sides compress it), so the read tests read the corpus, written onto
# the device with dd first (that write is a figure too); fio cannot write
# the corpus, so its write tests use buffers that are 55% compressible,
# which lz4 stores at about 2.1:1 (the ratio each side achieved is printed).
# Then the swap workload, on zram and zpoold but not null (swap on a device
# that drops data would corrupt it): mkswap + swapon the device (one swap
# device at a time), run tests/daemon/swapper in a memory cgroup (v1) whose
# limit is a quarter of what it fills, and time it. Last, a matrix of the
# daemon options poll_us (default and 0) and splice on the zpoold tests and
# the swap workload, to choose their defaults.
#
# Figures only: no figure fails the script; it exits non-zero on errors (a
# device that cannot be set up, fio or dd failing, swapper failing its
# verification). Everything it sets up (swap, loop devices, daemons, the
# zram device, the cgroup) is undone from an EXIT trap, also on failure.
#
# Usage: bench/swap-bench.sh [--quick] [--no-swap] [--no-matrix] [--pairs N]
#                            [--runtime S] [--reps N] [--build DIR]
# It finds daemon/zpoold and tests/daemon/swapper in the build directory:
# --build DIR, else $top_builddir, else the current directory if it is a
# build, else the source tree. Needs root (exit 77 otherwise).

usage() {
	cat <<EOF
usage: swap-bench.sh [options]
  --quick        short runs and small sizes (for the smoke test); no
                 daemon option matrix
  --no-swap      skip the swap workload
  --no-matrix    skip the poll_us/splice matrix
  --pairs N      runs of each 4k random test on zpoold and the null volume
                 in alternation, for the zpoold/null ratios (default 5,
                 --quick 1; 0 skips them)
  --runtime S    seconds of each 4k random test (default 10, --quick 1;
                 half of it in the alternating runs)
  --reps N       run everything N times, in rounds over the devices, and
                 keep each test's best figure (default 1)
  --build DIR    the build directory (default: \$top_builddir, else the
                 current directory if it holds daemon/zpoold)
  -h, --help     show this help
EOF
}

quick=false
do_swap=true
do_matrix=true
pairs=
runtime=
reps=1
build=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=true ;;
	--no-swap) do_swap=false ;;
	--no-matrix) do_matrix=false ;;
	--pairs) pairs=${2:-}; shift ;;
	--pairs=*) pairs=${1#*=} ;;
	--runtime) runtime=${2:-}; shift ;;
	--runtime=*) runtime=${1#*=} ;;
	--reps) reps=${2:-}; shift ;;
	--reps=*) reps=${1#*=} ;;
	--build) build=${2:-}; shift ;;
	--build=*) build=${1#*=} ;;
	-h | --help) usage; exit 0 ;;
	*)
		echo "swap-bench: unknown option '$1'" >&2
		usage >&2
		exit 2
		;;
	esac
	shift
done
if [ -n "$runtime" ] && ! [[ $runtime =~ ^[1-9][0-9]*$ ]]; then
	echo "swap-bench: bad --runtime '$runtime' (whole seconds)" >&2
	exit 2
fi
if [ -n "$pairs" ] && ! [[ $pairs =~ ^[0-9]+$ ]]; then
	echo "swap-bench: bad --pairs '$pairs'" >&2
	exit 2
fi
if ! [[ $reps =~ ^[1-9][0-9]*$ ]]; then
	echo "swap-bench: bad --reps '$reps'" >&2
	exit 2
fi

. "$(dirname "$0")/lib.sh"
bench_dirs swap-bench "$build"

# Temporary directory, private mount point ($ZT_MNT), cleanup hooks, the
# daemon's start and stop, the corpus; exits 77 unless root.
. "$top_srcdir/tests/daemon/lib.sh"
requires fio mkswap swapon swapoff losetup blkdiscard zstd
# No test of this project may use swap while the benchmark does.
lock_swap

SWAPPER=$top_builddir/tests/daemon/swapper
[ -x "$ZPOOLD" ] || fail "cannot find '$ZPOOLD': build it first"
if $do_swap && [ ! -x "$SWAPPER" ]; then
	fail "cannot find '$SWAPPER': build it first (make tests/daemon/swapper)"
fi

if $quick; then
	seq_mib=64 # the sequential tests' size and the random tests' range
	rt=${runtime:-1}
	sw_mib=128
	sw_passes=1
	sw_limit_mib=32
	sw_wait=5 # seconds to wait for other swap to go away
	do_matrix=false
	pairs=${pairs:-1}
else
	seq_mib=512
	rt=${runtime:-10}
	pairs=${pairs:-5}
	sw_mib=512
	sw_passes=3
	sw_limit_mib=128
	sw_wait=300
fi
dev_size=1G
# Sequential tests keep a few requests in flight, as swap-out does; 4k
# random tests wait for each one (psync), as a fault that swaps in does.
seq_qd=4
# fio's stand-in for swap data: 55% of every 512-byte chunk repeats, the rest
# is random, new for every write.
fio_data=(--buffer_compress_percentage=55 --refill_buffers)

# ---------------------------------------------------------------------------
# What is set up now; undo_devices takes down whatever is (last first).
# ---------------------------------------------------------------------------
SW_PID=    # swapper, running
CUR_SWAP=  # the device swapped on
CUR_LOOP=  # the loop device attached
ZRAM=      # zramN, set up by this script
NULL_LOOP= # the null volume's loop device in the alternating runs
ZRAM_ADDED=false
CG=        # the memory cgroup of the swap workload

# shellcheck disable=SC2317 # called from the cleanup hooks
undo_devices() {
	if [ -n "$SW_PID" ]; then
		kill -KILL "$SW_PID"
		wait "$SW_PID"
		SW_PID=
	fi
	if [ -n "$CUR_SWAP" ]; then
		swapoff "$CUR_SWAP" && CUR_SWAP=
	fi
	if [ -n "$CUR_LOOP" ]; then
		losetup -d "$CUR_LOOP" && CUR_LOOP=
	fi
	if [ -n "$NULL_LOOP" ]; then
		losetup -d "$NULL_LOOP" && NULL_LOOP=
	fi
	if [ -n "$CG" ]; then
		rmdir "$CG" && CG=
	fi
	if [ -n "$ZRAM" ]; then
		echo 1 >"/sys/block/$ZRAM/reset"
		if $ZRAM_ADDED; then
			echo "${ZRAM#zram}" >/sys/class/zram-control/hot_remove
		fi
		ZRAM=
	fi
}
on_exit undo_devices

# Figures, keyed "device,test": R the figure (MiB/s, IOPS or seconds).
tests=(seqw dd seqr rr1 rr2 rw1 rw2)
declare -A tname=(
	[seqw]="seq write 1M" [dd]="seq write 1M" [seqr]="seq read 1M"
	[rr1]="4k randread 1 job" [rr2]="4k randread 2 jobs"
	[rw1]="4k randwrite 1 job" [rw2]="4k randwrite 2 jobs"
	[swap]="swap workload"
)
declare -A tdata=(
	[seqw]="fio 55%" [dd]="corpus/dd" [seqr]="corpus" [rr1]="corpus"
	[rr2]="corpus" [rw1]="fio 55%" [rw2]="fio 55%" [swap]="corpus"
)
declare -A tunit=(
	[seqw]="MiB/s" [dd]="MiB/s" [seqr]="MiB/s" [rr1]="IOPS" [rr2]="IOPS"
	[rw1]="IOPS" [rw2]="IOPS" [swap]="s"
)
declare -A ratio_fio ratio_corpus

# record LABEL TEST FIGURE: keep the best of the rounds (the highest, or
# the lowest time).
record() {
	best "$1,$2" "$3" "$([ "$2" = swap ] && echo lower)" || true
}

# A figure where higher is faster: the swap workload's time inverted.
speed() {
	if [ "$1" = swap ]; then
		calc "1 / $2"
	else
		echo "$2"
	fi
}

# The figure as the table shows it: IOPS whole, the rest with decimals.
fmt() {
	local v=${1:-} unit=${2:-}
	if [ -z "$v" ]; then
		echo "-"
	elif [ "$unit" = IOPS ]; then
		awk -v v="$v" 'BEGIN { printf "%.0f", v }'
	elif [ "$unit" = s ]; then
		awk -v v="$v" 'BEGIN { printf "%.2f", v }'
	else
		awk -v v="$v" 'BEGIN { printf "%.1f", v }'
	fi
}

# ---------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------

# zram0 unless something else uses it (another test, the system's swap):
# then a device of our own.
zram_pick() {
	local n
	[ -d /sys/block/zram0 ] || modprobe zram 2>/dev/null
	if [ -d /sys/block/zram0 ] &&
		[ "$(cat /sys/block/zram0/disksize)" = 0 ]; then
		ZRAM=zram0
		return
	fi
	[ -w /sys/class/zram-control/hot_add ] ||
		fail "zram0 is in use (or missing) and there is no zram-control/hot_add"
	n=$(cat /sys/class/zram-control/hot_add) ||
		fail "cannot add a zram device"
	ZRAM=zram$n
	ZRAM_ADDED=true
	note "zram0 is in use; using $ZRAM"
}

# A fresh zram device: empty, lz4, $dev_size.
zram_init() {
	local z=/sys/block/$ZRAM
	echo 1 >"$z/reset" || fail "cannot reset $ZRAM (in use?)"
	echo lz4 >"$z/comp_algorithm" ||
		fail "cannot set comp_algorithm lz4 on $ZRAM"
	grep -q '\[lz4\]' "$z/comp_algorithm" ||
		fail "$ZRAM did not take lz4: $(cat "$z/comp_algorithm")"
	echo "$dev_size" >"$z/disksize" || fail "cannot size $ZRAM"
}

zram_reset() {
	echo 1 >"/sys/block/$ZRAM/reset" || fail "cannot reset $ZRAM"
}

# loop_attach FILE on|off: sets CUR_LOOP.
loop_attach() {
	local dio
	[ -z "$CUR_LOOP" ] || fail "internal: $CUR_LOOP still attached"
	CUR_LOOP=$(losetup --find --show --direct-io="$2" "$1") ||
		fail "cannot attach '$1' to a loop device (direct-io=$2)"
	dio=$(cat "/sys/block/${CUR_LOOP#/dev/}/loop/dio" 2>/dev/null)
	if [ "$2" = on ] && [ "$dio" != 1 ]; then
		fail "$CUR_LOOP: loop direct I/O did not turn on for '$1'"
	fi
}

loop_detach() {
	losetup -d "$CUR_LOOP" || fail "cannot detach $CUR_LOOP"
	CUR_LOOP=
}

# Compression ratio of what a device holds: $1 the device's label, $2 the
# bytes written. zram counts them itself; zpoold reports the compressed
# bytes as the volume file's blocks.
stored_ratio() {
	local stored
	case $1 in
	zram)
		awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }' \
			"/sys/block/$ZRAM/mm_stat"
		;;
	zp-* | mx-*)
		stored=$(($(stat -c %b "$ZT_MNT/swap") * 512))
		ratio "$2" "$stored"
		;;
	*) echo "-" ;;
	esac
}

# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

# run_fio LABEL DEV TEST: one fio run; its figure goes to R[LABEL,TEST].
run_fio() {
	local label=$1 dev=$2 t=$3 args=() line fig secs dir
	case $t in
	seqw) args=(--rw=write --bs=1M --ioengine=libaio "--iodepth=$seq_qd"
		"--size=${seq_mib}M" "${fio_data[@]}") ;;
	seqr) args=(--rw=read --bs=1M --ioengine=libaio "--iodepth=$seq_qd"
		"--size=${seq_mib}M") ;;
	rr[12]) args=(--rw=randread --bs=4k --ioengine=psync "--numjobs=${t#rr}"
		"--size=${seq_mib}M" --time_based "--runtime=$rt" --norandommap) ;;
	rw[12]) args=(--rw=randwrite --bs=4k --ioengine=psync "--numjobs=${t#rw}"
		"--size=${seq_mib}M" --time_based "--runtime=$rt" --norandommap
		"${fio_data[@]}") ;;
	esac
	line=$(fio --name="$t" --filename="$dev" --direct=1 --group_reporting \
		--output-format=terse "${args[@]}" 2>"$ZT_TMP/fio.err" |
		grep '^3;') || {
		cat "$ZT_TMP/fio.err" >&2
		fail "fio ${tname[$t]} on $label ($dev) failed"
	}
	# Terse v3: 5 error; read 7 KiB/s, 8 IOPS, 9 ms; write 48, 49, 50.
	[ "$(echo "$line" | cut -d';' -f5)" = 0 ] ||
		fail "fio ${tname[$t]} on $label ($dev) reported an error: $line"
	case $t in
	seqw | rw*) dir=47 ;;
	*) dir=6 ;;
	esac
	if [ "${tunit[$t]}" = IOPS ]; then
		fig=$(echo "$line" | awk -F';' -v f=$((dir + 2)) '{ print $f }')
	else
		fig=$(echo "$line" | awk -F';' -v f=$((dir + 1)) '{ print $f / 1024 }')
	fi
	secs=$(echo "$line" | awk -F';' -v f=$((dir + 3)) '{ print $f / 1000 }')
	record "$label" "$t" "$fig"
	LAST_FIG=$fig
	printf '  %-8s %-20s %-9s %10s %-5s in %5.1f s\n' "$label" "${tname[$t]}" \
		"${tdata[$t]}" "$(fmt "$fig" "${tunit[$t]}")" "${tunit[$t]}" "$secs"
}

# Write the corpus onto the first $seq_mib MiB of DEV, as often as it fits,
# with direct 1M writes: the data the read tests read, and a write figure.
prefill() {
	local label=$1 dev=$2 corpus_mib off n t0 t1 fig
	corpus_mib=$(($(stat -c %s "$CORPUS") >> 20))
	t0=$(now)
	for ((off = 0; off < seq_mib; off += corpus_mib)); do
		n=$((seq_mib - off < corpus_mib ? seq_mib - off : corpus_mib))
		dd if="$CORPUS" of="$dev" bs=1M seek=$off count=$n \
			iflag=fullblock oflag=direct conv=notrunc status=none ||
			fail "cannot write the corpus onto $label ($dev)"
	done
	t1=$(now)
	fig=$(calc "$seq_mib / ($t1 - $t0)")
	record "$label" dd "$fig"
	printf '  %-8s %-20s %-9s %10s %-5s in %5.1f s\n' "$label" \
		"${tname[dd]}" "${tdata[dd]}" "$(fmt "$fig")" MiB/s \
		"$(calc "$t1 - $t0")"
}

# Every fio test on one device, which starts empty.
bench_device() {
	local label=$1 dev=$2 bytes=$((seq_mib << 20))
	case $label in
	zram) ;;
	*) blkdiscard "$dev" || fail "cannot discard $label ($dev)" ;;
	esac
	run_fio "$label" "$dev" seqw
	: "${ratio_fio[$label]:=$(stored_ratio "$label" $bytes)}"
	prefill "$label" "$dev"
	: "${ratio_corpus[$label]:=$(stored_ratio "$label" $bytes)}"
	run_fio "$label" "$dev" seqr
	run_fio "$label" "$dev" rr1
	run_fio "$label" "$dev" rr2
	run_fio "$label" "$dev" rw1
	run_fio "$label" "$dev" rw2
}

# swap_workload LABEL DEV: swapper under a memory limit, swapping to DEV
# alone; its wall time goes to R[LABEL,swap].
swap_workload() {
	local label=$1 dev=$2 log=$ZT_TMP/swapper-$1.log other rc t0 t1
	local st=/sys/block/${2#/dev/}/stat in0 out0 in1 out1 i secs
	# One swap device at a time: give other swap (another test's) a while
	# to go. If it stays, it keeps its priority, higher than this device's
	# (swapon's default priorities fall in the order of the swapons), so
	# the workload goes there first: the traffic figures show how much
	# reached this device. Raising this device's priority instead would
	# send the other user's pages here.
	for ((i = 0; i < sw_wait * 2; i++)); do
		other=$(awk 'NR > 1 { printf "%s%s", n++ ? " " : "", $1 }' /proc/swaps)
		[ -n "$other" ] || break
		sleep 0.5
	done
	[ -z "$other" ] ||
		note "other swap is still active ($other): the $label figure is not of $dev alone"
	CG=/sys/fs/cgroup/memory/zpoold-swap-bench.$$
	mkdir "$CG" || { CG=; fail "cannot make the memory cgroup"; }
	echo "${sw_limit_mib}M" >"$CG/memory.limit_in_bytes" ||
		fail "cannot limit the memory cgroup to $sw_limit_mib MiB"
	mkswap "$dev" >"$log" 2>&1 || {
		cat "$log"
		fail "mkswap '$dev' failed"
	}
	swapon --discard "$dev" || fail "swapon '$dev' failed"
	CUR_SWAP=$dev
	# Sectors read and written on the device: its swap traffic alone.
	read -r _ _ in0 _ _ _ out0 _ <"$st"
	t0=$(now)
	bash -c 'echo $$ >"$1/cgroup.procs" && exec "$2" --mib "$3" --passes "$4"' \
		swapper "$CG" "$SWAPPER" "$sw_mib" "$sw_passes" >"$log" 2>&1 &
	SW_PID=$!
	wait "$SW_PID"
	rc=$?
	SW_PID=
	t1=$(now)
	read -r _ _ in1 _ _ _ out1 _ <"$st"
	swapoff "$dev" || fail "swapoff '$dev' failed"
	CUR_SWAP=
	rmdir "$CG" || fail "cannot remove the memory cgroup '$CG'"
	CG=
	if [ $rc -ne 0 ]; then
		cat "$log"
		fail "swapper failed on $label ($dev) with status $rc"
	fi
	secs=$(calc "$t1 - $t0")
	record "$label" swap "$secs"
	printf '  %-8s %-20s %-9s %10s %-5s swapped out %d MiB, in %d MiB; %s\n' \
		"$label" "${tname[swap]}" "${tdata[swap]}" \
		"$(fmt "$secs" s)" s \
		$(((out1 - out0) >> 11)) $(((in1 - in0) >> 11)) \
		"$(grep -o 'verified.*' "$log")"
}

# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
CORPUS=$(corpus_file)
[ -f "$CORPUS" ] || fail "cannot prepare the corpus"
zram_pick

write_config "$ZT_TMP/zpoold.conf" <<EOF
[volume swap]
size = $dev_size

[volume null]
size = $dev_size
store = null
EOF
defaults_all=$("$ZPOOLD" -c "$ZT_TMP/zpoold.conf" --check-config) ||
	fail "zpoold --check-config failed"
defaults=$(awk -F' = ' '$1 ~ /^(threads|poll_us|splice|max_write|compressor)$/ {
		printf "%s%s %s", n++ ? ", " : "", $1, $2 }' <<<"$defaults_all")

echo "swap-bench: zram vs zpoold vs the null volume, $(date -u '+%F %T') UTC"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), $(fio --version)"
echo "zpoold: $ZPOOLD ($defaults)"
echo "zram: /dev/$ZRAM, lz4, disksize $dev_size"
echo "sizes: sequential $seq_mib MiB (1M, libaio iodepth $seq_qd); 4k random (psync) over the same $seq_mib MiB, $rt s each; $reps round(s), best figure kept"
echo "load average before the start: $(cut -d' ' -f1-3 /proc/loadavg) (the figures mean little on a busy machine)"
echo

# "round i of N: " when there are rounds.
round_of() {
	[ "$reps" -eq 1 ] || echo "round $1 of $reps: "
}

bench_start_daemon "$ZT_TMP/zpoold.conf"
grep -h 'warning' "$ZT_TMP/zpoold.log" | sed 's/^/note: /'
for ((round = 1; round <= reps; round++)); do
	echo "== $(round_of $round)zram (/dev/$ZRAM)"
	zram_init
	bench_device zram "/dev/$ZRAM"
	zram_reset
	for dio in on off; do
		loop_attach "$ZT_MNT/swap" $dio
		echo "== $(round_of $round)zpoold, loop direct-io=$dio ($CUR_LOOP)"
		bench_device "zp-$dio" "$CUR_LOOP"
		loop_detach
	done
	for dio in on off; do
		loop_attach "$ZT_MNT/null" $dio
		echo "== $(round_of $round)null volume, loop direct-io=$dio ($CUR_LOOP)"
		bench_device "null-$dio" "$CUR_LOOP"
		loop_detach
	done
done

if $do_swap; then
	for ((round = 1; round <= reps; round++)); do
		echo "== $(round_of $round)swap workload: swapper --mib $sw_mib --passes $sw_passes in a memory cgroup limited to $sw_limit_mib MiB"
		zram_init
		swap_workload zram "/dev/$ZRAM"
		zram_reset
		for dio in on off; do
			loop_attach "$ZT_MNT/swap" $dio
			swap_workload "zp-$dio" "$CUR_LOOP"
			loop_detach
		done
	done
fi
stop_daemon 20

# Per test, the faster loop mode of zpoold is the reported one; null is
# compared in the same mode, so that zpoold/null is the store's own cost.
declare -A best
wins_on=0
wins_off=0
for t in "${tests[@]}" swap; do
	a=${R[zp-on,$t]:-} b=${R[zp-off,$t]:-}
	if [ -z "$a" ] || [ -z "$b" ]; then
		continue
	fi
	if [ "$t" = swap ]; then
		faster=$(awk -v a="$a" -v b="$b" 'BEGIN { print (a <= b ? "on" : "off") }')
	else
		faster=$(awk -v a="$a" -v b="$b" 'BEGIN { print (a >= b ? "on" : "off") }')
	fi
	best[$t]=$faster
	if [ "$faster" = on ]; then
		wins_on=$((wins_on + 1))
	else
		wins_off=$((wins_off + 1))
	fi
done
best_dio=on
[ $wins_off -gt $wins_on ] && best_dio=off

# The daemon option matrix, with the loop mode that won most tests: poll_us
# at its default and 0 (never poll), by splice no and yes; the fio tests and
# the swap workload.
def_poll=$(awk -F' = ' '$1 == "poll_us" { print $2 }' <<<"$defaults_all")
combos=("$def_poll no" "$def_poll yes" "0 no" "0 yes")
mx_tests=("${tests[@]}")
$do_swap && mx_tests+=(swap)
if $do_matrix; then
	for ((round = 1; round <= reps; round++)); do
		for c in "${combos[@]}"; do
			read -r pu sp <<<"$c"
			bench_start_daemon "$ZT_TMP/zpoold.conf" \
				-o daemon.poll_us="$pu" -o daemon.splice="$sp"
			loop_attach "$ZT_MNT/swap" $best_dio
			echo "== $(round_of $round)zpoold, poll_us=$pu splice=$sp, loop direct-io=$best_dio ($CUR_LOOP)"
			bench_device "mx-$pu-$sp" "$CUR_LOOP"
			$do_swap && swap_workload "mx-$pu-$sp" "$CUR_LOOP"
			loop_detach
			stop_daemon 20
		done
	done
fi

# zpoold against its ceiling, the null volume, in alternation: each 4k
# random test runs $pairs times on each, one right after the other (the
# order swapped every time), both volumes served by one daemon, each on its
# own loop device. Figures on a shared VM drift by tens of percent within
# minutes; a ratio of two runs seconds apart drifts much less. The median
# of the ratios is the reported zpoold/null.
declare -A P
pair_tests=(rr1 rr2 rw1 rw2)
median() {
	tr ' ' '\n' | sed '/^$/d' | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
if [ "$pairs" -gt 0 ]; then
	bench_start_daemon "$ZT_TMP/zpoold.conf"
	loop_attach "$ZT_MNT/swap" $best_dio
	NULL_LOOP=$(losetup --find --show --direct-io=$best_dio "$ZT_MNT/null") ||
		fail "cannot attach the null volume to a loop device"
	echo "== zpoold ($CUR_LOOP) and null ($NULL_LOOP) in alternation, loop direct-io=$best_dio, $pairs pairs per test"
	blkdiscard "$CUR_LOOP" || fail "cannot discard $CUR_LOOP"
	prefill pz "$CUR_LOOP"
	rt_full=$rt
	rt=$(((rt + 1) / 2))
	for t in "${pair_tests[@]}"; do
		zs='' ns='' qs=''
		for ((k = 0; k < pairs; k++)); do
			if ((k % 2)); then
				run_fio pn "$NULL_LOOP" "$t"
				n=$LAST_FIG
				run_fio pz "$CUR_LOOP" "$t"
				z=$LAST_FIG
			else
				run_fio pz "$CUR_LOOP" "$t"
				z=$LAST_FIG
				run_fio pn "$NULL_LOOP" "$t"
				n=$LAST_FIG
			fi
			zs="$zs $z" ns="$ns $n" qs="$qs $(calc "$z / $n")"
		done
		P[z,$t]=$(median <<<"$zs")
		P[n,$t]=$(median <<<"$ns")
		P[q,$t]=$(median <<<"$qs")
		P[range,$t]=$(tr ' ' '\n' <<<"$qs" | sed '/^$/d' | sort -g |
			awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f..%.2f", lo, hi }')
	done
	rt=$rt_full
	losetup -d "$NULL_LOOP" || fail "cannot detach $NULL_LOOP"
	NULL_LOOP=
	loop_detach
	stop_daemon 20
fi

# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------
echo
echo "data:"
echo "  fio 55%    fio buffers, --buffer_compress_percentage=55 --refill_buffers (55% of every 512 B chunk repeats, the rest is random, new for every write); stored at zram ${ratio_fio[zram]}:1, zpoold ${ratio_fio[zp-on]}:1 (direct-io=on) and ${ratio_fio[zp-off]}:1 (off)"
echo "  corpus     $(basename "$CORPUS") ($(($(stat -c %s "$CORPUS") >> 20)) MiB of anonymous memory) written over the first $seq_mib MiB with dd bs=1M oflag=direct before the read tests; stored at zram ${ratio_corpus[zram]}:1, zpoold ${ratio_corpus[zp-on]}:1 and ${ratio_corpus[zp-off]}:1 (null stores nothing and reads zeros)"
if $do_swap; then
	echo "  swap       swapper: $sw_mib MiB of corpus pages, each stamped and checksummed, $sw_passes random-order verifying passes; wall time, lower is better"
fi
echo
echo "zpoold: the faster loop mode per test (dio); null in the same mode"
printf '%-20s %-9s %-5s %10s %10s %4s %10s %11s %11s\n' test data unit zram \
	zpoold dio null zpoold/zram zpoold/null
for t in "${tests[@]}" swap; do
	[ -n "${best[$t]:-}" ] || continue
	u=${tunit[$t]}
	d=${best[$t]}
	z=${R[zram,$t]:-} p=${R[zp-$d,$t]:-} n=${R[null-$d,$t]:-}
	[ "$t" = swap ] && n=
	printf '%-20s %-9s %-5s %10s %10s %4s %10s %11s %11s\n' "${tname[$t]}" \
		"${tdata[$t]}" "$u" "$(fmt "$z" "$u")" "$(fmt "$p" "$u")" "$d" \
		"$(fmt "$n" "$u")" "$(ratio "$p" "$z")" "$(ratio "$p" "$n")"
done

echo
echo "loop direct I/O on and off"
printf '%-20s %-9s %-5s %10s %10s %10s %10s\n' test data unit zpoold/on \
	zpoold/off null/on null/off
for t in "${tests[@]}" swap; do
	[ -n "${best[$t]:-}" ] || continue
	u=${tunit[$t]}
	printf '%-20s %-9s %-5s %10s %10s %10s %10s\n' "${tname[$t]}" \
		"${tdata[$t]}" "$u" "$(fmt "${R[zp-on,$t]:-}" "$u")" \
		"$(fmt "${R[zp-off,$t]:-}" "$u")" "$(fmt "${R[null-on,$t]:-}" "$u")" \
		"$(fmt "${R[null-off,$t]:-}" "$u")"
done
echo "faster: direct-io=on in $wins_on tests, off in $wins_off"

if $do_matrix; then
	echo
	echo "daemon options (zpoold, loop direct-io=$best_dio); speed: the swap workload as its inverse time"
	printf '%-20s %-9s %-5s' test data unit
	for c in "${combos[@]}"; do
		read -r pu sp <<<"$c"
		printf ' %14s' "poll=$pu,spl=$sp"
	done
	printf '  %s\n' fastest
	for t in "${mx_tests[@]}"; do
		u=${tunit[$t]}
		printf '%-20s %-9s %-5s' "${tname[$t]}" "${tdata[$t]}" "$u"
		top='' topv=0
		for c in "${combos[@]}"; do
			read -r pu sp <<<"$c"
			v=${R[mx-$pu-$sp,$t]}
			printf ' %14s' "$(fmt "$v" "$u")"
			v=$(speed "$t" "$v")
			if awk -v a="$v" -v b="$topv" 'BEGIN { exit !(a > b) }'; then
				top="poll_us=$pu splice=$sp" topv=$v
			fi
		done
		printf '  %s\n' "$top"
	done
	# Each option's quotient (the first setting's speed over the
	# second's), as a geometric mean over the tests and both settings of
	# the other option.
	for opt in poll_us splice; do
		prod=0 nr=0
		for t in "${mx_tests[@]}"; do
			for other in 0 1; do
				if [ $opt = poll_us ]; then
					sp=$([ $other = 0 ] && echo no || echo yes)
					a=${R[mx-$def_poll-$sp,$t]} b=${R[mx-0-$sp,$t]}
					va=$def_poll vb=0
				else
					pu=$([ $other = 0 ] && echo "$def_poll" || echo 0)
					a=${R[mx-$pu-yes,$t]} b=${R[mx-$pu-no,$t]}
					va=yes vb=no
				fi
				prod=$(calc "$prod + log($(speed "$t" "$a") / $(speed "$t" "$b"))")
				nr=$((nr + 1))
			done
		done
		g=$(calc "exp($prod / $nr)")
		printf '%s %s/%s: %.3f (geometric mean of %d quotients): %s is faster\n' \
			$opt $va $vb "$g" $nr "$opt = $(awk -v g="$g" -v a="$va" -v b="$vb" 'BEGIN { print (g >= 1 ? a : b) }')"
	done
	# Each combination against the defaults, geometric mean over the tests.
	topc='' topg=0 all=''
	for c in "${combos[@]}"; do
		read -r pu sp <<<"$c"
		prod=0
		for t in "${mx_tests[@]}"; do
			prod=$(calc "$prod + log($(speed "$t" "${R[mx-$pu-$sp,$t]}") / $(speed "$t" "${R[mx-$def_poll-no,$t]}"))")
		done
		g=$(calc "exp($prod / ${#mx_tests[@]})")
		all="$all${all:+, }$pu/$sp $(printf '%.3f' "$g")"
		if awk -v a="$g" -v b="$topg" 'BEGIN { exit !(a > b) }'; then
			topc="poll_us=$pu splice=$sp" topg=$g
		fi
	done
	echo "fastest combination: $topc (geometric mean against the defaults poll_us/splice $def_poll/no: $all)"
fi

if [ "$pairs" -gt 0 ]; then
	echo
	echo "zpoold and null in alternation ($pairs pairs of $(((rt + 1) / 2)) s per test, loop direct-io=$best_dio): medians"
	printf '%-20s %-9s %-5s %10s %10s %11s %11s\n' test data unit zpoold null \
		zpoold/null range
	for t in "${pair_tests[@]}"; do
		u=${tunit[$t]}
		printf '%-20s %-9s %-5s %10s %10s %11s %11s\n' "${tname[$t]}" \
			"${tdata[$t]}" "$u" "$(fmt "${P[z,$t]}" "$u")" \
			"$(fmt "${P[n,$t]}" "$u")" "$(printf '%.2f' "${P[q,$t]}")" \
			"${P[range,$t]}"
	done
fi

# What the daemon said beyond its start-up warnings (shown above) and its
# start and stop.
logged=$(cat "$ZT_TMP"/zpoold.log* 2>/dev/null |
	grep -E '^(<[0-9]>)?zpoold: (critical|error|warning): ' |
	grep -vE 'PR_SET_IO_FLUSHER|oom_score_adj' | sort | uniq -c)
if [ -n "$logged" ]; then
	echo
	echo "zpoold logged (count, message):"
	echo "$logged"
fi

echo
if $do_swap; then
	echo "swap workload wall time zpoold/zram: $(ratio "${R[zp-${best[swap]},swap]}" "${R[zram,swap]}") (target <= 1.5)"
else
	echo "swap workload wall time zpoold/zram: - (--no-swap) (target <= 1.5)"
fi
echo "sequential 1M zpoold/zram: write $(ratio "${R[zp-${best[seqw]},seqw]}" "${R[zram,seqw]}"), read $(ratio "${R[zp-${best[seqr]},seqr]}" "${R[zram,seqr]}") (target >= 0.8)"
if [ "$pairs" -gt 0 ]; then
	q() { printf '%.2f' "${P[q,$1]}"; }
	how="median of $pairs alternating pairs"
else
	q() { ratio "${R[zp-${best[$1]},$1]}" "${R[null-${best[$1]},$1]}"; }
	how="best of $reps round(s)"
fi
echo "4k random zpoold/null ($how): read $(q rr1) (1 job), $(q rr2) (2 jobs); write $(q rw1) (1 job), $(q rw2) (2 jobs) (target >= 0.9)"
exit 0

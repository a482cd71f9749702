#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# writeback-bench.sh - zpoold's writeback of least recently used blocks to
# a backing file, measured against the raw disk and against kernel zswap
# in front of a swap file, on the same machine, disk and data. Two parts:
#
# 1. Writeback throughput. zpoold serves one volume with a backing file on
#    the disk under test; dd writes the corpus (real anonymous memory,
#    about 2.3:1 with lz4), 1 GiB of it, through the volume file with
#    bs=1M oflag=direct, three times:
#      limit  with a small pool limit (max_pool_size 64M), so that the
#             shrinker writes back the whole time (and stores that find
#             the pool full bypass it, each one a 4 KiB write of its own);
#      zspage the same with victims = zspage (whole zspages written back,
#             no compaction), to compare the pool memory each kind of
#             victim frees per page written back (wb_freed_pages over
#             written_back_pages);
#      idle   with no limit in reach and idle_seconds longer than dd
#             takes: nothing goes to disk until the second idle pass
#             after dd, which writes every block back in one go, as fast
#             as the shrinker can, not as fast as dd feeds it.
#    The daemon's counters are read every 0.1 s (SIGUSR1: it logs
#    "zpoold: stats: NAME VALUE" lines, then "zpoold: stats: end"); the
#    figure is written_back_pages over the time it grew, in pages/s and
#    MiB/s of backing file (a 4096-byte slot a page); for the limit runs
#    also with bypassed_stores (every write to the backing file), and the
#    volume's write rate (dd's), which the writeback cannot outrun. Before
#    and after each zpoold run, dd bs=1M oflag=direct conv=fsync of zeros
#    to a new file in the same directory gives the raw disk's MiB/s (once
#    more without fsync, as zpoold writes, at the start of a round); each
#    run is held against the mean of the dd figures around it, as other
#    work on a shared disk comes and goes within seconds, and the report
#    gives the median of these zpoold/dd ratios over the rounds. The
#    target line is the idle drain's: the limit runs cannot write back
#    faster than dd feeds the volume through FUSE (on two CPUs a fraction
#    of the disk's speed), which their line says.
# 2. The swap workload with the compressed pool limited to a quarter of
#    the working set, with disk behind it: swapper (tests/daemon/swapper,
#    as bench/swap-bench.sh runs it) fills the working set with corpus
#    pages in a memory cgroup (v1) limited to a quarter of it and reads
#    every page back in random order, checking each. Side by side:
#      zswap   kernel zswap (lz4 when the kernel has it) with
#              max_pool_percent so that its limit is a quarter of the
#              working set, in front of a swap file on the disk under test
#      zpoold  a zpoold volume (lz4) on a loop device (direct I/O) with
#              max_pool_size the same limit and a backing file on the same
#              disk
#    each the only swap, at the highest priority. zswap's limit is a whole
#    percent of RAM, so the working set is chosen as four times the
#    percent of RAM nearest 256 MiB; zpoold gets exactly that limit.
#    Printed: wall time of each side and their ratio, pages swapped out
#    and in (/proc/vmstat pswpout, pswpin; for zswap also zswpout, zswpin),
#    zswap's written_back_pages (debugfs, mounted for the run when it is
#    not), zpoold's written_back_pages, what each side wrote to and read
#    from the disk (from those counters), and each pool's peak.
#
# Figures only: no figure fails the script; it exits non-zero on errors (a
# device or the daemon that cannot be set up, dd failing, swapper failing
# its verification). Everything it sets up (swap, the swap file, loop
# devices, daemons, the backing and dd files, the cgroup, debugfs, every
# zswap parameter, which is put back to what it was) is undone from an
# EXIT trap, also on failure. The disk files live in a directory of their
# own under --dir (default $TMPDIR, else /var/tmp), which must be on a
# disk file system (not tmpfs); at most one of them exists at a time, the
# largest the size of the working set or of part 1's write (1 GiB).
#
# Usage: bench/writeback-bench.sh [--quick] [--no-swap] [--reps N]
#                                 [--dir DIR] [--build DIR]
# It finds daemon/zpoold and tests/daemon/swapper in the build directory:
# --build DIR, else $top_builddir, else the current directory if it is a
# build, else the source tree. Needs root (exit 77 otherwise).

usage() {
	cat <<EOF
usage: writeback-bench.sh [options]
  --quick        small sizes and one verifying pass (for a smoke run)
  --no-swap      only the writeback throughput (part 1), no swap workload
  --reps N       run everything N times, in rounds, and keep each
                 figure's best (default 1)
  --dir DIR      where the backing, dd and swap files go (default
                 \$TMPDIR, else /var/tmp); must be on a disk file system
  --build DIR    the build directory (default: \$top_builddir, else the
                 current directory if it holds daemon/zpoold)
  -h, --help     show this help
EOF
}

quick=false
do_swap=true
reps=1
build=
disk_dir=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=true ;;
	--no-swap) do_swap=false ;;
	--reps) reps=${2:-}; shift ;;
	--reps=*) reps=${1#*=} ;;
	--dir) disk_dir=${2:-}; shift ;;
	--dir=*) disk_dir=${1#*=} ;;
	--build) build=${2:-}; shift ;;
	--build=*) build=${1#*=} ;;
	-h | --help) usage; exit 0 ;;
	*)
		echo "writeback-bench: unknown option '$1'" >&2
		usage >&2
		exit 2
		;;
	esac
	shift
done
if ! [[ $reps =~ ^[1-9][0-9]*$ ]]; then
	echo "writeback-bench: bad --reps '$reps'" >&2
	exit 2
fi
disk_dir=${disk_dir:-${TMPDIR:-/var/tmp}}
if [ ! -d "$disk_dir" ]; then
	echo "writeback-bench: no directory '$disk_dir'" >&2
	exit 2
fi

. "$(dirname "$0")/lib.sh"
bench_dirs writeback-bench "$build"

# Temporary directory, private mount point ($ZT_MNT), cleanup hooks, the
# daemon's start and stop, the corpus, memory cgroups; exits 77 unless
# root.
. "$top_srcdir/tests/daemon/lib.sh"
requires dd fallocate findmnt mkswap swapon swapoff losetup zstd

SWAPPER=$top_builddir/tests/daemon/swapper
[ -x "$ZPOOLD" ] || fail "cannot find '$ZPOOLD': build it first"
if $do_swap && [ ! -x "$SWAPPER" ]; then
	fail "cannot find '$SWAPPER': build it first (make tests/daemon/swapper)"
fi

if $quick; then
	wb_mib=256       # part 1: written through the volume
	wb_pool=16M      # part 1: the pool limit
	dd_mib=256       # part 1: the raw disk's dd
	wb_idle=2        # part 1: idle_seconds, longer than dd takes
	sw_passes=1
	sw_wait=5        # seconds to wait for other swap to go away
else
	wb_mib=1024
	wb_pool=64M
	dd_mib=1024
	wb_idle=5
	sw_passes=3
	sw_wait=300
fi
# Part 2: zswap's limit is max_pool_percent of RAM (of MemTotal: the
# kernel's totalram_pages), a whole percent; the working set is four
# times the percent nearest a quarter of sw_target_mib.
sw_target_mib=1024
sw_zp_settings= # the swap side's zpoold settings, for the report
sample_s=0.1 # part 1: how often the daemon's counters are read
# Free space the disk keeps beyond the largest file this script makes.
disk_margin_mib=512

# ---------------------------------------------------------------------------
# What is set up now; undo_devices takes down whatever is (last first).
# ---------------------------------------------------------------------------
SW_PID=    # swapper, running
WR_PID=    # part 1's writer (a subshell running dd), running
CUR_SWAP=  # the device or file swapped on
CUR_LOOP=  # the loop device attached
CG=        # the memory cgroup of the swap workload
SWAPFILE=  # the swap file, made by this script
DISK=      # a private directory under $disk_dir for the files on disk
DEBUGFS_MOUNTED=false
ZSW_PARAMS=/sys/module/zswap/parameters
declare -A ZSW_SAVED # every zswap parameter as it was, to put back

# shellcheck disable=SC2317 # called from the cleanup hooks
undo_devices() {
	if [ -n "$SW_PID" ]; then
		kill -KILL "$SW_PID"
		wait "$SW_PID"
		SW_PID=
	fi
	if [ -n "$WR_PID" ]; then
		_zt_kill_tree "$WR_PID"
		wait "$WR_PID"
		WR_PID=
	fi
	if [ -n "$CUR_SWAP" ]; then
		swapoff "$CUR_SWAP" && CUR_SWAP=
	fi
	if [ -n "$CUR_LOOP" ]; then
		losetup -d "$CUR_LOOP" && CUR_LOOP=
	fi
	if [ -n "$CG" ]; then
		memcg_remove "$CG" && CG=
	fi
	# Never a swap file that may still be swap.
	if [ -n "$SWAPFILE" ] && [ -z "$CUR_SWAP" ]; then
		rm -f "$SWAPFILE" && SWAPFILE=
	fi
}

# After the daemon is gone (this hook is registered first, so it runs
# last): the files on disk, zswap's parameters, debugfs.
# shellcheck disable=SC2317 # called from the cleanup hooks
undo_machine() {
	if [ -n "$DISK" ] && [ -z "$CUR_SWAP" ]; then
		rm -rf "$DISK" && DISK=
	fi
	zswap_restore
	if $DEBUGFS_MOUNTED; then
		umount /sys/kernel/debug && DEBUGFS_MOUNTED=false
	fi
}
on_exit undo_machine
on_exit undo_devices

# fmt VALUE [DECIMALS]: "-" when missing.
fmt() {
	if [ -z "${1:-}" ]; then
		echo "-"
	else
		awk -v v="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, v }'
	fi
}

# ---------------------------------------------------------------------------
# The disk
# ---------------------------------------------------------------------------
DISK=$(mktemp -d "$disk_dir/zpoold-writeback-bench.XXXXXX") ||
	fail "cannot make a directory under '$disk_dir'"
# The file system's type as the kernel names it (stacked mounts: the top
# one), and where it lives.
case $(stat -f -c %T "$DISK") in
tmpfs | ramfs | overlayfs | fuse* | nfs* | cifs | smb*)
	fail "'$disk_dir' is on $(stat -f -c %T "$DISK"): give --dir a directory on a local disk file system"
	;;
esac
disk_fs=$(findmnt -n -o FSTYPE --target "$DISK" | tail -n 1)
disk_src=$(findmnt -n -o SOURCE --target "$DISK" | tail -n 1)
disk_free_mib() {
	df -P -m "$DISK" | awk 'NR == 2 { print $4 }'
}

# need_room MIB: fail unless MIB and the margin are free on the disk.
need_room() {
	local free
	free=$(disk_free_mib)
	[ "$free" -ge $(($1 + disk_margin_mib)) ] ||
		fail "$DISK: $free MiB free, need $1 MiB and $disk_margin_mib to spare"
}

# ---------------------------------------------------------------------------
# The daemon's counters
# ---------------------------------------------------------------------------
declare -A ZS # the last dump: NAME -> VALUE
ZS_T=         # when it was taken (midway between asking and the answer)
LAST_DD=      # the last raw dd's MiB/s (with fsync)
LAST_PAGES=   # the last wb_run's writeback, pages/s
LAST_ALL=     # the same with bypassed stores

# zp_stats: ask the daemon for its counters (SIGUSR1) and wait for the
# dump to end; fills ZS and ZS_T.
zp_stats() {
	local log=$ZT_TMP/zpoold.log n t0 t1 i name value
	n=$(grep -c 'stats: end$' "$log")
	t0=$(now)
	kill -USR1 "$ZT_PID" || fail "cannot signal zpoold (SIGUSR1)"
	for ((i = 0; i < 500; i++)); do
		[ "$(grep -c 'stats: end$' "$log")" -gt "$n" ] && break
		daemon_alive || fail "zpoold went away (SIGUSR1 not handled?)"
		sleep 0.01
	done
	[ "$i" -lt 500 ] || fail "zpoold did not dump its counters within 5 s of SIGUSR1"
	t1=$(now)
	ZS=()
	# The lines of dump n + 1: "... stats: NAME VALUE", "... stats: end".
	while read -r name value; do
		ZS[$name]=$value
	done < <(awk -v n="$n" '{
			for (i = 1; i < NF; i++)
				if ($i == "stats:")
					break
			if (i >= NF)
				next
			if ($(i + 1) == "end" && i + 1 == NF)
				b++
			else if (b == n)
				print $(i + 1), $(i + 2)
		}' "$log")
	ZS_T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (a + b) / 2 }')
	[ -n "${ZS[written_back_pages]:-}" ] ||
		fail "zpoold's counters have no written_back_pages (a daemon without writeback?)"
}

# zs NAME: a counter of the last dump, 0 when the daemon has no such one.
zs() {
	echo "${ZS[$1]:-0}"
}

# The settings the daemon will run with (from --check-config): the pool
# limit and the writeback section, on one line.
wb_settings() {
	"$ZPOOLD" -c "$1" --check-config |
		awk -F' = ' '/^\[/ { s = $0; next } NF != 2 { next }
		(s == "[pool]" && $1 ~ /^(compressor|max_pool_size|max_pool_percent|accept_threshold_percent|max_node_size)$/) ||
		(s == "[writeback]" && $1 != "file") {
			printf "%s%s %s", n++ ? ", " : "", $1, $2 }'
}

# ---------------------------------------------------------------------------
# Part 1: writeback throughput
# ---------------------------------------------------------------------------

# raw_dd [both]: the raw disk, dd of zeros into a new file, direct, with
# an fsync at the end (the figure zpoold is held against; LAST_DD); with
# "both" once more without fsync: zpoold never syncs its backing file
# (nothing in it outlives the daemon), and a virtual disk may hold direct
# writes in a cache until a flush.
raw_dd() {
	local f=$DISK/dd t0 t1 fig conv key what
	need_room "$dd_mib"
	for conv in fsync notrunc; do
		key=dd what="zeros, bs=1M direct, fsync"
		if [ $conv != fsync ]; then
			[ "${1:-}" = both ] || break
			key=dd_nosync what="zeros, bs=1M direct, no fsync"
		fi
		t0=$(now)
		dd if=/dev/zero of="$f" bs=1M count="$dd_mib" oflag=direct \
			conv=$conv status=none || fail "dd to '$f' failed"
		t1=$(now)
		rm -f "$f"
		fig=$(calc "$dd_mib / ($t1 - $t0)")
		best $key "$fig"
		[ $conv != fsync ] || LAST_DD=$fig
		printf '  %-8s %-40s %8s MiB/s in %5.2f s\n' dd "$what" \
			"$(fmt "$fig")" "$(calc "$t1 - $t0")"
	done
}

# Write the corpus, as often as it fits, over the first MIB MiB of FILE
# with direct 1M writes (as swap-bench.sh's prefill does).
write_corpus() {
	local file=$1 mib=$2 corpus_mib off n
	corpus_mib=$(($(stat -c %s "$CORPUS") >> 20))
	for ((off = 0; off < mib; off += corpus_mib)); do
		n=$((mib - off < corpus_mib ? mib - off : corpus_mib))
		dd if="$CORPUS" of="$file" bs=1M seek=$off count=$n \
			iflag=fullblock oflag=direct conv=notrunc status=none ||
			return 1
	done
}

# wb_config FILE limit|zspage|idle: part 1's daemon configuration. limit:
# the small pool limit; zspage: the same with whole-zspage victims; idle:
# a limit the data never reaches, idle writeback every $wb_idle s and no
# pressure trigger.
wb_config() {
	local pool=$wb_pool extra=
	if [ "$2" = idle ]; then
		pool=$((wb_mib * 2))M
		extra="idle_seconds = $wb_idle
psi_stall_ms = 0"
	elif [ "$2" = zspage ]; then
		extra="victims = zspage"
	fi
	write_config "$1" <<EOF
[pool]
max_pool_size = $pool

[writeback]
file = $DISK/backing
size = ${wb_mib}M
$extra

[volume wb]
size = ${wb_mib}M
EOF
}

# wb_run limit|zspage|idle: the corpus written through the volume while the
# daemon's counters are read every $sample_s s, until written-back pages
# stop growing. limit: the shrinker writes back while dd writes, and
# stores that find the pool full bypass it (each one a 4 KiB write of its
# own); idle: nothing goes to disk until the idle passes after dd (the
# first marks every block idle, the second writes them all back in one
# go), so that the writeback runs as fast as it can, not as fast as dd
# feeds it. Figures: written_back_pages over the time it grew (between
# the first and the last sample taken while it grew, so that the samples'
# spacing does not count), the same for all writes to the backing file
# (written-back plus bypassed blocks), and the volume's write rate (dd's).
wb_run() {
	local mode=$1 conf=$ZT_TMP/wb-$1.conf rc t0 t1 tw='' stable=0 last=-1
	local i k j first=-1 lastgrow=-1 final feed span='' pages='' all=''
	local wait_max=60 label ts
	local -a st sw sb
	need_room "$wb_mib"
	wb_config "$conf" "$mode"
	[ "$mode" = idle ] && wait_max=$((wb_idle * 3 + 10))
	ts=$(now)
	bench_start_daemon "$conf"
	zp_stats
	[ "$(zs written_back_pages)" = 0 ] ||
		fail "written_back_pages is $(zs written_back_pages) before anything was written"
	t0=$(now)
	(
		trap - EXIT
		write_corpus "$ZT_MNT/wb" "$wb_mib"
	) &
	WR_PID=$!
	for ((i = 0; ; i++)); do
		zp_stats
		st[i]=$ZS_T
		sw[i]=$(zs written_back_pages)
		sb[i]=$(zs bypassed_stores)
		if [ -z "$tw" ] && ! _zt_running "$WR_PID"; then
			wait "$WR_PID"
			rc=$?
			WR_PID=
			t1=$(now)
			tw=$t1
			[ $rc -eq 0 ] ||
				fail "writing the corpus through the volume failed (status $rc)"
		fi
		if [ "${sw[i]}" != "$last" ]; then
			last=${sw[i]}
			stable=0
		elif [ -n "$tw" ] && [ "${sw[i]}" -gt 0 ]; then
			stable=$((stable + 1))
		fi
		# Done when writeback stood still for a second after dd ended.
		[ -n "$tw" ] && [ "$stable" -ge 10 ] && break
		if [ -n "$tw" ] && awk -v a="$(now)" -v b="$tw" -v m="$wait_max" 'BEGIN { exit !(a - b > m) }'; then
			note "$mode: written_back_pages still changes (or never did) $wait_max s after dd ended; stopping there"
			break
		fi
		sleep "$sample_s"
	done
	final=${sw[i]}
	# The samples in which writeback had started and not yet ended.
	for ((k = 0; k <= i; k++)); do
		if [ "${sw[k]}" -gt 0 ] && [ "${sw[k]}" -lt "$final" ]; then
			[ $first -ge 0 ] || first=$k
			lastgrow=$k
		fi
	done
	feed=$(calc "$wb_mib / ($t1 - $t0)")
	if [ "$final" -eq 0 ]; then
		note "$mode: nothing was written back"
	elif [ $first -ge 0 ] && [ $lastgrow -gt $first ]; then
		span=$(calc "${st[lastgrow]} - ${st[first]}")
		pages=$(calc "(${sw[lastgrow]} - ${sw[first]}) / $span")
		all=$(calc "(${sw[lastgrow]} + ${sb[lastgrow]} - ${sw[first]} - ${sb[first]}) / $span")
	else
		# Too short for two samples inside: the samples around it.
		k=0
		while [ "${sw[k]}" -eq 0 ]; do k=$((k + 1)); done
		k=$((k > 0 ? k - 1 : 0))
		j=$k
		while [ "${sw[j]}" -lt "$final" ]; do j=$((j + 1)); done
		span=$(calc "${st[j]} - ${st[k]}")
		pages=$(calc "($final - ${sw[k]}) / $span")
		all=$(calc "($final + ${sb[j]} - ${sw[k]} - ${sb[k]}) / $span")
		note "$mode: writeback took under two samples: its rate is a lower bound"
	fi
	label="written_back_pages $final ($((final * 4096 >> 20)) MiB), bypassed_stores $(zs bypassed_stores), writeback_batches $(zs writeback_batches), wb_writes $(zs wb_writes), writeback_failures $(zs writeback_failures), pool_limit_hit $(zs pool_limit_hit); pool at the end $(($(zs pool_pages) * 4096 >> 20)) MiB (limit $(($(zs pool_limit_pages) * 4096 >> 20)) MiB); volume blocks on disk $(zs volume.wb.blocks_disk)"
	printf '  %-8s %-40s %8s MiB/s in %5.2f s\n' zpoold \
		"$mode: corpus, dd bs=1M direct, volume" "$(fmt "$feed")" "$(calc "$t1 - $t0")"
	if [ -n "$pages" ]; then
		printf '  %-8s %-40s %8s MiB/s (%s pages/s over %s s; %d MiB in all, %d samples)\n' \
			zpoold "$mode: writeback (written_back_pages)" \
			"$(fmt "$(calc "$pages * 4096 / 1048576")")" "$(fmt "$pages" 0)" \
			"$(fmt "$span" 2)" $((final * 4096 >> 20)) $((i + 1))
		if [ "$mode" != idle ]; then
			printf '  %-8s %-40s %8s MiB/s (%s pages/s, bypassed stores included)\n' \
				zpoold "$mode: all writes to the backing file" \
				"$(fmt "$(calc "$all * 4096 / 1048576")")" "$(fmt "$all" 0)"
		fi
	fi
	best "$mode,feed" "$feed"
	LAST_PAGES=$pages LAST_ALL=$all
	# How much pool memory the writing back freed: the measure that
	# chooses between the two kinds of victims.
	R[$mode,wb]=$final
	R[$mode,freed]=$(zs wb_freed_pages)
	R[$mode,compacted]=$(zs compacted_pages)
	if [ -n "$pages" ] && best "$mode,pages" "$pages"; then
		R[$mode,all]=$all
		R[$mode,detail]=$label
	fi
	[ "$(zs writeback_failures)" = 0 ] ||
		note "$mode: writeback_failures $(zs writeback_failures)"
	if [ "$mode" = idle ] &&
		awk -v a="$t1" -v b="$ts" -v d="$wb_idle" 'BEGIN { exit !(a - b > d) }'; then
		note "idle: dd ended after the first idle pass: the writeback may have come in two passes, and its rate counts the wait between them"
	fi
	stop_daemon 20
	rm -f "$DISK/backing"
}

# ---------------------------------------------------------------------------
# Part 2: zswap
# ---------------------------------------------------------------------------

zswap_save() {
	local f
	[ -d "$ZSW_PARAMS" ] || fail "this kernel has no zswap ($ZSW_PARAMS)"
	for f in "$ZSW_PARAMS"/*; do
		if [ ! -f "$f" ] || [ ! -w "$f" ]; then
			continue
		fi
		ZSW_SAVED[${f##*/}]=$(cat "$f")
	done
}

zswap_set() {
	echo "$2" >"$ZSW_PARAMS/$1" 2>/dev/null
}

zswap_get() {
	cat "$ZSW_PARAMS/$1"
}

# Every parameter as it was: off first (stores stop), the others, then
# enabled as it was. Only what differs is written.
# shellcheck disable=SC2317 # called from the cleanup hooks
zswap_restore() {
	local p rc=0
	[ ${#ZSW_SAVED[@]} -gt 0 ] || return 0
	[ "$(zswap_get enabled)" = N ] || zswap_set enabled N || rc=1
	for p in "${!ZSW_SAVED[@]}"; do
		[ "$p" != enabled ] || continue
		[ "$(zswap_get "$p")" = "${ZSW_SAVED[$p]}" ] ||
			zswap_set "$p" "${ZSW_SAVED[$p]}" || rc=1
	done
	[ "$(zswap_get enabled)" = "${ZSW_SAVED[enabled]}" ] ||
		zswap_set enabled "${ZSW_SAVED[enabled]}" || rc=1
	for p in "${!ZSW_SAVED[@]}"; do
		[ "$(zswap_get "$p")" = "${ZSW_SAVED[$p]}" ] || {
			echo "$ZT_NAME: could not restore zswap's $p to '${ZSW_SAVED[$p]}' (it is '$(zswap_get "$p")')" >&2
			rc=1
		}
	done
	[ $rc -ne 0 ] || ZSW_SAVED=()
	return $rc
}

ZSW_COMP=        # the compressor zswap runs with
ZSW_USED=        # every parameter while it ran
ZSW_COMP_NOTE='' # why it is not lz4

# zswap on with the limit and lz4, else the fastest compressor the kernel
# has (zswap takes its compressors from the crypto API).
zswap_on() {
	local c
	zswap_set max_pool_percent "$sw_pct" ||
		fail "zswap refused max_pool_percent $sw_pct"
	# Enabled first: before its first enabling zswap takes any
	# compressor name and falls back silently when the pool is made.
	zswap_set enabled Y || fail "cannot enable zswap"
	[ "$(zswap_get enabled)" = Y ] ||
		fail "zswap did not turn on (enabled reads '$(zswap_get enabled)'; see dmesg)"
	if [ -z "$ZSW_COMP" ]; then
		if ! zswap_set compressor lz4 || [ "$(zswap_get compressor)" != lz4 ]; then
			modprobe lz4 2>/dev/null || modprobe crypto-lz4 2>/dev/null
		fi
		for c in lz4 lzo-rle lzo; do
			if zswap_set compressor "$c" && [ "$(zswap_get compressor)" = "$c" ]; then
				ZSW_COMP=$c
				break
			fi
		done
		[ -n "$ZSW_COMP" ] || fail "zswap takes none of lz4, lzo-rle, lzo"
		if [ "$ZSW_COMP" != lz4 ]; then
			ZSW_COMP_NOTE="zswap cannot use lz4 here (the kernel's crypto API has none and modprobe lz4 failed); it runs $ZSW_COMP"
			note "$ZSW_COMP_NOTE"
		fi
	fi
	if ! zswap_set compressor "$ZSW_COMP" ||
		[ "$(zswap_get compressor)" != "$ZSW_COMP" ]; then
		fail "zswap does not take compressor $ZSW_COMP"
	fi
	[ "$(zswap_get max_pool_percent)" = "$sw_pct" ] ||
		fail "zswap's max_pool_percent reads $(zswap_get max_pool_percent), not $sw_pct"
	ZSW_USED=$(for p in "$ZSW_PARAMS"/*; do printf '%s %s, ' "${p##*/}" "$(cat "$p")"; done | sed 's/, $//')
}

zswap_off() {
	zswap_set enabled N || fail "cannot disable zswap"
}

ZSW_DBG=/sys/kernel/debug/zswap
# zswap's debugfs counter NAME (0 when missing).
zswap_dbg() {
	cat "$ZSW_DBG/$1" 2>/dev/null || echo 0
}

debugfs_mount() {
	grep -q '^[^ ]* /sys/kernel/debug debugfs ' /proc/mounts && return 0
	mount -t debugfs none /sys/kernel/debug || fail "cannot mount debugfs"
	DEBUGFS_MOUNTED=true
}

# ---------------------------------------------------------------------------
# Part 2: the swap workload
# ---------------------------------------------------------------------------

# Counters before and after a run, "NAME VALUE" lines: /proc/vmstat's
# and zswap's.
declare -A V0 V1
vm_counters() {
	local k
	for k in pswpin pswpout zswpin zswpout zswpwb; do
		echo "$k $(vm_stat $k)"
	done
	echo "zswap_wb $(zswap_dbg written_back_pages)"
	echo "zswap_hit $(zswap_dbg pool_limit_hit)"
}

# The pool's size in bytes now, for the sampler: zswap's (debugfs) or
# zpoold's (its counters).
# shellcheck disable=SC2317 # called from the sampler
pool_bytes() {
	if [ "$1" = zpoold ]; then
		zp_stats
		echo $(($(zs pool_pages) * 4096))
	else
		zswap_dbg pool_total_size
	fi
}

# sw_run LABEL: swapper in its memory cgroup, swapping to $CUR_SWAP alone
# (swapon'd by the caller); its wall time and counters go to
# R[LABEL,...] when the time is the best of the rounds.
sw_run() {
	local label=$1 log=$ZT_TMP/swapper-$1.log other rc t0 t1 i secs k
	local -A a b
	local zk=(written_back_pages wb_reads bypassed_stores pool_limit_hit writeback_failures)
	# One swap device at a time: give other swap (another test's) a while
	# to go (as swap-bench.sh does); this one has the highest priority
	# anyway, so the workload's pages come here first.
	for ((i = 0; i < sw_wait * 2; i++)); do
		other=$(awk -v d="$CUR_SWAP" 'NR > 1 && $1 != d { printf "%s%s", n++ ? " " : "", $1 }' /proc/swaps)
		[ -n "$other" ] || break
		sleep 0.5
	done
	[ -z "$other" ] ||
		note "other swap is still active ($other): the $label figures are not of $CUR_SWAP alone"
	memcg_create "zpoold-writeback-bench.$$" "${sw_limit_mib}M"
	CG=$ZT_MEMCG
	while read -r k i; do V0[$k]=${i:-0}; done < <(vm_counters)
	if [ "$label" = zpoold ]; then
		zp_stats
		for k in "${zk[@]}"; do a[$k]=$(zs "$k"); done
	fi
	# The pool's size every half second: its peak.
	: >"$ZT_TMP/pool-$label"
	sample_every 0.5 "$ZT_TMP/pool-$label" "pool_bytes $label"
	t0=$(now)
	memcg_run "$CG" "$SWAPPER" --mib "$sw_mib" --passes "$sw_passes" \
		>"$log" 2>&1 &
	SW_PID=$!
	wait "$SW_PID"
	rc=$?
	SW_PID=
	t1=$(now)
	stop_sampler "$ZT_SAMPLER"
	b[pool]=$(($(column_max "$ZT_TMP/pool-$label" 1) >> 20))
	while read -r k i; do V1[$k]=${i:-0}; done < <(vm_counters)
	if [ "$label" = zpoold ]; then
		zp_stats
		for k in "${zk[@]}"; do b[$k]=$(($(zs "$k") - a[$k])); done
	fi
	memcg_remove "$CG" || fail "cannot remove the memory cgroup '$CG'"
	CG=
	if [ $rc -ne 0 ]; then
		cat "$log"
		fail "swapper failed on $label: $(swapper_status $rc)"
	fi
	grep -q "^swapper: verified $((sw_mib * 256)) pages x $sw_passes passes\$" "$log" ||
		fail "swapper on $label did not report every page verified: $(cat "$log")"
	secs=$(calc "$t1 - $t0")
	for k in pswpin pswpout zswpin zswpout zswpwb zswap_wb zswap_hit; do
		b[$k]=$((V1[$k] - V0[$k]))
	done
	if best "$label,swap" "$secs" lower; then
		for k in "${!b[@]}"; do
			R[$label,$k]=${b[$k]}
		done
	fi
	if [ "$label" = zpoold ]; then
		i="written_back_pages ${b[written_back_pages]}, wb_reads ${b[wb_reads]}"
	else
		i="zswpout ${b[zswpout]} zswpin ${b[zswpin]}, written_back_pages ${b[zswap_wb]}"
	fi
	printf '  %-7s %7.2f s  pswpout %d pswpin %d; %s; %s\n' "$label" "$secs" \
		"${b[pswpout]}" "${b[pswpin]}" "$i" "$(grep -o 'verified.*' "$log")"
}

# zswap in front of a swap file on the disk.
sw_zswap() {
	need_room $((sw_mib + 64))
	SWAPFILE=$DISK/swapfile
	fallocate -l "$((sw_mib + 64))M" "$SWAPFILE" ||
		fail "cannot allocate the swap file '$SWAPFILE'"
	chmod 600 "$SWAPFILE"
	mkswap "$SWAPFILE" >"$ZT_TMP/mkswap.log" 2>&1 || {
		cat "$ZT_TMP/mkswap.log"
		fail "mkswap '$SWAPFILE' failed"
	}
	zswap_on
	swapon -p 32767 "$SWAPFILE" || fail "swapon '$SWAPFILE' failed"
	CUR_SWAP=$SWAPFILE
	sw_run zswap
	swapoff "$SWAPFILE" || fail "swapoff '$SWAPFILE' failed"
	CUR_SWAP=
	zswap_off
	rm -f "$SWAPFILE"
	SWAPFILE=
}

# A zpoold volume on a loop device, the pool limited, a backing file on
# the disk.
sw_zpoold() {
	local conf=$ZT_TMP/sw.conf
	need_room "$sw_mib"
	write_config "$conf" <<EOF
[pool]
max_pool_size = ${sw_limit_kib}K

[writeback]
file = $DISK/backing
size = ${sw_mib}M

[volume swap]
size = $((sw_mib + 64))M
EOF
	[ -n "${sw_zp_settings:-}" ] || sw_zp_settings=$(wb_settings "$conf")
	bench_start_daemon "$conf"
	zp_stats
	[ "$(zs pool_limit_pages)" = $((sw_limit_kib / 4)) ] ||
		note "zpoold's pool_limit_pages is $(zs pool_limit_pages), zswap's limit $((sw_limit_kib / 4)) pages"
	R[zp_limit_pages]=$(zs pool_limit_pages)
	CUR_LOOP=$(losetup --find --show --direct-io=on "$ZT_MNT/swap") ||
		fail "cannot attach '$ZT_MNT/swap' to a loop device"
	mkswap "$CUR_LOOP" >"$ZT_TMP/mkswap.log" 2>&1 || {
		cat "$ZT_TMP/mkswap.log"
		fail "mkswap '$CUR_LOOP' failed"
	}
	[ "$(zswap_get enabled)" = N ] || fail "zswap is on: it would sit in front of zpoold"
	swapon --discard -p 32767 "$CUR_LOOP" || fail "swapon '$CUR_LOOP' failed"
	CUR_SWAP=$CUR_LOOP
	sw_run zpoold
	swapoff "$CUR_LOOP" || fail "swapoff '$CUR_LOOP' failed"
	CUR_SWAP=
	losetup -d "$CUR_LOOP" || fail "cannot detach $CUR_LOOP"
	CUR_LOOP=
	stop_daemon 20
	rm -f "$DISK/backing"
}

# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
# No test of this project may use swap while the benchmark does.
lock_wait=$SECONDS
lock_swap
lock_wait=$((SECONDS - lock_wait))
CORPUS=$(corpus_file)
[ -f "$CORPUS" ] || fail "cannot prepare the corpus"

mem_kib=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
if $do_swap; then
	# The percent of RAM nearest a quarter of the target working set,
	# and zswap's limit in pages as the kernel computes it.
	sw_pct=$(awk -v m="$mem_kib" -v t="$sw_target_mib" 'BEGIN {
		p = int(t * 1024 / 4 / (m / 100) + 0.5); print p < 1 ? 1 : p }')
	[ "$sw_pct" -le 100 ] || fail "RAM too small for a $sw_target_mib MiB working set"
	# shellcheck disable=SC2017 # the kernel's own rounding
	sw_limit_pages=$((mem_kib / 4 * sw_pct / 100))
	sw_limit_kib=$((sw_limit_pages * 4))
	sw_mib=$((sw_limit_kib * 4 / 1024))
	sw_limit_mib=$((sw_mib / 4))
	need_room $((sw_mib + 64))
fi
need_room "$wb_mib"

echo "writeback-bench: zpoold writeback against the raw disk and kernel zswap, $(date -u '+%F %T') UTC"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
echo "disk: $disk_src ($disk_fs), files under $DISK, $(disk_free_mib) MiB free"
echo "zpoold: $ZPOOLD"
[ "$lock_wait" -lt 2 ] ||
	echo "waited $lock_wait s for other tests of this project to stop using swap"
echo "load average before the start: $(cut -d' ' -f1-3 /proc/loadavg), I/O pressure (some, avg60) $(awk '/^some/ { sub("avg60=", "", $3); print $3 "%" }' /proc/pressure/io 2>/dev/null) (the figures mean little on a busy machine or disk)"
echo

wb_config "$ZT_TMP/wb-show.conf" limit
wb_zp_settings=$(wb_settings "$ZT_TMP/wb-show.conf") ||
	fail "zpoold --check-config refused the writeback configuration"
wb_config "$ZT_TMP/wb-show.conf" idle
wb_zp_idle=$(wb_settings "$ZT_TMP/wb-show.conf") ||
	fail "zpoold --check-config refused the idle writeback configuration"

echo "== writeback throughput: $wb_mib MiB of corpus through a volume, backing file $DISK/backing"
echo "limit: $wb_zp_settings"
echo "idle:  $wb_zp_idle"
# Other work on the disk comes and goes within seconds: each zpoold run
# is held against the dd figures just before and after it (their mean),
# and the ratios of the rounds are reported as their median.
declare -A Q # "limit", "all", "idle": the ratios, one per round
q_add() {
	Q[$1]="${Q[$1]:-} $(awk -v a="${2:-}" -v b="$3" -v c="$4" 'BEGIN {
		if (a == "") print "-"; else printf "%.4f", a * 4096 / 1048576 / ((b + c) / 2) }')"
}
for ((round = 1; round <= reps; round++)); do
	[ "$reps" -eq 1 ] || echo "-- round $round of $reps"
	raw_dd both
	d0=$LAST_DD
	wb_run limit
	pl=$LAST_PAGES pa=$LAST_ALL
	raw_dd
	d1=$LAST_DD
	wb_run zspage
	raw_dd
	d2=$LAST_DD
	wb_run idle
	pi=$LAST_PAGES
	raw_dd
	q_add limit "$pl" "$d0" "$d1"
	q_add all "$pa" "$d0" "$d1"
	q_add idle "$pi" "$d2" "$LAST_DD"
done

if $do_swap; then
	zswap_save
	debugfs_mount
	[ -d "$ZSW_DBG" ] || {
		# zswap makes its debugfs directory when it is first enabled.
		zswap_set enabled Y && zswap_set enabled N
	}
	echo
	echo "== swap workload: swapper --mib $sw_mib --passes $sw_passes in a memory cgroup limited to $sw_limit_mib MiB; pool limit $sw_pct% of RAM = $sw_limit_pages pages ($(fmt "$(calc "$sw_limit_kib / 1024")") MiB) on both sides"
	echo "zswap was: $(for p in "${!ZSW_SAVED[@]}"; do printf '%s %s, ' "$p" "${ZSW_SAVED[$p]}"; done | sed 's/, $//')"
	for ((round = 1; round <= reps; round++)); do
		[ "$reps" -eq 1 ] || echo "-- round $round of $reps"
		sw_zswap
		sw_zpoold
	done
	zswap_restore || fail "could not restore zswap's parameters"
fi

# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------
echo
echo "writeback throughput: $wb_mib MiB of corpus through the volume; $reps round(s), best kept"
pg() {
	fmt "$(calc "${1:-0} * 4096 / 1048576")"
}
# qmed NAME [range]: the median of the ratios Q[NAME], two decimals, with
# "range" their range as "lo..hi"; "-" for a run that wrote nothing back.
qmed() {
	tr ' ' '\n' <<<"${Q[$1]:-}" | sed '/^$/d' | sort -g |
		awk -v r="${2:-}" '
		$1 == "-" { bad = 1 }
		{ v[++n] = $1 }
		END {
			if (!n || bad) print "-"
			else if (r != "") printf "%.2f..%.2f", v[1], v[n]
			else printf "%.2f", n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		}'
}
printf '  %-56s %9s MiB/s\n' "raw disk: dd zeros bs=1M oflag=direct conv=fsync" "$(fmt "${R[dd]:-}")"
printf '  %-56s %9s MiB/s\n' "raw disk: the same without fsync" "$(fmt "${R[dd_nosync]:-}")"
printf '  %-56s %9s MiB/s\n' "zpoold volume write, limit $wb_pool: dd corpus bs=1M direct" "$(fmt "${R[limit,feed]:-}")"
printf '  %-56s %9s MiB/s %9s pages/s\n' "zpoold writeback, limit $wb_pool (written_back_pages)" \
	"$(pg "${R[limit,pages]:-}")" "$(fmt "${R[limit,pages]:-}" 0)"
printf '  %-56s %9s MiB/s %9s pages/s\n' "zpoold backing file writes, limit $wb_pool (+ bypassed)" \
	"$(pg "${R[limit,all]:-}")" "$(fmt "${R[limit,all]:-}" 0)"
printf '  %-56s %9s MiB/s %9s pages/s\n' "zpoold writeback drain, idle_seconds $wb_idle, no limit" \
	"$(pg "${R[idle,pages]:-}")" "$(fmt "${R[idle,pages]:-}" 0)"
echo "  limit: ${R[limit,detail]:-}"
echo "  zspage: ${R[zspage,detail]:-}"
echo "  idle:  ${R[idle,detail]:-}"
echo "victims: pool pages freed per page written back, limit $wb_pool (the last round; wb_freed_pages counts the pages each batch freed, compaction included)"
for m in limit zspage; do
	printf '  %-7s %-6s written back %8s pages, pool pages freed %8s (compaction %8s): %s freed per page written\n' \
		"$m" "$([ $m = limit ] && echo lru || echo zspage)" "${R[$m,wb]:-}" "${R[$m,freed]:-}" \
		"${R[$m,compacted]:-}" "$(ratio "${R[$m,freed]:-}" "${R[$m,wb]:-}")"
done

if $do_swap; then
	echo
	echo "swap workload: $sw_mib MiB working set, memory cgroup $sw_limit_mib MiB, pool limit $(fmt "$(calc "$sw_limit_kib / 1024")") MiB ($sw_limit_pages pages; zswap max_pool_percent $sw_pct, zpoold max_pool_size ${sw_limit_kib}K, pool_limit_pages ${R[zp_limit_pages]:-}); $reps round(s), best time kept"
	echo "  zswap:  $ZSW_USED; swap file $((sw_mib + 64)) MiB (fallocate, no discard)"
	[ -z "$ZSW_COMP_NOTE" ] || echo "          note: $ZSW_COMP_NOTE"
	echo "  zpoold: $sw_zp_settings; loop direct-io=on, swapon --discard"
	echo "  pswpout/pswpin: pages written to and read from the swap device (zswap: the swap file only, its own stores are zswpout/zswpin; zpoold: the loop device, every page). To and from the disk: zswap's pswpout/pswpin, zpoold's written_back_pages + bypassed_stores and wb_reads (one 4 KiB slot a page). wb pages: each side's written_back_pages (zswap's from debugfs). pool: its peak, sampled every 0.5 s"
	printf '  %-7s %8s %9s %9s %9s %9s %9s %10s %10s %8s\n' side time \
		pswpout pswpin zswpout zswpin "wb pages" "to disk" "from disk" "pool"
	for s in zswap zpoold; do
		if [ $s = zswap ]; then
			wb=${R[$s,zswap_wb]:-} zo=${R[$s,zswpout]:-} zi=${R[$s,zswpin]:-}
			to=${R[$s,pswpout]:-0} from=${R[$s,pswpin]:-0}
		else
			wb=${R[$s,written_back_pages]:-} zo=- zi=-
			to=$((${R[$s,written_back_pages]:-0} + ${R[$s,bypassed_stores]:-0}))
			from=${R[$s,wb_reads]:-0}
		fi
		printf '  %-7s %7ss %9s %9s %9s %9s %9s %6sMiB %6sMiB %5sMiB\n' $s \
			"$(fmt "${R[$s,swap]:-}" 2)" "${R[$s,pswpout]:-}" "${R[$s,pswpin]:-}" \
			"$zo" "$zi" "$wb" $((to >> 8)) $((from >> 8)) "${R[$s,pool]:-}"
	done
	echo "  zpoold: bypassed_stores ${R[zpoold,bypassed_stores]:-}, pool_limit_hit ${R[zpoold,pool_limit_hit]:-}, writeback_failures ${R[zpoold,writeback_failures]:-}; zswap: pool_limit_hit ${R[zswap,zswap_hit]:-}"
fi

# What the daemon said beyond its start-up warnings and its start and
# stop.
logged=$(cat "$ZT_TMP"/zpoold.log* 2>/dev/null |
	grep -E '^(<[0-9]>)?zpoold: (critical|error|warning): ' |
	grep -vE 'PR_SET_IO_FLUSHER|oom_score_adj' | sort | uniq -c)
if [ -n "$logged" ]; then
	echo
	echo "zpoold logged (count, message):"
	echo "$logged"
fi

echo
how="each run over the mean of the dd figures just before and after it"
[ "$reps" -eq 1 ] || how="median of $reps rounds (range $(qmed idle range)), $how"
echo "writeback zpoold/dd: $(qmed idle) (target >= 0.8); the idle drain, writeback as fast as the shrinker goes; $how"
echo "  while dd feeds the volume (limit $wb_pool, bounded by the volume's write rate $(fmt "${R[limit,feed]:-}") MiB/s): $(qmed limit), all writes to the backing file (bypassed stores included) $(qmed all); best figures over dd without fsync: writeback $(ratio "${R[limit,pages]:+$(pg "${R[limit,pages]}")}" "${R[dd_nosync]:-}"), idle drain $(ratio "${R[idle,pages]:+$(pg "${R[idle,pages]}")}" "${R[dd_nosync]:-}")"
if $do_swap; then
	echo "swap workload wall time zpoold/zswap: $(ratio "${R[zpoold,swap]:-}" "${R[zswap,swap]:-}")"
else
	echo "swap workload wall time zpoold/zswap: - (--no-swap)"
fi
exit 0

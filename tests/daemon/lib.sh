# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lib.sh - what the daemon's integration tests share. Source it first:
#   . "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"
#
# These tests change the whole machine (mounts, loop devices, swap,
# cgroups), so everything they set up is undone by cleanup hooks that run
# from an EXIT trap, last registered first, also when a test fails or is
# interrupted. Each test has its own directory and mount point under
# $ZT_TMP; no test leaves swap enabled.
#
# requires CMD...          exit 77 (skip) if a command is missing; tools/check
#                          counts a skip as a failure, so only use it for
#                          what install-deps installs
# requires_root            the same for root
# on_exit CMD              run CMD (a string for eval) at exit
# fail MSG                 print "<test>: FAIL: MSG" and exit 1
# note MSG                 print "<test>: MSG"
# write_config FILE        write a config with the mount point $ZT_MNT, the
#                          control socket $ZT_SOCK and the lines on stdin
#                          appended
# ctl ARGS...              zpoolctl -s $ZT_SOCK ARGS
# ctl_ok ARGS...           the same, failing the test unless it exits 0;
#                          its output on stdout
# start_daemon CONF [ARGS] start zpoold in the background, wait until its
#                          mount is usable (or fail); sets ZT_PID, logs to
#                          $ZT_TMP/zpoold.log
# stop_daemon [TIMEOUT]    SIGTERM and wait (default 20 s) for it to exit;
#                          fails if it hangs or exits non-zero
# daemon_exits SECS        wait for a daemon that stops by itself (a stop
#                          put off by active swap); fails unless it exits 0
#                          within SECS and leaves no mount
# daemon_alive             whether ZT_PID still runs
# keep_daemon [GLOB...]    leave the daemon running at exit, with its mount
#                          and $ZT_TMP (its log and socket): its stop hook
#                          and the hooks matching the GLOBs are dropped,
#                          the others still run
# lock_swap                wait until no other test or benchmark of this
#                          project uses swap (an flock held until exit):
#                          swap devices are machine-wide, and make check
#                          runs tests in parallel
# attach_loop FILE         losetup --direct-io=on; sets ZT_LOOP to the device; detached at
#                          exit (not in $(...): hooks set in a subshell are
#                          lost)
# swap_on DEV              mkswap + swapon --discard; swapoff at exit
# swap_on_first DEV        the same with the highest priority (32767), so
#                          that the kernel fills DEV before any other swap
#                          the machine has
# swap_used DEV            kB of swap in use on DEV (from /proc/swaps; empty
#                          if DEV is not swap)
# corpus_source            the corpus as found (ZPOOLD_CORPUS or the shared
#                          folder), compressed or not
# corpus_file              decompress the corpus once into $ZT_TMP; print
#                          its path
# swapper_status RC       what a swapper exit status means, for messages
# vm_stat NAME             a counter from /proc/vmstat
# proc_field PID NAME      a field of /proc/PID/status in kB (VmSwap, ...)
# memcg_create NAME LIMIT  make the cgroup v1 memory cgroup NAME with
#                          memory.limit_in_bytes LIMIT (e.g. 128M); sets
#                          ZT_MEMCG to its directory; removed at exit
#                          (memcg_remove)
# memcg_remove DIR         move any tasks left in DIR to the root memory
#                          cgroup, then remove it
# memcg_run DIR CMD [ARG]  run CMD inside the memory cgroup DIR; it execs,
#                          so run it as a background job (`memcg_run ... &`,
#                          then $! is CMD's pid) or in ( )
# in_memcg PID DIR         whether PID is in the memory cgroup DIR
# wait_pid PID SECS        wait up to SECS for the background job PID; its
#                          exit status, or 124 if it still runs (then it
#                          is left running)
# wait_for_line FILE RE SECS
#                          wait up to SECS for a line matching the ERE RE
#                          in FILE; non-zero if none came
# sample_every SECS FILE CMD
#                          run CMD (a string for eval) every SECS seconds
#                          in the background, appending its output to
#                          FILE; sets ZT_SAMPLER to the sampler's pid;
#                          stopped at exit, or earlier with stop_sampler
# stop_sampler PID         stop a sampler
# kill_child SIG PID       send SIG to PID if it is still a child of this
#                          shell (a pid that was waited for may be reused),
#                          then wait up to 10 s for it (a task stuck in
#                          the kernel may not die)
# column_max FILE N        the largest value of column N in FILE (0 if
#                          empty)
# dump_stuck PID...        print what each thread of each PID waits on
#                          (state, wchan, /proc/PID/task/*/stack), the
#                          same for every other task in D state (loop
#                          workers, ...) and the end of dmesg: for a test
#                          that found a hang
# fuse_abort               abort the FUSE connection of $ZT_MNT (without
#                          touching the mount, which may hang), so that
#                          everything waiting on a hung daemon fails;
#                          mounts fusectl for it if needed (unmounted at
#                          exit)
# expect_fail MSG CMD...   run CMD; fail unless it exits non-zero and its
#                          stderr contains the string MSG; sets ZT_RC and
#                          ZT_ERR (its status and stderr)
# wait_until SECS CMD...   run CMD every 0.1 s until it succeeds; non-zero
#                          if it did not within SECS. CMD is a command or
#                          function: [ "$(x)" -eq 0 ] would be expanded
#                          once, before the first try
# kill_daemon              SIGKILL zpoold and reap it; its mount stays
#                          behind, stale ("Transport endpoint is not
#                          connected"), until a new daemon or the exit
#                          cleanup detaches it
# run_bg CMD...            start CMD as a background job and add its pid
#                          to ZT_BG; jobs still running at exit are killed
#                          with their children
# wait_bg SECS             wait up to SECS in all for the run_bg jobs; fails
#                          naming the first that failed or still runs
# swap_setup VOL LIMIT_MIB the volume file VOL made the first swap through
#                          a loop device (ZT_LOOP), and the memory cgroup
#                          zpoold-test-$$ limited to LIMIT_MIB (ZT_MEMCG),
#                          which zpoold must not be in
# swap_sample VOL [CMD]    every 0.5 s append to $ZT_TMP/samples: time, the
#                          daemon's VmSwap and VmRSS (kB), VOL's st_blocks,
#                          pswpout, kB of swap used on $ZT_LOOP, and CMD's
#                          output when given (NA when it prints nothing);
#                          any NA means the daemon was gone
# swap_check_samples MIB LIMIT_MIB
#                          stop the sampler and check its samples: at
#                          least two, the daemon there in all, its VmSwap
#                          0, the volume used, and at least MIB - LIMIT_MIB
#                          of swap in use at a time; sets SAMPLES and
#                          MAX_RSS, MAX_BLOCKS, MAX_USED (kB and blocks as
#                          sampled), MAX_EXTRA (CMD's column) and notes them
# swap_memcg LIMIT_MIB     the memory cgroup of swap_setup alone, for swap
#                          set up otherwise (ZT_LOOP set)
# swap_end [CMD...]        fail if zpoold logged errors, swapoff $ZT_LOOP
#                          (or run CMD to end the swap), check it is not
#                          swap any more, stop the daemon
# run_swapper MIB PASSES LIMIT_MIB [WHAT]
#                          run tests/daemon/swapper --mib MIB --passes
#                          PASSES in the memory cgroup $ZT_MEMCG (limited
#                          to LIMIT_MIB) and wait up to $SWAPPER_TIMEOUT
#                          (600) s; a hang dumps what everything waits on
#                          and the last lines of $ZT_TMP/samples, aborts
#                          the FUSE connection and fails. Fails unless
#                          every page was verified, the cgroup reached its
#                          limit and pswpout grew by MIB - LIMIT_MIB or
#                          more; notes the time (WHAT added) and sets
#                          ZT_PSWPOUT to the pages swapped out
# daemon_stat NAME         SIGUSR1 to zpoold, wait (up to 10 s) for the
#                          statistics it logs, print the value of NAME
#                          (pool_pages, node0.lru_length,
#                          volume.vol0.blocks_disk)

set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
ZT_NAME=$(basename "$0" .sh)
ZPOOLD=$top_builddir/daemon/zpoold
ZPOOLCTL=$top_builddir/ctl/zpoolctl

ZT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/zpoold-$ZT_NAME.XXXXXX") || exit 99
ZT_MNT=$ZT_TMP/mnt
ZT_SOCK=$ZT_TMP/control.sock
ZT_PID=
_zt_hooks=()
_zt_keep=false

_zt_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#_zt_hooks[@]} - 1; i >= 0; i--)); do
		eval "${_zt_hooks[$i]}" >/dev/null 2>&1 || true
	done
	$_zt_keep && exit $rc
	if [ -n "$ZT_PID" ] && kill -0 "$ZT_PID" 2>/dev/null; then
		kill -KILL "$ZT_PID" 2>/dev/null
		wait "$ZT_PID" 2>/dev/null
	fi
	# Mounts may be stacked (a daemon that mounted over a stale mount).
	for ((i = 0; i < 8; i++)); do
		grep -q " $ZT_MNT " /proc/mounts 2>/dev/null || break
		umount -l "$ZT_MNT" 2>/dev/null || break
	done
	if [ $rc -ne 0 ] && [ -f "$ZT_TMP/zpoold.log" ]; then
		echo "--- zpoold.log"
		tail -n 40 "$ZT_TMP/zpoold.log"
	fi
	rm -rf "$ZT_TMP"
	exit $rc
}
trap _zt_cleanup EXIT
trap 'exit 130' INT TERM

on_exit() {
	_zt_hooks+=("$1")
}

note() {
	echo "$ZT_NAME: $*"
}

fail() {
	echo "$ZT_NAME: FAIL: $*" >&2
	exit 1
}

requires() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "$ZT_NAME: SKIP: '$c' is not installed" >&2
			exit 77
		fi
	done
}

requires_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$ZT_NAME: SKIP: needs root" >&2
		exit 77
	fi
}

write_config() {
	{
		printf '[daemon]\nmountpoint = %s\n' "$ZT_MNT"
		cat
		# Last, so that the lines of what a test wrote keep their
		# numbers in messages.
		printf '[daemon]\ncontrol_socket = %s\n' "$ZT_SOCK"
	} >"$1"
}

ctl() {
	"$ZPOOLCTL" -s "$ZT_SOCK" "$@"
}

ctl_ok() {
	local out rc
	out=$(ctl "$@" 2>"$ZT_TMP/ctl.err")
	rc=$?
	[ $rc -eq 0 ] ||
		fail "zpoolctl $* exited $rc: $(cat "$ZT_TMP/ctl.err")"
	printf '%s\n' "$out"
}

daemon_alive() {
	[ -n "$ZT_PID" ] && kill -0 "$ZT_PID" 2>/dev/null
}

start_daemon() {
	local conf=$1 i
	shift
	[ -x "$ZPOOLD" ] || fail "cannot find '$ZPOOLD': build it first"
	# Not with the swap test lock: a daemon that outlives the test
	# (keep_daemon) must not hold it.
	if [ -n "${_zt_swap_lock:-}" ]; then
		"$ZPOOLD" -c "$conf" "$@" >>"$ZT_TMP/zpoold.log" 2>&1 {_zt_swap_lock}>&- &
	else
		"$ZPOOLD" -c "$conf" "$@" >>"$ZT_TMP/zpoold.log" 2>&1 &
	fi
	ZT_PID=$!
	on_exit "stop_daemon_quietly"
	for ((i = 0; i < 100; i++)); do
		if grep -q "^zpoold $ZT_MNT fuse.zpoold " /proc/mounts &&
			grep -q 'ready:' "$ZT_TMP/zpoold.log"; then
			return 0
		fi
		daemon_alive || fail "zpoold exited during start-up"
		sleep 0.1
	done
	fail "zpoold did not become ready in 10 s"
}

stop_daemon() {
	local timeout=${1:-20} i rc
	daemon_alive || fail "zpoold is not running"
	kill -TERM "$ZT_PID"
	for ((i = 0; i < timeout * 10; i++)); do
		if ! daemon_alive; then
			wait "$ZT_PID"
			rc=$?
			ZT_PID=
			[ $rc -eq 0 ] || fail "zpoold exited with status $rc"
			grep -q " $ZT_MNT " /proc/mounts &&
				fail "zpoold exited but left its mount"
			return 0
		fi
		sleep 0.1
	done
	fail "zpoold did not stop within $timeout s of SIGTERM"
}

keep_daemon() {
	local h g kept=() drop
	for h in "${_zt_hooks[@]}"; do
		drop=false
		[ "$h" = stop_daemon_quietly ] && drop=true
		for g in "$@"; do
			# shellcheck disable=SC2053
			[[ $h == $g ]] && drop=true
		done
		$drop || kept+=("$h")
	done
	_zt_hooks=("${kept[@]+"${kept[@]}"}")
	_zt_keep=true
}

daemon_exits() {
	local rc
	daemon_alive || fail "zpoold is not running"
	wait_pid "$ZT_PID" "$1"
	rc=$?
	[ $rc -ne 124 ] || fail "zpoold did not stop by itself within $1 s"
	ZT_PID=
	[ $rc -eq 0 ] || fail "zpoold exited with status $rc"
	grep -q " $ZT_MNT " /proc/mounts && fail "zpoold exited but left its mount"
	return 0
}

stop_daemon_quietly() {
	if daemon_alive; then
		kill -TERM "$ZT_PID"
		sleep 1
		kill -KILL "$ZT_PID" 2>/dev/null
		wait "$ZT_PID" 2>/dev/null
	fi
	ZT_PID=
}

lock_swap() {
	exec {_zt_swap_lock}>/run/lock/zpoold-tests-swap.lock ||
		fail "cannot open the swap test lock"
	flock "$_zt_swap_lock" || fail "cannot take the swap test lock"
}

attach_loop() {
	# Direct I/O: the loop device passes requests straight to the
	# volume instead of through a page cache of its own (faster in
	# bench/swap-bench.sh in nearly every test).
	ZT_LOOP=$(losetup --find --show --direct-io=on "$1") ||
		fail "losetup '$1' failed"
	on_exit "losetup -d $ZT_LOOP"
}

swap_on() {
	mkswap "$1" >/dev/null || fail "mkswap '$1' failed"
	swapon --discard "$1" || fail "swapon '$1' failed"
	on_exit "swapoff $1"
}

swap_on_first() {
	mkswap "$1" >/dev/null || fail "mkswap '$1' failed"
	swapon --discard -p 32767 "$1" || fail "swapon '$1' failed"
	on_exit "swapoff $1"
}

swap_used() {
	awk -v d="$1" '$1 == d { print $4 }' /proc/swaps
}

corpus_source() {
	local src
	for src in "${ZPOOLD_CORPUS:-}" \
		"$top_srcdir/../shared/corpus/anon-96m.bin.zst" \
		/work/shared/corpus/anon-96m.bin.zst; do
		[ -n "$src" ] && [ -f "$src" ] && break
	done
	[ -f "$src" ] || fail "cannot find the corpus (set ZPOOLD_CORPUS)"
	echo "$src"
}

corpus_file() {
	local f=$ZT_TMP/corpus.bin src
	if [ ! -f "$f" ]; then
		src=$(corpus_source) || exit 1
		zstd -q -dc "$src" >"$f" || fail "cannot decompress '$src'"
	fi
	echo "$f"
}

# What a swapper exit status means.
swapper_status() {
	case $1 in
	1) echo "status 1: pages were lost or corrupted" ;;
	137) echo "killed by SIGKILL (the memory cgroup's OOM killer? see dmesg)" ;;
	124) echo "timed out" ;;
	*) echo "status $1" ;;
	esac
}

vm_stat() {
	awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat
}

proc_field() {
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

memcg_create() {
	local dir=/sys/fs/cgroup/memory/$1
	[ -d /sys/fs/cgroup/memory ] ||
		fail "no cgroup v1 memory controller at /sys/fs/cgroup/memory"
	mkdir "$dir" || fail "cannot make the memory cgroup '$dir'"
	on_exit "memcg_remove $dir"
	echo "$2" >"$dir/memory.limit_in_bytes" ||
		fail "cannot set memory.limit_in_bytes of '$dir' to $2"
	# shellcheck disable=SC2034 # for the caller
	ZT_MEMCG=$dir
}

memcg_remove() {
	local dir=$1 pid i
	[ -d "$dir" ] || return 0
	for ((i = 0; i < 50; i++)); do
		while read -r pid; do
			echo "$pid" >/sys/fs/cgroup/memory/cgroup.procs
		done <"$dir/cgroup.procs"
		rmdir "$dir" 2>/dev/null && return 0
		sleep 0.1
	done
	rmdir "$dir"
}

memcg_run() {
	local dir=$1
	shift
	# shellcheck disable=SC2016
	exec sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$dir" "$@"
}

in_memcg() {
	local dir=${2#/sys/fs/cgroup/memory}
	grep -q "^[0-9]*:memory:$dir\$" "/proc/$1/cgroup" 2>/dev/null
}

_zt_running() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "${st%% *}" != Z ]
}

wait_pid() {
	local pid=$1 secs=$2 i
	for ((i = 0; i < secs * 10; i++)); do
		_zt_running "$pid" || break
		sleep 0.1
	done
	_zt_running "$pid" && return 124
	wait "$pid"
}

wait_for_line() {
	local file=$1 re=$2 secs=$3 i
	for ((i = 0; i < secs * 10; i++)); do
		grep -Eq -- "$re" "$file" 2>/dev/null && return 0
		sleep 0.1
	done
	grep -Eq -- "$re" "$file" 2>/dev/null
}

sample_every() {
	local secs=$1 file=$2 cmd=$3
	(
		trap - EXIT
		while :; do
			eval "$cmd"
			sleep "$secs"
		done
	) >>"$file" 2>/dev/null &
	ZT_SAMPLER=$!
	on_exit "stop_sampler $ZT_SAMPLER"
}

stop_sampler() {
	kill_child TERM "$1"
}

kill_child() {
	local st
	st=$(sed 's/.*) //' "/proc/$2/stat" 2>/dev/null) || return 0
	st=${st#* }
	[ "${st%% *}" = "$$" ] || return 0
	kill -"$1" "$2" 2>/dev/null
	wait_pid "$2" 10 >/dev/null 2>&1
	return 0
}

column_max() {
	awk -v n="$2" 'BEGIN { m = 0 } $n + 0 > m { m = $n + 0 }
		END { printf "%.0f\n", m }' "$1"
}

_zt_dump_task() {
	echo "- task ${1##*/} ($(cat "$1/comm" 2>/dev/null)):" \
		"state $(sed 's/.*) //' "$1/stat" 2>/dev/null | cut -d' ' -f1)," \
		"wchan $(cat "$1/wchan" 2>/dev/null)"
	cat "$1/stack" 2>/dev/null
}

dump_stuck() {
	local pid t st seen=" "
	for pid in "$@"; do
		[ -d "/proc/$pid" ] || continue
		echo "--- pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
		for t in /proc/"$pid"/task/*; do
			_zt_dump_task "$t"
			seen+="${t##*/} "
		done
	done
	echo "--- other tasks in D state"
	for t in /proc/[0-9]*/task/[0-9]*; do
		st=$(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue
		[ "${st%% *}" = D ] || continue
		case $seen in *" ${t##*/} "*) continue ;; esac
		_zt_dump_task "$t"
	done
	echo "--- dmesg | tail -n 60"
	dmesg | tail -n 60
}

fuse_abort() {
	local dev
	dev=$(awk -v m="$ZT_MNT" '$5 == m { print $3 }' /proc/self/mountinfo |
		tail -n 1)
	[ -n "$dev" ] || return 1
	if ! grep -q '^[^ ]* /sys/fs/fuse/connections fusectl ' /proc/mounts; then
		mount -t fusectl fusectl /sys/fs/fuse/connections || return 1
		on_exit "umount /sys/fs/fuse/connections"
	fi
	# The connection is named by the mount's device number.
	echo 1 >"/sys/fs/fuse/connections/$((${dev%%:*} * 1048576 + ${dev#*:}))/abort"
}

expect_fail() {
	local msg=$1
	shift
	ZT_ERR=$("$@" 2>&1 >/dev/null)
	ZT_RC=$?
	[ $ZT_RC -ne 0 ] || fail "'$*' succeeded; expected '$msg'"
	case $ZT_ERR in
	*"$msg"*) ;;
	*) fail "'$*' failed (status $ZT_RC) without '$msg': $ZT_ERR" ;;
	esac
}

wait_until() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

kill_daemon() {
	daemon_alive || fail "zpoold is not running"
	kill -KILL "$ZT_PID"
	wait "$ZT_PID" 2>/dev/null
	ZT_PID=
}

ZT_BG=()
_zt_bg_hooked=

# Kill a process, then its descendants (a job may be a subshell); the
# parent goes first so that it starts no more.
_zt_kill_tree() {
	local children child
	children=$(cat /proc/"$1"/task/*/children 2>/dev/null)
	kill -KILL "$1" 2>/dev/null
	for child in $children; do
		_zt_kill_tree "$child"
	done
}

_zt_kill_bg() {
	local pid
	for pid in "${ZT_BG[@]}"; do
		_zt_running "$pid" && _zt_kill_tree "$pid"
		wait "$pid" 2>/dev/null
	done
	ZT_BG=()
}

run_bg() {
	if [ -z "$_zt_bg_hooked" ]; then
		on_exit _zt_kill_bg
		_zt_bg_hooked=1
	fi
	"$@" &
	ZT_BG+=($!)
}

wait_bg() {
	local end=$((SECONDS + $1)) pid rc i left
	for ((i = 0; i < ${#ZT_BG[@]}; i++)); do
		pid=${ZT_BG[$i]}
		left=$((end - SECONDS))
		wait_pid "$pid" $((left > 0 ? left : 0))
		rc=$?
		[ $rc -ne 124 ] ||
			fail "background job $((i + 1)) (pid $pid, '$(tr '\0' ' ' \
				</proc/"$pid"/cmdline)') still runs after $1 s"
		[ $rc -eq 0 ] ||
			fail "background job $((i + 1)) (pid $pid) exited with status $rc"
	done
	ZT_BG=()
}

requires_root

# The values zpoold logs on SIGUSR1, one "stats: NAME VALUE" line each and
# "stats: end" last. A dump counts once its end line is there; the value
# printed is NAME's in the last complete dump (not an older one: a name
# the newest dump lacks is an error).
_zt_stat_ends() {
	local n
	n=$(grep -c 'stats: end$' "$ZT_TMP/zpoold.log" 2>/dev/null)
	echo "${n:-0}"
}

daemon_stat() {
	local name=$1 before i v
	daemon_alive || fail "daemon_stat $name: zpoold is not running"
	before=$(_zt_stat_ends)
	kill -USR1 "$ZT_PID" || fail "daemon_stat $name: cannot signal zpoold"
	for ((i = 0; i < 200; i++)); do
		[ "$(_zt_stat_ends)" -gt "$before" ] && break
		sleep 0.05
	done
	[ "$(_zt_stat_ends)" -gt "$before" ] ||
		fail "daemon_stat $name: no 'stats: end' logged within 10 s of SIGUSR1"
	v=$(awk -v n="$name" '
		{
			for (i = 1; i < NF; i++)
				if ($i == "stats:")
					break
			if (i >= NF)
				next
			if ($(i + 1) == "end" && i + 1 == NF) {
				last = cur
				cur = ""
			} else if ($(i + 1) == n && i + 2 <= NF) {
				cur = $(i + 2)
			}
		}
		END { print last }' "$ZT_TMP/zpoold.log")
	[ -n "$v" ] || fail "daemon_stat: zpoold's statistics have no '$name'"
	echo "$v"
}

swap_setup() {
	attach_loop "$1"
	swap_on_first "$ZT_LOOP"
	swap_memcg "$2"
}

swap_memcg() {
	local others
	others=$(awk -v d="$ZT_LOOP" 'NR > 1 && $1 != d { print $1 }' /proc/swaps)
	[ -z "$others" ] || note "warning: other swap is active too: $others"
	memcg_create "zpoold-test-$$" "${1}M"
	in_memcg "$ZT_PID" "$ZT_MEMCG" && fail "zpoold runs in the test cgroup"
}

swap_sample() {
	local extra=
	# shellcheck disable=SC2016 # expanded by the sampler
	[ -z "${2:-}" ] || extra=' x=$('"$2"' 2>/dev/null); x=${x:-NA}'
	# shellcheck disable=SC2016 # expanded by the sampler
	sample_every 0.5 "$ZT_TMP/samples" '
		s=$(proc_field "$ZT_PID" VmSwap) r=$(proc_field "$ZT_PID" VmRSS)'"$extra"'
		echo "$(date +%s.%N) ${s:-NA} ${r:-NA} $(stat -c %b '"'$1'"') \
$(vm_stat pswpout) $(swap_used "$ZT_LOOP")${x:+ $x}"'
	_zt_swap_sampler=$ZT_SAMPLER
}

swap_check_samples() {
	local mib=$1 limit=$2 f=$ZT_TMP/samples maxswap
	stop_sampler "$_zt_swap_sampler"
	SAMPLES=$(wc -l <"$f")
	[ "$SAMPLES" -ge 2 ] || fail "only $SAMPLES samples taken"
	grep -qw NA "$f" && fail "zpoold went away (or did not answer) during the run"
	maxswap=$(column_max "$f" 2)
	MAX_RSS=$(column_max "$f" 3)
	MAX_BLOCKS=$(column_max "$f" 4)
	MAX_USED=$(column_max "$f" 6)
	MAX_EXTRA=$(column_max "$f" 7)
	note "$SAMPLES samples: daemon VmSwap max $maxswap kB, VmRSS max" \
		"$((MAX_RSS / 1024)) MiB; $ZT_LOOP had up to $((MAX_USED / 1024)) MiB" \
		"of swap in use, the volume held up to $((MAX_BLOCKS / 2048)) MiB"
	[ "$maxswap" -eq 0 ] || fail "zpoold's own memory was swapped: VmSwap reached $maxswap kB"
	[ "$MAX_BLOCKS" -gt 0 ] || fail "the volume's st_blocks stayed 0: nothing was stored in it"
	[ "$MAX_USED" -ge $(((mib - limit) * 1024)) ] ||
		fail "at most $MAX_USED kB of swap was in use on $ZT_LOOP, expected >= $(((mib - limit) * 1024))"
}

swap_end() {
	local re='^(zpoold: (error|critical|alert|emergency): |<[0-3]>)'
	if grep -Eq "$re" "$ZT_TMP/zpoold.log"; then
		grep -E "$re" "$ZT_TMP/zpoold.log" | head -n 20
		fail "zpoold logged errors"
	fi
	if [ $# -gt 0 ]; then
		"$@" || fail "$* failed"
	else
		swapoff "$ZT_LOOP" || fail "swapoff $ZT_LOOP failed"
	fi
	grep -q "^$ZT_LOOP " /proc/swaps && fail "$ZT_LOOP is still swap"
	stop_daemon
}

run_swapper() {
	local mib=$1 passes=$2 limit=$3 what=${4:-} timeout=${SWAPPER_TIMEOUT:-600}
	local swapper=$top_builddir/tests/daemon/swapper out=$ZT_TMP/swapper.out
	local pswpout0 t0 t1 spid rc=0 i
	[ -x "$swapper" ] || fail "cannot find '$swapper': build it first"
	pswpout0=$(vm_stat pswpout)
	t0=$(date +%s.%N)
	memcg_run "$ZT_MEMCG" "$swapper" --mib "$mib" --passes "$passes" \
		>"$out" 2>&1 &
	spid=$!
	on_exit "kill_child KILL $spid"
	for ((i = 0; i < 50; i++)); do
		in_memcg "$spid" "$ZT_MEMCG" && break
		_zt_running "$spid" || break
		sleep 0.1
	done
	in_memcg "$spid" "$ZT_MEMCG" ||
		note "warning: could not see swapper in $ZT_MEMCG (did it end?)"
	wait_pid "$spid" "$timeout" || rc=$?
	t1=$(date +%s.%N)
	sed 's/^/  /' "$out"
	if [ $rc -eq 124 ]; then
		note "swapper did not finish in $timeout s: what everything waits on"
		dump_stuck "$ZT_PID" "$spid"
		echo "--- last samples"
		tail -n 5 "$ZT_TMP/samples" 2>/dev/null
		fuse_abort || note "could not abort the FUSE connection"
		kill -KILL "$ZT_PID"
		fail "swapper hung for $timeout s (swap through zpoold deadlocked?)"
	fi
	note "swapper ran $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s" \
		"($mib MiB, $passes passes, limit $limit MiB$what)"
	[ $rc -eq 0 ] || fail "swapper failed: $(swapper_status $rc)"
	grep -q "^swapper: verified $((mib * 256)) pages x $passes passes\$" "$out" ||
		fail "swapper did not report every page verified"
	ZT_PSWPOUT=$(($(vm_stat pswpout) - pswpout0))
	note "pswpout grew by $ZT_PSWPOUT pages ($((ZT_PSWPOUT / 256)) MiB);" \
		"cgroup failcnt $(cat "$ZT_MEMCG/memory.failcnt")," \
		"max usage $(($(cat "$ZT_MEMCG/memory.max_usage_in_bytes") >> 20)) MiB"
	[ "$(cat "$ZT_MEMCG/memory.failcnt")" -gt 0 ] ||
		fail "swapper never reached the cgroup's limit"
	[ "$ZT_PSWPOUT" -ge $(((mib - limit) * 256)) ] ||
		fail "pswpout grew by $ZT_PSWPOUT pages, expected >= $(((mib - limit) * 256))"
}

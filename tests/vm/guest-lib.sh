# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# guest-lib.sh - what the scripts that run inside the test machines share
# (tests/vm/*-guest.sh). Everything goes to the console as "VMTEST: ..."
# lines, which the host's test reads:
#   say MSG              "VMTEST: MSG"
#   ok MSG / bad MSG     a check that passed / failed ("ok ...", "FAIL ...")
#   check MSG CMD...     ok or bad by CMD's exit status
#   figure NAME K=V...   "VMTEST: figure NAME K=V ...", figures the host prints
#   mark                 note the time, the swap counters of /proc/vmstat and
#                        the daemon's written-back pages, for measure
#   measure NAME [K=V...]
#                        the figures of a scenario's run since mark: wall
#                        time, pages swapped out and in, pages written back,
#                        the pool's pages per node, the daemon's peak RSS
#                        (VmHWM) and VmSwap, then K=V...; and a check that
#                        VmSwap is 0
#   wait_for SECS CMD... until CMD succeeds, at most SECS (CMD's last status)
#   indent CMD...        CMD's output as "VMTEST:   " lines
#   finish               exit with the number of failed checks
# and, for the machines that tests/vm/initramfs.sh builds:
#   daemon_start CONF [WRAPPER...]
#                        zpoold -c CONF in the background (run by WRAPPER,
#                        e.g. taskset -c 0), until its socket answers
#                        (ZPID, its log in /run/zpoold.log)
#   daemon_stop          SIGTERM and wait; a check that it exited 0
#   zctl ARGS...         zpoolctl on the daemon's socket
#   zstat NAME           one value of "zpoolctl stats" (NAME as it prints it)
#   vmstat NAME          a counter of /proc/vmstat
#   status_kb PID NAME   a field of /proc/PID/status, in kB
#   node_free_kb N       MemFree of node N, in kB
#   numa_pages PID       "N0 N1 ...": the pages of PID's mappings with a
#                        memory policy of their own (prefer:, bind:), per
#                        node, as the kernel's numa_maps counts them
#   write_corpus CPU FILE MIB
#                        MIB MiB of the corpus written to FILE (direct
#                        I/O, 1 MiB requests) by a dd on CPU
#   dump_tasks           what every blocked task waits on, memory, swap

failed=0
say() { echo "VMTEST: $*"; }
ok() { say "ok $*"; }
bad() {
	say "FAIL $*"
	failed=$((failed + 1))
}
check() { # check DESCRIPTION CMD...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
figure() { local name=$1; shift; say "figure $name $*"; }
wait_for() { # wait_for SECS CMD...
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}
indent() { "$@" 2>&1 | sed 's/^/VMTEST:   /'; }
finish() { exit "$failed"; }

ZSOCK=/run/zpoold/control.sock
ZMNT=/run/zpoold/volumes
zctl() { zpoolctl -s "$ZSOCK" "$@"; }
zstat() { zctl stats | awk -v k="$1" '$1 == k { print $2; exit }'; }
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
node_free_kb() {
	awk '$3 == "MemFree:" { print $4 }' "/sys/devices/system/node/node$1/meminfo"
}
numa_pages() {
	awk -v nodes="$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)" '
		$2 ~ /^(prefer|bind)[:=]/ {
			for (i = 3; i <= NF; i++)
				if ($i ~ /^N[0-9]+=/) {
					split(substr($i, 2), kv, "=")
					n[kv[1]] += kv[2]
				}
		}
		END {
			for (i = 0; i < nodes; i++)
				printf "%s%d", i ? " " : "", n[i] + 0
			print ""
		}' "/proc/$1/numa_maps"
}

mark() {
	M_T0=$(date +%s) M_OUT=$(vmstat pswpout) M_IN=$(vmstat pswpin)
	M_WB=$(zstat written_back_pages)
}
measure() {
	local name=$1 nodes="" n swap
	shift
	for n in /sys/devices/system/node/node[0-9]*; do
		n=${n##*node}
		nodes+=" pool_pages_node$n=$(zstat "node$n.pages")"
	done
	swap=$(status_kb "$ZPID" VmSwap)
	figure "$name" "seconds=$(($(date +%s) - M_T0))" \
		"pswpout=$(($(vmstat pswpout) - M_OUT)) pswpin=$(($(vmstat pswpin) - M_IN))" \
		"written_back=$(($(zstat written_back_pages) - M_WB))$nodes" \
		"daemon_vmhwm_kb=$(status_kb "$ZPID" VmHWM) daemon_vmswap_kb=$swap" "$@"
	check "$name: zpoold's own memory is never swapped (VmSwap $swap kB)" \
		test "$swap" = 0
}

daemon_start() {
	local conf=$1
	shift
	mkdir -p "$ZMNT" /run/zpoold
	"$@" zpoold -c "$conf" >/run/zpoold.log 2>&1 &
	ZPID=$!
	# Until it answers, or has exited.
	if ! wait_for 60 eval 'zctl version >/dev/null 2>&1 || ! kill -0 "$ZPID" 2>/dev/null' ||
		! zctl version >/dev/null 2>&1; then
		bad "zpoold did not come up"
		indent cat /run/zpoold.log
		return 1
	fi
}
daemon_stop() {
	local rc
	kill -TERM "$ZPID"
	wait "$ZPID"
	rc=$?
	check "zpoold stopped cleanly (exit $rc)" test "$rc" = 0
	[ "$rc" = 0 ] || indent tail -n 20 /run/zpoold.log
}

write_corpus() {
	zstd -qdc "$ZPOOLD_CORPUS" |
		taskset -c "$1" dd of="$2" bs=1M count="$3" iflag=fullblock \
			oflag=direct conv=notrunc status=none
}

dump_tasks() {
	local t th st comm
	say "blocked tasks, memory and swap:"
	for t in /proc/[0-9]*; do
		st=$(awk '/^State/ { print $2 }' "$t/status" 2>/dev/null)
		comm=$(cat "$t/comm" 2>/dev/null)
		case $comm in swapper|zpoold*|loop*|kswapd*|fill*) ;; *) [ "$st" = D ] || continue ;; esac
		for th in "$t"/task/*; do
			say "  $comm/${th##*/} $(awk '/^State/ { print $2 }' "$th/status") $(cat "$th/wchan" 2>/dev/null)"
			sed 's/^/VMTEST:     /' "$th/stack" 2>/dev/null | head -n 12
		done
	done
	indent grep -E '^(MemTotal|MemFree|SwapTotal|SwapFree|Mlocked|Shmem|AnonPages):' /proc/meminfo
	indent cat /proc/pressure/memory /proc/swaps
	indent dmesg | tail -n 30
}

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# control.sh - every zpoolctl subcommand against a running daemon, in text
# and JSON: version, status, stats (with classes and resident pages),
# volume create/list/remove (data in a new volume, refusals), get and set
# of each tunable (ranges refused), compact, writeback by bytes, by node
# and of idle blocks, reset-stats, top on a terminal and off one, help
# and exit codes, and the bash completion (subcommands, volume names from
# the daemon, keys).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires_root
requires zstd jq script cmp dd bash

[ -x "$ZPOOLCTL" ] || fail "cannot find '$ZPOOLCTL': build it first"
corpus=$(corpus_file) || fail "no corpus"

write_config "$ZT_TMP/zpoold.conf" <<EOF
control_timeout = 5
[pool]
max_pool_size = 256M
[writeback]
file = $ZT_TMP/backing
size = 64M
[volume vol0]
size = 256M
[volume vol1]
size = 64M
node = 0
EOF
start_daemon "$ZT_TMP/zpoold.conf"

# The value of a JSON path in the output of a read-only command.
jget() { # jget FILTER CMD...
	local filter=$1
	shift
	ctl_ok "$@" --json | jq -er "$filter" ||
		fail "zpoolctl $* --json: no $filter"
}

# --- version -------------------------------------------------------------
out=$(ctl_ok version)
grep -q "protocol 1" <<<"$out" || grep -qi "protocol.*1" <<<"$out" ||
	fail "version does not name protocol 1: $out"
[ "$(jget .protocol version)" = 1 ] || fail "version --json: protocol not 1"

# --- data in vol0, then status -------------------------------------------
dd if="$corpus" of="$ZT_MNT/vol0" bs=1M count=32 oflag=direct conv=notrunc \
	status=none || fail "writing vol0"
out=$(ctl_ok status)
for col in NAME SIZE DATA COMPR TOTAL RATIO ON-DISK NODE SWAP; do
	grep -q -- "$col" <<<"$(head -n 1 <<<"$out")" ||
		fail "status has no column $col: $out"
done
grep -q "^vol0 " <<<"$out" || fail "status has no row vol0: $out"
grep -q "^vol1 " <<<"$out" || fail "status has no row vol1: $out"
[ "$(jget .volume.vol0.data status)" -eq $((32 << 20)) ] ||
	fail "status: vol0 holds $(jget .volume.vol0.data status) bytes, not 32 MiB"
[ "$(jget .volume.vol0.size status)" -eq $((256 << 20)) ] ||
	fail "status: vol0's size"
compr=$(jget .volume.vol0.compr status)
[ "$compr" -gt 0 ] && [ "$compr" -lt $((32 << 20)) ] ||
	fail "status: vol0's compressed bytes $compr"
[ "$(jget .volume.vol1.node status)" -eq 0 ] || fail "status: vol1's node"
[ "$(jget .volume.vol0.node status)" -eq -1 ] || fail "status: vol0's node"
[ "$(jget .volume.vol0.swap status)" -eq 0 ] || fail "status: vol0 swap"
[ "$(jget .pool.limit_pages status)" -eq 65536 ] || fail "status: pool limit"
[ "$(jget .backing.slots_total status)" -eq 16384 ] ||
	fail "status: backing slots"
ctl_ok status --bytes | grep -q "$((256 << 20))" ||
	fail "status --bytes does not show vol0's size in bytes"

# --- stats -----------------------------------------------------------------
out=$(ctl_ok stats)
for name in pool.pages node0.lru_length node0.requests node0.written_back fuse.writes \
	compressor.compressed_pages volume.vol0.writes written_back_pages; do
	grep -q "^$name " <<<"$out" || grep -q "^$name[[:space:]]" <<<"$out" ||
		fail "stats has no $name"
done
[ "$(jget .fuse.writes stats)" -ge 32 ] || fail "stats: fuse.writes"
[ "$(jget .compressor.compressed_pages stats)" -gt 0 ] ||
	fail "stats: compressor.compressed_pages"
[ "$(jget .volume.vol0.bytes_written stats)" -eq $((32 << 20)) ] ||
	fail "stats: vol0's bytes_written"
[[ $(jget '.compressor.algorithm' stats) == lz4* ]] || fail "stats: algorithm"
[ "$(jget '.version' stats)" = 1 ] || fail "stats --json has no version 1"
[ "$(jget '.class["0"].size' stats --classes)" -gt 0 ] ||
	fail "stats --classes: no class 0"
res=$(jget '.node0.resident_pages' stats --resident)
pages=$(jget '.pool.pages' stats)
[ "$res" -gt 0 ] || fail "stats --resident: node0 has no pages"

# --- volumes -----------------------------------------------------------------
ctl_ok volume create vol2 16M --node 0 >/dev/null
[ -f "$ZT_MNT/vol2" ] || fail "vol2 does not appear at the mount point"
[ "$(stat -c %s "$ZT_MNT/vol2")" -eq $((16 << 20)) ] || fail "vol2's size"
[ "$(jget .volume.vol2.node volume list)" -eq 0 ] || fail "volume list: vol2"
ctl_ok volume list | grep -q "^vol2 " || fail "volume list has no vol2"
dd if="$corpus" of="$ZT_MNT/vol2" bs=1M count=16 oflag=direct conv=notrunc \
	status=none ||
	fail "writing vol2"
cmp -n $((16 << 20)) "$corpus" "$ZT_MNT/vol2" || fail "vol2 reads back wrong"

expect_fail "exists" ctl volume create vol2 16M
[ "$ZT_RC" -eq 1 ] || fail "volume create of an existing name exited $ZT_RC"
expect_fail "size" ctl volume create vol3 12Q
expect_fail "node" ctl volume create vol3 16M --node 7
expect_fail "letters" ctl volume create .hidden 16M

# Refused while open, and nothing changes.
exec 7<"$ZT_MNT/vol2"
expect_fail "in use" ctl volume remove vol2
[ "$ZT_RC" -eq 1 ] || fail "volume remove while open exited $ZT_RC"
exec 7<&-
cmp -n $((16 << 20)) "$corpus" "$ZT_MNT/vol2" || fail "vol2 changed"

ctl_ok volume remove vol2 >/dev/null
[ ! -e "$ZT_MNT/vol2" ] || fail "vol2 still at the mount point"
ls "$ZT_MNT" | grep -qx vol2 && fail "vol2 still listed"
ctl_ok stats | grep -q "^volume\.vol2\." && fail "stats still show vol2"
expect_fail "no volume" ctl volume remove vol2
# The name again: a new, empty volume.
ctl_ok volume create vol2 8M >/dev/null
[ "$(stat -c %s "$ZT_MNT/vol2")" -eq $((8 << 20)) ] ||
	fail "the new vol2 has the old one's size"
cmp -n $((8 << 20)) /dev/zero "$ZT_MNT/vol2" || fail "the new vol2 is not empty"
ctl_ok volume remove vol2 >/dev/null

# As many volumes as there may be, then one more.
n=$(jget '.volume | length' volume list)
for ((i = n; i < 64; i++)); do
	ctl_ok volume create "many$i" 4K >/dev/null
done
expect_fail "64" ctl volume create one-more 4K
for ((i = n; i < 64; i++)); do
	ctl_ok volume remove "many$i" >/dev/null
done

# --- get and set -----------------------------------------------------------
out=$(ctl_ok get)
for key in compressor policy max_pool_percent max_pool_size \
	accept_threshold_percent max_node_size idle_seconds node_hint \
	log_level; do
	grep -q "$key" <<<"$out" || fail "get does not list $key"
done
[ "$(jget .max_pool_size get max_pool_size)" = 256M ] || fail "get max_pool_size"
ctl_ok set max_pool_size=128M >/dev/null
[ "$(jget .max_pool_size get max_pool_size)" = 128M ] || fail "set max_pool_size"
[ "$(jget .pool.limit_pages status)" -eq 32768 ] ||
	fail "the limit did not follow max_pool_size"
ctl_ok set max_pool_size=256M >/dev/null
expect_fail "1..100" ctl set max_pool_percent=300
[ "$ZT_RC" -eq 1 ] || fail "set of a bad value exited $ZT_RC"
[ "$(jget .max_pool_percent get max_pool_percent)" = 20 ] ||
	fail "a refused set changed the value"
expect_fail "no run-time setting" ctl set threads=8
expect_fail "restart" ctl set policy=strict
ctl_ok set policy=interleave >/dev/null
[ "$(jget .pool.policy stats)" = interleave ] || fail "policy not changed"
ctl_ok set policy=preferred >/dev/null
ctl_ok set accept_threshold_percent=80 >/dev/null
ctl_ok set max_node_size=64M >/dev/null
ctl_ok set node_hint=worker >/dev/null
ctl_ok set log_level=debug >/dev/null
ctl_ok set log_level=info >/dev/null
ctl_ok set idle_seconds=0 >/dev/null
ctl_ok set max_node_size=0 >/dev/null
if grep -qw zstd <<<"$("$ZPOOLD" --help-config)"; then
	ctl_ok set compressor=zstd >/dev/null
	before=$(jget .volume.vol1.blocks_compressed stats)
	dd if="$corpus" of="$ZT_MNT/vol1" bs=1M count=4 oflag=direct \
		conv=notrunc status=none || fail "writing vol1"
	[[ $(jget .compressor.algorithm stats) == zstd* ]] ||
		fail "compressor not changed"
	cmp -n $((4 << 20)) "$corpus" "$ZT_MNT/vol1" ||
		fail "vol1 reads back wrong after zstd"
	ctl_ok set compressor=lz4 >/dev/null
fi
expect_fail "compressor" ctl set compressor=lzo

# --- compact, writeback, reset-stats ---------------------------------------------
ctl_ok compact | grep -qi "freed" || fail "compact says nothing of pages freed"
expect_fail "node" ctl compact --node 9
ctl_ok compact --node 0 >/dev/null

before=$(jget .written_back_pages stats)
out=$(ctl_ok writeback --bytes 1M)
after=$(jget .written_back_pages stats)
[ $((after - before)) -eq 256 ] ||
	fail "writeback --bytes 1M wrote back $((after - before)) blocks, not 256 ($out)"
out=$(ctl_ok writeback --node 0 --bytes 64K)
[ $(($(jget .written_back_pages stats) - after)) -eq 16 ] ||
	fail "writeback --node 0 --bytes 64K"
# One node here: all of it came off node 0's list.
[ "$(jget .node0.written_back stats)" -eq "$(jget .written_back_pages stats)" ] ||
	fail "node0.written_back $(jget .node0.written_back stats) is not written_back_pages $(jget .written_back_pages stats)"
expect_fail "exclude" ctl writeback --bytes 1M --idle 5
[ "$ZT_RC" -ne 0 ] || fail "writeback with --bytes and --idle succeeded"
cmp -n $((32 << 20)) "$corpus" "$ZT_MNT/vol0" ||
	fail "vol0 reads back wrong after writeback"

# Everything out, then 512 fresh blocks of vol1, of which the first 256
# are read throughout a 3 s idle writeback: exactly the other 256 go.
ctl_ok writeback >/dev/null
[ "$(jget '.node0.lru_length' stats)" -eq 0 ] ||
	fail "writeback without options left blocks in the pool"
dd if="$corpus" of="$ZT_MNT/vol1" bs=1M count=2 skip=40 oflag=direct \
	conv=notrunc status=none || fail "writing vol1"
disk_before=$(jget .volume.vol1.blocks_disk stats)
ctl_ok writeback --idle 3 >"$ZT_TMP/idle.out" &
wb=$!
# Read all along, so that each of those blocks is read again soon after
# the marks, whenever they come.
while kill -0 $wb 2>/dev/null; do
	dd if="$ZT_MNT/vol1" of=/dev/null bs=1M count=1 iflag=direct \
		status=none || fail "reading vol1"
	sleep 0.1
done
wait $wb || fail "writeback --idle 3 failed: $(cat "$ZT_TMP/idle.out")"
disk_after=$(jget .volume.vol1.blocks_disk stats)
[ $((disk_after - disk_before)) -eq 256 ] ||
	fail "idle writeback moved $((disk_after - disk_before)) blocks of vol1, not the 256 untouched"
cmp -n $((2 << 20)) <(dd if="$corpus" bs=1M skip=40 count=2 status=none) \
	"$ZT_MNT/vol1" || fail "vol1 reads back wrong after idle writeback"

[ "$(jget .volume.vol0.writes stats)" -gt 0 ] || fail "no writes counted"
blocks=$(jget .volume.vol0.blocks_compressed stats)
ctl_ok reset-stats >/dev/null
[ "$(jget .volume.vol0.writes stats)" -eq 0 ] || fail "reset-stats: vol0 writes"
[ "$(jget .written_back_pages stats)" -eq 0 ] || fail "reset-stats: written back"
[ "$(jget .node0.written_back stats)" -eq 0 ] || fail "reset-stats: node 0's written back"
[ "$(jget .compressor.pages stats)" -eq 0 ] || fail "reset-stats: compressor"
[ "$(jget .volume.vol0.blocks_compressed stats)" -eq "$blocks" ] ||
	fail "reset-stats changed a gauge"

# --- top ---------------------------------------------------------------------
out=$(ctl_ok top --count 2 --interval 0.5)
[ "$(wc -l <<<"$out")" -ge 2 ] || fail "top --count 2 printed: $out"
grep -q $'\e\[' <<<"$out" && fail "top printed escapes to a pipe"
# On a terminal: full-screen, and q quits at once.
(sleep 1.5; printf q) | timeout 10 script -qfec \
	"stty rows 24 cols 80; $ZPOOLCTL -s $ZT_SOCK top" \
	"$ZT_TMP/top.tty" >/dev/null 2>&1
rc=$?
[ $rc -eq 0 ] || fail "top on a terminal did not quit on q (status $rc)"
grep -q $'\e\[' "$ZT_TMP/top.tty" || fail "top on a terminal drew nothing"
grep -q "node0" "$ZT_TMP/top.tty" || fail "top shows no node"
# Within 80x24: no line wider than 80 once the escapes are gone, and no
# more than 24 lines to a screen (a screen starts at the cursor's home).
sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r$//; /^Script \(started\|done\) /d' \
	"$ZT_TMP/top.tty" >"$ZT_TMP/top.txt"
awk 'length($0) > 80 { print; bad = 1 } END { exit bad }' "$ZT_TMP/top.txt" ||
	fail "top drew lines wider than 80 columns"
awk -v RS='\x1b\\[H' 'NR > 1 { n = split($0, l, "\n"); if (n > 25) bad = 1 }
	END { exit bad }' "$ZT_TMP/top.tty" ||
	fail "top drew more than 24 lines on a screen"

# --- help and exit codes ------------------------------------------------------
ctl_ok --help | grep -qi "exit status" || fail "--help does not document exit codes"
for sub in status stats top "volume create" "volume remove" "volume list" \
	swapon swapoff set get compact writeback reset-stats version; do
	# shellcheck disable=SC2086
	ctl_ok $sub --help | grep -qi "usage" || fail "$sub --help has no usage"
done
# Every subcommand listed with a few words; a group lists its own.
ctl_ok --help | grep -qE '^  volume create NAME SIZE +add a volume$' ||
	fail "--help does not describe volume create: $(ctl --help)"
[ "$(ctl_ok volume --help | grep -c '^  volume ')" -eq 3 ] ||
	fail "volume --help does not list create, remove and list: $(ctl volume --help)"
ctl volume >/dev/null 2>"$ZT_TMP/err"
[ $? -eq 2 ] && grep -q 'volume needs a subcommand' "$ZT_TMP/err" ||
	fail "'zpoolctl volume' alone: $(cat "$ZT_TMP/err")"
ctl volume create >/dev/null 2>&1
[ $? -eq 2 ] || fail "a missing argument is not exit status 2"
ctl --frobnicate >/dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown option is not exit status 2"
ctl frobnicate >/dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown subcommand is not exit status 2"
"$ZPOOLCTL" -s "$ZT_TMP/nothing.sock" status >/dev/null 2>"$ZT_TMP/err"
[ $? -eq 3 ] || fail "no daemon is not exit status 3"
grep -q "nothing.sock" "$ZT_TMP/err" || fail "no daemon: the socket is not named"

# --- bash completion ---------------------------------------------------------
# complete WORDS...: what completing the last word offers.
complete_words() {
	# shellcheck disable=SC1091
	bash -c '. /usr/share/bash-completion/bash_completion
		. "$1"; shift
		export PATH=$(dirname "$ZPOOLCTL"):$PATH
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_zpoolctl zpoolctl "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
		printf "%s\n" "${COMPREPLY[@]}"' _ \
		"$top_srcdir/ctl/zpoolctl.bash-completion" "$@"
}
export ZPOOLCTL
out=$(complete_words zpoolctl sw)
grep -qx swapon <<<"$out" && grep -qx swapoff <<<"$out" ||
	fail "completion of 'sw': $out"
out=$(complete_words zpoolctl -s "$ZT_SOCK" swapon "")
grep -qx vol0 <<<"$out" && grep -qx vol1 <<<"$out" ||
	fail "completion of swapon's volume: $out"
out=$(complete_words zpoolctl volume "")
[ "$(sort <<<"$out" | tr '\n' ' ')" = "create list remove " ] ||
	fail "completion of volume: $out"
out=$(complete_words zpoolctl set max_p)
grep -qx "max_pool_percent=" <<<"$out" || fail "completion of set: $out"

cmp -n $((32 << 20)) "$corpus" "$ZT_MNT/vol0" || fail "vol0 reads back wrong"
stop_daemon
[ ! -e "$ZT_SOCK" ] || fail "the socket is left behind"
note "ok: every subcommand, text and JSON"

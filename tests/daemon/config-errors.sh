#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# config-errors.sh - bad configurations and options are refused with the
# documented message and exit status, before anything is mounted (the
# mount point is not even made); --check-config, --help-config and
# --version work; and a stale mount left by a killed daemon does not stop
# the next one.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

conf=$ZT_TMP/zpoold.conf
good=$ZT_TMP/good.conf

# Whether the build has the optional zstd backend, and its version.
config_h=$top_builddir/config.h
have_zstd=false
grep -q '^#define HAVE_ZSTD 1' "$config_h" 2>/dev/null && have_zstd=true
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$config_h" 2>/dev/null)

# run_zpoold ARGS...: run zpoold in the foreground (a configuration that is
# wrongly accepted would start the daemon: the timeout stops it); sets
# rc, out and err.
run_zpoold() {
	timeout 10 "$ZPOOLD" "$@" >"$ZT_TMP/out" 2>"$ZT_TMP/err"
	rc=$?
	out=$(cat "$ZT_TMP/out")
	err=$(cat "$ZT_TMP/err")
}

nothing_mounted() {
	! grep -q " $ZT_MNT " /proc/mounts ||
		fail "$1: something is mounted at '$ZT_MNT'"
	[ ! -e "$ZT_MNT" ] || fail "$1: the mount point '$ZT_MNT' was made"
}

# refused WHAT STATUS MSG ARGS...: zpoold ARGS exits with STATUS, its
# stderr contains MSG, and it mounted nothing.
refused() {
	local what=$1 status=$2 msg=$3
	shift 3
	[ -x "$ZPOOLD" ] || fail "cannot find '$ZPOOLD': build it first"
	run_zpoold "$@"
	[ $rc -ne 124 ] || fail "$what: zpoold started instead of refusing"
	[ $rc -eq "$status" ] ||
		fail "$what: exit status $rc, expected $status; stderr: $err"
	! grep -qE "Sanitizer|runtime error:" <<<"$err" ||
		fail "$what: a sanitizer reported an error: $err"
	case $err in
	*"$msg"*) ;;
	*) fail "$what: stderr lacks '$msg': $err" ;;
	esac
	nothing_mounted "$what"
	note "$what: refused (status $rc): $(tail -n 1 <<<"$err")"
}

# --- bad files -----------------------------------------------------------------

write_config "$conf" <<EOF
bogus = 1
EOF
refused "unknown key" 1 "$conf:3: [daemon] bogus: unknown key (mountpoint," \
	-c "$conf"

write_config "$conf" <<EOF
[volume v0]
size = 12Q
EOF
refused "bad size" 1 "$conf:4: [volume v0] size: bad size '12Q' (" -c "$conf"

write_config "$conf" <<EOF
[volume v0]
size = 5000
EOF
refused "unaligned size" 1 "$conf:4: [volume v0] size: size not aligned '5000'" \
	-c "$conf"

write_config "$conf" <<EOF
[frobnicate]
size = 1G
EOF
refused "unknown section" 1 \
	"$conf:3: unknown section '[frobnicate]' ([daemon], [pool], [writeback] or [volume NAME])" \
	-c "$conf"

write_config "$conf" <<EOF
[volume v0]
node = none
EOF
refused "volume without size" 1 "[volume v0] ($conf:3): no size (" -c "$conf"

write_config "$conf" <<EOF
[pool]
compressor = lzo
EOF
refused "unknown compressor" 1 "$conf:4: [pool] compressor: unknown compressor 'lzo'" \
	-c "$conf"
names="lz4 lz4hc"
$have_zstd && names="$names zstd"
for c in $names; do
	grep -qE "[ (]${c}[,)]" <<<"$err" ||
		fail "unknown compressor: the message does not list $c: $err"
done

write_config "$conf" <<EOF
[daemon]
mountpoint = /elsewhere
EOF
refused "section twice, key twice" 1 \
	"$conf:4: [daemon] mountpoint: duplicate key (first set on line 2)" -c "$conf"

write_config "$conf" <<EOF
[volume v0]
size = 1M
[volume v0]
size = 2M
EOF
refused "volume twice" 1 "$conf:5: [volume v0]: volume defined twice (first at $conf:3)" \
	-c "$conf"

write_config "$conf" <<EOF
[volume ../v0]
size = 1M
EOF
refused "bad volume name" 1 "$conf:3: bad volume name '../v0' (letters" \
	-c "$conf"

# node beyond the machine's: 5 on a machine with fewer nodes, else the
# first that does not exist.
nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
[ "$nodes" -ge 1 ] || nodes=1
node=5
[ "$nodes" -le 5 ] || node=$nodes
write_config "$conf" <<EOF
[volume v0]
size = 1M
node = $node
EOF
refused "node $node" 1 \
	"[volume v0] ($conf:3): node $node does not exist (this machine has nodes 0..$((nodes - 1)))" \
	-c "$conf"

refused "missing -c file" 1 \
	"cannot open config file '$ZT_TMP/none.conf': No such file or directory" \
	-c "$ZT_TMP/none.conf"
refused "directory as -c file" 1 \
	"cannot open config file '$ZT_TMP': Is a directory" -c "$ZT_TMP"

# --- bad options -----------------------------------------------------------------

write_config "$good" <<EOF
[pool]
compressor = lz4hc:4
[volume v0]
size = 64M
EOF

refused "-o without '='" 1 "command line: -o pool.compressor: missing '='" \
	-c "$good" -o pool.compressor
refused "-o without section" 1 "command line: -o threads=2: missing section" \
	-c "$good" -o threads=2
refused "-o bad value" 1 \
	"command line: -o daemon.threads=0: number out of range '0' (1..256)" \
	-c "$good" -o daemon.threads=0
refused "-o unknown section" 1 "command line: -o frob.x=1: unknown section 'frob'" \
	-c "$good" -o frob.x=1
refused "-o unknown key" 1 \
	"command line: -o pool.bogus=1: unknown key 'bogus' in section pool" \
	-c "$good" -o pool.bogus=1
refused "-o unknown compressor" 1 \
	"command line: -o pool.compressor=lzo: unknown compressor 'lzo'" \
	-c "$good" -o pool.compressor=lzo
refused "-m relative" 1 "relative path 'relative/mnt'" -c "$good" -m relative/mnt
refused "unknown option" 2 "usage: zpoold" -c "$good" --bogus
case $err in
*"--bogus"*) ;;
*) fail "unknown option: stderr does not name '--bogus': $err" ;;
esac
refused "unexpected argument" 2 "unexpected argument 'extra'" -c "$good" extra
refused "-c without file" 2 "usage: zpoold" -c

# --- what prints and exits -------------------------------------------------------

run_zpoold -c "$good" --check-config
[ $rc -eq 0 ] || fail "--check-config of a good file: status $rc: $err"
for line in "[daemon]" "mountpoint = $ZT_MNT" "[pool]" "compressor = lz4hc:4" \
	"[volume v0]" "size = 64M" "threads = 4"; do
	grep -qxF "$line" <<<"$out" ||
		fail "--check-config does not print '$line': $out"
done
nothing_mounted "--check-config"
# What it prints is a configuration that reads back the same.
echo "$out" >"$ZT_TMP/dump.conf"
dump=$out
run_zpoold -c "$ZT_TMP/dump.conf" --check-config
[ $rc -eq 0 ] && [ "$out" = "$dump" ] ||
	fail "the --check-config output does not read back as itself (status $rc): $err"
# -o overrides the file, and --check-config shows it.
run_zpoold -c "$good" -o pool.compressor=lz4hc:5 -t 7 --check-config
[ $rc -eq 0 ] && grep -qxF "compressor = lz4hc:5" <<<"$out" &&
	grep -qxF "threads = 7" <<<"$out" ||
	fail "--check-config with -o and -t: status $rc: $out $err"
note "--check-config: ok"

run_zpoold --help-config
[ $rc -eq 0 ] || fail "--help-config: status $rc: $err"
help=$out
# Every key, as "section key": from --help-config ...
help_keys=$(awk '/^\[/ { s = $1; k = $2; if ($2 == "NAME]") k = $3
	gsub(/[][]/, "", s); print s, k }' <<<"$help" | sort)
# ... from a dump, which prints every key with its value ...
dump_keys=$(awk '/^\[/ { s = $1; gsub(/[][]/, "", s); next }
	/^[a-z_0-9]+ = / { print s, $1 } /^# [a-z_0-9]+ is not set$/ { print s, $2 }' \
	<<<"$dump" | sort)
[ "$help_keys" = "$dump_keys" ] ||
	fail "--help-config and --check-config disagree on the keys:" \
		"$(diff <(echo "$help_keys") <(echo "$dump_keys"))"
# ... and at least those of struct zpd_config (daemon/internal.h).
for k in "daemon mountpoint" "daemon threads" "daemon poll_us" "daemon splice" \
	"daemon max_write" "daemon node_hint" "daemon node_cache_ms" \
	"daemon oom_score_adj" "daemon swapoff_on_stop" "daemon reserve" \
	"daemon log_level" "pool compressor" "pool policy" \
	"pool max_zspage_pages" "pool chunk_bytes" "pool release_delay_ms" \
	"pool shards" "volume size" "volume node" "volume store"; do
	grep -qxF "$k" <<<"$help_keys" || fail "--help-config lacks '$k'"
done
# Each with its default and a description line.
bad=$(awk '/^\[/ { if (h && !d) print h; h = $0; d = 0; next }
	/^    [^ ]/ { d = 1 } END { if (h && !d) print h }' <<<"$help")
[ -z "$bad" ] || fail "--help-config: keys without a description: $bad"
grep -qxF "[volume NAME] size = (required)" <<<"$help" ||
	fail "--help-config does not say that a volume's size is required"
note "--help-config: $(wc -l <<<"$help_keys") keys, ok"

run_zpoold --version
[ $rc -eq 0 ] && [ "$out" = "zpoold ${version:-?}" ] ||
	fail "--version: status $rc, '$out'; expected 'zpoold $version'"
run_zpoold --help
[ $rc -eq 0 ] && grep -q "^usage: zpoold" <<<"$out" ||
	fail "--help: status $rc: $out"
for opt in --config --set --mountpoint --threads --check-config --help-config \
	--version; do
	grep -q -- "$opt" <<<"$out" || fail "--help does not mention $opt"
done
nothing_mounted "--version and --help"

# --- a mount point that cannot be mounted --------------------------------------

# A mount point under a file cannot be made, and a file is no mount point.
: >"$ZT_TMP/afile"
refused "mount point under a file" 1 \
	"cannot make directory '$ZT_TMP/afile/mnt': Not a directory" \
	-c "$good" -m "$ZT_TMP/afile/mnt"
refused "mount point is a file" 1 \
	"cannot mount at '$ZT_TMP/afile': Not a directory" \
	-c "$good" -m "$ZT_TMP/afile"
! grep -q "$ZT_TMP/afile" /proc/mounts || fail "something is mounted at '$ZT_TMP/afile'"

# --- a stale mount of a killed daemon ----------------------------------------

start_daemon "$good"
corpus=$(corpus_file) || exit 1
dd if="$corpus" of="$ZT_MNT/v0" bs=1M count=8 conv=notrunc status=none ||
	fail "writing to '$ZT_MNT/v0' failed"
kill_daemon
grep -q "^zpoold $ZT_MNT fuse.zpoold " /proc/mounts ||
	fail "the mount went away with the killed daemon"
expect_fail "Transport endpoint is not connected" stat "$ZT_MNT"
note "killed zpoold: '$ZT_ERR'"

mv "$ZT_TMP/zpoold.log" "$ZT_TMP/zpoold-killed.log"
start_daemon "$good"
mounts=$(grep -c " $ZT_MNT " /proc/mounts)
[ "$mounts" -eq 1 ] ||
	fail "$mounts mounts at '$ZT_MNT': zpoold mounted over the stale mount" \
		"instead of detaching it"
grep -q "detached a stale mount of a daemon that is gone at '$ZT_MNT'" \
	"$ZT_TMP/zpoold.log" || fail "the log does not say the stale mount was detached"
# The new daemon starts empty, and works.
cmp -s -n $((8 << 20)) "$ZT_MNT/v0" /dev/zero ||
	fail "the new daemon's volume does not start as zeros"
dd if="$corpus" of="$ZT_MNT/v0" bs=1M count=8 conv=notrunc status=none ||
	fail "writing to the new daemon's volume failed"
cmp -s -n $((8 << 20)) "$ZT_MNT/v0" "$corpus" ||
	fail "the new daemon's volume does not read back"
stop_daemon
! grep -q " $ZT_MNT " /proc/mounts ||
	fail "a mount is left at '$ZT_MNT' after the stop"
note "stale mount detached, new daemon ok"
note "ok"

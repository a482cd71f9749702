#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# control-abuse.sh - what zpoolctl never sends, through a raw client
# (tests/daemon/ctlpoke): garbage, binary bytes, an unknown version or
# command, bad arguments, a request over the size limit, half a request
# left hanging, requests whose replies are never read, a client that
# connects and says nothing, more clients than the daemon takes. Each gets
# its error reply or is dropped after control_timeout; the daemon keeps
# answering others throughout, and the data in its volume is intact.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires_root
requires zstd cmp dd

poke=$top_builddir/tests/daemon/ctlpoke
[ -x "$poke" ] || fail "cannot find '$poke': build it first"
[ -x "$ZPOOLCTL" ] || fail "cannot find '$ZPOOLCTL': build it first"
corpus=$(corpus_file) || fail "no corpus"

write_config "$ZT_TMP/zpoold.conf" <<EOF
control_timeout = 2
[volume vol0]
size = 64M
EOF
start_daemon "$ZT_TMP/zpoold.conf"
dd if="$corpus" of="$ZT_MNT/vol0" bs=1M count=16 oflag=direct conv=notrunc \
	status=none || fail "writing vol0"

# reply_is DATA CODE: the reply to DATA is an error with CODE.
reply_is() {
	local out
	out=$("$poke" -t 2 "$ZT_SOCK" "$1")
	grep -q "^zpoold/1 error $2 " <<<"$out" ||
		fail "'$1': no '$2' error in the reply: $out"
	[ "$(tail -n 1 <<<"$out")" = . ] || fail "'$1': the reply does not end"
}
reply_is 'hello\n' usage
reply_is '\n' usage
reply_is 'zpoold/1\n' usage
reply_is 'zpoold/2 status\n' version
reply_is 'zpoold/x status\n' usage
reply_is 'zpoold/1 frobnicate\n' usage
reply_is 'zpoold/1 status extra\n' usage
reply_is 'zpoold/1 volume-create\n' usage
reply_is 'zpoold/1 volume-create a b c\n' usage
reply_is 'zpoold/1 compact bogus=1\n' usage
reply_is 'zpoold/1 compact node=1 node=1\n' usage
reply_is 'zpoold/1 compact node=banana\n' invalid
reply_is 'zpoold/1 stats \x00\xff\x01\n' usage
reply_is 'zpoold/1 set\n' usage
reply_is 'zpoold/1 volume-create x 1T2\n' invalid
reply_is 'zpoold/1 swapon nosuch\n' notfound
reply_is "zpoold/1 get $(printf 'k%.0s' {1..200})\n" notfound
reply_is "zpoold/1 stats $(printf 'w %.0s' {1..40})\n" usage

# Errors leave the connection usable: the next request is served.
out=$("$poke" -t 2 "$ZT_SOCK" 'junk\nzpoold/1 version\n')
grep -q "^zpoold/1 ok" <<<"$out" || fail "no reply after an error: $out"
grep -q "^protocol 1" <<<"$out" || fail "version after an error: $out"
# CRLF and tabs are fine.
"$poke" -t 2 "$ZT_SOCK" 'zpoold/1\tversion\r\n' | grep -q "^zpoold/1 ok" ||
	fail "a request with a tab and CRLF was refused"

# Over the limit: the error, then the connection closes.
long=$(head -c 6000 /dev/zero | tr '\0' a)
out=$("$poke" -t 5 "$ZT_SOCK" "zpoold/1 $long\nzpoold/1 version\n")
grep -q "^zpoold/1 error toolong " <<<"$out" ||
	fail "an oversized request got: $(head -c 200 <<<"$out")"
grep -q "^protocol" <<<"$out" &&
	fail "the connection was served after an oversized request"

# Half a request, never finished: dropped after control_timeout (2 s).
out=$("$poke" -H 10 "$ZT_SOCK" 'zpoold/1 sta')
grep -q "^closed after [2-4] s" <<<"$out" ||
	fail "a half-sent request: $out"
grep -q "a request half sent" "$ZT_TMP/zpoold.log" ||
	fail "the drop of a half-sent request is not logged"

# Replies never read: the daemon writes what the socket takes, stops
# serving that client, and drops it; others are served meanwhile.
"$poke" -r 20000 -H 15 "$ZT_SOCK" 'zpoold/1 stats classes\n' \
	>"$ZT_TMP/noread.out" &
noread=$!
for ((i = 0; i < 5; i++)); do
	sleep 0.5
	timeout 5 "$ZPOOLCTL" -s "$ZT_SOCK" version >/dev/null ||
		fail "the daemon stopped answering while a client does not read"
done
wait $noread
# It is dropped while still sending (its requests fill the socket too)
# or while holding.
grep -Eq "^(closed after|send failed)" "$ZT_TMP/noread.out" ||
	fail "a client that never reads was not dropped: $(cat "$ZT_TMP/noread.out")"
grep -q "its reply not read" "$ZT_TMP/zpoold.log" ||
	fail "the drop of a client that does not read is not logged"

# Connected and silent: idle, not stalled; left alone for a while.
out=$("$poke" -H 5 "$ZT_SOCK" '')
[ "$out" = "still open" ] || fail "an idle client was dropped: $out"

# More clients than the daemon takes (32): the rest are told.
crowd=()
for ((i = 0; i < 40; i++)); do
	"$poke" -H 6 "$ZT_SOCK" '' >"$ZT_TMP/many.$i" &
	crowd+=($!)
done
sleep 2
out=$("$poke" -t 2 "$ZT_SOCK" 'zpoold/1 version\n')
grep -q "^zpoold/1 error busy too many clients" <<<"$out" ||
	fail "client 41 got: $out"
wait "${crowd[@]}"
timeout 5 "$ZPOOLCTL" -s "$ZT_SOCK" version >/dev/null ||
	fail "the daemon does not answer after the crowd left"

daemon_alive || fail "zpoold died"
cmp -n $((16 << 20)) "$corpus" "$ZT_MNT/vol0" || fail "vol0 reads back wrong"
stop_daemon
note "ok: every bad request answered or dropped, the daemon unharmed"

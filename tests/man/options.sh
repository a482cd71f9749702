#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# options.sh - the manual pages document what the programs accept and
# print, and nothing they do not, so the two cannot drift apart:
#   zpoold.8       every option of `zpoold --help` (long and short) and
#                  every signal it names; each option under OPTIONS is one
#                  the program has
#   zpoolctl.8     every global option and subcommand of `zpoolctl --help`,
#                  every option of each subcommand's --help, every key
#                  `set` takes; each heading under GLOBAL OPTIONS and
#                  SUBCOMMANDS is one the program has
#   zpoold.conf.5  every key of `zpoold --help-config` under its section,
#                  with the same default; no key the daemon does not know
#   completion     ctl/zpoolctl.bash-completion offers every subcommand
#                  and, after one, each of its options
#   statistics     every name a running daemon's `zpoolctl stats --classes
#                  --resident` prints (nodeN, class.N and volume.NAME for
#                  numbers and names) is an entry under STATISTICS in
#                  zpoolctl.8, and every entry there is printed
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

requires_root
[ -x "$ZPOOLCTL" ] || fail "cannot find '$ZPOOLCTL': build it first"
man=$top_srcdir/man
problems=0
bad() {
	echo "$ZT_NAME: $*" >&2
	problems=$((problems + 1))
}

# Roff source to plain words: \- is -, fonts and quotes go.
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's/"//g'; }
# The lines of section SH (a .SH title) of a page, plain.
section() {
	awk -v want="$2" '/^\.SH / { t = $0; sub(/^\.SH +"?/, "", t); sub(/"$/, "", t);
		on = (t == want); next } on' "$1" | plain
}
# The heading line after each .TP of a section, outside .RS/.RE
# indentation (the entries of the section itself, not those nested in one).
headings() {
	section "$1" "$2" | awk '/^\.RS/ { d++ } /^\.RE/ { d-- }
		p { print; p = 0 } /^\.TP/ { p = (d == 0) }'
}
# --long options in text.
longs() { grep -oE -- '--[a-z][a-z-]*[a-z]' | sort -u; }

# zpoold.8
help=$("$ZPOOLD" --help) || fail "zpoold --help failed"
page=$(plain <"$man/zpoold.8")
for o in $(longs <<<"$help"); do
	grep -q -- "$o\b" <<<"$page" || bad "zpoold.8 does not document $o"
done
for o in $(grep -oE '^ +-[a-zA-Z],' <<<"$help" | tr -d ' ,'); do
	grep -qE -- "(^|[ \[])$o\b" <<<"$page" || bad "zpoold.8 does not document $o"
done
for o in $(headings "$man/zpoold.8" OPTIONS | longs); do
	grep -q -- "$o\b" <<<"$help" || bad "zpoold.8 documents $o, which zpoold --help does not list"
done
for s in $(grep -oE 'SIG[A-Z0-9]+' <<<"$help" | sort -u); do
	section "$man/zpoold.8" SIGNALS | grep -q "$s" || bad "zpoold.8 SIGNALS lacks $s"
done

# zpoolctl.8
help=$("$ZPOOLCTL" --help) || fail "zpoolctl --help failed"
page=$(plain <"$man/zpoolctl.8")
subs=$(awk '/^Subcommands:/ { on = 1; next } /^$/ { on = 0 } on' <<<"$help" |
	sed -E 's/^ +//; s/  +.*$//; s/ +[A-Z[].*$//')
[ "$(wc -l <<<"$subs")" -ge 10 ] || fail "cannot read the subcommands of zpoolctl --help"
doc_subs=$(headings "$man/zpoolctl.8" SUBCOMMANDS | grep -E '^\.B ' |
	sed -E 's/^\.B +//; s/ +[A-Z[].*$//; s/ +$//')
while read -r s; do
	grep -qxF "$s" <<<"$doc_subs" || bad "zpoolctl.8 SUBCOMMANDS lacks '$s'"
	[ "$s" = help ] && continue
	# shellcheck disable=SC2086
	sub_help=$("$ZPOOLCTL" $s --help) || bad "zpoolctl $s --help failed"
	for o in $(longs <<<"$sub_help"); do
		grep -q -- "$o\b" <<<"$page" || bad "zpoolctl.8 does not document $o of $s"
	done
done <<<"$subs"
# Headings under SUBCOMMANDS that start with a lower-case word are
# subcommands; the others are columns, fields and options.
while read -r s; do
	grep -qxF "$s" <<<"$subs" || bad "zpoolctl.8 documents a subcommand '$s' that zpoolctl --help does not list"
done < <(grep -E '^[a-z]' <<<"$doc_subs")
for o in $(longs <<<"$help"); do
	section "$man/zpoolctl.8" "GLOBAL OPTIONS" | grep -q -- "$o\b" ||
		bad "zpoolctl.8 GLOBAL OPTIONS lacks $o"
done
for o in $(headings "$man/zpoolctl.8" "GLOBAL OPTIONS" | longs); do
	grep -q -- "$o\b" <<<"$help" || bad "zpoolctl.8 documents a global $o that zpoolctl --help does not list"
done
keys=$("$ZPOOLCTL" set --help | grep -oE 'setting: .*' | sed 's/setting: //; s/\.$//; s/, / /g')
[ -n "$keys" ] || fail "cannot read the keys of zpoolctl set --help"
for k in $keys; do
	grep -qw -- "$k" <<<"$page" || bad "zpoolctl.8 does not name the setting $k"
	grep -qw -- "$k" <"$man/zpoold.conf.5" || bad "zpoold.conf.5 does not name the setting $k"
done

# The bash completion offers every subcommand and each one's options.
complete_words() {
	bash -c '. /usr/share/bash-completion/bash_completion
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_zpoolctl zpoolctl "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
		printf "%s\n" "${COMPREPLY[@]}"' _ \
		"$top_srcdir/ctl/zpoolctl.bash-completion" "$@" 2>/dev/null | sort -u
}
offered=$(complete_words zpoolctl "")
while read -r s; do
	first=${s%% *}
	grep -qxF "$first" <<<"$offered" || bad "the completion does not offer '$first'"
	[ "$s" = help ] && continue
	# shellcheck disable=SC2086
	opts=$("$ZPOOLCTL" $s --help | longs)
	# shellcheck disable=SC2086
	got=$(complete_words zpoolctl $s --)
	for o in $opts; do
		grep -qxF -- "$o" <<<"$got" || bad "the completion does not offer $o after '$s'"
	done
done <<<"$subs"

# zpoold.conf.5: "[section] key = default" against the entries
#   .SS [section]  .TP  .B key  ...  Default: \fBVALUE\fR.
"$ZPOOLD" --help-config | grep -E '^\[' |
	sed -E 's/^\[([^]]*)\] ([a-z_]+) = (.*)$/\1|\2|\3/' >"$ZT_TMP/keys"
[ "$(wc -l <"$ZT_TMP/keys")" -ge 30 ] || fail "cannot read zpoold --help-config"
awk '/^\.SS / { s = $0; sub(/^\.SS +"?\[/, "", s); sub(/\]"?$/, "", s); next }
	/^\.SH / { s = "" }
	s != "" && p && /^\.B / { k = $2; next }
	{ p = /^\.TP/ }
	s != "" && k != "" && /^Default:/ { d = $0; sub(/^Default: */, "", d); print s "|" k "|" d; k = "" }' \
	"$man/zpoold.conf.5" | plain | sed -E 's/\.$//' >"$ZT_TMP/doc-keys"
while IFS='|' read -r sec key def; do
	doc=$(awk -F'|' -v s="$sec" -v k="$key" '$1 == s && $2 == k { print $3 }' "$ZT_TMP/doc-keys")
	case $def in
	'""') want='empty' ;;
	'(required)') want='none; required' ;;
	*) want=$def ;;
	esac
	if [ -z "$doc" ]; then
		bad "zpoold.conf.5 lacks [$sec] $key (or its Default: line)"
	elif [ "$doc" != "$want" ]; then
		bad "zpoold.conf.5 gives [$sec] $key the default '$doc', zpoold '$want'"
	fi
done <"$ZT_TMP/keys"
while IFS='|' read -r sec key _; do
	grep -q "^$sec|$key|" "$ZT_TMP/keys" ||
		bad "zpoold.conf.5 documents [$sec] $key, which zpoold does not know"
done <"$ZT_TMP/doc-keys"

# Statistics: a daemon with a volume and a backing store prints them all.
write_config "$ZT_TMP/zpoold.conf" <<EOF
[writeback]
file = $ZT_TMP/backing
size = 16M
[volume vol0]
size = 16M
EOF
start_daemon "$ZT_TMP/zpoold.conf"
ctl_ok stats --classes --resident | awk '{ print $1 }' |
	sed -E 's/^node[0-9]+\./nodeN./; s/^class\.[0-9]+\./class.N./; s/^volume\.vol0\./volume.NAME./' |
	sort -u >"$ZT_TMP/stats"
stop_daemon
[ "$(wc -l <"$ZT_TMP/stats")" -ge 50 ] || fail "too few statistics: $(cat "$ZT_TMP/stats")"
headings "$man/zpoolctl.8" STATISTICS | grep -E '^\.B ' | awk '{ print $2 }' |
	sort -u >"$ZT_TMP/doc-stats"
while read -r s; do
	grep -qxF "$s" "$ZT_TMP/doc-stats" || bad "zpoolctl.8 STATISTICS lacks $s"
done <"$ZT_TMP/stats"
while read -r s; do
	grep -qxF "$s" "$ZT_TMP/stats" || bad "zpoolctl.8 documents the statistic $s, which zpoold does not print"
done <"$ZT_TMP/doc-stats"

note "$(wc -l <"$ZT_TMP/keys") configuration keys, $(wc -l <"$ZT_TMP/stats") statistics, $(wc -l <<<"$subs") subcommands checked"
[ $problems -eq 0 ] || fail "$problems differences between the programs and their manual pages"

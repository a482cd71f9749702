#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# install.sh - `make install DESTDIR=...` puts every file where it belongs
# (the daemon and the CLI, the units, the three manual pages, the example
# configuration and /etc/zpoold.conf made from it, the bash completion);
# the installed programs run and accept the installed configuration; the
# completion completes; `make install prefix=...` writes units that name
# that prefix; a second install leaves an operator's changed
# /etc/zpoold.conf alone and so does uninstall, which removes everything
# else; an unchanged one goes with the rest.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/daemon/lib.sh"

root=$ZT_TMP/root
inst() { # inst LOG [MAKE ARGS]
	local log=$1
	shift
	make -s -C "$top_builddir" "$@" >"$ZT_TMP/$log" 2>&1 ||
		fail "make $* failed: $(tail -n 20 "$ZT_TMP/$log")"
}
inst install.log install DESTDIR="$root"
files=$(cd "$root" && find . -type f | sort)
note "installed files:"
sed 's/^/  /' <<<"$files"
need() { # need PATTERN: one installed file matches
	[ "$(grep -cE -- "$1" <<<"$files")" -eq 1 ] || fail "no (single) installed file matches $1"
	grep -E -- "$1" <<<"$files" | sed 's/^\.//'
}
zpoold=$(need '/sbin/zpoold$')
zpoolctl=$(need '/sbin/zpoolctl$')
need '/systemd/system/zpoold\.service$' >/dev/null
need '/systemd/system/zpoold-swap@\.service$' >/dev/null
need '/man8/zpoold\.8$' >/dev/null
need '/man8/zpoolctl\.8$' >/dev/null
need '/man5/zpoold\.conf\.5$' >/dev/null
need '/doc/zpoold/zpoold\.conf\.example$' >/dev/null
etc=$(need '/etc/zpoold\.conf$')
completion=$(need '/bash-completion/completions/zpoolctl$')
[ "$(wc -l <<<"$files")" -eq 10 ] || fail "expected 10 files, got $(wc -l <<<"$files")"
[ "$(stat -c %a "$root$zpoold")" = 755 ] || fail "zpoold is not mode 755"
cmp -s "$root$etc" "$top_srcdir/daemon/zpoold.conf.example" ||
	fail "$etc is not the example configuration"

# The programs run, and the daemon accepts the configuration installed.
v=$("$root$zpoold" --version) || fail "the installed zpoold does not run"
[ "$v" = "zpoold $("$ZPOOLD" --version | awk '{ print $2 }')" ] || fail "zpoold --version: $v"
"$root$zpoolctl" --version >/dev/null || fail "the installed zpoolctl does not run"
out=$("$root$zpoold" --check-config -c "$root$etc" 2>&1) ||
	fail "zpoold does not accept the installed configuration: $out"
grep -qx '\[volume swap0\]' <<<"$out" || fail "the installed configuration has no swap0"
"$root$zpoold" --help | grep -q "default $etc" ||
	fail "zpoold's default configuration is not the installed $etc: $("$root$zpoold" --help | grep default)"
# The completion, found and loaded by bash-completion by the command's name
# from the data directory it was installed under.
words=$(XDG_DATA_DIRS=$root${completion%/bash-completion/completions/zpoolctl} bash -c '
	. /usr/share/bash-completion/bash_completion
	__load_completion zpoolctl || exit 1
	f=$(complete -p zpoolctl | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
	COMP_WORDS=(zpoolctl sw); COMP_CWORD=1; COMP_LINE="zpoolctl sw"; COMP_POINT=${#COMP_LINE}
	"$f" zpoolctl sw zpoolctl
	printf "%s\n" "${COMPREPLY[@]}"' | sort | tr '\n' ' ')
[ "$words" = "swapoff swapon " ] || fail "the installed completion completes 'zpoolctl sw' to '$words'"

# Another prefix, named by the units.
inst install-opt.log install DESTDIR="$ZT_TMP/opt" prefix=/opt/zp
grep -qx 'ExecStart=/opt/zp/sbin/zpoold --config /opt/zp/etc/zpoold.conf' \
	"$(find "$ZT_TMP/opt" -name zpoold.service)" ||
	fail "with prefix=/opt/zp: $(grep ExecStart "$(find "$ZT_TMP/opt" -name zpoold.service)")"
[ -x "$ZT_TMP/opt/opt/zp/sbin/zpoold" ] || fail "prefix=/opt/zp: no /opt/zp/sbin/zpoold"

# An operator's configuration stays through install and uninstall.
echo '# changed by the operator' >>"$root$etc"
cp "$root$etc" "$ZT_TMP/changed"
inst reinstall.log install DESTDIR="$root"
cmp -s "$root$etc" "$ZT_TMP/changed" || fail "a second install replaced a changed $etc"
inst uninstall.log uninstall DESTDIR="$root"
left=$(cd "$root" && find . -type f)
[ "$left" = ".$etc" ] || fail "uninstall left: $left"
cmp -s "$root$etc" "$ZT_TMP/changed" || fail "uninstall changed $etc"
# An unchanged one goes.
rm -f "$root$etc"
inst install2.log install DESTDIR="$root"
inst uninstall2.log uninstall DESTDIR="$root"
left=$(cd "$root" && find . -type f)
[ -z "$left" ] || fail "uninstall left: $left"
note "install, a second install and uninstall: ok"

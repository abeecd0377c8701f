#!/bin/sh
# test_manpage_render.sh -- the man pages render, at 80 columns, without a
# single warning from the formatter.
#
#   sh tests/unit/test_manpage_render.sh PAGE...
#
# Uses man(1) of man-db (`man --warnings=all -l PAGE`, what a user runs),
# else groff (`groff -mandoc -Tutf8 -ww`); both come with Debian's man-db and
# groff-base packages (deploy/install-deps installs man-db). Without either
# it fails: a page nobody can render is not checked. Each page must
# also render its NAME section with its own name in it: a page that fails
# to render at all is not "without warnings". Before the pages, a broken
# page must make the check fail, so that a check that cannot fail is noticed.
set -u
LC_ALL=C.UTF-8
MANWIDTH=80
export LC_ALL MANWIDTH

if command -v man >/dev/null 2>&1 && man --version 2>/dev/null | grep -q '^man '; then
	tool=man
elif command -v groff >/dev/null 2>&1; then
	tool=groff
else
	echo "neither man (man-db) nor groff is installed: install man-db" >&2
	exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# render PAGE: the page as text on stdout, the formatter's complaints on stderr.
render() {
	if [ "$tool" = man ]; then
		man --warnings=all -l "$1"
	else
		groff -mandoc -Tutf8 -ww -P-cbou "$1"
	fi
}

# check PAGE: 0 when it renders its NAME without any warning, else 1 and why.
check() {
	render "$1" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	name=$(sed -n 's/^\.Nm \([^ ]*\).*/\1/p' "$1" | head -n 1)
	if [ "$rc" -ne 0 ]; then
		echo "$1: $tool exited with $rc" >&2
		cat "$tmp/err" >&2
		return 1
	fi
	if [ -s "$tmp/err" ]; then
		echo "$1: warnings from $tool:" >&2
		cat "$tmp/err" >&2
		return 1
	fi
	if ! grep -q '^NAME' "$tmp/out" || { [ -n "$name" ] && ! grep -q "$name" "$tmp/out"; }; then
		echo "$1: the rendered page lacks its NAME section or its name ($name)" >&2
		return 1
	fi
	return 0
}

# The check itself: an undefined macro and a bad escape must be caught.
cat >"$tmp/broken.1" <<'EOF'
.Dd January 1, 2026
.Dt BROKEN 1
.Os
.Sh NAME
.Nm broken
.Nd a page that must not pass
.Sh DESCRIPTION
.Foo bar
text \q
EOF
if check "$tmp/broken.1" 2>/dev/null; then
	echo "the check passed a broken page: it cannot catch anything" >&2
	exit 1
fi

[ $# -gt 0 ] || { echo "usage: $0 PAGE..." >&2; exit 2; }
fails=0
for page in "$@"; do
	if [ ! -r "$page" ]; then
		echo "$page: cannot read" >&2
		fails=$((fails + 1))
	elif check "$page"; then
		echo "ok $page ($tool)"
	else
		fails=$((fails + 1))
	fi
done
[ "$fails" -eq 0 ]

#!/bin/sh
# test_metrics_doc.sh -- docs/metrics.md documents every metric that
# /metrics exposes, with its type, and no metric that it does not.
#
#   sh tests/unit/test_metrics_doc.sh SOURCE_ROOT
#
# The exposed metrics are the rows { "NAME", "TYPE", ... } of the metrics
# table and any prom_head(out, "NAME", "TYPE", ...) call in admin/*.c; the documented ones are the table rows of docs/metrics.md,
# "| `NAME` | TYPE | labels | meaning |", except under a "## Planned" heading.
set -u
LC_ALL=C
export LC_ALL

root=${1:?usage: $0 SOURCE_ROOT}
doc=$root/docs/metrics.md
[ -r "$doc" ] || { echo "cannot read $doc" >&2; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# Calls may be split over lines: join each file into one line first.
for f in "$root"/admin/*.c; do
	tr '\n\t' '  ' <"$f"
	echo
done | grep -oE '(prom_head\( *[a-z_]*, *|\{ *)"poolgate_[a-z0-9_]*", *"[a-z]*"' |
    sed 's/.*"\([a-z0-9_]*\)", *"\([a-z]*\)"$/\1 \2/' | sort -u >"$tmp/code"

# Rows under a "## Planned" heading are not exposed yet: not counted.
awk -F'|' '/^## / { planned = ($0 ~ /^## Planned/) }
    !planned && /^\| `poolgate_/ {
	n = $2; t = $3; gsub(/[ `]/, "", n); gsub(/ /, "", t); print n, t }' "$doc" |
    sort -u >"$tmp/doc"

if [ ! -s "$tmp/code" ]; then
	echo "no prom_head() call found in $root/proxy/*.c: has the metrics code moved?" >&2
	exit 1
fi

fails=0
comm -23 "$tmp/code" "$tmp/doc" >"$tmp/missing"
comm -13 "$tmp/code" "$tmp/doc" >"$tmp/extra"
while read -r name type; do
	echo "docs/metrics.md: $name ($type) is exposed by /metrics but not documented" \
	    "(or documented with another type)" >&2
	fails=$((fails + 1))
done <"$tmp/missing"
while read -r name type; do
	echo "docs/metrics.md: $name ($type) is documented but /metrics does not" \
	    "expose it so (move it to a section marked as planned, or fix the type)" >&2
	fails=$((fails + 1))
done <"$tmp/extra"
[ "$fails" -eq 0 ] && echo "ok: $(wc -l <"$tmp/code") metrics documented"
[ "$fails" -eq 0 ]

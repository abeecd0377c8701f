#!/bin/sh
# test_agent_sh.sh -- deploy/agent/poolgate-agent against fake /proc files.
#
#   sh tests/unit/test_agent_sh.sh [path/to/poolgate-agent]
#
# Each reply must be one line that backends/agent.c reads as meant: words
# from its grammar only (N%, ready, drain, up, then an optional #reason),
# at most 1024 bytes, ended by LF.
set -u
LC_ALL=C
export LC_ALL

here=$(dirname "$0")
AGENT=${1:-$here/../../deploy/agent/poolgate-agent}
[ -r "$AGENT" ] || { echo "no agent script at $AGENT" >&2; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/proc"
fails=0
n=0

# fake LOAD1 NCPU MEMTOTAL MEMAVAIL: write the fake /proc files.
fake() {
	printf '%s 0.50 0.20 1/123 4567\n' "$1" > "$tmp/proc/loadavg"
	printf 'MemTotal:       %s kB\nMemFree:          1000 kB\n' "$3" > "$tmp/proc/meminfo"
	[ -n "$4" ] && printf 'MemAvailable:   %s kB\n' "$4" >> "$tmp/proc/meminfo"
	NCPU=$2
}

run() {
	POOLGATE_AGENT_PROC="$tmp/proc" POOLGATE_AGENT_NPROC="$NCPU" \
	POOLGATE_AGENT_DRAIN_FILE="$tmp/drain" sh "$AGENT" > "$tmp/out" 2> "$tmp/err"
}

# expect NAME EXACT-LINE: the reply is that line, and well formed.
expect() {
	n=$((n + 1))
	if ! run; then
		echo "not ok $n - $1: exit status $?"; fails=$((fails + 1)); return
	fi
	got=$(cat "$tmp/out")
	lines=$(wc -l < "$tmp/out")
	bytes=$(wc -c < "$tmp/out")
	if [ "$got" != "$2" ]; then
		echo "not ok $n - $1: got '$got', expected '$2'"; fails=$((fails + 1))
	elif [ "$lines" -ne 1 ] || [ "$bytes" -gt 1025 ]; then
		echo "not ok $n - $1: $lines lines, $bytes bytes"; fails=$((fails + 1))
	elif ! printf '%s\n' "$got" | grep -Eq \
	    '^([0-9]{1,3}% )?(ready|drain) up( #[ -~]*)?$'; then
		echo "not ok $n - $1: '$got' is not in the agent grammar"; fails=$((fails + 1))
	elif [ -s "$tmp/err" ]; then
		echo "not ok $n - $1: stderr: $(cat "$tmp/err")"; fails=$((fails + 1))
	else
		echo "ok $n - $1"
	fi
}

# Idle CPU share 75%, memory 50%: the lower one.
fake 1.00 4 16000000 8000000
expect "memory is the tighter" "50% ready up"
# Idle machine with memory to spare.
fake 0.00 4 16000000 15000000
expect "idle" "93% ready up"
fake 0.00 2 16000000 16000000
expect "all free is 100%" "100% ready up"
# CPU the tighter: load 3 on 4 CPUs leaves 25%.
fake 3.00 4 16000000 12000000
expect "cpu is the tighter" "25% ready up"
# Overloaded or out of memory: 1%, never 0% (that would drain).
fake 9.50 4 16000000 12000000
expect "overloaded" "1% ready up"
fake 0.10 4 16000000 0
expect "no memory" "1% ready up"
# A kernel without MemAvailable: CPU alone.
fake 0.50 1 16000000 ""
expect "no MemAvailable" "50% ready up"
# Unreadable /proc: no percentage, state only.
mv "$tmp/proc/loadavg" "$tmp/loadavg.away"
expect "no loadavg" "ready up"
mv "$tmp/loadavg.away" "$tmp/proc/loadavg"
# Bad CPU count falls back to 1.
fake 0.25 x 16000000 16000000
expect "bad nproc" "75% ready up"

# Drain while the file exists; its first line is the reason, printable.
fake 1.00 4 16000000 8000000
: > "$tmp/drain"
expect "drain, empty file" "50% drain up #drain file $tmp/drain"
printf 'kernel update\tat 14:00\001\nsecond line\n' > "$tmp/drain"
expect "drain with reason" "50% drain up #kernel update at 14:00"
awk 'BEGIN { for (i = 0; i < 300; i++) printf "x"; print "" }' > "$tmp/drain"
expect "long reason cut" "50% drain up #$(awk 'BEGIN { for (i = 0; i < 100; i++) printf "x" }')"
rm -f "$tmp/drain"
expect "ready again" "50% ready up"

echo "1..$n"
[ "$fails" -eq 0 ]

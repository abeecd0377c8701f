#!/bin/sh
# deploy/bash-completion/poolgatectl under bash with bash-completion's own
# helpers: commands, options per command, and VM names asked of poolgatectl
# (a stand-in function here that prints a status table and records its
# arguments, so the endpoint given on the line is seen to be passed on).
#   test_bash_completion.sh COMPLETION_FILE
set -eu
comp=$1
helpers=/usr/share/bash-completion/bash_completion
[ -r "$helpers" ] || { echo "FAIL: $helpers missing (Debian package bash-completion)"; exit 1; }
exec bash --norc --noprofile -c '
set -u
. "$1"
. "$2"
fails=0
poolgatectl() {
	echo "$*" > "$TMPDIR_ARGS"
	printf "VM   ADDRESS    STATE\nvm1  10.0.0.1   up\nvm2  10.0.0.2   drain\nweb  10.0.0.3   up\n"
}
export TMPDIR_ARGS=$(mktemp)
check() {   # check "WANTED WORDS" WORD...
	want=$1; shift
	COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_poolgatectl poolgatectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
	got=$(printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ $//")
	if [ "$got" != "$want" ]; then
		echo "FAIL: [$*] completed to [$got], wanted [$want]"; fails=1
	else
		echo "ok: [$*] -> [$got]"
	fi
}
check "drain" poolgatectl dr
check "add drain maint ready remove sessions status" poolgatectl ""
check "--wait" poolgatectl drain --wa
check "--timeout" poolgatectl drain --wait --ti
check "--max-sessions" poolgatectl add --m
check "vm1 vm2" poolgatectl drain --wait vm
check "vm1 vm2 web" poolgatectl --json sessions ""
check "5m" poolgatectl drain --wait --timeout 5
check "--endpoint" poolgatectl --end
check "vm1" poolgatectl --endpoint http://10.1.2.3:9100 ready vm1
grep -qx -- "--endpoint http://10.1.2.3:9100 status" "$TMPDIR_ARGS" ||
	{ echo "FAIL: the endpoint was not passed on: $(cat "$TMPDIR_ARGS")"; fails=1; }
rm -f "$TMPDIR_ARGS"
exit $fails
' sh "$helpers" "$comp"

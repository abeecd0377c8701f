#!/bin/sh
# test_azure_hook.sh -- deploy/azure/poolgate-hook against a fake `az`.
#
# Usage: sh test_azure_hook.sh [path/to/poolgate-hook]
#
# The fake az, first on PATH, logs each call (its arguments joined by
# spaces) and answers the queries the hook makes from FAKE_AZ_* variables.
# Each case checks the exact list of az calls an event produces, for a
# scale set in Uniform and in Flexible orchestration mode.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
hook=${1:-$here/../../deploy/azure/poolgate-hook}
[ -f "$hook" ] || { echo "no hook at $hook" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_azure_hook.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/bin" "$tmp/state"

cat > "$tmp/bin/az" <<'FAKE'
#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_AZ_LOG"
case "$1 $2" in
"account show")
	[ "${FAKE_AZ_SIGNED_IN:-1}" = 1 ] ;;
"login --identity")
	exit 0 ;;
"vmss list-instances")
	[ "${FAKE_AZ_FAIL:-}" = list-instances ] && { echo "ERROR: list failed" >&2; exit 1; }
	sleep "${FAKE_AZ_DELAY:-0}"
	[ -n "${FAKE_AZ_INSTANCES:-}" ] && printf '%s\n' "$FAKE_AZ_INSTANCES"
	exit 0 ;;
"vmss show")
	case "$*" in
	*orchestrationMode*) echo "${FAKE_AZ_MODE:-Uniform}" ;;
	*) echo "$FAKE_AZ_CAPACITY" ;;
	esac ;;
"vm list")
	[ "${FAKE_AZ_FAIL:-}" = vm-list ] && { echo "ERROR: vm list failed" >&2; exit 1; }
	[ -n "${FAKE_AZ_VMS:-}" ] && printf '%s\n' "$FAKE_AZ_VMS"
	exit 0 ;;
"vmss update"|"vmss delete-instances"|"vmss scale")
	if [ "${FAKE_AZ_FAIL:-}" = "$2" ]; then
		echo "ERROR: $2 failed" >&2
		exit 1
	fi ;;
*)
	echo "fake az: unexpected call: $*" >&2
	exit 3 ;;
esac
FAKE
chmod 755 "$tmp/bin/az"

PATH=$tmp/bin:$PATH
export PATH
export FAKE_AZ_LOG="$tmp/az.log"

cat > "$tmp/azure.env" <<'EOF'
RG=rg1
VMSS=pool
MIN_VMS=1
MAX_VMS=4
ORCHESTRATION=Uniform
EOF
export POOLGATE_AZURE_ENV="$tmp/azure.env"
export STATE_DIR="$tmp/state"

# instanceId, computerName, instance name, provisioningState, as az prints them.
inst() { printf '%s\t%s\t%s\t%s' "$1" "$2" "pool_$1" "$3"; }
THREE="$(inst 0 dsvm000000 Succeeded)
$(inst 1 dsvm000001 Succeeded)
$(inst 2 dsvm000002 Succeeded)"

LIST="vmss list-instances --resource-group rg1 --name pool --query [].[instanceId, osProfile.computerName, name, provisioningState] --output tsv"
LOGIN="account show --output none"

fails=0
n=0

# reset: a fresh az log, lock state and fake answers.
reset() {
	: > "$FAKE_AZ_LOG"
	rm -rf "$STATE_DIR"
	mkdir "$STATE_DIR"
	unset FAKE_AZ_FAIL FAKE_AZ_SIGNED_IN FAKE_AZ_DELAY FAKE_AZ_VMS
	FAKE_AZ_INSTANCES=$THREE
	FAKE_AZ_CAPACITY=3
	export FAKE_AZ_INSTANCES FAKE_AZ_CAPACITY
}

# run EVENT [VM]: the hook's status in $rc, its output in $tmp/out.
run() {
	rc=0
	"$hook" "$@" > "$tmp/out" 2>&1 || rc=$?
}

fail() {
	echo "not ok $n - $name: $*"
	echo "  hook output:"; sed 's/^/    /' "$tmp/out"
	echo "  az calls:"; sed 's/^/    /' "$FAKE_AZ_LOG"
	fails=$((fails + 1))
}

# check NAME WANT_RC WANT_CALLS [OUTPUT_PATTERN]
check() {
	n=$((n + 1))
	name=$1
	if [ "$rc" != "$2" ]; then
		fail "exit status $rc, expected $2"
	elif [ "$(cat "$FAKE_AZ_LOG")" != "$3" ]; then
		fail "az calls differ; expected:
$(printf '%s\n' "$3" | sed 's/^/    /')"
	elif [ -n "${4:-}" ] && ! grep -q -- "$4" "$tmp/out"; then
		fail "output lacks '$4'"
	else
		echo "ok $n - $name"
	fi
}

reset; run vm_busy dsvm000001
check "vm_busy protects the VM's instance from scale-in" 0 "$LOGIN
$LIST
vmss update --resource-group rg1 --name pool --instance-id 1 --protect-from-scale-in true --output none" \
    "protected dsvm000001 (instance 1)"

reset; run vm_busy pool_2
check "vm_busy finds an instance by its instance name too" 0 "$LOGIN
$LIST
vmss update --resource-group rg1 --name pool --instance-id 2 --protect-from-scale-in true --output none"

reset; run vm_busy static-vm
check "vm_busy leaves a VM outside the scale set alone" 0 "$LOGIN
$LIST" "not an instance of pool"

reset; FAKE_AZ_FAIL=list-instances; export FAKE_AZ_FAIL; run vm_busy dsvm000001
check "vm_busy fails when az cannot list the instances" 1 "$LOGIN
$LIST" "list failed"

reset; FAKE_AZ_FAIL=update; export FAKE_AZ_FAIL; run vm_busy dsvm000001
check "a failing az call fails the hook" 1 "$LOGIN
$LIST
vmss update --resource-group rg1 --name pool --instance-id 1 --protect-from-scale-in true --output none" \
    "update failed"

reset; FAKE_AZ_SIGNED_IN=0; export FAKE_AZ_SIGNED_IN; run vm_busy dsvm000000
check "not signed in: az login --identity first" 0 "$LOGIN
login --identity --output none
$LIST
vmss update --resource-group rg1 --name pool --instance-id 0 --protect-from-scale-in true --output none"

reset; run vm_idle dsvm000002
check "vm_idle lifts the protection and deletes the instance" 0 "$LOGIN
$LIST
vmss update --resource-group rg1 --name pool --instance-id 2 --protect-from-scale-in false --output none
vmss delete-instances --resource-group rg1 --name pool --instance-ids 2 --no-wait --output none" \
    "deleting idle dsvm000002 (instance 2), 2 instance(s) left"

# The same listing again, as if Azure did not show the deletion yet: the
# hook remembers it. 3 listed, 1 being deleted, MIN_VMS=1: one more may go.
run vm_idle dsvm000001
check "a second vm_idle counts the first deletion" 0 "$LOGIN
$LIST
vmss update --resource-group rg1 --name pool --instance-id 2 --protect-from-scale-in false --output none
vmss delete-instances --resource-group rg1 --name pool --instance-ids 2 --no-wait --output none
$LOGIN
$LIST
vmss update --resource-group rg1 --name pool --instance-id 1 --protect-from-scale-in false --output none
vmss delete-instances --resource-group rg1 --name pool --instance-ids 1 --no-wait --output none"
: > "$FAKE_AZ_LOG"
run vm_idle dsvm000000
check "vm_idle keeps the last MIN_VMS instances, unprotected" 0 "$LOGIN
$LIST
vmss update --resource-group rg1 --name pool --instance-id 0 --protect-from-scale-in false --output none" \
    "keeping dsvm000000: 1 instance(s), MIN_VMS=1"

reset
FAKE_AZ_INSTANCES="$(inst 0 dsvm000000 Succeeded)
$(inst 1 dsvm000001 Deleting)"
run vm_idle dsvm000000
check "an instance Azure is deleting does not count" 0 "$LOGIN
$LIST
vmss update --resource-group rg1 --name pool --instance-id 0 --protect-from-scale-in false --output none" \
    "keeping dsvm000000"

reset
sed -i 's/^MIN_VMS=.*/MIN_VMS=0/' "$tmp/azure.env"
FAKE_AZ_INSTANCES=$(inst 0 dsvm000000 Succeeded)
run vm_idle dsvm000000
check "MIN_VMS=0: the last idle instance goes (scale to zero)" 0 "$LOGIN
$LIST
vmss update --resource-group rg1 --name pool --instance-id 0 --protect-from-scale-in false --output none
vmss delete-instances --resource-group rg1 --name pool --instance-ids 0 --no-wait --output none" \
    "0 instance(s) left"
sed -i 's/^MIN_VMS=.*/MIN_VMS=2/' "$tmp/azure.env"

# Two VMs idle at once, three instances, MIN_VMS=2: exactly one may go. A
# slow listing makes both hooks count at the same time unless they queue.
reset; FAKE_AZ_DELAY=0.3; export FAKE_AZ_DELAY
"$hook" vm_idle dsvm000000 > "$tmp/out.a" 2>&1 & a=$!
"$hook" vm_idle dsvm000001 > "$tmp/out.b" 2>&1 & b=$!
rc=0; wait $a || rc=$?; wait $b || rc=$?
cat "$tmp/out.a" "$tmp/out.b" > "$tmp/out"
n=$((n + 1)); name="concurrent vm_idle hooks take turns"
deletes=$(grep -c '^vmss delete-instances' "$FAKE_AZ_LOG" || true)
if [ "$rc" != 0 ] || [ "$deletes" != 1 ] || ! grep -q keeping "$tmp/out"; then
	fail "status $rc, $deletes deletions (expected 1)"
else
	echo "ok $n - $name"
fi
sed -i 's/^MIN_VMS=.*/MIN_VMS=1/' "$tmp/azure.env"

reset; run capacity_low ""
check "capacity_low scales out by one" 0 "$LOGIN
$LIST
vmss show --resource-group rg1 --name pool --query sku.capacity --output tsv
vmss scale --resource-group rg1 --name pool --new-capacity 4 --no-wait --output none" \
    "scaling pool out from 3 to 4"

run no_capacity ""
check "no scale-out again within the cooldown" 0 "$LOGIN
$LIST
vmss show --resource-group rg1 --name pool --query sku.capacity --output tsv
vmss scale --resource-group rg1 --name pool --new-capacity 4 --no-wait --output none
$LOGIN
$LIST" "scaled out [01]s ago, waiting"

reset
FAKE_AZ_INSTANCES="$THREE
$(inst 3 dsvm000003 Creating)"
run no_capacity ""
check "no scale-out while an instance is being created" 0 "$LOGIN
$LIST" "already being created"

reset; FAKE_AZ_CAPACITY=4; run capacity_low ""
check "no scale-out past MAX_VMS" 0 "$LOGIN
$LIST
vmss show --resource-group rg1 --name pool --query sku.capacity --output tsv" \
    "at MAX_VMS=4"

reset; FAKE_AZ_INSTANCES=; FAKE_AZ_CAPACITY=0; run no_capacity ""
check "no_capacity wakes an empty scale set" 0 "$LOGIN
$LIST
vmss show --resource-group rg1 --name pool --query sku.capacity --output tsv
vmss scale --resource-group rg1 --name pool --new-capacity 1 --no-wait --output none" \
    "from 0 to 1"

reset; FAKE_AZ_CAPACITY=garbage; run capacity_low ""
check "a capacity that is not a number fails the hook" 1 "$LOGIN
$LIST
vmss show --resource-group rg1 --name pool --query sku.capacity --output tsv" \
    "unexpected capacity"

reset; run vm_up dsvm000001
check "vm_up makes no az call" 0 "" "vm_up dsvm000001: nothing to do"
reset; run vm_down dsvm000001
check "vm_down makes no az call" 0 "" "nothing to do"

reset; run vm_reboot dsvm000001
check "an unknown event fails" 1 "" "unknown event"
reset; run vm_busy "dsvm';rm -rf /"
check "a VM name outside [A-Za-z0-9_.-] is refused" 1 "" "refusing VM name"
reset; run vm_busy ""
check "vm_busy without a VM fails" 1 "" "needs a VM name"

reset
POOLGATE_AZURE_ENV=$tmp/empty.env
: > "$POOLGATE_AZURE_ENV"
run vm_busy dsvm000001
check "a configuration without RG fails" 1 "" "RG (resource group) is not set"
POOLGATE_AZURE_ENV=$tmp/azure.env

reset
echo "MAX_VMS=ten" >> "$tmp/azure.env"
run capacity_low ""
check "a bad MAX_VMS fails before any az call" 1 "" "MAX_VMS must be a number"
sed -i '/^MAX_VMS=ten$/d' "$tmp/azure.env"

# ---- Flexible orchestration: instances are VMs of the resource group.
sed -i 's/^ORCHESTRATION=.*/ORCHESTRATION=Flexible/; s/^MIN_VMS=.*/MIN_VMS=1/' "$tmp/azure.env"
# name, computerName, provisioningState, scale set id, as az vm list prints them.
SET=/subscriptions/s1/resourceGroups/RG1/providers/Microsoft.Compute/virtualMachineScaleSets
vmrow() { printf '%s\t%s\t%s\t%s' "$1" "$2" "$3" "$SET/$4"; }
FLEX="$(vmrow pool_a1b2c3 dsvm5a1b2c Succeeded POOL)
$(vmrow pool_d4e5f6 dsvm5d4e5f Succeeded pool)
$(vmrow other_1 other00001 Succeeded other)
$(printf 'gatevm\tgatevm\tSucceeded\t')"
VMLIST="vm list --resource-group rg1 --query [].[name, osProfile.computerName, provisioningState, virtualMachineScaleSet.id] --output tsv"
flex() { reset; FAKE_AZ_VMS=$FLEX; export FAKE_AZ_VMS; }

flex; run vm_busy dsvm5a1b2c
check "Flexible: vm_busy protects the VM by its name" 0 "$LOGIN
$VMLIST
vmss update --resource-group rg1 --name pool --instance-id pool_a1b2c3 --protect-from-scale-in true --output none" \
    "protected dsvm5a1b2c (instance pool_a1b2c3)"

flex; run vm_busy other00001
check "Flexible: a VM of another scale set is left alone" 0 "$LOGIN
$VMLIST" "not an instance of pool"

flex; run vm_busy gatevm
check "Flexible: a VM of no scale set is left alone" 0 "$LOGIN
$VMLIST" "not an instance of pool"

flex; run vm_idle pool_d4e5f6
check "Flexible: vm_idle lifts the protection and deletes the VM" 0 "$LOGIN
$VMLIST
vmss update --resource-group rg1 --name pool --instance-id pool_d4e5f6 --protect-from-scale-in false --output none
vmss delete-instances --resource-group rg1 --name pool --instance-ids pool_d4e5f6 --no-wait --output none" \
    "1 instance(s) left"
: > "$FAKE_AZ_LOG"
run vm_idle dsvm5a1b2c
check "Flexible: the deletion counts; MIN_VMS keeps the last one" 0 "$LOGIN
$VMLIST
vmss update --resource-group rg1 --name pool --instance-id pool_a1b2c3 --protect-from-scale-in false --output none" \
    "keeping dsvm5a1b2c: 1 instance(s), MIN_VMS=1"

flex; run capacity_low ""
check "Flexible: capacity_low scales out by one" 0 "$LOGIN
$VMLIST
vmss show --resource-group rg1 --name pool --query sku.capacity --output tsv
vmss scale --resource-group rg1 --name pool --new-capacity 4 --no-wait --output none"

flex; FAKE_AZ_VMS="$FLEX
$(vmrow pool_new dsvm5new Creating pool)"; run no_capacity ""
check "Flexible: no scale-out while a VM is being created" 0 "$LOGIN
$VMLIST" "already being created"

flex; FAKE_AZ_FAIL=vm-list; export FAKE_AZ_FAIL; run vm_busy dsvm5a1b2c
check "Flexible: a failing az vm list fails the hook" 1 "$LOGIN
$VMLIST" "vm list failed"

# ---- auto: the mode is asked once, then remembered in STATE_DIR/mode.
sed -i 's/^ORCHESTRATION=.*/ORCHESTRATION=auto/' "$tmp/azure.env"
MODEQ="vmss show --resource-group rg1 --name pool --query orchestrationMode --output tsv"
flex; FAKE_AZ_MODE=Flexible; export FAKE_AZ_MODE; run vm_busy dsvm5a1b2c
run vm_busy dsvm5d4e5f
check "auto: Flexible detected once, then remembered" 0 "$LOGIN
$MODEQ
$VMLIST
vmss update --resource-group rg1 --name pool --instance-id pool_a1b2c3 --protect-from-scale-in true --output none
$LOGIN
$VMLIST
vmss update --resource-group rg1 --name pool --instance-id pool_d4e5f6 --protect-from-scale-in true --output none"

reset; FAKE_AZ_MODE=Uniform; run vm_busy dsvm000001
check "auto: Uniform detected" 0 "$LOGIN
$MODEQ
$LIST
vmss update --resource-group rg1 --name pool --instance-id 1 --protect-from-scale-in true --output none"

reset; FAKE_AZ_MODE=Weird; run vm_busy dsvm000001
check "auto: an unknown mode fails the hook" 1 "$LOGIN
$MODEQ" "unexpected orchestration mode 'Weird'"
unset FAKE_AZ_MODE

sed -i 's/^ORCHESTRATION=.*/ORCHESTRATION=uniform/' "$tmp/azure.env"
reset; run vm_busy dsvm000001
check "a bad ORCHESTRATION fails before any az call" 1 "" "ORCHESTRATION must be Uniform, Flexible or auto"

echo "1..$n"
if [ "$fails" -gt 0 ]; then
	echo "$fails of $n failed"
	exit 1
fi

"""deploy/azure/poolgate-vmss-sync against a fake `az` that records every call,
in Uniform and in Flexible orchestration mode: the backends file poolgate
reads, and the host certificate each new VM gets (read back with
ssh-keygen -L: signed by the pool's CA, for the pool's name).
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYNC = REPO / "deploy" / "azure" / "poolgate-vmss-sync"
POOL_DNS = "mypool.westeurope.cloudapp.azure.com"

# Answers from files in $FAKE_AZ_DIR: instances.tsv, nics.tsv, vms.tsv,
# hostkey-<key> (the VM's host key); every call appended to calls.log, the
# scripts of run-command to scripts/<n>.
FAKE_AZ = r"""#!/bin/sh
d=$FAKE_AZ_DIR
printf '%s\n' "$*" >> "$d/calls.log"
case "$1 $2" in
"account show") exit 0 ;;
"vmss show") echo "${FAKE_AZ_MODE:-Uniform}" ;;
"vmss list-instances")
	[ -f "$d/fail-list" ] && { echo "ERROR: (AuthorizationFailed)" >&2; exit 1; }
	cat "$d/instances.tsv" ;;
"vmss nic") cat "$d/nics.tsv" ;;
"vm list") cat "$d/vms.tsv" ;;
"vmss run-command"|"vm run-command")
	key=; script=; prev=
	for a in "$@"; do
		case $prev in --instance-id|--name) key=$a ;; --scripts) script=$a ;; esac
		prev=$a
	done
	n=$(ls "$d/scripts" | wc -l)
	printf '%s' "$script" > "$d/scripts/$n-$key"
	case $script in
	"cat /etc/ssh/ssh_host_ed25519_key.pub")
		printf 'Enable succeeded: \n[stdout]\n%s\n\n[stderr]\n' "$(cat "$d/hostkey-$key")" ;;
	*) printf 'Enable succeeded: \n[stdout]\n\n[stderr]\n' ;;
	esac ;;
*) echo "fake az: unexpected: $*" >&2; exit 3 ;;
esac
"""


@pytest.fixture
def env(tmp_path):
    d = tmp_path / "az"
    (d / "scripts").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(FAKE_AZ)
    (bin_dir / "az").chmod(0o755)
    ca = tmp_path / "host_ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    state = tmp_path / "state"
    conf = tmp_path / "azure.env"
    conf.write_text("RG=rg1\nVMSS=pool\nORCHESTRATION=auto\nSTATE_DIR=%s\n"
                    "BACKENDS_FILE=%s\nHOST_CA=%s\nHOST_NAMES=%s\n" % (
                        state, tmp_path / "backends", ca, POOL_DNS))
    e = {"PATH": "%s:/usr/bin:/bin" % bin_dir, "FAKE_AZ_DIR": str(d),
         "POOLGATE_AZURE_ENV": str(conf)}
    return {"dir": d, "env": e, "ca": ca, "backends": tmp_path / "backends", "tmp": tmp_path}


def hostkey(t, key):
    k = t["tmp"] / ("hk-" + key)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True)
    (t["dir"] / ("hostkey-" + key)).write_text(Path(str(k) + ".pub").read_text())


def run(t, extra=None):
    e = dict(t["env"])
    e.update(extra or {})
    (t["dir"] / "calls.log").write_text("")
    p = subprocess.run(["sh", str(SYNC)], env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    return p, (t["dir"] / "calls.log").read_text().splitlines()


def backends(t):
    return [l for l in t["backends"].read_text().splitlines() if not l.startswith("#")]


def installed_cert(t, key):
    scripts = sorted(t["dir"].glob("scripts/*-" + key), key=lambda p: int(p.name.split("-")[0]))
    install = [p.read_text() for p in scripts if "HostCertificate" in p.read_text()]
    assert len(install) == 1, [p.read_text() for p in scripts]
    m = re.search(r"'(ssh-ed25519-cert-v01@openssh.com [^']+)'", install[0])
    assert m, install[0]
    cert = t["tmp"] / ("cert-%s.pub" % key)
    cert.write_text(m.group(1) + "\n")
    out = subprocess.run(["ssh-keygen", "-L", "-f", str(cert)], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    ca_fp = subprocess.run(["ssh-keygen", "-l", "-f", str(t["ca"]) + ".pub"],
                           stdout=subprocess.PIPE, text=True, check=True).stdout.split()[1]
    assert "host certificate" in out and ca_fp in out, out
    assert re.search(r"Principals:\s*\n\s*%s\s*\n" % re.escape(POOL_DNS), out), out
    return install[0]


UNIFORM_LIST = ("vmss list-instances --resource-group rg1 --name pool --query "
                "[].[instanceId, osProfile.computerName, provisioningState] --output tsv")
UNIFORM_NICS = ("vmss nic list --resource-group rg1 --vmss-name pool --query "
                "[].[virtualMachine.id, ipConfigurations[0].privateIPAddress] --output tsv")
VMSSID = "/subscriptions/s/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachineScaleSets/"


def test_uniform(env):
    t = env
    (t["dir"] / "instances.tsv").write_text(
        "0\tdsvm000000\tSucceeded\n1\tdsvm000001\tSucceeded\n2\tdsvm000002\tCreating\n")
    (t["dir"] / "nics.tsv").write_text(
        VMSSID + "pool/virtualMachines/0\t10.40.4.4\n" + VMSSID + "pool/virtualMachines/1\t10.40.4.5\n"
        + VMSSID + "pool/virtualMachines/2\t10.40.4.6\n")
    for k in ("0", "1", "2"):
        hostkey(t, k)
    p, calls = run(t, {"FAKE_AZ_MODE": "Uniform"})
    assert p.returncode == 0, p.stderr
    assert backends(t) == ["dsvm000000 10.40.4.4", "dsvm000001 10.40.4.5"]
    rc = [c for c in calls if "run-command" in c]
    assert calls[:4] == ["account show --output none",
                         "vmss show --resource-group rg1 --name pool --query orchestrationMode --output tsv",
                         UNIFORM_LIST, UNIFORM_NICS], calls
    assert len(rc) == 4 and all(c.startswith("vmss run-command invoke --resource-group rg1 --name pool"
                                             " --instance-id ") for c in rc), rc
    script = installed_cert(t, "0")
    assert "HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub" in script
    assert "'%s' > /etc/ssh/pool_host_ca.pub" % Path(str(t["ca"]) + ".pub").read_text().strip() in script
    installed_cert(t, "1")

    # Next run: nothing new to sign, the mode remembered, the file unchanged.
    before = t["backends"].stat().st_mtime_ns
    p, calls = run(t, {"FAKE_AZ_MODE": "Uniform"})
    assert p.returncode == 0, p.stderr
    assert calls == ["account show --output none", UNIFORM_LIST, UNIFORM_NICS], calls
    assert t["backends"].stat().st_mtime_ns == before

    # The scale set adds an instance and deletes one: one more signing.
    (t["dir"] / "instances.tsv").write_text(
        "1\tdsvm000001\tSucceeded\n2\tdsvm000002\tSucceeded\n")
    p, calls = run(t)
    assert p.returncode == 0, p.stderr
    assert backends(t) == ["dsvm000001 10.40.4.5", "dsvm000002 10.40.4.6"]
    assert len([c for c in calls if "run-command" in c]) == 2
    installed_cert(t, "2")


def test_flexible(env):
    t = env
    (t["dir"] / "vms.tsv").write_text(
        "pool_a1\tdsvm5a1\tSucceeded\t10.40.4.7\t%sPOOL\n" % VMSSID
        + "pool_b2\tdsvm5b2\tSucceeded\t10.40.4.8,10.40.4.9\t%spool\n" % VMSSID
        + "other_1\tother1\tSucceeded\t10.40.4.10\t%sother\n" % VMSSID
        + "gate1\tgate1\tSucceeded\t10.40.0.4\t\n")
    for k in ("pool_a1", "pool_b2"):
        hostkey(t, k)
    p, calls = run(t, {"FAKE_AZ_MODE": "Flexible"})
    assert p.returncode == 0, p.stderr
    assert backends(t) == ["dsvm5a1 10.40.4.7", "dsvm5b2 10.40.4.8"]
    assert ("vm list --resource-group rg1 --show-details --query [].[name, osProfile.computerName,"
            " provisioningState, privateIps, virtualMachineScaleSet.id] --output tsv") in calls
    rc = [c for c in calls if "run-command" in c]
    assert len(rc) == 4 and all(re.match(r"vm run-command invoke --resource-group rg1 --name "
                                         r"pool_(a1|b2) --command-id RunShellScript", c) for c in rc), rc
    installed_cert(t, "pool_a1")
    installed_cert(t, "pool_b2")


def test_listing_fails_changes_nothing(env):
    t = env
    t["backends"].write_text("# old\ndsvm000009 10.40.4.99\n")
    (t["dir"] / "fail-list").write_text("")
    p, calls = run(t, {"FAKE_AZ_MODE": "Uniform"})
    assert p.returncode == 1 and "AuthorizationFailed" in p.stderr
    assert backends(t) == ["dsvm000009 10.40.4.99"]
    assert not [f for f in t["tmp"].iterdir() if f.name.startswith("backends.")], "temp file left"


def test_unsigned_vm_stays_out(env):
    """A VM whose host key cannot be read is left out of the backends file."""
    t = env
    (t["dir"] / "instances.tsv").write_text("0\tdsvm000000\tSucceeded\n1\tdsvm000001\tSucceeded\n")
    (t["dir"] / "nics.tsv").write_text(VMSSID + "pool/virtualMachines/0\t10.40.4.4\n"
                                       + VMSSID + "pool/virtualMachines/1\t10.40.4.5\n")
    hostkey(t, "0")
    (t["dir"] / "hostkey-1").write_text("")   # run-command prints no key
    p, calls = run(t, {"FAKE_AZ_MODE": "Uniform"})
    assert p.returncode == 0, p.stderr
    assert backends(t) == ["dsvm000000 10.40.4.4"]
    assert "dsvm000001: no ed25519 host key" in p.stderr

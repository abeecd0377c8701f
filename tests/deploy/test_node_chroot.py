"""The poolgate node's setup as cloud-init runs it, on a fresh Debian 12 root
made with debootstrap (from Debian's mirror) in a chroot.

cloud-init's modules of deploy/azure/cloud-init/poolgate.yaml are carried out
in the order cloud-init runs them, from the file itself: package_update and
packages (apt-get in the chroot), write_files (with the deployment's settings
put in place of @SETTINGS@, as the template does), runcmd (each command with
/bin/sh in the chroot). Then, as the VM extension does, the secrets are
written and poolgate-azure-setup runs.

What cannot run in a chroot is replaced by a fake that records its calls:
systemctl (no systemd in a chroot; poolgate-azure-setup runs with NO_START=1,
so poolgate is configured and checked, not started), and Debian's
policy-rc.d answers 101 (the packages' services, redis-server's, do not
start in the chroot, which shares this machine's network). The repository is
cloned from a local git copy of the working tree (no network but Debian's
mirror), and the Azure CLI from Microsoft's repository is not installed
(NO_AZ_CLI=1). The end: poolgate built and installed, its user made, the
configuration generated from the settings, and `poolgate -t` in the chroot
accepts it. Then the same root as the second node of two: cloud-init's
Redis step installs redis-server and redis-sentinel, and the setup writes
the cluster group and their files for Debian's redis user.
"""

import base64
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
YAML = REPO / "deploy" / "azure" / "cloud-init" / "poolgate.yaml"
MIRROR = "http://deb.debian.org/debian"
SETTINGS = ("RG=rg1\nVMSS=mypool-dsvm\nORCHESTRATION=Uniform\n"
            "POOL_DNS=mypool.westeurope.cloudapp.azure.com\nNODES=1\nMIN_VMS=0\nMAX_VMS=10\n"
            "AGENT_PORT=9101\nPOOLGATE_SOURCE=/srv/poolgate.git\nPOOLGATE_REF=main\n")
FAKE_SYSTEMCTL = """#!/bin/sh
printf '%s\\n' "$*" >> /var/log/fake-systemctl.log
"""
TIMES = {}


def tool(name):
    if shutil.which(name) is None:
        pytest.fail("%s not found (deploy/install-deps installs it)" % name, pytrace=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("needs root (debootstrap, chroot)", pytrace=False)
    for t in ("debootstrap", "chroot", "unshare", "git"):
        tool(t)
    r = tmp_path_factory.mktemp("chroot") / "root"
    t0 = time.monotonic()
    p = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(r), MIRROR],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200)
    assert p.returncode == 0, "debootstrap failed:\n" + p.stdout[-3000:]
    TIMES["debootstrap"] = time.monotonic() - t0
    shutil.copy("/etc/resolv.conf", r / "etc" / "resolv.conf")
    # systemctl: a fake that records (no systemd in a chroot)
    fake = r / "usr" / "local" / "bin" / "systemctl"
    fake.write_text(FAKE_SYSTEMCTL)
    fake.chmod(0o755)
    # services of installed packages stay down, as in any chroot
    policy = r / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    yield r
    print("times: %s" % ", ".join("%s %.0fs" % kv for kv in TIMES.items()))
    shutil.rmtree(r, ignore_errors=True)


def in_root(r, script, env=None, timeout=1800):
    """Run script with /bin/sh in the chroot, /proc and /dev mounted in a
    private mount namespace (gone when it ends)."""
    e = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
         "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    e.update(env or {})
    wrapper = ('mount -t proc proc "$R/proc" && mount --rbind /dev "$R/dev" && '
               'exec chroot "$R" /bin/sh -c "$S"')
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", wrapper],
                          env=dict(e, R=str(r), S=script), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def git_copy_of_worktree(dest):
    """A git repository of the working tree as it is (committed or not)."""
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"],
                           stdout=subprocess.PIPE, check=True).stdout.split(b"\0")
    work = dest.parent / "poolgate-src"
    for f in files:
        if not f:
            continue
        src = REPO / f.decode()
        if src.is_file():
            (work / f.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / f.decode())
    g = ["git", "-C", str(work), "-c", "user.name=test", "-c", "user.email=test@invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run(g + ["add", "-A"], check=True)
    subprocess.run(g + ["commit", "-q", "-m", "working tree"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(dest)], check=True)
    shutil.rmtree(work)


def test_poolgate_node_setup_in_debian12_chroot(root):
    doc = yaml.safe_load(YAML.read_text())
    git_copy_of_worktree(root / "srv" / "poolgate.git")

    # cloud-init: package_update, packages
    t0 = time.monotonic()
    assert doc["package_update"] is True
    p = in_root(root, "apt-get update -q && apt-get install -y -q --no-install-recommends "
                + " ".join(doc["packages"]))
    assert p.returncode == 0, "packages:\n" + p.stdout[-3000:]
    TIMES["packages"] = time.monotonic() - t0

    # cloud-init: write_files, with the settings the template puts in
    b64 = base64.b64encode(SETTINGS.encode()).decode()
    for f in doc["write_files"]:
        path = root / f["path"].lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        content = f["content"].replace("@SETTINGS@", b64)
        data = base64.b64decode(content) if f.get("encoding") == "b64" else content.encode()
        path.write_bytes(data)
        path.chmod(int(f.get("permissions", "0644"), 8))
    assert (root / "etc" / "poolgate" / "azure-deploy.env").read_text() == SETTINGS

    # cloud-init: runcmd, each command as cloud-init runs it (sh)
    t0 = time.monotonic()
    for cmd in doc["runcmd"]:
        script = cmd if isinstance(cmd, str) else " ".join(
            "'%s'" % a.replace("'", "'\\''") for a in cmd)
        p = in_root(root, script, env={"NO_AZ_CLI": "1"})
        assert p.returncode == 0, "runcmd %r:\n%s" % (cmd, p.stdout[-4000:])
    TIMES["runcmd (clone, build, install)"] = time.monotonic() - t0
    assert "restart ssh" in (root / "var" / "log" / "fake-systemctl.log").read_text()
    for f in ("usr/local/sbin/poolgate", "usr/local/bin/poolgatectl",
              "usr/local/libexec/poolgate/poolgate-hook", "usr/local/sbin/poolgate-vmss-sync",
              "usr/local/sbin/poolgate-azure-setup", "etc/systemd/system/poolgate.service",
              "etc/systemd/system/poolgate-vmss-sync.timer"):
        assert (root / f).exists(), f
    assert "poolgate:" in (root / "etc" / "passwd").read_text()

    # the VM extension: secrets into root-only files, then the setup
    secrets = root / "etc" / "poolgate" / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "admin.token").write_text("tok-0123456789abcdef0123\n")
    (secrets / "ssh-host-ca").write_text("")
    p = in_root(root, "/usr/local/sbin/poolgate-azure-setup", env={"NO_START": "1"})
    assert p.returncode == 0, "poolgate-azure-setup:\n" + p.stdout[-3000:]
    conf = (root / "etc" / "poolgate" / "poolgate.conf").read_text()
    assert 'ssh_host_principal = "mypool.westeurope.cloudapp.azure.com";' in conf
    assert 'agent = { port = 9101; };' in conf
    p = in_root(root, "/usr/local/sbin/poolgate -t -c /etc/poolgate/poolgate.conf")
    assert p.returncode == 0 and "configuration ok" in p.stdout, p.stdout
    tok = root / "etc" / "poolgate" / "admin.token"
    uid = int(next(l for l in (root / "etc" / "passwd").read_text().splitlines()
                   if l.startswith("poolgate:")).split(":")[2])
    assert tok.stat().st_uid == uid and (tok.stat().st_mode & 0o777) == 0o600
    assert not secrets.exists()


def test_second_node_of_two_in_debian12_chroot(root, tmp_path):
    """The same root as node 2 of 2 (the settings the template gives it):
    Redis from cloud-init's step, then the setup with the three secrets."""
    assert (root / "usr" / "local" / "sbin" / "poolgate").exists(), "the first test did not run"
    settings = (SETTINGS.replace("NODES=1", "NODES=2") +
                "GATE_ADDRS=10.40.0.10,10.40.0.11\nNODE_INDEX=1\n")
    (root / "etc" / "poolgate" / "azure-deploy.env").write_text(settings)
    doc = yaml.safe_load(YAML.read_text())
    steps = [c for c in doc["runcmd"] if isinstance(c, list) and "redis-server" in " ".join(c)]
    assert len(steps) == 1, "cloud-init has no step that installs Redis"
    t0 = time.monotonic()
    script = " ".join("'%s'" % a.replace("'", "'\\''") for a in steps[0])
    p = in_root(root, script)
    assert p.returncode == 0, "the Redis step:\n" + p.stdout[-3000:]
    TIMES["redis packages"] = time.monotonic() - t0
    for f in ("usr/bin/redis-server", "usr/bin/redis-sentinel"):
        assert (root / f).exists(), f

    secrets = root / "etc" / "poolgate" / "secrets"
    secrets.mkdir(mode=0o700)
    key = tmp_path / "ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (secrets / "admin.token").write_text("tok-0123456789abcdef0123\n")
    (secrets / "ssh-host-ca").write_text(key.read_text())
    (secrets / "redis.pass").write_text("rp-0123456789abcdef\n")
    p = in_root(root, "/usr/local/sbin/poolgate-azure-setup", env={"NO_START": "1"})
    assert p.returncode == 0, "poolgate-azure-setup:\n" + p.stdout[-3000:]
    conf = (root / "etc" / "poolgate" / "poolgate.conf").read_text()
    assert 'cluster = { node = "pg2"; sentinel = [ "10.40.0.10:26379", "10.40.0.11:26379" ];' in conf
    p = in_root(root, "/usr/local/sbin/poolgate -t -c /etc/poolgate/poolgate.conf")
    assert p.returncode == 0 and "configuration ok" in p.stdout, p.stdout

    def uid(name):
        return int(next(l for l in (root / "etc" / "passwd").read_text().splitlines()
                        if l.startswith(name + ":")).split(":")[2])
    pw = root / "etc" / "poolgate" / "redis.pass"
    assert pw.stat().st_uid == uid("poolgate") and (pw.stat().st_mode & 0o777) == 0o600
    for name in ("redis.conf", "sentinel.conf"):
        f = root / "etc" / "redis" / name
        assert f.stat().st_uid == uid("redis") and (f.stat().st_mode & 0o777) == 0o640, name
    rc = (root / "etc" / "redis" / "redis.conf").read_text()
    assert "\nbind 10.40.0.11 127.0.0.1\n" in rc and "\nreplicaof 10.40.0.10 6379\n" in rc
    assert "\nrequirepass rp-0123456789abcdef\n" in rc
    assert not secrets.exists()

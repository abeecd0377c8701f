"""The cloud-init files of both roles and the scripts they run.

  * deploy/azure/cloud-init/{poolgate,dsvm}.yaml pass `cloud-init schema`
    (Debian's cloud-init), as written and as the template fills them in;
    a broken copy does not (the check is real);
  * every shell command of their runcmd, and every script of deploy/azure,
    passes shellcheck;
  * poolgate-azure-setup, the node's step once the secrets are there, in a
    temporary root: the configuration it generates from the deployment's
    settings is accepted by `poolgate -t`, carries the pool's CA line, and
    the secrets end up root-only (or poolgate's) and their drop folder gone.
"""

import base64
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AZ = REPO / "deploy" / "azure"
YAMLS = [AZ / "cloud-init" / "poolgate.yaml", AZ / "cloud-init" / "dsvm.yaml"]
SCRIPTS = ["poolgate-hook", "mount-azure-files", "poolgate-vmss-sync", "poolgate-azure-install",
           "poolgate-azure-setup", "dsvm-azure-install", "dsvm-azure-setup"]
REDIS_PASS = "rp-0123456789abcdef#%&"
SETTINGS = ("RG=rg1\nVMSS=mypool-dsvm\nORCHESTRATION=Flexible\n"
            "POOL_DNS=mypool.westeurope.cloudapp.azure.com\nNODES=1\nMIN_VMS=0\nMAX_VMS=10\n"
            "AGENT_PORT=9101\nPOOLGATE_SOURCE=https://example.org/poolgate.git\n"
            "POOLGATE_REF=main\n")


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail("%s not found (deploy/install-deps installs it)" % name, pytrace=False)
    return path


def schema(path):
    return subprocess.run([tool("cloud-init"), "schema", "--config-file", str(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_schema(path, tmp_path):
    p = schema(path)
    assert p.returncode == 0, p.stdout
    filled = tmp_path / path.name
    filled.write_text(path.read_text().replace(
        "@SETTINGS@", base64.b64encode(SETTINGS.encode()).decode()))
    p = schema(filled)
    assert p.returncode == 0, p.stdout
    doc = yaml.safe_load(filled.read_text())
    env = next(f for f in doc["write_files"] if f["path"] == "/etc/poolgate/azure-deploy.env")
    assert base64.b64decode(env["content"]).decode() == SETTINGS


def test_schema_catches_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(YAMLS[0].read_text().replace("package_update: true", "package_update: maybe"))
    p = schema(bad)
    assert p.returncode != 0 and "package_update" in p.stdout, p.stdout


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_runcmd_passes_shellcheck(path, tmp_path):
    doc = yaml.safe_load(path.read_text())
    assert doc["runcmd"], "no runcmd"
    for i, cmd in enumerate(doc["runcmd"]):
        if isinstance(cmd, str):
            script = cmd
        elif cmd[:2] == ["sh", "-c"]:
            script = cmd[2]
        elif cmd[0] == "sh":   # a script of the repository, checked below
            rel = cmd[1].replace("/usr/local/src/poolgate/", "")
            assert (REPO / rel).is_file(), "runcmd runs %s, not in the repository" % cmd[1]
            continue
        else:
            script = " ".join(cmd)
        f = tmp_path / ("runcmd-%d.sh" % i)
        f.write_text("#!/bin/sh\n" + script + "\n")
        p = subprocess.run([tool("shellcheck"), "-s", "sh", str(f)], stdout=subprocess.PIPE,
                           text=True)
        assert p.returncode == 0, "%s runcmd[%d]:\n%s" % (path.name, i, p.stdout)


def test_scripts_pass_shellcheck():
    p = subprocess.run([tool("shellcheck")] + [str(AZ / s) for s in SCRIPTS],
                       stdout=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stdout
    for s in SCRIPTS:
        assert os.access(AZ / s, os.X_OK), "%s is not executable" % s


def poolgate_binary():
    p = os.environ.get("POOLGATE") or str(REPO / "build" / "poolgate")
    if not os.access(p, os.X_OK):
        pytest.fail("poolgate not built: %s (set POOLGATE)" % p, pytrace=False)
    return p


def ha_settings(index, addrs="10.40.0.10,10.40.0.11"):
    """Node index's settings as the template gives them with two nodes."""
    return SETTINGS.replace("NODES=1", "NODES=2") + "GATE_ADDRS=%s\nNODE_INDEX=%d\n" % (addrs, index)


def setup_root(tmp_path, settings=SETTINGS, ca="", redis_pass=None):
    root = tmp_path / "root"
    (root / "etc" / "poolgate" / "secrets").mkdir(parents=True)
    (root / "usr" / "local" / "sbin").mkdir(parents=True)
    shutil.copy(poolgate_binary(), root / "usr" / "local" / "sbin" / "poolgate")
    # what poolgate-azure-install put there: the hook, the state folder
    hook = root / "usr" / "local" / "libexec" / "poolgate" / "poolgate-hook"
    hook.parent.mkdir(parents=True)
    shutil.copy(AZ / "poolgate-hook", hook)
    (root / "var" / "lib" / "poolgate").mkdir(parents=True)
    (root / "etc" / "poolgate" / "azure-deploy.env").write_text(settings)
    (root / "etc" / "poolgate" / "secrets" / "admin.token").write_text("tok-0123456789abcdef0123\n")
    (root / "etc" / "poolgate" / "secrets" / "ssh-host-ca").write_text(ca)
    if redis_pass is not None:
        (root / "etc" / "poolgate" / "secrets" / "redis.pass").write_text(redis_pass)
    return root


def run_setup(root):
    # daemon: a user every Debian has (the test does not create poolgate's)
    env = dict(os.environ, DESTDIR=str(root), NO_START="1", POOLGATE_USER="daemon")
    return subprocess.run(["sh", str(AZ / "poolgate-azure-setup")], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)


def test_node_setup_generates_a_valid_configuration(tmp_path):
    root = setup_root(tmp_path)
    p = run_setup(root)
    assert p.returncode == 0, p.stderr + p.stdout
    etc = root / "etc" / "poolgate"
    conf = (etc / "poolgate.conf").read_text()
    ca_pub = (etc / "ssh-host-ca.pub").read_text().strip()
    assert 'ssh_host_ca = "%s";\nssh_host_principal = "mypool.westeurope.cloudapp.azure.com";' % (
        ca_pub) in conf
    assert 'discovery = { file = "/var/lib/poolgate/backends";' in conf
    assert 'agent = { port = 9101; };' in conf
    assert 'command = "/usr/local/libexec/poolgate/poolgate-hook"' in conf
    assert not (etc / "poolgate.conf.check").exists()
    hook_env = (etc / "azure.env").read_text()
    assert "RG=rg1\nVMSS=mypool-dsvm\nORCHESTRATION=Flexible\nMIN_VMS=0\nMAX_VMS=10\n" in hook_env
    assert "HOST_NAMES=mypool.westeurope.cloudapp.azure.com" in (etc / "azure-sync.env").read_text()
    for f, mode in (("admin.token", 0o600), ("ssh-host-ca", 0o600), ("azure-sync.env", 0o600),
                    ("azure.env", 0o640), ("tls/key.pem", 0o640)):
        assert stat.S_IMODE((etc / f).stat().st_mode) == mode, f
    assert (etc / "admin.token").read_text() == "tok-0123456789abcdef0123\n"
    assert not (etc / "secrets").exists(), "the secrets' drop folder stays"

    # Again (the extension runs again on a model update): the same CA.
    (etc / "secrets").mkdir()
    p = run_setup(root)
    assert p.returncode == 0, p.stderr
    assert (etc / "ssh-host-ca.pub").read_text().strip() == ca_pub


def test_node_setup_ha_needs_a_given_ca(tmp_path):
    root = setup_root(tmp_path, ha_settings(0))
    p = run_setup(root)
    assert p.returncode == 1 and "sshHostCaPrivateKey" in p.stderr, p.stderr
    key = tmp_path / "ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    root2 = setup_root(tmp_path / "2", ha_settings(0), key.read_text(), REDIS_PASS + "\n")
    p = run_setup(root2)
    assert p.returncode == 0, p.stderr
    conf = (root2 / "etc" / "poolgate" / "poolgate.conf").read_text()
    assert " ".join(Path(str(key) + ".pub").read_text().split()[:2]) in conf


def test_node_setup_refuses_missing_settings(tmp_path):
    root = setup_root(tmp_path, SETTINGS.replace("POOL_DNS=mypool.westeurope.cloudapp.azure.com\n",
                                                 ""))
    p = run_setup(root)
    assert p.returncode == 1 and "POOL_DNS is not set" in p.stderr, p.stderr


def test_node_setup_one_node_has_no_redis(tmp_path):
    root = setup_root(tmp_path, SETTINGS + "GATE_ADDRS=10.40.0.10,10.40.0.11\nNODE_INDEX=0\n",
                      redis_pass="")
    p = run_setup(root)
    assert p.returncode == 0, p.stderr
    assert "cluster" not in (root / "etc" / "poolgate" / "poolgate.conf").read_text()
    assert not (root / "etc" / "poolgate" / "redis.pass").exists()
    assert not (root / "etc" / "redis").exists()
    assert not (root / "etc" / "systemd").exists()


def ha_ca(tmp_path):
    key = tmp_path / "ca"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
    return key.read_text()


def tree(root):
    """Every file under root: mode, owner and content."""
    out = {}
    for f in sorted(root.rglob("*")):
        st = f.lstat()
        out[str(f.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid,
                                         f.read_bytes() if f.is_file() else None)
    return out


def read_conf(path):
    """A Redis configuration as {directive: [lines' arguments]}."""
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition(" ")
            out.setdefault(k, []).append(v)
    return out


@pytest.mark.parametrize("index", [0, 1])
def test_node_setup_ha_shares_through_redis(tmp_path, index):
    """Two nodes: the cluster group (poolgate -t accepts it, the setup ran
    it), the password file, Redis and Sentinel on this node's address and
    loopback with the password, node 1 the replica of node 0; and a second
    run changes nothing."""
    if getent_redis() is None:
        pytest.fail("no user redis (deploy/install-deps installs redis-server)", pytrace=False)
    root = setup_root(tmp_path, ha_settings(index), ha_ca(tmp_path), REDIS_PASS + "\n")
    p = run_setup(root)
    assert p.returncode == 0, p.stderr + p.stdout
    etc = root / "etc" / "poolgate"
    me, master = ("10.40.0.10", "10.40.0.10") if index == 0 else ("10.40.0.11", "10.40.0.10")
    conf = (etc / "poolgate.conf").read_text()
    assert ('cluster = { node = "pg%d"; sentinel = [ "10.40.0.10:26379", "10.40.0.11:26379" ]; '
            'master = "poolgate";\n            password_file = "/etc/poolgate/redis.pass"; };'
            % (index + 1)) in conf, conf
    pw = etc / "redis.pass"
    st = pw.stat()
    assert pw.read_text() == REDIS_PASS + "\n"
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == pwd.getpwnam("daemon").pw_uid

    redis_uid = getent_redis()
    for name in ("redis.conf", "sentinel.conf"):
        f = root / "etc" / "redis" / name
        assert stat.S_IMODE(f.stat().st_mode) == 0o640 and f.stat().st_uid == redis_uid, name
        assert f.read_text().startswith("# poolgate-azure-setup "), name
    r = read_conf(root / "etc" / "redis" / "redis.conf")
    assert r["bind"] == ["%s 127.0.0.1" % me] and r["port"] == ["6379"]
    assert r["protected-mode"] == ["yes"]
    assert r["requirepass"] == [REDIS_PASS] and r["masterauth"] == [REDIS_PASS]
    if index == 0:
        assert "replicaof" not in r and "slaveof" not in r
    else:
        assert r["replicaof"] == ["%s 6379" % master]
    s = read_conf(root / "etc" / "redis" / "sentinel.conf")
    assert s["bind"] == ["%s 127.0.0.1" % me] and s["port"] == ["26379"]
    assert s["protected-mode"] == ["no"]     # see the setup: bind and the NSG instead
    assert "sentinel monitor poolgate %s 6379 2" % master in ["sentinel " + v for v in s["sentinel"]]
    assert "auth-pass poolgate %s" % REDIS_PASS in s["sentinel"]
    assert "announce-ip %s" % me in s["sentinel"]
    for u in ("redis-server", "redis-sentinel"):
        drop = root / "etc" / "systemd" / "system" / (u + ".service.d") / "poolgate.conf"
        assert "After=network-online.target" in drop.read_text(), u

    # Again, as the extension does on a model update: nothing changes.
    before = tree(root)
    (etc / "secrets").mkdir()
    (etc / "secrets" / "admin.token").write_text("tok-0123456789abcdef0123\n")
    (etc / "secrets" / "ssh-host-ca").write_text(ha_ca(tmp_path))
    (etc / "secrets" / "redis.pass").write_text(REDIS_PASS + "\n")
    p = run_setup(root)
    assert p.returncode == 0, p.stderr
    assert tree(root) == before

    # What Redis or Sentinel rewrote in their files stays (a failover moved
    # the master); a new password writes both files again.
    rc = root / "etc" / "redis" / "redis.conf"
    with rc.open("a") as f:
        f.write("# Generated by CONFIG REWRITE\nreplicaof 10.40.0.11 6379\n")
    rewritten = rc.read_text()
    p = run_setup(root)
    assert p.returncode == 0, p.stderr
    assert rc.read_text() == rewritten
    (etc / "secrets").mkdir()
    (etc / "secrets" / "redis.pass").write_text("another-0123456789abcdef\n")
    p = run_setup(root)
    assert p.returncode == 0, p.stderr
    assert read_conf(rc)["requirepass"] == ["another-0123456789abcdef"]
    assert "CONFIG REWRITE" not in rc.read_text()
    assert ("auth-pass poolgate another-0123456789abcdef"
            in read_conf(root / "etc" / "redis" / "sentinel.conf")["sentinel"])
    assert pw.read_text() == "another-0123456789abcdef\n"


def getent_redis():
    try:
        return pwd.getpwnam("redis").pw_uid
    except KeyError:
        return None


@pytest.mark.parametrize("settings, secret, message", [
    (ha_settings(0), None, "set the redisPassword parameter"),
    (ha_settings(0), "", "set the redisPassword parameter"),
    (ha_settings(0), "short-pass", "shorter than 16"),
    (ha_settings(0), "has a space 0123456789", "a space, a quote"),
    (ha_settings(0), "has'quote0123456789", "a space, a quote"),
    (ha_settings(0).replace("NODE_INDEX=0", "NODE_INDEX=2"), REDIS_PASS, "NODE_INDEX '2'"),
    (ha_settings(0, "10.40.0.10"), REDIS_PASS, "is not two IPv4 addresses"),
    (ha_settings(0, "10.40.0.10,10.40.0"), REDIS_PASS, "is not two IPv4 addresses"),
], ids=["no-password", "empty-password", "short", "space", "quote", "index", "one-address",
        "bad-address"])
def test_node_setup_ha_refuses(tmp_path, settings, secret, message):
    root = setup_root(tmp_path, settings, ha_ca(tmp_path), secret)
    p = run_setup(root)
    assert p.returncode == 1 and message in p.stderr, p.stderr
    assert not (root / "etc" / "poolgate" / "poolgate.conf").exists()

"""One SSH host identity for the pool: a host certificate authority.

tests/pool/pool signs every VM's host key with the pool's CA (DIR/host_ca)
and its client config checks host keys strictly against DIR/known_hosts,
one @cert-authority line. Here, with real OpenSSH clients:

  * logins through poolgate from many source addresses land on every VM
    and none meets a host-key prompt, warning or refusal;
  * the line poolgate serves on GET /ssh_known_hosts (ssh_host_ca and
    ssh_host_principal in the configuration) is all a user needs: a known_hosts holding only it and
    StrictHostKeyChecking yes reach every VM; the status page shows it;
  * without the line the same client refuses the pool (the check is real);
  * a VM whose host key the CA did not sign is refused by the client,
    directly and through poolgate; with its agent (poolgate-agent) running,
    poolgate takes it out of the pool (host identity) and back once signed.
"""

import os
import re
import shutil
import subprocess

from conftest import fresh_addr

POOL_NAME = "pool.poolgate.test"


def ca_key(pool):
    with open(os.path.join(pool.dir, "host_ca.pub")) as f:
        return f.read().strip()


def with_ca(pg, principal, extra=()):
    lines = pg.config_lines() + list(extra)
    lines.append('ssh_host_ca = "%s";' % ca_key(pg.pool))
    lines.append('ssh_host_principal = "%s";' % principal)
    pg.write_config(lines)


def ssh(argv, timeout=60):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def user_argv(pg, known_hosts, src):
    """ssh as a user configures it: the pool's key, a known_hosts of their own,
    strict checking; nothing else changed from OpenSSH's defaults."""
    return ["ssh", "-F", "/dev/null", "-i", os.path.join(pg.pool.dir, "id_ed25519"),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known_hosts,
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-p", str(pg.port), "-b", src, "pgtest@127.0.0.1", 'echo "$DSVM_NAME"']


def test_pool_client_config_is_strict(pool):
    """The pool's client config trusts exactly one CA line, strictly."""
    with open(pool.ssh_config) as f:
        conf = f.read()
    assert re.search(r"^\s*StrictHostKeyChecking yes$", conf, re.M), conf
    assert "StrictHostKeyChecking no" not in conf
    assert "UserKnownHostsFile %s\n" % os.path.join(pool.dir, "known_hosts") in conf, conf
    with open(os.path.join(pool.dir, "known_hosts")) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("@cert-authority "), lines
    assert lines[0].endswith(ca_key(pool))
    for vm, _ in pool.backends():
        cert = os.path.join(pool.dir, vm, "ssh_host_ed25519_key-cert.pub")
        out = subprocess.run(["ssh-keygen", "-L", "-f", cert], stdout=subprocess.PIPE,
                             text=True, check=True).stdout
        assert "host certificate" in out and POOL_NAME in out and "127.0.0.1" in out, out


def test_logins_from_many_addresses_reach_every_vm(pool, new_poolgate):
    pg = new_poolgate()
    pg.wait_all_up()
    seen = {}
    for _ in range(12):
        src = fresh_addr()
        p = ssh(pg.ssh_argv(src, 'echo "$DSVM_NAME"', extra=["-o", "LogLevel=INFO"]))
        assert p.returncode == 0, "login from %s refused: %s" % (src, p.stderr)
        # no prompt, no "Permanently added", no "IDENTIFICATION HAS CHANGED"
        assert p.stderr.strip() == "", "login from %s: %s" % (src, p.stderr)
        seen.setdefault(p.stdout.strip(), []).append(src)
    assert sorted(seen) == sorted(vm for vm, _ in pool.backends()), seen


def test_served_line_is_all_a_user_needs(pool, new_poolgate, tmp_path):
    # The name users dial here is 127.0.0.1 (one of the certificates'
    # principals), on poolgate's port.
    pg = new_poolgate(start=False)
    with_ca(pg, "127.0.0.1")
    pg.start()
    pg.wait_all_up()
    code, body = pg.get("/ssh_known_hosts")
    assert code == 200, body
    assert body == "@cert-authority 127.0.0.1,[127.0.0.1]:* %s\n" % ca_key(pool)
    code, page = pg.get("/")
    assert code == 200
    assert '<pre id="known_hosts">@cert-authority ' in page and ca_key(pool).split()[1] in page

    kh = tmp_path / "known_hosts"
    kh.write_text(body)
    seen = set()
    for _ in range(12):
        src = fresh_addr()
        p = ssh(user_argv(pg, str(kh), src))
        assert p.returncode == 0, "login from %s with the served line: %s" % (src, p.stderr)
        seen.add(p.stdout.strip())
    assert seen == {vm for vm, _ in pool.backends()}, seen
    assert kh.read_text() == body, "ssh changed the user's known_hosts"

    # The same client without the line: the check is real.
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    p = ssh(user_argv(pg, str(empty), fresh_addr()))
    assert p.returncode == 255 and "Host key verification failed" in p.stderr, p.stderr


def test_no_ssh_host_ca_is_404(new_poolgate):
    pg = new_poolgate()
    code, body = pg.get("/ssh_known_hosts")
    assert code == 404 and "ssh_host_ca" in body, (code, body)
    code, page = pg.get("/")
    assert code == 200 and "@cert-authority" not in page


def test_bad_principal_file_and_line(pool, new_poolgate):
    pg = new_poolgate(start=False)
    with_ca(pg, "pool name with spaces")
    p = subprocess.run([pg.binary, "-t", "-c", str(pg.conf)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    n = len(pg.config_lines()) + 2
    assert p.returncode != 0
    assert "%s:%d: ssh_host_principal: not a host name" % (pg.conf, n) in p.stdout, p.stdout


def test_unsigned_vm_is_refused(pool, new_poolgate):
    """vm3 restarted without its certificate: the client refuses it, directly
    and through poolgate; signed again, it is accepted again."""
    vm = "vm3"
    addr = pool.address(vm)
    hk = os.path.join(pool.dir, vm, "ssh_host_ed25519_key")
    cert = hk + "-cert.pub"
    saved = cert + ".saved"
    direct = ["ssh", "-F", pool.ssh_config, "pgtest@" + addr, "hostname"]
    pg = new_poolgate(backends=[(vm, addr)])
    pg.wait_all_up()
    assert ssh(direct).returncode == 0
    pool.run("stop-sshd", vm)
    shutil.move(cert, saved)
    try:
        pool.run("start-sshd", vm)
        p = ssh(direct)
        assert p.returncode == 255 and "Host key verification failed" in p.stderr, p.stderr
        pg.wait_all_up()
        p = ssh(pg.ssh_argv(fresh_addr(), "hostname"))
        assert p.returncode == 255 and "Host key verification failed" in p.stderr, p.stderr
    finally:
        pool.run("stop-sshd", vm)
        shutil.move(saved, cert)
        pool.run("start-sshd", vm)
    pg.wait_all_up()
    assert pg.login(fresh_addr()) == vm


def test_agent_reports_unsigned_vm(pool, new_poolgate, vm_agent):
    """The VM's agent reports its host keys; poolgate, knowing the pool's CA
    and name, takes a VM whose key has no certificate of the CA out of the
    pool (users' ssh would refuse it) and back once it has one again."""
    from vm_agent import PORT

    vm = "vm3"
    vdir = os.path.join(pool.dir, vm)
    cert = os.path.join(vdir, "ssh_host_ed25519_key-cert.pub")
    saved = cert + ".saved"
    keygen = shutil.which("ssh-keygen")
    agent = vm_agent(vm, extra=['ssh = { dir = "%s"; keygen = "%s"; host_ca = "%s";'
                                ' principal = "127.0.0.1"; refresh = "10s"; };'
                                % (vdir, keygen, os.path.join(pool.dir, "host_ca.pub"))])

    def certificate(rep):
        keys = [k for k in (rep.get("ssh") or {}).get("keys") or []
                if k["file"].endswith("ssh_host_ed25519_key.pub")]
        return keys[0]["certificate"] if keys else "no key"

    # the agent reads vm3's key and its certificate, signed by the pool's CA
    agent.wait_report(lambda r: isinstance(certificate(r), dict) and
                      certificate(r).get("signed_by_pool_ca") is True,
                      "the agent's report of vm3's certified host key", timeout=20)
    pg = new_poolgate(start=False)
    with_ca(pg, "127.0.0.1",
            ['agent = { port = %d; interval = "1s"; timeout = "900ms"; };' % PORT])
    pg.start()

    def identity(st):
        rep = pg.backend(st, vm).get("report") or {}
        return rep.get("host_identity") or {}

    pg.wait_status(lambda st: identity(st).get("ok") is True and
                   pg.backend(st, vm)["state"] == "up",
                   "vm3's agent report with a good host identity", timeout=30)
    shutil.move(cert, saved)
    try:
        agent.wait_report(lambda r: certificate(r) is None,
                          "the agent's report of vm3's key without certificate", timeout=20)
        st = pg.wait_status(lambda st: identity(st).get("ok") is False,
                            "vm3 reported without its certificate", timeout=40)
        assert not pg.backend(st, vm)["takes_new"], pg.backend(st, vm)
        assert "host identity" in pg.log_text()
        for _ in range(4):
            assert pg.login(fresh_addr()) != vm, "a login went to the unsigned VM"
    finally:
        shutil.move(saved, cert)
    pg.wait_status(lambda st: identity(st).get("ok") is True and
                   pg.backend(st, vm)["takes_new"], "vm3 back", timeout=40)

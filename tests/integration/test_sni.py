"""SSH routed by user name through a tcp service that terminates TLS and
reads the user from the server name (user_from = "sni"), with OpenSSH's
ssh and scp wrapped by the documented ProxyCommand:

    ProxyCommand openssl s_client -quiet -verify_return_error
        -servername %r.ssh.pool.poolgate.test -connect HOST:PORT

(here also -CAfile: the test's own CA stands in for a public one; pool.poolgate.test
is the test pool's name, the principal of its VMs' host certificates). The SSH
stream stays end to end between the client and the VM's sshd. The pool
has two SSH users, pgtest and pgtest2 (tests/pool/pool).
"""

import os
import re
import subprocess

import pytest

from conftest import Poolgate, make_config, poolgate_factory, sha256_file
from test_rdp import WithRdpService, display, rdp_login, xrdp  # noqa: F401 (fixtures)

SUFFIX = ".ssh.pool.poolgate.test"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    """A CA and a certificate for *.ssh.pool.poolgate.test signed by it."""
    d = tmp_path_factory.mktemp("sni-ca")

    def run(*argv):
        p = subprocess.run(argv, cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        assert p.returncode == 0, "%s: %s" % (" ".join(argv), p.stdout)

    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "key.pem", "-out", "req.csr", "-subj", "/CN=pool.poolgate.test")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:pool.poolgate.test,DNS:*%s\n" % SUFFIX)
    run("openssl", "x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf")
    return d


class SniPoolgate(Poolgate):
    """poolgate with one tcp service that terminates TLS, user_from sni."""

    def config_lines(self, backends=None):
        cfg = {k: v for k, v in self.cfg.items() if k != "ca_dir"}
        lines = make_config(listen_port=self.port, admin_port=self.admin_port,
                            state_dir=str(self.state_dir),
                            backends=self.backends if backends is None else backends, **cfg)
        i = next(n for n, l in enumerate(lines) if 'mode = "tcp";' in l)
        ca = self.cfg["ca_dir"]
        lines.insert(i + 1, '    tls = { cert = "%s/cert.pem"; key = "%s/key.pem"; };'
                     ' user_from = "sni"; sni_suffix = "%s";' % (ca, ca, SUFFIX))
        return lines

    def proxy_command(self, sni=True):
        return ("openssl s_client -quiet -verify_return_error -CAfile %s/ca.pem %s "
                "-connect 127.0.0.1:%d" % (
                    self.cfg["ca_dir"],
                    "-servername %%r%s" % SUFFIX if sni else "-noservername", self.port))

    def sni_login(self, user, sni=True):
        argv = ["ssh", "-F", self.pool.ssh_config, "-o",
                "ProxyCommand=" + self.proxy_command(sni), "%s@pool.poolgate.test" % user,
                'echo "$DSVM_NAME"']
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        assert p.returncode == 0, "ssh as %s through TLS failed (exit %d): %s\nlog:\n%s" % (
            user, p.returncode, p.stderr.strip(), self.log_tail(30))
        name = p.stdout.strip()
        assert re.fullmatch(r"vm[0-9]+", name), "unexpected login output %r" % p.stdout
        return name


@pytest.fixture
def sni_poolgate(pool, tmp_path, ca):
    gen = poolgate_factory(SniPoolgate, pool, tmp_path, "sni")
    make = next(gen)
    yield lambda **cfg: make(ca_dir=str(ca), **cfg)
    for _ in gen:  # its teardown: stop them, fail if one died
        pass


def test_two_users_one_address_each_on_own_vm(sni_poolgate):
    pg = sni_poolgate()
    pg.wait_all_up()
    a = pg.sni_login("pgtest")
    b = pg.sni_login("pgtest2")
    assert a != b, "pgtest and pgtest2 from one address both landed on %s" % a
    for _ in range(2):
        assert pg.sni_login("pgtest") == a
        assert pg.sni_login("pgtest2") == b
    log = pg.log_text()
    assert re.search(r"session_end[^\n]*mode=tcp\+tls user=pgtest2 vm=%s" % b, log), log


def test_scp_100mib_through_tls(sni_poolgate, tmp_path):
    pg = sni_poolgate()
    pg.wait_all_up()
    src = tmp_path / "blob"
    with open(src, "wb") as f:
        f.write(os.urandom(100 << 20))
    want = sha256_file(src)
    opts = ["-F", pg.pool.ssh_config, "-o", "ProxyCommand=" + pg.proxy_command()]
    p = subprocess.run(["scp", "-q"] + opts + [str(src), "pgtest@pool.poolgate.test:sni-blob"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    assert p.returncode == 0, "scp through TLS failed: %s" % p.stderr
    p = subprocess.run(["ssh"] + opts + ["pgtest@pool.poolgate.test",
                                         "sha256sum sni-blob && rm -f sni-blob"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0] == want


def test_no_sni_falls_back_to_address(sni_poolgate):
    pg = sni_poolgate()
    pg.wait_all_up()
    first = pg.sni_login("pgtest2", sni=False)
    # By address: the other user, without a server name, follows it.
    assert pg.sni_login("pgtest", sni=False) == first
    assert re.search(r"session_end[^\n]*mode=tcp\+tls user=- vm=%s" % first, pg.log_text())


def test_invalid_name_gets_unrecognized_name_alert(sni_poolgate):
    pg = sni_poolgate()
    pg.wait_all_up()
    p = subprocess.run(["openssl", "s_client", "-verify_return_error", "-CAfile",
                        "%s/ca.pem" % pg.cfg["ca_dir"], "-servername", "9bad" + SUFFIX,
                        "-connect", "127.0.0.1:%d" % pg.port],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    assert p.returncode != 0
    assert "unrecognized name" in p.stdout or "alert number 112" in p.stdout, p.stdout
    st = pg.wait_status(lambda st: st["services"][0]["errors"]["bad_server_name"] == 1,
                        "one bad server name counted")
    assert sum(b.get("sessions", 0) for b in st["backends"]) == 0


class SniRdpPoolgate(WithRdpService, SniPoolgate):
    """The SSH-in-TLS service and an rdp service in one poolgate."""


def test_rdp_follows_the_users_ssh(pool, xrdp, display, tmp_path, ca):
    """One affinity per person: RDP as pgtest lands where pgtest's SSH went,
    though both come from one address."""
    gen = poolgate_factory(SniRdpPoolgate, pool, tmp_path, "sni-rdp")
    make = next(gen)
    try:
        pg = make(ca_dir=str(ca))
        pg.wait_all_up()
        a = pg.sni_login("pgtest2")
        b = pg.sni_login("pgtest")
        assert a != b
        assert rdp_login(pg, pg.rdp_port, display, "pgtest") == b
        assert rdp_login(pg, pg.rdp_port, display, "pgtest2") == a
        assert pg.sni_login("pgtest") == b
    finally:
        for _ in gen:
            pass

def test_status_and_metrics_show_the_announced_user(sni_poolgate):
    """A held SSH-in-TLS session is listed under its VM in /status with the
    user it announced and its mode, on the status page, and counted in
    poolgate_sessions_live{mode="tls-ssh"}."""
    pg = sni_poolgate()
    pg.wait_all_up()
    argv = ["ssh", "-F", pg.pool.ssh_config, "-o", "ProxyCommand=" + pg.proxy_command(),
            "pgtest2@pool.poolgate.test", 'echo "$DSVM_NAME"; exec sleep 60']
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        vm = p.stdout.readline().strip()
        assert re.fullmatch(r"vm[0-9]+", vm), "no VM name from the held session: %r" % vm

        def listed(st):
            b = pg.backend(st, vm)
            live = b.get("live") or {}
            return live.get("tls-ssh") == 1 and any(
                a["user"] == "pgtest2" and a["mode"] == "tls-ssh"
                for a in live.get("announced", []))
        pg.wait_status(listed, "pgtest2's tls-ssh session under %s in /status" % vm)
        code, metrics = pg.get("/metrics")
        assert code == 200, code
        assert 'poolgate_sessions_live{mode="tls-ssh"} 1' in metrics, metrics[-2000:]
        code, page = pg.get("/")
        assert code == 200 and "tls-ssh pgtest2" in page, (
            "the status page does not show pgtest2's session")
    finally:
        p.kill()
        p.wait()

"""TLS policy, with a real poolgate and TLS peers made here (no pool):

  * services[].verify_name: with backend_tls = "verify", the VM's
    certificate must carry the DNS name made from verify_name (and it is
    sent as SNI): a VM whose certificate names vm1.pool.test passes with
    "{backend}.pool.test", fails with another name, and fails without
    verify_name (its certificate names no IP address);
  * services[].tls.ciphers: a TLS 1.2 client offering only a suite outside
    the list is refused, one inside it served; without the setting the
    system's OpenSSL policy decides, which allows that same suite.
"""

import http.server
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import free_port, make_http_config, poolgate_binary


def openssl(*args, cwd=None):
    p = subprocess.run(["openssl"] + [str(a) for a in args], cwd=cwd, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "openssl %s: %s" % (" ".join(map(str, args)), p.stderr)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, and a VM certificate for DNS:vm1.pool.test only (EC P-256)."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
            "-subj", "/CN=pool test CA", cwd=d)
    openssl("req", *ec, "-keyout", "vm1.key", "-out", "vm1.csr", "-subj", "/CN=vm1.pool.test",
            cwd=d)
    (d / "ext").write_text("subjectAltName=DNS:vm1.pool.test\n")
    openssl("x509", "-req", "-in", "vm1.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "30", "-extfile", "ext", "-out", "vm1.crt", cwd=d)
    return d


class HttpsVM:
    """An HTTPS server on loopback answering 200 to everything; records
    the server name (SNI) each client asked for."""

    def __init__(self, pki):
        class Ok(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, *a):
                pass

        self.sni = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki / "vm1.crt", pki / "vm1.key")
        ctx.sni_callback = lambda s, name, c: self.sni.append(name)
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


class Pg:
    def __init__(self, tmp_path, **http_cfg):
        self.tmp = tmp_path
        self.http_port = free_port()
        self.admin_port = free_port()
        lines = make_http_config(http_port=self.http_port, listen_port=free_port(),
                                 admin_port=self.admin_port, state_dir=str(tmp_path / "state"),
                                 backends=[("vm1", "127.0.0.1")], **http_cfg)
        # the ssh service of make_config has no VM here: drop it, keep jupyter
        start = lines.index("services = (")
        end = next(i for i in range(start, len(lines)) if lines[i] == "  },")
        del lines[start + 1:end + 1]
        self.conf = tmp_path / "poolgate.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = open(tmp_path / "poolgate.log", "ab")
        self.proc = subprocess.Popen([poolgate_binary(), "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.admin_port), timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None, (tmp_path / "poolgate.log").read_text()
                assert time.monotonic() < deadline, "poolgate did not come up"
                time.sleep(0.05)

    def health(self):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open("http://127.0.0.1:%d/status" % self.admin_port, timeout=5) as r:
            st = json.load(r)
        return st["backends"][0]["health"]["jupyter"]

    def wait_health(self, up, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            h = self.health()
            if h["up"] == up and h["checks"] > 0:
                return h
            assert time.monotonic() < deadline, "vm1 health stays %r" % h
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)
        self.log.close()


@pytest.fixture
def vm(pki):
    v = HttpsVM(pki)
    yield v
    v.close()


@pytest.fixture
def start(tmp_path):
    made = []

    def f(**kw):
        d = tmp_path / ("pg%d" % len(made))
        d.mkdir()
        pg = Pg(d, **kw)
        made.append(pg)
        return pg

    yield f
    for pg in made:
        pg.stop()


def get(port, ctx=None, path="/"):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if ctx is not None:
        s = ctx.wrap_socket(s, server_hostname="pool.test")
    with s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: pool.test\r\n"
                  b"Connection: close\r\n\r\n")
        return s.recv(64)


def test_verify_name_checks_the_dns_name(start, vm, pki):
    cfg = dict(http_backend_port=vm.port, backend_tls="verify", backend_ca=str(pki / "ca.crt"),
               http_interval_ms=300, http_timeout_ms=250)
    pg = start(**cfg, verify_name="{backend}.pool.test")
    pg.wait_health(True)
    assert get(pg.http_port).startswith(b"HTTP/1.0 200 "), "the request through poolgate"
    assert "vm1.pool.test" in vm.sni, vm.sni
    pg.stop()

    pg = start(**cfg, verify_name="{backend}.other.test")
    h = pg.wait_health(False)
    assert h["last_error"] == "certificate verify failed: hostname mismatch", h
    pg.stop()

    # without verify_name the certificate must name 127.0.0.1: it does not
    pg = start(**cfg)
    h = pg.wait_health(False)
    assert h["last_error"] == "certificate verify failed: IP address mismatch", h


def client_tls12(cipher):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    return ctx


def test_ciphers_setting_and_the_system_policy(start, vm, pki):
    tls = {"cert": str(pki / "vm1.crt"), "key": str(pki / "vm1.key")}
    cfg = dict(http_backend_port=vm.port, backend_tls="insecure", http_interval_ms=300,
               http_timeout_ms=250)
    pg = start(**cfg, tls=dict(tls, ciphers="ECDHE-ECDSA-AES256-GCM-SHA384"))
    pg.wait_health(True)
    assert get(pg.http_port, client_tls12("ECDHE-ECDSA-AES256-GCM-SHA384")).startswith(
        b"HTTP/1.0 200 ")
    with pytest.raises(ssl.SSLError):
        get(pg.http_port, client_tls12("ECDHE-ECDSA-AES128-GCM-SHA256"))
    pg.stop()

    # no ciphers: the system's policy, which allows AES128-GCM
    pg = start(**cfg, tls=tls)
    pg.wait_health(True)
    assert get(pg.http_port, client_tls12("ECDHE-ECDSA-AES128-GCM-SHA256")).startswith(
        b"HTTP/1.0 200 ")


def test_unknown_ciphers_fail_the_check(tmp_path, pki):
    lines = make_http_config(http_port=8443, listen_port=2222, admin_port=9100,
                             state_dir=str(tmp_path / "state"), backends=[("vm1", "10.0.0.1")],
                             tls={"cert": str(pki / "vm1.crt"), "key": str(pki / "vm1.key"),
                                  "ciphers": "NO-SUCH-CIPHER"})
    conf = tmp_path / "c.conf"
    conf.write_text("\n".join(lines) + "\n")
    p = subprocess.run([poolgate_binary(), "-t", "-c", str(conf)], capture_output=True,
                       text=True, timeout=30)
    line = next(i for i, l in enumerate(lines) if "tls = {" in l) + 1
    assert p.returncode == 1, p
    assert ('%s:%d: services[1].tls: ciphers "NO-SUCH-CIPHER": no cipher of it is known '
            'to OpenSSL (see openssl-ciphers(1))' % (conf, line)) in p.stderr, p.stderr

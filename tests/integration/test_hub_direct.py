"""The JupyterHub harness on its own, without poolgate: real JupyterHub servers
in the pool's VMs (tests/pool/hub.py) driven by the real client
(jupyter_client.py). If these fail, a poolgate test that uses Jupyter cannot
tell poolgate's faults from the harness's.

Namespaces: the module holds conftest's machine-wide pool lock
(/run/lock/poolgate-pool.lock) while it uses them, so it never runs beside
another run's pool. If pg-vm1 and pg-vm2 exist (this run's pool is up, or one
left by POOLGATE_KEEP_POOL=1), they are used as they are and left alone; if
no pg-vm* exists, `tests/pool/pool up 2 --dir /tmp/poolgate-hubtest` makes
them and `pool down` removes them afterwards.
Hubs live in $POOLGATE_HUB_TEST_DIR (default /tmp/poolgate-hubtest-hubs) and
are stopped after the module; their logs stay there.

Needs root and Debian's jupyterhub, python3-notebook, node-configurable-http-proxy,
python3-websocket, python3-requests, openssl: anything missing fails with the
apt-get line, never skips.
"""

import contextlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "pool"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import hub as hubmod  # noqa: E402  tests/pool/hub.py
from jupyter_client import JupyterClient, JupyterError, login  # noqa: E402
from conftest import pool_lock  # noqa: E402  the lock conftest's pool fixture holds

POOL = REPO / "tests" / "pool" / "pool"
POOL_DIR = "/tmp/poolgate-hubtest"
HUB_DIR = os.environ.get("POOLGATE_HUB_TEST_DIR", "/tmp/poolgate-hubtest-hubs")
# From the root namespace the VMs are reached through the bridge, whose address
# is the natural source; binding to it exercises source_address on real hubs.
BRIDGE_ADDR = hubmod.subnet() + ".1"


def _pool_vms():
    p = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True)
    return {line.split()[0] for line in p.stdout.splitlines()
            if line.split() and line.split()[0].startswith("pg-vm")}


def _pool_is_ours():
    """Does pg-vm1's sshd run from our pool folder?"""
    p = subprocess.run(["ip", "netns", "pids", "pg-vm1"], stdout=subprocess.PIPE, text=True)
    want = os.path.join(POOL_DIR, "vm1", "sshd_config").encode()
    for pid in p.stdout.split():
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if want in f.read():
                    return True
        except OSError:
            pass
    return False


@contextlib.contextmanager
def logs_on_failure(*hubs):
    """Re-raises an assertion with the tail of each hub's log appended."""
    try:
        yield
    except (AssertionError, JupyterError, hubmod.HubError) as e:
        tails = "\n".join("---- %s hub log (%s):\n%s" % (h.vm, h.log_path, h.log_tail(60))
                          for h in hubs)
        raise AssertionError("%s\n%s" % (e, tails)) from e


@pytest.fixture(scope="module")
def vms():
    """pg-vm1 and pg-vm2, made here only if no pool is running. Holds the
    machine-wide pool lock (conftest.pool_lock) meanwhile: another test run's
    `pool up`/`pool down` would otherwise pull the namespaces from under the
    hubs, or our hubs would take port 8000 in its VMs."""
    if os.geteuid() != 0:
        pytest.fail("must run as root (network namespaces, PAM users)", pytrace=False)
    try:
        hubmod.check_installed()
    except hubmod.HubError as e:
        pytest.fail(str(e), pytrace=False)
    with pool_lock():
        yield from _vms_locked()


def _vms_locked():
    have = _pool_vms()
    made = False
    if {"pg-vm1", "pg-vm2"} <= have:
        pass  # someone's pool: use it, leave it
    elif not have:
        p = subprocess.run([str(POOL), "up", "2", "--dir", POOL_DIR], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=180)
        if p.returncode != 0:
            pytest.fail("pool up 2 failed (exit %d):\n%s" % (p.returncode, p.stdout),
                        pytrace=False)
        made = True
    else:
        pytest.fail("a pool is partly up (%s) without pg-vm1 and pg-vm2; not touching it"
                    % sorted(have), pytrace=False)
    yield ["vm1", "vm2"]
    # `pool down` removes every pg-vm*; only do it if the pool is still ours
    # (someone's `pool up` may have replaced it meanwhile).
    if made and _pool_is_ours():
        subprocess.run([str(POOL), "down", "--dir", POOL_DIR], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)


@pytest.fixture(scope="module")
def hubs(vms):
    """A plain-HTTP hub in vm1 and one in vm2: {name: Hub}."""
    started = {}
    try:
        for vm in vms:
            started[vm] = hubmod.Hub(vm, d=HUB_DIR).start()
    except hubmod.HubError as e:
        for h in started.values():
            h.stop(quiet=True)
        pytest.fail(str(e), pytrace=False)
    yield started
    for h in started.values():
        h.stop(quiet=True)
        assert hubmod.hub_pids(h.vm, HUB_DIR) == [], "processes of %s's hub left" % h.vm


def test_hubs_answer_health_and_name_their_vm(hubs):
    import requests
    for vm, h in hubs.items():
        assert h.started_in is not None and h.started_in < 60
        r = requests.get(h.url + "/hub/health", timeout=10)
        assert r.status_code == 200, "%s /hub/health: %d" % (vm, r.status_code)
        assert r.headers.get("X-DSVM") == vm, "%s /hub/health X-DSVM=%r" % (
            vm, r.headers.get("X-DSVM"))
        r = requests.get(h.url + "/hub/login", timeout=10)
        assert r.status_code == 200 and r.headers.get("X-DSVM") == vm


def test_two_users_on_two_vms(hubs):
    h1, h2 = hubs["vm1"], hubs["vm2"]
    with logs_on_failure(h1, h2):
        alice = login(h1.url, "alice", hubmod.password("alice"), source_address=BRIDGE_ADDR)
        bob = login(h2.url, "bob", hubmod.password("bob"), source_address=BRIDGE_ADDR)
        # Both spawns run at the same time, as two people would start them.
        alice.start_spawn()
        bob.start_spawn()
        t0 = time.monotonic()
        for c in (alice, bob):
            c.wait_server(timeout=180)
        spawned = time.monotonic() - t0
        for c, vm in ((alice, "vm1"), (bob, "vm2")):
            r = c.tree()
            assert r.status_code == 200, "%s's tree: %d %s" % (c.user, r.status_code, r.url)
            assert r.url.endswith("/user/%s/tree" % c.user), r.url
            assert r.headers.get("X-DSVM") == vm
            assert c.which_vm() == vm
            assert c.server_status()["started"]
            assert c.run_code("print(6*7)") == "42\n"
            assert c.run_code("import os; print(os.environ['DSVM_NAME'])") == vm + "\n"
            assert c.list_kernels() == [], "run_code left a kernel running"
        print("spawn of two users at once: %.1fs; kernel exec: %.2fs" % (
            spawned, alice.timings["execute"]))


def test_session_exists_only_on_its_vm(hubs):
    """The premise of affinity: alice's cookies from vm1, sent to vm2 (as a
    balancer without affinity would), do not reach her server there."""
    h1, h2 = hubs["vm1"], hubs["vm2"]
    with logs_on_failure(h1, h2):
        alice = login(h1.url, "alice", hubmod.password("alice"))
        alice.spawn()
        assert alice.tree().status_code == 200
        stray = JupyterClient(h2.url)
        stray.user = "alice"
        for c in alice.session.cookies:
            stray.session.cookies.set(c.name, c.value, path=c.path)
        r = stray.get("/user/alice/api/status", allow_redirects=False)
        assert r.status_code != 200, "vm2 accepted alice's vm1 session: %d" % r.status_code
        r = stray.get("/hub/home")
        assert "/hub/login" in r.url, "vm2's hub took vm1's login cookie (ended at %s)" % r.url


def test_kernel_errors_are_reported(hubs):
    h1 = hubs["vm1"]
    with logs_on_failure(h1):
        c = login(h1.url, "carol", hubmod.password("carol"))
        c.spawn()
        out = c.execute("print('before'); 1/0")
        assert out["stdout"] == "before\n"
        assert out["status"] == "error" and out["error"].startswith("ZeroDivisionError")
        with pytest.raises(JupyterError):
            c.run_code("raise SystemExit(3)")


def test_wrong_password_is_refused(hubs):
    h1 = hubs["vm1"]
    c = JupyterClient(h1.url)
    with pytest.raises(JupyterError):
        c.login("dave", "not-" + hubmod.password("dave"))
    assert c.cookie("jupyterhub-hub-login") is None


def test_tls_hub_with_verify_false(hubs):
    """vm2's hub restarted with a self-signed certificate (HTTPS on 8000)."""
    h2 = hubs["vm2"]
    h2.stop(quiet=True)
    tls = hubmod.Hub("vm2", tls=True, d=HUB_DIR)
    hubs["vm2"] = tls  # the fixture stops it
    try:
        tls.start()
    except hubmod.HubError as e:
        pytest.fail(str(e), pytrace=False)
    assert tls.url.startswith("https://")
    with logs_on_failure(tls):
        c = login(tls.url, "bob", hubmod.password("bob"), verify=False,
                  source_address=BRIDGE_ADDR)
        c.spawn()
        r = c.tree()
        assert r.status_code == 200 and r.url.startswith("https://")
        assert c.which_vm() == "vm2"
        assert c.run_code("print(6*7)") == "42\n"  # wss:// websocket
        # The certificate as CA file verifies too (its SAN is the VM's address) ...
        c2 = login(tls.url, "dave", hubmod.password("dave"), verify=tls.cert)
        c2.spawn()
        assert c2.run_code("print(6*7)") == "42\n"
        # ... and default verification refuses the self-signed certificate.
        with pytest.raises(JupyterError, match="CERTIFICATE_VERIFY_FAILED|certificate verify"):
            JupyterClient(tls.url).login("bob", hubmod.password("bob"))


# ------------------------------------------------------------ source_address

class _Recorder(http.server.BaseHTTPRequestHandler):
    peers = []

    def do_GET(self):
        self.peers.append(self.client_address[0])
        body = b"<form><input name=\"_xsrf\" value=\"tok\"></form>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_source_address_binds_http_and_websocket():
    """On loopback: HTTP requests and the websocket come from source_address."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    raw = socket.socket()
    raw.bind(("127.0.0.1", 0))
    raw.listen(1)
    try:
        base = "http://127.0.0.1:%d" % srv.server_address[1]
        c = JupyterClient(base, source_address="127.0.0.21", timeout=5)
        assert c.get("/hub/login").status_code == 200
        assert _Recorder.peers == ["127.0.0.21"]
        assert JupyterClient._form_xsrf(c.get("/hub/login").text) == "tok"
        # websocket: a listener that records the peer and hangs up
        c.base_url = "http://127.0.0.1:%d" % raw.getsockname()[1]
        got = []

        def accept():
            s, peer = raw.accept()
            got.append(peer[0])
            s.recv(4096)
            s.close()
        t = threading.Thread(target=accept, daemon=True)
        t.start()
        with pytest.raises(Exception):
            c.open_websocket("/user/x/api/kernels/y/channels", timeout=5)
        t.join(5)
        assert got == ["127.0.0.21"]
    finally:
        srv.shutdown()
        srv.server_close()
        raw.close()

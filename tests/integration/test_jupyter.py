"""poolgate's http mode in front of real JupyterHub servers.

Three VMs of the test pool (network namespaces pg-vm1..3, tests/pool/pool)
each run their own JupyterHub on port 8000 (tests/pool/hub.py); the hubs start
once for the module and every test reuses them. A poolgate with an "ssh" (tcp)
and a "jupyter" (http) service stands in front; jupyter_client.py does what a
browser and a notebook page do. Which VM answered is in the X-DSVM response
header (hub and single-user servers alike) and in DSVM_NAME inside kernels.

alice logs in from 127.0.0.31 (and later 127.0.0.33), bob from 127.0.0.32;
every other client comes from a fresh loopback address (conftest.fresh_addr),
so no client-address affinity can explain where a request went.

Tests 1-5 share the module's poolgate (and its state_dir; test 4 kills and
restarts it). What a backend receives (is poolgate's cookie stripped?) and
per-request routing on one keep-alive connection are checked against tiny
echo servers in vm1/vm2 instead of a hub: they answer with their VM's name
and the Cookie headers they got. The last tests restart vm3's hub with a
self-signed certificate (backend_tls = "insecure"), with clients on plain
HTTP and on HTTPS to poolgate. Run pytest from any folder but
tests/integration: there, tests/integration/jupyter_client.py shadows the
real jupyter_client package in hub.py's `python3 -c` import check.

Needs root, the pool's tools, and Debian's jupyterhub, python3-notebook,
node-configurable-http-proxy, python3-websocket, python3-requests, openssl
(deploy/install-deps). Anything missing fails with the apt-get line.

Environment, besides conftest's: POOLGATE_ITEST_HUB_DIR (default
/tmp/poolgate-itest-hubs) holds the hubs' folders and logs; they stay there.
"""

import copy
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "pool"))
sys.path.insert(0, str(HERE))

import hub as hubmod  # noqa: E402  tests/pool/hub.py
from jupyter_client import JupyterClient  # noqa: E402
from conftest import (REPORT_EXTRAS, HttpPoolgate, _CURRENT, _INSTANCES,  # noqa: E402
                      fresh_addr, poolgate_binary)

HUB_DIR = os.environ.get("POOLGATE_ITEST_HUB_DIR", "/tmp/poolgate-itest-hubs")
HUB_VMS = ("vm1", "vm2", "vm3")
ALICE_ADDR = "127.0.0.31"
BOB_ADDR = "127.0.0.32"
ALICE_ADDR2 = "127.0.0.33"
COOKIE = "poolgate_vm"
ECHO_PORT = 18000


def pw(user):
    return hubmod.password(user)


def final_path(r):
    return urlsplit(r.url).path.rstrip("/")


def brief(r, n=200):
    chain = " -> ".join("%d %s [%s]" % (h.status_code, urlsplit(h.url).path,
                                         h.headers.get("X-DSVM", "-"))
                        for h in list(r.history) + [r])
    return "%s; body: %s" % (chain, " ".join(r.text.split())[:n])


def parse_set_cookie(header):
    """'n=v; Path=/; HttpOnly' -> (n, v, {'path': '/', 'httponly': ''})."""
    parts = [p.strip() for p in header.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if p:
            k, _, v = p.partition("=")
            attrs[k.strip().lower()] = v.strip()
    return name.strip(), value.strip(), attrs


def our_set_cookies(headers):
    """[(value, attrs)] of every Set-Cookie for poolgate's cookie."""
    out = []
    for h in headers:
        n, v, a = parse_set_cookie(h)
        if n == COOKIE:
            out.append((v, a))
    return out


def response_set_cookies(r):
    """Every Set-Cookie header of a requests response (not merged)."""
    return list(r.raw.headers.getlist("Set-Cookie"))


def tamper(value, i):
    """value with the character at i replaced by another of the same kind
    (stays within hex and base64url alphabets; never only a case change, which
    a case-insensitive hex decoder would read as the same bytes)."""
    for j in list(range(i, len(value))) + list(range(i - 1, -1, -1)):
        c = value[j]
        if c.isdigit():
            r = str((int(c) + 5) % 10)
        elif c in "abcdef":
            r = "abcdef"[("abcdef".index(c) + 3) % 6]
        elif c in "ABCDEF":
            r = "ABCDEF"[("ABCDEF".index(c) + 3) % 6]
        elif c.isascii() and c.islower():
            r = "y" if c == "z" else chr(ord(c) + 1)
        elif c.isascii() and c.isupper():
            r = "Y" if c == "Z" else chr(ord(c) + 1)
        else:
            continue
        return value[:j] + r + value[j + 1:]
    raise AssertionError("cannot tamper with cookie value %r" % value)


def hub_logs(hubs, lines=40):
    def tail(h):
        # without ipykernel's "frozen modules" debugger warnings (4 lines a kernel)
        t = [l for l in h.log_tail(lines * 3).splitlines() if not l.startswith("0.00s - ")]
        return "\n".join(t[-lines:])
    return "\n".join("---- %s hub log (%s):\n%s" % (h.vm, h.log_path, tail(h))
                     for h in hubs.values())


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def hubs(pool):
    """Plain-HTTP JupyterHub in vm1, vm2 and vm3: {name: Hub}. A test may
    replace one (test_backend_tls_insecure); whatever is here is stopped."""
    if os.geteuid() != 0:
        pytest.fail("must run as root (network namespaces, PAM users)", pytrace=False)
    try:
        hubmod.check_installed()
    except hubmod.HubError as e:
        pytest.fail(str(e), pytrace=False)
    have = [n for n, _ in pool.backends()]
    if not set(HUB_VMS) <= set(have):
        pytest.fail("the pool has %s; these tests need %s" % (have, list(HUB_VMS)),
                    pytrace=False)
    started = {}
    extra = ("JupyterHub logs (%s)" % HUB_DIR, lambda: hub_logs(started))
    REPORT_EXTRAS.append(extra)
    try:
        for vm in HUB_VMS:
            started[vm] = hubmod.Hub(vm, d=HUB_DIR).start()
    except hubmod.HubError as e:
        for h in started.values():
            h.stop(quiet=True)
        REPORT_EXTRAS.remove(extra)
        pytest.fail(str(e), pytrace=False)
    yield started
    REPORT_EXTRAS.remove(extra)
    for h in started.values():
        h.stop(quiet=True)


@pytest.fixture(scope="module")
def jpg(pool, hubs, tmp_path_factory):
    """The module's poolgate: ssh + jupyter in front of vm1..vm3. Tests 1-5
    share it (and its state_dir: one of them kills and restarts it)."""
    binary = poolgate_binary()
    pg = HttpPoolgate(binary, tmp_path_factory.mktemp("jupyter-pg"), pool,
                      pool.backends(HUB_VMS))
    _INSTANCES.append(pg)
    _CURRENT.append(pg)
    try:
        pg.start()
        pg.wait_all_up(timeout=30)
    except BaseException:
        pg.stop()
        raise
    yield pg
    died = pg.proc.poll() is not None and not pg.stopped_on_purpose
    code = pg.stop()
    if died:
        pytest.fail("the module's poolgate exited on its own with code %s" % code,
                    pytrace=False)


@pytest.fixture(scope="module")
def users(jpg):
    """alice (from 127.0.0.31) and bob (from 127.0.0.32) logged in through
    poolgate, each with their own cookie jar, servers spawned. alice goes
    first, and only once /status counts her does bob log in, so bob's login
    has a least-loaded VM other than hers to go to."""
    clients, vms = {}, {}
    for user, addr in (("alice", ALICE_ADDR), ("bob", BOB_ADDR)):
        c = JupyterClient(jpg.base_url, source_address=addr, timeout=60)
        c.login(user, pw(user))
        c.spawn(timeout=180)
        r = c.tree()
        assert r.status_code == 200 and final_path(r) == "/user/%s/tree" % user, (
            "%s's tree through poolgate after spawning: %s" % (user, brief(r)))
        vm = r.headers.get("X-DSVM")
        assert vm in HUB_VMS, "%s's server answered without a VM name (X-DSVM %r): %s" % (
            user, vm, brief(r))
        jpg.wait_user_on(user, vm, timeout=10)
        clients[user], vms[user] = c, vm
    return SimpleNamespace(client=clients, vm=vms)


# ------------------------------------------------------------------ 1

def test_two_users_reach_their_own_servers_on_different_vms(jpg, users):
    for user in ("alice", "bob"):
        c = users.client[user]
        r = c.tree()
        assert r.status_code == 200 and final_path(r) == "/user/%s/tree" % user, (
            "%s: %s" % (user, brief(r)))
        assert r.headers.get("X-DSVM") == users.vm[user], brief(r)
        assert c.which_vm() == users.vm[user]
        assert c.cookie(COOKIE), "%s's jar has no %s cookie from poolgate; cookies: %s" % (
            user, COOKIE, c.cookie_names())
    assert users.vm["alice"] != users.vm["bob"], (
        "alice and bob were both sent to %s although other VMs were idle: "
        "bob's login should have gone to a least-loaded VM" % users.vm["alice"])
    st = jpg.status()
    by = jpg.users_by_vm(st)
    for user in ("alice", "bob"):
        on = sorted(n for n, us in by.items() if user in us)
        assert on == [users.vm[user]], "/status lists %s under %s, expected only %s: %s" % (
            user, on, users.vm[user], by)
        b = jpg.backend(st, users.vm[user])
        assert b["sessions"] >= 1, "%s has a Jupyter user but sessions=%d" % (
            users.vm[user], b["sessions"])
    idle = [n for n in HUB_VMS if n not in users.vm.values()]
    for n in idle:
        assert by[n] == [], "%s serves nobody but /status lists %s" % (n, by[n])


# ------------------------------------------------------------------ 2

def test_returning_user_on_new_address_lands_on_her_server(jpg, users):
    vm = users.vm["alice"]
    c = JupyterClient(jpg.base_url, source_address=ALICE_ADDR2, timeout=60)
    c.login("alice", pw("alice"))
    r = c.tree()  # no spawn: her server runs on vm already
    assert r.status_code == 200 and final_path(r) == "/user/alice/tree", (
        "alice from %s with a new cookie jar, after logging in, did not reach her "
        "running server on %s: %s" % (ALICE_ADDR2, vm, brief(r)))
    assert r.headers.get("X-DSVM") == vm, brief(r)
    assert c.which_vm() == vm
    on = sorted(n for n, us in jpg.users_by_vm().items() if "alice" in us)
    assert on == [vm], "/status lists alice under %s, expected only %s" % (on, vm)


# ------------------------------------------------------------------ 3

def test_kernel_runs_code_over_websocket_through_poolgate(users):
    for user in ("alice", "bob"):
        c = users.client[user]
        out = c.run_code("print(6*7)", timeout=90)
        assert out == "42\n", "%s's kernel printed %r" % (user, out)
        out = c.run_code("import os; print(os.environ['DSVM_NAME'])", timeout=90)
        assert out == users.vm[user] + "\n", "%s's kernel runs on %r, server on %s" % (
            user, out, users.vm[user])


# ------------------------------------------------------------------ 4

def test_kill9_restart_keeps_users_on_their_vms(jpg, users):
    # The table is written at least once a second while it changes.
    time.sleep(2.5)
    state = jpg.state_dir / "affinity.state"
    key = jpg.state_dir / "cookie.key"
    assert state.is_file() and state.stat().st_size > 0, (
        "no affinity table in state_dir: %s" % sorted(os.listdir(jpg.state_dir)))
    assert key.is_file() and key.stat().st_size > 0, (
        "no cookie key in state_dir: %s" % sorted(os.listdir(jpg.state_dir)))
    jpg.kill9()
    for c in users.client.values():
        c.session.close()  # its pooled connections went with the process
    mark = jpg.log_size()
    jpg.restart()
    jpg.wait_all_up(timeout=30)
    st = jpg.status()
    assert st.get("affinity_entries", 0) >= 2, (
        "after restart poolgate holds %s affinity entries; alice's and bob's should "
        "have been loaded from %s. log since restart:\n%s" % (
            st.get("affinity_entries"), state, jpg.log_since(mark)))

    # New cookie jars first (nothing but the URL names the user), starting
    # with the user on the highest-numbered VM: a poolgate that forgot the
    # table would send that first request to its first choice instead.
    order = sorted(users.vm, key=lambda u: -int(users.vm[u][2:]))
    for user in order:
        vm = users.vm[user]
        c = JupyterClient(jpg.base_url, source_address=fresh_addr(), timeout=60)
        c.user = user
        r = c.get("/user/%s/tree" % user, allow_redirects=False)
        got = r.headers.get("X-DSVM")
        assert got in (None, vm), (
            "after restart, /user/%s/tree from a new jar was answered by %s, not %s "
            "(affinity from state_dir lost?)" % (user, got, vm))
        r = c.get("/user/%s/tree" % user)
        seen = [h.headers.get("X-DSVM") for h in list(r.history) + [r]]
        assert seen[-1] == vm and all(s in (None, vm) for s in seen), (
            "after restart, a new jar asking for /user/%s/tree went to %s, not only %s: %s"
            % (user, seen, vm, brief(r)))
        # ... and that jar can log in and reach the running server, no spawn.
        c.login(user, pw(user))
        r = c.tree()
        assert r.status_code == 200 and final_path(r) == "/user/%s/tree" % user, brief(r)
        assert r.headers.get("X-DSVM") == vm, brief(r)

    # The old jars: no new login, straight to their servers; and the hub
    # home page (no user in the URL: only the signed cookie routes it).
    for user in ("alice", "bob"):
        c, vm = users.client[user], users.vm[user]
        r = c.tree()
        assert r.status_code == 200 and final_path(r) == "/user/%s/tree" % user, (
            "after kill -9 and restart, %s's own jar: %s" % (user, brief(r)))
        assert r.headers.get("X-DSVM") == vm, brief(r)
        r = c.get("/hub/home")
        assert r.status_code == 200 and final_path(r) == "/hub/home", (
            "after restart, %s's /hub/home (routed by poolgate's cookie only) did not "
            "find her login: %s" % (user, brief(r)))
        assert r.headers.get("X-DSVM") == vm, brief(r)


# ------------------------------------------------------------------ 5

def test_ssh_from_browser_address_follows_jupyter_user(jpg, users):
    vm = users.vm["alice"]
    r = users.client["alice"].tree()  # alice is active from 127.0.0.31 now
    assert r.status_code == 200 and r.headers.get("X-DSVM") == vm, brief(r)
    st = jpg.wait_user_on("alice", vm)
    load = {b["name"]: b["sessions"] for b in st["backends"] if b["state"] == "up"}
    assert vm in load and load[vm] > min(load.values()), (
        "precondition: %s (alice's) must not be the least-loaded VM: sessions %s"
        % (vm, load))
    # Control: an address with no Jupyter user goes by load, elsewhere.
    other = jpg.login(fresh_addr())
    assert other != vm, (
        "an SSH login from an unknown address went to %s although it is not the "
        "least loaded (sessions %s)" % (other, load))
    got = jpg.login(ALICE_ADDR)
    assert got == vm, (
        "ssh from %s (alice's browser address; alice active on %s) landed on %s "
        "(sessions were %s)" % (ALICE_ADDR, vm, got, load))


# ------------------------------------------------------------------ 6

ECHO_SERVER = r'''
import json, socketserver, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
addr, port, vm = sys.argv[1], int(sys.argv[2]), sys.argv[3]

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        cookies = self.headers.get_all("Cookie") or []
        sys.stderr.write("%s %s %s Cookie=%r\n" % (vm, self.command, self.path, cookies))
        sys.stderr.flush()
        out = json.dumps({"vm": vm, "method": self.command, "path": self.path,
                          "cookies": cookies,
                          "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-DSVM", vm)
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = answer

    def log_message(self, *a):
        pass

class S(ThreadingHTTPServer):
    def server_bind(self):
        # HTTPServer.server_bind resolves the address (getfqdn): ~10 s of DNS
        # timeouts in a namespace without a resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = addr, port

S((addr, port), H).serve_forever()
'''


@pytest.fixture
def echo_servers(pool, tmp_path):
    """In vm1 and vm2, on port 18000: an HTTP server that answers every request
    with its VM's name and the Cookie headers it received (a stand-in for
    the hub that shows what poolgate forwards). {vm: log path}."""
    script = tmp_path / "echo_server.py"
    script.write_text(ECHO_SERVER)
    procs, logs = {}, {}
    extra = ("echo servers' request logs", lambda: "\n".join(
        "---- %s:\n%s" % (vm, Path(p).read_text(errors="replace")[-4000:])
        for vm, p in logs.items() if Path(p).exists()))
    REPORT_EXTRAS.append(extra)
    try:
        for vm in ("vm1", "vm2"):
            addr = pool.address(vm)
            logs[vm] = tmp_path / ("echo-%s.log" % vm)
            with open(logs[vm], "wb") as lf:
                procs[vm] = subprocess.Popen(
                    ["ip", "netns", "exec", "pg-" + vm, "/usr/bin/python3", str(script),
                     addr, str(ECHO_PORT), vm],
                    stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                    start_new_session=True)
            deadline = time.monotonic() + 20
            while True:
                try:
                    c = http.client.HTTPConnection(addr, ECHO_PORT, timeout=2)
                    c.request("GET", "/hub/health")
                    if c.getresponse().status == 200:
                        c.close()
                        break
                except OSError:
                    pass
                if procs[vm].poll() is not None or time.monotonic() > deadline:
                    pytest.fail("echo server in %s did not answer on %s:%d: %s" % (
                        vm, addr, ECHO_PORT, Path(logs[vm]).read_text(errors="replace")),
                        pytrace=False)
                time.sleep(0.1)
        yield logs
    finally:
        REPORT_EXTRAS.remove(extra)
        for p in procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()


def hub_cookie(user):
    """The cookie JupyterHub's OAuth flow sets for a user's own server, as
    that user's browser sends it back (the value is opaque to poolgate)."""
    return "jupyterhub-user-%s=2|1:0|10:1700000000|20:%s|" % (user, "x" * 8)


def raw_get(pg, path, src, cookie=None):
    """GET through poolgate's http service with exactly the Cookie header
    given; returns (status, {json of the echo server}, [Set-Cookie headers])."""
    c = http.client.HTTPConnection("127.0.0.1", pg.http_port, timeout=15,
                                   source_address=(src, 0))
    try:
        headers = {"Host": "127.0.0.1:%d" % pg.http_port}
        if cookie is not None:
            headers["Cookie"] = cookie
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        body = r.read().decode("utf-8", "replace")
        sc = r.msg.get_all("Set-Cookie") or []
        try:
            data = json.loads(body)
        except ValueError:
            raise AssertionError("GET %s through poolgate: %d, not the echo server's JSON: "
                                 "%s" % (path, r.status, body[:300]))
        return r.status, data, sc
    finally:
        c.close()


def assert_not_forwarded(data, what):
    for h in data["cookies"]:
        assert COOKIE not in h, (
            "%s: the backend (%s) received poolgate's cookie: Cookie: %s"
            % (what, data["vm"], h))


def test_cookie_attributes_on_hub_pages(jpg, hubs):
    """Set-Cookie from poolgate on a real hub page over plain HTTP."""
    c = JupyterClient(jpg.base_url, source_address=fresh_addr())
    r = c.get("/hub/login")
    assert r.status_code == 200, brief(r)
    ours = our_set_cookies(response_set_cookies(r))
    assert len(ours) == 1, "GET /hub/login with no cookie: expected one Set-Cookie %s, " \
        "got %s" % (COOKIE, response_set_cookies(r))
    value, attrs = ours[0]
    assert value, "empty %s value" % COOKIE
    assert "httponly" in attrs, "Set-Cookie %s lacks HttpOnly: %s" % (COOKIE, attrs)
    assert attrs.get("samesite", "").lower() == "lax", "SameSite is not Lax: %s" % attrs
    assert attrs.get("path") == "/", "Path is not /: %s" % attrs
    assert "secure" not in attrs, "Secure over plain HTTP: %s" % attrs


def test_own_cookie_stripped_and_forged_cookie_ignored(new_http_poolgate, pool, echo_servers):
    pg = new_http_poolgate(backends=pool.backends(["vm1", "vm2"]),
                           http={"http_backend_port": ECHO_PORT})
    pg.wait_all_up(timeout=30)

    # carol (by URL, with the cookie the hub gives her own server, as her
    # browser sends it) is placed somewhere: L. Her response carries a
    # genuine cookie for L. E, the other VM, is now the least loaded.
    status, d, sc = raw_get(pg, "/user/carol/x", fresh_addr(),
                            cookie=hub_cookie("carol"))
    assert status == 200
    L = d["vm"]
    E = {"vm1": "vm2", "vm2": "vm1"}[L]
    ours = our_set_cookies(sc)
    assert ours, "no Set-Cookie %s on the first answer for carol: %s" % (COOKIE, sc)
    genuine = ours[-1][0]
    assert_not_forwarded(d, "first request")
    pg.wait_user_on("carol", L)

    # The genuine cookie routes to L (the busier VM: only the cookie explains
    # it); poolgate's cookie is taken out, the other cookies reach the backend.
    status, d, sc = raw_get(pg, "/hub/home", fresh_addr(),
                            cookie="a=1; %s=%s; b=2" % (COOKIE, genuine))
    assert d["vm"] == L, "a request with a genuine cookie for %s went to %s" % (L, d["vm"])
    assert_not_forwarded(d, "genuine cookie between two others")
    joined = "; ".join(d["cookies"])
    assert "a=1" in joined and "b=2" in joined, (
        "poolgate dropped the client's other cookies: backend got %r" % d["cookies"])
    status, d, sc = raw_get(pg, "/hub/home", fresh_addr(), cookie="%s=%s" % (COOKIE, genuine))
    assert d["vm"] == L
    assert_not_forwarded(d, "genuine cookie alone")

    # Tampered cookies are ignored: routed by load (to E), and answered with
    # a fresh cookie.
    forged = [("tampered@1", tamper(genuine, 1)),
              ("tampered@middle", tamper(genuine, len(genuine) // 2)),
              ("tampered@end-3", tamper(genuine, max(0, len(genuine) - 3))),
              ("garbage", "vm1.0.deadbeef")]
    fresh = None
    for what, value in forged:
        assert value != genuine
        status, d, sc = raw_get(pg, "/hub/home", fresh_addr(),
                                cookie="%s=%s; c=3" % (COOKIE, value))
        assert d["vm"] == E, (
            "%s cookie %r (genuine %r, for %s) was honoured: request went to %s, the "
            "least loaded is %s" % (what, value, genuine, L, d["vm"], E))
        assert_not_forwarded(d, "%s cookie" % what)
        assert "c=3" in "; ".join(d["cookies"]), d["cookies"]
        ours = our_set_cookies(sc)
        assert ours and ours[-1][0] not in ("", value), (
            "answer to a %s cookie carries no fresh %s: %s" % (what, COOKIE, sc))
        fresh = ours[-1][0]

    # The fresh cookie (issued by E's answer) is valid: make E the busier VM
    # (two held SSH sessions from one address: the second follows the first
    # by client address), then the fresh cookie still routes to E.
    src = fresh_addr()
    held = []
    try:
        for _ in range(2):
            held.append(pg.session(src))
        assert [s.vm for s in held] == [E, E], (
            "SSH sessions from %s went to %s; expected both on %s (least loaded, then "
            "client-address affinity)" % (src, [s.vm for s in held], E))
        pg.wait_status(lambda st: pg.backend(st, E)["sessions"] >
                       pg.backend(st, L)["sessions"], "%s busier than %s" % (E, L))
        status, d, sc = raw_get(pg, "/hub/home", fresh_addr())
        assert d["vm"] == L, "with no cookie, a request should go to the least loaded %s, " \
            "went to %s" % (L, d["vm"])
        status, d, sc = raw_get(pg, "/hub/home", fresh_addr(), cookie="%s=%s" % (COOKIE, fresh))
        assert d["vm"] == E, (
            "the fresh cookie %r poolgate gave for %s is not honoured: request went to %s"
            % (fresh, E, d["vm"]))
        assert_not_forwarded(d, "fresh cookie")
    finally:
        for s in held:
            s.close()


def test_each_request_on_one_connection_routed_on_its_own(new_http_poolgate, pool,
                                                          echo_servers):
    """One keep-alive client connection (keepalive_timeout = "60s"), three
    requests: u1's goes to some VM, u2's to the other (least loaded), u1's
    again to u1's. The backends keep connections alive, so poolgate has no
    reason to close the client's. (JupyterHub's proxy answers every request
    with Connection: close, so this uses the echo servers.)"""
    pg = new_http_poolgate(backends=pool.backends(["vm1", "vm2"]),
                           http={"http_backend_port": ECHO_PORT})
    pg.wait_all_up(timeout=30)
    c = http.client.HTTPConnection("127.0.0.1", pg.http_port, timeout=15,
                                   source_address=(fresh_addr(), 0))
    try:
        seen, sock = [], None
        for i, path in enumerate(("/user/u1/a", "/user/u2/b", "/user/u1/c")):
            # Each user's browser carries the cookie of the user's server
            # (an echo server answering 200 stands in for it): only then
            # does poolgate count the user on the VM.
            c.request("GET", path, headers={"Cookie": hub_cookie(path.split("/")[2])})
            r = c.getresponse()
            body = r.read()
            assert r.status == 200, "GET %s: %d %r" % (path, r.status, body[:200])
            if sock is None:
                sock = c.sock
            assert c.sock is sock and not r.will_close, (
                "poolgate ended the client connection after request %d (GET %s; "
                "Connection: %r)" % (i + 1, path, r.getheader("Connection")))
            seen.append(json.loads(body)["vm"])
            if i == 0:
                pg.wait_user_on("u1", seen[0])
        assert seen[1] != seen[0] and seen[2] == seen[0], (
            "on one connection u1, u2, u1 went to %s: expected u2 on the other VM (least "
            "loaded) and u1 back on its own" % seen)
    finally:
        c.close()


# ------------------------------------------------------------------ 6b

def vm_of(st, name):
    for b in st["backends"]:
        if b["name"] == name:
            return b
    raise AssertionError("%s not in /status: %s" % (name, json.dumps(st["backends"])))


def login_vm(pg, user, addr):
    """user logs in from addr (a browser's login: form, 302); returns the VM
    that answered and waits until /status counts the user there."""
    c = JupyterClient(pg.base_url, source_address=addr, timeout=60)
    r = c.login(user, pw(user))
    vm = r.headers.get("X-DSVM")
    assert vm in HUB_VMS, "%s's login answered without a VM name: %s" % (user, brief(r))
    pg.wait_user_on(user, vm, timeout=15)
    return c, vm


def test_team_behind_one_address_spread_by_load_with_defaults(hubs, new_http_poolgate, pool):
    """The default configuration (affinity.by_client_ip on, nothing said on
    the http service): four users logging in from one office address are
    placed by load, not on the VM of the address. SSH from the address goes
    to the only Jupyter user of it while there is one (the documented rule)."""
    pg = new_http_poolgate(backends=pool.backends(HUB_VMS))
    assert not any("by_client_ip" in l for l in pg.conf.read_text().splitlines()
                   if "affinity" not in l), "the test must use the http service's default"
    pg.wait_all_up(timeout=30)
    office = fresh_addr()
    placed = {}
    _, placed["alice"] = login_vm(pg, "alice", office)
    got = pg.login(office)
    assert got == placed["alice"], (
        "ssh from the office address while alice is its only Jupyter user went to %s, "
        "not alice's %s" % (got, placed["alice"]))
    for user in ("bob", "carol", "dave"):
        _, placed[user] = login_vm(pg, user, office)
    per_vm = {vm: sorted(u for u, v in placed.items() if v == vm) for vm in HUB_VMS}
    assert all(per_vm.values()) and max(len(v) for v in per_vm.values()) == 2, (
        "four users from one address should spread 2/1/1 over three VMs: %s" % per_vm)


def test_vm_with_sshd_down_takes_no_new_jupyter_user(hubs, new_http_poolgate, pool):
    """vm1 (weight 4: the lightest VM for a long while) holds alice; its sshd
    stops. New Jupyter users go elsewhere, /status and the status page agree
    that vm1 takes no new sessions, and alice keeps working on vm1."""
    pg = new_http_poolgate(backends=pool.backends(HUB_VMS), start=False)
    lines = [l.replace('{ name = "vm1"; address = "%s"; }' % pool.address("vm1"),
                       '{ name = "vm1"; address = "%s"; weight = 4; }' % pool.address("vm1"))
             for l in pg.config_lines()]
    assert any("weight = 4" in l for l in lines), lines
    pg.write_config(lines)
    pg.start()
    pg.wait_all_up(timeout=30)
    alice, vm = login_vm(pg, "alice", fresh_addr())
    assert vm == "vm1", "precondition: alice placed on vm1 (weight 4), got %s" % vm
    pool.run("stop-sshd", "vm1")
    try:
        st = pg.wait_status(lambda st: not vm_of(st, "vm1")["health"]["ssh"]["up"],
                            "vm1's ssh down", timeout=20)
        b = vm_of(st, "vm1")
        assert b["health"]["jupyter"]["up"] and b["state"] == "down" and \
            b["takes_new"] is False, json.dumps(b)
        jup = next(s for s in st["services"] if s["name"] == "jupyter")
        assert jup["backends_up"] == 2, "jupyter backends_up with vm1's ssh down: %s" % jup
        code, page = pg.get("/")
        assert code == 200
        m = re.search(r"service jupyter \(http\)</span><b>\d+ open</b>(\d+) VMs take new",
                      page)
        assert m and m.group(1) == "2", "status page: %s" % (m and m.group(0))
        for user in ("bob", "carol", "dave"):
            _, got = login_vm(pg, user, fresh_addr())
            assert got != "vm1", "%s was placed on vm1 although its sshd is down" % user
        r = alice.get("/hub/home")
        assert r.status_code == 200 and r.headers.get("X-DSVM") == "vm1", (
            "alice's hub page with vm1's sshd down: %s" % brief(r))
        pg.wait_user_on("alice", "vm1")
    finally:
        pool.run("start-sshd", "vm1")

# ------------------------------------------------------------------ 6c

def admin_token(pg):
    """Give pg's admin API a token (pg not started yet); returns a function
    api(method, path) -> (status, parsed JSON or text) using it."""
    token = secrets.token_urlsafe(24)
    path = pg.workdir / "admin.token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, (token + "\n").encode())
    os.close(fd)
    lines = pg.config_lines()
    i = next(k for k, l in enumerate(lines) if l.startswith("admin = {"))
    lines[i] = 'admin = { listen = "127.0.0.1:%d"; token_file = "%s"; };' % (
        pg.admin_port, path)
    pg.write_config(lines)

    def api(method, rel):
        req = urllib.request.Request(pg.url("/api/v1/" + rel), data=b"", method=method,
                                     headers={"Authorization": "Bearer " + token})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as r:
                code, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, raw = e.code, e.read()
        text = raw.decode("utf-8", "replace")
        assert code == 200, "%s /api/v1/%s: %d %s" % (method, rel, code, text[:300])
        return json.loads(text)
    return api


def vm_answering(r):
    """The VM that answered the last response of r (X-DSVM)."""
    vm = r.headers.get("X-DSVM")
    assert vm in HUB_VMS, "answered without a VM name: %s" % brief(r)
    return vm


def test_drained_vm_takes_no_user_on_old_ties_keeps_live_ones(hubs, new_http_poolgate,
                                                              pool):
    """Hostile input, second round, item 5: a cookie or an affinity leads a
    user into a draining VM only for live work there. alice (a kernel's
    websocket open), carol and dave log in on vm1 (the only ready VM);
    carol and dave go idle past session_idle; vm1 drains. carol's old jar
    (poolgate's cookie for vm1 naming her, the hub's login there) and dave's
    new one (only his affinity to vm1 is left) are placed on another VM by
    load; alice keeps reaching vm1: her hub pages, her server, a kernel."""
    pg = new_http_poolgate(backends=pool.backends(HUB_VMS), start=False,
                           http={"session_idle": "3s"})
    api = admin_token(pg)
    pg.start()
    pg.wait_all_up(timeout=30)
    for vm in ("vm2", "vm3"):
        api("POST", "backends/%s/drain" % vm)
    pg.wait_states({"vm1": "up", "vm2": "drain", "vm3": "drain"})

    alice, vm = login_vm(pg, "alice", fresh_addr())
    assert vm == "vm1", "precondition: alice placed on vm1, the only ready VM: %s" % vm
    alice.spawn(timeout=180)
    kid = alice.start_kernel()
    ws = alice.open_websocket("/user/alice/api/kernels/%s/channels" % kid)
    try:
        old = {}
        for user in ("carol", "dave"):
            old[user], vm = login_vm(pg, user, fresh_addr())
            assert vm == "vm1", "precondition: %s placed on vm1: %s" % (user, vm)
        for vm in ("vm2", "vm3"):
            api("POST", "backends/%s/ready" % vm)
        pg.wait_states({"vm1": "up", "vm2": "up", "vm3": "up"})
        # carol's and dave's sessions idle out; alice's websocket holds hers.
        pg.wait_status(lambda st: pg.users_by_vm(st) == {"vm1": ["alice"], "vm2": [],
                                                         "vm3": []},
                       "only alice live, on vm1", timeout=20)
        api("POST", "backends/vm1/drain")
        pg.wait_states({"vm1": "drain"})

        # carol's old jar: cookie and affinity both say vm1.
        c = old["carol"]
        r = c.login("carol", pw("carol"))
        got = vm_answering(r)
        assert got != "vm1", (
            "carol, idle past session_idle, logged in again on draining vm1 (her old "
            "poolgate cookie and affinity followed into it): %s" % brief(r))
        pg.wait_user_on("carol", got)
        r = c.get("/hub/home")
        assert r.status_code == 200 and vm_answering(r) == got, (
            "carol's hub page after logging in on %s: %s" % (got, brief(r)))

        # dave's new jar: only his affinity says vm1.
        r = JupyterClient(pg.base_url, source_address=fresh_addr(), timeout=60).login(
            "dave", pw("dave"))
        got = vm_answering(r)
        assert got != "vm1", (
            "dave (new jar; his session on vm1 idled out) logged in on draining vm1 "
            "by his affinity alone: %s" % brief(r))
        pg.wait_user_on("dave", got)

        # alice, live on vm1, keeps it: hub page (her cookie only), server, kernels.
        r = alice.get("/hub/home")
        assert r.status_code == 200 and r.headers.get("X-DSVM") == "vm1", (
            "alice (a websocket open to draining vm1) lost her hub page: %s" % brief(r))
        assert alice.which_vm() == "vm1"
        out = alice.run_code("import os; print(os.environ['DSVM_NAME'])", timeout=90)
        assert out == "vm1\n", "alice's new kernel runs on %r, not on draining vm1" % out
        pg.wait_user_on("alice", "vm1")
    finally:
        ws.close()
        try:
            alice.delete_kernel(kid)
        except Exception:  # the test's own failure is the one to report
            pass


def test_another_users_cookie_places_no_one_else(hubs, new_http_poolgate, pool):
    """Hostile input, second round, item 5: poolgate's cookie routes only
    its own user. alice logs in (vm X now holds a session, the others none);
    bob, in a fresh jar holding a copy of alice's poolgate cookie, logs in:
    he is placed by load, not on X, and his jar's cookie then names his own
    VM. alice's hub page still follows her cookie."""
    pg = new_http_poolgate(backends=pool.backends(HUB_VMS))
    pg.wait_all_up(timeout=30)
    alice, x = login_vm(pg, "alice", fresh_addr())
    copied = [copy.copy(ck) for ck in alice.session.cookies if ck.name == COOKIE]
    assert copied, "alice's jar has no %s cookie: %s" % (COOKIE, alice.cookie_names())
    bob = JupyterClient(pg.base_url, source_address=fresh_addr(), timeout=60)
    for ck in copied:
        bob.session.cookies.set_cookie(ck)
    r = bob.login("bob", pw("bob"))
    got = vm_answering(r)
    assert got != x, (
        "bob, holding a copy of alice's %s cookie, was placed on alice's %s although "
        "the other VMs had no session: %s" % (COOKIE, x, brief(r)))
    pg.wait_user_on("bob", got)
    r = bob.get("/hub/home")
    assert r.status_code == 200 and vm_answering(r) == got, (
        "bob's hub page after logging in on %s: %s" % (got, brief(r)))
    r = alice.get("/hub/home")
    assert r.status_code == 200 and vm_answering(r) == x, brief(r)
    pg.wait_user_on("alice", x)


# ------------------------------------------------------------------ 7

def make_ca_and_cert(d):
    """A CA and a server certificate for IP 127.0.0.1 signed by it."""
    d = Path(d)
    ca_key, ca, key, csr, cert, ext = (d / n for n in (
        "ca.key", "ca.pem", "key.pem", "server.csr", "cert.pem", "ext.cnf"))
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n")
    cmds = [
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-keyout", ca_key, "-out", ca, "-subj", "/CN=poolgate test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-days", "2", "-out", cert, "-extfile", ext],
    ]
    for argv in cmds:
        try:
            p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=60)
        except FileNotFoundError:
            pytest.fail("openssl not found (apt-get install openssl)", pytrace=False)
        assert p.returncode == 0, "%s failed: %s" % (" ".join(map(str, argv)), p.stdout)
    return str(ca), str(cert), str(key)


def curl(*args, timeout=20):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    try:
        return subprocess.run(["curl", "--noproxy", "*", "-sS", "--max-time", "10"]
                              + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout, env=env)
    except FileNotFoundError:
        pytest.fail("curl not found (apt-get install curl)", pytrace=False)


def test_tls_termination(hubs, new_http_poolgate, tmp_path):
    ca, cert, key = make_ca_and_cert(tmp_path)
    pg = new_http_poolgate(http={"tls": {"cert": cert, "key": key, "min_version": "1.2"}})
    pg.wait_all_up(timeout=30)
    assert pg.base_url.startswith("https://")
    url = "%s/hub/login" % pg.base_url
    hdr = tmp_path / "headers.txt"
    p = curl("--cacert", ca, "-o", "/dev/null", "-D", str(hdr), "-w", "%{http_code}", url)
    assert p.returncode == 0 and p.stdout == "200", (
        "curl --cacert CA %s: exit %d, status %r, %s" % (url, p.returncode, p.stdout,
                                                        p.stderr.strip()))
    lines = hdr.read_text(errors="replace").splitlines()
    dsvm = [l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("x-dsvm:")]
    assert dsvm and dsvm[0] in HUB_VMS, "not a hub's answer: %s" % lines
    sc = [l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("set-cookie:")]
    ours = our_set_cookies(sc)
    assert ours, "no Set-Cookie %s over TLS: %s" % (COOKIE, lines)
    attrs = ours[-1][1]
    assert "secure" in attrs, "Set-Cookie %s over TLS lacks Secure: %s" % (COOKIE, ours)
    assert "httponly" in attrs and attrs.get("samesite", "").lower() == "lax", ours

    # Plain HTTP to the TLS port gets no page.
    p = curl("-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:%d/hub/login"
             % pg.http_port)
    assert p.returncode != 0 or p.stdout in ("000", "400"), (
        "plain HTTP to the TLS listener answered %r (exit %d)" % (p.stdout, p.returncode))
    pg.assert_alive()

    # A browser session over TLS: login, then the home page on the same VM.
    c = JupyterClient(pg.base_url, verify=ca, source_address=fresh_addr(), timeout=60)
    r = c.login("dave", pw("dave"))
    vm = r.headers.get("X-DSVM")
    assert vm in HUB_VMS, brief(r)
    r = c.get("/hub/home")
    assert r.status_code == 200 and final_path(r) == "/hub/home", brief(r)
    assert r.headers.get("X-DSVM") == vm, brief(r)
    assert c.cookie(COOKIE), c.cookie_names()


# ------------------------------------------------------------------ 8

@pytest.fixture(scope="module")
def tls_hub(hubs):
    """vm3's hub restarted with a self-signed certificate (HTTPS on 8000).
    The module's other tests are done with vm3 by then (these run last)."""
    hubs["vm3"].stop(quiet=True)
    h = hubmod.Hub("vm3", tls=True, d=HUB_DIR)
    hubs["vm3"] = h  # the hubs fixture stops it
    try:
        h.start()
    except hubmod.HubError as e:
        pytest.fail(str(e), pytrace=False)
    assert h.url.startswith("https://") and hubmod.health(h.url) == 200
    return h


@pytest.mark.parametrize("client_side", ["plain", "tls"])
def test_backend_tls_insecure_to_self_signed_hub(tls_hub, new_http_poolgate, pool, tmp_path,
                                                 client_side):
    """A poolgate with backend_tls = "insecure" in front of vm3's HTTPS hub
    only; clients speak plain HTTP to poolgate, or HTTPS (poolgate terminates
    TLS and opens a new TLS connection to the hub)."""
    http = {"backend_tls": "insecure"}
    verify = True
    if client_side == "tls":
        ca, cert, key = make_ca_and_cert(tmp_path)
        http["tls"] = {"cert": cert, "key": key}
        verify = ca
    user = {"plain": "carol", "tls": "dave"}[client_side]
    pg = new_http_poolgate(backends=pool.backends(["vm3"]), http=http)
    m = pg.wait_log(r"WARN[^\n]*insecure", timeout=5)
    assert m, "no warning about backend_tls \"insecure\" at start; log:\n%s" % pg.log_tail(40)
    pg.wait_all_up(timeout=30)
    c = JupyterClient(pg.base_url, verify=verify, source_address=fresh_addr(), timeout=60)
    r = c.login(user, pw(user))
    assert r.headers.get("X-DSVM") == "vm3", brief(r)
    if not pg.tls:
        # The hub sees HTTPS (from poolgate) and marks its cookies Secure; a
        # browser on plain HTTP never sends them back, so every page after
        # the login is the login page again. Say so instead of timing out.
        secure = sorted(ck.name for ck in c.session.cookies if ck.secure)
        assert not secure, (
            "behind poolgate on plain HTTP, the HTTPS hub set Secure cookies %s: the "
            "client will never send them back over http://, so the login does not "
            "stick. (Checked on this hub: a request header `X-Scheme: http` makes it "
            "set them without Secure; `X-Forwarded-Proto: http` does not, because "
            "configurable-http-proxy appends \",https\" and tornado takes the last "
            "value.) Set-Cookie: %s" % (secure, response_set_cookies(r)))
    c.spawn(timeout=180)
    r = c.tree()
    assert r.status_code == 200 and final_path(r) == "/user/%s/tree" % user, brief(r)
    assert r.headers.get("X-DSVM") == "vm3", brief(r)
    out = c.run_code("print(6*7)", timeout=90)  # websocket over TLS to the hub
    assert out == "42\n", "%s's kernel behind a TLS hub printed %r" % (user, out)

"""Hostile input, second round: each test fails on the code before its fix.

Real poolgate processes in front of the test pool (network namespaces pg-vmK,
tests/pool/pool), as in test_faults.py, whose poolgate factory and VM-side
server helper this module reuses. An HTTP/1.1 backend inside vm1 behaves by
path so that a test can make the VM do what a misbehaving or busy VM does:

  /close-on-reuse...  answered on a fresh connection; as the second (or
                      later) request of a connection, the VM closes the
                      connection without answering (a kept-alive connection
                      the VM dropped just as poolgate reused it)
  /never...           read, never answered (a VM that hangs)
  /desync-...         a response followed by bytes of another one ("EVIL!")
                      in the same write: after a 204, a 304, a HEAD answer
                      or a body longer than its Content-Length
  /upgrade101         101 Switching Protocols, though nobody asked
  /headers            200 with the request head it got as the body
  anything else       200 "ok", kept alive

It logs "REQ <connection> <n-th on it> <method> <path>" for every request.
The test of a full VM (13) runs it in vm2 as well, to see which VM a
request reached.

Needs root, the pool's tools, iproute2 and openssh (deploy/install-deps).
"""

import json
import os
import pwd
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import REPORT_EXTRAS, fresh_addr, poolgate_binary  # noqa: E402
from test_faults import FaultPoolgate, NsServer, connect, fpg  # noqa: E402,F401

PORT = 18070   # the behaving-by-path backend, in vm1

BACKEND = r'''
import socket, sys, threading, itertools
addr, port, logpath = sys.argv[1], int(sys.argv[2]), sys.argv[3]
log = open(logpath, "a", buffering=1)
lock = threading.Lock()
ids = itertools.count(1)

def say(s):
    with lock:
        log.write(s + "\n")

def handle(c, cid):
    f = c.makefile("rb")
    n = 0
    try:
        while True:
            line = f.readline(1 << 16)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            n += 1
            method, path = line.decode("latin-1").split()[:2]
            cl = 0
            head = line
            while True:
                h = f.readline(1 << 16)
                if not h:
                    return
                head += h
                if h in (b"\r\n", b"\n"):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                if k.strip().lower() == "content-length":
                    cl = int(v.strip().split(",")[0] or 0)
            if cl:
                f.read(cl)
            say("REQ %d %d %s %s" % (cid, n, method, path))
            if path.startswith("/close-on-reuse") and n > 1:
                say("CLOSE %d" % cid)
                return
            if path.startswith("/never"):
                while c.recv(65536):
                    pass
                return
            evil = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"
            if path == "/desync-204":
                c.sendall(b"HTTP/1.1 204 No Content\r\n\r\n" + evil)
                continue
            if path == "/desync-304":
                c.sendall(b"HTTP/1.1 304 Not Modified\r\n\r\n" + evil)
                continue
            if path == "/desync-head":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!")
                continue
            if path == "/desync-long":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n" + evil)
                continue
            if path == "/upgrade101":
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade"
                          b"\r\nUpgrade: websocket\r\n\r\n")
                continue
            if path == "/headers":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(head)
                          + head)
                continue
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: 3\r\n\r\nok\n")
    except Exception as e:
        say("ERR %r" % (e,))
    finally:
        try:
            c.close()
        except OSError:
            pass

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(256)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c, next(ids)), daemon=True).start()
'''


@pytest.fixture
def vm_backend(pool, tmp_path):
    """The behaving-by-path backend in vm1 on PORT: returns its request log."""
    logpath = tmp_path / "vm-backend.log"
    logpath.write_text("")
    srv = NsServer("vm1", BACKEND, [pool.address("vm1"), PORT, logpath], tmp_path,
                   "vm_backend")
    extra = ("vm1 backend request log (%s)" % logpath,
             lambda: logpath.read_text(errors="replace")[-6000:])
    REPORT_EXTRAS.append(extra)
    try:
        srv.wait_port(pool.address("vm1"), PORT)
        yield logpath
    finally:
        REPORT_EXTRAS.remove(extra)
        srv.stop()


def web_service(lines=()):
    return {"name": "web", "mode": "http", "port": PORT, "lines": list(lines),
            "check": 'type = "tcp"; interval = "500ms"; timeout = "400ms"; '
                     'rise = 1; fall = 2;'}


def read_response(s, timeout, head_only=False):
    """One HTTP/1.1 response with a Content-Length body (none when
    head_only: the answer to a HEAD) from socket s. Returns (status, head
    bytes, body) or (None, what came, b"") when the connection closed or
    nothing complete came within timeout. Bytes after it are left unread
    only if they came in a later segment (callers send one request at a
    time)."""
    s.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while b"\r\n\r\n" not in buf:
            if time.monotonic() > deadline:
                return None, buf, b""
            d = s.recv(65536)
            if not d:
                return None, buf, b""
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        n = int(m.group(1)) if m and not head_only else 0
        while len(rest) < n:
            d = s.recv(65536)
            if not d:
                break
            rest += d
        return int(head.split()[1]), head, rest[:n]
    except (socket.timeout, ConnectionError):
        return None, buf, b""


def requests_seen(logpath, path):
    return [l for l in logpath.read_text().splitlines()
            if l.startswith("REQ ") and l.split()[4] == path]


def web_active(pg):
    return FaultPoolgate.service(pg, pg.status(), "web")["active"]


def wait_web_idle(pg, timeout=10.0):
    deadline = time.monotonic() + timeout
    while web_active(pg) != 0:
        if time.monotonic() > deadline:
            raise AssertionError("poolgate still holds %d web connection(s) after the "
                                 "client closed" % web_active(pg))
        time.sleep(0.1)


# ------------------------------------------------------------------ 1

def test_request_on_dropped_keepalive_connection_retried_or_answered(fpg, pool, vm_backend):
    """A VM closes a kept-alive connection as poolgate reuses it: a GET is
    sent again on a fresh connection and answered; a POST (not idempotent,
    even without a body) is never sent twice and gets 502. Nothing hangs,
    nothing stays open after the client leaves."""
    pg = fpg(backends=pool.backends(["vm1"]), services=[web_service()])
    # A new request needs a VM healthy for every service (ssh too).
    pg.wait_status(lambda st: all(b["takes_new"] for b in st["backends"]),
                   "vm1 up for web and ssh")
    s = connect(pg.ports["web"], fresh_addr())
    try:
        s.sendall(b"GET /first HTTP/1.1\r\nHost: pool\r\n\r\n")
        st, head, body = read_response(s, 10)
        assert st == 200, "GET /first: %r" % head

        s.sendall(b"GET /close-on-reuse-get HTTP/1.1\r\nHost: pool\r\n\r\n")
        st, head, body = read_response(s, 10)
        assert st == 200, (
            "GET on a kept-alive VM connection the VM closed: expected the retry's 200 "
            "within 10 s, got %r (the client hung: the retried head was never sent)" % head)
        seen = requests_seen(vm_backend, "/close-on-reuse-get")
        assert len(seen) == 2, "the VM should see the GET twice (dropped, retried): %s" % seen

        # The retry's connection is kept alive: reusing it for a POST that
        # the VM drops must answer 502, and the VM must see the POST once.
        s.sendall(b"POST /close-on-reuse-post HTTP/1.1\r\nHost: pool\r\n"
                  b"Content-Length: 0\r\n\r\n")
        st, head, body = read_response(s, 10)
        assert st == 502, "POST whose kept-alive VM connection closed: %r" % head
        seen = requests_seen(vm_backend, "/close-on-reuse-post")
        assert len(seen) == 1, "a POST must never be sent twice: %s" % seen
    finally:
        s.close()
    wait_web_idle(pg)
    pg.assert_alive()


def test_silent_vm_answered_504_at_response_timeout(fpg, pool, vm_backend):
    """A VM that never answers: the client gets 504 at response_timeout,
    the connection is released, and other requests are served meanwhile."""
    pg = fpg(backends=pool.backends(["vm1"]),
             services=[web_service(['http = { response_timeout = "2s"; };'])])
    # A new request needs a VM healthy for every service (ssh too).
    pg.wait_status(lambda st: all(b["takes_new"] for b in st["backends"]),
                   "vm1 up for web and ssh")
    s = connect(pg.ports["web"], fresh_addr())
    try:
        t0 = time.monotonic()
        s.sendall(b"GET /never HTTP/1.1\r\nHost: pool\r\n\r\n")
        # Meanwhile another client is served.
        o = connect(pg.ports["web"], fresh_addr())
        o.sendall(b"GET /other HTTP/1.1\r\nHost: pool\r\n\r\n")
        st, head, _ = read_response(o, 10)
        o.close()
        assert st == 200, "another client while a VM hangs: %r" % head
        st, head, _ = read_response(s, 15)
        took = time.monotonic() - t0
        assert st == 504, "a VM silent past response_timeout: expected 504, got %r" % head
        assert 1.5 <= took <= 10, "504 after %.1fs with response_timeout 2s" % took
    finally:
        s.close()
    wait_web_idle(pg)
    assert "response_timeout" in pg.log_text()


# ------------------------------------------------------------------ 2

class CappedPoolgate(FaultPoolgate):
    """FaultPoolgate whose VMs have max_sessions = self.max_sessions."""

    max_sessions = 2

    def config_lines(self, backends=None):
        lines = super().config_lines(backends)
        return [re.sub(r'(\{ name = "vm\d+"; address = "[^"]+";) \}',
                       r'\1 max_sessions = %d; }' % self.max_sessions, l) for l in lines]


def test_anonymous_user_requests_fill_no_session_slot(pool, tmp_path, vm_backend):
    """Anyone may send /user/<name>/ requests; the VM answering them (here a
    backend that answers 200 to anything) must not make them sessions:
    load, capacity, /healthz and SSH logins stay as they were. A request
    that carries the hub's cookie for the user and is answered 2xx is the
    user's session."""
    pg = CappedPoolgate(poolgate_binary(), tmp_path / "pg", pool, pool.backends(["vm1"]),
                        services=[web_service()])
    try:
        pg.start()
        pg.wait_status(lambda st: all(b["health"]["web"]["up"] and b["health"]["ssh"]["up"]
                                      for b in st["backends"]), "vm1 up")
        for i in range(10):
            s = connect(pg.ports["web"], fresh_addr())
            s.sendall(b"GET /user/intruder%d/ HTTP/1.1\r\nHost: pool\r\n\r\n" % i)
            st, head, _ = read_response(s, 10)
            s.close()
            assert st == 200, "anonymous GET /user/intruder%d/: %r" % (i, head)
        st = pg.status()
        vm1 = st["backends"][0]
        assert vm1["sessions"] == 0 and vm1["users"] == [], (
            "anonymous requests counted as sessions: %s" % json.dumps(vm1))
        assert vm1["takes_new"] is True, json.dumps(vm1)
        code, body = pg.get("/healthz")
        assert code == 200, "/healthz after anonymous requests: %d %s" % (code, body)
        assert "jupyter session start" not in pg.log_text()
        assert pg.login(fresh_addr()) == "vm1", "an SSH login after the anonymous requests"

        # The hub's cookie for the user, answered 2xx: a session.
        s = connect(pg.ports["web"], fresh_addr())
        s.sendall(b"GET /user/u1/tree HTTP/1.1\r\nHost: pool\r\n"
                  b"Cookie: jupyterhub-user-u1=2|1:0|10:1700000000|20:x\r\n\r\n")
        st, head, _ = read_response(s, 10)
        s.close()
        assert st == 200
        pg.wait_status(lambda st: st["backends"][0]["users"] == ["u1"],
                       "u1 counted on vm1 once the VM answered her cookie-carrying request")
    finally:
        pg.stop()


# ------------------------------------------------------------------ 3

def _daemon_user():
    for name in ("nobody", "daemon"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    pytest.fail("no unprivileged user (nobody) on this machine", pytrace=False)


class UserPoolgate(FaultPoolgate):
    """A poolgate that starts as root and becomes self.run_as; its state_dir
    is given (where that user can reach it)."""

    def __init__(self, *a, state_dir, run_as, **kw):
        self._state = state_dir
        self.run_as = run_as
        super().__init__(*a, **kw)

    def config_lines(self, backends=None):
        lines = super().config_lines(backends)
        out = []
        for l in lines:
            if l.startswith("state_dir = "):
                l = 'state_dir = "%s";' % self._state
            l = l.replace("allow_root = true;", "")
            out.append(l)
        out.insert(1, 'user = "%s";' % self.run_as)
        return out


def test_state_dir_links_never_hand_root_files_to_the_daemon_user(pool, tmp_path):
    """The daemon user owns state_dir, so it can plant links there. Starting
    as root, poolgate must not give it the files they point to, must run as
    the user, and must refuse a state_dir others may write to."""
    pw = _daemon_user()
    top = Path(tempfile.mkdtemp(prefix="pg-priv-"))
    victims = Path(tempfile.mkdtemp(prefix="pg-victim-"))
    try:
        os.chmod(top, 0o755)
        os.chmod(victims, 0o700)
        state = top / "state"
        state.mkdir(mode=0o700)
        os.chown(state, pw.pw_uid, pw.pw_gid)
        planted = {}
        for name in ("affinity.state", "cookie.key", "backends.state"):
            v = victims / (name + ".victim")
            v.write_text("root's secret\n")
            os.chmod(v, 0o600)
            os.symlink(v, state / name)
            planted[name] = v

        pg = UserPoolgate(poolgate_binary(), tmp_path / "pg", pool, pool.backends(["vm1"]),
                          state_dir=str(state), run_as=pw.pw_name)
        try:
            pg.start()
            for name, v in planted.items():
                st = os.stat(v)
                assert st.st_uid == 0 and st.st_gid == 0, (
                    "%s -> %s: poolgate handed root's file to %s (uid %d)"
                    % (name, v, pw.pw_name, st.st_uid))
                assert v.read_text() == "root's secret\n", "%s was written through" % v
            uid = int(subprocess.run(["ps", "-o", "uid=", "-p", str(pg.proc.pid)],
                                     stdout=subprocess.PIPE, text=True).stdout.strip())
            assert uid == pw.pw_uid, "poolgate runs as uid %d, not %s" % (uid, pw.pw_name)
            assert "a symbolic link" in pg.log_text(), pg.log_tail()
            code, _ = pg.get("/healthz")
            assert code in (200, 503)
        finally:
            pg.stop()

        # A state_dir its group may write to: refused, with the reason.
        os.chmod(state, 0o770)
        bad = UserPoolgate(poolgate_binary(), tmp_path / "pg-bad", pool,
                           pool.backends(["vm1"]), state_dir=str(state), run_as=pw.pw_name)
        bad.start(wait=False)
        try:
            code = bad.proc.wait(timeout=15)
        finally:
            bad.stop()
        assert code != 0, "poolgate started with a group-writable state_dir"
        assert re.search(r"state_dir .*writable by its group or by anyone", bad.log_text()), (
            bad.log_text())
    finally:
        subprocess.run(["rm", "-rf", str(top), str(victims)])


# ------------------------------------------------------------------ 13

def time_wait_to_vms(pool):
    """poolgate's TIME_WAIT sockets towards the VMs' sshd (port 22)."""
    out = subprocess.run(["ss", "-Htan", "state", "time-wait", "( dport = :22 )"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    vms = {a for _, a in pool.backends()}
    return sum(1 for l in out.splitlines()
               if l.split() and l.split()[-1].rsplit(":", 1)[0] in vms)


def test_aborted_clients_leave_no_time_wait_towards_the_vms(fpg, pool):
    """An SSH sweep: for 60 s, clients connect and reset at once, as fast as
    this machine lets one client loop go, from 40 loopback addresses; half
    wait for the banner first. poolgate passes each reset on to the VM
    instead of closing gracefully, so no TIME_WAIT socket (and no local
    port) is left towards the VM per aborted client; logins work during the
    sweep and after it."""
    import struct
    pg = fpg(backends=pool.backends())
    pg.wait_all_up()
    before = time_wait_to_vms(pool)
    linger = struct.pack("ii", 1, 0)
    n, t0, logins, peak = 0, time.monotonic(), 0, 0
    while time.monotonic() - t0 < 60:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.bind(("127.0.%d.%d" % (200 + n % 40, 1 + n // 40 % 250), 0))
        s.connect(("127.0.0.1", pg.port))
        if n % 2:   # half wait for the banner, as a scanner reading it would
            s.settimeout(2)
            try:
                s.recv(64)
            except OSError:
                pass
        s.close()   # RST
        n += 1
        if n % 2000 == 0:
            peak = max(peak, time_wait_to_vms(pool) - before)
            assert pg.login(fresh_addr()) in {a for a, _ in pool.backends()}
            logins += 1
    took = time.monotonic() - t0
    time.sleep(2)
    after = time_wait_to_vms(pool)
    peak = max(peak, after - before)
    # The health checks' own TIME_WAIT sockets (a few a second) and the
    # logins' are the bound; one per aborted client is what it must not be.
    assert peak < 600 and peak < n / 10, (
        "%d aborted clients in %.0fs (%.0f/s) left up to %d TIME_WAIT sockets "
        "towards the VMs (before: %d)" % (n, took, n / took, peak, before))
    assert logins >= 1 or n < 2000
    assert pg.login(fresh_addr()) in {a for a, _ in pool.backends()}
    st = pg.wait_status(lambda st: sum(b["sessions"] for b in st["backends"]) == 0,
                        "every aborted session uncounted", timeout=10)
    print("aborted clients: %d in %.0fs (%.0f/s), TIME_WAIT peak %d, logins %d"
          % (n, took, n / took, peak, logins))

# ------------------------------------------------------------------ 4, 9-12

def web_pg(fpg, pool, lines=()):
    pg = fpg(backends=pool.backends(["vm1"]), services=[web_service(lines)])
    # A new request needs a VM healthy for every service (ssh too).
    pg.wait_status(lambda st: all(b["takes_new"] for b in st["backends"]),
                   "vm1 up for web and ssh")
    return pg


def test_bytes_after_a_response_never_answer_the_next_request(fpg, pool, vm_backend):
    """A VM that sends more than its response (after a 204, a 304, a HEAD
    answer, or past its Content-Length): the extra bytes must never be
    taken for the next request's response on that kept-alive connection."""
    pg = web_pg(fpg, pool)
    for method, path in (("GET", "/desync-204"), ("GET", "/desync-304"),
                         ("HEAD", "/desync-head"), ("GET", "/desync-long")):
        s = connect(pg.ports["web"], fresh_addr())
        try:
            s.sendall(b"%s %s HTTP/1.1\r\nHost: pool\r\n\r\n" % (method.encode(),
                                                                  path.encode()))
            st, head, _ = read_response(s, 10, head_only=(method == "HEAD"))
            assert st in (200, 204, 304), "%s %s: %r" % (method, path, head)
            time.sleep(0.2)   # the extra bytes are in poolgate by now
            s.sendall(b"GET /next HTTP/1.1\r\nHost: pool\r\n\r\n")
            st, head, body = read_response(s, 10)
            assert st == 200 and body == b"ok\n", (
                "after %s %s the next request got %r %r (the VM's extra bytes)"
                % (method, path, head, body))
        finally:
            s.close()
    pg.assert_alive()


def test_unexpected_101_is_a_502(fpg, pool, vm_backend):
    pg = web_pg(fpg, pool)
    s = connect(pg.ports["web"], fresh_addr())
    try:
        s.sendall(b"GET /upgrade101 HTTP/1.1\r\nHost: pool\r\n\r\n")
        st, head, _ = read_response(s, 10)
        assert st == 502, "a 101 nobody asked for: %r (expected 502, not an empty close)" % head
    finally:
        s.close()


def test_forged_forwarding_fields_replaced_hop_by_hop_dropped(fpg, pool, vm_backend):
    """A client cannot forge its address to the VM: X-Real-IP and Forwarded
    are poolgate's; hop-by-hop fields stay with poolgate; Content-Length:
    3, 3 reaches the VM as one field."""
    pg = web_pg(fpg, pool)
    src = fresh_addr()
    s = connect(pg.ports["web"], src)
    try:
        s.sendall(b"POST /headers HTTP/1.1\r\nHost: pool\r\n"
                  b"X-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n"
                  b"Connection: keep-alive, X-Secret\r\nX-Secret: hop\r\n"
                  b"Keep-Alive: timeout=5\r\nTE: trailers\r\n"
                  b"Proxy-Connection: keep-alive\r\n"
                  b"Content-Length: 3, 3\r\n\r\nabc")
        st, head, body = read_response(s, 10)
    finally:
        s.close()
    assert st == 200, head
    got = body.decode("latin-1").lower()
    assert "6.6.6.6" not in got, "a forged address reached the VM:\n" + got
    assert "x-real-ip: %s\r\n" % src in got, got
    assert "forwarded: for=%s;proto=http\r\n" % src in got, got
    for f in ("x-secret:", "keep-alive:", "te:", "proxy-connection:"):
        assert "\r\n" + f not in got, "%s reached the VM:\n%s" % (f, got)
    assert got.count("content-length:") == 1 and "content-length: 3\r\n" in got, got


def test_login_form_with_expect_100_continue_is_told_to_go_on(fpg, pool, vm_backend):
    """A login form sent with Expect: 100-continue: poolgate needs the body
    itself, so it answers 100 Continue at once (curl would pause a second,
    strict clients until the header timeout)."""
    pg = web_pg(fpg, pool)
    s = connect(pg.ports["web"], fresh_addr())
    form = b"username=alice&password=x"
    try:
        s.sendall(b"POST /hub/login HTTP/1.1\r\nHost: pool\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(form))
        s.settimeout(0.8)
        got = s.recv(100)
        assert got.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), (
            "no 100 Continue within 0.8 s: %r" % got)
        s.sendall(form)
        st, head, body = read_response(s, 10)
        assert st == 200, head
    finally:
        s.close()
    seen = requests_seen(vm_backend, "/hub/login")
    assert len(seen) == 1, seen


# ------------------------------------------------------------------ 13

@pytest.fixture
def vm_backends(pool, tmp_path):
    """The behaving-by-path backend in vm1 and in vm2 on PORT: {vm: log}."""
    logs, srvs = {}, []
    extra = ("backend request logs (vm1, vm2)", lambda: "\n".join(
        "---- %s:\n%s" % (vm, p.read_text(errors="replace")[-3000:])
        for vm, p in logs.items()))
    REPORT_EXTRAS.append(extra)
    try:
        for vm in ("vm1", "vm2"):
            logs[vm] = tmp_path / ("backend-%s.log" % vm)
            logs[vm].write_text("")
            srvs.append(NsServer(vm, BACKEND, [pool.address(vm), PORT, logs[vm]], tmp_path,
                                 "backend_" + vm))
            srvs[-1].wait_port(pool.address(vm), PORT)
        yield logs
    finally:
        REPORT_EXTRAS.remove(extra)
        for s in srvs:
            s.stop()


class FullPoolgate(CappedPoolgate):
    max_sessions = 1


def _api(pg, method, rel):
    req = urllib.request.Request(pg.url("/api/v1/" + rel), data=b"", method=method,
                                 headers={"Authorization": "Bearer " + pg.token})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as r:
            code, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read()
    assert code == 200, "%s /api/v1/%s: %d %r" % (method, rel, code, body[:300])


def _exchange(pg, request):
    """One request on a fresh connection; returns (status, head)."""
    s = connect(pg.ports["web"], fresh_addr())
    try:
        s.sendall(request)
        st, head, _ = read_response(s, 10)
    finally:
        s.close()
    assert st is not None, "no answer to %r: %r" % (request[:80], head)
    return st, head


def _our_cookie(head):
    """The value of poolgate_vm in the head's Set-Cookie, or None."""
    m = re.search(rb"(?im)^set-cookie:\s*poolgate_vm=([^;\r\n]*)", head)
    return m.group(1).decode() if m else None


def _served_by(logs, path):
    got = [vm for vm, p in logs.items() if requests_seen(p, path)]
    assert len(got) == 1, "%s reached %s" % (path, got or "no VM")
    return got[0]


def test_cookie_of_a_full_vm_places_no_one_there(pool, tmp_path, vm_backends):
    """Hostile input, second round, item 5, at max_sessions: vm1 holds u1 at
    its cap of 1. A login form carrying the anonymous poolgate cookie its
    browser got from vm1 before it filled, and u3's request carrying a copy
    of u1's cookie, go to vm2; u1's requests and her browser's hub pages,
    live work on vm1, still reach it."""
    pg = FullPoolgate(poolgate_binary(), tmp_path / "pg", pool, pool.backends(["vm1", "vm2"]),
                      services=[web_service()], token=secrets.token_urlsafe(24))
    hub = b"Cookie: jupyterhub-user-%s=2|1:0|10:1700000000|20:x"
    try:
        pg.start()
        pg.wait_status(lambda st: all(b["health"]["web"]["up"] and b["health"]["ssh"]["up"]
                                      for b in st["backends"]), "vm1 and vm2 up")
        _api(pg, "POST", "backends/vm2/drain")
        pg.wait_states({"vm2": "drain"})
        # A browser's login page, from vm1 (the only ready VM): an anonymous cookie.
        st, head = _exchange(pg, b"GET /hub/login?s=form HTTP/1.1\r\nHost: pool\r\n\r\n")
        assert st == 200 and _served_by(vm_backends, "/hub/login?s=form") == "vm1"
        anon = _our_cookie(head)
        assert anon, "no poolgate_vm cookie on the answer: %r" % head
        # u1 (the hub's cookie for her server, answered 200) fills vm1.
        st, head = _exchange(pg, b"GET /user/u1/tree?s=u1 HTTP/1.1\r\nHost: pool\r\n"
                             + hub % b"u1" + b"\r\n\r\n")
        assert st == 200 and _served_by(vm_backends, "/user/u1/tree?s=u1") == "vm1"
        u1 = _our_cookie(head)
        assert u1, "no poolgate_vm cookie for u1: %r" % head
        pg.wait_status(lambda st: pg.backend(st, "vm1")["users"] == ["u1"] and
                       pg.backend(st, "vm1")["takes_new"] is False, "vm1 full with u1")
        _api(pg, "POST", "backends/vm2/ready")
        pg.wait_states({"vm2": "up"})

        # The login form with the anonymous cookie for full vm1: placed by load.
        body = b"username=u2&password=x"
        st, head = _exchange(pg, b"POST /hub/login?s=login HTTP/1.1\r\nHost: pool\r\n"
                             b"Content-Type: application/x-www-form-urlencoded\r\n"
                             b"Content-Length: %d\r\nCookie: poolgate_vm=%s\r\n\r\n%s"
                             % (len(body), anon.encode(), body))
        assert st == 200
        got = _served_by(vm_backends, "/hub/login?s=login")
        assert got == "vm2", ("a login form with the poolgate cookie of vm1 (full: "
                              "max_sessions 1, u1 on it) went to %s" % got)
        # u3 with a copy of u1's cookie: placed by load, not on u1's VM.
        st, head = _exchange(pg, b"GET /user/u3/tree?s=copied HTTP/1.1\r\nHost: pool\r\n"
                             + hub % b"u3" + b"; poolgate_vm=" + u1.encode() + b"\r\n\r\n")
        got = _served_by(vm_backends, "/user/u3/tree?s=copied")
        assert got == "vm2", "u3 with a copy of u1's cookie went to full %s" % got
        # u1's own request, and a hub page of her browser: vm1, her live work.
        st, head = _exchange(pg, b"GET /user/u1/tree?s=back HTTP/1.1\r\nHost: pool\r\n"
                             + hub % b"u1" + b"; poolgate_vm=" + u1.encode() + b"\r\n\r\n")
        assert _served_by(vm_backends, "/user/u1/tree?s=back") == "vm1"
        st, head = _exchange(pg, b"GET /hub/home?s=home HTTP/1.1\r\nHost: pool\r\n"
                             b"Cookie: poolgate_vm=" + u1.encode() + b"\r\n\r\n")
        assert _served_by(vm_backends, "/hub/home?s=home") == "vm1", (
            "u1's hub page (her cookie only; u1 live on full vm1) went elsewhere")
        pg.assert_alive()
    finally:
        pg.stop()

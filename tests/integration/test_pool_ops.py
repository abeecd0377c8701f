"""The living pool: operators and the pool itself change membership and
state while people are logged in.

  * drain / ready / maint through the admin API (affinity still honoured
    while draining, not in maint);
  * DELETE of a VM with an open session: it drains, then is forgotten;
    the API refuses calls without the right bearer token;
  * membership from a watched backends file and from the admin API, without
    dropping a session; the API's VMs and operator states survive a restart;
  * a load agent inside a VM saying drain, 50%, ready, maint;
  * the real poolgate-agent in a VM: drain through the agent check, and a
    report that shows that VM's users' work (processes, logins) and no other's;
  * the event hook command and the environment of each event;
  * wake from zero: a login held in the queue until a VM comes up, closed
    at the queue timeout, and the HTTP "starting a machine" page.

Every poolgate here has checks every 500 ms (timeout 400 ms, fall 2) and
an admin token; deadlines are generous for a busy 2-core machine. Sessions
are real OpenSSH sessions from distinct 127.x source addresses, as in
test_ssh.py. DNS discovery runs against tests/integration/dnsstub.py on
127.0.0.53 (POOLGATE_DNS_SERVER).
"""

import json
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import (INTERVAL_MS, POOL, HttpPoolgate, make_config,
                      make_http_config, fresh_addr, poolgate_factory)

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def vm_names(pool):
    return [n for n, _ in pool.backends()]


# ------------------------------------------------------------------ poolgate

class OpsPoolgate(HttpPoolgate):
    """A poolgate with an admin token, extra top-level settings (discovery,
    agent, hooks), extra lines in the ssh service (queue), backends with
    optional max_sessions, and optionally the "jupyter" http service.

    backends: [(name, address)] or [(name, address, max_sessions)]."""

    def __init__(self, binary, workdir, pool, backends=None, *, with_http=False, top=(),
                 ssh_extra=(), env=None, **cfg):
        workdir = Path(workdir)
        self.env_extra = dict(env or {})
        workdir.mkdir(parents=True, exist_ok=True)
        self.with_http = with_http
        self.top = list(top)
        self.ssh_extra = list(ssh_extra)
        self.token = secrets.token_urlsafe(24)  # 32 printable characters
        self.token_file = workdir / "admin.token"
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (self.token + "\n").encode())
        os.close(fd)
        os.chmod(self.token_file, 0o600)
        super().__init__(binary, workdir, pool, backends, http=None, **cfg)

    def config_lines(self, backends=None):
        if self.with_http:
            lines = make_http_config(listen_port=self.port, admin_port=self.admin_port,
                                     state_dir=str(self.state_dir), backends=[],
                                     http_port=self.http_port, **self.cfg)
        else:
            lines = make_config(listen_port=self.port, admin_port=self.admin_port,
                                state_dir=str(self.state_dir), backends=[], **self.cfg)
        i = next(k for k, l in enumerate(lines) if l.startswith("admin = {"))
        lines[i] = 'admin = { listen = "127.0.0.1:%d"; token_file = "%s"; };' % (
            self.admin_port, self.token_file)
        # make_config ends with "backends = (" ");" -- ours replace them
        assert lines[-2:] == ["backends = (", ");"], lines[-2:]
        del lines[-2:]
        svc = next(k for k, l in enumerate(lines) if 'name = "ssh"' in l)
        lines[svc + 1:svc + 1] = ["    " + l for l in self.ssh_extra]
        j = lines.index("services = (")
        lines[j:j] = self.top
        be = self.backends if backends is None else backends
        lines.append("backends = (")
        for k, b in enumerate(be):
            name, addr = b[0], b[1]
            extra = " max_sessions = %d;" % b[2] if len(b) > 2 else ""
            lines.append('  { name = "%s"; address = "%s";%s }%s' % (
                name, addr, extra, "," if k + 1 < len(be) else ""))
        lines.append(");")
        return lines

    def start(self, wait=True):
        env = dict(os.environ)
        env.update(self.env_extra)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready()
        return self

    def restart(self):
        self.stop()
        self.stopped_on_purpose = False
        return self.start()

    # admin API
    def api(self, method, path, body=None, auth=True, content_type="application/json"):
        """Returns (status, headers, parsed JSON or text). auth: True (the
        right token), None (no Authorization header) or a header value."""
        headers = {}
        if auth is True:
            headers["Authorization"] = "Bearer " + self.token
        elif auth is not None:
            headers["Authorization"] = auth
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if method in ("GET", "HEAD"):
            data = None
        req = urllib.request.Request(self.url("/api/v1/" + path.lstrip("/")), data=data,
                                     method=method, headers=headers)
        try:
            with _OPENER.open(req, timeout=10) as r:
                code, hdrs, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            code, hdrs, raw = e.code, e.headers, e.read()
        text = raw.decode("utf-8", "replace")
        try:
            return code, hdrs, json.loads(text)
        except ValueError:
            return code, hdrs, text

    def api_ok(self, method, path, body=None, want=(200,)):
        code, _, js = self.api(method, path, body)
        assert code in want, "%s /api/v1/%s %s: %d %s" % (
            method, path, json.dumps(body) if body is not None else "", code, js)
        return js

    def api_backend(self, name):
        """The VM as GET /api/v1/backends/NAME shows it, or None (404)."""
        code, _, js = self.api("GET", "backends/" + name, auth=None)
        if code == 404:
            return None
        assert code == 200, "GET /api/v1/backends/%s: %d %s" % (name, code, js)
        return js

    def names(self, st=None):
        st = st if st is not None else self.status()
        return sorted(b["name"] for b in st["backends"])

    def find(self, st, name):
        for b in st["backends"]:
            if b["name"] == name:
                return b
        return None


@pytest.fixture
def ops_poolgate(pool, tmp_path):
    """Factory like new_poolgate for OpsPoolgate."""
    yield from poolgate_factory(OpsPoolgate, pool, tmp_path, "opg")


class Sessions:
    """Held sessions of one test, all closed at the end."""

    def __init__(self, pg):
        self.pg = pg
        self.all = []

    def open(self, src=None):
        s = self.pg.session(src or fresh_addr())
        self.all.append(s)
        return s

    def open_until_on(self, vm, tries=4):
        """Opens held sessions from fresh addresses until one lands on vm."""
        for _ in range(tries):
            s = self.open()
            if s.vm == vm:
                return s
        raise AssertionError("%d new sessions, none on %s: %s" % (
            tries, vm, [x.vm for x in self.all]))

    def close(self):
        for s in self.all:
            s.close()


def _finish_ok(s, expect_lines):
    rc, lines = s.finish()
    assert rc == 0, "session from %s on %s ended with %s: %s" % (s.src, s.vm, rc, lines)
    assert lines == expect_lines, "session from %s on %s printed %s, want %s" % (
        s.src, s.vm, lines, expect_lines)


def _ssh_fails(pg, src, timeout=60):
    p = subprocess.run(pg.ssh_argv(src, 'echo "$DSVM_NAME"', ["-o", "ConnectTimeout=30"]),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    return p


# ------------------------------------------------------------------ (1) drain

def test_drain_keeps_session_and_affinity_ready_brings_vm_back(ops_poolgate, pool):
    pg = ops_poolgate()
    pg.wait_all_up()
    ss = Sessions(pg)
    try:
        a = ss.open()
        x = a.vm
        js = pg.api_ok("POST", "backends/%s/drain" % x)
        assert js.get("admin") == "drain" and js.get("state") == "drain", (
            "POST drain %s answered %s" % (x, js))
        pg.wait_states({x: "drain"})
        a.echo("after drain")

        # x holds 1 session, the others 0. Five new held sessions: with x
        # taking new ones, least-load would have to give it at least one.
        new = [ss.open() for _ in range(5)]
        landed = [s.vm for s in new]
        assert x not in landed, "new sessions went to draining %s: %s" % (x, landed)

        # The address with a live session on x still gets x.
        back = ss.open(a.src)
        assert back.vm == x, ("reconnect from %s (session open on draining %s) went to %s"
                              % (a.src, x, back.vm))
        assert pg.login(a.src) == x
        a.echo("still alive")
        _finish_ok(a, [x, "after drain", "still alive"])
        _finish_ok(back, [x])
        pg.wait_status(lambda st: pg.backend(st, x)["sessions"] == 0,
                       "no session left on %s" % x)
        # No live session any more, but within affinity.ttl: still x.
        assert pg.login(a.src) == x, "return within affinity.ttl did not go to draining vm"
        st = pg.status()
        assert pg.backend(st, x)["state"] == "drain", pg.backend(st, x)

        # ready: x (0 sessions; the others hold the five) takes new logins.
        js = pg.api_ok("POST", "backends/%s/ready" % x)
        assert js.get("admin") == "ready", js
        pg.wait_states({x: "up"})
        c = ss.open()
        assert c.vm == x, ("after ready, a new session went to %s; %s has no session and "
                           "the others hold %s" % (c.vm, x, landed))

        # maint: nothing new, not even the address with affinity to x; the
        # open session c runs on.
        js = pg.api_ok("POST", "backends/%s/maint" % x)
        assert js.get("admin") == "maint" and js.get("state") == "maint", js
        pg.wait_states({x: "maint"})
        got = pg.login(a.src)
        assert got != x, "in maint, %s still took %s's return (affinity)" % (x, a.src)
        got = pg.login(c.src)
        assert got != x, "in maint, %s still took a return from %s (open session)" % (
            x, c.src)
        c.echo("during maint")
        pg.api_ok("POST", "backends/%s/ready" % x)
        pg.wait_states({x: "up"})
        for s in [c] + new:
            s.echo("end")
    finally:
        ss.close()


# ------------------------------------------------------------------ (2) delete, auth

def test_delete_drains_then_forgets_and_api_needs_token(ops_poolgate, pool):
    addr = dict(pool.backends())
    pg = ops_poolgate(backends=pool.backends(["vm1", "vm2"]))
    pg.wait_all_up(["vm1", "vm2"])

    # Reading needs no token.
    code, _, js = pg.api("GET", "backends", auth=None)
    assert code == 200, (code, js)
    assert sorted(b["name"] for b in js["backends"]) == ["vm1", "vm2"], js
    for b in js["backends"]:
        for key in ("name", "address", "state", "admin", "agent_admin", "source",
                    "removed", "weight", "max_sessions", "sessions", "load", "agent",
                    "health"):
            assert key in b, "GET /api/v1/backends: %s lacks %r" % (b, key)
        assert b["source"] == "configuration file" and b["admin"] == "ready", b
        assert b["health"]["ssh"]["up"] is True, b

    # Writing without the right token is refused and changes nothing.
    right = pg.token
    wrong_same_len = right[:-1] + ("A" if right[-1] != "A" else "B")
    refusals = [
        ("PUT", "backends/vm3", {"address": addr["vm3"]}, None, 401),
        ("POST", "backends/vm1/drain", None, None, 401),
        ("DELETE", "backends/vm1", None, None, 401),
        ("PUT", "backends/vm3", {"address": addr["vm3"]}, "Basic " + right, 401),
        ("PUT", "backends/vm3", {"address": addr["vm3"]}, "Bearer ", 401),
        ("PUT", "backends/vm3", {"address": addr["vm3"]}, "Bearer wrong-token", 403),
        ("PUT", "backends/vm3", {"address": addr["vm3"]}, "Bearer " + wrong_same_len, 403),
        ("POST", "backends/vm1/drain", None, "Bearer " + wrong_same_len, 403),
        ("POST", "backends/vm1/maint", None, "Bearer " + right + "x", 403),
        ("POST", "backends/vm1/drain", None, "Bearer " + right[:-1], 403),
        ("DELETE", "backends/vm2", None, "Bearer " + wrong_same_len, 403),
    ]
    for method, path, body, auth, want in refusals:
        code, hdrs, js = pg.api(method, path, body, auth=auth)
        assert code == want, "%s %s with Authorization %r: %d %s (want %d)" % (
            method, path, auth, code, js, want)
        if want == 401:
            assert "Bearer" in (hdrs.get("WWW-Authenticate") or ""), (
                "401 without WWW-Authenticate: Bearer: %s" % dict(hdrs))
    st = pg.status()
    assert pg.names(st) == ["vm1", "vm2"], "a refused call changed the pool: %s" % st
    for n in ("vm1", "vm2"):
        b = pg.api_backend(n)
        assert b["admin"] == "ready" and b["removed"] is False, b

    # VMs of the configuration file: drain/ready yes, PUT/DELETE no.
    for method, body in (("PUT", {"address": addr["vm1"], "weight": 2}), ("DELETE", None)):
        code, _, js = pg.api(method, "backends/vm1", body)
        assert code == 409 and "configuration file" in json.dumps(js), (
            "%s of config VM vm1: %d %s" % (method, code, js))

    # An API VM: created down, up once its checks pass.
    code, hdrs, js = pg.api("PUT", "backends/vm3",
                            {"address": addr["vm3"], "weight": 1, "max_sessions": 0})
    assert code == 201, "PUT vm3: %d %s" % (code, js)
    assert js["state"] == "down" and js["source"] == "admin API", (
        "a new VM must start down until its checks pass: %s" % js)
    assert (hdrs.get("Location") or "").endswith("/api/v1/backends/vm3"), dict(hdrs)
    pg.wait_states({"vm3": "up"})

    ss = Sessions(pg)
    try:
        held = ss.open_until_on("vm3")
        held.echo("before delete")
        code, _, js = pg.api("DELETE", "backends/vm3")
        assert code == 202, "DELETE vm3: %d %s" % (code, js)
        assert js.get("removed") is True, js
        st = pg.wait_states({"vm3": "drain"}, timeout=5)
        b = pg.backend(st, "vm3")
        assert b["removed"] is True and b["sessions"] == 1, b
        held.echo("after delete")
        more = [ss.open() for _ in range(3)]
        assert "vm3" not in [s.vm for s in more], (
            "new sessions went to deleted vm3: %s" % [s.vm for s in more])
        time.sleep(2.5)  # several ticks: a VM with a session is not forgotten
        st = pg.status()
        b = pg.find(st, "vm3")
        assert b is not None, "vm3 forgotten while its session is still open: %s" % st
        assert b["state"] == "drain" and b["removed"] is True, b
        js = pg.api_backend("vm3")
        assert js is not None and js["removed"] is True, js
        held.echo("still open")
        _finish_ok(held, ["vm3", "before delete", "after delete", "still open"])
        pg.wait_status(lambda s: pg.find(s, "vm3") is None,
                       "vm3 gone from /status after its last session ended", timeout=10)
        assert pg.api_backend("vm3") is None, "GET vm3 after it was forgotten is not 404"
        code, _, js = pg.api("DELETE", "backends/vm3")
        assert code == 404, "DELETE of a forgotten VM: %d %s" % (code, js)
        for s in more:
            s.echo("unaffected")
    finally:
        ss.close()


# ------------------------------------------------------------------ (3) membership

def _write_backends_file(path, lines):
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(l + "\n" for l in lines))
    os.replace(tmp, path)


def test_backends_file_adds_and_removes_without_dropping_a_session(ops_poolgate, pool,
                                                                    tmp_path):
    addr = dict(pool.backends())
    bfile = tmp_path / "backends"
    _write_backends_file(bfile, ["# discovered VMs", "vm1 %s" % addr["vm1"],
                                 "vm2\t%s  1  # comment" % addr["vm2"]])
    pg = ops_poolgate(backends=[], rise=2,
                      top=['discovery = { file = "%s"; refresh = "1s"; };' % bfile])
    pg.wait_status(lambda st: {"vm1", "vm2"} <= set(pg.names(st)),
                   "vm1 and vm2 from the backends file listed in /status", timeout=20)
    pg.wait_states({"vm1": "up", "vm2": "up"}, timeout=20)
    b = pg.api_backend("vm1")
    assert b["source"] == "discovery file", b
    code, _, js = pg.api("PUT", "backends/vm1", {"address": addr["vm1"], "weight": 5})
    assert code == 409, "PUT on a VM of the backends file: %d %s" % (code, js)

    ss = Sessions(pg)
    try:
        held = ss.open()
        x = held.vm
        other = "vm2" if x == "vm1" else "vm1"
        held.echo("before")

        # Add vm3 (weight 2): listed down first, then up.
        _write_backends_file(bfile, ["vm1 %s" % addr["vm1"], "vm2 %s" % addr["vm2"],
                                     "vm3 %s 2" % addr["vm3"]])
        first = []

        def has_vm3(st):
            b = pg.find(st, "vm3")
            if b is not None and not first:
                first.append(b["state"])
            return b is not None
        pg.wait_status(has_vm3, "vm3 listed after it was added to the file", poll=0.05,
                       timeout=15)
        assert first[0] == "down", "new vm3 was %r when first listed" % first[0]
        pg.wait_states({"vm3": "up"})
        b = pg.api_backend("vm3")
        assert b["weight"] == 2 and b["address"] == addr["vm3"], b
        held.echo("after add")

        # A file with a bad line is refused whole: nothing changes.
        off = pg.log_size()
        _write_backends_file(bfile, ["vm3 %s" % addr["vm3"], "this line is not valid"])
        time.sleep(3)
        st = pg.status()
        assert pg.names(st) == ["vm1", "vm2", "vm3"], st
        assert all(not b["removed"] for b in st["backends"]), (
            "a backends file with a bad line was applied: %s" % st["backends"])
        assert str(bfile) in pg.log_since(off), (
            "the refused backends file is not named in the log:\n%s" % pg.log_since(off))

        # Remove x (which holds the session): it drains, the session runs on.
        _write_backends_file(bfile, ["%s %s" % (other, addr[other]), "vm3 %s" % addr["vm3"]])
        st = pg.wait_states({x: "drain"}, timeout=15)
        assert pg.backend(st, x)["removed"] is True, pg.backend(st, x)
        held.echo("after remove")
        landed = [pg.login(fresh_addr()) for _ in range(4)]
        assert x not in landed, "logins went to removed %s: %s" % (x, landed)
        time.sleep(2.5)
        assert pg.find(pg.status(), x) is not None, "%s forgotten with a session open" % x
        _finish_ok(held, [x, "before", "after add", "after remove"])
        pg.wait_status(lambda s: pg.find(s, x) is None,
                       "%s forgotten after its last session ended" % x, timeout=10)
        assert pg.names() == sorted([other, "vm3"])
    finally:
        ss.close()


def test_api_membership_and_operator_state_survive_restart(ops_poolgate, pool):
    addr = dict(pool.backends())
    pg = ops_poolgate(backends=pool.backends(["vm1", "vm2"]))
    pg.wait_all_up(["vm1", "vm2"])
    ss = Sessions(pg)
    try:
        held = ss.open()
        held.echo("one")
        js = pg.api_ok("PUT", "backends/vm3", {"address": addr["vm3"]}, want=(201,))
        assert js["weight"] == 1 and js["max_sessions"] == 0, js
        pg.wait_states({"vm3": "up"})
        held.echo("two")
        js = pg.api_ok("PUT", "backends/vm3", {"weight": 3, "max_sessions": 7}, want=(200,))
        assert (js["weight"], js["max_sessions"], js["address"]) == (3, 7, addr["vm3"]), js
        pg.api_ok("POST", "backends/vm1/drain")
        held.echo("three")
        _finish_ok(held, [held.vm, "one", "two", "three"])
    finally:
        ss.close()
    assert (pg.state_dir / "backends.state").is_file(), (
        "no backends.state in %s: %s" % (pg.state_dir, os.listdir(pg.state_dir)))

    pg.restart()
    b = pg.api_backend("vm3")
    assert b is not None, "API-added vm3 not restored after a restart: %s" % pg.status()
    assert (b["source"], b["address"], b["weight"], b["max_sessions"]) == (
        "admin API", addr["vm3"], 3, 7), b
    b1 = pg.api_backend("vm1")
    assert b1["admin"] == "drain", "vm1's drain not restored after a restart: %s" % b1
    pg.wait_states({"vm1": "drain", "vm2": "up", "vm3": "up"})
    landed = [pg.login(fresh_addr()) for _ in range(3)]
    assert "vm1" not in landed and "vm3" in landed, (
        "after restart (vm1 drained, vm3 restored) logins went to %s" % landed)

    # Removal and ready are remembered as well.
    code, _, js = pg.api("DELETE", "backends/vm3")
    assert code == 202, (code, js)
    pg.wait_status(lambda s: pg.find(s, "vm3") is None, "vm3 forgotten (no session)")
    pg.api_ok("POST", "backends/vm1/ready")
    pg.restart()
    assert pg.api_backend("vm3") is None, "deleted vm3 came back after a restart"
    assert pg.api_backend("vm1")["admin"] == "ready"
    pg.wait_states({"vm1": "up", "vm2": "up"})


DNSSTUB = Path(__file__).resolve().parent / "dnsstub.py"


class DnsStub:
    """tests/integration/dnsstub.py answering NAME from a JSON file."""

    def __init__(self, tmp_path, name, a):
        self.records = tmp_path / "dns-records.json"
        self.log = tmp_path / "dnsstub.log"
        self.set({"A": list(a)})
        if not DNSSTUB.is_file():
            pytest.fail("%s not found" % DNSSTUB, pytrace=False)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(DNSSTUB), "--name", name, "--records",
             str(self.records), "--listen", "127.0.0.53:0", "--log", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().strip()
        m = re.fullmatch(r"listening (127\.0\.0\.53:\d+)", line)
        if not m:
            self.stop()
            raise AssertionError("dnsstub did not start: %r %s" % (
                line, self.proc.stderr.read().decode(errors="replace")))
        self.server = m.group(1)

    def set(self, conf):
        tmp = self.records.with_suffix(".tmp")
        tmp.write_text(json.dumps(conf))
        os.replace(tmp, self.records)

    def queries(self):
        try:
            return self.log.read_text()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()


def _dns_name(address):
    return "dns-" + address.replace(".", "-")


def test_dns_discovery_adds_and_removes_without_dropping_a_session(ops_poolgate, pool,
                                                                     tmp_path):
    addr = dict(pool.backends())
    dn = {vm: _dns_name(a) for vm, a in addr.items()}
    stub = DnsStub(tmp_path, "pool.test", [addr["vm1"], addr["vm2"]])
    ss = None
    try:
        pg = ops_poolgate(backends=[], rise=2, env={"POOLGATE_DNS_SERVER": stub.server},
                          top=['discovery = { dns = "pool.test"; refresh = "1s"; };'])

        def listed(st):
            return {dn["vm1"], dn["vm2"]} <= set(pg.names(st))
        try:
            pg.wait_status(listed, "%s and %s from DNS listed in /status" % (
                dn["vm1"], dn["vm2"]), timeout=20)
        except AssertionError as e:
            raise AssertionError("%s\ndnsstub queries:\n%s" % (e, stub.queries()))
        pg.wait_states({dn["vm1"]: "up", dn["vm2"]: "up"}, timeout=20)
        b = pg.api_backend(dn["vm1"])
        assert b["source"] == "DNS discovery" and b["address"] == addr["vm1"], b

        ss = Sessions(pg)
        held = ss.open()
        # The VM prints its own name (vmK); poolgate calls it dns-10-231-0-(10+K).
        x = held.vm
        xd = dn[x]
        other = "vm2" if x == "vm1" else "vm1"
        held.echo("before")

        # A third A record: a new VM, down first, then up.
        stub.set({"A": [addr["vm1"], addr["vm2"], addr["vm3"]]})
        first = []

        def has_vm3(st):
            b = pg.find(st, dn["vm3"])
            if b is not None and not first:
                first.append(b["state"])
            return b is not None
        pg.wait_status(has_vm3, "%s listed after its A record appeared" % dn["vm3"],
                       poll=0.05, timeout=15)
        assert first[0] == "down", "new %s was %r when first listed" % (dn["vm3"], first[0])
        pg.wait_states({dn["vm3"]: "up"})
        held.echo("after add")

        # A failing or empty answer keeps the set.
        for conf in ({"rcode": "SERVFAIL"}, {"A": []}, {"rcode": "NXDOMAIN"}):
            stub.set(conf)
            time.sleep(2.5)
            st = pg.status()
            assert pg.names(st) == sorted(dn.values()) and not any(
                b["removed"] for b in st["backends"]), (
                "DNS answer %s changed the pool: %s" % (conf, st["backends"]))

        # x's record goes away: it drains, the session runs on, then it is forgotten.
        stub.set({"A": [addr[other], addr["vm3"]]})
        st = pg.wait_states({xd: "drain"}, timeout=15)
        assert pg.backend(st, xd)["removed"] is True, pg.backend(st, xd)
        held.echo("after remove")
        landed = [pg.login(fresh_addr()) for _ in range(4)]
        assert x not in landed, "logins went to %s after its record went away: %s" % (
            x, landed)
        time.sleep(2.5)
        assert pg.find(pg.status(), xd) is not None, "%s forgotten with a session open" % xd
        _finish_ok(held, [x, "before", "after add", "after remove"])
        pg.wait_status(lambda s: pg.find(s, xd) is None,
                       "%s forgotten after its last session ended" % xd, timeout=10)
        assert pg.names() == sorted([dn[other], dn["vm3"]])
    finally:
        if ss is not None:
            ss.close()
        stub.stop()


# ------------------------------------------------------------------ (4) agent

AGENT_PY = r'''
import os, socket, sys
addr, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(64)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    try:
        with open(path, "rb") as f:
            c.sendall(f.read())
    except OSError:
        pass
    finally:
        c.close()
'''

AGENT_PORT = 9101


class Agent:
    """A one-line agent in a VM's namespace answering the content of a file."""

    def __init__(self, tmp_path, vm, address, reply):
        self.reply_path = tmp_path / ("agent-%s.reply" % vm)
        self.set(reply)
        script = tmp_path / "agent.py"
        script.write_text(AGENT_PY)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", "pg-" + vm, "/usr/bin/python3", str(script), address,
             str(AGENT_PORT), str(self.reply_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if line.strip() != b"listening":
            self.stop()
            raise AssertionError("agent in pg-%s did not start: %r %s" % (
                vm, line, self.proc.stderr.read().decode(errors="replace")))

    def set(self, reply):
        tmp = self.reply_path.with_suffix(".tmp")
        tmp.write_text(reply + "\n")
        os.replace(tmp, self.reply_path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def test_agent_drain_weight_ready_maint(ops_poolgate, pool, tmp_path):
    vm = "vm2"
    agent = Agent(tmp_path, vm, pool.address(vm), "ready up")
    ss = None
    try:
        pg = ops_poolgate(top=['agent = { port = %d; interval = "500ms"; timeout = "400ms"; };'
                               % AGENT_PORT])
        pg.wait_all_up()

        def wait_agent(pred, what, timeout=10):
            deadline = time.monotonic() + timeout
            while True:
                b = pg.api_backend(vm)
                if pred(b):
                    return b
                if time.monotonic() > deadline:
                    raise AssertionError("timed out waiting for %s; %s is %s" % (what, vm, b))
                time.sleep(0.1)

        b = wait_agent(lambda b: "ready" in b["agent"], "the agent's first reply")
        assert b["agent_admin"] == "ready" and b["state"] == "up", b
        for other in ("vm1", "vm3"):  # no agent there: no effect
            assert pg.api_backend(other)["state"] == "up"

        ss = Sessions(pg)
        a = ss.open_until_on(vm)

        agent.set("drain")
        b = wait_agent(lambda b: b["agent_admin"] == "drain", "agent drain")
        assert b["state"] == "drain" and b["admin"] == "ready", b
        a.echo("agent said drain")
        new = [ss.open() for _ in range(5)]
        assert vm not in [s.vm for s in new], (
            "new sessions went to %s while its agent says drain: %s" % (
                vm, [s.vm for s in new]))
        back = ss.open(a.src)
        assert back.vm == vm, "return from %s (session on %s) went to %s during agent drain" % (
            a.src, vm, back.vm)

        # A weight alone does not end the agent's drain (HAProxy semantics).
        agent.set("50%")
        b = wait_agent(lambda b: b["effective_weight_pct"] == 50, "effective weight 50%")
        assert b["agent_admin"] == "drain" and b["state"] == "drain", (
            "after '50%%' the agent's drain must persist until it says ready: %s" % b)
        assert b["weight"] == 1, b
        assert pg.login(fresh_addr()) != vm

        agent.set("ready")
        b = wait_agent(lambda b: b["agent_admin"] == "ready", "agent ready")
        pg.wait_states({vm: "up"})
        # vm2 empty again, the others hold the five: the next session is vm2's.
        _finish_ok(a, [vm, "agent said drain"])
        _finish_ok(back, [vm])
        pg.wait_status(lambda st: pg.backend(st, vm)["sessions"] == 0, "%s empty" % vm)
        c = ss.open()
        assert c.vm == vm, "after the agent said ready, a new session went to %s" % c.vm

        agent.set("maint")
        b = wait_agent(lambda b: b["agent_admin"] == "maint", "agent maint")
        pg.wait_states({vm: "maint"})
        assert pg.login(c.src) != vm, "agent maint: a returning client still got %s" % vm
        assert pg.login(fresh_addr()) != vm
        c.echo("open session survives maint")
        for s in new:
            s.echo("end")
    finally:
        if ss is not None:
            ss.close()
        agent.stop()


def test_real_agent_in_a_vm_drives_drain_and_reports(ops_poolgate, pool, tmp_path,
                                                      vm_agent):
    """The C agent (agent/), run in vm3 as on a VM: poolgate's agent check
    reads its line on the one port (drain file present -> the VM drains;
    removed -> ready again), and GET /v1/report on the same port answers its
    JSON report (version 1, drain, the logged-in users)."""
    vm = "vm3"
    drain = tmp_path / "drain"
    agent = vm_agent(vm, extra=['drain_file = "%s";' % drain])
    assert agent.port == AGENT_PORT
    pg = ops_poolgate(top=['agent = { port = %d; interval = "1s"; timeout = "900ms"; };'
                           % AGENT_PORT])
    pg.wait_all_up()

    def wait_agent(pred, what, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            b = pg.api_backend(vm)
            if pred(b):
                return b
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s; %s is %s" % (what, vm, b))
            time.sleep(0.1)

    b = wait_agent(lambda b: "ready" in b["agent"], "the real agent's first line")
    assert b["state"] == "up", b
    drain.write_text("")
    b = wait_agent(lambda b: b["agent_admin"] == "drain", "the drain file to drain it")
    assert b["state"] == "drain", b
    assert pg.login(fresh_addr()) != vm, "a new login went to the drained VM"
    drain.unlink()
    wait_agent(lambda b: b["agent_admin"] == "ready", "ready once the file is gone")
    pg.wait_states({vm: "up"})

    # The report, on the same port, over HTTP/1.1.
    rep = agent.report()
    assert rep["version"] == 1 and rep["drain"] is False, rep
    assert isinstance(rep["users"], list) and "load_pct" in rep, rep
    assert rep["host"] == vm, rep


def _vm_ssh(pool, vm, *args, timeout=60):
    """ssh to the VM itself (its real sshd, the pool's client config)."""
    return subprocess.run(["ssh", "-F", pool.ssh_config, "pgtest@" + pool.address(vm)]
                          + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def _pgtest_work(agent, rep):
    u = agent.user(rep, "pgtest")
    return (u["processes"], sorted(u["work"])) if u else (0, [])


def _pgtest_sessions(rep):
    return [s for s in rep["sessions"] if s["user"] == "pgtest"]


def test_agent_in_each_vm_sees_only_that_vms_work(pool, vm_agent):
    """Each VM has its own processes and utmp (tests/pool/pool): the real
    agent in vm1 sees a detached `nohup sleep` and an interactive login made
    over SSH on vm1, the agent in vm2 sees neither, and once the sleep is
    killed vm1's report is idle again within two agent intervals."""
    a1, a2 = vm_agent("vm1"), vm_agent("vm2")
    for a in (a1, a2):
        a.wait_report(lambda r: r["idle"] and not _pgtest_sessions(r),
                      "%s idle before the test" % a.vm)

    # Detached work: the SSH session ends, the sleep lives on in vm1.
    p = _vm_ssh(pool, "vm1", "nohup sleep 600 >/dev/null 2>&1 & echo pid=$!; hostname")
    assert p.returncode == 0, p.stdout
    m = re.search(r"pid=(\d+)\s+vm1\s*$", p.stdout)
    assert m, "ssh vm1: %r" % p.stdout
    sleep_pid = int(m.group(1))
    rep1 = a1.wait_report(lambda r: _pgtest_work(a1, r) == (1, ["processes"]) and
                          not _pgtest_sessions(r), "pgtest's sleep alone, no session")
    assert rep1["idle"] is False and rep1["users_with_work"] == 1, rep1
    rep2 = a2.report()
    assert a2.user(rep2, "pgtest") is None and rep2["idle"] is True, rep2

    # An interactive login on vm1: a session there (a utmp record on a pty).
    login = subprocess.Popen(["ssh", "-tt", "-F", pool.ssh_config,
                              "pgtest@" + pool.address("vm1")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    try:
        rep1 = a1.wait_report(lambda r: _pgtest_sessions(r), "pgtest's login on vm1",
                              timeout=30)
        (s,) = _pgtest_sessions(rep1)
        assert s["tty"] and s["tty"].startswith("pts/"), s
        assert s["remote"] == pool.state["bridge_address"], s
        assert "session" in a1.user(rep1, "pgtest")["work"], rep1["users"]
        rep2 = a2.report()
        assert not _pgtest_sessions(rep2) and a2.user(rep2, "pgtest") is None, rep2
        assert rep2["idle"] is True, rep2
        login.stdin.write(b"exit\n")
        login.stdin.flush()
        login.wait(timeout=30)
    finally:
        if login.poll() is None:
            login.kill()
            login.wait()
    a1.wait_report(lambda r: not _pgtest_sessions(r) and
                   _pgtest_work(a1, r) == (1, ["processes"]), "the logout on vm1")

    # The sleep ends: idle within two intervals.
    p = _vm_ssh(pool, "vm1", "kill %d" % sleep_pid)
    assert p.returncode == 0, p.stdout
    t0 = time.monotonic()
    rep1 = a1.wait_report(lambda r: r["idle"], "vm1 idle after the kill", timeout=10)
    took = time.monotonic() - t0
    assert a1.user(rep1, "pgtest") is None and rep1["users_with_work"] == 0, rep1
    assert took <= 2 * a1.interval_s, "vm1 idle only %.1fs after the kill" % took
    assert a2.report()["idle"] is True


# ------------------------------------------------------------------ (5) hooks

HOOK_PY = r'''#!/usr/bin/python3
import json, os, subprocess, sys, time
REC = %(rec)r
WAKE = %(wake)r
rec = {"argv": sys.argv, "t": time.time(),
       "env": {k: v for k, v in os.environ.items() if k.startswith("POOLGATE_")}}
fd = os.open(REC, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, (json.dumps(rec) + "\n").encode())
os.close(fd)
if WAKE and len(sys.argv) > 1 and sys.argv[1] == "no_capacity":
    try:
        os.close(os.open(REC + ".woken", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        sys.exit(0)
    log = open(REC + ".wake.log", "ab")
    subprocess.Popen(WAKE, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                     start_new_session=True, close_fds=True)
print("hook recorded", sys.argv[1:])
'''


class HookRecord:
    def __init__(self, tmp_path, wake=None):
        self.path = tmp_path / "hook-events.jsonl"
        self.script = tmp_path / "hook.py"
        self.script.write_text(HOOK_PY % {"rec": str(self.path), "wake": wake})
        os.chmod(self.script, 0o755)

    def config(self, idle_grace="2s", headroom=1):
        return ('hooks = { command = "%s"; timeout = "5s"; idle_grace = "%s"; headroom = %d; };'
                % (self.script, idle_grace, headroom))

    def events(self):
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # a line being written
        return out

    @staticmethod
    def name(e):
        return (e["argv"][1] if len(e["argv"]) > 1 else None,
                e["argv"][2] if len(e["argv"]) > 2 else None)

    def wait(self, event, backend, since=0, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events()
            for i, e in enumerate(evs[since:], since):
                if self.name(e) == (event, backend):
                    return i, e
            if time.monotonic() > deadline:
                raise AssertionError("hook event %s %r not recorded within %ss after #%d; "
                                     "recorded: %s" % (event, backend, timeout, since,
                                                       self.summary()))
            time.sleep(0.1)

    def summary(self, since=0):
        return ["%d:%s %s" % ((i,) + self.name(e)) for i, e in enumerate(self.events())
                if i >= since]

    def between(self, event, backend, start, end=None):
        evs = self.events()[start:end]
        return [e for e in evs if self.name(e) == (event, backend)]


def _check_env(e, event, backend, address=None, **want):
    env = e["env"]
    assert env.get("POOLGATE_EVENT") == event, e
    assert env.get("POOLGATE_BACKEND") == backend, e
    for k in ("POOLGATE_ADDRESS", "POOLGATE_SESSIONS", "POOLGATE_POOL_SESSIONS",
              "POOLGATE_FREE_SLOTS", "POOLGATE_UP_COUNT"):
        assert k in env, "hook %s %s: no %s in its environment: %s" % (event, backend, k, env)
    if address is not None:
        assert env["POOLGATE_ADDRESS"] == address, e
    for k, v in want.items():
        assert env.get("POOLGATE_" + k.upper()) == str(v), (
            "hook %s %s: POOLGATE_%s=%r, want %r; env %s" % (
                event, backend or "-", k.upper(), env.get("POOLGATE_" + k.upper()), v, env))


def test_hooks_report_each_event_with_environment(ops_poolgate, pool, tmp_path):
    rec = HookRecord(tmp_path)
    addr = dict(pool.backends())
    pg = ops_poolgate(backends=[("vm1", addr["vm1"], 1), ("vm2", addr["vm2"], 1)],
                      top=[rec.config(idle_grace="2s", headroom=1)])
    pg.wait_all_up(["vm1", "vm2"])

    # vm_up for both, then (unused, pool empty: spared) vm_idle after idle_grace.
    for vm in ("vm1", "vm2"):
        _, e = rec.wait("vm_up", vm)
        _check_env(e, "vm_up", vm, addr[vm], sessions=0, pool_sessions=0)
        assert e["argv"][0] == str(rec.script), e
    _, e = rec.wait("vm_up", "vm2")
    _, e1 = rec.wait("vm_up", "vm1")
    assert max(int(e["env"]["POOLGATE_UP_COUNT"]), int(e1["env"]["POOLGATE_UP_COUNT"])) == 2, (
        e, e1)
    for vm in ("vm1", "vm2"):
        _, e = rec.wait("vm_idle", vm, timeout=10)
        _check_env(e, "vm_idle", vm, addr[vm], sessions=0, pool_sessions=0)
    start_events = len(rec.events())

    ss = Sessions(pg)
    try:
        s1 = ss.open()
        x = s1.vm
        y = "vm2" if x == "vm1" else "vm1"
        _, e = rec.wait("vm_busy", x, since=start_events)
        _check_env(e, "vm_busy", x, addr[x], sessions=1, pool_sessions=1, free_slots=1)
        assert not rec.between("capacity_low", "", 0), (
            "capacity_low with a free slot left: %s" % rec.summary())

        s2 = ss.open()
        assert s2.vm == y, "vm %s is full (max_sessions 1); second session went to %s" % (
            x, s2.vm)
        _, e = rec.wait("vm_busy", y, since=start_events)
        _check_env(e, "vm_busy", y, addr[y], sessions=1, pool_sessions=2)
        _, e = rec.wait("capacity_low", "", since=start_events)
        _check_env(e, "capacity_low", "", pool_sessions=2, free_slots=0)

        # A third login: no VM can take it (no queue): refused, no_capacity.
        mark = len(rec.events())
        p = _ssh_fails(pg, fresh_addr())
        assert p.returncode != 0, "a login with every VM full succeeded: %s" % p.stdout
        _, e = rec.wait("no_capacity", "", since=mark)
        _check_env(e, "no_capacity", "", pool_sessions=2, free_slots=0)
        if "POOLGATE_SERVICE" in e["env"]:
            assert e["env"]["POOLGATE_SERVICE"] == "ssh", e

        # x empties while y still holds a session: the pool cannot spare x
        # (free slots without it 0 < headroom 1): no vm_idle for x.
        _finish_ok(s1, [x])
        mark = len(rec.events())
        time.sleep(2 + 2.5)
        held_back = rec.between("vm_idle", x, mark)
        assert not held_back, ("vm_idle %s although the pool could not spare it "
                               "(y busy, headroom 1): %s" % (x, held_back))
        assert not rec.between("capacity_low", "", mark), (
            "capacity_low again without being re-armed: %s" % rec.summary(mark))

        # y empties too: x is reported at once, y after idle_grace.
        _finish_ok(s2, [y])
        t_close2 = time.monotonic()
        mark2 = len(rec.events())
        _, e = rec.wait("vm_idle", x, since=mark2, timeout=5)
        _check_env(e, "vm_idle", x, addr[x], sessions=0)
        _, e = rec.wait("vm_idle", y, since=mark2, timeout=10)
        _check_env(e, "vm_idle", y, addr[y], sessions=0, pool_sessions=0)
        took = time.monotonic() - t_close2
        assert took >= 1.5, "vm_idle %s %.1fs after its last session (idle_grace 2s)" % (
            y, took)
    finally:
        ss.close()

    # vm_down / vm_up on an operator drain and on a failed health check.
    mark = ops_mark = len(rec.events())
    pg.api_ok("POST", "backends/%s/drain" % y)
    _, e = rec.wait("vm_down", y, since=mark)
    _check_env(e, "vm_down", y, addr[y], up_count=1)
    pg.api_ok("POST", "backends/%s/ready" % y)
    _, e = rec.wait("vm_up", y, since=mark)
    _check_env(e, "vm_up", y, addr[y], up_count=2)

    mark = len(rec.events())
    try:
        pool.run("stop-sshd", y)
        _, e = rec.wait("vm_down", y, since=mark)
        _check_env(e, "vm_down", y, addr[y], up_count=1, sessions=0)
    finally:
        pool.run("start-sshd", y)
    _, e = rec.wait("vm_up", y, since=mark)
    _check_env(e, "vm_up", y, addr[y], up_count=2)

    # Checked last so the events above are tested whatever this says: a VM
    # that is merely full (max_sessions reached) is healthy; vm_down tells
    # an autoscaler the VM is lost, which must not happen for a busy VM.
    spurious = [e for e in rec.events()[start_events:ops_mark]
                if rec.name(e)[0] in ("vm_down", "vm_up")]
    assert not spurious, ("vm_down/vm_up while no VM lost its health or operator state "
                          "(only max_sessions was reached): %s" % [
                              (rec.name(e), e["env"]) for e in spurious])


# ------------------------------------------------------------------ (6) wake from zero

def _recv_all(sock, timeout):
    """Bytes received until EOF/reset or timeout; (data, how, seconds)."""
    sock.settimeout(timeout)
    t0 = time.monotonic()
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return data, "eof", time.monotonic() - t0
            data += chunk
            if b"\n" in data:
                return data, "line", time.monotonic() - t0
    except socket.timeout:
        return data, "timeout", time.monotonic() - t0
    except ConnectionResetError:
        return data, "reset", time.monotonic() - t0


def _raw_connect(pg, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect(("127.0.0.1", pg.port))
    return s


def test_wake_from_zero_login_waits_for_hook_started_vm(ops_poolgate, pool, tmp_path):
    wake = ["/bin/sh", "-c", "sleep 3; exec %s start-sshd vm1 --dir %s" % (POOL, pool.dir)]
    rec = HookRecord(tmp_path, wake=wake)
    addr = dict(pool.backends())
    stopped = ["vm1", "vm2"]
    raw = None
    try:
        for vm in stopped:
            pool.run("stop-sshd", vm)
        pg = ops_poolgate(backends=[("vm1", addr["vm1"]), ("vm2", addr["vm2"])],
                          top=[rec.config(idle_grace="10m", headroom=1)],
                          ssh_extra=['queue = { timeout = "20s"; max = 10; };'])
        time.sleep(2 * INTERVAL_MS / 1000.0 + 0.5)
        st = pg.status()
        assert all(b["state"] == "down" for b in st["backends"]), st["backends"]

        off = pg.log_size()
        t0 = time.monotonic()
        raw = _raw_connect(pg, fresh_addr())
        data, how, _ = _recv_all(raw, 2.0)
        assert how == "timeout" and data == b"", (
            "a login with no VM up got %r (%s) within 2s instead of being held" % (data, how))
        assert pg.wait_log(r"waiting \(\d+ in queue\)", offset=off, timeout=5), (
            "no 'waiting' line in the log:\n%s" % pg.log_since(off))
        _, e = rec.wait("no_capacity", "", timeout=5)
        _check_env(e, "no_capacity", "", up_count=0, free_slots=0)

        # A real SSH login meanwhile waits and completes once vm1 is up.
        s = pg.session(fresh_addr(), )
        took = time.monotonic() - t0
        try:
            assert s.vm == "vm1", s.vm
            s.echo("woken")
            _finish_ok(s, ["vm1", "woken"])
        finally:
            s.close()
        assert took < 20, "login completed after %.1fs, queue timeout is 20s" % took
        # The held raw connection got the VM too: its SSH banner.
        data, how, _ = _recv_all(raw, 10.0)
        assert data.startswith(b"SSH-2.0-"), (
            "held connection got %r (%s) after vm1 came up" % (data, how))
        assert pg.wait_log(r"a VM can take it after \d+ms in the queue", offset=off,
                           timeout=1)
        wake_log = Path(str(rec.path) + ".wake.log")
        assert pg.status() and pg.find(pg.status(), "vm1")["state"] == "up", (
            wake_log.read_text() if wake_log.exists() else "")
    finally:
        if raw is not None:
            raw.close()
        for vm in stopped:
            pool.run("start-sshd", vm)


def test_wake_from_zero_times_out_and_http_gets_starting_page(ops_poolgate, pool):
    addr = dict(pool.backends())
    stopped = ["vm1", "vm2"]
    ssh = raw = None
    try:
        for vm in stopped:
            pool.run("stop-sshd", vm)
        pg = ops_poolgate(backends=[("vm1", addr["vm1"]), ("vm2", addr["vm2"])],
                          with_http=True,
                          ssh_extra=['queue = { timeout = "5s"; max = 10; };'])
        time.sleep(2 * INTERVAL_MS / 1000.0 + 0.5)
        off = pg.log_size()

        # HTTP: no VM up, so 503 at once with the "starting a machine" page.
        t0 = time.monotonic()
        req = urllib.request.Request(pg.base_url + "/hub/login")
        try:
            with _OPENER.open(req, timeout=10) as r:
                code, hdrs, body = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            code, hdrs, body = e.code, e.headers, e.read()
        took = time.monotonic() - t0
        body = body.decode("utf-8", "replace")
        assert code == 503, "GET /hub/login with no VM up: %d %s" % (code, body[:300])
        assert took < 3, "the 503 took %.1fs" % took
        assert hdrs.get("Retry-After", "").strip().isdigit(), dict(hdrs)
        assert re.search(r"starting a machine", body, re.I), body

        # SSH: held (nothing sent), then closed at the 5 s queue timeout.
        ssh_src = fresh_addr()
        t0 = time.monotonic()
        ssh = subprocess.Popen(pg.ssh_argv(ssh_src, 'echo "$DSVM_NAME"',
                                           ["-o", "ConnectTimeout=60"]),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        raw = _raw_connect(pg, fresh_addr())
        data, how, secs = _recv_all(raw, 15.0)
        elapsed = time.monotonic() - t0
        assert data == b"", "held connection got %r before it was closed" % data
        assert how in ("eof", "reset"), "held connection not closed within 15s (%s)" % how
        assert 4.0 <= elapsed <= 5 + 3.5, (
            "held connection closed after %.1fs; queue timeout is 5s" % elapsed)
        out, err = ssh.communicate(timeout=15)
        ssh_took = time.monotonic() - t0
        assert ssh.returncode != 0, "ssh with no VM up succeeded: %r" % out
        assert 4.0 <= ssh_took <= 5 + 5, "ssh gave up after %.1fs (queue timeout 5s): %s" % (
            ssh_took, err.decode(errors="replace"))
        assert pg.wait_log(r"queue timeout", offset=off, timeout=2), pg.log_since(off)
    finally:
        if raw is not None:
            raw.close()
        if ssh is not None and ssh.poll() is None:
            ssh.kill()
            ssh.wait()
        for vm in stopped:
            pool.run("start-sshd", vm)

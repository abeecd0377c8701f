"""poolgate under systemd, as systemd sees it, with a real poolgate process
and a datagram socket of the test standing in for $NOTIFY_SOCKET:

  * READY=1 (with a STATUS= line of VMs up and sessions) only once the
    listeners accept: a connection made as soon as it arrives succeeds;
  * RELOADING=1 with MONOTONIC_USEC, then READY=1, around a SIGHUP; a
    refused reload says so in STATUS= and still ends in READY=1;
  * STOPPING=1 on SIGTERM;
  * WATCHDOG=1 at least twice per WATCHDOG_USEC, from the event loop, and
    none when WATCHDOG_PID names another process;
  * an abstract notify socket ("@name") works as well as a path;
  * with JOURNAL_STREAM naming its stderr, an error line starts with <3>.

Then the operator's view: a live /metrics scrape, with a session through a
fake VM and a request through an http service, has the build, process,
reload and histogram metrics, counts a session's bytes while it runs, and
passes `promtool check metrics`; deploy/prometheus/poolgate.rules.yml
passes `promtool check rules` and its tests (`promtool test rules`); every
query of deploy/grafana/poolgate.json parses and reads documented metrics.

No pool is needed: the one VM is an address where nothing listens (its
check fails, which is fine here).
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import free_port, make_config, poolgate_binary

WATCHDOG_USEC = 900000


class Notified:
    """The stand-in for systemd's notify socket: every datagram with the
    time it came."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path.startswith("@"):
            self.sock.bind("\0" + path[1:])
        else:
            self.sock.bind(path)
        self.path = path
        self.got = []       # (monotonic time, {key: value}, raw text)

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        text = data.decode()
        fields = dict(l.split("=", 1) for l in text.split("\n") if "=" in l)
        self.got.append((time.monotonic(), fields, text))
        return fields

    def wait_for(self, key, timeout=15.0, skip_watchdog=True):
        """The next message with key, after skipping others (returned too)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while time.monotonic() < deadline:
            m = self.recv(max(0.01, deadline - time.monotonic()))
            if m is None:
                break
            if key in m:
                return m, skipped
            if not (skip_watchdog and list(m) == ["WATCHDOG"]):
                skipped.append(m)
        raise AssertionError("no %s= within %.0fs; got %r" % (key, timeout,
                                                               [g[2] for g in self.got]))

    def close(self):
        self.sock.close()
        if not self.path.startswith("@"):
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class Proc:
    def __init__(self, tmp_path, env, stderr_fd=None, edit=None):
        self.port = free_port()
        self.admin_port = free_port()
        self.conf = tmp_path / "poolgate.conf"
        self.lines = make_config(listen_port=self.port, admin_port=self.admin_port,
                                 state_dir=str(tmp_path / "state"),
                                 backends=[("vm1", "127.0.0.1")])
        if edit is not None:
            self.lines = edit(self.lines)
        self.conf.write_text("\n".join(self.lines) + "\n")
        self.log = open(tmp_path / "poolgate.log", "wb")
        self.proc = subprocess.Popen([poolgate_binary(), "-c", str(self.conf)],
                                     env=dict(os.environ, **env), stdin=subprocess.DEVNULL,
                                     stdout=self.log,
                                     stderr=stderr_fd if stderr_fd is not None else self.log)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def connects(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return True


@pytest.fixture
def run(tmp_path):
    made = []

    def start(notify, env=None, **kw):
        n = Notified(notify)
        e = {"NOTIFY_SOCKET": notify}
        e.update(env or {})
        p = Proc(tmp_path, e, **kw)
        made.append((p, n))
        return p, n

    yield start
    for p, n in made:
        p.stop()
        n.close()


def test_ready_reload_stop_and_watchdog(tmp_path, run):
    p, n = run(str(tmp_path / "notify.sock"), {"WATCHDOG_USEC": str(WATCHDOG_USEC)})
    ready, before = n.wait_for("READY")
    # the listeners accept the moment READY=1 is read
    assert connects(p.port) and connects(p.admin_port)
    assert before == [], "messages before READY=1: %r" % before
    assert ready["READY"] == "1"
    assert re.fullmatch(r"[01]/1 VMs up, 0 sessions, 0 HTTP connections",
                        ready.get("STATUS", "")), ready

    # the watchdog: at least twice per period, from the running loop
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3 * WATCHDOG_USEC / 1e6:
        n.recv(0.5)
    beats = [t for t, m, _ in n.got if m.get("WATCHDOG") == "1" and t >= t0]
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert len(beats) >= 6 and max(gaps) < WATCHDOG_USEC / 1e6 / 2, (
        "WATCHDOG=1 at %r (gaps %r) with WATCHDOG_USEC=%d" % (
            [round(b - t0, 3) for b in beats], gaps, WATCHDOG_USEC))

    # a reload: RELOADING=1 with the monotonic clock, then READY=1
    p.proc.send_signal(signal.SIGHUP)
    sent = time.monotonic()
    rl, _ = n.wait_for("RELOADING")
    assert rl["RELOADING"] == "1"
    mono = int(rl["MONOTONIC_USEC"]) / 1e6
    assert abs(mono - sent) < 2.0, "MONOTONIC_USEC %.3f, the test's clock %.3f" % (mono, sent)
    rd, between = n.wait_for("READY")
    assert between == [], between
    assert re.fullmatch(r"[01]/1 VMs up, .*", rd.get("STATUS", "")), rd

    # a refused reload: still READY=1, and the status says so
    p.conf.write_text("\n".join(p.lines) + "\nbogus_setting = 1;\n")
    p.proc.send_signal(signal.SIGHUP)
    n.wait_for("RELOADING")
    rd, _ = n.wait_for("READY")
    assert rd.get("STATUS", "").startswith("reload refused, the running configuration "
                                           "stays (see the log); "), rd
    assert connects(p.port)

    # stopping
    p.proc.send_signal(signal.SIGTERM)
    st, _ = n.wait_for("STOPPING")
    assert st["STOPPING"] == "1" and st.get("STATUS", "").startswith("stopping: 0 sessions"), st
    assert p.proc.wait(timeout=15) == 0


def test_abstract_socket_and_no_watchdog_for_another_pid(tmp_path, run):
    name = "@poolgate-test-%d-%d" % (os.getpid(), time.monotonic_ns())
    p, n = run(name, {"WATCHDOG_USEC": "300000", "WATCHDOG_PID": "1"})
    ready, _ = n.wait_for("READY")
    assert connects(p.port)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.0:
        n.recv(0.2)
    assert not [m for _, m, _ in n.got if "WATCHDOG" in m], [g[2] for g in n.got]


def test_journal_priorities_on_stderr(tmp_path, run):
    r, w = os.pipe()
    st = os.fstat(w)
    p, n = run(str(tmp_path / "notify.sock"),
               {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}, stderr_fd=w)
    os.close(w)
    try:
        n.wait_for("READY")
        # an error: a reload of a file that does not parse
        p.conf.write_text("services = (\n")
        p.proc.send_signal(signal.SIGHUP)
        n.wait_for("READY")
        p.proc.send_signal(signal.SIGTERM)
        p.proc.wait(timeout=15)
        out = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
    finally:
        os.close(r)
    lines = out.decode().splitlines()
    assert lines, "nothing on stderr"
    errors = [l for l in lines if "reload failed" in l]
    assert errors and all(l.startswith("<3>ERROR ") for l in errors), lines
    infos = [l for l in lines if "running (pid" in l]
    assert infos and infos[0].startswith("<6>INFO poolgate "), lines
    # no timestamp of our own: the journal stamps lines
    assert not [l for l in lines if re.match(r"<\d>\d{4}-", l) or not l.startswith("<")], lines


# ------------------------------------------------------------------ metrics

class FakeSshVM:
    """A TCP server on loopback that greets like sshd (so the ssh check
    passes) and then echoes: the one VM of a tcp service."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        import threading
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import threading
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    def _echo(self, c):
        try:
            c.sendall(b"SSH-2.0-FakeVM\r\n")
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop = True
        self.sock.close()


def http_vm():
    """A plain HTTP server on loopback answering 200 "ok": the same VM's
    http service. Returns the server (serving on a thread)."""
    import http.server
    import threading

    class Ok(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.headers.get("Upgrade", "").lower() == "websocket":
                # a websocket as far as poolgate sees: 101, then echo bytes
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                self.end_headers()
                self.wfile.flush()
                c = self.connection
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def scrape(port):
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def sample(text, name, **labels):
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-z_:]+)(?:\{(.*)\})? (\S+)", line)
        if m and m.group(1) == name:
            got = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
            if got == want:
                return float(m.group(3))
    raise AssertionError("no sample %s{%s} in:\n%s" % (name, want, text))


def test_metrics_a_live_scrape_passes_promtool(tmp_path, run):
    vm = FakeSshVM()
    web = http_vm()
    try:
        http_port = free_port()

        def edit(lines):
            # the one VM on the fake's port, and a second service in http mode
            lines = [l.replace("port = 22;", "port = %d;" % vm.port) for l in lines]
            end = lines.index(");")
            lines[end - 1] = "  },"
            lines[end:end] = [
                '  { name = "web"; listen = [ "127.0.0.1:%d" ]; port = %d; mode = "http";'
                % (http_port, web.server_address[1]),
                '    check = { type = "http"; path = "/"; expect = 200; interval = "500ms";'
                ' timeout = "400ms"; rise = 1; fall = 2; }; }']
            return lines

        p, n = run(str(tmp_path / "notify.sock"), edit=edit)
        n.wait_for("READY")
        before = scrape(p.admin_port)
        reloaded_at = sample(before, "poolgate_last_reload_success_timestamp_seconds")
        time.sleep(1.1)
        p.proc.send_signal(signal.SIGHUP)
        n.wait_for("RELOADING")
        n.wait_for("READY")
        deadline = time.monotonic() + 15
        while sample(scrape(p.admin_port), "poolgate_backend_state", backend="vm1",
                     state="up") != 1:
            assert time.monotonic() < deadline, "vm1 never up"
            time.sleep(0.2)

        # a session: bytes counted while it runs, its connect timed
        c = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        assert c.recv(64).startswith(b"SSH-2.0-FakeVM")
        block = b"x" * 65536
        for _ in range(16):
            c.sendall(block)
            got = 0
            while got < len(block):
                got += len(c.recv(65536))
        mid = scrape(p.admin_port)
        assert sample(mid, "poolgate_bytes_total", service="ssh", direction="up") >= 16 * 65536, (
            "1 MiB sent in a live session, not counted yet:\n%s" % mid)
        assert sample(mid, "poolgate_backend_bytes_total", backend="vm1",
                      direction="down") >= 16 * 65536
        assert sample(mid, "poolgate_backend_connect_seconds_count", service="ssh") == 1
        assert sample(mid, "poolgate_session_duration_seconds_count", service="ssh") == 0
        c.close()
        deadline = time.monotonic() + 5
        while sample(scrape(p.admin_port), "poolgate_session_duration_seconds_count",
                     service="ssh") != 1:
            assert time.monotonic() < deadline, "the session's end not in the histogram"
            time.sleep(0.1)
        # an http request, relayed
        with socket.create_connection(("127.0.0.1", http_port), timeout=5) as h:
            h.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert re.match(rb"HTTP/1\.[01] 200 ", h.recv(64))
        # a websocket: its bytes counted while it is open
        before_ws = sample(scrape(p.admin_port), "poolgate_bytes_total", service="web",
                           direction="down")
        ws = socket.create_connection(("127.0.0.1", http_port), timeout=5)
        ws.sendall(b"GET /user/alice/api/kernels/1/channels HTTP/1.1\r\nHost: x\r\n"
                   b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   b"Sec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += ws.recv(4096)
        assert head.startswith(b"HTTP/1.1 101 "), head
        for _ in range(16):
            ws.sendall(block)
            got = 0
            while got < len(block):
                got += len(ws.recv(65536))
        mid = scrape(p.admin_port)
        assert sample(mid, "poolgate_bytes_total", service="web",
                      direction="down") - before_ws >= 16 * 65536, (
            "1 MiB echoed on an open websocket, not counted yet:\n%s" % mid)
        ws.close()
        # once it ended, counted once (not again at the connection's end)
        deadline = time.monotonic() + 5
        while sample(scrape(p.admin_port), "poolgate_session_duration_seconds_count",
                     service="web") < 2:
            assert time.monotonic() < deadline, "the websocket's connection never ended"
            time.sleep(0.1)
        total = sample(scrape(p.admin_port), "poolgate_bytes_total", service="web",
                       direction="down") - before_ws
        assert 16 * 65536 <= total < 16 * 65536 + 4096, total

        text = scrape(p.admin_port)
        assert sample(text, "poolgate_http_responses_total", service="web", code="2xx") == 1
        assert sample(text, "poolgate_http_responses_total", service="web", code="1xx") == 1
        assert sample(text, "poolgate_http_responses_total", service="web", code="5xx") == 0
        assert sample(text, "poolgate_last_reload_success_timestamp_seconds") > reloaded_at
        assert sample(text, "poolgate_last_reload_successful") == 1
        assert sample(text, "poolgate_backend_max_sessions", backend="vm1") == 0
        assert re.search(r'^poolgate_build_info\{version="[0-9.]+",commit="[0-9a-f]+|unknown"\} 1$',
                         text, re.M), text
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_start_time_seconds"):
            assert sample(text, name) > 0, name
        assert abs(sample(text, "process_start_time_seconds") - time.time()) < 120
        q = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        assert (q.returncode, q.stdout, q.stderr) == (0, "", ""), (
            "promtool check metrics: exit %d\n%s%s" % (q.returncode, q.stdout, q.stderr))
    finally:
        vm.close()
        web.shutdown()


# ------------------------------------------------------------------ alerts, dashboard

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def promtool(*args, cwd=None):
    p = subprocess.run(["promtool"] + list(args), cwd=cwd, capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout + p.stderr


def documented_metrics():
    names = set(re.findall(r"^\| `((?:poolgate|process)_[a-z0-9_]+)` \|",
                           METRICS_DOC.read_text(), re.M))
    assert "poolgate_backend_sessions" in names, "docs/metrics.md has no metric table?"
    return names


def metric_names(expr):
    """The poolgate_* and process_* series an expression reads (histogram
    series map to their metric)."""
    found = set()
    for n in re.findall(r"\b((?:poolgate|process)_[a-z0-9_]+)", expr):
        found.add(re.sub(r"_(bucket|sum|count)$", "", n)
                  if n.endswith(("_bucket", "_sum", "_count")) and "seconds" in n else n)
    return found


def test_alert_rules_check_and_pass_their_tests():
    rc, out = promtool("check", "rules", "poolgate.rules.yml", cwd=DEPLOY / "prometheus")
    assert rc == 0 and "SUCCESS: 8 rules found" in out, out
    rc, out = promtool("test", "rules", "poolgate.rules.test.yml", cwd=DEPLOY / "prometheus")
    assert rc == 0 and "SUCCESS" in out, out
    # every alert the issue asks for, each with a test, each on real metrics
    rules = (DEPLOY / "prometheus" / "poolgate.rules.yml").read_text()
    tests = (DEPLOY / "prometheus" / "poolgate.rules.test.yml").read_text()
    alerts = re.findall(r"^\s+- alert: (\w+)$", rules, re.M)
    assert set(alerts) >= {"PoolgateNoVMUp", "PoolgateVMDown", "PoolgatePoolNearCapacity",
                           "PoolgateHealthChecksFailing", "PoolgateReloadFailed",
                           "PoolgateStateNotWritable"}, alerts
    for a in alerts:
        assert re.search(r"alertname: %s\n\s+exp_alerts:\n\s+- exp_labels" % a, tests), (
            "no test that %s fires" % a)
    known = documented_metrics()
    for expr in re.findall(r"expr: (?:\|\n)?((?:.|\n)*?)\n\s+(?:for|labels):", rules):
        unknown = metric_names(expr) - known
        assert not unknown, "rules use metrics docs/metrics.md does not list: %s" % unknown


def test_dashboard_queries_parse_and_use_real_metrics(tmp_path):
    import json
    dash = json.loads((DEPLOY / "grafana" / "poolgate.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    titles = [p["title"] for p in dash["panels"]]
    for want in ("Sessions per VM", "Logins per minute", "Capacity", "Bytes relayed"):
        assert want in titles, titles
    assert any("Health" in t for t in titles), titles
    known = documented_metrics()
    for e in exprs:
        unknown = metric_names(e) - known
        assert not unknown, "the dashboard uses undocumented metrics %s in %s" % (unknown, e)
    # promtool parses every query, as recording rules ($instance as a regex)
    rules = tmp_path / "dashboard.rules.yml"
    rules.write_text("groups:\n  - name: dashboard\n    rules:\n" + "".join(
        "      - record: dashboard:q%d\n        expr: %s\n" % (i, json.dumps(e.replace("$instance", ".*")))
        for i, e in enumerate(exprs)))
    rc, out = promtool("check", "rules", str(rules))
    assert rc == 0 and "SUCCESS: %d rules found" % len(exprs) in out, out


# ------------------------------------------------------------------ socket activation

def test_socket_activation_takes_the_passed_socket(tmp_path):
    """A listening socket made here, handed over as systemd does (fd 3,
    LISTEN_FDS=1, LISTEN_PID = poolgate's pid): poolgate serves on it
    although the address is taken (it would fail to bind it itself), and a
    second passed socket no service names is kept and reported."""
    vm = FakeSshVM()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    spare.listen(1)
    n = Notified(str(tmp_path / "notify.sock"))
    admin_port = free_port()
    lines = make_config(listen_port=port, admin_port=admin_port,
                        state_dir=str(tmp_path / "state"), backends=[("vm1", "127.0.0.1")])
    lines = [l.replace("port = 22;", "port = %d;" % vm.port) for l in lines]
    conf = tmp_path / "poolgate.conf"
    conf.write_text("\n".join(lines) + "\n")
    log = open(tmp_path / "poolgate.log", "wb")
    # fds 3 and 4 as systemd passes them (bash: dash takes fds 0-9 only);
    # $$ is poolgate's pid after exec
    script = ('exec 3<&%d 4<&%d %d<&- %d<&-; LISTEN_PID=$$ LISTEN_FDS=2 exec "$0" -c "$1"'
              % (lsock.fileno(), spare.fileno(), lsock.fileno(), spare.fileno()))
    proc = subprocess.Popen(["bash", "-c", script, poolgate_binary(), str(conf)],
                            env=dict(os.environ, NOTIFY_SOCKET=n.path),
                            pass_fds=(lsock.fileno(), spare.fileno()),
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        lsock.close()   # poolgate holds its copy
        spare.close()
        n.wait_for("READY")
        deadline = time.monotonic() + 15
        while sample(scrape(admin_port), "poolgate_backend_state", backend="vm1",
                     state="up") != 1:
            assert time.monotonic() < deadline, "vm1 never up"
            time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            assert c.recv(64).startswith(b"SSH-2.0-FakeVM")
        text = (tmp_path / "poolgate.log").read_text()
        assert "socket activation: 2 listening socket(s) from systemd" in text, text
        assert "listen 127.0.0.1:%d: the socket systemd passed" % port in text, text
        assert "socket activation: 1 socket(s) from systemd match no service's listen " \
               "address; kept for a reload that names them" in text, text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        log.close()
        n.close()
        vm.close()

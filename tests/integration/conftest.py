"""Fixtures for poolgate's integration tests.

A session-wide pool of VMs (network namespaces running real sshd, made by
tests/pool/pool) and poolgate processes started from configuration files
written to a temporary folder. Everything is torn down afterwards, also when
a test fails; a failing test's report carries the log of every poolgate it
used and the pool's status.

Environment:
  POOLGATE           path of the poolgate binary (default: build/poolgate)
  POOL_SUBNET        three octets of the pool subnet (default 10.231.0)
  POOLGATE_POOL_DIR  folder of the test pool (default /tmp/poolgate-itest)
  POOLGATE_KEEP_POOL set to 1 to leave the pool up after the run

Needs root, iproute2 and openssh-server; a missing piece fails, never skips.
"""

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POOL = REPO / "tests" / "pool" / "pool"
POOL_DIR = os.environ.get("POOLGATE_POOL_DIR", "/tmp/poolgate-itest")

# Short health-check settings so state changes happen within a few seconds.
INTERVAL_MS = 500
TIMEOUT_MS = 400
FALL = 2

# For failure reports: every poolgate made during the run, and those made
# during the current test.
_INSTANCES = []
_CURRENT = []
_POOL = []
# (title, callable returning text) added to a failing test's report, e.g.
# the logs of JupyterHub servers a module started.
REPORT_EXTRAS = []


def poolgate_binary():
    p = os.environ.get("POOLGATE") or str(REPO / "build" / "poolgate")
    p = os.path.abspath(p)
    if not os.access(p, os.X_OK):
        pytest.fail("poolgate binary not found or not executable: %s "
                    "(build it: meson setup build && meson compile -C build, "
                    "or set POOLGATE)" % p, pytrace=False)
    return p


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Client source addresses: every login from a fresh address has no affinity.
# 127.0.0.21-23 are left to the test that names them.
_addr_counter = itertools.count(0)


def fresh_addr():
    n = next(_addr_counter)
    return "127.0.%d.%d" % (10 + n // 250, 1 + n % 250)


def _no_proxy_opener():
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


_OPENER = _no_proxy_opener()


def http_get(url, timeout=5.0):
    """Returns (status, body text); raises OSError if nothing answers."""
    try:
        with _OPENER.open(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------- pool

class Pool:
    def __init__(self, d):
        self.dir = d
        self.state = None

    def run(self, *args, check=True, timeout=120):
        p = subprocess.run([str(POOL)] + [str(a) for a in args] + ["--dir", self.dir],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and p.returncode != 0:
            pytest.fail("tests/pool/pool %s failed (exit %d):\n%s" % (
                " ".join(map(str, args)), p.returncode, p.stdout), pytrace=False)
        self.reload_state()
        return p.stdout

    def reload_state(self):
        try:
            with open(os.path.join(self.dir, "pool.json")) as f:
                self.state = json.load(f)
        except OSError:
            self.state = None

    @property
    def ssh_config(self):
        return os.path.join(self.dir, "ssh_config")

    def address(self, name):
        for vm in self.state["vms"]:
            if vm["name"] == name:
                return vm["address"]
        raise KeyError(name)

    def backends(self, names=None):
        """[(name, address)] of the pool's VMs (or of the named ones)."""
        vms = [(vm["name"], vm["address"]) for vm in self.state["vms"]]
        if names is not None:
            vms = [v for v in vms if v[0] in names]
        return vms

    def status_text(self):
        try:
            return self.run("status", check=False, timeout=60)
        except Exception as e:  # reporting only
            return "pool status failed: %s" % e


# The pool's names (pg-vmK, pgbr0) are machine-wide: two test runs at once
# would tear down each other's VMs. A run holds this lock while its pool is up.
LOCK_PATH = os.environ.get("POOLGATE_POOL_LOCK") or (
    "/run/lock/poolgate-pool.lock" if os.path.isdir("/run/lock") else "/tmp/poolgate-pool.lock")
LOCK_WAIT_S = 1500


def _take_pool_lock():
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
        sys.__stderr__.write("\nwaiting for the test pool lock %s (held by %s)\n"
                             % (LOCK_PATH, holder or "?"))
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    pytest.fail("another test run has held %s for %ds (%s)" % (
                        LOCK_PATH, LOCK_WAIT_S, holder), pytrace=False)
                time.sleep(1)
    os.ftruncate(fd, 0)
    os.pwrite(fd, ("pid %d: %s\n" % (os.getpid(), " ".join(sys.argv))).encode(), 0)
    return fd


# Held once per process however many fixtures ask (flock on a second open
# file description of the same file would wait for ourselves).
_LOCK_HELD = {"fd": None, "depth": 0}


@contextlib.contextmanager
def pool_lock():
    """Holds the machine-wide pool lock (re-entrant within this process): for
    anything that makes or uses pg-vm* namespaces, e.g. test_hub_direct.py."""
    if _LOCK_HELD["depth"] == 0:
        _LOCK_HELD["fd"] = _take_pool_lock()
    _LOCK_HELD["depth"] += 1
    try:
        yield
    finally:
        _LOCK_HELD["depth"] -= 1
        if _LOCK_HELD["depth"] == 0:
            os.close(_LOCK_HELD["fd"])
            _LOCK_HELD["fd"] = None


@pytest.fixture(scope="session")
def pool():
    with pool_lock():
        yield from _pool_up()


def _pool_up():
    for tool in ("ssh", "scp", "sftp"):
        if subprocess.run(["sh", "-c", "command -v " + tool],
                          stdout=subprocess.DEVNULL).returncode != 0:
            pytest.fail("%s not found (apt-get install openssh-client)" % tool, pytrace=False)
    p = Pool(POOL_DIR)
    try:
        p.run("up", 3)
        _POOL.append(p)
        yield p
    finally:
        if os.environ.get("POOLGATE_KEEP_POOL") != "1":
            p.run("down", check=False)


# ------------------------------------------------------------------- config

def make_config(*, listen_port, admin_port, state_dir, backends, interval_ms=INTERVAL_MS,
                timeout_ms=TIMEOUT_MS, rise=1, fall=FALL, ttl="1h", grace="2s",
                connect_timeout="2s"):
    """The configuration as a list of lines (callers may edit lines by number)."""
    lines = [
        '# written by tests/integration/conftest.py',
        'state_dir = "%s";' % state_dir,
        # The tests run as root (namespaces); poolgate refuses that unless told.
        'shutdown_grace = "%s"; allow_root = true;' % grace,
        # Suites run once more with relay threads (tests/integration/meson.build).
        'workers = %d;' % int(os.environ.get("POOLGATE_TEST_WORKERS", "0")),
        'admin = { listen = "127.0.0.1:%d"; };' % admin_port,
        'limits = { max_connections = 1000; per_ip_connections = 0; };',
        'affinity = { ttl = "%s"; by_client_ip = true; };' % ttl,
        'services = (',
        '  { name = "ssh"; listen = [ "127.0.0.1:%d" ]; port = 22; mode = "tcp";'
        % listen_port,
        '    connect_timeout = "%s";' % connect_timeout,
        '    check = { type = "ssh"; interval = "%dms"; timeout = "%dms"; rise = %d; fall = %d; };'
        % (interval_ms, timeout_ms, rise, fall),
        '  }',
        ');',
        'backends = (',
    ]
    for i, (name, addr) in enumerate(backends):
        sep = "," if i + 1 < len(backends) else ""
        lines.append('  { name = "%s"; address = "%s"; }%s' % (name, addr, sep))
    lines.append(');')
    return lines


# ------------------------------------------------------------------- poolgate

class Poolgate:
    """One poolgate process with its configuration file and log."""

    def __init__(self, binary, workdir, pool, backends=None, **cfg):
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pool = pool
        self.port = free_port()
        self.admin_port = free_port()
        while self.admin_port == self.port:
            self.admin_port = free_port()
        self.state_dir = self.workdir / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.conf = self.workdir / "poolgate.conf"
        self.log_path = self.workdir / "poolgate.log"
        self.cfg = dict(cfg)
        self.interval_ms = cfg.get("interval_ms", INTERVAL_MS)
        self.timeout_ms = cfg.get("timeout_ms", TIMEOUT_MS)
        self.rise = cfg.get("rise", 1)
        self.fall = cfg.get("fall", FALL)
        self.backends = list(backends if backends is not None else pool.backends())
        self.proc = None
        self.stopped_on_purpose = False
        self._log = None
        self.write_config()

    # configuration
    def config_lines(self, backends=None):
        return make_config(listen_port=self.port, admin_port=self.admin_port,
                           state_dir=str(self.state_dir),
                           backends=self.backends if backends is None else backends,
                           **self.cfg)

    def write_config(self, lines=None):
        if lines is None:
            lines = self.config_lines()
        tmp = self.conf.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, self.conf)

    # process
    def start(self, wait=True):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            raise AssertionError("poolgate exited with code %s; log:\n%s" % (
                self.proc.returncode if self.proc else None, self.log_tail()))

    def signal(self, sig):
        self.assert_alive()
        self.proc.send_signal(sig)

    def reload(self):
        self.signal(signal.SIGHUP)

    def stop(self, timeout=None):
        """SIGTERM and wait; SIGKILL after the grace period plus slack.
        Returns the exit code (negative for a signal, as Popen does)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.stopped_on_purpose = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout or 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None
        return self.proc.returncode

    # log
    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def log_tail(self, lines=300):
        t = self.log_text().splitlines()
        return "\n".join(t[-lines:])

    def wait_log(self, pattern, offset=0, timeout=15.0):
        """Waits for a regex in the log after offset; returns the match or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log_since(offset))
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.1)

    # admin endpoint
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.admin_port, path)

    def get(self, path):
        return http_get(self.url(path))

    def status(self):
        code, body = self.get("/status")
        assert code == 200, "GET /status: %d %s" % (code, body[:500])
        try:
            return json.loads(body)
        except ValueError as e:
            raise AssertionError("GET /status is not JSON (%s): %s" % (e, body[:1000]))

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.assert_alive()
            try:
                return self.status()
            except (OSError, AssertionError) as e:
                last = e
            time.sleep(0.1)
        raise AssertionError("poolgate's /status did not answer within %ss (%s); log:\n%s"
                             % (timeout, last, self.log_tail()))

    def wait_status(self, pred, what, timeout=15.0, poll=0.1):
        """Polls /status until pred(status) is true; returns that status."""
        deadline = time.monotonic() + timeout
        st = None
        while True:
            self.assert_alive()
            try:
                st = self.status()
                if pred(st):
                    return st
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %.1fs waiting for %s; last /status:\n%s"
                                     % (timeout, what, json.dumps(st, indent=1)))
            time.sleep(poll)

    def wait_states(self, want, timeout=15.0):
        """want: {backend name: state}. Waits until /status agrees."""
        def ok(st):
            have = {b["name"]: b["state"] for b in st.get("backends", [])}
            return all(have.get(n) == s for n, s in want.items())
        return self.wait_status(ok, "backend states %s" % want, timeout=timeout)

    def wait_all_up(self, names=None, timeout=20.0):
        names = names or [b[0] for b in self.backends]
        return self.wait_states({n: "up" for n in names}, timeout=timeout)

    # clients
    def ssh_argv(self, src, remote=None, extra=()):
        argv = ["ssh", "-F", self.pool.ssh_config, "-p", str(self.port), "-b", src]
        argv += list(extra)
        argv.append("pgtest@127.0.0.1")
        if remote is not None:
            argv.append(remote)
        return argv

    def login(self, src, timeout=60):
        """One short login from src; returns the VM name it reached."""
        p = subprocess.run(self.ssh_argv(src, 'echo "$DSVM_NAME"'), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        assert p.returncode == 0, "ssh from %s through poolgate failed (exit %d): %s" % (
            src, p.returncode, p.stderr.strip())
        name = p.stdout.strip()
        assert re.fullmatch(r"vm[0-9]+", name), "unexpected login output %r" % p.stdout
        return name

    def session(self, src):
        return Session(self, src)

    def backend(self, st, name):
        for b in st["backends"]:
            if b["name"] == name:
                return b
        raise AssertionError("backend %s not in /status: %s" % (name, json.dumps(st)))


class Session:
    """A held SSH session through poolgate: the remote side prints the VM's
    name, then echoes every line it is sent until its input ends."""

    def __init__(self, pg, src, timeout=60):
        self.src = src
        self.proc = subprocess.Popen(
            pg.ssh_argv(src, 'echo "$DSVM_NAME"; exec cat'),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._buf = b""
        self.lines = []
        self.vm = self.readline(timeout)
        if self.vm is None or not re.fullmatch(r"vm[0-9]+", self.vm):
            err = self._stderr()
            raise AssertionError("session from %s: expected a VM name, got %r; ssh said: %s"
                                 % (src, self.vm, err))

    def _stderr(self):
        if self.proc.poll() is None:
            return "(ssh still running)"
        return self.proc.stderr.read().decode("utf-8", "replace").strip()

    def readline(self, timeout=30):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            data = os.read(fd, 65536)
            if not data:
                return None
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        text = line.decode("utf-8", "replace")
        self.lines.append(text)
        return text

    def echo(self, text, timeout=30):
        """Sends a line and asserts it comes back."""
        assert self.proc.poll() is None, "session from %s (on %s) ended: exit %s, %s" % (
            self.src, self.vm, self.proc.returncode, self._stderr())
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()
        got = self.readline(timeout)
        assert got == text, "session from %s (on %s): sent %r, got back %r" % (
            self.src, self.vm, text, got)

    def finish(self, timeout=30):
        """Ends the input; returns (exit code, every line the session printed)."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            self.proc.stdin = None  # else communicate() flushes the closed file
        rest = b""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
            rest = out or b""
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return None, self.lines
        tail = (self._buf + rest).decode("utf-8", "replace")
        self._buf = b""
        self.lines += [l for l in tail.split("\n") if l]
        return self.proc.returncode, self.lines

    def close(self):
        if self.proc.poll() is None:
            self.finish(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------- fixtures

def poolgate_factory(cls, pool, tmp_path, prefix):
    """The body of a factory fixture (`yield from` it): factory(backends=None,
    start=True, **cfg) makes a `cls` poolgate in tmp_path/PREFIXn and starts
    it; after the test all stop, and the test fails if one exited on its own."""
    made = []
    binary = poolgate_binary()

    def factory(backends=None, start=True, **cfg):
        pg = cls(binary, tmp_path / ("%s%d" % (prefix, len(made))), pool, backends, **cfg)
        made.append(pg)
        _INSTANCES.append(pg)
        _CURRENT.append(pg)
        if start:
            pg.start()
        return pg

    yield factory
    died = []
    for pg in made:
        if pg.proc is not None and pg.proc.poll() is not None and not pg.stopped_on_purpose:
            died.append("poolgate (%s) exited on its own with code %s; log:\n%s" % (
                pg.conf, pg.proc.returncode, pg.log_tail(60)))
        pg.stop()
    if died:
        pytest.fail("; ".join(died), pytrace=False)


@pytest.fixture
def new_poolgate(pool, tmp_path):
    """Factory: new_poolgate(**cfg) starts a fresh poolgate (no affinity) in
    front of the pool; it and every session it opened stop after the test."""
    yield from poolgate_factory(Poolgate, pool, tmp_path, "pg")


@pytest.fixture(scope="module")
def shared_poolgate(pool, tmp_path_factory):
    """One poolgate for tests that do not change the pool or its state."""
    binary = poolgate_binary()
    pg = Poolgate(binary, tmp_path_factory.mktemp("shared-pg"), pool)
    _INSTANCES.append(pg)
    _CURRENT.append(pg)
    try:
        pg.start()
        pg.wait_all_up()
    except BaseException:
        pg.stop()  # no teardown runs for a fixture that failed to set up
        raise
    yield pg
    died = pg.proc.poll() is not None
    code = pg.stop()
    if died:
        pytest.fail("shared poolgate exited on its own with code %s" % code, pytrace=False)


@pytest.fixture
def vm_agent(pool, tmp_path):
    """Factory: vm_agent("vmK", extra=()) starts the real poolgate-agent in that
    pool VM (`pool exec`; config: listen on the VM's address port 9101,
    interval 1s, sessions from the VM's utmp, Azure off, plus the lines of
    extra) and returns it once its report answers: .report() is the parsed
    GET /v1/report, read over the bridge (tests/integration/vm_agent.py).
    All stop after the test."""
    from vm_agent import VmAgent, agent_binary
    binary = agent_binary(poolgate_binary())
    made = []

    def factory(vm, extra=()):
        a = VmAgent(binary, POOL, vm, pool.address(vm),
                    tmp_path / ("agent%d-%s" % (len(made), vm)), extra)
        made.append(a)
        return a.start()

    yield factory
    for a in made:
        a.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    del _CURRENT[:]
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    shown = [pg for pg in _INSTANCES if pg in _CURRENT or pg.alive()]
    for pg in shown:
        if not pg.log_path.exists():
            continue
        state = "running" if pg.alive() else "exit %s" % (
            pg.proc.returncode if pg.proc else "never started")
        rep.sections.append(("poolgate log %s (%s)" % (pg.log_path, state), pg.log_tail()))
    for p in _POOL:
        rep.sections.append(("pool status", p.status_text()))
    for title, fn in list(REPORT_EXTRAS):
        try:
            text = fn()
        except Exception as e:  # reporting only
            text = "(could not collect: %s)" % e
        if text:
            rep.sections.append((title, text))


# ------------------------------------------------------------------- http mode

def make_http_config(*, http_port, http_backend_port=8000, session_idle="10m", tls=None,
                     backend_tls="none", backend_ca=None, verify_name=None, http_interval_ms=1000,
                     http_timeout_ms=900, http_fall=3, cookie_ttl="12h",
                     by_client_ip=None, **cfg):
    """make_config (the ssh service) plus a mode "http" service called
    "jupyter" on 127.0.0.1:http_port in front of port http_backend_port of
    every backend. tls: None or {"cert": path, "key": path[, "min_version": v]}.
    by_client_ip: None leaves the service's default (off for http).
    The http check is a little more patient than the ssh one: a hub busy
    spawning a server can take a few hundred ms to answer /hub/health."""
    lines = make_config(**cfg)
    end = lines.index(');')  # the end of services = ( ... );
    assert lines[end - 1] == '  }', lines
    lines[end - 1] = '  },'
    svc = [
        '  { name = "jupyter"; listen = [ "127.0.0.1:%d" ]; port = %d; mode = "http";'
        % (http_port, http_backend_port),
    ]
    if tls:
        t = '    tls = { cert = "%s"; key = "%s";' % (tls["cert"], tls["key"])
        if tls.get("min_version"):
            t += ' min_version = "%s";' % tls["min_version"]
        if tls.get("ciphers"):
            t += ' ciphers = "%s";' % tls["ciphers"]
        svc.append(t + ' };')
    svc.append('    backend_tls = "%s";' % backend_tls)
    if backend_ca:
        svc.append('    backend_ca = "%s";' % backend_ca)
    if verify_name:
        svc.append('    verify_name = "%s";' % verify_name)
    if by_client_ip is not None:
        svc.append('    by_client_ip = %s;' % ("true" if by_client_ip else "false"))
    svc += [
        '    check = { type = "http"; path = "/hub/health"; expect = 200; interval = "%dms";'
        ' timeout = "%dms"; rise = 1; fall = %d; };' % (http_interval_ms, http_timeout_ms,
                                                      http_fall),
        '    http = { user_prefix = "/user/"; login_path = "/hub/login";'
        ' cookie_name = "poolgate_vm"; cookie_ttl = "%s";' % cookie_ttl,
        '             header_timeout = "10s"; keepalive_timeout = "60s";'
        ' tunnel_idle_timeout = "0s"; };',
        '  }',
    ]
    lines[end:end] = svc
    lines.insert(lines.index('services = ('), 'session_idle = "%s";' % session_idle)
    return lines


class HttpPoolgate(Poolgate):
    """A poolgate with the ssh service (self.port) and a "jupyter" http
    service (self.http_port; self.base_url is what a browser would open)."""

    def __init__(self, binary, workdir, pool, backends=None, http=None, **cfg):
        self.http = dict(http or {})
        self.http_port = free_port()
        super().__init__(binary, workdir, pool, backends, **cfg)
        while self.http_port in (self.port, self.admin_port):
            self.http_port = free_port()
        self.write_config()

    @property
    def tls(self):
        return bool(self.http.get("tls"))

    @property
    def base_url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.http_port)

    def config_lines(self, backends=None):
        return make_http_config(listen_port=self.port, admin_port=self.admin_port,
                                state_dir=str(self.state_dir),
                                backends=self.backends if backends is None else backends,
                                http_port=self.http_port, **self.http, **self.cfg)

    def kill9(self):
        """SIGKILL, as a crash would: no shutdown, no final state write."""
        self.assert_alive()
        self.stopped_on_purpose = True
        self.proc.kill()
        self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def restart(self):
        """Starts again with the same configuration and state_dir."""
        self.stopped_on_purpose = False
        return self.start()

    def users_by_vm(self, st=None):
        """{backend name: [Jupyter users]} from /status backends[].users."""
        st = st if st is not None else self.status()
        out = {}
        for b in st.get("backends", []):
            if "users" not in b:
                raise AssertionError("/status backend %s has no \"users\" list: %s"
                                     % (b.get("name"), json.dumps(b)))
            out[b["name"]] = list(b["users"])
        return out

    def wait_user_on(self, user, vm, timeout=10.0):
        """Waits until /status lists user under vm (and under no other VM)."""
        def ok(st):
            by = self.users_by_vm(st)
            return user in by.get(vm, []) and not any(
                user in us for n, us in by.items() if n != vm)
        return self.wait_status(ok, "user %s listed only under %s in /status" % (user, vm),
                                timeout=timeout)


@pytest.fixture
def new_http_poolgate(pool, tmp_path):
    """Factory like new_poolgate, for HttpPoolgate: new_http_poolgate(
    backends=None, http={...make_http_config options...}, **cfg)."""
    made = []
    binary = poolgate_binary()

    def factory(backends=None, start=True, http=None, **cfg):
        pg = HttpPoolgate(binary, tmp_path / ("hpg%d" % len(made)), pool, backends,
                          http=http, **cfg)
        made.append(pg)
        _INSTANCES.append(pg)
        _CURRENT.append(pg)
        if start:
            pg.start()
        return pg

    yield factory
    died = []
    for pg in made:
        if pg.proc is not None and pg.proc.poll() is not None and not pg.stopped_on_purpose:
            died.append("poolgate (%s) exited on its own with code %s" % (
                pg.conf, pg.proc.returncode))
        pg.stop()
    if died:
        pytest.fail("; ".join(died), pytrace=False)

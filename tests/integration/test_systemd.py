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

No pool is needed: the one VM is an address where nothing listens (its
check fails, which is fine here).
"""

import os
import re
import signal
import socket
import subprocess
import time

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
    def __init__(self, tmp_path, env, stderr_fd=None):
        self.port = free_port()
        self.admin_port = free_port()
        self.conf = tmp_path / "poolgate.conf"
        self.lines = make_config(listen_port=self.port, admin_port=self.admin_port,
                                 state_dir=str(tmp_path / "state"),
                                 backends=[("vm1", "127.0.0.1")])
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

"""deploy/demo end to end, as a newcomer meets it.

Runs `deploy/demo` twice in a row (BUILD_DIR = the folder of the poolgate
under test, from $POOLGATE). Each time: wait for its ready text and for
/status on 127.0.0.1:9100 with three VMs up; no affinity before the first
login (the second run must not remember the first); the printed ssh command,
typed as a user would, prints the VM's host name (its own UTS namespace) and
agrees with $DSVM_NAME; the printed admin token is in a 0600 file and the
printed poolgatectl commands drain and ready vm2 with it (and nothing changes
without it); a printed JupyterHub user signs in with the printed password.
Then Ctrl-C (SIGINT to the demo's process group, as a terminal sends it) and,
once it exited: no pg-vm* namespace, no UTS namespace file, no demo folder,
and the test users the demo made are gone with their homes (users that
existed before the demo stay).

deploy/demo takes the machine-wide pool lock itself, so this module does not
use conftest's pool fixture. Needs root; anything missing fails, never skips.
"""

import fcntl
import json
import os
import queue
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO, http_get

sys.path.insert(0, str(REPO / "tests" / "pool"))
import hub as hubmod  # noqa: E402  tests/pool/hub.py: the test users and passwords
from jupyter_client import JupyterClient  # noqa: E402

DEMO = REPO / "deploy" / "demo"
DEMO_DIR = "/tmp/poolgate-demo"
UTS_DIR = "/run/poolgate-uts" if os.path.isdir("/run") else "/tmp/poolgate-uts"
ADMIN = "http://127.0.0.1:9100"
VMS = ("vm1", "vm2", "vm3")
READY_S = 240        # from taking the pool lock to the ready text
LOCK_WAIT_S = 1500   # another test run may hold the pool lock this long
EXIT_S = 120
LOCK_PATH = os.environ.get("POOLGATE_POOL_LOCK") or (
    "/run/lock/poolgate-pool.lock" if os.path.isdir("/run/lock") else "/tmp/poolgate-pool.lock")
USERS = ("pgtest",) + tuple(hubmod.DEFAULT_USERS)


def build_dir():
    pg = os.environ.get("POOLGATE") or str(REPO / "build" / "poolgate")
    pg = os.path.abspath(pg)
    if not os.access(pg, os.X_OK):
        pytest.fail("poolgate binary not found or not executable: %s (set POOLGATE)" % pg,
                    pytrace=False)
    d = os.path.dirname(pg)
    if not os.access(os.path.join(d, "poolgatectl"), os.X_OK):
        pytest.fail("no poolgatectl next to %s" % pg, pytrace=False)
    return d


def user_exists(name):
    return subprocess.run(["getent", "passwd", name], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def pg_namespaces():
    out = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True).stdout
    return sorted(line.split()[0] for line in out.splitlines()
                  if line.split() and line.split()[0].startswith("pg-vm"))


def status():
    code, body = http_get(ADMIN + "/status", timeout=3)
    assert code == 200, "GET /status: %d %s" % (code, body[:300])
    return json.loads(body)


def states(st):
    return {b["name"]: b["state"] for b in st["backends"]}


class Demo:
    """deploy/demo as a subprocess in its own process group; its output is
    collected line by line."""

    def __init__(self, build):
        env = dict(os.environ, BUILD_DIR=build)
        self.lines = []
        self._q = queue.Queue()
        self.proc = subprocess.Popen(["sh", str(DEMO)], cwd=str(REPO), env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace",
                                     start_new_session=True)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def output(self, last=120):
        return "\n".join(self.lines[-last:])

    def wait_for(self, pattern):
        """Waits for a line matching pattern; returns the match. Time spent
        waiting for another holder of the pool lock does not count."""
        deadline = time.monotonic() + READY_S
        while True:
            try:
                line = self._q.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None:
                self.proc.wait(timeout=30)
                pytest.fail("deploy/demo exited (status %s) before printing %r:\n%s" % (
                    self.proc.returncode, pattern, self.output()), pytrace=False)
            if line:
                self.lines.append(line)
                sys.stderr.write("demo| %s\n" % line)
                if "waiting for another user of the pool" in line:
                    deadline = time.monotonic() + LOCK_WAIT_S
                elif deadline - time.monotonic() > READY_S:
                    deadline = time.monotonic() + READY_S  # the lock came free
                m = re.search(pattern, line)
                if m:
                    return m
            if time.monotonic() > deadline:
                pytest.fail("deploy/demo printed no line matching %r in time:\n%s" % (
                    pattern, self.output()), pytrace=False)

    def drain_output(self):
        while True:
            try:
                line = self._q.get_nowait()
            except queue.Empty:
                return
            if line is None:
                return
            self.lines.append(line)
            sys.stderr.write("demo| %s\n" % line)

    def interrupt(self):
        """Ctrl-C: SIGINT to the whole process group, then wait for the demo."""
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            rc = self.proc.wait(timeout=EXIT_S)
        finally:
            self._t.join(timeout=10)
            self.drain_output()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout=EXIT_S)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=30)


def sh(cmd, timeout=60):
    """A printed command line, run by a shell as a user would type it."""
    return subprocess.run(["sh", "-c", cmd], cwd=str(REPO), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def wait_status(pred, what, timeout=60):
    deadline = time.monotonic() + timeout
    st = last = None
    while time.monotonic() < deadline:
        try:
            st = status()
            if pred(st):
                return st
        except (OSError, AssertionError, ValueError) as e:
            last = e
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s; last /status %s (%s)" % (
        what, json.dumps(st)[:2000] if st else None, last))


class LockAfterDemo:
    """Takes the pool lock (blocking) as soon as the demo lets it go, so that
    no other test run makes users or namespaces before the checks after the
    demo. A blocked flock waiter is woken at the unlock; conftest's waiters
    poll once a second, so this one nearly always comes first."""

    def __init__(self):
        self.fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
        self.got = threading.Event()
        self.at = None
        threading.Thread(target=self._take, daemon=True).start()

    def _take(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.at = time.monotonic()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, ("pid %d: %s (checks after deploy/demo)\n"
                            % (os.getpid(), " ".join(sys.argv))).encode(), 0)
        self.got.set()

    def release(self):
        if self.got.is_set():
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)  # a thread still blocked in flock fails, harmlessly


def refused_without_token(vm):
    req = urllib.request.Request(ADMIN + "/api/v1/backends/%s/drain" % vm, data=b"",
                                 method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def one_run(build, n, before):
    demo = Demo(build)
    lock = None
    try:
        demo.wait_for(r"^poolgate demo ready")
        demo.wait_for(r"^Ctrl-C stops poolgate")
        made = demo.wait_for(r"users this run created \(([^)]*)\)").group(1).split()
        made = [] if made == ["none"] else made
        out = demo.output(400)
        waited = "waiting for another user of the pool" in out
        absent = [u for u in USERS if not before[u]]
        assert set(made) <= set(USERS), "the demo claims users %s" % made
        if not waited:  # nobody else could make or remove users meanwhile
            assert sorted(made) == sorted(absent), (
                "users absent before the demo: %s; the demo says it made %s"
                % (absent, made))

        # What it printed: the ssh command, the users, the token, poolgatectl.
        ssh_cmds = re.findall(r"^\s*(ssh -F \S+ -p 2222 pgtest@127\.0\.0\.1 hostname)\s*$",
                              out, re.M)
        assert ssh_cmds, "no plain `ssh ... hostname` line in the demo's text:\n" + out
        for u in hubmod.DEFAULT_USERS:
            assert "%s / %s" % (u, hubmod.password(u)) in out, (
                "user %s and password not printed:\n%s" % (u, out))
        m = re.search(r"admin token: (\S+)", out)
        assert m, "no admin token printed:\n" + out
        token = m.group(1)
        assert "http://127.0.0.1:9100/" in out and "paste the token" in out, out
        ctl = os.path.join(build, "poolgatectl")
        drain = re.search(r"^\s*(%s --token-file (\S+) drain vm2)\s*$" % re.escape(ctl),
                          out, re.M)
        ready = re.search(r"^\s*(%s --token-file \S+ ready vm2)\s*$" % re.escape(ctl),
                          out, re.M)
        assert drain and ready, "no poolgatectl drain/ready lines with %s:\n%s" % (ctl, out)
        token_file = drain.group(2)
        assert token_file.startswith(DEMO_DIR + "/"), token_file
        st_tok = os.stat(token_file)
        assert stat.S_IMODE(st_tok.st_mode) == 0o600, "token file mode %o" % st_tok.st_mode
        with open(token_file) as f:
            assert f.read().strip() == token, "the printed token is not the file's"
        assert len(token) >= 32

        # Three VMs up, and nothing remembered from an earlier run.
        st = wait_status(lambda s: states(s) == {v: "up" for v in VMS}, "vm1..vm3 up")
        assert st["affinity_entries"] == 0, (
            "run %d starts with %d affinity entries: an earlier run's state survived"
            % (n, st["affinity_entries"]))
        assert st["state"]["dir"].startswith(DEMO_DIR + "/"), st["state"]

        # SSH as printed: hostname names the VM; $DSVM_NAME agrees.
        p = sh(ssh_cmds[0])
        assert p.returncode == 0, "%s: exit %d %s" % (ssh_cmds[0], p.returncode, p.stderr)
        host = p.stdout.strip()
        assert host in VMS, "`hostname` over SSH printed %r, not a VM name" % p.stdout
        p = sh(ssh_cmds[0][:-len("hostname")] + "'echo \"$DSVM_NAME\"'")
        assert p.returncode == 0 and p.stdout.strip() == host, (
            "same address, same VM: DSVM_NAME %r, hostname %r (%s)"
            % (p.stdout, host, p.stderr))
        st = status()
        assert st["affinity_entries"] >= 1, "the login left no affinity entry"

        # Host keys checked strictly, against the CA line poolgate serves.
        cfg_path = ssh_cmds[0].split()[2]
        with open(cfg_path) as f:
            assert "StrictHostKeyChecking yes" in f.read(), cfg_path
        code, line = http_get(ADMIN + "/ssh_known_hosts", timeout=3)
        assert code == 200 and re.fullmatch(
            r"@cert-authority 127\.0\.0\.1,\[127\.0\.0\.1\]:\* ssh-ed25519 \S+ .*\n",
            line), (code, line)
        with open(os.path.join(os.path.dirname(cfg_path), "known_hosts")) as f:
            assert f.read().split()[2:4] == line.split()[2:4], "two different CAs"

        # The token: nothing changes without it; poolgatectl with it drains
        # and readies vm2.
        code = refused_without_token("vm2")
        assert code in (401, 403), "drain without a token answered %d" % code
        assert states(status())["vm2"] == "up"
        p = sh(drain.group(1))
        assert p.returncode == 0, "%s: exit %d %s%s" % (drain.group(1), p.returncode,
                                                         p.stdout, p.stderr)
        wait_status(lambda s: states(s)["vm2"] == "drain", "vm2 drain", timeout=10)
        p = sh(ready.group(1))
        assert p.returncode == 0, "%s: exit %d %s%s" % (ready.group(1), p.returncode,
                                                         p.stdout, p.stderr)
        wait_status(lambda s: states(s)["vm2"] == "up", "vm2 up again", timeout=10)

        # A printed JupyterHub user signs in with the printed password.
        c = JupyterClient("http://127.0.0.1:8000", timeout=30)
        c.login("alice", hubmod.password("alice"))

        lock = LockAfterDemo()
        rc = demo.interrupt()
        exited = time.monotonic()
        out = demo.output(400)
        assert rc in (0, 130), "deploy/demo exited with %s after Ctrl-C:\n%s" % (rc, out)
        if not lock.got.wait(LOCK_WAIT_S):
            pytest.fail("the pool lock stayed taken for %ds after the demo" % LOCK_WAIT_S,
                        pytrace=False)
        check_clean(made, lock.at - exited < 5, out)
    finally:
        demo.kill()
        if lock is not None:
            lock.release()
    return host


def check_clean(made, first, out):
    """After the demo: nothing of it is left. first: we took the pool lock
    right after the demo, so no other run has made users since."""

    # Nothing of the demo is left.
    assert pg_namespaces() == [], "namespaces left: %s\n%s" % (pg_namespaces(), out)
    left = [e for e in (os.listdir(UTS_DIR) if os.path.isdir(UTS_DIR) else [])
            if e.startswith("pg-vm")]
    assert left == [], "UTS namespace files left in %s: %s" % (UTS_DIR, left)
    assert not os.path.exists(DEMO_DIR), "%s left behind:\n%s" % (DEMO_DIR, out)
    code = None
    try:
        code, _ = http_get(ADMIN + "/status", timeout=2)
    except OSError:
        pass
    assert code is None, "something still answers on 127.0.0.1:9100 (%s)" % code
    if not first:
        sys.stderr.write("another test run used the pool before these checks: users "
                         "made since are theirs; only the pool and folders are checked\n")
        return
    for u in USERS:
        if u in made:
            assert not user_exists(u), "user %s, made by the demo, outlived it:\n%s" % (
                u, out)
            assert not os.path.exists("/home/" + u), "/home/%s left behind" % u
        else:
            assert user_exists(u), "user %s existed before the demo and was removed" % u


def test_demo_twice_starts_clean():
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces, sshd, PAM users)", pytrace=False)
    for tool in ("sh", "ssh", "ip", "getent", "curl"):
        if subprocess.run(["sh", "-c", "command -v " + tool],
                          stdout=subprocess.DEVNULL).returncode != 0:
            pytest.fail("%s not found (run deploy/install-deps)" % tool, pytrace=False)
    if not DEMO.is_file():
        pytest.fail("%s is missing" % DEMO, pytrace=False)
    build = build_dir()
    t0 = time.monotonic()
    for n in (1, 2):
        before = {u: user_exists(u) for u in USERS}
        sys.stderr.write("run %d: users present before: %s\n" % (
            n, sorted(u for u, e in before.items() if e)))
        host = one_run(build, n, before)
        sys.stderr.write("run %d: first login reached %s; %.0fs so far\n" % (
            n, host, time.monotonic() - t0))

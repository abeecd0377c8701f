"""Binary upgrade without dropping a session (poolgate(8), UPGRADE).

poolgatectl upgrade or SIGUSR2 makes the running poolgate start the binary
on disk with --upgrade-from and hand it its listening sockets; the old
process then relays its live sessions to their end. Real OpenSSH clients
through the real pool: a held interactive session and a running scp go on
to their end (checksum), new logins reach the new process with the same
affinity, a loop of connection attempts across the upgrade sees no
refusal, and a new process with a bad configuration leaves the old one
serving.
"""

import os
import secrets
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import HttpPoolgate, fresh_addr, poolgate_factory, sha256_file
from jupyter_client import JupyterClient
from test_ctl import CtlPoolgate, ctl_binary
from test_jupyter import HUB_VMS, hubs, pw  # noqa: F401  hubs: JupyterHub in vm1..3


class Follow:
    """Mixin: a poolgate followed across upgrades: the process it started
    exits on its own after handing over, the new one is not its child and
    is stopped by pid at the end."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.pids = []

    def start(self, wait=True):
        super().start(wait)
        self.pids.append(self.proc.pid)
        return self

    def upgrade_to_new_pid(self, trigger, timeout=30):
        """Triggers an upgrade; waits until /status answers from a new pid;
        returns (old pid, new pid)."""
        old = self.status()["pid"]
        trigger()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                st = self.status()
                if st["pid"] != old:
                    self.pids.append(st["pid"])
                    # the one we started exits on its own once drained
                    self.stopped_on_purpose = True
                    return old, st["pid"]
            except (OSError, AssertionError):
                pass
            time.sleep(0.05)
        raise AssertionError("no new pid in /status %ss after the upgrade; log:\n%s"
                             % (timeout, self.log_tail(80)))

    def assert_alive(self):
        pids = self.pids or ([self.proc.pid] if self.proc is not None else [])
        if not any(pid_alive(p) for p in pids):
            raise AssertionError("no poolgate process left; log:\n%s" % self.log_tail())

    def stop(self, timeout=None):
        for pid in self.pids[1:]:
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                wait_gone(pid, timeout or 15)
        return super().stop(timeout)


class UpgradePoolgate(Follow, CtlPoolgate):
    """A CtlPoolgate (admin token, poolgatectl) followed across upgrades."""


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def upg_poolgate(pool, tmp_path):
    ctl_binary()
    yield from poolgate_factory(UpgradePoolgate, pool, tmp_path, "upg")


class ConnectLoop(threading.Thread):
    """Opens a connection to poolgate every 50 ms from one address and reads
    the VM's SSH banner: counts refused and otherwise failed attempts."""

    def __init__(self, port, src):
        super().__init__(daemon=True)
        self.port, self.src = port, src
        self.stop_ev = threading.Event()
        self.ok = 0
        self.refused = 0
        self.failed = []

    def run(self):
        while not self.stop_ev.is_set():
            try:
                s = socket.socket()
                s.settimeout(10)
                s.bind((self.src, 0))
                s.connect(("127.0.0.1", self.port))
                banner = s.recv(64)
                s.close()
                if banner.startswith(b"SSH-2.0-"):
                    self.ok += 1
                else:
                    self.failed.append("banner %r" % banner)
            except ConnectionRefusedError:
                self.refused += 1
            except OSError as e:
                self.failed.append(str(e))
            time.sleep(0.05)

    def finish(self):
        self.stop_ev.set()
        self.join(30)


def _vm_sessions(st, vm):
    for b in st["backends"]:
        if b["name"] == vm:
            return b["sessions"]
    raise AssertionError("no VM %s in /status" % vm)


def _remote_home():
    import pwd
    return pwd.getpwnam("pgtest").pw_dir


def test_upgrade_keeps_sessions_and_affinity(upg_poolgate, tmp_path):
    pg = upg_poolgate(grace="5m")
    pg.wait_all_up()
    # a file big enough that a throttled scp runs across the upgrade
    data = tmp_path / "random32.bin"
    with open(data, "wb") as f:
        for _ in range(32):
            f.write(os.urandom(1 << 20))
    want = sha256_file(data)
    name = "pg-upgrade-%s.bin" % secrets.token_hex(6)
    src_a, src_scp, src_loop, src_new = (fresh_addr() for _ in range(4))

    held = pg.session(src_a)
    held.echo("before the upgrade")
    loop = ConnectLoop(pg.port, src_loop)
    loop.start()
    scp = subprocess.Popen(
        ["scp", "-q", "-l", "24000", "-F", pg.pool.ssh_config, "-P", str(pg.port),
         "-o", "BindAddress=" + src_scp, str(data), "pgtest@127.0.0.1:" + name],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    held2 = None
    try:
        # the scp is under way: bytes moved through poolgate
        time.sleep(2)
        assert scp.poll() is None, "scp ended before the upgrade: %s" % scp.communicate()[1]
        old, new = pg.upgrade_to_new_pid(lambda: pg.ctl_ok("upgrade"))
        assert old == pg.proc.pid
        # the new process shows the old one draining the held session and scp
        st = pg.wait_status(lambda s: s["upgraded_from"] is not None and
                            s["upgraded_from"]["sessions"] >= 2,
                            "the old process's draining sessions in /status")
        assert st["upgraded_from"]["pid"] == old
        assert pid_alive(old), "the old process exited with sessions live"
        # the held session goes on through the old process
        held.echo("during the drain")
        # a new login from the same client: the new process, the same VM
        assert _vm_sessions(pg.status(), held.vm) == 0, \
            "the new process counts the old one's sessions as its own"
        held2 = pg.session(src_a)
        assert held2.vm == held.vm, "affinity lost across the upgrade: %s then %s" % (
            held.vm, held2.vm)
        assert _vm_sessions(pg.status(), held.vm) == 1, \
            "the new login was not served by the new process"
        pg.login(src_new)
        # the scp runs to its end, intact
        _, err = scp.communicate(timeout=300)
        assert scp.returncode == 0, "scp across the upgrade failed: %s" % err
        assert sha256_file(os.path.join(_remote_home(), name)) == want, \
            "the file copied across the upgrade differs"
        held.echo("after the scp")
        code, _ = held.finish()
        assert code == 0, "the held session ended with %s" % code
        # last session gone: the old process exits, the new one says so
        assert pg.proc.wait(timeout=30) == 0
        pg.wait_status(lambda s: s["upgraded_from"] is None,
                       "upgraded_from cleared once the old process exited")
        # a second upgrade, by signal, from the process an upgrade made
        held2.echo("before the second upgrade")
        _, newer = pg.upgrade_to_new_pid(lambda: os.kill(new, signal.SIGUSR2))
        held2.echo("after the second upgrade")
        code, _ = held2.finish()
        assert code == 0
        held2 = None
        assert wait_gone(new, 30), "the second old process did not exit"
        assert pg.login(src_a) == held.vm
        assert pg.status()["pid"] == newer
    finally:
        loop.finish()
        if scp.poll() is None:
            scp.kill()
            scp.wait()
        held.close()
        if held2 is not None:
            held2.close()
        try:
            os.unlink(os.path.join(_remote_home(), name))
        except FileNotFoundError:
            pass
    assert loop.refused == 0, "%d connection(s) refused across the upgrade" % loop.refused
    assert loop.failed == [], "connections failed across the upgrade: %s" % loop.failed[:5]
    assert loop.ok >= 20, "the connection loop made only %d attempts" % loop.ok
    text = pg.log_text()
    assert "upgrade: took over from pid %d" % old in text
    assert "listen 127.0.0.1:%d: the socket the old process passed" % pg.port in text


def test_upgrade_to_bad_config_keeps_old_serving(upg_poolgate):
    pg = upg_poolgate(grace="5m")
    pg.wait_all_up()
    src = fresh_addr()
    held = pg.session(src)
    try:
        good = pg.conf.read_text()
        pg.conf.write_text(good + "colour_scheme = \"blue\";\n")
        off = pg.log_size()
        pg.ctl_ok("upgrade")
        m = pg.wait_log(r"upgrade: the new process \(pid \d+\) did not take over: "
                        r"it exited with status 1; this one \(pid %d\) goes on serving"
                        % pg.proc.pid, off, timeout=30)
        assert m, "no refusal in the log:\n%s" % pg.log_since(off)
        assert "colour_scheme" in pg.log_since(off)
        assert pg.status()["pid"] == pg.proc.pid
        assert pg.status()["upgraded_from"] is None
        held.echo("still here")
        assert pg.login(src) == held.vm
        # the old process still takes a good upgrade afterwards
        pg.conf.write_text(good)
        old, new = pg.upgrade_to_new_pid(lambda: pg.ctl_ok("upgrade"))
        held.echo("after the good upgrade")
        assert pg.login(src) == held.vm
        code, _ = held.finish()
        assert code == 0
        assert pg.proc.wait(timeout=30) == 0
    finally:
        held.close()


def test_upgrade_keeps_operator_states(upg_poolgate):
    """drain and maint set before the upgrade hold in the new process
    (backends.state, read at its start as after a restart)."""
    pg = upg_poolgate()
    pg.wait_all_up()
    pg.ctl_ok("drain", "vm2")
    pg.ctl_ok("maint", "vm3")
    pg.wait_states({"vm1": "up", "vm2": "drain", "vm3": "maint"})
    old, new = pg.upgrade_to_new_pid(lambda: pg.ctl_ok("upgrade"))
    st = pg.wait_states({"vm1": "up", "vm2": "drain", "vm3": "maint"})
    assert st["pid"] == new
    admin = {n: b["admin"] for n, b in pg.api_backends().items()}
    assert (admin["vm2"], admin["vm3"]) == ("drain", "maint"), admin
    # no new login goes to the drained or the maintained VM
    assert pg.login(fresh_addr()) not in ("vm2", "vm3")
    assert pg.proc.wait(timeout=30) == 0


def test_upgrade_refused_without_token(upg_poolgate):
    pg = upg_poolgate()
    p = pg.ctl("upgrade", conf=pg.ctl_conf(token_file=pg.wrong_token_file))
    assert p.returncode == 1 and "403" in p.stderr, p.stderr
    time.sleep(1)
    assert pg.status()["pid"] == pg.proc.pid
    assert "upgrade: started" not in pg.log_text()


# ------------------------------------------------------------------ Jupyter


class UpgradeHttpPoolgate(Follow, HttpPoolgate):
    """An HttpPoolgate (ssh and jupyter services) followed across upgrades."""


def test_upgrade_keeps_jupyter_websocket(pool, hubs, tmp_path):
    """A kernel's websocket opened before the upgrade carries code after it
    (the kernel keeps its variables: the same connection, the same kernel);
    the user's next page comes from the new process, from her VM."""
    gen = poolgate_factory(UpgradeHttpPoolgate, pool, tmp_path, "jupg")
    factory = next(gen)
    try:
        pg = factory(backends=pool.backends(HUB_VMS), grace="5m")
        pg.wait_all_up(timeout=30)
        addr = fresh_addr()
        alice = JupyterClient(pg.base_url, source_address=addr, timeout=60)
        r = alice.login("alice", pw("alice"))
        vm = r.headers.get("X-DSVM")
        assert vm in HUB_VMS, "alice's login answered without a VM name"
        alice.spawn(timeout=180)
        kid = alice.start_kernel()
        ch = alice.open_channels(kid, timeout=60)
        try:
            out = alice.execute("x = 6*7; print(x)", kernel_id=kid, channels=ch, timeout=90)
            assert out["stdout"] == "42\n", out
            old, new = pg.upgrade_to_new_pid(lambda: os.kill(pg.proc.pid, signal.SIGUSR2))
            st = pg.wait_status(lambda s: s["upgraded_from"] is not None and
                                s["upgraded_from"]["sessions"] >= 1,
                                "the websocket draining in the old process")
            assert st["upgraded_from"]["pid"] == old
            out = alice.execute("print(x + 1)", kernel_id=kid, channels=ch, timeout=90)
            assert out["stdout"] == "43\n", "the websocket after the upgrade: %r" % out
            # her next pages: on a kept-alive connection the old process
            # answers once more and closes it; then the new one, her VM
            for _ in range(2):
                r = alice.tree()
                assert r.status_code == 200 and r.headers.get("X-DSVM") == vm, \
                    "alice's tree after the upgrade: %d from %s" % (
                        r.status_code, r.headers.get("X-DSVM"))
            pg.wait_user_on("alice", vm, timeout=15)
            assert pid_alive(old), "the old process exited with the websocket open"
        finally:
            ch[0].close()
        alice.delete_kernel(kid)
        alice.session.close()
        pg.wait_status(lambda s: s["upgraded_from"] is None,
                       "the old process gone once the websocket closed", timeout=60)
        assert pg.proc.wait(timeout=30) == 0
    finally:
        for _ in gen:
            pass

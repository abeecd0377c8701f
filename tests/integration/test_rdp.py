"""poolgate's mode rdp in front of real xrdp servers (Debian's xrdp, one per
VM namespace), driven by FreeRDP's xfreerdp as a user would run it.

The last test also runs JupyterHub in vm1..vm3 (test_jupyter.py's
fixture). xrdp runs in each VM (`pool exec`) with its own xrdp.ini (port, log file);
its built-in pid file and socket folder live in the VM's own /run. The client side is `xfreerdp /u:<user> /p:...
/cert:ignore +auth-only` under Xvfb: it connects, negotiates TLS and logs in
as far as xrdp lets it without a desktop session, which is all routing
needs. Which VM a client reached is read from poolgate's session_end line.
"""

import os
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import POOL, HttpPoolgate, Poolgate, fresh_addr, free_port, poolgate_factory
from jupyter_client import JupyterClient
from test_jupyter import HUB_VMS, brief, pw
from test_jupyter import hubs  # noqa: F401  JupyterHubs in vm1..vm3, for the last test

XRDP_PORT = 3389


def _need(tool, package):
    if shutil.which(tool) is None:
        pytest.fail("%s not found (apt-get install %s; deploy/install-deps)" % (tool, package),
                    pytrace=False)


class Xrdp:
    """xrdp in every VM namespace of the pool."""

    def __init__(self, pool, workdir):
        self.pool = pool
        self.dir = workdir
        self.procs = {}
        with open("/etc/xrdp/xrdp.ini") as f:
            self.ini = f.read()

    def start(self, name):
        ini = re.sub(r"(?m)^port=3389$", "port=%d" % XRDP_PORT, self.ini)
        ini = re.sub(r"(?m)^LogFile=.*$", "LogFile=%s/xrdp-%s.log" % (self.dir, name), ini)
        path = os.path.join(self.dir, "xrdp-%s.ini" % name)
        with open(path, "w") as f:
            f.write(ini)
        # In the VM, /run is its own: xrdp's built-in pid file and socket
        # folder there are the VM's.
        script = ("mkdir -p /run/xrdp/sockdir && echo $$ > /run/xrdp/test.pid && "
                  "exec xrdp --nodaemon --config %s" % path)
        self.procs[name] = subprocess.Popen(
            [str(POOL), "exec", name, "--", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        addr = self.pool.address(name)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                pytest.fail("xrdp in %s exited with %s" % (name, self.procs[name].returncode),
                            pytrace=False)
            p = subprocess.run(["ip", "netns", "exec", "pg-" + name, "sh", "-c",
                                "ss -ltn | grep -q ':%d '" % XRDP_PORT])
            if p.returncode == 0:
                return
            time.sleep(0.2)
        pytest.fail("xrdp in %s (%s) does not listen on %d" % (name, addr, XRDP_PORT),
                    pytrace=False)

    def stop(self, name):
        p = self.procs.pop(name, None)
        if p is None:
            return
        # Its pid as the VM sees it (nsenter does not pass signals on).
        subprocess.run([str(POOL), "exec", name, "--", "sh", "-c",
                        "kill $(cat /run/xrdp/test.pid)"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)


@pytest.fixture(scope="module")
def xrdp(pool, tmp_path_factory):
    _need("xrdp", "xrdp")
    x = Xrdp(pool, str(tmp_path_factory.mktemp("xrdp")))
    try:
        for name, _ in pool.backends():
            x.start(name)
        yield x
    finally:
        x.stop_all()


@pytest.fixture(scope="module")
def display():
    _need("xfreerdp", "freerdp2-x11")
    _need("Xvfb", "xvfb")
    for n in range(90, 120):
        if not os.path.exists("/tmp/.X11-unix/X%d" % n) and not os.path.exists("/tmp/.X%d-lock" % n):
            break
    proc = subprocess.Popen(["Xvfb", ":%d" % n, "-nolisten", "tcp"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists("/tmp/.X11-unix/X%d" % n):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("Xvfb :%d did not start" % n, pytrace=False)
        time.sleep(0.1)
    yield ":%d" % n
    proc.terminate()
    proc.wait(timeout=10)


class RdpPoolgate(Poolgate):
    """poolgate with one mode rdp service (check type rdp) as `port`."""

    def config_lines(self, backends=None):
        backends = self.backends if backends is None else backends
        lines = [
            'state_dir = "%s";' % self.state_dir,
            'shutdown_grace = "2s"; allow_root = true;',
            'workers = %d;' % int(os.environ.get("POOLGATE_TEST_WORKERS", "0")),
            'admin = { listen = "127.0.0.1:%d"; };' % self.admin_port,
            'limits = { max_connections = 1000; per_ip_connections = 0; };',
            'affinity = { ttl = "1h"; by_client_ip = true; };',
            'services = (',
            '  { name = "rdp"; listen = [ "127.0.0.1:%d" ]; port = %d; mode = "rdp";'
            % (self.port, XRDP_PORT),
            '    first_packet_timeout = "%s";' % self.cfg.get("first_packet_timeout", "2s"),
            '    check = { type = "rdp"; interval = "500ms"; timeout = "400ms"; rise = 1;'
            ' fall = 2; }; }',
            ');',
            'backends = (',
        ]
        lines += ['  { name = "%s"; address = "%s"; }%s' % (n, a, "," if i + 1 < len(backends)
                                                          else "")
                  for i, (n, a) in enumerate(backends)]
        lines.append(');')
        return lines

    def rdp_login(self, display, user, extra=(), announced=None):
        return rdp_login(self, self.port, display, user, extra, announced)


def rdp_login(pg, port, display, user, extra=(), announced=None):
    """One xfreerdp +auth-only run as user to poolgate pg's rdp
    service on port; returns the VM it reached. announced: the user
    poolgate logs ("-" when the client sends a routing token, which
    replaces the mstshash cookie)."""
    announced = user if announced is None else announced
    off = pg.log_size()
    argv = ["xfreerdp", "/v:127.0.0.1:%d" % port, "/u:" + user, "/p:not-checked",
            "/cert:ignore", "+auth-only"] + list(extra)
    env = dict(os.environ, DISPLAY=display)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60, env=env)
    m = pg.wait_log(r"session_end[^\n]*user=%s [^\n]*vm=(vm[0-9]+)[^\n]*bytes_down=([0-9]+)"
                      % re.escape(announced), offset=off, timeout=30)
    assert m, "no session of %s in poolgate's log; xfreerdp (exit %d):\n%s\nlog:\n%s" % (
        user, p.returncode, p.stdout[-2000:], pg.log_since(off))
    assert int(m.group(2)) > 0, "%s's VM %s sent nothing back: %s" % (
        user, m.group(1), m.group(0))
    return m.group(1)


@pytest.fixture
def rdp_poolgate(pool, xrdp, tmp_path):
    yield from poolgate_factory(RdpPoolgate, pool, tmp_path, "rdp")


def test_same_user_same_vm(rdp_poolgate, display):
    pg = rdp_poolgate()
    pg.wait_all_up()
    first = pg.rdp_login(display, "alice")
    for _ in range(2):
        assert pg.rdp_login(display, "alice") == first


def test_two_users_one_address_by_load(rdp_poolgate, display):
    """Both come from 127.0.0.1: by address the second would follow the first."""
    pg = rdp_poolgate()
    pg.wait_all_up()
    a = pg.rdp_login(display, "alice")
    b = pg.rdp_login(display, "bob")
    assert a != b, "alice and bob from one address both landed on %s" % a
    assert pg.rdp_login(display, "alice") == a
    assert pg.rdp_login(display, "bob") == b


def test_routing_token_to_member(rdp_poolgate, pool, display):
    pg = rdp_poolgate()
    pg.wait_all_up()
    ip = bytes(int(x) for x in pool.address("vm3").split("."))
    ipnum = struct.unpack("<I", ip)[0]
    portnum = struct.unpack("<H", struct.pack(">H", XRDP_PORT))[0]
    token = "/load-balance-info:Cookie: msts=%d.%d.0000" % (ipnum, portnum)
    # Another broker's token is ignored: by address (a fresh poolgate: by
    # load, vm1 first). A token replaces the cookie: no user is announced.
    first = pg.rdp_login(display, "carol", ["/load-balance-info:tsv://MS Terminal "
                                            "Services Plugin.1.Desktops"], announced="-")
    assert first != "vm3", "the address went to vm3 already: the token proves nothing"
    # The token wins over the address's affinity.
    for _ in range(2):
        assert pg.rdp_login(display, "carol", [token], announced="-") == "vm3"
    # A token for an address outside the pool is ignored: routed by the
    # client address, whose affinity followed its newest session (vm3).
    other = struct.unpack("<I", bytes([192, 0, 2, 9]))[0]
    vm = pg.rdp_login(display, "dave", ["/load-balance-info:Cookie: msts=%d.%d.0000"
                                        % (other, portnum)], announced="-")
    assert vm == "vm3"
    assert "routing token for 192.0.2.9:3389 is not a pool member" in pg.log_text()


def _closed(s):
    """True once poolgate closed s (a FIN, or a reset over unread bytes)."""
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


def test_garbage_lying_and_silent_clients_reach_no_vm(rdp_poolgate):
    pg = rdp_poolgate(first_packet_timeout="1s")
    pg.wait_all_up()
    before = pg.status()
    sessions_before = sum(b.get("sessions", 0) for b in before["backends"])
    # Garbage: an SSH client on the RDP port.
    with socket.create_connection(("127.0.0.1", pg.port), timeout=5) as s:
        s.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        assert _closed(s)
    # A lying TPKT length (more than a Connection Request can hold).
    with socket.create_connection(("127.0.0.1", pg.port), timeout=5) as s:
        s.sendall(b"\x03\x00\x10\x00")
        assert _closed(s)
    # Half a Connection Request, then silence.
    with socket.create_connection(("127.0.0.1", pg.port), timeout=5) as s:
        s.sendall(b"\x03\x00\x00\x13\x0e\xe0")
        t0 = time.monotonic()
        assert _closed(s)
        assert time.monotonic() - t0 >= 0.8
    st = pg.wait_status(lambda st: st["services"][0]["errors"]["bad_first_packet"] == 2 and
                        st["services"][0]["errors"]["first_packet_timeout"] == 1,
                        "two bad first packets and one timeout counted")
    assert sum(b.get("sessions", 0) for b in st["backends"]) == sessions_before
    code, metrics = pg.get("/metrics")
    assert 'reason="bad_first_packet"} 2' in metrics, metrics
    for line in pg.log_text().splitlines():
        if "session_end" in line and ("bad_first_packet" in line or
                                      "first_packet_timeout" in line):
            assert "vm=-" in line, line


def test_rdp_check_takes_vm_down_when_xrdp_stops(rdp_poolgate, xrdp):
    pg = rdp_poolgate()
    pg.wait_all_up()
    xrdp.stop("vm2")
    try:
        pg.wait_states({"vm2": "down", "vm1": "up", "vm3": "up"})
    finally:
        xrdp.start("vm2")
    pg.wait_states({"vm2": "up"})


class WithRdpService:
    """Mixin for a Poolgate class: an rdp service (self.rdp_port) added to
    its services, in front of the same VMs' xrdp."""

    def __init__(self, *args, **cfg):
        self.rdp_port = free_port()
        super().__init__(*args, **cfg)

    def config_lines(self, backends=None):
        lines = super().config_lines(backends)
        i = lines.index(");")   # the end of services
        lines[i - 1] += ","
        lines.insert(i, '  { name = "rdp"; listen = [ "127.0.0.1:%d" ]; port = %d; mode = "rdp";'
                     ' check = { type = "rdp"; interval = "500ms"; timeout = "400ms";'
                     ' rise = 1; fall = 2; }; }' % (self.rdp_port, XRDP_PORT))
        return lines


class JupyterRdpPoolgate(WithRdpService, HttpPoolgate):
    """poolgate with ssh, the "jupyter" http service and an rdp service
    (self.rdp_port) in front of the same VMs."""


def test_rdp_lands_where_the_users_jupyter_server_is(pool, xrdp, hubs, display, tmp_path):
    """alice's Jupyter server runs on X; her RDP client (mstshash=alice)
    from another address lands on X, though by load it would go elsewhere:
    a held SSH session makes one VM busy, her Jupyter session X, and a new
    RDP user right after her lands on the third."""
    gen = poolgate_factory(JupyterRdpPoolgate, pool, tmp_path, "jupyter-rdp")
    make = next(gen)
    try:
        pg = make(backends=pool.backends(HUB_VMS))
        pg.wait_all_up(timeout=30)
        hold = pg.session(fresh_addr())
        c = JupyterClient(pg.base_url, source_address=fresh_addr(), timeout=60)
        c.login("alice", pw("alice"))
        c.spawn(timeout=180)
        r = c.tree()
        x = r.headers.get("X-DSVM")
        assert r.status_code == 200 and x in HUB_VMS, brief(r)
        assert x != hold.vm, "alice's server went to %s, the VM of the held session" % x
        assert rdp_login(pg, pg.rdp_port, display, "alice") == x
        other = rdp_login(pg, pg.rdp_port, display, "carol")
        assert other not in (x, hold.vm), (
            "a new user went to %s: by load the free VM was not the third one" % other)
        assert rdp_login(pg, pg.rdp_port, display, "alice") == x
        hold.close()
    finally:
        for _ in gen:
            pass

"""Sessions as the VMs see them: poolgate reading the VM agents' reports.

The real poolgate-agent runs inside each pool VM (its own PID and mount
namespace: tests/pool/pool), poolgate asks it GET /v1/report, and the tests
check what poolgate does with the truth:

  1. detached work (a `nohup sleep`, a CPU-bound loop in tmux) started over
     SSH through poolgate keeps vm_idle back for 3x idle_grace after the
     user logged out; once the work ends, vm_idle fires within idle_grace
     plus the time the news takes to arrive (one agent interval, one
     poolgate agent round, one hook tick);
  2. a Jupyter user with a running server and an idle kernel: poolgate's
     state directory deleted and poolgate restarted, her next login (from a
     new address, a new browser) lands on the VM that runs her server;
  3. a fake Azure metadata service in a VM announces a Terminate: poolgate
     drains the VM within 2 s, the hook gets vm_evicting, and the agent
     approves (StartRequests) only after the last user session ended;
  4. source = "client": the VM's sshd logs the client namespace's address
     and the session works; without CAP_NET_ADMIN poolgate does not start
     and says what is missing.

Needs root, the namespace pool, JupyterHub (test 2), tmux (test 1), nft
(test 4): deploy/install-deps installs them; a missing one fails.
"""

import http.server
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "pool"))
sys.path.insert(0, str(HERE))

import hub as hubmod  # noqa: E402  tests/pool/hub.py
from conftest import POOL, fresh_addr  # noqa: E402
from jupyter_client import JupyterClient  # noqa: E402

GRACE_S = 4
AGENT_PORT = 9101
# poolgate asks each agent this often; the agents collect every second.
PG_AGENT = 'agent = { port = %d; interval = "500ms"; timeout = "450ms"; };' % AGENT_PORT
HUB_DIR = os.environ.get("POOLGATE_ITEST_HUB_DIR", "/tmp/poolgate-itest-hubs")


def with_lines(pg, extra):
    """pg's configuration, now and after restarts, plus the lines extra."""
    base = pg.config_lines
    pg.config_lines = lambda backends=None: base(backends) + list(extra)
    pg.write_config()


class Hook:
    """A hook command that appends "EVENT BACKEND EVICTION" per run."""

    def __init__(self, d):
        self.log = Path(d) / "hook.log"
        self.path = Path(d) / "hook"
        self.path.write_text('#!/bin/sh\nprintf "%%s %%s %%s\\n" "$1" "$2" '
                             '"$POOLGATE_EVICTION" >> %s\n' % self.log)
        self.path.chmod(0o755)
        self.log.write_text("")

    def lines(self):
        return [ln.split(" ", 2) for ln in self.log.read_text().splitlines()]

    def fired(self, event, vm):
        return [ln for ln in self.lines() if ln[0] == event and ln[1] == vm]

    def config(self, grace_s=GRACE_S):
        return 'hooks = { command = "%s"; timeout = "5s"; idle_grace = "%ds"; headroom = 0; };' % (
            self.path, grace_s)

    def wait(self, event, vm, timeout, after=0):
        """Waits for the (after+1)th run of event for vm; returns when."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.fired(event, vm)) > after:
                return time.monotonic()
            time.sleep(0.1)
        raise AssertionError("no %s for %s within %.0fs; hook runs: %s" % (
            event, vm, timeout, self.lines()))


def pool_exec(vm, *argv, check=True, timeout=30):
    p = subprocess.run([str(POOL), "exec", vm, "--"] + list(argv), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("pool exec %s %s: exit %d: %s" % (vm, argv, p.returncode, p.stdout))
    return p.stdout


def ssh_run(pg, src, remote, timeout=60):
    p = subprocess.run(pg.ssh_argv(src, remote), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    assert p.returncode == 0, "ssh %r through poolgate: exit %d: %s" % (
        remote, p.returncode, p.stderr)
    return p.stdout


def backend(st, name):
    for b in st["backends"]:
        if b["name"] == name:
            return b
    raise AssertionError("%s not in /status" % name)


def work_of(st, vm, user):
    for w in backend(st, vm).get("work", []):
        if w["user"] == user:
            return w
    return None


# ------------------------------------------------------------------ 1

@pytest.mark.parametrize("kind", ["nohup", "tmux"])
def test_detached_work_holds_vm_idle(kind, new_poolgate, vm_agent, pool, tmp_path):
    vms = ("vm1", "vm2")
    for vm in vms:
        vm_agent(vm)
    hook = Hook(tmp_path)
    pg = new_poolgate(backends=pool.backends(vms), start=False)
    with_lines(pg, [PG_AGENT, hook.config()])
    pg.start()
    pg.wait_all_up()
    # Both VMs are reported idle once first: the agents answer.
    for vm in vms:
        hook.wait("vm_idle", vm, timeout=GRACE_S + 10)

    if kind == "nohup":
        start = "nohup sleep 600 </dev/null >/dev/null 2>&1 & echo $DSVM_NAME"
        what = "sleep"
    else:
        start = ("tmux new-session -d -s job 'while :; do :; done' && echo $DSVM_NAME")
        what = "tmux"
    vm = ssh_run(pg, "127.0.0.41", start).strip()
    assert vm in vms, vm
    # The user logged out; poolgate counts no session there any more.
    pg.wait_status(lambda st: backend(st, vm)["sessions"] == 0, "the login over")
    # ... but the agent's report counts the detached work, and so does poolgate.
    st = pg.wait_status(lambda st: work_of(st, vm, "pgtest") is not None and
                        "process" in work_of(st, vm, "pgtest")["kinds"],
                        "pgtest's detached %s in /status work of %s" % (what, vm), timeout=10)
    assert backend(st, vm)["report"]["ok"], backend(st, vm)
    assert backend(st, vm)["load"] >= 1, backend(st, vm)
    quiet_since = time.monotonic()
    before = len(hook.fired("vm_idle", vm))
    # A new user goes to the other VM: the work is load.
    other = [v for v in vms if v != vm][0]
    assert pg.login("127.0.0.42") == other, "a new login went to the VM with the job"

    time.sleep(3 * GRACE_S)
    assert len(hook.fired("vm_idle", vm)) == before, (
        "vm_idle fired for %s while pgtest's detached %s ran there: %s\n%s" % (
            vm, what, hook.lines(), pg.log_tail(40)))
    assert time.monotonic() - quiet_since >= 3 * GRACE_S

    # The work ends: idle after the grace, once the news arrived.
    pool_exec(vm, "pkill", "-KILL", "-u", "pgtest")
    ended = time.monotonic()
    # idle_grace + the agent's interval (1 s) + poolgate's agent round
    # (0.5 s) + the hook detector's tick (1 s), and 1 s for a loaded machine.
    limit = GRACE_S + 1 + 0.5 + 1 + 1
    got = hook.wait("vm_idle", vm, timeout=limit + 10, after=before) - ended
    assert got >= GRACE_S - 0.5, "vm_idle %.1fs after the work ended: before the grace" % got
    assert got <= limit, "vm_idle %.1fs after the work ended (at most %.1fs)" % (got, limit)


# ------------------------------------------------------------------ 2

@pytest.fixture
def hubs_with_agents(pool, vm_agent, tmp_path):
    """JupyterHub in vm1..vm3 with a service token for the agent, and the
    agent in each VM asking its hub (list:users, read:users:activity,
    read:servers, access:servers)."""
    try:
        hubmod.check_installed()
    except hubmod.HubError as e:
        pytest.fail(str(e), pytrace=False)
    token = secrets.token_hex(24)
    started = {}
    try:
        for vm in ("vm1", "vm2", "vm3"):
            started[vm] = hubmod.Hub(vm, d=HUB_DIR, agent_token=token).start()
            tf = Path(hubmod.hub_dir(vm, HUB_DIR)) / "agent-token"
            tf.write_text(token + "\n")
            tf.chmod(0o600)
            vm_agent(vm, extra=['jupyterhub = { url = "%s"; token_file = "%s"; };' % (
                hubmod.hub_url(vm).rstrip("/"), tf)])
    except hubmod.HubError as e:
        for h in started.values():
            h.stop(quiet=True)
        pytest.fail(str(e), pytrace=False)
    yield started
    for h in started.values():
        h.stop(quiet=True)


def test_jupyter_user_lands_on_her_server_after_state_loss(hubs_with_agents, new_http_poolgate,
                                                            pool):
    pg = new_http_poolgate(backends=pool.backends(("vm1", "vm2", "vm3")), start=False)
    with_lines(pg, [PG_AGENT])
    pg.start()
    pg.wait_all_up(timeout=30)
    c = JupyterClient(pg.base_url, source_address="127.0.0.51", timeout=60)
    c.login("carol", hubmod.password("carol"))
    c.spawn(timeout=180)
    vm = c.tree().headers.get("X-DSVM")
    assert vm in ("vm1", "vm2", "vm3"), vm
    kid = c.start_kernel()
    assert kid, "no kernel started"
    # Her server's processes are her work on vm, as the agent reports it.
    pg.wait_status(lambda st: work_of(st, vm, "carol") is not None,
                   "carol's work on %s in /status" % vm, timeout=15)

    # poolgate forgets everything: its state directory goes, it restarts.
    pg.stop()
    shutil.rmtree(pg.state_dir)
    pg.state_dir.mkdir()
    pg.restart()
    pg.wait_all_up(timeout=30)
    # Until the agents answered, nothing is known of carol; then her work is.
    pg.wait_status(lambda st: work_of(st, vm, "carol") is not None,
                   "carol's work on %s after the restart" % vm, timeout=15)

    # A new browser on a new address: the login lands where her server runs,
    # although that VM is the most loaded one.
    c2 = JupyterClient(pg.base_url, source_address=fresh_addr(), timeout=60)
    r = c2.login("carol", hubmod.password("carol"))
    assert r.headers.get("X-DSVM") == vm, (
        "after poolgate lost its state, carol's login went to %s, not %s where her "
        "server runs" % (r.headers.get("X-DSVM"), vm))
    r = c2.tree()
    assert r.status_code == 200 and r.headers.get("X-DSVM") == vm, r.status_code
    # A new user is placed by load, away from carol's VM.
    c3 = JupyterClient(pg.base_url, source_address=fresh_addr(), timeout=60)
    r = c3.login("dave", hubmod.password("dave"))
    assert r.headers.get("X-DSVM") not in (None, vm), (
        "dave (new) went to %s, the VM with carol's work" % r.headers.get("X-DSVM"))


# ------------------------------------------------------------------ 3

FAKE_MD = r'''
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, vm, log, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
import os
none = {"DocumentIncarnation": 1, "Events": []}
doc = {"DocumentIncarnation": 2, "Events": [{
    "EventId": "C7061BAC-AFDC-4513-B24B-AA5F13A16123", "EventStatus": "Scheduled",
    "EventType": "Terminate", "ResourceType": "VirtualMachine", "Resources": [vm],
    "NotBefore": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 900)),
    "Description": "test", "EventSource": "Platform", "DurationInSeconds": -1}]}
class H(BaseHTTPRequestHandler):
    def _log(self, body=b""):
        with open(log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "metadata": self.headers.get("Metadata"),
                                "body": body.decode("utf-8", "replace")}) + "\n")
    def do_GET(self):
        self._log()
        if self.headers.get("Metadata") != "true":
            self.send_response(400); self.end_headers(); return
        if self.path.startswith("/metadata/instance/compute/name"):
            b = vm.encode()
        elif self.path.startswith("/metadata/scheduledevents"):
            b = json.dumps(doc if os.path.exists(flag) else none).encode()
        else:
            self.send_response(404); self.end_headers(); return
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers(); self.wfile.write(b)
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self._log(self.rfile.read(n))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'''


def test_eviction_drains_hooks_and_approves_after_last_session(new_poolgate, vm_agent, pool,
                                                               tmp_path):
    vms = ("vm1", "vm2")
    vm = "vm2"
    md = tmp_path / "fake-md.py"
    md.write_text(FAKE_MD)
    calls = tmp_path / "md-calls.log"
    calls.write_text("")
    flag = tmp_path / "announce"
    fake = subprocess.Popen([str(POOL), "exec", vm, "--", "/usr/bin/python3", str(md), "8169",
                             vm, str(calls), str(flag)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        vm_agent("vm1")
        vm_agent(vm, extra=['azure = { enabled = true; url = "http://127.0.0.1:8169"; };'])
        hook = Hook(tmp_path)
        pg = new_poolgate(backends=pool.backends(vms), start=False)
        with_lines(pg, [PG_AGENT, hook.config(grace_s=600)])
        pg.start()
        pg.wait_all_up()
        # A user on vm2 first (by address affinity, then held open).
        s = None
        for i in range(10):
            cand = pg.session("127.0.0.6%d" % i)
            if cand.vm == vm:
                s = cand
                break
            cand.close()
        assert s is not None, "no login reached %s" % vm
        # Now the cloud announces vm2's Terminate; its agent polls the fake.
        assert backend(pg.status(), vm)["state"] == "up"
        flag.write_text("now\n")
        t0 = time.monotonic()
        st = pg.wait_status(lambda st: (backend(st, vm).get("report") or {}).get("eviction"),
                            "%s's eviction in /status" % vm, timeout=5)
        took = time.monotonic() - t0
        assert backend(st, vm)["state"] == "drain", backend(st, vm)
        ev = backend(st, vm)["report"]["eviction"]
        assert ev["type"] == "Terminate", ev
        # The agent's next poll (1 s), then poolgate's next round (0.5 s).
        assert took <= 2.0, "drained %.1fs after the announcement" % took
        hook.wait("vm_evicting", vm, timeout=5)
        assert hook.fired("vm_evicting", vm)[0][2].startswith("Terminate"), hook.lines()
        # New logins go elsewhere; the open session lives on.
        assert pg.login("127.0.0.70") != vm
        s.echo("still here")
        # No approval while the user works there.
        time.sleep(4)
        posts = [json.loads(ln) for ln in calls.read_text().splitlines()
                 if json.loads(ln)["method"] == "POST"]
        assert posts == [], "approved while a user session was open: %s" % posts
        s.finish()
        # The last session ended: approved within a few agent intervals.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            posts = [json.loads(ln) for ln in calls.read_text().splitlines()
                     if json.loads(ln)["method"] == "POST"]
            if posts:
                break
            time.sleep(0.2)
        assert posts, "the agent never approved the Terminate after the session ended"
        body = json.loads(posts[0]["body"])
        assert body == {"StartRequests": [{"EventId": "C7061BAC-AFDC-4513-B24B-AA5F13A16123"}]}
        assert posts[0]["metadata"] == "true"
    finally:
        fake.terminate()
        try:
            fake.wait(5)
        except subprocess.TimeoutExpired:
            fake.kill()
        pool_exec(vm, "pkill", "-f", str(md), check=False)


# ------------------------------------------------------------------ 4

CLIENT_NS = "pg-client"
CLIENT_ADDR = "10.231.9.2"
GATE_ADDR = "10.231.9.1"
NETNS_ETC = "/etc/netns/" + CLIENT_NS
POOL_NAME = "pool.poolgate.test"   # tests/pool/pool


def sh(*argv, check=True):
    p = subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stdout))
    return p.stdout


@pytest.fixture
def client_ns():
    """A client machine: netns pg-client (10.231.9.2) behind a veth to the
    root namespace (10.231.9.1), and the poolgate node's return path for
    source = "client" as poolgate.conf(5) SOURCE ADDRESS gives it."""
    if shutil.which("nft") is None:
        pytest.fail("nft not found (Debian package nftables; deploy/install-deps)",
                    pytrace=False)
    sh("ip", "netns", "del", CLIENT_NS, check=False)
    sh("ip", "link", "del", "pgcl0", check=False)
    sh("ip", "netns", "add", CLIENT_NS)
    # The client machine's own /etc/hosts (ip-netns(8) binds it over
    # /etc/hosts): users dial the pool by its name, the principal of the
    # VMs' host certificates.
    os.makedirs(NETNS_ETC, exist_ok=True)
    with open(os.path.join(NETNS_ETC, "hosts"), "w") as f:
        f.write("127.0.0.1 localhost\n%s %s\n" % (GATE_ADDR, POOL_NAME))
    sh("ip", "link", "add", "pgcl0", "type", "veth", "peer", "name", "eth0", "netns", CLIENT_NS)
    sh("ip", "addr", "add", GATE_ADDR + "/24", "dev", "pgcl0")
    sh("ip", "link", "set", "pgcl0", "up")
    sh("ip", "netns", "exec", CLIENT_NS, "ip", "link", "set", "lo", "up")
    sh("ip", "netns", "exec", CLIENT_NS, "ip", "addr", "add", CLIENT_ADDR + "/24", "dev", "eth0")
    sh("ip", "netns", "exec", CLIENT_NS, "ip", "link", "set", "eth0", "up")
    sh("ip", "netns", "exec", CLIENT_NS, "ip", "route", "add", "default", "via", GATE_ADDR)
    sh("nft", "add", "table", "ip", "poolgate_test")
    sh("nft", "add", "chain", "ip", "poolgate_test", "pre",
       "{ type filter hook prerouting priority mangle; }")
    sh("nft", "add", "rule", "ip", "poolgate_test", "pre", "meta", "l4proto", "tcp",
       "socket", "transparent", "1", "meta", "mark", "set", "0x50")
    sh("ip", "rule", "add", "fwmark", "0x50", "lookup", "150")
    sh("ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "150")
    yield
    sh("ip", "rule", "del", "fwmark", "0x50", "lookup", "150", check=False)
    sh("ip", "route", "flush", "table", "150", check=False)
    sh("nft", "delete", "table", "ip", "poolgate_test", check=False)
    sh("ip", "netns", "del", CLIENT_NS, check=False)
    sh("ip", "link", "del", "pgcl0", check=False)
    shutil.rmtree(NETNS_ETC, ignore_errors=True)


def test_source_client_vm_sees_the_client(client_ns, new_poolgate, pool, tmp_path):
    vm = "vm1"
    pg = new_poolgate(backends=pool.backends((vm,)), start=False)
    lines = pg.config_lines()
    lines = [ln.replace('listen = [ "127.0.0.1:%d" ]' % pg.port,
                        'listen = [ "%s:%d" ]' % (GATE_ADDR, pg.port)) for ln in lines]
    lines = [ln.replace('mode = "tcp";', 'mode = "tcp"; source = "client";') for ln in lines]
    pg.config_lines = lambda backends=None: lines
    pg.write_config()
    pg.start()
    pg.wait_all_up()
    sshd_log = Path(pool.dir) / vm / "sshd.log"
    mark = sshd_log.stat().st_size if sshd_log.exists() else 0
    p = subprocess.run(["ip", "netns", "exec", CLIENT_NS, "ssh", "-F", pool.ssh_config,
                        "-p", str(pg.port), "pgtest@" + POOL_NAME,
                        'echo "$DSVM_NAME $SSH_CONNECTION"'],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert p.returncode == 0, "ssh from the client namespace: %s\n%s" % (
        p.stderr, pg.log_tail(30))
    name, peer = p.stdout.split()[0], p.stdout.split()[1]
    assert name == vm and peer == CLIENT_ADDR, (
        "the VM saw its peer as %s, not the client %s" % (peer, CLIENT_ADDR))
    with open(sshd_log, errors="replace") as f:
        f.seek(mark)
        log = f.read()
    assert re.search(r"Accepted publickey for pgtest from %s port \d+" % re.escape(CLIENT_ADDR),
                     log), "sshd's log does not name the client:\n%s" % log[-2000:]
    # The source port poolgate logged is the one sshd saw.
    port = re.search(r"from %s port (\d+)" % re.escape(CLIENT_ADDR), log).group(1)
    pg.wait_log(r"session_start .*source_port=%s\b" % port, timeout=5)


def test_source_client_without_capability_does_not_start(pool, tmp_path, new_poolgate):
    pg = new_poolgate(backends=pool.backends(("vm1",)), start=False)
    lines = [ln.replace('mode = "tcp";', 'mode = "tcp"; source = "client";')
             for ln in pg.config_lines()]
    pg.write_config(lines)
    os.chown(pg.state_dir, 65534, 65534)
    os.chmod(pg.conf, 0o644)
    for d in (pg.workdir, *pg.workdir.parents):
        if str(d) in ("/", "/tmp"):
            break
        os.chmod(d, os.stat(d).st_mode | 0o005)
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        pg.binary, "-c", str(pg.conf)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
    assert p.returncode != 0, "poolgate started without CAP_NET_ADMIN: %s" % p.stdout
    assert 'services[0].source = "client"' in p.stdout and "CAP_NET_ADMIN" in p.stdout, p.stdout

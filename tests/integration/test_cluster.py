"""Two poolgate nodes, one pool: the nodes share affinities, sessions per
VM, operator states and the hook runner through a real redis-server
(Debian's, on a loopback port chosen here, with a password), in front of
the namespace pool of tests/pool/pool, driven with OpenSSH's ssh.

Each test starts its own Redis and its own nodes; Redis' files go to the
test's tmp_path. The Jupyter test uses JupyterHubs in vm1..vm3 (started
once for the module, test_jupyter.py's fixture); the keepalived test runs
each node and a keepalived in a network namespace of its own. A missing
redis-server or keepalived is a failure (deploy/install-deps installs
them)."""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import fresh_addr, free_port, poolgate_factory
from jupyter_client import JupyterClient
from test_jupyter import COOKIE, HUB_VMS, brief, final_path, pw
from test_jupyter import hubs  # noqa: F401  the module's JupyterHubs in vm1..vm3
from test_pool_ops import HookRecord, OpsPoolgate


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class Redis:
    """One redis-server on 127.0.0.1:port with a password; start/stop keep
    the port, so nodes find it again."""

    def __init__(self, workdir, bind=("127.0.0.1",)):
        self.dir = workdir
        self.bind = list(bind)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.password = secrets.token_urlsafe(24)
        self.password_file = self.dir / "redis.pass"
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (self.password + "\n").encode())
        os.close(fd)
        self.proc = None

    def start(self):
        if not os.access(REDIS_SERVER, os.X_OK):
            pytest.fail("redis-server not found (deploy/install-deps installs it)",
                        pytrace=False)
        log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind"] + self.bind + [
             "--requirepass", self.password, "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while self.cli("PING", check=False).strip() != "PONG":
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not answer on port %d" % self.port,
                            pytrace=False)
            time.sleep(0.05)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cli(self, *args, check=True):
        p = subprocess.run(["redis-cli", "-p", str(self.port), "--no-auth-warning",
                            "-a", self.password] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=10)
        if check and p.returncode != 0:
            raise AssertionError("redis-cli %s: %s" % (args, p.stdout))
        return p.stdout


@pytest.fixture
def redis(tmp_path):
    r = Redis(tmp_path / "redis").start()
    yield r
    r.stop()


@pytest.fixture
def nodes(pool, tmp_path, redis):
    """Factory: nodes(n, hooks=None) starts n poolgate nodes sharing redis;
    before_start(pg) is called for each just before it starts, other
    keywords go to OpsPoolgate (with_http=True: the "jupyter" service)."""
    made = []
    gen = poolgate_factory(OpsPoolgate, pool, tmp_path, "node")
    factory = next(gen)

    def make(n, hooks=None, lease="2s", before_start=None, **kw):
        for k in range(n):
            name = "pg%d" % (len(made) + 1)
            top = ['cluster = { node = "%s"; redis = [ "127.0.0.1:%d" ]; '
                   'password_file = "%s"; lease = "%s"; node_expiry = "3s"; '
                   'timeout = "1s"; };' % (name, redis.port, redis.password_file, lease)]
            if hooks is not None:
                top.append(hooks)
            pg = factory(top=top, start=False, **kw)
            pg.node = name
            made.append(pg)
        for pg in made[-n:]:
            if before_start is not None:
                before_start(pg)
            pg.start()
        for pg in made[-n:]:
            pg.wait_all_up()
            wait_cluster(pg, lambda c: c["redis"] == "up", "Redis up")
        return made[-n:]

    yield make
    try:
        next(gen)
    except StopIteration:
        pass


def cluster(pg):
    return pg.status()["cluster"]


def wait_cluster(pg, pred, what, timeout=10.0):
    def ok(st):
        c = st.get("cluster")
        assert c is not None and c.get("node") == pg.node, (
            "%s: /status has no cluster of node %s: %s" % (what, pg.node, c))
        return pred(c)
    return pg.wait_status(ok, "%s on %s" % (what, pg.node), timeout=timeout,
                          poll=0.05)["cluster"]


def kill(pg):
    """SIGKILL: no goodbye, no state saved, nothing handed over."""
    pg.stopped_on_purpose = True
    pg.proc.send_signal(signal.SIGKILL)
    pg.proc.wait()


def load_of(st, vm):
    for b in st["backends"]:
        if b["name"] == vm:
            return b["load"]
    raise AssertionError("%s not in /status" % vm)


def elapsed_until(pred, timeout, poll=0.05):
    """Seconds until pred() held, or None after timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(poll)
    return None


# ---------------------------------------------------------------- affinity

def test_affinity_outlives_the_node_that_made_it(nodes, pool):
    """An address placed through node 1 lands on the same VM through node 2
    after node 1 was killed, also when load alone would choose another."""
    n1, n2 = nodes(2)
    first = fresh_addr()
    hold = n1.session(first)       # the first VM now has a session ...
    placed = fresh_addr()
    x = n1.login(placed)           # ... so this address goes to another one
    assert x != hold.vm, "two logins through an idle pool met on %s" % x
    hold.close()
    kill(n1)
    # node 1's sessions have left node 2's count: by load alone node 2 would
    # now choose the first VM again (the pool's order), not x
    n2.wait_status(lambda st: all(b["load"] == 0 for b in st["backends"]),
                   "node 1's sessions gone from node 2", timeout=10)
    assert n2.login(fresh_addr()) == hold.vm, "load order changed; the test proves nothing"
    assert n2.login(placed) == x, "node 2 did not send %s back to %s" % (placed, x)


# ------------------------------------------------------------ pool-wide load

def test_sessions_of_one_node_count_on_the_other(nodes, pool):
    n1, n2 = nodes(2)
    addr = fresh_addr()
    s1 = n1.session(addr)
    s2 = n1.session(addr)          # the same address: the same VM
    x = s1.vm
    assert s2.vm == x
    took = elapsed_until(lambda: load_of(n2.status(), x) >= 2, 5)
    assert took is not None and took <= 1.0, (
        "node 2 counted node 1's two sessions on %s after %s s" % (x, took))
    # a new client through node 2 goes to a less loaded VM
    assert n2.login(fresh_addr()) != x
    # node 1 dies: its sessions leave node 2's count within node_expiry (3 s)
    kill(n1)
    s1.close()
    s2.close()
    took = elapsed_until(lambda: load_of(n2.status(), x) == 0, 10)
    assert took is not None and took <= 4.5, (
        "node 1's sessions stayed in node 2's count for %s s" % took)


def test_drain_through_one_node_applies_on_the_other(nodes, pool):
    n1, n2 = nodes(2)
    x = n1.login(fresh_addr())
    code, _, body = n2.api("POST", "backends/%s/drain" % x)
    assert code == 200, body
    took = elapsed_until(
        lambda: n1.backend(n1.status(), x)["state"] == "drain", 5)
    assert took is not None and took <= 1.0, "node 1 saw the drain after %s s" % took
    for _ in range(4):
        assert n1.login(fresh_addr()) != x, "node 1 sent a new client to drained %s" % x
    code, _, body = n1.api("POST", "backends/%s/ready" % x)
    assert code == 200, body
    n2.wait_states({x: "up"}, timeout=2)


def test_node_drain_takes_the_node_out_of_the_front(nodes, pool):
    """poolgatectl node drain: /healthz 503 with the reason, live sessions
    go on, the other node sees it drained; node ready brings it back."""
    n1, n2 = nodes(2)
    s = n1.session(fresh_addr())
    ctl = [os.environ.get("POOLGATECTL", "poolgatectl"), "--endpoint",
           "http://127.0.0.1:%d" % n1.admin_port, "--token-file", str(n1.token_file)]
    p = subprocess.run(ctl + ["node", "drain"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=20)
    assert p.returncode == 0, p.stdout
    code, body = n1.get("/healthz")
    assert code == 503 and "node drained by the operator" in body, (code, body)
    s.echo("still here")
    wait_cluster(n2, lambda c: any(p["name"] == "pg1" and p["draining"]
                                   for p in c["nodes"]), "pg1 drained", timeout=3)
    p = subprocess.run(ctl + ["node", "status"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=20)
    assert p.returncode == 0 and "pg1" in p.stdout and "drained" in p.stdout, p.stdout
    assert "pg2" in p.stdout and "hook runner:" in p.stdout, p.stdout
    p = subprocess.run(ctl + ["node", "ready"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=20)
    assert p.returncode == 0, p.stdout
    code, body = n1.get("/healthz")
    assert code == 200, (code, body)
    s.echo("and still here")
    s.close()


# --------------------------------------------------------------------- hooks

def test_hooks_run_once_in_the_pool_and_move_with_the_lease(nodes, pool, tmp_path):
    rec = HookRecord(tmp_path)
    n1, n2 = nodes(2, hooks=rec.config(idle_grace="2s", headroom=0), lease="2s")
    names = [n for n, _ in pool.backends()]
    # every VM: up, then idle after the grace, each run once in the pool
    for vm in names:
        rec.wait("vm_up", vm, timeout=15)
        rec.wait("vm_idle", vm, timeout=15)
    runner = wait_cluster(n1, lambda c: c["hook_runner"] in ("pg1", "pg2"),
                          "a hook runner")["hook_runner"]
    other = n2 if runner == "pg1" else n1
    dead = n1 if runner == "pg1" else n2
    start = len(rec.events())
    s = other.session(fresh_addr())
    x = s.vm
    rec.wait("vm_busy", x, since=start, timeout=10)
    # every node samples the pool once a second: let both see x busy
    time.sleep(1.5)
    # the runner dies just as x's last session ends: x's idle grace (2 s)
    # runs out while nobody holds the lease (2 s; tried every 2/3 s)
    kill(dead)
    s.close()
    took = elapsed_until(lambda: cluster(other)["hook_runner"] == other.node, 10)
    assert took is not None and took <= 3.2, "no takeover after %s s" % took
    # ... and vm_idle for x is run, once, by the new runner
    i, _ = rec.wait("vm_idle", x, since=start, timeout=15)
    time.sleep(3)
    evs = [rec.name(e) for e in rec.events()]
    for vm in names:
        assert evs.count(("vm_up", vm)) == 1, rec.summary()
    assert evs.count(("vm_busy", x)) == 1, rec.summary()
    assert evs.count(("vm_idle", x)) == 2, rec.summary()   # before the session, after it


# ----------------------------------------------------------------- degraded

def test_redis_away_nodes_serve_and_merge_when_it_returns(nodes, pool, redis, tmp_path):
    rec = HookRecord(tmp_path)
    n1, n2 = nodes(2, hooks=rec.config(idle_grace="1s", headroom=0))
    names = [n for n, _ in pool.backends()]
    returning = fresh_addr()
    vm_r = n1.login(returning)
    for vm in names:
        rec.wait("vm_idle", vm, timeout=15)
    redis.stop()
    for pg in (n1, n2):
        wait_cluster(pg, lambda c: c["redis"] == "degraded", "degraded", timeout=4)
        code, body = pg.get("/healthz")
        assert code == 200 and "cluster degraded" in body, (code, body)
        code, body = pg.get("/metrics")
        assert "poolgate_cluster_up 0" in body
    before = len(rec.events())
    # both serve logins, returning users included
    assert n1.login(returning) == vm_r
    assert n2.login(returning) == vm_r
    # what each learns meanwhile: a new address on each side
    p1, p2 = fresh_addr(), fresh_addr()
    s1 = n1.session(p1)
    s2 = n2.session(p2)
    s1.close()
    s2.close()
    # sessions ended with Redis away: no vm_idle on partial knowledge
    time.sleep(3)
    idle = [e for e in rec.events()[before:] if rec.name(e)[0] == "vm_idle"]
    assert not idle, "vm_idle while degraded: %s" % rec.summary(before)
    redis.start()
    t0 = time.monotonic()
    for pg in (n1, n2):
        wait_cluster(pg, lambda c: c["redis"] == "up", "Redis back", timeout=5)

    def merged():
        a = {b["name"]: b["affinity"] for b in n1.status()["backends"]}
        b = {b["name"]: b["affinity"] for b in n2.status()["backends"]}
        return a == b
    took = elapsed_until(merged, 10)
    assert took is not None and time.monotonic() - t0 <= 5.5, "not merged within 5 s"
    assert n2.login(p1) == s1.vm
    assert n1.login(p2) == s2.vm
    # the held-back idle edges fire once the pool-wide view is back
    rec.wait("vm_idle", s1.vm, since=before, timeout=10)
    keys = redis.cli("--scan", "--pattern", "poolgate:a:*").split()
    assert "poolgate:a:ip:%s" % p1 in keys and "poolgate:a:ip:%s" % p2 in keys, keys


@contextlib.contextmanager
def lease_moves_while_frozen(old, new, redis):
    """Freeze the hook runner `old` (SIGSTOP), start Redis again and wait
    until `new` holds the lease; the body runs then, and `old` goes on
    (SIGCONT) when it is done."""
    old.proc.send_signal(signal.SIGSTOP)
    try:
        redis.start()
        took = elapsed_until(lambda: cluster(new)["hook_runner"] == new.node, 10)
        assert took is not None, "%s did not take the lease" % new.node
        yield
    finally:
        old.proc.send_signal(signal.SIGCONT)


def test_redis_away_the_next_runner_goes_on_from_the_old_runners_edges(nodes, pool, redis,
                                                                    tmp_path):
    """With Redis away, the hook runner (still holding its lease) runs
    vm_busy for a session the other node never hears of. Redis returns while
    the old runner is frozen, so the other node takes the lease; once the old
    runner writes its edges again, the new one runs the held-back vm_idle,
    once."""
    rec = HookRecord(tmp_path)
    n1, n2 = nodes(2, hooks=rec.config(idle_grace="1s", headroom=0), lease="6s")
    for vm in [n for n, _ in pool.backends()]:
        rec.wait("vm_idle", vm, timeout=15)
    runner = wait_cluster(n1, lambda c: c["hook_runner"] in ("pg1", "pg2"),
                          "a hook runner")["hook_runner"]
    old, new = (n1, n2) if runner == "pg1" else (n2, n1)
    before = len(rec.events())
    redis.stop()
    s = old.session(fresh_addr())
    x = s.vm
    # the old runner holds its lease for seconds yet: it runs vm_busy
    rec.wait("vm_busy", x, since=before, timeout=4)
    s.close()
    for pg in (n1, n2):
        wait_cluster(pg, lambda c: c["redis"] == "degraded", "degraded", timeout=4)
    time.sleep(2)
    assert not rec.between("vm_idle", x, before), rec.summary(before)
    off = new.log_size()
    with lease_moves_while_frozen(old, new, redis):
        # the new runner's own view has x reported idle, never busy
        time.sleep(2)
        assert not rec.between("vm_idle", x, before), rec.summary(before)
    wait_cluster(old, lambda c: c["redis"] == "up", "Redis back", timeout=10)
    assert new.wait_log(r"cluster: %s ran vm_busy %s" % (old.node, x), offset=off,
                        timeout=10), new.log_since(off)
    rec.wait("vm_idle", x, since=before, timeout=10)
    assert new.wait_log(r"hook event vm_idle %s\b" % x, offset=off, timeout=5), \
        new.log_since(off)
    time.sleep(3)
    assert len(rec.between("vm_idle", x, before)) == 1, rec.summary(before)
    assert cluster(new)["hook_runner"] == new.node


def test_redis_away_a_session_through_the_standby_is_announced_when_it_takes_over(
        nodes, pool, redis, tmp_path):
    """With Redis away, a session starts through the node that does not run
    hooks: its vm_busy is passed over there and the runner never hears of
    it. Redis returns while the runner is frozen, so that node takes the
    lease: it runs the vm_busy nobody ran, once, and vm_idle once the
    session has ended."""
    rec = HookRecord(tmp_path)
    n1, n2 = nodes(2, hooks=rec.config(idle_grace="1s", headroom=0), lease="6s")
    names = [n for n, _ in pool.backends()]
    runner = wait_cluster(n1, lambda c: c["hook_runner"] in ("pg1", "pg2"),
                          "a hook runner")["hook_runner"]
    old, new = (n1, n2) if runner == "pg1" else (n2, n1)
    # every VM reported idle, and the standby has heard of it
    for vm in names:
        rec.wait("vm_idle", vm, timeout=15)
        assert new.wait_log(r"cluster: %s ran vm_idle %s\b" % (old.node, vm),
                            timeout=15), new.log_tail()
    before = len(rec.events())
    redis.stop()
    for pg in (n1, n2):
        wait_cluster(pg, lambda c: c["redis"] == "degraded", "degraded", timeout=4)
    s = new.session(fresh_addr())
    x = s.vm
    time.sleep(1.5)
    assert not rec.between("vm_busy", x, before), rec.summary(before)
    off = new.log_size()
    with lease_moves_while_frozen(old, new, redis):
        rec.wait("vm_busy", x, since=before, timeout=5)
    assert new.wait_log(r"hook event vm_busy %s\b" % x, offset=off, timeout=5), \
        new.log_since(off)
    wait_cluster(old, lambda c: c["redis"] == "up", "Redis back", timeout=10)
    s.close()
    rec.wait("vm_idle", x, since=before, timeout=10)
    time.sleep(2)
    assert len(rec.between("vm_busy", x, before)) == 1, rec.summary(before)
    assert len(rec.between("vm_idle", x, before)) == 1, rec.summary(before)
    assert cluster(new)["hook_runner"] == new.node


def test_hostile_entries_in_redis_are_ignored_with_a_log_line(nodes, pool, redis):
    n1, = nodes(1)
    x = n1.login(fresh_addr())
    off = n1.log_size()
    redis.cli("PUBLISH", "poolgate:events", "o:%s 1 99999999999999 maint ../x" % x)
    redis.cli("PUBLISH", "poolgate:events", "a:ip:10.9.9.9 1 5 -rf 99999999999999 pg9")
    redis.cli("SET", "poolgate:v:evil", "1 5 add evil.example 1 0 pg9")
    assert n1.wait_log(r'ignored entry "o:%s" read from Redis: operator state: bad node name'
                       % x, offset=off, timeout=5), n1.log_since(off)
    assert n1.backend(n1.status(), x)["state"] == "up"
    # an entry read back at start is judged alike
    n1.stop()
    n1.stopped_on_purpose = False
    off = n1.log_size()
    n1.start()
    assert n1.wait_log(r'ignored entry "v:evil" read from Redis: VM: bad address',
                       offset=off, timeout=10), n1.log_since(off)
    assert all(b["name"] != "evil" for b in n1.status()["backends"])


# ------------------------------------------------------------------ Sentinel

class Sentinel:
    """A master, its replica and one redis-sentinel watching them (quorum 1),
    all on loopback ports of their own, all with the same password."""

    def __init__(self, workdir):
        self.master = Redis(workdir / "master")
        self.replica = Redis(workdir / "replica")
        self.replica.password = self.master.password
        self.password_file = self.master.password_file
        self.dir = workdir / "sentinel"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc = None

    def start(self):
        self.master.start()
        self.replica.start()
        self.replica.cli("CONFIG", "SET", "masterauth", self.master.password)
        self.replica.cli("REPLICAOF", "127.0.0.1", str(self.master.port))
        conf = self.dir / "sentinel.conf"
        conf.write_text("port %d\nbind 127.0.0.1\ndir %s\n"
                        "sentinel monitor poolgate 127.0.0.1 %d 1\n"
                        "sentinel auth-pass poolgate %s\n"
                        "sentinel down-after-milliseconds poolgate 1000\n"
                        "sentinel failover-timeout poolgate 5000\n"
                        % (self.port, self.dir, self.master.port, self.master.password))
        sentinel = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
        if not os.access(sentinel, os.X_OK):
            pytest.fail("redis-sentinel not found (deploy/install-deps installs it)",
                        pytrace=False)
        log = open(self.dir / "sentinel.log", "ab")
        self.proc = subprocess.Popen([sentinel, str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 15
        # a failover needs the sentinel to know the replica (from the
        # master's INFO) and the replica to be in sync
        while "slave0" not in self.master.cli("INFO", "replication", check=False) or \
                str(self.master.port) not in self.ask("get-master-addr-by-name") or \
                str(self.replica.port) not in self.ask("replicas") or \
                "master_link_status:up" not in self.replica.cli("INFO", "replication",
                                                                check=False):
            if time.monotonic() > deadline:
                pytest.fail("master, replica and sentinel did not come together",
                            pytrace=False)
            time.sleep(0.1)
        return self

    def ask(self, *args):
        p = subprocess.run(["redis-cli", "-p", str(self.port), "SENTINEL"] + list(args)
                           + ["poolgate"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        return p.stdout

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.replica.stop()
        self.master.stop()


def test_sentinel_failover_loses_nothing(pool, tmp_path):
    sen = Sentinel(tmp_path / "redis").start()
    gen = poolgate_factory(OpsPoolgate, pool, tmp_path, "snode")
    factory = next(gen)
    try:
        made = []
        for name in ("pg1", "pg2"):
            pg = factory(top=['cluster = { node = "%s"; sentinel = [ "127.0.0.1:%d" ]; '
                              'master = "poolgate"; password_file = "%s"; timeout = "1s"; };'
                              % (name, sen.port, sen.password_file)], start=False)
            pg.node = name
            made.append(pg)
        for pg in made:
            pg.start()
        n1, n2 = made
        for pg in made:
            pg.wait_all_up()
            wait_cluster(pg, lambda c: c["redis"] == "up" and
                         c["master"] == "127.0.0.1:%d" % sen.master.port, "the master")
        # written before the failover: an affinity and an operator state
        addr = fresh_addr()
        x = n1.login(addr)
        vms = [n for n, _ in pool.backends()]
        y = next(v for v in vms if v != x)
        code, _, body = n1.api("POST", "backends/%s/maint" % y)
        assert code == 200, body
        sen.master.cli("WAIT", "1", "2000")
        out = sen.ask("failover")
        assert "OK" in out, out
        new = "127.0.0.1:%d" % sen.replica.port
        for pg in made:
            wait_cluster(pg, lambda c: c["redis"] == "up" and c["master"] == new,
                         "the new master", timeout=15)
        keys = sen.replica.cli("--scan", "--pattern", "poolgate:*").split()
        assert "poolgate:a:ip:%s" % addr in keys, keys
        assert "poolgate:o:%s" % y in keys, keys
        # the nodes go on sharing through the new master
        z = next(v for v in vms if v not in (x, y))
        code, _, body = n2.api("POST", "backends/%s/drain" % z)
        assert code == 200, body
        n1.wait_states({y: "maint", z: "drain"}, timeout=3)
        assert n2.login(addr) == x
    finally:
        try:
            next(gen)
        except StopIteration:
            pass
        sen.stop()


# ---------------------------------------------------------------- keepalived
#
# Two node machines: network namespaces pg-ka1 (10.231.7.11) and pg-ka2
# (10.231.7.12) on the bridge pgkabr0, whose root-namespace side holds
# 10.231.7.1 (Redis listens there too) and the clients' addresses .2-.4. Each
# runs a poolgate node (admin on its own 127.0.0.1:9100, as the shipped
# check script expects; the test reaches it on the node's address) and
# Debian's keepalived with deploy/keepalived/keepalived.conf, its marked
# lines templated with these addresses. The root namespace routes between
# the nodes and the pool (ip_forward on for the test, put back after).

KA_NET = "10.231.7"
KA_BRIDGE = "pgkabr0"
KA_FLOAT = KA_NET + ".10"
KA_NAME = "pool.poolgate.test"   # tests/pool/pool's POOL_NAME
KA_NODES = (("pg-ka1", "pgka1", KA_NET + ".11", 150), ("pg-ka2", "pgka2", KA_NET + ".12", 100))
KA_CLIENTS = (KA_NET + ".2", KA_NET + ".3", KA_NET + ".4")
KA_CONF = Path(__file__).resolve().parents[2] / "deploy" / "keepalived"
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"


def sh(*argv, check=True):
    p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (" ".join(map(str, argv)), p.returncode,
                                                   p.stdout))
    return p.stdout


def _ka_down():
    for ns, veth, _, _ in KA_NODES:
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", veth, check=False)
    sh("ip", "link", "del", KA_BRIDGE, check=False)


@pytest.fixture
def ka_net(pool):
    if not os.access(KEEPALIVED, os.X_OK):
        pytest.fail("keepalived not found (deploy/install-deps installs it)", pytrace=False)
    fwd = Path("/proc/sys/net/ipv4/ip_forward")
    was = fwd.read_text().strip()
    _ka_down()
    try:
        sh("ip", "link", "add", KA_BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", KA_NET + ".1/24", "dev", KA_BRIDGE)
        for a in KA_CLIENTS:
            sh("ip", "addr", "add", a + "/24", "dev", KA_BRIDGE)
        sh("ip", "link", "set", KA_BRIDGE, "up")
        for ns, veth, addr, _ in KA_NODES:
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", veth, "master", KA_BRIDGE, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", KA_NET + ".1")
        fwd.write_text("1\n")
        yield
    finally:
        fwd.write_text(was + "\n")
        _ka_down()


class KaNode(OpsPoolgate):
    """A poolgate node run in its namespace, listening (freebind) on the
    floating address it may not hold yet."""

    def __init__(self, *args, ns, addr, **kw):
        self.ns = ns
        self.addr = addr
        super().__init__(*args, **kw)
        self.admin_port = 9100

    def config_lines(self, backends=None):
        lines = super().config_lines(backends)
        out = ["freebind = true;"]
        for ln in lines:
            if ln.startswith("admin = {"):
                ln = 'admin = { listen = "0.0.0.0:9100"; token_file = "%s"; };' % self.token_file
            ln = ln.replace('listen = [ "127.0.0.1:%d" ]' % self.port,
                            'listen = [ "%s:%d" ]' % (KA_FLOAT, self.port))
            out.append(ln)
        return out

    def url(self, path):
        return "http://%s:9100%s" % (self.addr, path)

    def start(self, wait=True):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, self.binary,
                                      "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def ssh_argv(self, src, remote=None, extra=()):
        # users know the floating address by the pool's name, which the
        # pool's @cert-authority line and the VMs' host certificates hold
        argv = ["ssh", "-F", self.pool.ssh_config, "-o", "HostKeyAlias=" + KA_NAME,
                "-p", str(self.port), "-b", src]
        argv += list(extra) + ["pgtest@" + KA_FLOAT]
        return argv + ([remote] if remote is not None else [])


def keepalived_conf(addr, peer, priority):
    """The shipped example with its marked lines set for this test."""
    text = (KA_CONF / "keepalived.conf").read_text()
    for old, new in (('script "/usr/local/lib/poolgate/keepalived-check"',
                      'script "%s"' % (KA_CONF / "keepalived-check")),
                     ("priority 150 ", "priority %d " % priority),
                     ("unicast_src_ip 10.0.1.4 ", "unicast_src_ip %s " % addr),
                     ("\t\t10.0.1.5 ", "\t\t%s " % peer),
                     ("10.0.1.10/24 ", "%s/24 " % KA_FLOAT)):
        assert text.count(old) == 1, "deploy/keepalived/keepalived.conf: %r not once" % old
        text = text.replace(old, new)
    return text


def holds_float(ns):
    return (KA_FLOAT + "/") in sh("ip", "-n", ns, "-4", "addr", "show", "dev", "eth0")


def test_keepalived_moves_the_floating_address_and_affinity_holds(ka_net, pool, tmp_path):
    redis = Redis(tmp_path / "redis", bind=("127.0.0.1", KA_NET + ".1")).start()
    gen = poolgate_factory(KaNode, pool, tmp_path, "kanode")
    factory = next(gen)
    kas = []
    try:
        made = []
        for k, (ns, _, addr, _) in enumerate(KA_NODES):
            pg = factory(top=['cluster = { node = "pg%d"; redis = [ "%s:%d" ]; '
                              'password_file = "%s"; node_expiry = "3s"; timeout = "1s"; };'
                              % (k + 1, KA_NET + ".1", redis.port, redis.password_file)],
                         start=False, ns=ns, addr=addr)
            pg.node = "pg%d" % (k + 1)
            made.append(pg)
        n1, n2 = made
        n2.port = n1.port           # one service port on the floating address
        for pg in made:
            pg.write_config()
            pg.start()
        for pg in made:
            pg.wait_all_up()
            wait_cluster(pg, lambda c: c["redis"] == "up", "Redis up")
        # keepalived on both nodes; pg-ka1 has the higher priority
        for k, (ns, _, addr, prio) in enumerate(KA_NODES):
            peer = KA_NODES[1 - k][2]
            d = tmp_path / ("ka%d" % (k + 1))
            d.mkdir()
            conf = d / "keepalived.conf"
            conf.write_text(keepalived_conf(addr, peer, prio))
            log = open(d / "keepalived.log", "ab")
            kas.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, KEEPALIVED, "--dont-fork", "--log-console",
                 "--vrrp", "-f", conf, "-p", d / "keepalived.pid", "-r", d / "vrrp.pid"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))
            log.close()
        took = elapsed_until(lambda: holds_float("pg-ka1") and not holds_float("pg-ka2"), 15,
                             poll=0.1)
        assert took is not None, "pg-ka1 did not take %s: %s" % (
            KA_FLOAT, (tmp_path / "ka1" / "keepalived.log").read_text()[-3000:])
        # through the floating address: a held session on the first VM, so
        # the next address goes to another one
        hold = n1.session(KA_CLIENTS[0])
        x = n1.login(KA_CLIENTS[1])
        assert x != hold.vm, "two logins through an idle pool met on %s" % x
        hold.close()
        kill(n1)
        took = elapsed_until(lambda: holds_float("pg-ka2") and not holds_float("pg-ka1"), 15,
                             poll=0.1)
        assert took is not None, "%s did not move to pg-ka2: %s" % (
            KA_FLOAT, (tmp_path / "ka2" / "keepalived.log").read_text()[-3000:])
        # node 1's sessions have left node 2's count: by load alone the
        # first VM again; the placed address still goes to x
        n2.wait_status(lambda st: all(b["load"] == 0 for b in st["backends"]),
                       "node 1's sessions gone from node 2", timeout=10)
        assert n2.login(KA_CLIENTS[2]) == hold.vm, "load order changed; the test proves nothing"
        assert n2.login(KA_CLIENTS[1]) == x, "through pg-ka2, %s did not land on %s" % (
            KA_CLIENTS[1], x)
    finally:
        for p in kas:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        try:
            next(gen)
        except StopIteration:
            pass
        redis.stop()


# ------------------------------------------------------------------- Jupyter
# Last in the module: the JupyterHubs (a module fixture) stay up from here to
# the module's end, and with them up the Redis outage test above does not see
# vm_idle of alice's VM after Redis returns (left for the cluster's owner).

def test_jupyter_user_outlives_the_node_that_placed_her(nodes, pool, hubs):
    """alice logs in and spawns through node 1; node 1 is killed; through
    node 2 her own browser (by poolgate's cookie: every node got the same
    cookie.key, as docs/design.md tells operators) and a new browser that
    logs in (by user) land on her VM."""
    n1, = nodes(1, with_http=True)
    key = n1.state_dir / "cookie.key"
    assert key.is_file(), "node 1 made no %s" % key

    def same_key(pg):
        shutil.copyfile(key, pg.state_dir / "cookie.key")
        os.chmod(pg.state_dir / "cookie.key", 0o600)
    n2, = nodes(1, with_http=True, before_start=same_key)
    hold = n1.session(fresh_addr())    # the first VM is busier ...
    c = JupyterClient(n1.base_url, source_address=fresh_addr(), timeout=60)
    c.login("alice", pw("alice"))
    c.spawn(timeout=180)
    r = c.tree()
    x = r.headers.get("X-DSVM")
    assert r.status_code == 200 and x in HUB_VMS, brief(r)
    assert x != hold.vm, "alice went to %s, the VM of the held session" % x  # ... so not there
    assert c.cookie(COOKIE), "no %s cookie from node 1: %s" % (COOKIE, c.cookie_names())
    # node 2 holds every affinity node 1 made (ip: and user:) before node 1 dies
    want = n1.status()["affinity_entries"]
    n2.wait_status(lambda st: st.get("affinity_entries", 0) >= want,
                   "node 1's %d affinities on node 2" % want, timeout=5)
    hold.close()
    kill(n1)
    c.session.close()                  # its pooled connections went with node 1
    # her own browser, on node 2: the hub's home page names no user, only
    # poolgate's cookie routes it
    c.base_url = n2.base_url
    r = c.get("/hub/home")
    assert r.status_code == 200 and final_path(r) == "/hub/home", brief(r)
    assert r.headers.get("X-DSVM") == x, "her cookie took alice to %s, not %s: %s" % (
        r.headers.get("X-DSVM"), x, brief(r))
    r = c.tree()
    assert r.status_code == 200 and r.headers.get("X-DSVM") == x, brief(r)
    # a new browser from a new address logs in through node 2
    c2 = JupyterClient(n2.base_url, source_address=fresh_addr(), timeout=60)
    r = c2.login("alice", pw("alice"))
    assert r.headers.get("X-DSVM") == x, "alice's login through node 2 went to %s, not %s" % (
        r.headers.get("X-DSVM"), x)
    r = c2.tree()                      # no spawn: her server runs on x
    assert r.status_code == 200 and final_path(r) == "/user/alice/tree", brief(r)
    assert r.headers.get("X-DSVM") == x, brief(r)

"""Two poolgate nodes, one pool: the nodes share affinities, sessions per
VM, operator states and the hook runner through a real redis-server
(Debian's, on a loopback port chosen here, with a password), in front of
the namespace pool of tests/pool/pool, driven with OpenSSH's ssh.

Each test starts its own Redis and its own nodes; Redis' files go to the
test's tmp_path. A missing redis-server is a failure (deploy/install-deps
installs it)."""

import json
import os
import secrets
import shutil
import signal
import subprocess
import time

import pytest

from conftest import fresh_addr, free_port, poolgate_factory
from test_pool_ops import HookRecord, OpsPoolgate


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class Redis:
    """One redis-server on 127.0.0.1:port with a password; start/stop keep
    the port, so nodes find it again."""

    def __init__(self, workdir):
        self.dir = workdir
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
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
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
    """Factory: nodes(n, hooks=None) starts n poolgate nodes sharing redis."""
    made = []
    gen = poolgate_factory(OpsPoolgate, pool, tmp_path, "node")
    factory = next(gen)

    def make(n, hooks=None, lease="2s"):
        for k in range(n):
            name = "pg%d" % (len(made) + 1)
            top = ['cluster = { node = "%s"; redis = [ "127.0.0.1:%d" ]; '
                   'password_file = "%s"; lease = "%s"; node_expiry = "3s"; '
                   'timeout = "1s"; };' % (name, redis.port, redis.password_file, lease)]
            if hooks is not None:
                top.append(hooks)
            pg = factory(top=top, start=False)
            pg.node = name
            made.append(pg)
        for pg in made[-n:]:
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

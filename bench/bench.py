#!/usr/bin/python3
"""bench.py -- poolgate's benchmark (run it as bench/run).

Three setups (five for some keys) are measured in the same run, interleaved
(direct, poolgate, HAProxy, direct, poolgate, HAProxy, ...) so that drift on
a shared machine hits them alike:

  direct    the client in the root namespace talks to vm1's address
  poolgate  the client talks to poolgate's loopback listener; poolgate relays
            to the pool (build-bench/poolgate, --buildtype=release)
  haproxy   the same through HAProxy (Debian's 2.6), configured for the same
            job: mode tcp with balance leastconn, stick on src, splicing;
            mode http (with TLS termination) for the HTTP scenarios
  cluster   for bulk and conn only: a second poolgate with `cluster` on (one
            node sharing through a redis-server on loopback); its ratio to
            poolgate (cluster off) has its own table
  chp       for the HTTP, websocket and Jupyter rows only: JupyterHub's
            default proxy, configurable-http-proxy (Debian's
            node-configurable-http-proxy), its default target vm1's nginx
            and a route /ws to vm1's websocket echo server, as JupyterHub
            would add for a user's server

The pool: tests/pool/pool makes VMS network namespaces (default 2) on the
bridge pgbr0; every VM runs sshd, iperf3 -s, two echo servers (bench/echod.c),
nginx (plain on 8000, TLS on 8443; a small page and a 2.7 KB one) and a
websocket echo server (bench/wsecho.c). Both proxies have every VM as a
backend.

Scenarios (keys for --only):
  bulk    iperf3, 1 and 8 streams, throughput
  scp     scp of a file up and down (1 GiB; --quick: 64 MiB), time; 5 runs
          per setup in the full run (the others: 3)
  conn    short connections per second (bench/connrate.c; the server echoes
          8 bytes and closes), with clients that close gracefully and with
          clients that reset (SO_LINGER 0, as killed clients and SSH sweeps)
  ping    1-byte round trips over one relayed connection, like keystrokes
          echoed in an interactive SSH session (bench/pingpong.c): p50, p99
  pinned  conn (graceful) and ping again with the proxy (all its threads)
          on the last CPU and the client on the others (taskset); the
          servers in the VMs' namespaces unpinned
  idle    resident memory per idle relayed connection (10,000, or as many as
          two descriptors each fit in the proxy's limit; --quick: 500)
          of a fresh proxy process (bench/holdconns.c), and its CPU time
          while they sit idle
  http    wrk, keep-alive, small static responses, plain and TLS-terminated:
          requests per second and p99 latency; then a fixed-rate (open-loop)
          load at half of poolgate's maximum rate (bench/ratehttp.c), the
          same offered load for every setup: p99 latency per setup, and what
          poolgate adds over direct
  ws      websocket round trips of 32-byte messages, p50 and p99 (bench/wsrtt.c)
  jupyter JupyterHub-shaped traffic: wrk, keep-alive GETs of a 2.7 KB page
          over 32 connections, req/s (with the ws rows: the Jupyter targets)
  users   poolgate only: 1,000 Jupyter users, each with an open kernel
          websocket (/user/uN/api/kernels/k/channels, held by
          bench/wsrtt.c -H), and a probe's kernel-message round trips
          (125 B) meanwhile: p50, p99; the same with 10 users; poolgate's
          RSS and CPU with the 1,000 open
  select  time per pick with 1,000 VMs and 100,000 affinity entries
          (bench/bench_select.c, linked with poolgate's selection code)
  reload  the connection-rate run (graceful clients) while the proxy is
          reloaded 50 times (--quick: 10; poolgate: SIGHUP; HAProxy in
          master-worker mode: SIGUSR2): failed connections
  state   poolgate only: event-loop stalls while it saves an affinity table
          of 1,000,000 entries (--quick: 100,000), loaded at start from a
          state file the benchmark writes; a probe (bench/pingpong.c -r)
          opens a new connection every 1 ms and times its round trip

Takes the machine-wide pool lock (/run/lock/poolgate-pool.lock, like
tests/integration/conftest.py) for the whole run. Options for profiling:
--perf records poolgate with perf during an extra first run of each scenario
(its figures dropped)
(build-bench/bench/perf-*.txt); --serve sets everything up, prints the
endpoints as JSON and waits, for measuring by hand. --pin runs the proxy
(every thread) on the last CPU and the load generators on the others, with
taskset, for a whole run; the servers in the VMs' namespaces float. The
`pinned` scenario, part of every full run, measures conn and ping pinned
that way beside the unpinned rows.
"""

import argparse
import copy
import datetime
import fcntl
import json
import os
import platform
import re
import resource
import secrets
import select
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build-bench"
TOOLS = BUILD / "bench"
POOL = REPO / "tests" / "pool" / "pool"
POOL_DIR = os.environ.get("POOLGATE_BENCH_POOL_DIR", "/tmp/poolgate-bench")
WORK = Path(os.environ.get("POOLGATE_BENCH_WORK", "/tmp/poolgate-bench-work"))
LOCK_PATH = os.environ.get("POOLGATE_POOL_LOCK") or (
    "/run/lock/poolgate-pool.lock" if os.path.isdir("/run/lock") else "/tmp/poolgate-pool.lock")
LOCK_WAIT_S = 1500

# Ports inside every VM.
P_SSH, P_IPERF, P_ECHO_CLOSE, P_ECHO_HOLD, P_HTTP, P_HTTPS, P_WS = (
    22, 5201, 7000, 7001, 8000, 8443, 8001)

SETUPS = ("direct", "poolgate", "haproxy")
# Also measured with `cluster` on (one node, a redis-server on loopback)
# against poolgate with it off: nothing on the connection path waits for Redis.
CLUSTER_KEYS = ("bulk1", "bulk8", "conn")
# configurable-http-proxy: measured for these keys only (HTTP, not HTTPS).
CHP_KEYS = ("http", "ws", "jupyter")
SCENARIOS = ("bulk", "scp", "conn", "ping", "pinned", "idle", "http", "ws", "jupyter",
             "users", "select", "reload", "state")

SIZES = {
    "full": dict(runs=3, iperf_s=5, iperf_omit=1, scp_mib=1024, conn_s=10, conn_c=32,
                 idle_n=10000, idle_cpu_s=10, http_s=10, http_c=50, ws_n=5000, ws_warm=500,
                 sel_picks=200000, ping_n=20000, reloads=50, reload_s=10,
                 state_n=1000000, state_s=10, scp_runs=5, jup_s=10, jup_c=32,
                 users_n=1000, users_few=10, users_msgs=20000, users_idle_s=5),
    "quick": dict(runs=1, iperf_s=2, iperf_omit=0, scp_mib=64, conn_s=2, conn_c=32,
                  idle_n=500, idle_cpu_s=2, http_s=2, http_c=50, ws_n=500, ws_warm=50,
                  sel_picks=100000, ping_n=2000, reloads=10, reload_s=3,
                  state_n=100000, state_s=3, scp_runs=1, jup_s=2, jup_c=32,
                  users_n=1000, users_few=10, users_msgs=5000, users_idle_s=1),
}

# Debian packages bench/run needs; apt-get installs those missing only.
PACKAGES = [
    "iperf3", "wrk", "haproxy", "nginx", "openssh-server", "openssh-client",
    "build-essential", "pkg-config", "meson", "ninja-build", "libevent-dev",
    "libssl-dev", "libconfig-dev", "libhiredis-dev", "openssl", "iproute2", "procps",
    "node-configurable-http-proxy",
]

# Wait before a measurement while more TIME_WAIT sockets towards the pool than
# this hold local ports (an idle run leaves 5,000 behind, two 10,000).
TW_SETTLE = 12000

PROCS = []          # [(name, Popen)] we started; stopped at the end by pid


def say(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def run(argv, check=True, timeout=600, capture=True, env=None, cwd=None, ns=None):
    if ns is not None:
        argv = ["ip", "netns", "exec", ns] + list(argv)
    try:
        p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE if capture else None,
                           stderr=subprocess.PIPE if capture else None,
                           text=True, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise BenchError("timed out after %ss: %s" % (timeout, " ".join(map(str, argv))))
    except FileNotFoundError:
        raise BenchError("not found: %s" % argv[0])
    if check and p.returncode != 0:
        raise BenchError("failed (exit %d): %s\n%s%s" % (
            p.returncode, " ".join(map(str, argv)), (p.stdout or "")[-3000:],
            (p.stderr or "")[-3000:]))
    return p


def spawn(name, argv, log, ns=None, stdin=subprocess.DEVNULL, stdout=None):
    if ns is not None:
        argv = ["ip", "netns", "exec", ns] + list(argv)
    f = open(log, "ab")
    p = subprocess.Popen([str(a) for a in argv], stdin=stdin,
                         stdout=stdout if stdout is not None else f,
                         stderr=f, start_new_session=True)
    f.close()
    PROCS.append((name, p))
    return p


def stop(p, timeout=10, sig=signal.SIGTERM):
    """Stops one process we started (by its pid), SIGKILL if it lingers."""
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(sig)
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    except ProcessLookupError:
        pass


# --pin: where the proxy and the load generators run (None: anywhere).
PIN = None


def pin(argv, role):
    """argv under taskset when --pin is on: role "proxy" (poolgate, HAProxy,
    CHP and every thread they start) or "load" (the client tools). The
    servers in the VMs' namespaces are never pinned."""
    if PIN is None:
        return list(argv)
    return ["taskset", "-c", PIN[role]] + list(argv)


def free_port(taken=set()):
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def wait_port(addr, port, timeout=20.0, what=""):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((addr, port), timeout=1.0):
                return
        except OSError as e:
            if time.monotonic() > deadline:
                raise BenchError("%s%s:%d does not answer after %.0fs: %s" % (
                    what + " " if what else "", addr, port, timeout, e))
            time.sleep(0.1)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError("no VmRSS for pid %d" % pid)


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy():
    """(busy, total) jiffies of every CPU since boot, from /proc/stat: idle
    and iowait are not busy."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


class CpuShare:
    """The proxy's CPU time and the machine's idle share across a run: what
    the proxy spends per connection or request, and whether the machine had
    a core's worth of time left that more threads could have used."""

    def __init__(self, proxy):
        self.pid = proxy.pid if proxy is not None else None
        self.cpu0 = cpu_seconds(self.pid) if self.pid else None
        self.m0 = machine_busy()

    def done(self):
        """(proxy CPU seconds or None, idle % of all CPUs)."""
        cpu = cpu_seconds(self.pid) - self.cpu0 if self.pid else None
        b1, t1 = machine_busy()
        total = t1 - self.m0[1]
        idle = 100.0 * (total - (b1 - self.m0[0])) / total if total else 0.0
        return cpu, idle


def time_wait_to(prefix):
    """TIME_WAIT sockets of this namespace whose remote address starts with
    prefix (e.g. "10.231.0."): the connecting side's, which hold local ports."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split(None, 4)
            if fields[3] != "06":
                continue
            rip = fields[2].split(":")[0]
            if socket.inet_ntoa(struct.pack("<I", int(rip, 16))).startswith(prefix):
                n += 1
    return n


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


# ------------------------------------------------------------ lock

def take_lock():
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
        say("waiting for the pool lock %s (held by %s)" % (LOCK_PATH, holder or "?"))
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BenchError("%s held for %ds by %s" % (LOCK_PATH, LOCK_WAIT_S, holder))
                time.sleep(1)
    os.ftruncate(fd, 0)
    os.pwrite(fd, ("pid %d: bench/run %s\n" % (os.getpid(), " ".join(sys.argv[1:]))).encode(), 0)
    return fd


# ------------------------------------------------------------ install, build

def install(perf=False):
    missing = []
    for pkg in PACKAGES + (["linux-perf"] if perf else []):
        p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if "install ok installed" not in p.stdout:
            missing.append(pkg)
    if not missing:
        return
    say("installing %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Debian starts nginx and haproxy on install; the benchmark runs its own.
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\n# bench/run: no service starts while it installs\nexit 101\n")
        policy.chmod(0o755)
        made_policy = True
    try:
        run(["apt-get", "update", "-q"], env=env, timeout=900)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing,
            env=env, timeout=1800)
    finally:
        if made_policy:
            policy.unlink()


def build(sizes):
    say("building poolgate (release) in %s" % BUILD)
    if not (BUILD / "build.ninja").exists():
        run(["meson", "setup", str(BUILD), "--buildtype=release", "-Dtests=false"],
            cwd=REPO, timeout=600)
    else:
        run(["meson", "configure", str(BUILD), "--buildtype=release", "-Dtests=false"],
            cwd=REPO, timeout=600)
    run(["meson", "compile", "-C", str(BUILD), "poolgate"], timeout=1200)
    TOOLS.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    flags = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-D_GNU_SOURCE"]
    for name, libs in (("echod", []), ("connrate", []), ("holdconns", []), ("wsrtt", []),
                       ("pingpong", []),
                       ("wsecho", ["-lcrypto", "-lpthread"]), ("ratehttp", ["-lssl", "-lcrypto"])):
        src, out = REPO / "bench" / (name + ".c"), TOOLS / name
        if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
            run([cc] + flags + ["-o", out, src] + libs)
    # bench_select: poolgate's selection code with the daemon's own compile
    # flags (those meson uses for backends/select.c in build-bench).
    cmds = json.loads((BUILD / "compile_commands.json").read_text())
    ent = next(c for c in cmds if c["file"].endswith("backends/select.c"))
    argv = shlex.split(ent["command"]) if "command" in ent else list(ent["arguments"])
    keep, skip = [], False
    for a in argv[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MQ", "-MF", "-c"):
            skip = True
            continue
        if a == "-MD" or a.endswith("backends/select.c") or a.startswith("-fdiagnostics-color"):
            continue
        keep.append(a)
    srcs = [REPO / "bench" / "bench_select.c"] + [
        REPO / "backends" / f for f in ("select.c", "ready.c", "route.c", "backend.c",
                                        "health.c", "affinity.c")] + [
        REPO / "lib" / f for f in ("siphash.c", "hashtab.c")]
    out = TOOLS / "bench_select"
    run([argv[0]] + keep + ["-o", out] + srcs, cwd=ent["directory"])
    # bench_snapshot: the state file's snapshot and writer, likewise.
    srcs = [REPO / "bench" / "bench_snapshot.c"] + [
        REPO / "backends" / f for f in ("affinity.c", "statefile.c")] + [
        REPO / "lib" / f for f in ("siphash.c", "hashtab.c", "text.c", "atomicfile.c")]
    run([argv[0]] + keep + ["-o", TOOLS / "bench_snapshot"] + srcs, cwd=ent["directory"])
    global SELECT_FLAGS
    SELECT_FLAGS = " ".join(a for a in keep if not a.startswith("-I"))


SELECT_FLAGS = ""


# ------------------------------------------------------------ pool and servers

class Pool:
    def __init__(self, nvms):
        self.nvms = nvms
        self.state = None

    def up(self):
        say("pool up %d in %s" % (self.nvms, POOL_DIR))
        run([POOL, "up", self.nvms, "--dir", POOL_DIR], timeout=300)
        self.state = json.loads(Path(POOL_DIR, "pool.json").read_text())

    def down(self):
        run([POOL, "down", "--dir", POOL_DIR], check=False, timeout=300)

    @property
    def vms(self):
        return [(v["name"], v["address"], v["netns"]) for v in self.state["vms"]]

    @property
    def ssh_config(self):
        return self.state["ssh_config"]


def make_cert():
    key, cert = WORK / "key.pem", WORK / "cert.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
    (WORK / "combined.pem").write_text(cert.read_text() + key.read_text())
    for p in (key, cert, WORK / "combined.pem"):
        p.chmod(0o644)
    return cert, key


NGINX_CONF = """# bench/bench.py: nginx of {name}
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
daemon off;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ text/html html; }}
    default_type text/html;
    server {{
        listen {addr}:{http};
        listen {addr}:{https} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {d}/www;
        index index.html;
    }}
}}
"""


# The Jupyter-shaped page: about the size of a JupyterHub page (2.7 KB).
JUP_PAGE = "/hub-home.html"
JUP_PAGE_BYTES = 2700


def jupyter_page(name):
    head = "<!doctype html><title>JupyterHub on %s</title>\n<ul>\n" % name
    tail = "</ul>\n"
    line = "<li><a href=\"/user/u/tree\">a server of a pool VM</a></li>\n"
    body = head
    while len(body) + len(line) + len(tail) <= JUP_PAGE_BYTES:
        body += line
    body += tail
    return body + "." * (JUP_PAGE_BYTES - len(body) - 1) + "\n"


def start_servers(pool, cert, key):
    for name, addr, ns in pool.vms:
        d = WORK / name
        (d / "www").mkdir(parents=True, exist_ok=True)
        (d / "tmp").mkdir(exist_ok=True)
        for p in (d, d / "www"):
            p.chmod(0o755)
        body = "<!doctype html><title>%s</title><p>hello from %s, a pool VM</p>\n" % (name, name)
        (d / "www" / "index.html").write_text(body)
        (d / "www" / "index.html").chmod(0o644)
        (d / "www" / JUP_PAGE.lstrip("/")).write_text(jupyter_page(name))
        (d / "www" / JUP_PAGE.lstrip("/")).chmod(0o644)
        (d / "nginx.conf").write_text(NGINX_CONF.format(
            name=name, d=d, addr=addr, http=P_HTTP, https=P_HTTPS, cert=cert, key=key))
        run(["nginx", "-t", "-q", "-c", d / "nginx.conf"], ns=ns)
        log = d / "servers.log"
        spawn(name + " nginx", ["nginx", "-c", d / "nginx.conf"], log, ns=ns)
        spawn(name + " iperf3", ["iperf3", "-s", "-B", addr, "-p", P_IPERF], log, ns=ns)
        spawn(name + " echod -c", [TOOLS / "echod", "-b", addr, "-p", P_ECHO_CLOSE, "-c"],
              log, ns=ns)
        spawn(name + " echod", [TOOLS / "echod", "-b", addr, "-p", P_ECHO_HOLD], log, ns=ns)
        spawn(name + " wsecho", [TOOLS / "wsecho", "-b", addr, "-p", P_WS], log, ns=ns)
    for name, addr, ns in pool.vms:
        for port in (P_SSH, P_IPERF, P_ECHO_CLOSE, P_ECHO_HOLD, P_HTTP, P_HTTPS, P_WS):
            wait_port(addr, port, what=name)
    for _, p in PROCS:
        if p.poll() is not None:
            raise BenchError("a server exited at start (exit %s); see %s/vm*/servers.log"
                             % (p.returncode, WORK))


# ------------------------------------------------------------ the proxies

class Ports:
    """Loopback listener ports of one proxy, one per service."""

    def __init__(self):
        for s in ("ssh", "iperf", "echo_close", "echo_hold", "http", "https", "ws", "admin"):
            setattr(self, s, free_port())


def poolgate_config(ports, vms, state_dir, cert, key, only_hold=False, workers=0):
    L = ['# written by bench/bench.py',
         'state_dir = "%s";' % state_dir,
         'workers = %d;' % workers,
         'shutdown_grace = "1s"; allow_root = true;',
         'admin = { listen = "127.0.0.1:%d"; };' % ports.admin,
         'limits = { max_connections = 15000; per_ip_connections = 0; per_ip_rate = 0; };',
         'affinity = { ttl = "1h"; by_client_ip = true; };',
         'services = (']
    svcs = []

    def tcp(name, port, backend_port, check):
        svcs.append('  { name = "%s"; listen = [ "127.0.0.1:%d" ]; port = %d; mode = "tcp";\n'
                    '    connect_timeout = "3s";\n'
                    '    check = { %s }; }' % (name, port, backend_port, check))

    def http(name, port, backend_port, tls):
        s = ('  { name = "%s"; listen = [ "127.0.0.1:%d" ]; port = %d; mode = "http";\n'
             % (name, port, backend_port))
        if tls:
            s += '    tls = { cert = "%s"; key = "%s"; };\n' % (cert, key)
        s += ('    backend_tls = "none"; by_client_ip = false; connect_timeout = "3s";\n'
              '    check = { type = "http"; path = "/"; expect = 200; interval = "2s";'
              ' timeout = "1s"; rise = 2; fall = 2; };\n'
              '    http = { keepalive_timeout = "60s"; tunnel_idle_timeout = "0s"; }; }')
        svcs.append(s)

    chk_tcp = 'type = "tcp"; interval = "2s"; timeout = "1s"; rise = 2; fall = 2;'
    if only_hold:
        tcp("hold", ports.echo_hold, P_ECHO_HOLD, chk_tcp)
    else:
        tcp("ssh", ports.ssh, P_SSH,
            'type = "ssh"; interval = "2s"; timeout = "1s"; rise = 2; fall = 2;')
        # iperf3 takes any connection to its port for a test: no active check.
        tcp("iperf", ports.iperf, P_IPERF, 'type = "none";')
        tcp("echo_close", ports.echo_close, P_ECHO_CLOSE, chk_tcp)
        tcp("echo_hold", ports.echo_hold, P_ECHO_HOLD, chk_tcp)
        http("http", ports.http, P_HTTP, False)
        http("https", ports.https, P_HTTP, True)
        http("ws", ports.ws, P_WS, False)
    L.append(",\n".join(svcs))
    L.append(');')
    L.append('backends = (')
    L.append(",\n".join('  { name = "%s"; address = "%s"; }' % (n, a) for n, a, _ in vms))
    L.append(');')
    return "\n".join(L) + "\n"


def haproxy_config(ports, vms, combined, only_hold=False):
    # The idle scenario (only_hold) holds 9,900 connections, two sockets each:
    # HAProxy refuses to start unless 2 x (maxconn + maxpipes) fit in the
    # 20,000 descriptors a process may hold here, and it splices nothing there.
    maxconn, maxpipes = (9950, 16) if only_hold else (6000, 1024)
    L = ["# written by bench/bench.py: HAProxy configured for poolgate's job",
         "global",
         "    maxconn %d" % maxconn,
         "    maxpipes %d" % maxpipes,
         "    log stdout format raw local0 info",
         "    stats socket %s/haproxy-%d.sock mode 600 level admin" % (WORK, ports.admin),
         "    ssl-default-bind-options ssl-min-ver TLSv1.2",
         "",
         "defaults",
         "    log global",
         "    maxconn %d" % maxconn,
         "    retries 2",
         "    option redispatch",
         "    timeout connect 3s",
         "    timeout client 1h",
         "    timeout server 1h",
         "    timeout tunnel 1h",
         "    timeout http-request 10s",
         "    timeout http-keep-alive 60s",
         "    timeout check 1s",
         ""]

    def servers(port, check, extra=""):
        return ["    server %s %s:%d%s%s" % (n, a, port, " " + check if check else "", extra % {"n": n})
                for n, a, _ in vms]

    def tcp(name, lport, bport, check, tcpcheck=()):
        L.extend(["frontend fe_%s" % name,
                  "    mode tcp",
                  "    bind 127.0.0.1:%d" % lport,
                  "    option tcplog",
                  "    option splice-request",
                  "    option splice-response",
                  "    default_backend be_%s" % name,
                  "",
                  "backend be_%s" % name,
                  "    mode tcp",
                  "    balance leastconn",
                  "    stick-table type ip size 1m expire 1h",
                  "    stick on src",
                  "    option splice-request",
                  "    option splice-response"] + list(tcpcheck) +
                 servers(bport, check) + [""])

    def http(name, lport, bport, tls):
        bind = "    bind 127.0.0.1:%d" % lport
        if tls:
            bind += " ssl crt %s alpn http/1.1" % combined
        L.extend(["frontend fe_%s" % name,
                  "    mode http",
                  bind,
                  "    option httplog",
                  "    option forwardfor",
                  "    default_backend be_%s" % name,
                  "",
                  "backend be_%s" % name,
                  "    mode http",
                  "    balance leastconn",
                  "    cookie PGVM insert indirect nocache httponly",
                  "    http-reuse safe",
                  "    option httpchk GET /",
                  "    http-check expect status 200"] +
                 servers(bport, "check inter 2s rise 2 fall 2", " cookie %(n)s") + [""])

    chk = "check inter 2s rise 2 fall 2"
    if only_hold:
        tcp("hold", ports.echo_hold, P_ECHO_HOLD, chk)
    else:
        tcp("ssh", ports.ssh, P_SSH, chk,
            ["    option tcp-check", "    tcp-check expect rstring ^SSH-2\\.0-"])
        tcp("iperf", ports.iperf, P_IPERF, "")  # as poolgate: no active check
        tcp("echo_close", ports.echo_close, P_ECHO_CLOSE, chk)
        tcp("echo_hold", ports.echo_hold, P_ECHO_HOLD, chk)
        http("http", ports.http, P_HTTP, False)
        http("https", ports.https, P_HTTP, True)
        http("ws", ports.ws, P_WS, False)
    return "\n".join(L) + "\n"


class Proxy:
    kind = None

    master_worker = False   # HAProxy only: -W, reloaded by SIGUSR2

    def __init__(self, tag, pool, cert, key, only_hold=False):
        self.tag = tag
        self.pool = pool
        self.ports = Ports()
        self.cert, self.key = cert, key
        self.only_hold = only_hold
        self.dir = WORK / tag
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / (self.kind + ".log")
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise BenchError("%s (%s) exited with %s; log tail:\n%s" % (
                self.kind, self.tag, self.proc.returncode if self.proc else None, tail))

    def stop(self):
        stop(self.proc)


def start_redis():
    """A redis-server on a loopback port with a password, for the cluster
    setup; returns (port, password file)."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(exe, os.X_OK):
        raise BenchError("redis-server not found (deploy/install-deps installs it)")
    d = WORK / "redis"
    d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    pw = secrets.token_urlsafe(24)
    pwfile = d / "redis.pass"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, (pw + "\n").encode())
    os.close(fd)
    spawn("redis-server", [exe, "--port", port, "--bind", "127.0.0.1", "--requirepass", pw,
                           "--save", "", "--appendonly", "no", "--dir", d], d / "redis.log")
    wait_port("127.0.0.1", port, what="redis-server")
    return port, pwfile


class Poolgate(Proxy):
    kind = "poolgate"
    workers = 2   # --workers
    redis = None  # (port, password file): cluster on

    def start(self):
        (self.dir / "state").mkdir(exist_ok=True)
        self.conf = self.dir / "poolgate.conf"
        self.conf.write_text(poolgate_config(self.ports, self.pool.vms, self.dir / "state",
                                             self.cert, self.key, self.only_hold,
                                             self.workers))
        if self.redis is not None:
            with open(self.conf, "a") as f:
                f.write('cluster = { node = "bench1"; redis = [ "127.0.0.1:%d" ]; '
                        'password_file = "%s"; };\n' % self.redis)
        binary = BUILD / "poolgate"
        run([binary, "-t", "-c", self.conf])
        self.proc = spawn("poolgate " + self.tag, pin([binary, "-c", self.conf], "proxy"),
                          self.log)
        self.wait_up()
        return self

    def status(self):
        url = "http://127.0.0.1:%d/status" % self.ports.admin
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=2) as r:
            return json.loads(r.read().decode())

    def wait_up(self, timeout=30):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                st = self.status()
                last = {b["name"]: b["state"] for b in st.get("backends", [])}
                if self.redis is not None:
                    last["cluster"] = (st.get("cluster") or {}).get("redis")
                if last and all(s == "up" for s in last.values()):
                    return
            except (OSError, ValueError) as e:
                last = e
            time.sleep(0.2)
        raise BenchError("poolgate %s: backends not all up after %ds: %s" % (
            self.tag, timeout, last))


class Haproxy(Proxy):
    kind = "haproxy"

    def start(self):
        self.conf = self.dir / "haproxy.cfg"
        self.conf.write_text(haproxy_config(self.ports, self.pool.vms, WORK / "combined.pem",
                                            self.only_hold))
        run(["haproxy", "-c", "-q", "-f", self.conf])
        # -db: foreground, no daemon; its logs go to stdout (the log file).
        argv = ["haproxy"] + (["-W"] if self.master_worker else []) + ["-db", "-f", self.conf]
        self.proc = spawn("haproxy " + self.tag, pin(argv, "proxy"), self.log)
        self.wait_up()
        return self

    def cmd(self, line):
        path = "%s/haproxy-%d.sock" % (WORK, self.ports.admin)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(path)
            s.sendall((line + "\n").encode())
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        return out.decode(errors="replace")

    def info(self):
        out = {}
        for line in self.cmd("show info").splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out[k.strip()] = v.strip()
        return out

    def wait_up(self, timeout=30):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                rows = [r.split(",") for r in self.cmd("show stat").splitlines()
                        if r and not r.startswith("#")]
                servers = [(r[0], r[1], r[17]) for r in rows
                           if len(r) > 17 and r[1] not in ("FRONTEND", "BACKEND")]
                last = servers
                if servers and all(st in ("UP", "no check") for _, _, st in servers):
                    return
            except OSError as e:
                last = e
            time.sleep(0.2)
        raise BenchError("haproxy %s: servers not all up after %ds: %s" % (
            self.tag, timeout, last))


class Chp(Proxy):
    """configurable-http-proxy, JupyterHub's default proxy: one listener for
    every HTTP key; its default target is vm1's nginx and a route /ws (added
    through its REST API, as JupyterHub adds a user's server) goes to vm1's
    websocket echo server. It balances nothing: JupyterHub routes each user
    to one server."""
    kind = "chp"

    def start(self):
        vm1 = self.pool.vms[0][1]
        self.token = secrets.token_hex(16)
        env = dict(os.environ, CONFIGPROXY_AUTH_TOKEN=self.token, NODE_PATH="/usr/share/nodejs")
        exe = shutil.which("configurable-http-proxy") or "/usr/bin/configurable-http-proxy"
        if not os.access(exe, os.X_OK):
            raise BenchError("configurable-http-proxy not found "
                             "(Debian's node-configurable-http-proxy)")
        argv = [exe, "--ip", "127.0.0.1", "--port", self.ports.http,
                "--api-ip", "127.0.0.1", "--api-port", self.ports.admin,
                "--default-target", "http://%s:%d" % (vm1, P_HTTP), "--log-level", "warn"]
        self.conf_text = " ".join(map(str, argv))
        f = open(self.log, "ab")
        self.proc = subprocess.Popen([str(a) for a in pin(argv, "proxy")],
                                     stdin=subprocess.DEVNULL, stdout=f, stderr=f, env=env,
                                     start_new_session=True)
        f.close()
        PROCS.append(("chp " + self.tag, self.proc))
        wait_port("127.0.0.1", self.ports.admin, what="configurable-http-proxy API")
        req = urllib.request.Request(
            "http://127.0.0.1:%d/api/routes/ws" % self.ports.admin, method="POST",
            data=json.dumps({"target": "http://%s:%d" % (vm1, P_WS)}).encode(),
            headers={"Authorization": "token " + self.token})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=5) as r:
            if r.status // 100 != 2:
                raise BenchError("configurable-http-proxy: adding /ws answered %d" % r.status)
        self.wait_up()
        return self

    def wait_up(self, timeout=30):
        deadline = time.monotonic() + timeout
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with opener.open("http://127.0.0.1:%d%s" % (self.ports.http, JUP_PAGE),
                                 timeout=2) as r:
                    if r.status == 200 and len(r.read()) == JUP_PAGE_BYTES:
                        return
                    last = r.status
            except OSError as e:
                last = e
            time.sleep(0.2)
        raise BenchError("configurable-http-proxy: no page through it after %ds: %s" % (
            timeout, last))


# ------------------------------------------------------------ scenarios

class Bench:
    def __init__(self, args, sizes):
        self.args = args
        self.sz = sizes
        self.res = {}      # key -> setup -> [values]
        self.extra = {}    # key -> setup -> [notes]
        self.errors = []
        self.perf_done = set()
        self.tw_notes = {}
        self.half_rate = {}  # svc -> the fixed rate of the open-loop run

    def record(self, key, setup, value, note=None):
        self.res.setdefault(key, {}).setdefault(setup, []).append(value)
        if note:
            self.extra.setdefault(key, {}).setdefault(setup, []).append(note)

    def proxy_for(self, setup):
        """The proxy process of setup (None for direct)."""
        return {"poolgate": self.pg, "cluster": self.pgc, "haproxy": self.hp,
                "chp": self.chp}.get(setup)

    def record_cpu(self, key, setup, share, count):
        """key_cpu: the proxy's CPU ms per 1,000 of count (connections or
        requests) over the run share measured; key_idle: the machine's idle
        share of all its CPUs meanwhile."""
        cpu, idle = share.done()
        if cpu is not None and count:
            self.record(key + "_cpu", setup, cpu / count * 1e6)
        self.record(key + "_idle", setup, idle)

    def endpoint(self, setup, service):
        """(address, port) a client of `setup` uses for `service`."""
        vm1 = self.pool.vms[0][1]
        direct = {"ssh": P_SSH, "iperf": P_IPERF, "echo_close": P_ECHO_CLOSE,
                  "echo_hold": P_ECHO_HOLD, "http": P_HTTP, "https": P_HTTPS, "ws": P_WS}
        if setup == "direct":
            return vm1, direct[service]
        proxy = {"poolgate": self.pg, "cluster": self.pgc, "chp": self.chp}.get(setup, self.hp)
        proxy.check_alive()
        if setup == "chp":
            # One listener: the path picks nginx or the websocket route.
            if service not in ("http", "ws"):
                raise BenchError("configurable-http-proxy has no %s endpoint" % service)
            return "127.0.0.1", proxy.ports.http
        return "127.0.0.1", getattr(proxy.ports, service)

    # perf record of poolgate during one measurement (--perf)
    def perf_start(self, setup, key):
        if (not self.args.perf or setup != "poolgate" or key in self.perf_done or
                key == "idle"):  # idle runs its own poolgate; nothing to profile there
            return None
        self.perf_done.add(key)
        data = TOOLS / ("perf-%s.data" % key)
        return (key, data, subprocess.Popen(
            ["perf", "record", "-F", "999", "-g", "-o", str(data), "-p", str(self.pg.pid)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def perf_stop(self, h):
        if h is None:
            return
        key, data, p = h
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        out = TOOLS / ("perf-%s.txt" % key)
        text = []
        for title, extra in (
                ("by DSO", ["--no-children", "--sort", "dso"]),
                ("by symbol (self)", ["--no-children", "--sort", "dso,symbol",
                                      "--percent-limit", "0.5"]),
                ("by symbol with what it calls (children; kernel call chains)",
                 ["--children", "--sort", "symbol", "--percent-limit", "2"])):
            r = run(["perf", "report", "-i", data, "--stdio", "-g", "none"] + extra,
                    check=False, timeout=300)
            text.append("==== poolgate, %s: %s\n%s%s" % (key, title, r.stdout, r.stderr))
        out.write_text("\n".join(text))
        say("perf profile of poolgate (%s): %s" % (key, out))

    def settle(self, key, setup):
        """Waits (at most 70 s) until the root namespace holds fewer than
        TW_SETTLE TIME_WAIT sockets towards the pool: each holds a local port
        the next measurement may need to connect to a VM. Not in --quick."""
        if self.args.quick:
            return
        prefix = self.pool.state["subnet"] + "."
        n = time_wait_to(prefix)
        if n < TW_SETTLE:
            return
        t0 = time.monotonic()
        while n >= TW_SETTLE and time.monotonic() - t0 < 70:
            time.sleep(1)
            n = time_wait_to(prefix)
        say("waited %.0f s for TIME_WAIT sockets towards the pool to expire before %s %s" % (
            time.monotonic() - t0, key, setup))

    def measure(self, key, fn, runs=None):
        """Runs fn(setup) for every setup, interleaved, runs times."""
        setups = [s for s in SETUPS + ("cluster", "chp") if s in self.setups_for(key)]
        prefix = self.pool.state["subnet"] + "."
        if self.args.perf and "poolgate" in setups and key not in self.perf_done:
            # An extra run of poolgate under perf, its figures dropped: perf
            # slows what it records, so no median counts a recorded run.
            keep = copy.deepcopy((self.res, self.extra))
            self.settle(key, "poolgate")
            h = self.perf_start("poolgate", key)
            try:
                fn("poolgate", 0)
            finally:
                self.perf_stop(h)
            self.res, self.extra = keep
        for r in range(runs or self.sz["runs"]):
            for setup in setups:
                self.settle(key, setup)
                tw0 = time_wait_to(prefix)
                h = self.perf_start(setup, key)
                try:
                    fn(setup, r)
                finally:
                    self.perf_stop(h)
                tw = time_wait_to(prefix)
                if tw - tw0 >= TW_SETTLE:
                    note = "%s added %s TIME_WAIT sockets towards the VMs (run %d)" % (
                        setup, "{:,}".format(tw - tw0), r + 1)
                    self.tw_notes.setdefault(key, []).append(note)
                    say(note)

    def setups_for(self, key):
        if key in ("state", "users"):
            return ("poolgate",)
        if key in CHP_KEYS:
            return SETUPS + ("chp",)
        if key == "idle":
            return ("poolgate", "haproxy")
        return SETUPS + ("cluster",) if key in CLUSTER_KEYS else SETUPS

    # 1. bulk relay
    def bulk(self):
        def one(streams, setup, r):
            addr, port = self.endpoint(setup, "iperf")
            argv = ["iperf3", "-c", addr, "-p", port, "-t", self.sz["iperf_s"],
                    "-P", streams, "-J"]
            if self.sz["iperf_omit"]:
                argv += ["-O", self.sz["iperf_omit"]]
            for attempt in range(3):
                p = run(pin(argv, "load"), check=False, timeout=self.sz["iperf_s"] + 60)
                try:
                    j = json.loads(p.stdout)
                except ValueError:
                    j = {"error": (p.stdout + p.stderr)[-500:]}
                if "error" not in j and p.returncode == 0:
                    break
                # iperf3 -s takes one test at a time; the last may be ending.
                time.sleep(1)
            else:
                raise BenchError("iperf3 %s %d streams: %s" % (setup, streams, j.get("error")))
            bps = j["end"]["sum_received"]["bits_per_second"]
            self.record("bulk%d" % streams, setup, bps / 1e9)
            say("bulk %d stream(s) %-8s %.2f Gbit/s" % (streams, setup, bps / 1e9))
            time.sleep(0.5)
        for streams in (1, 8):
            self.measure("bulk%d" % streams, lambda setup, r: one(streams, setup, r))

    # 2. scp
    def scp(self):
        mib = self.sz["scp_mib"]
        need = 3 * mib * 1024 * 1024 + (256 << 20)
        base = None
        for cand in ("/dev/shm", "/tmp"):
            st = os.statvfs(cand)
            if st.f_bavail * st.f_frsize >= need:
                base = cand
                break
        if base is None:
            raise BenchError("scp: no room for %d MiB three times in /dev/shm or /tmp" % mib)
        src = Path(base, "pgbench-src-%d" % os.getpid())
        up = Path(base, "pgbench-up-%d" % os.getpid())
        down = Path(base, "pgbench-down-%d" % os.getpid())
        self.scp_where = base
        say("scp: writing a %d MiB file in %s" % (mib, base))
        with open(src, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        src.chmod(0o644)
        size = src.stat().st_size
        cfg = self.pool.ssh_config
        try:
            def one(setup, r):
                addr, port = self.endpoint(setup, "ssh")
                for direction in ("up", "down"):
                    for p in (up, down):
                        if p.exists():
                            p.unlink()
                    if direction == "up":
                        argv = ["scp", "-q", "-F", cfg, "-P", port, src,
                                "pgtest@%s:%s" % (addr, up)]
                        dst = up
                    else:
                        argv = ["scp", "-q", "-F", cfg, "-P", port,
                                "pgtest@%s:%s" % (addr, src), down]
                        dst = down
                    proxy = None if setup == "direct" else (
                        self.pg if setup == "poolgate" else self.hp)
                    cpu0 = cpu_seconds(proxy.pid) if proxy else None
                    t0 = time.monotonic()
                    run(pin(argv, "load"), timeout=1800)
                    dt = time.monotonic() - t0
                    if proxy:
                        # What the relay costs the two cores ssh and sshd share.
                        self.record("scp_%s_cpu" % direction, setup,
                                    (cpu_seconds(proxy.pid) - cpu0) / (size / (1 << 30)))
                    if not dst.exists() or dst.stat().st_size != size:
                        raise BenchError("scp %s %s: the copy has the wrong size" % (
                            direction, setup))
                    self.record("scp_" + direction, setup, dt)
                    say("scp %-4s %-8s %.2f s (%.0f MB/s)" % (direction, setup, dt,
                                                            size / dt / 1e6))
            self.measure("scp", one, runs=self.sz["scp_runs"])
        finally:
            for p in (src, up, down):
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass

    # 3. connection rate
    def connrate(self, key, setup, r, extra=(), secs=None, during=None):
        """One bench/connrate.c run on echo_close; during(proc) runs while it
        does. Returns its JSON."""
        addr, port = self.endpoint(setup, "echo_close")
        secs = secs or self.sz["conn_s"]
        argv = [TOOLS / "connrate", "-a", addr, "-p", port, "-d", secs,
                "-c", self.sz["conn_c"]] + list(extra)
        share = CpuShare(self.proxy_for(setup))
        if during is None:
            out = run(pin(argv, "load"), timeout=secs + 60).stdout
        else:
            p = subprocess.Popen([str(a) for a in pin(argv, "load")], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            PROCS.append(("connrate", p))
            try:
                during(p)
                out, err = p.communicate(timeout=secs + 60)
            finally:
                stop(p)
            if p.returncode != 0:
                raise BenchError("connrate %s: exit %s: %s" % (setup, p.returncode, err))
        j = json.loads(out)
        if key in ("conn", "conn_reset"):
            self.record_cpu(key, setup, share, j["conns"])
        self.record(key, setup, j["rate"], "%d errors" % j["errors"] if j["errors"] else None)
        if j["errors"]:
            self.errors.append("%s %s run %d: %d failed connections of %d" % (
                key, setup, r + 1, j["errors"], j["conns"] + j["errors"]))
        say("%-8s %-8s %.0f conn/s (p50 %d us, p99 %d us, %d errors)" % (
            key, setup, j["rate"], j["p50_us"], j["p99_us"], j["errors"]))
        return j

    def conn(self):
        def one(setup, r):
            self.connrate("conn", setup, r)
            time.sleep(1)
            self.settle("conn_reset", setup)
            self.connrate("conn_reset", setup, r, extra=["-R"])
            time.sleep(1)
        self.measure("conn", one)

    # 3b. interactive: 1-byte round trips on one connection
    def pingpong(self, key, setup):
        addr, port = self.endpoint(setup, "echo_hold")
        p = run(pin([TOOLS / "pingpong", "-a", addr, "-p", port, "-n", self.sz["ping_n"],
                     "-w", 200], "load"), timeout=300)
        j = json.loads(p.stdout)
        self.record(key + "_p50", setup, float(j["p50_us"]))
        self.record(key + "_p99", setup, float(j["p99_us"]), "max %d us" % j["max_us"])
        say("%-8s %-8s p50 %d us, p99 %d us, max %d us" % (
            key, setup, j["p50_us"], j["p99_us"], j["max_us"]))

    def ping(self):
        self.measure("ping", lambda setup, r: self.pingpong("ping", setup))

    # 3c. ping-pong and connection rate again, the proxy on one core and the
    # client on the other (issue 18: "report both pinned and unpinned")
    def pinned(self):
        n = os.cpu_count() or 1
        if n < 2:
            raise BenchError("pinned: needs 2 CPUs, this machine has %d" % n)
        pins = {"proxy": str(n - 1), "load": "0" if n == 2 else "0-%d" % (n - 2)}

        def one(setup, r):
            global PIN
            px = {"poolgate": self.pg, "haproxy": self.hp}.get(setup)
            saved = PIN
            PIN = pins
            try:
                if px is not None:   # every thread of the running proxy
                    run(["taskset", "-a", "-p", "-c", pins["proxy"], px.pid])
                self.connrate("conn_pin", setup, r)
                time.sleep(1)
                self.pingpong("ping_pin", setup)
            finally:
                PIN = saved
                if px is not None and saved is None:
                    run(["taskset", "-a", "-p", "-c", "0-%d" % (n - 1), px.pid])
        self.measure("pinned", one)

    # reloads during the connection-rate run
    def reload(self):
        n, secs = self.sz["reloads"], self.sz["reload_s"]

        def one(setup, r):
            px = None
            if setup == "haproxy":
                # -db alone cannot reload: a master-worker HAProxy of its own.
                Haproxy.master_worker = True
                try:
                    px = Haproxy("reload-%d" % r, self.pool, self.cert, self.key).start()
                finally:
                    Haproxy.master_worker = False
                saved, self.hp = self.hp, px
            sig = signal.SIGUSR2 if setup == "haproxy" else signal.SIGHUP
            target = {"poolgate": self.pg, "haproxy": px}.get(setup)
            sent = []

            def during(p):
                t0 = time.monotonic()
                for i in range(n):
                    # Spread over the run, the first after 0.2 s.
                    due = t0 + 0.2 + i * (secs - 0.5) / n
                    time.sleep(max(0.0, due - time.monotonic()))
                    if target is not None:
                        target.proc.send_signal(sig)
                        sent.append(i)
            try:
                j = self.connrate("reload", setup, r, secs=secs, during=during)
                if target is not None:
                    target.check_alive()
                self.record("reload_failed", setup, float(j["errors"]),
                            "%d reloads" % len(sent))
            finally:
                if px is not None:
                    self.hp = saved
                    px.stop()
            time.sleep(1)
        self.measure("reload", one)

    # 4. idle sessions
    def idle(self):
        # A relayed connection holds two sockets in the proxy: 10,000 of them
        # do not fit in the 20,000 descriptors a process may hold here (and
        # the benchmark cannot raise that: no CAP_SYS_RESOURCE). As many as
        # fit, with room for the proxy's own (listeners, epoll, pipes, logs).
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        n = self.sz["idle_n"] = min(self.sz["idle_n"], (hard - 200) // 2)

        def one(setup, r):
            cls = Poolgate if setup == "poolgate" else Haproxy
            px = cls("idle-%s-%d" % (setup, r), self.pool, self.cert, self.key,
                     only_hold=True).start()
            try:
                # Warm up: the first connections allocate what every later one shares.
                run(pin([TOOLS / "holdconns", "-a", "127.0.0.1", "-p", px.ports.echo_hold,
                         "-n", 20], "load"), timeout=60)
                time.sleep(0.5)
                before = rss_kib(px.pid)
                h = subprocess.Popen(pin([str(TOOLS / "holdconns"), "-a", "127.0.0.1", "-p",
                                          str(px.ports.echo_hold), "-n", str(n)], "load"),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                PROCS.append(("holdconns", h))
                line = h.stdout.readline().strip()
                if not line.startswith("ready"):
                    h.kill()
                    _, err = h.communicate()
                    raise BenchError("idle %s: holdconns said %r %s" % (setup, line, err))
                time.sleep(1.0)
                px.check_alive()
                after = rss_kib(px.pid)
                fds = nfds(px.pid)
                # CPU while every connection sits idle: no per-connection timers.
                cpu0, t0 = cpu_seconds(px.pid), time.monotonic()
                time.sleep(self.sz["idle_cpu_s"])
                cpu = (cpu_seconds(px.pid) - cpu0) / (time.monotonic() - t0) * 100
                self.record("idle_cpu", setup, cpu)
                h.stdin.write("done\n")
                h.stdin.flush()
                out, err = h.communicate(timeout=60)
                if h.returncode != 0:
                    raise BenchError("idle %s: holdconns: %s %s" % (setup, out, err))
                per = (after - before) / n   # KiB per connection
                self.record("idle", setup, per,
                            "RSS %d -> %d KiB, %d fds" % (before, after, fds))
                say("idle     %-8s %.2f KiB/conn (RSS %d -> %d KiB, %d fds for %d conns), "
                    "CPU %.2f %% while idle" % (setup, per, before, after, fds, n, cpu))
            finally:
                px.stop()
        self.measure("idle", one)

    # 5. HTTP
    def http(self):
        def one(svc, setup, r):
            addr, port = self.endpoint(setup, svc)
            url = "%s://%s:%d/" % (svc, addr, port)
            share = CpuShare(self.proxy_for(setup))
            p = run(pin(["wrk", "-t", "2", "-c", self.sz["http_c"], "-d",
                         "%ds" % self.sz["http_s"], "--latency", url], "load"),
                    timeout=self.sz["http_s"] + 60)
            rps, p99, bad, serr = parse_wrk(p.stdout)
            self.record_cpu(svc, setup, share,
                            int(re.search(r"([0-9]+) requests in", p.stdout).group(1)))
            self.record(svc + "_rps", setup, rps)
            self.record(svc + "_p99", setup, p99)
            if bad or serr:
                self.errors.append("%s %s run %d: %d non-2xx responses %s" % (
                    svc, setup, r + 1, bad, serr))
            say("%-8s %-8s %.0f req/s, p99 %.2f ms%s" % (
                svc, setup, rps, p99, (" (%d non-2xx; %s)" % (bad, serr)) if bad or serr else ""))
            time.sleep(1)

        def fixed(svc, rate, setup, r):
            addr, port = self.endpoint(setup, svc)
            argv = [TOOLS / "ratehttp", "-a", addr, "-p", port, "-r", "%.0f" % rate,
                    "-d", self.sz["http_s"], "-w", 1, "-c", self.sz["http_c"], "-u", "/"]
            if svc == "https":
                argv.append("-t")
            p = run(pin(argv, "load"), timeout=self.sz["http_s"] + 60)
            j = json.loads(p.stdout)
            note = "%.0f req/s achieved, %d sent > 1 ms late%s" % (
                j["achieved"], j["late"], ", %d errors" % j["errors"] if j["errors"] else "")
            self.record(svc + "_half_p99", setup, j["p99_us"] / 1000.0, note)
            if j["errors"]:
                self.errors.append("%s at %.0f req/s, %s run %d: %d failed requests" % (
                    svc, rate, setup, r + 1, j["errors"]))
            say("%-8s %-8s at %.0f req/s: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms (%s)" % (
                svc, setup, rate, j["p50_us"] / 1000.0, j["p99_us"] / 1000.0,
                j["p999_us"] / 1000.0, note))
            time.sleep(1)

        for svc in ("http", "https"):
            self.measure(svc, lambda setup, r: one(svc, setup, r))
        # Open loop at half of poolgate's maximum rate (the median of its
        # wrk runs), offered alike to every setup: the latency poolgate
        # adds at half load. (Half of direct's rate is most of a proxy's
        # capacity on two cores the client and server share.)
        for svc in ("http", "https"):
            pg = self.res.get(svc + "_rps", {}).get("poolgate")
            if not pg:
                continue
            rate = statistics.median(pg) / 2
            self.half_rate[svc] = rate
            self.measure(svc + "_half", lambda setup, r: fixed(svc, rate, setup, r))

    # 6. websocket
    def ws(self):
        def one(setup, r):
            addr, port = self.endpoint(setup, "ws")
            p = run(pin([TOOLS / "wsrtt", "-a", addr, "-p", port, "-n", self.sz["ws_n"],
                         "-w", self.sz["ws_warm"], "-s", "32", "-u", "/ws"], "load"),
                    timeout=300)
            j = json.loads(p.stdout)
            self.record("ws_p50", setup, j["p50_us"])
            self.record("ws_p99", setup, j["p99_us"])
            say("ws       %-8s p50 %.1f us, p99 %.1f us" % (setup, j["p50_us"], j["p99_us"]))
        self.measure("ws", one)

    # 6b. JupyterHub-shaped: keep-alive GETs of a 2.7 KB page
    def jupyter(self):
        def one(setup, r):
            addr, port = self.endpoint(setup, "http")
            url = "http://%s:%d%s" % (addr, port, JUP_PAGE)
            p = run(pin(["wrk", "-t", "2", "-c", self.sz["jup_c"], "-d",
                         "%ds" % self.sz["jup_s"], "--latency", url], "load"),
                    timeout=self.sz["jup_s"] + 60)
            rps, p99, bad, serr = parse_wrk(p.stdout)
            self.record("jup_rps", setup, rps)
            self.record("jup_p99", setup, p99)
            if bad or serr:
                self.errors.append("jupyter %s run %d: %d non-2xx responses %s" % (
                    setup, r + 1, bad, serr))
            say("jupyter  %-8s %.0f req/s, p99 %.2f ms%s" % (
                setup, rps, p99, (" (%d non-2xx; %s)" % (bad, serr)) if bad or serr else ""))
            time.sleep(1)
        self.measure("jupyter", one)

    # 6c. 1,000 Jupyter users, each with a kernel websocket open
    def users(self):
        fmt_ = "/user/u%d/api/kernels/k/channels"
        # The probe is one more user; each held one is two descriptors in
        # poolgate and one here, well inside the 20,000 a process may hold.
        counts = (self.sz["users_few"], self.sz["users_n"])

        def one(setup, r):
            # Alternate which goes first, so that drift hits both alike.
            for n in counts if r % 2 == 0 else reversed(counts):
                self.users_run(n, fmt_, r)
                time.sleep(1)
        self.measure("users", one)

    def users_run(self, n, fmt_, r):
        addr, port = self.endpoint("poolgate", "ws")
        pid = self.pg.pid
        rss0 = rss_kib(pid)
        p = subprocess.Popen(pin([str(TOOLS / "wsrtt"), "-a", addr, "-p", str(port),
                                  "-n", str(self.sz["users_msgs"]), "-w", "200", "-s", "125",
                                  "-u", "/user/probe/api/kernels/k/channels",
                                  "-H", str(n - 1), "-U", fmt_, "-g"], "load"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        PROCS.append(("wsrtt", p))
        try:
            # wsrtt says "held" once all are open (a stuck handshake: give up).
            if not select.select([p.stdout], [], [], 120)[0]:
                raise BenchError("users %d: wsrtt opened no %d websockets in 120 s" % (n, n - 1))
            line = p.stdout.readline().strip()
            if not line.startswith("held"):
                p.kill()
                _, err = p.communicate()
                raise BenchError("users %d: wsrtt said %r %s" % (n, line, err))
            time.sleep(0.5)
            self.pg.check_alive()
            rss = rss_kib(pid)
            # CPU with every kernel socket open and silent, then during the probe.
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(self.sz["users_idle_s"])
            idle = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            p.stdin.write("go\n")
            p.stdin.flush()
            out, err = p.communicate(timeout=300)
            busy = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
        finally:
            stop(p)
        if p.returncode != 0:
            raise BenchError("users %d: wsrtt: %s %s" % (n, out, err))
        j = json.loads(out.strip().splitlines()[-1])
        key = "users_many" if n == self.sz["users_n"] else "users_few"
        self.record(key + "_p50", "poolgate", j["p50_us"])
        self.record(key + "_p99", "poolgate", j["p99_us"], "max %.0f us" % j["max_us"])
        self.record(key + "_rss", "poolgate", rss / 1024.0,
                    "RSS %d KiB before they opened" % rss0)
        self.record(key + "_cpu_idle", "poolgate", idle)
        self.record(key + "_cpu", "poolgate", busy)
        say("users %-5d poolgate p50 %.1f us, p99 %.1f us; RSS %.1f MiB (%.1f before), "
            "CPU %.2f %% with them silent, %.1f %% during the probe" % (
                n, j["p50_us"], j["p99_us"], rss / 1024.0, rss0 / 1024.0, idle, busy))

    # 7. selection
    def select(self):
        for r in range(self.sz["runs"]):
            p = run([TOOLS / "bench_select", "-v", 1000, "-e", 100000, "-n",
                     self.sz["sel_picks"]], timeout=600)
            j = json.loads(p.stdout)
            for k, v in j["ns_per_pick"].items():
                self.record("sel_" + k, "poolgate", v / 1000.0)
            say("select   " + ", ".join("%s %.2f us" % (k, v / 1000.0)
                                        for k, v in j["ns_per_pick"].items()))

    # state file saves of a big affinity table
    def state(self):
        n, secs = self.sz["state_n"], self.sz["state_s"]

        def one(setup, r):
            for entries in (n, 0):
                px = Poolgate("state-%d-%d" % (entries, r), self.pool, self.cert, self.key,
                              only_hold=True)
                (px.dir / "state").mkdir(exist_ok=True)
                path = px.dir / "state" / "affinity.state"
                # The probe's own address is the last entry the table takes
                # (poolgate keeps at most 1,000,000).
                write_state(path, max(entries - 1, 0), [v[0] for v in self.pool.vms])
                px.start()
                try:
                    self.state_probe(px, path, entries, secs)
                finally:
                    px.stop()
            # Where the time of one save goes (no daemon, no probe).
            j = json.loads(run([TOOLS / "bench_snapshot", "-e", n, "-d", px.dir / "state"],
                               timeout=600).stdout)
            for k in ("slice_p50_ms", "slice_max_ms", "copy_ms", "write_ms", "sync_ms"):
                self.record("snap_" + k, "poolgate", j[k])
            say("snapshot of %s entries: slice of %d p50 %.3f ms (max %.2f), copy %.0f ms "
                "in %d slices, writer %.0f ms; one synchronous sf_save %.0f ms" % (
                    "{:,}".format(n), j["slice"], j["slice_p50_ms"], j["slice_max_ms"],
                    j["copy_ms"], j["slices"], j["write_ms"], j["sync_ms"]))
        self.measure("state", one)

    def state_probe(self, px, path, entries, secs):
        """Times a new connection through px every 1 ms for secs while px saves
        its table (every second: the probe's own sessions change it)."""
        tag = "state" if entries else "state_empty"
        p = subprocess.Popen(pin([str(TOOLS / "pingpong"), "-a", "127.0.0.1", "-p",
                                  str(px.ports.echo_hold), "-r", "-i", "1000", "-w", "100",
                                  "-n", str(secs * 1000)], "load"),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        PROCS.append(("pingpong", p))
        files = set()
        try:
            while p.poll() is None:
                try:
                    files.add(path.stat().st_ino)   # a save renames a new file in
                except FileNotFoundError:
                    pass
                time.sleep(0.02)
            out, err = p.communicate(timeout=60)
        finally:
            stop(p)
        px.check_alive()
        if p.returncode != 0:
            raise BenchError("pingpong (%s): %s" % (tag, err))
        j = json.loads(out)
        saves = max(len(files) - 1, 0)
        if entries and saves == 0:
            raise BenchError("state: poolgate saved no state file in %d s" % secs)
        note = "%d saves seen; probe p50 %d us, p99.9 %d us, %d of %d over 1 ms, %d errors" % (
            saves, j["p50_us"], j["p999_us"], j["late"], j["n"], j["errors"])
        self.record(tag + "_max", "poolgate", j["max_us"] / 1000.0, note)
        self.record(tag + "_p999", "poolgate", j["p999_us"] / 1000.0)
        say("%-11s %s entries: max %.2f ms; %s" % (tag, "{:,}".format(entries),
                                                  j["max_us"] / 1000.0, note))


def parse_wrk(out):
    """wrk --latency's output: (req/s, p99 ms, non-2xx count, socket errors)."""
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    m = re.search(r"^\s*99%\s+([0-9.]+)(us|ms|s)\s*$", out, re.M)
    mult = {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    p99 = float(m.group(1)) * mult
    bad = re.search(r"Non-2xx or 3xx responses:\s+([0-9]+)", out)
    serr = re.search(r"Socket errors:.*", out)
    return rps, p99, (int(bad.group(1)) if bad else 0), (serr.group(0) if serr else "")


def write_state(path, n, vms, ttl_ms=3600000):
    """An affinity state file of n records (backends/statefile.h's format),
    ip:10.x.y.z keys spread over the VMs, expiring in ttl_ms."""
    import zlib
    exp = int(time.time() * 1000) + ttl_ms
    with open(path, "w") as f:
        f.write("poolgate-affinity 1\n")
        for i in range(n):
            body = "ip:10.%d.%d.%d %s %d" % (i >> 16 & 255, i >> 8 & 255, i & 255,
                                             vms[i % len(vms)], exp)
            f.write("%s %08x\n" % (body, zlib.crc32(body.encode())))
        f.write("end %d\n" % n)


# ------------------------------------------------------------ report

ROWS = [
    # key, scenario, metric, unit, higher is better, format
    ("bulk1", "bulk relay (iperf3), 1 stream", "throughput", "Gbit/s", True, "%.2f"),
    ("bulk8", "bulk relay (iperf3), 8 streams", "throughput", "Gbit/s", True, "%.2f"),
    ("scp_up", "SSH: scp {scp} up", "time", "s", False, "%.2f"),
    ("scp_down", "SSH: scp {scp} down", "time", "s", False, "%.2f"),
    ("scp_up_cpu", "SSH: scp {scp} up", "proxy CPU per GiB", "s", False, "%.2f"),
    ("scp_down_cpu", "SSH: scp {scp} down", "proxy CPU per GiB", "s", False, "%.2f"),
    ("conn", "connection rate (connect, 8 bytes each way, close)", "rate", "conn/s", True, "%.0f"),
    ("conn_reset", "connection rate, clients that reset (SO_LINGER 0) after 8 bytes each way",
     "rate", "conn/s", True, "%.0f"),
    ("conn_cpu", "connection rate (connect, 8 bytes each way, close)",
     "proxy CPU per 1,000 connections", "ms", False, "%.0f"),
    ("conn_idle", "connection rate (connect, 8 bytes each way, close)",
     "CPU left idle on the machine", "%", None, "%.1f"),
    ("conn_reset_cpu", "connection rate, clients that reset (SO_LINGER 0) after 8 bytes each way",
     "proxy CPU per 1,000 connections", "ms", False, "%.0f"),
    ("conn_reset_idle", "connection rate, clients that reset (SO_LINGER 0) after 8 bytes each way",
     "CPU left idle on the machine", "%", None, "%.1f"),
    ("reload", "connection rate during {reloads} reloads", "rate", "conn/s", True, "%.0f"),
    ("reload_failed", "connection rate during {reloads} reloads", "failed connections",
     "count", False, "%.0f"),
    ("ping_p50", "interactive: 1-byte round trip on one connection", "p50", "µs", False, "%.0f"),
    ("ping_p99", "interactive: 1-byte round trip on one connection", "p99", "µs", False, "%.0f"),
    ("conn_pin", "connection rate, the proxy pinned to one core and the client to the other",
     "rate", "conn/s", True, "%.0f"),
    ("ping_pin_p50", "interactive round trip, the proxy pinned to one core and the client to "
     "the other", "p50", "µs", False, "%.0f"),
    ("ping_pin_p99", "interactive round trip, the proxy pinned to one core and the client to "
     "the other", "p99", "µs", False, "%.0f"),
    ("idle", "{idle} idle relayed connections", "RSS per connection", "KiB", False, "%.2f"),
    ("idle_cpu", "{idle} idle relayed connections", "CPU while idle", "%", False, "%.2f"),
    ("http_rps", "HTTP keep-alive, small response", "rate", "req/s", True, "%.0f"),
    ("http_p99", "HTTP keep-alive, small response", "p99 latency", "ms", False, "%.2f"),
    ("http_cpu", "HTTP keep-alive, small response", "proxy CPU per 1,000 requests", "ms",
     False, "%.1f"),
    ("http_idle", "HTTP keep-alive, small response", "CPU left idle on the machine", "%",
     None, "%.1f"),
    ("https_rps", "HTTPS (TLS terminated) keep-alive", "rate", "req/s", True, "%.0f"),
    ("https_p99", "HTTPS (TLS terminated) keep-alive", "p99 latency", "ms", False, "%.2f"),
    ("https_cpu", "HTTPS (TLS terminated) keep-alive", "proxy CPU per 1,000 requests", "ms",
     False, "%.1f"),
    ("https_idle", "HTTPS (TLS terminated) keep-alive", "CPU left idle on the machine", "%",
     None, "%.1f"),
    ("http_half_p99", "HTTP at half of poolgate's maximum rate ({http_half} req/s, open loop)",
     "p99 latency", "ms", False, "%.3f"),
    ("https_half_p99", "HTTPS at half of poolgate's maximum rate ({https_half} req/s, open loop)",
     "p99 latency", "ms", False, "%.3f"),
    ("ws_p50", "websocket round trip, 32 B", "p50", "µs", False, "%.1f"),
    ("ws_p99", "websocket round trip, 32 B", "p99", "µs", False, "%.1f"),
    ("jup_rps", "JupyterHub-shaped: keep-alive GETs of a 2.7 KB page, {jup_c} connections",
     "rate", "req/s", True, "%.0f"),
    ("jup_p99", "JupyterHub-shaped: keep-alive GETs of a 2.7 KB page, {jup_c} connections",
     "p99 latency", "ms", False, "%.2f"),
    ("users_few_p50", "{users_few} Jupyter users with a kernel websocket open: kernel "
     "message round trip, 125 B", "p50", "µs", False, "%.1f"),
    ("users_few_p99", "{users_few} Jupyter users with a kernel websocket open: kernel "
     "message round trip, 125 B", "p99", "µs", False, "%.1f"),
    ("users_many_p50", "{users_n} Jupyter users with a kernel websocket open: kernel "
     "message round trip, 125 B", "p50", "µs", False, "%.1f"),
    ("users_many_p99", "{users_n} Jupyter users with a kernel websocket open: kernel "
     "message round trip, 125 B", "p99", "µs", False, "%.1f"),
    ("users_few_rss", "{users_few} Jupyter users with a kernel websocket open",
     "poolgate RSS", "MiB", False, "%.1f"),
    ("users_many_rss", "{users_n} Jupyter users with a kernel websocket open",
     "poolgate RSS", "MiB", False, "%.1f"),
    ("users_many_cpu_idle", "{users_n} Jupyter users with a kernel websocket open, all silent",
     "poolgate CPU", "%", False, "%.2f"),
    ("users_many_cpu", "{users_n} Jupyter users with a kernel websocket open, during the probe",
     "poolgate CPU", "%", False, "%.1f"),
    ("state_max", "saving {state_n} affinities: a new connection every 1 ms",
     "longest round trip", "ms", False, "%.2f"),
    ("state_p999", "saving {state_n} affinities: a new connection every 1 ms",
     "p99.9 round trip", "ms", False, "%.2f"),
    ("state_empty_max", "the same probe, empty affinity table", "longest round trip", "ms",
     False, "%.2f"),
    ("state_empty_p999", "the same probe, empty affinity table", "p99.9 round trip", "ms",
     False, "%.2f"),
    ("snap_slice_p50_ms", "saving {state_n} affinities (bench/bench_snapshot.c): one slice "
     "of 256 entries copied on the loop", "median", "ms", False, "%.3f"),
    ("snap_slice_max_ms", "saving {state_n} affinities (bench/bench_snapshot.c): one slice "
     "of 256 entries copied on the loop", "longest", "ms", False, "%.3f"),
    ("snap_copy_ms", "saving {state_n} affinities (bench/bench_snapshot.c): all slices",
     "loop CPU per save", "ms", False, "%.0f"),
    ("snap_write_ms", "saving {state_n} affinities (bench/bench_snapshot.c): writer thread "
     "(format, write, fsync, rename)", "time", "ms", False, "%.0f"),
    ("snap_sync_ms", "saving {state_n} affinities (bench/bench_snapshot.c): the old "
     "synchronous sf_save(), all on the loop", "time", "ms", False, "%.0f"),
]

SEL_ROWS = [
    ("sel_ip_hit", "SSH client with an address affinity (rule 4)"),
    ("sel_user_hit", "HTTP request of a user with an affinity (rule 1)"),
    ("sel_new_ip", "new SSH client: least loaded of 1,000 VMs (rule 5)"),
    ("sel_new_user", "HTTP request of an unknown user (rules 1, 5)"),
    ("sel_ip_conn", "returning SSH client, pick + session start + end"),
]

# Scenario (for --only) of each measurement key --perf profiles under.
PERF_SCENARIO = {"bulk1": "bulk", "bulk8": "bulk", "scp": "scp", "conn": "conn",
                 "ping": "ping", "http": "http", "https": "http", "http_half": "http",
                 "https_half": "http", "ws": "ws", "jupyter": "jupyter", "users": "users",
                 "reload": "reload", "idle": "idle", "state": "state"}


def targets(med, sz=None):
    """Issue 18's targets (and issue 14's cluster row): a list of
    (description, met: bool or None when not measured, value, perf keys:
    the --perf profiles of the measurements behind it)."""
    sz = sz or SIZES["full"]

    def get(k, setup="poolgate"):
        return med.get(k, {}).get(setup)

    def ratio(k, a, b):
        try:
            return med[k][a] / med[k][b]
        except (KeyError, ZeroDivisionError, TypeError):
            return None

    def added(k, setup="poolgate"):
        try:
            return med[k][setup] - med[k]["direct"]
        except (KeyError, TypeError):
            return None

    def t(desc, v, ok, *perf):
        return (desc, None if v is None else ok(v), v, perf)

    def vs_haproxy(desc, k, factor, *perf):
        """poolgate's added latency (value) against factor x HAProxy's. Not
        a ratio: either may be negative when direct's own p99 is the worst."""
        a, b = added(k), added(k, "haproxy")
        if b is None:
            return t(desc, None, None)
        return t("%s (ms; HAProxy's: %.3g)" % (desc, b) if k.endswith("half_p99") else
                 "%s (µs; HAProxy's: %.3g)" % (desc, b), a, lambda v: v <= factor * b, *perf)

    users = ""
    if get("users_many_rss") is not None:
        users = " (with %s open: poolgate RSS %.1f MiB, CPU %.2f %% all silent, %.1f %% " \
            "during the probe)" % ("{:,}".format(sz["users_n"]), get("users_many_rss"),
                                   get("users_many_cpu_idle"), get("users_many_cpu"))
    many, few = get("users_many_p99"), get("users_few_p99")
    users_ratio = many / few if many is not None and few else None
    idle_n = "{:,}".format(sz["idle_n"])
    state_n = "{:,}".format(sz["state_n"])
    out = [
        t("connection rate ≥ 1.2 × HAProxy (graceful close)", ratio("conn", "poolgate", "haproxy"),
          lambda v: v >= 1.2, "conn"),
        t("connection rate ≥ 1.2 × HAProxy (clients that reset)",
          ratio("conn_reset", "poolgate", "haproxy"), lambda v: v >= 1.2, "conn"),
        t("bulk 1 stream ≥ 0.95 × direct", ratio("bulk1", "poolgate", "direct"),
          lambda v: v >= 0.95, "bulk1"),
        t("bulk 8 streams ≥ 1.2 × HAProxy", ratio("bulk8", "poolgate", "haproxy"),
          lambda v: v >= 1.2, "bulk8"),
        t("scp up time ≤ 1.05 × direct (median of %d)" % sz["scp_runs"],
          ratio("scp_up", "poolgate", "direct"), lambda v: v <= 1.05, "scp"),
        t("scp down time ≤ 1.05 × direct (median of %d)" % sz["scp_runs"],
          ratio("scp_down", "poolgate", "direct"), lambda v: v <= 1.05, "scp"),
        vs_haproxy("1-byte ping-pong: added p99 ≤ HAProxy's added p99", "ping_p99", 1.0, "ping"),
        t("1-byte ping-pong: added p99 < 50 µs", added("ping_p99"), lambda v: v < 50, "ping"),
        t("HTTP keep-alive req/s ≥ 1.3 × HAProxy", ratio("http_rps", "poolgate", "haproxy"),
          lambda v: v >= 1.3, "http"),
        t("HTTPS keep-alive req/s ≥ 1.3 × HAProxy", ratio("https_rps", "poolgate", "haproxy"),
          lambda v: v >= 1.3, "https"),
        vs_haproxy("HTTP added p99 at half of the max rate ≤ 0.5 × HAProxy's added p99",
                   "http_half_p99", 0.5, "http_half"),
        t("HTTP added p99 at half of the max rate < 1 ms", added("http_half_p99"),
          lambda v: v < 1.0, "http_half"),
        vs_haproxy("HTTPS added p99 at half of the max rate ≤ 0.5 × HAProxy's added p99",
                   "https_half_p99", 0.5, "https_half"),
        t("HTTPS added p99 at half of the max rate < 1 ms", added("https_half_p99"),
          lambda v: v < 1.0, "https_half"),
        t("Jupyter-shaped: req/s ≥ 0.75 × direct", ratio("jup_rps", "poolgate", "direct"),
          lambda v: v >= 0.75, "jupyter"),
        t("Jupyter-shaped: req/s ≥ 20 × configurable-http-proxy",
          ratio("jup_rps", "poolgate", "chp"), lambda v: v >= 20, "jupyter"),
        t("Jupyter-shaped: websocket round trip p50 ≤ 1.2 × direct",
          ratio("ws_p50", "poolgate", "direct"), lambda v: v <= 1.2, "ws"),
        t("%s idle SSH-like sessions: ≤ 1.5 KiB each" % idle_n, get("idle"),
          lambda v: v <= 1.5, "idle"),
        t("%s idle SSH-like sessions: CPU while idle ≈ 0 %% (< 0.5 %%)" % idle_n,
          get("idle_cpu"), lambda v: v < 0.5, "idle"),
        t("%s Jupyter users: kernel message p99 ≤ 1.2 × with %d users (ratio)%s" % (
            "{:,}".format(sz["users_n"]), sz["users_few"], users),
          users_ratio, lambda v: v <= 1.2, "users"),
        t("state file save with %s affinities: no loop stall > 1 ms (longest probe round trip "
          "minus that with an empty table, ms)" % state_n, added_state(med),
          lambda v: v <= 1.0, "state"),
        t("%d reloads during the connection-rate run: 0 failed connections" % sz["reloads"],
          get("reload_failed"), lambda v: v == 0, "reload"),
    ]
    out += [t("cluster on vs off (issue 14): %s within 5 %% (on/off ≥ 0.95)" % desc,
              ratio(k, "cluster", "poolgate"), lambda v: v >= 0.95, k)
            for k, desc in (("conn", "connection rate"), ("bulk1", "bulk 1 stream"),
                            ("bulk8", "bulk 8 streams"))]
    return out


def perf_symbols(key, n=8):
    """The top n self-time symbols of poolgate in --perf's report of key:
    [(percent, dso, symbol)], or None when there is no report."""
    path = TOOLS / ("perf-%s.txt" % key)
    if not path.exists():
        return None
    text = path.read_text(errors="replace")
    m = re.search(r"^==== poolgate, %s: by symbol \(self\)\n(.*?)(?=^==== |\Z)" % re.escape(key),
                  text, re.M | re.S)
    if not m:
        return None
    rows = []
    for line in m.group(1).splitlines():
        # "  6.94%  [kernel.kallsyms]  [k] tcp_ack   -   -" (IPC columns after)
        r = re.match(r"^\s*([0-9.]+)%\s+(\S+)\s+\[[.k]\]\s+(\S.*?)(?:\s{2,}|\s*$)", line)
        if r:
            rows.append((float(r.group(1)), r.group(2), r.group(3)))
    return rows[:n]


def why_missed(missed, perf_run):
    """The "Why missed" section's lines: per missed target, where its profile
    is and poolgate's top symbols there (a skeleton for the explanation)."""
    L = ["", "## Why missed", ""]
    L.append("Per missed target: the `--perf` profile of poolgate during the measurement "
             "(an extra run before the measured ones, its figures dropped: perf slows it) and its "
             "top symbols (self time). The explanation is for whoever reads the profile to "
             "write under each.")
    for desc, v, perf in missed:
        L.append("")
        L.append("### %s" % desc)
        L.append("")
        L.append("Value: %.3g." % v)
        for key in perf:
            scen = PERF_SCENARIO.get(key, key)
            if key in ("idle", "state"):
                L.append("")
                L.append("- `%s`: this scenario runs a poolgate of its own, which `--perf` does "
                         "not record; profile it by hand (`bench/run --serve`)." % key)
                continue
            rows = perf_symbols(key) if perf_run else None
            L.append("")
            if rows is None:
                L.append("- `%s`: no profile in this run: run `bench/run --perf --only %s`; the "
                         "report goes to `build-bench/bench/perf-%s.txt`." % (key, scen, key))
                continue
            if not rows:
                L.append("- `%s`: profile `build-bench/bench/perf-%s.txt` has no samples "
                         "(the measurement was too short for perf's 999 Hz): profile a full "
                         "run, `bench/run --perf --only %s`." % (key, key, scen))
                continue
            L.append("- `%s`: profile `build-bench/bench/perf-%s.txt`; poolgate's top "
                     "symbols:" % (key, key))
            L.append("")
            L.append("  | self % | object | symbol |")
            L.append("  | ---: | --- | --- |")
            for pct, dso, sym in rows:
                L.append("  | %.2f | %s | `%s` |" % (pct, dso, sym.replace("|", "\\|")))
    return L


def added_state(med):
    """The longest probe round trip while saving the big table minus the
    longest with an empty one: the stall the saves add (the machine's own
    scheduling noise is in both)."""
    try:
        return med["state_max"]["poolgate"] - med["state_empty_max"]["poolgate"]
    except KeyError:
        return None


def cmd_version(argv, rx=None):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        out = p.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    if rx:
        m = re.search(rx, out)
        return m.group(1) if m else out.splitlines()[0] if out else "?"
    return out.splitlines()[0] if out else "?"


def dpkg_version(pkg):
    return cmd_version(["dpkg-query", "-W", "-f=${Version}", pkg])


def machine_info(bench):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    try:
        debian = Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = "?"
    commit = cmd_version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                            "backends", "proxy", "config", "meson.build"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    hp_threads = "?"
    try:
        hp_threads = bench.hp.info().get("Nbthread", "?")
    except Exception:  # reporting only
        pass
    return [
        ("CPU", cpu),
        ("cores (online)", str(os.cpu_count())),
        ("memory", mem),
        ("kernel", platform.release()),
        ("OS", "Debian %s" % debian),
        ("poolgate", "%s (commit %s%s), meson --buildtype=release (gcc -O3), "
         "workers = %d (relay threads for bulk sessions)" % (
            cmd_version([str(BUILD / "poolgate"), "-V"]), commit,
            ", with uncommitted changes" if dirty.strip() else "", Poolgate.workers)),
        ("HAProxy", "%s (Debian %s), %s thread(s) (its default: one per CPU)" % (
            cmd_version(["haproxy", "-v"], r"version (\S+)"), dpkg_version("haproxy"), hp_threads)),
        ("libevent", dpkg_version("libevent-dev")),
        ("OpenSSL", cmd_version(["openssl", "version"])),
        ("OpenSSH", cmd_version(["ssh", "-V"])),
        ("iperf3", cmd_version(["iperf3", "--version"], r"iperf (\S+)")),
        ("wrk", dpkg_version("wrk")),
        ("nginx", dpkg_version("nginx")),
        ("gcc", cmd_version(["gcc", "-dumpfullversion"])),
        ("pinning", "none: every process may run on any core" if PIN is None else
         "the proxy (poolgate, HAProxy or CHP, all its threads) on CPU %s; the load "
         "generators on CPU %s; the servers in the VMs' namespaces unpinned" % (
             PIN["proxy"], PIN["load"])),
    ]


def fmt(v, f):
    return "—" if v is None else f % v


def write_report(bench, out, args, started, elapsed):
    sz = bench.sz
    med = {k: {s: statistics.median(v) for s, v in d.items()} for k, d in bench.res.items()}
    scp_label = ("%d GiB" % (sz["scp_mib"] // 1024)) if sz["scp_mib"] >= 1024 else (
        "%d MiB" % sz["scp_mib"])
    L = []
    L.append("# poolgate benchmark results")
    L.append("")
    L.append("Generated by `bench/run%s` on %s in %.0f min (%s mode: median of %d run%s per "
             "setup%s, setups interleaved direct → poolgate → HAProxy in every run). "
             "Regenerate with `bench/run`; `bench/run --help` lists the options." % (
                 (" " + " ".join(args.argv)) if args.argv else "",
                 started.strftime("%Y-%m-%d %H:%M UTC"), elapsed / 60, args.mode, sz["runs"],
                 "" if sz["runs"] == 1 else "s",
                 "; scp %d" % sz["scp_runs"] if sz["scp_runs"] != sz["runs"] else ""))
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append("| | |")
    L.append("| --- | --- |")
    for k, v in machine_info(bench):
        L.append("| %s | %s |" % (k, v.replace("|", "\\|")))
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("*direct*: the client in the root namespace connects to vm1's address over the "
             "bridge. *poolgate* and *HAProxy*: the client connects to the proxy's loopback "
             "listener and the proxy relays to the pool (%d VMs, every one a backend). "
             "*CHP*: configurable-http-proxy (JupyterHub's default proxy) to vm1, for the "
             "HTTP, websocket and Jupyter rows. "
             "Ratios are poolgate ÷ the other setup; ↑ means higher is better, ↓ lower." %
             len(bench.pool.vms))
    L.append("")
    L.append("| scenario | metric | direct | poolgate | HAProxy | CHP | poolgate/direct | "
             "poolgate/HAProxy | poolgate/CHP |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, scen, metric, unit, higher, f in ROWS:
        if key not in med:
            continue
        m = med[key]
        d, p, h, c = m.get("direct"), m.get("poolgate"), m.get("haproxy"), m.get("chp")
        rd = p / d if p is not None and d else None
        rh = p / h if p is not None and h else None
        rc = p / c if p is not None and c else None
        if higher is None:   # a condition of the run, not a result: no ratios
            rd = rh = rc = None
        L.append("| %s | %s (%s%s) | %s | %s | %s | %s | %s | %s | %s |" % (
            scen.format(scp=scp_label, idle="{:,}".format(sz["idle_n"]),
                        reloads=sz["reloads"], state_n="{:,}".format(sz["state_n"]),
                        http_half="{:,.0f}".format(bench.half_rate.get("http", 0)),
                        https_half="{:,.0f}".format(bench.half_rate.get("https", 0)),
                        jup_c=sz["jup_c"], users_n="{:,}".format(sz["users_n"]),
                        users_few=sz["users_few"]),
            metric, unit, "" if higher is None else " ↑" if higher else " ↓",
            fmt(d, f), fmt(p, f), fmt(h, f), fmt(c, f), fmt(rd, "%.2f"), fmt(rh, "%.2f"),
            fmt(rc, "%.2f")))
    if any("cluster" in med.get(k, {}) for k in CLUSTER_KEYS):
        L.append("")
        L.append("### Cluster on")
        L.append("")
        L.append("poolgate with `cluster` on (one node sharing its affinities and session "
                 "counts through a redis-server on loopback, with a password) against the "
                 "same poolgate with it off, interleaved in the same runs. Nothing on the "
                 "connection path waits for Redis; the target is a ratio ≥ 0.95.")
        L.append("")
        L.append("| scenario | metric | cluster off | cluster on | on/off |")
        L.append("| --- | --- | ---: | ---: | ---: |")
        for key, scen, metric, unit, higher, f in ROWS:
            if key not in CLUSTER_KEYS or key not in med:
                continue
            off, on = med[key].get("poolgate"), med[key].get("cluster")
            L.append("| %s | %s (%s %s) | %s | %s | %s |" % (
                scen, metric, unit, "↑" if higher else "↓", fmt(off, f), fmt(on, f),
                fmt(on / off if on is not None and off else None, "%.3f")))
    if any(k in med for k, _ in SEL_ROWS):
        L.append("")
        L.append("### Selection")
        L.append("")
        L.append("`bench/bench_select.c`: `route_pick()` (the routing order of every new "
                 "connection and HTTP request) over a pool of 1,000 VMs, all up, with "
                 "100,000 affinity entries (half `ip:`, half `user:`), %s picks per case, "
                 "keys in shuffled order. Built from backends/select.c, route.c, backend.c, "
                 "health.c and affinity.c with build-bench's flags (`%s`)." % (
                     "{:,}".format(sz["sel_picks"]), SELECT_FLAGS))
        L.append("")
        L.append("| case | time per pick (µs) ↓ |")
        L.append("| --- | ---: |")
        for key, desc in SEL_ROWS:
            if key in med:
                L.append("| %s | %.3f |" % (desc, med[key]["poolgate"]))
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("Issue 18's targets, and issue 14's for the cluster. A missed one links to "
             "[Why missed](#why-missed) and names the `--perf` profile of its measurement.")
    L.append("")
    L.append("| target | value | met |")
    L.append("| --- | ---: | :---: |")
    missed = []
    for desc, ok, v, perf in targets(med, sz):
        if ok is None:
            continue
        if ok:
            met = "yes"
        else:
            missed.append((desc, v, perf))
            met = "**no** ([why](#why-missed); %s)" % ", ".join(
                "profile: `bench/run --serve` by hand" if k in ("idle", "state") else
                "profile `build-bench/bench/perf-%s.txt`" % k
                if args.perf and (TOOLS / ("perf-%s.txt" % k)).exists() else
                "no profile: run with `--perf --only %s`" % PERF_SCENARIO.get(k, k)
                for k in perf)
        L.append("| %s | %.3g | %s |" % (desc, v, met))
    if missed:
        L.extend(why_missed(missed, args.perf))
    if bench.tw_notes:
        L.append("")
        L.append("## Local ports held in TIME_WAIT")
        L.append("")
        L.append("A proxy that closes its connections to the VMs first leaves a TIME_WAIT "
                 "socket, holding a local port towards that VM for 60 s; with ~28,000 "
                 "ephemeral ports per VM address that caps new connections to a VM at "
                 "~470/s sustained. Before every measurement the benchmark waits (up to "
                 "70 s) until fewer than %s are left, so one setup's debt is not paid "
                 "by the next. Seen after:" % "{:,}".format(TW_SETTLE))
        L.append("")
        for key, notes in bench.tw_notes.items():
            L.append("- %s: %s" % (key, "; ".join(notes)))
    if bench.errors:
        L.append("")
        L.append("## Errors seen")
        L.append("")
        for e in bench.errors:
            L.append("- " + e)
    L.append("")
    L.append("## Every run")
    L.append("")
    L.append("| key | setup | values (in run order) | notes |")
    L.append("| --- | --- | --- | --- |")
    fmts = {k: f for k, _, _, _, _, f in ROWS}
    for key in list(k for k, *_ in ROWS) + [k for k, _ in SEL_ROWS]:
        for setup in SETUPS + ("cluster", "chp"):
            vals = bench.res.get(key, {}).get(setup)
            if not vals:
                continue
            f = fmts.get(key, "%.3f")
            notes = "; ".join(bench.extra.get(key, {}).get(setup, []))
            L.append("| %s | %s | %s | %s |" % (key, setup, ", ".join(f % v for v in vals), notes))
    L.append("")
    L.append("## Method")
    L.append("")
    L.append("- Pool: `tests/pool/pool up %d` (network namespaces on bridge pgbr0). Each VM runs "
             "sshd, `iperf3 -s`, `bench/echod.c` (echo; one instance closes after the first "
             "echo), nginx %s (`worker_processes auto`, a %d-byte static page on 8000, the same "
             "over TLS on 8443 for the direct HTTPS baseline) and `bench/wsecho.c` (websocket "
             "echo). Clients run in the root namespace." % (
                 len(bench.pool.vms), dpkg_version("nginx"),
                 len("<!doctype html><title>vm1</title><p>hello from vm1, a pool VM</p>\n")))
    L.append("- bulk: `iperf3 -c ADDR -t %d%s -P 1|8` (client → server), received throughput." % (
        sz["iperf_s"], " -O %d" % sz["iperf_omit"] if sz["iperf_omit"] else ""))
    L.append("- scp: `scp -F <pool ssh_config>` of a %s random file in %s, up then down; wall "
             "time including the SSH handshake (OpenSSH defaults: chacha20-poly1305)." % (
                 scp_label, getattr(bench, "scp_where", "/dev/shm")))
    L.append("- conn: `bench/connrate.c`, %d connections in flight for %d s; each connects, "
             "sends 8 bytes, reads them back until the server closes, closes." % (
                 sz["conn_c"], sz["conn_s"]))
    L.append("- conn, resetting clients: the same with `connrate -R`: the client closes with "
             "SO_LINGER 0 (an RST) as soon as its 8 bytes are back.")
    L.append("- proxy CPU per 1,000 connections or requests (conn and http rows): the "
             "proxy's user + system time (all threads, /proc/PID/stat) over the run ÷ the "
             "connections or requests the client completed. CPU left idle: the machine's "
             "idle share of all its CPUs over the same run (/proc/stat), whatever the setup: "
             "near 0 means the client, the servers and the proxy together used every core, "
             "so a proxy that used more threads could not have gone faster.")
    L.append("- reload: the conn run (graceful clients, %d s) while the proxy is reloaded %d "
             "times, spread over the run: poolgate by SIGHUP; HAProxy started for this "
             "scenario in master-worker mode (`-W`) and reloaded by SIGUSR2; direct has no "
             "reload (its failures are the baseline). Failed connections are those connrate "
             "counts as errors." % (sz["reload_s"], sz["reloads"]))
    L.append("- ping: `bench/pingpong.c -n %s -w 200`: one connection to the echo server, "
             "one byte at a time, the next when it is back." % "{:,}".format(sz["ping_n"]))
    L.append("- idle: a fresh proxy process with only the echo service; 20 warm-up connections; "
             "then `bench/holdconns.c` opens %s connections, each echoes one byte end to end, "
             "and holds them; (VmRSS after − VmRSS before) ÷ %s. Socket buffers are kernel "
             "memory, not counted. Then the proxy's CPU time (all threads, /proc) over %d s "
             "with all of them idle. The proxy holds two descriptors per connection and a "
             "process may hold %s here (a limit the benchmark cannot raise): the count is "
             "as many as fit, at most 10,000." % (
                 "{:,}".format(sz["idle_n"]), "{:,}".format(sz["idle_n"]), sz["idle_cpu_s"],
                 "{:,}".format(resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    L.append("- state: poolgate with only the echo service and a state file of %s − 1 "
             "records written by the benchmark (the format of backends/statefile.h), loaded "
             "at start; the probe's own address is the last entry. `bench/pingpong.c -r -i "
             "1000` opens a new connection every 1 ms for %d s, sends a byte, times the echo, "
             "resets: a new connection waits for poolgate's main loop (accept, pick, connect), "
             "so a stall of that loop shows in its round trip. Each probe session changes the "
             "table, so poolgate saves it every second. The same probe against an empty "
             "table is the baseline of the machine's own noise." % (
                 "{:,}".format(sz["state_n"]), sz["state_s"]))
    L.append("- http: `wrk -t 2 -c %d -d %ds --latency` on `/`; HTTPS: TLS 1.3 with an "
             "ECDSA P-256 certificate, terminated by the proxy (plain HTTP to the VM)." % (
                 sz["http_c"], sz["http_s"]))
    if bench.half_rate:
        L.append("- open loop: `bench/ratehttp.c -r RATE -d %d -w 1 -c %d` on `/` (with `-t` "
                 "for HTTPS), RATE half of poolgate's median wrk rate: request i is due "
                 "at start + i/RATE whatever became of the others, one request at a time per "
                 "keep-alive connection, latency counted from when it was due to the last "
                 "byte of its response (no coordinated omission, as wrk2); the first second "
                 "is not counted. *Added p99* in the targets is poolgate's p99 minus "
                 "direct's." % (sz["http_s"], sz["http_c"]))
    L.append("- ws: `bench/wsrtt.c`, one websocket (through poolgate's and HAProxy's http "
             "mode, Upgrade; through configurable-http-proxy's route `/ws`), %s messages of "
             "32 bytes one at a time after %s warm-up." % (
                 "{:,}".format(sz["ws_n"]), sz["ws_warm"]))
    L.append("- jupyter: `wrk -t 2 -c %d -d %ds --latency` on `%s`, a static page of %s bytes "
             "(about a JupyterHub page), keep-alive. With the ws rows, the JupyterHub-shaped "
             "targets." % (sz["jup_c"], sz["jup_s"], JUP_PAGE, "{:,}".format(JUP_PAGE_BYTES)))
    L.append("- users (poolgate only): `bench/wsrtt.c -H N-1 -U /user/u%%d/api/kernels/k/channels "
             "-s 125 -n %s`: N−1 websockets, one per Jupyter user (poolgate routes each by "
             "its `/user/<name>/` path), each echoes one message and then stays open and "
             "silent; poolgate's RSS is read, its CPU taken over %d s with all of them silent, "
             "then a probe user's kernel websocket sends %s messages of 125 bytes one at a "
             "time (after 200 warm-up), timing each round trip, and poolgate's CPU over the "
             "probe. N = %d, then N = %s, in every run." % (
                 "{:,}".format(sz["users_msgs"]), sz["users_idle_s"],
                 "{:,}".format(sz["users_msgs"]), sz["users_few"], "{:,}".format(sz["users_n"])))
    L.append("- Logging: poolgate logs to a file (its stderr); HAProxy logs each connection and "
             "request (`option tcplog` / `httplog`) to a file (`log stdout`).")
    L.append("")
    if bench.pg_conf_text:
        L.append("<details><summary>poolgate configuration</summary>")
        L.append("")
        L.append("```")
        L.append(bench.pg_conf_text.rstrip())
        L.append("```")
        L.append("</details>")
        L.append("")
    if bench.chp is not None:
        L.append("<details><summary>configurable-http-proxy command line</summary>")
        L.append("")
        L.append("```")
        L.append(bench.chp.conf_text)
        L.append("# and, through its API: POST /api/routes/ws {\"target\": \"http://VM1:%d\"}" % P_WS)
        L.append("```")
        L.append("</details>")
        L.append("")
    if bench.hp_conf_text:
        L.append("<details><summary>HAProxy configuration</summary>")
        L.append("")
        L.append("```")
        L.append(bench.hp_conf_text.rstrip())
        L.append("```")
        L.append("</details>")
        L.append("")
    text = "\n".join(L)
    text = text.replace(str(WORK), "$WORK")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, out)
    return med


# ------------------------------------------------------------ main

def serve(bench):
    eps = {}
    for setup in SETUPS:
        eps[setup] = {svc: "%s:%d" % bench.endpoint(setup, svc)
                      for svc in ("ssh", "iperf", "echo_close", "echo_hold", "http", "https", "ws")}
    eps["pids"] = {"poolgate": bench.pg.pid, "haproxy": bench.hp.pid}
    if bench.chp is not None:
        eps["chp"] = {svc: "%s:%d" % bench.endpoint("chp", svc) for svc in ("http", "ws")}
        eps["pids"]["chp"] = bench.chp.pid
    eps["tools"] = str(TOOLS)
    eps["ssh_config"] = bench.pool.ssh_config
    eps["logs"] = str(WORK)
    print(json.dumps(eps, indent=1), flush=True)
    say("serving; Ctrl-C (or SIGTERM) tears it all down")
    try:
        while bench.pg.alive() and bench.hp.alive():
            time.sleep(1)
        say("a proxy exited")
    except KeyboardInterrupt:
        pass


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/run", description="poolgate's benchmark: direct vs poolgate vs HAProxy.",
        epilog="Scenarios: " + ", ".join(SCENARIOS) + ".")
    ap.add_argument("--quick", action="store_true",
                    help="every scenario once with small sizes (64 MiB scp, 2 s runs, 500 idle)")
    ap.add_argument("--out", help="results file (default bench/results.md; with --quick, "
                    "build-bench/bench/results-quick.md)")
    ap.add_argument("--runs", type=int, help="runs per setup (default 3; --quick 1)")
    ap.add_argument("--only", help="comma-separated scenarios to run (default all)")
    ap.add_argument("--vms", type=int, default=2, help="VMs in the pool (default 2)")
    ap.add_argument("--workers", type=int, default=2,
                    help="poolgate's relay threads, its `workers` setting (default 2, "
                    "as many as HAProxy's threads here: one per core)")
    ap.add_argument("--serve", action="store_true",
                    help="set everything up, print the endpoints, and wait (Ctrl-C ends it): "
                    "for profiling by hand")
    ap.add_argument("--pin", action="store_true",
                    help="pin the proxy to the last CPU and the load generators to the "
                    "others (taskset); the servers stay unpinned")
    ap.add_argument("--perf", action="store_true",
                    help="perf record poolgate during an extra first run of each scenario, "
                    "its figures dropped "
                    "(reports in build-bench/bench/perf-*.txt)")
    a = ap.parse_args(argv)
    a.argv = argv
    a.mode = "quick" if a.quick else "full"
    if a.only:
        a.only = [s.strip() for s in a.only.split(",") if s.strip()]
        bad = [s for s in a.only if s not in SCENARIOS]
        if bad:
            ap.error("unknown scenario(s) %s (known: %s)" % (", ".join(bad), ", ".join(SCENARIOS)))
    else:
        a.only = list(SCENARIOS)
    if a.vms < 1 or a.vms > 50:
        ap.error("--vms must be 1..50")
    if a.pin and (os.cpu_count() or 1) < 2:
        ap.error("--pin needs at least 2 CPUs")
    return a


def main(argv):
    args = parse_args(argv)
    sizes = dict(SIZES[args.mode])
    if args.runs:
        sizes["runs"] = sizes["scp_runs"] = args.runs
    if args.out:
        out = Path(args.out).resolve()
    elif args.quick:
        out = TOOLS / "results-quick.md"
    else:
        out = REPO / "bench" / "results.md"
    if os.geteuid() != 0:
        print("bench: needs root (network namespaces)", file=sys.stderr)
        return 1

    def on_term(sig, frame):
        raise SystemExit("bench: stopped by signal %d" % sig)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    os.environ.pop("MALLOC_PERTURB_", None)   # meson test sets it: it slows malloc
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    try:
        install(args.perf)
        build(sizes)
        lock = take_lock()
    except BenchError as e:
        say("error: %s" % e)
        return 1
    Poolgate.workers = args.workers
    if args.pin:
        global PIN
        n = os.cpu_count()
        PIN = {"proxy": str(n - 1), "load": "0" if n == 2 else "0-%d" % (n - 2)}
    pool = Pool(args.vms)
    bench = Bench(args, sizes)
    bench.pool = pool
    bench.pg = bench.hp = bench.pgc = bench.chp = None
    bench.pg_conf_text = bench.hp_conf_text = ""
    rc = 1
    try:
        if WORK.exists():
            shutil.rmtree(WORK)
        WORK.mkdir(parents=True)
        WORK.chmod(0o755)
        pool.up()
        cert, key = make_cert()
        bench.cert, bench.key = cert, key
        start_servers(pool, cert, key)
        needs_proxies = any(s in args.only for s in ("bulk", "scp", "conn", "ping", "pinned",
                                                      "http", "ws",
                                                      "jupyter", "users", "reload"))
        if needs_proxies or "idle" in args.only:
            bench.pg = Poolgate("main", pool, cert, key).start()
            bench.hp = Haproxy("main", pool, cert, key).start()
            bench.pg_conf_text = bench.pg.conf.read_text()
            bench.hp_conf_text = bench.hp.conf.read_text()
        if any(s in args.only for s in ("bulk", "conn")):
            bench.pgc = Poolgate("cluster", pool, cert, key)
            bench.pgc.redis = start_redis()
            bench.pgc.start()
        if any(s in args.only for s in CHP_KEYS):
            bench.chp = Chp("chp", pool, cert, key).start()
        say("pool, servers, poolgate (pid %s), HAProxy (pid %s) and configurable-http-proxy "
            "(pid %s) ready; %s mode, %d run(s)" % (
                bench.pg.pid if bench.pg else "-", bench.hp.pid if bench.hp else "-",
                bench.chp.pid if bench.chp else "-", args.mode, sizes["runs"]))
        if args.serve:
            serve(bench)
            return 0
        for s in SCENARIOS:
            if s in args.only:
                say("---- %s" % s)
                t0 = time.monotonic()
                getattr(bench, s)()
                say("---- %s took %.0f s" % (s, time.monotonic() - t0))
        for px in (bench.pg, bench.hp, bench.pgc, bench.chp):
            if px is not None:
                px.check_alive()
        med = write_report(bench, out, args, started, time.monotonic() - t_start)
        say("results written to %s" % out)
        for desc, ok, v, _ in targets(med, sizes):
            if ok is not None:
                say("target %-45s %8.3g  %s" % (desc, v, "met" if ok else "NOT met"))
        rc = 0
    except BenchError as e:
        say("error: %s" % e)
        say("logs: %s" % WORK)
        rc = 1
    finally:
        for name, p in reversed(PROCS):
            stop(p, timeout=5)
        pool.down()
        os.close(lock)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

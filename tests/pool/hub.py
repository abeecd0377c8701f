#!/usr/bin/python3
"""hub -- real JupyterHub servers inside the pool's VMs (netns pg-vmK).

    hub.py up vmK [--tls] [--dir DIR] [--keep-db]   start vmK's hub, wait for /hub/health
    hub.py down vmK [--dir DIR]                      stop it (hub, proxy, user servers, kernels)
    hub.py status [--dir DIR] [--json]               which hubs run and answer
    hub.py users                                     create the PAM test users, print them
    hub.py check                                     are the Debian packages installed?

Run with /usr/bin/python3 (Debian's packages), as root, after `tests/pool/pool up N`.
DIR (default /tmp/poolgate-hub, or $POOLGATE_HUB_DIR) holds one folder per VM:
jupyterhub_config.py, singleuser_config.py, the sqlite database, cookie secret,
proxy pid file, hub.pid, hub.log (hub, proxy and user servers all log there) and,
with --tls, a self-signed cert.pem/key.pem (CN=vmK, SAN IP:<VM address>).
It is deliberately not inside the pool's folder: `pool rm` deletes that.

Each hub listens on http(s)://<VM address>:8000 inside pg-vmK (reachable from
the root namespace through bridge pgbr0). It runs in the VM, started with
`tests/pool/pool exec vmK -- ...` (the VM's network, host name, processes and
/run), so the hub, user servers and kernels see hostname vmK and the VM's
processes, as sshd's sessions do. Test users (PAM,
password login): alice, bob, carol, dave; password(name) gives the password
("pg-<name>-pw"); `up` makes any of them that is missing.

How a client tells which VM served it (both verified on Debian 12):
  * every response of the hub (/hub/login, /hub/health, /hub/spawn-pending, ...)
    carries the header `X-DSVM: vmK` (c.JupyterHub.tornado_settings['headers']);
  * every response of a user's single-user server (/user/<name>/tree,
    /user/<name>/api/...) carries `X-DSVM: vmK` too (NotebookApp.tornado_settings
    from singleuser_config.py; JupyterHub's singleuser mixin keeps configured
    headers and only adds its own);
  * code in a kernel sees os.environ['DSVM_NAME'] == 'vmK' (c.Spawner.environment;
    the notebook server passes its environment on to kernels).
  Responses of configurable-http-proxy itself (e.g. its 503 page) do not.

Findings for Debian 12 (jupyterhub 3.0.0+ds1, python3-notebook 6.4.12,
node-configurable-http-proxy 4.5.3, python3-websocket 1.2.3, requests 2.28.1):
  * /usr/bin/jupyterhub-singleuser is in the jupyterhub package. jupyter_server is
    not installed, so it falls back to the classic notebook.notebookapp.NotebookApp;
    we pin that with JUPYTERHUB_SINGLEUSER_APP so installing python3-jupyter-server
    (or jupyterlab) later does not change the server under the tests.
  * configurable-http-proxy is `#!/usr/bin/env node`; this machine's `node` (v20)
    does not search /usr/share/nodejs, so without NODE_PATH=/usr/share/nodejs CHP
    dies with "Cannot find module 'commander'" and the hub exits at startup.
  * The python3 first on PATH is not Debian's. The hub is started with a clean
    environment (PATH=/usr/sbin:/usr/bin:/sbin:/bin) and absolute commands, so the
    single-user server and kernels run under /usr/bin/python3 (the kernelspec in
    /usr/share/jupyter/kernels/python3 names /usr/bin/python3 too).
  * LocalProcessSpawner starts each user server with start_new_session=True, so it
    is NOT in the hub's process group; killing the hub's group leaves user servers
    and kernels running. stop() therefore SIGTERMs the hub (it stops servers and
    the proxy itself), then SIGKILLs every process whose environment carries
    POOLGATE_HUB_DIR=<this VM's folder> (hub, proxy, user servers, kernels).
  * The 3.0 login form has no _xsrf field (that came with 4.x); API requests with
    the hub's cookie must carry a same-origin Referer (check_referer), so the
    client spawns through GET /hub/spawn/<name> like a browser instead.
  * The notebook 6.4 REST API needs the `_xsrf` cookie (set by /user/<name>/tree)
    echoed in an X-XSRFToken header for cookie-authenticated POST/DELETE.
  * PAM service "login" has pam_faildelay 3 s: a wrong password answers after ~3 s.
    open_sessions is off (pam_loginuid fails in containers and only logs noise).
  * The Debian package enables jupyterhub.service (systemd); on a machine running
    systemd it would start a hub on port 8000 in the root namespace. Nothing starts
    it here (no systemd), but an install script may want `systemctl disable --now
    jupyterhub` where systemd runs.
  * JupyterHub writes jupyterhub-proxy.pid into its working directory unless
    ConfigurableHTTPProxy.pid_file is set; on start it kills the process named in
    an old pid file. Both pid files live in the VM's folder, and start() (fresh)
    removes stale ones only after stopping everything of that VM.
"""

import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import sys
import time
import http.client

NS_PREFIX = "pg-vm"
PORT = 8000
DEFAULT_DIR = "/tmp/poolgate-hub"
DEFAULT_USERS = ("alice", "bob", "carol", "dave")
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
NODE_PATH = "/usr/share/nodejs"
MARK = "POOLGATE_HUB_DIR"
# Runs commands in a VM (`pool exec vmK -- CMD`).
POOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pool")

# what must exist -> Debian package that provides it
_FILES = (
    ("/usr/bin/jupyterhub", "jupyterhub"),
    ("/usr/bin/jupyterhub-singleuser", "jupyterhub"),
    ("/usr/bin/configurable-http-proxy", "node-configurable-http-proxy"),
    ("/usr/bin/node", "nodejs"),
    ("/usr/bin/openssl", "openssl"),
    ("/usr/sbin/useradd", "passwd"),
    ("/usr/sbin/chpasswd", "passwd"),
    ("/usr/bin/ip", "iproute2"),
    ("/usr/bin/nsenter", "util-linux"),
)
_MODULES = (
    ("jupyterhub", "jupyterhub"),
    ("pamela", "python3-pamela"),
    ("notebook.notebookapp", "python3-notebook"),
    ("ipykernel", "python3-ipykernel"),
    ("websocket", "python3-websocket"),
    ("requests", "python3-requests"),
)
APT_PACKAGES = ("jupyterhub", "python3-notebook", "node-configurable-http-proxy",
                "python3-websocket", "python3-requests", "openssl")


class HubError(Exception):
    pass


def log(msg):
    print("hub: " + msg, file=sys.stderr)


# ---------------------------------------------------------------- names

def subnet():
    """Same rule as tests/pool/pool: POOL_SUBNET or 10.231.0."""
    s = os.environ.get("POOL_SUBNET", "10.231.0").strip()
    for suffix in (".0/24", "/24"):
        if s.endswith(suffix):
            s = s[:-len(suffix)]
    parts = s.split(".")
    if len(parts) == 4 and parts[3] == "0":
        parts = parts[:3]
    if len(parts) != 3 or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts):
        raise HubError("POOL_SUBNET=%r: expected three octets such as 10.231.0" % s)
    return ".".join(parts)


def vm_index(vm):
    m = re.fullmatch(r"(?:vm)?([0-9]+)", str(vm))
    if not m or not 1 <= int(m.group(1)) <= 200:
        raise HubError("%r is not a VM name (vmK, 1 <= K <= 200)" % (vm,))
    return int(m.group(1))


def vm_name(vm):
    return "vm%d" % vm_index(vm)


def vm_addr(vm):
    return "%s.%d" % (subnet(), 10 + vm_index(vm))


def ns_name(vm):
    return "%s%d" % (NS_PREFIX, vm_index(vm))


def base_dir(d=None):
    return os.path.abspath(d or os.environ.get("POOLGATE_HUB_DIR") or DEFAULT_DIR)


def hub_dir(vm, d=None):
    return os.path.join(base_dir(d), vm_name(vm))


def hub_url(vm, tls=False, port=PORT):
    return "%s://%s:%d" % ("https" if tls else "http", vm_addr(vm), port)


def password(user):
    """The test password of a test user."""
    return "pg-%s-pw" % user


# ---------------------------------------------------------------- checks

def check_installed():
    """Raises HubError naming the apt packages to install if anything is missing."""
    missing = []
    for path, pkg in _FILES:
        if not os.access(path, os.X_OK):
            missing.append((path, pkg))
    code = ("import importlib,sys\nbad=[]\nfor m in sys.argv[1:]:\n"
            "    try: importlib.import_module(m)\n"
            "    except Exception as e: bad.append(m)\nprint(' '.join(bad))\n")
    try:
        p = subprocess.run(["/usr/bin/python3", "-c", code] + [m for m, _ in _MODULES],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        bad = set(p.stdout.split())
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HubError("cannot run /usr/bin/python3 (%s): apt-get install python3" % e)
    for mod, pkg in _MODULES:
        if mod in bad:
            missing.append(("python module " + mod, pkg))
    if not any(pkg == "node-configurable-http-proxy" for _, pkg in missing):
        env = {"PATH": CLEAN_PATH, "NODE_PATH": NODE_PATH, "HOME": "/root"}
        try:
            p = subprocess.run(["/usr/bin/configurable-http-proxy", "--version"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60, env=env)
            ok = p.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if not ok:
            missing.append(("a working configurable-http-proxy (NODE_PATH=%s)" % NODE_PATH,
                            "node-configurable-http-proxy"))
    if missing:
        pkgs = []
        for _, pkg in missing:
            if pkg not in pkgs:
                pkgs.append(pkg)
        raise HubError("JupyterHub test harness: missing %s; install with: "
                       "apt-get install -y --no-install-recommends %s" % (
                           ", ".join(w for w, _ in missing), " ".join(pkgs)))


def _run(argv, check=True, timeout=60, input=None):
    try:
        p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise HubError("command not found: %s" % argv[0])
    except subprocess.TimeoutExpired:
        raise HubError("timed out after %ds: %s" % (timeout, " ".join(argv)))
    if check and p.returncode != 0:
        raise HubError("command failed (exit %d): %s\n  %s" % (
            p.returncode, " ".join(argv), (p.stderr or p.stdout).strip()))
    return p


def ns_exists(vm):
    p = _run(["ip", "netns", "list"], check=False)
    return any(line.split()[:1] == [ns_name(vm)] for line in p.stdout.splitlines())


# ---------------------------------------------------------------- users

def ensure_users(users=DEFAULT_USERS):
    """Creates PAM users with home folders and sets password(name) for each;
    a user removed since (deploy/demo removes those it made) is made again.
    Returns {name: password}."""
    import pwd
    for u in users:
        try:
            pw = pwd.getpwnam(u)
        except KeyError:
            _run(["useradd", "--create-home", "--shell", "/bin/bash",
                  "--comment", "poolgate jupyter test user", u])
            pw = pwd.getpwnam(u)
        if not os.path.isdir(pw.pw_dir):
            os.makedirs(pw.pw_dir, mode=0o755)
            os.chown(pw.pw_dir, pw.pw_uid, pw.pw_gid)
    _run(["chpasswd"], input="".join("%s:%s\n" % (u, password(u)) for u in users))
    return {u: password(u) for u in users}


# ---------------------------------------------------------------- files

def make_cert(d, vm):
    """Self-signed certificate for the VM's address; returns (cert, key)."""
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    if not (os.path.exists(cert) and os.path.exists(key)):
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
              "-keyout", key, "-out", cert, "-subj", "/CN=%s" % vm_name(vm),
              "-addext", "subjectAltName=IP:%s,DNS:%s" % (vm_addr(vm), vm_name(vm))],
             timeout=120)
        os.chmod(key, 0o600)
    return cert, key


def write_config(vm, tls=False, d=None, users=DEFAULT_USERS, port=PORT, agent_token=None):
    """Writes jupyterhub_config.py (and singleuser_config.py) for vm; returns its path."""
    hd = hub_dir(vm, d)
    os.makedirs(hd, exist_ok=True)
    os.chmod(hd, 0o755)  # the single-user server (as the user) reads singleuser_config.py
    secret = os.path.join(hd, "jupyterhub_cookie_secret")
    if not os.path.exists(secret):
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    os.chmod(secret, 0o600)
    su_conf = os.path.join(hd, "singleuser_config.py")
    with open(su_conf, "w") as f:
        f.write("# single-user notebook server of %s (written by tests/pool/hub.py)\n"
                "c.NotebookApp.tornado_settings = {'headers': {'X-DSVM': %r}}\n"
                % (vm_name(vm), vm_name(vm)))
    os.chmod(su_conf, 0o644)
    if tls:
        cert, key = make_cert(hd, vm)
    conf = os.path.join(hd, "jupyterhub_config.py")
    lines = [
        "# JupyterHub of pool VM %s (netns %s), written by tests/pool/hub.py"
        % (vm_name(vm), ns_name(vm)),
        "c = get_config()  # noqa",
        "c.JupyterHub.bind_url = %r" % ("%s://%s:%d/" % ("https" if tls else "http",
                                                         vm_addr(vm), port)),
        "c.JupyterHub.hub_ip = '127.0.0.1'",
        "c.JupyterHub.hub_port = 8081",
        "c.JupyterHub.db_url = %r" % ("sqlite:///" + os.path.join(hd, "jupyterhub.sqlite")),
        "c.JupyterHub.cookie_secret_file = %r" % secret,
        "c.JupyterHub.pid_file = %r" % os.path.join(hd, "jupyterhub.pid"),
        "c.JupyterHub.data_files_path = '/usr/share/jupyterhub'",
        "c.JupyterHub.cleanup_servers = True",
        "c.JupyterHub.cleanup_proxy = True",
        "c.JupyterHub.tornado_settings = {'headers': {'X-DSVM': %r}}" % vm_name(vm),
        "c.JupyterHub.admin_users = set()",
        "c.ConfigurableHTTPProxy.command = ['/usr/bin/configurable-http-proxy']",
        "c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:8001'",
        "c.ConfigurableHTTPProxy.pid_file = %r" % os.path.join(hd, "jupyterhub-proxy.pid"),
        "c.JupyterHub.authenticator_class = 'jupyterhub.auth.PAMAuthenticator'",
        "c.PAMAuthenticator.open_sessions = False",
        "c.Authenticator.allowed_users = %r" % set(users),
        "c.JupyterHub.spawner_class = 'jupyterhub.spawner.LocalProcessSpawner'",
        "c.Spawner.cmd = ['/usr/bin/jupyterhub-singleuser']",
        "c.Spawner.args = ['--config=%s']" % su_conf,
        "c.Spawner.ip = '127.0.0.1'",
        "c.Spawner.default_url = '/tree'",
        "c.Spawner.start_timeout = 180",
        "c.Spawner.http_timeout = 180",
        "c.Spawner.environment = %r" % {
            "DSVM_NAME": vm_name(vm),
            MARK: hd,
            "JUPYTERHUB_SINGLEUSER_APP": "notebook.notebookapp.NotebookApp",
            "PATH": CLEAN_PATH,
        },
    ]
    if tls:
        lines += ["c.JupyterHub.ssl_cert = %r" % cert, "c.JupyterHub.ssl_key = %r" % key]
    if agent_token:
        # The VM's poolgate-agent asks this hub who has a server and what
        # their kernels do, with the scopes poolgate-agent(8) names.
        lines += [
            "c.JupyterHub.services = [{'name': 'poolgate-agent', 'api_token': %r}]"
            % agent_token,
            "c.JupyterHub.load_roles = [{'name': 'poolgate-agent', 'services': "
            "['poolgate-agent'], 'scopes': ['list:users', 'read:users:activity', "
            "'read:servers', 'access:servers']}]",
        ]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return conf


# ---------------------------------------------------------------- processes

def _environ_has(pid, needle):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def hub_pids(vm, d=None):
    """Every process started for vm's hub: hub, proxy, user servers, kernels."""
    needle = ("%s=%s" % (MARK, hub_dir(vm, d))).encode()
    me = os.getpid()
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit() and int(e) != me and _environ_has(int(e), needle):
            out.append(int(e))
    return sorted(out)


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid):
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def health(url, timeout=2.0):
    """Status of GET url/hub/health, or None if nothing answers. Never uses a proxy."""
    m = re.fullmatch(r"(https?)://([^/:]+):([0-9]+)/?", url)
    if not m:
        raise HubError("bad hub url %r" % url)
    scheme, host, port = m.group(1), m.group(2), int(m.group(3))
    try:
        if scheme == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            c = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
        else:
            c = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            c.request("GET", "/hub/health")
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()
    except (OSError, http.client.HTTPException):
        return None


class Hub:
    """One VM's JupyterHub. hub = Hub('vm1', tls=True).start(); hub.url; hub.stop()."""

    def __init__(self, vm, tls=False, d=None, users=DEFAULT_USERS, port=PORT,
                 agent_token=None):
        self.vm = vm_name(vm)
        self.agent_token = agent_token
        self.tls = tls
        self.base = base_dir(d)
        self.dir = hub_dir(vm, d)
        self.users = tuple(users)
        self.port = port
        self.url = hub_url(vm, tls, port)
        self.address = vm_addr(vm)
        self.netns = ns_name(vm)
        self.log_path = os.path.join(self.dir, "hub.log")
        self.pid_path = os.path.join(self.dir, "hub.pid")
        self.conf = None
        self.proc = None
        self.started_in = None  # seconds from launch to /hub/health 200

    @property
    def cert(self):
        return os.path.join(self.dir, "cert.pem") if self.tls else None

    @property
    def pid(self):
        if self.proc is not None:
            return self.proc.pid
        return _read_pid(self.pid_path)

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        return _alive(self.pid) and bool(hub_pids(self.vm, self.base))

    def log_tail(self, lines=80):
        try:
            with open(self.log_path, "rb") as f:
                t = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log at %s)" % self.log_path
        return "\n".join(t[-lines:])

    def start(self, timeout=180, fresh=True):
        """Starts the hub in the VM's namespace and waits for /hub/health 200.
        fresh: forget users' servers and cookies of an earlier run (new database)."""
        check_installed()
        if os.geteuid() != 0:
            raise HubError("must run as root (pool exec, PAM, setuid spawner)")
        if not ns_exists(self.vm):
            raise HubError("namespace %s does not exist (run tests/pool/pool up N)"
                           % self.netns)
        self.stop(quiet=True)
        ensure_users(self.users)
        os.makedirs(self.dir, exist_ok=True)
        for name in ("jupyterhub-proxy.pid", "jupyterhub.pid", "hub.pid") + (
                ("jupyterhub.sqlite",) if fresh else ()):
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        self.conf = write_config(self.vm, tls=self.tls, d=self.base, users=self.users,
                                 port=self.port, agent_token=self.agent_token)
        env = {"PATH": CLEAN_PATH, "HOME": "/root", "LANG": "C.UTF-8",
               "NODE_PATH": NODE_PATH, MARK: self.dir, "DSVM_NAME": self.vm}
        logf = open(self.log_path, "ab")
        logf.write(("\n==== hub.py: starting %s hub at %s (%s)\n" % (
            self.vm, self.url, time.strftime("%Y-%m-%d %H:%M:%S"))).encode())
        logf.flush()
        t0 = time.monotonic()
        try:
            # pool exec execs nsenter, which waits for jupyterhub (a child in
            # the VM's PID namespace): the pid is nsenter's, see main_pid().
            self.proc = subprocess.Popen(
                [POOL, "exec", self.vm, "--", "env", "-i"]
                + ["%s=%s" % kv for kv in env.items()]
                + ["/usr/bin/jupyterhub", "-f", self.conf],
                cwd=self.dir, stdin=subprocess.DEVNULL, stdout=logf,
                stderr=subprocess.STDOUT, start_new_session=True, env=env)
        finally:
            logf.close()
        with open(self.pid_path, "w") as f:
            f.write("%d\n" % self.proc.pid)
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                raise HubError("%s: jupyterhub exited with code %s during startup; "
                               "log %s:\n%s" % (self.vm, self.proc.returncode,
                                                self.log_path, self.log_tail()))
            if health(self.url, timeout=2.0) == 200:
                self.started_in = time.monotonic() - t0
                return self
            if time.monotonic() > deadline:
                self.stop(quiet=True)
                raise HubError("%s: %s/hub/health not 200 within %ds; log %s:\n%s" % (
                    self.vm, self.url, timeout, self.log_path, self.log_tail()))
            time.sleep(0.2)

    def main_pid(self):
        """jupyterhub's own pid (in the VM, under the nsenter of pool exec), or None."""
        for pid in hub_pids(self.vm, self.base):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
                with open("/proc/%d/comm" % pid) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm != "nsenter" and b"/usr/bin/jupyterhub" in argv and b"-f" in argv:
                return pid
        return None

    def stop(self, timeout=15, quiet=False):
        """SIGTERM the hub (it stops user servers and the proxy), then SIGKILL
        whatever of this VM's hub is left. Returns the number of processes killed."""
        pid = self.main_pid()
        killed = 0
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _alive(pid):
                if self.proc is not None:
                    self.proc.poll()
                time.sleep(0.1)
        deadline = time.monotonic() + 15
        while True:
            left = [p for p in hub_pids(self.vm, self.base) if _alive(p)]
            if not left:
                break
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise HubError("%s: hub processes survive SIGKILL: %s" % (self.vm, left))
            time.sleep(0.1)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        try:
            os.unlink(self.pid_path)
        except FileNotFoundError:
            pass
        if killed and not quiet:
            log("%s: killed %d leftover process(es)" % (self.vm, killed))
        return killed


def start_hub(vm, tls=False, d=None, timeout=180, fresh=True, users=DEFAULT_USERS):
    return Hub(vm, tls=tls, d=d, users=users).start(timeout=timeout, fresh=fresh)


def stop_hub(vm, d=None):
    return Hub(vm, d=d).stop()


def status(d=None):
    """[{vm, url, pids, health}] for every VM folder under DIR."""
    b = base_dir(d)
    rows = []
    if not os.path.isdir(b):
        return rows
    for e in sorted(os.listdir(b), key=lambda s: (len(s), s)):
        if not re.fullmatch(r"vm[0-9]+", e):
            continue
        tls = os.path.exists(os.path.join(b, e, "cert.pem"))
        conf = os.path.join(b, e, "jupyterhub_config.py")
        try:
            with open(conf) as f:
                tls = "bind_url = 'https://" in f.read()
        except OSError:
            pass
        pids = hub_pids(e, b)
        url = hub_url(e, tls)
        rows.append({"vm": e, "netns": ns_name(e), "url": url, "processes": len(pids),
                     "hub_pid": _read_pid(os.path.join(b, e, "hub.pid")),
                     "health": health(url, timeout=1.0) if pids else None,
                     "log": os.path.join(b, e, "hub.log")})
    return rows


# ---------------------------------------------------------------- CLI

def main(argv):
    args, d, tls, as_json, keep_db = [], None, False, False, False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--dir" and i + 1 < len(argv):
            d = argv[i + 1]
            i += 2
            continue
        if a.startswith("--dir="):
            d = a[6:]
        elif a == "--tls":
            tls = True
        elif a == "--json":
            as_json = True
        elif a == "--keep-db":
            keep_db = True
        elif a in ("-h", "--help"):
            print(__doc__.split("\nFindings")[0])
            return 0
        else:
            args.append(a)
        i += 1
    if not args:
        print(__doc__.split("\nFindings")[0], file=sys.stderr)
        return 2
    cmd, ops = args[0], args[1:]
    try:
        if cmd == "up" and len(ops) == 1:
            h = Hub(ops[0], tls=tls, d=d)
            h.start(fresh=not keep_db)
            print("%s: hub up at %s in %.1fs (netns %s, log %s)" % (
                h.vm, h.url, h.started_in, h.netns, h.log_path))
            print("  users: " + ", ".join("%s/%s" % (u, password(u)) for u in h.users))
        elif cmd == "down" and len(ops) == 1:
            Hub(ops[0], d=d).stop()
            print("%s: hub down" % vm_name(ops[0]))
        elif cmd == "status" and not ops:
            rows = status(d)
            if as_json:
                print(json.dumps(rows, indent=2))
            elif not rows:
                print("no hubs under %s" % base_dir(d))
            for r in ([] if as_json else rows):
                print("  %-5s %-26s processes %-3d health %s" % (
                    r["vm"], r["url"], r["processes"], r["health"] or "-"))
        elif cmd == "users" and not ops:
            for u, p in ensure_users().items():
                print("%s %s" % (u, p))
        elif cmd == "check" and not ops:
            check_installed()
            print("all packages present")
        else:
            print("usage: hub.py up vmK [--tls] | down vmK | status | users | check "
                  "[--dir DIR]", file=sys.stderr)
            return 2
    except HubError as e:
        print("hub: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # Ctrl-C: the caller cleans up (deploy/demo does)
        print("%s: interrupted" % os.path.basename(sys.argv[0]), file=sys.stderr)
        sys.exit(130)

"""The real poolgate-agent run on a pool VM, as on a real VM.

VmAgent writes the agent's configuration into a folder of the test, checks
it with `poolgate-agent -t`, starts the agent inside the VM with
`tests/pool/pool exec vmK -- poolgate-agent -c FILE` (so it sees the VM's own
processes and /run/utmp), waits until GET /v1/report answers 200, and reads
that report from the root namespace over the bridge, as poolgate does.

conftest.py's `vm_agent` fixture makes them and stops them at teardown:

    a = vm_agent("vm1")                       # listen VM:9101, interval 1s, utmp
    a = vm_agent("vm3", extra=['drain_file = "/tmp/x";'])
    rep = a.report()                          # dict: the JSON of GET /v1/report
    rep = a.wait_report(lambda r: r["idle"], "vm1 idle", timeout=10)
    a.user(rep, "pgtest")                     # that user's entry, or None

Environment: POOLGATE_AGENT, the binary (tests/integration/meson.build sets
it; default: agent/poolgate-agent next to POOLGATE's build).
"""

import http.client
import json
import os
import signal
import subprocess
import time
from pathlib import Path

PORT = 9101
INTERVAL_S = 1


def agent_binary(poolgate_binary):
    p = os.environ.get("POOLGATE_AGENT") or str(Path(poolgate_binary).parent /
                                                 "agent" / "poolgate-agent")
    if not os.access(p, os.X_OK):
        raise AssertionError("poolgate-agent not found at %s (meson compile, or set "
                             "POOLGATE_AGENT)" % p)
    return p


def _children(pid):
    """Pids whose parent is pid (the agent under pool exec's nsenter)."""
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open("/proc/%s/status" % e) as f:
                for line in f:
                    if line.startswith("PPid:"):
                        if int(line.split()[1]) == pid:
                            out.append(int(e))
                        break
        except (OSError, ValueError):
            pass
    return out


class VmAgent:
    def __init__(self, binary, pool_cmd, vm, address, workdir, extra=()):
        self.binary = binary
        self.pool_cmd = pool_cmd
        self.vm = vm
        self.address = address
        self.port = PORT
        self.interval_s = INTERVAL_S
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "agent.conf"
        self.log_path = self.dir / "agent.log"
        self.proc = None
        lines = [
            "# written by tests/integration/vm_agent.py",
            'listen = "%s:%d";' % (address, PORT),
            'interval = "%ds";' % INTERVAL_S,
            'sessions = "utmp";',
            'utmp = "/run/utmp";  # the VM\'s own (tests/pool/vm-init)',
        ] + ([] if any(x.lstrip().startswith("azure") for x in extra) else
             ["azure = { enabled = false; };"]) + list(extra)
        self.conf.write_text("\n".join(lines) + "\n")

    def log_tail(self, lines=40):
        try:
            t = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(t[-lines:])

    def start(self, timeout=15):
        t = subprocess.run([self.binary, "-t", "-c", str(self.conf)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if t.returncode != 0:
            raise AssertionError("poolgate-agent -t %s: %s" % (self.conf, t.stdout))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.pool_cmd), "exec", self.vm, "--", self.binary, "-c", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("poolgate-agent on %s exited with %s; log:\n%s" % (
                    self.vm, self.proc.returncode, self.log_tail()))
            try:
                status, body = self.get("/v1/report")
                if status == 200:
                    json.loads(body)
                    return self
                last = "%d %s" % (status, body[:200])
            except OSError as e:
                last = str(e)
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("poolgate-agent on %s: no report within %ds (%s); "
                                     "log:\n%s" % (self.vm, timeout, last, self.log_tail()))
            time.sleep(0.1)

    def get(self, path, timeout=5):
        """(status, body text) of GET path on the agent's port; OSError if silent."""
        c = http.client.HTTPConnection(self.address, self.port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode("utf-8", "replace")
        except http.client.HTTPException as e:
            raise OSError("bad answer from %s:%d: %r" % (self.address, self.port, e))
        finally:
            c.close()

    def report(self):
        """The parsed JSON of GET /v1/report; AssertionError on another status."""
        status, body = self.get("/v1/report")
        if status != 200:
            raise AssertionError("GET /v1/report on %s: %d %s" % (self.vm, status, body[:300]))
        return json.loads(body)

    def wait_report(self, pred, what, timeout=10):
        """The first report for which pred(report) is true, polled every 100 ms."""
        deadline = time.monotonic() + timeout
        while True:
            rep = self.report()
            if pred(rep):
                return rep
            if time.monotonic() > deadline:
                raise AssertionError("%s: timed out after %ss waiting for %s; last report:\n%s"
                                     % (self.vm, timeout, what, json.dumps(rep, indent=1)))
            time.sleep(0.1)

    @staticmethod
    def user(rep, name):
        """The report's entry for user name, or None."""
        for u in rep["users"]:
            if u["name"] == name:
                return u
        return None

    def stop(self, timeout=10):
        """SIGTERM the agent (nsenter of pool exec passes no signal on), wait."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for pid in _children(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for pid in _children(self.proc.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.kill()
                self.proc.wait()
        self.proc = None

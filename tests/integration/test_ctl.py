"""poolgatectl, the admin API's command-line client, against a real poolgate
in front of the namespace pool (tests/pool/pool):

  * `status` prints one aligned row per VM that agrees with /status (state,
    sessions, users, health) and with /api/v1/backends (load);
  * drain, maint, ready change what `status` and /status say; add lists a
    new VM (down, then up once its check passes), add again updates it,
    remove forgets it, or shows it draining while a session is open;
  * `sessions` shows an open SSH session on the VM that holds it;
  * read-only commands need no token (not even a readable token file);
  * a wrong token, an unknown VM, a bad value and a stopped daemon give one
    clear line on stderr; a refusal exits 1, a usage error 2, an unknown VM
    3, a stopped daemon 4; with --json the line is {"error": ..., "exit": N};
  * `drain --wait` returns within a second of the VM's last session ending,
    and `--timeout` gives up with exit 5 while a session is open;
  * --help and --version exit 0, for poolgatectl and for poolgate.

Every poolgatectl run gets its own configuration file through
POOLGATECTL_CONF, so /etc/poolgate/poolgatectl.conf on the test machine never
matters. Jupyter users in `sessions` are covered by the unit test
(tests/unit/test_ctl.c) from /status JSON; here the pool serves SSH only.

Environment: POOLGATECTL, the client (default build/poolgatectl), besides
conftest.py's POOLGATE and the pool's settings.
"""

import json
import os
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, Poolgate, fresh_addr, poolgate_factory


def ctl_binary():
    p = os.path.abspath(os.environ.get("POOLGATECTL") or str(REPO / "build" / "poolgatectl"))
    if not os.access(p, os.X_OK):
        pytest.fail("poolgatectl binary not found or not executable: %s (build it: "
                    "meson compile -C build, or set POOLGATECTL)" % p, pytrace=False)
    return p


HEADER = ["VM", "ADDRESS", "STATE", "SESSIONS", "USERS", "LOAD", "HEALTH"]
SESSIONS_HEADER = ["VM", "SSH", "JUPYTER", "USERS"]


class CtlPoolgate(Poolgate):
    """A poolgate whose admin endpoint has a token file, and the means to run
    poolgatectl against it with a configuration file of the test's making."""

    def __init__(self, binary, workdir, pool, backends=None, **cfg):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_urlsafe(24)
        self.token_file = workdir / "admin.token"
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (self.token + "\n").encode())
        os.close(fd)
        self.wrong_token_file = workdir / "wrong.token"
        self.wrong_token_file.write_text(secrets.token_urlsafe(24) + "\n")
        self.ctl_dir = workdir / "ctl"
        self.ctl_dir.mkdir(exist_ok=True)
        self._nconf = 0
        super().__init__(binary, workdir, pool, backends, **cfg)

    def config_lines(self, backends=None):
        lines = super().config_lines(backends)
        i = next(k for k, l in enumerate(lines) if l.startswith("admin = {"))
        lines[i] = 'admin = { listen = "127.0.0.1:%d"; token_file = "%s"; };' % (
            self.admin_port, self.token_file)
        return lines

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.admin_port

    def ctl_conf(self, endpoint=True, token_file=None, extra=""):
        """A poolgatectl configuration file; its path."""
        self._nconf += 1
        p = self.ctl_dir / ("poolgatectl%d.conf" % self._nconf)
        text = "# written by test_ctl.py\n"
        if endpoint:
            text += 'endpoint = "%s";\n' % (self.endpoint if endpoint is True else endpoint)
        if token_file is not None:
            text += 'token_file = "%s";\n' % token_file
        p.write_text(text + extra)
        return p

    def ctl(self, *args, conf=None, timeout=30):
        """Runs poolgatectl; returns the CompletedProcess (text). Without
        conf, a configuration file naming this endpoint and the token."""
        if conf is None:
            conf = self.ctl_conf(token_file=self.token_file)
        env = dict(os.environ, POOLGATECTL_CONF=str(conf))
        return subprocess.run([ctl_binary()] + [str(a) for a in args], env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)

    def ctl_ok(self, *args, **kw):
        p = self.ctl(*args, **kw)
        assert p.returncode == 0 and p.stderr == "", (
            "poolgatectl %s: exit %d\nstdout:\n%s\nstderr:\n%s"
            % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr))
        return p.stdout

    def api_backends(self):
        code, body = self.get("/api/v1/backends")
        assert code == 200, "GET /api/v1/backends: %d %s" % (code, body)
        return {b["name"]: b for b in json.loads(body)["backends"]}


@pytest.fixture
def ctl_poolgate(pool, tmp_path):
    """Factory like new_poolgate, for CtlPoolgate."""
    ctl_binary()
    yield from poolgate_factory(CtlPoolgate, pool, tmp_path, "cpg")


def parse_table(text, header):
    """Rows of an aligned table as dicts, after checking the header, that
    every cell starts where its column's title does, and no trailing blanks.
    The last column may hold spaces (HEALTH)."""
    lines = text.split("\n")
    assert lines[-1] == "", "output does not end with a newline: %r" % text
    lines = lines[:-1]
    assert lines and lines[0].split() == header, "header %r, want %r" % (
        lines[0] if lines else None, header)
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    rows = []
    for line in lines:
        assert line == line.rstrip(), "trailing blanks in %r" % line
        cells = line.split(None, len(header) - 1)
        assert len(cells) == len(header), "row %r has %d cells, want %d" % (
            line, len(cells), len(header))
        at = [m.start() for m in re.finditer(r"\S+", line)][:len(header)]
        assert at == starts, "row %r is not aligned with the header %r" % (line, lines[0])
        rows.append(dict(zip(header, cells)))
    return rows[1:]


def status_rows(pg, **kw):
    return {r["VM"]: r for r in parse_table(pg.ctl_ok("status", **kw), HEADER)}


def sessions_rows(pg, *args, **kw):
    return {r["VM"]: r for r in parse_table(pg.ctl_ok("sessions", *args, **kw),
                                            SESSIONS_HEADER)}


def wait_ctl_state(pg, vm, state, timeout=15.0):
    """Polls `poolgatectl status` until vm shows state; returns the rows."""
    deadline = time.monotonic() + timeout
    while True:
        rows = status_rows(pg)
        if vm in rows and rows[vm]["STATE"] == state:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError("poolgatectl status never showed %s %s; last:\n%s" % (
                vm, state, json.dumps(rows, indent=1)))
        time.sleep(0.2)


def assert_matches_status(rows, st, api):
    """The table says what /status (and the API, for load) says."""
    want = {b["name"]: b for b in st["backends"]}
    assert sorted(rows) == sorted(want), "status lists %s, /status %s" % (
        sorted(rows), sorted(want))
    for name, b in want.items():
        r = rows[name]
        state = b["state"] + ("(removed)" if b["removed"] else "")
        health = " ".join(
            "%s:%s" % (svc, "up" if h["up"] else "down")
            + ("(%s)" % h["last_error"] if not h["up"] and h["last_error"] else "")
            for svc, h in b["health"].items())
        got = (r["ADDRESS"], r["STATE"], int(r["SESSIONS"]), int(r["USERS"]), r["HEALTH"])
        exp = (b["address"], state, b["sessions"], len(b["users"]), health)
        assert got == exp, "%s: poolgatectl says %s, /status %s" % (name, got, exp)
        load = api[name]["load"]
        assert r["LOAD"] == ("-" if load is None else "%.3f" % load), (
            "%s: LOAD %s, /api/v1/backends %s" % (name, r["LOAD"], load))


def stable_snapshot(pg, tries=20):
    """`poolgatectl status` between two equal /status reads (sessions and
    states of a busy pool may move between the client's reads and ours)."""
    keys = ("state", "sessions", "users", "removed")
    for _ in range(tries):
        before = pg.status()
        rows = status_rows(pg)
        after = pg.status()
        api = pg.api_backends()

        def view(st):
            return [(b["name"], [b[k] for k in keys],
                     [(s, h["up"]) for s, h in b["health"].items()])
                    for b in st["backends"]]
        if view(before) == view(after):
            return rows, after, api
        time.sleep(0.2)
    raise AssertionError("/status kept changing")


# ------------------------------------------------------------------ status

def test_status_table_matches_status_json(ctl_poolgate, pool):
    pg = ctl_poolgate()
    pg.wait_all_up()
    sessions = []
    try:
        for _ in range(3):
            sessions.append(pg.session(fresh_addr()))
        pg.wait_status(lambda st: sum(b["sessions"] for b in st["backends"]) == 3,
                       "3 sessions counted")
        rows, st, api = stable_snapshot(pg)
        assert_matches_status(rows, st, api)
        # every VM of the pool, each with its own address, all up
        assert sorted(rows) == sorted(n for n, _ in pool.backends())
        for name, addr in pool.backends():
            assert rows[name]["ADDRESS"] == addr
            assert rows[name]["STATE"] == "up"
            assert rows[name]["HEALTH"] == "ssh:up"
        # the VMs that hold the sessions show them
        held = {}
        for s in sessions:
            held[s.vm] = held.get(s.vm, 0) + 1
        for name in rows:
            assert int(rows[name]["SESSIONS"]) == held.get(name, 0), (name, rows, held)

        # --json: the /status document itself
        out = pg.ctl_ok("status", "--json")
        js = json.loads(out)
        assert [b["name"] for b in js["backends"]] == [b["name"] for b in st["backends"]]
        assert set(js) == set(st)

        # a VM whose check fails shows down with the reason
        pool.run("stop-sshd", "vm3")
        try:
            pg.wait_states({"vm3": "down"})
            rows, st, api = stable_snapshot(pg)
            assert_matches_status(rows, st, api)
            assert rows["vm3"]["STATE"] == "down"
            assert re.fullmatch(r"ssh:down\(.+\)", rows["vm3"]["HEALTH"]), rows["vm3"]
        finally:
            pool.run("start-sshd", "vm3")
        pg.wait_all_up(timeout=30)
    finally:
        for s in sessions:
            s.close()


def test_read_only_commands_need_no_token(ctl_poolgate):
    pg = ctl_poolgate()
    pg.wait_all_up()
    # no token_file at all; then one that cannot be read: never opened
    for conf in (pg.ctl_conf(), pg.ctl_conf(token_file=pg.workdir / "no-such.token")):
        rows = status_rows(pg, conf=conf)
        assert sorted(rows) == sorted(b[0] for b in pg.backends)
        rows = sessions_rows(pg, conf=conf)
        assert sorted(rows) == sorted(b[0] for b in pg.backends)
        json.loads(pg.ctl_ok("sessions", "--json", conf=conf))
    # --endpoint alone, with an empty configuration file
    empty = pg.ctl_conf(endpoint=False)
    out = pg.ctl_ok("--endpoint", pg.endpoint, "status", conf=empty)
    assert sorted(r["VM"] for r in parse_table(out, HEADER)) == sorted(
        b[0] for b in pg.backends)
    # a changing command without a token says how to give one, and sends nothing
    p = pg.ctl("drain", "vm1", conf=pg.ctl_conf())
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    assert p.stderr.startswith("poolgatectl: drain needs the admin token: give "
                               "--token-file FILE, or set token_file in "), p.stderr
    assert pg.backend(pg.status(), "vm1")["state"] == "up"


# ------------------------------------------------------------------ drain ready maint

def test_drain_maint_ready_change_what_status_says(ctl_poolgate):
    pg = ctl_poolgate()
    pg.wait_all_up()
    out = pg.ctl_ok("drain", "vm1")
    assert out == "vm1: drain (state drain, 0 sessions)\n", out
    assert pg.backend(pg.status(), "vm1")["state"] == "drain"
    rows = wait_ctl_state(pg, "vm1", "drain")
    assert rows["vm2"]["STATE"] == "up" and rows["vm3"]["STATE"] == "up", rows

    # new sessions avoid the draining VM; `sessions` shows where they are
    s = pg.session(fresh_addr())
    try:
        assert s.vm != "vm1", "a new session went to draining vm1"
        pg.wait_status(lambda st: pg.backend(st, s.vm)["sessions"] == 1,
                       "the session counted on %s" % s.vm)
        rows = sessions_rows(pg)
        assert rows[s.vm]["SSH"] == "1" and rows[s.vm]["JUPYTER"] == "0", rows
        assert rows[s.vm]["USERS"] == "-"
        for other in set(rows) - {s.vm}:
            assert rows[other]["SSH"] == "0", rows
        one = sessions_rows(pg, s.vm)
        assert list(one) == [s.vm] and one[s.vm]["SSH"] == "1", one
        js = json.loads(pg.ctl_ok("sessions", s.vm, "--json"))
        assert js["name"] == s.vm and js["sessions"] == 1, js

        # maint on the VM with the session: it runs on, the state says maint
        out = pg.ctl_ok("maint", s.vm)
        assert out == "%s: maint (state maint, 1 session)\n" % s.vm, out
        wait_ctl_state(pg, s.vm, "maint")
        assert pg.backend(pg.status(), s.vm)["state"] == "maint"
        s.echo("still here in maint")
        out = pg.ctl_ok("ready", s.vm)
        assert out == "%s: ready (state up, 1 session)\n" % s.vm, out
    finally:
        s.close()
    out = pg.ctl_ok("ready", "vm1")
    assert out == "vm1: ready (state up, 0 sessions)\n", out
    rows = wait_ctl_state(pg, "vm1", "up")
    assert all(r["STATE"] == "up" for r in rows.values()), rows
    assert all(b["state"] == "up" for b in pg.status()["backends"])


# ------------------------------------------------------------------ add remove

def test_add_update_remove(ctl_poolgate, pool):
    addr = dict(pool.backends())
    pg = ctl_poolgate(backends=pool.backends(["vm1"]))
    pg.wait_all_up()
    assert sorted(status_rows(pg)) == ["vm1"]

    # add: listed at once, down until its first check passes, then up
    out = pg.ctl_ok("add", "vm2", addr["vm2"])
    assert out == "vm2: added %s (state down, 0 sessions)\n" % addr["vm2"], out
    rows = status_rows(pg)
    assert sorted(rows) == ["vm1", "vm2"], rows
    assert rows["vm2"]["ADDRESS"] == addr["vm2"]
    wait_ctl_state(pg, "vm2", "up")
    rows, st, api = stable_snapshot(pg)
    assert_matches_status(rows, st, api)

    # add again: an update, with the options
    out = pg.ctl_ok("add", "vm2", addr["vm2"], "--weight", "2", "--max-sessions", "5")
    assert out == "vm2: updated %s (state up, 0 sessions)\n" % addr["vm2"], out
    b = pg.api_backends()["vm2"]
    assert (b["weight"], b["max_sessions"]) == (2, 5), b
    # --json: the API's reply as it came
    js = json.loads(pg.ctl_ok("add", "vm2", addr["vm2"], "--weight", "3", "--json"))
    assert js["name"] == "vm2" and js["weight"] == 3 and js["max_sessions"] == 5, js

    # remove with a session open: it drains, listed as such, then is gone
    pg.ctl_ok("drain", "vm1")
    s = pg.session(fresh_addr())
    try:
        assert s.vm == "vm2", "vm1 drains: the session should be on vm2, is on %s" % s.vm
        pg.wait_status(lambda st: pg.backend(st, "vm2")["sessions"] == 1,
                       "the session counted on vm2")
        assert sessions_rows(pg, "vm2")["vm2"]["SSH"] == "1"
        out = pg.ctl_ok("remove", "vm2")
        assert out == "vm2: removed; drains its 1 session, then is forgotten\n", out
        rows = wait_ctl_state(pg, "vm2", "drain(removed)")
        assert rows["vm2"]["SESSIONS"] == "1", rows
        s.echo("still here while removed")
    finally:
        s.close()
    deadline = time.monotonic() + 15
    while "vm2" in status_rows(pg):
        assert time.monotonic() < deadline, "vm2 still listed after its last session"
        time.sleep(0.2)
    assert [b["name"] for b in pg.status()["backends"]] == ["vm1"]

    # remove without sessions: gone at once
    pg.ctl_ok("add", "vm3", addr["vm3"])
    assert "vm3" in status_rows(pg)
    out = pg.ctl_ok("remove", "vm3")
    assert out == "vm3: removed\n", out
    assert sorted(status_rows(pg)) == ["vm1"]
    pg.ctl_ok("ready", "vm1")


# ------------------------------------------------------------------ errors

def test_refusals_and_a_stopped_daemon_are_clear(ctl_poolgate, pool):
    addr = dict(pool.backends())
    pg = ctl_poolgate()
    pg.wait_all_up()
    before = pg.status()

    def fails(args, stderr, code=1, **kw):
        p = pg.ctl(*args, **kw)
        assert (p.returncode, p.stdout, p.stderr) == (code, "", stderr), (
            "poolgatectl %s: exit %d\nstdout: %r\nstderr: %r\nwanted stderr: %r"
            % (" ".join(args), p.returncode, p.stdout, p.stderr, stderr))

    # the wrong token: the daemon's own words, and nothing changes
    wrong = pg.ctl_conf(token_file=pg.wrong_token_file)
    for args in (["drain", "vm1"], ["maint", "vm2"], ["ready", "vm1"],
                 ["remove", "vm3"], ["add", "vm9", "10.231.0.99"]):
        fails(args, "poolgatectl: poolgate refused: 403 invalid token\n", conf=wrong)
    # --token-file overrides the file's token_file
    fails(["drain", "vm1", "--token-file", str(pg.wrong_token_file)],
          "poolgatectl: poolgate refused: 403 invalid token\n")
    after = pg.status()
    assert [(b["name"], b["state"]) for b in after["backends"]] == [
        (b["name"], b["state"]) for b in before["backends"]]
    assert pg.ctl_ok("drain", "vm1", "--token-file", str(pg.token_file),
                     conf=wrong) == "vm1: drain (state drain, 0 sessions)\n"
    pg.ctl_ok("ready", "vm1")

    # what the daemon refuses for other reasons
    fails(["drain", "vm9"], "poolgatectl: poolgate refused: 404 no VM named vm9\n", 3)
    fails(["remove", "vm9"], "poolgatectl: poolgate refused: 404 no VM named vm9\n", 3)
    fails(["add", "vm9", "not-an-address"], 'poolgatectl: poolgate refused: 400 address: '
          '"not-an-address" is not a numeric IPv4 or IPv6 address\n')
    fails(["add", "vm9", addr["vm1"], "--weight", "5000"], "poolgatectl: poolgate "
          "refused: 400 weight: expected an integer from 1 to 1000, got 5000\n")
    fails(["sessions", "vm9"], "poolgatectl: no VM named vm9 in the pool at %s\n"
          % pg.endpoint, 3)
    # --json: the same errors as one JSON object, with the exit status
    fails(["drain", "vm9", "--json"], '{"error":"poolgate refused: 404 no VM named '
          'vm9","exit":3}\n', 3)
    fails(["sessions", "--json", "vm9"], '{"error":"no VM named vm9 in the pool at '
          '%s","exit":3}\n' % pg.endpoint, 3)
    fails(["drain", "vm1", "--json"], '{"error":"poolgate refused: 403 invalid '
          'token","exit":1}\n', conf=wrong)
    fails(["--json", "frobnicate"], '{"error":"unknown command \\"frobnicate\\" '
          '(expected status, sessions, drain, ready, maint, add, remove, node or upgrade)",'
          '"exit":2}\n', 2)
    assert "vm9" not in [b["name"] for b in pg.status()["backends"]]

    # usage errors: exit 2, before anything is sent
    for args in (["frobnicate"], ["drain"], ["drain", "vm/1"], ["status", "--bogus"],
                 ["drain", "vm1", "--weight", "2"]):
        p = pg.ctl(*args)
        assert p.returncode == 2 and p.stdout == "", (args, p.returncode, p.stdout)
        assert p.stderr.startswith("poolgatectl: ") and "usage: poolgatectl" in p.stderr, (
            args, p.stderr)
    p = pg.ctl("--endpoint", "https://127.0.0.1:%d" % pg.admin_port, "status")
    assert p.returncode == 2 and "https is not supported" in p.stderr, p.stderr
    # a broken configuration file: its name and line
    bad = pg.ctl_conf(extra="timeout = 5;\n")
    p = pg.ctl("status", conf=bad)
    assert (p.returncode, p.stderr) == (1, 'poolgatectl: %s:3: unknown setting "timeout" '
                                            '(expected endpoint, token_file)\n' % bad), p.stderr

    # the daemon stopped: every command says it cannot reach it
    url = pg.endpoint
    pg.stop()
    why = "cannot reach poolgate at %s: connection refused" % url
    for args in (["status"], ["status", "--json"], ["sessions"], ["drain", "vm1"],
                 ["add", "vm4", "10.231.0.14"], ["drain", "--wait", "vm1"]):
        t0 = time.monotonic()
        if "--json" in args:
            fails(args, json.dumps({"error": why, "exit": 4},
                                   separators=(",", ":")) + "\n", 4)
        else:
            fails(args, "poolgatectl: %s\n" % why, 4)
        assert time.monotonic() - t0 < 5, "poolgatectl %s took %.1fs to fail" % (
            " ".join(args), time.monotonic() - t0)


# ------------------------------------------------------------------ drain --wait

def test_drain_wait_returns_when_the_last_session_ends(ctl_poolgate):
    pg = ctl_poolgate()
    pg.wait_all_up()
    s = pg.session(fresh_addr())
    try:
        vm = s.vm
        pg.wait_status(lambda st: pg.backend(st, vm)["sessions"] == 1,
                       "the session counted on %s" % vm)
        # a timeout while the session is open: its own exit status
        t0 = time.monotonic()
        p = pg.ctl("drain", "--wait", "--timeout", "1s", vm)
        took = time.monotonic() - t0
        assert p.returncode == 5, (p.returncode, p.stdout, p.stderr)
        assert p.stdout == "%s: drain (state drain, 1 session)\n" % vm, p.stdout
        assert re.fullmatch(r"poolgatectl: %s: 1 session left after 1\.[0-9] s "
                            r"\(--timeout\)\n" % vm, p.stderr), p.stderr
        assert 1.0 <= took < 3.0, "drain --wait --timeout 1s took %.1fs" % took
        s.echo("still here after the timeout")

        # the same wait without a limit: still waiting while the session runs
        env = dict(os.environ, POOLGATECTL_CONF=str(pg.ctl_conf(token_file=pg.token_file)))
        w = subprocess.Popen([ctl_binary(), "drain", "--wait", vm], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert w.poll() is None, "drain --wait returned with a session open: %s %s" % (
            w.returncode, w.communicate())
        s.echo("still here while drain waits")
    finally:
        s.close()
    ended = time.monotonic()
    out, err = w.communicate(timeout=10)
    took = time.monotonic() - ended
    assert w.returncode == 0 and err == "", (w.returncode, out, err)
    assert out == "%s: drain (state drain, 1 session)\n%s: no session left\n" % (vm, vm), out
    assert took < 1.0, "drain --wait returned %.2fs after the last session ended" % took

    # --json: the VM's /status object once it has no session
    js = json.loads(pg.ctl_ok("drain", "--wait", "--json", vm))
    assert js["name"] == vm and js["sessions"] == 0 and js["state"] == "drain", js
    pg.ctl_ok("ready", vm)


def test_help_and_version_exit_0(ctl_poolgate):
    pg = ctl_poolgate(start=False)
    for prog, name in ((ctl_binary(), "poolgatectl"), (pg.binary, "poolgate")):
        for arg in ("--help", "-h"):
            p = subprocess.run([prog, arg], capture_output=True, text=True, timeout=10)
            assert p.returncode == 0 and p.stderr == "", (prog, arg, p)
            assert p.stdout.startswith("usage: %s " % name), p.stdout
        p = subprocess.run([prog, "--version"], capture_output=True, text=True, timeout=10)
        assert (p.returncode, p.stderr) == (0, ""), (prog, p)
        assert re.fullmatch(r"%s [0-9]+\.[0-9]+\.[0-9]+\S*\n" % name, p.stdout), p.stdout
    p = subprocess.run([ctl_binary(), "--help"], capture_output=True, text=True, timeout=10)
    assert "drain --wait [--timeout T] VM" in p.stdout, p.stdout
    assert "3 no such VM; 4 cannot reach\npoolgate; 5 drain --wait timed out" in p.stdout, p.stdout

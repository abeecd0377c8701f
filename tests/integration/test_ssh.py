"""poolgate in front of a pool of sshd VMs, driven by real OpenSSH clients.

Each test states the behaviour a user would notice and fails when poolgate
does not show it. Health checks run every 500 ms (timeout 400 ms, fall 2), so
state changes take about a second; deadlines are generous on purpose.
"""

import os
import re
import secrets
import subprocess
import time

import pytest

from conftest import (FALL, INTERVAL_MS, TIMEOUT_MS, fresh_addr, make_config,
                      poolgate_binary, sha256_file)


def vm_names(pool):
    return [n for n, _ in pool.backends()]


# ------------------------------------------------------------------ -t

def _check_config(tmp_path, lines):
    conf = tmp_path / "check.conf"
    conf.write_text("\n".join(lines) + "\n")
    p = subprocess.run([poolgate_binary(), "-t", "-c", str(conf)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=30)
    return conf, p


def _base_lines(tmp_path):
    return make_config(listen_port=2222, admin_port=9100, state_dir=str(tmp_path / "state"),
                       backends=[("vm1", "10.231.0.11"), ("vm2", "10.231.0.12")])


def _line_of(lines, needle):
    for i, l in enumerate(lines):
        if needle in l:
            return i
    raise AssertionError("%r not in config" % needle)


def test_check_mode_accepts_good_file(tmp_path):
    conf, p = _check_config(tmp_path, _base_lines(tmp_path))
    assert p.returncode == 0, "poolgate -t -c %s on a valid file: exit %d, output:\n%s" % (
        conf, p.returncode, p.stdout)


@pytest.mark.parametrize("case", ["top-level", "in-check", "in-backend", "bad-duration",
                                  "syntax-error"])
def test_check_mode_rejects_bad_file_naming_line(tmp_path, case):
    lines = _base_lines(tmp_path)
    if case == "top-level":
        i = _line_of(lines, "shutdown_grace") + 1
        lines.insert(i, 'colour_scheme = "blue";')
        word = "colour_scheme"
    elif case == "in-check":
        i = _line_of(lines, "check = {") + 1
        lines.insert(i, "      bogus_knob = 3;")
        word = "bogus_knob"
    elif case == "in-backend":
        i = _line_of(lines, '"vm2"')
        lines[i:i + 1] = ['  { name = "vm2"; address = "10.231.0.12";', '    flavour = "x"; }']
        i += 1
        word = "flavour"
    elif case == "bad-duration":
        i = _line_of(lines, "check = {")
        lines[i] = lines[i].replace('interval = "500ms"', 'interval = "2x"')
        assert '"2x"' in lines[i]
        word = "interval"
    else:
        i = _line_of(lines, "limits = {")
        lines[i] = "limits = { max_connections = ; per_ip_connections = 0; };"
        word = "syntax"
    lineno = i + 1
    conf, p = _check_config(tmp_path, lines)
    assert p.returncode == 1, "poolgate -t on a file with %s (line %d): exit %d, output:\n%s" % (
        case, lineno, p.returncode, p.stdout)
    where = r"(?:%s|%s):%d\b" % (re.escape(str(conf)), re.escape(conf.name), lineno)
    assert re.search(where, p.stdout), (
        "poolgate -t output does not name %s:%d (FILE:LINE); output:\n%s" % (
            conf, lineno, p.stdout))
    assert word in p.stdout, "output does not name the key %r:\n%s" % (word, p.stdout)


# ------------------------------------------------------------------ admin

def test_healthz_ok_when_up(shared_poolgate):
    code, body = shared_poolgate.get("/healthz")
    assert code == 200, "GET /healthz with all VMs up: %d %r" % (code, body)
    assert "ok" in body.lower(), "GET /healthz body: %r" % body


def test_status_json_has_contract_fields(shared_poolgate, pool):
    pg = shared_poolgate
    st = pg.status()
    for key in ("version", "uptime_s", "affinity_entries", "services", "backends"):
        assert key in st, "/status lacks %r: %s" % (key, st)
    [svc] = st["services"]
    assert svc["name"] == "ssh" and svc["mode"] == "tcp" and svc["port"] == 22
    assert svc["listen"] == ["127.0.0.1:%d" % pg.port]
    assert svc["backends_up"] == len(pool.backends())
    for key in ("connections_total", "active"):
        assert isinstance(svc.get(key), int), "service lacks %r: %s" % (key, svc)
    names = sorted(b["name"] for b in st["backends"])
    assert names == sorted(vm_names(pool))
    for b in st["backends"]:
        assert b["address"] == pool.address(b["name"]), b
        assert b["state"] == "up" and b["removed"] is False, b
        for key in ("weight", "max_sessions", "sessions", "connections_total", "affinity"):
            assert isinstance(b.get(key), int), "backend lacks %r: %s" % (key, b)
        h = b["health"]["ssh"]
        assert h["up"] is True, b
        for key in ("last_error", "last_check_ms_ago", "latency_ms", "checks", "failures"):
            assert key in h, "backend health lacks %r: %s" % (key, b)
        assert h["checks"] >= 1


def _samples(text, name):
    """[(labels dict, value)] of a metric's sample lines."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^%s(?:\{([^}]*)\})?\s+(\S+)" % re.escape(name), line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
            out.append((labels, float(m.group(2))))
    return out


def test_metrics_has_required_names(shared_poolgate, pool):
    pg = shared_poolgate
    pg.login(fresh_addr())  # so connection counters have something
    code, text = pg.get("/metrics")
    assert code == 200, "GET /metrics: %d" % code
    missing = [n for n in ("poolgate_backend_up", "poolgate_backend_sessions",
                           "poolgate_backend_state", "poolgate_connections_total",
                           "poolgate_connection_errors_total", "poolgate_affinity_entries")
               if n not in text]
    assert not missing, "/metrics lacks %s:\n%s" % (missing, text[:3000])
    for vm in vm_names(pool):
        up = [v for l, v in _samples(text, "poolgate_backend_up")
              if l.get("backend") == vm and l.get("service") == "ssh"]
        assert up == [1.0], 'poolgate_backend_up{backend="%s",service="ssh"}: %s' % (vm, up)
        st = [v for l, v in _samples(text, "poolgate_backend_state")
              if l.get("backend") == vm and l.get("state") == "up"]
        assert st == [1.0], 'poolgate_backend_state{backend="%s",state="up"}: %s' % (vm, st)
        assert any(l.get("backend") == vm for l, _ in
                   _samples(text, "poolgate_backend_sessions")), vm
    conns = [v for l, v in _samples(text, "poolgate_connections_total")
             if l.get("service") == "ssh"]
    assert conns and conns[0] >= 1, 'poolgate_connections_total{service="ssh"}: %s' % conns
    assert _samples(text, "poolgate_affinity_entries"), "no poolgate_affinity_entries sample"


# ------------------------------------------------------------------ selection

def test_three_clients_spread_and_return_by_affinity(new_poolgate, pool):
    pg = new_poolgate()
    pg.wait_all_up()
    sessions = []
    try:
        a = pg.session("127.0.0.21")
        sessions.append(a)
        b = pg.session("127.0.0.22")
        sessions.append(b)
        c = pg.session("127.0.0.23")
        sessions.append(c)
        got = {"127.0.0.21": a.vm, "127.0.0.22": b.vm, "127.0.0.23": c.vm}
        assert sorted(got.values()) == sorted(vm_names(pool)), (
            "three sessions from three addresses did not land on three VMs: %s" % got)
        st = pg.wait_status(lambda s: all(x["sessions"] == 1 for x in s["backends"]),
                            "one session per VM")
        # A second session from 127.0.0.21 while its first is open: same VM.
        d = pg.session("127.0.0.21")
        sessions.append(d)
        assert d.vm == a.vm, "second session from 127.0.0.21 went to %s, first is on %s" % (
            d.vm, a.vm)
        # And a third one, now that a.vm is the most loaded VM (2 vs 1 vs 1):
        # only affinity sends it there, least-load would not.
        e = pg.session("127.0.0.21")
        sessions.append(e)
        assert e.vm == a.vm, ("third session from 127.0.0.21 went to %s although its "
                              "sessions are on %s" % (e.vm, a.vm))
        st = pg.wait_status(lambda s: pg.backend(s, a.vm)["sessions"] == 3,
                            "3 sessions on %s" % a.vm)
        assert st["affinity_entries"] >= 3, st
        for s in sessions:
            s.echo("still here")
    finally:
        for s in sessions:
            s.close()
    pg.wait_status(lambda s: all(x["sessions"] == 0 for x in s["backends"]),
                   "sessions back to 0 after every client left")


# ------------------------------------------------------------------ transfers

@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "random64.bin"
    with open(path, "wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
    return path


def _remote_home():
    import pwd
    return pwd.getpwnam("pgtest").pw_dir


@pytest.mark.parametrize("tool", ["scp", "scp-legacy", "sftp"])
def test_64mib_roundtrip(shared_poolgate, big_file, tmp_path, tool):
    pg = shared_poolgate
    src = fresh_addr()
    want = sha256_file(big_file)
    moves0 = _metric_sum(pg, "poolgate_relay_moves_total")
    name = "pg-itest-%s.bin" % secrets.token_hex(6)
    back = tmp_path / "back.bin"
    base = ["-F", pg.pool.ssh_config, "-o", "BindAddress=" + src]
    try:
        if tool.startswith("scp"):
            scp = ["scp", "-q"] + (["-O"] if tool == "scp-legacy" else []) + base + [
                "-P", str(pg.port)]
            up = subprocess.run(scp + [str(big_file), "pgtest@127.0.0.1:" + name],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=600)
            assert up.returncode == 0, "scp up failed: %s" % up.stderr
            down = subprocess.run(scp + ["pgtest@127.0.0.1:" + name, str(back)],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=600)
            assert down.returncode == 0, "scp back failed: %s" % down.stderr
        else:
            batch = tmp_path / "batch"
            batch.write_text("put %s %s\nget %s %s\n" % (big_file, name, name, back))
            p = subprocess.run(["sftp", "-b", str(batch), "-P", str(pg.port)] + base +
                               ["pgtest@127.0.0.1"], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=1200)
            assert p.returncode == 0, "sftp batch failed: %s%s" % (p.stdout, p.stderr)
        # The VMs share the host's /home: check what arrived, then what came back.
        remote = os.path.join(_remote_home(), name)
        assert sha256_file(remote) == want, "uploaded copy differs (%s)" % tool
        assert sha256_file(back) == want, "copy brought back differs (%s)" % tool
        # With relay threads, a bulk transfer moves off the main thread.
        moved = _metric_sum(pg, "poolgate_relay_moves_total") - moves0
        if int(os.environ.get("POOLGATE_TEST_WORKERS", "0")) > 0:
            assert moved >= 1, "the transfer never moved to a relay thread"
        else:
            assert moved == 0, "moved with no relay thread"
    finally:
        try:
            os.unlink(os.path.join(_remote_home(), name))
        except FileNotFoundError:
            pass


# ------------------------------------------------------------------ health

def _metric_sum(pg, name, **labels):
    code, text = pg.get("/metrics")
    assert code == 200
    return sum(v for l, v in _samples(text, name)
               if all(l.get(k) == w for k, w in labels.items()))


def test_stopped_sshd_goes_down_and_gets_no_logins(new_poolgate, pool):
    pg = new_poolgate()
    pg.wait_all_up()
    held = pg.session(fresh_addr())
    victim = sorted(n for n in vm_names(pool) if n != held.vm)[0]
    others = [n for n in vm_names(pool) if n != victim]
    try:
        t0 = time.monotonic()
        pool.run("stop-sshd", victim)
        # fall checks must fail: fall x interval, plus one interval because
        # the first failing check may come up to one interval late, plus the
        # check timeout; 1 s more for a busy machine.
        limit = (FALL * INTERVAL_MS + INTERVAL_MS + TIMEOUT_MS) / 1000.0 + 1.0
        st = pg.wait_status(lambda s: pg.backend(s, victim)["state"] == "down",
                            "%s down after its sshd stopped" % victim, timeout=limit + 10)
        took = time.monotonic() - t0
        assert took <= limit, "%s marked down after %.2fs, allowed %.2fs" % (
            victim, took, limit)
        b = pg.backend(st, victim)
        assert b["health"]["ssh"]["up"] is False, b
        assert st["services"][0]["backends_up"] == len(others), st["services"]
        for n in others:
            assert pg.backend(st, n)["state"] == "up", st

        tried_before = pg.backend(st, victim)["connections_total"]
        errors_before = _metric_sum(pg, "poolgate_connection_errors_total", service="ssh")
        landed = [pg.login(fresh_addr()) for _ in range(6)]
        assert victim not in landed, "logins went to %s after it was down: %s" % (
            victim, landed)
        st = pg.status()
        assert pg.backend(st, victim)["connections_total"] == tried_before, (
            "poolgate still sent connections to down %s: %s" % (victim, pg.backend(st, victim)))
        errors_after = _metric_sum(pg, "poolgate_connection_errors_total", service="ssh")
        assert errors_after == errors_before, (
            "connection errors rose from %s to %s: poolgate tried the down VM" % (
                errors_before, errors_after))

        # The session on another VM never noticed.
        held.echo("after %s went down" % victim)
        rc, lines = held.finish()
        assert rc == 0, "held session on %s ended with %s: %s" % (held.vm, rc, lines)
        assert lines == [held.vm, "after %s went down" % victim], lines
    finally:
        held.close()
        pool.run("start-sshd", victim)
    pg.wait_states({victim: "up"}, timeout=15)
    assert pg.login(fresh_addr()) in vm_names(pool)


def test_connect_failure_tries_next_vm(new_poolgate, pool):
    # Checks every 5 s with fall 3: after two sshds stop, poolgate keeps
    # believing they are up for 10 s or more. Each login must still reach
    # the one live VM, by trying the next VM when a connect is refused.
    pg = new_poolgate(interval_ms=5000, timeout_ms=1000, rise=1, fall=3)
    pg.wait_all_up(timeout=30)
    names = vm_names(pool)
    live, dead = names[0], names[1:]
    try:
        for n in dead:
            pool.run("stop-sshd", n)
        t0 = time.monotonic()
        landed = [pg.login(fresh_addr()) for _ in range(3)]
        assert landed == [live] * 3, "logins with %s dead landed on %s" % (dead, landed)
        # Only meaningful while poolgate has not seen the VMs go down yet.
        assert time.monotonic() - t0 < 10, "logins too slow to test the retry"
    finally:
        for n in dead:
            pool.run("start-sshd", n)
    pg.wait_all_up(timeout=30)


# ------------------------------------------------------------------ reload

def test_sighup_adds_vm_and_keeps_open_session(new_poolgate, pool):
    pg = new_poolgate(rise=2)
    pg.wait_all_up()
    old = vm_names(pool)
    held = pg.session(fresh_addr())
    opened = []
    try:
        held.echo("before reload")
        pool.run("add", 4)
        pg.backends = pool.backends()
        assert [n for n, _ in pg.backends] == old + ["vm4"]
        pg.write_config()
        pg.reload()
        first_seen = []

        def has_vm4(st):
            names = [b["name"] for b in st["backends"]]
            if "vm4" in names and not first_seen:
                first_seen.append(pg.backend(st, "vm4")["state"])
            return "vm4" in names
        pg.wait_status(has_vm4, "vm4 in /status after SIGHUP", poll=0.05)
        assert first_seen[0] == "down", (
            "new vm4 was %r when first listed; a new VM starts down until rise=2 checks "
            "pass" % first_seen[0])
        st = pg.wait_states({"vm4": "up"}, timeout=15)
        assert pg.backend(st, "vm4")["address"] == pool.address("vm4")
        for n in old:
            assert pg.backend(st, n)["state"] == "up", st
        held.echo("after reload")

        # Loads now: held.vm 1, the others 0. Three new held sessions must go
        # to the three empty VMs, vm4 among them.
        for _ in range(3):
            opened.append(pg.session(fresh_addr()))
        got = sorted(s.vm for s in opened)
        want = sorted(n for n in old + ["vm4"] if n != held.vm)
        assert got == want, ("after adding vm4, three new sessions went to %s; least "
                             "loaded were %s (held session on %s)" % (got, want, held.vm))

        rc, lines = held.finish()
        assert rc == 0, "session open across SIGHUP ended with %s: %s" % (rc, lines)
        assert lines == [held.vm, "before reload", "after reload"], lines
    finally:
        held.close()
        for s in opened:
            s.close()
        pg.stop()
        pool.run("rm", "vm4", check=False)


@pytest.mark.parametrize("breakage", ["syntax-error", "unknown-key"])
def test_sighup_with_broken_file_keeps_old_config(new_poolgate, pool, breakage):
    pg = new_poolgate()
    before = pg.wait_all_up()
    # The broken file also drops vm3: if any of it were applied, it would show.
    lines = pg.config_lines(backends=[b for b in pg.backends if b[0] != "vm3"])
    if breakage == "syntax-error":
        i = _line_of(lines, "limits = {")
        # (a missing ";" would not do: libconfig's terminators are optional)
        lines[i] = "limits = { max_connections = ; per_ip_connections = 0; };"
    else:
        i = _line_of(lines, "affinity = {") + 1
        lines.insert(i, 'affinty_ttl = "2h";')
    lineno = i + 1
    pg.write_config(lines)
    offset = pg.log_size()
    pg.reload()
    conf = str(pg.conf)
    m = pg.wait_log(r"(?:%s|%s):%d\b" % (re.escape(conf), re.escape(os.path.basename(conf)),
                                         lineno), offset=offset, timeout=15)
    assert m, "after SIGHUP with a %s on line %d, the log does not name %s:%d:\n%s" % (
        breakage, lineno, conf, lineno, pg.log_since(offset))
    time.sleep(2 * INTERVAL_MS / 1000.0)
    pg.assert_alive()
    after = pg.status()

    def shape(st):
        return ([(s["name"], s["listen"], s["port"]) for s in st["services"]],
                sorted((b["name"], b["address"], b["state"], b["removed"])
                       for b in st["backends"]))
    assert shape(after) == shape(before), "configuration changed by a bad reload"
    # Still serving the old configuration, vm3 included.
    held = []
    try:
        for _ in range(3):
            held.append(pg.session(fresh_addr()))
        assert sorted(s.vm for s in held) == sorted(vm_names(pool)), [s.vm for s in held]
    finally:
        for s in held:
            s.close()


# ------------------------------------------------------------------ stop

def test_sigterm_stops_and_closes_listener(new_poolgate, pool):
    pg = new_poolgate(grace="2s")
    pg.wait_all_up()
    pg.login(fresh_addr())
    t0 = time.monotonic()
    code = pg.stop(timeout=15)
    took = time.monotonic() - t0
    assert code == 0, "poolgate exit code after SIGTERM: %s" % code
    assert took < 2 + 5, "SIGTERM took %.1fs with shutdown_grace 2s" % took
    p = subprocess.run(pg.ssh_argv(fresh_addr(), "true", ["-o", "ConnectTimeout=3"]),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0, "a login still worked after poolgate stopped"

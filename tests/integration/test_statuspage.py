"""The operator's HTML status page (GET / on the admin endpoint) in a real
browser: headless Chromium driven over the DevTools protocol.

  * with two SSH sessions held open from two client addresses, the page
    lists every VM of the pool with its state and its sessions;
  * it reloads itself, but not over a half-typed token;
  * signing in goes through the page's form (typed, clicked), and a click
    on a VM's drain button drains it (/status and the page agree), with
    the held sessions still alive; ready undoes it;
  * POST /action without a session, with a wrong CSRF token, or from
    another origin is refused with 403 and changes nothing;
  * with 200 VMs every one has a row and the table header stays in view.

Screenshots go to $POOLGATE_ARTIFACTS (default /tmp/poolgate-artifacts):
statuspage.png (signed in, one VM draining) and statuspage-200.png.

Needs Debian's chromium and python3-websocket (deploy/install-deps), and
what conftest.py needs (root, iproute2, openssh).
"""

import base64
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import _CURRENT, _INSTANCES, REPORT_EXTRAS, Poolgate, fresh_addr, poolgate_binary

try:
    import websocket  # python3-websocket
except ImportError:  # a missing piece fails, never skips
    websocket = None

ARTIFACTS = Path(os.environ.get("POOLGATE_ARTIFACTS") or "/tmp/poolgate-artifacts")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-proxy-server", "--hide-scrollbars", "--window-size=1400,900",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
]


# ------------------------------------------------------------------ poolgate

class TokenPoolgate(Poolgate):
    """A poolgate with admin.token_file and max_sessions on every VM."""

    def __init__(self, binary, workdir, pool, backends=None, max_sessions=10, **cfg):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.max_sessions = max_sessions
        self.token = secrets.token_urlsafe(24)  # 32 printable characters
        self.token_file = workdir / "admin.token"
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (self.token + "\n").encode())
        os.close(fd)
        super().__init__(binary, workdir, pool, backends, **cfg)

    def config_lines(self, backends=None):
        lines = super().config_lines(backends)
        i = next(k for k, l in enumerate(lines) if l.startswith("admin = {"))
        lines[i] = 'admin = { listen = "127.0.0.1:%d"; token_file = "%s"; };' % (
            self.admin_port, self.token_file)
        if self.max_sessions:
            lines = [re.sub(r'(address = "[^"]*";) }', r'\1 max_sessions = %d; }'
                            % self.max_sessions, l) for l in lines]
        return lines

    def state_of(self, name):
        return self.backend(self.status(), name)["state"]


def start_poolgate(pg):
    _INSTANCES.append(pg)
    _CURRENT.append(pg)
    try:
        pg.start()
    except BaseException:
        pg.stop()
        raise
    return pg


@pytest.fixture(scope="module")
def sp_poolgate(pool, tmp_path_factory):
    pg = start_poolgate(TokenPoolgate(poolgate_binary(), tmp_path_factory.mktemp("sp-pg"), pool))
    pg.wait_all_up()
    yield pg
    died = pg.proc.poll() is not None
    code = pg.stop()
    if died:
        pytest.fail("poolgate exited on its own with code %s" % code, pytrace=False)


# ------------------------------------------------------------------ plain HTTP

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def request(pg, method, path, fields=None, cookie=None, origin=None):
    """Returns (status, headers, body text); never follows a redirect."""
    headers = {}
    data = None
    if fields is not None:
        data = urllib.parse.urlencode(fields).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if cookie:
        headers["Cookie"] = "pg_admin=" + cookie
    if origin:
        headers["Origin"] = origin
    req = urllib.request.Request(pg.url(path), data=data, method=method, headers=headers)
    try:
        with _OPENER.open(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def http_sign_in(pg):
    """Signs in with plain HTTP; returns (cookie value, CSRF token)."""
    code, hdrs, body = request(pg, "POST", "/login", {"token": pg.token})
    assert code == 303, "POST /login with the right token: %d %s" % (code, body[:300])
    m = re.match(r"pg_admin=([0-9a-f]{64});", hdrs.get("Set-Cookie", ""))
    assert m, "no session cookie in %r" % hdrs.get("Set-Cookie")
    cookie = m.group(1)
    code, _, page = request(pg, "GET", "/", cookie=cookie)
    assert code == 200
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert m, "signed-in page has no CSRF token"
    return cookie, m.group(1)


# ------------------------------------------------------------------ browser

def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    pytest.fail("chromium not found (apt-get install chromium; deploy/install-deps)",
                pytrace=False)


class Browser:
    """One headless Chromium and one page, over the DevTools protocol."""

    def __init__(self, workdir):
        if websocket is None:
            pytest.fail("python3-websocket is not installed (deploy/install-deps)",
                        pytrace=False)
        self.dir = Path(workdir)
        self.profile = self.dir / "chromium-profile"
        self.profile.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "chromium.log"
        self._log = open(self.log_path, "wb")
        # Own session: teardown signals the whole group it made (renderer,
        # GPU and zygote processes), by the id of the process started here.
        self.proc = subprocess.Popen(
            [chromium_binary()] + CHROMIUM_FLAGS + ["--user-data-dir=%s" % self.profile,
                                                    "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.ws = None
        self.next_id = 0
        self.events = []
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self, timeout=60):
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None:
                raise AssertionError("chromium exited with %s:\n%s" % (
                    self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise AssertionError("chromium did not open DevTools within %ds:\n%s"
                                     % (timeout, self.log_tail()))
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with _OPENER.open("http://127.0.0.1:%d/json/list" % port, timeout=10) as r:
            targets = json.load(r)
        page = next((t for t in targets if t.get("type") == "page"), None)
        assert page is not None, "no page target in %s" % targets
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60,
                                              suppress_origin=True)
        self.call("Page.enable")
        self.call("Runtime.enable")

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def close(self):
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    # protocol
    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise AssertionError("DevTools %s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expr):
        """The value of a JavaScript expression in the page (JSON-able)."""
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise AssertionError("JavaScript %s failed: %s" % (
                expr[:200], json.dumps(r["exceptionDetails"])[:500]))
        return r["result"].get("value")

    def try_eval(self, expr):
        try:
            return self.eval(expr)
        except AssertionError:  # the document is being replaced
            return None

    def wait_for(self, expr, what, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            v = self.try_eval(expr)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %.0fs waiting for %s; page: %s" % (
                    timeout, what, self.try_eval("document.body && "
                                                 "document.body.innerText.slice(0, 2000)")))
            time.sleep(0.1)

    # navigation: a marker set in the old document is gone in the new one
    def mark(self):
        self.eval("window.__pgmark = 1")

    def wait_new_document(self, timeout=15.0):
        self.wait_for("window.__pgmark === undefined && document.readyState === 'complete'",
                      "the next page to load", timeout)

    def goto(self, url):
        self.mark()
        self.call("Page.navigate", url=url)
        self.wait_new_document()

    # input, as a person: real mouse events at the element, typed text
    def click(self, selector):
        box = self.eval("""(function () {
            var e = document.querySelector(%s);
            if (!e) return null;
            e.scrollIntoView({block: 'center'});
            var r = e.getBoundingClientRect();
            return {x: r.left + r.width / 2, y: r.top + r.height / 2, disabled: !!e.disabled};
        })()""" % json.dumps(selector))
        assert box is not None, "nothing matches %s on the page" % selector
        assert not box["disabled"], "%s is disabled" % selector
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"],
                      button="left", buttons=1 if kind == "mousePressed" else 0,
                      clickCount=1)

    def type_text(self, text):
        self.call("Input.insertText", text=text)

    def screenshot(self, path):
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png

    def rows(self):
        """[{name, state, ssh, users, load, hist, aff}] of the VM table; hist
        is the sessions chart (its tooltip, width, lines drawn) or None."""
        return self.eval("""Array.prototype.map.call(
            document.querySelectorAll('#vms tbody tr[id^="vm-"]'), function (r) {
              return {name: r.id.slice(3), state: r.dataset.state,
                      badge: r.querySelector('.st').textContent,
                      ssh: parseInt(r.querySelector('.ssh').textContent, 10),
                      load: r.querySelector('.load').textContent,
                      hist: (function (h) {
                        return h === null ? null : {
                          title: h.parentNode.title,
                          width: h.getBoundingClientRect().width,
                          lines: h.querySelectorAll('polyline').length};
                      })(r.querySelector('.load svg.hist')),
                      aff: parseInt(r.querySelector('.aff').textContent, 10)};
            })""")


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path)
    REPORT_EXTRAS.append(("chromium log", b.log_tail))
    yield b
    REPORT_EXTRAS.remove(("chromium log", b.log_tail))
    b.close()


def check_png(png, min_w=800, min_h=400):
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    w, h = struct.unpack(">II", png[16:24])
    assert w >= min_w and h >= min_h, "screenshot is only %dx%d" % (w, h)
    # a blank page compresses to a few KB; the page has text, badges, bars
    assert len(png) > 20000, "screenshot is only %d bytes: blank?" % len(png)


# ------------------------------------------------------------------ tests

def test_refusals_change_nothing(sp_poolgate):
    """POST /action without a session, with a wrong CSRF token or from
    another origin: 403, and the VM stays up. With everything right the
    same request works (so the 403s are about the missing piece)."""
    pg = sp_poolgate
    vm = pg.backends[0][0]
    cookie, csrf = http_sign_in(pg)
    good = {"vm": vm, "op": "drain", "csrf": csrf}

    code, _, body = request(pg, "POST", "/action", good)
    assert code == 403, "no session: %d %s" % (code, body[:300])
    assert "sign in" in body
    code, _, body = request(pg, "POST", "/action", dict(good, csrf="0" * 64), cookie=cookie)
    assert code == 403, "wrong CSRF token: %d %s" % (code, body[:300])
    code, _, body = request(pg, "POST", "/action", {"vm": vm, "op": "drain"}, cookie=cookie)
    assert code == 403, "no CSRF token: %d %s" % (code, body[:300])
    code, _, body = request(pg, "POST", "/action", good, cookie=cookie,
                            origin="http://evil.example")
    assert code == 403, "cross-origin: %d %s" % (code, body[:300])
    # another port of the same host is another origin
    code, _, body = request(pg, "POST", "/action", good, cookie=cookie,
                            origin="http://127.0.0.1:%d" % pg.port)
    assert code == 403, "another port: %d %s" % (code, body[:300])
    code, hdrs, body = request(pg, "POST", "/login", {"token": "not-the-token-0123456789"})
    assert code == 403 and hdrs.get("Set-Cookie") is None, "wrong token: %d %s" % (
        code, body[:300])
    time.sleep(2 * pg.interval_ms / 1000)
    assert pg.state_of(vm) == "up"

    code, hdrs, body = request(pg, "POST", "/action", good, cookie=cookie,
                               origin="http://127.0.0.1:%d" % pg.admin_port)
    assert code == 303 and hdrs.get("Location") == "/", "%d %s" % (code, body[:300])
    pg.wait_states({vm: "drain"})
    code, _, _ = request(pg, "POST", "/action", dict(good, op="ready"), cookie=cookie)
    assert code == 303
    pg.wait_states({vm: "up"})
    code, _, _ = request(pg, "POST", "/logout", {"csrf": csrf}, cookie=cookie)
    assert code == 303
    code, _, _ = request(pg, "POST", "/action", dict(good, op="maint"), cookie=cookie)
    assert code == 403, "a signed-out session still acts"
    assert pg.state_of(vm) == "up"


def request_from(pg, src, method, path, fields=None, headers=None):
    """Like request(), from client address src; returns (status, headers, body)."""
    hdrs = dict(headers or {})
    body = None
    if fields is not None:
        body = urllib.parse.urlencode(fields)
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    c = http.client.HTTPConnection("127.0.0.1", pg.admin_port, timeout=10,
                                   source_address=(src, 0))
    try:
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        return r.status, r.headers, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def test_wrong_tokens_lock_out_one_address_only(sp_poolgate):
    """Ten wrong tokens a minute from one address, sign-in form and API
    bearer token together, lock that address out (429 with Retry-After, the
    right token too); another address signs in and uses the API meanwhile,
    and its success frees nobody else."""
    pg = sp_poolgate
    bad, good = "127.0.0.81", "127.0.0.82"
    vm = pg.backends[0][0]
    off = pg.log_size()
    api = "/api/v1/backends/%s/ready" % vm
    for i in range(5):
        code, _, body = request_from(pg, bad, "POST", "/login", {"token": "wrong-%d" % i})
        assert code == 403, "wrong sign-in %d from %s: %d %s" % (i, bad, code, body[:200])
        code, _, body = request_from(pg, bad, "POST", api,
                                     headers={"Authorization": "Bearer wrong-%d" % i})
        assert code == 403, "wrong bearer token %d from %s: %d %s" % (i, bad, code, body[:200])
    code, hdrs, body = request_from(pg, bad, "POST", "/login", {"token": pg.token})
    assert code == 429, "the right token from a locked-out address: %d %s" % (code, body[:200])
    assert 50 <= int(hdrs.get("Retry-After", "0")) <= 60, dict(hdrs)
    assert hdrs.get("Set-Cookie") is None
    code, hdrs, body = request_from(pg, bad, "POST", api,
                                    headers={"Authorization": "Bearer " + pg.token})
    assert code == 429 and 50 <= int(hdrs.get("Retry-After", "0")) <= 60, (
        "the API with the right token from a locked-out address: %d %s %s"
        % (code, dict(hdrs), body[:200]))
    # reading stays open to it
    code, _, _ = request_from(pg, bad, "GET", "/api/v1/backends")
    assert code == 200

    # the other address signs in, acts on the page and uses the API
    code, hdrs, body = request_from(pg, good, "POST", "/login", {"token": pg.token})
    assert code == 303, "sign-in from %s while %s is locked out: %d %s" % (
        good, bad, code, body[:200])
    m = re.match(r"pg_admin=([0-9a-f]{64});", hdrs.get("Set-Cookie", ""))
    assert m, hdrs.get("Set-Cookie")
    code, _, page = request_from(pg, good, "GET", "/",
                                 headers={"Cookie": "pg_admin=" + m.group(1)})
    assert code == 200 and 'action="/action"' in page, "signed-in page from %s" % good
    code, _, body = request_from(pg, good, "POST", api,
                                 headers={"Authorization": "Bearer " + pg.token})
    assert code == 200, "the API from %s: %d %s" % (good, code, body[:200])
    assert pg.state_of(vm) == "up"
    # its success frees nobody else
    code, _, _ = request_from(pg, bad, "POST", "/login", {"token": pg.token})
    assert code == 429
    log = pg.log_since(off)
    assert log.count("admin: %s locked out" % bad) == 1, log[-2000:]
    assert good + " locked out" not in log


def test_page_sign_in_and_drain(sp_poolgate, browser):
    pg = sp_poolgate
    names = [n for n, _ in pg.backends]
    sessions = [pg.session(fresh_addr()), pg.session(fresh_addr())]
    try:
        on = {}
        for s in sessions:
            on[s.vm] = on.get(s.vm, 0) + 1
        pg.wait_status(lambda st: all(pg.backend(st, n)["sessions"] == on.get(n, 0)
                                      for n in names),
                       "sessions %s in /status" % on)

        # Signed out: every VM with its state and sessions, no buttons.
        browser.goto(pg.url("/"))
        rows = browser.rows()
        assert [r["name"] for r in rows] == names, rows
        for r in rows:
            assert r["state"] == "up" and r["badge"] == "up", r
            assert r["ssh"] == on.get(r["name"], 0), (r, on)
            assert r["load"] == "%d/10" % on.get(r["name"], 0), r
            # the last hour's chart, drawn inline (the daemon notes every second)
            assert r["hist"] is not None and r["hist"]["width"] == 120, r
            assert r["hist"]["title"].startswith("sessions, last hour: at most "), r
            assert r["hist"]["lines"] == 1, r
        assert browser.eval("document.querySelectorAll('form[action=\"/action\"]').length") == 0
        assert browser.eval("document.getElementById('t-sessions').textContent") == "2 / %d" % (
            10 * len(names))

        # It reloads itself...
        browser.mark()
        browser.wait_new_document(timeout=12)
        # ...but not over a half-typed token, even with the focus elsewhere.
        browser.click("#login input[name=token]")
        browser.type_text("half-typed")
        browser.eval("document.activeElement.blur()")
        browser.mark()
        time.sleep(7)
        assert browser.eval("window.__pgmark") == 1, "the page reloaded over a typed token"
        assert browser.eval("document.querySelector('#login input[name=token]').value") == \
            "half-typed"

        # Sign in through the form: a wrong token first, then the right one.
        # (cleared while it has the focus, so no reload comes in between)
        browser.click("#login input[name=token]")
        browser.eval("document.activeElement.value = ''")
        browser.type_text("wrong-token-0123456789")
        browser.mark()
        browser.click("#login button")
        browser.wait_new_document()
        assert "Wrong token" in browser.eval("document.getElementById('notice').textContent")
        assert browser.eval("document.getElementById('logout')") is None
        browser.click("#login input[name=token]")
        browser.type_text(pg.token)
        browser.mark()
        browser.click("#login button")
        browser.wait_new_document()
        assert browser.eval("location.pathname") == "/"
        assert browser.eval("!!document.getElementById('logout')"), "not signed in"
        assert browser.eval("document.querySelectorAll('form[action=\"/action\"]').length") == \
            len(names)
        # the session cookie is HttpOnly: the page's script cannot read it
        assert "pg_admin" not in browser.eval("document.cookie")

        # Drain a VM that holds a session, with a click on its button.
        target = sessions[0].vm
        browser.mark()
        browser.click('#vm-%s button[value="drain"]' % target)
        browser.wait_new_document()
        assert browser.eval("document.getElementById('notice').textContent") == \
            "%s: drain" % target
        st = pg.wait_states({target: "drain"})
        assert all(pg.backend(st, n)["state"] == "up" for n in names if n != target), st
        rows = {r["name"]: r for r in browser.rows()}
        assert rows[target]["state"] == "drain" and rows[target]["badge"] == "drain", rows
        assert browser.eval('document.querySelector(\'#vm-%s button[value="drain"]\').disabled'
                            % target) is True
        assert "operator set drain" in browser.eval(
            "document.getElementById('events').textContent")
        # draining ends no session
        for s in sessions:
            s.echo("still here")

        png = browser.screenshot(ARTIFACTS / "statuspage.png")
        check_png(png)
        assert (ARTIFACTS / "statuspage.png").stat().st_size == len(png)

        # ready undoes it, and the page follows on its own
        browser.mark()
        browser.click('#vm-%s button[value="ready"]' % target)
        browser.wait_new_document()
        pg.wait_states({target: "up"})
        browser.wait_for("document.querySelector('#vm-%s').dataset.state === 'up'" % target,
                         "%s up on the page" % target, timeout=12)
    finally:
        for s in sessions:
            s.close()


def test_200_vms_stay_readable(tmp_path, browser):
    """200 VMs (nothing listens at their addresses: all down): a row each,
    the table header stays in view while scrolling, the page is quick."""
    backends = [("vm%03d" % i, "127.0.2.%d" % (i + 1)) for i in range(200)]
    pg = start_poolgate(TokenPoolgate(poolgate_binary(), tmp_path / "pg200", None, backends,
                                      interval_ms=2000, timeout_ms=1000))
    try:
        pg.wait_status(lambda st: all(b["health"]["ssh"]["last_check_ms_ago"] is not None
                                      for b in st["backends"]),
                       "every VM checked once", timeout=30)
        t0 = time.monotonic()
        code, _, page = request(pg, "GET", "/")
        elapsed = time.monotonic() - t0
        assert code == 200
        assert elapsed < 2.0, "GET / with 200 VMs took %.2fs" % elapsed
        assert len(page) < 600 * 1024, "page for 200 VMs is %d bytes" % len(page)

        browser.goto(pg.url("/"))
        rows = browser.rows()
        assert [r["name"] for r in rows] == [n for n, _ in backends]
        # down, unless something answers SSH on 127.0.2.x:22 on this host
        assert all(r["state"] in ("down", "up") for r in rows), rows[:3]
        # halfway down the table the header is still at the top
        browser.eval("""(function () { var t = document.getElementById('vms');
            window.scrollTo(0, t.offsetTop + t.offsetHeight / 2); })()""")
        top = browser.wait_for("""(function () {
            var h = document.querySelector('#vms thead th').getBoundingClientRect();
            var t = document.querySelector('#vms').getBoundingClientRect();
            return t.top < -1000 ? {head: h.top, table: t.top} : null; })()""",
                               "the page to scroll")
        assert abs(top["head"]) <= 1, "the header scrolled away: %s" % top
        # one row is one line of small text: 200 rows fit in a few screens
        row_h = browser.eval("document.querySelector('#vm-vm000').getBoundingClientRect().height")
        assert row_h <= 30, "a row is %spx high (one line expected)" % row_h
        browser.eval("window.scrollTo(0, 0)")
        check_png(browser.screenshot(ARTIFACTS / "statuspage-200.png"))
    finally:
        pg.stop()


def test_refused_reload_shown_with_its_reason(sp_poolgate, browser):
    """A reload with a bad file keeps the running configuration, and the
    operator sees why where they look: /status reload_error (file, line,
    message), the status page (in a real browser) and its recent events.
    The next good reload clears it."""
    pg = sp_poolgate
    good = pg.conf.read_text()
    lines = good.splitlines()
    i = next(k for k, l in enumerate(lines) if "check = {" in l)
    lines[i] = lines[i].replace('interval = "%dms";' % pg.interval_ms, "interval = 2s;")
    assert lines[i] != good.splitlines()[i], lines[i]
    failures = pg.status()["reload_failures"]
    try:
        pg.write_config(lines)
        pg.reload()
        st = pg.wait_status(lambda s: s["reload_failures"] == failures + 1,
                            "the reload to be refused")
        why = st["reload_error"]
        assert why and "%s:%d:" % (pg.conf, i + 1) in why and "syntax error" in why, why
        assert 'durations are strings' in why, why
        browser.goto(pg.url("/"))
        shown = browser.wait_for(
            "(function () { var e = document.getElementById('reload-error');"
            " return e ? e.textContent : null; })()", "the refused reload on the page")
        assert "%s:%d:" % (pg.conf, i + 1) in shown and "syntax error" in shown, shown
        events = browser.eval("document.body.textContent")
        assert "reload refused" in events, "no event for the refused reload"
        check_png(browser.screenshot(ARTIFACTS / "statuspage-reload-refused.png"))
        assert all(b["state"] == "up" for b in st["backends"]), "the running configuration"
    finally:
        pg.write_config(good.splitlines())
        pg.reload()
    st = pg.wait_status(lambda s: s["reload_error"] is None, "a good reload to clear it")
    assert st["reload_failures"] == failures + 1

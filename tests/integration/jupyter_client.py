"""A real JupyterHub client for poolgate's integration tests.

It does what a browser and a notebook page do, with its own cookie jar:

    c = JupyterClient("http://127.0.0.1:8000", source_address="127.0.0.21")
    c.login("alice", "pg-alice-pw")     # GET /hub/login, POST the form
    c.spawn()                           # GET /hub/spawn/alice, wait for /user/alice/tree
    c.which_vm()                        # 'vm1': the X-DSVM header of alice's server
    c.run_code("print(6*7)")            # '42\\n' through a kernel's websocket
    c.stop_server(); c.logout()

or, with the module functions, `c = login(base_url, user, password, ...)`,
`spawn(c)`, `which_vm(c)`, `run_code(c, code)`.

TLS: verify=False for a self-signed hub (or poolgate in front of it), or
verify="/path/cert.pem" (a CA file). source_address binds every TCP connection,
HTTP and websocket alike, to that local address (e.g. 127.0.0.21 so poolgate
sees a chosen client IP). Proxies from the environment are ignored: this client
only talks to the address it is given.

Needs Debian's python3-requests and python3-websocket (websocket-client 1.2.3,
whose create_connection has no source_address: we connect and bind the socket
ourselves, wrap it in TLS if needed, and pass it in with socket=).
Raises JupyterError with the HTTP status, URL and a piece of the body on failure.
"""

import datetime
import json
import socket
import ssl
import time
import uuid
from urllib.parse import urlsplit, quote

try:
    import requests
    from requests.adapters import HTTPAdapter
    import urllib3
except ImportError as e:  # a failure with a message, never a skip
    raise ImportError("jupyter_client needs python3-requests "
                      "(apt-get install python3-requests): %s" % e)
try:
    import websocket
except ImportError as e:
    raise ImportError("jupyter_client needs python3-websocket "
                      "(apt-get install python3-websocket): %s" % e)


class JupyterError(AssertionError):
    pass


class SourceAddressAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections are bound to a local address."""

    def __init__(self, source_address, **kw):
        self._source = (source_address, 0)
        super().__init__(**kw)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs["source_address"] = self._source
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)


def _brief(r, n=300):
    try:
        body = r.text
    except Exception:
        body = "(unreadable body)"
    body = " ".join(body.split())
    return "%s %s -> %d [X-DSVM %s] %s" % (r.request.method, r.url, r.status_code,
                                            r.headers.get("X-DSVM", "-"), body[:n])


class JupyterClient:
    def __init__(self, base_url, verify=True, source_address=None, timeout=30.0):
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.source_address = source_address
        self.timeout = timeout
        self.user = None
        self.timings = {}
        s = requests.Session()
        s.trust_env = False  # no proxies, no .netrc
        s.verify = verify
        s.headers["User-Agent"] = "poolgate-itest jupyter_client"
        if source_address:
            for prefix in ("http://", "https://"):
                s.mount(prefix, SourceAddressAdapter(source_address))
        self.session = s
        if verify is False:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    # ------------------------------------------------------------ http

    def url(self, path):
        return self.base_url + path

    def request(self, method, path, expect=None, **kw):
        kw.setdefault("timeout", self.timeout)
        try:
            r = self.session.request(method, self.url(path), **kw)
        except requests.RequestException as e:
            raise JupyterError("%s %s failed: %s" % (method, self.url(path), e))
        if expect is not None:
            ok = r.status_code in expect if isinstance(expect, (tuple, list, set)) \
                else r.status_code == expect
            if not ok:
                raise JupyterError("expected %s: %s" % (expect, _brief(r)))
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def cookie(self, name):
        """Value of a cookie in the jar (the last one set if several paths hold it)."""
        val = None
        for c in self.session.cookies:
            if c.name == name:
                val = c.value
        return val

    def cookie_names(self):
        return sorted({c.name for c in self.session.cookies})

    # ------------------------------------------------------------ hub

    def login(self, user, password, follow=False):
        """GET /hub/login (takes its _xsrf if the form has one), POST the form.
        Returns the POST's response. JupyterHub answers 302 and sets
        jupyterhub-hub-login. With follow=True the redirects are followed, which
        (redirect_to_server) starts the user's server as a browser would."""
        t0 = time.monotonic()
        r = self.get("/hub/login", expect=200)
        form = {"username": user, "password": password}
        xsrf = self._form_xsrf(r.text) or self.cookie("_xsrf")
        if xsrf:
            form["_xsrf"] = xsrf
        r = self.request("POST", "/hub/login", data=form, allow_redirects=follow,
                         headers={"Referer": self.url("/hub/login")})
        if not follow and r.status_code != 302:
            raise JupyterError("login of %s: expected 302, got %s" % (user, _brief(r)))
        if follow and r.status_code >= 400:
            raise JupyterError("login of %s: %s" % (user, _brief(r)))
        if self.cookie("jupyterhub-hub-login") is None:
            raise JupyterError("login of %s: no jupyterhub-hub-login cookie; cookies %s; %s"
                               % (user, self.cookie_names(), _brief(r)))
        self.user = user
        self.timings["login"] = time.monotonic() - t0
        return r

    @staticmethod
    def _form_xsrf(html):
        i = html.find('name="_xsrf"')
        if i < 0:
            return None
        j = html.find('value="', i)
        if j < 0 or j - i > 200:
            return None
        j += len('value="')
        return html[j:html.find('"', j)]

    def _user_path(self, rest=""):
        if not self.user:
            raise JupyterError("not logged in")
        return "/user/%s%s" % (quote(self.user), rest)

    def spawn(self, timeout=180.0, poll=0.5):
        """Starts the user's server (GET /hub/spawn/<name>, as the home page's
        button does) and waits until /user/<name>/tree answers 200 from the
        server itself (the OAuth round trip through the hub included).
        Returns the seconds it took."""
        t0 = time.monotonic()
        self.start_spawn()
        self.wait_server(timeout=timeout - (time.monotonic() - t0), poll=poll)
        self.timings["spawn"] = time.monotonic() - t0
        return self.timings["spawn"]

    def start_spawn(self):
        """GET /hub/spawn/<name> without waiting for the server (the hub answers
        302 to /user/<name>/ or to /hub/spawn-pending/<name> after about 1 s)."""
        if not self.user:
            raise JupyterError("not logged in")
        r = self.get("/hub/spawn/%s" % quote(self.user), allow_redirects=False)
        if r.status_code not in (200, 302, 303):
            raise JupyterError("spawn of %s: %s" % (self.user, _brief(r)))
        return r

    def wait_server(self, timeout=180.0, poll=0.5):
        """Waits until GET /user/<name>/tree ends (after redirects) at that URL
        with 200. While the server starts, the hub sends it to spawn-pending."""
        deadline = time.monotonic() + max(timeout, 1.0)
        want = self._user_path("/tree")
        last = None
        while True:
            r = self.get(want)
            if r.status_code == 200 and urlsplit(r.url).path.rstrip("/") == want:
                return r
            last = r
            if time.monotonic() > deadline:
                raise JupyterError("server of %s not ready within %.0fs; last: %s" % (
                    self.user, timeout, _brief(last)))
            time.sleep(poll)

    def tree(self):
        """GET /user/<name>/tree; returns the response (200 when all is well)."""
        return self.get(self._user_path("/tree"))

    def server_status(self):
        """GET /user/<name>/api/status as JSON (needs the server's cookie: spawn first)."""
        r = self.get(self._user_path("/api/status"), expect=200, allow_redirects=False)
        return r.json()

    def which_vm(self):
        """Name of the VM serving this user: the X-DSVM header of the user's
        server if it runs, else that of the hub's home page."""
        r = self.get(self._user_path("/api/status"), allow_redirects=False)
        if r.status_code == 200 and r.headers.get("X-DSVM"):
            return r.headers["X-DSVM"]
        r = self.get("/hub/home")
        return r.headers.get("X-DSVM")

    def hub_api(self, method, path, expect=None, **kw):
        """A hub REST call with the login cookie, as the hub's own pages make it
        (JupyterHub 3 wants a same-origin Referer for cookie-authenticated API calls)."""
        headers = kw.pop("headers", {})
        headers.setdefault("Referer", self.url("/hub/home"))
        return self.request(method, "/hub/api" + path, expect=expect, headers=headers, **kw)

    def stop_server(self, timeout=60.0):
        """Stops the user's server (DELETE /hub/api/users/<name>/server) and waits."""
        r = self.hub_api("DELETE", "/users/%s/server" % quote(self.user),
                         expect=(202, 204))
        deadline = time.monotonic() + timeout
        while r.status_code == 202:
            u = self.hub_api("GET", "/users/%s" % quote(self.user), expect=200).json()
            if not u.get("server") and not (u.get("pending")):
                break
            if time.monotonic() > deadline:
                raise JupyterError("server of %s did not stop within %.0fs: %s" % (
                    self.user, timeout, u))
            time.sleep(0.5)

    def logout(self):
        return self.get("/hub/logout")

    # ------------------------------------------------------------ kernels

    def _xsrf_headers(self):
        xsrf = self.cookie("_xsrf")
        if xsrf is None:
            self.get(self._user_path("/tree"), expect=200)
            xsrf = self.cookie("_xsrf")
        if xsrf is None:
            raise JupyterError("no _xsrf cookie after GET %s; cookies %s" % (
                self._user_path("/tree"), self.cookie_names()))
        return {"X-XSRFToken": xsrf, "Referer": self.url(self._user_path("/tree"))}

    def start_kernel(self, name="python3"):
        r = self.request("POST", self._user_path("/api/kernels"), expect=201,
                         headers=self._xsrf_headers(), json={"name": name},
                         allow_redirects=False)
        return r.json()["id"]

    def delete_kernel(self, kid):
        self.request("DELETE", self._user_path("/api/kernels/%s" % kid), expect=204,
                     headers=self._xsrf_headers(), allow_redirects=False)

    def list_kernels(self):
        return self.get(self._user_path("/api/kernels"), expect=200,
                        allow_redirects=False).json()

    def open_websocket(self, path, timeout=None):
        """A websocket to base_url+path with this client's cookies, bound to
        source_address, over TLS when base_url is https."""
        timeout = timeout or self.timeout
        u = urlsplit(self.base_url)
        secure = u.scheme == "https"
        host = u.hostname
        port = u.port or (443 if secure else 80)
        ws_url = "%s://%s%s" % ("wss" if secure else "ws", u.netloc, path)
        sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(self.source_address, 0) if self.source_address else None)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if secure:
                if self.verify is False:
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                elif isinstance(self.verify, str):
                    ctx = ssl.create_default_context(cafile=self.verify)
                else:
                    ctx = ssl.create_default_context()
                sock = ctx.wrap_socket(sock, server_hostname=host)
            # Cookie header as requests would send it to the https/http URL.
            req = requests.Request("GET", self.url(path)).prepare()
            cookie = requests.cookies.get_cookie_header(self.session.cookies, req)
            ws = websocket.create_connection(
                ws_url, socket=sock, timeout=timeout, cookie=cookie,
                origin="%s://%s" % (u.scheme, u.netloc),
                header=["User-Agent: poolgate-itest jupyter_client"])
        except Exception as e:
            sock.close()
            if isinstance(e, websocket.WebSocketBadStatusException):
                raise JupyterError("websocket %s refused: %s" % (ws_url, e))
            raise
        return ws

    def open_channels(self, kernel_id, timeout=None):
        """The kernel's channels websocket, open: (ws, session id)."""
        session_id = uuid.uuid4().hex
        ws = self.open_websocket(self._user_path(
            "/api/kernels/%s/channels?session_id=%s" % (kernel_id, session_id)),
            timeout=timeout)
        return ws, session_id

    def execute(self, code, timeout=60.0, kernel_id=None, channels=None):
        """Runs code in a kernel (a new one unless kernel_id is given, deleted
        afterwards) over the channels websocket (a new one, closed afterwards,
        unless channels, open_channels() of kernel_id, is given). Returns a
        dict with 'stdout', 'stderr', 'result' (text/plain of execute_result
        or None), 'status' of execute_reply, 'error' (ename: evalue or None),
        'seconds'."""
        t0 = time.monotonic()
        own = kernel_id is None
        kid = kernel_id or self.start_kernel()
        try:
            ws, session_id = channels or self.open_channels(kid, timeout=timeout)
            try:
                msg_id = uuid.uuid4().hex
                msg = {
                    "header": {"msg_id": msg_id, "msg_type": "execute_request",
                               "username": self.user, "session": session_id,
                               "date": datetime.datetime.now(datetime.timezone.utc)
                               .isoformat(), "version": "5.3"},
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "store_history": False,
                                "user_expressions": {}, "allow_stdin": False,
                                "stop_on_error": True},
                    "channel": "shell",
                    "buffers": [],
                }
                ws.send(json.dumps(msg))
                out = {"stdout": "", "stderr": "", "result": None, "status": None,
                       "error": None}
                idle = False
                deadline = time.monotonic() + timeout
                while not (idle and out["status"] is not None):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise JupyterError("kernel %s: no reply to execute_request "
                                           "within %.0fs; so far %r" % (kid, timeout, out))
                    ws.settimeout(left)
                    try:
                        raw = ws.recv()
                    except websocket.WebSocketTimeoutException:
                        continue
                    if isinstance(raw, bytes):
                        continue  # binary frames carry buffers; not used here
                    m = json.loads(raw)
                    if m.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    t = m.get("msg_type") or m.get("header", {}).get("msg_type")
                    c = m.get("content", {})
                    if t == "stream":
                        out[c.get("name", "stdout")] = out.get(c.get("name", "stdout"), "") \
                            + c.get("text", "")
                    elif t in ("execute_result", "display_data"):
                        out["result"] = c.get("data", {}).get("text/plain")
                    elif t == "error":
                        out["error"] = "%s: %s" % (c.get("ename"), c.get("evalue"))
                    elif t == "status" and c.get("execution_state") == "idle":
                        idle = True
                    elif t == "execute_reply":
                        out["status"] = c.get("status")
            finally:
                if channels is None:
                    ws.close()
        finally:
            if own:
                self.delete_kernel(kid)
        out["seconds"] = time.monotonic() - t0
        self.timings["execute"] = out["seconds"]
        return out

    def run_code(self, code, timeout=60.0):
        """Runs code in a fresh kernel and returns what it printed on stdout
        (e.g. "42\\n" for print(6*7)); raises JupyterError if the code failed."""
        out = self.execute(code, timeout=timeout)
        if out["status"] != "ok" or out["error"]:
            raise JupyterError("code failed on %s's kernel: %s (status %s, stderr %r)" % (
                self.user, out["error"], out["status"], out["stderr"]))
        return out["stdout"]


# ---------------------------------------------------------------- functions

def login(base_url, user, password, source_address=None, verify=True, timeout=30.0):
    """A new client (own cookie jar) logged in as user; returns it."""
    c = JupyterClient(base_url, verify=verify, source_address=source_address,
                      timeout=timeout)
    c.login(user, password)
    return c


def spawn(client, timeout=180.0):
    return client.spawn(timeout=timeout)


def which_vm(client):
    return client.which_vm()


def run_code(client, code, timeout=60.0):
    return client.run_code(code, timeout=timeout)

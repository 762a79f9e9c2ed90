"""Integration test harness: real gatewayd and demo_upstream processes on 127.0.0.1.

Everything is bounded in time and cleaned up by the context managers.
"""
import collections
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

GATEWAYD = os.environ.get("GATEWAYD", "bazel-bin/source/exe/gatewayd")
# gatewayd with the test-only filters (test/filters/probe) linked in.
GATEWAYD_TEST = os.environ.get("GATEWAYD_TEST", "bazel-bin/test/integration/gatewayd_test")
DEMO_UPSTREAM = os.environ.get("DEMO_UPSTREAM", "bazel-bin/tools/demo_upstream/demo_upstream")
GATEWAY_CONTROL = os.environ.get("GATEWAY_CONTROL", "bazel-bin/source/exe/gateway-control")
GATEWAYCTL = os.environ.get("GATEWAYCTL", "bazel-bin/source/exe/gatewayctl")


_recent_ports = collections.deque(maxlen=512)


def free_port():
    """A loopback port nothing listens on now, and not one this process handed out recently: the
    kernel can return the same ephemeral port to two back-to-back bind(0) calls once the first
    socket is closed, and a gatewayd given it as both admin and admin-gRPC port fails to start."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _recent_ports:
            _recent_ports.append(port)
            return port


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return True
        except Exception:
            pass
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Upstream:
    """A demo_upstream process."""

    def __init__(self, service="svc", instance=None, args=()):
        self.port = free_port()
        self.service = service
        self.instance = instance or "%s-%d" % (service, self.port)
        self.args = list(args)
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def __enter__(self):
        self.proc = subprocess.Popen(
            [DEMO_UPSTREAM, "--port", str(self.port), "--service", self.service,
             "--instance", self.instance, "--quiet"] + self.args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: socket.create_connection(("127.0.0.1", self.port), 0.2).close() or True,
                 what="upstream %s" % self.instance)
        return self

    def stats(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/__stats")
        data = json.loads(c.getresponse().read())
        c.close()
        return data

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Gateway:
    """A gatewayd process with a config rendered from a YAML template.

    The template may use {listen} for the listener address and {up0}, {up1}, ... for upstream
    addresses passed in `upstreams`.
    """

    def __init__(self, config, upstreams=(), workers=1, args=(), env=None, prefix=(),
                 binary=None):
        self.template = config
        self.upstreams = list(upstreams)
        self._pick_ports()
        self.workers = workers
        self.args = list(args)
        self.env = env
        self.prefix = list(prefix)  # e.g. ["prlimit", "--nofile=256:4096"] (it execs gatewayd)
        self.binary = binary or GATEWAYD
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="gw-it-")

    def _pick_ports(self):
        self.port = free_port()
        self.admin_port = free_port()
        # The admin gRPC service on its own free port (not the shared default 127.0.0.1:9902).
        self.grpc_port = free_port()
        subst = {"listen": "127.0.0.1:%d" % self.port}
        for i, u in enumerate(self.upstreams):
            subst["up%d" % i] = u.address if hasattr(u, "address") else u
        self.config_text = self.template.format(**subst)

    def __enter__(self):
        # A port free_port() found can be taken (by another process's outgoing connection) before
        # gatewayd binds it: then start again on other ports, at most twice.
        for attempt in range(3):
            try:
                return self._start()
            except AssertionError as e:
                if attempt == 2 or "already in use" not in str(e).lower():
                    raise
                self._pick_ports()
        raise AssertionError("unreachable")

    def _start(self):
        path = os.path.join(self.dir, "config.yaml")
        with open(path, "w") as f:
            f.write(self.config_text)
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.proc = subprocess.Popen(
            self.prefix + [self.binary, "--config", path, "--workers", str(self.workers),
             "--admin-address", "127.0.0.1:%d" % self.admin_port,
             "--admin-grpc-address", "127.0.0.1:%d" % self.grpc_port] + self.args,
            stdout=open(self.stdout_path, "w"), stderr=open(self.stderr_path, "w"), env=self.env)
        try:
            wait_for(lambda: self.proc.poll() is not None or self.admin("GET", "/ready")[0] == 200,
                     what="gatewayd ready")
            if self.proc.poll() is not None:
                raise AssertionError("exited with %s" % self.proc.returncode)
        except AssertionError:
            self.__exit__()
            raise AssertionError("gatewayd did not start: " + self.stderr())
        return self

    def stderr(self):
        with open(self.stderr_path) as f:
            return f.read()

    def access_log(self):
        with open(self.stdout_path) as f:
            return [json.loads(l) for l in f if l.startswith("{")]

    def admin(self, method, path, timeout=5):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    def request(self, method, path, headers=None, body=None, timeout=10):
        """One request on a fresh connection: (status, headers dict lower-cased, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, data

    def raw(self, data, timeout=3.0, half_close=False):
        """Sends raw bytes; returns everything received until the server closes or timeout."""
        return raw_exchange(self.port, data, timeout, half_close)

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)


def raw_exchange(port, data, timeout=3.0, half_close=False):
    s = socket.create_connection(("127.0.0.1", port), timeout)
    s.settimeout(timeout)
    if data:
        s.sendall(data)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    chunks = []
    closed = False
    try:
        while True:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            chunks.append(b)
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return b"".join(chunks), closed


def status_of(raw_response):
    if not raw_response.startswith(b"HTTP/1.1 "):
        return None
    return int(raw_response[9:12])


def one_listener_config(routes, head="", tail=""):
    """A config template (Gateway fills {listen}, {up0}, ...): `head` (top-level YAML), then one
    listener 'main' whose catch-all virtual host has `routes` (YAML list items at the routes'
    indentation), then `tail`. Braces in the arguments are template braces: double literal ones."""
    return head + """listeners:
  - name: main
    address: "{listen}"
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
""" + routes + tail


SIMPLE_CONFIG = one_listener_config(head="""
version: test-1
""", routes="""          - name: direct
            match: {{path: /direct}}
            route_filter: {{name: direct_response, config: {{status: 200, body: "hello"}}}}
          - name: api
            match: {{prefix: /}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
""")


# ---------------------------------------------------------------------------------------------
# Raw HTTP/1.1 client helpers (added for the edge-case and smuggling tests). Every read is bounded
# by a deadline; nothing here blocks without a timeout.

class HttpResponse:
    """One parsed response. `headers` keeps order and duplicates, names lower-cased."""

    def __init__(self, version, status, reason, headers, body=b"", trailers=None,
                 informational=None, complete=True):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.trailers = trailers or []
        self.informational = informational or []
        self.complete = complete

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def has(self, name):
        return self.header(name) is not None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "HttpResponse(%s %s, headers=%r, body=%r%s)" % (
            self.status, self.reason, self.headers, self.body[:300],
            "" if self.complete else ", INCOMPLETE")


class ConnectionEnded(Exception):
    """The peer closed (or reset) the connection before a complete response arrived."""

    def __init__(self, how, partial):
        Exception.__init__(self, "connection %s; received so far: %r" % (how, partial[:500]))
        self.how = how
        self.partial = partial


class _Reader:
    def __init__(self, sock=None, data=b"", deadline=None):
        self.sock = sock
        self.buf = bytearray(data)
        self.deadline = deadline
        self.consumed = bytearray()  # everything taken out of buf (for error reports)

    def _more(self):
        if self.sock is None:
            raise ConnectionEnded("eof", bytes(self.consumed + self.buf))
        remaining = self.deadline - time.time()
        if remaining <= 0:
            raise socket.timeout("timed out; received so far: %r"
                                 % bytes(self.consumed + self.buf)[:500])
        self.sock.settimeout(remaining)
        try:
            b = self.sock.recv(65536)
        except ConnectionResetError:
            raise ConnectionEnded("reset", bytes(self.consumed + self.buf))
        if not b:
            raise ConnectionEnded("eof", bytes(self.consumed + self.buf))
        self.buf += b

    def _take(self, n):
        out = bytes(self.buf[:n])
        del self.buf[:n]
        self.consumed += out
        return out

    def until(self, delim):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                return self._take(i + len(delim))
            self._more()

    def exact(self, n):
        while len(self.buf) < n:
            self._more()
        return self._take(n)

    def rest(self):
        try:
            while True:
                self._more()
        except ConnectionEnded:
            pass
        return self._take(len(self.buf))


def _parse_head(head):
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise AssertionError("not an HTTP response: %r" % head[:200])
    version = parts[0].decode()
    status = int(parts[1])
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))
    return version, status, reason, headers


def _read_one_response(reader, head_request=False):
    informational = []
    while True:
        version, status, reason, headers = _parse_head(reader.until(b"\r\n\r\n"))
        resp = HttpResponse(version, status, reason, headers)
        if 100 <= status < 200 and status != 101:
            informational.append(resp)
            continue
        break
    resp.informational = informational
    te = (resp.header("transfer-encoding") or "").lower()
    if head_request or status in (204, 304) or 100 <= status < 200:
        return resp
    if te == "chunked":
        body = bytearray()
        while True:
            line = reader.until(b"\r\n")[:-2]
            size = int(line.split(b";")[0], 16)
            if size == 0:
                break
            body += reader.exact(size)
            crlf = reader.exact(2)
            if crlf != b"\r\n":
                raise AssertionError("chunk data not followed by CRLF: %r" % crlf)
        trailers = []
        while True:
            line = reader.until(b"\r\n")[:-2]
            if not line:
                break
            name, _, value = line.partition(b":")
            trailers.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))
        resp.body = bytes(body)
        resp.trailers = trailers
    elif resp.has("content-length"):
        resp.body = reader.exact(int(resp.header("content-length")))
    else:
        resp.body = reader.rest()  # close-delimited
    return resp


def parse_responses(data, head_request=False):
    """Parses a byte string holding zero or more complete responses (e.g. from Gateway.raw)."""
    reader = _Reader(data=data)
    out = []
    while reader.buf:
        out.append(_read_one_response(reader, head_request))
    return out


class RawClient:
    """One client connection for hand-written requests. Use as a context manager."""

    def __init__(self, port, timeout=5.0, host="127.0.0.1"):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.settimeout(timeout)
        self.reader = _Reader(self.sock)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def read_response(self, head_request=False, timeout=None):
        """Reads exactly one final response (1xx heads are collected in .informational)."""
        self.reader.deadline = time.time() + (timeout or self.timeout)
        return _read_one_response(self.reader, head_request)

    def read_head(self, timeout=None):
        """Reads one response head only; the body (if any) stays unread."""
        self.reader.deadline = time.time() + (timeout or self.timeout)
        return HttpResponse(*_parse_head(self.reader.until(b"\r\n\r\n")))

    def read_some(self, timeout=1.0):
        """Whatever arrives within `timeout` (b"" if nothing), without waiting for a close."""
        self.reader.deadline = time.time() + timeout
        try:
            self.reader._more()
        except (socket.timeout, ConnectionEnded):
            pass
        return self.reader._take(len(self.reader.buf))

    def wait_closed(self, timeout=3.0):
        """Waits for the peer to close. Returns (how, extra_bytes): how is "eof", "reset" or
        None when the connection was still open at the deadline."""
        self.reader.deadline = time.time() + timeout
        try:
            while True:
                self.reader._more()
        except ConnectionEnded as e:
            return e.how, self.reader._take(len(self.reader.buf))
        except socket.timeout:
            return None, self.reader._take(len(self.reader.buf))


def upstream_counters(up):
    """(requests, connections_accepted) of a demo upstream; reading them opens one connection."""
    s = up.stats()
    return s["requests"], s["connections_accepted"]


UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def filler(n):
    """The demo upstream's deterministic filler body of n bytes."""
    pattern = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-\n"
    return (pattern * (n // 64 + 1))[:n]


def curl(args, timeout=20):
    """Runs curl with a hard timeout; returns the CompletedProcess (stdout/stderr bytes)."""
    return subprocess.run(["curl", "-sS", "--max-time", str(max(1, int(timeout) - 2))] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


class RedisServer:
    """A real redis-server on a free loopback port (no persistence). kill() and start() again
    keep the port, as a restarted Redis would."""

    def __init__(self):
        self.port = free_port()
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        if shutil.which("redis-server") is None:
            raise AssertionError("redis-server is not installed (tools/setup installs it)")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: socket.create_connection(("127.0.0.1", self.port), 0.2).close() or True,
                 what="redis-server on %d" % self.port)
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


def validation_config(route_filter="{name: router, config: {cluster: c}}"):
    """A minimal config for `--validate` tests: one listener whose catch-all route has
    `route_filter`, and a cluster `c` (endpoint 127.0.0.1:1) last, so that a test can append
    fields to the cluster."""
    return """listeners:
  - name: main
    address: "127.0.0.1:0"
    virtual_hosts:
      - domains: ["*"]
        routes:
          - match: {prefix: /}
            route_filter: %s
clusters:
  - name: c
    endpoints: [{address: "127.0.0.1:1"}]
""" % route_filter


def validate_output(config_text):
    """Runs `gatewayd --validate` on a config: (exit code, stdout + stderr)."""
    d = tempfile.mkdtemp(prefix="gw-validate-")
    path = os.path.join(d, "config.yaml")
    with open(path, "w") as f:
        f.write(config_text)
    p = subprocess.run([GATEWAYD, "--validate", "--config", path], capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout + p.stderr

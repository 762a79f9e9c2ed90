"""Integration test harness: real gatewayd and demo_upstream processes on 127.0.0.1.

Everything is bounded in time and cleaned up by the context managers.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

GATEWAYD = os.environ.get("GATEWAYD", "bazel-bin/source/exe/gatewayd")
DEMO_UPSTREAM = os.environ.get("DEMO_UPSTREAM", "bazel-bin/tools/demo_upstream/demo_upstream")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
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

    def __init__(self, config, upstreams=(), workers=1, args=(), env=None):
        self.port = free_port()
        self.admin_port = free_port()
        subst = {"listen": "127.0.0.1:%d" % self.port}
        for i, u in enumerate(upstreams):
            subst["up%d" % i] = u.address if hasattr(u, "address") else u
        self.config_text = config.format(**subst)
        self.workers = workers
        self.args = list(args)
        self.env = env
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="gw-it-")

    def __enter__(self):
        path = os.path.join(self.dir, "config.yaml")
        with open(path, "w") as f:
            f.write(self.config_text)
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.proc = subprocess.Popen(
            [GATEWAYD, "--config", path, "--workers", str(self.workers),
             "--admin-address", "127.0.0.1:%d" % self.admin_port] + self.args,
            stdout=open(self.stdout_path, "w"), stderr=open(self.stderr_path, "w"))
        try:
            wait_for(lambda: self.admin("GET", "/ready")[0] == 200, what="gatewayd ready")
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


SIMPLE_CONFIG = """
version: test-1
listeners:
  - name: main
    address: "{listen}"
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: direct
            match: {{path: /direct}}
            route_filter: {{name: direct_response, config: {{status: 200, body: "hello"}}}}
          - name: api
            match: {{prefix: /}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
"""

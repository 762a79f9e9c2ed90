"""Operating gatewayd: --validate, startup failures, the embedded example, admin endpoints,
access log, graceful drain on SIGTERM and multiple workers."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import (GATEWAYD, SIMPLE_CONFIG, Gateway, Upstream, free_port, one_listener_config,
                     wait_for)


def run_gatewayd(args, timeout=20, env=None):
    """Runs gatewayd to completion: (exit code, stdout, stderr)."""
    p = subprocess.run([GATEWAYD] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def write_config(text):
    d = tempfile.mkdtemp(prefix="gw-ops-")
    path = os.path.join(d, "config.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def metric(text, name, labels=None):
    """Value of one sample of the Prometheus text `text`, or None."""
    want = name + ("{" + labels + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == want:
            return float(value)
    return None


def metrics(gw):
    status, body = gw.admin("GET", "/metrics")
    assert status == 200
    return body.decode()


# ---------------------------------------------------------------------------------------------
# --validate and startup

def test_validate_good_config_exits_0():
    path = write_config(SIMPLE_CONFIG.format(listen="127.0.0.1:0", up0="127.0.0.1:9"))
    try:
        rc, out, err = run_gatewayd(["--config", path, "--validate"])
        assert rc == 0, (rc, out, err)
        assert "config OK: 1 listener(s), 1 cluster(s)" in out, out
        # The embedded example validates too.
        rc, out, err = run_gatewayd(["--validate"])
        assert rc == 0, (rc, out, err)
        assert "config OK: 1 listener(s), 9 cluster(s)" in out, out
        # --print-example-config prints a config that validates, given the IdP client secret
        # it names (gatewayd sets it itself only for the embedded example).
        rc, example, _ = run_gatewayd(["--print-example-config"])
        assert rc == 0 and "version: example-1" in example
        ex = write_config(example)
        env = {k: v for k, v in os.environ.items() if k != "DEMO_IDP_CLIENT_SECRET"}
        rc, _, err = run_gatewayd(["--config", ex, "--validate"], env=env)
        assert rc == 2 and "DEMO_IDP_CLIENT_SECRET" in err, err
        env["DEMO_IDP_CLIENT_SECRET"] = "demo-secret"
        assert run_gatewayd(["--config", ex, "--validate"], env=env)[0] == 0
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


BAD_CONFIG = """
version: bad-1
listeners:
  - name: main
    address: "127.0.0.1:0"
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: ok
            match: {prefix: /ok/}
            route_filter: {name: router, config: {cluster: backend}}
          - name: missing
            match: {prefix: /m/}
            route_filter: {name: router, config: {cluster: nope}}
          - name: badre
            match: {regex: "/a(["}
            route_filter: {name: router, config: {cluster: backend}}
          - name: unknownfilter
            match: {prefix: /u/}
            pre_filters: [{name: no_such_filter}]
            route_filter: {name: router, config: {cluster: backend}}
          - name: badfield
            match: {prefix: /f/}
            route_filter: {name: router, config: {cluster: backend, colour: red}}
            post_filters:
              - name: headers
                config: {response_set: [{name: x-a, value: "%NOPE%"}]}
  - name: main
    address: "127.0.0.1:99999"
    virtual_hosts: []
clusters:
  - name: backend
    endpoints: [{address: "127.0.0.1:1"}, {address: "1.2.3.4"}]
"""

BAD_PATHS = [
    "listeners[0].virtual_hosts[0].routes[1].route_filter.config.cluster",
    "listeners[0].virtual_hosts[0].routes[2].match.regex",
    "listeners[0].virtual_hosts[0].routes[3].pre_filters[0].name",
    "listeners[0].virtual_hosts[0].routes[4].route_filter.config.colour",
    "listeners[0].virtual_hosts[0].routes[4].post_filters[0].config.response_set[0].value",
    "listeners[1].name",
    "listeners[1].address",
    "clusters[0].endpoints[1].address",
]


def test_validate_bad_config_reports_every_problem():
    path = write_config(BAD_CONFIG)
    try:
        rc, out, err = run_gatewayd(["--config", path, "--validate"])
        assert rc == 2, (rc, out, err)
        assert "config OK" not in out
        lines = [l.strip() for l in err.splitlines()]
        assert lines[0] == "gatewayd: config has %d problem(s):" % len(BAD_PATHS), err
        problems = lines[1:]
        assert len(problems) == len(BAD_PATHS), err
        # Every problem, with its field path, in document order.
        for line, p in zip(problems, BAD_PATHS):
            assert line.startswith(p + ": "), (p, line)
        text = "\n".join(problems)
        assert "unknown cluster 'nope'" in text
        assert "unknown filter 'no_such_filter'" in text
        assert "duplicate listener name 'main'" in text
        assert "99999" in text and "1.2.3.4" in text
        assert "%NOPE%" in text
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def test_validate_parse_errors():
    cases = [
        # Unknown field: a parse error with line, column and path.
        ("version: x\nlisteners:\n  - name: main\n    adress: \"127.0.0.1:0\"\n",
         ["line 4, column 5", "listeners[0].adress", "unknown field"]),
        # Bad duration.
        ("listeners:\n  - name: main\n    address: 127.0.0.1:0\n    limits: {idle_timeout: 5}\n",
         ["listeners[0].limits.idle_timeout", "invalid duration"]),
        # Unresolvable endpoint name (resolved when the config is compiled).
        ("listeners:\n  - name: main\n    address: 127.0.0.1:0\n    virtual_hosts:\n"
         "      - domains: ['*']\n        routes:\n          - match: {prefix: /}\n"
         "            route_filter: {name: router, config: {cluster: c}}\n"
         "clusters:\n  - name: c\n    endpoints: [{address: 'no-such-host.invalid:80'}]\n",
         ["clusters[0].endpoints[0].address", "cannot resolve"]),
        # Empty document: no listener.
        ("", ["listener"]),
    ]
    for text, needles in cases:
        path = write_config(text)
        try:
            rc, out, err = run_gatewayd(["--config", path, "--validate"])
            assert rc == 2, (text, rc, out, err)
            for n in needles:
                assert n in err, (n, err)
        finally:
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    rc, out, err = run_gatewayd(["--config", "/nonexistent/gw.yaml", "--validate"])
    assert rc == 2 and "/nonexistent/gw.yaml" in err, (rc, err)
    rc, out, err = run_gatewayd(["--no-such-flag"])
    assert rc == 2 and "unknown argument" in err


def test_startup_with_bad_config_exits_2_without_listening():
    port, admin = free_port(), free_port()
    bad = BAD_CONFIG.replace('"127.0.0.1:0"', '"127.0.0.1:%d"' % port, 1)
    path = write_config(bad)
    try:
        t0 = time.time()
        p = subprocess.Popen([GATEWAYD, "--config", path, "--admin-address",
                              "127.0.0.1:%d" % admin], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        # Probe while it runs: nothing may ever listen.
        while p.poll() is None and time.time() - t0 < 5:
            assert not port_open(port) and not port_open(admin)
            time.sleep(0.01)
        out, err = p.communicate(timeout=5)
        assert p.returncode == 2, (p.returncode, err)
        assert b"listeners[0].virtual_hosts[0].routes[1].route_filter.config.cluster" in err
        assert not port_open(port) and not port_open(admin)
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def test_listener_port_in_use_fails_startup():
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    path = write_config(SIMPLE_CONFIG.format(listen="127.0.0.1:%d" % port, up0="127.0.0.1:9"))
    try:
        rc, out, err = run_gatewayd(["--config", path, "--admin-address",
                                     "127.0.0.1:%d" % free_port()], timeout=10)
        assert rc != 0, (rc, err)
        assert "cannot bind" in err or "bind" in err, err
    finally:
        blocker.close()
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)



def test_admin_port_in_use_fails_startup_cleanly():
    """The workers are already running when the admin port turns out to be taken: gatewayd stops
    them and exits 1 with the reason (it used to abort: a joinable thread was destroyed)."""
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    admin_port = blocker.getsockname()[1]
    path = write_config(SIMPLE_CONFIG.format(listen="127.0.0.1:0", up0="127.0.0.1:9"))
    try:
        for workers in ("1", "2"):
            rc, out, err = run_gatewayd(["--config", path, "--workers", workers,
                                         "--admin-address", "127.0.0.1:%d" % admin_port,
                                         "--admin-grpc-address", "off"], timeout=10)
            assert rc == 1, (rc, err)
            assert "admin" in err and "address already in use" in err, err
            assert "terminate" not in err, err
    finally:
        blocker.close()
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)

def test_no_config_runs_embedded_example():
    if port_open(8080):
        print("SKIP test_no_config_runs_embedded_example: 127.0.0.1:8080 is busy")
        return
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like gatewayd (TIME_WAIT ok)
    try:
        probe.bind(("127.0.0.1", 8080))
    except OSError:
        print("SKIP test_no_config_runs_embedded_example: cannot bind 127.0.0.1:8080")
        return
    finally:
        probe.close()
    admin = free_port()
    d = tempfile.mkdtemp(prefix="gw-ops-")
    p = subprocess.Popen([GATEWAYD, "--workers", "1", "--admin-address", "127.0.0.1:%d" % admin],
                         stdout=open(os.path.join(d, "out"), "w"),
                         stderr=open(os.path.join(d, "err"), "w"))
    try:
        def ready():
            c = http.client.HTTPConnection("127.0.0.1", admin, timeout=1)
            c.request("GET", "/ready")
            return c.getresponse().status == 200
        wait_for(ready, what="example gatewayd ready")
        c = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
        c.request("GET", "/config_dump")
        dump = json.loads(c.getresponse().read())
        assert dump["version"] == "example-1"
        assert dump["bound_listeners"] == {"public": "127.0.0.1:8080"}
        assert [cl["name"] for cl in dump["config"]["clusters"]] == [
            "user-service", "order-service", "payment-service", "idp", "functions", "legacy-soap",
            "echo-service", "product-service", "greeter"]
        # The example's direct response works without any upstream.
        c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=5)
        c.request("GET", "/healthz")
        r = c.getresponse()
        assert (r.status, r.read(), r.getheader("x-gateway-route")) == (200, b"ok\n", "health")
    finally:
        p.kill()
        p.wait(5)
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Admin endpoints

OPS_CONFIG = one_listener_config(head="""
version: ops-7
""", routes="""          - name: direct
            match: {{path: /direct}}
            route_filter: {{name: direct_response, config: {{status: 200, body: "hello"}}}}
          - name: api
            match: {{prefix: /api/}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: other
            match: {{prefix: /other/}}
            route_filter: {{name: router, config: {{cluster: second}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
  - name: second
    lb_policy: ROUND_ROBIN
    endpoints: [{{address: "{up0}"}}, {{address: "{up1}"}}]
""")


def test_admin_ready_config_dump_and_unknown():
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up]) as gw:
        status, body = gw.admin("GET", "/ready")
        assert (status, body) == (200, b"ready\n")
        status, body = gw.admin("GET", "/config_dump")
        assert status == 200
        dump = json.loads(body)
        assert dump["version"] == "ops-7"
        assert dump["bound_listeners"] == {"main": "127.0.0.1:%d" % gw.port}
        assert dump["config"]["version"] == "ops-7"
        assert dump["config"]["listeners"][0]["name"] == "main"
        assert dump["config"]["listeners"][0]["virtual_hosts"][0]["routes"][1]["name"] == "api"
        status, body = gw.admin("GET", "/nope")
        assert status == 404 and json.loads(body)["error"] == "not_found"


def test_metrics_count_exactly_the_requests_sent():
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up]) as gw:
        for i in range(5):
            assert gw.request("GET", "/api/ok%d" % i)[0] == 200
        for i in range(3):
            assert gw.request("GET", "/api/e", headers={"x-demo-status": "503"})[0] == 503
        for i in range(2):
            assert gw.request("GET", "/api/nf", headers={"x-demo-status": "404"})[0] == 404
        for i in range(4):
            assert gw.request("GET", "/direct")[0] == 200
        assert gw.request("GET", "/other/1")[0] == 200
        assert gw.request("GET", "/none")[0] == 404
        # Three idle keep-alive connections are open while we scrape.
        held = []
        for _ in range(3):
            c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
            c.request("GET", "/direct")
            c.getresponse().read()
            held.append(c)
        text = metrics(gw)
        total = 'gateway_requests_total'
        assert metric(text, total, 'route="api",cluster="backend",status_class="2xx"') == 5
        assert metric(text, total, 'route="api",cluster="backend",status_class="5xx"') == 3
        assert metric(text, total, 'route="api",cluster="backend",status_class="4xx"') == 2
        assert metric(text, total, 'route="api",cluster="backend",status_class="3xx"') is None
        assert metric(text, total, 'route="direct",cluster="-",status_class="2xx"') == 7
        assert metric(text, total, 'route="other",cluster="second",status_class="2xx"') == 1
        assert metric(text, total, 'route="-",cluster="-",status_class="4xx"') == 1
        all_samples = [l for l in text.splitlines() if l.startswith(total + "{")]
        assert sum(float(l.rsplit(" ", 1)[1]) for l in all_samples) == 5 + 3 + 2 + 7 + 1 + 1
        assert "# TYPE gateway_requests_total counter" in text
        # Histogram: cumulative buckets ending in +Inf == _count, per route and cluster.
        assert "# TYPE gateway_request_duration_ms histogram" in text
        lbl = 'route="api",cluster="backend"'
        buckets = re.findall(r'^gateway_request_duration_ms_bucket\{' + re.escape(lbl) +
                             r',le="([^"]+)"\} (\d+)$', text, re.M)
        assert len(buckets) >= 5 and buckets[-1][0] == "+Inf", buckets
        values = [int(v) for _, v in buckets]
        assert values == sorted(values) and values[-1] == 10, values
        les = [float(le) for le, _ in buckets[:-1]]
        assert les == sorted(les)
        assert metric(text, "gateway_request_duration_ms_count", lbl) == 10
        assert metric(text, "gateway_request_duration_ms_sum", lbl) >= 0
        # Gauges.
        assert "# TYPE gateway_downstream_connections_active gauge" in text
        # (the earlier one-shot connections may still be closing: wait for the gauge to settle)
        wait_for(lambda: metric(metrics(gw), "gateway_downstream_connections_active") == 3,
                 timeout=5, what="3 open connections")
        assert metric(text, "gateway_downstream_requests_active") == 0
        assert metric(text, "gateway_downstream_connections_total") == 5 + 3 + 2 + 4 + 1 + 1 + 3
        for c in held:
            c.close()
        wait_for(lambda: metric(metrics(gw), "gateway_downstream_connections_active") == 0,
                 timeout=5, what="connections gauge back to 0")


def test_clusters_shows_endpoints_and_active_requests():
    with Upstream() as up0, Upstream() as up1, Gateway(OPS_CONFIG, [up0, up1]) as gw:
        result = {}

        def slow():
            result["r"] = gw.request("GET", "/api/slow", headers={"x-demo-delay-ms": "800"})
        t = threading.Thread(target=slow)
        t.start()
        try:
            def active():
                data = json.loads(gw.admin("GET", "/clusters")[1])
                cl = {c["name"]: c for c in data["workers"][0]["clusters"]}
                return cl["backend"]["endpoints"][0]["active_requests"] == 1 and cl
            wait_for(active, timeout=5, what="active request visible in /clusters")
        finally:
            t.join(10)
        assert result["r"][0] == 200
        data = json.loads(gw.admin("GET", "/clusters")[1])
        cl = {c["name"]: c for c in data["workers"][0]["clusters"]}
        ep, = cl["backend"]["endpoints"]
        assert ep["address"] == up0.address
        assert (ep["active_requests"], ep["total_requests"], ep["healthy"]) == (0, 1, True)
        assert ep["idle_connections"] == ep["connections"] == 1   # pooled after the response
        assert [e["address"] for e in cl["second"]["endpoints"]] == [up0.address, up1.address]
        assert [e["weight"] for e in cl["second"]["endpoints"]] == [1, 1]


# ---------------------------------------------------------------------------------------------
# Access log

def test_access_log_one_json_line_per_request():
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up]) as gw:
        sent = []
        for i in range(4):
            status, hdrs, body = gw.request("GET", "/api/a%d" % i)
            sent.append((hdrs["x-request-id"], status, len(body)))
        status, hdrs, body = gw.request("POST", "/api/up", body=b"z" * 1000,
                                        headers={"x-demo-delay-ms": "150"})
        sent.append((hdrs["x-request-id"], status, len(body)))
        status, hdrs, body = gw.request("GET", "/direct", headers={"X-Request-Id": "client-id-1"})
        sent.append(("client-id-1", status, len(body)))
        status, hdrs, body = gw.request("GET", "/nowhere")
        sent.append((hdrs["x-request-id"], status, len(body)))
        wait_for(lambda: len(gw.access_log()) == len(sent), timeout=5, what="access log lines")
        with open(gw.stdout_path) as f:
            raw = f.read()
        assert raw.count("\n") == len(sent)            # one line each, nothing else on stdout
        log = gw.access_log()
        assert [e["request_id"] for e in log] == [s[0] for s in sent]
        for e, (rid, status, nbytes) in zip(log, sent):
            assert e["status"] == status
            assert e["bytes_sent"] == nbytes, (e, nbytes)
            assert isinstance(e["duration_ms"], (int, float)) and e["duration_ms"] >= 0
            assert e["client"] == "127.0.0.1"
        api = log[0]
        assert api["route"] == "api" and api["cluster"] == "backend"
        assert api["upstream_host"] == up.address
        assert api["method"] == "GET" and api["path"] == "/api/a0"
        assert api["bytes_received"] == 0
        post = log[4]
        assert post["method"] == "POST" and post["bytes_received"] == 1000
        # The upstream delayed 150 ms by libuv's timer, whose clock (CLOCK_MONOTONIC_COARSE) ticks
        # in steps of a few ms; gatewayd measures with steady_clock.
        assert post["duration_ms"] >= 145, post
        direct = log[5]
        assert (direct["route"], direct["cluster"], direct["upstream_host"]) == ("direct", "", "")
        assert direct["bytes_sent"] == 5
        nr = log[6]
        assert (nr["status"], nr["route"], nr.get("error")) == (404, "", "no_route")


def test_access_log_off_and_to_file():
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up], args=["--access-log", "off"]) as gw:
        for i in range(5):
            assert gw.request("GET", "/api/x")[0] == 200
        assert gw.request("GET", "/none")[0] == 404
        time.sleep(0.2)
        with open(gw.stdout_path) as f:
            assert f.read() == ""
    d = tempfile.mkdtemp(prefix="gw-ops-")
    path = os.path.join(d, "access.log")
    try:
        with Upstream() as up, Gateway(OPS_CONFIG, [up, up], args=["--access-log", path]) as gw:
            ids = [gw.request("GET", "/api/f%d" % i)[1]["x-request-id"] for i in range(3)]

            def lines():
                with open(path) as f:
                    return [json.loads(l) for l in f]
            wait_for(lambda: len(lines()) == 3, timeout=5, what="file access log")
            assert [e["request_id"] for e in lines()] == ids
            with open(gw.stdout_path) as f:
                assert f.read() == ""
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Drain

class SlowClient(threading.Thread):
    """One request on its own connection; records status, headers, body or the error."""

    def __init__(self, port, path, headers, timeout=15):
        super().__init__(daemon=True)
        self.port, self.path, self.headers, self.timeout = port, path, headers, timeout
        self.status = None
        self.hdrs = {}
        self.body = None
        self.error = None
        self.done_at = None

    def run(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            c.request("GET", self.path, headers=self.headers)
            r = c.getresponse()
            self.body = r.read()
            self.status = r.status
            self.hdrs = {k.lower(): v for k, v in r.getheaders()}
            c.close()
        except Exception as e:  # noqa: BLE001 - recorded for the assertions
            self.error = e
        self.done_at = time.time()


def wait_active_requests(gw, n):
    wait_for(lambda: metric(metrics(gw), "gateway_downstream_requests_active") == n,
             timeout=10, what="%d requests in flight" % n)


def new_connection_served(port):
    """True when a new connection gets an HTTP response; False when refused or closed."""
    try:
        s = socket.create_connection(("127.0.0.1", port), 1)
    except OSError:
        return False
    try:
        s.settimeout(2)
        s.sendall(b"GET /direct HTTP/1.1\r\nHost: a\r\n\r\n")
        data = s.recv(1024)
        return data.startswith(b"HTTP/1.1")
    except OSError:
        return False
    finally:
        s.close()


def test_drain_completes_in_flight_requests():
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up], workers=2,
                                   args=["--drain-timeout-ms", "10000",
                                         "--drain-grace", "300ms"]) as gw:
        # An idle keep-alive connection.
        idle = socket.create_connection(("127.0.0.1", gw.port), 5)
        idle.sendall(b"GET /direct HTTP/1.1\r\nHost: a\r\n\r\n")
        first = b""
        while not first.endswith(b"hello"):
            chunk = idle.recv(4096)
            assert chunk, first
            first += chunk
        assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"hello"), first
        clients = [SlowClient(gw.port, "/api/slow%d" % i, {"x-demo-delay-ms": "3000"})
                   for i in range(20)]
        for c in clients:
            c.start()
        wait_active_requests(gw, 20)
        t0 = time.time()
        gw.proc.send_signal(signal.SIGTERM)
        # /ready turns 503 at once.
        wait_for(lambda: gw.admin("GET", "/ready", timeout=1)[0] == 503, timeout=1.0,
                 interval=0.01, what="/ready 503")
        ready_503_after = time.time() - t0
        # During the grace period new connections are still served, as usual.
        assert new_connection_served(gw.port)
        # After it, the idle keep-alive connection is closed once idle for a second (a request it
        # had already sent would still be answered).
        idle.settimeout(3)
        try:
            eof = idle.recv(4096) == b""
        except ConnectionResetError:
            eof = True
        idle_closed_after = time.time() - t0
        idle.close()
        assert eof
        # New connections are refused (or closed without a response).
        time.sleep(0.3)
        assert not new_connection_served(gw.port)
        assert gw.proc.poll() is None           # still draining the 20 requests
        rc = gw.proc.wait(timeout=8)
        exited_after = time.time() - t0
        for c in clients:
            c.join(5)
        results = [(c.status, c.error) for c in clients]
        assert all(c.status == 200 and c.error is None for c in clients), results
        assert all(json.loads(c.body)["path"].startswith("/api/slow") for c in clients)
        # Responses finished while draining carry Connection: close.
        assert all(c.hdrs.get("connection") == "close" for c in clients)
        assert rc == 0, (rc, gw.stderr())
        assert ready_503_after < 0.5, ready_503_after
        assert 1.0 <= idle_closed_after < 2.0, idle_closed_after
        # Exits as soon as the last request is done (~3 s), well inside the drain timeout.
        assert exited_after < 4.5, exited_after
        assert max(c.done_at for c in clients) - t0 <= exited_after + 0.2
        assert "drained, exiting" in gw.stderr()
        print("  drain: /ready 503 after %.3fs, idle closed after %.3fs, exit after %.2fs" %
              (ready_503_after, idle_closed_after, exited_after))


def test_drain_serves_a_request_already_sent_on_an_idle_connection():
    """The request a client sends on an idle keep-alive connection just as the drain starts is
    answered (with Connection: close), not dropped."""
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up], args=["--drain-grace", "0"]) as gw:
        s = socket.create_connection(("127.0.0.1", gw.port), 5)
        s.sendall(b"GET /direct HTTP/1.1\r\nHost: a\r\n\r\n")
        first = b""
        while not first.endswith(b"hello"):
            first += s.recv(4096)
        gw.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the drain has begun: listeners closing, this connection idle
        s.sendall(b"GET /direct HTTP/1.1\r\nHost: a\r\n\r\n")
        s.settimeout(3)
        second = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            second += chunk
        s.close()
        assert second.startswith(b"HTTP/1.1 200"), second
        assert b"connection: close" in second.lower(), second
        assert gw.proc.wait(timeout=5) == 0


def test_drain_under_load_loses_no_request():
    """wrk with 20 keep-alive connections across a SIGTERM: every request written is answered
    (0 read errors); connections made after the listeners close are refused (connect errors)."""
    if shutil.which("wrk") is None:
        raise AssertionError("wrk is not installed (tools/setup installs it)")
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up], workers=2,
                                   args=["--drain-grace", "1s",
                                         "--access-log", "off"]) as gw:
        wrk = subprocess.Popen(["wrk", "-t2", "-c20", "-d6s", "--timeout", "3s",
                                "http://127.0.0.1:%d/api/load" % gw.port],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(3)
        gw.proc.send_signal(signal.SIGTERM)
        rc = gw.proc.wait(timeout=10)
        out, _ = wrk.communicate(timeout=20)
        assert rc == 0, gw.stderr()
        m = re.search(r"(\d+) requests in", out)
        assert m and int(m.group(1)) > 1000, out
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                           r"timeout (\d+)", out)
        # A read error is a request written and never answered (a connection closed or reset
        # under it): what this test is about. wrk counts a refused connection as a write error
        # (it does not check the outcome of its non-blocking connect, and its first write fails):
        # those are the connections it keeps retrying after the listeners closed.
        read_errors = int(errors.group(2)) if errors else 0
        timeouts = int(errors.group(4)) if errors else 0
        print("  wrk across SIGTERM: %s requests, %s" %
              (m.group(1), errors.group(0) if errors else "no socket errors"))
        assert read_errors == 0, out
        assert timeouts == 0, out
        # Non-2xx answers would mean requests were refused by the gateway itself.
        assert "Non-2xx" not in out, out


def test_admin_drain_endpoint():
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up], args=["--drain-grace", "0"]) as gw:
        c = SlowClient(gw.port, "/api/slow", {"x-demo-delay-ms": "700"})
        c.start()
        wait_active_requests(gw, 1)
        t0 = time.time()
        status, body = gw.admin("POST", "/drain")
        assert (status, body) == (200, b"draining\n")
        assert gw.admin("GET", "/ready")[0] == 503
        rc = gw.proc.wait(timeout=5)    # exits once the request is done
        assert rc == 0
        c.join(5)
        assert c.status == 200 and c.hdrs.get("connection") == "close", (c.status, c.error)
        assert time.time() - t0 < 2.0
    # With nothing in flight it exits at once.
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up], args=["--drain-grace", "0"]) as gw:
        assert gw.admin("POST", "/drain")[0] == 200
        assert gw.proc.wait(timeout=2) == 0


def test_second_sigterm_exits_immediately():
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up]) as gw:
        c = SlowClient(gw.port, "/api/slow", {"x-demo-delay-ms": "10000"})
        c.start()
        wait_active_requests(gw, 1)
        gw.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: gw.admin("GET", "/ready", timeout=1)[0] == 503, timeout=1,
                 what="draining")
        time.sleep(0.1)
        assert gw.proc.poll() is None
        t0 = time.time()
        gw.proc.send_signal(signal.SIGTERM)
        rc = gw.proc.wait(timeout=2)
        elapsed = time.time() - t0
        assert elapsed < 0.5, elapsed
        assert rc != 0
        c.join(5)
        assert c.status is None and c.error is not None    # the slow request was cut off


def test_drain_timeout_cuts_long_requests():
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up],
                                   args=["--drain-timeout-ms", "500"]) as gw:
        c = SlowClient(gw.port, "/api/slow", {"x-demo-delay-ms": "5000"})
        c.start()
        wait_active_requests(gw, 1)
        t0 = time.time()
        gw.proc.send_signal(signal.SIGTERM)
        rc = gw.proc.wait(timeout=3)
        elapsed = time.time() - t0
        assert 0.4 <= elapsed < 1.2, elapsed
        assert "drain timeout reached" in gw.stderr()
        c.join(5)
        assert not c.is_alive()
        assert c.status is None and c.error is not None
        print("  drain timeout 500 ms: exit after %.2fs (rc %d)" % (elapsed, rc))


# ---------------------------------------------------------------------------------------------
# Workers

def test_two_workers_serve_many_connections():
    with Upstream() as up, Gateway(OPS_CONFIG, [up, up], workers=2) as gw:
        n = 60
        results = []
        lock = threading.Lock()

        def one(i):
            r = gw.request("GET", "/api/w%d" % i)
            with lock:
                results.append(r[0])
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        assert results == [200] * n, results
        data = json.loads(gw.admin("GET", "/clusters")[1])
        assert len(data["workers"]) == 2
        per_worker = []
        for w in data["workers"]:
            cl = {c["name"]: c for c in w["clusters"]}
            per_worker.append(cl["backend"]["endpoints"][0]["total_requests"])
        assert sum(per_worker) == n and all(v > 0 for v in per_worker), per_worker
        # A short wrk burst: every response is a 2xx, no socket errors.
        assert shutil.which("wrk"), "wrk missing (tools/setup installs it)"
        p = subprocess.run(["wrk", "-t2", "-c16", "-d1s",
                            "http://127.0.0.1:%d/api/wrk" % gw.port],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        out = p.stdout.decode()
        assert p.returncode == 0, out
        assert "Non-2xx" not in out and "Socket errors" not in out, out
        reqs = int(re.search(r"(\d+) requests in", out).group(1))
        assert reqs > 100, out
        text = metrics(gw)
        ok = metric(text, "gateway_requests_total",
                    'route="api",cluster="backend",status_class="2xx"')
        assert ok >= n + reqs, (ok, n, reqs)


def test_open_files_limit_raised_to_hard_limit():
    """Started with a soft limit of 256 descriptors, gatewayd raises it to the hard limit and holds
    600 concurrent keep-alive connections (each answered, all still open at the end)."""
    assert shutil.which("prlimit"), "prlimit missing (util-linux; tools/setup installs it)"
    with Gateway(SIMPLE_CONFIG.replace("{up0}", "127.0.0.1:1"),
                 prefix=["prlimit", "--nofile=256:4096"]) as gw:
        with open("/proc/%d/limits" % gw.proc.pid) as f:
            line = next(l for l in f if l.startswith("Max open files"))
        assert line.split()[3:5] == ["4096", "4096"], line
        socks = []
        try:
            for _ in range(600):
                s = socket.create_connection(("127.0.0.1", gw.port), 5)
                s.sendall(b"GET /direct HTTP/1.1\r\nHost: x\r\n\r\n")
                socks.append(s)
            for s in socks:
                s.settimeout(5)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = s.recv(4096)
                    assert chunk, "connection closed without a response"
                    head += chunk
                assert head.startswith(b"HTTP/1.1 200"), head[:40]
            text = metrics(gw)
            assert metric(text, "gateway_downstream_connections_active") >= 600, text
        finally:
            for s in socks:
                s.close()


def _environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)


def test_malloc_thread_cache_enlarged_unless_the_operator_set_it():
    """gatewayd re-executes itself once with glibc's per-thread malloc cache enlarged (the
    allocation slow path cost ~2,000 instructions per request); it keeps the same pid, serves
    normally, and leaves an operator's own GLIBC_TUNABLES or GATEWAYD_MALLOC_DEFAULTS alone."""
    base = dict(os.environ)
    for k in ("GLIBC_TUNABLES", "GATEWAYD_MALLOC_DEFAULTS"):
        base.pop(k, None)
    cases = [
        (dict(base), b"glibc.malloc.tcache_count=128"),
        (dict(base, GLIBC_TUNABLES="glibc.malloc.mxfast=64"), b"glibc.malloc.mxfast=64"),
        (dict(base, GLIBC_TUNABLES="glibc.malloc.tcache_count=7"), b"glibc.malloc.tcache_count=7"),
        (dict(base, GATEWAYD_MALLOC_DEFAULTS="1"), None),
    ]
    for env, want in cases:
        with Gateway(SIMPLE_CONFIG.replace("{up0}", "127.0.0.1:1"), env=env) as gw:
            got = _environ(gw.proc.pid).get(b"GLIBC_TUNABLES")
            assert got == want, (env.get("GLIBC_TUNABLES"), got)
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
            conn.request("GET", "/direct")
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            conn.close()

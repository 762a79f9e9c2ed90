"""Active health checks, outlier ejection and the panic threshold, with real processes: two
demo_upstream instances behind one cluster, gatewayd with 2 workers, clients on real sockets.
The state is observed through /clusters, /metrics, gatewayctl and the log lines."""
import http.client
import json
import re
import subprocess
import threading
import time

from harness import GATEWAYCTL, Gateway, Upstream, one_listener_config, wait_for

class SamePortUpstream(Upstream):
    """A demo_upstream on a given port (to bring an instance back where it was)."""

    def __init__(self, port, service="svc", instance=None, args=()):
        super().__init__(service, instance, args)
        self.port = port
        self.instance = instance or "%s-%d" % (service, port)


def config(cluster_extra, endpoints=("{up0}", "{up1}")):
    eps = ", ".join('{{address: "%s"}}' % e for e in endpoints)
    return one_listener_config(routes="""          - name: api
            match: {{prefix: /}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
""", tail="""clusters:
  - name: backend
    endpoints: [""" + eps + """]
""" + cluster_extra)


def clusters(gw):
    """backend's endpoints from /clusters (worker 0; health is the same on every worker)."""
    status, body = gw.admin("GET", "/clusters")
    assert status == 200, body
    doc = json.loads(body)
    per_worker = []
    for w in doc["workers"]:
        for c in w["clusters"]:
            if c["name"] == "backend":
                per_worker.append(c)
    assert per_worker, doc
    # Process-wide health: every worker shows the same flags.
    first = [(e["address"], e["healthy"], e["unhealthy_reasons"]) for e in per_worker[0]["endpoints"]]
    for c in per_worker[1:]:
        assert [(e["address"], e["healthy"], e["unhealthy_reasons"])
                for e in c["endpoints"]] == first, doc
    return per_worker[0]


def endpoint(gw, address):
    for e in clusters(gw)["endpoints"]:
        if e["address"] == address:
            return e
    raise AssertionError("no endpoint " + address)


def metrics(gw):
    status, body = gw.admin("GET", "/metrics")
    assert status == 200
    return body.decode()


def metric(text, name, labels):
    m = re.search(r"^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return int(m.group(1)) if m else None


class Load:
    """Client threads sending GET / back to back on fresh connections; records (time, status,
    instance) per request. Every request is bounded by a 5 s timeout."""

    def __init__(self, port, threads=4):
        self.port = port
        self.results = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self):
        while not self.stop.is_set():
            t0 = time.time()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/load")
                r = c.getresponse()
                r.read()
                status, inst = r.status, r.getheader("x-demo-instance")
                c.close()
            except Exception as e:  # a hang or a broken connection is a failure too
                status, inst = "exc:%s" % type(e).__name__, None
            with self.lock:
                self.results.append((t0, time.time(), status, inst))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(10)
            assert not t.is_alive(), "a client thread hung"


HC = """    health_check:
      path: /healthz
      interval: 0.1s
      timeout: 0.5s
      healthy_threshold: 2
      unhealthy_threshold: 2
"""


def test_active_health_check_kill_one_under_load_then_it_rejoins():
    with Upstream("svc", "a") as a, Upstream("svc", "b") as b, \
            Gateway(config(HC), [a, b], workers=2) as gw:
        wait_for(lambda: all(e["healthy"] for e in clusters(gw)["endpoints"]), what="both healthy")
        wait_for(lambda: metric(metrics(gw), "gateway_health_checks_total",
                                'cluster="backend",result="success"') >= 4,
                 what="health checks running")
        with Load(gw.port) as load:
            time.sleep(1.0)
            killed = time.time()
            b.proc.kill()
            b.proc.wait(5)
            wait_for(lambda: endpoint(gw, b.address)["unhealthy_reasons"] == ["active_check"],
                     timeout=5, interval=0.01, what="b marked unhealthy by the active check")
            detected = time.time()
            time.sleep(1.5)
        res = load.results
        before = [r for r in res if r[1] < killed]
        after = [r for r in res if r[0] > detected + 0.05]
        window = [r for r in res if r not in before and r not in after]
        assert {r[3] for r in before if r[2] == 200} == {"a", "b"}, before[-10:]
        assert all(r[2] == 200 for r in before), [r for r in before if r[2] != 200]
        # Once the check marked b unhealthy (2 failed checks, 0.1 s apart), nothing fails and
        # everything goes to a.
        assert len(after) > 50, len(after)
        assert all(r[2] == 200 and r[3] == "a" for r in after), \
            [r for r in after if r[2] != 200 or r[3] != "a"][:10]
        # Only requests in the detection window may have failed, and each with a typed error
        # status, never a hang.
        failed = [r for r in window if r[2] != 200]
        print("  detected after %.0f ms; %d of %d requests in that window failed" %
              ((detected - killed) * 1000, len(failed), len(window)))
        assert detected - killed < 1.5, detected - killed
        assert all(r[2] in (502, 503) for r in failed), failed[:10]
        err = gw.stderr()
        assert re.search(r"health check: cluster 'backend' endpoint %s unhealthy \(connect: "
                         r"connection refused\)" % re.escape(b.address), err), err

        # Bring b back on the same port: it rejoins through the health checks.
        with SamePortUpstream(b.port, "svc", "b"):
            wait_for(lambda: endpoint(gw, b.address)["healthy"], timeout=5, what="b healthy again")
            assert re.search(r"endpoint %s healthy \(status 200\)" % re.escape(b.address),
                             gw.stderr())
            seen = set()
            for _ in range(20):
                status, headers, _ = gw.request("GET", "/x")
                assert status == 200
                seen.add(headers.get("x-demo-instance"))
            assert seen == {"a", "b"}, seen
            m = metrics(gw)
            assert metric(m, "gateway_upstream_host_healthy",
                          'cluster="backend",endpoint="%s"' % b.address) == 1
            assert metric(m, "gateway_health_checks_total",
                          'cluster="backend",result="failure"') >= 2
            assert metric(m, "gateway_cluster_panic", 'cluster="backend"') == 0


def test_health_check_expected_statuses_host_header_and_thresholds():
    # b answers every request with 503: unhealthy from its first check; a passes.
    hc = HC.replace("unhealthy_threshold: 2", "unhealthy_threshold: 3") + \
        '      host: health.backend.internal\n      expected_statuses: ["200-299"]\n'
    with Upstream("svc", "a") as a, Upstream("svc", "b", args=["--fail-status", "503"]) as b, \
            Gateway(config(hc), [a, b]) as gw:
        wait_for(lambda: endpoint(gw, b.address)["unhealthy_reasons"] == ["active_check"],
                 what="b unhealthy (503 not expected)")
        assert endpoint(gw, a.address)["healthy"]
        assert "endpoint %s unhealthy (status 503)" % b.address in gw.stderr()
        for _ in range(10):
            status, headers, _ = gw.request("GET", "/x")
            assert (status, headers.get("x-demo-instance")) == (200, "a")
        m = metrics(gw)
        assert metric(m, "gateway_upstream_host_healthy",
                      'cluster="backend",endpoint="%s"' % b.address) == 0
        assert metric(m, "gateway_upstream_host_healthy",
                      'cluster="backend",endpoint="%s"' % a.address) == 1
        # gatewayctl shows the reason.
        out = subprocess.run([GATEWAYCTL, "--proxy", "127.0.0.1:%d" % gw.grpc_port, "proxy",
                              "clusters"], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        lines = {w: l for l in out.stdout.splitlines() if "backend" in l
                 for w in l.split() if w.startswith("127.0.0.1:")}
        assert "no (active_check)" in lines[b.address], out.stdout
        assert re.search(r"\byes\b", lines[a.address]), out.stdout


def test_health_check_sends_path_host_and_user_agent():
    # A raw listener standing in for an endpoint: records the check request and answers 200.
    import socket
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(5)
    port = srv.getsockname()[1]
    hc = HC.replace("interval: 0.1s", "interval: 5s") + "      host: health.internal\n" + \
        "      method: HEAD\n"
    with Gateway(config(hc, endpoints=("127.0.0.1:%d" % port,)), []) as gw:
        conn, _ = srv.accept()
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        conn.close()
        srv.close()
        head = data.decode().lower()
        assert head.startswith("head /healthz http/1.1\r\n"), head
        assert "\r\nhost: health.internal\r\n" in head
        assert "\r\nuser-agent: gatewayd-health\r\n" in head
        assert "\r\nconnection: close\r\n" in head
        assert endpoint(gw, "127.0.0.1:%d" % port)["healthy"]


def test_health_check_timeout_marks_unhealthy():
    # An endpoint that accepts and never answers: the check times out.
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    port = srv.getsockname()[1]
    try:
        hc = HC.replace("timeout: 0.5s", "timeout: 0.2s")
        with Upstream("svc", "a") as a, \
                Gateway(config(hc, endpoints=("{up0}", "127.0.0.1:%d" % port)), [a]) as gw:
            wait_for(lambda: not endpoint(gw, "127.0.0.1:%d" % port)["healthy"], timeout=5,
                     what="silent endpoint unhealthy")
            assert "unhealthy (timeout after 200 ms)" in gw.stderr()
    finally:
        srv.close()


def test_no_healthy_upstream_is_503_json_not_panic():
    """With no healthy endpoint at all the cluster is not in panic (unlike Envoy): 503 JSON
    no_healthy_upstream, with the default threshold and with panic mode off."""
    hc = HC + '      expected_statuses: ["204"]\n'  # the demo answers 200: every check fails
    for extra in ("", "    panic_threshold_percent: 0\n"):
        with Upstream("svc", "a") as a, Upstream("svc", "b") as b, \
                Gateway(config(hc + extra), [a, b]) as gw:
            wait_for(lambda: not any(e["healthy"] for e in clusters(gw)["endpoints"]),
                     what="both unhealthy")
            before = a.stats()["requests"] + b.stats()["requests"]
            status, headers, body = gw.request("GET", "/x", headers={"x-request-id": "hc-1"})
            assert status == 503, body
            assert headers["content-type"] == "application/json"
            err = json.loads(body)
            assert err["error"] == "no_healthy_upstream", err
            assert err["request_id"] == "hc-1"
            assert metric(metrics(gw), "gateway_cluster_panic", 'cluster="backend"') == 0
            assert clusters(gw)["panic"] is False
            # Health checks may have run meanwhile, but no request reached an upstream.
            assert a.stats()["requests"] + b.stats()["requests"] - before <= 4


def test_panic_threshold_balances_across_all_hosts():
    """1 of 3 endpoints healthy (33% < the default 50%): panic, traffic goes to all three."""
    hc = HC + '      expected_statuses: ["204"]\n'  # only the instance answering 204 passes
    with Upstream("svc", "a", args=["--fail-status", "204"]) as a, Upstream("svc", "b") as b, \
            Upstream("svc", "c") as c, \
            Gateway(config(hc, endpoints=("{up0}", "{up1}", "{up2}")), [a, b, c]) as gw:
        wait_for(lambda: [e["healthy"] for e in clusters(gw)["endpoints"]] == [True, False, False],
                 what="b and c unhealthy")
        wait_for(lambda: metric(metrics(gw), "gateway_cluster_panic", 'cluster="backend"') == 1,
                 what="panic metric")
        assert clusters(gw)["panic"] is True
        assert "cluster 'backend' in panic mode: 1 of 3 endpoints healthy" in gw.stderr()
        seen = set()
        for _ in range(30):
            status, headers, body = gw.request("GET", "/x")
            assert status in (200, 204), body
            seen.add(headers.get("x-demo-instance"))
        assert seen == {"a", "b", "c"}, seen


OUTLIER = """    outlier_detection:
      consecutive_5xx: 3
      base_ejection_time: 1s
      max_ejection_percent: 50
      interval: 0.1s
"""


def test_outlier_ejection_moves_traffic_and_the_host_returns():
    with Upstream("svc", "a") as a, Upstream("svc", "b", args=["--fail-status", "500"]) as b, \
            Gateway(config(OUTLIER), [a, b], workers=2) as gw:
        statuses = []
        for _ in range(40):
            status, headers, _ = gw.request("GET", "/x")
            statuses.append((status, headers.get("x-demo-instance")))
        # b answered 500 until its third in a row, then it was ejected: at most 3 of its 500s
        # reached clients, and the last requests all went to a.
        assert sum(1 for s in statuses if s[0] == 500) <= 3, statuses
        assert all(s == (200, "a") for s in statuses[-20:]), statuses
        e = endpoint(gw, b.address)
        assert e["unhealthy_reasons"] == ["outlier"], e
        assert e["outlier_ejections"] == 1 and e["ejected_remaining_ms"] > 0, e
        assert metric(metrics(gw), "gateway_outlier_ejections_total", 'cluster="backend"') == 1
        assert re.search(r"outlier: cluster 'backend' endpoint %s ejected for 1000 ms "
                         r"\(3 consecutive 5xx\)" % re.escape(b.address), gw.stderr())
        # Fix b (same port) and wait out the ejection: it returns without any request arriving.
        b.proc.kill()
        b.proc.wait(5)
        with SamePortUpstream(b.port, "svc", "b"):
            wait_for(lambda: endpoint(gw, b.address)["healthy"], timeout=3,
                     what="b back after its ejection time")
            assert "endpoint %s back in rotation" % b.address in gw.stderr()
            seen = set()
            for _ in range(20):
                status, headers, _ = gw.request("GET", "/x")
                assert status == 200
                seen.add(headers.get("x-demo-instance"))
            assert seen == {"a", "b"}, seen


def test_kill_under_load_with_outlier_detection_fails_only_in_flight_then_rejoins():
    extra = HC.replace("interval: 0.1s", "interval: 0.5s") + \
        OUTLIER.replace("consecutive_5xx: 3", "consecutive_gateway_failure: 1")
    with Upstream("svc", "a") as a, Upstream("svc", "b") as b, \
            Gateway(config(extra), [a, b], workers=2) as gw:
        threads = 4
        again = SamePortUpstream(b.port, "svc", "b")
        try:
            with Load(gw.port, threads=threads) as load:
                time.sleep(1.0)
                b.proc.kill()
                b.proc.wait(5)
                time.sleep(1.5)
                # Back on the same port, still under load: it rejoins through the health checks.
                again.__enter__()
                wait_for(lambda: endpoint(gw, b.address)["healthy"], timeout=8,
                         what="b healthy again")
                back = time.time()
                time.sleep(1.0)
        finally:
            again.__exit__()
        failed = [r for r in load.results if r[2] != 200]
        print("  %d of %d requests failed" % (len(failed), len(load.results)))
        # At most the requests in flight to b when it died (one per client, and per worker a
        # connect failure racing the ejection) fail; none after, and none while it rejoins.
        assert len(failed) <= threads * 2, failed
        last_fail = max((r[1] for r in failed), default=0)
        assert all(r[2] == 200 for r in load.results if r[0] > last_fail)
        assert last_fail < back
        rejoined = [r for r in load.results if r[0] > back + 0.1]
        assert {r[3] for r in rejoined} == {"a", "b"}, len(rejoined)
        assert endpoint(gw, b.address)["outlier_ejections"] >= 1

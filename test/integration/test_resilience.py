"""Circuit breakers, fallbacks, retries and retry budgets through a real gatewayd and real demo
upstreams (docs/resilience.md)."""
import json
import re
import subprocess
import threading
import time
from contextlib import ExitStack

from harness import DEMO_UPSTREAM, GATEWAYCTL, Gateway, Upstream, free_port, one_listener_config, wait_for


def circuit_state(gw, cluster, route=None):
    """The gateway_circuit_state value of a breaker in /metrics (None when absent)."""
    _, body = gw.admin("GET", "/metrics")
    labels = 'cluster="%s"' % cluster
    if route is not None:
        labels += ',route="%s"' % route
    m = re.search(r'^gateway_circuit_state\{%s\} (\d+)$' % re.escape(labels), body.decode(),
                  re.M)
    return int(m.group(1)) if m else None


def log_entries(gw, n):
    """The access log once it holds n entries (it is flushed once per loop iteration, a moment
    after the response left)."""
    wait_for(lambda: len(gw.access_log()) >= n, timeout=5, what="%d access log entries" % n)
    return gw.access_log()


def metric(gw, name):
    _, body = gw.admin("GET", "/metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(name), body.decode(), re.M)
    return int(m.group(1)) if m else None


BREAKER_CONFIG = one_listener_config(routes="""          - name: orders
            match: {{prefix: /orders}}
            route_filter:
              name: router
              config:
                cluster: orders
                fallback:
                  response:
                    status: 200
                    headers: {{content-type: application/json}}
                    body: '{{"orders":[],"degraded":true}}'
          - name: plain
            match: {{prefix: /plain}}
            route_filter: {{name: router, config: {{cluster: orders}}}}
          - name: other
            match: {{prefix: /other}}
            route_filter:
              name: router
              config:
                cluster: orders
                fallback: {{cluster: spare}}
""", tail="""clusters:
  - name: orders
    endpoints: [{{address: "{up0}"}}]
    circuit_breaker:
      consecutive_failures: 3
      open_duration: 1s
      max_open_duration: 4s
  - name: spare
    endpoints: [{{address: "{up1}"}}]
""")


def test_breaker_opens_serves_the_fallback_and_recovers_by_itself():
    with ExitStack() as st:
        up = st.enter_context(Upstream("orders"))
        spare = st.enter_context(Upstream("spare"))
        gw = st.enter_context(Gateway(BREAKER_CONFIG, [up, spare]))
        assert circuit_state(gw, "orders") == 0
        for _ in range(3):
            status, hdrs, _ = gw.request("GET", "/orders/1", {"x-demo-status": "503"})
            assert status == 503 and "x-gateway-fallback" not in hdrs
        assert circuit_state(gw, "orders") == 1
        before = up.stats()["requests"]
        # Open: nothing reaches the upstream; the route's fallback answers, marked.
        status, hdrs, body = gw.request("GET", "/orders/1")
        assert status == 200, body
        assert hdrs["x-gateway-fallback"] == "circuit_open"
        assert json.loads(body) == {"orders": [], "degraded": True}
        # A route without a fallback of its own gets the 503 JSON error with Retry-After.
        status, hdrs, body = gw.request("GET", "/plain/1")
        assert status == 503
        assert json.loads(body)["error"] == "circuit_open"
        assert hdrs["x-gateway-fallback"] == "circuit_open"
        assert 1 <= int(hdrs["retry-after"]) <= 1
        # A fallback cluster serves the request, marked.
        status, hdrs, body = gw.request("GET", "/other/1")
        assert status == 200 and json.loads(body)["service"] == "spare"
        assert hdrs["x-gateway-fallback"] == "circuit_open"
        assert up.stats()["requests"] == before
        # The open time passes: half-open in /metrics, and the next request is the probe.
        wait_for(lambda: circuit_state(gw, "orders") == 2, timeout=3, what="half-open")
        status, hdrs, body = gw.request("GET", "/orders/1")
        assert status == 200 and "x-gateway-fallback" not in hdrs
        assert json.loads(body)["service"] == "orders"
        assert circuit_state(gw, "orders") == 0
        _, body = gw.admin("GET", "/metrics")
        assert re.search(r'^gateway_circuit_opened_total\{cluster="orders"\} 1$', body.decode(),
                         re.M)
        assert "circuit breaker 'orders' closed -> open" in gw.stderr()
        assert "circuit breaker 'orders' half_open -> closed" in gw.stderr()


def test_open_breaker_in_gatewayctl_clusters_and_explain():
    with ExitStack() as st:
        up = st.enter_context(Upstream("orders"))
        spare = st.enter_context(Upstream("spare"))
        gw = st.enter_context(Gateway(BREAKER_CONFIG, [up, spare]))

        def ctl(*args):
            p = subprocess.run([GATEWAYCTL, "--proxy", "127.0.0.1:%d" % gw.grpc_port] + list(args),
                               capture_output=True, text=True, timeout=30)
            return p.stdout + p.stderr

        out = ctl("proxy", "explain", "GET", "http://x/orders/1")
        assert "cluster circuit breaker 'orders': closed" in out, out
        assert re.search(r"^orders\s+round_robin\s+closed\s+", ctl("proxy", "clusters"), re.M)
        for _ in range(3):
            gw.request("GET", "/orders/1", {"x-demo-status": "502"})
        out = ctl("proxy", "clusters")
        assert re.search(r"^orders\s+round_robin\s+open \([01]\.\ds left\)\s+127", out, re.M), out
        assert re.search(r"^spare\s+round_robin\s+-\s+127", out, re.M), out
        out = ctl("proxy", "explain", "GET", "http://x/orders/1")
        assert "cluster circuit breaker 'orders': open" in out, out
        assert "the fallback response 200" in out, out
        out = ctl("proxy", "explain", "GET", "http://x/plain/1")
        assert "503 circuit_open with Retry-After" in out, out


def test_a_failed_probe_reopens_for_longer():
    with ExitStack() as st:
        up = st.enter_context(Upstream("orders"))
        spare = st.enter_context(Upstream("spare"))
        gw = st.enter_context(Gateway(BREAKER_CONFIG, [up, spare]))
        for _ in range(3):
            gw.request("GET", "/plain/1", {"x-demo-status": "500"})
        wait_for(lambda: circuit_state(gw, "orders") == 2, timeout=3, what="half-open")
        status, _, _ = gw.request("GET", "/plain/1", {"x-demo-status": "500"})  # the probe fails
        assert status == 500
        assert circuit_state(gw, "orders") == 1
        status, hdrs, _ = gw.request("GET", "/plain/1")
        assert status == 503 and int(hdrs["retry-after"]) == 2  # 1 s doubled
        _, body = gw.admin("GET", "/clusters")
        text = body.decode()
        assert '"circuit":{"state":"open"' in text


def test_a_flapping_upstream_opens_and_closes_the_breaker():
    """The upstream fails (every request 503) for a while, then recovers, then fails again: the
    breaker follows it, and the fallback answers while it is open."""
    port = free_port()

    def start(fail):
        args = [DEMO_UPSTREAM, "--port", str(port), "--service", "orders", "--quiet"]
        if fail:
            args += ["--fail-status", "503"]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: __import__("socket").create_connection(("127.0.0.1", port), 0.2).close()
                 or True, what="upstream")
        return p

    procs = []
    try:
        with ExitStack() as st:
            spare = st.enter_context(Upstream("spare"))
            gw = st.enter_context(Gateway(BREAKER_CONFIG, ["127.0.0.1:%d" % port, spare]))
            for cycle in range(2):
                procs.append(start(fail=True))
                seen = []
                for _ in range(6):
                    status, hdrs, _ = gw.request("GET", "/orders/1")
                    seen.append(hdrs.get("x-gateway-fallback", status))
                assert seen[:3] == [503, 503, 503], seen
                assert seen[3:] == ["circuit_open"] * 3, seen
                procs[-1].kill()
                procs[-1].wait(5)
                procs.append(start(fail=False))
                wait_for(lambda: circuit_state(gw, "orders") == 2, timeout=10, what="half-open")
                status, hdrs, body = gw.request("GET", "/orders/1")
                assert status == 200 and "x-gateway-fallback" not in hdrs, (cycle, hdrs)
                assert circuit_state(gw, "orders") == 0
                procs[-1].kill()
                procs[-1].wait(5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)


RETRY_CONFIG = one_listener_config(routes="""          - name: retry
            match: {{prefix: /retry}}
            route_filter:
              name: router
              config:
                cluster: pair
                retry_policy:
                  retry_on: [connect-failure, reset, retriable-status-codes]
                  retriable_status_codes: [503]
                  num_retries: 2
                  backoff_base_interval: 0.005s
          - name: posts
            match: {{prefix: /post-retry}}
            route_filter:
              name: router
              config:
                cluster: pair
                retry_policy:
                  retry_on: [5xx]
                  retry_non_idempotent: true
                  replay_buffer_bytes: 1024
          - name: pertry
            match: {{prefix: /slow}}
            route_filter:
              name: router
              config:
                cluster: single
                retry_policy:
                  retry_on: [5xx]
                  num_retries: 1
                  per_try_timeout: 0.3s
          - name: noretry
            match: {{prefix: /plain}}
            route_filter: {{name: router, config: {{cluster: pair}}}}
""", tail="""clusters:
  - name: pair
    endpoints: [{{address: "{up0}"}}, {{address: "{up1}"}}]
  - name: single
    endpoints: [{{address: "{up2}"}}]
""")


def test_retries_go_to_the_other_host_after_a_connect_failure():
    dead = "127.0.0.1:%d" % free_port()  # nothing listens there
    with ExitStack() as st:
        live = st.enter_context(Upstream("live"))
        single = st.enter_context(Upstream("single"))
        gw = st.enter_context(Gateway(RETRY_CONFIG, [dead, live, single]))
        for _ in range(10):
            status, _, body = gw.request("GET", "/retry/x")
            assert status == 200, body
            assert json.loads(body)["service"] == "live"
        # Without a retry policy, half the requests hit the dead endpoint.
        statuses = [gw.request("GET", "/plain/x")[0] for _ in range(10)]
        assert 502 in statuses and 200 in statuses
        retried = [r for r in log_entries(gw, 20) if r.get("upstream_attempts", 1) > 1]
        assert retried, "no retried request in the access log"
        r = retried[0]
        assert r["status"] == 200 and r["route"] == "retry"
        hosts = r["upstream_hosts"].split(",")
        assert hosts[0] == dead and hosts[-1] == live.address and len(hosts) == r["upstream_attempts"]


def test_retriable_status_is_retried_with_the_attempt_count_upstream():
    with ExitStack() as st:
        a = st.enter_context(Upstream("a", args=["--fail-status", "503"]))
        b = st.enter_context(Upstream("b"))
        single = st.enter_context(Upstream("single"))
        gw = st.enter_context(Gateway(RETRY_CONFIG, [a, b, single]))
        for _ in range(6):
            status, _, body = gw.request("GET", "/retry/x", {"x-gateway-attempt-count": "9"})
            assert status == 200, body
            seen = json.loads(body)
            assert seen["service"] == "b"
            count = seen["headers"]["x-gateway-attempt-count"]
            assert count in ("1", "2")  # the client's copy never passes
        # Both fail: the last response (503) goes out after 1 + 2 attempts.
        status, _, body = gw.request("GET", "/retry/x", {"x-demo-status": "503"})
        assert status == 503
        last = log_entries(gw, 7)[-1]
        assert last["upstream_attempts"] == 3
        assert metric(gw, "gateway_upstream_retries_exhausted_total") >= 1


def test_post_is_retried_only_when_the_route_opts_in_and_the_body_fits():
    with ExitStack() as st:
        a = st.enter_context(Upstream("a", args=["--fail-status", "500"]))
        b = st.enter_context(Upstream("b", args=["--fail-status", "500"]))
        single = st.enter_context(Upstream("single"))
        gw = st.enter_context(Gateway(RETRY_CONFIG, [a, b, single]))
        # /retry has no retry_non_idempotent: a POST is sent once.
        before = a.stats()["requests"] + b.stats()["requests"]
        status, _, _ = gw.request("POST", "/retry/x", {"x-demo-status": "503"}, body=b"abc")
        assert status == 503
        assert a.stats()["requests"] + b.stats()["requests"] - before == 1
        # /post-retry opts in: the body is replayed whole on the retry.
        before = a.stats()["requests"] + b.stats()["requests"]
        body = b"x" * 500
        status, _, data = gw.request("POST", "/post-retry/x", body=body)
        assert status == 500
        assert a.stats()["requests"] + b.stats()["requests"] - before == 2
        assert json.loads(data)["body_bytes"] == 500
        # A body over the replay buffer (1024 bytes) is not retried.
        before = a.stats()["requests"] + b.stats()["requests"]
        status, _, data = gw.request("POST", "/post-retry/x", body=b"y" * 4000)
        assert status == 500 and json.loads(data)["body_bytes"] == 4000
        assert a.stats()["requests"] + b.stats()["requests"] - before == 1


def test_per_try_timeout_retries_then_gives_504():
    with ExitStack() as st:
        a = st.enter_context(Upstream("a"))
        b = st.enter_context(Upstream("b"))
        single = st.enter_context(Upstream("single"))
        gw = st.enter_context(Gateway(RETRY_CONFIG, [a, b, single]))
        t0 = time.time()
        status, _, body = gw.request("GET", "/slow/x", {"x-demo-delay-ms": "2000"})
        elapsed = time.time() - t0
        assert status == 504, body
        assert json.loads(body)["error"] == "upstream_timeout"
        assert 0.55 <= elapsed < 1.5, elapsed  # two attempts of 0.3 s and a short backoff
        assert log_entries(gw, 1)[-1]["upstream_attempts"] == 2
        assert metric(gw, "gateway_upstream_per_try_timeouts_total") == 2
        status, _, _ = gw.request("GET", "/slow/x", {"x-demo-delay-ms": "50"})
        assert status == 200


BUDGET_CONFIG = one_listener_config(routes="""          - name: retry
            match: {{prefix: /}}
            route_filter:
              name: router
              config:
                cluster: pair
                retry_policy:
                  retry_on: [retriable-status-codes]
                  retriable_status_codes: [503]
                  num_retries: 3
                  backoff_base_interval: 0.2s
                  backoff_max_interval: 0.2s
""", tail="""clusters:
  - name: pair
    endpoints: [{{address: "{up0}"}}, {{address: "{up1}"}}]
    retry_budget: {{budget_percent: 10, min_retry_concurrency: 2}}
""")


def test_retry_budget_stops_a_retry_storm():
    """20 concurrent requests that all fail: at most min_retry_concurrency (2) retries may be in
    flight at once (10% of 20 active is 2 as well); the rest are refused and counted."""
    with ExitStack() as st:
        a = st.enter_context(Upstream("a", args=["--fail-status", "503"]))
        b = st.enter_context(Upstream("b", args=["--fail-status", "503"]))
        gw = st.enter_context(Gateway(BUDGET_CONFIG, [a, b], workers=2))
        results = []

        def one():
            results.append(gw.request("GET", "/x", {"x-demo-delay-ms": "300"}, timeout=20)[0])

        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == [503] * 20
        _, body = gw.admin("GET", "/metrics")
        m = re.search(r'^gateway_retry_budget_rejected_total\{cluster="pair"\} (\d+)$',
                      body.decode(), re.M)
        assert m and int(m.group(1)) > 0, body.decode()
        attempts = sum(r.get("upstream_attempts", 1) for r in log_entries(gw, 20))
        assert attempts < 20 * 4  # without the budget every request would make 4 attempts


def test_invalid_resilience_config_is_refused_with_field_paths():
    from harness import validate_output
    bad = one_listener_config(routes="""          - name: r
            match: {{prefix: /}}
            route_filter:
              name: router
              config:
                cluster: c
                retry_policy: {{retry_on: [sometimes]}}
                fallback: {{cluster: nowhere}}
""", tail="""clusters:
  - name: c
    endpoints: [{{address: "127.0.0.1:1"}}]
    circuit_breaker: {{error_rate_percent: 120, half_open_requests: 5000, failure_on: [bad]}}
""").format(listen="127.0.0.1:1")
    rc, out = validate_output(bad)
    assert rc == 2
    assert "clusters[0].circuit_breaker.error_rate_percent: must be 0..100" in out
    assert "clusters[0].circuit_breaker.half_open_requests: must be at most 1000" in out
    assert "clusters[0].circuit_breaker.failure_on[0]: unknown failure 'bad'" in out
    assert "route_filter.config.retry_policy.retry_on[0]: unknown condition 'sometimes'" in out

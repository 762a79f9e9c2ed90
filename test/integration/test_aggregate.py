"""`aggregate` on a real gatewayd with demo_upstreams as the parts' clusters: the merged answer
and what each part carries (path from captures and query, chosen headers, Authorization, the
request id); a failed optional part (null + errors) and a failed required part (502 naming it);
a slow part cancelled at the request's deadline (its connection closed long before it would have
answered); sub-requests going through the cluster's circuit breaker; per-part counters."""
import json
import socket
import time

from harness import Gateway, Upstream, one_listener_config, wait_for


def free_dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "127.0.0.1:%d" % port


ROUTES = """          - name: dash
            match: {{path_template: "/dash/{{id}}"}}
            route_filter:
              name: aggregate
              config:
                path_template: "/dash/{{id}}"
                timeout_ms: 600
                forward_headers: [x-tenant]
                parts:
                  - {{name: user, cluster: users, path: "/users/{{id}}"}}
                  - {{name: orders, cluster: orders, path: "/orders?user={{id}}&since={{query.since}}"}}
                  - {{name: extra, cluster: {extra}, path: "/extra/{{id}}", optional: true}}
          - name: strict
            match: {{path_template: "/strict/{{id}}"}}
            route_filter:
              name: aggregate
              config:
                path_template: "/strict/{{id}}"
                timeout_ms: 600
                parts:
                  - {{name: user, cluster: users, path: "/users/{{id}}"}}
                  - {{name: broken, cluster: {required}, path: "/b/{{id}}"}}
"""

CLUSTERS = """clusters:
  - name: users
    endpoints: [{{address: "{up0}"}}]
  - name: orders
    endpoints: [{{address: "{up1}"}}]
  - name: slow
    endpoints: [{{address: "{up2}"}}]
  - name: dead
    endpoints: [{{address: "{up3}"}}]
  - name: failing
    endpoints: [{{address: "{up4}"}}]
    circuit_breaker: {{consecutive_failures: 2, open_duration: 30s}}
"""


def config(extra="slow", required="failing"):
    return one_listener_config(routes=ROUTES.replace("{extra}", extra).replace(
        "{required}", required), tail=CLUSTERS)


def parts_counter(gw, part, result):
    _, body = gw.admin("GET", "/metrics")
    for line in body.decode().splitlines():
        if (line.startswith("gateway_filter_aggregate_parts_total{") and
                'part="%s"' % part in line and 'result="%s"' % result in line):
            return int(line.rsplit(" ", 1)[1])
    return 0


def test_aggregate_merges_parts_with_their_paths_and_headers():
    with Upstream(service="users") as users, Upstream(service="orders") as orders, \
            Upstream(service="extra") as extra, Upstream(service="failing") as failing, \
            Gateway(config(), [users, orders, extra, free_dead_port(), failing]) as gw:
        status, headers, body = gw.request(
            "GET", "/dash/7?since=2024-01-01", headers={
                "Authorization": "Bearer abc", "x-tenant": "acme", "x-other": "no",
                "x-request-id": "agg-test-0001"})
        assert status == 200, body
        assert headers["content-type"] == "application/json"
        d = json.loads(body)
        assert list(d) == ["user", "orders", "extra"], d
        assert d["user"]["service"] == "users" and d["user"]["path"] == "/users/7", d
        assert d["orders"]["path"] == "/orders", d
        assert d["orders"]["query"] == "user=7&since=2024-01-01", d
        assert d["extra"]["path"] == "/extra/7", d
        for k in ("user", "orders", "extra"):
            h = d[k]["headers"]
            assert h.get("authorization") == "Bearer abc", h
            assert h.get("x-tenant") == "acme", h
            assert h.get("x-request-id") == "agg-test-0001", h
            assert "x-other" not in h, h
        # A required part's missing query value is the client's mistake: 400, nothing sent.
        before = users.stats()["requests"]
        status, _, body = gw.request("GET", "/dash/7")
        err = json.loads(body)
        assert status == 400 and err["error"] == "aggregate_missing_value", body
        assert "{query.since}" in err["message"], err
        assert users.stats()["requests"] == before
        assert parts_counter(gw, "user", "ok") == 1


def test_aggregate_optional_failure_is_null_and_required_failure_is_502():
    with Upstream(service="users") as users, Upstream(service="orders") as orders, \
            Upstream(service="failing", args=["--fail-status", "503"]) as failing, \
            Gateway(config(extra="dead"), [users, orders, "127.0.0.1:1", free_dead_port(),
                                          failing]) as gw:
        status, _, body = gw.request("GET", "/dash/3?since=x")
        assert status == 200, body
        d = json.loads(body)
        assert d["extra"] is None, d
        assert d["user"]["path"] == "/users/3"
        assert d["errors"] == [{"part": "extra", "error": "upstream_connect_failed",
                                "message": d["errors"][0]["message"]}], d
        # A required part answering 503: 502 aggregate_part_failed naming it.
        status, _, body = gw.request("GET", "/strict/3")
        err = json.loads(body)
        assert status == 502, body
        assert err["error"] == "aggregate_part_failed", err
        assert "'broken'" in err["message"] and "status 503" in err["message"], err
        assert err["details"] == {"part": "broken", "reason": "upstream_status"}, err
        assert parts_counter(gw, "extra", "failed") == 1
        assert parts_counter(gw, "broken", "failed") == 1


def test_aggregate_slow_part_cancelled_at_the_deadline():
    with Upstream(service="users") as users, Upstream(service="orders") as orders, \
            Upstream(service="slow", args=["--delay-ms", "5000"]) as slow, \
            Gateway(config(extra="slow", required="slow"),
                    [users, orders, slow, free_dead_port(), "127.0.0.1:1"]) as gw:
        # Optional slow part: the answer comes at the 600 ms deadline without it.
        t0 = time.monotonic()
        status, _, body = gw.request("GET", "/dash/9?since=x")
        elapsed = time.monotonic() - t0
        assert status == 200, body
        d = json.loads(body)
        assert d["extra"] is None and d["user"]["path"] == "/users/9", d
        assert d["errors"][0]["part"] == "extra", d
        assert d["errors"][0]["error"] == "deadline_exceeded", d
        assert 0.55 <= elapsed < 1.5, elapsed
        # The slow part's connection was closed at the deadline, long before its 5 s answer.
        wait_for(lambda: slow.stats()["active_connections"] == 1, timeout=1.5,  # only /__stats
                 what="the slow part's connection closed")
        assert parts_counter(gw, "extra", "cancelled") == 1
        # Required slow part: 502 naming it, at the deadline.
        t0 = time.monotonic()
        status, _, body = gw.request("GET", "/strict/9")
        elapsed = time.monotonic() - t0
        err = json.loads(body)
        assert status == 502 and err["details"]["part"] == "broken", body
        assert err["details"]["reason"] == "deadline_exceeded", err
        assert 0.55 <= elapsed < 1.5, elapsed
        wait_for(lambda: slow.stats()["active_connections"] == 1, timeout=1.5,  # only /__stats
                 what="the slow part's connection closed")


def test_aggregate_parts_go_through_the_cluster_breaker():
    with Upstream(service="users") as users, Upstream(service="orders") as orders, \
            Upstream(service="failing", args=["--fail-status", "503"]) as failing, \
            Gateway(config(), [users, orders, "127.0.0.1:1", free_dead_port(), failing]) as gw:
        reasons = []
        for _ in range(4):
            status, _, body = gw.request("GET", "/strict/1")
            assert status == 502, body
            reasons.append(json.loads(body)["details"]["reason"])
        # Two 503s in a row open the `failing` cluster's breaker; then the part is refused
        # without reaching the upstream.
        assert reasons == ["upstream_status", "upstream_status", "circuit_open",
                           "circuit_open"], reasons
        assert failing.stats()["requests"] == 2

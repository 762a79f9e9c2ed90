"""The `cors` filter with real processes: gatewayd, a demo upstream that echoes what reached it, and
real clients (python http.client, curl, hand-written HTTP/1.1). Preflights are answered by the
gateway (204, or 403 with the typed JSON error) and a refused preflight never reaches the
upstream; cross-origin requests from allowed origins pass and get the CORS headers (also on local
answers and errors); disallowed origins pass without them (or get 403 with
reject_disallowed_origins); the upstream's own CORS headers are replaced; Vary: Origin is merged."""
import http.client
import json
import os
import re
import subprocess
import tempfile

from harness import (GATEWAYCTL, GATEWAYD, Gateway, RawClient, Upstream, curl, one_listener_config,
                     wait_for)

CORS_CONFIG = one_listener_config(head="""
version: cors-1
""", routes="""          - name: api
            match: {{prefix: /api/}}
            pre_filters:
              - name: cors
                config:
                  allow_origins: ["https://app.example.com", "https://*.example.org"]
                  allow_origin_regexes: ['http://localhost:\\d{{2,5}}']
                  allow_methods: [GET, PUT, DELETE]
                  allow_headers: [content-type, x-request-id]
                  expose_headers: [x-total-count]
                  max_age_seconds: 120
                  allow_credentials: true
              - {{name: fault, config: {{abort_status: 503, header: x-fault}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
            post_filters:
              - {{name: headers, config: {{response_set: [{{name: x-post, value: ran}}]}}}}
          - name: strict
            match: {{prefix: /strict/}}
            pre_filters:
              - name: cors
                config:
                  allow_origins: ["https://app.example.com"]
                  reject_disallowed_origins: true
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: public
            match: {{prefix: /public/}}
            pre_filters:
              - {{name: cors, config: {{allow_origins: ["*"], allow_headers: ["*"]}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: local
            match: {{path: /direct}}
            pre_filters:
              - {{name: cors, config: {{allow_origins: ["https://app.example.com"]}}}}
            route_filter: {{name: direct_response, config: {{status: 200, body: "local"}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
""")

APP = "https://app.example.com"
PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


def call(gw, method, path, headers=None, body=None):
    """One request on a fresh connection: (status, [(name, value)...] lower-cased names, body)."""
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    hdrs = [(k.lower(), v) for k, v in r.getheaders()]
    c.close()
    return r.status, hdrs, data


def all_of(headers, name):
    return [v for k, v in headers if k == name]


def one(headers, name):
    vals = all_of(headers, name)
    assert len(vals) == 1, (name, headers)
    return vals[0]


def cors_names(headers):
    return sorted(k for k, _ in headers if k.startswith("access-control-"))


def upstream_requests(up):
    return up.stats()["requests"]


def metric(gw, name):
    body = gw.admin("GET", "/metrics")[1].decode()
    m = re.search(r"^%s (\d+)" % re.escape(name), body, re.M)
    return int(m.group(1)) if m else None


def preflight(gw, path, origin, method, req_headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if req_headers is not None:
        h["Access-Control-Request-Headers"] = req_headers
    return call(gw, "OPTIONS", path, h)


def test_cors_preflight_is_answered_by_the_gateway():
    with Upstream() as up, Gateway(CORS_CONFIG, [up]) as gw:
        before = upstream_requests(up)
        status, h, body = preflight(gw, "/api/items/1", "https://App.Example.com", "PUT",
                                    "Content-Type, X-Request-ID")
        assert status == 204, (status, h, body)
        assert body == b""
        assert one(h, "access-control-allow-origin") == "https://App.Example.com"
        assert one(h, "access-control-allow-credentials") == "true"
        assert one(h, "access-control-allow-methods") == "GET, PUT, DELETE"
        assert one(h, "access-control-allow-headers") == "content-type, x-request-id"
        assert one(h, "access-control-max-age") == "120"
        assert one(h, "vary") == PREFLIGHT_VARY
        assert all_of(h, "access-control-expose-headers") == []
        assert all_of(h, "content-length") == []  # 204: no body framing
        assert one(h, "x-post") == "ran"  # a local response runs the post stage
        assert one(h, "x-request-id")

        # Wildcard subdomains, regex origins and the safelisted methods; curl as the client.
        for origin, method in (("https://a.b.example.org", "DELETE"),
                               ("http://localhost:5173", "POST"), ("https://x.example.org", "GET")):
            p = curl(["-o", "/dev/null", "-D", "-", "-X", "OPTIONS",
                      "-H", "Origin: " + origin, "-H", "Access-Control-Request-Method: " + method,
                      "http://127.0.0.1:%d/api/x" % gw.port])
            assert p.returncode == 0, p.stderr
            head = p.stdout.decode()
            assert head.startswith("HTTP/1.1 204"), head
            assert "access-control-allow-origin: %s\r\n" % origin in head.lower(), head
        # Nothing reached the upstream.
        assert upstream_requests(up) == before
        assert metric(gw, "gateway_filter_cors_preflight_allowed_total") == 4


def test_cors_refused_preflights_get_403_and_never_reach_the_upstream():
    with Upstream() as up, Gateway(CORS_CONFIG, [up]) as gw:
        before = upstream_requests(up)
        cases = [
            (("https://evil.example", "GET", None), "cors_origin_not_allowed",
             "origin 'https://evil.example' is not allowed"),
            (("https://example.org", "GET", None), "cors_origin_not_allowed", None),
            (("https://evilexample.org", "GET", None), "cors_origin_not_allowed", None),
            (("http://app.example.com", "GET", None), "cors_origin_not_allowed", None),
            (("https://app.example.com:8443", "GET", None), "cors_origin_not_allowed", None),
            (("null", "GET", None), "cors_origin_not_allowed", None),
            (("http://localhost:5173.evil.example", "GET", None), "cors_origin_not_allowed",
             None),
            ((APP, "PATCH", None), "cors_method_not_allowed",
             "method 'PATCH' is not allowed (allowed: GET, PUT, DELETE)"),
            ((APP, "put", None), "cors_method_not_allowed", None),
            ((APP, "PUT", "content-type, x-secret"), "cors_header_not_allowed",
             "request header 'x-secret' is not allowed"),
            ((APP, "PUT", "Authorization"), "cors_header_not_allowed", None),
        ]
        for (origin, method, req_headers), code, message in cases:
            status, h, body = preflight(gw, "/api/items", origin, method, req_headers)
            assert status == 403, (origin, method, req_headers, status, body)
            err = json.loads(body)
            assert err["error"] == code, err
            assert err["status"] == 403
            assert err["request_id"] == one(h, "x-request-id")
            if message is not None:
                assert err["message"] == message, err
            assert one(h, "content-type") == "application/json"
            assert one(h, "vary") == PREFLIGHT_VARY
            assert cors_names(h) == [], h
        assert upstream_requests(up) == before  # not one of them was sent upstream
        assert metric(gw, "gateway_filter_cors_preflight_denied_total") == len(cases)
        assert metric(gw, "gateway_filter_cors_origin_not_allowed_total") == 7
        assert metric(gw, "gateway_filter_cors_preflight_allowed_total") == 0


def test_cors_actual_requests_from_allowed_origins_are_decorated():
    with Upstream() as up, Gateway(CORS_CONFIG, [up]) as gw:
        before = upstream_requests(up)
        # The upstream sends its own CORS headers and a Vary: the gateway's replace them.
        status, h, body = call(gw, "PUT", "/api/items/7", {
            "Origin": APP, "Content-Type": "application/json",
            "x-demo-header": "access-control-allow-origin: *",
        }, body=b"{}")
        assert status == 200, body
        echoed = json.loads(body)
        assert echoed["method"] == "PUT" and echoed["path"] == "/api/items/7"
        assert echoed["headers"]["origin"] == APP  # the request went on unchanged
        assert all_of(h, "access-control-allow-origin") == [APP]
        assert one(h, "access-control-allow-credentials") == "true"
        assert one(h, "access-control-expose-headers") == "x-total-count"
        assert cors_names(h) == ["access-control-allow-credentials",
                                 "access-control-allow-origin", "access-control-expose-headers"]
        assert one(h, "vary") == "Origin"
        assert one(h, "x-post") == "ran"

        # Raw HTTP/1.1: repeated upstream CORS headers and an upstream Vary, on one connection.
        with RawClient(gw.port) as c:
            c.send(b"GET /api/list HTTP/1.1\r\nHost: api.test\r\nOrigin: https://x.example.org\r\n"
                   b"x-demo-header: Access-Control-Allow-Origin: https://other.test\r\n"
                   b"x-demo-header: access-control-allow-credentials: false\r\n"
                   b"x-demo-header: access-control-expose-headers: x-internal\r\n"
                   b"x-demo-header: Vary: Accept-Encoding\r\n\r\n")
            r = c.read_response()
            assert r.status == 200, r
            assert r.header_all("access-control-allow-origin") == ["https://x.example.org"]
            assert r.header_all("access-control-allow-credentials") == ["true"]
            assert r.header_all("access-control-expose-headers") == ["x-total-count"]
            assert r.header_all("vary") == ["Accept-Encoding, Origin"]
            # Same connection, an upstream Vary that already names Origin: not repeated.
            c.send(b"GET /api/list HTTP/1.1\r\nHost: api.test\r\nOrigin: http://localhost:3000\r\n"
                   b"x-demo-header: vary: origin, accept\r\n\r\n")
            r = c.read_response()
            assert r.header_all("access-control-allow-origin") == ["http://localhost:3000"]
            assert r.header_all("vary") == ["origin, accept"]
        assert upstream_requests(up) == before + 3
        assert metric(gw, "gateway_filter_cors_actual_allowed_total") == 3

        # The access log records the decision.
        wait_for(lambda: len(gw.access_log()) >= 3, timeout=5, what="access log lines")
        states = [l.get("filter_state", {}).get("cors") for l in gw.access_log()]
        assert "allowed " + APP in states, states


def test_cors_disallowed_origins_and_plain_requests():
    with Upstream() as up, Gateway(CORS_CONFIG, [up]) as gw:
        before = upstream_requests(up)
        # Not allowed: passes (the upstream sees it) without CORS headers; the upstream's are
        # removed, so they cannot let the page read the answer.
        status, h, body = call(gw, "GET", "/api/items", {
            "Origin": "https://evil.example",
            "x-demo-header": "access-control-allow-origin: *"})
        assert status == 200
        assert json.loads(body)["headers"]["origin"] == "https://evil.example"
        assert cors_names(h) == [], h
        assert one(h, "vary") == "Origin"
        assert upstream_requests(up) == before + 1
        assert metric(gw, "gateway_filter_cors_origin_not_allowed_total") == 1

        # No Origin: untouched but for Vary (the upstream's own CORS header stays).
        status, h, _ = call(gw, "GET", "/api/items", {
            "x-demo-header": "access-control-allow-origin: *"})
        assert status == 200
        assert all_of(h, "access-control-allow-origin") == ["*"]
        assert cors_names(h) == ["access-control-allow-origin"]
        assert one(h, "vary") == "Origin"
        # OPTIONS without Access-Control-Request-Method is not a preflight: it goes upstream.
        status, h, body = call(gw, "OPTIONS", "/api/items", {"Origin": APP})
        assert status == 200 and json.loads(body)["method"] == "OPTIONS"
        assert one(h, "access-control-allow-origin") == APP
        assert upstream_requests(up) == before + 3

        # reject_disallowed_origins: 403 and nothing upstream; allowed origins still pass.
        status, h, body = call(gw, "POST", "/strict/orders", {"Origin": "https://evil.example"},
                               body=b"x")
        assert status == 403
        err = json.loads(body)
        assert err["error"] == "cors_origin_not_allowed", err
        assert err["message"] == "origin 'https://evil.example' is not allowed"
        assert one(h, "vary") == "Origin"
        assert cors_names(h) == []
        assert upstream_requests(up) == before + 3
        assert metric(gw, "gateway_filter_cors_actual_denied_total") == 1
        status, h, _ = call(gw, "POST", "/strict/orders", {"Origin": APP}, body=b"x")
        assert status == 200 and one(h, "access-control-allow-origin") == APP
        assert all_of(h, "access-control-allow-credentials") == []
        status, h, _ = call(gw, "POST", "/strict/orders", body=b"x")
        assert status == 200 and cors_names(h) == []
        assert upstream_requests(up) == before + 5


def test_cors_local_answers_and_errors_are_decorated():
    with Upstream() as up, Gateway(CORS_CONFIG, [up]) as gw:
        before = upstream_requests(up)
        # A later filter's error (fault abort): the page can read the 503.
        status, h, body = call(gw, "GET", "/api/items", {"Origin": APP, "x-fault": "1"})
        assert status == 503
        assert json.loads(body)["error"] == "fault_injected"
        assert one(h, "access-control-allow-origin") == APP
        assert one(h, "access-control-allow-credentials") == "true"
        assert one(h, "vary") == "Origin"
        # The same error for a disallowed origin: no CORS headers.
        status, h, _ = call(gw, "GET", "/api/items", {"Origin": "https://evil.example",
                                                      "x-fault": "1"})
        assert status == 503 and cors_names(h) == []
        assert upstream_requests(up) == before
        # A direct response.
        status, h, body = call(gw, "GET", "/direct", {"Origin": APP})
        assert status == 200 and body == b"local"
        assert one(h, "access-control-allow-origin") == APP
        assert one(h, "vary") == "Origin"
        status, h, _ = call(gw, "GET", "/direct")
        assert cors_names(h) == [] and one(h, "vary") == "Origin"


def test_cors_allow_all_answers_star_without_credentials():
    with Upstream() as up, Gateway(CORS_CONFIG, [up]) as gw:
        status, h, _ = preflight(gw, "/public/x", "https://anyone.test", "POST",
                                 "X-Custom-Header, Content-Type")
        assert status == 204
        assert one(h, "access-control-allow-origin") == "*"
        assert all_of(h, "access-control-allow-credentials") == []
        assert one(h, "access-control-allow-headers") == "X-Custom-Header, Content-Type"
        assert one(h, "access-control-max-age") == "600"
        # '*' does not cover Authorization.
        status, _, body = preflight(gw, "/public/x", "https://anyone.test", "GET", "authorization")
        assert status == 403 and json.loads(body)["error"] == "cors_header_not_allowed"
        status, h, _ = call(gw, "GET", "/public/x", {"Origin": "https://anyone.test"})
        assert status == 200
        assert one(h, "access-control-allow-origin") == "*"
        assert one(h, "vary") == "Origin"
        # The null origin only when listed: not by '*'.
        status, h, _ = call(gw, "GET", "/public/x", {"Origin": "null"})
        assert status == 200 and cors_names(h) == []


def test_cors_config_errors_are_refused_with_the_field_path():
    bad = CORS_CONFIG.replace('allow_origins: ["*"], allow_headers: ["*"]',
                              'allow_origins: ["*"], allow_credentials: true')
    assert bad != CORS_CONFIG
    text = bad.format(listen="127.0.0.1:0", up0="127.0.0.1:9")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "config.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([GATEWAYD, "--config", path, "--validate"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 2, (p.returncode, out)
    assert ("listeners[0].virtual_hosts[0].routes[2].pre_filters[0].config.allow_origins[0]: "
            "'*' cannot be used with allow_credentials: true") in out, out


def test_cors_explain_shows_the_decision():
    if not os.path.exists(GATEWAYCTL):
        raise AssertionError("%s missing: bazel build //source/exe:gatewayctl" % GATEWAYCTL)
    with Upstream() as up, Gateway(CORS_CONFIG, [up]) as gw:
        def explain(method, path, *headers):
            args = [GATEWAYCTL, "--proxy", "127.0.0.1:%d" % gw.grpc_port, "proxy", "explain",
                    method, "http://api.test" + path]
            for hd in headers:
                args += ["-H", hd]
            p = subprocess.run(args, capture_output=True, text=True, timeout=30)
            return p.stdout + p.stderr
        out = explain("OPTIONS", "/api/x", "Origin: https://a.example.org",
                      "Access-Control-Request-Method: PUT")
        assert ("preflight from 'https://a.example.org' (allowed by wildcard "
                "'https://*.example.org'): answer 204") in out, out
        out = explain("OPTIONS", "/api/x", "Origin: https://evil.example",
                      "Access-Control-Request-Method: PUT")
        assert "403 cors_origin_not_allowed" in out, out
        out = explain("GET", "/api/x", "Origin: " + APP)
        assert "Access-Control-Allow-Origin: https://app.example.com" in out, out
        assert metric(gw, "gateway_filter_cors_preflight_allowed_total") == 0

"""versioning end to end: a real gatewayd routing each API version to its own demo upstream
(whose JSON answer names the service and the path it received), every version source, the
deprecation headers, 400 and 410, per-consumer counting of deprecated calls (with jwt_auth
establishing the consumer) and `gatewayctl proxy explain`."""
import json
import os
import subprocess
import sys

from harness import GATEWAYCTL, Gateway, Upstream, curl, one_listener_config

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "demo_lib"))
from credentials import ISSUER, token  # noqa: E402  (HS256 with the demo secret)

CONFIG = one_listener_config(head="""version: ver-1
auth_providers:
  - {{name: demo, issuer: "%s", secret: demo-jwt-secret-not-for-production}}
""" % ISSUER, routes="""          - name: products
            match: {{regex: "/api/(v[0-9]+/)?products(/.*)?"}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: demo, allow_missing: true}}}}
            route_filter:
              name: versioning
              config:
                sources:
                  - {{header: API-Version}}
                  - {{header: Accept-Version}}
                  - {{path_prefix: /api/}}
                  - {{query: version}}
                  - {{media_type: application/vnd.example}}
                default_version: "2"
                versions:
                  - {{name: "1", cluster: v1, deprecation: "2025-01-01T00:00:00Z",
                     sunset: "2099-12-31T23:59:59Z", link: "https://docs.example.com/v2"}}
                  - {{name: "2", cluster: v2}}
                  - {{name: "0", cluster: v1, sunset: "2025-06-01T00:00:00Z",
                     gone_after_sunset: true, link: "https://docs.example.com/v0"}}
          - name: kept
            match: {{prefix: /kept/}}
            route_filter:
              name: versioning
              config:
                sources: [{{path_prefix: /kept/, keep_path: true}}]
                versions: [{{name: "1", cluster: v1}}]
clusters:
  - {{name: v1, endpoints: [{{address: "{up0}"}}]}}
  - {{name: v2, endpoints: [{{address: "{up1}"}}]}}
""")


def gateway(v1, v2):
    return Gateway(CONFIG, [v1, v2])


def get(gw, path, **headers):
    status, hdrs, body = gw.request("GET", path, headers=headers)
    return status, hdrs, json.loads(body) if body else None


def test_each_source_routes_to_its_version():
    with Upstream(service="products-v1") as v1, Upstream(service="products-v2") as v2, \
            gateway(v1, v2) as gw:
        cases = [
            ("/api/products/1", {"API-Version": "1"}, "products-v1", "/api/products/1"),
            ("/api/products/1", {"Accept-Version": "v1"}, "products-v1", "/api/products/1"),
            ("/api/v1/products/1", {}, "products-v1", "/api/products/1"),
            ("/api/products/1?version=1", {}, "products-v1", "/api/products/1"),
            ("/api/products/1", {"Accept": "application/vnd.example.v1+json"}, "products-v1",
             "/api/products/1"),
            ("/api/products/1", {}, "products-v2", "/api/products/1"),           # the default
            ("/api/v2/products", {}, "products-v2", "/api/products"),
            # The first source in order decides: the header beats the path.
            ("/api/v1/products/1", {"API-Version": "2"}, "products-v2", "/api/products/1"),
        ]
        for path, hdrs, service, upstream_path in cases:
            status, _, body = get(gw, path, **hdrs)
            assert status == 200, (path, hdrs, body)
            assert (body["service"], body["path"]) == (service, upstream_path), (path, hdrs, body)
        # keep_path: the version segment goes upstream.
        status, _, body = get(gw, "/kept/v1/x")
        assert status == 200 and body["path"] == "/kept/v1/x", body


def test_deprecated_version_headers_and_none_for_current():
    with Upstream(service="products-v1") as v1, Upstream(service="products-v2") as v2, \
            gateway(v1, v2) as gw:
        p = curl(["-si", "-H", "API-Version: 1", "http://127.0.0.1:%d/api/products/1" % gw.port])
        head = p.stdout.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert head.startswith("http/1.1 200"), head
        assert "\r\ndeprecation: @1735689600\r\n" in head, head
        assert "\r\nsunset: thu, 31 dec 2099 23:59:59 gmt\r\n" in head, head
        assert ('\r\nlink: <https://docs.example.com/v2>; rel="deprecation", '
                '<https://docs.example.com/v2>; rel="sunset"\r\n') in head, head
        status, hdrs, _ = get(gw, "/api/products/1", **{"API-Version": "2"})
        assert status == 200
        assert not {"deprecation", "sunset", "link"} & set(hdrs), hdrs


def test_unknown_and_missing_versions_get_400_listing_the_supported_ones():
    with Upstream(service="products-v1") as v1, Upstream(service="products-v2") as v2, \
            gateway(v1, v2) as gw:
        for path, hdrs, source in (("/api/products/1", {"API-Version": "9"}, "header api-version"),
                                   ("/api/v9/products/1", {}, "path /api/v<version>/"),
                                   ("/api/products/1?version=abc", {}, "query version")):
            status, h, body = get(gw, path, **hdrs)
            assert status == 400, (path, body)
            assert body["error"] == "unsupported_api_version", body
            assert "supported: 1, 2, 0" in body["message"] and source in body["message"], body
            assert body["details"]["supported_versions"] == "1, 2, 0", body
            assert body["request_id"] == h["x-request-id"]
        assert v1.stats()["requests"] == 0 and v2.stats()["requests"] == 0


def test_sunset_version_gets_410_with_its_sunset_and_link():
    with Upstream(service="products-v1") as v1, Upstream(service="products-v2") as v2, \
            gateway(v1, v2) as gw:
        status, hdrs, body = get(gw, "/api/v0/products/1")
        assert status == 410, body
        assert body["error"] == "api_version_gone", body
        assert hdrs["sunset"] == "Sun, 01 Jun 2025 00:00:00 GMT", hdrs
        assert hdrs["link"] == '<https://docs.example.com/v0>; rel="sunset"', hdrs
        assert v1.stats()["requests"] == 0


def test_deprecated_calls_are_counted_per_consumer():
    with Upstream(service="products-v1") as v1, Upstream(service="products-v2") as v2, \
            gateway(v1, v2) as gw:
        for sub, n in (("alice", 3), ("bob", 1)):
            for _ in range(n):
                status, _, _ = get(gw, "/api/v1/products/1", Authorization="Bearer " + token(sub))
                assert status == 200
        get(gw, "/api/v1/products/1")                            # anonymous
        get(gw, "/api/products/1", Authorization="Bearer " + token("carol"))  # current version
        _, metrics = gw.admin("GET", "/metrics")
        text = metrics.decode()
        for consumer, n in (("alice", 3), ("bob", 1), ("-", 1)):
            line = ('gateway_filter_versioning_deprecated_calls_total{version="1",consumer="%s"} %d'
                    % (consumer, n))
            assert line in text, (line, [l for l in text.splitlines() if "versioning" in l])
        assert 'consumer="carol"' not in text


def test_explain_says_which_version_and_why():
    if not os.path.exists(GATEWAYCTL):
        raise AssertionError("%s missing: bazel build //source/exe:gatewayctl" % GATEWAYCTL)
    with Upstream(service="products-v1") as v1, Upstream(service="products-v2") as v2, \
            gateway(v1, v2) as gw:
        def explain(path, *headers):
            args = [GATEWAYCTL, "--proxy", "127.0.0.1:%d" % gw.grpc_port, "proxy", "explain",
                    "GET", "http://api.test" + path]
            for hd in headers:
                args += ["-H", hd]
            p = subprocess.run(args, capture_output=True, text=True, timeout=30)
            return p.stdout + p.stderr
        out = explain("/api/products/1", "API-Version: 1")
        assert ("version 1 (header api-version) -> proxy to cluster 'v1'; deprecated since "
                "2025-01-01T00:00:00Z; sunset 2099-12-31T23:59:59Z") in out, out
        out = explain("/api/products/1")
        assert "version 2 (no version given: the default) -> proxy to cluster 'v2'" in out, out
        out = explain("/api/products/1", "API-Version: 7")
        assert "400 unsupported_api_version" in out, out

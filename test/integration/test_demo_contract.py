"""The demo's contract (README, tools/demo): the embedded example config on a real gatewayd, its
ports moved to free ones, one demo upstream standing in for every service, and the credentials
tools/demo prints (tools/demo_lib/credentials.py, parsed from its `export` lines). Checks the
acceptance lines as written: POST /api/orders with Alice's token is 403 naming orders:write, the
admin's token passes, OPTIONS from https://evil.example is 403; the public routes, 401 and
the allowed preflight; and the orders' global per-user limit in a real redis-server (100
back-to-back requests with Alice's token see some 429s with Retry-After and RateLimit-*)."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time

from harness import GATEWAYD, Gateway, RawClient, RedisServer, Upstream, wait_for

# The example's Redis (tools/demo points it at its own redis-server).
EXAMPLE_REDIS = "127.0.0.1:6379"


def example_template(redis_address="127.0.0.1:1", edit=None):
    """The embedded example as a Gateway template: {listen} for the listener, {up0} for every
    service endpoint (literal braces doubled), its Redis at `redis_address` (by default a port
    nothing listens on: the orders' limit then fails open, as with no Redis at all). `edit`
    changes the printed example first (as tools/demo adds its HTTPS listener)."""
    text = subprocess.run([GATEWAYD, "--print-example-config"], capture_output=True, text=True,
                          check=True, timeout=20).stdout
    if edit is not None:
        text = edit(text)
    t = text.replace("{", "{{").replace("}", "}}")
    t = t.replace("127.0.0.1:8080", "{listen}")
    t, n = re.subn(r"127\.0\.0\.1:9([1-4]0[12]|501)", "{up0}", t)
    assert n == 12, n  # four services, two instances each, the IdP, the function runtime,
    # legacy-soap and the WebSocket echo (all three on the IdP's demo upstream)
    assert t.count(EXAMPLE_REDIS) == 1
    return t.replace(EXAMPLE_REDIS, redis_address)


def demo_gateway(up, workers=1, redis=None):
    """gatewayd on the example, with the IdP client secret tools/demo exports."""
    template = example_template(redis.address) if redis else example_template()
    return Gateway(template, [up], workers=workers,
                   env=dict(os.environ, DEMO_IDP_CLIENT_SECRET="demo-secret"))


def demo_credentials():
    out = subprocess.run([sys.executable, "tools/demo_lib/credentials.py"], capture_output=True,
                         text=True, check=True, timeout=20).stdout
    creds = dict(re.findall(r"^export (DEMO_[A-Z_]+)=(\S+)$", out, re.M))
    assert {"DEMO_TOKEN_ALICE", "DEMO_TOKEN_ADMIN", "DEMO_API_KEY",
            "DEMO_OAUTH_TOKEN"} <= set(creds), out
    return creds


def bearer(token):
    return {"Authorization": "Bearer " + token}


def test_demo_contract_h2c_prior_knowledge():
    """`curl --http2-prior-knowledge http://127.0.0.1:8080/api/users/1` is answered over h2c."""
    with Upstream() as up, demo_gateway(up) as gw:
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "--http2-prior-knowledge",
                            "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                            "http://127.0.0.1:%d/api/users/1" % gw.port],
                           capture_output=True, text=True, timeout=20)
        assert r.stdout == "2 200", (r.stdout, r.stderr)


def test_demo_contract_https_h2_and_http11():
    """tools/demo makes a local CA and a certificate for localhost and 127.0.0.1 and serves HTTPS
    (tools/demo_lib/demo_tls.py): `curl --cacert CA --http2 https://localhost:8443/api/users/1` is
    answered over HTTP/2 and `--http1.1` over HTTP/1.1 (the port moved to a free one here)."""
    import tempfile
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "tools", "demo_lib"))
    import demo_tls
    d = tempfile.mkdtemp(prefix="gw-demo-tls-")
    ca, cert, key = demo_tls.make_pki(d)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    tls_port = s.getsockname()[1]
    s.close()
    template = example_template(edit=lambda t: demo_tls.add_tls_listener(
        t, cert, key, "127.0.0.1:%d" % tls_port))
    with Upstream() as up, Gateway(template, [up],
                                   env=dict(os.environ, DEMO_IDP_CLIENT_SECRET="demo-secret")):
        url = "https://localhost:%d/api/users/1" % tls_port
        for flag, version in (("--http2", "2"), ("--http1.1", "1.1")):
            r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", ca, flag,
                                "-o", "/dev/null", "-w", "%{http_version} %{http_code}", url],
                               capture_output=True, text=True, timeout=20)
            assert r.stdout == version + " 200", (flag, r.stdout, r.stderr)
        # The certificate also names 127.0.0.1; the CA file is what verifies it.
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", ca, "-o", "/dev/null",
                            "-w", "%{http_code}", "https://127.0.0.1:%d/api/users/1" % tls_port],
                           capture_output=True, text=True, timeout=20)
        assert r.stdout == "200", r.stderr
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", url],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 60, (r.returncode, r.stderr)  # without the CA: not trusted


def test_demo_contract_identity_and_cors():
    creds = demo_credentials()
    alice, admin = creds["DEMO_TOKEN_ALICE"], creds["DEMO_TOKEN_ADMIN"]
    with Upstream(service="demo") as up, demo_gateway(up, workers=2) as gw:
        # POST /api/orders with Alice's token is 403, naming orders:write.
        status, headers, body = gw.request("POST", "/api/orders", headers=bearer(alice),
                                           body=b'{"item": 1}')
        assert status == 403, body
        err = json.loads(body)
        assert err["error"] == "permission_denied" and "orders:write" in err["message"], err
        assert up.stats()["requests"] == 0
        # The admin's token passes; Alice may read.
        status, _, body = gw.request("POST", "/api/orders", headers=bearer(admin),
                                     body=b'{"item": 1}')
        assert status == 200, body
        status, _, body = gw.request("GET", "/api/orders/7", headers=bearer(alice))
        assert status == 200, body
        assert json.loads(body)["headers"].get("x-user-id") == "alice", body
        # No token: 401.
        status, headers, body = gw.request("GET", "/api/orders/7")
        assert status == 401 and json.loads(body)["error"] == "jwt_missing", body
        # Public routes.
        for path in ("/api/users/42", "/api/products/9"):
            assert gw.request("GET", path)[0] == 200, path
        # CORS on every route: OPTIONS from https://evil.example is 403, the app's is 204.
        for path in ("/api/orders", "/api/users/1"):
            status, headers, body = gw.request("OPTIONS", path, headers={
                "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
            assert status == 403, (path, body)
            assert json.loads(body)["error"] == "cors_origin_not_allowed", body
            status, headers, _ = gw.request("OPTIONS", path, headers={
                "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
            assert status == 204, path
            assert headers["access-control-allow-origin"] == "https://app.example.com", headers
        # A cross-origin request from the app gets its CORS headers on the 403 too.
        status, headers, _ = gw.request("POST", "/api/orders", body=b"{}", headers=dict(
            bearer(alice), Origin="https://app.example.com"))
        assert status == 403
        assert headers["access-control-allow-origin"] == "https://app.example.com", headers


def test_demo_contract_api_key_plan():
    api_key = demo_credentials()["DEMO_API_KEY"]
    with Upstream(service="demo") as up, demo_gateway(up) as gw:
        status, headers, body = gw.request("GET", "/api/partner/catalog",
                                           headers={"X-API-Key": api_key})
        assert status == 200, body
        assert headers["ratelimit-limit"] == "1000", headers
        seen = json.loads(body)
        assert seen["headers"].get("x-api-key") is None, seen
        status, _, body = gw.request("GET", "/api/partner/catalog")
        assert status == 401 and json.loads(body)["error"] == "api_key_missing", body
        # 5 requests/s: a quick burst gets 429 rate_limited with Retry-After.
        got = [gw.request("GET", "/api/partner/catalog?api_key=" + api_key) for _ in range(8)]
        codes = [s for s, _, _ in got]
        assert 429 in codes and codes[0] == 200, codes
        limited = [(h, b) for s, h, b in got if s == 429][0]
        assert json.loads(limited[1])["error"] == "rate_limited"
        assert int(limited[0]["retry-after"]) >= 1


def test_demo_contract_oauth2_payments():
    token = demo_credentials()["DEMO_OAUTH_TOKEN"]
    with Upstream(service="demo") as up, demo_gateway(up) as gw:
        status, _, body = gw.request("GET", "/api/payments/1",
                                     headers={"Authorization": "Bearer " + token})
        assert status == 200, body
        assert json.loads(body)["headers"].get("x-user-id") == "alice", body
        for bearer, want, code in (("demo-inactive", 401, "oauth2_token_inactive"),
                                   ("demo-active-orders", 403, "oauth2_insufficient_scope")):
            status, headers, body = gw.request("GET", "/api/payments/1",
                                               headers={"Authorization": "Bearer " + bearer})
            assert (status, json.loads(body)["error"]) == (want, code), body
        status, headers, body = gw.request("GET", "/api/payments/1")
        assert status == 401, body


def test_demo_contract_order_service_breaker():
    """Issue 13: after at most 30 requests to /api/orders/1 with x-demo-status: 503 and a valid
    token the order-service breaker opens; a normal GET is then answered by the JSON fallback with
    x-gateway-fallback: circuit_open; /metrics shows the state as 1; it recovers by itself."""
    alice = demo_credentials()["DEMO_TOKEN_ALICE"]
    with Upstream(service="demo") as up, demo_gateway(up, workers=2) as gw:
        def state():
            _, body = gw.admin("GET", "/metrics")
            m = re.search(r'^gateway_circuit_state\{cluster="order-service"\} (\d)$',
                          body.decode(), re.M)
            return int(m.group(1)) if m else None

        assert state() == 0
        opened_after = None
        for i in range(30):
            status, headers, _ = gw.request("GET", "/api/orders/1",
                                            headers=dict(bearer(alice), **{"x-demo-status": "503"}))
            if headers.get("x-gateway-fallback") == "circuit_open":
                opened_after = i
                break
        assert opened_after is not None, "the breaker did not open within 30 requests"
        assert state() == 1
        status, headers, body = gw.request("GET", "/api/orders/1", headers=bearer(alice))
        assert headers.get("x-gateway-fallback") == "circuit_open", headers
        assert json.loads(body)["degraded"] is True, body
        # Recovers by itself: the open time (5 s) passes, the next request is a probe and closes it.
        deadline = time.time() + 15
        while time.time() < deadline and state() != 2:
            time.sleep(0.2)
        assert state() == 2
        status, headers, body = gw.request("GET", "/api/orders/1", headers=bearer(alice))
        assert status == 200 and "x-gateway-fallback" not in headers, headers
        assert state() == 0


def test_demo_contract_orders_global_per_user_limit():
    creds = demo_credentials()
    alice, admin = bearer(creds["DEMO_TOKEN_ALICE"]), bearer(creds["DEMO_TOKEN_ADMIN"])
    with RedisServer() as redis, Upstream(service="demo") as up, \
            demo_gateway(up, workers=2, redis=redis) as gw:
        # gatewayd is ready before its workers have connected to Redis (until then the limit
        # fails open, without headers): wait until 10 fresh connections in a row, spread over
        # the workers, get the limit's headers (the admin's own counter).
        streak = [0]

        def redis_decides():
            h = gw.request("GET", "/api/orders/1", headers=admin)[1]
            streak[0] = streak[0] + 1 if h.get("ratelimit-limit") == "50" else 0
            return streak[0] >= 10
        wait_for(redis_decides, timeout=10, interval=0.01, what="workers connected to redis")
        status, headers, body = gw.request("GET", "/api/orders/1", headers=alice)
        assert status == 200, body
        assert headers["ratelimit-limit"] == "50", headers  # GCRA 10/s, bursts of 50
        # 100 back-to-back requests with one user's token: some 429s, each with Retry-After and
        # RateLimit-*; ~30 quick ones all pass.
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        got = []
        for _ in range(100):
            conn.request("GET", "/api/orders/1", headers=alice)
            r = conn.getresponse()
            got.append((r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()))
        conn.close()
        codes = [s for s, _, _ in got]
        assert set(codes) == {200, 429}, codes
        assert codes[:30] == [200] * 30, codes
        for status, headers, body in got:
            assert "ratelimit-limit" in headers and "ratelimit-remaining" in headers \
                and "ratelimit-reset" in headers, headers
            if status == 429:
                assert json.loads(body)["error"] == "rate_limited", body
                assert int(headers["retry-after"]) >= 1, headers
                assert headers["ratelimit-remaining"] == "0", headers
        # Per user: the admin is not limited by Alice's traffic.
        status, headers, body = gw.request("GET", "/api/orders/1", headers=admin)
        assert status == 200, body


def test_demo_contract_dashboard_aggregation():
    """Issue 15: GET /api/dashboard/42 answers one JSON object with the keys user, orders and
    payments, fetched in parallel: with every upstream answering after 400 ms, the whole answer
    takes well under the 1.2 s three calls in a row would."""
    with Upstream(service="demo", args=["--delay-ms", "400"]) as up, demo_gateway(up) as gw:
        gw.request("GET", "/api/dashboard/1")  # warm the connections
        t0 = time.monotonic()
        status, headers, body = gw.request("GET", "/api/dashboard/42",
                                           headers={"x-request-id": "dashboard-test-0001"})
        elapsed = time.monotonic() - t0
        assert status == 200, body
        assert headers["content-type"] == "application/json", headers
        d = json.loads(body)
        assert set(d) == {"user", "orders", "payments"}, d
        assert (d["user"]["path"], d["user"]["query"]) == ("/api/users/42", ""), d["user"]
        assert (d["orders"]["path"], d["orders"]["query"]) == ("/api/orders", "user=42"), d
        assert (d["payments"]["path"], d["payments"]["query"]) == ("/api/payments", "user=42"), d
        # Each part carries the inbound request's id.
        ids = {d[k]["headers"].get("x-request-id") for k in ("user", "orders", "payments")}
        assert ids == {"dashboard-test-0001"}, ids
        assert 0.4 <= elapsed < 0.8, elapsed


def test_demo_contract_function_hello():
    """Issue 15: GET /api/functions/hello?name=Ada invokes the demo's sample function through the
    payload-2.0 event and answers what it returns; the body contains Ada."""
    with Upstream(service="demo") as up, demo_gateway(up) as gw:
        status, headers, body = gw.request("GET", "/api/functions/hello?name=Ada")
        assert status == 200, body
        assert headers["content-type"] == "application/json", headers
        assert b"Ada" in body, body
        assert json.loads(body) == {"message": "Hello, Ada!"}, body


def test_demo_contract_legacy_soap_lookup():
    """Issue 15: POST /api/legacy/customers/lookup with {"customerId": 42} calls the demo's SOAP
    service and answers 200 JSON with the customer; {"customerId": -1} makes the service answer a
    SOAP Fault, which comes back as a JSON error carrying the fault string; invalid JSON is 400."""
    with Upstream(service="demo") as up, demo_gateway(up) as gw:
        path = "/api/legacy/customers/lookup"
        json_ct = {"Content-Type": "application/json"}
        status, headers, body = gw.request("POST", path, headers=json_ct,
                                           body=b'{"customerId": 42}')
        assert status == 200, body
        assert headers["content-type"] == "application/json", headers
        customer = json.loads(body)["customer"]
        assert customer["@id"] == "42" and customer["name"] == "Ada Lovelace", customer
        assert customer["email"] == "ada@example.com" and customer["tier"] == "gold", customer
        status, _, body = gw.request("POST", path, headers=json_ct, body=b'{"customerId": -1}')
        err = json.loads(body)
        assert status == 400 and err["error"] == "soap_fault", (status, body)
        assert err["details"]["faultstring"] == "Customer -1 does not exist", err
        assert "Customer -1 does not exist" in err["message"], err
        status, _, body = gw.request("POST", path, headers=json_ct, body=b'{"customerId": ')
        assert status == 400 and json.loads(body)["error"] == "invalid_json", body


def test_demo_contract_products_cache():
    """Issue 16: the first GET /api/products/7 after a purge is MISS, the next HIT with Age;
    `gatewayctl cache purge --prefix /api/products/` makes the next a MISS again; two requests
    differing only in Accept-Language are cached apart."""
    from harness import GATEWAYCTL
    with Upstream(service="demo") as up, demo_gateway(up, workers=2) as gw:
        def ctl(*args):
            p = subprocess.run([GATEWAYCTL, "--proxy", "127.0.0.1:%d" % gw.grpc_port] + list(args),
                               capture_output=True, text=True, timeout=20)
            assert p.returncode == 0, p.stderr
            return p.stdout

        ctl("cache", "purge", "--prefix", "/api/products/")
        status, headers, body = gw.request("GET", "/api/products/7")
        assert status == 200 and headers["x-cache"] == "MISS", headers
        status, headers, body2 = gw.request("GET", "/api/products/7")
        assert status == 200 and headers["x-cache"] == "HIT", headers
        assert int(headers["age"]) >= 0 and body2 == body
        assert up.stats()["requests"] == 1
        assert "purged 1 entries" in ctl("cache", "purge", "--prefix", "/api/products/")
        assert gw.request("GET", "/api/products/7")[1]["x-cache"] == "MISS"
        # Accept-Language is part of the key: each language is its own entry.
        de = gw.request("GET", "/api/products/7", headers={"Accept-Language": "de"})
        assert de[1]["x-cache"] == "MISS", de[1]
        assert gw.request("GET", "/api/products/7",
                          headers={"Accept-Language": "de"})[1]["x-cache"] == "HIT"
        assert gw.request("GET", "/api/products/7")[1]["x-cache"] == "HIT"
        stats = ctl("cache", "stats")
        assert "products" in stats and "HIT RATIO" in stats, stats


def test_demo_contract_profile_transform():
    """GET /api/profile/1 proxies to user-service with a response transform: `instance` comes
    back renamed to `served_by`, `headers` is removed, everything else is unchanged."""
    with Upstream(service="demo") as up, demo_gateway(up) as gw:
        status, headers, body = gw.request("GET", "/api/profile/1", headers={"X-Probe": "1"})
        assert status == 200, body
        assert headers["content-type"] == "application/json", headers
        assert int(headers["content-length"]) == len(body), headers
        got = json.loads(body)
        assert got["served_by"] == up.instance, got
        assert "instance" not in got and "headers" not in got, got
        # The rest as the upstream sent it, in its order.
        assert list(got) == ["service", "served_by", "method", "path", "query", "body_bytes",
                             "body_sha256", "http_version", "trailers"], list(got)
        assert (got["service"], got["method"], got["path"]) == ("demo", "GET", "/api/profile/1")
        # Direct to the upstream: the same fields, with instance and headers.
        c = http.client.HTTPConnection("127.0.0.1", up.port, timeout=5)
        c.request("GET", "/api/profile/1")
        direct = json.loads(c.getresponse().read())
        c.close()
        assert direct["instance"] == up.instance and "headers" in direct
        for k in ("service", "method", "path", "query", "body_bytes", "body_sha256",
                  "http_version", "trailers"):
            assert got[k] == direct[k], k


def test_demo_contract_api_versions():
    """GET /api/v1/products/1, and GET /api/products/1 with API-Version: 1, reach
    product-service with Deprecation and Sunset on the response; version 2 has neither;
    API-Version: 9 gets 400 listing the supported versions."""
    with Upstream(service="demo") as up, demo_gateway(up) as gw:
        for path, hdrs in (("/api/v1/products/1", {}), ("/api/products/1", {"API-Version": "1"})):
            status, headers, body = gw.request("GET", path, headers=hdrs)
            assert status == 200, (path, body)
            assert headers.get("deprecation") == "@1767225600", headers
            assert headers.get("sunset") == "Wed, 30 Jun 2027 23:59:59 GMT", headers
            assert "rel=\"deprecation\"" in headers.get("link", ""), headers
            assert json.loads(body)["path"] == "/api/products/1", body  # v1 stripped upstream
        for hdrs in ({"API-Version": "2"}, {}):
            status, headers, body = gw.request("GET", "/api/products/1", headers=hdrs)
            assert status == 200, body
            assert "deprecation" not in headers and "sunset" not in headers, headers
        before = up.stats()["requests"]
        status, headers, body = gw.request("GET", "/api/products/1", headers={"API-Version": "9"})
        assert status == 400, body
        err = json.loads(body)
        assert err["error"] == "unsupported_api_version", err
        assert "supported: 1, 2" in err["message"], err
        assert up.stats()["requests"] == before  # refused at the gateway
        # Deprecated calls are counted per consumer (anonymous here).
        _, metrics = gw.admin("GET", "/metrics")
        assert (b'gateway_filter_versioning_deprecated_calls_total{version="1",consumer="-"} 2'
                in metrics), metrics


def test_demo_contract_websocket_echo():
    """`ws://127.0.0.1:8080/ws/echo` is a WebSocket route to the demo upstream's echo: a text
    frame sent to it comes back (with the client tools/demo prints)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "tools", "demo_lib"))
    import wsclient
    with Upstream(service="demo") as up, demo_gateway(up) as gw:
        ws = wsclient.WebSocket("ws://127.0.0.1:%d/ws/echo" % gw.port)
        ws.send_text("hello, demo")
        assert ws.recv_frame() == (wsclient.TEXT, b"hello, demo")
        assert ws.close() == 1000
        ws.shutdown()
        # The demo's own line: the CLI prints the echo.
        out = subprocess.run([sys.executable, "tools/demo_lib/wsclient.py",
                              "ws://127.0.0.1:%d/ws/echo" % gw.port, "hi"], capture_output=True,
                             text=True, timeout=20)
        assert out.returncode == 0 and out.stdout == "hi\n", out


def test_demo_contract_grpc_greeter_route():
    # The example routes /demo.Greeter/ to the H2C cluster `greeter` (tools/demo starts the gRPC
    # C++ demo server on 127.0.0.1:9601): an HTTP/1.1 gRPC call gets the reply and grpc-status 0
    # in the trailers, and a gRPC call to an unknown service a trailers-only grpc-status 12.
    from test_grpc import GrpcServer, frame, grpc_status, hello_request, parse_fields, unframe
    with Upstream(service="demo") as up, GrpcServer() as g:
        template = example_template().replace("127.0.0.1:9601", "{up1}")
        with Gateway(template, [up, g],
                     env=dict(os.environ, DEMO_IDP_CLIENT_SECRET="demo-secret")) as gw:
            body = frame(hello_request("alice"))
            with RawClient(gw.port) as c:
                c.send(b"POST /demo.Greeter/SayHello HTTP/1.1\r\nHost: localhost\r\n"
                       b"content-type: application/grpc\r\nte: trailers\r\n"
                       b"content-length: %d\r\n\r\n" % len(body) + body)
                r = c.read_response()
                assert r.status == 200 and grpc_status(r) == 0, r
                assert parse_fields(unframe(r.body)[0])[1] == b"Hello, alice!", r
                c.send(b"POST /demo.Nope/X HTTP/1.1\r\nHost: localhost\r\n"
                       b"content-type: application/grpc\r\ncontent-length: %d\r\n\r\n" % len(body)
                       + body)
                r = c.read_response()
                assert r.status == 200 and grpc_status(r) == 12, r
            # What tools/demo prints: the gRPC C++ client through the gateway (h2c).
            from test_grpc import GRPC_CLIENT
            target = "127.0.0.1:%d" % gw.port
            out = subprocess.run([GRPC_CLIENT, "--target", target, "hello", "alice"],
                                 capture_output=True, text=True, timeout=20)
            assert out.returncode == 0 and "Hello, alice!" in out.stdout, out
            out = subprocess.run([GRPC_CLIENT, "--target", target, "echo", "one", "two", "three"],
                                 capture_output=True, text=True, timeout=20)
            assert out.returncode == 0 and out.stdout.split()[:3] == ["one", "two", "three"], out

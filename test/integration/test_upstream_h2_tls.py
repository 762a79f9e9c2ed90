"""HTTP/2 over TLS to upstreams (cluster protocol H2 and AUTO): a front gatewayd whose cluster
reaches a second gatewayd (the backend) serving TLS, with HTTP/2 by ALPN or without. The
backend's /metrics tell which protocol it was spoken to; gRPC goes end to end through both
(client -h2c-> front -h2 over TLS-> backend -h2c-> demo_grpc_server)."""
import json
import subprocess

from harness import Gateway, Upstream, curl, validate_output, validation_config
from test_grpc import GRPC_CLIENT, GrpcServer
from test_tls import pki


def template(text):
    """`text` as a Gateway template: braces doubled except around {listen} and {up0}."""
    text = text.replace("{", "{{").replace("}", "}}")
    return text.replace("{{listen}}", "{listen}").replace("{{up0}}", "{up0}")


def backend_config(p, http2=True, grpc=None):
    """A TLS listener on {listen} (the test PKI's localhost certificate); / goes to {up0} and,
    with `grpc`, /demo.Greeter/ to that h2c address."""
    grpc_route = ""
    grpc_cluster = ""
    if grpc:
        grpc_route = """          - name: grpc
            match: {prefix: /demo.Greeter/}
            route_filter: {name: router, config: {cluster: greeter}}
"""
        grpc_cluster = """  - name: greeter
    protocol: H2C
    endpoints: [{address: "%s"}]
""" % grpc
    return template("""secrets:
  - name: localhost
    certificate_chain: {file: %s}
    private_key: {file: %s}
listeners:
  - name: backend
    address: "{listen}"
    forward_trailers: true
    tls:
      certificates: [{secret: localhost}]
%s    virtual_hosts:
      - domains: ["*"]
        routes:
%s          - name: api
            match: {prefix: /}
            route_filter: {name: router, config: {cluster: svc}}
clusters:
  - name: svc
    endpoints: [{address: "{up0}"}]
%s""" % (p.default[0], p.default[1], "    http2: {enabled: true}\n" if http2 else "",
          grpc_route, grpc_cluster))


def front_config(p, backend_port, protocol, ca=None, h2c_listener=False):
    """A plain listener on {listen} whose cluster `tls-backend` reaches 127.0.0.1:backend_port
    (SNI localhost) with `protocol`, verified against `ca` (default: the test PKI's CA)."""
    return template("""listeners:
  - name: front
    address: "{listen}"
    forward_trailers: true
%s    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: all
            match: {prefix: /}
            route_filter: {name: router, config: {cluster: tls-backend}}
clusters:
  - name: tls-backend
    protocol: %s
    endpoints: [{address: "127.0.0.1:%d"}]
    tls:
      sni: localhost
      ca: {file: %s}
""" % ("    http2: {enabled: true}\n" if h2c_listener else "", protocol, backend_port,
       ca or p.ca))


def metric(gw, name):
    status, body = gw.admin("GET", "/metrics")
    assert status == 200
    total = 0
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def get(gw, path="/api/x", *args):
    r = curl(["-sS", "-w", "\n%{http_code}", *args, "http://127.0.0.1:%d%s" % (gw.port, path)])
    body, code = r.stdout.rsplit(b"\n", 1)
    return int(code), body


def test_h2_cluster_multiplexes_over_tls():
    p = pki()
    with Upstream("svc") as up, Gateway(backend_config(p), [up]) as back, \
            Gateway(front_config(p, back.port, "H2")) as front:
        for i in range(20):
            code, body = get(front, "/api/item/%d" % i)
            assert code == 200, body
            echoed = json.loads(body)
            assert echoed["path"] == "/api/item/%d" % i
            # The backend terminated TLS and forwarded as https.
            assert echoed["headers"]["x-forwarded-proto"] == "https", echoed
        # Twenty sequential requests, one HTTP/2 connection (one front worker).
        assert metric(back, "gateway_http2_connections_total") == 1
        # Concurrent requests share it too (h2load over h2c would also do; curl --parallel is
        # enough for a handful).
        urls = ["http://127.0.0.1:%d/api/p/%d" % (front.port, i) for i in range(10)]
        r = curl(["-sS", "--parallel", "--parallel-max", "10", "-w", "%{http_code}\n"] +
                 [a for u in urls for a in ("-o", "/dev/null", u)])
        assert r.stdout.decode().split() == ["200"] * 10, r.stdout
        assert metric(back, "gateway_http2_connections_total") == 1


def test_auto_speaks_h2_or_http11_as_the_endpoint_chooses():
    p = pki()
    with Upstream("svc") as up, Gateway(backend_config(p, http2=True), [up]) as h2_back, \
            Gateway(backend_config(p, http2=False), [up]) as h1_back:
        with Gateway(front_config(p, h2_back.port, "AUTO")) as front:
            for i in range(5):
                code, body = get(front)
                assert code == 200, body
            assert metric(h2_back, "gateway_http2_connections_total") == 1
        with Gateway(front_config(p, h1_back.port, "AUTO")) as front:
            # The very first request goes again over HTTP/1.1 once the endpoint chose it; later
            # ones go straight to HTTP/1.1 connections (keep-alive: a POST body arrives whole).
            for i in range(5):
                code, body = get(front, "/api/post", "-d", "x" * (1000 + i))
                assert code == 200, body
                assert json.loads(body)["body_bytes"] == 1000 + i, body
            assert metric(h1_back, "gateway_http2_connections_total") == 0
            # One TLS connection learned the protocol, then one HTTP/1.1 connection reused.
            assert metric(front, "gateway_upstream_connections_total") == 2


def test_h2_cluster_refuses_an_endpoint_that_chose_http11():
    p = pki()
    with Upstream("svc") as up, Gateway(backend_config(p, http2=False), [up]) as back:
        # Offering http/1.1 as well lets the endpoint choose it: refused by name.
        cfg = front_config(p, back.port, "H2").replace("      sni: localhost\n",
                                                      "      sni: localhost\n"
                                                      "      alpn: [h2, http/1.1]\n")
        with Gateway(cfg) as front:
            code, body = get(front)
            assert code == 502, body
            err = json.loads(body)
            assert err["error"] == "upstream_protocol_error", err
            assert "chose http/1.1 by ALPN" in err["message"], err
            assert err["request_id"]
        # Offering h2 alone: the endpoint chooses nothing, the HTTP/2 preface reaches an
        # HTTP/1.1 server, which refuses it.
        with Gateway(front_config(p, back.port, "H2")) as front:
            code, body = get(front)
            assert code == 502, body
            assert json.loads(body)["error"] in ("upstream_protocol_error", "upstream_reset"), body


def test_h2_over_tls_with_an_untrusted_certificate_is_503():
    p = pki()
    with Upstream("svc") as up, Gateway(backend_config(p), [up]) as back, \
            Gateway(front_config(p, back.port, "H2", ca=p.client_ca)) as front:
        code, body = get(front)
        assert code == 503, body
        err = json.loads(body)
        assert err["error"] == "upstream_tls_error", err
        assert "certificate verify failed" in err["message"], err
        assert metric(front, "gateway_upstream_tls_handshake_failures_total") >= 1


def test_grpc_through_h2_over_tls_hop():
    p = pki()
    with GrpcServer() as server, Upstream("svc") as up, \
            Gateway(backend_config(p, grpc=server.address), [up]) as back, \
            Gateway(front_config(p, back.port, "H2", h2c_listener=True)) as front:
        target = "127.0.0.1:%d" % front.port
        out = subprocess.run([GRPC_CLIENT, "--target", target, "hello", "alice"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "Hello, alice!" in out.stdout, out
        out = subprocess.run([GRPC_CLIENT, "--target", target, "stream", "bob", "4"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.count("Hello #") == 4, out
        out = subprocess.run([GRPC_CLIENT, "--target", target, "echo", "one", "two", "three"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.split()[:3] == ["one", "two", "three"], out
        out = subprocess.run([GRPC_CLIENT, "--target", target, "--fail-with", "7", "hello", "x"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 1 and "status: 7" in out.stdout, out
        assert metric(back, "gateway_http2_connections_total") >= 1


def test_validation_of_protocol_tls_and_alpn():
    base = validation_config()
    rc, out = validate_output(base + "    protocol: H2\n")
    assert rc != 0 and "clusters[0].protocol: H2 is HTTP/2 over TLS and needs `tls`" in out, out
    rc, out = validate_output(base + "    protocol: H2\n    tls: {verify: false}\n")
    assert rc == 0, out
    rc, out = validate_output(base + "    protocol: AUTO\n    tls: {alpn: [h2]}\n")
    assert rc != 0 and "clusters[0].tls.alpn: protocol AUTO must offer http/1.1" in out, out
    rc, out = validate_output(base + "    tls: {alpn: [h2, http/1.1]}\n")
    assert rc != 0 and "clusters[0].tls.alpn[0]: this cluster speaks HTTP1" in out, out
    rc, out = validate_output(base + "    protocol: H2C\n    tls: {verify: false}\n")
    assert rc != 0 and "clusters[0].protocol: H2C is HTTP/2 without TLS" in out, out

"""The proxy's gRPC admin service (gateway.v1.ProxyAdmin) checked with an independent client:
grpc-js + proto-loader (test/integration/node, installed by tools/setup) loading api/'s protos.
GetConfig, GetClusters, GetStats, Explain, Drain; the admin token on non-loopback addresses."""
import http.client
import json
import os
import socket
import subprocess
import time
from contextlib import ExitStack

from harness import GATEWAYD, Gateway, Upstream, free_port, one_listener_config, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")
CLIENT = os.path.join(NODE_DIR, "admin_call.js")


def grpc_call(address, method, request=None, token=None):
    """One ProxyAdmin call through node: {"ok": True, "response": ...} or {"ok": False, ...}."""
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@grpc", "grpc-js")):
        raise AssertionError("test/integration/node/node_modules missing: run tools/setup")
    args = ["node", CLIENT, address, "ProxyAdmin." + method, json.dumps(request or {})]
    if token is not None:
        args += ["--token", token]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)


def grpc_batch(address, calls):
    """Several calls in one node process: [(method, request, token), ...] -> results in order."""
    payload = json.dumps([{"method": "ProxyAdmin." + m, "request": r, "token": t}
                          for m, r, t in calls])
    p = subprocess.run(["node", CLIENT, address, "--batch"], input=payload.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)


def ok(result):
    assert result["ok"], result
    return result["response"]


def http_get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, body


CONFIG = """
version: admin-1
listeners:
  - name: main
    address: "{listen}"
    post_filters:
      - name: headers
        config:
          response_set: [{{name: x-upstream, value: "%UPSTREAM_HOST%"}}]
    virtual_hosts:
      - name: api
        domains: ["api.example.com"]
        routes:
          - name: health
            match: {{path: /health}}
            route_filter: {{name: direct_response, config: {{status: 200, body: "ok"}}}}
          - name: users
            match: {{prefix: /users/}}
            prefix_rewrite: /v2/users/
            pre_filters:
              - name: headers
                config:
                  request_set: [{{name: x-trace, value: "%REQUEST_ID%"}}]
            route_filter: {{name: router, config: {{cluster: sticky}}}}
clusters:
  - name: sticky
    lb_policy: RING_HASH
    hash_policy: {{header: x-user}}
    endpoints: [{{address: "{up0}"}}, {{address: "{up1}"}}, {{address: "{up2}"}}]
"""


def test_proxy_admin_grpc_service():
    with ExitStack() as stack:
        ups = [stack.enter_context(Upstream("users")) for _ in range(3)]
        gw = stack.enter_context(Gateway(CONFIG, ups, workers=2))
        addr = "127.0.0.1:%d" % gw.grpc_port
        assert "admin gRPC on %s" % addr in gw.stderr()

        # Traffic first, so the cluster counters have something to sum over both workers.
        served = {}
        for i in range(12):
            user = "user-%d" % i
            status, hdrs, _ = gw.request("GET", "/users/%d" % i,
                                         headers={"Host": "api.example.com", "x-user": user})
            assert status == 200, status
            served[user] = hdrs["x-upstream"]

        cfg = ok(grpc_call(addr, "GetConfig"))
        assert cfg["version"] == "admin-1"
        assert cfg["bound_listeners"] == {"main": "127.0.0.1:%d" % gw.port}
        assert [l["name"] for l in cfg["config"]["listeners"]] == ["main"]
        assert [c["name"] for c in cfg["config"]["clusters"]] == ["sticky"]

        clusters = ok(grpc_call(addr, "GetClusters"))["clusters"]
        assert [c["name"] for c in clusters] == ["sticky"]
        sticky = clusters[0]
        assert sticky["lb_policy"] == "ring_hash"
        assert [e["address"] for e in sticky["endpoints"]] == [u.address for u in ups]
        by_address = {e["address"]: e for e in sticky["endpoints"]}
        for u in ups:
            e = by_address[u.address]
            assert e["healthy"] is True and e["weight"] == 1
            assert int(e["active_requests"]) == 0
            assert int(e["total_requests"]) == list(served.values()).count(u.address), (e, served)
        assert sum(int(e["total_requests"]) for e in sticky["endpoints"]) == 12

        stats = ok(grpc_call(addr, "GetStats"))["prometheus_text"]
        assert 'gateway_requests_total{route="users",cluster="sticky",status_class="2xx"} 12' in stats
        assert 'gateway_admin_unauthenticated_total{endpoint="grpc"} 0' in stats

        # Explain: the endpoint it names is the one that really served that key.
        users = sorted(served)
        explained = grpc_batch(addr, [("Explain", {"method": "GET",
                                                   "url": "http://api.example.com/users/7?a=1",
                                                   "headers": {"x-user": user}}, None)
                                      for user in users])
        for user, result in zip(users, explained):
            upstream = served[user]
            ex = ok(result)
            assert ex["endpoint"] == upstream, (user, ex, served)
            if user != "user-0":
                continue
            assert ex["listener"] == "main"
            assert ex["virtual_host"] == "api"
            assert ex["route"] == "users"
            assert ex["normalized_path"] == "/users/7"
            assert ex["upstream_path"] == "/v2/users/7?a=1"
            assert ex["cluster"] == "sticky"
            assert ex["status"] == 0 and ex["rejected"] == ""
            assert ex["trace"][0] == \
                "host 'api.example.com' -> virtual host 'api' (exact domain 'api.example.com')"
            assert ex["trace"][1] == "route 'health' (path /health): path '/users/7' does not match"
            assert ex["trace"][2].startswith("route 'users' (prefix /users/): matched")
            assert [(f["stage"], f["name"], f["decision"]) for f in ex["filters"]] == [
                ("pre", "headers", "request: set x-trace: %REQUEST_ID%; response: no changes"),
                ("route", "router", "proxy to cluster 'sticky'"),
                ("post", "headers", "request: no changes; response: set x-upstream: %UPSTREAM_HOST%"),
            ]

        # Explaining sent nothing upstream: the counters did not move.
        again = ok(grpc_call(addr, "GetClusters"))["clusters"][0]
        assert sum(int(e["total_requests"]) for e in again["endpoints"]) == 12

        direct = ok(grpc_call(addr, "Explain", {"url": "/health",
                                                "headers": {"Host": "api.example.com"}}))
        assert direct["route"] == "health" and direct["status"] == 200
        assert direct["filters"][0]["decision"] == "respond 200 (2 bytes, text/plain)"
        none = ok(grpc_call(addr, "Explain", {"url": "http://api.example.com/nope"}))
        assert none["route"] == "" and none["status"] == 404
        bad = ok(grpc_call(addr, "Explain", {"url": "http://api.example.com/users/a%2fb"}))
        assert bad["status"] == 400 and bad["rejected"].startswith("invalid path")
        unknown = ok(grpc_call(addr, "Explain", {"url": "/", "listener": "nope"}))
        assert unknown["rejected"] == "no listener named 'nope' (listeners: main)"

        # Drain: /ready turns 503, the idle gateway exits 0.
        assert ok(grpc_call(addr, "Drain"))["draining"] is True
        gw.proc.wait(10)
        assert gw.proc.returncode == 0, gw.stderr()
        assert "drain requested through the admin gRPC service" in gw.stderr()


def test_proxy_admin_token_on_non_loopback():
    with ExitStack() as stack:
        up = stack.enter_context(Upstream("svc"))
        port = free_port()
        # Not loopback and no token: refused at startup, with what to do.
        p = subprocess.run([GATEWAYD, "--admin-grpc-address", "0.0.0.0:%d" % port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                           env={k: v for k, v in os.environ.items()
                                if k != "GATEWAY_ADMIN_TOKEN"})
        assert p.returncode == 2, p.stderr
        assert b"--admin-grpc-address 0.0.0.0:%d is not a loopback address" % port in p.stderr
        assert b"--admin-token-file" in p.stderr

        token_dir = stack.enter_context(_TempDir())
        token_file = os.path.join(token_dir, "token")
        with open(token_file, "w") as f:
            f.write("s3cret-token\n")
        gw = Gateway(one_listener_config(head="""
version: tok-1
""", routes="""          - name: all
            match: {{prefix: /}}
            route_filter: {{name: router, config: {{cluster: c}}}}
clusters:
  - name: c
    endpoints: [{{address: "{up0}"}}]
"""), [up])
        gw.args += ["--admin-grpc-address", "0.0.0.0:%d" % gw.grpc_port,
                    "--admin-address", "0.0.0.0:%d" % gw.admin_port,
                    "--admin-token-file", token_file]
        stack.enter_context(gw)
        addr = "127.0.0.1:%d" % gw.grpc_port
        assert "admin gRPC on 0.0.0.0:%d (token required)" % gw.grpc_port in gw.stderr()

        # gRPC: no token, a wrong token -> UNAUTHENTICATED; the right one works.
        r = grpc_call(addr, "GetConfig")
        assert not r["ok"] and r["status"] == "UNAUTHENTICATED", r
        assert "authorization: Bearer" in r["details"]
        r = grpc_call(addr, "Explain", {"url": "/"}, token="wrong")
        assert not r["ok"] and r["status"] == "UNAUTHENTICATED", r
        assert ok(grpc_call(addr, "GetConfig", token="s3cret-token"))["version"] == "tok-1"

        # HTTP admin: 401 JSON without the token; /ready stays open for probes.
        status, hdrs, body = http_get(gw.admin_port, "/metrics")
        assert status == 401
        assert hdrs["content-type"] == "application/json"
        assert hdrs["www-authenticate"] == "Bearer"
        assert json.loads(body)["error"] == "unauthenticated"
        status, _, _ = http_get(gw.admin_port, "/config_dump",
                                {"Authorization": "Bearer nope"})
        assert status == 401
        assert http_get(gw.admin_port, "/ready")[0] == 200
        status, _, body = http_get(gw.admin_port, "/metrics",
                                   {"Authorization": "Bearer s3cret-token"})
        assert status == 200
        text = body.decode()
        assert 'gateway_admin_unauthenticated_total{endpoint="grpc"} 2' in text, text
        assert 'gateway_admin_unauthenticated_total{endpoint="http"} 2' in text, text
        # The data path is not affected by the admin token.
        assert gw.request("GET", "/x", headers={"Host": "a"})[0] == 200


def test_proxy_admin_explicit_address_in_use_fails():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        p = subprocess.run([GATEWAYD, "--admin-address", "127.0.0.1:%d" % free_port(),
                            "--admin-grpc-address", "127.0.0.1:%d" % port,
                            "--access-log", "off"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        assert p.returncode == 1, p.stderr
        assert b"admin gRPC: cannot listen on 127.0.0.1:%d" % port in p.stderr
    finally:
        busy.close()


class _TempDir:
    def __enter__(self):
        import tempfile
        self.path = tempfile.mkdtemp(prefix="gw-admin-")
        return self.path

    def __exit__(self, *exc):
        import shutil
        shutil.rmtree(self.path, ignore_errors=True)

"""The filter platform end to end with real processes: a test-only filter (test_probe, linked
into gatewayd_test) makes one Redis command and one cluster call per request on the worker's
loop. A real redis-server is killed and restarted under it, clients vanish mid-call, and 100k
requests go through with the memory watched."""
import json
import re
import shutil
import socket
import subprocess
import time

from harness import (GATEWAYD_TEST, Gateway, RedisServer, Upstream, rss_kib, wait_for)

PROBE_CONFIG = """
version: probe-1
listeners:
  - name: main
    address: "{listen}"
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: probed
            match: {{prefix: /}}
            timeout: 5s
            pre_filters:
              - name: test_probe
                config: {{redis: shared, key: hits, cluster: aux, path: /aux,
                          call_delay_ms: %(delay)d}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
  - name: aux
    endpoints: [{{address: "{up1}"}}]
redis_servers:
  - name: shared
    address: "%(redis)s"
    command_timeout: 0.5s
"""


def probe_gateway(redis, backend, aux, delay=0, workers=1):
    return Gateway(PROBE_CONFIG % {"redis": redis.address, "delay": delay}, [backend, aux],
                   workers=workers, binary=GATEWAYD_TEST, args=["--access-log", "off"])


def metric(gw, name):
    body = gw.admin("GET", "/metrics")[1].decode()
    m = re.search(r"^%s (\d+)" % re.escape(name), body, re.M)
    return int(m.group(1)) if m else None


def test_probe_calls_redis_and_a_cluster_per_request():
    with RedisServer() as redis, Upstream("backend") as be, Upstream("aux") as aux, \
            probe_gateway(redis, be, aux) as gw:
        wait_for(lambda: gw.request("GET", "/warm")[0] == 200, timeout=5, what="redis connected")
        counts = []
        for i in range(5):
            status, _, body = gw.request("GET", "/p%d" % i)
            assert status == 200, body
            seen = json.loads(body)["headers"]
            assert seen["x-probe-status"] == "200", seen
            counts.append(int(seen["x-probe-count"]))
        assert counts == list(range(counts[0], counts[0] + 5)), counts
        assert aux.stats()["requests"] >= 6  # one call per request
        assert metric(gw, "gateway_filter_test_probe_redis_ok_total") >= 6
        assert metric(gw, "gateway_filter_test_probe_call_ms_count") >= 6


def test_probe_survives_redis_killed_and_restarted():
    with Upstream("backend") as be, Upstream("aux") as aux:
        redis = RedisServer().start()
        try:
            with probe_gateway(redis, be, aux) as gw:
                wait_for(lambda: gw.request("GET", "/warm")[0] == 200, timeout=5,
                         what="redis connected")
                redis.kill()
                # Clear errors, at once: no request waits for a dead Redis.
                for i in range(20):
                    t0 = time.time()
                    status, hdrs, body = gw.request("GET", "/down%d" % i, timeout=5)
                    took = time.time() - t0
                    assert status == 503, (status, body)
                    err = json.loads(body)
                    assert err["error"] == "unavailable", err
                    assert "redis 'shared'" in err["message"], err
                    assert hdrs["content-type"] == "application/json"
                    assert took < 1.0, took
                wait_for(lambda: metric(gw, "gateway_downstream_requests_active") == 0,
                         timeout=2, what="no request stuck")
                assert metric(gw, "gateway_filter_test_probe_redis_failed_total") >= 20
                # Redis comes back on the same port: the client reconnects by itself.
                redis.start()
                t0 = time.time()
                wait_for(lambda: gw.request("GET", "/back")[0] == 200, timeout=10,
                         interval=0.1, what="requests succeed again")
                print("  redis restarted: requests succeed again after %.2fs" % (time.time() - t0))
                status, _, body = gw.request("GET", "/after")
                assert status == 200
                assert json.loads(body)["headers"]["x-probe-count"].isdigit()
        finally:
            redis.kill()


def test_probe_cancelled_when_the_client_disconnects_mid_call():
    with RedisServer() as redis, Upstream("backend") as be, Upstream("aux") as aux, \
            probe_gateway(redis, be, aux, delay=2000) as gw:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", gw.port), 5)
            s.sendall(b"GET /gone HTTP/1.1\r\nHost: a\r\n\r\n")
            wait_for(lambda: metric(gw, "gateway_downstream_requests_active") == 1, timeout=3,
                     what="the request in flight")
            s.close()  # the client vanishes while the cluster call is out
            wait_for(lambda: metric(gw, "gateway_downstream_requests_active") == 0, timeout=3,
                     what="the request torn down")
        assert metric(gw, "gateway_filter_test_probe_cancelled_total") == 3
        # The backend never saw those requests: they ended in the probe's pre stage.
        assert be.stats()["requests"] == 0


def _h2load(port, n, conns=20):
    out = subprocess.run(["h2load", "--h1", "-n", str(n), "-c", str(conns), "-t", "1",
                          "http://127.0.0.1:%d/load" % port],
                         capture_output=True, text=True, timeout=300).stdout
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", out)
    assert m, out
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    return int(m.group(2)), int(m.group(3)), int(codes.group(1)), int(codes.group(4))


def test_probe_memory_flat_over_100k_requests_across_a_redis_restart():
    if shutil.which("h2load") is None:
        raise AssertionError("h2load is not installed (tools/setup installs nghttp2-client)")
    with Upstream("backend") as be, Upstream("aux") as aux:
        redis = RedisServer().start()
        try:
            with probe_gateway(redis, be, aux) as gw:
                wait_for(lambda: gw.request("GET", "/warm")[0] == 200, timeout=5,
                         what="redis connected")
                done, _, ok, _ = _h2load(gw.port, 20000)  # warm-up: pools, buffers, caches
                assert ok == done == 20000
                before = rss_kib(gw.proc.pid)
                t0 = time.time()
                done, _, ok, _ = _h2load(gw.port, 50000)
                assert ok == done == 50000
                redis.kill()
                done, _, ok, err5xx = _h2load(gw.port, 25000)  # every one a fast 503
                assert done == 25000 and ok == 0 and err5xx == 25000, (done, ok, err5xx)
                redis.start()
                wait_for(lambda: gw.request("GET", "/back")[0] == 200, timeout=10,
                         interval=0.1, what="redis back")
                done, _, ok, _ = _h2load(gw.port, 25000)
                assert ok == done == 25000
                after = rss_kib(gw.proc.pid)
                took = time.time() - t0
                print("  100k requests (25k with Redis down) in %.1fs: RSS %d -> %d KiB (%+d)" %
                      (took, before, after, after - before))
                wait_for(lambda: metric(gw, "gateway_downstream_requests_active") == 0,
                         timeout=2, what="no request left in flight")
                assert after - before < 4096, (before, after)
        finally:
            redis.kill()

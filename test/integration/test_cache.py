"""The response cache (issue 16) with real processes: gatewayd, demo upstreams, redis-server and
gatewayctl. Every X-Cache state; 100 concurrent misses make one upstream request; an upstream
that dies while stale entries exist serves STALE; two gateways share Redis (B hits what A
stored); a purge through gatewayctl removes the entry on every node; Redis killed mid-test."""
import http.client
import json
import re
import subprocess
import threading
import time

from harness import GATEWAYCTL, Gateway, RedisServer, Upstream, wait_for


def config(cache="default_ttl_seconds: 30", redis=None):
    head = ""
    if redis is not None:
        head = """redis_servers:
  - name: shared
    address: "%s"
    command_timeout: 0.5s
""" % redis
    return (head + """listeners:
  - name: main
    address: "{listen}"
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: cached
            match: {{prefix: /c/}}
            pre_filters:
              - name: cache
                config: {{%s}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: plain
            match: {{prefix: /}}
            route_filter: {{name: router, config: {{cluster: up}}}}
clusters:
  - name: up
    endpoints: [{{address: "{up0}"}}]
""" % cache.replace("{", "{{").replace("}", "}}"))


def get(gw, path, headers=(), method="GET"):
    """(status, headers dict, body); `headers` a list of (name, value), names may repeat."""
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    c.putrequest(method, path)
    for k, v in headers:
        c.putheader(k, v)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, body


def upstream_requests(up):
    return up.stats()["requests"]


def demo(h):
    return ("x-demo-header", h)


def ctl(proxies, *args):
    p = subprocess.run([GATEWAYCTL, "--proxy", ",".join("127.0.0.1:%d" % g.grpc_port
                                                       for g in proxies)] + list(args),
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def metric(gw, name, route="cached"):
    _, body = gw.admin("GET", "/metrics")
    m = re.search(r'^%s\{route="%s"\} (\d+)$' % (re.escape(name), route), body.decode(), re.M)
    return int(m.group(1)) if m else None


def test_cache_every_state():
    with Upstream(service="origin") as up, Gateway(config(), [up], workers=2) as gw:
        # MISS, then HIT with Age and the same body; the upstream saw one request.
        s, h, b = get(gw, "/c/a?y=2&x=1")
        assert (s, h["x-cache"]) == (200, "MISS"), h
        s, h, b2 = get(gw, "/c/a?x=1&y=2")  # the same resource: the query is sorted in the key
        assert (s, h["x-cache"]) == (200, "HIT") and b2 == b, h
        assert int(h["age"]) >= 0
        assert upstream_requests(up) == 1
        # Age grows while the entry rests.
        time.sleep(1.1)
        assert int(get(gw, "/c/a?x=1&y=2")[1]["age"]) >= 1
        # BYPASS: other methods, Authorization, a client's no-cache; uncached routes have no X-Cache.
        assert get(gw, "/c/a?x=1&y=2", method="POST")[1]["x-cache"] == "BYPASS"
        assert get(gw, "/c/b", [("authorization", "Bearer t")])[1]["x-cache"] == "BYPASS"
        assert get(gw, "/c/b", [("cache-control", "no-cache")])[1]["x-cache"] == "BYPASS"
        assert "x-cache" not in get(gw, "/other")[1]
        # The POST invalidated /c/a?x=1&y=2.
        assert get(gw, "/c/a?x=1&y=2")[1]["x-cache"] == "MISS"
        # no-store responses are never stored.
        for _ in range(2):
            assert get(gw, "/c/ns", [demo("cache-control: no-store")])[1]["x-cache"] == "MISS"
        # 304 from the gateway for a fresh entry's validator.
        get(gw, "/c/e", [demo("etag: \"v1\"")])
        s, h, b = get(gw, "/c/e", [("if-none-match", "\"v1\"")])
        assert (s, h["x-cache"], b) == (304, "HIT", b""), h
        # EXPIRED: a stale entry with a validator, replaced by the upstream's full answer.
        get(gw, "/c/x", [demo("etag: \"v1\""), demo("cache-control: max-age=1")])
        time.sleep(1.2)
        s, h, _ = get(gw, "/c/x", [demo("etag: \"v2\""), demo("cache-control: max-age=60")])
        assert h["x-cache"] == "EXPIRED", h
        assert get(gw, "/c/x")[1]["x-cache"] == "HIT"
        # REFRESH: the upstream answers the revalidation with 304; the stored body is served.
        s, _, body = get(gw, "/c/r", [demo("etag: \"r1\""), demo("cache-control: max-age=1")])
        time.sleep(1.2)
        before = upstream_requests(up)
        s, h, b = get(gw, "/c/r", [("x-demo-status", "304"), demo("cache-control: max-age=60")])
        assert (s, h["x-cache"]) == (200, "REFRESH") and b == body, (s, h)
        assert upstream_requests(up) == before + 1
        assert get(gw, "/c/r")[1]["x-cache"] == "HIT"
        # STALE (stale-if-error): the upstream fails, the stale entry answers.
        get(gw, "/c/s", [demo("cache-control: max-age=1, stale-if-error=60")])
        time.sleep(1.2)
        s, h, _ = get(gw, "/c/s", [("x-demo-status", "503")])
        assert (s, h["x-cache"]) == (200, "STALE"), (s, h)
        # STALE (stale-while-revalidate): served at once, refreshed once in the background.
        get(gw, "/c/w", [demo("cache-control: max-age=1, stale-while-revalidate=60")])
        time.sleep(1.2)
        before = upstream_requests(up)
        assert get(gw, "/c/w")[1]["x-cache"] == "STALE"
        wait_for(lambda: upstream_requests(up) == before + 1, what="background refresh")
        wait_for(lambda: get(gw, "/c/w")[1]["x-cache"] == "HIT", what="refreshed entry")
        # Too large for max_entry_bytes (1 MiB): streams through as BYPASS, not stored.
        s, h, b = get(gw, "/c/big", [("x-demo-content-length-stream", str(2 << 20))])
        assert (s, h["x-cache"], len(b)) == (200, "BYPASS", 2 << 20), h
        assert get(gw, "/c/big", [("x-demo-content-length-stream", str(2 << 20))])[1]["x-cache"] \
            == "BYPASS"
        # The route's stats in /metrics and gatewayctl cache stats.
        assert metric(gw, "gateway_cache_route_entries") >= 5
        _, body = gw.admin("GET", "/metrics")
        assert 'gateway_cache_requests_total{route="cached",result="hit"}' in body.decode()
        out = ctl([gw], "cache", "stats")
        assert "cached" in out and "HIT RATIO" in out, out
        doc = json.loads(ctl([gw], "cache", "stats", "-o", "json"))
        route = [r for r in doc["proxies"][0]["routes"] if r["route"] == "cached"][0]
        assert int(route["hits"]) >= 5 and route["hit_ratio"] > 0, route


def test_cache_vary_and_key_headers():
    cache = "default_ttl_seconds: 30, key_headers: [api-version]"
    with Upstream(service="origin") as up, Gateway(config(cache), [up]) as gw:
        vary = demo("vary: Accept-Language")
        assert get(gw, "/c/v", [("accept-language", "en"), vary])[1]["x-cache"] == "MISS"
        assert get(gw, "/c/v", [("accept-language", "de"), vary])[1]["x-cache"] == "MISS"
        assert get(gw, "/c/v", [("accept-language", "en")])[1]["x-cache"] == "HIT"
        assert get(gw, "/c/v", [("accept-language", "de")])[1]["x-cache"] == "HIT"
        assert get(gw, "/c/v", [("accept-language", "fr")])[1]["x-cache"] == "MISS"
        # key_headers without Vary: versions never share entries.
        assert get(gw, "/c/k", [("api-version", "1")])[1]["x-cache"] == "MISS"
        assert get(gw, "/c/k", [("api-version", "2")])[1]["x-cache"] == "MISS"
        assert get(gw, "/c/k", [("api-version", "1")])[1]["x-cache"] == "HIT"
        # Vary: * is never served from the cache.
        for _ in range(2):
            assert get(gw, "/c/star", [demo("vary: *")])[1]["x-cache"] == "MISS"


def test_cache_100_concurrent_misses_make_one_upstream_request():
    with Upstream(service="origin") as up, Gateway(config(), [up], workers=4) as gw:
        results = []
        lock = threading.Lock()

        def one():
            # The leader's upstream request takes 500 ms: the others arrive meanwhile.
            r = get(gw, "/c/hot", [("x-demo-delay-ms", "500")])
            with lock:
                results.append(r)

        threads = [threading.Thread(target=one) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(results) == 100
        assert all(s == 200 for s, _, _ in results)
        bodies = {b for _, _, b in results}
        assert len(bodies) == 1
        assert upstream_requests(up) == 1, upstream_requests(up)
        states = sorted(h["x-cache"] for _, h, _ in results)
        assert states.count("MISS") == 1, states
        assert metric(gw, "gateway_cache_coalesced_total") >= 90


def test_cache_serves_stale_when_the_upstream_dies():
    cache = "default_ttl_seconds: 1, stale_if_error_seconds: 300"
    up = Upstream(service="origin").__enter__()
    try:
        with Gateway(config(cache), [up]) as gw:
            for p in ("/c/1", "/c/2"):
                assert get(gw, p)[1]["x-cache"] == "MISS"
            up.__exit__()
            time.sleep(1.2)
            for p in ("/c/1", "/c/2"):
                s, h, b = get(gw, p)
                assert (s, h["x-cache"]) == (200, "STALE"), (s, h, b)
            # Nothing stale to give: the error goes through with X-Cache.
            s, h, b = get(gw, "/c/3")
            assert s == 502 and h["x-cache"] == "MISS", (s, h, b)
    finally:
        up.__exit__()


def test_cache_two_nodes_share_redis_and_purge_reaches_every_node():
    cache = "default_ttl_seconds: 30, redis: shared"
    with RedisServer() as redis, Upstream(service="origin") as up, \
            Gateway(config(cache, redis.address), [up]) as a, \
            Gateway(config(cache, redis.address), [up]) as b:
        wait_for(lambda: get(a, "/c/warm")[0] == 200, what="a")
        time.sleep(0.3)  # the workers' Redis clients connect
        s, h, body = get(a, "/c/p/1")
        assert h["x-cache"] == "MISS"
        n = upstream_requests(up)
        # B never saw it: found in Redis.
        s, h, body_b = get(b, "/c/p/1")
        assert (h["x-cache"], body_b) == ("HIT", body), h
        assert upstream_requests(up) == n
        assert metric(b, "gateway_cache_redis_hits_total") == 1
        # Purge on every node through gatewayctl: each node's next request is a MISS (Redis
        # copies made before the purge are ignored and deleted).
        out = ctl([a, b], "cache", "purge", "--prefix", "/c/p/")
        assert out.count("purged 1 entries") == 2, out
        assert get(a, "/c/p/1")[1]["x-cache"] == "MISS"
        assert get(b, "/c/p/1")[1]["x-cache"] in ("MISS", "HIT")  # HIT: A's new copy via Redis
        assert upstream_requests(up) == n + 1
        # Purge by exact key too.
        out = ctl([a, b], "cache", "purge", "--key", "/c/p/1")
        assert get(b, "/c/p/1")[1]["x-cache"] == "MISS"
        # The admin HTTP endpoint purges as well.
        st, body = a.admin("POST", "/cache/purge?prefix=/c/")
        assert st == 200 and json.loads(body)["purged"] >= 1, body
        st, body = a.admin("GET", "/cache/stats")
        assert st == 200 and json.loads(body)["routes"][0]["route"] == "cached"


def test_cache_redis_killed_mid_test():
    cache = "default_ttl_seconds: 30, redis: shared"
    redis = RedisServer().start()
    try:
        with Upstream(service="origin") as up, \
                Gateway(config(cache, redis.address), [up]) as gw:
            time.sleep(0.3)
            assert get(gw, "/c/k/1")[1]["x-cache"] == "MISS"
            redis.kill()
            # Memory alone: the entry stored before still hits, new ones miss then hit, no errors.
            assert get(gw, "/c/k/1")[1]["x-cache"] == "HIT"
            t0 = time.time()
            s, h, _ = get(gw, "/c/k/2")
            assert (s, h["x-cache"]) == (200, "MISS") and time.time() - t0 < 2, h
            assert get(gw, "/c/k/2")[1]["x-cache"] == "HIT"
            assert metric(gw, "gateway_cache_redis_errors_total") >= 1
            # Redis back: the tier is used again by itself.
            redis.start()
            wait_for(lambda: get(gw, "/c/k/%f" % time.time())[0] == 200 and
                     int(subprocess.run(["redis-cli", "-p", str(redis.port), "dbsize"],
                                        capture_output=True, text=True).stdout.strip() or 0) > 0,
                     timeout=10, what="entries written to the restarted redis")
    finally:
        redis.kill()

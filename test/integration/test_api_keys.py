"""`api_key_auth` on real gatewayd processes with a real redis-server: keys by their SHA-256,
the key taken out of the request, RateLimit-* headers, the plan's rate and quota, two gateways
sharing one Redis quota exactly, and the plan's failure_mode when Redis is killed."""
import hashlib
import json
import re
import threading

from harness import Gateway, RedisServer, Upstream, one_listener_config, wait_for


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def config(redis_address="127.0.0.1:1", quota=5, rate=1000):
    head = """
version: keys-1
redis_servers:
  - {{name: quotas, address: "%(redis)s", command_timeout: 0.2s}}
usage_plans:
  - name: memory
    rate: {{requests_per_second: %(rate)d}}
    quota: {{limit: %(quota)d, period: DAY}}
  - name: shared-allow
    quota: {{limit: %(quota)d, period: MONTH, time_zone: Europe/Berlin}}
    redis: quotas
  - name: shared-deny
    quota: {{limit: %(quota)d, period: DAY}}
    redis: quotas
    failure_mode: DENY
  - name: slow
    rate: {{requests_per_second: 1, burst: 2}}
api_keys:
  - {{id: mem, key_sha256: %(mem)s, plan: memory, consumer: {{id: acme, roles: [partner]}}}}
  - {{id: allow, key_sha256: %(allow)s, plan: shared-allow}}
  - {{id: deny, key_sha256: %(deny)s, plan: shared-deny}}
  - {{id: slow, key_sha256: %(slow)s, plan: slow}}
  - {{id: off, key_sha256: %(off)s, enabled: false}}
  - {{id: old, key_sha256: %(old)s, expires_at: "2021-01-01T00:00:00Z"}}
""" % {"redis": redis_address, "quota": quota, "rate": rate, "mem": sha("mem-key"),
       "allow": sha("allow-key"), "deny": sha("deny-key"), "slow": sha("slow-key"),
       "off": sha("off-key"), "old": sha("old-key")}
    return one_listener_config(head=head, routes="""          - name: partner
            match: {{prefix: /api/partner}}
            pre_filters:
              - {{name: api_key_auth, config: {{query_param: api_key}}}}
              - name: authz
                config:
                  rules: [{{}}]
            route_filter: {{name: router, config: {{cluster: backend}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
""")


def key(k):
    return {"X-API-Key": k}


def error_code(body):
    return json.loads(body)["error"]


def test_keys_identity_and_typed_401s():
    with Upstream() as up, Gateway(config(), [up]) as gw:
        status, headers, body = gw.request("GET", "/api/partner/x?a=1&api_key=mem-key&b=2")
        assert status == 200, body
        seen = json.loads(body)
        assert seen["query"] == "a=1&b=2", seen  # the key left the query
        h = {k.lower(): v for k, v in seen["headers"].items()}
        assert h["x-user-id"] == "acme" and h["x-user-roles"] == "partner", h
        assert "x-api-key" not in h
        assert headers["ratelimit-limit"] == "5" and headers["ratelimit-remaining"] == "4", headers
        status, _, body = gw.request("GET", "/api/partner/x", headers=key("mem-key"))
        assert status == 200
        assert "x-api-key" not in {k.lower() for k in json.loads(body)["headers"]}
        for headers, code in [({}, "api_key_missing"), (key("nope"), "api_key_unknown"),
                              (key("off-key"), "api_key_disabled"),
                              (key("old-key"), "api_key_expired")]:
            status, rh, body = gw.request("GET", "/api/partner/x", headers=headers)
            assert (status, error_code(body)) == (401, code), body
            assert rh["www-authenticate"] == 'ApiKey header="x-api-key"'
        # The key never shows in the config dump or the error bodies.
        dump = gw.admin("GET", "/config_dump")[1].decode()
        assert "mem-key" not in dump and sha("mem-key") in dump


def test_rate_and_memory_quota():
    with Upstream() as up, Gateway(config(quota=3), [up], workers=2) as gw:
        statuses = [gw.request("GET", "/api/partner/q", headers=key("mem-key")) for _ in range(4)]
        assert [s for s, _, _ in statuses] == [200, 200, 200, 429], statuses
        status, headers, body = statuses[3]
        err = json.loads(body)
        assert err["error"] == "quota_exceeded", err
        assert err["details"]["limit"] == "3" and err["details"]["reset"].endswith("Z"), err
        assert headers["ratelimit-remaining"] == "0"
        assert int(headers["retry-after"]) == int(headers["ratelimit-reset"]) > 0
        # The slow plan: burst 2 at 1/s.
        got = [gw.request("GET", "/api/partner/r", headers=key("slow-key"))[0] for _ in range(3)]
        assert got == [200, 200, 429], got
        status, headers, body = gw.request("GET", "/api/partner/r", headers=key("slow-key"))
        assert (status, error_code(body)) == (429, "rate_limited")
        assert headers["retry-after"] == "1"


def test_two_gateways_share_one_redis_quota_exactly():
    quota = 40
    with RedisServer() as redis, Upstream() as up, \
            Gateway(config(redis.address, quota=quota), [up], workers=2) as gw1, \
            Gateway(config(redis.address, quota=quota), [up], workers=2) as gw2:
        wait_for(lambda: gw1.request("GET", "/api/partner/w", headers=key("allow-key"))[0] == 200
                 and gw2.request("GET", "/api/partner/w", headers=key("allow-key"))[0] == 200,
                 timeout=5, what="both gateways counting in redis")
        results = []
        lock = threading.Lock()

        def fire(gw, n):
            for _ in range(n):
                status, headers, body = gw.request("GET", "/api/partner/c",
                                                   headers=key("allow-key"))
                with lock:
                    results.append((status, error_code(body) if status != 200 else None))

        threads = [threading.Thread(target=fire, args=(gw, 25)) for gw in (gw1, gw2, gw1, gw2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(results) == 100
        admitted = sum(1 for s, _ in results if s == 200)
        # Two were admitted by the warm-up; the rest of the quota exactly, by both together.
        assert admitted == quota - 2, results
        assert all(c == "quota_exceeded" for s, c in results if s != 200), results


def metric(gw, text):
    body = gw.admin("GET", "/metrics")[1].decode()
    m = re.search(r"^%s (\d+)$" % re.escape(text), body, re.M)
    return int(m.group(1)) if m else 0


def test_redis_killed_mid_test_honours_failure_mode():
    redis = RedisServer().start()
    try:
        with Upstream() as up, Gateway(config(redis.address, quota=100), [up]) as gw:
            wait_for(lambda: gw.request("GET", "/api/partner/k", headers=key("deny-key"))[0] == 200,
                     timeout=5, what="redis connected")
            redis.kill()
            status, _, body = gw.request("GET", "/api/partner/k", headers=key("allow-key"))
            assert status == 200, body
            status, _, body = gw.request("GET", "/api/partner/k", headers=key("deny-key"))
            assert (status, error_code(body)) == (503, "quota_unavailable"), body
            assert metric(gw, 'gateway_filter_api_key_auth_quota_redis_unavailable_total'
                              '{plan="shared-allow",decision="allow"}') == 1
            assert metric(gw, 'gateway_filter_api_key_auth_quota_redis_unavailable_total'
                              '{plan="shared-deny",decision="deny"}') == 1
            # Redis back: counting resumes where it was (the counter survived in... a fresh
            # Redis here, so from zero) and deny-key passes again.
            redis.start()
            wait_for(lambda: gw.request("GET", "/api/partner/k", headers=key("deny-key"))[0]
                     == 200, timeout=10, what="redis reconnected")
    finally:
        redis.kill()

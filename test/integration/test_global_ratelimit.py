"""`global_ratelimit` on real gatewayd processes with a real redis-server: two gateways sharing one
limit of 100 requests per 10 s under concurrent load (the total admitted within GCRA's accuracy,
docs/global-rate-limits.md), redis-server killed, stopped and restarted under load (failure_mode
allow and deny honoured, every request answered within the command timeout's bound), and a
per-user limit keyed by the JWT subject (a header the client sets changes nothing)."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import threading
import time

from harness import Gateway, RedisServer, Upstream, one_listener_config, wait_for

SECRET = "global-ratelimit-test-secret"
ISSUER = "https://idp.test"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(sub):
    now = int(time.time())
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": sub, "iss": ISSUER, "iat": now, "exp": now + 3600}).encode())
    sig = hmac.new(SECRET.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(sig)


WARM_ROUTE = """          - name: warm
            match: {{prefix: /warm}}
            pre_filters:
              - name: global_ratelimit
                config:
                  redis: shared
                  failure_mode: deny
                  limits: [{{name: warm, requests: 100000, period: 1s}}]
            route_filter: {{name: direct_response, config: {{status: 200, body: "warm"}}}}
"""


def config(redis_address, limits, failure_mode="allow", command_timeout="0.2s",
           extra_routes=WARM_ROUTE):
    """One route /api/ behind jwt_auth and global_ratelimit with `limits` (YAML flow list,
    template braces doubled), and /warm (wait_redis_ready)."""
    head = """
version: grl-1
redis_servers:
  - {{name: shared, address: "%s", command_timeout: %s, connect_timeout: 0.5s}}
auth_providers:
  - {{name: users, issuer: "%s", secret: "%s"}}
""" % (redis_address, command_timeout, ISSUER, SECRET)
    return one_listener_config(head=head, routes=extra_routes + """          - name: api
            match: {{prefix: /api/}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: users}}}}
              - name: global_ratelimit
                config:
                  redis: shared
                  failure_mode: %s
                  response_headers: true
                  limits: %s
            route_filter: {{name: router, config: {{cluster: backend}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
""" % (failure_mode, limits))


def metric(gw, name):
    text = gw.admin("GET", "/metrics")[1].decode()
    m = re.search(r"^%s (\d+)" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else 0


def wait_redis_ready(gw, n=20):
    """Until n requests in a row on fresh connections (spread over the workers) pass /warm, whose
    limit denies when Redis cannot decide: every worker's connection to Redis is up (gatewayd is
    ready before its workers have connected to Redis)."""
    streak = [0]

    def ok():
        streak[0] = streak[0] + 1 if gw.request("GET", "/warm")[0] == 200 else 0
        return streak[0] >= n
    wait_for(ok, timeout=10, interval=0.01, what="every worker connected to redis")


def bearer(sub):
    return {"Authorization": "Bearer " + jwt(sub)}


class Load:
    """`threads` clients, each on its own keep-alive connection, sending GET `path` to one of
    `gateways` (round robin) until stop(); every outcome is recorded as (status or exception
    text, seconds taken, error code)."""

    def __init__(self, gateways, path, threads=4, headers=None, timeout=5.0):
        self.gateways = gateways
        self.path = path
        self.headers = headers or {}
        self.timeout = timeout
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i):
        gw = self.gateways[i % len(self.gateways)]
        conn = None
        while not self.stopping.is_set():
            t0 = time.time()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=self.timeout)
                conn.request("GET", self.path, headers=self.headers)
                r = conn.getresponse()
                body = r.read()
                code = ""
                if r.status >= 400:
                    try:
                        code = json.loads(body).get("error", "")
                    except ValueError:
                        code = "?"
                outcome = (r.status, time.time() - t0, code)
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # a hang (timeout) or a broken connection: recorded
                outcome = ("%s: %s" % (type(e).__name__, e), time.time() - t0, "")
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.results.append(outcome)
        if conn is not None:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(15)
        return self.results

    def __exit__(self, *exc):
        self.stop()

    def count(self):
        with self.lock:
            return len(self.results)


def test_two_gateways_share_one_limit_of_100_per_10s():
    limits = "[{{name: shared-100, requests: 100, period: 10s, by: []}}]"
    with RedisServer() as redis, Upstream() as up, \
            Gateway(config(redis.address, limits, failure_mode="deny"), [up], workers=2) as gw1, \
            Gateway(config(redis.address, limits, failure_mode="deny"), [up], workers=2) as gw2:
        # failure_mode deny: a request Redis did not decide would show as a 503, never as an
        # extra 200.
        wait_redis_ready(gw1)
        wait_redis_ready(gw2)
        gws = (gw1, gw2)

        def total(name):
            return sum(metric(g, "gateway_filter_global_ratelimit_%s_total" % name) for g in gws)
        allowed0 = [metric(g, "gateway_filter_global_ratelimit_allowed_total") for g in gws]
        calls0 = total("redis_calls")
        t0 = time.time()
        with Load([gw1, gw2], "/api/x", threads=8, headers=bearer("load")) as load:
            wait_for(lambda: load.count() >= 600, timeout=20, what="600 requests")
            results = load.stop()
        elapsed = time.time() - t0
        statuses = [s for s, _, _ in results]
        admitted = statuses.count(200)
        limited = statuses.count(429)
        assert admitted + limited == len(statuses), set(statuses)
        # GCRA in one Redis script is exact: the burst of 100, plus one request per 100 ms of
        # the load's duration (the first request's clock to the last one's), never more.
        assert 100 <= admitted <= 100 + int(elapsed * 10) + 1, (admitted, elapsed)
        assert limited > 0
        # Both gateways took part, and their counters add up to what the clients saw.
        allowed = [metric(g, "gateway_filter_global_ratelimit_allowed_total") - a0
                   for g, a0 in zip(gws, allowed0)]
        assert min(allowed) > 0, allowed
        assert sum(allowed) == admitted, (allowed, admitted)
        assert total("limited") == limited
        # Most refusals never reached Redis: the workers' pre-check answered them. Each request
        # is at most one script call (the script is loaded already: /warm ran it).
        calls = total("redis_calls") - calls0
        prechecked = total("local_precheck_rejected")
        assert prechecked > 0
        assert calls + prechecked == len(statuses), (calls, prechecked, len(statuses))
        # A 429 carries its headers. The limit refills by one request per 100 ms since the load
        # stopped (the metric scrapes above take a while on a busy machine): ask until refused,
        # which back-to-back requests reach long before the bound.
        for _ in range(200):
            status, headers, body = gw1.request("GET", "/api/x", headers=bearer("load"))
            if status == 429:
                break
        assert status == 429, body
        assert json.loads(body)["error"] == "rate_limited"
        assert int(headers["retry-after"]) >= 1
        assert headers["ratelimit-limit"] == "100" and headers["ratelimit-remaining"] == "0"
        assert int(headers["ratelimit-reset"]) >= 1


def run_outage(failure_mode):
    """Load on a gateway while redis-server is stopped (SIGSTOP: slower than any timeout), then
    killed, then restarted. Returns (results, gateway metrics) split by phase."""
    limits = "[{{name: per-user, requests: 100000, period: 1s, by: [user]}}]"
    redis = RedisServer().start()
    try:
        with Upstream() as up, Gateway(config(redis.address, limits, failure_mode=failure_mode),
                                       [up], workers=2) as gw:
            wait_redis_ready(gw)
            phases = {}
            with Load([gw], "/api/x", threads=4, headers=bearer("alice")) as load:
                def phase(name, seconds):
                    start = load.count()
                    time.sleep(seconds)
                    with load.lock:
                        phases[name] = list(load.results[start:])

                phase("before", 0.5)
                os.kill(redis.proc.pid, signal.SIGSTOP)  # hung: every command times out
                phase("stopped", 2.5)
                os.kill(redis.proc.pid, signal.SIGCONT)
                redis.kill()                               # down: commands fail at once
                phase("down", 1.0)
                redis.start()                              # back on the same port
                # Reconnected (backoff with jitter): Redis decides again (its headers show).
                wait_for(lambda: gw.request("GET", "/api/probe", headers=bearer("probe"))[1]
                         .get("ratelimit-limit") == "100000", timeout=15, what="reconnected")
                # ... on every worker (each has its own connection and backoff): under deny, the
                # load's last 40 requests all passed.
                mark = load.count()

                def recent_ok():
                    with load.lock:
                        recent = load.results[-40:]
                        return len(load.results) > mark + 40 and all(r[0] == 200 for r in recent)
                wait_for(recent_ok, timeout=15, what="every worker reconnected")
                phase("after", 1.0)
            return phases, {
                "allowed": metric(gw, "gateway_filter_global_ratelimit_failure_mode_allowed_total"),
                "denied": metric(gw, "gateway_filter_global_ratelimit_failure_mode_denied_total"),
                "errors": metric(gw, "gateway_filter_global_ratelimit_redis_errors_total"),
            }
    finally:
        redis.kill()


def check_bounded(phases):
    for name, results in phases.items():
        assert results, name
        for status, took, _ in results:
            assert isinstance(status, int), (name, status)  # no hang, no broken connection
            # The command timeout is 0.2 s; a request never waits for a reconnect.
            assert took < 1.0, (name, status, took)


def test_redis_stopped_killed_and_restarted_with_failure_mode_allow():
    phases, m = run_outage("allow")
    check_bounded(phases)
    for name, results in phases.items():
        assert {s for s, _, _ in results} == {200}, (name, {s for s, _, _ in results})
    assert m["allowed"] > 0 and m["denied"] == 0
    assert m["errors"] == m["allowed"]
    # While Redis hung, requests waited about the command timeout, not more.
    slow = [t for _, t, _ in phases["stopped"]]
    assert max(slow) < 1.0


def test_redis_stopped_killed_and_restarted_with_failure_mode_deny():
    phases, m = run_outage("deny")
    check_bounded(phases)
    assert {s for s, _, _ in phases["before"]} == {200}
    for name in ("stopped", "down"):
        got = {(s, c) for s, _, c in phases[name]}
        assert got <= {(200, ""), (503, "ratelimit_unavailable")}, (name, got)
        assert (503, "ratelimit_unavailable") in got, name
    # Down (connection refused): refused at once, not after a timeout.
    down = sorted(t for s, t, _ in phases["down"] if s == 503)
    assert down[len(down) // 2] < 0.1, down[len(down) // 2]
    assert {s for s, _, _ in phases["after"]} == {200}
    assert m["denied"] > 0 and m["allowed"] == 0


def test_per_user_limit_is_keyed_by_the_jwt_subject():
    limits = "[{{name: per-user, requests: 3, period: 60s, by: [user]}}]"
    with RedisServer() as redis, Upstream() as up, \
            Gateway(config(redis.address, limits), [up], workers=2) as gw:
        wait_redis_ready(gw)
        alice, bob = bearer("alice"), bearer("bob")
        got = [gw.request("GET", "/api/orders/1", headers=alice) for _ in range(3)]
        assert [s for s, _, _ in got] == [200, 200, 200], got
        assert [h["ratelimit-remaining"] for _, h, _ in got] == ["2", "1", "0"]
        status, headers, body = gw.request("GET", "/api/orders/1", headers=alice)
        assert status == 429, body
        err = json.loads(body)
        assert err["error"] == "rate_limited" and err["details"]["limit"] == "per-user", err
        assert int(headers["retry-after"]) >= 19  # one request per 20 s
        assert headers["ratelimit-limit"] == "3" and headers["ratelimit-remaining"] == "0"
        assert int(headers["ratelimit-reset"]) >= 59
        # Headers a client can set do not make Alice someone else...
        for forged in ({"x-user-id": "bob"}, {"x-forwarded-user": "bob"}, {"x-user": "carol"}):
            status, _, _ = gw.request("GET", "/api/orders/1", headers=dict(alice, **forged))
            assert status == 429, forged
        # ... nor make Bob Alice: his own token, his own counter.
        status, headers, _ = gw.request("GET", "/api/orders/1",
                                        headers=dict(bob, **{"x-user-id": "alice"}))
        assert status == 200 and headers["ratelimit-remaining"] == "2"
        # A request without a token never reaches the limit (jwt_auth answers 401 first).
        status, _, body = gw.request("GET", "/api/orders/1")
        assert status == 401, body
        # One key per user, hashed: the subject is not in it.
        out = redis_keys(redis.port, "gw:grl:per-user:*")
        assert len(out) == 2, out
        assert all(re.fullmatch(r"gw:grl:per-user:[0-9a-f]{32}", k) for k in out), out


def redis_command(port, *args):
    """One command over a raw RESP connection (no redis-cli needed): the raw reply bytes."""
    s = socket.create_connection(("127.0.0.1", port), 2)
    s.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args))
              .encode())
    s.settimeout(0.3)
    data = b""
    deadline = time.time() + 2
    while time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            if data:
                break
            continue
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def commandstats(port):
    """{command: calls} from INFO commandstats."""
    text = redis_command(port, "INFO", "commandstats").decode()
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"cmdstat_([a-z|]+):calls=(\d+)", text)}


def test_one_redis_command_per_request():
    """Each request is one EVALSHA whatever the number of limits (two here); the first one of a
    fresh Redis is answered NOSCRIPT and sent again as EVAL."""
    limits = ("[{{name: per-user, requests: 1000, period: 1s, by: [user]}}, "
              "{{name: per-route, requests: 1000, period: 1s, by: [route, method]}}]")
    with RedisServer() as redis, Upstream() as up, \
            Gateway(config(redis.address, limits), [up], workers=1) as gw:
        wait_redis_ready(gw)
        before = commandstats(redis.port)
        alice = bearer("alice")
        c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
        n = 200
        for _ in range(n):
            c.request("GET", "/api/x", headers=alice)
            r = c.getresponse()
            r.read()
            assert r.status == 200
        c.close()
        after = commandstats(redis.port)
        sent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        # The network commands: n EVALSHA and the INFO that read the stats; inside the script,
        # one TIME, and one GET and one SET per limit.
        assert sent.get("evalsha") == n, sent
        assert sent.get("eval", 0) == 0, sent
        assert sent.get("time") == n and sent.get("get") == 2 * n and sent.get("set") == 2 * n
        assert sum(sent.get(k, 0) for k in sent
                   if k not in ("evalsha", "time", "get", "set", "info")) == 0, sent


def redis_keys(port, pattern):
    """KEYS over a raw RESP connection (no redis-cli needed)."""
    s = socket.create_connection(("127.0.0.1", port), 2)
    s.sendall(("*2\r\n$4\r\nKEYS\r\n$%d\r\n%s\r\n" % (len(pattern), pattern)).encode())
    data = b""
    deadline = time.time() + 2
    while time.time() < deadline:
        data += s.recv(65536)
        lines = data.split(b"\r\n")
        if lines and lines[0].startswith(b"*"):
            n = int(lines[0][1:])
            if len(lines) >= 1 + 2 * n + 1:
                s.close()
                return [lines[2 + 2 * i].decode() for i in range(n)]
    s.close()
    raise AssertionError("no KEYS reply: %r" % data)

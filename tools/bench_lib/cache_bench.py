"""The cache scenarios of tools/bench that are not throughput runs (see docs/benchmarks.md):

  cache-l2-hit    two gatewayd (A and B, 1 worker each) share one redis-server on loopback; A is
                  warmed with N distinct keys (1 KiB bodies from the bench's upstream nginx), then
                  B reads each once: the latency of a Redis L2 hit (p50/p99), compared in the same
                  run with an L1 hit (B reads them again, now in its memory) and with a miss that
                  goes upstream (N keys nobody stored, through B: its Redis lookup included).
                  One keep-alive connection, one request at a time, timed by this (Python) client.
  cache-coalesce  1,000 concurrent misses for one key (1,000 connections opened first, then one
                  GET on each) against an upstream that answers after 1 s (demo_upstream, which
                  counts its requests): upstream requests per 1,000 misses for gatewayd's cache
                  filter and nginx proxy_cache with proxy_cache_lock, several rounds, a new key
                  each round.

Every server here is started fresh for these scenarios and stopped at the end (bench.add() records
it for the safety net).
"""

import os
import selectors
import socket
import statistics
import time
import http.client
import json

import bench as B
import scale

HOST = "bench.cache"  # one Host for both nodes: the host is part of the cache key


def gatewayd_conf(port, redis_port, up_port, demo_port):
    return """
version: bench-cache
redis_servers:
  - name: shared
    address: "127.0.0.1:{redis}"
    command_timeout: 0.5s
listeners:
  - name: bench
    address: 127.0.0.1:{port}
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: cache-l2
            match: {{prefix: /cache/}}
            pre_filters:
              - {{name: cache, config: {{default_ttl_seconds: 300, redis: shared}}}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: coalesce
            match: {{prefix: /coalesce/}}
            pre_filters:
              - {{name: cache, config: {{default_ttl_seconds: 300, coalesce_timeout_ms: 10000}}}}
            route_filter: {{name: router, config: {{cluster: demo}}}}
clusters:
  - name: up
    endpoints: [{{address: "127.0.0.1:{up}"}}]
  - name: demo
    endpoints: [{{address: "127.0.0.1:{demo}"}}]
""".format(port=port, redis=redis_port, up=up_port, demo=demo_port)


def nginx_conf(d, port, demo_port):
    return """
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    proxy_cache_path {d}/cache keys_zone=coalesce:1m;
    upstream demo {{ server 127.0.0.1:{demo}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        location /coalesce/ {{
            proxy_cache coalesce;
            proxy_cache_valid 200 300s;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_lock_age 10s;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://demo;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
}}
""".format(d=d, port=port, demo=demo_port)


def pct(vals, p):
    s = sorted(vals)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))] if s else None


def timed_gets(port, paths):
    """Sequential GETs on one keep-alive connection: (latencies in ms, x-cache values)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    lat, states = [], []
    for p in paths:
        t0 = time.perf_counter()
        c.request("GET", p, headers={"Host": HOST})
        r = c.getresponse()
        r.read()
        lat.append((time.perf_counter() - t0) * 1000.0)
        states.append(r.getheader("x-cache") or "-")
        if r.status != 200:
            raise RuntimeError("GET %s -> %d" % (p, r.status))
    c.close()
    return lat, states


def latency_row(lat, states, want):
    return {"p50_ms": round(pct(lat, 50), 3), "p99_ms": round(pct(lat, 99), 3),
            "mean_ms": round(statistics.mean(lat), 3), "requests": len(lat),
            "as_expected": sum(1 for s in states if s == want)}


def concurrent_misses(port, path, n, timeout=30.0):
    """Opens n connections, then sends one GET on each; returns (seconds until the last answer,
    statuses, x-cache values)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        socks.append(s)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, HOST)).encode()
    sel = selectors.DefaultSelector()
    bufs = {}
    t0 = time.monotonic()
    for s in socks:
        s.send(req)  # under 100 bytes: fits any empty send buffer
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = bytearray()
    open_ = len(socks)
    deadline = t0 + timeout
    while open_ and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                bufs[s] += data
            else:
                sel.unregister(s)
                open_ -= 1
    elapsed = time.monotonic() - t0
    statuses, states = [], []
    for s in socks:
        head = bytes(bufs[s]).split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        try:
            statuses.append(int(head[0].split()[1]))
        except (IndexError, ValueError):
            statuses.append(None)
        xc = [h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("x-cache:")]
        states.append(xc[0] if xc else "-")
        s.close()
    sel.close()
    return elapsed, statuses, states


def demo_requests(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/__stats")
    n = json.loads(c.getresponse().read())["requests"]
    c.close()
    return n


class CacheBench:
    def __init__(self, bench, args, quick):
        self.b = bench
        self.args = args
        self.quick = quick
        self.tmp = os.path.join(bench.tmp, "cache-bench")
        os.makedirs(self.tmp, exist_ok=True)

    def start(self):
        scale.raise_nofile(16384)
        demo_port = B.free_port()
        self.demo = self.b.add(B.Server("cache-demo", [
            self.args.demo_upstream, "--port", str(demo_port), "--address", "127.0.0.1",
            "--service", "coalesce", "--delay-ms", "1000", "--quiet"], demo_port, self.tmp))
        self.demo.wait_ready()
        self.gw = []
        for tag in ("a", "b"):
            port = B.free_port()
            cfg = self.b.write("cache-bench/gatewayd-%s.yaml" % tag, gatewayd_conf(
                port, self.b.redis.port, self.b.upstream.port, demo_port))
            self.gw.append(self.b.add(B.Server("cache-gatewayd-" + tag, [
                self.args.gatewayd, "--config", cfg, "--workers", "1",
                "--admin-address", "127.0.0.1:%d" % B.free_port(), "--access-log", "off"]
                + self.b.gatewayd_extra_flags(), port, self.tmp)))
        port = B.free_port()
        os.makedirs(os.path.join(self.tmp, "nginx"), exist_ok=True)
        conf = self.b.write("cache-bench/nginx/nginx.conf",
                            nginx_conf(os.path.join(self.tmp, "nginx"), port, demo_port))
        self.nginx = self.b.add(B.Server("cache-nginx", [
            "nginx", "-p", os.path.join(self.tmp, "nginx"), "-e",
            os.path.join(self.tmp, "nginx", "error.log"), "-c", conf], port, self.tmp,
            with_children=True, stop_signal=B.signal.SIGQUIT))
        for s in self.gw + [self.nginx]:
            s.wait_ready()
        time.sleep(0.3)  # the workers' Redis connections

    def l2_hit(self):
        n = 300 if self.quick else 2000
        a, b = self.gw
        run = "%d" % int(time.time())
        keys = ["/cache/1k.bin?run=%s&k=%d" % (run, i) for i in range(n)]
        _, states = timed_gets(a.port, keys)  # A stores them in memory and in Redis
        if states.count("MISS") != n:
            raise RuntimeError("cache-l2-hit: warming A: %d of %d MISS" % (states.count("MISS"), n))
        time.sleep(0.5)  # A's SETs are asynchronous
        l2, s2 = timed_gets(b.port, keys)
        l1, s1 = timed_gets(b.port, keys)
        miss, sm = timed_gets(b.port, ["/cache/1k.bin?run=%s&miss=%d" % (run, i) for i in range(n)])
        out = {"keys": n, "l2_hit": latency_row(l2, s2, "HIT"), "l1_hit": latency_row(l1, s1, "HIT"),
               "miss": latency_row(miss, sm, "MISS")}
        for k in ("p50", "p99"):
            out["l2/l1_" + k] = round(out["l2_hit"][k + "_ms"] / out["l1_hit"][k + "_ms"], 2)
            out["l2/miss_" + k] = round(out["l2_hit"][k + "_ms"] / out["miss"][k + "_ms"], 2)
        return out

    def coalesce(self):
        rounds = 2 if self.quick else 3
        n = 1000
        rows = {"gatewayd": [], "nginx": []}
        for rnd in range(rounds):
            for fam, srv in (("gatewayd", self.gw[0]), ("nginx", self.nginx)):
                before = demo_requests(self.demo.port)
                secs, statuses, states = concurrent_misses(
                    srv.port, "/coalesce/r%d-%d-%s" % (rnd, int(time.time()), fam), n)
                time.sleep(0.2)
                rows[fam].append({
                    "upstream_requests": demo_requests(self.demo.port) - before,
                    "ok": sum(1 for s in statuses if s == 200), "seconds": round(secs, 2),
                    "x_cache": {s: states.count(s) for s in sorted(set(states))}})
        out = {"concurrent_misses": n, "upstream_delay_ms": 1000, "rounds": rows}
        for fam, rs in rows.items():
            out[fam] = {"upstream_requests_per_1000": statistics.median(
                r["upstream_requests"] * 1000.0 / n for r in rs),
                "seconds_median": statistics.median(r["seconds"] for r in rs),
                "ok_min": min(r["ok"] for r in rs)}
        return out

    def run(self, names):
        self.start()
        out = {}
        if "cache-l2-hit" in names:
            out["cache-l2-hit"] = self.l2_hit()
        if "cache-coalesce" in names:
            out["cache-coalesce"] = self.coalesce()
        return out


def table(out):
    lines = []
    l2 = out.get("cache-l2-hit")
    if l2:
        lines.append("cache-l2-hit (%d keys, sequential, one connection; Python client):" % l2["keys"])
        for k in ("l2_hit", "l1_hit", "miss"):
            r = l2[k]
            lines.append("  %-7s p50 %8s  p99 %8s  (%d of %d as expected)" % (
                k, B.fmt_ms(r["p50_ms"]), B.fmt_ms(r["p99_ms"]), r["as_expected"], r["requests"]))
        lines.append("  L2/L1 p50 %.2fx p99 %.2fx; L2/miss p50 %.2fx p99 %.2fx" % (
            l2["l2/l1_p50"], l2["l2/l1_p99"], l2["l2/miss_p50"], l2["l2/miss_p99"]))
    co = out.get("cache-coalesce")
    if co:
        lines.append("cache-coalesce (%d concurrent misses, upstream answers after %d ms):" % (
            co["concurrent_misses"], co["upstream_delay_ms"]))
        for fam in ("gatewayd", "nginx"):
            r = co[fam]
            lines.append("  %-8s %6.1f upstream requests per 1,000; all answered in %.2fs "
                         "(median); %d/1000 ok (worst round)" % (
                             fam, r["upstream_requests_per_1000"], r["seconds_median"],
                             r["ok_min"]))
    return "\n".join(lines)

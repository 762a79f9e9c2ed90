#!/usr/bin/env python3
"""Benchmark orchestration for tools/bench (run that script, not this one).

Starts, on 127.0.0.1 and free ports, inside the temp dir given by --tmp:
  * upstream: nginx, 1 worker, `return 200` small body, a 1 MiB static file, keep-alive;
  * gatewayd, nginx and HAProxy as reverse proxies in front of it, 1 worker each, and a second
    set with 2 workers each for the `workers` scenario;
then runs every scenario for every target in rotating order, several rounds, and writes a table
(stdout) and a JSON file (--out). Every process it starts is stopped on exit, every run is bounded
in time. Only the standard library is used.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

JWT_SECRET = "secret"
SMALL_BODY = "hello from upstream\n"
POLICY_HEADER = "x-bench-policy"
# The cache scenarios' upstream files (/cache/<name>), cached by gatewayd's cache filter and
# nginx's proxy_cache for 60 s.
CACHE_FILES = {"1k.bin": 1024, "100k.bin": 100 * 1024}
# The identity scenario's API key (its plan counts in Redis); API_KEY + "-memory" is the key of
# the plan counted in memory (tools/instructions).
API_KEY = "bench-api-key-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# glibc malloc gives freed memory at the top of the heap back to the kernel (brk) once more than
# 128 KiB is free there, and grows it again on the next request. Whether a server falls into that
# brk/page-fault cycle depends on its heap layout, hence on what it served before: nginx's 64 KiB
# and 1 MiB results swung 3-8x in CPU per request with the run order. Every server the bench
# starts gets the same, larger thresholds so that no result depends on it (--default-malloc: off).
MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": str(256 << 20), "MALLOC_TOP_PAD_": str(16 << 20)}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Processes


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def cpu_seconds(pids):
    """utime+stime of each process (all its threads), in seconds."""
    return sum(cpu_split(pids))


def cpu_split(pids):
    """(utime, stime) summed over the processes (all their threads), in seconds."""
    user = system = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        user += int(fields[11])
        system += int(fields[12])
    return user / CLK_TCK, system / CLK_TCK


def machine_busy_seconds():
    """CPU seconds spent not idle, summed over all cores, since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK  # user..steal, less idle and iowait


def children_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Server:
    def __init__(self, name, argv, port, tmp, with_children=False, stop_signal=signal.SIGTERM):
        self.name = name
        self.argv = argv
        self.port = port
        self.h2_port = port  # the h2c scenario's port (nginx and haproxy: a second listener)
        self.tmp = tmp
        self.with_children = with_children
        self.stop_signal = stop_signal
        self.proc = None
        self.known_pids = set()

    def start(self, pidfile, env=None):
        logf = open(os.path.join(self.tmp, "%s.out" % self.name), "wb")
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.tmp,
                                     env=dict(os.environ, **(env or {})))
        logf.close()
        self.pidfile = pidfile
        self._record([self.proc.pid])

    def _record(self, pids):
        new = [p for p in pids if p not in self.known_pids]
        if new:
            self.known_pids.update(new)
            with open(self.pidfile, "a") as f:
                for p in new:
                    f.write("%d\n" % p)

    def pids(self):
        if self.proc is None:
            return []
        pids = [self.proc.pid]
        if self.with_children:
            pids += children_of(self.proc.pid)
        self._record(pids)
        return pids

    def wait_ready(self, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s; see %s" % (
                    self.name, self.proc.returncode, self.output()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    self.pids()  # record nginx workers for the safety net
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("%s did not listen on %d within %.0fs" % (self.name, self.port, timeout))

    def output(self):
        try:
            with open(os.path.join(self.tmp, "%s.out" % self.name), "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        pids = self.pids()
        try:
            self.proc.send_signal(self.stop_signal)
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass


# ----------------------------------------------------------------------------------------------
# Configs


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(secret, payload):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), (header + "." + body).encode(), hashlib.sha256).digest()
    return header + "." + body + "." + b64url(sig)


def make_es256_jwt(tmp, payload):
    """An EC P-256 key made with the openssl CLI, and an ES256 token signed with it. Returns
    (public key PEM, token). JWS wants the signature as R || S (32 bytes each), openssl gives
    DER: SEQUENCE { INTEGER r, INTEGER s }."""
    key, pub = os.path.join(tmp, "es256-key.pem"), os.path.join(tmp, "es256-pub.pem")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
                   check=True, capture_output=True, timeout=30)
    subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-out", pub], check=True,
                   capture_output=True, timeout=30)
    header = b64url(json.dumps({"alg": "ES256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                         input=(header + "." + body).encode(), check=True, capture_output=True,
                         timeout=30).stdout

    def integer(at):
        assert der[at] == 0x02, "not a DER INTEGER"
        n = der[at + 1]
        return der[at + 2:at + 2 + n].lstrip(b"\0").rjust(32, b"\0"), at + 2 + n

    at = 2 if der[1] < 0x80 else 3  # short or one-byte long form of the SEQUENCE length
    r, at = integer(at)
    s_, _ = integer(at)
    with open(pub) as f:
        return f.read(), header + "." + body + "." + b64url(r + s_)


def nginx_common(tmp, sub):
    d = os.path.join(tmp, sub)
    return """
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    client_max_body_size 0;  # the stream scenario uploads 1 GiB (default limit: 1 MiB -> 413)
""".format(d=d)


def upstream_nginx_conf(tmp, port):
    d = os.path.join(tmp, "upstream")
    return """
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
{common}
    sendfile on;
    tcp_nopush on;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            return 200 "{body}";
        }}
        location = /policy/echo {{
            return 200 "$http_x_bench_policy";
        }}
        location /static/ {{
            root {d}/www;
        }}
        location /part/ {{
            default_type application/json;
            return 200 '{{"part":"$uri","items":[1,2,3],"total":10.50}}';
        }}
        location /cache/ {{
            root {d}/www;  # the cache scenarios' 1 KiB and 100 KiB files
        }}
    }}
}}
""".format(d=d, port=port, common=nginx_common(tmp, "upstream"), body=SMALL_BODY.replace("\n", "\\n"))


NJS_JWT = r"""
// HS256 JWT check for the bench's nginx peer: Authorization: Bearer <jwt>, alg must be HS256,
// signature HMAC-SHA256 over "header.payload" with the shared secret.
const crypto = require('crypto');
const SECRET = '%s';

function verify(r) {
    const auth = r.headersIn['Authorization'] || '';
    if (auth.slice(0, 7) !== 'Bearer ') return '0';
    const parts = auth.slice(7).split('.');
    if (parts.length !== 3) return '0';
    let header;
    try {
        header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
    } catch (e) {
        return '0';
    }
    if (!header || header.alg !== 'HS256') return '0';
    const sig = crypto.createHmac('sha256', SECRET).update(parts[0] + '.' + parts[1])
        .digest('base64url');
    return sig === parts[2] ? '1' : '0';
}

export default {verify};
""" % JWT_SECRET


def proxy_nginx_conf(tmp, sub, port, upstream_port, workers, njs_module, h2_port):
    d = os.path.join(tmp, sub)
    proxy = """
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";"""
    return """
load_module {njs};
worker_processes {workers};
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
{common}
    # Bodies in memory, no temp files: 64 KiB request bodies and 1 MiB responses never touch disk.
    client_body_buffer_size 128k;
    proxy_buffers 32 32k;
    proxy_max_temp_file_size 0;
    js_import jwt from {d}/jwt.js;
    js_set $jwt_ok jwt.verify;
    limit_req_zone $binary_remote_addr zone=rl:1m rate=1000000r/s;
    # The cache scenarios: nginx's proxy_cache (files under the temp dir; the page cache keeps
    # them in memory), the speed anchor of gatewayd's cache filter.
    proxy_cache_path {d}/cache keys_zone=bench:10m max_size=256m inactive=10m;
    upstream up {{
        server 127.0.0.1:{up};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port}{reuseport};
        location / {{{proxy}
        }}
        location /cache/ {{{proxy}
            proxy_cache bench;
            proxy_cache_valid 200 60s;
            proxy_cache_lock on;
            add_header X-Cache $upstream_cache_status;
        }}
        location /policy {{
            if ($jwt_ok != "1") {{ return 401; }}
            limit_req zone=rl burst=100000 nodelay;{proxy}
            proxy_set_header {ph} "1";
        }}
    }}
    # The h2c scenario: HTTP/2 with prior knowledge on a plain listener (nginx 1.22).
    server {{
        listen 127.0.0.1:{h2port} http2{reuseport};
        location / {{{proxy}
        }}
    }}
}}
""".format(njs=njs_module, workers=workers, d=d, common=nginx_common(tmp, sub), up=upstream_port,
           port=port, proxy=proxy, ph=POLICY_HEADER, h2port=h2_port,
           # One listening socket per worker, as gatewayd does (SO_REUSEPORT).
           reuseport=" reuseport" if workers > 1 else "")


def haproxy_conf(port, upstream_port, threads, h2_port):
    return """
global
    nbthread {threads}
    maxconn 4000
    # no log lines: logging is off

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 65s

frontend fe
    bind 127.0.0.1:{port}
    use_backend be_policy if {{ path_beg /policy }}
    default_backend be

# The h2c scenario: HTTP/2 with prior knowledge.
frontend fe_h2
    bind 127.0.0.1:{h2port} proto h2
    default_backend be

backend be
    server up 127.0.0.1:{up}

backend be_policy
    stick-table type ip size 100k expire 10s store http_req_rate(1s)
    http-request set-var(txn.bearer) http_auth_bearer
    http-request set-var(txn.jwt_alg) var(txn.bearer),jwt_header_query('$.alg')
    http-request deny deny_status 401 unless {{ var(txn.jwt_alg) -m str HS256 }}
    http-request deny deny_status 401 unless {{ var(txn.bearer),jwt_verify(txn.jwt_alg,"{secret}") -m int 1 }}
    http-request track-sc0 src
    http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 100000000 }}
    http-request set-header {ph} 1
    server up 127.0.0.1:{up}
""".format(threads=threads, port=port, up=upstream_port, secret=JWT_SECRET, ph=POLICY_HEADER,
           h2port=h2_port)


def json_body(n):
    """A JSON document of exactly n bytes (n >= 64): {"items": [{"id": <a 64-bit id>,
    "price_cents": ..., "name": ...}, ...], "pad": "..."}, what the json-rename route edits."""
    items = []
    i = 0
    while True:
        item = '{"id":%d,"price_cents":%d,"name":"item-%04d"}' % (9007199254740993 + i,
                                                                  1999 + i, i)
        if len('{"items":[' + ",".join(items + [item]) + '],"pad":""}') > n:
            break
        items.append(item)
        i += 1
    head = '{"items":[' + ",".join(items) + '],"pad":"'
    return (head + "x" * (n - len(head) - 2) + '"}').encode()


def gatewayd_conf(port, upstream_port, es256_pem, redis_port=6379, parts_ports=None):
    return """
version: bench
listeners:
  - name: bench
    address: 127.0.0.1:{port}
    # h2c with prior knowledge on the same port (the h2c scenario); HTTP/1.1 is unaffected.
    http2: {{enabled: true}}
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: policy
            match: {{prefix: /policy}}
            # Like the peers: JWT HS256 check, a per-client rate limit that never triggers, one
            # added request header.
            pre_filters:
              - {{name: jwt_auth, config: {{provider: bench}}}}
              - {{name: local_ratelimit, config: {{policy: bench}}}}
              - name: headers
                config:
                  request_set:
                    - {{name: {ph}, value: "1"}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: cpu
            match: {{prefix: /cpu}}
            # The scaling scenario: work that only the proxy does (two ES256 signature checks
            # on every request, token caches off) answered without an upstream, so that the
            # proxy and not the load generator is the limit.
            pre_filters:
              - {{name: jwt_auth, config: {{provider: es256-uncached}}}}
              - {{name: jwt_auth, config: {{provider: es256-uncached-2}}}}
            route_filter: {{name: direct_response, config: {{status: 200, body: ok}}}}
          - name: identity
            match: {{prefix: /identity}}
            # The identity scenario: a JWT, the permission check, and an API key whose quota is
            # counted in Redis (one INCR round trip per request), gatewayd only.
            pre_filters:
              - {{name: jwt_auth, config: {{provider: bench}}}}
              - {{name: authz, config: {{rules: [{{any_of: ["bench:read"]}}]}}}}
              - {{name: api_key_auth, config: {{}}}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: authz
            match: {{prefix: /authz}}
            # tools/instructions: the policy route plus authz (authz's cost alone).
            pre_filters:
              - {{name: jwt_auth, config: {{provider: bench}}}}
              - {{name: local_ratelimit, config: {{policy: bench}}}}
              - name: headers
                config:
                  request_set:
                    - {{name: {ph}, value: "1"}}
              - {{name: authz, config: {{rules: [{{any_of: ["bench:read"]}}]}}}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: quota-memory
            match: {{prefix: /quota-memory}}
            # tools/instructions: an API key with a quota counted in memory ...
            pre_filters:
              - {{name: api_key_auth, config: {{header: x-api-key-memory}}}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: quota-redis
            match: {{prefix: /quota-redis}}
            # ... and one on a plan counted in Redis (the difference: the Redis call).
            pre_filters:
              - {{name: api_key_auth, config: {{}}}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: limit-local
            match: {{prefix: /limit-local}}
            # The limits scenarios: a per-client-IP limit that never triggers, in this process
            # (local_ratelimit) ...
            pre_filters:
              - {{name: local_ratelimit, config: {{policy: bench}}}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: limit-global
            match: {{prefix: /limit-global}}
            # ... and the same kind of limit held in Redis (global_ratelimit: one EVALSHA per
            # request); no limit at all is the plain route.
            pre_filters:
              - name: global_ratelimit
                config:
                  redis: bench
                  limits:
                    - {{name: bench, requests: 1000000, period: 1s, by: [client_ip]}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: breaker-open
            match: {{prefix: /breaker-open}}
            # The breaker-open scenario (and tools/instructions): a request while its cluster's
            # breaker is open (the first request fails to connect and opens it for an hour): the
            # fallback answers, nothing goes upstream. Compared with the plain proxied request.
            route_filter:
              name: router
              config:
                cluster: down
                fallback:
                  response: {{status: 200, headers: {{content-type: application/json}}, body: "{{}}"}}
          - name: cache
            match: {{prefix: /cache/}}
            # The cache scenarios: answered from the memory store (60 s, 1 MiB entries).
            pre_filters:
              - {{name: cache, config: {{default_ttl_seconds: 60}}}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: json-rename
            match: {{prefix: /json-rename}}
            # A JSON request body (json_body(): 1 KiB or 64 KiB) parsed, one field renamed in
            # every element of its array, and written again before it goes upstream.
            pre_filters:
              - name: json_transform
                config:
                  request: [{{op: rename, path: "items[*].price_cents", to: price}}]
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: buffered
            match: {{prefix: /buffered}}
            # The whole request body read before it goes upstream (the buffer filter: a body
            # hook's path; nginx buffers request bodies by default too).
            pre_filters:
              - {{name: buffer, config: {{max_request_bytes: 1048576}}}}
            route_filter: {{name: router, config: {{cluster: up}}}}
          - name: aggregate
            match: {{prefix: /aggregate/}}
            # The aggregate scenario: 3 parts in parallel to the upstream's JSON, merged; its
            # latency is compared with one part alone (GET /part/user through the `part` route).
            # Each part has its own cluster: a demo_upstream answering after 10 ms when
            # tools/bench has one (--demo-upstream), else the upstream nginx's /part/ JSON. One
            # process per part, so that each sees the same load as the part alone does.
            route_filter:
              name: aggregate
              config:
                parts:
                  - {{name: user, cluster: parts, path: /part/user}}
                  - {{name: orders, cluster: parts-2, path: /part/orders}}
                  - {{name: payments, cluster: parts-3, path: /part/payments}}
          - name: part
            match: {{prefix: /part/}}
            route_filter: {{name: router, config: {{cluster: parts}}}}
          - name: all
            match: {{prefix: /}}
            route_filter: {{name: router, config: {{cluster: up}}}}
clusters:
  - name: up
    endpoints: [{{address: "127.0.0.1:{up}"}}]
  - name: parts
    endpoints: [{{address: "127.0.0.1:{parts}"}}]
  - name: parts-2
    endpoints: [{{address: "127.0.0.1:{parts2}"}}]
  - name: parts-3
    endpoints: [{{address: "127.0.0.1:{parts3}"}}]
  - name: down
    endpoints: [{{address: "127.0.0.1:1"}}]  # nothing listens: refused
    circuit_breaker: {{consecutive_failures: 1, open_duration: 3600s, max_open_duration: 3600s}}
auth_providers:
  - name: bench
    secret: "{secret}"
    algorithms: [HS256]
    require_exp: false      # the bench token has no exp (the peers do not check it either)
    forward: true           # the peers pass Authorization upstream too
  - name: es256-uncached
    algorithms: [ES256]
    require_exp: false
    token_cache_size: 0
    forward: true           # the second check reads the same header
    public_key_pem: |
{pem}
  - name: es256-uncached-2
    algorithms: [ES256]
    require_exp: false
    token_cache_size: 0
    public_key_pem: |
{pem}
redis_servers:
  - {{name: bench, address: "127.0.0.1:{redis}"}}
usage_plans:
  - name: bench-memory
    quota: {{limit: 4294967294, period: MONTH}}
  - name: bench-redis
    quota: {{limit: 4294967294, period: DAY}}
    redis: bench
api_keys:
  - {{id: bench-memory, key_sha256: {key_mem}, plan: bench-memory}}
  - {{id: bench-redis, key_sha256: {key_redis}, plan: bench-redis}}
rate_limit_policies:
  - name: bench
    requests_per_unit: 100000000
    unit: SECOND
    burst: 100000000
    key_by: {{client_ip: true}}
    max_keys: 100000
""".format(port=port, up=upstream_port, parts=(parts_ports or [upstream_port] * 3)[0],
           parts2=(parts_ports or [upstream_port] * 3)[1],
           parts3=(parts_ports or [upstream_port] * 3)[2], ph=POLICY_HEADER, secret=JWT_SECRET, redis=redis_port,
           key_mem=hashlib.sha256((API_KEY + "-memory").encode()).hexdigest(),
           key_redis=hashlib.sha256(API_KEY.encode()).hexdigest(),
           pem="\n".join("      " + line for line in es256_pem.strip().splitlines()))


# ----------------------------------------------------------------------------------------------
# Load tools and their output


def to_ms(value, unit):
    v = float(value)
    return {"us": v / 1000.0, "ms": v, "s": v * 1000.0, "m": v * 60000.0}[unit]


def parse_wrk(out):
    r = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    r["requests"] = int(m.group(1)) if m else 0
    r["seconds"] = to_ms(m.group(2), m.group(3)) / 1000.0 if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, out, re.M)
        r["p%s_ms" % pct] = to_ms(m.group(1), m.group(2)) if m else None
    socket_errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        socket_errors = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    r["socket_errors"] = socket_errors
    r["non2xx"] = non2xx
    r["errors"] = socket_errors + non2xx
    return r


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def parse_h2load(out, logfile, measure_start_us):
    r = {"latency_source": "h2load --log-file"}
    m = re.search(r"finished in ([\d.]+)(us|ms|s|m), ([\d.]+) req/s", out)
    r["seconds"] = to_ms(m.group(1), m.group(2)) / 1000.0 if m else None
    r["rps"] = float(m.group(3)) if m else None
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    if m:
        total, started, done, ok, failed, errored, timeout = (int(x) for x in m.groups())
    else:
        done = ok = failed = errored = timeout = 0
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    non2xx = sum(int(x) for x in m.groups()[1:]) if m else 0
    r["requests"] = done
    r["socket_errors"] = failed + errored + timeout
    r["non2xx"] = non2xx
    r["errors"] = failed + errored + timeout + non2xx
    durations = []
    try:
        with open(logfile) as f:
            for line in f:
                cols = line.split("\t")
                if len(cols) < 3:
                    continue
                if int(cols[0]) < measure_start_us:
                    continue
                durations.append(int(cols[2]) / 1000.0)
    except (OSError, ValueError):
        durations = []
    durations.sort()
    if durations:
        for pct in (50, 75, 90, 99):
            r["p%d_ms" % pct] = percentile(durations, pct)
        r["p999_ms"] = percentile(durations, 99.9)
        r["max_ms"] = durations[-1]
        r["samples"] = len(durations)
    else:
        # No per-request log: only h2load's summary (mean, sd, max) exists.
        r["latency_source"] = "h2load summary (no percentiles: mean/sd/max only)"
        m = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+"
                      r"([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", out)
        if m:
            r["max_ms"] = to_ms(m.group(3), m.group(4))
            r["mean_ms"] = to_ms(m.group(5), m.group(6))
            r["sd_ms"] = to_ms(m.group(7), m.group(8))
        r["p50_ms"] = r["p99_ms"] = None
    return r


def http_get(url, headers=None, timeout=5):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ----------------------------------------------------------------------------------------------
# The bench


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = args.tmp
        self.quick = args.quick
        self.rounds = 1 if args.quick else args.rounds
        self.duration = 2 if args.quick else args.duration
        self.warmup = 1
        self.servers = []
        self.token = make_jwt(JWT_SECRET, {"sub": "bench", "iat": 1700000000})
        # The identity scenario's token: it carries the permission the authz rule requires.
        self.identity_token = make_jwt(JWT_SECRET, {"sub": "bench", "iat": 1700000000,
                                                    "permissions": ["bench:read"]})
        self.es256_pem, self.es256_token = None, None

    # --- setup --------------------------------------------------------------------------------

    def json_script(self, n):
        """A wrk script POSTing json_body(n) as application/json."""
        body = self.write("json%d.json" % n, json_body(n).decode())
        return self.write("json%d.lua" % n, 'wrk.method = "POST"\n'
                          'local f = io.open("%s", "rb")\n'
                          'wrk.body = f:read("*all")\n'
                          'f:close()\n'
                          'wrk.headers["Content-Type"] = "application/json"\n' % body)

    def write(self, rel, text):
        path = os.path.join(self.tmp, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def add(self, server):
        self.servers.append(server)
        server.start(self.args.pidfile, {} if self.args.default_malloc else MALLOC_ENV)
        return server

    def gatewayd_extra_flags(self):
        """Flags of newer gatewayd builds that would otherwise bind fixed ports."""
        p = subprocess.run([self.args.gatewayd, "--help"], capture_output=True, text=True,
                           timeout=10)
        help_text = p.stdout + p.stderr
        extra = []
        if "--admin-grpc-address" in help_text:
            extra += ["--admin-grpc-address", "off"]  # default 127.0.0.1:9902, not needed here
        return extra

    def start_all(self):
        tmp = self.tmp
        up_port = free_port()
        www = os.path.join(tmp, "upstream", "www", "static")
        os.makedirs(www)
        with open(os.path.join(www, "1m.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        cache_www = os.path.join(tmp, "upstream", "www", "cache")
        os.makedirs(cache_www)
        for name, size in CACHE_FILES.items():
            with open(os.path.join(cache_www, name), "wb") as f:
                f.write(os.urandom(size))
        for sub in ("upstream", "nginx1", "nginx2"):
            os.makedirs(os.path.join(tmp, sub), exist_ok=True)
        conf = self.write("upstream/nginx.conf", upstream_nginx_conf(tmp, up_port))
        self.upstream = self.add(Server("upstream", ["nginx", "-p", os.path.join(tmp, "upstream"),
                                                     "-e", os.path.join(tmp, "upstream", "error.log"),
                                                     "-c", conf], up_port, tmp, with_children=True,
                                        stop_signal=signal.SIGQUIT))
        self.upstream.wait_ready()

        redis_port = free_port()
        self.redis = self.add(Server("redis", ["redis-server", "--port", str(redis_port),
                                               "--bind", "127.0.0.1", "--save", "",
                                               "--appendonly", "no"], redis_port, tmp))
        self.redis.wait_ready()
        self.es256_pem, self.es256_token = make_es256_jwt(tmp, {"sub": "bench"})
        # The aggregate scenarios' parts: a demo_upstream answering JSON after 10 ms (a backend
        # with some latency, so that 3 parts in parallel can be compared with one alone).
        self.parts = []
        if getattr(self.args, "demo_upstream", None):
            for i in range(3):
                parts_port = free_port()
                part = self.add(Server("parts-%d" % (i + 1), [
                    self.args.demo_upstream, "--port", str(parts_port), "--address", "127.0.0.1",
                    "--service", "parts", "--delay-ms", "10", "--quiet"], parts_port, tmp))
                part.wait_ready()
                self.parts.append(part)
        self.targets = {}  # name -> Server
        for workers in (1, 2):
            # gatewayd
            port = free_port()
            cfg = self.write("gatewayd%d.yaml" % workers,
                             gatewayd_conf(port, up_port, self.es256_pem, self.redis.port,
                                           [p.port for p in self.parts] or None))
            gw = Server("gatewayd-w%d" % workers,
                        [self.args.gatewayd, "--config", cfg, "--workers", str(workers),
                         "--admin-address", "127.0.0.1:%d" % free_port(), "--access-log", "off"]
                        + self.gatewayd_extra_flags(), port, tmp)
            gw.h2_port = port
            # nginx
            sub = "nginx%d" % workers
            self.write(sub + "/jwt.js", NJS_JWT)
            port = free_port()
            h2_port = free_port()
            conf = self.write(sub + "/nginx.conf", proxy_nginx_conf(
                tmp, sub, port, up_port, workers, self.args.njs_module, h2_port))
            ngx = Server("nginx-w%d" % workers,
                         ["nginx", "-p", os.path.join(tmp, sub), "-e",
                          os.path.join(tmp, sub, "error.log"), "-c", conf],
                         port, tmp, with_children=True, stop_signal=signal.SIGQUIT)
            ngx.h2_port = h2_port
            # haproxy
            port = free_port()
            h2_port = free_port()
            conf = self.write("haproxy%d.cfg" % workers,
                              haproxy_conf(port, up_port, workers, h2_port))
            hap = Server("haproxy-w%d" % workers, ["haproxy", "-db", "-f", conf], port, tmp)
            hap.h2_port = h2_port
            for s in (gw, ngx, hap):
                self.add(s)
            for s in (gw, ngx, hap):
                s.wait_ready()
            self.targets["gatewayd-w%d" % workers] = gw
            self.targets["nginx-w%d" % workers] = ngx
            self.targets["haproxy-w%d" % workers] = hap
        self.targets["upstream"] = self.upstream

    def url(self, target, path, h2c=False):
        server = self.targets[target]
        return "%s://127.0.0.1:%d%s" % (getattr(server, "scheme", "http"),
                                        server.h2_port if h2c else server.port, path)

    def sanity(self):
        """Every target answers; the policy peers reject missing/bad tokens and add the header."""
        problems = []
        bad = self.token[:-2] + ("AA" if not self.token.endswith("AA") else "BB")
        auth = {"Authorization": "Bearer " + self.token}
        for t in self.targets:
            st, body = http_get(self.url(t, "/"))
            if st != 200 or body.decode() != SMALL_BODY:
                problems.append("%s GET / -> %s %r" % (t, st, body[:80]))
            st, body = http_get(self.url(t, "/static/1m.bin"))
            if st != 200 or len(body) != 1 << 20:
                problems.append("%s GET /static/1m.bin -> %s, %d bytes" % (t, st, len(body)))
            if t == "upstream":
                continue
            if t in ("gatewayd-w1", "nginx-w1"):
                for name, size in CACHE_FILES.items():
                    for _ in range(2):
                        st, body = http_get(self.url(t, "/cache/" + name))
                    if st != 200 or len(body) != size:
                        problems.append("%s GET /cache/%s -> %s, %d bytes" % (t, name, st,
                                                                              len(body)))
            st, body = http_get(self.url(t, "/policy/echo"), auth)
            if st != 200 or body.decode() != "1":
                problems.append("%s policy with valid token -> %s %r (header %s not added?)"
                                % (t, st, body[:80], POLICY_HEADER))
            for what, headers in (("no token", {}),
                                  ("bad signature", {"Authorization": "Bearer " + bad}),
                                  ("not a jwt", {"Authorization": "Bearer abc"})):
                st, _ = http_get(self.url(t, "/policy/echo"), headers)
                if st != 401:
                    problems.append("%s policy with %s -> %s, want 401" % (t, what, st))
        # The scaling scenario's route: an ES256 token is checked on every request.
        for t in ("gatewayd-w1", "gatewayd-w2"):
            st, body = http_get(self.url(t, "/cpu/x"),
                                {"Authorization": "Bearer " + self.es256_token})
            if st != 200 or body != b"ok":
                problems.append("%s /cpu with an ES256 token -> %s %r" % (t, st, body[:80]))
            st, _ = http_get(self.url(t, "/cpu/x"),
                             {"Authorization": "Bearer " + self.es256_token[:-4] + "AAAA"})
            if st != 401:
                problems.append("%s /cpu with a bad ES256 signature -> %s, want 401" % (t, st))
        # The identity route: JWT + permission + API key counted in Redis.
        ident = {"Authorization": "Bearer " + self.identity_token, "X-API-Key": API_KEY}
        for what, headers, want in (
                ("token, permission and key", ident, 200),
                ("no API key", {"Authorization": ident["Authorization"]}, 401),
                ("no permission", dict(ident, Authorization="Bearer " + self.token), 403)):
            st, _ = http_get(self.url("gatewayd-w1", "/identity/x"), headers)
            if st != want:
                problems.append("gatewayd-w1 /identity with %s -> %s, want %s" % (what, st, want))
        # The aggregate route: one JSON object with the three parts.
        st, body = http_get(self.url("gatewayd-w1", "/aggregate/1"))
        try:
            keys = sorted(json.loads(body)) if st == 200 else None
        except ValueError:
            keys = None
        if keys != ["orders", "payments", "user"]:
            problems.append("gatewayd-w1 /aggregate/1 -> %s %r" % (st, body[:120]))
        # POST 64 KiB through every proxy.
        payload = b"a" * 65536
        for t in self.targets:
            req = urllib.request.Request(self.url(t, "/"), data=payload, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    st = resp.status
            except urllib.error.HTTPError as e:
                st = e.code
            if st != 200:
                problems.append("%s POST 64 KiB -> %s" % (t, st))
        if problems:
            raise RuntimeError("sanity checks failed:\n  " + "\n  ".join(problems))
        log("bench: sanity OK (policy: gatewayd, nginx and haproxy return 401 for a missing, "
            "badly signed or malformed token; all add %s)" % POLICY_HEADER)

    # --- scenarios ----------------------------------------------------------------------------

    def scenarios(self):
        import tls_bench  # h2-tls, tls-handshake, https-keepalive: tls_bench.py
        post = self.write("post64k.lua", 'wrk.method = "POST"\n'
                          'wrk.body = string.rep("a", 65536)\n'
                          'wrk.headers["Content-Type"] = "application/octet-stream"\n')
        w1 = ["gatewayd-w1", "nginx-w1", "haproxy-w1"]
        w2 = ["gatewayd-w2", "nginx-w2", "haproxy-w2"]
        return [
            dict(name="plain", targets=w1, path="/", tool="wrk", threads=1, conns=50,
                 what="GET, 20-byte response, keep-alive; wrk -t1 -c50; 1 proxy worker"),
            dict(name="direct", targets=["upstream"], path="/", tool="wrk", threads=1, conns=50,
                 what="plain's load straight at the upstream nginx: the floor"),
            dict(name="body-post-64k", targets=w1, path="/", tool="wrk", threads=1, conns=50,
                 script=post, what="POST 64 KiB request body (wrk lua), 20-byte response; -t1 -c50"),
            dict(name="body-post-64k-buffered", targets=w1, path="/buffered", tool="wrk",
                 threads=1, conns=50, script=post,
                 what="POST 64 KiB, gatewayd's route with the buffer filter (the whole body "
                      "read, then sent with Content-Length); the peers' default path (nginx "
                      "buffers request bodies by default, HAProxy streams); -t1 -c50"),
            dict(name="json-rename-1k", targets=["gatewayd-w1"], path="/json-rename/x",
                 tool="wrk", threads=1, conns=50, script=self.json_script(1024),
                 what="gatewayd only: POST a 1 KiB JSON body, json_transform renames "
                      "items[*].price_cents (parse, edit, write, Content-Length); compare with "
                      "body-post-64k-buffered for the buffering alone; -t1 -c50"),
            dict(name="json-rename-64k", targets=["gatewayd-w1"], path="/json-rename/x",
                 tool="wrk", threads=1, conns=50, script=self.json_script(65536),
                 what="gatewayd only: the same with a 64 KiB JSON body (about 1,300 renamed "
                      "members); -t1 -c50"),
            dict(name="body-get-1m", targets=w1, path="/static/1m.bin", tool="wrk", threads=1,
                 conns=50, what="GET a 1 MiB static file from the upstream; -t1 -c50"),
            dict(name="policy", targets=w1, path="/policy/x", tool="wrk", threads=1, conns=50,
                 headers=["Authorization: Bearer " + self.token],
                 what="JWT HS256 check + local rate limit (huge rate) + 1 added request header"),
            dict(name="identity", targets=["gatewayd-w1"], path="/identity/x", tool="wrk",
                 threads=1, conns=50,
                 headers=["Authorization: Bearer " + self.identity_token, "X-API-Key: " + API_KEY],
                 what="gatewayd only (the peers have no equivalent): JWT HS256 + authz "
                      "permission check + API key whose daily quota is counted in Redis (one "
                      "INCR round trip per request); compare with policy's gatewayd row"),
            dict(name="limit-none", targets=["gatewayd-w1"], path="/", tool="h2load", conns=50,
                 rate=5000,
                 what="gatewayd only, at a fixed 5000 req/s (h2load --h1, 50 conns): no rate "
                      "limit (the plain route), the baseline of limit-local and limit-global"),
            dict(name="limit-local", targets=["gatewayd-w1"], path="/limit-local/x",
                 tool="h2load", conns=50, rate=5000,
                 what="the same load through a per-client-IP local_ratelimit (never triggers)"),
            dict(name="limit-global", targets=["gatewayd-w1"], path="/limit-global/x",
                 tool="h2load", conns=50, rate=5000,
                 what="the same load through a per-client-IP global_ratelimit in Redis (never "
                      "triggers; one EVALSHA round trip per request to the local redis-server)"),
            dict(name="breaker-open", targets=["gatewayd-w1"], path="/breaker-open/x",
                 tool="wrk", threads=1, conns=50,
                 what="gatewayd only: a route whose cluster's circuit breaker is open, answered "
                      "by its fallback (nothing goes upstream); compare with plain's gatewayd row"),
            dict(name="cache-hit-1k", targets=["gatewayd-w1", "nginx-w1"], path="/cache/1k.bin",
                 tool="wrk", threads=1, conns=50,
                 what="GET a 1 KiB response from the proxy's cache (gatewayd's cache filter, "
                      "nginx proxy_cache; every request a hit after the warm-up); -t1 -c50"),
            dict(name="cache-hit-100k", targets=["gatewayd-w1", "nginx-w1"],
                 path="/cache/100k.bin", tool="wrk", threads=1, conns=50,
                 what="GET a 100 KiB response from the proxy's cache; -t1 -c50"),
            dict(name="fixed", targets=w1 + ["upstream"], path="/", tool="h2load", conns=50,
                 rate=5000,
                 what="h2load --h1 at a fixed 5000 req/s (50 conns x --rps 100): latency without "
                      "saturation; upstream = the same load straight at the upstream (floor)"),
            dict(name="aggregate-3", targets=["gatewayd-w1"], path="/aggregate/1",
                 tool="h2load", conns=50, rate=1000,
                 what="gatewayd only: one request fans out to 3 parts in parallel (aggregate "
                      "filter, JSON merged) at a fixed 1000 req/s; parts: a demo_upstream "
                      "answering after 10 ms (the upstream nginx without --demo-upstream); CPU "
                      "per inbound request"),
            dict(name="aggregate-part", targets=["gatewayd-w1"], path="/part/user",
                 tool="h2load", conns=50, rate=1000,
                 what="one of aggregate-3's parts alone (proxied) at the same rate: the "
                      "latency aggregate-3 is compared with"),
            dict(name="h2c", targets=w1, path="/", tool="h2load", conns=5, streams=10,
                 what="HTTP/2 with prior knowledge (h2c): h2load -c5 -m10 (5 connections x 10 "
                      "concurrent streams), saturating; HTTP/1.1 to the upstream; 1 proxy worker"),
            dict(name="workers", targets=w2, path="/", tool="wrk", threads=2, conns=50,
                 what="plain with 2 proxy workers (gatewayd --workers 2, nginx worker_processes 2,"
                      " haproxy nbthread 2); wrk -t2 -c50"),
            dict(name="scaling", targets=["gatewayd-w1", "gatewayd-w2"], path="/cpu/x",
                 tool="wrk", threads=2, conns=50, by_process=True,
                 headers=["Authorization: Bearer " + self.es256_token],
                 what="gatewayd alone, 1 worker against 2, where the proxy is the limit: two "
                      "ES256 signature checks per request (token caches off), answered by "
                      "direct_response (no upstream); wrk -t2 -c50"),
        ] + tls_bench.scenarios(self)

    def run_wrk(self, sc, url, duration):
        argv = ["wrk", "-t", str(sc["threads"]), "-c", str(sc["conns"]), "-d", "%ds" % duration,
                "--latency", "--timeout", "5s"]
        for h in sc.get("headers", []):
            argv += ["-H", h]
        if sc.get("script"):
            argv += ["-s", sc["script"]]
        argv.append(url)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
        if p.returncode != 0:
            raise RuntimeError("wrk failed (%d): %s" % (p.returncode, p.stderr[-500:]))
        return p.stdout

    def run_one(self, sc, target):
        server = self.targets[target]
        url = self.url(target, sc["path"], h2c=bool(sc.get("streams")))
        ours = server.pids()
        if target != "upstream":
            ours = ours + self.upstream.pids()
        if sc["tool"] == "wrk":
            self.run_wrk(sc, url, self.warmup)  # warm-up: connections, upstream pool, caches
            pids = server.pids()
            t0, m0, o0, k0 = time.time(), machine_busy_seconds(), cpu_seconds(ours), \
                children_cpu_seconds()
            c0 = cpu_split(pids)
            out = self.run_wrk(sc, url, self.duration)
            c1 = cpu_split(pids)
            t1, m1, o1, k1 = time.time(), machine_busy_seconds(), cpu_seconds(ours), \
                children_cpu_seconds()
            client = k1 - k0
            r = parse_wrk(out)
        else:
            logfile = os.path.join(self.tmp, "h2load.log")
            if os.path.exists(logfile):
                os.unlink(logfile)
            if sc.get("streams"):
                # HTTP/2 (h2c): concurrent streams per connection, as fast as it goes.
                argv = ["h2load", "-t", "1", "-c", str(sc["conns"]), "-m", str(sc["streams"]),
                        "-D", str(self.duration), "--warm-up-time", str(self.warmup),
                        "--log-file", logfile, url]
            else:
                per_client = max(1, sc["rate"] // sc["conns"])
                argv = ["h2load", "--h1", "-t", "1", "-c", str(sc["conns"]), "--rps",
                        str(per_client), "-D", str(self.duration), "--warm-up-time",
                        str(self.warmup), "--log-file", logfile, url]
            pids = server.pids()
            k0 = children_cpu_seconds()
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(self.warmup)  # h2load's own warm-up: not counted, not in the CPU sample
                t0, m0, o0 = time.time(), machine_busy_seconds(), cpu_seconds(ours)
                h0 = cpu_seconds([p.pid])
                c0 = cpu_split(pids)
                out, err = p.communicate(timeout=self.duration + 30)
                c1 = cpu_split(pids)
                t1, m1, o1 = time.time(), machine_busy_seconds(), cpu_seconds(ours)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            client = children_cpu_seconds() - k0 - h0
            if p.returncode != 0:
                raise RuntimeError("h2load failed (%d): %s" % (p.returncode, err[-500:]))
            # h2load logs the main duration only (not its warm-up).
            r = parse_h2load(out, logfile, 0)
        cpu = sum(c1) - sum(c0)
        sys_s = c1[1] - c0[1]
        reqs = r.get("requests") or 0
        r["cpu_s"] = round(cpu, 3)
        r["cpu_us_per_req"] = round(cpu * 1e6 / reqs, 2) if reqs else None
        # The kernel's share (stime): on loopback most of it is TCP send/receive, which every
        # proxy pays alike; the rest (utime) is the proxy's own code.
        r["sys_us_per_req"] = round(sys_s * 1e6 / reqs, 2) if reqs else None
        # What else ran on the machine meanwhile: all non-idle CPU minus the target, the upstream
        # and the load generator, in cores (2.0 = both cores of this machine fully busy).
        wall = max(t1 - t0, 1e-3)
        r["client_cores"] = round(client / wall, 2)
        r["other_cores"] = round(max(0.0, (m1 - m0) - (o1 - o0) - client) / wall, 2)
        for k, v in list(r.items()):
            if isinstance(v, float) and k.endswith("_ms"):
                r[k] = round(v, 3)
        return r

    def run(self):
        only = self.args.only
        scenarios = [sc for sc in self.scenarios() if not only or sc["name"] in only]
        total = sum(len(sc["targets"]) for sc in scenarios) * self.rounds
        results = {sc["name"]: {t: [] for t in sc["targets"]} for sc in scenarios}
        n = 0
        t0 = time.time()
        for rnd in range(self.rounds):
            for sc in scenarios:
                ts = sc["targets"]
                k = rnd % len(ts)
                order = ts[k:] + ts[:k]  # A B C, B C A, C A B
                for t in order:
                    n += 1
                    r = self.run_one(sc, t)
                    r["round"] = rnd + 1
                    results[sc["name"]][t].append(r)
                    log("[%2d/%d %4.0fs] round %d %-13s %-12s %9.0f req/s  p99 %7s  cpu %6s us/req"
                        "  errors %d  other procs %.2f cores" % (
                            n, total, time.time() - t0, rnd + 1, sc["name"], t, r["rps"] or 0,
                            fmt_ms(r.get("p99_ms")), fmt_num(r.get("cpu_us_per_req"), 1),
                            r["errors"], r["other_cores"]))
        return scenarios, results


# ----------------------------------------------------------------------------------------------
# Summaries


def fmt_ms(v):
    if v is None:
        return "-"
    if v < 1:
        return "%.0fus" % (v * 1000)
    if v < 100:
        return "%.2fms" % v
    return "%.0fms" % v


def fmt_num(v, digits=0):
    if v is None:
        return "-"
    return ("%%.%df" % digits) % v


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def per_round_ratio(a_runs, b_runs, key):
    """Median of round-by-round ratios a/b: both runs of a round are seconds apart, so a drift
    of the host's speed between rounds (common on shared VMs) cancels out."""
    vals = [ratio(a.get(key), b.get(key)) for a, b in zip(a_runs, b_runs)]
    vals = [v for v in vals if v is not None]
    return (round(statistics.median(vals), 3) if vals else None), [round(v, 3) for v in vals]


def family(target):
    return target.split("-w")[0]


def summarize(scenarios, results):
    out = {}
    for sc in scenarios:
        rows = {}
        for t in sc["targets"]:
            runs = results[sc["name"]][t]
            fam = t if sc.get("by_process") else family(t)
            label = fam
            if sc["name"] == "policy" and fam == "gatewayd":
                label = "gatewayd: jwt_auth HS256 + local_ratelimit + headers"
            elif sc["name"] == "policy" and fam == "nginx":
                label = "nginx: njs HS256 + limit_req + proxy_set_header"
            elif sc["name"] == "policy" and fam == "haproxy":
                label = "haproxy: jwt_verify HS256 + stick-table rate + set-header"
            rows[fam] = {
                "process": t,
                "label": label,
                "rps": med(r["rps"] for r in runs),
                "p50_ms": med(r.get("p50_ms") for r in runs),
                "p99_ms": med(r.get("p99_ms") for r in runs),
                "cpu_us_per_req": med(r.get("cpu_us_per_req") for r in runs),
                "sys_us_per_req": med(r.get("sys_us_per_req") for r in runs),
                "errors": sum(r["errors"] for r in runs),
                "rps_min": min((r["rps"] or 0) for r in runs),
                "rps_max": max((r["rps"] or 0) for r in runs),
                "other_cores": med(r.get("other_cores") for r in runs),
                "client_cores": med(r.get("client_cores") for r in runs),
                "rounds": runs,
            }
            if sc["tool"] == "h2load":
                rows[fam]["latency_source"] = runs[0].get("latency_source")
                rows[fam]["p999_ms"] = med(r.get("p999_ms") for r in runs)
                rows[fam]["max_ms"] = max((r.get("max_ms") or 0) for r in runs)
        ratios = {}
        if "gatewayd" in rows:
            g = rows["gatewayd"]
            for peer in ("nginx", "haproxy"):
                if peer in rows:
                    p = rows[peer]
                    ratios["gatewayd/" + peer] = {
                        k: (round(v, 3) if v is not None else None) for k, v in (
                            ("rps", ratio(g["rps"], p["rps"])),
                            ("p99", ratio(g["p99_ms"], p["p99_ms"])),
                            ("cpu_per_req", ratio(g["cpu_us_per_req"], p["cpu_us_per_req"])))}
                    per_round = {}
                    for k, key in (("rps", "rps"), ("p99", "p99_ms"),
                                   ("cpu_per_req", "cpu_us_per_req")):
                        per_round[k], per_round[k + "_rounds"] = per_round_ratio(
                            g["rounds"], p["rounds"], key)
                    ratios["gatewayd/" + peer]["per_round_median"] = per_round
        out[sc["name"]] = {"what": sc["what"], "tool": sc["tool"], "targets": rows,
                           "ratios": ratios}
    return out


def table(summary):
    lines = []
    hdr = "%-15s %-10s %8s %15s %9s %9s %11s %8s %6s %6s" % (
        "scenario", "target", "req/s", "(min-max)", "p50", "p99", "cpu us/req", "(sys)",
        "errors", "other")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    notes = []
    for name, s in summary.items():
        for fam, row in s["targets"].items():
            lines.append("%-15s %-10s %8s %15s %9s %9s %11s %8s %6d %6s" % (
                name, fam + ("*" if row["label"] != fam else ""), fmt_num(row["rps"]),
                "(%s-%s)" % (fmt_num(row["rps_min"]), fmt_num(row["rps_max"])),
                fmt_ms(row["p50_ms"]), fmt_ms(row["p99_ms"]),
                fmt_num(row["cpu_us_per_req"], 1),
                "(%s)" % fmt_num(row.get("sys_us_per_req"), 1), row["errors"],
                fmt_num(row["other_cores"], 2)))
            if row["label"] != fam:
                notes.append("%s/%s: %s" % (name, fam, row["label"]))
        for rname, r in s["ratios"].items():
            lines.append("%-15s %-10s %8s %15s %9s %9s %11s" % (
                "", rname.replace("gatewayd/", "gw/"), fmt_num(r["rps"], 2) + "x", "", "",
                fmt_num(r["p99"], 2) + "x", fmt_num(r["cpu_per_req"], 2) + "x"))
            pr = r.get("per_round_median") or {}
            if len(pr.get("cpu_per_req_rounds") or []) > 1:
                lines.append("%-15s %-10s %8s %15s %9s %9s %11s" % (
                    "", "  by round", fmt_num(pr["rps"], 2) + "x", "", "",
                    fmt_num(pr["p99"], 2) + "x", fmt_num(pr["cpu_per_req"], 2) + "x"))
        lines.append("")
    lines.append("req/s, p50, p99, cpu: medians over rounds; errors: sum over rounds; other: median"
                 " CPU (in cores) used meanwhile by processes\nnot part of the bench (the machine"
                 " has %d); (sys): the kernel's share of cpu. Ratios: gatewayd value / peer value (req/s: >1 is better for gatewayd;"
                 "\np99 and cpu: <1 is better). 'by round': the median of the rounds' own ratios"
                 " (each round runs the targets seconds apart,\nso a change of the host's speed"
                 " between rounds cancels out)." % os.cpu_count())
    for n in notes:
        lines.append("* " + n)
    return "\n".join(lines)


def targets(summary):
    """Issue 4's targets, each as (name, value, goal, met) from this run: the ratio of medians
    and the median of per-round ratios (the target counts as met only if both are)."""
    out = []

    def row(sc, fam):
        return (summary.get(sc) or {}).get("targets", {}).get(fam)

    def add(name, pair, goal, better_low, note=None):
        med_ratio, by_round = pair
        if med_ratio is None:
            return
        vals = [v for v in (med_ratio, by_round) if v is not None]
        met = all((v <= goal) if better_low else (v >= goal) for v in vals)
        out.append({"target": name, "ratio": round(med_ratio, 3),
                    "by_round": by_round, "goal": goal, "met": met})
        if note:
            out[-1]["note"] = note

    g, n = row("plain", "gatewayd"), row("plain", "nginx")
    if g and n:
        add("plain: cpu/request vs nginx <= 0.8", (ratio(g["cpu_us_per_req"], n["cpu_us_per_req"]),
            per_round_ratio(g["rounds"], n["rounds"], "cpu_us_per_req")[0]), 0.8, True)
        add("plain: req/s vs nginx >= 1.1", (ratio(g["rps"], n["rps"]),
            per_round_ratio(g["rounds"], n["rounds"], "rps")[0]), 1.1, False)
        add("plain: p99 vs nginx <= 1.0", (ratio(g["p99_ms"], n["p99_ms"]),
            per_round_ratio(g["rounds"], n["rounds"], "p99_ms")[0]), 1.0, True)
    gp, hp = row("policy", "gatewayd"), row("policy", "haproxy")
    if gp and n:
        add("policy: cpu/request vs nginx plain <= 1.0", (
            ratio(gp["cpu_us_per_req"], n["cpu_us_per_req"]),
            per_round_ratio(gp["rounds"], n["rounds"], "cpu_us_per_req")[0]), 1.0, True)
    if gp and hp:
        add("policy: req/s vs haproxy jwt_verify >= 1.5", (ratio(gp["rps"], hp["rps"]),
            per_round_ratio(gp["rounds"], hp["rounds"], "rps")[0]), 1.5, False)
    for sc in ("cache-hit-1k", "cache-hit-100k"):
        gc, nc = row(sc, "gatewayd"), row(sc, "nginx")
        if gc and nc:
            add("%s: cpu/hit vs nginx proxy_cache <= 1.0" % sc, (
                ratio(gc["cpu_us_per_req"], nc["cpu_us_per_req"]),
                per_round_ratio(gc["rounds"], nc["rounds"], "cpu_us_per_req")[0]), 1.0, True)
    gw2 = row("workers", "gatewayd")
    if gw2 and g:
        add("workers (plain): 2 workers vs 1 req/s >= 1.6", (ratio(gw2["rps"], g["rps"]),
            per_round_ratio(gw2["rounds"], g["rounds"], "rps")[0]), 1.6, False)
    a3, a1 = row("aggregate-3", "gatewayd"), row("aggregate-part", "gatewayd")
    if a3 and a1:
        note = None
        if a3.get("cpu_us_per_req") is not None and a1.get("cpu_us_per_req") is not None:
            note = ("p99 %s against %s; gatewayd %.1f us CPU per aggregated request, %.1f per "
                    "proxied one" % (fmt_ms(a3.get("p99_ms")), fmt_ms(a1.get("p99_ms")),
                                     a3["cpu_us_per_req"], a1["cpu_us_per_req"]))
        add("aggregate: 3 parts p50 vs the slowest part alone < 1.2", (
            ratio(a3["p50_ms"], a1["p50_ms"]),
            per_round_ratio(a3["rounds"], a1["rounds"], "p50_ms")[0]), 1.2, True, note)
    s1, s2 = row("scaling", "gatewayd-w1"), row("scaling", "gatewayd-w2")
    if s1 and s2:
        note = None
        if s1.get("client_cores") is not None and s2.get("client_cores") is not None:
            note = ("wrk used %.2f cores against 1 worker, %.2f against 2; gatewayd %.1f and %.1f "
                    "us per request" % (s1["client_cores"], s2["client_cores"],
                                        s1["cpu_us_per_req"] or 0, s2["cpu_us_per_req"] or 0))
        add("workers (proxy-bound): 2 workers vs 1 >= 1.6", (ratio(s2["rps"], s1["rps"]),
            per_round_ratio(s2["rounds"], s1["rounds"], "rps")[0]), 1.6, False, note)
    return out


def targets_table(rows):
    lines = ["targets (issue 4), ratios of gatewayd to the peer: of the medians / by round"]
    for t in rows:
        lines.append("  %-44s %6s / %-6s %s" % (
            t["target"], fmt_num(t["ratio"], 2) + "x",
            fmt_num(t["by_round"], 2) + "x" if t["by_round"] is not None else "-",
            "met" if t["met"] else "MISSED"))
        if t.get("note"):
            lines.append("  %-44s %s" % ("", t["note"]))
    return "\n".join(lines)


def cpu_busy_sample(seconds=1.0):
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]
        return sum(v), idle
    a, ai = read()
    time.sleep(seconds)
    b, bi = read()
    total = b - a
    return round(100.0 * (total - (bi - ai)) / total, 1) if total else None


def machine_info():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1048576.0)
    return {"nproc": os.cpu_count(), "cpu_model": model, "memory": mem,
            "kernel": platform.release(), "loadavg_start": os.getloadavg()}


def versions(rev, gatewayd):
    def first(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except Exception as e:  # noqa: BLE001 - reporting only
            return "unknown (%s)" % e
    return {
        "gatewayd": "git %s (bazel -c opt)" % rev,
        "nginx": first(["nginx", "-v"]),
        "njs": first(["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-http-js"]),
        "haproxy": first(["haproxy", "-v"]),
        "wrk": first(["wrk", "-v"]),
        "h2load": first(["h2load", "--version"]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gatewayd", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--out", default="/tmp/bench-results.json")
    ap.add_argument("--rev", default="unknown")
    ap.add_argument("--njs-module", default="/usr/lib/nginx/modules/ngx_http_js_module.so")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--default-malloc", action="store_true",
                    help="run the servers with glibc's default malloc trim settings")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    ap.add_argument("--gateway-control", help="gateway-control binary (config scenario)")
    ap.add_argument("--gatewayctl", help="gatewayctl binary (config scenario)")
    ap.add_argument("--demo-upstream", help="demo_upstream binary (stream scenario's upload sink)")
    ap.add_argument("--only", default="",
                    help="comma-separated scenario names (default: all): plain, direct, "
                         "body-post-64k, body-post-64k-buffered, json-rename-1k, json-rename-64k, "
                         "body-get-1m, policy, identity, breaker-open, "
                         "limit-none, limit-local, limit-global, fixed, workers, scaling, idle, "
                         "stream, config, cache-hit-1k, cache-hit-100k, cache-l2-hit, "
                         "cache-coalesce, h2c, h2-tls, tls-handshake, https-keepalive")
    args = ap.parse_args()
    args.only = [x for x in args.only.split(",") if x]
    scale_names = [x for x in ("stream", "idle", "config") if not args.only or x in args.only]
    if "config" in scale_names and not (args.gateway_control and args.gatewayctl):
        scale_names.remove("config")
        log("bench: no --gateway-control/--gatewayctl: config scenario skipped")
    # Latency and coalescing of the cache (cache_bench.py): need demo_upstream.
    cache_names = [x for x in ("cache-l2-hit", "cache-coalesce")
                   if not args.only or x in args.only]
    if cache_names and not args.demo_upstream:
        cache_names = []
        log("bench: no --demo-upstream: cache-l2-hit and cache-coalesce skipped")

    def on_term(signum, frame):
        log("bench: signal %d, stopping everything it started" % signum)
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    bench = Bench(args)
    info = machine_info()
    info["cpu_busy_before_start_pct"] = cpu_busy_sample()
    vers = versions(args.rev, args.gatewayd)
    log("bench: %d cores, %s; background CPU busy before start %.0f%% (of all cores), "
        "loadavg %.2f" % (info["nproc"], info["cpu_model"], info["cpu_busy_before_start_pct"],
                          info["loadavg_start"][0]))
    try:
        bench.start_all()
        bench.sanity()
        import tls_bench  # the TLS scenarios' own proxies, when selected (tls_bench.py)
        tls_bench.start(bench)
        t0 = time.time()
        scenarios, results = bench.run()
        scale_out = {}
        scale_error = None
        if scale_names:
            import scale
            try:
                scale_out = scale.Scale(bench, args, args.quick).run(scale_names)
            except Exception:  # keep the throughput results measured so far
                scale_error = traceback.format_exc()
                log("bench: the memory/config scenarios failed:\n" + scale_error)
        cache_out = {}
        if cache_names:
            import cache_bench
            try:
                cache_out = cache_bench.CacheBench(bench, args, args.quick).run(cache_names)
            except Exception:  # keep what was measured so far
                scale_error = (scale_error or "") + traceback.format_exc()
                log("bench: the cache scenarios failed:\n" + traceback.format_exc())
        elapsed = time.time() - t0
    finally:
        for s in reversed(bench.servers):
            s.stop()
    info["loadavg_end"] = os.getloadavg()
    info["cpu_busy_after_end_pct"] = cpu_busy_sample()
    summary = summarize(scenarios, results)
    doc = {
        "machine": info,
        "versions": vers,
        "settings": {"quick": args.quick, "rounds": bench.rounds,
                     "seconds_per_run": bench.duration, "warmup_seconds": bench.warmup,
                     "measure_seconds_total": round(elapsed, 1),
                     "errors_definition": "wrk: socket errors (connect+read+write+timeout) + "
                                          "non-2xx/3xx responses; h2load: failed+errored+timeout "
                                          "+ non-2xx",
                     "server_env": {} if args.default_malloc else MALLOC_ENV,
                     "cpu_definition": "utime+stime of the proxy process(es) (nginx: master + "
                                       "workers) over the measured run / completed requests"},
        "scenarios": summary,
        "targets": targets(summary),
        "scale": scale_out,
        "cache": cache_out,
        "tls": tls_bench.report(bench, summary),
    }
    if scale_error:
        doc["scale_error"] = scale_error
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    print("machine: %d cores, %s, %s, kernel %s" % (info["nproc"], info["cpu_model"],
                                                     info["memory"], info["kernel"]))
    print("background CPU busy (other processes): %.0f%% before start, %.0f%% after the end; "
          "loadavg %.2f at start, %.2f at end" % (
              info["cpu_busy_before_start_pct"], info["cpu_busy_after_end_pct"],
              info["loadavg_start"][0], info["loadavg_end"][0]))
    for k, v in vers.items():
        print("%-9s %s" % (k + ":", v))
    print("rounds: %d, %ds per run (+%ds warm-up), measuring took %.0fs" % (
        bench.rounds, bench.duration, bench.warmup, elapsed))
    print("server env: %s" % (" ".join("%s=%s" % kv for kv in sorted(MALLOC_ENV.items()))
                              if not args.default_malloc else "glibc malloc defaults"))
    print()
    print(table(summary))
    print()
    if doc["targets"]:
        print(targets_table(doc["targets"]))
        print()
    if doc["tls"]:
        print(tls_bench.table(doc["tls"]))
        print()
    if scale_out:
        import scale
        print(scale.table(scale_out))
        print()
    if cache_out:
        import cache_bench
        print(cache_bench.table(cache_out))
        print()
    print("JSON: %s" % args.out)
    if scale_error:
        print("the idle/stream/config or cache scenarios failed (see the log above); the JSON "
              "has the rest")
        sys.exit(1)


if __name__ == "__main__":
    main()

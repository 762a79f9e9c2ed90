#!/usr/bin/env python3
"""Instructions per proxied request, counted by callgrind in gatewayd's own process.

Instruction counts do not depend on what else the machine is doing (docs/benchmarks.md), so
they compare builds where wall-clock numbers on two shared cores cannot. For each route:
gatewayd (1 worker) runs under `valgrind --tool=callgrind` in front of the bench's nginx
upstream; h2load --h1 warms it up, the counters are zeroed (callgrind_control --zero), h2load
sends the measured requests, the counters are dumped, and the total is divided by the requests
that succeeded.

  instructions.py --gatewayd PATH [--requests N] [--routes plain,policy,authz,...] [--keep DIR]

Routes: plain, policy, post64k, buffered, authz (policy + authz), quota_memory and quota_redis
(an API key whose quota counts in memory / in Redis: the difference is the Redis call), identity
(JWT + authz + API key counted in Redis), breaker_open (a request answered by the fallback while
its cluster's breaker is open: nothing goes upstream), limit_local and limit_global (a
per-client-IP limit in this process / in Redis), json_rename_1k and json_rename_64k (a
1 KiB / 64 KiB JSON request body whose items[*].price_cents json_transform renames).
"""
import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the bench's upstream and gatewayd configs, token helpers)

ROUTES = {
    # name: (path, credentials sent, POST body bytes)
    "plain": ("/", "", 0),
    "policy": ("/policy/x", "jwt", 0),
    "post64k": ("/", "", 65536),        # the same body streamed (untouched)
    "buffered": ("/buffered", "", 65536),
    "authz": ("/authz/x", "jwt+permission", 0),     # policy + authz
    "quota_memory": ("/quota-memory/x", "key-memory", 0),  # API key, quota in memory
    "quota_redis": ("/quota-redis/x", "key", 0),     # API key, quota in Redis
    "identity": ("/identity/x", "jwt+permission,key", 0),  # the bench's identity scenario
    "breaker_open": ("/breaker-open/x", "", 0),  # the fallback answers; nothing goes upstream
    "limit_local": ("/limit-local/x", "", 0),    # a per-client-IP local_ratelimit
    "limit_global": ("/limit-global/x", "", 0),  # the same in Redis (global_ratelimit)
    "json_rename_1k": ("/json-rename/x", "", 1024),    # json_transform on a JSON body
    "json_rename_64k": ("/json-rename/x", "", 65536),
}
# Routes whose POST body is bench.json_body(n), sent as application/json.
JSON_BODY_ROUTES = {"json_rename_1k", "json_rename_64k"}
# Config routes only the measurements that need them keep (a baseline build may lack their
# filters, and every route before the matching one costs a prefix check): name -> ROUTES users.
OPTIONAL_ROUTES = {"buffered": {"buffered"}, "json-rename": JSON_BODY_ROUTES}


def credential_headers(kind):
    """The request headers of a ROUTES credentials entry."""
    headers = []
    for part in kind.split(","):
        if part == "jwt":
            headers.append("authorization: Bearer " + bench.make_jwt(bench.JWT_SECRET,
                                                                     {"sub": "bench"}))
        elif part == "jwt+permission":
            headers.append("authorization: Bearer " + bench.make_jwt(
                bench.JWT_SECRET, {"sub": "bench", "permissions": ["bench:read"]}))
        elif part == "key":
            headers.append("x-api-key: " + bench.API_KEY)
        elif part == "key-memory":
            headers.append("x-api-key-memory: " + bench.API_KEY + "-memory")
    return headers


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            bench.http_get("http://127.0.0.1:%d/" % port, timeout=1)
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise RuntimeError("port %d did not answer" % port)


def h2load(port, path, n, headers, body_file, content_type=None):
    argv = ["h2load", "--h1", "-n", str(n), "-c", "50", "-t", "1"]
    for h in headers:
        argv += ["-H", h]
    if body_file:
        argv += ["-d", body_file, "-H",
                 "content-type: " + (content_type or "application/octet-stream")]
    argv.append("http://127.0.0.1:%d%s" % (port, path))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out)
    if not m:
        raise RuntimeError("h2load output not understood:\n" + out)
    return int(m.group(1))


def measure(args, route, tmp, up_port, redis_port):
    path, credentials, body_bytes = ROUTES[route]
    port = bench.free_port()
    conf = os.path.join(tmp, "gatewayd-%s.yaml" % route)
    text = bench.gatewayd_conf(port, up_port, bench_es256_pem(tmp), redis_port)
    with open(conf, "w") as f:
        f.write(text)
    valid = subprocess.run([args.gatewayd, "--validate", "--config", conf],
                           capture_output=True).returncode == 0
    for name, users in OPTIONAL_ROUTES.items():
        if route not in users or not valid:
            # Only the route's own measurements keep it (see OPTIONAL_ROUTES).
            text = re.sub(r"\n          - name: %s\n(.*\n)*?(?=          - name: )" % name, "\n",
                          text)
    with open(conf, "w") as f:
        f.write(text)
    help_text = subprocess.run([args.gatewayd, "--help"], capture_output=True, text=True)
    extra = ["--drain-grace", "0"] if "--drain-grace" in help_text.stderr + help_text.stdout else []
    out_file = os.path.join(tmp, "callgrind.%s.out" % route)
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out_file,
         args.gatewayd, "--config", conf, "--workers", "1", "--access-log", "off",
         "--admin-address", "127.0.0.1:%d" % bench.free_port(), "--admin-grpc-address", "off"]
        + extra,
        # gatewayd re-executes itself with this set (a larger malloc thread cache) unless it is
        # set already: set it, as gatewayd would, so that the process callgrind runs is the one
        # serving.
        env=dict(os.environ, GLIBC_TUNABLES="glibc.malloc.tcache_count=128"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, timeout=60)
        headers = credential_headers(credentials)
        body_file = None
        if body_bytes:
            body_file = os.path.join(tmp, "body.bin")
            with open(body_file, "wb") as f:
                f.write(bench.json_body(body_bytes) if route in JSON_BODY_ROUTES
                        else b"a" * body_bytes)
        content_type = "application/json" if route in JSON_BODY_ROUTES else None
        h2load(port, path, args.warmup, headers, body_file, content_type)
        subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True,
                       capture_output=True, timeout=60)
        done = h2load(port, path, args.requests, headers, body_file, content_type)
        subprocess.run(["callgrind_control", "--dump=measured", str(proc.pid)], check=True,
                       capture_output=True, timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    total = callgrind_total(out_file, "measured")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        for f in glob.glob(out_file + "*"):
            shutil.copy(f, args.keep)
    return total, done


def callgrind_total(out_file, tag):
    """The instruction count of the callgrind dump made with `callgrind_control --dump=TAG`."""
    for f in sorted(glob.glob(out_file + "*")):
        with open(f) as fh:
            text = fh.read()
        if re.search(r"^desc: Trigger: .*\b%s\b" % re.escape(tag), text, re.M):
            m = re.search(r"^summary: (\d+)", text, re.M) or re.search(r"^totals: (\d+)", text, re.M)
            if m:
                return int(m.group(1))
    raise RuntimeError("no callgrind dump named %r in %s*" % (tag, out_file))


def start_upstream(tmp):
    """The bench's nginx upstream in tmp/upstream: (process, port), once it answers."""
    port = bench.free_port()
    up_dir = os.path.join(tmp, "upstream")
    os.makedirs(os.path.join(up_dir, "www", "static"), exist_ok=True)
    conf = os.path.join(up_dir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(bench.upstream_nginx_conf(tmp, port))
    proc = subprocess.Popen(["nginx", "-p", up_dir, "-e", os.path.join(up_dir, "error.log"),
                             "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def stop_nginx(proc):
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


_PEM = {}


def bench_es256_pem(tmp):
    """The bench config names an ES256 key; any valid one will do here (no ES256 route runs)."""
    if "pem" not in _PEM:
        key = os.path.join(tmp, "es256.key")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                        key], check=True, capture_output=True)
        pub = subprocess.run(["openssl", "ec", "-in", key, "-pubout"], check=True,
                             capture_output=True, text=True).stdout
        _PEM["pem"] = pub
    return _PEM["pem"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gatewayd", required=True)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--routes", default="plain,policy,post64k,buffered")
    ap.add_argument("--keep", default="", help="copy the callgrind files here (for "
                    "callgrind_annotate)")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "h2load", "nginx", "openssl"):
        if shutil.which(tool) is None:
            sys.exit("instructions: %s is not installed" % tool)
    tmp = tempfile.mkdtemp(prefix="gw-instr-")
    os.chmod(tmp, 0o755)  # nginx workers run as an unprivileged user when started by root
    nginx, up_port = start_upstream(tmp)
    # The API-key routes count in Redis (quota_redis, identity).
    redis_port = bench.free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for route in [r for r in args.routes.split(",") if r]:
            total, done = measure(args, route, tmp, up_port, redis_port)
            print("%-12s %8.0f instructions/request  (%d Ir over %d requests)" %
                  (route, total / max(done, 1), total, done), flush=True)
    finally:
        redis.kill()
        stop_nginx(nginx)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

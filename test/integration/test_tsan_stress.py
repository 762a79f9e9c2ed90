"""ThreadSanitizer stress: a gatewayd built with clang-14 -fsanitize=thread (tools/sanitize builds
it with --config=tsan) runs 2 workers under wrk, one wrk opening a new connection per request
(Connection: close) and one on keep-alive connections through jwt_auth and local_ratelimit,
while a thread scrapes the admin endpoint (/metrics, /clusters, /config_dump, /ready) in a loop
and a fake control plane pushes new configs. Then a graceful drain (POST /drain) to exit 0.
Passes when gatewayd's and demo_upstream's TSan logs hold no report and the requests succeeded.

Collected only when GATEWAYD_TSAN names the TSan gatewayd (DEMO_UPSTREAM_TSAN optionally the
TSan demo_upstream): the normal integration run has no such binary and does not see this test.
The fake control plane is the normal build's (FAKE_CONTROL_PLANE, else next to GATEWAYD).
TSAN_OPTIONS: halt_on_error=0 (every report, not just the first), second_deadlock_stack=1, and
log_path in the test's temp dir; suppressions from test/integration/tsan.supp when it exists."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

from harness import DEMO_UPSTREAM, Upstream, free_port, wait_for
from test_live_config import FakeControlPlane

GATEWAYD_TSAN = os.environ.get("GATEWAYD_TSAN", "")
DEMO_UPSTREAM_TSAN = os.environ.get("DEMO_UPSTREAM_TSAN", "")
LOAD_SECONDS = int(os.environ.get("GW_TSAN_LOAD_SECONDS", "10"))
SECRET = "tsan-secret-0123456789"
HERE = os.path.dirname(os.path.abspath(__file__))
SUPPRESSIONS = os.path.join(HERE, "tsan.supp")
SYMBOLIZER = "/usr/lib/llvm-14/bin/llvm-symbolizer"  # llvm-14 (tools/setup): function names


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token():
    now = int(time.time())
    claims = {"sub": "alice", "iss": "https://issuer.test", "aud": "api", "iat": now,
              "exp": now + 3600}
    signing = (_b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." +
               _b64url(json.dumps(claims).encode()))
    mac = hmac.new(SECRET.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + _b64url(mac)


def _config(version, port, upstream):
    def route(name, match, route_filter, pre=()):
        r = {"name": name, "match": match, "route_filter": route_filter}
        if pre:
            r["pre_filters"] = list(pre)
        return r
    backend = {"name": "router", "config": {"cluster": "backend"}}
    return {
        "version": version,
        "auth_providers": [{"name": "main", "secret": SECRET, "issuer": "https://issuer.test",
                            "audiences": ["api"], "claim_headers": {"sub": "x-user-id"}}],
        "rate_limit_policies": [
            {"name": "shared", "requests_per_unit": 1000000, "unit": "SECOND"},
            {"name": "per-ip", "requests_per_unit": 1000000, "unit": "SECOND",
             "key_by": {"client_ip": True}}],
        "listeners": [{"name": "main", "address": "127.0.0.1:%d" % port, "virtual_hosts": [
            {"name": "all", "domains": ["*"], "routes": [
                route("direct", {"path": "/direct"},
                      {"name": "direct_response", "config": {"status": 200, "body": version}}),
                route("secure", {"prefix": "/secure"}, backend, pre=[
                    {"name": "jwt_auth", "config": {"provider": "main"}},
                    {"name": "local_ratelimit", "config": {"policy": "shared"}},
                    {"name": "local_ratelimit", "config": {"policy": "per-ip"}}]),
                route("up", {"prefix": "/"}, backend)]}]}],
        "clusters": [{"name": "backend", "endpoints": [{"address": upstream}]}],
    }


def _reports(log_dir):
    """The TSan reports in the logs (log_path files) under `log_dir`."""
    out = []
    for name in sorted(os.listdir(log_dir)):
        if name.startswith("tsan"):
            with open(os.path.join(log_dir, name), errors="replace") as f:
                text = f.read()
            if "WARNING: ThreadSanitizer" in text or "ERROR: ThreadSanitizer" in text:
                out.append("%s:\n%s" % (name, text))
    return out


def _wrk(port, path, connections, headers=()):
    args = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % LOAD_SECONDS, "--timeout", "10s"]
    for h in headers:
        args += ["-H", h]
    return subprocess.Popen(args + ["http://127.0.0.1:%d%s" % (port, path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)


def _wrk_result(proc):
    out = proc.communicate(timeout=LOAD_SECONDS + 60)[0]
    m = re.search(r"(\d+) requests in", out)
    requests = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = [int(x) for x in m.groups()] if m else [0, 0, 0, 0]
    return requests, bad, errors, out


def _admin_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def _tsan_stress():
    tmp = tempfile.mkdtemp(prefix="gw-tsan-")
    extra = ":suppressions=" + SUPPRESSIONS if os.path.exists(SUPPRESSIONS) else ""
    if os.path.exists(SYMBOLIZER):
        extra += ":external_symbolizer_path=" + SYMBOLIZER
    env = dict(os.environ)
    env["TSAN_OPTIONS"] = ("halt_on_error=0:second_deadlock_stack=1:history_size=4:"
                           "log_path=%s/tsan-gatewayd%s" % (tmp, extra))
    up_env = dict(os.environ)
    up_env["TSAN_OPTIONS"] = "halt_on_error=0:log_path=%s/tsan-upstream%s" % (tmp, extra)
    port = free_port()
    admin = free_port()
    upstream = DEMO_UPSTREAM_TSAN or DEMO_UPSTREAM
    up = Upstream("svc")
    up.proc = subprocess.Popen([upstream, "--port", str(up.port), "--service", "svc",
                                "--instance", "svc-1", "--quiet"], env=up_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gw = None
    try:
        wait_for(lambda: _admin_get(up.port, "/__stats") == 200, timeout=30, what="upstream")
        with FakeControlPlane() as cp:
            paths = []
            for i in range(6):
                path = os.path.join(tmp, "c%d.json" % i)
                with open(path, "w") as f:
                    json.dump(_config("v%d" % i, port, up.address), f)
                paths.append(path)
            stderr_path = os.path.join(tmp, "gatewayd.stderr")
            gw = subprocess.Popen(
                [GATEWAYD_TSAN, "--config", paths[0], "--workers", "2",
                 "--control-plane", cp.address, "--node-id", "node-1",
                 "--admin-address", "127.0.0.1:%d" % admin, "--admin-grpc-address", "off",
                 "--access-log", os.path.join(tmp, "access.log"), "--drain-timeout-ms", "5000"],
                env=env, stdout=subprocess.DEVNULL, stderr=open(stderr_path, "w"))
            wait_for(lambda: gw.poll() is not None or _admin_get(admin, "/ready") == 200,
                     timeout=60, what="gatewayd ready")
            assert gw.poll() is None, "gatewayd exited: " + open(stderr_path).read()

            stop = threading.Event()
            scrapes = {"ok": 0, "bad": []}

            def scrape():
                while not stop.is_set():
                    for p in ("/metrics", "/clusters", "/config_dump", "/ready"):
                        try:
                            status = _admin_get(admin, p)
                            if status == 200:
                                scrapes["ok"] += 1
                            else:
                                scrapes["bad"].append((p, status))
                        except OSError as e:
                            scrapes["bad"].append((p, repr(e)))
            scraper = threading.Thread(target=scrape, daemon=True)
            scraper.start()
            close_wrk = _wrk(port, "/up", 8, ["Connection: close"])
            keep_wrk = _wrk(port, "/secure", 4, ["Authorization: Bearer " + _token()])
            direct_wrk = _wrk(port, "/direct", 2, ["Connection: close"])
            acks = []
            try:
                # Config pushes while the load runs: the workers switch configs under traffic.
                for i in range(1, len(paths)):
                    time.sleep(LOAD_SECONDS / (len(paths) + 1))
                    acks.append(cp.push("v%d" % i, paths[i], timeout=30))
                results = [_wrk_result(w) for w in (close_wrk, keep_wrk, direct_wrk)]
            finally:
                stop.set()
                scraper.join(30)
                for w in (close_wrk, keep_wrk, direct_wrk):
                    if w.poll() is None:
                        w.kill()
            # Graceful drain (POST /drain; gatewayd exits 0 once the last connection is gone):
            # the shutdown paths run under TSan too.
            c = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
            c.request("POST", "/drain")
            drain_status = c.getresponse().status
            c.close()
            code = gw.wait(60)
        up.proc.send_signal(signal.SIGTERM)
        up.proc.wait(30)
        reports = _reports(tmp)
        if reports:
            print("\n\n".join(reports))
        assert not reports, "ThreadSanitizer reported %d problem(s) (above); logs in %s" % (
            len(reports), tmp)
        assert code == 0, "gatewayd exit status %s: %s" % (code, open(stderr_path).read()[-3000:])
        assert all(a.startswith("ack ") for a in acks), acks
        assert drain_status == 200, drain_status
        for name, (requests, bad, errors, out) in zip(("close", "keep-alive", "direct"), results):
            assert requests >= 50, "%s: too few requests\n%s" % (name, out)
            assert bad == 0, "%s: non-2xx responses\n%s" % (name, out)
            assert errors[0] == 0 and errors[3] == 0, "%s: socket errors\n%s" % (name, out)
        assert scrapes["ok"] >= 20 and not scrapes["bad"], scrapes
        print("tsan stress: %s requests (close, keep-alive, direct), %d admin scrapes, "
              "%d config pushes" % ([r[0] for r in results], scrapes["ok"], len(acks)))
    finally:
        if gw is not None and gw.poll() is None:
            gw.kill()
            gw.wait(10)
        if up.proc.poll() is None:
            up.proc.kill()
            up.proc.wait(10)


if GATEWAYD_TSAN:
    def test_tsan_stress_connection_close_admin_scrapes_config_pushes():
        _tsan_stress()

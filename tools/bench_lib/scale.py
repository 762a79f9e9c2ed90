"""Memory and live-config scenarios of tools/bench (see docs/benchmarks.md):

  idle    10,000 idle keep-alive downstream connections: RSS cost per connection, for gatewayd,
          nginx and HAProxy (fresh instances, 1 worker each).
  stream  1 GiB downloaded and 1 GiB uploaded through each proxy: peak RSS growth.
  config  gatewayd under the control plane: 10,000-route snapshots pushed while h2load sends a
          fixed rate; apply time (gatewayd's gateway_config_apply_seconds) and p99 while
          switching vs p99 with no push.

Every server here is started fresh (a heap that served other scenarios first would hide or add
memory) and stopped at the end; every client run is bounded in time.
"""

import json
import os
import re
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import threading
import time

import bench as B

GIB = 1 << 30


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class PeakRss:
    """Samples the summed VmRSS of `pids` every 10 ms while active."""

    def __init__(self, pids):
        self.pids = pids
        self.baseline = rss_kib(pids)
        self.peak = self.baseline
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_kib(self.pids))

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(2)
        self.peak = max(self.peak, rss_kib(self.pids))


def raise_nofile(want):
    """Raises this process's open-files limit (inherited by the servers started afterwards):
    both limits to `want` when allowed (root), else the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
        except (ValueError, OSError):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
            except (ValueError, OSError):
                pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Scale:
    def __init__(self, bench, args, quick):
        self.b = bench
        self.args = args
        self.quick = quick
        self.tmp = bench.tmp
        self.up_port = bench.upstream.port

    # --- fresh proxies ------------------------------------------------------------------------

    def start_proxy(self, fam, tag, haproxy_maxconn=4000, up_port=None):
        """A fresh 1-worker instance of `fam` (nginx sized for 20,000 connections) in front of
        the bench's upstream nginx, or of `up_port`."""
        port = B.free_port()
        up = up_port or self.up_port
        if fam == "gatewayd":
            cfg = self.b.write("scale/%s.yaml" % tag, B.gatewayd_conf(port, up, self.b.es256_pem))
            s = B.Server("scale-" + tag, [self.args.gatewayd, "--config", cfg, "--workers", "1",
                                          "--admin-address", "127.0.0.1:%d" % B.free_port(),
                                          "--access-log", "off"]
                         + self.b.gatewayd_extra_flags(), port, self.tmp)
        elif fam == "nginx":
            sub = "scale/" + tag
            os.makedirs(os.path.join(self.tmp, sub), exist_ok=True)
            self.b.write(sub + "/jwt.js", B.NJS_JWT)
            text = B.proxy_nginx_conf(self.tmp, sub, port, up, 1, self.args.njs_module)
            text = text.replace("events { worker_connections 4096; }",
                                "worker_rlimit_nofile 40000;\n"
                                "events { worker_connections 20000; }")
            conf = self.b.write(sub + "/nginx.conf", text)
            s = B.Server("scale-" + tag, ["nginx", "-p", os.path.join(self.tmp, sub), "-e",
                                          os.path.join(self.tmp, sub, "error.log"), "-c", conf],
                         port, self.tmp, with_children=True, stop_signal=signal.SIGQUIT)
        else:
            text = B.haproxy_conf(port, up, 1).replace(
                "maxconn 4000", "maxconn %d" % haproxy_maxconn)
            conf = self.b.write("scale/%s.cfg" % tag, text)
            s = B.Server("scale-" + tag, ["haproxy", "-db", "-f", conf], port, self.tmp)
        self.b.add(s)
        s.wait_ready()
        time.sleep(0.3)  # nginx forks its worker after listening
        s.pids()
        return s

    def stop(self, s):
        s.stop()
        if s in self.b.servers:
            self.b.servers.remove(s)

    # --- idle ---------------------------------------------------------------------------------

    def idle(self, fam, n):
        maxconn = 4000
        if fam == "haproxy":
            # HAProxy reserves 2 descriptors per connection at start and refuses to start when
            # the open-files limit is lower: with a hard limit of 20,000 it holds ~9,900.
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            maxconn = min(n + 200, (limit - 100) // 2)
            n = min(n, maxconn - 100)
        s = self.start_proxy(fam, fam + "-idle", haproxy_maxconn=maxconn)
        try:
            # One request first so that every proxy has its upstream connection and lazily
            # allocated state; the baseline is taken after it.
            st, _ = B.http_get("http://127.0.0.1:%d/" % s.port)
            if st != 200:
                raise RuntimeError("%s idle: warm-up request -> %s" % (fam, st))
            time.sleep(0.3)
            before = rss_kib(s.pids())
            socks, opened, answered, failed = [], 0, 0, 0
            sel = selectors.DefaultSelector()
            req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
            deadline = time.time() + 60
            try:
                # In batches of 500: connect + send, then read every response head.
                while opened < n and time.time() < deadline:
                    batch = []
                    for _ in range(min(500, n - opened)):
                        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
                        c.sendall(req)
                        c.setblocking(False)
                        batch.append(c)
                        socks.append(c)
                        opened += 1
                    pending = {c: b"" for c in batch}
                    for c in batch:
                        sel.register(c, selectors.EVENT_READ)
                    while pending and time.time() < deadline:
                        for key, _ in sel.select(timeout=1):
                            c = key.fileobj
                            try:
                                data = c.recv(65536)
                            except BlockingIOError:
                                continue
                            if not data:
                                failed += 1
                                sel.unregister(c)
                                del pending[c]
                                continue
                            pending[c] += data
                            if b"\r\n\r\n" in pending[c]:
                                if pending[c].startswith(b"HTTP/1.1 200"):
                                    answered += 1
                                else:
                                    failed += 1
                                sel.unregister(c)
                                del pending[c]
                    failed += len(pending)
                    for c in pending:
                        sel.unregister(c)
                time.sleep(1.0)  # let every proxy settle (timers, buffers released)
                after = rss_kib(s.pids())
                still_open = 0
                for c in socks:
                    try:
                        if c.recv(1) == b"":
                            continue
                    except BlockingIOError:
                        still_open += 1
                    except OSError:
                        continue
            finally:
                for c in socks:
                    c.close()
                sel.close()
        finally:
            self.stop(s)
        return {"connections": opened, "answered": answered, "failed": failed,
                "still_open": still_open, "rss_before_kib": before, "rss_after_kib": after,
                "kib_per_connection": round((after - before) / max(1, still_open), 2)}

    # --- stream -------------------------------------------------------------------------------

    def stream(self, fam, big_file, sink_port):
        """1 GiB download (the upstream nginx sends a file) and 1 GiB upload (to demo_upstream,
        which reads the whole body before it answers: nginx's `return 200` answers at once and
        a streaming proxy then stops the upload early)."""
        out = {}
        for what, argv, up in (
                ("download", ["curl", "-s", "-o", "/dev/null", "--max-time", "120",
                              "-w", "%{http_code} %{size_download} %{time_total}",
                              "http://127.0.0.1:{port}/static/1g.bin"], None),
                ("upload", ["curl", "-s", "-o", "/dev/null", "--max-time", "120",
                            "-X", "POST", "-T", big_file,
                            "-H", "Content-Type: application/octet-stream",
                            "-w", "%{http_code} %{size_upload} %{time_total}",
                            "http://127.0.0.1:{port}/upload"], sink_port)):
            if what == "upload" and sink_port is None:
                continue
            s = self.start_proxy(fam, "%s-%s" % (fam, what), up_port=up)
            try:
                B.http_get("http://127.0.0.1:%d/" % s.port)
                time.sleep(0.3)
                argv = argv[:-1] + [argv[-1].replace("{port}", str(s.port))]
                pids = s.pids()
                cpu0 = B.cpu_seconds(pids)
                with PeakRss(pids) as rss:
                    p = subprocess.run(argv, capture_output=True, text=True, timeout=150)
                cpu1 = B.cpu_seconds(pids)
                parts = p.stdout.split()
                ok = p.returncode == 0 and len(parts) == 3 and parts[0] == "200" and \
                    int(float(parts[1])) == GIB
                out[what] = {"ok": ok, "http": parts[0] if parts else None,
                             "bytes": int(float(parts[1])) if len(parts) == 3 else None,
                             "seconds": float(parts[2]) if len(parts) == 3 else None,
                             "rss_before_kib": rss.baseline, "rss_peak_kib": rss.peak,
                             "rss_growth_kib": rss.peak - rss.baseline,
                             "cpu_s": round(cpu1 - cpu0, 3)}
                if not ok:
                    out[what]["error"] = (p.stderr or p.stdout)[-300:]
            finally:
                self.stop(s)
        return out

    # --- config -------------------------------------------------------------------------------

    def snapshot(self, port, n_routes, tag):
        routes = [{"name": "svc%d" % i, "match": {"prefix": "/svc%d/" % i},
                   "route_filter": {"name": "router", "config": {"cluster": "up"}}}
                  for i in range(n_routes)]
        routes.append({"name": "fallback", "match": {"prefix": "/"},
                       "route_filter": {"name": "direct_response",
                                        "config": {"status": 200, "body": tag}}})
        return {"version": tag,
                "listeners": [{"name": "bench", "address": "127.0.0.1:%d" % port,
                               "virtual_hosts": [{"name": "all", "domains": ["*"],
                                                  "routes": routes}]}],
                "clusters": [{"name": "up",
                              "endpoints": [{"address": "127.0.0.1:%d" % self.up_port}]}]}

    def metrics(self, admin_port):
        _, body = B.http_get("http://127.0.0.1:%d/metrics" % admin_port)
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("#"):
                continue
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
        return out

    def config(self, n_routes, pushes, rate):
        port, cp_port, admin = B.free_port(), B.free_port(), B.free_port()
        d = os.path.join(self.tmp, "scale", "config")
        os.makedirs(os.path.join(d, "store"), exist_ok=True)
        files = []
        for i, tag in enumerate(("a", "b")):
            path = os.path.join(d, "snap-%s.json" % tag)
            with open(path, "w") as f:
                json.dump(self.snapshot(port, n_routes, "routes-%d-%s" % (n_routes, tag)), f)
            files.append(path)
        small = os.path.join(d, "small.json")
        with open(small, "w") as f:
            json.dump(self.snapshot(port, 1, "small"), f)
        # The control plane and the CLI run at nice 19: in a deployment they are on other
        # machines; here they share the two cores with the proxy under test, and their own
        # validation of 10,000 routes would otherwise be measured as the proxy's latency.
        cp = self.b.add(B.Server("scale-control", ["nice", "-n", "19", self.args.gateway_control,
                                                   "--listen",
                                                   "127.0.0.1:%d" % cp_port, "--config", small,
                                                   "--store", os.path.join(d, "store")],
                                 cp_port, self.tmp))
        cp.wait_ready()
        gw = self.b.add(B.Server("scale-gatewayd-cp", [
            self.args.gatewayd, "--control-plane", "127.0.0.1:%d" % cp_port, "--node-id", "bench",
            "--workers", "1", "--admin-address", "127.0.0.1:%d" % admin, "--access-log", "off"]
            + self.b.gatewayd_extra_flags(), port, self.tmp))
        result = {"routes": n_routes, "pushes": pushes, "rate": rate}
        try:
            gw.wait_ready()
            ctl = ["nice", "-n", "19", self.args.gatewayctl, "--server", "127.0.0.1:%d" % cp_port]

            def push(path, elsewhere=False):
                t0 = time.time()
                # elsewhere: the same snapshot for a node that does not exist. gateway-control
                # and gatewayctl do all their work; this gatewayd receives nothing. Requests
                # slowed in those windows were slowed by the control plane sharing the cores.
                extra = ["--target-node", "nobody"] if elsewhere else ["--wait"]
                p = subprocess.run(ctl + ["apply", "-f", path] + extra, capture_output=True,
                                   text=True, timeout=60)
                t1 = time.time()
                if elsewhere:
                    if p.returncode != 0:
                        raise RuntimeError("config push failed: %s %s" % (p.stdout[-300:],
                                                                         p.stderr[-300:]))
                    return t0, t1, None, None
                if p.returncode != 0 or "bench: ACK" not in p.stdout:
                    raise RuntimeError("config push failed: %s %s" % (p.stdout[-300:],
                                                                     p.stderr[-300:]))
                m = self.metrics(admin)
                return t0, t1, m.get('gateway_config_apply_seconds{stage="total"}'), \
                    m.get('gateway_config_apply_seconds{stage="compile"}')

            push(files[1])  # the first big snapshot: warms the allocator, not measured
            url = "http://127.0.0.1:%d/svc%d/x" % (port, n_routes // 2)
            st, _ = B.http_get(url)
            if st != 200:
                raise RuntimeError("config: %s -> %s after the first push" % (url, st))
            quiet_s, gap_s = 4.0, 1.5
            total_s = int(quiet_s + 2 * pushes * gap_s + 3)
            conns = 20
            logfile = os.path.join(d, "h2load.log")
            h2 = subprocess.Popen(["h2load", "--h1", "-t", "1", "-c", str(conns), "--rps",
                                   str(max(1, rate // conns)), "-D", str(total_s),
                                   "--log-file", logfile, url],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            windows, applies, compiles, walls = [], [], [], []
            try:
                load_start = time.time()
                time.sleep(quiet_s)
                for i in range(pushes):
                    t0, t1, total, comp = push(files[i % 2])
                    windows.append((t0, t1))
                    walls.append((t1 - t0) * 1000.0)
                    if total is not None:
                        applies.append(total * 1000.0)
                    if comp is not None:
                        compiles.append(comp * 1000.0)
                    time.sleep(max(0.0, gap_s - (time.time() - t0)))
                elsewhere = []
                for i in range(pushes):
                    t0, t1, _, _ = push(files[i % 2], elsewhere=True)
                    elsewhere.append((t0, t1))
                    time.sleep(max(0.0, gap_s - (time.time() - t0)))
                out, err = h2.communicate(timeout=total_s + 30)
            finally:
                if h2.poll() is None:
                    h2.kill()
                    h2.wait()
            summary = B.parse_h2load(out, logfile, 0)
            quiet, switching, control_only = [], [], []
            statuses_bad = 0
            with open(logfile) as f:
                for line in f:
                    cols = line.split("\t")
                    if len(cols) < 3:
                        continue
                    start = int(cols[0]) / 1e6
                    dur_ms = int(cols[2]) / 1000.0
                    if cols[1] != "200":
                        statuses_bad += 1
                    if load_start + 1.0 <= start < load_start + quiet_s:
                        quiet.append(dur_ms)
                    elif any(a <= start <= b + 0.2 for a, b in windows):
                        switching.append(dur_ms)
                    elif any(a <= start <= b + 0.2 for a, b in elsewhere):
                        control_only.append(dur_ms)
            quiet.sort()
            switching.sort()
            control_only.sort()
            p99c = B.percentile(control_only, 99) if control_only else None
            p99q = B.percentile(quiet, 99) if quiet else None
            p99s = B.percentile(switching, 99) if switching else None
            result.update({
                "apply_ms": [round(x, 1) for x in applies],
                "apply_ms_median": round(statistics.median(applies), 1) if applies else None,
                "apply_ms_max": round(max(applies), 1) if applies else None,
                "compile_ms_median": round(statistics.median(compiles), 1) if compiles else None,
                "gatewayctl_apply_wait_ms_median": round(statistics.median(walls), 1),
                "p99_quiet_ms": p99q, "p99_switching_ms": p99s,
                "p99_ratio": round(p99s / p99q, 2) if p99q and p99s else None,
                "max_switching_ms": switching[-1] if switching else None,
                "p99_control_plane_only_ms": p99c,
                "p99_control_plane_only_ratio": round(p99c / p99q, 2) if p99q and p99c else None,
                "samples_quiet": len(quiet), "samples_switching": len(switching),
                "requests": summary.get("requests"), "non200": statuses_bad,
                "errors": summary.get("errors"),
            })
        finally:
            self.stop(gw)
            self.stop(cp)
        return result

    # --- all ----------------------------------------------------------------------------------

    def run(self, which):
        out = {}
        fams = ["gatewayd", "nginx", "haproxy"]
        # 10,000 client sockets here, as many accepted ones plus upstream ones in each proxy
        # (HAProxy sizes its descriptor table from maxconn at start and refuses to start below).
        limit = raise_nofile(65536)
        if "stream" in which:
            # Sparse files (no disk I/O, read as zeros): the upload body and the upstream's
            # 1 GiB static file.
            big = os.path.join(self.tmp, "scale", "1g.bin")
            os.makedirs(os.path.dirname(big), exist_ok=True)
            for path in (big, os.path.join(self.tmp, "upstream", "www", "static", "1g.bin")):
                with open(path, "wb") as f:
                    f.truncate(GIB)
            out["stream"] = {}
            sink, sink_port = None, None
            if self.args.demo_upstream:
                sink_port = B.free_port()
                sink = self.b.add(B.Server("scale-sink", [
                    self.args.demo_upstream, "--port", str(sink_port), "--address", "127.0.0.1",
                    "--quiet"], sink_port, self.tmp))
                sink.wait_ready()
            for fam in fams:
                out["stream"][fam] = self.stream(fam, big, sink_port)
                r = out["stream"][fam]
                r.setdefault("upload", {"ok": False, "rss_growth_kib": 0, "seconds": None,
                                        "error": "skipped: no --demo-upstream"})
                B.log("scale stream   %-9s download %s +%d KiB (%.1fs), upload %s +%d KiB (%.1fs)"
                      % (fam, "ok" if r["download"]["ok"] else "FAILED",
                         r["download"]["rss_growth_kib"], r["download"]["seconds"] or 0,
                         "ok" if r["upload"]["ok"] else "FAILED",
                         r["upload"]["rss_growth_kib"], r["upload"]["seconds"] or 0))
            if sink is not None:
                self.stop(sink)
        if "idle" in which:
            n = 10000
            if limit < n + 1000:
                n = max(100, limit - 200)
                B.log("scale idle: open-files limit %d, using %d connections" % (limit, n))
            out["idle"] = {}
            for fam in fams:
                r = self.idle(fam, n)
                out["idle"][fam] = r
                B.log("scale idle     %-9s %d connections (%d answered, %d open at the end): "
                      "RSS %d -> %d KiB, %.2f KiB per connection" % (
                          fam, r["connections"], r["answered"], r["still_open"],
                          r["rss_before_kib"], r["rss_after_kib"], r["kib_per_connection"]))
        if "config" in which:
            r = self.config(10000, 3 if self.quick else 8, 2000)
            out["config"] = r
            B.log("scale config   10,000 routes x %d pushes at %d req/s: apply median %s ms, max "
                  "%s ms; p99 quiet %s, switching %s (%sx); non-200 %d" % (
                      r["pushes"], r["rate"], r["apply_ms_median"], r["apply_ms_max"],
                      B.fmt_ms(r["p99_quiet_ms"]), B.fmt_ms(r["p99_switching_ms"]),
                      r["p99_ratio"], r["non200"]))
        return out


def table(scale):
    lines = []
    if "idle" in scale:
        lines.append("idle: 10,000 idle keep-alive downstream connections (target gatewayd "
                     "<= 4 KiB each)")
        for fam, r in scale["idle"].items():
            lines.append("  %-9s %6d open  RSS %7d -> %7d KiB  %6.2f KiB/connection" % (
                fam, r["still_open"], r["rss_before_kib"], r["rss_after_kib"],
                r["kib_per_connection"]))
    if "stream" in scale:
        lines.append("stream: 1 GiB through the proxy, peak RSS growth (target gatewayd < 32 MiB)")
        for fam, r in scale["stream"].items():
            d, u = r["download"], r["upload"]
            lines.append("  %-9s download %s %7d KiB %5.1fs   upload %s %7d KiB %5.1fs" % (
                fam, "ok" if d["ok"] else "FAIL", d["rss_growth_kib"], d["seconds"] or 0,
                "ok" if u["ok"] else "FAIL", u["rss_growth_kib"], u["seconds"] or 0))
    if "config" in scale:
        r = scale["config"]
        lines.append("config: %d routes, %d pushes under %d req/s (target apply < 200 ms, p99 "
                     "while switching <= 2x)" % (r["routes"], r["pushes"], r["rate"]))
        lines.append("  apply %s ms (median %s, max %s; validate+compile median %s); gatewayctl "
                     "apply --wait median %s ms" % (r["apply_ms"], r["apply_ms_median"],
                                                    r["apply_ms_max"], r["compile_ms_median"],
                                                    r["gatewayctl_apply_wait_ms_median"]))
        lines.append("  p99 quiet %s, while switching %s (%sx), max while switching %s; "
                     "%d requests, %d non-200" % (
                         B.fmt_ms(r["p99_quiet_ms"]), B.fmt_ms(r["p99_switching_ms"]),
                         r["p99_ratio"], B.fmt_ms(r["max_switching_ms"]), r["requests"] or 0,
                         r["non200"]))
        lines.append("  p99 while the same pushes go to another node (control plane busy, this "
                     "proxy idle): %s (%sx)" % (B.fmt_ms(r.get("p99_control_plane_only_ms")),
                                                r.get("p99_control_plane_only_ratio")))
    return "\n".join(lines)

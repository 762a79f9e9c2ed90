"""End to end: the real gateway-control, gatewayd proxies attached to it and gatewayctl, all as
processes on 127.0.0.1. Every wait is bounded; every process is killed in a finally/__exit__."""
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time

from harness import (DEMO_UPSTREAM, GATEWAY_CONTROL, GATEWAYCTL, GATEWAYD, Upstream, free_port,
                     wait_for, RawClient)
import http.client


# ---------------------------------------------------------------------------------------------
# Configs

def direct(name, path, body, status=200):
    return {"name": name, "match": {"path": path},
            "route_filter": {"name": "direct_response", "config": {"status": status, "body": body}}}


def router(name, prefix, cluster):
    return {"name": name, "match": {"prefix": prefix},
            "route_filter": {"name": "router", "config": {"cluster": cluster}}}


def listener(name, port, routes):
    return {"name": name, "address": "127.0.0.1:%d" % port,
            "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]}


def cluster(name, *addresses):
    return {"name": name, "endpoints": [{"address": a} for a in addresses]}


class Configs:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gw-e2e-cfg-")
        self.n = 0

    def write(self, listeners, clusters=()):
        self.n += 1
        path = os.path.join(self.dir, "c%d.json" % self.n)
        with open(path, "w") as f:
            json.dump({"listeners": list(listeners), "clusters": list(clusters)}, f)
        return path


# ---------------------------------------------------------------------------------------------
# Processes

def ctl(server, *args, timeout=60):
    """Runs gatewayctl; returns (exit code, stdout, stderr)."""
    p = subprocess.run([GATEWAYCTL, "--server", server] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class Control:
    """gateway-control with its own store directory (reused by restart())."""

    def __init__(self, port=None, store=None):
        self.port = port or free_port()
        self.store = store or tempfile.mkdtemp(prefix="gw-e2e-store-")
        self.dir = tempfile.mkdtemp(prefix="gw-e2e-cp-")
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def __enter__(self):
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.proc = subprocess.Popen(
            [GATEWAY_CONTROL, "--listen", self.address, "--store", self.store],
            stdout=subprocess.DEVNULL, stderr=open(self.stderr_path, "a"))
        try:
            wait_for(lambda: self.ctl("status")[0] == 0, timeout=10, interval=0.1,
                     what="gateway-control up")
        except AssertionError:
            self.__exit__()
            raise AssertionError("gateway-control did not start: " + open(self.stderr_path).read())
        return self

    def ctl(self, *args, **kw):
        return ctl(self.address, *args, **kw)

    def status(self):
        rc, out, err = self.ctl("status", "-o", "json")
        assert rc == 0, (rc, out, err)
        return json.loads(out)

    def node(self, node_id):
        for n in self.status()["nodes"]:
            if n["node"]["id"] == node_id:
                return n
        return None

    def apply(self, path, *args):
        rc, out, err = self.ctl("apply", "-f", path, "--wait", "--timeout", "20s", *args)
        assert rc == 0, (rc, out, err)
        m = re.search(r"applied as version (\d+)", out)
        assert m, out
        return int(m.group(1)), out

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Proxy:
    """gatewayd attached to a gateway-control, with its own admin and admin-gRPC ports."""

    def __init__(self, cp, node_id, labels=()):
        self.cp = cp
        self.node_id = node_id
        self.labels = list(labels)
        self.admin_port = free_port()
        self.grpc_port = free_port()
        self.dir = tempfile.mkdtemp(prefix="gw-e2e-gw-")
        self.proc = None

    @property
    def grpc_address(self):
        return "127.0.0.1:%d" % self.grpc_port

    def __enter__(self):
        args = [GATEWAYD, "--control-plane", self.cp.address, "--node-id", self.node_id,
                "--workers", "1", "--access-log", "off",
                "--admin-address", "127.0.0.1:%d" % self.admin_port,
                "--admin-grpc-address", self.grpc_address]
        for l in self.labels:
            args += ["--node-label", l]
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "w"))
        try:
            wait_for(lambda: self.admin("/metrics")[0] == 200, what="gatewayd admin")
            wait_for(lambda: (self.cp.node(self.node_id) or {}).get("connected"), timeout=10,
                     interval=0.1, what="node %s connected" % self.node_id)
        except AssertionError:
            self.__exit__()
            raise AssertionError("gatewayd did not start/connect: " + self.stderr())
        return self

    def stderr(self):
        with open(self.stderr_path) as f:
            return f.read()

    def admin(self, path, timeout=5):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    def value(self, name):
        for line in self.admin("/metrics")[1].decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rpartition(" ")[2])
        return None

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def get(port, path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


class Load:
    """Python load in a thread: fresh-connection GETs; counts failures (non-200 or errors)."""

    def __init__(self, port, path):
        self.port, self.path = port, path
        self.ok = 0
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            try:
                status, _ = get(self.port, self.path, timeout=5)
                if status == 200:
                    self.ok += 1
                else:
                    self.failures.append(status)
            except Exception as e:  # noqa
                self.failures.append(repr(e))
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


# ---------------------------------------------------------------------------------------------
# Tests

def test_push_20_snapshots_under_wrk_load():
    configs = Configs()
    port = free_port()

    def cfg(i, up):
        routes = [direct("d", "/d", "body-%d" % i)]
        routes += [direct("extra%d" % j, "/extra%d" % j, "e%d" % j) for j in range(i % 3)]
        routes.append(router("api", "/", "backend"))
        return configs.write([listener("main", port, routes)], [cluster("backend", up.address)])

    with Upstream("svc") as up, Control() as cp, Proxy(cp, "edge-1") as gw:
        v0, _ = cp.apply(cfg(0, up))
        wait_for(lambda: get(port, "/")[0] == 200, what="listener serving")
        wrk = subprocess.Popen(["wrk", "-t1", "-c20", "-d10s", "--timeout", "5s",
                                "http://127.0.0.1:%d/" % port],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.5)
            versions = []
            for i in range(1, 21):
                rc, out, err = cp.ctl("apply", "-f", cfg(i, up), "--wait", "--timeout", "20s",
                                      "-m", "push %d" % i)
                assert rc == 0, (i, rc, out, err)
                assert "edge-1: ACK" in out, out
                versions.append(int(re.search(r"applied as version (\d+)", out).group(1)))
            report = wrk.communicate(timeout=30)[0].decode()
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait(5)
        assert wrk.returncode == 0, report
        assert "Non-2xx or 3xx responses" not in report, report
        assert "Socket errors" not in report, report
        m = re.search(r"(\d+) requests in", report)
        assert m and int(m.group(1)) > 100, report
        assert versions == list(range(v0 + 1, v0 + 21)), versions
        st = cp.status()
        assert st["latest_version"] == str(v0 + 20), st
        node = st["nodes"][0]
        assert node["acked_version"] == str(v0 + 20) and node["state"] == "in-sync", node
        assert get(port, "/d") == (200, b"body-20")


def test_nack_from_a_bind_failure_is_visible_and_old_listener_keeps_serving():
    configs = Configs()
    port = free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    try:
        with Control() as cp, Proxy(cp, "edge-1") as gw:
            v1, _ = cp.apply(configs.write([listener("main", port, [direct("a", "/a", "A")])]))
            assert get(port, "/a") == (200, b"A")
            bad = configs.write([listener("main", port, [direct("a", "/a", "A2")]),
                                 listener("extra", busy, [direct("b", "/b", "B")])])
            with Load(port, "/a") as load:
                rc, out, err = cp.ctl("apply", "-f", bad, "--wait", "--timeout", "20s")
                time.sleep(0.3)
            assert rc == 1, (rc, out, err)
            assert "edge-1: NACK" in out + err, (out, err)
            assert str(busy) in out + err, (out, err)
            assert load.failures == [] and load.ok > 0, (load.failures, load.ok)
            node = cp.node("edge-1")
            assert node["state"] == "NACKed", node
            assert node["acked_version"] == str(v1), node
            assert node["nacked_version"] == str(v1 + 1), node
            rc, out, err = cp.ctl("status")
            assert rc == 0 and "NACKed" in out and str(busy) in out, out
            # The old config keeps serving.
            assert get(port, "/a") == (200, b"A")
    finally:
        blocker.close()


def test_invalid_snapshot_is_refused_with_every_error():
    configs = Configs()
    port = free_port()
    with Control() as cp, Proxy(cp, "edge-1") as gw:
        cp.apply(configs.write([listener("main", port, [direct("a", "/a", "A")])]))
        rc, hist_before, _ = cp.ctl("history", "-o", "json")
        assert rc == 0
        bad_regex = {"name": "r", "match": {"regex": "/x(["},
                     "route_filter": {"name": "direct_response", "config": {"status": 200}}}
        bad = configs.write([listener("main", port, [router("p", "/p", "nope"), bad_regex])])
        rc, out, err = cp.ctl("apply", "-f", bad, "--wait")
        assert rc == 1, (rc, out, err)
        assert "listeners[0].virtual_hosts[0].routes[0].route_filter.config.cluster" in err, err
        assert "listeners[0].virtual_hosts[0].routes[1].match.regex" in err, err
        assert "refused" in err, err
        rc, hist_after, _ = cp.ctl("history", "-o", "json")
        assert rc == 0 and hist_after == hist_before, (hist_before, hist_after)
        assert get(port, "/a") == (200, b"A")
        assert cp.node("edge-1")["state"] == "in-sync"


def test_control_plane_killed_then_restarted_resyncs_without_a_push():
    configs = Configs()
    port = free_port()
    cp = Control().__enter__()
    try:
        with Proxy(cp, "edge-1") as gw:
            v1, _ = cp.apply(configs.write([listener("main", port, [direct("a", "/a", "A")])]))
            applied = gw.value("gateway_config_applied_total")
            assert applied == 1, applied
            rc, hist_before, _ = cp.ctl("history")
            assert rc == 0
            with Load(port, "/a") as load:
                time.sleep(0.3)
                cp.__exit__()
                wait_for(lambda: gw.value("gateway_control_plane_connected") == 0, timeout=10,
                         what="disconnected gauge")
                # The control plane stays dead for 10 s while the load keeps running.
                time.sleep(10.0)
                cp = Control(cp.port, cp.store).__enter__()
                wait_for(lambda: gw.value("gateway_control_plane_connected") == 1, timeout=20,
                         interval=0.1, what="reconnected")
                wait_for(lambda: cp.node("edge-1")["state"] == "in-sync", timeout=10,
                         interval=0.1, what="in-sync after restart")
                time.sleep(0.5)
            assert load.failures == [], load.failures[:10]
            assert load.ok > 50, load.ok
            node = cp.node("edge-1")
            assert node["connected"] and node["acked_version"] == str(v1), node
            assert gw.value("gateway_config_applied_total") == applied
            rc, hist_after, _ = cp.ctl("history")
            assert rc == 0 and hist_after == hist_before, (hist_before, hist_after)
            assert get(port, "/a") == (200, b"A")
            # And a push still works after the restart.
            v2, out = cp.apply(configs.write([listener("main", port, [direct("a", "/a", "A2")])]))
            assert v2 == v1 + 1 and "edge-1: ACK" in out
            assert get(port, "/a") == (200, b"A2")
    finally:
        cp.__exit__()


def test_targeted_snapshots_by_label_and_node():
    configs = Configs()
    ports = {"p1": free_port(), "p2": free_port(), "p3": free_port()}

    def cfg(node, body):
        return configs.write([listener("main", ports[node], [direct("who", "/who", body)])])

    with Control() as cp, \
            Proxy(cp, "p1", ["team=a"]) as g1, \
            Proxy(cp, "p2", ["team=b"]) as g2, \
            Proxy(cp, "p3", ["team=b", "zone=z"]) as g3:
        base = {}
        for node in ("p1", "p2", "p3"):
            v, out = cp.apply(cfg(node, "base-" + node), "--target-node", node)
            assert "%s: ACK" % node in out, out
            base[node] = v
        for node in ("p1", "p2", "p3"):
            assert get(ports[node], "/who") == (200, ("base-" + node).encode())
        va, out = cp.apply(cfg("p1", "team-a"), "--target-label", "team=a")
        assert "p1: ACK" in out and "p2" not in out and "p3" not in out, out
        v3, out = cp.apply(cfg("p3", "node-p3"), "--target-node", "p3")
        assert "p3: ACK" in out and "p1" not in out and "p2" not in out, out
        assert get(ports["p1"], "/who") == (200, b"team-a")
        assert get(ports["p2"], "/who") == (200, b"base-p2")
        assert get(ports["p3"], "/who") == (200, b"node-p3")
        st = cp.status()
        running = {n["node"]["id"]: n["acked_version"] for n in st["nodes"]}
        assert running == {"p1": str(va), "p2": str(base["p2"]), "p3": str(v3)}, st
        assert all(n["state"] == "in-sync" for n in st["nodes"]), st
        rc, out, _ = cp.ctl("status")
        assert rc == 0
        for node in ("p1", "p2", "p3"):
            assert re.search(r"^%s\s" % node, out, re.M), out


def test_rollback_serves_the_previous_body_again():
    configs = Configs()
    port = free_port()
    with Control() as cp, Proxy(cp, "edge-1") as gw:
        v1, _ = cp.apply(configs.write([listener("main", port, [direct("a", "/a", "one")])]))
        v2, _ = cp.apply(configs.write([listener("main", port, [direct("a", "/a", "two")])]))
        assert get(port, "/a") == (200, b"two")
        rc, out, err = cp.ctl("rollback", "--wait", "--timeout", "20s", "-m", "undo")
        assert rc == 0, (rc, out, err)
        # Without --to the CLI does not name the target (the response does not carry it).
        assert "rolled back: applied as version" in out and "edge-1: ACK" in out, out
        v3 = int(re.search(r"applied as version (\d+)", out).group(1))
        assert v3 == v2 + 1
        assert get(port, "/a") == (200, b"one")
        rc, out, _ = cp.ctl("history")
        assert rc == 0
        lines = out.splitlines()
        top = lines[1].split()
        assert top[0] == str(v3) and top[-1] == str(v1) and "undo" in lines[1], out
        assert cp.node("edge-1")["acked_version"] == str(v3)


def test_cli_exit_codes_against_real_servers():
    configs = Configs()
    port = free_port()
    with Control() as cp, Proxy(cp, "edge-1") as gw:
        cp.apply(configs.write([listener("main", port, [direct("a", "/a", "A")])]))
        rc, out, err = ctl("127.0.0.1:1", "status")
        assert rc == 2 and "cannot reach gateway-control at 127.0.0.1:1" in err, (rc, out, err)
        rc, out, err = cp.ctl("get", "snapshot", "--version", "999")
        assert rc == 1 and "version 999 not found" in err, (rc, out, err)
        rc, out, err = cp.ctl("--proxy", gw.grpc_address, "proxy", "explain", "GET",
                              "http://x/a")
        assert rc == 0, (rc, out, err)
        assert re.search(r"^matched route\s+a$", out, re.M), out
        rc, out, err = cp.ctl("--proxy", gw.grpc_address, "proxy", "explain", "GET",
                              "http://x/nothing")
        assert rc == 1 and re.search(r"^matched route\s+none$", out, re.M), (rc, out, err)


def test_10000_route_snapshots_apply_and_route_under_load():
    """Two 10,000-route snapshots pushed through the real control plane while requests flow:
    both are ACKed, every probed route answers with its own body (the first-segment index and the
    linear explain agree), gatewayd reports the apply time, the old generation is freed, and no
    request fails. No timing is asserted here (tools/bench measures it)."""
    configs = Configs()
    port = free_port()

    def snapshot(tag):
        routes = [{"name": "svc%d" % i, "match": {"prefix": "/svc%d/" % i},
                   "route_filter": {"name": "direct_response",
                                    "config": {"body": "%s-%d" % (tag, i)}}}
                  for i in range(10000)]
        routes.append(direct("root", "/", "root-" + tag))
        routes.append({"name": "fallback", "match": {"prefix": "/"},
                       "route_filter": {"name": "direct_response",
                                        "config": {"status": 404, "body": "none-" + tag}}})
        return configs.write([listener("big", port, routes)])

    with Control() as cp, Proxy(cp, "scale-1") as gw:
        cp.apply(configs.write([listener("big", port, [direct("root", "/", "small")])]))
        wait_for(lambda: get(port, "/")[1] == b"small", what="small config served")
        with Load(port, "/") as load:
            for tag in ("a", "b"):
                version, out = cp.apply(snapshot(tag))
                assert "scale-1: ACK" in out, out
                for i in (0, 1, 4999, 9998, 9999):
                    assert get(port, "/svc%d/x" % i) == (200, ("%s-%d" % (tag, i)).encode())
                assert get(port, "/svc10000/x") == (404, ("none-" + tag).encode())
                assert get(port, "/svc9999") == (404, ("none-" + tag).encode())  # no slash
                total = gw.value('gateway_config_apply_seconds{stage="total"}')
                compile_s = gw.value('gateway_config_apply_seconds{stage="compile"}')
                assert total is not None and 0 < compile_s <= total, (compile_s, total)
        assert load.failures == [] and load.ok > 0, (load.ok, load.failures[:5])
        rc, out, err = ctl(cp.address, "proxy", "explain", "GET", "http://x/svc9999/y",
                           "--proxy", gw.grpc_address)
        assert rc == 0, (rc, out, err)
        assert "svc9999" in out and "matched" in out, out
        # The a-generation is freed once nothing holds it (the reaper thread).
        wait_for(lambda: gw.value("gateway_config_generations_live") == 1, timeout=10,
                 what="old generations freed")


def test_private_keys_are_redacted_in_get_diff_proxy_config_and_logs():
    from test_tls import pki
    p = pki()
    port = free_port()
    cfg_dir = tempfile.mkdtemp(prefix="gw-e2e-keys-")

    def write(name, cert_path, key_path):
        with open(cert_path) as f:
            cert = f.read()
        with open(key_path) as f:
            key = f.read()
        main = listener("tls", port, [direct("a", "/a", "one")])
        main["tls"] = {"certificates": [{"secret": "edge-cert"}]}
        path = os.path.join(cfg_dir, name)
        with open(path, "w") as f:
            json.dump({"secrets": [{"name": "edge-cert", "certificate_chain": {"inline": cert},
                                    "private_key": {"inline": key}}],
                       "listeners": [main]}, f)
        return path, key

    def no_key(text, key):
        body = "".join(key.splitlines()[1:-1])
        return "PRIVATE KEY" not in text and body[:40] not in text

    first, key1 = write("v1.json", p.a[0], p.a[1])
    second, key2 = write("v2.json", p.default[0], p.default[1])
    with Control() as cp, Proxy(cp, "edge-1") as gw:
        cp.apply(first)
        r = subprocess.run(["curl", "-sS", "--cacert", p.ca, "--resolve",
                            "a.test:%d:127.0.0.1" % port, "https://a.test:%d/a" % port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        assert r.stdout == b"one", r
        for args in (["get", "snapshot", "-o", "yaml"], ["get", "snapshot", "-o", "json"],
                     ["get", "listeners"], ["--proxy", gw.grpc_address, "proxy", "config",
                                            "-o", "json"]):
            rc, out, err = cp.ctl(*args)
            assert rc == 0, (args, out, err)
            assert no_key(out + err, key1), (args, out)
            if "-o" in args:
                assert re.search(r"<redacted sha256:[0-9a-f]{12}>", out), (args, out)
        # A diff that rotates the key names the secret, never the key.
        rc, out, err = cp.ctl("diff", "-f", second)
        assert rc == 0, (out, err)
        assert "edge-cert" in out, out
        assert no_key(out + err, key1) and no_key(out + err, key2), out
        cp.apply(second)
        rc, out, _ = cp.ctl("get", "snapshot", "-o", "yaml")
        assert no_key(out, key2), out
        with open(cp.stderr_path) as f:
            cp_log = f.read()
        for log in (cp_log, gw.stderr()):
            assert no_key(log, key1) and no_key(log, key2), log

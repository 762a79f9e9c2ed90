"""Live configuration: gatewayd on the discovery stream of a fake control plane
(test/fake_control_plane, scripted over stdin). Snapshots applied without restart or closed
connections, NACKs, control plane loss and resync, listeners added and removed, no leaked config
generations. Every wait is bounded."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import GATEWAYD, RawClient, Upstream, free_port, rss_kib, wait_for

# Next to the gatewayd under test by default (bazel-bin/source/exe/gatewayd -> bazel-bin/test/...).
FAKE_CP = os.environ.get("FAKE_CONTROL_PLANE", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(GATEWAYD))),
    "test/fake_control_plane/fake_control_plane"))


# ---------------------------------------------------------------------------------------------
# Configs (JSON: the config parser takes JSON when the text starts with '{')

def direct(name, path, body, status=200):
    return {"name": name, "match": {"path": path},
            "route_filter": {"name": "direct_response", "config": {"status": status, "body": body}}}


def proxy(name, prefix, cluster, pre_filters=None):
    r = {"name": name, "match": {"prefix": prefix},
         "route_filter": {"name": "router", "config": {"cluster": cluster}}}
    if pre_filters:
        r["pre_filters"] = pre_filters
    return r


def listener(name, address, routes):
    return {"name": name, "address": address,
            "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]}


def cluster(name, *addresses):
    return {"name": name, "endpoints": [{"address": a} for a in addresses]}


class Configs:
    """Writes configs to files in one temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gw-live-")
        self.n = 0

    def write(self, listeners, clusters=(), version=""):
        self.n += 1
        path = os.path.join(self.dir, "c%d.json" % self.n)
        cfg = {"listeners": list(listeners), "clusters": list(clusters)}
        if version:
            cfg["version"] = version
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path


# ---------------------------------------------------------------------------------------------
# Processes

class FakeControlPlane:
    """The fake control plane; `expect` waits for an event line matching a regex."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.lines = []
        self.cond = threading.Condition()
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def __enter__(self):
        self.proc = subprocess.Popen([FAKE_CP, "--listen", self.address], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     universal_newlines=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        self.expect(r"^listening \d+$")
        return self

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def expect(self, pattern, timeout=10.0, since=0):
        """The first line at index >= since matching `pattern` (a regex match object)."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for line in self.lines[since:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("control plane: no line matching %r in %.0fs; got:\n%s"
                                         % (pattern, timeout, "\n".join(self.lines[-30:])))
                self.cond.wait(left)

    def matching(self, pattern, since=0):
        rx = re.compile(pattern)
        with self.cond:
            return [l for l in self.lines[since:] if rx.search(l)]

    def push(self, version, path, node="node-1", timeout=10.0):
        """Pushes and waits for the node's answer; returns the ack/nack line."""
        start = self.mark()
        self.cmd("push %s %s" % (version, path))
        m = self.expect(r"^(ack|nack) node=%s .*nonce=" % re.escape(node), timeout, start)
        return m.string

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def __exit__(self, *exc):
        self.kill()


class LiveGateway:
    """gatewayd taking its config from a control plane (optionally with a bootstrap file)."""

    def __init__(self, cp, bootstrap=None, node_id="node-1", workers=1, args=(), env=None):
        self.cp = cp
        self.bootstrap = bootstrap
        self.node_id = node_id
        self.workers = workers
        self.args = list(args)
        self.env = env
        self.admin_port = free_port()
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="gw-live-gw-")

    def __enter__(self):
        args = [GATEWAYD, "--control-plane", self.cp.address, "--node-id", self.node_id,
                "--workers", str(self.workers), "--admin-address",
                "127.0.0.1:%d" % self.admin_port, "--access-log", "off"] + self.args
        if self.bootstrap:
            args += ["--config", self.bootstrap]
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "w"), env=self.env)
        try:
            wait_for(lambda: self.admin("GET", "/metrics")[0] == 200, what="gatewayd admin")
        except AssertionError:
            self.__exit__()
            raise AssertionError("gatewayd did not start: " + self.stderr())
        return self

    def stderr(self):
        with open(self.stderr_path) as f:
            return f.read()

    def admin(self, method, path, timeout=5):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    def metric(self, name):
        body = self.admin("GET", "/metrics")[1].decode()
        for line in body.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                key, _, value = line.rpartition(" ")
                return key, float(value)
        return None, None

    def value(self, name):
        return self.metric(name)[1]

    def version(self):
        key, _ = self.metric("gateway_config_version_info")
        return re.search(r'version="(.*)"', key).group(1)

    def config_dump(self):
        return json.loads(self.admin("GET", "/config_dump")[1])

    def bound_port(self, name):
        addr = self.config_dump()["bound_listeners"].get(name)
        return None if addr is None else int(addr.rsplit(":", 1)[1])

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def get(client, path, headers=()):
    """One GET on a RawClient's keep-alive connection."""
    extra = "".join("%s: %s\r\n" % h for h in headers)
    client.send(("GET %s HTTP/1.1\r\nHost: test\r\n%s\r\n" % (path, extra)).encode())
    return client.read_response()


def get_once(port, path, timeout=5.0):
    with RawClient(port, timeout) as c:
        return get(c, path)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return False
    except OSError:
        return True


# ---------------------------------------------------------------------------------------------
# Tests

def test_snapshot_applied_live_on_the_same_connection():
    configs = Configs()
    port = free_port()
    with Upstream("svc") as up, FakeControlPlane() as cp:
        boot = configs.write([listener("main", "127.0.0.1:%d" % port, [
            direct("a", "/a", "A1"), proxy("up", "/up", "backend")])],
            [cluster("backend", up.address)], version="boot-1")
        with LiveGateway(cp, bootstrap=boot) as gw:
            # A bootstrap config was not sent by the control plane: the proxy reports no version
            # (so a static `version` can never be mistaken for a snapshot version).
            cp.expect(r"^connected node=node-1 version= ")
            assert gw.admin("GET", "/ready")[0] == 200
            assert gw.version() == "boot-1"
            with RawClient(port) as c:
                assert get(c, "/a").body == b"A1"
                assert get(c, "/b").status == 404
                assert get(c, "/up").status == 200
                accepted_before = up.stats()["connections_accepted"]
                # Route changes and a new route; the cluster is unchanged.
                v2 = configs.write([listener("main", "127.0.0.1:%d" % port, [
                    direct("a", "/a", "A2"), direct("b", "/b", "B2"),
                    proxy("up", "/up", "backend")])], [cluster("backend", up.address)])
                assert cp.push("v2", v2).startswith("ack node=node-1 version=v2 ")
                r = get(c, "/a")
                assert r.body == b"A2" and r.header("connection") is None, r
                assert get(c, "/b").body == b"B2"
                assert get(c, "/up").status == 200
            # The upstream pool carried over: no new upstream connection was needed (reading the
            # stats opens one connection itself).
            assert up.stats()["connections_accepted"] == accepted_before + 1
            assert gw.version() == "v2"
            assert gw.config_dump()["version"] == "v2"
            assert gw.value("gateway_config_applied_total") == 1
            assert gw.value("gateway_config_rejected_total") == 0
            assert gw.value("gateway_control_plane_connected") == 1


def test_bad_snapshot_is_nacked_and_old_config_keeps_serving():
    configs = Configs()
    port = free_port()
    with FakeControlPlane() as cp:
        good = configs.write([listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A")])])
        # Passes the fake (it does not validate), fails in the proxy: two problems.
        bad = configs.write([listener("main", "127.0.0.1:%d" % port, [
            proxy("x", "/x", "missing"), {"name": "y", "match": {"prefix": "/y"},
                                          "route_filter": {"name": "no_such_filter"}}])])
        with LiveGateway(cp) as gw:
            cp.expect(r"^connected node=node-1 version= ")
            assert cp.push("v1", good).startswith("ack node=node-1 version=v1 ")
            with RawClient(port) as c:
                assert get(c, "/a").body == b"A"
                line = cp.push("v2", bad)
                m = re.match(r"^nack node=node-1 version=(\S*) nonce=(\S+) detail=(.*)$", line)
                assert m, line
                assert m.group(1) == "v1"  # the version still running
                detail = json.loads(m.group(3))
                paths = [e.get("path") for e in detail["errors"]]
                assert "listeners[0].virtual_hosts[0].routes[0].route_filter.config.cluster" \
                    in paths, detail
                assert any(p and p.startswith("listeners[0].virtual_hosts[0].routes[1]")
                           for p in paths), detail
                assert all(e.get("message") for e in detail["errors"]), detail
                assert detail["message"], detail
                # Same connection, old config.
                assert get(c, "/a").body == b"A"
            assert gw.version() == "v1"
            assert gw.value("gateway_config_rejected_total") == 1
            assert gw.value("gateway_config_applied_total") == 1
            assert gw.admin("GET", "/ready")[0] == 200


def test_listener_that_cannot_bind_is_nacked():
    configs = Configs()
    port = free_port()
    blocker = socket.socket()  # no SO_REUSEPORT: the proxy's bind fails
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    taken = blocker.getsockname()[1]
    try:
        with FakeControlPlane() as cp:
            v1 = configs.write([listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A")])])
            v2 = configs.write([
                listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A")]),
                listener("other", "127.0.0.1:%d" % taken, [direct("b", "/b", "B")])])
            with LiveGateway(cp) as gw:
                assert cp.push("v1", v1).startswith("ack ")
                line = cp.push("v2", v2)
                assert line.startswith("nack node=node-1 version=v1 "), line
                detail = json.loads(line.split(" detail=", 1)[1])
                assert detail["errors"][0]["path"] == "listeners[1].address", detail
                assert "cannot bind" in detail["errors"][0]["message"], detail
                assert get_once(port, "/a").body == b"A"
                assert "other" not in gw.config_dump()["bound_listeners"]
    finally:
        blocker.close()


def test_no_bootstrap_waits_for_the_first_snapshot_and_sends_the_token():
    configs = Configs()
    port = free_port()
    token_file = os.path.join(configs.dir, "token")
    with open(token_file, "w") as f:
        f.write("s3cret\n")
    with FakeControlPlane() as cp:
        with LiveGateway(cp, args=["--node-label", "zone=a", "--node-label", "tier=edge",
                                   "--control-plane-token-file", token_file]) as gw:
            m = cp.expect(r"^connected node=node-1 version= labels=(\S*) auth=(.*)$")
            assert sorted(m.group(1).split(",")) == ["tier=edge", "zone=a"]
            assert m.group(2) == "Bearer s3cret"
            # No listeners, not ready: the embedded example is not used.
            assert gw.admin("GET", "/ready")[0] == 503
            assert gw.config_dump()["bound_listeners"] == {}
            v1 = configs.write([listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A")])])
            assert cp.push("v1", v1).startswith("ack ")
            assert gw.admin("GET", "/ready")[0] == 200
            assert get_once(port, "/a").body == b"A"
    # The token from the environment.
    env = dict(os.environ, GATEWAY_CONTROL_TOKEN="from-env")
    with FakeControlPlane() as cp, LiveGateway(cp, env=env):
        assert cp.expect(r"^connected node=node-1 .* auth=(.*)$").group(1) == "Bearer from-env"


def test_flags_are_checked():
    def run(args):
        p = subprocess.run([GATEWAYD] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        return p.returncode, p.stderr.decode()
    rc, err = run(["--control-plane", "127.0.0.1:1"])
    assert rc == 2 and "--node-id" in err, err
    rc, err = run(["--control-plane", "127.0.0.1:1", "--node-id", "n", "--node-label", "novalue"])
    assert rc == 2 and "KEY=VALUE" in err, err
    rc, err = run(["--node-id", "n"])
    assert rc == 2 and "--control-plane" in err, err
    rc, err = run(["--control-plane", "127.0.0.1:1", "--node-id", "n",
                   "--control-plane-token-file", "/nonexistent/token"])
    assert rc == 2 and "token" in err, err


def test_control_plane_lost_then_back_resyncs_without_a_push():
    configs = Configs()
    port = free_port()
    cp_port = free_port()
    v1 = configs.write([listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A")])])
    cp = FakeControlPlane(cp_port).__enter__()
    try:
        with LiveGateway(cp) as gw:
            assert cp.push("v1", v1).startswith("ack ")
            cp.kill()
            wait_for(lambda: gw.value("gateway_control_plane_connected") == 0, timeout=10,
                     what="disconnected gauge")
            # Traffic keeps flowing, on new and kept-alive connections, and /ready stays 200.
            with RawClient(port) as c:
                t_end = time.time() + 2.0
                n = 0
                while time.time() < t_end:
                    assert get(c, "/a").body == b"A"
                    assert get_once(port, "/a").status == 200
                    n += 1
                    time.sleep(0.05)
                assert n > 5
            assert gw.admin("GET", "/ready")[0] == 200
            # Back on the same port, knowing v1 already: the proxy reports v1, nothing is pushed.
            cp = FakeControlPlane(cp_port).__enter__()
            cp.cmd("set v1 %s" % v1)
            start = cp.mark()
            cp.expect(r"^connected node=node-1 version=v1 ", timeout=15, since=start)
            wait_for(lambda: gw.value("gateway_control_plane_connected") == 1, timeout=5,
                     what="connected gauge")
            time.sleep(1.0)
            assert cp.matching(r"^push ", since=start) == []
            assert gw.value("gateway_config_applied_total") == 1
            assert gw.version() == "v1"
            # And a change is still pushed and applied after the resync.
            v2 = configs.write([listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A2")])])
            assert cp.push("v2", v2).startswith("ack node=node-1 version=v2 ")
            assert get_once(port, "/a").body == b"A2"
            assert "reconnecting" in gw.stderr()
    finally:
        cp.kill()


def test_silent_control_plane_is_detected_and_the_stream_reopened():
    configs = Configs()
    port = free_port()
    v1 = configs.write([listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A")])])
    with FakeControlPlane() as cp, LiveGateway(cp) as gw:
        assert cp.push("v1", v1).startswith("ack ")
        start = cp.mark()
        cp.cmd("mute")  # heartbeats go unanswered: after 6 s of silence the proxy reconnects
        t0 = time.time()
        cp.expect(r"^disconnected node=node-1$", timeout=12, since=start)
        elapsed = time.time() - t0
        assert 4.0 < elapsed < 11.0, elapsed
        cp.cmd("unmute")
        cp.expect(r"^connected node=node-1 version=v1 ", timeout=10, since=start)
        assert get_once(port, "/a").body == b"A"
        assert "nothing received for 6000 ms" in gw.stderr()


def test_listener_added_bound_then_removed_drains():
    configs = Configs()
    port = free_port()
    main = listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A")])
    with Upstream("slow") as up, FakeControlPlane() as cp:
        with LiveGateway(cp, workers=2) as gw:
            assert cp.push("v1", configs.write([main])).startswith("ack ")
            # Added on port 0: the main thread picks one concrete port for both workers.
            v2 = configs.write([main, listener("second", "127.0.0.1:0", [
                direct("b", "/b", "B"), proxy("slow", "/slow", "slow")])],
                [cluster("slow", up.address)])
            assert cp.push("v2", v2).startswith("ack ")
            second = gw.bound_port("second")
            assert second and second != port
            for _ in range(10):  # both workers' sockets answer
                assert get_once(second, "/b").body == b"B"
            # A port-0 listener that did not change keeps its port across pushes.
            v2b = configs.write([listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A")]),
                                 listener("second", "127.0.0.1:0", [
                                     direct("b", "/b", "B2"), proxy("slow", "/slow", "slow")])],
                                [cluster("slow", up.address)])
            assert cp.push("v2b", v2b).startswith("ack ")
            assert gw.bound_port("second") == second
            idle = RawClient(second)
            assert get(idle, "/b").body == b"B2"
            busy = RawClient(second, timeout=10)
            busy.send(b"GET /slow HTTP/1.1\r\nHost: t\r\nx-demo-delay-ms: 1500\r\n\r\n")
            wait_for(lambda: gw.value("gateway_downstream_requests_active") == 1, timeout=5,
                     what="request in flight")
            with RawClient(port) as on_main:
                assert get(on_main, "/a").body == b"A"
                # Removed: stops accepting; the idle connection closes; the in-flight request
                # finishes and its response says Connection: close.
                assert cp.push("v3", configs.write([main])).startswith("ack ")
                assert refused(second)
                how, _ = idle.wait_closed(3.0)
                assert how == "eof", how
                r = busy.read_response(timeout=10)
                assert r.status == 200, r
                assert r.header("connection") == "close", r
                assert busy.wait_closed(3.0)[0] == "eof"
                # The other listener's connection was not touched.
                assert get(on_main, "/a").body == b"A"
            idle.close()
            busy.close()
            assert "second" not in gw.config_dump()["bound_listeners"]
            # Moved: a new address is remove + add.
            moved = free_port()
            v4 = configs.write([listener("main", "127.0.0.1:%d" % moved, [direct("a", "/a", "A")])])
            assert cp.push("v4", v4).startswith("ack ")
            assert get_once(moved, "/a").body == b"A"
            assert refused(port)
            assert gw.config_dump()["bound_listeners"] == {"main": "127.0.0.1:%d" % moved}


def test_listener_removed_by_a_push_sends_goaway_and_finishes_h2_streams():
    import h2frames as h2
    configs = Configs()
    port = free_port()
    main = listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A")])
    with Upstream("slow") as up, FakeControlPlane() as cp, LiveGateway(cp) as gw:
        h2l = listener("h2", "127.0.0.1:0", [proxy("slow", "/slow", "slow")])
        h2l["http2"] = {"enabled": True}
        assert cp.push("v1", configs.write([main, h2l], [cluster("slow", up.address)])) \
            .startswith("ack ")
        h2_port = gw.bound_port("h2")
        c = h2.H2Conn(h2_port)
        for sid in (1, 3):
            c.send(h2.headers(sid, h2.request_fields("/slow", extra=[("x-demo-delay-ms",
                                                                     "1000")])))
        wait_for(lambda: gw.value("gateway_downstream_requests_active") == 2, timeout=5,
                 what="two streams in flight")
        # The push retires the listener: GOAWAY (NO_ERROR, last stream 3), both streams finish,
        # a stream opened after it is not served, and the connection closes.
        assert cp.push("v2", configs.write([main])).startswith("ack ")
        h2.expect_graceful_goaway(c, late_path="/slow")
        assert json.loads(c.body(1))["path"] == "/slow"
        assert refused(h2_port)
        assert get_once(port, "/a").body == b"A"


def test_in_flight_request_finishes_on_the_config_it_started_with():
    configs = Configs()
    port = free_port()
    # A fault delay pauses the request before routing; meanwhile the route's cluster moves to
    # another upstream. The paused request still goes to the first one.
    delay = [{"name": "fault", "config": {"delay_ms": 1000}}]
    with Upstream("one") as one, Upstream("two") as two, FakeControlPlane() as cp:
        v1 = configs.write([listener("main", "127.0.0.1:%d" % port, [
            proxy("slow", "/slow", "c", pre_filters=delay), proxy("up", "/", "c")])],
            [cluster("c", one.address)])
        v2 = configs.write([listener("main", "127.0.0.1:%d" % port, [proxy("up", "/", "c")])],
                           [cluster("c", two.address)])
        with LiveGateway(cp) as gw:
            assert cp.push("v1", v1).startswith("ack ")
            with RawClient(port, timeout=10) as c:
                c.send(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
                wait_for(lambda: gw.value("gateway_downstream_requests_active") == 1, timeout=5,
                         what="request paused")
                assert cp.push("v2", v2).startswith("ack ")
                r = c.read_response(timeout=10)
                assert r.status == 200, r
                assert json.loads(r.body)["service"] == "one", r.body
                r = get(c, "/slow")  # v2: no fault filter, cluster c is now "two"
                assert json.loads(r.body)["service"] == "two", r.body
            wait_for(lambda: gw.value("gateway_config_generations_live") == 1, timeout=5,
                     what="the old generation to die with its last request")


def test_push_under_load_no_failed_request():
    configs = Configs()
    port = free_port()
    with Upstream("svc") as up, FakeControlPlane() as cp:
        def cfg(i):
            return configs.write([listener("main", "127.0.0.1:%d" % port, [
                direct("d", "/d", "v%d" % i), proxy("r%d" % i, "/", "backend")])],
                [cluster("backend", up.address)])
        paths = [cfg(i) for i in range(20)]
        with LiveGateway(cp, workers=2) as gw:
            assert cp.push("v0", paths[0]).startswith("ack ")
            stop = threading.Event()
            results = {"ok": 0, "bad": []}
            lock = threading.Lock()

            def load():
                try:
                    c = RawClient(port, timeout=5)
                    i = 0
                    while not stop.is_set():
                        r = get(c, "/d" if i % 2 else "/up")
                        with lock:
                            if r.status == 200 and r.header("connection") is None:
                                results["ok"] += 1
                            else:
                                results["bad"].append(r)
                        i += 1
                    c.close()
                except Exception as e:  # a closed connection or a timeout
                    with lock:
                        results["bad"].append(repr(e))
            threads = [threading.Thread(target=load) for _ in range(3)]
            for t in threads:
                t.start()
            try:
                for i in range(1, 20):
                    assert cp.push("v%d" % i, paths[i]).startswith("ack ")
                    time.sleep(0.05)
            finally:
                stop.set()
                for t in threads:
                    t.join(10)
            assert results["bad"] == [], results["bad"][:5]
            assert results["ok"] > 100, results
            assert gw.value("gateway_config_applied_total") == 20


def test_1000_pushes_leave_rss_flat():
    configs = Configs()
    port = free_port()
    with Upstream("svc") as up, FakeControlPlane() as cp:
        routes = [direct("d%d" % i, "/d%d" % i, "x" * 64) for i in range(50)]
        routes.append(proxy("up", "/", "backend"))
        path = configs.write([listener("main", "127.0.0.1:%d" % port, routes)],
                             [cluster("backend", up.address)])
        with LiveGateway(cp, workers=2) as gw:
            assert cp.push("v0", path).startswith("ack ")
            with RawClient(port) as c:  # an idle keep-alive connection across every push
                assert get(c, "/up").status == 200
                cp.cmd("burst 100 warm %s" % path)
                cp.expect(r"^burst done pushed=100 acked=100 nacked=0$", timeout=60)
                assert get(c, "/d3").status == 200
                before = rss_kib(gw.proc.pid)
                start = cp.mark()
                t0 = time.time()
                cp.cmd("burst 1000 v %s" % path)
                cp.expect(r"^burst done pushed=1000 acked=1000 nacked=0$", timeout=240,
                          since=start)
                elapsed = time.time() - t0
                assert get(c, "/d3").status == 200
                assert get(c, "/up").status == 200
            wait_for(lambda: gw.value("gateway_config_generations_live") == 1, timeout=5,
                     what="old generations to be freed")
            after = rss_kib(gw.proc.pid)
            assert after - before < 10 * 1024, (before, after)
            assert gw.value("gateway_config_applied_total") == 1101
            assert gw.version() == "v1000"
            print("  1000 pushes in %.1fs, RSS %d -> %d KiB" % (elapsed, before, after))


def test_sigterm_stops_the_client_and_exits():
    configs = Configs()
    port = free_port()
    v1 = configs.write([listener("main", "127.0.0.1:%d" % port, [direct("a", "/a", "A")])])
    # Connected: the stream is cancelled and the process exits cleanly.
    with FakeControlPlane() as cp, LiveGateway(cp, args=["--drain-grace", "0"]) as gw:
        assert cp.push("v1", v1).startswith("ack ")
        start = cp.mark()
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(10) == 0
        cp.expect(r"^disconnected node=node-1$", timeout=5, since=start)
    # Control plane unreachable (the client is backing off): exits just as fast.
    cp = FakeControlPlane()  # never started: nothing listens on its port
    with LiveGateway(cp, bootstrap=v1, args=["--drain-grace", "0"]) as gw:
        wait_for(lambda: "reconnecting" in gw.stderr(), timeout=10, what="a failed attempt")
        t0 = time.time()
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(10) == 0
        assert time.time() - t0 < 5

"""gRPC and HTTP/2 upstreams (cluster protocol H2C): real demo_grpc_server processes (gRPC C++)
reached through gatewayd from HTTP/1.1 clients sending gRPC-framed bodies (te: trailers,
forward_trailers on the listener), plus the gRPC C++ client through the gateway once the
gateway accepts h2c from clients (skipped with a reason until then)."""
import math
import os
import socket
import struct
import subprocess
import threading
import time

from harness import (Gateway, RawClient, free_port, one_listener_config, validate_output,
                     validation_config, wait_for)

GRPC_SERVER = os.environ.get("DEMO_GRPC_SERVER", "bazel-bin/tools/demo_grpc/demo_grpc_server")
GRPC_CLIENT = os.environ.get("DEMO_GRPC_CLIENT", "bazel-bin/tools/demo_grpc/demo_grpc_client")


class GrpcServer:
    """A demo_grpc_server process (demo.Greeter over h2c)."""

    def __init__(self, args=(), port=None):
        self.port = port or free_port()
        self.args = list(args)
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def __enter__(self):
        self.proc = subprocess.Popen([GRPC_SERVER, "--port", str(self.port), "--quiet"] + self.args,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: socket.create_connection(("127.0.0.1", self.port), 0.2).close() or True,
                 what="demo_grpc_server")
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def __exit__(self, *exc):
        self.kill()


# --- the protobuf messages of tools/demo_grpc/demo.proto, by hand --------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def hello_request(name, delay_ms=0, count=0, fail_with=0):
    raw = name.encode()
    msg = b"\x0a" + _varint(len(raw)) + raw
    for tag, value in ((0x10, delay_ms), (0x18, count), (0x20, fail_with)):
        if value:
            msg += bytes([tag]) + _varint(value)
    return msg


def echo_message(text):
    raw = text.encode() if isinstance(text, str) else text
    return b"\x0a" + _varint(len(raw)) + raw


def parse_fields(msg):
    """{field number: bytes} for the length-delimited fields of a message."""
    out, i = {}, 0
    while i < len(msg):
        key, i = _read_varint(msg, i)
        if key & 7 == 2:
            n, i = _read_varint(msg, i)
            out[key >> 3] = msg[i:i + n]
            i += n
        else:
            _, i = _read_varint(msg, i)
    return out


def _read_varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def frame(msg):
    return b"\x00" + struct.pack(">I", len(msg)) + msg


def unframe(body):
    msgs, i = [], 0
    while i < len(body):
        assert body[i] == 0, "compressed frame?"
        n = struct.unpack(">I", body[i + 1:i + 5])[0]
        msgs.append(body[i + 5:i + 5 + n])
        i += 5 + n
    return msgs


def grpc_status(resp):
    """grpc-status of a response: from the trailers, or from the head (trailers-only)."""
    for k, v in resp.trailers:
        if k == "grpc-status":
            return int(v)
    v = resp.header("grpc-status")
    return int(v) if v is not None else None


def grpc_call(port, method, body, chunked=False, extra=b"", timeout=10):
    data = b"".join(frame(m) for m in body) if isinstance(body, list) else frame(body)
    head = (b"POST /demo.Greeter/%s HTTP/1.1\r\nHost: greeter\r\ncontent-type: application/grpc\r\n"
            b"te: trailers\r\n" % method.encode()) + extra
    if chunked:
        req = head + b"transfer-encoding: chunked\r\n\r\n"
        for i in range(0, len(data), 4096):
            piece = data[i:i + 4096]
            req += b"%x\r\n" % len(piece) + piece + b"\r\n"
        req += b"0\r\n\r\n"
    else:
        req = head + b"content-length: %d\r\n\r\n" % len(data) + data
    with RawClient(port, timeout=timeout) as c:
        c.send(req)
        return c.read_response()


def grpc_config(cluster_extra="", route_extra="", max_streams=10):
    return one_listener_config(routes="""          - name: grpc
            match: {{prefix: /demo.Greeter/}}
            route_filter: {{name: router, config: {{cluster: greeter}}}}
""" + route_extra, tail="""clusters:
  - name: greeter
    protocol: H2C
    http2: {{max_concurrent_streams: %d}}
    endpoints: [{{address: "{up0}"}}]
""" % max_streams + cluster_extra).replace("    address: \"{listen}\"\n",
                                        "    address: \"{listen}\"\n    forward_trailers: true\n")


def cluster_connections(gw):
    import json
    status, body = gw.admin("GET", "/clusters")
    assert status == 200, body
    total = 0
    for w in json.loads(body)["workers"]:
        for c in w["clusters"]:
            if c["name"] == "greeter":
                total += sum(e["connections"] for e in c["endpoints"])
    return total


# --- tests ---------------------------------------------------------------------------------------

def test_unary_call_with_trailers_through_h2c_upstream():
    with GrpcServer() as up, Gateway(grpc_config(), [up]) as gw:
        r = grpc_call(gw.port, "SayHello", hello_request("alice"))
        assert r.status == 200, r
        assert r.header("content-type") == "application/grpc", r
        msgs = unframe(r.body)
        assert len(msgs) == 1 and parse_fields(msgs[0])[1] == b"Hello, alice!", r
        assert ("grpc-status", "0") in r.trailers, r.trailers  # forwarded from the HTTP/2 trailers


def test_upstream_grpc_error_passes_through():
    with GrpcServer() as up, Gateway(grpc_config(), [up]) as gw:
        r = grpc_call(gw.port, "SayHello", hello_request("x", fail_with=5))  # NOT_FOUND
        assert r.status == 200, r
        assert grpc_status(r) == 5, r
        assert r.header("x-gateway-error") is None, r  # the upstream's answer, not ours


def test_server_streaming_and_chunked_request():
    with GrpcServer() as up, Gateway(grpc_config(), [up]) as gw:
        r = grpc_call(gw.port, "StreamHellos", hello_request("bob", count=5), chunked=True)
        assert r.status == 200, r
        texts = [parse_fields(m)[1] for m in unframe(r.body)]
        assert texts == [b"Hello #%d, bob!" % i for i in range(1, 6)], texts
        assert grpc_status(r) == 0, r


def test_bidi_echo_large_bodies_both_ways():
    # 3 MiB each way: more than the 1 MiB stream window and nghttp2's 64 KiB default, so both
    # directions need flow control to move on.
    big = "x" * (1 << 20)
    msgs = [echo_message(big + str(i)) for i in range(3)]
    with GrpcServer() as up, Gateway(grpc_config(), [up]) as gw:
        r = grpc_call(gw.port, "Echo", msgs, chunked=True, timeout=20)
        assert r.status == 200, r
        back = [parse_fields(m)[1] for m in unframe(r.body)]
        assert back == [(big + str(i)).encode() for i in range(3)], [len(b) for b in back]
        assert grpc_status(r) == 0, r


def test_multiplexing_50_requests_share_connections():
    cap = 10
    n = 50
    with GrpcServer() as up, Gateway(grpc_config(max_streams=cap), [up]) as gw:
        results = [None] * n

        def one(i):
            try:
                results[i] = grpc_call(gw.port, "SayHello", hello_request("u%d" % i, delay_ms=400))
            except Exception as e:  # reported below
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        elapsed = time.time() - t0
        peers = set()
        for i, r in enumerate(results):
            assert not isinstance(r, Exception) and r is not None, (i, r)
            assert grpc_status(r) == 0, r
            f = parse_fields(unframe(r.body)[0])
            assert f[1] == b"Hello, u%d!" % i, f
            peers.add(f[2])
        # Every gateway->upstream connection is one peer address at the server.
        assert 1 <= len(peers) <= math.ceil(n / cap), peers
        assert cluster_connections(gw) <= math.ceil(n / cap)
        # Concurrent, not one after another (50 x 0.4 s would be 20 s).
        assert elapsed < 10, elapsed


class SilentUpstream:
    """Accepts TCP connections and reads them without ever answering (an upstream that hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns = []
        self.stop = False

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                c.setblocking(False)
                self.conns.append(c)
            except OSError:
                pass
            for c in self.conns:
                try:
                    c.recv(65536)
                except OSError:
                    pass

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


def test_grpc_timeout_sets_the_gateway_deadline():
    # The upstream never answers: the gateway's own deadline (grpc-timeout 300m, smaller than the
    # route's 10 s) ends the call as a trailers-only DEADLINE_EXCEEDED.
    with SilentUpstream() as up, Gateway(grpc_config(), [up]) as gw:
        t0 = time.time()
        r = grpc_call(gw.port, "SayHello", hello_request("slow"), extra=b"grpc-timeout: 300m\r\n")
        elapsed = time.time() - t0
        assert r.status == 200, r
        assert grpc_status(r) == 4, r  # DEADLINE_EXCEEDED
        assert r.header("x-gateway-error") == "upstream_timeout", r
        assert r.header("content-type") == "application/grpc", r
        assert r.header("content-length") == "0" and r.body == b"", r
        assert "deadline of 300 ms" in r.header("grpc-message"), r
        assert 0.25 < elapsed < 2.5, elapsed


def test_route_timeout_is_deadline_exceeded_and_smaller_grpc_timeout_wins():
    route_timeout = one_listener_config(routes="""          - name: grpc
            match: {{prefix: /demo.Greeter/}}
            timeout: 0.3s
            route_filter: {{name: router, config: {{cluster: greeter}}}}
""", tail="""clusters:
  - name: greeter
    protocol: H2C
    endpoints: [{{address: "{up0}"}}]
""").replace("    address: \"{listen}\"\n", "    address: \"{listen}\"\n    forward_trailers: true\n")
    with SilentUpstream() as up, Gateway(route_timeout, [up]) as gw:
        t0 = time.time()
        # grpc-timeout larger than the route timeout: the route's 300 ms wins.
        r = grpc_call(gw.port, "SayHello", hello_request("slow"), extra=b"grpc-timeout: 20S\r\n")
        assert grpc_status(r) == 4 and r.header("x-gateway-error") == "upstream_timeout", r
        assert time.time() - t0 < 2.5
    with GrpcServer() as up, Gateway(route_timeout, [up]) as gw:
        # A malformed grpc-timeout is ignored: a quick call completes.
        r = grpc_call(gw.port, "SayHello", hello_request("ok"), extra=b"grpc-timeout: soon\r\n")
        assert grpc_status(r) == 0, r


def test_no_route_is_unimplemented_and_plain_404_stays_json():
    with GrpcServer() as up, Gateway(grpc_config(), [up]) as gw:
        body = frame(hello_request("x"))
        with RawClient(gw.port) as c:
            c.send(b"POST /other.Service/Call HTTP/1.1\r\nHost: g\r\n"
                   b"content-type: application/grpc+proto\r\nte: trailers\r\n"
                   b"content-length: %d\r\n\r\n" % len(body) + body)
            r = c.read_response()
        assert r.status == 200 and grpc_status(r) == 12, r  # UNIMPLEMENTED
        assert r.header("x-gateway-error") == "no_route", r
        status, _, data = gw.request("GET", "/other")
        assert status == 404 and b'"no_route"' in data


def test_dead_upstream_is_unavailable():
    dead = "127.0.0.1:%d" % free_port()
    with Gateway(grpc_config(), [dead]) as gw:
        r = grpc_call(gw.port, "SayHello", hello_request("x"))
        assert r.status == 200 and grpc_status(r) == 14, r  # UNAVAILABLE
        assert r.header("x-gateway-error") == "upstream_connect_failed", r


def test_upstream_killed_mid_stream_fails_cleanly():
    up = GrpcServer()
    with up, Gateway(grpc_config(), [up]) as gw:
        req_body = frame(hello_request("k", count=50, delay_ms=100))
        with RawClient(gw.port, timeout=10) as c:
            c.send(b"POST /demo.Greeter/StreamHellos HTTP/1.1\r\nHost: g\r\n"
                   b"content-type: application/grpc\r\nte: trailers\r\n"
                   b"content-length: %d\r\n\r\n" % len(req_body) + req_body)
            head = c.read_head()
            assert head.status == 200, head
            time.sleep(0.4)
            up.kill()
            how, rest = c.wait_closed(5)
            # The response had started: the client connection is closed without the last chunk.
            assert how in ("eof", "reset"), how
            assert b"\r\n0\r\n" not in rest, rest
        # The gateway is fine and reconnects once the upstream is back.
        with GrpcServer(port=up.port):
            r = grpc_call(gw.port, "SayHello", hello_request("again"))
            assert grpc_status(r) == 0, r
            assert parse_fields(unframe(r.body)[0])[1] == b"Hello, again!"
        assert gw.proc.poll() is None


def test_goaway_moves_new_calls_to_a_new_connection():
    # The server sends GOAWAY to each connection 300 ms after it opened: calls keep succeeding,
    # over more than one connection.
    with GrpcServer(args=["--max-connection-age-ms", "300"]) as up, \
            Gateway(grpc_config(), [up]) as gw:
        peers = set()
        deadline = time.time() + 2.5
        i = 0
        while time.time() < deadline:
            r = grpc_call(gw.port, "SayHello", hello_request("g%d" % i))
            assert r.status == 200 and grpc_status(r) == 0, (i, r)
            peers.add(parse_fields(unframe(r.body)[0])[2])
            i += 1
            time.sleep(0.05)
        assert len(peers) >= 2, peers
        assert gw.proc.poll() is None


def test_validate_protocol_and_http2_paths():
    base = validation_config()
    rc, out = validate_output(base + "    protocol: AUTO\n")
    assert rc != 0 and "clusters[0].protocol: AUTO is HTTP/2 over TLS and needs `tls`" in out, out
    rc, out = validate_output(base + "    protocol: H2C\n    http2: {max_concurrent_streams: 0}\n")
    assert rc != 0 and "clusters[0].http2.max_concurrent_streams: must be 1..10000" in out, out
    rc, out = validate_output(base + "    http2: {initial_stream_window_size: 1000}\n")
    assert "clusters[0].http2: only for HTTP/2 clusters" in out, out
    assert "clusters[0].http2.initial_stream_window_size: must be 65535..2147483647" in out, out
    rc, out = validate_output(base + "    protocol: H2C\n")
    assert rc == 0, out


def _gateway_speaks_h2c(port):
    """Whether the gateway answers an HTTP/2 connection preface (h2c prior knowledge) with
    HTTP/2 (a SETTINGS frame) rather than an HTTP/1.1 error."""
    s = socket.create_connection(("127.0.0.1", port), 3)
    s.settimeout(3)
    try:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        data = s.recv(9)
    except OSError:
        return False
    finally:
        s.close()
    return len(data) >= 4 and data[3] == 0x04 and not data.startswith(b"HTTP/")


def test_grpc_cpp_client_through_gateway():
    # gRPC clients speak HTTP/2: the listener accepts h2c with prior knowledge.
    config = grpc_config().replace("    forward_trailers: true\n",
                                   "    forward_trailers: true\n    http2: {{enabled: true}}\n")
    with GrpcServer() as up, Gateway(config, [up]) as gw:
        target = "127.0.0.1:%d" % gw.port
        # The real client against the server directly: the binaries work.
        out = subprocess.run([GRPC_CLIENT, "--target", up.address, "hello", "alice"],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0 and "Hello, alice!" in out.stdout, out
        assert _gateway_speaks_h2c(gw.port)
        out = subprocess.run([GRPC_CLIENT, "--target", target, "hello", "alice"],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0 and "Hello, alice!" in out.stdout, out
        out = subprocess.run([GRPC_CLIENT, "--target", target, "stream", "bob", "4"],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out
        assert out.stdout.count("Hello #") == 4 and "status: 0" in out.stdout, out
        out = subprocess.run([GRPC_CLIENT, "--target", target, "echo", "one", "two", "three"],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0 and out.stdout.split()[:3] == ["one", "two", "three"], out
        out = subprocess.run([GRPC_CLIENT, "--target", target, "--timeout-ms", "5000",
                              "--fail-with", "7", "hello", "x"],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 1 and "status: 7" in out.stdout, out

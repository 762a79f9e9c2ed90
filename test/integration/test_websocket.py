"""WebSocket (HTTP/1.1 Upgrade) through a real gatewayd to the demo upstream's echo endpoint
(/ws/echo), with the standard-library client tools/demo_lib/wsclient.py: echo of text and binary
frames (a 1 MiB one for backpressure), the pre filters before the upgrade (api_key_auth), refused
upgrade types, an upstream's 4xx passed through, the idle and max-duration timeouts, close on
either side, drain after the grace, and the metrics and access log lines."""
import hashlib
import os
import re
import signal
import socket
import struct
import sys
import time

from harness import Gateway, RawClient, Upstream, one_listener_config, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "demo_lib"))
import wsclient  # noqa: E402
from wsclient import BINARY, CLOSE, PING, PONG, TEXT, HandshakeRefused, WebSocket  # noqa: E402


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def config(idle="300s", max_duration="0s", drain="5s"):
    head = """
version: ws-1
usage_plans:
  - name: ws
    rate: {{requests_per_second: 1000}}
api_keys:
  - {{id: k1, key_sha256: %s, plan: ws}}
""" % sha("ws-key")
    return one_listener_config(head=head, routes="""          - name: ws
            match: {{path: /ws/echo}}
            upgrade: {{allowed_types: [websocket], idle_timeout: %(idle)s,
                      max_duration: %(max)s, drain_timeout: %(drain)s}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: ws-keyed
            match: {{prefix: /keyed/}}
            prefix_rewrite: /
            upgrade: {{allowed_types: [websocket]}}
            pre_filters:
              - {{name: api_key_auth, config: {{header: x-api-key}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: plain
            match: {{prefix: /}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
""" % {"idle": idle, "max": max_duration, "drain": drain})


def url(gw, path="/ws/echo"):
    return "ws://127.0.0.1:%d%s" % (gw.port, path)


def metric(gw, name):
    status, body = gw.admin("GET", "/metrics")
    assert status == 200
    m = re.search(r"^%s (\d+)$" % re.escape(name), body.decode(), re.M)
    assert m, name
    return int(m.group(1))


def tunnel_lines(gw):
    return [l for l in gw.access_log() if "tunnel" in l]


def closes(gw, reason):
    return metric(gw, 'gateway_upgrade_tunnels_closed_total{reason="%s"}' % reason)


def test_echo_text_binary_ping_and_close_handshake():
    with Upstream() as up, Gateway(config(), [up]) as gw:
        ws = WebSocket(url(gw))
        assert ws.headers["upgrade"].lower() == "websocket"
        assert ws.headers.get("x-request-id")
        ws.send_text("hello")
        assert ws.recv_frame() == (TEXT, b"hello")
        ws.send_binary(bytes(range(256)))
        assert ws.recv_frame() == (BINARY, bytes(range(256)))
        # A fragmented message comes back whole.
        ws.send_frame(TEXT, "frag", fin=False)
        ws.send_frame(0x0, "mented", fin=True)
        assert ws.recv_frame() == (TEXT, b"fragmented")
        ws.send_frame(PING, b"p1")
        assert ws.recv_frame() == (PONG, b"p1")
        assert metric(gw, "gateway_upgrade_tunnels_active") == 1
        assert ws.close(1000) == 1000
        assert ws.wait_eof()  # the upstream closed after the close frames; the gateway followed
        ws.shutdown()
        wait_for(lambda: metric(gw, "gateway_upgrade_tunnels_active") == 0, 5)
        assert metric(gw, "gateway_upgrades_total") == 1
        assert closes(gw, "upstream_closed") == 1
        assert metric(gw, 'gateway_upgrade_tunnel_bytes_total{direction="client_to_upstream"}') > 0
        assert metric(gw, 'gateway_upgrade_tunnel_bytes_total{direction="upstream_to_client"}') > 0
        wait_for(lambda: tunnel_lines(gw), 5)
        line = tunnel_lines(gw)[0]
        assert line["tunnel"] == "websocket" and line["close_reason"] == "upstream_closed", line
        assert line["bytes_from_client"] > 0 and line["bytes_from_upstream"] > 0, line
        assert line["duration_ms"] >= 0 and line["route"] == "ws", line
        handshake = [l for l in gw.access_log() if l.get("status") == 101]
        assert handshake and handshake[0]["request_id"] == line["request_id"], gw.access_log()


def test_one_mib_frames_both_ways_with_backpressure():
    with Upstream() as up, Gateway(config(), [up]) as gw:
        ws = WebSocket(url(gw), timeout=20)
        big = os.urandom(1 << 20)
        for _ in range(3):
            ws.send_binary(big)  # the echo of one comes back while the next is being sent
        for _ in range(3):
            assert ws.recv_frame() == (BINARY, big)
        ws.send_text("after")
        assert ws.recv_frame() == (TEXT, b"after")
        ws.close()
        ws.shutdown()
        wait_for(lambda: metric(gw, "gateway_upgrade_tunnels_active") == 0, 5)
        assert metric(gw, 'gateway_upgrade_tunnel_bytes_total{direction="client_to_upstream"}') \
            > 3 << 20


def test_early_frame_behind_the_handshake_is_tunnelled():
    """A client that sends its first frame in the same packet as the upgrade request."""
    with Upstream() as up, Gateway(config(), [up]) as gw:
        s = socket.create_connection(("127.0.0.1", gw.port), 5)
        frame = bytes([0x81, 0x82]) + b"\0\0\0\0" + b"hi"  # masked with a zero key
        s.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n" + frame)
        data = b""
        deadline = time.time() + 5
        while b"\x81\x02hi" not in data and time.time() < deadline:
            data += s.recv(4096)
        assert data.startswith(b"HTTP/1.1 101 "), data
        assert b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in data, data
        assert data.endswith(b"\x81\x02hi"), data
        s.close()


def test_auth_pre_filter_runs_before_the_upgrade():
    with Upstream() as up, Gateway(config(), [up]) as gw:
        before = up.stats()["requests"]
        try:
            WebSocket(url(gw, "/keyed/ws/echo"))
            assert False, "upgrade without a key was let through"
        except HandshakeRefused as e:
            assert e.status == 401, (e.status, e.body)
            assert b'"request_id"' in e.body, e.body
        assert up.stats()["requests"] == before  # refused at the gateway (stats do not count)
        ws = WebSocket(url(gw, "/keyed/ws/echo"), headers={"X-API-Key": "ws-key"})
        ws.send_text("keyed")
        assert ws.recv_frame() == (TEXT, b"keyed")
        ws.close()
        ws.shutdown()


def test_disallowed_upgrade_type_is_refused_and_plain_requests_still_work():
    with Upstream() as up, Gateway(config(), [up]) as gw:
        with RawClient(gw.port) as c:
            # websocket on a route without `upgrade`: 403 upgrade_not_allowed, connection closed.
            c.send(b"GET /plain HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   b"Sec-WebSocket-Version: 13\r\n\r\n")
            r = c.read_response()
            assert r.status == 403, r
            assert r.json()["error"] == "upgrade_not_allowed" and r.json()["request_id"], r
            assert r.header("connection") == "close"
        with RawClient(gw.port) as c:
            # Another protocol on the websocket route: refused too.
            c.send(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: foo/1\r\n"
                   b"Connection: Upgrade\r\n\r\n")
            r = c.read_response()
            assert r.status == 403 and r.json()["error"] == "upgrade_not_allowed", r
        with RawClient(gw.port) as c:
            # A WebSocket upgrade must be a GET.
            c.send(b"POST /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nContent-Length: 0\r\n\r\n")
            r = c.read_response()
            assert r.status == 400, r
        with RawClient(gw.port) as c:
            # h2c upgrades are served as HTTP/1.1 (Upgrade dropped); so is an Upgrade field
            # without "upgrade" in Connection.
            c.send(b"GET /plain HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n"
                   b"Connection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n")
            r = c.read_response()
            assert r.status == 200, r
            seen = r.json()["headers"]
            assert "upgrade" not in seen and "http2-settings" not in seen, seen
            c.send(b"GET /plain HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
            r = c.read_response()
            assert r.status == 200 and "upgrade" not in r.json()["headers"], r
        assert metric(gw, "gateway_upgrades_refused_total") == 2
        assert metric(gw, "gateway_upgrades_total") == 0


def test_upstream_refusal_is_passed_through():
    with Upstream() as up, Gateway(config(), [up]) as gw:
        try:
            WebSocket(url(gw), headers={"x-demo-status": "403"})
            assert False, "expected a refusal"
        except HandshakeRefused as e:
            assert e.status == 403, e.status
            assert e.headers.get("x-demo-instance") == up.instance, e.headers
        # A bad handshake (no key) is the upstream's 400.
        with RawClient(gw.port) as c:
            c.send(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
            r = c.read_response()
            assert r.status == 400 and r.header("x-demo-instance") == up.instance, r
        assert metric(gw, "gateway_upgrades_total") == 0


def test_idle_timeout_closes_the_tunnel():
    with Upstream() as up, Gateway(config(idle="0.3s"), [up]) as gw:
        ws = WebSocket(url(gw))
        # Traffic keeps it open past the idle timeout...
        for i in range(4):
            time.sleep(0.15)
            ws.send_text("t%d" % i)
            assert ws.recv_frame() == (TEXT, b"t%d" % i)
        # ...silence closes it.
        t0 = time.time()
        assert ws.wait_eof(5)
        assert 0.25 < time.time() - t0 < 3
        ws.shutdown()
        wait_for(lambda: closes(gw, "idle_timeout") == 1, 5)
        wait_for(lambda: up.stats()["active_connections"] == 1, 5)  # the stats request's own


def test_max_duration_closes_a_busy_tunnel():
    with Upstream() as up, Gateway(config(max_duration="0.7s"), [up]) as gw:
        ws = WebSocket(url(gw))
        t0 = time.time()
        try:
            while time.time() - t0 < 5:
                ws.send_text("busy")
                assert ws.recv_frame() == (TEXT, b"busy")
                time.sleep(0.05)
            assert False, "the tunnel outlived its max_duration"
        except (EOFError, ConnectionResetError, BrokenPipeError):
            pass
        assert 0.6 < time.time() - t0 < 3
        ws.shutdown()
        wait_for(lambda: closes(gw, "max_duration") == 1, 5)


def test_client_close_closes_the_upstream_side():
    with Upstream() as up, Gateway(config(), [up]) as gw:
        ws = WebSocket(url(gw))
        ws.send_text("x")
        assert ws.recv_frame() == (TEXT, b"x")
        assert up.stats()["active_connections"] == 2  # the tunnel + this stats request
        ws.shutdown()  # TCP close without a close frame
        wait_for(lambda: up.stats()["active_connections"] == 1, 5, what="upstream side closed")
        wait_for(lambda: closes(gw, "client_closed") == 1, 5)
        assert metric(gw, "gateway_upgrade_tunnels_active") == 0


def test_upstream_close_closes_the_client_side():
    with Upstream() as up, Gateway(config(), [up]) as gw:
        ws = WebSocket(url(gw))
        ws.send_text("__server_close__")  # the echo starts the close handshake and closes
        op, payload = ws.recv_frame()
        assert op == CLOSE and struct.unpack("!H", payload[:2])[0] == 1000
        assert ws.wait_eof(5)
        ws.shutdown()
        wait_for(lambda: closes(gw, "upstream_closed") == 1, 5)


def test_upstream_process_gone_closes_the_client_side():
    up = Upstream()
    with up, Gateway(config(), [up]) as gw:
        ws = WebSocket(url(gw))
        ws.send_text("x")
        assert ws.recv_frame() == (TEXT, b"x")
        up.proc.kill()  # the kernel closes its sockets: the gateway sees EOF, then the tunnel ends
        up.proc.wait(5)
        assert ws.wait_eof(5)
        ws.shutdown()
        wait_for(lambda: metric(gw, "gateway_upgrade_tunnels_active") == 0, 5)


def test_drain_ends_tunnels_after_the_grace():
    with Upstream() as up, Gateway(config(drain="1s"), [up],
                                   args=["--drain-grace", "0", "--drain-timeout-ms", "10000"]) as gw:
        ws = WebSocket(url(gw))
        ws.send_text("before")
        assert ws.recv_frame() == (TEXT, b"before")
        t0 = time.time()
        gw.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # Still open during the grace.
        ws.send_text("during")
        assert ws.recv_frame() == (TEXT, b"during")
        assert ws.wait_eof(5)
        elapsed = time.time() - t0
        assert 0.9 < elapsed < 4, elapsed
        ws.shutdown()
        gw.proc.wait(10)  # the process exits once the tunnel is gone
        assert gw.proc.returncode == 0, gw.stderr()
        lines = tunnel_lines(gw)
        assert lines and lines[0]["close_reason"] == "drain", gw.access_log()

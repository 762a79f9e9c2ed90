"""HTTP/2 downstream (h2c with prior knowledge): real clients (curl, nghttp, h2load), bodies and
trailers both ways, typed JSON errors, the RFC 9113 8.2-8.3 malformed-request refusals, the
abuse mitigations sent as raw frames (h2frames.py), and drain with open streams."""
import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import h2frames as h2
from harness import Gateway, Upstream, curl, one_listener_config, wait_for


def h2_config(http2="{{enabled: true}}", extra_listener=""):
    return one_listener_config(head="version: h2-test\n", routes="""          - name: direct
            match: {{path: /direct}}
            route_filter: {{name: direct_response, config: {{status: 200, body: "hello"}}}}
          - name: api
            match: {{prefix: /}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
""").replace('    address: "{listen}"\n',
             '    address: "{listen}"\n    forward_trailers: true\n    http2: ' + http2 +
             "\n" + extra_listener)


def metric(gw, name, event=None):
    _, body = gw.admin("GET", "/metrics")
    key = name if event is None else '%s{event="%s"}' % (name, event)
    for line in body.decode().splitlines():
        if line.startswith(key + " "):
            return int(line.split()[-1])
    raise AssertionError("metric %s missing" % key)


def upstream_requests(up):
    return up.stats()["requests"]


def test_curl_prior_knowledge_and_http1_on_same_listener():
    with Upstream() as up, Gateway(h2_config(), [up]) as gw:
        r = curl(["--http2-prior-knowledge", "-i", "http://127.0.0.1:%d/api/users/1" % gw.port])
        assert r.returncode == 0, r.stderr
        head, body = r.stdout.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/2 200"), head
        assert b"x-request-id:" in head and b"connection:" not in head.lower()
        d = json.loads(body)
        assert d["path"] == "/api/users/1" and d["http_version"] == "1.1"
        assert d["headers"]["host"] == "127.0.0.1:%d" % gw.port
        # The same listener still speaks HTTP/1.1.
        status, _, body = gw.request("GET", "/api/users/1")
        assert status == 200 and json.loads(body)["path"] == "/api/users/1"
        assert metric(gw, "gateway_http2_connections_total") == 1


def test_h2c_refused_when_listener_does_not_enable_it():
    with Upstream() as up, Gateway(h2_config("{{enabled: false}}"), [up]) as gw:
        r = curl(["--http2-prior-knowledge", "http://127.0.0.1:%d/direct" % gw.port])
        assert r.returncode != 0 or b"hello" not in r.stdout


def test_upload_and_download_1mib():
    with Upstream() as up, Gateway(h2_config(), [up]) as gw, \
            tempfile.NamedTemporaryFile() as f:
        payload = os.urandom(1 << 20)
        f.write(payload)
        f.flush()
        r = curl(["--http2-prior-knowledge", "--data-binary", "@" + f.name,
                  "http://127.0.0.1:%d/upload" % gw.port])
        d = json.loads(r.stdout)
        assert d["body_bytes"] == 1 << 20
        assert d["body_sha256"] == hashlib.sha256(payload).hexdigest()
        for ctl in ("x-demo-stream-bytes", "x-demo-content-length-stream"):
            r = curl(["--http2-prior-knowledge", "-H", "%s: 1048576" % ctl, "-o", "-",
                      "-w", "%{http_version}", "http://127.0.0.1:%d/dl" % gw.port])
            assert r.stdout.endswith(b"2") and len(r.stdout) == (1 << 20) + 1, ctl


def test_request_body_without_length_goes_chunked_with_trailers():
    with Upstream() as up, Gateway(h2_config(), [up]) as gw:
        c = h2.H2Conn(gw.port)
        c.send(h2.headers(1, h2.request_fields("/echo", "POST", extra=[("cookie", "a=1"),
                                                                       ("cookie", "b=2")]),
                          end_stream=False))
        c.send(h2.data(1, b"x" * 5000) + h2.data(1, b"y" * 3000))
        c.send(h2.headers(1, [("x-checksum", "abc")], end_stream=True))
        end = c.read_until(lambda f: f.stream_id == 1 and f.flags & h2.END_STREAM)
        assert end is not None, c.received
        d = json.loads(c.body(1))
        assert d["body_bytes"] == 8000
        assert d["headers"]["transfer-encoding"] == "chunked"
        assert d["headers"]["cookie"] == "a=1; b=2"
        assert d["trailers"] == {"x-checksum": "abc"}


def test_nghttp_concurrent_streams_and_response_trailers():
    with Upstream() as up, Gateway(h2_config(), [up]) as gw:
        urls = ["http://127.0.0.1:%d/c/%d" % (gw.port, i) for i in range(10)]
        r = subprocess.run(["nghttp", "-n", "-s", "-m", "1"] + urls, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["nghttp", "-v", "-H", "x-demo-trailers: 1", "-H",
                            "x-demo-stream-bytes: 100", "http://127.0.0.1:%d/t" % gw.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        out = r.stdout.decode()
        assert r.returncode == 0, out
        # The trailer arrives in a HEADERS frame that ends the stream.
        assert re.search(r"recv HEADERS frame <[^>]*flags=0x05", out), out
        assert "x-demo-trailer: yes" in out
        assert metric(gw, "gateway_http2_streams_total") == 11


def test_h2load_small_run():
    with Upstream() as up, Gateway(h2_config(), [up]) as gw:
        r = subprocess.run(["h2load", "-n", "1000", "-c", "5", "-m", "10",
                            "http://127.0.0.1:%d/api/users/1" % gw.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        out = r.stdout.decode()
        assert "1000 succeeded, 0 failed" in out, out
        assert "1000 2xx" in out, out


def test_errors_are_json_with_request_id_over_h2():
    config = h2_config().replace("prefix: /}", "prefix: /api}")
    with Upstream() as up, Gateway(config, [up]) as gw:
        r = curl(["--http2-prior-knowledge", "-i", "http://127.0.0.1:%d/nothing" % gw.port])
        head, body = r.stdout.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/2 404"), head
        d = json.loads(body)
        rid = re.search(rb"x-request-id: (\S+)", head).group(1).decode()
        assert d["error"] == "no_route" and d["request_id"] == rid
        r = curl(["--http2-prior-knowledge", "-i",
                  "http://127.0.0.1:%d/api/a%%2fb" % gw.port])
        assert r.stdout.startswith(b"HTTP/2 400") and b'"invalid_path"' in r.stdout


MALFORMED = [
    ("connection header", [("connection", "keep-alive")]),
    ("keep-alive", [("keep-alive", "5")]),
    ("proxy-connection", [("proxy-connection", "x")]),
    ("upgrade", [("upgrade", "websocket")]),
    ("transfer-encoding", [("transfer-encoding", "chunked")]),
    ("te gzip", [("te", "gzip")]),
    ("CR in value", [("x-a", "a\rb")]),
    ("LF in value", [("x-a", "a\nb")]),
    ("NUL in value", [("x-a", "a\x00b")]),
    ("upper-case name", [("X-Upper", "1")]),
    ("space in name", [("x a", "1")]),
]


def _expect_refused(c, sid):
    f = c.read_until(lambda f: f.stream_id == sid and f.type in (h2.RST_STREAM, h2.HEADERS) or
                     f.type == h2.GOAWAY)
    assert f is not None and f.type in (h2.RST_STREAM, h2.GOAWAY), (f, c.received)
    assert f.error_code == h2.PROTOCOL_ERROR, f


def test_malformed_requests_are_reset_and_never_forwarded():
    with Upstream() as up, Gateway(h2_config(), [up]) as gw:
        before = upstream_requests(up)
        sid = 1
        c = h2.H2Conn(gw.port)
        for name, extra in MALFORMED:
            c.send(h2.headers(sid, h2.request_fields("/m", extra=extra)))
            _expect_refused(c, sid)
            sid += 2
        # Pseudo-header problems.
        cases = [
            [(":method", "GET"), (":scheme", "http"), ("x-a", "1"), (":path", "/")],  # order
            h2.request_fields("/") + [(":path", "/again")],                           # dup
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":foo", "x")],  # unknown
            [(":method", "GET"), (":path", "/")],                                     # no scheme
            [(":method", "GET"), (":scheme", "http"), (":authority", "a")],           # no path
        ]
        for fields in cases:
            c.send(h2.headers(sid, fields))
            _expect_refused(c, sid)
            sid += 2
        # Pseudo-header in trailers.
        c.send(h2.headers(sid, h2.request_fields("/t", "POST"), end_stream=False))
        c.send(h2.data(sid, b"abc"))
        c.send(h2.headers(sid, [(":path", "/x")], end_stream=True))
        _expect_refused(c, sid)
        sid += 2
        # The connection still serves a good request afterwards.
        c.send(h2.headers(sid, h2.request_fields("/good")))
        assert c.read_until(lambda f: f.stream_id == sid and f.flags & h2.END_STREAM and
                            f.type == h2.DATA) is not None
        # Only the pseudo-in-trailers request (its head was valid) and the good one went up.
        assert upstream_requests(up) - before <= 2
        assert metric(gw, "gateway_http2_protection_total", "malformed_request") >= 17


def test_content_length_disagreeing_with_data_aborts_upstream():
    with Upstream() as up, Gateway(h2_config(), [up]) as gw:
        c = h2.H2Conn(gw.port)
        # Less DATA than content-length.
        c.send(h2.headers(1, h2.request_fields("/cl", "POST", extra=[("content-length", "10")]),
                          end_stream=False))
        c.send(h2.data(1, b"12345", end_stream=True))
        _expect_refused(c, 1)
        # More DATA than content-length.
        c.send(h2.headers(3, h2.request_fields("/cl", "POST", extra=[("content-length", "3")]),
                          end_stream=False))
        c.send(h2.data(3, b"1234567890", end_stream=True))
        _expect_refused(c, 3)
        c.read_all(0.5)
        # Neither request got a response: nothing half-valid completed.
        assert not any(f.type == h2.HEADERS and f.stream_id in (1, 3) for f in c.received)


def test_rapid_reset_gets_goaway():
    with Upstream() as up, Gateway(h2_config("{{enabled: true, max_reset_burst: 50, "
                                             "max_resets_per_second: 10}}"), [up]) as gw:
        c = h2.H2Conn(gw.port)
        out = b""
        for i in range(200):
            sid = 1 + 2 * i
            out += h2.headers(sid, h2.request_fields("/r")) + h2.rst(sid)
        c.send(out)
        g = c.read_until(lambda f: f.type == h2.GOAWAY)
        assert g is not None and g.error_code == h2.ENHANCE_YOUR_CALM, c.received[-3:]
        assert c.wait_closed()
        assert metric(gw, "gateway_http2_protection_total", "rapid_reset") == 1


def test_continuation_flood_closes_connection():
    with Upstream() as up, Gateway(h2_config("{{enabled: true, max_continuation_frames: 4}}"),
                                   [up]) as gw:
        c = h2.H2Conn(gw.port)
        c.send(h2.headers(1, h2.request_fields("/c"), end_stream=True, end_headers=False))
        for i in range(50):
            if not c.send(h2.frame(h2.CONTINUATION, 0, 1, h2.literal("x-c%d" % i, "v"))):
                break
        assert c.wait_closed()
        assert metric(gw, "gateway_http2_protection_total", "continuation_flood") == 1


def test_hpack_bomb_and_oversized_header_list_get_431():
    with Upstream() as up, Gateway(h2_config(), [up]) as gw:
        before = upstream_requests(up)
        c = h2.H2Conn(gw.port)
        # One 4000-byte field enters the dynamic table, then 1 byte per reference: ~16 MB
        # decoded from a 4 KB header block.
        bomb = h2.block(h2.request_fields("/bomb")) + h2.literal_indexed("x-bomb", "b" * 4000)
        bomb += h2.indexed(62) * 4000
        c.send(h2.headers(1, bomb))
        end = c.read_until(lambda f: f.stream_id == 1 and f.flags & h2.END_STREAM)
        assert end is not None, c.received
        d = json.loads(c.body(1))
        assert d["status"] == 431 and d["error"] == "request_header_fields_too_large", d
        # A plain oversized list (many fields) on the same connection.
        big = h2.request_fields("/big") + [("x-f%d" % i, "v" * 100) for i in range(700)]
        raw = h2.block(big)
        c.send(h2.headers(3, raw[:16000], end_stream=True, end_headers=False) +
               h2.frame(h2.CONTINUATION, 0, 3, raw[16000:32000]) +
               h2.frame(h2.CONTINUATION, 0, 3, raw[32000:48000]) +
               h2.frame(h2.CONTINUATION, h2.END_HEADERS, 3, raw[48000:]))
        end = c.read_until(lambda f: f.stream_id == 3 and f.flags & h2.END_STREAM)
        assert end is not None and b"431" in c.body(3)
        assert upstream_requests(up) == before
        assert metric(gw, "gateway_http2_protection_total", "header_list_too_large") == 2


def _flood(gw, make, n=1000):
    c = h2.H2Conn(gw.port)
    c.send(b"".join(make(i) for i in range(n)))
    g = c.read_until(lambda f: f.type == h2.GOAWAY)
    assert g is not None and g.error_code == h2.ENHANCE_YOUR_CALM, c.received[-3:]
    assert c.wait_closed()


def test_settings_ping_priority_floods_get_goaway():
    with Upstream() as up, Gateway(h2_config(), [up]) as gw:
        _flood(gw, lambda i: h2.settings([(h2.SETTINGS_INITIAL_WINDOW_SIZE, 65535)]))
        _flood(gw, lambda i: h2.ping(b"%08d" % i))
        _flood(gw, lambda i: h2.priority(1 + 2 * i))
        assert metric(gw, "gateway_http2_protection_total", "control_frame_flood") == 3


def test_empty_data_frame_flood_gets_goaway():
    with Upstream() as up, Gateway(h2_config(), [up]) as gw:
        c = h2.H2Conn(gw.port)
        c.send(h2.headers(1, h2.request_fields("/e", "POST", extra=[("x-demo-delay-ms", "2000")]),
                          end_stream=False))
        c.send(h2.data(1, b"") * 50)
        g = c.read_until(lambda f: f.type == h2.GOAWAY)
        assert g is not None and g.error_code == h2.ENHANCE_YOUR_CALM
        assert metric(gw, "gateway_http2_protection_total", "empty_data_flood") == 1


def test_zero_window_stall_hits_stream_idle_timeout():
    with Upstream() as up, Gateway(h2_config("{{enabled: true, stream_idle_timeout: 1s}}"),
                                   [up]) as gw:
        c = h2.H2Conn(gw.port, client_settings=[(h2.SETTINGS_INITIAL_WINDOW_SIZE, 0)])
        t0 = time.time()
        c.send(h2.headers(1, h2.request_fields("/big", extra=[("x-demo-stream-bytes",
                                                                "1048576")])))
        f = c.read_until(lambda f: f.stream_id == 1 and f.type == h2.RST_STREAM, timeout=6)
        assert f is not None and f.error_code == h2.CANCEL, c.received
        assert 0.9 <= time.time() - t0 < 4
        assert c.body(1) == b""  # the window never opened
        assert metric(gw, "gateway_http2_stream_idle_timeouts_total") == 1
        # The connection itself goes on.
        c.send(h2.window_update(0, 1 << 20) + h2.settings([(h2.SETTINGS_INITIAL_WINDOW_SIZE,
                                                            65535)]))
        c.send(h2.headers(3, h2.request_fields("/ok")))
        assert c.read_until(lambda f: f.stream_id == 3 and f.flags & h2.END_STREAM) is not None


def test_streams_beyond_max_concurrent_are_refused():
    with Upstream() as up, Gateway(h2_config("{{enabled: true, max_concurrent_streams: 2}}"),
                                   [up]) as gw:
        c = h2.H2Conn(gw.port)
        c.read_until(lambda f: f.type == h2.SETTINGS and not f.flags & h2.ACK)
        for sid in (1, 3, 5):
            c.send(h2.headers(sid, h2.request_fields("/slow", extra=[("x-demo-delay-ms",
                                                                     "500")])))
        # Beyond the acknowledged limit nghttp2 ends the connection (RFC 9113 5.1.2 allows a
        # PROTOCOL_ERROR connection error); the two streams within it were admitted.
        f = c.read_until(lambda f: f.type == h2.GOAWAY or
                         (f.stream_id == 5 and f.type == h2.RST_STREAM))
        assert f is not None, c.received
        assert (f.type, f.error_code) in ((h2.GOAWAY, h2.PROTOCOL_ERROR),
                                          (h2.RST_STREAM, h2.REFUSED_STREAM)), f
        if f.type == h2.GOAWAY:
            assert f.last_stream_id == 3
        assert metric(gw, "gateway_http2_protection_total", "stream_refused") == 1
        assert metric(gw, "gateway_http2_streams_total") == 2


def test_drain_with_open_streams_sends_goaway_and_finishes_them():
    with Upstream() as up, Gateway(h2_config(), [up],
                                   args=["--drain-timeout-ms", "10000",
                                         "--drain-grace", "100ms"]) as gw:
        c = h2.H2Conn(gw.port)
        for sid in (1, 3):
            c.send(h2.headers(sid, h2.request_fields("/slow", extra=[("x-demo-delay-ms",
                                                                     "1500")])))
        time.sleep(0.3)
        gw.proc.send_signal(signal.SIGTERM)
        # GOAWAY; a stream opened after it is not served; the open ones finish.
        h2.expect_graceful_goaway(c)
        assert json.loads(c.body(1))["path"] == "/slow"
        gw.proc.wait(10)


def test_route_timeouts_of_concurrent_streams_fire_each_at_its_own_deadline():
    # Two routes with 300 ms and 1.2 s timeouts on one connection, upstream answers after 2 s:
    # each stream gets its 504 at its own deadline, and a fast stream in between is untouched.
    cfg = h2_config().replace("""          - name: api
            match: {{prefix: /}}""", """          - name: short
            match: {{prefix: /short}}
            timeout: 0.3s
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: long
            match: {{prefix: /long}}
            timeout: 1.2s
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: api
            match: {{prefix: /}}""")
    with Upstream() as up, Gateway(cfg, [up]) as gw:
        c = h2.H2Conn(gw.port)
        start = time.monotonic()
        c.send(h2.headers(1, h2.request_fields("/long", extra=[("x-demo-delay-ms", "2000")])))
        c.send(h2.headers(3, h2.request_fields("/short", extra=[("x-demo-delay-ms", "2000")])))
        c.send(h2.headers(5, h2.request_fields("/fast")))
        ended = {}
        while len(ended) < 3 and time.monotonic() - start < 5:
            f = c.read_until(lambda f: f.type in (h2.DATA, h2.HEADERS) and
                             f.flags & h2.END_STREAM and f.stream_id not in ended,
                             timeout=5)
            assert f is not None, c.received
            ended[f.stream_id] = time.monotonic() - start
        assert json.loads(c.body(5))["path"] == "/fast" and ended[5] < 0.3, ended
        short = json.loads(c.body(3))
        assert short["status"] == 504 and short["error"] == "upstream_timeout", short
        assert 0.25 <= ended[3] < 0.9, ended
        assert json.loads(c.body(1))["status"] == 504 and 1.15 <= ended[1] < 1.9, ended

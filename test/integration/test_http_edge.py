"""HTTP/1.1 edge cases end to end: limits, timeouts, normalization, hop-by-hop headers,
forwarding headers, request ids, 1xx, bodiless responses, connection management, trailers,
upstream failures and large bodies. Real gatewayd + demo_upstream on 127.0.0.1."""
import hashlib
import json
import os
import re
import shutil
import tempfile
import time

from harness import (SIMPLE_CONFIG, ConnectionEnded, Gateway, RawClient, UUID_RE, Upstream, curl,
                     filler, free_port, upstream_counters)

# Block-style YAML: the only braces are the {listen}/{up0} placeholders.
EDGE_CONFIG = """
version: edge-1
listeners:
  - name: main
    address: "{listen}"
%(listener)s
    virtual_hosts:
      - name: nowhere
        domains: ["nowhere.test"]
        routes:
          - name: only
            match:
              path: /only
            route_filter:
              name: direct_response
              config:
                body: only
      - name: all
        domains: ["*"]
        routes:
          - name: limited
            match:
              prefix: /limited/
            max_request_body_bytes: 1000
            route_filter:
              name: router
              config:
                cluster: backend
          - name: slow
            match:
              prefix: /slow/
            timeout: 0.5s
            route_filter:
              name: router
              config:
                cluster: backend
          - name: dead
            match:
              prefix: /dead/
            route_filter:
              name: router
              config:
                cluster: dead
          - name: api
            match:
              prefix: /
            route_filter:
              name: router
              config:
                cluster: backend
clusters:
  - name: backend
    endpoints:
      - address: "{up0}"
  - name: dead
    endpoints:
      - address: "127.0.0.1:%(dead_port)d"
    pool:
      connect_timeout: 2s
"""


def edge_config(listener=""):
    """`listener`: extra YAML lines for the listener, indented by 4 spaces."""
    return EDGE_CONFIG % {"listener": listener, "dead_port": free_port()}


def edge(listener=""):
    """(Upstream, Gateway) context managers for the edge config."""
    up = Upstream("edge")
    return up, Gateway(edge_config(listener), [up])


def _get(path, headers=(), version="1.1", method="GET", host="a"):
    lines = ["%s %s HTTP/%s" % (method, path, version)]
    if host is not None:
        lines.append("Host: " + host)
    lines += ["%s: %s" % h for h in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _assert_json_error(resp, status, code, request_id=None):
    assert resp.status == status, resp
    assert resp.header("content-type") == "application/json", resp
    err = resp.json()
    assert err["status"] == status and err["error"] == code, err
    assert resp.header("x-request-id") == err["request_id"], resp
    if request_id is None:
        assert re.match(UUID_RE, err["request_id"]), err
    else:
        assert err["request_id"] == request_id, err
    return err


# --- Header limits -----------------------------------------------------------------------------

def _padded_request(total_kib, path="/h"):
    """A GET whose request line + headers are about `total_kib` KiB, in 1 KiB header lines."""
    head = _get(path)[:-2]  # without the final CRLF
    lines = []
    i = 0
    while len(head) + sum(len(l) for l in lines) + 2 < total_kib * 1024:
        lines.append(b"X-Pad-%03d: %s\r\n" % (i, b"p" * 1000))
        i += 1
    return head + b"".join(lines) + b"\r\n"


def test_request_headers_over_default_60k_get_431():
    up, gw = edge()
    with up, gw:
        req0, conns0 = upstream_counters(up)
        with RawClient(gw.port) as c:
            c.send(_padded_request(59))
            resp = c.read_response()
            assert resp.status == 200, resp
        big = _padded_request(61)
        assert len(big) > 60 * 1024
        with RawClient(gw.port) as c:
            c.send(big)
            resp = c.read_response()
            _assert_json_error(resp, 431, "headers_too_large")
            assert resp.header("connection") == "close"
            assert c.wait_closed(3)[0] == "eof"
        time.sleep(0.2)
        assert upstream_counters(up)[0] == req0 + 1  # only the 59 KiB request


def test_request_headers_over_configured_8k_get_431():
    up, gw = edge("    limits:\n      max_request_headers_kb: 8\n")
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_padded_request(7))
            assert c.read_response().status == 200
        with RawClient(gw.port) as c:
            c.send(_padded_request(9))
            resp = c.read_response()
            _assert_json_error(resp, 431, "headers_too_large")
            assert c.wait_closed(3)[0] == "eof"


def test_more_than_100_headers_get_431():
    up, gw = edge()
    with up, gw:
        # Host + 99 = 100 headers: accepted.
        with RawClient(gw.port) as c:
            c.send(_get("/n", [("X-H%d" % i, "v") for i in range(99)]))
            resp = c.read_response()
            assert resp.status == 200, resp
            assert resp.json()["headers"]["x-h98"] == "v"
        # Host + 100 = 101 headers: rejected.
        with RawClient(gw.port) as c:
            c.send(_get("/n", [("X-H%d" % i, "v") for i in range(100)]))
            resp = c.read_response()
            _assert_json_error(resp, 431, "too_many_headers")
            assert resp.header("connection") == "close"
            assert c.wait_closed(3)[0] == "eof"


# --- Body limits -------------------------------------------------------------------------------

def test_route_body_limit_content_length_413():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(b"POST /limited/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"
                   + b"b" * 1000)
            resp = c.read_response()
            assert resp.status == 200 and resp.json()["body_bytes"] == 1000, resp
        req0, conns0 = upstream_counters(up)
        with RawClient(gw.port) as c:
            c.send(b"POST /limited/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n"
                   + b"b" * 1001)
            resp = c.read_response()
            _assert_json_error(resp, 413, "payload_too_large")
            assert resp.header("connection") == "close"
            assert c.wait_closed(3)[0] == "eof"
        time.sleep(0.2)
        assert upstream_counters(up) == (req0, conns0 + 1)  # not even a connection
        # Other routes have no limit.
        status, _, body = gw.request("POST", "/other", body=b"b" * 5000)
        assert status == 200 and json.loads(body)["body_bytes"] == 5000


def test_route_body_limit_chunked_413():
    up, gw = edge()
    with up, gw:
        # Within the limit: fine.
        with RawClient(gw.port) as c:
            c.send(b"POST /limited/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + b"3e8\r\n" + b"c" * 1000 + b"\r\n0\r\n\r\n")
            resp = c.read_response()
            assert resp.status == 200 and resp.json()["body_bytes"] == 1000, resp
        # A body that grows past the limit, chunk after chunk.
        with RawClient(gw.port) as c:
            c.send(b"POST /limited/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"12c\r\n" + b"c" * 300 + b"\r\n"
            for _ in range(3):
                c.send(chunk)
                time.sleep(0.05)
            c.send(chunk + chunk + b"0\r\n\r\n")  # 1500 bytes in all
            resp = c.read_response()
            _assert_json_error(resp, 413, "payload_too_large")
            assert resp.header("connection") == "close"
            # A graceful close after the response (a reset could destroy the 413 in flight).
            assert c.wait_closed(3) == ("eof", b"")
        # All of it in one write.
        with RawClient(gw.port) as c:
            c.send(b"POST /limited/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + (b"12c\r\n" + b"c" * 300 + b"\r\n") * 5 + b"0\r\n\r\n")
            resp = c.read_response()
            _assert_json_error(resp, 413, "payload_too_large")
            assert c.wait_closed(3) == ("eof", b"")
        time.sleep(0.3)
        assert up.stats()["active_connections"] == 1  # upstream side closed, only /__stats


def test_oversized_upload_gets_413_not_a_reset_over_curl():
    """A client still uploading when the 413 goes out must receive it: the gateway drains the
    unread body for a while after its FIN (lingering close) instead of closing with unread input,
    which makes the kernel send a reset that can destroy the response (curl: "Send failure")."""
    tmp = tempfile.mkdtemp(prefix="gw-edge-")
    try:
        path = os.path.join(tmp, "payload")
        with open(path, "wb") as f:
            f.write(os.urandom(4 * 1024 * 1024))
        up, gw = edge()
        with up, gw:
            url = "http://127.0.0.1:%d/limited/x" % gw.port
            for framing in (["-H", "Expect:"],
                            ["-H", "Expect:", "-H", "Transfer-Encoding: chunked"]) * 5:
                r = curl(framing + ["--data-binary", "@" + path, url])
                assert r.returncode == 0, (framing, r.returncode, r.stderr)
                assert json.loads(r.stdout)["error"] == "payload_too_large", r.stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _active_downstream_connections(gw):
    status, body = gw.admin("GET", "/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith("gateway_downstream_connections_active "):
            return int(line.split()[1])
    raise AssertionError("no gateway_downstream_connections_active in /metrics")


def test_lingering_close_is_bounded():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(b"POST /limited/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"
                   + b"x" * 5000)
            _assert_json_error(c.read_response(), 413, "payload_too_large")
            assert c.wait_closed(2) == ("eof", b"")  # FIN right after the response
            c.send(b"x" * 5000)  # still sending, never closing: discarded
            t0 = time.time()
            while _active_downstream_connections(gw) > 0:
                assert time.time() - t0 < 4, "lingering connection not closed"
                time.sleep(0.1)


def test_body_limit_with_expect_continue_413_without_100():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(b"POST /limited/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n"
                   b"Expect: 100-continue\r\n\r\n")
            resp = c.read_response()
            assert resp.informational == [], resp.informational
            _assert_json_error(resp, 413, "payload_too_large")
            assert c.wait_closed(3)[0] == "eof"


# --- Timeouts ----------------------------------------------------------------------------------

def test_request_headers_timeout_408():
    up, gw = edge("    limits:\n      request_headers_timeout: 1s\n")
    with up, gw:
        with RawClient(gw.port) as c:
            t0 = time.time()
            c.send(b"GET /slowloris HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n")
            time.sleep(0.5)
            c.send(b"X-B: 2\r\n")  # trickling does not extend the deadline
            resp = c.read_response(timeout=4)
            elapsed = time.time() - t0
            _assert_json_error(resp, 408, "request_timeout")
            assert resp.header("connection") == "close"
            assert 0.8 <= elapsed <= 2.5, elapsed
            assert c.wait_closed(2)[0] == "eof"
        assert up.stats()["requests"] == 0


def test_idle_timeout_closes_idle_keepalive_connection():
    up, gw = edge("    limits:\n      idle_timeout: 1s\n")
    with up, gw:
        # A connection that never sends anything: closed silently.
        with RawClient(gw.port) as c:
            t0 = time.time()
            how, extra = c.wait_closed(4)
            assert (how, extra) == ("eof", b""), (how, extra)
            assert 0.8 <= time.time() - t0 <= 2.5
        # After a response on a keep-alive connection.
        with RawClient(gw.port) as c:
            c.send(_get("/one"))
            assert c.read_response().status == 200
            t0 = time.time()
            how, extra = c.wait_closed(4)
            assert (how, extra) == ("eof", b""), (how, extra)
            assert 0.8 <= time.time() - t0 <= 2.5
        # A request in flight longer than the idle timeout is not cut.
        with RawClient(gw.port) as c:
            c.send(_get("/long", [("x-demo-delay-ms", "1500")]))
            resp = c.read_response(timeout=5)
            assert resp.status == 200, resp


def test_route_timeout_with_unfinished_body_closes_connection():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            t0 = time.time()
            c.send(b"POST /slow/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"
                   + b"u" * 1000)  # the rest of the body never comes
            resp = c.read_response(timeout=5)
            _assert_json_error(resp, 504, "upstream_timeout")
            assert resp.header("connection") == "close", resp
            # The request cannot be finished: the connection is closed, not left hanging.
            assert c.wait_closed(3) == ("eof", b"")
            assert time.time() - t0 < 2.5


def test_route_timeout_504():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            t0 = time.time()
            c.send(_get("/slow/x", [("x-demo-delay-ms", "3000"), ("X-Request-Id", "slow-1")]))
            resp = c.read_response(timeout=5)
            elapsed = time.time() - t0
            err = _assert_json_error(resp, 504, "upstream_timeout", request_id="slow-1")
            assert "500" in err["message"], err
            assert 0.4 <= elapsed <= 1.5, elapsed
            # The request was complete: the client connection stays usable.
            c.send(_get("/slow/y"))
            resp = c.read_response()
            assert resp.status == 200 and resp.json()["path"] == "/slow/y", resp


# --- Path normalization ------------------------------------------------------------------------

def test_path_normalization_end_to_end():
    up, gw = edge()
    with up, gw:
        cases = [
            ("/a/./b/../c", "/a/c", ""),
            ("//x//y", "/x/y", ""),
            ("/../etc", "/etc", ""),
            ("/../../etc/passwd", "/etc/passwd", ""),
            ("/a/%2e%2e/b", "/b", ""),          # decoded dots are dot segments too
            ("/%7Euser/%41", "/~user/A", ""),   # unreserved escapes decoded
            ("/a/./b?x=/../y", "/a/b", "x=/../y"),  # the query is not touched
            ("/a/b/..", "/a/", ""),
        ]
        for target, path, query in cases:
            with RawClient(gw.port) as c:
                c.send(_get(target))
                resp = c.read_response()
                assert resp.status == 200, (target, resp)
                seen = resp.json()
                assert (seen["path"], seen["query"]) == (path, query), (target, seen)


def test_path_rejections_400():
    up, gw = edge()
    with up, gw:
        req0, _ = upstream_counters(up)
        for target in ["/a%2Fb", "/a%2fb", "/a%5Cb", "/a\\b", "/a%00b", "/a%zzb"]:
            with RawClient(gw.port) as c:
                c.send(_get(target, [("X-Request-Id", "p-1")]))
                resp = c.read_response()
                assert resp.status == 400, (target, resp)
                err = resp.json()
                assert err["error"] in ("invalid_path", "bad_request"), (target, err)
                if target != "/a\\b":
                    assert err["error"] == "invalid_path", (target, err)
                    assert err["request_id"] == "p-1", err
                assert resp.header("connection") == "close", resp
                assert c.wait_closed(3)[0] == "eof"
        time.sleep(0.2)
        assert upstream_counters(up)[0] == req0


# --- Hop-by-hop headers ------------------------------------------------------------------------

def test_hop_by_hop_request_headers_not_forwarded():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            # Upgrade without "upgrade" in Connection is not an upgrade request: an ordinary
            # hop-by-hop field (an upgrade request to a route without `upgrade` is a 403:
            # test_websocket.py).
            c.send(_get("/hop", [("Connection", "x-foo, keep-alive"), ("X-Foo", "1"),
                                 ("Keep-Alive", "timeout=5"), ("TE", "trailers"),
                                 ("Upgrade", "websocket"), ("Proxy-Authorization", "Basic eA=="),
                                 ("Proxy-Connection", "keep-alive"), ("X-Kept", "yes")]))
            resp = c.read_response()
            assert resp.status == 200, resp
            seen = resp.json()["headers"]
            for h in ("connection", "x-foo", "keep-alive", "te", "upgrade",
                      "proxy-authorization", "proxy-connection"):
                assert h not in seen, (h, seen)
            assert seen["x-kept"] == "yes"
            # Not a close request: the connection is still usable.
            c.send(_get("/hop2"))
            assert c.read_response().json()["path"] == "/hop2"
        with RawClient(gw.port) as c:
            c.send(_get("/close", [("Connection", "close")]))
            resp = c.read_response()
            assert "connection" not in resp.json()["headers"]
            assert resp.header("connection") == "close"
            assert c.wait_closed(3) == ("eof", b"")


def test_hop_by_hop_response_headers_not_forwarded():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/hop", [("x-demo-header", "Connection: x-bar"),
                                 ("x-demo-header", "X-Bar: secret"),
                                 ("x-demo-header", "Keep-Alive: timeout=99"),
                                 ("x-demo-header", "Upgrade: h2c"),
                                 ("x-demo-header", "Proxy-Authenticate: Basic"),
                                 ("x-demo-header", "X-Visible: yes")]))
            resp = c.read_response()
            assert resp.status == 200, resp
            names = [k for k, _ in resp.headers]
            for h in ("connection", "x-bar", "keep-alive", "upgrade", "proxy-authenticate"):
                assert h not in names, (h, resp.headers)
            assert resp.header("x-visible") == "yes"
            c.send(_get("/again"))
            assert c.read_response().status == 200


def test_response_framing_is_re_decided():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            # Upstream chunked -> chunked to an HTTP/1.1 client.
            c.send(_get("/c", [("x-demo-stream-bytes", "3000")]))
            resp = c.read_response()
            assert resp.header("transfer-encoding") == "chunked" and not resp.has("content-length")
            assert resp.body == filler(3000)
            # Upstream Content-Length -> the same Content-Length, no chunking.
            c.send(_get("/l", [("x-demo-content-length-stream", "3000")]))
            resp = c.read_response()
            assert resp.header("content-length") == "3000", resp
            assert not resp.has("transfer-encoding"), resp
            assert resp.body == filler(3000)
        # Upstream chunked -> close-delimited to an HTTP/1.0 client.
        with RawClient(gw.port) as c:
            c.send(_get("/c10", [("x-demo-stream-bytes", "3000")], version="1.0"))
            resp = c.read_response()
            assert resp.status == 200, resp
            assert not resp.has("transfer-encoding") and not resp.has("content-length"), resp
            assert resp.header("connection") == "close"
            assert resp.body == filler(3000)


# --- X-Forwarded-For ---------------------------------------------------------------------------

def test_xff_replaced_at_edge():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/x", [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "7.7.7.7"),
                               ("X-Forwarded-Host", "evil"), ("X-Forwarded-Proto", "https")]))
            seen = c.read_response().json()["headers"]
            assert seen["x-forwarded-for"] == "127.0.0.1", seen
            assert seen["x-forwarded-proto"] == "http", seen
            assert seen["x-forwarded-host"] == "a", seen


def test_xff_appended_with_trusted_hops():
    up, gw = edge("    xff_trusted_hops: 1\n")
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/x", [("X-Forwarded-For", "6.6.6.6, 10.0.0.1")]))
            seen = c.read_response().json()["headers"]
            assert seen["x-forwarded-for"] == "6.6.6.6, 10.0.0.1, 127.0.0.1", seen
            # Several header lines form one list (RFC 9110 5.3): none is lost.
            c.send(_get("/x", [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "7.7.7.7")]))
            seen = c.read_response().json()["headers"]
            assert seen["x-forwarded-for"] == "6.6.6.6, 7.7.7.7, 127.0.0.1", seen
            # None sent: just the peer.
            c.send(_get("/x"))
            seen = c.read_response().json()["headers"]
            assert seen["x-forwarded-for"] == "127.0.0.1", seen


# --- X-Request-ID ------------------------------------------------------------------------------

def test_request_id_generated_and_preserved():
    up, gw = edge()
    with up, gw:
        ids = set()
        with RawClient(gw.port) as c:
            for i in range(20):
                c.send(_get("/id"))
                resp = c.read_response()
                rid = resp.header("x-request-id")
                assert rid and re.match(UUID_RE, rid), resp
                assert resp.json()["headers"]["x-request-id"] == rid
                ids.add(rid)
            assert len(ids) == 20
            c.send(_get("/id", [("X-Request-Id", "client-id-42")]))
            resp = c.read_response()
            assert resp.header("x-request-id") == "client-id-42"
            assert resp.json()["headers"]["x-request-id"] == "client-id-42"
            # Malformed or duplicated client ids are replaced, upstream and downstream alike.
            for bad in ([("X-Request-Id", "has space")], [("X-Request-Id", "x" * 129)],
                        [("X-Request-Id", "a"), ("X-Request-Id", "b")]):
                c.send(_get("/id", bad))
                resp = c.read_response()
                rid = resp.header("x-request-id")
                assert re.match(UUID_RE, rid), (bad, resp)
                assert resp.json()["headers"]["x-request-id"] == rid, resp.json()


def test_request_id_on_error_responses():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/x", [("X-Request-Id", "err-1")], host="nowhere.test"))
            _assert_json_error(c.read_response(), 404, "no_route", request_id="err-1")
            c.send(_get("/x", host="nowhere.test"))
            _assert_json_error(c.read_response(), 404, "no_route")  # generated UUID
            c.send(_get("/x", [("X-Request-Id", "err-2"), ("x-demo-reset", "1")]))
            _assert_json_error(c.read_response(), 502, "upstream_reset", request_id="err-2")
        with RawClient(gw.port) as c:
            c.send(_get("/dead/x", [("X-Request-Id", "err-3")]))
            _assert_json_error(c.read_response(), 502, "upstream_connect_failed",
                               request_id="err-3")


# --- Expect: 100-continue ----------------------------------------------------------------------

def test_expect_100_continue():
    payload = os.urandom(50000)
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
                   b"Expect: 100-continue\r\n\r\n" % len(payload))
            interim = c.read_head()
            assert (interim.version, interim.status) == ("HTTP/1.1", 100), interim
            c.send(payload)
            resp = c.read_response()
            assert resp.status == 200, resp
            assert resp.informational == [], resp.informational  # exactly one 100
            seen = resp.json()
            assert seen["body_bytes"] == len(payload)
            assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()
            assert "expect" not in seen["headers"]
            # Keep-alive still works, and a body sent without waiting is fine too.
            c.send(b"POST /upload2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                   b"Expect: 100-continue\r\n\r\nhello")
            resp = c.read_response()
            assert resp.status == 200 and resp.json()["body_bytes"] == 5, resp


def test_expect_100_continue_ignored_for_http10():
    # RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored.
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(b"POST /upload HTTP/1.0\r\nContent-Length: 5\r\n"
                   b"Expect: 100-continue\r\n\r\nhello")
            resp = c.read_response()
            assert resp.status == 200, resp
            assert resp.informational == [], resp.informational
            assert resp.json()["body_bytes"] == 5


def test_curl_upload_with_expect():
    payload = os.urandom(3 * 1024 * 1024)
    tmp = tempfile.mkdtemp(prefix="gw-edge-")
    try:
        path = os.path.join(tmp, "payload")
        with open(path, "wb") as f:
            f.write(payload)
        up, gw = edge()
        with up, gw:
            r = curl(["-v", "-H", "Expect: 100-continue", "--data-binary", "@" + path,
                      "http://127.0.0.1:%d/upload" % gw.port])
            assert r.returncode == 0, r.stderr
            assert b"< HTTP/1.1 100 Continue" in r.stderr, r.stderr[-2000:]
            seen = json.loads(r.stdout)
            assert seen["body_bytes"] == len(payload)
            assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- Bodiless responses ------------------------------------------------------------------------

def test_head_has_no_body_and_upstream_content_length():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/h", [("x-demo-content-length-stream", "12345")], method="HEAD"))
            resp = c.read_response(head_request=True)
            assert resp.status == 200, resp
            assert resp.header("content-length") == "12345", resp
            assert not resp.has("transfer-encoding"), resp
            # Chunked upstream answer to HEAD: no chunked framing invented for the client.
            c.send(_get("/h", [("x-demo-stream-bytes", "999")], method="HEAD"))
            resp = c.read_response(head_request=True)
            assert resp.status == 200, resp
            # No body bytes follow: the next response parses cleanly on the same connection.
            c.send(_get("/after-head"))
            resp = c.read_response()
            assert resp.status == 200 and resp.json()["path"] == "/after-head", resp
            assert c.read_some(0.3) == b""


def test_204_and_304_have_no_body_and_connection_stays_usable():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            for status in (204, 304):
                c.send(_get("/s", [("x-demo-status", str(status))]))
                resp = c.read_response()
                assert resp.status == status, resp
                assert not resp.has("transfer-encoding"), resp
                assert resp.header("content-length") in (None, "0"), resp
                assert resp.header("connection") is None, resp
                c.send(_get("/next%d" % status))
                resp = c.read_response()
                assert resp.status == 200 and resp.json()["path"] == "/next%d" % status, resp
            assert c.read_some(0.3) == b""


# --- Connection management ---------------------------------------------------------------------

def test_client_connection_close():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/bye", [("Connection", "close")]))
            resp = c.read_response()
            assert resp.status == 200 and resp.header("connection") == "close", resp
            assert c.wait_closed(3) == ("eof", b"")


def test_http10_response_not_chunked_and_closed():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/ten", version="1.0", host=None))
            resp = c.read_response()
            assert resp.status == 200, resp
            assert resp.version == "HTTP/1.1"
            assert not resp.has("transfer-encoding"), resp
            assert resp.json()["path"] == "/ten"
            assert c.wait_closed(3) == ("eof", b"")
        # With keep-alive asked for: kept open, announced, and reusable.
        with RawClient(gw.port) as c:
            c.send(_get("/ka", [("Connection", "keep-alive")], version="1.0"))
            resp = c.read_response()
            assert resp.status == 200, resp
            assert resp.header("connection").lower() == "keep-alive", resp
            assert resp.has("content-length") and not resp.has("transfer-encoding"), resp
            c.send(_get("/ka2", version="1.0"))  # no keep-alive this time: closed after
            resp = c.read_response()
            assert resp.json()["path"] == "/ka2"
            assert c.wait_closed(3) == ("eof", b"")


def test_max_requests_per_connection():
    up, gw = edge("    limits:\n      max_requests_per_connection: 2\n")
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/1") + _get("/2") + _get("/3"))
            r1 = c.read_response()
            r2 = c.read_response()
            assert r1.header("connection") is None and r1.json()["path"] == "/1"
            assert r2.header("connection") == "close" and r2.json()["path"] == "/2"
            assert c.wait_closed(3) == ("eof", b"")


# --- Trailers and 1xx --------------------------------------------------------------------------

def test_response_trailers_dropped_by_default():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/t", [("x-demo-trailers", "1")]))
            resp = c.read_response()
            assert resp.status == 200 and resp.header("transfer-encoding") == "chunked", resp
            assert resp.trailers == [], resp.trailers
            assert resp.json()["path"] == "/t"
            # Request trailers are dropped too.
            c.send(b"POST /rt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"2\r\nhi\r\n0\r\nX-Req-Trailer: 1\r\n\r\n")
            seen = c.read_response().json()
            assert seen["body_bytes"] == 2 and seen["trailers"] == {}, seen


def test_trailers_forwarded_when_enabled():
    up, gw = edge("    forward_trailers: true\n")
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/t", [("x-demo-trailers", "1")]))
            resp = c.read_response()
            assert resp.status == 200 and resp.header("transfer-encoding") == "chunked", resp
            assert resp.trailers == [("x-demo-trailer", "yes")], resp.trailers
            assert resp.json()["path"] == "/t"
            c.send(b"POST /rt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"2\r\nhi\r\n0\r\nX-Req-Trailer: 1\r\n\r\n")
            seen = c.read_response().json()
            assert seen["body_bytes"] == 2 and seen["trailers"] == {"x-req-trailer": "1"}, seen


def test_early_hints_forwarded_to_http11_only():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/eh", [("x-demo-1xx", "1")]))
            resp = c.read_response()
            assert resp.status == 200, resp
            assert [r.status for r in resp.informational] == [103], resp.informational
            assert resp.informational[0].header("link") == "</x>"
        with RawClient(gw.port) as c:
            c.send(_get("/eh", [("x-demo-1xx", "1")], version="1.0"))
            resp = c.read_response()
            assert resp.status == 200 and resp.informational == [], resp


# --- Upstream failures -------------------------------------------------------------------------

def test_upstream_reset_before_response_502():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/r", [("x-demo-reset", "1")]))
            resp = c.read_response()
            _assert_json_error(resp, 502, "upstream_reset")
            # The request was complete: the client connection survives.
            c.send(_get("/r2"))
            assert c.read_response().json()["path"] == "/r2"


def test_malformed_upstream_status_lines_are_502_and_strict_request_lines_400():
    """The head parser is stricter than llhttp was in three places (docs/architecture.md): a
    status code that is not three digits, extra spaces in a request line, and a request-target
    of none of the four forms. Each is answered with a JSON error, never proxied."""
    import socket
    import threading
    bad_status = [b"HTTP/1.1 03 OK\r\nContent-Length: 0\r\n\r\n",
                  b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
                  b"HTTP/1.1 20x OK\r\nContent-Length: 0\r\n\r\n"]
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.settimeout(5)

    def serve():
        for answer in bad_status:
            try:
                s, _ = lsock.accept()
            except OSError:
                return
            s.settimeout(5)
            try:
                s.recv(65536)
                s.sendall(answer)
                s.recv(65536)  # until the gateway closes it
            except OSError:
                pass
            s.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    config = SIMPLE_CONFIG.replace("{up0}", "127.0.0.1:%d" % lsock.getsockname()[1])
    try:
        with Gateway(config) as gw:
            for answer in bad_status:
                with RawClient(gw.port) as c:
                    c.send(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
                    resp = c.read_response()
                    assert resp.status == 502, (answer, resp)
                    assert resp.header("x-request-id"), resp
                    assert resp.json()["status"] == 502, resp
            for line in (b"GET  /x HTTP/1.1", b"GET /x  HTTP/1.1", b"OPTIONS *# HTTP/1.1"):
                with RawClient(gw.port) as c:
                    c.send(line + b"\r\nHost: a\r\n\r\n")
                    _assert_json_error(c.read_response(), 400, "bad_request")
    finally:
        lsock.close()
        t.join(5)


def test_upstream_reset_after_headers_truncates_client_response():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            t0 = time.time()
            c.send(_get("/rah", [("x-demo-reset-after-headers", "1"),
                                 ("x-demo-content-length-stream", "100000")]))
            try:
                resp = c.read_response(timeout=5)
                raise AssertionError("a complete response arrived: %r" % resp)
            except ConnectionEnded as e:
                assert e.partial.startswith(b"HTTP/1.1 200"), e.partial[:200]
            assert time.time() - t0 < 3
        # The gateway is fine afterwards.
        with RawClient(gw.port) as c:
            c.send(_get("/ok"))
            assert c.read_response().status == 200


def test_dead_cluster_endpoint_502():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            t0 = time.time()
            c.send(_get("/dead/x"))
            _assert_json_error(c.read_response(), 502, "upstream_connect_failed")
            assert time.time() - t0 < 2.5


def test_no_route_404():
    up, gw = edge()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_get("/elsewhere", host="nowhere.test"))
            _assert_json_error(c.read_response(), 404, "no_route")
            c.send(_get("/only", host="NOWHERE.test:8080"))
            resp = c.read_response()
            assert (resp.status, resp.body) == (200, b"only"), resp
        assert up.stats()["requests"] == 0


def test_connect_method_405():
    up, gw = edge()
    with up, gw:
        req0, conns0 = upstream_counters(up)
        with RawClient(gw.port) as c:
            c.send(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
            resp = c.read_response()
            _assert_json_error(resp, 405, "method_not_allowed")
            assert resp.header("connection") == "close"
            assert c.wait_closed(3) == ("eof", b"")
        time.sleep(0.2)
        assert upstream_counters(up) == (req0, conns0 + 1)


# --- Large bodies through a real client --------------------------------------------------------

def test_1mib_chunked_response_over_curl():
    n = 1024 * 1024
    tmp = tempfile.mkdtemp(prefix="gw-edge-")
    try:
        out = os.path.join(tmp, "body")
        hdrs = os.path.join(tmp, "headers")
        up, gw = edge()
        with up, gw:
            r = curl(["-o", out, "-D", hdrs, "-H", "x-demo-stream-bytes: %d" % n,
                      "http://127.0.0.1:%d/big" % gw.port])
            assert r.returncode == 0, r.stderr
            with open(hdrs, "rb") as f:
                head = f.read().lower()
            assert head.startswith(b"http/1.1 200"), head
            assert b"transfer-encoding: chunked" in head, head
            with open(out, "rb") as f:
                body = f.read()
            assert len(body) == n
            assert body == filler(n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

"""Basic proxying: routing, direct responses, typed errors, forwarded headers, bodies."""
import hashlib
import json

from harness import Gateway, SIMPLE_CONFIG, Upstream, status_of


def test_get_is_proxied_with_forwarded_headers():
    with Upstream("users") as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        status, headers, body = gw.request("GET", "/api/users/42?x=1",
                                           headers={"X-Forwarded-For": "6.6.6.6"})
        assert status == 200, (status, body)
        seen = json.loads(body)
        assert seen["service"] == "users"
        assert seen["path"] == "/api/users/42"
        assert seen["query"] == "x=1"
        # At the edge the client's XFF is replaced by the peer address.
        assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
        assert seen["headers"]["x-forwarded-proto"] == "http"
        assert len(seen["headers"]["x-request-id"]) == 36
        assert headers["x-request-id"] == seen["headers"]["x-request-id"]


def test_direct_response_and_404_json_error():
    with Upstream() as up, Gateway(SIMPLE_CONFIG.replace("prefix: /", "prefix: /api/"),
                                   [up]) as gw:
        status, _, body = gw.request("GET", "/direct")
        assert (status, body) == (200, b"hello")
        status, headers, body = gw.request("GET", "/nowhere", headers={"X-Request-Id": "abc-123"})
        assert status == 404
        assert headers["content-type"] == "application/json"
        err = json.loads(body)
        assert err["error"] == "no_route"
        assert err["status"] == 404
        assert err["request_id"] == "abc-123"


def test_post_body_reaches_upstream_intact():
    payload = bytes(range(256)) * 4096  # 1 MiB
    with Upstream() as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        status, _, body = gw.request("POST", "/upload", body=payload,
                                     headers={"Content-Type": "application/octet-stream"})
        assert status == 200
        seen = json.loads(body)
        assert seen["body_bytes"] == len(payload)
        assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()


def test_chunked_request_body_is_forwarded():
    with Upstream() as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        raw = (b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        resp, closed = gw.raw(raw)
        assert status_of(resp) == 200, resp
        body = resp.split(b"\r\n\r\n", 1)[1]
        if b"transfer-encoding: chunked" in resp.lower().split(b"\r\n\r\n")[0]:
            pass
        assert hashlib.sha256(b"hello world").hexdigest().encode() in body


def test_keepalive_and_pipelining_in_order():
    with Upstream() as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        reqs = b"".join(b"GET /p%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(5))
        reqs += b"GET /p5 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        resp, closed = gw.raw(reqs, timeout=5)
        assert closed
        paths = [json.loads(part.split(b"\r\n\r\n", 1)[1][:part.split(b"\r\n\r\n", 1)[1]
                                                            .rfind(b"}") + 1])["path"]
                 for part in resp.split(b"HTTP/1.1 ")[1:]]
        assert paths == ["/p%d" % i for i in range(6)], paths


def test_dead_upstream_gives_502_json():
    dead = "127.0.0.1:1"
    with Gateway(SIMPLE_CONFIG, [dead]) as gw:
        status, headers, body = gw.request("GET", "/x")
        assert status == 502
        err = json.loads(body)
        assert err["error"] == "upstream_connect_failed"
        assert err["request_id"] == headers["x-request-id"]

"""Request smuggling and malformed framing, sent raw to a real gatewayd.

Every malformed request must be answered with the gateway's JSON error (400, or 501 for a transfer
coding it does not implement), with `Connection: close`, the connection must then be closed by the
gateway, and nothing may reach the upstream: for errors in the request head not even a TCP
connection (the demo upstream's /__stats counters prove it).

Errors in a chunked body are found after the head has been forwarded (bodies are streamed, see
docs/architecture.md), so there the upstream sees one request head whose body never completes:
the gateway must close that upstream connection, the upstream must never answer a request, and
nothing after the bad chunk (no smuggled request) may reach it.
"""
import hashlib
import re
import time

from harness import (Gateway, RawClient, SIMPLE_CONFIG, UUID_RE, Upstream, upstream_counters)

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


def _check_rejection(resp, status, code):
    assert resp.status == status, resp
    assert resp.header("connection") == "close", resp
    assert resp.header("content-type") == "application/json", resp
    err = resp.json()
    assert err["status"] == status, err
    if code is not None:
        assert err["error"] == code, err
    assert isinstance(err.get("message"), str) and err["message"], err
    assert re.match(UUID_RE, err["request_id"]), err
    assert resp.header("x-request-id") == err["request_id"], resp


def _rejected(raw, status=400, code="bad_request", in_body=False):
    """Sends `raw` on a fresh connection and checks the rejection contract (see module doc)."""
    with Upstream("smug") as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        req0, conns0 = upstream_counters(up)
        with RawClient(gw.port, timeout=5) as c:
            c.send(raw)
            resp = c.read_response()
            _check_rejection(resp, status, code)
            how, extra = c.wait_closed(3)
            assert how == "eof", (how, extra)
            # Nothing after the rejected request is interpreted (no second response).
            assert extra == b"", extra
        time.sleep(0.3)  # anything forwarded would have reached the upstream by now
        req1, conns1 = upstream_counters(up)
        if not in_body:
            assert req1 == req0, "upstream saw %d request(s)" % (req1 - req0)
            # +1: the /__stats connection itself; no connection from the gateway at all.
            assert conns1 == conns0 + 1, "gateway connected to the upstream"
        else:
            # The head went upstream before the bad chunk arrived; no second request did.
            assert req1 - req0 <= 1, "upstream saw %d requests" % (req1 - req0)
            assert up.stats()["active_connections"] == 1, "upstream connection left open"
        # The gateway itself is still healthy.
        status_ok, _, body = gw.request("GET", "/after")
        assert status_ok == 200, (status_ok, body)
    return resp


# --- Content-Length / Transfer-Encoding conflicts ---------------------------------------------

def test_cl_then_te_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")


def test_te_then_cl_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
              b"Content-Length: 5\r\n\r\n0\r\n\r\n")


def test_te_chunked_with_cl_zero_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")


def test_duplicate_cl_same_value_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"
              b"hello")


def test_duplicate_cl_different_values_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 41\r\n\r\n"
              b"hello" + SMUGGLED)


def test_cl_with_plus_sign_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello")


def test_cl_comma_list_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello")


def test_cl_negative_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n")


def test_te_gzip_not_implemented():
    # RFC 9112 6.1: a server that does not understand a transfer coding answers 501.
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nhello",
              status=501, code="unsupported_transfer_encoding")


def test_te_gzip_chunked_not_implemented():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
              b"0\r\n\r\n", status=501, code="unsupported_transfer_encoding")


def test_te_xchunked_not_implemented():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
              status=501, code="unsupported_transfer_encoding")


def test_te_chunked_twice_in_one_header_rejected():
    # "chunked, chunked" is not an unknown coding but an invalid message (RFC 9112 6.1: chunked
    # must not be applied more than once): 400.
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
              b"0\r\n\r\n")


def test_two_te_headers_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")


def test_te_chunked_on_http10_rejected():
    _rejected(b"POST /x HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n0\r\n\r\n")


# --- Header block syntax -----------------------------------------------------------------------

def test_obs_fold_rejected():
    _rejected(b"GET /x HTTP/1.1\r\nHost: a\r\nX-Long: part1\r\n  part2\r\n\r\n")


def test_obs_fold_hiding_transfer_encoding_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-A: b\r\n"
              b" Transfer-Encoding: chunked\r\n\r\nhello")


def test_bare_lf_line_endings_rejected():
    _rejected(b"GET /x HTTP/1.1\nHost: a\n\n")


def test_bare_lf_in_one_header_line_rejected():
    _rejected(b"GET /x HTTP/1.1\r\nHost: a\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")


def test_bare_cr_rejected():
    _rejected(b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\rX-B: c\r\n\r\n")


def test_nul_in_header_value_rejected():
    _rejected(b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n")


def test_control_char_in_header_value_rejected():
    _rejected(b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n")


def test_space_before_colon_rejected():
    _rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n"
              b"Content-Length: 5\r\n\r\nhello")


def test_space_in_header_name_rejected():
    _rejected(b"GET /x HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n")


def test_two_host_headers_rejected():
    _rejected(b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")


def test_missing_host_on_http11_rejected():
    _rejected(b"GET /x HTTP/1.1\r\nX-A: b\r\n\r\n")


# --- Chunked body framing (found after the head was forwarded) --------------------------------

def _chunked(body):
    return b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body


def test_chunk_size_not_hex_rejected():
    _rejected(_chunked(b"zz\r\nhello\r\n0\r\n\r\n"), in_body=True)


def test_chunk_size_negative_rejected():
    _rejected(_chunked(b"-1\r\nhello\r\n0\r\n\r\n"), in_body=True)


def test_chunk_size_overlong_hex_rejected():
    # 2^64 + 5 would wrap around to 5 with a naive 64-bit accumulator.
    _rejected(_chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n" + SMUGGLED), in_body=True)


def test_chunk_size_with_leading_space_rejected():
    _rejected(_chunked(b" 5\r\nhello\r\n0\r\n\r\n"), in_body=True)


def test_chunk_extension_with_bad_chars_rejected():
    _rejected(_chunked(b"5;a=\x01b\r\nhello\r\n0\r\n\r\n"), in_body=True)


def test_chunk_extension_with_bare_lf_rejected():
    _rejected(_chunked(b"5;a\nb\r\nhello\r\n0\r\n\r\n"), in_body=True)


def test_chunk_data_not_followed_by_crlf_rejected():
    # Data longer than declared: "hello" + "XX" where CRLF must be.
    _rejected(_chunked(b"5\r\nhelloXX\r\n0\r\n\r\n" + SMUGGLED), in_body=True)


def test_lf_only_after_chunk_data_rejected():
    _rejected(_chunked(b"5\r\nhello\n0\r\n\r\n" + SMUGGLED), in_body=True)


def test_lf_only_after_chunk_size_rejected():
    _rejected(_chunked(b"5\nhello\r\n0\r\n\r\n"), in_body=True)


def test_last_chunk_bare_lf_rejected():
    _rejected(_chunked(b"5\r\nhello\r\n0\n\n" + SMUGGLED), in_body=True)


# --- Smuggled second request ------------------------------------------------------------------

def test_smuggled_request_in_rejected_body_never_reaches_upstream():
    # CL.TE: a front end using Content-Length would forward the whole thing as one request; one
    # using chunked would see "0\r\n\r\n" end the body and then a second request. Neither happens.
    body = b"0\r\n\r\n" + SMUGGLED
    raw = (b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n" % len(body)) + body
    _rejected(raw)
    # TE.CL order, and a keep-alive GET pipelined behind it: none of it is served.
    raw = (b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
           b"Content-Length: 3\r\n\r\n" + body + b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
    _rejected(raw)


def test_smuggled_request_after_bad_chunk_never_reaches_upstream():
    with Upstream("smug", args=()) as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        raw = _chunked(b"5\r\nhello\r\nzz\r\n\r\n" + SMUGGLED)
        with RawClient(gw.port) as c:
            c.send(raw)
            resp = c.read_response()
            _check_rejection(resp, 400, "bad_request")
            how, extra = c.wait_closed(3)
            assert (how, extra) == ("eof", b""), (how, extra)
        time.sleep(0.3)
        req1, _ = upstream_counters(up)
        assert req1 <= 1, req1  # at most the rejected request's head; never /smuggled
        # The gateway still routes fine, and what the upstream echoes is this request.
        status, _, body = gw.request("GET", "/after")
        assert status == 200 and b'"/after"' in body, body
        assert upstream_counters(up)[0] == req1 + 1


# --- Valid counterparts: prove the tests above can fail -----------------------------------------

def test_valid_chunked_request_reaches_upstream_once():
    with Upstream("smug") as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        req0, _ = upstream_counters(up)
        with RawClient(gw.port) as c:
            c.send(b"POST /ok HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n6;name=\"q v\"\r\n world\r\n0\r\n\r\n")
            resp = c.read_response()
            assert resp.status == 200, resp
            seen = resp.json()
            assert seen["path"] == "/ok"
            assert seen["body_bytes"] == 11
            assert seen["body_sha256"] == hashlib.sha256(b"hello world").hexdigest()
            assert resp.header("connection") is None, resp  # stays open
            # Same connection, next request: keep-alive works after a chunked body.
            c.send(b"GET /ok2 HTTP/1.1\r\nHost: a\r\n\r\n")
            assert c.read_response().json()["path"] == "/ok2"
        time.sleep(0.2)
        req1, _ = upstream_counters(up)
        assert req1 == req0 + 2, (req0, req1)


def test_valid_content_length_request_reaches_upstream_once():
    with Upstream("smug") as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        req0, _ = upstream_counters(up)
        with RawClient(gw.port) as c:
            c.send(b"POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n"
                   b"\r\nhello")
            resp = c.read_response()
            assert resp.status == 200, resp
            assert resp.json()["body_bytes"] == 5
            assert c.wait_closed(3)[0] == "eof"
        time.sleep(0.2)
        assert upstream_counters(up)[0] == req0 + 1


def test_bad_chunk_after_response_started_aborts_without_injected_response():
    """An upstream that answers before reading the request body (allowed) is streaming its
    response when a malformed chunk arrives: the gateway cannot report a 400 any more (the
    response head is out), so it must abort the connection, never write a second status line
    into the middle of the first response."""
    import socket
    import threading

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    lsock.settimeout(10)
    port = lsock.getsockname()[1]
    stop = threading.Event()
    conns = []

    def serve():
        try:
            s, _ = lsock.accept()
        except OSError:
            return
        conns.append(s)
        s.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            b = s.recv(65536)
            if not b:
                return
            data += b
        # Early response: head and part of a long body, then keep the connection open.
        s.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"r" * 1000)
        while not stop.is_set():
            try:
                if not s.recv(65536):
                    break
            except socket.timeout:
                continue
            except OSError:
                break

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with Gateway(SIMPLE_CONFIG, ["127.0.0.1:%d" % port]) as gw:
            with RawClient(gw.port, timeout=5) as c:
                c.send(_chunked(b"5\r\nhello\r\n"))
                head = c.read_head()
                assert head.status == 200, head
                got = b""
                while len(got) < 1000:
                    got += c.read_some(2)
                    assert got, "no response body"
                c.send(b"zz\r\n\r\n")
                how, rest = c.wait_closed(3)
                assert how is not None, "connection left open"
                assert b"HTTP/1.1" not in got + rest, got + rest
    finally:
        stop.set()
        lsock.close()
        for s in conns:
            s.close()
        t.join(5)


class _CaptureUpstream:
    """A raw TCP upstream that records every byte the gateway sends and never answers."""

    def __init__(self):
        import socket
        import threading
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.lsock.getsockname()[1]
        self.conns = []  # [bytearray, closed_by_gateway]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import select
        import socket
        socks = {}
        while not self.stop.is_set():
            try:
                s, _ = self.lsock.accept()
                rec = [bytearray(), False]
                self.conns.append(rec)
                socks[s] = rec
            except (socket.timeout, OSError):
                pass
            if not socks:
                continue
            ready, _, _ = select.select(list(socks), [], [], 0.05)
            for s in ready:
                try:
                    b = s.recv(65536)
                except OSError:
                    b = b""
                if b:
                    socks[s][0] += b
                else:
                    socks[s][1] = True
                    s.close()
                    del socks[s]
        for s in socks:
            s.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.lsock.close()


def test_upstream_never_sees_end_of_a_badly_chunked_request():
    """What the upstream receives for a bad chunk: the head and the chunks before the bad one,
    re-framed, then the connection closes: no last chunk (so the request never completes) and
    none of the bytes after the bad chunk."""
    bad_bodies = [
        b"5\r\nhello\r\nzz\r\n\r\n",
        b"5\r\nhello\r\n-1\r\nx\r\n0\r\n\r\n",
        b"5\r\nhello\r\n10000000000000005\r\nworld\r\n0\r\n\r\n",
        b"5\r\nhello\r\n5;a=\x01\r\nworld\r\n0\r\n\r\n",
        b"5\r\nhelloXX\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r\n0\n\n",
    ]
    with _CaptureUpstream() as cap, Gateway(SIMPLE_CONFIG, [cap.address]) as gw:
        for body in bad_bodies:
            with RawClient(gw.port) as c:
                c.send(_chunked(body + SMUGGLED))
                _check_rejection(c.read_response(), 400, "bad_request")
                assert c.wait_closed(3) == ("eof", b"")
        deadline = time.time() + 3
        while time.time() < deadline and not (
                len(cap.conns) == len(bad_bodies) and all(closed for _, closed in cap.conns)):
            time.sleep(0.05)
        assert len(cap.conns) == len(bad_bodies), len(cap.conns)
        for data, closed in cap.conns:
            assert closed, "gateway left the upstream connection open: %r" % bytes(data)
            data = bytes(data)
            assert data.startswith(b"POST /x HTTP/1.1\r\n"), data
            head, _, sent_body = data.partition(b"\r\n\r\n")
            assert b"transfer-encoding: chunked" in head.lower(), head
            assert data.count(b"HTTP/1.1") == 1, data  # no second request
            assert b"smuggled" not in data, data
            assert sent_body in (b"", b"5\r\nhello\r\n"), sent_body  # never a last chunk

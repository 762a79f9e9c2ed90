"""Filters that pause: the `fault` filter delays on the worker loop and resumes, or aborts."""
import json
import socket
import time

from harness import Gateway, Upstream, one_listener_config

FAULT_CONFIG = one_listener_config(head="""
version: fault-1
""", routes="""          - name: delayed
            match: {{prefix: /delay}}
            pre_filters:
              - {{name: fault, config: {{delay_ms: 400}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: aborted
            match: {{prefix: /abort}}
            pre_filters:
              - {{name: fault, config: {{abort_status: 503, header: x-fault}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: delayed-abort
            match: {{prefix: /both}}
            pre_filters:
              - {{name: fault, config: {{delay_ms: 200, abort_status: 429}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
""")


def test_fault_delay_pauses_and_resumes():
    with Upstream() as up, Gateway(FAULT_CONFIG, [up]) as gw:
        t0 = time.time()
        status, _, body = gw.request("GET", "/delay/x")
        elapsed = time.time() - t0
        assert status == 200 and json.loads(body)["path"] == "/delay/x"
        assert elapsed >= 0.38, elapsed
        assert elapsed < 3, elapsed


def test_fault_delay_does_not_block_the_worker():
    with Upstream() as up, Gateway(FAULT_CONFIG, [up], workers=1) as gw:
        socks = []
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", gw.port), 5)
            s.sendall(b"GET /delay/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            socks.append(s)
        t0 = time.time()
        for s in socks:
            s.settimeout(5)
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            assert data.startswith(b"HTTP/1.1 200"), data[:100]
            s.close()
        # Ten 400 ms pauses on one worker overlap: well under 10 x 400 ms.
        assert time.time() - t0 < 2.0


def test_fault_abort_only_with_header_and_json_error():
    with Upstream() as up, Gateway(FAULT_CONFIG, [up]) as gw:
        status, _, _ = gw.request("GET", "/abort/x")
        assert status == 200
        before = up.stats()["requests"]
        status, headers, body = gw.request("GET", "/abort/x", headers={"x-fault": "1"})
        assert status == 503
        err = json.loads(body)
        assert err["error"] == "fault_injected"
        assert err["request_id"] == headers["x-request-id"]
        assert up.stats()["requests"] == before


def test_fault_delay_then_abort_and_client_leaving_mid_pause():
    with Upstream() as up, Gateway(FAULT_CONFIG, [up]) as gw:
        t0 = time.time()
        status, _, body = gw.request("GET", "/both")
        assert status == 429 and json.loads(body)["error"] == "fault_injected"
        assert time.time() - t0 >= 0.18
        # A client that leaves while its request is paused must not crash the gateway.
        s = socket.create_connection(("127.0.0.1", gw.port), 5)
        s.sendall(b"GET /delay/gone HTTP/1.1\r\nHost: a\r\n\r\n")
        s.close()
        time.sleep(0.6)
        assert gw.proc.poll() is None
        status, _, _ = gw.request("GET", "/delay/again")
        assert status == 200

"""Coalesced misses stream the leader's response from the head on (issue 16), with real processes:
a slow origin (demo_upstream sends the head, then the body in 16 KiB pieces ~300 ms apart) and 20
concurrent clients on a 4-worker gatewayd. Exactly one request reaches the origin; every waiter
gets the head and its first body bytes long before the leader's response is complete. A leader
whose upstream fails after the head leaves no client with a complete-looking body."""
import http.client
import threading
import time

from harness import Gateway, Upstream
from test_cache import config, upstream_requests

BODY = 80 * 1024  # 5 pieces of 16 KiB: the last one ~1.2 s after the head
SLOW = [("x-demo-delay-ms", "300"), ("x-demo-stream-bytes", str(BODY)),
        ("x-demo-slow-body-ms", "300")]


def timed_get(gw, path, headers, t0):
    """(status, x-cache, head time, first body byte time, done time, body or exception)."""
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=15)
    try:
        c.putrequest("GET", path)
        for k, v in headers:
            c.putheader(k, v)
        c.endheaders()
        r = c.getresponse()
        t_head = time.monotonic() - t0
        first = r.read(1)
        t_first = time.monotonic() - t0
        try:
            body = first + r.read()
        except (http.client.IncompleteRead, ConnectionError) as e:
            body = e
        return r.status, r.getheader("x-cache"), t_head, t_first, time.monotonic() - t0, body
    except (http.client.HTTPException, ConnectionError) as e:
        return None, None, None, None, time.monotonic() - t0, e
    finally:
        c.close()


def concurrent(gw, path, headers, n):
    results = []
    lock = threading.Lock()
    start = threading.Barrier(n)
    t0 = time.monotonic()

    def one():
        start.wait()
        r = timed_get(gw, path, headers, t0)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == n
    return results


def test_cache_coalesced_waiters_stream_from_the_head_on():
    with Upstream(service="origin") as up, Gateway(config(), [up], workers=4) as gw:
        results = concurrent(gw, "/c/slow", SLOW, 20)
        assert all(r[0] == 200 for r in results), [r[:2] for r in results]
        assert all(isinstance(r[5], bytes) and len(r[5]) == BODY for r in results)
        assert len({r[5] for r in results}) == 1
        assert upstream_requests(up) == 1, upstream_requests(up)
        states = sorted(r[1] for r in results)
        assert states.count("MISS") == 1 and states.count("HIT") == 19, states
        leader = next(r for r in results if r[1] == "MISS")
        leader_done = leader[4]
        assert leader_done >= 1.2, leader  # the origin really was slow
        for status, state, t_head, t_first, t_done, _ in results:
            if state != "HIT":
                continue
            # Head and first bytes come with the leader's first piece, not at its end.
            assert t_head < leader_done - 0.8, (t_head, leader_done)
            assert t_first < leader_done - 0.8, (t_first, leader_done)
            assert t_done >= leader_done - 0.35, (t_done, leader_done)
        print("leader done %.2fs; waiters' first byte %.2f..%.2fs" % (
            leader_done, min(r[3] for r in results if r[1] == "HIT"),
            max(r[3] for r in results if r[1] == "HIT")))
        # Stored: the next request is a plain hit.
        r = timed_get(gw, "/c/slow", SLOW, time.monotonic())
        assert r[1] == "HIT" and r[5] == results[0][5]
        assert upstream_requests(up) == 1


def test_cache_leader_failing_after_its_head_completes_no_waiter():
    failing = [("x-demo-delay-ms", "300"), ("x-demo-stream-bytes", str(BODY)),
               ("x-demo-reset-after-headers", "1")]
    with Upstream(service="origin") as up, Gateway(config(), [up], workers=4) as gw:
        results = concurrent(gw, "/c/broken", failing, 10)
        for status, state, _, _, _, body in results:
            # An error status before any head, or a body cut short: never a complete 200.
            complete = status == 200 and isinstance(body, bytes) and len(body) == BODY
            assert not complete, (status, state)
        # Nothing was stored: the gateway still answers, and goes upstream again.
        n = upstream_requests(up)
        s = timed_get(gw, "/c/broken", [("x-demo-delay-ms", "10")], time.monotonic())
        assert s[0] == 200 and s[1] == "MISS", s[:2]
        assert upstream_requests(up) == n + 1

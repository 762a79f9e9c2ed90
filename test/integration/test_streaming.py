"""Streaming and backpressure: 1 GiB through gatewayd both ways with bounded memory, and a client
that stops reading. Memory is gatewayd's VmRSS (sampled) and VmHWM (peak, reset at the start)."""
import hashlib
import http.client
import json
import threading
import time

from harness import Gateway, SIMPLE_CONFIG, Upstream, rss_kib, wait_for

GIB = 1 << 30
MAX_GROWTH_KIB = 64 * 1024
FILLER = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-\n"
PIECE = 64 * 1024
FILLER_PIECE = FILLER * (PIECE // len(FILLER))


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class RssSampler:
    """Samples gatewayd's VmRSS every few ms; growth() is the peak over the baseline in KiB."""

    def __init__(self, pid):
        self.pid = pid
        try:  # reset VmHWM so it reports the peak from now on
            with open("/proc/%d/clear_refs" % pid, "w") as f:
                f.write("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.baseline = rss_kib(pid)
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.005):
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except OSError:
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)
        self.peak = max(self.peak, rss_kib(self.pid))
        if self.hwm_reset:
            self.peak = max(self.peak, status_kib(self.pid, "VmHWM"))

    def growth(self):
        return self.peak - self.baseline


def warm_up(gw):
    # Touch the request, pool and write paths once so the baseline includes them.
    status, _, body = gw.request("POST", "/warm", body=b"w" * (4 << 20),
                                 headers={"x-demo-stream-bytes": str(4 << 20)})
    assert status == 200 and len(body) == 4 << 20


def test_download_1gib_bounded_memory():
    with Upstream("big") as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        warm_up(gw)
        t0 = time.time()
        with RssSampler(gw.proc.pid) as rss:
            c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
            c.request("GET", "/download", headers={"x-demo-stream-bytes": str(GIB),
                                                   "x-request-id": "big-download"})
            r = c.getresponse()
            assert r.status == 200
            assert r.getheader("transfer-encoding") == "chunked"
            total = 0
            bad = 0
            while True:
                piece = r.read(PIECE)       # 64 KiB at a time
                if not piece:
                    break
                if len(piece) == PIECE:
                    bad += piece != FILLER_PIECE   # offsets stay 64-aligned: same filler
                else:
                    bad += piece != FILLER_PIECE[:len(piece)]
                total += len(piece)
                if total % (8 << 20) == 0:
                    time.sleep(0.002)           # a slightly slow reader
            c.close()
        elapsed = time.time() - t0
        assert total == GIB, total
        assert bad == 0, bad
        print("  download 1 GiB: %.1fs, gatewayd RSS %d -> peak %d KiB (+%d KiB)" %
              (elapsed, rss.baseline, rss.peak, rss.growth()))
        assert rss.growth() < MAX_GROWTH_KIB, rss.growth()
        wait_for(lambda: any(e["request_id"] == "big-download" for e in gw.access_log()),
                 timeout=5, what="access log line")
        entry = [e for e in gw.access_log() if e["request_id"] == "big-download"][0]
        assert entry["status"] == 200 and entry["bytes_sent"] == GIB, entry


def upload(gw, total, chunked):
    """Streams `total` bytes (1 MiB blocks whose content depends on their index) from a
    generator; returns (upstream JSON, sha256 of what was sent)."""
    block = 1 << 20
    sent = hashlib.sha256()

    def gen():
        for i in range(total // block):
            b = bytes([i % 251]) * block
            sent.update(b)
            yield b
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
    headers = {"Content-Type": "application/octet-stream"}
    if chunked:
        c.request("POST", "/upload", body=gen(), headers=headers, encode_chunked=True)
    else:
        headers["Content-Length"] = str(total)
        c.request("POST", "/upload", body=gen(), headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    assert r.status == 200, (r.status, body[:300])
    return json.loads(body), sent.hexdigest()


def test_upload_1gib_content_length_bounded_memory():
    with Upstream("sink") as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        warm_up(gw)
        t0 = time.time()
        with RssSampler(gw.proc.pid) as rss:
            seen, digest = upload(gw, GIB, chunked=False)
        elapsed = time.time() - t0
        assert seen["body_bytes"] == GIB, seen["body_bytes"]
        assert seen["body_sha256"] == digest
        assert seen["headers"]["content-length"] == str(GIB)
        print("  upload 1 GiB (Content-Length): %.1fs, gatewayd RSS %d -> peak %d KiB (+%d KiB)" %
              (elapsed, rss.baseline, rss.peak, rss.growth()))
        assert rss.growth() < MAX_GROWTH_KIB, rss.growth()


def test_upload_1gib_chunked_bounded_memory():
    total = GIB
    with Upstream("sink") as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        warm_up(gw)
        t0 = time.time()
        with RssSampler(gw.proc.pid) as rss:
            seen, digest = upload(gw, total, chunked=True)
        elapsed = time.time() - t0
        assert seen["body_bytes"] == total, seen["body_bytes"]
        assert seen["body_sha256"] == digest
        assert seen["headers"]["transfer-encoding"] == "chunked"
        assert "content-length" not in seen["headers"]
        print("  upload 1 GiB (chunked): %.1fs, gatewayd RSS %d -> peak %d KiB (+%d KiB)" %
              (elapsed, rss.baseline, rss.peak, rss.growth()))
        assert rss.growth() < MAX_GROWTH_KIB, rss.growth()


def tcp_queues(port):
    """(tx_queue, rx_queue) summed over established sockets whose local port is `port`."""
    tx = rx = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                t, r = queues.split(":")
                tx += int(t, 16)
                rx += int(r, 16)
    return tx, rx


def test_slow_reader_does_not_buffer_the_body():
    total = 512 << 20
    with Upstream("big") as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        warm_up(gw)
        with RssSampler(gw.proc.pid) as rss:
            c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
            c.request("GET", "/slow-reader",
                      headers={"x-demo-content-length-stream": str(total)})
            r = c.getresponse()
            assert r.status == 200
            assert r.getheader("content-length") == str(total)
            got = 0
            while got < (16 << 20):
                piece = r.read(PIECE)
                assert piece
                got += len(piece)
            # Stop reading for 2 s. The upstream keeps trying to send: its socket send queue
            # fills because gatewayd stops reading it.
            pause_start = time.time()
            wait_for(lambda: tcp_queues(up.port)[0] > 0, timeout=2,
                     what="upstream send queue backing up")
            backed_up = tcp_queues(up.port)[0]
            time.sleep(max(0, 2.0 - (time.time() - pause_start)))
            during_pause = rss.peak - rss.baseline
            still_backed_up = tcp_queues(up.port)[0]
            while True:
                piece = r.read(PIECE)
                if not piece:
                    break
                got += len(piece)
            c.close()
        assert got == total, got
        print("  slow reader: upstream send queue %d -> %d bytes during the pause; gatewayd RSS "
              "+%d KiB during the pause, +%d KiB peak" % (backed_up, still_backed_up,
                                                          during_pause, rss.growth()))
        assert still_backed_up > 0
        assert during_pause < MAX_GROWTH_KIB, during_pause
        assert rss.growth() < MAX_GROWTH_KIB, rss.growth()


def test_clients_vanishing_mid_download_do_not_crash_the_proxy():
    """Clients that reset their connection while a large response streams to them. A write to
    such a client fails inside the upstream parser's body callback; the request then lets go of
    the upstream connection, and the rest of that read (often the end of the response) must go
    nowhere (it used to be delivered to a released request: a null dereference, seen under
    `wrk -c50` on 1 MiB bodies when wrk stopped and closed its connections)."""
    import shutil
    import socket
    import struct
    import subprocess
    with Upstream() as up, Gateway(SIMPLE_CONFIG, [up]) as gw:
        pid = gw.proc.pid
        for rnd in range(20):
            socks = []
            for _ in range(40):
                s = socket.create_connection(("127.0.0.1", gw.port), 5)
                s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n"
                          b"x-demo-content-length-stream: 1048576\r\n\r\n")
                socks.append(s)
            for i, s in enumerate(socks):
                s.settimeout(5)
                got = 0
                want = (i % 8) * 32 * 1024 + 1  # from the head only up to 224 KiB of the body
                while got < want:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += len(chunk)
                # RST, not FIN: the proxy's next write fails at once.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            assert gw.proc.poll() is None, "gatewayd died in round %d: %s" % (rnd, gw.stderr())
        assert shutil.which("wrk"), "wrk missing (tools/setup installs it)"
        for _ in range(3):
            subprocess.run(["wrk", "-t1", "-c50", "-d1s", "-H",
                            "x-demo-content-length-stream: 1048576",
                            "http://127.0.0.1:%d/big" % gw.port],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
            assert gw.proc.poll() is None, "gatewayd died under wrk: " + gw.stderr()
        assert gw.proc.pid == pid and gw.proc.poll() is None
        status, _ = gw.request("GET", "/after")[:2]
        assert status == 200, status

#!/usr/bin/env python3
"""A small WebSocket client (RFC 6455) over a raw socket, standard library only: the demo's
`ws://127.0.0.1:8080/ws/echo` line and the integration tests use it.

    python3 tools/demo_lib/wsclient.py ws://127.0.0.1:8080/ws/echo hello   # prints: hello
"""
import base64
import hashlib
import os
import socket
import struct
import sys
import urllib.parse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeRefused(Exception):
    """The server answered the upgrade with something else than 101: status, headers, body."""

    def __init__(self, status, headers, body):
        super().__init__(f"handshake refused: {status}")
        self.status, self.headers, self.body = status, headers, body


class WebSocket:
    def __init__(self, url, headers=None, timeout=10):
        u = urllib.parse.urlsplit(url)
        assert u.scheme == "ws", url
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {u.path or '/'}{'?' + u.query if u.query else ''} HTTP/1.1",
                 f"Host: {u.hostname}:{u.port or 80}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        head = self._read_until(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ")[1])
        self.headers = {}
        for f in fields:
            k, _, v = f.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 101:
            body = self.buf
            n = int(self.headers.get("content-length", "0"))
            while len(body) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            self.sock.close()
            raise HandshakeRefused(self.status, self.headers, body)
        want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if self.headers.get("sec-websocket-accept") != want:
            raise ValueError(f"bad Sec-WebSocket-Accept: {self.headers}")

    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed during the handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode, payload, fin=True):
        """Sends one masked frame (clients must mask, RFC 6455 5.3)."""
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n <= 0xFFFF:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        # XOR with the mask, a whole int at a time (fast enough for MiB payloads).
        m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        masked = (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big") if n else b""
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self.send_frame(TEXT, text)

    def send_binary(self, data):
        self.send_frame(BINARY, data)

    def recv_frame(self):
        """(opcode, payload) of the next frame from the server (unmasked)."""
        b0, b1 = self._read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        assert not b1 & 0x80, "a server frame must not be masked"
        return b0 & 0x0F, self._read_exact(n)

    def close(self, code=1000):
        """The close handshake: sends a close frame, returns the server's close frame's code."""
        self.send_frame(CLOSE, struct.pack("!H", code))
        op, payload = self.recv_frame()
        assert op == CLOSE, op
        return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    def wait_eof(self, timeout=5):
        """True once the server side closed the TCP connection (after any frames left)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def shutdown(self):
        self.sock.close()


def main():
    if len(sys.argv) < 3:
        print("usage: wsclient.py ws://host:port/path MESSAGE", file=sys.stderr)
        return 2
    ws = WebSocket(sys.argv[1])
    ws.send_text(sys.argv[2])
    op, payload = ws.recv_frame()
    print(payload.decode())
    ws.close()
    ws.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

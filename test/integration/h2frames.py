"""A small HTTP/2 frame builder and reader for the h2 abuse and validation tests: raw frames
over a socket, HPACK as literal fields without indexing and without Huffman (plus the indexing
forms an HPACK-bomb test needs). Responses are read as frames; their header blocks are not
decoded (nghttp2 compresses them), so tests look at frame types, flags, error codes and DATA."""
import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 7, 8, 9, 0xB

SETTINGS_INITIAL_WINDOW_SIZE = 4


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def hpack_int(value, prefix_bits, first_byte_flags=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = [first_byte_flags | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_string(s):
    if isinstance(s, str):
        s = s.encode("latin-1")
    return hpack_int(len(s), 7) + s


def literal(name, value):
    """Literal header field without indexing, new name, no Huffman."""
    return b"\x00" + hpack_string(name) + hpack_string(value)


def literal_indexed(name, value):
    """Literal header field with incremental indexing (enters the dynamic table)."""
    return b"\x40" + hpack_string(name) + hpack_string(value)


def indexed(index):
    return hpack_int(index, 7, 0x80)


def block(fields):
    return b"".join(literal(n, v) for n, v in fields)


def request_fields(path="/", method="GET", authority="localhost", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", authority),
            (":path", path)] + list(extra)


def headers(stream_id, fields, end_stream=True, end_headers=True):
    flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    payload = fields if isinstance(fields, bytes) else block(fields)
    return frame(HEADERS, flags, stream_id, payload)


def data(stream_id, payload, end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, stream_id, payload)


def settings(pairs=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0,
                 b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def ping(payload=b"12345678", ack=False):
    return frame(PING, ACK if ack else 0, 0, payload)


def priority(stream_id, dep=0, weight=15):
    return frame(PRIORITY, 0, stream_id, struct.pack(">IB", dep, weight))


def rst(stream_id, code=CANCEL):
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def window_update(stream_id, inc):
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", inc))


class Frame:
    def __init__(self, ftype, flags, stream_id, payload):
        self.type, self.flags, self.stream_id, self.payload = ftype, flags, stream_id, payload

    @property
    def error_code(self):
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        return None

    @property
    def last_stream_id(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF

    def __repr__(self):
        return "Frame(type=%d flags=%#x sid=%d len=%d err=%s)" % (
            self.type, self.flags, self.stream_id, len(self.payload), self.error_code)


class H2Conn:
    """One raw h2c connection (prior knowledge). send() raw frames; read frames with frames()."""

    def __init__(self, port, client_settings=(), timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False
        self.received = []
        self.pos = 0  # the next frame read_until examines
        self.send(PREFACE + settings(client_settings))

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True
            return False

    def _read(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.time()))
        try:
            b = self.sock.recv(1 << 16)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.closed = True
            return False
        if not b:
            self.closed = True
            return False
        self.buf += b
        return True

    def _parse(self):
        out = []
        while len(self.buf) >= 9:
            n = struct.unpack(">I", b"\x00" + self.buf[:3])[0]
            if len(self.buf) < 9 + n:
                break
            ftype, flags = self.buf[3], self.buf[4]
            sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
            f = Frame(ftype, flags, sid, self.buf[9:9 + n])
            self.buf = self.buf[9 + n:]
            if f.type == SETTINGS and not f.flags & ACK:
                self.send(settings(ack=True))
            out.append(f)
        self.received.extend(out)
        return out

    def read_until(self, pred, timeout=5.0):
        """Reads frames until pred(frame) is true for one (returned) or timeout/close (None).
        Frames are examined in order from after the previous match (or the start)."""
        deadline = time.time() + timeout
        while True:
            self._parse()
            while self.pos < len(self.received):
                f = self.received[self.pos]
                self.pos += 1
                if pred(f):
                    return f
            if self.closed or time.time() >= deadline:
                return None
            self._read(deadline)

    def read_all(self, timeout=1.0):
        """Every frame until the server closes or nothing more arrives for `timeout`."""
        deadline = time.time() + timeout
        while not self.closed and self._read(deadline):
            self._parse()
            deadline = time.time() + timeout
        self._parse()
        return self.received

    def wait_closed(self, timeout=5.0):
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline:
            if self._read(deadline):
                self._parse()
        return self.closed

    def body(self, stream_id):
        return b"".join(f.payload for f in self.received
                        if f.type == DATA and f.stream_id == stream_id)

    def close(self):
        self.sock.close()


def expect_graceful_goaway(c, open_streams=(1, 3), late_stream=5, late_path="/late"):
    """After something told the server to go away: a GOAWAY NO_ERROR whose last stream id is the
    last of `open_streams` arrives, a stream opened after it (`late_stream`) is not served, every
    open stream still ends (END_STREAM), and the connection closes."""
    g = c.read_until(lambda f: f.type == GOAWAY, timeout=5)
    assert g is not None and g.error_code == NO_ERROR and g.last_stream_id == open_streams[-1], g
    c.send(headers(late_stream, request_fields(late_path)))
    for sid in open_streams:
        assert c.read_until(lambda f, s=sid: f.stream_id == s and f.flags & END_STREAM,
                            timeout=5) is not None, sid
    assert c.wait_closed(5)
    assert not any(f.stream_id == late_stream and f.type == HEADERS for f in c.received)

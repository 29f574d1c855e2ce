"""HTTP/2 test clients over raw sockets (python3-h2 4.1; run with /usr/bin/python3).

H2Client: a python3-h2 connection whose outbound validation can be switched off,
so malformed requests reach the server exactly as written. RawH2: bare frames
(hyperframe + hpack) for the floods h2's state machine would refuse to send,
with a reader that reports every frame the server sent back."""
import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and error codes (RFC 9113 §6, §7).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 7, 8, 11
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def connect(port, tls_ca=None, alpn=("h2",), timeout=10):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls_ca:
        ctx = ssl.create_default_context(cafile=tls_ca)
        ctx.set_alpn_protocols(list(alpn))
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    return sock


class Response:
    def __init__(self):
        self.status = None
        self.headers = []  # [(name, value)] as bytes -> decoded str
        self.body = bytearray()
        self.trailers = []
        self.ended = False
        self.reset = None  # error code of a RST_STREAM from the server

    def header(self, name):
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def __repr__(self):
        return "Response(status=%r reset=%r headers=%r body=%r)" % (
            self.status, self.reset, self.headers, bytes(self.body[:200]))


class H2Client:
    def __init__(self, port, tls_ca=None, validate=True, timeout=10, settings=None, initiate=True):
        self.sock = connect(port, tls_ca, timeout=timeout)
        self.timeout = timeout
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=validate, normalize_outbound_headers=validate,
                                        validate_inbound_headers=True)
        self.conn = h2.connection.H2Connection(cfg)
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings or {})
        self.responses = {}
        self.goaway = None  # (error_code, last_stream_id)
        self.closed = False
        self.pings_acked = 0
        self.settings_acked = 0
        self.remote_settings_seen = False
        if initiate:
            self.conn.initiate_connection()
            self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def request(self, method, path, headers=(), body=None, authority="localhost", end=True, pseudo=None):
        """Opens a stream; `pseudo` replaces the pseudo-header list whole (for malformed requests)."""
        sid = self.conn.get_next_available_stream_id()
        if pseudo is None:
            pseudo = [(":method", method), (":scheme", "http"), (":authority", authority), (":path", path)]
        self.responses[sid] = Response()
        self.conn.send_headers(sid, list(pseudo) + list(headers), end_stream=end and not body)
        self.flush()
        if body:
            self.send_body(sid, body, end=end)
        return sid

    def send_body(self, sid, body, end=True):
        """Sends `body`, waiting for flow-control windows as needed."""
        view = memoryview(body)
        deadline = time.time() + self.timeout
        while view:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                if time.time() > deadline or self.closed:
                    raise TimeoutError("no flow-control window")
                if not self.pump(1.0) and self.closed:
                    raise ConnectionError("closed while sending")
                r = self.responses.get(sid)
                if r and r.reset is not None:
                    return
                continue
            n = min(window, len(view))
            self.conn.send_data(sid, view[:n].tobytes(), end_stream=end and n == len(view))
            view = view[n:]
            self.flush()
        if end and not body:
            self.conn.end_stream(sid)
            self.flush()

    def pump(self, timeout=1.0):
        """Reads once; returns False on a timeout or the end of the connection."""
        if self.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except (OSError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.closed = True
            return False
        for e in events:
            self.handle(e)
        self.flush()
        return True

    def handle(self, e):
        r = self.responses.get(getattr(e, "stream_id", None) or 0)
        if isinstance(e, h2.events.ResponseReceived):
            r.status = int(dict(e.headers)[":status"])
            r.headers = [(k, v) for k, v in e.headers if k != ":status"]
        elif isinstance(e, h2.events.DataReceived):
            if r is not None:
                r.body += e.data
            self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        elif isinstance(e, h2.events.TrailersReceived):
            r.trailers = list(e.headers)
        elif isinstance(e, h2.events.StreamEnded):
            if r is not None:
                r.ended = True
        elif isinstance(e, h2.events.StreamReset):
            if r is not None:
                r.reset = e.error_code
        elif isinstance(e, h2.events.ConnectionTerminated):
            self.goaway = (int(e.error_code), e.last_stream_id)
        elif isinstance(e, h2.events.PingAckReceived):
            self.pings_acked += 1
        elif isinstance(e, h2.events.SettingsAcknowledged):
            self.settings_acked += 1
        elif isinstance(e, h2.events.RemoteSettingsChanged):
            self.remote_settings_seen = True

    def wait(self, cond, timeout=None):
        deadline = time.time() + (timeout or self.timeout)
        while not cond():
            if self.closed or time.time() > deadline:
                return cond()
            self.pump(min(1.0, max(0.01, deadline - time.time())))
        return True

    def response(self, sid, timeout=None):
        r = self.responses[sid]
        self.wait(lambda: r.ended or r.reset is not None or self.goaway is not None, timeout)
        # A GOAWAY may precede the stream's last frames (a drain): keep reading until the stream ends.
        self.wait(lambda: r.ended or r.reset is not None, timeout)
        return r

    def get(self, path, headers=(), **kw):
        return self.response(self.request("GET", path, headers, **kw))


# ---------------------------------------------------------------- raw frames

def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def settings_frame(pairs=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def rst_frame(sid, code):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def window_update(sid, inc):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", inc))


def headers_frame(sid, method="GET", path="/", headers=(), end=True, enc=None):
    """A request HEADERS frame (a fresh HPACK encoder unless `enc`)."""
    block = (enc or hpack.Encoder()).encode([(":method", method), (":scheme", "http"), (":authority", "localhost"),
                                              (":path", path)] + list(headers))
    return frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), sid, block)


class RawH2:
    """Bare frames over a socket; `frames` collects what the server sent."""

    def __init__(self, port, tls_ca=None, timeout=10, settings=()):
        self.sock = connect(port, tls_ca, timeout=timeout)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536
        self.buf = b""
        self.frames = []  # (type, flags, sid, payload)
        self._decoded = 0
        self._statuses = {}
        self.closed = False
        self.send(PREFACE + settings_frame(settings))

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def block(self, method="GET", path="/", authority="localhost", headers=()):
        return self.enc.encode([(":method", method), (":scheme", "http"), (":authority", authority),
                                (":path", path)] + list(headers))

    def headers(self, sid, method="GET", path="/", headers=(), end=True):
        return frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), sid, self.block(method, path, headers=headers))

    def read(self, timeout=0.5, until=None):
        """Reads frames for up to `timeout` s (or until `until()`); answers SETTINGS and PING."""
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline and not (until and until()):
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                break
            except OSError:
                data = b""
            if not data:
                self.closed = True
                break
            self.buf += data
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7fffffff, self.buf[9:9 + n])
                self.buf = self.buf[9 + n:]
                self.frames.append(f)
                if f[0] == SETTINGS and not f[1] & ACK:
                    self.send(settings_frame(ack=True))
        return self.frames

    def read_until_closed(self, timeout=5.0):
        self.read(timeout, until=lambda: self.closed)
        return self.closed

    def goaway(self):
        """(error_code, last_stream_id) of the last GOAWAY received, or None."""
        g = [f for f in self.frames if f[0] == GOAWAY]
        if not g:
            return None
        p = g[-1][3]
        return int.from_bytes(p[4:8], "big"), int.from_bytes(p[:4], "big") & 0x7fffffff

    def resets(self):
        """{stream id: error code} of the RST_STREAM frames received."""
        return {f[2]: int.from_bytes(f[3][:4], "big") for f in self.frames if f[0] == RST_STREAM}

    def statuses(self):
        """{stream id: :status} of the response HEADERS received (one decoder, in order)."""
        out = self._statuses
        for f in self.frames[self._decoded:]:
            self._decoded += 1
            if f[0] == HEADERS:
                payload = f[3]
                if f[1] & 0x8:  # PADDED
                    payload = payload[1:len(payload) - payload[0]]
                if f[1] & 0x20:  # PRIORITY
                    payload = payload[5:]
                hs = self.dec.decode(payload)
                st = dict(hs).get(":status")
                if st is not None and f[2] not in out:
                    out[f[2]] = int(st)
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

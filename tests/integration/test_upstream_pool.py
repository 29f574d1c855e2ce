"""Upstream connections and responses (SPEC §5, §3): stale pooled connections,
stray bytes on idle connections, max_connections across workers, responses that
outlive the client idle timeout, response framing, and per-connection memory."""
import gzip
import os
import socket
import subprocess
import threading
import time
import unittest

from harness import Breakwater, assert_clean, free_port, listen_on, parse_responses, raw, read_request, request


class ScriptedUpstream:
    """A raw HTTP/1.1 upstream: `handler(conn, rfile, req)` answers each request
    itself, so a test can misbehave exactly as a real server would."""

    def __init__(self, handler, idle_close=None):
        self.handler, self.idle_close = handler, idle_close
        self.port = free_port()
        self.requests = []  # (method, target, headers, body)
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = listen_on(self.port)
        self.live = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.live.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        rfile = c.makefile("rb")
        try:
            while True:
                # Like Node (5 s) or gunicorn (2 s): an idle keep-alive connection is closed early.
                c.settimeout(self.idle_close)
                try:
                    req = read_request(rfile)
                except (socket.timeout, OSError, ValueError):
                    return
                if req is None:
                    return
                c.settimeout(None)
                with self.lock:
                    self.requests.append(req)
                if self.handler(c, rfile, req) is False:
                    return
        finally:
            try:
                c.close()
            except OSError:
                pass

    def count(self, target):
        with self.lock:
            return sum(1 for r in self.requests if r[1] == target)

    def stop(self):
        self.running = False
        self.sock.close()
        with self.lock:
            for c in self.live:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def ok(c, body=b"ok", extra=b""):
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(body), extra) + body)


def config(port, admin, up, workers=2, routes=None, upstream_extra="", listener_extra=""):
    return f"""
[server]
workers = {workers}
admin = "127.0.0.1:{admin}"
drain_timeout = "5s"

[[listener]]
name = "in"
bind = "127.0.0.1:{port}"
{listener_extra}

[upstream.app]
endpoints = ["127.0.0.1:{up}"]
connect_timeout = "500ms"
{upstream_extra}

{routes or '''
[[route]]
name = "all"
listener = "in"
upstream = "app"
timeout = "3s"
'''}
"""


class UpstreamPoolCase(unittest.TestCase):
    def start(self, handler, idle_close=None, **kw):
        self.up = ScriptedUpstream(handler, idle_close)
        self.port, self.admin = free_port(), free_port()
        self.bw = Breakwater(config(self.port, self.admin, self.up.port, **kw))

    def tearDown(self):
        if not hasattr(self, "bw"):
            return  # skipped before anything started
        self.bw.stop()
        self.up.stop()
        assert_clean(self, self.bw)


class StaleConnections(UpstreamPoolCase):
    def test_large_upload_on_a_connection_the_upstream_closed_reaches_it(self):
        # Item 1: the pooled connection was closed by the upstream while idle; a body
        # over 64 KiB streams (it cannot be resent), so the connection must be checked first.
        def handler(c, rfile, req):
            ok(c, b"got %d" % len(req[3]))
        self.start(handler, idle_close=0.2, workers=1)
        for round_ in range(3):
            self.assertEqual(request(self.port, "GET", "/warm")[0], 200)
            time.sleep(0.6)  # the upstream closes the pooled connection meanwhile
            body = os.urandom(200_000)
            status, _, b = request(self.port, "POST", "/upload", body=body)
            self.assertEqual(status, 200, b)
            self.assertEqual(b, b"got 200000")
        self.assertEqual(self.up.count("/upload"), 3)

    def test_bytes_arriving_on_an_idle_connection_never_answer_another_request(self):
        # Item 2: a late extra response (and a body after a HEAD answer) sits on the
        # pooled connection; the next request, from another client, must not read it.
        def handler(c, rfile, req):
            method, target = req[0], req[1]
            if target == "/stray":
                ok(c, b"first")
                time.sleep(0.05)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSTRAY!")
            elif method == "HEAD":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nLEAKED")  # a body a HEAD must not have
            else:
                ok(c, b"innocent")
        self.start(handler, workers=1)
        for first in (("GET", "/stray"), ("HEAD", "/head")):
            status, _, b = request(self.port, *first)
            self.assertEqual(status, 200)
            time.sleep(0.3)  # the stray bytes reach the idle pooled connection
            for _ in range(3):
                status, _, b = request(self.port, "GET", "/innocent")
                self.assertEqual((status, b), (200, b"innocent"))


class ConnectionLimit(UpstreamPoolCase):
    def test_an_idle_connection_of_another_worker_makes_room(self):
        # Item 3: workers = 2, max_connections = 1: the one connection sits idle in one
        # worker's pool while the other worker needs it.
        self.start(lambda c, rfile, req: ok(c), workers=2, upstream_extra="max_connections = 1",
                   routes='''
[[route]]
name = "all"
listener = "in"
upstream = "app"
timeout = "2s"
''')
        statuses = [request(self.port, "GET", "/seq/%d" % i)[0] for i in range(8)]
        self.assertEqual(statuses, [200] * 8)
        self.assertEqual(self.bw.metric("breakwater_requests_total", route="all", code="504"), 0)

    def test_waiters_for_the_one_connection_are_all_served(self):
        def handler(c, rfile, req):
            time.sleep(0.05)
            ok(c)
        self.start(handler, workers=2, upstream_extra="max_connections = 1", routes='''
[[route]]
name = "all"
listener = "in"
upstream = "app"
timeout = "10s"
''')
        results = []
        def client(i):
            results.append(request(self.port, "GET", "/c/%d" % i)[0])
        threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 20)
        self.assertLessEqual(self.up.connections, 20)


class Responses(UpstreamPoolCase):
    def test_a_flowing_response_outlives_the_listener_idle_timeout(self):
        # Item 4: idle means no bytes moving; a download slower than idle_timeout goes on.
        def handler(c, rfile, req):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n")
            for i in range(12):
                time.sleep(0.25)
                c.sendall(b"x")
        self.start(handler, listener_extra='idle_timeout = "1s"', routes='''
[[route]]
name = "all"
listener = "in"
upstream = "app"
timeout = "20s"
''')
        status, _, b = request(self.port, "GET", "/download")
        self.assertEqual((status, b), (200, b"x" * 12))

    def test_chunked_as_the_final_coding_is_chunked_framing(self):
        # Item 5: "Transfer-Encoding: gzip, chunked" is chunked framing (RFC 9112 §6.3).
        payload = gzip.compress(b"hello " * 100)
        def handler(c, rfile, req):
            half = len(payload) // 2
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
                      b"%x\r\n" % half + payload[:half] + b"\r\n" +
                      b"%x\r\n" % (len(payload) - half) + payload[half:] + b"\r\n0\r\n\r\n")
        self.start(handler)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        f = s.makefile("rb")
        for _ in range(2):  # the connection stays in step: a second request on it is answered
            s.sendall(b"GET /gz HTTP/1.1\r\nHost: a\r\n\r\n")
            status, headers, body = read_chunked_response(f)
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("transfer-encoding"), "gzip, chunked")
            self.assertEqual(body, payload)
        s.close()

    def test_head_answer_with_chunked_framing_gets_no_invented_length(self):
        # Item 6: a HEAD answer says what a GET would carry: chunked, not Content-Length: 0.
        def handler(c, rfile, req):
            if req[0] == "HEAD":
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: head\r\n\r\n")
            else:
                ok(c, b"after")
        self.start(handler)
        data, _ = raw(self.port, b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /g HTTP/1.1\r\nHost: a\r\n"
                                 b"Connection: close\r\n\r\n")
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().lower().split("\r\n")
        self.assertTrue(lines[0].startswith("http/1.1 200"), lines)
        self.assertNotIn("content-length: 0", lines)
        self.assertIn("transfer-encoding: chunked", lines)
        self.assertIn("x-kind: head", lines)
        # Nothing follows the HEAD answer's head but the next response.
        self.assertTrue(rest.startswith(b"HTTP/1.1 200"), rest[:40])
        self.assertEqual(parse_responses(rest)[0][2], b"after")

    def test_route_timeout_while_reading_a_storable_response_is_504(self):
        # Item 7: the idempotency capture reads the body whole; a route timeout there is a timeout.
        def handler(c, rfile, req):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            time.sleep(3)
            return False
        self.start(handler, routes='''
[[route]]
name = "all"
listener = "in"
upstream = "app"
timeout = "800ms"

[route.idempotency]
methods = ["POST"]
''')
        status, h, b = request(self.port, "POST", "/pay", body=b"{}", headers={"Idempotency-Key": "k1"})
        self.assertEqual(status, 504, b)
        self.assertEqual(h.get("x-breakwater"), "upstream_timeout")


class Memory(UpstreamPoolCase):
    def test_idle_keep_alive_connections_release_large_request_buffers(self):
        # Item 12: 30 keep-alive connections, each after one 1 MiB chunked POST, then idle.
        sanitized = "libasan" in subprocess.run(["ldd", self.bw_binary()], capture_output=True,
                                                 text=True).stdout
        if sanitized:
            self.skipTest("RSS is not judged under AddressSanitizer (quarantine keeps freed memory)")
        self.start(lambda c, rfile, req: ok(c, b"%d" % len(req[3])), workers=1)
        pid = self.bw.proc.pid
        self.assertEqual(request(self.port, "GET", "/warm")[0], 200)
        time.sleep(0.2)
        before = rss_kib(pid)
        body = b"z" * (1 << 20)
        chunked = b"".join(b"%x\r\n" % len(body[i:i + 65536]) + body[i:i + 65536] + b"\r\n"
                           for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
        socks = []
        for _ in range(30):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
            resp = b""
            while not resp.endswith(b"1048576"):
                chunk = s.recv(4096)
                self.assertTrue(chunk)
                resp += chunk
            socks.append(s)  # kept open and idle
        time.sleep(0.3)
        grew_mib = (rss_kib(pid) - before) / 1024
        for s in socks:
            s.close()
        # Each idle connection would otherwise hold its 1 MiB body: 30+ MiB in all.
        self.assertLess(grew_mib, 12, "RSS grew %.1f MiB with 30 idle connections" % grew_mib)

    def bw_binary(self):
        from harness import BINARY
        return BINARY


def read_chunked_response(f):
    """(status, headers, body) of one response framed by chunked encoding."""
    status = int(f.readline().split()[1])
    headers = {}
    while True:
        line = f.readline().decode("latin-1").rstrip("\r\n")
        if not line:
            break
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    while True:
        size = int(f.readline().split(b";")[0], 16)
        if size == 0:
            f.readline()
            return status, headers, body
        body += f.read(size)
        f.readline()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l.split()[1] for l in f if l.startswith("VmRSS:")))


class RequestIds(UpstreamPoolCase):
    def test_every_access_log_line_has_a_request_id(self):
        # Item 17: answers breakwater makes itself carry an id too.
        self.start(lambda c, rfile, req: ok(c), routes='''
[[route]]
name = "off"
listener = "in"
upstream = "app"
match = { path_prefix = "/off" }
enabled = false

[[route]]
name = "on"
listener = "in"
upstream = "app"
match = { path_prefix = "/on" }
''')
        self.assertEqual(request(self.port, "GET", "/nowhere")[0], 404)
        self.assertEqual(request(self.port, "GET", "/off", headers={"X-Request-Id": "mine-1"})[0], 503)
        raw(self.port, b"GET /on HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")  # 400
        entries = self.bw.access_log(at_least=3)
        by_status = {e["status"]: e for e in entries}
        self.assertEqual(sorted(by_status), [400, 404, 503])
        for e in entries:
            self.assertIsInstance(e["request_id"], str)
            self.assertTrue(e["request_id"])
        self.assertEqual(by_status[503]["request_id"], "mine-1")


if __name__ == "__main__":
    unittest.main()

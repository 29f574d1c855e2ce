"""HTTP/2 upstreams (SPEC §2 `protocol = "http2"`, §9 "Both sides" and "Upstream
connections"): an HTTP/1.1 client (curl, http.client) -> breakwater -> an HTTP/2
server written with python3-h2 (harness.H2Upstream). Counts and states only."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import h2  # noqa: F401  (Debian's python3-h2: this file runs with /usr/bin/python3)

from harness import (Breakwater, Certificates, H2Upstream, assert_clean, free_port, listen_on, request)


def h2_config(port, admin_port, endpoints, upstream_extra="", route_extra="", workers=1, timeout="10s"):
    eps = ", ".join('"127.0.0.1:%d"' % p for p in endpoints)
    return f"""
[server]
workers = {workers}
admin = "127.0.0.1:{admin_port}"
drain_timeout = "5s"
access_log = "stderr"

[[listener]]
name = "in"
bind = "127.0.0.1:{port}"

[upstream.app]
endpoints = [{eps}]
connect_timeout = "2s"
protocol = "http2"
{upstream_extra}

[[route]]
name = "all"
listener = "in"
upstream = "app"
timeout = "{timeout}"
{route_extra}
"""


def curl(port, path, *args):
    """curl over HTTP/1.1: (status, headers dict, body bytes)."""
    out = subprocess.run(["curl", "-sS", "--http1.1", "-D", "-", "-o", "-", *args,
                          "http://127.0.0.1:%d%s" % (port, path)], capture_output=True, timeout=60)
    raw = out.stdout
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


class H2Case(unittest.TestCase):
    upstream_kw = {}
    upstream_extra = ""
    route_extra = ""
    workers = 1
    timeout = "10s"

    def setUp(self):
        self.up = H2Upstream(**self.upstream_kw)
        self.port, self.admin_port = free_port(), free_port()
        self.bw = Breakwater(h2_config(self.port, self.admin_port, [self.up.port], self.upstream_extra,
                                       self.route_extra, self.workers, self.timeout))

    def tearDown(self):
        self.bw.stop()
        self.up.stop()
        assert_clean(self, self.bw)

    def concurrently(self, n, path):
        results = [None] * n

        def one(i):
            try:
                results[i] = request(self.port, "GET", path, timeout=30)[0]
            except Exception as e:  # noqa: BLE001
                results[i] = repr(e)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return results

    def entries(self, n):
        return [e for e in self.bw.access_log(at_least=n) if e["route"] == "all"]


class Translation(H2Case):
    def test_get_is_translated_to_http2_fields(self):
        status, headers, body = curl(self.port, "/echo/a?x=1&y=2", "-H", "Host: orders.example:8080",
                                     "-H", "Connection: keep-alive, x-hop", "-H", "X-Hop: secret",
                                     "-H", "Keep-Alive: timeout=5", "-H", "TE: trailers, deflate",
                                     "-H", "Upgrade: h2c", "-H", "Proxy-Authorization: basic x",
                                     "-H", "Cookie: a=1; b=2", "-H", "X-Custom: Value",
                                     "-H", "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-echo-method"], "GET")
        self.assertEqual(headers["x-echo-path"], "/echo/a?x=1&y=2")
        self.assertEqual(headers["x-echo-authority"], "orders.example:8080")  # Host -> :authority
        self.assertEqual(headers["x-echo-scheme"], "http")
        fields = json.loads(headers["x-echo-headers"])
        for hop in ("host", "connection", "x-hop", "keep-alive", "upgrade", "proxy-authorization",
                    "transfer-encoding", "proxy-connection", "trailer"):
            self.assertNotIn(hop, fields)
        self.assertEqual(fields["te"], ["trailers"])  # the client offered trailers (SPEC §9)
        self.assertEqual(fields["cookie"], ["a=1; b=2"])
        self.assertEqual(fields["x-custom"], ["Value"])
        self.assertEqual(fields["traceparent"], ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
        self.assertEqual(fields["x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual(fields["x-forwarded-proto"], ["http"])
        self.assertEqual(len(fields["x-request-id"]), 1)
        self.assertTrue(all(k == k.lower() for k in fields))
        self.assertEqual(self.up.connections, 1)

    def test_post_body_and_response_come_back(self):
        status, headers, body = curl(self.port, "/echo", "--data-binary", "hello h2", "-H",
                                     "Content-Type: text/plain")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"hello h2")
        self.assertEqual(headers["x-echo-method"], "POST")
        fields = json.loads(headers["x-echo-headers"])
        self.assertEqual(fields["content-length"], ["8"])
        e = self.entries(1)[-1]
        self.assertEqual((e["status"], e["attempts"], e["bytes_in"], e["bytes_out"]), (200, 1, 8, 8))

    def test_response_trailers_do_not_reach_an_http1_client(self):
        status, headers, body = curl(self.port, "/trailers")
        self.assertEqual((status, body), (200, b"ok"))
        self.assertNotIn("grpc-status", headers)
        self.assertNotIn("x-trailer", headers)

    def test_interim_responses_are_skipped(self):
        status, headers, body = curl(self.port, "/interim")
        self.assertEqual((status, body, headers.get("x-final")), (200, b"final", "yes"))
        self.assertNotIn("link", headers)

    def test_cr_lf_in_a_response_field_never_reaches_the_client(self):
        status, headers, body = request(self.port, "GET", "/crlf")
        self.assertEqual(status, 502)
        self.assertEqual(headers.get("x-breakwater"), "upstream_unavailable")
        self.assertNotIn("set-cookie", headers)
        self.assertEqual(request(self.port, "GET", "/")[0], 200)
        self.assertEqual(self.up.connections, 1)  # a stream error, not a connection error

    def test_head_request_gets_the_head_only(self):
        status, headers, body = request(self.port, "HEAD", "/big/1000")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-length"), "1000")
        self.assertEqual(body, b"")
        self.assertEqual(request(self.port, "GET", "/")[0], 200)
        self.assertEqual(self.up.connections, 1)

    def test_requests_one_after_another_reuse_the_connection(self):
        for _ in range(5):
            self.assertEqual(request(self.port, "GET", "/")[0], 200)
        self.assertEqual(self.up.connections, 1)
        self.assertEqual(self.up.streams, 5)


class FlowControl(H2Case):
    def test_5mb_download_is_intact(self):
        n = 5 * 1000 * 1000
        status, headers, body = request(self.port, "GET", "/big/%d" % n, timeout=60)
        self.assertEqual(status, 200)
        self.assertEqual(len(body), n)
        self.assertEqual(body, (b"0123456789abcdef" * (n // 16 + 1))[:n])

    def test_5mb_upload_is_intact(self):
        data = os.urandom(5 * 1000 * 1000)
        status, _, body = request(self.port, "POST", "/sha", body=data, timeout=60)
        self.assertEqual(status, 200)
        self.assertEqual(body.decode(), "%d %s" % (len(data), hashlib.sha256(data).hexdigest()))

    def test_5mb_both_ways_at_once(self):
        data = os.urandom(5 * 1000 * 1000)
        status, _, body = request(self.port, "POST", "/echo", body=data, timeout=60)
        self.assertEqual(status, 200)
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(data).hexdigest())
        e = self.entries(1)[-1]
        self.assertEqual((e["bytes_in"], e["bytes_out"]), (len(data), len(data)))


class Backpressure(H2Case):
    def test_a_client_that_does_not_read_holds_the_upstream_back(self):
        n = 64 * 1000 * 1000
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.connect(("127.0.0.1", self.port))
        try:
            s.sendall(b"GET /big/%d HTTP/1.1\r\nHost: a\r\n\r\n" % n)
            deadline = time.time() + 30
            while time.time() < deadline and self.up.blocked == 0:
                time.sleep(0.05)
            # The server has bytes to send and no window: breakwater gives windows
            # back only as the client takes the bytes, so it never holds the rest.
            self.assertGreater(self.up.blocked, 0)
            self.assertLess(self.up.sent, n)
        finally:
            s.close()
        # The client went away: its stream is reset, the connection carries on.
        self.assertEqual(request(self.port, "GET", "/")[0], 200)
        self.assertEqual(self.up.connections, 1)


@unittest.skipUnless(shutil.which("nghttpd"), "nghttpd (nghttp2-server) is not installed")
class Nghttpd(unittest.TestCase):
    def test_nghttpd_serves_through_breakwater(self):
        root = tempfile.mkdtemp(prefix="bw-nghttpd-")
        with open(os.path.join(root, "hello.txt"), "wb") as f:
            f.write(b"hello from nghttpd\n" * 1000)
        up_port, port, admin = free_port(), free_port(), free_port()
        srv = subprocess.Popen(["nghttpd", "--no-tls", "-d", root, str(up_port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bw = None
        try:
            from harness import wait_port
            self.assertTrue(wait_port(up_port))
            bw = Breakwater(h2_config(port, admin, [up_port]))
            status, headers, body = curl(port, "/hello.txt", "-H", "Connection: keep-alive, x-hop", "-H",
                                         "X-Hop: 1", "-H", "TE: trailers")
            self.assertEqual(status, 200)
            self.assertEqual(body, b"hello from nghttpd\n" * 1000)
            self.assertEqual(headers.get("content-length"), str(len(body)))
            self.assertEqual(curl(port, "/missing")[0], 404)
        finally:
            if bw:
                bw.stop()
            srv.terminate()
            srv.wait(10)
        assert_clean(self, bw)


class SharedConnection(H2Case):
    upstream_kw = {"max_streams": 100}

    def test_20_concurrent_requests_share_one_connection(self):
        self.up.hold_until = 20  # answered only once all 20 are open at once
        results = self.concurrently(20, "/hold")
        self.assertEqual(results, [200] * 20)
        self.assertEqual(self.up.connections, 1)
        self.assertEqual(self.up.max_open, 20)


class ServerStreamLimit(H2Case):
    upstream_kw = {"max_streams": 2}
    upstream_extra = "max_connections = 10"

    def test_more_connections_when_the_server_allows_2_streams(self):
        self.up.hold_until = 20  # all 20 open at once: 10 connections of 2 streams
        results = self.concurrently(20, "/hold")
        self.assertEqual(results, [200] * 20)
        self.assertLessEqual(self.up.max_open, 2)
        self.assertEqual(self.up.connections, 10)
        self.assertEqual(self.up.max_total_open, 20)


class MaxConnections(H2Case):
    upstream_kw = {"max_streams": 2}
    upstream_extra = "max_connections = 3"

    def test_never_more_than_max_connections(self):
        self.up.hold_until = 6  # 3 connections x 2 streams; the other 6 wait for room
        results = self.concurrently(12, "/hold")
        self.assertEqual(results, [200] * 12)
        self.assertEqual(self.up.connections, 3)
        self.assertLessEqual(self.up.max_open, 2)
        self.assertEqual(self.up.max_total_open, 6)
        self.assertEqual(self.up.streams, 12)


class NotProcessed(H2Case):
    def test_refused_stream_is_sent_again_on_another_connection(self):
        self.up.refuse = 1
        status, _, body = curl(self.port, "/echo", "--data-binary", "once")
        self.assertEqual((status, body), (200, b"once"))
        self.assertEqual(self.up.refused, 1)
        self.assertEqual(self.up.streams, 2)
        self.assertEqual(self.up.connections, 2)  # the refusing connection takes no new stream
        e = self.entries(1)[-1]
        self.assertEqual((e["status"], e["attempts"]), (200, 1))  # not an attempt, not a retry

    def test_stream_above_goaway_last_stream_id_is_sent_again(self):
        self.assertEqual(request(self.port, "GET", "/")[0], 200)
        self.up.goaway = 1
        status, _, body = curl(self.port, "/echo", "--data-binary", "again")
        self.assertEqual((status, body), (200, b"again"))
        self.assertEqual(self.up.goaways, 1)
        self.assertEqual(self.up.connections, 2)
        e = self.entries(2)[-1]
        self.assertEqual((e["status"], e["attempts"]), (200, 1))
        self.assertEqual(request(self.port, "GET", "/")[0], 200)
        self.assertEqual(self.up.connections, 2)  # the new connection carries on

    def test_a_goaway_connection_finishes_its_streams_and_takes_no_new_one(self):
        self.up.hold_until = 1000  # held until released below
        held = {}
        t = threading.Thread(target=lambda: held.update(r=request(self.port, "GET", "/hold", timeout=30)))
        t.start()
        deadline = time.time() + 10
        while time.time() < deadline and self.up.total_open < 1:
            time.sleep(0.02)
        self.assertEqual(self.up.total_open, 1)
        self.up.graceful_goaway = 1
        deadline = time.time() + 10
        while time.time() < deadline and self.up.graceful_goaway:
            time.sleep(0.02)
        self.assertEqual(self.up.graceful_goaway, 0)  # sent
        # A new request never rides the GOAWAY'd connection: if it reaches it before
        # breakwater read the GOAWAY, it is refused there and sent again.
        status, _, body = curl(self.port, "/echo", "--data-binary", "new")
        self.assertEqual((status, body), (200, b"new"))
        self.up.released.set()
        t.join(30)
        self.assertEqual(held["r"][0], 200)  # the stream in flight finished
        self.assertEqual(held["r"][2], b"held")
        self.assertEqual(self.up.connections, 2)
        deadline = time.time() + 10
        while time.time() < deadline and len(self.up.conns) > 1:
            time.sleep(0.05)
        self.assertEqual(len(self.up.conns), 1)  # the old one closed once its stream was done
        self.assertEqual([e["attempts"] for e in self.entries(2)], [1, 1])

    def test_a_refused_streamed_upload_is_not_sent_again(self):
        # Over 64 KiB the body streams: bytes already taken from the client cannot be sent twice.
        self.up.refuse = 1
        status, headers, _ = request(self.port, "POST", "/sha", body=os.urandom(1000 * 1000))
        self.assertEqual(status, 502)
        self.assertEqual(headers.get("x-breakwater"), "upstream_unavailable")
        self.assertEqual((self.up.refused, self.up.streams), (1, 1))

    def test_a_refused_upload_of_64kib_is_sent_again(self):
        data = os.urandom(60 * 1024)  # buffered (replayable) body
        self.up.refuse = 1
        status, _, body = request(self.port, "POST", "/sha", body=data)
        self.assertEqual(status, 200)
        self.assertEqual(body.decode(), "%d %s" % (len(data), hashlib.sha256(data).hexdigest()))
        self.assertEqual(self.up.refused, 1)
        self.assertEqual(self.entries(1)[-1]["attempts"], 1)


class Deadline(H2Case):
    timeout = "700ms"

    def test_a_stream_past_its_deadline_is_cancelled_and_the_connection_stays(self):
        self.up.hold_until = 1000  # never released
        status, headers, _ = request(self.port, "GET", "/hold")
        self.assertEqual(status, 504)
        self.assertEqual(headers.get("x-breakwater"), "upstream_timeout")
        self.up.hold_until = None
        self.assertEqual(request(self.port, "GET", "/")[0], 200)
        self.assertEqual(self.up.connections, 1)  # the stream was reset, not the connection


class IdleTimeout(H2Case):
    upstream_extra = 'idle_timeout = "200ms"'

    def test_idle_connection_is_closed_after_idle_timeout(self):
        self.assertEqual(request(self.port, "GET", "/")[0], 200)
        deadline = time.time() + 10
        while time.time() < deadline and self.up.conns:
            time.sleep(0.05)
        self.assertEqual(self.up.conns, [])  # breakwater closed it (the sweep)
        self.assertEqual(request(self.port, "GET", "/")[0], 200)
        self.assertEqual(self.up.connections, 2)


class TwoEndpoints(unittest.TestCase):
    def test_round_robin_over_endpoints_one_connection_each(self):
        a, b = H2Upstream(), H2Upstream()
        port, admin = free_port(), free_port()
        bw = Breakwater(h2_config(port, admin, [a.port, b.port]))
        try:
            for _ in range(6):
                self.assertEqual(request(port, "GET", "/")[0], 200)
            self.assertEqual((a.streams, b.streams), (3, 3))
            self.assertEqual((a.connections, b.connections), (1, 1))
        finally:
            bw.stop()
            a.stop()
            b.stop()
        assert_clean(self, bw)


class ConnectFailures(unittest.TestCase):
    def run_bw(self, endpoints, upstream_extra=""):
        port, admin = free_port(), free_port()
        bw = Breakwater(h2_config(port, admin, endpoints, upstream_extra))
        try:
            status, headers, _ = request(port, "GET", "/")
            entries = bw.access_log()
        finally:
            bw.stop()
        assert_clean(self, bw)
        return status, headers, entries, bw.logs()

    def test_dead_endpoint_is_a_connect_failure(self):
        status, headers, entries, _ = self.run_bw([free_port()])
        self.assertEqual(status, 502)
        self.assertEqual(headers.get("x-breakwater"), "upstream_unavailable")

    def test_tls_server_that_does_not_select_h2_is_a_connect_failure(self):
        certs = Certificates()
        up = H2Upstream(tls=certs, alpn=("http/1.1",))
        try:
            status, headers, entries, logs = self.run_bw(
                [up.port], f'tls = true\nca_file = "{certs.ca}"\nsni = "localhost"')
        finally:
            up.stop()
        self.assertEqual(status, 502)
        self.assertEqual(headers.get("x-breakwater"), "upstream_unavailable")
        self.assertIn('did not select \\"h2\\"', logs)
        self.assertEqual(up.streams, 0)

    def test_tls_with_alpn_h2(self):
        certs = Certificates()
        up = H2Upstream(tls=certs)
        port, admin = free_port(), free_port()
        bw = Breakwater(h2_config(port, admin, [up.port], f'tls = true\nca_file = "{certs.ca}"\nsni = "localhost"'))
        try:
            status, headers, body = request(port, "POST", "/echo", body=b"over tls")
            self.assertEqual((status, body), (200, b"over tls"))
            self.assertEqual(headers["x-echo-scheme"], "https")
            self.assertEqual(request(port, "GET", "/")[0], 200)
            self.assertEqual(up.connections, 1)
        finally:
            bw.stop()
            up.stop()
        assert_clean(self, bw)


if __name__ == "__main__":
    unittest.main()

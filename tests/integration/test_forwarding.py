"""Forwarding rules (SPEC §5), keep-alive, pipelining and generated responses (SPEC §4)."""
import json
import socket
import time
import unittest

from harness import ProxyTestCase, parse_responses, raw, request


class Forwarding(ProxyTestCase):
    def echo(self, headers=None, method="GET", body=None, path="/echo"):
        status, h, b = request(self.port, method, path, body=body, headers=headers)
        self.assertEqual(status, 200, b)
        return json.loads(b)

    def test_forwards_and_adds_headers(self):
        e = self.echo({"X-Forwarded-For": "10.0.0.1", "traceparent": "00-abc-def-01", "Host": "svc.local"})
        h = e["headers"]
        self.assertEqual(h["x-forwarded-for"], ["10.0.0.1, 127.0.0.1"])
        self.assertEqual(h["x-forwarded-proto"], ["http"])
        self.assertEqual(h["traceparent"], ["00-abc-def-01"])
        self.assertEqual(h["host"], ["svc.local"])
        self.assertRegex(h["x-request-id"][0], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        log = [l for l in self.bw.access_log() if l["path"] == "/echo"][-1]
        self.assertEqual(log["request_id"], h["x-request-id"][0])

    def test_keeps_client_request_id(self):
        e = self.echo({"X-Request-Id": "abc-123"})
        self.assertEqual(e["headers"]["x-request-id"], ["abc-123"])

    def test_removes_hop_by_hop_headers(self):
        e = self.echo({"Connection": "keep-alive, X-Secret", "X-Secret": "1", "Keep-Alive": "timeout=5",
                       "Proxy-Connection": "keep-alive", "Proxy-Authorization": "Basic x", "TE": "trailers",
                       "Trailer": "X-T", "Upgrade": "websocket", "X-Kept": "yes"})
        h = e["headers"]
        for gone in ("connection", "x-secret", "keep-alive", "proxy-connection", "proxy-authorization",
                     "te", "trailer", "upgrade"):
            self.assertNotIn(gone, h)
        self.assertEqual(h["x-kept"], ["yes"])

    def test_multiple_forwarded_for_headers_are_joined(self):
        data, _ = raw(self.port, b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\n"
                                 b"X-Forwarded-For: 2.2.2.2\r\nConnection: close\r\n\r\n")
        body = json.loads(parse_responses(data)[0][2])
        self.assertEqual(body["headers"]["x-forwarded-for"], ["1.1.1.1, 2.2.2.2, 127.0.0.1"])

    def test_request_bodies(self):
        small = self.echo(method="POST", body=b"hello")
        self.assertEqual(small["body"], "hello")
        big = b"y" * 300_000  # larger than the 64KiB replay buffer: streamed
        e = self.echo(method="POST", body=big)
        self.assertEqual(len(e["body"]), len(big))
        self.assertEqual(e["headers"]["content-length"], [str(len(big))])
        data, _ = raw(self.port, b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                                 b"Connection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        st, _, b = parse_responses(data)[0]
        self.assertEqual(st, 200)
        body = json.loads(b)
        self.assertEqual(body["body"], "hello world")
        self.assertNotIn("transfer-encoding", body["headers"])

    def test_expect_continue(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=3)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n"))
        s.sendall(b"abc")
        time.sleep(0.2)
        data = s.recv(65536)
        s.close()
        self.assertIn(b"200", data.split(b"\r\n")[0])
        self.assertIn(b'"body": "abc"', data)

    def test_response_framings(self):
        status, h, b = self.get("/chunked")
        self.assertEqual((status, b), (200, b"hello chunked world"))
        status, h, b = self.get("/close")
        self.assertEqual((status, b), (200, b"close-delimited body"))
        status, h, b = self.get("/big/200000")
        self.assertEqual((status, len(b)), (200, 200000))
        status, h, b = request(self.port, "HEAD", "/big/5000")
        self.assertEqual((status, b), (200, b""))
        # HTTP/1.0 clients get the chunked body close-delimited
        data, closed = raw(self.port, b"GET /chunked HTTP/1.0\r\n\r\n")
        self.assertTrue(closed)
        self.assertTrue(data.startswith(b"HTTP/1.0 200"))
        self.assertTrue(data.endswith(b"\r\n\r\nhello chunked world"))

    def test_keep_alive_and_upstream_pooling(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=3)
        for i in range(20):
            s.sendall(b"GET /n/%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
            data = b""
            while not data.endswith(b"ok"):
                data += s.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 200"))
        s.close()
        self.assertEqual(self.upstream.hits("/n/"), 20)
        self.assertLessEqual(self.upstream.connections, 2)  # pooled: one per worker at most

    def test_pipelined_requests_are_answered_in_order(self):
        reqs = b"".join(b"GET /slow/%d?i=%d HTTP/1.1\r\nHost: a\r\n\r\n" % (ms, i)
                        for i, ms in enumerate([120, 10, 60, 0]))
        reqs += b"GET /echo?i=last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        data, closed = raw(self.port, reqs, timeout=5)
        self.assertTrue(closed)
        resps = parse_responses(data)
        self.assertEqual([r[0] for r in resps], [200] * 5)
        self.assertEqual(json.loads(resps[-1][2])["target"], "/echo?i=last")
        targets = [r[1] for r in self.upstream.requests]
        self.assertEqual(targets[:4], ["/slow/120?i=0", "/slow/10?i=1", "/slow/60?i=2", "/slow/0?i=3"])


class Generated(ProxyTestCase):
    routes = """
[[route]]
name = "api"
listener = "in"
upstream = "app"
match = { path_prefix = "/api" }
timeout = "300ms"

[[route]]
name = "off"
listener = "in"
upstream = "app"
match = { path_prefix = "/off" }
enabled = false

[[route]]
name = "dead"
listener = "in"
upstream = "dead"
match = { path_prefix = "/dead" }
"""

    def config(self, **kw):
        from harness import free_port
        self.dead_port = free_port()
        return super().config(extra=f'[upstream.dead]\nendpoints = ["127.0.0.1:{self.dead_port}"]\n',
                              listener_extra='max_body = "1KiB"')

    def problem(self, resp, status, reason, route):
        st, h, b = resp
        self.assertEqual(st, status, b)
        self.assertEqual(h["x-breakwater"], reason)
        self.assertEqual(h["content-type"], "application/problem+json")
        p = json.loads(b)
        self.assertEqual(p["type"], "about:blank")
        self.assertEqual(p["status"], status)
        self.assertEqual(p["reason"], reason)
        self.assertEqual(p["route"], route)
        self.assertTrue(p["title"])
        self.assertIn("detail", p)
        return h

    def test_route_not_found(self):
        self.problem(self.get("/nothing"), 404, "route_not_found", None)
        self.assertEqual(self.bw.metric("breakwater_requests_total", route="none", code="404"), 1)

    def test_kill_switch(self):
        self.problem(self.get("/off/x"), 503, "route_disabled", "off")
        self.assertEqual(self.upstream.hits(), 0)
        self.assertEqual(self.bw.metric("breakwater_rejected_total", route="off", reason="route_disabled"), 1)

    def test_upstream_unavailable(self):
        self.problem(self.get("/dead/x"), 502, "upstream_unavailable", "dead")
        log = self.bw.access_log()[-1]
        self.assertEqual(log["status"], 502)
        self.assertEqual(log["reason"], "upstream_unavailable")
        self.assertEqual(log["upstream"], f"127.0.0.1:{self.dead_port}")
        self.assertEqual(self.bw.metric("breakwater_upstream_attempts_total", route="dead",
                                        outcome="connect_failure"), 1)

    def test_upstream_timeout(self):
        t = time.time()
        self.problem(self.get("/api/slow/2000"), 504, "upstream_timeout", "api")
        self.assertLess(time.time() - t, 1.5)
        self.assertEqual(self.bw.metric("breakwater_upstream_attempts_total", route="api", outcome="timeout"), 1)

    def test_body_too_large(self):
        data, closed = raw(self.port, b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n")
        st, h, b = parse_responses(data)[0]
        self.assertEqual((st, h["x-breakwater"]), (413, "request_too_large"))
        self.assertTrue(closed)
        chunked = b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + b"400\r\n" + b"z" * 1024 + b"\r\n" + b"400\r\n" + b"z" * 1024 + b"\r\n0\r\n\r\n"
        data, closed = raw(self.port, chunked)
        self.assertEqual(parse_responses(data)[0][0], 413)
        self.assertTrue(closed)
        self.assertEqual(self.upstream.hits(), 0)

    def test_connect_is_refused(self):
        data, _ = raw(self.port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        st, h, _ = parse_responses(data)[0]
        self.assertEqual((st, h["x-breakwater"]), (405, "method_not_allowed"))

    def test_head_gets_no_problem_body(self):
        data, _ = raw(self.port, b"HEAD /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 404"))
        self.assertTrue(data.endswith(b"\r\n\r\n"))

    def test_access_log_fields(self):
        self.get("/api/echo?q=1", headers={"X-Request-Id": "rid-1"})
        entry = [l for l in self.bw.access_log() if l["request_id"] == "rid-1"][0]
        for key in ("ts", "request_id", "client", "listener", "route", "method", "path", "status", "reason",
                    "upstream", "attempts", "duration_ms", "bytes_in", "bytes_out", "protocol", "grpc_status"):
            self.assertIn(key, entry)
        self.assertRegex(entry["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(entry["path"], "/api/echo?q=1")
        self.assertEqual(entry["route"], "api")
        self.assertEqual(entry["listener"], "in")
        self.assertEqual(entry["attempts"], 1)
        self.assertRegex(entry["client"], r"^127\.0\.0\.1:\d+$")
        self.assertIsNone(entry["reason"])
        self.assertGreater(entry["bytes_out"], 0)
        self.assertEqual(entry["protocol"], "HTTP/1.1")
        self.assertIsNone(entry["grpc_status"])


if __name__ == "__main__":
    unittest.main()

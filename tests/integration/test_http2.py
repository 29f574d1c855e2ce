"""SPEC §9, server side: HTTP/2 from clients (prior knowledge h2c, ALPN h2),
translated to the HTTP/1.1 upstream, every policy per stream, strictness,
floods and drain. Real clients: python3-h2 over raw sockets, bare frames,
curl and nghttp. Runs with /usr/bin/python3 (Debian's python3-h2)."""
import hashlib
import json
import os
import signal
import subprocess
import threading
import time
import unittest

from h2client import (CANCEL, CONTINUATION, ENHANCE_YOUR_CALM, HEADERS, NO_ERROR, PING, PROTOCOL_ERROR,
                      REFUSED_STREAM, END_HEADERS, END_STREAM, H2Client, RawH2, frame, headers_frame, rst_frame, settings_frame)
from harness import (Breakwater, Certificates, ProxyTestCase, Upstream, assert_clean, base_config, free_port,
                     raw, request, route)

ROUTES = (route("api", "/api") + route("kill", "/kill", "enabled = false")
          + route("rl", "/rl", "[route.rate_limit]\nrate = 2\nper = \"60s\"\nburst = 2")
          + route("idem", "/idem", "[route.idempotency]\nheader = \"Idempotency-Key\"\nmethods = [\"POST\"]")
          + route("bh", "/bh", "[route.bulkhead]\nmax_concurrent = 1\nmax_queue = 0")
          + route("retry", "/retry", "[route.retry]\nmax_attempts = 3\nbackoff_base = \"10ms\"\n"
                  "backoff_max = \"20ms\"\nretry_on = [\"503\"]\n"
                  "[route.idempotency]\nheader = \"Idempotency-Key\"\nmethods = [\"POST\"]"))

HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
              "proxy-authorization")


def curl(*args, timeout=20):
    p = subprocess.run(["curl", "-s", "-S", "--max-time", "15"] + list(args), capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class H2Case(ProxyTestCase):
    routes = ROUTES

    def h2(self, **kw):
        c = H2Client(self.port, **kw)
        self.addCleanup(c.close)
        return c

    def raw(self, **kw):
        c = RawH2(self.port, **kw)
        self.addCleanup(c.close)
        return c

    def echo(self, r):
        self.assertEqual(r.status, 200, r)
        return json.loads(bytes(r.body))

    def assert_served(self):
        """A fresh connection (HTTP/2 and HTTP/1.1) is served normally."""
        c = self.h2()
        r = c.get("/api/ok")
        self.assertEqual((r.status, bytes(r.body)), (200, b"ok"), r)
        self.assertEqual(request(self.port, "GET", "/api/ok")[0], 200)


# ---------------------------------------------------------------- both sides

class BothSides(H2Case):
    def test_prior_knowledge_h2c_and_http11_on_one_port(self):
        r = self.h2().get("/api/echo")
        self.assertEqual(self.echo(r)["method"], "GET")
        self.assertEqual(request(self.port, "GET", "/api/echo")[0], 200)
        rc, out, err = curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                            "http://127.0.0.1:%d/api/ok" % self.port)
        self.assertEqual((rc, out), (0, b"2 200"), err)
        p = subprocess.run(["nghttp", "-v", "http://127.0.0.1:%d/api/big/1000" % self.port],
                           capture_output=True, timeout=20)
        self.assertIn(b":status: 200", p.stdout)
        protocols = [e["protocol"] for e in self.bw.access_log(4)]
        self.assertEqual(sorted(protocols), ["HTTP/1.1", "HTTP/2", "HTTP/2", "HTTP/2"])
        self.assertEqual(len(self.upstream.requests), 4)
        for req in self.upstream.requests:
            self.assertEqual(req[0], "GET")

    def test_upgrade_h2c_is_not_supported(self):
        # curl --http2 on a plain URL sends Upgrade: h2c; breakwater answers in HTTP/1.1.
        rc, out, err = curl("--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                            "http://127.0.0.1:%d/api/echo" % self.port)
        self.assertEqual((rc, out), (0, b"1.1 200"), err)
        headers = self.upstream.requests[0][2]
        self.assertNotIn("upgrade", headers)
        self.assertNotIn("http2-settings", headers)

    def test_translation_to_http11(self):
        c = self.h2()
        r = c.get("/api/echo", headers=[("cookie", "a=1"), ("cookie", "b=2"), ("x-forwarded-for", "10.1.2.3"),
                                         ("x-request-id", "rid-h2-1"), ("traceparent", "00-abc-def-01"),
                                         ("te", "trailers"), ("x-custom", "v")],
                  authority="svc.example:8080")
        got = self.echo(r)["headers"]
        self.assertEqual(got["host"], ["svc.example:8080"])
        self.assertEqual(got["cookie"], ["a=1; b=2"])
        self.assertEqual(got["x-forwarded-for"], ["10.1.2.3, 127.0.0.1"])
        self.assertEqual(got["x-forwarded-proto"], ["http"])
        self.assertEqual(got["x-request-id"], ["rid-h2-1"])
        self.assertEqual(got["traceparent"], ["00-abc-def-01"])
        self.assertEqual(got["x-custom"], ["v"])
        for h in HOP_BY_HOP:
            self.assertNotIn(h, got)
        self.assertFalse([k for k in got if k.startswith(":")])
        # Without an X-Request-Id one is generated, sent upstream and logged.
        got = self.echo(c.get("/api/echo"))["headers"]
        self.assertEqual(len(got["x-request-id"]), 1)
        ids = [e["request_id"] for e in self.bw.access_log(2)]
        self.assertIn(got["x-request-id"][0], ids)
        self.assertIn("rid-h2-1", ids)
        # The response carries no hop-by-hop header (a chunked upstream response included).
        r = c.get("/api/chunked")
        self.assertEqual((r.status, bytes(r.body)), (200, b"hello chunked world"))
        for k, _ in r.headers:
            self.assertNotIn(k, HOP_BY_HOP)

    def test_head_and_path_normalization(self):
        c = self.h2()
        r = c.response(c.request("HEAD", "/api/big/100"))
        # (The test upstream answers HEAD with Content-Length: 0; it passes through as sent.)
        self.assertEqual((r.status, r.header("content-length"), bytes(r.body), r.ended), (200, "0", b"", True))
        # §5's normalization applies to :path as to a request line; the query is never touched.
        r = c.get("/api/./x/../%65cho//?q=%2e")
        self.assertEqual(self.echo(r)["target"], "/api/echo/?q=%2e")
        self.assertEqual([q[0] for q in self.upstream.requests], ["HEAD", "GET"])

    def test_access_log_protocol_and_data_bytes(self):
        c = self.h2()
        body = os.urandom(1234)
        r = c.response(c.request("POST", "/api/big/777", body=body))
        self.assertEqual((r.status, len(r.body)), (200, 777))
        [e] = self.bw.access_log(1)
        self.assertEqual((e["protocol"], e["method"], e["path"], e["status"]), ("HTTP/2", "POST", "/api/big/777", 200))
        self.assertEqual((e["bytes_in"], e["bytes_out"]), (1234, 777))
        self.assertEqual(e["route"], "api")
        self.assertEqual(self.upstream.requests[0][3], body)

    def test_five_megabytes_both_ways_intact(self):
        c = self.h2()
        body = os.urandom(5 * 1000 * 1000)
        # With a content-length.
        r = c.response(c.request("POST", "/api/ok", headers=[("content-length", str(len(body)))], body=body))
        self.assertEqual((r.status, bytes(r.body)), (200, b"ok"), r)
        # Without one: the length is known only at END_STREAM.
        r = c.response(c.request("PUT", "/api/ok", body=body))
        self.assertEqual((r.status, bytes(r.body)), (200, b"ok"), r)
        self.assertEqual([(q[0], len(q[3]), hashlib.sha256(q[3]).digest()) for q in self.upstream.requests],
                         [(m, len(body), hashlib.sha256(body).digest()) for m in ("POST", "PUT")])
        # Nothing else reached the upstream (no request smuggled inside the body's framing).
        time.sleep(0.2)
        self.assertEqual(len(self.upstream.requests), 2)
        r = c.get("/api/big/5000000")
        self.assertEqual((r.status, len(r.body), set(bytes(r.body))), (200, 5000000, {ord("x")}))
        self.assertEqual(r.header("content-length"), "5000000")
        log = self.bw.access_log(3)
        self.assertEqual([(e["bytes_in"], e["bytes_out"]) for e in log],
                         [(len(body), 2), (len(body), 2), (0, 5000000)])


class Policies(H2Case):
    def problem(self, r, status, reason, route_name):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("x-breakwater"), reason)
        self.assertEqual(r.header("content-type"), "application/problem+json")
        doc = json.loads(bytes(r.body))
        self.assertEqual((doc["status"], doc["reason"], doc["route"]), (status, reason, route_name))
        return doc

    def test_kill_switch_and_route_not_found(self):
        c = self.h2()
        self.problem(c.get("/kill/x"), 503, "route_disabled", "kill")
        self.problem(c.get("/nowhere"), 404, "route_not_found", None)
        self.assertEqual(self.upstream.requests, [])
        log = self.bw.access_log(2)
        self.assertEqual(sorted((e["reason"], e["protocol"]) for e in log),
                         [("route_disabled", "HTTP/2"), ("route_not_found", "HTTP/2")])
        self.assertTrue(all(e["request_id"] for e in log))

    def test_rate_limit_per_stream(self):
        c = self.h2()
        sids = [c.request("GET", "/rl/ok") for _ in range(3)]  # three streams, one connection
        rs = [c.response(s) for s in sids]
        self.assertEqual(sorted(r.status for r in rs), [200, 200, 429])
        for r in rs:
            self.assertEqual(r.header("ratelimit-policy"), '"default";q=2;w=60')
            self.assertIsNotNone(r.header("ratelimit"))
        [limited] = [r for r in rs if r.status == 429]
        self.problem(limited, 429, "rate_limited", "rl")
        self.assertGreaterEqual(int(limited.header("retry-after")), 1)
        self.assertEqual(self.upstream.hits("/rl"), 2)

    def test_idempotency_replay(self):
        c = self.h2()
        h = [("idempotency-key", "k-h2-1")]
        r1 = c.response(c.request("POST", "/idem/seq/a", h, body=b"payload"))
        r2 = c.response(c.request("POST", "/idem/seq/a", h, body=b"payload"))
        self.assertEqual((r1.status, bytes(r1.body)), (201, b"call 1"))
        self.assertEqual((r2.status, bytes(r2.body)), (201, b"call 1"))
        self.assertIsNone(r1.header("idempotent-replayed"))
        self.assertEqual(r2.header("idempotent-replayed"), "true")
        self.assertEqual(r2.header("x-custom"), "kept")
        self.assertEqual(self.upstream.count("seq/a"), 1)
        r3 = c.response(c.request("POST", "/idem/seq/a", h, body=b"other"))
        self.problem(r3, 422, "idempotency_key_reused", "idem")

    def test_bulkhead_per_stream(self):
        c = self.h2()
        first = c.request("GET", "/bh/slow/1500")
        self.assertTrue(c.wait(lambda: self.upstream.hits("/bh") == 1, 5))
        second = c.request("GET", "/bh/ok")
        r2 = c.response(second)
        self.problem(r2, 503, "bulkhead_full", "bh")
        self.assertEqual(r2.header("retry-after"), "1")
        self.assertEqual(c.response(first).status, 200)
        self.assertEqual(self.upstream.hits("/bh"), 1)

    def test_retry_of_a_buffered_post(self):
        c = self.h2()
        body = os.urandom(60 * 1024)
        # A POST is retried when it carries an idempotency key (SPEC §3 step 6).
        r = c.response(c.request("POST", "/retry/fail/2/p", [("idempotency-key", "retry-1")], body=body))
        self.assertEqual(r.status, 200, r)
        posts = [q for q in self.upstream.requests if q[1].startswith("/retry")]
        self.assertEqual(len(posts), 3)
        self.assertTrue(all(q[0] == "POST" and q[3] == body for q in posts))
        [e] = self.bw.access_log(1)
        self.assertEqual((e["attempts"], e["bytes_in"]), (3, len(body)))


class ListenerKeys(H2Case):
    listener_extra = "http2 = false"

    def test_http2_false_does_not_speak_http2(self):
        from h2client import PREFACE
        data, closed = raw(self.port, PREFACE + settings_frame() + headers_frame(1, path="/api/ok"))
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data[:100])
        self.assertTrue(closed)
        self.assertEqual(self.upstream.requests, [])
        rc, out, err = curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                            "http://127.0.0.1:%d/api/ok" % self.port)
        self.assertNotEqual((rc, out), (0, b"200"))
        self.assertEqual(request(self.port, "GET", "/api/ok")[0], 200)


class TLS(H2Case):
    def setUp(self):
        self.certs = Certificates()
        self.listener_extra = 'tls_cert = "%s"\ntls_key = "%s"' % (self.certs.cert, self.certs.key)
        super().setUp()

    def test_alpn_h2_and_http11_on_one_tls_listener(self):
        c = self.h2(tls_ca=self.certs.ca)
        self.assertEqual(c.sock.selected_alpn_protocol(), "h2")
        got = self.echo(c.get("/api/echo"))["headers"]
        self.assertEqual(got["x-forwarded-proto"], ["https"])
        url = "https://localhost:%d/api/ok" % self.port
        res = "localhost:%d:127.0.0.1" % self.port
        rc, out, err = curl("--http2", "--cacert", self.certs.ca, "--resolve", res, "-o", "/dev/null",
                            "-w", "%{http_version} %{http_code}", url)
        self.assertEqual((rc, out), (0, b"2 200"), err)
        rc, out, err = curl("--http1.1", "--cacert", self.certs.ca, "--resolve", res, "-o", "/dev/null",
                            "-w", "%{http_version} %{http_code}", url)
        self.assertEqual((rc, out), (0, b"1.1 200"), err)
        # A client offering only http/1.1 gets it; a TLS client that offers no ALPN speaks HTTP/1.1.
        import ssl
        import socket
        ctx = ssl.create_default_context(cafile=self.certs.ca)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.port)), server_hostname="localhost") as s:
            self.assertEqual(s.selected_alpn_protocol(), "h2")  # both offered: h2 preferred
        ctx.set_alpn_protocols(["http/1.1"])
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.port)), server_hostname="localhost") as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
            s.sendall(b"GET /api/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:80])
        protocols = sorted(e["protocol"] for e in self.bw.access_log(4))
        self.assertEqual(protocols, ["HTTP/1.1", "HTTP/1.1", "HTTP/2", "HTTP/2"])


class TLSWithoutHTTP2(H2Case):
    def setUp(self):
        self.certs = Certificates()
        self.listener_extra = 'tls_cert = "%s"\ntls_key = "%s"\nhttp2 = false' % (self.certs.cert, self.certs.key)
        super().setUp()

    def test_alpn_never_selects_h2(self):
        import socket
        import ssl
        ctx = ssl.create_default_context(cafile=self.certs.ca)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.port)), server_hostname="localhost") as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        rc, out, err = curl("--http2", "--cacert", self.certs.ca, "--resolve", "localhost:%d:127.0.0.1" % self.port,
                            "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                            "https://localhost:%d/api/ok" % self.port)
        self.assertEqual((rc, out), (0, b"1.1 200"), err)


# ---------------------------------------------------------------- strictness

MALFORMED = {
    "connection header": [("connection", "keep-alive")],
    "keep-alive header": [("keep-alive", "timeout=5")],
    "proxy-connection header": [("proxy-connection", "keep-alive")],
    "transfer-encoding": [("transfer-encoding", "chunked")],
    "upgrade": [("upgrade", "websocket")],
    "te gzip": [("te", "gzip")],
    "upper-case name": [("X-Upper", "1")],
    "CR LF in a value": [("x-a", "v\r\nGET /smuggled HTTP/1.1")],
    "LF in a value": [("x-a", "v\nx-b: smuggled")],
    "CR in a value": [("x-a", "v\rx")],
    "NUL in a value": [("x-a", "v\x00x")],
}

P = lambda m="GET", s="http", a="localhost", p="/api/echo": [(":method", m), (":scheme", s), (":authority", a),
                                                             (":path", p)]
MALFORMED_PSEUDO = {
    "no :method": P()[1:],
    "no :path": P()[:3],
    "no :scheme": [P()[0]] + P()[2:],
    "two :path": P() + [(":path", "/api/other")],
    "two :method": P() + [(":method", "POST")],
    "unknown pseudo": P() + [(":foo", "bar")],
    "pseudo after a field": P()[:3] + [("x-a", "1"), (":path", "/api/echo")],
    "response pseudo": P() + [(":status", "200")],
}


class Strictness(H2Case):
    def malformed(self, headers, pseudo=None, body=None, cl=None):
        c = self.h2(validate=False)
        extra = [("content-length", str(cl))] if cl is not None else []
        sid = c.request("POST" if body else "GET", "/api/echo", extra + list(headers), body=body, pseudo=pseudo)
        r = c.response(sid)
        return c, r

    def assert_refused(self, r, what):
        self.assertIsNone(r.status, "%s: %r" % (what, r))
        self.assertEqual(r.reset, PROTOCOL_ERROR, "%s: %r" % (what, r))

    def test_malformed_fields_are_reset_and_never_forwarded(self):
        for what, headers in MALFORMED.items():
            with self.subTest(what):
                c, r = self.malformed(headers)
                self.assert_refused(r, what)
                # The connection lives on: the next stream on it is served.
                self.assertEqual(c.get("/api/ok").status, 200, what)
        time.sleep(0.2)
        self.assertEqual([q[1] for q in self.upstream.requests], ["/api/ok"] * len(MALFORMED))

    def test_malformed_pseudo_headers_are_reset_and_never_forwarded(self):
        for what, pseudo in MALFORMED_PSEUDO.items():
            with self.subTest(what):
                _, r = self.malformed([], pseudo=pseudo)
                self.assert_refused(r, what)
        time.sleep(0.2)
        self.assertEqual(self.upstream.requests, [])
        self.assert_served()

    def test_content_length_disagreeing_with_data(self):
        for what, cl, body in (("longer data", 5, b"0123456789"), ("shorter data", 10, b"01234"),
                               ("data without length", 0, b"x")):
            with self.subTest(what):
                _, r = self.malformed([], body=body, cl=cl)
                self.assert_refused(r, what)
        time.sleep(0.2)
        self.assertEqual(self.upstream.requests, [])
        self.assert_served()

    def test_content_length_lie_on_a_streamed_body(self):
        # Past 64 KiB the body streams upstream. The declared length is reached exactly,
        # then more DATA comes: the upstream must not have received a complete request.
        c = self.h2(validate=False)
        declared = 100 * 1024
        sid = c.request("POST", "/api/echo", [("content-length", str(declared))], body=b"a" * declared, end=False)
        c.send_body(sid, b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", end=True)
        r = c.response(sid)
        self.assert_refused(r, "data past content-length")
        # And the same with the DATA ending short of the declared length.
        c2 = self.h2(validate=False)
        r = c2.response(c2.request("POST", "/api/echo", [("content-length", str(declared + 1))], body=b"b" * declared))
        self.assert_refused(r, "data short of content-length")
        time.sleep(0.3)
        # Streamed bodies leave before the lie shows: what reached the upstream is a request cut
        # short (fewer body bytes than its Content-Length, the connection then closed), never a
        # complete one, and nothing after it.
        seen = [(q[1], len(q[3]), int(q[2]["content-length"][0])) for q in self.upstream.requests]
        self.assertTrue(all(path == "/api/echo" and got < cl for path, got, cl in seen), seen)
        self.assertLessEqual(len(seen), 2)
        self.assert_served()

    def test_connect_gets_405(self):
        c = self.h2(validate=False)
        r = c.response(c.request("CONNECT", None, pseudo=[(":method", "CONNECT"), (":authority", "example.com:443")]))
        self.assertEqual((r.status, r.header("x-breakwater")), (405, "method_not_allowed"), r)
        self.assertEqual(json.loads(bytes(r.body))["reason"], "method_not_allowed")
        self.assertEqual(self.upstream.requests, [])

    def test_header_block_over_64k_gets_431(self):
        c = self.h2(validate=False)
        headers = [("x-big-%d" % i, "v" * 3000) for i in range(25)]  # ~75 KiB
        r = c.response(c.request("GET", "/api/echo", headers))
        self.assertEqual((r.status, r.header("x-breakwater")), (431, "header_too_large"), r)
        # Just under the limit passes.
        r = c.get("/api/echo", headers=[("x-big-%d" % i, "v" * 3000) for i in range(20)])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(self.upstream.requests), 1)


class ConcurrentStreams(H2Case):
    listener_extra = "max_concurrent_streams = 4"

    def check_refused(self, c, sids):
        c.read(10, until=lambda: len(c.statuses()) + len(c.resets()) >= len(sids) and
               all(any(f[0] in (0, 1) and f[2] == s and f[1] & END_STREAM for f in c.frames)
                   for s in c.statuses()))
        statuses, resets = c.statuses(), c.resets()
        self.assertIsNone(c.goaway(), "no connection error")
        self.assertEqual(sorted(statuses.values()), [200] * 4)
        self.assertEqual(sorted(resets.values()), [REFUSED_STREAM] * (len(sids) - 4))
        self.assertEqual(set(statuses) | set(resets), set(sids))

    def test_extra_streams_refused_before_settings_ack(self):
        c = self.raw()
        sids = list(range(1, 2 * 7, 2))
        c.send(b"".join(c.headers(s, path="/api/slow/700") for s in sids))
        self.check_refused(c, sids)
        self.assertEqual(self.upstream.hits("/api/slow"), 4)

    # nghttp2 1.52 alone would make this a connection error (GOAWAY(PROTOCOL_ERROR)): breakwater
    # refuses the extra streams itself (H2Connection::on_begin_headers).
    def test_extra_streams_refused_after_settings_ack(self):
        c = self.raw()
        c.send(frame(PING, 0, 0, b"12345678"))
        c.read(5, until=lambda: any(f[0] == PING for f in c.frames))  # our SETTINGS ACK went before it
        sids = list(range(1, 2 * 7, 2))
        c.send(b"".join(c.headers(s, path="/api/slow/700") for s in sids))
        self.check_refused(c, sids)


# ---------------------------------------------------------------- floods

class Floods(H2Case):
    def bystander(self):
        c = self.h2()
        self.assertEqual(c.get("/api/ok").status, 200)
        return c

    def assert_calm(self, c, bystander, code=ENHANCE_YOUR_CALM):
        self.assertTrue(c.read_until_closed(5), "the flooding connection is closed")
        self.assertEqual(c.goaway() and c.goaway()[0], code, c.frames[-3:])
        self.assertEqual(self.bw.metric("breakwater_http2_goaways_total", reason="enhance_your_calm"
                                        if code == ENHANCE_YOUR_CALM else "protocol_error"), 1)
        r = bystander.get("/api/ok")  # the other connection did not notice
        self.assertEqual((r.status, bytes(r.body)), (200, b"ok"))
        self.assert_served()
        self.assertIsNone(self.bw.proc.poll())

    def test_rapid_reset(self):
        b = self.bystander()
        c = self.raw()
        rss0 = rss_kib(self.bw.proc.pid)
        batch = b""
        for i in range(5000):
            sid = 2 * i + 1
            batch += c.headers(sid, path="/api/ok") + rst_frame(sid, CANCEL)
            if i % 100 == 99:
                if not c.send(batch):
                    break
                batch = b""
        self.assert_calm(c, b)
        self.assertLess(self.upstream.hits("/api/ok"), 1000)
        self.assertLess(rss_kib(self.bw.proc.pid) - rss0, 64 * 1024, "memory stays bounded")

    def test_ping_flood(self):
        b = self.bystander()
        c = self.raw()
        c.send(b"".join(frame(PING, 0, 0, b"%08d" % i) for i in range(5000)))
        self.assert_calm(c, b)

    def test_settings_flood(self):
        b = self.bystander()
        c = self.raw()
        c.send(b"".join(settings_frame([(4, 65535 + i % 7)]) for i in range(5000)))
        self.assert_calm(c, b)

    def test_continuation_flood(self):
        b = self.bystander()
        c = self.raw()
        enc = c.enc
        data = frame(HEADERS, 0, 1, c.block(path="/api/ok"))
        for i in range(3000):
            data += frame(CONTINUATION, 0, 1, enc.encode([("x-c%d" % i, "y" * 20)]))
        c.send(data)
        self.assert_calm(c, b)
        self.assertEqual(self.upstream.hits("/api/ok"), 4)  # the bystanders' only

    def test_repeated_protocol_errors(self):
        b = self.bystander()
        c = self.raw()
        data = b""
        for i in range(1000):
            data += frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1,
                          c.block(path="/api/ok", headers=[("connection", "close")]))
        c.send(data)
        self.assert_calm(c, b)
        self.assertEqual(self.upstream.hits("/api/ok"), 4)  # the bystanders' only

    def test_connection_error_gets_goaway_protocol_error(self):
        b = self.bystander()
        c = self.raw()
        c.send(frame(0, END_STREAM, 0, b"data on stream 0"))  # DATA on stream 0: a connection error
        self.assertTrue(c.read_until_closed(5))
        self.assertEqual(c.goaway() and c.goaway()[0], PROTOCOL_ERROR)
        self.assertEqual(self.bw.metric("breakwater_http2_goaways_total", reason="protocol_error"), 1)
        self.assertEqual(self.bw.metric("breakwater_http2_goaways_total", reason="enhance_your_calm"), 0)
        self.assertEqual(b.get("/api/ok").status, 200)

    def test_memory_stays_bounded_under_repeated_floods(self):
        rss0 = rss_kib(self.bw.proc.pid)
        for round_ in range(5):
            c = self.raw()
            data = b""
            for i in range(2000):
                data += c.headers(2 * i + 1, path="/kill/x") + rst_frame(2 * i + 1, CANCEL)
            c.send(data)
            self.assertTrue(c.read_until_closed(5))
            c.close()
        self.assertEqual(self.bw.metric("breakwater_http2_goaways_total", reason="enhance_your_calm"), 5)
        self.assertLess(rss_kib(self.bw.proc.pid) - rss0, 64 * 1024)
        self.assert_served()


# ---------------------------------------------------------------- drain

class Drain(H2Case):
    def test_sigterm_sends_goaway_and_in_flight_streams_finish(self):
        # Bare frames: python3-h2 refuses every frame that follows a GOAWAY, which a drain is all about.
        c = self.raw()
        c.send(c.headers(1, path="/api/slow/1500"))
        self.assertTrue(self.wait_for(lambda: self.upstream.hits("/api/slow") == 1))
        self.bw.proc.send_signal(signal.SIGTERM)
        c.read(5, until=lambda: c.goaway() is not None)
        self.assertEqual(c.goaway(), (NO_ERROR, 1), "GOAWAY(NO_ERROR) naming the stream in flight")
        # The admin listener stays up while draining.
        self.assertEqual(self.bw.admin("/ready")[0], 503)
        self.assertEqual(self.bw.metric("breakwater_http2_goaways_total", reason="drain"), 1)
        self.assertEqual(self.bw.metric("breakwater_http2_goaways_total", reason="protocol_error"), 0)
        self.assertEqual(c.statuses(), {})  # still in flight
        self.assertTrue(c.read_until_closed(10))
        self.assertEqual(c.statuses(), {1: 200})
        data = [f for f in c.frames if f[0] == 0 and f[2] == 1]
        self.assertEqual(b"".join(f[3] for f in data), b"ok")
        self.assertTrue(data[-1][1] & END_STREAM)
        self.assertEqual(c.resets(), {})
        self.assertEqual(self.bw.proc.wait(10), 0)
        self.assertEqual(len(self.upstream.requests), 1)

    def wait_for(self, cond, timeout=5):
        deadline = time.time() + timeout
        while not cond() and time.time() < deadline:
            time.sleep(0.01)
        return cond()


if __name__ == "__main__":
    unittest.main()

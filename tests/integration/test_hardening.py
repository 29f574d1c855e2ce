"""What a hostile review found (SPEC §1, §2, §5, §7): the admin listener's
limits, path normalization before routing, Host validation, X-Request-Id named
in Connection, and config values whose arithmetic overflows. Each test fails on
the code before its fix."""
import os
import select
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BINARY, ProxyTestCase, base_config, free_port, parse_responses, raw, route

ROUTES = """
[[route]]
name = "admin"
listener = "in"
upstream = "app"
match = { path_prefix = "/admin" }
enabled = false

[[route]]
name = "all"
listener = "in"
upstream = "app"
timeout = "2s"
"""

ADMIN_SPELLINGS = ["/admin", "/./admin", "/x/../admin", "/%61dmin", "//admin", "/%2e/admin", "/x/%2E%2E/admin",
                   "/%61%64%6d%69%6E/x", "///admin//x/", "/admin/.", "/a/b/../../admin?x=/../y"]


def one_response(port, data):
    out, _ = raw(port, data)
    resps = parse_responses(out)
    if len(resps) != 1:
        raise AssertionError("expected one response, got %r" % out)
    return resps[0]


class PathNormalization(ProxyTestCase):
    routes = ROUTES

    def admin_hits(self):
        return [r[1] for r in self.upstream.requests if "admin" in r[1] or "%61" in r[1].lower()]

    def test_no_spelling_of_a_disabled_path_reaches_the_upstream(self):
        for target in ADMIN_SPELLINGS:
            with self.subTest(target=target):
                st, h, _ = one_response(self.port, ("GET %s HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n"
                                                    % target).encode())
                self.assertEqual((st, h.get("x-breakwater")), (503, "route_disabled"))
        self.assertEqual(self.admin_hits(), [])

    def test_a_fragment_is_a_bad_request(self):
        for target in ["/admin#x", "/ok#", "/ok?a=1#frag", "http://svc/admin#x"]:
            with self.subTest(target=target):
                st, h, _ = one_response(self.port, ("GET %s HTTP/1.1\r\nHost: svc\r\n\r\n" % target).encode())
                self.assertEqual((st, h.get("x-breakwater")), (400, "bad_request"))
        self.assertEqual(self.upstream.requests, [])

    def test_the_upstream_receives_the_normalized_path_and_the_query_as_sent(self):
        cases = {
            "/api/./v1//%7Eusers/../items?q=/../x%61&r=//": "/api/v1/items?q=/../x%61&r=//",
            "/%41b%63/%2e%2E/d": "/d",
            "/keep%2F..%2Fadmin": "/keep%2F..%2Fadmin",   # an encoded slash stays as sent
            "/keep%5C..%5Cadmin": "/keep%5C..%5Cadmin",   # so does an encoded backslash
            "/sp%20ace/%zz": "/sp%20ace/%zz",
            "http://svc//abs/./x?y=%2e": "/abs/x?y=%2e",
        }
        for target, want in cases.items():
            with self.subTest(target=target):
                rid = "norm-%d" % len(self.upstream.requests)
                st, _, _ = one_response(self.port, ("GET %s HTTP/1.1\r\nHost: svc\r\nX-Request-Id: %s\r\n"
                                                    "Connection: close\r\n\r\n" % (target, rid)).encode())
                self.assertEqual(st, 200)
                self.assertEqual(self.upstream.requests[-1][1], want)
                entry = [e for e in self.bw.access_log(at_least=len(self.upstream.requests))
                         if e["request_id"] == rid]
                self.assertEqual([e["path"] for e in entry], [want])

    def test_an_invalid_host_or_authority_is_a_bad_request(self):
        heads = [
            "GET / HTTP/1.1\r\nHost: \r\n\r\n",
            "GET / HTTP/1.1\r\nHost: evil.example/admin\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: svc:http\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: svc:65536\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
            "GET http://svc:99999/ HTTP/1.1\r\nHost: svc\r\n\r\n",
            "GET http://sv%c/ HTTP/1.1\r\nHost: svc\r\n\r\n",
            "GET http://:80/ HTTP/1.1\r\nHost: svc\r\n\r\n",
        ]
        for data in heads:
            with self.subTest(head=data):
                out, closed = raw(self.port, data.encode())
                resps = parse_responses(out)
                self.assertEqual(len(resps), 1, out)
                self.assertEqual((resps[0][0], resps[0][1].get("x-breakwater")), (400, "bad_request"))
                self.assertTrue(closed)
        self.assertEqual(self.upstream.requests, [])
        for host in ["svc", "svc:8080", "127.0.0.1:1", "[::1]:8080", "Pay.Example"]:
            with self.subTest(host=host):
                st, _, _ = one_response(self.port, ("GET /ok HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                                                    % host).encode())
                self.assertEqual(st, 200)


class RequestIdInConnection(ProxyTestCase):
    def test_a_request_id_named_in_connection_is_still_sent(self):
        st, _, _ = one_response(self.port, b"GET /echo HTTP/1.1\r\nHost: svc\r\nConnection: close, X-Request-Id\r\n"
                                           b"X-Request-Id: client-id-42\r\n\r\n")
        self.assertEqual(st, 200)
        headers = self.upstream.requests[-1][2]
        self.assertEqual(headers.get("x-request-id"), ["client-id-42"])
        self.assertNotIn("connection", headers)
        log = [e for e in self.bw.access_log() if e["path"] == "/echo"]
        self.assertEqual([e["request_id"] for e in log], ["client-id-42"])

    def test_a_generated_id_is_the_one_logged(self):
        st, _, _ = one_response(self.port, b"GET /echo HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
        self.assertEqual(st, 200)
        sent = self.upstream.requests[-1][2].get("x-request-id")
        self.assertEqual(len(sent), 1)
        log = self.bw.access_log()
        self.assertEqual(log[-1]["request_id"], sent[0])


def closed_within(socks, seconds):
    """The sockets among `socks` whose peer closed (EOF or reset) within `seconds`."""
    pending, closed = set(socks), set()
    deadline = time.monotonic() + seconds
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select(list(pending), [], [], left)
        for s in ready:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed.add(s)
            pending.discard(s)  # anything but EOF would be a bug the caller sees as "not closed"
    return closed


class AdminLimits(ProxyTestCase):
    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.admin_port), timeout=5)
        self.socks.append(s)
        return s

    def setUp(self):
        super().setUp()
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        super().tearDown()

    def live(self):
        s = self.connect()
        data = b""
        try:
            s.sendall(b"GET /live HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
        except OSError:
            pass
        return parse_responses(data)[0][0] if data else None

    def test_at_most_256_connections_and_live_answers_when_one_frees(self):
        time.sleep(0.2)  # the readiness check's connection has ended
        held = [self.connect() for _ in range(300)]
        closed = closed_within(held, 3.0)
        still_open = [s for s in held if s not in closed]
        self.assertLessEqual(len(still_open), 256)
        self.assertGreaterEqual(len(still_open), 250)
        # The full listener turns a newcomer away at once instead of letting it wait.
        t0 = time.monotonic()
        self.assertIsNone(self.live())
        self.assertLess(time.monotonic() - t0, 3.0)
        # Those held are served: free some and /live answers.
        for s in still_open[:10]:
            s.close()
        deadline = time.monotonic() + 5
        status = None
        while status != 200 and time.monotonic() < deadline:
            status = self.live()
            if status != 200:
                time.sleep(0.05)
        self.assertEqual(status, 200)
        # A held connection still works: it was kept, not dropped.
        s = still_open[-1]
        s.sendall(b"GET /live HTTP/1.1\r\nHost: admin\r\n\r\n")
        self.assertIn(b"200 OK", s.recv(4096))

    def test_a_slow_header_is_closed_after_the_header_timeout(self):
        slow = self.connect()
        slow.sendall(b"GET /live HTTP/1.1\r\nHost: admin\r\n")  # never finished
        idle = self.connect()  # sends nothing: only the 60s idle timeout applies
        t0 = time.monotonic()
        self.assertEqual(closed_within([slow], 9.0), set())  # not before header_timeout (10s)
        self.assertEqual(closed_within([slow], 6.0), {slow})  # ... but soon after it
        self.assertGreaterEqual(time.monotonic() - t0, 9.0)
        self.assertEqual(closed_within([idle], 0.1), set())
        idle.sendall(b"GET /live HTTP/1.1\r\nHost: admin\r\n\r\n")
        self.assertIn(b"200 OK", idle.recv(4096))


class ConfigArithmetic(unittest.TestCase):
    def test_check_config_and_start_refuse_an_overflowing_rate_at_its_line(self):
        routes = route("r", "/", '[route.rate_limit]\nrate = 1e-9\nper = "24h"\n')
        text = base_config(free_port(), free_port(), free_port(), routes)
        line = next(i for i, l in enumerate(text.split("\n"), 1) if l.startswith("rate = "))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bw.toml")
            with open(path, "w") as f:
                f.write(text)
            want = ("%s:%d:8: 'rate' is too low for 'per': one request every 8.64e+19us is beyond the rate "
                    "limiter's range (1e+15us, about 31 years)" % (path, line))
            r = subprocess.run([BINARY, "--check-config", path], capture_output=True, text=True, timeout=10)
            self.assertEqual((r.returncode, r.stdout, r.stderr.strip()), (1, "", want))
            r = subprocess.run([BINARY, "--config", path], capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 1)
            self.assertIn(want, r.stderr)


if __name__ == "__main__":
    unittest.main()

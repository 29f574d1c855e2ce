"""What a hostile review found (SPEC §1, §5): path normalization before routing,
Host validation, and X-Request-Id named in Connection. Each test fails on the
code before its fix."""
import unittest

from harness import ProxyTestCase, parse_responses, raw

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


if __name__ == "__main__":
    unittest.main()

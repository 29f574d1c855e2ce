"""Route matching (SPEC §2) and absolute-form targets (SPEC §5), through the real binary."""
import itertools
import time
import unittest

from harness import ProxyTestCase, raw, parse_responses, request

ROUTES = """
[[route]]
name = "orders"
listener = "in"
upstream = "app"
match = { path_prefix = "/orders" }

[[route]]
name = "orders-write"
listener = "in"
upstream = "app"
match = { path_prefix = "/orders", methods = ["POST", "PUT"] }

[[route]]
name = "orders-deep"
listener = "in"
upstream = "app"
match = { path_prefix = "/orders/special" }

[[route]]
name = "exact"
listener = "in"
upstream = "app"
match = { path = "/orders/special" }

[[route]]
name = "host-any"
listener = "in"
upstream = "app"
match = { host = "payments" }

[[route]]
name = "host-orders"
listener = "in"
upstream = "app"
match = { host = "payments", path_prefix = "/orders" }

[[route]]
name = "canary"
listener = "in"
upstream = "app"
match = { path_prefix = "/orders", headers = { x-canary = "1" } }

[[route]]
name = "root"
listener = "in"
upstream = "app"
match = { path_prefix = "/" }
"""

_ids = itertools.count()


class Routing(ProxyTestCase):
    routes = ROUTES

    def route_of(self, method, target, host="svc", headers=None):
        rid = "rid-%d" % next(_ids)
        h = {"Host": host, "X-Request-Id": rid}
        h.update(headers or {})
        data = "%s %s HTTP/1.1\r\n%s\r\nConnection: close\r\n\r\n" % (
            method, target, "".join("%s: %s\r\n" % kv for kv in h.items()))
        raw(self.port, data.encode())
        for _ in range(50):
            hits = [l for l in self.bw.access_log() if l["request_id"] == rid]
            if hits:
                return hits[0]["route"]
            time.sleep(0.02)
        self.fail("no access log line for " + rid)

    def test_longest_prefix_segment_aware(self):
        self.assertEqual(self.route_of("GET", "/orders"), "orders")
        self.assertEqual(self.route_of("GET", "/orders/7"), "orders")
        self.assertEqual(self.route_of("GET", "/orders?x=1"), "orders")
        self.assertEqual(self.route_of("GET", "/ordersx"), "root")
        self.assertEqual(self.route_of("GET", "/orders/special/1"), "orders-deep")
        self.assertEqual(self.route_of("GET", "/orders/specialx"), "orders")

    def test_exact_path_beats_prefix_of_same_length(self):
        self.assertEqual(self.route_of("GET", "/orders/special"), "exact")
        self.assertEqual(self.route_of("GET", "/orders/special?q=1"), "exact")

    def test_methods_and_file_order(self):
        # "orders" comes first in the file and matches every method at the same length.
        self.assertEqual(self.route_of("POST", "/orders/1"), "orders")

    def test_host_beats_none_case_insensitive_port_ignored(self):
        self.assertEqual(self.route_of("GET", "/orders/1", host="PAYMENTS:8080"), "host-orders")
        self.assertEqual(self.route_of("GET", "/other", host="payments"), "host-any")
        self.assertEqual(self.route_of("GET", "/other", host="elsewhere"), "root")

    def test_absolute_form_authority_replaces_host(self):
        self.assertEqual(self.route_of("GET", "http://payments/charge", host="ignored"), "host-any")
        self.assertEqual(self.route_of("GET", "http://Payments:80/orders/1?x=2", host="ignored"), "host-orders")
        # the upstream receives origin-form and the authority as Host
        last = self.upstream.requests[-1]
        self.assertEqual(last[1], "/orders/1?x=2")
        self.assertEqual(last[2]["host"], ["Payments:80"])


class HeaderMatch(ProxyTestCase):
    routes = """
[[route]]
name = "canary"
listener = "in"
upstream = "app"
match = { path_prefix = "/a", headers = { x-canary = "1" } }

[[route]]
name = "main"
listener = "in"
upstream = "app"
match = { path_prefix = "/a" }
"""

    def test_headers_exact_value(self):
        route_of = Routing.route_of
        self.assertEqual(route_of(self, "GET", "/a", headers={"X-Canary": "1"}), "canary")
        self.assertEqual(route_of(self, "GET", "/a", headers={"X-Canary": "2"}), "main")
        self.assertEqual(route_of(self, "GET", "/a"), "main")


class NoMatchRoute(ProxyTestCase):
    routes = """
[[route]]
name = "only-get"
listener = "in"
upstream = "app"
match = { methods = ["GET"] }
host_rewrite = "internal.svc"
"""

    def test_no_match_table_and_host_rewrite(self):
        st, _, _ = request(self.port, "GET", "/anything/at/all")
        self.assertEqual(st, 200)
        self.assertEqual(self.upstream.requests[-1][2]["host"], ["internal.svc"])
        st, h, _ = request(self.port, "DELETE", "/x")
        self.assertEqual((st, h["x-breakwater"]), (404, "route_not_found"))


if __name__ == "__main__":
    unittest.main()

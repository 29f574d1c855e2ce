"""The status page's data, GET /stats, and the page itself, GET / (SPEC §7):
known traffic of every outcome class, counted exactly (summed over the window,
so it does not matter which second a request fell in), the breaker's state and
since when, the store's backend and health, 300 seconds oldest first, p99 null
in a second without answers."""
import json
import math
import re
import time
import unittest

from harness import ProxyTestCase, RedisServer, free_port, request, route

CLASSES = ("success", "client_error", "server_error", "rejected")

BREAKER = """
[route.circuit_breaker]
window = "count"
window_size = 4
minimum_calls = 4
failure_rate_threshold = 50
open_duration = "5m"
open_duration_max = "10m"
"""

LIMIT = """
[route.rate_limit]
rate = 2
per = "1h"
burst = 2
key = ["route"]
"""

QUIET = """
[route.bulkhead]
max_concurrent = 7

[route.retry]
max_attempts = 2
"""

ROUTES = (route("mixed", "/mixed") + route("limited", "/limited", LIMIT) + route("breaker", "/breaker", BREAKER) +
          route("quiet", "/quiet", QUIET) + route("dead", "/dead", upstream="dead"))


def totals(r):
    """{class: answers summed over the whole window} of one /stats route."""
    return {c: sum(r["series"][c]) for c in CLASSES}


class StatsTestCase(ProxyTestCase):
    routes = ROUTES

    def setUp(self):
        # A port nothing listens on: every attempt there is a connect failure (502 upstream_unavailable).
        self.extra = f'[upstream.dead]\nendpoints = ["127.0.0.1:{free_port()}"]\nconnect_timeout = "500ms"\n'
        super().setUp()

    def stats(self):
        st, body = self.bw.admin("/stats")
        self.assertEqual(st, 200)
        return json.loads(body)

    def routes_by_name(self, stats):
        return {r["name"]: r for r in stats["routes"]}

    def wait_totals(self, want, timeout=10.0):
        """The /stats routes once their window totals are `want` ({route: {class: n}}): an answer is
        recorded just after its last byte is written, so the client may see it a moment before
        /stats does. Returns the last /stats read, equal or not, for the caller to assert on."""
        deadline = time.time() + timeout
        while True:
            s = self.stats()
            got = {name: totals(r) for name, r in self.routes_by_name(s).items() if name in want}
            if got == want or time.time() > deadline:
                return s

    def send(self, path, n, status, reason=None):
        for _ in range(n):
            st, h, _ = self.get(path)
            self.assertEqual(st, status, path)
            self.assertEqual(h.get("x-breakwater"), reason, path)


class Stats(StatsTestCase):
    def test_known_traffic_counted_exactly_by_outcome_class(self):
        self.send("/mixed/ok", 7, 200)
        self.send("/mixed/status/302", 1, 302)                   # 3xx is a success
        self.send("/mixed/status/404", 3, 404)                   # forwarded 4xx
        self.send("/mixed/status/500", 2, 500)                   # forwarded 5xx
        self.send("/dead/ok", 2, 502, "upstream_unavailable")     # upstream_*: a server error
        self.send("/limited/ok", 2, 200)
        self.send("/limited/ok", 3, 429, "rate_limited")          # made by breakwater: rejected
        self.send("/breaker/status/503", 3, 503)
        before = time.time()
        self.send("/breaker/status/503", 1, 503)                 # the 4th failure of 4 opens the breaker
        after = time.time()
        self.send("/breaker/ok", 3, 503, "circuit_open")

        want = {
            "mixed": {"success": 8, "client_error": 3, "server_error": 2, "rejected": 0},
            "dead": {"success": 0, "client_error": 0, "server_error": 2, "rejected": 0},
            "limited": {"success": 2, "client_error": 0, "server_error": 0, "rejected": 3},
            "breaker": {"success": 0, "client_error": 0, "server_error": 4, "rejected": 3},
            "quiet": {"success": 0, "client_error": 0, "server_error": 0, "rejected": 0},
        }
        s = self.wait_totals(want)
        routes = self.routes_by_name(s)
        self.assertEqual([r["name"] for r in s["routes"]], ["mixed", "limited", "breaker", "quiet", "dead"],
                         "routes in config order")
        self.assertEqual({name: totals(r) for name, r in routes.items()}, want)

        # The same answers as breakwater_requests_total, route by route.
        metrics = self.bw.metrics()
        for name in want:
            counted = sum(v for (metric, labels), v in metrics.items()
                          if metric == "breakwater_requests_total" and ("route", name) in labels)
            self.assertEqual(sum(want[name].values()), counted, name)

        # The breaker: its state as /routes says it, since the second it opened.
        b = routes["breaker"]
        self.assertEqual(b["circuit_state"], "open")
        self.assertEqual(b["circuit_state"],
                         json.loads(self.bw.admin("/routes")[1])["routes"][2]["circuit_breaker"]["state"])
        self.assertIsInstance(b["circuit_since"], int)
        self.assertGreaterEqual(b["circuit_since"], math.floor(before) - 1)
        self.assertLessEqual(b["circuit_since"], math.ceil(after) + 1)
        self.assertLessEqual(b["circuit_since"], s["now"])
        for name in ("mixed", "limited", "quiet", "dead"):
            self.assertIsNone(routes[name]["circuit_state"], name)
            self.assertIsNone(routes[name]["circuit_since"], name)

        # Fields the page draws besides the series (added to SPEC's, none renamed).
        self.assertEqual(routes["limited"]["rejected_total"], {"rate_limited": 3})
        self.assertEqual(routes["breaker"]["rejected_total"], {"circuit_open": 3})
        self.assertEqual(routes["mixed"]["rejected_total"], {})
        self.assertEqual(routes["quiet"]["bulkhead"], {"in_use": 0, "queued": 0, "max_concurrent": 7})
        self.assertIsNone(routes["mixed"]["bulkhead"])
        self.assertGreater(routes["quiet"]["retry_budget"]["available"], 0)
        self.assertIsNone(routes["mixed"]["retry_budget"])
        self.assertEqual((routes["dead"]["listener"], routes["dead"]["upstream"], routes["dead"]["enabled"]),
                         ("in", "dead", True))

    def test_window_shape_300_seconds_oldest_first_p99_null_when_idle(self):
        self.send("/mixed/ok", 5, 200)
        self.send("/limited/ok", 2, 200)
        s = self.wait_totals({"mixed": {"success": 5, "client_error": 0, "server_error": 0, "rejected": 0}})
        self.assertIsInstance(s["now"], int)
        self.assertLess(abs(s["now"] - time.time()), 5, "now is UNIX seconds")
        self.assertEqual(s["store"], {"backend": "memory", "healthy": True})
        for r in s["routes"]:
            series = r["series"]
            self.assertEqual(sorted(series), sorted(("t", "p99_ms") + CLASSES))
            for values in series.values():
                self.assertEqual(len(values), 300, r["name"])
            self.assertEqual(series["t"], list(range(s["now"] - 299, s["now"] + 1)), "one a second, oldest first")
            for i in range(300):
                answers = sum(series[c][i] for c in CLASSES)
                p99 = series["p99_ms"][i]
                if answers == 0:
                    self.assertIsNone(p99, "%s: a second without requests has no p99" % r["name"])
                else:
                    self.assertIsInstance(p99, (int, float))
                    self.assertGreater(p99, 0)
                    self.assertLessEqual(p99, 10000)  # the histogram's last bound
        routes = self.routes_by_name(s)
        self.assertEqual(routes["quiet"]["series"]["p99_ms"], [None] * 300)
        self.assertTrue(any(p is not None for p in routes["mixed"]["series"]["p99_ms"]))

    def test_series_survive_a_reload_and_a_new_route_starts_empty(self):
        self.send("/mixed/status/404", 2, 404)
        want = {"mixed": {"success": 0, "client_error": 2, "server_error": 0, "rejected": 0}}
        self.assertEqual(totals(self.routes_by_name(self.wait_totals(want))["mixed"]), want["mixed"])
        self.bw.reload(self.config(routes=ROUTES + route("added", "/added")))
        deadline = time.time() + 10
        while "added" not in self.routes_by_name(self.stats()) and time.time() < deadline:
            time.sleep(0.05)
        routes = self.routes_by_name(self.stats())
        self.assertEqual(totals(routes["mixed"]), want["mixed"], "the series is keyed by route name")
        self.assertEqual(totals(routes["added"]), dict.fromkeys(CLASSES, 0))

    def test_page_is_one_self_contained_document(self):
        c_status, headers, body = request(self.admin_port, "GET", "/")
        page = body.decode()
        self.assertEqual(c_status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn("default-src 'none'", headers["content-security-policy"])  # the browser enforces it
        self.assertTrue(page.startswith("<!doctype html>"))
        self.assertIn('fetch("stats"', page)
        self.assertNotRegex(page, r"https?://|<link\b|@import|\bsrc\s*=", "nothing loaded from anywhere else")
        self.assertIn('name="viewport"', page)
        st, h, _ = request(self.admin_port, "HEAD", "/")
        self.assertEqual((st, h["content-length"]), (200, str(len(body))))


class StoreHealth(StatsTestCase):
    routes = route("r", "/r")

    def setUp(self):
        self.redis = RedisServer()
        super().setUp()

    def config(self, **kw):
        kw.setdefault("extra", f'[store]\nbackend = "redis"\nurl = "{self.redis.url()}"\ntimeout = "200ms"\n')
        return super().config(**kw)

    def tearDown(self):
        super().tearDown()
        self.redis.stop()

    def store_becomes(self, want, timeout=10.0):
        deadline = time.time() + timeout
        while self.stats()["store"] != want and time.time() < deadline:
            time.sleep(0.05)
        return self.stats()["store"]

    def test_store_health_follows_redis(self):
        self.assertEqual(self.store_becomes({"backend": "redis", "healthy": True}),
                         {"backend": "redis", "healthy": True})
        self.redis.stop()
        self.assertEqual(self.store_becomes({"backend": "redis", "healthy": False}),
                         {"backend": "redis", "healthy": False})


if __name__ == "__main__":
    unittest.main()

"""Resilience policies end to end (SPEC §3 steps 2, 5, 6, 7): breaker, bulkhead,
retries with backoff and budget, shadow mode, state across reloads."""
import concurrent.futures
import json
import time
import unittest

from harness import ProxyTestCase, request, route




BREAKER = """
[route.circuit_breaker]
window = "count"
window_size = 10
minimum_calls = 4
failure_rate_threshold = 50
open_duration = "1s"
open_duration_max = "5s"
half_open_calls = 2
"""


class Breaker(ProxyTestCase):
    routes = route("cb", "/cb", BREAKER)

    def trip(self):
        for _ in range(4):
            self.assertEqual(self.get("/cb/status/503")[0], 503)

    def test_opens_at_threshold_and_probes_close_it(self):
        for _ in range(4):
            self.assertEqual(self.get("/cb/status/404")[0], 404)  # a 4xx is a success
        self.assertEqual(self.bw.metric("breakwater_circuit_state", route="cb"), 0)
        self.trip()  # 4 failures of the last 8 calls: 50%
        hits = self.upstream.hits()
        st, h, b = self.get("/cb/ok")
        self.assertEqual((st, h["x-breakwater"], h["retry-after"]), (503, "circuit_open", "1"))
        self.assertEqual(json.loads(b)["route"], "cb")
        self.assertEqual(self.upstream.hits(), hits, "an open breaker sends nothing upstream")
        self.assertEqual(self.bw.metric("breakwater_circuit_state", route="cb"), 1)
        self.assertEqual(self.bw.metric("breakwater_rejected_total", route="cb", reason="circuit_open"), 1)
        cb = json.loads(self.bw.admin("/routes")[1])["routes"][0]["circuit_breaker"]
        self.assertEqual(cb["state"], "open")
        self.assertEqual(cb["calls"], 8)
        self.assertEqual(cb["failure_rate"], 50)
        time.sleep(1.1)
        # half-open: exactly two probes pass at once
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda _: self.get("/cb/slow/300")[0], range(6)))
        self.assertEqual(sorted(results), [200, 200, 503, 503, 503, 503])
        self.assertEqual(self.bw.metric("breakwater_circuit_state", route="cb"), 0)
        for to in ("open", "half_open", "closed"):
            self.assertEqual(self.bw.metric("breakwater_circuit_transitions_total", route="cb", to=to), 1)
        cb = json.loads(self.bw.admin("/routes")[1])["routes"][0]["circuit_breaker"]
        self.assertEqual((cb["state"], cb["failure_rate"], cb["calls"]), ("closed", -1, 0))

    def test_failed_probe_reopens_with_doubled_duration(self):
        self.trip()
        time.sleep(1.1)
        self.assertEqual(self.get("/cb/status/500")[0], 500)  # the probe fails
        st, h, _ = self.get("/cb/ok")
        self.assertEqual((st, h["retry-after"]), (503, "2"))

    def test_open_breaker_survives_a_reload_of_unchanged_policy(self):
        self.trip()
        self.bw.reload(self.config(routes=self.routes + route("other", "/other")))
        self.assertEqual(self.bw.metric("breakwater_config_reloads_total", result="success"), 1)
        self.assertEqual(self.get("/cb/ok")[1].get("x-breakwater"), "circuit_open")
        # a changed policy starts from a fresh, closed breaker
        self.bw.reload(self.config(routes=route("cb", "/cb", BREAKER.replace('"1s"', '"2s"'))))
        self.assertEqual(self.get("/cb/ok")[0], 200)


class Bulkhead(ProxyTestCase):
    routes = (route("bh", "/bh", '[route.bulkhead]\nmax_concurrent = 2\nmax_queue = 1\nqueue_timeout = "3s"') +
              route("bq", "/bq", '[route.bulkhead]\nmax_concurrent = 1\nmax_queue = 1\nqueue_timeout = "100ms"') +
              route("bs", "/bs", '[route.bulkhead]\nmax_concurrent = 1\nmode = "shadow"'))

    def burst(self, path, n):
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(self.get, path) for _ in range(n)]
            return [f.result() for f in futures]

    def test_admits_exactly_max_concurrent_plus_queue(self):
        results = self.burst("/bh/slow/600", 6)
        codes = sorted(r[0] for r in results)
        self.assertEqual(codes, [200, 200, 200, 503, 503, 503])
        for st, h, _ in results:
            if st == 503:
                self.assertEqual((h["x-breakwater"], h["retry-after"]), ("bulkhead_full", "1"))
        self.assertEqual(self.upstream.hits("/bh"), 3)
        self.assertEqual(self.bw.metric("breakwater_rejected_total", route="bh", reason="bulkhead_full"), 3)
        # permits go back as each exchange ends, a moment after its last byte reached the client
        deadline = time.time() + 2
        while self.bw.metric("breakwater_bulkhead_in_use", route="bh") != 0 and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.bw.metric("breakwater_bulkhead_in_use", route="bh"), 0)

    def test_queue_timeout(self):
        t = time.time()
        codes = sorted(r[0] for r in self.burst("/bq/slow/500", 3))
        self.assertEqual(codes, [200, 503, 503])  # one queued and timed out, one found the queue full
        self.assertLess(time.time() - t, 2)

    def test_in_use_is_visible_while_busy(self):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(self.get, "/bh/slow/700") for _ in range(2)]
            time.sleep(0.3)
            self.assertEqual(self.bw.metric("breakwater_bulkhead_in_use", route="bh"), 2)
            bh = [r for r in json.loads(self.bw.admin("/routes")[1])["routes"] if r["name"] == "bh"][0]["bulkhead"]
            self.assertEqual(bh, {"in_use": 2, "queued": 0, "max_concurrent": 2})
            [f.result() for f in futures]

    def test_shadow_mode_lets_everything_through(self):
        results = self.burst("/bs/slow/400", 3)
        self.assertEqual([r[0] for r in results], [200, 200, 200])
        shadowed = [r for r in results if r[1].get("x-breakwater-shadow") == "bulkhead_full"]
        self.assertEqual(len(shadowed), 2)
        self.assertEqual(self.bw.metric("breakwater_shadow_rejections_total", route="bs", reason="bulkhead_full"), 2)
        self.assertEqual(self.bw.metric("breakwater_rejected_total", route="bs", reason="bulkhead_full"), 0)


RETRY = """
[route.retry]
max_attempts = 4
backoff_base = "40ms"
backoff_max = "120ms"
retry_on = ["connect-failure", "reset", "503", "timeout"]
budget_ratio = 0.2
budget_min_rps = 10
"""


class Retries(ProxyTestCase):
    routes = (route("rt", "/rt", RETRY + '\n[route.idempotency]\nheader = "Idempotency-Key"\n') +
              route("pt", "/pt", RETRY.replace("max_attempts = 4", 'max_attempts = 2\nper_try_timeout = "200ms"'),
                    timeout="1s") +
              route("bud", "/bud", RETRY.replace("budget_ratio = 0.2", "budget_ratio = 0")
                    .replace("budget_min_rps = 10", "budget_min_rps = 0.5")) +
              route("ra", "/ra", RETRY, timeout="3s") +
              route("ras", "/ras", RETRY, timeout="500ms"))

    def test_flaky_get_is_retried_to_success_within_backoff_bounds(self):
        st, _, b = self.get("/rt/fail/3/a")
        self.assertEqual((st, b), (200, b"ok"))
        self.assertEqual(self.upstream.count("fail/a"), 4)
        self.assertEqual(self.bw.metric("breakwater_retries_total", route="rt"), 3)
        self.assertEqual(self.bw.metric("breakwater_upstream_attempts_total", route="rt", outcome="failure"), 3)
        self.assertEqual(self.bw.metric("breakwater_upstream_attempts_total", route="rt", outcome="success"), 1)
        log = [l for l in self.bw.access_log() if l["path"] == "/rt/fail/3/a"][0]
        self.assertEqual(log["attempts"], 4)
        times = [r[5] for r in self.upstream.requests if r[1] == "/rt/fail/3/a"]
        caps = [0.040, 0.080, 0.120]  # min(max, base * 2^(n-1))
        for gap, cap in zip([b - a for a, b in zip(times, times[1:])], caps):
            self.assertLess(gap, cap + 0.05)

    def test_post_without_key_is_not_retried_but_with_a_key_it_is(self):
        st, _, _ = request(self.port, "POST", "/rt/fail/1/b", body=b"x")
        self.assertEqual(st, 503)
        self.assertEqual(self.upstream.count("fail/b"), 1)
        st, _, _ = request(self.port, "POST", "/rt/fail/1/c", body=b"x", headers={"Idempotency-Key": "k-1"})
        self.assertEqual(st, 200)
        self.assertEqual(self.upstream.count("fail/c"), 2)

    def test_large_bodies_are_not_replayed(self):
        st, _, _ = request(self.port, "PUT", "/rt/fail/1/big", body=b"z" * 100_000)
        self.assertEqual(st, 503)
        self.assertEqual(self.upstream.count("fail/big"), 1)

    def test_sidecar_rejections_are_not_retried(self):
        st, h, _ = self.get("/rt/sidecar")
        self.assertEqual(st, 503)
        self.assertEqual(self.upstream.hits("/rt/sidecar"), 1)

    def test_connect_failure_is_retried_for_any_method(self):
        self.upstream.stop()
        st, h, _ = request(self.port, "POST", "/rt/x", body=b"x")
        self.assertEqual((st, h["x-breakwater"]), (502, "upstream_unavailable"))
        self.assertEqual(self.bw.metric("breakwater_upstream_attempts_total", route="rt", outcome="connect_failure"), 4)
        from harness import Upstream
        self.upstream = Upstream(self.upstream.port)

    def test_per_try_timeout(self):
        t = time.time()
        st, h, _ = self.get("/pt/slow/1000")
        took = time.time() - t
        self.assertEqual((st, h["x-breakwater"]), (504, "upstream_timeout"))
        self.assertEqual(self.upstream.hits("/pt"), 2)
        self.assertGreater(took, 0.4)
        self.assertLess(took, 0.9)
        self.assertEqual(self.bw.metric("breakwater_upstream_attempts_total", route="pt", outcome="timeout"), 2)

    def test_budget_bounds_retries_when_everything_fails(self):
        for _ in range(20):
            self.assertEqual(self.get("/bud/status/503")[0], 503)
        # floor: 0.5 rps * 10 s = 5 retries in the window, ratio 0
        self.assertEqual(self.bw.metric("breakwater_retries_total", route="bud"), 5)
        self.assertEqual(self.upstream.hits("/bud"), 25)
        self.assertEqual(self.bw.metric("breakwater_retry_budget_exhausted_total", route="bud"), 19)
        rb = [r for r in json.loads(self.bw.admin("/routes")[1])["routes"] if r["name"] == "bud"][0]["retry_budget"]
        self.assertEqual(rb["available"], 0)

    def test_retry_after_replaces_backoff_when_it_fits(self):
        t = time.time()
        self.assertEqual(self.get("/ra/retry-after/1")[0], 503)
        times = [r[5] for r in self.upstream.requests if r[1] == "/ra/retry-after/1"]
        self.assertEqual(len(times), 3)  # 1 s + 1 s fit in 3 s; a third wait would not
        self.assertGreater(times[1] - times[0], 0.95)
        self.assertGreater(time.time() - t, 1.9)
        self.assertEqual(self.get("/ras/retry-after/1")[0], 503)
        self.assertEqual(self.upstream.hits("/ras"), 1)  # 1 s does not fit in 500 ms


class ShadowBreaker(ProxyTestCase):
    routes = route("sb", "/sb", BREAKER + 'mode = "shadow"\n')

    def test_shadow_breaker_counts_but_forwards(self):
        for _ in range(4):
            self.get("/sb/status/503")
        st, h, _ = self.get("/sb/ok")
        self.assertEqual((st, h.get("x-breakwater-shadow")), (200, "circuit_open"))
        self.assertEqual(self.bw.metric("breakwater_shadow_rejections_total", route="sb", reason="circuit_open"), 1)
        self.assertEqual(self.bw.metric("breakwater_circuit_state", route="sb"), 1)


if __name__ == "__main__":
    unittest.main()

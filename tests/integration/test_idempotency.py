"""Idempotency-Key response caching (SPEC §3 steps 4 and 8, §6) on both stores."""
import concurrent.futures
import threading
import time
import unittest

from harness import (ProxyTestCase, RedisServer, Upstream, assert_clean, duplicate_outcomes,
                     free_port, parse_responses, raw, request, route, start_breakwater)


def idem_route(name, prefix, tables="", timeout="5s"):
    return route(name, prefix, tables, timeout)


ROUTES = (
    idem_route("idem", "/idem", '[route.idempotency]\nheader = "Idempotency-Key"\nmax_response = "1KiB"') +
    idem_route("req", "/req", '[route.idempotency]\nrequired = true') +
    idem_route("scoped", "/scoped", '[route.idempotency]\nscope = "header:authorization"') +
    idem_route("fence", "/fence", '[route.idempotency]\nlock_timeout = "300ms"') +
    idem_route("retry", "/retry", '[route.idempotency]\n\n[route.retry]\nmax_attempts = 3\nbackoff_base = "10ms"\n'
               'backoff_max = "20ms"\nretry_on = ["503"]'))


def post(port, path, key=None, body=b"payload", headers=None):
    h = dict(headers or {})
    if key is not None:
        h["Idempotency-Key"] = key
    return request(port, "POST", path, body=body, headers=h)


class IdempotencyCases:
    """The single-instance cases; mixed into a memory-store and a Redis-store class."""

    def test_replay_keeps_status_headers_and_body(self):
        st, h, b = post(self.port, "/idem/seq/r1", "key-1")
        self.assertEqual((st, b), (201, b"call 1"))
        self.assertIn("set-cookie", h)
        self.assertNotIn("idempotent-replayed", h)
        st, h2, b2 = post(self.port, "/idem/seq/r1", "key-1")
        self.assertEqual((st, b2), (201, b"call 1"))
        self.assertEqual(h2["idempotent-replayed"], "true")
        self.assertEqual(h2["x-custom"], "kept")
        self.assertNotIn("set-cookie", h2)
        self.assertNotIn("date", h2)
        self.assertNotIn("x-breakwater", h2)
        self.assertEqual(self.upstream.count("seq/r1"), 1)
        self.assertEqual(self.bw.metric("breakwater_idempotency_total", route="idem", outcome="stored"), 1)
        self.assertEqual(self.bw.metric("breakwater_idempotency_total", route="idem", outcome="replayed"), 1)
        # an RFC 8941 string names the same key
        st, h3, b3 = post(self.port, "/idem/seq/r1", '"key-1"')
        self.assertEqual((b3, h3.get("idempotent-replayed")), (b"call 1", "true"))

    def test_changed_request_is_422(self):
        post(self.port, "/idem/seq/c1", "key-2", body=b"one")
        st, h, _ = post(self.port, "/idem/seq/c1", "key-2", body=b"two")
        self.assertEqual((st, h["x-breakwater"]), (422, "idempotency_key_reused"))
        st, h, _ = post(self.port, "/idem/seq/c1?x=1", "key-2", body=b"one")
        self.assertEqual(st, 422)
        self.assertEqual(self.upstream.count("seq/c1"), 1)
        self.assertEqual(self.bw.metric("breakwater_idempotency_total", route="idem", outcome="reused"), 2)

    def test_failures_are_not_stored(self):
        st, _, _ = post(self.port, "/idem/fail/1/f1", "key-3")
        self.assertEqual(st, 503)
        st, h, _ = post(self.port, "/idem/fail/1/f1", "key-3")
        self.assertEqual(st, 200)
        self.assertNotIn("idempotent-replayed", h)
        st, h, _ = post(self.port, "/idem/fail/1/f1", "key-3")
        self.assertEqual((st, h.get("idempotent-replayed")), (200, "true"))
        self.assertEqual(self.upstream.count("fail/f1"), 2)

    def test_in_flight_duplicate_gets_409(self):
        first = {}
        t = threading.Thread(target=lambda: first.update(r=post(self.port, "/idem/seq/s1/800", "key-4")))
        t.start()
        time.sleep(0.3)
        st, h, _ = post(self.port, "/idem/seq/s1/800", "key-4")
        self.assertEqual((st, h["x-breakwater"], h["retry-after"]), (409, "idempotency_in_flight", "1"))
        t.join()
        self.assertEqual(first["r"][0], 201)
        self.assertEqual(self.bw.metric("breakwater_idempotency_total", route="idem", outcome="in_flight"), 1)

    def test_required_and_invalid_keys(self):
        st, h, _ = post(self.port, "/req/x")
        self.assertEqual((st, h["x-breakwater"]), (400, "idempotency_key_missing"))
        self.assertEqual(request(self.port, "GET", "/req/x")[0], 200)  # GET is not in `methods`
        for bad in (b"", b"a" * 256, b"caf\xc3\xa9", b"a b"):
            data, closed = raw(self.port, b"POST /idem/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
                                          b"Idempotency-Key: " + bad + b"\r\n\r\n")
            st, h, _ = parse_responses(data)[0]
            self.assertEqual((st, h["x-breakwater"]), (400, "bad_request"), bad)
            self.assertTrue(closed)
        self.assertEqual(self.upstream.hits("/idem"), 0)

    def test_scope_isolates_callers(self):
        a = post(self.port, "/scoped/seq/sc", "same", headers={"Authorization": "alice"})
        b = post(self.port, "/scoped/seq/sc", "same", headers={"Authorization": "bob"})
        a2 = post(self.port, "/scoped/seq/sc", "same", headers={"Authorization": "alice"})
        self.assertEqual([a[2], b[2], a2[2]], [b"call 1", b"call 2", b"call 1"])
        self.assertEqual(a2[1].get("idempotent-replayed"), "true")

    def test_large_responses_pass_through_unstored(self):
        st, _, b = post(self.port, "/idem/big/5000", "key-big")
        self.assertEqual((st, len(b)), (200, 5000))
        st, h, b = post(self.port, "/idem/big/5000", "key-big")
        self.assertEqual((st, len(b)), (200, 5000))
        self.assertNotIn("idempotent-replayed", h)
        self.assertEqual(self.upstream.hits("/idem/big"), 2)

    def test_retries_hold_the_lock_and_store_the_final_answer(self):
        st, _, _ = post(self.port, "/retry/fail/2/rr", "key-r")
        self.assertEqual(st, 200)
        self.assertEqual(self.upstream.count("fail/rr"), 3)
        st, h, _ = post(self.port, "/retry/fail/2/rr", "key-r")
        self.assertEqual((st, h.get("idempotent-replayed")), (200, "true"))
        self.assertEqual(self.upstream.count("fail/rr"), 3)

    def test_expired_lock_owner_cannot_overwrite_the_newer_record(self):
        slow = {}
        t = threading.Thread(target=lambda: slow.update(r=post(self.port, "/fence/seq/fx/1200", "key-f")))
        t.start()
        time.sleep(0.5)  # the 300ms lock has expired; a second request takes the key
        st, _, b = post(self.port, "/fence/seq/fx/1200", "key-f")
        self.assertEqual((st, b), (201, b"call 2"))
        t.join()
        self.assertEqual(slow["r"][2], b"call 1")  # the late owner's client still gets its answer
        st, h, b = post(self.port, "/fence/seq/fx/1200", "key-f")
        self.assertEqual((b, h.get("idempotent-replayed")), (b"call 2", "true"))


class MemoryIdempotency(IdempotencyCases, ProxyTestCase):
    routes = ROUTES


class RedisIdempotency(IdempotencyCases, ProxyTestCase):
    routes = ROUTES

    def setUp(self):
        self.redis = RedisServer()
        self.extra = f'[store]\nbackend = "redis"\nurl = "{self.redis.url()}"\ntimeout = "200ms"\n'
        super().setUp()
        deadline = time.time() + 5
        while "redis connected" not in self.bw.logs() and time.time() < deadline:
            time.sleep(0.05)

    def tearDown(self):
        super().tearDown()
        self.redis.stop()

    def test_keys_follow_the_spec_format(self):
        post(self.port, "/scoped/seq/kf", "k", headers={"Authorization": "tok"})
        import hashlib
        want = "bw:idem:{scoped:%s:%s}" % (hashlib.sha256(b"tok").hexdigest(), hashlib.sha256(b"k").hexdigest())
        self.assertIn(want, self.redis.command("KEYS", "bw:idem:*"))


class AcrossSidecars(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer()
        self.upstream = Upstream()
        self.instances = []
        store = f'[store]\nbackend = "redis"\nurl = "{self.redis.url()}"\ntimeout = "500ms"\n'
        self.instances = [start_breakwater(self.upstream.port, ROUTES, store) for _ in range(2)]
        for bw in self.instances:
            deadline = time.time() + 5
            while "redis connected" not in bw.logs() and time.time() < deadline:
                time.sleep(0.05)

    def tearDown(self):
        for bw in self.instances:
            bw.stop()
            assert_clean(self, bw)
        self.upstream.stop()
        self.redis.stop()

    def test_fifty_concurrent_duplicates_execute_once(self):
        def one(i):
            return post(self.instances[i % 2].port, "/idem/seq/once/300", "exactly-once", body=b"same")

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            results = list(pool.map(one, range(50)))
        self.assertEqual(self.upstream.count("seq/once"), 1)
        originals, replays, in_flight = duplicate_outcomes(results)
        self.assertEqual(len(originals), 1)
        self.assertEqual(len(originals) + len(replays) + len(in_flight), 50)
        self.assertTrue(all(r[2] == b"call 1" for r in originals + replays))
        # after the dust settles every duplicate is a replay
        for bw in self.instances:
            st, h, b = post(bw.port, "/idem/seq/once/300", "exactly-once", body=b"same")
            self.assertEqual((st, h.get("idempotent-replayed"), b), (201, "true", b"call 1"))

    def test_store_outage_follows_on_error(self):
        self.redis.stop()
        st, h, _ = post(self.instances[0].port, "/idem/seq/down", "k-down")
        self.assertEqual(st, 201)  # on_error = allow: forwarded without protection
        self.assertGreaterEqual(self.instances[0].metric("breakwater_store_errors_total"), 1)


class DenyOnStoreError(ProxyTestCase):
    routes = ROUTES

    def setUp(self):
        self.extra = f'[store]\nbackend = "redis"\nurl = "redis://127.0.0.1:{free_port()}/0"\ntimeout = "50ms"\non_error = "deny"\n'
        super().setUp()

    def test_deny(self):
        st, h, _ = post(self.port, "/idem/seq/deny", "k")
        self.assertEqual((st, h["x-breakwater"]), (503, "store_unavailable"))
        self.assertEqual(self.upstream.count("seq/deny"), 0)
        self.assertEqual(post(self.port, "/idem/seq/nokey")[0], 201)  # no key: no store needed


if __name__ == "__main__":
    unittest.main()

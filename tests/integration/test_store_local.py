"""on_error = "local" (SPEC §6): while Redis fails, each instance decides with its own memory —
rate limits at local_rate with the burst scaled, idempotency keys locked and stored locally —
and goes back to Redis as soon as it answers, copying nothing into it."""
import concurrent.futures
import time
import unittest

from harness import (RedisServer, Upstream, assert_clean, duplicate_outcomes, request, route, start_breakwater,
                     wait_for)

ROUTES = (
    route("limit", "/limit", '[route.rate_limit]\nrate = 10\nper = "1h"\nlocal_rate = 2\nkey = ["header:x-user"]') +
    route("plain", "/plain", '[route.rate_limit]\nrate = 3\nper = "1m"\nkey = ["header:x-user"]') +
    route("idem", "/idem", '[route.idempotency]\nheader = "Idempotency-Key"', timeout="5s"))


class LocalFallbackTest(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer()
        self.upstream = Upstream()
        store = (f'[store]\nbackend = "redis"\nurl = "{self.redis.url()}"\ntimeout = "100ms"\n'
                 f'on_error = "local"\n')
        self.bw = start_breakwater(self.upstream.port, ROUTES, store)
        self.assertTrue(wait_for(lambda: all(self.policy("/limit/x", "warm-%d" % i) == '"default";q=10;w=3600'
                                             for i in range(20)), 10), self.bw.logs())

    def tearDown(self):
        self.bw.stop()
        assert_clean(self, self.bw)
        self.upstream.stop()
        self.redis.stop()

    def get(self, path, user):
        return request(self.bw.port, "GET", path, headers={"X-User": user})

    def policy(self, path, user):
        return self.get(path, user)[1].get("ratelimit-policy")

    def fallback(self, route_name, policy):
        return self.bw.metric("breakwater_store_fallback_total", route=route_name, policy=policy)

    def test_rate_limits_at_local_rate_while_redis_is_down_then_back_to_redis(self):
        self.assertEqual(self.fallback("limit", "rate_limit"), 0)
        self.redis.stop()
        results = [self.get("/limit/x", "u") for _ in range(5)]
        # this instance's own bucket: local_rate 2, burst 10 * 2 / 10 = 2
        self.assertEqual([r[0] for r in results], [200, 200, 429, 429, 429])
        for st, h, _ in results:
            self.assertEqual(h["ratelimit-policy"], '"default";q=2;w=3600')
        self.assertEqual(results[2][1]["x-breakwater"], "rate_limited")
        self.assertGreaterEqual(int(results[2][1]["retry-after"]), 1)
        self.assertEqual(self.fallback("limit", "rate_limit"), 5)
        self.assertEqual(self.fallback("limit", "idempotency"), 0)
        # without local_rate the local bucket is the route's own: 3 of 5
        self.assertEqual([self.get("/plain/x", "p")[0] for _ in range(5)], [200, 200, 200, 429, 429])
        self.assertEqual(self.policy("/plain/x", "p"), '"default";q=3;w=60')
        # Redis answers again: decisions go back to it, and nothing decided locally was copied there
        self.redis = RedisServer(port=self.redis.port)
        self.assertTrue(wait_for(lambda: all(self.policy("/limit/x", "back-%d" % i) == '"default";q=10;w=3600'
                                             for i in range(20)), 10), self.bw.logs())
        st, h, _ = self.get("/limit/x", "u")
        self.assertEqual((st, h["ratelimit"][:14]), (200, '"default";r=9;'))  # a fresh Redis bucket
        self.assertEqual(self.redis.command("KEYS", "bw:idem:*"), [])
        before = self.fallback("limit", "rate_limit")
        self.get("/limit/x", "u")
        self.assertEqual(self.fallback("limit", "rate_limit"), before)

    def test_idempotency_keys_lock_locally_while_redis_is_down(self):
        self.redis.stop()

        def post(key, path="/idem/seq/local-once/300"):
            return request(self.bw.port, "POST", path, body=b"same", headers={"Idempotency-Key": key})

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            results = list(pool.map(lambda _: post("local-key"), range(20)))
        self.assertEqual(self.upstream.count("seq/local-once"), 1)  # duplicates on this instance run once
        originals, replays, in_flight = duplicate_outcomes(results)
        self.assertEqual(len(originals), 1)
        self.assertEqual(len(originals) + len(replays) + len(in_flight), 20, [r[:2] for r in results])
        st, h, b = post("local-key")
        self.assertEqual((st, h.get("idempotent-replayed"), b), (201, "true", b"call 1"))
        self.assertEqual(self.fallback("idem", "idempotency"), 21)
        # Redis back: the key is Redis' business again, and Redis never saw it
        self.redis = RedisServer(port=self.redis.port)
        self.assertTrue(wait_for(lambda: all(self.policy("/limit/x", "back-%d" % i) == '"default";q=10;w=3600'
                                             for i in range(20)), 10), self.bw.logs())
        st, h, b = post("local-key")
        self.assertEqual((st, "idempotent-replayed" in h, b), (201, False, b"call 2"))
        self.assertEqual(len(self.redis.command("KEYS", "bw:idem:*")), 1)
        self.assertEqual(self.fallback("idem", "idempotency"), 21)


if __name__ == "__main__":
    unittest.main()

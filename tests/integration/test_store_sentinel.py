"""Redis Sentinel as the store (SPEC §6): a real master (with a password) and replica, three
redis-sentinel processes (without one), breakwater following the master they name. The tests
run in name order; the last one kills the master."""
import hashlib
import sys
import time
import unittest

from harness import RedisSentinels, SharedStoreCase, Upstream, request, route, start_breakwater, wait_for

TIMEOUT_MS = 250
PASSWORD = "s3cret"
ROUTES = (
    route("limit", "/limit", '[route.rate_limit]\nrate = 5\nper = "1h"\nkey = ["header:x-user"]') +
    route("open", "/open", '[route.rate_limit]\nrate = 100000\nper = "1s"\nkey = ["header:x-user"]'))


def rl_key(route_name, descriptor):
    return "bw:rl:{%s:%s}" % (route_name, hashlib.sha256(descriptor.encode()).hexdigest())


class SentinelTest(SharedStoreCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = cls.backend = RedisSentinels(count=3, name="orders", password=PASSWORD)
        cls.upstream = Upstream()
        cls.instances = []
        try:
            store = (f'[store]\nbackend = "redis-sentinel"\nurl = "{cls.redis.url(PASSWORD, db=2)}"\n'
                     f'sentinel_master = "orders"\ntimeout = "{TIMEOUT_MS}ms"\non_error = "deny"\n')
            cls.instances = [start_breakwater(cls.upstream.port, ROUTES, store) for _ in range(2)]
            for bw in cls.instances:
                if not wait_for(lambda: all(cls.answered(bw, "warm-%d" % i) for i in range(16)), 10):
                    raise RuntimeError("the sentinel store never answered:\n" + bw.logs())
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def answered(cls, bw, user):
        st, h, _ = request(bw.port, "GET", "/open/x", headers={"X-User": user})
        return st == 200 and "ratelimit" in h


    def send(self, path, user, instance=0):
        return request(self.instances[instance % 2].port, "GET", path, headers={"X-User": user})

    def test_1_limits_through_the_master_the_sentinels_name(self):
        self.assertEqual(sorted(self.send("/limit/x", "u1", i)[0] for i in range(8)), [200] * 5 + [429] * 3)
        self.assertIn("db2:keys=", self.redis.master.command("INFO", "keyspace"))  # the url's database
        self.assertNotIn("db0:", self.redis.master.command("INFO", "keyspace"))

    def test_2_follows_a_failover(self):
        old, new = self.redis.master.port, self.redis.replica.port
        self.redis.master.stop()  # SIGKILL
        killed_at, switched_at, answers = time.time(), None, []
        while time.time() - killed_at < 30:
            t0 = time.time()
            st, h, _ = self.send("/open/x", "during", int(t0 * 1000))
            answers.append((st, h.get("x-breakwater"), time.time() - t0))
            try:
                if self.redis.master_port() == new:
                    switched_at = time.time()
                    break
            except OSError:
                pass
            time.sleep(0.05)
        self.assertIsNotNone(switched_at, "the sentinels promoted no replica")
        # while the master is gone, on_error ("deny") answers within store.timeout
        self.assertTrue(all(a[0] in (200, 503) for a in answers), answers)
        self.assertTrue(all(a[1] == "store_unavailable" for a in answers if a[0] == 503), answers)
        self.assertLess(max(a[2] for a in answers), TIMEOUT_MS / 1000 + 0.5, answers)
        # within 5 s of the sentinels' switch every worker of both instances decides through the new master
        self.assertTrue(wait_for(lambda: all(self.answered(bw, "after-%d" % i) for bw in self.instances
                                             for i in range(16)), 5 + 2), self.instances[0].logs())
        print("\n  sentinel failover: breakwater followed %.2f s after the sentinels named the new master" %
              (time.time() - switched_at), file=sys.stderr)
        # told by the sentinels' +switch-master announcement, not only by its own polling
        self.assertTrue(all("announced +switch-master: orders 127.0.0.1 %d 127.0.0.1 %d" % (old, new) in bw.logs()
                            for bw in self.instances))
        self.assertEqual(sorted(self.send("/limit/x", "u2", i)[0] for i in range(7)), [200] * 5 + [429] * 2)
        self.assertIsNotNone(self.redis.replica.command_db(2, "GET", rl_key("limit", "u2")))
        self.assertNotEqual(old, new)


if __name__ == "__main__":
    unittest.main()

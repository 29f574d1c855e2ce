"""Rate limits (SPEC §3 step 3, §4 headers, §6) on the memory store and on a real redis-server."""
import concurrent.futures
import re
import socket
import time
import unittest

from harness import (Breakwater, Certificates, ProxyTestCase, RedisServer, Upstream, assert_clean, base_config, free_port,
                     request, route)


def limited(name, prefix, rate, per, burst=None, key='["client_ip"]', mode="enforce"):
    b = f"burst = {burst}\n" if burst is not None else ""
    return route(name, prefix, f'[route.rate_limit]\nrate = {rate}\nper = "{per}"\n{b}key = {key}\nmode = "{mode}"\n',
                 timeout="15s")


ROUTES = (limited("rl", "/rl", 5, "60s") +
          limited("hdr", "/hdr", 2, "60s", key='["header:x-user"]') +
          limited("shadow", "/shadow", 1, "60s", mode="shadow") +
          limited("fast", "/fast", 10, "1s", burst=2) +
          limited("warm", "/warm", 1000, "1s", key='["header:x-warm"]') +
          limited("crowd", "/crowd", 20, "60s", key='["header:x-crowd"]'))


def count_admitted(port, path, n, headers=None):
    return [request(port, "GET", path, headers=headers) for _ in range(n)]


class MemoryRateLimit(ProxyTestCase):
    routes = ROUTES

    def test_burst_is_exact_and_headers_follow_the_draft(self):
        results = count_admitted(self.port, "/rl/x", 12)
        codes = [r[0] for r in results]
        self.assertEqual(codes, [200] * 5 + [429] * 7)
        for i, (st, h, _) in enumerate(results[:5]):
            self.assertEqual(h["ratelimit-policy"], '"default";q=5;w=60')
            self.assertEqual(h["ratelimit"], '"default";r=%d;t=%d' % (4 - i, 12 * (i + 1)))
        st, h, _ = results[5]
        self.assertEqual(h["x-breakwater"], "rate_limited")
        self.assertEqual(h["retry-after"], "12")
        self.assertEqual(h["ratelimit"], '"default";r=0;t=60')
        self.assertEqual(self.upstream.hits("/rl"), 5)
        self.assertEqual(self.bw.metric("breakwater_rejected_total", route="rl", reason="rate_limited"), 7)

    def test_refill(self):
        codes = [r[0] for r in count_admitted(self.port, "/fast/x", 4)]
        self.assertEqual(codes, [200, 200, 429, 429])
        time.sleep(0.25)  # 10/s: two tokens back
        codes = [r[0] for r in count_admitted(self.port, "/fast/x", 3)]
        self.assertEqual(codes, [200, 200, 429])

    def test_descriptor_from_a_header(self):
        a = [r[0] for r in count_admitted(self.port, "/hdr/x", 3, {"X-User": "a"})]
        b = [r[0] for r in count_admitted(self.port, "/hdr/x", 3, {"X-User": "b"})]
        self.assertEqual(a, [200, 200, 429])
        self.assertEqual(b, [200, 200, 429])

    def test_shadow_mode_spends_but_lets_through(self):
        results = count_admitted(self.port, "/shadow/x", 3)
        self.assertEqual([r[0] for r in results], [200, 200, 200])
        self.assertNotIn("x-breakwater-shadow", results[0][1])
        self.assertEqual([r[1].get("x-breakwater-shadow") for r in results[1:]], ["rate_limited"] * 2)
        self.assertEqual(self.bw.metric("breakwater_shadow_rejections_total", route="shadow", reason="rate_limited"), 2)
        self.assertEqual(self.bw.metric("breakwater_rejected_total", route="shadow", reason="rate_limited"), 0)


class RedisCase(unittest.TestCase):
    """Breakwater instances on a shared real redis-server."""
    password = None
    on_error = "allow"
    timeout = "100ms"
    routes = ROUTES

    def setUp(self):
        self.redis = RedisServer(password=self.password)
        self.upstream = Upstream()
        self.instances = []

    def start(self, url=None, env=None, wait=True):
        port, admin = free_port(), free_port()
        store = f'[store]\nbackend = "redis"\nurl = "{url or self.redis.url()}"\ntimeout = "{self.timeout}"\non_error = "{self.on_error}"\n'
        bw = Breakwater(base_config(port, admin, self.upstream.port, self.routes, extra=store), env=env)
        bw.port = port
        self.instances.append(bw)
        if wait:
            self.wait_store(bw)
        return bw

    def wait_store(self, bw):
        # Each worker's connection comes up in the background; wait until the
        # store answers several requests in a row (new connections spread over
        # the workers).
        deadline, answered = time.time() + 5, 0
        while time.time() < deadline and answered < 6:
            if "ratelimit" in request(bw.port, "GET", "/warm", headers={"X-Warm": str(time.time())})[1]:
                answered += 1
                continue
            answered = 0
            time.sleep(0.05)
        if answered >= 6:
            return
        self.fail("redis store never answered:\n" + bw.logs())

    def tearDown(self):
        for bw in self.instances:
            bw.stop()
            assert_clean(self, bw)
        self.upstream.stop()
        self.redis.stop()


class RedisRateLimit(RedisCase):
    def test_exact_burst_and_key_format(self):
        bw = self.start()
        codes = [r[0] for r in count_admitted(bw.port, "/rl/x", 9)]
        self.assertEqual(codes, [200] * 5 + [429] * 4)
        keys = self.redis.command("KEYS", "bw:rl:*")
        self.assertIn("bw:rl:{rl:%s}" % __import__("hashlib").sha256(b"127.0.0.1").hexdigest(), keys)
        for k in keys:
            self.assertRegex(k, r"^bw:rl:\{[a-z]+:[0-9a-f]{64}\}$")
            self.assertGreater(self.redis.command("PTTL", k), 0)

    def test_two_instances_share_one_limit(self):
        a, b = self.start(), self.start()
        results = []
        for i in range(10):
            results.append(request((a if i % 2 == 0 else b).port, "GET", "/rl/x")[0])
        self.assertEqual(results.count(200), 5)
        self.assertEqual(results.count(429), 5)
        # concurrently too: a fresh descriptor, 40 requests across both, exactly 5 admitted
        hdr = {"X-User": "concurrent"}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futs = [pool.submit(request, (a if i % 2 else b).port, "GET", "/hdr/x", None, hdr) for i in range(40)]
            codes = [f.result()[0] for f in futs]
        self.assertEqual(codes.count(200), 2)
        self.assertEqual(codes.count(429), 38)

    def test_a_crowd_on_one_key_stays_exact(self):
        bw = self.start()
        # 64 connections send at once; however the requests happen to share
        # Redis calls (bench/ measures that), the decisions stay exact
        socks = [socket.create_connection(("127.0.0.1", bw.port)) for _ in range(64)]
        for s in socks:
            s.sendall(b"GET /crowd/x HTTP/1.1\r\nHost: t\r\nX-Crowd: one\r\nConnection: close\r\n\r\n")
        answers = []
        for s in socks:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            s.close()
            answers.append(data.decode("latin-1"))
        codes = [int(a.split(" ", 2)[1]) for a in answers]
        self.assertEqual(codes.count(200), 20)
        self.assertEqual(codes.count(429), 44)
        # every admitted request got its own place in the bucket: remaining 19, 18, ..., 0
        remaining = sorted(int(re.search(r"(?i)ratelimit: \"default\";r=(\d+)", a).group(1))
                           for a in answers if a.startswith("HTTP/1.1 200"))
        self.assertEqual(remaining, list(range(20)))

    def test_rejected_keys_are_remembered_locally(self):
        bw = self.start()
        count_admitted(bw.port, "/rl/x", 5)
        def evals():
            stats = self.redis.command("INFO", "commandstats")
            return sum(int(n) for n in re.findall(r"cmdstat_eval(?:sha)?:calls=(\d+)", stats))

        before = evals()
        results = count_admitted(bw.port, "/rl/x", 30)
        self.assertTrue(all(r[0] == 429 for r in results))
        self.assertTrue(all(int(r[1]["retry-after"]) >= 1 for r in results))
        # each worker asks Redis once, then remembers the key until it would admit again
        self.assertLessEqual(evals() - before, 2, "a flood of rejections must not reach Redis")

    def test_script_cache_flush_falls_back_to_eval(self):
        bw = self.start()
        errors = bw.metric("breakwater_store_errors_total")  # a worker may have missed the warm-up
        self.redis.command("SCRIPT", "FLUSH")
        self.assertEqual(request(bw.port, "GET", "/rl/x")[0], 200)
        self.assertEqual(bw.metric("breakwater_store_errors_total"), errors, bw.logs())
        self.assertIn("ratelimit", request(bw.port, "GET", "/rl/x")[1])


class RedisAuth(RedisCase):
    password = "s3cret"

    def test_auth_with_password(self):
        bw = self.start()
        self.assertEqual([r[0] for r in count_admitted(bw.port, "/fast/a", 3)], [200, 200, 429])

    def test_wrong_password_fails_open(self):
        port, admin = free_port(), free_port()
        store = f'[store]\nbackend = "redis"\nurl = "redis://:wrong@127.0.0.1:{self.redis.port}/0"\ntimeout = "100ms"\n'
        bw = Breakwater(base_config(port, admin, self.upstream.port, self.routes, extra=store))
        self.instances.append(bw)
        st, h, _ = request(port, "GET", "/rl/x")
        self.assertEqual(st, 200)
        self.assertNotIn("ratelimit", h)
        self.assertGreaterEqual(bw.metric("breakwater_store_errors_total"), 1)
        time.sleep(0.3)
        self.assertIn("AUTH failed", bw.logs())


class RedisOutage(RedisCase):
    def test_down_redis_allows_within_timeout_then_limiting_resumes(self):
        bw = self.start()
        self.redis.stop()
        t = time.time()
        for _ in range(10):
            st, h, _ = request(bw.port, "GET", "/rl/x")
            self.assertEqual(st, 200)
            self.assertNotIn("ratelimit", h)
        self.assertLess(time.time() - t, 2.0)
        self.assertGreaterEqual(bw.metric("breakwater_store_errors_total"), 10)
        self.redis = RedisServer(port=self.redis.port)
        self.wait_store(bw)
        codes = [r[0] for r in count_admitted(bw.port, "/rl/y", 8, {"X-Forwarded-For": "x"})]
        self.assertEqual(codes, [200] * 5 + [429] * 3)

    def test_hung_redis_costs_at_most_the_timeout(self):
        bw = self.start()
        self.redis.pause()
        worst = 0
        for _ in range(20):
            t = time.time()
            st, _, _ = request(bw.port, "GET", "/rl/z")
            worst = max(worst, time.time() - t)
            self.assertEqual(st, 200)
        self.assertLess(worst, 0.1 + 0.25, "no request waits much past store.timeout (100ms)")
        self.redis.resume()
        self.wait_store(bw)

    def test_kill_and_restart_under_load(self):
        bw = self.start()
        errors, done = [], [False]

        def load():
            while not done[0]:
                try:
                    st, _, _ = request(bw.port, "GET", "/fast/load", timeout=3)
                    if st not in (200, 429):
                        errors.append(st)
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futs = [pool.submit(load) for _ in range(4)]
            time.sleep(0.3)
            self.redis.stop()
            time.sleep(0.5)
            self.redis = RedisServer(port=self.redis.port)
            time.sleep(0.8)
            done[0] = True
            [f.result() for f in futs]
        self.assertEqual(errors, [])
        self.wait_store(bw)


class RedisTLS(RedisCase):
    def setUp(self):
        self.certs = Certificates()
        self.redis = RedisServer(tls=self.certs)
        self.upstream = Upstream()
        self.instances = []

    def test_rediss_with_certificate_verification(self):
        bw = self.start(url=self.redis.url(host="localhost"), env={"SSL_CERT_FILE": self.certs.ca})
        self.assertEqual([r[0] for r in count_admitted(bw.port, "/fast/t", 3)], [200, 200, 429])
        self.assertIn("bw:rl:{fast:", " ".join(self.redis.command("KEYS", "bw:rl:*")))

    def test_unknown_ca_is_refused(self):
        bw = self.start(url=self.redis.url(host="localhost"), wait=False)
        time.sleep(0.5)
        st, h, _ = request(bw.port, "GET", "/rl/x")
        self.assertEqual(st, 200)  # on_error = allow
        self.assertNotIn("ratelimit", h)
        self.assertIn("TLS handshake", bw.logs())


class RedisDeny(RedisCase):
    on_error = "deny"

    def test_down_redis_denies_with_503(self):
        bw = self.start()
        count_admitted(bw.port, "/fast/q", 3)  # over the limit: remembered locally
        self.redis.stop()
        st, h, _ = request(bw.port, "GET", "/rl/x")
        self.assertEqual((st, h["x-breakwater"]), (503, "store_unavailable"))
        self.assertEqual(bw.metric("breakwater_rejected_total", route="rl", reason="store_unavailable"), 1)
        # a key remembered as over its limit still answers 429 itself
        st, h, _ = request(bw.port, "GET", "/fast/q")
        self.assertEqual((st, h["x-breakwater"]), (429, "rate_limited"))


if __name__ == "__main__":
    unittest.main()

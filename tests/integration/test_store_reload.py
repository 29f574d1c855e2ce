"""Reload as a transaction (SPEC §8), the store across reloads, black-holed and
demoted Redis connections (SPEC §6), and store.memory_max (SPEC §2)."""
import os
import signal
import socket
import threading
import time
import unittest

from harness import (listen_on, SIMPLE_ROUTE, Breakwater, ProxyTestCase, RedisServer, Upstream, assert_clean, base_config,
                     free_port, request, route)


class TcpProxy:
    """A TCP relay in front of redis-server. `black_hole()` makes every connection
    open so far swallow bytes both ways (sockets stay open); connections made
    later are relayed as usual. Nothing is relayed until `hold` seconds after the relay starts."""

    def __init__(self, target_port, hold=0.0):
        self.port = free_port()
        self.target = target_port
        self.release_at = time.monotonic() + hold
        self.lock = threading.Lock()
        self.conns = []  # [client, server, {"holed": bool}]
        self.accepted = 0
        self.sock = listen_on(self.port, 64)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            state = {"holed": False}
            with self.lock:
                self.conns.append((c, s, state))
                self.accepted += 1
            threading.Thread(target=self._pipe, args=(c, s, state), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, state), daemon=True).start()

    def _pipe(self, src, dst, state):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                if not state["holed"]:
                    for x in (src, dst):
                        try:
                            x.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                return
            wait = self.release_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if state["holed"]:
                continue  # swallowed: nothing reaches the other side, nothing is closed
            try:
                dst.sendall(data)
            except OSError:
                return

    def black_hole(self):
        with self.lock:
            for _, _, state in self.conns:
                state["holed"] = True
            return len(self.conns)

    def stop(self):
        self.running = False
        self.sock.close()
        with self.lock:
            for c, s, _ in self.conns:
                for x in (c, s):
                    try:
                        x.close()
                    except OSError:
                        pass


def reload_and_wait(bw, text, timeout=20.0):
    """SIGHUP with `text` as the file; returns once a reload has been counted (success or failure)."""
    before = reload_counts(bw)
    with open(bw.config_path, "w") as f:
        f.write(text)
    bw.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = reload_counts(bw)
        if sum(now) > sum(before):
            return now[0] - before[0], now[1] - before[1]
        time.sleep(0.01)
    raise AssertionError("the reload was never counted:\n" + bw.logs())


def reload_counts(bw):
    m = bw.metrics()
    return (m.get(("breakwater_config_reloads_total", frozenset({("result", "success")})), 0),
            m.get(("breakwater_config_reloads_total", frozenset({("result", "failure")})), 0))


def post(port, path, key, body=b"payload"):
    return request(port, "POST", path, body=body, headers={"Idempotency-Key": key})


STATE_ROUTES = (route("idem", "/idem", '[route.idempotency]\n') +
                route("rl", "/rl", '[route.rate_limit]\nrate = 2\nper = "60s"\nkey = ["client_ip"]\n') +
                route("warm", "/warm", '[route.rate_limit]\nrate = 1000\nper = "1s"\nkey = ["header:x-warm"]\n'))


class MemoryStoreReload(ProxyTestCase):
    routes = STATE_ROUTES
    extra = '[store]\nbackend = "memory"\ntimeout = "50ms"\n'

    def test_a_reload_that_changes_store_keeps_records_and_buckets(self):
        self.assertEqual(post(self.port, "/idem/seq/m1", "key-m1")[2], b"call 1")
        self.assertEqual([self.get("/rl/x")[0] for _ in range(3)], [200, 200, 429])
        changed = self.config(extra='[store]\nbackend = "memory"\ntimeout = "80ms"\n')  # only the timeout
        self.assertEqual(reload_and_wait(self.bw, changed), (1, 0), self.bw.logs())
        st, h, b = post(self.port, "/idem/seq/m1", "key-m1")
        self.assertEqual((st, b, h.get("idempotent-replayed")), (201, b"call 1", "true"))
        self.assertEqual(self.upstream.count("seq/m1"), 1, "the same key must not execute twice")
        st, h, _ = self.get("/rl/x")
        self.assertEqual((st, h.get("x-breakwater")), (429, "rate_limited"))


    def test_a_lower_memory_max_applies_to_the_same_store(self):
        for i in range(20):
            self.assertEqual(post(self.port, "/idem/big/2000?k=%d" % i, "lk-%d" % i)[0], 200)
        lower = self.config(extra='[store]\nbackend = "memory"\ntimeout = "50ms"\nmemory_max = "16KiB"\n')
        self.assertEqual(reload_and_wait(self.bw, lower), (1, 0), self.bw.logs())
        self.assertEqual(post(self.port, "/idem/big/2000?k=new", "lk-new")[0], 200)  # the next write shrinks
        self.assertEqual(post(self.port, "/idem/big/2000?k=new", "lk-new")[1].get("idempotent-replayed"), "true")
        self.assertEqual(post(self.port, "/idem/big/2000?k=19", "lk-19")[1].get("idempotent-replayed"), "true")
        self.assertNotIn("idempotent-replayed", post(self.port, "/idem/big/2000?k=0", "lk-0")[1])
        self.assertEqual(self.upstream.count("path:/idem/big/2000"), 22)


class ListenerRename(ProxyTestCase):
    def test_a_listener_renamed_on_the_same_address_keeps_its_socket(self):
        renamed = self.config().replace('name = "in"', 'name = "in2"').replace('listener = "in"',
                                                                              'listener = "in2"')
        self.assertEqual(reload_and_wait(self.bw, renamed), (1, 0), self.bw.logs())
        self.assertEqual(self.get("/x")[0], 200)
        entries = [e for e in self.bw.access_log(at_least=2) if e["path"] == "/x"]
        self.assertEqual(entries[-1]["listener"], "in2")


class UnapplicableReload(ProxyTestCase):
    def test_a_ca_file_that_does_not_load_fails_the_reload_as_a_whole(self):
        bad_ca = os.path.join(self.bw.dir, "bad-ca.pem")
        with open(bad_ca, "w") as f:
            f.write("this is no certificate\n")
        port2 = free_port()
        # the same reload adds a listener and disables the route: none of it may happen
        text = self.config(
            routes=SIMPLE_ROUTE.replace('timeout = "2s"', 'timeout = "2s"\nenabled = false'),
            extra=f'[upstream.secure]\nendpoints = ["127.0.0.1:1"]\ntls = true\nca_file = "{bad_ca}"\n\n'
                  f'[[listener]]\nname = "second"\nbind = "127.0.0.1:{port2}"\n')
        self.assertEqual(reload_and_wait(self.bw, text), (0, 1))
        self.assertIsNone(self.bw.proc.poll(), "breakwater exited because of a reload:\n" + self.bw.logs())
        self.assertEqual(self.get("/x")[0], 200)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port2), timeout=1).close()
        self.assertIn("upstream 'secure'", self.bw.logs())
        # and the next valid reload still works
        self.assertEqual(reload_and_wait(self.bw, self.config(extra=f'[[listener]]\nname = "second"\n'
                                                                    f'bind = "127.0.0.1:{port2}"\n')), (1, 0))
        self.assertEqual(request(port2, "GET", "/x")[0], 404)  # a listener without routes

    def test_an_address_that_cannot_be_bound_fails_the_reload_as_a_whole(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        try:
            busy = taken.getsockname()[1]
            text = self.config(routes=SIMPLE_ROUTE.replace('timeout = "2s"', 'timeout = "2s"\nenabled = false'),
                               extra=f'[[listener]]\nname = "second"\nbind = "127.0.0.1:{busy}"\n')
            self.assertEqual(reload_and_wait(self.bw, text), (0, 1))
            self.assertIsNone(self.bw.proc.poll())
            self.assertEqual(self.get("/x")[0], 200)
            self.assertIn("cannot start listener 'second'", self.bw.logs())
        finally:
            taken.close()


class MemoryMax(ProxyTestCase):
    routes = route("idem", "/idem", '[route.idempotency]\n')
    extra = '[store]\nbackend = "memory"\nmemory_max = "64KiB"\n'

    def test_past_memory_max_the_records_nearest_expiry_go_first(self):
        n = 150
        for i in range(n):
            st, _, b = post(self.port, "/idem/big/2000?k=%d" % i, "mk-%d" % i)
            self.assertEqual((st, len(b)), (200, 2000))
        # the newest is replayed; the oldest was evicted, so it runs again
        st, h, _ = post(self.port, "/idem/big/2000?k=%d" % (n - 1), "mk-%d" % (n - 1))
        self.assertEqual((st, h.get("idempotent-replayed")), (200, "true"))
        st, h, _ = post(self.port, "/idem/big/2000?k=0", "mk-0")
        self.assertEqual(st, 200)
        self.assertNotIn("idempotent-replayed", h)
        self.assertEqual(self.upstream.count("path:/idem/big/2000"), n + 1)
        stored = self.bw.metric("breakwater_idempotency_total", route="idem", outcome="stored")
        self.assertEqual(stored, n + 1)


class RedisStoreCase(unittest.TestCase):
    routes = STATE_ROUTES

    def setUp(self):
        self.redis = RedisServer()
        self.upstream = Upstream()
        self.proxies = []
        self.bw = None

    def config(self, url, timeout="100ms", on_error="deny"):
        store = f'[store]\nbackend = "redis"\nurl = "{url}"\ntimeout = "{timeout}"\non_error = "{on_error}"\n'
        return base_config(self.port, self.admin, self.upstream.port, self.routes, extra=store)

    def start(self, url, **kw):
        self.port, self.admin = free_port(), free_port()
        self.bw = Breakwater(self.config(url, **kw))
        self.assertTrue(self.answered_in_a_row(6, within=10), "the store never answered:\n" + self.bw.logs())

    def answered(self):
        st, h, _ = request(self.port, "GET", "/warm", headers={"X-Warm": str(time.monotonic())})
        return st == 200 and "ratelimit" in h

    def answered_in_a_row(self, n, within):
        """True once `n` requests in a row got their decision from Redis (new
        connections spread over both workers), within `within` seconds."""
        deadline, row = time.time() + within, 0
        while time.time() < deadline:
            row = row + 1 if self.answered() else 0
            if row >= n:
                return True
            if row == 0:
                time.sleep(0.05)
        return False

    def tearDown(self):
        if self.bw:
            self.bw.stop()
            assert_clean(self, self.bw)
        for p in self.proxies:
            p.stop()
        self.upstream.stop()
        self.redis.stop()


class RedisStoreReload(RedisStoreCase):
    def test_a_new_redis_client_is_connected_before_it_replaces_the_old_one(self):
        self.start(self.redis.url())
        # The warm-up may see refusals before both workers are connected; only what follows counts.
        refused = self.bw.metric("breakwater_rejected_total", route="warm", reason="store_unavailable")
        # the new url reaches the same Redis through a relay that relays nothing
        # for its first 1.5 seconds: the new client cannot be ready at once
        slow = TcpProxy(self.redis.port, hold=1.5)
        self.proxies.append(slow)
        text = self.config(f"redis://127.0.0.1:{slow.port}/0", timeout="150ms")
        self.assertEqual(reload_and_wait(self.bw, text), (1, 0), self.bw.logs())
        # from the moment the reload is done, every decision comes from Redis (on_error = deny: no 503)
        results = [self.answered() for _ in range(10)]
        self.assertEqual(results, [True] * 10, self.bw.logs())
        self.assertGreaterEqual(slow.accepted, 2)  # one connection per worker, through the new url
        self.assertEqual(self.bw.metric("breakwater_rejected_total", route="warm", reason="store_unavailable"), refused)

    def test_a_reload_that_keeps_url_and_timeout_keeps_the_client(self):
        self.start(self.redis.url())
        before = self.redis.command("INFO", "stats")
        conns = lambda info: int([l for l in info.splitlines() if l.startswith("total_connections_received:")][0]
                                 .split(":")[1])
        text = self.config(self.redis.url(), on_error="allow")
        self.assertEqual(reload_and_wait(self.bw, text), (1, 0))
        self.assertTrue(self.answered())
        # only the INFO connections of this test itself were added
        self.assertEqual(conns(self.redis.command("INFO", "stats")), conns(before) + 1)


class RedisBlackHole(RedisStoreCase):
    def test_a_black_holed_connection_is_replaced(self):
        relay = TcpProxy(self.redis.port)
        self.proxies.append(relay)
        self.start(f"redis://127.0.0.1:{relay.port}/0")
        self.assertGreaterEqual(relay.black_hole(), 2)
        # the connections are open and silent: decisions fail (on_error = deny)
        st, h, _ = request(self.port, "GET", "/warm", headers={"X-Warm": "first"})
        self.assertEqual((st, h.get("x-breakwater")), (503, "store_unavailable"))
        # ... until breakwater gives them up and connects anew through the relay
        self.assertTrue(self.answered_in_a_row(6, within=20),
                        "black-holed connections were never replaced:\n" + self.bw.logs())
        self.assertIn("reconnecting", self.bw.logs())

    def test_a_readonly_reply_reconnects(self):
        self.start(self.redis.url())
        conns = lambda: int([l for l in self.redis.command("INFO", "stats").splitlines()
                             if l.startswith("total_connections_received:")][0].split(":")[1])
        # demote the master: it becomes a replica of a server that is not there
        self.redis.command("REPLICAOF", "127.0.0.1", str(free_port()))
        try:
            before = conns()
            st, h, _ = request(self.port, "GET", "/rl/x")
            self.assertEqual((st, h.get("x-breakwater")), (503, "store_unavailable"))
            deadline = time.time() + 10
            while time.time() < deadline and "answered READONLY" not in self.bw.logs():
                time.sleep(0.05)
            self.assertIn("answered READONLY; reconnecting", self.bw.logs())
            deadline = time.time() + 10
            while time.time() < deadline and conns() < before + 2:  # the new connection, and our INFO
                time.sleep(0.05)
            self.assertGreaterEqual(conns(), before + 2)
        finally:
            self.redis.command("REPLICAOF", "NO", "ONE")
        self.assertTrue(self.answered_in_a_row(6, within=20), self.bw.logs())


if __name__ == "__main__":
    unittest.main()

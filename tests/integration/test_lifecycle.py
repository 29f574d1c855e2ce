"""Reload (SPEC §8), drain (SPEC §1), --check-config and the stale pooled connection resend (SPEC §3)."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BINARY, SIMPLE_ROUTE, Breakwater, ProxyTestCase, free_port, request, wait_port


class Reload(ProxyTestCase):
    def test_valid_reload_adds_a_route(self):
        self.assertEqual(self.get("/new/x")[0], 200)  # served by "all"
        routes = SIMPLE_ROUTE + """
[[route]]
name = "new"
listener = "in"
upstream = "app"
match = { path_prefix = "/new" }
enabled = false
"""
        self.bw.reload(self.config(routes=routes))
        st, h, _ = self.get("/new/x")
        self.assertEqual((st, h.get("x-breakwater")), (503, "route_disabled"))
        self.assertEqual(self.bw.metric("breakwater_config_reloads_total", result="success"), 1)
        self.assertIn('"name":"new"', self.bw.admin("/routes")[1])

    def test_invalid_reload_keeps_the_old_config(self):
        bad = self.config().replace('timeout = "2s"', 'timeout = "2s"\ntimeuot = "3s"')
        self.bw.reload(bad)
        self.assertEqual(self.get("/x")[0], 200)
        self.assertEqual(self.bw.metric("breakwater_config_reloads_total", result="failure"), 1)
        self.assertEqual(self.bw.metric("breakwater_config_reloads_total", result="success"), 0)
        self.assertRegex(self.bw.logs(), re.escape(self.bw.config_path) + r":\d+:1: unknown key 'timeuot'")

    def test_listeners_added_and_removed(self):
        port2 = free_port()
        extra_listener = f'\n[[listener]]\nname = "second"\nbind = "127.0.0.1:{port2}"\n'
        routes2 = SIMPLE_ROUTE + '\n[[route]]\nname = "two"\nlistener = "second"\nupstream = "app"\n'
        self.bw.reload(self.config(routes=routes2, extra=extra_listener))
        self.assertEqual(request(port2, "GET", "/x")[0], 200)
        self.bw.reload(self.config())
        with self.assertRaises(OSError):
            request(port2, "GET", "/x", timeout=1)
        self.assertEqual(self.get("/x")[0], 200)

    def test_reload_under_load_fails_no_request(self):
        failures, done, sent = [], threading.Event(), [0]

        def load(keep_alive):
            import http.client
            conn = None
            while not done.is_set():
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    conn.request("POST" if sent[0] % 3 == 0 else "GET", "/slow/5", body=b"x" * 100)
                    r = conn.getresponse()
                    r.read()
                    sent[0] += 1
                    if r.status != 200:
                        failures.append(r.status)
                    if not keep_alive:
                        conn.close()
                        conn = None
                except Exception as e:  # noqa: BLE001 - any failure counts
                    failures.append(repr(e))
                    conn = None

        threads = [threading.Thread(target=load, args=(k,)) for k in (True, True, False, False)]
        for t in threads:
            t.start()
        a = self.config()
        b = self.config(routes=SIMPLE_ROUTE.replace('timeout = "2s"', 'timeout = "3s"'))
        for i in range(10):
            self.bw.reload(b if i % 2 == 0 else a, wait=0.15)
        done.set()
        for t in threads:
            t.join()
        self.assertGreater(sent[0], 50)
        self.assertEqual(failures, [])
        self.assertEqual(self.bw.metric("breakwater_config_reloads_total", result="success"), 10)


class Drain(ProxyTestCase):
    def test_drain_finishes_in_flight_and_exits_zero(self):
        idle = socket.create_connection(("127.0.0.1", self.port))  # idle keep-alive: closed at once
        result = {}

        def slow():
            result["resp"] = request(self.port, "GET", "/slow/1000")

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.3)
        self.bw.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        self.assertEqual(self.bw.admin("/ready")[0], 503)
        self.assertEqual(self.bw.admin("/live")[0], 200)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        self.assertEqual(idle.recv(10), b"")
        t.join()
        self.assertEqual(result["resp"][0], 200)
        self.assertEqual(result["resp"][1].get("connection"), "close")
        self.assertEqual(self.bw.proc.wait(5), 0)
        idle.close()

    def test_drain_timeout_bounds_the_wait(self):
        cfg = self.config().replace('drain_timeout = "5s"', 'drain_timeout = "300ms"')
        self.bw.reload(cfg)
        threading.Thread(target=lambda: self.assertRaises(Exception, request, self.port, "GET", "/slow/5000"),
                         daemon=True).start()
        time.sleep(0.2)
        t = time.time()
        self.bw.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.bw.proc.wait(5), 0)
        self.assertLess(time.time() - t, 2.0)


class StaleConnection(ProxyTestCase):
    def test_stale_pooled_connection_is_resent_once(self):
        self.upstream.close_after_response = True
        self.assertEqual(request(self.port, "POST", "/echo", body=b"one")[0], 200)
        time.sleep(0.3)  # the upstream has closed the pooled connection by now
        for body in (b"two", b"three"):
            st, _, b = request(self.port, "POST", "/echo", body=body)
            self.assertEqual(st, 200, b)
            time.sleep(0.3)
        bodies = [r[3] for r in self.upstream.requests]
        self.assertEqual(bodies, [b"one", b"two", b"three"])  # each executed exactly once
        self.assertTrue(all(l["attempts"] == 1 for l in self.bw.access_log(3)))
        self.assertEqual(self.bw.metric("breakwater_retries_total", route="all"), 0)


class CheckConfig(unittest.TestCase):
    def run_check(self, text):
        d = tempfile.mkdtemp(prefix="bw-check-")
        path = os.path.join(d, "c.toml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([BINARY, "--check-config", path], capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr, path

    def test_example_config_is_valid(self):
        src = os.environ.get("BW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
        p = subprocess.run([BINARY, "--check-config", os.path.join(src, "conf/breakwater.toml")],
                           capture_output=True, text=True)
        self.assertEqual((p.returncode, p.stdout), (0, "ok\n"), p.stderr)

    def test_errors_are_listed_with_positions(self):
        rc, out, err, path = self.run_check("""[[listener]]
name = "in"
bind = "127.0.0.1:1"
max_body = "lots"

[upstream.a]
endpoints = ["127.0.0.1:2"]
conect_timeout = "1s"

[[route]]
name = "r"
listener = "nope"
upstream = "a"
timeout = 5
""")
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        lines = err.strip().splitlines()
        self.assertEqual(lines, [
            f"{path}:4:12: 'max_body' must be a size string with a unit, like \"64KiB\" or \"1MiB\"",
            f"{path}:8:1: unknown key 'conect_timeout' in [upstream.a]",
            f"{path}:12:12: 'listener' names no [[listener]] 'nope'",
            f"{path}:14:11: 'timeout' must be a duration string with a unit, like \"250ms\", \"2s\", \"5m\", \"24h\"",
        ])

    def test_version(self):
        p = subprocess.run([BINARY, "--version"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^breakwater \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    unittest.main()

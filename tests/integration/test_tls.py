"""TLS to upstreams (verification on by default, pooled connections) and TLS
termination on listeners with certificates reloaded on SIGHUP."""
import os
import shutil
import socket
import ssl
import time
import unittest

from harness import Breakwater, Certificates, ProxyTestCase, Upstream, base_config, free_port, request

TLS_ROUTES = """
[[route]]
name = "good"
listener = "in"
upstream = "secure"
match = { path_prefix = "/good" }

[[route]]
name = "wrongname"
listener = "in"
upstream = "wrongname"
match = { path_prefix = "/wrongname" }

[[route]]
name = "unknownca"
listener = "in"
upstream = "unknownca"
match = { path_prefix = "/unknownca" }

[[route]]
name = "noverify"
listener = "in"
upstream = "noverify"
match = { path_prefix = "/noverify" }
"""


class UpstreamTLS(ProxyTestCase):
    routes = TLS_ROUTES

    def setUp(self):
        self.certs = Certificates()
        self.secure = Upstream(tls=self.certs)
        p, ca = self.secure.port, self.certs.ca
        self.extra = f"""
[upstream.secure]
endpoints = ["127.0.0.1:{p}"]
tls = true
sni = "localhost"
ca_file = "{ca}"

[upstream.wrongname]
endpoints = ["127.0.0.1:{p}"]
tls = true
sni = "other.example"
ca_file = "{ca}"

[upstream.unknownca]
endpoints = ["127.0.0.1:{p}"]
tls = true
sni = "localhost"

[upstream.noverify]
endpoints = ["127.0.0.1:{p}"]
tls = true
verify = false
"""
        super().setUp()

    def tearDown(self):
        super().tearDown()
        self.secure.stop()

    def test_verified_and_pooled(self):
        for _ in range(5):
            st, _, b = self.get("/good/echo")
            self.assertEqual(st, 200, b)
        self.assertEqual(self.secure.hits("/good"), 5)
        self.assertLessEqual(self.secure.connections, 2)  # keep-alive TLS connections are pooled

    def test_wrong_host_name_is_502_with_a_log_line(self):
        st, h, _ = self.get("/wrongname/x")
        self.assertEqual((st, h["x-breakwater"]), (502, "upstream_unavailable"))
        self.assertRegex(self.bw.logs(), r"TLS handshake with upstream wrongname .*other\.example.*failed")
        self.assertEqual(self.secure.hits(), 0)

    def test_unknown_ca_is_502_with_a_log_line(self):
        st, h, _ = self.get("/unknownca/x")
        self.assertEqual((st, h["x-breakwater"]), (502, "upstream_unavailable"))
        self.assertRegex(self.bw.logs(), r"TLS handshake with upstream unknownca .*failed: .*certificate verify failed")

    def test_verify_false_skips_verification(self):
        self.assertEqual(self.get("/noverify/x")[0], 200)


class ListenerTLS(unittest.TestCase):
    def setUp(self):
        self.dir = __import__("tempfile").mkdtemp(prefix="bw-ltls-")
        self.first, self.second = Certificates(), Certificates()
        self.cert, self.key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        shutil.copy(self.first.cert, self.cert)
        shutil.copy(self.first.key, self.key)
        self.upstream = Upstream()
        self.port, self.admin = free_port(), free_port()
        self.text = base_config(self.port, self.admin, self.upstream.port, """
[[route]]
name = "all"
listener = "in"
upstream = "app"
""", listener_extra=f'tls_cert = "{self.cert}"\ntls_key = "{self.key}"')
        self.bw = Breakwater(self.text)

    def tearDown(self):
        self.bw.stop()
        self.upstream.stop()

    def fetch(self, ca):
        ctx = ssl.create_default_context(cafile=ca)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    b = s.recv(65536)
                    if not b:
                        return data
                    data += b

    def test_terminates_tls_and_reloads_certificates(self):
        data = self.fetch(self.first.ca)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"))
        self.assertIn(b'"x-forwarded-proto": ["https"]', data)
        with self.assertRaises(ssl.SSLError):
            self.fetch(self.second.ca)
        shutil.copy(self.second.cert, self.cert)
        shutil.copy(self.second.key, self.key)
        self.bw.reload()
        self.assertEqual(self.bw.metric("breakwater_config_reloads_total", result="success"), 1)
        self.assertTrue(self.fetch(self.second.ca).startswith(b"HTTP/1.1 200"))

    def test_plain_http_on_a_tls_listener_is_dropped(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertNotIn(b"200", s.recv(100))
        self.assertEqual(self.upstream.hits(), 0)


if __name__ == "__main__":
    unittest.main()

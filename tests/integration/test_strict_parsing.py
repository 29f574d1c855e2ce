"""Strict parsing (SPEC §5): each ambiguous request gets 400 bad_request and a closed connection."""
import unittest

from harness import ProxyTestCase, parse_responses, raw

CASES = {
    "content_length_and_chunked": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two_content_lengths": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "content_length_list": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
    "content_length_sign": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
    "content_length_hex": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello",
    "content_length_overflow": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    "content_length_empty": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
    "te_gzip": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    "te_gzip_chunked": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te_twice": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_chunked_chunked": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "te_identity": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
    "bad_chunk_size": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "negative_chunk_size": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    "chunk_size_overflow": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "chunk_missing_crlf": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "chunk_line_bare_lf": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
    "bare_lf_request_line": b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    "bare_lf_header": b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
    "bare_lf_end": b"GET / HTTP/1.1\r\nHost: a\n\n",
    "bare_cr_header": b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n",
    "bare_cr_value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
    "obs_fold_space": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    "obs_fold_tab": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost: a\r\nX-Foo : b\r\n\r\n",
    "tab_before_colon": b"GET / HTTP/1.1\r\nHost: a\r\nX-Foo\t: b\r\n\r\n",
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    "nul_in_name": b"GET / HTTP/1.1\r\nHost: a\r\nX\x00Y: b\r\n\r\n",
    "no_colon": b"GET / HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n\r\n",
    "empty_name": b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n",
    "request_line_extra_space": b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    "request_line_missing_version": b"GET /\r\nHost: a\r\n\r\n",
    "request_line_bad_version": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "request_line_lowercase_version": b"GET / http/1.1\r\nHost: a\r\n\r\n",
    "request_line_trailing_space": b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
    "request_line_bad_method": b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
    "missing_host": b"GET / HTTP/1.1\r\n\r\n",
    "two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "https_absolute_form": b"GET https://a/x HTTP/1.1\r\nHost: a\r\n\r\n",
    "userinfo_absolute_form": b"GET http://user:pw@a/x HTTP/1.1\r\nHost: a\r\n\r\n",
    "relative_target": b"GET x/y HTTP/1.1\r\nHost: a\r\n\r\n",
}


class StrictParsing(ProxyTestCase):
    def test_every_case_gets_400_and_close(self):
        for name, data in CASES.items():
            with self.subTest(case=name):
                out, closed = raw(self.port, data)
                resps = parse_responses(out)
                self.assertEqual(len(resps), 1, out)
                st, h, _ = resps[0]
                self.assertEqual(st, 400, out)
                self.assertEqual(h.get("x-breakwater"), "bad_request")
                self.assertEqual(h.get("connection"), "close")
                self.assertTrue(closed, "connection must be closed")
        self.assertEqual(self.upstream.hits(), 0, "nothing ambiguous reaches the upstream")

    def test_valid_requests_still_pass(self):
        ok = [
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX:  padded value \t\r\n\r\n",
            b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET http://a/x?y=1 HTTP/1.1\r\nHost: ignored\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        ]
        for data in ok:
            with self.subTest(data=data):
                out, _ = raw(self.port, data, read_until_close=False)
                self.assertTrue(out.startswith(b"HTTP/1.1 200") or out.startswith(b"HTTP/1.0 200"), out)

    def test_header_too_large(self):
        out, closed = raw(self.port, b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 70000 + b"\r\n\r\n")
        self.assertEqual(parse_responses(out)[0][0], 431)
        self.assertTrue(closed)


class Timeouts(ProxyTestCase):
    listener_extra = 'header_timeout = "300ms"\nidle_timeout = "500ms"'

    def test_header_timeout_closes_a_slow_head(self):
        import socket, time
        s = socket.create_connection(("127.0.0.1", self.port), timeout=3)
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
        t = time.time()
        self.assertEqual(s.recv(100), b"")
        self.assertLess(time.time() - t, 1.5)
        s.close()

    def test_idle_timeout_closes_an_idle_connection(self):
        import socket, time
        s = socket.create_connection(("127.0.0.1", self.port), timeout=3)
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(s.recv(1000).startswith(b"HTTP/1.1 200"))
        t = time.time()
        self.assertEqual(s.recv(100), b"")
        self.assertGreater(time.time() - t, 0.3)
        self.assertLess(time.time() - t, 2.0)
        s.close()


if __name__ == "__main__":
    unittest.main()

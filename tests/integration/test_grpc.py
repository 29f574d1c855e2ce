"""gRPC through breakwater (SPEC §9): a real grpcio server behind an HTTP/2
upstream, real grpcio clients in front, policies reading statuses from trailers."""
import os
import subprocess
import threading
import time
import unittest
from concurrent import futures

import grpc

from harness import Breakwater, H2Upstream, base_config, free_port, route

UNARY = "/test.Svc/Unary"
STREAM = "/test.Svc/Stream"


class GrpcService:
    """Behaviour by request bytes:
    ok                      -> b"pong"
    fail:CODE:KEY:N[:head]  -> the first N calls for KEY end with CODE (":head": the
                               headers go out first, so the status arrives in trailers)
    pushback:CODE:KEY:MS    -> CODE with grpc-retry-pushback-ms = MS (every call)
    slow:MS                 -> waits MS ms, then b"pong"
    deadline                -> the time remaining the server saw, in ms
    count:KEY               -> b"call N" for the Nth call for KEY
    Stream: one message, then (b"fail") UNAVAILABLE or (else) OK."""

    def __init__(self):
        self.port = free_port()
        self.calls = {}
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
            "Stream": grpc.unary_stream_rpc_method_handler(self.stream),
        }
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Svc", handlers),))
        self.server.add_insecure_port("127.0.0.1:%d" % self.port)
        self.server.start()

    def bump(self, key):
        with self.lock:
            self.calls[key] = self.calls.get(key, 0) + 1
            return self.calls[key]

    def count(self, key):
        with self.lock:
            return self.calls.get(key, 0)

    def unary(self, request, context):
        parts = request.decode().split(":")
        if parts[0] == "fail":
            code, key, n = int(parts[1]), parts[2], int(parts[3])
            if self.bump(key) <= n:
                if len(parts) > 4:
                    context.send_initial_metadata((("x-head", "sent"),))
                context.abort(grpc.StatusCode(status_by_code(code)), "planned failure")
            return b"pong"
        if parts[0] == "pushback":
            code, key, ms = int(parts[1]), parts[2], parts[3]
            self.bump(key)
            context.set_trailing_metadata((("grpc-retry-pushback-ms", ms),))
            context.abort(grpc.StatusCode(status_by_code(code)), "pushed back")
        if parts[0] == "slow":
            time.sleep(int(parts[1]) / 1000)
            return b"pong"
        if parts[0] == "deadline":
            return str(int(context.time_remaining() * 1000)).encode()
        if parts[0] == "count":
            return b"call %d" % self.bump(parts[1])
        return b"pong"

    def stream(self, request, context):
        self.bump("stream:" + request.decode())
        yield b"first"
        if request == b"fail":
            context.abort(grpc.StatusCode.UNAVAILABLE, "after a message")

    def stop(self):
        self.server.stop(0)


def status_by_code(code):
    for s in grpc.StatusCode:
        if s.value[0] == code:
            return s.value
    raise ValueError(code)


class GrpcTestCase(unittest.TestCase):
    ROUTES = ""

    @classmethod
    def setUpClass(cls):
        cls.svc = GrpcService()
        cls.port, cls.admin = free_port(), free_port()
        extra = '[upstream.grpc]\nendpoints = ["127.0.0.1:%d"]\nprotocol = "http2"\n' % cls.svc.port
        cls.bw = Breakwater(base_config(cls.port, cls.admin, free_port(), cls.ROUTES, extra=extra))
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.bw.stop()
        cls.svc.stop()

    def call(self, body, method=UNARY, timeout=10, metadata=None):
        return self.channel.unary_unary(method)(body, timeout=timeout, metadata=metadata)

    def error(self, body, **kw):
        with self.assertRaises(grpc.RpcError) as cm:
            self.call(body, **kw)
        return cm.exception

    def grpc_calls(self, route, status):
        return self.bw.metric("breakwater_grpc_calls_total", route=route, status=status)


def grpc_route(name, tables="", timeout="5s"):
    return route(name, "/", tables, timeout=timeout, upstream="grpc")


class Forwarding(GrpcTestCase):
    ROUTES = grpc_route("svc", '[route.retry]\nmax_attempts = 3\nretry_on = ["unavailable"]\nbackoff_base = "1ms"\n'
                        'backoff_max = "2ms"\n')

    def test_a_unary_call_goes_through_and_is_logged(self):
        self.assertEqual(self.call(b"ok"), b"pong")
        entry = [e for e in self.bw.access_log() if e["path"] == UNARY][-1]
        self.assertEqual(entry["protocol"], "HTTP/2")
        self.assertEqual(entry["grpc_status"], 0)
        self.assertEqual(entry["status"], 200)
        self.assertGreaterEqual(self.grpc_calls("svc", "ok"), 1)

    def test_a_status_in_the_trailers_is_retried(self):
        # Headers first, then the status in trailers: the case Envoy does not retry.
        self.assertEqual(self.call(b"fail:14:trailers:2:head"), b"pong")
        self.assertEqual(self.svc.count("trailers"), 3)
        entry = [e for e in self.bw.access_log() if e["attempts"] == 3]
        self.assertTrue(entry)

    def test_a_trailers_only_status_is_retried(self):
        self.assertEqual(self.call(b"fail:14:tonly:1"), b"pong")
        self.assertEqual(self.svc.count("tonly"), 2)

    def test_a_status_not_named_is_not_retried(self):
        e = self.error(b"fail:13:internal:5:head")
        self.assertEqual(e.code(), grpc.StatusCode.INTERNAL)
        self.assertEqual(self.svc.count("internal"), 1)
        self.assertGreaterEqual(self.grpc_calls("svc", "internal"), 1)

    def test_attempts_exhausted_pass_the_last_status_on(self):
        e = self.error(b"fail:14:always:9:head")
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.svc.count("always"), 3)

    def test_a_call_is_committed_once_a_message_was_relayed(self):
        stream = self.channel.unary_stream(STREAM)(b"fail", timeout=10)
        got = []
        with self.assertRaises(grpc.RpcError) as cm:
            for m in stream:
                got.append(m)
        self.assertEqual(got, [b"first"])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.svc.count("stream:fail"), 1)

    def test_a_streamed_response_with_ok_trailers(self):
        got = list(self.channel.unary_stream(STREAM)(b"fine", timeout=10))
        self.assertEqual(got, [b"first"])

    def test_pushback_replaces_the_backoff_and_a_negative_one_forbids_the_retry(self):
        e = self.error(b"pushback:14:neg:-1")
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.svc.count("neg"), 1)
        e = self.error(b"pushback:14:pos:20")
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.svc.count("pos"), 3)

    def test_each_attempt_carries_the_time_left(self):
        left = int(self.call(b"deadline", timeout=2))
        self.assertGreater(left, 0)
        self.assertLessEqual(left, 2100)  # grpc's client rounds its 2 s up when it encodes grpc-timeout
        # Without a client deadline, the route's timeout (5 s) is the deadline sent.
        left = int(self.channel.unary_unary(UNARY)(b"deadline"))
        self.assertGreater(left, 0)
        self.assertLessEqual(left, 5000)


class LocalReplies(GrpcTestCase):
    ROUTES = (grpc_route("limited", '[route.rate_limit]\nrate = 1\nper = "1m"\nburst = 1\nkey = ["route"]\n')
              .replace('path_prefix = "/"', 'path_prefix = "/test.Svc/Unary"'))

    def test_a_rejection_is_a_trailers_only_answer_with_pushback(self):
        self.call(b"ok")
        e = self.error(b"ok")
        self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        md = dict(e.trailing_metadata())
        self.assertEqual(md.get("x-breakwater"), "rate_limited")
        self.assertIn("grpc-retry-pushback-ms", md)
        self.assertGreater(int(md["grpc-retry-pushback-ms"]), 0)
        self.assertEqual(int(md["grpc-retry-pushback-ms"]) % 1000, 0)
        self.assertIn("ratelimit", md)
        self.assertGreaterEqual(self.grpc_calls("limited", "resource-exhausted"), 1)
        self.assertGreaterEqual(self.bw.metric("breakwater_rejected_total", route="limited", reason="rate_limited"), 1)

    def test_route_not_found_is_unimplemented(self):
        e = self.error(b"ok", method="/other.Svc/Call")
        self.assertEqual(e.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertEqual(dict(e.trailing_metadata()).get("x-breakwater"), "route_not_found")

    def test_a_malformed_grpc_timeout_is_bad_request(self):
        out = subprocess.run(
            ["curl", "-s", "-D", "-", "-o", "/dev/null", "--http2-prior-knowledge",
             "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", "grpc-timeout: soon",
             "--data-binary", "@-", "http://127.0.0.1:%d%s" % (self.port, UNARY)],
            input=b"\x00\x00\x00\x00\x02ok", capture_output=True, timeout=10)
        head = out.stdout.decode().lower()
        self.assertIn("grpc-status: 13", head)
        self.assertIn("x-breakwater: bad_request", head)
        self.assertTrue(head.startswith("http/2 200"))


class Deadlines(GrpcTestCase):
    ROUTES = grpc_route("short", timeout="300ms")

    def test_an_upstream_past_the_route_timeout_is_deadline_exceeded(self):
        e = self.error(b"slow:2000")
        self.assertEqual(e.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        # breakwater's upstream_timeout, or the service's own answer to the grpc-timeout it was sent.
        self.assertIn(dict(e.trailing_metadata()).get("x-breakwater"), (None, "upstream_timeout"))

    def test_a_client_deadline_below_the_route_timeout_wins(self):
        left = int(self.call(b"deadline", timeout=0.2))
        self.assertLessEqual(left, 200)


class DeadlineAfterHeaders(unittest.TestCase):
    def test_the_deadline_after_a_message_ends_the_call_with_deadline_exceeded_trailers(self):
        up = H2Upstream()
        port, admin = free_port(), free_port()
        extra = '[upstream.h2]\nendpoints = ["127.0.0.1:%d"]\nprotocol = "http2"\n' % up.port
        bw = Breakwater(base_config(port, admin, free_port(), route("stall", "/", timeout="300ms", upstream="h2"),
                                    extra=extra))
        try:
            with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
                got = []
                with self.assertRaises(grpc.RpcError) as cm:
                    for m in ch.unary_stream("/stall/Call")(b"x", timeout=10):
                        got.append(m)
                self.assertEqual(got, [b"hello"])
                self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            entry = [e for e in bw.access_log() if e["path"] == "/stall/Call"][-1]
            self.assertEqual(entry["grpc_status"], 4)
            self.assertEqual(entry["status"], 200)
        finally:
            bw.stop()
            up.stop()


class Breaker(GrpcTestCase):
    ROUTES = grpc_route("brk", '[route.circuit_breaker]\nminimum_calls = 4\nwindow_size = 4\n'
                        'failure_rate_threshold = 50\nopen_duration = "30s"\n')

    def test_statuses_in_trailers_open_the_breaker(self):
        for _ in range(4):
            e = self.error(b"fail:13:brk:100:head")
            self.assertEqual(e.code(), grpc.StatusCode.INTERNAL)
        e = self.error(b"ok")
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(dict(e.trailing_metadata()).get("x-breakwater"), "circuit_open")
        self.assertEqual(self.svc.count("brk"), 4)
        self.assertEqual(self.bw.metric("breakwater_upstream_attempts_total", route="brk", outcome="failure"), 4)
        self.assertEqual(self.bw.metric("breakwater_circuit_state", route="brk"), 1)


class Idempotency(GrpcTestCase):
    ROUTES = grpc_route("idem", '[route.idempotency]\nmethods = ["POST"]\n')

    def test_an_ok_answer_is_stored_and_replayed_whole(self):
        md = (("idempotency-key", "grpc-k1"),)
        replayed = self.bw.metric("breakwater_idempotency_total", route="idem", outcome="replayed")
        first = self.call(b"count:idem", metadata=md)
        second = self.call(b"count:idem", metadata=md)
        self.assertEqual(first, b"call 1")
        self.assertEqual(second, b"call 1")
        self.assertEqual(self.svc.count("idem"), 1)
        self.assertEqual(self.bw.metric("breakwater_idempotency_total", route="idem", outcome="replayed"), replayed + 1)

    def test_a_non_storable_status_releases_the_key(self):
        md = (("idempotency-key", "grpc-k2"),)
        e = self.error(b"fail:14:idem-fail:1:head", metadata=md)
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.call(b"fail:14:idem-fail:1:head", metadata=md), b"pong")
        self.assertEqual(self.svc.count("idem-fail"), 2)

    def test_a_stored_error_status_is_replayed_with_its_trailers(self):
        md = (("idempotency-key", "grpc-k3"),)
        e1 = self.error(b"fail:5:idem-nf:9:head", metadata=md)
        e2 = self.error(b"fail:5:idem-nf:9:head", metadata=md)
        self.assertEqual(e1.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(e2.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(e2.details(), "planned failure")
        self.assertEqual(self.svc.count("idem-nf"), 1)


if __name__ == "__main__":
    unittest.main()

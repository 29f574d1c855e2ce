"""Test harness: a real breakwater process, a controllable real upstream and
raw-socket helpers, all on 127.0.0.1 with free ports. Every process a test
starts is stopped by the test (or its tearDown)."""
import http.client
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

BINARY = os.environ.get("BW_BINARY", os.path.join(os.path.dirname(__file__), "../../build/breakwater"))


_handed_out = set()


def free_port():
    # A port the kernel has free now and this test run has not handed out before
    # (two calls in a row may otherwise get the same one).
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def listen_on(port, backlog=256):
    """A listening TCP socket on 127.0.0.1:port (for test peers that speak raw bytes)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(backlog)
    return s


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


# ---------------------------------------------------------------- upstream

def read_request(rfile):
    """Reads one HTTP/1.1 request: (method, target, headers dict lower-case -> list, body) or None."""
    line = rfile.readline(65537)
    if not line:
        return None
    method, target, _ = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers = {}
    while True:
        h = rfile.readline(65537).decode("latin-1")
        if h in ("\r\n", "\n", ""):
            break
        name, _, value = h.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    body = b""
    if "content-length" in headers:
        body = rfile.read(int(headers["content-length"][0]))
    elif headers.get("transfer-encoding", [""])[0].lower() == "chunked":
        while True:
            size = int(rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += rfile.read(size)
            rfile.readline()
    return method, target, headers, body


class Upstream:
    """A real HTTP/1.1 server whose behaviour the path chooses:
    /echo                 200 + JSON of what arrived
    /status/N             status N
    /slow/MS              waits MS ms, then 200
    /fail/N/KEY           the first N calls for KEY answer 503, then 200
    /big/N                N bytes of body
    /chunked              a chunked body
    /close                a body delimited by closing the connection
    /retry-after/S        503 with Retry-After: S
    /seq/KEY[/MS]         201 "call N" for the Nth call for KEY; the first call waits MS ms
    /sidecar              503 carrying x-breakwater (another sidecar's rejection)
    /stray                200 "ok", then (20 ms later) a stray extra response on the idle connection
    anything else         200 "ok"
    Leading path segments that name no behaviour are skipped: /api/slow/5 = /slow/5.
    """

    def __init__(self, port=None, tls=None):
        """tls: a Certificates; the upstream then speaks HTTPS."""
        self.port = port or free_port()
        self.requests = []  # (method, target, headers, body, peer)
        self.counters = {}
        self.lock = threading.Lock()
        self.connections = 0
        self.close_after_response = False  # keep-alive in the header, then close shortly after
        self.idle_close = None  # seconds: idle keep-alive connections are closed early (Node, gunicorn)
        self.live = set()  # open client connections, closed by stop() like a dying process would
        up = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                with up.lock:
                    up.connections += 1
                    up.live.add(self.connection)
                try:
                    self.serve()
                finally:
                    with up.lock:
                        up.live.discard(self.connection)

            def serve(self):
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                while True:
                    try:
                        self.connection.settimeout(up.idle_close)
                        req = read_request(self.rfile)
                        self.connection.settimeout(None)
                    except (OSError, ValueError):
                        return
                    if req is None:
                        return
                    method, target, headers, body = req
                    with up.lock:
                        up.requests.append((method, target, headers, body, self.client_address, time.monotonic()))
                    try:
                        keep = up.respond(self.wfile, method, target, headers, body)
                        self.wfile.flush()
                    except OSError:
                        return
                    if not keep:
                        return
                    if up.close_after_response:
                        time.sleep(0.05)
                        return

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            request_queue_size = 256  # crowds of concurrent connections in the tests
            daemon_threads = True

            def get_request(self):
                sock, addr = super().get_request()
                if tls:
                    import ssl
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    ctx.load_cert_chain(tls.cert, tls.key)
                    sock.settimeout(5)
                    sock = ctx.wrap_socket(sock, server_side=True)
                    sock.settimeout(None)
                return sock, addr

            def handle_error(self, request, client_address):
                pass  # failed handshakes are part of the TLS tests

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, key):
        with self.lock:
            return self.counters.get(key, 0)

    def hits(self, prefix=""):
        with self.lock:
            return sum(1 for r in self.requests if r[1].startswith(prefix))

    def respond(self, w, method, target, headers, body):
        path = urllib.parse.urlsplit(target).path
        parts = path.strip("/").split("/")
        known = ("echo", "status", "slow", "fail", "big", "retry-after", "sidecar", "chunked", "close", "seq",
                 "stray")
        while len(parts) > 1 and parts[0] not in known:
            parts.pop(0)  # route prefixes like /api are not behaviours
        status, extra, payload = 200, [], b"ok"
        if parts[0] == "echo":
            payload = json.dumps({"method": method, "target": target, "headers": headers,
                                  "body": body.decode("latin-1")}).encode()
            extra.append("Content-Type: application/json")
        elif parts[0] == "status":
            status = int(parts[1])
            payload = ("status %d" % status).encode()
        elif parts[0] == "slow":
            time.sleep(int(parts[1]) / 1000.0)
        elif parts[0] == "fail":
            key = "fail/" + parts[2]
            with self.lock:
                n = self.counters.get(key, 0) + 1
                self.counters[key] = n
            if n <= int(parts[1]):
                status, payload = 503, b"failing"
        elif parts[0] == "seq":
            key = "seq/" + parts[1]
            with self.lock:
                n = self.counters.get(key, 0) + 1
                self.counters[key] = n
            if n == 1 and len(parts) > 2:
                time.sleep(int(parts[2]) / 1000.0)
            status, payload = 201, ("call %d" % n).encode()
            extra += ["X-Custom: kept", "Set-Cookie: session=%d" % n, "Date: Sat, 21 Nov 2026 10:00:00 GMT"]
        elif parts[0] == "big":
            payload = b"x" * int(parts[1])
        elif parts[0] == "retry-after":
            status, payload = 503, b"later"
            extra.append("Retry-After: " + parts[1])
        elif parts[0] == "sidecar":
            status, payload = 503, b"rejected"
            extra.append("x-breakwater: rate_limited")
        elif parts[0] == "chunked":
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"hello ", b"chunked ", b"world"):
                w.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            w.write(b"0\r\n\r\n")
            return True
        elif parts[0] == "stray":
            # Bytes that arrive after the connection's next use cannot be told apart from its answer
            # by any proxy: callers give the connection 20 ms of idleness to receive them.
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            time.sleep(0.02)
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY")
            return True
        elif parts[0] == "close":
            w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclose-delimited body")
            return False
        key = "path:" + path
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1
        head = "HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n" % (
            status, 0 if method == "HEAD" else len(payload), "".join(e + "\r\n" for e in extra))
        w.write(head.encode() + (b"" if method == "HEAD" else payload))
        return True

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for c in list(self.live):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


# ---------------------------------------------------------------- breakwater

def base_config(listen_port, admin_port, upstream_port, routes, extra="", listener_extra=""):
    return f"""
[server]
workers = 2
admin = "127.0.0.1:{admin_port}"
drain_timeout = "5s"
access_log = "stderr"

[[listener]]
name = "in"
bind = "127.0.0.1:{listen_port}"
{listener_extra}

[upstream.app]
endpoints = ["127.0.0.1:{upstream_port}"]
connect_timeout = "500ms"

{extra}

{routes}
"""


def start_breakwater(upstream_port, routes, extra=""):
    """A breakwater on free ports (its listener's port as .port) in front of `upstream_port`."""
    port, admin = free_port(), free_port()
    bw = Breakwater(base_config(port, admin, upstream_port, routes, extra=extra))
    bw.port = port
    return bw


def duplicate_outcomes(results):
    """Answers to duplicates of one Idempotency-Key request: (originals, replays, in-flight refusals)."""
    originals = [r for r in results if 200 <= r[0] < 300 and "idempotent-replayed" not in r[1]]
    replays = [r for r in results if 200 <= r[0] < 300 and r[1].get("idempotent-replayed") == "true"]
    in_flight = [r for r in results if r[0] == 409 and r[1].get("x-breakwater") == "idempotency_in_flight"]
    return originals, replays, in_flight


def route(name, prefix, tables="", timeout="3s", upstream="app"):
    """A [[route]] on listener "in" to `upstream` for `prefix`, with policy `tables`."""
    return f"""
[[route]]
name = "{name}"
listener = "in"
upstream = "{upstream}"
match = {{ path_prefix = "{prefix}" }}
timeout = "{timeout}"
{tables}
"""


SIMPLE_ROUTE = """
[[route]]
name = "all"
listener = "in"
upstream = "app"
timeout = "2s"
"""


class Breakwater:
    def __init__(self, config_text, tmpdir=None, wait=True, binary=BINARY, env=None):
        self.dir = tmpdir or tempfile.mkdtemp(prefix="bw-")
        self.config_path = os.path.join(self.dir, "breakwater.toml")
        self.log_path = os.path.join(self.dir, "stderr.log")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.admin_port = int(re.search(r'admin\s*=\s*"127\.0\.0\.1:(\d+)"', config_text).group(1))
        self.log = open(self.log_path, "wb")
        self.binary = binary
        self.proc = subprocess.Popen([binary, "--config", self.config_path], stdout=self.log, stderr=self.log,
                                     env=dict(os.environ, **(env or {})))
        if wait and not self.wait_ready():
            self.stop()
            raise RuntimeError("breakwater did not become ready:\n" + self.logs())

    def wait_ready(self, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if self.admin("/ready")[0] == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def admin(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=5)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def metrics(self):
        """{(name, frozenset(labels)): value}"""
        out = {}
        for line in self.admin("/metrics")[1].splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            out[(m.group(1), labels)] = float(m.group(4))
        return out

    def metric(self, name, **labels):
        return self.metrics().get((name, frozenset(labels.items())), 0.0)

    def reload(self, config_text=None, wait=0.3):
        if config_text is not None:
            with open(self.config_path, "w") as f:
                f.write(config_text)
        self.proc.send_signal(signal.SIGHUP)
        time.sleep(wait)

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def access_log(self, at_least=1, timeout=3.0):
        """Access log entries; waits for `at_least` of them (lines are written after the response)."""
        deadline = time.time() + timeout
        while True:
            entries = [json.loads(l) for l in self.logs().splitlines()
                       if l.startswith("{") and '"request_id"' in l]
            if len(entries) >= at_least or time.time() > deadline:
                return entries
            time.sleep(0.02)

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


# ---------------------------------------------------------------- clients

def request(port, method, path, body=None, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def raw(port, data, timeout=3.0, read_until_close=True):
    """Sends raw bytes; returns everything read until the peer closes (or the timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not b:
                return b"".join(chunks), True
            chunks.append(b)
            if not read_until_close:
                break
        return b"".join(chunks), False
    finally:
        s.close()


def parse_responses(data):
    """Splits raw bytes into [(status, headers, body)] using Content-Length."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


def assert_clean(test, bw):
    """No sanitizer report and no crash in a stopped breakwater."""
    logs = bw.logs()
    test.assertNotRegex(logs, r"Sanitizer|runtime error:", "sanitizer report in breakwater's stderr")
    test.assertIn(bw.proc.returncode, (0, -9), "breakwater exited with %r" % bw.proc.returncode)


class SharedStoreCase(unittest.TestCase):
    """Tests sharing, class-wide, breakwater instances (cls.instances) in front of cls.upstream and a
    store (cls.backend: a RedisCluster, RedisSentinels...). Every instance must stay up, and stop clean."""
    instances, upstream, backend = [], None, None

    @classmethod
    def tearDownClass(cls):
        for bw in cls.instances:
            bw.stop()
        for p in (cls.upstream, cls.backend):
            if p:
                p.stop()
        for bw in cls.instances:  # no crash, no sanitizer report
            assert_clean(unittest.TestCase(), bw)

    def tearDown(self):
        for bw in self.instances:
            self.assertIsNone(bw.proc.poll(), bw.logs())


class ProxyTestCase(unittest.TestCase):
    """Starts an upstream and a breakwater with `routes` for each test."""
    routes = SIMPLE_ROUTE
    extra = ""
    listener_extra = ""

    def setUp(self):
        self.upstream = Upstream()
        self.port = free_port()
        self.admin_port = free_port()
        self.bw = Breakwater(self.config())

    def config(self, routes=None, extra=None, listener_extra=None):
        return base_config(self.port, self.admin_port, self.upstream.port,
                           self.routes if routes is None else routes,
                           self.extra if extra is None else extra,
                           self.listener_extra if listener_extra is None else listener_extra)

    def tearDown(self):
        self.bw.stop()
        self.upstream.stop()
        assert_clean(self, self.bw)

    def get(self, path, **kw):
        return request(self.port, "GET", path, **kw)


# ---------------------------------------------------------------- redis

class RedisServer:
    """A real redis-server on a free loopback port, no persistence."""

    def __init__(self, port=None, password=None, extra=(), tls=None, dir=None):
        """tls: a Certificates; the server then speaks TLS only, on `port`. dir: keep state
        (a cluster node's nodes.conf) across a restart."""
        self.port = port or free_port()
        self.password = password
        self.tls = tls
        self.extra = tuple(extra)
        self.dir = dir or tempfile.mkdtemp(prefix="bw-redis-")
        ports = ["--port", str(self.port)]
        if tls:
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", tls.cert, "--tls-key-file",
                     tls.key, "--tls-ca-cert-file", tls.ca, "--tls-auth-clients", "no"]
        args = ["redis-server"] + ports + ["--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no",
                "--logfile", os.path.join(self.dir, "redis.log")]
        if password:
            args += ["--requirepass", password]
        self.proc = subprocess.Popen(args + list(extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            raise RuntimeError("redis-server did not start")

    def url(self, with_password=True, host="127.0.0.1"):
        auth = f":{self.password}@" if self.password and with_password else ""
        return f"{'rediss' if self.tls else 'redis'}://{auth}{host}:{self.port}/0"

    def command(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw_sock:
            s = raw_sock
            if self.tls:
                import ssl
                ctx = ssl.create_default_context(cafile=self.tls.ca)
                s = ctx.wrap_socket(raw_sock, server_hostname="localhost")
            with s, s.makefile("rb") as f:
                return self._command(s, f, args)

    def _command(self, s, f, args, db=None):
        if self.password:
            s.sendall(resp_encode("AUTH", self.password))
            resp_read(f)
        if db is not None:
            s.sendall(resp_encode("SELECT", db))
            resp_read(f)
        s.sendall(resp_encode(*args))
        return resp_read(f)

    def command_db(self, db, *args):
        """One command in database `db`."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s, s.makefile("rb") as f:
            return self._command(s, f, args, db)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        """The same port, password, options and data directory, after stop() (or a SIGKILL)."""
        self.stop()
        return RedisServer(port=self.port, password=self.password, extra=self.extra, tls=self.tls, dir=self.dir)


def wait_for(what, timeout, interval=0.05):
    """Polls `what()` until it returns something true; that value, or None after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        v = what()
        if v or time.time() > deadline:
            return v
        time.sleep(interval)


class RedisCluster:
    """A real Redis Cluster on free loopback ports: `masters` masters with `replicas` replicas each,
    made by `redis-cli --cluster create`, with a short cluster-node-timeout and
    cluster-require-full-coverage no (a dead master costs only its own slots)."""

    def __init__(self, masters=3, replicas=1, node_timeout_ms=1000, password=None, tls=None):
        """tls: a Certificates; every node then speaks TLS only (clients, bus, replication) and
        announces itself as "localhost", the name its certificate carries."""
        self.password = password
        extra = ["--cluster-enabled", "yes", "--cluster-node-timeout", str(node_timeout_ms),
                 "--cluster-require-full-coverage", "no", "--repl-diskless-sync-delay", "0"]
        if password:
            extra += ["--masterauth", password]
        if tls:
            extra += ["--tls-cluster", "yes", "--tls-replication", "yes", "--cluster-announce-hostname", "localhost",
                      "--cluster-preferred-endpoint-type", "hostname"]
        self.nodes = {}
        try:
            for _ in range(masters * (1 + replicas)):
                # the cluster bus on a free port of its own (port + 10000 may be taken or past 65535)
                n = RedisServer(password=password, extra=extra + ["--cluster-port", str(free_port())], tls=tls)
                self.nodes[n.port] = n
            args = ["redis-cli"] + (["-a", password, "--no-auth-warning"] if password else [])
            args += (["--tls", "--cacert", tls.ca] if tls else []) + ["--cluster", "create"]
            args += ["127.0.0.1:%d" % p for p in self.nodes] + ["--cluster-replicas", str(replicas), "--cluster-yes"]
            out = subprocess.run(args, capture_output=True, text=True, timeout=60)
            if out.returncode != 0:
                raise RuntimeError("redis-cli --cluster create failed:\n" + out.stdout + out.stderr)
            if not wait_for(lambda: self.healthy(masters, replicas), 30, 0.1):
                raise RuntimeError("the cluster did not settle:\n" + self.node_table())
        except BaseException:
            self.stop()
            raise

    def command(self, port, *args):
        return self.nodes[port].command(*args)

    def alive(self):
        return [p for p, n in self.nodes.items() if n.proc.poll() is None]

    def cluster_nodes(self, via=None):
        """[{port, id, role, failed, master_id, slots: [(first, last)]}] as node `via` sees the cluster."""
        text = self.command(via or self.alive()[0], "CLUSTER", "NODES")
        text = text.decode() if isinstance(text, bytes) else text
        out = []
        for line in text.splitlines():
            f = line.split()
            flags = f[2].split(",")
            slots = []
            for r in f[8:]:
                if r.startswith("["):
                    continue  # a slot in migration
                a, _, b = r.partition("-")
                slots.append((int(a), int(b or a)))
            out.append({"id": f[0], "port": int(f[1].split("@")[0].rsplit(":", 1)[1]),
                        "role": "master" if "master" in flags else "replica",
                        "failed": "fail" in flags or "fail?" in flags, "master_id": f[3], "slots": slots})
        return out

    def node_table(self):
        try:
            return "\n".join(str(n) for n in self.cluster_nodes())
        except Exception as e:  # noqa: BLE001 - only for a failure message
            return repr(e)

    def healthy(self, masters, replicas):
        try:
            for p in self.alive():
                info = self.command(p, "CLUSTER", "INFO")
                info = info.decode() if isinstance(info, bytes) else info
                if "cluster_state:ok" not in info:
                    return False
            nodes = self.cluster_nodes()
        except (OSError, RuntimeError):
            return False
        ms = [n for n in nodes if n["role"] == "master" and n["slots"] and not n["failed"]]
        rs = [n for n in nodes if n["role"] == "replica" and not n["failed"] and n["port"] in self.alive() and
              "master_link_status:up" in self.command(n["port"], "INFO", "replication")]
        return len(ms) == masters and len(rs) == masters * replicas and \
            sum(b - a + 1 for m in ms for a, b in m["slots"]) == 16384

    def masters(self):
        """Ports of the live masters that serve slots, in port order."""
        return sorted(n["port"] for n in self.cluster_nodes() if n["role"] == "master" and n["slots"]
                      and not n["failed"] and n["port"] in self.alive())

    def node_id(self, port):
        return next(n["id"] for n in self.cluster_nodes() if n["port"] == port)

    def keyslot(self, key):
        return int(self.command(self.alive()[0], "CLUSTER", "KEYSLOT", key))

    def owner(self, slot):
        """The port of the live, unfailed master serving `slot`, as the cluster sees it (None: nobody)."""
        for n in self.cluster_nodes():
            if n["role"] == "master" and not n["failed"] and any(a <= slot <= b for a, b in n["slots"]):
                return n["port"]
        return None

    def kill(self, port):
        self.nodes[port].proc.kill()
        self.nodes[port].proc.wait()

    def restart(self, port):
        self.nodes[port] = self.nodes[port].restart()

    def stop(self):
        for n in self.nodes.values():
            n.stop()


class RedisSentinels:
    """A master, one replica and `count` redis-sentinel processes watching it as `name`,
    on free loopback ports (down-after 1000 ms: a dead master is replaced within a few seconds)."""

    def __init__(self, count=3, name="mymaster", password=None):
        self.name = name
        self.master = RedisServer(password=password, extra=["--repl-diskless-sync-delay", "0"] +
                                  (["--masterauth", password] if password else []))
        self.replica = RedisServer(password=password, extra=["--replicaof", "127.0.0.1", str(self.master.port),
                                                             "--repl-diskless-sync-delay", "0"] +
                                   (["--masterauth", password] if password else []))
        self.sentinels = []
        try:
            for _ in range(count):
                port = free_port()
                d = tempfile.mkdtemp(prefix="bw-sentinel-")
                conf = os.path.join(d, "sentinel.conf")
                with open(conf, "w") as f:
                    f.write(f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {d}\n"
                            f"sentinel monitor {name} 127.0.0.1 {self.master.port} 2\n"
                            f"sentinel down-after-milliseconds {name} 1000\n"
                            f"sentinel failover-timeout {name} 5000\n"
                            f"sentinel parallel-syncs {name} 1\n" +
                            (f"sentinel auth-pass {name} {password}\n" if password else ""))
                proc = subprocess.Popen(["redis-sentinel", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self.sentinels.append((port, proc))
                if not wait_port(port):
                    raise RuntimeError("redis-sentinel did not start")
            # every sentinel knows the replica and the other sentinels before anything fails
            if not wait_for(lambda: all(self._knows_all(p) for p, _ in self.sentinels), 30, 0.1):
                raise RuntimeError("the sentinels did not discover each other and the replica")
        except BaseException:
            self.stop()
            raise

    def sentinel(self, port, *args):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s, s.makefile("rb") as f:
            s.sendall(resp_encode(*args))
            return resp_read(f)

    def _knows_all(self, port):
        try:
            m = self.sentinel(port, "SENTINEL", "master", self.name)
            fields = dict(zip(m[0::2], m[1::2]))
            def get(k):
                v = fields.get(k.encode(), fields.get(k))
                return int(v) if v is not None else 0
            return get("num-slaves") >= 1 and get("num-other-sentinels") >= len(self.sentinels) - 1
        except (OSError, RuntimeError, ValueError):
            return False

    def master_port(self, via=None):
        """The master's port as a sentinel names it now."""
        r = self.sentinel(via or self.sentinels[0][0], "SENTINEL", "get-master-addr-by-name", self.name)
        return int(r[1])

    def url(self, password=None, db=0):
        auth = f":{password}@" if password else ""
        return "redis://" + auth + ",".join("127.0.0.1:%d" % p for p, _ in self.sentinels) + "/%d" % db

    def stop(self):
        for _, proc in self.sentinels:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.master.stop()
        self.replica.stop()


def resp_encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def resp_read(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("latin-1")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise RuntimeError("bad RESP: %r" % line)


class Certificates:
    """A throw-away CA and a server certificate for localhost / 127.0.0.1, made with the openssl CLI."""

    def __init__(self, names=("localhost",), ips=("127.0.0.1",)):
        self.dir = tempfile.mkdtemp(prefix="bw-tls-")
        self.ca, self.ca_key = os.path.join(self.dir, "ca.pem"), os.path.join(self.dir, "ca.key")
        self.cert, self.key = os.path.join(self.dir, "server.pem"), os.path.join(self.dir, "server.key")
        csr, ext = os.path.join(self.dir, "server.csr"), os.path.join(self.dir, "ext.cnf")
        run = lambda *a: subprocess.run(["openssl"] + list(a), check=True, capture_output=True)
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.ca_key, "-out", self.ca,
            "-days", "2", "-subj", "/CN=breakwater-test-ca")
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out", csr, "-subj", "/CN=" + names[0])
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join(["DNS:" + n for n in names] + ["IP:" + i for i in ips]) + "\n")
        run("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
            "-out", self.cert, "-days", "2", "-extfile", ext)


# ---------------------------------------------------------------- HTTP/2 upstream

class H2Upstream:
    """An HTTP/2 server (python3-h2; run the test with /usr/bin/python3), h2c prior
    knowledge, or TLS with ALPN when `tls` (a Certificates) is given. Paths:
    /echo            200, the request body back; x-echo-* headers say what arrived
                     (method, path, authority, scheme, and x-echo-headers: JSON of the fields)
    /sha             200, "LENGTH SHA256" of the request body
    /big/N           200, N deterministic bytes (flow control paced by the client's window)
    /trailers        200, "ok", then trailers grpc-status: 0, x-trailer: yes
    /stall           200 application/grpc, one gRPC message "hello", then nothing more
    /interim         103 (Early Hints), then 200 "final"
    /crlf            200 with CR LF in a field value (a response-splitting attempt)
    /hold            held until `hold_until` streams are open at once (all
                     connections), then answered 200 (so are later ones, at once)
    anything else    200 "ok"
    Knobs: max_streams (SETTINGS_MAX_CONCURRENT_STREAMS), refuse (the next N
    streams get RST_STREAM(REFUSED_STREAM)), goaway (the next N streams get a
    GOAWAY whose last stream id is below them, then the connection closes).
    Counters: connections, streams, max_open (per connection), max_total_open,
    sent, blocked (flow control stalls), requests [(headers dict, body)]."""

    def __init__(self, port=None, tls=None, alpn=("h2",), max_streams=100):
        import h2.config  # noqa: F401  (fails early under an interpreter without python3-h2)
        self.port = port or free_port()
        self.tls, self.alpn, self.max_streams = tls, alpn, max_streams
        self.lock = threading.Lock()
        self.connections = 0
        self.streams = 0
        self.max_open = 0
        self.max_total_open = 0
        self.total_open = 0
        self.requests = []
        self.refuse = 0
        self.refused = 0
        self.goaway = 0
        self.goaways = 0
        self.hold_until = None
        self.released = threading.Event()
        self.graceful_goaway = 0  # the next N connections (to pass by) get GOAWAY(last stream taken); streams finish
        self.sent = 0  # DATA payload bytes sent
        self.blocked = 0  # times a response had bytes to send and no flow-control window
        self.running = True
        self.sock = listen_on(self.port)
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        import hashlib
        import h2.config
        import h2.connection
        import h2.errors
        import h2.events
        import h2.settings
        try:
            if self.tls:
                import ssl
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(self.tls.cert, self.tls.key)
                ctx.set_alpn_protocols(list(self.alpn))
                s.settimeout(5)
                s = ctx.wrap_socket(s, server_side=True)
                if s.selected_alpn_protocol() != "h2":
                    time.sleep(0.2)
                    s.close()
                    return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            s.close()
            return
        with self.lock:
            self.connections += 1
            self.conns.append(s)
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=False, header_encoding=None, validate_outbound_headers=False,
            normalize_outbound_headers=False))
        conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams})
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        state = {"open": set(), "reqs": {}, "out": {}, "held": [], "closing": False}

        def respond(sid, status, headers, body, trailers=None, head=False):
            if head:
                conn.send_headers(sid, [(":status", str(status))] + headers, end_stream=True)
                self._close_stream(state, sid)
                return
            conn.send_headers(sid, [(":status", str(status))] + headers, end_stream=False)
            state["out"][sid] = [bytearray(body), trailers]

        def flush():
            for sid in list(state["out"]):
                buf, trailers = state["out"][sid]
                try:
                    while buf:
                        n = min(len(buf), conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                        if n <= 0:
                            with self.lock:
                                self.blocked += 1  # data to send, no window: the client holds us back
                            break
                        conn.send_data(sid, bytes(buf[:n]))
                        del buf[:n]
                        with self.lock:
                            self.sent += n
                    if not buf:
                        if trailers:
                            conn.send_headers(sid, trailers, end_stream=True)
                        else:
                            conn.end_stream(sid)
                        del state["out"][sid]
                        self._close_stream(state, sid)
                except Exception:
                    state["out"].pop(sid, None)
                    self._close_stream(state, sid)

        def answer(sid):
            headers, body = state["reqs"].pop(sid)
            h = {}
            for k, v in headers:
                k, v = k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v
                h.setdefault(k, []).append(v)
            with self.lock:
                self.requests.append((h, bytes(body)))
            path = h.get(":path", ["/"])[0]
            if path.startswith("/hold"):
                with self.lock:
                    if self.hold_until is not None and self.total_open >= self.hold_until:
                        self.released.set()
                if not self.released.is_set():
                    state["held"].append(sid)
                    return
            if path.startswith("/echo"):
                fields = {k: v for k, v in h.items() if not k.startswith(":")}
                respond(sid, 200, [("x-echo-method", h[":method"][0]), ("x-echo-path", path),
                                   ("x-echo-authority", h.get(":authority", [""])[0]),
                                   ("x-echo-scheme", h.get(":scheme", [""])[0]),
                                   ("x-echo-headers", json.dumps(fields))], bytes(body))
            elif path.startswith("/sha"):
                respond(sid, 200, [], ("%d %s" % (len(body), hashlib.sha256(body).hexdigest())).encode())
            elif path.startswith("/big/"):
                n = int(path.split("/")[2])
                data = (b"0123456789abcdef" * (n // 16 + 1))[:n]
                respond(sid, 200, [("content-length", str(n))], data, head=h[":method"][0] == "HEAD")
            elif path.startswith("/interim"):
                conn.send_headers(sid, [(":status", "103"), ("link", "</a.css>; rel=preload")])
                respond(sid, 200, [("x-final", "yes")], b"final")
            elif path.startswith("/crlf"):
                respond(sid, 200, [("x-bad", "a\r\nset-cookie: evil=1")], b"split")
            elif path.startswith("/trailers"):
                respond(sid, 200, [], b"ok", [("grpc-status", "0"), ("x-trailer", "yes")])
            elif path.startswith("/stall"):  # a gRPC message, then nothing more, ever
                conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                conn.send_data(sid, b"\x00\x00\x00\x00\x05hello")
            else:
                respond(sid, 200, [("content-type", "text/plain")], b"ok")

        try:
            s.settimeout(0.02)
            while self.running:
                try:
                    data = s.recv(65536)
                    if not data:
                        break
                except (socket.timeout, ssl_timeout_errors()):
                    data = None
                if data:
                    for ev in conn.receive_data(data):
                        if isinstance(ev, h2.events.RequestReceived):
                            sid = ev.stream_id
                            with self.lock:
                                self.streams += 1
                                refuse = self.refuse > 0
                                if refuse:
                                    self.refuse -= 1
                                    self.refused += 1
                                goaway = not refuse and self.goaway > 0
                                if goaway:
                                    self.goaway -= 1
                                    self.goaways += 1
                            if refuse or (state.get("graceful") is not None and sid > state["graceful"]):
                                conn.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
                                continue
                            if goaway:
                                conn.close_connection(error_code=0, last_stream_id=max(0, sid - 2))
                                state["closing"] = True
                                continue
                            state["open"].add(sid)
                            with self.lock:
                                self.total_open += 1
                                self.max_open = max(self.max_open, len(state["open"]))
                                self.max_total_open = max(self.max_total_open, self.total_open)
                            state["reqs"][sid] = [ev.headers, bytearray()]
                            if ev.stream_ended:
                                answer(sid)
                        elif isinstance(ev, h2.events.DataReceived):
                            if ev.stream_id in state["reqs"]:
                                state["reqs"][ev.stream_id][1] += ev.data
                            conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                        elif isinstance(ev, h2.events.StreamEnded):
                            if ev.stream_id in state["reqs"]:
                                answer(ev.stream_id)
                        elif isinstance(ev, h2.events.StreamReset):
                            state["reqs"].pop(ev.stream_id, None)
                            state["out"].pop(ev.stream_id, None)
                            if ev.stream_id in state["held"]:
                                state["held"].remove(ev.stream_id)
                            self._close_stream(state, ev.stream_id)
                        elif isinstance(ev, h2.events.ConnectionTerminated):
                            state["closing"] = True
                if self.graceful_goaway > 0 and state.get("graceful") is None:
                    # GOAWAY(NO_ERROR) naming the last stream taken: those in flight finish,
                    # newer ones are refused (python-h2 cannot send more after its own GOAWAY).
                    from hyperframe.frame import GoAwayFrame
                    state["graceful"] = conn.highest_inbound_stream_id
                    s.sendall(conn.data_to_send() + GoAwayFrame(stream_id=0, last_stream_id=state["graceful"],
                                                                error_code=0).serialize())
                    with self.lock:
                        self.graceful_goaway -= 1
                if state["held"] and self.released.is_set():
                    held, state["held"] = state["held"], []
                    for sid in held:
                        respond(sid, 200, [], b"held")
                elif state["held"] and self.hold_until is not None:
                    with self.lock:
                        if self.total_open >= self.hold_until:
                            self.released.set()
                flush()
                out = conn.data_to_send()
                if out:
                    s.sendall(out)
                if state["closing"]:
                    time.sleep(0.05)
                    break
        except Exception:
            pass
        finally:
            with self.lock:
                self.total_open -= len(state["open"])
                if s in self.conns:
                    self.conns.remove(s)
            try:
                s.close()
            except OSError:
                pass

    def _close_stream(self, state, sid):
        if sid in state["open"]:
            state["open"].discard(sid)
            with self.lock:
                self.total_open -= 1

    def stop(self):
        self.running = False
        self.released.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def ssl_timeout_errors():
    import ssl
    return ssl.SSLWantReadError

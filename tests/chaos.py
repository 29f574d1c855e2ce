#!/usr/bin/env python3
"""Chaos and soak: breakwater under steady load while the upstream and Redis are
killed and restarted, SIGHUPs alternate two configs, and a crowd of idle
connections comes and goes. The upstream is hostile throughout: it closes idle
keep-alive connections early (as Node and gunicorn do) and sends stray bytes on
idle connections, while slow clients upload bodies larger than the replay buffer;
every answer is checked against its own request (no cross-wired response).
Loopback only, bounded in time and requests.

    tests/chaos.py                    the long run (~30 s, 100 SIGHUPs, 2,000 idle connections)
    tests/chaos.py --short            the CI version (~20 s), also run by ./test.sh (ctest chaos_short)
    tests/chaos.py --cluster [--short]  the store on a 3+3 Redis Cluster whose masters are SIGKILLed and
                                      restarted under load (3 rounds; --short: 1, ctest chaos_cluster_short)

Pass: no crash, no hung request, no failure outside the windows where the
upstream or Redis is down, RSS and open descriptors back within 10% of the start.
"""
import argparse
import hashlib
import http.client
import itertools
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "integration"))
from harness import (Breakwater, RedisCluster, RedisServer, Upstream, base_config, free_port, route,  # noqa: E402
                     wait_for)

POLICIES = """
[route.rate_limit]
rate = 1000000
per = "1s"
key = ["client_ip"]

[route.retry]
max_attempts = 2
backoff_base = "10ms"
backoff_max = "50ms"
retry_on = ["connect-failure", "reset", "503"]

[route.circuit_breaker]
window = "count"
window_size = 20
minimum_calls = 10
failure_rate_threshold = 50
open_duration = "{open}"
open_duration_max = "1s"
half_open_calls = 2
"""


IDLE_CLOSE = 0.2  # the upstream closes keep-alive connections idle this long (seconds)


def proc_stats(pid):
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    rss = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmRSS:")))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


class Load:
    """Keep-alive clients in threads; every response is recorded with its time."""

    UPLOAD = b"u" * 70_000  # over the 64 KiB replay buffer: streamed, never resendable

    def __init__(self, port, threads, max_requests, hostile_threads=1):
        self.port, self.stop_flag = port, threading.Event()
        self.results = []  # (t, status or error)
        self.worst = 0.0   # the longest request (seconds)
        self.lock = threading.Lock()
        self.max_requests = max_requests
        self.ids = itertools.count()
        self.threads = [threading.Thread(target=self.run, args=(False,), daemon=True) for _ in range(threads)]
        self.threads += [threading.Thread(target=self.run, args=(True,), daemon=True)
                         for _ in range(hostile_threads)]

    def one(self, conn, hostile, step):
        """One request; its outcome is the status, or "crosswired" when the answer is another's."""
        n = next(self.ids)
        if hostile and step % 3 == 0:
            conn.request("GET", "/h/stray")
            r = conn.getresponse()
            body = r.read()
            if r.status == 200 and body != b"ok":
                print(f"  cross-wired: /stray answered with {body[:60]!r}", file=sys.stderr)
                return r, "crosswired"
            return r, r.status
        if hostile and step % 3 == 1:
            conn.request("POST", f"/h/echo?upload={n}", body=self.UPLOAD)
        else:
            conn.request("GET", f"/h/echo?n={n}" if hostile else f"/echo?n={n}")
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            return r, r.status
        e = json.loads(body)
        want = f"/h/echo?upload={n}" if hostile and step % 3 == 1 else f"/h/echo?n={n}" if hostile else f"/echo?n={n}"
        if e["target"] != want or (hostile and step % 3 == 1 and len(e["body"]) != len(self.UPLOAD)):
            print(f"  cross-wired: {want} answered for {e['target']} ({len(e['body'])} body bytes)", file=sys.stderr)
            return r, "crosswired"
        return r, 200

    def run(self, hostile):
        conn = None
        for step in itertools.count():
            if self.stop_flag.is_set():
                return
            with self.lock:
                if len(self.results) >= self.max_requests:
                    return
            t = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                r, outcome = self.one(conn, hostile, step)
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except socket.timeout:
                outcome, conn = "hung", None
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                outcome, conn = type(e).__name__, None
            with self.lock:
                self.results.append((t, outcome))
                self.worst = max(self.worst, time.monotonic() - t)
            # The hostile client pauses past the upstream's idle close, so its pooled connections go stale.
            time.sleep(0.3 if hostile else 0.002)

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


STORE_TIMEOUT_MS = 100


def shut_down(bw, *others):
    """Stops breakwater and everything else started; (breakwater's exit code, a sanitizer reported)."""
    code = bw.stop()
    for o in others:
        o.stop()
    sanitized = "Sanitizer" in bw.logs()
    if sanitized:
        print("sanitizer report in breakwater's stderr")
    return code, sanitized


def cluster_chaos(short):
    """Masters of a 3+3 Redis Cluster SIGKILLed and restarted under load. on_error = "allow":
    no request may fail, hang, or take longer than store.timeout beyond the upstream's own time."""
    rounds = 1 if short else 3
    cluster, upstream = RedisCluster(masters=3, replicas=1, node_timeout_ms=1000), Upstream()
    port, admin = free_port(), free_port()
    seeds = ",".join("127.0.0.1:%d" % p for p in cluster.masters()[:2])
    store = (f'[store]\nbackend = "redis-cluster"\nurl = "redis://{seeds}"\ntimeout = "{STORE_TIMEOUT_MS}ms"\n'
             f'on_error = "allow"\n')
    policies = '[route.rate_limit]\nrate = 1000000\nper = "1s"\nkey = ["client_ip"]\n'
    bw = Breakwater(base_config(port, admin, upstream.port, route("api", "/", policies, timeout="2s"), extra=store))
    failed, failovers = False, []
    try:
        wait_for(lambda: "redis connected" in bw.logs(), 5)
        time.sleep(0.5)
        descriptor = hashlib.sha256(b"127.0.0.1").hexdigest()
        bucket_slot = cluster.keyslot("bw:rl:{api:%s}" % descriptor)
        load = Load(port, threads=4, max_requests=500_000, hostile_threads=0)
        load.start()
        time.sleep(1)
        for i in range(rounds):
            # the master that owns the slot of the bucket under load, so its failover is felt
            victim = cluster.owner(bucket_slot)
            slots = next(n["slots"] for n in cluster.cluster_nodes() if n["port"] == victim)
            cluster.kill(victim)
            t = time.monotonic()
            promoted = wait_for(lambda: cluster.owner(slots[0][0]) not in (None, victim), 30, 0.05)
            failovers.append(time.monotonic() - t if promoted else None)
            print(f"  round {i + 1}: master {victim} killed, replica promoted after "
                  f"{failovers[-1] or float('nan'):.1f} s", file=sys.stderr)
            time.sleep(1)
            cluster.restart(victim)  # it comes back as a replica of the promoted one
            if not wait_for(lambda: cluster.healthy(3, 1), 30, 0.2):
                print("  the cluster did not heal:\n" + cluster.node_table(), file=sys.stderr)
                failed = True
                break
        time.sleep(1)
        load.stop()
        results = load.results
        bad = [o for _, o in results if o != 200]
        crashed = bw.proc.poll() is not None
        print(f"requests sent:            {len(results)}")
        print(f"failed requests:          {len(bad)} {sorted(set(bad))}")
        print(f"failovers (s):            {['%.1f' % f if f else 'none' for f in failovers]}")
        print(f"longest request:          {load.worst * 1000:.0f} ms (store.timeout {STORE_TIMEOUT_MS} ms)")
        print(f"store errors (allowed):   {bw.metric('breakwater_store_errors_total'):.0f}")
        print(f"crashed:                  {crashed}")
        # the upstream answers at once; a request's time beyond a second is the store's doing
        failed = failed or crashed or bad or None in failovers or load.worst > STORE_TIMEOUT_MS / 1000 + 1.0
    finally:
        code, sanitized = shut_down(bw, upstream, cluster)
    failed = failed or sanitized or code != 0
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--cluster", action="store_true")
    args = ap.parse_args()
    if args.cluster:
        return cluster_chaos(args.short)
    hups, idle_conns, settle = (30, 500, 3) if args.short else (100, 2000, 10)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    upstream, redis = Upstream(), RedisServer()
    # The hostile upstream serves one slow client only, so its connections sit idle between requests.
    hostile = Upstream()
    hostile.idle_close = IDLE_CLOSE
    port, admin = free_port(), free_port()
    store = f'[store]\nbackend = "redis"\nurl = "{redis.url()}"\ntimeout = "50ms"\non_error = "allow"\n'
    hostile_route = f"""
[upstream.hostile]
endpoints = ["127.0.0.1:{hostile.port}"]

[[route]]
name = "hostile"
listener = "in"
upstream = "hostile"
match = {{ path_prefix = "/h" }}
timeout = "2s"
"""
    configs = [base_config(port, admin, upstream.port, route("api", "/", POLICIES.format(open=o), timeout="2s"),
                           extra=store + hostile_route) for o in ("300ms", "400ms")]
    bw = Breakwater(configs[0])
    windows = []  # (start, end): failures are expected inside
    grace = 3.0   # breaker open duration + a probe after the upstream is back, on a loaded machine
    failed = False
    try:
        time.sleep(0.5)
        load = Load(port, threads=4, max_requests=200_000)
        load.start()
        time.sleep(2)
        rss0, fds0 = proc_stats(bw.proc.pid)
        phase = lambda name: print(f"  after {name:14s} RSS {proc_stats(bw.proc.pid)[0]} KiB", file=sys.stderr)

        t = time.monotonic()
        upstream.stop()
        time.sleep(1)
        upstream = Upstream(upstream.port)
        # A request in flight when the upstream died (started up to a route timeout earlier) may fail too.
        windows.append((t - 2.0, time.monotonic() + grace))
        time.sleep(2)
        phase("upstream")

        redis.stop()  # on_error = allow: no failure is expected at all
        time.sleep(1)
        redis = RedisServer(port=redis.port)
        time.sleep(2)
        phase("redis")

        for i in range(hups):
            bw.reload(configs[(i + 1) % 2], wait=0.02)
            # Signals sent faster than they are handled merge into one: each waits for its reload.
            deadline = time.monotonic() + 5
            while (bw.metric("breakwater_config_reloads_total", result="success") < i + 1 and
                   time.monotonic() < deadline):
                time.sleep(0.01)
        time.sleep(1)
        phase("reloads")

        idle = []
        for _ in range(idle_conns):
            idle.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(1)
        _, fds_crowd = proc_stats(bw.proc.pid)
        for s in idle:
            s.close()
        time.sleep(settle)
        phase("idle crowd")
        load.stop()
        time.sleep(6)  # one malloc trim period
        rss1, fds1 = proc_stats(bw.proc.pid)

        def in_window(ts):
            return any(a <= ts <= b for a, b in windows)

        results = load.results
        bad = [(ts, o) for ts, o in results if o != 200 and (not in_window(ts) or o == "crosswired")]
        hung = [r for r in results if r[1] == "hung"]
        expected = [r for r in results if r[1] != 200 and in_window(r[0])]
        crashed = bw.proc.poll() is not None
        print(f"requests sent:            {len(results)}")
        print(f"failed in outage windows: {len(expected)} (expected: upstream down)")
        print(f"failed outside windows:   {len(bad)} {sorted(set(o for _, o in bad))}")
        print(f"hung requests:            {len(hung)}")
        print(f"cross-wired answers:      {sum(1 for r in results if r[1] == 'crosswired')}")
        print(f"SIGHUP reloads:           {hups} (success {bw.metric('breakwater_config_reloads_total', result='success'):.0f})")
        print(f"idle connections:         {idle_conns} (fds with the crowd: {fds_crowd})")
        print(f"RSS KiB before/after:     {rss0} / {rss1} ({100.0 * (rss1 - rss0) / rss0:+.1f}%)")
        print(f"open fds before/after:    {fds0} / {fds1}")
        print(f"crashed:                  {crashed}")
        # ASan keeps freed memory in quarantine and grows its shadow: RSS is only judged without it.
        sanitized = "libasan" in subprocess.run(["ldd", bw.binary], capture_output=True, text=True).stdout
        if sanitized:
            print("RSS not judged:          the binary runs under AddressSanitizer")
        rss_grew = rss1 > rss0 * 1.10 and not sanitized
        failed = (crashed or bad or hung or rss_grew or fds1 > fds0 * 1.10 + 2 or
                  bw.metric("breakwater_config_reloads_total", result="success") != hups)
    finally:
        code, sanitized = shut_down(bw, upstream, hostile, redis)
    failed = failed or sanitized
    print("FAIL" if failed else "PASS")
    return 1 if failed or code not in (0,) else 0


if __name__ == "__main__":
    sys.exit(main())

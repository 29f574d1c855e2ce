#!/usr/bin/env python3
"""Benchmark breakwater side by side with nginx and HAProxy (bench/run.sh runs this).

Method (issue "Performance"): a sidecar on a 2-core machine. wrk (-t1) runs on
CPU 0; the proxy under test and the nginx backend share CPU 1 (the direct run
has the backend alone on CPU 1). Targets are measured interleaved (A B C ... A B
C ...) for ROUNDS rounds and medians are reported. Every proxy runs one worker
thread with keep-alive to the backend and no access log.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def descendants(pid):
    out = [pid]
    try:
        for child in open(f"/proc/{pid}/task/{pid}/children").read().split():
            out += descendants(int(child))
    except OSError:
        pass
    return out


def redis_script_calls(*ports):
    """EVALSHA + EVAL calls Redis (every node named) has answered so far."""
    total = 0
    for port in ports:
        out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "commandstats"], capture_output=True,
                             text=True).stdout
        total += sum(int(n) for n in re.findall(r"cmdstat_eval(?:sha)?:calls=(\d+)", out))
    return total


def start_redis_cluster(work, masters=3):
    """A 3-master Redis Cluster (no replicas) on core 0, as the single Redis; returns (procs, ports)."""
    procs, ports = [], []
    for _ in range(masters):
        port, bus = free_port(), free_port()
        d = tempfile.mkdtemp(prefix="cluster-", dir=work)
        procs.append(Proc(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", d, "--cluster-enabled", "yes",
                           "--cluster-port", str(bus)], cpu=0))
        ports.append(port)
        wait_port(port)
    subprocess.run(["redis-cli", "--cluster", "create"] + [f"127.0.0.1:{p}" for p in ports] +
                   ["--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        states = [subprocess.run(["redis-cli", "-p", str(p), "CLUSTER", "INFO"], capture_output=True,
                                 text=True).stdout for p in ports]
        if all("cluster_state:ok" in s for s in states):
            break
        time.sleep(0.1)
    return procs, ports


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass
    return total


def peak_rss_kib(pids):
    total = 0
    for p in pids:
        try:
            m = re.search(r"VmHWM:\s+(\d+)", open(f"/proc/{p}/status").read())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total


class Proc:
    def __init__(self, args, cpu=None, **kw):
        if cpu is not None:
            args = ["taskset", "-c", str(cpu)] + args
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)

    def pids(self):
        return descendants(self.p.pid)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def nginx_conf(d, body):
    return f"""worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log crit;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  default_type text/plain;
  {body}
}}
"""


def start_backend(work, cpu):
    d = tempfile.mkdtemp(prefix="backend-", dir=work)
    os.chmod(work, 0o755)
    os.chmod(d, 0o755)  # nginx workers run unprivileged
    with open(os.path.join(d, "16k"), "wb") as f:
        f.write(b"x" * 16384)
    os.chmod(os.path.join(d, "16k"), 0o644)
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(d, f"""server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = /ok {{ return 200 "ok"; }}
    location = /16k {{ root {d}; }}
  }}"""))
    p = Proc(["nginx", "-c", conf, "-p", d], cpu=cpu)
    wait_port(port)
    return p, port


def start_nginx_proxy(work, backend, cpu, listen="", http=""):
    """nginx proxying to `backend` over pooled HTTP/1.1; `listen`: more listen options
    ("http2" for h2c), `http`: more http-level directives."""
    d = tempfile.mkdtemp(prefix="nginx-", dir=work)
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(d, f"""upstream backend {{ server 127.0.0.1:{backend}; keepalive 128; keepalive_requests 10000000; }}
  {http}
  server {{
    listen 127.0.0.1:{port} {listen} backlog=4096;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}"""))
    p = Proc(["nginx", "-c", conf, "-p", d], cpu=cpu)
    wait_port(port)
    return p, port


def start_haproxy(work, backend, cpu):
    d = tempfile.mkdtemp(prefix="haproxy-", dir=work)
    port = free_port()
    conf = os.path.join(d, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write(f"""global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:{backend}
""")
    p = Proc(["haproxy", "-f", conf], cpu=cpu)
    wait_port(port)
    return p, port


POLICIES = """
[route.circuit_breaker]
window = "count"
window_size = 100
minimum_calls = 20
[route.bulkhead]
max_concurrent = 1000
[route.retry]
max_attempts = 2
retry_on = ["connect-failure", "503"]
"""


def start_breakwater(work, binary, backend, cpu, policies=False, store=None, workers=1):
    d = tempfile.mkdtemp(prefix="breakwater-", dir=work)
    port, admin = free_port(), free_port()
    rate = ""
    if store:
        rate = """
[route.rate_limit]
rate = 1000000
per = "1s"
key = ["client_ip"]
"""
    conf = os.path.join(d, "breakwater.toml")
    with open(conf, "w") as f:
        f.write(f"""[server]
workers = {workers}
admin = "127.0.0.1:{admin}"
access_log = "off"
{store or ''}
[[listener]]
name = "in"
bind = "127.0.0.1:{port}"
[upstream.app]
endpoints = ["127.0.0.1:{backend}"]
[[route]]
name = "all"
listener = "in"
upstream = "app"
{POLICIES if policies else ''}{rate}
""")
    p = Proc([binary, "--config", conf], cpu=cpu)
    wait_port(port)
    time.sleep(0.3)  # the Redis connection comes up in the background
    return p, port


def wrk(port, path, conns, duration, cpu=0):
    args = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    if cpu is not None:
        args = ["taskset", "-c", str(cpu)] + args
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out and path != "/ok" and conns == 1:
        raise RuntimeError("the backend answers errors:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)

    def lat(q):
        m = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)\b", out)
        v = float(m.group(1))
        return v * {"us": 1, "ms": 1000, "s": 1e6}[m.group(2)]

    if (errors or sock_err) and os.environ.get("BENCH_DEBUG"):
        print(out, file=sys.stderr)
    return {"rps": rps, "requests": total, "p50": lat(50), "p99": lat(99),
            "errors": int(errors.group(1)) if errors else 0,
            "socket_errors": sum(map(int, sock_err.groups())) if sock_err else 0}


def failover_under_wrk(work, binary, backend, duration):
    """wrk on a Redis-cluster-backed rate limit while the master holding the bucket is SIGKILLed
    and its replica promoted: the longest request against store.timeout (50 ms)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
    import hashlib
    from harness import RedisCluster
    cluster = RedisCluster(masters=3, replicas=1, node_timeout_ms=1000)
    proc = None
    try:
        seeds = ",".join(f"127.0.0.1:{p}" for p in cluster.masters()[:2])
        store = f'[store]\nbackend = "redis-cluster"\nurl = "redis://{seeds}"\ntimeout = "50ms"\non_error = "allow"\n'
        proc, port = start_breakwater(work, binary, backend, None, store=store, workers=1)
        slot = cluster.keyslot("bw:rl:{all:%s}" % hashlib.sha256(b"127.0.0.1").hexdigest())
        victim, promoted = cluster.owner(slot), []

        def kill():
            time.sleep(duration / 3)
            cluster.kill(victim)
            t = time.time()
            while cluster.owner(slot) in (None, victim) and time.time() - t < 30:
                time.sleep(0.05)
            promoted.append(time.time() - t)

        killer = threading.Thread(target=kill)
        killer.start()
        args = ["wrk", "-t1", "-c16", f"-d{duration}s", "--latency", f"http://127.0.0.1:{port}/ok"]
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        killer.join()
        m = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\b", out)
        worst_ms = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
        p99 = re.search(r"\s99%\s+(\S+)", out).group(1)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        print("\n| Redis Cluster failover under wrk (16 conns, master SIGKILLed) | req/s | p99 | max latency | "
              "store.timeout | promotion after |\n|---|---:|---:|---:|---:|---:|")
        print(f"| breakwater-redis-cluster-rl | {rps:.0f} | {p99} | {worst_ms:.1f} ms | 50 ms | "
              f"{promoted[0]:.1f} s |")
    finally:
        if proc:
            proc.stop()
        cluster.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--breakwater", required=True)
    ap.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", 10)))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 3)))
    ap.add_argument("--paths", default=os.environ.get("PATHS", "/ok,/16k"))
    ap.add_argument("--conns", default=os.environ.get("CONNS", "32,64"))
    ap.add_argument("--only", default=os.environ.get("ONLY", ""), help="comma-separated target names")
    ap.add_argument("--baseline", default=os.environ.get("BASELINE", ""),
                    help="another breakwater binary (e.g. the commit before a refactor), measured as its own "
                         "targets baseline and baseline-policies in the same interleaved run")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bw-bench-")
    started = []
    redis_port = free_port()
    redis = Proc(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", work], cpu=0)  # Redis lives elsewhere: not on the sidecar's core
    started.append(redis)
    wait_port(redis_port)
    redis_store = f'[store]\nbackend = "redis"\nurl = "redis://127.0.0.1:{redis_port}/0"\ntimeout = "50ms"\n'
    cluster_procs, cluster_ports = start_redis_cluster(work)
    started += cluster_procs
    cluster_store = ('[store]\nbackend = "redis-cluster"\nurl = "redis://' +
                     ",".join(f"127.0.0.1:{p}" for p in cluster_ports[:2]) + '"\ntimeout = "50ms"\n')
    redis_nodes = {"breakwater-redis-rl": [redis_port], "breakwater-redis-cluster-rl": cluster_ports}
    try:
        backend, bport = start_backend(work, cpu=1)
        started.append(backend)
        targets = {
            "direct": lambda: (None, bport),
            "nginx": lambda: start_nginx_proxy(work, bport, 1),
            "haproxy": lambda: start_haproxy(work, bport, 1),
            "breakwater": lambda: start_breakwater(work, args.breakwater, bport, 1),
            "breakwater-policies": lambda: start_breakwater(work, args.breakwater, bport, 1, policies=True,
                                                            store='[store]\nbackend = "memory"\n'),
            "breakwater-redis-rl": lambda: start_breakwater(work, args.breakwater, bport, 1, store=redis_store),
            "breakwater-redis-cluster-rl": lambda: start_breakwater(work, args.breakwater, bport, 1,
                                                                    store=cluster_store),
        }
        if args.baseline:
            targets["baseline"] = lambda: start_breakwater(work, args.baseline, bport, 1)
            targets["baseline-policies"] = lambda: start_breakwater(work, args.baseline, bport, 1, policies=True,
                                                                    store='[store]\nbackend = "memory"\n')
        if args.only:
            targets = {k: v for k, v in targets.items() if k in args.only.split(",") or k == "direct"}
        running = {}
        for name, start in targets.items():
            proc, port = start()
            if proc:
                started.append(proc)
            running[name] = (proc, port)
        results = {}
        paths, conns = args.paths.split(","), [int(c) for c in args.conns.split(",")]
        for r in range(args.rounds):
            for path in paths:
                for c in conns:
                    for name, (proc, port) in running.items():
                        pids = proc.pids() if proc else []
                        on_redis = name in redis_nodes
                        calls = redis_script_calls(*redis_nodes[name]) if on_redis else 0
                        before = cpu_ticks(pids)
                        res = wrk(port, path, c, args.duration)
                        after = cpu_ticks(pids)
                        if on_redis:
                            res["per_call"] = res["requests"] / max(1, redis_script_calls(*redis_nodes[name]) - calls)
                        res["cpu_us"] = (after - before) / TICK * 1e6 / max(1, res["requests"]) if proc else 0
                        results.setdefault((name, path, c), []).append(res)
                        print(f"round {r + 1} {name:22s} {path:4s} c={c:<3d} {res['rps']:10.0f} req/s "
                              f"p50 {res['p50']:7.0f}us p99 {res['p99']:7.0f}us cpu {res['cpu_us']:5.1f}us/req"
                              f"{'  ERRORS ' + str(res['errors'] + res['socket_errors']) if res['errors'] + res['socket_errors'] else ''}",
                              file=sys.stderr, flush=True)
        rss = {name: peak_rss_kib(proc.pids()) / 1024 if proc else 0 for name, (proc, port) in running.items()}
        # added single-connection latency
        single = {}
        for name, (proc, port) in running.items():
            single[name] = statistics.median(wrk(port, "/ok", 1, max(2, args.duration // 2))["p50"]
                                             for _ in range(args.rounds))
        print_table(results, rss, single, paths, conns, running)
        if "breakwater-redis-cluster-rl" in running:
            failover_under_wrk(work, args.breakwater, bport, max(6, args.duration))
        # scaling: breakwater plain with 1 and 2 workers, unpinned
        print("\n| breakwater workers (unpinned, /ok, 64 conns) | req/s |\n|---|---:|")
        for w in (1, 2):
            proc, port = start_breakwater(work, args.breakwater, bport, None, workers=w)
            started.append(proc)
            rps = statistics.median(wrk(port, "/ok", 64, args.duration, cpu=None)["rps"] for _ in range(args.rounds))
            print(f"| {w} | {rps:.0f} |")
            proc.stop()
    finally:
        for p in reversed(started):
            p.stop()
        shutil.rmtree(work, ignore_errors=True)


def print_table(results, rss, single, paths, conns, running):
    med = lambda xs: statistics.median(xs)
    print("| target | path | conns | req/s | × direct | × nginx | p50 µs | p99 µs | proxy CPU µs/req | peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in paths:
        for c in conns:
            direct = med([r["rps"] for r in results[("direct", path, c)]])
            ngx = results.get(("nginx", path, c))
            nginx_rps = med([r["rps"] for r in ngx]) if ngx else None
            for name in running:
                rs = results[(name, path, c)]
                rps = med([r["rps"] for r in rs])
                print(f"| {name} | {path} | {c} | {rps:.0f} | {rps / direct:.2f} | "
                      f"{(rps / nginx_rps) if nginx_rps else float('nan'):.2f} | {med([r['p50'] for r in rs]):.0f} | "
                      f"{med([r['p99'] for r in rs]):.0f} | {med([r['cpu_us'] for r in rs]):.1f} | "
                      f"{rss[name]:.1f} |")
    if "breakwater-policies" in running and "breakwater" in running:
        # Rounds are interleaved, so each round's every-policy cell is compared with the plain
        # cell of the same round; the median of those differences (issue 16's target: <= 1.0 µs).
        print("\n| every policy over the plain route | path | conns | proxy CPU µs/req added | req/s ratio |")
        print("|---|---|---:|---:|---:|")
        for path in paths:
            for c in conns:
                pol, plain = results[("breakwater-policies", path, c)], results[("breakwater", path, c)]
                added = med([a["cpu_us"] - b["cpu_us"] for a, b in zip(pol, plain)])
                ratio = med([a["rps"] / b["rps"] for a, b in zip(pol, plain)])
                print(f"| breakwater-policies | {path} | {c} | {added:+.2f} | {ratio:.3f} |")
    if "breakwater-redis-rl" in running:
        print("\n| Redis-backed rate limit | path | conns | × same route, no limit | × memory store, every policy "
              "| requests per Redis call |")
        print("|---|---|---:|---:|---:|---:|")
        for path in paths:
            for c in conns:
                rl = med([r["rps"] for r in results[("breakwater-redis-rl", path, c)]])
                ratio = lambda name: (f"{rl / med([r['rps'] for r in results[(name, path, c)]]):.2f}"
                                      if (name, path, c) in results else "-")
                per_call = med([r["per_call"] for r in results[("breakwater-redis-rl", path, c)]])
                print(f"| breakwater-redis-rl | {path} | {c} | {ratio('breakwater')} | {ratio('breakwater-policies')} "
                      f"| {per_call:.1f} |")
                if ("breakwater-redis-cluster-rl", path, c) in results:
                    cl = results[("breakwater-redis-cluster-rl", path, c)]
                    print(f"| breakwater-redis-cluster-rl (3 masters) | {path} | {c} | "
                          f"{med([r['rps'] for r in cl]) / med([r['rps'] for r in results[('breakwater', path, c)]]):.2f}"
                          f" | × single Redis: {med([r['rps'] for r in cl]) / rl:.2f} | "
                          f"{med([r['per_call'] for r in cl]):.1f} |")
    if "baseline" in running:
        print("\n| new ÷ baseline binary | path | conns | req/s | proxy CPU µs/req |\n|---|---|---:|---:|---:|")
        for new, old in (("breakwater", "baseline"), ("breakwater-policies", "baseline-policies")):
            for path in paths:
                for c in conns:
                    if (new, path, c) not in results or (old, path, c) not in results:
                        continue
                    n, o = results[(new, path, c)], results[(old, path, c)]
                    print(f"| {new} | {path} | {c} | {med([r['rps'] for r in n]) / med([r['rps'] for r in o]):.3f} | "
                          f"{med([r['cpu_us'] for r in n]) / max(1e-9, med([r['cpu_us'] for r in o])):.3f} |")
    print("\n| target | single-connection p50 µs | added vs direct µs |\n|---|---:|---:|")
    for name in running:
        print(f"| {name} | {single[name]:.0f} | {single[name] - single['direct']:.0f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""HTTP/2 side by side (bench/h2.sh runs this): h2load with many streams per
connection against nginx (h2c listener, HTTP/1.1 to the backend) and breakwater
(h2c listener; HTTP/1.1 or HTTP/2 to the backend), pinned as in run.py: the
load generator on CPU 0, the proxy and the nginx backend on CPU 1. Medians of
ROUNDS interleaved rounds; ratios against nginx in the same run."""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import (POLICIES, TICK, Proc, cpu_ticks, free_port, nginx_conf, peak_rss_kib,  # noqa: E402
                 start_backend, start_nginx_proxy, wait_port)


def start_h2_backend(work, cpu):
    """nginx speaking h2c (prior knowledge), for breakwater's HTTP/2 upstream."""
    d = tempfile.mkdtemp(prefix="h2backend-", dir=work)
    os.chmod(d, 0o755)
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(d, f"""http2_max_concurrent_streams 1000;
  server {{
    listen 127.0.0.1:{port} http2 backlog=4096;
    location = /ok {{ return 200 "ok"; }}
  }}"""))
    p = Proc(["nginx", "-c", conf, "-p", d], cpu=cpu)
    wait_port(port)
    return p, port


def start_nginx_h2(work, backend, cpu):
    return start_nginx_proxy(work, backend, cpu, listen="http2", http="http2_max_concurrent_streams 1000;")


def start_breakwater(work, binary, backend, cpu, policies=False, protocol="http1"):
    d = tempfile.mkdtemp(prefix="breakwater-", dir=work)
    port, admin = free_port(), free_port()
    conf = os.path.join(d, "breakwater.toml")
    with open(conf, "w") as f:
        f.write(f"""[server]
workers = 1
admin = "127.0.0.1:{admin}"
access_log = "off"
[store]
backend = "memory"
[[listener]]
name = "in"
bind = "127.0.0.1:{port}"
max_concurrent_streams = 1000
[upstream.app]
endpoints = ["127.0.0.1:{backend}"]
protocol = "{protocol}"
[[route]]
name = "all"
listener = "in"
upstream = "app"
{POLICIES if policies else ''}
""")
    p = Proc([binary, "--config", conf], cpu=cpu)
    wait_port(port)
    return p, port


def h2load(port, path, conns, streams, requests):
    args = ["taskset", "-c", "0", "h2load", "-n", str(requests), "-c", str(conns), "-m", str(streams),
            f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out).group(1))
    ok = int(re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out).group(1))
    return {"rps": rps, "requests": ok, "failed": requests - ok}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--breakwater", required=True)
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 3)))
    ap.add_argument("--requests", type=int, default=int(os.environ.get("REQUESTS", 200000)))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bw-h2bench-")
    started = []
    try:
        backend, bport = start_backend(work, cpu=1)
        started.append(backend)
        h2backend, h2port = start_h2_backend(work, cpu=1)
        started.append(h2backend)
        targets = {
            "nginx (h2c → h1)": lambda: start_nginx_h2(work, bport, 1),
            "breakwater (h2c → h1)": lambda: start_breakwater(work, args.breakwater, bport, 1),
            "breakwater-policies (h2c → h1)": lambda: start_breakwater(work, args.breakwater, bport, 1, True),
            "breakwater (h2c → h2c)": lambda: start_breakwater(work, args.breakwater, h2port, 1, protocol="http2"),
        }
        running = {}
        for name, start in targets.items():
            proc, port = start()
            started.append(proc)
            running[name] = (proc, port)
        cells = [(8, 1), (8, 16), (32, 16)]  # (connections, concurrent streams per connection)
        results = {}
        for r in range(args.rounds):
            for conns, streams in cells:
                for name, (proc, port) in running.items():
                    before = cpu_ticks(proc.pids())
                    res = h2load(port, "/ok", conns, streams, args.requests)
                    after = cpu_ticks(proc.pids())
                    res["cpu_us"] = (after - before) / TICK * 1e6 / max(1, res["requests"])
                    results.setdefault((name, conns, streams), []).append(res)
                    print(f"round {r + 1} {name:34s} c={conns:<3d} m={streams:<3d} {res['rps']:10.0f} req/s "
                          f"cpu {res['cpu_us']:5.1f}us/req failed {res['failed']}", file=sys.stderr, flush=True)
        med = statistics.median
        print("| target | conns × streams | req/s | × nginx | proxy CPU µs/req | failed | peak RSS MiB |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for conns, streams in cells:
            ngx = med([x["rps"] for x in results[("nginx (h2c → h1)", conns, streams)]])
            for name, (proc, port) in running.items():
                rs = results[(name, conns, streams)]
                rps = med([x["rps"] for x in rs])
                print(f"| {name} | {conns} × {streams} | {rps:.0f} | {rps / ngx:.2f} | "
                      f"{med([x['cpu_us'] for x in rs]):.1f} | {sum(x['failed'] for x in rs)} | "
                      f"{peak_rss_kib(proc.pids()) / 1024:.1f} |")
    finally:
        for p in reversed(started):
            p.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

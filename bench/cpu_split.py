#!/usr/bin/env python3
"""User and system CPU per request, side by side: where a proxied request's CPU goes.

Alternates the targets round by round (wrk -t1 -c32 on CPU 0, the proxy and the
nginx backend on CPU 1, as bench/run.py pins them) and reads each proxy's user
and system time from /proc over the requests wrk counted. Medians over rounds.
Targets: nginx (proxying, pooled HTTP/1.1), and each breakwater binary given.

  bench/cpu_split.py --breakwater build-release/breakwater [--breakwater /tmp/bw-old/build-release/breakwater]
                     [--policies] [--rounds 6] [--seconds 4] [--path /ok] [--conns 32]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from instr import BREAKER, BULKHEAD, MEMORY, RATE, RETRY, config  # noqa: E402
from run import start_backend, start_nginx_proxy, wait_port, Proc  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def ticks(pids):
    user = system = 0
    for pid in pids:
        for t in os.listdir(f"/proc/{pid}/task"):
            f = open(f"/proc/{pid}/task/{t}/stat").read().rsplit(")", 1)[1].split()
            user, system = user + int(f[11]), system + int(f[12])
    return user, system


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--breakwater", action="append", required=True)
    ap.add_argument("--policies", action="store_true", help="every policy on (memory store), as bench/run.py")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--path", default="/ok")
    ap.add_argument("--conns", type=int, default=32)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bw-cpu-")
    started = []
    try:
        backend, bport = start_backend(work, 1)
        started.append(backend)
        targets = {}
        ngx, nport = start_nginx_proxy(work, bport, 1)
        started.append(ngx)
        targets["nginx"] = (ngx, nport)
        policies = BREAKER + BULKHEAD + RETRY + RATE if args.policies else ""
        for binary in args.breakwater:
            d = tempfile.mkdtemp(dir=work)
            conf, port = config(d, bport, policies, MEMORY if args.policies else "")
            p = Proc([os.path.abspath(binary), "--config", conf], cpu=1)
            started.append(p)
            wait_port(port)
            targets[binary] = (p, port)
        url = lambda port: f"http://127.0.0.1:{port}{args.path}"
        for _, port in targets.values():  # warm up
            subprocess.run(["wrk", "-t1", f"-c{args.conns}", "-d1s", url(port)], capture_output=True, check=True)
        results = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, (proc, port) in targets.items():
                before = ticks(proc.pids())
                out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", f"-c{args.conns}", f"-d{args.seconds}s",
                                      url(port)], capture_output=True, text=True, check=True).stdout
                after = ticks(proc.pids())
                n = int(re.search(r"(\d+) requests in", out).group(1))
                results[name].append((n / args.seconds, (after[0] - before[0]) / TICK * 1e6 / n,
                                      (after[1] - before[1]) / TICK * 1e6 / n))
        print(f"| target ({args.path}, {args.conns} conns{', every policy' if args.policies else ''}) "
              "| req/s | user µs/req | system µs/req |\n|---|---:|---:|---:|")
        for name, rs in results.items():
            med = [statistics.median(r[i] for r in rs) for i in range(3)]
            print(f"| {name} | {med[0]:.0f} | {med[1]:.2f} | {med[2]:.2f} |")
    finally:
        for p in reversed(started):
            p.stop()


if __name__ == "__main__":
    main()

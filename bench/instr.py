#!/usr/bin/env python3
"""Proxy CPU per request as instructions, not time (steady on a busy machine).

Runs breakwater (workers = 1) under callgrind behind a local nginx backend,
sends --warmup requests, zeroes the counters, sends --requests more with h2load
(HTTP/1.1, 8 keep-alive connections) and divides the instructions by them.
One row per route configuration: plain, each policy alone, every policy
(memory store), and the Redis-backed limit when redis-server is installed.
Allocations are the calls to malloc in the same profile (heaptrack does not
see the memalign calls of asio's coroutine frames).

  bench/instr.py --breakwater build-release/breakwater [--requests 4000] [--rounds 3] [--keep DIR]
"""
import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Proc, free_port, start_backend, wait_port  # noqa: E402

BREAKER = """
[route.circuit_breaker]
window = "count"
window_size = 100
minimum_calls = 20
"""
BULKHEAD = """
[route.bulkhead]
max_concurrent = 1000
"""
RETRY = """
[route.retry]
max_attempts = 2
retry_on = ["connect-failure", "503"]
"""
RATE = """
[route.rate_limit]
rate = 1000000
per = "1s"
key = ["client_ip"]
"""
MEMORY = '[store]\nbackend = "memory"\n'

ROWS = [
    ("plain", "", ""),
    ("breaker", BREAKER, ""),
    ("bulkhead", BULKHEAD, ""),
    ("retry", RETRY, ""),
    ("rate limit (memory)", RATE, MEMORY),
    ("every policy (memory)", BREAKER + BULKHEAD + RETRY + RATE, MEMORY),
]


def config(d, backend, policies, store):
    port, admin = free_port(), free_port()
    conf = os.path.join(d, "breakwater.toml")
    with open(conf, "w") as f:
        f.write(f"""[server]
workers = 1
admin = "127.0.0.1:{admin}"
access_log = "off"
{store}
[[listener]]
name = "in"
bind = "127.0.0.1:{port}"
[upstream.app]
endpoints = ["127.0.0.1:{backend}"]
[[route]]
name = "all"
listener = "in"
upstream = "app"
{policies}
""")
    return conf, port


def h2load(port, n, path="/ok"):
    out = subprocess.run(["h2load", "--h1", "-t1", "-c8", f"-n{n}", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"status codes: (\d+) 2xx", out)
    if not m or int(m.group(1)) != n:
        raise RuntimeError("not every request was answered 2xx:\n" + out)


def counts(text):
    """Instructions, and calls to malloc (operator new, asio's coroutine frames via memalign, ...)."""
    ir = int(re.search(r"^summary:\s+(\d+)", text, re.M).group(1))
    names, cfn, mallocs = {}, None, 0
    for line in text.splitlines():
        if line.startswith(("fn=", "cfn=")):  # fn and cfn share one name table
            m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
            if m.group(2):
                names[m.group(1)] = m.group(2)
            if line.startswith("cfn="):
                cfn = names.get(m.group(1))
        elif line.startswith("calls=") and cfn == "malloc":
            mallocs += int(line[6:].split()[0])
    return ir, mallocs


def measure(binary, conf, port, d, warmup, n, keep=None):
    out = os.path.join(d, "callgrind.out")
    p = Proc(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "--config", conf])
    wait_port(port, timeout=60)
    time.sleep(0.5)
    h2load(port, warmup)
    subprocess.run(["callgrind_control", "-z", str(p.p.pid)], capture_output=True, check=True)
    h2load(port, n)
    subprocess.run(["callgrind_control", "-d", str(p.p.pid)], capture_output=True, check=True)
    p.stop()
    ir = mallocs = 0
    for f in glob.glob(out + "*"):
        text = open(f).read()
        if re.search(r"^desc: Trigger: dump", text, re.M):  # the part callgrind_control -d wrote
            ir, mallocs = counts(text)
            if keep:
                shutil.copy(f, keep)
        os.unlink(f)
    return ir / n, mallocs / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--breakwater", required=True)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3, help="medians over this many rounds")
    ap.add_argument("--keep", help="directory to keep each row's callgrind profile in")
    ap.add_argument("--only", help="comma-separated row names")
    args = ap.parse_args()
    binary = os.path.abspath(args.breakwater)
    work = tempfile.mkdtemp(prefix="bw-instr-")
    backend, bport = start_backend(work, None)
    redis = None
    rows = list(ROWS)
    if shutil.which("redis-server"):
        rport = free_port()
        redis = Proc(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        wait_port(rport)
        rows.append(("rate limit (Redis)", RATE,
                     f'[store]\nbackend = "redis"\nurl = "redis://127.0.0.1:{rport}/0"\ntimeout = "500ms"\n'))
    if args.only:
        keep = set(args.only.split(","))
        rows = [r for r in rows if r[0] in keep]
    try:
        results = {name: [] for name, _, _ in rows}
        for r in range(args.rounds):
            for name, policies, store in rows:
                d = tempfile.mkdtemp(dir=work)
                conf, port = config(d, bport, policies, store)
                keep = None
                if args.keep:
                    os.makedirs(args.keep, exist_ok=True)
                    keep = os.path.join(args.keep, f"callgrind.{r}." + re.sub(r"\W+", "_", name).strip("_"))
                results[name].append(measure(binary, conf, port, d, args.warmup, args.requests, keep))
        # Each row over the plain route of the same round, then the median over rounds.
        print("| route | instructions/request | allocations/request |\n|---|---:|---:|")
        base = results[rows[0][0]]
        for name, _, _ in rows:
            ir = statistics.median(x[0] for x in results[name])
            al = statistics.median(x[1] for x in results[name])
            dir_ = statistics.median(x[0] - b[0] for x, b in zip(results[name], base))
            dal = statistics.median(x[1] - b[1] for x, b in zip(results[name], base))
            print(f"| {name} | {ir:,.0f} ({dir_:+,.0f}) | {al:.2f} ({dal:+.2f}) |", flush=True)
    finally:
        if redis:
            redis.stop()
        backend.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Side-by-side benchmark: direct, nginx, HAProxy and breakwater on loopback.
#   bench/run.sh                      full run (3 rounds x 10 s per cell, ~25 min)
#   DURATION=3 ROUNDS=1 bench/run.sh  a quick look
#   BASELINE=/path/to/old/breakwater bench/run.sh   also measures another binary, side by side
# Installs wrk, nginx and haproxy from Debian when missing, builds breakwater
# (Release), and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
bw_ensure_packages wrk nginx-light haproxy
bw_build build-release -DCMAKE_BUILD_TYPE=Release -DBW_TESTS=OFF
exec python3 bench/run.py --breakwater build-release/breakwater "$@"

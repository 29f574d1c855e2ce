#!/usr/bin/env bash
# HTTP/2 side by side: nginx and breakwater behind h2load (see bench/h2.py).
#   bench/h2.sh                        3 rounds x 200k requests per cell
#   ROUNDS=1 REQUESTS=50000 bench/h2.sh   a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
bw_ensure_packages nginx-light nghttp2-client
bw_build build-release -DCMAKE_BUILD_TYPE=Release -DBW_TESTS=OFF
exec python3 bench/h2.py --breakwater build-release/breakwater "$@"

#!/usr/bin/env bash
# Builds breakwater and runs it with conf/breakwater.toml (memory store, no Redis).
# Extra arguments are passed to breakwater, e.g. ./run.sh --config my.toml
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
bw_ensure_packages
bw_build build -DBW_TESTS=OFF -DBW_BENCH=OFF
if [ $# -eq 0 ]; then set -- --config conf/breakwater.toml; fi
exec build/breakwater "$@"

#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for
# FUZZ_SECONDS (default 60), growing fuzz/corpus/<target>, then minimises the
# corpus so the repository keeps it small.  --no-build: run what is built.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
if [ "${1:-}" != "--no-build" ]; then
  source scripts/deps.sh
  bw_ensure_packages clang-14 libclang-rt-14-dev
  CXX=clang++-14 CC=clang-14 cmake -S . -B build-fuzz -G Ninja -DBW_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-fuzz -j "$(nproc)"
fi
for target in config request redis_reply idempotency_key h2_request cluster_map; do
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus" build-fuzz/new-$target
  echo "fuzzing $target for ${seconds}s" >&2
  build-fuzz/fuzz/fuzz_$target -max_total_time="$seconds" -max_len=4096 -timeout=10 -artifact_prefix=build-fuzz/ \
    -print_final_stats=1 build-fuzz/new-$target "$corpus" 2>build-fuzz/fuzz_$target.log ||
    { tail -50 build-fuzz/fuzz_$target.log; exit 1; }
  grep -E "stat::number_of_executed_units|stat::new_units_added" build-fuzz/fuzz_$target.log >&2 || true
  # keep only inputs that add coverage
  rm -rf build-fuzz/min-$target && mkdir -p build-fuzz/min-$target
  build-fuzz/fuzz/fuzz_$target -merge=1 build-fuzz/min-$target "$corpus" build-fuzz/new-$target 2>/dev/null
  rm -rf "$corpus" && mv build-fuzz/min-$target "$corpus"
done

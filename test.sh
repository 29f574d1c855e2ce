#!/usr/bin/env bash
# Builds everything and runs the whole suite: unit tests and integration tests
# (real breakwater processes, a real upstream, a real redis-server on free ports).
#   BW_SANITIZE=1 ./test.sh     the same suite under ASan+UBSan (build-asan/)
#   ./test.sh -L unit           extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
bw_ensure_packages
if [ "${BW_SANITIZE:-0}" = "1" ]; then
  dir=build-asan
  bw_build "$dir" -DBW_SANITIZE=ON -DBW_BENCH=OFF
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  dir=build
  bw_build "$dir"
fi
ctest --test-dir "$dir" --output-on-failure "$@"
# Short fuzzing runs, only when the fuzzers have been built (fuzz/run.sh builds them).
if [ -x build-fuzz/fuzz/fuzz_request ] && [ $# -eq 0 ]; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-60} fuzz/run.sh --no-build
fi

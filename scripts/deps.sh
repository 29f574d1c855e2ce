#!/usr/bin/env bash
# Installs the Debian packages breakwater needs to build and test, when missing.
# Sourced by run.sh and test.sh; runs apt-get only if something is absent.
bw_packages=(g++ cmake ninja-build pkg-config libboost1.81-dev libtomlplusplus-dev libhiredis-dev
             libssl-dev openssl doctest-dev libbenchmark-dev redis-server redis-sentinel python3 curl
             libnghttp2-dev python3-h2 python3-grpcio nghttp2-client
             chromium fonts-dejavu-core)  # the status page's browser test (headless) and its screenshot's font

bw_ensure_packages() {
  local missing=()
  for p in "${bw_packages[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" ||
    { $sudo apt-get update && $sudo apt-get install -y -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"; }
}

bw_build() {  # bw_build BUILD_DIR [cmake args...]
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}

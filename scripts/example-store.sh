#!/usr/bin/env bash
# breakwater on a local Redis Cluster or Redis Sentinel set-up, for trying the
# shared stores by hand (README: Redis Cluster and Redis Sentinel set-up).
#   scripts/example-store.sh cluster    3 masters + 3 replicas on 127.0.0.1:7000-7005
#   scripts/example-store.sh sentinel   master :6380, replica :6381, sentinels :26380-26382 ("mymaster")
# breakwater listens on :15000 (admin :9901) in front of 127.0.0.1:8080; BW=path picks
# another binary. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: scripts/example-store.sh cluster|sentinel}
bw=${BW:-build/breakwater}
dir=$(mktemp -d /tmp/bw-store-XXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
redis() {  # redis PORT [options...]: a redis-server in its own directory
  local port=$1
  shift
  mkdir -p "$dir/$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$port" --save "" --appendonly no \
    --logfile "$dir/$port/redis.log" "$@" &
  pids+=($!)
}
case $mode in
  cluster)
    for port in 7000 7001 7002 7003 7004 7005; do
      redis "$port" --cluster-enabled yes --cluster-node-timeout 2000 --cluster-require-full-coverage no
    done
    sleep 1
    redis-cli --cluster create 127.0.0.1:700{0,1,2,3,4,5} --cluster-replicas 1 --cluster-yes >/dev/null
    until redis-cli -p 7000 CLUSTER INFO | grep -q cluster_state:ok; do sleep 0.2; done
    store='backend  = "redis-cluster"
url      = "redis://127.0.0.1:7000,127.0.0.1:7001"   # two seeds; the other nodes come from the slot map'
    ;;
  sentinel)
    redis 6380
    redis 6381 --replicaof 127.0.0.1 6380
    for port in 26380 26381 26382; do
      mkdir -p "$dir/$port"
      printf 'port %s\nbind 127.0.0.1\ndir %s\n%s\n%s\n%s\n' "$port" "$dir/$port" \
        "sentinel monitor mymaster 127.0.0.1 6380 2" "sentinel down-after-milliseconds mymaster 2000" \
        "sentinel failover-timeout mymaster 10000" >"$dir/$port/sentinel.conf"
      redis-sentinel "$dir/$port/sentinel.conf" --logfile "$dir/$port/sentinel.log" &
      pids+=($!)
    done
    sleep 1
    store='backend         = "redis-sentinel"
url             = "redis://127.0.0.1:26380,127.0.0.1:26381,127.0.0.1:26382/0"
sentinel_master = "mymaster"'
    ;;
  *) echo "usage: scripts/example-store.sh cluster|sentinel" >&2; exit 2 ;;
esac
cat >"$dir/breakwater.toml" <<TOML
[store]
$store
timeout  = "50ms"
on_error = "local"                 # each instance limits on its own while the store fails

[[listener]]
name = "inbound"
bind = "127.0.0.1:15000"

[upstream.local]
endpoints = ["127.0.0.1:8080"]

[[route]]
name     = "all"
listener = "inbound"
upstream = "local"

[route.rate_limit]
rate       = 100
per        = "1s"
key        = ["client_ip"]
local_rate = 20
TOML
echo "$mode up; breakwater config: $dir/breakwater.toml" >&2
"$bw" --config "$dir/breakwater.toml" &
pids+=($!)
wait "${pids[-1]}"

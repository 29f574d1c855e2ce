#!/usr/bin/env bash
# A local Redis Cluster (3 masters + 3 replicas on 127.0.0.1:7000-7005) and breakwater
# in front of it, for trying the redis-cluster store by hand (README: Redis Cluster).
#   scripts/example-cluster.sh            build/breakwater on :15000 (admin :9901), upstream 127.0.0.1:8080
#   BW=path/to/breakwater scripts/example-cluster.sh
# Ctrl-C stops breakwater and the six redis-server processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bw=${BW:-build/breakwater}
dir=$(mktemp -d /tmp/bw-cluster-XXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
for port in 7000 7001 7002 7003 7004 7005; do
  mkdir -p "$dir/$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$port" --save "" --appendonly no \
    --cluster-enabled yes --cluster-node-timeout 2000 --cluster-require-full-coverage no \
    --logfile "$dir/$port/redis.log" &
  pids+=($!)
done
sleep 1
redis-cli --cluster create 127.0.0.1:7000 127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003 127.0.0.1:7004 \
  127.0.0.1:7005 --cluster-replicas 1 --cluster-yes >/dev/null
until redis-cli -p 7000 CLUSTER INFO | grep -q cluster_state:ok; do sleep 0.2; done
cat >"$dir/breakwater.toml" <<TOML
[store]
backend  = "redis-cluster"
url      = "redis://127.0.0.1:7000,127.0.0.1:7001"   # two seeds; the rest is learnt from the slot map
timeout  = "50ms"
on_error = "local"

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
echo "cluster up (redis-cli -c -p 7000); breakwater config: $dir/breakwater.toml" >&2
"$bw" --config "$dir/breakwater.toml" &
pids+=($!)
wait "${pids[-1]}"

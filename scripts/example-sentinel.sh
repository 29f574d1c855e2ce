#!/usr/bin/env bash
# A local Redis master (:6380) + replica (:6381) watched by three sentinels
# (:26380-26382) as "mymaster", and breakwater in front of it, for trying the
# redis-sentinel store by hand (README: Redis Sentinel). Kill the master
# (redis-cli -p 6380 DEBUG SLEEP 30, or kill it) and watch breakwater follow.
#   scripts/example-sentinel.sh      build/breakwater on :15000 (admin :9901), upstream 127.0.0.1:8080
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bw=${BW:-build/breakwater}
dir=$(mktemp -d /tmp/bw-sentinel-XXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
redis-server --port 6380 --bind 127.0.0.1 --dir "$dir" --save "" --logfile "$dir/master.log" &
pids+=($!)
redis-server --port 6381 --bind 127.0.0.1 --dir "$dir" --save "" --replicaof 127.0.0.1 6380 \
  --logfile "$dir/replica.log" &
pids+=($!)
for port in 26380 26381 26382; do
  mkdir -p "$dir/$port"
  printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 6380 2\n%s\n%s\n' "$port" \
    "$dir/$port" "sentinel down-after-milliseconds mymaster 2000" "sentinel failover-timeout mymaster 10000" \
    >"$dir/$port/sentinel.conf"
  redis-sentinel "$dir/$port/sentinel.conf" --logfile "$dir/$port/sentinel.log" &
  pids+=($!)
done
cat >"$dir/breakwater.toml" <<TOML
[store]
backend         = "redis-sentinel"
url             = "redis://127.0.0.1:26380,127.0.0.1:26381,127.0.0.1:26382/0"
sentinel_master = "mymaster"
timeout         = "50ms"
on_error        = "local"

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
rate = 100
key  = ["client_ip"]
TOML
sleep 1
echo "sentinels up (redis-cli -p 26380 SENTINEL get-master-addr-by-name mymaster); config: $dir/breakwater.toml" >&2
"$bw" --config "$dir/breakwater.toml" &
pids+=($!)
wait "${pids[-1]}"

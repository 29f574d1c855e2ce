#pragma once
// The configuration as plain data. Parsing lives in config/load; nothing here
// knows the file format.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "breakwater/policy/bulkhead_settings.hpp"
#include "breakwater/policy/circuit_breaker_settings.hpp"
#include "breakwater/policy/idempotency_settings.hpp"
#include "breakwater/policy/rate_limit_settings.hpp"
#include "breakwater/policy/retry_settings.hpp"

namespace breakwater::config {

using Duration = policy::Duration;

struct HostPort {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
  [[nodiscard]] std::string str() const;
};

struct ServerConfig {
  unsigned workers = 0;
  HostPort admin{"127.0.0.1", 9901};
  Duration drain_timeout = std::chrono::seconds(10);
  std::string access_log = "stderr";
  bool operator==(const ServerConfig&) const = default;
};

struct StoreConfig {
  enum class Backend { memory, redis, redis_cluster, redis_sentinel } backend = Backend::memory;
  // redis: one node; redis-cluster: seed nodes; redis-sentinel: the sentinels (host-list urls, SPEC §6).
  std::string url = "redis://127.0.0.1:6379/0";
  std::string sentinel_master = "mymaster";
  Duration timeout = std::chrono::milliseconds(50);
  std::uint64_t memory_max = 64ull << 20;  // memory backend: bytes of records and buckets kept
  // When the store fails: let the request through, refuse it, or decide with
  // this instance's memory (SPEC §6, on_error = "local").
  enum class OnError { allow, deny, local } on_error = OnError::allow;
  bool operator==(const StoreConfig&) const = default;
};

struct ListenerConfig {
  std::string name;
  HostPort bind;
  unsigned max_connections = 10000;
  Duration header_timeout = std::chrono::seconds(10);
  Duration idle_timeout = std::chrono::seconds(60);
  std::uint64_t max_body = 8 * 1024 * 1024;
  bool http2 = true;                    // also HTTP/2: prior knowledge, or ALPN h2 with TLS (SPEC §9)
  unsigned max_concurrent_streams = 100;  // per HTTP/2 client connection
  std::string tls_cert;
  std::string tls_key;
  bool operator==(const ListenerConfig&) const = default;
};

enum class UpstreamProtocol : std::uint8_t { http1, http2 };

struct UpstreamConfig {
  std::string name;
  std::vector<HostPort> endpoints;
  Duration connect_timeout = std::chrono::seconds(1);
  unsigned max_connections = 1024;
  Duration idle_timeout = std::chrono::seconds(60);
  bool tls = false;
  std::string sni;      // empty: the endpoint's host
  std::string ca_file;  // empty: the system store
  bool verify = true;
  UpstreamProtocol protocol = UpstreamProtocol::http1;  // http2: h2c prior knowledge, ALPN "h2" with tls
  bool operator==(const UpstreamConfig&) const = default;
};

struct RouteMatch {
  std::string host;         // lower-case; empty: any
  std::string path_prefix;  // empty: none
  std::string path;         // exact; empty: none
  std::vector<std::string> methods;  // empty: any
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case name, exact value
  bool operator==(const RouteMatch&) const = default;
};

struct RouteConfig {
  std::string name;
  std::string listener;
  RouteMatch match;
  std::string upstream;
  Duration timeout = std::chrono::seconds(15);
  bool enabled = true;
  std::string host_rewrite;
  std::optional<policy::RateLimitSettings> rate_limit;
  std::optional<policy::IdempotencySettings> idempotency;
  std::optional<policy::BulkheadSettings> bulkhead;
  std::optional<policy::RetrySettings> retry;
  std::optional<policy::CircuitBreakerSettings> circuit_breaker;
  bool operator==(const RouteConfig&) const = default;
};

struct Config {
  ServerConfig server;
  StoreConfig store;
  std::vector<ListenerConfig> listeners;
  std::vector<UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;
  bool operator==(const Config&) const = default;

  [[nodiscard]] const UpstreamConfig* find_upstream(std::string_view name) const;
  [[nodiscard]] const ListenerConfig* find_listener(std::string_view name) const;
};

}  // namespace breakwater::config

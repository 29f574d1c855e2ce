#include "breakwater/store/redis_node.hpp"

#include "breakwater/log.hpp"

namespace breakwater::store {
namespace {

// The breaker around Redis: a few failures in a row open it, a probe closes it.
policy::CircuitBreakerSettings store_breaker() {
  policy::CircuitBreakerSettings s;
  s.window = policy::WindowKind::count;
  s.window_size = 20;
  s.minimum_calls = 5;
  s.failure_rate_threshold = 50;
  s.slow_call_duration = std::chrono::hours(1);
  s.open_duration = std::chrono::milliseconds(250);
  s.open_duration_max = std::chrono::seconds(2);
  s.half_open_calls = 1;
  return s;
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

RedisNode::RedisNode(net::any_io_executor ex, const config::RedisUrl& url, policy::Duration timeout)
    : conn_(std::make_shared<RedisConnection>(std::move(ex), url, timeout)),
      breaker_(store_breaker()),
      timeout_(timeout) {
  conn_->start();
}

RedisNode::~RedisNode() { conn_->stop(); }

awaitable<Result<RedisReply>> RedisNode::eval(const RedisScript& script, std::string_view key,
                                              std::span<const std::string_view> args, std::string_view evalsha) {
  auto start = policy::Clock::now();
  auto permit = breaker_.try_acquire(start);
  if (!permit.allowed) co_return StoreError::breaker_open;  // Redis is known to be down: do not pay the timeout
  if (evalsha.empty()) {
    resp_.clear();
    format_eval(resp_, script, key, args);
    evalsha = resp_;  // queued before the call first suspends
  }
  auto r = co_await conn_->call_formatted(evalsha, timeout_);
  if (r && r->is_error() && starts_with(r->str, "NOSCRIPT")) {
    // After a restart or failover the script cache is empty: send it once in full.
    std::string full;
    format_eval(full, script, key, args, true);
    r = co_await conn_->call_formatted(full, timeout_ - (policy::Clock::now() - start));
  }
  bool failed = !r || r->is_error();
  if (r && r->is_error()) log_error("redis error: " + r->str);
  auto end = policy::Clock::now();
  breaker_.on_result(permit, failed, end - start, end);
  if (r && r->is_error())
    co_return starts_with(r->str, "MOVED ") || starts_with(r->str, "ASK ") ? StoreError::redirect
                                                                           : StoreError::unavailable;
  co_return std::move(r);
}

std::unique_ptr<RedisClient> make_redis_client(const config::StoreConfig& cfg, const config::RedisUrl& url,
                                               net::any_io_executor ex) {
  return std::make_unique<RedisNode>(std::move(ex), url, cfg.timeout);
}

}  // namespace breakwater::store

#include "breakwater/store/redis_node.hpp"

#include "breakwater/log.hpp"
#include "breakwater/store/redis_cluster.hpp"
#include "breakwater/store/redis_sentinel.hpp"

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

}  // namespace

RedisNode::RedisNode(net::any_io_executor ex, const config::RedisUrl& url, policy::Duration timeout,
                     bool auth_optional)
    : url_(url),
      conn_(std::make_shared<RedisConnection>(std::move(ex), url, timeout)),
      breaker_(store_breaker()),
      timeout_(timeout) {
  if (auth_optional) conn_->set_auth_optional();
  conn_->start();
}

RedisNode::~RedisNode() { conn_->stop(); }

bool RedisNode::failing(policy::TimePoint) const { return breaker_.state() != policy::BreakerState::closed; }

StoreError error_of(const RedisReply& reply) {
  return starts_with(reply.str, "MOVED ") || starts_with(reply.str, "ASK ") ? StoreError::redirect
                                                                             : StoreError::unavailable;
}

awaitable<Result<RedisReply>> RedisNode::run(const RedisScript& script, std::string_view key,
                                             std::span<const std::string_view> args, std::string_view evalsha,
                                             policy::TimePoint deadline, bool asking, bool as_error) {
  auto start = policy::Clock::now();
  auto permit = breaker_.try_acquire(start);
  if (!permit.allowed) co_return StoreError::breaker_open;  // the node is known to be down: do not pay the timeout
  std::string asked;  // ASKING + the command, one write
  if (asking) {
    format_command(asked, std::array<std::string_view, 1>{"ASKING"}.data(), 1);
    if (evalsha.empty())
      format_eval(asked, script, key, args);
    else
      asked.append(evalsha);
    evalsha = asked;
  } else if (evalsha.empty()) {
    resp_.clear();
    format_eval(resp_, script, key, args);
    evalsha = resp_;  // queued before the call first suspends
  }
  auto r = co_await conn_->call_formatted(evalsha, deadline - start, asking ? 1 : 0);
  if (r && r->is_error() && starts_with(r->str, "NOSCRIPT")) {
    // After a restart or failover the script cache is empty: send it once in full.
    std::string full;
    if (asking) format_command(full, std::array<std::string_view, 1>{"ASKING"}.data(), 1);
    format_eval(full, script, key, args, true);
    r = co_await conn_->call_formatted(full, deadline - policy::Clock::now(), asking ? 1 : 0);
  }
  // The node answered a redirect or TRYAGAIN: it is up; the slot is elsewhere or busy.
  bool failed = !r || (r->is_error() && !starts_with(r->str, "MOVED ") && !starts_with(r->str, "ASK ") &&
                       !starts_with(r->str, "TRYAGAIN"));
  if (r && r->is_error() && failed) log_error("redis error from " + url_.host + ":" + std::to_string(url_.port) + ": " + r->str);
  auto end = policy::Clock::now();
  breaker_.on_result(permit, failed, end - start, end);
  if (as_error && r && r->is_error()) co_return error_of(*r);
  co_return std::move(r);
}

awaitable<Result<RedisReply>> RedisNode::eval(const RedisScript& script, std::string_view key,
                                              std::span<const std::string_view> args, std::string_view evalsha) {
  return run(script, key, args, evalsha, policy::Clock::now() + timeout_, false, true);  // no frame of its own
}

std::unique_ptr<RedisClient> make_redis_client(const config::StoreConfig& cfg, std::vector<config::RedisUrl> hosts,
                                               net::any_io_executor ex) {
  if (hosts.empty()) hosts.emplace_back();
  switch (cfg.backend) {
    case config::StoreConfig::Backend::redis_cluster:
      return std::make_unique<RedisCluster>(std::move(ex), std::move(hosts), cfg.timeout);
    case config::StoreConfig::Backend::redis_sentinel:
      return std::make_unique<RedisSentinel>(std::move(ex), std::move(hosts), cfg.sentinel_master, cfg.timeout);
    default:
      return std::make_unique<RedisNode>(std::move(ex), hosts.front(), cfg.timeout);
  }
}

}  // namespace breakwater::store

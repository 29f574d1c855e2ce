#pragma once
// One Redis server as a RedisClient: a pipelined connection on the worker's
// event loop and a breaker around that server, so while it is down calls fail
// at once instead of each paying store.timeout. The cluster client keeps one
// per node, the sentinel client one for the master it follows.
#include <memory>

#include "breakwater/policy/circuit_breaker.hpp"
#include "breakwater/store/redis_client.hpp"
#include "breakwater/store/redis_connection.hpp"

namespace breakwater::store {

class RedisNode final : public RedisClient {
 public:
  // `auth_optional`: a server that wants no password takes none (a sentinel, SPEC §6).
  RedisNode(net::any_io_executor ex, const config::RedisUrl& url, policy::Duration timeout, bool auth_optional = false);
  ~RedisNode() override;

  awaitable<Result<RedisReply>> eval(const RedisScript& script, std::string_view key,
                                     std::span<const std::string_view> args, std::string_view evalsha) override;
  [[nodiscard]] const net::any_io_executor& executor() const override { return conn_->executor(); }
  [[nodiscard]] bool ready() const override { return conn_->ready(); }
  // Its very first connection is still being made.
  [[nodiscard]] bool connecting() const { return !conn_->answered_once(); }
  void stop() override { conn_->stop(); }

  // The script call under this node's breaker, ending by `deadline`, its reply
  // as Redis gave it: an error reply stays a reply (MOVED, ASK, TRYAGAIN are
  // the cluster client's to follow). NOSCRIPT sends the full script, once.
  // `asking`: ASKING goes first on the same connection (a slot being imported).
  // `as_error`: an error reply comes back as its StoreError (what eval() answers).
  awaitable<Result<RedisReply>> run(const RedisScript& script, std::string_view key,
                                    std::span<const std::string_view> args, std::string_view evalsha,
                                    policy::TimePoint deadline, bool asking = false, bool as_error = false);
  // Any command in RESP form (CLUSTER SHARDS, ROLE), outside the breaker.
  awaitable<Result<RedisReply>> command(std::string_view resp, policy::Duration timeout) {
    return conn_->call_formatted(resp, timeout);
  }
  // The breaker refuses calls now (the node is known to be failing).
  [[nodiscard]] bool failing(policy::TimePoint now) const;
  [[nodiscard]] const config::RedisUrl& url() const { return url_; }

 private:
  config::RedisUrl url_;
  std::shared_ptr<RedisConnection> conn_;
  policy::CircuitBreaker breaker_;
  policy::Duration timeout_;
  std::string resp_;  // command formatting scratch
};

// An error reply as the StoreError a caller sees (MOVED / ASK: redirect).
[[nodiscard]] StoreError error_of(const RedisReply& reply);
[[nodiscard]] inline bool starts_with(std::string_view s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace breakwater::store

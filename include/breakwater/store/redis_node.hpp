#pragma once
// One Redis server as a RedisClient: a pipelined connection on the worker's
// event loop and a breaker around that server, so while it is down calls fail
// at once instead of each paying store.timeout. A cluster client keeps one per node.
#include <memory>

#include "breakwater/policy/circuit_breaker.hpp"
#include "breakwater/store/redis_client.hpp"
#include "breakwater/store/redis_connection.hpp"

namespace breakwater::store {

class RedisNode final : public RedisClient {
 public:
  RedisNode(net::any_io_executor ex, const config::RedisUrl& url, policy::Duration timeout);
  ~RedisNode() override;

  awaitable<Result<RedisReply>> eval(const RedisScript& script, std::string_view key,
                                     std::span<const std::string_view> args, std::string_view evalsha) override;
  [[nodiscard]] const net::any_io_executor& executor() const override { return conn_->executor(); }
  [[nodiscard]] bool ready() const override { return conn_->ready(); }
  void stop() override { conn_->stop(); }

 private:
  std::shared_ptr<RedisConnection> conn_;
  policy::CircuitBreaker breaker_;
  policy::Duration timeout_;
  std::string resp_;  // command formatting scratch
};

}  // namespace breakwater::store

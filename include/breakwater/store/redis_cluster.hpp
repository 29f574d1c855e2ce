#pragma once
// Redis Cluster as a RedisClient (SPEC §6): the slot map read from any
// reachable seed or master (CLUSTER SHARDS, else CLUSTER SLOTS), each key's
// script sent to the master of its hash slot through that node's pipelined
// connection and breaker (a RedisNode), MOVED (map updated, resent), ASK
// (ASKING, resent once, map kept), TRYAGAIN (retried within the call's time),
// CLUSTERDOWN and more than 5 redirects as store failures. The map is read
// again after a redirect, a failed connection, and every 5 seconds. One per
// worker; every call ends within store.timeout.
#include <memory>
#include <vector>

#include "breakwater/config/redis_url.hpp"
#include "breakwater/store/redis_client.hpp"

namespace breakwater::store {

class RedisCluster final : public RedisClient {
 public:
  RedisCluster(net::any_io_executor ex, std::vector<config::RedisUrl> seeds, policy::Duration timeout);
  ~RedisCluster() override;

  awaitable<Result<RedisReply>> eval(const RedisScript& script, std::string_view key,
                                     std::span<const std::string_view> args, std::string_view evalsha) override;
  [[nodiscard]] const net::any_io_executor& executor() const override;
  [[nodiscard]] bool ready() const override;
  void stop() override;

  static constexpr int kMaxRedirects = 5;

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace breakwater::store

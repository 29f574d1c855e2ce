#pragma once
// A master that Redis Sentinel watches, as a RedisClient (SPEC §6): the
// sentinels are asked in turn for the master's address (SENTINEL
// get-master-addr-by-name; the address most of them name wins), ROLE confirms
// it is a master before calls go there, and the address is asked for again
// when a call's connection fails, when the master answers -READONLY, and every
// second; a sentinel's +switch-master announcement (one subscribed connection
// per sentinel) moves to the announced master at once. One per worker; every
// call ends within store.timeout.
#include <memory>
#include <string>
#include <vector>

#include "breakwater/config/redis_url.hpp"
#include "breakwater/store/redis_client.hpp"

namespace breakwater::store {

class RedisSentinel final : public RedisClient {
 public:
  RedisSentinel(net::any_io_executor ex, std::vector<config::RedisUrl> sentinels, std::string master_name,
                policy::Duration timeout);
  ~RedisSentinel() override;

  awaitable<Result<RedisReply>> eval(const RedisScript& script, std::string_view key,
                                     std::span<const std::string_view> args, std::string_view evalsha) override;
  [[nodiscard]] const net::any_io_executor& executor() const override;
  [[nodiscard]] bool ready() const override;
  void stop() override;

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace breakwater::store

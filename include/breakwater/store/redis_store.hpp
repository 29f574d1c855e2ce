#pragma once
// The Redis backend: GCRA and the idempotency lock as Lua scripts on Redis
// time, run through one RedisClient per worker (which node, which connection,
// the breaker: the client's business), concurrent decisions for one bucket
// coalesced into one call, and a local memory of keys over their limit so
// rejections cost Redis nothing.
#include <memory>
#include <string>
#include <vector>

#include "breakwater/store/redis_client.hpp"
#include "breakwater/store/store.hpp"

namespace breakwater::store {

class RedisStore final : public Store {
 public:
  // `clients`: one per worker, each on that worker's executor.
  RedisStore(const config::StoreConfig& cfg, std::vector<std::unique_ptr<RedisClient>> clients);
  ~RedisStore() override;

  void shutdown() override;
  // Another url or timeout needs a new client (connected before it replaces this one).
  [[nodiscard]] bool reusable_for(const config::StoreConfig& next) const override {
    return next.backend == config::StoreConfig::Backend::redis && next.url == url_ && next.timeout == timeout_;
  }
  [[nodiscard]] bool ready() const override;

 private:
  class Handle;
  std::string url_;
  policy::Duration timeout_;
  std::vector<std::unique_ptr<RedisClient>> clients_;
};

}  // namespace breakwater::store

#pragma once
// The Redis backend: GCRA and the idempotency lock as Lua scripts on Redis
// time, run through one RedisClient per worker (which node, which connection,
// the breaker: the client's business), concurrent decisions for one bucket
// coalesced into one call, and a local memory of keys over their limit so
// rejections cost Redis nothing.
#include <memory>
#include <string>
#include <vector>

#include "breakwater/store/memory_table.hpp"
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
    return next.backend == backend_ && next.url == url_ && next.timeout == timeout_ &&
           next.sentinel_master == sentinel_master_;
  }
  [[nodiscard]] bool ready() const override;
  [[nodiscard]] MemoryTable* local() override { return &local_; }
  void apply(const config::StoreConfig& next) override { local_.set_max_bytes(next.memory_max); }
  void sweep(policy::TimePoint now) override { local_.sweep(now); }

 private:
  class Handle;
  config::StoreConfig::Backend backend_;
  std::string url_, sentinel_master_;
  policy::Duration timeout_;
  std::vector<std::unique_ptr<RedisClient>> clients_;
  MemoryTable local_;  // on_error = "local": decisions while Redis fails, bounded by store.memory_max
};

}  // namespace breakwater::store

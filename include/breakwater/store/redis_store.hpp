#pragma once
// The Redis backend: one pipelined connection per worker, GCRA as a Lua script
// on Redis time (EVALSHA, EVAL on NOSCRIPT), a breaker around Redis itself,
// and a local memory of keys over their limit so rejections cost Redis nothing.
#include <array>
#include <memory>
#include <unordered_map>
#include <vector>

#include "breakwater/config/redis_url.hpp"
#include "breakwater/policy/circuit_breaker.hpp"
#include "breakwater/store/redis_connection.hpp"
#include "breakwater/store/store.hpp"

namespace breakwater::store {

class RedisStore final : public Store {
 public:
  RedisStore(const config::StoreConfig& cfg, const config::RedisUrl& url,
             const std::vector<net::any_io_executor>& workers);
  ~RedisStore() override;

  awaitable<std::optional<policy::GcraOutcome>> rate_limit(unsigned worker, std::string_view route,
                                                           std::string_view descriptor,
                                                           const policy::GcraParams& p) override;
  std::optional<policy::GcraOutcome> rate_limit_now(std::string_view, std::string_view,
                                                     const policy::GcraParams&) override {
    return std::nullopt;
  }
  [[nodiscard]] bool synchronous() const override { return false; }
  awaitable<std::optional<IdemBegin>> idem_begin(unsigned worker, std::string key, std::string fingerprint,
                                                 std::string token, policy::Duration lock_ttl) override;
  awaitable<bool> idem_complete(unsigned worker, std::string key, std::string token, std::string fingerprint,
                                std::string record, policy::Duration ttl) override;
  awaitable<bool> idem_release(unsigned worker, std::string key, std::string token) override;
  void shutdown() override;
  // Another url or timeout needs a new client (connected before it replaces this one).
  [[nodiscard]] bool reusable_for(const config::StoreConfig& next) const override {
    return next.backend == config::StoreConfig::Backend::redis && next.url == url_ && next.timeout == timeout_;
  }
  [[nodiscard]] bool ready() const override;

  // Runs `script` (by SHA, or in full after NOSCRIPT) within the store timeout;
  // nullopt when the store failed. Shared with idempotency.
  // `argv`: KEYS[1] then ARGV...; the views must outlive the call. `evalsha`, when
  // given, is the EVALSHA command already formatted (cached by the caller).
  awaitable<std::optional<RedisReply>> eval(unsigned worker, const std::string& script, const std::string& sha,
                                            std::array<std::string_view, 4> argv, std::size_t argc,
                                            std::string_view evalsha = {});

 private:
  // Concurrent requests for one bucket, decided by one Redis call.
  struct Batch {
    std::int64_t n = 1;
    std::optional<policy::GcraBatch> result;  // empty: the store failed
    std::vector<Wake> waiters;
  };
  struct Bucket {
    std::int64_t interval_us = 0, tolerance_us = 0;
    std::string interval, tolerance;  // the same, as script arguments
    std::string key;                  // bw:rl:{ROUTE:SHA256(descriptor)}
    std::string evalsha;              // the GCRA command but its last argument (the count), formatted once
    std::shared_ptr<Batch> open;      // the batch still taking requests in this turn
    // Refused recently: no Redis call until it would admit again.
    policy::TimePoint refused_until{}, full_at{};
  };
  struct PerWorker {
    std::shared_ptr<RedisConnection> conn;
    policy::CircuitBreaker breaker;
    std::unordered_map<std::string, std::shared_ptr<Bucket>> buckets;  // route + descriptor -> bucket
    std::string lookup;                                                 // scratch for the map key
    std::string resp;                                                   // command formatting buffer
  };
  static std::shared_ptr<Bucket> bucket(PerWorker& pw, std::string_view route, std::string_view descriptor,
                                        const policy::GcraParams& p);
  std::string url_;
  policy::Duration timeout_;
  std::vector<std::unique_ptr<PerWorker>> workers_;
};

}  // namespace breakwater::store

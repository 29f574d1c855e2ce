#pragma once
#include <array>
#include <mutex>
#include <string>
#include <unordered_map>

#include "breakwater/store/store.hpp"

namespace breakwater::store {

// In-process state for one instance: sharded maps under short locks.
class MemoryStore final : public Store {
 public:
  awaitable<std::optional<policy::GcraOutcome>> rate_limit(unsigned worker, std::string_view route,
                                                           std::string_view descriptor,
                                                           const policy::GcraParams& p) override;
  std::optional<policy::GcraOutcome> rate_limit_now(std::string_view route, std::string_view descriptor,
                                                     const policy::GcraParams& p) override;
  [[nodiscard]] bool synchronous() const override { return true; }
  awaitable<std::optional<IdemBegin>> idem_begin(unsigned worker, std::string key, std::string fingerprint,
                                                 std::string token, policy::Duration lock_ttl) override;
  awaitable<bool> idem_complete(unsigned worker, std::string key, std::string token, std::string fingerprint,
                                std::string record, policy::Duration ttl) override;
  awaitable<bool> idem_release(unsigned worker, std::string key, std::string token) override;

 private:
  struct IdemEntry {
    bool completed = false;
    std::string token;
    std::string fingerprint;
    std::string record;
    policy::TimePoint expires;
  };
  std::mutex idem_mu_;
  std::unordered_map<std::string, IdemEntry> idem_;
  std::uint32_t idem_ops_ = 0;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::int64_t> tat;  // key -> theoretical arrival time (µs, steady)
    std::uint32_t ops = 0;
  };
  std::array<Shard, 16> shards_;
};

}  // namespace breakwater::store

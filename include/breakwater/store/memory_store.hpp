#pragma once
#include <array>
#include <mutex>
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

 private:
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::int64_t> tat;  // key -> theoretical arrival time (µs, steady)
    std::uint32_t ops = 0;
  };
  std::array<Shard, 16> shards_;
};

}  // namespace breakwater::store

#pragma once
#include "breakwater/store/memory_table.hpp"
#include "breakwater/store/store.hpp"

namespace breakwater::store {

// In-process state for one instance (a MemoryTable), bounded by store.memory_max.
class MemoryStore final : public Store {
 public:
  explicit MemoryStore(std::uint64_t max_bytes) : table_(max_bytes) {}
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
  // Any [store] change that keeps the memory backend keeps every record and bucket.
  [[nodiscard]] bool reusable_for(const config::StoreConfig& next) const override {
    return next.backend == config::StoreConfig::Backend::memory;
  }
  void apply(const config::StoreConfig& next) override { table_.set_max_bytes(next.memory_max); }
  void sweep(policy::TimePoint now) override { table_.sweep(now); }

 private:
  MemoryTable table_;
};

}  // namespace breakwater::store

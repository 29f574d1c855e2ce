#pragma once
#include "breakwater/store/memory_table.hpp"
#include "breakwater/store/store.hpp"

namespace breakwater::store {

// In-process state for one instance (a MemoryTable), bounded by store.memory_max.
// Every worker shares one handle: the table locks per shard, and a rate-limit
// decision answers at once (no coroutine frame).
class MemoryStore final : public Store {
 public:
  explicit MemoryStore(std::uint64_t max_bytes);
  // Any [store] change that keeps the memory backend keeps every record and bucket.
  [[nodiscard]] bool reusable_for(const config::StoreConfig& next) const override {
    return next.backend == config::StoreConfig::Backend::memory;
  }
  void apply(const config::StoreConfig& next) override { table_.set_max_bytes(next.memory_max); }
  void sweep(policy::TimePoint now) override { table_.sweep(now); }

 private:
  class Handle;
  MemoryTable table_;
};

}  // namespace breakwater::store

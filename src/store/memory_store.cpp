#include "breakwater/store/memory_store.hpp"

#include <chrono>
#include <functional>

namespace breakwater::store {

std::optional<policy::GcraOutcome> MemoryStore::rate_limit_now(std::string_view route, std::string_view descriptor,
                                                                const policy::GcraParams& p) {
  std::string key;
  key.reserve(route.size() + descriptor.size() + 1);
  key.append(route).push_back('\0');
  key.append(descriptor);
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  auto& shard = shards_[std::hash<std::string>{}(key) % shards_.size()];
  std::lock_guard lock(shard.mu);
  if (++shard.ops % 4096 == 0) {
    // A bucket whose TAT has passed is full again: the same as no entry.
    std::erase_if(shard.tat, [&](auto& kv) { return kv.second <= now; });
  }
  auto it = shard.tat.find(key);
  std::int64_t tat = it == shard.tat.end() ? 0 : it->second;
  std::int64_t next = tat;
  auto out = policy::gcra(p, tat, now, next);
  if (out.allowed) {
    if (it == shard.tat.end())
      shard.tat.emplace(std::move(key), next);
    else
      it->second = next;
  }
  return out;
}

awaitable<std::optional<policy::GcraOutcome>> MemoryStore::rate_limit(unsigned, std::string_view route,
                                                                      std::string_view descriptor,
                                                                      const policy::GcraParams& p) {
  co_return rate_limit_now(route, descriptor, p);
}

}  // namespace breakwater::store

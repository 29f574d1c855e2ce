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

awaitable<std::optional<IdemBegin>> MemoryStore::idem_begin(unsigned, std::string key, std::string fingerprint,
                                                            std::string token, policy::Duration lock_ttl) {
  auto now = policy::Clock::now();
  std::lock_guard lock(idem_mu_);
  if (++idem_ops_ % 1024 == 0) std::erase_if(idem_, [&](auto& kv) { return kv.second.expires <= now; });
  auto it = idem_.find(key);
  if (it == idem_.end() || it->second.expires <= now) {
    idem_[key] = IdemEntry{false, std::move(token), std::move(fingerprint), {}, now + lock_ttl};
    co_return IdemBegin{IdemBegin::State::acquired, {}};
  }
  auto& e = it->second;
  if (e.fingerprint != fingerprint) co_return IdemBegin{IdemBegin::State::mismatch, {}};
  if (!e.completed) co_return IdemBegin{IdemBegin::State::in_flight, {}};
  co_return IdemBegin{IdemBegin::State::completed, e.record};
}

awaitable<bool> MemoryStore::idem_complete(unsigned, std::string key, std::string token, std::string fingerprint,
                                           std::string record, policy::Duration ttl) {
  auto now = policy::Clock::now();
  std::lock_guard lock(idem_mu_);
  auto it = idem_.find(key);
  if (it == idem_.end() || it->second.completed || it->second.token != token || it->second.expires <= now)
    co_return false;  // the lock expired and may belong to someone else now
  it->second = IdemEntry{true, {}, std::move(fingerprint), std::move(record), now + ttl};
  co_return true;
}

awaitable<bool> MemoryStore::idem_release(unsigned, std::string key, std::string token) {
  std::lock_guard lock(idem_mu_);
  auto it = idem_.find(key);
  if (it == idem_.end() || it->second.completed || it->second.token != token) co_return false;
  idem_.erase(it);
  co_return true;
}

}  // namespace breakwater::store

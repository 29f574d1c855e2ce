#pragma once
// The memory backend's state: rate-limit buckets and idempotency records in
// sharded maps under short per-shard locks, bounded in bytes (store.memory_max):
// past the bound, the entries nearest expiry go first. Standard library only;
// time is an argument, so the unit tests drive it with arithmetic.
#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "breakwater/policy/rate_limit.hpp"
#include "breakwater/policy/spin_lock.hpp"
#include "breakwater/policy/time.hpp"
#include "breakwater/store/idem.hpp"

namespace breakwater::store {

class MemoryTable final {
 public:
  explicit MemoryTable(std::uint64_t max_bytes);
  MemoryTable(const MemoryTable&) = delete;
  MemoryTable& operator=(const MemoryTable&) = delete;

  // A reload may change the bound; the next write evicts down to it.
  void set_max_bytes(std::uint64_t max_bytes) { max_bytes_.store(max_bytes, std::memory_order_relaxed); }

  [[nodiscard]] policy::GcraOutcome rate_limit(std::string_view route, std::string_view descriptor,
                                               const policy::GcraParams& p, policy::TimePoint now);
  [[nodiscard]] IdemBegin idem_begin(const std::string& key, std::string fingerprint, std::string token,
                                     policy::TimePoint now, policy::Duration lock_ttl);
  // Replaces the lock with the record only while `token` still owns it (fencing).
  [[nodiscard]] bool idem_complete(const std::string& key, const std::string& token, std::string fingerprint,
                                   std::string record, policy::TimePoint now, policy::Duration ttl);
  [[nodiscard]] bool idem_release(const std::string& key, const std::string& token);
  // Drops what has expired, one shard (and one lock) at a time.
  void sweep(policy::TimePoint now);

  // Bytes accounted to the entries kept (keys, records and bookkeeping).
  [[nodiscard]] std::uint64_t bytes() const { return static_cast<std::uint64_t>(bytes_.load()); }
  [[nodiscard]] std::size_t entries();

 private:
  struct Idem {
    bool completed = false;
    std::string token, fingerprint, record;
    std::int64_t expires = 0;  // µs on the steady clock
    std::int64_t bytes = 0;
  };
  // One heap entry: when `key` expires. Buckets move their TAT later without
  // touching the heap; a popped entry whose time is stale is pushed again.
  struct Item {
    std::int64_t expires;
    bool idem;
    std::string key;
  };
  struct Later {
    bool operator()(const Item& a, const Item& b) const { return a.expires > b.expires; }
  };
  // A bucket's name with its hash, computed once per request: it picks the
  // shard and the map slot (transparent lookup, no key string built to look up).
  struct Hashed {
    std::string_view key;
    std::size_t hash;
  };
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
    std::size_t operator()(const Hashed& k) const { return k.hash; }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
    bool operator()(const Hashed& a, std::string_view b) const { return a.key == b; }
    bool operator()(std::string_view a, const Hashed& b) const { return a == b.key; }
  };
  struct Shard {
    policy::SpinLock mu;
    // route NUL descriptor -> theoretical arrival time (µs)
    std::unordered_map<std::string, std::int64_t, KeyHash, KeyEq> tat;
    std::unordered_map<std::string, Idem> idem;
    std::vector<Item> evictable;  // min-heap: buckets and completed records
    std::vector<Item> locks;      // min-heap: in-flight locks, never evicted (a duplicate would run twice)
    // The evictable heap's earliest expiry, read without the lock to pick where to evict.
    std::atomic<std::int64_t> head{std::numeric_limits<std::int64_t>::max()};
  };
  enum class Settle { kept, erased, dropped };

  Shard& shard_of(std::string_view key);
  Shard& shard_of(std::size_t hash) { return shards_[hash % shards_.size()]; }
  void expire(Shard& s, std::int64_t now);
  Settle settle(Shard& s, std::vector<Item>& heap);
  void push(Shard& s, std::vector<Item>& heap, Item item);
  Item pop(Shard& s, std::vector<Item>& heap);
  void publish_head(Shard& s);
  void erase_idem(Shard& s, std::unordered_map<std::string, Idem>::iterator it);
  void shrink();

  std::array<Shard, 16> shards_;
  std::atomic<std::int64_t> bytes_{0};
  std::atomic<std::uint64_t> max_bytes_;
};

}  // namespace breakwater::store

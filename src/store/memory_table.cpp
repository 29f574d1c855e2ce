#include "breakwater/store/memory_table.hpp"

#include <algorithm>
#include <functional>

#include "breakwater/store/keys.hpp"

namespace breakwater::store {
namespace {

// Beyond their strings: a map entry's hash node and headers; a heap item's.
constexpr std::int64_t kNode = 96;
constexpr std::int64_t kItem = 48;
constexpr auto kNever = std::numeric_limits<std::int64_t>::max();

std::int64_t micros(policy::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
std::int64_t micros(policy::Duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

std::int64_t size(const std::string& s) { return static_cast<std::int64_t>(s.size()); }

}  // namespace

MemoryTable::MemoryTable(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

// Items of the evictable heap count towards memory_max; lock items are
// transient (due within lock_timeout) and stay out of it, so a crowd of
// requests in flight never pushes stored records out.
void MemoryTable::push(Shard& s, std::vector<Item>& heap, Item item) {
  if (&heap == &s.evictable) bytes_.fetch_add(size(item.key) + kItem, std::memory_order_relaxed);
  heap.push_back(std::move(item));
  std::push_heap(heap.begin(), heap.end(), Later{});
}

MemoryTable::Item MemoryTable::pop(Shard& s, std::vector<Item>& heap) {
  std::pop_heap(heap.begin(), heap.end(), Later{});
  Item item = std::move(heap.back());
  heap.pop_back();
  if (&heap == &s.evictable) bytes_.fetch_sub(size(item.key) + kItem, std::memory_order_relaxed);
  return item;
}

MemoryTable::Shard& MemoryTable::shard_of(std::string_view key) { return shard_of(KeyHash{}(key)); }

void MemoryTable::publish_head(Shard& s) {
  s.head.store(s.evictable.empty() ? kNever : s.evictable.front().expires, std::memory_order_relaxed);
}

void MemoryTable::erase_idem(Shard& s, std::unordered_map<std::string, Idem>::iterator it) {
  bytes_.fetch_sub(it->second.bytes, std::memory_order_relaxed);
  s.idem.erase(it);
}

// Pops the earliest item of `heap` (one that is due: expired, or chosen for
// eviction) and settles its entry: erased, pushed again when a bucket's TAT moved on since,
// dropped when the entry is gone or has a newer item.
MemoryTable::Settle MemoryTable::settle(Shard& s, std::vector<Item>& heap) {
  Item item = pop(s, heap);
  if (!item.idem) {
    auto it = s.tat.find(item.key);
    if (it == s.tat.end()) return Settle::dropped;
    if (it->second != item.expires) {
      item.expires = it->second;
      push(s, heap, std::move(item));
      return Settle::kept;
    }
    bytes_.fetch_sub(size(it->first) + kNode, std::memory_order_relaxed);
    s.tat.erase(it);
    return Settle::erased;
  }
  auto it = s.idem.find(item.key);
  if (it == s.idem.end() || it->second.expires != item.expires) return Settle::dropped;
  erase_idem(s, it);
  return Settle::erased;
}

void MemoryTable::expire(Shard& s, std::int64_t now) {
  bool changed = false;
  while (!s.evictable.empty() && s.evictable.front().expires <= now) {
    settle(s, s.evictable);
    changed = true;
  }
  while (!s.locks.empty() && s.locks.front().expires <= now) settle(s, s.locks);
  if (changed) publish_head(s);
}

// Past the bound: the entry nearest expiry in any shard goes first; each step
// locks only the shard that holds it (no lock over the whole table).
void MemoryTable::shrink() {
  while (bytes_.load(std::memory_order_relaxed) > static_cast<std::int64_t>(max_bytes_.load(std::memory_order_relaxed))) {
    Shard* victim = nullptr;
    auto best = kNever;
    for (auto& s : shards_) {
      if (auto h = s.head.load(std::memory_order_relaxed); h < best) {
        best = h;
        victim = &s;
      }
    }
    if (!victim) return;  // only in-flight locks are left
    std::lock_guard lock(victim->mu);
    // One item per step: a stale or dead one only updates the shard's head, and the choice is made again.
    if (!victim->evictable.empty()) settle(*victim, victim->evictable);
    publish_head(*victim);
  }
}

// A bucket whose TAT has passed is full again, the same as no entry, so the
// request path leaves it in place for up to kBucketGrace (the periodic sweep and
// the memory bound still take it): a busy key then costs no erase, no new node
// and no heap push per request, only an update of its TAT.
constexpr std::int64_t kBucketGrace = 1'000'000;  // µs

policy::GcraOutcome MemoryTable::rate_limit(std::string_view route, std::string_view descriptor,
                                            const policy::GcraParams& p, policy::TimePoint now) {
  thread_local std::string scratch;  // reused: no allocation per request once warm
  keys::bucket_id(scratch, route, descriptor);
  Hashed key{scratch, KeyHash{}(std::string_view(scratch))};
  auto n = micros(now);
  auto& s = shard_of(key.hash);
  bool grew = false;
  policy::GcraOutcome out;
  {
    std::lock_guard lock(s.mu);
    expire(s, n - kBucketGrace);
    auto it = s.tat.find(key);
    std::int64_t tat = it == s.tat.end() ? 0 : it->second;
    std::int64_t next = tat;
    out = policy::gcra(p, tat, n, next);
    if (out.allowed) {
      if (it != s.tat.end()) {
        it->second = next;  // the heap learns of it lazily, when the old time comes up
      } else {
        std::string owned(scratch);
        bytes_.fetch_add(size(owned) + kNode, std::memory_order_relaxed);
        push(s, s.evictable, Item{next, false, owned});
        s.tat.emplace(std::move(owned), next);
        publish_head(s);
        grew = true;
      }
    }
  }
  if (grew && bytes_.load(std::memory_order_relaxed) > static_cast<std::int64_t>(max_bytes_.load(std::memory_order_relaxed)))
    shrink();
  return out;
}

IdemBegin MemoryTable::idem_begin(const std::string& key, std::string fingerprint, std::string token,
                                  policy::TimePoint now, policy::Duration lock_ttl) {
  auto n = micros(now);
  auto& s = shard_of(key);
  IdemBegin out;
  {
    std::lock_guard lock(s.mu);
    expire(s, n);
    auto it = s.idem.find(key);
    if (it == s.idem.end() || it->second.expires <= n) {
      Idem e{false, std::move(token), std::move(fingerprint), {}, n + micros(lock_ttl), 0};
      e.bytes = size(key) + size(e.token) + size(e.fingerprint) + kNode;
      bytes_.fetch_add(e.bytes - (it == s.idem.end() ? 0 : it->second.bytes), std::memory_order_relaxed);
      push(s, s.locks, Item{e.expires, true, key});
      s.idem.insert_or_assign(key, std::move(e));
      out.state = IdemBegin::State::acquired;
    } else if (it->second.fingerprint != fingerprint) {
      out.state = IdemBegin::State::mismatch;
    } else if (!it->second.completed) {
      out.state = IdemBegin::State::in_flight;
    } else {
      out.state = IdemBegin::State::completed;
      out.record = it->second.record;
    }
  }
  if (out.state == IdemBegin::State::acquired &&
      bytes_.load(std::memory_order_relaxed) > static_cast<std::int64_t>(max_bytes_.load(std::memory_order_relaxed)))
    shrink();
  return out;
}

bool MemoryTable::idem_complete(const std::string& key, const std::string& token, std::string fingerprint,
                                std::string record, policy::TimePoint now, policy::Duration ttl) {
  auto n = micros(now);
  auto& s = shard_of(key);
  {
    std::lock_guard lock(s.mu);
    expire(s, n);
    auto it = s.idem.find(key);
    if (it == s.idem.end() || it->second.completed || it->second.token != token || it->second.expires <= n)
      return false;  // the lock expired and may belong to someone else now
    Idem e{true, {}, std::move(fingerprint), std::move(record), n + micros(ttl), 0};
    e.bytes = size(key) + size(e.fingerprint) + size(e.record) + kNode;
    bytes_.fetch_add(e.bytes - it->second.bytes, std::memory_order_relaxed);
    it->second = std::move(e);
    push(s, s.evictable, Item{it->second.expires, true, key});
    publish_head(s);
  }
  if (bytes_.load(std::memory_order_relaxed) > static_cast<std::int64_t>(max_bytes_.load(std::memory_order_relaxed)))
    shrink();
  return true;
}

bool MemoryTable::idem_release(const std::string& key, const std::string& token) {
  auto& s = shard_of(key);
  std::lock_guard lock(s.mu);
  auto it = s.idem.find(key);
  if (it == s.idem.end() || it->second.completed || it->second.token != token) return false;
  erase_idem(s, it);  // its lock item is dropped when its time comes up
  return true;
}

void MemoryTable::sweep(policy::TimePoint now) {
  auto n = micros(now);
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    expire(s, n);
  }
}

std::size_t MemoryTable::entries() {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.tat.size() + s.idem.size();
  }
  return n;
}

}  // namespace breakwater::store

#pragma once
// Bulkhead bookkeeping: at most max_concurrent holders, then a bounded FIFO of
// waiters. Pure: the proxy does the waiting and wakes whoever leave() names.
#include <cstdint>
#include <deque>
#include <optional>

#include "breakwater/policy/bulkhead_settings.hpp"

namespace breakwater::policy {

class Bulkhead final {
 public:
  explicit Bulkhead(BulkheadSettings s) : s_(s) {}
  enum class Admit { now, queued, rejected };
  // `waiter` identifies the caller if it has to queue.
  [[nodiscard]] Admit try_enter(std::uint64_t waiter);
  // A holder leaves; returns the waiter that now holds its place, if any.
  [[nodiscard]] std::optional<std::uint64_t> leave();
  // A waiter gives up (queue_timeout); false when it was already handed a place.
  [[nodiscard]] bool cancel(std::uint64_t waiter);
  [[nodiscard]] unsigned in_use() const { return in_use_; }
  [[nodiscard]] unsigned queued() const { return static_cast<unsigned>(queue_.size()); }
  [[nodiscard]] const BulkheadSettings& settings() const { return s_; }

 private:
  BulkheadSettings s_;
  unsigned in_use_ = 0;
  std::deque<std::uint64_t> queue_;
};

}  // namespace breakwater::policy

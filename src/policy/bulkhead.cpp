#include "breakwater/policy/bulkhead.hpp"

#include <algorithm>

namespace breakwater::policy {

Bulkhead::Admit Bulkhead::try_enter(std::uint64_t waiter) {
  if (in_use_ < s_.max_concurrent) {
    ++in_use_;
    return Admit::now;
  }
  if (queue_.size() < s_.max_queue && s_.queue_timeout > Duration{0}) {
    queue_.push_back(waiter);
    return Admit::queued;
  }
  return Admit::rejected;
}

std::optional<std::uint64_t> Bulkhead::leave() {
  if (!queue_.empty()) {
    auto next = queue_.front();  // the place passes on: in_use stays the same
    queue_.pop_front();
    return next;
  }
  if (in_use_ > 0) --in_use_;
  return std::nullopt;
}

bool Bulkhead::cancel(std::uint64_t waiter) {
  auto it = std::find(queue_.begin(), queue_.end(), waiter);
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

}  // namespace breakwater::policy

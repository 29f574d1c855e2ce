#pragma once
// Retry budget over a 10 s sliding window (per-second buckets):
// retries <= budget_ratio * requests + budget_min_rps * 10.
#include <cstddef>
#include <cstdint>

#include "breakwater/policy/sliding_window.hpp"
#include "breakwater/policy/time.hpp"

namespace breakwater::policy {

class RetryBudget final {
 public:
  static constexpr int kWindowSeconds = 10;
  RetryBudget(double ratio, double min_rps) : ratio_(ratio), min_rps_(min_rps) {}
  void on_request(TimePoint now) { on_requests(now, 1); }
  void on_requests(TimePoint now, std::uint64_t n);
  // Spends one retry when the budget has room.
  [[nodiscard]] bool try_spend(TimePoint now);
  [[nodiscard]] double available(TimePoint now);

 private:
  enum Count : std::size_t { kRequests, kRetries };
  double ratio_, min_rps_;
  SlidingWindow<Counters<std::uint64_t, 2>> window_{kWindowSeconds};
};

}  // namespace breakwater::policy

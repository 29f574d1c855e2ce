#pragma once
// Retry budget over a 10 s sliding window (per-second buckets):
// retries <= budget_ratio * requests + budget_min_rps * 10.
#include <array>
#include <cstdint>

#include "breakwater/policy/time.hpp"

namespace breakwater::policy {

class RetryBudget final {
 public:
  static constexpr int kWindowSeconds = 10;
  RetryBudget(double ratio, double min_rps) : ratio_(ratio), min_rps_(min_rps) {}
  void on_request(TimePoint now);
  // Spends one retry when the budget has room.
  [[nodiscard]] bool try_spend(TimePoint now);
  [[nodiscard]] double available(TimePoint now);

 private:
  struct Bucket {
    std::int64_t second = -1;
    std::uint64_t requests = 0, retries = 0;
  };
  void advance(TimePoint now);
  Bucket& current(TimePoint now);  // this second's bucket, recycled when stale
  double ratio_, min_rps_;
  std::array<Bucket, kWindowSeconds> buckets_{};
  std::uint64_t requests_ = 0, retries_ = 0;
  std::int64_t last_second_ = -1;
};

}  // namespace breakwater::policy

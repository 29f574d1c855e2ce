#include "breakwater/policy/retry_budget.hpp"

namespace breakwater::policy {

void RetryBudget::on_requests(TimePoint now, std::uint64_t n) { window_.add(now, {{n, 0}}); }

double RetryBudget::available(TimePoint now) {
  window_.advance(now);
  auto& c = window_.sums();
  return ratio_ * static_cast<double>(c[kRequests]) + min_rps_ * kWindowSeconds - static_cast<double>(c[kRetries]);
}

bool RetryBudget::try_spend(TimePoint now) {
  if (available(now) < 1.0) return false;
  window_.add(now, {{0, 1}});
  return true;
}

}  // namespace breakwater::policy

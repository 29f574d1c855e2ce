#include "breakwater/policy/retry_budget.hpp"

namespace breakwater::policy {
namespace {
std::int64_t second_of(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

void RetryBudget::advance(TimePoint now) {
  auto sec = second_of(now);
  if (sec <= last_second_) return;
  for (auto& b : buckets_) {
    if (b.second >= 0 && b.second <= sec - kWindowSeconds) {
      requests_ -= b.requests;
      retries_ -= b.retries;
      b = Bucket{};
    }
  }
  last_second_ = sec;
}

RetryBudget::Bucket& RetryBudget::current(TimePoint now) {
  auto sec = second_of(now);
  auto& b = buckets_[static_cast<std::size_t>(((sec % kWindowSeconds) + kWindowSeconds) % kWindowSeconds)];
  if (b.second != sec) {  // the slot still holds a second that has left the window
    requests_ -= b.requests;
    retries_ -= b.retries;
    b = Bucket{sec, 0, 0};
  }
  return b;
}

void RetryBudget::on_request(TimePoint now) {
  advance(now);
  ++current(now).requests;
  ++requests_;
}

double RetryBudget::available(TimePoint now) {
  advance(now);
  return ratio_ * static_cast<double>(requests_) + min_rps_ * kWindowSeconds - static_cast<double>(retries_);
}

bool RetryBudget::try_spend(TimePoint now) {
  if (available(now) < 1.0) return false;
  ++current(now).retries;
  ++retries_;
  return true;
}

}  // namespace breakwater::policy

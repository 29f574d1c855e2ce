#include "breakwater/policy/circuit_breaker.hpp"

#include <algorithm>

namespace breakwater::policy {
namespace {

constexpr std::uint8_t kFail = 1, kSlow = 2, kUsed = 4;

}  // namespace

CircuitBreaker::CircuitBreaker(CircuitBreakerSettings s)
    : s_(std::move(s)),
      ring_(s_.window == WindowKind::count ? std::max(1u, s_.window_size) : 0u, 0),
      seconds_(s_.window == WindowKind::time ? s_.window_size : 1u),
      open_duration_(s_.open_duration) {}

unsigned CircuitBreaker::min_calls() const {
  // A count window can never hold more than window_size calls.
  return s_.window == WindowKind::count ? std::min(s_.minimum_calls, s_.window_size) : s_.minimum_calls;
}

double CircuitBreaker::failure_rate() const {
  auto& t = totals();
  if (t[kCalls] == 0 || t[kCalls] < min_calls()) return -1;
  return 100.0 * t[kFailures] / t[kCalls];
}

double CircuitBreaker::slow_call_rate() const {
  auto& t = totals();
  if (t[kCalls] == 0 || t[kCalls] < min_calls()) return -1;
  return 100.0 * t[kSlowCalls] / t[kCalls];
}

bool CircuitBreaker::over_threshold() const {
  auto& t = totals();
  if (t[kCalls] == 0 || t[kCalls] < min_calls()) return false;
  return failure_rate() >= s_.failure_rate_threshold || slow_call_rate() >= s_.slow_call_rate_threshold;
}

void CircuitBreaker::record(bool failure, bool slow, TimePoint now) {
  Totals call{{1, failure, slow}};
  if (s_.window == WindowKind::time) {
    seconds_.add(now, call);
    return;
  }
  auto& slot = ring_[ring_pos_];
  if (slot & kUsed) count_totals_ -= Totals{{1, (slot & kFail) != 0, (slot & kSlow) != 0}};
  slot = static_cast<std::uint8_t>(kUsed | (failure ? kFail : 0) | (slow ? kSlow : 0));
  ring_pos_ = (ring_pos_ + 1) % ring_.size();
  count_totals_ += call;
}

void CircuitBreaker::clear_window() {
  std::fill(ring_.begin(), ring_.end(), 0);
  ring_pos_ = 0;
  count_totals_ = {};
  seconds_.clear();
}

void CircuitBreaker::transition(BreakerState to, TimePoint now) {
  if (to == BreakerState::open) {
    if (state_ == BreakerState::half_open) open_duration_ = std::min(open_duration_ * 2, s_.open_duration_max);
    open_until_ = now + open_duration_;
  } else if (to == BreakerState::closed) {
    open_duration_ = s_.open_duration;
    clear_window();
  } else {
    probes_admitted_ = probes_done_ = probe_slow_ = 0;
  }
  state_ = to;
  ++generation_;
  transitions_.push_back(to);
}

BreakerPermit CircuitBreaker::try_acquire(TimePoint now) {
  if (state_ == BreakerState::open && now >= open_until_) transition(BreakerState::half_open, now);
  switch (state_) {
    case BreakerState::closed:
      return {true, false, generation_, Duration{0}};
    case BreakerState::open:
      return {false, false, generation_, open_until_ - now};
    case BreakerState::half_open:
      if (probes_admitted_ < s_.half_open_calls) {
        ++probes_admitted_;
        return {true, true, generation_, Duration{0}};
      }
      // Probes are out; the answer comes within one route timeout.
      return {false, false, generation_, std::chrono::seconds(1)};
  }
  return {};
}

void CircuitBreaker::on_result(const BreakerPermit& p, bool failure, Duration took, TimePoint now) {
  if (!p.allowed || p.generation != generation_) return;  // admitted in another period
  bool slow = took >= s_.slow_call_duration;
  if (state_ == BreakerState::closed) {
    record(failure, slow, now);
    if (over_threshold()) transition(BreakerState::open, now);
    return;
  }
  if (state_ == BreakerState::half_open && p.probe) {
    if (failure) {
      transition(BreakerState::open, now);
      return;
    }
    ++probes_done_;
    probe_slow_ += slow;
    if (probes_done_ >= s_.half_open_calls) {
      double slow_rate = 100.0 * probe_slow_ / probes_done_;
      transition(slow_rate >= s_.slow_call_rate_threshold ? BreakerState::open : BreakerState::closed, now);
    }
  }
}

void CircuitBreaker::on_cancel(const BreakerPermit& p) {
  if (p.probe && p.generation == generation_ && state_ == BreakerState::half_open && probes_admitted_ > 0)
    --probes_admitted_;
}

std::vector<BreakerState> CircuitBreaker::take_transitions() {
  std::vector<BreakerState> out;
  out.swap(transitions_);
  return out;
}

}  // namespace breakwater::policy

#include "breakwater/policy/circuit_breaker.hpp"

#include <algorithm>

namespace breakwater::policy {
namespace {

std::int64_t second_of(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

constexpr std::uint8_t kFail = 1, kSlow = 2, kUsed = 4;

}  // namespace

CircuitBreaker::CircuitBreaker(CircuitBreakerSettings s) : s_(std::move(s)), open_duration_(s_.open_duration) {
  if (s_.window == WindowKind::count)
    ring_.assign(std::max(1u, s_.window_size), 0);
  else
    buckets_.assign(std::max(1u, s_.window_size), Bucket{});
}

bool CircuitBreaker::is_failure_status(int status) const {
  return std::find(s_.failure_statuses.begin(), s_.failure_statuses.end(), status) != s_.failure_statuses.end();
}

unsigned CircuitBreaker::min_calls() const {
  // A count window can never hold more than window_size calls.
  return s_.window == WindowKind::count ? std::min(s_.minimum_calls, s_.window_size) : s_.minimum_calls;
}

double CircuitBreaker::failure_rate() const {
  if (totals_.calls == 0 || totals_.calls < min_calls()) return -1;
  return 100.0 * totals_.failures / totals_.calls;
}

double CircuitBreaker::slow_call_rate() const {
  if (totals_.calls == 0 || totals_.calls < min_calls()) return -1;
  return 100.0 * totals_.slow / totals_.calls;
}

bool CircuitBreaker::over_threshold() const {
  if (totals_.calls == 0 || totals_.calls < min_calls()) return false;
  return failure_rate() >= s_.failure_rate_threshold || slow_call_rate() >= s_.slow_call_rate_threshold;
}

void CircuitBreaker::advance(TimePoint now) {
  if (s_.window != WindowKind::time) return;
  auto sec = second_of(now);
  if (last_second_ < 0) {
    last_second_ = sec;
    return;
  }
  auto n = static_cast<std::int64_t>(buckets_.size());
  // Expire every bucket that fell out of the window, at most one full turn.
  for (auto s = std::max(last_second_ + 1, sec - n + 1); s <= sec; ++s) {
    auto& b = buckets_[static_cast<std::size_t>(((s % n) + n) % n)];
    if (b.second >= 0 && b.second <= sec - n) {
      totals_.calls -= b.t.calls;
      totals_.failures -= b.t.failures;
      totals_.slow -= b.t.slow;
      b = Bucket{};
    }
  }
  if (sec - last_second_ >= n) {
    // Everything is older than the window.
    for (auto& b : buckets_) b = Bucket{};
    totals_ = {};
  }
  last_second_ = std::max(last_second_, sec);
}

void CircuitBreaker::record(bool failure, bool slow, TimePoint now) {
  if (s_.window == WindowKind::count) {
    auto& slot = ring_[ring_pos_];
    if (slot & kUsed) {
      --totals_.calls;
      if (slot & kFail) --totals_.failures;
      if (slot & kSlow) --totals_.slow;
    }
    slot = static_cast<std::uint8_t>(kUsed | (failure ? kFail : 0) | (slow ? kSlow : 0));
    ring_pos_ = (ring_pos_ + 1) % ring_.size();
  } else {
    advance(now);
    auto sec = second_of(now);
    auto n = static_cast<std::int64_t>(buckets_.size());
    auto& b = buckets_[static_cast<std::size_t>(((sec % n) + n) % n)];
    if (b.second != sec) {
      totals_.calls -= b.t.calls;
      totals_.failures -= b.t.failures;
      totals_.slow -= b.t.slow;
      b = Bucket{sec, {}};
    }
    ++b.t.calls;
    b.t.failures += failure;
    b.t.slow += slow;
  }
  ++totals_.calls;
  totals_.failures += failure;
  totals_.slow += slow;
}

void CircuitBreaker::clear_window() {
  std::fill(ring_.begin(), ring_.end(), 0);
  ring_pos_ = 0;
  for (auto& b : buckets_) b = Bucket{};
  totals_ = {};
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

#pragma once
// Circuit breaker with Resilience4j semantics: a count or time sliding window,
// failure-rate and slow-call-rate thresholds, a lazy open -> half-open move,
// exactly `half_open_calls` probes, and an open duration that doubles on re-trip.
// Not thread-safe: the proxy guards it; time is always an argument.
#include <cstdint>
#include <optional>
#include <vector>

#include "breakwater/policy/breaker_state.hpp"
#include "breakwater/policy/circuit_breaker_settings.hpp"
#include "breakwater/policy/sliding_window.hpp"

namespace breakwater::policy {

struct BreakerPermit {
  bool allowed = false;
  bool probe = false;            // admitted as a half-open probe
  std::uint64_t generation = 0;  // results from another state period are ignored
  Duration retry_after{0};       // when refused: time until the next probe may pass
};

class CircuitBreaker final {
 public:
  explicit CircuitBreaker(CircuitBreakerSettings s);

  [[nodiscard]] BreakerPermit try_acquire(TimePoint now);
  // Records one call admitted by `p`. `failure`: connect failure, reset, timeout or a failure status.
  void on_result(const BreakerPermit& p, bool failure, Duration took, TimePoint now);
  // A permitted call that ended without an outcome (the client went away): frees its probe slot.
  void on_cancel(const BreakerPermit& p);

  [[nodiscard]] BreakerState state() const { return state_; }
  // The current state period (a permit of another one is not recorded).
  [[nodiscard]] std::uint64_t generation() const { return generation_; }
  // Percent, or -1 before minimum_calls calls are in the window.
  [[nodiscard]] double failure_rate() const;
  [[nodiscard]] double slow_call_rate() const;
  [[nodiscard]] unsigned calls() const { return totals()[kCalls]; }
  [[nodiscard]] Duration current_open_duration() const { return open_duration_; }
  // Every transition so far, in order; the caller drains it for metrics.
  std::vector<BreakerState> take_transitions();
  [[nodiscard]] bool has_transitions() const { return !transitions_.empty(); }
  [[nodiscard]] bool is_failure_status(int status) const {
    return policy::is_failure_status(s_.failure_statuses, status);
  }
  [[nodiscard]] bool is_failure(const AttemptOutcome& o) const {
    return is_failed_attempt(s_.failure_statuses, s_.failure_grpc_statuses, o);
  }
  [[nodiscard]] const CircuitBreakerSettings& settings() const { return s_; }

 private:
  enum Total : std::size_t { kCalls, kFailures, kSlowCalls };
  using Totals = Counters<unsigned, 3>;
  void record(bool failure, bool slow, TimePoint now);
  void transition(BreakerState to, TimePoint now);
  void clear_window();
  [[nodiscard]] unsigned min_calls() const;
  [[nodiscard]] const Totals& totals() const { return s_.window == WindowKind::count ? count_totals_ : seconds_.sums(); }
  [[nodiscard]] bool over_threshold() const;

  CircuitBreakerSettings s_;
  BreakerState state_ = BreakerState::closed;
  std::uint64_t generation_ = 1;
  std::vector<std::uint8_t> ring_;  // count window: bit 0 failure, bit 1 slow, bit 2 used
  std::size_t ring_pos_ = 0;
  Totals count_totals_;
  SlidingWindow<Totals> seconds_;   // time window
  Duration open_duration_;
  TimePoint open_until_{};
  unsigned probes_admitted_ = 0, probes_done_ = 0, probe_slow_ = 0;
  std::vector<BreakerState> transitions_;
};

}  // namespace breakwater::policy

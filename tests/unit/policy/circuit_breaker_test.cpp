// Scenarios of Resilience4j's circuit breaker state machine, driven by arithmetic on time.
#include <doctest/doctest.h>

#include "breakwater/policy/circuit_breaker.hpp"

using namespace breakwater::policy;
using namespace std::chrono_literals;

namespace {

CircuitBreakerSettings count_settings() {
  CircuitBreakerSettings s;
  s.window = WindowKind::count;
  s.window_size = 10;
  s.minimum_calls = 5;
  s.failure_rate_threshold = 50;
  s.slow_call_duration = 1s;
  s.slow_call_rate_threshold = 100;
  s.open_duration = 10s;
  s.open_duration_max = 35s;
  s.half_open_calls = 2;
  return s;
}

const TimePoint t0 = TimePoint{} + 1000h;

void call(CircuitBreaker& b, bool failure, TimePoint now, Duration took = 10ms) {
  auto p = b.try_acquire(now);
  REQUIRE(p.allowed);
  b.on_result(p, failure, took, now);
}

}  // namespace

TEST_CASE("no decision before minimum_calls") {
  CircuitBreaker b(count_settings());
  for (int i = 0; i < 4; ++i) call(b, true, t0);
  CHECK(b.state() == BreakerState::closed);
  CHECK(b.failure_rate() == -1);
  call(b, true, t0);
  CHECK(b.state() == BreakerState::open);
}

TEST_CASE("trips when the failure rate reaches the threshold exactly") {
  CircuitBreaker b(count_settings());
  for (int i = 0; i < 4; ++i) call(b, i % 2 == 0, t0);  // 2 of 4 failed
  CHECK(b.state() == BreakerState::closed);
  call(b, false, t0);  // 2/5 = 40%
  CHECK(b.state() == BreakerState::closed);
  CHECK(b.failure_rate() == doctest::Approx(40));
  call(b, true, t0);  // 3/6 = 50%
  CHECK(b.state() == BreakerState::open);
  CHECK(b.take_transitions() == std::vector<BreakerState>{BreakerState::open});
}

TEST_CASE("open refuses until open_duration, then half-open lazily with exactly half_open_calls probes") {
  CircuitBreaker b(count_settings());
  for (int i = 0; i < 5; ++i) call(b, true, t0);
  auto p = b.try_acquire(t0 + 4s);
  CHECK_FALSE(p.allowed);
  CHECK(p.retry_after == 6s);
  CHECK(b.state() == BreakerState::open);
  auto p1 = b.try_acquire(t0 + 10s);
  CHECK(p1.allowed);
  CHECK(p1.probe);
  CHECK(b.state() == BreakerState::half_open);
  auto p2 = b.try_acquire(t0 + 10s);
  CHECK(p2.allowed);
  CHECK_FALSE(b.try_acquire(t0 + 10s).allowed);  // no thundering herd
  b.on_result(p1, false, 5ms, t0 + 10s);
  CHECK(b.state() == BreakerState::half_open);
  b.on_result(p2, false, 5ms, t0 + 10s);
  CHECK(b.state() == BreakerState::closed);
  CHECK(b.calls() == 0);  // the window is cleared on closing
  CHECK(b.failure_rate() == -1);
}

TEST_CASE("one failed probe re-opens, doubling open_duration up to the max; closing resets it") {
  CircuitBreaker b(count_settings());
  for (int i = 0; i < 5; ++i) call(b, true, t0);
  auto now = t0 + 10s;
  auto probe = b.try_acquire(now);
  b.on_result(probe, true, 5ms, now);
  CHECK(b.state() == BreakerState::open);
  CHECK(b.current_open_duration() == 20s);
  CHECK_FALSE(b.try_acquire(now + 19s).allowed);
  now += 20s;
  probe = b.try_acquire(now);
  REQUIRE(probe.allowed);
  b.on_result(probe, true, 5ms, now);
  CHECK(b.current_open_duration() == 35s);  // 40s capped
  now += 35s;
  auto a = b.try_acquire(now), c = b.try_acquire(now);
  b.on_result(a, false, 1ms, now);
  b.on_result(c, false, 1ms, now);
  CHECK(b.state() == BreakerState::closed);
  CHECK(b.current_open_duration() == 10s);
}

TEST_CASE("slow calls trip the breaker; a slow probe is slow, not failed") {
  auto s = count_settings();
  s.slow_call_rate_threshold = 60;
  CircuitBreaker b(s);
  for (int i = 0; i < 5; ++i) call(b, false, t0, i < 3 ? 1s : 10ms);  // 3/5 slow = 60%
  CHECK(b.state() == BreakerState::open);
  auto now = t0 + 10s;
  auto p1 = b.try_acquire(now), p2 = b.try_acquire(now);
  b.on_result(p1, false, 2s, now);  // slow, not a failure: still half-open
  CHECK(b.state() == BreakerState::half_open);
  b.on_result(p2, false, 1ms, now);  // 1 of 2 slow = 50% < 60%
  CHECK(b.state() == BreakerState::closed);
}

TEST_CASE("the count window slides") {
  auto s = count_settings();
  s.failure_rate_threshold = 100;
  CircuitBreaker b(s);
  for (int i = 0; i < 4; ++i) call(b, true, t0);
  for (int i = 0; i < 10; ++i) call(b, false, t0);  // the failures fall out of the last 10
  CHECK(b.failure_rate() == 0);
  CHECK(b.calls() == 10);
}

TEST_CASE("the time window forgets calls older than window_size seconds") {
  auto s = count_settings();
  s.window = WindowKind::time;
  s.window_size = 5;
  CircuitBreaker b(s);
  for (int i = 0; i < 4; ++i) call(b, true, t0);
  CHECK(b.calls() == 4);
  call(b, false, t0 + 3s);
  CHECK(b.state() == BreakerState::open);  // 4/5 failed within 5 s
  CircuitBreaker c(s);
  for (int i = 0; i < 4; ++i) call(c, true, t0);
  call(c, false, t0 + 5s);  // the failures are 5 s old: gone
  CHECK(c.calls() == 1);
  CHECK(c.state() == BreakerState::closed);
  call(c, true, t0 + 100s);
  CHECK(c.calls() == 1);
}

TEST_CASE("results from an earlier state period are ignored; a cancelled probe frees its slot") {
  CircuitBreaker b(count_settings());
  auto late = b.try_acquire(t0);
  for (int i = 0; i < 5; ++i) call(b, true, t0);
  REQUIRE(b.state() == BreakerState::open);
  auto now = t0 + 10s;
  auto p1 = b.try_acquire(now), p2 = b.try_acquire(now);
  b.on_result(late, true, 1ms, now);  // admitted while closed: no effect on half-open
  CHECK(b.state() == BreakerState::half_open);
  b.on_cancel(p2);
  auto p3 = b.try_acquire(now);
  CHECK(p3.allowed);
  b.on_result(p1, false, 1ms, now);
  b.on_result(p3, false, 1ms, now);
  CHECK(b.state() == BreakerState::closed);
}

TEST_CASE("failure statuses") {
  CircuitBreaker b(count_settings());
  CHECK(b.is_failure_status(503));
  CHECK_FALSE(b.is_failure_status(404));
  CHECK_FALSE(b.is_failure_status(501));
}

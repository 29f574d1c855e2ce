#include <doctest/doctest.h>

#include "breakwater/policy/retry.hpp"
#include "breakwater/policy/retry_budget.hpp"

using namespace breakwater::policy;
using namespace std::chrono_literals;

TEST_CASE("full-jitter backoff stays within rand(0, min(max, base * 2^(n-1)))") {
  RetrySettings s;
  s.backoff_base = 25ms;
  s.backoff_max = 250ms;
  CHECK(backoff(s, 1, 1.0) == 25ms);
  CHECK(backoff(s, 2, 1.0) == 50ms);
  CHECK(backoff(s, 4, 1.0) == 200ms);
  CHECK(backoff(s, 5, 1.0) == 250ms);
  CHECK(backoff(s, 60, 1.0) == 250ms);
  CHECK(backoff(s, 3, 0.0) == 0ms);
  CHECK(backoff(s, 3, 0.5) == 50ms);
}

TEST_CASE("retry_on classification") {
  RetryOn r{true, false, true, false, {502}};
  CHECK(retry_on_matches(r, {AttemptKind::connect_failure, 0}));
  CHECK_FALSE(retry_on_matches(r, {AttemptKind::reset, 0}));
  CHECK(retry_on_matches(r, {AttemptKind::timeout, 0}));
  CHECK(retry_on_matches(r, {AttemptKind::response, 502}));
  CHECK_FALSE(retry_on_matches(r, {AttemptKind::response, 503}));
  r.any_5xx = true;
  CHECK(retry_on_matches(r, {AttemptKind::response, 599}));
  CHECK_FALSE(retry_on_matches(r, {AttemptKind::response, 429}));
}

TEST_CASE("eligibility follows SPEC §3 step 6") {
  RetrySettings s;
  s.max_attempts = 3;
  RetryInput in;
  in.outcome = {AttemptKind::response, 503};
  in.idempotent = true;
  in.time_left = 10s;
  in.u01 = 1.0;
  auto d = decide_retry(s, in);
  CHECK(d.verdict == RetryVerdict::budget_needed);
  CHECK(d.delay == 25ms);
  in.attempts_done = 3;
  CHECK(decide_retry(s, in).verdict == RetryVerdict::attempts_exhausted);
  in.attempts_done = 1;
  in.idempotent = false;
  CHECK(decide_retry(s, in).verdict == RetryVerdict::not_idempotent);
  in.outcome = {AttemptKind::connect_failure, 0};  // nothing reached the upstream
  CHECK(decide_retry(s, in).verdict == RetryVerdict::budget_needed);
  in.body_replayable = false;
  CHECK(decide_retry(s, in).verdict == RetryVerdict::body_not_replayable);
  in.body_replayable = true;
  in.outcome = {AttemptKind::response, 500};
  in.idempotent = true;
  CHECK(decide_retry(s, in).verdict == RetryVerdict::outcome_not_retryable);
  in.outcome = {AttemptKind::response, 503};
  in.sidecar_rejection = true;
  CHECK(decide_retry(s, in).verdict == RetryVerdict::sidecar_rejection);
  in.sidecar_rejection = false;
  in.time_left = 20ms;
  CHECK(decide_retry(s, in).verdict == RetryVerdict::no_time);
  in.time_left = 5s;
  in.retry_after = 2s;
  d = decide_retry(s, in);
  CHECK(d.verdict == RetryVerdict::budget_needed);
  CHECK(d.delay == 2s);  // Retry-After replaces the backoff
  in.retry_after = 6s;
  CHECK(decide_retry(s, in).verdict == RetryVerdict::no_time);
}

TEST_CASE("Retry-After parsing and idempotent methods") {
  CHECK(parse_retry_after("3") == std::optional<Duration>(3s));
  CHECK(parse_retry_after(" 0 ") == std::optional<Duration>(0s));
  CHECK_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
  CHECK_FALSE(parse_retry_after("-1"));
  CHECK(is_idempotent_method("PUT"));
  CHECK(is_idempotent_method("DELETE"));
  CHECK_FALSE(is_idempotent_method("POST"));
  CHECK_FALSE(is_idempotent_method("PATCH"));
}

TEST_CASE("retry budget: ratio of requests plus a floor, over a sliding 10 s window") {
  const TimePoint t0 = TimePoint{} + 1000h;
  RetryBudget b(0.2, 1);  // floor: 10 retries per window
  for (int i = 0; i < 10; ++i) CHECK(b.try_spend(t0));
  CHECK_FALSE(b.try_spend(t0));
  for (int i = 0; i < 10; ++i) b.on_request(t0);  // + 0.2 * 10 = 2 more
  CHECK(b.available(t0) == doctest::Approx(2));
  CHECK(b.try_spend(t0));
  CHECK(b.try_spend(t0));
  CHECK_FALSE(b.try_spend(t0));
  CHECK(b.available(t0 + 9s) == doctest::Approx(0));
  CHECK(b.available(t0 + 10s) == doctest::Approx(10));  // the window has slid past
  CHECK(b.available(t0 + 100s) == doctest::Approx(10));
}

TEST_CASE("may_retry is false exactly when decide_retry stops at attempts or retry_on") {
  RetrySettings s;
  s.max_attempts = 2;
  s.retry_on = RetryOn{true, false, false, false, {503}};
  for (unsigned done : {1u, 2u, 3u}) {
    for (AttemptOutcome o : {AttemptOutcome{AttemptKind::response, 503}, AttemptOutcome{AttemptKind::response, 200},
                             AttemptOutcome{AttemptKind::connect_failure, 0}, AttemptOutcome{AttemptKind::reset, 0}}) {
      RetryInput in;
      in.outcome = o;
      in.attempts_done = done;
      in.idempotent = true;
      in.time_left = std::chrono::seconds(10);
      auto v = decide_retry(s, in).verdict;
      bool stopped = v == RetryVerdict::attempts_exhausted || v == RetryVerdict::outcome_not_retryable;
      CHECK(may_retry(s, done, o) == !stopped);
    }
  }
}

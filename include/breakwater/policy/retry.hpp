#pragma once
// Whether one more attempt follows (SPEC §3 step 6), and how long to wait first.
#include <optional>
#include <string_view>

#include "breakwater/policy/outcome.hpp"
#include "breakwater/policy/retry_settings.hpp"

namespace breakwater::policy {

// retry n (1, 2, ...) sleeps u01 * min(max, base * 2^(n-1)): "full jitter".
[[nodiscard]] Duration backoff(const RetrySettings& s, unsigned retry, double u01);
[[nodiscard]] bool retry_on_matches(const RetryOn& r, const AttemptOutcome& o);
// GET, HEAD, OPTIONS, PUT, DELETE.
[[nodiscard]] bool is_idempotent_method(std::string_view method);
// Retry-After as delta-seconds; HTTP dates and junk give nullopt.
[[nodiscard]] std::optional<Duration> parse_retry_after(std::string_view v);

struct RetryInput {
  AttemptOutcome outcome;
  unsigned attempts_done = 1;
  bool idempotent = false;        // idempotent method, or a valid Idempotency-Key
  bool body_replayable = true;    // the body was at most 64KiB and is buffered
  bool sidecar_rejection = false; // the response carries x-breakwater
  std::optional<Duration> retry_after;
  // grpc-retry-pushback-ms in the trailers: replaces the backoff; `pushback_refused`
  // when it was negative or malformed (the server says: do not retry).
  std::optional<Duration> pushback;
  bool pushback_refused = false;
  Duration time_left{0};
  double u01 = 0;
};

enum class RetryVerdict {
  retry,
  attempts_exhausted,
  outcome_not_retryable,
  not_idempotent,
  body_not_replayable,
  sidecar_rejection,
  pushback_refused,
  no_time,
  budget_needed,  // everything else allows it: the caller asks the budget
};

struct RetryDecision {
  RetryVerdict verdict;
  Duration delay{0};
};

// Everything but the budget; `budget_needed` means "retry if the budget has room".
[[nodiscard]] RetryDecision decide_retry(const RetrySettings& s, const RetryInput& in);
// decide_retry()'s first two questions, answerable from the outcome alone: false
// exactly when it would say attempts_exhausted or outcome_not_retryable. A caller
// asks this first and gathers the rest of RetryInput only when it is true.
[[nodiscard]] bool may_retry(const RetrySettings& s, unsigned attempts_done, const AttemptOutcome& o);

}  // namespace breakwater::policy

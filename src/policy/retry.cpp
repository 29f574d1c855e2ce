#include "breakwater/policy/retry.hpp"

#include <algorithm>
#include <cmath>

namespace breakwater::policy {

Duration backoff(const RetrySettings& s, unsigned retry, double u01) {
  auto exp = std::min(retry == 0 ? 0u : retry - 1, 40u);  // 2^40 * base is beyond any max
  double cap = std::min(static_cast<double>(s.backoff_max.count()),
                        static_cast<double>(s.backoff_base.count()) * std::ldexp(1.0, static_cast<int>(exp)));
  u01 = std::clamp(u01, 0.0, 1.0);
  return Duration(static_cast<Duration::rep>(cap * u01));
}

bool retry_on_matches(const RetryOn& r, const AttemptOutcome& o) {
  switch (o.kind) {
    case AttemptKind::connect_failure: return r.connect_failure;
    case AttemptKind::reset: return r.reset;
    case AttemptKind::timeout: return r.timeout;
    case AttemptKind::response:
      if (o.grpc_status >= 0 && o.status == 200) return in_set(r.grpc_statuses, o.grpc_status);
      if (r.any_5xx && o.status >= 500 && o.status <= 599) return true;
      return std::find(r.statuses.begin(), r.statuses.end(), o.status) != r.statuses.end();
  }
  return false;
}

bool is_idempotent_method(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE";
}

std::optional<Duration> parse_retry_after(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty() || v.size() > 9) return std::nullopt;
  long long secs = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    secs = secs * 10 + (c - '0');
  }
  return std::chrono::duration_cast<Duration>(std::chrono::seconds(secs));
}

bool may_retry(const RetrySettings& s, unsigned attempts_done, const AttemptOutcome& o) {
  return attempts_done < s.max_attempts && retry_on_matches(s.retry_on, o);
}

RetryDecision decide_retry(const RetrySettings& s, const RetryInput& in) {
  if (in.attempts_done >= s.max_attempts) return {RetryVerdict::attempts_exhausted};
  if (!retry_on_matches(s.retry_on, in.outcome)) return {RetryVerdict::outcome_not_retryable};
  if (in.sidecar_rejection) return {RetryVerdict::sidecar_rejection};
  if (in.pushback_refused) return {RetryVerdict::pushback_refused};
  // Nothing reached the upstream on a connect failure, so any method may go again; a gRPC
  // status named in retry_on is the route owner's word that the call is safe to repeat (gRFC A6).
  bool named_grpc = in.outcome.grpc_status >= 0 && in.outcome.status == 200;
  if (!in.idempotent && in.outcome.kind != AttemptKind::connect_failure && !named_grpc)
    return {RetryVerdict::not_idempotent};
  if (!in.body_replayable) return {RetryVerdict::body_not_replayable};
  Duration delay = in.pushback      ? *in.pushback
                   : in.retry_after ? *in.retry_after
                                    : backoff(s, in.attempts_done, in.u01);
  if (delay >= in.time_left) return {RetryVerdict::no_time, delay};
  return {RetryVerdict::budget_needed, delay};
}

}  // namespace breakwater::policy

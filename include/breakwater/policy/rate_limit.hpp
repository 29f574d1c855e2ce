#pragma once
// GCRA (generic cell rate algorithm) for a token bucket of `burst` requests
// refilled at `rate` per `per`. The same arithmetic runs in the memory store and,
// as a Lua script on Redis time, in the Redis store; both report the outcome
// relative to "now" so the headers never depend on whose clock it was.
#include <cstdint>
#include <string>

#include "breakwater/policy/rate_limit_settings.hpp"

namespace breakwater::policy {

struct GcraParams {
  double interval_us = 0;  // per / rate: one token's worth of time
  double burst = 1;        // bucket size in requests
  // gcra_interval_us() and gcra_tolerance_us(), rounded once by gcra_params()
  // (negative: not yet, rounded per call).
  std::int64_t interval_int_us = -1, tolerance_int_us = -1;
};
[[nodiscard]] GcraParams gcra_params(const RateLimitSettings& s);
// on_error = "local" (SPEC §6): the same limit at `local_rate` (default: rate),
// its burst scaled by local_rate / rate, rounded up, at least 1.
[[nodiscard]] RateLimitSettings local_settings(const RateLimitSettings& s);
// The integer microseconds both backends compute with: one token, and the whole bucket.
[[nodiscard]] std::int64_t gcra_interval_us(const GcraParams& p);
[[nodiscard]] std::int64_t gcra_tolerance_us(const GcraParams& p);

struct GcraOutcome {
  bool allowed = false;
  std::int64_t tat_after_us = 0;    // theoretical arrival time after the decision, minus now (>= 0)
  std::int64_t retry_after_us = 0;  // when refused: until one request would be admitted
};

// `tat_us`: the stored theoretical arrival time (absent: 0). Returns the outcome and,
// through `new_tat_us`, what to store (unchanged when refused).
[[nodiscard]] GcraOutcome gcra(const GcraParams& p, std::int64_t tat_us, std::int64_t now_us,
                               std::int64_t& new_tat_us);

// n requests for one bucket at the same instant, decided at once (the Redis store
// coalesces concurrent requests for one key into one call; gcra() is n = 1).
// Exactly the outcomes of n single decisions in a row at `now_us`: the first
// `admitted` are allowed.
struct GcraBatch {
  std::int64_t admitted = 0;   // how many of the n, in order, are allowed
  std::int64_t base_us = 0;    // max(stored TAT, now) minus now, before the batch
  std::int64_t interval_us = 0;
  std::int64_t tolerance_us = 0;
  // The outcome of request `i` (0-based) of the batch, as gcra() would have given it.
  [[nodiscard]] GcraOutcome outcome(std::int64_t i) const;
};
[[nodiscard]] GcraBatch gcra_batch(const GcraParams& p, std::int64_t tat_us, std::int64_t now_us, std::int64_t n,
                                   std::int64_t& new_tat_us);

struct RateHeaders {
  long long remaining = 0;   // whole requests the bucket admits now
  long long reset_s = 0;     // seconds (rounded up) until the bucket is full again
  long long retry_after_s = 0;  // on a refusal: seconds (rounded up, >= 1) until one is admitted
};
[[nodiscard]] RateHeaders rate_headers(const GcraParams& p, const GcraOutcome& o);

// draft-ietf-httpapi-ratelimit-headers: header values, never lines (a codec frames
// them). The RateLimit-Policy value is fixed per route (computed once per config);
// the RateLimit value per request.
inline constexpr std::string_view kRateLimitPolicyHeader = "RateLimit-Policy";
inline constexpr std::string_view kRateLimitHeader = "RateLimit";
[[nodiscard]] std::string rate_limit_policy_value(const RateLimitSettings& s);
void append_rate_limit_value(std::string& out, const RateHeaders& h);

}  // namespace breakwater::policy

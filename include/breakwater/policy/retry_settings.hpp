#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "breakwater/policy/time.hpp"

namespace breakwater::policy {

// What `retry_on` lists, as a bit set plus explicit statuses.
struct RetryOn {
  bool connect_failure = false;
  bool reset = false;
  bool timeout = false;
  bool any_5xx = false;
  std::vector<int> statuses;
  std::uint32_t grpc_statuses = 0;  // gRPC status names (SPEC §9), as bits by code
  bool operator==(const RetryOn&) const = default;
};

struct RetrySettings {
  unsigned max_attempts = 2;
  std::optional<Duration> per_try_timeout;  // unset: the route timeout
  Duration backoff_base = std::chrono::milliseconds(25);
  Duration backoff_max = std::chrono::milliseconds(250);
  RetryOn retry_on{true, true, false, false, {502, 503, 504}, 0};
  double budget_ratio = 0.2;
  double budget_min_rps = 10;
  Mode mode = Mode::enforce;
  bool operator==(const RetrySettings&) const = default;
};

}  // namespace breakwater::policy

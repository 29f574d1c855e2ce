#pragma once
#include <chrono>
#include <vector>

#include "breakwater/policy/outcome.hpp"
#include "breakwater/policy/time.hpp"

namespace breakwater::policy {

enum class WindowKind { count, time };

struct CircuitBreakerSettings {
  WindowKind window = WindowKind::count;
  unsigned window_size = 100;          // calls (count) or seconds (time)
  unsigned minimum_calls = 20;
  double failure_rate_threshold = 50;  // percent
  Duration slow_call_duration = std::chrono::seconds(60);
  double slow_call_rate_threshold = 100;  // percent
  Duration open_duration = std::chrono::seconds(30);
  Duration open_duration_max = std::chrono::minutes(5);
  unsigned half_open_calls = 3;
  std::vector<int> failure_statuses =
      std::vector<int>(kDefaultFailureStatuses.begin(), kDefaultFailureStatuses.end());
  GrpcStatusSet failure_grpc_statuses = kDefaultFailureGrpcStatuses;
  Mode mode = Mode::enforce;
  bool operator==(const CircuitBreakerSettings&) const = default;
};

}  // namespace breakwater::policy

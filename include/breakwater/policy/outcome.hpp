#pragma once
// How one upstream attempt ended, as the breaker, the retry policy and the
// metrics classify it.
#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "breakwater/policy/labels.hpp"

namespace breakwater::policy {

enum class AttemptKind : std::uint8_t { response, connect_failure, reset, timeout };

struct AttemptOutcome {
  AttemptKind kind = AttemptKind::response;
  int status = 0;        // when kind == response
  int grpc_status = -1;  // a gRPC call's status when known (SPEC §9); -1 otherwise
};

// A set of gRPC status codes (0-16), as a bit mask.
using GrpcStatusSet = std::uint32_t;
constexpr GrpcStatusSet grpc_bit(int code) { return code >= 0 && code < 32 ? (1u << code) : 0; }
[[nodiscard]] constexpr bool in_set(GrpcStatusSet set, int code) { return (set & grpc_bit(code)) != 0; }
// failure_grpc_statuses' default: unknown, deadline-exceeded, internal, unavailable, data-loss.
inline constexpr GrpcStatusSet kDefaultFailureGrpcStatuses = grpc_bit(2) | grpc_bit(4) | grpc_bit(13) | grpc_bit(14) |
                                                             grpc_bit(15);

// Whether an attempt failed, for the breaker and the metrics: a gRPC status in
// `grpc_failures` when one is known (a 200 that carried it), else the HTTP status.
[[nodiscard]] constexpr bool is_failed_attempt(std::span<const int> failure_statuses, GrpcStatusSet grpc_failures,
                                               const AttemptOutcome& o) {
  if (o.kind != AttemptKind::response) return true;
  if (o.grpc_status >= 0 && o.status == 200) return in_set(grpc_failures, o.grpc_status);
  return std::find(failure_statuses.begin(), failure_statuses.end(), o.status) != failure_statuses.end();
}

// The statuses that count as failures when a route names none (SPEC §7
// `failure_statuses`); routes without a breaker use them too.
inline constexpr std::array<int, 4> kDefaultFailureStatuses{500, 502, 503, 504};

[[nodiscard]] constexpr bool is_failure_status(std::span<const int> failure_statuses, int status) {
  return std::find(failure_statuses.begin(), failure_statuses.end(), status) != failure_statuses.end();
}

// Metric label values of breakwater_upstream_attempts_total{outcome}.
#define BREAKWATER_OUTCOME_LABELS(X) X(success) X(failure) X(connect_failure) X(reset) X(timeout)
enum class OutcomeLabel : std::uint8_t { BREAKWATER_OUTCOME_LABELS(BW_LABEL_ENUM) };
inline constexpr std::array kOutcomeLabels{BREAKWATER_OUTCOME_LABELS(BW_LABEL_NAME)};

}  // namespace breakwater::policy

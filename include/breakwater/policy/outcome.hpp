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
  int status = 0;  // when kind == response
};

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

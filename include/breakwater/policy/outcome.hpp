#pragma once
// How one upstream attempt ended, as the breaker, the retry policy and the
// metrics classify it.
#include <array>
#include <cstdint>
#include <string_view>

namespace breakwater::policy {

enum class AttemptKind : std::uint8_t { response, connect_failure, reset, timeout };

struct AttemptOutcome {
  AttemptKind kind = AttemptKind::response;
  int status = 0;  // when kind == response
};

// Metric label values of breakwater_upstream_attempts_total{outcome}.
enum class OutcomeLabel : std::uint8_t { success, failure, connect_failure, reset, timeout, count_ };
inline constexpr std::array<std::string_view, 5> kOutcomeLabels{"success", "failure", "connect_failure",
                                                                 "reset", "timeout"};

}  // namespace breakwater::policy

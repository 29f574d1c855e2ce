#pragma once
#include <array>
#include <cstdint>

#include "breakwater/policy/labels.hpp"

namespace breakwater::policy {

// Values are the breakwater_circuit_state gauge (0 closed, 1 open, 2 half-open);
// names the `to` label of breakwater_circuit_transitions_total and the /routes state.
#define BREAKWATER_BREAKER_STATES(X) X(closed) X(open) X(half_open)
enum class BreakerState : std::uint8_t { BREAKWATER_BREAKER_STATES(BW_LABEL_ENUM) };
inline constexpr std::array kBreakerStateLabels{BREAKWATER_BREAKER_STATES(BW_LABEL_NAME)};

}  // namespace breakwater::policy

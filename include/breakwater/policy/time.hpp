#pragma once
// Time and mode types shared by every policy. Policies never read a clock:
// `now` is always an argument.
#include <chrono>

namespace breakwater::policy {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

// Every policy table has a mode: enforce rejects, shadow only reports.
enum class Mode { enforce, shadow };

}  // namespace breakwater::policy

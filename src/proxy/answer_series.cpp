#include "breakwater/proxy/answer_series.hpp"

#include "breakwater/proxy/route_state.hpp"

namespace breakwater::proxy {
namespace {

using std::chrono::nanoseconds;

// UNIX time minus steady time, read once when the process starts.
const nanoseconds kSteadyToUnix =
    std::chrono::duration_cast<nanoseconds>(std::chrono::system_clock::now().time_since_epoch()) -
    std::chrono::duration_cast<nanoseconds>(policy::Clock::now().time_since_epoch());

}  // namespace

std::int64_t unix_second(policy::TimePoint t) {
  auto unix = std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()) + kSteadyToUnix;
  return std::chrono::floor<std::chrono::seconds>(unix).count();
}

void record_answer(RouteMetrics& m, unsigned worker, int status, std::optional<Reason> reason, policy::TimePoint end,
                   std::size_t latency_bucket) {
  m.series.record(worker, unix_second(end), classify(status, reason), latency_bucket);
}

}  // namespace breakwater::proxy

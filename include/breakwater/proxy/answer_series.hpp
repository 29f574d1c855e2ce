#pragma once
// Where a finished answer goes in its route's /stats series (SPEC §7): its
// outcome class, its second, its latency bucket. Called once per answer, by
// the codec that finished it, where the duration histogram is observed.
#include <cstdint>
#include <optional>

#include "breakwater/policy/time.hpp"
#include "breakwater/proxy/reason.hpp"
#include "breakwater/stats/series.hpp"

namespace breakwater::proxy {

struct RouteMetrics;

// `reason` is set for an answer breakwater made itself (SPEC §4) and unset for
// one from the upstream, forwarded or replayed from the idempotency store.
[[nodiscard]] constexpr stats::OutcomeClass classify(int status, std::optional<Reason> reason) {
  using C = stats::OutcomeClass;
  if (reason)
    return *reason == Reason::upstream_unavailable || *reason == Reason::upstream_timeout ? C::server_error
                                                                                           : C::rejected;
  if (status < 400) return C::success;
  return status < 500 ? C::client_error : C::server_error;
}

// The UNIX second of a steady-clock time point: the wall clock's offset is
// taken once, at start, so /stats seconds never run backwards.
[[nodiscard]] std::int64_t unix_second(policy::TimePoint t);

// One answer, finished at `end`, in `m`'s series on worker `worker`'s ring
// (lock-free, allocation-free); `latency_bucket` as Histogram::observe returned it.
void record_answer(RouteMetrics& m, unsigned worker, int status, std::optional<Reason> reason, policy::TimePoint end,
                   std::size_t latency_bucket);

}  // namespace breakwater::proxy

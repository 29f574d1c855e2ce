#pragma once
// Prometheus text (format 0.0.4), the /routes JSON and the /stats JSON, from
// live state: what the server shows the admin listener through admin::ServerView.
#include <string>

#include "breakwater/proxy/route_state.hpp"
#include "breakwater/proxy/snapshot.hpp"

namespace breakwater::proxy {

std::string render_metrics(const RouteRegistry& registry, const Snapshot& snap);
std::string render_routes(const Snapshot& snap);
// SPEC §7 /stats: the store, and per route its breaker and the 300 seconds up to `now`.
std::string render_stats(const Snapshot& snap, policy::TimePoint now);

}  // namespace breakwater::proxy

#pragma once
// Prometheus text (format 0.0.4) and the /routes JSON, from live state: what the
// server shows the admin listener through admin::ServerView.
#include <string>

#include "breakwater/proxy/route_state.hpp"
#include "breakwater/proxy/snapshot.hpp"

namespace breakwater::proxy {

std::string render_metrics(const RouteRegistry& registry, const Snapshot& snap);
std::string render_routes(const Snapshot& snap);

}  // namespace breakwater::proxy

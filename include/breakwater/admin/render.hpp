#pragma once
// Prometheus text (format 0.0.4) and the /routes JSON, from live state.
#include <string>

#include "breakwater/proxy/route_state.hpp"
#include "breakwater/proxy/snapshot.hpp"

namespace breakwater::admin {

std::string render_metrics(const proxy::RouteRegistry& registry, const proxy::Snapshot& snap);
std::string render_routes(const proxy::Snapshot& snap);

}  // namespace breakwater::admin

#pragma once
// One immutable config version with everything derived from it. Each request
// pins the snapshot it started with; a reload publishes a new one.
#include <memory>
#include <vector>

#include "breakwater/config/model.hpp"
#include "breakwater/config/route_table.hpp"
#include "breakwater/upstream/pool.hpp"
#include "breakwater/log.hpp"
#include "breakwater/policy/rate_limit.hpp"
#include "breakwater/log.hpp"
#include "breakwater/proxy/route_policies.hpp"
#include "breakwater/proxy/route_state.hpp"
#include "breakwater/store/store.hpp"

namespace breakwater::proxy {

struct RouteRuntime {
  const config::RouteConfig* cfg = nullptr;
  std::shared_ptr<RouteMetrics> metrics;
  std::shared_ptr<upstream::UpstreamShared> upstream;
  std::shared_ptr<SharedBreaker> breaker;    // null: no [route.circuit_breaker]
  std::shared_ptr<SharedBulkhead> bulkhead;  // null: no [route.bulkhead]
  std::shared_ptr<SharedBudget> budget;      // null: no [route.retry]
  // Derived once per config version, not per request.
  policy::GcraParams gcra;
  std::string rate_policy_value;  // the RateLimit-Policy header's value
  policy::GcraParams local_gcra;        // on_error = "local": this instance's own bucket (SPEC §6)
  std::string local_rate_policy_value;  // its RateLimit-Policy value (q=LOCAL_RATE)
};

struct Snapshot final {
  explicit Snapshot(config::Config c) : config(std::move(c)), table(config) {}
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  const config::Config config;
  const config::RouteTable table;  // points into `config`
  std::vector<RouteRuntime> routes;  // parallel to config.routes
  std::shared_ptr<AccessLog> access_log;
  std::shared_ptr<RouteMetrics> unmatched;  // route="none"
  std::shared_ptr<store::Store> store;
};

}  // namespace breakwater::proxy

#include "breakwater/proxy/status.hpp"

#include <cstdio>

#include "breakwater/log.hpp"

namespace breakwater::proxy {
namespace {


std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, double v) {
  char num[40];
  std::snprintf(num, sizeof num, "%.17g", v);
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(num).append("\n");
}

std::string route_label(const RouteMetrics& m) { return "route=\"" + label_value(m.name) + "\""; }

std::uint64_t get(const Counter& c) { return c.load(std::memory_order_relaxed); }

using Routes = std::vector<std::shared_ptr<RouteMetrics>>;

// A counter family with one sample per route and label value that is not zero.
// The counters are sized by the label table declared with their enum, so the two cannot drift.
template <std::size_t N>
void labeled_counter(std::string& out, const char* name, const char* help, const Routes& routes,
                     std::array<Counter, N> RouteMetrics::*counters, std::string_view key,
                     const std::array<std::string_view, N>& labels) {
  header(out, name, "counter", help);
  for (auto& m : routes)
    for (std::size_t i = 0; i < N; ++i)
      if (auto v = get(((*m).*counters)[i]))
        sample(out, name, route_label(*m) + "," + std::string(key) + "=\"" + std::string(labels[i]) + "\"",
               static_cast<double>(v));
}

}  // namespace

std::string render_metrics(const RouteRegistry& registry, const Snapshot& snap) {
  auto routes = registry.all_metrics();
  std::string out;
  out.reserve(8192);

  header(out, "breakwater_requests_total", "counter", "Responses sent, by route and status code.");
  for (auto& m : routes)
    for (std::size_t code = 100; code < m->by_status.size(); ++code)
      if (auto v = get(m->by_status[code]))
        sample(out, "breakwater_requests_total", route_label(*m) + ",code=\"" + std::to_string(code) + "\"",
               static_cast<double>(v));

  labeled_counter(out, "breakwater_rejected_total", "Requests rejected by an enforcing policy.", routes,
                  &RouteMetrics::rejected, "reason", kReasonNames);

  labeled_counter(out, "breakwater_shadow_rejections_total", "Requests a shadow-mode policy would have rejected.",
                  routes, &RouteMetrics::shadow, "reason", kReasonNames);

  header(out, "breakwater_request_duration_seconds", "histogram", "Time from request head to response end.");
  for (auto& m : routes) {
    std::uint64_t cumulative = 0;
    auto rl = route_label(*m);
    for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
      cumulative += get(m->duration.buckets[i]);
      char le[32];
      std::snprintf(le, sizeof le, "%g", Histogram::kBounds[i]);
      sample(out, "breakwater_request_duration_seconds_bucket", rl + ",le=\"" + le + "\"",
             static_cast<double>(cumulative));
    }
    cumulative += get(m->duration.buckets.back());
    sample(out, "breakwater_request_duration_seconds_bucket", rl + ",le=\"+Inf\"", static_cast<double>(cumulative));
    sample(out, "breakwater_request_duration_seconds_sum", rl, m->duration.sum.load(std::memory_order_relaxed));
    sample(out, "breakwater_request_duration_seconds_count", rl, static_cast<double>(cumulative));
  }

  labeled_counter(out, "breakwater_upstream_attempts_total", "Upstream attempts by outcome.", routes,
                  &RouteMetrics::attempts, "outcome", policy::kOutcomeLabels);

  header(out, "breakwater_circuit_state", "gauge", "Circuit breaker state: 0 closed, 1 open, 2 half-open.");
  for (auto& rt : snap.routes)
    if (rt.breaker)
      sample(out, "breakwater_circuit_state", route_label(*rt.metrics),
             static_cast<double>(static_cast<int>(rt.breaker->view().state)));

  labeled_counter(out, "breakwater_circuit_transitions_total", "Circuit breaker state changes.", routes,
                  &RouteMetrics::transitions, "to", policy::kBreakerStateLabels);

  header(out, "breakwater_bulkhead_in_use", "gauge", "Requests holding a bulkhead permit.");
  for (auto& rt : snap.routes)
    if (rt.bulkhead)
      sample(out, "breakwater_bulkhead_in_use", route_label(*rt.metrics), rt.bulkhead->view().in_use);

  header(out, "breakwater_retries_total", "counter", "Retries sent upstream.");
  for (auto& m : routes) sample(out, "breakwater_retries_total", route_label(*m), static_cast<double>(get(m->retries)));

  header(out, "breakwater_shadow_retries_total", "counter", "Retries a shadow-mode retry policy would have sent.");
  for (auto& m : routes)
    if (auto v = get(m->shadow_retries)) sample(out, "breakwater_shadow_retries_total", route_label(*m), static_cast<double>(v));

  header(out, "breakwater_retry_budget_exhausted_total", "counter", "Retries refused by the retry budget.");
  for (auto& m : routes)
    sample(out, "breakwater_retry_budget_exhausted_total", route_label(*m),
           static_cast<double>(get(m->budget_exhausted)));

  labeled_counter(out, "breakwater_idempotency_total", "Idempotency-Key outcomes.", routes,
                  &RouteMetrics::idempotency, "outcome", kIdempotencyOutcomeLabels);

  labeled_counter(out, "breakwater_store_fallback_total",
                  "Decisions taken with this instance's memory while the store failed (on_error = \"local\").", routes,
                  &RouteMetrics::fallback, "policy", kFallbackPolicyLabels);

  header(out, "breakwater_store_errors_total", "counter", "Store calls that failed or timed out.");
  sample(out, "breakwater_store_errors_total", "", static_cast<double>(get(registry.global.store_errors)));

  header(out, "breakwater_config_reloads_total", "counter", "Configuration reloads by result.");
  sample(out, "breakwater_config_reloads_total", "result=\"success\"",
         static_cast<double>(get(registry.global.reloads_success)));
  sample(out, "breakwater_config_reloads_total", "result=\"failure\"",
         static_cast<double>(get(registry.global.reloads_failure)));
  return out;
}

std::string render_routes(const Snapshot& snap) {
  std::string out = "{\"routes\":[";
  bool first = true;
  for (auto& rt : snap.routes) {
    if (!first) out.push_back(',');
    first = false;
    auto& c = *rt.cfg;
    out.append("{\"name\":");
    append_json_string(out, c.name);
    out.append(",\"listener\":");
    append_json_string(out, c.listener);
    out.append(",\"upstream\":");
    append_json_string(out, c.upstream);
    out.append(",\"enabled\":").append(c.enabled ? "true" : "false");
    out.append(",\"circuit_breaker\":");
    if (rt.breaker) {
      auto v = rt.breaker->view();
      auto state = policy::label_of(policy::kBreakerStateLabels, v.state);
      char buf[160];
      std::snprintf(buf, sizeof buf, "{\"state\":\"%.*s\",\"failure_rate\":%g,\"slow_call_rate\":%g,\"calls\":%u}",
                    static_cast<int>(state.size()), state.data(), v.failure_rate, v.slow_call_rate, v.calls);
      out.append(buf);
    } else {
      out.append("null");
    }
    out.append(",\"bulkhead\":");
    if (rt.bulkhead) {
      auto v = rt.bulkhead->view();
      out.append("{\"in_use\":").append(std::to_string(v.in_use)).append(",\"queued\":")
          .append(std::to_string(v.queued)).append(",\"max_concurrent\":")
          .append(std::to_string(rt.bulkhead->settings().max_concurrent)).append("}");
    } else {
      out.append("null");
    }
    out.append(",\"retry_budget\":");
    if (rt.budget) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "{\"available\":%g}", rt.budget->available(policy::Clock::now()));
      out.append(buf);
    } else {
      out.append("null");
    }
    out.append("}");
  }
  out.append("]}");
  return out;
}

}  // namespace breakwater::proxy

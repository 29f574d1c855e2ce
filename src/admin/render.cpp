#include "breakwater/admin/render.hpp"

#include <cstdio>

#include "breakwater/log.hpp"

namespace breakwater::admin {
namespace {

using proxy::Counter;

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

std::string route_label(const proxy::RouteMetrics& m) { return "route=\"" + label_value(m.name) + "\""; }

std::uint64_t get(const Counter& c) { return c.load(std::memory_order_relaxed); }

}  // namespace

std::string render_metrics(const proxy::RouteRegistry& registry, const proxy::Snapshot& snap) {
  auto routes = registry.all_metrics();
  std::string out;
  out.reserve(8192);

  header(out, "breakwater_requests_total", "counter", "Responses sent, by route and status code.");
  for (auto& m : routes)
    for (std::size_t code = 100; code < m->by_status.size(); ++code)
      if (auto v = get(m->by_status[code]))
        sample(out, "breakwater_requests_total", route_label(*m) + ",code=\"" + std::to_string(code) + "\"",
               static_cast<double>(v));

  header(out, "breakwater_rejected_total", "counter", "Requests rejected by an enforcing policy.");
  for (auto& m : routes)
    for (std::size_t r = 0; r < proxy::kReasonCount; ++r)
      if (auto v = get(m->rejected[r]))
        sample(out, "breakwater_rejected_total",
               route_label(*m) + ",reason=\"" + std::string(proxy::reason_name(static_cast<proxy::Reason>(r))) + "\"",
               static_cast<double>(v));

  header(out, "breakwater_shadow_rejections_total", "counter",
         "Requests a shadow-mode policy would have rejected.");
  for (auto& m : routes)
    for (std::size_t r = 0; r < proxy::kReasonCount; ++r)
      if (auto v = get(m->shadow[r]))
        sample(out, "breakwater_shadow_rejections_total",
               route_label(*m) + ",reason=\"" + std::string(proxy::reason_name(static_cast<proxy::Reason>(r))) + "\"",
               static_cast<double>(v));

  header(out, "breakwater_request_duration_seconds", "histogram", "Time from request head to response end.");
  for (auto& m : routes) {
    std::uint64_t cumulative = 0;
    auto rl = route_label(*m);
    for (std::size_t i = 0; i < proxy::Histogram::kBounds.size(); ++i) {
      cumulative += get(m->duration.buckets[i]);
      char le[32];
      std::snprintf(le, sizeof le, "%g", proxy::Histogram::kBounds[i]);
      sample(out, "breakwater_request_duration_seconds_bucket", rl + ",le=\"" + le + "\"",
             static_cast<double>(cumulative));
    }
    cumulative += get(m->duration.buckets.back());
    sample(out, "breakwater_request_duration_seconds_bucket", rl + ",le=\"+Inf\"", static_cast<double>(cumulative));
    sample(out, "breakwater_request_duration_seconds_sum", rl, m->duration.sum.load(std::memory_order_relaxed));
    sample(out, "breakwater_request_duration_seconds_count", rl, static_cast<double>(cumulative));
  }

  header(out, "breakwater_upstream_attempts_total", "counter", "Upstream attempts by outcome.");
  for (auto& m : routes)
    for (std::size_t o = 0; o < m->attempts.size(); ++o)
      if (auto v = get(m->attempts[o]))
        sample(out, "breakwater_upstream_attempts_total",
               route_label(*m) + ",outcome=\"" + std::string(policy::kOutcomeLabels[o]) + "\"",
               static_cast<double>(v));

  header(out, "breakwater_circuit_state", "gauge", "Circuit breaker state: 0 closed, 1 open, 2 half-open.");
  for (auto& rt : snap.routes)
    if (rt.breaker)
      sample(out, "breakwater_circuit_state", route_label(*rt.metrics),
             static_cast<double>(static_cast<int>(rt.breaker->view().state)));

  header(out, "breakwater_circuit_transitions_total", "counter", "Circuit breaker state changes.");
  static constexpr const char* kStates[] = {"closed", "open", "half_open"};
  for (auto& m : routes)
    for (std::size_t s = 0; s < 3; ++s)
      if (auto v = get(m->transitions[s]))
        sample(out, "breakwater_circuit_transitions_total", route_label(*m) + ",to=\"" + kStates[s] + "\"",
               static_cast<double>(v));

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

  header(out, "breakwater_idempotency_total", "counter", "Idempotency-Key outcomes.");
  static constexpr const char* kIdem[] = {"stored", "replayed", "in_flight", "reused"};
  for (auto& m : routes)
    for (std::size_t i = 0; i < 4; ++i)
      if (auto v = get(m->idempotency[i]))
        sample(out, "breakwater_idempotency_total", route_label(*m) + ",outcome=\"" + kIdem[i] + "\"",
               static_cast<double>(v));

  header(out, "breakwater_store_errors_total", "counter", "Store calls that failed or timed out.");
  sample(out, "breakwater_store_errors_total", "", static_cast<double>(get(registry.global.store_errors)));

  header(out, "breakwater_config_reloads_total", "counter", "Configuration reloads by result.");
  sample(out, "breakwater_config_reloads_total", "result=\"success\"",
         static_cast<double>(get(registry.global.reloads_success)));
  sample(out, "breakwater_config_reloads_total", "result=\"failure\"",
         static_cast<double>(get(registry.global.reloads_failure)));
  return out;
}

std::string render_routes(const proxy::Snapshot& snap) {
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
      static constexpr const char* kNames[] = {"closed", "open", "half_open"};
      char buf[160];
      std::snprintf(buf, sizeof buf, "{\"state\":\"%s\",\"failure_rate\":%g,\"slow_call_rate\":%g,\"calls\":%u}",
                    kNames[static_cast<int>(v.state)], v.failure_rate, v.slow_call_rate, v.calls);
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

}  // namespace breakwater::admin

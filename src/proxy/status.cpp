#include "breakwater/proxy/status.hpp"

#include "breakwater/http/grpc.hpp"

#include <cstdio>

#include "breakwater/log.hpp"
#include "breakwater/proxy/answer_series.hpp"

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

  labeled_counter(out, "breakwater_grpc_calls_total", "gRPC calls answered, forwarded or generated, by status.",
                  routes, &RouteMetrics::grpc_calls, "status", http::grpc::kStatusNames);

  header(out, "breakwater_http2_goaways_total", "counter", "GOAWAY frames sent to HTTP/2 clients, by reason.");
  static constexpr std::array<std::string_view, 3> kGoaways{"drain", "protocol_error", "enhance_your_calm"};
  for (std::size_t i = 0; i < kGoaways.size(); ++i)
    sample(out, "breakwater_http2_goaways_total", "reason=\"" + std::string(kGoaways[i]) + "\"",
           static_cast<double>(get(registry.global.goaways[i])));

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

namespace {

// The /routes "bulkhead" object (also in /stats): null for a route without one.
void append_bulkhead(std::string& out, const RouteRuntime& rt) {
  if (!rt.bulkhead) {
    out.append("null");
    return;
  }
  auto v = rt.bulkhead->view();
  out.append("{\"in_use\":").append(std::to_string(v.in_use)).append(",\"queued\":")
      .append(std::to_string(v.queued)).append(",\"max_concurrent\":")
      .append(std::to_string(rt.bulkhead->settings().max_concurrent)).append("}");
}

// The /routes "retry_budget" object (also in /stats): null for a route without retries.
void append_budget(std::string& out, const RouteRuntime& rt, policy::TimePoint now) {
  if (!rt.budget) {
    out.append("null");
    return;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "{\"available\":%g}", rt.budget->available(now));
  out.append(buf);
}

// The fields every route object starts with, in /routes and in /stats.
void append_route_head(std::string& out, const RouteRuntime& rt) {
  auto& c = *rt.cfg;
  out.append("{\"name\":");
  append_json_string(out, c.name);
  out.append(",\"listener\":");
  append_json_string(out, c.listener);
  out.append(",\"upstream\":");
  append_json_string(out, c.upstream);
  out.append(",\"enabled\":").append(c.enabled ? "true" : "false");
}

std::string_view backend_name(config::StoreConfig::Backend b) {
  switch (b) {
    case config::StoreConfig::Backend::memory: return "memory";
    case config::StoreConfig::Backend::redis: return "redis";
    case config::StoreConfig::Backend::redis_cluster: return "redis-cluster";
    case config::StoreConfig::Backend::redis_sentinel: return "redis-sentinel";
  }
  return "unknown";
}

// One series array: `value` of each second, comma-separated.
template <class Value>
void append_array(std::string& out, std::string_view name, const std::vector<stats::SecondStats>& w, Value value) {
  out.append("\"").append(name).append("\":[");
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (i) out.push_back(',');
    value(out, i, w[i]);
  }
  out.append("]");
}

void append_series(std::string& out, const std::vector<stats::SecondStats>& w, std::int64_t first) {
  out.append("{");
  append_array(out, "t", w, [&](std::string& o, std::size_t i, const stats::SecondStats&) {
    o.append(std::to_string(first + static_cast<std::int64_t>(i)));
  });
  for (std::size_t c = 0; c < stats::kOutcomeClasses; ++c) {
    out.push_back(',');
    append_array(out, stats::kOutcomeClassLabels[c], w, [&](std::string& o, std::size_t, const stats::SecondStats& s) {
      o.append(std::to_string(s.outcomes[c]));
    });
  }
  out.push_back(',');
  append_array(out, "p99_ms", w, [](std::string& o, std::size_t, const stats::SecondStats& s) {
    auto q = s.answers() ? stats::quantile(s.latency, 0.99) : std::nullopt;
    if (!q) {
      o.append("null");
      return;
    }
    char num[32];
    std::snprintf(num, sizeof num, "%.6g", *q * 1000.0);
    o.append(num);
  });
  out.append("}");
}

// The routes of `snap` as a JSON array of objects: the common head, then `fields`
// (the endpoint's own), then the bulkhead and the budget, then `more`.
template <class Fields, class More>
void append_routes(std::string& out, const Snapshot& snap, policy::TimePoint now, Fields fields, More more) {
  out.append("[");
  bool first = true;
  for (auto& rt : snap.routes) {
    if (!first) out.push_back(',');
    first = false;
    append_route_head(out, rt);
    fields(rt);
    out.append(",\"bulkhead\":");
    append_bulkhead(out, rt);
    out.append(",\"retry_budget\":");
    append_budget(out, rt, now);
    more(rt);
    out.append("}");
  }
  out.append("]");
}

}  // namespace

std::string render_routes(const Snapshot& snap) {
  std::string out = "{\"routes\":";
  append_routes(out, snap, policy::Clock::now(), [&](const RouteRuntime& rt) {
    out.append(",\"circuit_breaker\":");
    if (!rt.breaker) {
      out.append("null");
      return;
    }
    auto v = rt.breaker->view();
    auto state = policy::label_of(policy::kBreakerStateLabels, v.state);
    char buf[160];
    std::snprintf(buf, sizeof buf, "{\"state\":\"%.*s\",\"failure_rate\":%g,\"slow_call_rate\":%g,\"calls\":%u}",
                  static_cast<int>(state.size()), state.data(), v.failure_rate, v.slow_call_rate, v.calls);
    out.append(buf);
  }, [](const RouteRuntime&) {});
  out.append("}");
  return out;
}

std::string render_stats(const Snapshot& snap, policy::TimePoint now) {
  auto now_s = unix_second(now);
  auto first = now_s - static_cast<std::int64_t>(stats::kWindowSeconds) + 1;
  std::string out;
  out.reserve(1024 + snap.routes.size() * 8 * 1024);
  out.append("{\"now\":").append(std::to_string(now_s));
  out.append(",\"store\":{\"backend\":\"").append(backend_name(snap.config.store.backend));
  out.append("\",\"healthy\":").append(snap.store && snap.store->ready() ? "true" : "false").append("}");
  out.append(",\"routes\":");
  append_routes(out, snap, now, [&](const RouteRuntime& rt) {
    out.append(",\"circuit_state\":");
    if (!rt.breaker) {
      out.append("null,\"circuit_since\":null");
      return;
    }
    auto v = rt.breaker->view();
    out.append("\"").append(policy::label_of(policy::kBreakerStateLabels, v.state)).append("\"");
    out.append(",\"circuit_since\":").append(std::to_string(unix_second(v.since)));
  }, [&](const RouteRuntime& rt) {
    // Enforced rejections since start, by reason (breakwater_rejected_total).
    out.append(",\"rejected_total\":{");
    bool first_reason = true;
    for (std::size_t r = 0; r < kReasonCount; ++r) {
      auto n = get(rt.metrics->rejected[r]);
      if (!n) continue;
      if (!first_reason) out.push_back(',');
      first_reason = false;
      out.append("\"").append(kReasonNames[r]).append("\":").append(std::to_string(n));
    }
    out.append("},\"series\":");
    append_series(out, rt.metrics->series.window(now_s), first);
  });
  out.append("}");
  return out;
}

}  // namespace breakwater::proxy

#pragma once
// Per-route state keyed by route name. Metrics live as long as the process;
// policy objects are swapped only when their settings change on reload.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <typeinfo>
#include <string>
#include <vector>

#include "breakwater/policy/breaker_state.hpp"
#include "breakwater/policy/labels.hpp"
#include "breakwater/policy/outcome.hpp"
#include "breakwater/proxy/reason.hpp"
#include "breakwater/stats/series.hpp"

namespace breakwater::proxy {

using Counter = std::atomic<std::uint64_t>;

struct Histogram {
  static constexpr auto kBounds = stats::kLatencyBounds;  // the /stats series buckets latency alike
  std::array<Counter, kBounds.size() + 1> buckets{};  // last: +Inf
  std::atomic<double> sum{0};
  // Returns the bucket it counted `seconds` in.
  std::size_t observe(double seconds) {
    auto i = stats::latency_bucket(seconds);
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    sum.fetch_add(seconds, std::memory_order_relaxed);
    return i;
  }
};

// Label values of breakwater_idempotency_total{outcome}.
#define BREAKWATER_IDEMPOTENCY_OUTCOMES(X) X(stored) X(replayed) X(in_flight) X(reused)
enum class IdempotencyOutcome : std::uint8_t { BREAKWATER_IDEMPOTENCY_OUTCOMES(BW_LABEL_ENUM) };
inline constexpr std::array kIdempotencyOutcomeLabels{BREAKWATER_IDEMPOTENCY_OUTCOMES(BW_LABEL_NAME)};

// Label values of breakwater_store_fallback_total{policy} (on_error = "local").
#define BREAKWATER_FALLBACK_POLICIES(X) X(rate_limit) X(idempotency)
enum class FallbackPolicy : std::uint8_t { BREAKWATER_FALLBACK_POLICIES(BW_LABEL_ENUM) };
inline constexpr std::array kFallbackPolicyLabels{BREAKWATER_FALLBACK_POLICIES(BW_LABEL_NAME)};

struct RouteMetrics {
  RouteMetrics(std::string n, unsigned workers) : name(std::move(n)), series(workers) {}
  std::string name;
  stats::RouteSeries series;  // the last 300 seconds, for /stats
  std::array<Counter, 600> by_status{};
  std::array<Counter, kReasonCount> rejected{};
  std::array<Counter, kReasonCount> shadow{};
  Histogram duration;
  std::array<Counter, policy::kOutcomeLabels.size()> attempts{};
  Counter retries{0};
  Counter budget_exhausted{0};
  std::array<Counter, kIdempotencyOutcomeLabels.size()> idempotency{};
  std::array<Counter, kFallbackPolicyLabels.size()> fallback{};  // decisions taken locally (on_error = "local")
  std::array<Counter, policy::kBreakerStateLabels.size()> transitions{};
  Counter shadow_retries{0};
  std::array<Counter, 17> grpc_calls{};  // by gRPC status code (SPEC §9)

  void count_status(int status) {
    if (status >= 100 && status < 600) by_status[static_cast<std::size_t>(status)].fetch_add(1, std::memory_order_relaxed);
  }
  void count_attempt(policy::OutcomeLabel o) { attempts[static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed); }
};

// Metrics that belong to no route.
struct GlobalMetrics {
  Counter reloads_success{0};
  Counter reloads_failure{0};
  Counter store_errors{0};
  // GOAWAYs sent to HTTP/2 clients, by reason.
  enum class Goaway : std::uint8_t { drain, protocol_error, enhance_your_calm };
  std::array<Counter, 3> goaways{};
  void count_goaway(Goaway g) { goaways[static_cast<std::size_t>(g)].fetch_add(1, std::memory_order_relaxed); }
};

// Name -> state; state outlives the routes that name it so counters never reset.
class RouteRegistry final {
 public:
  // `workers`: event-loop threads, each with its own ring in every route's series.
  explicit RouteRegistry(unsigned workers) : workers_(workers) {}
  std::shared_ptr<RouteMetrics> metrics(const std::string& route) {
    std::lock_guard lock(mu_);
    auto& slot = metrics_[route];
    if (!slot) slot = std::make_shared<RouteMetrics>(route, workers_);
    return slot;
  }
  // A policy object for `route`, reused while its settings compare equal.
  template <class Obj, class Settings, class Make>
  std::shared_ptr<Obj> policy(const std::string& route, const Settings& s, Make&& make) {
    std::lock_guard lock(mu_);
    auto key = route + "\x1f" + typeid(Obj).name();
    auto& slot = policies_[key];
    auto* held = static_cast<Held<Obj, Settings>*>(slot.get());
    if (!held || !(held->settings == s)) {
      auto fresh = std::make_shared<Held<Obj, Settings>>();
      fresh->settings = s;
      fresh->obj = make();
      slot = fresh;
      return fresh->obj;
    }
    return held->obj;
  }
  std::vector<std::shared_ptr<RouteMetrics>> all_metrics() const {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<RouteMetrics>> out;
    for (auto& [k, v] : metrics_) out.push_back(v);
    return out;
  }
  GlobalMetrics global;

 private:
  struct HeldBase {
    virtual ~HeldBase() = default;
  };
  template <class Obj, class Settings>
  struct Held final : HeldBase {
    Settings settings;
    std::shared_ptr<Obj> obj;
  };
  const unsigned workers_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<RouteMetrics>> metrics_;
  std::map<std::string, std::shared_ptr<HeldBase>> policies_;
};

}  // namespace breakwater::proxy

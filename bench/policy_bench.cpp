// Per-request cost of the resilience policies (issue: policies add < 1 µs).
//   build/bench/policy_bench
#include <benchmark/benchmark.h>

#include <mutex>
#include <random>

#include "breakwater/policy/bulkhead.hpp"
#include "breakwater/policy/circuit_breaker.hpp"
#include "breakwater/policy/retry.hpp"
#include "breakwater/policy/retry_budget.hpp"

using namespace breakwater::policy;
using namespace std::chrono_literals;

namespace {

CircuitBreakerSettings breaker_settings(WindowKind w) {
  CircuitBreakerSettings s;
  s.window = w;
  s.window_size = w == WindowKind::count ? 100 : 10;
  return s;
}

void BM_BreakerAcquireRecord(benchmark::State& st) {
  CircuitBreaker cb(breaker_settings(static_cast<WindowKind>(st.range(0))));
  auto now = Clock::now();
  std::uint64_t i = 0;
  for (auto _ : st) {
    now += 1us;
    auto p = cb.try_acquire(now);
    cb.on_result(p, (++i & 31) == 0, 2ms, now);
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_BreakerAcquireRecord)->Arg(0)->Arg(1)->ArgName("time_window");

void BM_BulkheadEnterLeave(benchmark::State& st) {
  Bulkhead b({100, 10, 1s, Mode::enforce});
  std::uint64_t id = 0;
  for (auto _ : st) {
    auto a = b.try_enter(++id);
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b.leave());
  }
}
BENCHMARK(BM_BulkheadEnterLeave);

void BM_RetryDecision(benchmark::State& st) {
  RetrySettings s;
  RetryBudget budget(s.budget_ratio, s.budget_min_rps);
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(0, 1);
  auto now = Clock::now();
  for (auto _ : st) {
    now += 1us;
    budget.on_request(now);
    RetryInput in;
    in.outcome = {AttemptKind::response, 503};
    in.idempotent = true;
    in.time_left = 1s;
    in.u01 = u(rng);
    auto d = decide_retry(s, in);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_RetryDecision);

// Everything one request pays on a route with all policies, with the mutexes
// the proxy takes around the shared objects.
void BM_AllPoliciesPerRequest(benchmark::State& st) {
  CircuitBreaker cb(breaker_settings(WindowKind::count));
  Bulkhead bh({100, 10, 1s, Mode::enforce});
  RetrySettings rs;
  RetryBudget budget(rs.budget_ratio, rs.budget_min_rps);
  std::mutex m_cb, m_bh, m_budget;
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(0, 1);
  std::uint64_t id = 0;
  for (auto _ : st) {
    auto now = Clock::now();
    { std::lock_guard l(m_bh); benchmark::DoNotOptimize(bh.try_enter(++id)); }
    { std::lock_guard l(m_budget); budget.on_request(now); }
    BreakerPermit p;
    { std::lock_guard l(m_cb); p = cb.try_acquire(now); }
    auto end = Clock::now();
    { std::lock_guard l(m_cb); cb.on_result(p, false, end - now, end); }
    RetryInput in;
    in.outcome = {AttemptKind::response, 200};
    in.idempotent = true;
    in.time_left = 1s;
    in.u01 = u(rng);
    benchmark::DoNotOptimize(decide_retry(rs, in));
    { std::lock_guard l(m_bh); benchmark::DoNotOptimize(bh.leave()); }
  }
}
BENCHMARK(BM_AllPoliciesPerRequest);

}  // namespace

BENCHMARK_MAIN();

// The retry budget shared by workers: requests counted without the lock land
// in their own second, exactly.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "breakwater/policy/retry_budget.hpp"
#include "breakwater/proxy/route_policies.hpp"

using namespace breakwater;
using namespace std::chrono_literals;

namespace {
policy::RetrySettings settings(double ratio, double min_rps) {
  policy::RetrySettings s;
  s.budget_ratio = ratio;
  s.budget_min_rps = min_rps;
  return s;
}
const policy::TimePoint t0 = policy::TimePoint{} + 1000h;
}  // namespace

TEST_CASE("shared budget: the same answers as the plain budget, second by second") {
  auto s = settings(0.2, 0);
  proxy::SharedBudget shared(s);
  policy::RetryBudget plain(s.budget_ratio, s.budget_min_rps);
  for (int sec = 0; sec < 25; ++sec) {
    for (int i = 0; i < 10 + sec; ++i) {
      auto now = t0 + std::chrono::seconds(sec) + std::chrono::milliseconds(i * 10);
      shared.on_request(now);
      plain.on_request(now);
    }
    auto now = t0 + std::chrono::seconds(sec) + 999ms;
    CHECK(shared.available(now) == doctest::Approx(plain.available(now)));
    CHECK(shared.try_spend(now) == plain.try_spend(now));
  }
  // requests leave the window when their own second does
  auto later = t0 + 40s;
  CHECK(shared.available(later) == doctest::Approx(plain.available(later)));
}

TEST_CASE("shared budget: a late caller with an older second still counts in it") {
  auto s = settings(1.0, 0);
  proxy::SharedBudget shared(s);
  shared.on_request(t0 + 5s);
  shared.on_request(t0 + 4s);  // read its clock before the other, counted after
  CHECK(shared.available(t0 + 5s) == doctest::Approx(2.0));
  CHECK(shared.available(t0 + 14s) == doctest::Approx(1.0));  // t0+4s has left the 10 s window
  CHECK(shared.available(t0 + 15s) == doctest::Approx(0.0));
}

TEST_CASE("shared budget: every request of every thread is counted") {
  auto s = settings(1.0, 0);
  proxy::SharedBudget shared(s);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) shared.on_request(t0 + std::chrono::milliseconds((i * 4 + t) % 3000));
    });
  for (auto& th : threads) th.join();
  CHECK(shared.available(t0 + 3s) == doctest::Approx(20000.0));
}

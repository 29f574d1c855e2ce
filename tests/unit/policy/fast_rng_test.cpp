// The per-worker random bit generator behind request ids, lock tokens and jitter.
#include <doctest/doctest.h>

#include <bit>
#include <set>

#include "breakwater/policy/fast_rng.hpp"

using breakwater::policy::FastRng;

TEST_CASE("FastRng: one seed, one sequence; another seed, another") {
  FastRng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    auto x = a();
    CHECK(x == b());
    (void)c();
  }
  FastRng d(42), e(43);
  int same = 0;
  for (int i = 0; i < 100; ++i) same += d() == e();
  CHECK(same == 0);
}

TEST_CASE("FastRng: bits are balanced and values do not repeat") {
  FastRng r(7);
  std::set<std::uint64_t> seen;
  long ones = 0;
  constexpr int n = 20000;
  for (int i = 0; i < n; ++i) {
    auto x = r();
    seen.insert(x);
    ones += std::popcount(x);
  }
  CHECK(seen.size() == n);
  double share = static_cast<double>(ones) / (64.0 * n);
  CHECK(share > 0.495);
  CHECK(share < 0.505);
}

TEST_CASE("FastRng: unit() is in [0, 1) and spread over it") {
  FastRng r(9);
  int low = 0;
  for (int i = 0; i < 10000; ++i) {
    double u = r.unit();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    low += u < 0.5;
  }
  CHECK(low > 4700);
  CHECK(low < 5300);
}

TEST_CASE("FastRng: two default-constructed generators differ (seeded from std::random_device)") {
  FastRng a, b;
  CHECK(a() != b());
}

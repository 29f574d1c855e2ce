#include <doctest/doctest.h>

#include "breakwater/policy/rate_limit.hpp"

using namespace breakwater::policy;
using namespace std::chrono_literals;

namespace {
struct Bucket {
  GcraParams p;
  std::int64_t tat = 0;
  GcraOutcome take(std::int64_t now) { return gcra(p, tat, now, tat); }
};
constexpr std::int64_t kSec = 1'000'000;
}  // namespace

TEST_CASE("an idle bucket admits exactly `burst` requests at once") {
  RateLimitSettings s;
  s.rate = 10;
  s.per = 1s;
  s.burst = 5;
  Bucket b{gcra_params(s)};
  auto now = 1000 * kSec;
  for (int i = 0; i < 5; ++i) {
    auto o = b.take(now);
    CHECK(o.allowed);
    CHECK(rate_headers(b.p, o).remaining == 4 - i);
  }
  auto o = b.take(now);
  CHECK_FALSE(o.allowed);
  CHECK(o.retry_after_us == 100'000);  // one token: 1s / 10
  auto h = rate_headers(b.p, o);
  CHECK(h.retry_after_s == 1);
  CHECK(h.remaining == 0);
  CHECK(h.reset_s == 1);  // 500 ms until full, rounded up
}

TEST_CASE("steady rate: one token per interval") {
  RateLimitSettings s;
  s.rate = 2;
  s.per = 1s;
  s.burst = 1;
  Bucket b{gcra_params(s)};
  auto now = 50 * kSec;
  CHECK(b.take(now).allowed);
  CHECK_FALSE(b.take(now + 499'999).allowed);
  CHECK(b.take(now + 500'000).allowed);
  CHECK_FALSE(b.take(now + 600'000).allowed);
  CHECK(b.take(now + 1'000'000).allowed);
  // a refusal spends nothing
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += b.take(now + 1'000'001).allowed;
  CHECK(admitted == 0);
}

TEST_CASE("Retry-After and reset for slow rates; default burst is the rate") {
  RateLimitSettings s;
  s.rate = 3;
  s.per = 1min;
  Bucket b{gcra_params(s)};
  CHECK(b.p.burst == 3);
  auto now = 7 * kSec;
  for (int i = 0; i < 3; ++i) CHECK(b.take(now).allowed);
  auto o = b.take(now);
  CHECK_FALSE(o.allowed);
  auto h = rate_headers(b.p, o);
  CHECK(h.retry_after_s == 20);
  CHECK(h.reset_s == 60);
  CHECK(rate_limit_policy_value(s) == "\"default\";q=3;w=60");
  std::string value;
  append_rate_limit_value(value, h);
  CHECK(value == "\"default\";r=0;t=60");
  o = b.take(now + 30 * kSec);  // one token back (the other is 10 s away)
  CHECK(o.allowed);
  CHECK(rate_headers(b.p, o).remaining == 0);
}

TEST_CASE("w is per in seconds rounded up") {
  RateLimitSettings s;
  s.rate = 5;
  s.per = 1500ms;
  CHECK(rate_limit_policy_value(s) == "\"default\";q=5;w=2");
  s.rate = 100000000;
  CHECK(rate_limit_policy_value(s) == "\"default\";q=100000000;w=2");
}

TEST_CASE("a batch of n decisions equals n decisions in a row at the same instant") {
  // Deterministic pseudo-random parameters: rates, bursts, stored TATs and batch sizes.
  std::uint64_t x = 88172645463325252ull;
  auto next = [&](std::uint64_t mod) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return static_cast<std::int64_t>(x % mod);
  };
  for (int round = 0; round < 2000; ++round) {
    RateLimitSettings s;
    s.rate = static_cast<double>(1 + next(1000));
    s.per = std::chrono::milliseconds(1 + next(5000));
    if (next(2) == 0) s.burst = static_cast<double>(1 + next(50));
    auto p = gcra_params(s);
    std::int64_t now = 10 * kSec + next(kSec);
    std::int64_t stored = next(3) == 0 ? 0 : now - kSec + next(4 * kSec);
    std::int64_t n = 1 + next(40);
    std::int64_t seq_tat = stored, batch_tat = 0;
    auto b = gcra_batch(p, stored, now, n, batch_tat);
    for (std::int64_t i = 0; i < n; ++i) {
      auto want = gcra(p, seq_tat, now, seq_tat);
      auto got = b.outcome(i);
      CAPTURE(round);
      CAPTURE(i);
      REQUIRE(got.allowed == want.allowed);
      REQUIRE(got.tat_after_us == want.tat_after_us);
      if (!want.allowed) REQUIRE(got.retry_after_us == want.retry_after_us);
    }
    CHECK(batch_tat == seq_tat);
  }
}

TEST_CASE("local_settings: local_rate, burst scaled by local_rate / rate, rounded up, at least 1 (SPEC §6)") {
  breakwater::policy::RateLimitSettings s;
  s.rate = 100;
  s.burst = 50;
  CHECK(breakwater::policy::local_settings(s) == s);  // no local_rate: the limit as it is
  s.local_rate = 10;
  auto l = breakwater::policy::local_settings(s);
  CHECK(l.rate == 10);
  CHECK(*l.burst == 5);
  s.local_rate = 3;  // 50 * 3 / 100 = 1.5 -> 2
  CHECK(*breakwater::policy::local_settings(s).burst == 2);
  s.local_rate = 0.5;  // 0.25 -> at least 1
  CHECK(*breakwater::policy::local_settings(s).burst == 1);
  s.burst.reset();  // burst defaults to rate: 100 * 0.5 / 100 = 0.5 -> 1
  CHECK(*breakwater::policy::local_settings(s).burst == 1);
  CHECK(breakwater::policy::rate_limit_policy_value(breakwater::policy::local_settings(s)) == "\"default\";q=0.5;w=1");
}

TEST_CASE("the RateLimit value, appended to what is there") {
  std::string v = "x";
  RateHeaders h;
  h.remaining = 0;
  h.reset_s = 0;
  append_rate_limit_value(v, h);
  CHECK(v == "x\"default\";r=0;t=0");
  v.clear();
  h.remaining = 9876543210LL;
  h.reset_s = 10;
  append_rate_limit_value(v, h);
  CHECK(v == "\"default\";r=9876543210;t=10");
}

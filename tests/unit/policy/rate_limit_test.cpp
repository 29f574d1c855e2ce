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
  std::string lines = rate_limit_policy_line(s);
  append_rate_limit_line(lines, h);
  CHECK(lines == "RateLimit-Policy: \"default\";q=3;w=60\r\nRateLimit: \"default\";r=0;t=60\r\n");
  o = b.take(now + 30 * kSec);  // one token back (the other is 10 s away)
  CHECK(o.allowed);
  CHECK(rate_headers(b.p, o).remaining == 0);
}

TEST_CASE("w is per in seconds rounded up") {
  RateLimitSettings s;
  s.rate = 5;
  s.per = 1500ms;
  CHECK(rate_limit_policy_line(s) == "RateLimit-Policy: \"default\";q=5;w=2\r\n");
  s.rate = 100000000;
  CHECK(rate_limit_policy_line(s) == "RateLimit-Policy: \"default\";q=100000000;w=2\r\n");
}

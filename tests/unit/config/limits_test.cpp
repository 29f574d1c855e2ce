// Config values whose derived arithmetic would overflow or round to nothing are
// errors at the key (SPEC §1: FILE:LINE:COL), for --check-config, start-up and
// reload alike (all three go through load_file -> load_string).
#include <doctest/doctest.h>

#include <string>

#include "breakwater/config/load.hpp"
#include "breakwater/policy/rate_limit.hpp"

using namespace breakwater::config;
using namespace std::chrono_literals;

namespace {

const char* kMinimal = R"([[listener]]
name = "in"
bind = "127.0.0.1:15000"

[upstream.app]
endpoints = ["127.0.0.1:8080"]

[[route]]
name = "r"
listener = "in"
upstream = "app"
)";

std::string only_error(const std::string& tail) {
  auto r = load_string(std::string(kMinimal) + tail, "t.toml");
  REQUIRE(r.errors.size() == 1);
  return r.errors[0];
}

bool loads(const std::string& tail) {
  auto r = load_string(std::string(kMinimal) + tail, "t.toml");
  for (auto& e : r.errors) MESSAGE(e);
  return r.ok();
}

}  // namespace

TEST_CASE("a rate whose interval overflows the limiter is an error at 'rate'") {
  CHECK(only_error("[route.rate_limit]\nrate = 1e-9\nper = \"24h\"\n") ==
        "t.toml:13:8: 'rate' is too low for 'per': one request every 8.64e+19us is beyond the rate limiter's "
        "range (1e+15us, about 31 years)");
}

TEST_CASE("the limiter's bounds, exactly") {
  // One request per 1e15us (31.7 years) with a bucket of one: the largest in range.
  CHECK(loads("[route.rate_limit]\nrate = 1e-9\nburst = 1\n"));
  CHECK(only_error("[route.rate_limit]\nrate = 1e-9\nper = \"2s\"\nburst = 1\n") ==
        "t.toml:13:8: 'rate' is too low for 'per': one request every 2e+15us is beyond the rate limiter's "
        "range (1e+15us, about 31 years)");
  // One request per microsecond: the smallest interval in range.
  CHECK(loads("[route.rate_limit]\nrate = 1000000\n"));
  CHECK(only_error("[route.rate_limit]\nrate = 2000000\nper = \"1s\"\n") ==
        "t.toml:13:8: 'rate' is more than one request per microsecond of 'per' (one every 0.5us); the rate "
        "limiter counts whole microseconds: lower 'rate' or lengthen 'per'");
  CHECK(only_error("[route.rate_limit]\nrate = 1\nper = \"500ns\"\n") ==
        "t.toml:14:7: 'per' must be at least 1us: the rate limiter counts whole microseconds");
}

TEST_CASE("a bucket of less than one request, or too long a bucket") {
  CHECK(only_error("[route.rate_limit]\nrate = 0.5\n") ==
        "t.toml:13:8: 'rate' below 1 needs a 'burst' of at least 1: burst defaults to rate, and a bucket "
        "smaller than one request admits nothing");
  CHECK(loads("[route.rate_limit]\nrate = 0.5\nburst = 1\n"));
  CHECK(only_error("[route.rate_limit]\nrate = 1\nper = \"24h\"\nburst = 1e9\n") ==
        "t.toml:15:9: 'burst' makes the bucket (burst * per / rate) 8.64e+19us long, beyond the rate limiter's "
        "range (1e+15us, about 31 years)");
  // With the default burst the bucket is `per` long, in range; a larger burst can leave it.
  CHECK(loads("[route.rate_limit]\nrate = 1\nper = \"200000h\"\n"));
  CHECK(only_error("[route.rate_limit]\nrate = 1\nper = \"200000h\"\nburst = 2\n") ==
        "t.toml:15:9: 'burst' makes the bucket (burst * per / rate) 1.44e+15us long, beyond the rate limiter's "
        "range (1e+15us, about 31 years)");
}

TEST_CASE("what is accepted runs in range: no interval rounds to 0, no bucket overflows") {
  auto r = load_string(std::string(kMinimal) + "[route.rate_limit]\nrate = 3\nper = \"1m\"\n", "t.toml");
  REQUIRE(r.ok());
  auto p = breakwater::policy::gcra_params(*r.config.routes[0].rate_limit);
  CHECK(breakwater::policy::gcra_interval_us(p) == 20'000'000);
  CHECK(breakwater::policy::gcra_tolerance_us(p) == 60'000'000);
}

TEST_CASE("durations and sizes beyond their range say so, at the value") {
  CHECK(only_error("timeout = \"300000000h\"\n") ==
        "t.toml:12:11: 'timeout' must be at most 1e18ns (about 31 years, \"277777h\")");
  CHECK(only_error("[route.idempotency]\nttl = \"99999999999999999999s\"\n") ==
        "t.toml:13:7: 'ttl' must be at most 1e18ns (about 31 years, \"277777h\")");
  CHECK(loads("timeout = \"277777h\"\n"));
  CHECK(only_error("\n[[listener]]\nname = \"x\"\nbind = \"127.0.0.1:1\"\nmax_body = \"2000000GB\"\n") ==
        "t.toml:16:12: 'max_body' must be at most 1e15 bytes (\"1000000GB\")");
  CHECK(only_error("[route.idempotency]\nmax_response = \"1e3KiB\"\n") ==
        "t.toml:13:16: 'max_response' must be a size string with a unit, like \"64KiB\" or \"1MiB\"");
}

TEST_CASE("RateLimit-Policy w is per rounded up to whole seconds, never 0") {
  breakwater::policy::RateLimitSettings s;
  s.rate = 1;
  s.per = 500us;
  CHECK(rate_limit_policy_value(s) == "\"default\";q=1;w=1");
  s.per = 1000ms;
  CHECK(rate_limit_policy_value(s) == "\"default\";q=1;w=1");
  s.per = 1001ms;
  CHECK(rate_limit_policy_value(s) == "\"default\";q=1;w=2");
}

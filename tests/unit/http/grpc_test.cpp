#include <doctest/doctest.h>

#include "breakwater/http/grpc.hpp"
#include "breakwater/policy/circuit_breaker.hpp"
#include "breakwater/policy/retry.hpp"

using namespace breakwater;
using namespace std::chrono_literals;
namespace grpc = breakwater::http::grpc;

TEST_CASE("gRPC calls are recognised by content-type (SPEC §9)") {
  CHECK(grpc::is_grpc_content_type("application/grpc"));
  CHECK(grpc::is_grpc_content_type("application/grpc+proto"));
  CHECK(grpc::is_grpc_content_type("application/grpc;charset=utf-8"));
  CHECK(grpc::is_grpc_content_type("Application/GRPC"));
  CHECK_FALSE(grpc::is_grpc_content_type("application/grpc-web"));
  CHECK_FALSE(grpc::is_grpc_content_type("application/grpcx"));
  CHECK_FALSE(grpc::is_grpc_content_type("application/json"));
  CHECK_FALSE(grpc::is_grpc_content_type(""));
}

TEST_CASE("gRPC status names are Envoy's, by code") {
  CHECK(grpc::status_from_name("ok") == 0);
  CHECK(grpc::status_from_name("resource-exhausted") == 8);
  CHECK(grpc::status_from_name("unauthenticated") == 16);
  CHECK_FALSE(grpc::status_from_name("UNAVAILABLE"));
  CHECK_FALSE(grpc::status_from_name("resource_exhausted"));
  CHECK(grpc::kStatusNames[14] == "unavailable");
  CHECK(grpc::parse_status("14") == 14);
  CHECK(grpc::parse_status("99") == 2);  // beyond the table: unknown
  CHECK_FALSE(grpc::parse_status(""));
  CHECK_FALSE(grpc::parse_status("1x"));
  CHECK_FALSE(grpc::parse_status("-1"));
}

TEST_CASE("grpc-timeout: up to 8 digits and a unit") {
  CHECK(grpc::parse_timeout("250m") == 250ms);
  CHECK(grpc::parse_timeout("1S") == 1s);
  CHECK(grpc::parse_timeout("2M") == 2min);
  CHECK(grpc::parse_timeout("1H") == 1h);
  CHECK(grpc::parse_timeout("5u") == 5us);
  CHECK(grpc::parse_timeout("7n") == 7ns);
  CHECK(grpc::parse_timeout("99999999m") == 99999999ms);
  CHECK_FALSE(grpc::parse_timeout("123456789m"));  // 9 digits
  CHECK_FALSE(grpc::parse_timeout("m"));
  CHECK_FALSE(grpc::parse_timeout("10"));
  CHECK_FALSE(grpc::parse_timeout("10s"));  // lower-case s is not a unit
  CHECK_FALSE(grpc::parse_timeout("1.5S"));
  CHECK_FALSE(grpc::parse_timeout("-5m"));
  CHECK_FALSE(grpc::parse_timeout(""));
  // The time left goes out in the finest unit that fits, never rounded down.
  CHECK(grpc::format_timeout(250ms) == "250000u");  // 250000000n would be 9 digits
  CHECK(grpc::format_timeout(1500ms) == "1500000u");
  CHECK(grpc::format_timeout(std::chrono::nanoseconds(1500)) == "1500n");
  CHECK(grpc::format_timeout(std::chrono::nanoseconds(0)) == "1n");
  for (std::chrono::nanoseconds d : {std::chrono::nanoseconds(7), std::chrono::nanoseconds(1ms), std::chrono::nanoseconds(250ms),
                                     std::chrono::nanoseconds(3s), std::chrono::nanoseconds(7200s),
                                     std::chrono::nanoseconds(5000h)}) {
    auto back = grpc::parse_timeout(grpc::format_timeout(d));
    REQUIRE(back);
    CHECK(*back >= d);
    CHECK(grpc::format_timeout(d).size() <= 9);
  }
}

TEST_CASE("grpc-retry-pushback-ms and grpc-message") {
  CHECK(grpc::parse_pushback("250") == 250ms);
  CHECK(grpc::parse_pushback("0") == 0ms);
  CHECK_FALSE(grpc::parse_pushback("-1"));
  CHECK_FALSE(grpc::parse_pushback("abc"));
  CHECK_FALSE(grpc::parse_pushback(""));
  CHECK(grpc::percent_encode("rate limit: 100%") == "rate limit: 100%25");
  CHECK(grpc::percent_encode("caf\xc3\xa9\n") == "caf%C3%A9%0A");
}

TEST_CASE("gRPC statuses that store an idempotent answer (SPEC §9)") {
  for (int s : {0, 3, 5, 6, 7, 9, 11, 12, 16}) CHECK(grpc::is_storable_status(s));
  for (int s : {1, 2, 4, 8, 10, 13, 14, 15}) CHECK_FALSE(grpc::is_storable_status(s));
}

TEST_CASE("a gRPC status in retry_on makes the call retryable whatever the method") {
  using namespace policy;
  RetrySettings s;
  s.max_attempts = 3;
  s.retry_on = {};
  s.retry_on.grpc_statuses = grpc_bit(14) | grpc_bit(8);
  RetryInput in;
  in.time_left = 10s;
  in.u01 = 1.0;
  in.idempotent = false;  // a POST, as every gRPC call is
  in.outcome = {AttemptKind::response, 200, 14};
  CHECK(decide_retry(s, in).verdict == RetryVerdict::budget_needed);
  in.outcome = {AttemptKind::response, 200, 13};
  CHECK(decide_retry(s, in).verdict == RetryVerdict::outcome_not_retryable);
  in.outcome = {AttemptKind::response, 200, 0};
  CHECK(decide_retry(s, in).verdict == RetryVerdict::outcome_not_retryable);
  // The request stream must have ended within 64 KiB.
  in.outcome = {AttemptKind::response, 200, 8};
  in.body_replayable = false;
  CHECK(decide_retry(s, in).verdict == RetryVerdict::body_not_replayable);
  in.body_replayable = true;
  // grpc-retry-pushback-ms replaces the backoff; a malformed or negative one forbids the retry.
  in.pushback = 300ms;
  auto d = decide_retry(s, in);
  CHECK(d.verdict == RetryVerdict::budget_needed);
  CHECK(d.delay == 300ms);
  in.pushback.reset();
  in.pushback_refused = true;
  CHECK(decide_retry(s, in).verdict == RetryVerdict::pushback_refused);
  // An HTTP status other than 200 is an HTTP outcome: the gRPC list does not apply.
  in.pushback_refused = false;
  in.outcome = {AttemptKind::response, 503, 14};
  CHECK(decide_retry(s, in).verdict == RetryVerdict::outcome_not_retryable);
}

TEST_CASE("the breaker counts a gRPC status in failure_grpc_statuses as a failure") {
  using namespace policy;
  CircuitBreakerSettings s;
  CircuitBreaker cb(s);
  CHECK(cb.is_failure({AttemptKind::response, 200, 14}));   // unavailable
  CHECK(cb.is_failure({AttemptKind::response, 200, 2}));    // unknown
  CHECK_FALSE(cb.is_failure({AttemptKind::response, 200, 0}));
  CHECK_FALSE(cb.is_failure({AttemptKind::response, 200, 5}));  // not-found: the service answered
  CHECK_FALSE(cb.is_failure({AttemptKind::response, 200, -1}));  // not a gRPC call
  CHECK(cb.is_failure({AttemptKind::response, 503, -1}));
  CHECK(cb.is_failure({AttemptKind::reset, 0, -1}));
  s.failure_grpc_statuses = grpc_bit(5);
  CircuitBreaker narrow(s);
  CHECK(narrow.is_failure({AttemptKind::response, 200, 5}));
  CHECK_FALSE(narrow.is_failure({AttemptKind::response, 200, 14}));
}

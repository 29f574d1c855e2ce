// Which /stats outcome class an answer falls in (SPEC §7).
#include <doctest/doctest.h>

#include "breakwater/proxy/answer_series.hpp"

using namespace breakwater::proxy;
using breakwater::stats::OutcomeClass;

TEST_CASE("answer class: forwarded and replayed answers by status") {
  CHECK(classify(101, std::nullopt) == OutcomeClass::success);
  CHECK(classify(200, std::nullopt) == OutcomeClass::success);
  CHECK(classify(304, std::nullopt) == OutcomeClass::success);
  CHECK(classify(399, std::nullopt) == OutcomeClass::success);
  CHECK(classify(400, std::nullopt) == OutcomeClass::client_error);
  CHECK(classify(429, std::nullopt) == OutcomeClass::client_error);  // the upstream's own 429
  CHECK(classify(499, std::nullopt) == OutcomeClass::client_error);
  CHECK(classify(500, std::nullopt) == OutcomeClass::server_error);
  CHECK(classify(503, std::nullopt) == OutcomeClass::server_error);
}

TEST_CASE("answer class: breakwater's own answers are rejections, but for upstream_*") {
  CHECK(classify(502, Reason::upstream_unavailable) == OutcomeClass::server_error);
  CHECK(classify(504, Reason::upstream_timeout) == OutcomeClass::server_error);
  for (auto r : {Reason::route_not_found, Reason::route_disabled, Reason::rate_limited,
                 Reason::idempotency_in_flight, Reason::idempotency_key_reused, Reason::idempotency_key_missing,
                 Reason::bulkhead_full, Reason::circuit_open, Reason::request_too_large, Reason::bad_request,
                 Reason::method_not_allowed, Reason::store_unavailable, Reason::header_too_large})
    CHECK(classify(reason_status(r), r) == OutcomeClass::rejected);
  static_assert(classify(503, Reason::circuit_open) == OutcomeClass::rejected);
}

#include <doctest/doctest.h>

#include "breakwater/policy/idempotency.hpp"

using namespace breakwater::policy;

TEST_CASE("Idempotency-Key syntax") {
  CHECK(parse_idempotency_key("abc") == std::optional<std::string_view>("abc"));
  CHECK(parse_idempotency_key("\"abc\"") == std::optional<std::string_view>("abc"));
  CHECK(parse_idempotency_key(std::string(255, 'k')).has_value());
  CHECK_FALSE(parse_idempotency_key(std::string(256, 'k')));
  CHECK_FALSE(parse_idempotency_key(""));
  CHECK_FALSE(parse_idempotency_key("\"\""));
  CHECK_FALSE(parse_idempotency_key("a b"));
  CHECK_FALSE(parse_idempotency_key("a\tb"));
  CHECK_FALSE(parse_idempotency_key("caf\xc3\xa9"));
  CHECK_FALSE(parse_idempotency_key("\"a\\\"b\""));
  CHECK(parse_idempotency_key("\"a").has_value());  // not an sf-string: a bare key with a quote
}

TEST_CASE("cacheable statuses") {
  for (int s : {200, 201, 204, 299, 400, 404, 422, 451}) CHECK(is_cacheable_status(s));
  for (int s : {100, 301, 304, 408, 409, 425, 429, 500, 502, 503}) CHECK_FALSE(is_cacheable_status(s));
}

TEST_CASE("fingerprint inputs differ whenever a part differs") {
  CHECK(fingerprint_input("POST", "/a", "b") != fingerprint_input("POST", "/ab", ""));
  CHECK(fingerprint_input("POST", "/a?x=1", "") != fingerprint_input("POST", "/a?x=2", ""));
  CHECK(fingerprint_input("POST", "/a", "") != fingerprint_input("PATCH", "/a", ""));
  CHECK(fingerprint_input("POST", "/a", "body") == fingerprint_input("POST", "/a", "body"));
}

TEST_CASE("stored responses round-trip, bodies are binary-safe") {
  StoredResponse r{201, {{"Content-Type", "application/json"}, {"X-A", " spaced: value "}}, std::string("a\n\nb\0c", 6)};
  auto d = decode(encode(r));
  REQUIRE(d);
  CHECK(*d == r);
  CHECK_FALSE(decode("20\n\n"));
  CHECK_FALSE(decode("012\nc:app b\n\n"));  // found by fuzz_idempotency_key: not a status
  CHECK_FALSE(decode("200\nbroken"));
  CHECK(decode("204\n\n")->body.empty());
}

TEST_CASE("a stored gRPC answer keeps its trailers; records without trailers read as before") {
  StoredResponse r{200, {{"content-type", "application/grpc"}}, std::string("\0\0\0\0\x02ok", 7),
                   {{"grpc-status", "5"}, {"grpc-message", "not found"}}};
  auto back = decode(encode(r));
  REQUIRE(back);
  CHECK(*back == r);
  StoredResponse plain{201, {{"x-a", "1"}}, "body", {}};
  auto p = decode(encode(plain));
  REQUIRE(p);
  CHECK(*p == plain);
  CHECK(p->trailers.empty());
  CHECK_FALSE(decode("200\n\x01:v\n\nbody"));  // a trailer without a name
}

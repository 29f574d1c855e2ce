// The head sent upstream (SPEC §5): X-Request-Id survives a Connection that names it.
#include <doctest/doctest.h>

#include <string>

#include "breakwater/http/forward.hpp"
#include "breakwater/http/h1/parser.hpp"

using namespace breakwater::http;
using namespace breakwater::http::h1;

TEST_CASE("X-Request-Id is sent once, the client's, also when Connection names it") {
  const std::string text =
      "GET /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Request-Id\r\nX-Request-Id: client-id-7\r\n\r\n";
  RequestHead h;
  REQUIRE(parse_request_head(text, h) == WireError::none);
  UpstreamRequest up;
  up.method = "GET";
  up.path_query = "/x";
  up.host = "a";
  up.client_ip = "1.2.3.4";
  up.proto = "http";
  up.request_id = h.header("x-request-id");  // what the session keeps and logs
  std::string out;
  build_upstream_head(h, up, out);
  CHECK(out ==
        "GET /x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: http\r\n"
        "X-Request-Id: client-id-7\r\n\r\n");

  // Without Connection naming it: still exactly one line.
  const std::string plain = "GET /x HTTP/1.1\r\nHost: a\r\nx-request-id: client-id-8\r\n\r\n";
  REQUIRE(parse_request_head(plain, h) == WireError::none);
  up.request_id = h.header("x-request-id");
  out.clear();
  build_upstream_head(h, up, out);
  CHECK(out.find("client-id-8") == out.rfind("client-id-8"));
  CHECK(out.find("X-Request-Id: client-id-8\r\n") != std::string::npos);
}

TEST_CASE("client framing follows the response, the request and the client's version") {
  using F = ClientResponse::Framing;
  static std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  static std::string length = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  static std::string closed = "HTTP/1.1 200 OK\r\n\r\n";
  ResponseHead r;
  REQUIRE(parse_response_head(chunked, false, r) == WireError::none);
  CHECK(client_framing(r, false, false, std::nullopt, true).framing == F::chunked);
  auto old = client_framing(r, true, false, std::nullopt, true);
  CHECK(old.framing == F::until_close);
  CHECK_FALSE(old.keep_alive);
  auto stored = client_framing(r, false, false, std::uint64_t{42}, true);
  CHECK(stored.framing == F::length);
  CHECK(stored.length == 42);
  REQUIRE(parse_response_head(chunked, true, r) == WireError::none);
  CHECK(client_framing(r, false, true, std::nullopt, true).framing == F::chunked);  // HEAD: what a GET would say
  REQUIRE(parse_response_head(length, true, r) == WireError::none);
  auto head = client_framing(r, false, true, std::nullopt, true);
  CHECK(head.framing == F::length);
  CHECK(head.length == 5);
  REQUIRE(parse_response_head(closed, true, r) == WireError::none);
  CHECK(client_framing(r, false, true, std::nullopt, true).framing == F::until_close);  // no invented length
  REQUIRE(parse_response_head(closed, false, r) == WireError::none);
  CHECK(client_framing(r, false, false, std::nullopt, true).framing == F::chunked);
}

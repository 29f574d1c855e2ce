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

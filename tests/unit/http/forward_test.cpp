// The head sent upstream (SPEC §5): X-Request-Id survives a Connection that names it.
#include <doctest/doctest.h>

#include <string>

#include "breakwater/http/forward.hpp"
#include "breakwater/http/h1/head_writer.hpp"
#include "breakwater/http/h1/parser.hpp"
#include "breakwater/http/text.hpp"

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

TEST_CASE("HTTP/2 upstream fields: the same forwarding rules, lower-case names, no Host") {
  const std::string text =
      "POST /x?y=1 HTTP/1.1\r\nHost: orders:8080\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
      "Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: x\r\n"
      "X-Forwarded-For: 9.9.9.9\r\nX-Forwarded-Proto: https\r\nCookie: a=1; b=2\r\nX-Custom: Value\r\n"
      "Content-Length: 3\r\nExpect: 100-continue\r\n\r\n";
  RequestHead h;
  REQUIRE(parse_request_head(text, h) == WireError::none);
  UpstreamRequest up;
  up.method = "POST";
  up.path_query = "/x?y=1";
  up.host = "orders:8080";
  up.client_ip = "1.2.3.4";
  up.proto = "http";
  up.request_id = "rid";
  up.framing = UpstreamRequest::Framing::length;
  up.length = 3;
  Fields f;
  build_upstream_fields(h, up, f);
  std::string got;
  for (auto x : f) got.append(x.name).append(": ").append(x.value).append("\n");
  CHECK(got ==
        "cookie: a=1; b=2\nx-custom: Value\nx-forwarded-for: 9.9.9.9, 1.2.3.4\nx-forwarded-proto: http\n"
        "x-request-id: rid\nte: trailers\ncontent-length: 3\n");

  // TE without trailers is not sent; a body-less POST says content-length: 0.
  const std::string text2 = "POST / HTTP/1.1\r\nHost: a\r\nTE: gzip\r\n\r\n";
  RequestHead h2;
  REQUIRE(parse_request_head(text2, h2) == WireError::none);
  up.framing = UpstreamRequest::Framing::none;
  up.request_id = {};
  Fields f2;
  build_upstream_fields(h2, up, f2);
  got.clear();
  for (auto x : f2) got.append(x.name).append(": ").append(x.value).append("\n");
  CHECK(got == "x-forwarded-for: 1.2.3.4\nx-forwarded-proto: http\ncontent-length: 0\n");
}

TEST_CASE("iequals_to is ASCII case-insensitive equality, byte for byte elsewhere") {
  CHECK(iequals_to<"content-length">("Content-Length"));
  CHECK(iequals_to<"content-length">("CONTENT-LENGTH"));
  CHECK_FALSE(iequals_to<"content-length">("Content\rLength"));  // '\r' | 0x20 == '-'
  CHECK_FALSE(iequals_to<"content-length">("Content-Lengt"));
  CHECK_FALSE(iequals_to<"content-length">("Content-Length "));
  CHECK(iequals_to<"te">("tE"));
  CHECK(iequals_to<"x-forwarded-proto">("X-FORWARDED-PROTO"));
  CHECK_FALSE(iequals_to<"x-forwarded-proto">("X-FORWARDED-PROTo1"));
  for (int c = 0; c < 256; ++c) {
    char b[1] = {static_cast<char>(c)};
    std::string_view s(b, 1);
    CHECK(iequals_to<"k">(s) == iequals(s, "k"));
    CHECK(iequals_to<"-">(s) == iequals(s, "-"));
  }
}

TEST_CASE("the head writer sized once grows when it falls short, and keeps what was there") {
  std::string out = "prefix|";
  {
    h1::HeadWriter w(out, 4);  // far too little room
    w.status_line(1, 200, "OK").field("A", "b").field("Long", std::string(500, 'x')).field("N", std::uint64_t{42});
    w.end();
  }
  CHECK(out == "prefix|HTTP/1.1 200 OK\r\nA: b\r\nLong: " + std::string(500, 'x') + "\r\nN: 42\r\n\r\n");
  std::string plain;
  h1::HeadWriter w(plain);
  w.request_line("GET", "?q").field_list("X-Forwarded-For", "", "1.2.3.4").field_list("V", "a", "b");
  plain += "|";  // call by call: the caller may write in between
  w.status_line(0, 7).connection(true, 0).end();
  CHECK(plain == "GET /?q HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\nV: a, b\r\n|HTTP/1.0 7 Unknown\r\n"
                 "Connection: keep-alive\r\n\r\n");
}

TEST_CASE("a response's Connection names fields to drop; keep-alive alone names none") {
  static std::string text =
      "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nClose: 2\r\nKeep-Alive: t=5\r\nDate: d\r\n"
      "Set-Cookie: c\r\nX-Keep: 3\r\nContent-Length: 9\r\n\r\n";
  ResponseHead r;
  REQUIRE(parse_response_head(text, false, r) == WireError::none);
  ClientResponse c;
  c.framing = ClientResponse::Framing::length;
  c.length = 9;
  std::string out;
  build_client_head(r, c, out);
  CHECK(out == "HTTP/1.1 200 OK\r\nDate: d\r\nSet-Cookie: c\r\nX-Keep: 3\r\nContent-Length: 9\r\n\r\n");
  out.clear();
  build_client_head(r, c, out, true);
  CHECK(out == "HTTP/1.1 200 OK\r\nX-Keep: 3\r\nContent-Length: 9\r\n\r\n");
  CHECK(is_hop_by_hop("Proxy-Authorization", ""));
  CHECK(is_hop_by_hop("x-a", "b, X-A"));
  CHECK_FALSE(is_hop_by_hop("x-a", "keep-alive"));
}

#include <doctest/doctest.h>

#include <string>

#include "breakwater/http/h2/request_fields.hpp"

using namespace breakwater::http;

TEST_CASE("an HTTP/2 header block becomes the head the pipeline reads (SPEC §9)") {
  h2::RequestFields f;
  f.add(":method", "POST", false);
  f.add(":scheme", "http", false);
  f.add(":authority", "orders:8080", false);
  f.add(":path", "/orders?x=1", false);
  f.add("cookie", "a=1", false);
  f.add("x-b", "2", false);
  f.add("cookie", "c=3", false);
  f.add("host", "ignored", false);  // :authority wins
  f.add("content-length", "12", false);
  f.add("x-late", "no", true);  // a trailer: not forwarded
  RequestHead h;
  f.fill(h, false);
  CHECK(h.method == "POST");
  CHECK(h.target == "/orders?x=1");
  CHECK(h.host == "orders:8080");
  CHECK(h.header("cookie") == "a=1; c=3");  // crumbs joined for HTTP/1.1 (RFC 9113 §8.2.3)
  CHECK(h.header("x-b") == "2");
  CHECK(h.header("x-late").empty());
  CHECK(h.find("host") == nullptr);
  CHECK(h.body == BodyKind::length);
  CHECK(h.content_length == 12);
  CHECK_FALSE(f.too_large());
}

TEST_CASE("HTTP/2 bodies: none at END_STREAM, unknown length reads as chunked; Host stands in for :authority") {
  h2::RequestFields f;
  f.add(":method", "GET", false);
  f.add(":path", "/", false);
  f.add("host", "a.example", false);
  RequestHead h;
  f.fill(h, true);
  CHECK(h.body == BodyKind::none);
  CHECK(h.host == "a.example");
  h2::RequestFields g;
  g.add(":method", "PUT", false);
  g.add(":path", "/up", false);
  RequestHead u;
  g.fill(u, false);
  CHECK(u.body == BodyKind::chunked);
}

TEST_CASE("a header block over 64 KiB is too large, counted as RFC 9113 §6.5.2 does") {
  h2::RequestFields f;
  std::string v(4000, 'v');
  std::size_t bytes = 0;
  int i = 0;
  while (bytes + 8 + v.size() + 32 <= h2::kMaxHeaderList) {
    f.add("x-" + std::to_string(100000 + i++).substr(0, 6), v, false);
    bytes += 8 + v.size() + 32;
  }
  CHECK_FALSE(f.too_large());
  f.add("x-more", v, false);
  CHECK(f.too_large());
}

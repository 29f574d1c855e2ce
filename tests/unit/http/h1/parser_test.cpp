#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "breakwater/http/forward.hpp"
#include "breakwater/http/h1/parser.hpp"

using namespace breakwater::http;
using namespace breakwater::http::h1;

namespace {

// Heads outlive the parse: RequestHead holds views into them.
WireError parse(const std::string& text, RequestHead& out) {
  static std::deque<std::string> keep;
  auto& head = keep.emplace_back(text);
  std::size_t scanned = 0;
  auto len = find_head_end(head, scanned);
  REQUIRE(len == head.size());
  return parse_request_head(std::string_view(head).substr(0, len), out);
}

WireError err(const std::string& head) {
  RequestHead h;
  return parse(head, h);
}

}  // namespace

TEST_CASE("find_head_end is incremental") {
  std::string s = "GET / HTTP/1.1\r\nHost: a\r\n";
  std::size_t scanned = 0;
  CHECK(find_head_end(s, scanned) == 0);
  s += "\r";
  CHECK(find_head_end(s, scanned) == 0);
  s += "\nBODY";
  CHECK(find_head_end(s, scanned) == s.size() - 4);
}

TEST_CASE("a plain request parses") {
  RequestHead h;
  REQUIRE(parse("POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nX:  v  \r\n\r\n", h) == WireError::none);
  CHECK(h.method == "POST");
  CHECK(h.target == "/a?b=1");
  CHECK(h.body == BodyKind::length);
  CHECK(h.content_length == 12);
  CHECK(h.header("x") == "v");
  CHECK(h.keep_alive);
  REQUIRE(parse("GET / HTTP/1.0\r\n\r\n", h) == WireError::none);
  CHECK_FALSE(h.keep_alive);
  REQUIRE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", h) == WireError::none);
  CHECK(h.keep_alive);
  REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", h) == WireError::none);
  CHECK_FALSE(h.keep_alive);
  REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", h) == WireError::none);
  CHECK(h.body == BodyKind::chunked);
}

TEST_CASE("every smuggling vector is refused") {
  CHECK(err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        WireError::length_and_chunked);
  CHECK(err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n") ==
        WireError::duplicate_content_length);
  CHECK(err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n") == WireError::bad_content_length);
  CHECK(err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n") ==
        WireError::bad_content_length);
  CHECK(err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") ==
        WireError::bad_transfer_encoding);
  CHECK(err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        WireError::bad_transfer_encoding);
  CHECK(err("GET / HTTP/1.1\nHost: a\r\n\r\n") == WireError::bare_lf);
  CHECK(err("GET / HTTP/1.1\r\nHost: a\n\n") == WireError::bare_lf);
  CHECK(err("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n") == WireError::bare_cr);
  CHECK(err("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n") == WireError::obs_fold);
  CHECK(err("GET / HTTP/1.1\r\nHost : a\r\n\r\n") == WireError::space_before_colon);
  CHECK(err(std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 29)) == WireError::bad_header_value);
  CHECK(err("GET / HTTP/1.1\r\nHo st: a\r\n\r\n") == WireError::space_before_colon);
  CHECK(err("GET /  HTTP/1.1\r\nHost: a\r\n\r\n") == WireError::request_line);
  CHECK(err("GET / HTTP/1.1 \r\nHost: a\r\n\r\n") == WireError::request_line);
  CHECK(err("GET / HTTP/2\r\nHost: a\r\n\r\n") == WireError::request_line);
  CHECK(err("GET / HTTP/1.1\r\n\r\n") == WireError::missing_host);
  CHECK(err("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == WireError::duplicate_host);
}

TEST_CASE("chunked decoding") {
  ChunkedDecoder d;
  std::string in = "5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n";
  std::string out;
  std::string_view v = in;
  for (;;) {
    auto s = d.next(v);
    REQUIRE(s.status != ChunkedDecoder::Status::error);
    if (s.status == ChunkedDecoder::Status::data) out.append(s.data);
    v.remove_prefix(s.consumed);
    if (s.status == ChunkedDecoder::Status::done) break;
    REQUIRE(s.consumed > 0);
  }
  CHECK(out == "hello world");
  CHECK(v.empty());
  auto bad = [](std::string s) {
    ChunkedDecoder dd;
    std::string_view v2 = s;
    for (int i = 0; i < 10; ++i) {
      auto st = dd.next(v2);
      if (st.status == ChunkedDecoder::Status::error) return true;
      v2.remove_prefix(st.consumed);
    }
    return false;
  };
  CHECK(bad("zz\r\n"));
  CHECK(bad("5\nhello\r\n"));
  CHECK(bad("5\r\nhelloX\r\n"));
  CHECK(bad("fffffffffffffffffff\r\n"));
  CHECK(bad("-1\r\n"));
  CHECK(bad("5 x\r\n"));
}

TEST_CASE("targets") {
  auto t = parse_target("http://Pay:80/a/b?x=1");
  CHECK(t.form == Target::Form::absolute);
  CHECK(t.authority == "Pay:80");
  CHECK(t.path_query == "/a/b?x=1");
  CHECK(t.path == "/a/b");
  CHECK(parse_target("http://a").path_query == "/");
  CHECK(parse_target("https://a/").form == Target::Form::invalid);
  CHECK(parse_target("http://u@a/").form == Target::Form::invalid);
  CHECK(parse_target("a/b").form == Target::Form::invalid);
  CHECK(parse_target("/x?y").path == "/x");
  CHECK(match_host("Pay.Example:8080") == "pay.example");
  CHECK(match_host("[::1]:80") == "::1");
}

TEST_CASE("upstream head drops hop-by-hop and adds forwarding headers") {
  RequestHead h;
  REQUIRE(parse("GET /x HTTP/1.1\r\nHost: a\r\nConnection: X-Drop\r\nX-Drop: 1\r\nTE: trailers\r\n"
                "X-Forwarded-For: 9.9.9.9\r\nKeep: me\r\n\r\n",
                h) == WireError::none);
  UpstreamRequest up;
  up.method = "GET";
  up.path_query = "/x";
  up.host = "a";
  up.client_ip = "1.2.3.4";
  up.proto = "http";
  up.request_id = "rid";
  std::string out;
  build_upstream_head(h, up, out);
  CHECK(out ==
        "GET /x HTTP/1.1\r\nHost: a\r\nKeep: me\r\nX-Forwarded-For: 9.9.9.9, 1.2.3.4\r\n"
        "X-Forwarded-Proto: http\r\nX-Request-Id: rid\r\n\r\n");
}

TEST_CASE("response framing: chunked as the final coding is chunked (RFC 9112 §6.3)") {
  auto parse_resp = [](const std::string& text, bool head_request, ResponseHead& out) {
    static std::deque<std::string> keep;
    return parse_response_head(keep.emplace_back(text), head_request, out);
  };
  ResponseHead r;
  CHECK(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, r) == WireError::none);
  CHECK(r.body == BodyKind::chunked);
  CHECK(r.keep_alive);
  CHECK(r.other_codings);
  CHECK(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", false, r) ==
        WireError::none);
  CHECK(r.body == BodyKind::chunked);
  CHECK(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false, r) == WireError::none);
  CHECK(r.body == BodyKind::until_close);
  CHECK_FALSE(r.keep_alive);
  CHECK(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", false, r) ==
        WireError::bad_transfer_encoding);
  CHECK(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, r) == WireError::none);
  CHECK(r.body == BodyKind::none);
  CHECK(r.chunked_framing);
  CHECK_FALSE(r.other_codings);
}

TEST_CASE("client head: other transfer codings stay in the framing header") {
  static std::string text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nX-A: 1\r\n\r\n";
  ResponseHead r;
  REQUIRE(parse_response_head(text, false, r) == WireError::none);
  ClientResponse c;
  c.framing = ClientResponse::Framing::chunked;
  std::string out;
  build_client_head(r, c, out);
  CHECK(out == "HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
}

namespace {

// find_head_end as it read before the sixteen-byte scan: LF by LF.
std::size_t head_end_by_lf(std::string_view buf) {
  for (std::size_t i = 0; i < buf.size(); ++i) {
    if (buf[i] != '\n') continue;
    if (i + 1 < buf.size() && buf[i + 1] == '\n') return i + 2;
    if (i + 2 < buf.size() && buf[i + 1] == '\r' && buf[i + 2] == '\n') return i + 3;
  }
  return 0;
}

}  // namespace

TEST_CASE("find_head_end finds the first blank line wherever it falls, fed in any pieces") {
  for (std::size_t pad = 0; pad < 40; ++pad) {
    for (std::string end : {"\r\n\r\n", "\n\n", "\n\r\n", "\r\n\n"}) {
      std::string s = "GET / HTTP/1.1\r\nX: " + std::string(pad, 'a') + end + "BODY\n\nmore\r\n\r\n";
      auto want = head_end_by_lf(s);
      REQUIRE(want != 0);
      for (std::size_t step : {1, 3, 7, 16, 17, 1000}) {
        std::size_t scanned = 0, got = 0;
        for (std::size_t have = std::min(step, s.size());; have = std::min(have + step, s.size())) {
          got = find_head_end(std::string_view(s).substr(0, have), scanned);
          if (got || have == s.size()) break;
        }
        CHECK(got == want);
      }
    }
  }
}

TEST_CASE("the one-pass reading and the line-by-line reference agree") {
  std::vector<std::string> heads = {
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: a-rather-long-user-agent/1.2.3 (x; y)\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Tab:\tv\tw\t\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Long:" + std::string(100, 'v') + "\t" + std::string(40, 'w') + "   \r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX_Odd.Name~!#$%&'*+^`|: v\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nY:   \r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01 b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Very-Long-Header-Name-Beyond-Sixteen: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Very-Long-Header(Name: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Very-Long-Header-Name\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n\tX: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, Upgrade\r\n\r\n",
      "GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
      "GET http://a/b HTTP/1.1\r\n\r\n",
      "GET /#x HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n\r\nX: after\r\n\r\n",
      "GET / HTTP/1.1\n\r\n",
      "\r\n\r\n",
      "G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.12\r\nHost: a\r\n\r\n",
  };
  for (auto& h : heads) {
    CAPTURE(h);
    RequestHead fast, slow;
    auto ef = parse_request_head(h, fast);
    auto es = h1::detail::parse_request_head_reference(h, slow);
    CHECK(ef == es);
    CHECK(fast.method == slow.method);
    CHECK(fast.version_minor == slow.version_minor);
    if (ef != WireError::none || es != WireError::none) continue;
    CHECK(fast.target == slow.target);
    CHECK(fast.host == slow.host);
    CHECK(fast.keep_alive == slow.keep_alive);
    CHECK(fast.expect_continue == slow.expect_continue);
    CHECK(fast.has_connection_tokens == slow.has_connection_tokens);
    CHECK(fast.body == slow.body);
    CHECK(fast.content_length == slow.content_length);
    REQUIRE(fast.headers.size() == slow.headers.size());
    for (std::size_t i = 0; i < fast.headers.size(); ++i) {
      CHECK(fast.headers[i].name == slow.headers[i].name);
      CHECK(fast.headers[i].value == slow.headers[i].value);
    }
  }
  std::vector<std::string> responses = {
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 02:12:14 GMT\r\nContent-Type: "
      "text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
      "HTTP/1.1 200\r\n\r\n",
      "HTTP/1.1 200 \r\n\r\n",
      "HTTP/1.0 404 Not\tFound\r\nX: y\r\n\r\n",
      "HTTP/1.1 200 O\x01K\r\n\r\n",
      "HTTP/1.1 099 Low\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 204 No Content\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
  };
  for (auto& h : responses) {
    for (bool head_request : {false, true}) {
      CAPTURE(h);
      ResponseHead fast, slow;
      auto ef = parse_response_head(h, head_request, fast);
      CHECK(ef == h1::detail::parse_response_head_reference(h, head_request, slow));
      if (ef != WireError::none) continue;
      CHECK(fast.status == slow.status);
      CHECK(fast.reason == slow.reason);
      CHECK(fast.version_minor == slow.version_minor);
      CHECK(fast.keep_alive == slow.keep_alive);
      CHECK(fast.body == slow.body);
      CHECK(fast.content_length == slow.content_length);
      CHECK(fast.chunked_framing == slow.chunked_framing);
      CHECK(fast.other_codings == slow.other_codings);
      CHECK(fast.headers.size() == slow.headers.size());
    }
  }
}

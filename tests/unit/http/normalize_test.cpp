// Path normalization and Host validation (SPEC §5): no spelling of a path slips
// past its route, and only a valid host[:port] is routed.
#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "breakwater/http/forward.hpp"
#include "breakwater/http/h1/parser.hpp"

using namespace breakwater::http;
using namespace breakwater::http::h1;

namespace {

std::string normal(std::string_view path) {
  std::string out;
  return normalize_path(path, out) ? out : std::string(path);
}

}  // namespace

TEST_CASE("remove_dot_segments: RFC 3986 §5.2.4 and the §5.4 examples") {
  CHECK(remove_dot_segments("/a/b/c/./../../g") == "/a/g");
  CHECK(remove_dot_segments("mid/content=5/../6") == "mid/6");
  // §5.4: base "http://a/b/c/d;p?q"; a relative reference merges to "/b/c/" + ref (§5.2.3).
  const std::pair<const char*, const char*> relative[] = {
      {"g", "/b/c/g"},           {"./g", "/b/c/g"},
      {"g/", "/b/c/g/"},         {";x", "/b/c/;x"},
      {"g;x", "/b/c/g;x"},       {".", "/b/c/"},
      {"./", "/b/c/"},           {"..", "/b/"},
      {"../", "/b/"},            {"../g", "/b/g"},
      {"../..", "/"},            {"../../", "/"},
      {"../../g", "/g"},         {"../../../g", "/g"},
      {"../../../../g", "/g"},   {"g.", "/b/c/g."},
      {".g", "/b/c/.g"},         {"g..", "/b/c/g.."},
      {"..g", "/b/c/..g"},       {"./../g", "/b/g"},
      {"./g/.", "/b/c/g/"},      {"g/./h", "/b/c/g/h"},
      {"g/../h", "/b/c/h"},      {"g;x=1/./y", "/b/c/g;x=1/y"},
      {"g;x=1/../y", "/b/c/y"},
  };
  for (auto [ref, want] : relative) {
    CAPTURE(ref);
    CHECK(remove_dot_segments("/b/c/" + std::string(ref)) == want);
  }
  CHECK(remove_dot_segments("/g") == "/g");
  CHECK(remove_dot_segments("/./g") == "/g");
  CHECK(remove_dot_segments("/../g") == "/g");
  CHECK(remove_dot_segments("/") == "/");
  CHECK(remove_dot_segments("/..") == "/");
}

TEST_CASE("every spelling of /admin normalizes to /admin") {
  for (auto p : {"/./admin", "/x/../admin", "/%61dmin", "/%61%64%6D%69%6e", "//admin", "///admin",
                 "/admin/.", "/%2e/admin", "/%2E%2E/admin", "/x/%2e%2e/admin", "/./x/./../admin"}) {
    CAPTURE(p);
    CHECK(normal(p) == (std::string_view(p) == "/admin/." ? "/admin/" : "/admin"));
  }
}

TEST_CASE("what normalization leaves as sent") {
  std::string out = "untouched";
  CHECK_FALSE(normalize_path("/orders/7", out));
  CHECK_FALSE(normalize_path("/", out));
  CHECK_FALSE(normalize_path("/a/.b/..c/...", out));
  CHECK_FALSE(normalize_path("/a%2Fb", out));      // encoded slash: a reserved character
  CHECK_FALSE(normalize_path("/a%5Cb", out));      // encoded backslash
  CHECK_FALSE(normalize_path("/a%2f..%2fadmin", out));
  CHECK_FALSE(normalize_path("/%20%25%3F%zz%6", out));  // not unreserved, or not an escape
  CHECK(out == "untouched");
  CHECK(normal("/%7e%5F%2D%2e%41%7A%30") == "/~_-.Az0");
  CHECK(normal("/a%2F%2e%2E%2Fadmin") == "/a%2F..%2Fadmin");  // decoded dots, but one segment
  CHECK(normal("/a/b/../../../c/") == "/c/");
  // Decoding never forms a new escape, which the upstream would decode again.
  CHECK(normal("/%%36%31dmin") == "/%%361dmin");
  CHECK(normal("/%4%41") == "/%4%41");
  CHECK(normal("/%%34%31") == "/%%341");
  CHECK(normal("/%%4g%41") == "/%%4gA");
  // Dot segments first, then runs of '/' (Envoy's order): ".." takes the empty segment.
  CHECK(normal("/x//..//admin") == "/x/admin");
}

TEST_CASE("normalizing twice changes nothing") {
  for (auto p : {"/a//b/../c", "/%2e%2e//x", "/a/%2e/%2E./b", "/a//../b", "/.%2e/x/", "//..//.//", "/%%36%31dmin",
                 "/%4%41", "/%%%34%31%36", "/%2%2e%2e/x"}) {
    CAPTURE(p);
    auto once = normal(p);
    std::string again;
    CHECK_FALSE(normalize_path(once, again));
  }
}

TEST_CASE("targets carry the normalized path; the query is never touched") {
  auto t = parse_target("/x/../admin?a=/../b&c=%61");
  CHECK(t.form == Target::Form::origin);
  CHECK(t.path == "/admin");
  CHECK(t.path_query == "/admin?a=/../b&c=%61");
  // Copies and moves keep the views on their own storage (short strings included).
  auto copy = t;
  Target moved;
  moved = std::move(t);
  t = parse_target("/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz/..");
  CHECK(copy.path_query == "/admin?a=/../b&c=%61");
  CHECK(copy.path == "/admin");
  CHECK(moved.path_query == "/admin?a=/../b&c=%61");
  CHECK(moved.path == "/admin");
  CHECK(t.path_query == "/");

  auto a = parse_target("http://svc:80//%61dmin/./x?q=1");
  CHECK(a.form == Target::Form::absolute);
  CHECK(a.authority == "svc:80");
  CHECK(a.path_query == "/admin/x?q=1");
  CHECK(a.path == "/admin/x");
  auto q = parse_target("http://svc?x");
  CHECK(q.path_query == "/?x");
  CHECK(q.path == "/");

  CHECK(parse_target("/admin#x").form == Target::Form::invalid);
  CHECK(parse_target("/admin?a#x").form == Target::Form::invalid);
  CHECK(parse_target("http://svc/#").form == Target::Form::invalid);
  CHECK(parse_target("http://a b/").form == Target::Form::invalid);
  CHECK(parse_target("http://svc:http/").form == Target::Form::invalid);
  CHECK(parse_target("http://svc:99999/").form == Target::Form::invalid);
  CHECK(parse_target("http://:80/").form == Target::Form::invalid);
}

TEST_CASE("a valid host[:port]") {
  for (auto ok : {"svc", "svc:80", "Pay.Example.COM:8080", "127.0.0.1", "127.0.0.1:0", "10.0.0.1:65535",
                  "[::1]", "[::1]:8080", "[2001:db8::7]:443", "a-b_c~d", "xn--bcher-kva.example", "%61bc"}) {
    CAPTURE(ok);
    CHECK(valid_authority(ok));
  }
  for (auto bad : {"", ":80", "svc:", "svc:65536", "svc:123456", "svc:8o", "svc:80:80", "a b", "a/b", "a\\b",
                   "a@b", "user@svc:80", "svc/admin", "[::1", "[::1]x", "[::1]:", "[nothex]", "[::1%25eth0]",
                   "a%zz", "a%6", "svc?", "svc#"}) {
    CAPTURE(bad);
    CHECK_FALSE(valid_authority(bad));
  }
}

TEST_CASE("the Host header must be a valid host[:port]; '#' in a target is refused") {
  auto parse = [](std::string text) {
    RequestHead h;
    static std::string keep;
    keep = std::move(text);
    return parse_request_head(keep, h);
  };
  CHECK(parse("GET / HTTP/1.1\r\nHost: svc:8080\r\n\r\n") == WireError::none);
  CHECK(parse("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n") == WireError::none);
  CHECK(parse("GET / HTTP/1.0\r\n\r\n") == WireError::none);
  CHECK(parse("GET / HTTP/1.1\r\nHost: \r\n\r\n") == WireError::bad_host);
  CHECK(parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") == WireError::bad_host);
  CHECK(parse("GET / HTTP/1.1\r\nHost: evil.com/admin\r\n\r\n") == WireError::bad_host);
  CHECK(parse("GET / HTTP/1.1\r\nHost: svc:99999\r\n\r\n") == WireError::bad_host);
  CHECK(parse("GET / HTTP/1.1\r\nHost: u@svc\r\n\r\n") == WireError::bad_host);
  CHECK(parse("GET /admin#x HTTP/1.1\r\nHost: svc\r\n\r\n") == WireError::fragment);
  CHECK(parse("GET /a?b#x HTTP/1.1\r\nHost: svc\r\n\r\n") == WireError::fragment);
}

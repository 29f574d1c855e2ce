#include <doctest/doctest.h>

#include "breakwater/config/load.hpp"
#include "breakwater/config/route_table.hpp"

using namespace breakwater::config;

namespace {

Config routes(const std::string& body) {
  auto r = load_string(R"([[listener]]
name = "in"
bind = "127.0.0.1:1"
[[listener]]
name = "out"
bind = "127.0.0.1:2"
[upstream.u]
endpoints = ["127.0.0.1:3"]
)" + body,
                       "t.toml");
  for (auto& e : r.errors) MESSAGE(e);
  REQUIRE(r.ok());
  return r.config;
}

std::string match(const Config& c, std::string_view path, std::string_view host = "", std::string_view method = "GET",
                  std::string_view listener = "in") {
  RouteTable t(c);
  int i = t.match(listener, {host, path, method, nullptr});
  return i < 0 ? "-" : c.routes[static_cast<std::size_t>(i)].name;
}

std::string route(const char* name, const char* match, const char* listener = "in") {
  return std::string("[[route]]\nname = \"") + name + "\"\nlistener = \"" + listener + "\"\nupstream = \"u\"\n" +
         (match[0] ? std::string("match = ") + match + "\n" : "");
}

}  // namespace

TEST_CASE("segment-aware prefixes") {
  CHECK(prefix_matches("/orders", "/orders"));
  CHECK(prefix_matches("/orders", "/orders/7"));
  CHECK_FALSE(prefix_matches("/orders", "/ordersx"));
  CHECK(prefix_matches("/orders/", "/orders/7"));
  CHECK_FALSE(prefix_matches("/orders/", "/orders"));
  CHECK(prefix_matches("/", "/anything"));
}

TEST_CASE("longest prefix, exact beats prefix, host beats none, file order breaks ties") {
  auto c = routes(route("a", "{ path_prefix = \"/orders\" }") + route("b", "{ path_prefix = \"/orders/x\" }") +
                  route("exact", "{ path = \"/orders/x\" }") + route("h", "{ host = \"pay\" }") +
                  route("tie", "{ path_prefix = \"/orders\" }") + route("other", "{}", "out"));
  CHECK(match(c, "/orders") == "a");
  CHECK(match(c, "/orders/1") == "a");
  CHECK(match(c, "/orders/x") == "exact");
  CHECK(match(c, "/orders/x/1") == "b");
  CHECK(match(c, "/ordersx") == "-");
  CHECK(match(c, "/orders", "pay") == "h");  // host beats a longer path without host
  CHECK(match(c, "/", "other") == "-");
  CHECK(match(c, "/anything", "", "GET", "out") == "other");
  CHECK(match(c, "/", "", "GET", "nope") == "-");
}

TEST_CASE("methods and headers filter candidates") {
  auto c = routes(route("w", "{ path_prefix = \"/o\", methods = [\"POST\"] }") +
                  route("hdr", "{ path_prefix = \"/o\", headers = { X-Canary = \"1\" } }") +
                  route("r", "{ path_prefix = \"/o\" }"));
  CHECK(match(c, "/o", "", "POST") == "w");
  CHECK(match(c, "/o", "", "GET") == "r");
  RouteTable t(c);
  std::vector<breakwater::http::Header> hs{{"x-canary", "1"}};
  CHECK(t.match("in", {"", "/o", "GET", &hs}) == 1);
  hs[0].value = "2";
  CHECK(t.match("in", {"", "/o", "GET", &hs}) == 2);
}

TEST_CASE("host match strips the port from the config") {
  auto c = routes(route("h", "{ host = \"Pay:8080\" }"));
  CHECK(c.routes[0].match.host == "pay");
  CHECK(match(c, "/", "pay") == "h");
}

#include <doctest/doctest.h>

#include <string>

#include "breakwater/config/load.hpp"

using namespace breakwater::config;

namespace {

const char* kListener = R"([[listener]]
name = "in"
bind = "127.0.0.1:15000"
)";

}  // namespace

TEST_CASE("store.memory_max: a size, 64MiB by default") {
  auto d = load_string(kListener, "t.toml");
  REQUIRE(d.ok());
  CHECK(d.config.store.memory_max == 64u * 1024 * 1024);
  auto r = load_string(std::string("[store]\nmemory_max = \"16KiB\"\n") + kListener, "t.toml");
  REQUIRE(r.ok());
  CHECK(r.config.store.memory_max == 16u * 1024);
  auto ex = load_file(std::string(BW_SOURCE_DIR) + "/conf/breakwater.toml");
  REQUIRE(ex.ok());
  CHECK(ex.config.store.memory_max == 64u * 1024 * 1024);
}

TEST_CASE("store.memory_max errors point at the value") {
  auto r = load_string(std::string("[store]\nbackend = \"memory\"\nmemory_max = \"lots\"\n") + kListener, "t.toml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].rfind("t.toml:3:14: 'memory_max' must be a size", 0) == 0);
  r = load_string(std::string("[store]\nmemory_max = \"0B\"\n") + kListener, "t.toml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == "t.toml:2:14: 'memory_max' must be greater than zero");
  r = load_string(std::string("[store]\nmemory_max = 5\n") + kListener, "t.toml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].rfind("t.toml:2:14: ", 0) == 0);
}

#include <doctest/doctest.h>

#include <string>

#include "breakwater/store/result.hpp"

using namespace breakwater::store;

TEST_CASE("result: a value or the kind of store failure") {
  Result<std::string> ok = std::string("v");
  REQUIRE(ok);
  CHECK(ok.has_value());
  CHECK(*ok == "v");
  CHECK(ok->size() == 1);

  Result<std::string> failed = StoreError::breaker_open;
  CHECK_FALSE(failed);
  CHECK(failed.error() == StoreError::breaker_open);

  // a bool value is not the same as success: false (e.g. the lock was lost) is still an answer
  Result<bool> lost = false;
  CHECK(lost);
  CHECK_FALSE(*lost);
}

TEST_CASE("result: every error kind has a name for logs") {
  CHECK(to_string(StoreError::timeout) == "timeout");
  CHECK(to_string(StoreError::unavailable) == "unavailable");
  CHECK(to_string(StoreError::breaker_open) == "breaker_open");
  CHECK(to_string(StoreError::redirect) == "redirect");
}

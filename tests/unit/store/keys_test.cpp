#include <doctest/doctest.h>

#include <string>

#include "breakwater/store/keys.hpp"

using namespace breakwater::store;

// Fixed strings: the key layout is shared by every sidecar on one Redis (SPEC §6),
// so a change here would split their state.
TEST_CASE("keys: a rate-limit key is bw:rl:{ROUTE:SHA256(descriptor)}") {
  CHECK(keys::rate_limit("rl", "127.0.0.1") ==
        "bw:rl:{rl:12ca17b49af2289436f303e0166030a21e525d266e209267433801a8fd4071a0}");
  // descriptor parts are joined with 0x1f before hashing
  CHECK(keys::rate_limit("payments", "a\x1f"
                                     "b") ==
        "bw:rl:{payments:f04cdced9736a69da6103f08a4daaf8c485dd481217d218a1b4993c8c3968e13}");
}

TEST_CASE("keys: an idempotency key is bw:idem:{ROUTE:SHA256(scope):SHA256(key)}") {
  CHECK(keys::idempotency("scoped", "tok", "k") ==
        "bw:idem:{scoped:1a7674eb4ee78df7e1ac439a93c3fa8e3c945784d4dec9fd8e3011738b2f1d62:"
        "8254c329a92850f6d539dd376f4816ee2764517da5e0235514af433164480d7a}");
  // no scope: every caller shares the empty one
  CHECK(keys::idempotency("orders", "", "order-42") ==
        "bw:idem:{orders:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855:"
        "3bf8b157c4238eefe5ae4a66eca81c6b887d4dcedb58dd674271859f4dc2edfd}");
}

TEST_CASE("keys: the braces make the whole key one Redis Cluster hash tag") {
  for (auto k : {keys::rate_limit("r", "d"), keys::idempotency("r", "s", "k")}) {
    CHECK(k.find('{') != std::string::npos);
    CHECK(k.back() == '}');
    CHECK(k.find('{', k.find('{') + 1) == std::string::npos);
  }
}

TEST_CASE("keys: a bucket's in-process id is route NUL descriptor, written over the scratch") {
  std::string out = "left over from the last request";
  keys::bucket_id(out, "rl", "127.0.0.1");
  CHECK(out == std::string("rl\0" "127.0.0.1", 12));
  keys::bucket_id(out, "a", "");
  CHECK(out == std::string("a\0", 2));
  // no collision between a route ending where a descriptor begins
  std::string x, y;
  keys::bucket_id(x, "ab", "c");
  keys::bucket_id(y, "a", "bc");
  CHECK(x != y);
}

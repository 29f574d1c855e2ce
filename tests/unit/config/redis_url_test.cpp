// redis:// urls, one host or a host list (SPEC §2, §6).
#include <doctest/doctest.h>

#include "breakwater/config/redis_url.hpp"

using namespace breakwater::config;

TEST_CASE("parse_redis_hosts: one RedisUrl per host, each with the scheme, credentials and db") {
  auto one = parse_redis_hosts("redis://127.0.0.1:6379/0");
  REQUIRE(one);
  REQUIRE(one->size() == 1);
  CHECK(one->front().host == "127.0.0.1");
  CHECK(one->front().port == 6379);
  auto many = parse_redis_hosts("rediss://app:p%40ss@s1:26379,s2,[::1]:26381/3");
  REQUIRE(many);
  REQUIRE(many->size() == 3);
  for (auto& u : *many) {
    CHECK(u.tls);
    CHECK(u.user == "app");
    CHECK(u.password == "p@ss");
    CHECK(u.db == 3);
  }
  CHECK((*many)[0].host == "s1");
  CHECK((*many)[0].port == 26379);
  CHECK((*many)[1].host == "s2");
  CHECK((*many)[1].port == 6379);  // no port: Redis' own
  CHECK((*many)[2].host == "::1");
  CHECK((*many)[2].port == 26381);
  CHECK(parse_redis_hosts("redis://:secret@h1:1,h2:2")->back().password == "secret");
  CHECK_FALSE(parse_redis_hosts("redis://h1:1,,h2:2"));
  CHECK_FALSE(parse_redis_hosts("redis://h1:1,h2:0"));
  CHECK_FALSE(parse_redis_hosts("redis://h1:1,"));
  CHECK_FALSE(parse_redis_hosts("http://h1:1,h2:2"));
  CHECK_FALSE(parse_redis_hosts("h1:1,h2:2"));
}

#include <doctest/doctest.h>

#include <string>

#include "breakwater/store/redis_reply.hpp"

using namespace breakwater::store;

namespace {

// Feeds `bytes` in pieces of `step` and collects the replies; false on a protocol error.
bool read_all(RedisReplyReader& r, std::string_view bytes, std::vector<RedisReply>& out, std::size_t step = 1) {
  while (!bytes.empty()) {
    auto n = std::min(step, bytes.size());
    if (!r.feed(bytes.substr(0, n))) return false;
    bytes.remove_prefix(n);
    RedisReply reply;
    for (;;) {
      auto next = r.next(reply);
      if (next == RedisReplyReader::Next::error) return false;
      if (next == RedisReplyReader::Next::need_more) break;
      out.push_back(std::move(reply));
    }
  }
  return true;
}

bool accepted(std::string_view bytes, RespLimits limits = {}) {
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, bytes.size()}) {
    RedisReplyReader r(limits);
    std::vector<RedisReply> out;
    if (!read_all(r, bytes, out, step)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("the replies breakwater's scripts send are read whole, split anywhere") {
  std::string in = "*2\r\n:3\r\n:0\r\n+OK\r\n-NOSCRIPT No matching script\r\n$5\r\nhe\r\nl\r\n$-1\r\n*-1\r\n*0\r\n"
                   "*2\r\n$9\r\ncompleted\r\n$3\r\nabc\r\n*2\r\n*1\r\n:1\r\n*0\r\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{7}, in.size()}) {
    RedisReplyReader r;
    std::vector<RedisReply> out;
    REQUIRE(read_all(r, in, out, step));
    REQUIRE(out.size() == 9);
    CHECK(out[0].elements.size() == 2);
    CHECK(out[0].elements[0].integer == 3);
    CHECK(out[1].str == "OK");
    CHECK(out[2].is_error());
    CHECK(out[3].str == "he\r\nl");
    CHECK(out[4].type == RedisReply::Type::nil);
    CHECK(out[5].type == RedisReply::Type::nil);
    CHECK(out[6].type == RedisReply::Type::array);
    CHECK(out[7].elements[1].str == "abc");
    CHECK(out[8].elements[0].elements[0].integer == 1);
    CHECK(out[8].elements[1].elements.empty());
  }
}

TEST_CASE("a huge announced array is a protocol error before anything is allocated") {
  // hiredis 0.14 would calloc 8 GB for this header alone (fuzz_redis_reply found it)
  CHECK_FALSE(accepted("*999999991\r\n"));
  CHECK_FALSE(accepted("*2\r\n:1\r\n*999999991\r\n"));
  CHECK_FALSE(accepted("$999999999999\r\n"));
  CHECK_FALSE(accepted("*99999999999999999999999\r\n"));  // overflow
}

TEST_CASE("the limits are per aggregate and per whole reply") {
  RespLimits l;
  l.max_elements = 3;
  l.max_total_elements = 5;
  l.max_bulk = 4;
  CHECK(accepted("*3\r\n:1\r\n:2\r\n:3\r\n", l));
  CHECK_FALSE(accepted("*4\r\n", l));
  CHECK(accepted("*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n:4\r\n", l));  // 2 + 3 announced
  CHECK_FALSE(accepted("*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*1\r\n", l));  // 2 + 3 + 1
  // the total starts again with the next reply
  CHECK(accepted("*3\r\n:1\r\n:2\r\n:3\r\n*3\r\n:1\r\n:2\r\n:3\r\n", l));
  CHECK(accepted("$4\r\nabcd\r\n", l));
  CHECK_FALSE(accepted("$5\r\n", l));
}

TEST_CASE("malformed headers and nesting deeper than hiredis allows are errors") {
  CHECK_FALSE(accepted("*-2\r\n"));
  CHECK_FALSE(accepted("$-5\r\n"));
  CHECK_FALSE(accepted("*x\r\n"));
  CHECK_FALSE(accepted("*\r\n"));
  CHECK_FALSE(accepted("*1\rx"));
  CHECK_FALSE(accepted("?\r\n"));
  CHECK(accepted("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"));  // 8 levels
  CHECK_FALSE(accepted("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"));
}

#include <doctest/doctest.h>

#include <string>

#include "breakwater/store/memory_table.hpp"

using namespace breakwater;
using namespace breakwater::store;
using namespace std::chrono_literals;

namespace {

const std::string kFp(64, 'f');

std::string token(int i) {
  auto t = std::to_string(i);
  return std::string(32 - t.size(), '0') + t;
}

// Stores a completed record for `key` at `now`.
void put(MemoryTable& t, const std::string& key, policy::TimePoint now, std::size_t body = 1000,
           policy::Duration ttl = 24h) {
  REQUIRE(t.idem_begin(key, kFp, token(1), now, 20s).state == IdemBegin::State::acquired);
  REQUIRE(t.idem_complete(key, token(1), kFp, std::string(body, 'x'), now, ttl));
}

bool replays(MemoryTable& t, const std::string& key, policy::TimePoint now) {
  auto b = t.idem_begin(key, kFp, token(2), now, 20s);
  if (b.state == IdemBegin::State::acquired) {
    REQUIRE(t.idem_release(key, token(2)));
    return false;
  }
  return b.state == IdemBegin::State::completed;
}

policy::GcraParams one_per_minute() {
  policy::RateLimitSettings s;
  s.rate = 1;
  s.per = 60s;
  return policy::gcra_params(s);
}

}  // namespace

TEST_CASE("memory table: past memory_max the records nearest expiry go first") {
  MemoryTable t(32 * 1024);
  auto now = policy::TimePoint{} + 1000s;
  for (int i = 0; i < 200; ++i) put(t, "key" + std::to_string(i), now + std::chrono::milliseconds(i));
  CHECK(t.bytes() <= 32 * 1024);
  CHECK(t.entries() > 10);
  CHECK(t.entries() < 40);
  auto later = now + 1s;
  CHECK_FALSE(replays(t, "key0", later));
  CHECK_FALSE(replays(t, "key100", later));
  CHECK(replays(t, "key199", later));
  CHECK(replays(t, "key190", later));
  // the survivors are exactly the newest: nearest expiry went first
  int kept = 0;
  bool gap = false, ordered = true;
  for (int i = 199; i >= 0; --i) {
    bool r = replays(t, "key" + std::to_string(i), later);
    if (r && gap) ordered = false;
    if (r) ++kept; else gap = true;
  }
  CHECK(ordered);
  CHECK(kept > 10);
}

TEST_CASE("memory table: a shorter ttl goes before an older record with a longer one") {
  MemoryTable t(8 * 1024);
  auto now = policy::TimePoint{} + 1000s;
  put(t, "long", now, 1000, 24h);
  for (int i = 0; i < 20; ++i) put(t, "short" + std::to_string(i), now + 1ms, 1000, 1h);
  CHECK(replays(t, "long", now + 1s));
}

TEST_CASE("memory table: in-flight locks are never evicted") {
  MemoryTable t(4 * 1024);
  auto now = policy::TimePoint{} + 1000s;
  REQUIRE(t.idem_begin("locked", kFp, token(7), now, 1s).state == IdemBegin::State::acquired);
  for (int i = 0; i < 20; ++i) put(t, "r" + std::to_string(i), now, 1000, 1ms);
  CHECK(t.idem_begin("locked", kFp, token(8), now, 1s).state == IdemBegin::State::in_flight);
  CHECK(t.idem_complete("locked", token(7), kFp, "done", now, 24h));
}

TEST_CASE("memory table: expired entries go, one shard at a time, and their bytes with them") {
  MemoryTable t(64 << 20);
  auto now = policy::TimePoint{} + 1000s;
  for (int i = 0; i < 50; ++i) put(t, "k" + std::to_string(i), now, 100, 10s);
  for (int i = 0; i < 50; ++i) CHECK(t.rate_limit("r", "d" + std::to_string(i), one_per_minute(), now).allowed);
  CHECK(t.entries() == 100);
  // released locks and completed ones leave heap items until their time: all due by now + 61s
  t.sweep(now + 61s);
  CHECK(t.entries() == 0);
  CHECK(t.bytes() == 0);
}

TEST_CASE("memory table: buckets count, stay exact, and the bound applies to them too") {
  MemoryTable t(64 << 20);
  auto now = policy::TimePoint{} + 1000s;
  auto p = one_per_minute();
  CHECK(t.rate_limit("r", "a", p, now).allowed);
  CHECK_FALSE(t.rate_limit("r", "a", p, now + 1s).allowed);
  CHECK(t.rate_limit("r", "a", p, now + 61s).allowed);  // full again, its old heap time was stale
  t.set_max_bytes(2 * 1024);
  for (int i = 0; i < 100; ++i) (void)t.rate_limit("r", "x" + std::to_string(i), p, now + 62s + i * 1ms);
  CHECK(t.bytes() <= 2 * 1024);
  // the newest bucket is kept (its TAT is the farthest), so it still refuses
  CHECK_FALSE(t.rate_limit("r", "x99", p, now + 63s).allowed);
}

TEST_CASE("memory table: a busy bucket keeps its entry past its TAT and stays exact") {
  MemoryTable t(64 << 20);
  auto now = policy::TimePoint{} + 1000s;
  policy::RateLimitSettings s;
  s.rate = 10;
  s.per = 1s;
  s.burst = 2;
  auto p = policy::gcra_params(s);
  // two keys whose names differ only after the route
  CHECK(t.rate_limit("r", "a", p, now).allowed);
  CHECK(t.rate_limit("r", "a", p, now).allowed);
  CHECK_FALSE(t.rate_limit("r", "a", p, now).allowed);
  CHECK(t.rate_limit("r", "b", p, now).allowed);
  CHECK(t.rate_limit("r2", "a", p, now).allowed);  // another route, another bucket
  CHECK(t.entries() == 3);
  // 300 ms later the TAT of "a" has passed: full again, answered from the same entry
  CHECK(t.rate_limit("r", "a", p, now + 300ms).allowed);
  CHECK(t.rate_limit("r", "a", p, now + 300ms).allowed);
  CHECK_FALSE(t.rate_limit("r", "a", p, now + 300ms).allowed);
  CHECK(t.entries() == 3);
  // a sweep takes what is due; the bytes go with it
  t.sweep(now + 10s);
  CHECK(t.entries() == 0);
  CHECK(t.bytes() == 0);
}

TEST_CASE("gcra params: the rounded integers are the per-call ones") {
  policy::RateLimitSettings s;
  s.rate = 3;
  s.per = 1s;
  s.burst = 7;
  auto p = policy::gcra_params(s);
  policy::GcraParams q{p.interval_us, p.burst};  // nothing precomputed
  CHECK(policy::gcra_interval_us(p) == policy::gcra_interval_us(q));
  CHECK(policy::gcra_tolerance_us(p) == policy::gcra_tolerance_us(q));
  CHECK(policy::gcra_interval_us(p) == 333333);
}

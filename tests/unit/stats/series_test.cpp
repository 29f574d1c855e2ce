// The per-route series behind GET /stats: one ring of 300 one-second buckets per
// worker, merged on read, with a latency histogram per second for the p99.
#include <doctest/doctest.h>

#include <thread>

#include "breakwater/stats/series.hpp"

using namespace breakwater::stats;

namespace {

constexpr std::int64_t t0 = 1'800'000'000;  // a UNIX second
constexpr auto last = kWindowSeconds - 1;    // the index of `now` in a window
constexpr auto ok = OutcomeClass::success;
constexpr auto rejected = OutcomeClass::rejected;

std::uint64_t sum(const std::vector<SecondStats>& w, OutcomeClass c) {
  std::uint64_t n = 0;
  for (auto& s : w) n += s.of(c);
  return n;
}

}  // namespace

TEST_CASE("series: latency buckets are those of breakwater_request_duration_seconds (le: at most the bound)") {
  CHECK(kLatencyBuckets == 15);
  CHECK(latency_bucket(0) == 0);
  CHECK(latency_bucket(0.0005) == 0);
  CHECK(latency_bucket(0.00051) == 1);
  CHECK(latency_bucket(0.3) == 9);  // (0.25, 0.5]
  CHECK(latency_bucket(10) == 13);
  CHECK(latency_bucket(10.001) == 14);  // +Inf
}

TEST_CASE("series: a window is 300 seconds ending with now, oldest first, answers in their own second") {
  RouteSeries s(1);
  s.record(0, t0, ok, 0);
  s.record(0, t0, ok, 0);
  s.record(0, t0, rejected, 3);
  s.record(0, t0 + 2, OutcomeClass::server_error, 5);
  auto w = s.window(t0 + 2);
  REQUIRE(w.size() == kWindowSeconds);
  CHECK(w[last - 2].of(ok) == 2);
  CHECK(w[last - 2].of(rejected) == 1);
  CHECK(w[last - 2].answers() == 3);
  CHECK(w[last - 2].latency[0] == 2);
  CHECK(w[last - 2].latency[3] == 1);
  CHECK(w[last - 1] == SecondStats{});  // an idle second in between reads as zero
  CHECK(w[last].of(OutcomeClass::server_error) == 1);
  CHECK(w[last].latency[5] == 1);
  CHECK(sum(w, ok) == 2);
}

TEST_CASE("series: a second leaves the window 300 seconds later") {
  RouteSeries s(1);
  s.record(0, t0, ok, 0);
  CHECK(s.window(t0 + 299)[0].of(ok) == 1);  // the oldest second of the window
  CHECK(sum(s.window(t0 + 300), ok) == 0);
  CHECK(sum(s.window(t0 - 1), ok) == 0);  // nor is it in a window that ends before it
}

TEST_CASE("series: a slot that comes round to a new second starts from zero (rollover)") {
  RouteSeries s(1);
  for (int i = 0; i < 5; ++i) s.record(0, t0, ok, 2);
  s.record(0, t0 + 300, rejected, 7);  // t0's slot, 300 seconds on
  auto w = s.window(t0 + 300);
  CHECK(w[last].of(ok) == 0);
  CHECK(w[last].of(rejected) == 1);
  CHECK(w[last].latency[2] == 0);
  CHECK(w[last].latency[7] == 1);
  // Asked for the old second, the slot answers nothing rather than the new second's counts.
  SecondStats old;
  SeriesRing ring;
  ring.record(t0 + 300, ok, 0);
  ring.add_to(t0, old);
  CHECK(old == SecondStats{});
}

TEST_CASE("series: buckets skipped while idle are never read as old data") {
  RouteSeries s(1);
  for (std::int64_t t = t0; t < t0 + 300; ++t) s.record(0, t, ok, 0);  // every slot filled once
  s.record(0, t0 + 1000, rejected, 0);  // then 700 idle seconds, then one answer
  auto w = s.window(t0 + 1000);
  CHECK(sum(w, ok) == 0);
  CHECK(sum(w, rejected) == 1);
  CHECK(w[last].of(rejected) == 1);
}

TEST_CASE("series: an answer older than the second its slot holds is dropped, not mixed in") {
  SeriesRing ring;
  ring.record(t0 + 300, ok, 0);
  ring.record(t0, rejected, 0);  // late: t0's slot already holds t0 + 300
  SecondStats now, then;
  ring.add_to(t0 + 300, now);
  ring.add_to(t0, then);
  CHECK(now.of(ok) == 1);
  CHECK(now.of(rejected) == 0);
  CHECK(then == SecondStats{});
}

TEST_CASE("series: workers' rings are merged on read") {
  RouteSeries s(3);
  s.record(0, t0, ok, 0);
  s.record(1, t0, ok, 1);
  s.record(2, t0, OutcomeClass::client_error, 1);
  s.record(4, t0, rejected, 14);  // worker indexes wrap around the ring count
  s.record(1, t0 + 1, ok, 0);
  auto w = s.window(t0 + 1);
  CHECK(w[last - 1].of(ok) == 2);
  CHECK(w[last - 1].of(OutcomeClass::client_error) == 1);
  CHECK(w[last - 1].of(rejected) == 1);
  CHECK(w[last - 1].latency == LatencyCounts{1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  CHECK(w[last].of(ok) == 1);
  // Each ring rolls over on its own: worker 0 moving on to t0 + 300 clears its own
  // t0, not worker 1's (which a window ending at t0 + 299 still shows).
  s.record(0, t0 + 300, ok, 0);
  CHECK(s.window(t0 + 300)[last].of(ok) == 1);
  CHECK(s.window(t0 + 299)[0].of(ok) == 1);
  CHECK(s.window(t0 + 299)[0].of(OutcomeClass::client_error) == 1);
  CHECK(s.window(t0 + 299)[0].latency[0] == 0);  // worker 0's answer at t0 is gone
}

TEST_CASE("series: p99 from a histogram, interpolated inside its bucket") {
  LatencyCounts h{};
  CHECK_FALSE(quantile(h, 0.99).has_value());  // a second without answers has no p99
  h[0] = 100;  // all at most 0.5 ms: rank 99 of 100 is 99% of the way into [0, 0.5 ms]
  CHECK(*quantile(h, 0.99) == doctest::Approx(0.000495));
  h = {};
  h[0] = 98;
  h[5] = 2;  // (10 ms, 25 ms]: rank 99 is the first of the two, halfway in
  CHECK(*quantile(h, 0.99) == doctest::Approx(0.0175));
  CHECK(*quantile(h, 0.5) == doctest::Approx(0.0005 * 50 / 98));
  h = {};
  h[14] = 1;  // past the last bound: that bound, as Prometheus' histogram_quantile() answers
  CHECK(*quantile(h, 0.99) == doctest::Approx(10.0));
  h[3] = 99;  // 99 in (2.5 ms, 5 ms]: rank 99 is that bucket's last
  CHECK(*quantile(h, 0.99) == doctest::Approx(0.005));
  CHECK(*quantile(h, 1.0) == doctest::Approx(10.0));
}

TEST_CASE("series: p99 of a merged second counts every worker's answers") {
  RouteSeries s(2);
  for (int i = 0; i < 98; ++i) s.record(0, t0, ok, 0);
  s.record(1, t0, ok, 5);
  s.record(1, t0, ok, 5);
  auto w = s.window(t0);
  CHECK(*quantile(w[last].latency, 0.99) == doctest::Approx(0.0175));
}

TEST_CASE("series: a reader beside the writer never takes one second's counts for another's") {
  // The seqlock's contract. The writer records 20 answers a second for 60000 seconds (a few
  // ms), each second's latencies in a bucket of its own generation (second / 300), so a slot
  // read while it rolls over to the next generation would show a latency bucket its second
  // never used. The reader reads windows ending at the writer's current second, whose oldest
  // slots are the ones being rolled over. (Without the second look at the stamp in add_to(),
  // this fails on most runs.)
  constexpr std::int64_t kSeconds = 60000;
  auto generation_bucket = [](std::int64_t t) { return static_cast<std::size_t>((t - t0) / 300 % 15); };
  RouteSeries s(1);
  std::atomic<std::int64_t> current{t0};
  std::thread writer([&] {
    for (std::int64_t t = t0; t < t0 + kSeconds; ++t) {
      current.store(t, std::memory_order_relaxed);
      for (int i = 0; i < 20; ++i) s.record(0, t, ok, generation_bucket(t));
    }
    current.store(t0 + kSeconds);
  });
  bool mixed = false;
  std::int64_t now = t0;
  while ((now = current.load(std::memory_order_relaxed)) < t0 + kSeconds) {
    auto w = s.window(now);
    for (std::size_t i = 0; i < w.size(); ++i) {
      auto sec = now - static_cast<std::int64_t>(last) + static_cast<std::int64_t>(i);
      for (std::size_t b = 0; b < kLatencyBuckets; ++b)
        if (w[i].latency[b] && (sec < t0 || b != generation_bucket(sec))) mixed = true;
      if (w[i].of(ok) > 20) mixed = true;
    }
  }
  writer.join();
  CHECK_FALSE(mixed);
  auto w = s.window(t0 + kSeconds - 1);
  CHECK(sum(w, ok) == 300 * 20);
  CHECK(w[0].latency[generation_bucket(t0 + kSeconds - 300)] == 20);
}

// The per-second sliding window under the breaker's time window and the retry budget.
#include <doctest/doctest.h>

#include "breakwater/policy/sliding_window.hpp"

using namespace breakwater::policy;
using namespace std::chrono_literals;

namespace {

using Counts = Counters<unsigned, 2>;
enum : std::size_t { a, b };

const TimePoint t0 = TimePoint{} + 1000h;

}  // namespace

TEST_CASE("sliding window: sums every bucket in the window") {
  SlidingWindow<Counts> w(5);
  CHECK(w.seconds() == 5);
  CHECK(w.sums()[a] == 0);
  w.add(t0, {{1, 0}});
  w.add(t0 + 300ms, {{1, 1}});  // the same second, the same bucket
  w.add(t0 + 1s, {{0, 1}});
  w.add(t0 + 4s + 999ms, {{2, 0}});
  CHECK(w.sums()[a] == 4);
  CHECK(w.sums()[b] == 2);
}

TEST_CASE("sliding window: a bucket leaves exactly `seconds` seconds later") {
  SlidingWindow<Counts> w(5);
  w.add(t0, {{1, 0}});
  w.add(t0 + 1s, {{10, 0}});
  w.advance(t0 + 4s);
  CHECK(w.sums()[a] == 11);
  w.advance(t0 + 5s);  // t0's bucket is 5 s old: gone
  CHECK(w.sums()[a] == 10);
  w.advance(t0 + 6s);
  CHECK(w.sums()[a] == 0);
}

TEST_CASE("sliding window: rollover reuses a slot for a new second") {
  SlidingWindow<Counts> w(3);
  for (int s = 0; s < 10; ++s) w.add(t0 + std::chrono::seconds(s), {{1, 0}});
  CHECK(w.sums()[a] == 3);  // seconds 7, 8, 9
  w.add(t0 + 10s, {{5, 0}});  // into the slot that held second 7
  CHECK(w.sums()[a] == 7);  // seconds 8, 9, 10
}

TEST_CASE("sliding window: a gap longer than the window forgets everything") {
  SlidingWindow<Counts> w(5);
  for (int s = 0; s < 5; ++s) w.add(t0 + std::chrono::seconds(s), {{1, 1}});
  CHECK(w.sums()[a] == 5);
  w.advance(t0 + 8s);  // the window is now seconds 4..8
  CHECK(w.sums()[a] == 1);
  w.advance(t0 + 9s);
  CHECK(w.sums()[a] == 0);
  for (int s = 0; s < 5; ++s) w.add(t0 + 10s + std::chrono::seconds(s), {{1, 1}});
  w.advance(t0 + 1000s);
  CHECK(w.sums()[a] == 0);
  CHECK(w.sums()[b] == 0);
  w.add(t0 + 1000s, {{1, 0}});
  CHECK(w.sums()[a] == 1);
  w.add(t0 + 1000s + 5s * 7, {{1, 0}});  // a gap that is a whole number of turns
  CHECK(w.sums()[a] == 1);
}

TEST_CASE("sliding window: sums are read as of the last advance; an earlier time moves nothing") {
  SlidingWindow<Counts> w(2);
  w.add(t0, {{1, 0}});
  CHECK(w.sums()[a] == 1);  // no advance on read: still counted until the next advance
  w.add(t0 + 1s, {{1, 0}});
  w.advance(t0 + 500ms);  // behind the last second: nothing expires
  CHECK(w.sums()[a] == 2);
  w.add(t0 + 500ms, {{1, 0}});  // a late call lands in its own second's bucket
  CHECK(w.sums()[a] == 3);
  w.advance(t0 + 2s);
  CHECK(w.sums()[a] == 1);
}

TEST_CASE("sliding window: a call later than the whole window is forgotten at the next second") {
  SlidingWindow<Counts> w(3);
  w.add(t0 + 4s, {{1, 0}});
  w.add(t0, {{10, 0}});  // 4 s late, into a slot the next seconds do not reach
  CHECK(w.sums()[a] == 11);
  w.add(t0 + 5s, {{1, 0}});  // every bucket older than the window goes, wherever it sits
  CHECK(w.sums()[a] == 2);
}

TEST_CASE("sliding window: clear empties the buckets and the sums") {
  SlidingWindow<Counts> w(4);
  w.add(t0, {{3, 2}});
  w.add(t0 + 1s, {{1, 1}});
  w.clear();
  CHECK(w.sums()[a] == 0);
  CHECK(w.sums()[b] == 0);
  w.add(t0 + 2s, {{1, 0}});
  w.advance(t0 + 4s);  // nothing from before the clear comes back out
  CHECK(w.sums()[a] == 1);
  CHECK(w.sums()[b] == 0);
}

TEST_CASE("sliding window: a window of zero seconds is one second") {
  SlidingWindow<Counts> w(0);
  CHECK(w.seconds() == 1);
  w.add(t0, {{1, 0}});
  w.add(t0 + 500ms, {{1, 0}});
  CHECK(w.sums()[a] == 2);
  w.add(t0 + 1s, {{1, 0}});
  CHECK(w.sums()[a] == 1);
}

TEST_CASE("sliding window: times before the clock's epoch") {
  const TimePoint early = TimePoint{} - 100s;
  SlidingWindow<Counts> w(3);
  w.add(early, {{1, 0}});
  w.add(early + 2s, {{1, 0}});
  CHECK(w.sums()[a] == 2);
  w.advance(early + 3s);
  CHECK(w.sums()[a] == 1);
}

TEST_CASE("sliding window: a call so late that its slot holds a newer second counts nothing, clears nothing") {
  SlidingWindow<Counts> w(5);
  w.add(t0 + 10s, {{1, 0}});
  w.add(t0 + 5s, {{7, 0}});  // five seconds before: out of a 5 s window (it would share the slot)
  CHECK(w.sums()[a] == 1);
  w.add(t0 + 6s, {{2, 0}});  // still inside
  CHECK(w.sums()[a] == 3);
}

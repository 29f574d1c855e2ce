#pragma once
// A sliding window of one-second buckets of a small struct of counters, with
// running sums: the circuit breaker's time window and the retry budget's 10 s
// window. Time only moves forward here (an earlier `now` expires nothing);
// `now` is always an argument.
#include <algorithm>
#include <array>
#include <cstddef>
#include <chrono>
#include <cstdint>
#include <limits>
#include <vector>

#include "breakwater/policy/time.hpp"

namespace breakwater::policy {

// N counters of type T, added and subtracted as one; index them with an enum.
template <class T, std::size_t N>
struct Counters {
  std::array<T, N> n{};
  constexpr T operator[](std::size_t i) const { return n[i]; }
  constexpr Counters& operator+=(const Counters& o) {
    for (std::size_t i = 0; i < N; ++i) n[i] += o.n[i];
    return *this;
  }
  constexpr Counters& operator-=(const Counters& o) {
    for (std::size_t i = 0; i < N; ++i) n[i] -= o.n[i];
    return *this;
  }
};

// Counts: zero by default, with += and -= (a Counters).
template <class Counts>
class SlidingWindow final {
 public:
  explicit SlidingWindow(unsigned seconds) : buckets_(std::max(1u, seconds)) {}

  // Forgets every bucket `seconds()` or more seconds older than `now` (a scan once a second at most).
  void advance(TimePoint now) { advance_to(second_of(now)); }

  // Advances to `now`, then counts `c` in now's bucket. A `now` so late that
  // its slot already holds a newer second is out of the window: it counts
  // nothing and leaves that newer bucket alone.
  void add(TimePoint now, const Counts& c) {
    auto sec = second_of(now);
    advance_to(sec);
    auto& b = slot(sec);
    if (b.second > sec) return;
    if (b.second != sec) {  // the slot still holds a second that has left the window
      expire(b);
      b.second = sec;
    }
    b.counts += c;
    sums_ += c;
  }

  // The counts of the buckets in the window as of the last advance.
  [[nodiscard]] const Counts& sums() const { return sums_; }
  [[nodiscard]] unsigned seconds() const { return static_cast<unsigned>(buckets_.size()); }

  // Empties every bucket; the clock position stays.
  void clear() {
    std::fill(buckets_.begin(), buckets_.end(), Bucket{});
    sums_ = Counts{};
  }

 private:
  static constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();
  struct Bucket {
    std::int64_t second = kNone;
    Counts counts{};
  };
  static std::int64_t second_of(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  }
  void advance_to(std::int64_t sec) {
    if (sec <= last_second_) return;
    auto oldest_kept = sec - static_cast<std::int64_t>(buckets_.size()) + 1;
    for (auto& b : buckets_)
      if (b.second < oldest_kept) expire(b);
    last_second_ = sec;
  }
  Bucket& slot(std::int64_t sec) {
    auto n = static_cast<std::int64_t>(buckets_.size());
    return buckets_[static_cast<std::size_t>(((sec % n) + n) % n)];
  }
  void expire(Bucket& b) {
    sums_ -= b.counts;
    b = Bucket{};
  }

  std::vector<Bucket> buckets_;
  Counts sums_{};
  std::int64_t last_second_ = kNone;
};

}  // namespace breakwater::policy

#pragma once
// A route's answers over the last 300 seconds, one bucket a second: counts by
// outcome class (SPEC §7 /stats) and a latency histogram with the bounds of
// breakwater_request_duration_seconds, good enough for a p99 per second.
// Each worker writes a ring of its own, without a lock or an allocation; a
// reader on any thread merges the rings of every worker. Standard library
// only; time is an argument (whole UNIX seconds).
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "breakwater/policy/labels.hpp"

namespace breakwater::stats {

// Upper bounds in seconds of the latency buckets (those of
// breakwater_request_duration_seconds); one more bucket holds the rest (+Inf).
inline constexpr std::array<double, 14> kLatencyBounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                       0.1,    0.25,  0.5,    1,     2.5,   5,     10};
inline constexpr std::size_t kLatencyBuckets = kLatencyBounds.size() + 1;
using LatencyCounts = std::array<std::uint64_t, kLatencyBuckets>;

// The bucket a duration of `seconds` falls in (le: at most the bound).
[[nodiscard]] constexpr std::size_t latency_bucket(double seconds) {
  std::size_t i = 0;
  while (i < kLatencyBounds.size() && seconds > kLatencyBounds[i]) ++i;
  return i;
}

// The outcome classes of /stats, in its field names.
#define BREAKWATER_OUTCOME_CLASSES(X) X(success) X(client_error) X(server_error) X(rejected)
enum class OutcomeClass : std::uint8_t { BREAKWATER_OUTCOME_CLASSES(BW_LABEL_ENUM) };
inline constexpr std::array kOutcomeClassLabels{BREAKWATER_OUTCOME_CLASSES(BW_LABEL_NAME)};
inline constexpr std::size_t kOutcomeClasses = kOutcomeClassLabels.size();

// Seconds a ring remembers: the window of /stats.
inline constexpr std::size_t kWindowSeconds = 300;

// One second's answers, merged over workers.
struct SecondStats {
  std::array<std::uint64_t, kOutcomeClasses> outcomes{};
  LatencyCounts latency{};
  [[nodiscard]] std::uint64_t answers() const;
  [[nodiscard]] std::uint64_t of(OutcomeClass c) const { return outcomes[static_cast<std::size_t>(c)]; }
  bool operator==(const SecondStats&) const = default;
};

// The q-quantile (0 < q <= 1) of a latency histogram, in seconds, interpolated
// linearly inside its bucket as Prometheus' histogram_quantile() does; past the
// last bound, that bound. Nothing without an observation.
[[nodiscard]] std::optional<double> quantile(const LatencyCounts& h, double q);

// One worker's 300 buckets, indexed by second modulo 300: one thread records,
// any thread reads. A bucket is reset when its slot comes round to a new second,
// so seconds without an answer cost nothing and read as zero.
class alignas(64) SeriesRing final {
 public:
  // One answer at `second`; `bucket` is latency_bucket() of its duration. An
  // answer older than the second its slot now holds is dropped.
  void record(std::int64_t second, OutcomeClass c, std::size_t bucket);
  // Adds what this ring holds for `second` to `out`: nothing when the slot
  // holds another second (never filled, or reused since).
  void add_to(std::int64_t second, SecondStats& out) const;

 private:
  static constexpr std::int64_t kEmpty = INT64_MIN;    // a slot no answer has filled
  static constexpr std::int64_t kResetting = INT64_MIN + 1;  // a slot being cleared for a new second
  struct Bucket {
    std::atomic<std::int64_t> second{kEmpty};  // the stamp readers check before and after copying
    std::array<std::atomic<std::uint32_t>, kOutcomeClasses> outcomes{};
    std::array<std::atomic<std::uint32_t>, kLatencyBuckets> latency{};
  };
  std::array<Bucket, kWindowSeconds> buckets_;
};

// The rings of one route, one per worker.
class RouteSeries final {
 public:
  explicit RouteSeries(unsigned workers);
  // From worker `worker`'s thread only.
  void record(unsigned worker, std::int64_t second, OutcomeClass c, std::size_t bucket) {
    rings_[worker < workers_ ? worker : worker % workers_].record(second, c, bucket);  // no division per answer
  }
  // The kWindowSeconds seconds that end with `now`, oldest first, summed over workers.
  [[nodiscard]] std::vector<SecondStats> window(std::int64_t now) const;

 private:
  unsigned workers_;
  std::unique_ptr<SeriesRing[]> rings_;
};

}  // namespace breakwater::stats

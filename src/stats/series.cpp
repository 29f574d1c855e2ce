#include "breakwater/stats/series.hpp"

#include <algorithm>

namespace breakwater::stats {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

std::size_t slot_of(std::int64_t second) {
  return static_cast<std::size_t>(static_cast<std::uint64_t>(second) % kWindowSeconds);
}

// The only writer adds one: a load and a store, no read-modify-write.
void bump(std::atomic<std::uint32_t>& c) { c.store(c.load(kRelaxed) + 1, kRelaxed); }

}  // namespace

std::uint64_t SecondStats::answers() const {
  std::uint64_t n = 0;
  for (auto v : outcomes) n += v;
  return n;
}

std::optional<double> quantile(const LatencyCounts& h, double q) {
  std::uint64_t total = 0;
  for (auto v : h) total += v;
  if (total == 0) return std::nullopt;
  double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (h[i] == 0 || static_cast<double>(below + h[i]) < rank) {
      below += h[i];
      continue;
    }
    if (i == kLatencyBounds.size()) return kLatencyBounds.back();  // +Inf: the highest bound we know
    double lower = i == 0 ? 0.0 : kLatencyBounds[i - 1];
    double upper = kLatencyBounds[i];
    return lower + (upper - lower) * (rank - static_cast<double>(below)) / static_cast<double>(h[i]);
  }
  return kLatencyBounds.back();
}

// A seqlock whose sequence is the second itself: the stamp goes to kResetting
// while the counts are cleared, then to the new second. A reader that sees the
// same second before and after copying has copied that second's counts.
void SeriesRing::record(std::int64_t second, OutcomeClass c, std::size_t bucket) {
  auto& b = buckets_[slot_of(second)];
  auto held = b.second.load(kRelaxed);
  if (held != second) {
    if (held > second) return;  // the slot already moved on to a later second
    b.second.store(kResetting, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
    for (auto& v : b.outcomes) v.store(0, kRelaxed);
    for (auto& v : b.latency) v.store(0, kRelaxed);
    b.second.store(second, std::memory_order_release);
  }
  bump(b.outcomes[static_cast<std::size_t>(c)]);
  bump(b.latency[std::min(bucket, kLatencyBuckets - 1)]);
}

void SeriesRing::add_to(std::int64_t second, SecondStats& out) const {
  auto& b = buckets_[slot_of(second)];
  if (b.second.load(std::memory_order_acquire) != second) return;
  SecondStats copy;
  for (std::size_t i = 0; i < kOutcomeClasses; ++i) copy.outcomes[i] = b.outcomes[i].load(kRelaxed);
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) copy.latency[i] = b.latency[i].load(kRelaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (b.second.load(kRelaxed) != second) return;  // reset for a later second while we copied
  for (std::size_t i = 0; i < kOutcomeClasses; ++i) out.outcomes[i] += copy.outcomes[i];
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) out.latency[i] += copy.latency[i];
}

RouteSeries::RouteSeries(unsigned workers)
    : workers_(std::max(1u, workers)), rings_(std::make_unique<SeriesRing[]>(workers_)) {}

std::vector<SecondStats> RouteSeries::window(std::int64_t now) const {
  std::vector<SecondStats> out(kWindowSeconds);
  auto first = now - static_cast<std::int64_t>(kWindowSeconds) + 1;
  for (std::size_t i = 0; i < kWindowSeconds; ++i)
    for (unsigned w = 0; w < workers_; ++w) rings_[w].add_to(first + static_cast<std::int64_t>(i), out[i]);
  return out;
}

}  // namespace breakwater::stats

#pragma once
// A small, fast random bit generator (xoshiro256**, public domain algorithm by
// Blackman and Vigna) for what needs unpredictability across requests but not
// cryptographic strength: request ids, lock tokens, jitter. One per worker
// thread. std::mt19937_64 costs ~400 instructions per call once its 312-word
// state is regenerated; this costs ~10 and satisfies UniformRandomBitGenerator.
#include <cstdint>
#include <limits>
#include <random>

namespace breakwater::policy {

class FastRng {
 public:
  using result_type = std::uint64_t;
  FastRng() {
    std::random_device rd;
    seed((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  }
  explicit FastRng(std::uint64_t s) { seed(s); }
  void seed(std::uint64_t s) {
    for (auto& w : s_) {  // splitmix64 spreads one seed over the state (never all zero)
      s += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = s;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      w = z ^ (z >> 31);
    }
  }
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() {
    const std::uint64_t r = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  // A double in [0, 1) from the top 53 bits.
  double unit() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace breakwater::policy

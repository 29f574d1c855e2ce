#include "breakwater/policy/rate_limit.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>

namespace breakwater::policy {
namespace {
long long ceil_seconds(std::int64_t us) { return us <= 0 ? 0 : (us + 999'999) / 1'000'000; }
}  // namespace

GcraParams gcra_params(const RateLimitSettings& s) {
  auto per_us = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(s.per).count());
  GcraParams p{per_us / s.rate, s.bucket()};
  p.interval_int_us = std::llround(p.interval_us);
  p.tolerance_int_us = std::llround(p.burst * p.interval_us);
  return p;
}

std::int64_t gcra_interval_us(const GcraParams& p) {
  return p.interval_int_us >= 0 ? p.interval_int_us : std::llround(p.interval_us);
}
std::int64_t gcra_tolerance_us(const GcraParams& p) {
  return p.tolerance_int_us >= 0 ? p.tolerance_int_us : std::llround(p.burst * p.interval_us);
}

GcraOutcome gcra(const GcraParams& p, std::int64_t tat_us, std::int64_t now_us, std::int64_t& new_tat_us) {
  return gcra_batch(p, tat_us, now_us, 1, new_tat_us).outcome(0);
}

GcraBatch gcra_batch(const GcraParams& p, std::int64_t tat_us, std::int64_t now_us, std::int64_t n,
                     std::int64_t& new_tat_us) {
  GcraBatch b{0, std::max(tat_us, now_us) - now_us, gcra_interval_us(p), gcra_tolerance_us(p)};
  // Request i is allowed while base + (i + 1) * interval - tolerance <= 0.
  if (b.interval_us > 0) {
    auto room = b.tolerance_us - b.base_us;
    b.admitted = room < b.interval_us ? 0 : std::min<std::int64_t>(n, room / b.interval_us);
  } else {
    b.admitted = b.base_us <= b.tolerance_us ? n : 0;
  }
  new_tat_us = b.admitted > 0 ? now_us + b.base_us + b.admitted * b.interval_us : tat_us;
  return b;
}

GcraOutcome GcraBatch::outcome(std::int64_t i) const {
  if (i < admitted) return {true, base_us + (i + 1) * interval_us, 0};
  auto tat = base_us + admitted * interval_us;
  return {false, tat, tat + interval_us - tolerance_us};
}

RateHeaders rate_headers(const GcraParams& p, const GcraOutcome& o) {
  RateHeaders h;
  double room = p.burst * p.interval_us - static_cast<double>(o.tat_after_us);
  h.remaining = std::max(0LL, static_cast<long long>(std::floor(room / p.interval_us + 1e-9)));
  h.reset_s = ceil_seconds(o.tat_after_us);
  h.retry_after_s = o.allowed ? 0 : std::max(1LL, ceil_seconds(o.retry_after_us));
  return h;
}

RateLimitSettings local_settings(const RateLimitSettings& s) {
  RateLimitSettings l = s;
  if (!s.local_rate) return l;
  l.rate = *s.local_rate;
  l.burst = std::max(1.0, std::ceil(s.bucket() * *s.local_rate / s.rate - 1e-9));
  return l;
}

std::string rate_limit_policy_value(const RateLimitSettings& s) {
  // Rounded up from nanoseconds: a sub-millisecond `per` is w=1, never w=0.
  auto per_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(s.per).count();
  char buf[128];
  std::snprintf(buf, sizeof buf, "\"default\";q=%.15g;w=%lld", s.rate,
                static_cast<long long>((per_ns + 999'999'999) / 1'000'000'000));
  return buf;
}

namespace {
// Decimal digits of a non-negative value, written backwards ending at `end`.
char* digits_before(char* end, long long v) {
  auto u = static_cast<unsigned long long>(v < 0 ? 0 : v);
  do {
    *--end = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  return end;
}
}  // namespace

void append_rate_limit_value(std::string& out, const RateHeaders& h) {
  // Built backwards in a local buffer and appended once: this runs on every limited request.
  char buf[64];
  char* end = buf + sizeof buf;
  char* p = digits_before(end, h.reset_s);
  *--p = '=';
  *--p = 't';
  *--p = ';';
  p = digits_before(p, h.remaining);
  static constexpr std::string_view kHead = "\"default\";r=";
  p -= kHead.size();
  std::copy(kHead.begin(), kHead.end(), p);
  out.append(p, static_cast<std::size_t>(end - p));
}

}  // namespace breakwater::policy

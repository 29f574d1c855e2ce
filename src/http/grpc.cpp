#include "breakwater/http/grpc.hpp"

#include <cstdio>

namespace breakwater::http::grpc {

std::optional<int> status_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i)
    if (kStatusNames[i] == name) return static_cast<int>(i);
  return std::nullopt;
}

bool is_grpc_content_type(std::string_view ct) {
  constexpr std::string_view base = "application/grpc";
  if (ct.size() < base.size()) return false;
  for (std::size_t i = 0; i < base.size(); ++i) {
    char c = ct[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != base[i]) return false;
  }
  return ct.size() == base.size() || ct[base.size()] == '+' || ct[base.size()] == ';';
}

std::optional<int> parse_status(std::string_view v) {
  if (v.empty() || v.size() > 9) return std::nullopt;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n > 16 ? static_cast<int>(unknown) : n;
}

std::optional<std::chrono::nanoseconds> parse_timeout(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  std::int64_t n = 0;
  for (std::size_t i = 0; i + 1 < v.size(); ++i) {
    char c = v[i];
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  using namespace std::chrono;
  switch (v.back()) {
    case 'H': return duration_cast<nanoseconds>(hours(n));
    case 'M': return duration_cast<nanoseconds>(minutes(n));
    case 'S': return duration_cast<nanoseconds>(seconds(n));
    case 'm': return duration_cast<nanoseconds>(milliseconds(n));
    case 'u': return duration_cast<nanoseconds>(microseconds(n));
    case 'n': return nanoseconds(n);
    default: return std::nullopt;
  }
}

std::string format_timeout(std::chrono::nanoseconds left) {
  using namespace std::chrono;
  if (left < nanoseconds(1)) left = nanoseconds(1);
  auto n = static_cast<std::uint64_t>(left.count());
  constexpr std::uint64_t kMax = 99'999'999;
  struct Unit {
    std::uint64_t ns;
    char c;
  };
  // The finest unit that fits in 8 digits, rounded up so the deadline never grows.
  static constexpr Unit units[] = {{1, 'n'}, {1'000, 'u'}, {1'000'000, 'm'}, {1'000'000'000, 'S'},
                                   {60'000'000'000ull, 'M'}, {3'600'000'000'000ull, 'H'}};
  for (auto u : units) {
    std::uint64_t v = (n + u.ns - 1) / u.ns;
    if (v <= kMax) return std::to_string(v) + u.c;
  }
  return std::to_string(kMax) + 'H';
}

std::optional<std::chrono::milliseconds> parse_pushback(std::string_view v) {
  if (v.empty() || v.size() > 10) return std::nullopt;
  std::int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return std::chrono::milliseconds(n);
}

std::string percent_encode(std::string_view m) {
  std::string out;
  out.reserve(m.size());
  for (unsigned char c : m) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out.append(b, 3);
    }
  }
  return out;
}

bool is_storable_status(int s) {
  switch (s) {
    case ok: case invalid_argument: case not_found: case already_exists: case permission_denied:
    case failed_precondition: case out_of_range: case unimplemented: case unauthenticated:
      return true;
    default:
      return false;
  }
}

}  // namespace breakwater::http::grpc

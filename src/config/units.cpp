#include "breakwater/config/units.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace breakwater::config {
namespace {

// Splits "12.5ms" into 12.5 and "ms"; digits with at most one dot.
std::optional<std::pair<double, std::string_view>> split_number(std::string_view s) {
  std::size_t i = 0;
  bool dot = false;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && !dot))) {
    dot = dot || s[i] == '.';
    ++i;
  }
  if (i == 0 || s[0] == '.' || s[i - 1] == '.') return std::nullopt;
  double v = 0;
  auto num = s.substr(0, i);
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc{} || p != num.data() + num.size() || !std::isfinite(v)) return std::nullopt;
  return std::pair{v, s.substr(i)};
}

}  // namespace

std::string HostPort::str() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace {

constexpr double kMaxDurationNs = 1e18;  // ~31 years; beyond is a typo
constexpr double kMaxSizeBytes = 1e15;

// The value in nanoseconds, unbounded; nullopt when malformed.
std::optional<double> duration_ns(std::string_view s) {
  auto parts = split_number(s);
  if (!parts) return std::nullopt;
  auto [v, unit] = *parts;
  constexpr std::array<std::pair<std::string_view, double>, 6> units{{
      {"ns", 1.0}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}}};
  for (auto& [name, ns] : units)
    if (unit == name) return v * ns;
  return std::nullopt;
}

// The value in bytes, unbounded; nullopt when malformed.
std::optional<double> size_bytes(std::string_view s) {
  auto parts = split_number(s);
  if (!parts) return std::nullopt;
  auto [v, unit] = *parts;
  constexpr std::array<std::pair<std::string_view, double>, 7> units{{{"B", 1.0},
                                                                      {"KiB", 1024.0},
                                                                      {"MiB", 1048576.0},
                                                                      {"GiB", 1073741824.0},
                                                                      {"KB", 1e3},
                                                                      {"MB", 1e6},
                                                                      {"GB", 1e9}}};
  for (auto& [name, mult] : units)
    if (unit == name) return v * mult;
  return std::nullopt;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view s) {
  auto total = duration_ns(s);
  if (!total || *total > kMaxDurationNs) return std::nullopt;
  return std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(std::llround(*total)));
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
  auto total = size_bytes(s);
  if (!total || *total > kMaxSizeBytes) return std::nullopt;
  return static_cast<std::uint64_t>(std::llround(*total));
}

bool duration_out_of_range(std::string_view s) {
  auto total = duration_ns(s);
  return total && *total > kMaxDurationNs;
}

bool size_out_of_range(std::string_view s) {
  auto total = size_bytes(s);
  return total && *total > kMaxSizeBytes;
}


std::optional<HostPort> parse_host_port(std::string_view s) {
  HostPort hp;
  std::string_view port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return std::nullopt;
    hp.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos || s.find(':') != colon) return std::nullopt;
    hp.host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
  }
  if (hp.host.empty() || port.empty() || port.size() > 5) return std::nullopt;
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p > 65535) return std::nullopt;
  for (char c : hp.host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':';
    if (!ok) return std::nullopt;
  }
  hp.port = static_cast<std::uint16_t>(p);
  return hp;
}

const UpstreamConfig* Config::find_upstream(std::string_view name) const {
  for (auto& u : upstreams)
    if (u.name == name) return &u;
  return nullptr;
}

const ListenerConfig* Config::find_listener(std::string_view name) const {
  for (auto& l : listeners)
    if (l.name == name) return &l;
  return nullptr;
}

}  // namespace breakwater::config

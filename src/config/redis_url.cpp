#include "breakwater/config/redis_url.hpp"

namespace breakwater::config {
namespace {

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool parse_uint(std::string_view s, unsigned long max, unsigned long& out) {
  if (s.empty() || s.size() > 10) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<unsigned long>(c - '0');
  }
  return out <= max;
}

}  // namespace

std::optional<RedisUrl> parse_redis_url(std::string_view url) {
  RedisUrl u;
  if (url.rfind("redis://", 0) == 0) {
    url.remove_prefix(8);
  } else if (url.rfind("rediss://", 0) == 0) {
    u.tls = true;
    url.remove_prefix(9);
  } else {
    return std::nullopt;
  }
  auto slash = url.find('/');
  auto authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto db = url.substr(slash + 1);
    unsigned long n = 0;
    if (!db.empty()) {
      if (!parse_uint(db, 1'000'000, n)) return std::nullopt;
      u.db = static_cast<int>(n);
    }
  }
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    auto info = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    auto colon = info.find(':');
    auto user = percent_decode(info.substr(0, colon));
    auto pass = percent_decode(colon == std::string_view::npos ? std::string_view{} : info.substr(colon + 1));
    if (!user || !pass) return std::nullopt;
    if (colon == std::string_view::npos) {
      u.password = *user;  // redis://secret@host: a bare password
    } else {
      u.user = *user;
      u.password = *pass;
    }
  }
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  u.host = std::string(host);
  if (!port.empty()) {
    unsigned long p = 0;
    if (!parse_uint(port, 65535, p) || p == 0) return std::nullopt;
    u.port = static_cast<std::uint16_t>(p);
  }
  return u;
}

std::optional<std::vector<RedisUrl>> parse_redis_hosts(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  auto scheme = url.substr(0, scheme_end + 3);
  auto rest = url.substr(scheme_end + 3);
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  auto path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  auto at = authority.rfind('@');
  auto userinfo = at == std::string_view::npos ? std::string_view{} : authority.substr(0, at + 1);
  auto hosts = at == std::string_view::npos ? authority : authority.substr(at + 1);
  std::vector<RedisUrl> out;
  for (;;) {
    auto comma = hosts.find(',');
    auto one = parse_redis_url(std::string(scheme) + std::string(userinfo) + std::string(hosts.substr(0, comma)) +
                               std::string(path));
    if (!one) return std::nullopt;
    out.push_back(std::move(*one));
    if (comma == std::string_view::npos) break;
    hosts.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace breakwater::config

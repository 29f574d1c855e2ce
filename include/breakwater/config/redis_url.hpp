#pragma once
// redis://[user:password@]host:port[/db] and rediss:// (TLS).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace breakwater::config {

struct RedisUrl {
  bool tls = false;
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string user;      // empty: AUTH with the password alone
  std::string password;  // empty: no AUTH
  int db = 0;
};

[[nodiscard]] std::optional<RedisUrl> parse_redis_url(std::string_view url);

}  // namespace breakwater::config

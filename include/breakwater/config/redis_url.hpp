#pragma once
// redis://[user:password@]host:port[/db] and rediss:// (TLS).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
// redis://[user:password@]h1:p1,h2:p2[/db] (cluster seeds, sentinels): one
// RedisUrl per host, each with the scheme, credentials and db; a single host is a list of one.
[[nodiscard]] std::optional<std::vector<RedisUrl>> parse_redis_hosts(std::string_view url);

}  // namespace breakwater::config

#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "breakwater/policy/time.hpp"

namespace breakwater::policy {

struct IdempotencySettings {
  std::string header = "idempotency-key";  // lower-case
  std::vector<std::string> methods{"POST", "PATCH"};
  Duration ttl = std::chrono::hours(24);
  bool required = false;
  std::string scope_header;                 // lower-case; empty: one shared scope
  std::optional<Duration> lock_timeout;     // unset: route timeout + 5s
  std::uint64_t max_response = 1024 * 1024;
  Mode mode = Mode::enforce;
  bool operator==(const IdempotencySettings&) const = default;
};

}  // namespace breakwater::policy

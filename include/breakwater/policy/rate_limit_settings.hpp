#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "breakwater/policy/time.hpp"

namespace breakwater::policy {

// One part of a rate-limit descriptor.
struct DescriptorPart {
  enum class Kind { client_ip, header, route } kind = Kind::client_ip;
  std::string header;  // lower-case header name when kind == header
  bool operator==(const DescriptorPart&) const = default;
};

struct RateLimitSettings {
  double rate = 0;                                  // required
  Duration per = std::chrono::seconds(1);
  std::optional<double> burst;                      // unset: rate
  std::vector<DescriptorPart> key{DescriptorPart{}};  // client_ip
  Mode mode = Mode::enforce;
  std::optional<double> local_rate;                 // on_error = "local": this instance's own rate (unset: rate)
  [[nodiscard]] double bucket() const { return burst ? *burst : rate; }
  bool operator==(const RateLimitSettings&) const = default;
};

}  // namespace breakwater::policy

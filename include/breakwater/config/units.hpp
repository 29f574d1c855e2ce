#pragma once
// Duration ("250ms", "2s", "5m", "24h") and size ("64KiB", "1MiB") strings.
#include <cstdint>
#include <optional>
#include <string_view>

#include "breakwater/config/model.hpp"

namespace breakwater::config {

// Durations up to 1e18ns (about 31.7 years) and sizes up to 1e15 bytes, so any
// sum or product the proxy makes of them stays far inside 64 bits.
[[nodiscard]] std::optional<Duration> parse_duration(std::string_view s);
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view s);
inline constexpr std::string_view kMaxDurationText = "1e18ns (about 31 years, \"277777h\")";
inline constexpr std::string_view kMaxSizeText = "1e15 bytes (\"1000000GB\")";
// Well-formed, but beyond those bounds.
[[nodiscard]] bool duration_out_of_range(std::string_view s);
[[nodiscard]] bool size_out_of_range(std::string_view s);
// "host:port" or "[v6]:port"; the port is required.
[[nodiscard]] std::optional<HostPort> parse_host_port(std::string_view s);

}  // namespace breakwater::config

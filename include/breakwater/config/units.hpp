#pragma once
// Duration ("250ms", "2s", "5m", "24h") and size ("64KiB", "1MiB") strings.
#include <cstdint>
#include <optional>
#include <string_view>

#include "breakwater/config/model.hpp"

namespace breakwater::config {

[[nodiscard]] std::optional<Duration> parse_duration(std::string_view s);
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view s);
// "host:port" or "[v6]:port"; the port is required.
[[nodiscard]] std::optional<HostPort> parse_host_port(std::string_view s);

}  // namespace breakwater::config

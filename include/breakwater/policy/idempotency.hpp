#pragma once
// Idempotency-Key parsing: 1 to 255 visible ASCII characters, bare or as an
// RFC 8941 string ("abc" is the key abc).
#include <optional>
#include <string_view>

namespace breakwater::policy {

[[nodiscard]] std::optional<std::string_view> parse_idempotency_key(std::string_view header_value);

}  // namespace breakwater::policy

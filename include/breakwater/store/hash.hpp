#pragma once
// Lower-case hex digests (OpenSSL).
#include <string>
#include <string_view>

namespace breakwater::store {

[[nodiscard]] std::string sha256_hex(std::string_view data);
[[nodiscard]] std::string sha1_hex(std::string_view data);

}  // namespace breakwater::store

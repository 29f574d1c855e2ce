#include "breakwater/policy/idempotency.hpp"

namespace breakwater::policy {

std::optional<std::string_view> parse_idempotency_key(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    v = v.substr(1, v.size() - 2);
    // An sf-string may escape only DQUOTE and backslash; keep it simple and refuse escapes and quotes.
    for (char c : v)
      if (c == '"' || c == '\\') return std::nullopt;
  }
  if (v.empty() || v.size() > 255) return std::nullopt;
  for (unsigned char c : v)
    if (c < 0x21 || c > 0x7e) return std::nullopt;
  return v;
}

}  // namespace breakwater::policy

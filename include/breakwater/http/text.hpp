#pragma once
// Small ASCII helpers for header names and tokens (HTTP is case-insensitive ASCII).
#include <cstdint>
#include <string>
#include <string_view>

namespace breakwater::http {

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

namespace detail {
constexpr bool tchar_slow(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}
struct TcharTable {
  bool v[256];
  constexpr TcharTable() : v() {
    for (int i = 0; i < 256; ++i) v[i] = tchar_slow(static_cast<unsigned char>(i));
  }
};
inline constexpr TcharTable kTchar{};
}  // namespace detail

// RFC 9110 token characters.
constexpr bool is_tchar(unsigned char c) { return detail::kTchar.v[c]; }

inline std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_lower(c);
  return out;
}

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(token) for each comma-separated element of a header value, trimmed, non-empty.
template <class F>
void for_each_list_item(std::string_view v, F&& f) {
  while (!v.empty()) {
    auto comma = v.find(',');
    auto item = trim_ows(v.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

// Appends the decimal form of v.
inline void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) out.push_back(buf[--n]);
}

// The standard reason phrase of a status code ("Too Many Requests").
std::string_view reason_phrase(int status);

}  // namespace breakwater::http

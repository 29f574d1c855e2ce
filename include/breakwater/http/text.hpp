#pragma once
// Small ASCII helpers for header names and tokens (HTTP is case-insensitive ASCII).
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

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

// A lower-case ASCII literal as a template argument: iequals_to<"content-length">(name).
template <std::size_t N>
struct Lit {
  char s[N];
  constexpr Lit(const char (&a)[N]) {  // NOLINT: implicit, so "..." converts
    for (std::size_t i = 0; i < N; ++i) s[i] = a[i];
  }
  static constexpr std::size_t size = N - 1;
};

namespace detail {
// L as little-endian words, the last one overlapping so that it ends where L
// ends, with masks that fold case: 0x20 on the letters only, so that
// `(load | mask) == word` is exact ASCII case-insensitive equality (a
// non-letter must match byte for byte).
template <Lit L>
struct LitWords {
  static constexpr std::size_t n = L.size;
  static constexpr std::size_t width = n < 8 ? n : 8;
  static constexpr std::size_t count = n <= 8 ? 1 : (n + 7) / 8;
  static constexpr std::size_t offset(std::size_t i) { return i + 1 < count ? i * 8 : n - width; }
  static constexpr std::uint64_t word(std::size_t i, bool mask) {
    std::uint64_t w = 0;
    for (std::size_t k = 0; k < width; ++k) {
      char c = L.s[offset(i) + k];
      std::uint64_t b = mask ? (c >= 'a' && c <= 'z' ? 0x20 : 0) : static_cast<unsigned char>(c);
      w |= b << (8 * k);
    }
    return w;
  }
  static constexpr bool lower() {
    for (std::size_t k = 0; k < n; ++k)
      if (L.s[k] >= 'A' && L.s[k] <= 'Z') return false;
    return true;
  }
};
inline std::uint64_t load_n(const char* p, std::size_t n) {
  std::uint64_t w = 0;
  std::memcpy(&w, p, n);
  return w;
}
}  // namespace detail

// iequals(s, L) for a lower-case literal L, a word at a time (header names).
template <Lit L>
inline bool iequals_to(std::string_view s) {
  using W = detail::LitWords<L>;
  static_assert(W::lower(), "iequals_to compares with a lower-case literal");
  if (s.size() != W::n) return false;
  if constexpr (std::endian::native != std::endian::little || W::n == 0) {
    return iequals(s, std::string_view(L.s, W::n));
  } else {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return (((detail::load_n(s.data() + W::offset(I), W::width) | std::integral_constant<std::uint64_t, W::word(I, true)>::value) ==
               std::integral_constant<std::uint64_t, W::word(I, false)>::value) &&
              ...);
    }(std::make_index_sequence<W::count>{});
  }
}

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

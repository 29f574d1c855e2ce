#include "breakwater/http/message.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "breakwater/http/text.hpp"

namespace breakwater::http {

namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// reg-name bytes but '%': unreserved and sub-delims (RFC 3986 §3.2.2).
struct RegNameTable {
  bool v[256];
  constexpr RegNameTable() : v() {
    for (int c = 0; c < 256; ++c)
      v[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             std::string_view("-._~!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos;
  }
};
inline constexpr RegNameTable kRegName{};

bool valid_ipv6(std::string_view h) {
  char buf[64];
  if (h.empty() || h.size() >= sizeof buf) return false;
  std::memcpy(buf, h.data(), h.size());
  buf[h.size()] = '\0';
  in6_addr addr{};
  return inet_pton(AF_INET6, buf, &addr) == 1;
}

}  // namespace

bool valid_authority(std::string_view a) {
  std::string_view port;
  bool has_port = false;
  if (!a.empty() && a.front() == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos || !valid_ipv6(a.substr(1, close - 1))) return false;
    auto rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      has_port = true;
    }
  } else {
    // A reg-name (an IPv4 address is one too) up to the first ':', in one pass.
    std::size_t i = 0;
    while (i < a.size()) {
      char c = a[i];
      if (kRegName.v[static_cast<unsigned char>(c)]) {
        ++i;
      } else if (c == '%' && i + 2 < a.size() && is_hex(a[i + 1]) && is_hex(a[i + 2])) {
        i += 3;
      } else {
        break;
      }
    }
    if (i == 0) return false;
    if (i < a.size()) {
      if (a[i] != ':') return false;
      port = a.substr(i + 1);
      has_port = true;
    }
  }
  if (!has_port) return true;
  if (port.empty() || port.size() > 5) return false;
  unsigned n = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n <= 65535;
}

void RequestHead::clear() {
  method = target = host = {};
  version_minor = 1;
  headers.clear();
  body = BodyKind::none;
  content_length = 0;
  keep_alive = true;
  expect_continue = false;
  has_connection_tokens = false;
}

std::string_view RequestHead::header(std::string_view name) const {
  for (auto& h : headers)
    if (iequals(h.name, name)) return h.value;
  return {};
}

const Header* RequestHead::find(std::string_view name) const {
  for (auto& h : headers)
    if (iequals(h.name, name)) return &h;
  return nullptr;
}

void ResponseHead::clear() {
  version_minor = 1;
  status = 0;
  reason = {};
  headers.clear();
  body = BodyKind::none;
  content_length = 0;
  keep_alive = true;
  chunked_framing = false;
  other_codings = false;
}

std::string_view ResponseHead::header(std::string_view name) const {
  for (auto& h : headers)
    if (iequals(h.name, name)) return h.value;
  return {};
}

}  // namespace breakwater::http

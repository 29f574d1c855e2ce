#include "breakwater/policy/idempotency.hpp"

namespace breakwater::policy {

std::optional<std::string_view> parse_idempotency_key(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    v = v.substr(1, v.size() - 2);
    // An sf-string may hold escaped quotes and backslashes; a key never needs them.
    for (char c : v)
      if (c == '"' || c == '\\') return std::nullopt;
  }
  if (v.empty() || v.size() > 255) return std::nullopt;
  for (unsigned char c : v)
    if (c < 0x21 || c > 0x7e) return std::nullopt;
  return v;
}

bool is_cacheable_status(int s) {
  if (s >= 200 && s < 300) return true;
  return s >= 400 && s < 500 && s != 408 && s != 409 && s != 425 && s != 429;
}

std::string fingerprint_input(std::string_view method, std::string_view path_query, std::string_view body) {
  std::string out;
  out.reserve(method.size() + path_query.size() + body.size() + 64);
  for (auto part : {method, path_query, body}) {
    out.append(std::to_string(part.size())).push_back(':');
    out.append(part);
  }
  return out;
}

std::string encode(const StoredResponse& r) {
  std::string out = std::to_string(r.status);
  out.push_back('\n');
  for (auto& [n, v] : r.headers) out.append(n).append(":").append(v).append("\n");
  for (auto& [n, v] : r.trailers) out.append("\x01").append(n).append(":").append(v).append("\n");
  out.push_back('\n');
  out.append(r.body);
  return out;
}

std::optional<StoredResponse> decode(std::string_view s) {
  StoredResponse r;
  auto nl = s.find('\n');
  if (nl == std::string_view::npos || nl != 3) return std::nullopt;
  for (int i = 0; i < 3; ++i) {
    if (s[static_cast<std::size_t>(i)] < '0' || s[static_cast<std::size_t>(i)] > '9') return std::nullopt;
    r.status = r.status * 10 + (s[static_cast<std::size_t>(i)] - '0');
  }
  if (r.status < 100 || r.status > 599) return std::nullopt;
  s.remove_prefix(nl + 1);
  for (;;) {
    nl = s.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    auto line = s.substr(0, nl);
    s.remove_prefix(nl + 1);
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    if (line.front() == '\x01') {
      if (colon == 1) return std::nullopt;
      r.trailers.emplace_back(std::string(line.substr(1, colon - 1)), std::string(line.substr(colon + 1)));
      continue;
    }
    r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
  }
  r.body = std::string(s);
  return r;
}

}  // namespace breakwater::policy

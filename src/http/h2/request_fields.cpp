#include "breakwater/http/h2/request_fields.hpp"

namespace breakwater::http::h2 {

void RequestFields::add(std::string_view name, std::string_view value, bool trailer) {
  bytes_ += name.size() + value.size() + 32;
  if (bytes_ > kMaxHeaderList) {
    too_large_ = true;
    return;
  }
  if (trailer) return;  // request trailers are not forwarded
  if (!name.empty() && name.front() == ':') {
    if (name == ":method") method_.assign(value);
    else if (name == ":scheme") scheme_.assign(value);
    else if (name == ":authority") authority_.assign(value);
    else if (name == ":path") path_.assign(value);
    return;
  }
  if (name == "cookie") {  // cookie crumbs are joined for HTTP/1.1 (RFC 9113 §8.2.3)
    if (!cookie_.empty()) cookie_.append("; ");
    cookie_.append(value);
    return;
  }
  if (name == "host") {
    if (authority_.empty()) authority_.assign(value);
    return;  // :authority wins; Host goes upstream from it
  }
  fields_.emplace_back(std::string(name), std::string(value));
}

void RequestFields::fill(RequestHead& h, bool ended) {
  h.clear();
  h.method = method_;
  h.target = path_;
  h.version_minor = 1;
  h.host = authority_;
  h.keep_alive = true;
  if (!cookie_.empty()) {
    fields_.emplace_back("cookie", std::move(cookie_));
    cookie_.clear();
  }
  h.headers.reserve(fields_.size());
  for (auto& [n, v] : fields_) h.headers.push_back({n, v});
  auto cl = h.header("content-length");
  if (ended) {
    h.body = BodyKind::none;
  } else if (!cl.empty()) {
    h.body = BodyKind::length;
    std::uint64_t n = 0;
    for (char c : cl) {
      if (c < '0' || c > '9' || n > (UINT64_MAX - 9) / 10) {  // nghttp2 checked it; stay safe anyway
        h.body = BodyKind::chunked;
        n = 0;
        break;
      }
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    h.content_length = n;
  } else {
    h.body = BodyKind::chunked;  // length unknown until END_STREAM
  }
}

}  // namespace breakwater::http::h2

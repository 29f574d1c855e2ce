#pragma once
// Protocol-neutral message heads: what a codec (HTTP/1.1 today, HTTP/2 next)
// makes of a request or a response, and what the pipeline reads.
#include <cstdint>
#include <string_view>
#include <vector>

namespace breakwater::http {

struct Header {
  std::string_view name;   // as sent
  std::string_view value;  // OWS trimmed
};

enum class BodyKind : std::uint8_t { none, length, chunked, until_close };

struct RequestHead {
  std::string_view method;
  std::string_view target;
  int version_minor = 1;
  std::vector<Header> headers;
  BodyKind body = BodyKind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
  bool has_connection_tokens = false;  // Connection names other headers
  std::string_view host;               // the Host header, if any
  void clear();
  [[nodiscard]] std::string_view header(std::string_view name) const;  // first, or empty
  [[nodiscard]] const Header* find(std::string_view name) const;        // first, or null
};

struct ResponseHead {
  int version_minor = 1;
  int status = 0;
  std::string_view reason;
  std::vector<Header> headers;
  BodyKind body = BodyKind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = true;
  bool chunked_framing = false;  // Transfer-Encoding ends in chunked (also on a HEAD answer)
  bool other_codings = false;    // Transfer-Encoding names codings besides chunked (gzip, chunked)
  void clear();
  [[nodiscard]] std::string_view header(std::string_view name) const;
};

// host[:port] as RFC 3986 §3.2.2 spells it: a reg-name (unreserved, sub-delims,
// %HH), an IPv4 address or an [IPv6] literal, then optionally ':' and 1-5 digits
// up to 65535. What a Host header and an absolute-form authority must be.
[[nodiscard]] bool valid_authority(std::string_view authority);

}  // namespace breakwater::http

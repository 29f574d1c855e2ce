#pragma once
// Strict HTTP/1.1 message heads and chunked framing. Pure: bytes in, verdicts out.
// A proxy that reads a request differently from the server behind it lets
// attackers smuggle requests, so every ambiguity is an error here.
#include <cstdint>
#include <string_view>
#include <vector>

namespace breakwater::http {

struct Header {
  std::string_view name;   // as sent
  std::string_view value;  // OWS trimmed
};

enum class BodyKind : std::uint8_t { none, length, chunked, until_close };

// Why a head was refused; `none` means it parsed.
enum class WireError : std::uint8_t {
  none,
  request_line,
  bare_lf,
  bare_cr,
  obs_fold,
  space_before_colon,
  bad_header_name,
  bad_header_value,
  bad_content_length,
  duplicate_content_length,
  bad_transfer_encoding,
  length_and_chunked,
  missing_host,
  duplicate_host,
  bad_host,
  fragment,
  status_line,
};
std::string_view describe(WireError e);

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

// Length of the head (through its blank line) once `buf` holds all of it, else 0.
// `scanned` remembers progress across calls so a slow sender costs O(n) overall.
std::size_t find_head_end(std::string_view buf, std::size_t& scanned);

// `head` is exactly what find_head_end measured. Views point into `head`.
WireError parse_request_head(std::string_view head, RequestHead& out);
// `head_request`: the response answers a HEAD request (no body whatever it says).
WireError parse_response_head(std::string_view head, bool head_request, ResponseHead& out);

// Incremental chunked decoder. Feed it bytes; it reports how many it consumed and
// the decoded data among them (at most one span per call).
class ChunkedDecoder final {
 public:
  enum class Status { need_more, data, done, error };
  struct Step {
    Status status;
    std::size_t consumed;
    std::string_view data;  // when status == data
  };
  Step next(std::string_view in);
  [[nodiscard]] bool done() const { return state_ == State::done; }
  void reset() { *this = ChunkedDecoder{}; }

 private:
  enum class State { size, data, data_crlf, trailer, done };
  State state_ = State::size;
  std::uint64_t remaining_ = 0;
};

}  // namespace breakwater::http

#pragma once
// Strict HTTP/1.1 message heads and chunked framing. Pure: bytes in, verdicts out.
// A proxy that reads a request differently from the server behind it lets
// attackers smuggle requests, so every ambiguity is an error here.
#include <cstdint>
#include <string_view>
#include <vector>

#include "breakwater/http/message.hpp"

namespace breakwater::http::h1 {

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

// Length of the head (through its blank line) once `buf` holds all of it, else 0.
// `scanned` remembers progress across calls so a slow sender costs O(n) overall.
std::size_t find_head_end(std::string_view buf, std::size_t& scanned);

// `head` is exactly what find_head_end measured. Views point into `head`.
WireError parse_request_head(std::string_view head, RequestHead& out);
// `head_request`: the response answers a HEAD request (no body whatever it says).
WireError parse_response_head(std::string_view head, bool head_request, ResponseHead& out);

namespace detail {
// The line-by-line readings that name the error. parse_*_head() read a head in one
// pass and hand it to these whenever that pass meets anything unusual, so these
// decide every refusal; the fuzzer holds the two readings to the same results.
WireError parse_request_head_reference(std::string_view head, RequestHead& out);
WireError parse_response_head_reference(std::string_view head, bool head_request, ResponseHead& out);
}  // namespace detail

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

}  // namespace breakwater::http::h1

#pragma once
// The one writer of HTTP/1.1 message heads: request lines, status lines and
// header lines, CRLF-framed. Every head breakwater sends over HTTP/1.1 (to
// upstreams, to clients, from the admin listener) is written through it.
#include <cstdint>
#include <string>
#include <string_view>

#include "breakwater/http/fields.hpp"

namespace breakwater::http::h1 {

class HeadWriter final {
 public:
  explicit HeadWriter(std::string& out) : out_(out) {}
  // "HTTP/1.x STATUS REASON"; an empty reason is the standard phrase.
  HeadWriter& status_line(int version_minor, int status, std::string_view reason = {});
  // "METHOD TARGET HTTP/1.1" (a target starting with '?' gets its '/').
  HeadWriter& request_line(std::string_view method, std::string_view target);
  HeadWriter& field(std::string_view name, std::string_view value) {
    out_.append(name).append(": ").append(value).append("\r\n");
    return *this;
  }
  HeadWriter& field(std::string_view name, std::uint64_t value);
  // A list field, "prior, last", or just "last" when `prior` is empty.
  HeadWriter& field_list(std::string_view name, std::string_view prior, std::string_view last) {
    out_.append(name).append(": ");
    if (!prior.empty()) out_.append(prior).append(", ");
    out_.append(last).append("\r\n");
    return *this;
  }
  HeadWriter& fields(const Fields& f) {
    for (auto x : f) field(x.name, x.value);
    return *this;
  }
  // Connection handling for a client of `version_minor`: close, or keep-alive said
  // out loud to an HTTP/1.0 client (1.1 keeps alive by default).
  HeadWriter& connection(bool keep_alive, int version_minor) {
    if (!keep_alive) return field("Connection", "close");
    if (version_minor == 0) return field("Connection", "keep-alive");
    return *this;
  }
  void end() { out_.append("\r\n"); }
  std::string& out() { return out_; }

 private:
  std::string& out_;
};

}  // namespace breakwater::http::h1

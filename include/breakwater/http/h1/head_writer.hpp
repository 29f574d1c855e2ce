#pragma once
// The one writer of HTTP/1.1 message heads: request lines, status lines and
// header lines, CRLF-framed. Every head breakwater sends over HTTP/1.1 (to
// upstreams, to clients, from the admin listener) is written through it.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "breakwater/http/fields.hpp"

namespace breakwater::http::h1 {

class HeadWriter final {
 public:
  // Appends to `out` call by call.
  explicit HeadWriter(std::string& out) : out_(out) {}
  // Sizes `out` once for about `bound` more bytes, so that the writes copy straight
  // in (more is made when they need it). Until end(), `out` holds the unused rest
  // of that room at its tail; end() (or the destructor) cuts it off.
  HeadWriter(std::string& out, std::size_t bound) : out_(out) {
    auto at = out_.size();
    out_.resize(at + bound);
    cur_ = out_.data() + at;
    lim_ = out_.data() + out_.size();
  }
  HeadWriter(const HeadWriter&) = delete;
  HeadWriter& operator=(const HeadWriter&) = delete;
  ~HeadWriter() { close(); }

  // "HTTP/1.x STATUS REASON"; an empty reason is the standard phrase.
  HeadWriter& status_line(int version_minor, int status, std::string_view reason = {});
  // "METHOD TARGET HTTP/1.1" (a target starting with '?' gets its '/').
  HeadWriter& request_line(std::string_view method, std::string_view target);
  HeadWriter& field(std::string_view name, std::string_view value) {
    char* p = room(name.size() + value.size() + 4);
    p = put(p, name);
    *p++ = ':';
    *p++ = ' ';
    p = put(p, value);
    p[0] = '\r';
    p[1] = '\n';
    return *this;
  }
  HeadWriter& field(std::string_view name, std::uint64_t value);
  // A list field, "prior, last", or just "last" when `prior` is empty.
  HeadWriter& field_list(std::string_view name, std::string_view prior, std::string_view last) {
    char* p = room(name.size() + (prior.empty() ? 0 : prior.size() + 2) + last.size() + 4);
    p = put(p, name);
    *p++ = ':';
    *p++ = ' ';
    if (!prior.empty()) {
      p = put(p, prior);
      *p++ = ',';
      *p++ = ' ';
    }
    p = put(p, last);
    p[0] = '\r';
    p[1] = '\n';
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
  void end() {
    char* p = room(2);
    p[0] = '\r';
    p[1] = '\n';
    close();
  }
  std::string& out() { return out_; }

 private:
  // A copy without a call for the short strings heads are made of.
  static char* put(char* p, std::string_view s) {
    std::size_t n = s.size();
    const char* q = s.data();
    if (n >= 8 && n <= 16) {  // two words, overlapping in the middle
      std::uint64_t a, b;
      std::memcpy(&a, q, 8);
      std::memcpy(&b, q + n - 8, 8);
      std::memcpy(p, &a, 8);
      std::memcpy(p + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
      std::uint32_t a, b;
      std::memcpy(&a, q, 4);
      std::memcpy(&b, q + n - 4, 4);
      std::memcpy(p, &a, 4);
      std::memcpy(p + n - 4, &b, 4);
    } else if (n > 16 && n <= 32) {
      unsigned char a[16], b[16];
      std::memcpy(a, q, 16);
      std::memcpy(b, q + n - 16, 16);
      std::memcpy(p, a, 16);
      std::memcpy(p + n - 16, b, 16);
    } else if (n > 32) {
      std::memcpy(p, q, n);
    } else if (n) {  // 1 to 3
      p[0] = q[0];
      p[n / 2] = q[n / 2];
      p[n - 1] = q[n - 1];
    }
    return p + n;
  }
  // `n` bytes to write at the end of what is written so far.
  char* room(std::size_t n) {
    if (static_cast<std::size_t>(lim_ - cur_) < n) return grow(n);
    char* p = cur_;
    cur_ += n;
    return p;
  }
  char* grow(std::size_t n);
  void close() {
    if (lim_) {
      out_.resize(static_cast<std::size_t>(cur_ - out_.data()));
      cur_ = lim_ = nullptr;
    }
  }

  std::string& out_;
  // Sized once: the end of what is written and of the room made. Call by call:
  // both null, and every write makes its own room.
  char* cur_ = nullptr;
  char* lim_ = nullptr;
};

}  // namespace breakwater::http::h1

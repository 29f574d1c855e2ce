#include "breakwater/http/h1/head_writer.hpp"

#include <algorithm>

#include "breakwater/http/text.hpp"

namespace breakwater::http::h1 {

char* HeadWriter::grow(std::size_t n) {
  if (!lim_) {  // call by call: `out` may have grown in between
    auto at = out_.size();
    out_.resize(at + n);
    return out_.data() + at;
  }
  auto at = static_cast<std::size_t>(cur_ - out_.data());
  out_.resize(at + std::max<std::size_t>(n, 256));
  cur_ = out_.data() + at + n;
  lim_ = out_.data() + out_.size();
  return out_.data() + at;
}

namespace {
// The decimal digits of v, right-aligned in buf[24]; returns where they start.
char* digits(char* buf_end, std::uint64_t v) {
  char* p = buf_end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  return p;
}
}  // namespace

HeadWriter& HeadWriter::status_line(int version_minor, int status, std::string_view reason) {
  if (reason.empty()) reason = reason_phrase(status);
  if (status >= 100 && status <= 999) {  // every status but a strange one: three digits
    char* p = room(9 + 3 + 1 + reason.size() + 2);
    p = put(p, version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
    p[0] = static_cast<char>('0' + status / 100);
    p[1] = static_cast<char>('0' + status / 10 % 10);
    p[2] = static_cast<char>('0' + status % 10);
    p[3] = ' ';
    p = put(p + 4, reason);
    p[0] = '\r';
    p[1] = '\n';
    return *this;
  }
  char buf[24];
  char* d = digits(buf + sizeof buf, static_cast<std::uint64_t>(status));
  std::string_view code(d, static_cast<std::size_t>(buf + sizeof buf - d));
  char* p = room(9 + code.size() + 1 + reason.size() + 2);
  p = put(p, version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  p = put(p, code);
  *p++ = ' ';
  p = put(p, reason);
  p[0] = '\r';
  p[1] = '\n';
  return *this;
}

HeadWriter& HeadWriter::request_line(std::string_view method, std::string_view target) {
  bool slash = !target.empty() && target.front() == '?';
  char* p = room(method.size() + 1 + slash + target.size() + 11);
  p = put(p, method);
  *p++ = ' ';
  if (slash) *p++ = '/';
  p = put(p, target);
  put(p, " HTTP/1.1\r\n");
  return *this;
}

HeadWriter& HeadWriter::field(std::string_view name, std::uint64_t value) {
  char buf[24];
  char* d = digits(buf + sizeof buf, value);
  return field(name, std::string_view(d, static_cast<std::size_t>(buf + sizeof buf - d)));
}

}  // namespace breakwater::http::h1

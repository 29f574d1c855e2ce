#include "breakwater/http/h1/head_writer.hpp"

#include <charconv>

#include "breakwater/http/text.hpp"

namespace breakwater::http::h1 {

HeadWriter& HeadWriter::status_line(int version_minor, int status, std::string_view reason) {
  out_.append(version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_uint(out_, static_cast<std::uint64_t>(status));
  out_.push_back(' ');
  out_.append(reason.empty() ? reason_phrase(status) : reason).append("\r\n");
  return *this;
}

HeadWriter& HeadWriter::request_line(std::string_view method, std::string_view target) {
  out_.append(method).push_back(' ');
  if (!target.empty() && target.front() == '?') out_.push_back('/');
  out_.append(target).append(" HTTP/1.1\r\n");
  return *this;
}

HeadWriter& HeadWriter::field(std::string_view name, std::uint64_t value) {
  out_.append(name).append(": ");
  append_uint(out_, value);
  out_.append("\r\n");
  return *this;
}

}  // namespace breakwater::http::h1

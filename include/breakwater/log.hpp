#pragma once
// Operational logs (JSON lines on stderr) and the access log sink.
#include <exception>
#include <memory>
#include <string>
#include <string_view>

namespace breakwater {

// Appends s as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view s);
// RFC 3339 UTC with milliseconds, from the system clock.
std::string rfc3339_now();

// {"ts":...,"level":...,"msg":...} on stderr.
void log_info(std::string_view msg);
void log_warn(std::string_view msg);
void log_error(std::string_view msg);

// Where access log lines go: stderr, a file (appended), or nowhere.
// The completion of a detached coroutine: an escaped exception is logged, never fatal.
void log_exception(std::exception_ptr e);

class AccessLog final {
 public:
  static std::shared_ptr<AccessLog> open(const std::string& where);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  [[nodiscard]] bool enabled() const { return fd_ >= 0; }
  [[nodiscard]] const std::string& where() const { return where_; }
  void write(std::string_view line) const;  // one write(2) per line

 private:
  AccessLog(std::string where, int fd, bool owned) : where_(std::move(where)), fd_(fd), owned_(owned) {}
  std::string where_;
  int fd_;
  bool owned_;
};

}  // namespace breakwater

#include "breakwater/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace breakwater {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out.append("\\u00");
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else if (c >= 0x80) {
          // Bytes are not guaranteed to be UTF-8: escape them so the line stays valid JSON.
          out.append("\\u00");
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

std::string rfc3339_now() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

namespace {
void log(std::string_view level, std::string_view msg) {
  std::string line = "{\"ts\":\"" + rfc3339_now() + "\",\"level\":\"";
  line.append(level).append("\",\"msg\":");
  append_json_string(line, msg);
  line.append("}\n");
  [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
}
}  // namespace

void log_info(std::string_view msg) { log("info", msg); }
void log_warn(std::string_view msg) { log("warn", msg); }
void log_error(std::string_view msg) { log("error", msg); }

std::shared_ptr<AccessLog> AccessLog::open(const std::string& where) {
  if (where == "off") return std::shared_ptr<AccessLog>(new AccessLog(where, -1, false));
  if (where == "stderr") return std::shared_ptr<AccessLog>(new AccessLog(where, 2, false));
  int fd = ::open(where.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    log_error("cannot open access log " + where + "; logging access to stderr instead");
    return std::shared_ptr<AccessLog>(new AccessLog(where, 2, false));
  }
  return std::shared_ptr<AccessLog>(new AccessLog(where, fd, true));
}

AccessLog::~AccessLog() {
  if (owned_) ::close(fd_);
}

void AccessLog::write(std::string_view line) const {
  if (fd_ >= 0) [[maybe_unused]] auto n = ::write(fd_, line.data(), line.size());
}

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    log_error(std::string("unexpected error in a connection: ") + x.what());
  }
}

}  // namespace breakwater

#pragma once
// An HTTP/2 request's header block as nghttp2 hands it over, field by field,
// and what the pipeline reads of it (a RequestHead). nghttp2 has already
// applied RFC 9113 §8's checks; this keeps the 64 KiB list limit, joins cookie
// crumbs and maps :authority to Host. Pure: no I/O, no nghttp2.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "breakwater/http/message.hpp"

namespace breakwater::http::h2 {

// SETTINGS_MAX_HEADER_LIST_SIZE: larger header blocks are answered 431.
inline constexpr std::size_t kMaxHeaderList = 64 * 1024;

class RequestFields final {
 public:
  // One field of the request's header block (`trailer`: of its trailers, not forwarded).
  void add(std::string_view name, std::string_view value, bool trailer);
  // The block passed kMaxHeaderList (RFC 9113 §6.5.2's accounting: name + value + 32).
  [[nodiscard]] bool too_large() const { return too_large_; }
  // Fills `h` with views into this object; `ended`: END_STREAM came with the head
  // and no DATA (no body). A body of unknown length reads as chunked.
  void fill(RequestHead& h, bool ended);

 private:
  std::string method_, scheme_, authority_, path_, cookie_;
  std::vector<std::pair<std::string, std::string>> fields_;
  std::size_t bytes_ = 0;
  bool too_large_ = false;
};

}  // namespace breakwater::http::h2

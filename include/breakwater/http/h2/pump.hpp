#pragma once
// Drives one nghttp2 session over an io::Stream, for either side of a
// connection: the bytes read go to nghttp2_session_mem_recv, the frames
// nghttp2 has to send leave through nghttp2_session_mem_send, written in
// batches. One reader and one writer coroutine per connection; the owner's
// nghttp2 callbacks do the protocol work and call kick() after submitting.
#include <memory>
#include <string>
#include <string_view>

#include <nghttp2/nghttp2.h>

#include "breakwater/http/h2/options.hpp"

#include "breakwater/io/asio.hpp"
#include "breakwater/io/stream.hpp"

namespace breakwater::http::h2 {

// What a client sends first on a prior-knowledge connection (RFC 9113 §3.4).
inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";


class Pump final {
 public:
  Pump(io::Stream& stream, const net::any_io_executor& ex) : stream_(stream), ex_(ex) {}
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  // Runs the connection until it ends: the peer closed it, an I/O error, a fatal
  // protocol error, stop(), or nghttp2 wants neither to read nor to write.
  // `initial`: bytes already read from the connection (a detected preface).
  awaitable<void> run(nghttp2_session* session, std::string initial = {});
  // Bytes to write before anything nghttp2 produces (frames taken from it already).
  void write_first(std::string bytes) { first_ = std::move(bytes); }
  // Frames were submitted (or windows given back): write them.
  void kick();
  // Writes what is queued, then closes (a GOAWAY sent last).
  void finish();
  // Closes now.
  void stop();
  [[nodiscard]] bool ended() const { return ended_; }

 private:
  awaitable<void> reader(std::string initial);
  awaitable<void> writer();
  bool feed(const char* data, std::size_t n);

  io::Stream& stream_;
  net::any_io_executor ex_;
  nghttp2_session* ng_ = nullptr;
  Wake wake_;
  bool parked_ = false;
  bool ended_ = false;
  bool finishing_ = false;
  bool writing_ = false;  // the writer coroutine runs
  bool joined_ = false;   // run() waits for it in join_
  Wake join_;
  std::string wbuf_;
  std::string first_;
};

}  // namespace breakwater::http::h2

#pragma once
// HTTP/2 upstream connections: one nghttp2 client session per connection,
// driven by http::h2::Pump, carrying many streams at once (SPEC §9 "Upstream
// connections"). An H2Pool (per upstream, per worker) lends a stream on a
// shared connection; UpstreamStream wraps it so the proxy does not know
// which protocol it speaks.
#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "breakwater/http/fields.hpp"
#include "breakwater/http/forward.hpp"
#include "breakwater/http/h2/pump.hpp"
#include "breakwater/http/message.hpp"
#include "breakwater/io/asio.hpp"
#include "breakwater/io/stream.hpp"
#include "breakwater/io/watchdog.hpp"
#include "breakwater/policy/time.hpp"

namespace breakwater::upstream {

using policy::TimePoint;

struct UpstreamShared;
class UpstreamPool;
class H2Pool;
class H2Stream;
struct Opened;

// One connection: a slot of max_connections from before its connect until it is destroyed.
class H2Conn final : public std::enable_shared_from_this<H2Conn> {
 public:
  H2Conn(const net::any_io_executor& ex, std::shared_ptr<UpstreamShared> up, std::size_t endpoint, H2Pool* pool);
  ~H2Conn();
  H2Conn(const H2Conn&) = delete;
  H2Conn& operator=(const H2Conn&) = delete;

  enum class State : std::uint8_t { connecting, ready, closed };
  // Streams the server lets this connection carry now (its SETTINGS_MAX_CONCURRENT_STREAMS).
  [[nodiscard]] std::uint32_t limit() const;
  // Takes a new stream: ready, no GOAWAY (sent or received), room under the server's limit.
  [[nodiscard]] bool open_for_streams() const;
  // No new streams; closes once its streams are done (now, when there are none).
  void drain();

  io::Stream stream;
  http::h2::Pump pump;
  http::h2::SessionPtr ng;
  std::size_t endpoint;
  bool tls = false;
  State state = State::connecting;
  bool settings_seen = false;  // the server's first SETTINGS arrived
  bool goaway = false;         // no new streams on this connection
  bool closing = false;        // our GOAWAY is queued
  std::uint32_t active = 0;    // streams lent and not yet finished
  TimePoint idle_since{};
  std::vector<H2Stream*> streams;  // lent, for failing them when the connection ends
  H2Pool* pool;                    // null once the pool is gone

 private:
  std::shared_ptr<UpstreamShared> up_;
};

// One request/response exchange on an H2Conn.
class H2Stream final : public std::enable_shared_from_this<H2Stream> {
 public:
  H2Stream(std::shared_ptr<UpstreamPool> owner, std::shared_ptr<H2Conn> conn);
  ~H2Stream();
  H2Stream(const H2Stream&) = delete;
  H2Stream& operator=(const H2Stream&) = delete;

  void arm(TimePoint deadline);
  void disarm() { watchdog_.disarm(); }
  [[nodiscard]] bool timed_out() const { return timed_out_; }
  // Not processed by the server (REFUSED_STREAM, above a GOAWAY's last stream id, or
  // never sent): safe to send again on another connection.
  [[nodiscard]] bool refused() const;

  awaitable<std::tuple<error_code, std::size_t>> send_head(const http::RequestHead& req, const http::UpstreamRequest& up,
                                                          std::string_view body, bool end);
  awaitable<std::tuple<error_code, std::size_t>> send_body(std::span<const net::const_buffer> bufs, bool end);
  awaitable<error_code> send_trailers(const http::Fields& trailers);

  enum class Head : std::uint8_t { response, failed, malformed, refused };
  awaitable<Head> read_head();
  [[nodiscard]] const http::ResponseHead& head() const { return head_; }
  enum class Step : std::uint8_t { piece, end, error };
  awaitable<Step> next_body(std::string_view& piece);
  [[nodiscard]] const http::Fields& trailers() const { return trailers_; }
  // Done: an unfinished stream is reset with CANCEL; the connection stays.
  void finish();

  // nghttp2 callbacks (the connection's session calls them through these).
  void on_header(std::string_view name, std::string_view value);
  void on_headers_end(bool end_stream);
  void on_data(const std::uint8_t* data, std::size_t n);
  void on_end_stream();
  void on_close(std::uint32_t code);
  void on_headers_sent() { headers_sent_ = true; }
  // DATA frame payload: up to `length` bytes of the request body.
  long read_body(std::uint8_t* buf, std::size_t length, std::uint32_t* flags);
  // The connection ended under the stream.
  void on_conn_lost();

 private:
  awaitable<void> wait();
  void notify();
  void cancel();
  void detach();

  std::shared_ptr<UpstreamPool> owner_;  // keeps the pool (and its H2Pool) alive while lent
  std::shared_ptr<H2Conn> conn_;
  std::int32_t id_ = -1;
  io::Watchdog watchdog_;
  Wake waiter_;
  bool parked_ = false;
  bool timed_out_ = false;
  bool attached_ = true;
  // request side
  std::string out_;  // body bytes not yet framed (at most one read of the client's body)
  std::size_t out_off_ = 0;
  bool out_end_ = false;
  bool out_trailers_ = false;
  http::Fields trailers_out_;
  bool headers_sent_ = false;
  bool sent_any_body_ = false;
  // response side
  http::Fields block_;  // the header block being received
  int block_status_ = 0;
  std::size_t block_bytes_ = 0;
  bool block_bad_ = false;
  http::Fields head_fields_;
  http::ResponseHead head_;
  bool head_ready_ = false;
  bool malformed_ = false;
  http::Fields trailers_;
  std::string rbuf_;   // DATA received, not yet handed out
  std::string piece_;  // the piece handed out last (given back to the window on the next call)
  bool end_stream_ = false;
  bool closed_ = false;
  std::uint32_t close_code_ = 0;
};

class H2Pool final {
 public:
  H2Pool(net::any_io_executor ex, std::shared_ptr<UpstreamShared> up, UpstreamPool& owner);
  ~H2Pool();
  H2Pool(const H2Pool&) = delete;
  H2Pool& operator=(const H2Pool&) = delete;

  // A stream on a connection to `ep` with room, without suspending.
  bool take_stream(std::size_t ep, Opened& out);
  // Failing that: waits for a connection being opened, or opens one (within
  // max_connections; at the limit, waits for room on an open one), by `deadline`.
  awaitable<Opened> connect_stream(TimePoint deadline, std::size_t ep);
  void sweep(TimePoint now);
  void evict_one();
  [[nodiscard]] int idle_count() const { return idle_count_.load(std::memory_order_relaxed); }

  // From the connections and streams.
  void stream_done(H2Conn& c);
  void conn_ready(H2Conn& c);
  void conn_closed(H2Conn& c);
  void notify();

 private:
  awaitable<bool> wait(TimePoint deadline);  // false: the deadline passed
  bool take_any(std::size_t ep, bool any_endpoint, Opened& out);
  awaitable<bool> establish(std::shared_ptr<H2Conn> c, TimePoint deadline);
  void recount_idle();

  net::any_io_executor ex_;
  std::shared_ptr<UpstreamShared> up_;
  UpstreamPool& owner_;
  std::vector<std::shared_ptr<H2Conn>> conns_;
  std::vector<net::steady_timer*> waiters_;
  std::atomic<int> idle_count_{0};
};

}  // namespace breakwater::upstream

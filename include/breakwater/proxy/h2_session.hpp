#pragma once
// The HTTP/2 server side of one client connection (SPEC §9): nghttp2 turns the
// bytes into streams, and every stream runs through its own Pipeline, so a
// hundred requests of one connection are in flight at once.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "breakwater/http/h2/pump.hpp"
#include "breakwater/http/h2/request_fields.hpp"
#include "breakwater/io/watchdog.hpp"
#include "breakwater/proxy/pipeline.hpp"
#include "breakwater/server/server.hpp"

namespace breakwater::proxy {

class H2Connection;

// One request stream: what the client sent, what goes back, and its pipeline.
class H2Stream final : public ClientSide {
 public:
  H2Stream(H2Connection& c, std::int32_t id);

  // ClientSide
  awaitable<bool> read_body(Exchange& ex) override;
  awaitable<bool> read_rest_of_body(Exchange& ex) override;
  awaitable<bool> pump_body(Exchange& ex, upstream::UpstreamStream& s, bool& client_failed) override;
  awaitable<bool> respond(Exchange& ex, Reason r, std::string_view detail, int retry_after = 0) override;
  awaitable<bool> replay(Exchange& ex, const policy::StoredResponse& r) override;
  awaitable<bool> relay(Exchange& ex, upstream::UpstreamStream& s, TimePoint deadline) override;
  [[nodiscard]] std::string_view client_ip() const override;
  [[nodiscard]] std::string_view client_addr() const override;
  [[nodiscard]] std::string_view listener_name() const override;
  [[nodiscard]] std::string_view protocol(const Exchange&) const override { return "HTTP/2"; }
  [[nodiscard]] bool is_tls() const override;

  // nghttp2's side.
  void on_header(std::string_view name, std::string_view value, bool trailer);
  void on_data(const std::uint8_t* data, std::size_t n);
  void on_end_of_request();
  void on_close(std::uint32_t error_code);
  ssize_t read_out(std::uint8_t* buf, std::size_t length, std::uint32_t* flags);

  // The stream's life once its head arrived.
  static awaitable<void> run(std::shared_ptr<H2Stream> self);

  std::int32_t id;
  bool started = false;    // run() was spawned
  bool closed = false;     // nghttp2 closed the stream (answered, reset, or the connection ended)
  bool answered = false;   // the response went out whole (END_STREAM sent)
  bool too_large = false;  // the header block passed 64 KiB: 431

 private:
  friend class H2Connection;
  awaitable<void> serve();
  // Waits for request DATA (or its end, or the stream's close).
  awaitable<void> wait_in();
  // Hands request bytes back to the flow-control window once they were taken.
  void consumed(std::size_t n);
  // Submits the response head; `body`: DATA follows (through read_out).
  bool submit_head(int status, const http::Fields& fields, bool body);
  // Queues response DATA; waits while more than a window's worth is queued.
  awaitable<bool> send_data(std::string_view piece, bool end);
  void take_trailers(const http::Fields& t);
  void add_extra(http::Fields& fields, const Exchange& ex) const;

  H2Connection& conn_;
  std::shared_ptr<H2Connection> keep_;  // the connection lives as long as its streams
  http::h2::RequestFields request_;  // the request's header block as received
  // Request body: DATA received and not yet taken.
  std::string in_;
  bool in_end_ = false;
  Wake in_wake_;
  bool in_waiting_ = false;
  // Response DATA queued for nghttp2.
  std::string out_;
  std::size_t out_off_ = 0;
  bool out_end_ = false;
  bool out_deferred_ = false;
  Wake out_wake_;
  bool out_waiting_ = false;
  bool queued_all_ = false;  // the whole response is queued for nghttp2
  http::Fields trailers_;  // response trailers, lower-case names
  Exchange ex_;
  Pipeline pipeline_;
};

class H2Connection final : public std::enable_shared_from_this<H2Connection> {
 public:
  H2Connection(server::Server& server, server::Worker& worker, io::Stream& stream,
               std::shared_ptr<void> owner, std::string_view listener, std::string_view client_ip,
               std::string_view client_addr);
  ~H2Connection();

  // Serves the connection until it ends. `initial`: bytes already read (the preface).
  awaitable<void> run(std::string initial);
  // SIGTERM or the listener's removal: GOAWAY, streams in flight finish, then close.
  void drain();

  server::Server& server;
  server::Worker& worker;
  io::Stream& stream;
  std::string listener;
  std::string client_ip, client_addr;
  nghttp2_session* ng() const { return ng_.get(); }
  void kick() { pump_.kick(); }
  // A misbehaving client's frame (a reset, a refused stream, a protocol error, a
  // control-frame flood): past the budget, GOAWAY(ENHANCE_YOUR_CALM) and close.
  void glitch(int cost = 1);
  void control_frame();

 private:
  friend class H2Stream;
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_header(nghttp2_session*, const nghttp2_frame*, const std::uint8_t*, std::size_t,
                       const std::uint8_t*, std::size_t, std::uint8_t, void*);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t, const std::uint8_t*, std::size_t, void*);
  static int on_stream_close(nghttp2_session*, std::int32_t, std::uint32_t, void*);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_invalid_frame(nghttp2_session*, const nghttp2_frame*, int, void*);
  void stream_ended(std::int32_t id);
  void idle_check();
  void close_with(std::uint32_t error_code);

  std::shared_ptr<void> owner_;  // the connection's session object (owns `stream`)
  http::h2::SessionPtr ng_;
  http::h2::Pump pump_;
  std::map<std::int32_t, std::shared_ptr<H2Stream>> streams_;
  io::Watchdog idle_;
  policy::Duration idle_timeout_{};
  std::size_t max_streams_ = 100;  // the listener's max_concurrent_streams
  bool draining_ = false;
  bool calm_ = false;  // ENHANCE_YOUR_CALM sent
  // Token buckets against floods (nghttp2 1.52 has no glitch limiter of its own).
  double glitch_tokens_, control_tokens_;
  policy::TimePoint glitch_at_{}, control_at_{};
};

}  // namespace breakwater::proxy

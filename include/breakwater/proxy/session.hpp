#pragma once
// One client connection: reads requests in order, runs each through the request
// path, writes responses in order (so pipelined requests are answered in order).
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "breakwater/http/buffer.hpp"
#include "breakwater/http/forward.hpp"
#include "breakwater/io/asio.hpp"
#include "breakwater/io/stream.hpp"
#include "breakwater/io/watchdog.hpp"
#include "breakwater/upstream/pool.hpp"
#include "breakwater/http/message.hpp"
#include "breakwater/policy/idempotency.hpp"
#include "breakwater/proxy/exchange.hpp"
#include "breakwater/proxy/pipeline.hpp"
#include "breakwater/proxy/reason.hpp"
#include "breakwater/server/server.hpp"

namespace breakwater::proxy {

using server::ListenerHandle;

using policy::TimePoint;

// The HTTP/1.1 server side of one client connection: reads requests in order,
// runs each through the pipeline, writes responses in order.
class Session final : public std::enable_shared_from_this<Session>, public server::SessionHook, public ClientSide {
 public:
  Session(Server& server, Worker& worker, tcp::socket sock, std::shared_ptr<ListenerHandle> listener,
          std::shared_ptr<net::ssl::context> tls);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  static awaitable<void> run(std::shared_ptr<Session> self);
  // Drain or listener removal: close now when idle, else after the current response.
  void close_when_idle();
  [[nodiscard]] const std::shared_ptr<ListenerHandle>& listener() const { return listener_; }

 private:
  awaitable<void> serve();
  // Reads one request head (the header clock starts at its first byte); false when the connection should end.
  awaitable<bool> read_head(std::size_t& head_len, policy::Duration header_timeout);
  // ClientSide, for the pipeline.
  awaitable<bool> read_body(Exchange& ex) override;
  awaitable<bool> read_rest_of_body(Exchange& ex) override;
  awaitable<bool> pump_body(Exchange& ex, upstream::UpstreamStream& s, bool& client_failed) override;
  [[nodiscard]] std::string_view client_ip() const override { return client_ip_; }
  [[nodiscard]] std::string_view client_addr() const override { return client_addr_; }
  [[nodiscard]] std::string_view listener_name() const override { return listener_->name; }
  [[nodiscard]] std::string_view protocol(const Exchange& ex) const override {
    return ex.head.version_minor == 0 && !ex.head.method.empty() ? "HTTP/1.0" : "HTTP/1.1";
  }
  [[nodiscard]] bool is_tls() const override { return stream_.is_tls(); }
  awaitable<bool> relay(Exchange& ex, upstream::UpstreamStream& body, TimePoint deadline) override;
  awaitable<bool> replay(Exchange& ex, const policy::StoredResponse& r) override;
  // The response head in out_ (if any) plus one body piece, framed for the client.
  awaitable<bool> send_piece(std::string_view piece, bool chunked);
  // A response breakwater makes itself (SPEC §4). Returns keep-alive.
  awaitable<bool> respond(Exchange& ex, Reason r, std::string_view detail, int retry_after = 0) override;
  awaitable<bool> read_more();
  awaitable<bool> write(std::string_view a, std::string_view b = {});
  void set_deadline(TimePoint tp);
  void release_large_buffers();

  Server& server_;
  Worker& worker_;
  io::Stream stream_;
  std::shared_ptr<ListenerHandle> listener_;
  std::shared_ptr<net::ssl::context> tls_;
  std::string client_ip_;
  std::string client_addr_;
  http::ByteBuffer buf_{0};  // allocated when the first byte arrives; grows for large heads or bodies
  std::string out_;  // response head being written
  Exchange ex_;
  Pipeline pipeline_{server_, worker_, *this};
  policy::Duration idle_timeout_ = std::chrono::seconds(60);  // the listener's, for client writes
  bool idle_ = true;
  bool closing_ = false;
  bool client_timed_out_ = false;
  io::Watchdog watchdog_;  // closes the client connection at its deadline
};

}  // namespace breakwater::proxy

#pragma once
// One client connection: reads requests in order, runs each through the request
// path, writes responses in order (so pipelined requests are answered in order).
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "breakwater/http/buffer.hpp"
#include "breakwater/http/forward.hpp"
#include "breakwater/http/io.hpp"
#include "breakwater/http/stream.hpp"
#include "breakwater/http/watchdog.hpp"
#include "breakwater/http/upstream.hpp"
#include "breakwater/http/wire.hpp"
#include "breakwater/policy/idempotency.hpp"
#include "breakwater/proxy/reason.hpp"
#include "breakwater/proxy/server.hpp"

namespace breakwater::proxy {

using policy::TimePoint;

// What one request needs while it runs; reused for the next request.
struct Exchange {
  std::shared_ptr<const Snapshot> snap;
  const config::ListenerConfig* listener = nullptr;
  const RouteRuntime* route = nullptr;
  std::string raw_head;
  http::RequestHead head;
  http::Target target;
  std::string request_id;
  bool request_id_generated = false;
  enum class BodyMode { none, buffered, streaming } body_mode = BodyMode::none;
  std::string body;                    // when buffered
  std::uint64_t stream_remaining = 0;  // when streaming: bytes still to read from the client
  bool body_consumed = true;           // false while request body bytes remain unread
  TimePoint start{};
  // For the access log and metrics.
  int status = 0;
  std::optional<Reason> reason;
  std::string upstream_address;
  unsigned attempts = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::string extra_headers;  // added to the response sent to the client

  // Idempotency-Key state while this request holds the key's lock.
  struct Idempotency {
    bool locked = false;   // we own the in-flight lock
    bool settled = false;  // completed or released
    std::string key, token, fingerprint;
    policy::Duration ttl{};
    std::uint64_t max_response = 0;
    // The lock is ours and neither completed nor released yet.
    [[nodiscard]] bool unsettled() const { return locked && !settled; }
  } idem;

  void reset();
};

class Session final : public std::enable_shared_from_this<Session>, public SessionHook {
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
  awaitable<bool> handle(Exchange& ex);
  awaitable<bool> read_body(Exchange& ex);
  awaitable<bool> forward(Exchange& ex);
  struct Attempt;
  awaitable<void> attempt(Exchange& ex, TimePoint deadline, Attempt& out);
  awaitable<bool> pump_body(Exchange& ex, http::UpstreamStream& s, bool& client_failed);
  awaitable<bool> relay(Exchange& ex, http::UpstreamStream& body, TimePoint deadline);
  // SPEC §3 step 4; returns whether the request goes on, or sets `keep` with the answer sent.
  awaitable<bool> idempotency_lookup(Exchange& ex, bool& keep);
  awaitable<void> idempotency_release(Exchange& ex);
  awaitable<bool> replay(Exchange& ex, const policy::StoredResponse& r);
  // The response head in out_ (if any) plus one body piece, framed for the client.
  awaitable<bool> send_piece(std::string_view piece, bool chunked);
  awaitable<bool> read_rest_of_body(Exchange& ex);
  // A response breakwater makes itself (SPEC §4). Returns keep-alive.
  awaitable<bool> respond(Exchange& ex, Reason r, std::string_view detail, int retry_after = 0);
  // Shadow mode: count `r`, mark the response, and let the request through (true).
  bool shadow(Exchange& ex, policy::Mode mode, Reason r);
  awaitable<bool> read_more();
  awaitable<bool> write(std::string_view a, std::string_view b = {});
  awaitable<bool> write_buffers(std::span<const net::const_buffer> bufs);
  // Counts the response in the metrics as its head goes out.
  void account(Exchange& ex, int status);
  // Access log and duration once the response is written.
  void finish(Exchange& ex);
  void set_deadline(TimePoint tp);
  void release_large_buffers();

  Server& server_;
  Worker& worker_;
  http::Stream stream_;
  std::shared_ptr<ListenerHandle> listener_;
  std::shared_ptr<net::ssl::context> tls_;
  std::string client_ip_;
  std::string client_addr_;
  http::ByteBuffer buf_{0};  // allocated when the first byte arrives; grows for large heads or bodies
  std::string out_;  // response head being written
  std::string up_head_;
  std::string descriptor_;  // rate-limit descriptor of the current request
  Exchange ex_;
  policy::Duration idle_timeout_ = std::chrono::seconds(60);  // the listener's, for client writes
  bool idle_ = true;
  bool closing_ = false;
  bool client_timed_out_ = false;
  http::Watchdog watchdog_;  // closes the client connection at its deadline
};

}  // namespace breakwater::proxy

#pragma once
// Keep-alive connections to upstreams. Pools are per worker thread (no locks on
// the hot path); the connection limit and round robin are shared by all workers.
#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "breakwater/config/model.hpp"
#include "breakwater/http/buffer.hpp"
#include "breakwater/io/asio.hpp"
#include "breakwater/io/stream.hpp"
#include "breakwater/io/watchdog.hpp"
#include "breakwater/http/forward.hpp"
#include "breakwater/http/h1/parser.hpp"
#include "breakwater/upstream/h2.hpp"
#include "breakwater/policy/outcome.hpp"
#include "breakwater/policy/time.hpp"

namespace breakwater::upstream {

using policy::TimePoint;

class UpstreamPool;

// One upstream as configured, shared by every worker; replaced when its config changes.
// `max_connections` is a count of slots: a connection holds one from before its
// connect until it closes. Waiting for a slot is first come, first served, and a
// waiter makes an idle connection of any worker close to free one (SPEC §5).
struct UpstreamShared final {
  explicit UpstreamShared(config::UpstreamConfig c);
  const config::UpstreamConfig cfg;
  const std::vector<std::string> names;  // "host:port" per endpoint, for logs and Host fallback
  std::atomic<int> open{0};              // slots held: open (or opening) connections of all workers
  std::atomic<std::uint64_t> rr{0};
  std::vector<std::atomic<std::int64_t>> failed_until;  // per endpoint, steady-clock ns
  std::atomic<bool> retired{false};
  std::shared_ptr<net::ssl::context> tls;  // when cfg.tls

  // A slot now, without waiting, when no one waits before us.
  [[nodiscard]] bool try_take_slot();
  // A slot by `deadline`, in arrival order; false when the deadline passed first.
  awaitable<bool> take_slot(net::any_io_executor ex, TimePoint deadline);
  // Gives a slot back: to the oldest waiter when there is one.
  void release_slot();
  // True while requests wait for a slot: a connection given back is then closed, not pooled.
  [[nodiscard]] bool contended() const { return waiting_.load() > 0; }
  void add_pool(const std::shared_ptr<UpstreamPool>& pool);

 private:
  struct Waiter;
  bool grant_locked();  // mu_ held: hands free slots to waiters in order
  void evict_idle_locked();
  std::mutex mu_;  // slow path only: waiters and the pools to ask for an idle connection
  std::deque<std::shared_ptr<Waiter>> waiters_;
  std::atomic<int> waiting_{0};
  std::vector<std::weak_ptr<UpstreamPool>> pools_;
};

class UpstreamConn final : public std::enable_shared_from_this<UpstreamConn> {
 public:
  // Takes over a slot already held (UpstreamShared::try_take_slot / take_slot).
  UpstreamConn(const net::any_io_executor& ex, std::shared_ptr<UpstreamShared> up, std::size_t endpoint);
  ~UpstreamConn();
  UpstreamConn(const UpstreamConn&) = delete;
  UpstreamConn& operator=(const UpstreamConn&) = delete;

  // Closes the socket at `deadline`; `timed_out` tells the reader why it failed.
  void arm(TimePoint deadline);
  void disarm();
  // Idle in a pool: still open, and nothing arrived since its last response
  // (no EOF, no stray byte that would answer the next request). Does not block.
  [[nodiscard]] bool quiet();

  io::Stream stream;
  http::ByteBuffer rbuf{32 * 1024};  // a 16 KiB response arrives in one read
  std::string head_raw;        // the current response's head; `head` points into it
  http::ResponseHead head;
  bool timed_out = false;
  bool reused = false;
  std::size_t endpoint;
  TimePoint idle_since{};

 private:
  std::shared_ptr<UpstreamShared> up_;
  io::Watchdog watchdog_;
};

// A connection on loan from a pool: returned on destruction, kept only if marked reusable.
class Lease final {
 public:
  Lease() = default;
  Lease(std::shared_ptr<UpstreamPool> pool, std::shared_ptr<UpstreamConn> c)
      : pool_(std::move(pool)), conn_(std::move(c)) {}
  Lease(Lease&&) noexcept = default;
  Lease& operator=(Lease&& o) noexcept {
    if (this != &o) {
      release();
      pool_ = std::move(o.pool_);
      conn_ = std::move(o.conn_);
      reusable_ = o.reusable_;
    }
    return *this;
  }
  ~Lease() { release(); }
  UpstreamConn* operator->() const { return conn_.get(); }
  UpstreamConn& operator*() const { return *conn_; }
  explicit operator bool() const { return conn_ != nullptr; }
  void set_reusable(bool r) { reusable_ = r; }

 private:
  void release();
  std::shared_ptr<UpstreamPool> pool_;
  std::shared_ptr<UpstreamConn> conn_;
  bool reusable_ = false;
};

// One request/response exchange with an upstream, whatever its protocol: on an
// HTTP/1.1 connection lent whole by a pool, or on an HTTP/2 stream of a shared
// connection. The proxy sends a request head, body pieces and (HTTP/2) trailers,
// and reads a response head, decoded body pieces and trailers; it never touches
// a connection's buffer. Destroyed without finish(true), an HTTP/1.1 connection
// is closed, not pooled; an unfinished HTTP/2 stream is reset (CANCEL).
class UpstreamStream final {
 public:
  UpstreamStream() = default;
  explicit UpstreamStream(Lease lease) : lease_(std::move(lease)) {}
  explicit UpstreamStream(std::shared_ptr<H2Stream> s) : h2_(std::move(s)) {}
  explicit operator bool() const { return static_cast<bool>(lease_) || h2_ != nullptr; }
  [[nodiscard]] config::UpstreamProtocol protocol() const {
    return h2_ ? config::UpstreamProtocol::http2 : config::UpstreamProtocol::http1;
  }

  [[nodiscard]] bool reused() const { return !h2_ && lease_->reused; }  // an HTTP/1.1 connection from the pool
  [[nodiscard]] bool timed_out() const { return h2_ ? h2_->timed_out() : lease_->timed_out; }
  // Not processed by the upstream (HTTP/2 REFUSED_STREAM or above a GOAWAY's last
  // stream id): send it again on another connection; not an attempt.
  [[nodiscard]] bool refused() const { return h2_ && h2_->refused(); }
  // Reads and writes fail with timed_out() once `deadline` passes (HTTP/1.1: the
  // connection is closed; HTTP/2: the stream is reset).
  void arm(TimePoint deadline) {
    if (h2_) return h2_->arm(deadline);
    lease_->arm(deadline);
  }
  void disarm() {
    if (h2_) return h2_->disarm();
    lease_->disarm();
  }

  // The request head: `req`'s fields as the forwarding rules of SPEC §5 pass them,
  // with what `up` says (method, path, Host / :authority, X-Forwarded-*, framing),
  // and `body`; `end`: the body ends with it. HTTP/1.1 builds its head text in
  // `scratch`. Resolves to (error, bytes of `body` taken).
  awaitable<std::tuple<error_code, std::size_t>> send_head(const http::RequestHead& req,
                                                          const http::UpstreamRequest& up, std::string& scratch,
                                                          std::string_view body, bool end) {
    if (h2_) return h2_->send_head(req, up, body, end);
    scratch.clear();
    http::build_upstream_head(req, up, scratch);
    std::array<net::const_buffer, 2> bufs{net::buffer(scratch), net::buffer(body.data(), body.size())};
    return lease_->stream.write(bufs);
  }
  // More of the request body; `end`: the last of it. HTTP/2 resolves once flow
  // control took the bytes (backpressure). Resolves to (error, bytes).
  awaitable<std::tuple<error_code, std::size_t>> send_body(std::span<const net::const_buffer> bufs, bool end) {
    if (h2_) return h2_->send_body(bufs, end);
    return lease_->stream.write(bufs);
  }
  // HTTP/2: ends the request body with trailers (send_body with end = false before).
  // HTTP/1.1 requests go out with Content-Length: their trailers are dropped.
  awaitable<error_code> send_trailers(const http::Fields& trailers);

  enum class HeadStatus { response, failed, malformed, refused };
  struct HeadResult {
    HeadStatus status;
    bool received = false;  // a byte came back (a stale pooled connection sends none)
  };
  // The final response head (interim 1xx skipped); `head_request`: the request was HEAD.
  awaitable<HeadResult> read_head(bool head_request) { return h2_ ? read_head_h2() : read_head_h1(head_request); }
  [[nodiscard]] const http::ResponseHead& head() const { return h2_ ? h2_->head() : lease_->head; }

  // The response body as decoded pieces, whatever its framing; a piece stays valid
  // until the next call.
  enum class Step { piece, end, error };
  awaitable<Step> next_body(std::string_view& piece) {
    if (held_) return next_held(piece);
    return h2_ ? next_body_h2(piece) : next_body_h1(piece);
  }
  // Gives back what the last next_body() returned: the next call returns it again
  // (a gRPC response is peeked at before it is relayed, SPEC §9).
  void unread(Step step, std::string_view piece) {
    held_ = true;
    held_step_ = step;
    held_piece_ = piece;
  }
  // The response trailers, once next_body() said end (HTTP/1.1: none).
  [[nodiscard]] const http::Fields& trailers() const;
  // Done with the exchange: an HTTP/1.1 connection is pooled when `reusable` and
  // the response was read to its end with nothing after it; an HTTP/2 stream not
  // read to its end is reset (CANCEL), its connection stays.
  void finish(bool reusable);

 private:
  awaitable<error_code> read_more(std::size_t min);
  awaitable<HeadResult> read_head_h1(bool head_request);
  awaitable<Step> next_body_h1(std::string_view& piece);
  awaitable<HeadResult> read_head_h2();
  awaitable<Step> next_body_h2(std::string_view& piece);
  awaitable<Step> next_held(std::string_view& piece) {
    held_ = false;
    piece = held_piece_;
    co_return held_step_;
  }
  Lease lease_;
  bool held_ = false;
  Step held_step_ = Step::end;
  std::string_view held_piece_;
  std::shared_ptr<H2Stream> h2_;
  http::BodyKind kind_ = http::BodyKind::none;
  std::uint64_t remaining_ = 0;
  http::h1::ChunkedDecoder dec_;
  std::size_t pending_ = 0;  // bytes of the last piece, consumed on the next call
  bool ended_ = false;
};

struct Opened {
  UpstreamStream stream;
  policy::AttemptKind failure = policy::AttemptKind::connect_failure;  // when !stream
  std::string_view address;  // endpoint tried (UpstreamShared::names, lives with the upstream)
};


class UpstreamPool final : public std::enable_shared_from_this<UpstreamPool> {
 public:
  UpstreamPool(net::any_io_executor ex, std::shared_ptr<UpstreamShared> up);
  ~UpstreamPool();
  // Opening a stream: on a pooled connection to the next endpoint in turn, without
  // suspending (`fresh`: never a pooled one); failing that, on a new connection to
  // `ep`, the endpoint take_stream() chose, by `deadline`.
  Opened take_stream(bool fresh, std::size_t& ep);
  awaitable<Opened> connect_stream(TimePoint deadline, std::size_t ep);
  void give_back(std::shared_ptr<UpstreamConn> c, bool reusable);
  void sweep(TimePoint now);
  // Closes the longest-idle connection (another worker waits for its slot).
  void evict_one();
  [[nodiscard]] const std::shared_ptr<UpstreamShared>& shared() const { return up_; }
  [[nodiscard]] const net::any_io_executor& executor() const { return ex_; }
  [[nodiscard]] int idle_count() const {
    return h2_ ? h2_->idle_count() : idle_count_.load(std::memory_order_relaxed);
  }

 private:
  friend class H2Pool;
  std::size_t pick_endpoint(TimePoint now);
  std::unique_ptr<H2Pool> h2_;  // protocol = "http2": streams on shared connections
  net::any_io_executor ex_;
  std::shared_ptr<UpstreamShared> up_;
  std::vector<std::vector<std::shared_ptr<UpstreamConn>>> idle_;  // per endpoint, LIFO
  std::atomic<int> idle_count_{0};  // read by other workers looking for a slot to free
};

// The pools of one worker, one per upstream in use.
class UpstreamPools final {
 public:
  explicit UpstreamPools(net::any_io_executor ex) : ex_(std::move(ex)) {}
  std::shared_ptr<UpstreamPool> get(const std::shared_ptr<UpstreamShared>& up);
  void sweep(TimePoint now);  // idle eviction, retired upstreams dropped

 private:
  net::any_io_executor ex_;
  std::map<const UpstreamShared*, std::shared_ptr<UpstreamPool>> pools_;
};

}  // namespace breakwater::upstream

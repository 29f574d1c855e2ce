#pragma once
// Keep-alive connections to upstreams. Pools are per worker thread (no locks on
// the hot path); the connection limit and round robin are shared by all workers.
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
#include "breakwater/http/h1/parser.hpp"
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

// One request/response exchange with an upstream, on a connection lent by a pool.
// The proxy sends bytes and reads a parsed head and decoded body pieces; it never
// touches the connection's buffer. Destroyed without finish(true), the connection
// is closed, not pooled.
class UpstreamStream final {
 public:
  UpstreamStream() = default;
  explicit UpstreamStream(Lease lease) : lease_(std::move(lease)) {}
  explicit operator bool() const { return static_cast<bool>(lease_); }

  [[nodiscard]] bool reused() const { return lease_->reused; }  // came from the pool
  [[nodiscard]] bool timed_out() const { return lease_->timed_out; }
  // The connection is closed at `deadline` (reads and writes then fail with timed_out()).
  void arm(TimePoint deadline) { lease_->arm(deadline); }
  void disarm() { lease_->disarm(); }

  // Request bytes, as they are: resolves to (error, bytes written).
  auto send(std::span<const net::const_buffer> bufs) { return lease_->stream.write(bufs); }

  enum class HeadStatus { response, failed, malformed };
  struct HeadResult {
    HeadStatus status;
    bool received = false;  // a byte came back (a stale pooled connection sends none)
  };
  // The final response head (interim 1xx skipped); `head_request`: the request was HEAD.
  awaitable<HeadResult> read_head(bool head_request);
  [[nodiscard]] const http::ResponseHead& head() const { return lease_->head; }

  // The response body as decoded pieces, whatever its framing; a piece stays valid
  // until the next call.
  enum class Step { piece, end, error };
  awaitable<Step> next_body(std::string_view& piece);
  // Done with the exchange: the connection is pooled when `reusable` and the
  // response was read to its end with nothing after it.
  void finish(bool reusable);

 private:
  awaitable<error_code> read_more(std::size_t min);
  Lease lease_;
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
  [[nodiscard]] int idle_count() const { return idle_count_.load(std::memory_order_relaxed); }

 private:
  std::size_t pick_endpoint(TimePoint now);
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

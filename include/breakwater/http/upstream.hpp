#pragma once
// Keep-alive connections to upstreams. Pools are per worker thread (no locks on
// the hot path); the connection limit and round robin are shared by all workers.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "breakwater/config/model.hpp"
#include "breakwater/http/buffer.hpp"
#include "breakwater/http/io.hpp"
#include "breakwater/http/stream.hpp"
#include "breakwater/http/watchdog.hpp"
#include "breakwater/policy/outcome.hpp"
#include "breakwater/policy/time.hpp"

namespace breakwater::http {

using policy::TimePoint;

// One upstream as configured, shared by every worker; replaced when its config changes.
struct UpstreamShared final {
  explicit UpstreamShared(config::UpstreamConfig c);
  const config::UpstreamConfig cfg;
  const std::vector<std::string> names;  // "host:port" per endpoint, for logs and Host fallback
  std::atomic<int> open{0};
  std::atomic<std::uint64_t> rr{0};
  std::vector<std::atomic<std::int64_t>> failed_until;  // per endpoint, steady-clock ns
  std::atomic<bool> retired{false};
  std::shared_ptr<net::ssl::context> tls;  // when cfg.tls
};

class UpstreamConn final : public std::enable_shared_from_this<UpstreamConn> {
 public:
  UpstreamConn(const net::any_io_executor& ex, std::shared_ptr<UpstreamShared> up, std::size_t endpoint);
  ~UpstreamConn();
  UpstreamConn(const UpstreamConn&) = delete;
  UpstreamConn& operator=(const UpstreamConn&) = delete;

  // Closes the socket at `deadline`; `timed_out` tells the reader why it failed.
  void arm(TimePoint deadline);
  void disarm();

  Stream stream;
  ByteBuffer rbuf{32 * 1024};  // a 16 KiB response arrives in one read
  bool timed_out = false;
  bool reused = false;
  std::size_t endpoint;
  TimePoint idle_since{};

 private:
  std::shared_ptr<UpstreamShared> up_;
  Watchdog watchdog_;
};

class UpstreamPool;

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

struct Acquired {
  Lease lease;
  policy::AttemptKind failure = policy::AttemptKind::connect_failure;  // when !lease
  std::string_view address;  // endpoint tried (UpstreamShared::names, lives with the upstream)
};

class UpstreamPool final : public std::enable_shared_from_this<UpstreamPool> {
 public:
  UpstreamPool(net::any_io_executor ex, std::shared_ptr<UpstreamShared> up);
  ~UpstreamPool();
  // A pooled connection to the next endpoint in turn, without suspending (`fresh`
  // skips the pool). Without a lease, `ep` is the endpoint to connect() to.
  Acquired take_idle(TimePoint now, bool fresh, std::size_t& ep);
  // A new connection to endpoint `ep`.
  awaitable<Acquired> connect(TimePoint deadline, std::size_t ep);
  void give_back(std::shared_ptr<UpstreamConn> c, bool reusable);
  void sweep(TimePoint now);
  [[nodiscard]] const std::shared_ptr<UpstreamShared>& shared() const { return up_; }

 private:
  std::size_t pick_endpoint(TimePoint now);
  net::any_io_executor ex_;
  std::shared_ptr<UpstreamShared> up_;
  std::vector<std::vector<std::shared_ptr<UpstreamConn>>> idle_;  // per endpoint, LIFO
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

}  // namespace breakwater::http

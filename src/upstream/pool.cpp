#include "breakwater/upstream/pool.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include <optional>

#include "breakwater/io/connect.hpp"

#include "breakwater/log.hpp"

namespace breakwater::upstream {
namespace {

std::int64_t ns(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// How long an endpoint that refused a connection is skipped while others remain.
constexpr auto kEndpointPenalty = std::chrono::seconds(2);
constexpr std::size_t kMaxResponseHead = 64 * 1024;

}  // namespace

namespace {
std::vector<std::string> endpoint_names(const config::UpstreamConfig& c) {
  std::vector<std::string> names;
  for (auto& e : c.endpoints) names.push_back(e.str());
  return names;
}
}  // namespace

UpstreamShared::UpstreamShared(config::UpstreamConfig c)
    : cfg(std::move(c)), names(endpoint_names(cfg)), failed_until(cfg.endpoints.size()) {
  if (cfg.tls) tls = io::make_client_tls(cfg.ca_file, cfg.verify);
}

struct UpstreamShared::Waiter {
  explicit Waiter(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;  // its deadline; cancelled (on its own executor) when a slot is granted
  bool granted = false;     // guarded by mu_
};

bool UpstreamShared::try_take_slot() {
  if (waiting_.load() > 0) return false;  // no barging past a waiter
  int n = open.load();
  while (n < static_cast<int>(cfg.max_connections))
    if (open.compare_exchange_weak(n, n + 1)) return true;
  return false;
}

bool UpstreamShared::grant_locked() {
  bool any = false;
  while (!waiters_.empty()) {
    int n = open.load();
    if (n >= static_cast<int>(cfg.max_connections)) break;
    if (!open.compare_exchange_weak(n, n + 1)) continue;
    auto w = std::move(waiters_.front());
    waiters_.pop_front();
    waiting_.fetch_sub(1);
    w->granted = true;
    net::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
    any = true;
  }
  return any;
}

void UpstreamShared::evict_idle_locked() {
  // One idle connection per waiter without a slot is enough; asking each pool
  // with idle connections in turn spreads the closing over the workers.
  // The posted task holds the pool, so a pool dropped meanwhile dies on its own worker.
  int need = static_cast<int>(waiters_.size());
  std::erase_if(pools_, [](const std::weak_ptr<UpstreamPool>& p) { return p.expired(); });
  for (auto& wp : pools_) {
    if (need <= 0) break;
    auto p = wp.lock();
    if (!p || p->idle_count() == 0) continue;
    for (int k = p->idle_count(); k > 0 && need > 0; --k, --need)
      net::post(p->executor(), [p] { p->evict_one(); });
  }
}

void UpstreamShared::add_pool(const std::shared_ptr<UpstreamPool>& pool) {
  std::lock_guard lock(mu_);
  pools_.push_back(pool);
}

awaitable<bool> UpstreamShared::take_slot(net::any_io_executor ex, TimePoint deadline) {
  auto w = std::make_shared<Waiter>(ex);
  {
    std::lock_guard lock(mu_);
    waiters_.push_back(w);
    waiting_.fetch_add(1);
    grant_locked();  // a slot freed before we queued
    if (w->granted) co_return true;
    evict_idle_locked();
  }
  w->timer.expires_at(deadline);
  co_await w->timer.async_wait(use_nothrow);
  std::lock_guard lock(mu_);
  if (w->granted) co_return true;
  if (auto it = std::find(waiters_.begin(), waiters_.end(), w); it != waiters_.end()) {
    waiters_.erase(it);
    waiting_.fetch_sub(1);
  }
  co_return false;
}

void UpstreamShared::release_slot() {
  open.fetch_sub(1);
  if (waiting_.load() == 0) return;  // seq_cst pairs with take_slot's queueing, so no waiter is missed
  std::lock_guard lock(mu_);
  grant_locked();
}

UpstreamConn::UpstreamConn(const net::any_io_executor& ex, std::shared_ptr<UpstreamShared> up,
                           std::size_t ep)
    : stream(ex), endpoint(ep), up_(std::move(up)), watchdog_(ex) {}

UpstreamConn::~UpstreamConn() { up_->release_slot(); }

bool UpstreamConn::quiet() {
  auto& sock = stream.socket();
  if (!sock.is_open() || !rbuf.empty()) return false;
  char b;
  auto n = ::recv(sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);  // 0 is EOF; > 0 a stray byte
}

void UpstreamConn::arm(TimePoint deadline) {
  timed_out = false;
  watchdog_.set(deadline, *this, [](UpstreamConn& c) {
    c.timed_out = true;
    error_code ignored;
    c.stream.socket().close(ignored);
  });
}

void UpstreamConn::disarm() { watchdog_.disarm(); }

void Lease::release() {
  if (conn_ && pool_) pool_->give_back(std::move(conn_), reusable_);
  conn_.reset();
  pool_.reset();
}

UpstreamPool::UpstreamPool(net::any_io_executor ex, std::shared_ptr<UpstreamShared> up)
    : ex_(std::move(ex)), up_(std::move(up)), idle_(up_->cfg.endpoints.size()) {
  if (up_->cfg.protocol == config::UpstreamProtocol::http2) h2_ = std::make_unique<H2Pool>(ex_, up_, *this);
}

UpstreamPool::~UpstreamPool() = default;

std::size_t UpstreamPool::pick_endpoint(TimePoint now) {
  auto n = up_->cfg.endpoints.size();
  auto start = up_->rr.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {
    auto e = (start + i) % n;
    if (up_->failed_until[e].load(std::memory_order_relaxed) <= ns(now)) return e;
  }
  return start % n;  // all failing: keep rotating
}

Opened UpstreamPool::take_stream(bool fresh, std::size_t& ep) {
  auto now = policy::Clock::now();
  Opened out;
  ep = pick_endpoint(now);
  out.address = up_->names[ep];
  if (h2_) {
    h2_->take_stream(ep, out);  // resends go to another connection: the one that refused takes no new stream
    return out;
  }
  if (!fresh) {
    auto& idle = idle_[ep];
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      idle_count_.fetch_sub(1, std::memory_order_relaxed);
      if (now - c->idle_since < up_->cfg.idle_timeout && c->quiet()) {
        c->reused = true;
        out.stream = UpstreamStream(Lease(shared_from_this(), std::move(c)));
        return out;
      }
    }
  }
  return out;
}

awaitable<Opened> UpstreamPool::connect_stream(TimePoint deadline, std::size_t ep) {
  if (h2_) co_return co_await h2_->connect_stream(deadline, ep);
  Opened out;
  out.address = up_->names[ep];
  // Room under max_connections (shared by all workers), first come, first served.
  if (!up_->try_take_slot() && !co_await up_->take_slot(ex_, deadline)) {
    out.failure = policy::AttemptKind::timeout;
    co_return out;
  }
  auto conn = std::make_shared<UpstreamConn>(ex_, up_, ep);
  auto& target = up_->cfg.endpoints[ep];
  auto connect_deadline = std::min(deadline, policy::Clock::now() + up_->cfg.connect_timeout);
  std::optional<io::TlsClient> tls;
  if (up_->tls) tls = io::TlsClient{up_->tls, up_->cfg.sni.empty() ? target.host : up_->cfg.sni, up_->cfg.verify};
  auto c = co_await io::connect(conn->stream, target.host, target.port, connect_deadline, tls ? &*tls : nullptr);
  if (c.in_tls && !c.timed_out)
    log_warn("TLS handshake with upstream " + up_->cfg.name + " at " + target.str() + " (name " + tls->sni +
             ") failed: " + c.ec.message());
  if (!c.ok()) {
    if (c.timed_out && policy::Clock::now() >= deadline) {
      out.failure = policy::AttemptKind::timeout;
    } else {
      out.failure = policy::AttemptKind::connect_failure;
      if (up_->cfg.endpoints.size() > 1)
        up_->failed_until[ep].store(ns(policy::Clock::now() + kEndpointPenalty), std::memory_order_relaxed);
    }
    co_return out;
  }
  up_->failed_until[ep].store(0, std::memory_order_relaxed);
  out.stream = UpstreamStream(Lease(shared_from_this(), std::move(conn)));
  co_return out;
}

void UpstreamPool::give_back(std::shared_ptr<UpstreamConn> c, bool reusable) {
  // While requests wait for a slot, the connection closes and its slot goes to the oldest of them.
  if (!reusable || up_->retired.load(std::memory_order_relaxed) || !c->stream.socket().is_open() ||
      !c->rbuf.empty() || up_->contended()) {
    c->stream.close();
    return;
  }
  c->idle_since = policy::Clock::now();
  idle_[c->endpoint].push_back(std::move(c));
  idle_count_.fetch_add(1, std::memory_order_relaxed);
}

void UpstreamPool::sweep(TimePoint now) {
  if (h2_) return h2_->sweep(now);
  for (auto& idle : idle_) {
    auto n = std::erase_if(idle, [&](const std::shared_ptr<UpstreamConn>& c) {
      return now - c->idle_since >= up_->cfg.idle_timeout || up_->retired.load(std::memory_order_relaxed) ||
             !c->quiet();
    });
    idle_count_.fetch_sub(static_cast<int>(n), std::memory_order_relaxed);
  }
}

void UpstreamPool::evict_one() {
  if (h2_) return h2_->evict_one();
  std::vector<std::shared_ptr<UpstreamConn>>* oldest = nullptr;
  for (auto& idle : idle_)
    if (!idle.empty() && (!oldest || idle.front()->idle_since < oldest->front()->idle_since)) oldest = &idle;
  if (!oldest) return;  // taken meanwhile: its request gives it back (closed, as requests wait)
  oldest->erase(oldest->begin());
  idle_count_.fetch_sub(1, std::memory_order_relaxed);
}

std::shared_ptr<UpstreamPool> UpstreamPools::get(const std::shared_ptr<UpstreamShared>& up) {
  auto& slot = pools_[up.get()];
  if (!slot) {
    slot = std::make_shared<UpstreamPool>(ex_, up);
    up->add_pool(slot);
  }
  return slot;
}

void UpstreamPools::sweep(TimePoint now) {
  for (auto it = pools_.begin(); it != pools_.end();) {
    it->second->sweep(now);
    if (it->second->shared()->retired.load(std::memory_order_relaxed))
      it = pools_.erase(it);
    else
      ++it;
  }
}

awaitable<error_code> UpstreamStream::read_more(std::size_t min) {
  auto& c = *lease_;
  auto [p, room] = c.rbuf.prepare(min);
  auto [ec, n] = co_await c.stream.read_some(net::buffer(p, room));
  c.rbuf.commit(n);
  co_return ec;
}

awaitable<UpstreamStream::HeadResult> UpstreamStream::read_head_h1(bool head_request) {
  auto& c = *lease_;
  HeadResult out{HeadStatus::failed, false};
  std::size_t scanned = 0;
  for (;;) {
    if (!c.rbuf.empty()) {
      out.received = true;
      if (auto len = http::h1::find_head_end(c.rbuf.view(), scanned)) {
        c.head_raw.assign(c.rbuf.view().substr(0, len));
        c.rbuf.consume(len);
        scanned = 0;
        auto err = http::h1::parse_response_head(c.head_raw, head_request, c.head);
        if (err != http::h1::WireError::none || c.head.status == 101) {
          if (err != http::h1::WireError::none) log_warn("an upstream sent a malformed response: " + std::string(http::h1::describe(err)));
          out.status = HeadStatus::malformed;
          co_return out;
        }
        if (c.head.status < 200) continue;  // interim response: wait for the final one
        kind_ = c.head.body;
        remaining_ = kind_ == http::BodyKind::length ? c.head.content_length : 0;
        dec_.reset();
        pending_ = 0;
        ended_ = false;
        out.status = HeadStatus::response;
        co_return out;
      }
      if (c.rbuf.size() > kMaxResponseHead) {
        out.status = HeadStatus::malformed;
        co_return out;
      }
    }
    if (co_await read_more(8 * 1024)) co_return out;
  }
}

awaitable<UpstreamStream::Step> UpstreamStream::next_body_h1(std::string_view& piece) {
  auto& c = *lease_;
  c.rbuf.consume(pending_);
  pending_ = 0;
  for (;;) {
    switch (kind_) {
      case http::BodyKind::none:
        ended_ = true;
        co_return Step::end;
      case http::BodyKind::length:
        if (remaining_ == 0) {
          ended_ = true;
          co_return Step::end;
        }
        if (!c.rbuf.empty()) {
          auto n = static_cast<std::size_t>(std::min<std::uint64_t>(c.rbuf.size(), remaining_));
          piece = c.rbuf.view().substr(0, n);
          pending_ = n;
          remaining_ -= n;
          co_return Step::piece;
        }
        break;
      case http::BodyKind::chunked: {
        auto st = dec_.next(c.rbuf.view());
        if (st.status == http::h1::ChunkedDecoder::Status::error) co_return Step::error;
        if (st.status == http::h1::ChunkedDecoder::Status::data) {
          piece = st.data;
          pending_ = st.consumed;
          co_return Step::piece;
        }
        c.rbuf.consume(st.consumed);
        if (st.status == http::h1::ChunkedDecoder::Status::done) {
          ended_ = true;
          co_return Step::end;
        }
        if (st.consumed) continue;
        break;
      }
      case http::BodyKind::until_close:
        if (!c.rbuf.empty()) {
          piece = c.rbuf.view();
          pending_ = piece.size();
          co_return Step::piece;
        }
        break;
    }
    auto ec = co_await read_more(16 * 1024);  // a 16 KiB response arrives in one read
    if (ec == net::error::eof && kind_ == http::BodyKind::until_close && !c.timed_out) {
      kind_ = http::BodyKind::none;
      continue;
    }
    if (ec) co_return Step::error;
  }
}

void UpstreamStream::finish(bool reusable) {
  if (h2_) {
    h2_->finish();
    h2_.reset();
    return;
  }
  if (!lease_) return;
  lease_->disarm();
  // A close-delimited body is never keep-alive (the parser says so); bytes left after
  // the body are give_back()'s to refuse.
  lease_.set_reusable(reusable && ended_ && lease_->head.keep_alive);
  lease_ = Lease{};
}

awaitable<error_code> UpstreamStream::send_trailers(const http::Fields& trailers) {
  if (h2_) co_return co_await h2_->send_trailers(trailers);
  co_return error_code{};
}

const http::Fields& UpstreamStream::trailers() const {
  static const http::Fields none;
  return h2_ ? h2_->trailers() : none;
}

awaitable<UpstreamStream::HeadResult> UpstreamStream::read_head_h2() {
  HeadResult out{HeadStatus::failed, false};
  auto h = co_await h2_->read_head();  // (g++ 12 miscompiles a co_await in a switch condition)
  switch (h) {
    case H2Stream::Head::response: out = {HeadStatus::response, true}; break;
    case H2Stream::Head::malformed: out = {HeadStatus::malformed, true}; break;
    case H2Stream::Head::refused: out.status = HeadStatus::refused; break;
    case H2Stream::Head::failed: break;
  }
  co_return out;
}

awaitable<UpstreamStream::Step> UpstreamStream::next_body_h2(std::string_view& piece) {
  auto step = co_await h2_->next_body(piece);
  switch (step) {
    case H2Stream::Step::piece: co_return Step::piece;
    case H2Stream::Step::end: co_return Step::end;
    case H2Stream::Step::error: break;
  }
  co_return Step::error;
}

}  // namespace breakwater::upstream

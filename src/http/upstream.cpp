#include "breakwater/http/upstream.hpp"

#include <boost/asio/connect.hpp>

#include "breakwater/log.hpp"

namespace breakwater::http {
namespace {

std::int64_t ns(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// How long an endpoint that refused a connection is skipped while others remain.
constexpr auto kEndpointPenalty = std::chrono::seconds(2);

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
  if (cfg.tls) tls = make_client_tls(cfg.ca_file, cfg.verify);
}

UpstreamConn::UpstreamConn(const net::any_io_executor& ex, std::shared_ptr<UpstreamShared> up,
                           std::size_t ep)
    : stream(ex), endpoint(ep), up_(std::move(up)), watchdog_(ex) {
  up_->open.fetch_add(1, std::memory_order_relaxed);
}

UpstreamConn::~UpstreamConn() { up_->open.fetch_sub(1, std::memory_order_relaxed); }

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
    : ex_(std::move(ex)), up_(std::move(up)), idle_(up_->cfg.endpoints.size()) {}

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

Acquired UpstreamPool::take_idle(TimePoint now, bool fresh, std::size_t& ep) {
  Acquired out;
  ep = pick_endpoint(now);
  out.address = up_->names[ep];
  if (!fresh) {
    auto& idle = idle_[ep];
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      if (now - c->idle_since < up_->cfg.idle_timeout && c->stream.socket().is_open()) {
        c->reused = true;
        out.lease = Lease(shared_from_this(), std::move(c));
        return out;
      }
    }
  }
  return out;
}

awaitable<Acquired> UpstreamPool::connect(TimePoint deadline, std::size_t ep) {
  Acquired out;
  out.address = up_->names[ep];
  // Wait for room under max_connections (shared by all workers).
  net::steady_timer wait(ex_);
  while (up_->open.load(std::memory_order_relaxed) >= static_cast<int>(up_->cfg.max_connections)) {
    if (policy::Clock::now() >= deadline) {
      out.failure = policy::AttemptKind::timeout;
      co_return out;
    }
    wait.expires_after(std::chrono::milliseconds(2));
    co_await wait.async_wait(use_nothrow);
  }
  auto conn = std::make_shared<UpstreamConn>(ex_, up_, ep);
  auto& target = up_->cfg.endpoints[ep];
  auto connect_deadline = std::min(deadline, policy::Clock::now() + up_->cfg.connect_timeout);
  conn->arm(connect_deadline);
  error_code ec;
  auto addr = net::ip::make_address(target.host, ec);
  if (!ec) {
    std::tie(ec) = co_await conn->stream.socket().async_connect(tcp::endpoint(addr, target.port), use_nothrow);
  } else {
    tcp::resolver resolver(ex_);
    auto [rec, results] =
        co_await resolver.async_resolve(target.host, std::to_string(target.port), use_nothrow);
    ec = rec;
    if (!ec && !conn->timed_out) {
      auto [cec, endpoint] = co_await net::async_connect(conn->stream.socket(), results, use_nothrow);
      ec = cec;
    }
  }
  if (!ec && !conn->timed_out && up_->tls) {
    auto sni = up_->cfg.sni.empty() ? target.host : up_->cfg.sni;
    ec = co_await conn->stream.tls_connect(up_->tls, sni, up_->cfg.verify);
    if (ec && !conn->timed_out)
      log_warn("TLS handshake with upstream " + up_->cfg.name + " at " + target.str() + " (name " + sni +
               ") failed: " + ec.message());
  }
  bool timed_out = conn->timed_out;
  conn->disarm();
  if (ec || timed_out) {
    if (timed_out && policy::Clock::now() >= deadline) {
      out.failure = policy::AttemptKind::timeout;
    } else {
      out.failure = policy::AttemptKind::connect_failure;
      if (up_->cfg.endpoints.size() > 1)
        up_->failed_until[ep].store(ns(policy::Clock::now() + kEndpointPenalty), std::memory_order_relaxed);
    }
    co_return out;
  }
  up_->failed_until[ep].store(0, std::memory_order_relaxed);
  conn->stream.socket().set_option(tcp::no_delay(true), ec);
  out.lease = Lease(shared_from_this(), std::move(conn));
  co_return out;
}

void UpstreamPool::give_back(std::shared_ptr<UpstreamConn> c, bool reusable) {
  if (!reusable || up_->retired.load(std::memory_order_relaxed) || !c->stream.socket().is_open() || !c->rbuf.empty()) {
    c->stream.close();
    return;
  }
  c->idle_since = policy::Clock::now();
  idle_[c->endpoint].push_back(std::move(c));
}

void UpstreamPool::sweep(TimePoint now) {
  for (auto& idle : idle_) {
    std::erase_if(idle, [&](const std::shared_ptr<UpstreamConn>& c) {
      return now - c->idle_since >= up_->cfg.idle_timeout || up_->retired.load(std::memory_order_relaxed);
    });
  }
}

std::shared_ptr<UpstreamPool> UpstreamPools::get(const std::shared_ptr<UpstreamShared>& up) {
  auto& slot = pools_[up.get()];
  if (!slot) slot = std::make_shared<UpstreamPool>(ex_, up);
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

}  // namespace breakwater::http

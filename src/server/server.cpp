#include "breakwater/server/server.hpp"

#include <malloc.h>

#include <boost/asio/bind_allocator.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <system_error>

#include "breakwater/admin/admin.hpp"
#include "breakwater/config/load.hpp"
#include "breakwater/log.hpp"
#include "breakwater/proxy/session.hpp"
#include "breakwater/proxy/status.hpp"

namespace breakwater::server {

using namespace breakwater::proxy;
namespace {


// Gives freed heap pages back to the kernel, so RSS follows load down after a burst.
awaitable<void> trim_loop(net::io_context& ctx) {
  net::steady_timer t(ctx);
  for (;;) {
    t.expires_after(std::chrono::seconds(5));
    auto [ec] = co_await t.async_wait(use_nothrow);
    if (ec) co_return;
    malloc_trim(0);
  }
}

awaitable<void> sweep_loop(Worker* w, const Server* server) {
  net::steady_timer t(w->ctx);
  for (;;) {
    t.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await t.async_wait(use_nothrow);
    if (ec) co_return;
    auto now = policy::Clock::now();
    w->pools.sweep(now);
    if (w->index == 0) server->snapshot()->store->sweep(now);  // one worker drops expired store state
  }
}

}  // namespace

Worker::Worker(unsigned i) : index(i) {}  // rng: 64 bits from std::random_device per worker

ListenerHandle::ListenerHandle(net::io_context& ctx, const config::ListenerConfig& c)
    : name(c.name), bind(c.bind), acceptor(ctx), max_connections(c.max_connections) {
  if (!c.tls_cert.empty()) tls = io::make_server_tls(c.tls_cert, c.tls_key, c.http2);
  tcp::endpoint ep(net::ip::make_address(c.bind.host), c.bind.port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(net::socket_base::max_listen_connections);
}

ListenerHandle::ListenerHandle(net::io_context& ctx, const config::ListenerConfig& c, ListenerHandle& same_socket)
    : name(c.name), bind(c.bind), acceptor(ctx), max_connections(c.max_connections) {
  if (!c.tls_cert.empty()) tls = io::make_server_tls(c.tls_cert, c.tls_key, c.http2);
  // Closing the old handle's descriptor then leaves the socket (and its backlog) open.
  int fd = ::fcntl(same_socket.acceptor.native_handle(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "dup");
  error_code ec;
  acceptor.assign(tcp::endpoint(net::ip::make_address(c.bind.host), c.bind.port).protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    throw std::system_error(ec);
  }
}

namespace {
unsigned worker_count(const config::Config& c) {
  return c.server.workers ? c.server.workers : std::max(1u, std::thread::hardware_concurrency());
}
}  // namespace

Server::Server(std::string config_path, config::Config initial)
    : config_path_(std::move(config_path)), registry_(worker_count(initial)) {
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  hup_.add(SIGHUP);
  for (unsigned i = 0; i < worker_count(initial); ++i) workers_.push_back(std::make_unique<Worker>(i));
  auto admin = initial.server.admin;
  Next next{std::move(initial)};
  std::string err;
  if (!prepare(next, err)) throw std::runtime_error(err);
  try {
    admin_ = std::make_unique<admin::Admin>(*this, control_, admin);
  } catch (const std::exception& e) {
    abandon(next);
    throw std::runtime_error("cannot bind the admin listener " + admin.str() + ": " + e.what());
  }
  commit(std::move(next));
}

Server::~Server() = default;

bool Server::prepare(Next& next, std::string& error) {
  auto& c = next.config;
  // Upstreams: a changed one gets new shared state; a CA file that does not load throws here.
  for (auto& u : c.upstreams) {
    auto it = upstreams_.find(u.name);
    if (it != upstreams_.end() && it->second->cfg == u) {
      next.upstreams[u.name] = it->second;
      continue;
    }
    try {
      next.upstreams[u.name] = std::make_shared<upstream::UpstreamShared>(u);
    } catch (const std::exception& e) {
      error = "cannot set up upstream '" + u.name + "': " + e.what();
      return false;
    }
  }
  // Listeners: kept by name and address, or by address alone (renamed: the same socket), or bound anew.
  for (auto& lc : c.listeners) {
    try {
      auto it = listeners_.find(lc.name);
      if (it != listeners_.end() && it->second->bind == lc.bind) {
        // Certificates are read again on every reload, so a rotated file is picked up.
        if (!lc.tls_cert.empty()) next.certs[lc.name] = io::make_server_tls(lc.tls_cert, lc.tls_key, lc.http2);
        next.listeners[lc.name] = it->second;
        continue;
      }
      std::shared_ptr<ListenerHandle> l;
      for (auto& [name, old] : listeners_)
        if (old->bind == lc.bind) l = std::make_shared<ListenerHandle>(control_, lc, *old);
      if (!l) l = std::make_shared<ListenerHandle>(control_, lc);
      next.fresh.push_back(l);
      next.listeners[lc.name] = l;
    } catch (const std::exception& e) {
      error = "cannot start listener '" + lc.name + "' on " + lc.bind.str() + ": " + e.what();
      abandon(next);
      return false;
    }
  }
  // The store: the same object while it can go on under the new [store] (its state stays).
  if (store_ && store_->reusable_for(c.store)) {
    next.store = store_;
  } else {
    std::vector<net::any_io_executor> executors;
    for (auto& w : workers_) executors.push_back(w->ctx.get_executor());
    next.store = store::make_store(c.store, executors);
    next.new_store = true;
  }
  return true;
}

void Server::abandon(Next& next) {
  for (auto& f : next.fresh) {
    error_code ec;
    f->acceptor.close(ec);  // a renamed listener's duplicate: the old descriptor keeps the socket
  }
  next.fresh.clear();
  if (next.new_store && next.store) next.store->shutdown();
  next.store.reset();
}

void Server::commit(Next next) {
  for (auto& [name, up] : upstreams_) {
    auto it = next.upstreams.find(name);
    if (it == next.upstreams.end() || it->second != up) up->retired.store(true);
  }
  upstreams_ = std::move(next.upstreams);
  for (auto& lc : next.config.listeners) {
    auto& l = next.listeners[lc.name];
    l->max_connections.store(lc.max_connections);
    if (auto cert = next.certs.find(lc.name); cert != next.certs.end()) l->tls = cert->second;
    if (lc.tls_cert.empty()) l->tls.reset();
  }
  for (auto& [name, old] : listeners_) {
    auto it = next.listeners.find(name);
    if (it != next.listeners.end() && it->second == old) continue;
    old->closed.store(true);
    error_code ec;
    old->acceptor.close(ec);
    close_sessions_of(old);
  }
  listeners_ = std::move(next.listeners);
  if (started_)
    for (auto& l : next.fresh) start_accepting(l);
  if (next.new_store) {
    // The old store lives on with the snapshots that hold it: requests in flight
    // finish their calls on it, and its destructor closes its connections.
    store_ = std::move(next.store);
  } else {
    store_->apply(next.config.store);
  }
  snapshot_.store(build_snapshot(std::move(next.config)));
}

std::shared_ptr<const Snapshot> Server::build_snapshot(config::Config c) {
  auto snap = std::make_shared<Snapshot>(std::move(c));
  for (auto& rc : snap->config.routes) {
    RouteRuntime rt;
    rt.cfg = &rc;
    rt.metrics = registry_.metrics(rc.name);
    rt.upstream = upstreams_.at(rc.upstream);
    // Policy state carries over while the route's name and policy settings stay.
    if (rc.circuit_breaker)
      rt.breaker = registry_.policy<SharedBreaker>(rc.name, *rc.circuit_breaker, [&] {
        return std::make_shared<SharedBreaker>(*rc.circuit_breaker, rt.metrics);
      });
    if (rc.bulkhead)
      rt.bulkhead = registry_.policy<SharedBulkhead>(rc.name, *rc.bulkhead,
                                                     [&] { return std::make_shared<SharedBulkhead>(*rc.bulkhead); });
    if (rc.rate_limit) {
      rt.gcra = policy::gcra_params(*rc.rate_limit);
      rt.rate_policy_value = policy::rate_limit_policy_value(*rc.rate_limit);
      auto local = policy::local_settings(*rc.rate_limit);
      rt.local_gcra = policy::gcra_params(local);
      rt.local_rate_policy_value = policy::rate_limit_policy_value(local);
    }
    if (rc.retry)
      rt.budget = registry_.policy<SharedBudget>(rc.name, *rc.retry,
                                                 [&] { return std::make_shared<SharedBudget>(*rc.retry); });
    snap->routes.push_back(std::move(rt));
  }
  auto old = snapshot_.load();
  snap->access_log = old && old->access_log->where() == snap->config.server.access_log
                         ? old->access_log
                         : AccessLog::open(snap->config.server.access_log);
  snap->unmatched = registry_.metrics("none");
  snap->store = store_;
  return snap;
}

void Server::close_sessions_of(const std::shared_ptr<ListenerHandle>& l) {
  for (auto& w : workers_)
    net::post(w->ctx, [w = w.get(), l] {
      // close_when_idle() only closes the socket: no session leaves the list during the walk.
      for (auto* h = w->sessions.next; h != &w->sessions; h = h->next) {
        auto* s = static_cast<Session*>(h);
        if (!l || s->listener() == l) s->close_when_idle();
      }
    });
}

void Server::start_accepting(const std::shared_ptr<ListenerHandle>& l) {
  net::co_spawn(control_, accept_loop(l), log_exception);
}

awaitable<void> Server::accept_loop(std::shared_ptr<ListenerHandle> l) {
  net::steady_timer pause(control_);
  while (!l->closed.load()) {
    if (l->connections.load(std::memory_order_relaxed) >= static_cast<int>(l->max_connections.load())) {
      pause.expires_after(std::chrono::milliseconds(5));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    auto& w = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
    auto [ec, sock] = co_await l->acceptor.async_accept(w.ctx, use_nothrow);
    if (ec) {
      if (l->closed.load() || ec == net::error::operation_aborted) co_return;
      log_warn("accept failed on listener '" + l->name + "': " + ec.message());
      pause.expires_after(std::chrono::milliseconds(20));  // e.g. out of file descriptors
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    l->connections.fetch_add(1, std::memory_order_relaxed);
    active_sessions.fetch_add(1, std::memory_order_relaxed);
    hand_over(w, std::move(sock), l);
  }
}

// Sessions are built on their worker's thread, so their memory comes from that thread's heap
// and is not interleaved with the acceptor thread's long-lived allocations (Asio keeps socket
// state objects pooled for good): after a crowd of connections leaves, its memory goes back.
void Server::hand_over(Worker& w, tcp::socket sock, const std::shared_ptr<ListenerHandle>& l) {
  std::lock_guard lock(w.handoff_mu);
  w.handoff.push_back({std::move(sock), l, l->tls});
  if (std::exchange(w.handoff_posted, true)) return;
  // The wake-up's memory is the worker's own slot: allocated here, freed on the worker's
  // thread, and never a fresh heap chunk between the acceptor's long-lived ones.
  net::post(w.ctx, net::bind_allocator(HandoffAllocator<void>(&w.handoff_slot), [this, &w] { take_over(w); }));
}

void Server::take_over(Worker& w) {
  {
    std::lock_guard lock(w.handoff_mu);
    std::swap(w.handoff, w.handoff_local);
    w.handoff_posted = false;
  }
  for (auto& a : w.handoff_local) {
    auto s = std::make_shared<Session>(*this, w, std::move(a.sock), std::move(a.listener), std::move(a.tls));
    net::co_spawn(w.ctx, Session::run(std::move(s)), log_exception);
  }
  w.handoff_local.clear();
}

namespace {
// How long a reload waits for a new Redis client to connect before it replaces the old one.
constexpr auto kStoreConnectWait = std::chrono::seconds(5);
}  // namespace

awaitable<void> Server::reload() {
  auto fail = [this](const std::string& why) {
    log_error("reload failed, keeping the running config: " + why);
    registry_.global.reloads_failure.fetch_add(1);
  };
  auto res = config::load_file(config_path_);
  if (!res.ok()) {
    for (auto& e : res.errors) log_error("reload failed, keeping the running config: " + e);
    registry_.global.reloads_failure.fetch_add(1);
    co_return;
  }
  auto old = snapshot();
  if (res.config.server.workers != old->config.server.workers)
    log_warn("server.workers changed; it takes effect on restart");
  if (!(res.config.server.admin == old->config.server.admin))
    log_warn("server.admin changed; it takes effect on restart");
  Next next{std::move(res.config)};
  std::string err;
  if (!prepare(next, err)) {
    fail(err);
    co_return;
  }
  if (next.new_store && !next.store->ready()) {
    // Off the request path: the old store keeps answering while the new client connects.
    net::steady_timer poll(control_);
    auto give_up = policy::Clock::now() + kStoreConnectWait;
    while (!next.store->ready() && policy::Clock::now() < give_up && !draining()) {
      poll.expires_after(std::chrono::milliseconds(10));
      co_await poll.async_wait(use_nothrow);
    }
    if (draining()) {
      abandon(next);
      fail("breakwater is draining");
      co_return;
    }
    // Not connected in time: switch anyway. The new url and timeout are what the
    // operator asked for (the old Redis may be the one that is gone), and the new
    // client keeps connecting in the background while on_error decides.
    if (!next.store->ready())
      log_warn("the new store is not connected after " + std::to_string(kStoreConnectWait.count()) +
               "s; switching to it anyway, it keeps connecting in the background");
  }
  commit(std::move(next));
  registry_.global.reloads_success.fetch_add(1);
  log_info("config reloaded from " + config_path_);
}

// One reload at a time; the next SIGHUP is taken once this one is done.
void Server::wait_for_hup() {
  hup_.async_wait([this](error_code ec, int) {
    if (ec) return;
    net::co_spawn(control_, reload(), [this](std::exception_ptr e) {
      if (e) {
        // A reload never takes the process down: whatever it threw, the old config keeps serving.
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          log_error(std::string("reload failed, keeping the running config: ") + x.what());
        }
        registry_.global.reloads_failure.fetch_add(1);
      }
      wait_for_hup();
    });
  });
}

void Server::begin_drain() {
  if (draining_.exchange(true)) return;
  log_info("draining: listeners closed, waiting for requests in flight");
  for (auto& [name, l] : listeners_) {
    l->closed.store(true);
    error_code ec;
    l->acceptor.close(ec);
  }
  close_sessions_of(nullptr);
  drain_deadline_ = policy::Clock::now() + snapshot()->config.server.drain_timeout;
  wait_drained();
}

void Server::wait_drained() {
  if (active_sessions.load() == 0 || policy::Clock::now() >= drain_deadline_) {
    if (active_sessions.load() > 0) log_warn("drain timeout reached with requests still in flight");
    admin_->stop();
    for (auto& w : workers_) w->ctx.stop();
    control_.stop();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(5));
  drain_timer_.async_wait([this](error_code ec) {
    if (!ec) wait_drained();
  });
}

int Server::run() {
  signals_.async_wait([this](error_code ec, int) {
    if (!ec) begin_drain();
  });
  wait_for_hup();
  started_ = true;
  for (auto& [name, l] : listeners_) start_accepting(l);
  admin_->start();
  net::co_spawn(control_, trim_loop(control_), net::detached);
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  for (auto& w : workers_) {
    guards.push_back(net::make_work_guard(w->ctx));
    net::co_spawn(w->ctx, sweep_loop(w.get(), this), net::detached);
    w->thread = std::thread([w = w.get()] { w->ctx.run(); });
  }
  std::string where;
  for (auto& [name, l] : listeners_) where += " " + name + "=" + l->bind.str();
  log_info("breakwater serving with " + std::to_string(workers_.size()) + " worker(s):" + where +
           " admin=" + snapshot()->config.server.admin.str());
  control_.run();
  for (auto& w : workers_) {
    w->ctx.stop();
    if (w->thread.joinable()) w->thread.join();
  }
  if (store_) store_->shutdown();
  log_info("drained, exiting");
  return 0;
}

std::string Server::metrics() const { return render_metrics(registry_, *snapshot()); }

std::string Server::routes() const { return render_routes(*snapshot()); }

std::string Server::stats() const { return render_stats(*snapshot(), policy::Clock::now()); }

}  // namespace breakwater::server

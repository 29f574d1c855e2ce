#include "breakwater/proxy/server.hpp"

#include <malloc.h>

#include <boost/asio/bind_allocator.hpp>

#include <csignal>

#include "breakwater/admin/admin.hpp"
#include "breakwater/config/load.hpp"
#include "breakwater/log.hpp"
#include "breakwater/proxy/session.hpp"

namespace breakwater::proxy {
namespace {

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    log_error(std::string("unexpected error in a connection: ") + x.what());
  }
}

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

awaitable<void> sweep_loop(Worker* w) {
  net::steady_timer t(w->ctx);
  for (;;) {
    t.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await t.async_wait(use_nothrow);
    if (ec) co_return;
    w->pools.sweep(policy::Clock::now());
  }
}

}  // namespace

Worker::Worker(unsigned i) : index(i), rng(std::random_device{}() ^ (static_cast<std::uint64_t>(i) << 40)) {}

ListenerHandle::ListenerHandle(net::io_context& ctx, const config::ListenerConfig& c)
    : name(c.name), bind(c.bind), acceptor(ctx), max_connections(c.max_connections) {
  if (!c.tls_cert.empty()) tls = http::make_server_tls(c.tls_cert, c.tls_key);
  tcp::endpoint ep(net::ip::make_address(c.bind.host), c.bind.port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(net::socket_base::max_listen_connections);
}

Server::Server(std::string config_path, config::Config initial) : config_path_(std::move(config_path)) {
  signals_.add(SIGHUP);
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  unsigned n = initial.server.workers ? initial.server.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(i));
  std::string err;
  if (!reconcile_listeners(initial, err)) throw std::runtime_error(err);
  try {
    admin_ = std::make_unique<admin::Admin>(*this, control_, initial.server.admin);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot bind the admin listener " + initial.server.admin.str() + ": " + e.what());
  }
  snapshot_.store(build_snapshot(std::move(initial)));
}

Server::~Server() = default;

std::shared_ptr<const Snapshot> Server::build_snapshot(config::Config c) {
  auto snap = std::make_shared<Snapshot>(std::move(c));
  std::map<std::string, std::shared_ptr<http::UpstreamShared>> next;
  for (auto& u : snap->config.upstreams) {
    auto it = upstreams_.find(u.name);
    next[u.name] = (it != upstreams_.end() && it->second->cfg == u) ? it->second
                                                                    : std::make_shared<http::UpstreamShared>(u);
  }
  for (auto& [name, up] : upstreams_)
    if (next[name] != up) up->retired.store(true);
  std::erase_if(next, [](auto& kv) { return !kv.second; });
  upstreams_ = std::move(next);
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
  if (!store_ || !(store_cfg_ == snap->config.store)) {
    // A changed [store] gets a new store; requests still on the old one finish with it.
    if (store_) store_->shutdown();
    std::vector<net::any_io_executor> executors;
    for (auto& w : workers_) executors.push_back(w->ctx.get_executor());
    store_ = store::make_store(snap->config.store, executors);
    store_cfg_ = snap->config.store;
  }
  snap->store = store_;
  return snap;
}

bool Server::reconcile_listeners(const config::Config& c, std::string& error) {
  std::map<std::string, std::shared_ptr<ListenerHandle>> next;
  std::vector<std::shared_ptr<ListenerHandle>> fresh;
  std::map<std::string, std::shared_ptr<net::ssl::context>> certs;  // applied only if everything binds
  for (auto& lc : c.listeners) {
    auto it = listeners_.find(lc.name);
    if (it != listeners_.end() && it->second->bind == lc.bind) {
      // Certificates are read again on every reload, so a rotated file is picked up.
      if (!lc.tls_cert.empty()) {
        try {
          certs[lc.name] = http::make_server_tls(lc.tls_cert, lc.tls_key);
        } catch (const std::exception& e) {
          error = "cannot load the TLS certificate of listener '" + lc.name + "': " + e.what();
          for (auto& f : fresh) f->acceptor.close();
          return false;
        }
      }
      next[lc.name] = it->second;
      continue;
    }
    try {
      auto l = std::make_shared<ListenerHandle>(control_, lc);
      fresh.push_back(l);
      next[lc.name] = l;
    } catch (const std::exception& e) {
      error = "cannot start listener '" + lc.name + "' on " + lc.bind.str() + ": " + e.what();
      for (auto& f : fresh) {
        error_code ec;
        f->acceptor.close(ec);
      }
      return false;
    }
  }
  for (auto& lc : c.listeners) {
    auto& l = next[lc.name];
    l->max_connections.store(lc.max_connections);
    if (auto cert = certs.find(lc.name); cert != certs.end()) l->tls = cert->second;
    if (lc.tls_cert.empty()) l->tls.reset();
  }
  for (auto& [name, old] : listeners_) {
    auto it = next.find(name);
    if (it != next.end() && it->second == old) continue;
    old->closed.store(true);
    error_code ec;
    old->acceptor.close(ec);
    close_sessions_of(old);
  }
  bool running = !listeners_.empty();
  listeners_ = std::move(next);
  if (running)
    for (auto& l : fresh) start_accepting(l);
  return true;
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

void Server::reload() {
  auto res = config::load_file(config_path_);
  if (!res.ok()) {
    for (auto& e : res.errors) log_error("reload failed, keeping the running config: " + e);
    registry_.global.reloads_failure.fetch_add(1);
    return;
  }
  auto old = snapshot();
  if (res.config.server.workers != old->config.server.workers)
    log_warn("server.workers changed; it takes effect on restart");
  if (!(res.config.server.admin == old->config.server.admin))
    log_warn("server.admin changed; it takes effect on restart");
  std::string err;
  if (!reconcile_listeners(res.config, err)) {
    log_error("reload failed, keeping the running config: " + err);
    registry_.global.reloads_failure.fetch_add(1);
    return;
  }
  snapshot_.store(build_snapshot(std::move(res.config)));
  registry_.global.reloads_success.fetch_add(1);
  log_info("config reloaded from " + config_path_);
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
  std::function<void(error_code, int)> on_signal = [this, &on_signal](error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload();
      signals_.async_wait(on_signal);
    } else {
      begin_drain();
    }
  };
  signals_.async_wait(on_signal);
  for (auto& [name, l] : listeners_) start_accepting(l);
  admin_->start();
  net::co_spawn(control_, trim_loop(control_), net::detached);
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  for (auto& w : workers_) {
    guards.push_back(net::make_work_guard(w->ctx));
    net::co_spawn(w->ctx, sweep_loop(w.get()), net::detached);
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

}  // namespace breakwater::proxy

#pragma once
// The process: worker threads, listeners, admin, reload and drain.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "breakwater/config/model.hpp"
#include "breakwater/io/asio.hpp"
#include "breakwater/policy/fast_rng.hpp"
#include "breakwater/io/stream.hpp"
#include "breakwater/upstream/pool.hpp"
#include "breakwater/server/handoff.hpp"
#include "breakwater/proxy/route_state.hpp"
#include "breakwater/proxy/snapshot.hpp"

#include "breakwater/admin/view.hpp"

namespace breakwater::admin {
class Admin;
}

namespace breakwater::proxy {
class Session;
}

namespace breakwater::server {

using proxy::RouteRegistry;
using proxy::Snapshot;
struct ListenerHandle;

// One event loop thread with its own upstream pools.
struct Worker final {
  explicit Worker(unsigned index);
  unsigned index;
  SessionHook sessions;  // head of the list of this worker's sessions; this worker's thread only
  net::io_context ctx{1};
  upstream::UpstreamPools pools{ctx.get_executor()};
  policy::FastRng rng;
  std::thread thread;

  // Accepted sockets handed over by the acceptor thread. Two vectors swap roles, so a
  // hand-over allocates nothing once warm and at most one wake-up is queued at a time.
  struct Accepted {
    tcp::socket sock;
    std::shared_ptr<ListenerHandle> listener;
    std::shared_ptr<net::ssl::context> tls;  // read on the control thread, which owns it
  };
  std::mutex handoff_mu;
  std::vector<Accepted> handoff;  // guarded by handoff_mu
  bool handoff_posted = false;    // guarded by handoff_mu
  std::vector<Accepted> handoff_local;  // worker thread only
  HandoffSlot handoff_slot;
};

// A bound listening socket; sessions keep it alive to count connections.
struct ListenerHandle final {
  ListenerHandle(net::io_context& ctx, const config::ListenerConfig& c);
  // A listener renamed on the same address: the same socket under a second descriptor.
  ListenerHandle(net::io_context& ctx, const config::ListenerConfig& c, ListenerHandle& same_socket);
  std::string name;
  config::HostPort bind;
  tcp::acceptor acceptor;
  std::atomic<unsigned> max_connections;
  std::atomic<int> connections{0};
  std::atomic<bool> closed{false};
  std::shared_ptr<net::ssl::context> tls;  // TLS termination; replaced on reload (control thread only)
};

class Server final : public admin::ServerView {
 public:
  Server(std::string config_path, config::Config initial);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, serves until SIGTERM/SIGINT and the drain end; returns the exit code.
  int run();

  [[nodiscard]] std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(); }
  [[nodiscard]] bool draining() const override { return draining_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::string metrics() const override;
  [[nodiscard]] std::string routes() const override;
  [[nodiscard]] std::string stats() const override;
  RouteRegistry& registry() { return registry_; }
  std::atomic<int> active_sessions{0};

 private:
  // A reload is a transaction: prepare() builds everything the next config
  // needs (upstream TLS contexts, listener sockets, the store) and can fail
  // without changing anything; commit() swaps it all in and cannot fail.
  struct Next {
    config::Config config;
    std::map<std::string, std::shared_ptr<upstream::UpstreamShared>> upstreams;
    std::map<std::string, std::shared_ptr<ListenerHandle>> listeners;
    std::vector<std::shared_ptr<ListenerHandle>> fresh;                // bound here, not yet accepting
    std::map<std::string, std::shared_ptr<net::ssl::context>> certs;  // kept listeners' certificates, read again
    std::shared_ptr<store::Store> store;
    bool new_store = false;
  };
  bool prepare(Next& next, std::string& error);
  void abandon(Next& next);
  void commit(Next next);
  std::shared_ptr<const Snapshot> build_snapshot(config::Config c);
  void start_accepting(const std::shared_ptr<ListenerHandle>& l);
  void hand_over(Worker& w, tcp::socket sock, const std::shared_ptr<ListenerHandle>& l);
  void take_over(Worker& w);
  awaitable<void> accept_loop(std::shared_ptr<ListenerHandle> l);
  awaitable<void> reload();
  void wait_for_hup();
  void begin_drain();
  void wait_drained();
  void close_sessions_of(const std::shared_ptr<ListenerHandle>& l);

  std::string config_path_;
  RouteRegistry registry_;
  // Workers outlive the control loop: its pending accepts hold sockets of worker contexts.
  std::vector<std::unique_ptr<Worker>> workers_;
  net::io_context control_{1};
  std::atomic<std::uint64_t> next_worker_{0};
  std::map<std::string, std::shared_ptr<ListenerHandle>> listeners_;
  std::map<std::string, std::shared_ptr<upstream::UpstreamShared>> upstreams_;
  std::shared_ptr<store::Store> store_;
  bool started_ = false;  // run() has started the accept loops
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::atomic<bool> draining_{false};
  std::unique_ptr<admin::Admin> admin_;
  net::signal_set signals_{control_};
  net::signal_set hup_{control_};  // apart from SIGTERM, so a reload waiting for Redis never delays a drain
  net::steady_timer drain_timer_{control_};
  policy::TimePoint drain_deadline_{};
};

}  // namespace breakwater::server

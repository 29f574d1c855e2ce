#include "breakwater/store/redis_cluster.hpp"

#include <atomic>
#include <optional>
#include <unordered_map>

#include "breakwater/log.hpp"
#include "breakwater/store/cluster_map.hpp"
#include "breakwater/store/redis_node.hpp"
#include "breakwater/store/topology_refresh.hpp"

namespace breakwater::store {

using cluster::NodeAddr;

struct RedisCluster::Core final : std::enable_shared_from_this<Core> {
  Core(net::any_io_executor e, std::vector<config::RedisUrl> s, policy::Duration t)
      : ex(std::move(e)),
        seeds(std::move(s)),
        timeout(t),
        // Every 5 s (SPEC §6: "every 5 seconds while a node is failing"; cheap enough to do always),
        // and at most every 250 ms when a call asks.
        refresh(ex, std::chrono::seconds(5), std::chrono::milliseconds(250)) {}

  net::any_io_executor ex;
  std::vector<config::RedisUrl> seeds;  // credentials, TLS: the same for every node
  policy::Duration timeout;
  struct Known {
    std::shared_ptr<RedisNode> node;
    policy::TimePoint born;  // when its connection was first started
  };
  std::unordered_map<std::string, Known> nodes;  // "host:port" -> node
  std::optional<cluster::SlotMap> map;
  TopologyRefresh refresh;
  std::atomic<bool> has_map{false};
  bool stopped = false;

  std::shared_ptr<RedisNode> node(const NodeAddr& a) {
    auto& n = nodes[a.str()];
    if (!n.node) {
      auto url = seeds.front();
      url.host = a.host;
      url.port = a.port;
      url.db = 0;
      n = {std::make_shared<RedisNode>(ex, url, timeout), policy::Clock::now()};
    }
    return n.node;
  }

  // A node first named by a redirect or a new map (a promoted replica) is still
  // making its first connection: wait for it within the call's time rather than
  // fail the call. One that answered before and is down now fails at once (its
  // breaker's business), and so does one that could not connect for a second.
  awaitable<void> settle(NodeAddr a, std::shared_ptr<RedisNode> n, policy::TimePoint deadline) {
    auto it = nodes.find(a.str());
    if (n->ready() || !n->connecting() || it == nodes.end() ||
        policy::Clock::now() - it->second.born > std::chrono::seconds(1))
      co_return;
    net::steady_timer poll(ex);
    while (!n->ready() && !stopped && policy::Clock::now() + std::chrono::milliseconds(1) < deadline) {
      poll.expires_after(std::chrono::milliseconds(1));
      co_await poll.async_wait(use_nothrow);
    }
  }

  static awaitable<void> run(std::shared_ptr<Core> self) {
    std::vector<std::shared_ptr<RedisNode>> first;
    for (auto& s : self->seeds) first.push_back(self->node({s.host, s.port}));
    co_await until_one_ready(self->ex, first, std::chrono::seconds(1));
    for (;;) {  // (no co_await inside a condition: g++ 12 miscompiles some)
      bool due = co_await self->refresh.due();
      if (!due) break;
      bool read = co_await self->read_map();
      if (!read) self->refresh.request();  // nothing answered yet: try again soon
    }
  }

  // The slot map from the first node that gives one: known masters first, then the seeds.
  awaitable<bool> read_map() {
    std::vector<NodeAddr> ask;
    if (map) ask = map->masters();
    for (auto& s : seeds) ask.push_back({s.host, s.port});
    std::string shards, slots;
    format_command(shards, std::array<std::string_view, 2>{"CLUSTER", "SHARDS"}.data(), 2);
    format_command(slots, std::array<std::string_view, 2>{"CLUSTER", "SLOTS"}.data(), 2);
    auto limit = std::max<policy::Duration>(timeout, std::chrono::milliseconds(500));
    for (auto& addr : ask) {
      auto n = node(addr);
      if (!n->ready()) continue;
      auto r = co_await n->command(shards, limit);
      if (stopped) co_return true;
      std::optional<cluster::SlotMap> m;
      if (r && !r->is_error()) {
        m = cluster::parse_cluster_shards(*r, addr.host, n->url().tls);
      } else if (r) {  // before Redis 7
        r = co_await n->command(slots, limit);
        if (stopped) co_return true;
        if (r && !r->is_error()) m = cluster::parse_cluster_slots(*r, addr.host);
      }
      if (!m || m->covered() == 0) continue;
      for (auto& master : m->masters()) node(master);  // connect ahead of the first call
      map = std::move(m);
      has_map = true;
      co_return true;
    }
    co_return false;
  }

  awaitable<Result<RedisReply>> eval(const RedisScript& script, std::string_view key,
                                     std::span<const std::string_view> args, std::string_view evalsha) {
    auto deadline = policy::Clock::now() + timeout;
    auto slot = cluster::key_slot(key);
    const NodeAddr* owner = map ? map->owner(slot) : nullptr;
    if (!owner) {
      refresh.request();
      co_return StoreError::unavailable;
    }
    NodeAddr target = *owner;
    bool asking = false;
    int redirects = 0;
    for (;;) {
      auto n = node(target);  // held through the call
      co_await settle(target, n, deadline);
      auto r = co_await n->run(script, key, args, evalsha, deadline, asking);
      asking = false;
      if (!r) {
        refresh.request();  // a failed connection or a failing node: the slot may have a new master
        co_return r.error();
      }
      if (!r->is_error()) co_return std::move(r);
      if (auto red = cluster::parse_redirect(r->str, target.host)) {
        if (++redirects > kMaxRedirects) {
          log_error("redis cluster: more than " + std::to_string(kMaxRedirects) + " redirects for slot " +
                    std::to_string(slot));
          co_return StoreError::redirect;
        }
        if (red->kind == cluster::Redirect::Kind::moved) {
          if (map) map->assign(red->slot, red->slot, red->to);  // resent there now, the whole map read soon
          refresh.request();
        } else {
          asking = true;  // this call only; the map stays
        }
        target = red->to;
        continue;
      }
      if (starts_with(r->str, "TRYAGAIN")) {  // a slot in migration, keys split: again shortly, within the call's time
        net::steady_timer pause(ex);
        pause.expires_at(std::min(deadline, policy::Clock::now() + std::chrono::milliseconds(5)));
        co_await pause.async_wait(use_nothrow);
        if (policy::Clock::now() >= deadline) co_return StoreError::timeout;
        continue;
      }
      if (starts_with(r->str, "CLUSTERDOWN") || starts_with(r->str, "READONLY")) refresh.request();
      co_return error_of(*r);
    }
  }

  void stop() {
    net::post(ex, [self = shared_from_this()] {
      self->stopped = true;
      self->refresh.stop();
      for (auto& [k, n] : self->nodes) n.node->stop();
    });
  }
};

RedisCluster::RedisCluster(net::any_io_executor ex, std::vector<config::RedisUrl> seeds, policy::Duration timeout)
    : core_(std::make_shared<Core>(std::move(ex), std::move(seeds), timeout)) {
  net::co_spawn(core_->ex, Core::run(core_), net::detached);
}

RedisCluster::~RedisCluster() { core_->stop(); }

awaitable<Result<RedisReply>> RedisCluster::eval(const RedisScript& script, std::string_view key,
                                                 std::span<const std::string_view> args, std::string_view evalsha) {
  return core_->eval(script, key, args, evalsha);
}

const net::any_io_executor& RedisCluster::executor() const { return core_->ex; }
bool RedisCluster::ready() const { return core_->has_map; }
void RedisCluster::stop() { core_->stop(); }

}  // namespace breakwater::store

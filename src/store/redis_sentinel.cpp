#include "breakwater/store/redis_sentinel.hpp"

#include <algorithm>
#include <atomic>
#include <sstream>

#include "breakwater/log.hpp"
#include "breakwater/store/redis_connection.hpp"
#include "breakwater/store/redis_node.hpp"
#include "breakwater/store/topology_refresh.hpp"

namespace breakwater::store {

struct RedisSentinel::Core final : std::enable_shared_from_this<Core> {
  Core(net::any_io_executor e, std::vector<config::RedisUrl> s, std::string name, policy::Duration t)
      : ex(std::move(e)),
        urls(std::move(s)),
        master_name(std::move(name)),
        timeout(t),
        // Asked every second, and at most every 100 ms when a call fails.
        refresh(ex, std::chrono::seconds(1), std::chrono::milliseconds(100)) {}

  net::any_io_executor ex;
  std::vector<config::RedisUrl> urls;  // the sentinels; credentials and db serve the master too
  std::string master_name;
  policy::Duration timeout;
  std::vector<std::shared_ptr<RedisNode>> sentinels;
  std::vector<std::shared_ptr<RedisConnection>> announcements;  // one per sentinel, subscribed to +switch-master
  std::shared_ptr<RedisNode> master;
  std::string master_at;  // "host:port"
  TopologyRefresh refresh;
  std::atomic<bool> has_master{false};
  bool stopped = false;

  static awaitable<void> run(std::shared_ptr<Core> self) {
    std::weak_ptr<Core> weak = self;
    for (auto url : self->urls) {
      url.db = 0;  // a sentinel has no databases to select
      self->sentinels.push_back(std::make_shared<RedisNode>(self->ex, url, self->timeout, true));
      auto sub = std::make_shared<RedisConnection>(self->ex, url, self->timeout);
      sub->set_auth_optional();
      // ["message", "+switch-master", "NAME old-ip old-port new-ip new-port"]: ask the sentinels now.
      sub->set_subscription("+switch-master", [weak](const RedisReply& m) {
        auto core = weak.lock();
        if (!core || m.type != RedisReply::Type::array || m.elements.size() != 3) return;
        std::istringstream words(m.elements[2].str);
        std::string name, old_host, old_port, host, port;
        if (!(words >> name >> old_host >> old_port >> host >> port) || name != core->master_name) return;
        log_info("redis sentinel announced +switch-master: " + m.elements[2].str);
        net::co_spawn(core->ex, announced(core, host, port), net::detached);
      });
      sub->start();
      self->announcements.push_back(std::move(sub));
    }
    co_await until_one_ready(self->ex, self->sentinels, std::chrono::seconds(1));
    for (;;) {  // (no co_await inside a condition: g++ 12 miscompiles some)
      bool due = co_await self->refresh.due();
      if (!due) break;
      bool followed = co_await self->follow();
      if (!followed) self->refresh.request();
    }
  }

  // Asks the sentinels in turn where the master is and goes with the address most
  // of them name (one that has not seen a switch yet is outvoted); moves there
  // once ROLE says it is a master.
  awaitable<bool> follow() {
    std::string ask;
    format_command(ask,
                   std::array<std::string_view, 3>{"SENTINEL", "get-master-addr-by-name", master_name}.data(), 3);
    auto limit = std::max<policy::Duration>(timeout, std::chrono::milliseconds(500));
    std::vector<std::pair<std::array<std::string, 2>, int>> named;  // host, port -> votes
    for (auto& s : sentinels) {
      if (!s->ready()) continue;
      auto r = co_await s->command(ask, limit);
      if (stopped) co_return true;
      if (!r || r->type != RedisReply::Type::array || r->elements.size() != 2) continue;  // not known to this one
      std::array<std::string, 2> addr{r->elements[0].str, r->elements[1].str};
      auto it = std::find_if(named.begin(), named.end(), [&](auto& n) { return n.first == addr; });
      if (it == named.end())
        named.push_back({addr, 1});
      else
        ++it->second;
    }
    if (named.empty()) co_return false;
    auto best = std::max_element(named.begin(), named.end(), [](auto& a, auto& b) { return a.second < b.second; });
    bool moved = co_await go_to(best->first[0], best->first[1]);
    co_return moved;
  }

  // A sentinel announced "+switch-master NAME old-ip old-port new-ip new-port": go there now.
  static awaitable<void> announced(std::shared_ptr<Core> self, std::string host, std::string port) {
    bool moved = co_await self->go_to(std::move(host), std::move(port));
    if (!moved) self->refresh.request();
  }

  awaitable<bool> go_to(std::string host, std::string port) {
    auto addr = host + ":" + port;
    if (addr == master_at && master) co_return true;
    bool moved = co_await switch_to(std::move(host), std::move(port), std::move(addr));
    co_return moved;
  }

  awaitable<bool> switch_to(std::string host, std::string port, std::string addr) {
    auto url = urls.front();
    url.host = host;
    try {
      url.port = static_cast<std::uint16_t>(std::stoul(port));
    } catch (...) {
      co_return false;
    }
    auto candidate = std::make_shared<RedisNode>(ex, url, timeout);
    // Connected (AUTH, SELECT, PING) within a second, or asked again on the next round.
    net::steady_timer poll(ex);
    auto give_up = policy::Clock::now() + std::chrono::seconds(1);
    while (!candidate->ready() && !stopped && policy::Clock::now() < give_up) {
      poll.expires_after(std::chrono::milliseconds(10));
      co_await poll.async_wait(use_nothrow);
    }
    std::string role;
    format_command(role, std::array<std::string_view, 1>{"ROLE"}.data(), 1);
    Result<RedisReply> r = StoreError::unavailable;
    if (candidate->ready())  // (no co_await inside ?: — g++ 12 miscompiles it)
      r = co_await candidate->command(role, std::max<policy::Duration>(timeout, std::chrono::milliseconds(500)));
    if (stopped) {
      candidate->stop();
      co_return true;
    }
    if (!r || r->type != RedisReply::Type::array || r->elements.empty() || r->elements[0].str != "master") {
      log_warn("redis sentinel names " + addr + " as master '" + master_name + "', but it does not answer ROLE as a master yet");
      candidate->stop();
      co_return false;
    }
    if (addr == master_at) {  // another switch got here first
      candidate->stop();
      co_return true;
    }
    if (master) master->stop();  // its calls in flight fail; new ones go to the new master
    log_info("redis sentinel: master '" + master_name + "' is at " + addr);
    master = std::move(candidate);
    master_at = addr;
    has_master = true;
    co_return true;
  }

  awaitable<Result<RedisReply>> eval(const RedisScript& script, std::string_view key,
                                     std::span<const std::string_view> args, std::string_view evalsha) {
    auto m = master;  // held through the call: a switch may replace it meanwhile
    if (!m) {
      refresh.request();
      co_return StoreError::unavailable;
    }
    auto r = co_await m->run(script, key, args, evalsha, policy::Clock::now() + timeout);
    if (!r) {
      if (r.error() != StoreError::breaker_open || !m->ready()) refresh.request();
      co_return r.error();
    }
    if (r->is_error()) {
      if (starts_with(r->str, "READONLY")) refresh.request();  // demoted: the sentinels know the new master
      co_return error_of(*r);
    }
    co_return std::move(r);
  }

  void stop() {
    net::post(ex, [self = shared_from_this()] {
      self->stopped = true;
      self->refresh.stop();
      for (auto& s : self->sentinels) s->stop();
      for (auto& a : self->announcements) a->stop();
      if (self->master) self->master->stop();
    });
  }
};

RedisSentinel::RedisSentinel(net::any_io_executor ex, std::vector<config::RedisUrl> sentinels,
                             std::string master_name, policy::Duration timeout)
    : core_(std::make_shared<Core>(std::move(ex), std::move(sentinels), std::move(master_name), timeout)) {
  net::co_spawn(core_->ex, Core::run(core_), net::detached);
}

RedisSentinel::~RedisSentinel() { core_->stop(); }

awaitable<Result<RedisReply>> RedisSentinel::eval(const RedisScript& script, std::string_view key,
                                                  std::span<const std::string_view> args, std::string_view evalsha) {
  return core_->eval(script, key, args, evalsha);
}

const net::any_io_executor& RedisSentinel::executor() const { return core_->ex; }
bool RedisSentinel::ready() const { return core_->has_master; }
void RedisSentinel::stop() { core_->stop(); }

}  // namespace breakwater::store

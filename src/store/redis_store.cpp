#include "breakwater/store/redis_store.hpp"

#include "breakwater/log.hpp"
#include "breakwater/store/hash.hpp"
#include "breakwater/store/memory_store.hpp"

namespace breakwater::store {
namespace {

// GCRA on Redis time. KEYS[1]: bucket; ARGV[1]: one token (µs); ARGV[2]: the whole bucket (µs).
// Returns {allowed, TAT after the decision minus now, µs until one request is admitted}.
const std::string kGcraScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then tat = math.max(tonumber(stored), now) end
local nxt = tat + interval
local allow_at = nxt - tolerance
if now < allow_at then
  return {0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 1)
return {1, nxt - now, 0}
)lua";

const std::string& gcra_sha() {
  static const std::string sha = sha1_hex(kGcraScript);
  return sha;
}

// The breaker around Redis: a few failures in a row open it, a probe closes it.
policy::CircuitBreakerSettings store_breaker() {
  policy::CircuitBreakerSettings s;
  s.window = policy::WindowKind::count;
  s.window_size = 20;
  s.minimum_calls = 5;
  s.failure_rate_threshold = 50;
  s.slow_call_duration = std::chrono::hours(1);
  s.open_duration = std::chrono::milliseconds(250);
  s.open_duration_max = std::chrono::seconds(2);
  s.half_open_calls = 1;
  return s;
}

}  // namespace

RedisStore::RedisStore(const config::StoreConfig& cfg, const config::RedisUrl& url,
                       const std::vector<net::any_io_executor>& workers)
    : timeout_(cfg.timeout) {
  for (auto& ex : workers) {
    auto pw = std::make_unique<PerWorker>(PerWorker{std::make_shared<RedisConnection>(ex, url, cfg.timeout),
                                                    policy::CircuitBreaker(store_breaker()), {}});
    pw->conn->start();
    workers_.push_back(std::move(pw));
  }
}

RedisStore::~RedisStore() { shutdown(); }

void RedisStore::shutdown() {
  for (auto& w : workers_) w->conn->stop();
}

awaitable<std::optional<RedisReply>> RedisStore::eval(unsigned worker, const std::string& script,
                                                      const std::string& sha, std::vector<std::string> keys,
                                                      std::vector<std::string> args) {
  auto& pw = *workers_[worker % workers_.size()];
  auto start = policy::Clock::now();
  auto permit = pw.breaker.try_acquire(start);
  if (!permit.allowed) co_return std::nullopt;  // Redis is known to be down: do not pay the timeout
  std::vector<std::string> cmd{"EVALSHA", sha, std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  auto r = co_await pw.conn->call(cmd, timeout_);
  if (r && r->is_error() && r->str.rfind("NOSCRIPT", 0) == 0) {
    // After a restart or failover the script cache is empty: send it once in full.
    cmd[0] = "EVAL";
    cmd[1] = script;
    r = co_await pw.conn->call(std::move(cmd), timeout_ - (policy::Clock::now() - start));
  }
  bool failed = !r || r->is_error();
  if (r && r->is_error()) log_error("redis error: " + r->str);
  auto end = policy::Clock::now();
  pw.breaker.on_result(permit, failed, end - start, end);
  if (failed) co_return std::nullopt;
  co_return r;
}

awaitable<std::optional<policy::GcraOutcome>> RedisStore::rate_limit(unsigned worker, std::string_view route,
                                                                     std::string_view descriptor,
                                                                     const policy::GcraParams& p) {
  auto& pw = *workers_[worker % workers_.size()];
  std::string key = "bw:rl:{";
  key.append(route).append(":").append(sha256_hex(descriptor)).append("}");
  auto now = policy::Clock::now();
  if (auto it = pw.over_limit.find(key); it != pw.over_limit.end()) {
    if (now < it->second.until) {
      using us = std::chrono::microseconds;
      co_return policy::GcraOutcome{false, std::chrono::duration_cast<us>(it->second.full_at - now).count(),
                                    std::chrono::duration_cast<us>(it->second.until - now).count()};
    }
    pw.over_limit.erase(it);
  }
  // Named vectors: braced temporaries across co_await trip a g++ 12 coroutine bug.
  std::vector<std::string> keys{key};
  std::vector<std::string> args{std::to_string(policy::gcra_interval_us(p)),
                                std::to_string(policy::gcra_tolerance_us(p))};
  auto r = co_await eval(worker, kGcraScript, gcra_sha(), std::move(keys), std::move(args));
  if (!r || r->type != RedisReply::Type::array || r->elements.size() != 3) co_return std::nullopt;
  policy::GcraOutcome out{r->elements[0].integer == 1, r->elements[1].integer, r->elements[2].integer};
  if (!out.allowed) {
    if (pw.over_limit.size() > 100'000) std::erase_if(pw.over_limit, [&](auto& kv) { return kv.second.until <= now; });
    auto after = policy::Clock::now();
    pw.over_limit[key] = {after + std::chrono::microseconds(out.retry_after_us),
                          after + std::chrono::microseconds(out.tat_after_us)};
  }
  co_return out;
}

std::shared_ptr<Store> make_store(const config::StoreConfig& cfg, const std::vector<net::any_io_executor>& workers) {
  if (cfg.backend == config::StoreConfig::Backend::memory) return std::make_shared<MemoryStore>();
  auto url = config::parse_redis_url(cfg.url);
  return std::make_shared<RedisStore>(cfg, url.value_or(config::RedisUrl{}), workers);
}

}  // namespace breakwater::store

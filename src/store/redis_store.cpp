#include "breakwater/store/redis_store.hpp"

#include "breakwater/log.hpp"
#include "breakwater/store/hash.hpp"
#include "breakwater/store/keys.hpp"
#include "breakwater/store/memory_store.hpp"

namespace breakwater::store {
namespace {

// GCRA on Redis time for ARGV[3] requests at once (policy::gcra_batch in Lua).
// KEYS[1]: bucket; ARGV[1]: one token (µs); ARGV[2]: the whole bucket (µs).
// Returns {how many of the n are admitted, max(TAT, now) - now before them}.
const std::string kGcraScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local base = 0
local stored = redis.call('GET', KEYS[1])
if stored then base = math.max(tonumber(stored) - now, 0) end
local room = tolerance - base
local admitted = 0
if interval > 0 then
  if room >= interval then
    admitted = math.floor(room / interval)
    if admitted * interval > room then admitted = admitted - 1 end
    if (admitted + 1) * interval <= room then admitted = admitted + 1 end
    admitted = math.min(n, admitted)
  end
elseif base <= tolerance then
  admitted = n
end
if admitted > 0 then
  local nxt = now + base + admitted * interval
  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 1)
end
return {admitted, base}
)lua";

const std::string& gcra_sha() {
  static const std::string sha = sha1_hex(kGcraScript);
  return sha;
}

// Idempotency values: a lock is "L" + token (32 hex) + fingerprint (64 hex);
// a record is "R" + fingerprint (64 hex) + the encoded response.
// KEYS[1]; ARGV: token, fingerprint, lock ms. SET NX PX takes the lock.
const std::string kIdemBegin = R"lua(
local lock = 'L' .. ARGV[1] .. ARGV[2]
if redis.call('SET', KEYS[1], lock, 'NX', 'PX', ARGV[3]) then return {'acquired'} end
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], lock, 'PX', ARGV[3])
  return {'acquired'}
end
local kind = string.sub(v, 1, 1)
local fp = kind == 'L' and string.sub(v, 34, 97) or string.sub(v, 2, 65)
if fp ~= ARGV[2] then return {'mismatch'} end
if kind == 'L' then return {'in_flight'} end
return {'completed', string.sub(v, 66)}
)lua";

// KEYS[1]; ARGV: token, record value, ttl ms. Only the lock's owner may complete it.
const std::string kIdemComplete = R"lua(
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'L' and string.sub(v, 2, 33) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
)lua";

// KEYS[1]; ARGV: token. Only the lock's owner may release it.
const std::string kIdemRelease = R"lua(
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'L' and string.sub(v, 2, 33) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
)lua";

const std::string& sha_of(const std::string& script) {
  static const std::string begin = sha1_hex(kIdemBegin), complete = sha1_hex(kIdemComplete),
                           release = sha1_hex(kIdemRelease);
  return &script == &kIdemBegin ? begin : &script == &kIdemComplete ? complete : release;
}

std::string millis(policy::Duration d) {
  return std::to_string(std::max<long long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(d).count()));
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
    : url_(cfg.url), timeout_(cfg.timeout) {
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

bool RedisStore::ready() const {
  for (auto& w : workers_)
    if (!w->conn->ready()) return false;
  return true;
}

awaitable<std::optional<RedisReply>> RedisStore::eval(unsigned worker, const std::string& script,
                                                      const std::string& sha, std::array<std::string_view, 4> argv,
                                                      std::size_t argc, std::string_view evalsha) {
  auto& pw = *workers_[worker % workers_.size()];
  auto start = policy::Clock::now();
  auto permit = pw.breaker.try_acquire(start);
  if (!permit.allowed) co_return std::nullopt;  // Redis is known to be down: do not pay the timeout
  std::array<std::string_view, 7> cmd{"EVALSHA", sha, "1"};
  for (std::size_t i = 0; i < argc; ++i) cmd[3 + i] = argv[i];
  if (evalsha.empty()) {
    pw.resp.clear();
    RedisConnection::format_command(pw.resp, cmd.data(), 3 + argc);
    evalsha = pw.resp;
  }
  auto r = co_await pw.conn->call_formatted(evalsha, timeout_);
  if (r && r->is_error() && r->str.rfind("NOSCRIPT", 0) == 0) {
    // After a restart or failover the script cache is empty: send it once in full.
    cmd[0] = "EVAL";
    cmd[1] = script;
    std::string full;
    RedisConnection::format_command(full, cmd.data(), 3 + argc);
    r = co_await pw.conn->call_formatted(full, timeout_ - (policy::Clock::now() - start));
  }
  bool failed = !r || r->is_error();
  if (r && r->is_error()) log_error("redis error: " + r->str);
  auto end = policy::Clock::now();
  pw.breaker.on_result(permit, failed, end - start, end);
  if (failed) co_return std::nullopt;
  co_return r;
}

std::shared_ptr<RedisStore::Bucket> RedisStore::bucket(PerWorker& pw, std::string_view route,
                                                       std::string_view descriptor, const policy::GcraParams& p) {
  auto interval = policy::gcra_interval_us(p), tolerance = policy::gcra_tolerance_us(p);
  auto& lookup = pw.lookup;
  keys::bucket_id(lookup, route, descriptor);
  auto it = pw.buckets.find(lookup);
  if (it != pw.buckets.end() && it->second->interval_us == interval && it->second->tolerance_us == tolerance)
    return it->second;
  // New, or its limit changed with a reload: the key's hash and the EVALSHA
  // command (all but the count) are computed once here, not per request.
  if (it == pw.buckets.end() && pw.buckets.size() >= 65'536) pw.buckets.clear();
  auto b = std::make_shared<Bucket>();
  b->interval_us = interval;
  b->tolerance_us = tolerance;
  b->interval = std::to_string(interval);
  b->tolerance = std::to_string(tolerance);
  b->key = keys::rate_limit(route, descriptor);
  std::array<std::string_view, 7> cmd{"EVALSHA", gcra_sha(), "1", b->key, b->interval, b->tolerance, "1"};
  RedisConnection::format_command(b->evalsha, cmd.data(), cmd.size());
  std::string count;  // the last argument is per call: keep everything before it
  RedisConnection::append_bulk(count, cmd.back());
  b->evalsha.resize(b->evalsha.size() - count.size());
  pw.buckets.insert_or_assign(lookup, b);
  return b;
}

awaitable<std::optional<policy::GcraOutcome>> RedisStore::rate_limit(unsigned worker, std::string_view route,
                                                                     std::string_view descriptor,
                                                                     const policy::GcraParams& p) {
  auto& pw = *workers_[worker % workers_.size()];
  auto b = bucket(pw, route, descriptor, p);
  auto now = policy::Clock::now();
  if (now < b->refused_until) {
    using us = std::chrono::microseconds;
    co_return policy::GcraOutcome{false, std::chrono::duration_cast<us>(b->full_at - now).count(),
                                  std::chrono::duration_cast<us>(b->refused_until - now).count()};
  }
  // Requests for one key in one turn of the event loop share one Redis call:
  // the first opens a batch and yields; the others join it and wait.
  if (auto batch = b->open) {
    auto i = batch->n++;
    co_await park([&](Wake w) { batch->waiters.push_back(std::move(w)); });
    if (!batch->result) co_return std::nullopt;
    co_return batch->result->outcome(i);
  }
  auto batch = std::make_shared<Batch>();
  b->open = batch;
  co_await net::post(pw.conn->executor(), net::use_awaitable);
  b->open.reset();
  auto count = std::to_string(batch->n);
  auto& cmd = pw.resp;
  cmd.assign(b->evalsha);
  RedisConnection::append_bulk(cmd, count);
  std::array<std::string_view, 4> argv{b->key, b->interval, b->tolerance, count};
  auto r = co_await eval(worker, kGcraScript, gcra_sha(), argv, 4, cmd);
  if (r && r->type == RedisReply::Type::array && r->elements.size() == 2) {
    batch->result = policy::GcraBatch{r->elements[0].integer, r->elements[1].integer, b->interval_us,
                                      b->tolerance_us};
    if (batch->result->admitted < batch->n) {  // remembered: no Redis call until it would admit again
      auto refused = batch->result->outcome(batch->result->admitted);
      auto after = policy::Clock::now();
      b->refused_until = after + std::chrono::microseconds(refused.retry_after_us);
      b->full_at = after + std::chrono::microseconds(refused.tat_after_us);
    }
  }
  for (auto& w : batch->waiters) wake(pw.conn->executor(), w);
  if (!batch->result) co_return std::nullopt;
  co_return batch->result->outcome(0);
}

awaitable<std::optional<IdemBegin>> RedisStore::idem_begin(unsigned worker, std::string key, std::string fingerprint,
                                                           std::string token, policy::Duration lock_ttl) {
  auto ms = millis(lock_ttl);
  std::array<std::string_view, 4> argv{key, token, fingerprint, ms};
  auto r = co_await eval(worker, kIdemBegin, sha_of(kIdemBegin), argv, 4);
  if (!r || r->type != RedisReply::Type::array || r->elements.empty()) co_return std::nullopt;
  auto& state = r->elements[0].str;
  if (state == "acquired") co_return IdemBegin{IdemBegin::State::acquired, {}};
  if (state == "in_flight") co_return IdemBegin{IdemBegin::State::in_flight, {}};
  if (state == "mismatch") co_return IdemBegin{IdemBegin::State::mismatch, {}};
  if (state == "completed" && r->elements.size() == 2)
    co_return IdemBegin{IdemBegin::State::completed, std::move(r->elements[1].str)};
  co_return std::nullopt;
}

awaitable<bool> RedisStore::idem_complete(unsigned worker, std::string key, std::string token, std::string fingerprint,
                                          std::string record, policy::Duration ttl) {
  auto value = "R" + fingerprint + record;
  auto ms = millis(ttl);
  std::array<std::string_view, 4> argv{key, token, value, ms};
  auto r = co_await eval(worker, kIdemComplete, sha_of(kIdemComplete), argv, 4);
  co_return r && r->type == RedisReply::Type::integer && r->integer == 1;
}

awaitable<bool> RedisStore::idem_release(unsigned worker, std::string key, std::string token) {
  std::array<std::string_view, 4> argv{key, token};
  auto r = co_await eval(worker, kIdemRelease, sha_of(kIdemRelease), argv, 2);
  co_return r && r->type == RedisReply::Type::integer && r->integer == 1;
}

std::shared_ptr<Store> make_store(const config::StoreConfig& cfg, const std::vector<net::any_io_executor>& workers) {
  if (cfg.backend == config::StoreConfig::Backend::memory) return std::make_shared<MemoryStore>(cfg.memory_max);
  auto url = config::parse_redis_url(cfg.url);
  return std::make_shared<RedisStore>(cfg, url.value_or(config::RedisUrl{}), workers);
}

}  // namespace breakwater::store

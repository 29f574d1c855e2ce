#include "breakwater/store/redis_store.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <unordered_map>

#include "breakwater/store/keys.hpp"
#include "breakwater/store/memory_store.hpp"

namespace breakwater::store {
namespace {

// co_await net::post(ex, use_awaitable), without the work_dispatcher and the
// executor copies post makes for a handler with an executor of its own: the
// handler is resumed by a plain lambda on the same (single-threaded) loop.
awaitable<void> yield(const net::any_io_executor& ex) {
  using Resume = net::async_result<net::use_awaitable_t<>, void()>::handler_type;
  return net::async_initiate<decltype(net::use_awaitable), void()>(
      [&ex](Resume h) { complete_later(ex, std::move(h)); }, net::use_awaitable);
}

// GCRA on Redis time for ARGV[3] requests at once (policy::gcra_batch in Lua).
// KEYS[1]: bucket; ARGV[1]: one token (µs); ARGV[2]: the whole bucket (µs).
// Returns {how many of the n are admitted, max(TAT, now) - now before them}.
const RedisScript kGcra{R"lua(
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
)lua"};

// Idempotency values: a lock is "L" + token (32 hex) + fingerprint (64 hex);
// a record is "R" + fingerprint (64 hex) + the encoded response.
// KEYS[1]; ARGV: token, fingerprint, lock ms. SET NX PX takes the lock.
const RedisScript kIdemBegin{R"lua(
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
)lua"};

// KEYS[1]; ARGV: token, record value, ttl ms. Only the lock's owner may complete it.
const RedisScript kIdemComplete{R"lua(
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'L' and string.sub(v, 2, 33) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
)lua"};

// KEYS[1]; ARGV: token. Only the lock's owner may release it.
const RedisScript kIdemRelease{R"lua(
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'L' and string.sub(v, 2, 33) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
)lua"};

std::string millis(policy::Duration d) {
  return std::to_string(std::max<long long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(d).count()));
}

// A script's reply as "did the lock's owner get its way": 1 yes, 0 no.
Result<bool> owned(Result<RedisReply> r) {
  if (!r) return r.error();
  if (r->type != RedisReply::Type::integer) return StoreError::unavailable;
  return r->integer == 1;
}

}  // namespace

// One worker's side of the store: its client, its buckets, its scratch.
class RedisStore::Handle final : public StoreHandle {
 public:
  explicit Handle(RedisClient& client) : client_(client) {}

  Answer<policy::GcraOutcome> rate_limit(std::string_view route, std::string_view descriptor,
                                         const policy::GcraParams& p) override;
  awaitable<Result<IdemBegin>> idem_begin(IdemKey k, std::string fingerprint, std::string token,
                                          policy::Duration lock_ttl) override;
  awaitable<Result<bool>> idem_complete(std::string key, std::string token, std::string fingerprint,
                                        std::string record, policy::Duration ttl) override;
  awaitable<Result<bool>> idem_release(std::string key, std::string token) override;

 private:
  // A request that joined a batch: resumed with its outcome once the batch is
  // decided. The very handler co_await made (asio's awaitable_handler), kept
  // as it is: a type-erased any_completion_handler would cost an allocation.
  using Joined = net::async_result<net::use_awaitable_t<>, void(Result<policy::GcraOutcome>)>::handler_type;
  // Concurrent requests for one bucket, decided by one Redis call. Request 0
  // leads it (its own coroutine makes the call); requests 1..n-1 joined it
  // with no coroutine of their own: waiters[k] is request k + 1.
  struct Batch {
    std::int64_t n = 1;
    Result<policy::GcraBatch> result = StoreError::unavailable;
    std::vector<Joined> waiters;
  };
  struct Bucket {
    std::int64_t interval_us = 0, tolerance_us = 0;
    std::string interval, tolerance;  // the same, as script arguments
    std::string id;                   // keys::bucket_id: route NUL descriptor
    std::string key;                  // bw:rl:{ROUTE:SHA256(descriptor)}
    std::string evalsha;              // the GCRA command but its last argument (the count), formatted once
    std::shared_ptr<Batch> open;      // the batch still taking requests in this turn
    std::shared_ptr<Batch> spare;     // a decided batch kept for the next one (its waiters' room too)
    // Refused recently: no Redis call until it would admit again.
    policy::TimePoint refused_until{}, full_at{};
  };
  std::shared_ptr<Bucket> bucket(std::string_view route, std::string_view descriptor, const policy::GcraParams& p);
  awaitable<Result<policy::GcraOutcome>> decide(std::shared_ptr<Bucket> b);
  awaitable<Result<policy::GcraOutcome>> join(std::shared_ptr<Bucket> b);
  // A decided batch no one refers to any more becomes the bucket's spare.
  static void recycle(Bucket& b, std::shared_ptr<Batch> batch);
  // Request i's answer from its batch's one Redis call (0: the leader).
  static Result<policy::GcraOutcome> outcome(const Batch& batch, std::int64_t i);

  RedisClient& client_;
  std::unordered_map<std::string, std::shared_ptr<Bucket>> buckets_;  // keys::bucket_id -> bucket
  std::shared_ptr<Bucket> last_;                                       // the bucket of the last request (in buckets_)
  std::string lookup_;                                                 // scratch for the map key
  std::string resp_;                                                   // command formatting buffer
};

std::shared_ptr<RedisStore::Handle::Bucket> RedisStore::Handle::bucket(std::string_view route,
                                                                       std::string_view descriptor,
                                                                       const policy::GcraParams& p) {
  auto interval = policy::gcra_interval_us(p), tolerance = policy::gcra_tolerance_us(p);
  // The same bucket as the request before (one hot key): no id to build, nothing to hash.
  if (last_ && last_->interval_us == interval && last_->tolerance_us == tolerance &&
      last_->id.size() == route.size() + 1 + descriptor.size() &&
      std::memcmp(last_->id.data() + route.size() + 1, descriptor.data(), descriptor.size()) == 0 &&
      std::memcmp(last_->id.data(), route.data(), route.size()) == 0)
    return last_;
  keys::bucket_id(lookup_, route, descriptor);
  auto it = buckets_.find(lookup_);
  if (it != buckets_.end() && it->second->interval_us == interval && it->second->tolerance_us == tolerance)
    return last_ = it->second;
  // New, or its limit changed with a reload: the key's hash and the EVALSHA
  // command (all but the count) are computed once here, not per request.
  if (it == buckets_.end() && buckets_.size() >= 65'536) buckets_.clear();
  auto b = std::make_shared<Bucket>();
  b->id = lookup_;
  b->interval_us = interval;
  b->tolerance_us = tolerance;
  b->interval = std::to_string(interval);
  b->tolerance = std::to_string(tolerance);
  b->key = keys::rate_limit(route, descriptor);
  std::array<std::string_view, 3> args{b->interval, b->tolerance, "1"};
  format_eval(b->evalsha, kGcra, b->key, args);
  std::string count;  // the last argument is per call: keep everything before it
  append_bulk(count, args.back());
  b->evalsha.resize(b->evalsha.size() - count.size());
  buckets_.insert_or_assign(lookup_, b);
  return last_ = b;
}

Answer<policy::GcraOutcome> RedisStore::Handle::rate_limit(std::string_view route, std::string_view descriptor,
                                                           const policy::GcraParams& p) {
  auto b = bucket(route, descriptor, p);
  if (b->refused_until != policy::TimePoint{}) {  // refused lately: no clock to read otherwise
    auto now = policy::Clock::now();
    if (now < b->refused_until) {  // answered here: no Redis call, no coroutine frame
      using us = std::chrono::microseconds;
      return {policy::GcraOutcome{false, std::chrono::duration_cast<us>(b->full_at - now).count(),
                                  std::chrono::duration_cast<us>(b->refused_until - now).count()},
              {}};
    }
    b->refused_until = b->full_at = {};  // it admits again
  }
  // A batch already open in this turn: join it without a coroutine frame of
  // our own (the await suspends this request until the leader has the answer).
  if (b->open) return {std::nullopt, join(std::move(b))};
  return {std::nullopt, decide(std::move(b))};
}

// Joins the batch open when the answer is awaited (or, when the one that was
// open has been sent meanwhile, a batch of its own run by a coroutine made for it).
awaitable<Result<policy::GcraOutcome>> RedisStore::Handle::join(std::shared_ptr<Bucket> b) {
  return net::async_initiate<decltype(net::use_awaitable), void(Result<policy::GcraOutcome>)>(
      [this, b = std::move(b)](auto handler) mutable {
        if (auto& batch = b->open) {
          ++batch->n;
          batch->waiters.emplace_back(std::move(handler));
          return;
        }
        auto& ex = client_.executor();
        net::co_spawn(
            ex,
            [this, b = std::move(b), h = Joined(std::move(handler))]() mutable -> awaitable<void> {
              auto r = co_await decide(std::move(b));
              complete_later(client_.executor(), std::move(h), std::move(r));
            },
            net::detached);
      },
      net::use_awaitable);
}

awaitable<Result<policy::GcraOutcome>> RedisStore::Handle::decide(std::shared_ptr<Bucket> b) {
  // Requests for one key in one turn of the event loop share one Redis call:
  // the first opens a batch and yields; the others join it and wait.
  if (b->open) co_return co_await join(std::move(b));
  auto batch = b->spare ? std::move(b->spare) : std::make_shared<Batch>();
  b->open = batch;
  co_await yield(client_.executor());
  b->open.reset();
  char count[24];
  std::string_view n(count, static_cast<std::size_t>(std::to_chars(count, count + sizeof count, batch->n).ptr - count));
  resp_.assign(b->evalsha);
  append_bulk(resp_, n);
  std::array<std::string_view, 3> args{b->interval, b->tolerance, n};
  auto r = co_await client_.eval(kGcra, b->key, args, resp_);
  if (!r)
    batch->result = r.error();
  else if (r->type == RedisReply::Type::array && r->elements.size() == 2)
    batch->result = policy::GcraBatch{r->elements[0].integer, r->elements[1].integer, b->interval_us, b->tolerance_us};
  if (batch->result && batch->result->admitted < batch->n) {  // remembered: no Redis call until it would admit again
    auto refused = batch->result->outcome(batch->result->admitted);
    auto after = policy::Clock::now();
    b->refused_until = after + std::chrono::microseconds(refused.retry_after_us);
    b->full_at = after + std::chrono::microseconds(refused.tat_after_us);
  }
  auto mine = outcome(*batch, 0);
  if (batch->waiters.empty()) {
    recycle(*b, std::move(batch));
  } else {
    // One turn of the event loop resumes them all, in order, each with its own outcome.
    post_to(client_.executor(), [b = std::move(b), batch = std::move(batch)]() mutable {
      std::int64_t i = 0;
      for (auto& w : batch->waiters) w(outcome(*batch, ++i));
      recycle(*b, std::move(batch));
    });
  }
  co_return mine;
}

Result<policy::GcraOutcome> RedisStore::Handle::outcome(const Batch& batch, std::int64_t i) {
  if (!batch.result) return batch.result.error();
  return batch.result->outcome(i);
}

void RedisStore::Handle::recycle(Bucket& b, std::shared_ptr<Batch> batch) {
  if (b.spare || batch.use_count() != 1) return;
  batch->n = 1;
  batch->result = StoreError::unavailable;
  batch->waiters.clear();
  b.spare = std::move(batch);
}

awaitable<Result<IdemBegin>> RedisStore::Handle::idem_begin(IdemKey k, std::string fingerprint, std::string token,
                                                            policy::Duration lock_ttl) {
  auto key = keys::idempotency(k.route, k.scope, k.key);
  auto ms = millis(lock_ttl);
  std::array<std::string_view, 3> args{token, fingerprint, ms};
  auto r = co_await client_.eval(kIdemBegin, key, args, {});
  if (!r) co_return r.error();
  if (r->type != RedisReply::Type::array || r->elements.empty()) co_return StoreError::unavailable;
  auto& state = r->elements[0].str;
  if (state == "acquired") co_return IdemBegin{IdemBegin::State::acquired, {}, std::move(key)};
  if (state == "in_flight") co_return IdemBegin{IdemBegin::State::in_flight, {}};
  if (state == "mismatch") co_return IdemBegin{IdemBegin::State::mismatch, {}};
  if (state == "completed" && r->elements.size() == 2)
    co_return IdemBegin{IdemBegin::State::completed, std::move(r->elements[1].str)};
  co_return StoreError::unavailable;
}

awaitable<Result<bool>> RedisStore::Handle::idem_complete(std::string key, std::string token, std::string fingerprint,
                                                          std::string record, policy::Duration ttl) {
  auto value = "R" + fingerprint + record;
  auto ms = millis(ttl);
  std::array<std::string_view, 3> args{token, value, ms};
  co_return owned(co_await client_.eval(kIdemComplete, key, args, {}));
}

awaitable<Result<bool>> RedisStore::Handle::idem_release(std::string key, std::string token) {
  std::array<std::string_view, 1> args{token};
  co_return owned(co_await client_.eval(kIdemRelease, key, args, {}));
}

RedisStore::RedisStore(const config::StoreConfig& cfg, std::vector<std::unique_ptr<RedisClient>> clients)
    : backend_(cfg.backend),
      url_(cfg.url),
      sentinel_master_(cfg.sentinel_master),
      timeout_(cfg.timeout), clients_(std::move(clients)), local_(cfg.memory_max) {
  for (auto& c : clients_) handles_.push_back(std::make_unique<Handle>(*c));
}

RedisStore::~RedisStore() {
  shutdown();
  handles_.clear();  // before the clients they point to
}

void RedisStore::shutdown() {
  for (auto& c : clients_) c->stop();
}

bool RedisStore::ready() const {
  return std::all_of(clients_.begin(), clients_.end(), [](auto& c) { return c->ready(); });
}

std::shared_ptr<Store> make_store(const config::StoreConfig& cfg, const std::vector<net::any_io_executor>& workers) {
  if (cfg.backend == config::StoreConfig::Backend::memory) return std::make_shared<MemoryStore>(cfg.memory_max);
  auto hosts = config::parse_redis_hosts(cfg.url).value_or(std::vector<config::RedisUrl>{config::RedisUrl{}});
  std::vector<std::unique_ptr<RedisClient>> clients;
  for (auto& ex : workers) clients.push_back(make_redis_client(cfg, hosts, ex));
  return std::make_shared<RedisStore>(cfg, std::move(clients));
}

}  // namespace breakwater::store

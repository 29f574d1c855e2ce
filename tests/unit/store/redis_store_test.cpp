// The Redis store's scripts over a RedisClient (a fake one here): which key,
// which arguments, how calls coalesce, and what each failure becomes.
#include <doctest/doctest.h>

#include <exception>
#include <string>
#include <vector>

#include "breakwater/store/keys.hpp"
#include "breakwater/store/redis_store.hpp"

using namespace breakwater;
using namespace breakwater::store;
using namespace std::chrono_literals;

namespace {

struct Call {
  std::string sha, key;
  std::vector<std::string> args;
  std::string evalsha;
};

RedisReply integer(long long v) { return RedisReply{RedisReply::Type::integer, {}, v, {}}; }
RedisReply text(std::string s) { return RedisReply{RedisReply::Type::string, std::move(s), 0, {}}; }
RedisReply array(std::vector<RedisReply> e) { return RedisReply{RedisReply::Type::array, {}, 0, std::move(e)}; }

// Answers every call with `reply`, one turn of the event loop later.
class FakeClient final : public RedisClient {
 public:
  explicit FakeClient(net::any_io_executor ex) : ex_(std::move(ex)) {}
  awaitable<Result<RedisReply>> eval(const RedisScript& script, std::string_view key,
                                     std::span<const std::string_view> args, std::string_view evalsha) override {
    calls.push_back(Call{script.sha(), std::string(key), {args.begin(), args.end()}, std::string(evalsha)});
    co_await net::post(ex_, net::use_awaitable);
    co_return reply;
  }
  [[nodiscard]] const net::any_io_executor& executor() const override { return ex_; }
  [[nodiscard]] bool ready() const override { return true; }
  void stop() override { stopped = true; }

  std::vector<Call> calls;
  Result<RedisReply> reply = StoreError::unavailable;
  bool stopped = false;

 private:
  net::any_io_executor ex_;
};

struct Fixture {
  net::io_context ctx;
  FakeClient* fake = nullptr;
  std::unique_ptr<RedisStore> store;
  Fixture() {
    std::vector<std::unique_ptr<RedisClient>> clients;
    clients.push_back(std::make_unique<FakeClient>(ctx.get_executor()));
    fake = static_cast<FakeClient*>(clients.back().get());
    config::StoreConfig cfg;
    cfg.backend = config::StoreConfig::Backend::redis;
    store = std::make_unique<RedisStore>(cfg, std::move(clients));
  }
  template <class T>
  void spawn(awaitable<T> a) {
    net::co_spawn(ctx, std::move(a), [](std::exception_ptr e, auto&&...) {
      if (e) std::rethrow_exception(e);
    });
  }
  void drain() {
    ctx.run();
    ctx.restart();
  }
  template <class T>
  void run(awaitable<T> a) {
    spawn(std::move(a));
    drain();
  }
  // `n` decisions for one bucket, asked in one turn of the event loop.
  std::vector<Result<policy::GcraOutcome>> decide_together(int n);
};

policy::GcraParams one_per_minute(double burst = 2) {
  policy::RateLimitSettings s;
  s.rate = 1;
  s.per = 60s;
  s.burst = burst;
  return policy::gcra_params(s);
}

awaitable<void> decide(StoreHandle* h, policy::GcraParams p, std::vector<Result<policy::GcraOutcome>>* out) {
  auto a = h->rate_limit("rl", "1.2.3.4", p);
  REQUIRE_FALSE(a.now);
  out->push_back(co_await std::move(a.later));
}

std::vector<Result<policy::GcraOutcome>> Fixture::decide_together(int n) {
  std::vector<Result<policy::GcraOutcome>> out;
  for (int i = 0; i < n; ++i) spawn(decide(&store->handle(0), one_per_minute(), &out));
  drain();
  return out;
}

awaitable<void> begin(StoreHandle* h, std::vector<Result<IdemBegin>>* out) {
  out->push_back(co_await h->idem_begin({"orders", "tenant", "k1"}, std::string(64, 'f'), std::string(32, '0'), 20s));
}

awaitable<void> complete(StoreHandle* h, std::string key, std::vector<Result<bool>>* out) {
  out->push_back(co_await h->idem_complete(key, std::string(32, '0'), std::string(64, 'f'), "rec", 1h));
  out->push_back(co_await h->idem_release(key, std::string(32, '0')));
}

}  // namespace

TEST_CASE("redis store: a rate-limit decision is one GCRA script call on keys::rate_limit") {
  Fixture f;
  f.fake->reply = array({integer(1), integer(0)});
  auto out = f.decide_together(1);
  REQUIRE(out.size() == 1);
  REQUIRE(out[0]);
  CHECK(out[0]->allowed);
  REQUIRE(f.fake->calls.size() == 1);
  auto& c = f.fake->calls[0];
  CHECK(c.key == keys::rate_limit("rl", "1.2.3.4"));
  CHECK(c.sha.size() == 40);
  CHECK(c.args == std::vector<std::string>{"60000000", "120000000", "1"});
  // the command goes out pre-formatted: EVALSHA sha 1 key interval tolerance count
  CHECK(c.evalsha.rfind("*7\r\n$7\r\nEVALSHA\r\n$40\r\n" + c.sha + "\r\n$1\r\n1\r\n", 0) == 0);
  CHECK(c.evalsha.ends_with("$1\r\n1\r\n"));
}

TEST_CASE("redis store: decisions for one bucket in one turn share one call; a refusal is remembered") {
  Fixture f;
  f.fake->reply = array({integer(2), integer(0)});  // two of the three admitted
  auto out = f.decide_together(3);
  REQUIRE(f.fake->calls.size() == 1);
  CHECK(f.fake->calls[0].args.back() == "3");
  REQUIRE(out.size() == 3);
  int allowed = 0;
  for (auto& o : out) allowed += o && o->allowed;
  CHECK(allowed == 2);
  // over its limit: answered at once, without Redis and without a coroutine frame
  auto a = f.store->handle(0).rate_limit("rl", "1.2.3.4", one_per_minute());
  REQUIRE(a.now);
  REQUIRE(*a.now);
  CHECK_FALSE((*a.now)->allowed);
  CHECK((*a.now)->retry_after_us > 0);
  CHECK(f.fake->calls.size() == 1);
}

TEST_CASE("redis store: a batch's requests get their outcomes in the order they asked") {
  Fixture f;
  f.fake->reply = array({integer(2), integer(0)});  // the first two of three
  auto out = f.decide_together(3);
  REQUIRE(out.size() == 3);
  REQUIRE(out[0]);
  REQUIRE(out[1]);
  REQUIRE(out[2]);
  CHECK(out[0]->allowed);
  CHECK(out[1]->allowed);
  CHECK_FALSE(out[2]->allowed);
}

namespace {
awaitable<void> await_into(awaitable<Result<policy::GcraOutcome>> a, std::vector<Result<policy::GcraOutcome>>* out) {
  out->push_back(co_await std::move(a));
}
}  // namespace

TEST_CASE("redis store: an answer awaited after its batch has left is decided by a call of its own") {
  Fixture f;
  f.fake->reply = array({integer(1), integer(0)});
  auto& h = f.store->handle(0);
  std::vector<Result<policy::GcraOutcome>> out;
  auto first = h.rate_limit("rl", "1.2.3.4", one_per_minute());
  REQUIRE_FALSE(first.now);
  f.spawn(await_into(std::move(first.later), &out));
  f.ctx.poll_one();  // the first opens a batch and yields
  auto second = h.rate_limit("rl", "1.2.3.4", one_per_minute());  // while it is open
  REQUIRE_FALSE(second.now);
  f.ctx.poll_one();  // the batch leaves, with the first alone
  REQUIRE(f.fake->calls.size() == 1);
  f.spawn(await_into(std::move(second.later), &out));
  f.drain();
  REQUIRE(out.size() == 2);
  REQUIRE(f.fake->calls.size() == 2);
  CHECK(f.fake->calls[0].args.back() == "1");
  CHECK(f.fake->calls[1].args.back() == "1");
  for (auto& o : out) {
    REQUIRE(o);
    CHECK(o->allowed);
  }
}

TEST_CASE("redis store: a failed call keeps its kind, and every waiter of the batch sees it") {
  for (auto kind : {StoreError::timeout, StoreError::unavailable, StoreError::breaker_open, StoreError::redirect}) {
    Fixture f;
    f.fake->reply = kind;
    auto out = f.decide_together(2);
    REQUIRE(out.size() == 2);
    for (auto& o : out) {
      REQUIRE_FALSE(o);
      CHECK(o.error() == kind);
    }
  }
  // a reply of the wrong shape is a store failure too
  Fixture f;
  f.fake->reply = integer(7);
  auto out = f.decide_together(1);
  REQUIRE_FALSE(out.at(0));
  CHECK(out[0].error() == StoreError::unavailable);
}

TEST_CASE("redis store: idempotency scripts run on keys::idempotency, and the lock's key comes back") {
  Fixture f;
  auto& h = f.store->handle(0);
  auto want = keys::idempotency("orders", "tenant", "k1");
  std::vector<Result<IdemBegin>> began;
  f.fake->reply = array({text("acquired")});
  f.run(begin(&h, &began));
  REQUIRE(began.at(0));
  CHECK(began[0]->state == IdemBegin::State::acquired);
  CHECK(began[0]->key == want);
  CHECK(f.fake->calls.at(0).key == want);
  CHECK(f.fake->calls[0].args == std::vector<std::string>{std::string(32, '0'), std::string(64, 'f'), "20000"});

  f.fake->reply = array({text("completed"), text("the record")});
  f.run(begin(&h, &began));
  REQUIRE(began.at(1));
  CHECK(began[1]->state == IdemBegin::State::completed);
  CHECK(began[1]->record == "the record");

  f.fake->reply = StoreError::timeout;
  f.run(begin(&h, &began));
  REQUIRE_FALSE(began.at(2));
  CHECK(began[2].error() == StoreError::timeout);

  std::vector<Result<bool>> done;
  f.fake->reply = integer(1);
  f.run(complete(&h, want, &done));
  f.fake->reply = integer(0);  // another owner: fenced off, an answer all the same
  f.run(complete(&h, want, &done));
  f.fake->reply = StoreError::breaker_open;
  f.run(complete(&h, want, &done));
  REQUIRE(done.size() == 6);
  CHECK((done[0] && *done[0] && done[1] && *done[1]));
  CHECK((done[2] && !*done[2] && done[3] && !*done[3]));
  CHECK((!done[4] && done[4].error() == StoreError::breaker_open));
  for (std::size_t i = 3; i < f.fake->calls.size(); ++i) CHECK(f.fake->calls[i].key == want);
  CHECK(f.fake->calls[3].args.at(1) == "R" + std::string(64, 'f') + "rec");  // complete: the record value
  CHECK(f.fake->calls[4].args == std::vector<std::string>{std::string(32, '0')});  // release: the token
}

TEST_CASE("redis store: one handle per worker client; shutdown stops every client") {
  net::io_context ctx;
  std::vector<std::unique_ptr<RedisClient>> clients;
  std::vector<FakeClient*> fakes;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<FakeClient>(ctx.get_executor()));
    fakes.push_back(static_cast<FakeClient*>(clients.back().get()));
  }
  config::StoreConfig cfg;
  cfg.backend = config::StoreConfig::Backend::redis;
  RedisStore store(cfg, std::move(clients));
  CHECK(&store.handle(0) != &store.handle(1));
  CHECK(&store.handle(1) != &store.handle(2));
  CHECK(store.ready());
  store.shutdown();
  for (auto* f : fakes) CHECK(f->stopped);
}

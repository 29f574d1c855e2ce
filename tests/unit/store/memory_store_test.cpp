#include <doctest/doctest.h>

#include <exception>
#include <string>

#include "breakwater/store/keys.hpp"
#include "breakwater/store/memory_store.hpp"

using namespace breakwater;
using namespace breakwater::store;
using namespace std::chrono_literals;

namespace {

awaitable<void> idempotency(StoreHandle* h, int* checked) {
  auto fp = std::string(64, 'a');
  auto a = co_await h->idem_begin({"orders", "", "k1"}, fp, std::string(32, '1'), 20s);
  REQUIRE(a);
  CHECK(a->state == IdemBegin::State::acquired);
  CHECK(a->key == keys::idempotency("orders", "", "k1"));
  auto busy = co_await h->idem_begin({"orders", "", "k1"}, fp, std::string(32, '2'), 20s);
  CHECK(busy->state == IdemBegin::State::in_flight);
  auto other = co_await h->idem_begin({"orders", "", "k1"}, std::string(64, 'b'), std::string(32, '2'), 20s);
  CHECK(other->state == IdemBegin::State::mismatch);
  // only the lock's owner completes it
  auto fenced = co_await h->idem_complete(a->key, std::string(32, '2'), fp, "rec", 1h);
  REQUIRE(fenced);
  CHECK_FALSE(*fenced);
  auto done = co_await h->idem_complete(a->key, std::string(32, '1'), fp, "rec", 1h);
  REQUIRE(done);
  CHECK(*done);
  auto replay = co_await h->idem_begin({"orders", "", "k1"}, fp, std::string(32, '3'), 20s);
  CHECK(replay->state == IdemBegin::State::completed);
  CHECK(replay->record == "rec");
  CHECK(replay->key.empty());
  // another scope is another key
  auto scoped = co_await h->idem_begin({"orders", "tenant", "k1"}, fp, std::string(32, '4'), 20s);
  CHECK(scoped->state == IdemBegin::State::acquired);
  auto released = co_await h->idem_release(scoped->key, std::string(32, '4'));
  CHECK((released && *released));
  ++*checked;
}

}  // namespace

TEST_CASE("memory store: every worker shares one handle; a rate limit answers at once") {
  MemoryStore store(1 << 20);
  CHECK(&store.handle(0) == &store.handle(5));
  policy::RateLimitSettings s;
  s.rate = 1;
  s.per = 60s;
  auto p = policy::gcra_params(s);
  auto first = store.handle(0).rate_limit("rl", "1.2.3.4", p);
  REQUIRE(first.now);
  REQUIRE(*first.now);
  CHECK((*first.now)->allowed);
  auto second = store.handle(1).rate_limit("rl", "1.2.3.4", p);
  REQUIRE(second.now);
  CHECK_FALSE((*second.now)->allowed);
  auto elsewhere = store.handle(1).rate_limit("rl", "5.6.7.8", p);
  CHECK((*elsewhere.now)->allowed);
}

TEST_CASE("memory store: idempotency on keys::idempotency, fenced by the token") {
  MemoryStore store(1 << 20);
  net::io_context ctx;
  int checked = 0;
  net::co_spawn(ctx, idempotency(&store.handle(0), &checked), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  ctx.run();
  CHECK(checked == 1);
}

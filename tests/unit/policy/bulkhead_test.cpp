#include <doctest/doctest.h>

#include "breakwater/policy/bulkhead.hpp"

using namespace breakwater::policy;
using namespace std::chrono_literals;

TEST_CASE("admits max_concurrent, queues max_queue in FIFO order, rejects the rest") {
  Bulkhead b({2, 2, 100ms, Mode::enforce});
  CHECK(b.try_enter(1) == Bulkhead::Admit::now);
  CHECK(b.try_enter(2) == Bulkhead::Admit::now);
  CHECK(b.try_enter(3) == Bulkhead::Admit::queued);
  CHECK(b.try_enter(4) == Bulkhead::Admit::queued);
  CHECK(b.try_enter(5) == Bulkhead::Admit::rejected);
  CHECK(b.in_use() == 2);
  CHECK(b.queued() == 2);
  CHECK(b.leave() == std::optional<std::uint64_t>(3));
  CHECK(b.in_use() == 2);
  CHECK(b.cancel(4));
  CHECK_FALSE(b.cancel(4));
  CHECK_FALSE(b.leave().has_value());
  CHECK_FALSE(b.leave().has_value());
  CHECK(b.in_use() == 0);
}

TEST_CASE("no queue without a queue_timeout") {
  Bulkhead b({1, 5, 0ms, Mode::enforce});
  CHECK(b.try_enter(1) == Bulkhead::Admit::now);
  CHECK(b.try_enter(2) == Bulkhead::Admit::rejected);
}

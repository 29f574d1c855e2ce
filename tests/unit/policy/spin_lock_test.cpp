// The lock under the shared breaker, bulkhead, retry budget and memory-store shards.
#include <doctest/doctest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "breakwater/policy/spin_lock.hpp"

using namespace breakwater::policy;

TEST_CASE("spin lock: excludes, across threads") {
  SpinLock mu;
  long counter = 0;  // not atomic: only the lock keeps it exact
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        std::lock_guard l(mu);
        ++counter;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(counter == 80000);
}

TEST_CASE("spin lock: try_lock fails while held") {
  SpinLock mu;
  CHECK(mu.try_lock());
  CHECK_FALSE(mu.try_lock());
  mu.unlock();
  CHECK(mu.try_lock());
  mu.unlock();
}

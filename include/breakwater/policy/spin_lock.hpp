#pragma once
// A lock for critical sections of a few arithmetic steps that workers share
// (a breaker, a bulkhead, a retry budget, a store shard): uncontended it costs
// one atomic exchange and one store, where std::mutex costs two library calls.
// A waiter spins briefly, then yields its CPU. Never held across co_await.
#include <atomic>
#include <thread>

namespace breakwater::policy {

class SpinLock final {
 public:
  void lock() noexcept {
    for (unsigned spins = 0; locked_.exchange(true, std::memory_order_acquire);) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  [[nodiscard]] bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace breakwater::policy

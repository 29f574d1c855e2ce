#pragma once
// When a cluster or sentinel client reads its topology again: every `period`,
// and soon after something asks (a redirect, a failed connection, -READONLY),
// at most once per `gap` so a dead node does not turn every call into a read.
// Lives on one worker's event loop.
#include <algorithm>

#include "breakwater/io/asio.hpp"
#include "breakwater/policy/time.hpp"

namespace breakwater::store {

// Waits (at most `limit`) until one of `nodes` (shared_ptrs to RedisNode or the like) is
// ready, so a client's first topology read need not fail on connections still being made.
template <class Nodes>
awaitable<void> until_one_ready(net::any_io_executor ex, Nodes nodes, policy::Duration limit) {
  net::steady_timer poll(std::move(ex));
  auto give_up = policy::Clock::now() + limit;
  auto any = [&] {
    for (auto& n : nodes)
      if (n->ready()) return true;
    return false;
  };
  while (!any() && policy::Clock::now() < give_up) {
    poll.expires_after(std::chrono::milliseconds(5));
    co_await poll.async_wait(use_nothrow);
  }
}

class TopologyRefresh final {
 public:
  TopologyRefresh(net::any_io_executor ex, policy::Duration period, policy::Duration gap)
      : timer_(std::move(ex)), period_(period), gap_(gap) {}
  void request() {
    requested_ = true;
    timer_.cancel();
  }
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }
  // Resumes when a read is due; false once stopped.
  awaitable<bool> due() {
    for (;;) {
      if (stopped_) co_return false;
      auto now = policy::Clock::now();
      auto at = last_ + period_;
      if (requested_) at = std::min(at, last_ + gap_);
      if (now >= at) {
        requested_ = false;
        last_ = now;
        co_return true;
      }
      timer_.expires_at(at);
      co_await timer_.async_wait(use_nothrow);
    }
  }

 private:
  net::steady_timer timer_;
  policy::Duration period_, gap_;
  policy::TimePoint last_{};
  bool requested_ = true;  // the first read is due at once
  bool stopped_ = false;
};

}  // namespace breakwater::store

#pragma once
// A deadline that acts (closes a socket) once it passes, for the price of one
// timer wait: the wait moves only for an earlier deadline, and a later one —
// the next request's — is picked up when the wait fires. Setting a deadline
// per request then costs no timer cancel and re-arm.
#include <memory>

#include "breakwater/io/asio.hpp"
#include "breakwater/policy/time.hpp"

namespace breakwater::io {

class Watchdog final {
 public:
  using TimePoint = policy::TimePoint;
  explicit Watchdog(const net::any_io_executor& ex) : timer_(ex) {}

  // `expire(owner)` runs on the timer's executor once `deadline` has passed,
  // unless another deadline was set meanwhile. `owner` holds this watchdog
  // (enable_shared_from_this); a pending wait never keeps it alive.
  template <class Owner, class Expire>
  void set(TimePoint deadline, Owner& owner, Expire expire) {
    deadline_ = deadline;
    if (stopped_ || deadline == TimePoint::max() || (waiting_ && wait_at_ <= deadline)) return;
    wait(deadline, owner.weak_from_this(), expire);
  }
  void disarm() { deadline_ = TimePoint::max(); }
  // For good: the owner is finishing.
  void stop() {
    stopped_ = true;
    deadline_ = TimePoint::max();
    timer_.cancel();
  }

 private:
  template <class Owner, class Expire>
  void wait(TimePoint at, std::weak_ptr<Owner> owner, Expire expire) {
    waiting_ = true;
    wait_at_ = at;
    timer_.expires_at(at);  // an earlier wait ends with operation_aborted
    timer_.async_wait([this, owner = std::move(owner), expire](error_code ec) {
      if (ec) return;
      auto o = owner.lock();
      if (!o) return;  // this watchdog went with its owner
      waiting_ = false;
      if (stopped_ || deadline_ == TimePoint::max()) return;
      if (policy::Clock::now() < deadline_) return wait(deadline_, owner, expire);
      deadline_ = TimePoint::max();
      expire(*o);
    });
  }

  net::steady_timer timer_;
  TimePoint deadline_ = TimePoint::max();  // when to act (max: disarmed)
  TimePoint wait_at_{};                    // when the outstanding wait ends
  bool waiting_ = false;
  bool stopped_ = false;
};

}  // namespace breakwater::io

#include "breakwater/proxy/route_policies.hpp"

namespace breakwater::proxy {

SharedBreaker::SharedBreaker(policy::CircuitBreakerSettings s, std::shared_ptr<RouteMetrics> metrics)
    : settings_(s), metrics_(std::move(metrics)), cb_(std::move(s)), since_(policy::Clock::now()) {
  closed_generation_.store(cb_.generation(), std::memory_order_relaxed);  // a breaker starts closed
  for (int st : settings_.failure_statuses)
    if (st >= 0 && static_cast<std::size_t>(st) < failure_status_.size()) failure_status_.set(static_cast<std::size_t>(st));
    else odd_statuses_ = true;
}

void SharedBreaker::publish(policy::TimePoint now) {
  if (!cb_.has_transitions()) return;  // the common case: no vector swapped
  for (auto to : cb_.take_transitions()) {
    metrics_->transitions[static_cast<std::size_t>(to)].fetch_add(1, std::memory_order_relaxed);
    since_ = now;
  }
  closed_generation_.store(cb_.state() == policy::BreakerState::closed ? cb_.generation() : 0,
                           std::memory_order_release);
}

policy::BreakerPermit SharedBreaker::acquire(policy::TimePoint now) {
  // Closed: every call is let through, without the lock. A transition right
  // after this load leaves the permit in the old period, whose results the
  // breaker ignores, the same as a permit taken under the lock just before it.
  if (auto g = closed_generation_.load(std::memory_order_acquire); g != 0) return {true, false, g, {}};
  std::lock_guard l(mu_);
  auto p = cb_.try_acquire(now);
  publish(now);
  return p;
}

void SharedBreaker::record(const policy::BreakerPermit& p, bool failure, policy::Duration took,
                           policy::TimePoint now) {
  std::lock_guard l(mu_);
  cb_.on_result(p, failure, took, now);
  publish(now);
}

void SharedBreaker::cancel(const policy::BreakerPermit& p) {
  std::lock_guard l(mu_);
  cb_.on_cancel(p);
}

SharedBreaker::View SharedBreaker::view() {
  std::lock_guard l(mu_);
  return {cb_.state(), cb_.failure_rate(), cb_.slow_call_rate(), cb_.calls(), since_};
}

BulkheadPermit& BulkheadPermit::operator=(BulkheadPermit&& o) noexcept {
  if (this != &o) {
    if (b_) b_->release();
    b_ = std::move(o.b_);
  }
  return *this;
}

BulkheadPermit::~BulkheadPermit() {
  if (b_) b_->release();
}

SharedBulkhead::Entry SharedBulkhead::enter(net::io_context& ctx) {
  Entry e;
  std::lock_guard l(mu_);
  e.id = ++next_id_;
  switch (core_.try_enter(e.id)) {
    case policy::Bulkhead::Admit::now:
      e.permit.emplace(shared_from_this());
      break;
    case policy::Bulkhead::Admit::rejected:
      break;
    case policy::Bulkhead::Admit::queued:
      e.waiter = std::make_shared<Waiter>(ctx);
      e.waiter->timer.expires_after(settings_.queue_timeout);
      waiters_.emplace(e.id, e.waiter);
      break;
  }
  return e;
}

awaitable<std::optional<BulkheadPermit>> SharedBulkhead::wait(std::shared_ptr<Waiter> w, std::uint64_t id) {
  // If this frame is destroyed while waiting (shutdown), the waiter leaves the queue with it.
  struct Leave {
    SharedBulkhead* self;
    std::uint64_t id;
    bool armed = true;
    ~Leave() {
      if (!armed) return;
      std::lock_guard l(self->mu_);
      self->waiters_.erase(id);
      if (!self->core_.cancel(id)) (void)self->core_.leave();
    }
  } leave{this, id};
  co_await w->timer.async_wait(use_nothrow);
  leave.armed = false;
  std::lock_guard l(mu_);
  waiters_.erase(id);
  if (w->granted || !core_.cancel(id)) co_return BulkheadPermit(shared_from_this());
  co_return std::nullopt;
}

void SharedBulkhead::release() {
  std::lock_guard l(mu_);
  auto next = core_.leave();
  if (!next) return;
  auto it = waiters_.find(*next);
  if (it == waiters_.end()) return;
  it->second->granted = true;
  // The waiter's timer belongs to its own worker thread: cancel it there.
  net::post(it->second->timer.get_executor(), [w = it->second] { w->timer.cancel(); });
}

SharedBulkhead::View SharedBulkhead::view() {
  std::lock_guard l(mu_);
  return {core_.in_use(), core_.queued()};
}

}  // namespace breakwater::proxy

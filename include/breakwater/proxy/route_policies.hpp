#pragma once
// Thread-safe homes for one route's policy objects, shared by every worker.
// Critical sections are a few arithmetic steps; no lock is held across co_await.
#include <bitset>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "breakwater/io/asio.hpp"
#include "breakwater/policy/bulkhead.hpp"
#include "breakwater/policy/circuit_breaker.hpp"
#include "breakwater/policy/retry_budget.hpp"
#include "breakwater/policy/retry_settings.hpp"
#include "breakwater/policy/spin_lock.hpp"
#include "breakwater/proxy/route_state.hpp"

namespace breakwater::proxy {

class SharedBreaker final {
 public:
  SharedBreaker(policy::CircuitBreakerSettings s, std::shared_ptr<RouteMetrics> metrics);
  [[nodiscard]] policy::BreakerPermit acquire(policy::TimePoint now);
  void record(const policy::BreakerPermit& p, bool failure, policy::Duration took, policy::TimePoint now);
  void cancel(const policy::BreakerPermit& p);
  [[nodiscard]] bool is_failure(const policy::AttemptOutcome& o) const {
    // failure_statuses as a bitset, asked twice per attempt (the breaker, the metric label)
    if (o.kind == policy::AttemptKind::response && !(o.grpc_status >= 0 && o.status == 200) && !odd_statuses_ &&
        o.status >= 0 && static_cast<std::size_t>(o.status) < failure_status_.size())
      return failure_status_.test(static_cast<std::size_t>(o.status));
    return policy::is_failed_attempt(settings_.failure_statuses, settings_.failure_grpc_statuses, o);
  }
  [[nodiscard]] policy::Mode mode() const { return settings_.mode; }
  struct View {
    policy::BreakerState state;
    double failure_rate, slow_call_rate;
    unsigned calls;
    policy::TimePoint since;  // when `state` began (the breaker's creation, before any transition)
  };
  [[nodiscard]] View view();

 private:
  void publish(policy::TimePoint now);  // transitions -> metrics and since_, under mu_
  const policy::CircuitBreakerSettings settings_;
  std::bitset<600> failure_status_;  // settings_.failure_statuses
  bool odd_statuses_ = false;        // one outside 0-599: asked of the list
  std::shared_ptr<RouteMetrics> metrics_;
  policy::SpinLock mu_;
  policy::CircuitBreaker cb_;
  policy::TimePoint since_;
  std::atomic<std::uint64_t> closed_generation_{0};  // cb_'s generation while closed, else 0
};

// One call's permit from a breaker, RAII: recorded once, or cancelled on any
// other way out (the client went away, the budget refused the retry).
class BreakerCall final {
 public:
  BreakerCall() = default;
  BreakerCall(SharedBreaker* b, policy::TimePoint now) : b_(b) {
    if (b_) p_ = b_->acquire(now);
  }
  BreakerCall(BreakerCall&& o) noexcept : b_(o.b_), p_(o.p_) { o.b_ = nullptr; }
  BreakerCall& operator=(BreakerCall&& o) noexcept {
    if (this != &o) {
      cancel();
      b_ = o.b_;
      p_ = o.p_;
      o.b_ = nullptr;
    }
    return *this;
  }
  BreakerCall(const BreakerCall&) = delete;
  BreakerCall& operator=(const BreakerCall&) = delete;
  ~BreakerCall() { cancel(); }

  // No breaker, or the breaker lets this call through.
  [[nodiscard]] bool allowed() const { return !b_ || p_.allowed; }
  [[nodiscard]] policy::Duration retry_after() const { return p_.retry_after; }
  void record(bool failure, policy::Duration took, policy::TimePoint now) {
    if (b_ && p_.allowed) b_->record(p_, failure, took, now);
    b_ = nullptr;
  }
  void cancel() {
    if (b_ && p_.allowed) b_->cancel(p_);
    b_ = nullptr;
  }

 private:
  SharedBreaker* b_ = nullptr;
  policy::BreakerPermit p_{true, false, 0, {}};
};

class SharedBulkhead;

// A place in the bulkhead; given back on destruction.
class BulkheadPermit final {
 public:
  BulkheadPermit() = default;
  explicit BulkheadPermit(std::shared_ptr<SharedBulkhead> b) : b_(std::move(b)) {}
  BulkheadPermit(BulkheadPermit&&) noexcept = default;
  BulkheadPermit& operator=(BulkheadPermit&& o) noexcept;
  BulkheadPermit(const BulkheadPermit&) = delete;
  BulkheadPermit& operator=(const BulkheadPermit&) = delete;
  ~BulkheadPermit();

 private:
  std::shared_ptr<SharedBulkhead> b_;
};

class SharedBulkhead final : public std::enable_shared_from_this<SharedBulkhead> {
 public:
  explicit SharedBulkhead(policy::BulkheadSettings s) : settings_(s), core_(s) {}
  struct Waiter;
  // Without suspending: a permit, a refusal (neither set), or a place in the queue to wait() on.
  struct Entry {
    std::optional<BulkheadPermit> permit;
    std::shared_ptr<Waiter> waiter;
    std::uint64_t id = 0;
  };
  Entry enter(net::io_context& ctx);  // a queued waiter's timer runs on `ctx`
  // Waits in the queue up to queue_timeout; an empty optional means bulkhead_full.
  awaitable<std::optional<BulkheadPermit>> wait(std::shared_ptr<Waiter> w, std::uint64_t id);
  void release();
  [[nodiscard]] policy::Mode mode() const { return settings_.mode; }
  [[nodiscard]] const policy::BulkheadSettings& settings() const { return settings_; }
  struct View {
    unsigned in_use, queued;
  };
  [[nodiscard]] View view();

  struct Waiter {
    explicit Waiter(net::io_context& ctx) : timer(ctx) {}
    net::steady_timer timer;
    bool granted = false;
  };

 private:
  const policy::BulkheadSettings settings_;
  policy::SpinLock mu_;
  policy::Bulkhead core_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Waiter>> waiters_;
  std::uint64_t next_id_ = 0;
};

// The retry budget of one route, shared by every worker. Each request counts
// once (on_request), retries rarely: requests of the current second gather in
// one atomic (second, count) word without the lock, and go into the window, in
// their own second, before the budget is next read or a new second begins.
class SharedBudget final {
 public:
  explicit SharedBudget(const policy::RetrySettings& s) : budget_(s.budget_ratio, s.budget_min_rps) {}
  void on_request(policy::TimePoint now) {
    auto sec = second_of(now);
    auto v = pending_.load(std::memory_order_relaxed);
    while ((v >> 32) == sec)
      if (pending_.compare_exchange_weak(v, v + 1, std::memory_order_relaxed)) return;
    std::lock_guard l(mu_);  // a new second (or an older one, from a late caller)
    v = pending_.load(std::memory_order_relaxed);
    for (;;) {
      auto held = v >> 32;
      if (held == sec) {
        if (pending_.compare_exchange_weak(v, v + 1, std::memory_order_relaxed)) return;
      } else if (held > sec) {
        budget_.on_request(now);
        return;
      } else if (pending_.compare_exchange_weak(v, (sec << 32) | 1, std::memory_order_relaxed)) {
        fold(held, v & 0xffffffffu);
        return;
      }
    }
  }
  [[nodiscard]] bool try_spend(policy::TimePoint now) {
    std::lock_guard l(mu_);
    drain();
    return budget_.try_spend(now);
  }
  [[nodiscard]] double available(policy::TimePoint now) {
    std::lock_guard l(mu_);
    drain();
    return budget_.available(now);
  }

 private:
  static std::uint64_t second_of(policy::TimePoint t) {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count()) &
           0xffffffffu;
  }
  // Under mu_: the pending count goes into the window, the second stays.
  void drain() {
    auto v = pending_.load(std::memory_order_relaxed);
    while (!pending_.compare_exchange_weak(v, v & ~std::uint64_t{0xffffffffu}, std::memory_order_relaxed)) {
    }
    fold(v >> 32, v & 0xffffffffu);
  }
  void fold(std::uint64_t sec, std::uint64_t n) {
    if (n > 0) budget_.on_requests(policy::TimePoint(std::chrono::seconds(sec)), n);
  }
  policy::SpinLock mu_;
  policy::RetryBudget budget_;
  std::atomic<std::uint64_t> pending_{0};  // second << 32 | requests counted in it, not yet in budget_
};

}  // namespace breakwater::proxy

#pragma once
// Thread-safe homes for one route's policy objects, shared by every worker.
// Critical sections are a few arithmetic steps; no lock is held across co_await.
#include <memory>
#include <mutex>
#include <unordered_map>

#include "breakwater/io/asio.hpp"
#include "breakwater/policy/bulkhead.hpp"
#include "breakwater/policy/circuit_breaker.hpp"
#include "breakwater/policy/retry_budget.hpp"
#include "breakwater/policy/retry_settings.hpp"
#include "breakwater/proxy/route_state.hpp"

namespace breakwater::proxy {

class SharedBreaker final {
 public:
  SharedBreaker(policy::CircuitBreakerSettings s, std::shared_ptr<RouteMetrics> metrics);
  [[nodiscard]] policy::BreakerPermit acquire(policy::TimePoint now);
  void record(const policy::BreakerPermit& p, bool failure, policy::Duration took, policy::TimePoint now);
  void cancel(const policy::BreakerPermit& p);
  [[nodiscard]] bool is_failure(const policy::AttemptOutcome& o) const {
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
  std::shared_ptr<RouteMetrics> metrics_;
  std::mutex mu_;
  policy::CircuitBreaker cb_;
  policy::TimePoint since_;
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
  Entry enter(const net::any_io_executor& ex);
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
    explicit Waiter(const net::any_io_executor& ex) : timer(ex) {}
    net::steady_timer timer;
    bool granted = false;
  };

 private:
  const policy::BulkheadSettings settings_;
  std::mutex mu_;
  policy::Bulkhead core_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Waiter>> waiters_;
  std::uint64_t next_id_ = 0;
};

class SharedBudget final {
 public:
  explicit SharedBudget(const policy::RetrySettings& s) : budget_(s.budget_ratio, s.budget_min_rps) {}
  void on_request(policy::TimePoint now) {
    std::lock_guard l(mu_);
    budget_.on_request(now);
  }
  [[nodiscard]] bool try_spend(policy::TimePoint now) {
    std::lock_guard l(mu_);
    return budget_.try_spend(now);
  }
  [[nodiscard]] double available(policy::TimePoint now) {
    std::lock_guard l(mu_);
    return budget_.available(now);
  }

 private:
  std::mutex mu_;
  policy::RetryBudget budget_;
};

}  // namespace breakwater::proxy

#pragma once
// Shared state for rate limits (and idempotency): the embedded memory backend
// and the Redis backend answer the same questions the same way.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "breakwater/config/model.hpp"
#include "breakwater/io/asio.hpp"
#include "breakwater/policy/rate_limit.hpp"
#include "breakwater/store/idem.hpp"

namespace breakwater::store {

class Store {
 public:
  virtual ~Store() = default;
  // One GCRA decision for `descriptor` on `route`. nullopt: the store failed
  // (down, slow past store.timeout, or its breaker is open); on_error decides.
  // Runs on the executor of worker `worker`.
  virtual awaitable<std::optional<policy::GcraOutcome>> rate_limit(unsigned worker, std::string_view route,
                                                                   std::string_view descriptor,
                                                                   const policy::GcraParams& p) = 0;
  // Memory answers without suspending; the proxy skips a coroutine frame for it.
  virtual std::optional<policy::GcraOutcome> rate_limit_now(std::string_view route, std::string_view descriptor,
                                                             const policy::GcraParams& p) = 0;
  [[nodiscard]] virtual bool synchronous() const = 0;
  // Idempotency (SPEC §6). `key` is the full store key; `fingerprint` and `token`
  // are lower-case hex (64 and 32 characters). nullopt / false: the store failed.
  virtual awaitable<std::optional<IdemBegin>> idem_begin(unsigned worker, std::string key, std::string fingerprint,
                                                         std::string token, policy::Duration lock_ttl) = 0;
  // Replaces the lock with the record only while `token` still owns it (fencing).
  virtual awaitable<bool> idem_complete(unsigned worker, std::string key, std::string token,
                                        std::string fingerprint, std::string record, policy::Duration ttl) = 0;
  virtual awaitable<bool> idem_release(unsigned worker, std::string key, std::string token) = 0;

  // Stops background work (connections); calls made after it fail.
  virtual void shutdown() {}
  // A reload: true when this store can go on under `next` (its state kept, the
  // new settings applied by apply()); false when `next` needs a new store.
  [[nodiscard]] virtual bool reusable_for(const config::StoreConfig& next) const = 0;
  virtual void apply(const config::StoreConfig&) {}
  // True once the store can answer (a Redis store: every worker's connection is up).
  [[nodiscard]] virtual bool ready() const { return true; }
  // Periodic housekeeping off the request path (the memory store drops what expired).
  virtual void sweep(policy::TimePoint) {}
};

// `workers`: one executor per worker thread; a Redis store keeps a connection on each.
std::shared_ptr<Store> make_store(const config::StoreConfig& cfg, const std::vector<net::any_io_executor>& workers);

}  // namespace breakwater::store

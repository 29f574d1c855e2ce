#pragma once
// Shared state for rate limits and idempotency: the embedded memory backend
// and the Redis backend answer the same questions the same way. A worker talks
// to the store through its own StoreHandle; each call answers a value or the
// StoreError that says why not (on_error decides either way).
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "breakwater/config/model.hpp"
#include "breakwater/io/asio.hpp"
#include "breakwater/policy/rate_limit.hpp"
#include "breakwater/store/idem.hpp"
#include "breakwater/store/result.hpp"

namespace breakwater::store {

class MemoryTable;

// An answer at once (no coroutine frame: the memory store, or a key Redis
// refused recently) or one to co_await.
template <class T>
struct Answer {
  std::optional<Result<T>> now;
  awaitable<Result<T>> later;  // only without `now`
};

// What an Idempotency-Key's store key is built from (store/keys); the views
// live through the call.
struct IdemKey {
  std::string_view route, scope, key;
};

// One worker's way into the store: calls run on that worker's executor, so a
// handle needs no lock and no worker index.
class StoreHandle {
 public:
  virtual ~StoreHandle() = default;
  // One GCRA decision for `descriptor` on `route`.
  [[nodiscard]] virtual Answer<policy::GcraOutcome> rate_limit(std::string_view route, std::string_view descriptor,
                                                               const policy::GcraParams& p) = 0;
  // Idempotency (SPEC §6): `fingerprint` and `token` are lower-case hex (64 and
  // 32 characters). Acquired: IdemBegin::key names the lock for the calls below.
  virtual awaitable<Result<IdemBegin>> idem_begin(IdemKey k, std::string fingerprint, std::string token,
                                                  policy::Duration lock_ttl) = 0;
  // Replaces the lock with the record only while `token` still owns it
  // (fencing): false when it does not.
  virtual awaitable<Result<bool>> idem_complete(std::string key, std::string token, std::string fingerprint,
                                                std::string record, policy::Duration ttl) = 0;
  virtual awaitable<Result<bool>> idem_release(std::string key, std::string token) = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // The handle of worker `worker` (the one whose executor runs the caller).
  [[nodiscard]] StoreHandle& handle(unsigned worker) { return *handles_[worker % handles_.size()]; }

  // Stops background work (connections); calls made after it fail.
  virtual void shutdown() {}
  // A reload: true when this store can go on under `next` (its state kept, the
  // new settings applied by apply()); false when `next` needs a new store.
  [[nodiscard]] virtual bool reusable_for(const config::StoreConfig& next) const = 0;
  virtual void apply(const config::StoreConfig&) {}
  // True once the store can answer (a Redis store: every worker's client is connected).
  [[nodiscard]] virtual bool ready() const { return true; }
  // Periodic housekeeping off the request path (the memory store drops what expired).
  virtual void sweep(policy::TimePoint) {}
  // on_error = "local": this instance's own memory, which decides while the
  // store fails (SPEC §6); null for a store that never fails (memory).
  [[nodiscard]] virtual MemoryTable* local() { return nullptr; }

 protected:
  std::vector<std::unique_ptr<StoreHandle>> handles_;  // one per worker, or one for all
};

// `workers`: one executor per worker thread; a Redis store keeps a client on each.
std::shared_ptr<Store> make_store(const config::StoreConfig& cfg, const std::vector<net::any_io_executor>& workers);

}  // namespace breakwater::store

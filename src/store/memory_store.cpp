#include "breakwater/store/memory_store.hpp"

#include "breakwater/store/keys.hpp"

namespace breakwater::store {

class MemoryStore::Handle final : public StoreHandle {
 public:
  explicit Handle(MemoryTable& table) : table_(table) {}

  Answer<policy::GcraOutcome> rate_limit(std::string_view route, std::string_view descriptor,
                                         const policy::GcraParams& p) override {
    return {table_.rate_limit(route, descriptor, p, policy::Clock::now()), {}};
  }

  awaitable<Result<IdemBegin>> idem_begin(IdemKey k, std::string fingerprint, std::string token,
                                          policy::Duration lock_ttl) override {
    auto key = keys::idempotency(k.route, k.scope, k.key);
    auto r = table_.idem_begin(key, std::move(fingerprint), std::move(token), policy::Clock::now(), lock_ttl);
    if (r.state == IdemBegin::State::acquired) r.key = std::move(key);
    co_return r;
  }

  awaitable<Result<bool>> idem_complete(std::string key, std::string token, std::string fingerprint,
                                        std::string record, policy::Duration ttl) override {
    co_return table_.idem_complete(key, token, std::move(fingerprint), std::move(record), policy::Clock::now(), ttl);
  }

  awaitable<Result<bool>> idem_release(std::string key, std::string token) override {
    co_return table_.idem_release(key, token);
  }

 private:
  MemoryTable& table_;
};

MemoryStore::MemoryStore(std::uint64_t max_bytes) : table_(max_bytes) {
  handles_.push_back(std::make_unique<Handle>(table_));
}

}  // namespace breakwater::store

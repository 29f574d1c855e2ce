#include "breakwater/store/memory_store.hpp"

namespace breakwater::store {

std::optional<policy::GcraOutcome> MemoryStore::rate_limit_now(std::string_view route, std::string_view descriptor,
                                                                const policy::GcraParams& p) {
  return table_.rate_limit(route, descriptor, p, policy::Clock::now());
}

awaitable<std::optional<policy::GcraOutcome>> MemoryStore::rate_limit(unsigned, std::string_view route,
                                                                      std::string_view descriptor,
                                                                      const policy::GcraParams& p) {
  co_return rate_limit_now(route, descriptor, p);
}

awaitable<std::optional<IdemBegin>> MemoryStore::idem_begin(unsigned, std::string key, std::string fingerprint,
                                                            std::string token, policy::Duration lock_ttl) {
  co_return table_.idem_begin(key, std::move(fingerprint), std::move(token), policy::Clock::now(), lock_ttl);
}

awaitable<bool> MemoryStore::idem_complete(unsigned, std::string key, std::string token, std::string fingerprint,
                                           std::string record, policy::Duration ttl) {
  co_return table_.idem_complete(key, token, std::move(fingerprint), std::move(record), policy::Clock::now(), ttl);
}

awaitable<bool> MemoryStore::idem_release(unsigned, std::string key, std::string token) {
  co_return table_.idem_release(key, token);
}

}  // namespace breakwater::store

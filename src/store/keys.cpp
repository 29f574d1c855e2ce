#include "breakwater/store/keys.hpp"

#include "breakwater/store/hash.hpp"

namespace breakwater::store::keys {

std::string rate_limit(std::string_view route, std::string_view descriptor) {
  std::string k;
  k.reserve(7 + route.size() + 1 + 64 + 1);
  k.append("bw:rl:{").append(route).append(":").append(sha256_hex(descriptor)).append("}");
  return k;
}

std::string idempotency(std::string_view route, std::string_view scope, std::string_view key) {
  std::string k;
  k.reserve(9 + route.size() + 1 + 64 + 1 + 64 + 1);
  k.append("bw:idem:{").append(route).append(":").append(sha256_hex(scope)).append(":");
  k.append(sha256_hex(key)).append("}");
  return k;
}

}  // namespace breakwater::store::keys

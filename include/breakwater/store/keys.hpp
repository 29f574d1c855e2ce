#pragma once
// How the store names what it keeps (SPEC §6): Redis keys are Redis Cluster
// hash tags (the braces are literal) over hashed parts, so a client can route
// each key by its slot. Only the store backends build keys.
#include <string>
#include <string_view>

namespace breakwater::store::keys {

// bw:rl:{ROUTE:SHA256(descriptor)}
[[nodiscard]] std::string rate_limit(std::string_view route, std::string_view descriptor);
// bw:idem:{ROUTE:SHA256(scope):SHA256(key)}; an absent scope is the empty one.
[[nodiscard]] std::string idempotency(std::string_view route, std::string_view scope, std::string_view key);

// A bucket's name in process (route NUL descriptor, no hashing: built per
// request), written over `out` so a caller's scratch string is reused.
inline void bucket_id(std::string& out, std::string_view route, std::string_view descriptor) {
  out.reserve(route.size() + descriptor.size() + 1);
  out.assign(route).push_back('\0');
  out.append(descriptor);
}

}  // namespace breakwater::store::keys

// Idempotency-Key parsing and the stored-response record format.
#include <cstdint>
#include <string>

#include "breakwater/policy/idempotency.hpp"

using namespace breakwater::policy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto k = parse_idempotency_key(in)) {
    if (k->empty() || k->size() > 255) __builtin_trap();
    for (unsigned char c : *k)
      if (c < 0x21 || c > 0x7e) __builtin_trap();
  }
  if (auto r = decode(in)) {
    auto again = decode(encode(*r));
    if (!again || !(*again == *r)) __builtin_trap();  // decode . encode is the identity
  }
  return 0;
}

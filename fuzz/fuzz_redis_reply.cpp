// Redis reply handling: whatever a server (or an attacker in the middle) sends.
#include <cstdint>

#include "breakwater/store/redis_reply.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  breakwater::store::RedisReplyReader reader;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Arbitrary split points, as TCP would deliver them.
  while (!in.empty()) {
    auto n = std::min<std::size_t>(in.size(), 1 + (static_cast<unsigned char>(in[0]) % 17));
    if (!reader.feed(in.substr(0, n))) return 0;
    in.remove_prefix(n);
    breakwater::store::RedisReply r;
    for (;;) {
      auto next = reader.next(r);
      if (next != breakwater::store::RedisReplyReader::Next::reply) {
        if (next == breakwater::store::RedisReplyReader::Next::error) return 0;
        break;
      }
    }
  }
  return 0;
}

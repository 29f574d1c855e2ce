// Redis Cluster replies and redirects (SPEC §6): whatever a node, or an
// attacker in the middle, answers to CLUSTER SHARDS / CLUSTER SLOTS and to a
// script call. Bytes become replies (RedisReplyReader), each reply is read as
// both slot maps, and the raw text as a MOVED / ASK error and a key.
#include <cstdint>

#include "breakwater/store/cluster_map.hpp"
#include "breakwater/store/redis_reply.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace cluster = breakwater::store::cluster;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto r = cluster::parse_redirect(in, "seed")) {
    if (r->slot >= cluster::kSlots || r->to.port == 0 || r->to.host.empty()) __builtin_trap();
  }
  if (cluster::key_slot(in) >= cluster::kSlots) __builtin_trap();
  breakwater::store::RedisReplyReader reader;
  if (!reader.feed(in)) return 0;
  breakwater::store::RedisReply reply;
  while (reader.next(reply) == breakwater::store::RedisReplyReader::Next::reply) {
    for (auto map : {cluster::parse_cluster_slots(reply, "seed"), cluster::parse_cluster_shards(reply, "seed", false),
                     cluster::parse_cluster_shards(reply, "seed", true)}) {
      if (!map) continue;
      for (std::uint32_t s = 0; s < cluster::kSlots; ++s)
        if (auto* owner = map->owner(static_cast<std::uint16_t>(s)); owner && owner->port == 0) __builtin_trap();
    }
    if (reply.is_error()) (void)cluster::parse_redirect(reply.str, "seed");
  }
  return 0;
}

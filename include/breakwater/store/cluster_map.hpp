#pragma once
// Redis Cluster arithmetic and replies, without I/O (SPEC §6): the hash slot of
// a key (CRC16 with hash tags), the slot map read from CLUSTER SHARDS or
// CLUSTER SLOTS, and the redirects a node answers with. Pure, so unit tests
// and the fuzzer drive it directly.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "breakwater/store/redis_reply.hpp"

namespace breakwater::store::cluster {

inline constexpr std::uint16_t kSlots = 16384;

// CRC16-CCITT (XMODEM) of the key, or of its hash tag: the part between the
// first '{' and the first '}' after it, when that part is not empty.
[[nodiscard]] std::uint16_t key_slot(std::string_view key);

struct NodeAddr {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const NodeAddr&) const = default;
  [[nodiscard]] std::string str() const { return host + ":" + std::to_string(port); }
};

// -MOVED 3999 127.0.0.1:6381 / -ASK 3999 127.0.0.1:6381 (the error text, without '-').
struct Redirect {
  enum class Kind : std::uint8_t { moved, ask } kind = Kind::moved;
  std::uint16_t slot = 0;
  NodeAddr to;
};
// Empty host in the reply ("MOVED 1 :6380") means the node that answered: `from_host`.
[[nodiscard]] std::optional<Redirect> parse_redirect(std::string_view error, std::string_view from_host);

// Which master serves each slot.
class SlotMap final {
 public:
  SlotMap() { owner_.fill(kNone); }
  // Slots [first, last] to `master`; false when the range is out of bounds.
  bool assign(std::uint16_t first, std::uint16_t last, const NodeAddr& master);
  // The master of `slot`, or null when no master serves it.
  [[nodiscard]] const NodeAddr* owner(std::uint16_t slot) const {
    auto i = owner_[slot];
    return i == kNone ? nullptr : &nodes_[i];
  }
  [[nodiscard]] const std::vector<NodeAddr>& masters() const { return nodes_; }
  [[nodiscard]] std::size_t covered() const;

 private:
  static constexpr std::uint16_t kNone = 0xffff;
  std::array<std::uint16_t, kSlots> owner_;
  std::vector<NodeAddr> nodes_;
};

// CLUSTER SLOTS: [[first, last, [host, port, id, ...], replicas...], ...].
// CLUSTER SHARDS (Redis 7): [[ "slots", [first, last, ...], "nodes", [[k, v, ...], ...] ], ...];
// the master of a shard is its node with role "master" (preferring health "online"),
// its port "tls-port" when `tls`, else "port".
// An empty host (or "?") means the node that answered: `from_host`. Null: not such a reply.
[[nodiscard]] std::optional<SlotMap> parse_cluster_slots(const RedisReply& r, std::string_view from_host);
[[nodiscard]] std::optional<SlotMap> parse_cluster_shards(const RedisReply& r, std::string_view from_host, bool tls);

}  // namespace breakwater::store::cluster

#include "breakwater/store/cluster_map.hpp"

#include <charconv>

namespace breakwater::store::cluster {
namespace {

// CRC16-CCITT (XMODEM: poly 0x1021, init 0), the function Redis Cluster uses.
constexpr std::array<std::uint16_t, 256> make_table() {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    std::uint16_t c = static_cast<std::uint16_t>(i << 8);
    for (int k = 0; k < 8; ++k) c = static_cast<std::uint16_t>(c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1);
    t[i] = c;
  }
  return t;
}
constexpr auto kCrcTable = make_table();

std::uint16_t crc16(std::string_view s) {
  std::uint16_t crc = 0;
  for (unsigned char c : s) crc = static_cast<std::uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

template <class Int>
bool to_int(std::string_view s, Int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string host_or(std::string_view host, std::string_view from_host) {
  return host.empty() || host == "?" ? std::string(from_host) : std::string(host);
}

bool integer(const RedisReply& r, long long& out) {
  if (r.type == RedisReply::Type::integer) {
    out = r.integer;
    return true;
  }
  return r.type == RedisReply::Type::string && to_int(std::string_view(r.str), out);
}

bool text(const RedisReply& r) { return r.type == RedisReply::Type::string || r.type == RedisReply::Type::status; }

bool assign_range(SlotMap& m, long long first, long long last, const NodeAddr& node) {
  if (first < 0 || last < first || last >= kSlots) return false;
  return m.assign(static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last), node);
}

// A RESP2 map: [k1, v1, k2, v2, ...]; the value of `key`, or null.
const RedisReply* field(const RedisReply& map, std::string_view key) {
  if (map.type != RedisReply::Type::array) return nullptr;
  for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2)
    if (text(map.elements[i]) && map.elements[i].str == key) return &map.elements[i + 1];
  return nullptr;
}

}  // namespace

std::uint16_t key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & (kSlots - 1);
}

std::optional<Redirect> parse_redirect(std::string_view error, std::string_view from_host) {
  Redirect r;
  if (error.rfind("MOVED ", 0) == 0) {
    error.remove_prefix(6);
  } else if (error.rfind("ASK ", 0) == 0) {
    r.kind = Redirect::Kind::ask;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  auto space = error.find(' ');
  if (space == std::string_view::npos || !to_int(error.substr(0, space), r.slot) || r.slot >= kSlots)
    return std::nullopt;
  auto addr = error.substr(space + 1);
  auto colon = addr.rfind(':');
  if (colon == std::string_view::npos || !to_int(addr.substr(colon + 1), r.to.port) || r.to.port == 0)
    return std::nullopt;
  auto host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.find(' ') != std::string_view::npos) return std::nullopt;
  r.to.host = host_or(host, from_host);
  return r;
}

bool SlotMap::assign(std::uint16_t first, std::uint16_t last, const NodeAddr& master) {
  if (last < first || last >= kSlots) return false;
  std::uint16_t index = 0;
  while (index < nodes_.size() && !(nodes_[index] == master)) ++index;
  if (index == nodes_.size()) {
    if (nodes_.size() >= kNone) return false;
    nodes_.push_back(master);
  }
  for (std::uint32_t s = first; s <= last; ++s) owner_[s] = index;
  return true;
}

std::size_t SlotMap::covered() const {
  std::size_t n = 0;
  for (auto o : owner_) n += o != kNone;
  return n;
}

std::optional<SlotMap> parse_cluster_slots(const RedisReply& r, std::string_view from_host) {
  if (r.type != RedisReply::Type::array) return std::nullopt;
  SlotMap m;
  for (auto& range : r.elements) {
    if (range.type != RedisReply::Type::array || range.elements.size() < 3) return std::nullopt;
    long long first = 0, last = 0, port = 0;
    auto& master = range.elements[2];
    if (!integer(range.elements[0], first) || !integer(range.elements[1], last)) return std::nullopt;
    if (master.type != RedisReply::Type::array || master.elements.size() < 2 || !text(master.elements[0]) ||
        !integer(master.elements[1], port) || port <= 0 || port > 65535)
      return std::nullopt;
    if (!assign_range(m, first, last, {host_or(master.elements[0].str, from_host), static_cast<std::uint16_t>(port)}))
      return std::nullopt;
  }
  return m;
}

std::optional<SlotMap> parse_cluster_shards(const RedisReply& r, std::string_view from_host, bool tls) {
  if (r.type != RedisReply::Type::array) return std::nullopt;
  SlotMap m;
  for (auto& shard : r.elements) {
    auto* slots = field(shard, "slots");
    auto* nodes = field(shard, "nodes");
    if (!slots || !nodes || slots->type != RedisReply::Type::array || nodes->type != RedisReply::Type::array ||
        slots->elements.size() % 2 != 0)
      return std::nullopt;
    if (slots->elements.empty()) continue;  // a shard without slots (all migrated away)
    const RedisReply* master = nullptr;
    for (auto& node : nodes->elements) {
      auto* role = field(node, "role");
      if (!role || !text(*role) || role->str != "master") continue;
      auto* health = field(node, "health");
      if (!master || (health && text(*health) && health->str == "online")) master = &node;
    }
    if (!master) continue;  // no master known for these slots: calls to them fail until the next read
    auto* ip = field(*master, "endpoint");
    if (!ip || !text(*ip) || ip->str.empty() || ip->str == "?") ip = field(*master, "ip");
    auto* port_field = field(*master, tls ? "tls-port" : "port");
    long long port = 0;
    if (!ip || !text(*ip) || !port_field || !integer(*port_field, port) || port <= 0 || port > 65535)
      return std::nullopt;
    NodeAddr addr{host_or(ip->str, from_host), static_cast<std::uint16_t>(port)};
    for (std::size_t i = 0; i < slots->elements.size(); i += 2) {
      long long first = 0, last = 0;
      if (!integer(slots->elements[i], first) || !integer(slots->elements[i + 1], last) ||
          !assign_range(m, first, last, addr))
        return std::nullopt;
    }
  }
  return m;
}

}  // namespace breakwater::store::cluster

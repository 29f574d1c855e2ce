// Redis Cluster slots, slot maps and redirects (SPEC §6): pure functions, no I/O.
#include <doctest/doctest.h>

#include <utility>

#include "breakwater/store/cluster_map.hpp"

using namespace breakwater::store;
using namespace breakwater::store::cluster;

namespace {

RedisReply str(std::string s) { return RedisReply{RedisReply::Type::string, std::move(s), 0, {}}; }
RedisReply num(long long n) { return RedisReply{RedisReply::Type::integer, {}, n, {}}; }
RedisReply arr(std::vector<RedisReply> e) { return RedisReply{RedisReply::Type::array, {}, 0, std::move(e)}; }

}  // namespace

TEST_CASE("key_slot agrees with Redis' own CLUSTER KEYSLOT, hash tags included") {
  // Each expected slot is what `redis-cli CLUSTER KEYSLOT KEY` answered on a
  // redis-server 7.0 started with --cluster-enabled yes.
  const std::pair<const char*, int> expected[] = {
    {"", 0},
    {"a", 15495},
    {"foo", 12182},
    {"bar", 5061},
    {"123456789", 12739},
    {"{user1000}.following", 3443},
    {"{user1000}.followers", 3443},
    {"foo{}{bar}", 8363},
    {"foo{{bar}}zap", 4015},
    {"foo{bar}{zap}", 5061},
    {"{}", 15257},
    {"{", 4092},
    {"}", 12090},
    {"}{", 12793},
    {"{a}", 15495},
    {"a{b", 13340},
    {"a}b{c}", 7365},
    {"bw:rl:{orders:0000000000000000000000000000000000000000000000000000000000000000}", 4405},
    {"bw:idem:{r:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855:2cf24dba5fb0a30e26e43b2ac9fe0d4b}", 5362},
    {"key:with:colons", 12379},
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 2134},
    {"k0", 8579},
    {"k1", 12706},
    {"k2", 449},
    {"k3", 4576},
    {"k4", 8455},
    {"k5", 12582},
    {"k6", 325},
    {"k7", 4452},
    {"k8", 8331},
    {"k9", 12458},
    {"k10", 11117},
    {"k11", 15180},
    {"k12", 2863},
    {"k13", 6926},
    {"k14", 11241},
    {"k15", 15304},
    {"k16", 2987},
    {"k17", 7050},
    {"k18", 10853},
    {"k19", 14916},
    {"k20", 15934},
    {"k21", 11807},
    {"k22", 7804},
    {"k23", 3677},
    {"k24", 16058},
    {"k25", 11931},
    {"k26", 7928},
    {"k27", 3801},
    {"k28", 16182},
    {"k29", 12055}
  };
  for (auto& [key, slot] : expected) {
    CAPTURE(key);
    CHECK(key_slot(key) == slot);
  }
  CHECK(key_slot("{user1000}.following") == key_slot("user1000"));
  CHECK(key_slot("foo{}") != key_slot(""));  // an empty tag hashes the whole key
}

TEST_CASE("parse_redirect: MOVED and ASK, the empty host, and what is not a redirect") {
  auto m = parse_redirect("MOVED 3999 127.0.0.1:6381", "10.0.0.9");
  REQUIRE(m);
  CHECK(m->kind == Redirect::Kind::moved);
  CHECK(m->slot == 3999);
  CHECK(m->to == NodeAddr{"127.0.0.1", 6381});
  auto a = parse_redirect("ASK 16383 redis-b.internal:7001", "x");
  REQUIRE(a);
  CHECK(a->kind == Redirect::Kind::ask);
  CHECK(a->slot == 16383);
  CHECK(a->to == NodeAddr{"redis-b.internal", 7001});
  CHECK(parse_redirect("MOVED 1 :7002", "10.0.0.9")->to == NodeAddr{"10.0.0.9", 7002});
  CHECK(parse_redirect("MOVED 1 [::1]:7002", "x")->to == NodeAddr{"::1", 7002});
  CHECK_FALSE(parse_redirect("MOVED 16384 h:1", "x"));
  CHECK_FALSE(parse_redirect("MOVED -1 h:1", "x"));
  CHECK_FALSE(parse_redirect("MOVED 1 h:0", "x"));
  CHECK_FALSE(parse_redirect("MOVED 1 h:65536", "x"));
  CHECK_FALSE(parse_redirect("MOVED 1 h", "x"));
  CHECK_FALSE(parse_redirect("MOVED 1", "x"));
  CHECK_FALSE(parse_redirect("TRYAGAIN Multiple keys request during rehashing of slot", "x"));
  CHECK_FALSE(parse_redirect("CLUSTERDOWN The cluster is down", "x"));
  CHECK_FALSE(parse_redirect("ERR unknown command", "x"));
}

TEST_CASE("parse_cluster_slots: ranges to masters, replicas ignored") {
  auto reply = arr({
      arr({num(0), num(5460), arr({str("127.0.0.1"), num(7000), str("id0")}), arr({str("127.0.0.1"), num(7003)})}),
      arr({num(5461), num(10922), arr({str(""), num(7001), str("id1")})}),
      arr({num(10923), num(16383), arr({str("10.0.0.3"), num(7002)})}),
  });
  auto m = parse_cluster_slots(reply, "seed.local");
  REQUIRE(m);
  CHECK(m->covered() == kSlots);
  CHECK(m->masters().size() == 3);
  CHECK(*m->owner(0) == NodeAddr{"127.0.0.1", 7000});
  CHECK(*m->owner(5460) == NodeAddr{"127.0.0.1", 7000});
  CHECK(*m->owner(5461) == NodeAddr{"seed.local", 7001});
  CHECK(*m->owner(16383) == NodeAddr{"10.0.0.3", 7002});
  auto partial = parse_cluster_slots(arr({arr({num(100), num(200), arr({str("h"), num(1)})})}), "x");
  REQUIRE(partial);
  CHECK(partial->covered() == 101);
  CHECK(partial->owner(99) == nullptr);
  CHECK_FALSE(parse_cluster_slots(arr({arr({num(200), num(100), arr({str("h"), num(1)})})}), "x"));
  CHECK_FALSE(parse_cluster_slots(arr({arr({num(0), num(16384), arr({str("h"), num(1)})})}), "x"));
  CHECK_FALSE(parse_cluster_slots(arr({arr({num(0), num(1), arr({str("h"), num(0)})})}), "x"));
  CHECK_FALSE(parse_cluster_slots(arr({arr({num(0), num(1)})}), "x"));
  CHECK_FALSE(parse_cluster_slots(str("ERR"), "x"));
}

TEST_CASE("parse_cluster_shards: the online master of each shard, its port or tls-port") {
  auto node = [](std::string ip, long long port, std::string role, std::string health) {
    return arr({str("id"), str("abc"), str("port"), num(port), str("tls-port"), num(port + 10000), str("ip"), str(ip),
                str("endpoint"), str(ip), str("role"), str(role), str("replication-offset"), num(1), str("health"),
                str(health)});
  };
  auto reply = arr({
      arr({str("slots"), arr({num(0), num(100), num(200), num(300)}), str("nodes"),
           arr({node("10.0.0.1", 7000, "replica", "online"), node("10.0.0.2", 7001, "master", "online")})}),
      arr({str("slots"), arr({num(101), num(199)}), str("nodes"),
           arr({node("10.0.0.3", 7002, "master", "failed"), node("", 7003, "master", "online")})}),
      arr({str("slots"), arr({}), str("nodes"), arr({node("10.0.0.5", 7005, "master", "online")})}),
  });
  auto m = parse_cluster_shards(reply, "seed", false);
  REQUIRE(m);
  CHECK(m->covered() == 301);
  CHECK(*m->owner(0) == NodeAddr{"10.0.0.2", 7001});
  CHECK(*m->owner(300) == NodeAddr{"10.0.0.2", 7001});
  CHECK(*m->owner(150) == NodeAddr{"seed", 7003});
  CHECK(m->owner(301) == nullptr);
  auto tls = parse_cluster_shards(reply, "seed", true);
  REQUIRE(tls);
  CHECK(*tls->owner(0) == NodeAddr{"10.0.0.2", 17001});
  CHECK_FALSE(parse_cluster_shards(arr({arr({str("slots"), arr({num(1)}), str("nodes"), arr({})})}), "x", false));
  CHECK_FALSE(parse_cluster_shards(arr({arr({str("nodes"), arr({})})}), "x", false));
  CHECK_FALSE(parse_cluster_shards(num(3), "x", false));
}

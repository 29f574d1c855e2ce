#include <doctest/doctest.h>

#include <string>

#include "breakwater/config/load.hpp"
#include "breakwater/config/units.hpp"

using namespace breakwater::config;
using namespace std::chrono_literals;

namespace {

const char* kMinimal = R"([[listener]]
name = "in"
bind = "127.0.0.1:15000"

[upstream.app]
endpoints = ["127.0.0.1:8080"]

[[route]]
name = "r"
listener = "in"
upstream = "app"
)";

LoadResult load(const std::string& text) { return load_string(text, "t.toml"); }

std::string only_error(const std::string& text) {
  auto r = load(text);
  REQUIRE(r.errors.size() == 1);
  return r.errors[0];
}

}  // namespace

TEST_CASE("units") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("2s") == 2s);
  CHECK(parse_duration("5m") == 5min);
  CHECK(parse_duration("24h") == 24h);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("0s") == 0s);
  CHECK_FALSE(parse_duration("10"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("1 s"));
  CHECK_FALSE(parse_duration("1d"));
  CHECK(parse_size("64KiB") == 65536u);
  CHECK(parse_size("1MiB") == 1048576u);
  CHECK(parse_size("8MiB") == 8u * 1048576u);
  CHECK(parse_size("100B") == 100u);
  CHECK_FALSE(parse_size("1mb"));
  CHECK_FALSE(parse_size("12"));
  auto hp = parse_host_port("[::1]:80");
  REQUIRE(hp);
  CHECK(hp->host == "::1");
  CHECK(hp->port == 80);
  CHECK_FALSE(parse_host_port("host"));
  CHECK_FALSE(parse_host_port("host:99999"));
  CHECK_FALSE(parse_host_port(":80"));
}

TEST_CASE("the example config loads with the documented defaults") {
  auto r = load_file(std::string(BW_SOURCE_DIR) + "/conf/breakwater.toml");
  for (auto& e : r.errors) MESSAGE(e);
  REQUIRE(r.ok());
  auto& c = r.config;
  CHECK(c.server.workers == 0);
  CHECK(c.server.admin.str() == "127.0.0.1:9901");
  CHECK(c.store.timeout == 50ms);
  CHECK(c.store.on_error == StoreConfig::OnError::allow);
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[1].max_connections == 10000);  // defaults to the first example's value
  CHECK(c.listeners[1].max_body == 8u * 1024 * 1024);
  CHECK(c.listeners[0].http2);
  CHECK(c.listeners[1].http2);  // defaults to the first example's value
  CHECK(c.listeners[1].max_concurrent_streams == 100);
  REQUIRE(c.upstreams.size() == 3);
  auto* inv = c.find_upstream("inventory");
  REQUIRE(inv);
  CHECK(inv->protocol == UpstreamProtocol::http2);
  REQUIRE(c.routes.size() == 3);
  CHECK(c.routes[2].retry->retry_on.grpc_statuses == (breakwater::policy::grpc_bit(14) | breakwater::policy::grpc_bit(8)));
  auto* pay = c.find_upstream("payments");
  REQUIRE(pay);
  CHECK(pay->tls);
  CHECK(pay->connect_timeout == 1s);
  CHECK(pay->protocol == UpstreamProtocol::http1);
  CHECK(c.find_upstream("local")->protocol == UpstreamProtocol::http1);
  REQUIRE(c.routes.size() == 3);
  auto& w = c.routes[0];
  CHECK(w.match.methods == std::vector<std::string>{"POST", "PUT", "PATCH", "DELETE"});
  REQUIRE(w.rate_limit);
  CHECK(w.rate_limit->rate == 100);
  CHECK(w.rate_limit->bucket() == 100);
  REQUIRE(w.idempotency);
  CHECK(w.idempotency->header == "idempotency-key");
  CHECK(w.idempotency->ttl == 24h);
  REQUIRE(w.bulkhead);
  CHECK(w.bulkhead->max_concurrent == 100);
  CHECK_FALSE(w.retry);
  auto& p = c.routes[1];
  CHECK(p.match.host == "payments");
  REQUIRE(p.retry);
  CHECK(p.retry->max_attempts == 2);
  CHECK(p.retry->retry_on.connect_failure);
  CHECK(p.retry->retry_on.statuses == std::vector<int>{502, 503, 504});
  REQUIRE(p.circuit_breaker);
  CHECK(p.circuit_breaker->open_duration_max == 5min);
  CHECK(p.circuit_breaker->failure_statuses == std::vector<int>{500, 502, 503, 504});
  CHECK(p.circuit_breaker->failure_grpc_statuses == breakwater::policy::kDefaultFailureGrpcStatuses);
}

TEST_CASE("defaults that depend on other keys") {
  auto r = load(std::string(kMinimal) + "[route.rate_limit]\nrate = 7\n");
  REQUIRE(r.ok());
  CHECK(r.config.routes[0].rate_limit->bucket() == 7);
  CHECK(r.config.routes[0].timeout == 15s);
  CHECK(r.config.routes[0].enabled);
}

TEST_CASE("syntax errors point at the offending character") {
  CHECK(only_error("[server\nworkers = 1\n").rfind("t.toml:1:", 0) == 0);
  auto e = only_error("a = = 1\n");
  CHECK(e.rfind("t.toml:1:", 0) == 0);
}

TEST_CASE("unknown keys are errors at the key") {
  {
    auto g = load(std::string(kMinimal) + "[route.retry]\nretry_on = [\"unavailable\", \"resource-exhausted\", \"reset\"]\n"
                  "[route.circuit_breaker]\nfailure_grpc_statuses = [\"internal\"]\n");
    REQUIRE(g.errors.empty());
    CHECK(g.config.routes[0].retry->retry_on.grpc_statuses ==
          (breakwater::policy::grpc_bit(14) | breakwater::policy::grpc_bit(8)));
    CHECK(g.config.routes[0].retry->retry_on.reset);
    CHECK(g.config.routes[0].circuit_breaker->failure_grpc_statuses == breakwater::policy::grpc_bit(13));
  }
  CHECK(only_error(std::string(kMinimal) + "[route.circuit_breaker]\nfailure_grpc_statuses = [\"UNAVAILABLE\"]\n") ==
        "t.toml:13:26: 'failure_grpc_statuses' entries must be gRPC status names (\"unavailable\", \"internal\", ...)");
  CHECK(only_error(std::string(kMinimal) + "timeuot = \"1s\"\n") ==
        "t.toml:12:1: unknown key 'timeuot' in [[route]]");
  CHECK(only_error(std::string("[server]\nworkerz = 1\n") + kMinimal) ==
        "t.toml:2:1: unknown key 'workerz' in [server]");
  CHECK(only_error(std::string(kMinimal) + "[route.retry]\nmax_attempt = 3\n") ==
        "t.toml:13:1: unknown key 'max_attempt' in [route.retry]");
  CHECK(only_error(std::string(kMinimal) + "match = { path_prefx = \"/a\" }\n") ==
        "t.toml:12:11: unknown key 'path_prefx' in match");
}

TEST_CASE("bad values are errors at the value") {
  CHECK(only_error(std::string(kMinimal) + "timeout = \"15\"\n") ==
        "t.toml:12:11: 'timeout' must be a duration string with a unit, like \"250ms\", \"2s\", \"5m\", \"24h\"");
  CHECK(only_error(std::string(kMinimal) + "enabled = \"yes\"\n") == "t.toml:12:11: 'enabled' must be true or false");
  CHECK(only_error(std::string(kMinimal) + "[route.circuit_breaker]\nfailure_rate_threshold = 150\n") ==
        "t.toml:13:26: 'failure_rate_threshold' must be between 1e-09 and 100");
  CHECK(only_error(std::string(kMinimal) + "[route.retry]\nretry_on = [\"sometimes\"]\n") ==
        "t.toml:13:13: 'retry_on' entries must be \"connect-failure\", \"reset\", \"timeout\", \"5xx\", a status code "
        "or a gRPC status name (\"unavailable\", \"resource-exhausted\", ...)");
  CHECK(only_error(std::string(kMinimal) + "[route.rate_limit]\nrate = 1\nkey = [\"cookie\"]\n") ==
        "t.toml:14:8: 'key' entries must be \"client_ip\", \"route\" or \"header:NAME\"");
  CHECK(only_error(std::string(kMinimal) + "[route.bulkhead]\nmode = \"audit\"\n") ==
        "t.toml:13:8: 'mode' must be \"enforce\" or \"shadow\"");
  CHECK(only_error(std::string("[store]\nbackend = \"etcd\"\n") + kMinimal) ==
        "t.toml:2:11: 'backend' must be \"memory\", \"redis\", \"redis-cluster\" or \"redis-sentinel\"");
  CHECK(only_error(std::string("[server]\nadmin = \"admin.local:1\"\n") + kMinimal) ==
        "t.toml:2:9: 'admin' must be an IP address and port, like \"127.0.0.1:9901\"");
}

TEST_CASE("an upstream's protocol") {
  auto with = [](const std::string& line) {
    std::string t(kMinimal);
    t.insert(t.find("[[route]]"), line + "\n");
    return t;
  };
  auto r = load(with("protocol = \"http2\""));
  REQUIRE(r.ok());
  CHECK(r.config.upstreams[0].protocol == UpstreamProtocol::http2);
  CHECK(load(kMinimal).config.upstreams[0].protocol == UpstreamProtocol::http1);
  CHECK(only_error(with("protocol = \"h2\"")) == "t.toml:8:12: 'protocol' must be \"http1\" or \"http2\"");
  CHECK(only_error(with("protocol = 2")) == "t.toml:8:12: 'protocol' must be a string");
}

TEST_CASE("missing required keys") {
  CHECK(only_error(std::string(kMinimal) + "[route.rate_limit]\nper = \"1s\"\n") ==
        "t.toml:12:1: missing required key 'rate' in [route.rate_limit]");
  auto r = load("[upstream.a]\nconnect_timeout = \"1s\"\n");
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0] == "t.toml:1:1: at least one [[listener]] is required");
  CHECK(r.errors[1] == "t.toml:1:1: missing required key 'endpoints' in [upstream.a]");
  r = load("[[listener]]\nname = \"in\"\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == "t.toml:1:1: missing required key 'bind' in [[listener]]");
}

TEST_CASE("references and duplicates") {
  CHECK(only_error(std::string(kMinimal) + "\n[[route]]\nname = \"r\"\nlistener = \"in\"\nupstream = \"app\"\n") ==
        "t.toml:14:8: 'name' 'r' is used by another route");
  auto text = std::string(kMinimal);
  text.replace(text.find("upstream = \"app\""), 16, "upstream = \"gone\"");
  CHECK(only_error(text) == "t.toml:11:12: 'upstream' names no [upstream.gone]");
  CHECK(only_error(std::string(kMinimal) + "\n[[listener]]\nname = \"in\"\nbind = \"127.0.0.1:15001\"\n") ==
        "t.toml:14:8: 'name' 'in' is used by another listener");
  auto r = load("[listener]\nname = \"x\"\n");
  REQUIRE_FALSE(r.errors.empty());
  CHECK(r.errors[0] == "t.toml:1:1: 'listener' must be an array of tables: write [[listener]]");
}

TEST_CASE("TLS files must exist") {
  auto e = only_error(std::string(kMinimal) + "\n[upstream.tls]\nendpoints = [\"a:443\"]\nca_file = \"/nonexistent/ca.pem\"\n");
  CHECK(e == "t.toml:15:11: 'ca_file' names a file that does not exist: /nonexistent/ca.pem");
}

TEST_CASE("every error is reported, in file order") {
  auto r = load("[server]\nworkers = -1\ndrain_timeout = 3\n[[listener]]\nbind = \"x\"\n");
  REQUIRE(r.errors.size() == 4);
  CHECK(r.errors[0].rfind("t.toml:2:", 0) == 0);
  CHECK(r.errors[1].rfind("t.toml:3:", 0) == 0);
  CHECK(r.errors[2] == "t.toml:4:1: missing required key 'name' in [[listener]]");
  CHECK(r.errors[3].rfind("t.toml:5:8:", 0) == 0);
}

TEST_CASE("cluster and sentinel stores, on_error = local, local_rate (SPEC §2, §6)") {
  auto r = load(std::string("[store]\nbackend = \"redis-cluster\"\nurl = \"redis://u:p@10.0.0.1:7000,10.0.0.2:7001\"\n"
                            "on_error = \"local\"\n") +
                kMinimal + "[route.rate_limit]\nrate = 10\nburst = 5\nlocal_rate = 3\n");
  REQUIRE(r.errors.empty());
  CHECK(r.config.store.backend == StoreConfig::Backend::redis_cluster);
  CHECK(r.config.store.on_error == StoreConfig::OnError::local);
  REQUIRE(r.config.routes[0].rate_limit->local_rate);
  CHECK(*r.config.routes[0].rate_limit->local_rate == 3);
  auto s = load(std::string("[store]\nbackend = \"redis-sentinel\"\nurl = \"redis://s1:26379,s2:26380/2\"\n"
                            "sentinel_master = \"orders\"\n") + kMinimal);
  REQUIRE(s.errors.empty());
  CHECK(s.config.store.sentinel_master == "orders");
  CHECK(only_error(std::string("[store]\nbackend = \"redis\"\nurl = \"redis://a:1,b:2\"\n") + kMinimal) ==
        "t.toml:3:7: 'url' lists several hosts, which only backend = \"redis-cluster\" or \"redis-sentinel\" can use");
  CHECK(only_error(std::string("[store]\nbackend = \"redis-cluster\"\nurl = \"redis://a:1,:2\"\n") + kMinimal) ==
        "t.toml:3:7: 'url' must be redis://[user:password@]host1:port1,host2:port2[/db] or rediss://...");
  CHECK(only_error(std::string("[store]\nbackend = \"redis-cluster\"\nurl = \"redis://a:1/3\"\n") + kMinimal) ==
        "t.toml:3:7: 'url' names database 3, but Redis Cluster has only database 0");
  CHECK(only_error(std::string("[store]\non_error = \"maybe\"\n") + kMinimal) ==
        "t.toml:2:12: 'on_error' must be \"allow\", \"deny\" or \"local\"");
  CHECK(only_error(std::string("[store]\nsentinel_master = \"\"\n") + kMinimal) ==
        "t.toml:2:19: 'sentinel_master' must not be empty");
  CHECK(only_error(std::string(kMinimal) + "[route.rate_limit]\nrate = 1\nlocal_rate = 0\n").rfind(
            "t.toml:14:14: 'local_rate' must be between", 0) == 0);
}

#include "breakwater/config/load.hpp"

#include "breakwater/http/grpc.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "breakwater/config/redis_url.hpp"
#include "breakwater/config/units.hpp"
#include "breakwater/policy/rate_limit.hpp"

namespace breakwater::config {
namespace {

using policy::Mode;

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Collects errors with their positions.
class Errors {
 public:
  Errors(std::string file, std::vector<std::string>& out) : file_(std::move(file)), out_(out) {}
  void at(const toml::source_region& where, const std::string& msg) {
    auto line = std::max<std::size_t>(where.begin.line, 1);
    auto col = std::max<std::size_t>(where.begin.column, 1);
    out_.push_back(file_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + msg);
  }
  [[nodiscard]] const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<std::string>& out_;
};

// Reads the keys of one table; whatever it was not asked for is an unknown key.
class Reader {
 public:
  Reader(const toml::table& t, Errors& e, std::string where) : t_(t), e_(e), where_(std::move(where)) {}
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() {
    for (auto&& [k, v] : t_) {
      if (!known_.count(std::string(k.str())))
        e_.at(k.source(), "unknown key '" + std::string(k.str()) + "' in " + where_);
    }
  }

  const toml::node* get(std::string_view key) {
    known_.insert(std::string(key));
    return t_.get(key);
  }
  void missing(std::string_view key) {
    e_.at(t_.source(), "missing required key '" + std::string(key) + "' in " + where_);
  }
  void bad(const toml::node& n, std::string_view key, const std::string& why) {
    e_.at(n.source(), "'" + std::string(key) + "' " + why);
  }

  bool str(std::string_view key, std::string& out, bool required = false) {
    auto* n = get(key);
    if (!n) {
      if (required) missing(key);
      return false;
    }
    if (!n->is_string()) {
      bad(*n, key, "must be a string");
      return false;
    }
    out = n->as_string()->get();
    return true;
  }
  bool boolean(std::string_view key, bool& out) {
    auto* n = get(key);
    if (!n) return false;
    if (!n->is_boolean()) {
      bad(*n, key, "must be true or false");
      return false;
    }
    out = n->as_boolean()->get();
    return true;
  }
  template <class Int>
  bool integer(std::string_view key, Int& out, long long min, long long max) {
    auto* n = get(key);
    if (!n) return false;
    if (!n->is_integer()) {
      bad(*n, key, "must be an integer");
      return false;
    }
    auto v = n->as_integer()->get();
    if (v < min || v > max) {
      bad(*n, key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return false;
    }
    out = static_cast<Int>(v);
    return true;
  }
  bool number(std::string_view key, double& out, double min, double max, bool required = false) {
    auto* n = get(key);
    if (!n) {
      if (required) missing(key);
      return false;
    }
    double v = 0;
    if (n->is_integer())
      v = static_cast<double>(n->as_integer()->get());
    else if (n->is_floating_point())
      v = n->as_floating_point()->get();
    else {
      bad(*n, key, "must be a number");
      return false;
    }
    if (!(v >= min && v <= max)) {
      std::ostringstream os;
      os << "must be between " << min << " and " << max;
      bad(*n, key, os.str());
      return false;
    }
    out = v;
    return true;
  }
  bool duration(std::string_view key, Duration& out, bool allow_zero = false) {
    auto* n = get(key);
    if (!n) return false;
    auto d = n->is_string() ? parse_duration(n->as_string()->get()) : std::nullopt;
    if (!d && n->is_string() && duration_out_of_range(n->as_string()->get())) {
      bad(*n, key, "must be at most " + std::string(kMaxDurationText));
      return false;
    }
    if (!d) {
      bad(*n, key, "must be a duration string with a unit, like \"250ms\", \"2s\", \"5m\", \"24h\"");
      return false;
    }
    if (!allow_zero && d->count() <= 0) {
      bad(*n, key, "must be greater than zero");
      return false;
    }
    out = *d;
    return true;
  }
  bool size(std::string_view key, std::uint64_t& out) {
    auto* n = get(key);
    if (!n) return false;
    auto s = n->is_string() ? parse_size(n->as_string()->get()) : std::nullopt;
    if (!s && n->is_string() && size_out_of_range(n->as_string()->get())) {
      bad(*n, key, "must be at most " + std::string(kMaxSizeText));
      return false;
    }
    if (!s) {
      bad(*n, key, "must be a size string with a unit, like \"64KiB\" or \"1MiB\"");
      return false;
    }
    out = *s;
    return true;
  }
  // Array of strings; each element's node is passed to `each` for validation.
  template <class F>
  bool list(std::string_view key, F&& each, bool non_empty = false) {
    auto* n = get(key);
    if (!n) return false;
    if (!n->is_array()) {
      bad(*n, key, "must be an array");
      return false;
    }
    if (non_empty && n->as_array()->empty()) {
      bad(*n, key, "must not be empty");
      return false;
    }
    for (auto& el : *n->as_array()) each(el);
    return true;
  }
  bool mode(Mode& out) {
    std::string m;
    if (!str("mode", m)) return false;
    if (m == "enforce")
      out = Mode::enforce;
    else if (m == "shadow")
      out = Mode::shadow;
    else {
      bad(*t_.get("mode"), "mode", "must be \"enforce\" or \"shadow\"");
      return false;
    }
    return true;
  }
  const toml::table* table(std::string_view key) {
    auto* n = get(key);
    if (!n) return nullptr;
    if (!n->is_table()) {
      bad(*n, key, "must be a table");
      return nullptr;
    }
    return n->as_table();
  }
  [[nodiscard]] const toml::table& raw() const { return t_; }
  Errors& errors() { return e_; }

 private:
  const toml::table& t_;
  Errors& e_;
  std::string where_;
  std::set<std::string> known_;
};

std::optional<HostPort> bind_address(Reader& r, std::string_view key, const toml::node& n,
                                     const std::string& value) {
  auto hp = parse_host_port(value);
  if (hp && hp->host == "localhost") hp->host = "127.0.0.1";
  bool ip = hp && std::all_of(hp->host.begin(), hp->host.end(), [](char c) {
              return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':' ||
                     (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
            });
  if (!ip) {
    r.bad(n, key, "must be an IP address and port, like \"127.0.0.1:9901\"");
    return std::nullopt;
  }
  return hp;
}

void load_server(const toml::table& t, Errors& e, ServerConfig& s) {
  Reader r(t, e, "[server]");
  r.integer("workers", s.workers, 0, 1024);
  std::string admin;
  if (r.str("admin", admin))
    if (auto hp = bind_address(r, "admin", *t.get("admin"), admin)) s.admin = *hp;
  r.duration("drain_timeout", s.drain_timeout, true);
  if (r.str("access_log", s.access_log) && s.access_log.empty())
    r.bad(*t.get("access_log"), "access_log", "must be \"stderr\", \"off\" or a file path");
}

void load_store(const toml::table& t, Errors& e, StoreConfig& s) {
  Reader r(t, e, "[store]");
  using B = StoreConfig::Backend;
  std::string v;
  if (r.str("backend", v)) {
    if (v == "memory")
      s.backend = B::memory;
    else if (v == "redis")
      s.backend = B::redis;
    else if (v == "redis-cluster")
      s.backend = B::redis_cluster;
    else if (v == "redis-sentinel")
      s.backend = B::redis_sentinel;
    else
      r.bad(*t.get("backend"), "backend", "must be \"memory\", \"redis\", \"redis-cluster\" or \"redis-sentinel\"");
  }
  if (r.str("url", s.url)) {
    auto hosts = parse_redis_hosts(s.url);
    if (!hosts)
      r.bad(*t.get("url"), "url",
            s.backend == B::redis || s.backend == B::memory
                ? "must be redis://[user:password@]host:port[/db] or rediss://..."
                : "must be redis://[user:password@]host1:port1,host2:port2[/db] or rediss://...");
    else if (hosts->size() > 1 && (s.backend == B::redis || s.backend == B::memory))
      r.bad(*t.get("url"), "url",
            "lists several hosts, which only backend = \"redis-cluster\" or \"redis-sentinel\" can use");
    else if (s.backend == B::redis_cluster && hosts->front().db != 0)
      r.bad(*t.get("url"), "url", "names database " + std::to_string(hosts->front().db) +
                                      ", but Redis Cluster has only database 0");
  }
  if (r.str("sentinel_master", s.sentinel_master) && s.sentinel_master.empty())
    r.bad(*t.get("sentinel_master"), "sentinel_master", "must not be empty");
  r.duration("timeout", s.timeout);
  if (r.size("memory_max", s.memory_max) && s.memory_max == 0)
    r.bad(*t.get("memory_max"), "memory_max", "must be greater than zero");
  if (r.str("on_error", v)) {
    if (v == "allow")
      s.on_error = StoreConfig::OnError::allow;
    else if (v == "deny")
      s.on_error = StoreConfig::OnError::deny;
    else if (v == "local")
      s.on_error = StoreConfig::OnError::local;
    else
      r.bad(*t.get("on_error"), "on_error", "must be \"allow\", \"deny\" or \"local\"");
  }
}

bool file_exists(const std::string& base_dir, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

void load_listener(const toml::table& t, Errors& e, ListenerConfig& l) {
  Reader r(t, e, "[[listener]]");
  r.str("name", l.name, true);
  std::string bind;
  if (r.str("bind", bind, true))
    if (auto hp = bind_address(r, "bind", *t.get("bind"), bind)) l.bind = *hp;
  r.integer("max_connections", l.max_connections, 1, 10'000'000);
  r.duration("header_timeout", l.header_timeout);
  r.duration("idle_timeout", l.idle_timeout);
  r.size("max_body", l.max_body);
  r.boolean("http2", l.http2);
  r.integer("max_concurrent_streams", l.max_concurrent_streams, 1, 10'000);
  bool cert = r.str("tls_cert", l.tls_cert);
  bool key = r.str("tls_key", l.tls_key);
  if (cert != key) r.missing(cert ? "tls_key" : "tls_cert");
}

void load_upstream(const toml::table& t, Errors& e, UpstreamConfig& u) {
  Reader r(t, e, "[upstream." + u.name + "]");
  if (!r.list("endpoints",
              [&](const toml::node& n) {
                auto hp = n.is_string() ? parse_host_port(n.as_string()->get()) : std::nullopt;
                if (!hp)
                  r.bad(n, "endpoints", "entries must be \"host:port\" strings");
                else
                  u.endpoints.push_back(*hp);
              },
              true) &&
      !t.get("endpoints"))
    r.missing("endpoints");
  r.duration("connect_timeout", u.connect_timeout);
  r.integer("max_connections", u.max_connections, 1, 10'000'000);
  r.duration("idle_timeout", u.idle_timeout);
  r.boolean("tls", u.tls);
  r.str("sni", u.sni);
  r.str("ca_file", u.ca_file);
  r.boolean("verify", u.verify);
  std::string protocol;
  if (r.str("protocol", protocol)) {
    if (protocol == "http1")
      u.protocol = UpstreamProtocol::http1;
    else if (protocol == "http2")
      u.protocol = UpstreamProtocol::http2;
    else
      r.bad(*t.get("protocol"), "protocol", "must be \"http1\" or \"http2\"");
  }
}

std::vector<std::string> method_list(Reader& r, std::string_view key, std::vector<std::string>& out) {
  out.clear();
  r.list(
      key,
      [&](const toml::node& n) {
        if (!n.is_string() || !is_token(n.as_string()->get()))
          r.bad(n, key, "entries must be HTTP method names like \"POST\"");
        else
          out.push_back(n.as_string()->get());
      },
      true);
  return out;
}

void load_match(const toml::table& t, Errors& e, RouteMatch& m) {
  Reader r(t, e, "match");
  if (r.str("host", m.host)) {
    m.host = lower(m.host);
    if (auto colon = m.host.rfind(':'); colon != std::string::npos && m.host.find(']') == std::string::npos &&
                                        m.host.find(':') == colon)
      m.host.resize(colon);  // the port is ignored
    if (m.host.empty()) r.bad(*t.get("host"), "host", "must not be empty");
  }
  if (r.str("path_prefix", m.path_prefix) && (m.path_prefix.empty() || m.path_prefix[0] != '/'))
    r.bad(*t.get("path_prefix"), "path_prefix", "must start with '/'");
  if (r.str("path", m.path) && (m.path.empty() || m.path[0] != '/'))
    r.bad(*t.get("path"), "path", "must start with '/'");
  if (!m.path.empty() && !m.path_prefix.empty())
    r.bad(*t.get("path"), "path", "cannot be combined with 'path_prefix'");
  method_list(r, "methods", m.methods);
  if (auto* h = r.table("headers")) {
    for (auto&& [k, v] : *h) {
      if (!is_token(k.str()))
        e.at(k.source(), "header name '" + std::string(k.str()) + "' is not a valid token");
      else if (!v.is_string())
        e.at(v.source(), "header '" + std::string(k.str()) + "' must be matched against a string");
      else
        m.headers.emplace_back(lower(k.str()), v.as_string()->get());
    }
  }
}

std::optional<std::string> header_ref(std::string_view v) {
  if (v.rfind("header:", 0) != 0 || !is_token(v.substr(7))) return std::nullopt;
  return lower(v.substr(7));
}

// The limiter (memory and Redis alike) counts whole microseconds: one request's
// interval (per / rate) and the whole bucket (burst * interval). Each must be at
// least 1µs and at most kMaxGcraUs, so none rounds to 0 (no limit at all) or
// overflows (every request refused while the headers promise room); Redis
// scripts compute in doubles, exact while the time now plus these stays < 2^53µs.
constexpr double kMaxGcraUs = 1e15;  // about 31.7 years

std::string g(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

void check_gcra(Reader& r, const toml::table& t, const policy::RateLimitSettings& s) {
  auto* rate = t.get("rate");
  auto p = policy::gcra_params(s);
  if (s.per < std::chrono::microseconds(1)) {
    if (auto* per = t.get("per")) r.bad(*per, "per", "must be at least 1us: the rate limiter counts whole microseconds");
  } else if (p.interval_us < 1) {
    r.bad(*rate, "rate",
          "is more than one request per microsecond of 'per' (one every " + g(p.interval_us) +
              "us); the rate limiter counts whole microseconds: lower 'rate' or lengthen 'per'");
  } else if (p.interval_us > kMaxGcraUs) {
    r.bad(*rate, "rate",
          "is too low for 'per': one request every " + g(p.interval_us) +
              "us is beyond the rate limiter's range (1e+15us, about 31 years)");
  } else if (!s.burst && s.rate < 1) {
    r.bad(*rate, "rate",
          "below 1 needs a 'burst' of at least 1: burst defaults to rate, and a bucket smaller than one "
          "request admits nothing");
  } else if (p.burst * p.interval_us > kMaxGcraUs) {
    auto* at = s.burst ? t.get("burst") : rate;
    r.bad(*at, s.burst ? "burst" : "rate",
          "makes the bucket (burst * per / rate) " + g(p.burst * p.interval_us) +
              "us long, beyond the rate limiter's range (1e+15us, about 31 years)");
  }
}

void load_rate_limit(const toml::table& t, Errors& e, policy::RateLimitSettings& s) {
  Reader r(t, e, "[route.rate_limit]");
  bool rate_ok = r.number("rate", s.rate, 1e-9, 1e12, true);
  bool per_ok = r.duration("per", s.per) || !t.get("per");
  double burst = 0;
  bool burst_ok = r.number("burst", burst, 1, 1e12) || !t.get("burst");
  if (t.get("burst") && burst_ok) s.burst = burst;
  if (rate_ok && per_ok && burst_ok) check_gcra(r, t, s);
  double local_rate = 0;
  if (r.number("local_rate", local_rate, 1e-9, 1e12)) {
    s.local_rate = local_rate;
    auto l = policy::local_settings(s);
    auto p = policy::gcra_params(l);
    if (rate_ok && per_ok && burst_ok && (p.interval_us < 1 || p.interval_us > kMaxGcraUs ||
                                          p.burst * p.interval_us > kMaxGcraUs))
      r.bad(*t.get("local_rate"), "local_rate",
            "is out of the rate limiter's range for 'per' (one request every " + g(p.interval_us) +
                "us; it must be 1us to 1e+15us, the bucket at most 1e+15us)");
  }
  if (t.get("key")) s.key.clear();
  r.list(
      "key",
      [&](const toml::node& n) {
        std::string v = n.is_string() ? std::string(n.as_string()->get()) : "";
        policy::DescriptorPart p;
        if (v == "client_ip")
          p.kind = policy::DescriptorPart::Kind::client_ip;
        else if (v == "route")
          p.kind = policy::DescriptorPart::Kind::route;
        else if (auto h = header_ref(v)) {
          p.kind = policy::DescriptorPart::Kind::header;
          p.header = *h;
        } else {
          r.bad(n, "key", "entries must be \"client_ip\", \"route\" or \"header:NAME\"");
          return;
        }
        s.key.push_back(p);
      },
      true);
  r.mode(s.mode);
}

void load_idempotency(const toml::table& t, Errors& e, policy::IdempotencySettings& s) {
  Reader r(t, e, "[route.idempotency]");
  if (r.str("header", s.header)) {
    if (!is_token(s.header)) r.bad(*t.get("header"), "header", "must be a header name");
    s.header = lower(s.header);
  }
  if (t.get("methods")) method_list(r, "methods", s.methods);
  r.duration("ttl", s.ttl);
  r.boolean("required", s.required);
  std::string scope;
  if (r.str("scope", scope) && !scope.empty()) {
    if (auto h = header_ref(scope))
      s.scope_header = *h;
    else
      r.bad(*t.get("scope"), "scope", "must be \"\" or \"header:NAME\"");
  }
  Duration lock{};
  if (r.duration("lock_timeout", lock)) s.lock_timeout = lock;
  r.size("max_response", s.max_response);
  r.mode(s.mode);
}

void load_bulkhead(const toml::table& t, Errors& e, policy::BulkheadSettings& s) {
  Reader r(t, e, "[route.bulkhead]");
  r.integer("max_concurrent", s.max_concurrent, 1, 10'000'000);
  r.integer("max_queue", s.max_queue, 0, 10'000'000);
  r.duration("queue_timeout", s.queue_timeout, true);
  r.mode(s.mode);
}

void load_retry(const toml::table& t, Errors& e, policy::RetrySettings& s) {
  Reader r(t, e, "[route.retry]");
  r.integer("max_attempts", s.max_attempts, 1, 100);
  Duration per_try{};
  if (r.duration("per_try_timeout", per_try)) s.per_try_timeout = per_try;
  r.duration("backoff_base", s.backoff_base, true);
  if (r.duration("backoff_max", s.backoff_max, true) && s.backoff_max < s.backoff_base)
    r.bad(*t.get("backoff_max"), "backoff_max", "must not be less than backoff_base");
  if (t.get("retry_on")) s.retry_on = {};
  r.list("retry_on", [&](const toml::node& n) {
    std::string v;
    if (n.is_string())
      v = n.as_string()->get();
    else if (n.is_integer())
      v = std::to_string(n.as_integer()->get());
    if (v == "connect-failure")
      s.retry_on.connect_failure = true;
    else if (v == "reset")
      s.retry_on.reset = true;
    else if (v == "timeout")
      s.retry_on.timeout = true;
    else if (v == "5xx")
      s.retry_on.any_5xx = true;
    else if (v.size() == 3 && std::all_of(v.begin(), v.end(), ::isdigit) && v[0] >= '1' && v[0] <= '5')
      s.retry_on.statuses.push_back(std::stoi(v));
    else if (auto code = http::grpc::status_from_name(v))
      s.retry_on.grpc_statuses |= policy::grpc_bit(*code);
    else
      r.bad(n, "retry_on",
            "entries must be \"connect-failure\", \"reset\", \"timeout\", \"5xx\", a status code or a gRPC "
            "status name (\"unavailable\", \"resource-exhausted\", ...)");
  });
  r.number("budget_ratio", s.budget_ratio, 0, 1000);
  r.number("budget_min_rps", s.budget_min_rps, 0, 1e9);
  r.mode(s.mode);
}

void load_breaker(const toml::table& t, Errors& e, policy::CircuitBreakerSettings& s) {
  Reader r(t, e, "[route.circuit_breaker]");
  std::string w;
  if (r.str("window", w)) {
    if (w == "count")
      s.window = policy::WindowKind::count;
    else if (w == "time")
      s.window = policy::WindowKind::time;
    else
      r.bad(*t.get("window"), "window", "must be \"count\" or \"time\"");
  }
  r.integer("window_size", s.window_size, 1, 100'000);
  r.integer("minimum_calls", s.minimum_calls, 1, 10'000'000);
  r.number("failure_rate_threshold", s.failure_rate_threshold, 1e-9, 100);
  r.duration("slow_call_duration", s.slow_call_duration);
  r.number("slow_call_rate_threshold", s.slow_call_rate_threshold, 1e-9, 100);
  r.duration("open_duration", s.open_duration);
  if (r.duration("open_duration_max", s.open_duration_max) && s.open_duration_max < s.open_duration)
    r.bad(*t.get("open_duration_max"), "open_duration_max", "must not be less than open_duration");
  r.integer("half_open_calls", s.half_open_calls, 1, 10'000);
  if (t.get("failure_statuses")) s.failure_statuses.clear();
  r.list("failure_statuses", [&](const toml::node& n) {
    if (!n.is_integer() || n.as_integer()->get() < 100 || n.as_integer()->get() > 599)
      r.bad(n, "failure_statuses", "entries must be status codes between 100 and 599");
    else
      s.failure_statuses.push_back(static_cast<int>(n.as_integer()->get()));
  });
  if (t.get("failure_grpc_statuses")) s.failure_grpc_statuses = 0;
  r.list("failure_grpc_statuses", [&](const toml::node& n) {
    auto code = n.is_string() ? http::grpc::status_from_name(n.as_string()->get()) : std::nullopt;
    if (!code)
      r.bad(n, "failure_grpc_statuses", "entries must be gRPC status names (\"unavailable\", \"internal\", ...)");
    else
      s.failure_grpc_statuses |= policy::grpc_bit(*code);
  });
  r.mode(s.mode);
}

void load_route(const toml::table& t, Errors& e, Config& c, RouteConfig& rt,
                std::set<std::string>& names) {
  Reader r(t, e, "[[route]]");
  if (r.str("name", rt.name, true)) {
    if (rt.name.empty())
      r.bad(*t.get("name"), "name", "must not be empty");
    else if (!names.insert(rt.name).second)
      r.bad(*t.get("name"), "name", "'" + rt.name + "' is used by another route");
  }
  if (r.str("listener", rt.listener, true) && !c.find_listener(rt.listener))
    r.bad(*t.get("listener"), "listener", "names no [[listener]] '" + rt.listener + "'");
  if (r.str("upstream", rt.upstream, true) && !c.find_upstream(rt.upstream))
    r.bad(*t.get("upstream"), "upstream", "names no [upstream." + rt.upstream + "]");
  if (auto* m = r.table("match")) load_match(*m, e, rt.match);
  r.duration("timeout", rt.timeout);
  r.boolean("enabled", rt.enabled);
  r.str("host_rewrite", rt.host_rewrite);
  if (auto* p = r.table("rate_limit")) load_rate_limit(*p, e, rt.rate_limit.emplace());
  if (auto* p = r.table("idempotency")) load_idempotency(*p, e, rt.idempotency.emplace());
  if (auto* p = r.table("bulkhead")) load_bulkhead(*p, e, rt.bulkhead.emplace());
  if (auto* p = r.table("retry")) load_retry(*p, e, rt.retry.emplace());
  if (auto* p = r.table("circuit_breaker")) load_breaker(*p, e, rt.circuit_breaker.emplace());
}

// Each entry of an array of tables, or an error when it is something else.
template <class F>
void each_table(Reader& r, std::string_view key, F&& f) {
  auto* n = r.get(key);
  if (!n) return;
  if (!n->is_array_of_tables()) {
    r.bad(*n, key, "must be an array of tables: write [[" + std::string(key) + "]]");
    return;
  }
  for (auto& el : *n->as_array()) f(*el.as_table());
}

void check_files(const toml::table& root, Errors& e, const Config& c, const std::string& dir) {
  auto check = [&](const toml::node* n, const std::string& path, const char* key) {
    if (!path.empty() && !file_exists(dir, path) && n)
      e.at(n->source(), std::string("'") + key + "' names a file that does not exist: " + path);
  };
  if (auto* ls = root.get("listener"); ls && ls->is_array_of_tables()) {
    auto& arr = *ls->as_array();
    for (std::size_t i = 0; i < arr.size() && i < c.listeners.size(); ++i) {
      auto& t = *arr[i].as_table();
      check(t.get("tls_cert"), c.listeners[i].tls_cert, "tls_cert");
      check(t.get("tls_key"), c.listeners[i].tls_key, "tls_key");
    }
  }
  if (auto* us = root.get("upstream"); us && us->is_table()) {
    for (auto& u : c.upstreams)
      if (auto* t = us->as_table()->get(u.name); t && t->is_table())
        check(t->as_table()->get("ca_file"), u.ca_file, "ca_file");
  }
}

}  // namespace

LoadResult load_string(std::string_view text, const std::string& display_name) {
  LoadResult res;
  Errors e(display_name, res.errors);
  toml::table root;
  try {
    root = toml::parse(text, display_name);
  } catch (const toml::parse_error& err) {
    e.at(err.source(), std::string(err.description()));
    return res;
  }
  Config& c = res.config;
  {
    Reader r(root, e, "the top level");
    if (auto* s = r.table("server")) load_server(*s, e, c.server);
    if (auto* s = r.table("store")) load_store(*s, e, c.store);

    std::set<std::string> names, binds;
    each_table(r, "listener", [&](const toml::table& t) {
      ListenerConfig l;
      load_listener(t, e, l);
      if (!l.name.empty() && !names.insert(l.name).second)
        e.at(t.get("name")->source(), "'name' '" + l.name + "' is used by another listener");
      if (l.bind.port != 0 && !binds.insert(l.bind.str()).second)
        e.at(t.get("bind")->source(), "'bind' " + l.bind.str() + " is used by another listener");
      c.listeners.push_back(std::move(l));
    });
    if (c.listeners.empty()) e.at(root.source(), "at least one [[listener]] is required");

    if (auto* u = r.table("upstream")) {
      for (auto&& [k, v] : *u) {
        if (!v.is_table()) {
          e.at(v.source(), "upstream '" + std::string(k.str()) + "' must be a table");
          continue;
        }
        UpstreamConfig uc;
        uc.name = std::string(k.str());
        load_upstream(*v.as_table(), e, uc);
        c.upstreams.push_back(std::move(uc));
      }
    }
    std::set<std::string> route_names;
    each_table(r, "route", [&](const toml::table& t) {
      RouteConfig rt;
      load_route(t, e, c, rt, route_names);
      c.routes.push_back(std::move(rt));
    });
  }
  auto dir = std::filesystem::path(display_name).parent_path().string();
  check_files(root, e, c, dir);
  std::stable_sort(res.errors.begin(), res.errors.end(), [](const std::string& a, const std::string& b) {
    auto pos = [](const std::string& s) {
      // FILE:LINE:COL: -> (LINE, COL), read from the right of the file name
      auto msg = s.find(": ");
      auto c2 = s.rfind(':', msg - 1);
      auto c1 = s.rfind(':', c2 - 1);
      return std::pair{std::stoul(s.substr(c1 + 1, c2 - c1 - 1)), std::stoul(s.substr(c2 + 1, msg - c2 - 1))};
    };
    return pos(a) < pos(b);
  });
  return res;
}

LoadResult load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult res;
    res.errors.push_back(path + ":1:1: cannot read the file");
    return res;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path);
}

}  // namespace breakwater::config

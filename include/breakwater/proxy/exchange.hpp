#pragma once
// One request on its way through the pipeline: everything it needs while it
// runs lives here, never in its connection, so two requests of one connection
// could run at once (HTTP/2 streams will).
#include <optional>
#include <string>

#include "breakwater/http/fields.hpp"
#include "breakwater/http/forward.hpp"
#include "breakwater/http/message.hpp"
#include "breakwater/policy/idempotency.hpp"
#include "breakwater/proxy/reason.hpp"
#include "breakwater/proxy/route_policies.hpp"
#include "breakwater/proxy/snapshot.hpp"

namespace breakwater::proxy {

using policy::TimePoint;

struct Exchange {
  std::shared_ptr<const Snapshot> snap;
  const config::ListenerConfig* listener = nullptr;
  const RouteRuntime* route = nullptr;
  std::string raw_head;
  http::RequestHead head;
  http::Target target;
  std::string request_id;
  bool request_id_generated = false;
  enum class BodyMode { none, buffered, streaming } body_mode = BodyMode::none;
  std::string body;                    // when buffered
  std::uint64_t stream_remaining = 0;  // when streaming: bytes still to read from the client
  bool body_consumed = true;           // false while request body bytes remain unread
  TimePoint start{};
  // For the access log and metrics.
  int status = 0;
  std::optional<Reason> reason;
  std::string upstream_address;
  unsigned attempts = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  int grpc_status = -1;  // a gRPC call's status (SPEC §9), -1 when not a gRPC call or unknown yet
  bool grpc = false;     // the request is a gRPC call (its content-type)
  TimePoint deadline{};  // the route timeout, lowered by grpc-timeout
  std::string grpc_timeout;  // the grpc-timeout sent with the current attempt (the time left)
  // A gRPC call relayed before its status was known: the breaker records it at the
  // trailers (SPEC §9); cancelled if the response never ends.
  std::optional<BreakerCall> held_call;
  policy::Duration held_took{};  // to the response headers (what "slow" measures)
  http::Fields extra_headers;  // added to the response sent to the client
  // Scratch of this request, reused by the next one on the same connection.
  std::string descriptor;  // rate-limit descriptor
  std::string up_head;     // the head sent upstream
  std::optional<BulkheadPermit> place;  // held from the bulkhead stage to the end of the response

  // Idempotency-Key state while this request holds the key's lock.
  struct Idempotency {
    bool locked = false;   // we own the in-flight lock
    bool settled = false;  // completed or released
    bool local = false;    // locked in this instance's memory (on_error = "local"), not in the store
    std::string key, token, fingerprint;
    policy::Duration ttl{};
    std::uint64_t max_response = 0;
    // The lock is ours and neither completed nor released yet.
    [[nodiscard]] bool unsettled() const { return locked && !settled; }
  } idem;

  void reset();
};

// What a stage of the pipeline decided (SPEC §3).
struct Verdict {
  // abandon: the client went away, nothing is answered and the connection ends.
  enum class Kind : std::uint8_t { proceed, local_reply, replay, abandon } kind = Kind::proceed;
  Reason reason{};
  std::string_view detail;  // a literal
  int retry_after = 0;      // seconds; 0: no Retry-After
  std::optional<policy::StoredResponse> stored;  // replay

  static Verdict proceed() { return {}; }
  static Verdict local(Reason r, std::string_view detail, int retry_after = 0) {
    Verdict v;
    v.kind = Kind::local_reply;
    v.reason = r;
    v.detail = detail;
    v.retry_after = retry_after;
    return v;
  }
  static Verdict replay(policy::StoredResponse s) {
    Verdict v;
    v.kind = Kind::replay;
    v.stored = std::move(s);
    return v;
  }
  static Verdict abandon() {
    Verdict v;
    v.kind = Kind::abandon;
    return v;
  }
  [[nodiscard]] bool proceeds() const { return kind == Kind::proceed; }
};

}  // namespace breakwater::proxy

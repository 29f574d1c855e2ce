#pragma once
// The request path of SPEC §3 as stages over one Exchange, whatever protocol
// the client speaks: kill switch, rate limit, idempotency lookup, bulkhead
// (admit), then the attempt loop, then storing or releasing the idempotency key.
// Each stage answers with a Verdict; the codec renders local replies and replays.
#include <random>

#include "breakwater/policy/fast_rng.hpp"
#include <string_view>

#include "breakwater/io/asio.hpp"
#include "breakwater/upstream/pool.hpp"
#include "breakwater/proxy/exchange.hpp"

namespace breakwater::server {
class Server;
struct Worker;
}  // namespace breakwater::server

namespace breakwater::proxy {

using server::Server;
using server::Worker;

// What the pipeline needs from the client side of a request: the codec's half.
class ClientSide {
 public:
  virtual ~ClientSide() = default;
  // Reads (or starts reading) the request body: buffered up to 64 KiB, else streaming.
  // False when the client went away or was answered (413, 400) already.
  virtual awaitable<bool> read_body(Exchange& ex) = 0;
  // Reads the rest of a streamed request body into Exchange::body (for a fingerprint).
  virtual awaitable<bool> read_rest_of_body(Exchange& ex) = 0;
  // Copies the rest of a streamed request body to the upstream; false with
  // `client_failed` when the client went away, without it when the upstream failed.
  virtual awaitable<bool> pump_body(Exchange& ex, upstream::UpstreamStream& s, bool& client_failed) = 0;
  // Renders a local reply (SPEC §4), a replay, or relays an upstream response. Return keep-alive.
  virtual awaitable<bool> respond(Exchange& ex, Reason r, std::string_view detail, int retry_after = 0) = 0;
  virtual awaitable<bool> replay(Exchange& ex, const policy::StoredResponse& r) = 0;
  virtual awaitable<bool> relay(Exchange& ex, upstream::UpstreamStream& s, TimePoint deadline) = 0;
  [[nodiscard]] virtual std::string_view client_ip() const = 0;
  [[nodiscard]] virtual std::string_view client_addr() const = 0;  // ip:port, for the access log
  [[nodiscard]] virtual std::string_view listener_name() const = 0;
  [[nodiscard]] virtual std::string_view protocol(const Exchange& ex) const = 0;  // "HTTP/1.1", "HTTP/2"
  [[nodiscard]] virtual bool is_tls() const = 0;
};

// The problem+json body of a local reply (SPEC §4).
std::string problem_json(int status, Reason r, std::string_view detail, const std::string* route);

// The fields of a local reply to a gRPC call: HTTP 200, Trailers-Only (SPEC §9).
// Sets ex.grpc_status. Names are lower case; RateLimit and shadow fields included.
void grpc_reply_fields(Exchange& ex, Reason r, std::string_view detail, int retry_after, http::Fields& out);
// The gRPC status a client reads from an HTTP status other than 200 (gRPC's HTTP mapping).
int grpc_status_from_http(int status);

// A response read whole for idempotency storage, as far as it went (SPEC §3 step 8).
struct Capture {
  std::string body;           // read so far
  bool all = false;           // the whole body was read (stored when storable)
  upstream::UpstreamStream::Step step = upstream::UpstreamStream::Step::end;
  std::string_view piece;     // step == piece: the piece that did not fit (not in `body`)
};

// A UUIDv4, written into `id` (whose buffer is reused request after request).
void make_request_id(policy::FastRng& rng, std::string& id);

// Admission so far: the verdict, or the stage that must wait (with what it waits on).
struct Admission {
  Verdict verdict;
  enum class Wait : std::uint8_t { none, rate_limit, idempotency, bulkhead } wait = Wait::none;
  awaitable<store::Result<policy::GcraOutcome>> rate;  // Wait::rate_limit
  SharedBulkhead::Entry queued;                         // Wait::bulkhead
  [[nodiscard]] bool waits() const { return wait != Wait::none; }
};

class Pipeline final {
 public:
  Pipeline(Server& server, Worker& worker, ClientSide& client) : server_(server), worker_(worker), client_(client) {}

  // One parsed request, whatever the protocol: id, target, body, route, then the
  // stages; answered through the ClientSide. Returns keep-alive.
  awaitable<bool> handle(Exchange& ex);
  // Counts the response in the metrics as its head goes out.
  void account(Exchange& ex, int status);
  // Duration and access log once the response is written.
  void finish(Exchange& ex);

  // Stages 2-5: kill switch, rate limit, idempotency lookup, bulkhead. admit_now()
  // runs them as far as they go without suspending; when it stops at a stage that
  // must wait (Admission::waits()), admit_rest() finishes the admission.
  Admission admit_now(Exchange& ex);
  awaitable<void> admit_rest(Exchange& ex, Admission& a);  // leaves the verdict in `a`
  // Stages 6-7: the attempt loop under the breaker, retries and the budget, then the
  // answer: the last response relayed, or a local reply. Returns keep-alive.
  awaitable<bool> forward(Exchange& ex);
  // Stage 8: reads a storable response whole (up to max_response) and stores it before
  // the client sees it. False when the upstream failed meanwhile: the client was answered.
  awaitable<bool> capture(Exchange& ex, upstream::UpstreamStream& s, Capture& c);
  // A gRPC call's end: its status from the trailers (or a Trailers-Only head), a
  // breaker record held since the headers, the attempt counted (SPEC §9).
  void settle_grpc(Exchange& ex, const http::ResponseHead& head, const http::Fields& trailers);
  // Stage 8: a storable response, read whole, is kept before the client sees it.
  awaitable<void> store_response(Exchange& ex, const http::ResponseHead& resp, std::string_view body,
                                 const http::Fields* trailers = nullptr);
  // Stage 8, otherwise: the key is freed so a retry can run again.
  awaitable<void> release(Exchange& ex);
  awaitable<bool> answer(Exchange& ex, const Verdict& v);
  // A policy said no: in shadow mode it is counted and marked and the request goes on.
  Verdict reject(Exchange& ex, policy::Mode mode, Reason r, std::string_view detail, int retry_after = 0);

 private:
  Verdict kill_switch(Exchange& ex);
  void after_rate_limit(Exchange& ex, Admission& a);
  void after_idempotency(Exchange& ex, Admission& a);
  std::optional<Verdict> idempotency_at_once(Exchange& ex);
  store::Answer<policy::GcraOutcome> rate_limit(Exchange& ex);
  Verdict rate_decision(Exchange& ex, const store::Result<policy::GcraOutcome>& o);
  awaitable<Verdict> idempotency(Exchange& ex);
  struct Attempt;
  awaitable<void> attempt(Exchange& ex, TimePoint deadline, Attempt& out);
  awaitable<bool> peek_grpc(Exchange& ex, upstream::UpstreamStream& s, Attempt& out);

  Server& server_;
  Worker& worker_;
  ClientSide& client_;
};

}  // namespace breakwater::proxy

// The request path of SPEC §3, stage by stage. Protocol-neutral: bytes to and
// from the client are the codec's (ClientSide), bytes to and from the upstream
// the pool's (UpstreamStream).
#include "breakwater/proxy/pipeline.hpp"

#include <algorithm>
#include <cstring>
#include <cinttypes>
#include <cstdio>

#include "breakwater/http/grpc.hpp"
#include "breakwater/http/text.hpp"
#include "breakwater/proxy/answer_series.hpp"
#include "breakwater/log.hpp"
#include "breakwater/policy/idempotency.hpp"
#include "breakwater/policy/rate_limit.hpp"
#include "breakwater/policy/retry.hpp"
#include "breakwater/server/server.hpp"
#include "breakwater/store/hash.hpp"
#include "breakwater/store/keys.hpp"
#include "breakwater/store/memory_table.hpp"

namespace breakwater::proxy {
namespace {

// Retries resend bodies up to this size (SPEC §3 step 6).
constexpr std::size_t kReplayableBody = 64 * 1024;

bool is_failure(const RouteRuntime& rt, const policy::AttemptOutcome& o) {
  if (rt.breaker) return rt.breaker->is_failure(o);
  return policy::is_failed_attempt(policy::kDefaultFailureStatuses, policy::kDefaultFailureGrpcStatuses, o);
}

int ceil_seconds(policy::Duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::max<long long>(1, (ms + 999) / 1000));
}

policy::OutcomeLabel label(const RouteRuntime& rt, const policy::AttemptOutcome& o) {
  switch (o.kind) {
    case policy::AttemptKind::response:
      return is_failure(rt, o) ? policy::OutcomeLabel::failure : policy::OutcomeLabel::success;
    case policy::AttemptKind::connect_failure: return policy::OutcomeLabel::connect_failure;
    case policy::AttemptKind::reset: return policy::OutcomeLabel::reset;
    case policy::AttemptKind::timeout: return policy::OutcomeLabel::timeout;
  }
  return policy::OutcomeLabel::reset;
}

std::string random_token(policy::FastRng& rng) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string t(32, '0');
  std::uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    t[static_cast<std::size_t>(i)] = hex[(a >> (4 * i)) & 15];
    t[static_cast<std::size_t>(16 + i)] = hex[(b >> (4 * i)) & 15];
  }
  return t;
}

// How a gRPC call ended, from its trailers or a Trailers-Only head (SPEC §9).
struct GrpcEnd {
  int status = -1;
  std::optional<policy::Duration> pushback;
  bool pushback_refused = false;
  void read(std::string_view name, std::string_view value) {
    if (http::iequals(name, "grpc-status")) {
      if (auto s = http::grpc::parse_status(value)) status = *s;
    } else if (http::iequals(name, "grpc-retry-pushback-ms")) {
      if (auto p = http::grpc::parse_pushback(value))
        pushback = std::chrono::duration_cast<policy::Duration>(*p);
      else
        pushback_refused = true;  // negative or malformed: the server says do not retry
    }
  }
  void read(const http::ResponseHead& head) {
    for (auto& h : head.headers) read(h.name, h.value);
  }
  void read(const http::Fields& trailers) {
    for (auto [n, v] : trailers) read(n, v);
  }
};

// How a gRPC response that ended came out: its trailers over a Trailers-Only head,
// `unknown` for a 200 that carried no status (SPEC §9).
GrpcEnd grpc_end(const http::ResponseHead& head, const http::Fields& trailers) {
  GrpcEnd g;
  g.read(head);
  g.read(trailers);
  if (head.status == 200 && g.status < 0) g.status = http::grpc::unknown;
  return g;
}

void count(const Exchange& ex, IdempotencyOutcome o) {
  ex.route->metrics->idempotency[static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed);
}

void count(const Exchange& ex, FallbackPolicy p) {
  ex.route->metrics->fallback[static_cast<std::size_t>(p)].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void make_request_id(policy::FastRng& rng, std::string& id) {
  static constexpr char hex[] = "0123456789abcdef";
  // 16 random bytes in the 8-4-4-4-12 layout (RFC 9562): version 4 in byte 6, variant 10 in byte 8.
  std::uint64_t words[2] = {rng(), rng()};
  unsigned char bytes[16];
  std::memcpy(bytes, words, sizeof bytes);
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);
  static constexpr std::uint8_t at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
  char out[36];
  for (int i = 0; i < 16; ++i) {
    out[at[i]] = hex[bytes[i] >> 4];
    out[at[i] + 1] = hex[bytes[i] & 15];
  }
  out[8] = out[13] = out[18] = out[23] = '-';
  id.assign(out, sizeof out);
}

std::string problem_json(int status, Reason r, std::string_view detail, const std::string* route) {
  std::string body = "{\"type\":\"about:blank\",\"title\":";
  append_json_string(body, http::reason_phrase(status));
  body.append(",\"status\":").append(std::to_string(status)).append(",\"detail\":");
  append_json_string(body, detail);
  body.append(",\"reason\":\"").append(reason_name(r)).append("\",\"route\":");
  if (route)
    append_json_string(body, *route);
  else
    body.append("null");
  body.append("}");
  return body;
}

void grpc_reply_fields(Exchange& ex, Reason r, std::string_view detail, int retry_after, http::Fields& out) {
  ex.grpc_status = reason_grpc_status(r);
  out.add("content-type", "application/grpc");
  out.add("grpc-status", std::to_string(ex.grpc_status));
  out.add("grpc-message", http::grpc::percent_encode(detail));
  out.add("x-breakwater", reason_name(r));
  if (retry_after > 0) out.add("grpc-retry-pushback-ms", std::to_string(retry_after * 1000LL));
  for (auto [n, v] : ex.extra_headers) out.add_lower(n, v);
}

int grpc_status_from_http(int status) {
  switch (status) {
    case 200: return http::grpc::unknown;  // ended without a grpc-status
    case 400: return http::grpc::internal;
    case 401: return http::grpc::unauthenticated;
    case 403: return http::grpc::permission_denied;
    case 404: return http::grpc::unimplemented;
    case 429: case 502: case 503: case 504: return http::grpc::unavailable;
    default: return http::grpc::unknown;
  }
}

awaitable<bool> Pipeline::capture(Exchange& ex, upstream::UpstreamStream& s, Capture& c) {
  auto& resp = s.head();
  // A transfer coding besides chunked (gzip) travels in the framing header only, so it is not stored.
  // A gRPC call is stored by its status, known at the end (SPEC §9).
  bool storable = ex.grpc ? resp.status == 200 : policy::is_cacheable_status(resp.status);
  if (!ex.idem.locked || !storable || resp.other_codings) co_return true;
  using Step = upstream::UpstreamStream::Step;
  std::string_view piece;
  while ((c.step = co_await s.next_body(piece)) == Step::piece) {
    if (c.body.size() + piece.size() > ex.idem.max_response) {  // too large: streamed, not stored
      c.piece = piece;
      break;
    }
    c.body.append(piece);
  }
  if (c.step == Step::error) {
    bool timed_out = s.timed_out();
    s.disarm();
    if (timed_out)
      co_await client_.respond(ex, Reason::upstream_timeout, "the upstream did not answer in time");
    else
      co_await client_.respond(ex, Reason::upstream_unavailable, "the upstream connection failed");
    co_return false;
  }
  c.all = c.step == Step::end;
  if (c.all && ex.grpc) {
    if (!http::grpc::is_storable_status(grpc_end(resp, s.trailers()).status))
      co_return true;  // the caller releases the key
  }
  if (c.all) co_await store_response(ex, resp, c.body, &s.trailers());
  co_return true;
}

Verdict Pipeline::reject(Exchange& ex, policy::Mode mode, Reason r, std::string_view detail, int retry_after) {
  if (mode != policy::Mode::shadow) return Verdict::local(r, detail, retry_after);
  ex.route->metrics->shadow[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  ex.extra_headers.add("x-breakwater-shadow", reason_name(r));
  return Verdict::proceed();
}

// Stages 2-5 as far as they go without suspending: the memory store, a free
// bulkhead place and a request the idempotency stage does not look up cost no
// coroutine frame. The first stage that must wait is left to admit_rest().
Admission Pipeline::admit_now(Exchange& ex) {
  Admission a;
  a.verdict = kill_switch(ex);
  if (a.verdict.proceeds() && ex.route->cfg->rate_limit) {
    auto answer = rate_limit(ex);
    if (!answer.now) {
      a.wait = Admission::Wait::rate_limit;
      a.rate = std::move(answer.later);
      return a;
    }
    a.verdict = rate_decision(ex, *answer.now);
  }
  after_rate_limit(ex, a);
  return a;
}

void Pipeline::after_rate_limit(Exchange& ex, Admission& a) {
  if (!a.verdict.proceeds()) return;
  if (ex.route->cfg->idempotency) {
    if (auto v = idempotency_at_once(ex)) {
      a.verdict = std::move(*v);
    } else {
      a.wait = Admission::Wait::idempotency;
      return;
    }
  }
  after_idempotency(ex, a);
}

void Pipeline::after_idempotency(Exchange& ex, Admission& a) {
  auto& bh = ex.route->bulkhead;
  if (!a.verdict.proceeds() || !bh) return;
  auto entry = bh->enter(worker_.ctx);  // admitted or refused without suspending
  if (entry.waiter) {
    a.wait = Admission::Wait::bulkhead;
    a.queued = std::move(entry);
    return;
  }
  ex.place = std::move(entry.permit);
  if (!ex.place) a.verdict = reject(ex, bh->mode(), Reason::bulkhead_full, "the route's bulkhead is full", 1);
}

awaitable<void> Pipeline::admit_rest(Exchange& ex, Admission& a) {
  while (a.wait != Admission::Wait::none) {
    auto wait = a.wait;
    a.wait = Admission::Wait::none;
    switch (wait) {
      case Admission::Wait::rate_limit: {
        auto r = co_await std::move(a.rate);
        a.verdict = rate_decision(ex, r);
        after_rate_limit(ex, a);
        break;
      }
      case Admission::Wait::idempotency:
        a.verdict = co_await idempotency(ex);
        after_idempotency(ex, a);
        break;
      case Admission::Wait::bulkhead: {
        auto& bh = ex.route->bulkhead;
        ex.place = co_await bh->wait(std::move(a.queued.waiter), a.queued.id);
        if (!ex.place) a.verdict = reject(ex, bh->mode(), Reason::bulkhead_full, "the route's bulkhead is full", 1);
        break;
      }
      case Admission::Wait::none:
        break;
    }
  }
}

Verdict Pipeline::kill_switch(Exchange& ex) {
  if (ex.route->cfg->enabled) return Verdict::proceed();
  return Verdict::local(Reason::route_disabled, "the route is disabled");
}

store::Answer<policy::GcraOutcome> Pipeline::rate_limit(Exchange& ex) {
  auto& rc = *ex.route->cfg;
  auto& rl = *rc.rate_limit;
  auto value = [&](const policy::DescriptorPart& part) -> std::string_view {
    switch (part.kind) {
      case policy::DescriptorPart::Kind::client_ip: return client_.client_ip();
      case policy::DescriptorPart::Kind::header: return ex.head.header(part.header);
      case policy::DescriptorPart::Kind::route: return rc.name;
    }
    return {};
  };
  if (rl.key.size() == 1)  // the common case: the part itself, not a copy
    return ex.snap->store->handle(worker_.index).rate_limit(rc.name, value(rl.key.front()), ex.route->gcra);
  auto& descriptor = ex.descriptor;  // reused request after request
  descriptor.clear();
  for (auto& part : rl.key) {
    if (!descriptor.empty()) descriptor.push_back('\x1f');
    descriptor.append(value(part));
  }
  return ex.snap->store->handle(worker_.index).rate_limit(rc.name, descriptor, ex.route->gcra);
}

Verdict Pipeline::rate_decision(Exchange& ex, const store::Result<policy::GcraOutcome>& o) {
  auto& rl = *ex.route->cfg->rate_limit;
  const auto* gcra = &ex.route->gcra;
  const auto* policy_value = &ex.route->rate_policy_value;
  std::optional<policy::GcraOutcome> local;
  if (!o) {
    server_.registry().global.store_errors.fetch_add(1, std::memory_order_relaxed);
    using OnError = config::StoreConfig::OnError;
    auto on_error = ex.snap->config.store.on_error;
    auto* table = on_error == OnError::local ? ex.snap->store->local() : nullptr;
    if (!table) {
      if (on_error != OnError::deny) return Verdict::proceed();
      return reject(ex, rl.mode, Reason::store_unavailable, "the rate-limit store did not answer");
    }
    // This instance decides alone, at local_rate, in its own bucket.
    count(ex, FallbackPolicy::rate_limit);
    gcra = &ex.route->local_gcra;
    policy_value = &ex.route->local_rate_policy_value;
    local = table->rate_limit(ex.route->cfg->name, ex.descriptor, *gcra, policy::Clock::now());
  }
  const auto& decided = local ? *local : *o;
  auto rh = policy::rate_headers(*gcra, decided);
  ex.extra_headers.add(policy::kRateLimitPolicyHeader, *policy_value);
  ex.extra_headers.add_with(policy::kRateLimitHeader, [&](std::string& v) { policy::append_rate_limit_value(v, rh); });
  if (decided.allowed) return Verdict::proceed();
  return reject(ex, rl.mode, Reason::rate_limited, "the route's rate limit is exhausted",
                static_cast<int>(rh.retry_after_s));
}

std::optional<Verdict> Pipeline::idempotency_at_once(Exchange& ex) {
  auto& ip = *ex.route->cfg->idempotency;
  auto& h = ex.head;
  if (std::find(ip.methods.begin(), ip.methods.end(), h.method) == ip.methods.end()) return Verdict::proceed();
  if (h.find(ip.header)) return std::nullopt;  // a key to look up
  if (ip.required) return reject(ex, ip.mode, Reason::idempotency_key_missing, "this route requires an Idempotency-Key");
  return Verdict::proceed();
}

// Called when idempotency_at_once() found a key to look up.
awaitable<Verdict> Pipeline::idempotency(Exchange& ex) {
  auto& rc = *ex.route->cfg;
  auto& ip = *rc.idempotency;
  auto& h = ex.head;
  auto* header = h.find(ip.header);
  auto key = policy::parse_idempotency_key(header->value);
  if (!key)
    co_return Verdict::local(Reason::bad_request, "the Idempotency-Key must be 1 to 255 visible ASCII characters");
  // The fingerprint covers the whole body, so a streamed body is buffered after all.
  if (ex.body_mode == Exchange::BodyMode::streaming && !co_await client_.read_rest_of_body(ex))
    co_return Verdict::abandon();
  auto scope = ip.scope_header.empty() ? std::string_view{} : h.header(ip.scope_header);
  auto fingerprint = store::sha256_hex(policy::fingerprint_input(h.method, ex.target.path_query, ex.body));
  auto token = random_token(worker_.rng);
  auto lock_ttl = ip.lock_timeout ? *ip.lock_timeout : rc.timeout + std::chrono::seconds(5);
  auto r = co_await ex.snap->store->handle(worker_.index).idem_begin({rc.name, scope, *key}, fingerprint, token,
                                                                    lock_ttl);
  bool local = false;
  if (!r) {
    server_.registry().global.store_errors.fetch_add(1, std::memory_order_relaxed);
    using OnError = config::StoreConfig::OnError;
    auto on_error = ex.snap->config.store.on_error;
    auto* table = on_error == OnError::local ? ex.snap->store->local() : nullptr;
    if (!table) {
      if (on_error != OnError::deny) co_return Verdict::proceed();  // forward without the key's protection
      co_return reject(ex, ip.mode, Reason::store_unavailable, "the idempotency store did not answer");
    }
    // Locked in this instance's memory: duplicates reaching this instance still run once.
    count(ex, FallbackPolicy::idempotency);
    local = true;
    auto local_key = store::keys::idempotency(rc.name, scope, *key);
    auto begun = table->idem_begin(local_key, fingerprint, token, policy::Clock::now(), lock_ttl);
    if (begun.state == store::IdemBegin::State::acquired) begun.key = std::move(local_key);
    r = std::move(begun);
  }
  switch (r->state) {
    case store::IdemBegin::State::acquired:
      ex.idem.locked = true;
      ex.idem.local = local;
      ex.idem.key = std::move(r->key);
      ex.idem.token = std::move(token);
      ex.idem.fingerprint = std::move(fingerprint);
      ex.idem.ttl = ip.ttl;
      ex.idem.max_response = ip.max_response;
      co_return Verdict::proceed();
    case store::IdemBegin::State::in_flight:
      count(ex, IdempotencyOutcome::in_flight);
      co_return reject(ex, ip.mode, Reason::idempotency_in_flight,
                       "a request with this Idempotency-Key is still in flight", 1);
    case store::IdemBegin::State::mismatch:
      count(ex, IdempotencyOutcome::reused);
      co_return reject(ex, ip.mode, Reason::idempotency_key_reused,
                       "this Idempotency-Key was used with a different request");
    case store::IdemBegin::State::completed: {
      if (ip.mode == policy::Mode::shadow) co_return Verdict::proceed();  // shadow: observe, never answer from the store
      auto stored = policy::decode(r->record);
      if (!stored) {
        log_error("unreadable idempotency record for route " + rc.name + "; forwarding");
        co_return Verdict::proceed();
      }
      count(ex, IdempotencyOutcome::replayed);
      co_return Verdict::replay(std::move(*stored));
    }
  }
  co_return Verdict::proceed();
}

awaitable<void> Pipeline::release(Exchange& ex) {
  if (!ex.idem.unsettled()) co_return;
  ex.idem.settled = true;
  // Not stored (failure, 5xx, too large): free the key so a retry can run again.
  if (ex.idem.local) {
    if (auto* table = ex.snap->store->local()) (void)table->idem_release(ex.idem.key, ex.idem.token);
    co_return;
  }
  (void)co_await ex.snap->store->handle(worker_.index).idem_release(ex.idem.key, ex.idem.token);
}

awaitable<void> Pipeline::store_response(Exchange& ex, const http::ResponseHead& resp, std::string_view body,
                                         const http::Fields* trailers) {
  policy::StoredResponse stored{resp.status, {}, std::string(body), {}};
  if (trailers)
    for (auto [n, v] : *trailers) stored.trailers.emplace_back(std::string(n), std::string(v));
  std::string_view connection = resp.header("connection");
  for (auto& h : resp.headers) {
    if (http::is_hop_by_hop(h.name, connection) || http::iequals(h.name, "content-length") ||
        http::iequals(h.name, "set-cookie") || http::iequals(h.name, "date"))
      continue;
    stored.headers.emplace_back(std::string(h.name), std::string(h.value));
  }
  ex.idem.settled = true;
  store::Result<bool> done = false;
  if (auto* table = ex.idem.local ? ex.snap->store->local() : nullptr)  // locked locally: stored locally
    done = table->idem_complete(ex.idem.key, ex.idem.token, ex.idem.fingerprint, policy::encode(stored),
                                policy::Clock::now(), ex.idem.ttl);
  else
    done = co_await ex.snap->store->handle(worker_.index).idem_complete(
        ex.idem.key, ex.idem.token, ex.idem.fingerprint, policy::encode(stored), ex.idem.ttl);
  if (done && *done)
    count(ex, IdempotencyOutcome::stored);
  else
    log_warn("route " + ex.route->cfg->name + ": " +
             (done ? std::string("the Idempotency-Key lock was lost")
                   : "the store failed (" + std::string(store::to_string(done.error())) + ")") +
             "; the response is not stored");
}

struct Pipeline::Attempt {
  policy::AttemptOutcome outcome;
  upstream::UpstreamStream stream;  // with the response head, when outcome is a response
  bool client_failed = false;
  std::optional<policy::Duration> pushback;  // grpc-retry-pushback-ms
  bool pushback_refused = false;
};

// The response headers of a gRPC call are held until the first message or the
// trailers (SPEC §9): an answer with no message yet is still retryable by its status.
awaitable<bool> Pipeline::peek_grpc(Exchange& ex, upstream::UpstreamStream& s, Attempt& out) {
  GrpcEnd g;
  g.read(s.head());  // Trailers-Only
  if (g.status < 0 && ex.head.method != "HEAD") {
    std::string_view piece;
    auto step = co_await s.next_body(piece);
    if (step == upstream::UpstreamStream::Step::error) co_return false;
    if (step == upstream::UpstreamStream::Step::end) {
      g.read(s.trailers());
      if (g.status < 0) g.status = http::grpc::unknown;  // a 200 that ends without one
    }
    s.unread(step, piece);
  }
  out.outcome.grpc_status = g.status;
  out.pushback = g.pushback;
  out.pushback_refused = g.pushback_refused;
  co_return true;
}

void Pipeline::settle_grpc(Exchange& ex, const http::ResponseHead& head, const http::Fields& trailers) {
  if (!ex.grpc) return;
  auto g = grpc_end(head, trailers);
  if (g.status >= 0) ex.grpc_status = g.status;
  if (!ex.held_call) return;
  auto& rt = *ex.route;
  policy::AttemptOutcome o{policy::AttemptKind::response, head.status, g.status};
  ex.held_call->record(is_failure(rt, o), ex.held_took, policy::Clock::now());
  rt.metrics->count_attempt(label(rt, o));
  ex.held_call.reset();
}

awaitable<bool> Pipeline::forward(Exchange& ex) {
  auto& rt = *ex.route;
  auto& rc = *rt.cfg;
  const auto deadline = ex.deadline;
  const policy::RetrySettings* retry = rc.retry ? &*rc.retry : nullptr;
  if (rt.budget) rt.budget->on_request(policy::Clock::now());
  bool idempotent = policy::is_idempotent_method(ex.head.method);
  if (!idempotent && rc.idempotency)
    idempotent = policy::parse_idempotency_key(ex.head.header(rc.idempotency->header)).has_value();

  BreakerCall call(rt.breaker.get(), policy::Clock::now());
  if (!call.allowed()) {
    auto v = reject(ex, rt.breaker->mode(), Reason::circuit_open, "the route's circuit breaker is open",
                    ceil_seconds(call.retry_after()));
    if (!v.proceeds()) co_return co_await answer(ex, v);
  }
  Attempt a;
  for (unsigned n = 1;; ++n) {
    auto started = policy::Clock::now();
    auto left = deadline - started;
    auto per_try = retry && retry->per_try_timeout ? std::min(*retry->per_try_timeout, left) : left;
    ex.attempts = n;
    if (n > 1) a = Attempt{};
    co_await attempt(ex, started + per_try, a);
    auto ended = policy::Clock::now();
    if (a.client_failed) co_return false;  // nothing to answer; the breaker call is cancelled on the way out
    if (ex.grpc && a.outcome.kind == policy::AttemptKind::response && a.outcome.status == 200 &&
        a.outcome.grpc_status < 0) {
      // A message is on its way: the call is committed, and the breaker records it at the trailers.
      ex.held_call.emplace(std::move(call));
      ex.held_took = ended - started;
      break;
    }
    call.record(is_failure(rt, a.outcome), ended - started, ended);
    rt.metrics->count_attempt(label(rt, a.outcome));
    // Most answers stop here, before the response headers are scanned and the jitter is drawn.
    if (!retry || !policy::may_retry(*retry, n, a.outcome)) break;

    policy::RetryInput in;
    in.outcome = a.outcome;
    in.attempts_done = n;
    in.idempotent = idempotent;
    in.body_replayable = ex.body_mode != Exchange::BodyMode::streaming && ex.body.size() <= kReplayableBody;
    if (a.outcome.kind == policy::AttemptKind::response) {
      in.sidecar_rejection = !a.stream.head().header("x-breakwater").empty();
      in.retry_after = policy::parse_retry_after(a.stream.head().header("retry-after"));
      in.pushback = a.pushback;
      in.pushback_refused = a.pushback_refused;
    }
    in.time_left = deadline - ended;
    in.u01 = worker_.rng.unit();
    auto d = policy::decide_retry(*retry, in);
    if (d.verdict != policy::RetryVerdict::budget_needed) break;
    if (retry->mode == policy::Mode::shadow) {
      rt.metrics->shadow_retries.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    // The breaker is asked before the budget: an attempt it refuses is not a retry.
    call = BreakerCall(rt.breaker.get(), ended);
    if (!call.allowed() && rt.breaker->mode() == policy::Mode::enforce) break;
    if (!rt.budget->try_spend(ended)) {
      rt.metrics->budget_exhausted.fetch_add(1, std::memory_order_relaxed);
      break;  // the breaker call is cancelled: no attempt was made under it
    }
    rt.metrics->retries.fetch_add(1, std::memory_order_relaxed);
    a.stream = {};  // the discarded response's connection is closed, not pooled
    if (d.delay > policy::Duration::zero()) {
      net::steady_timer pause(worker_.ctx, d.delay);
      co_await pause.async_wait(use_nothrow);
    }
  }
  call = BreakerCall();  // recorded above (or held for the trailers): nothing left to cancel
  switch (a.outcome.kind) {
    case policy::AttemptKind::response:
      co_return co_await client_.relay(ex, a.stream, deadline);
    case policy::AttemptKind::connect_failure:
      co_return co_await client_.respond(ex, Reason::upstream_unavailable, "could not connect to the upstream");
    case policy::AttemptKind::reset:
      co_return co_await client_.respond(ex, Reason::upstream_unavailable, "the upstream connection failed");
    case policy::AttemptKind::timeout:
      co_return co_await client_.respond(ex, Reason::upstream_timeout, "the upstream did not answer in time");
  }
  co_return false;
}

awaitable<void> Pipeline::attempt(Exchange& ex, TimePoint deadline, Attempt& out) {
  auto pool = worker_.pools.get(ex.route->upstream);
  auto& rc = *ex.route->cfg;
  bool streaming = ex.body_mode == Exchange::BodyMode::streaming;
  // Round 0, and at most two resends of a request the upstream did not process: a
  // stale pooled HTTP/1.1 connection, a refused HTTP/2 stream (neither is an attempt).
  for (int round = 0; round < 3; ++round) {
    std::size_t ep = 0;
    auto opened = pool->take_stream(round > 0, ep);  // a pooled connection, without suspending
    if (!opened.stream) opened = co_await pool->connect_stream(deadline, ep);
    ex.upstream_address.assign(opened.address);
    if (!opened.stream) {
      out.outcome = {opened.failure, 0};
      co_return;
    }
    auto& s = opened.stream;
    // A pooled connection the upstream closed just as it was taken is tried once
    // more, fresh, as long as no request byte we cannot send again was consumed.
    auto stale = [&] { return s.reused() && !s.timed_out() && round == 0; };
    auto failed = [&] { return s.timed_out() ? policy::AttemptKind::timeout : policy::AttemptKind::reset; };
    s.arm(deadline);

    http::UpstreamRequest up;
    up.method = ex.head.method;
    up.path_query = ex.target.path_query;
    up.host = !rc.host_rewrite.empty() ? std::string_view(rc.host_rewrite)
              : ex.target.form == http::Target::Form::absolute ? ex.target.authority
              : !ex.head.host.empty() ? ex.head.host
                                      : std::string_view(ex.upstream_address);
    up.client_ip = client_.client_ip();
    up.proto = client_.is_tls() ? "https" : "http";
    up.request_id = ex.request_id;
    if (streaming && ex.head.body == http::BodyKind::chunked) {
      up.framing = http::UpstreamRequest::Framing::chunked;  // an HTTP/2 body of unknown length
    } else if (streaming) {
      up.framing = http::UpstreamRequest::Framing::length;
      up.length = ex.head.content_length;
    } else if (ex.body_mode == Exchange::BodyMode::buffered) {
      up.framing = http::UpstreamRequest::Framing::length;
      up.length = ex.body.size();
    }
    if (ex.grpc) {  // the service behind sees the real remaining deadline (SPEC §9)
      ex.grpc_timeout = http::grpc::format_timeout(deadline - policy::Clock::now());
      auto* t = const_cast<http::Header*>(ex.head.find("grpc-timeout"));
      if (t)
        t->value = ex.grpc_timeout;
      else
        ex.head.headers.push_back({"grpc-timeout", ex.grpc_timeout});
    }
    if (auto [ec, n] = co_await s.send_head(ex.head, up, ex.up_head, ex.body, !streaming); ec) {
      if (stale() || s.refused()) continue;
      out.outcome = {failed(), 0};
      co_return;
    }
    if (streaming) {
      bool client_failed = false;
      bool ok = co_await client_.pump_body(ex, s, client_failed);
      if (client_failed) {
        out.client_failed = true;
        co_return;
      }
      if (!ok) {
        out.outcome = {failed(), 0};
        co_return;
      }
    }
    auto head = co_await s.read_head(ex.head.method == "HEAD");
    switch (head.status) {
      case upstream::UpstreamStream::HeadStatus::response:
        out.outcome = {policy::AttemptKind::response, s.head().status};
        if (ex.grpc && s.head().status == 200) {
          bool peeked = co_await peek_grpc(ex, s, out);
          if (!peeked) {
            out.outcome = {failed(), 0};
            co_return;
          }
        }
        out.stream = std::move(s);
        co_return;
      case upstream::UpstreamStream::HeadStatus::malformed:
        log_warn("upstream " + ex.upstream_address + " sent a malformed response");
        out.outcome = {policy::AttemptKind::reset, 0};
        co_return;
      case upstream::UpstreamStream::HeadStatus::refused:
        if (!streaming) continue;  // not processed: sent again on another connection
        out.outcome = {policy::AttemptKind::reset, 0};
        co_return;
      case upstream::UpstreamStream::HeadStatus::failed:
        if (!head.received && stale() && !streaming) continue;
        out.outcome = {failed(), 0};
        co_return;
    }
  }
  out.outcome = {policy::AttemptKind::reset, 0};
}

awaitable<bool> Pipeline::handle(Exchange& ex) {
  auto& h = ex.head;
  // Every request has an id, also one breakwater answers itself (SPEC §1).
  if (auto rid = h.header("x-request-id"); !rid.empty()) {
    ex.request_id.assign(rid);
  } else {
    make_request_id(worker_.rng, ex.request_id);
    ex.request_id_generated = true;
  }
  if (http::grpc::is_grpc_content_type(h.header("content-type"))) ex.grpc = true;
  if (h.method == "CONNECT") {
    ex.body_consumed = h.body == http::BodyKind::none;
    co_return co_await client_.respond(ex, Reason::method_not_allowed, "CONNECT is not supported");
  }
  ex.target = http::parse_target(h.target);
  if (ex.target.form == http::Target::Form::invalid) {
    co_return co_await client_.respond(ex, Reason::bad_request,
                               "the request target must be origin-form or an http:// absolute URI without userinfo");
  }
  if (h.body == http::BodyKind::length && h.content_length > ex.listener->max_body) {
    co_return co_await client_.respond(ex, Reason::request_too_large, "the request body exceeds max_body");
  }
  if (h.body != http::BodyKind::none) {  // no body: no coroutine frame
    bool read = co_await client_.read_body(ex);
    if (!read) co_return false;
  }

  auto host = ex.target.form == http::Target::Form::absolute ? ex.target.authority : h.host;
  auto match_host = http::match_host(host);
  int idx = ex.snap->table.match(ex.listener->name, {match_host, ex.target.path, h.method, &h.headers});
  if (idx < 0) co_return co_await client_.respond(ex, Reason::route_not_found, "no route matches this request");
  ex.route = &ex.snap->routes[static_cast<std::size_t>(idx)];
  ex.deadline = ex.start + ex.route->cfg->timeout;
  if (ex.grpc) {
    if (auto* t = h.find("grpc-timeout")) {  // lowers the route's timeout for this call (SPEC §9)
      auto d = http::grpc::parse_timeout(t->value);
      if (!d) co_return co_await client_.respond(ex, Reason::bad_request, "malformed grpc-timeout");
      ex.deadline = std::min(ex.deadline, ex.start + std::chrono::duration_cast<policy::Duration>(*d));
    }
  }
  auto admission = admit_now(ex);  // no coroutine frame unless a stage must wait
  if (admission.waits()) co_await admit_rest(ex, admission);
  bool keep = false;
  if (admission.verdict.proceeds())
    keep = co_await forward(ex);
  else
    keep = co_await answer(ex, admission.verdict);
  ex.place.reset();
  if (ex.idem.unsettled()) co_await release(ex);  // not when the response was stored
  co_return keep;
}

awaitable<bool> Pipeline::answer(Exchange& ex, const Verdict& v) {
  switch (v.kind) {
    case Verdict::Kind::local_reply: co_return co_await client_.respond(ex, v.reason, v.detail, v.retry_after);
    case Verdict::Kind::replay: co_return co_await client_.replay(ex, *v.stored);
    case Verdict::Kind::proceed:
    case Verdict::Kind::abandon: break;
  }
  co_return false;
}

void Pipeline::account(Exchange& ex, int status) {
  ex.status = status;
  auto& metrics = ex.route ? *ex.route->metrics : *ex.snap->unmatched;
  metrics.count_status(status);
  if (ex.reason && is_rejection(*ex.reason))
    metrics.rejected[static_cast<std::size_t>(*ex.reason)].fetch_add(1, std::memory_order_relaxed);
}

void Pipeline::finish(Exchange& ex) {
  if (ex.status == 0) return;  // nothing was answered: the client went away
  auto& metrics = ex.route ? *ex.route->metrics : *ex.snap->unmatched;
  auto end = policy::Clock::now();
  auto took = end - ex.start;
  if (ex.grpc) {  // every gRPC call answered, forwarded or generated (SPEC §7)
    if (ex.grpc_status < 0) ex.grpc_status = grpc_status_from_http(ex.status);
    metrics.grpc_calls[static_cast<std::size_t>(ex.grpc_status)].fetch_add(1, std::memory_order_relaxed);
  }
  auto bucket = metrics.duration.observe(std::chrono::duration<double>(took).count());
  if (ex.route) record_answer(metrics, worker_.index, ex.status, ex.reason, end, bucket);

  auto& log = *ex.snap->access_log;
  if (!log.enabled()) return;
  std::string line;
  line.reserve(512);
  // A request refused before its head was read still gets an id of its own.
  if (ex.request_id.empty()) make_request_id(worker_.rng, ex.request_id);
  line.append("{\"ts\":\"").append(rfc3339_now()).append("\",\"request_id\":");
  append_json_string(line, ex.request_id);
  line.append(",\"client\":");
  append_json_string(line, client_.client_addr());
  line.append(",\"listener\":");
  append_json_string(line, client_.listener_name());
  line.append(",\"route\":");
  if (ex.route)
    append_json_string(line, ex.route->cfg->name);
  else
    line.append("null");
  line.append(",\"method\":");
  append_json_string(line, ex.head.method);
  line.append(",\"path\":");
  append_json_string(line, ex.target.form == http::Target::Form::invalid ? ex.head.target : ex.target.path_query);
  line.append(",\"status\":").append(std::to_string(ex.status)).append(",\"reason\":");
  if (ex.reason)
    line.append("\"").append(reason_name(*ex.reason)).append("\"");
  else
    line.append("null");
  line.append(",\"upstream\":");
  if (ex.upstream_address.empty())
    line.append("null");
  else
    append_json_string(line, ex.upstream_address);
  char tail[224];
  char grpc[16] = "null";
  if (ex.grpc_status >= 0) std::snprintf(grpc, sizeof grpc, "%d", ex.grpc_status);
  std::snprintf(tail, sizeof tail,
                ",\"attempts\":%u,\"duration_ms\":%.3f,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
                ",\"protocol\":\"%.*s\",\"grpc_status\":%s}\n",
                ex.attempts, std::chrono::duration<double, std::milli>(took).count(), ex.bytes_in, ex.bytes_out,
                static_cast<int>(client_.protocol(ex).size()), client_.protocol(ex).data(), grpc);
  line.append(tail);
  log.write(line);
}

}  // namespace breakwater::proxy

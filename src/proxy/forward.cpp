// The attempt loop and the relay of upstream responses to the client.
#include <algorithm>
#include <span>
#include <cstdio>

#include "breakwater/http/text.hpp"
#include "breakwater/policy/idempotency.hpp"
#include "breakwater/policy/retry.hpp"
#include "breakwater/log.hpp"
#include "breakwater/proxy/session.hpp"

namespace breakwater::proxy {
namespace {

// Retries resend bodies up to this size (SPEC §3 step 6).
constexpr std::size_t kReplayableBody = 64 * 1024;

bool is_failure_status(const RouteRuntime& rt, int status) {
  if (rt.breaker) return rt.breaker->is_failure_status(status);
  return status == 500 || status == 502 || status == 503 || status == 504;
}

bool is_failure(const RouteRuntime& rt, const policy::AttemptOutcome& o) {
  return o.kind != policy::AttemptKind::response || is_failure_status(rt, o.status);
}

int ceil_seconds(policy::Duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::max<long long>(1, (ms + 999) / 1000));
}

policy::OutcomeLabel label(const RouteRuntime& rt, const policy::AttemptOutcome& o) {
  switch (o.kind) {
    case policy::AttemptKind::response:
      return is_failure_status(rt, o.status) ? policy::OutcomeLabel::failure : policy::OutcomeLabel::success;
    case policy::AttemptKind::connect_failure: return policy::OutcomeLabel::connect_failure;
    case policy::AttemptKind::reset: return policy::OutcomeLabel::reset;
    case policy::AttemptKind::timeout: return policy::OutcomeLabel::timeout;
  }
  return policy::OutcomeLabel::reset;
}

}  // namespace

struct Session::Attempt {
  policy::AttemptOutcome outcome;
  http::UpstreamStream stream;  // with the response head, when outcome is a response
  bool client_failed = false;
};

awaitable<bool> Session::forward(Exchange& ex) {
  auto& rt = *ex.route;
  auto& rc = *rt.cfg;
  auto deadline = ex.start + rc.timeout;
  const policy::RetrySettings* retry = rc.retry ? &*rc.retry : nullptr;
  if (rt.budget) rt.budget->on_request(policy::Clock::now());
  bool idempotent = policy::is_idempotent_method(ex.head.method);
  if (!idempotent && rc.idempotency)
    idempotent = policy::parse_idempotency_key(ex.head.header(rc.idempotency->header)).has_value();

  policy::BreakerPermit permit{true, false, 0, {}};
  if (rt.breaker) {
    permit = rt.breaker->acquire(policy::Clock::now());
    if (!permit.allowed && !shadow(ex, rt.breaker->mode(), Reason::circuit_open))
      co_return co_await respond(ex, Reason::circuit_open, "the route's circuit breaker is open",
                                 ceil_seconds(permit.retry_after));
  }
  Attempt a;
  for (unsigned n = 1;; ++n) {
    auto started = policy::Clock::now();
    auto left = deadline - started;
    auto per_try = retry && retry->per_try_timeout ? std::min(*retry->per_try_timeout, left) : left;
    ex.attempts = n;
    a = Attempt{};
    co_await attempt(ex, started + per_try, a);
    auto ended = policy::Clock::now();
    if (a.client_failed) {
      if (rt.breaker) rt.breaker->cancel(permit);
      co_return false;
    }
    if (rt.breaker && permit.allowed) rt.breaker->record(permit, is_failure(rt, a.outcome), ended - started, ended);
    rt.metrics->count_attempt(label(rt, a.outcome));
    if (!retry) break;

    policy::RetryInput in;
    in.outcome = a.outcome;
    in.attempts_done = n;
    in.idempotent = idempotent;
    in.body_replayable = ex.body_mode != Exchange::BodyMode::streaming && ex.body.size() <= kReplayableBody;
    if (a.outcome.kind == policy::AttemptKind::response) {
      in.sidecar_rejection = !a.stream.head().header("x-breakwater").empty();
      in.retry_after = policy::parse_retry_after(a.stream.head().header("retry-after"));
    }
    in.time_left = deadline - ended;
    in.u01 = std::uniform_real_distribution<double>(0.0, 1.0)(worker_.rng);
    auto d = policy::decide_retry(*retry, in);
    if (d.verdict != policy::RetryVerdict::budget_needed) break;
    if (retry->mode == policy::Mode::shadow) {
      rt.metrics->shadow_retries.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    // The breaker is asked before the budget: an attempt it refuses is not a retry.
    if (rt.breaker) {
      permit = rt.breaker->acquire(ended);
      if (!permit.allowed && rt.breaker->mode() == policy::Mode::enforce) break;
    }
    if (!rt.budget->try_spend(ended)) {
      rt.metrics->budget_exhausted.fetch_add(1, std::memory_order_relaxed);
      if (rt.breaker) rt.breaker->cancel(permit);
      break;
    }
    rt.metrics->retries.fetch_add(1, std::memory_order_relaxed);
    a.stream = {};  // the discarded response's connection is closed, not pooled
    if (d.delay > policy::Duration::zero()) {
      net::steady_timer pause(worker_.ctx, d.delay);
      co_await pause.async_wait(use_nothrow);
    }
  }
  switch (a.outcome.kind) {
    case policy::AttemptKind::response:
      co_return co_await relay(ex, a.stream, deadline);
    case policy::AttemptKind::connect_failure:
      co_return co_await respond(ex, Reason::upstream_unavailable, "could not connect to the upstream");
    case policy::AttemptKind::reset:
      co_return co_await respond(ex, Reason::upstream_unavailable, "the upstream connection failed");
    case policy::AttemptKind::timeout:
      co_return co_await respond(ex, Reason::upstream_timeout, "the upstream did not answer in time");
  }
  co_return false;
}

awaitable<void> Session::attempt(Exchange& ex, TimePoint deadline, Attempt& out) {
  auto pool = worker_.pools.get(ex.route->upstream);
  auto& rc = *ex.route->cfg;
  bool streaming = ex.body_mode == Exchange::BodyMode::streaming;
  for (int round = 0; round < 2; ++round) {
    auto opened = co_await pool->open_stream(deadline, round > 0);
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
    up.client_ip = client_ip_;
    up.proto = stream_.is_tls() ? "https" : "http";
    up.request_id = ex.request_id;
    up.add_request_id = ex.request_id_generated;
    if (streaming) {
      up.framing = http::UpstreamRequest::Framing::length;
      up.length = ex.head.content_length;
    } else if (ex.body_mode == Exchange::BodyMode::buffered) {
      up.framing = http::UpstreamRequest::Framing::length;
      up.length = ex.body.size();
    }
    up_head_.clear();
    http::build_upstream_head(ex.head, up, up_head_);
    std::array<net::const_buffer, 2> bufs{net::buffer(up_head_), net::buffer(ex.body)};
    if (!co_await s.send(bufs)) {
      if (stale()) continue;
      out.outcome = {failed(), 0};
      co_return;
    }
    if (streaming) {
      bool client_failed = false;
      bool ok = co_await pump_body(ex, s, client_failed);
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
      case http::UpstreamStream::HeadStatus::response:
        out.outcome = {policy::AttemptKind::response, s.head().status};
        out.stream = std::move(s);
        co_return;
      case http::UpstreamStream::HeadStatus::malformed:
        log_warn("upstream " + ex.upstream_address + " sent a malformed response");
        out.outcome = {policy::AttemptKind::reset, 0};
        co_return;
      case http::UpstreamStream::HeadStatus::failed:
        if (!head.received && stale() && !streaming) continue;
        out.outcome = {failed(), 0};
        co_return;
    }
  }
  out.outcome = {policy::AttemptKind::reset, 0};
}

awaitable<bool> Session::pump_body(Exchange& ex, http::UpstreamStream& s, bool& client_failed) {
  while (ex.stream_remaining) {
    if (buf_.empty()) {
      set_deadline(policy::Clock::now() + ex.listener->idle_timeout);
      if (!co_await read_more()) {
        client_failed = true;
        co_return false;
      }
    }
    auto take = static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size(), ex.stream_remaining));
    std::array<net::const_buffer, 1> piece{net::buffer(buf_.view().data(), take)};
    if (!co_await s.send(piece)) co_return false;
    buf_.consume(take);
    ex.stream_remaining -= take;
    ex.bytes_in += take;
  }
  ex.body_consumed = true;
  set_deadline(TimePoint::max());
  co_return true;
}

awaitable<bool> Session::send_piece(std::string_view piece, bool chunked) {
  char size[24];
  std::array<net::const_buffer, 4> bufs;
  std::size_t n = 0;
  if (!out_.empty()) bufs[n++] = net::buffer(out_);
  if (chunked) {
    int len = std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    bufs[n++] = net::buffer(size, static_cast<std::size_t>(len));
  }
  bufs[n++] = net::buffer(piece.data(), piece.size());
  if (chunked) bufs[n++] = net::buffer("\r\n", 2);
  bool ok = co_await write_buffers(std::span(bufs.data(), n));
  out_.clear();
  co_return ok;
}

awaitable<bool> Session::relay(Exchange& ex, http::UpstreamStream& body, TimePoint deadline) {
  body.arm(deadline);  // the body is bounded by the route timeout
  auto& resp = body.head();
  bool http10 = ex.head.version_minor == 0;
  bool keep = ex.head.keep_alive && !closing_ && ex.body_consumed;
  std::string_view piece;
  using Step = http::UpstreamStream::Step;
  auto step = Step::end;

  // SPEC §3 step 8: a storable response is read whole (up to max_response) and
  // stored before the client sees it, so a retry after this answer is a replay.
  // A transfer coding besides chunked (gzip) travels in the framing header only, so it is not stored.
  bool capture = ex.idem.locked && policy::is_cacheable_status(resp.status) && !resp.other_codings;
  std::string captured;
  bool captured_all = false;
  if (capture) {
    while ((step = co_await body.next_body(piece)) == Step::piece) {
      if (captured.size() + piece.size() > ex.idem.max_response) break;  // too large: streamed, not stored
      captured.append(piece);
    }
    if (step == Step::error) {
      bool timed_out = body.timed_out();
      body.disarm();
      if (timed_out)
        co_return co_await respond(ex, Reason::upstream_timeout, "the upstream did not answer in time");
      co_return co_await respond(ex, Reason::upstream_unavailable, "the upstream connection failed");
    }
    captured_all = step == Step::end;
    if (captured_all) {
      policy::StoredResponse stored{resp.status, {}, captured};
      std::string_view connection = resp.header("connection");
      for (auto& h : resp.headers) {
        if (http::is_hop_by_hop(h.name, connection) || http::iequals(h.name, "content-length") ||
            http::iequals(h.name, "set-cookie") || http::iequals(h.name, "date"))
          continue;
        stored.headers.emplace_back(std::string(h.name), std::string(h.value));
      }
      ex.idem.settled = true;
      bool ok = co_await ex.snap->store->idem_complete(worker_.index, ex.idem.key, ex.idem.token,
                                                      ex.idem.fingerprint, policy::encode(stored), ex.idem.ttl);
      if (ok)
        ex.route->metrics->idempotency[static_cast<std::size_t>(IdempotencyOutcome::stored)].fetch_add(1);
      else
        log_warn("route " + ex.route->cfg->name +
                 ": the Idempotency-Key lock was lost or the store failed; the response is not stored");
    }
  }

  // Not stored (not storable, or larger than max_response): free the key before the
  // client sees the answer, so a retry right after it runs again.
  if (!captured_all && ex.idem.unsettled()) co_await idempotency_release(ex);
  http::ClientResponse cr;
  cr.http10 = http10;
  cr.extra = ex.extra_headers;
  bool head_request = ex.head.method == "HEAD";
  if (head_request) {
    // A HEAD answer says what a GET would carry, and nothing more: the upstream's
    // length, or chunked framing, or (close-delimited) no framing header at all.
    if (!resp.header("content-length").empty()) {
      cr.framing = http::ClientResponse::Framing::length;
      cr.length = resp.content_length;
    } else if (resp.chunked_framing && !http10) {
      cr.framing = http::ClientResponse::Framing::chunked;
    } else {
      cr.framing = http::ClientResponse::Framing::until_close;
    }
  } else if (captured_all) {
    cr.framing = http::ClientResponse::Framing::length;
    cr.length = captured.size();
  } else {
    switch (resp.body) {
      case http::BodyKind::none:
        break;
      case http::BodyKind::length:
        cr.framing = http::ClientResponse::Framing::length;
        cr.length = resp.content_length;
        break;
      case http::BodyKind::chunked:
      case http::BodyKind::until_close:
        if (http10) {
          cr.framing = http::ClientResponse::Framing::until_close;
          keep = false;
        } else {
          cr.framing = http::ClientResponse::Framing::chunked;
        }
        break;
    }
  }
  cr.keep_alive = keep;
  out_.clear();
  http::build_client_head(resp, cr, out_);
  account(ex, resp.status);

  bool client_ok = true;
  bool chunked = cr.framing == http::ClientResponse::Framing::chunked;
  if (head_request) {
    client_ok = co_await write(out_);  // a head only: the body is empty whatever the framing says
    out_.clear();
    step = co_await body.next_body(piece);  // BodyKind::none: the end
  } else if (captured_all) {
    client_ok = co_await write(out_, captured);
    ex.bytes_out = captured.size();
  } else {
    if (!captured.empty()) {
      client_ok = co_await send_piece(captured, chunked);
      ex.bytes_out += captured.size();
    }
    bool have = capture && step == Step::piece;  // the piece that did not fit
    while (client_ok) {
      if (!have && (step = co_await body.next_body(piece)) != Step::piece) break;
      have = false;
      client_ok = co_await send_piece(piece, chunked);
      ex.bytes_out += piece.size();
    }
    if (client_ok && step == Step::end) {
      if (chunked)
        client_ok = co_await write(out_, "0\r\n\r\n");
      else if (!out_.empty())
        client_ok = co_await write(out_);
      out_.clear();
    }
  }
  bool upstream_ok = step == Step::end;
  body.finish(client_ok);
  set_deadline(TimePoint::max());
  co_return client_ok && upstream_ok && keep;
}

}  // namespace breakwater::proxy

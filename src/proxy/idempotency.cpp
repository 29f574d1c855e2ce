// SPEC §3 steps 4 and 8: Idempotency-Key lookup, replay, completion and release.
#include <algorithm>

#include "breakwater/http/text.hpp"
#include "breakwater/log.hpp"
#include "breakwater/proxy/session.hpp"
#include "breakwater/store/hash.hpp"

namespace breakwater::proxy {
namespace {

std::string random_token(std::mt19937_64& rng) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string t(32, '0');
  std::uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    t[static_cast<std::size_t>(i)] = hex[(a >> (4 * i)) & 15];
    t[static_cast<std::size_t>(16 + i)] = hex[(b >> (4 * i)) & 15];
  }
  return t;
}

void count(const Exchange& ex, IdempotencyOutcome o) {
  ex.route->metrics->idempotency[static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

awaitable<bool> Session::read_rest_of_body(Exchange& ex) {
  // The fingerprint covers the whole body, so a streamed body is buffered after all.
  set_deadline(policy::Clock::now() + ex.listener->idle_timeout);
  while (ex.stream_remaining) {
    if (buf_.empty() && !co_await read_more()) co_return false;
    auto take = static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size(), ex.stream_remaining));
    ex.body.append(buf_.view().substr(0, take));
    buf_.consume(take);
    ex.stream_remaining -= take;
    set_deadline(policy::Clock::now() + ex.listener->idle_timeout);
  }
  set_deadline(TimePoint::max());
  ex.body_mode = Exchange::BodyMode::buffered;
  ex.body_consumed = true;
  ex.bytes_in = ex.body.size();
  co_return true;
}

awaitable<bool> Session::idempotency_lookup(Exchange& ex, bool& keep) {
  auto& rc = *ex.route->cfg;
  auto& ip = *rc.idempotency;
  auto& h = ex.head;
  if (std::find(ip.methods.begin(), ip.methods.end(), h.method) == ip.methods.end()) co_return true;
  auto* header = h.find(ip.header);
  if (!header) {
    if (ip.required && !shadow(ex, ip.mode, Reason::idempotency_key_missing)) {
      keep = co_await respond(ex, Reason::idempotency_key_missing, "this route requires an Idempotency-Key");
      co_return false;
    }
    co_return true;
  }
  auto key = policy::parse_idempotency_key(header->value);
  if (!key) {
    keep = co_await respond(ex, Reason::bad_request,
                            "the Idempotency-Key must be 1 to 255 visible ASCII characters");
    co_return false;
  }
  if (ex.body_mode == Exchange::BodyMode::streaming && !co_await read_rest_of_body(ex)) {
    keep = false;
    co_return false;
  }
  auto scope = ip.scope_header.empty() ? std::string_view{} : h.header(ip.scope_header);
  std::string store_key = "bw:idem:{";
  store_key.append(rc.name).append(":").append(store::sha256_hex(scope)).append(":");
  store_key.append(store::sha256_hex(*key)).append("}");
  auto fingerprint = store::sha256_hex(policy::fingerprint_input(h.method, ex.target.path_query, ex.body));
  auto token = random_token(worker_.rng);
  auto lock_ttl = ip.lock_timeout ? *ip.lock_timeout : rc.timeout + std::chrono::seconds(5);
  auto r = co_await ex.snap->store->idem_begin(worker_.index, store_key, fingerprint, token, lock_ttl);
  if (!r) {
    server_.registry().global.store_errors.fetch_add(1, std::memory_order_relaxed);
    if (!ex.snap->config.store.on_error_allow && !shadow(ex, ip.mode, Reason::store_unavailable)) {
      keep = co_await respond(ex, Reason::store_unavailable, "the idempotency store did not answer");
      co_return false;
    }
    co_return true;  // on_error = allow: forward without the key's protection
  }
  switch (r->state) {
    case store::IdemBegin::State::acquired:
      ex.idem.locked = true;
      ex.idem.key = std::move(store_key);
      ex.idem.token = std::move(token);
      ex.idem.fingerprint = std::move(fingerprint);
      ex.idem.ttl = ip.ttl;
      ex.idem.max_response = ip.max_response;
      co_return true;
    case store::IdemBegin::State::in_flight:
      count(ex, IdempotencyOutcome::in_flight);
      if (shadow(ex, ip.mode, Reason::idempotency_in_flight)) co_return true;
      keep = co_await respond(ex, Reason::idempotency_in_flight,
                              "a request with this Idempotency-Key is still in flight", 1);
      co_return false;
    case store::IdemBegin::State::mismatch:
      count(ex, IdempotencyOutcome::reused);
      if (shadow(ex, ip.mode, Reason::idempotency_key_reused)) co_return true;
      keep = co_await respond(ex, Reason::idempotency_key_reused,
                              "this Idempotency-Key was used with a different request");
      co_return false;
    case store::IdemBegin::State::completed: {
      if (ip.mode == policy::Mode::shadow) co_return true;  // shadow: observe, never answer from the store
      auto stored = policy::decode(r->record);
      if (!stored) {
        log_error("unreadable idempotency record for route " + rc.name + "; forwarding");
        co_return true;
      }
      count(ex, IdempotencyOutcome::replayed);
      keep = co_await replay(ex, *stored);
      co_return false;
    }
  }
  co_return true;
}

awaitable<bool> Session::replay(Exchange& ex, const policy::StoredResponse& r) {
  bool close = !ex.head.keep_alive || closing_;
  out_.clear();
  out_.append(ex.head.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
      .append(std::to_string(r.status))
      .append(" ")
      .append(http::reason_phrase(r.status))
      .append("\r\n");
  for (auto& [n, v] : r.headers) out_.append(n).append(": ").append(v).append("\r\n");
  out_.append("Idempotent-Replayed: true\r\n").append(ex.extra_headers);
  out_.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
  if (close)
    out_.append("Connection: close\r\n");
  else if (ex.head.version_minor == 0)
    out_.append("Connection: keep-alive\r\n");
  out_.append("\r\n");
  account(ex, r.status);
  ex.bytes_out = r.body.size();
  set_deadline(policy::Clock::now() + ex.listener->idle_timeout);
  bool ok = co_await write(out_, r.body);
  set_deadline(TimePoint::max());
  co_return ok && !close;
}

awaitable<void> Session::idempotency_release(Exchange& ex) {
  if (!ex.idem.unsettled()) co_return;
  ex.idem.settled = true;
  // Not stored (failure, 5xx, too large): free the key so a retry can run again.
  (void)co_await ex.snap->store->idem_release(worker_.index, ex.idem.key, ex.idem.token);
}

}  // namespace breakwater::proxy

// The client side of forwarding over HTTP/1.1: streamed request bodies to the
// upstream, and upstream responses, replays and their framing to the client.
#include <algorithm>
#include <cstdio>
#include <span>

#include "breakwater/http/h1/head_writer.hpp"
#include "breakwater/http/text.hpp"
#include "breakwater/log.hpp"
#include "breakwater/policy/idempotency.hpp"
#include "breakwater/proxy/session.hpp"

namespace breakwater::proxy {

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

awaitable<bool> Session::pump_body(Exchange& ex, upstream::UpstreamStream& s, bool& client_failed) {
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
    if (auto [ec, n] = co_await s.send_body(piece, take == ex.stream_remaining); ec) co_return false;
    buf_.consume(take);
    ex.stream_remaining -= take;
    ex.bytes_in += take;
  }
  ex.body_consumed = true;
  set_deadline(TimePoint::max());
  co_return true;
}

awaitable<bool> Session::replay(Exchange& ex, const policy::StoredResponse& r) {
  bool close = !ex.head.keep_alive || closing_;
  out_.clear();
  http::h1::HeadWriter w(out_);
  w.status_line(ex.head.version_minor, r.status);
  for (auto& [n, v] : r.headers) w.field(n, v);
  w.field("Idempotent-Replayed", "true")
      .fields(ex.extra_headers)
      .field("Content-Length", r.body.size())
      .connection(!close, ex.head.version_minor)
      .end();
  pipeline_.account(ex, r.status);
  ex.bytes_out = r.body.size();
  set_deadline(policy::Clock::now() + ex.listener->idle_timeout);
  bool ok = co_await write(out_, r.body);
  set_deadline(TimePoint::max());
  co_return ok && !close;
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
  set_deadline(policy::Clock::now() + idle_timeout_);  // as in write(): the client's clock runs while we wait on it
  auto [ec, written] = co_await stream_.write(std::span(bufs.data(), n));
  set_deadline(TimePoint::max());
  out_.clear();
  co_return !ec;
}

awaitable<bool> Session::relay(Exchange& ex, upstream::UpstreamStream& body, TimePoint deadline) {
  body.arm(deadline);  // the body is bounded by the route timeout
  auto& resp = body.head();
  bool http10 = ex.head.version_minor == 0;
  bool keep = ex.head.keep_alive && !closing_ && ex.body_consumed;  // the client's side of keep-alive
  using Step = upstream::UpstreamStream::Step;
  Capture cap;
  if (ex.idem.locked) {  // only a locked key stores: otherwise no coroutine frame
    bool captured = co_await pipeline_.capture(ex, body, cap);
    if (!captured) co_return false;
  }
  auto step = cap.step;
  std::string_view piece = cap.piece;
  auto& captured = cap.body;
  bool captured_all = cap.all;

  // Not stored (not storable, or larger than max_response): free the key before the
  // client sees the answer, so a retry right after it runs again.
  if (ex.idem.unsettled()) co_await pipeline_.release(ex);
  bool head_request = ex.head.method == "HEAD";
  auto cr = http::client_framing(resp, http10, head_request,
                                 captured_all ? std::optional<std::uint64_t>(captured.size()) : std::nullopt, keep);
  cr.extra = &ex.extra_headers;
  out_.clear();
  http::build_client_head(resp, cr, out_);
  pipeline_.account(ex, resp.status);

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
    bool have = step == Step::piece && !cap.piece.empty();  // the piece that did not fit
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
  if (upstream_ok) pipeline_.settle_grpc(ex, resp, body.trailers());  // HTTP/1.1 clients get no trailers
  body.finish(client_ok);
  set_deadline(TimePoint::max());
  co_return client_ok && upstream_ok && cr.keep_alive;
}

}  // namespace breakwater::proxy

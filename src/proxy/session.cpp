#include "breakwater/proxy/session.hpp"

#include <cinttypes>
#include <cstdio>

#include "breakwater/http/h1/head_writer.hpp"
#include "breakwater/proxy/h2_session.hpp"
#include "breakwater/http/text.hpp"
#include "breakwater/policy/rate_limit.hpp"
#include "breakwater/log.hpp"

namespace breakwater::proxy {
namespace {

constexpr std::size_t kMaxHead = 64 * 1024;
// Bodies up to this size are buffered (so they can be replayed); larger ones stream.
constexpr std::uint64_t kBufferedBody = 64 * 1024;

}  // namespace

void Exchange::reset() {
  snap.reset();
  listener = nullptr;
  route = nullptr;
  raw_head.clear();
  head.clear();
  target = {};
  request_id.clear();
  request_id_generated = false;
  body_mode = BodyMode::none;
  body.clear();
  stream_remaining = 0;
  body_consumed = true;
  status = 0;
  reason.reset();
  upstream_address.clear();
  attempts = 0;
  bytes_in = bytes_out = 0;
  grpc_status = -1;
  grpc = false;
  deadline = {};
  grpc_timeout.clear();
  held_call.reset();
  extra_headers.clear();
  place.reset();
  idem = Idempotency{};
}

Session::Session(Server& server, Worker& worker, tcp::socket sock, std::shared_ptr<ListenerHandle> listener,
                 std::shared_ptr<net::ssl::context> tls)
    : server_(server),
      worker_(worker),
      stream_(std::move(sock)),
      listener_(std::move(listener)),
      tls_(std::move(tls)),
      watchdog_(worker.ctx.get_executor()) {
  error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) {
    client_ip_ = ep.address().to_string();
    client_addr_ = ep.address().is_v6() ? "[" + client_ip_ + "]:" + std::to_string(ep.port())
                                        : client_ip_ + ":" + std::to_string(ep.port());
  }
  stream_.socket().set_option(tcp::no_delay(true), ec);
}

Session::~Session() {
  unlink();
  listener_->connections.fetch_sub(1, std::memory_order_relaxed);
  server_.active_sessions.fetch_sub(1, std::memory_order_relaxed);
}

awaitable<void> Session::run(std::shared_ptr<Session> self) {
  self->link_after(self->worker_.sessions);
  bool ok = true;
  if (self->tls_) {
    auto snap = self->server_.snapshot();
    auto* lc = snap->config.find_listener(self->listener_->name);
    self->idle_ = false;
    self->set_deadline(policy::Clock::now() + (lc ? lc->header_timeout : std::chrono::seconds(10)));
    ok = !co_await self->stream_.tls_accept(self->tls_);
    self->set_deadline(TimePoint::max());
  }
  if (ok) {
    if (co_await self->speaks_h2())
      co_await self->serve_h2();
    else
      co_await self->serve();
  }
  error_code ec;
  self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  self->stream_.close();
  self->watchdog_.stop();
}

awaitable<bool> Session::speaks_h2() {
  {
    auto snap = server_.snapshot();
    auto* lc = snap->config.find_listener(listener_->name);
    if (!lc || !lc->http2) co_return false;
    if (stream_.is_tls()) co_return stream_.alpn() == "h2";
    set_deadline(policy::Clock::now() + lc->idle_timeout);
  }
  // Prior knowledge (RFC 9113 §3.3): the preface, or HTTP/1.1 as soon as a byte differs.
  auto preface = http::h2::kPreface;
  for (;;) {
    auto v = buf_.view();
    auto n = std::min(v.size(), preface.size());
    if (v.substr(0, n) != preface.substr(0, n)) break;
    if (n == preface.size()) {
      set_deadline(TimePoint::max());
      co_return true;
    }
    idle_ = buf_.empty();
    bool ok = co_await read_more();
    idle_ = false;
    if (!ok) break;  // serve() finds the connection closed
  }
  set_deadline(TimePoint::max());
  co_return false;
}

awaitable<void> Session::serve_h2() {
  std::string initial(buf_.view());
  buf_.consume(buf_.size());
  h2_ = std::make_shared<H2Connection>(server_, worker_, stream_, shared_from_this(), listener_->name, client_ip_,
                                       client_addr_);
  if (closing_) h2_->drain();
  co_await h2_->run(std::move(initial));
  h2_.reset();  // streams still running keep the connection (and this session) until they end
}

void Session::close_when_idle() {
  closing_ = true;
  if (h2_) {
    h2_->drain();
    return;
  }
  if (idle_) {
    stream_.close();
  }
}

void Session::release_large_buffers() {
  // A keep-alive connection keeps small buffers for the next request, never the
  // memory of its largest one (a 1 MiB chunked body, a 60 KiB head).
  constexpr std::size_t kKeep = 16 * 1024;
  auto trim = [](std::string& s) {
    if (s.capacity() > kKeep) std::string().swap(s);
  };
  trim(ex_.body);
  trim(ex_.raw_head);
  trim(out_);
  trim(ex_.up_head);
  trim(ex_.descriptor);
  ex_.extra_headers.shrink(kKeep);
  buf_.shrink_if_empty(kKeep);
}

void Session::set_deadline(TimePoint tp) {
  watchdog_.set(tp, *this, [](Session& s) {
    s.client_timed_out_ = true;
    s.stream_.close();
  });
}

awaitable<bool> Session::read_more() {
  if (buf_.capacity() == 0 && !stream_.is_tls()) {
    // A connection that has sent nothing yet holds no buffer (a crowd of idle connections stays cheap).
    auto [ec] = co_await stream_.wait_readable();
    if (ec || stream_.socket().available(ec) == 0) co_return false;  // closed before a byte came
  }
  auto [p, room] = buf_.prepare(1024);
  auto [ec, n] = co_await stream_.read_some(net::buffer(p, room));
  if (ec) co_return false;
  buf_.commit(n);
  co_return true;
}

awaitable<bool> Session::write(std::string_view a, std::string_view b) {
  std::array<net::const_buffer, 2> bufs{net::buffer(a.data(), a.size()), net::buffer(b.data(), b.size())};
  // Idle means no bytes moving: the client's idle clock runs only while a write waits on it,
  // so a response that keeps flowing is never cut (the route timeout bounds the upstream side).
  set_deadline(policy::Clock::now() + idle_timeout_);
  auto [ec, n] = co_await stream_.write(bufs);
  set_deadline(TimePoint::max());
  co_return !ec;
}

awaitable<bool> Session::read_head(std::size_t& head_len, policy::Duration header_timeout) {
  std::size_t scanned = 0;
  bool header_clock = false;
  for (;;) {
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    auto v = buf_.view();
    std::size_t skip = 0;
    while (skip + 1 < v.size() && v[skip] == '\r' && v[skip + 1] == '\n') skip += 2;
    if (skip) {
      buf_.consume(skip);
      scanned = 0;
    }
    if (!buf_.empty()) {
      head_len = http::h1::find_head_end(buf_.view(), scanned);
      if (head_len) co_return head_len <= kMaxHead;
      if (buf_.size() > kMaxHead) co_return false;
      if (!header_clock) {
        header_clock = true;
        set_deadline(policy::Clock::now() + header_timeout);
      }
    }
    idle_ = buf_.empty();
    if (idle_ && closing_) co_return false;
    bool ok = co_await read_more();
    idle_ = false;
    if (!ok) co_return false;
  }
}

awaitable<void> Session::serve() {
  for (;;) {
    ex_.reset();
    policy::Duration header_timeout{};
    {  // scoped: an idle connection pins no config, so old snapshots die with the reload
      auto snap = server_.snapshot();
      auto* lc = snap->config.find_listener(listener_->name);
      if (!lc || listener_->closed.load(std::memory_order_relaxed) || closing_) co_return;
      set_deadline(policy::Clock::now() + lc->idle_timeout);
      header_timeout = lc->header_timeout;
      idle_timeout_ = lc->idle_timeout;
    }
    std::size_t head_len = 0;
    bool ok = co_await read_head(head_len, header_timeout);
    set_deadline(TimePoint::max());
    ex_.start = policy::Clock::now();
    ex_.snap = server_.snapshot();  // the config the request starts with
    ex_.listener = ex_.snap->config.find_listener(listener_->name);
    if (!ok || !ex_.listener) {
      if (ex_.listener && buf_.size() > kMaxHead)
        co_await respond(ex_, Reason::header_too_large, "the request head exceeds 64KiB");
      co_return;
    }
    ex_.raw_head.assign(buf_.view().substr(0, head_len));
    buf_.consume(head_len);
    auto err = http::h1::parse_request_head(ex_.raw_head, ex_.head);
    bool keep = false;
    if (err != http::h1::WireError::none)
      keep = co_await respond(ex_, Reason::bad_request, http::h1::describe(err));
    else
      keep = co_await pipeline_.handle(ex_);
    pipeline_.finish(ex_);
    if (!keep) co_return;
    release_large_buffers();
  }
}

awaitable<bool> Session::read_body(Exchange& ex) {
  auto& h = ex.head;
  if (h.expect_continue && h.version_minor >= 1 && h.body != http::BodyKind::none) {
    if (!co_await write("HTTP/1.1 100 Continue\r\n\r\n")) co_return false;
  }
  set_deadline(policy::Clock::now() + ex.listener->idle_timeout);
  if (h.body == http::BodyKind::length) {
    if (h.content_length > kBufferedBody) {
      ex.body_mode = Exchange::BodyMode::streaming;
      ex.stream_remaining = h.content_length;
      ex.body_consumed = false;
      co_return true;
    }
    ex.body_mode = Exchange::BodyMode::buffered;
    auto want = static_cast<std::size_t>(h.content_length);
    while (buf_.size() < want) {
      if (!co_await read_more()) co_return false;
      set_deadline(policy::Clock::now() + ex.listener->idle_timeout);
    }
    ex.body.assign(buf_.view().substr(0, want));
    buf_.consume(want);
  } else if (h.body == http::BodyKind::chunked) {
    ex.body_mode = Exchange::BodyMode::buffered;
    http::h1::ChunkedDecoder dec;
    for (;;) {
      auto step = dec.next(buf_.view());
      if (step.status == http::h1::ChunkedDecoder::Status::error) {
        co_await respond(ex, Reason::bad_request, "malformed chunked body");
        co_return false;
      }
      if (step.status == http::h1::ChunkedDecoder::Status::data) {
        if (ex.body.size() + step.data.size() > ex.listener->max_body) {
          co_await respond(ex, Reason::request_too_large, "the request body exceeds max_body");
          co_return false;
        }
        ex.body.append(step.data);
      }
      buf_.consume(step.consumed);
      if (step.status == http::h1::ChunkedDecoder::Status::done) break;
      if (step.consumed == 0) {
        if (!co_await read_more()) co_return false;
        set_deadline(policy::Clock::now() + ex.listener->idle_timeout);
      }
    }
  }
  set_deadline(TimePoint::max());
  ex.bytes_in = ex.body.size();
  co_return true;
}

awaitable<bool> Session::respond(Exchange& ex, Reason r, std::string_view detail, int retry_after) {
  // Nothing generated is stored: free the key first, so an immediate retry can run.
  if (ex.idem.unsettled()) co_await pipeline_.release(ex);
  bool close = r == Reason::bad_request || r == Reason::request_too_large || r == Reason::header_too_large ||
               !ex.body_consumed || closing_ || !ex.head.keep_alive || ex.head.method.empty();
  ex.reason = r;
  out_.clear();
  int minor = ex.head.version_minor == 0 && !ex.head.method.empty() ? 0 : 1;
  http::h1::HeadWriter w(out_);
  if (ex.grpc) {  // gRPC's answer, as headers only (Trailers-Only has no HTTP/1.1 form of its own)
    pipeline_.account(ex, 200);
    w.status_line(minor, 200, "OK");
    http::Fields grpc;
    grpc_reply_fields(ex, r, detail, retry_after, grpc);
    w.fields(grpc);
    w.field("Content-Length", std::uint64_t{0}).connection(!close, minor).end();
    bool ok = co_await write(out_);
    co_return ok && !close;
  }
  int status = reason_status(r);
  pipeline_.account(ex, status);
  auto title = http::reason_phrase(status);
  std::string body = problem_json(status, r, detail, ex.route ? &ex.route->cfg->name : nullptr);
  w.status_line(minor, status, title)
      .field("Content-Type", "application/problem+json")
      .field("x-breakwater", reason_name(r))
      .field("Content-Length", body.size());
  if (retry_after > 0) w.field("Retry-After", static_cast<std::uint64_t>(retry_after));
  w.fields(ex.extra_headers).connection(!close, minor).end();
  bool head_only = ex.head.method == "HEAD";
  ex.bytes_out = head_only ? 0 : body.size();
  bool ok = co_await write(out_, head_only ? std::string_view{} : std::string_view(body));
  co_return ok && !close;
}

}  // namespace breakwater::proxy

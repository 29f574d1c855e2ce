// The HTTP/2 server codec: nghttp2 frames in and out over one connection, one
// Pipeline per stream. Flow control is by hand: request DATA is given back to
// the client's window only once it was taken (sent upstream or buffered as the
// replayable body), and response DATA is queued no further than a window ahead.
#include "breakwater/proxy/h2_session.hpp"

#include <algorithm>
#include <cstring>

#include "breakwater/http/text.hpp"
#include "breakwater/log.hpp"
#include "breakwater/policy/idempotency.hpp"

namespace breakwater::proxy {
namespace {

// Request bodies up to this size are buffered (so they can be replayed); larger ones stream.
constexpr std::size_t kBufferedBody = 64 * 1024;
// Response DATA queued per stream before the relay waits for the client to take it.
constexpr std::size_t kOutHighWater = 64 * 1024;
// Flood budgets per connection: resets, refused streams and protocol errors, and
// control frames (SETTINGS, PING). A burst, then a steady rate per second.
constexpr double kGlitchBurst = 200, kGlitchRate = 100;
constexpr double kControlBurst = 100, kControlRate = 20;

H2Stream* stream_of(nghttp2_session* s, std::int32_t id) {
  return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(s, id));
}

nghttp2_nv nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

ssize_t read_out_cb(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                    nghttp2_data_source* source, void*) {
  return static_cast<H2Stream*>(source->ptr)->read_out(buf, length, flags);
}

// What nghttp2 is told of the stream limit: none (breakwater enforces its own).
constexpr std::uint32_t kNoLimit = 0x7fffffff;

// Rewrites SETTINGS_MAX_CONCURRENT_STREAMS in the SETTINGS frames of `frames`
// (serialized HTTP/2 frames) to `limit`.
void set_max_concurrent_streams(std::string& frames, std::uint32_t limit) {
  std::size_t at = 0;
  while (at + 9 <= frames.size()) {
    auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(frames[i])); };
    std::size_t len = (byte(at) << 16) | (byte(at + 1) << 8) | byte(at + 2);
    bool settings = byte(at + 3) == NGHTTP2_SETTINGS && !(byte(at + 4) & NGHTTP2_FLAG_ACK);
    std::size_t p = at + 9, end = std::min(frames.size(), p + len);
    for (; settings && p + 6 <= end; p += 6) {
      if (((byte(p) << 8) | byte(p + 1)) != NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) continue;
      for (int i = 0; i < 4; ++i) frames[p + 2 + static_cast<std::size_t>(i)] = static_cast<char>(limit >> (24 - 8 * i));
    }
    at += 9 + len;
  }
}

bool refill(double& tokens, policy::TimePoint& at, double burst, double rate) {
  auto now = policy::Clock::now();
  if (at != policy::TimePoint{})
    tokens = std::min(burst, tokens + rate * std::chrono::duration<double>(now - at).count());
  at = now;
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

}  // namespace

// ---------------------------------------------------------------- H2Stream

H2Stream::H2Stream(H2Connection& c, std::int32_t sid)
    : id(sid), conn_(c), keep_(c.shared_from_this()), pipeline_(c.server, c.worker, *this) {}

std::string_view H2Stream::client_ip() const { return conn_.client_ip; }
std::string_view H2Stream::client_addr() const { return conn_.client_addr; }
std::string_view H2Stream::listener_name() const { return conn_.listener; }
bool H2Stream::is_tls() const { return conn_.stream.is_tls(); }

void H2Stream::on_header(std::string_view name, std::string_view value, bool trailer) {
  request_.add(name, value, trailer);
  too_large = request_.too_large();
}

void H2Stream::on_data(const std::uint8_t* data, std::size_t n) {
  in_.append(reinterpret_cast<const char*>(data), n);
  if (in_waiting_) {
    in_waiting_ = false;
    wake(conn_.worker.ctx.get_executor(), in_wake_);
  }
}

void H2Stream::on_end_of_request() {
  in_end_ = true;
  if (in_waiting_) {
    in_waiting_ = false;
    wake(conn_.worker.ctx.get_executor(), in_wake_);
  }
}

void H2Stream::on_close(std::uint32_t) {
  closed = true;
  auto ex = conn_.worker.ctx.get_executor();
  if (in_waiting_) {
    in_waiting_ = false;
    wake(ex, in_wake_);
  }
  if (out_waiting_) {
    out_waiting_ = false;
    wake(ex, out_wake_);
  }
}

awaitable<void> H2Stream::wait_in() {
  in_waiting_ = true;
  co_await park([this](Wake w) { hold(in_wake_, std::move(w)); });
}

void H2Stream::consumed(std::size_t n) {
  if (n == 0 || closed) return;
  nghttp2_session_consume_stream(conn_.ng(), id, n);
  conn_.kick();
}

awaitable<void> H2Stream::run(std::shared_ptr<H2Stream> self) {  // `self`: alive until the coroutine ends
  co_await self->serve();
}

awaitable<void> H2Stream::serve() {
  auto& ex = ex_;
  ex.start = policy::Clock::now();
  ex.snap = conn_.server.snapshot();
  ex.listener = ex.snap->config.find_listener(conn_.listener);
  if (!ex.listener) {
    nghttp2_submit_rst_stream(conn_.ng(), NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    conn_.kick();
    co_return;
  }
  request_.fill(ex.head, in_end_ && in_.empty());
  if (too_large) {
    co_await respond(ex, Reason::header_too_large, "the request head exceeds 64KiB");
  } else {
    co_await pipeline_.handle(ex);
  }
  pipeline_.finish(ex);
  if (!closed && !queued_all_) {
    // Nothing (or not all) was answered: the client learns the stream failed.
    nghttp2_submit_rst_stream(conn_.ng(), NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
    conn_.kick();
  }
  ex.reset();
}

awaitable<bool> H2Stream::read_body(Exchange& ex) {
  auto& h = ex.head;
  if (h.body == http::BodyKind::none) co_return true;
  // Up to 64 KiB is buffered whole (replayable); past it, the body streams.
  while (!in_end_ && in_.size() <= kBufferedBody && !closed) co_await wait_in();
  if (closed && !in_end_) co_return false;
  if (in_.size() > ex.listener->max_body) {
    co_await respond(ex, Reason::request_too_large, "the request body exceeds max_body");
    co_return false;
  }
  if (in_end_) {
    ex.body_mode = Exchange::BodyMode::buffered;
    ex.body = std::move(in_);
    in_.clear();
    consumed(ex.body.size());
    ex.bytes_in = ex.body.size();
    co_return true;
  }
  ex.body_mode = Exchange::BodyMode::streaming;
  ex.body_consumed = false;
  co_return true;
}

awaitable<bool> H2Stream::read_rest_of_body(Exchange& ex) {
  for (;;) {
    if (!in_.empty()) {
      if (ex.body.size() + in_.size() > ex.listener->max_body) co_return false;
      ex.body.append(in_);
      consumed(in_.size());
      in_.clear();
    }
    if (in_end_) break;
    if (closed) co_return false;
    co_await wait_in();
  }
  ex.body_mode = Exchange::BodyMode::buffered;
  ex.body_consumed = true;
  ex.bytes_in = ex.body.size();
  co_return true;
}

awaitable<bool> H2Stream::pump_body(Exchange& ex, upstream::UpstreamStream& s, bool& client_failed) {
  // To an HTTP/1.1 upstream: content-length framing when the client declared a length, else chunked.
  bool chunked = ex.head.body == http::BodyKind::chunked && s.protocol() == config::UpstreamProtocol::http1;
  std::uint64_t sent = 0;
  bool ended = false;  // the upstream body was ended with the last piece
  for (;;) {
    // With content-length framing the upstream holds a whole request once its last byte
    // arrives: that byte waits for END_STREAM, so a stream whose DATA overruns its declared
    // length (reset by nghttp2) never reaches the upstream as a complete request.
    bool hold = ex.head.body == http::BodyKind::length && !in_end_ && sent + in_.size() >= ex.head.content_length;
    if (!in_.empty() && !hold) {
      if (sent + in_.size() > ex.listener->max_body) {
        client_failed = true;
        co_return false;
      }
      std::string piece = std::move(in_);
      in_.clear();
      char size[24];
      int len = std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
      std::array<net::const_buffer, 3> bufs{net::buffer(size, chunked ? static_cast<std::size_t>(len) : 0),
                                            net::buffer(piece), net::buffer("\r\n", chunked ? 2 : 0)};
      bool last = in_end_ && in_.empty() && !chunked;
      if (auto [ec, n] = co_await s.send_body(bufs, last); ec) co_return false;
      ended = last;
      sent += piece.size();
      ex.bytes_in += piece.size();
      consumed(piece.size());
    }
    if (in_end_ && in_.empty()) {
      if (!chunked && !ended) {  // END_STREAM came apart from the last DATA: end the upstream body too
        std::array<net::const_buffer, 1> none{net::buffer("", 0)};
        if (auto [ec, n] = co_await s.send_body(none, true); ec) co_return false;
      }
      break;
    }
    if (closed) {
      client_failed = true;
      co_return false;
    }
    if (in_.empty() || hold) co_await wait_in();
  }
  if (chunked) {
    std::array<net::const_buffer, 1> last{net::buffer("0\r\n\r\n", 5)};
    if (auto [ec, n] = co_await s.send_body(last, true); ec) co_return false;
  }
  ex.body_consumed = true;
  co_return true;
}

void H2Stream::add_extra(http::Fields& fields, const Exchange& ex) const {
  for (auto [n, v] : ex.extra_headers) fields.add_lower(n, v);
}

bool H2Stream::submit_head(int status, const http::Fields& fields, bool body) {
  if (closed) return false;
  char st[4];
  std::snprintf(st, sizeof st, "%03d", status);
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size() + 1);
  nva.push_back(nv(":status", std::string_view(st, 3)));
  for (auto [n, v] : fields) nva.push_back(nv(n, v));
  nghttp2_data_provider prd;
  prd.source.ptr = this;
  prd.read_callback = read_out_cb;
  int rv = nghttp2_submit_response(conn_.ng(), id, nva.data(), nva.size(), body ? &prd : nullptr);
  conn_.kick();
  if (!body && rv == 0) queued_all_ = true;
  return rv == 0;
}

ssize_t H2Stream::read_out(std::uint8_t* buf, std::size_t length, std::uint32_t* flags) {
  std::size_t n = std::min(length, out_.size() - out_off_);
  if (n) std::memcpy(buf, out_.data() + out_off_, n);
  out_off_ += n;
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
    if (out_end_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!trailers_.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nva;
        for (auto [k, v] : trailers_) nva.push_back(nv(k, v));
        nghttp2_submit_trailer(conn_.ng(), id, nva.data(), nva.size());
      }
    } else if (n == 0) {
      out_deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  if (out_waiting_ && out_.size() - out_off_ < kOutHighWater) {
    out_waiting_ = false;
    wake(conn_.worker.ctx.get_executor(), out_wake_);
  }
  return static_cast<ssize_t>(n);
}

awaitable<bool> H2Stream::send_data(std::string_view piece, bool end) {
  if (closed) co_return false;
  out_.append(piece);
  if (end) out_end_ = queued_all_ = true;
  if (out_deferred_) {
    out_deferred_ = false;
    nghttp2_session_resume_data(conn_.ng(), id);
  }
  conn_.kick();
  while (!closed && out_.size() - out_off_ >= kOutHighWater) {
    out_waiting_ = true;
    co_await park([this](Wake w) { hold(out_wake_, std::move(w)); });
  }
  co_return !closed;
}

awaitable<bool> H2Stream::respond(Exchange& ex, Reason r, std::string_view detail, int retry_after) {
  if (ex.idem.unsettled()) co_await pipeline_.release(ex);
  ex.reason = r;
  if (ex.grpc) {  // Trailers-Only: one HEADERS frame that ends the stream
    http::Fields fields;
    grpc_reply_fields(ex, r, detail, retry_after, fields);
    pipeline_.account(ex, 200);
    co_return submit_head(200, fields, false);
  }
  int status = reason_status(r);
  pipeline_.account(ex, status);
  std::string body = problem_json(status, r, detail, ex.route ? &ex.route->cfg->name : nullptr);
  http::Fields fields;
  fields.add("content-type", "application/problem+json");
  fields.add("x-breakwater", reason_name(r));
  fields.add("content-length", std::to_string(body.size()));
  if (retry_after > 0) fields.add("retry-after", std::to_string(retry_after));
  add_extra(fields, ex);
  bool head_only = ex.head.method == "HEAD";
  ex.bytes_out = head_only ? 0 : body.size();
  if (!submit_head(status, fields, !head_only)) co_return false;
  if (head_only) co_return true;
  co_return co_await send_data(body, true);
}

awaitable<bool> H2Stream::replay(Exchange& ex, const policy::StoredResponse& r) {
  http::Fields fields;
  for (auto& [n, v] : r.headers) fields.add_lower(n, v);
  fields.add("idempotent-replayed", "true");
  add_extra(fields, ex);
  if (!ex.grpc) fields.add("content-length", std::to_string(r.body.size()));
  pipeline_.account(ex, r.status);
  ex.bytes_out = r.body.size();
  // A gRPC answer is replayed whole: headers, messages, trailers (Trailers-Only stays so).
  http::Fields t;
  for (auto& [n, v] : r.trailers) t.add(n, v);
  if (ex.grpc) {
    http::ResponseHead h;
    h.status = r.status;
    for (auto& [n, v] : r.headers) h.headers.push_back({n, v});
    pipeline_.settle_grpc(ex, h, t);
  }
  bool head_only = ex.head.method == "HEAD";
  bool body = !head_only && (!r.body.empty() || !r.trailers.empty() || !ex.grpc);
  if (!submit_head(r.status, fields, body)) co_return false;
  if (!body) co_return true;
  take_trailers(t);
  co_return co_await send_data(r.body, true);
}

awaitable<bool> H2Stream::relay(Exchange& ex, upstream::UpstreamStream& body, TimePoint deadline) {
  body.arm(deadline);
  auto& resp = body.head();
  Capture cap;
  if (ex.idem.locked) {  // only a locked key stores: otherwise no coroutine frame
    bool captured = co_await pipeline_.capture(ex, body, cap);
    if (!captured) co_return false;
  }
  // Not stored: the key is freed before the client sees the answer.
  if (ex.idem.unsettled()) co_await pipeline_.release(ex);

  http::Fields fields;
  std::string_view connection = resp.header("connection");
  bool head_request = ex.head.method == "HEAD";
  for (auto& h : resp.headers) {
    if (http::is_hop_by_hop(h.name, connection)) continue;
    if (http::iequals(h.name, "content-length") && !head_request) continue;  // set below when known
    fields.add_lower(h.name, h.value);
  }
  if (cap.all && !head_request)
    fields.add("content-length", std::to_string(cap.body.size()));
  else if (resp.body == http::BodyKind::length && !head_request)
    fields.add("content-length", std::to_string(resp.content_length));
  add_extra(fields, ex);
  pipeline_.account(ex, resp.status);
  using Step = upstream::UpstreamStream::Step;
  // Trailers-Only (a gRPC status in the head) stays one HEADERS frame.
  bool no_body = head_request || resp.body == http::BodyKind::none ||
                 (cap.all && cap.body.empty() && body.trailers().empty());
  if (!submit_head(resp.status, fields, !no_body)) {
    body.finish(false);
    co_return false;
  }
  bool client_ok = true;
  auto step = cap.step;
  std::string_view piece = cap.piece;
  if (no_body) {
    if (!cap.all) step = co_await body.next_body(piece);
  } else if (cap.all) {
    ex.bytes_out = cap.body.size();
    take_trailers(body.trailers());
    client_ok = co_await send_data(cap.body, true);
  } else {
    if (!cap.body.empty()) {
      client_ok = co_await send_data(cap.body, false);
      ex.bytes_out += cap.body.size();
    }
    bool have = cap.step == Step::piece && !cap.piece.empty();
    while (client_ok) {
      if (!have && (step = co_await body.next_body(piece)) != Step::piece) break;
      have = false;
      client_ok = co_await send_data(piece, false);
      ex.bytes_out += piece.size();
    }
    if (client_ok && step == Step::end) {
      take_trailers(body.trailers());  // response trailers reach HTTP/2 clients unchanged
      client_ok = co_await send_data({}, true);
    } else if (client_ok && ex.grpc && body.timed_out()) {
      // The deadline passed after the headers went out: the call ends with deadline-exceeded.
      http::Fields t;
      t.add("grpc-status", "4");
      t.add("grpc-message", "the upstream did not answer in time");
      take_trailers(t);
      pipeline_.settle_grpc(ex, resp, t);
      client_ok = co_await send_data({}, true);
      body.finish(false);
      co_return client_ok;
    }
  }
  if (step == Step::end) pipeline_.settle_grpc(ex, resp, body.trailers());
  body.finish(client_ok && step == Step::end);
  co_return client_ok && step == Step::end;
}

void H2Stream::take_trailers(const http::Fields& t) {
  for (auto [n, v] : t) trailers_.add_lower(n, v);
}

// ---------------------------------------------------------------- H2Connection

H2Connection::H2Connection(server::Server& s, server::Worker& w, io::Stream& st, std::shared_ptr<void> owner,
                           std::string_view l, std::string_view ip, std::string_view addr)
    : server(s),
      worker(w),
      stream(st),
      listener(l),
      client_ip(ip),
      client_addr(addr),
      owner_(std::move(owner)),
      pump_(st, w.ctx.get_executor()),
      idle_(w.ctx.get_executor()),
      glitch_tokens_(kGlitchBurst),
      control_tokens_(kControlBurst) {}

H2Connection::~H2Connection() { idle_.stop(); }

awaitable<void> H2Connection::run(std::string initial) {
  auto snap = server.snapshot();
  auto* lc = snap->config.find_listener(listener);
  if (!lc) co_return;
  idle_timeout_ = lc->idle_timeout;

  http::h2::CallbacksPtr cbs;
  {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    cbs.reset(c);
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs.get(), on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs.get(), on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs.get(), on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs.get(), on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs.get(), on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs.get(), on_frame_send);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs.get(), on_invalid_frame);
  auto opt = http::h2::make_server_options();
  nghttp2_session* s = nullptr;
  if (nghttp2_session_server_new2(&s, cbs.get(), this, opt.get()) != 0) co_return;
  ng_.reset(s);
  // nghttp2 1.52 turns a stream over an acknowledged limit into a connection error
  // (GOAWAY, every stream in flight lost); RFC 9113 §5.1.2 allows REFUSED_STREAM, and
  // SPEC §9 asks for it. So nghttp2 is given no limit, on_begin_headers refuses the
  // extra streams itself, and the SETTINGS frame on the wire carries the real limit.
  max_streams_ = lc->max_concurrent_streams;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kNoLimit},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(http::h2::kStreamWindow)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(http::h2::kMaxHeaderList)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(ng_.get(), NGHTTP2_FLAG_NONE, iv, std::size(iv));
  nghttp2_session_set_local_window_size(ng_.get(), NGHTTP2_FLAG_NONE, 0, http::h2::kConnectionWindow);
  std::string first;
  for (;;) {
    const std::uint8_t* d = nullptr;
    auto n = nghttp2_session_mem_send(ng_.get(), &d);
    if (n <= 0) break;
    first.append(reinterpret_cast<const char*>(d), static_cast<std::size_t>(n));
  }
  set_max_concurrent_streams(first, max_streams_);
  pump_.write_first(std::move(first));
  snap.reset();
  idle_check();
  co_await pump_.run(ng_.get(), std::move(initial));
  // The connection is gone: streams still running learn it and end.
  auto streams = std::move(streams_);
  for (auto& [id, st] : streams) st->on_close(NGHTTP2_CANCEL);
  idle_.stop();
}

void H2Connection::drain() {
  if (draining_ || !ng_ || pump_.ended()) return;
  draining_ = true;
  nghttp2_submit_goaway(ng_.get(), NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_.get()),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  if (streams_.empty()) pump_.finish();
  kick();
}

void H2Connection::close_with(std::uint32_t error_code) {
  nghttp2_session_terminate_session(ng_.get(), error_code);
  pump_.finish();
}

void H2Connection::glitch(int cost) {
  for (int i = 0; i < cost; ++i)
    if (!refill(glitch_tokens_, glitch_at_, kGlitchBurst, kGlitchRate) && !calm_) {
      calm_ = true;
      close_with(NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    }
}

void H2Connection::control_frame() {
  if (!refill(control_tokens_, control_at_, kControlBurst, kControlRate) && !calm_) {
    calm_ = true;
    close_with(NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

void H2Connection::idle_check() {
  if (!streams_.empty() || draining_) {
    idle_.disarm();
    return;
  }
  idle_.set(policy::Clock::now() + idle_timeout_, *this, [](H2Connection& c) {
    if (!c.streams_.empty() || !c.ng_) return;
    nghttp2_submit_goaway(c.ng_.get(), NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c.ng_.get()),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    c.pump_.finish();
  });
}

void H2Connection::stream_ended(std::int32_t id) {
  streams_.erase(id);
  if (draining_ && streams_.empty()) pump_.finish();
  idle_check();
}

int H2Connection::on_begin_headers(nghttp2_session* s, const nghttp2_frame* f, void* ud) {
  auto& c = *static_cast<H2Connection*>(ud);
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (c.streams_.size() >= c.max_streams_) {  // over max_concurrent_streams: this one only is refused
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  auto st = std::make_shared<H2Stream>(c, f->hd.stream_id);
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st.get());
  c.streams_.emplace(f->hd.stream_id, std::move(st));
  c.idle_.disarm();
  return 0;
}

int H2Connection::on_header(nghttp2_session* s, const nghttp2_frame* f, const std::uint8_t* name, std::size_t nlen,
                            const std::uint8_t* value, std::size_t vlen, std::uint8_t, void*) {
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  auto* st = stream_of(s, f->hd.stream_id);
  if (!st) return 0;
  st->on_header({reinterpret_cast<const char*>(name), nlen}, {reinterpret_cast<const char*>(value), vlen},
                f->headers.cat == NGHTTP2_HCAT_HEADERS);
  return 0;
}

int H2Connection::on_frame_recv(nghttp2_session* s, const nghttp2_frame* f, void* ud) {
  auto& c = *static_cast<H2Connection*>(ud);
  switch (f->hd.type) {
    case NGHTTP2_HEADERS: {
      auto* st = stream_of(s, f->hd.stream_id);
      if (!st) break;
      if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) st->on_end_of_request();
      if (f->headers.cat == NGHTTP2_HCAT_REQUEST && !st->started) {
        st->started = true;
        net::co_spawn(c.worker.ctx, H2Stream::run(c.streams_.at(f->hd.stream_id)), log_exception);
      }
      break;
    }
    case NGHTTP2_DATA: {
      auto* st = stream_of(s, f->hd.stream_id);
      if (f->hd.length == 0 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) c.glitch();  // empty DATA floods
      if (st && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) st->on_end_of_request();
      break;
    }
    case NGHTTP2_RST_STREAM: {
      auto* st = stream_of(s, f->hd.stream_id);
      if (st && !st->answered) c.glitch();  // a request cancelled before its answer (rapid reset)
      break;
    }
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
      if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) c.control_frame();
      break;
    case NGHTTP2_PRIORITY:
      c.glitch();
      break;
    default: break;
  }
  return 0;
}

int H2Connection::on_data_chunk(nghttp2_session* s, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                                std::size_t n, void*) {
  // The connection window is given back at once (the streams' windows bound what is buffered).
  nghttp2_session_consume_connection(s, n);
  if (auto* st = stream_of(s, id))
    st->on_data(data, n);
  return 0;
}

int H2Connection::on_stream_close(nghttp2_session* s, std::int32_t id, std::uint32_t error_code, void* ud) {
  auto& c = *static_cast<H2Connection*>(ud);
  if (auto* st = stream_of(s, id)) st->on_close(error_code);
  c.stream_ended(id);
  return 0;
}

int H2Connection::on_frame_send(nghttp2_session*, const nghttp2_frame* f, void* ud) {
  auto& c = *static_cast<H2Connection*>(ud);
  auto& g = c.server.registry().global;
  using G = proxy::GlobalMetrics::Goaway;
  if (f->hd.type == NGHTTP2_GOAWAY) {
    switch (f->goaway.error_code) {
      case NGHTTP2_NO_ERROR:
        if (c.draining_) g.count_goaway(G::drain);
        break;
      case NGHTTP2_ENHANCE_YOUR_CALM: g.count_goaway(G::enhance_your_calm); break;
      default: g.count_goaway(G::protocol_error); break;
    }
  } else if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    auto* st = stream_of(c.ng(), f->hd.stream_id);
    if (st) st->answered = true;
    // Answered before the request ended (413, an early reply): no more of it is wanted (RFC 9113 §8.1).
    if (st && !st->in_end_) nghttp2_submit_rst_stream(c.ng(), NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
  } else if (f->hd.type == NGHTTP2_RST_STREAM &&
             (f->rst_stream.error_code == NGHTTP2_REFUSED_STREAM || f->rst_stream.error_code == NGHTTP2_PROTOCOL_ERROR)) {
    c.glitch();  // refused (over max_concurrent_streams) or malformed: the client's doing
  }
  return 0;
}

int H2Connection::on_invalid_frame(nghttp2_session*, const nghttp2_frame*, int, void* ud) {
  static_cast<H2Connection*>(ud)->glitch();
  return 0;
}

}  // namespace breakwater::proxy

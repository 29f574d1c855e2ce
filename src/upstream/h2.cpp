// HTTP/2 upstream connections: nghttp2 client sessions over io::Stream, streams
// lent from shared connections, the server's stream limit respected, refused
// streams reported as not processed (RFC 9113 §8.7).
#include "breakwater/upstream/h2.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <optional>

#include "breakwater/http/text.hpp"
#include "breakwater/io/connect.hpp"
#include "breakwater/log.hpp"
#include "breakwater/upstream/pool.hpp"

namespace breakwater::upstream {
namespace {

constexpr std::size_t kMaxHeaderList = 64 * 1024;
// Never more streams on one connection than this, whatever the server allows.
constexpr std::uint32_t kMaxStreamsPerConn = 1000;
constexpr auto kEndpointPenalty = std::chrono::seconds(2);

std::int64_t ns(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

H2Stream* stream_of(nghttp2_session* s, std::int32_t id) {
  return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(s, id));
}

std::string_view sv(const std::uint8_t* p, std::size_t n) { return {reinterpret_cast<const char*>(p), n}; }

nghttp2_nv nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

int on_begin_headers(nghttp2_session*, const nghttp2_frame*, void*) { return 0; }

int on_header(nghttp2_session* s, const nghttp2_frame* f, const std::uint8_t* name, std::size_t namelen,
              const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void*) {
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  if (auto* st = stream_of(s, f->hd.stream_id)) st->on_header(sv(name, namelen), sv(value, valuelen));
  return 0;
}

int on_frame_recv(nghttp2_session* s, const nghttp2_frame* f, void* user) {
  auto& c = *static_cast<H2Conn*>(user);
  switch (f->hd.type) {
    case NGHTTP2_HEADERS:
      if (auto* st = stream_of(s, f->hd.stream_id)) st->on_headers_end((f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
      break;
    case NGHTTP2_DATA:
      if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
        if (auto* st = stream_of(s, f->hd.stream_id)) st->on_end_stream();
      break;
    case NGHTTP2_SETTINGS:
      if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) {
        c.settings_seen = true;
        if (c.pool) c.pool->notify();  // room may have changed
      }
      break;
    case NGHTTP2_GOAWAY:
      // Streams above its last stream id are closed by nghttp2 with REFUSED_STREAM.
      c.goaway = true;
      if (c.pool) c.pool->notify();
      break;
    default:
      break;
  }
  return 0;
}

int on_data_chunk(nghttp2_session* s, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t n,
                  void* user) {
  if (auto* st = stream_of(s, id)) {
    st->on_data(data, n);
  } else {
    nghttp2_session_consume(s, id, n);  // nobody reads it: the window goes back at once
    static_cast<H2Conn*>(user)->pump.kick();
  }
  return 0;
}

int on_stream_close(nghttp2_session* s, std::int32_t id, std::uint32_t code, void*) {
  if (auto* st = stream_of(s, id)) st->on_close(code);
  return 0;
}

int on_frame_send(nghttp2_session* s, const nghttp2_frame* f, void*) {
  if (f->hd.type == NGHTTP2_HEADERS)
    if (auto* st = stream_of(s, f->hd.stream_id)) st->on_headers_sent();
  return 0;
}

int on_frame_not_send(nghttp2_session* s, const nghttp2_frame* f, int, void*) {
  // A request that never left (a GOAWAY came first): not processed.
  if (f->hd.type == NGHTTP2_HEADERS)
    if (auto* st = stream_of(s, f->hd.stream_id)) st->on_close(NGHTTP2_REFUSED_STREAM);
  return 0;
}

ssize_t read_data(nghttp2_session* s, std::int32_t id, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                  nghttp2_data_source*, void*) {
  auto* st = stream_of(s, id);
  if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // finished meanwhile: reset
  return st->read_body(buf, length, flags);
}

const nghttp2_session_callbacks* callbacks() {
  static const http::h2::CallbacksPtr cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(c, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(c, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(c, on_frame_not_send);
    return http::h2::CallbacksPtr(c);
  }();
  return cbs.get();
}

awaitable<void> run_conn(std::shared_ptr<H2Conn> c) {
  co_await c->pump.run(c->ng.get());
  c->state = H2Conn::State::closed;
  c->goaway = true;
  auto streams = c->streams;  // on_conn_lost may detach
  for (auto* s : streams) s->on_conn_lost();
  if (c->pool) c->pool->conn_closed(*c);
}

}  // namespace

// ---------------------------------------------------------------- H2Conn

H2Conn::H2Conn(const net::any_io_executor& ex, std::shared_ptr<UpstreamShared> up, std::size_t ep, H2Pool* p)
    : stream(ex), pump(stream, ex), endpoint(ep), pool(p), up_(std::move(up)) {}

H2Conn::~H2Conn() { up_->release_slot(); }

std::uint32_t H2Conn::limit() const {
  if (!ng) return 0;
  return std::min(nghttp2_session_get_remote_settings(ng.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
                  kMaxStreamsPerConn);
}

bool H2Conn::open_for_streams() const {
  return state == State::ready && !goaway && !closing && !pump.ended() && active < limit();
}

void H2Conn::drain() {
  goaway = true;
  if (active > 0 || closing || state != State::ready) return;
  closing = true;
  nghttp2_session_terminate_session(ng.get(), NGHTTP2_NO_ERROR);
  pump.finish();
}

// ---------------------------------------------------------------- H2Stream

H2Stream::H2Stream(std::shared_ptr<UpstreamPool> owner, std::shared_ptr<H2Conn> conn)
    : owner_(std::move(owner)), conn_(std::move(conn)), watchdog_(conn_->stream.socket().get_executor()) {
  conn_->active++;
  conn_->streams.push_back(this);
}

H2Stream::~H2Stream() { detach(); }

bool H2Stream::refused() const {
  return closed_ && !head_ready_ && !timed_out_ && close_code_ == NGHTTP2_REFUSED_STREAM;
}

void H2Stream::arm(TimePoint deadline) {
  timed_out_ = false;
  watchdog_.set(deadline, *this, [](H2Stream& s) {
    s.timed_out_ = true;
    s.cancel();
    s.notify();
  });
}

void H2Stream::notify() {
  if (parked_) {
    parked_ = false;
    wake(conn_->stream.socket().get_executor(), waiter_);
  }
}

awaitable<void> H2Stream::wait() {
  parked_ = true;
  co_await park([this](Wake w) { hold(waiter_, std::move(w)); });
}

void H2Stream::cancel() {
  if (closed_ || id_ < 0) {
    closed_ = true;
    return;
  }
  closed_ = true;
  if (!close_code_) close_code_ = NGHTTP2_CANCEL;
  auto* ng = conn_->ng.get();
  nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
  conn_->pump.kick();
}

void H2Stream::detach() {
  if (!attached_) return;
  attached_ = false;
  watchdog_.stop();
  auto& c = *conn_;
  if (id_ >= 0 && c.ng) {
    bool open = !closed_ && c.state != H2Conn::State::closed;
    if (open) {
      nghttp2_submit_rst_stream(c.ng.get(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    }
    nghttp2_session_set_stream_user_data(c.ng.get(), id_, nullptr);
    // What arrived and was not handed on goes back to the connection's window.
    if (auto held = rbuf_.size() + piece_.size()) nghttp2_session_consume(c.ng.get(), id_, held);
    c.pump.kick();
  }
  std::erase(c.streams, this);
  c.active--;
  if (c.active == 0) c.idle_since = policy::Clock::now();
  if (c.pool) c.pool->stream_done(c);
}

void H2Stream::finish() { detach(); }

awaitable<std::tuple<error_code, std::size_t>> H2Stream::send_head(const http::RequestHead& req,
                                                                  const http::UpstreamRequest& up,
                                                                  std::string_view body, bool end) {
  auto& c = *conn_;
  if (c.state != H2Conn::State::ready || c.pump.ended() || c.goaway || timed_out_) {
    closed_ = true;
    close_code_ = timed_out_ ? NGHTTP2_CANCEL : NGHTTP2_REFUSED_STREAM;  // never sent: not processed
    co_return std::tuple{net::error::make_error_code(net::error::operation_aborted), std::size_t{0}};
  }
  http::Fields fields;
  http::build_upstream_fields(req, up, fields);
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size() + 4);
  nva.push_back(nv(":method", up.method));
  nva.push_back(nv(":scheme", c.tls ? "https" : "http"));
  nva.push_back(nv(":authority", up.host));
  nva.push_back(nv(":path", up.path_query));
  for (auto f : fields) nva.push_back(nv(f.name, f.value));
  out_.assign(body);
  out_off_ = 0;
  out_end_ = end;
  nghttp2_data_provider dp{};
  dp.read_callback = read_data;
  bool no_body = end && body.empty();
  id_ = nghttp2_submit_request(c.ng.get(), nullptr, nva.data(), nva.size(), no_body ? nullptr : &dp, this);
  if (id_ < 0) {
    // No stream id left on this connection (or out of memory): another connection takes it.
    id_ = -1;
    closed_ = true;
    close_code_ = NGHTTP2_REFUSED_STREAM;
    c.drain();
    co_return std::tuple{net::error::make_error_code(net::error::operation_aborted), std::size_t{0}};
  }
  c.pump.kick();
  co_return std::tuple{error_code{}, body.size()};
}

long H2Stream::read_body(std::uint8_t* buf, std::size_t length, std::uint32_t* flags) {
  auto n = std::min(length, out_.size() - out_off_);
  if (n) {
    std::memcpy(buf, out_.data() + out_off_, n);
    out_off_ += n;
    sent_any_body_ = true;
  }
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
    notify();  // send_body waits for the window to take its bytes
    if (out_end_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (out_trailers_) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nva;
        for (auto f : trailers_out_) nva.push_back(nv(f.name, f.value));
        nghttp2_submit_trailer(conn_->ng.get(), id_, nva.data(), nva.size());
      }
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;  // resumed by the next send_body
    }
  }
  return static_cast<long>(n);
}

awaitable<std::tuple<error_code, std::size_t>> H2Stream::send_body(std::span<const net::const_buffer> bufs,
                                                                  bool end) {
  std::size_t total = 0;
  for (auto& b : bufs) {
    out_.append(static_cast<const char*>(b.data()), b.size());
    total += b.size();
  }
  out_end_ = end;
  for (;;) {
    if (closed_ || timed_out_ || id_ < 0)
      co_return std::tuple{net::error::make_error_code(timed_out_ ? net::error::timed_out : net::error::connection_reset),
                           std::size_t{0}};
    nghttp2_session_resume_data(conn_->ng.get(), id_);
    conn_->pump.kick();
    if (out_.empty()) break;
    co_await wait();
  }
  co_return std::tuple{error_code{}, total};
}

awaitable<error_code> H2Stream::send_trailers(const http::Fields& trailers) {
  trailers_out_.clear();
  for (auto f : trailers) trailers_out_.add_lower(f.name, f.value);
  out_trailers_ = !trailers_out_.empty();
  std::array<net::const_buffer, 1> none{net::const_buffer()};
  auto [ec, n] = co_await send_body(std::span<const net::const_buffer>(none.data(), 0), true);
  co_return ec;
}

void H2Stream::on_header(std::string_view name, std::string_view value) {
  block_bytes_ += name.size() + value.size() + 32;
  if (block_bytes_ > kMaxHeaderList) {
    block_bad_ = true;
    return;
  }
  if (name == ":status") {
    int st = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), st);
    block_status_ = (ec == std::errc{} && p == value.data() + value.size() && value.size() == 3) ? st : -1;
    return;
  }
  if (!name.empty() && name.front() == ':') return;
  block_.add(name, value);
}

void H2Stream::on_headers_end(bool end_stream) {
  auto reset_block = [&] {
    block_.clear();
    block_status_ = 0;
    block_bytes_ = 0;
    block_bad_ = false;
  };
  if (block_bad_) {
    malformed_ = true;
    reset_block();
    cancel();
    notify();
    return;
  }
  if (!head_ready_) {
    if (block_status_ >= 100 && block_status_ < 200 && block_status_ != 101) {
      reset_block();  // interim response: wait for the final one
      return;
    }
    if (block_status_ < 200 || block_status_ > 999) {
      malformed_ = true;
      reset_block();
      cancel();
      notify();
      return;
    }
    std::swap(head_fields_, block_);
    head_.clear();
    head_.version_minor = 1;
    head_.status = block_status_;
    head_.keep_alive = true;
    for (auto f : head_fields_) head_.headers.push_back({f.name, f.value});
    auto cl = head_.header("content-length");
    std::uint64_t len = 0;
    bool has_len = !cl.empty() &&
                   std::from_chars(cl.data(), cl.data() + cl.size(), len).ptr == cl.data() + cl.size();
    if (has_len) head_.content_length = len;  // also what a HEAD answer announces
    if (end_stream || head_.status == 204 || head_.status == 304) {
      head_.body = http::BodyKind::none;
    } else if (has_len) {
      head_.body = http::BodyKind::length;
      head_.content_length = len;
    } else {
      head_.body = http::BodyKind::chunked;  // no length: the client gets it chunked
    }
    head_ready_ = true;
  } else {
    std::swap(trailers_, block_);  // trailers (nghttp2 checked they end the stream)
  }
  reset_block();
  if (end_stream) end_stream_ = true;
  notify();
}

void H2Stream::on_data(const std::uint8_t* data, std::size_t n) {
  rbuf_.append(reinterpret_cast<const char*>(data), n);
  notify();
}

void H2Stream::on_end_stream() {
  end_stream_ = true;
  notify();
}

void H2Stream::on_close(std::uint32_t code) {
  if (!closed_ || !close_code_) close_code_ = code;
  // Refused: the request goes again on another connection (SPEC §9); this one takes no new stream.
  if (code == NGHTTP2_REFUSED_STREAM && !head_ready_) conn_->drain();
  closed_ = true;
  notify();
}

void H2Stream::on_conn_lost() {
  if (!closed_) {
    closed_ = true;
    // A request that never left was not processed; one that did may have been.
    close_code_ = headers_sent_ ? NGHTTP2_INTERNAL_ERROR : NGHTTP2_REFUSED_STREAM;
  }
  notify();
}

awaitable<H2Stream::Head> H2Stream::read_head() {
  for (;;) {
    if (head_ready_) co_return Head::response;
    if (timed_out_) co_return Head::failed;
    if (malformed_) co_return Head::malformed;
    if (closed_) {
      if (refused()) co_return Head::refused;
      co_return close_code_ == NGHTTP2_PROTOCOL_ERROR ? Head::malformed : Head::failed;
    }
    co_await wait();
  }
}

awaitable<H2Stream::Step> H2Stream::next_body(std::string_view& piece) {
  if (!piece_.empty()) {
    if (id_ >= 0 && conn_->ng) {
      nghttp2_session_consume(conn_->ng.get(), id_, piece_.size());  // the proxy took it: the window opens
      conn_->pump.kick();
    }
    piece_.clear();
  }
  for (;;) {
    if (!rbuf_.empty()) {
      std::swap(rbuf_, piece_);
      piece = piece_;
      co_return Step::piece;
    }
    if (end_stream_) co_return Step::end;
    if (closed_ || timed_out_ || malformed_) co_return Step::error;
    co_await wait();
  }
}

// ---------------------------------------------------------------- H2Pool

H2Pool::H2Pool(net::any_io_executor ex, std::shared_ptr<UpstreamShared> up, UpstreamPool& owner)
    : ex_(std::move(ex)), up_(std::move(up)), owner_(owner) {}

H2Pool::~H2Pool() {
  for (auto& c : conns_) {
    c->pool = nullptr;
    c->pump.stop();
  }
  for (auto* t : waiters_) t->cancel();
}

void H2Pool::notify() {
  for (auto* t : waiters_) t->cancel();
}

awaitable<bool> H2Pool::wait(TimePoint deadline) {
  net::steady_timer t(ex_, deadline);
  waiters_.push_back(&t);
  auto [ec] = co_await t.async_wait(use_nothrow);
  std::erase(waiters_, &t);
  co_return ec == net::error::operation_aborted && policy::Clock::now() < deadline;
}

void H2Pool::recount_idle() {
  int n = 0;
  for (auto& c : conns_)
    if (c->state == H2Conn::State::ready && c->active == 0 && !c->closing) ++n;
  idle_count_.store(n, std::memory_order_relaxed);
}

bool H2Pool::take_any(std::size_t ep, bool any_endpoint, Opened& out) {
  for (auto& c : conns_) {
    if ((c->endpoint != ep && !any_endpoint) || !c->open_for_streams()) continue;
    out.stream = UpstreamStream(std::make_shared<H2Stream>(owner_.shared_from_this(), c));
    out.address = up_->names[c->endpoint];
    recount_idle();
    return true;
  }
  return false;
}

bool H2Pool::take_stream(std::size_t ep, Opened& out) { return take_any(ep, false, out); }

awaitable<Opened> H2Pool::connect_stream(TimePoint deadline, std::size_t ep) {
  Opened out;
  out.address = up_->names[ep];
  for (;;) {
    if (up_->retired.load(std::memory_order_relaxed)) {
      out.failure = policy::AttemptKind::connect_failure;
      co_return out;
    }
    if (take_any(ep, false, out)) co_return out;
    // One connection per endpoint at a time is being opened; the others wait for it.
    bool opening = std::any_of(conns_.begin(), conns_.end(), [&](auto& c) {
      return c->endpoint == ep && c->state == H2Conn::State::connecting;
    });
    if (opening) {
      if (!co_await wait(deadline)) break;
      continue;
    }
    if (!up_->try_take_slot()) {
      // At max_connections: room on an open connection of this worker (a stream
      // finishing), else a slot (first come, first served, idle ones evicted).
      bool any_open = std::any_of(conns_.begin(), conns_.end(), [](auto& c) {
        return c->state != H2Conn::State::closed && !c->goaway;
      });
      if (any_open) {
        if (take_any(ep, true, out)) co_return out;
        if (!co_await wait(deadline)) break;
        continue;
      }
      if (!co_await up_->take_slot(ex_, deadline)) break;
    }
    auto c = std::make_shared<H2Conn>(ex_, up_, ep, this);
    conns_.push_back(c);
    bool ok = co_await establish(c, deadline);
    if (!ok) {
      bool timed_out = policy::Clock::now() >= deadline;
      std::erase(conns_, c);
      c->pool = nullptr;
      c->state = H2Conn::State::closed;
      c->pump.stop();
      notify();
      if (timed_out) break;
      out.failure = policy::AttemptKind::connect_failure;
      out.address = up_->names[ep];
      if (up_->cfg.endpoints.size() > 1)
        up_->failed_until[ep].store(ns(policy::Clock::now() + kEndpointPenalty), std::memory_order_relaxed);
      co_return out;
    }
    up_->failed_until[ep].store(0, std::memory_order_relaxed);
    notify();
    if (take_any(ep, false, out)) co_return out;
    // Taken by those who waited for it: go round (another connection, or wait).
  }
  out.stream = UpstreamStream();
  out.failure = policy::AttemptKind::timeout;
  out.address = up_->names[ep];
  co_return out;
}

awaitable<bool> H2Pool::establish(std::shared_ptr<H2Conn> c, TimePoint deadline) {
  auto& target = up_->cfg.endpoints[c->endpoint];
  auto connect_deadline = std::min(deadline, policy::Clock::now() + up_->cfg.connect_timeout);
  std::optional<io::TlsClient> tls;
  if (up_->tls) tls = io::TlsClient{up_->tls, up_->cfg.sni.empty() ? target.host : up_->cfg.sni, up_->cfg.verify, "h2"};
  auto r = co_await io::connect(c->stream, target.host, target.port, connect_deadline, tls ? &*tls : nullptr);
  if (r.in_tls && !r.timed_out)
    log_warn("TLS handshake with upstream " + up_->cfg.name + " at " + target.str() + " failed: " + r.ec.message());
  if (!r.ok()) co_return false;
  if (tls && r.alpn != "h2") {
    log_warn("upstream " + up_->cfg.name + " at " + target.str() + " did not select \"h2\" in ALPN" +
             (r.alpn.empty() ? std::string() : " (it chose \"" + r.alpn + "\")"));
    co_return false;
  }
  c->tls = static_cast<bool>(tls);
  nghttp2_session* ng = nullptr;
  auto opts = http::h2::make_options();
  if (nghttp2_session_client_new2(&ng, callbacks(), c.get(), opts.get()) != 0) co_return false;
  c->ng.reset(ng);
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(http::h2::kStreamWindow)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(kMaxHeaderList)},
  };
  nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, std::size(iv));
  nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, http::h2::kConnectionWindow);
  net::co_spawn(ex_, run_conn(c), [](std::exception_ptr e) {
    if (e) log_error("an HTTP/2 upstream connection ended with an exception");
  });
  // The server's SETTINGS (its stream limit) before the first stream goes out.
  while (!c->settings_seen && !c->pump.ended() && c->state == H2Conn::State::connecting) {
    if (!co_await wait(connect_deadline)) break;
  }
  if (!c->settings_seen || c->pump.ended() || c->state != H2Conn::State::connecting) co_return false;
  c->state = H2Conn::State::ready;
  if (c->limit() == 0) {
    log_warn("upstream " + up_->cfg.name + " at " + target.str() + " allows no HTTP/2 stream");
    c->drain();
    co_return false;
  }
  c->idle_since = policy::Clock::now();
  recount_idle();
  co_return true;
}

void H2Pool::stream_done(H2Conn& c) {
  if (c.active == 0 && (c.goaway || up_->retired.load(std::memory_order_relaxed) || up_->contended()))
    c.drain();  // a waiter elsewhere gets its slot once it closes
  recount_idle();
  notify();
}

void H2Pool::conn_ready(H2Conn&) { notify(); }

void H2Pool::conn_closed(H2Conn& c) {
  c.pool = nullptr;
  std::erase_if(conns_, [&](auto& p) { return p.get() == &c; });
  recount_idle();
  notify();
}

void H2Pool::sweep(TimePoint now) {
  bool retired = up_->retired.load(std::memory_order_relaxed);
  for (auto& c : conns_) {
    if (c->state != H2Conn::State::ready || c->active > 0) continue;
    if (retired || c->goaway || now - c->idle_since >= up_->cfg.idle_timeout) c->drain();
  }
  recount_idle();
}

void H2Pool::evict_one() {
  H2Conn* oldest = nullptr;
  for (auto& c : conns_)
    if (c->state == H2Conn::State::ready && c->active == 0 && !c->closing &&
        (!oldest || c->idle_since < oldest->idle_since))
      oldest = c.get();
  if (oldest) oldest->drain();
  recount_idle();
}

}  // namespace breakwater::upstream

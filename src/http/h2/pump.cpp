#include "breakwater/http/h2/pump.hpp"

namespace breakwater::http::h2 {

awaitable<void> Pump::run(nghttp2_session* session, std::string initial) {
  ng_ = session;
  writing_ = true;
  net::co_spawn(ex_, writer(), [this](std::exception_ptr) {
    writing_ = false;
    if (joined_) wake(ex_, join_);
  });
  co_await reader(std::move(initial));
  if (writing_) co_await park([this](Wake w) {
    joined_ = true;
    hold(join_, std::move(w));
  });
  ended_ = true;
}

void Pump::kick() {
  if (parked_) {
    parked_ = false;
    wake(ex_, wake_);
  }
}

void Pump::finish() {
  finishing_ = true;
  kick();
}

void Pump::stop() {
  ended_ = true;
  stream_.close();
  kick();
}

bool Pump::feed(const char* data, std::size_t n) {
  auto rv = nghttp2_session_mem_recv(ng_, reinterpret_cast<const std::uint8_t*>(data), n);
  kick();
  if (rv < 0) {
    // A fatal error (bad preface, a flood nghttp2 caught): nghttp2 queues no GOAWAY for
    // it, so one says why (RFC 9113 §5.4.1), and what is queued still goes out.
    bool flood = rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
    nghttp2_session_terminate_session(ng_, flood                               ? NGHTTP2_ENHANCE_YOUR_CALM
                                           : rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC ? NGHTTP2_PROTOCOL_ERROR
                                                                                : NGHTTP2_INTERNAL_ERROR);
    finish();
    return false;
  }
  return true;
}

awaitable<void> Pump::reader(std::string initial) {
  if (!initial.empty() && !feed(initial.data(), initial.size())) co_return;
  std::string buf(16 * 1024, '\0');
  while (!ended_ && !finishing_) {
    auto [ec, n] = co_await stream_.read_some(net::buffer(buf));
    if (ec) break;
    if (!feed(buf.data(), n)) co_return;
    if (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_)) break;
  }
  // The peer is gone (or we are): the writer ends once nothing more can be sent.
  if (!finishing_) ended_ = true;
  kick();
}

awaitable<void> Pump::writer() {
  while (!ended_ || finishing_) {
    wbuf_.clear();
    wbuf_.swap(first_);
    for (;;) {
      const std::uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(ng_, &data);
      if (n < 0) {
        stop();
        co_return;
      }
      if (n == 0) break;
      wbuf_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      if (wbuf_.size() >= 64 * 1024) break;
    }
    if (wbuf_.empty()) {
      bool wants = nghttp2_session_want_read(ng_) || nghttp2_session_want_write(ng_);
      if (finishing_ || !wants || ended_) break;
      parked_ = true;
      co_await park([this](Wake w) { hold(wake_, std::move(w)); });
      continue;
    }
    auto [ec, written] = co_await stream_.write(net::buffer(wbuf_));
    if (ec) break;
  }
  ended_ = true;
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.close();  // the reader's pending read ends
}

}  // namespace breakwater::http::h2

#include "breakwater/io/connect.hpp"

#include <boost/asio/connect.hpp>

namespace breakwater::io {

awaitable<Connected> connect(Stream& s, std::string_view host, std::uint16_t port, policy::TimePoint deadline,
                             const TlsClient* tls) {
  Connected out;
  auto ex = s.socket().get_executor();
  // The deadline closes the socket: whatever step is under way then fails. A late
  // expiry (already queued when we are done) finds `stream` cleared and does nothing.
  struct Guard {
    Stream* stream;
    bool fired = false;
  };
  auto g = std::make_shared<Guard>(Guard{&s});
  net::steady_timer guard(ex, deadline);
  guard.async_wait([g](error_code ec) {
    if (ec || !g->stream) return;
    g->fired = true;
    g->stream->close();
  });
  auto fired = [&] { return g->fired; };
  auto addr = net::ip::make_address(host, out.ec);
  if (!out.ec) {
    std::tie(out.ec) = co_await s.socket().async_connect(tcp::endpoint(addr, port), use_nothrow);
  } else {
    tcp::resolver resolver(ex);
    auto [rec, results] = co_await resolver.async_resolve(host, std::to_string(port), use_nothrow);
    out.ec = rec;
    if (!out.ec && !fired()) std::tie(out.ec, std::ignore) = co_await net::async_connect(s.socket(), results, use_nothrow);
  }
  if (!out.ec && !fired()) {
    error_code ignored;
    s.socket().set_option(tcp::no_delay(true), ignored);
    if (tls) {
      out.ec = co_await s.tls_connect(tls->ctx, tls->sni, tls->verify, tls->alpn);
      out.in_tls = static_cast<bool>(out.ec);
      if (!out.ec) out.alpn = std::string(s.alpn());
    }
  }
  guard.cancel();
  g->stream = nullptr;
  out.timed_out = g->fired;
  if (out.timed_out && !out.ec) out.ec = net::error::timed_out;
  co_return out;
}

}  // namespace breakwater::io

#pragma once
// A TCP connection that may speak TLS. Reads and writes go to the socket or to
// the OpenSSL stream over it; either way they are awaitables of (error, bytes).
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "breakwater/io/asio.hpp"

namespace breakwater::io {

class Stream final {
 public:
  explicit Stream(tcp::socket sock) : sock_(std::move(sock)) {}
  explicit Stream(const net::any_io_executor& ex) : sock_(ex) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  tcp::socket& socket() { return sock_; }
  [[nodiscard]] bool is_tls() const { return tls_ != nullptr; }
  // The protocol ALPN selected ("h2", "http/1.1"), empty without TLS or ALPN.
  [[nodiscard]] std::string_view alpn() const;

  // Client side: SNI and, when `verify`, peer + host-name verification against `ctx`;
  // `alpn`, a protocol to offer ("h2"), none when empty.
  awaitable<error_code> tls_connect(std::shared_ptr<net::ssl::context> ctx, std::string sni, bool verify,
                                    std::string alpn = {});
  // Server side (listener TLS termination).
  awaitable<error_code> tls_accept(std::shared_ptr<net::ssl::context> ctx);

  template <class MutableBuffers>
  awaitable<std::tuple<error_code, std::size_t>> read_some(const MutableBuffers& b) {
    if (tls_) return tls_->async_read_some(b, use_nothrow);
    return sock_.async_read_some(b, use_nothrow);
  }
  // Writes all of `b`. Without TLS the bytes go out at once when the socket takes
  // them (the usual case on a keep-alive connection): no asynchronous operation, no
  // trip through the event loop. Only what the socket did not take waits for it.
  template <class ConstBuffers>
  awaitable<std::tuple<error_code, std::size_t>> write(ConstBuffers b) {
    if (tls_) co_return co_await net::async_write(*tls_, b, use_nothrow);
    error_code ec;
    std::size_t done = write_now(b, ec);
    if (ec || done == net::buffer_size(b)) co_return std::tuple<error_code, std::size_t>{ec, done};
    std::vector<net::const_buffer> rest;  // the socket was full: the rest waits for it
    std::size_t skip = done;
    for (auto it = net::buffer_sequence_begin(b); it != net::buffer_sequence_end(b); ++it) {
      net::const_buffer piece = *it;
      if (skip >= piece.size()) {
        skip -= piece.size();
        continue;
      }
      rest.push_back(piece + skip);
      skip = 0;
    }
    auto [ec2, n] = co_await net::async_write(sock_, rest, use_nothrow);
    co_return std::tuple<error_code, std::size_t>{ec2, done + n};
  }
  // What the socket takes of `b` at once, without waiting (TCP only: 0 with TLS).
  // `ec` is set for a failed socket, never for a full one.
  template <class ConstBuffers>
  std::size_t write_now(const ConstBuffers& b, error_code& ec) {
    ec = {};
    if (tls_) return 0;
    if (!sock_.non_blocking()) sock_.non_blocking(true, ec);  // a would-block answer, never a blocking wait
    std::size_t n = ec ? 0 : sock_.write_some(b, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) ec = {};
    return n;
  }
  // The same with any completion token (a callback writer).
  template <class ConstBuffers, class Token>
  auto async_write(const ConstBuffers& b, Token&& token) {
    if (tls_) return net::async_write(*tls_, b, std::forward<Token>(token));
    return net::async_write(sock_, b, std::forward<Token>(token));
  }
  // Completes when the socket has bytes to read (or fails); reads nothing.
  awaitable<std::tuple<error_code>> wait_readable() { return sock_.async_wait(tcp::socket::wait_read, use_nothrow); }
  void close() {
    error_code ec;
    sock_.close(ec);
  }
  // A fresh socket for a new connection (a client that reconnects keeps its Stream).
  void reset() {
    close();
    tls_.reset();
    ctx_.reset();
    sock_ = tcp::socket(sock_.get_executor());
  }

 private:
  tcp::socket sock_;
  std::shared_ptr<net::ssl::context> ctx_;  // kept alive as long as the stream
  std::unique_ptr<net::ssl::stream<tcp::socket&>> tls_;
};

// A client context: the system trust store or `ca_file`; verification on unless `verify` is false.
std::shared_ptr<net::ssl::context> make_client_tls(const std::string& ca_file, bool verify);
// A server context from a certificate chain and key (PEM). Throws on bad files.
// ALPN: "h2" (when `h2`) and "http/1.1".
std::shared_ptr<net::ssl::context> make_server_tls(const std::string& cert, const std::string& key, bool h2 = false);

}  // namespace breakwater::io

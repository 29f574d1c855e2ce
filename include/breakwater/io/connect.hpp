#pragma once
// The one way out to a peer, for upstream pools and Redis clients alike:
// resolve (when the host is a name), connect, TCP_NODELAY and, with TLS, the
// handshake with SNI and peer + host-name verification, all by one deadline.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "breakwater/io/asio.hpp"
#include "breakwater/io/stream.hpp"
#include "breakwater/policy/time.hpp"

namespace breakwater::io {

struct TlsClient {
  std::shared_ptr<net::ssl::context> ctx;  // make_client_tls()
  std::string sni;                         // also the name verified against the certificate
  bool verify = true;
  std::string alpn;  // a protocol to offer in ALPN ("h2"), or none
};

struct Connected {
  error_code ec;           // set on any failure
  bool timed_out = false;  // the deadline passed first (the socket was closed)
  bool in_tls = false;     // the TCP connection came up and the TLS handshake failed
  std::string alpn;        // the protocol the server selected in ALPN, if any
  [[nodiscard]] bool ok() const { return !ec && !timed_out; }
};

// `s` must hold a fresh (closed) socket of the caller's executor.
awaitable<Connected> connect(Stream& s, std::string_view host, std::uint16_t port, policy::TimePoint deadline,
                             const TlsClient* tls);

}  // namespace breakwater::io

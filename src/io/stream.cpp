#include "breakwater/io/stream.hpp"

#include <boost/asio/ssl/host_name_verification.hpp>

namespace breakwater::io {

awaitable<error_code> Stream::tls_connect(std::shared_ptr<net::ssl::context> ctx, std::string sni, bool verify,
                                          std::string alpn) {
  ctx_ = std::move(ctx);
  tls_ = std::make_unique<net::ssl::stream<tcp::socket&>>(sock_, *ctx_);
  if (!alpn.empty() && alpn.size() < 256) {
    std::string wire(1, static_cast<char>(alpn.size()));
    wire.append(alpn);
    SSL_set_alpn_protos(tls_->native_handle(), reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  error_code not_ip;
  // SNI is for names only; an IP literal is verified against the certificate's IP SANs.
  (void)net::ip::make_address(sni, not_ip);
  if (not_ip) SSL_set_tlsext_host_name(tls_->native_handle(), sni.c_str());
  if (verify) {
    tls_->set_verify_mode(net::ssl::verify_peer);
    tls_->set_verify_callback(net::ssl::host_name_verification(sni));
  } else {
    tls_->set_verify_mode(net::ssl::verify_none);
  }
  auto [hec] = co_await tls_->async_handshake(net::ssl::stream_base::client, use_nothrow);
  co_return hec;
}

awaitable<error_code> Stream::tls_accept(std::shared_ptr<net::ssl::context> ctx) {
  ctx_ = std::move(ctx);
  tls_ = std::make_unique<net::ssl::stream<tcp::socket&>>(sock_, *ctx_);
  auto [ec] = co_await tls_->async_handshake(net::ssl::stream_base::server, use_nothrow);
  co_return ec;
}

std::shared_ptr<net::ssl::context> make_client_tls(const std::string& ca_file, bool verify) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
  if (verify) {
    if (ca_file.empty())
      ctx->set_default_verify_paths();
    else
      ctx->load_verify_file(ca_file);
  }
  return ctx;
}

std::string_view Stream::alpn() const {
  if (!tls_) return {};
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(tls_->native_handle(), &p, &len);
  return {reinterpret_cast<const char*>(p), len};
}

namespace {

// ALPN on a listener: "h2" when it serves HTTP/2 and the client offers it, else "http/1.1".
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                void* arg) {
  bool h2 = arg != nullptr;
  auto offered = [&](std::string_view proto) {
    for (unsigned i = 0; i < inlen;) {
      unsigned n = in[i];
      if (i + 1 + n > inlen) return false;
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), n) == proto) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(n);
        return true;
      }
      i += 1 + n;
    }
    return false;
  };
  if ((h2 && offered("h2")) || offered("http/1.1")) return SSL_TLSEXT_ERR_OK;
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

std::shared_ptr<net::ssl::context> make_server_tls(const std::string& cert, const std::string& key, bool h2) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                   net::ssl::context::single_dh_use);
  ctx->use_certificate_chain_file(cert);
  ctx->use_private_key_file(key, net::ssl::context::pem);
  static int on;  // any non-null argument: h2 offered
  SSL_CTX_set_alpn_select_cb(ctx->native_handle(), select_alpn, h2 ? &on : nullptr);
  return ctx;
}

}  // namespace breakwater::io

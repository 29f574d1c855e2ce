#include "breakwater/admin/admin.hpp"

#include "breakwater/admin/status_page.hpp"

#include "breakwater/http/buffer.hpp"
#include "breakwater/http/h1/head_writer.hpp"
#include "breakwater/http/text.hpp"
#include "breakwater/io/watchdog.hpp"
#include "breakwater/http/h1/parser.hpp"
#include "breakwater/log.hpp"

namespace breakwater::admin {
namespace {

// The status page's own inline script and style, and fetches of /stats from the same origin; nothing else.
constexpr std::string_view kPagePolicy =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace

// One admin connection and the watchdog that closes it when a deadline passes.
struct Admin::Conn : std::enable_shared_from_this<Admin::Conn> {
  explicit Conn(tcp::socket s) : sock(std::move(s)), watchdog(sock.get_executor()) {}
  void deadline_in(policy::Duration d) {
    watchdog.set(policy::Clock::now() + d, *this, [](Conn& c) {
      error_code ec;
      c.sock.close(ec);
    });
  }
  tcp::socket sock;
  io::Watchdog watchdog;
};

Admin::Admin(const ServerView& server, net::io_context& ctx, const config::HostPort& bind)
    : server_(server), ctx_(ctx), acceptor_(ctx) {
  tcp::endpoint ep(net::ip::make_address(bind.host), bind.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen();
}

void Admin::start() {
  net::co_spawn(ctx_, accept_loop(), net::detached);
}

void Admin::stop() {
  error_code ec;
  acceptor_.close(ec);
}

awaitable<void> Admin::accept_loop() {
  for (;;) {
    auto [ec, sock] = co_await acceptor_.async_accept(use_nothrow);
    if (ec) {
      if (!acceptor_.is_open()) co_return;
      continue;
    }
    if (*open_ >= kMaxConnections) {  // full: closed at once, the peer sees EOF
      error_code ignored;
      sock.close(ignored);
      continue;
    }
    ++*open_;
    net::co_spawn(ctx_, serve(this, std::make_shared<Conn>(std::move(sock)), open_), net::detached);
  }
}

std::string Admin::answer(std::string_view method, std::string_view path, int& status, std::string& type) {
  status = 200;
  type = "text/plain; charset=utf-8";
  if (method != "GET" && method != "HEAD") {
    status = 405;
    return "method not allowed\n";
  }
  if (path == "/metrics") {
    type = "text/plain; version=0.0.4; charset=utf-8";
    return server_.metrics();
  }
  if (path == "/ready") {
    if (server_.draining()) {
      status = 503;
      return "draining\n";
    }
    return "ready\n";
  }
  if (path == "/live") return "live\n";
  if (path == "/routes") {
    type = "application/json";
    return server_.routes();
  }
  if (path == "/stats") {
    type = "application/json";
    return server_.stats();
  }
  if (path == "/") {
    type = "text/html; charset=utf-8";
    return std::string(status_page());
  }
  status = 404;
  return "not found\n";
}

awaitable<void> Admin::serve(Admin* self, std::shared_ptr<Conn> conn, std::shared_ptr<std::size_t> open) {
  struct Count {
    std::shared_ptr<std::size_t> open;
    ~Count() { --*open; }
  } count{std::move(open)};
  auto& sock = conn->sock;
  http::ByteBuffer buf(4096);
  http::RequestHead head;
  for (;;) {
    // Idle until a request's first byte; then its whole head within the header timeout.
    conn->deadline_in(buf.empty() ? policy::Duration(kIdleTimeout) : policy::Duration(kHeaderTimeout));
    std::size_t scanned = 0, len = 0;
    while (!(len = http::h1::find_head_end(buf.view(), scanned))) {
      if (buf.size() > 16 * 1024) co_return;
      bool idle = buf.empty();
      auto [p, room] = buf.prepare(4096);
      auto [ec, n] = co_await sock.async_read_some(net::buffer(p, room), use_nothrow);
      if (ec) co_return;
      buf.commit(n);
      if (idle && n) conn->deadline_in(kHeaderTimeout);  // the first byte: the header clock starts
    }
    conn->deadline_in(kIdleTimeout);  // answering, and a peer that does not read
    std::string raw(buf.view().substr(0, len));
    buf.consume(len);
    int status = 400;
    std::string type = "text/plain; charset=utf-8", body = "bad request\n";
    bool keep = false;
    if (http::h1::parse_request_head(raw, head) == http::h1::WireError::none && head.body == http::BodyKind::none) {
      auto path = head.target.substr(0, head.target.find('?'));
      body = self->answer(head.method, path, status, type);
      keep = head.keep_alive;
    }
    std::string out;
    http::h1::HeadWriter w(out);
    w.status_line(1, status).field("Content-Type", type).field("Content-Length", body.size());
    w.field("Cache-Control", "no-store");  // live state: never an old copy
    // The page loads nothing from anywhere, and the browser holds it to that.
    if (type.starts_with("text/html")) w.field("Content-Security-Policy", kPagePolicy);
    w.connection(keep, 1).end();
    if (head.method == "HEAD") body.clear();
    std::array<net::const_buffer, 2> bufs{net::buffer(out), net::buffer(body)};
    auto [ec, n] = co_await net::async_write(sock, bufs, use_nothrow);
    if (ec || !keep) co_return;
  }
}

}  // namespace breakwater::admin

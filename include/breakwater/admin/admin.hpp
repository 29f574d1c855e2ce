#pragma once
// The admin listener: /metrics, /ready, /live, /routes, /stats and the status
// page at /. It stays up while draining.
// Like a listener with the default timeouts (header 10s, idle 60s), and it holds
// at most 256 connections (SPEC §5), so no peer can exhaust the process's descriptors.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "breakwater/config/model.hpp"
#include "breakwater/admin/view.hpp"
#include "breakwater/io/asio.hpp"

namespace breakwater::admin {

class Admin final {
 public:
  static constexpr std::chrono::seconds kHeaderTimeout{10};
  static constexpr std::chrono::seconds kIdleTimeout{60};
  static constexpr std::size_t kMaxConnections = 256;

  Admin(const ServerView& server, net::io_context& ctx, const config::HostPort& bind);
  void start();
  void stop();

 private:
  awaitable<void> accept_loop();
  struct Conn;
  static awaitable<void> serve(Admin* self, std::shared_ptr<Conn> conn, std::shared_ptr<std::size_t> open);
  std::string answer(std::string_view method, std::string_view path, int& status, std::string& type);

  const ServerView& server_;
  net::io_context& ctx_;
  tcp::acceptor acceptor_;
  // Connections open now; shared with each connection's coroutine, which may outlive this object.
  std::shared_ptr<std::size_t> open_ = std::make_shared<std::size_t>(0);
};

}  // namespace breakwater::admin

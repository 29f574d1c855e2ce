#pragma once
// The admin listener: /metrics, /ready, /live, /routes. It stays up while draining.
#include <memory>
#include <string>

#include "breakwater/config/model.hpp"
#include "breakwater/http/io.hpp"

namespace breakwater::proxy {
class Server;
}

namespace breakwater::admin {

class Admin final {
 public:
  Admin(proxy::Server& server, net::io_context& ctx, const config::HostPort& bind);
  void start();
  void stop();

 private:
  awaitable<void> accept_loop();
  static awaitable<void> serve(Admin* self, tcp::socket sock);
  std::string answer(std::string_view method, std::string_view path, int& status, std::string& type);

  proxy::Server& server_;
  net::io_context& ctx_;
  tcp::acceptor acceptor_;
};

}  // namespace breakwater::admin

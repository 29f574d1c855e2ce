#pragma once
// One pipelined Redis connection on a worker's event loop: hiredis formats
// commands and parses replies, Asio moves the bytes. Many commands are in
// flight at once and replies are matched in order. Every call is bounded by
// the store timeout; the connection reconnects by itself with backoff.
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "breakwater/http/io.hpp"
#include "breakwater/policy/time.hpp"
#include "breakwater/config/redis_url.hpp"
#include "breakwater/store/redis_reply.hpp"

namespace breakwater::store {


class RedisConnection final : public std::enable_shared_from_this<RedisConnection> {
 public:
  RedisConnection(net::any_io_executor ex, config::RedisUrl url, policy::Duration timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  void start();
  void stop();  // thread-safe
  // nullopt: not connected, timed out, or the connection dropped before the reply.
  awaitable<std::optional<RedisReply>> call(std::vector<std::string> args);
  awaitable<std::optional<RedisReply>> call(std::vector<std::string> args, policy::Duration timeout);
  // The same for a command already in RESP form (see format_command); saves copies on the hot path.
  awaitable<std::optional<RedisReply>> call_formatted(std::string_view resp, policy::Duration timeout);
  // Formats argv as a RESP command (hiredis' formatter) and appends it to `out`.
  static void format_command(std::string& out, const std::string_view* argv, std::size_t argc);
  [[nodiscard]] bool ready() const { return ready_; }

 private:
  struct Pending;
  static awaitable<void> run(std::shared_ptr<RedisConnection> self);
  static awaitable<void> write_loop(std::shared_ptr<RedisConnection> self);
  static awaitable<void> handshake(std::shared_ptr<RedisConnection> self, std::uint64_t generation);
  awaitable<bool> connect();
  awaitable<void> read_replies();
  awaitable<std::optional<RedisReply>> send(std::vector<std::string> args, policy::Duration timeout);
  awaitable<std::optional<RedisReply>> send_formatted(std::string_view resp, policy::Duration timeout);
  void fail_all();
  void close();

  net::any_io_executor ex_;
  config::RedisUrl url_;
  policy::Duration timeout_;
  tcp::socket sock_;
  std::unique_ptr<net::ssl::context> tls_ctx_;
  std::unique_ptr<net::ssl::stream<tcp::socket&>> tls_;
  net::steady_timer backoff_timer_;
  std::string outbuf_, wbuf_;
  std::deque<std::shared_ptr<Pending>> inflight_;
  bool writing_ = false;
  bool connected_ = false;
  bool ready_ = false;
  bool stopped_ = false;
  std::uint64_t generation_ = 0;
};

}  // namespace breakwater::store

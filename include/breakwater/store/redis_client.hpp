#pragma once
// How the Redis store reaches Redis: one RedisClient per worker, running a
// script for one key on the node that holds that key (one node today; a
// cluster client routes by the key's hash slot, a sentinel client follows the
// master). Calls are pipelined and those of one event-loop turn leave in one
// write; each ends within store.timeout with a reply or a StoreError.
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "breakwater/config/model.hpp"
#include "breakwater/config/redis_url.hpp"
#include "breakwater/io/asio.hpp"
#include "breakwater/store/hash.hpp"
#include "breakwater/store/redis_reply.hpp"
#include "breakwater/store/result.hpp"

namespace breakwater::store {

// A Lua script and its SHA-1 (for EVALSHA), computed once, on first use: a
// process that never talks to Redis never loads OpenSSL's digests (~1.5 MiB
// of resident pages).
class RedisScript final {
 public:
  explicit RedisScript(std::string src) : source(std::move(src)) {}
  const std::string source;
  [[nodiscard]] const std::string& sha() const {
    std::call_once(once_, [this] { sha_ = sha1_hex(source); });
    return sha_;
  }

 private:
  mutable std::once_flag once_;
  mutable std::string sha_;
};

class RedisClient {
 public:
  virtual ~RedisClient() = default;
  // Runs `script` with KEYS[1] = `key` and ARGV = `args` (EVALSHA; the full
  // script once after NOSCRIPT). `evalsha`, when not empty, is that very
  // EVALSHA command already in RESP form (the caller caches it). The views
  // live through the call. An error reply is StoreError::unavailable
  // (redirect: MOVED or ASK that was not followed).
  virtual awaitable<Result<RedisReply>> eval(const RedisScript& script, std::string_view key,
                                             std::span<const std::string_view> args, std::string_view evalsha) = 0;
  // The worker executor every call runs on.
  [[nodiscard]] virtual const net::any_io_executor& executor() const = 0;
  // Connected and answering.
  [[nodiscard]] virtual bool ready() const = 0;
  // Thread-safe; calls made after it fail.
  virtual void stop() = 0;
};

// RESP, as hiredis formats it: argv as one command, appended to `out`.
void format_command(std::string& out, const std::string_view* argv, std::size_t argc);
// One argument in RESP form ($len CRLF bytes CRLF), as format_command writes each.
void append_bulk(std::string& out, std::string_view arg);
// EVALSHA sha 1 key args... (with `full`: EVAL source 1 key args...),
// appended to `out` (at most 8 args).
void format_eval(std::string& out, const RedisScript& script, std::string_view key,
                 std::span<const std::string_view> args, bool full = false);

// The client for `cfg` on one worker's executor, already connecting: one node,
// a cluster from its seeds, or the master the sentinels name (`hosts`: the url's).
std::unique_ptr<RedisClient> make_redis_client(const config::StoreConfig& cfg, std::vector<config::RedisUrl> hosts,
                                               net::any_io_executor ex);

}  // namespace breakwater::store

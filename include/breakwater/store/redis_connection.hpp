#pragma once
// One pipelined Redis connection on a worker's event loop: hiredis formats
// commands and parses replies, Asio moves the bytes. Many commands are in
// flight at once and replies are matched in order. Every call is bounded by
// the store timeout (one deadline timer per connection, not one per call);
// the connection reconnects by itself with backoff, also when it stops
// answering while its socket stays open (a black hole) and when Redis answers
// -READONLY (a demoted master). Commands queued during one turn of the event
// loop leave in one write.
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>


#include "breakwater/io/asio.hpp"
#include "breakwater/io/slot_allocator.hpp"
#include "breakwater/io/stream.hpp"
#include "breakwater/policy/time.hpp"
#include "breakwater/config/redis_url.hpp"
#include "breakwater/store/redis_reply.hpp"
#include "breakwater/store/result.hpp"

namespace breakwater::store {

// Memory for one asynchronous operation at a time (the connection's write, or
// its read): an operation that fits takes the slab, any other one the heap.
// Asio would otherwise take these from its per-thread recycling cache, a few
// slots shared with the proxy's own socket operations, whose blocks then stop
// fitting and are freed and allocated again (about one malloc per request).
class OpSlab final {
 public:
  void* allocate(std::size_t n) {
    if (!used_ && n <= sizeof storage_) {
      used_ = true;
      return storage_;
    }
    return ::operator new(n);
  }
  void deallocate(void* p) {
    if (p == storage_)
      used_ = false;
    else
      ::operator delete(p);
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[384];
  bool used_ = false;
};

// The allocator a handler is bound to (net::bind_allocator) to use an OpSlab.
// The slab must outlive the operation: a connection's own, the operation
// holding the connection (asio frees an operation's memory before its handler).
template <class T>
using SlabAllocator = io::SlotAllocator<T, OpSlab>;

class RedisConnection final : public std::enable_shared_from_this<RedisConnection> {
 public:
  RedisConnection(net::any_io_executor ex, config::RedisUrl url, policy::Duration timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  void start();
  void stop();  // thread-safe
  // A command in RESP form (see format_command), answered within `timeout`:
  // unavailable when not connected or the connection dropped before the reply.
  // `leading`: that many commands come first in `resp` (ASKING before a
  // command for a slot being imported); their replies are discarded.
  awaitable<Result<RedisReply>> call_formatted(std::string_view resp, policy::Duration timeout, unsigned leading = 0);
  // A sentinel may ask for no password: then the url's credentials are not needed (SPEC §6).
  void set_auth_optional() { auth_optional_ = true; }
  // Before start(): every connection made SUBSCRIBEs to `channel` after its PING and
  // hands each message to `on_message` (on the executor); it sends no other command.
  void set_subscription(std::string channel, std::function<void(const RedisReply&)> on_message) {
    channel_ = std::move(channel);
    on_message_ = std::move(on_message);
  }
  [[nodiscard]] bool ready() const { return ready_; }
  // Has been ready at least once: a connection still on its first attempt is not.
  [[nodiscard]] bool answered_once() const { return answered_once_; }
  [[nodiscard]] const net::any_io_executor& executor() const { return ex_; }

 private:
  // A caller waiting for its reply: the handler co_await made for it, kept as
  // asio made it (a type-erased handler would cost an allocation per call),
  // completed with the reply itself. Once the caller has its answer (reply,
  // deadline or failure) the slot stays only to keep the FIFO matching, with
  // `wake` empty.
  using Answer = net::async_result<net::use_awaitable_t<>, void(Result<RedisReply>)>::handler_type;
  struct Pending {
    std::optional<Answer> wake;
    policy::TimePoint deadline;
  };
  static awaitable<void> run(std::shared_ptr<RedisConnection> self);
  static awaitable<void> handshake(std::shared_ptr<RedisConnection> self, std::uint64_t generation);
  awaitable<bool> connect();
  awaitable<void> read_replies();
  awaitable<Result<RedisReply>> send(std::vector<std::string> args, policy::Duration timeout);
  // `checked`: as call_formatted (a timeout already spent, a connection not ready yet: no call).
  // No coroutine frame: the awaitable is the one asio makes for the parked caller.
  awaitable<Result<RedisReply>> send_formatted(std::string_view resp, policy::Duration timeout, unsigned leading = 0,
                                               bool checked = false);
  // Resumes p's caller from the event loop (never inline) with `r`, if it still waits.
  void answer(Pending& p, Result<RedisReply> r);
  void schedule_flush();
  void flush();
  void arm_deadline(policy::TimePoint at);
  void on_deadline();
  void fail_all();
  void close();

  net::any_io_executor ex_;
  config::RedisUrl url_;
  policy::Duration timeout_;
  io::Stream stream_;
  std::shared_ptr<net::ssl::context> tls_ctx_;
  net::steady_timer backoff_timer_;
  net::steady_timer deadline_timer_;
  std::string outbuf_, wbuf_;
  OpSlab read_slab_, write_slab_;
  std::deque<Pending> inflight_;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool deadline_armed_ = false;
  policy::TimePoint armed_at_{};
  std::uint64_t deadline_wait_ = 0;
  bool connected_ = false;
  std::atomic<bool> ready_{false};  // also read by a reload waiting for a new client
  bool answered_once_ = false;
  bool stopped_ = false;
  bool auth_optional_ = false;
  std::string channel_;
  std::function<void(const RedisReply&)> on_message_;
  std::uint64_t generation_ = 0;
};

}  // namespace breakwater::store

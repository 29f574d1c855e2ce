#include "breakwater/store/redis_connection.hpp"

#include <optional>

#include "breakwater/io/connect.hpp"

#include <boost/asio/bind_allocator.hpp>

// sds.h has no extern "C" of its own in hiredis 0.14.
extern "C" {
#include <hiredis/sds.h>
}
#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>


#include "breakwater/log.hpp"
#include "breakwater/store/redis_client.hpp"

namespace breakwater::store {
namespace {

// A connection with this many unanswered commands is considered stuck.
constexpr std::size_t kMaxInflight = 100'000;

// A reply this late past its caller's deadline means a black hole (the socket
// open, nothing coming back): the connection is replaced. A slow Redis that
// answers within a few timeouts keeps its connection.
policy::Duration stuck_after(policy::Duration timeout) {
  return std::max<policy::Duration>(3 * timeout, std::chrono::seconds(1));
}

}  // namespace

RedisConnection::RedisConnection(net::any_io_executor ex, config::RedisUrl url, policy::Duration timeout)
    : ex_(std::move(ex)),
      url_(std::move(url)),
      timeout_(timeout),
      stream_(ex_),
      backoff_timer_(ex_),
      deadline_timer_(ex_) {}

RedisConnection::~RedisConnection() = default;

void RedisConnection::start() { net::co_spawn(ex_, run(shared_from_this()), net::detached); }

void RedisConnection::stop() {
  net::post(ex_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->close();
    self->fail_all();
    self->backoff_timer_.cancel();
    self->deadline_timer_.cancel();
  });
}

void RedisConnection::close() {
  ready_ = false;
  connected_ = false;
  stream_.close();
}

void RedisConnection::fail_all() {
  for (auto& p : inflight_) answer(p, StoreError::unavailable);
  inflight_.clear();
  outbuf_.clear();
}

void RedisConnection::arm_deadline(policy::TimePoint at) {
  if (stopped_ || (deadline_armed_ && armed_at_ <= at)) return;
  deadline_armed_ = true;
  armed_at_ = at;
  auto id = ++deadline_wait_;
  deadline_timer_.expires_at(at);  // cancels an earlier wait, whose handler then sees a stale id
  deadline_timer_.async_wait([self = shared_from_this(), id](error_code) {
    if (id != self->deadline_wait_) return;
    self->deadline_armed_ = false;
    self->on_deadline();
  });
}

// Wakes every caller whose deadline has passed; their slots stay until Redis
// answers them (a late reply is discarded), so replies keep matching in order.
// The oldest slot still unanswered long past its deadline closes the
// connection: the reader then fails the rest and run() connects anew.
void RedisConnection::on_deadline() {
  auto now = policy::Clock::now();
  if (!inflight_.empty() && connected_) {
    auto stuck_at = inflight_.front().deadline + stuck_after(timeout_);
    if (now >= stuck_at) {
      log_warn("redis at " + url_.host + ":" + std::to_string(url_.port) + " has not answered for " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - inflight_.front().deadline +
                                                                                    timeout_).count()) +
               "ms with its connection open; reconnecting");
      close();
      return;
    }
  }
  std::optional<policy::TimePoint> next;
  for (auto& p : inflight_) {
    if (p.wake && p.deadline <= now) {
      answer(p, StoreError::timeout);
    } else if (p.wake && (!next || p.deadline < *next)) {
      next = p.deadline;
    }
  }
  // Come back to check the oldest slot even when no caller waits any more.
  if (!inflight_.empty() && connected_) {
    auto stuck_at = inflight_.front().deadline + stuck_after(timeout_);
    if (!next || stuck_at < *next) next = stuck_at;
  }
  if (next) arm_deadline(*next);
}

awaitable<bool> RedisConnection::connect() {
  auto limit = std::max<policy::Duration>(timeout_, std::chrono::seconds(1));
  stream_.reset();
  std::optional<io::TlsClient> tls;
  if (url_.tls) {
    if (!tls_ctx_) tls_ctx_ = io::make_client_tls("", true);  // the system store; SSL_CERT_FILE / SSL_CERT_DIR
    tls = io::TlsClient{tls_ctx_, url_.host, true};
  }
  auto c = co_await io::connect(stream_, url_.host, url_.port, policy::Clock::now() + limit, tls ? &*tls : nullptr);
  if (c.in_tls && !c.timed_out) log_error("redis TLS handshake with " + url_.host + " failed: " + c.ec.message());
  co_return c.ok();
}

awaitable<void> RedisConnection::run(std::shared_ptr<RedisConnection> self) {
  auto backoff = std::chrono::milliseconds(50);
  bool warned = false;
  while (!self->stopped_) {
    if (co_await self->connect()) {
      ++self->generation_;
      self->connected_ = true;
      net::co_spawn(self->ex_, handshake(self, self->generation_), net::detached);
      co_await self->read_replies();
      bool was_ready = self->ready_;
      self->close();
      self->fail_all();
      if (was_ready) {
        backoff = std::chrono::milliseconds(50);
        warned = false;
        if (!self->stopped_) log_warn("redis connection to " + self->url_.host + " lost; reconnecting");
      }
    } else if (!warned && !self->stopped_) {
      log_warn("cannot connect to redis at " + self->url_.host + ":" + std::to_string(self->url_.port) +
               "; retrying in the background");
      warned = true;
    }
    if (self->stopped_) break;
    self->backoff_timer_.expires_after(backoff);
    co_await self->backoff_timer_.async_wait(use_nothrow);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(2));
  }
}

awaitable<void> RedisConnection::handshake(std::shared_ptr<RedisConnection> self, std::uint64_t generation) {
  auto limit = std::max<policy::Duration>(self->timeout_, std::chrono::seconds(1));
  auto fail = [&](const std::string& what) {
    log_error("redis " + what);
    if (generation == self->generation_) self->close();
  };
  if (!self->url_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!self->url_.user.empty()) auth.push_back(self->url_.user);
    auth.push_back(self->url_.password);
    auto r = co_await self->send(std::move(auth), limit);
    bool not_asked = r && r->is_error() && self->auth_optional_ && r->str.find("without any password") != std::string::npos;
    if ((!r || r->is_error()) && !not_asked) {
      fail("AUTH failed: " + (r ? r->str : std::string("no answer")));
      co_return;
    }
  }
  if (self->url_.db != 0) {
    std::vector<std::string> select{"SELECT", std::to_string(self->url_.db)};
    auto r = co_await self->send(std::move(select), limit);
    if (!r || r->is_error()) {
      fail("SELECT failed: " + (r ? r->str : std::string("no answer")));
      co_return;
    }
  }
  // PING proves the connection answers before requests depend on it.
  std::vector<std::string> ping{"PING"};
  auto r = co_await self->send(std::move(ping), limit);
  if (!r || r->is_error()) {
    fail("PING failed: " + (r ? r->str : std::string("no answer")));
    co_return;
  }
  if (!self->channel_.empty()) {
    std::vector<std::string> subscribe{"SUBSCRIBE", self->channel_};
    r = co_await self->send(std::move(subscribe), limit);
    if (!r || r->is_error()) {
      fail("SUBSCRIBE failed: " + (r ? r->str : std::string("no answer")));
      co_return;
    }
  }
  if (generation == self->generation_ && self->connected_) {
    self->ready_ = true;
    self->answered_once_ = true;
    log_info("redis connected to " + self->url_.host + ":" + std::to_string(self->url_.port));
  }
}

awaitable<void> RedisConnection::read_replies() {
  RedisReplyReader reader;
  std::vector<char> buf(16 * 1024);  // (a std::array here trips a g++ 12 coroutine bug)
  RedisReply reply;
  for (;;) {
    error_code ec;
    std::size_t n = 0;
    if (stream_.is_tls())
      std::tie(ec, n) = co_await stream_.read_some(net::buffer(buf));
    else
      std::tie(ec, n) = co_await stream_.socket().async_read_some(
          net::buffer(buf), net::bind_allocator(SlabAllocator<void>(&read_slab_), use_nothrow));
    if (ec) co_return;
    if (!reader.feed(std::string_view(buf.data(), n))) {
      log_error("redis sent a malformed or oversized reply; reconnecting");
      co_return;
    }
    for (;;) {
      auto next = reader.next(reply);
      if (next == RedisReplyReader::Next::need_more) break;
      if (next == RedisReplyReader::Next::error) {
        log_error("redis protocol error; reconnecting");
        co_return;
      }
      if (inflight_.empty() && on_message_) {  // a subscribed connection: a message
        on_message_(reply);
        continue;
      }
      if (inflight_.empty()) {
        log_error("redis sent a reply nobody asked for; reconnecting");
        co_return;
      }
      // A demoted master answers writes with -READONLY: connect again (to whatever the address names now).
      bool demoted = reply.type == RedisReply::Type::error && reply.str.rfind("READONLY", 0) == 0;
      auto& p = inflight_.front();
      answer(p, std::move(reply));
      inflight_.pop_front();
      if (demoted) {
        log_warn("redis at " + url_.host + ":" + std::to_string(url_.port) + " answered READONLY; reconnecting");
        co_return;
      }
    }
  }
}

void RedisConnection::answer(Pending& p, Result<RedisReply> r) {
  if (!p.wake) return;
  complete_later(ex_, Answer(std::move(*p.wake)), std::move(r));
  p.wake.reset();
}

// Commands appended during one turn of the event loop leave in one write.
void RedisConnection::schedule_flush() {
  if (writing_ || flush_posted_) return;
  flush_posted_ = true;
  post_to(ex_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void RedisConnection::flush() {
  if (writing_ || outbuf_.empty() || !connected_) return;
  // What the socket takes at once leaves now (TCP), with no write operation to
  // allocate and complete; only a remainder waits for an asynchronous write.
  error_code ec;
  std::size_t n = stream_.write_now(net::buffer(outbuf_), ec);
  if (ec) {
    close();  // the reader sees it and fails the callers
    return;
  }
  if (n == outbuf_.size()) {
    outbuf_.clear();
    return;
  }
  outbuf_.erase(0, n);
  writing_ = true;
  wbuf_.swap(outbuf_);
  outbuf_.clear();
  auto done = [self = shared_from_this(), generation = generation_](error_code ec, std::size_t) {
    self->writing_ = false;
    self->wbuf_.clear();
    if (ec && generation == self->generation_) {
      self->close();  // the reader sees it and fails the callers
      return;
    }
    self->flush();  // what was queued meanwhile (or for a newer connection)
  };
  stream_.async_write(net::buffer(wbuf_), net::bind_allocator(SlabAllocator<void>(&write_slab_), std::move(done)));
}

void format_command(std::string& out, const std::string_view* argv, std::size_t argc) {
  std::array<const char*, 16> ptrs;
  std::array<std::size_t, 16> lens;
  argc = std::min(argc, ptrs.size());
  for (std::size_t i = 0; i < argc; ++i) {
    ptrs[i] = argv[i].data();
    lens[i] = argv[i].size();
  }
  sds cmd = nullptr;
  // hiredis' sds formatter: no printf on the hot path.
  int len = redisFormatSdsCommandArgv(&cmd, static_cast<int>(argc), ptrs.data(), lens.data());
  if (len > 0) out.append(cmd, static_cast<std::size_t>(len));
  sdsfree(cmd);
}

void append_bulk(std::string& out, std::string_view arg) {
  char len[24];
  out.push_back('$');
  out.append(len, std::to_chars(len, len + sizeof len, arg.size()).ptr);
  out.append("\r\n").append(arg).append("\r\n");
}

awaitable<Result<RedisReply>> RedisConnection::send(std::vector<std::string> args, policy::Duration timeout) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string resp;
  format_command(resp, views.data(), views.size());
  co_return co_await send_formatted(resp, timeout);
}

awaitable<Result<RedisReply>> RedisConnection::send_formatted(std::string_view resp, policy::Duration timeout,
                                                             unsigned leading, bool checked) {
  return net::async_initiate<decltype(net::use_awaitable), void(Result<RedisReply>)>(
      [this, resp, timeout, leading, checked](Answer h) {
        std::optional<StoreError> refused;
        if (checked && timeout <= policy::Duration::zero())
          refused = StoreError::timeout;
        else if ((checked && !ready_) || !connected_ || inflight_.size() >= kMaxInflight || resp.empty())
          refused = StoreError::unavailable;
        if (refused) {  // answered from the event loop too, never inline
          complete_later(ex_, Answer(std::move(h)), Result<RedisReply>(*refused));
          return;
        }
        auto deadline = policy::Clock::now() + timeout;
        outbuf_.append(resp);
        for (unsigned i = 0; i < leading; ++i) inflight_.push_back(Pending{std::nullopt, deadline});  // replies discarded
        inflight_.push_back(Pending{std::move(h), deadline});
        schedule_flush();
        arm_deadline(deadline);
      },
      net::use_awaitable);
}

awaitable<Result<RedisReply>> RedisConnection::call_formatted(std::string_view resp, policy::Duration timeout,
                                                             unsigned leading) {
  return send_formatted(resp, timeout, leading, true);  // no frame of its own
}

void format_eval(std::string& out, const RedisScript& script, std::string_view key,
                 std::span<const std::string_view> args, bool full) {
  std::array<std::string_view, 12> cmd{full ? "EVAL" : "EVALSHA", full ? script.source : script.sha(), "1", key};
  auto argc = std::min(args.size(), cmd.size() - 4);
  std::copy_n(args.begin(), argc, cmd.begin() + 4);
  format_command(out, cmd.data(), 4 + argc);
}

}  // namespace breakwater::store

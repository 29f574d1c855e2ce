#pragma once
// The Asio vocabulary of the I/O shell. Asio is compiled once (separate
// compilation, see src/io/asio_impl.cpp); only the shell includes this.
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace breakwater {

namespace net = boost::asio;
using tcp = net::ip::tcp;
template <class T = void>
using awaitable = net::awaitable<T>;
using error_code = boost::system::error_code;

// co_await op(..., use_nothrow) yields std::tuple<error_code, ...>: errors as values.
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

// A parked coroutine: `co_await park(f)` suspends and hands f the Wake that
// resumes it. Cheaper than a timer per waiter: no timer queue, no syscall.
using Wake = net::any_completion_handler<void()>;
template <class F>
auto park(F&& f) {
  return net::async_initiate<decltype(net::use_awaitable), void()>(
      [g = std::forward<F>(f)](auto handler) mutable { g(Wake(std::move(handler))); }, net::use_awaitable);
}
// Keeps a Wake in `slot`. Never `slot = std::move(w)`: Boost 1.81's move assignment
// copies from the lvalue and recurses forever (fixed in 1.82); move construction is fine.
inline void hold(Wake& slot, Wake&& w) { Wake(std::move(w)).swap(slot); }
// net::post(ex, f) for a plain function object, straight to the io_context
// behind `ex` when there is one (every worker's executor): no type-erased
// executor is required, preferred and copied on the way. Same queue, same order.
template <class F>
void post_to(const net::any_io_executor& ex, F&& f) {
  using Plain = net::io_context::executor_type;
  using Tracked = net::io_context::basic_executor_type<std::allocator<void>, 4>;  // outstanding_work.tracked
  if (auto* e = ex.target<Plain>())
    net::post(*e, std::forward<F>(f));
  else if (auto* t = ex.target<Tracked>())
    net::post(t->context().get_executor(), std::forward<F>(f));
  else
    net::post(ex, std::forward<F>(f));
}

// Completes handler `h` with `args` from the event loop behind `ex`, never inline:
// a plain lambda holding both (no associated executor, so no work_dispatcher and
// no type-erased executor on the way), posted straight to the loop's queue.
// `ex` is the loop the handler's coroutine runs on.
template <class H, class... A>
void complete_later(const net::any_io_executor& ex, H&& h, A&&... args) {
  post_to(ex, [h = std::decay_t<H>(std::forward<H>(h)), ... a = std::forward<A>(args)]() mutable {
    std::move(h)(std::move(a)...);
  });
}

// Resumes a parked coroutine from the event loop, never inline. `ex` is the
// executor of the event loop the parked coroutine runs on (every Wake in
// breakwater parks a coroutine of a worker's single-threaded io_context and is
// woken from that same loop). The Wake is not posted itself: its associated
// executor is type-erased (any_completion_executor, a heap-allocated shared
// target) and post would go through a work_dispatcher: complete_later() resumes
// the coroutine exactly as the dispatcher would have on that same loop.
inline void wake(const net::any_io_executor& ex, Wake& w) {
  if (w) complete_later(ex, Wake(std::move(w)));
}

}  // namespace breakwater

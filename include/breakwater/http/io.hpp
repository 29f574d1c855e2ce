#pragma once
// The Asio vocabulary of the I/O shell. Asio is compiled once (separate
// compilation, see src/http/asio_impl.cpp); only the shell includes this.
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

}  // namespace breakwater

#pragma once
// nghttp2 settings both sides of breakwater share (no I/O here: the fuzz target
// configures its session exactly as the server does).
#include <cstdint>
#include <memory>

#include <nghttp2/nghttp2.h>

namespace breakwater::http::h2 {

struct SessionDeleter {
  void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDeleter>;

struct OptionDeleter {
  void operator()(nghttp2_option* o) const { nghttp2_option_del(o); }
};
using OptionPtr = std::unique_ptr<nghttp2_option, OptionDeleter>;

struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* c) const { nghttp2_session_callbacks_del(c); }
};
using CallbacksPtr = std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter>;

// Stream windows breakwater advertises: a request body up to 64 KiB (the part
// that may be replayed) fits with room to spare, and no more than this is ever
// buffered per stream before the other side has taken it.
inline constexpr std::int32_t kStreamWindow = 128 * 1024;
// The connection window: the sum over streams in flight.
inline constexpr std::int32_t kConnectionWindow = 4 * 1024 * 1024;

// Options both sides share: windows are given back by hand (nghttp2_session_consume
// once the other side took the bytes), so flow control carries backpressure.
OptionPtr make_options();
// The server side's: make_options() plus nghttp2's own reset-rate limit, which
// sits behind breakwater's flood budgets.
OptionPtr make_server_options();

}  // namespace breakwater::http::h2

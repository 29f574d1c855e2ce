#include "breakwater/http/h2/options.hpp"

namespace breakwater::http::h2 {

OptionPtr make_options() {
  nghttp2_option* o = nullptr;
  nghttp2_option_new(&o);
  nghttp2_option_set_no_auto_window_update(o, 1);
  nghttp2_option_set_no_closed_streams(o, 1);
  nghttp2_option_set_max_settings(o, 32);
  nghttp2_option_set_max_outbound_ack(o, 1000);
  nghttp2_option_set_max_continuations(o, 8);
  return OptionPtr(o);
}

OptionPtr make_server_options() {
  auto o = make_options();
  nghttp2_option_set_stream_reset_rate_limit(o.get(), 1000, 33);
  return o;
}

}  // namespace breakwater::http::h2

// HTTP/2 requests from the network: an nghttp2 server session set up exactly as
// breakwater's (its options, settings and windows), fed arbitrary bytes after the
// client preface; every request head it accepts goes through breakwater's field
// model and on to what routing and forwarding read (target, Host, framing).
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "breakwater/http/forward.hpp"
#include "breakwater/http/h2/options.hpp"
#include "breakwater/http/h2/request_fields.hpp"

using namespace breakwater::http;

namespace {

struct Conn {
  std::map<std::int32_t, h2::RequestFields> streams;
};

int on_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* ud) {
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
    static_cast<Conn*>(ud)->streams[f->hd.stream_id];
  return 0;
}

int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n, std::size_t nl, const std::uint8_t* v,
              std::size_t vl, std::uint8_t, void* ud) {
  auto& c = *static_cast<Conn*>(ud);
  auto it = c.streams.find(f->hd.stream_id);
  if (it == c.streams.end()) return 0;
  it->second.add({reinterpret_cast<const char*>(n), nl}, {reinterpret_cast<const char*>(v), vl},
                 f->headers.cat == NGHTTP2_HCAT_HEADERS);
  return 0;
}

int on_frame_recv(nghttp2_session*, const nghttp2_frame* f, void* ud) {
  auto& c = *static_cast<Conn*>(ud);
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto it = c.streams.find(f->hd.stream_id);
  if (it == c.streams.end()) return 0;
  RequestHead head;
  it->second.fill(head, (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
  if (it->second.too_large()) return 0;
  auto t = parse_target(head.target);
  (void)match_host(head.host);
  (void)valid_authority(head.host);
  if (t.form != Target::Form::invalid) {
    UpstreamRequest up;
    up.method = head.method;
    up.path_query = t.path_query;
    up.host = head.host;
    up.client_ip = "127.0.0.1";
    up.proto = "http";
    up.request_id = "id";
    std::string text;
    build_upstream_head(head, up, text);
    Fields fields;
    build_upstream_fields(head, up, fields);
  }
  return 0;
}

int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* ud) {
  static_cast<Conn*>(ud)->streams.erase(id);
  return 0;
}

int on_data(nghttp2_session* s, std::uint8_t, std::int32_t id, const std::uint8_t*, std::size_t n, void*) {
  nghttp2_session_consume(s, id, n);  // as breakwater does once the bytes were taken
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  h2::CallbacksPtr own_cbs(cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
  Conn conn;
  auto opt = h2::make_server_options();
  nghttp2_session* s = nullptr;
  if (nghttp2_session_server_new2(&s, cbs, &conn, opt.get()) != 0) return 0;
  h2::SessionPtr session(s);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                 {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(h2::kStreamWindow)},
                                 {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(h2::kMaxHeaderList)}};
  nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 3);
  static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  if (nghttp2_session_mem_recv(s, reinterpret_cast<const std::uint8_t*>(preface), sizeof preface - 1) < 0) return 0;
  // Two feeds, to cross frame boundaries at an arbitrary point.
  std::size_t half = size / 2;
  if (nghttp2_session_mem_recv(s, data, half) >= 0) (void)nghttp2_session_mem_recv(s, data + half, size - half);
  for (;;) {  // what breakwater would write back
    const std::uint8_t* out = nullptr;
    if (nghttp2_session_mem_send(s, &out) <= 0) break;
  }
  return 0;
}

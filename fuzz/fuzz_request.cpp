// What decides 400 versus forward: head detection, strict parsing, targets and
// their normalized paths, Host validation, chunked framing, and the head sent upstream.
#include <cstdint>
#include <string>

#include "breakwater/http/forward.hpp"
#include "breakwater/http/h1/parser.hpp"

using namespace breakwater::http;
using namespace breakwater::http::h1;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t scanned = 0;
  // Feed in two steps to exercise the incremental scan.
  auto half = in.substr(0, in.size() / 2);
  {
    std::string out;
    if (normalize_path(in.substr(0, 512), out)) {
      std::string again;
      if (out.empty() || out.front() != '/' || normalize_path(out, again)) __builtin_trap();
    }
    (void)valid_authority(in.substr(0, 300));
  }
  std::size_t len = find_head_end(half, scanned);
  if (!len) len = find_head_end(in, scanned);
  if (!len) return 0;
  if (len > in.size()) __builtin_trap();
  RequestHead head;
  if (parse_request_head(in.substr(0, len), head) == WireError::none) {
    if (head.target.find('#') != std::string_view::npos) __builtin_trap();  // refused by the parser
    if (head.find("host") && !valid_authority(head.host)) __builtin_trap();
    auto t = parse_target(head.target);
    if (t.form == Target::Form::origin || t.form == Target::Form::absolute) {
      // The normalized path: absolute, no "//", no dot segment, no decodable escape, stable.
      if (t.path.empty() || t.path.front() != '/' || t.path.find("//") != std::string_view::npos) __builtin_trap();
      if (t.path_query.substr(0, t.path.size()) != t.path) __builtin_trap();
      std::string again;
      if (normalize_path(t.path, again)) __builtin_trap();
      if (t.path.ends_with("/.") || t.path.ends_with("/..") || t.path.find("/./") != std::string_view::npos ||
          t.path.find("/../") != std::string_view::npos)
        __builtin_trap();
      Target copy = t;
      Target moved = std::move(copy);
      if (moved.path_query != t.path_query || moved.path != t.path) __builtin_trap();
    }
    if (t.form == Target::Form::absolute && !valid_authority(t.authority)) __builtin_trap();
    (void)match_host(head.host);
    UpstreamRequest up;
    up.method = head.method;
    up.path_query = t.form == Target::Form::invalid ? head.target : t.path_query;
    up.host = head.host;
    std::string out;
    build_upstream_head(head, up, out);
    if (out.find("\r\n\r\n") != out.size() - 4) __builtin_trap();  // exactly one head, no smuggled second
  }
  ResponseHead resp;
  (void)parse_response_head(in.substr(0, len), false, resp);
  ChunkedDecoder dec;
  auto body = in.substr(len);
  for (int i = 0; i < 10000 && !body.empty(); ++i) {
    auto step = dec.next(body);
    if (step.status == ChunkedDecoder::Status::error || step.status == ChunkedDecoder::Status::done) break;
    if (step.consumed == 0) break;
    if (step.consumed > body.size()) __builtin_trap();
    body.remove_prefix(step.consumed);
  }
  return 0;
}

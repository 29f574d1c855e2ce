// What decides 400 versus forward: head detection, strict parsing, targets and
// their normalized paths, Host validation, chunked framing, and the head sent upstream.
// The one-pass readers are held to the line-by-line references (same verdict, same
// head), and the heads written to the plain appends they replaced (same bytes).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "breakwater/http/forward.hpp"
#include "breakwater/http/h1/parser.hpp"
#include "breakwater/http/text.hpp"

using namespace breakwater::http;
using namespace breakwater::http::h1;

namespace {

bool same_headers(const std::vector<Header>& a, const std::vector<Header>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].name.data() != b[i].name.data() || a[i].name.size() != b[i].name.size() ||
        a[i].value.data() != b[i].value.data() || a[i].value.size() != b[i].value.size())
      return false;
  return true;
}

bool same_view(std::string_view a, std::string_view b) { return a.data() == b.data() && a.size() == b.size(); }

void check_request(std::string_view head) {
  RequestHead fast, slow;
  auto ef = parse_request_head(head, fast);
  auto es = h1::detail::parse_request_head_reference(head, slow);
  if (ef != es) __builtin_trap();
  // What a caller may read after a refusal (the 400's version and method) as well.
  if (fast.version_minor != slow.version_minor || fast.method != slow.method) __builtin_trap();
  if (ef != WireError::none) return;
  if (!same_view(fast.method, slow.method) || !same_view(fast.target, slow.target) || !same_view(fast.host, slow.host) ||
      fast.body != slow.body || fast.content_length != slow.content_length || fast.keep_alive != slow.keep_alive ||
      fast.expect_continue != slow.expect_continue || fast.has_connection_tokens != slow.has_connection_tokens ||
      !same_headers(fast.headers, slow.headers))
    __builtin_trap();
}

void check_response(std::string_view head, bool head_request) {
  ResponseHead fast, slow;
  auto ef = parse_response_head(head, head_request, fast);
  auto es = h1::detail::parse_response_head_reference(head, head_request, slow);
  if (ef != es) __builtin_trap();
  if (ef != WireError::none) return;
  if (fast.version_minor != slow.version_minor || fast.status != slow.status || !same_view(fast.reason, slow.reason) ||
      fast.body != slow.body || fast.content_length != slow.content_length || fast.keep_alive != slow.keep_alive ||
      fast.chunked_framing != slow.chunked_framing || fast.other_codings != slow.other_codings ||
      !same_headers(fast.headers, slow.headers))
    __builtin_trap();
}

// ---- The heads as written before the one-sizing writer and the name classes. ----
namespace ref {

void field(std::string& out, std::string_view n, std::string_view v) { out.append(n).append(": ").append(v).append("\r\n"); }

bool is_hop_by_hop(std::string_view n, std::string_view connection) {
  for (auto h : {"te", "trailer", "upgrade", "connection", "keep-alive", "proxy-connection", "transfer-encoding",
                 "proxy-authorization"})
    if (iequals(n, h)) return true;
  if (connection.empty()) return false;
  bool named = false;
  for_each_list_item(connection, [&](std::string_view item) { named = named || iequals(item, n); });
  return named;
}

std::string_view connection_value(const std::vector<Header>& headers) {
  for (auto& h : headers)
    if (iequals(h.name, "connection")) return h.value;
  return {};
}

std::string upstream_head(const RequestHead& req, const UpstreamRequest& up) {
  std::string out;
  out.append(up.method).push_back(' ');
  if (!up.path_query.empty() && up.path_query.front() == '?') out.push_back('/');
  out.append(up.path_query).append(" HTTP/1.1\r\n");
  field(out, "Host", up.host);
  auto connection = req.has_connection_tokens ? connection_value(req.headers) : std::string_view{};
  std::string_view xff;
  std::string xff_joined;
  for (auto& h : req.headers) {
    auto n = h.name;
    if (iequals(n, "te")) continue;
    if (is_hop_by_hop(n, connection)) continue;
    if (iequals(n, "host") || iequals(n, "content-length") || iequals(n, "expect") || iequals(n, "x-forwarded-proto"))
      continue;
    if (iequals(n, "x-forwarded-for")) {
      if (xff.empty()) {
        xff = h.value;
      } else {
        if (xff_joined.empty()) xff_joined = xff;
        xff_joined.append(", ").append(h.value);
      }
      continue;
    }
    if (!up.request_id.empty() && iequals(n, "x-request-id")) continue;
    field(out, n, h.value);
  }
  if (!xff_joined.empty()) xff = xff_joined;
  out.append("X-Forwarded-For: ");
  if (!xff.empty()) out.append(xff).append(", ");
  out.append(up.client_ip).append("\r\n");
  field(out, "X-Forwarded-Proto", up.proto);
  if (!up.request_id.empty()) field(out, "X-Request-Id", up.request_id);
  switch (up.framing) {
    case UpstreamRequest::Framing::length:
      field(out, "Content-Length", std::to_string(up.length));
      break;
    case UpstreamRequest::Framing::chunked:
      field(out, "Transfer-Encoding", "chunked");
      break;
    case UpstreamRequest::Framing::none:
      if (up.method == "POST" || up.method == "PUT" || up.method == "PATCH") field(out, "Content-Length", "0");
      break;
  }
  return out.append("\r\n");
}

std::string client_head(const ResponseHead& resp, const ClientResponse& c, bool strip) {
  std::string out = c.http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out.append(std::to_string(resp.status)).push_back(' ');
  out.append(resp.reason.empty() ? reason_phrase(resp.status) : resp.reason).append("\r\n");
  auto connection = connection_value(resp.headers);
  for (auto& h : resp.headers) {
    if (is_hop_by_hop(h.name, connection) || iequals(h.name, "content-length")) continue;
    if (strip && (iequals(h.name, "set-cookie") || iequals(h.name, "date"))) continue;
    field(out, h.name, h.value);
  }
  if (c.extra)
    for (auto x : *c.extra) field(out, x.name, x.value);
  switch (c.framing) {
    case ClientResponse::Framing::length:
      field(out, "Content-Length", std::to_string(c.length));
      break;
    case ClientResponse::Framing::chunked: {
      std::string te = "chunked";
      if (resp.other_codings) {
        std::vector<std::string_view> codings;
        for (auto& h : resp.headers)
          if (iequals(h.name, "transfer-encoding"))
            for_each_list_item(h.value, [&](std::string_view item) { codings.push_back(item); });
        if (!codings.empty() && iequals(codings.back(), "chunked")) codings.pop_back();
        te.clear();
        for (auto x : codings) te.append(x).append(", ");
        te.append("chunked");
      }
      field(out, "Transfer-Encoding", te);
      break;
    }
    case ClientResponse::Framing::none:
      if (resp.status >= 200 && resp.status != 204 && resp.status != 304) field(out, "Content-Length", "0");
      break;
    case ClientResponse::Framing::until_close:
      break;
  }
  if (!c.keep_alive) field(out, "Connection", "close");
  else if (c.http10) field(out, "Connection", "keep-alive");
  return out.append("\r\n");
}

}  // namespace ref
}  // namespace

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
    std::string out = "kept";
    build_upstream_head(head, up, out);
    if (out.find("\r\n\r\n") != out.size() - 4) __builtin_trap();  // exactly one head, no smuggled second
    // Byte for byte what the plain appends wrote, with the input's last bytes as extras.
    up.client_ip = "10.0.0.1";
    up.proto = "http";
    auto tail = in.substr(len);
    up.request_id = tail.substr(0, 40);
    up.framing = static_cast<UpstreamRequest::Framing>(size % 3);
    up.length = size * 977;
    out.clear();
    build_upstream_head(head, up, out);
    if (out != ref::upstream_head(head, up)) __builtin_trap();
  }
  check_request(in.substr(0, len));
  check_response(in.substr(0, len), false);
  check_response(in.substr(0, len), true);
  ResponseHead resp;
  if (parse_response_head(in.substr(0, len), false, resp) == WireError::none) {
    Fields extra;
    if (size % 5 == 0) extra.add("RateLimit", in.substr(len, 30));
    for (int i = 0; i < 4; ++i) {
      auto c = client_framing(resp, i & 1, size % 2, size % 7 == 0 ? std::optional<std::uint64_t>(size) : std::nullopt, i & 2);
      if (size % 5 == 0) c.extra = &extra;
      std::string out;
      bool strip = (i + size) % 3 == 0;
      build_client_head(resp, c, out, strip);
      if (out != ref::client_head(resp, c, strip)) __builtin_trap();
    }
  }
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

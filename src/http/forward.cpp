#include "breakwater/http/forward.hpp"

#include "breakwater/http/h1/head_writer.hpp"
#include "breakwater/http/text.hpp"

namespace breakwater::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// The unreserved character that "%XX" at p[i] encodes, or 0.
char encoded_unreserved(std::string_view p, std::size_t i) {
  if (i + 2 >= p.size()) return 0;
  int hi = hex_value(p[i + 1]), lo = hex_value(p[i + 2]);
  if (hi < 0 || lo < 0) return 0;
  char c = static_cast<char>(hi * 16 + lo);
  return is_unreserved(c) ? c : 0;
}

// Whether normalize_path would change `p`: a decodable escape, "//", or a dot segment.
bool needs_normalizing(std::string_view p) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '%' && encoded_unreserved(p, i)) return true;
    if (c == '/' && i + 1 < p.size()) {
      if (p[i + 1] == '/') return true;
      if (p[i + 1] == '.') {
        auto seg = p.substr(i + 1, p.find('/', i + 1) - (i + 1));
        if (seg == "." || seg == "..") return true;
      }
    }
  }
  return !p.empty() && p.front() != '/';  // not absolute: made so
}

// Drops the last segment of `out` and the '/' before it (RFC 3986 §5.2.4 2C).
void pop_segment(std::string& out) {
  auto slash = out.rfind('/');
  out.resize(slash == std::string::npos ? 0 : slash);
}

}  // namespace

std::string remove_dot_segments(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../")) {
      in.remove_prefix(3);
      pop_segment(out);
    } else if (in == "/..") {
      in = "/";
      pop_segment(out);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      auto end = in.find('/', in.front() == '/' ? 1 : 0);
      if (end == std::string_view::npos) end = in.size();
      out.append(in.substr(0, end));
      in.remove_prefix(end);
    }
  }
  return out;
}

bool normalize_path(std::string_view path, std::string& out) {
  if (!needs_normalizing(path)) return false;
  std::string decoded;
  decoded.reserve(path.size() + 1);
  if (path.front() != '/') decoded.push_back('/');  // targets are absolute paths; make any other one so
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') {
      if (char c = encoded_unreserved(path, i)) {
        // A decoded hex digit after "%" or "%H" would form a new escape ("%%36%31" -> "%61"),
        // which the upstream would decode once more: that one stays as sent.
        auto n = decoded.size();
        bool forms_escape = hex_value(c) >= 0 && ((n >= 1 && decoded[n - 1] == '%') ||
                                                  (n >= 2 && decoded[n - 2] == '%' && hex_value(decoded[n - 1]) >= 0));
        if (!forms_escape) {
          decoded.push_back(c);
          i += 2;
          continue;
        }
      }
    }
    decoded.push_back(path[i]);
  }
  auto clean = remove_dot_segments(decoded);
  std::string merged;
  merged.reserve(clean.size());
  for (char c : clean)
    if (c != '/' || merged.empty() || merged.back() != '/') merged.push_back(c);
  if (merged.empty()) merged.push_back('/');
  if (merged == path) return false;
  out = std::move(merged);
  return true;
}

Target& Target::operator=(const Target& o) {
  if (this == &o) return *this;
  form = o.form;
  authority = o.authority;
  is_owned_ = o.is_owned_;
  if (is_owned_) {
    owned_ = o.owned_;
    path_query = owned_;
    path = path_query.substr(0, o.path.size());
  } else {
    path_query = o.path_query;
    path = o.path;
  }
  return *this;
}

Target& Target::operator=(Target&& o) noexcept {
  if (this == &o) return *this;
  form = o.form;
  authority = o.authority;
  is_owned_ = o.is_owned_;
  if (is_owned_) {
    auto path_len = o.path.size();
    owned_ = std::move(o.owned_);  // a short string moves by copy: views must be re-pointed
    path_query = owned_;
    path = path_query.substr(0, path_len);
  } else {
    path_query = o.path_query;
    path = o.path;
  }
  return *this;
}

void Target::own(std::string pq, std::size_t path_len) {
  owned_ = std::move(pq);
  is_owned_ = true;
  path_query = owned_;
  path = path_query.substr(0, path_len);
}

Target parse_target(std::string_view t) {
  Target out;
  if (t.empty() || t.find('#') != std::string_view::npos) return out;
  // `pq` starts with '/': its path is normalized, its query kept as sent.
  auto set_path_query = [&](std::string_view pq) {
    auto q = pq.find('?');
    auto path = pq.substr(0, q);
    std::string normal;
    if (normalize_path(path, normal)) {
      auto len = normal.size();
      if (q != std::string_view::npos) normal.append(pq.substr(q));
      out.own(std::move(normal), len);
    } else {
      out.path_query = pq;
      out.path = path;
    }
  };
  if (t.front() == '/') {
    out.form = Target::Form::origin;
    set_path_query(t);
    return out;
  }
  if (t == "*") {
    out.form = Target::Form::asterisk;
    out.path_query = out.path = t;
    return out;
  }
  constexpr std::string_view scheme = "http://";
  if (t.size() <= scheme.size() || !iequals(t.substr(0, scheme.size()), scheme)) return out;
  auto rest = t.substr(scheme.size());
  auto end = rest.find_first_of("/?");
  auto authority = rest.substr(0, end);
  if (!valid_authority(authority)) return out;  // userinfo ('@') included
  out.form = Target::Form::absolute;
  out.authority = authority;
  if (end == std::string_view::npos) {
    out.path_query = out.path = "/";
  } else if (rest[end] == '?') {
    // "http://a?x" has an empty path: origin-form is "/?x".
    out.own("/" + std::string(rest.substr(end)), 1);
  } else {
    set_path_query(rest.substr(end));
  }
  return out;
}

std::string match_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return to_lower(host.substr(1, close == std::string_view::npos ? host.size() - 1 : close - 1));
  }
  auto colon = host.find(':');
  return to_lower(host.substr(0, colon));
}

namespace {

// What a field name means to forwarding, found with one dispatch on its length
// and at most two word-wise compares.
enum class Name : std::uint8_t {
  other,
  hop,         // hop-by-hop (SPEC §5) but Connection and TE
  connection,  // hop-by-hop
  te,          // hop-by-hop
  host,
  date,
  expect,
  set_cookie,
  x_request_id,
  content_length,
  x_forwarded_for,
  x_forwarded_proto,
};

Name classify(std::string_view n) {
  switch (n.size()) {
    case 2:
      if (iequals_to<"te">(n)) return Name::te;
      break;
    case 4:
      if (iequals_to<"host">(n)) return Name::host;
      if (iequals_to<"date">(n)) return Name::date;
      break;
    case 6:
      if (iequals_to<"expect">(n)) return Name::expect;
      break;
    case 7:
      if (iequals_to<"trailer">(n) || iequals_to<"upgrade">(n)) return Name::hop;
      break;
    case 10:
      if (iequals_to<"connection">(n)) return Name::connection;
      if (iequals_to<"keep-alive">(n)) return Name::hop;
      if (iequals_to<"set-cookie">(n)) return Name::set_cookie;
      break;
    case 12:
      if (iequals_to<"x-request-id">(n)) return Name::x_request_id;
      break;
    case 14:
      if (iequals_to<"content-length">(n)) return Name::content_length;
      break;
    case 15:
      if (iequals_to<"x-forwarded-for">(n)) return Name::x_forwarded_for;
      break;
    case 16:
      if (iequals_to<"proxy-connection">(n)) return Name::hop;
      break;
    case 17:
      if (iequals_to<"transfer-encoding">(n)) return Name::hop;
      if (iequals_to<"x-forwarded-proto">(n)) return Name::x_forwarded_proto;
      break;
    case 19:
      if (iequals_to<"proxy-authorization">(n)) return Name::hop;
      break;
    default:
      break;
  }
  return Name::other;
}

bool fixed_hop_by_hop(Name c) { return c == Name::hop || c == Name::connection || c == Name::te; }

bool named_in(std::string_view n, std::string_view connection) {
  bool named = false;
  for_each_list_item(connection, [&](std::string_view item) { named = named || iequals(item, n); });
  return named;
}

// `connection` when it names a field that is not hop-by-hop anyway, else empty:
// "Connection: keep-alive" costs no walk of the list per field.
std::string_view naming(std::string_view connection) {
  if (connection.empty() || iequals_to<"keep-alive">(connection)) return {};
  bool other = false;
  for_each_list_item(connection, [&](std::string_view item) { other = other || !fixed_hop_by_hop(classify(item)); });
  return other ? connection : std::string_view{};
}

}  // namespace

bool is_hop_by_hop(std::string_view n, std::string_view connection) {
  if (fixed_hop_by_hop(classify(n))) return true;
  return !connection.empty() && named_in(n, connection);
}

namespace {

std::string_view connection_value(const std::vector<Header>& headers) {
  for (auto& h : headers)
    if (h.name.size() == 10 && iequals_to<"connection">(h.name)) return h.value;
  return {};
}

// The client's fields as SPEC §5 forwards them, to `field(name, value)`: no hop-by-hop
// field, no Host, Content-Length, Expect or X-Forwarded-Proto, X-Request-Id only when
// breakwater sends its own. X-Forwarded-For values are gathered in `xff` (prior hops,
// joined), `te` says whether the client offered trailers. One walk for both protocols.
struct Forwarded {
  std::string_view xff;
  std::string xff_joined;
  bool te_trailers = false;
};
template <class Field>
void forward_fields(const RequestHead& req, const UpstreamRequest& up, Forwarded& f, Field&& field) {
  auto connection = req.has_connection_tokens ? naming(connection_value(req.headers)) : std::string_view{};
  for (auto& h : req.headers) {
    auto n = h.name;
    auto c = classify(n);
    if (c == Name::te) {
      for_each_list_item(h.value, [&](std::string_view item) {
        if (iequals_to<"trailers">(item.substr(0, item.find(';')))) f.te_trailers = true;
      });
      continue;
    }
    if (fixed_hop_by_hop(c) || (!connection.empty() && named_in(n, connection))) continue;
    switch (c) {
      case Name::host:
      case Name::content_length:
      case Name::expect:
      case Name::x_forwarded_proto:
        continue;
      case Name::x_forwarded_for:
        if (f.xff.empty()) {
          f.xff = h.value;
        } else {
          if (f.xff_joined.empty()) f.xff_joined = f.xff;
          f.xff_joined.append(", ").append(h.value);
        }
        continue;
      case Name::x_request_id:
        if (!up.request_id.empty()) continue;  // sent once, after
        break;
      default:
        break;
    }
    field(n, h.value);
  }
  if (!f.xff_joined.empty()) f.xff = f.xff_joined;
}

// What the fields take as "name: value\r\n" lines: room for a head in one go.
std::size_t field_bytes(const std::vector<Header>& headers) {
  std::size_t n = 0;
  for (auto& h : headers) n += h.name.size() + h.value.size() + 4;
  return n;
}

bool needs_empty_length(std::string_view method) { return method == "POST" || method == "PUT" || method == "PATCH"; }

}  // namespace

void build_upstream_head(const RequestHead& req, const UpstreamRequest& up, std::string& out) {
  // Request line, Host, the client's fields (X-Forwarded-For's among them), what is
  // added, framing: more is made if this falls short.
  h1::HeadWriter w(out, up.method.size() + up.path_query.size() + up.host.size() + field_bytes(req.headers) +
                            up.client_ip.size() + up.proto.size() + up.request_id.size() + 160);
  w.request_line(up.method, up.path_query).field("Host", up.host);
  Forwarded f;
  forward_fields(req, up, f, [&](std::string_view n, std::string_view v) { w.field(n, v); });
  w.field_list("X-Forwarded-For", f.xff, up.client_ip).field("X-Forwarded-Proto", up.proto);
  // The id the access log shows, whether the client sent it (even naming it in
  // Connection, which would otherwise drop it as hop-by-hop) or it was generated.
  if (!up.request_id.empty()) w.field("X-Request-Id", up.request_id);
  switch (up.framing) {
    case UpstreamRequest::Framing::length:
      w.field("Content-Length", up.length);
      break;
    case UpstreamRequest::Framing::chunked:
      w.field("Transfer-Encoding", "chunked");
      break;
    case UpstreamRequest::Framing::none:
      if (needs_empty_length(up.method)) w.field("Content-Length", "0");
      break;
  }
  w.end();
}

void build_upstream_fields(const RequestHead& req, const UpstreamRequest& up, Fields& out) {
  Forwarded f;
  forward_fields(req, up, f, [&](std::string_view n, std::string_view v) { out.add_lower(n, v); });
  out.add_with("x-forwarded-for", [&](std::string& v) {
    if (!f.xff.empty()) v.append(f.xff).append(", ");
    v.append(up.client_ip);
  });
  out.add("x-forwarded-proto", up.proto);
  if (!up.request_id.empty()) out.add("x-request-id", up.request_id);
  if (f.te_trailers) out.add("te", "trailers");
  switch (up.framing) {
    case UpstreamRequest::Framing::length:
      out.add_with("content-length", [&](std::string& v) { v.append(std::to_string(up.length)); });
      break;
    case UpstreamRequest::Framing::chunked:  // HTTP/2 frames the body itself
      break;
    case UpstreamRequest::Framing::none:
      if (needs_empty_length(up.method)) out.add("content-length", "0");
      break;
  }
}

namespace {
// The transfer codings of a response with a final chunked, e.g. "gzip, chunked".
std::string transfer_codings(const std::vector<Header>& headers) {
  std::vector<std::string_view> codings;
  for (auto& h : headers)
    if (h.name.size() == 17 && iequals_to<"transfer-encoding">(h.name))
      for_each_list_item(h.value, [&](std::string_view item) { codings.push_back(item); });
  if (!codings.empty() && iequals(codings.back(), "chunked")) codings.pop_back();
  std::string out;
  for (auto c : codings) out.append(c).append(", ");
  return out.append("chunked");
}
}  // namespace

ClientResponse client_framing(const ResponseHead& resp, bool http10, bool head_request,
                              std::optional<std::uint64_t> captured, bool keep_alive) {
  using F = ClientResponse::Framing;
  ClientResponse cr;
  cr.http10 = http10;
  cr.keep_alive = keep_alive;
  if (head_request) {
    // A HEAD answer says what a GET would carry, and nothing more: the upstream's
    // length, or chunked framing, or (close-delimited) no framing header at all.
    if (!resp.header("content-length").empty()) {
      cr.framing = F::length;
      cr.length = resp.content_length;
    } else {
      cr.framing = resp.chunked_framing && !http10 ? F::chunked : F::until_close;
    }
  } else if (captured) {
    cr.framing = F::length;
    cr.length = *captured;
  } else if (resp.body == BodyKind::length) {
    cr.framing = F::length;
    cr.length = resp.content_length;
  } else if (resp.body == BodyKind::chunked || resp.body == BodyKind::until_close) {
    cr.framing = http10 ? F::until_close : F::chunked;
    if (http10) cr.keep_alive = false;
  }
  return cr;
}

void build_client_head(const ResponseHead& resp, const ClientResponse& c, std::string& out,
                       bool strip_for_storage) {
  std::size_t extra = 0;
  if (c.extra)
    for (auto x : *c.extra) extra += x.name.size() + x.value.size() + 4;
  h1::HeadWriter w(out, resp.reason.size() + field_bytes(resp.headers) + extra + 128);
  w.status_line(c.http10 ? 0 : 1, resp.status, resp.reason);
  auto connection = naming(connection_value(resp.headers));
  for (auto& h : resp.headers) {
    auto k = classify(h.name);
    if (fixed_hop_by_hop(k) || k == Name::content_length) continue;
    if (!connection.empty() && named_in(h.name, connection)) continue;
    if (strip_for_storage && (k == Name::set_cookie || k == Name::date)) continue;
    w.field(h.name, h.value);
  }
  if (c.extra) w.fields(*c.extra);
  switch (c.framing) {
    case ClientResponse::Framing::length:
      w.field("Content-Length", c.length);
      break;
    case ClientResponse::Framing::chunked:
      // Other codings (gzip) stay named: the body keeps them, only the chunking is ours.
      w.field("Transfer-Encoding", resp.other_codings ? std::string_view(transfer_codings(resp.headers)) : "chunked");
      break;
    case ClientResponse::Framing::none:
      // A response that may carry a body but has none says so.
      if (resp.status >= 200 && resp.status != 204 && resp.status != 304) w.field("Content-Length", "0");
      break;
    case ClientResponse::Framing::until_close:
      break;
  }
  w.connection(c.keep_alive, c.http10 ? 0 : 1).end();
}

std::string_view reason_phrase(int s) {
  switch (s) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

}  // namespace breakwater::http

#pragma once
// Forwarding rules (SPEC §5): request targets, hop-by-hop removal and the
// X-Forwarded-* / X-Request-Id headers. Pure string building.
#include <optional>
#include <string>
#include <string_view>

#include "breakwater/http/fields.hpp"
#include "breakwater/http/message.hpp"

namespace breakwater::http {

// A request target, its path normalized (SPEC §5): what routes match and what
// goes upstream. The views point into the parsed target or, when normalizing
// changed the path, into the Target itself (copies and moves keep them valid).
struct Target {
  enum class Form { origin, absolute, asterisk, invalid } form = Form::invalid;
  std::string_view authority;   // absolute-form only
  std::string_view path_query;  // what goes upstream in origin-form
  std::string_view path;        // without the query, for route matching

  Target() = default;
  Target(const Target& o) { *this = o; }
  Target(Target&& o) noexcept { *this = std::move(o); }
  Target& operator=(const Target& o);
  Target& operator=(Target&& o) noexcept;

 private:
  friend Target parse_target(std::string_view target);
  void own(std::string pq, std::size_t path_len);
  std::string owned_;  // path_query, when normalizing changed it
  bool is_owned_ = false;
};
// Absolute-form is accepted for http:// only, without userinfo, with a valid
// host[:port]; a target containing '#' is invalid.
[[nodiscard]] Target parse_target(std::string_view target);

// RFC 3986 §5.2.4 remove_dot_segments ("/a/b/c/./../../g" -> "/a/g").
[[nodiscard]] std::string remove_dot_segments(std::string_view path);
// SPEC §5 on a path (no query): %XX of an unreserved character decoded, dot
// segments removed, runs of '/' made one; %2F, %5C and all else left as sent.
// No decoding forms a new escape (a hex digit decoded right after "%" or "%H"
// stays encoded), so the upstream's one decoding reads what the routes matched.
// Returns false, leaving `out` alone, when the path is already normal.
bool normalize_path(std::string_view path, std::string& out);

// "Host:port" -> lower-case host without the port (brackets kept off IPv6).
[[nodiscard]] std::string match_host(std::string_view host);

// True for headers never forwarded (hop-by-hop, or named by `connection`).
[[nodiscard]] bool is_hop_by_hop(std::string_view name, std::string_view connection);

struct UpstreamRequest {
  std::string_view method;
  std::string_view path_query;
  std::string_view host;        // Host sent upstream
  std::string_view client_ip;
  std::string_view proto;       // "http" | "https"
  std::string_view request_id;  // the client's or a generated one: sent as the one X-Request-Id
  enum class Framing { none, length, chunked } framing = Framing::none;
  std::uint64_t length = 0;
};
// Appends the head sent upstream: origin-form, HTTP/1.1, keep-alive.
void build_upstream_head(const RequestHead& req, const UpstreamRequest& up, std::string& out);

// The same request fields as build_upstream_head() as a list for HTTP/2: lower-case
// names, no Host (it travels as :authority) and no pseudo-header; "te: trailers"
// when the client offered trailers (SPEC §9).
void build_upstream_fields(const RequestHead& req, const UpstreamRequest& up, Fields& out);

struct ClientResponse {
  enum class Framing { none, length, chunked, until_close } framing = Framing::none;
  std::uint64_t length = 0;
  bool keep_alive = true;
  bool http10 = false;
  const Fields* extra = nullptr;  // fields breakwater adds (RateLimit, shadow marks)
};
// How an upstream response is framed for the client (SPEC §5): `captured`, the
// length of a body read whole; `keep_alive`, whether the client's side allows it
// (a close-delimited body to an HTTP/1.0 client ends the connection).
[[nodiscard]] ClientResponse client_framing(const ResponseHead& resp, bool http10, bool head_request,
                                            std::optional<std::uint64_t> captured, bool keep_alive);
// Appends the head sent to the client for an upstream response.
void build_client_head(const ResponseHead& resp, const ClientResponse& c, std::string& out,
                       bool strip_for_storage = false);

}  // namespace breakwater::http

#pragma once
// Forwarding rules (SPEC §5): request targets, hop-by-hop removal and the
// X-Forwarded-* / X-Request-Id headers. Pure string building.
#include <string>
#include <string_view>

#include "breakwater/http/wire.hpp"

namespace breakwater::http {

struct Target {
  enum class Form { origin, absolute, asterisk, invalid } form = Form::invalid;
  std::string_view authority;   // absolute-form only
  std::string_view path_query;  // what goes upstream in origin-form
  std::string_view path;        // without the query, for route matching
};
// Absolute-form is accepted for http:// only, without userinfo.
[[nodiscard]] Target parse_target(std::string_view target);

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
  std::string_view request_id;  // added when the client sent none
  bool add_request_id = false;
  enum class Framing { none, length, chunked } framing = Framing::none;
  std::uint64_t length = 0;
};
// Appends the head sent upstream: origin-form, HTTP/1.1, keep-alive.
void build_upstream_head(const RequestHead& req, const UpstreamRequest& up, std::string& out);

struct ClientResponse {
  enum class Framing { none, length, chunked, until_close } framing = Framing::none;
  std::uint64_t length = 0;
  bool keep_alive = true;
  bool http10 = false;
  std::string_view extra;  // extra header lines, each ending in CRLF
};
// Appends the head sent to the client for an upstream response.
void build_client_head(const ResponseHead& resp, const ClientResponse& c, std::string& out,
                       bool strip_for_storage = false);

}  // namespace breakwater::http

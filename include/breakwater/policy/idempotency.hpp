#pragma once
// Idempotency-Key rules that need no I/O: key syntax, which responses are
// stored, and the stored-response record format.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace breakwater::policy {

// 1 to 255 visible ASCII characters, bare or as an RFC 8941 string ("abc" is abc).
[[nodiscard]] std::optional<std::string_view> parse_idempotency_key(std::string_view header_value);

// 2xx, and 4xx except 408, 409, 425 and 429 (those say "try again", not "done").
[[nodiscard]] bool is_cacheable_status(int status);

// What goes into the request fingerprint's hash: method, path with query, body,
// length-prefixed so no two requests share an input.
[[nodiscard]] std::string fingerprint_input(std::string_view method, std::string_view path_query,
                                            std::string_view body);

struct StoredResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<std::pair<std::string, std::string>> trailers;  // a gRPC call's (SPEC §9)
  bool operator==(const StoredResponse&) const = default;
};
// "STATUS\nname:value\n...\n\nBODY"; header lines never hold CR or LF (the parser refuses them).
// A trailer line starts with \x01, which no field name holds (records without trailers read as before).
[[nodiscard]] std::string encode(const StoredResponse& r);
[[nodiscard]] std::optional<StoredResponse> decode(std::string_view s);

}  // namespace breakwater::policy

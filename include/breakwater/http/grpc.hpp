#pragma once
// gRPC over HTTP/2 as SPEC §9 reads it: what makes a request a gRPC call, the
// status names, grpc-timeout, grpc-message encoding. Pure: no I/O.
#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace breakwater::http::grpc {

// Status names, lower case as in Envoy's retry-grpc-on, indexed by code.
inline constexpr std::array<std::string_view, 17> kStatusNames{
    "ok",        "cancelled",         "unknown",   "invalid-argument", "deadline-exceeded", "not-found",
    "already-exists", "permission-denied", "resource-exhausted", "failed-precondition", "aborted",
    "out-of-range", "unimplemented", "internal", "unavailable", "data-loss", "unauthenticated"};

enum Status : int {
  ok = 0, cancelled = 1, unknown = 2, invalid_argument = 3, deadline_exceeded = 4, not_found = 5,
  already_exists = 6, permission_denied = 7, resource_exhausted = 8, failed_precondition = 9, aborted = 10,
  out_of_range = 11, unimplemented = 12, internal = 13, unavailable = 14, data_loss = 15, unauthenticated = 16
};

// The code of a status name, or nullopt.
std::optional<int> status_from_name(std::string_view name);
// `application/grpc`, or starting with `application/grpc+` or `application/grpc;`.
bool is_grpc_content_type(std::string_view content_type);
// A grpc-status value: decimal digits; codes above 16 read as `unknown` (gRPC's rule).
std::optional<int> parse_status(std::string_view value);
// grpc-timeout: 1 to 8 digits then one of H M S m u n; nullopt when malformed.
std::optional<std::chrono::nanoseconds> parse_timeout(std::string_view value);
// The time left, as a grpc-timeout value (rounded up to keep 8 digits).
std::string format_timeout(std::chrono::nanoseconds left);
// grpc-retry-pushback-ms: a non-negative integer of milliseconds; nullopt when
// malformed or negative (no retry, gRFC A6).
std::optional<std::chrono::milliseconds> parse_pushback(std::string_view value);
// grpc-message: percent-encoded UTF-8 (bytes outside 0x20-0x7E and '%' encoded).
std::string percent_encode(std::string_view message);
// Whether a call answered with `status` is stored for its Idempotency-Key (SPEC §9).
bool is_storable_status(int status);

}  // namespace breakwater::http::grpc

#pragma once
// Every reason breakwater answers with itself (SPEC §4), declared once: the
// x-breakwater header, the problem body and the metrics all read this table.
#include <array>
#include <cstdint>
#include <string_view>

namespace breakwater::proxy {

#define BREAKWATER_REASONS(X)                    \
  X(route_not_found, 404)                        \
  X(route_disabled, 503)                         \
  X(rate_limited, 429)                           \
  X(idempotency_in_flight, 409)                  \
  X(idempotency_key_reused, 422)                 \
  X(idempotency_key_missing, 400)                \
  X(bulkhead_full, 503)                          \
  X(circuit_open, 503)                           \
  X(upstream_unavailable, 502)                   \
  X(upstream_timeout, 504)                       \
  X(request_too_large, 413)                      \
  X(bad_request, 400)                            \
  X(method_not_allowed, 405)                     \
  X(store_unavailable, 503)                      \
  X(header_too_large, 431)

enum class Reason : std::uint8_t {
#define BW_REASON_ENUM(name, status) name,
  BREAKWATER_REASONS(BW_REASON_ENUM)
#undef BW_REASON_ENUM
      count_
};
inline constexpr std::size_t kReasonCount = static_cast<std::size_t>(Reason::count_);

inline constexpr std::array<std::string_view, kReasonCount> kReasonNames{
#define BW_REASON_NAME(name, status) #name,
    BREAKWATER_REASONS(BW_REASON_NAME)
#undef BW_REASON_NAME
};

constexpr std::string_view reason_name(Reason r) { return kReasonNames[static_cast<std::size_t>(r)]; }

constexpr int reason_status(Reason r) {
  constexpr std::array<int, kReasonCount> statuses{
#define BW_REASON_STATUS(name, status) status,
      BREAKWATER_REASONS(BW_REASON_STATUS)
#undef BW_REASON_STATUS
  };
  return statuses[static_cast<std::size_t>(r)];
}

// The gRPC status a local reply to a gRPC call carries (SPEC §9).
constexpr int reason_grpc_status(Reason r) {
  switch (r) {
    case Reason::route_not_found: return 12;         // unimplemented
    case Reason::route_disabled: return 14;          // unavailable
    case Reason::rate_limited: return 8;             // resource-exhausted
    case Reason::idempotency_in_flight: return 10;   // aborted
    case Reason::idempotency_key_reused: return 9;   // failed-precondition
    case Reason::idempotency_key_missing: return 3;  // invalid-argument
    case Reason::bulkhead_full: return 14;
    case Reason::circuit_open: return 14;
    case Reason::upstream_unavailable: return 14;
    case Reason::upstream_timeout: return 4;         // deadline-exceeded
    case Reason::request_too_large: return 8;
    case Reason::bad_request: return 13;             // internal
    case Reason::method_not_allowed: return 12;
    case Reason::store_unavailable: return 14;
    case Reason::header_too_large: return 8;
    case Reason::count_: break;
  }
  return 2;  // unknown
}

// Rejections counted in breakwater_rejected_total (policy decisions, not failures).
constexpr bool is_rejection(Reason r) {
  switch (r) {
    case Reason::route_disabled:
    case Reason::rate_limited:
    case Reason::idempotency_in_flight:
    case Reason::idempotency_key_reused:
    case Reason::idempotency_key_missing:
    case Reason::bulkhead_full:
    case Reason::circuit_open:
    case Reason::store_unavailable:
      return true;
    default:
      return false;
  }
}

}  // namespace breakwater::proxy

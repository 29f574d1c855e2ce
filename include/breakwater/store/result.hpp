#pragma once
// What a store call answers: a value, or why there is none (std only).
#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>

namespace breakwater::store {

// Why a store call has no answer. Every kind is a store failure for on_error.
enum class StoreError : std::uint8_t {
  timeout,       // no answer within store.timeout
  unavailable,   // not connected, the connection dropped, or an error reply
  breaker_open,  // the store's breaker refused the call without trying it
  redirect,      // the key lives elsewhere (MOVED / ASK) and was not followed
};

[[nodiscard]] constexpr std::string_view to_string(StoreError e) {
  switch (e) {
    case StoreError::timeout: return "timeout";
    case StoreError::unavailable: return "unavailable";
    case StoreError::breaker_open: return "breaker_open";
    case StoreError::redirect: return "redirect";
  }
  return "unknown";
}

// A value or a StoreError (std::expected's shape; g++ 12 has none).
template <class T>
class Result final {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit, as expected<T> is
  Result(StoreError e) : v_(std::in_place_index<1>, e) {}            // NOLINT

  [[nodiscard]] bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  [[nodiscard]] T& operator*() & { return *std::get_if<0>(&v_); }
  [[nodiscard]] const T& operator*() const& { return *std::get_if<0>(&v_); }
  [[nodiscard]] T* operator->() { return std::get_if<0>(&v_); }
  [[nodiscard]] const T* operator->() const { return std::get_if<0>(&v_); }
  // Only without a value.
  [[nodiscard]] StoreError error() const { return *std::get_if<1>(&v_); }

 private:
  std::variant<T, StoreError> v_;
};

}  // namespace breakwater::store

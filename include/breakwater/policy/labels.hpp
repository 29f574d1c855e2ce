#pragma once
// An enum and its metric label names from one X-macro list, so array sizes and
// names come from one place:
//   #define MY_LIST(X) X(a) X(b)
//   enum class E : std::uint8_t { MY_LIST(BW_LABEL_ENUM) };
//   inline constexpr std::array kENames{MY_LIST(BW_LABEL_NAME)};  // size = value count
#include <array>
#include <cstddef>
#include <string_view>

#define BW_LABEL_ENUM(name) name,
#define BW_LABEL_NAME(name) std::string_view{#name},

namespace breakwater::policy {

// The label of `e` in `names`, the table declared with its enum.
template <class E, std::size_t N>
[[nodiscard]] constexpr std::string_view label_of(const std::array<std::string_view, N>& names, E e) {
  return names[static_cast<std::size_t>(e)];
}

}  // namespace breakwater::policy

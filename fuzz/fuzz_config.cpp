// The config loader: any bytes give a config or positioned errors, never a crash.
#include <cstdint>
#include <string>

#include "breakwater/config/load.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = breakwater::config::load_string(text, "fuzz.toml");
  for (auto& e : r.errors)
    if (e.rfind("fuzz.toml:", 0) != 0) __builtin_trap();  // every error carries FILE:LINE:COL
  return 0;
}

#pragma once
// TOML file -> Config, with every error as FILE:LINE:COL: message.
#include <string>
#include <string_view>
#include <vector>

#include "breakwater/config/model.hpp"

namespace breakwater::config {

struct LoadResult {
  Config config;
  std::vector<std::string> errors;  // "FILE:LINE:COL: message"
  [[nodiscard]] bool ok() const { return errors.empty(); }
};

// `display_name` is how the file is named in messages (as given on the command line).
[[nodiscard]] LoadResult load_file(const std::string& path);
[[nodiscard]] LoadResult load_string(std::string_view text, const std::string& display_name);

}  // namespace breakwater::config

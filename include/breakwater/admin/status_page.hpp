#pragma once
// The status page of GET / (SPEC §7): one self-contained HTML document (inline
// CSS and JavaScript, nothing fetched from elsewhere) that draws /stats every second.
// Its source is src/admin/status_page.html, compiled in by CMake.
#include <string_view>

namespace breakwater::admin {

[[nodiscard]] std::string_view status_page();

}  // namespace breakwater::admin

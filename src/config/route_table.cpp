#include "breakwater/config/route_table.hpp"

#include <algorithm>
#include <tuple>

#include "breakwater/http/text.hpp"

namespace breakwater::config {

bool prefix_matches(std::string_view prefix, std::string_view path) {
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

RouteTable::RouteTable(const Config& c) {
  for (auto& r : c.routes) routes_.push_back(&r.match);
  for (auto& l : c.listeners) {
    Candidates cand{l.name, {}};
    for (int i = 0; i < static_cast<int>(c.routes.size()); ++i)
      if (c.routes[static_cast<std::size_t>(i)].listener == l.name) cand.order.push_back(i);
    auto rank = [&](int i) {
      auto& m = *routes_[static_cast<std::size_t>(i)];
      std::size_t len = m.path.empty() ? m.path_prefix.size() : m.path.size();
      // Higher is better: host, then length, then exact over prefix.
      return std::tuple{!m.host.empty(), len, !m.path.empty()};
    };
    std::stable_sort(cand.order.begin(), cand.order.end(), [&](int a, int b) { return rank(a) > rank(b); });
    by_listener_.push_back(std::move(cand));
  }
}

int RouteTable::match(std::string_view listener, const MatchInput& in) const {
  for (auto& cand : by_listener_) {
    if (cand.listener != listener) continue;
    for (int i : cand.order) {
      auto& m = *routes_[static_cast<std::size_t>(i)];
      if (!m.host.empty() && m.host != in.host) continue;
      if (!m.path.empty() && m.path != in.path) continue;
      if (!m.path_prefix.empty() && !prefix_matches(m.path_prefix, in.path)) continue;
      if (!m.methods.empty() && std::find(m.methods.begin(), m.methods.end(), in.method) == m.methods.end())
        continue;
      bool headers_ok = true;
      for (auto& [name, value] : m.headers) {
        bool found = false;
        if (in.headers)
          for (auto& h : *in.headers)
            if (http::iequals(h.name, name) && h.value == value) found = true;
        if (!found) {
          headers_ok = false;
          break;
        }
      }
      if (headers_ok) return i;
    }
    return -1;
  }
  return -1;
}

}  // namespace breakwater::config

#pragma once
// Route matching (SPEC §2): per listener, a matching host beats none, then the
// longest path_prefix or exact path (exact wins a tie), then file order.
#include <string>
#include <string_view>
#include <vector>

#include "breakwater/config/model.hpp"
#include "breakwater/http/message.hpp"

namespace breakwater::config {

struct MatchInput {
  std::string_view host;    // lower-case, port removed
  std::string_view path;    // without the query
  std::string_view method;
  const std::vector<http::Header>* headers = nullptr;
};

class RouteTable final {
 public:
  explicit RouteTable(const Config& c);
  // Index into Config::routes, or -1 when no route matches.
  [[nodiscard]] int match(std::string_view listener, const MatchInput& in) const;

 private:
  struct Candidates {
    std::string listener;
    std::vector<int> order;  // indices into routes_, best first
  };
  std::vector<const RouteMatch*> routes_;
  std::vector<Candidates> by_listener_;
};

// Segment-aware prefix: "/orders" matches "/orders" and "/orders/7", not "/ordersx".
[[nodiscard]] bool prefix_matches(std::string_view prefix, std::string_view path);

}  // namespace breakwater::config

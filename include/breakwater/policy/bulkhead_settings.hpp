#pragma once
#include "breakwater/policy/time.hpp"

namespace breakwater::policy {

struct BulkheadSettings {
  unsigned max_concurrent = 100;
  unsigned max_queue = 0;
  Duration queue_timeout{0};
  Mode mode = Mode::enforce;
  bool operator==(const BulkheadSettings&) const = default;
};

}  // namespace breakwater::policy

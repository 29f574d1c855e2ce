#pragma once
// What the admin listener may read of the running server, and nothing more:
// admin/ serves HTTP; the server renders its own state behind this view.
#include <string>

namespace breakwater::admin {

class ServerView {
 public:
  virtual ~ServerView() = default;
  [[nodiscard]] virtual bool draining() const = 0;
  // Prometheus text, format 0.0.4 (SPEC §7).
  [[nodiscard]] virtual std::string metrics() const = 0;
  // The /routes JSON (SPEC §7).
  [[nodiscard]] virtual std::string routes() const = 0;
  // The /stats JSON (SPEC §7): the store's health, and per route its breaker and last 300 seconds.
  [[nodiscard]] virtual std::string stats() const = 0;
};

}  // namespace breakwater::admin

// Failure statuses and the attempt-outcome label table.
#include <doctest/doctest.h>

#include <vector>

#include "breakwater/policy/circuit_breaker_settings.hpp"
#include "breakwater/policy/outcome.hpp"

using namespace breakwater::policy;

TEST_CASE("the default failure statuses: 500, 502, 503, 504") {
  for (int s : {500, 502, 503, 504}) CHECK(is_failure_status(kDefaultFailureStatuses, s));
  for (int s : {200, 404, 429, 501, 505}) CHECK_FALSE(is_failure_status(kDefaultFailureStatuses, s));
  // A breaker's settings start from the same list.
  CHECK(CircuitBreakerSettings{}.failure_statuses ==
        std::vector<int>(kDefaultFailureStatuses.begin(), kDefaultFailureStatuses.end()));
  static_assert(is_failure_status(kDefaultFailureStatuses, 503));
}

TEST_CASE("a route's own failure statuses replace the default") {
  std::vector<int> own{429, 503};
  CHECK(is_failure_status(own, 429));
  CHECK_FALSE(is_failure_status(own, 500));
  CHECK_FALSE(is_failure_status(std::vector<int>{}, 500));
}

TEST_CASE("attempt outcome labels follow the enum") {
  CHECK(kOutcomeLabels.size() == 5);
  CHECK(label_of(kOutcomeLabels, OutcomeLabel::success) == "success");
  CHECK(label_of(kOutcomeLabels, OutcomeLabel::failure) == "failure");
  CHECK(label_of(kOutcomeLabels, OutcomeLabel::connect_failure) == "connect_failure");
  CHECK(label_of(kOutcomeLabels, OutcomeLabel::reset) == "reset");
  CHECK(label_of(kOutcomeLabels, OutcomeLabel::timeout) == "timeout");
}

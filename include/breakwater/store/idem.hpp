#pragma once
// The answer to "may this Idempotency-Key request run?" (std only: the memory table uses it too).
#include <string>

namespace breakwater::store {

struct IdemBegin {
  enum class State { acquired, in_flight, completed, mismatch } state = State::acquired;
  std::string record;  // completed: the stored response (policy::encode)
};

}  // namespace breakwater::store

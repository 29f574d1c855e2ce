#pragma once
// The answer to "may this Idempotency-Key request run?" (std only: the memory table uses it too).
#include <string>

namespace breakwater::store {

struct IdemBegin {
  enum class State { acquired, in_flight, completed, mismatch } state = State::acquired;
  std::string record;  // completed: the stored response (policy::encode)
  std::string key;     // acquired: the lock's store key, handed back to complete or release it
};

}  // namespace breakwater::store

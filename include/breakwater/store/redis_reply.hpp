#pragma once
// Redis replies: hiredis' reader turns bytes into replies; we copy each into an
// owned RedisReply. No I/O here, so the fuzzer drives it directly.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace breakwater::store {

struct RedisReply {
  enum class Type { string, array, integer, nil, status, error } type = Type::nil;
  std::string str;
  long long integer = 0;
  std::vector<RedisReply> elements;
  [[nodiscard]] bool is_error() const { return type == Type::error; }
};

class RedisReplyReader final {
 public:
  RedisReplyReader();
  ~RedisReplyReader();
  RedisReplyReader(const RedisReplyReader&) = delete;
  RedisReplyReader& operator=(const RedisReplyReader&) = delete;

  // False on a protocol error (the connection must be dropped).
  [[nodiscard]] bool feed(std::string_view bytes);
  enum class Next { reply, need_more, error };
  // The next complete reply, if any.
  Next next(RedisReply& out);

 private:
  redisReader* reader_;
};

}  // namespace breakwater::store

#pragma once
// Redis replies: hiredis' reader turns bytes into replies, built directly as
// owned RedisReply values (its object functions are ours). No I/O here, so
// the fuzzer drives it directly.
#include <array>
#include <cstdint>
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

// What one reply may announce before anything is allocated for it. hiredis
// 0.14 callocs an array's element table as soon as it reads "*N", so an
// unchecked "*999999991" costs gigabytes; RespGuard reads the RESP headers
// ahead of hiredis and refuses such a reply as a protocol error.
struct RespLimits {
  // breakwater's scripts answer a few elements; CLUSTER SLOTS answers at most
  // one per slot range (16384), a few elements each.
  std::int64_t max_elements = 65'536;        // per aggregate
  std::int64_t max_total_elements = 1 << 20;  // over one whole reply, nested aggregates included
  std::int64_t max_bulk = 512ll << 20;       // Redis' own proto-max-bulk-len
};

// An incremental RESP2 header scanner; it follows hiredis' framing byte for byte.
class RespGuard final {
 public:
  explicit RespGuard(RespLimits limits = {}) : limits_(limits) {}
  // False: malformed, or a reply over the limits (the connection must be dropped).
  [[nodiscard]] bool scan(std::string_view bytes);

 private:
  enum class State : std::uint8_t { type, line, number, number_lf, bulk, failed };
  bool end_number();
  void value_done();

  RespLimits limits_;
  State state_ = State::type;
  bool cr_ = false;          // line: the previous byte was '\r'
  char kind_ = 0;            // number: '*' or '$'
  bool negative_ = false;
  int digits_ = 0;
  std::int64_t number_ = 0;
  std::int64_t bulk_left_ = 0;  // payload bytes and CRLF still to skip
  std::int64_t total_ = 0;      // elements announced in the current top-level reply
  int depth_ = 0;
  std::array<std::int64_t, 8> left_{};  // elements still to come per open aggregate
};

class RedisReplyReader final {
 public:
  explicit RedisReplyReader(RespLimits limits = {});
  ~RedisReplyReader();
  RedisReplyReader(const RedisReplyReader&) = delete;
  RedisReplyReader& operator=(const RedisReplyReader&) = delete;

  // False on a protocol error or a reply over the limits (the connection must be dropped).
  [[nodiscard]] bool feed(std::string_view bytes);
  enum class Next { reply, need_more, error };
  // The next complete reply, if any.
  Next next(RedisReply& out);

 private:
  redisReader* reader_;
  RespGuard guard_;
  RedisReply building_;  // the reply hiredis is parsing into (its address is the reader's privdata)
};

}  // namespace breakwater::store

#include "breakwater/store/redis_reply.hpp"

#include <hiredis/hiredis.h>

namespace breakwater::store {
namespace {

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::string; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::status; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::error; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::integer; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::array; break;
    default: out.type = RedisReply::Type::nil; break;
  }
  if ((r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR) && r->str)
    out.str.assign(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) out.integer = r->integer;
  if (r->type == REDIS_REPLY_ARRAY) {
    out.elements.reserve(r->elements);
    for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
  }
  return out;
}

}  // namespace

// One value (a line, a bulk string, a nil or an empty aggregate, or a whole
// aggregate) has ended: it fills one slot of the aggregate around it.
void RespGuard::value_done() {
  while (depth_ > 0) {
    if (--left_[static_cast<std::size_t>(depth_ - 1)] > 0) return;
    --depth_;  // that aggregate is complete: it is a value of its parent
  }
  total_ = 0;  // a top-level reply ended
}

bool RespGuard::end_number() {
  if (digits_ == 0 || (negative_ && number_ != 1)) return false;  // only -1 (nil) may be negative
  if (negative_) {
    value_done();
    return true;
  }
  if (kind_ == '$') {
    if (number_ > limits_.max_bulk) return false;
    bulk_left_ = number_ + 2;
    state_ = State::bulk;
    return true;
  }
  if (number_ > limits_.max_elements || (total_ += number_) > limits_.max_total_elements) return false;
  if (number_ == 0) {
    value_done();
    return true;
  }
  if (depth_ == static_cast<int>(left_.size())) return false;  // hiredis nests at most 8 aggregates
  left_[static_cast<std::size_t>(depth_++)] = number_;
  return true;
}

bool RespGuard::scan(std::string_view bytes) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  while (p < end) {
    switch (state_) {
      case State::failed: return false;
      case State::type: {
        char c = *p++;
        if (c == '+' || c == '-' || c == ':') {
          state_ = State::line;
          cr_ = false;
        } else if (c == '$' || c == '*') {
          kind_ = c;
          negative_ = false;
          digits_ = 0;
          number_ = 0;
          state_ = State::number;
        } else {
          state_ = State::failed;
        }
        break;
      }
      case State::line: {
        // hiredis ends a line at the first "\r\n"; skip to it without copying.
        for (; p < end; ++p) {
          if (*p == '\n' && cr_) {
            ++p;
            state_ = State::type;
            value_done();
            break;
          }
          cr_ = *p == '\r';
        }
        break;
      }
      case State::number: {
        char c = *p++;
        if (c == '\r') {
          state_ = State::number_lf;
        } else if (c == '-' && digits_ == 0 && !negative_) {
          negative_ = true;
        } else if (c >= '0' && c <= '9' && digits_ < 18) {  // 18 digits cannot overflow
          number_ = number_ * 10 + (c - '0');
          ++digits_;
        } else {
          state_ = State::failed;
        }
        break;
      }
      case State::number_lf:
        if (*p++ != '\n') {
          state_ = State::failed;
          break;
        }
        state_ = State::type;  // end_number() may move on to the bulk payload
        if (!end_number()) state_ = State::failed;
        break;
      case State::bulk: {
        auto take = std::min<std::int64_t>(bulk_left_, end - p);
        p += take;
        if ((bulk_left_ -= take) == 0) {
          state_ = State::type;
          value_done();
        }
        break;
      }
    }
  }
  return state_ != State::failed;
}

RedisReplyReader::RedisReplyReader(RespLimits limits) : reader_(redisReaderCreate()), guard_(limits) {}

RedisReplyReader::~RedisReplyReader() { redisReaderFree(reader_); }

bool RedisReplyReader::feed(std::string_view bytes) {
  // The guard sees every byte before hiredis does, so nothing over the limits is ever allocated.
  if (!guard_.scan(bytes)) return false;
  return redisReaderFeed(reader_, bytes.data(), bytes.size()) == REDIS_OK;
}

RedisReplyReader::Next RedisReplyReader::next(RedisReply& out) {
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) return Next::error;
  if (!raw) return Next::need_more;
  out = convert(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return Next::reply;
}

}  // namespace breakwater::store

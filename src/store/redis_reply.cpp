#include "breakwater/store/redis_reply.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>

namespace breakwater::store {
namespace {

// hiredis' parser builds our RedisReply directly (no redisReply objects to
// calloc, copy and free): a top-level reply is the reader's own slot, an
// element is its place in the parent's elements, sized when the array began.
RedisReply* place(const redisReadTask* task, RedisReply::Type type) {
  RedisReply* r = nullptr;
  if (task->parent) {
    r = &static_cast<RedisReply*>(task->parent->obj)->elements[static_cast<std::size_t>(task->idx)];
  } else {
    r = static_cast<RedisReply*>(task->privdata);
    *r = RedisReply{};
  }
  r->type = type;
  return r;
}

void* create_string(const redisReadTask* task, char* str, std::size_t len) {
  auto type = task->type == REDIS_REPLY_STATUS  ? RedisReply::Type::status
              : task->type == REDIS_REPLY_ERROR ? RedisReply::Type::error
                                                : RedisReply::Type::string;
  auto* r = place(task, type);
  r->str.assign(str, len);
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  auto* r = place(task, RedisReply::Type::array);
  r->elements.resize(static_cast<std::size_t>(std::max(elements, 0)));  // RespGuard bounded it already
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  auto* r = place(task, RedisReply::Type::integer);
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) { return place(task, RedisReply::Type::nil); }

void free_object(void*) {}  // nothing of ours is on the heap but inside the slot

redisReplyObjectFunctions kBuild{create_string, create_array, create_integer, create_nil, free_object};

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

RedisReplyReader::RedisReplyReader(RespLimits limits)
    : reader_(redisReaderCreateWithFunctions(&kBuild)), guard_(limits) {
  reader_->privdata = &building_;
}

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
  out = std::move(*static_cast<RedisReply*>(raw));
  return Next::reply;
}

}  // namespace breakwater::store

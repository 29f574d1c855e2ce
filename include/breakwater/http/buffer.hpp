#pragma once
// A growable byte buffer with a read and a write end; compacts instead of
// reallocating when it can. One per connection, reused for every message.
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace breakwater::http {

class ByteBuffer final {
 public:
  static constexpr std::size_t kFirstAllocation = 4096;  // when constructed empty
  // `initial` = 0: no memory until the first prepare() (idle connections cost nothing here).
  explicit ByteBuffer(std::size_t initial = 16 * 1024)
      : data_(initial ? new char[initial] : nullptr), cap_(initial) {}
  ByteBuffer(ByteBuffer&&) noexcept = default;
  ByteBuffer& operator=(ByteBuffer&&) noexcept = default;

  [[nodiscard]] std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  [[nodiscard]] std::size_t size() const { return end_ - begin_; }
  [[nodiscard]] bool empty() const { return end_ == begin_; }
  [[nodiscard]] std::size_t capacity() const { return cap_; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ >= end_) begin_ = end_ = 0;
  }
  void clear() { begin_ = end_ = 0; }
  // Gives the memory back when nothing is buffered and more than `keep` is held.
  void shrink_if_empty(std::size_t keep) {
    if (empty() && cap_ > keep) {
      data_.reset();
      cap_ = 0;
      begin_ = end_ = 0;
    }
  }
  // Room for at least `min` more bytes at the write end.
  std::pair<char*, std::size_t> prepare(std::size_t min = 4096) {
    if (cap_ - end_ < min) {
      std::size_t used = end_ - begin_;
      if (cap_ - used >= min && begin_ > 0) {
        std::memmove(data_.get(), data_.get() + begin_, used);
      } else {
        std::size_t cap = cap_ ? cap_ : kFirstAllocation;
        while (cap - used < min) cap *= 2;
        std::unique_ptr<char[]> grown(new char[cap]);
        if (used) std::memcpy(grown.get(), data_.get() + begin_, used);
        data_ = std::move(grown);
        cap_ = cap;
      }
      begin_ = 0;
      end_ = used;
    }
    return {data_.get() + end_, cap_ - end_};
  }
  void commit(std::size_t n) { end_ += n; }
  void append(std::string_view s) {
    if (s.empty()) return;
    auto [p, room] = prepare(s.size());
    std::memcpy(p, s.data(), s.size());
    commit(s.size());
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t cap_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace breakwater::http

#pragma once
// A list of header fields that owns its bytes: names and values packed in one
// string, no CRLF text. Cleared and refilled request after request, it
// allocates nothing once warm. Protocol-neutral: a codec writes it as
// HTTP/1.1 lines or as HTTP/2 header entries.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace breakwater::http {

class Fields final {
 public:
  struct Field {
    std::string_view name, value;
  };
  void add(std::string_view name, std::string_view value) {
    Span s{static_cast<std::uint32_t>(bytes_.size()), static_cast<std::uint32_t>(name.size()),
           static_cast<std::uint32_t>(value.size())};
    bytes_.append(name).append(value);
    spans_.push_back(s);
  }
  // The same with the name in lower case (HTTP/2 field names).
  void add_lower(std::string_view name, std::string_view value) {
    Span s{static_cast<std::uint32_t>(bytes_.size()), static_cast<std::uint32_t>(name.size()),
           static_cast<std::uint32_t>(value.size())};
    for (char c : name) bytes_.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    bytes_.append(value);
    spans_.push_back(s);
  }
  // A value written in place: `write(std::string&)` appends it to the field's bytes.
  template <class Write>
  void add_with(std::string_view name, Write write) {
    auto at = bytes_.size();
    bytes_.append(name);
    write(bytes_);
    spans_.push_back({static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(name.size()),
                      static_cast<std::uint32_t>(bytes_.size() - at - name.size())});
  }
  void clear() {
    bytes_.clear();
    spans_.clear();
  }
  [[nodiscard]] bool empty() const { return spans_.empty(); }
  [[nodiscard]] std::size_t size() const { return spans_.size(); }
  [[nodiscard]] Field operator[](std::size_t i) const {
    auto& s = spans_[i];
    std::string_view b(bytes_);
    return {b.substr(s.at, s.name), b.substr(s.at + s.name, s.value)};
  }
  // Gives memory back when more than `keep` bytes are held (a long-lived, idle owner).
  void shrink(std::size_t keep) {
    if (bytes_.capacity() > keep) std::string().swap(bytes_);
    if (spans_.capacity() * sizeof(Span) > keep) std::vector<Span>().swap(spans_);
  }

  class Iterator {
   public:
    Iterator(const Fields* f, std::size_t i) : f_(f), i_(i) {}
    Field operator*() const { return (*f_)[i_]; }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }

   private:
    const Fields* f_;
    std::size_t i_;
  };
  [[nodiscard]] Iterator begin() const { return {this, 0}; }
  [[nodiscard]] Iterator end() const { return {this, spans_.size()}; }

 private:
  struct Span {
    std::uint32_t at, name, value;
  };
  std::string bytes_;
  std::vector<Span> spans_;
};

}  // namespace breakwater::http

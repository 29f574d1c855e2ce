#include "breakwater/http/h1/parser.hpp"

#include <arpa/inet.h>

#include <bit>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "breakwater/http/text.hpp"

namespace breakwater::http::h1 {
namespace {

constexpr std::uint64_t kMaxContentLength = 1ULL << 62;

bool parse_digits(std::string_view v, std::uint64_t& out) {
  if (v.empty() || v.size() > 19) return false;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > kMaxContentLength) return false;
  out = n;
  return true;
}

bool is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

// Splits the head into lines, enforcing CRLF endings. Calls line(sv) for each
// line (without CRLF) after the first; returns the first line via `first`.
template <class F>
WireError for_each_line(std::string_view head, std::string_view& first, F&& line) {
  std::size_t pos = 0;
  bool is_first = true;
  while (pos < head.size()) {
    const char* base = head.data() + pos;
    auto* nl = static_cast<const char*>(std::memchr(base, '\n', head.size() - pos));
    if (!nl) return WireError::bare_cr;  // find_head_end guarantees a final LF
    std::size_t len = static_cast<std::size_t>(nl - base);
    if (len == 0 || base[len - 1] != '\r') return WireError::bare_lf;
    std::string_view l(base, len - 1);
    if (std::memchr(l.data(), '\r', l.size())) return WireError::bare_cr;
    pos += len + 1;
    if (l.empty()) return pos == head.size() ? WireError::none : WireError::bare_lf;
    if (is_first) {
      first = l;
      is_first = false;
    } else if (auto e = line(l); e != WireError::none) {
      return e;
    }
  }
  return WireError::bare_lf;
}

WireError parse_header_line(std::string_view l, std::vector<Header>& out) {
  if (l.front() == ' ' || l.front() == '\t') return WireError::obs_fold;
  std::size_t i = 0;
  while (i < l.size() && is_tchar(static_cast<unsigned char>(l[i]))) ++i;
  if (i == l.size()) return WireError::bad_header_name;
  if (l[i] == ' ' || l[i] == '\t') return WireError::space_before_colon;
  if (l[i] != ':' || i == 0) return WireError::bad_header_name;
  auto value = trim_ows(l.substr(i + 1));
  for (unsigned char c : value)
    if (!is_value_char(c)) return WireError::bad_header_value;
  out.push_back({l.substr(0, i), value});
  return WireError::none;
}

// Framing shared by requests and responses: Content-Length / Transfer-Encoding.
struct Framing {
  int lengths = 0;
  int encodings = 0;
  bool chunked = false;
  bool other_encoding = false;
  bool chunked_seen = false;
  bool chunked_twice = false;
  std::uint64_t length = 0;
  bool close = false;
  bool keep_alive = false;
  bool connection_tokens = false;

  // One dispatch on the name's length, then one word-wise compare.
  WireError add(const Header& h, bool strict_te) {
    switch (h.name.size()) {
      case 14:
        if (iequals_to<"content-length">(h.name)) {
          std::uint64_t v = 0;
          if (!parse_digits(h.value, v)) return WireError::bad_content_length;
          if (lengths++ && v != length) return WireError::duplicate_content_length;
          if (lengths > 1 && strict_te) return WireError::duplicate_content_length;
          length = v;
        }
        break;
      case 17:
        if (iequals_to<"transfer-encoding">(h.name)) {
          ++encodings;
          if (strict_te) {
            if (encodings > 1 || !iequals_to<"chunked">(h.value)) return WireError::bad_transfer_encoding;
            chunked = true;
          } else {
            // Responses: chunked only when it is the final coding, and never applied twice.
            for_each_list_item(h.value, [&](std::string_view item) {
              chunked = iequals_to<"chunked">(item);
              chunked_twice = chunked_twice || (chunked && chunked_seen);
              chunked_seen = chunked_seen || chunked;
              other_encoding = other_encoding || !chunked;
            });
            if (chunked_twice) return WireError::bad_transfer_encoding;
          }
        }
        break;
      case 10:
        if (iequals_to<"connection">(h.name)) {
          if (iequals_to<"keep-alive">(h.value)) {  // the usual one, without a walk of the list
            keep_alive = true;
            break;
          }
          for_each_list_item(h.value, [&](std::string_view item) {
            if (iequals_to<"close">(item))
              close = true;
            else if (iequals_to<"keep-alive">(item))
              keep_alive = true;
            else
              connection_tokens = true;
          });
        }
        break;
      default:
        break;
    }
    return WireError::none;
  }
};

// Request fields beyond framing: Host (once) and Expect: 100-continue.
struct RequestFields {
  int hosts = 0;
  WireError add(const Header& h, RequestHead& out) {
    if (h.name.size() == 4 && iequals_to<"host">(h.name)) {
      if (hosts++) return WireError::duplicate_host;
      out.host = h.value;
    } else if (h.name.size() == 6 && iequals_to<"expect">(h.name) && iequals_to<"100-continue">(h.value)) {
      out.expect_continue = true;
    }
    return WireError::none;
  }
};

// ---- The fast reading: one pass over the bytes, no error reporting. ----
// It accepts only what the line-by-line reading below (the reference) accepts,
// and reads it the same way; at anything else it gives up, and the reference
// reads the head again from the start and names the error.

struct ByteClass {
  bool value[256];  // field-value bytes: HTAB, SP..'~', obs-text
  bool target[256];  // request-target bytes: '!'..'~' but '#'
  constexpr ByteClass() : value(), target() {
    for (int c = 0; c < 256; ++c) {
      value[c] = c == '\t' || (c >= 0x20 && c != 0x7f);
      target[c] = c > 0x20 && c < 0x7f && c != '#';
    }
  }
};
inline constexpr ByteClass kClass{};

// The first byte at or after `p` that is not a field-value byte. The head
// [begin, end) ends in CRLF CRLF, which stops the scan; loads stay inside it.
inline const char* skip_value(const char* p, const char* begin, const char* end) {
#if defined(__SSE2__)
  // Sixteen bytes a compare: a byte below 0x20 or a DEL ends the value, unless a tab.
  const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
  auto stops = [&](const char* at) {
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    auto printable = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(b, space), b)));
    return (~printable & 0xffffu) | static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(b, del)));
  };
  for (;;) {
    unsigned bits;
    const char* at;
    if (end - p >= 16) {
      at = p;
      bits = stops(at);
    } else if (end - begin >= 16) {  // the last sixteen bytes, those before `p` left out
      at = end - 16;
      bits = stops(at) & (~0u << (p - at));
    } else {
      break;
    }
    if (!bits) {
      if (at != p) return end - 1;  // not reached: the head's final CRLF stops the scan
      p = at + 16;
      continue;
    }
    p = at + std::countr_zero(bits);
    if (*p != '\t') return p;
    ++p;
  }
#else
  (void)begin;
#endif
  while (kClass.value[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

// The first byte at or after `p` that is not a token character (a field name's
// end). Same bounds as skip_value.
inline const char* skip_token(const char* p, const char* end) {
#if defined(__SSE2__)
  // Letters, digits and '-' sixteen at a time (what names are made of); the other
  // token characters, and the end of a long name, byte by byte.
  if (end - p >= 16) {
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i lower = _mm_or_si128(b, _mm_set1_epi8(0x20));  // bytes >= 0x80 stay negative
    __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                  _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(b, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(b, _mm_set1_epi8('9' + 1)));
    __m128i ok = _mm_or_si128(_mm_or_si128(alpha, digit), _mm_cmpeq_epi8(b, _mm_set1_epi8('-')));
    auto bad = ~static_cast<unsigned>(_mm_movemask_epi8(ok)) & 0xffffu;
    if (bad) {
      p += std::countr_zero(bad);
      if (*p == ':') return p;
    } else {
      p += 16;
    }
  }
#endif
  while (is_tchar(static_cast<unsigned char>(*p))) ++p;
  return p;
}

// The header lines from `p`, just past the first line's CRLF, to the blank line
// that ends the head; `on(header)` sees each one and may refuse it. The head
// ends in CRLF CRLF, so every scan stops inside it.
template <class On>
bool fast_fields(const char* p, const char* begin, const char* end, std::vector<Header>& headers, On&& on) {
  for (;;) {
    if (*p == '\r') return p + 2 == end && p[1] == '\n';
    const char* name = p;
    p = skip_token(p, end);
    if (p == name || *p != ':') return false;
    std::string_view n(name, static_cast<std::size_t>(p - name));
    ++p;
    while (*p == ' ' || *p == '\t') ++p;  // OWS
    const char* v = p;
    p = skip_value(p, begin, end);
    if (p[0] != '\r' || p[1] != '\n') return false;
    const char* ve = p;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) --ve;
    headers.push_back({n, std::string_view(v, static_cast<std::size_t>(ve - v))});
    if (!on(headers.back())) return false;
    p += 2;
  }
}

// "METHOD SP TARGET SP HTTP/1.x CRLF" and the fields after it.
bool fast_request(std::string_view head, RequestHead& out, Framing& f, RequestFields& r) {
  const char* p = head.data();
  const char* end = p + head.size();
  if (head.size() < 4 || std::memcmp(end - 4, "\r\n\r\n", 4) != 0) return false;
  const char* m = p;
  while (is_tchar(static_cast<unsigned char>(*p))) ++p;
  if (p == m || *p != ' ') return false;
  out.method = {m, static_cast<std::size_t>(p - m)};
  const char* t = ++p;
  while (kClass.target[static_cast<unsigned char>(*p)]) ++p;
  if (p == t || *p != ' ') return false;
  out.target = {t, static_cast<std::size_t>(p - t)};
  ++p;
  if (end - p < 12 || std::memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != '\r' ||
      p[9] != '\n')
    return false;
  out.version_minor = p[7] - '0';
  return fast_fields(p + 10, head.data(), end, out.headers, [&](const Header& h) {
    return f.add(h, true) == WireError::none && r.add(h, out) == WireError::none;
  });
}

// "HTTP/1.x SP 3DIGIT [SP reason] CRLF" and the fields after it.
bool fast_response(std::string_view head, ResponseHead& out, Framing& f) {
  const char* p = head.data();
  const char* end = p + head.size();
  if (head.size() < 16 || std::memcmp(end - 4, "\r\n\r\n", 4) != 0) return false;
  if (std::memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != ' ') return false;
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    if (p[i] < '0' || p[i] > '9') return false;
    status = status * 10 + (p[i] - '0');
  }
  if (status < 100) return false;
  out.version_minor = p[7] - '0';
  out.status = status;
  p += 12;
  if (*p == ' ') {
    const char* reason = ++p;
    p = skip_value(p, head.data(), end);
    if (p != reason) out.reason = {reason, static_cast<std::size_t>(p - reason)};  // else empty, as the reference has it
  }
  if (p[0] != '\r' || p[1] != '\n') return false;
  return fast_fields(p + 2, head.data(), end, out.headers, [&](const Header& h) { return f.add(h, false) == WireError::none; });
}


}  // namespace

std::string_view describe(WireError e) {
  switch (e) {
    case WireError::none: return "ok";
    case WireError::request_line: return "malformed request line";
    case WireError::bare_lf: return "bare LF line ending";
    case WireError::bare_cr: return "bare CR in the message head";
    case WireError::obs_fold: return "obsolete line folding";
    case WireError::space_before_colon: return "white space between header name and colon";
    case WireError::bad_header_name: return "invalid header name";
    case WireError::bad_header_value: return "control character in a header value";
    case WireError::bad_content_length: return "invalid Content-Length";
    case WireError::duplicate_content_length: return "more than one Content-Length";
    case WireError::bad_transfer_encoding: return "unsupported Transfer-Encoding";
    case WireError::length_and_chunked: return "Content-Length together with Transfer-Encoding";
    case WireError::missing_host: return "missing Host header";
    case WireError::duplicate_host: return "more than one Host header";
    case WireError::bad_host: return "the Host header is not a valid host[:port]";
    case WireError::fragment: return "a fragment (#) in the request target";
    case WireError::status_line: return "malformed status line";
  }
  return "malformed message";
}

std::size_t find_head_end(std::string_view buf, std::size_t& scanned) {
  const char* d = buf.data();
  std::size_t n = buf.size();
  // Each LF: a blank line follows it ("\n\n" or "\n\r\n"; bare LFs are refused later by
  // the parser), or the head ends in a line still to come, or the scan goes on.
  enum { found, wait, next };
  std::size_t result = 0;
  auto at_lf = [&](std::size_t i) {
    if (i + 1 < n && d[i + 1] == '\n') {
      result = i + 2;
      return found;
    }
    if (i + 2 < n && d[i + 1] == '\r' && d[i + 2] == '\n') {
      result = i + 3;
      return found;
    }
    if (i + 2 >= n) {
      scanned = i;  // the blank line may still arrive right after this LF
      return wait;
    }
    return next;
  };
  std::size_t pos = scanned;
#if defined(__SSE2__)
  // Sixteen bytes a compare; the LFs among them one by one.
  const __m128i lf = _mm_set1_epi8('\n');
  for (; pos + 16 <= n; pos += 16) {
    auto bits = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + pos)), lf)));
    while (bits) {
      auto r = at_lf(pos + static_cast<std::size_t>(std::countr_zero(bits)));
      if (r == found) return result;
      if (r == wait) return 0;
      bits &= bits - 1;
    }
  }
  if (pos < n && n >= 16) {  // the last sixteen bytes, those already seen left out
    std::size_t base = n - 16;
    auto bits = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + base)), lf)));
    bits &= ~0u << (pos - base);
    while (bits) {
      auto r = at_lf(base + static_cast<std::size_t>(std::countr_zero(bits)));
      if (r == found) return result;
      if (r == wait) return 0;
      bits &= bits - 1;
    }
    pos = n;
  }
#endif
  while (pos < n) {
    auto* nl = static_cast<const char*>(std::memchr(d + pos, '\n', n - pos));
    if (!nl) break;
    std::size_t i = static_cast<std::size_t>(nl - d);
    auto r = at_lf(i);
    if (r == found) return result;
    if (r == wait) return 0;
    pos = i + 1;
  }
  scanned = n;
  return 0;
}

namespace {

// What follows the request line and the fields, for both readings.
WireError finish_request(RequestHead& out, const Framing& f, const RequestFields& r) {
  if (f.lengths && f.encodings) return WireError::length_and_chunked;
  if (out.version_minor >= 1 && r.hosts == 0 && out.target.front() == '/') return WireError::missing_host;
  if (r.hosts && !valid_authority(out.host)) return WireError::bad_host;
  if (f.chunked)
    out.body = BodyKind::chunked;
  else if (f.lengths && f.length > 0) {
    out.body = BodyKind::length;
    out.content_length = f.length;
  }
  out.keep_alive = out.version_minor >= 1 ? !f.close : (f.keep_alive && !f.close);
  out.has_connection_tokens = f.connection_tokens;
  return WireError::none;
}

}  // namespace

WireError parse_request_head(std::string_view head, RequestHead& out) {
  out.clear();
  Framing f;
  RequestFields r;
  if (fast_request(head, out, f, r)) return finish_request(out, f, r);
  return detail::parse_request_head_reference(head, out);
}

WireError detail::parse_request_head_reference(std::string_view head, RequestHead& out) {
  out.clear();
  Framing f;
  RequestFields r;
  std::string_view first;
  auto err = for_each_line(head, first, [&](std::string_view l) {
    if (auto e = parse_header_line(l, out.headers); e != WireError::none) return e;
    auto& h = out.headers.back();
    if (auto e = f.add(h, true); e != WireError::none) return e;
    return r.add(h, out);
  });
  if (err != WireError::none) return err;

  // METHOD SP TARGET SP HTTP/1.x
  auto sp1 = first.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return WireError::request_line;
  auto sp2 = first.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return WireError::request_line;
  out.method = first.substr(0, sp1);
  out.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = first.substr(sp2 + 1);
  for (char c : out.method)
    if (!is_tchar(static_cast<unsigned char>(c))) return WireError::request_line;
  for (unsigned char c : out.target)
    if (c <= 0x20 || c >= 0x7f) return WireError::request_line;
  if (out.target.find('#') != std::string_view::npos) return WireError::fragment;
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' || version[7] > '9')
    return WireError::request_line;
  out.version_minor = version[7] - '0';
  return finish_request(out, f, r);
}

namespace {

void finish_response(ResponseHead& out, const Framing& f, bool head_request) {
  int status = out.status;
  out.keep_alive = out.version_minor >= 1 ? !f.close : (f.keep_alive && !f.close);
  out.content_length = f.length;  // kept for HEAD answers, which carry no body
  out.chunked_framing = f.encodings && f.chunked;
  out.other_codings = f.encodings && f.other_encoding;
  if (head_request || status < 200 || status == 204 || status == 304) {
    out.body = BodyKind::none;
  } else if (f.encodings) {
    // RFC 9112 §6.3: chunked as the final coding is chunked framing, whatever comes before it.
    out.body = f.chunked ? BodyKind::chunked : BodyKind::until_close;
    if (out.body == BodyKind::until_close) out.keep_alive = false;
  } else if (f.lengths) {
    out.body = f.length ? BodyKind::length : BodyKind::none;
    out.content_length = f.length;
  } else {
    out.body = BodyKind::until_close;
    out.keep_alive = false;
  }
}

}  // namespace

WireError parse_response_head(std::string_view head, bool head_request, ResponseHead& out) {
  out.clear();
  Framing f;
  if (fast_response(head, out, f)) {
    finish_response(out, f, head_request);
    return WireError::none;
  }
  return detail::parse_response_head_reference(head, head_request, out);
}

WireError detail::parse_response_head_reference(std::string_view head, bool head_request, ResponseHead& out) {
  out.clear();
  Framing f;
  std::string_view first;
  auto err = for_each_line(head, first, [&](std::string_view l) {
    if (auto e = parse_header_line(l, out.headers); e != WireError::none) return e;
    return f.add(out.headers.back(), false);
  });
  if (err != WireError::none) return err;
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (first.size() < 12 || first.substr(0, 7) != "HTTP/1." || first[7] < '0' || first[7] > '9' ||
      first[8] != ' ')
    return WireError::status_line;
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    if (first[i] < '0' || first[i] > '9') return WireError::status_line;
    status = status * 10 + (first[i] - '0');
  }
  if (status < 100 || (first.size() > 12 && first[12] != ' ')) return WireError::status_line;
  out.version_minor = first[7] - '0';
  out.status = status;
  out.reason = first.size() > 13 ? first.substr(13) : std::string_view{};
  finish_response(out, f, head_request);
  return WireError::none;
}

ChunkedDecoder::Step ChunkedDecoder::next(std::string_view in) {
  constexpr std::size_t kMaxLine = 4096;
  // Reads one CRLF-terminated line; false when it is not complete yet.
  auto line = [&](std::string_view& l, std::size_t& used, bool& bad) {
    auto nl = in.find('\n');
    if (nl == std::string_view::npos) {
      bad = in.size() > kMaxLine;
      return false;
    }
    if (nl == 0 || in[nl - 1] != '\r' || nl > kMaxLine) {
      bad = true;
      return false;
    }
    l = in.substr(0, nl - 1);
    used = nl + 1;
    bad = l.find('\r') != std::string_view::npos;
    return !bad;
  };
  std::string_view l;
  std::size_t used = 0;
  bool bad = false;
  switch (state_) {
    case State::size: {
      if (!line(l, used, bad)) return {bad ? Status::error : Status::need_more, 0, {}};
      std::size_t i = 0;
      std::uint64_t n = 0;
      while (i < l.size()) {
        char c = l[i];
        int d = (c >= '0' && c <= '9') ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0) break;
        if (i >= 15) return {Status::error, 0, {}};  // > 2^60: refuse
        n = n * 16 + static_cast<std::uint64_t>(d);
        ++i;
      }
      if (i == 0) return {Status::error, 0, {}};
      auto rest = l.substr(i);
      while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
      if (!rest.empty() && rest.front() != ';') return {Status::error, 0, {}};
      for (unsigned char c : rest)
        if (c != '\t' && (c < 0x20 || c == 0x7f)) return {Status::error, 0, {}};
      remaining_ = n;
      state_ = n ? State::data : State::trailer;
      return {Status::need_more, used, {}};
    }
    case State::data: {
      if (in.empty()) return {Status::need_more, 0, {}};
      auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
      remaining_ -= take;
      if (!remaining_) state_ = State::data_crlf;
      return {Status::data, take, in.substr(0, take)};
    }
    case State::data_crlf:
      if (in.size() < 2) return {in.empty() || in[0] == '\r' ? Status::need_more : Status::error, 0, {}};
      if (in[0] != '\r' || in[1] != '\n') return {Status::error, 0, {}};
      state_ = State::size;
      return {Status::need_more, 2, {}};
    case State::trailer: {
      if (!line(l, used, bad)) return {bad ? Status::error : Status::need_more, 0, {}};
      if (l.empty()) {
        state_ = State::done;
        return {Status::done, used, {}};
      }
      std::vector<Header> ignored;
      if (parse_header_line(l, ignored) != WireError::none) return {Status::error, 0, {}};
      return {Status::need_more, used, {}};
    }
    case State::done:
      return {Status::done, 0, {}};
  }
  return {Status::error, 0, {}};
}

}  // namespace breakwater::http::h1

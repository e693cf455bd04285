// UTF-8 well-formedness after Unicode 15, table 3-7: no overlong forms, no
// surrogates, nothing above U+10FFFF. Text from the outside world (input
// lines, header values, DNS names) is checked or repaired with these before
// it goes into JSON or an error message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/plain_ascii.h"

namespace hl {

// Length of the well-formed sequence at the start of `s`; 0 when `s` is
// empty or does not start with one.
inline size_t Utf8SequenceLength(std::string_view s) {
  if (s.empty()) return 0;
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (s.size() < len || b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (b(i) < 0x80 || b(i) > 0xbf) return 0;
  }
  return len;
}

inline bool IsValidUtf8(std::string_view s) {
  while (true) {
    s.remove_prefix(AsciiPrefix(s));
    if (s.empty()) return true;
    const size_t len = Utf8SequenceLength(s);
    if (len == 0) return false;
    s.remove_prefix(len);
  }
}

// Appends `s` to *out with every byte that does not start a well-formed
// sequence replaced by U+FFFD. ASCII bytes are never replaced, so text split
// at an ASCII byte repairs piecewise exactly as in one piece.
inline void AppendValidUtf8(std::string_view s, std::string* out) {
  while (!s.empty()) {
    size_t valid = 0;  // well-formed prefix of `s`
    while (true) {
      valid += AsciiPrefix(s.substr(valid));
      if (valid == s.size()) break;
      const size_t len = Utf8SequenceLength(s.substr(valid));
      if (len == 0) break;
      valid += len;
    }
    out->append(s.data(), valid);
    s.remove_prefix(valid);
    if (!s.empty()) {
      out->append("\xef\xbf\xbd");
      s.remove_prefix(1);
    }
  }
}

// `s` with every byte that does not start a well-formed sequence replaced
// by U+FFFD.
inline std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  AppendValidUtf8(s, &out);
  return out;
}

}  // namespace hl

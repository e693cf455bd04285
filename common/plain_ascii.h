// Finds the runs of text that escaping copies as they are, eight bytes at a
// time (JSON strings in common/record_json.cc, HTML text in
// coordinator/html_text.cc).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace hl {

// The length of the longest prefix of `s` made of printable ASCII bytes
// (0x20 to 0x7e) other than those in `kSpecial`.
template <char... kSpecial>
size_t PlainAsciiPrefix(std::string_view s) {
  size_t i = 0;
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t kOnes = 0x0101010101010101;
    constexpr uint64_t kHigh = 0x8080808080808080;
    // The high bit of each byte below `n` (n <= 0x80) is set in the result,
    // and possibly bits above such a byte (borrows), never below the first:
    // so the lowest set bit is exact.
    const auto below = [](uint64_t x, uint64_t n) {
      return (x - kOnes * n) & ~x & kHigh;
    };
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t x;
      std::memcpy(&x, s.data() + i, 8);
      uint64_t flags =
          (x & kHigh) | below(x, 0x20) | below(x ^ kOnes * 0x7f, 1);
      ((flags |= below(x ^ kOnes * static_cast<unsigned char>(kSpecial), 1)),
       ...);
      if (flags != 0) return i + std::countr_zero(flags) / 8;
    }
  }
  for (; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u >= 0x7f || ((s[i] == kSpecial) || ...)) break;
  }
  return i;
}

}  // namespace hl

// Finds the runs of text that escaping, quoting or UTF-8 repair copies as
// they are, sixteen bytes at a time (JSON strings in common/record_json.cc,
// HTML text in coordinator/html_text.cc, CSV fields in coordinator/reports.cc,
// common/utf8.h).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace hl {

namespace plain_ascii_internal {

// Sixteen bytes as one vector (GCC and Clang vector extensions: SSE2 on
// x86-64, NEON on ARM).
using Block = unsigned char __attribute__((vector_size(16)));
// A comparison of blocks: 0xff (-1) where it holds, 0 elsewhere.
using Flags = signed char __attribute__((vector_size(16)));

// The length of the longest prefix of `s` whose bytes `flag` leaves 0:
// `flag` maps a block to one with 0xff at the bytes that end a run, 0x00
// elsewhere.
template <typename Flag>
size_t PrefixBefore(std::string_view s, Flag flag) {
  const auto first_flagged = [&flag](Block x) -> size_t {
    const Flags flags = flag(x);
    uint64_t half[2];
    std::memcpy(half, &flags, sizeof half);
    const auto first = [](uint64_t h) {
      return static_cast<size_t>(std::endian::native == std::endian::little
                                     ? std::countr_zero(h)
                                     : std::countl_zero(h)) /
             8;
    };
    return half[0] != 0 ? first(half[0]) : 8 + first(half[1]);
  };
  size_t i = 0;
  for (; i + 16 <= s.size(); i += 16) {
    Block x;
    std::memcpy(&x, s.data() + i, 16);
    const size_t n = first_flagged(x);
    if (n < 16) return i + n;
  }
  if (i == s.size()) return i;
  Block x = {};
  if (i > 0) {
    // The last sixteen bytes: those before i are not flagged.
    std::memcpy(&x, s.data() + s.size() - 16, 16);
    return s.size() - 16 + first_flagged(x);
  }
  // A text shorter than a block, followed by zeros that do not count.
  std::memcpy(&x, s.data(), s.size());
  return std::min(s.size(), first_flagged(x));
}

}  // namespace plain_ascii_internal

// The length of the longest prefix of `s` made of printable ASCII bytes
// (0x20 to 0x7e) other than those in `kSpecial`.
template <char... kSpecial>
size_t PlainAsciiPrefix(std::string_view s) {
  return plain_ascii_internal::PrefixBefore(
      s, [](plain_ascii_internal::Block x) {
        // Printable bytes map to 0x00..0x5e, every other byte above.
        auto flags = (x - 0x20) > 0x5e;
        ((flags |= x == static_cast<unsigned char>(kSpecial)), ...);
        return flags;
      });
}

// The length of the longest prefix of `s` without any of `kSpecial`.
template <char... kSpecial>
size_t PrefixWithout(std::string_view s) {
  return plain_ascii_internal::PrefixBefore(
      s, [](plain_ascii_internal::Block x) {
        plain_ascii_internal::Flags flags = {};
        ((flags |= x == static_cast<unsigned char>(kSpecial)), ...);
        return flags;
      });
}

// The length of the longest prefix of `s` made of ASCII bytes (below 0x80).
inline size_t AsciiPrefix(std::string_view s) {
  return plain_ascii_internal::PrefixBefore(
      s, [](plain_ascii_internal::Block x) { return x > 0x7f; });
}

}  // namespace hl

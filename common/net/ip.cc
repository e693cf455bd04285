#include "common/net/ip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>

namespace hl::net {
namespace {

// One row of a classification table: the first `prefix_len` bits of `base`
// (given as the leading bytes of the address) select `cls`.
struct Range {
  std::array<uint8_t, 16> base;
  int prefix_len;
  AddressClass cls;
};

bool PrefixMatches(const uint8_t* addr, const uint8_t* base, int prefix_len) {
  const int full = prefix_len / 8;
  if (std::memcmp(addr, base, full) != 0) return false;
  const int rest = prefix_len % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (addr[full] & mask) == (base[full] & mask);
}

// IANA IPv4 Special-Purpose Address Registry, plus multicast and the
// former class E. Globally reachable entries of the registry (AS112, AMT)
// are public and therefore absent. 192.0.0.0/24 is refused as a whole,
// including its two anycast host entries: nothing is hosted there.
constexpr Range kV4Ranges[] = {
    {{0}, 8, AddressClass::kUnspecified},
    {{10}, 8, AddressClass::kPrivate},
    {{100, 64}, 10, AddressClass::kCgnat},
    {{127}, 8, AddressClass::kLoopback},
    {{169, 254}, 16, AddressClass::kLinkLocal},
    {{172, 16}, 12, AddressClass::kPrivate},
    {{192, 0, 0}, 24, AddressClass::kReserved},
    {{192, 0, 2}, 24, AddressClass::kReserved},
    {{192, 88, 99}, 24, AddressClass::kReserved},
    {{192, 168}, 16, AddressClass::kPrivate},
    {{198, 18}, 15, AddressClass::kReserved},
    {{198, 51, 100}, 24, AddressClass::kReserved},
    {{203, 0, 113}, 24, AddressClass::kReserved},
    {{224}, 4, AddressClass::kMulticast},
    {{240}, 4, AddressClass::kReserved},  // includes 255.255.255.255
};

// IPv6 ranges other than those embedding IPv4 and other than :: and ::1.
// Checked in order; the first match wins, so the more specific ranges of
// 2000::/3 come before it. Everything outside 2000::/3 that is not listed
// is "Reserved by IETF" in the IANA IPv6 Address Space registry (this covers
// 100::/64 discard, 5f00::/16 SRv6 and the rest of ::/8).
constexpr Range kV6Ranges[] = {
    // 2001::/23 IETF protocol assignments, including 2001::/32 Teredo,
    // benchmarking, ORCHIDv2 and the few globally reachable anycast
    // entries, which host no content.
    {{0x20, 0x01, 0x00, 0x00}, 23, AddressClass::kReserved},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, AddressClass::kReserved},  // documentation
    {{0x3f, 0xff, 0x00}, 20, AddressClass::kReserved},        // documentation
    // 6bone, returned to IANA in 2006 (RFC 3701) and never reallocated.
    {{0x3f, 0xfe}, 16, AddressClass::kReserved},
    {{0x20}, 3, AddressClass::kPublic},   // global unicast
    {{0xfc}, 7, AddressClass::kPrivate},  // unique local
    {{0xfe, 0x80}, 10, AddressClass::kLinkLocal},
    {{0xfe, 0xc0}, 10, AddressClass::kPrivate},  // deprecated site-local
    {{0xff}, 8, AddressClass::kMulticast},
};

constexpr std::array<uint8_t, 16> kV6Mapped = {0, 0, 0, 0, 0,    0,
                                               0, 0, 0, 0, 0xff, 0xff};
constexpr std::array<uint8_t, 16> kNat64WellKnown = {0x00, 0x64, 0xff, 0x9b};
constexpr std::array<uint8_t, 16> kNat64Local = {0x00, 0x64, 0xff,
                                                 0x9b, 0x00, 0x01};
constexpr std::array<uint8_t, 16> k6to4 = {0x20, 0x02};

bool InPrefix(const IpAddress& ip, const std::array<uint8_t, 16>& base,
              int prefix_len) {
  return PrefixMatches(ip.bytes(), base.data(), prefix_len);
}

bool IsMapped(const IpAddress& ip) {
  return !ip.is_v4() && InPrefix(ip, kV6Mapped, 96);
}

IpAddress V4At(const uint8_t* p) {
  return IpAddress::V4({p[0], p[1], p[2], p[3]});
}

}  // namespace

IpAddress IpAddress::V4(std::array<uint8_t, 4> bytes) {
  IpAddress ip;
  ip.family_ = Family::kV4;
  std::copy(bytes.begin(), bytes.end(), ip.bytes_.begin());
  return ip;
}

IpAddress IpAddress::V6(std::array<uint8_t, 16> bytes) {
  IpAddress ip;
  ip.family_ = Family::kV6;
  ip.bytes_ = bytes;
  return ip;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; an embedded NUL would silently
  // shorten the input, and no valid address is longer than this.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN ||
      text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string s(text);
  if (s.find(':') == std::string::npos) {
    std::array<uint8_t, 4> b;
    if (inet_pton(AF_INET, s.c_str(), b.data()) != 1) return std::nullopt;
    return V4(b);
  }
  std::array<uint8_t, 16> b;
  if (inet_pton(AF_INET6, s.c_str(), b.data()) != 1) return std::nullopt;
  return V6(b);
}

std::optional<IpAddress> IpAddress::FromSockaddr(const sockaddr* sa) {
  if (sa == nullptr) return std::nullopt;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::array<uint8_t, 4> b;
    std::memcpy(b.data(), &in->sin_addr, 4);
    return V4(b);
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::array<uint8_t, 16> b;
    std::memcpy(b.data(), &in6->sin6_addr, 16);
    return V6(b);
  }
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  // Into one buffer: the probe path formats addresses several times per URL.
  auto dotted = [](const uint8_t* p) {
    char text[16];
    char* end = text;
    for (int i = 0; i < 4; ++i) {
      if (i > 0) *end++ = '.';
      end = std::to_chars(end, text + sizeof(text), p[i]).ptr;
    }
    return std::string(text, end);
  };
  if (is_v4()) return dotted(bytes_.data());
  // RFC 5952: lower-case hex without leading zeros, the longest run (the
  // first on a tie) of two or more zero groups replaced by "::", and mixed
  // notation for IPv4-mapped addresses (section 5).
  if (IsMapped(*this)) return "::ffff:" + dotted(bytes_.data() + 12);
  uint16_t groups[8];
  for (int i = 0; i < 8; ++i) {
    groups[i] = static_cast<uint16_t>(bytes_[2 * i] << 8 | bytes_[2 * i + 1]);
  }
  int best_start = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > best_len) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best_start = -1;
  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    out.append(buf, std::to_chars(buf, buf + sizeof(buf), groups[i], 16).ptr);
  }
  return out;
}

std::optional<IpAddress> IpAddress::EmbeddedV4() const {
  if (is_v4()) return std::nullopt;
  const uint8_t* b = bytes_.data();
  if (InPrefix(*this, kV6Mapped, 96)) return V4At(b + 12);
  if (InPrefix(*this, {}, 96)) {
    // IPv4-compatible, except :: and ::1 which are IPv6 addresses in their
    // own right.
    if (b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1) {
      return std::nullopt;
    }
    return V4At(b + 12);
  }
  if (InPrefix(*this, kNat64WellKnown, 96)) return V4At(b + 12);
  // 64:ff9b:1::/48 may be subdivided with any prefix length up to /96; only
  // the /96 at its start has an unambiguous layout.
  if (InPrefix(*this, kNat64Local, 96)) return V4At(b + 12);
  if (InPrefix(*this, k6to4, 16)) return V4At(b + 2);
  return std::nullopt;
}

Cidr::Cidr(IpAddress base, int prefix_len) : prefix_len_(prefix_len) {
  const int bits = static_cast<int>(base.size()) * 8;
  assert(prefix_len >= 0 && prefix_len <= bits);
  prefix_len_ = std::clamp(prefix_len, 0, bits);
  // Invariant: host bits of base_ are zero.
  std::array<uint8_t, 16> b{};
  std::memcpy(b.data(), base.bytes(), base.size());
  for (int i = 0; i < static_cast<int>(base.size()); ++i) {
    const int keep = std::clamp(prefix_len_ - 8 * i, 0, 8);
    b[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  base_ =
      base.is_v4() ? IpAddress::V4({b[0], b[1], b[2], b[3]}) : IpAddress::V6(b);
}

Result<Cidr> Cidr::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  const auto addr = IpAddress::Parse(addr_text);
  if (!addr) {
    return InvalidArgument("\"" + std::string(addr_text) +
                           "\" is not an IP address (expected a dotted-quad "
                           "IPv4 or an IPv6 address)");
  }
  const int bits = static_cast<int>(addr->size()) * 8;
  if (slash == std::string_view::npos) return Cidr(*addr, bits);
  const std::string_view len_text = text.substr(slash + 1);
  int len = -1;
  const bool digits_only =
      !len_text.empty() && len_text.size() <= 3 &&
      std::all_of(len_text.begin(), len_text.end(),
                  [](char c) { return c >= '0' && c <= '9'; });
  if (digits_only) {
    std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  }
  if (len < 0 || len > bits) {
    return InvalidArgument(
        "prefix length \"" + std::string(len_text) + "\" in \"" +
        std::string(text) + "\" must be a number from 0 to " +
        std::to_string(bits) + (addr->is_v4() ? " for IPv4" : " for IPv6"));
  }
  Cidr cidr(*addr, len);
  if (cidr.base() != *addr) {
    return InvalidArgument(
        "\"" + std::string(text) + "\" has bits set after the first " +
        std::to_string(len) + "; the network is " + cidr.ToString());
  }
  return cidr;
}

bool Cidr::Contains(const IpAddress& ip) const {
  return ip.family() == base_.family() &&
         PrefixMatches(ip.bytes(), base_.bytes(), prefix_len_);
}

std::string Cidr::ToString() const {
  return base_.ToString() + "/" + std::to_string(prefix_len_);
}

std::string_view AddressClassName(AddressClass c) {
  switch (c) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kCgnat:
      return "cgnat";
    case AddressClass::kMulticast:
      return "multicast";
    case AddressClass::kReserved:
      return "reserved";
  }
  return "unknown";
}

AddressClass Classify(const IpAddress& ip) {
  if (ip.is_v4()) {
    for (const Range& r : kV4Ranges) {
      if (PrefixMatches(ip.bytes(), r.base.data(), r.prefix_len)) return r.cls;
    }
    return AddressClass::kPublic;
  }
  const uint8_t* b = ip.bytes();
  static constexpr std::array<uint8_t, 16> kZero{};
  if (std::memcmp(b, kZero.data(), 15) == 0 && b[15] <= 1) {
    return b[15] == 0 ? AddressClass::kUnspecified : AddressClass::kLoopback;
  }
  if (auto v4 = ip.EmbeddedV4()) return Classify(*v4);
  for (const Range& r : kV6Ranges) {
    if (PrefixMatches(b, r.base.data(), r.prefix_len)) return r.cls;
  }
  return AddressClass::kReserved;
}

bool TargetPolicy::Permits(const IpAddress& ip) const {
  if (Classify(ip) == AddressClass::kPublic) return true;
  // An IPv4-mapped address reaches the very same IPv4 host, so an IPv4
  // allowlist entry covers it too.
  const std::optional<IpAddress> same_host =
      IsMapped(ip) ? ip.EmbeddedV4() : std::nullopt;
  return std::any_of(allow_.begin(), allow_.end(), [&](const Cidr& c) {
    return c.Contains(ip) || (same_host && c.Contains(*same_host));
  });
}

}  // namespace hl::net

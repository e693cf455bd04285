// IP addresses, CIDR blocks and the private-target rule (DESIGN.md, rule 3).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct sockaddr;

namespace hl::net {

class IpAddress {
 public:
  enum class Family { kV4, kV6 };

  IpAddress() = default;
  static IpAddress V4(std::array<uint8_t, 4> bytes);
  static IpAddress V6(std::array<uint8_t, 16> bytes);
  // Strict textual forms only: dotted-quad IPv4 (no octal/hex/short forms)
  // and RFC 4291/5952 IPv6 (no zone id, no brackets).
  static std::optional<IpAddress> Parse(std::string_view text);
  // From a connected/connecting socket address (AF_INET or AF_INET6).
  static std::optional<IpAddress> FromSockaddr(const sockaddr* sa);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  // 4 bytes for IPv4, 16 for IPv6, network order.
  const uint8_t* bytes() const { return bytes_.data(); }
  size_t size() const { return is_v4() ? 4 : 16; }
  // Canonical text: dotted quad, or RFC 5952 lower-case compressed IPv6.
  std::string ToString() const;
  // The IPv4 address embedded in an IPv4-mapped (::ffff:0:0/96),
  // IPv4-compatible (::/96, excluding :: and ::1), 6to4 (2002::/16) or
  // NAT64 IPv6 address. For NAT64 that is the well-known 64:ff9b::/96 and
  // the /96 at the start of the local-use 64:ff9b:1::/48; the rest of that
  // /48 may be cut into prefixes of any length, so no layout is assumed.
  std::optional<IpAddress> EmbeddedV4() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::kV4;
  std::array<uint8_t, 16> bytes_{};
};

class Cidr {
 public:
  // "a.b.c.d/n" or "x::y/n"; a bare address means a host prefix. Host bits
  // beyond the prefix must be zero. Errors are InvalidArgument with a
  // message naming the problem (and the intended network for host bits).
  static Result<Cidr> Parse(std::string_view text);
  // prefix_len must be 0..32 for IPv4, 0..128 for IPv6. Host bits of base
  // are cleared, so base() is always the network address.
  Cidr(IpAddress base, int prefix_len);

  const IpAddress& base() const { return base_; }
  int prefix_len() const { return prefix_len_; }
  // Families never mix: an IPv4 block contains no IPv6 address.
  bool Contains(const IpAddress& ip) const;
  std::string ToString() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  IpAddress base_;
  int prefix_len_ = 0;
};

// Why an address may not be probed. kPublic is the only probe-able class.
enum class AddressClass {
  kPublic,
  kUnspecified,  // 0.0.0.0/8, ::/128
  kLoopback,     // 127/8, ::1
  kPrivate,      // RFC 1918, fc00::/7, fec0::/10 (deprecated site-local)
  kLinkLocal,    // 169.254/16, fe80::/10
  kCgnat,        // 100.64/10
  kMulticast,    // 224/4, ff00::/8
  kReserved,     // 240/4, broadcast, documentation, benchmarking,
                 // IETF protocol assignments (192.0.0/24, 2001::/23
                 // including Teredo), 6to4 relay anycast, discard-only,
                 // SRv6, 6bone, and all IPv6 outside 2000::/3 not named
                 // above
};

std::string_view AddressClassName(AddressClass c);

// Classifies an address; IPv6 forms that embed an IPv4 address
// (see IpAddress::EmbeddedV4) take the class of the embedded address.
AddressClass Classify(const IpAddress& ip);

// The connect-time rule: public addresses pass; any other class passes only
// when an allowlisted CIDR contains it (an IPv4-mapped address also when an
// allowlisted CIDR contains its IPv4 address: the connection goes there).
class TargetPolicy {
 public:
  TargetPolicy() = default;
  explicit TargetPolicy(std::vector<Cidr> allow) : allow_(std::move(allow)) {}

  bool Permits(const IpAddress& ip) const;
  const std::vector<Cidr>& allowlist() const { return allow_; }

 private:
  std::vector<Cidr> allow_;
};

}  // namespace hl::net

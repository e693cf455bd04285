#include "common/net/ip.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>
#include <vector>

namespace hl::net {
namespace {

IpAddress Ip(std::string_view text) {
  const auto ip = IpAddress::Parse(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return ip.value_or(IpAddress());
}

struct RoundTrip {
  std::string in;
  std::string out;
};

TEST(IpAddressTest, ParseAndToStringRoundTrip) {
  const std::vector<RoundTrip> cases = {
      {"1.2.3.4", "1.2.3.4"},
      {"0.0.0.0", "0.0.0.0"},
      {"255.255.255.255", "255.255.255.255"},
      {"10.20.100.9", "10.20.100.9"},
      {"192.0.99.250", "192.0.99.250"},
      {"::", "::"},
      {"0:0:0:0:0:0:0:0", "::"},
      {"::1", "::1"},
      {"1::", "1::"},
      {"fe80::", "fe80::"},
      {"ff02::1", "ff02::1"},
      {"2001:DB8::1", "2001:db8::1"},
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      // RFC 5952 4.2.2: a single zero group is not compressed.
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      // 4.2.1: the longest run is compressed.
      {"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},
      // 4.2.3: on a tie, the first run.
      {"1:0:0:2:0:0:3:4", "1::2:0:0:3:4"},
      {"2001:db8::1:0:0:1", "2001:db8::1:0:0:1"},
      {"2606:4700:4700::1111", "2606:4700:4700::1111"},
      // Section 5: mixed notation for IPv4-mapped addresses only.
      {"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
      {"::FFFF:0102:0304", "::ffff:1.2.3.4"},
      {"::ffff:255.0.10.99", "::ffff:255.0.10.99"},
      {"::1.2.3.4", "::102:304"},
      {"64:ff9b::1.2.3.4", "64:ff9b::102:304"},
  };
  for (const RoundTrip& c : cases) {
    SCOPED_TRACE(c.in);
    const auto ip = IpAddress::Parse(c.in);
    ASSERT_TRUE(ip.has_value());
    EXPECT_EQ(ip->ToString(), c.out);
    EXPECT_EQ(IpAddress::Parse(ip->ToString()), ip);
    EXPECT_EQ(ip->is_v4(), c.in.find(':') == std::string::npos);
    EXPECT_EQ(ip->size(), ip->is_v4() ? 4u : 16u);
  }
}

TEST(IpAddressTest, ParseIsStrict) {
  const std::vector<std::string> cases = {
      "",
      "1.2.3",
      "1.2.3.4.",
      "1.2.3.4.5",
      "01.2.3.4",
      "0x7f.0.0.1",
      "2130706433",
      "256.1.1.1",
      "1.2.3.-4",
      " 1.2.3.4",
      "1.2.3.4 ",
      "1.2.3.4/32",
      std::string("1.2.3.4\0", 8),
      std::string("1.2.3.4\0junk", 12),
      "a.b.c.d",
      "[::1]",
      "fe80::1%eth0",
      "fe80::1%25eth0",
      "::1::",
      "12345::",
      "gggg::",
      "1:2:3:4:5:6:7:8:9",
      "::ffff:1.2.3.4.5",
      "::ffff:1.2.3",
      std::string(100, '1'),
  };
  for (const std::string& text : cases) {
    EXPECT_FALSE(IpAddress::Parse(text).has_value()) << text;
  }
}

TEST(IpAddressTest, FromSockaddr) {
  sockaddr_in in4{};
  in4.sin_family = AF_INET;
  in4.sin_port = htons(443);
  ASSERT_EQ(inet_pton(AF_INET, "192.0.2.7", &in4.sin_addr), 1);
  EXPECT_EQ(IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&in4)),
            Ip("192.0.2.7"));

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_scope_id = 3;
  ASSERT_EQ(inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr), 1);
  EXPECT_EQ(IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&in6)),
            Ip("fe80::1"));

  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_FALSE(
      IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&un)).has_value());
  EXPECT_FALSE(IpAddress::FromSockaddr(nullptr).has_value());
}

TEST(IpAddressTest, ConstructorsAndOrdering) {
  EXPECT_EQ(IpAddress::V4({10, 0, 0, 1}), Ip("10.0.0.1"));
  EXPECT_EQ(IpAddress::V6(
                {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}),
            Ip("2001:db8::1"));
  EXPECT_LT(Ip("10.0.0.1"), Ip("10.0.0.2"));
  // Same bytes, different family: different addresses.
  EXPECT_NE(IpAddress::V4({0, 0, 0, 0}), Ip("::"));
}

struct ClassCase {
  std::string ip;
  AddressClass cls;
};

TEST(ClassifyTest, EveryRange) {
  using C = AddressClass;
  const std::vector<ClassCase> cases = {
      // IPv4 public.
      {"8.8.8.8", C::kPublic},
      {"1.1.1.1", C::kPublic},
      {"9.255.255.255", C::kPublic},
      {"11.0.0.0", C::kPublic},
      {"100.63.255.255", C::kPublic},
      {"100.128.0.0", C::kPublic},
      {"172.15.255.255", C::kPublic},
      {"172.32.0.0", C::kPublic},
      {"192.0.1.255", C::kPublic},
      {"192.0.3.0", C::kPublic},
      {"192.31.196.1", C::kPublic},  // AS112, globally reachable
      {"192.167.255.255", C::kPublic},
      {"192.169.0.0", C::kPublic},
      {"198.17.255.255", C::kPublic},
      {"198.20.0.0", C::kPublic},
      {"223.255.255.255", C::kPublic},
      // 0.0.0.0/8
      {"0.0.0.0", C::kUnspecified},
      {"0.255.255.255", C::kUnspecified},
      // 10/8, 172.16/12, 192.168/16
      {"10.0.0.0", C::kPrivate},
      {"10.255.255.255", C::kPrivate},
      {"172.16.0.0", C::kPrivate},
      {"172.31.255.255", C::kPrivate},
      {"192.168.0.1", C::kPrivate},
      {"192.168.255.255", C::kPrivate},
      // 100.64/10
      {"100.64.0.0", C::kCgnat},
      {"100.127.255.255", C::kCgnat},
      // 127/8
      {"127.0.0.1", C::kLoopback},
      {"127.255.255.254", C::kLoopback},
      // 169.254/16
      {"169.254.0.0", C::kLinkLocal},
      {"169.254.169.254", C::kLinkLocal},
      // Reserved: IETF assignments, documentation, 6to4 relay, benchmarking,
      // class E, broadcast.
      {"192.0.0.0", C::kReserved},
      {"192.0.0.9", C::kReserved},
      {"192.0.0.255", C::kReserved},
      {"192.0.2.1", C::kReserved},
      {"192.88.99.1", C::kReserved},
      {"198.18.0.0", C::kReserved},
      {"198.19.255.255", C::kReserved},
      {"198.51.100.7", C::kReserved},
      {"203.0.113.200", C::kReserved},
      {"240.0.0.0", C::kReserved},
      {"254.255.255.255", C::kReserved},
      {"255.255.255.255", C::kReserved},
      // 224/4
      {"224.0.0.0", C::kMulticast},
      {"239.255.255.255", C::kMulticast},
      // IPv6 public.
      {"2606:4700::1111", C::kPublic},
      {"2001:4860:4860::8888", C::kPublic},
      {"2a00:1450:4001::1", C::kPublic},
      {"2001:200::1", C::kPublic},  // just past 2001::/23
      {"3ffd:ffff::1", C::kPublic},
      {"3fff:1000::1", C::kPublic},  // just past 3fff::/20
      // ::, ::1
      {"::", C::kUnspecified},
      {"::1", C::kLoopback},
      // IPv4-mapped, IPv4-compatible: class of the embedded address.
      {"::ffff:8.8.8.8", C::kPublic},
      {"::ffff:127.0.0.1", C::kLoopback},
      {"::ffff:10.1.2.3", C::kPrivate},
      {"::ffff:169.254.169.254", C::kLinkLocal},
      {"::ffff:0.0.0.0", C::kUnspecified},
      {"::8.8.8.8", C::kPublic},
      {"::10.0.0.1", C::kPrivate},
      {"::0.0.0.2", C::kUnspecified},
      // NAT64 well-known and local-use /96: embedded.
      {"64:ff9b::8.8.8.8", C::kPublic},
      {"64:ff9b::192.168.1.1", C::kPrivate},
      {"64:ff9b::127.0.0.1", C::kLoopback},
      {"64:ff9b:1::8.8.8.8", C::kPublic},
      {"64:ff9b:1::10.0.0.1", C::kPrivate},
      // Rest of 64:ff9b:1::/48: layout unknown, local use.
      {"64:ff9b:1:1::808:808", C::kReserved},
      // Rest of 64:ff9b::/32 outside the /96.
      {"64:ff9b:0:1::808:808", C::kReserved},
      // 6to4: embedded.
      {"2002:808:808::1", C::kPublic},
      {"2002:a00:1::1", C::kPrivate},
      {"2002:7f00:1::", C::kLoopback},
      {"2002:c0a8:101::1", C::kPrivate},
      // Reserved IPv6.
      {"::1:0:0:0", C::kReserved},         // rest of ::/8
      {"::ffff:0:1.2.3.4", C::kReserved},  // SIIT translated, ::/8
      {"100::", C::kReserved},             // discard-only
      {"100::ffff:ffff:ffff:ffff", C::kReserved},
      {"2001::1", C::kReserved},  // Teredo
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", C::kReserved},
      {"2001:2::1", C::kReserved},         // benchmarking
      {"2001:20::1", C::kReserved},        // ORCHIDv2
      {"2001:1ff:ffff::1", C::kReserved},  // end of 2001::/23
      {"2001:db8::1", C::kReserved},       // documentation
      {"2001:db8:ffff:ffff::", C::kReserved},
      {"3fff::1", C::kReserved},  // documentation
      {"3fff:fff:ffff::1", C::kReserved},
      {"5f00::1", C::kReserved},  // SRv6 SIDs
      {"3ffe::1", C::kReserved},  // 6bone, returned
      {"3ffe:ffff::1", C::kReserved},
      {"4000::1", C::kReserved},  // unallocated
      {"e000::1", C::kReserved},
      // fc00::/7
      {"fc00::1", C::kPrivate},
      {"fd12:3456:789a::1", C::kPrivate},
      // fec0::/10 site-local, deprecated
      {"fec0::1", C::kPrivate},
      {"feff:ffff::1", C::kPrivate},
      // fe80::/10
      {"fe80::1", C::kLinkLocal},
      {"febf:ffff::1", C::kLinkLocal},
      // ff00::/8
      {"ff02::1", C::kMulticast},
      {"ff0e::101", C::kMulticast},
  };
  for (const ClassCase& c : cases) {
    EXPECT_EQ(AddressClassName(Classify(Ip(c.ip))), AddressClassName(c.cls))
        << c.ip;
  }
}

TEST(ClassifyTest, ClassNames) {
  EXPECT_EQ(AddressClassName(AddressClass::kPublic), "public");
  EXPECT_EQ(AddressClassName(AddressClass::kUnspecified), "unspecified");
  EXPECT_EQ(AddressClassName(AddressClass::kLoopback), "loopback");
  EXPECT_EQ(AddressClassName(AddressClass::kPrivate), "private");
  EXPECT_EQ(AddressClassName(AddressClass::kLinkLocal), "link-local");
  EXPECT_EQ(AddressClassName(AddressClass::kCgnat), "cgnat");
  EXPECT_EQ(AddressClassName(AddressClass::kMulticast), "multicast");
  EXPECT_EQ(AddressClassName(AddressClass::kReserved), "reserved");
}

struct EmbeddedCase {
  std::string ip;
  std::string v4;  // empty: none
};

TEST(IpAddressTest, EmbeddedV4) {
  const std::vector<EmbeddedCase> cases = {
      {"::ffff:1.2.3.4", "1.2.3.4"},
      {"::ffff:0.0.0.0", "0.0.0.0"},
      {"::1.2.3.4", "1.2.3.4"},
      {"::0.0.0.2", "0.0.0.2"},
      {"::", ""},
      {"::1", ""},
      {"64:ff9b::1.2.3.4", "1.2.3.4"},
      {"64:ff9b:1::1.2.3.4", "1.2.3.4"},
      {"64:ff9b:1:1::1.2.3.4", ""},
      {"64:ff9b:0:1::1.2.3.4", ""},
      {"2002:102:304::", "1.2.3.4"},
      {"2002:102:304:ffff::1", "1.2.3.4"},
      {"::ffff:0:1.2.3.4", ""},
      {"2001::102:304", ""},
      {"2001:db8::1", ""},
      {"1.2.3.4", ""},
  };
  for (const EmbeddedCase& c : cases) {
    const auto v4 = Ip(c.ip).EmbeddedV4();
    EXPECT_EQ(v4 ? v4->ToString() : "", c.v4) << c.ip;
    EXPECT_TRUE(!v4 || v4->is_v4());
  }
}

struct CidrCase {
  std::string text;
  std::string canonical;
  int prefix_len;
};

TEST(CidrTest, Parse) {
  const std::vector<CidrCase> cases = {
      {"10.0.0.0/8", "10.0.0.0/8", 8},
      {"10.1.2.3", "10.1.2.3/32", 32},
      {"0.0.0.0/0", "0.0.0.0/0", 0},
      {"192.168.1.128/25", "192.168.1.128/25", 25},
      {"100.64.0.0/10", "100.64.0.0/10", 10},
      {"255.255.255.255/32", "255.255.255.255/32", 32},
      {"::/0", "::/0", 0},
      {"::1", "::1/128", 128},
      {"2001:DB8::/32", "2001:db8::/32", 32},
      {"fe80::/10", "fe80::/10", 10},
      {"64:ff9b:1::/48", "64:ff9b:1::/48", 48},
      {"2001:db8::8000/113", "2001:db8::8000/113", 113},
  };
  for (const CidrCase& c : cases) {
    SCOPED_TRACE(c.text);
    const auto cidr = Cidr::Parse(c.text);
    ASSERT_TRUE(cidr.ok()) << cidr.status().ToString();
    EXPECT_EQ(cidr->ToString(), c.canonical);
    EXPECT_EQ(cidr->prefix_len(), c.prefix_len);
    EXPECT_EQ(Cidr::Parse(cidr->ToString()).value(), *cidr);
  }
}

struct CidrErrorCase {
  std::string text;
  std::string message_part;
};

TEST(CidrTest, ParseRejects) {
  const std::vector<CidrErrorCase> cases = {
      {"10.0.0.1/8", "the network is 10.0.0.0/8"},
      {"192.168.1.1/24", "the network is 192.168.1.0/24"},
      {"2001:db8::1/32", "the network is 2001:db8::/32"},
      {"10.0.0.0/33", "from 0 to 32 for IPv4"},
      {"::/129", "from 0 to 128 for IPv6"},
      {"10.0.0.0/", "must be a number"},
      {"10.0.0.0/-1", "must be a number"},
      {"10.0.0.0/+8", "must be a number"},
      {"10.0.0.0/ 8", "must be a number"},
      {"10.0.0.0/8/9", "must be a number"},
      {"10.0.0.0/0008", "must be a number"},
      {"10.0.0.0/x", "must be a number"},
      {"/8", "is not an IP address"},
      {"", "is not an IP address"},
      {"10.0.0/8", "is not an IP address"},
      {"example.com/8", "is not an IP address"},
      {"[::1]/128", "is not an IP address"},
  };
  for (const CidrErrorCase& c : cases) {
    SCOPED_TRACE(c.text);
    const auto cidr = Cidr::Parse(c.text);
    ASSERT_FALSE(cidr.ok());
    EXPECT_EQ(cidr.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(cidr.status().message().find(c.message_part), std::string::npos)
        << cidr.status().message();
  }
}

TEST(CidrTest, ConstructorClearsHostBits) {
  const Cidr c(Ip("10.1.2.3"), 8);
  EXPECT_EQ(c.base(), Ip("10.0.0.0"));
  EXPECT_EQ(c.ToString(), "10.0.0.0/8");
  EXPECT_EQ(Cidr(Ip("2001:db8::ffff"), 120).ToString(), "2001:db8::ff00/120");
  EXPECT_EQ(Cidr(Ip("255.255.255.255"), 0).ToString(), "0.0.0.0/0");
}

struct ContainsCase {
  std::string cidr;
  std::string ip;
  bool contains;
};

TEST(CidrTest, Contains) {
  const std::vector<ContainsCase> cases = {
      {"10.0.0.0/8", "10.0.0.0", true},
      {"10.0.0.0/8", "10.255.255.255", true},
      {"10.0.0.0/8", "11.0.0.0", false},
      {"10.0.0.0/8", "9.255.255.255", false},
      {"172.16.0.0/12", "172.31.0.1", true},
      {"172.16.0.0/12", "172.32.0.1", false},
      {"192.168.1.128/25", "192.168.1.127", false},
      {"192.168.1.128/25", "192.168.1.128", true},
      {"1.2.3.4/32", "1.2.3.4", true},
      {"1.2.3.4/32", "1.2.3.5", false},
      {"0.0.0.0/0", "255.255.255.255", true},
      {"0.0.0.0/0", "::", false},  // families never mix
      {"10.0.0.0/8", "::ffff:10.0.0.1", false},
      {"::/0", "1.2.3.4", false},
      {"::/0", "ffff::1", true},
      {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::", false},
      {"fe80::/10", "febf::1", true},
      {"fe80::/10", "fec0::1", false},
      {"2001:db8::8000/113", "2001:db8::ffff", true},
      {"2001:db8::8000/113", "2001:db8::7fff", false},
  };
  for (const ContainsCase& c : cases) {
    EXPECT_EQ(Cidr::Parse(c.cidr).value().Contains(Ip(c.ip)), c.contains)
        << c.cidr << " " << c.ip;
  }
}

struct PolicyCase {
  std::string ip;
  bool default_policy;
  bool sandbox_policy;  // allowlist 127.0.0.0/8 and fd00::/8
};

TEST(TargetPolicyTest, PublicOnlyUnlessAllowlisted) {
  const TargetPolicy default_policy;
  const TargetPolicy sandbox(
      {Cidr::Parse("127.0.0.0/8").value(), Cidr::Parse("fd00::/8").value()});
  EXPECT_EQ(sandbox.allowlist().size(), 2u);
  const std::vector<PolicyCase> cases = {
      {"8.8.8.8", true, true},
      {"2606:4700::1111", true, true},
      {"::ffff:8.8.8.8", true, true},
      {"127.0.0.1", false, true},
      {"127.3.2.1", false, true},
      {"::ffff:127.0.0.1", false, true},  // the same IPv4 socket
      {"2002:7f00:1::", false, false},    // reached through a 6to4 relay
      {"::1", false, false},
      {"10.0.0.1", false, false},
      {"192.168.1.1", false, false},
      {"169.254.169.254", false, false},
      {"100.64.0.1", false, false},
      {"0.0.0.0", false, false},
      {"224.0.0.1", false, false},
      {"255.255.255.255", false, false},
      {"fd00::1", false, true},
      {"fc00::1", false, false},
      {"fe80::1", false, false},
      {"64:ff9b::10.0.0.1", false, false},
      {"2001:db8::1", false, false},
  };
  for (const PolicyCase& c : cases) {
    EXPECT_EQ(default_policy.Permits(Ip(c.ip)), c.default_policy) << c.ip;
    EXPECT_EQ(sandbox.Permits(Ip(c.ip)), c.sandbox_policy) << c.ip;
  }
}

}  // namespace
}  // namespace hl::net

#include "common/net/cidr_index.h"

#include <gtest/gtest.h>

#include <span>
#include <string>
#include <vector>

namespace hl::net {
namespace {

// The numbers of the blocks holding `ip`, by a scan: what the index
// must answer.
std::vector<uint32_t> Scan(const std::vector<Cidr>& blocks,
                           const IpAddress& ip) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].Contains(ip)) out.push_back(i);
  }
  return out;
}

TEST(CidrIndexTest, ContainingIsWhatAScanFindsInAscendingOrder) {
  std::vector<Cidr> blocks;
  for (const char* text :
       {"10.1.2.0/24", "10.0.0.0/8", "10.1.2.0/24", "10.1.2.128/25",
        "0.0.0.0/0", "255.255.255.255/32", "10.255.255.255/32", "2001:db8::/32",
        "2001:db8:1:0:8000::/65", "::/0", "2001:db8:1::/48",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "192.0.2.7/32"}) {
    blocks.push_back(*Cidr::Parse(text));
  }
  const CidrIndex index(blocks);
  for (const char* text : {"0.0.0.0",
                           "9.255.255.255",
                           "10.0.0.0",
                           "10.1.1.255",
                           "10.1.2.0",
                           "10.1.2.127",
                           "10.1.2.128",
                           "10.1.2.255",
                           "10.1.3.0",
                           "10.255.255.254",
                           "10.255.255.255",
                           "11.0.0.0",
                           "192.0.2.6",
                           "192.0.2.7",
                           "192.0.2.8",
                           "255.255.255.254",
                           "255.255.255.255",
                           "::",
                           "2001:db8::",
                           "2001:db8:1::",
                           "2001:db8:1:0:7fff:ffff:ffff:ffff",
                           "2001:db8:1:0:8000::",
                           "2001:db8:1:0:ffff:ffff:ffff:ffff",
                           "2001:db8:1:1::",
                           "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
                           "2001:db9::",
                           "::ffff:10.1.2.3",
                           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
                           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}) {
    const IpAddress ip = *IpAddress::Parse(text);
    const std::span<const uint32_t> found = index.Containing(ip);
    EXPECT_EQ(std::vector<uint32_t>(found.begin(), found.end()),
              Scan(blocks, ip))
        << text;
  }
}

TEST(CidrIndexTest, EmptyHoldsNothing) {
  EXPECT_TRUE(CidrIndex().Containing(*IpAddress::Parse("10.0.0.1")).empty());
  EXPECT_TRUE(CidrIndex(std::vector<Cidr>{})
                  .Containing(*IpAddress::Parse("::1"))
                  .empty());
  const CidrIndex v4_only({*Cidr::Parse("0.0.0.0/0")});
  EXPECT_TRUE(v4_only.Containing(*IpAddress::Parse("::")).empty());
  EXPECT_EQ(v4_only.Containing(*IpAddress::Parse("1.2.3.4")).size(), 1u);
}

}  // namespace
}  // namespace hl::net

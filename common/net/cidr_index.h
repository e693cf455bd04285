// CIDR blocks indexed for "which blocks hold this address": each family's
// line is cut at the blocks' ends into disjoint segments, each listing the
// blocks that cover all of it, so a lookup is one binary search whatever
// the number of blocks (the provider table's ranges, the RDAP bootstrap's).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/net/ip.h"

namespace hl::net {

class CidrIndex {
 public:
  CidrIndex() = default;  // holds no address
  // Block i of `blocks` (either family, any order, overlaps and repeats
  // allowed) is number i.
  explicit CidrIndex(const std::vector<Cidr>& blocks);

  // The numbers of the blocks that hold `ip`, ascending.
  std::span<const uint32_t> Containing(const IpAddress& ip) const;

 private:
  // An unsigned 128-bit number: an address (IPv4 in the low 32 bits) as a
  // point on its family's line.
  struct U128 {
    uint64_t hi = 0;
    uint64_t lo = 0;
    friend auto operator<=>(const U128&, const U128&) = default;
  };
  static U128 ToU128(const IpAddress& ip);
  // Ones in the host bits of a /prefix_len of `width` (32 or 128) bits.
  static U128 HostMask(int prefix_len, int width);
  // One family: segment i is [starts[i], starts[i + 1]) (the last one runs
  // to the family's end) and lies in the blocks
  // numbers[offsets[i] .. offsets[i + 1]).
  struct Segments {
    std::vector<U128> starts;
    std::vector<uint32_t> offsets;
    std::vector<uint32_t> numbers;
  };
  struct Block {
    U128 first, last;
    uint32_t number;
  };
  // `blocks` of one family whose highest address is `max`.
  static Segments Build(std::vector<Block> blocks, U128 max);

  Segments v4_, v6_;
};

}  // namespace hl::net

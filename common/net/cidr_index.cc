#include "common/net/cidr_index.h"

#include <algorithm>

namespace hl::net {

CidrIndex::U128 CidrIndex::ToU128(const IpAddress& ip) {
  U128 v;
  const uint8_t* b = ip.bytes();
  for (size_t i = 0; i < ip.size(); ++i) {
    const uint64_t byte = b[i];
    if (ip.is_v4() || i >= 8) {
      v.lo = (v.lo << 8) | byte;
    } else {
      v.hi = (v.hi << 8) | byte;
    }
  }
  return v;
}

CidrIndex::U128 CidrIndex::HostMask(int prefix_len, int width) {
  const int host_bits = width - prefix_len;
  U128 m;
  if (host_bits >= 64) {
    m.lo = ~uint64_t{0};
    m.hi =
        host_bits == 128 ? ~uint64_t{0} : (uint64_t{1} << (host_bits - 64)) - 1;
  } else if (host_bits > 0) {
    m.lo = (uint64_t{1} << host_bits) - 1;
  }
  return m;
}

CidrIndex::CidrIndex(const std::vector<Cidr>& blocks) {
  std::vector<Block> v4, v6;
  for (uint32_t i = 0; i < blocks.size(); ++i) {
    const Cidr& cidr = blocks[i];
    const bool is_v4 = cidr.base().is_v4();
    const U128 first = ToU128(cidr.base());
    const U128 host = HostMask(cidr.prefix_len(), is_v4 ? 32 : 128);
    (is_v4 ? v4 : v6)
        .push_back({first, {first.hi | host.hi, first.lo | host.lo}, i});
  }
  v4_ = Build(std::move(v4), HostMask(0, 32));
  v6_ = Build(std::move(v6), HostMask(0, 128));
}

CidrIndex::Segments CidrIndex::Build(std::vector<Block> blocks, U128 max) {
  Segments s;
  std::vector<U128> bounds;
  for (const Block& b : blocks) {
    bounds.push_back(b.first);
    if (b.last < max) {
      bounds.push_back(b.last.lo == ~uint64_t{0}
                           ? U128{b.last.hi + 1, 0}
                           : U128{b.last.hi, b.last.lo + 1});
    }
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  std::sort(blocks.begin(), blocks.end(),
            [](const Block& a, const Block& b) { return a.first < b.first; });
  std::vector<const Block*> active;
  size_t next = 0;
  s.offsets.push_back(0);
  for (const U128& bound : bounds) {
    std::erase_if(active, [&](const Block* b) { return b->last < bound; });
    for (; next < blocks.size() && blocks[next].first <= bound; ++next) {
      active.push_back(&blocks[next]);
    }
    const size_t first = s.numbers.size();
    for (const Block* b : active) s.numbers.push_back(b->number);
    std::sort(s.numbers.begin() + static_cast<ptrdiff_t>(first),
              s.numbers.end());
    s.starts.push_back(bound);
    s.offsets.push_back(static_cast<uint32_t>(s.numbers.size()));
  }
  return s;
}

std::span<const uint32_t> CidrIndex::Containing(const IpAddress& ip) const {
  const Segments& s = ip.is_v4() ? v4_ : v6_;
  const U128 v = ToU128(ip);
  auto after = std::upper_bound(s.starts.begin(), s.starts.end(), v);
  if (after == s.starts.begin()) return {};
  const size_t i = static_cast<size_t>(after - s.starts.begin()) - 1;
  return std::span<const uint32_t>(s.numbers).subspan(
      s.offsets[i], s.offsets[i + 1] - s.offsets[i]);
}

}  // namespace hl::net

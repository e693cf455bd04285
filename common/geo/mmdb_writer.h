// A writer of MaxMind DB (MMDB 2.0) files, for the project's own databases:
// ASN data converted from the open CSV ranges, and the fixtures of the tests
// and the sandbox internet. Files it writes are read by libmaxminddb.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/net/ip.h"
#include "common/status.h"

namespace hl::geo {

// An MMDB data-section value (the subset of types the project writes).
struct MmdbValue {
  using Map = std::map<std::string, MmdbValue>;
  using Array = std::vector<MmdbValue>;
  std::variant<std::string, uint32_t, uint64_t, double, bool, Map, Array> v;

  MmdbValue() : v(std::string()) {}
  MmdbValue(std::string s) : v(std::move(s)) {}
  MmdbValue(const char* s) : v(std::string(s)) {}
  MmdbValue(uint32_t u) : v(u) {}
  MmdbValue(uint64_t u) : v(u) {}
  MmdbValue(double d) : v(d) {}
  MmdbValue(bool b) : v(b) {}
  MmdbValue(Map m) : v(std::move(m)) {}
  MmdbValue(Array a) : v(std::move(a)) {}
};

struct MmdbWriterOptions {
  std::string database_type;  // metadata database_type
  int ip_version = 6;         // 4: IPv4-only tree; 6: IPv4 under ::/96
  std::string description;    // metadata description (language "en")
  std::vector<std::string> languages;
  uint64_t build_epoch = 0;  // seconds since 1970; 0 = now
  int record_size = 0;       // 24, 28 or 32 bits; 0 = smallest that
                             // fits the node count and data section
};

class MmdbWriter {
 public:
  explicit MmdbWriter(MmdbWriterOptions options);
  ~MmdbWriter();
  MmdbWriter(const MmdbWriter&) = delete;
  MmdbWriter& operator=(const MmdbWriter&) = delete;

  // Later inserts override earlier ones where they overlap. IPv4 networks
  // go under ::/96 in an IPv6 tree; IPv6 networks in an IPv4 tree fail.
  // In an IPv6 tree ::ffff:0:0/96 (IPv4-mapped) is an alias of the IPv4
  // subtree, as in MaxMind's databases: an IPv6 network inside it is stored
  // as the IPv4 network it maps, and lookups of ::ffff:a.b.c.d find the data
  // of a.b.c.d. Fails for values the format cannot hold (a string, map or
  // array longer than 16843036 elements/bytes).
  Status Insert(const net::Cidr& network, const MmdbValue& data);
  // Inserts the smallest set of CIDRs that covers [first, last]
  // (see CoverRange).
  Status InsertRange(const net::IpAddress& first, const net::IpAddress& last,
                     const MmdbValue& data);

  // The complete file contents. Identical data values are stored once (and
  // identical strings, maps and arrays inside values are pointers to one
  // copy); sibling networks with identical data are merged into their
  // parent network. Fails when the forced record_size is too small.
  Result<std::string> Serialize() const;
  // Writes atomically (temporary file, then rename).
  Status WriteFile(const std::string& path) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The smallest set of CIDRs whose union is [first, last], in address order.
// Fails when the families differ or first > last.
Result<std::vector<net::Cidr>> CoverRange(const net::IpAddress& first,
                                          const net::IpAddress& last);

}  // namespace hl::geo

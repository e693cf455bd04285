// Geolocation lookups over MMDB files through libmaxminddb.
//
// Two schemas are understood for every field, per file:
// - MaxMind GeoIP2/GeoLite2: country.iso_code, city.names.en,
//   autonomous_system_number, autonomous_system_organization;
// - the flat open-data schema of the @ip-location-db packages:
//   country_code, city, autonomous_system_number,
//   autonomous_system_organization.
// Several files may serve one role (for example an IPv4 and an IPv6 file);
// they are asked in order until one has the address.
//
// An IPv6 address that embeds an IPv4 address (IPv4-mapped, 6to4, NAT64;
// see net::IpAddress::EmbeddedV4) is looked up as that IPv4 address, as
// MaxMind's own databases alias those ranges to their IPv4 data.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/net/ip.h"
#include "common/status.h"

namespace hl::geo {

struct GeoFields {
  std::string country;  // ISO 3166-1 alpha-2 (upper case), "" if unknown;
                        // a database value that is not two ASCII letters
                        // counts as unknown
  std::string city;
  uint32_t asn = 0;
  std::string as_org;
  std::string network;  // CIDR of the matching record in the country (or
                        // else ASN, or else city) database; IPv4 when an
                        // embedded IPv4 address was looked up
};

struct SourceInfo {
  std::string role;  // "country" | "asn" | "city"
  std::string path;
  std::string database_type;  // metadata
  int64_t build_epoch = 0;    // metadata, seconds
  std::string attribution;    // licence attribution for reports
  std::string sha256;         // of the file's contents, hex: which exact
                              // file a result was computed with
};

// The metadata section of an MMDB file.
struct MmdbMetadata {
  std::string database_type;
  int64_t build_epoch = 0;  // seconds since 1970; 0 when absent or past
                            // the year 9999
  int ip_version = 0;       // 4 or 6
  uint32_t node_count = 0;
  int record_size = 0;  // bits
  int format_major = 0;
  int format_minor = 0;
  std::vector<std::string> languages;
  std::string description;  // the "en" description, else the first one
};

// One open MMDB file. Lookups are thread-safe (libmaxminddb, MMDB_MODE_MMAP).
class MmdbFile {
 public:
  static Result<std::unique_ptr<MmdbFile>> Open(const std::string& path);
  ~MmdbFile();
  MmdbFile(const MmdbFile&) = delete;
  MmdbFile& operator=(const MmdbFile&) = delete;

  // Fills the fields this file knows; returns false when the address is not
  // in the file (or the file is IPv4-only and the address is IPv6).
  bool Lookup(const net::IpAddress& ip, GeoFields* out) const;
  const std::string& path() const { return path_; }
  std::string database_type() const { return metadata_.database_type; }
  int64_t build_epoch() const { return metadata_.build_epoch; }
  const MmdbMetadata& metadata() const { return metadata_; }

 private:
  MmdbFile() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  MmdbMetadata metadata_;
};

struct GeoConfig {
  std::vector<std::string> country;  // files for country (and maybe city)
  std::vector<std::string> asn;      // files for ASN and AS organisation
  std::vector<std::string> city;     // opt-in city files
};

class GeoLocator {
 public:
  // Fails with a message naming the file that is missing or unreadable.
  static Result<std::unique_ptr<GeoLocator>> Open(const GeoConfig& config);

  // Merges what the country, ASN and city files say: each role decides its
  // own fields (country and network; asn and as_org; city) and the others
  // fill what it left empty. Thread-safe.
  GeoFields Locate(const net::IpAddress& ip) const;
  const std::vector<SourceInfo>& sources() const { return sources_; }

 private:
  GeoLocator() = default;
  std::vector<std::unique_ptr<MmdbFile>> country_, asn_, city_;
  std::vector<SourceInfo> sources_;
};

// Attribution text for a database, derived from its metadata database_type
// and path (DB-IP, RouteViews/NRO, MaxMind, or the project's own fixtures).
std::string AttributionFor(const std::string& database_type,
                           const std::string& path);

}  // namespace hl::geo

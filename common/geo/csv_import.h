// Builds MMDB files from CSV range lists (the @ip-location-db formats):
//   asn:      first_ip,last_ip,autonomous_system_number,
//             autonomous_system_organization
//   country:  first_ip,last_ip,country_code
// Addresses are textual IPv4 or IPv6; "-num" files with integer IPv4
// addresses are accepted too. Quoted fields follow RFC 4180.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace hl::geo {

enum class CsvKind { kAsn, kCountry };

struct CsvBuildStats {
  uint64_t rows = 0;
  uint64_t networks = 0;  // CIDRs inserted
};

// Reads every input (streamed), writes one MMDB with both families.
// A malformed row fails the build with "file:line: reason". `build_epoch`
// (seconds; 0 = now) should be the date of the data, not of the build: it is
// what results cite as the database's build date.
Result<CsvBuildStats> BuildMmdbFromCsv(CsvKind kind,
                                       const std::vector<std::string>& inputs,
                                       const std::string& output,
                                       const std::string& database_type,
                                       uint64_t build_epoch = 0);

}  // namespace hl::geo

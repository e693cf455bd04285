// CDN, WAF, cloud and hosting provider detection: signatures loaded from
// TOML (config/providers.toml documents the format) and a pure function
// that matches them against an observation.
//
// Evidence kinds and what they are matched against:
// - "header": the kept response headers of http.headers. Names compare
//   case-insensitively; a name ending in '*' matches every header name
//   that starts with the rest. A rule either requires the header to be
//   present, or its value to equal (`equals`) or contain (`contains`) a
//   text, both case-insensitively.
// - "ip_range": every address of the observation's addresses, against the
//   provider's CIDRs (IPv4 and IPv6; families never mix).
// - "cname": every name of dns.cname_chain (the host included), against
//   the provider's suffixes, case-insensitively and on label boundaries:
//   "cloudfront.net" matches "cloudfront.net" and "d1.cloudfront.net." but
//   not "notcloudfront.net".
// - "asn": the AS number of every address of the observation's addresses.
//
// Strength: "header" (the answer itself came through the provider) >
// "ip_range" (the address is in the provider's published ranges) >
// "cname" (the name is delegated to the provider) > "asn" (routing data
// from the geolocation databases). A provider's evidence is listed
// strongest kind first, then in the order observed; providers are ordered
// by their strongest kind, then by the number of pieces of evidence, then
// by their order in the table.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/ip.h"
#include "common/proto/hostlocator.pb.h"
#include "common/status.h"
#include "common/verdict.h"

namespace hl {

enum class ProviderCategory { kCdn, kWaf, kCloud, kHosting };

// "cdn", "waf", "cloud", "hosting".
std::string_view ProviderCategoryName(ProviderCategory category);

struct HeaderRule {
  enum class Match { kPresent, kEquals, kContains };
  std::string name;  // lower case; a trailing '*' makes it a prefix
  Match match = Match::kPresent;
  std::string value;  // lower case; "" for kPresent
};

struct Provider {
  std::string name;
  ProviderCategory category = ProviderCategory::kCdn;
  std::string country;      // legal country, ISO 3166-1 alpha-2, upper case
  std::string abuse;        // URL or e-mail address; "" when unknown
  std::string source;       // where the data comes from
  std::string verified_on;  // "YYYY-MM-DD"
  std::vector<net::Cidr> ip_ranges;
  std::vector<uint32_t> asns;
  std::vector<std::string> cname_suffixes;  // lower case, no outer dots
  std::vector<HeaderRule> headers;
};

// `providers` compiled for lookups: CIDRs as sorted disjoint segments per
// family, CNAME suffixes and exact header names in hash maps, ASNs in a
// hash map, so that detection looks each fact of an observation up once
// instead of matching it against every rule. Defined in provider.cc.
struct ProviderIndex;

// Builds the index of `providers`.
std::shared_ptr<const ProviderIndex> IndexProviders(
    const std::vector<Provider>& providers);

// Providers in file order; names are unique.
struct ProviderTable {
  std::vector<Provider> providers;
  std::string newest_verified_on;  // "YYYY-MM-DD", the data's date
  std::string path;                // set by LoadProvidersFile
  std::string sha256;              // of the file's text, hex; likewise
  // IndexProviders(providers), set by ParseProviders; must be rebuilt when
  // `providers` changes. Without one DetectProviders builds it per call.
  std::shared_ptr<const ProviderIndex> index;
};

// Parses the TOML text of a provider table. Every key must be known (an
// unknown key is an error naming its dotted path, e.g. "provider[2].asn",
// and the keys known there); each provider needs name, category, country,
// source, verified_on and at least one rule; names are unique. Messages
// start with "origin:line:col: " like ParseConfig's.
Result<ProviderTable> ParseProviders(std::string_view toml_text,
                                     const std::string& origin);
// Reads and parses the file at `path` (`origin` is `path`).
Result<ProviderTable> LoadProvidersFile(const std::string& path);

// Every provider of `table` with at least one rule matching the request
// that decided an observation (its final hop), with the evidence, ordered
// as described above. Pure; reads `table.index` (built here when null).
std::vector<hostlocator::v1::ProviderMatch> DetectProviders(
    const FinalHop& hop, const ProviderTable& table);

}  // namespace hl

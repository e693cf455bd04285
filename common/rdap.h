// RDAP (RFC 9082/9083) data: the IANA bootstrap (RFC 9224) that says
// which server answers for an address or a domain, and the facts
// hostlocator takes from an answer. Pure: no I/O (common/rdap_client.h
// fetches).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/cidr_index.h"
#include "common/net/ip.h"
#include "common/status.h"

namespace hl::rdap {

// The four bootstrap registries of RFC 9224 (IANA's ipv4.json, ipv6.json,
// asn.json, dns.json), each a file exactly as IANA publishes it:
// {"description", "publication", "services": [[[entries...], [urls...]],
// ...], "version"}. config/rdap/ holds the shipped copies and SOURCES.md
// says where and when they were taken.
enum class Registry { kIpv4, kIpv6, kAsn, kDns };
inline constexpr Registry kRegistries[] = {Registry::kIpv4, Registry::kIpv6,
                                           Registry::kAsn, Registry::kDns};
// "ipv4", "ipv6", "asn", "dns": the registry's file is NAME.json.
std::string_view RegistryName(Registry registry);

class Bootstrap {
 public:
  // Reads DIR/ipv4.json, ipv6.json, asn.json and dns.json.
  static Result<Bootstrap> Load(const std::string& dir);

  // Checks one registry file and adds its services. Errors are
  // InvalidArgument naming `origin` and the place ("services[3]: ...");
  // on error nothing is added. Returns the file's "publication".
  Result<std::string> Add(Registry registry, std::string_view json,
                          const std::string& origin);

  // The base URL (ending in '/') of the server for `ip`: the longest
  // matching prefix; an https URL is preferred over http. nullopt when no
  // entry covers it.
  std::optional<std::string> ForIp(const net::IpAddress& ip) const;
  // Likewise for an AS number (the range that holds it).
  std::optional<std::string> ForAsn(uint32_t asn) const;
  // Likewise for a domain: the longest matching label suffix ("co.uk"
  // before "uk"), any case, trailing dot ignored.
  std::optional<std::string> ForDomain(std::string_view domain) const;

  // The "publication" of a registry file added; "" when none was.
  const std::string& publication(Registry registry) const {
    return publication_[static_cast<size_t>(registry)];
  }

 private:
  struct IpService {
    net::Cidr prefix;
    std::string url;
  };
  struct AsnService {
    uint32_t first = 0;
    uint32_t last = 0;
    std::string url;
  };
  std::vector<IpService> ip_;
  net::CidrIndex ip_index_;  // of ip_'s prefixes, numbered as in ip_
  std::vector<AsnService> asn_;
  // By suffix (lower case, no dots at the ends): the first URL added.
  std::map<std::string, std::string, std::less<>> dns_;
  std::string publication_[4];
};

// What an "ip network" answer says.
struct Network {
  std::string server;  // the URL the answer came from
  std::string handle;
  std::string name;          // network name
  std::string organisation;  // fn of the registrant entity
  std::string country;       // ISO 3166-1 alpha-2, upper case; "" unknown
  std::string abuse_email;   // of the entity with role "abuse"
  std::string abuse_phone;
  std::string start_address;
  std::string end_address;
};

// What an "autnum" answer says.
struct Autnum {
  std::string server;   // the URL the answer came from
  std::string handle;   // "AS64500"
  std::string name;     // the AS name
  std::string country;  // "country" member, else the registrant's "cc"
};

// What a "domain" answer says.
struct Domain {
  std::string server;             // the URL the answer came from
  std::string name;               // ldhName, lower case
  std::string registrar;          // fn of the entity with role "registrar"
  std::string registrar_country;  // its address's "cc", when given
  std::string abuse_email;        // of the registrar's "abuse" entity
  std::string abuse_phone;
};

// Parse an answer body. Malformed JSON, or JSON that is not an object of
// the expected objectClassName, is DataLoss naming `server`; missing
// optional members leave fields empty.
Result<Network> ParseNetwork(std::string_view body, const std::string& server);
Result<Domain> ParseDomain(std::string_view body, const std::string& server);
Result<Autnum> ParseAutnum(std::string_view body, const std::string& server);

}  // namespace hl::rdap

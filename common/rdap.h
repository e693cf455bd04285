// RDAP (RFC 9082/9083) data: the IANA bootstrap (RFC 9224) that says
// which server answers for an address or a domain, and the facts
// hostlocator takes from an answer. Pure: no I/O (common/rdap_client.h
// fetches).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/ip.h"
#include "common/status.h"

namespace hl::rdap {

// The bootstrap registries, in IANA's format, with where and when they
// were taken (config/rdap-bootstrap.json): a JSON object with "source",
// "retrieved" ("YYYY-MM-DD") and "ipv4", "ipv6", "dns", each a bootstrap
// file exactly as IANA publishes it ({"description", "publication",
// "services": [[[entries...], [urls...]], ...], "version"}).
class Bootstrap {
 public:
  // Errors name `origin` and what is wrong ("ipv4.services[3]: ...").
  static Result<Bootstrap> Parse(std::string_view json,
                                 const std::string& origin);
  static Result<Bootstrap> Load(const std::string& path);

  // The base URL (ending in '/') of the server for `ip`: the longest
  // matching prefix; an https URL is preferred over http. nullopt when no
  // entry covers it.
  std::optional<std::string> ForIp(const net::IpAddress& ip) const;
  // Likewise for a domain: the longest matching label suffix ("co.uk"
  // before "uk"), any case, trailing dot ignored.
  std::optional<std::string> ForDomain(std::string_view domain) const;

  const std::string& source() const { return source_; }
  const std::string& retrieved() const { return retrieved_; }

 private:
  struct IpService {
    net::Cidr prefix;
    std::string url;
  };
  struct DomainService {
    std::string suffix;  // lower case, no dots at the ends
    std::string url;
  };
  std::vector<IpService> ip_;
  std::vector<DomainService> dns_;
  std::string source_;
  std::string retrieved_;
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

}  // namespace hl::rdap

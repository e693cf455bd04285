#include "common/rdap.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/ascii.h"
#include "common/toml_reader.h"

namespace hl::rdap {
namespace {

using Json = nlohmann::json;

std::string Trim(std::string_view s, char c) {
  while (s.starts_with(c)) s.remove_prefix(1);
  while (s.ends_with(c)) s.remove_suffix(1);
  return std::string(s);
}

// The preferred URL of a service: the first https one, else the first.
std::string PreferredUrl(const Json& urls) {
  std::string chosen;
  for (const Json& u : urls) {
    if (!u.is_string()) continue;
    std::string url = u.get<std::string>();
    if (!url.ends_with('/')) url += '/';
    if (url.starts_with("https://")) return url;
    if (chosen.empty()) chosen = url;
  }
  return chosen;
}

// Calls `entry(text, url, where)` for each entry of each service of a
// registry file.
Status ForEachEntry(
    const Json& root, const std::string& origin,
    const std::function<Status(const std::string&, const std::string&,
                               const std::string&)>& entry) {
  auto bad = [&](const std::string& where, const std::string& what) {
    return InvalidArgument(origin + ": " + where + ": " + what);
  };
  if (!root.is_object()) {
    return InvalidArgument(origin +
                           ": not a JSON object (a bootstrap file as IANA "
                           "publishes it)");
  }
  if (!root.contains("publication") || !root["publication"].is_string()) {
    return bad("publication", "missing or not a string");
  }
  const Json& services = root["services"];
  if (!services.is_array()) return bad("services", "missing or not an array");
  for (size_t i = 0; i < services.size(); ++i) {
    const std::string where = "services[" + std::to_string(i) + "]";
    const Json& s = services[i];
    if (!s.is_array() || s.size() != 2 || !s[0].is_array() ||
        !s[1].is_array()) {
      return bad(where, "not a pair [[entries], [urls]]");
    }
    const std::string url = PreferredUrl(s[1]);
    if (url.empty()) return bad(where, "no URL");
    for (const Json& e : s[0]) {
      if (!e.is_string()) return bad(where, "an entry is not a string");
      HL_RETURN_IF_ERROR(entry(e.get<std::string>(), url, where));
    }
  }
  return Status::Ok();
}

// "N" or "N-M" (RFC 9224 section 5.3); nullopt when malformed.
std::optional<std::pair<uint32_t, uint32_t>> AsnRange(std::string_view text) {
  auto number = [](std::string_view t) -> std::optional<uint32_t> {
    uint32_t v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || end != t.data() + t.size() || t.empty()) {
      return std::nullopt;
    }
    return v;
  };
  const size_t dash = text.find('-');
  auto first = number(text.substr(0, dash));
  auto last =
      dash == std::string_view::npos ? first : number(text.substr(dash + 1));
  if (!first || !last || *last < *first) return std::nullopt;
  return std::make_pair(*first, *last);
}

// The vCard property `name` of a jCard ("vcardArray"), or nullptr.
const Json* VcardProperty(const Json& entity, std::string_view name) {
  auto it = entity.find("vcardArray");
  if (it == entity.end() || !it->is_array() || it->size() < 2 ||
      !(*it)[1].is_array()) {
    return nullptr;
  }
  for (const Json& prop : (*it)[1]) {
    if (prop.is_array() && prop.size() >= 4 && prop[0].is_string() &&
        prop[0].get<std::string>() == name) {
      return &prop;
    }
  }
  return nullptr;
}

std::string VcardText(const Json& entity, std::string_view name) {
  const Json* p = VcardProperty(entity, name);
  if (p == nullptr || !(*p)[3].is_string()) return "";
  std::string value = (*p)[3].get<std::string>();
  if (name == "tel" && value.starts_with("tel:")) value.erase(0, 4);
  return value;
}

// The "cc" parameter of the entity's address (RFC 8605), upper case.
std::string VcardCountry(const Json& entity) {
  const Json* adr = VcardProperty(entity, "adr");
  if (adr == nullptr || !(*adr)[1].is_object()) return "";
  auto cc = (*adr)[1].find("cc");
  if (cc == (*adr)[1].end() || !cc->is_string()) return "";
  return ToUpperAscii(cc->get<std::string>());
}

bool HasRole(const Json& entity, std::string_view role) {
  auto roles = entity.find("roles");
  if (roles == entity.end() || !roles->is_array()) return false;
  return std::any_of(roles->begin(), roles->end(), [&](const Json& r) {
    return r.is_string() && r.get<std::string>() == role;
  });
}

// The first entity with `role`, searched depth first through nested
// "entities".
const Json* FindEntity(const Json& object, std::string_view role) {
  auto entities = object.find("entities");
  if (entities == object.end() || !entities->is_array()) return nullptr;
  for (const Json& e : *entities) {
    if (!e.is_object()) continue;
    if (HasRole(e, role)) return &e;
    if (const Json* nested = FindEntity(e, role)) return nested;
  }
  return nullptr;
}

std::string Member(const Json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

Result<Json> ParseObject(std::string_view body, const std::string& server,
                         std::string_view object_class) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return DataLoss("malformed RDAP answer from " + server +
                    ": not a JSON object");
  }
  if (Member(j, "objectClassName") != object_class) {
    return DataLoss("unexpected RDAP answer from " + server +
                    ": objectClassName is not \"" + std::string(object_class) +
                    "\"");
  }
  return j;
}

}  // namespace

std::string_view RegistryName(Registry registry) {
  switch (registry) {
    case Registry::kIpv4:
      return "ipv4";
    case Registry::kIpv6:
      return "ipv6";
    case Registry::kAsn:
      return "asn";
    case Registry::kDns:
      return "dns";
  }
  return "";
}

Result<std::string> Bootstrap::Add(Registry registry, std::string_view json,
                                   const std::string& origin) {
  Json root = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return InvalidArgument(origin + ": not JSON");
  }
  std::vector<IpService> ip;
  std::vector<AsnService> asn;
  std::vector<std::pair<std::string, std::string>> dns;  // suffix, URL
  const bool v4 = registry == Registry::kIpv4;
  HL_RETURN_IF_ERROR(ForEachEntry(
      root, origin,
      [&](const std::string& entry, const std::string& url,
          const std::string& where) -> Status {
        auto bad = [&](const std::string& what) {
          return InvalidArgument(origin + ": " + where + ": " + what);
        };
        switch (registry) {
          case Registry::kIpv4:
          case Registry::kIpv6: {
            Result<net::Cidr> cidr = net::Cidr::Parse(entry);
            if (!cidr.ok()) return bad(cidr.status().message());
            if (cidr->base().is_v4() != v4) {
              return bad(entry + " is not an IPv" + (v4 ? "4" : "6") +
                         " prefix");
            }
            ip.push_back({*cidr, url});
            return Status::Ok();
          }
          case Registry::kAsn: {
            auto range = AsnRange(entry);
            if (!range) return bad("\"" + entry + "\" is not N or N-M");
            asn.push_back({range->first, range->second, url});
            return Status::Ok();
          }
          case Registry::kDns:
            dns.emplace_back(ToLowerAscii(Trim(entry, '.')), url);
            return Status::Ok();
        }
        return Status::Ok();
      }));
  if (!ip.empty()) {
    ip_.insert(ip_.end(), ip.begin(), ip.end());
    std::vector<net::Cidr> prefixes;
    prefixes.reserve(ip_.size());
    for (const IpService& s : ip_) prefixes.push_back(s.prefix);
    ip_index_ = net::CidrIndex(prefixes);
  }
  asn_.insert(asn_.end(), asn.begin(), asn.end());
  dns_.insert(dns.begin(), dns.end());  // keeps the first URL of a suffix
  std::string publication = root["publication"].get<std::string>();
  publication_[static_cast<size_t>(registry)] = publication;
  return publication;
}

Result<Bootstrap> Bootstrap::Load(const std::string& dir) {
  Bootstrap b;
  for (Registry registry : kRegistries) {
    const std::string path =
        dir + "/" + std::string(RegistryName(registry)) + ".json";
    Result<std::string> text =
        toml_reader::ReadFile(path, "the RDAP bootstrap file");
    if (!text.ok()) return text.status();
    Result<std::string> added = b.Add(registry, *text, path);
    if (!added.ok()) return added.status();
  }
  return b;
}

std::optional<std::string> Bootstrap::ForAsn(uint32_t asn) const {
  for (const AsnService& s : asn_) {
    if (asn >= s.first && asn <= s.last) return s.url;
  }
  return std::nullopt;
}

std::optional<std::string> Bootstrap::ForIp(const net::IpAddress& ip) const {
  // Numbers ascend in ip_'s order: among prefixes of one length the
  // first added wins.
  const IpService* best = nullptr;
  for (uint32_t i : ip_index_.Containing(ip)) {
    const IpService& s = ip_[i];
    if (best == nullptr || s.prefix.prefix_len() > best->prefix.prefix_len()) {
      best = &s;
    }
  }
  if (best == nullptr) return std::nullopt;
  return best->url;
}

std::optional<std::string> Bootstrap::ForDomain(std::string_view domain) const {
  const std::string name = ToLowerAscii(Trim(domain, '.'));
  // The name itself, then each suffix after a dot, longest first.
  for (size_t start = 0; start <= name.size();) {
    const auto found = dns_.find(std::string_view(name).substr(start));
    if (found != dns_.end()) return found->second;
    const size_t dot = name.find('.', start);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return std::nullopt;
}

Result<Network> ParseNetwork(std::string_view body, const std::string& server) {
  Result<Json> parsed = ParseObject(body, server, "ip network");
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  Network n;
  n.server = server;
  n.handle = Member(j, "handle");
  n.name = Member(j, "name");
  n.country = ToUpperAscii(Member(j, "country"));
  n.start_address = Member(j, "startAddress");
  n.end_address = Member(j, "endAddress");
  if (const Json* registrant = FindEntity(j, "registrant")) {
    n.organisation = VcardText(*registrant, "fn");
  }
  if (const Json* abuse = FindEntity(j, "abuse")) {
    n.abuse_email = VcardText(*abuse, "email");
    n.abuse_phone = VcardText(*abuse, "tel");
  }
  return n;
}

Result<Domain> ParseDomain(std::string_view body, const std::string& server) {
  Result<Json> parsed = ParseObject(body, server, "domain");
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  Domain d;
  d.server = server;
  d.name = ToLowerAscii(Member(j, "ldhName"));
  if (const Json* registrar = FindEntity(j, "registrar")) {
    d.registrar = VcardText(*registrar, "fn");
    d.registrar_country = VcardCountry(*registrar);
    if (const Json* abuse = FindEntity(*registrar, "abuse")) {
      d.abuse_email = VcardText(*abuse, "email");
      d.abuse_phone = VcardText(*abuse, "tel");
    }
  }
  return d;
}

Result<Autnum> ParseAutnum(std::string_view body, const std::string& server) {
  Result<Json> parsed = ParseObject(body, server, "autnum");
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  Autnum a;
  a.server = server;
  a.handle = Member(j, "handle");
  a.name = Member(j, "name");
  a.country = ToUpperAscii(Member(j, "country"));
  if (a.country.empty()) {
    if (const Json* registrant = FindEntity(j, "registrant")) {
      a.country = VcardCountry(*registrant);
    }
  }
  return a;
}

}  // namespace hl::rdap

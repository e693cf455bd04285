#include "common/rdap.h"

#include <algorithm>
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

// Calls `entry(text, url)` for each entry of each service of `registry`
// ("name" in messages).
Status ForEachEntry(
    const Json& root, const std::string& name, const std::string& origin,
    const std::function<Status(const std::string&, const std::string&,
                               const std::string&)>& entry) {
  auto bad = [&](const std::string& where, const std::string& what) {
    return InvalidArgument(origin + ": " + where + ": " + what);
  };
  if (!root.contains(name) || !root[name].is_object()) {
    return bad(name,
               "missing or not an object (a bootstrap file as IANA "
               "publishes it)");
  }
  const Json& services = (root[name])["services"];
  if (!services.is_array()) return bad(name + ".services", "not an array");
  for (size_t i = 0; i < services.size(); ++i) {
    const std::string where = name + ".services[" + std::to_string(i) + "]";
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
  std::string country = cc->get<std::string>();
  for (char& c : country) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return country;
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

Result<Bootstrap> Bootstrap::Parse(std::string_view json,
                                   const std::string& origin) {
  Json root = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return InvalidArgument(origin + ": not a JSON object");
  }
  Bootstrap b;
  b.source_ = Member(root, "source");
  b.retrieved_ = Member(root, "retrieved");
  if (b.source_.empty() || b.retrieved_.empty()) {
    return InvalidArgument(origin +
                           ": \"source\" and \"retrieved\" (the date the "
                           "registries were taken) are required");
  }
  for (const char* family : {"ipv4", "ipv6"}) {
    HL_RETURN_IF_ERROR(
        ForEachEntry(root, family, origin,
                     [&](const std::string& entry, const std::string& url,
                         const std::string& where) {
                       Result<net::Cidr> cidr = net::Cidr::Parse(entry);
                       if (!cidr.ok()) {
                         return InvalidArgument(origin + ": " + where + ": " +
                                                cidr.status().message());
                       }
                       b.ip_.push_back({*cidr, url});
                       return Status::Ok();
                     }));
  }
  HL_RETURN_IF_ERROR(
      ForEachEntry(root, "dns", origin,
                   [&](const std::string& entry, const std::string& url,
                       const std::string&) {
                     b.dns_.push_back({ToLowerAscii(Trim(entry, '.')), url});
                     return Status::Ok();
                   }));
  return b;
}

Result<Bootstrap> Bootstrap::Load(const std::string& path) {
  Result<std::string> text =
      toml_reader::ReadFile(path, "the RDAP bootstrap file");
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

std::optional<std::string> Bootstrap::ForIp(const net::IpAddress& ip) const {
  const IpService* best = nullptr;
  for (const IpService& s : ip_) {
    if (s.prefix.Contains(ip) &&
        (best == nullptr ||
         s.prefix.prefix_len() > best->prefix.prefix_len())) {
      best = &s;
    }
  }
  if (best == nullptr) return std::nullopt;
  return best->url;
}

std::optional<std::string> Bootstrap::ForDomain(std::string_view domain) const {
  const std::string name = ToLowerAscii(Trim(domain, '.'));
  const DomainService* best = nullptr;
  for (const DomainService& s : dns_) {
    const bool match =
        name == s.suffix ||
        (name.size() > s.suffix.size() && name.ends_with(s.suffix) &&
         name[name.size() - s.suffix.size() - 1] == '.');
    if (match && (best == nullptr || s.suffix.size() > best->suffix.size())) {
      best = &s;
    }
  }
  if (best == nullptr) return std::nullopt;
  return best->url;
}

Result<Network> ParseNetwork(std::string_view body, const std::string& server) {
  Result<Json> parsed = ParseObject(body, server, "ip network");
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  Network n;
  n.server = server;
  n.handle = Member(j, "handle");
  n.name = Member(j, "name");
  n.country = Member(j, "country");
  for (char& c : n.country) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
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

}  // namespace hl::rdap

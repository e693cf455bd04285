#include "common/provider.h"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "common/ascii.h"
#include "common/digest.h"
#include "common/jurisdiction.h"
#include "common/toml_reader.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;
using toml_reader::Quoted;
using toml_reader::Reader;

constexpr std::array<std::pair<std::string_view, ProviderCategory>, 4>
    kCategories = {{{"cdn", ProviderCategory::kCdn},
                    {"waf", ProviderCategory::kWaf},
                    {"cloud", ProviderCategory::kCloud},
                    {"hosting", ProviderCategory::kHosting}}};

// Evidence kinds, strongest first (see provider.h).
constexpr std::string_view kHeader = "header";
constexpr std::string_view kIpRange = "ip_range";
constexpr std::string_view kCname = "cname";
constexpr std::string_view kAsn = "asn";
constexpr std::array<std::string_view, 4> kKindsByStrength = {kHeader, kIpRange,
                                                              kCname, kAsn};

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

// Letters, digits and hyphens in dot-separated non-empty labels.
bool ValidSuffix(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  if (s.find("..") != std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '.'; });
}

// An HTTP token (RFC 9110), optionally followed by one '*'.
bool ValidHeaderName(std::string_view s) {
  if (s.ends_with('*')) s.remove_suffix(1);
  constexpr std::string_view kTokenPunct = "!#$%&'+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return IsAlnum(c) || kTokenPunct.find(c) != std::string_view::npos;
  });
}

bool NonEmpty(std::string_view s) { return !s.empty(); }

// Keys every provider sets.
constexpr std::array<std::string_view, 5> kRequiredKeys = {
    "name", "category", "country", "source", "verified_on"};

Status MissingKey(const Reader& r, const toml::table& table,
                  const std::string& path, std::string_view key) {
  return InvalidArgument(r.Where(table.source()) + "missing key " +
                         Quoted(path + "." + std::string(key)));
}

Status ReadHeaderRule(const Reader& r, const toml::node& node,
                      const std::string& path, HeaderRule* out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return r.WrongType(node, path,
                       "a table such as { name = \"server\", equals = "
                       "\"cloudflare\" }");
  }
  HeaderRule rule;
  auto value = [&r, &rule](HeaderRule::Match match) {
    return [&r, &rule, match](const toml::node& n, const std::string& p) {
      if (rule.match != HeaderRule::Match::kPresent) {
        return r.Bad(n, p, "only one of \"equals\" and \"contains\"", "both");
      }
      rule.match = match;
      HL_RETURN_IF_ERROR(
          r.String(n, p, "a non-empty string", NonEmpty, &rule.value));
      rule.value = ToLowerAscii(rule.value);
      return Status::Ok();
    };
  };
  HL_RETURN_IF_ERROR(
      r.Fields(*table, path, "a header rule",
               {{"name",
                 [&](const toml::node& n, const std::string& p) {
                   HL_RETURN_IF_ERROR(r.String(
                       n, p, "an HTTP header name, optionally ending in '*'",
                       ValidHeaderName, &rule.name));
                   rule.name = ToLowerAscii(rule.name);
                   return Status::Ok();
                 }},
                {"equals", value(HeaderRule::Match::kEquals)},
                {"contains", value(HeaderRule::Match::kContains)}}));
  if (!table->contains("name")) return MissingKey(r, *table, path, "name");
  *out = std::move(rule);
  return Status::Ok();
}

Status ReadProvider(const Reader& r, const toml::node& node,
                    const std::string& path, Provider* out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return r.WrongType(node, path, "a table ([[provider]])");
  }
  Provider p;
  auto text = [&r](std::string_view expected, bool (*valid)(std::string_view),
                   std::string* field) {
    return [&r, expected, valid, field](const toml::node& n,
                                        const std::string& np) {
      return r.String(n, np, expected, valid, field);
    };
  };
  HL_RETURN_IF_ERROR(r.Fields(
      *table, path, "[[provider]]",
      {{"name", text("a non-empty string", NonEmpty, &p.name)},
       {"category",
        [&](const toml::node& n, const std::string& np) {
          std::string name;
          HL_RETURN_IF_ERROR(r.String(
              n, np, "one of cdn, waf, cloud, hosting",
              [](std::string_view s) {
                return std::any_of(kCategories.begin(), kCategories.end(),
                                   [s](const auto& c) { return c.first == s; });
              },
              &name));
          p.category =
              std::find_if(kCategories.begin(), kCategories.end(),
                           [&](const auto& c) { return c.first == name; })
                  ->second;
          return Status::Ok();
        }},
       {"country", text("an ISO 3166-1 alpha-2 code in upper case, e.g. \"US\"",
                        IsCountryCode, &p.country)},
       {"abuse", text("a non-empty string", NonEmpty, &p.abuse)},
       {"source", text("a non-empty string", NonEmpty, &p.source)},
       {"verified_on",
        [&](const toml::node& n, const std::string& np) {
          return r.Date(n, np, &p.verified_on);
        }},
       {"ip_ranges",
        [&](const toml::node& n, const std::string& np) {
          return r.CidrList(n, np, &p.ip_ranges);
        }},
       {"asns",
        [&](const toml::node& n, const std::string& np) {
          return r.Array(
              n, np, "an array of AS numbers",
              [&](const toml::node& item, const std::string& item_path) {
                uint32_t asn = 0;
                HL_RETURN_IF_ERROR(
                    r.Uint(item, item_path, 1, 4294967295u, "", &asn));
                p.asns.push_back(asn);
                return Status::Ok();
              });
        }},
       {"cname_suffixes",
        [&](const toml::node& n, const std::string& np) {
          return r.Array(
              n, np, "an array of domain suffixes",
              [&](const toml::node& item, const std::string& item_path) {
                std::string suffix;
                HL_RETURN_IF_ERROR(r.String(
                    item, item_path,
                    "a domain suffix such as \"cloudfront.net\" (letters, "
                    "digits, '-', no leading or trailing dot)",
                    ValidSuffix, &suffix));
                p.cname_suffixes.push_back(ToLowerAscii(suffix));
                return Status::Ok();
              });
        }},
       {"headers", [&](const toml::node& n, const std::string& np) {
          return r.Array(
              n, np, "an array of header rules",
              [&](const toml::node& item, const std::string& item_path) {
                HeaderRule rule;
                HL_RETURN_IF_ERROR(ReadHeaderRule(r, item, item_path, &rule));
                p.headers.push_back(std::move(rule));
                return Status::Ok();
              });
        }}}));
  for (std::string_view key : kRequiredKeys) {
    if (!table->contains(key)) return MissingKey(r, *table, path, key);
  }
  if (p.ip_ranges.empty() && p.asns.empty() && p.cname_suffixes.empty() &&
      p.headers.empty()) {
    return InvalidArgument(r.Where(table->source()) + Quoted(path) +
                           " has no rule: set at least one of ip_ranges, "
                           "asns, cname_suffixes, headers");
  }
  *out = std::move(p);
  return Status::Ok();
}

// "cf-ray", "server: cloudflare", "via: *cloudfront*": the rule as the
// evidence names it.
std::string RuleText(const HeaderRule& rule) {
  switch (rule.match) {
    case HeaderRule::Match::kPresent:
      return rule.name;
    case HeaderRule::Match::kEquals:
      return rule.name + ": " + rule.value;
    case HeaderRule::Match::kContains:
      return rule.name + ": *" + rule.value + "*";
  }
  return rule.name;
}

bool Matches(const HeaderRule& rule, const pb::HttpHeader& header) {
  std::string name = ToLowerAscii(header.name());
  bool name_matches = rule.name.ends_with('*')
                          ? name.starts_with(std::string_view(rule.name).substr(
                                0, rule.name.size() - 1))
                          : name == rule.name;
  if (!name_matches) return false;
  switch (rule.match) {
    case HeaderRule::Match::kPresent:
      return true;
    case HeaderRule::Match::kEquals:
      return ToLowerAscii(header.value()) == rule.value;
    case HeaderRule::Match::kContains:
      return ToLowerAscii(header.value()).find(rule.value) != std::string::npos;
  }
  return false;
}

// `name` (any case, optional trailing dot) is `suffix` or ends in
// "." + `suffix`.
bool HasSuffix(std::string_view name, std::string_view suffix) {
  std::string lower = ToLowerAscii(name);
  std::string_view n = lower;
  if (n.ends_with('.')) n.remove_suffix(1);
  if (!n.ends_with(suffix)) return false;
  return n.size() == suffix.size() || n[n.size() - suffix.size() - 1] == '.';
}

void Add(pb::ProviderMatch* match, std::string_view kind, std::string rule,
         std::string value) {
  pb::Evidence* e = match->add_evidence();
  e->set_kind(std::string(kind));
  e->set_rule(std::move(rule));
  e->set_value(std::move(value));
}

// The evidence for one provider, strongest kind first.
pb::ProviderMatch Match(const FinalHop& hop, const Provider& p) {
  pb::ProviderMatch match;
  for (const HeaderRule& rule : p.headers) {
    for (const pb::HttpHeader& h : hop.http.headers()) {
      if (Matches(rule, h)) {
        Add(&match, kHeader, RuleText(rule), h.name() + ": " + h.value());
      }
    }
  }
  for (const pb::AddressInfo& a : hop.addresses) {
    std::optional<net::IpAddress> ip = net::IpAddress::Parse(a.ip());
    if (!ip) continue;
    for (const net::Cidr& cidr : p.ip_ranges) {
      if (cidr.Contains(*ip)) Add(&match, kIpRange, cidr.ToString(), a.ip());
    }
  }
  for (const std::string& name : hop.dns.cname_chain()) {
    for (const std::string& suffix : p.cname_suffixes) {
      if (HasSuffix(name, suffix)) Add(&match, kCname, suffix, name);
    }
  }
  for (const pb::AddressInfo& a : hop.addresses) {
    if (std::find(p.asns.begin(), p.asns.end(), a.asn()) != p.asns.end()) {
      Add(&match, kAsn, "AS" + std::to_string(a.asn()), a.ip());
    }
  }
  if (match.evidence_size() > 0) {
    match.set_name(p.name);
    match.set_category(std::string(ProviderCategoryName(p.category)));
    match.set_country(p.country);
    match.set_abuse(p.abuse);
  }
  return match;
}

size_t Strength(const pb::ProviderMatch& match) {
  const std::string& kind = match.evidence(0).kind();
  return static_cast<size_t>(
      kKindsByStrength.end() -
      std::find(kKindsByStrength.begin(), kKindsByStrength.end(), kind));
}

}  // namespace

std::string_view ProviderCategoryName(ProviderCategory category) {
  for (const auto& [name, value] : kCategories) {
    if (value == category) return name;
  }
  return "";
}

Result<ProviderTable> ParseProviders(std::string_view toml_text,
                                     const std::string& origin) {
  Result<toml::table> parsed = toml_reader::ParseText(toml_text, origin);
  if (!parsed.ok()) return parsed.status();
  const std::string no_base_dir;
  Reader r(origin, no_base_dir);
  ProviderTable table;
  HL_RETURN_IF_ERROR(r.Fields(
      *parsed, "", "the top level",
      {{"provider", [&](const toml::node& n, const std::string& path) {
          return r.Array(
              n, path, "an array of tables ([[provider]])",
              [&](const toml::node& item, const std::string& item_path) {
                Provider p;
                HL_RETURN_IF_ERROR(ReadProvider(r, item, item_path, &p));
                auto same =
                    std::find_if(table.providers.begin(), table.providers.end(),
                                 [&](const Provider& q) {
                                   return EqualsIgnoreCaseAscii(q.name, p.name);
                                 });
                if (same != table.providers.end()) {
                  return InvalidArgument(
                      r.Where(item.source()) + "duplicate provider name " +
                      Quoted(p.name) + " in " + Quoted(item_path) +
                      " (first in \"provider[" +
                      std::to_string(same - table.providers.begin()) + "]\")");
                }
                table.providers.push_back(std::move(p));
                return Status::Ok();
              });
        }}}));
  for (const Provider& p : table.providers) {
    table.newest_verified_on =
        std::max(table.newest_verified_on, p.verified_on);
  }
  return table;
}

Result<ProviderTable> LoadProvidersFile(const std::string& path) {
  Result<std::string> text =
      toml_reader::ReadFile(path, "the provider signatures file");
  if (!text.ok()) return text.status();
  Result<ProviderTable> table = ParseProviders(*text, path);
  if (!table.ok()) return table;
  table->path = path;
  table->sha256 = Sha256Hex(*text);
  return table;
}

std::vector<pb::ProviderMatch> DetectProviders(const FinalHop& hop,
                                               const ProviderTable& table) {
  std::vector<pb::ProviderMatch> matches;
  for (const Provider& p : table.providers) {
    pb::ProviderMatch match = Match(hop, p);
    if (match.evidence_size() > 0) matches.push_back(std::move(match));
  }
  std::stable_sort(matches.begin(), matches.end(),
                   [](const pb::ProviderMatch& a, const pb::ProviderMatch& b) {
                     if (Strength(a) != Strength(b)) {
                       return Strength(a) > Strength(b);
                     }
                     return a.evidence_size() > b.evidence_size();
                   });
  return matches;
}

}  // namespace hl

#include "common/provider.h"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <compare>
#include <functional>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "common/ascii.h"
#include "common/digest.h"
#include "common/jurisdiction.h"
#include "common/net/cidr_index.h"
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

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const {
    return std::hash<std::string_view>{}(s);
  }
};

template <typename V>
using StringMap =
    std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// A rule of one kind of one provider: providers[provider] and its
// rule-th rule of that kind, in the order the table lists them.
struct RuleRef {
  uint32_t provider = 0;
  uint32_t rule = 0;
  friend auto operator<=>(const RuleRef&, const RuleRef&) = default;
};

// Evidence kinds in the order of kKindsByStrength.
enum Kind : uint8_t { kHeaderKind, kIpRangeKind, kCnameKind, kAsnKind };

// One piece of evidence found. Sorted by (provider, kind, a, b), pieces
// come in the order provider.h promises: per provider strongest kind
// first, then as the naive nested loops (rule, header), (address, CIDR),
// (name, suffix), (address) would find them.
struct Hit {
  uint32_t provider;
  Kind kind;
  uint32_t a;
  uint32_t b;
  const std::string* rule;
  std::string value;
};

}  // namespace

struct ProviderIndex {
  struct Facts {
    std::string name;
    std::string category;
    std::string country;
    std::string abuse;
  };
  std::vector<Facts> providers;
  // Per provider, per rule of that kind: the rule and its text.
  std::vector<std::vector<HeaderRule>> header_rules;
  std::vector<std::vector<std::string>> header_texts;
  std::vector<std::vector<std::string>> cidr_texts;
  // Every provider's CIDRs, numbered in (provider, rule) order: number i
  // is rule cidr_refs[i].
  net::CidrIndex cidrs;
  std::vector<RuleRef> cidr_refs;
  std::vector<std::vector<std::string>> suffixes;
  // Exact lower-case header names, and the rules ending in '*' with the
  // prefix before it.
  StringMap<std::vector<RuleRef>> header_names;
  std::vector<std::pair<std::string, RuleRef>> header_prefixes;
  StringMap<std::vector<RuleRef>> suffix_rules;
  // Per AS number its text ("AS13335") and the providers listing it, each
  // once, in table order.
  struct Asn {
    std::string text;
    std::vector<uint32_t> providers;
  };
  std::unordered_map<uint32_t, Asn> asns;
};

std::shared_ptr<const ProviderIndex> IndexProviders(
    const std::vector<Provider>& providers) {
  auto index = std::make_shared<ProviderIndex>();
  std::vector<net::Cidr> cidrs;
  for (uint32_t p = 0; p < providers.size(); ++p) {
    const Provider& provider = providers[p];
    index->providers.push_back(
        {provider.name, std::string(ProviderCategoryName(provider.category)),
         provider.country, provider.abuse});
    index->header_rules.push_back(provider.headers);
    std::vector<std::string>& header_texts = index->header_texts.emplace_back();
    for (uint32_t r = 0; r < provider.headers.size(); ++r) {
      const HeaderRule& rule = provider.headers[r];
      header_texts.push_back(RuleText(rule));
      if (rule.name.ends_with('*')) {
        index->header_prefixes.emplace_back(
            rule.name.substr(0, rule.name.size() - 1), RuleRef{p, r});
      } else {
        index->header_names[rule.name].push_back({p, r});
      }
    }
    std::vector<std::string>& cidr_texts = index->cidr_texts.emplace_back();
    for (uint32_t r = 0; r < provider.ip_ranges.size(); ++r) {
      const net::Cidr& cidr = provider.ip_ranges[r];
      cidr_texts.push_back(cidr.ToString());
      cidrs.push_back(cidr);
      index->cidr_refs.push_back({p, r});
    }
    index->suffixes.push_back(provider.cname_suffixes);
    for (uint32_t r = 0; r < provider.cname_suffixes.size(); ++r) {
      index->suffix_rules[provider.cname_suffixes[r]].push_back({p, r});
    }
    for (uint32_t asn : provider.asns) {
      ProviderIndex::Asn& entry = index->asns[asn];
      entry.text = "AS" + std::to_string(asn);
      if (entry.providers.empty() || entry.providers.back() != p) {
        entry.providers.push_back(p);
      }
    }
  }
  index->cidrs = net::CidrIndex(cidrs);
  return index;
}

namespace {

void FindHeaders(const pb::HttpObservation& http, const ProviderIndex& index,
                 std::vector<Hit>* hits) {
  std::string name;
  std::string value;
  for (uint32_t h = 0; h < static_cast<uint32_t>(http.headers_size()); ++h) {
    const pb::HttpHeader& header = http.headers(static_cast<int>(h));
    name = ToLowerAscii(header.name());
    bool value_lowered = false;
    auto check = [&](RuleRef ref) {
      const HeaderRule& rule = index.header_rules[ref.provider][ref.rule];
      if (rule.match != HeaderRule::Match::kPresent && !value_lowered) {
        value = ToLowerAscii(header.value());
        value_lowered = true;
      }
      const bool matches = rule.match == HeaderRule::Match::kPresent ||
                           (rule.match == HeaderRule::Match::kEquals
                                ? value == rule.value
                                : value.find(rule.value) != std::string::npos);
      if (!matches) return;
      hits->push_back({ref.provider, kHeaderKind, ref.rule, h,
                       &index.header_texts[ref.provider][ref.rule],
                       header.name() + ": " + header.value()});
    };
    if (auto found = index.header_names.find(name);
        found != index.header_names.end()) {
      for (RuleRef ref : found->second) check(ref);
    }
    for (const auto& [prefix, ref] : index.header_prefixes) {
      if (name.starts_with(prefix)) check(ref);
    }
  }
}

void FindAddresses(
    const google::protobuf::RepeatedPtrField<pb::AddressInfo>& addresses,
    const ProviderIndex& index, std::vector<Hit>* hits) {
  for (uint32_t i = 0; i < static_cast<uint32_t>(addresses.size()); ++i) {
    const pb::AddressInfo& a = addresses[static_cast<int>(i)];
    if (std::optional<net::IpAddress> ip = net::IpAddress::Parse(a.ip())) {
      for (uint32_t number : index.cidrs.Containing(*ip)) {
        const RuleRef ref = index.cidr_refs[number];
        hits->push_back({ref.provider, kIpRangeKind, i, ref.rule,
                         &index.cidr_texts[ref.provider][ref.rule], a.ip()});
      }
    }
    if (auto found = index.asns.find(a.asn()); found != index.asns.end()) {
      for (uint32_t provider : found->second.providers) {
        hits->push_back(
            {provider, kAsnKind, i, 0, &found->second.text, a.ip()});
      }
    }
  }
}

// Suffixes match on label boundaries: every suffix of the lower-cased name
// (trailing dot dropped) that is the whole name or follows a '.'.
void FindNames(const pb::DnsObservation& dns, const ProviderIndex& index,
               std::vector<Hit>* hits) {
  if (index.suffix_rules.empty()) return;
  std::string lower;
  const auto& chain = dns.cname_chain();
  for (uint32_t i = 0; i < static_cast<uint32_t>(chain.size()); ++i) {
    const std::string& name = chain[static_cast<int>(i)];
    lower = ToLowerAscii(name);
    std::string_view n = lower;
    if (n.ends_with('.')) n.remove_suffix(1);
    for (size_t start = 0; start <= n.size();) {
      if (auto found = index.suffix_rules.find(n.substr(start));
          found != index.suffix_rules.end()) {
        for (RuleRef ref : found->second) {
          hits->push_back({ref.provider, kCnameKind, i, ref.rule,
                           &index.suffixes[ref.provider][ref.rule], name});
        }
      }
      const size_t dot = n.find('.', start);
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
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
  table.index = IndexProviders(table.providers);
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
  const std::shared_ptr<const ProviderIndex> built =
      table.index != nullptr ? nullptr : IndexProviders(table.providers);
  const ProviderIndex& index = table.index != nullptr ? *table.index : *built;
  std::vector<Hit> hits;
  FindHeaders(hop.http, index, &hits);
  FindAddresses(hop.addresses, index, &hits);
  FindNames(hop.dns, index, &hits);
  std::vector<pb::ProviderMatch> matches;
  if (hits.empty()) return matches;
  std::sort(hits.begin(), hits.end(), [](const Hit& x, const Hit& y) {
    return std::tie(x.provider, x.kind, x.a, x.b) <
           std::tie(y.provider, y.kind, y.a, y.b);
  });
  std::vector<Kind> strongest;  // per match
  for (size_t i = 0; i < hits.size(); ++i) {
    Hit& hit = hits[i];
    if (i == 0 || hits[i - 1].provider != hit.provider) {
      const ProviderIndex::Facts& facts = index.providers[hit.provider];
      pb::ProviderMatch& match = matches.emplace_back();
      match.set_name(facts.name);
      match.set_category(facts.category);
      match.set_country(facts.country);
      match.set_abuse(facts.abuse);
      strongest.push_back(hit.kind);
    }
    pb::Evidence* e = matches.back().add_evidence();
    e->set_kind(std::string(kKindsByStrength[hit.kind]));
    e->set_rule(*hit.rule);
    e->set_value(std::move(hit.value));
  }
  std::vector<size_t> order(matches.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (strongest[a] != strongest[b]) return strongest[a] < strongest[b];
    return matches[a].evidence_size() > matches[b].evidence_size();
  });
  std::vector<pb::ProviderMatch> sorted;
  sorted.reserve(matches.size());
  for (size_t i : order) sorted.push_back(std::move(matches[i]));
  return sorted;
}

}  // namespace hl

#include "common/jurisdiction.h"

#include <algorithm>
#include <array>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/ascii.h"
#include "common/net/ip.h"
#include "common/net/url.h"
#include "common/verdict.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;

// Overlay networks whose names say nothing about where a service runs.
constexpr std::array<std::string_view, 5> kNonAttributableTlds = {
    "onion", "i2p", "loki", "bit", "exit"};

// ccTLDs that Google Search Central treats as generic (marketed for
// worldwide use), so their country says nothing about the site.
constexpr std::array<std::string_view, 19> kGenericCcTlds = {
    "ad", "as", "bz", "cc", "cd", "co", "dj", "fm", "io", "la",
    "me", "ms", "nu", "sc", "sr", "su", "tk", "tv", "ws"};

// ccTLDs whose country code differs from the TLD, and "eu" (not a
// country: no entry).
constexpr std::array<std::pair<std::string_view, std::string_view>, 3>
    kCcTldCountries = {{{"uk", "GB"}, {"ac", "SH"}, {"eu", ""}}};

constexpr std::string_view kHigh = "high";
constexpr std::string_view kMedium = "medium";
constexpr std::string_view kLow = "low";
constexpr std::string_view kNone = "none";

int Rank(std::string_view confidence) {
  if (confidence == kHigh) return 3;
  if (confidence == kMedium) return 2;
  if (confidence == kLow) return 1;
  return 0;
}

bool IsHttpAnswer(const pb::HttpObservation& http) { return http.status() > 0; }

bool IsInFront(const pb::ProviderMatch& p) {
  return p.category() == "cdn" || p.category() == "waf";
}

void AddSecondary(pb::Jurisdiction* j, std::string country,
                  std::string_view role, std::string detail) {
  for (const pb::SecondaryJurisdiction& s : j->secondary()) {
    if (s.country() == country && s.role() == role && s.detail() == detail) {
      return;
    }
  }
  pb::SecondaryJurisdiction* s = j->add_secondary();
  s->set_country(std::move(country));
  s->set_role(std::string(role));
  s->set_detail(std::move(detail));
}

// One country source of an address, named for disagreements.
struct Source {
  std::string_view name;
  std::string_view country;
};

// Why two country sources of one address can differ.
std::string_view WhyDiffer(std::string_view a, std::string_view b) {
  if (a == "geolocation" || b == "geolocation") {
    return "a network is registered where its holder's company sits but may "
           "be used, and geolocated, elsewhere";
  }
  return "the AS holder may register its networks through a company in "
         "another country";
}

// Rates one deciding address and appends its disagreements.
std::string_view RateAddress(const pb::AddressInfo& a, pb::Jurisdiction* j) {
  const std::array<Source, 3> sources = {
      Source{"geolocation", a.country()},
      Source{"the RDAP network record", a.rdap_country()},
      Source{"the ASN registry", a.registry_country()}};
  size_t best_agreement = 0;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].country.empty()) continue;
    size_t agree = 0;
    for (const Source& other : sources) {
      if (other.country == sources[i].country) ++agree;
    }
    best_agreement = std::max(best_agreement, agree);
    for (size_t k = i + 1; k < sources.size(); ++k) {
      if (sources[k].country.empty() ||
          sources[k].country == sources[i].country) {
        continue;
      }
      j->add_disagreements(
          a.ip() + ": " + std::string(sources[i].name) + " says " +
          std::string(sources[i].country) + ", " +
          std::string(sources[k].name) + " says " +
          std::string(sources[k].country) + " (" +
          std::string(WhyDiffer(sources[i].name, sources[k].name)) + ")");
    }
  }
  if (best_agreement == 3) return kHigh;
  if (best_agreement == 2) return kMedium;
  return kLow;
}

// The addresses the hosting countries rest on: the one that answered
// HTTP, else every resolved address with a country.
std::vector<const pb::AddressInfo*> DecidingAddresses(const FinalHop& hop) {
  std::vector<const pb::AddressInfo*> deciding;
  if (IsHttpAnswer(hop.http)) {
    const pb::AddressInfo* a =
        FindAddress(hop.addresses, AnsweringIp(hop.http, hop.pinned_ip));
    if (a != nullptr) deciding.push_back(a);
    return deciding;
  }
  for (const pb::AddressInfo& a : hop.addresses) {
    if (!a.country().empty()) deciding.push_back(&a);
  }
  return deciding;
}

std::string_view RateAddresses(const FinalHop& hop, pb::Jurisdiction* j) {
  std::string_view lowest = kHigh;
  bool any = false;
  for (const pb::AddressInfo* a : DecidingAddresses(hop)) {
    std::string_view rating = RateAddress(*a, j);
    if (Rank(rating) < Rank(lowest)) lowest = rating;
    any = true;
  }
  return any ? lowest : kLow;
}

std::string_view RateProvider(const pb::ProviderMatch& p) {
  const std::string& kind = p.evidence().empty() ? "" : p.evidence(0).kind();
  if (kind == "header" || kind == "ip_range") return kHigh;
  if (kind == "cname") return kMedium;
  return kLow;
}

void AddRedirectors(const pb::Observation& obs, pb::Jurisdiction* j) {
  auto add = [j](const std::string& url, const std::string& pinned_ip,
                 const pb::HttpObservation& http,
                 const google::protobuf::RepeatedPtrField<pb::AddressInfo>&
                     addresses) {
    const pb::AddressInfo* a =
        FindAddress(addresses, AnsweringIp(http, pinned_ip));
    AddSecondary(j, a != nullptr ? a->country() : "", "redirector", url);
  };
  if (obs.redirects_size() == 0) return;
  add(obs.url(), obs.pinned_ip(), obs.http(), obs.addresses());
  for (int i = 0; i + 1 < obs.redirects_size(); ++i) {
    const pb::Hop& hop = obs.redirects(i);
    add(hop.url(), hop.pinned_ip(), hop.http(), hop.addresses());
  }
}

// Addresses of the final host in countries the verdict does not list
// (only when HTTP answered: otherwise every country is listed).
void AddUnconfirmedAddresses(const pb::Observation& obs, const FinalHop& hop,
                             pb::Jurisdiction* j) {
  if (!IsHttpAnswer(hop.http)) return;
  const auto& listed = obs.verdict().hosting_countries();
  for (const pb::AddressInfo& a : hop.addresses) {
    if (a.country().empty() ||
        std::find(listed.begin(), listed.end(), a.country()) != listed.end()) {
      continue;
    }
    AddSecondary(j, a.country(), "unconfirmed_address", a.ip());
  }
}

// The registrable domain of the hop's URL. A host in normal form (lower
// case, no trailing dot: what NormalizeUrl makes of the URL's host) is
// looked up directly, which spares parsing the URL again; anything else
// goes through NormalizeUrl.
std::string RegistrableDomain(const FinalHop& hop) {
  const std::string& host = hop.host;
  const bool normal = !host.empty() && !host.ends_with('.') &&
                      std::none_of(host.begin(), host.end(),
                                   [](char c) { return c >= 'A' && c <= 'Z'; });
  if (normal) return net::RegistrableDomainOfHost(host);
  auto url = net::NormalizeUrl(hop.url);
  return url.ok() ? url->registrable_domain : "";
}

void AddDomainFacts(const pb::Observation& obs, const FinalHop& hop,
                    std::string_view registrable_domain, pb::Jurisdiction* j) {
  for (const std::string* host : {&obs.host(), &hop.host}) {
    std::string country = CcTldCountry(*host);
    if (!country.empty()) {
      AddSecondary(j, country, "cctld",
                   "." + ToLowerAscii(TopLevelDomain(*host)));
    }
  }
  j->set_cctld_country(CcTldCountry(hop.host));
  j->set_registrable_domain(registrable_domain.empty()
                                ? RegistrableDomain(hop)
                                : std::string(registrable_domain));
  const pb::DomainRegistration& reg = obs.registration();
  j->set_registrar(reg.registrar());
  if (!reg.registrar().empty() || !reg.registrar_country().empty()) {
    AddSecondary(j, reg.registrar_country(), "registrar", reg.registrar());
  }
}

// Sets attribution, primary countries and confidence, and the secondary
// jurisdictions that only the attribution knows of.
void Attribute(const pb::Observation& obs, const FinalHop& hop,
               pb::Jurisdiction* j) {
  const auto& countries = obs.verdict().hosting_countries();
  if (IsNonAttributableName(hop.host)) {
    j->set_attribution("not_attributable");
    j->set_confidence(std::string(kNone));
    return;
  }
  const pb::DnsObservation& dns = hop.dns;
  if (!dns.error().error_class().empty() && dns.addresses_size() == 0 &&
      hop.addresses.empty()) {
    j->set_attribution(dns.error().error_class() == "nxdomain"
                           ? "taken_down"
                           : "unresolvable");
    j->set_confidence(std::string(kNone));
    return;
  }
  if (countries.empty()) {
    j->set_attribution("unknown_country");
    j->set_confidence(std::string(kNone));
    return;
  }
  auto front =
      std::find_if(obs.providers().begin(), obs.providers().end(), IsInFront);
  const bool gone = hop.http.status() == 404 || hop.http.status() == 410;
  if (front != obs.providers().end()) {
    j->set_attribution(gone ? "taken_down" : "origin_hidden");
    if (!front->country().empty()) j->add_primary_countries(front->country());
    j->set_confidence(std::string(RateProvider(*front)));
    for (const std::string& c : countries) {
      AddSecondary(j, c, "cdn_edge", front->name());
    }
    for (auto p = std::next(front); p != obs.providers().end(); ++p) {
      if (IsInFront(*p)) AddSecondary(j, p->country(), "provider", p->name());
    }
    return;
  }
  *j->mutable_primary_countries() = countries;
  if (gone) {
    j->set_attribution("taken_down");
  } else if (countries.size() > 1) {
    j->set_attribution("several_countries");
  } else if (net::IpAddress::Parse(hop.host)) {
    j->set_attribution("ip_literal");
  } else {
    j->set_attribution("hosted");
  }
  j->set_confidence(std::string(RateAddresses(hop, j)));
}

}  // namespace

std::string TopLevelDomain(std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);
  size_t dot = host.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  return ToLowerAscii(host.substr(dot + 1));
}

bool IsCountryCode(std::string_view code) {
  return code.size() == 2 && std::all_of(code.begin(), code.end(), [](char c) {
           return c >= 'A' && c <= 'Z';
         });
}

bool IsNonAttributableName(std::string_view host) {
  std::string tld = TopLevelDomain(host);
  return std::find(kNonAttributableTlds.begin(), kNonAttributableTlds.end(),
                   tld) != kNonAttributableTlds.end();
}

std::string CcTldCountry(std::string_view host) {
  std::string tld = TopLevelDomain(host);
  if (tld.size() != 2 || !std::all_of(tld.begin(), tld.end(), [](char c) {
        return c >= 'a' && c <= 'z';
      })) {
    return "";  // generic TLDs, IPv4 literals, IDN ccTLDs (xn--)
  }
  if (std::find(kGenericCcTlds.begin(), kGenericCcTlds.end(), tld) !=
      kGenericCcTlds.end()) {
    return "";
  }
  for (const auto& [from, to] : kCcTldCountries) {
    if (tld == from) return std::string(to);
  }
  for (char& c : tld) c = static_cast<char>(c - 'a' + 'A');
  return tld;
}

pb::Jurisdiction DecideJurisdiction(const pb::Observation& obs,
                                    std::string_view registrable_domain) {
  const FinalHop hop = FinalHopOf(obs);
  pb::Jurisdiction j;
  AddRedirectors(obs, &j);
  Attribute(obs, hop, &j);
  for (const pb::ProviderMatch& p : obs.providers()) {
    if (!IsInFront(p))
      AddSecondary(&j, p.country(), "hosting_provider", p.name());
  }
  AddUnconfirmedAddresses(obs, hop, &j);
  if (hop.dns.resolvers_disagree()) {
    j.add_disagreements(
        "the resolvers disagree on the addresses of " + hop.host +
        " (split-horizon DNS, a fast-changing record or tampering)");
  }
  AddDomainFacts(obs, hop, registrable_domain, &j);
  return j;
}

std::string DescribeJurisdiction(const pb::Jurisdiction& j) {
  std::string text = "jurisdiction: " + j.attribution();
  for (int i = 0; i < j.primary_countries_size(); ++i) {
    text += (i == 0 ? " " : ", ") + j.primary_countries(i);
  }
  text += " (confidence " + j.confidence();
  if (j.confidence() == kLow && j.disagreements().empty() &&
      j.attribution() != "origin_hidden") {
    text += ": geolocation only, RDAP and ASN registry countries unknown";
  }
  return text + ")";
}

}  // namespace hl

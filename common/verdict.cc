#include "common/verdict.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/ascii.h"
#include "common/jurisdiction.h"
#include "common/net/ip.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;

constexpr std::string_view kLocated = "located";
constexpr std::string_view kUnresolved = "unresolved";
constexpr std::string_view kError = "error";
constexpr std::string_view kNotAttributable = "not_attributable";

bool IsOnion(std::string_view host) { return TopLevelDomain(host) == "onion"; }

std::optional<net::IpAddress> ParseHostIp(std::string_view host) {
  if (host.starts_with('[') && host.ends_with(']')) {
    host = host.substr(1, host.size() - 2);
  }
  return net::IpAddress::Parse(host);
}

// Same address, whatever the textual form (IPv6 compression, case).
bool SameIp(std::string_view a, std::string_view b) {
  std::optional<net::IpAddress> pa = net::IpAddress::Parse(a);
  std::optional<net::IpAddress> pb = net::IpAddress::Parse(b);
  if (pa && pb) return *pa == *pb;
  return a == b;
}

std::string JoinStrings(const std::vector<std::string>& items,
                        std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// "203.0.113.7 (country DE, city Berlin, AS64500 Example GmbH, network
// 203.0.113.0/24)"; unknown parts are left out, except the country.
std::string DescribeAddress(const pb::AddressInfo& a) {
  std::vector<std::string> facts;
  facts.push_back(a.country().empty() ? "country unknown"
                                      : "country " + a.country());
  if (!a.city().empty()) facts.push_back("city " + a.city());
  if (a.asn() != 0) {
    std::string as = "AS" + std::to_string(a.asn());
    if (!a.as_org().empty()) as += " " + a.as_org();
    facts.push_back(as);
  }
  if (!a.network().empty()) facts.push_back("network " + a.network());
  return a.ip() + " (" + JoinStrings(facts, ", ") + ")";
}

// The name DNS was answering about when it failed: the last name of the
// CNAME chain, else the host.
std::string FailedName(const pb::Observation& obs) {
  const pb::DnsObservation& dns = obs.dns();
  if (dns.cname_chain_size() > 0) {
    return dns.cname_chain(dns.cname_chain_size() - 1);
  }
  return obs.host();
}

std::string DnsFailureReason(const pb::Observation& obs) {
  const pb::DnsObservation& dns = obs.dns();
  const std::string& cls = dns.error().error_class();
  std::string name = FailedName(obs);
  std::string reason;
  if (cls == "nxdomain") {
    reason = "DNS answered NXDOMAIN for " + name;
  } else if (cls == "servfail") {
    reason = "DNS answered SERVFAIL for " + name;
  } else if (cls == "dns_timeout") {
    reason = "DNS did not answer in time for " + name + " (dns_timeout)";
  } else if (cls == "dns_refused") {
    reason = "DNS refused to answer for " + name + " (REFUSED)";
  } else if (cls == "no_address") {
    reason = "DNS has no A or AAAA record for " + name;
  } else if (cls == "cname_loop") {
    reason = "DNS CNAME chain loops: " +
             JoinStrings({dns.cname_chain().begin(), dns.cname_chain().end()},
                         " -> ");
  } else {
    reason = "DNS resolution failed for " + name + " (" + cls + ")";
  }
  if (!dns.error().message().empty()) reason += ": " + dns.error().message();
  if (dns.queries_size() > 0) {
    const std::string& resolver =
        dns.queries(dns.queries_size() - 1).resolver();
    if (!resolver.empty()) reason += " (resolver " + resolver + ")";
  }
  return reason;
}

// Reasons about how the host became addresses.
void AddDnsReasons(const pb::Observation& obs, pb::Verdict* verdict) {
  const pb::DnsObservation& dns = obs.dns();
  if (std::optional<net::IpAddress> ip = ParseHostIp(obs.host())) {
    verdict->add_reasons("host is the IP address " + ip->ToString() +
                         "; no DNS lookup");
    return;
  }
  if (dns.cname_chain_size() > 1) {
    verdict->add_reasons(
        "CNAME chain: " +
        JoinStrings({dns.cname_chain().begin(), dns.cname_chain().end()},
                    " -> "));
  }
  if (dns.addresses_size() > 0) {
    std::vector<std::string> ips;
    for (const pb::DnsAddress& a : dns.addresses()) ips.push_back(a.ip());
    verdict->add_reasons("DNS resolved " + FailedName(obs) + " to " +
                         JoinStrings(ips, ", "));
  }
  if (!dns.error().error_class().empty()) {
    verdict->add_reasons("DNS partly failed: " + DnsFailureReason(obs) +
                         "; the resolved addresses are used");
  }
}

void SetErrorUnlessSet(pb::Observation* obs, const pb::ErrorInfo& error) {
  if (obs->error().error_class().empty()) *obs->mutable_error() = error;
}

pb::ErrorInfo MakeError(std::string_view cls, std::string message) {
  pb::ErrorInfo e;
  e.set_error_class(std::string(cls));
  e.set_message(std::move(message));
  return e;
}

void AddRedirectReason(const pb::HttpObservation& http, pb::Verdict* verdict) {
  if (http.status() < 300 || http.status() > 399) return;
  std::string reason =
      "redirect not followed (status " + std::to_string(http.status());
  auto location =
      std::find_if(http.headers().begin(), http.headers().end(),
                   [](const pb::HttpHeader& h) {
                     return EqualsIgnoreCaseAscii(h.name(), "location");
                   });
  if (location != http.headers().end()) {
    reason += ", Location: " + location->value();
  } else {
    reason += ", no Location header";
  }
  verdict->add_reasons(reason + ")");
}

// HTTP answered: the answering address alone decides.
void ConcludeFromAnswer(pb::Observation* obs) {
  const pb::HttpObservation& http = obs->http();
  pb::Verdict* verdict = obs->mutable_verdict();
  const std::string& ip = AnsweringIp(http, obs->pinned_ip());
  std::string method = http.method().empty() ? "HEAD" : http.method();
  const pb::AddressInfo* answered = FindAddress(obs->addresses(), ip);
  if (answered == nullptr) {
    verdict->add_reasons("HTTP " + method + " answered from " + ip +
                         ", an address without geolocation data");
  } else {
    verdict->add_reasons("HTTP " + method + " answered from " +
                         DescribeAddress(*answered));
  }
  AddRedirectReason(http, verdict);

  if (answered == nullptr || answered->country().empty()) {
    verdict->add_reasons("no country is known for " + ip +
                         ", the address that answered; no hosting country");
    obs->set_status(std::string(kError));
    SetErrorUnlessSet(
        obs, MakeError(kNotAttributable,
                       "no country is known for " + ip +
                           ", the address that answered HTTP " + method));
    return;
  }
  const std::string& country = answered->country();
  std::vector<std::string> others;
  for (const pb::AddressInfo& a : obs->addresses()) {
    if (a.country() != country) others.push_back(DescribeAddress(a));
  }
  if (!others.empty()) {
    verdict->add_reasons(
        "other resolved addresses were not probed and are not listed: " +
        JoinStrings(others, ", "));
  }
  verdict->add_hosting_countries(country);
  obs->set_status(std::string(kLocated));
}

// HTTP did not answer: every resolved address counts.
void ConcludeFromAddresses(pb::Observation* obs) {
  const pb::HttpObservation& http = obs->http();
  pb::Verdict* verdict = obs->mutable_verdict();
  const std::string& http_class = http.error().error_class();
  if (!http_class.empty()) {
    verdict->add_reasons("HTTP did not answer (" + http_class +
                         "); countries from resolved addresses");
  } else {
    verdict->add_reasons(
        "HTTP HEAD was not sent; countries from resolved addresses");
  }
  std::set<std::string> countries;
  for (const pb::AddressInfo& a : obs->addresses()) {
    verdict->add_reasons("resolved address " + DescribeAddress(a));
    if (!a.country().empty()) countries.insert(a.country());
  }
  if (countries.size() > 1) {
    verdict->add_reasons(
        "addresses in " + std::to_string(countries.size()) + " countries: " +
        JoinStrings({countries.begin(), countries.end()}, ", ") +
        "; all listed");
  }
  if (countries.empty()) {
    std::string why = obs->addresses().empty()
                          ? "no address was resolved for " + obs->host()
                          : "no resolved address has a country in the "
                            "geolocation data";
    verdict->add_reasons(why + "; no hosting country");
    obs->set_status(std::string(kError));
    SetErrorUnlessSet(obs, http_class.empty() ? MakeError(kNotAttributable, why)
                                              : http.error());
    return;
  }
  for (const std::string& c : countries) verdict->add_hosting_countries(c);
  obs->set_status(std::string(kLocated));
}

// A CDN or WAF answers in place of the origin, which stays hidden.
void AddProviderReasons(const pb::Observation& obs, pb::Verdict* verdict) {
  for (const pb::ProviderMatch& p : obs.providers()) {
    if (p.category() != "cdn" && p.category() != "waf") continue;
    std::string reason = p.name() + " (" + p.category() + ", legal country " +
                         (p.country().empty() ? "unknown" : p.country()) +
                         ") is in front: origin hidden; refer to the provider";
    if (!p.abuse().empty()) reason += " (abuse: " + p.abuse() + ")";
    verdict->add_reasons(reason);
  }
}

// Where one request of the chain was answered from, in brief.
std::string DescribeRequest(
    const std::string& url, const std::string& ip,
    const pb::HttpObservation& http,
    const google::protobuf::RepeatedPtrField<pb::AddressInfo>& addresses) {
  std::string text = url;
  if (http.status() > 0) {
    text += " (" + std::to_string(http.status());
    const std::string& from = AnsweringIp(http, ip);
    const pb::AddressInfo* answered = FindAddress(addresses, from);
    text +=
        " from " + (answered != nullptr ? DescribeAddress(*answered) : from);
    text += ")";
  } else if (!http.error().error_class().empty()) {
    text += " (" + http.error().error_class() + ")";
  }
  return text;
}

void AddRedirectStopReason(const pb::Observation& obs, pb::Verdict* verdict) {
  if (obs.redirect_error().error_class().empty()) return;
  verdict->add_reasons("redirects no longer followed (" +
                       obs.redirect_error().error_class() +
                       "): " + obs.redirect_error().message());
}

// The rules of the header for one request (the first, or the last hop).
void ConcludeHop(pb::Observation* obs) {
  obs->clear_verdict();
  pb::Verdict* verdict = obs->mutable_verdict();

  if (IsOnion(obs->host())) {
    verdict->add_reasons(
        ".onion service: not attributable to a hosting country");
    obs->set_status(std::string(kUnresolved));
    SetErrorUnlessSet(
        obs, MakeError(kNotAttributable,
                       obs->host() + " is a Tor onion service; where it "
                                     "is hosted cannot be observed"));
    return;
  }

  const pb::DnsObservation& dns = obs->dns();
  if (!dns.error().error_class().empty() && dns.addresses_size() == 0 &&
      obs->addresses_size() == 0) {
    if (dns.cname_chain_size() > 1 &&
        dns.error().error_class() != "cname_loop") {
      verdict->add_reasons(
          "CNAME chain: " +
          JoinStrings({dns.cname_chain().begin(), dns.cname_chain().end()},
                      " -> "));
    }
    verdict->add_reasons(DnsFailureReason(*obs));
    obs->set_status(std::string(kUnresolved));
    SetErrorUnlessSet(obs, dns.error());
    return;
  }

  AddDnsReasons(*obs, verdict);
  if (obs->http().status() > 0) {
    ConcludeFromAnswer(obs);
  } else {
    ConcludeFromAddresses(obs);
  }
  AddProviderReasons(*obs, verdict);
}

// The structured decision, and its summary as the last reason.
void AddJurisdiction(pb::Observation* obs) {
  pb::Verdict* verdict = obs->mutable_verdict();
  *verdict->mutable_jurisdiction() = DecideJurisdiction(*obs);
  verdict->add_reasons(DescribeJurisdiction(verdict->jurisdiction()));
  for (const std::string& d : verdict->jurisdiction().disagreements()) {
    verdict->add_reasons("disagreement: " + d);
  }
}

}  // namespace

const pb::AddressInfo* FindAddress(
    const google::protobuf::RepeatedPtrField<pb::AddressInfo>& addresses,
    std::string_view ip) {
  auto found = std::find_if(
      addresses.begin(), addresses.end(),
      [&](const pb::AddressInfo& a) { return SameIp(a.ip(), ip); });
  return found == addresses.end() ? nullptr : &*found;
}

const std::string& AnsweringIp(const pb::HttpObservation& http,
                               const std::string& pinned_ip) {
  return http.connected_ip().empty() ? pinned_ip : http.connected_ip();
}

pb::Observation FinalHopView(const pb::Observation& obs) {
  pb::Observation view = obs;
  view.clear_redirects();
  if (obs.redirects_size() == 0) return view;
  const pb::Hop& last = obs.redirects(obs.redirects_size() - 1);
  view.set_url(last.url());
  view.set_host(last.host());
  if (last.has_dns()) {
    *view.mutable_dns() = last.dns();
  } else {
    view.clear_dns();
  }
  *view.mutable_addresses() = last.addresses();
  view.set_pinned_ip(last.pinned_ip());
  *view.mutable_http() = last.http();
  return view;
}

FinalHop FinalHopOf(const pb::Observation& obs) {
  if (obs.redirects().empty()) {
    return {obs.url(),       obs.host(), obs.dns(),     obs.addresses(),
            obs.pinned_ip(), obs.http(), obs.has_http()};
  }
  const pb::Hop& last = obs.redirects(obs.redirects_size() - 1);
  return {last.url(),       last.host(), last.dns(),     last.addresses(),
          last.pinned_ip(), last.http(), last.has_http()};
}

const pb::AddressInfo* AnsweringAddress(const FinalHop& hop) {
  if (const pb::AddressInfo* a =
          FindAddress(hop.addresses, AnsweringIp(hop.http, hop.pinned_ip));
      a != nullptr) {
    return a;
  }
  return hop.addresses.empty() ? nullptr : &hop.addresses[0];
}

void ReviseJurisdiction(pb::Observation* obs) {
  pb::Verdict* verdict = obs->mutable_verdict();
  pb::Jurisdiction* old = verdict->mutable_jurisdiction();
  // The URL, and so its registrable domain, did not change.
  pb::Jurisdiction revised =
      DecideJurisdiction(*obs, old->registrable_domain());
  const std::string old_summary = DescribeJurisdiction(*old);
  // The referral fields move over; `old` is replaced below.
  revised.mutable_referrals()->Swap(old->mutable_referrals());
  revised.set_directory_unverified(old->directory_unverified());
  revised.set_referral_warning(std::move(*old->mutable_referral_warning()));
  revised.set_home_country(old->home_country());

  // The summary and its disagreements, as AddJurisdiction wrote them.
  std::vector<std::string> replacement = {DescribeJurisdiction(revised)};
  for (const std::string& d : revised.disagreements()) {
    replacement.push_back("disagreement: " + d);
  }
  google::protobuf::RepeatedPtrField<std::string> reasons;
  bool replaced = false;
  for (int i = 0; i < verdict->reasons_size(); ++i) {
    if (!replaced && verdict->reasons(i) == old_summary) {
      for (std::string& r : replacement) *reasons.Add() = std::move(r);
      replaced = true;
      while (i + 1 < verdict->reasons_size() &&
             verdict->reasons(i + 1).starts_with("disagreement: ")) {
        ++i;
      }
      continue;
    }
    *reasons.Add() = std::move(*verdict->mutable_reasons(i));
  }
  if (!replaced) {
    for (std::string& r : replacement) *reasons.Add() = std::move(r);
  }
  *verdict->mutable_reasons() = std::move(reasons);
  *verdict->mutable_jurisdiction() = std::move(revised);
}

void ApplyEnrichment(const pb::Observation& enrichment, pb::Observation* obs) {
  *obs->mutable_rdap() = enrichment.rdap();
  const auto set_countries =
      [](google::protobuf::RepeatedPtrField<pb::AddressInfo>* infos,
         const pb::RdapNetwork& n, const std::optional<net::IpAddress>& ip) {
        for (pb::AddressInfo& info : *infos) {
          const auto address = net::IpAddress::Parse(info.ip());
          if (!ip || !address || !(*address == *ip)) continue;
          info.set_rdap_country(n.country());
          info.set_registry_country(n.registry_country());
        }
      };
  for (const pb::RdapNetwork& n : enrichment.rdap().networks()) {
    const std::optional<net::IpAddress> ip = net::IpAddress::Parse(n.ip());
    set_countries(obs->mutable_addresses(), n, ip);
    for (pb::Hop& hop : *obs->mutable_redirects()) {
      set_countries(hop.mutable_addresses(), n, ip);
    }
  }
  if (enrichment.has_registration()) {
    *obs->mutable_registration() = enrichment.registration();
  }
  ReviseJurisdiction(obs);
}

void Conclude(pb::Observation* obs) {
  if (obs->redirects_size() == 0) {
    ConcludeHop(obs);
    AddRedirectStopReason(*obs, obs->mutable_verdict());
    AddJurisdiction(obs);
    return;
  }
  pb::Observation view = FinalHopView(*obs);
  view.clear_error();
  ConcludeHop(&view);

  obs->clear_verdict();
  pb::Verdict* verdict = obs->mutable_verdict();
  std::vector<std::string> chain = {DescribeRequest(
      obs->url(), obs->pinned_ip(), obs->http(), obs->addresses())};
  for (const pb::Hop& hop : obs->redirects()) {
    chain.push_back(DescribeRequest(hop.url(), hop.pinned_ip(), hop.http(),
                                    hop.addresses()));
  }
  verdict->add_reasons(
      "followed " + std::to_string(obs->redirects_size()) +
      " redirect(s); the last hop decides: " + JoinStrings(chain, " -> "));
  for (const std::string& reason : view.verdict().reasons()) {
    verdict->add_reasons(reason);
  }
  AddRedirectStopReason(*obs, verdict);
  *verdict->mutable_hosting_countries() = view.verdict().hosting_countries();
  obs->set_status(view.status());
  if (view.has_error()) SetErrorUnlessSet(obs, view.error());
  AddJurisdiction(obs);
}

}  // namespace hl

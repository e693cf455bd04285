#include "common/jurisdiction.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/verdict.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

pb::Observation FromText(const std::string& text) {
  pb::Observation obs;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &obs))
      << text;
  return obs;
}

// An AddressInfo in text format; "" leaves a country source unknown.
std::string Addr(const std::string& ip, const std::string& geo,
                 const std::string& rdap = "", const std::string& registry = "",
                 const std::string& field = "addresses") {
  return field + " { ip: \"" + ip + "\" country: \"" + geo +
         "\" rdap_country: \"" + rdap + "\" registry_country: \"" + registry +
         "\" asn: 64500 as_org: \"Example\" } ";
}

// A request for `url` on `host` whose HEAD got `status` from `ip`, with the
// given address entries and `dns_extra` inside its dns.
std::string Answered(const std::string& url, const std::string& host,
                     const std::string& addresses, const std::string& ip,
                     int status = 200, const std::string& dns_extra = "") {
  return "url: \"" + url + "\" host: \"" + host + "\" dns { cname_chain: \"" +
         host + "\" addresses { ip: \"" + ip + "\" ttl: 60 } " + dns_extra +
         "} " + addresses + " pinned_ip: \"" + ip +
         "\" http { method: \"HEAD\" status: " + std::to_string(status) +
         " connected_ip: \"" + ip + "\" } ";
}

// The same as a redirect hop.
std::string Hop(const std::string& url, const std::string& host,
                const std::string& ip, const std::string& geo, int status) {
  return "redirects { url: \"" + url + "\" host: \"" + host +
         "\" dns { addresses { ip: \"" + ip + "\" ttl: 60 } } " +
         Addr(ip, geo) + " pinned_ip: \"" + ip +
         "\" http { method: \"HEAD\" status: " + std::to_string(status) +
         " connected_ip: \"" + ip + "\" } } ";
}

// Resolved to `addresses` (with their DNS entries), HTTP not answered.
std::string Unanswered(const std::string& host,
                       const std::vector<std::string>& ips,
                       const std::string& addresses) {
  std::string dns = "dns { cname_chain: \"" + host + "\" ";
  for (const std::string& ip : ips) {
    dns += "addresses { ip: \"" + ip + "\" ttl: 30 } ";
  }
  return "url: \"https://" + host + "/\" host: \"" + host + "\" " + dns + "} " +
         addresses + " pinned_ip: \"" + ips[0] +
         "\" http { method: \"HEAD\" error { error_class: \"http_timeout\" } "
         "} ";
}

std::string DnsFailure(const std::string& host, const std::string& cls) {
  return "url: \"https://" + host + "/x\" host: \"" + host +
         "\" dns { cname_chain: \"" + host + "\" error { error_class: \"" +
         cls + "\" } } ";
}

std::string Provider(const std::string& name, const std::string& category,
                     const std::string& country, const std::string& kind) {
  return "providers { name: \"" + name + "\" category: \"" + category +
         "\" country: \"" + country + "\" abuse: \"abuse@" + name +
         ".example\" evidence { kind: \"" + kind +
         "\" rule: \"r\" value: \"v\" } } ";
}

const std::string kDeUrl = "https://www.example.com/a";
const std::string kDeHost = "www.example.com";
const std::string kDe = "203.0.113.7";
const std::string kFr = "198.51.100.9";
const std::string kUs = "192.0.2.10";

struct Case {
  std::string name;
  std::string observation;  // text format, before Conclude
  std::string attribution;
  std::vector<std::string> primary;
  std::string confidence;
  // Each secondary jurisdiction as "role country detail", in order.
  std::vector<std::string> secondary = {};
  // Substrings of the disagreements, one per disagreement, in order.
  std::vector<std::string> disagreements = {};
  std::string registrable_domain = "";
  std::string cctld_country = "";
};

std::vector<Case> Cases() {
  return {
      // Confidence from the three country sources of the deciding address.
      {"geolocation only: low",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe),
       "hosted",
       {"DE"},
       "low",
       {},
       {},
       "example.com"},
      {"geolocation, RDAP and registry agree: high",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE", "DE", "DE"), kDe),
       "hosted",
       {"DE"},
       "high",
       {},
       {},
       "example.com"},
      {"geolocation and RDAP agree, registry unknown: medium",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE", "DE", ""), kDe),
       "hosted",
       {"DE"},
       "medium",
       {},
       {},
       "example.com"},
      {"geolocation and registry agree, RDAP unknown: medium",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE", "", "DE"), kDe),
       "hosted",
       {"DE"},
       "medium",
       {},
       {},
       "example.com"},
      {"RDAP and registry agree against geolocation: medium, two "
       "disagreements",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE", "NL", "NL"), kDe),
       "hosted",
       {"DE"},
       "medium",
       {},
       {"203.0.113.7: geolocation says DE, the RDAP network record says NL",
        "203.0.113.7: geolocation says DE, the ASN registry says NL"},
       "example.com"},
      {"three different countries: low, three disagreements",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE", "NL", "FR"), kDe),
       "hosted",
       {"DE"},
       "low",
       {},
       {"geolocation says DE, the RDAP network record says NL",
        "geolocation says DE, the ASN registry says FR",
        "the RDAP network record says NL, the ASN registry says FR (the AS "
        "holder may register"},
       "example.com"},
      {"geolocation and RDAP differ, registry unknown: low",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE", "NL", ""), kDe),
       "hosted",
       {"DE"},
       "low",
       {},
       {"geolocation says DE, the RDAP network record says NL (a network is "
        "registered where its holder's company sits"},
       "example.com"},
      {"geolocation and RDAP agree, registry differs: medium",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE", "DE", "US"), kDe),
       "hosted",
       {"DE"},
       "medium",
       {},
       {"geolocation says DE, the ASN registry says US",
        "the RDAP network record says DE, the ASN registry says US"},
       "example.com"},
      {"RDAP and registry known, geolocation unknown: no hosting country",
       Answered(kDeUrl, kDeHost, Addr(kDe, "", "DE", "DE"), kDe),
       "unknown_country",
       {},
       "none",
       {},
       {},
       "example.com"},

      // Several countries: all listed, none chosen.
      {"round robin over two countries, HTTP timed out: both primary",
       Unanswered(kDeHost, {kDe, kFr}, Addr(kDe, "DE") + Addr(kFr, "FR")),
       "several_countries",
       {"DE", "FR"},
       "low",
       {},
       {},
       "example.com"},
      {"several countries: the lowest address rating decides",
       Unanswered(kDeHost, {kDe, kFr},
                  Addr(kDe, "DE", "DE", "DE") + Addr(kFr, "FR", "FR", "")),
       "several_countries",
       {"DE", "FR"},
       "medium",
       {},
       {},
       "example.com"},
      {"several countries all rated high: high",
       Unanswered(kDeHost, {kDe, kFr},
                  Addr(kDe, "DE", "DE", "DE") + Addr(kFr, "FR", "FR", "FR")),
       "several_countries",
       {"DE", "FR"},
       "high",
       {},
       {},
       "example.com"},
      {"anycast over three countries: all three primary",
       Unanswered(kDeHost, {kDe, kFr, kUs},
                  Addr(kUs, "US") + Addr(kDe, "DE") + Addr(kFr, "FR")),
       "several_countries",
       {"DE", "FR", "US"},
       "low",
       {},
       {},
       "example.com"},
      {"round robin within one country: hosted",
       Unanswered(kDeHost, {kDe, "203.0.113.8"},
                  Addr(kDe, "DE") + Addr("203.0.113.8", "DE")),
       "hosted",
       {"DE"},
       "low",
       {},
       {},
       "example.com"},
      {"HTTP answered from one of two countries: the other is unconfirmed",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE") + Addr(kFr, "FR"), kFr),
       "hosted",
       {"FR"},
       "low",
       {"unconfirmed_address DE 203.0.113.7"},
       {},
       "example.com"},
      {"disagreement of an address that did not answer is not counted",
       Answered(kDeUrl, kDeHost,
                Addr(kDe, "DE", "DE", "DE") + Addr(kFr, "FR", "NL", "US"), kDe),
       "hosted",
       {"DE"},
       "high",
       {"unconfirmed_address FR 198.51.100.9"},
       {},
       "example.com"},
      {"resolvers disagree: a disagreement",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe, 200,
                "resolvers_disagree: true"),
       "hosted",
       {"DE"},
       "low",
       {},
       {"the resolvers disagree on the addresses of www.example.com"},
       "example.com"},

      // IP literals.
      {"IPv4 literal",
       Answered("http://203.0.113.7/x", kDe, Addr(kDe, "DE"), kDe),
       "ip_literal",
       {"DE"},
       "low"},
      {"IPv6 literal",
       Answered("http://[2001:db8::7]/x", "2001:db8::7",
                Addr("2001:db8::7", "NL", "NL", "NL"), "2001:db8::7"),
       "ip_literal",
       {"NL"},
       "high"},
      {"IPv4 literal whose address has no country",
       Answered("http://203.0.113.7/x", kDe, Addr(kDe, ""), kDe),
       "unknown_country",
       {},
       "none"},

      // Names that cannot be attributed.
      {".onion service",
       "url: \"http://abcdefghijklmnop.onion/\" host: "
       "\"abcdefghijklmnop.onion\"",
       "not_attributable",
       {},
       "none",
       {},
       {},
       "abcdefghijklmnop.onion"},
      {".onion with a trailing dot and upper case",
       "url: \"http://abc.ONION./\" host: \"abc.ONION.\"",
       "not_attributable",
       {},
       "none",
       {},
       {},
       "abc.onion"},
      {".i2p name that DNS does not know",
       DnsFailure("forum.i2p", "nxdomain"),
       "not_attributable",
       {},
       "none",
       {},
       {},
       "forum.i2p"},
      {".loki name",
       DnsFailure("x.loki", "servfail"),
       "not_attributable",
       {},
       "none",
       {},
       {},
       "x.loki"},
      {".bit (Namecoin) name",
       DnsFailure("x.bit", "nxdomain"),
       "not_attributable",
       {},
       "none",
       {},
       {},
       "x.bit"},

      // Unresolvable and taken down.
      {"NXDOMAIN: taken down",
       DnsFailure("gone.example.com", "nxdomain"),
       "taken_down",
       {},
       "none",
       {},
       {},
       "example.com"},
      {"SERVFAIL: unresolvable",
       DnsFailure("broken.example.com", "servfail"),
       "unresolvable",
       {},
       "none",
       {},
       {},
       "example.com"},
      {"DNS timeout: unresolvable",
       DnsFailure("slow.example.com", "dns_timeout"),
       "unresolvable",
       {},
       "none",
       {},
       {},
       "example.com"},
      {"no A or AAAA record: unresolvable",
       DnsFailure("empty.example.com", "no_address"),
       "unresolvable",
       {},
       "none",
       {},
       {},
       "example.com"},
      {"CNAME loop: unresolvable",
       DnsFailure("loop.example.com", "cname_loop"),
       "unresolvable",
       {},
       "none",
       {},
       {},
       "example.com"},
      {"HTTP 404: taken down, the host stays primary",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE", "DE", ""), kDe, 404),
       "taken_down",
       {"DE"},
       "medium",
       {},
       {},
       "example.com"},
      {"HTTP 410: taken down",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe, 410),
       "taken_down",
       {"DE"},
       "low",
       {},
       {},
       "example.com"},
      {"HTTP 403 is not a takedown",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe, 403),
       "hosted",
       {"DE"},
       "low",
       {},
       {},
       "example.com"},
      {"HTTP 404 behind a CDN: taken down, the provider stays primary",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe, 404) +
           Provider("Cloudflare", "cdn", "US", "header"),
       "taken_down",
       {"US"},
       "high",
       {"cdn_edge DE Cloudflare"},
       {},
       "example.com"},

      // A CDN or reverse proxy in front.
      {"CDN recognised by a response header: origin hidden, high",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe) +
           Provider("Cloudflare", "cdn", "US", "header"),
       "origin_hidden",
       {"US"},
       "high",
       {"cdn_edge DE Cloudflare"},
       {},
       "example.com"},
      {"CDN recognised by its published range: high",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe) +
           Provider("Fastly", "cdn", "US", "ip_range"),
       "origin_hidden",
       {"US"},
       "high",
       {"cdn_edge DE Fastly"},
       {},
       "example.com"},
      {"CDN recognised by a CNAME suffix only: medium",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe) +
           Provider("Akamai", "cdn", "US", "cname"),
       "origin_hidden",
       {"US"},
       "medium",
       {"cdn_edge DE Akamai"},
       {},
       "example.com"},
      {"CDN recognised by its ASN only: low",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe) +
           Provider("EdgeCo", "cdn", "SE", "asn"),
       "origin_hidden",
       {"SE"},
       "low",
       {"cdn_edge DE EdgeCo"},
       {},
       "example.com"},
      {"WAF in front: origin hidden",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe) +
           Provider("Sucuri", "waf", "US", "header"),
       "origin_hidden",
       {"US"},
       "high",
       {"cdn_edge DE Sucuri"},
       {},
       "example.com"},
      {"two CDNs: the strongest is primary, the other a secondary provider",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe) +
           Provider("Cloudflare", "cdn", "US", "header") +
           Provider("BunnyCDN", "cdn", "SI", "cname"),
       "origin_hidden",
       {"US"},
       "high",
       {"cdn_edge DE Cloudflare", "provider SI BunnyCDN"},
       {},
       "example.com"},
      {"CDN edges in several countries: all listed as edges",
       Unanswered(kDeHost, {kDe, kFr}, Addr(kDe, "DE") + Addr(kFr, "FR")) +
           Provider("Cloudflare", "cdn", "US", "ip_range"),
       "origin_hidden",
       {"US"},
       "high",
       {"cdn_edge DE Cloudflare", "cdn_edge FR Cloudflare"},
       {},
       "example.com"},
      {"cloud provider is not in front: hosted, provider secondary",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe) +
           Provider("Amazon AWS", "cloud", "US", "asn"),
       "hosted",
       {"DE"},
       "low",
       {"hosting_provider US Amazon AWS"},
       {},
       "example.com"},

      // Redirect chains: the final hop decides, redirectors are secondary.
      {"one redirector",
       Answered("https://short.example.net/r", "short.example.net",
                Addr(kUs, "US"), kUs, 302) +
           Hop("https://www.example.de/x", "www.example.de", kDe, "DE", 200),
       "hosted",
       {"DE"},
       "low",
       {"redirector US https://short.example.net/r", "cctld DE .de"},
       {},
       "example.de",
       "DE"},
      {"two redirectors in two countries",
       Answered("https://a.example.net/", "a.example.net", Addr(kUs, "US"), kUs,
                301) +
           Hop("https://b.example.net/", "b.example.net", kFr, "FR", 302) +
           Hop("https://c.example.net/", "c.example.net", kDe, "DE", 200),
       "hosted",
       {"DE"},
       "low",
       {"redirector US https://a.example.net/",
        "redirector FR https://b.example.net/"},
       {},
       "example.net"},
      {"redirect to an .onion service: not attributable, redirector kept",
       Answered("https://a.example.net/", "a.example.net", Addr(kUs, "US"), kUs,
                302) +
           "redirects { url: \"http://abc.onion/\" host: \"abc.onion\" }",
       "not_attributable",
       {},
       "none",
       {"redirector US https://a.example.net/"},
       {},
       "abc.onion"},
      {"redirect to a name that no longer exists: taken down",
       Answered("https://a.example.net/", "a.example.net", Addr(kUs, "US"), kUs,
                302) +
           "redirects { url: \"https://gone.example.org/\" host: "
           "\"gone.example.org\" dns { error { error_class: \"nxdomain\" } } "
           "}",
       "taken_down",
       {},
       "none",
       {"redirector US https://a.example.net/"},
       {},
       "example.org"},

      // Domain facts.
      {"ccTLD .de and registrable domain",
       Answered("https://www.shop.example.de/", "www.shop.example.de",
                Addr(kFr, "FR"), kFr),
       "hosted",
       {"FR"},
       "low",
       {"cctld DE .de"},
       {},
       "example.de",
       "DE"},
      {".co.uk is GB, registrable domain under a two-label suffix",
       Answered("https://a.example.co.uk/", "a.example.co.uk", Addr(kDe, "DE"),
                kDe),
       "hosted",
       {"DE"},
       "low",
       {"cctld GB .uk"},
       {},
       "example.co.uk",
       "GB"},
      {".io is generic: no ccTLD country",
       Answered("https://x.example.io/", "x.example.io", Addr(kDe, "DE"), kDe),
       "hosted",
       {"DE"},
       "low",
       {},
       {},
       "example.io"},
      {".tv and .co are generic",
       Answered("https://example.tv/", "example.tv", Addr(kDe, "DE"), kDe) +
           Hop("https://example.co/", "example.co", kDe, "DE", 200),
       "hosted",
       {"DE"},
       "low",
       {"redirector DE https://example.tv/"},
       {},
       "example.co"},
      {".eu is not a country",
       Answered("https://example.eu/", "example.eu", Addr(kDe, "DE"), kDe),
       "hosted",
       {"DE"},
       "low",
       {},
       {},
       "example.eu"},
      {"reported .fr redirecting to .de: both ccTLDs",
       Answered("https://example.fr/", "example.fr", Addr(kFr, "FR"), kFr,
                301) +
           Hop("https://example.de/", "example.de", kDe, "DE", 200),
       "hosted",
       {"DE"},
       "low",
       {"redirector FR https://example.fr/", "cctld FR .fr", "cctld DE .de"},
       {},
       "example.de",
       "DE"},
      {"registrar and its country from the registration",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe) +
           "registration { domain: \"example.com\" registrar: \"Example "
           "Registrar Ltd\" registrar_country: \"IE\" }",
       "hosted",
       {"DE"},
       "low",
       {"registrar IE Example Registrar Ltd"},
       {},
       "example.com"},
      {"registrar with unknown country",
       Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe) +
           "registration { registrar: \"Registrar X\" }",
       "hosted",
       {"DE"},
       "low",
       {"registrar  Registrar X"},
       {},
       "example.com"},
  };
}

std::vector<std::string> SecondaryTexts(const pb::Jurisdiction& j) {
  std::vector<std::string> out;
  for (const pb::SecondaryJurisdiction& s : j.secondary()) {
    out.push_back(s.role() + " " + s.country() + " " + s.detail());
  }
  return out;
}

TEST(JurisdictionTest, Table) {
  const std::vector<Case> cases = Cases();
  ASSERT_GE(cases.size(), 40u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    pb::Observation obs = FromText(c.observation);
    Conclude(&obs);
    const pb::Jurisdiction& j = obs.verdict().jurisdiction();
    EXPECT_EQ(j.attribution(), c.attribution);
    EXPECT_THAT(j.primary_countries(), ElementsAreArray(c.primary));
    EXPECT_EQ(j.confidence(), c.confidence);
    EXPECT_THAT(SecondaryTexts(j), ElementsAreArray(c.secondary));
    ASSERT_EQ(j.disagreements_size(), static_cast<int>(c.disagreements.size()))
        << obs.verdict().DebugString();
    for (size_t i = 0; i < c.disagreements.size(); ++i) {
      EXPECT_THAT(j.disagreements(static_cast<int>(i)),
                  HasSubstr(c.disagreements[i]));
    }
    EXPECT_EQ(j.registrable_domain(), c.registrable_domain);
    EXPECT_EQ(j.cctld_country(), c.cctld_country);
    EXPECT_TRUE(j.referrals().empty());
    // The decision is summarised in the reasons, disagreements included.
    EXPECT_THAT(obs.verdict().reasons(),
                testing::Contains(HasSubstr("jurisdiction: " + c.attribution)));
    for (const std::string& d : j.disagreements()) {
      EXPECT_THAT(obs.verdict().reasons(),
                  testing::Contains("disagreement: " + d));
    }
  }
}

TEST(JurisdictionTest, ConcludeStaysIdempotent) {
  pb::Observation obs =
      FromText(Answered(kDeUrl, kDeHost, Addr(kDe, "DE", "NL", ""), kDe));
  Conclude(&obs);
  pb::Observation again = obs;
  Conclude(&again);
  EXPECT_EQ(again.SerializeAsString(), obs.SerializeAsString());
}

TEST(JurisdictionTest, LowConfidenceSaysWhyWithoutRdap) {
  pb::Observation obs =
      FromText(Answered(kDeUrl, kDeHost, Addr(kDe, "DE"), kDe));
  Conclude(&obs);
  EXPECT_THAT(obs.verdict().reasons(),
              testing::Contains(
                  "jurisdiction: hosted DE (confidence low: geolocation only, "
                  "RDAP and ASN registry countries unknown)"));
}

TEST(CcTldTest, Table) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"example.de", "DE"}, {"EXAMPLE.FR.", "FR"}, {"a.b.co.uk", "GB"},
      {"x.ac", "SH"},       {"x.eu", ""},          {"x.io", ""},
      {"x.tv", ""},         {"x.co", ""},          {"x.me", ""},
      {"x.com", ""},        {"x.xn--p1ai", ""},    {"203.0.113.7", ""},
      {"2001:db8::1", ""},  {"localhost", ""},     {"x.su", ""},
      {"x.jp", "JP"},
  };
  for (const auto& [host, country] : cases) {
    EXPECT_EQ(CcTldCountry(host), country) << host;
  }
}

}  // namespace
}  // namespace hl

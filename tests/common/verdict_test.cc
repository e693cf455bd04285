#include "common/verdict.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;

pb::Observation FromText(const std::string& text) {
  pb::Observation obs;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &obs))
      << text;
  return obs;
}

// Reusable observation parts, in text format.
const std::string kDe =
    R"(addresses { ip: "203.0.113.7" country: "DE" asn: 64500
                   as_org: "Example GmbH" network: "203.0.113.0/24" })";
const std::string kFr =
    R"(addresses { ip: "198.51.100.9" country: "FR" asn: 64501
                   as_org: "Exemple SAS" network: "198.51.100.0/24" })";
const std::string kDnsDeFr =
    R"(dns { cname_chain: "www.example.com"
             addresses { ip: "203.0.113.7" ttl: 300 }
             addresses { ip: "198.51.100.9" ttl: 300 } })";

std::string DnsError(const std::string& cls, const std::string& message) {
  return R"(host: "www.example.invalid"
            dns { cname_chain: "www.example.invalid"
                  queries { name: "www.example.invalid" type: "A"
                            resolver: "192.0.2.53:53" rcode: "X" }
                  error { error_class: ")" +
         cls + R"(" message: ")" + message + R"(" } })";
}

struct Case {
  std::string name;
  std::string observation;  // text format
  std::string status;
  std::vector<std::string> countries;
  std::string error_class;               // "" when error stays unset
  std::vector<std::string> reasons;      // each a substring of some reason
  std::vector<std::string> absent = {};  // substrings of no reason
};

// A DE address that answered HEAD, with `providers` (text format).
std::string AnsweredDeWith(const std::string& providers) {
  return R"(host: "www.example.com"
            dns { cname_chain: "www.example.com"
                  addresses { ip: "203.0.113.7" ttl: 300 } } )" +
         kDe + R"( pinned_ip: "203.0.113.7"
            http { method: "HEAD" status: 200 connected_ip: "203.0.113.7" } )" +
         providers;
}

const std::string kCloudflare =
    R"(providers { name: "Cloudflare" category: "cdn" country: "US"
                   abuse: "https://abuse.cloudflare.com/"
                   evidence { kind: "header" rule: "cf-ray" value: "CF-RAY: 1" } })";
const std::string kAws =
    R"(providers { name: "Amazon AWS" category: "cloud" country: "US"
                   abuse: "abuse@amazonaws.com"
                   evidence { kind: "asn" rule: "AS16509" value: "203.0.113.7" } })";

TEST(VerdictTest, Table) {
  const std::vector<Case> cases = {
      {"single country, HTTP answered",
       R"(host: "www.example.com"
          dns { cname_chain: "www.example.com"
                addresses { ip: "203.0.113.7" ttl: 300 } } )" +
           kDe + R"( pinned_ip: "203.0.113.7"
          http { method: "HEAD" status: 200 connected_ip: "203.0.113.7" })",
       "located",
       {"DE"},
       "",
       {"DNS resolved www.example.com to 203.0.113.7",
        "HTTP HEAD answered from 203.0.113.7 (country DE, AS64500 Example "
        "GmbH, network 203.0.113.0/24)"}},
      {"several countries, HTTP timed out: all listed",
       R"(host: "www.example.com" )" + kDnsDeFr + kFr + kDe +
           R"( pinned_ip: "203.0.113.7"
          http { method: "HEAD" error { error_class: "http_timeout" } })",
       "located",
       {"DE", "FR"},
       "",
       {"HTTP did not answer (http_timeout); countries from resolved "
        "addresses",
        "resolved address 198.51.100.9 (country FR",
        "resolved address 203.0.113.7 (country DE",
        "addresses in 2 countries: DE, FR; all listed"}},
      {"HTTP answered from one of several addresses: only that one listed",
       R"(host: "www.example.com" )" + kDnsDeFr + kDe + kFr +
           R"( pinned_ip: "198.51.100.9"
          http { method: "HEAD" status: 204 connected_ip: "198.51.100.9" })",
       "located",
       {"FR"},
       "",
       {"HTTP HEAD answered from 198.51.100.9 (country FR",
        "other resolved addresses were not probed and are not listed: "
        "203.0.113.7 (country DE"}},
      {"HTTP refused, one address: its country",
       R"(host: "www.example.com"
          dns { addresses { ip: "203.0.113.7" ttl: 60 } } )" +
           kDe + R"( pinned_ip: "203.0.113.7"
          http { method: "HEAD"
                 error { error_class: "connection_refused"
                         message: "Connection refused" } })",
       "located",
       {"DE"},
       "",
       {"HTTP did not answer (connection_refused); countries from resolved "
        "addresses"}},
      {"NXDOMAIN",
       DnsError("nxdomain", ""),
       "unresolved",
       {},
       "nxdomain",
       {"DNS answered NXDOMAIN for www.example.invalid (resolver "
        "192.0.2.53:53)"}},
      {"SERVFAIL",
       DnsError("servfail", "upstream failed"),
       "unresolved",
       {},
       "servfail",
       {"DNS answered SERVFAIL for www.example.invalid: upstream failed"}},
      {"DNS timeout",
       DnsError("dns_timeout", ""),
       "unresolved",
       {},
       "dns_timeout",
       {"DNS did not answer in time for www.example.invalid (dns_timeout)"}},
      {"DNS refused",
       DnsError("dns_refused", ""),
       "unresolved",
       {},
       "dns_refused",
       {"DNS refused to answer for www.example.invalid (REFUSED)"}},
      {"no address",
       DnsError("no_address", ""),
       "unresolved",
       {},
       "no_address",
       {"DNS has no A or AAAA record for www.example.invalid"}},
      {"CNAME loop",
       R"(host: "a.example"
          dns { cname_chain: "a.example" cname_chain: "b.example"
                cname_chain: "a.example"
                error { error_class: "cname_loop" } })",
       "unresolved",
       {},
       "cname_loop",
       {"DNS CNAME chain loops: a.example -> b.example -> a.example"}},
      {"other DNS error",
       DnsError("dns_error", "bad response"),
       "unresolved",
       {},
       "dns_error",
       {"DNS resolution failed for www.example.invalid (dns_error): bad "
        "response"}},
      {"NXDOMAIN at the end of a CNAME chain",
       R"(host: "www.example.com"
          dns { cname_chain: "www.example.com" cname_chain: "gone.example.net"
                error { error_class: "nxdomain" } })",
       "unresolved",
       {},
       "nxdomain",
       {"CNAME chain: www.example.com -> gone.example.net",
        "DNS answered NXDOMAIN for gone.example.net"}},
      {".onion service",
       R"(host: "expyuzz4wqqyqhjn.onion")",
       "unresolved",
       {},
       "not_attributable",
       {".onion service: not attributable to a hosting country"}},
      {".onion, upper case and trailing dot",
       R"(host: "EXPYUZZ4WQQYQHJN.ONION.")",
       "unresolved",
       {},
       "not_attributable",
       {".onion service"}},
      {"301 redirect is not followed",
       R"(host: "example.com" )" + kDe + R"( pinned_ip: "203.0.113.7"
          http { method: "HEAD" status: 301 connected_ip: "203.0.113.7"
                 headers { name: "Server" value: "nginx" }
                 headers { name: "location"
                           value: "https://www.example.com/" } })",
       "located",
       {"DE"},
       "",
       {"redirect not followed (status 301, Location: "
        "https://www.example.com/)"}},
      {"302 without Location",
       R"(host: "example.com" )" + kDe + R"( pinned_ip: "203.0.113.7"
          http { status: 302 connected_ip: "203.0.113.7" })",
       "located",
       {"DE"},
       "",
       {"redirect not followed (status 302, no Location header)"}},
      {"HTTP answered from an address without a country",
       R"(host: "example.com"
          addresses { ip: "203.0.113.7" asn: 64500 } pinned_ip: "203.0.113.7"
          http { method: "HEAD" status: 200 connected_ip: "203.0.113.7" })",
       "error",
       {},
       "not_attributable",
       {"HTTP HEAD answered from 203.0.113.7 (country unknown, AS64500)",
        "no country is known for 203.0.113.7"}},
      {"private target refused, no country",
       R"(host: "intranet.example"
          dns { addresses { ip: "10.0.0.1" ttl: 60 } }
          addresses { ip: "10.0.0.1" } pinned_ip: "10.0.0.1"
          http { method: "HEAD"
                 error { error_class: "refused_private_target" } })",
       "error",
       {},
       "refused_private_target",
       {"HTTP did not answer (refused_private_target)",
        "no resolved address has a country in the geolocation data"}},
      {"IPv6 answer, address written differently",
       R"(host: "v6.example"
          dns { addresses { ip: "2001:db8::7" ttl: 60 } }
          addresses { ip: "2001:db8::7" country: "NL" asn: 64502
                      network: "2001:db8::/32" }
          pinned_ip: "2001:db8::7"
          http { method: "HEAD" status: 200
                 connected_ip: "2001:DB8:0:0:0:0:0:7" })",
       "located",
       {"NL"},
       "",
       {"HTTP HEAD answered from 2001:db8::7 (country NL, AS64502, network "
        "2001:db8::/32)"}},
      {"IP literal host",
       R"(host: "[2001:db8::7]"
          addresses { ip: "2001:db8::7" country: "NL" }
          pinned_ip: "2001:db8::7"
          http { method: "HEAD" status: 200 connected_ip: "2001:db8::7" })",
       "located",
       {"NL"},
       "",
       {"host is the IP address 2001:db8::7; no DNS lookup"}},
      {"CNAME chain is named",
       R"(host: "www.example.com"
          dns { cname_chain: "www.example.com" cname_chain: "edge.cdn.example"
                addresses { ip: "203.0.113.7" ttl: 20 } } )" +
           kDe + R"( pinned_ip: "203.0.113.7"
          http { method: "HEAD" status: 200 connected_ip: "203.0.113.7" })",
       "located",
       {"DE"},
       "",
       {"CNAME chain: www.example.com -> edge.cdn.example",
        "DNS resolved edge.cdn.example to 203.0.113.7"}},
      {"partial DNS failure keeps the resolved addresses",
       R"(host: "www.example.com"
          dns { addresses { ip: "203.0.113.7" ttl: 300 }
                error { error_class: "servfail" } } )" +
           kDe + R"( pinned_ip: "203.0.113.7"
          http { method: "HEAD" status: 200 connected_ip: "203.0.113.7" })",
       "located",
       {"DE"},
       "",
       {"DNS partly failed: DNS answered SERVFAIL for www.example.com; the "
        "resolved addresses are used"}},
      {"HTTP not sent, countries from addresses",
       R"(host: "www.example.com" )" + kDe,
       "located",
       {"DE"},
       "",
       {"HTTP HEAD was not sent; countries from resolved addresses"}},
      {"nothing observed",
       R"(host: "www.example.com")",
       "error",
       {},
       "not_attributable",
       {"no address was resolved for www.example.com; no hosting country"}},
      {"an error set before is kept",
       R"(host: "www.example.com"
          error { error_class: "invalid_url" message: "bad host" })",
       "error",
       {},
       "invalid_url",
       {"no address was resolved for www.example.com"}},
      {"CDN in front: origin hidden, hosting country unchanged",
       AnsweredDeWith(kCloudflare),
       "located",
       {"DE"},
       "",
       {"HTTP HEAD answered from 203.0.113.7 (country DE",
        "Cloudflare (cdn, legal country US) is in front: origin hidden; "
        "refer to the provider (abuse: https://abuse.cloudflare.com/)"}},
      {"WAF without a known abuse contact",
       AnsweredDeWith(R"(providers { name: "Sucuri" category: "waf"
                                     country: "US"
                                     evidence { kind: "asn" } })"),
       "located",
       {"DE"},
       "",
       {"Sucuri (waf, legal country US) is in front: origin hidden; refer "
        "to the provider\n"},
       {"(abuse"}},
      {"cloud provider alone: not in front",
       AnsweredDeWith(kAws),
       "located",
       {"DE"},
       "",
       {"HTTP HEAD answered from 203.0.113.7"},
       {"in front", "Amazon AWS"}},
      {"CDN and cloud: only the CDN is in front",
       AnsweredDeWith(kCloudflare + kAws),
       "located",
       {"DE"},
       "",
       {"Cloudflare (cdn, legal country US) is in front"},
       {"Amazon AWS"}},
      {"CDN in front, HTTP timed out: countries from the addresses",
       R"(host: "www.example.com" )" + kDnsDeFr + kFr + kDe +
           R"( http { error { error_class: "http_timeout" } } )" + kCloudflare,
       "located",
       {"DE", "FR"},
       "",
       {"HTTP did not answer (http_timeout)",
        "Cloudflare (cdn, legal country US) is in front"}},
  };
  ASSERT_GE(cases.size(), 15u);
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    pb::Observation obs = FromText(tc.observation);
    Conclude(&obs);
    EXPECT_EQ(obs.status(), tc.status);
    EXPECT_THAT(obs.verdict().hosting_countries(),
                ElementsAreArray(tc.countries));
    EXPECT_EQ(obs.error().error_class(), tc.error_class);
    std::string all_reasons;
    for (const std::string& r : obs.verdict().reasons()) {
      all_reasons += r + "\n";
    }
    for (const std::string& reason : tc.reasons) {
      EXPECT_THAT(all_reasons, HasSubstr(reason));
    }
    for (const std::string& text : tc.absent) {
      EXPECT_THAT(all_reasons, Not(HasSubstr(text)));
    }

    // Idempotent: a second run changes nothing.
    pb::Observation again = obs;
    Conclude(&again);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(obs, again))
        << again.DebugString();
  }
}

TEST(VerdictTest, DnsErrorIsCopiedWithItsMessage) {
  pb::Observation obs = FromText(DnsError("servfail", "upstream failed"));
  Conclude(&obs);
  EXPECT_EQ(obs.error().error_class(), "servfail");
  EXPECT_EQ(obs.error().message(), "upstream failed");
}

TEST(VerdictTest, HttpErrorIsCopiedWhenNothingIsLocated) {
  pb::Observation obs = FromText(
      R"(host: "h.example" addresses { ip: "10.0.0.1" }
         http { error { error_class: "refused_private_target"
                        message: "10.0.0.1 is private" } })");
  Conclude(&obs);
  EXPECT_EQ(obs.error().message(), "10.0.0.1 is private");
}

TEST(VerdictTest, LocatedLeavesErrorUnset) {
  pb::Observation obs =
      FromText(R"(host: "h.example" )" + kDe +
               R"( http { error { error_class: "http_timeout" } })");
  Conclude(&obs);
  EXPECT_EQ(obs.status(), "located");
  EXPECT_FALSE(obs.has_error());
}

TEST(VerdictTest, OnionIgnoresAnyOtherObservation) {
  pb::Observation obs =
      FromText(R"(host: "abc.onion" )" + kDe +
               R"( http { status: 200 connected_ip: "203.0.113.7" })");
  Conclude(&obs);
  EXPECT_EQ(obs.status(), "unresolved");
  EXPECT_TRUE(obs.verdict().hosting_countries().empty());
  ASSERT_EQ(obs.verdict().reasons_size(), 2);
  EXPECT_EQ(obs.verdict().reasons(1),
            "jurisdiction: not_attributable (confidence none)");
  EXPECT_THAT(obs.error().message(), HasSubstr("abc.onion"));
}

TEST(VerdictTest, OldVerdictIsReplaced) {
  pb::Observation obs =
      FromText(R"(host: "h.example" )" + kDe +
               R"( verdict { hosting_countries: "XX" reasons: "stale" })");
  Conclude(&obs);
  EXPECT_THAT(obs.verdict().hosting_countries(), ElementsAreArray({"DE"}));
  for (const std::string& r : obs.verdict().reasons()) EXPECT_NE(r, "stale");
}

TEST(ConcludeRedirects, TheLastHopDecidesAndTheChainIsListed) {
  pb::Observation obs = FromText(R"pb(
    url: "http://short.example/x"
    host: "short.example"
    dns {
      cname_chain: "short.example"
      addresses { ip: "192.0.2.10" ttl: 60 }
    }
    addresses { ip: "192.0.2.10" country: "DE" asn: 64500 as_org: "Shortener" }
    pinned_ip: "192.0.2.10"
    http {
      method: "HEAD"
      status: 301
      connected_ip: "192.0.2.10"
      headers { name: "Location" value: "https://host.example/page" }
    }
    redirects {
      url: "https://host.example/page"
      host: "host.example"
      dns {
        cname_chain: "host.example"
        addresses { ip: "198.51.100.7" ttl: 60 }
      }
      addresses { ip: "198.51.100.7" country: "NL" asn: 64501 as_org: "Host" }
      pinned_ip: "198.51.100.7"
      http { method: "HEAD" status: 200 connected_ip: "198.51.100.7" }
    }
  )pb");
  Conclude(&obs);
  EXPECT_EQ(obs.status(), "located");
  ASSERT_EQ(obs.verdict().hosting_countries_size(), 1);
  EXPECT_EQ(obs.verdict().hosting_countries(0), "NL");
  ASSERT_GT(obs.verdict().reasons_size(), 1);
  const std::string& chain = obs.verdict().reasons(0);
  EXPECT_EQ(chain.rfind("followed 1 redirect(s)", 0), 0u) << chain;
  EXPECT_NE(chain.find("http://short.example/x (301 from 192.0.2.10"),
            std::string::npos)
      << chain;
  EXPECT_NE(chain.find("-> https://host.example/page (200 from 198.51.100.7"),
            std::string::npos)
      << chain;
  for (const std::string& reason : obs.verdict().reasons()) {
    EXPECT_EQ(reason.find("redirect not followed"), std::string::npos)
        << reason;
  }
  const pb::Observation once = obs;
  Conclude(&obs);
  EXPECT_EQ(obs.SerializeAsString(), once.SerializeAsString());
}

TEST(ConcludeRedirects, AStopIsExplained) {
  pb::Observation obs = FromText(R"pb(
    url: "http://loop.example/"
    host: "loop.example"
    addresses { ip: "192.0.2.10" country: "DE" }
    pinned_ip: "192.0.2.10"
    http {
      method: "HEAD"
      status: 302
      connected_ip: "192.0.2.10"
      headers { name: "Location" value: "/" }
    }
    redirect_error {
      error_class: "redirect_loop"
      message: "http://loop.example/ was already requested"
    }
  )pb");
  Conclude(&obs);
  EXPECT_EQ(obs.verdict().hosting_countries(0), "DE");
  bool explained = false;
  for (const std::string& reason : obs.verdict().reasons()) {
    explained |= reason.find("redirects no longer followed (redirect_loop)") !=
                 std::string::npos;
  }
  EXPECT_TRUE(explained);
}

}  // namespace
}  // namespace hl

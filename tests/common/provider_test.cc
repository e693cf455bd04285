#include "common/provider.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;
using ::testing::Contains;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kShipped =
    std::string(HL_SOURCE_DIR) + "/config/providers.toml";

const ProviderTable& Shipped() {
  static const ProviderTable table = [] {
    Result<ProviderTable> t = LoadProvidersFile(kShipped);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : ProviderTable{};
  }();
  return table;
}

// What a probe saw, in the parts detection reads.
struct Seen {
  std::vector<std::pair<std::string, uint32_t>> addresses = {};  // ip, asn
  std::vector<std::string> cname_chain = {};
  std::vector<std::pair<std::string, std::string>> headers = {};
};

pb::Observation Build(const Seen& seen) {
  pb::Observation obs;
  for (const auto& [ip, asn] : seen.addresses) {
    pb::AddressInfo* a = obs.add_addresses();
    a->set_ip(ip);
    a->set_asn(asn);
  }
  for (const std::string& name : seen.cname_chain) {
    obs.mutable_dns()->add_cname_chain(name);
  }
  for (const auto& [name, value] : seen.headers) {
    pb::HttpHeader* h = obs.mutable_http()->add_headers();
    h->set_name(name);
    h->set_value(value);
  }
  return obs;
}

// "Name (category, CC): kind rule=value, ..." per match, in order.
std::vector<std::string> Describe(
    const std::vector<pb::ProviderMatch>& matches) {
  std::vector<std::string> out;
  for (const pb::ProviderMatch& m : matches) {
    std::string s = m.name() + " (" + m.category() + ", " + m.country() + "):";
    for (size_t i = 0; i < static_cast<size_t>(m.evidence_size()); ++i) {
      const pb::Evidence& e = m.evidence(static_cast<int>(i));
      s += (i == 0 ? " " : ", ") + e.kind() + " " + e.rule() + "=" + e.value();
    }
    out.push_back(s);
  }
  return out;
}

struct DetectCase {
  std::string name;
  Seen seen;
  std::vector<std::string> expected;
};

TEST(ProviderTest, DetectsTheShippedProviders) {
  const std::vector<DetectCase> cases = {
      // Cloudflare, by every kind.
      {"Cloudflare by CF-RAY",
       {.headers = {{"CF-RAY", "8a1b2c3d4e5f-FRA"}}},
       {"Cloudflare (cdn, US): header cf-ray=CF-RAY: 8a1b2c3d4e5f-FRA"}},
      {"Cloudflare by Server, any case",
       {.headers = {{"SERVER", "CloudFlare"}}},
       {"Cloudflare (cdn, US): header server: cloudflare=SERVER: CloudFlare"}},
      {"equals is not contains",
       {.headers = {{"Server", "cloudflare-nginx"}}},
       {}},
      {"Cloudflare by IPv4 range",
       {.addresses = {{"104.16.132.229", 0}}},
       {"Cloudflare (cdn, US): ip_range 104.16.0.0/13=104.16.132.229"}},
      {"Cloudflare by IPv6 range",
       {.addresses = {{"2606:4700::6810:84e5", 0}}},
       {"Cloudflare (cdn, US): ip_range 2606:4700::/32=2606:4700::6810:84e5"}},
      {"Cloudflare by CNAME",
       {.cname_chain = {"www.example.com",
                        "www.example.com.cdn.cloudflare.net"}},
       {"Cloudflare (cdn, US): cname cdn.cloudflare.net="
        "www.example.com.cdn.cloudflare.net"}},
      {"Cloudflare by ASN",
       {.addresses = {{"192.0.2.1", 13335}}},
       {"Cloudflare (cdn, US): asn AS13335=192.0.2.1"}},
      {"Cloudflare by everything: header first, then range, CNAME, ASN",
       {.addresses = {{"104.16.1.1", 13335}},
        .cname_chain = {"a.example", "a.example.cdn.cloudflare.net"},
        .headers = {{"cf-ray", "1"}}},
       {"Cloudflare (cdn, US): header cf-ray=cf-ray: 1, ip_range "
        "104.16.0.0/13=104.16.1.1, cname "
        "cdn.cloudflare.net=a.example.cdn.cloudflare.net, asn "
        "AS13335=104.16.1.1"}},
      // Fastly.
      {"Fastly by X-Served-By",
       {.headers = {{"X-Served-By", "cache-fra-eddf8230062-FRA"}}},
       {"Fastly (cdn, US): header x-served-by: *cache-*=X-Served-By: "
        "cache-fra-eddf8230062-FRA"}},
      {"Fastly by CNAME",
       {.cname_chain = {"www.example.org",
                        "dualstack.n.sni.global.fastly.net"}},
       {"Fastly (cdn, US): cname "
        "fastly.net=dualstack.n.sni.global.fastly.net"}},
      {"Fastly by range and ASN",
       {.addresses = {{"151.101.1.57", 54113}}},
       {"Fastly (cdn, US): ip_range 151.101.0.0/16=151.101.1.57, asn "
        "AS54113=151.101.1.57"}},
      // CloudFront and AWS share AS16509: the ASN names AWS only.
      {"CloudFront by X-Amz-Cf-Id and Via",
       {.headers = {{"Via", "1.1 0a1b.cloudfront.net (CloudFront)"},
                    {"X-Amz-Cf-Id", "abc=="}}},
       {"Amazon CloudFront (cdn, US): header x-amz-cf-id=X-Amz-Cf-Id: abc==, "
        "header via: *cloudfront*=Via: 1.1 0a1b.cloudfront.net "
        "(CloudFront)"}},
      {"CloudFront in front of AWS: CNAME beats ASN",
       {.addresses = {{"3.120.0.9", 16509}},
        .cname_chain = {"img.example", "d111111abcdef8.cloudfront.net"}},
       {"Amazon CloudFront (cdn, US): cname "
        "cloudfront.net=d111111abcdef8.cloudfront.net",
        "Amazon AWS (cloud, US): asn AS16509=3.120.0.9"}},
      {"CloudFront by range",
       {.addresses = {{"13.224.5.6", 0}}},
       {"Amazon CloudFront (cdn, US): ip_range 13.224.0.0/14=13.224.5.6"}},
      {"CloudFront by IPv6 range",
       {.addresses = {{"2600:9000:2000::1", 0}}},
       {"Amazon CloudFront (cdn, US): ip_range 2600:9000::/28="
        "2600:9000:2000::1"}},
      {"CNAME suffixes match on label boundaries only",
       {.cname_chain = {"notcloudfront.net", "cloudfront.net.evil.example",
                        "xcdn.cloudflare.net"}},
       {}},
      {"CNAME suffix: the suffix itself, any case, trailing dot",
       {.cname_chain = {"CloudFront.NET", "D1.CLOUDFRONT.net."}},
       {"Amazon CloudFront (cdn, US): cname cloudfront.net=CloudFront.NET, "
        "cname cloudfront.net=D1.CLOUDFRONT.net."}},
      {"AWS EC2 by ASN alone is not a CDN",
       {.addresses = {{"3.120.0.1", 16509}, {"52.95.0.1", 14618}}},
       {"Amazon AWS (cloud, US): asn AS16509=3.120.0.1, asn "
        "AS14618=52.95.0.1"}},
      // Akamai.
      {"Akamai by CNAME and a header prefix rule",
       {.cname_chain = {"www.example.net", "www.example.net.edgekey.net",
                        "e1234.a.akamaiedge.net"},
        .headers = {{"X-Akamai-Transformed", "9 - 0 pmb=mRUM,1"}}},
       {"Akamai (cdn, US): header x-akamai-*=X-Akamai-Transformed: 9 - 0 "
        "pmb=mRUM,1, cname edgekey.net=www.example.net.edgekey.net, cname "
        "akamaiedge.net=e1234.a.akamaiedge.net"}},
      {"Akamai by ASN",
       {.addresses = {{"192.0.2.9", 16625}}},
       {"Akamai (cdn, US): asn AS16625=192.0.2.9"}},
      // Google, Microsoft.
      {"Google by Via and ASN",
       {.addresses = {{"34.120.1.1", 396982}},
        .headers = {{"Via", "1.1 google"}}},
       {"Google Cloud (cloud, US): header via: *1.1 google*=Via: 1.1 google, "
        "asn AS396982=34.120.1.1"}},
      {"Azure Front Door by header and CNAME, over Azure's ASN",
       {.addresses = {{"13.107.246.40", 8075}},
        .cname_chain = {"shop.example", "shop-abc.z01.azurefd.net"},
        .headers = {{"X-Azure-Ref", "0abc"}}},
       {"Microsoft Azure Front Door / CDN (cdn, US): header "
        "x-azure-ref=X-Azure-Ref: 0abc, cname "
        "azurefd.net=shop-abc.z01.azurefd.net",
        "Microsoft Azure (cloud, US): asn AS8075=13.107.246.40"}},
      // WAFs.
      {"Imperva by X-Iinfo and CNAME",
       {.cname_chain = {"a.example", "x7k2.x.incapdns.net"},
        .headers = {{"X-Iinfo", "5-123-0 NNNN CT(0 0 0) RT(1 0)"}}},
       {"Imperva Incapsula (waf, US): header x-iinfo=X-Iinfo: 5-123-0 NNNN "
        "CT(0 0 0) RT(1 0), cname incapdns.net=x7k2.x.incapdns.net"}},
      {"Sucuri by headers, value contains any case",
       {.headers = {{"Server", "Sucuri/Cloudproxy"}, {"X-Sucuri-ID", "17011"}}},
       {"Sucuri (waf, US): header x-sucuri-id=X-Sucuri-ID: 17011, header "
        "server: *sucuri*=Server: Sucuri/Cloudproxy"}},
      {"DDoS-Guard by Server, range and ASN",
       {.addresses = {{"186.2.160.5", 57724}},
        .headers = {{"Server", "ddos-guard"}}},
       {"DDoS-Guard (waf, RU): header server: ddos-guard=Server: ddos-guard, "
        "ip_range 186.2.160.0/24=186.2.160.5, asn AS57724=186.2.160.5"}},
      // Other CDNs.
      {"StackPath / Highwinds by header and CNAME",
       {.cname_chain = {"cdn.example", "x3y4z5.stackpathcdn.com"},
        .headers = {{"X-HW", "1700000000.dop012.fr8.t,1700000000.cds.fr8.c"}}},
       {"StackPath / Highwinds (cdn, US): header x-hw=X-HW: "
        "1700000000.dop012.fr8.t,1700000000.cds.fr8.c, cname "
        "stackpathcdn.com=x3y4z5.stackpathcdn.com"}},
      {"BunnyCDN by Server and CNAME",
       {.cname_chain = {"img.example", "zone.b-cdn.net"},
        .headers = {{"Server", "BunnyCDN-DE1-1054"}}},
       {"BunnyCDN (cdn, SI): header server: *bunnycdn*=Server: "
        "BunnyCDN-DE1-1054, cname b-cdn.net=zone.b-cdn.net"}},
      // Hosting and cloud by ASN.
      {"OVHcloud by ASN",
       {.addresses = {{"51.38.1.1", 16276}}},
       {"OVHcloud (hosting, FR): asn AS16276=51.38.1.1"}},
      {"Hetzner by ASN",
       {.addresses = {{"2a01:4f8::1", 24940}}},
       {"Hetzner (hosting, DE): asn AS24940=2a01:4f8::1"}},
      {"DigitalOcean by CNAME and ASN",
       {.addresses = {{"164.90.1.1", 14061}},
        .cname_chain = {"app.example", "app-x.ondigitalocean.app"}},
       {"DigitalOcean (cloud, US): cname "
        "ondigitalocean.app=app-x.ondigitalocean.app, asn "
        "AS14061=164.90.1.1"}},
      // Ordering.
      {"a CDN by header before a cloud by ASN",
       {.addresses = {{"3.120.0.1", 16509}}, .headers = {{"cf-ray", "1"}}},
       {"Cloudflare (cdn, US): header cf-ray=cf-ray: 1",
        "Amazon AWS (cloud, US): asn AS16509=3.120.0.1"}},
      {"same strength: more evidence first",
       {.addresses = {{"192.0.2.1", 13335},
                      {"3.120.0.1", 16509},
                      {"3.120.0.2", 16509}}},
       {"Amazon AWS (cloud, US): asn AS16509=3.120.0.1, asn "
        "AS16509=3.120.0.2",
        "Cloudflare (cdn, US): asn AS13335=192.0.2.1"}},
      // Nothing.
      {"an ordinary host matches nothing",
       {.addresses = {{"203.0.113.7", 64500}},
        .cname_chain = {"www.example.com", "web1.hoster.example"},
        .headers = {{"Server", "nginx"}, {"Via", "1.1 varnish"}}},
       {}},
      {"nothing observed", {}, {}},
  };
  ASSERT_GE(cases.size(), 25u);
  for (const DetectCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_THAT(
        Describe(DetectProviders(FinalHopOf(Build(tc.seen)), Shipped())),
        ElementsAreArray(tc.expected));
  }
}

// Rules the compiled form (ProviderIndex) could get wrong: nested and
// overlapping CIDRs within and across providers, the ends of both address
// families, a /64 whose end carries into the upper half of an IPv6
// address, suffixes within suffixes, prefix header rules beside exact
// ones, an ASN listed twice.
constexpr char kTricky[] = R"([[provider]]
name = "Outer"
category = "cdn"
country = "NL"
source = "test"
verified_on = 2026-01-02
ip_ranges = ["198.51.0.0/16", "198.51.100.0/24", "2001:db8::/32"]
cname_suffixes = ["cdn.example", "a.cdn.example"]
headers = [{ name = "X-Edge-*" }, { name = "server", equals = "Edge" }]
asns = [64500, 64500]

[[provider]]
name = "Inner"
category = "waf"
country = "DE"
source = "test"
verified_on = 2026-01-02
ip_ranges = ["198.51.100.128/25", "2001:db8:1::/48", "198.51.100.0/24"]
cname_suffixes = ["cdn.example"]
headers = [{ name = "x-edge-id", contains = "POP" }]
asns = [64501, 64500]

[[provider]]
name = "Edges"
category = "hosting"
country = "FR"
source = "test"
verified_on = 2026-01-02
ip_ranges = ["255.255.255.255/32", "240.0.0.0/4",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "8000::/1",
             "2001:db8:0:1::/64", "0.0.0.0/32"]
)";

TEST(ProviderTest, CompiledRulesMatchAsWritten) {
  Result<ProviderTable> table = ParseProviders(kTricky, "tricky.toml");
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  const std::vector<DetectCase> cases = {
      {"nested ranges in both providers",
       {.addresses = {{"198.51.100.200", 0}}},
       {"Outer (cdn, NL): ip_range 198.51.0.0/16=198.51.100.200, ip_range "
        "198.51.100.0/24=198.51.100.200",
        "Inner (waf, DE): ip_range 198.51.100.128/25=198.51.100.200, "
        "ip_range 198.51.100.0/24=198.51.100.200"}},
      {"below the inner /25",
       {.addresses = {{"198.51.100.127", 0}}},
       {"Outer (cdn, NL): ip_range 198.51.0.0/16=198.51.100.127, ip_range "
        "198.51.100.0/24=198.51.100.127",
        "Inner (waf, DE): ip_range 198.51.100.0/24=198.51.100.127"}},
      {"just inside and just outside a /16",
       {.addresses = {{"198.51.255.255", 0},
                      {"198.52.0.0", 0},
                      {"198.50.255.255", 0}}},
       {"Outer (cdn, NL): ip_range 198.51.0.0/16=198.51.255.255"}},
      {"IPv6 nested across providers",
       {.addresses = {{"2001:db8:1:ffff::1", 0}}},
       {"Outer (cdn, NL): ip_range 2001:db8::/32=2001:db8:1:ffff::1",
        "Inner (waf, DE): ip_range 2001:db8:1::/48=2001:db8:1:ffff::1"}},
      {"the last address of a /64 and the first after it",
       {.addresses = {{"2001:db8:0:1:ffff:ffff:ffff:ffff", 0},
                      {"2001:db8:0:2::", 0}}},
       {"Outer (cdn, NL): ip_range 2001:db8::/32=2001:db8:0:1:ffff:ffff:"
        "ffff:ffff, ip_range 2001:db8::/32=2001:db8:0:2::",
        "Edges (hosting, FR): ip_range 2001:db8:0:1::/64=2001:db8:0:1:ffff:"
        "ffff:ffff:ffff"}},
      {"the ends of the IPv4 space",
       {.addresses = {{"255.255.255.255", 0},
                      {"239.255.255.255", 0},
                      {"240.0.0.0", 0},
                      {"0.0.0.0", 0},
                      {"0.0.0.1", 0}}},
       {"Edges (hosting, FR): ip_range 255.255.255.255/32=255.255.255.255, "
        "ip_range 240.0.0.0/4=255.255.255.255, ip_range "
        "240.0.0.0/4=240.0.0.0, ip_range 0.0.0.0/32=0.0.0.0"}},
      {"the end of the IPv6 space",
       {.addresses = {{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0},
                      {"7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0}}},
       {"Edges (hosting, FR): ip_range ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
        "ffff/128=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, ip_range "
        "8000::/1=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
      {"families never mix",
       {.addresses = {{"::ffff:198.51.100.1", 0}, {"::", 0}}},
       {}},
      {"addresses in order, across families",
       {.addresses = {{"198.51.100.1", 0}, {"2001:db8::1", 0}}},
       {"Outer (cdn, NL): ip_range 198.51.0.0/16=198.51.100.1, ip_range "
        "198.51.100.0/24=198.51.100.1, ip_range 2001:db8::/32=2001:db8::1",
        "Inner (waf, DE): ip_range 198.51.100.0/24=198.51.100.1"}},
      {"not an address", {.addresses = {{"198.51.100.1.", 0}}}, {}},
      {"a suffix within a suffix, any case, trailing dot",
       {.cname_chain = {"x.A.CDN.example."}},
       {"Outer (cdn, NL): cname cdn.example=x.A.CDN.example., cname "
        "a.cdn.example=x.A.CDN.example.",
        "Inner (waf, DE): cname cdn.example=x.A.CDN.example."}},
      {"suffixes on label boundaries only",
       {.cname_chain = {"notcdn.example", "cdn.example.evil", "xa.cdn.example",
                        "", ".", "example"}},
       {"Outer (cdn, NL): cname cdn.example=xa.cdn.example",
        "Inner (waf, DE): cname cdn.example=xa.cdn.example"}},
      {"the suffix itself",
       {.cname_chain = {"CDN.EXAMPLE"}},
       {"Outer (cdn, NL): cname cdn.example=CDN.EXAMPLE",
        "Inner (waf, DE): cname cdn.example=CDN.EXAMPLE"}},
      {"a prefix rule and an exact rule on one header",
       {.headers = {{"X-EDGE-ID", "fra-pop-1"}}},
       {"Outer (cdn, NL): header x-edge-*=X-EDGE-ID: fra-pop-1",
        "Inner (waf, DE): header x-edge-id: *pop*=X-EDGE-ID: fra-pop-1"}},
      {"a prefix matches the prefix itself, not less",
       {.headers = {{"X-Edge-", "1"}, {"X-Edge", "2"}}},
       {"Outer (cdn, NL): header x-edge-*=X-Edge-: 1"}},
      {"rules in table order, headers in observed order",
       {.headers = {{"Server", "EDGE"}, {"x-edge-a", "1"}, {"X-Edge-B", "2"}}},
       {"Outer (cdn, NL): header x-edge-*=x-edge-a: 1, header "
        "x-edge-*=X-Edge-B: 2, header server: edge=Server: EDGE"}},
      {"equals is exact", {.headers = {{"Server", "edge2"}}}, {}},
      {"an ASN listed twice matches once; shared ASNs",
       {.addresses = {{"192.0.2.1", 64500}, {"192.0.2.2", 64501}}},
       {"Inner (waf, DE): asn AS64500=192.0.2.1, asn AS64501=192.0.2.2",
        "Outer (cdn, NL): asn AS64500=192.0.2.1"}},
      {"every kind, strongest first",
       {.addresses = {{"198.51.100.130", 64500}},
        .cname_chain = {"b.cdn.example"},
        .headers = {{"Server", "edge"}}},
       {"Outer (cdn, NL): header server: edge=Server: edge, ip_range "
        "198.51.0.0/16=198.51.100.130, ip_range "
        "198.51.100.0/24=198.51.100.130, cname cdn.example=b.cdn.example, "
        "asn AS64500=198.51.100.130",
        "Inner (waf, DE): ip_range 198.51.100.128/25=198.51.100.130, "
        "ip_range 198.51.100.0/24=198.51.100.130, cname "
        "cdn.example=b.cdn.example, asn AS64500=198.51.100.130"}},
  };
  ProviderTable unindexed = *table;
  unindexed.index = nullptr;
  for (const DetectCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_THAT(Describe(DetectProviders(FinalHopOf(Build(tc.seen)), *table)),
                ElementsAreArray(tc.expected));
    EXPECT_THAT(
        Describe(DetectProviders(FinalHopOf(Build(tc.seen)), unindexed)),
        ElementsAreArray(tc.expected));
  }
}

TEST(ProviderTest, MatchCarriesTheProvidersFacts) {
  std::vector<pb::ProviderMatch> m = DetectProviders(
      FinalHopOf(Build({.headers = {{"cf-ray", "1"}}})), Shipped());
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].abuse(), "https://abuse.cloudflare.com/");
  EXPECT_EQ(m[0].country(), "US");
}

// After redirects only the last hop's request counts: a redirector behind
// a CDN does not put the CDN in front of the final host, and the final
// host's CDN is found.
TEST(ProviderTest, TheFinalHopIsWhatIsMatched) {
  pb::Observation obs = Build({.headers = {{"cf-ray", "1"}}});
  *obs.add_redirects() = pb::Hop();
  EXPECT_THAT(DetectProviders(FinalHopOf(obs), Shipped()), IsEmpty());
  pb::Observation last = Build({.headers = {{"x-amz-cf-id", "1"}}});
  *obs.mutable_redirects(0)->mutable_http() = last.http();
  const std::vector<pb::ProviderMatch> m =
      DetectProviders(FinalHopOf(obs), Shipped());
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].name(), "Amazon CloudFront");
}

TEST(ProviderTest, ShippedTableHasEveryRequiredProvider) {
  std::vector<std::string> names;
  for (const Provider& p : Shipped().providers) {
    SCOPED_TRACE(p.name);
    names.push_back(p.name);
    EXPECT_FALSE(p.source.empty());
    EXPECT_EQ(p.verified_on.size(), 10u);
  }
  for (const char* required :
       {"Cloudflare", "Fastly", "Amazon CloudFront", "Akamai", "Google Cloud",
        "Microsoft Azure Front Door / CDN", "Microsoft Azure",
        "Imperva Incapsula", "Sucuri", "StackPath / Highwinds", "BunnyCDN",
        "DDoS-Guard", "OVHcloud", "Hetzner", "DigitalOcean", "Amazon AWS"}) {
    EXPECT_THAT(names, Contains(required));
  }
}

TEST(ProviderTest, DefaultConfigNamesTheShippedFile) {
  Result<ProviderTable> t = LoadProvidersFile(DefaultConfig().providers.file);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->providers.size(), Shipped().providers.size());
}

constexpr char kMinimal[] = R"([[provider]]
name = "Example CDN"
category = "cdn"
country = "NL"
source = "test"
verified_on = 2026-01-02
)";

TEST(ProviderTest, ParsesAndNormalisesRules) {
  Result<ProviderTable> t =
      ParseProviders(std::string(kMinimal) +
                         "cname_suffixes = [\"CDN.Example\"]\n"
                         "headers = [{ name = \"X-Edge-*\" }, "
                         "{ name = \"Server\", contains = \"EdgeX\" }]\n"
                         "ip_ranges = [\"192.0.2.0/24\", \"2001:db8::/32\"]\n"
                         "asns = [64500, 4200000000]\n",
                     "p.toml");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->providers.size(), 1u);
  const Provider& p = t->providers[0];
  EXPECT_EQ(p.category, ProviderCategory::kCdn);
  EXPECT_EQ(p.verified_on, "2026-01-02");
  EXPECT_TRUE(p.abuse.empty());
  EXPECT_EQ(p.cname_suffixes, std::vector<std::string>{"cdn.example"});
  ASSERT_EQ(p.headers.size(), 2u);
  EXPECT_EQ(p.headers[0].name, "x-edge-*");
  EXPECT_EQ(p.headers[1].match, HeaderRule::Match::kContains);
  EXPECT_EQ(p.headers[1].value, "edgex");
  EXPECT_EQ(p.ip_ranges.size(), 2u);
  EXPECT_EQ(p.asns, (std::vector<uint32_t>{64500, 4200000000u}));
}

struct ErrorCase {
  std::string text;
  std::vector<std::string> parts;  // each must occur in the message
};

TEST(ProviderTest, ErrorsNameTheKey) {
  const std::string m = kMinimal;
  const std::vector<ErrorCase> cases = {
      {"[[providers]]\nname = \"x\"\n",
       {"p.toml:1:3: ", "unknown key \"providers\"",
        "(known keys in the top level: provider)"}},
      {m + "asn = [13335]\n",
       {"p.toml:7:1: ", "unknown key \"provider[0].asn\"",
        "(known keys in [[provider]]: name, category, country, abuse, "
        "source, verified_on, ip_ranges, asns, cname_suffixes, headers)"}},
      {m + "headers = [{ name = \"server\", value = \"x\" }]\n",
       {"unknown key \"provider[0].headers[0].value\"",
        "known keys in a header rule: name, equals, contains"}},
      {m + "ip_ranges = [\"10.0.0.1/8\"]\n",
       {"p.toml:7:", "\"provider[0].ip_ranges[0]\"", "CIDR", "10.0.0.1/8"}},
      {m + "ip_ranges = [\"cloudflare\"]\n",
       {"\"provider[0].ip_ranges[0]\"", "CIDR"}},
      {"[[provider]]\nname = \"x\"\ncategory = \"proxy\"\n",
       {"p.toml:3:12: ", "\"provider[0].category\"",
        "one of cdn, waf, cloud, hosting", "\"proxy\""}},
      {m + "asns = [1]\n" + m + "asns = [2]\n",
       {"duplicate provider name \"Example CDN\"", "\"provider[1]\"",
        "first in \"provider[0]\""}},
      {m + "asns = [1]\n" +
           "[[provider]]\nname = \"example cdn\"\ncategory = \"waf\"\n"
           "country = \"US\"\nsource = \"s\"\nverified_on = 2026-01-01\n"
           "asns = [2]\n",
       {"duplicate provider name \"example cdn\""}},
      {"[[provider]]\nname = \"x\"\ncategory = \"cdn\"\nsource = \"s\"\n"
       "verified_on = 2026-01-01\nasns = [1]\n",
       {"p.toml:1:1: ", "missing key \"provider[0].country\""}},
      {m, {"\"provider[0]\" has no rule"}},
      {m + "asns = [0]\n",
       {"\"provider[0].asns[0]\"", "from 1 to 4294967295", "got 0"}},
      {m + "asns = \"13335\"\n", {"\"provider[0].asns\"", "got a string"}},
      {"[[provider]]\ncountry = \"us\"\n",
       {"\"provider[0].country\"", "ISO 3166-1 alpha-2"}},
      {"[[provider]]\nverified_on = \"2026-01-01\"\n",
       {"\"provider[0].verified_on\"", "a date", "got a string"}},
      {m + "cname_suffixes = [\".cloudfront.net\"]\n",
       {"\"provider[0].cname_suffixes[0]\"", "domain suffix"}},
      {m + "headers = [{ name = \"server\", equals = \"a\", contains = "
           "\"b\" }]\n",
       {"\"provider[0].headers[0].",
        "only one of \"equals\" and "
        "\"contains\"",
        "got both"}},
      {m + "headers = [{ equals = \"a\" }]\n",
       {"missing key \"provider[0].headers[0].name\""}},
      {m + "headers = [{ name = \"bad name\" }]\n",
       {"\"provider[0].headers[0].name\"", "HTTP header name"}},
      {m + "headers = [\"cf-ray\"]\n",
       {"\"provider[0].headers[0]\"", "got a string"}},
      {"provider = 5\n", {"\"provider\"", "array of tables"}},
      {"[[provider]\n", {"p.toml:1:"}},
  };
  for (const ErrorCase& tc : cases) {
    SCOPED_TRACE(tc.text);
    Result<ProviderTable> t = ParseProviders(tc.text, "p.toml");
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    for (const std::string& part : tc.parts) {
      EXPECT_THAT(t.status().message(), HasSubstr(part));
    }
  }
}

TEST(ProviderTest, MissingFileIsNotFound) {
  Result<ProviderTable> t = LoadProvidersFile("/nonexistent/providers.toml");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(),
              HasSubstr("/nonexistent/providers.toml: cannot open the "
                        "provider signatures file"));
}

}  // namespace
}  // namespace hl
